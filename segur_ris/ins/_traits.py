"""INS identity traits: nom de naissance, prénoms, sexe, date and lieu de naissance.

Names follow the INSi normalisation: upper case A-Z, no diacritics, single spaces, apostrophes
and hyphens (``--`` allowed) between letters only.
"""

from __future__ import annotations

import calendar
import datetime
import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum

from segur_ris.errors import IdentityTraitsError

__all__ = ["BirthDate", "IdentityTraits", "Sexe", "normalize_name"]

# re.ASCII: \d is [0-9] only (no Arabic-Indic or full-width digits); \Z: no trailing newline.
NAME_PATTERN = re.compile(r"^[A-Z]+(?:(?:-{1,2}|[' ])[A-Z]+)*\Z", re.ASCII)
_COG_PATTERN = re.compile(r"^(?:\d{5}|2[AB]\d{3})\Z", re.ASCII)
_INSI_DATE = re.compile(r"^(\d{4})-(\d{2})-(\d{2})\Z", re.ASCII)
_HL7_DATE = re.compile(r"^(\d{4})(\d{2})?(\d{2})?\Z", re.ASCII)

# Letters that Unicode decomposition does not reduce to A-Z.
_SPECIAL_LETTERS = str.maketrans(
    {
        "Œ": "OE",
        "Æ": "AE",
        "ß": "SS",
        "ẞ": "SS",
        "Ø": "O",
        "Ł": "L",
        "Đ": "D",
        "Ð": "D",
        "Þ": "TH",
        "Ŀ": "L",
        "Ħ": "H",
        "Ŧ": "T",
        "ı": "I",
        "’": "'",
        "‘": "'",
        "`": "'",
        "´": "'",
        "ʼ": "'",
        "‛": "'",
        "′": "'",
        "‐": "-",
        "‑": "-",
        "‒": "-",
        "–": "-",
        "—": "-",
    }
)
_SPACES_AROUND_SEPARATOR = re.compile(r" ?([-']+) ?")


def normalize_name(text: str, *, field: str = "nom_naissance") -> str:
    """Normalise a name or first name as the INSi expects it.

    Upper case, diacritics removed (É→E, Ç→C, Œ→OE, Æ→AE, ß→SS…), typographic apostrophes and
    dashes turned into ``'`` and ``-``, whitespace collapsed and trimmed, spaces around ``-``
    and ``'`` removed. Raises :class:`IdentityTraitsError` (``field``) when the result does not
    match ``^[A-Z]+(?:(?:-{1,2}|[' ])[A-Z]+)*$`` (digits, other symbols, empty…).
    """
    if not isinstance(text, str):
        raise IdentityTraitsError("une chaîne de caractères est attendue", field=field)
    decomposed = unicodedata.normalize("NFKD", text.upper())
    stripped = "".join(c for c in decomposed if not unicodedata.combining(c))
    stripped = stripped.translate(_SPECIAL_LETTERS).upper()
    collapsed = " ".join(stripped.split())
    result = _SPACES_AROUND_SEPARATOR.sub(r"\1", collapsed)
    if not result:
        raise IdentityTraitsError("valeur vide", field=field)
    if not NAME_PATTERN.match(result):
        raise IdentityTraitsError(
            f"{text!r} n'est pas normalisable pour l'INSi (lettres A-Z, espace, "
            f"apostrophe, trait d'union simple ou double entre deux lettres): {result!r}",
            field=field,
        )
    return result


class Sexe(StrEnum):
    """Sexe as known by the INSi (``U``/``I`` of HL7 are not INS traits)."""

    M = "M"
    F = "F"


@dataclass(frozen=True, slots=True)
class BirthDate:
    """A birth date whose month and/or day may be unknown (``0``), as the INSi allows.

    A day without a month is invalid.
    """

    year: int
    month: int = 0
    day: int = 0

    def __post_init__(self) -> None:
        for name in ("year", "month", "day"):
            if type(getattr(self, name)) is not int:
                raise IdentityTraitsError(f"{name} doit être un entier", field="date_naissance")
        if not 1000 <= self.year <= 9999:
            raise IdentityTraitsError(f"année {self.year} invalide", field="date_naissance")
        if not 0 <= self.month <= 12:
            raise IdentityTraitsError(f"mois {self.month} invalide", field="date_naissance")
        if self.day and not self.month:
            raise IdentityTraitsError("jour connu sans mois connu", field="date_naissance")
        if self.day:
            last = calendar.monthrange(self.year, self.month)[1]
            if not 1 <= self.day <= last:
                raise IdentityTraitsError(
                    f"jour {self.day} invalide pour {self.year}-{self.month:02d}",
                    field="date_naissance",
                )
        elif self.day < 0:
            raise IdentityTraitsError(f"jour {self.day} invalide", field="date_naissance")

    @classmethod
    def parse(cls, text: str) -> BirthDate:
        """Parse ``YYYY-MM-DD`` (INSi, ``00`` for unknown parts) or ``YYYYMMDD``/``YYYYMM``/``YYYY``
        (HL7 DT)."""
        if not isinstance(text, str):
            raise IdentityTraitsError(
                "une chaîne de caractères est attendue", field="date_naissance"
            )
        value = text.strip()
        match = _INSI_DATE.match(value) or _HL7_DATE.match(value)
        if match is None:
            raise IdentityTraitsError(
                f"{text!r} n'est ni AAAA-MM-JJ ni AAAAMMJJ",
                field="date_naissance",
            )
        year, month, day = (int(part) if part else 0 for part in match.groups())
        return cls(year, month, day)

    @classmethod
    def from_date(cls, value: datetime.date) -> BirthDate:
        """A fully known birth date (a ``datetime`` is truncated to its date)."""
        if not isinstance(value, datetime.date):
            raise IdentityTraitsError("datetime.date attendu", field="date_naissance")
        return cls(value.year, value.month, value.day)

    @property
    def is_complete(self) -> bool:
        """Whether month and day are both known."""
        return bool(self.month and self.day)

    def to_date(self) -> datetime.date | None:
        """The :class:`datetime.date`, or ``None`` when a part is unknown."""
        return datetime.date(self.year, self.month, self.day) if self.is_complete else None

    def insi(self) -> str:
        """``YYYY-MM-DD`` with ``00`` for unknown parts (INSi ``DateNaissance``)."""
        return f"{self.year:04d}-{self.month:02d}-{self.day:02d}"

    def hl7(self) -> str:
        """HL7 DT: ``YYYYMMDD``, ``YYYYMM`` (day unknown) or ``YYYY`` (month unknown)."""
        if not self.month:
            return f"{self.year:04d}"
        if not self.day:
            return f"{self.year:04d}{self.month:02d}"
        return f"{self.year:04d}{self.month:02d}{self.day:02d}"

    def __str__(self) -> str:
        return self.insi()


