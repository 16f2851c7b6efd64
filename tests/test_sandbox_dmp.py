"""The DMP sandbox: real mutual TLS with hand-built requests (XDS builders, signed VIHF, MTOM)."""

from __future__ import annotations

import dataclasses
import hashlib
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import requests
from lxml import etree

from segur_ris.dmp import (
    build_envelope,
    build_set_authorization,
    build_td02,
    parse_envelope,
    parse_set_authorization_response,
    parse_td02_response,
)
from segur_ris.errors import ConfigError, DmpError
from segur_ris.ins import Ins, parse_matricule
from segur_ris.sandbox import TestPki
from segur_ris.sandbox._dmp import (
    ACTION_ITI18,
    ACTION_ITI41,
    ACTION_ITI43,
    ACTION_ITI57,
    DMP_REPOSITORY_UNIQUE_ID,
    FAULT_VIHF_INVALID,
    IHE_SCHEMAS_ENV,
    DmpSandbox,
    DmpSandboxCore,
)
from segur_ris.sandbox._dmp_store import DmpStore, StoredDocument
from segur_ris.sandbox._pki_org import OrgPki, generate_org_pki
from segur_ris.vihf import CodedValue, VihfContext, build_vihf, build_xades, sign_vihf
from segur_ris.xds import (
    ASSOCIATION_HAS_MEMBER,
    ASSOCIATION_RPLC,
    ASSOCIATION_SIGNS,
    QUERY_FIND_SUBMISSION_SETS,
    STATUS_APPROVED,
    STATUS_DELETED,
    STATUS_DEPRECATED,
    Association,
    Code,
    DocumentEntry,
    DocumentRequest,
    PnrDocument,
    ProvideAndRegisterRequest,
    QueryResponse,
    RegistryResponse,
    Submission,
    SubmissionSet,
    availability_status_update,
    build_adhoc_query,
    build_provide_and_register,
    build_retrieve_request,
    build_submit_objects,
    decode_response,
    encode_mtom,
    find_documents,
    find_documents_by_reference_id,
    find_submission_sets,
    get_associations,
    get_documents,
    metadata_update,
    parse_adhoc_query_response,
    parse_registry_response,
    parse_retrieve_response,
    resolve_includes,
)
from tests.conftest import ref_file
from tests.helpers_dmp import signed_associations

SAMPLES = "dmp/dmp-lps-package/DMP_LPS_Exemple_de_messages_1.0.1_1_-_v02.05.00"
SCHEMAS = "dmp/ihe-iti/schema"
RIM = "urn:oasis:names:tc:ebxml-regrep:xsd:rim:3.0"
INS = "207058575627097"
INS_OID = "1.2.250.1.213.1.4.10"
PATIENT = f"{INS}^^^&{INS_OID}&ISO^NH"
UNKNOWN_INS = "299129999999911"
UNKNOWN = f"{UNKNOWN_INS}^^^&{INS_OID}&ISO^NH"
MEDECIN = CodedValue("10", "1.2.250.1.71.1.2.7", "Médecin")
PATIENT_ROLE = CodedValue("PATIENT", "1.2.250.1.213.1.1.4.6", "Patient")
CONF = "1.2.250.1.213.1.1.4.13"
CDA = (
    b'<?xml version="1.0" encoding="UTF-8"?>\n'
    b'<ClinicalDocument xmlns="urn:hl7-org:v3"><title>Scanner \xc3\xa9</title></ClinicalDocument>\n'
)


@pytest.fixture(scope="module")
def org(tmp_path_factory: pytest.TempPathFactory) -> OrgPki:
    return generate_org_pki(tmp_path_factory.mktemp("org-dmp"))


@pytest.fixture()
def sandbox(pki: TestPki, org: OrgPki) -> Iterator[DmpSandbox]:
    with DmpSandbox(pki, org.ca_cert) as running:
        yield running


