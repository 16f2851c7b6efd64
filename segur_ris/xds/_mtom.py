"""MTOM/XOP for XDS.b (ITI-41 requests, ITI-43 responses): sans-IO encoder and decoder.

zeep reads XOP replies but cannot send MTOM, and the DMP repository wants ITI-41 as
``multipart/related`` (W3C XOP 1.0, SOAP MTOM, RFC 2387/2046). Everything here is bytes in, bytes
out; :func:`post_mtom` is the only function that touches a transport.

* :func:`encode_mtom` builds the HTTP body and ``Content-Type`` of an MTOM request: root part
  ``application/xop+xml``, one raw (``Content-Transfer-Encoding: binary``) part per document,
  CRLF line breaks, a boundary checked against every part;
* :func:`to_xop` turns inline base64 elements (``xds:Document`` by default) into
  ``xop:Include`` + parts;
* :func:`decode_mtom` parses a ``multipart/related`` body (bounded sizes and part count, LF-only
  line breaks tolerated, ``start`` part required when named), :func:`decode_response` also
  accepts plain SOAP with inline base64;
* :func:`reconstitute` rebuilds the XML infoset (base64 in place of each ``xop:Include``, for
  XSD validation); :func:`resolve_includes` maps each include to its exact bytes.
"""

from __future__ import annotations

import binascii
import copy
import re
import secrets
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING
from urllib.parse import quote, unquote

import pybase64
from lxml import etree

from segur_ris._xml import parse_xml
from segur_ris.errors import MtomError, TransportError

if TYPE_CHECKING:
    from segur_ris.transport import HttpTransport

__all__ = [
    "XDS_DOCUMENT",
    "XOP_INCLUDE",
    "MtomError",
    "MtomMessage",
    "MtomPart",
    "decode_mtom",
    "decode_response",
    "encode_mtom",
    "post_mtom",
    "reconstitute",
    "resolve_includes",
    "to_xop",
]

XOP_NS = "http://www.w3.org/2004/08/xop/include"
XDS_NS = "urn:ihe:iti:xds-b:2007"
RIM_NS = "urn:oasis:names:tc:ebxml-regrep:xsd:rim:3.0"
XOP_INCLUDE = f"{{{XOP_NS}}}Include"
XDS_DOCUMENT = f"{{{XDS_NS}}}Document"

ROOT_CONTENT_TYPE = 'application/xop+xml; charset=UTF-8; type="application/soap+xml"'
DEFAULT_PART_TYPE = "application/octet-stream"
MAX_PARTS = 1000
MAX_BYTES = 256 * 1024 * 1024
_MAX_HEADER_BYTES = 16 * 1024  # header section of one part
_MAX_HEADER_LINES = 64

# RFC 2046 §5.1.1 bcharsnospace, plus space inside
_BOUNDARY_RE = re.compile(r"[0-9A-Za-z'()+_,\-./:=? ]{0,69}[0-9A-Za-z'()+_,\-./:=?]")
_PARAM_RE = re.compile(r';\s*([^\s=;"]+)\s*=\s*("(?:[^"\\]|\\.)*"|[^;]*)')
_QUOTED_PAIR = re.compile(r"\\(.)")
_WHITESPACE = b" \t\r\n"
_CID_SAFE = "@.!$&'()*+,;=-_~"  # kept unencoded in ``cid:`` URLs (RFC 2392 / RFC 3986)


# To move into segur_ris.errors (XDS branch) by the lead.


@dataclass(frozen=True, slots=True)
class MtomPart:
    """One MIME part: ``content_id`` without angle brackets, its media type and raw bytes."""

    content_id: str
    content_type: str = DEFAULT_PART_TYPE
    data: bytes = b""


