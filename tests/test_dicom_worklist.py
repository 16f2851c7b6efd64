"""Orders → Modality Worklist items (segur_ris.dicom._worklist) and the SQLite store."""

from __future__ import annotations

import datetime as dt
import threading
import warnings
from pathlib import Path

import pytest
from pydicom import Dataset

from segur_ris.codes import OID_INS_NIR_TEST
from segur_ris.dicom import (
    INS_ISSUER_NIR,
    QueryFilter,
    WorklistAction,
    WorklistItem,
    WorklistSettings,
    WorklistStore,
    decode_item,
    encode_item,
    ins_of_dataset,
    ins_patient_identification,
    study_instance_uid_for,
    worklist_changes,
)
from segur_ris.errors import SegurError, WorklistError
from segur_ris.hl7v2 import (
    AssigningAuthority,
    CodedValue,
    EntityId,
    ImagingOrder,
    OrderControl,
    Practitioner,
    build_omi,
    build_orm,
)
from segur_ris.ins import IdentityTraits, Ins, PatientIdentity, ProofDocument
from tests.conftest import ref_file

TLR = "hl7/ansforge_interop-ig-hl7v2-teleradiologie/input/pagecontent/exemples.md.extracted"
SETTINGS = WorklistSettings(
    uid_root="1.2.250.1.999.7",
    accession_issuer_oid="1.2.250.1.999.8",
    default_station_ae_title="IRM1",
)
TRAITS = IdentityTraits.create("DUPONT", "JEANNE MARIE", "F", "1960-05-30", "63220")
INS = Ins.parse("279035121518989", OID_INS_NIR_TEST)
QUALIFIED = PatientIdentity(
    TRAITS, ins=INS, insi_verified=True, proof=ProofDocument.CARTE_NATIONALE_IDENTITE, ipp="IPP42"
)
PROVISIONAL = PatientIdentity(TRAITS, ipp="IPP43")
AUT = AssigningAuthority("AUT-AFFECTATION", "1.2.250.1.999.9", "ISO")
HODA = Practitioner("801234567897", "Hoda", "Adam", id_type="IDNPS")

# DCMTK wlmscpfs (dcmwlm/libsrc/wlfsim.cc) refuses an item without these (non-empty) keys.
WLMSCPFS_REQUIRED = ("RequestedProcedureID", "StudyInstanceUID", "PatientName", "PatientID")
SPS_REQUIRED = (
    "ScheduledStationAETitle",
    "ScheduledProcedureStepStartDate",
    "ScheduledProcedureStepStartTime",
    "Modality",
    "ScheduledProcedureStepID",
)


def _order(**values: object) -> ImagingOrder:
    base: dict[str, object] = {
        "patient": QUALIFIED,
        "placer_order": EntityId("CMD-1", AssigningAuthority("", "1.2.250.1.999.3", "ISO")),
        "accession_number": EntityId("ACC-1", AssigningAuthority("", "1.2.250.1.999.4", "ISO")),
        "modality": CodedValue("CT", "Scanner", "DCM"),
        "exam_code": CodedValue("24627-2", "TDM thorax", "LN"),
        "ordering_provider": HODA,
        "scheduled_time": dt.datetime(2026, 3, 2, 9, 30),
        "requested_procedure_id": EntityId("RP-1"),
        "study_instance_uid": "1.2.250.1.999.5.1",
        "scheduled_step_id": EntityId("SPS-1"),
        "ipp_authority": AUT,
        "ins_oid": OID_INS_NIR_TEST,
    }
    base.update(values)
    return ImagingOrder(**base)  # type: ignore[arg-type]


def _complete(ds: Dataset) -> None:
    for keyword in WLMSCPFS_REQUIRED:
        assert str(ds.get(keyword, "")).strip(), keyword
    assert len(ds.ScheduledProcedureStepSequence) == 1
    sps = ds.ScheduledProcedureStepSequence[0]
    for keyword in SPS_REQUIRED:
        assert str(sps.get(keyword, "")).strip(), keyword
    assert sps.get("ScheduledProcedureStepDescription") or sps.get("ScheduledProtocolCodeSequence")
    assert ds.get("RequestedProcedureDescription") or ds.get("RequestedProcedureCodeSequence")


