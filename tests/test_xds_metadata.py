"""segur_ris.xds: ebRIM round trips of the official DMP samples, XSD validity of everything
serialised, DocumentEntry derivation from CR-IMG documents, shipped value sets vs the JDV."""

from __future__ import annotations

import dataclasses
import email
import email.policy
import hashlib
import io
import json
from pathlib import Path
from typing import Any

import pytest
from lxml import etree

from segur_ris.cda import build_cda_n1, build_cda_n3, read_cda
from segur_ris.codes import OID_INS_NIR, OID_INS_NIR_TEST
from segur_ris.report import ImagingReport
from segur_ris.xds import (
    ASSOCIATION_HAS_MEMBER,
    ASSOCIATION_UPDATE_AVAILABILITY_STATUS,
    FORMAT_N1,
    FORMAT_N3,
    QUERY_FIND_DOCUMENTS,
    RESPONSE_FAILURE,
    STATUS_APPROVED,
    STATUS_ARCHIVED,
    STATUS_DELETED,
    VALUE_SETS,
    Code,
    DocumentEntry,
    DocumentRequest,
    PnrDocument,
    ProvideAndRegisterRequest,
    QueryResponse,
    RegistryError,
    RegistryResponse,
    RetrievedDocument,
    RetrieveResponse,
    Submission,
    SubmissionSet,
    XdsMetadataError,
    XdsRegistryError,
    availability_status_update,
    build_adhoc_query,
    build_adhoc_query_response,
    build_provide_and_register,
    build_registry_response,
    build_retrieve_request,
    build_retrieve_response,
    build_submit_objects,
    document_entry_from_cda,
    find_documents,
    find_documents_by_reference_id,
    find_submission_sets,
    get_associations,
    get_documents,
    metadata_update,
    parse_adhoc_query,
    parse_adhoc_query_response,
    parse_provide_and_register,
    parse_registry_response,
    parse_retrieve_request,
    parse_retrieve_response,
    parse_submit_objects,
    parse_xds_time,
    xds_time,
)
from tests.conftest import REPO_ROOT, ref_file
from tests.helpers_xds import XOP, load_schema, reconstitute

pytestmark = pytest.mark.refdata

RIM = "urn:oasis:names:tc:ebxml-regrep:xsd:rim:3.0"
LCM = "urn:oasis:names:tc:ebxml-regrep:xsd:lcm:3.0"
SAMPLES = "dmp/dmp-lps-package/DMP_LPS_Exemple_de_messages_1.0.1_1_-_v02.05.00"
KIT = "dmp/dmp-lps-package/kit-csharp-v2.06.01-templates"
JDV = "dmp/ansforge-TestContenuCDA-3-0/jeuxDeValeurs"
TERMINO = "dmp/ans-terminologies-1.12.0"
EXAMPLES = "dmp/ansforge-TestContenuCDA-3-0/ExemplesCDA"
INS_TEST = "279035121518989"


# --- helpers --------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def schemas(ref_dir: Path) -> dict[str, etree.XMLSchema]:
    return {
        key: load_schema(ref_dir, path)
        for key, path in {
            "ihe": "IHE/XDS.b_DocumentRepository.xsd",
            "query": "ebRS/query.xsd",
            "lcm": "ebRS/lcm.xsd",
            "rs": "ebRS/rs.xsd",
        }.items()
    }


def _valid(schema: etree.XMLSchema, element: etree._Element) -> None:
    document = etree.fromstring(etree.tostring(element))
    assert schema.validate(document), schema.error_log


def _body(path: Path) -> etree._Element:
    root = etree.parse(str(path)).getroot()
    body = root.find("{*}Body")
    return root if body is None else body[0]


def _pnr_root_part(path: Path) -> bytes:
    raw = path.read_bytes()
    boundary = raw.split(b"\r\n", 1)[0].split(b"\n", 1)[0].strip()[2:]
    header = (
        b'Content-Type: multipart/related; boundary="' + boundary + b'"; type="application/xop+xml"'
    )
    message = email.message_from_bytes(header + b"\r\n\r\n" + raw, policy=email.policy.compat32)
    parts = [p for p in message.walk() if not p.is_multipart()]
    root = next(p for p in parts if p.get("Content-ID") == "<rootpart@soapui.org>")
    payload = root.get_payload(decode=True)
    assert isinstance(payload, bytes)
    return payload


