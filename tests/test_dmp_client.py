"""DmpClient: requests checked through a fake transport, errors mapped, and the whole scenario
against the sandbox DMP over TLS when it is available."""

from __future__ import annotations

import dataclasses
import importlib.util
import json
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest
from lxml import etree

from segur_ris.config import Settings, load_settings
from segur_ris.dmp import build_envelope
from segur_ris.dmp._client import (
    ACTION_ITI18,
    ACTION_ITI41,
    ACTION_ITI43,
    ACTION_ITI57,
    DmpClient,
)
from segur_ris.errors import (
    CertificateUsageError,
    ConfigError,
    DmpError,
    TransportError,
    TransportTimeout,
    XdsRegistryError,
)
from segur_ris.ins import Ins
from segur_ris.sandbox._pki_org import OrgPki, generate_org_pki
from segur_ris.transport import HttpResponse
from segur_ris.vihf import VihfContext, verify_vihf, verify_xades
from segur_ris.xds import (
    ASSOCIATION_HAS_MEMBER,
    ASSOCIATION_RPLC,
    ASSOCIATION_SIGNS,
    ASSOCIATION_UPDATE_AVAILABILITY_STATUS,
    QUERY_FIND_DOCUMENTS,
    RESPONSE_FAILURE,
    STATUS_APPROVED,
    STATUS_ARCHIVED,
    STATUS_DELETED,
    DocumentEntry,
    QueryResponse,
    RegistryError,
    RegistryResponse,
    RetrievedDocument,
    RetrieveResponse,
    Submission,
    build_adhoc_query_response,
    build_registry_response,
    build_retrieve_response,
    decode_mtom,
    encode_mtom,
    parse_adhoc_query,
    parse_provide_and_register,
    parse_retrieve_request,
    parse_submit_objects,
    resolve_includes,
)
from tests.helpers_dmp import sandbox_dmp_client

REPO_ROOT = Path(__file__).resolve().parents[1]
BASE = "https://dmp.example.test/si-dmp-server/v2/services"
SOAP_NS = "http://www.w3.org/2003/05/soap-envelope"
WSSE = "{http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd}"
INS_VALUE = "279035121518989"
HAS_SANDBOX = importlib.util.find_spec("segur_ris.sandbox._dmp") is not None


# --- fixtures -------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def settings() -> Settings:
    return load_settings(env="demo", environ={}).with_endpoints(dmp=BASE)


@pytest.fixture(scope="module")
def org(tmp_path_factory: pytest.TempPathFactory, settings: Settings) -> OrgPki:
    return generate_org_pki(tmp_path_factory.mktemp("org"), structure_id=settings.structure.id)


@pytest.fixture(scope="module")
def vihf(settings: Settings) -> VihfContext:
    return VihfContext.for_automate(
        settings, secteur_activite="SA07^1.2.250.1.71.4.2.4", responsible_id="899900063480"
    )


def _report_data() -> dict[str, Any]:
    data: dict[str, Any] = json.loads((REPO_ROOT / "examples" / "report.json").read_text("utf-8"))
    return data


def _cda(**document: str) -> bytes:
    from segur_ris.cda import build_cda_n1
    from segur_ris.pdf import render_report_pdf
    from segur_ris.report import ImagingReport

    data = _report_data()
    data.update(document)
    report = ImagingReport.from_dict(data)
    return build_cda_n1(report, render_report_pdf(report, deterministic=True))


@pytest.fixture(scope="module")
def cda() -> bytes:
    return _cda()


class FakeTransport:
    """Records every POST and answers with ``respond(url, body, headers)``."""

    def __init__(self, respond: Callable[[str, bytes, Mapping[str, str]], HttpResponse]) -> None:
        self.respond = respond
        self.requests: list[tuple[str, bytes, dict[str, str]]] = []
        self.closed = False

    def post(
        self, url: str, body: bytes, headers: Mapping[str, str], timeout: float
    ) -> HttpResponse:
        self.requests.append((url, body, dict(headers)))
        return self.respond(url, body, headers)

    def close(self) -> None:
        self.closed = True


def _soap(body: etree._Element, action: str = "urn:answer", status: int = 200) -> HttpResponse:
    data, _ = build_envelope(body, action)
    return HttpResponse(status, {"Content-Type": "application/soap+xml; charset=UTF-8"}, data)


def _always(response: HttpResponse) -> Callable[[str, bytes, Mapping[str, str]], HttpResponse]:
    return lambda url, body, headers: response


