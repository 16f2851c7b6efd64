"""One exam end to end: order (HL7) → worklist item → CDA CR-IMG → KOS → XDS metadata of both,
then the CR and the KOS submitted to the sandbox DMP and found back. The Study Instance UID
and the accession number must be identical everywhere (the DRIMbox joins on them)."""

from __future__ import annotations

import dataclasses
import datetime as dt
import io
import json
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pydicom
import pytest
import requests

from segur_ris.cda import build_cda_n1, read_cda
from segur_ris.codes import OID_INS_NIR_TEST
from segur_ris.config import Settings, load_settings
from segur_ris.dicom._kos import (
    KosInstance,
    KosSeries,
    build_kos,
    read_kos,
    study_from_worklist_item,
)
from segur_ris.dmp import DmpClient, build_envelope, parse_envelope
from segur_ris.hl7v2 import (
    AssigningAuthority,
    CodedValue,
    EntityId,
    ImagingOrder,
    Practitioner,
    build_omi,
    build_orm,
    read_message,
)
from segur_ris.ins import IdentityTraits, Ins, PatientIdentity, ProofDocument
from segur_ris.pdf import render_report_pdf
from segur_ris.report import ImagingReport
from segur_ris.sandbox import TestPki
from segur_ris.sandbox._pki_org import OrgPki, generate_org_pki
from segur_ris.vihf import VihfContext, build_vihf, build_xades, sign_vihf
from segur_ris.xds import (
    Code,
    DocumentEntry,
    PnrDocument,
    ProvideAndRegisterRequest,
    Submission,
    SubmissionSet,
    build_provide_and_register,
    decode_response,
    document_entry_from_cda,
    encode_mtom,
    parse_registry_response,
    xds_time,
)
from segur_ris.xds._kos import document_entry_from_kos
from tests.drimbox_fixtures import CT_IMAGE, WADO
from tests.helpers_dmp import RESPONSIBLE, SECTEUR, sandbox_dmp_client, signed_associations

worklist = pytest.importorskip("segur_ris.dicom._worklist")

REPO_ROOT = Path(__file__).resolve().parents[1]
INS = "279035121518989"  # PAT-TROIS DOMINIQUE, known by the DMP test platforms
PLACER_OID = "1.2.250.1.999.1.5"
ACCESSION_OID = "1.2.250.1.999.1.3"
IPP_AUTHORITY = AssigningAuthority("CIM", "1.2.250.1.999.1.2", "ISO")
SETTINGS = worklist.WorklistSettings(
    uid_root="1.2.250.1.999.1.4", accession_issuer_oid=ACCESSION_OID, default_station_ae_title="CT1"
)
ACTION_ITI41 = "urn:ihe:iti:2007:ProvideAndRegisterDocumentSet-b"


def _patient() -> PatientIdentity:
    traits = IdentityTraits.create("PAT-TROIS", "DOMINIQUE", "F", "1979-03-28", "63220")
    return PatientIdentity(
        traits,
        ins=Ins.parse(INS, OID_INS_NIR_TEST),
        insi_verified=True,
        proof=ProofDocument.CARTE_NATIONALE_IDENTITE,
        ipp="000003",
    )


def _order(study_uid: str | None) -> ImagingOrder:
    return ImagingOrder(
        patient=_patient(),
        placer_order=EntityId("DEM-2026-42", AssigningAuthority("", PLACER_OID, "ISO")),
        accession_number=EntityId("ACC-2026-000777", AssigningAuthority("", ACCESSION_OID, "ISO")),
        modality=CodedValue("CT", "Scanner", "DCM"),
        exam_code=CodedValue("24627-2", "TDM thorax", "LN"),
        ordering_provider=Practitioner("810101234567", "MEDECIN", "Prescripteur", id_type="IDNPS"),
        scheduled_time=dt.datetime(2026, 11, 24, 9, 40),
        requested_procedure_id=EntityId("RP-1"),
        study_instance_uid=study_uid,
        scheduled_step_id=EntityId("SPS-1"),
        ipp_authority=IPP_AUTHORITY,
        ins_oid=OID_INS_NIR_TEST,
    )


@dataclasses.dataclass
class Exam:
    message: bytes
    item: Any
    cda: bytes
    kos: bytes
    cda_entry: DocumentEntry
    kos_entry: DocumentEntry