def _vihf(
    org: OrgPki,
    *,
    patient: str = PATIENT,
    roles: tuple[CodedValue, ...] = (MEDECIN,),
    sign: bool = True,
) -> etree._Element:
    context = VihfContext(
        structure_id=org.structure_id,
        structure_name=org.structure_name,
        secteur_activite="SA07^1.2.250.1.71.4.2.4",
        subject_id="899900063480",
        subject_name="MAX LIBRE",
        roles=roles,
        lps_name="SEGUR-RIS",
        lps_version="1.0",
        lps_homologation="EVO-TEST",
    )
    assertion = build_vihf(context, resource_id=patient)
    return sign_vihf(assertion, org.sign.credential) if sign else assertion


def _post(
    sandbox: DmpSandbox, org: OrgPki, pki: TestPki, service: str, body: bytes, content_type: str
) -> requests.Response:
    return requests.post(
        f"{sandbox.url}/{service}",
        data=body,
        headers={"Content-Type": content_type},
        cert=(str(org.auth_cli.cert), str(org.auth_cli.key)),
        verify=str(pki.ca_cert),
        timeout=10,
    )


def _soap(
    sandbox: DmpSandbox,
    org: OrgPki,
    pki: TestPki,
    service: str,
    content: etree._Element,
    action: str,
    security: etree._Element,
) -> requests.Response:
    envelope, _ = build_envelope(content, action, security=security)
    return _post(
        sandbox,
        org,
        pki,
        service,
        envelope,
        f'application/soap+xml; charset=UTF-8; action="{action}"',
    )


def _entry(doc_id: str, unique_id: str, *, codes: tuple[str, ...] = ("N",)) -> DocumentEntry:
    return DocumentEntry(
        entry_uuid=doc_id,
        unique_id=unique_id,
        patient_id=PATIENT,
        class_code=Code("10", "1.2.250.1.213.1.1.4.1", "Compte rendu"),
        type_code=Code("18748-4", "2.16.840.1.113883.6.1", "CR d'imagerie médicale"),
        format_code=Code("urn:asip:ci-sis:cr-imagerie:2016", "1.2.250.1.213.1.1.4.12", "CR-IMG"),
        confidentiality_codes=tuple(
            Code(c, "2.16.840.1.113883.5.25" if c == "N" else CONF, c) for c in codes
        ),
        reference_ids=("ACC42^^^&1.2.250.1.999.1.1.7898&ISO^urn:ihe:iti:xds:2013:accession",),
        creation_time="20261124093000",
        title="CR",
    )


def _submit(
    sandbox: DmpSandbox,
    org: OrgPki,
    pki: TestPki,
    *,
    patient: str = PATIENT,
    tamper: bool = False,
    replaces: str | None = None,
    codes: tuple[str, ...] = ("N",),
    mutate: Callable[[etree._Element], None] | None = None,
) -> tuple[str, RegistryResponse]:
    """Send an ITI-41 (CDA + XAdES) as MTOM; returns the CDA uniqueId and the response."""
    unique_id = f"1.2.250.1.999.1.1.7898.4.{uuid.uuid4().int % 10**12}"
    signature_uid = unique_id + ".9"
    xades = build_xades({unique_id: CDA}, org.sign.credential)
    sent_cda = CDA + b"<!-- tampered -->" if tamper else CDA
    ss = SubmissionSet(
        entry_uuid="SubmissionSet01",
        unique_id=unique_id + ".1",
        source_id="1.2.250.1.999.1.1.7898",
        patient_id=patient,
        submission_time="20261124093500",
        content_type_code=Code("04", "1.2.250.1.213.2.2", "Hospitalisation de jour"),
    )
    document = dataclasses.replace(_entry("Document01", unique_id, codes=codes), patient_id=patient)
    signature = dataclasses.replace(
        _entry("Signature01", signature_uid),
        patient_id=patient,
        class_code=Code("urn:oid:1.3.6.1.4.1.19376.1.2.1.1.1", "URN", "Signature"),
        reference_ids=(),
    )
    associations = signed_associations(ss.entry_uuid, "Document01")
    if replaces:
        associations.append(Association("a4", ASSOCIATION_RPLC, "Document01", replaces))
    request = ProvideAndRegisterRequest(
        Submission((ss,), (document, signature), associations=tuple(associations)),
        (
            PnrDocument("Document01", content_id="doc1@segur-ris"),
            PnrDocument("Signature01", content_id="sig1@segur-ris"),
        ),
    )
    pnr = build_provide_and_register(request)
    if mutate is not None:
        mutate(pnr)
    envelope, _ = build_envelope(pnr, ACTION_ITI41, security=_vihf(org, patient=patient))
    body, content_type = encode_mtom(
        envelope, {"doc1@segur-ris": sent_cda, "sig1@segur-ris": xades}, action=ACTION_ITI41
    )
    answer = _post(sandbox, org, pki, "repository", body, content_type)
    assert answer.headers["Content-Type"].startswith("multipart/related")
    message = decode_response(answer.content, answer.headers["Content-Type"])
    return unique_id, parse_registry_response(parse_envelope(message.root).body)


