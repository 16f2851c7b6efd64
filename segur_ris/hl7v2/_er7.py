"""Lossless, lazy ER7 (pipe-delimited HL7 v2) reading and writing.

Parsing does the minimum: decode the bytes with the charset of MSH-18, split segments (CR, LF or
CRLF, as ANS samples mix them) and keep every line as it came. Fields, repetitions, components
and sub-components are split, and escape sequences resolved, only when read. Nothing is dropped:
Z-segments, PRT in 2.5 messages and 300 KB OBX-5 values stay in the message, and
:meth:`Message.to_bytes` gives the input bytes back.

Why not hl7apy or python-hl7: hl7apy builds one object per component and silently drops segments
it does not know (ZBE, ZFA, PRT in 2.5); python-hl7 splits every field eagerly. Both measured in
``benchmarks/bench_hl7.py``.
"""

from __future__ import annotations

import codecs
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import TypeVar

from segur_ris.errors import Hl7ParseError

__all__ = [
    "CHARSETS",
    "Message",
    "Repetition",
    "Segment",
    "Separators",
    "escape",
    "parse_message",
    "unescape",
]

#: MSH-18 values (HL7 table 0211) → Python codecs. Empty MSH-18 means ASCII in HL7; French
#: systems often send Latin-9 or UTF-8 anyway, see :func:`parse_message` ``default_charset``.
CHARSETS: dict[str, str] = {
    "ASCII": "ascii",
    "8859/1": "iso8859-1",
    "8859/15": "iso8859-15",
    "UNICODE UTF-8": "utf-8",
    "UNICODE": "utf-8",
    "UTF-8": "utf-8",
}

_SEGMENT_SPLIT = re.compile(rb"(\r\n|\r|\n)")
_SEGMENT_NAME = re.compile(rb"[A-Z][A-Z0-9]{2}")


@dataclass(frozen=True, slots=True)
class Separators:
    """The encoding characters of a message (MSH-1 and MSH-2)."""

    field: str = "|"
    component: str = "^"
    repetition: str = "~"
    escape: str = "\\"
    subcomponent: str = "&"
    truncation: str = ""  # HL7 2.7+: fifth encoding character, kept verbatim

    @property
    def msh2(self) -> str:
        return self.component + self.repetition + self.escape + self.subcomponent + self.truncation


DEFAULT_SEPARATORS = Separators()

_AnyStr = TypeVar("_AnyStr", str, bytes)


def _split(text: _AnyStr, sep: _AnyStr) -> list[_AnyStr]:
    """``text.split(sep)``, with ``find`` (memchr) on long texts: CPython's one-character
    ``split`` walks every character, 10x slower than this on a 300 KB OBX-5."""
    if len(text) < 512:
        return text.split(sep)
    parts: list[_AnyStr] = []
    find, start, width = text.find, 0, len(sep)
    while (end := find(sep, start)) >= 0:
        parts.append(text[start:end])
        start = end + width
    parts.append(text[start:])
    return parts


def _hex_text(hexdigits: str, charset: str) -> str | None:
    if len(hexdigits) % 2:
        return None
    try:
        return bytes.fromhex(hexdigits).decode(charset)
    except (ValueError, UnicodeDecodeError):
        return None


def unescape(text: str, seps: Separators = DEFAULT_SEPARATORS, charset: str = "utf-8") -> str:
    """Resolve ``\\F\\ \\S\\ \\T\\ \\R\\ \\E\\ \\Xhh…\\`` (and ``\\P\\`` for 2.7 truncation).

    Other sequences (formatting such as ``\\.br\\``, highlighting ``\\H\\``/``\\N\\``, ``\\Z…\\``)
    and malformed ones are kept verbatim: a reader never loses text.
    """
    esc = seps.escape
    if not esc or esc not in text:
        return text
    out: list[str] = []
    i, n = 0, len(text)
    simple = {
        "F": seps.field,
        "S": seps.component,
        "T": seps.subcomponent,
        "R": seps.repetition,
        "E": esc,
    }
    if seps.truncation:  # \P\ exists only with the 2.7 fifth encoding character
        simple["P"] = seps.truncation
    while i < n:
        j = text.find(esc, i)
        if j < 0:
            out.append(text[i:])
            break
        out.append(text[i:j])
        k = text.find(esc, j + 1)
        if k < 0:  # lone escape character: keep it
            out.append(text[j:])
            break
        code = text[j + 1 : k]
        replacement = simple.get(code) if len(code) == 1 else None
        if replacement is None and code[:1] == "X":
            replacement = _hex_text(code[1:], charset)
        if replacement is None:
            out.append(text[j : k + 1])
        else:
            out.append(replacement)
        i = k + 1
    return "".join(out)