def _canon_slots(element: etree._Element) -> dict[str, list[str]]:
    slots: dict[str, list[str]] = {}
    for slot in element.findall(f"{{{RIM}}}Slot"):
        values = [(v.text or "").strip() for v in slot.iter(f"{{{RIM}}}Value")]
        slots.setdefault(str(slot.get("name")), []).extend(values)
    return slots


def _name(element: etree._Element, tag: str) -> str:
    found = element.find(f"{{{RIM}}}{tag}/{{{RIM}}}LocalizedString")
    return "" if found is None else found.get("value", "")


def _canon_object(element: etree._Element) -> dict[str, Any]:
    """The semantic content of one registry object (ids of sub-objects and labels ignored)."""
    keep = ("id", "lid", "status", "mimeType", "associationType", "sourceObject", "targetObject")
    attributes = {k: element.get(k) for k in keep if element.get(k)}
    if etree.QName(element).localname == "ExtrinsicObject":
        attributes["objectType"] = element.get("objectType")
    classifications = sorted(
        json.dumps(
            [
                c.get("classificationScheme") or c.get("classificationNode"),
                c.get("nodeRepresentation") or "",
                _canon_slots(c),
                _name(c, "Name"),
            ],
            sort_keys=True,
        )
        for c in element.findall(f"{{{RIM}}}Classification")
    )
    external = sorted(
        (str(e.get("identificationScheme")), str(e.get("value")))
        for e in element.findall(f"{{{RIM}}}ExternalIdentifier")
    )
    version = element.find(f"{{{RIM}}}VersionInfo")
    return {
        "tag": etree.QName(element).localname,
        "attributes": attributes,
        "slots": _canon_slots(element),
        "name": _name(element, "Name"),
        "description": _name(element, "Description"),
        "version": None if version is None else version.get("versionName"),
        "classifications": classifications,
        "external": external,
    }


def _canon_list(container: etree._Element) -> list[dict[str, Any]]:
    objects = container.find(f"{{{RIM}}}RegistryObjectList")
    assert objects is not None
    return sorted(
        (_canon_object(o) for o in objects if isinstance(o.tag, str)),
        key=lambda o: (o["tag"], o["attributes"].get("id", "")),
    )


def _namespaced(path: Path) -> etree._Element:
    """template_masquage.xml has no namespace: put it in lcm/rim as the kit does at run time."""
    root = etree.parse(str(path)).getroot()
    for element in root.iter():
        if isinstance(element.tag, str) and not element.tag.startswith("{"):
            element.tag = f"{{{RIM}}}{element.tag}"
    root.tag = f"{{{LCM}}}SubmitObjectsRequest"
    return root


def _pdf() -> bytes:
    from reportlab.pdfgen import canvas

    buffer = io.BytesIO()
    page = canvas.Canvas(buffer, invariant=True)
    page.drawString(72, 720, "Compte rendu d'imagerie")
    page.save()
    return buffer.getvalue()


def _report(**changes: Any) -> ImagingReport:
    data = json.loads((REPO_ROOT / "examples" / "report.json").read_text("utf-8"))
    for key, value in changes.items():
        data["patient"]["ins"][key] = value
    return ImagingReport.from_dict(data)


def _submission_set(entry_uuid: str = "SubmissionSet01") -> SubmissionSet:
    return SubmissionSet(
        entry_uuid=entry_uuid,
        unique_id="1.2.250.1.999.1.1.7898.1.42",
        source_id="1.2.250.1.999.1.1.7898",
        patient_id=f"{INS_TEST}^^^&{OID_INS_NIR_TEST}&ISO^NH",
        submission_time="20261124093500",
        content_type_code=Code("04", "1.2.250.1.213.2.2", "Hospitalisation de jour"),
        title="Compte rendu",
    )


# --- official samples: parse and serialise back -------------------------------------------