def _find(
    sandbox: DmpSandbox,
    org: OrgPki,
    pki: TestPki,
    *,
    roles: tuple[CodedValue, ...] = (MEDECIN,),
    statuses: tuple[str, ...] = (STATUS_APPROVED,),
) -> QueryResponse:
    query = build_adhoc_query(find_documents(PATIENT, statuses=statuses))
    answer = _soap(sandbox, org, pki, "registry", query, ACTION_ITI18, _vihf(org, roles=roles))
    assert answer.status_code == 200, answer.text
    return parse_adhoc_query_response(parse_envelope(answer.content).body)


def _cda_entries(response: QueryResponse) -> list[DocumentEntry]:
    return [d for d in response.objects.documents if not d.unique_id.endswith(".9")]


def test_submit_find_retrieve_hide_show_delete(
    sandbox: DmpSandbox, org: OrgPki, pki: TestPki
) -> None:
    unique_id, response = _submit(sandbox, org, pki)
    assert response.ok and response.errors == (), response
    [entry] = _cda_entries(_find(sandbox, org, pki))
    assert entry.unique_id == unique_id and entry.availability_status == STATUS_APPROVED
    assert entry.entry_uuid.startswith("urn:uuid:") and entry.version == "1"
    assert entry.repository_unique_id == DMP_REPOSITORY_UNIQUE_ID
    assert entry.hash == hashlib.sha1(CDA).hexdigest() and entry.size == len(CDA)

    # ObjectRef, GetDocuments, FindDocumentsByReferenceId
    refs = build_adhoc_query(find_documents(PATIENT, return_type="ObjectRef"))
    answer = _soap(sandbox, org, pki, "registry", refs, ACTION_ITI18, _vihf(org))
    assert (
        entry.entry_uuid
        in parse_adhoc_query_response(parse_envelope(answer.content).body).object_refs
    )
    for query in (
        get_documents(unique_ids=[unique_id]),
        get_documents(entry_uuids=[entry.entry_uuid]),
        find_documents_by_reference_id(PATIENT, list(entry.reference_ids)),
    ):
        answer = _soap(
            sandbox, org, pki, "registry", build_adhoc_query(query), ACTION_ITI18, _vihf(org)
        )
        found = parse_adhoc_query_response(parse_envelope(answer.content).body)
        assert [d.unique_id for d in found.objects.documents] == [unique_id]

    # ITI-43: exact bytes, MTOM with an XDS-style content-id
    retrieve = build_retrieve_request([DocumentRequest(DMP_REPOSITORY_UNIQUE_ID, unique_id)])
    answer = _soap(sandbox, org, pki, "repository", retrieve, ACTION_ITI43, _vihf(org))
    assert answer.headers["Content-Type"].startswith("multipart/related")
    assert b"@urn%3Aihe%3Aiti%3Axds-b%3A2007" in answer.content
    message = decode_response(answer.content, answer.headers["Content-Type"])
    result = parse_retrieve_response(parse_envelope(message.root).body)
    result.raise_for_errors()
    assert resolve_includes(message) == {unique_id: CDA}

    # TD3.3a: hide from the patient (new version, previous Deprecated)
    ss = SubmissionSet(
        "SubmissionSet01", unique_id + ".2", "1.2.250.1.999.1.1.7898", PATIENT, "20261124100000"
    )
    hidden = dataclasses.replace(
        entry,
        entry_uuid="Document01",
        confidentiality_codes=(*entry.confidentiality_codes, Code("INVISIBLE_PATIENT", CONF)),
    )
    update = build_submit_objects(metadata_update(ss, hidden, previous_version="1"))
    answer = _soap(sandbox, org, pki, "registry", update, ACTION_ITI57, _vihf(org))
    assert parse_registry_response(parse_envelope(answer.content).body).ok, answer.text
    [v2] = _cda_entries(_find(sandbox, org, pki))
    assert v2.version == "2" and v2.logical_id == entry.logical_id
    assert "INVISIBLE_PATIENT" in {c.code for c in v2.confidentiality_codes}
    [old] = _cda_entries(_find(sandbox, org, pki, statuses=(STATUS_DEPRECATED,)))
    assert old.entry_uuid == entry.entry_uuid
    # the patient does not see it, neither in ITI-18 nor ITI-43
    assert _cda_entries(_find(sandbox, org, pki, roles=(PATIENT_ROLE,))) == []
    answer = _soap(
        sandbox, org, pki, "repository", retrieve, ACTION_ITI43, _vihf(org, roles=(PATIENT_ROLE,))
    )
    message = decode_response(answer.content, answer.headers["Content-Type"])
    hidden_result = parse_retrieve_response(parse_envelope(message.root).body)
    assert hidden_result.documents == ()
    assert hidden_result.errors[0].error_code == "XDSDocumentUniqueIdError"

    # TD3.3b: show again (version 3)
    shown = dataclasses.replace(
        v2, entry_uuid="Document01", confidentiality_codes=entry.confidentiality_codes
    )
    update = build_submit_objects(metadata_update(ss, shown, previous_version="2"))
    answer = _soap(sandbox, org, pki, "registry", update, ACTION_ITI57, _vihf(org))
    assert parse_registry_response(parse_envelope(answer.content).body).ok
    [v3] = _cda_entries(_find(sandbox, org, pki, roles=(PATIENT_ROLE,)))
    assert v3.version == "3"
    # a stale PreviousVersion is refused
    answer = _soap(sandbox, org, pki, "registry", update, ACTION_ITI57, _vihf(org))
    stale = parse_registry_response(parse_envelope(answer.content).body)
    assert stale.errors[0].error_code == "XDSMetadataVersionError"

    # TD3.3c: delete
    delete = build_submit_objects(availability_status_update(ss, v3.entry_uuid, STATUS_DELETED))
    answer = _soap(sandbox, org, pki, "registry", delete, ACTION_ITI57, _vihf(org))
    assert parse_registry_response(parse_envelope(answer.content).body).ok
    assert _cda_entries(_find(sandbox, org, pki)) == []
    [deleted] = _cda_entries(_find(sandbox, org, pki, statuses=(STATUS_DELETED,)))
    assert deleted.entry_uuid == v3.entry_uuid