@dataclass(frozen=True, slots=True)
class MtomMessage:
    """A decoded XOP package.

    ``root`` is the SOAP envelope as received (with its ``xop:Include`` elements), ``attachments``
    every other part in wire order, ``start`` the root's content-id (``""`` when the root was the
    first part with no ``start`` parameter, or for an inline SOAP response), ``unreferenced`` the
    content-ids of parts that no ``xop:Include`` points to (kept, not dropped), ``includes`` the
    ``(key, content-id)`` of each ``xop:Include`` in document order (see
    :func:`resolve_includes`), filled by the decoders.
    """

    root: bytes
    attachments: tuple[MtomPart, ...] = ()
    boundary: str = ""
    start: str = ""
    root_content_type: str = ROOT_CONTENT_TYPE
    unreferenced: tuple[str, ...] = ()
    includes: tuple[tuple[str, str], ...] = ()
    # hash of the root the decoder scanned: ``includes`` and the parsed tree are trusted only
    # for that root
    _scanned: int | None = field(default=None, repr=False, compare=False)
    _tree: etree._Element | None = field(default=None, repr=False, compare=False)

    def root_element(self) -> etree._Element:
        """The parsed root part (XXE-safe): the decoder's own tree when ``root`` is the one
        it decoded (no second parse), else a fresh parse. Shared: copy it before modifying."""
        if self._tree is not None and self._scanned == hash(self.root):
            return self._tree
        return _parse(self.root, "partie racine XOP")

    def part(self, content_id: str) -> MtomPart:
        """The attachment named ``content_id`` (raw, ``<…>`` or ``cid:`` URL-encoded form)."""
        found = _part_index(self.attachments).get(_href_cid(content_id))
        if found is None:
            raise KeyError(content_id)
        return found


# --- encoding -------------------------------------------------------------------------------


def encode_mtom(
    envelope: bytes | etree._Element,
    attachments: Mapping[str, bytes] | Sequence[MtomPart],
    *,
    action: str,
    boundary: str | None = None,
    start: str | None = None,
    includes: Iterable[str] | None = None,
) -> tuple[bytes, str]:
    """Build an MTOM request: ``(HTTP body, Content-Type header value)``.

    ``envelope`` is the SOAP envelope already holding ``xop:Include href="cid:…"`` elements (see
    :func:`to_xop`); ``attachments`` maps each content-id to its bytes (sent raw as
    ``application/octet-stream``) or lists :class:`MtomPart` objects. Every include must name an
    attachment (an attachment no include names is still sent). A generated boundary is drawn
    again if it occurs in a part; an explicit ``boundary`` that occurs in a part raises
    :class:`MtomError`. ``includes`` gives the ``href`` of every ``xop:Include`` of an
    ``envelope`` passed as bytes when the caller already knows them (the envelope it has just
    serialised): the bytes are then not parsed again to find them.
    """
    if not action or any(c in action for c in '"\\\r\n'):
        raise MtomError(f"action SOAP invalide: {action!r}", code="content-type")
    if includes is not None and isinstance(envelope, bytes | bytearray):
        root_bytes, hrefs = bytes(envelope), list(includes)
    else:
        root_bytes, root = _envelope(envelope)
        hrefs = [include.get("href", "") for include in root.iter(XOP_INCLUDE)]
    parts = _as_parts(attachments)
    start_id = start if start is not None else f"root.{uuid.uuid4()}@segur-ris"
    _check_cid(start_id)
    known = {start_id}
    for part in parts:
        _check_cid(part.content_id)
        if part.content_id in known:
            raise MtomError(f"Content-ID en double: <{part.content_id}>", code="duplicate-cid")
        known.add(part.content_id)
        if any(c in part.content_type for c in "\r\n"):
            raise MtomError(
                f"Content-Type de partie invalide: {part.content_type!r}", code="header"
            )
    for href in hrefs:
        cid = _href_cid(href)
        if cid not in known or cid == start_id:
            raise MtomError(f"xop:Include sans partie correspondante: {href!r}", code="include")
    payloads = [root_bytes, *(part.data for part in parts)]
    if boundary is None:
        chosen = _new_boundary()
        while _collides(chosen, payloads):
            chosen = _new_boundary()
    else:
        if not _BOUNDARY_RE.fullmatch(boundary):
            raise MtomError(f"boundary MIME invalide (RFC 2046): {boundary!r}", code="boundary")
        if _collides(boundary, payloads):
            raise MtomError("la boundary apparaît dans une partie", code="boundary")
        chosen = boundary
    delimiter = b"--" + chosen.encode("ascii")
    chunks: list[bytes] = [
        delimiter,
        b"\r\nContent-Type: " + ROOT_CONTENT_TYPE.encode("ascii"),
        b"\r\nContent-Transfer-Encoding: binary\r\nContent-ID: <" + _ascii(start_id) + b">\r\n\r\n",
        root_bytes,
    ]
    for part in parts:
        chunks += [
            b"\r\n",
            delimiter,
            b"\r\nContent-Type: " + _ascii(part.content_type),
            b"\r\nContent-Transfer-Encoding: binary\r\nContent-ID: <",
            _ascii(part.content_id),
            b">\r\n\r\n",
            part.data,
        ]
    chunks += [b"\r\n", delimiter, b"--\r\n"]
    content_type = (
        f'multipart/related; boundary="{chosen}"; type="application/xop+xml"; '
        f'start="<{start_id}>"; start-info="application/soap+xml"; action="{action}"'
    )
    return b"".join(chunks), content_type