def test_pnr_sample_round_trip(ref_dir: Path, schemas: dict[str, etree.XMLSchema]) -> None:
    soap = _pnr_root_part(ref_file(ref_dir, f"{SAMPLES}/TD2.1_-_Alimentation_requete.xml"))
    request = parse_provide_and_register(soap)
    submission = request.submission
    assert submission.submission_set is not None
    assert submission.submission_set.unique_id == "1.2.250.1.999.1.1.7898.1.1622814651504"
    assert [d.entry_uuid for d in submission.documents] == ["DocumentME2", "Signature01"]
    doc = submission.documents[0]
    assert doc.class_code == Code("10", "1.2.250.1.213.1.1.4.1", "Compte rendu")
    assert doc.source_patient_info == (
        "PID-5|patb-quatre^LAURENCE^^^^^L",
        "PID-7|19070525",
        "PID-8|F",
    )
    assert doc.authors[0].institutions == (
        "CABINET DR LIBRE^^^^^&1.2.250.1.71.4.2.2&ISO^IDNST^^^499900063480001",
    )
    signature = submission.documents[1]
    assert [c.code for c in signature.confidentiality_codes] == [
        "N",
        "MASQUE_PS",
        "INVISIBLE_PATIENT",
    ]
    assert {a.association_type for a in submission.associations} == {
        ASSOCIATION_HAS_MEMBER,
        "urn:ihe:iti:2007:AssociationType:signs",
    }
    assert request.documents == (
        PnrDocument("documentME2", content_id="WS_DMP_TD2.1-DocumentME2.xml"),
        PnrDocument("Signature01", content_id="WS_DMP_TD2.1-SignatureXades.xml"),
    )
    rebuilt = build_provide_and_register(request)
    original = etree.fromstring(soap).find("{*}Body/{*}ProvideAndRegisterDocumentSetRequest")
    assert original is not None
    assert _canon_list(rebuilt[0]) == _canon_list(original[0])
    assert parse_provide_and_register(rebuilt) == request
    _valid(schemas["ihe"], reconstitute(rebuilt))


def test_pnr_inline_mode(schemas: dict[str, etree.XMLSchema]) -> None:
    cda = build_cda_n3(_report())
    entry = document_entry_from_cda(cda, environment_ins_oid=OID_INS_NIR_TEST)
    request = ProvideAndRegisterRequest(
        Submission(
            (_submission_set(),),
            (entry,),
            associations=(
                dataclasses.replace(
                    _has_member(),
                    target=entry.entry_uuid,
                ),
            ),
        ),
        (PnrDocument(entry.entry_uuid, data=cda),),
    )
    element = build_provide_and_register(request)
    _valid(schemas["ihe"], element)
    back = parse_provide_and_register(element)
    assert back == request
    assert back.documents[0].data == cda
    xop = dataclasses.replace(request, documents=(PnrDocument(entry.entry_uuid, content_id="d1"),))
    xop_element = build_provide_and_register(xop)
    include = xop_element.find(f".//{{{XOP}}}Include")
    assert include is not None and include.get("href") == "cid:d1"
    _valid(schemas["ihe"], reconstitute(xop_element))


def _has_member() -> Any:
    from segur_ris.xds import Association

    return Association(
        "assoc1", ASSOCIATION_HAS_MEMBER, "SubmissionSet01", "Document01", "Original"
    )


def test_find_documents_sample(ref_dir: Path, schemas: dict[str, etree.XMLSchema]) -> None:
    for path in (
        f"{SAMPLES}/TD3.1_-_Recherche_de_document_requete.xml",
        f"{KIT}/template_FindDocument.xml",
    ):
        original = _body(ref_file(ref_dir, path))
        query = parse_adhoc_query(original)
        assert query.query_id == QUERY_FIND_DOCUMENTS
        assert query.values("$XDSDocumentEntryPatientId") == (
            f"207058575627097^^^&{OID_INS_NIR_TEST}&ISO^NH",
        )
        assert query.values("$XDSDocumentEntryStatus") == (STATUS_APPROVED,)
        built = find_documents(f"207058575627097^^^&{OID_INS_NIR_TEST}&ISO^NH")
        assert {s.name: s.values for s in built.parameters} == {
            s.name: s.values for s in query.parameters
        }
        rebuilt = build_adhoc_query(query)
        assert parse_adhoc_query(rebuilt) == query
        assert etree.tostring(rebuilt[1], method="c14n") != b""
        _valid(schemas["query"], rebuilt)
        _valid(schemas["query"], original)