def test_replacement_deprecates_the_previous_version(
    sandbox: DmpSandbox, org: OrgPki, pki: TestPki
) -> None:
    first, response = _submit(sandbox, org, pki)
    assert response.ok
    [entry] = _cda_entries(_find(sandbox, org, pki))
    second, response = _submit(sandbox, org, pki, replaces=entry.entry_uuid)
    assert response.ok, response
    assert [e.unique_id for e in _cda_entries(_find(sandbox, org, pki))] == [second]
    deprecated = _find(sandbox, org, pki, statuses=(STATUS_DEPRECATED,))
    assert [e.unique_id for e in _cda_entries(deprecated)] == [first]


def test_unknown_patient_and_tampered_document_are_refused(
    sandbox: DmpSandbox, org: OrgPki, pki: TestPki
) -> None:
    _, response = _submit(sandbox, org, pki, patient=UNKNOWN)
    assert not response.ok
    assert response.errors[0].error_code == "XDSUnknownPatientId"
    _, response = _submit(sandbox, org, pki, tamper=True)
    assert not response.ok
    assert response.errors[0].error_code == "XDSRepositoryMetadataError"
    assert len(sandbox.store) == 0


@pytest.mark.parametrize("problem", ["unsigned", "tampered"])
def test_bad_vihf_is_a_soap_fault(
    sandbox: DmpSandbox, org: OrgPki, pki: TestPki, problem: str
) -> None:
    vihf = _vihf(org, sign=problem != "unsigned")
    if problem == "tampered":
        name_id = vihf.find(".//{urn:oasis:names:tc:SAML:2.0:assertion}NameID")
        assert name_id is not None
        name_id.text = "899900000000"
    query = build_adhoc_query(find_documents(PATIENT))
    answer = _soap(sandbox, org, pki, "registry", query, ACTION_ITI18, vihf)
    assert answer.status_code == 400
    with pytest.raises(DmpError) as caught:
        parse_envelope(answer.content)
    assert caught.value.code == FAULT_VIHF_INVALID


