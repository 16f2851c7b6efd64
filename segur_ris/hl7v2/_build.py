"""Writing ER7: segments from nested values, MSH, message bytes in the MSH-18 charset.

A field value is ``None`` or ``""`` (empty), a ``str`` (one value), a sequence of components
(``("DUPONT", "JEAN")`` → ``DUPONT^JEAN``) whose items may themselves be sequences of
sub-components (``("", "", "", ("NS", "1.2.3", "ISO"))`` → ``^^^NS&1.2.3&ISO``), or
:class:`Repeated` values (``Repeated("VALI", "DOUT")`` → ``VALI~DOUT``). Every leaf is escaped
with :func:`~segur_ris.hl7v2.escape`: a value containing ``|^~\\&``, CR or LF parses back
unchanged with :func:`~segur_ris.hl7v2.parse_message`.

hl7apy decision (measured with ``benchmarks/bench_hl7apy_fidelity.py``, hl7apy 1.3.5): hl7apy is
used only in the tests, as an oracle checking that the standard segments of the ACK, PAM FR ADT
and OMI we build fit the HL7 2.5/2.5.1 structures (order, groups, cardinalities, lengths). It is
not used at run time, to build or to check messages, because on the messages of the Ségur
volets it is either blind or wrong: with ``find_groups`` it silently drops what its structures
do not know (ZBE/ZFA/ZFD of PAM FR, the PRT pre-adopted by ORU 2.5 and MDM 2.6) and
``validate()`` still answers ``True`` on what is left; a STRICT parse refuses any CDA in OBX-5
(ED data limited to 199/999 characters), so ORU/MDM can only be read TOLERANT, where the ORU
then fails validation (PRT breaks its group detection); ``validate()`` also rejects a valid
ORM^O01 (its OBR/RQD/RQ1/RXO/ODS/ODT choice is modelled as all required). And it is slow:
5-20 ms per small message (ACK, ADT, ORM, OMI) against 30-110 µs for our parse, 15-50 ms for a
330 KB ORU/MDM against 1-1.5 ms. The French rules (PID-32, INS only when qualified,
ORC-1/OBX-11/trigger coherence, MetaDMPMSS order, PRT) hold by construction in
:mod:`segur_ris.hl7v2._build_messages` and are asserted against the ANS samples in the tests.
"""

from __future__ import annotations

import codecs
import datetime as _dt
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from segur_ris.errors import Hl7Error
from segur_ris.hl7v2._er7 import CHARSETS, DEFAULT_SEPARATORS, Segment, Separators, escape

__all__ = [
    "AssigningAuthority",
    "CodedValue",
    "Endpoint",
    "EntityId",
    "FieldValue",
    "Identifier",
    "MessageHeader",
    "Repeated",
    "build_message",
    "build_msh",
    "build_segment",
    "field_value",
    "hl7_date",
    "hl7_datetime",
    "msh18_charset",
    "new_control_id",
]

Leaf = str | None
Component = Leaf | Sequence[Leaf]


class Repeated(tuple[Leaf | Sequence[Component], ...]):
    """The repetitions of a field: ``Repeated("VALI", "DOUT")`` → ``VALI~DOUT``."""

    __slots__ = ()

    def __new__(cls, *values: Leaf | Sequence[Component]) -> Repeated:
        return super().__new__(cls, values)

    def __repr__(self) -> str:
        return f"Repeated{tuple(self)!r}"


#: A field value: empty, a value, components (with optional sub-components) or repetitions.
FieldValue = Leaf | Sequence[Component] | Repeated


def _leaf(value: object, seps: Separators) -> str:
    if value is None:
        return ""
    if not isinstance(value, str):
        raise Hl7Error(f"valeur HL7 attendue sous forme de texte, pas {type(value).__name__}")
    return escape(value, seps) if value else ""


def _component(value: Component, seps: Separators) -> str:
    if isinstance(value, str | bytes | bytearray) or not isinstance(value, Sequence):
        return _leaf(value, seps)
    return seps.subcomponent.join(_leaf(sub, seps) for sub in value).rstrip(seps.subcomponent)


