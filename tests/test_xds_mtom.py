"""MTOM/XOP: the official TD2.1 body decodes and validates once reconstituted, our requests
round-trip byte for byte and are read by independent peers (stdlib ``email``, requests-toolbelt,
zeep's XOP reader), ITI-43 answers give the same bytes in both forms, bad input → typed errors."""

from __future__ import annotations

import base64
import dataclasses
import os
import random
import subprocess
import sys
from collections.abc import Mapping
from email import policy
from email.parser import BytesParser
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from lxml import etree

from segur_ris.errors import TransportError, UnsafeXmlError, XdsError, XmlError
from segur_ris.transport import HttpResponse
from segur_ris.xds import _mtom
from segur_ris.xds._mtom import (
    XDS_DOCUMENT,
    XOP_INCLUDE,
    MtomError,
    MtomMessage,
    MtomPart,
    decode_mtom,
    decode_response,
    encode_mtom,
    post_mtom,
    reconstitute,
    resolve_includes,
    to_xop,
)
from tests.conftest import ref_file
from tests.helpers_xds import load_schema

SAMPLES = "dmp/dmp-lps-package/DMP_LPS_Exemple_de_messages_1.0.1_1_-_v02.05.00"
TD21 = f"{SAMPLES}/TD2.1_-_Alimentation_requete.xml"
TD21_XADES = f"{SAMPLES}/TD2.1-SignatureXades.xml"
# The sample is the raw body; SoapUI sent this header with it (boundary = its first line).
TD21_CONTENT_TYPE = (
    'multipart/related; type="application/xop+xml"; start="<rootpart@soapui.org>"; '
    'start-info="application/soap+xml"; action="urn:ihe:iti:2007:ProvideAndRegisterDocumentSet-b"; '
    'boundary="----=_Part_9_20030738.1554380517598"'
)
PNR = "urn:ihe:iti:2007:ProvideAndRegisterDocumentSet-b"
REPO = Path(__file__).resolve().parent.parent
SOAP11 = "{http://schemas.xmlsoap.org/soap/envelope/}"
SOAP12 = "http://www.w3.org/2003/05/soap-envelope"
XDS = "urn:ihe:iti:xds-b:2007"
RS = "urn:oasis:names:tc:ebxml-regrep:xsd:rs:3.0"
BIG = random.Random(41).randbytes(5 * 1024 * 1024)


def _envelope(ids: list[str], cids: list[str] | None = None) -> bytes:
    """A SOAP 1.2 PnR-like envelope with one xds:Document per id (xop:Include when cids)."""
    docs = []
    for index, doc_id in enumerate(ids):
        inner = (
            f'<xop:Include xmlns:xop="http://www.w3.org/2004/08/xop/include" '
            f'href="cid:{cids[index]}"/>'
            if cids
            else ""
        )
        docs.append(f'<xds:Document id="{doc_id}">{inner}</xds:Document>')
    return (
        f'<env:Envelope xmlns:env="{SOAP12}"><env:Header/><env:Body>'
        f'<xds:ProvideAndRegisterDocumentSetRequest xmlns:xds="{XDS}">{"".join(docs)}'
        "</xds:ProvideAndRegisterDocumentSetRequest></env:Body></env:Envelope>"
    ).encode()


def _params(content_type: str) -> dict[str, str]:
    message = BytesParser(policy=policy.default).parsebytes(
        f"Content-Type: {content_type}\r\n\r\n".encode()
    )
    return {k: v for k, v in message["content-type"].params.items()}


@pytest.fixture(scope="module")
def repository_schema(ref_dir: Path) -> etree.XMLSchema:
    """IHE XDS.b repository XSD, fully offline (xml.xsd import mapped to the local copy)."""
    return load_schema(ref_dir, "IHE/XDS.b_DocumentRepository.xsd")


# --- the official TD2.1 request ---------------------------------------------------------------


@pytest.fixture(scope="module")
def td21(ref_dir: Path) -> MtomMessage:
    return decode_mtom(ref_file(ref_dir, TD21).read_bytes(), TD21_CONTENT_TYPE)