def escape(text: str, seps: Separators = DEFAULT_SEPARATORS) -> str:
    """Escape the delimiters in ``text`` (the escape character first) for use in a value."""
    esc = seps.escape
    if esc in text:
        text = text.replace(esc, f"{esc}E{esc}")
    for char, code in (
        (seps.field, "F"),
        (seps.component, "S"),
        (seps.subcomponent, "T"),
        (seps.repetition, "R"),
    ):
        if char in text:
            text = text.replace(char, f"{esc}{code}{esc}")
    if seps.truncation and seps.truncation in text:
        text = text.replace(seps.truncation, f"{esc}P{esc}")
    # segment terminators inside a value would split the segment: escape them as hex
    if "\r" in text or "\n" in text:
        text = text.replace("\r", f"{esc}X0D{esc}").replace("\n", f"{esc}X0A{esc}")
    return text


class Repetition:
    """One repetition of a field: components and sub-components, split on first read."""

    __slots__ = ("_components", "_message", "raw")

    def __init__(self, raw: str, message: Message) -> None:
        self.raw = raw
        self._message = message
        self._components: list[str] | None = None

    def _split(self) -> list[str]:
        if self._components is None:
            self._components = _split(self.raw, self._message.separators.component)
        return self._components

    @property
    def component_count(self) -> int:
        return len(self._split()) if self.raw else 0

    def raw_component(self, component: int) -> str:
        """The escaped text of ``component`` (1-based), sub-components included."""
        parts = self._split()
        return parts[component - 1] if 0 < component <= len(parts) else ""

    def get(self, component: int = 1, subcomponent: int = 1) -> str:
        """The unescaped value at ``component``/``subcomponent`` (1-based); ``""`` if absent."""
        raw = self.raw_component(component)
        if raw:
            sub = self._message.separators.subcomponent
            if sub and sub in raw:
                parts = _split(raw, sub)
                raw = parts[subcomponent - 1] if 0 < subcomponent <= len(parts) else ""
            elif subcomponent != 1:
                return ""
        return self._message.unescape(raw) if raw else ""

    def subcomponents(self, component: int) -> list[str]:
        """The unescaped sub-components of ``component``."""
        raw = self.raw_component(component)
        sub = self._message.separators.subcomponent
        return [self._message.unescape(p) for p in _split(raw, sub)] if raw else []

    def components(self) -> list[str]:
        """Every component, unescaped (sub-components left joined by their separator)."""
        return [self._message.unescape(p) for p in self._split()] if self.raw else []

    @property
    def text(self) -> str:
        """The whole repetition unescaped (delimiters inside resolved)."""
        return self._message.unescape(self.raw)

    def __str__(self) -> str:
        return self.raw

    def __repr__(self) -> str:
        return f"Repetition({self.raw!r})"


class Segment:
    """A segment line. Field ``n`` follows HL7 numbering (``MSH-1`` is the field separator)."""

    __slots__ = ("_fields", "_line", "_message", "_raw", "_reps", "name")

    def __init__(self, raw: bytes, message: Message) -> None:
        self._raw = raw
        self._line: str | None = None  # decoded on first read
        self.name = raw[:3].decode("ascii")
        self._message = message
        self._fields: list[str] | None = None
        self._reps: dict[int, list[Repetition]] = {}

    @property
    def line(self) -> str:
        """The segment text (decoded with the message charset on first access)."""
        if self._line is None:
            self._line = self._message.decode(self._raw)
        return self._line

    def _split(self) -> list[str]:
        if self._fields is None:
            seps = self._message.separators
            parts = _split(self.line, seps.field)
            if self.name == "MSH":  # MSH-1 is the separator itself; MSH-2 the encoding chars
                parts.insert(1, seps.field)
            self._fields = parts
        return self._fields

    @property
    def field_count(self) -> int:
        """Number of the last field present."""
        return len(self._split()) - 1

    def raw(self, field: int) -> str:
        """The escaped text of ``field`` (all repetitions); ``""`` when absent."""
        parts = self._split()
        return parts[field] if 0 < field < len(parts) else ""

    def repetitions(self, field: int) -> list[Repetition]:
        """The repetitions of ``field`` (an empty list when the field is empty)."""
        cached = self._reps.get(field)
        if cached is not None:
            return cached
        raw = self.raw(field)
        if not raw:
            reps: list[Repetition] = []
        elif self.name == "MSH" and field in (1, 2):
            reps = [Repetition(raw, self._message)]  # separators are not delimiters here
        else:
            reps = [
                Repetition(r, self._message)
                for r in _split(raw, self._message.separators.repetition)
            ]
        self._reps[field] = reps
        return reps

    def get(
        self, field: int, component: int = 1, subcomponent: int = 1, repetition: int = 1
    ) -> str:
        """The unescaped value at ``field[repetition].component.subcomponent`` (1-based)."""
        if self.name == "MSH" and field in (1, 2):
            return self.raw(field) if component == 1 and subcomponent == 1 else ""
        reps = self.repetitions(field)
        if not 0 < repetition <= len(reps):
            return ""
        return reps[repetition - 1].get(component, subcomponent)

    def __getitem__(self, field: int) -> str:
        """``segment[n]``: the first component of the first repetition of field ``n``."""
        return self.get(field)

    def __str__(self) -> str:
        return self.line

    def __repr__(self) -> str:
        preview = self.line if len(self.line) <= 60 else self.line[:57] + "..."
        return f"Segment({preview!r})"


