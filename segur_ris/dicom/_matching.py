"""C-FIND attribute matching for the Modality Worklist (PS3.4 C.2.2.2 / Annex K), pure.

:func:`parse_query` checks a query identifier once and compiles every key; the returned
:class:`WorklistQuery` then tells whether a worklist item matches (:meth:`WorklistQuery.matches`)
and builds the answer holding exactly the requested keys (:meth:`WorklistQuery.response`).

Matching kinds: universal (empty value, or ``*`` alone), single value, wildcard (``*`` and ``?``,
for the text VRs AE/CS/LO/LT/PN/SH/ST/UC/UR/UT), list of UIDs (``\\``-separated), range
(``a-b``, ``-b``, ``a-`` for DA/TM/DT; a single partial time such as ``10`` covers its whole
precision) and sequence matching (one query item: a candidate item must match every key of it;
an empty sequence returns the candidate's items whole). Choices where PS3.4 leaves room:

* PN values match case-insensitively (``dupont*`` finds ``DUPONT^JEAN``); others are
  case-sensitive. Leading/trailing spaces are not significant.
* a candidate whose attribute is absent or empty matches only universal matching;
* a multi-valued candidate (``AA32\\AA33``) matches when one of its values does; a
  ``\\``-separated query value on a non-UID key is an OR of its values;
* date and time keys match independently (no combined date-time matching is negotiated);
  UTC offsets of DT values are ignored, and a DT query value cannot carry a negative offset.

Malformed identifiers (bad range, wildcard in a date, several items in a sequence key,
undecodable value) raise :class:`~segur_ris.errors.DicomQueryError` with ``code`` ``0xA900``
(identifier does not match SOP class); private and unknown tags are reported in
:attr:`WorklistQuery.unsupported` (the SCP answers ``0xFF01``) and left out of the answer.
``QueryRetrieveLevel``, which some modalities send with MWL queries, is ignored.
"""

from __future__ import annotations

import datetime as _dt
import re
import struct
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from segur_ris.errors import DicomQueryError

if TYPE_CHECKING:
    from pydicom import Dataset
    from pydicom.dataelem import DataElement

__all__ = ["QueryFilter", "WorklistQuery", "parse_query"]

_STATUS_BAD_IDENTIFIER = "0xA900"
_WILDCARD_VRS = frozenset({"AE", "CS", "LO", "LT", "PN", "SH", "ST", "UC", "UR", "UT"})
_RANGE_VRS = frozenset({"DA", "TM", "DT"})
_TEXT_VRS = _WILDCARD_VRS | {"DS", "IS", "AS"}
_DA = re.compile(r"^\d{8}$")
_TM = re.compile(r"^(\d{2})(\d{2})?(\d{2})?(\.\d{1,6})?$")
_DT = re.compile(r"^\d{4}(\d{2}){0,5}(\.\d{1,6})?([+-]\d{4})?$")
_CHARSET_TAG = 0x00080005
_QR_LEVEL_TAG = 0x00080052  # sent by some SCUs even for MWL: neither matched nor returned
_IGNORED = frozenset({_CHARSET_TAG, _QR_LEVEL_TAG})
_SPS_TAG = 0x00400100


def _bad(message: str) -> DicomQueryError:
    return DicomQueryError(message, code=_STATUS_BAD_IDENTIFIER)


def _norm_time(text: str, *, upper: bool) -> str:
    """``HH[MM[SS[.f]]]`` → ``HHMMSS.ffffff``; ``upper`` fills the missing precision with 9s."""
    match = _TM.match(text)
    if match is None:
        raise _bad(f"heure DICOM invalide: {text!r}")
    hh, mm, ss, frac = match.groups()
    if int(hh) > 23 or int(mm or 0) > 59 or int(ss or 0) > 60:
        raise _bad(f"heure DICOM invalide: {text!r}")
    fill = "59" if upper else "00"
    digits = hh + (mm or fill) + (ss or fill)
    pad = "9" if upper else "0"
    return f"{digits}.{(frac[1:] if frac else '').ljust(6, pad)}"