def test_client_certificate_is_required(sandbox: DmpSandbox, pki: TestPki) -> None:
    with pytest.raises(requests.exceptions.RequestException):
        requests.post(f"{sandbox.url}/registry", data=b"x", verify=str(pki.ca_cert), timeout=5)


def test_td02_and_td03(sandbox: DmpSandbox, org: OrgPki, pki: TestPki) -> None:
    for ins, exists in ((INS, True), (UNKNOWN_INS, False)):
        td02 = build_td02(
            Ins(parse_matricule(ins), INS_OID), sender_oid="1.2.250.1.999", sender_name="RIS"
        )
        answer = _soap(
            sandbox, org, pki, "patients", td02, "urn:hl7-org:v3:PRPA_IN201307UV02", _vihf(org)
        )
        status = parse_td02_response(parse_envelope(answer.content).body)
        assert status.exists is exists
        assert status.query_response == ("OK" if exists else "NF")
        assert status.authorization == ("VALIDE" if exists else None)
    answer = _soap(
        sandbox,
        org,
        pki,
        "habilitations",
        build_set_authorization("AJOUT"),
        "urn:si-dmp-habilitations:HabilitationsEndPoint:setAuthorization",
        _vihf(org),
    )
    assert parse_set_authorization_response(parse_envelope(answer.content).body) == "DMPOk"


def test_documents_survive_a_restart(pki: TestPki, org: OrgPki, tmp_path: Path) -> None:
    db = tmp_path / "dmp.sqlite"
    with DmpSandbox(pki, org.ca_cert, db_path=db) as first:
        unique_id, response = _submit(first, org, pki)
        assert response.ok
    with DmpSandbox(pki, org.ca_cert, db_path=db) as second:
        [entry] = _cda_entries(_find(second, org, pki))
        assert entry.unique_id == unique_id


