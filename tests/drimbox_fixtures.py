"""Shared test data of the DRIMbox tests (KOS, XDS-I.b, appel contextuel): engineer D's."""

from __future__ import annotations

import os
import shutil

import pytest
from pydicom.dataset import Dataset, FileMetaDataset

from segur_ris.dicom._kos import KosInstance, KosSeries, KosStudy

DCMDUMP = "/usr/bin/dcmdump"  # by full path: pynetdicom shadows some dcmtk names on PATH
OFFICIAL_KOS = "dicom/ansforge_DRIM-M_DRIMbox/Backend/src/test/resources/kos.dcm"
CT_IMAGE = "1.2.840.10008.5.1.4.1.1.2"
MR_IMAGE = "1.2.840.10008.5.1.4.1.1.4"
ENHANCED_SR = "1.2.840.10008.5.1.4.1.1.88.22"
INS = "279035121518989"  # PAT-TROIS DOMINIQUE (examples/report.json, DMP test patient)
INS_OID = "1.2.250.1.213.1.4.10"
ACCESSION = "ACC-2026-000123"
ACCESSION_ISSUER = "1.2.250.1.999.1.3"
STUDY_UID = "1.2.250.1.999.1.4.20261124.1"
PLACER = "DEM-2026-42"
PLACER_ISSUER = "1.2.250.1.999.1.5"
WADO = "https://drimbox-source.example.test/dicom-web/rs"


def require_dcmdump() -> str:
    """dcmtk's dcmdump: a failure in CI (``CI=true``), a skip elsewhere when absent."""
    if not (os.path.exists(DCMDUMP) or shutil.which("dcmdump")):
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail("dcmtk (dcmdump) absent")
        pytest.skip("dcmtk (dcmdump) absent")
    return DCMDUMP if os.path.exists(DCMDUMP) else str(shutil.which("dcmdump"))


def make_study(**changes: object) -> KosStudy:
    """A two-series CT study of the DMP test patient (values of examples/report.json)."""
    values: dict[str, object] = {
        "ins": INS,
        "ins_oid": INS_OID,
        "study_instance_uid": STUDY_UID,
        "accession_number": ACCESSION,
        "accession_issuer": ACCESSION_ISSUER,
        "series": (
            KosSeries(
                "1.2.250.1.999.1.6.1",
                "CT",
                (
                    KosInstance(CT_IMAGE, "1.2.250.1.999.1.7.1.1"),
                    KosInstance(CT_IMAGE, "1.2.250.1.999.1.7.1.2"),
                ),
            ),
            KosSeries(
                "1.2.250.1.999.1.6.2", "SR", (KosInstance(ENHANCED_SR, "1.2.250.1.999.1.7.2.1"),)
            ),
        ),
        "retrieve_url": WADO,
        "placer_order_number": PLACER,
        "placer_order_issuer": PLACER_ISSUER,
        "patient_name": "PAT-TROIS^DOMINIQUE",
        "birth_date": "19790328",
        "sex": "F",
        "ipp": "000003",
        "ipp_issuer": "1.2.250.1.999.1.2",
        "study_date": "20261124",
        "study_time": "094000",
        "study_description": "TDM Thorax — sans injection, élève",
        "study_id": "A42",
        "referring_physician": "MEDECIN^Prescripteur",
        "institution_name": "Centre d'imagerie de démonstration",
    }
    values.update(changes)
    return KosStudy(**values)  # type: ignore[arg-type]


def ct_image(sop_uid: str, series_uid: str, study_uid: str = STUDY_UID) -> Dataset:
    """The header of one CT image of the test patient's study (Part 10 file meta included)."""
    ds = Dataset()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.MediaStorageSOPClassUID = CT_IMAGE
    ds.file_meta.MediaStorageSOPInstanceUID = sop_uid
    ds.file_meta.TransferSyntaxUID = "1.2.840.10008.1.2.1"
    ds.SOPClassUID, ds.SOPInstanceUID = CT_IMAGE, sop_uid
    ds.StudyInstanceUID, ds.SeriesInstanceUID = study_uid, series_uid
    ds.Modality = "CT"
    ds.PatientID = INS
    ds.AccessionNumber = ACCESSION
    ds.PatientName = "PAT-TROIS^DOMINIQUE"
    ds.StudyDate = "20261124"
    return ds
