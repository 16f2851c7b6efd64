"""Appel contextuel to a DRIMbox Conso: form fields, HTML form, and real HTTP against a local
server that checks the parameters like the ANS DRIMbox and answers 302/303."""

from __future__ import annotations

import datetime as dt
import html.parser
import socket
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qsl

import pytest

from segur_ris.config import InsOids
from segur_ris.dicom._drimbox import ContextualCall, html_form, open_drimbox
from segur_ris.errors import DicomError, InsNotQualifiedError, TransportError
from segur_ris.ins import IdentityTraits, Ins, PatientIdentity, ProofDocument
from segur_ris.sandbox import TestPki
from tests.drimbox_fixtures import INS, INS_OID

# ParameterList of the ANS DRIMbox (names are compared lower-cased, as it does)
MANDATORY = {
    "patient.identifier.value",
    "patient.identifier.system",
    "patient.name.family",
    "patient.name.given",
    "patient.gender",
    "patient.birthdate",
    "address.district",
    "informationetconsentement",
    "patientid",
    "patientidissuer",
}
ALL = MANDATORY | {"situation"}


def _call(**changes: object) -> ContextualCall:
    values: dict[str, object] = {
        "ins": INS,
        "ins_oid": INS_OID,
        "family": "PAT-TROIS",
        "given": "DOMINIQUE",
        "gender": "F",
        "birth_date": "1979-03-28",
        "birth_place": "63220",
        "consent": True,
        "ipp": "000003",
        "ipp_issuer": "CIM&1.2.250.1.999.1.2&ISO",
        "situation": "",
    }
    values.update(changes)
    return ContextualCall(**values)  # type: ignore[arg-type]


class _Drimbox(BaseHTTPRequestHandler):
    """``POST /302`` and ``/303`` like the ANS test DRIMbox (302 with Content-Location, 303
    with Location); 400 on a parameter without value, unknown or missing."""

    received: list[dict[str, str]]

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length", "0"))
        body = self.rfile.read(length).decode("ascii")
        type(self).received.append({"content-type": self.headers.get("Content-Type", "")})
        pairs = [pair.split("=", 1) for pair in body.split("&")]
        if any(len(pair) < 2 or not pair[1] for pair in pairs):
            return self._answer(400)
        params = {k.lower(): v for k, v in parse_qsl(body, keep_blank_values=True)}
        if set(params) - ALL or MANDATORY - set(params):
            return self._answer(400)
        type(self).received.append(params)
        viewer = "/drim/show?uuid=7d1b5c1e"
        if self.path == "/302":
            return self._answer(302, {"Content-Location": f"http://127.0.0.1:1{viewer}"})
        if self.path == "/303":
            return self._answer(303, {"Location": viewer})
        if self.path == "/302-empty":
            return self._answer(302)
        return self._answer(404)

    def _answer(self, status: int, headers: dict[str, str] | None = None) -> None:
        self.send_response(status)
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: object) -> None:  # quiet test output
        pass


@pytest.fixture(scope="module")
def drimbox() -> Iterator[tuple[str, type[_Drimbox]]]:
    handler = type("Handler", (_Drimbox,), {"received": []})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", handler
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


def test_fields_in_drimbox_order() -> None:
    fields = _call(situation="Urgences").fields()
    assert fields == [
        ("Patient.identifier.value", INS),
        ("Patient.identifier.system", f"urn:oid:{INS_OID}"),
        ("Patient.name.family", "PAT-TROIS"),
        ("Patient.name.given", "DOMINIQUE"),
        ("Patient.gender", "female"),
        ("Patient.birthDate", "1979-03-28"),
        ("Address.district", "63220"),
        ("InformationEtConsentement", "true"),
        ("PatientID", "000003"),
        ("PatientIDIssuer", "CIM&1.2.250.1.999.1.2&ISO"),
        ("Situation", "Urgences"),
    ]
    assert {name.lower() for name, _ in fields} == ALL
    # no Situation when empty: the DRIMbox refuses a parameter without value
    assert "Situation" not in dict(_call().fields())
    body = _call().body()
    assert b"Patient.identifier.system=urn%3Aoid%3A1.2.250.1.213.1.4.10" in body
    assert b"PatientIDIssuer=CIM%261.2.250.1.999.1.2%26ISO" in body


def test_value_formats() -> None:
    assert dict(_call(ipp_issuer="1.2.250.1.999.1.2").fields())["PatientIDIssuer"] == (
        "&1.2.250.1.999.1.2&ISO"
    )
    assert dict(_call(birth_date=dt.date(1979, 3, 28)).fields())["Patient.birthDate"] == (
        "1979-03-28"
    )
    assert dict(_call(birth_date="19790328").fields())["Patient.birthDate"] == "1979-03-28"
    assert dict(_call(birth_date="1979-00-00").fields())["Patient.birthDate"] == "1979"
    assert dict(_call(birth_date="1979-03-00").fields())["Patient.birthDate"] == "1979-03"
    assert dict(_call(gender="M").fields())["Patient.gender"] == "male"
    assert dict(_call(consent=False).fields())["InformationEtConsentement"] == "false"
    assert dict(_call(birth_place="2A004").fields())["Address.district"] == "2A004"