def _repetition(value: Leaf | Sequence[Component], seps: Separators) -> str:
    if isinstance(value, str | bytes | bytearray) or not isinstance(value, Sequence):
        return _leaf(value, seps)
    return seps.component.join(_component(comp, seps) for comp in value).rstrip(seps.component)


def encode_field(value: FieldValue, seps: Separators = DEFAULT_SEPARATORS) -> str:
    """The ER7 text of one field value (leaves escaped, trailing empty parts trimmed)."""
    if isinstance(value, Repeated):
        return seps.repetition.join(_repetition(rep, seps) for rep in value)
    return _repetition(value, seps)


def build_segment(
    name: str,
    fields: Sequence[FieldValue] | Mapping[int, FieldValue],
    *,
    separators: Separators = DEFAULT_SEPARATORS,
) -> str:
    """One segment line (no terminator).

    ``fields`` lists the values of fields 1, 2, … in order, or maps field numbers to values
    (``{2: "I", 19: ("123", "", "", ("", "1.2.3", "ISO"), "VN")}``). Trailing empty fields are
    dropped. Use :func:`build_msh` for MSH.
    """
    if not isinstance(name, str) or len(name) != 3 or not name.isalnum() or not name.isupper():
        raise Hl7Error(f"nom de segment invalide {name!r}", code="100")
    if name == "MSH":
        raise Hl7Error("MSH se construit avec build_msh", code="100")
    if isinstance(fields, Mapping):
        if any(not isinstance(k, int) or k < 1 for k in fields):
            raise Hl7Error(f"{name}: numéros de champ entiers à partir de 1 attendus")
        count = max(fields, default=0)
        values: list[FieldValue] = [fields.get(i) for i in range(1, count + 1)]
    else:
        values = list(fields)
    parts = [encode_field(v, separators) for v in values]
    while parts and not parts[-1]:
        parts.pop()
    return separators.field.join([name, *parts])


def field_value(segment: Segment, field: int) -> FieldValue:
    """A parsed field as a :data:`FieldValue` (unescaped), to copy it into a new segment."""
    if segment.name == "MSH" and field in (1, 2):
        raise Hl7Error("MSH-1 et MSH-2 ne se copient pas")
    reps = segment.repetitions(field)
    values: list[Leaf | Sequence[Component]] = []
    for rep in reps:
        comps: list[Component] = []
        for index in range(1, rep.component_count + 1):
            subs = rep.subcomponents(index)
            comps.append(subs[0] if len(subs) == 1 else tuple(subs) if subs else "")
        values.append(tuple(comps))
    if not values:
        return None
    return values[0] if len(values) == 1 else Repeated(*values)


# --- data types shared by the builders -------------------------------------------------------


@dataclass(frozen=True, slots=True)
class AssigningAuthority:
    """HD: ``namespace&universal_id&universal_id_type`` (``AUT-AFFECTATION&120456789&M``)."""

    namespace: str = ""
    universal_id: str = ""
    universal_id_type: str = ""

    def parts(self) -> tuple[str, str, str]:
        return (self.namespace, self.universal_id, self.universal_id_type)

    @classmethod
    def iso(cls, oid: str, namespace: str = "") -> AssigningAuthority:
        """An authority identified by an OID (``namespace&oid&ISO``)."""
        return cls(namespace, oid, "ISO")


@dataclass(frozen=True, slots=True)
class Identifier:
    """CX: ``value^^^authority^type_code`` (+ CX-7 ``effective_date``): IPP (``PI``), NDA
    (``AN``), visit number (``VN``), INS (``INS``)."""

    value: str
    authority: AssigningAuthority | None = None
    type_code: str = "PI"
    effective_date: _dt.date | None = None

    def cx(self) -> tuple[Component, ...]:
        auth = self.authority.parts() if self.authority else None
        date = hl7_date(self.effective_date) if self.effective_date else None
        return (self.value, None, None, auth, self.type_code, None, date)


