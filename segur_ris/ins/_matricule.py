"""Matricule INS: a 13-character NIR/NIA plus its 2-digit control key.

Structure of the 13 characters (positions 1-based), as checked here:

* 1: sex / nature digit. ``1``/``2`` for a NIR; ``3``/``4`` (foreign-born people being
  registered) [?] and ``7``/``8`` (temporary numbers, NIA) are accepted too.
* 2-3: year of birth (two digits, anything).
* 4-5: month of birth: ``01``-``12``; ``20``-``42`` and ``50``-``99`` are accepted (INSEE uses
  them when the month is unknown or for special registrations); ``00``, ``13``-``19`` and
  ``43``-``49`` are refused.
* 6-7: department of birth: two digits, or ``2A``/``2B`` (Corsica). Letters are allowed only here.
* 8-10: commune (or country) of birth; 11-13: order number (digits).

Key = 97 - (N mod 97), N being the 13 characters read as an integer after replacing ``2A`` by
``19`` and ``2B`` by ``18`` in positions 6-7.

Whether a matricule is a NIR or a NIA is given by the OID of its assigning authority, never by
the number itself: the CNDA test NIA ``1090763220888`` starts with ``1``. Without an OID,
:func:`check_matricule` guesses NIA for a first digit ``7``/``8`` and NIR otherwise.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from segur_ris.codes import INS_NIR_OIDS, OID_INS_NIA
from segur_ris.errors import InvalidMatriculeError

__all__ = [
    "InsKeyWarning",
    "InsKind",
    "Matricule",
    "MatriculeCheck",
    "check_matricule",
    "compute_key",
    "kind_from_oid",
    "mask_matricule",
    "parse_matricule",
]

_DIGITS = frozenset("0123456789")
_SEX_DIGITS = frozenset("123478")
_CORSICA = {"2A": "19", "2B": "18"}


class InsKind(StrEnum):
    """Nature of a matricule INS."""

    NIR = "NIR"
    NIA = "NIA"


class InsKeyWarning(UserWarning):
    """A historical matricule INS does not satisfy the key formula (seen in CNAM test data)."""


def _month_ok(month: str) -> bool:
    value = int(month)
    return 1 <= value <= 12 or 20 <= value <= 42 or value >= 50


def _nir_problems(nir: str) -> list[tuple[str, str]]:
    """Rule violations of a 13-character NIR/NIA (upper case), in rule order.

    ``length`` and ``characters`` problems stop the analysis; the others are all collected;
    a letter out of positions 6-7 is a ``department`` problem (the sex/month check skips it).
    """
    if len(nir) != 13:
        return [("length", f"le NIR doit compter 13 caractères, pas {len(nir)}")]
    allowed = _DIGITS | {"A", "B"}
    bad = sorted({c for c in nir if c not in allowed})
    if bad:
        shown = " ".join(repr(c) for c in bad)
        return [("characters", f"caractères interdits dans le NIR: {shown}")]
    problems: list[tuple[str, str]] = []
    if nir[0] in _DIGITS and nir[0] not in _SEX_DIGITS:
        problems.append(
            ("sex", f"premier chiffre {nir[0]!r} invalide (attendu 1, 2, 3, 4, 7 ou 8)")
        )
    month = nir[3:5]
    if set(month) <= _DIGITS and not _month_ok(month):
        problems.append(("month", f"mois de naissance {month!r} invalide"))
    if any(c in "AB" for i, c in enumerate(nir) if i not in (5, 6)):
        problems.append(
            ("department", "les lettres A/B ne sont admises qu'en positions 6-7 (2A/2B, Corse)")
        )
    elif not (set(nir[5:7]) <= _DIGITS or nir[5:7] in _CORSICA):
        problems.append(("department", f"département {nir[5:7]!r} invalide (chiffres, 2A ou 2B)"))
    return problems


def _key_of(nir: str) -> str:
    """Key of a NIR whose shape is known to be valid (letters only as 2A/2B at 6-7)."""
    dept = nir[5:7]
    digits = nir[:5] + _CORSICA.get(dept, dept) + nir[7:]
    return f"{97 - int(digits) % 97:02d}"


def _readable(problems: list[tuple[str, str]]) -> bool:
    """Whether a NIR with these problems can still be turned into a number (for its key)."""
    return all(rule in ("sex", "month") for rule, _ in problems)


def _raise_first(problems: list[tuple[str, str]]) -> None:
    if problems:
        rule, message = problems[0]
        raise InvalidMatriculeError(message, rule=rule)


def compute_key(nir13: str) -> str:
    """The 2-digit key of a 13-character NIR/NIA (``2A`` counts as ``19``, ``2B`` as ``18``).

    Raises :class:`InvalidMatriculeError` if ``nir13`` is not a well-formed NIR.
    """
    if not isinstance(nir13, str):
        raise InvalidMatriculeError("le NIR doit être une chaîne", rule="characters")
    nir = nir13.strip().upper()
    _raise_first(_nir_problems(nir))
    return _key_of(nir)


@dataclass(frozen=True, slots=True)
class Matricule:
    """A matricule INS: ``nir`` (13 characters, may contain 2A/2B) and ``key`` (2 digits).

    Construction checks the shape only (length, characters); the key is checked by
    :func:`parse_matricule` so that historical matricules stay representable (see
    :attr:`key_valid`).
    """

    nir: str
    key: str

    def __post_init__(self) -> None:
        if not isinstance(self.nir, str) or not isinstance(self.key, str):
            raise InvalidMatriculeError("NIR et clé doivent être des chaînes", rule="characters")
        if len(self.nir) != 13 or len(self.key) != 2:
            raise InvalidMatriculeError(
                "un matricule INS compte 13 caractères de NIR et 2 chiffres de clé", rule="length"
            )
        problems = [p for p in _nir_problems(self.nir) if p[0] in ("length", "characters")]
        _raise_first(problems)
        if not set(self.key) <= _DIGITS:
            raise InvalidMatriculeError(f"clé {self.key!r} non numérique", rule="characters")

    @property
    def value(self) -> str:
        """The 15-character matricule (NIR + key)."""
        return self.nir + self.key

    @property
    def expected_key(self) -> str | None:
        """The key computed from the NIR, or ``None`` when the NIR breaks a structural rule."""
        if not _readable(_nir_problems(self.nir)):
            return None
        return _key_of(self.nir)

    @property
    def key_valid(self) -> bool:
        """Whether :attr:`key` matches the key formula."""
        return self.expected_key == self.key

    def __str__(self) -> str:
        return self.value


def _clean(text: str) -> str:
    return "".join(text.split()).upper()


def parse_matricule(text: str, *, historical: bool = False) -> Matricule:
    """Parse a 15-character matricule INS (spaces are ignored, letters upper-cased).

    Raises :class:`InvalidMatriculeError` whose ``rule`` is the first rule broken among
    ``length``, ``characters``, ``sex``, ``month``, ``department``, ``key``. With
    ``historical=True`` (former INS returned as INSHISTO) a key mismatch only emits an
    :class:`InsKeyWarning`.
    """
    if not isinstance(text, str):
        raise InvalidMatriculeError("le matricule INS doit être une chaîne", rule="characters")
    value = _clean(text)
    if len(value) != 15:
        raise InvalidMatriculeError(
            f"un matricule INS compte 15 caractères (NIR 13 + clé 2), pas {len(value)}",
            rule="length",
        )
    nir, key = value[:13], value[13:]
    _raise_first(_nir_problems(nir))
    if not set(key) <= _DIGITS:
        raise InvalidMatriculeError(f"clé {key!r} non numérique", rule="characters")
    expected = _key_of(nir)
    if key != expected:
        message = f"clé {key} attendue {expected}"
        if not historical:
            raise InvalidMatriculeError(message, rule="key")
        warnings.warn(f"matricule INS historique {value}: {message}", InsKeyWarning, stacklevel=2)
    return Matricule(nir, key)


def kind_from_oid(oid: str) -> InsKind:
    """The nature of an INS from its assigning authority OID (rule ``oid`` if unknown)."""
    if oid == OID_INS_NIA:
        return InsKind.NIA
    if oid in INS_NIR_OIDS:
        return InsKind.NIR
    raise InvalidMatriculeError(f"OID {oid!r} n'est pas une autorité d'affectation INS", rule="oid")


@dataclass(frozen=True, slots=True)
class MatriculeCheck:
    """Outcome of :func:`check_matricule`.

    ``key`` is the computed key (``None`` when the NIR cannot be read); each error and warning
    is prefixed by its rule, e.g. ``"key: clé 12 attendue 78"``.
    """

    valid: bool
    kind: InsKind | None
    key: str | None
    errors: tuple[str, ...] = ()
    warnings: tuple[str, ...] = field(default=())

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready form: ``valid``, ``kind``, ``key``, ``errors``, ``warnings``."""
        return {
            "valid": self.valid,
            "kind": None if self.kind is None else self.kind.value,
            "key": self.key,
            "errors": list(self.errors),
            "warnings": list(self.warnings),
        }