def test_td21_sample_decodes(td21: MtomMessage, ref_dir: Path) -> None:
    assert td21.start == "rootpart@soapui.org"
    assert td21.boundary == "----=_Part_9_20030738.1554380517598"
    assert td21.root_content_type.startswith("application/xop+xml")
    root = etree.fromstring(td21.root)
    assert root.tag == f"{SOAP11}Envelope"
    assert root.find(f"{SOAP11}Body/{{{XDS}}}ProvideAndRegisterDocumentSetRequest") is not None
    assert [p.content_id for p in td21.attachments] == [
        "WS_DMP_TD2.1-DocumentME2.xml",
        "WS_DMP_TD2.1-SignatureXades.xml",
    ]
    assert td21.unreferenced == ()
    documents = resolve_includes(td21)
    assert list(documents) == ["documentME2", "Signature01"]  # the sample's own ids
    assert etree.fromstring(documents["documentME2"]).tag == "{urn:hl7-org:v3}ClinicalDocument"
    # the XAdES part is byte-identical to the separate sample file (LF-only in both)
    assert documents["Signature01"] == ref_file(ref_dir, TD21_XADES).read_bytes()
    assert td21.part("cid:WS_DMP_TD2.1-SignatureXades.xml").data == documents["Signature01"]
    # a message whose root was replaced is scanned again, not trusted from the decoder
    renamed = dataclasses.replace(td21, root=td21.root.replace(b'id="documentME2"', b'id="cda"'))
    assert list(resolve_includes(renamed)) == ["cda", "Signature01"]
    with pytest.raises(KeyError):
        td21.part("nope")


def test_td21_reconstituted_validates_against_ihe_xsd(
    td21: MtomMessage, repository_schema: etree.XMLSchema
) -> None:
    full = etree.fromstring(reconstitute(td21))
    assert not list(full.iter(XOP_INCLUDE))
    request = full.find(f"{SOAP11}Body")[0]  # type: ignore[index]
    assert repository_schema.validate(request), repository_schema.error_log
    texts = [d.text or "" for d in request.iter(XDS_DOCUMENT)]
    assert [base64.b64decode(t) for t in texts] == list(resolve_includes(td21).values())
    # the XOP form itself is not schema-valid (xop:Include where base64 is expected)
    raw = etree.fromstring(td21.root).find(f"{SOAP11}Body")[0]  # type: ignore[index]
    assert not repository_schema.validate(raw)


def test_td21_quirks_tolerated(ref_dir: Path) -> None:
    body = ref_file(ref_dir, TD21).read_bytes()
    # no start parameter → the first part is the root; CRLF version decodes the same way
    no_start = 'multipart/related; boundary="----=_Part_9_20030738.1554380517598"'
    assert decode_mtom(body, no_start).root == decode_mtom(body, TD21_CONTENT_TYPE).root
    crlf = decode_mtom(body.replace(b"\n", b"\r\n"), TD21_CONTENT_TYPE)
    assert len(crlf.attachments) == 2
    assert (
        crlf.attachments[1].data.replace(b"\r\n", b"\n")
        == resolve_includes(decode_mtom(body, TD21_CONTENT_TYPE))["Signature01"]
    )
    # preamble and epilogue are ignored
    framed = b"This is a MIME preamble\r\n" + body + b"\r\nepilogue"
    assert len(decode_mtom(framed, TD21_CONTENT_TYPE).attachments) == 2


def test_to_xop_of_reconstituted_sample_round_trips(td21: MtomMessage) -> None:
    inline = reconstitute(td21)
    envelope, parts = to_xop(inline)
    assert len(parts) == 2
    # content types from the ExtrinsicObject of the same id (the sample's "documentME2" has none)
    assert [p.content_type for p in parts] == ["application/octet-stream", "text/xml"]
    body, content_type = encode_mtom(envelope, parts, action=PNR)
    again = decode_mtom(body, content_type)
    assert resolve_includes(again) == resolve_includes(td21)
    assert etree.tostring(etree.fromstring(reconstitute(again)), method="c14n") == etree.tostring(
        etree.fromstring(inline), method="c14n"
    )
    # an element passed in is left untouched; min_size keeps small documents inline
    element = etree.fromstring(inline)
    _, big_only = to_xop(element, min_size=5000)
    assert [p.data for p in big_only] == [resolve_includes(td21)["Signature01"]]
    assert not list(element.iter(XOP_INCLUDE))