def _norm_date(text: str) -> str:
    try:
        if not _DA.match(text):
            raise ValueError(text)
        _dt.date(int(text[:4]), int(text[4:6]), int(text[6:]))
    except ValueError:
        raise _bad(f"date DICOM invalide: {text!r} (AAAAMMJJ attendu)") from None
    return text


def _norm_datetime(text: str, *, upper: bool) -> str:
    if not _DT.match(text):
        raise _bad(f"date-heure DICOM invalide: {text!r}")
    body = re.sub(r"[+-]\d{4}$", "", text)  # offsets ignored (local times on both sides)
    main, _, frac = body.partition(".")
    width = 14
    filler = "99991231235959"[len(main) :] if upper else "00000101000000"[len(main) :]
    main = (main + filler)[:width]
    fraction = frac.ljust(6, "9" if upper else "0") if frac else ("999999" if upper else "000000")
    return f"{main}.{fraction}"


def _bounds(vr: str, text: str) -> tuple[str, str]:
    if vr == "DA":
        value = _norm_date(text)
        return value, value
    if vr == "TM":
        return _norm_time(text, upper=False), _norm_time(text, upper=True)
    return _norm_datetime(text, upper=False), _norm_datetime(text, upper=True)


def _wildcard(pattern: str, *, fold: bool) -> re.Pattern[str]:
    parts = ("." if c == "?" else ".*" if c == "*" else re.escape(c) for c in pattern)
    return re.compile("".join(parts), re.DOTALL | (re.IGNORECASE if fold else 0))


@dataclass(frozen=True, slots=True)
class _Key:
    """One compiled matching key."""

    tag: int
    vr: str
    kind: str  # universal | single | wildcard | range | uids | sequence
    values: tuple[str, ...] = ()
    patterns: tuple[re.Pattern[str], ...] = ()
    ranges: tuple[tuple[str, str], ...] = ()
    items: tuple[_Key, ...] = ()

    def matches(self, candidate: Dataset) -> bool:
        if self.kind == "universal":
            return True
        element = candidate.get(self.tag)
        if self.kind == "sequence":
            return any(
                all(key.matches(item) for key in self.items)
                for item in (element.value if element is not None and element.VR == "SQ" else ())
            ) or all(key.kind == "universal" for key in self.items)
        values = _candidate_values(element)
        if not values:
            return False
        if self.kind == "single":
            fold = self.vr == "PN"
            wanted = {v.casefold() for v in self.values} if fold else set(self.values)
            return any((v.casefold() if fold else v) in wanted for v in values)
        if self.kind == "uids":
            return any(v in self.values for v in values)
        if self.kind == "wildcard":
            return any(p.fullmatch(v) for p in self.patterns for v in values)
        # range
        for value in values:
            try:
                low = _bounds(self.vr, value)[0]
            except DicomQueryError:
                continue  # an unreadable stored value never matches a range
            if any(lo <= low <= hi for lo, hi in self.ranges):
                return True
        return False


def _candidate_values(element: DataElement | None) -> list[str]:
    if element is None or element.value is None or element.value == "":
        return []
    value = element.value
    items: Iterable[Any] = value if isinstance(value, list | tuple) or _is_multi(value) else [value]
    return [str(v).strip() for v in items if str(v).strip()]


def _is_multi(value: object) -> bool:
    from pydicom.multival import MultiValue

    return isinstance(value, MultiValue)


def _text_of(element: DataElement) -> str:
    value = element.value
    if value is None:
        return ""
    if _is_multi(value) or isinstance(value, list | tuple):
        return "\\".join(str(v) for v in value)
    return str(value)


def _range_pair(vr: str, text: str) -> tuple[str, str]:
    if text.count("-") != 1:
        raise _bad(f"intervalle invalide: {text!r}")
    low_text, high_text = (part.strip() for part in text.split("-"))
    if not low_text and not high_text:
        raise _bad(f"intervalle vide: {text!r}")
    low = _bounds(vr, low_text)[0] if low_text else ""
    high = _bounds(vr, high_text)[1] if high_text else "\uffff"
    if low > high:
        raise _bad(f"intervalle inversé: {text!r}")
    return low, high


