"""XDS-I.b DocumentEntry of a KOS: values, ebRIM validity (IHE XSD), the ANS DRIMbox sample."""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import json
from pathlib import Path
from typing import Any

import pytest
from lxml import etree

from segur_ris.cda import build_cda_n3
from segur_ris.config import InsOids
from segur_ris.dicom._kos import KosInstance, KosSeries, build_kos, read_kos
from segur_ris.errors import KosError, XdsMetadataError
from segur_ris.report import ImagingReport
from segur_ris.xds import (
    ASSOCIATION_HAS_MEMBER,
    Association,
    Author,
    Code,
    DocumentEntry,
    PnrDocument,
    ProvideAndRegisterRequest,
    Submission,
    SubmissionSet,
    build_provide_and_register,
    document_entry_from_cda,
    parse_provide_and_register,
)
from segur_ris.xds._kos import FORMAT_KOS, KOS_MIME_TYPE, KOS_TITLE, document_entry_from_kos
from tests.drimbox_fixtures import (
    ACCESSION,
    INS,
    INS_OID,
    MR_IMAGE,
    STUDY_UID,
    make_study,
)
from tests.helpers_xds import load_schema, reconstitute

REPO_ROOT = Path(__file__).resolve().parents[1]
RIM = "urn:oasis:names:tc:ebxml-regrep:xsd:rim:3.0"
KOS_UID = "1.2.250.1.999.1.8.2"
PATIENT = f"{INS}^^^&{INS_OID}&ISO^NH"

# Values of the ANS DRIMbox validator sample (ansforge/DRIM-M_DATA, "Echantillons
# validateurs/Validateur XDS/XDS.xml" @208669d4, not in ../shared/ref: transcribed here).
ANS_SAMPLE = {
    "mimeType": "application/dicom",
    "classCode": ("31", "1.2.250.1.213.1.1.4.1"),
    "typeCode": ("IMG-KOS", "1.2.250.1.213.1.1.4.12"),
    "formatCode": ("1.2.840.10008.5.1.4.1.1.88.59", "1.2.840.10008.2.6.1"),
    "confidentialityCode": ("N", "2.16.840.1.113883.5.25"),
    "practiceSettingCode": ("AMBULATOIRE", "1.2.250.1.213.1.1.4.9"),
    "title": "Reference d'Objets d'un Examen d'Imagerie",
    "languageCode": "fr-FR",
    "referenceIdList": (
        "7252295367250016^^^&1.2.840.113619.6.196&ISO^urn:ihe:iti:xds:2013:accession",
        "12989855966^^^&2.16.840.1.113883.6.96&ISO^urn:ihe:iti:xds:2013:order",
    ),
}
# ebRIM classification schemes used by the sample for each code (IHE ITI TF-3 4.2.5)
SCHEMES = {
    "urn:uuid:41a5887f-8865-4c09-adf7-e362475b143a": "classCode",
    "urn:uuid:f0306f51-975f-434e-a61c-c59651d33983": "typeCode",
    "urn:uuid:a09d5840-386c-46f2-b5ad-9c3699a4309d": "formatCode",
    "urn:uuid:f4f85eac-e6cb-4883-b524-f2705394840f": "confidentialityCode",
    "urn:uuid:cccf5598-8b07-4b77-a05e-ae952c785ead": "practiceSettingCode",
    "urn:uuid:2c6b8cb7-8b2a-4051-b291-b1ae6a575ef4": "eventCodeList",
}


@pytest.fixture(scope="module")
def xds_schema(ref_dir: Path) -> etree.XMLSchema:
    return load_schema(ref_dir, "IHE/XDS.b_DocumentRepository.xsd")


@pytest.fixture(scope="module")
def kos() -> bytes:
    return build_kos(
        make_study(), sop_instance_uid=KOS_UID, created=dt.datetime(2026, 11, 24, 12, 5)
    )