def _client(
    settings: Settings, vihf: VihfContext, org: OrgPki, transport: FakeTransport
) -> DmpClient:
    return DmpClient(settings, vihf=vihf, sign_credential=org.sign.credential, transport=transport)


def _request_root(
    body: bytes, headers: Mapping[str, str]
) -> tuple[etree._Element, dict[str, bytes]]:
    """The SOAP envelope of a request (plain or MTOM) and its MIME parts by document id."""
    content_type = headers["Content-Type"]
    if content_type.startswith("multipart/related"):
        message = decode_mtom(body, content_type)
        return etree.fromstring(message.root), resolve_includes(message)
    return etree.fromstring(body), {}


def _payload(envelope: etree._Element) -> etree._Element:
    body = envelope.find(f"{{{SOAP_NS}}}Body")
    assert body is not None
    return body[0]


def _check_vihf(envelope: etree._Element, org: OrgPki, resource_id: str) -> None:
    assertion = envelope.find(f"{{{SOAP_NS}}}Header/{WSSE}Security/*")
    assert assertion is not None
    verified = verify_vihf(assertion, org.ca_cert.read_bytes())
    assert verified.token.resource_id == resource_id


def _registry_entry(settings: Settings, **changes: Any) -> DocumentEntry:
    oid = settings.environment.ins.oid_nir
    entry = DocumentEntry(
        entry_uuid="urn:uuid:11111111-2222-4333-8444-555555555555",
        unique_id="1.2.250.1.999.1.1.20261124.1",
        patient_id=f"{INS_VALUE}^^^&{oid}&ISO^NH",
        availability_status=STATUS_APPROVED,
        repository_unique_id="1.2.250.1.213.4.1.1.1.2",
        logical_id="urn:uuid:11111111-2222-4333-8444-555555555555",
        version="1",
        title="CR",
    )
    return dataclasses.replace(entry, **changes)


# --- requests sent ----------------------------------------------------------------------------


def test_submit_sends_pnr_with_signature_and_signed_vihf(
    settings: Settings, vihf: VihfContext, org: OrgPki, cda: bytes
) -> None:
    transport = FakeTransport(_always(_soap(build_registry_response(RegistryResponse()))))
    with _client(settings, vihf, org, transport) as client:
        result = client.submit(cda, hide_from_patient=True)
    assert transport.closed
    [(url, body, headers)] = transport.requests
    assert url == f"{BASE}/repository"
    assert f'action="{ACTION_ITI41}"' in headers["Content-Type"]
    envelope, parts = _request_root(body, headers)
    patient_id = f"{INS_VALUE}^^^&{settings.environment.ins.oid_nir}&ISO^NH"
    _check_vihf(envelope, org, patient_id)
    request = parse_provide_and_register(_payload(envelope))
    submission = request.submission
    assert [d.entry_uuid for d in submission.documents] == ["Document01", "Signature01"]
    document, signature = submission.documents
    assert document.patient_id == patient_id == result.entry.patient_id
    assert "INVISIBLE_PATIENT" in {c.code for c in document.confidentiality_codes}
    assert {c.code for c in signature.confidentiality_codes} == {
        "N",
        "MASQUE_PS",
        "INVISIBLE_PATIENT",
    }
    assert parts["Document01"] == cda  # exact bytes
    xades = parts["Signature01"]
    assert (signature.size, signature.hash) == (len(xades), result.signature.hash)
    ss = submission.submission_set
    assert ss is not None and ss.patient_id == patient_id
    kinds = sorted((a.association_type, a.source, a.target) for a in submission.associations)
    assert kinds == sorted(
        [
            (ASSOCIATION_HAS_MEMBER, ss.entry_uuid, "Document01"),
            (ASSOCIATION_HAS_MEMBER, ss.entry_uuid, "Signature01"),
            (ASSOCIATION_SIGNS, "Signature01", ss.entry_uuid),
        ]
    )
    report = verify_xades(xades, {document.unique_id: cda}, trusted_ca_pem=org.ca_cert.read_bytes())
    assert report.valid, report


def test_submit_replacement_adds_rplc(
    settings: Settings, vihf: VihfContext, org: OrgPki, cda: bytes
) -> None:
    transport = FakeTransport(_always(_soap(build_registry_response(RegistryResponse()))))
    old = _registry_entry(settings, unique_id="1.2.250.1.999.1.1.20261124.0")
    client = _client(settings, vihf, org, transport)
    client.submit(cda, replaces=old)
    envelope, _ = _request_root(transport.requests[0][1], transport.requests[0][2])
    submission = parse_provide_and_register(_payload(envelope)).submission
    assert (ASSOCIATION_RPLC, "Document01", old.entry_uuid) in {
        (a.association_type, a.source, a.target) for a in submission.associations
    }
    with pytest.raises(DmpError):  # same uniqueId as the replaced document
        client.submit(cda, replaces=_registry_entry(settings))