def _compile(element: DataElement, unsupported: list[str]) -> _Key | None:
    tag = int(element.tag)
    vr = str(element.VR)
    if element.tag.is_private or vr in ("UN", "OB", "OW", "OF", "OD", "OL", "OV"):
        unsupported.append(str(element.tag))
        return None
    if vr == "SQ":
        items = list(element.value or [])
        if len(items) > 1:
            raise _bad(f"{element.keyword or element.tag}: une seule séquence-item en requête")
        nested: list[_Key] = []
        if items:
            for sub in items[0]:
                key = _compile(sub, unsupported)
                if key is not None:
                    nested.append(key)
        if not nested:
            return _Key(tag, vr, "universal")
        return _Key(tag, vr, "sequence", items=tuple(nested))
    try:
        text = _text_of(element).strip()
    except Exception as exc:  # pydicom raises many kinds on undecodable values
        raise _bad(f"{element.tag}: valeur illisible ({type(exc).__name__})") from None
    if not text or text == "*":
        return _Key(tag, vr, "universal")
    if vr == "UI":
        return _Key(tag, vr, "uids", values=tuple(v.strip() for v in text.split("\\")))
    alternatives = [v.strip() for v in text.split("\\")]
    if vr in _RANGE_VRS:
        if any(c in text for c in "*?"):
            raise _bad(f"{element.keyword}: joker interdit pour le VR {vr}")
        ranges: list[tuple[str, str]] = []
        for alt in alternatives:
            if "-" in alt:
                ranges.append(_range_pair(vr, alt))
            else:
                ranges.append(_bounds(vr, alt))
        return _Key(tag, vr, "range", ranges=tuple(ranges))
    if vr not in _TEXT_VRS and vr not in ("US", "SS", "UL", "SL", "FL", "FD", "AT"):
        unsupported.append(str(element.tag))
        return None
    if vr in _WILDCARD_VRS and any(c in text for c in "*?"):
        patterns = tuple(_wildcard(alt, fold=vr == "PN") for alt in alternatives)
        return _Key(tag, vr, "wildcard", patterns=patterns)
    return _Key(tag, vr, "single", values=tuple(alternatives))


@dataclass(frozen=True, slots=True)
class QueryFilter:
    """Exact constraints a store can apply with its indexes before full matching.

    ``None`` means no constraint; dates are ``AAAAMMJJ`` bounds of the SPS start date.
    """

    accession_number: str | None = None
    patient_id: str | None = None
    modality: str | None = None
    date_from: str | None = None
    date_to: str | None = None


def _single(key: _Key | None) -> str | None:
    if key is not None and key.kind == "single" and len(key.values) == 1 and key.vr != "PN":
        return key.values[0]
    return None


@dataclass(frozen=True, slots=True)
class WorklistQuery:
    """A checked and compiled C-FIND identifier (see the module documentation)."""

    identifier: Dataset
    keys: tuple[_Key, ...]
    unsupported: tuple[str, ...]
    filter: QueryFilter
    plan: tuple[_Out, ...] = ()

    def matches(self, candidate: Dataset) -> bool:
        """Whether ``candidate`` (a worklist item) matches every key of the query."""
        return all(key.matches(candidate) for key in self.keys)

    def encoded_response(self, candidate: Dataset, *, implicit_vr: bool = True) -> bytes:
        """:meth:`response` already encoded in little endian (implicit or explicit VR): the same
        bytes as pydicom's ``write_dataset`` of it.

        The encoded elements, and the whole answer for this query's plan (the requested keys,
        whatever their values), are kept on ``candidate`` (a store item: shared and read-only),
        so a modality polling with the same query costs a dictionary look-up per match.
        """
        memo = _memo_of(candidate)
        key = (self.plan, implicit_vr)
        data = memo.get(key)
        if data is not None:
            return data
        charset = candidate.get(_CHARSET_TAG)
        encodings = charset.value if charset is not None else None
        parts = _wire(self.plan, candidate, implicit_vr, encodings)
        if charset is not None:
            parts.append((_CHARSET_TAG, _memo_element(candidate, charset, implicit_vr, encodings)))
        parts.sort(key=lambda part: part[0])
        data = b"".join(data for _, data in parts)
        if len(memo) < _MEMO_MAX:
            memo[key] = data
        return data

    def response(self, candidate: Dataset) -> Dataset:
        """The answer for ``candidate``: exactly the requested keys (empty when the item has no
        value), sequences reduced to the requested item keys, plus SpecificCharacterSet."""
        ds = _answer(self.plan, candidate)
        charset = candidate.get(_CHARSET_TAG)
        if charset is not None:
            ds.add(charset)
        return ds


