"""Transports: the recording wrapper never writes security tokens."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from segur_ris.transport import HttpResponse, RecordingTransport

ASSERTION_REQUEST = (
    b'<?xml version="1.0"?><soap:Envelope xmlns:soap="http://www.w3.org/2003/05/soap-envelope">'
    b"<soap:Header><wsse:Security xmlns:wsse="
    b'"http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd">'
    b'<saml2:Assertion xmlns:saml2="urn:oasis:names:tc:SAML:2.0:assertion" ID="_a">'
    b"<saml2:Subject>SECRET-TOKEN</saml2:Subject></saml2:Assertion></wsse:Security>"
    b"</soap:Header><soap:Body><Q xmlns='urn:x'>ADRUN</Q></soap:Body></soap:Envelope>"
)


class _Echo:
    def __init__(self) -> None:
        self.bodies: list[bytes] = []

    def post(
        self, url: str, body: bytes, headers: Mapping[str, str], timeout: float
    ) -> HttpResponse:
        self.bodies.append(body)
        return HttpResponse(200, {"Content-Type": "application/soap+xml"}, b"<answer/>")


def test_recording_redacts_security_and_names_by_action(tmp_path: Path) -> None:
    inner = _Echo()
    recorder = RecordingTransport(inner, tmp_path / "evidence")
    headers = {"Content-Type": 'application/soap+xml; charset=utf-8; action="urn:S:1.0.0:chercher"'}
    response = recorder.post("https://127.0.0.1/x", ASSERTION_REQUEST, headers, 5.0)
    assert response.body == b"<answer/>"
    assert inner.bodies == [ASSERTION_REQUEST]  # the wire gets the token untouched
    written = (tmp_path / "evidence" / "001-chercher.request.xml").read_bytes()
    assert b"SECRET-TOKEN" not in written and b"Assertion" not in written
    assert b"ADRUN" in written and b"Security" in written
    assert (tmp_path / "evidence" / "001-chercher.response.xml").read_bytes() == b"<answer/>"
    recorder.post("https://127.0.0.1/x", b"not xml Security", {}, 5.0)
    assert b"not xml" not in (tmp_path / "evidence" / "002-exchange.request.xml").read_bytes()
