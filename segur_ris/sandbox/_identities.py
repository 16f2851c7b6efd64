"""Test identities of the INSi qualification platform (CNDA test cases), as data.

Sources, with the confidence tags of the research notes (``shared/notes/dmp_insi.md`` §4):

* [C] CNDA test-case responses recorded by padoa (``github.com/padoa/tlsi-ins``, MIT, fixtures
  ``TEST_2.04_cas2.xml``, ``TEST_2.05.xml``, ``TEST_2.08_cas1.xml``, ``TEST_2.08_cas2.xml``) and the
  DMP package INSi response sample (PATB-QUATRE);
* [S] padoa "virtual mode" fixtures (responses they replay without calling the service);
* [?] invented here to complete the table; never rely on them against the real service.

Historical INS (``INSHISTO``) are reproduced exactly as the service returned them, even where the
key does not satisfy ``97 - (NIR mod 97)`` (HERMANN) or the entry repeats the active INS (CORSE,
HERMANN): a client must cope with both.
"""

from __future__ import annotations

from dataclasses import dataclass

from segur_ris.codes import OID_INS_NIA, OID_INS_NIR

__all__ = ["CNDA_IDENTITIES", "SandboxIdentity", "SandboxIns"]


@dataclass(frozen=True, slots=True)
class SandboxIns:
    """One INS as the INSi returns it (``INSACTIF`` or ``INSHISTO``).

    ``nir`` is the 13-character NIR/NIA, ``key`` its 2-digit key; ``type_matricule``,
    ``date_deb`` and ``date_fin`` are emitted only when set (the real service fills them for
    some historical entries only).
    """

    nir: str
    key: str
    oid: str = OID_INS_NIR
    type_matricule: str | None = None
    date_deb: str | None = None
    date_fin: str | None = None

    @property
    def matricule(self) -> str:
        """The 15-character matricule INS (NIR + key)."""
        return self.nir + self.key


@dataclass(frozen=True, slots=True)
class SandboxIdentity:
    """A person known to the sandbox: reference traits, active INS and historical INS."""

    birth_name: str
    first_names: tuple[str, ...]
    sex: str
    birth_date: str
    birth_place: str | None
    ins: SandboxIns
    history: tuple[SandboxIns, ...] = ()
    source: str = ""

    @property
    def first_name(self) -> str:
        """The first first name (``TIQ/Prenom``)."""
        return self.first_names[0]

    @property
    def first_names_list(self) -> str:
        """All first names separated by spaces (``TIQ/ListePrenom``)."""
        return " ".join(self.first_names)

    @property
    def nir(self) -> str:
        """The 13-character NIR (or NIA) of the active INS."""
        return self.ins.nir

    @property
    def key(self) -> str:
        """The key of the active INS."""
        return self.ins.key

    @property
    def oid(self) -> str:
        """The OID of the active INS (NIR ``…4.8`` or NIA ``…4.9``)."""
        return self.ins.oid

    @property
    def matricule(self) -> str:
        """The 15-character matricule INS of the active INS."""
        return self.ins.matricule


#: The identities of the CNDA INSi test cases (see the module docstring for the sources).
#: HOUILLES PIERRE/PAUL/JACQUES is deliberately absent: every query about him must give CR 01.
CNDA_IDENTITIES: tuple[SandboxIdentity, ...] = (
    SandboxIdentity(
        "ADRUN",
        ("ZOE",),
        "F",
        "1975-12-31",
        "63220",
        SandboxIns("2751263220749", "74"),
        source="[C] notes §4; birth place [S] padoa virtual mode",
    ),
    SandboxIdentity(
        "ADRTROIS",
        ("DOMINIQUE",),
        "F",
        "1997-02-26",
        "2A020",
        SandboxIns("297022A020778", "78"),
        source="[C] padoa adrtrois-dominique fixture (Corse-du-Sud 2A)",
    ),
    SandboxIdentity(
        "ADRTROIS",
        ("TOUSSAINT",),
        "M",
        "1960-01-01",
        "2B020",
        SandboxIns("160012B020777", "13"),
        source="[C] padoa adrtrois-toussaint fixture (Haute-Corse 2B)",
    ),
    SandboxIdentity(
        "CORSE",
        ("ANTHONY",),
        "M",
        "1980-03-02",
        "2B020",
        SandboxIns("180032B020401", "23"),
        # the service repeats the active INS as INSHISTO
        history=(SandboxIns("180032B020401", "23"),),
        source="[C] CNDA test 2.08 cas 1",
    ),
    SandboxIdentity(
        "HERMANN",
        ("GATIEN",),
        "M",
        "1981-03-24",
        "63220",
        # key 60 does not check (97 - N mod 97 = 76): kept as the service returns it
        SandboxIns("1810363220456", "60"),
        history=(
            SandboxIns("1810363220456", "60"),
            SandboxIns("2810363220456", "10"),  # key does not check either (26)
        ),
        source="[C] CNDA test 2.08 cas 2",
    ),
    SandboxIdentity(
        "ECETINSI",
        ("PIERRE-ALAIN", "MURIEL", "FLORIANT"),
        "M",
        "2009-07-14",
        "63220",
        SandboxIns("1090763220834", "89"),
        # Not invented: the two INSHISTO of the recorded CNDA response (TypeMatricule included).
        history=(
            SandboxIns("2090763220834", "39", type_matricule="NIR"),
            SandboxIns("2090663220123", "55", type_matricule="NIR"),
        ),
        source="[C] CNDA test 2.04 cas 2",
    ),
    SandboxIdentity(
        "PROVISOIRE",
        ("MATRICULE",),
        "M",
        "2009-07-01",
        "63220",
        SandboxIns("1090763220888", "35", oid=OID_INS_NIA),
        source="[C] CNDA test 2.05 (NIA)",
    ),
    SandboxIdentity(
        "NESSI",
        ("MICHELANGELO", "ANTHONY"),
        "M",
        "2010-08-07",
        "63220",
        SandboxIns("1100863220830", "60"),
        source="[C] notes §4; first names and birth place [S] padoa virtual mode",
    ),
    SandboxIdentity(
        # OLA is not one of her first names: "OLA" gives 01, "CATARINA" gives 00.
        "TCHITCHI",
        ("CATARINA", "BELLA"),
        "F",
        "1936-06-21",
        "63220",
        SandboxIns("2360663220836", "56"),
        source="[C] padoa tchitchi-ola-catarina fixture",
    ),
    # DE VINCI LEONARDO: the service answers 02 (several identities). The two people below are
    # [?] invented (NIRs of people born in Italy, COG 99127, keys computed) so that the sandbox
    # finds two matches; the real identities behind the 02 are not public.
    SandboxIdentity(
        "DE VINCI",
        ("LEONARDO",),
        "M",
        "2014-02-01",
        "99127",
        SandboxIns("1140299127001", "87"),
        source="[?] invented (CR 02 case)",
    ),
    SandboxIdentity(
        "DE VINCI",
        ("LEONARDO", "PIERO"),
        "M",
        "2014-02-01",
        "99127",
        SandboxIns("1140299127002", "86"),
        source="[?] invented (CR 02 case)",
    ),
    SandboxIdentity(
        "PATB-QUATRE",
        ("LAURENCE",),
        "F",
        "1907-05-25",
        "85756",
        SandboxIns("2070585756270", "97"),
        source="[C] DMP package INSi response sample",
    ),
)