def test_official_td21_request_is_accepted_by_the_core(ref_dir: Path, org: OrgPki) -> None:
    raw = ref_file(ref_dir, f"{SAMPLES}/TD2.1_-_Alimentation_requete.xml").read_bytes()
    boundary = raw.split(b"\n", 1)[0].strip()[2:].decode("ascii")
    content_type = f'multipart/related; boundary="{boundary}"; type="application/xop+xml"'
    core = DmpSandboxCore(
        DmpStore(),
        known_ins=[INS],
        trusted_ca_pem=org.ca_cert.read_bytes(),
        require_valid_signature=False,
    )
    answer = core.handle("repository", raw, content_type, "SAMPLE")
    assert answer.status == 200, answer.body
    message = decode_response(answer.body, answer.content_type)
    response = parse_registry_response(parse_envelope(message.root).body)
    assert response.ok
    # the sample's manifest digest does not match its CDA: reported as a warning
    assert [e.error_code for e in response.errors] == ["XDSRepositoryMetadataError"]
    assert not response.errors[0].is_error
    assert core.last_xades_report is not None and not core.last_xades_report.valid
    assert len(core.store) == 2
    # with a valid signature required, the same request is refused
    strict = DmpSandboxCore(DmpStore(), known_ins=[INS], trusted_ca_pem=None)
    answer = strict.handle("repository", raw, content_type, "SAMPLE")
    message = decode_response(answer.body, answer.content_type)
    refused = parse_registry_response(parse_envelope(message.root).body)
    assert refused.errors[0].error_code == "XDSRepositoryMetadataError"
    assert len(strict.store) == 0


def test_store_transaction_is_atomic() -> None:
    store = DmpStore()
    document = StoredDocument(
        "urn:uuid:1",
        "1.2.3",
        "urn:uuid:1",
        1,
        INS,
        STATUS_APPROVED,
        ("N",),
        "text/xml",
        b"<m/>",
        b"data",
    )
    with pytest.raises(RuntimeError), store.transaction():
        store.add(document)
        store.set_status("urn:uuid:1", STATUS_DELETED)
        raise RuntimeError
    assert len(store) == 0
    store.add(document)
    assert store.get("urn:uuid:1") == document
    assert store.by_patient(INS, [STATUS_DELETED]) == []


# --- IHE XSD validation (optional, reference schemas) ---------------------------------------


@pytest.fixture()
def schema_dir(ref_dir: Path) -> Path:
    ref_file(ref_dir, f"{SCHEMAS}/IHE/XDS.b_DocumentRepository.xsd")
    ref_file(ref_dir, f"{SCHEMAS}/www.w3.org/2001/xml.xsd")
    return ref_dir / SCHEMAS


@pytest.fixture()
def validating(pki: TestPki, org: OrgPki, schema_dir: Path) -> Iterator[DmpSandbox]:
    with DmpSandbox(pki, org.ca_cert, schemas=schema_dir) as running:
        yield running


def _slot_without_values(pnr: etree._Element) -> None:
    # (a missing objectType would not do: rim.xsd makes it optional)
    value_list = pnr.find(f".//{{{RIM}}}ExtrinsicObject/{{{RIM}}}Slot/{{{RIM}}}ValueList")
    assert value_list is not None
    value_list.getparent().remove(value_list)  # type: ignore[union-attr]


def _unknown_element(pnr: etree._Element) -> None:
    extrinsic = pnr.find(f".//{{{RIM}}}ExtrinsicObject")
    assert extrinsic is not None
    extrinsic.insert(0, etree.Element(f"{{{RIM}}}Unexpected"))


def test_xsd_validation_accepts_valid_requests(
    validating: DmpSandbox, org: OrgPki, pki: TestPki
) -> None:
    assert validating.core.schema is not None
    unique_id, response = _submit(validating, org, pki)
    assert response.ok and response.errors == (), response
    [entry] = _cda_entries(_find(validating, org, pki))  # ITI-18 validated too
    retrieve = build_retrieve_request([DocumentRequest(DMP_REPOSITORY_UNIQUE_ID, unique_id)])
    answer = _soap(validating, org, pki, "repository", retrieve, ACTION_ITI43, _vihf(org))
    message = decode_response(answer.content, answer.headers["Content-Type"])
    parse_retrieve_response(parse_envelope(message.root).body).raise_for_errors()
    ss = SubmissionSet(
        "SubmissionSet01", unique_id + ".2", "1.2.250.1.999.1.1.7898", PATIENT, "20261124100000"
    )
    delete = build_submit_objects(availability_status_update(ss, entry.entry_uuid, STATUS_DELETED))
    answer = _soap(validating, org, pki, "registry", delete, ACTION_ITI57, _vihf(org))
    assert parse_registry_response(parse_envelope(answer.content).body).ok, answer.text