# --- official teleradiology samples -----------------------------------------------------------


def test_flux1_orm_becomes_a_complete_item(ref_dir: Path) -> None:
    raw = ref_file(ref_dir, f"{TLR}/Flux1_ORM_O01.hl7").read_bytes()
    (change,) = worklist_changes(raw, SETTINGS)
    assert change.action is WorklistAction.UPSERT and change.item is not None
    ds = change.item.dataset()
    _complete(ds)
    assert ds.SpecificCharacterSet == "ISO_IR 192"
    # no IPP in the sample: the qualified INS is the PatientID, DRIMbox style
    assert ds.PatientID == "279035121518989"
    assert ds.IssuerOfPatientID == INS_ISSUER_NIR
    assert ds.IssuerOfPatientIDQualifiersSequence[0].UniversalEntityID == OID_INS_NIR_TEST
    assert ds.PatientName == "PAT-TROIS^DOMINIQUE"
    assert (ds.PatientBirthDate, ds.PatientSex) == ("19790328", "F")
    # no accession in ORM flux 1: the placer order number is used, its study UID is derived
    assert ds.AccessionNumber == "OPN101"
    assert ds.StudyInstanceUID == study_instance_uid_for("OPN101", SETTINGS.uid_root)
    assert ds.IssuerOfAccessionNumberSequence[0].UniversalEntityID == "1.2.250.1.999.8"
    sps = ds.ScheduledProcedureStepSequence[0]
    assert (sps.Modality, sps.ScheduledStationAETitle) == ("MR", "IRM1")
    assert (sps.ScheduledProcedureStepStartDate, sps.ScheduledProcedureStepStartTime) == (
        "20260106",
        "134418",
    )
    assert ds.RequestedProcedureDescription == "IRM - tête et/ou cou, côté droit"
    assert ds.ReferringPhysicianName == ds.RequestingPhysician == "Hoda^Adam"
    assert (float(ds.PatientWeight), float(ds.PatientSize), ds.PregnancyStatus) == (68, 1.7, 1)
    assert ds.AdmissionID == "000897406"
    assert ins_of_dataset(ds) == Ins.parse("279035121518989", OID_INS_NIR_TEST)


def test_flux4_omi_keeps_accession_and_study_uid(ref_dir: Path) -> None:
    raw = ref_file(ref_dir, f"{TLR}/Flux4_OMI_O23.hl7").read_bytes()
    (change,) = worklist_changes(raw, SETTINGS)
    assert change.item is not None
    ds = change.item.dataset()
    _complete(ds)
    assert ds.AccessionNumber == "ACN101"
    assert ds.IssuerOfAccessionNumberSequence[0].UniversalEntityID == "1.2.250.1.925.994044.27"
    assert ds.StudyInstanceUID == "1.2.250.1.213.4.5.2.1.101"
    code = ds.RequestedProcedureCodeSequence[0]
    assert (code.CodeValue, code.CodingSchemeDesignator) == ("24590-2", "LN")
    assert ds.ScheduledProcedureStepSequence[0].ScheduledProtocolCodeSequence[0].CodeValue == (
        "24590-2"
    )
    assert ds.ScheduledProcedureStepSequence[0].ScheduledProcedureStepStartTime == "184418"


def test_flux2_cancel_removes_the_order(ref_dir: Path) -> None:
    store = WorklistStore()
    store.apply_message(ref_file(ref_dir, f"{TLR}/Flux1_ORM_O01.hl7").read_bytes(), SETTINGS)
    assert len(store) == 1
    (change,) = store.apply_message(
        ref_file(ref_dir, f"{TLR}/Flux2_ORM_O01.hl7").read_bytes(), SETTINGS
    )
    assert change.action is WorklistAction.CANCEL and change.placer_order_number == "OPN101"
    assert len(store) == 0
    store.close()


def test_result_message_is_refused(ref_dir: Path) -> None:
    raw = ref_file(ref_dir, f"{TLR}/Flux3_ORU_R01.hl7").read_bytes()
    with pytest.raises(WorklistError) as caught:
        worklist_changes(raw, SETTINGS)
    assert caught.value.code == "AR"


# --- built orders ------------------------------------------------------------------------------