def test_query_response_sample(ref_dir: Path, schemas: dict[str, etree.XMLSchema]) -> None:
    original = _body(ref_file(ref_dir, f"{SAMPLES}/TD3.1_-_Recherche_de_document_reponse.xml"))
    response = parse_adhoc_query_response(original)
    assert response.status.endswith(":Success")
    documents = response.objects.documents
    assert len(documents) == 21
    first = documents[0]
    assert first.entry_uuid == first.logical_id == "urn:uuid:7953af1a-ba1c-11eb-816f-0050569e422e"
    assert first.hash == "af326fb44feb720121d2c277ce10f87407818089" and first.size == 2768
    assert first.repository_unique_id == "1.2.250.1.213.4.1.1.1.2"
    assert first.version == "1" and first.availability_status == STATUS_APPROVED
    assert first.authors[0].person.startswith("899900063480^Kit^Editeur")
    assert any(c.code == "INVISIBLE_PATIENT" for c in first.confidentiality_codes)
    rebuilt = build_adhoc_query_response(response)
    assert _canon_list(rebuilt) == _canon_list(original)
    assert parse_adhoc_query_response(rebuilt) == response
    _valid(schemas["query"], rebuilt)


def test_retrieve_request_sample(ref_dir: Path, schemas: dict[str, etree.XMLSchema]) -> None:
    original = _body(ref_file(ref_dir, f"{SAMPLES}/TD3.2_-_Consultation_dun_document_requete.xml"))
    requests = parse_retrieve_request(original)
    assert requests == (
        DocumentRequest("1.2.250.1.213.4.1.1.1.2", "1.2.250.1.999.1.1.7898.1.995657292"),
    )
    rebuilt = build_retrieve_request(requests)
    assert parse_retrieve_request(rebuilt) == requests
    _valid(schemas["ihe"], rebuilt)


@pytest.mark.parametrize(
    ("template", "status"),
    [("template_depublication.xml", STATUS_DELETED), ("template_archivage.xml", STATUS_ARCHIVED)],
)
def test_availability_status_templates(
    ref_dir: Path, schemas: dict[str, etree.XMLSchema], template: str, status: str
) -> None:
    original = _body(ref_file(ref_dir, f"{KIT}/{template}"))
    submission = parse_submit_objects(original)
    (association,) = submission.associations
    assert association.association_type == ASSOCIATION_UPDATE_AVAILABILITY_STATUS
    assert (association.original_status, association.new_status) == (STATUS_APPROVED, status)
    rebuilt = build_submit_objects(submission)
    assert _canon_list(rebuilt) == _canon_list(original)
    assert parse_submit_objects(rebuilt) == submission
    _valid(schemas["lcm"], rebuilt)  # the template itself lacks classifiedObject/registryObject
    ss = submission.submission_set
    assert ss is not None
    made = availability_status_update(ss, association.target, status)
    assert _canon_list(build_submit_objects(made)) == _canon_list(original)


def test_masquage_template(ref_dir: Path, schemas: dict[str, etree.XMLSchema]) -> None:
    original = _namespaced(ref_file(ref_dir, f"{KIT}/template_masquage.xml"))
    submission = parse_submit_objects(original)
    (entry,) = submission.documents
    assert entry.logical_id == "urn:uuid:4f196ae8-5549-11e9-9478-0050569e422e"
    assert entry.version == "1"
    assert [c.code for c in entry.confidentiality_codes] == ["N", "MASQUE_PS"]
    (association,) = submission.associations
    assert (association.submission_set_status, association.previous_version) == ("Original", "5")
    rebuilt = build_submit_objects(submission)
    assert _canon_list(rebuilt) == _canon_list(original)
    _valid(schemas["lcm"], rebuilt)
    ss = submission.submission_set
    assert ss is not None
    made = metadata_update(ss, entry, previous_version="5")
    assert _canon_list(build_submit_objects(made)) == _canon_list(original)


def test_template_xds(ref_dir: Path, schemas: dict[str, etree.XMLSchema]) -> None:
    original = etree.parse(str(ref_file(ref_dir, f"{KIT}/template_XDS.xml"))).getroot()
    submission = parse_submit_objects(original)
    assert submission.submission_set is not None and submission.documents
    rebuilt = build_submit_objects(submission)
    assert _canon_list(rebuilt) == _canon_list(original)
    assert parse_submit_objects(rebuilt) == submission
    _valid(schemas["lcm"], rebuilt)


