"""XXE-safe XML parsing shared by every subpackage.

All XML that enters the SDK from outside goes through :func:`parse_xml`: no DTD, no entity
expansion, no network access, no huge trees. A document that declares a DOCTYPE is refused
outright (:class:`~segur_ris.errors.UnsafeXmlError`), since none of the national formats uses one.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from xml.sax.saxutils import escape

from lxml import etree

from segur_ris.errors import UnsafeXmlError, XmlError

__all__ = ["escape_attr", "escape_text", "is_xml_text", "parse_xml"]

# Writers that emit XML as text (VIHF, ebRIM, SOAP envelope, XAdES: made for every DMP request,
# ~10x cheaper than building lxml elements one by one) put every value through escape_text /
# escape_attr: checked to be XML 1.0 characters, then escaped as lxml writes it.
_XML_CHARS = re.compile("[\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]*")
# what needs escaping, or is not an XML 1.0 character: most values have none (fast path)
_SPECIAL = re.compile('[&<>"\t\n\r\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]')
_TEXT_ENTITIES = {"\r": "&#13;"}  # a raw CR would be normalised away by the parser
_ATTR_ENTITIES = {'"': "&quot;", "\n": "&#10;", "\r": "&#13;", "\t": "&#9;"}

_PARSER = etree.XMLParser(
    resolve_entities=False,
    no_network=True,
    load_dtd=False,
    dtd_validation=False,
    huge_tree=False,
    remove_comments=False,
)


def parse_xml(
    data: bytes, *, what: str = "document XML", error: type[XmlError] = XmlError
) -> etree._Element:
    """Parse ``data`` safely; raise ``error`` (an :class:`XmlError` subclass) when malformed."""
    if not isinstance(data, bytes | bytearray):
        raise error(f"{what}: bytes attendus, reçu {type(data).__name__}")
    try:
        tree = etree.fromstring(bytes(data), _PARSER).getroottree()
    except etree.XMLSyntaxError as exc:
        raise error(f"{what} mal formé: {exc}") from None
    docinfo = tree.docinfo
    if getattr(docinfo, "doctype", "") or docinfo.internalDTD is not None:
        raise UnsafeXmlError(f"{what} refusé: déclaration DOCTYPE interdite (protection XXE)")
    return tree.getroot()


def is_xml_text(value: str) -> bool:
    """Whether ``value`` holds only characters XML 1.0 allows (no C0 control but TAB, LF and
    CR, no surrogate, no U+FFFE/U+FFFF)."""
    return _XML_CHARS.fullmatch(value) is not None


def escape_text(value: str, invalid: Callable[[str], Exception]) -> str:
    """``value`` escaped as element content; ``invalid(value)`` is raised when XML 1.0 cannot
    hold it (the caller's typed error)."""
    if not _SPECIAL.search(value):
        return value
    if not is_xml_text(value):
        raise invalid(value)
    return escape(value, _TEXT_ENTITIES)


def escape_attr(value: str, invalid: Callable[[str], Exception]) -> str:
    """``value`` escaped for a double-quoted attribute (whitespace kept as character
    references); ``invalid(value)`` is raised when XML 1.0 cannot hold it."""
    if not _SPECIAL.search(value):
        return value
    if not is_xml_text(value):
        raise invalid(value)
    return escape(value, _ATTR_ENTITIES)