@dataclass(frozen=True, slots=True)
class _Line:
    """A line as received and its own terminator."""

    text: bytes
    terminator: bytes

    @property
    def blank(self) -> bool:
        return not self.text or self.text.isspace()


class Message:
    """A parsed ER7 message. Read-only; build new messages with :mod:`segur_ris.hl7v2` builders.

    Lines are kept as received; each segment is decoded from the message charset only when
    read, so a 300 KB OBX line never slows down reading the PID.
    """

    __slots__ = ("__dict__", "_lines", "charset", "prefix", "separators")

    def __init__(
        self,
        lines: Sequence[_Line],
        separators: Separators,
        charset: str,
        prefix: bytes = b"",
    ) -> None:
        self._lines = tuple(lines)
        self.separators = separators
        self.charset = charset
        self.prefix = prefix

    # --- structure ---------------------------------------------------------------------------

    @cached_property
    def segments(self) -> tuple[Segment, ...]:
        """Every segment, in order (blank lines are kept for serialisation, not listed)."""
        return tuple(Segment(line.text, self) for line in self._lines if not line.blank)

    def segment(self, name: str, index: int = 0) -> Segment | None:
        """The ``index``-th segment called ``name`` (0-based), or ``None``."""
        count = 0
        for seg in self.segments:
            if seg.name == name:
                if count == index:
                    return seg
                count += 1
        return None

    def segments_named(self, name: str) -> list[Segment]:
        return [seg for seg in self.segments if seg.name == name]

    def __iter__(self) -> Iterator[Segment]:
        return iter(self.segments)

    def __len__(self) -> int:
        return len(self.segments)

    @property
    def msh(self) -> Segment:
        return self.segments[0]

    # --- header shortcuts --------------------------------------------------------------------

    @property
    def message_type(self) -> str:
        """``MSH-9.1^MSH-9.2`` (``ADT^A01``, ``ORU^R01``…)."""
        code, event = self.msh.get(9, 1), self.msh.get(9, 2)
        return f"{code}^{event}" if event else code

    @property
    def structure(self) -> str:
        """MSH-9.3, the message structure (``ADT_A01``…), ``""`` when absent."""
        return self.msh.get(9, 3)

    @property
    def control_id(self) -> str:
        return self.msh.get(10)

    @property
    def version(self) -> str:
        """MSH-12.1 (``2.5``, ``2.6``…)."""
        return self.msh.get(12)

    # --- text --------------------------------------------------------------------------------

    def decode(self, raw: bytes) -> str:
        """``raw`` decoded with the message charset; undecodable bytes are kept
        (``surrogateescape``) so that the message still round-trips."""
        try:
            return raw.decode(self.charset)
        except UnicodeDecodeError:
            return raw.decode(self.charset, "surrogateescape")

    def unescape(self, text: str) -> str:
        return unescape(text, self.separators, self.charset)

    def to_text(self, terminator: str | None = None) -> str:
        """The message text; ``terminator`` (e.g. ``"\\r"``) normalises segment separators and
        drops blank lines, else every line keeps its own separator (lossless)."""
        if terminator is None:
            return self.decode(self.to_bytes())
        return "".join(seg.line + terminator for seg in self.segments)

    def to_bytes(self, terminator: str | None = None) -> bytes:
        """Encoded with the message's charset: byte-exact with the input when ``terminator``
        is ``None``."""
        if terminator is None:
            parts = [self.prefix]
            for line in self._lines:
                parts += (line.text, line.terminator)
            return b"".join(parts)
        return self.to_text(terminator).encode(self.charset, "surrogateescape")

    def __repr__(self) -> str:
        return (
            f"Message({self.message_type!r}, control_id={self.control_id!r}, {len(self)} segments)"
        )


def _charset_of(msh_line: bytes, field_sep: bytes, default: str) -> str:
    parts = msh_line.split(field_sep)
    # parts[0] = b"MSH", parts[1] = MSH-2, so MSH-n = parts[n - 1]
    raw = parts[17].decode("ascii", "replace").strip() if len(parts) > 17 else ""
    msh2 = parts[1].decode("ascii", "replace") if len(parts) > 1 else "^~"
    component, repetition = (msh2[0], msh2[1]) if len(msh2) > 1 else ("^", "~")
    first = raw.split(repetition, 1)[0].split(component, 1)[0].strip().upper()  # may repeat
    if not first:
        return default
    codec = CHARSETS.get(first)
    if codec is None:
        raise Hl7ParseError(
            f"jeu de caractères MSH-18 {raw!r} non pris en charge "
            f"(connus: {', '.join(sorted(CHARSETS))})",
            code="103",
            segment="MSH",
            field=18,
        )
    return codec