# --- encoder: round trip and wire format --------------------------------------------------------

PAYLOADS = {
    "crlf": b"line1\r\nline2\r\n\r\n--\r\n\n\r",
    "dashes": b"--\r\n--MIMEBoundary_\r\n----=_Part_9_20030738.1554380517598--\r\n--",
    "bytes": bytes(range(256)) * 64,
    "empty": b"",
    "big": BIG,
}


def _round_trip(payloads: Mapping[str, bytes]) -> tuple[bytes, str, MtomMessage]:
    ids = list(payloads)
    cids = [f"{i}.urn:uuid:{n}@example.org" for i, n in enumerate(ids)]
    body, content_type = encode_mtom(
        _envelope(ids, cids), dict(zip(cids, payloads.values(), strict=True)), action=PNR
    )
    return body, content_type, decode_mtom(body, content_type)


def test_round_trip_binary_payloads_are_identical() -> None:
    body, content_type, message = _round_trip(PAYLOADS)
    assert resolve_includes(message) == PAYLOADS
    assert message.unreferenced == ()
    assert len(body) < 5 * 1024 * 1024 + 20_000  # raw binary, no base64 inflation
    boundary = _params(content_type)["boundary"]
    assert body.count(b"--" + boundary.encode()) == len(PAYLOADS) + 2


def test_content_type_and_root_part_headers_as_the_dmp_expects() -> None:
    body, content_type, message = _round_trip({"doc": b"%PDF-1.7"})
    assert content_type.startswith("multipart/related; ")
    params = _params(content_type)
    assert params == {
        "boundary": message.boundary,
        "type": "application/xop+xml",
        "start": f"<{message.start}>",
        "start-info": "application/soap+xml",
        "action": PNR,
    }
    assert 1 <= len(message.boundary) <= 70
    head = body.split(b"\r\n\r\n", 1)[0].split(b"\r\n")
    assert head == [
        b"--" + message.boundary.encode(),
        b'Content-Type: application/xop+xml; charset=UTF-8; type="application/soap+xml"',
        b"Content-Transfer-Encoding: binary",
        b"Content-ID: <" + message.start.encode() + b">",
    ]
    assert b"\r\nContent-ID: <0.urn:uuid:doc@example.org>\r\n\r\n%PDF-1.7\r\n--" in body
    assert body.endswith(b"--" + message.boundary.encode() + b"--\r\n")
    # every MIME line break is CRLF: no bare LF outside the part contents
    assert b"\n" not in body.replace(b"\r\n", b"")


def test_stdlib_email_parses_our_output() -> None:
    body, content_type, _ = _round_trip(PAYLOADS)
    message = BytesParser(policy=policy.default).parsebytes(
        f"Content-Type: {content_type}\r\nMIME-Version: 1.0\r\n\r\n".encode() + body
    )
    assert message.get_content_type() == "multipart/related"
    assert not message.defects
    parts = list(message.iter_parts())
    assert parts[0].get_content_type() == "application/xop+xml"
    assert parts[0]["Content-ID"] == message.get_param("start")
    assert [p.get_payload(decode=True) for p in parts[1:]] == list(PAYLOADS.values())
    assert all(not p.defects for p in parts)


def test_requests_toolbelt_decoder_reads_our_output() -> None:
    from requests_toolbelt.multipart.decoder import MultipartDecoder

    body, content_type, _ = _round_trip(PAYLOADS)
    parts = MultipartDecoder(body, content_type).parts
    assert [p.content for p in parts[1:]] == list(PAYLOADS.values())
    assert parts[0].headers[b"Content-Type"].startswith(b"application/xop+xml")