@pytest.fixture(scope="module")
def report_entry() -> DocumentEntry:
    data = json.loads((REPO_ROOT / "examples" / "report.json").read_text("utf-8"))
    cda = build_cda_n3(ImagingReport.from_dict(data))
    return document_entry_from_cda(cda, environment_ins_oid=INS_OID)


@pytest.fixture(scope="module")
def entry(kos: bytes, report_entry: DocumentEntry) -> DocumentEntry:
    return document_entry_from_kos(kos, environment_ins_oid=INS_OID, report_entry=report_entry)


def test_entry_values(entry: DocumentEntry, kos: bytes, report_entry: DocumentEntry) -> None:
    assert entry.mime_type == KOS_MIME_TYPE == "application/dicom"
    assert entry.unique_id == KOS_UID == read_kos(kos).sop_instance_uid
    assert entry.patient_id == PATIENT
    assert entry.class_code == Code("31", "1.2.250.1.213.1.1.4.1", "Imagerie médicale")
    assert entry.type_code is not None and entry.type_code.code == "IMG-KOS"
    assert entry.type_code.scheme == "1.2.250.1.213.1.1.4.12"
    assert entry.format_code is not None
    assert (entry.format_code.code, entry.format_code.scheme) == (
        FORMAT_KOS,
        "1.2.840.10008.2.6.1",
    )
    assert [c.code for c in entry.confidentiality_codes] == ["N"]
    assert entry.hash == hashlib.sha1(kos).hexdigest()
    assert entry.size == len(kos)
    assert entry.title == KOS_TITLE
    assert entry.language_code == "fr-FR"
    # KOS created 12:05 Paris time (UTC+1 in November)
    assert entry.creation_time == "20261124110500"
    # modalities of the series (the SR series is no acquisition modality) + region of the CR
    assert [(c.code, c.scheme) for c in entry.event_codes] == [
        ("CT", "1.2.840.10008.2.16.4"),
        ("302551006", "2.16.840.1.113883.6.96"),
    ]
    # the same identifiers, written the same way, as the CR's entry
    assert set(entry.reference_ids) == set(report_entry.reference_ids)
    assert entry.reference_ids[0] == (
        f"{ACCESSION}^^^&1.2.250.1.999.1.3&ISO^urn:ihe:iti:xds:2013:accession"
    )
    assert f"{STUDY_UID}^^^^urn:ihe:iti:xds:2016:studyInstanceUID" in entry.reference_ids
    # from the CR: authors, facility, practice setting, legal authenticator, service times
    assert entry.authors == report_entry.authors
    assert entry.healthcare_facility_type_code == report_entry.healthcare_facility_type_code
    assert entry.practice_setting_code == report_entry.practice_setting_code
    assert entry.legal_authenticator == report_entry.legal_authenticator
    assert entry.service_start_time == report_entry.service_start_time
    assert entry.source_patient_id == "000003^^^&1.2.250.1.999.1.2&ISO^PI"
    assert entry.source_patient_info == (
        "PID-5|PAT-TROIS^DOMINIQUE^^^^^L",
        "PID-7|19790328",
        "PID-8|F",
    )


def test_values_match_the_ans_drimbox_sample(entry: DocumentEntry) -> None:
    assert entry.mime_type == ANS_SAMPLE["mimeType"]
    assert entry.title == ANS_SAMPLE["title"]
    assert entry.language_code == ANS_SAMPLE["languageCode"]
    for name, attribute in (
        ("classCode", entry.class_code),
        ("typeCode", entry.type_code),
        ("formatCode", entry.format_code),
        ("practiceSettingCode", entry.practice_setting_code),
        ("confidentialityCode", entry.confidentiality_codes[0]),
    ):
        assert attribute is not None
        assert (attribute.code, attribute.scheme) == ANS_SAMPLE[name], name
    # referenceIdList entries have the sample's CXi shape: value^^^&OID&ISO^type
    sample_shapes = {ref.split("^", 1)[1].split("&")[0] for ref in ANS_SAMPLE["referenceIdList"]}
    assert {ref.split("^", 1)[1].split("&")[0] for ref in entry.reference_ids[::2]} == sample_shapes