def test_registry_responses(ref_dir: Path, schemas: dict[str, etree.XMLSchema]) -> None:
    ok = parse_registry_response(
        ref_file(ref_dir, f"{SAMPLES}/TD2.1_-_Alimentation_reponse.xml").read_bytes()
    )
    assert ok.ok and ok.errors == ()
    ok.raise_for_errors()
    failure = RegistryResponse(
        RESPONSE_FAILURE,
        (
            RegistryError(
                "XDSUnknownPatientId",
                "Patient inconnu",
                location="DocumentME2",
            ),
            RegistryError(
                "XDSRegistryError",
                "avertissement",
                severity="urn:oasis:names:tc:ebxml-regrep:ErrorSeverityType:Warning",
            ),
        ),
    )
    element = build_registry_response(failure)
    _valid(schemas["rs"], element)
    parsed = parse_registry_response(element)
    assert parsed == failure
    with pytest.raises(XdsRegistryError) as caught:
        parsed.raise_for_errors()
    assert caught.value.code == "XDSUnknownPatientId"
    assert caught.value.location == "DocumentME2"
    assert caught.value.severity.endswith(":Error")
    assert len(caught.value.errors) == 2
    query_failure = QueryResponse(RESPONSE_FAILURE, errors=failure.errors)
    with pytest.raises(XdsRegistryError):
        parse_adhoc_query_response(build_adhoc_query_response(query_failure)).raise_for_errors()


def test_retrieve_response(schemas: dict[str, etree.XMLSchema]) -> None:
    response = RetrieveResponse(
        documents=(
            RetrievedDocument("1.2.3", "1.2.3.4", "text/xml", data=b"<doc/>"),
            RetrievedDocument(
                "1.2.3",
                "1.2.3.5",
                "text/xml",
                content_id="1.urn:uuid:x@urn%3Aihe%3Aiti%3Axds-b%3A2007",
            ),
        )
    )
    element = build_retrieve_response(response)
    _valid(schemas["ihe"], reconstitute(element))
    parsed = parse_retrieve_response(element)
    assert parsed == response
    assert parsed.documents[1].resolve(lambda cid: cid.encode()) == (
        b"1.urn:uuid:x@urn%3Aihe%3Aiti%3Axds-b%3A2007"
    )
    parsed.raise_for_errors()


def test_stored_queries(schemas: dict[str, etree.XMLSchema]) -> None:
    patient = f"{INS_TEST}^^^&{OID_INS_NIR_TEST}&ISO^NH"
    queries = [
        find_documents(
            patient,
            class_codes=(Code("31", "1.2.250.1.213.1.1.4.1"),),
            creation_time_from="20260101",
            author_person="O'Brien%",
        ),
        get_documents(entry_uuids=("urn:uuid:1", "urn:uuid:2")),
        get_documents(unique_ids=("1.2.3",)),
        find_submission_sets(patient, submission_time_from="20260101000000"),
        get_associations(("urn:uuid:1",)),
        find_documents_by_reference_id(
            patient, ("ACC1^^^&1.2.3&ISO^urn:ihe:iti:xds:2013:accession",)
        ),
    ]
    for query in queries:
        element = build_adhoc_query(query)
        _valid(schemas["query"], element)
        assert parse_adhoc_query(element) == query
    assert queries[0].values("$XDSDocumentEntryClassCode") == ("31^^1.2.250.1.213.1.1.4.1",)
    assert queries[0].values("$XDSDocumentEntryAuthorPerson") == ("O'Brien%",)
    assert queries[1].values("$XDSDocumentEntryEntryUUID") == ("urn:uuid:1", "urn:uuid:2")
    assert queries[5].values("$XDSDocumentEntryReferenceIdList") == (
        "ACC1^^^&1.2.3&ISO^urn:ihe:iti:xds:2013:accession",
    )


# --- DocumentEntry from a CR-IMG --------------------------------------------------------------