def test_zeep_xop_reader_reads_our_output() -> None:
    """zeep's own reply path (toolbelt decoder + MessagePack + process_xop) on our body.

    zeep strips CR/LF at both ends of a binary part, so the payloads here do not begin or end
    with one (a zeep limitation, not ours: the other peers keep them).
    """
    from requests_toolbelt.multipart.decoder import MultipartDecoder
    from zeep.wsdl.attachments import MessagePack
    from zeep.wsdl.messages.xop import process_xop

    payloads = {"bin": b"\x00" + bytes(range(256)) * 8 + b"\xff", "big": b"X" + BIG + b"Y"}
    body, content_type, _ = _round_trip(payloads)
    decoder = MultipartDecoder(body, content_type)
    doc = etree.fromstring(decoder.parts[0].content)
    assert process_xop(doc, MessagePack(parts=decoder.parts[1:]))
    decoded = [base64.b64decode(d.text or "") for d in doc.iter(XDS_DOCUMENT)]
    assert decoded == list(payloads.values())


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.binary(max_size=2000), min_size=1, max_size=4))
def test_round_trip_property(datas: list[bytes]) -> None:
    payloads = {f"d{i}": data for i, data in enumerate(datas)}
    assert resolve_includes(_round_trip(payloads)[2]) == payloads


def test_boundary_never_appears_in_a_part(monkeypatch: pytest.MonkeyPatch) -> None:
    envelope = _envelope(["d"], ["c@x"])
    payload = b"before\r\n--taken_boundary\r\nafter"
    with pytest.raises(MtomError) as err:
        encode_mtom(envelope, {"c@x": payload}, action=PNR, boundary="taken_boundary")
    assert err.value.code == "boundary"
    drawn = iter(["taken_boundary", "free_boundary"])
    monkeypatch.setattr(_mtom, "_new_boundary", lambda: next(drawn))
    body, content_type = encode_mtom(envelope, {"c@x": payload}, action=PNR)
    assert _params(content_type)["boundary"] == "free_boundary"
    assert resolve_includes(decode_mtom(body, content_type)) == {"d": payload}
    with pytest.raises(MtomError, match="RFC 2046"):
        encode_mtom(envelope, {"c@x": b""}, action=PNR, boundary="x" * 71)


def test_explicit_boundary_and_start_are_used() -> None:
    body, content_type = encode_mtom(
        etree.fromstring(_envelope(["d"], ["c%40x"])),
        [MtomPart("c@x", "text/xml", b"<a/>")],
        action=PNR,
        boundary="b1",
        start="0.1",
    )
    assert body.startswith(b"--b1\r\n") and body.endswith(b"--b1--\r\n")
    assert _params(content_type)["start"] == "<0.1>"
    assert b"Content-Type: text/xml\r\n" in body
    assert decode_mtom(body, content_type).part("c@x").data == b"<a/>"


@pytest.mark.parametrize(
    ("attachments", "action", "code"),
    [
        ({}, PNR, "include"),  # the include names no part
        ({"c@x": b"", "other": b""}, 'bad"action', "content-type"),
        ([MtomPart("c@x"), MtomPart("c@x")], PNR, "duplicate-cid"),
        ([MtomPart("c@x", "text/xml\r\nX-Injected: 1")], PNR, "header"),
        ([MtomPart("c@x"), MtomPart("bad id")], PNR, "header"),
    ],
)
def test_encode_refuses_inconsistent_input(
    attachments: Mapping[str, bytes] | list[MtomPart], action: str, code: str
) -> None:
    with pytest.raises(MtomError) as err:
        encode_mtom(_envelope(["d"], ["c@x"]), attachments, action=action)
    assert err.value.code == code
    assert isinstance(err.value, XdsError) and isinstance(err.value, XmlError)


# --- decoder: tolerance and malformed input -----------------------------------------------------