def _submission(entry: DocumentEntry, document: PnrDocument) -> ProvideAndRegisterRequest:
    ss = SubmissionSet(
        entry_uuid="SubmissionSet01",
        unique_id="1.2.250.1.999.1.1.7898.1.43",
        source_id="1.2.250.1.999.1.1.7898",
        patient_id=entry.patient_id,
        submission_time="20261124113000",
        content_type_code=Code("04", "1.2.250.1.213.2.2", "Hospitalisation de jour"),
        authors=entry.authors[:1],
    )
    association = Association(
        "association01",
        ASSOCIATION_HAS_MEMBER,
        ss.entry_uuid,
        entry.entry_uuid,
        submission_set_status="Original",
    )
    return ProvideAndRegisterRequest(
        Submission((ss,), (entry,), associations=(association,)), (document,)
    )


def test_ebrim_is_valid_and_round_trips(
    entry: DocumentEntry, kos: bytes, xds_schema: etree.XMLSchema
) -> None:
    request = _submission(entry, PnrDocument(entry.entry_uuid, data=kos))
    element = build_provide_and_register(request)
    document = etree.fromstring(etree.tostring(element))
    assert xds_schema.validate(document), xds_schema.error_log
    back = parse_provide_and_register(element)
    assert back == request
    assert back.documents[0].data == kos
    extrinsic = element.find(f".//{{{RIM}}}ExtrinsicObject")
    assert extrinsic is not None and extrinsic.get("mimeType") == "application/dicom"
    found: dict[str, list[tuple[str, str]]] = {}
    for classification in extrinsic.iter(f"{{{RIM}}}Classification"):
        name = SCHEMES.get(classification.get("classificationScheme", ""))
        if name is None:
            continue
        scheme = classification.find(f"{{{RIM}}}Slot/{{{RIM}}}ValueList/{{{RIM}}}Value")
        assert scheme is not None
        found.setdefault(name, []).append(
            (classification.get("nodeRepresentation", ""), scheme.text or "")
        )
    # same classification schemes and codes as the ANS sample
    for name in ("classCode", "typeCode", "formatCode", "practiceSettingCode"):
        assert found[name] == [ANS_SAMPLE[name]], name
    assert ("CT", "1.2.840.10008.2.16.4") in found["eventCodeList"]


def test_ebrim_with_xop_include_is_valid(entry: DocumentEntry, xds_schema: etree.XMLSchema) -> None:
    element = build_provide_and_register(
        _submission(entry, PnrDocument(entry.entry_uuid, content_id="kos1@segur-ris"))
    )
    copy = reconstitute(element, b"DICM")
    assert xds_schema.validate(copy), xds_schema.error_log


def test_from_a_manifest_without_report(kos: bytes) -> None:
    author = Author(person="810112345678^RADIOLOGUE^Jeanne^^^^^^&1.2.250.1.71.4.2.1&ISO^D^^^IDNPS")
    entry = document_entry_from_kos(
        read_kos(kos),
        environment_ins_oid=InsOids("1.2.250.1.213.1.4.8", "1.2.250.1.213.1.4.9"),
        authors=(author,),
        facility_type=Code("SA07", "1.2.250.1.71.4.2.4"),
        practice_setting=Code("AMBULATOIRE", "1.2.250.1.213.1.1.4.9"),
        anatomical_regions=(Code("67734004", "2.16.840.1.113883.6.96", "thorax"),),
        modalities=("CT", "MR"),
        masque_ps=True,
        invisible_patient=True,
    )
    assert entry.patient_id == f"{INS}^^^&1.2.250.1.213.1.4.8&ISO^NH"  # production OID
    assert entry.hash == "" and entry.size is None
    assert [c.code for c in entry.event_codes] == ["CT", "MR", "67734004"]
    assert [c.code for c in entry.confidentiality_codes] == ["N", "MASQUE_PS", "INVISIBLE_PATIENT"]
    assert entry.healthcare_facility_type_code is not None
    assert entry.healthcare_facility_type_code.display  # display from the JDV
    assert entry.service_start_time == "20261124084000"  # 09:40 Paris → UTC
    assert entry.legal_authenticator == ""