def test_find_get_visibility_delete_archive_requests(
    settings: Settings, vihf: VihfContext, org: OrgPki
) -> None:
    entry = _registry_entry(settings)
    content = b"<ClinicalDocument>\r\n exact \x00 bytes</ClinicalDocument>"

    def respond(url: str, body: bytes, headers: Mapping[str, str]) -> HttpResponse:
        action = headers["Content-Type"].split('action="')[1].rstrip('"')
        if action == ACTION_ITI18:
            answer = QueryResponse(objects=Submission(documents=(entry,)))
            return _soap(build_adhoc_query_response(answer))
        if action == ACTION_ITI43:
            retrieved = RetrievedDocument(
                entry.repository_unique_id, entry.unique_id, "text/xml", content_id="doc1@x"
            )
            envelope, _ = build_envelope(
                build_retrieve_response(RetrieveResponse(documents=(retrieved,))), "urn:r"
            )
            data, content_type = encode_mtom(envelope, {"doc1@x": content}, action="urn:r")
            return HttpResponse(200, {"Content-Type": content_type}, data)
        return _soap(build_registry_response(RegistryResponse()))

    transport = FakeTransport(respond)
    client = _client(settings, vihf, org, transport)
    assert client.find(Ins.parse(INS_VALUE, "1.2.250.1.213.1.4.10")) == [entry]
    assert client.get(entry.unique_id) == content
    new = client.set_visibility(entry, patient=False, professionals=None)
    assert "INVISIBLE_PATIENT" in {c.code for c in new.confidentiality_codes}
    assert new.logical_id == entry.logical_id and new.version == "2"
    client.delete(entry)
    client.archive(entry)

    sent = [(url, *_request_root(body, headers)) for url, body, headers in transport.requests]
    assert [url.rsplit("/", 1)[1] for url, _, _ in sent] == [
        "registry",
        "repository",
        "registry",
        "registry",
        "registry",
    ]
    for _, envelope, _ in sent:
        _check_vihf(envelope, org, entry.patient_id)
    query = parse_adhoc_query(_payload(sent[0][1]))
    assert query.query_id == QUERY_FIND_DOCUMENTS
    assert query.values("$XDSDocumentEntryPatientId") == (entry.patient_id,)
    assert query.values("$XDSDocumentEntryStatus") == (STATUS_APPROVED,)
    [retrieve] = parse_retrieve_request(_payload(sent[1][1]))
    assert (retrieve.repository_unique_id, retrieve.document_unique_id) == (
        entry.repository_unique_id,
        entry.unique_id,
    )
    update = parse_submit_objects(_payload(sent[2][1]))
    [version] = update.documents
    assert version.logical_id == entry.logical_id
    assert update.associations[0].previous_version == "1"
    for index, status in ((3, STATUS_DELETED), (4, STATUS_ARCHIVED)):
        [association] = parse_submit_objects(_payload(sent[index][1])).associations
        assert association.association_type == ASSOCIATION_UPDATE_AVAILABILITY_STATUS
        assert (association.target, association.new_status) == (entry.entry_uuid, status)
    assert all(ACTION_ITI57 in h["Content-Type"] for _, _, h in transport.requests[2:])


def test_exists_and_authorize(settings: Settings, vihf: VihfContext, org: OrgPki) -> None:
    td02 = etree.fromstring(
        b'<PRPA_IN201308UV02 xmlns="urn:hl7-org:v3"><acknowledgement typeCode="AA"/>'
        b'<controlActProcess><queryAck><queryResponseCode code="NF"/></queryAck>'
        b"</controlActProcess></PRPA_IN201308UV02>"
    )
    td03 = etree.fromstring(
        b'<setAuthorizationResponse xmlns="urn:si-dmp-habilitations"><output>'
        b"<status>DMPOk</status></output></setAuthorizationResponse>"
    )
    answers = iter([_soap(td02), _soap(td03)])
    transport = FakeTransport(lambda url, body, headers: next(answers))
    client = _client(settings, vihf, org, transport)
    status = client.exists(INS_VALUE)
    assert not status.exists and status.query_response == "NF"
    assert client.authorize(INS_VALUE) == "DMPOk"
    urls = [url for url, _, _ in transport.requests]
    assert urls == [f"{BASE}/patients", f"{BASE}/habilitations"]
    envelope = etree.fromstring(transport.requests[0][1])
    value = _payload(envelope).find(".//{urn:hl7-org:v3}patientIdentifier/{urn:hl7-org:v3}value")
    assert value is not None
    assert (value.get("root"), value.get("extension")) == (
        settings.environment.ins.oid_nir,
        INS_VALUE,
    )
    _check_vihf(envelope, org, f"{INS_VALUE}^^^&{settings.environment.ins.oid_nir}&ISO^NH")


