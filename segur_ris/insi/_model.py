"""Domain data of the INSi teleservice: queries, call context and results."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from segur_ris.config import Settings
from segur_ris.errors import IdentityTraitsError, InvalidMatriculeError
from segur_ris.ins import BirthDate, IdentityTraits, Ins, normalize_name, parse_matricule

__all__ = [
    "CodeCR",
    "InsiContext",
    "InsiRequest",
    "InsiResult",
    "VitaleQuery",
]


class CodeCR(StrEnum):
    """``RESULTAT/CR/CodeCR`` of the INSi."""

    OK = "00"  #: one identity found
    AUCUNE_IDENTITE = "01"  #: no identity found
    PLUSIEURS_IDENTITES = "02"  #: several identities found: the traits are not discriminating


@dataclass(frozen=True, slots=True)
class InsiContext:
    """What the ``ContexteLPS`` / ``ContexteBAM`` headers say about the caller."""

    emetteur: str  #: structure or PS identifier (``Emetteur``)
    lps_name: str
    lps_version: str
    idam: str  #: identifiant d'autorisation given by the CNDA
    idam_r: str = "4"
    instance: str = ""  #: UUID of this installation of the software

    @classmethod
    def from_settings(cls, settings: Settings) -> InsiContext:
        lps = settings.lps
        return cls(
            emetteur=settings.structure.id,
            lps_name=lps.name,
            lps_version=lps.version,
            idam=lps.idam,
            idam_r=lps.idam_r,
            instance=lps.instance,
        )


@dataclass(frozen=True, slots=True)
class VitaleQuery:
    """A search by carte Vitale: the beneficiary's matricule read on the card.

    ``nir``/``cle`` identify the beneficiary (``MatriculeIndividu``); ``nir_od``/``cle_od`` the
    ouvrant droit when the card holder is not the beneficiary (``MatriculeOD``).
    """

    nir: str
    cle: str
    date_naissance: BirthDate
    rang_naissance: str | None = None
    nom_naissance: str | None = None
    nir_od: str | None = None
    cle_od: str | None = None

    def __post_init__(self) -> None:
        _check_nir(self.nir, self.cle, "")
        if self.nir_od is not None or self.cle_od is not None:
            _check_nir(self.nir_od, self.cle_od, " de l'ouvrant droit")
        if not isinstance(self.date_naissance, BirthDate):
            raise IdentityTraitsError("BirthDate attendu", field="date_naissance")
        rang = self.rang_naissance
        if rang is not None and not (isinstance(rang, str) and rang.isascii() and rang.isdigit()):
            raise IdentityTraitsError(
                f"rang de naissance {rang!r}: chiffres attendus", field="rang"
            )
        if self.nom_naissance is not None:
            object.__setattr__(self, "nom_naissance", normalize_name(self.nom_naissance))


def _check_nir(nir: object, cle: object, whose: str) -> None:
    """A 13-character NIR and its 2-digit key, each checked on its own (not concatenated)."""
    if not isinstance(nir, str) or not isinstance(cle, str):
        raise InvalidMatriculeError(f"NIR et clé{whose}: chaînes attendues", rule="characters")
    if len(nir) != 13 or len(cle) != 2:
        raise InvalidMatriculeError(
            f"NIR{whose}: 13 caractères et clé de 2 chiffres attendus ({len(nir)} + {len(cle)})",
            rule="length",
        )
    parse_matricule(nir + cle)  # the remaining rules (characters, sex, month, key…)


@dataclass(frozen=True, slots=True)
class InsiRequest:
    """A serialised INSi request, ready for any transport."""

    action: str
    message_id: str
    body: bytes

    @property
    def content_type(self) -> str:
        return f'application/soap+xml; charset=utf-8; action="{self.action}"'


@dataclass(frozen=True, slots=True)
class InsiResult:
    """The answer of the INSi to one call.

    ``ins`` is the active INS (``INSACTIF``), ``historiques`` the former ones (``INSHISTO``),
    ``traits`` the identity traits of reference (``TIQ``), all ``None``/empty unless ``code`` is
    :attr:`CodeCR.OK`.
    """

    code: CodeCR
    libelle: str
    ins: Ins | None = None
    historiques: tuple[Ins, ...] = ()
    traits: IdentityTraits | None = None
    relates_to: str | None = None  #: ``wsa:RelatesTo`` of the answer (the request MessageID)
    prenom_envoye: str | None = field(default=None, compare=False)  #: the Prenom sent for this call

    @property
    def found(self) -> bool:
        return self.code is CodeCR.OK

    def as_dict(self) -> dict[str, Any]:
        """A JSON-ready view (CLI ``--json``, audit records)."""

        def ins(value: Ins) -> dict[str, str]:
            return {"matricule": value.value, "oid": value.oid, "kind": value.kind.value}

        traits = self.traits
        return {
            "code": self.code.value,
            "libelle": self.libelle,
            "ins": ins(self.ins) if self.ins else None,
            "historiques": [ins(h) for h in self.historiques],
            "traits": None
            if traits is None
            else {
                "nom_naissance": traits.nom_naissance,
                "prenoms": list(traits.prenoms),
                "sexe": traits.sexe.value,
                "date_naissance": traits.date_naissance.insi(),
                "lieu_naissance": traits.lieu_naissance,
            },
            "prenom_envoye": self.prenom_envoye,
            "relates_to": self.relates_to,
        }


def new_message_id() -> str:
    return f"uuid:{uuid.uuid4()}"


def utc_timestamp(now: datetime | None = None) -> str:
    """``xsd:dateTime`` in UTC with milliseconds, as in the CNAM samples (``…T09:39:02.004Z``)."""
    moment = (now or datetime.now(UTC)).astimezone(UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"