def to_xop(
    envelope: bytes | etree._Element,
    *,
    tags: Iterable[str] = (XDS_DOCUMENT,),
    min_size: int = 0,
) -> tuple[bytes, tuple[MtomPart, ...]]:
    """Move the base64 text of the elements named ``tags`` (Clark notation) into parts.

    Returns the envelope with one ``xop:Include`` per optimised element, and the parts (content
    type from the sibling ``xds:mimeType`` or the ``rim:ExtrinsicObject`` of the same id, else
    ``application/octet-stream``). Elements with child elements, empty text, or fewer than
    ``min_size`` decoded bytes stay inline. An element passed in is not modified.
    """
    if isinstance(envelope, bytes | bytearray):
        root = _parse(bytes(envelope), "enveloppe SOAP")
    else:
        root = copy.deepcopy(envelope)
    parts = _optimise(root, tuple(tags), min_size)
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8"), parts


# --- decoding -------------------------------------------------------------------------------


def decode_mtom(
    body: bytes,
    content_type: str,
    *,
    max_parts: int = MAX_PARTS,
    max_bytes: int = MAX_BYTES,
) -> MtomMessage:
    """Parse a ``multipart/related`` XOP body (boundary and ``start`` from ``content_type``).

    Tolerates LF-only line breaks, a preamble, transport padding, a missing ``start``
    (root = first part) and base64 / quoted-printable parts. Raises :class:`MtomError` when the
    header has no boundary, the body is truncated (no close delimiter), larger than
    ``max_bytes`` or has more than ``max_parts`` parts, the ``start`` part is missing, two
    parts share a Content-ID, the root is not XML or an ``xop:Include`` names no part.
    """
    media, params = _content_type(content_type)
    if media != "multipart/related":
        raise MtomError(f"multipart/related attendu, reçu {media or 'rien'}", code="content-type")
    boundary = params.get("boundary", "")
    if not boundary or len(boundary) > 200 or any(c in boundary for c in "\r\n"):
        raise MtomError("paramètre boundary absent ou invalide", code="boundary")
    if len(body) > max_bytes:
        raise MtomError(f"message de {len(body)} octets > limite {max_bytes}", code="size")
    data = bytes(body)
    spans = _split(data, boundary.encode("utf-8", "surrogateescape"), max_parts)
    parts = [_read_part(data, start, end) for start, end in spans]
    if not parts:
        raise MtomError("aucune partie MIME", code="truncated")
    wanted = _strip_cid(params["start"]) if params.get("start") else None
    root_index = 0
    seen: set[str] = set()
    for index, (headers, _) in enumerate(parts):
        cid = _strip_cid(headers.get("content-id", ""))
        if cid:
            if cid in seen:
                raise MtomError(f"Content-ID en double: <{cid}>", code="duplicate-cid")
            seen.add(cid)
        if wanted is not None and cid == wanted:
            root_index = index
    if wanted is not None and wanted not in seen:
        raise MtomError(f"partie racine start=<{wanted}> absente", code="start")
    root_headers, root = parts[root_index]
    attachments = tuple(
        MtomPart(
            _strip_cid(headers.get("content-id", "")),
            headers.get("content-type", "text/plain"),
            content,
        )
        for index, (headers, content) in enumerate(parts)
        if index != root_index
    )
    tree = _parse(root, "partie racine XOP")
    includes = _scan(tree, _part_index(attachments))
    used = {cid for _, cid in includes}
    return MtomMessage(
        root=root,
        attachments=attachments,
        boundary=boundary,
        start=wanted if wanted is not None else _strip_cid(root_headers.get("content-id", "")),
        root_content_type=root_headers.get("content-type", "text/plain"),
        unreferenced=tuple(p.content_id for p in attachments if p.content_id not in used),
        includes=includes,
        _scanned=hash(root),
        _tree=tree,
    )