@pytest.mark.parametrize(
    ("changes", "code"),
    [
        ({"ins": "279035121518988"}, "Patient.identifier"),
        ({"ins_oid": "1.2.3"}, "Patient.identifier"),
        ({"gender": "X"}, "Patient.gender"),
        ({"birth_date": "1979-02-30"}, "Patient.birthDate"),
        ({"birth_date": "hier"}, "Patient.birthDate"),
        ({"birth_place": ""}, "Address.district"),
        ({"birth_place": "Paris"}, "Address.district"),
        ({"family": " "}, "Patient.name.family"),
        ({"given": ""}, "Patient.name.given"),
        ({"ipp": ""}, "PatientID"),
        ({"ipp_issuer": ""}, "PatientIDIssuer"),
        ({"consent": "oui"}, "InformationEtConsentement"),
    ],
)
def test_bad_parameters(changes: dict[str, object], code: str) -> None:
    with pytest.raises(DicomError) as caught:
        _call(**changes).fields()
    assert caught.value.code == code


def test_repr_hides_patient_data() -> None:
    assert INS not in repr(_call()) and "PAT-TROIS" not in repr(_call())


def _identity(*, qualified: bool = True) -> PatientIdentity:
    traits = IdentityTraits.create("PAT-TROIS", "DOMINIQUE", "F", "1979-03-28", "63220")
    identity = PatientIdentity(traits=traits).with_insi_result(Ins.parse(INS, INS_OID), traits)
    return identity.with_proof(ProofDocument.CARTE_NATIONALE_IDENTITE) if qualified else identity


def test_from_a_qualified_identity() -> None:
    call = ContextualCall.from_identity(
        _identity(),
        ipp="000003",
        ipp_issuer="1.2.250.1.999.1.2",
        consent=True,
        environment_ins_oid=InsOids("1.2.250.1.213.1.4.8", "1.2.250.1.213.1.4.9"),
    )
    fields = dict(call.fields())
    assert fields["Patient.identifier.system"] == "urn:oid:1.2.250.1.213.1.4.8"
    assert (fields["Patient.name.family"], fields["Patient.name.given"]) == (
        "PAT-TROIS",
        "DOMINIQUE",
    )
    assert fields["Address.district"] == "63220"
    assert fields["Patient.birthDate"] == "1979-03-28"
    with pytest.raises(InsNotQualifiedError):
        ContextualCall.from_identity(
            _identity(qualified=False), ipp="000003", ipp_issuer="1.2.3", consent=True
        )


class _FormReader(html.parser.HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.action = ""
        self.fields: list[tuple[str, str]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = {k: v or "" for k, v in attrs}
        if tag == "form":
            self.action = values["action"]
        elif tag == "input":
            self.fields.append((values["name"], values["value"]))


def test_html_form_posts_the_same_fields() -> None:
    call = _call(family="O'NEIL", situation='<script>"x"</script>')
    page = html_form(call, "https://drimbox.example.test/drim/303?a=1&b=2")
    assert "<script>" not in page
    reader = _FormReader()
    reader.feed(page)
    assert reader.action == "https://drimbox.example.test/drim/303?a=1&b=2"
    assert reader.fields == call.fields()
    with pytest.raises(DicomError):
        html_form(call, "javascript:alert(1)")


def test_303_location(drimbox: tuple[str, type[_Drimbox]]) -> None:
    url, handler = drimbox
    handler.received.clear()
    viewer = open_drimbox(_call(), f"{url}/303", timeout=10)
    assert viewer == f"{url}/drim/show?uuid=7d1b5c1e"  # relative Location resolved
    content_type, params = handler.received
    assert content_type["content-type"].startswith("application/x-www-form-urlencoded")
    assert params["patient.identifier.value"] == INS
    assert params["patientidissuer"] == "CIM&1.2.250.1.999.1.2&ISO"


def test_302_content_location(drimbox: tuple[str, type[_Drimbox]]) -> None:
    url, _ = drimbox
    viewer = open_drimbox(_call(situation="Consultation"), f"{url}/302", timeout=10)
    assert viewer == "http://127.0.0.1:1/drim/show?uuid=7d1b5c1e"


def test_http_errors(drimbox: tuple[str, type[_Drimbox]]) -> None:
    url, _ = drimbox
    with pytest.raises(TransportError) as caught:
        open_drimbox(_call(), f"{url}/404", timeout=10)
    assert caught.value.code == "404"
    with pytest.raises(TransportError) as caught:
        open_drimbox(_call(), f"{url}/302-empty", timeout=10)
    assert caught.value.code == "302"


def test_server_refuses_an_empty_parameter(drimbox: tuple[str, type[_Drimbox]]) -> None:
    """What the DRIMbox does with an empty value: why an empty Situation is never sent."""
    import requests

    url, _ = drimbox
    with requests.Session() as session:
        answer = session.post(
            f"{url}/303",
            data=[*_call().fields(), ("Situation", "")],
            allow_redirects=False,
            timeout=10,
        )
        answer.close()
    assert answer.status_code == 400


def test_unreachable_drimbox() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with pytest.raises(TransportError) as caught:
        open_drimbox(_call(), f"http://127.0.0.1:{port}/303", timeout=5)
    assert caught.value.code == "connection"
    with pytest.raises(DicomError):
        open_drimbox(_call(), "file:///etc/passwd")


def test_https_drimbox_uses_the_sdk_tls_context(pki: TestPki) -> None:
    """Over HTTPS the call trusts only the configured anchors (segur_ris.tls)."""
    from segur_ris.tls import server_context

    handler = type("Handler", (_Drimbox,), {"received": []})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    context = server_context(
        cert_file=pki.server_cert, key_file=pki.server_key, require_client_cert=False
    )
    server.socket = context.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    url = f"https://127.0.0.1:{server.server_address[1]}"
    try:
        viewer = open_drimbox(_call(), f"{url}/303", timeout=10, trust=pki.ca_cert)
        assert viewer == f"{url}/drim/show?uuid=7d1b5c1e"
        with pytest.raises(TransportError) as refused:  # the system store does not know it
            open_drimbox(_call(), f"{url}/303", timeout=10)
        assert refused.value.code == "tls"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)