@pytest.mark.parametrize(
    ("mutate", "expected"),
    [(_slot_without_values, "ValueList"), (_unknown_element, "Unexpected")],
)
def test_xsd_validation_refuses_broken_ebrim(
    validating: DmpSandbox,
    org: OrgPki,
    pki: TestPki,
    mutate: Callable[[etree._Element], None],
    expected: str,
) -> None:
    _, response = _submit(validating, org, pki, mutate=mutate)
    assert not response.ok
    [error] = response.errors
    assert error.error_code == "XDSRegistryMetadataError"
    assert error.code_context.startswith("XSD: ") and expected in error.code_context, error
    assert len(validating.store) == 0


def test_xsd_validation_of_query_retrieve_and_update(
    validating: DmpSandbox, org: OrgPki, pki: TestPki
) -> None:
    # ITI-18: an unknown element in the AdhocQuery -> AdhocQueryResponse Failure
    query = build_adhoc_query(find_documents(PATIENT))
    adhoc = query.find(f"{{{RIM}}}AdhocQuery")
    assert adhoc is not None
    adhoc.append(etree.Element(f"{{{RIM}}}Bogus"))
    answer = _soap(validating, org, pki, "registry", query, ACTION_ITI18, _vihf(org))
    assert answer.status_code == 200
    found = parse_adhoc_query_response(parse_envelope(answer.content).body)
    assert found.status.endswith(":Failure")
    assert found.errors[0].error_code == "XDSRegistryMetadataError"
    assert "Bogus" in found.errors[0].code_context
    # ITI-43: RetrieveDocumentSetResponse with a Failure RegistryResponse (no SOAP fault)
    retrieve = build_retrieve_request([DocumentRequest(DMP_REPOSITORY_UNIQUE_ID, "1.2.3")])
    retrieve.append(etree.Element("{urn:ihe:iti:xds-b:2007}Bogus"))
    answer = _soap(validating, org, pki, "repository", retrieve, ACTION_ITI43, _vihf(org))
    assert answer.status_code == 200
    result = parse_retrieve_response(parse_envelope(answer.content).body)
    assert result.documents == ()
    assert result.errors[0].error_code == "XDSRegistryMetadataError"
    assert "Bogus" in result.errors[0].code_context
    # ITI-57: an Association without associationType
    ss = SubmissionSet("SubmissionSet01", "1.2.3.4", "1.2.250.1.999.1.1.7898", PATIENT, "2026")
    update = build_submit_objects(availability_status_update(ss, "urn:uuid:x", STATUS_DELETED))
    for association in update.iter(f"{{{RIM}}}Association"):
        del association.attrib["associationType"]
    answer = _soap(validating, org, pki, "registry", update, ACTION_ITI57, _vihf(org))
    refused = parse_registry_response(parse_envelope(answer.content).body)
    assert refused.errors[0].error_code == "XDSRegistryMetadataError"
    assert "associationType" in refused.errors[0].code_context


def test_official_td21_request_passes_xsd(ref_dir: Path, org: OrgPki, schema_dir: Path) -> None:
    raw = ref_file(ref_dir, f"{SAMPLES}/TD2.1_-_Alimentation_requete.xml").read_bytes()
    boundary = raw.split(b"\n", 1)[0].strip()[2:].decode("ascii")
    content_type = f'multipart/related; boundary="{boundary}"; type="application/xop+xml"'
    core = DmpSandboxCore(
        DmpStore(),
        known_ins=[INS],
        trusted_ca_pem=org.ca_cert.read_bytes(),
        require_valid_signature=False,
        schemas=schema_dir,
    )
    answer = core.handle("repository", raw, content_type, "SAMPLE")
    assert answer.status == 200, answer.body
    message = decode_response(answer.body, answer.content_type)
    response = parse_registry_response(parse_envelope(message.root).body)
    assert response.ok
    assert [e.error_code for e in response.errors] == ["XDSRepositoryMetadataError"]  # XAdES
    assert len(core.store) == 2