def decode_response(
    body: bytes,
    content_type: str,
    *,
    max_parts: int = MAX_PARTS,
    max_bytes: int = MAX_BYTES,
) -> MtomMessage:
    """Decode a SOAP response sent either as MTOM/XOP or as plain SOAP with inline base64.

    A plain response (``application/soap+xml``, ``text/xml``…) is normalised: its non-empty
    ``xds:Document`` elements become ``xop:Include`` + parts, so :func:`resolve_includes` gives
    the same bytes for both forms.
    """
    media = content_type.partition(";")[0].strip().lower()  # decode_mtom reads the parameters
    if media.startswith("multipart/"):
        return decode_mtom(body, content_type, max_parts=max_parts, max_bytes=max_bytes)
    if len(body) > max_bytes:
        raise MtomError(f"message de {len(body)} octets > limite {max_bytes}", code="size")
    root = _parse(bytes(body), "réponse SOAP")
    parts = _optimise(root, (XDS_DOCUMENT,), 0)
    if len(parts) > max_parts:
        raise MtomError(f"plus de {max_parts} documents", code="parts")
    includes = _scan(root, _part_index(parts))
    data = etree.tostring(root, xml_declaration=True, encoding="UTF-8") if parts else bytes(body)
    return MtomMessage(
        root=data,
        attachments=parts,
        root_content_type=content_type,
        unreferenced=(),
        includes=includes,
        _scanned=hash(data),
        _tree=root,
    )


def reconstitute(message: MtomMessage) -> bytes:
    """The root infoset with every ``xop:Include`` replaced by the base64 of its part.

    This is the XML to validate against the XSDs (``xs:base64Binary`` where the include was).
    """
    root = _parse(message.root, "partie racine XOP")
    index = _part_index(message.attachments)
    for include in list(root.iter(XOP_INCLUDE)):
        parent = _include_parent(include)
        part = _resolve(include, index)
        parent.remove(include)
        parent.text = pybase64.b64encode(part.data).decode("ascii")
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8")


def resolve_includes(message: MtomMessage) -> dict[str, bytes]:
    """Map each ``xop:Include`` to the exact bytes of its part.

    The key is the ``id`` attribute of the include's parent (``xds:Document id`` of an ITI-41
    request), else the sibling ``xds:DocumentUniqueId`` (ITI-43 ``DocumentResponse``), else the
    content-id. A key met twice raises :class:`MtomError`.
    """
    index = _part_index(message.attachments)
    if message._scanned is not None and message._scanned == hash(message.root):
        includes = message.includes  # scanned by the decoder: no second parse
    else:
        root = _parse(message.root, "partie racine XOP")
        includes = _scan(root, index)
    found: dict[str, bytes] = {}
    for key, cid in includes:
        if key in found:
            raise MtomError(f"document {key!r} référencé deux fois", code="include")
        found[key] = index[cid].data
    return found


# --- adapter --------------------------------------------------------------------------------


def post_mtom(
    transport: HttpTransport,
    url: str,
    envelope: bytes | etree._Element,
    attachments: Mapping[str, bytes] | Sequence[MtomPart],
    *,
    action: str,
    timeout: float = 60.0,
    max_bytes: int = MAX_BYTES,
    includes: Iterable[str] | None = None,
) -> MtomMessage:
    """POST an MTOM request with ``transport`` and decode the answer (XOP or inline).

    A SOAP fault (HTTP 4xx/5xx with a SOAP body) is returned like any answer, for the caller's
    fault parser; an answer that is not SOAP raises :class:`TransportError`. ``includes``: see
    :func:`encode_mtom`.
    """
    body, content_type = encode_mtom(envelope, attachments, action=action, includes=includes)
    headers = {"Content-Type": content_type, "MIME-Version": "1.0"}
    response = transport.post(url, body, headers, timeout)
    if not response.body:
        raise TransportError(f"réponse vide (HTTP {response.status}) de {url}")
    try:
        return decode_response(response.body, response.content_type, max_bytes=max_bytes)
    except MtomError as exc:
        if 200 <= response.status < 300:
            raise
        raise TransportError(f"HTTP {response.status} de {url}: {exc.message}") from None


# --- internals ------------------------------------------------------------------------------


def _parse(data: bytes, what: str) -> etree._Element:
    """:func:`parse_xml` (XXE-safe; a DOCTYPE raises ``UnsafeXmlError``), errors coded ``xml``."""
    try:
        return parse_xml(data, what=what, error=MtomError)
    except MtomError as exc:
        raise MtomError(exc.message, code="xml") from None


def _envelope(envelope: bytes | etree._Element) -> tuple[bytes, etree._Element]:
    if isinstance(envelope, bytes | bytearray):
        data = bytes(envelope)
        return data, _parse(data, "enveloppe SOAP")
    return etree.tostring(envelope, xml_declaration=True, encoding="UTF-8"), envelope