def test_entry_from_built_n3(schemas: dict[str, etree.XMLSchema]) -> None:
    cda = build_cda_n3(_report())
    entry = document_entry_from_cda(
        cda, environment_ins_oid=OID_INS_NIR_TEST, repository_unique_id="1.2.250.1.213.4.1.1.1.2"
    )
    assert entry.unique_id == "1.2.250.1.999.1.1.20261124.1"
    assert entry.patient_id == f"{INS_TEST}^^^&{OID_INS_NIR_TEST}&ISO^NH"
    assert entry.source_patient_id == "000003^^^&1.2.250.1.999.1.2&ISO^PI"
    assert entry.source_patient_info == (
        "PID-5|PAT-TROIS^DOMINIQUE^^^^^L",
        "PID-7|19790328",
        "PID-8|F",
    )
    assert entry.type_code == Code("18748-4", "2.16.840.1.113883.6.1", "CR d'imagerie médicale")
    assert entry.class_code == Code("31", "1.2.250.1.213.1.1.4.1", "Imagerie médicale")
    assert entry.format_code is not None and entry.format_code.code == FORMAT_N3
    assert entry.format_code.scheme == "1.3.6.1.4.1.19376.1.2.3"
    assert entry.confidentiality_codes == (Code("N", "2.16.840.1.113883.5.25", "Normal"),)
    assert entry.healthcare_facility_type_code == Code(
        "SA07", "1.2.250.1.71.4.2.4", "Cabinet individuel"
    )
    assert entry.practice_setting_code == Code(
        "AMBULATOIRE", "1.2.250.1.213.1.1.4.9", "Ambulatoire"
    )
    assert entry.event_codes == (
        Code("CT", "1.2.840.10008.2.16.4", "Tomodensitométrie"),
        Code("302551006", "2.16.840.1.113883.6.96", "Thorax entier"),
        Code("ZBQK002", "1.2.250.1.215.300.1", "Scanographie du thorax"),
    )
    assert entry.reference_ids == (
        "ACC-2026-000123^^^&1.2.250.1.999.1.3&ISO^urn:ihe:iti:xds:2013:accession",
        "1.2.250.1.999.1.4.20261124.1^^^^urn:ihe:iti:xds:2016:studyInstanceUID",
        "DEM-2026-42^^^&1.2.250.1.999.1.5&ISO^urn:ihe:iti:xds:2013:order",
    )
    assert entry.language_code == "fr-FR" and entry.mime_type == "text/xml"
    # 10:30+01:00, 09:40+01:00, 09:55+01:00 → UTC
    assert (entry.creation_time, entry.service_start_time, entry.service_stop_time) == (
        "20261124093000",
        "20261124084000",
        "20261124085500",
    )
    assert entry.hash == hashlib.sha1(cda).hexdigest() and entry.size == len(cda)
    assert entry.title == "Compte rendu d'imagerie médicale"
    (author,) = entry.authors
    assert author.person == "810112345678^RADIOLOGUE^Jeanne^^^^^^&1.2.250.1.71.4.2.1&ISO^D^^^IDNPS"
    assert author.institutions == (
        "Centre d'imagerie de démonstration^^^^^&1.2.250.1.71.4.2.2&ISO^IDNST^^^1750000001",
    )
    assert author.specialties == (
        "G15_10/SM44^Médecin - Radio-diagnostic (SM)^1.2.250.1.213.1.1.4.5",
    )
    assert entry.legal_authenticator == author.person
    assert entry.repository_unique_id == "1.2.250.1.213.4.1.1.1.2"
    element = build_submit_objects(Submission((_submission_set(),), (entry,)))
    _valid(schemas["lcm"], element)
    assert parse_submit_objects(element).documents == (entry,)


def test_entry_from_n1_and_cda_document() -> None:
    cda = build_cda_n1(_report(), _pdf())
    entry = document_entry_from_cda(cda, environment_ins_oid=None)
    assert entry.format_code is not None and entry.format_code.code == FORMAT_N1
    parsed = document_entry_from_cda(
        read_cda(cda),
        environment_ins_oid=None,
        practice_setting=entry.practice_setting_code,
    )
    assert parsed == dataclasses.replace(entry, hash="", size=None)
    with pytest.raises(XdsMetadataError) as caught:
        document_entry_from_cda(read_cda(cda), environment_ins_oid=None)
    assert caught.value.field == "practiceSettingCode"