def test_ipp_is_patient_id_and_ins_goes_to_other_patient_ids() -> None:
    (change,) = worklist_changes(build_omi(_order()), SETTINGS)
    assert change.item is not None
    ds = change.item.dataset()
    _complete(ds)
    assert (ds.PatientID, ds.IssuerOfPatientID) == ("IPP42", "AUT-AFFECTATION")
    assert ds.IssuerOfPatientIDQualifiersSequence[0].UniversalEntityID == "1.2.250.1.999.9"
    other = ds.OtherPatientIDsSequence[0]
    assert (other.PatientID, other.IssuerOfPatientID, other.TypeOfPatientID) == (
        "279035121518989",
        INS_ISSUER_NIR,
        "TEXT",
    )
    assert other.IssuerOfPatientIDQualifiersSequence[0].UniversalEntityIDType == "ISO"
    assert ins_of_dataset(ds) == INS
    assert (ds.AccessionNumber, ds.RequestedProcedureID, ds.StudyInstanceUID) == (
        "ACC-1",
        "RP-1",
        "1.2.250.1.999.5.1",
    )
    assert ds.ScheduledProcedureStepSequence[0].ScheduledProcedureStepID == "SPS-1"
    assert ds.PatientName == "DUPONT^JEANNE"


def test_provisional_identity_has_no_ins() -> None:
    (change,) = worklist_changes(build_omi(_order(patient=PROVISIONAL)), SETTINGS)
    assert change.item is not None and change.item.ins is None
    ds = change.item.dataset()
    assert ds.PatientID == "IPP43" and "OtherPatientIDsSequence" not in ds
    assert ins_of_dataset(ds) is None


def test_dropped_ins_without_vali_is_not_in_the_worklist() -> None:
    raw = build_omi(_order()).replace(b"|VALI", b"|PROV")
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        (change,) = worklist_changes(raw, SETTINGS)
    assert any("INS" in str(w.message) for w in seen)
    assert change.item is not None and change.item.ins is None
    assert "OtherPatientIDsSequence" not in change.item.dataset()


def test_orm_with_obr18_accession_and_station_by_modality() -> None:
    settings = WorklistSettings(uid_root="1.2.3", station_ae_titles={"CT": "SCANNER_2"})
    (change,) = worklist_changes(build_orm(_order()), settings)
    assert change.item is not None
    assert change.item.accession_number == "ACC-1"
    assert change.item.station_ae_title == "SCANNER_2"
    assert change.item.study_instance_uid == study_instance_uid_for("ACC-1", "1.2.3")


def test_change_then_cancel_update_the_store() -> None:
    store = WorklistStore()
    store.apply_message(build_omi(_order()), SETTINGS)
    later = build_omi(_order(scheduled_time=dt.datetime(2026, 3, 3, 14, 0)))
    changed = later.replace(b"ORC|NW|", b"ORC|XO|")
    (change,) = store.apply_message(changed, SETTINGS)
    assert change.order_control == "XO"
    assert len(store) == 1
    got = store.get("ACC-1", "SPS-1")
    assert got is not None
    assert got.ScheduledProcedureStepSequence[0].ScheduledProcedureStepStartDate == "20260303"
    cancel = build_orm(_order(control=OrderControl.CANCEL))
    (gone,) = store.apply_message(cancel, SETTINGS)
    assert gone.action is WorklistAction.CANCEL and gone.accession_number == "ACC-1"
    assert len(store) == 0
    store.close()


def test_change_with_a_new_step_id_replaces_the_old_step() -> None:
    with WorklistStore() as store:
        store.apply_message(build_omi(_order()), SETTINGS)
        store.apply_message(build_omi(_order(accession_number=EntityId("ACC-2"))), SETTINGS)
        moved = build_omi(_order(scheduled_step_id=EntityId("SPS-9"))).replace(
            b"ORC|NW|", b"ORC|XO|"
        )
        store.apply_message(moved, SETTINGS)
        assert store.get("ACC-1", "SPS-1") is None
        assert store.get("ACC-1", "SPS-9") is not None
        assert store.get("ACC-2", "SPS-1") is not None  # another exam: untouched
        assert len(store) == 2