@dataclass(frozen=True, slots=True)
class _Out:
    """One key of the answer, planned once per query."""

    tag: int
    vr: str
    key: _Key | None
    sequence: bool = False
    expand: bool = False  # empty sequence key: return the item's whole sequence
    items: tuple[_Out, ...] = ()


def _plan(query: Dataset, keys: Iterable[_Key]) -> tuple[_Out, ...]:
    by_tag = {key.tag: key for key in keys}
    plan: list[_Out] = []
    for element in query:
        tag = int(element.tag)
        if tag in _IGNORED or element.tag.is_private or element.tag.element == 0:
            continue
        key = by_tag.get(tag)
        if str(element.VR) != "SQ":
            plan.append(_Out(tag, str(element.VR), key))
            continue
        query_items = list(element.value or [])
        if not query_items or not len(query_items[0]) or key is None:
            plan.append(_Out(tag, "SQ", key, sequence=True, expand=True))
        else:
            nested = key.items if key.kind == "sequence" else ()
            plan.append(_Out(tag, "SQ", key, sequence=True, items=_plan(query_items[0], nested)))
    return tuple(plan)


def _answer(plan: tuple[_Out, ...], candidate: Dataset) -> Dataset:
    from pydicom import Dataset
    from pydicom.dataelem import DataElement

    out = Dataset()
    for step in plan:
        have = candidate.get(step.tag)
        if not step.sequence:
            if have is not None:
                out.add(have)
            elif step.key is not None:
                out.add(DataElement(step.tag, step.vr, None))
            continue
        cand_items = list(have.value or []) if have is not None and have.VR == "SQ" else []
        if step.expand:
            items = [_copy(item) for item in cand_items]
        else:
            assert step.key is not None
            nested = step.key.items if step.key.kind == "sequence" else ()
            items = [
                _answer(step.items, item)
                for item in cand_items
                if all(k.matches(item) for k in nested)
            ]
        out.add(DataElement(step.tag, "SQ", items))
    return out


_LONG_VRS = frozenset(
    {"OB", "OD", "OF", "OL", "OV", "OW", "SQ", "SV", "UC", "UN", "UR", "UT", "UV"}
)
_ITEM = b"\xfe\xff\x00\xe0"  # (FFFE,E000) little endian
_MEMO = "_segur_wire"  # attribute of a stored item: encoded elements and answers
_MEMO_MAX = 256  # entries per item: elements by (tag, implicit VR), answers by (plan, implicit VR)


def _header(tag: int, vr: str, length: int, implicit: bool) -> bytes:
    head = struct.pack("<HH", tag >> 16, tag & 0xFFFF)
    if implicit:
        return head + struct.pack("<I", length)
    if vr in _LONG_VRS:
        return head + vr.encode("ascii") + b"\0\0" + struct.pack("<I", length)
    return head + vr.encode("ascii") + struct.pack("<H", length)


def _memo_of(candidate: Dataset) -> dict[tuple[object, bool], bytes]:
    memo: dict[tuple[object, bool], bytes] | None = candidate.__dict__.get(_MEMO)
    if memo is None:
        memo = {}
        candidate.__dict__[_MEMO] = memo
    return memo