def test_environment_oid_substitution() -> None:
    qualification = build_cda_n3(_report(oid=OID_INS_NIR))
    entry = document_entry_from_cda(qualification, environment_ins_oid=OID_INS_NIR_TEST)
    assert entry.patient_id == f"{INS_TEST}^^^&{OID_INS_NIR_TEST}&ISO^NH"
    kept = document_entry_from_cda(qualification, environment_ins_oid=None)
    assert kept.patient_id == f"{INS_TEST}^^^&{OID_INS_NIR}&ISO^NH"
    with pytest.raises(XdsMetadataError) as caught:
        document_entry_from_cda(qualification, environment_ins_oid="1.2.250.1.213.1.4.9")
    assert caught.value.field == "patientId"


@pytest.mark.parametrize(
    ("flags", "codes"),
    [
        ({"masque_ps": True}, ["N", "MASQUE_PS"]),
        ({"invisible_patient": True}, ["N", "INVISIBLE_PATIENT"]),
        ({"invisible_representants_legaux": True}, ["N", "INVISIBLE_REPRESENTANTS_LEGAUX"]),
        (
            {"masque_ps": True, "invisible_patient": True, "invisible_representants_legaux": True},
            ["N", "MASQUE_PS", "INVISIBLE_PATIENT", "INVISIBLE_REPRESENTANTS_LEGAUX"],
        ),
    ],
)
def test_visibility_flags(flags: dict[str, bool], codes: list[str]) -> None:
    entry = document_entry_from_cda(
        build_cda_n3(_report()),
        environment_ins_oid=OID_INS_NIR_TEST,
        masque_ps=flags.get("masque_ps", False),
        invisible_patient=flags.get("invisible_patient", False),
        invisible_representants_legaux=flags.get("invisible_representants_legaux", False),
    )
    assert [c.code for c in entry.confidentiality_codes] == codes
    assert all(c.scheme == "1.2.250.1.213.1.1.4.13" for c in entry.confidentiality_codes[1:])


def test_wrong_values_name_field_and_jdv() -> None:
    cda = build_cda_n3(_report())
    with pytest.raises(XdsMetadataError) as caught:
        document_entry_from_cda(
            cda,
            environment_ins_oid=None,
            practice_setting=Code("CLINIQUE_VETO", "1.2.250.1.213.1.1.4.9"),
        )
    error = caught.value
    assert (error.field, error.value, error.value_set) == (
        "practiceSettingCode",
        "CLINIQUE_VETO",
        "JDV_J04-XdsPracticeSettingCode-CISIS",
    )
    assert error.code == "XDSRegistryMetadataError" and "JDV_J04" in str(error)
    with pytest.raises(XdsMetadataError) as caught:
        document_entry_from_cda(
            cda, environment_ins_oid=None, facility_type=Code("SA99", "1.2.250.1.71.4.2.4")
        )
    assert caught.value.field == "healthcareFacilityTypeCode"
    assert caught.value.value_set == "JDV_J02-XdsHealthcareFacilityTypeCode-CISIS"
    with pytest.raises(XdsMetadataError) as caught:
        document_entry_from_cda(
            cda, environment_ins_oid=None, class_code=Code("99", "1.2.250.1.213.1.1.4.1")
        )
    assert caught.value.field == "classCode" and caught.value.value_set == "JDV_J57-ClassCode-DMP"
    bad_modality = cda.replace(b'code="CT"', b'code="XX"')
    with pytest.raises(XdsMetadataError) as caught:
        document_entry_from_cda(bad_modality, environment_ins_oid=None)
    assert caught.value.field == "eventCodeList"


@pytest.mark.parametrize(
    ("name", "level"),
    [("IMG_CR_IMG_2024.01.xml", 3), ("IMG_CR_IMG_2024.01_CDA-R2-Niveau-1.xml", 1)],
)
def test_entry_from_official_examples(ref_dir: Path, name: str, level: int) -> None:
    data = ref_file(ref_dir, f"{EXAMPLES}/{name}").read_bytes()
    entry = document_entry_from_cda(data, environment_ins_oid=OID_INS_NIR_TEST, masque_ps=True)
    assert entry.format_code is not None
    assert entry.format_code.code == (FORMAT_N3 if level == 3 else FORMAT_N1)
    assert entry.type_code is not None and entry.type_code.code == "18748-4"
    assert entry.class_code is not None and entry.class_code.code == "31"
    assert entry.patient_id.endswith(f"^^^&{OID_INS_NIR_TEST}&ISO^NH")
    assert [c.code for c in entry.confidentiality_codes] == ["N", "MASQUE_PS"]
    assert any(r.endswith("^urn:ihe:iti:xds:2013:accession") for r in entry.reference_ids)
    assert any(r.endswith("^urn:ihe:iti:xds:2016:studyInstanceUID") for r in entry.reference_ids)
    assert Code("CT", "1.2.840.10008.2.16.4", "Tomodensitométrie") in entry.event_codes
    assert entry.authors[0].person.endswith("&1.2.250.1.71.4.2.1&ISO^D^^^IDNPS")
    assert len(entry.creation_time) == 14 and entry.size == len(data)