@dataclass(frozen=True, slots=True)
class EntityId:
    """EI: ``value^namespace^universal_id^universal_id_type`` (order numbers, accession)."""

    value: str
    authority: AssigningAuthority | None = None

    def ei(self) -> tuple[str, ...]:
        return (self.value, *(self.authority.parts() if self.authority else ()))


@dataclass(frozen=True, slots=True)
class CodedValue:
    """CE/CWE: ``code^text^coding_system``."""

    code: str
    text: str = ""
    system: str = ""

    def ce(self) -> tuple[str, str, str]:
        return (self.code, self.text, self.system)


# --- dates, control ids, charsets -------------------------------------------------------------


def hl7_datetime(value: _dt.datetime | _dt.date | None = None) -> str:
    """HL7 DTM ``YYYYMMDDHHMMSS`` with ``+ZZZZ`` when ``value`` is timezone-aware (``None``:
    now, local time with its offset); a :class:`~datetime.date` gives ``YYYYMMDD``."""
    if value is None:
        value = _dt.datetime.now().astimezone().replace(microsecond=0)
    if not isinstance(value, _dt.datetime):
        if isinstance(value, _dt.date):
            return value.strftime("%Y%m%d")
        raise Hl7Error(f"date/heure attendue, pas {type(value).__name__}")
    text = value.strftime("%Y%m%d%H%M%S")
    offset = value.utcoffset()
    if offset is not None:
        minutes = int(offset.total_seconds()) // 60
        sign = "+" if minutes >= 0 else "-"
        text += f"{sign}{abs(minutes) // 60:02d}{abs(minutes) % 60:02d}"
    return text


def hl7_date(value: _dt.date) -> str:
    """HL7 DT ``YYYYMMDD``."""
    if not isinstance(value, _dt.date):
        raise Hl7Error(f"date attendue, pas {type(value).__name__}")
    return value.strftime("%Y%m%d")


def new_control_id() -> str:
    """A fresh MSH-10 (20 hexadecimal characters, unique without coordination)."""
    return uuid.uuid4().hex[:20].upper()


_CODEC_TO_MSH18 = {"utf-8": "UNICODE UTF-8", "iso8859-15": "8859/15", "iso8859-1": "8859/1"}
_CODEC_TO_MSH18["ascii"] = "ASCII"


def msh18_charset(charset: str) -> tuple[str, str]:
    """``(MSH-18 value, Python codec)`` for an MSH-18 value (``UNICODE UTF-8``, ``8859/15``…)
    or a Python codec name (``utf-8``, ``latin-9``, ``iso-8859-15``…)."""
    key = charset.strip().upper()
    if key in CHARSETS:
        codec = CHARSETS[key]
        return ("UNICODE UTF-8" if codec == "utf-8" else key), codec
    try:
        name = codecs.lookup(charset).name
    except LookupError:
        name = ""
    if name in _CODEC_TO_MSH18:
        return _CODEC_TO_MSH18[name], name
    raise Hl7Error(
        f"jeu de caractères {charset!r} non pris en charge (UNICODE UTF-8, 8859/15, 8859/1, ASCII)",
        code="103",
    )


# --- MSH and messages -------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Endpoint:
    """An application and its facility (MSH-3/4 or MSH-5/6), each an HD namespace id."""

    application: str = ""
    facility: str = ""


@dataclass(frozen=True, slots=True)
class MessageHeader:
    """The MSH values that do not depend on the message type.

    ``control_id``/``timestamp`` default to a fresh id and now; ``charset`` is an MSH-18 value
    or a Python codec name and also sets the encoding of the output bytes.
    """

    sender: Endpoint = Endpoint("SEGUR_RIS")
    receiver: Endpoint = Endpoint()
    control_id: str | None = None
    timestamp: _dt.datetime | None = None
    processing_id: str = "P"
    charset: str = "UNICODE UTF-8"

    def __post_init__(self) -> None:
        msh18_charset(self.charset)  # fail early on an unknown charset
        if self.processing_id not in ("P", "T", "D"):
            raise Hl7Error(f"MSH-11 {self.processing_id!r}: P, T ou D attendu", code="202")