def _sample_body(boundary: str = "b") -> tuple[bytes, str]:
    return encode_mtom(
        _envelope(["d1"], ["c1"]),
        {"c1": b"payload", "extra": b"unreferenced"},
        action=PNR,
        boundary=boundary,
        start="root",
    )


def test_decode_lf_only_padding_and_encoded_parts() -> None:
    body, content_type = _sample_body()
    lf = decode_mtom(body.replace(b"\r\n", b"\n"), content_type)
    assert lf.part("c1").data == b"payload"
    assert lf.unreferenced == ("extra",)  # kept and reported
    assert decode_mtom(body.replace(b"--b\r\n", b"--b  \t\r\n"), content_type).part("c1")
    b64 = body.replace(
        b"Content-Transfer-Encoding: binary\r\nContent-ID: <c1>\r\n\r\npayload",
        b"Content-Transfer-Encoding: base64\r\nContent-ID: <c1>\r\n\r\ncGF5\r\nbG9hZA==",
    )
    assert decode_mtom(b64, content_type).part("c1").data == b"payload"
    qp = body.replace(
        b"Content-Transfer-Encoding: binary\r\nContent-ID: <c1>\r\n\r\npayload",
        b"Content-Transfer-Encoding: quoted-printable\r\nContent-ID: <c1>\r\n\r\npay=\r\nl=6Fad",
    )
    assert decode_mtom(qp, content_type).part("c1").data == b"payload"
    # a line that merely starts with the delimiter is content, not a boundary
    tricky = body.replace(b"payload", b"x\r\n--bb not a delimiter\r\ny")
    assert decode_mtom(tricky, content_type).part("c1").data == b"x\r\n--bb not a delimiter\r\ny"