def check_matricule(text: str, *, oid: str | None = None) -> MatriculeCheck:
    """Check a matricule INS and report every broken rule; never raises on bad input.

    The kind comes from ``oid`` when given (authoritative); otherwise it is guessed from the
    first digit (``7``/``8`` → NIA, else NIR), which is wrong for some NIA.
    """
    errors: list[str] = []
    kind: InsKind | None = None
    if oid is not None:
        try:
            kind = kind_from_oid(str(oid).strip())
        except InvalidMatriculeError as exc:
            errors.append(f"{exc.rule}: {exc.message}")
    if not isinstance(text, str):
        errors.append("characters: le matricule INS doit être une chaîne")
        return MatriculeCheck(False, kind, None, tuple(errors))
    value = _clean(text)
    warnings: tuple[str, ...] = ()
    if kind is None and oid is None and value[:1] in _DIGITS:
        kind = InsKind.NIA if value[0] in "78" else InsKind.NIR
        warnings = (f"kind: {kind.value} déduit du premier chiffre, sans OID (l'OID fait foi)",)
    if len(value) != 15:
        errors.append(
            f"length: un matricule INS compte 15 caractères (NIR 13 + clé 2), pas {len(value)}"
        )
        return MatriculeCheck(False, kind, None, tuple(errors), warnings)
    nir, key = value[:13], value[13:]
    problems = _nir_problems(nir)
    errors.extend(f"{rule}: {message}" for rule, message in problems)
    computed = _key_of(nir) if _readable(problems) else None
    if not set(key) <= _DIGITS:
        errors.append(f"characters: clé {key!r} non numérique")
    elif computed is not None and key != computed:
        errors.append(f"key: clé {key} attendue {computed}")
    return MatriculeCheck(not errors, kind, computed, tuple(errors), warnings)


def mask_matricule(value: str) -> str:
    """``value`` with all but its first 6 characters hidden, for logs and diagnostics: enough
    to tell two matricules apart in a support exchange, not to identify the patient."""
    text = str(value)
    return text[:6] + "*" * max(len(text) - 6, 0)