def _as_parts(attachments: Mapping[str, bytes] | Sequence[MtomPart]) -> list[MtomPart]:
    if isinstance(attachments, Mapping):
        return [MtomPart(cid, DEFAULT_PART_TYPE, bytes(data)) for cid, data in attachments.items()]
    return list(attachments)


def _check_cid(cid: str) -> None:
    if not cid or any(c in cid for c in '<>\r\n \t"') or not cid.isascii():
        raise MtomError(f"Content-ID invalide: {cid!r}", code="header")


def _ascii(text: str) -> bytes:
    try:
        return text.encode("ascii")
    except UnicodeEncodeError:
        raise MtomError(f"en-tête MIME non ASCII: {text!r}", code="header") from None


def _new_boundary() -> str:
    return f"MIMEBoundary_{secrets.token_hex(24)}"


def _collides(boundary: str, payloads: Iterable[bytes]) -> bool:
    needle = b"--" + boundary.encode("ascii")
    return any(needle in payload for payload in payloads)


def _cid_href(cid: str) -> str:
    return "cid:" + quote(cid, safe=_CID_SAFE)


def _strip_cid(value: str) -> str:
    value = value.strip()
    if value.startswith("<") and value.endswith(">"):
        value = value[1:-1].strip()
    return value


def _href_cid(href: str) -> str:
    href = href.strip()
    if href[:4].lower() == "cid:":
        return unquote(href[4:])
    return _strip_cid(href)


def _part_index(parts: Iterable[MtomPart]) -> dict[str, MtomPart]:
    return {part.content_id: part for part in parts if part.content_id}


def _resolve(include: etree._Element, index: Mapping[str, MtomPart]) -> MtomPart:
    href = include.get("href", "")
    part = index.get(_href_cid(href)) or index.get(href[4:] if href[:4].lower() == "cid:" else "")
    if part is None:
        raise MtomError(f"xop:Include sans partie correspondante: {href!r}", code="include")
    return part


def _include_parent(include: etree._Element) -> etree._Element:
    parent = include.getparent()
    if parent is None:
        raise MtomError("xop:Include à la racine du document", code="include")
    text = (parent.text or "") + "".join(child.tail or "" for child in parent)
    if len(parent) != 1 or text.strip():
        raise MtomError(
            f"xop:Include doit être le seul contenu de {etree.QName(parent).localname}",
            code="include",
        )
    return parent


def _scan(root: etree._Element, index: Mapping[str, MtomPart]) -> tuple[tuple[str, str], ...]:
    """``(key, content-id)`` of every ``xop:Include`` under ``root``, each checked."""
    found: list[tuple[str, str]] = []
    for include in root.iter(XOP_INCLUDE):
        parent = _include_parent(include)
        part = _resolve(include, index)
        found.append((parent.get("id") or _unique_id(parent) or part.content_id, part.content_id))
    return tuple(found)


def _unique_id(parent: etree._Element) -> str | None:
    owner = parent.getparent()
    if owner is None:
        return None
    text = owner.findtext(f"{{{XDS_NS}}}DocumentUniqueId")
    return text.strip() if text and text.strip() else None


def _optimise(root: etree._Element, tags: tuple[str, ...], min_size: int) -> tuple[MtomPart, ...]:
    mime_by_id: dict[str, str] | None = None
    parts: list[MtomPart] = []
    for element in list(root.iter(*tags)):
        if len(element) or not element.text or not element.text.strip():
            continue
        data = _b64decode(element.text)
        if len(data) < min_size:
            continue
        parent = element.getparent()
        mime = parent.findtext(f"{{{XDS_NS}}}mimeType") if parent is not None else None
        if not mime and element.get("id"):
            if mime_by_id is None:
                mime_by_id = {
                    eo.get("id", ""): eo.get("mimeType", "")
                    for eo in root.iter(f"{{{RIM_NS}}}ExtrinsicObject")
                }
            mime = mime_by_id.get(element.get("id", ""))
        cid = f"{len(parts) + 1}.{uuid.uuid4()}@segur-ris"
        element.text = None
        include = etree.SubElement(element, XOP_INCLUDE, nsmap={"xop": XOP_NS})
        include.set("href", _cid_href(cid))
        parts.append(MtomPart(cid, (mime or DEFAULT_PART_TYPE).strip(), data))
    return tuple(parts)


def _b64decode(text: str) -> bytes:
    raw = text.encode("ascii", "replace").translate(None, _WHITESPACE)
    try:
        return pybase64.b64decode(raw, validate=True)
    except (binascii.Error, ValueError):
        raise MtomError("contenu base64 invalide", code="base64") from None