def _exam(kind: str) -> Exam:
    """The whole chain for one order: ``omi`` carries the study UID, ``orm`` does not (the
    worklist derives it from the accession number)."""
    if kind == "omi":
        message = build_omi(_order("1.2.250.1.999.1.4.20261124.77"))
    else:
        message = build_orm(_order(None))
    (change,) = worklist.worklist_changes(message, SETTINGS)
    item = change.item
    assert item is not None

    data = json.loads((REPO_ROOT / "examples" / "report.json").read_text("utf-8"))
    data["document_id"] = f"1.2.250.1.999.1.1.{uuid.uuid4().int % 10**12}"
    data["exam"].update(
        accession_number=item.accession_number,
        accession_issuer=item.accession_issuer_oid,
        study_instance_uid=item.study_instance_uid,
    )
    data["order"].update(placer_number=item.placer_order_number, placer_issuer=PLACER_OID)
    report = ImagingReport.from_dict(data)
    cda = build_cda_n1(report, render_report_pdf(report, deterministic=True))

    series = (  # what the modality produced (the PACS would give these UIDs)
        KosSeries(
            "1.2.250.1.999.1.6.1",
            item.modality,
            tuple(KosInstance(CT_IMAGE, f"1.2.250.1.999.1.7.1.{n}") for n in (1, 2, 3)),
        ),
    )
    study = study_from_worklist_item(
        item, series=series, retrieve_url=WADO, placer_order_issuer=PLACER_OID
    )
    kos = build_kos(study, description="TDM thorax")
    cda_entry = document_entry_from_cda(cda, environment_ins_oid=OID_INS_NIR_TEST)
    kos_entry = document_entry_from_kos(
        kos, environment_ins_oid=OID_INS_NIR_TEST, report_entry=cda_entry, entry_uuid="DocumentKOS"
    )
    return Exam(message, item, cda, kos, cda_entry, kos_entry)


@pytest.fixture(scope="module", params=["omi", "orm"])
def exam(request: pytest.FixtureRequest) -> Exam:
    return _exam(request.param)


def _references(entry: DocumentEntry, kind: str) -> list[str]:
    return [ref.split("^", 1)[0] for ref in entry.reference_ids if ref.endswith(kind)]


def test_identifiers_are_identical_everywhere(exam: Exam) -> None:
    item = exam.item
    study_uid, accession = item.study_instance_uid, item.accession_number
    assert accession == "ACC-2026-000777"
    order = read_message(exam.message)
    if b"OMI^O23" in exam.message:
        assert study_uid == "1.2.250.1.999.1.4.20261124.77"
        assert order.orders[0].study_instance_uid == study_uid
    else:  # derived from the accession number, deterministically
        assert study_uid == worklist.study_instance_uid_for(accession, SETTINGS.uid_root)

    mwl = item.dataset()
    assert (mwl.StudyInstanceUID, mwl.AccessionNumber) == (study_uid, accession)

    cda = read_cda(exam.cda)
    assert cda.study_instance_uids == (study_uid,)
    assert (cda.accession_number, cda.accession_issuer) == (accession, ACCESSION_OID)

    kos = pydicom.dcmread(io.BytesIO(exam.kos))
    assert (kos.StudyInstanceUID, kos.AccessionNumber) == (study_uid, accession)
    request = kos.ReferencedRequestSequence[0]
    assert (request.StudyInstanceUID, request.AccessionNumber) == (study_uid, accession)
    assert request.PlacerOrderNumberImagingServiceRequest == item.placer_order_number
    assert kos.CurrentRequestedProcedureEvidenceSequence[0].StudyInstanceUID == study_uid
    assert kos.RetrieveURL.endswith(f"/studies/{study_uid}")
    assert kos.PatientID == INS == cda.patient.ins

    for entry in (exam.cda_entry, exam.kos_entry):
        assert _references(entry, "studyInstanceUID") == [study_uid]
        assert _references(entry, "accession") == [accession]
        assert _references(entry, "order") == [item.placer_order_number]
    assert set(exam.cda_entry.reference_ids) == set(exam.kos_entry.reference_ids)
    assert exam.cda_entry.patient_id == exam.kos_entry.patient_id
    assert exam.kos_entry.unique_id == read_kos(exam.kos).sop_instance_uid


def test_a_mismatch_is_caught(exam: Exam) -> None:
    """A KOS of another exam cannot be indexed with this CR's metadata."""
    from segur_ris.errors import XdsMetadataError

    manifest = read_kos(exam.kos)
    other = dataclasses.replace(manifest.study, accession_number="ACC-OTHER")
    with pytest.raises(XdsMetadataError, match="referenceIdList"):
        document_entry_from_kos(
            build_kos(other), environment_ins_oid=OID_INS_NIR_TEST, report_entry=exam.cda_entry
        )


# --- the sandbox DMP ------------------------------------------------------------------------


@pytest.fixture(scope="module")
def settings() -> Settings:
    return load_settings(env="demo", environ={})


@pytest.fixture(scope="module")
def org(tmp_path_factory: pytest.TempPathFactory, settings: Settings) -> OrgPki:
    return generate_org_pki(tmp_path_factory.mktemp("org-kos"), structure_id=settings.structure.id)


@pytest.fixture(scope="module")
def dmp(pki: TestPki, org: OrgPki, settings: Settings) -> Iterator[tuple[DmpClient, Settings, str]]:
    with sandbox_dmp_client(pki, org, settings, (INS,)) as running:
        yield running