def _memo_element(
    candidate: Dataset, element: DataElement, implicit: bool, encodings: Any
) -> bytes:
    from pydicom.filebase import DicomBytesIO
    from pydicom.filewriter import write_data_element

    memo = _memo_of(candidate)
    key = (int(element.tag), implicit)
    data = memo.get(key)
    if data is None:
        buffer = DicomBytesIO()
        buffer.is_little_endian = True
        buffer.is_implicit_VR = implicit
        write_data_element(buffer, element, encodings)
        data = bytes(buffer.getvalue())
        if len(memo) < _MEMO_MAX:
            memo[key] = data
    return data


def _wire(
    plan: tuple[_Out, ...], candidate: Dataset, implicit: bool, encodings: Any
) -> list[tuple[int, bytes]]:
    """The encoded elements of ``_answer(plan, candidate)``, as (tag, bytes) pairs."""
    from pydicom import Dataset

    parts: list[tuple[int, bytes]] = []
    for step in plan:
        have = candidate.get(step.tag)
        if not step.sequence:
            if have is not None:
                parts.append((step.tag, _memo_element(candidate, have, implicit, encodings)))
            elif step.key is not None:
                parts.append((step.tag, _header(step.tag, step.vr, 0, implicit)))
            continue
        if have is None or have.VR != "SQ" or not have.value:
            parts.append((step.tag, _header(step.tag, "SQ", 0, implicit)))
            continue
        if step.expand:  # the candidate's items whole
            parts.append((step.tag, _memo_element(candidate, have, implicit, encodings)))
            continue
        cand_items = list(have.value)
        nested = step.key.items if step.key is not None and step.key.kind == "sequence" else ()
        body = bytearray()
        for item in cand_items:
            if not all(k.matches(item) for k in nested):
                continue
            if not isinstance(item, Dataset):
                raise TypeError("sequence item is not a dataset")
            item_parts = _wire(step.items, item, implicit, encodings)
            item_parts.sort(key=lambda part: part[0])
            content = b"".join(data for _, data in item_parts)
            body += _ITEM + struct.pack("<I", len(content)) + content
        parts.append((step.tag, _header(step.tag, "SQ", len(body), implicit) + bytes(body)))
    return parts


def _copy(item: Dataset) -> Dataset:
    from copy import deepcopy

    return deepcopy(item)


def parse_query(identifier: Dataset) -> WorklistQuery:
    """Check and compile a C-FIND MWL identifier; :class:`DicomQueryError` (``0xA900``) when
    it is malformed."""
    from pydicom import Dataset

    if not isinstance(identifier, Dataset):
        raise _bad("identifiant de requête absent")
    unsupported: list[str] = []
    keys: list[_Key] = []
    try:
        elements = list(identifier)
    except Exception as exc:  # undecodable raw elements
        raise _bad(f"identifiant illisible ({type(exc).__name__})") from None
    for element in elements:
        if int(element.tag) in _IGNORED or element.tag.element == 0:
            continue
        if element.tag.group in (0x0000, 0x0002):
            unsupported.append(str(element.tag))
            continue
        try:
            key = _compile(element, unsupported)
        except DicomQueryError:
            raise
        except Exception as exc:
            raise _bad(f"{element.tag}: valeur illisible ({type(exc).__name__})") from None
        if key is not None:
            keys.append(key)
    by_tag = {key.tag: key for key in keys}
    sps = by_tag.get(_SPS_TAG)
    sps_keys = {k.tag: k for k in sps.items} if sps is not None and sps.kind == "sequence" else {}
    date_from = date_to = None
    start = sps_keys.get(0x00400002)
    if start is not None and start.kind == "range" and len(start.ranges) == 1:
        low, high = start.ranges[0]
        date_from = low[:8] or None
        date_to = high[:8] if high != "\uffff" else None
    query_filter = QueryFilter(
        accession_number=_single(by_tag.get(0x00080050)),
        patient_id=_single(by_tag.get(0x00100020)),
        modality=_single(sps_keys.get(0x00080060)),
        date_from=date_from,
        date_to=date_to,
    )
    plan = _plan(identifier, keys)
    return WorklistQuery(identifier, tuple(keys), tuple(unsupported), query_filter, plan)
