"""XXE-safe XML parsing shared by every subpackage.

All XML that enters the SDK from outside goes through :func:`parse_xml`: no DTD, no entity
expansion, no network access, no huge trees. A document that declares a DOCTYPE is refused
outright (:class:`~segur_ris.errors.UnsafeXmlError`), since none of the national formats uses one.
"""

from __future__ import annotations

from lxml import etree

from segur_ris.errors import UnsafeXmlError, XmlError

__all__ = ["parse_xml"]

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