def _content_type(value: str) -> tuple[str, dict[str, str]]:
    """Media type (lower case) and parameters (names lower case, quotes removed)."""
    media, _, rest = value.partition(";")
    params: dict[str, str] = {}
    for match in _PARAM_RE.finditer(";" + rest):
        name, raw = match.group(1).lower(), match.group(2).strip()
        if raw.startswith('"') and raw.endswith('"') and len(raw) >= 2:
            raw = _QUOTED_PAIR.sub(r"\1", raw[1:-1]) if "\\" in raw else raw[1:-1]
        params.setdefault(name, raw)
    return media.strip().lower(), params


def _split(body: bytes, boundary: bytes, max_parts: int) -> list[tuple[int, int]]:
    """Byte spans (start, end) of each body part, between delimiter lines."""
    delimiter = b"--" + boundary
    size = len(body)

    def line_end(after: int) -> int:
        """Index after the delimiter line if ``after`` ends one (padding + CRLF/LF), else -1."""
        while after < size and body[after] in b" \t":
            after += 1
        if body.startswith(b"\r\n", after):
            return after + 2
        if body.startswith(b"\n", after):
            return after + 1
        return -1

    def next_delimiter(start: int, first: bool = False) -> tuple[int, bool, int]:
        """(index of the delimiter's ``--``, is-close, start of next part)."""
        while True:
            found = body.find(b"\n" + delimiter, start)
            if found < 0 and first:
                raise MtomError("boundary absente du corps", code="boundary")
            if found < 0:
                raise MtomError("corps tronqué: délimiteur de fin absent", code="truncated")
            after = found + 1 + len(delimiter)
            if body.startswith(b"--", after):
                return found + 1, True, after + 2
            nxt = line_end(after)
            if nxt >= 0:
                return found + 1, False, nxt
            start = found + 1

    if body.startswith(delimiter) and (
        body.startswith(b"--", len(delimiter)) or line_end(len(delimiter)) >= 0
    ):
        if body.startswith(b"--", len(delimiter)):
            return []
        position = line_end(len(delimiter))
    else:
        _, closed, position = next_delimiter(0, first=True)
        if closed:
            return []
    spans: list[tuple[int, int]] = []
    while True:
        at, closed, following = next_delimiter(position)
        end = at - 1  # the line break before ``--boundary`` belongs to the delimiter
        if end > position and body[end - 1] == 0x0D:
            end -= 1
        spans.append((position, max(end, position)))
        if len(spans) > max_parts:
            raise MtomError(f"plus de {max_parts} parties MIME", code="parts")
        if closed:
            return spans
        position = following


def _read_part(body: bytes, start: int, end: int) -> tuple[dict[str, str], bytes]:
    """Headers (names lower case) and decoded content of one body part."""
    headers: dict[str, str] = {}
    position = start
    last: str | None = None
    for _ in range(_MAX_HEADER_LINES + 1):
        if position >= end:
            break
        newline = body.find(b"\n", position, min(end, start + _MAX_HEADER_BYTES))
        if newline < 0:
            if end - start > _MAX_HEADER_BYTES:
                raise MtomError("en-têtes de partie trop longs", code="header")
            newline = end
        line = body[position:newline].rstrip(b"\r")
        position = newline + 1
        if not line:
            break
        text = line.decode("utf-8", "replace")
        if text[0] in " \t" and last is not None:  # folded header
            headers[last] += " " + text.strip()
            continue
        name, colon, value = text.partition(":")
        if not colon or not name.strip():
            raise MtomError(f"en-tête MIME mal formé: {text[:80]!r}", code="header")
        last = name.strip().lower()
        headers.setdefault(last, value.strip())
    else:
        raise MtomError("trop d'en-têtes dans une partie", code="header")
    data = body[min(position, end) : end]
    encoding = headers.get("content-transfer-encoding", "binary").strip().lower()
    if encoding in ("binary", "8bit", "7bit", ""):
        return headers, data
    if encoding == "base64":
        raw = data.translate(None, _WHITESPACE)
        try:
            return headers, pybase64.b64decode(raw, validate=True)
        except (binascii.Error, ValueError):
            raise MtomError("partie base64 invalide", code="base64") from None
    if encoding == "quoted-printable":
        return headers, binascii.a2b_qp(data)
    raise MtomError(f"Content-Transfer-Encoding non géré: {encoding}", code="encoding")