@pytest.mark.parametrize(
    ("mutate", "content_type", "code"),
    [
        (lambda b: b, "multipart/related; type=application/xop+xml", "boundary"),
        (lambda b: b, "application/soap+xml", "content-type"),
        (lambda b: b, 'multipart/related; boundary="other"', "boundary"),
        (lambda b: b[: len(b) // 2], None, "truncated"),
        (lambda b: b[:-8], None, "truncated"),
        (lambda b: b.replace(b"<root>", b"<moved>"), None, "start"),
        (lambda b: b.replace(b"<extra>", b"<c1>"), None, "duplicate-cid"),
        (lambda b: b.replace(b"ID: <c1>", b"ID: <c2>"), None, "include"),
        (
            lambda b: b.replace(b"binary\r\nContent-ID: <c1>", b"x-gzip\r\nContent-ID: <c1>"),
            None,
            "encoding",
        ),
        (
            lambda b: b.replace(b"binary\r\nContent-ID: <c1>", b"base64\r\nContent-ID: <c1>"),
            None,
            "base64",
        ),
        (lambda b: b.replace(b"Content-ID: <c1>", b"Content-ID <c1>"), None, "header"),
        (lambda b: b.replace(b"<env:Header/>", b"<env:Header>"), None, "xml"),
    ],
)
def test_decode_malformed_raises_typed_error(
    mutate: object, content_type: str | None, code: str
) -> None:
    body, good_type = _sample_body()
    with pytest.raises(MtomError) as err:
        decode_mtom(mutate(body), content_type or good_type)  # type: ignore[operator]
    assert err.value.code == code
    assert isinstance(err.value, XdsError)


def test_decode_limits() -> None:
    body, content_type = _sample_body()
    with pytest.raises(MtomError) as err:
        decode_mtom(body, content_type, max_bytes=len(body) - 1)
    assert err.value.code == "size"
    with pytest.raises(MtomError) as err:
        decode_mtom(body, content_type, max_parts=2)
    assert err.value.code == "parts"
    flood = body.replace(b"Content-ID: <c1>", b"Content-ID: <c1>" + b"\r\nX: y" * 100)
    with pytest.raises(MtomError, match="en-têtes"):
        decode_mtom(flood, content_type)
    # a root part with a DOCTYPE is refused by the shared XXE-safe parser
    dtd = body.replace(b"<env:Envelope", b'<!DOCTYPE x [<!ENTITY e "e">]><env:Envelope')
    with pytest.raises(UnsafeXmlError):
        decode_mtom(dtd, content_type)


def test_include_must_be_the_only_content_of_its_element() -> None:
    envelope = _envelope(["d"], ["c"]).replace(b'"/></xds:Document>', b'"/>text</xds:Document>')
    body, content_type = encode_mtom(envelope, {"c": b"x"}, action=PNR)
    with pytest.raises(MtomError, match="seul contenu"):
        decode_mtom(body, content_type)
    # a message built by hand is checked when resolved / reconstituted
    message = MtomMessage(root=envelope, attachments=(MtomPart("c", data=b"x"),))
    for use in (reconstitute, resolve_includes):
        with pytest.raises(MtomError, match="seul contenu"):
            use(message)


# --- ITI-43: multipart and inline answers give the same bytes ----------------------------------

DOC_UID = "1.2.250.1.999.1.1.7898.3.1622814651504"
CID_43 = f"1.urn:uuid:5b4b6b2a-7c1e-4e0e-9d4e-0a3b5c6d7e8f@{XDS}"


def _retrieve_response(document: str) -> bytes:
    return (
        f'<?xml version="1.0" encoding="UTF-8"?>\r\n'
        f'<soapenv:Envelope xmlns:soapenv="{SOAP12}" xmlns:wsa="http://www.w3.org/2005/08/addressing">'
        "<soapenv:Header><wsa:Action>urn:ihe:iti:2007:RetrieveDocumentSetResponse</wsa:Action>"
        "</soapenv:Header><soapenv:Body>"
        f'<xdsb:RetrieveDocumentSetResponse xmlns:xdsb="{XDS}">'
        f'<rs:RegistryResponse xmlns:rs="{RS}" '
        'status="urn:oasis:names:tc:ebxml-regrep:ResponseStatusType:Success"/>'
        "<xdsb:DocumentResponse>"
        "<xdsb:RepositoryUniqueId>1.2.250.1.213.4.1.1.1.2</xdsb:RepositoryUniqueId>"
        f"<xdsb:DocumentUniqueId>{DOC_UID}</xdsb:DocumentUniqueId>"
        f"<xdsb:mimeType>text/xml</xdsb:mimeType><xdsb:Document>{document}</xdsb:Document>"
        "</xdsb:DocumentResponse></xdsb:RetrieveDocumentSetResponse>"
        "</soapenv:Body></soapenv:Envelope>"
    ).encode()


def _iti43_forms(data: bytes) -> tuple[MtomMessage, MtomMessage]:
    encoded = base64.b64encode(data).decode()
    wrapped = "\n".join(encoded[i : i + 76] for i in range(0, len(encoded), 76))
    inline = decode_response(_retrieve_response(wrapped), "application/soap+xml; charset=UTF-8")
    href = "cid:" + CID_43.replace(":", "%3A")  # as the DMP sends it (URL-encoded cid)
    include = f'<xop:Include xmlns:xop="http://www.w3.org/2004/08/xop/include" href="{href}"/>'
    boundary = "MIMEBoundary_urn_uuid_8D1E3E7C44A0D0F8B31700000000001"
    body = b"\r\n".join(
        [
            b"--" + boundary.encode(),
            b'Content-Type: application/xop+xml; charset=UTF-8; type="application/soap+xml"',
            b"Content-Transfer-Encoding: binary",
            b"Content-ID: <0.urn:uuid:8D1E3E7C44A0D0F8B31700000000002@apache.org>",
            b"",
            _retrieve_response(include),
            b"--" + boundary.encode(),
            b"Content-Type: text/xml",
            b"Content-Transfer-Encoding: binary",
            b"Content-ID: <" + CID_43.encode() + b">",
            b"",
            data,
            b"--" + boundary.encode() + b"--",
            b"",
        ]
    )
    content_type = (
        f'multipart/related; boundary={boundary}; type="application/xop+xml"; '
        'start="<0.urn:uuid:8D1E3E7C44A0D0F8B31700000000002@apache.org>"; '
        'start-info="application/soap+xml"; action="urn:ihe:iti:2007:RetrieveDocumentSetResponse"'
    )
    return inline, decode_response(body, content_type)


@pytest.mark.parametrize(
    "data", [b"<ClinicalDocument/>\r\n", PAYLOADS["bytes"], BIG], ids=["cda", "bytes", "5MB"]
)
def test_iti43_both_forms_same_bytes(data: bytes, repository_schema: etree.XMLSchema) -> None:
    inline, multipart = _iti43_forms(data)
    assert resolve_includes(inline) == resolve_includes(multipart) == {DOC_UID: data}
    assert inline.attachments[0].content_type == "text/xml"  # from xdsb:mimeType
    assert multipart.part(CID_43).data == data
    for message in (inline, multipart):
        response = etree.fromstring(reconstitute(message)).find(f"{{{SOAP12}}}Body")[0]  # type: ignore[index]
        assert repository_schema.validate(response), repository_schema.error_log


def test_decode_response_plain_without_documents_and_errors() -> None:
    plain = _retrieve_response("").replace(b"<xdsb:Document></xdsb:Document>", b"")
    message = decode_response(plain, "application/soap+xml")
    assert message.root == plain and message.attachments == ()
    with pytest.raises(MtomError) as err:
        decode_response(_retrieve_response("not base64!"), "application/soap+xml")
    assert err.value.code == "base64"
    with pytest.raises(MtomError) as err:
        decode_response(plain, "application/soap+xml", max_bytes=10)
    assert err.value.code == "size"
    with pytest.raises(MtomError):
        decode_response(b"<html>502 Bad Gateway", "text/html")


# --- adapter ------------------------------------------------------------------------------------


class _FakeTransport:
    def __init__(self, response: HttpResponse) -> None:
        self.response = response
        self.sent: list[tuple[str, bytes, dict[str, str]]] = []

    def post(
        self, url: str, body: bytes, headers: Mapping[str, str], timeout: float
    ) -> HttpResponse:
        self.sent.append((url, body, dict(headers)))
        return self.response


def test_post_mtom_sends_and_decodes() -> None:
    answer = _retrieve_response(base64.b64encode(b"doc").decode())
    transport = _FakeTransport(HttpResponse(200, {"content-type": "application/soap+xml"}, answer))
    message = post_mtom(
        transport, "https://dmp.test/repository", _envelope(["d"], ["c"]), {"c": b"x"}, action=PNR
    )
    assert resolve_includes(message) == {DOC_UID: b"doc"}
    _, body, headers = transport.sent[0]
    assert headers["Content-Type"].startswith("multipart/related; boundary=")
    assert decode_mtom(body, headers["Content-Type"]).part("c").data == b"x"
    # SOAP fault with HTTP 500 is returned for the caller's fault parser; non-SOAP is an error
    fault = f'<e:Envelope xmlns:e="{SOAP12}"><e:Body><e:Fault/></e:Body></e:Envelope>'.encode()
    transport.response = HttpResponse(500, {"Content-Type": "application/soap+xml"}, fault)
    assert post_mtom(transport, "u", _envelope(["d"], ["c"]), {"c": b""}, action=PNR).root == fault
    transport.response = HttpResponse(502, {"Content-Type": "text/html"}, b"<html>bad gateway")
    with pytest.raises(TransportError, match="HTTP 502"):
        post_mtom(transport, "u", _envelope(["d"], ["c"]), {"c": b""}, action=PNR)
    transport.response = HttpResponse(202, {}, b"")
    with pytest.raises(TransportError, match="vide"):
        post_mtom(transport, "u", _envelope(["d"], ["c"]), {"c": b""}, action=PNR)


def test_mtom_benchmark_runs() -> None:
    result = subprocess.run(
        [sys.executable, str(REPO / "benchmarks" / "bench_mtom.py")],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "BENCH_QUICK": "1"},
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "5 MB" in result.stdout
