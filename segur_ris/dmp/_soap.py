"""The SOAP 1.2 envelope every DMP web service uses: WS-Addressing 2005/08 headers and the VIHF
token in ``wsse:Security`` (notes dmp_insi.md §1.3). Sans-IO: elements in, bytes out, and back.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from lxml import etree

from segur_ris._xml import escape_text, parse_xml
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
    body: etree._Element | bytes,
    action: str,
    *,
    security: etree._Element | None = None,
    message_id: str | None = None,
    to: str = "",
) -> tuple[bytes, str]:
    """The request envelope around ``body``; returns ``(bytes, message_id)``.

    Headers as in the official DMP samples: ``MessageID``, ``To`` (empty unless given),
    ``ReplyTo`` anonymous and ``Action`` (``mustUnderstand``), then ``wsse:Security`` holding
    ``security`` (the VIHF assertion, signed or not) when given. ``body`` is an element or
    its XML already serialised (UTF-8, no declaration, e.g.
    :func:`~segur_ris.xds.provide_and_register_xml`), put in as is.
    """
    message_id = message_id or f"urn:uuid:{uuid.uuid4()}"
    # The envelope is written around the serialised body and token: appending them to an lxml
    # envelope would move (and re-namespace) every node of an ITI-41 request, ~0.4 ms per call.
    # ``body`` and ``security`` are left where they are.
    to_element = f'<To xmlns="{NS_WSA}">{_escaped(to)}</To>' if to else f'<To xmlns="{NS_WSA}"/>'
    token = b""
    if security is not None:
        token = (
            f'<wsse:Security xmlns:wsse="{NS_WSSE}">'.encode()
            + _serialised(security)
            + b"</wsse:Security>"
        )
    header = (
        "<?xml version='1.0' encoding='UTF-8'?>\n"
        f'<soap:Envelope xmlns:soap="{NS_SOAP12}"><soap:Header>'
        f'<MessageID xmlns="{NS_WSA}">{_escaped(message_id)}</MessageID>{to_element}'
        f'<ReplyTo xmlns="{NS_WSA}" soap:mustUnderstand="true"><Address>{_ANONYMOUS}</Address>'
        f'</ReplyTo><Action xmlns="{NS_WSA}" soap:mustUnderstand="true">{_escaped(action)}</Action>'
    )
    return (
        header.encode()
        + token
        + b"</soap:Header><soap:Body>"
        + (bytes(body) if isinstance(body, bytes | bytearray) else _serialised(body))
        + b"</soap:Body></soap:Envelope>",
        message_id,
    )


def _serialised(element: etree._Element) -> bytes:
    return etree.tostring(element, encoding="UTF-8", xml_declaration=False, with_tail=False)


def _unrepresentable(value: str) -> DmpError:
    return DmpError(f"enveloppe SOAP: caractère interdit en XML dans {value!r}")


def _escaped(value: str) -> str:
    """``value`` escaped as element content (as lxml writes it); refused when XML 1.0 cannot
    hold it."""
    return escape_text(value, _unrepresentable)


def _text(parent: etree._Element | None, tag: str) -> str | None:
    if parent is None:
        return None
    found = parent.find(tag)
    return found.text.strip() if found is not None and found.text else None


def parse_envelope(data: bytes | etree._Element) -> SoapMessage:
    """Read a SOAP 1.2 answer (bytes, parsed XXE-safe, or an already parsed root). A SOAP
    Fault raises :class:`DmpError` with its subcode (or code) as ``code``."""
    # XmlError / UnsafeXmlError when malformed
    root = data if isinstance(data, etree._Element) else parse_xml(data, what="réponse DMP")
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