def _check_cog(value: str) -> None:
    if not _COG_PATTERN.match(value) or value.startswith("00"):
        raise IdentityTraitsError(
            f"{value!r} n'est pas un code COG INSEE (5 chiffres, 2A/2B + 3 "
            "chiffres, 99xxx pour l'étranger)",
            field="lieu_naissance",
        )


def _to_sexe(value: str | Sexe) -> Sexe:
    if isinstance(value, Sexe):
        return value
    text = value.strip().upper() if isinstance(value, str) else ""
    try:
        return Sexe(text)
    except ValueError:
        raise IdentityTraitsError(
            f"{value!r} invalide, l'INSi ne connaît que M et F", field="sexe"
        ) from None


def _to_birth_date(value: str | datetime.date | BirthDate) -> BirthDate:
    if isinstance(value, BirthDate):
        return value
    if isinstance(value, datetime.date):
        return BirthDate.from_date(value)
    return BirthDate.parse(value)


@dataclass(frozen=True, slots=True)
class IdentityTraits:
    """The INS strict traits, already normalised (use :meth:`create` to normalise raw input).

    ``prenoms`` is the ordered list of birth first names; ``lieu_naissance`` the INSEE COG code
    of the birth place (``99xxx`` abroad) or ``None`` when unknown.
    """

    nom_naissance: str
    prenoms: tuple[str, ...]
    sexe: Sexe
    date_naissance: BirthDate
    lieu_naissance: str | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.nom_naissance, str) or not NAME_PATTERN.match(self.nom_naissance):
            raise IdentityTraitsError(
                f"{self.nom_naissance!r} n'est pas normalisé (utiliser IdentityTraits.create)",
                field="nom_naissance",
            )
        if not isinstance(self.prenoms, tuple) or not self.prenoms:
            raise IdentityTraitsError(
                "au moins un prénom de naissance est requis (tuple)", field="prenoms"
            )
        for prenom in self.prenoms:
            if not isinstance(prenom, str) or not NAME_PATTERN.match(prenom) or " " in prenom:
                raise IdentityTraitsError(
                    f"{prenom!r} n'est pas un prénom normalisé", field="prenoms"
                )
        if not isinstance(self.sexe, Sexe):
            raise IdentityTraitsError(f"{self.sexe!r} n'est pas un Sexe", field="sexe")
        if not isinstance(self.date_naissance, BirthDate):
            raise IdentityTraitsError("BirthDate attendu", field="date_naissance")
        if self.lieu_naissance is not None:
            if not isinstance(self.lieu_naissance, str):
                raise IdentityTraitsError("chaîne attendue", field="lieu_naissance")
            _check_cog(self.lieu_naissance)

    @classmethod
    def create(
        cls,
        nom_naissance: str,
        prenoms: str | Sequence[str],
        sexe: str | Sexe,
        date_naissance: str | datetime.date | BirthDate,
        lieu_naissance: str | None = None,
    ) -> IdentityTraits:
        """Normalise raw traits, then validate them (:class:`IdentityTraitsError` on failure).

        ``prenoms`` is either a space-separated list (INSi ``ListePrenom``) or a sequence; a
        space inside an item also separates first names (compound first names use ``-``).
        """
        nom = normalize_name(nom_naissance, field="nom_naissance")
        if isinstance(prenoms, str):
            items: list[str] = [prenoms]
        elif isinstance(prenoms, Sequence):
            items = list(prenoms)
        else:
            raise IdentityTraitsError("chaîne ou séquence de prénoms attendue", field="prenoms")
        names: list[str] = []
        for item in items:
            names.extend(normalize_name(item, field="prenoms").split(" "))
        lieu = None
        if lieu_naissance is not None:
            if not isinstance(lieu_naissance, str):
                raise IdentityTraitsError("chaîne attendue", field="lieu_naissance")
            lieu = lieu_naissance.strip().upper() or None
        return cls(nom, tuple(names), _to_sexe(sexe), _to_birth_date(date_naissance), lieu)

    @property
    def premier_prenom(self) -> str:
        """The first birth first name (INSi ``Prenom``)."""
        return self.prenoms[0]

    @property
    def liste_prenoms(self) -> str:
        """All birth first names separated by a space (INSi ``ListePrenom``)."""
        return " ".join(self.prenoms)