# --- errors -----------------------------------------------------------------------------------


def _fault() -> HttpResponse:
    data = (
        b'<soap:Envelope xmlns:soap="http://www.w3.org/2003/05/soap-envelope"><soap:Body>'
        b"<soap:Fault><soap:Code><soap:Value>soap:Sender</soap:Value><soap:Subcode>"
        b"<soap:Value>DMPAccessDenied</soap:Value></soap:Subcode></soap:Code>"
        b'<soap:Reason><soap:Text xml:lang="fr">acces refuse</soap:Text></soap:Reason>'
        b"</soap:Fault></soap:Body></soap:Envelope>"
    )
    return HttpResponse(500, {"Content-Type": "application/soap+xml"}, data)


def test_errors_are_mapped(settings: Settings, vihf: VihfContext, org: OrgPki, cda: bytes) -> None:
    unknown = RegistryResponse(
        RESPONSE_FAILURE, (RegistryError("XDSUnknownPatientId", "patient inconnu"),)
    )
    client = _client(
        settings, vihf, org, FakeTransport(_always(_soap(build_registry_response(unknown))))
    )
    with pytest.raises(XdsRegistryError) as caught:
        client.submit(cda)
    assert caught.value.code == "XDSUnknownPatientId"

    failed_query = QueryResponse(RESPONSE_FAILURE, errors=unknown.errors)
    client = _client(
        settings, vihf, org, FakeTransport(_always(_soap(build_adhoc_query_response(failed_query))))
    )
    with pytest.raises(XdsRegistryError):
        client.find(INS_VALUE)

    calls: tuple[Callable[[DmpClient], object], ...] = (
        lambda c: c.find(INS_VALUE),
        lambda c: c.submit(cda),
    )
    for call in calls:
        with pytest.raises(DmpError) as fault:
            call(_client(settings, vihf, org, FakeTransport(_always(_fault()))))
        assert fault.value.code == "DMPAccessDenied"

    html = HttpResponse(502, {"Content-Type": "text/html"}, b"<html>bad gateway")
    for call in calls:
        with pytest.raises(TransportError):
            call(_client(settings, vihf, org, FakeTransport(_always(html))))

    def timeout(url: str, body: bytes, headers: Mapping[str, str]) -> HttpResponse:
        raise TransportTimeout("délai dépassé")

    with pytest.raises(TransportTimeout):
        _client(settings, vihf, org, FakeTransport(timeout)).exists(INS_VALUE)

    with pytest.raises(DmpError):  # get of an unknown uniqueId without INS
        _client(settings, vihf, org, FakeTransport(timeout)).get("1.2.3")


def test_configuration_is_checked(settings: Settings, vihf: VihfContext, org: OrgPki) -> None:
    transport = FakeTransport(_always(_fault()))
    with pytest.raises(ConfigError):
        DmpClient(settings, vihf=vihf, sign_credential=None, transport=transport)
    with pytest.raises(ConfigError):
        DmpClient(settings, vihf=vihf, sign_credential=org.sign.credential)  # no certificate
    http = settings.with_endpoints(dmp="http://dmp.example.test/services")
    with pytest.raises(ConfigError):
        DmpClient(http, vihf=vihf, sign_credential=org.sign.credential, transport=transport)
    assert "PRIVATE" not in repr(org.sign.credential)
    # the ORG AUTH_CLI certificate may not sign the VIHF and the XAdES
    with pytest.raises(CertificateUsageError) as refused:
        DmpClient(settings, vihf=vihf, sign_credential=org.auth_cli.credential, transport=transport)
    assert refused.value.code == "certificate_role"


# --- scenario against the sandbox DMP (real TLS) ----------------------------------------------