def test_kos_of_an_mr_study(kos: bytes, report_entry: DocumentEntry) -> None:
    study = make_study(
        series=(KosSeries("1.2.250.1.999.1.6.5", "MR", (KosInstance(MR_IMAGE, "1.2.9.5"),)),)
    )
    entry = document_entry_from_kos(
        build_kos(study), environment_ins_oid=None, report_entry=report_entry
    )
    assert entry.event_codes[0].code == "MR"


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({}, "healthcareFacilityTypeCode"),
        ({"facility_type": Code("SA07", "1.2.250.1.71.4.2.4")}, "practiceSettingCode"),
        (
            {
                "facility_type": Code("SA07", "1.2.250.1.71.4.2.4"),
                "practice_setting": Code("AMBULATOIRE", "1.2.250.1.213.1.1.4.9"),
            },
            "author",
        ),
        ({"facility_type": Code("XX99", "1.2.250.1.71.4.2.4")}, "healthcareFacilityTypeCode"),
        ({"environment_ins_oid": "1.2.250.1.213.1.4.9"}, "patientId"),
    ],
)
def test_missing_or_invalid_values(kos: bytes, kwargs: dict[str, Any], field: str) -> None:
    arguments: dict[str, Any] = {"environment_ins_oid": INS_OID, **kwargs}
    with pytest.raises(XdsMetadataError) as caught:
        document_entry_from_kos(kos, **arguments)
    assert caught.value.field == field
    assert caught.value.code == "XDSRegistryMetadataError"


def test_unknown_modality_is_refused(kos: bytes, report_entry: DocumentEntry) -> None:
    with pytest.raises(XdsMetadataError) as caught:
        document_entry_from_kos(
            kos, environment_ins_oid=INS_OID, report_entry=report_entry, modalities=("ZZ",)
        )
    assert caught.value.field == "eventCodeList" and caught.value.value == "ZZ"
    only_sr = make_study(
        series=(
            KosSeries("1.2.9.7", "SR", (KosInstance("1.2.840.10008.5.1.4.1.1.88.22", "1.2.9.8"),)),
        )
    )
    with pytest.raises(XdsMetadataError, match="aucune modalité"):
        document_entry_from_kos(
            build_kos(only_sr), environment_ins_oid=INS_OID, report_entry=report_entry
        )


def test_report_of_another_patient_or_exam_is_refused(
    kos: bytes, report_entry: DocumentEntry
) -> None:
    other_patient = dataclasses.replace(
        report_entry, patient_id="180032B02004885^^^&1.2.250.1.213.1.4.9&ISO^NH"
    )
    with pytest.raises(XdsMetadataError) as caught:
        document_entry_from_kos(kos, environment_ins_oid=INS_OID, report_entry=other_patient)
    assert caught.value.field == "patientId"
    other_exam = dataclasses.replace(
        report_entry,
        reference_ids=("OTHER-ACC^^^&1.2.250.1.999.1.3&ISO^urn:ihe:iti:xds:2013:accession",),
    )
    with pytest.raises(XdsMetadataError) as caught:
        document_entry_from_kos(kos, environment_ins_oid=INS_OID, report_entry=other_exam)
    assert caught.value.field == "referenceIdList"


def test_not_a_kos(report_entry: DocumentEntry) -> None:
    with pytest.raises(KosError):
        document_entry_from_kos(
            b"\x00" * 200, environment_ins_oid=INS_OID, report_entry=report_entry
        )
    with pytest.raises(TypeError):
        document_entry_from_kos("kos.dcm", environment_ins_oid=INS_OID)  # type: ignore[arg-type]