def _split_lines(text: bytes) -> list[_Line]:
    """Lines with their own terminators. One terminator kind (the usual case) is split with
    ``bytes.split`` (about 50x faster than the regex on a 300 KB message); mixtures use the
    regex."""
    has_cr, has_lf = b"\r" in text, b"\n" in text
    if has_cr and has_lf:
        pieces = _SEGMENT_SPLIT.split(text)
        lines = [
            _Line(pieces[i], pieces[i + 1] if i + 1 < len(pieces) else b"")
            for i in range(0, len(pieces), 2)
        ]
    else:
        terminator = b"\r" if has_cr else b"\n"
        parts = _split(text, terminator)
        lines = [_Line(part, terminator) for part in parts]
        lines[-1] = _Line(parts[-1], b"")
    if lines and not lines[-1].text and not lines[-1].terminator:
        lines.pop()  # the empty piece after a final terminator
    return lines


def _separators(msh: str) -> Separators:
    """Encoding characters from the start of the MSH line (``MSH|^~\\&|…``)."""
    field_sep = msh[3] if len(msh) > 3 else ""
    msh2_end = msh.find(field_sep, 4) if field_sep else -1
    msh2 = msh[4:msh2_end] if msh2_end > 0 else msh[4:]
    if (
        not field_sep
        or not all("!" <= c <= "~" for c in field_sep + msh2)  # printable ASCII only
        or field_sep.isalnum()
        or field_sep in "\r\n "
        or not 4 <= len(msh2) <= 5
        or len(set(msh2 + field_sep)) != len(msh2) + 1
        or any(c.isalnum() or c in "\r\n " for c in msh2)
    ):
        raise Hl7ParseError(
            f"caractères d'encodage MSH-1/MSH-2 invalides: {msh[3 : 4 + len(msh2)]!r}",
            code="102",
            segment="MSH",
            field=2,
        )
    return Separators(field_sep, msh2[0], msh2[1], msh2[2], msh2[3], msh2[4:5])


def parse_message(data: bytes | str, *, default_charset: str = "utf-8") -> Message:
    """Parse one ER7 message.

    ``data`` as bytes is read with the charset of MSH-18 (``default_charset`` when MSH-18 is
    empty; undecodable bytes are kept with ``surrogateescape`` so the message still round-trips).
    Every supported charset is ASCII-compatible, so delimiters are found in the bytes and each
    segment is decoded only when read. Text (``str``) is read as UTF-8. Raises
    :class:`~segur_ris.errors.Hl7ParseError` when there is no valid MSH segment or a line is not
    a segment.
    """
    if isinstance(data, str):
        raw, forced = data.encode("utf-8", "surrogateescape"), "utf-8"
    elif isinstance(data, bytes | bytearray | memoryview):
        raw, forced = bytes(data), None
    else:
        raise Hl7ParseError(f"bytes ou str attendus, pas {type(data).__name__}", code="102")
    start = raw.find(b"MSH")
    if start < 0 or raw[:start].strip(b"\xef\xbb\xbf \t\r\n"):
        raise Hl7ParseError("message HL7 v2 sans segment MSH en tête", code="100")
    end = _SEGMENT_END.search(raw, start)
    msh_line = raw[start : end.start() if end else len(raw)]
    if len(msh_line) < 8:
        raise Hl7ParseError("segment MSH tronqué", code="100", segment="MSH")
    charset = forced or _charset_of(msh_line, msh_line[3:4], default_charset)
    try:
        codecs.lookup(charset)
    except LookupError:
        raise Hl7ParseError(f"jeu de caractères inconnu {charset!r}", code="103") from None
    separators = _separators(msh_line.decode(charset, "surrogateescape"))
    field_sep = separators.field.encode(charset, "surrogateescape")
    lines = _split_lines(raw[start:])
    for line in lines:
        text = line.text
        if line.blank:
            continue
        if not _SEGMENT_NAME.match(text) or (len(text) > 3 and text[3:4] != field_sep):
            shown = text[:3].decode(charset, "replace")
            raise Hl7ParseError(
                f"ligne {shown!r}…: un segment commence par un nom de 3 caractères suivi du "
                "séparateur de champ",
                code="100",
                segment=shown,
            )
    return Message(lines, separators, charset, raw[:start])


_SEGMENT_END = re.compile(rb"\r|\n")