def test_xds_time() -> None:
    import datetime as dt

    paris = dt.timezone(dt.timedelta(hours=2))
    assert xds_time(dt.datetime(2026, 6, 1, 1, 30, tzinfo=paris)) == "20260531233000"
    assert parse_xds_time("20260531") == dt.datetime(2026, 5, 31, tzinfo=dt.UTC)
    with pytest.raises(XdsMetadataError):
        parse_xds_time("2026-05-31")


# --- shipped value sets vs the JDV files ----------------------------------------------------

#: shipped name → file: ``JDV_J02-X-CISIS`` is ``JDV_J02_X_CISIS.xml`` / ``JDV-J57-X-DMP.json``.
_SVS = {
    name: name.replace("-", "_") + ".xml"
    for name in (
        "JDV_J01-XdsAuthorSpecialty-CISIS",
        "JDV_J02-XdsHealthcareFacilityTypeCode-CISIS",
        "JDV_J04-XdsPracticeSettingCode-CISIS",
        "JDV_J07-XdsTypeCode-CISIS",
        "JDV_J231-XdsTypesIdentifiantsReferenceId-DMP",
        "JDV_ModaliteAcquisition-CISIS",
        "JDV_RegionAnatomique-CISIS",
    )
}
_FHIR = {
    name: name.replace("_", "-") + ".json"
    for name in (
        "JDV_J57-ClassCode-DMP",
        "JDV_J58-ConfidentialityCode-DMP",
        "JDV_J60-FormatCode-DMP",
    )
}


@pytest.mark.parametrize("name", sorted(_SVS))
def test_shipped_svs_value_sets(ref_dir: Path, name: str) -> None:
    root = etree.parse(str(ref_file(ref_dir, f"{JDV}/{_SVS[name]}"))).getroot()
    value_set = root.find("{*}ValueSet")
    assert value_set is not None
    expected = sorted(
        (str(c.get("code")), str(c.get("codeSystem")), str(c.get("displayName")))
        for c in value_set.iter("{*}Concept")
    )
    shipped = VALUE_SETS[name]
    assert shipped.oid == value_set.get("id")
    assert sorted(shipped.concepts) == expected


@pytest.mark.parametrize("name", sorted(_FHIR))
def test_shipped_fhir_value_sets(ref_dir: Path, name: str) -> None:
    data = json.loads(ref_file(ref_dir, f"{TERMINO}/{_FHIR[name]}").read_text("utf-8"))
    expected = sorted(
        (c["code"], c["display"]) for part in data["compose"]["include"] for c in part["concept"]
    )
    shipped = VALUE_SETS[name]
    assert f"urn:oid:{shipped.oid}" == data["identifier"][0]["value"]
    assert sorted((code, display) for code, _, display in shipped.concepts) == expected


def test_j58_against_cisis_j08(ref_dir: Path) -> None:
    """J58 (DMP) and J08 (CI-SIS) carry the same codes; J08 gives their code systems."""
    root = etree.parse(str(ref_file(ref_dir, f"{JDV}/JDV_J08_XdsConfidentialityCode_CISIS.xml")))
    expected = sorted(
        (str(c.get("code")), str(c.get("codeSystem")), str(c.get("displayName")))
        for c in root.iter("{*}Concept")
    )
    assert sorted(VALUE_SETS["JDV_J58-ConfidentialityCode-DMP"].concepts) == expected


def test_document_entry_is_frozen() -> None:
    entry = DocumentEntry("Document01", "1.2.3", "x^^^&1.2&ISO^NH")
    with pytest.raises(dataclasses.FrozenInstanceError):
        entry.title = "x"  # type: ignore[misc]