def test_french_names_in_utf8_and_latin1(ref_dir: Path) -> None:
    raw = ref_file(ref_dir, f"{TLR}/Flux1_ORM_O01.hl7").read_bytes()
    accented = raw.replace(b"PAT-TROIS^DOMINIQUE", "LÆTITIA-ŒUVRÉ^JOSÉ".encode())
    (utf8,) = worklist_changes(accented, SETTINGS)
    assert utf8.item is not None
    ds = utf8.item.dataset()
    assert ds.PatientName == "LÆTITIA-ŒUVRÉ^JOSÉ"
    assert decode_item(encode_item(ds)).PatientName == "LÆTITIA-ŒUVRÉ^JOSÉ"
    latin1 = WorklistSettings(uid_root="1.2.3", character_set="ISO_IR 100")
    (old,) = worklist_changes(accented, latin1)
    assert old.item is not None
    ds1 = old.item.dataset()
    assert ds1.SpecificCharacterSet == "ISO_IR 100"
    assert ds1.PatientName == "LÆTITIA-OEUVRÉ^JOSÉ"  # œ is not in Latin-1: transliterated
    assert "OEUVR\xc9".encode("latin-1") in encode_item(ds1)
    cyrillic = raw.replace(b"PAT-TROIS", "ЖУКОВ".encode())
    with pytest.raises(WorklistError, match="ISO_IR 100"):
        worklist_changes(cyrillic, latin1)


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        ((b"|MR^IRM^DCM|", b"||"), "modalité"),
        ((b"ORC|NW|", b"ORC|ZZ|"), "ORC-1"),
        ((b"|19790328|", b"|19791399|"), "date de naissance"),
        ((b"PID|||279035121518989^^^", b"PID|||^^^"), "PatientID"),
    ],
)
def test_bad_orders_raise_worklist_error(
    ref_dir: Path, edit: tuple[bytes, bytes], message: str
) -> None:
    raw = ref_file(ref_dir, f"{TLR}/Flux1_ORM_O01.hl7").read_bytes().replace(*edit)
    with pytest.raises(WorklistError, match=message):
        worklist_changes(raw, SETTINGS)


def test_no_uid_root_and_no_study_uid_is_refused(ref_dir: Path) -> None:
    raw = ref_file(ref_dir, f"{TLR}/Flux1_ORM_O01.hl7").read_bytes()
    with pytest.raises(WorklistError, match="uid_root"):
        worklist_changes(raw, WorklistSettings())
    with pytest.raises(WorklistError):
        worklist_changes(b"not hl7 at all", SETTINGS)


def test_item_validation() -> None:
    good = {
        "accession_number": "A1",
        "study_instance_uid": "1.2.3",
        "requested_procedure_id": "RP",
        "sps_id": "S1",
        "modality": "CT",
        "station_ae_title": "CT1",
        "start": dt.datetime(2026, 1, 1, 8),
        "patient_name": "X^Y",
        "patient_id": "P1",
        "requested_procedure_description": "TDM",
    }
    WorklistItem(**good)  # type: ignore[arg-type]
    for key, bad in (
        ("accession_number", "A" * 17),
        ("study_instance_uid", "1.02.3"),
        ("modality", "ct"),
        ("station_ae_title", "A\\B"),
        ("patient_name", "^"),
        ("patient_name", "X" * 40 + "^" + "Y" * 30),  # PN: 64 characters per group
        ("patient_name", "A=B=C=D"),
        ("referring_physician", "DR\\WHO"),
        ("requesting_physician", "Z" * 65),
        ("sps_id", ""),
        ("requested_procedure_description", ""),
    ):
        with pytest.raises(WorklistError):
            WorklistItem(**{**good, key: bad})  # type: ignore[arg-type]


# --- identity and UID helpers ---------------------------------------------------------------


def test_study_instance_uid_for_is_deterministic_and_valid() -> None:
    uid = study_instance_uid_for("ACC-1", "1.2.250.1.999")
    assert uid == study_instance_uid_for("ACC-1", "1.2.250.1.999.")
    assert uid != study_instance_uid_for("ACC-2", "1.2.250.1.999")
    assert uid.startswith("1.2.250.1.999.") and len(uid) <= 64
    assert all(part == "0" or not part.startswith("0") for part in uid.split("."))
    for bad in ("", "1.02", "abc", "1." + "2" * 60):
        with pytest.raises(WorklistError):
            study_instance_uid_for("ACC-1", bad)
    with pytest.raises(WorklistError):
        study_instance_uid_for(" ", "1.2.3")