@pytest.fixture(scope="module")
def sandbox_client(
    tmp_path_factory: pytest.TempPathFactory, settings: Settings, org: OrgPki
) -> Iterator[DmpClient]:
    if not HAS_SANDBOX:
        pytest.skip("segur_ris.sandbox._dmp (DmpSandbox) absent")
    from segur_ris.sandbox import generate_test_pki

    pki = generate_test_pki(tmp_path_factory.mktemp("tls"))
    with sandbox_dmp_client(pki, org, settings, (INS_VALUE,)) as (client, _, _):
        yield client


def test_sandbox_scenario(sandbox_client: DmpClient, cda: bytes) -> None:
    client = sandbox_client
    result = client.submit(cda, hide_from_patient=True)
    [entry] = [e for e in client.find(INS_VALUE) if e.unique_id == result.unique_id]
    assert "INVISIBLE_PATIENT" in {c.code for c in entry.confidentiality_codes}
    assert client.get(result.unique_id) == cda
    shown = client.set_visibility(entry, patient=True, professionals=None)
    assert "INVISIBLE_PATIENT" not in {c.code for c in shown.confidentiality_codes}
    [current] = [e for e in client.find(INS_VALUE) if e.unique_id == result.unique_id]
    assert "INVISIBLE_PATIENT" not in {c.code for c in current.confidentiality_codes}
    v2 = _cda(document_id="1.2.250.1.999.1.1.20261124.2")
    second = client.submit(v2, replaces=current)
    approved = {e.unique_id: e for e in client.find(INS_VALUE)}
    assert second.unique_id in approved and result.unique_id not in approved
    assert client.get(second.unique_id) == v2
    client.archive(approved[second.unique_id])
    assert second.unique_id not in {e.unique_id for e in client.find(INS_VALUE)}
    [archived] = [
        e for e in client.find(INS_VALUE, status=STATUS_ARCHIVED) if e.unique_id == second.unique_id
    ]
    client.delete(archived)
    assert not client.find(INS_VALUE, status=STATUS_ARCHIVED)


def test_sandbox_unknown_patient(sandbox_client: DmpClient) -> None:
    other = _cda_for_unknown_patient()
    with pytest.raises(XdsRegistryError) as caught:
        sandbox_client.submit(other)
    assert caught.value.code == "XDSUnknownPatientId"


def _cda_for_unknown_patient() -> bytes:
    from segur_ris.cda import build_cda_n1
    from segur_ris.pdf import render_report_pdf
    from segur_ris.report import ImagingReport

    data = _report_data()
    data["patient"]["ins"]["matricule"] = "180032B02004885"  # valid key, not in the sandbox
    report = ImagingReport.from_dict(data)
    return build_cda_n1(report, render_report_pdf(report, deterministic=True))


# --- CLI (wired on a local parser: segur_ris.cli registers it separately) --------------------


def _cli(argv: list[str]) -> int:
    import argparse

    from segur_ris.cli import _dmp

    parser = argparse.ArgumentParser(prog="segur-ris")
    _dmp.register(parser.add_subparsers(dest="command"))
    args = parser.parse_args(argv)
    return int(args.handler(args))


@pytest.mark.skipif(not HAS_SANDBOX, reason="segur_ris.sandbox._dmp (DmpSandbox) absent")
def test_cli_on_the_sandbox(tmp_path: Path, cda: bytes, capsys: pytest.CaptureFixture[str]) -> None:
    source = tmp_path / "cri.xml"
    source.write_bytes(cda)
    db = ["--sandbox-db", str(tmp_path / "dmp.sqlite")]
    assert _cli(["dmp", "submit", str(source), "--hide-from-patient", "--json", *db]) == 0
    unique_id = json.loads(capsys.readouterr().out)["unique_id"]
    assert _cli(["dmp", "find", "--ins", INS_VALUE, "--json", *db]) == 0
    [found] = [e for e in json.loads(capsys.readouterr().out) if e["unique_id"] == unique_id]
    assert "INVISIBLE_PATIENT" in found["confidentiality"]
    out = tmp_path / "back.xml"
    assert _cli(["dmp", "get", unique_id, "-o", str(out), *db]) == 0
    assert out.read_bytes() == cda
    capsys.readouterr()
    assert _cli(["dmp", "visibility", unique_id, "--patient", "show", "--json", *db]) == 0
    assert "INVISIBLE_PATIENT" not in json.loads(capsys.readouterr().out)["confidentiality"]
    assert _cli(["dmp", "exists", "--ins", INS_VALUE, "--json"]) in (0, 1)
    assert "exists" in json.loads(capsys.readouterr().out)