def build_msh(
    header: MessageHeader,
    message_type: FieldValue,
    version: FieldValue,
    *,
    country: str | None = "FRA",
    language: str | None = None,
    profile: FieldValue = None,
    accept_ack_type: str | None = None,
    application_ack_type: str | None = None,
    endpoints: Sequence[FieldValue] | None = None,
    separators: Separators = DEFAULT_SEPARATORS,
) -> str:
    """The MSH line: MSH-3..6 from ``header``, MSH-7 timestamp, MSH-9 ``message_type``
    (e.g. ``("ORU", "R01", "ORU_R01")``), MSH-10, MSH-11, MSH-12 ``version`` (``"2.6"`` or
    ``("2.5", "FRA", "2.11")``), MSH-15/16, MSH-17 ``country``, MSH-18 charset, MSH-19
    ``language``, MSH-21 ``profile``. ``endpoints`` replaces MSH-3..6 (four values, e.g. HD
    copied from another message)."""
    msh18, _ = msh18_charset(header.charset)
    if endpoints is None:
        sender, receiver = header.sender, header.receiver
        endpoints = (sender.application, sender.facility, receiver.application, receiver.facility)
    if len(endpoints) != 4:
        raise Hl7Error("endpoints: quatre valeurs attendues (MSH-3 à MSH-6)")
    fields: dict[int, FieldValue] = {
        3: endpoints[0],
        4: endpoints[1],
        5: endpoints[2],
        6: endpoints[3],
        7: hl7_datetime(header.timestamp),
        9: message_type,
        10: header.control_id or new_control_id(),
        11: header.processing_id,
        12: version,
        15: accept_ack_type,
        16: application_ack_type,
        17: country,
        18: msh18,
        19: language,
        21: profile,
    }
    parts = [encode_field(fields.get(i), separators) for i in range(3, 22)]
    while parts and not parts[-1]:
        parts.pop()
    return separators.field.join(["MSH", separators.msh2, *parts])


def _msh18_codec(msh: str) -> str:
    if not msh.startswith("MSH") or len(msh) < 8:
        raise Hl7Error("le premier segment doit être MSH", code="100")
    parts = msh.split(msh[3])
    raw = parts[17] if len(parts) > 17 else ""  # parts[n - 1] is MSH-n
    first = raw.split(msh[5], 1)[0].split(msh[4], 1)[0]  # first repetition, first component
    return msh18_charset(first)[1] if first.strip() else "utf-8"


def build_message(segments: Iterable[str], *, terminator: str = "\r") -> bytes:
    """Join segment lines (the first one MSH) and encode them with the charset of MSH-18
    (UTF-8 when MSH-18 is empty, as :func:`~segur_ris.hl7v2.parse_message` reads it).

    Raises :class:`~segur_ris.errors.Hl7Error` (code ``103``) when a character cannot be
    represented in that charset (e.g. ``€`` is fine in ``8859/15``, ``œ`` too, but not ``✓``).
    """
    lines = list(segments)
    if not lines:
        raise Hl7Error("message vide", code="100")
    if terminator not in ("\r", "\n", "\r\n"):
        raise Hl7Error(f"terminateur de segment {terminator!r} invalide")
    codec = _msh18_codec(lines[0])
    text = terminator.join(lines) + terminator
    try:
        # surrogateescape: values copied from a received message (undecodable bytes kept by
        # parse_message) are written back as the original bytes
        return text.encode(codec, "surrogateescape")
    except UnicodeEncodeError as exc:
        bad = exc.object[exc.start : exc.end]
        raise Hl7Error(
            f"caractère {bad!r} non représentable dans le jeu de caractères {codec} (MSH-18)",
            code="103",
        ) from None
