"""The SOAP 1.2 envelope every DMP web service uses: WS-Addressing 2005/08 headers and the VIHF
token in ``wsse:Security`` (notes dmp_insi.md §1.3). Sans-IO: elements in, bytes out, and back.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from lxml import etree

from segur_ris._xml import parse_xml
from segur_ris.errors import DmpError

__all__ = ["NS_SOAP12", "NS_WSA", "NS_WSSE", "SoapMessage", "build_envelope", "parse_envelope"]

NS_SOAP12 = "http://www.w3.org/2003/05/soap-envelope"
NS_WSA = "http://www.w3.org/2005/08/addressing"
NS_WSSE = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd"
_ANONYMOUS = "http://www.w3.org/2005/08/addressing/anonymous"
_S = f"{{{NS_SOAP12}}}"
_A = f"{{{NS_WSA}}}"


@dataclass(frozen=True, slots=True)
class SoapMessage:
    """A parsed SOAP 1.2 message: its WS-Addressing headers and the first body element."""

    action: str | None
    message_id: str | None
    relates_to: str | None
    body: etree._Element


def build_envelope(
    body: etree._Element,
    action: str,
    *,
    security: etree._Element | None = None,
    message_id: str | None = None,
    to: str = "",
) -> tuple[bytes, str]:
    """The request envelope around ``body``; returns ``(bytes, message_id)``.

    Headers as in the official DMP samples: ``MessageID``, ``To`` (empty unless given),
    ``ReplyTo`` anonymous and ``Action`` (``mustUnderstand``), then ``wsse:Security`` holding
    ``security`` (the VIHF assertion, signed or not) when given.
    """
    message_id = message_id or f"urn:uuid:{uuid.uuid4()}"
    envelope = etree.Element(f"{_S}Envelope", nsmap={"soap": NS_SOAP12})
    header = etree.SubElement(envelope, f"{_S}Header")
    etree.SubElement(header, f"{_A}MessageID", nsmap={None: NS_WSA}).text = message_id  # type: ignore[dict-item]
    etree.SubElement(header, f"{_A}To", nsmap={None: NS_WSA}).text = to or None  # type: ignore[dict-item]
    reply = etree.SubElement(header, f"{_A}ReplyTo", nsmap={None: NS_WSA})  # type: ignore[dict-item]
    reply.set(f"{_S}mustUnderstand", "true")
    etree.SubElement(reply, f"{_A}Address").text = _ANONYMOUS
    action_el = etree.SubElement(header, f"{_A}Action", nsmap={None: NS_WSA})  # type: ignore[dict-item]
    action_el.set(f"{_S}mustUnderstand", "true")
    action_el.text = action
    if security is not None:
        holder = etree.SubElement(header, f"{{{NS_WSSE}}}Security", nsmap={"wsse": NS_WSSE})
        holder.append(security)
    etree.SubElement(envelope, f"{_S}Body").append(body)
    return etree.tostring(envelope, xml_declaration=True, encoding="UTF-8"), message_id


def _text(parent: etree._Element | None, tag: str) -> str | None:
    if parent is None:
        return None
    found = parent.find(tag)
    return found.text.strip() if found is not None and found.text else None


def parse_envelope(data: bytes) -> SoapMessage:
    """Read a SOAP 1.2 answer (XXE-safe). A SOAP Fault raises :class:`DmpError` with its
    subcode (or code) as ``code``."""
    root = parse_xml(data, what="réponse DMP")  # XmlError / UnsafeXmlError when malformed
    if root.tag != f"{_S}Envelope":
        raise DmpError(f"réponse DMP: enveloppe SOAP 1.2 attendue, reçu {root.tag}")
    header = root.find(f"{_S}Header")
    body = root.find(f"{_S}Body")
    content = None if body is None else next(iter(body.iterchildren("{*}*")), None)
    if content is None:
        raise DmpError("réponse DMP: corps SOAP vide")
    if content.tag == f"{_S}Fault":
        subcode = _text(content, f"{_S}Code/{_S}Subcode/{_S}Value")
        code = subcode or _text(content, f"{_S}Code/{_S}Value")
        reason = _text(content, f"{_S}Reason/{_S}Text") or "faute SOAP"
        raise DmpError(f"faute DMP: {reason}", code=code.split(":")[-1] if code else None)
    return SoapMessage(
        action=_text(header, f"{_A}Action"),
        message_id=_text(header, f"{_A}MessageID"),
        relates_to=_text(header, f"{_A}RelatesTo"),
        body=content,
    )