def test_schemas_from_environment_and_bad_folder(
    org: OrgPki, schema_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def core(**kwargs: object) -> DmpSandboxCore:
        return DmpSandboxCore(DmpStore(), known_ins=[INS], trusted_ca_pem=None, **kwargs)  # type: ignore[arg-type]

    monkeypatch.delenv(IHE_SCHEMAS_ENV, raising=False)
    assert core().schema is None
    monkeypatch.setenv(IHE_SCHEMAS_ENV, str(schema_dir))
    assert core().schema is not None
    with pytest.raises(ConfigError):
        core(schemas=tmp_path)


# --- ITI-18 FindSubmissionSets / GetAssociations -------------------------------------------


def _registry_query(
    sandbox: DmpSandbox, org: OrgPki, pki: TestPki, query: etree._Element
) -> QueryResponse:
    answer = _soap(sandbox, org, pki, "registry", query, ACTION_ITI18, _vihf(org))
    assert answer.status_code == 200, answer.text
    return parse_adhoc_query_response(parse_envelope(answer.content).body)


def test_find_submission_sets_and_get_associations(
    pki: TestPki, org: OrgPki, tmp_path: Path
) -> None:
    db = tmp_path / "dmp.sqlite"
    with DmpSandbox(pki, org.ca_cert, db_path=db) as first:
        unique_id, response = _submit(first, org, pki)
        assert response.ok
    with DmpSandbox(pki, org.ca_cert, db_path=db) as sandbox:  # kept across a restart
        found = _registry_query(sandbox, org, pki, build_adhoc_query(find_submission_sets(PATIENT)))
        assert found.status.endswith(":Success") and found.errors == ()
        [ss] = found.objects.submission_sets
        assert ss.unique_id == unique_id + ".1" and ss.entry_uuid.startswith("urn:uuid:")
        assert ss.patient_id == PATIENT and ss.availability_status == STATUS_APPROVED
        refs = _registry_query(
            sandbox,
            org,
            pki,
            build_adhoc_query(find_submission_sets(PATIENT, return_type="ObjectRef")),
        )
        assert refs.object_refs == (ss.entry_uuid,)
        for query in (
            find_submission_sets(UNKNOWN),
            find_submission_sets(PATIENT, source_ids=["1.2.3"]),
            find_submission_sets(PATIENT, submission_time_from="20270101"),
            find_submission_sets(PATIENT, statuses=(STATUS_DELETED,)),
        ):
            empty = _registry_query(sandbox, org, pki, build_adhoc_query(query))
            assert empty.objects.submission_sets == (), query
        [entry] = _cda_entries(_find(sandbox, org, pki))
        associations = _registry_query(
            sandbox, org, pki, build_adhoc_query(get_associations([entry.entry_uuid]))
        ).objects.associations
        [member] = associations
        assert member.association_type == ASSOCIATION_HAS_MEMBER
        assert (member.source, member.target) == (ss.entry_uuid, entry.entry_uuid)
        assert member.submission_set_status == "Original"
        everything = _registry_query(
            sandbox, org, pki, build_adhoc_query(get_associations([ss.entry_uuid]))
        ).objects.associations
        assert sorted(a.association_type for a in everything) == sorted(
            [ASSOCIATION_HAS_MEMBER, ASSOCIATION_HAS_MEMBER, ASSOCIATION_SIGNS]
        )
        # parameters missing: XDSStoredQueryParamNumber
        bad = build_adhoc_query(find_submission_sets(PATIENT))
        adhoc = bad.find(f"{{{RIM}}}AdhocQuery")
        assert adhoc is not None and adhoc.get("id") == QUERY_FIND_SUBMISSION_SETS
        for slot in list(adhoc):
            adhoc.remove(slot)
        failed = _registry_query(sandbox, org, pki, bad)
        assert failed.errors[0].error_code == "XDSStoredQueryParamNumber"