def test_ins_patient_identification_round_trip() -> None:
    ds = ins_patient_identification(INS)
    assert (ds.PatientID, ds.IssuerOfPatientID) == ("279035121518989", INS_ISSUER_NIR)
    assert ins_of_dataset(ds) == INS
    ds.IssuerOfPatientIDQualifiersSequence[0].UniversalEntityID = "1.2.3"  # not an INS OID
    assert ins_of_dataset(ds) is None


# --- store ---------------------------------------------------------------------------------


def test_store_survives_restart_and_filters(tmp_path: Path) -> None:
    path = tmp_path / "mwl.sqlite"
    with WorklistStore(path) as store:
        for n in range(30):
            order = _order(
                accession_number=EntityId(f"ACC-{n}"),
                scheduled_step_id=EntityId(f"SPS-{n}"),
                study_instance_uid=f"1.2.3.{n}",
                modality=CodedValue("MR" if n % 3 else "CT", "", "DCM"),
                scheduled_time=dt.datetime(2026, 3, 1 + n % 10, 8),
            )
            store.apply_message(build_omi(order), SETTINGS)
    with WorklistStore(path) as store:
        assert len(store) == 30
        ct = list(store.candidates(QueryFilter(modality="CT")))
        assert len(ct) == 10
        assert {d.ScheduledProcedureStepSequence[0].Modality for d in ct} == {"CT"}
        dated = list(store.candidates(QueryFilter(date_from="20260302", date_to="20260303")))
        assert len(dated) == 6
        assert [
            d.AccessionNumber for d in store.candidates(QueryFilter(accession_number="ACC-7"))
        ] == ["ACC-7"]


def test_store_apply_is_atomic() -> None:
    store = WorklistStore()
    store.apply_message(build_omi(_order()), SETTINGS)
    with pytest.raises(WorklistError):
        store.cancel()
    assert len(store) == 1
    other = _order(accession_number=EntityId("ACC-NEW"))
    raw = build_omi(other) + b"\rORC|ZZ|X\rOBR|1|X"  # second order: unknown ORC-1
    with pytest.raises(SegurError):
        store.apply_message(raw, SETTINGS)
    assert len(store) == 1 and store.get("ACC-NEW") is None
    store.apply_message(build_omi(other), SETTINGS)
    assert store.get("ACC-NEW") is not None
    store.close()


def test_store_is_thread_safe(tmp_path: Path) -> None:
    store = WorklistStore(tmp_path / "t.sqlite")
    errors: list[BaseException] = []

    def writer(k: int) -> None:
        try:
            for n in range(20):
                order = _order(
                    accession_number=EntityId(f"A{k}-{n}"),
                    scheduled_step_id=EntityId("S"),
                )
                store.apply_message(build_omi(order), SETTINGS)
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    def reader() -> None:
        try:
            for _ in range(20):
                list(store.candidates())
        except BaseException as exc:  # pragma: no cover
            errors.append(exc)

    threads = [threading.Thread(target=writer, args=(k,)) for k in range(3)]
    threads += [threading.Thread(target=reader) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert len(store) == 60
    store.close()


def test_store_takes_raw_datasets_and_pages() -> None:
    store = WorklistStore()
    for n in range(600):  # more than one page of candidates
        ds = Dataset()
        ds.AccessionNumber = f"R{n}"
        sps = Dataset()
        sps.ScheduledProcedureStepID = "1"
        sps.Modality = "US"
        ds.ScheduledProcedureStepSequence = [sps]
        store.upsert(ds)
    assert sum(1 for _ in store.candidates()) == 600
    with pytest.raises(WorklistError):
        store.upsert(Dataset())  # neither accession nor SPS ID
    store.close()


def test_unusable_database_path(tmp_path: Path) -> None:
    with pytest.raises(WorklistError):
        WorklistStore(tmp_path / "missing-dir" / "x.sqlite")
    not_a_db = tmp_path / "orders.hl7"
    not_a_db.write_bytes(b"MSH|^~\\&|not a database" * 100)
    with pytest.raises(WorklistError, match="inutilisable"):
        WorklistStore(not_a_db)