def _submit_kos(
    kos: bytes, entry: DocumentEntry, settings: Settings, org: OrgPki, pki: TestPki, url: str
) -> None:
    """ITI-41 of a KOS + its XAdES signature document, built with the public pieces (DmpClient
    has no submission of a non-CDA document yet)."""
    ss = SubmissionSet(
        entry_uuid="SubmissionSet01",
        unique_id=f"2.25.{uuid.uuid4().int}",
        source_id="1.2.250.1.999.1.1.7898",
        patient_id=entry.patient_id,
        submission_time=xds_time(dt.datetime.now(dt.UTC)),
        content_type_code=Code("04", "1.2.250.1.213.2.2", "Hospitalisation de jour"),
        authors=entry.authors[:1],
        title=entry.title,
    )
    xades = build_xades({entry.unique_id: kos}, org.sign.credential, submission_set_id=ss.unique_id)
    signature = dataclasses.replace(
        entry,
        entry_uuid="Signature01",
        unique_id=f"2.25.{uuid.uuid4().int}",
        class_code=Code("urn:oid:1.3.6.1.4.1.19376.1.2.1.1.1", "URN", "Digital Signature"),
        type_code=Code("E1762", "ASTM", "Full Document"),
        format_code=Code("http://www.w3.org/2000/09/xmldsig#", "URN", "Default Signature Style"),
        event_codes=(Code("1.2.840.10065.1.12.1.14", "1.2.840.10065.1.12", "Source"),),
        reference_ids=(),
        mime_type="text/xml",
        language_code="art",
        title="Source",
        hash="",
        size=None,
    )
    associations = tuple(signed_associations(ss.entry_uuid, entry.entry_uuid))
    request = ProvideAndRegisterRequest(
        Submission((ss,), (entry, signature), associations=associations),
        (
            PnrDocument(entry.entry_uuid, content_id="kos@segur-ris"),
            PnrDocument("Signature01", content_id="sig@segur-ris"),
        ),
    )
    context = VihfContext.for_automate(
        settings, secteur_activite=SECTEUR, responsible_id=RESPONSIBLE
    )
    vihf = sign_vihf(build_vihf(context, resource_id=entry.patient_id), org.sign.credential)
    envelope, _ = build_envelope(build_provide_and_register(request), ACTION_ITI41, security=vihf)
    body, content_type = encode_mtom(
        envelope, {"kos@segur-ris": kos, "sig@segur-ris": xades}, action=ACTION_ITI41
    )
    with requests.Session() as session:
        answer = session.post(
            f"{url}/repository",
            data=body,
            headers={"Content-Type": content_type},
            cert=(str(org.auth_cli.cert), str(org.auth_cli.key)),
            verify=str(pki.ca_cert),
            timeout=30,
        )
        answer.close()
    message = decode_response(answer.content, answer.headers["Content-Type"])
    parse_registry_response(parse_envelope(message.root).body).raise_for_errors()


def test_cr_and_kos_in_the_sandbox_dmp(
    dmp: tuple[DmpClient, Settings, str], org: OrgPki, pki: TestPki
) -> None:
    client, local, url = dmp
    exam = _exam("orm")
    result = client.submit(exam.cda)
    environment_oid = local.environment.ins.for_kind("NIR")
    kos_entry = document_entry_from_kos(
        exam.kos,
        environment_ins_oid=local.environment.ins,
        report_entry=result.entry,
        entry_uuid="DocumentKOS",
    )
    assert kos_entry.patient_id == f"{INS}^^^&{environment_oid}&ISO^NH"
    submit_document = getattr(client, "submit_document", None)
    if submit_document is not None:  # DmpClient.submit_document (non-CDA documents)
        assert submit_document(exam.kos, kos_entry).unique_id == kos_entry.unique_id
    else:
        _submit_kos(exam.kos, kos_entry, local, org, pki, url)

    found = {entry.unique_id: entry for entry in client.find(INS)}
    cr, kos = found[result.unique_id], found[kos_entry.unique_id]
    assert kos.mime_type == "application/dicom"
    assert kos.type_code is not None and kos.type_code.code == "IMG-KOS"
    assert kos.format_code is not None and kos.format_code.code == "1.2.840.10008.5.1.4.1.1.88.59"
    assert set(kos.reference_ids) == set(cr.reference_ids) == set(exam.kos_entry.reference_ids)
    back = client.get(kos)
    assert back == exam.kos
    assert (
        read_kos(back).study.study_instance_uid == read_cda(client.get(cr)).study_instance_uids[0]
    )


def test_worklist_item_without_ins_gives_no_kos(exam: Exam) -> None:
    from segur_ris.errors import KosError

    series = (KosSeries("1.2.9.1", "CT", (KosInstance(CT_IMAGE, "1.2.9.2"),)),)
    with pytest.raises(KosError, match="INS"):
        study_from_worklist_item(
            dataclasses.replace(exam.item, ins=None), series=series, retrieve_url=WADO
        )
    study = study_from_worklist_item(exam.item, series=series, retrieve_url=WADO)
    assert study.placer_order_number == ""  # no issuer given: the order number is left out
    assert (study.ipp, study.ipp_issuer) == ("000003", "1.2.250.1.999.1.2")
