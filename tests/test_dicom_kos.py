"""KOS manifests: built, read by dcmtk's dcmdump, read back, compared with the ANS DRIMbox KOS."""

from __future__ import annotations

import dataclasses
import datetime as dt
import io
import subprocess
from pathlib import Path
from typing import Any

import pydicom
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st
from pydicom.dataset import Dataset

from segur_ris.dicom._kos import (
    KOS_SOP_CLASS_UID,
    MANIFEST,
    KosInstance,
    KosSeries,
    build_kos,
    build_kos_dataset,
    read_kos,
    study_from_datasets,
    study_from_dict,
    study_to_dict,
    wado_rs_url,
)
from segur_ris.errors import DicomError, KosError
from tests.conftest import ref_file
from tests.drimbox_fixtures import (
    ACCESSION,
    CT_IMAGE,
    INS,
    INS_OID,
    OFFICIAL_KOS,
    STUDY_UID,
    WADO,
    ct_image,
    make_study,
    require_dcmdump,
)

CREATED = dt.datetime(2026, 11, 24, 12, 5, 30)
KOS_UID = "1.2.250.1.999.1.8.1"


@pytest.fixture(scope="module")
def kos() -> bytes:
    return build_kos(
        make_study(),
        sop_instance_uid=KOS_UID,
        created=CREATED,
        description="Examen : TDM thorax (2 séries)",
    )


def _dump(path: Path, *options: str) -> str:
    result = subprocess.run(
        [require_dcmdump(), *options, str(path)],
        capture_output=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr.decode("utf-8", "replace")
    return result.stdout.decode("utf-8", "replace")


def _paths(ds: Any, prefix: str = "") -> set[str]:
    """Every attribute as a keyword path (``Seq>Seq>Keyword``): the nesting of the object."""
    out = set()
    for element in ds:
        path = f"{prefix}{element.keyword or element.tag}"
        out.add(path)
        if element.VR == "SQ":
            for item in element.value:
                out |= _paths(item, path + ">")
    return out


def test_dcmdump_reads_what_we_write(kos: bytes, tmp_path: Path) -> None:
    path = tmp_path / "kos.dcm"
    path.write_bytes(kos)
    text = _dump(path)
    assert "# Used TransferSyntax: Little Endian Explicit" in text
    assert "(0002,0010) UI =LittleEndianExplicit" in text
    assert "(0008,0016) UI =KeyObjectSelectionDocumentStorage" in text
    assert "(0008,0005) CS [ISO_IR 192]" in text
    assert f"(0010,0020) LO [{INS}]" in text
    assert "(0010,0021) LO [ASIP-SANTE-INS-NIR]" in text
    assert f"(0040,0032) UT [{INS_OID}]" in text
    assert f"(0008,0050) SH [{ACCESSION}]" in text
    assert "(0040,2016) LO [DEM-2026-42]" in text
    assert "(0008,0100) SH [113030]" in text
    assert "(0040,db00) CS [2010]" in text
    assert text.count("(0008,1190) UR") == 3  # study level + two series
    assert "(0008,0060) CS [KO]" in text
    # dcmdump converts UTF-8 to its output charset with +U8 and shows the accents
    assert "élève" in _dump(path, "+U8")


def test_round_trip(kos: bytes) -> None:
    manifest = read_kos(kos)
    assert manifest.study == make_study()
    assert manifest.sop_instance_uid == KOS_UID
    assert manifest.content_date == "20261124"
    assert manifest.content_time == "120530"
    assert manifest.description == "Examen : TDM thorax (2 séries)"
    assert manifest.character_set == "ISO_IR 192"
    assert manifest.warnings == ()
    assert manifest.study.modalities == ("CT", "SR")
    assert manifest.study.instance_count == 3


def test_dataset_content(kos: bytes) -> None:
    ds = pydicom.dcmread(io.BytesIO(kos))
    assert ds.file_meta.TransferSyntaxUID == "1.2.840.10008.1.2.1"
    assert ds.SOPClassUID == KOS_SOP_CLASS_UID == ds.file_meta.MediaStorageSOPClassUID
    assert ds.RetrieveURL == f"{WADO}/studies/{STUDY_UID}"
    evidence = ds.CurrentRequestedProcedureEvidenceSequence[0]
    assert evidence.StudyInstanceUID == STUDY_UID
    first = evidence.ReferencedSeriesSequence[0]
    assert first.RetrieveURL == wado_rs_url(WADO, STUDY_UID, first.SeriesInstanceUID)
    request = ds.ReferencedRequestSequence[0]
    assert request.AccessionNumber == ACCESSION
    assert request.IssuerOfAccessionNumberSequence[0].UniversalEntityIDType == "ISO"
    assert request.OrderPlacerIdentifierSequence[0].UniversalEntityID == "1.2.250.1.999.1.5"
    items = ds.ContentSequence
    assert [i.ValueType for i in items] == ["TEXT", "IMAGE", "IMAGE", "COMPOSITE"]
    assert all(i.RelationshipType == "CONTAINS" for i in items)
    # the SR instance is referenced once in the evidence and once in the content tree
    referenced = [i.ReferencedSOPSequence[0].ReferencedSOPInstanceUID for i in items[1:]]
    evidence_uids = [
        sop.ReferencedSOPInstanceUID
        for series in evidence.ReferencedSeriesSequence
        for sop in series.ReferencedSOPSequence
    ]
    assert referenced == evidence_uids


def test_ins_is_read_by_the_worklist_helpers(kos: bytes) -> None:
    """The KOS writes the INS the way the MWL module reads it (one convention everywhere)."""
    worklist = pytest.importorskip("segur_ris.dicom._worklist")
    found = worklist.ins_of_dataset(pydicom.dcmread(io.BytesIO(kos)))
    assert found is not None
    assert (found.value, found.oid) == (INS, INS_OID)


def test_nia_issuer() -> None:
    nia = make_study(ins="180032B02004885", ins_oid="1.2.250.1.213.1.4.9")
    ds = build_kos_dataset(nia)
    assert ds.IssuerOfPatientID == "ASIP-SANTE-INS-NIA"
    assert ds.OtherPatientIDsSequence[0].IssuerOfPatientID == "ASIP-SANTE-INS-NIA"


def test_generated_uids_are_fresh() -> None:
    first, second = read_kos(build_kos(make_study())), read_kos(build_kos(make_study()))
    assert first.sop_instance_uid != second.sop_instance_uid
    assert first.sop_instance_uid.startswith("2.25.")
    assert first.series_instance_uid != first.sop_instance_uid


def test_structure_matches_the_ans_drimbox_kos(ref_dir: Path, kos: bytes) -> None:
    official_bytes = ref_file(ref_dir, OFFICIAL_KOS).read_bytes()
    official = pydicom.dcmread(io.BytesIO(official_bytes))
    ours = pydicom.dcmread(io.BytesIO(kos))
    assert ours.SOPClassUID == official.SOPClassUID == KOS_SOP_CLASS_UID
    assert ours.Modality == official.Modality == "KO"
    assert ours.ValueType == official.ValueType == "CONTAINER"
    title = official.ConceptNameCodeSequence[0]
    assert (title.CodeValue, title.CodingSchemeDesignator, title.CodeMeaning) == (
        MANIFEST.value,
        MANIFEST.scheme,
        MANIFEST.meaning,
    )
    assert ours.ConceptNameCodeSequence[0].CodeValue == title.CodeValue
    assert ours.IssuerOfPatientID == official.IssuerOfPatientID
    theirs, mine = _paths(official), _paths(ours)
    # Differences kept on purpose: the ANS sample puts TextValue on the root container (not
    # allowed by the SR Document Content module; ours is a TID 2010 "113012 Key Object
    # Description" TEXT item) and has OtherPatientNames, which we have no value for.
    assert theirs - mine == {"TextValue", "OtherPatientNames"}
    # every sequence nesting of the sample exists in ours
    assert {p for p in theirs if ">" in p} <= mine
    # and what we add: TID 2010 template, accession issuer, request details, series modality
    assert {
        "ContentTemplateSequence>TemplateIdentifier",
        "IssuerOfAccessionNumberSequence>UniversalEntityID",
        "ReferencedPerformedProcedureStepSequence",
        "CurrentRequestedProcedureEvidenceSequence>ReferencedSeriesSequence>Modality",
    } <= mine - theirs


def test_read_the_ans_drimbox_kos(ref_dir: Path) -> None:
    manifest = read_kos(ref_file(ref_dir, OFFICIAL_KOS).read_bytes())
    study = manifest.study
    assert manifest.sop_instance_uid == "1.2.276.0.7230010.3.1.4.1332562220.14700.1670582576.438"
    assert (study.ins, study.ins_oid) == ("248039263001064", "1.2.250.1.213.1.4.10")
    assert (study.accession_number, study.accession_issuer) == ("0901160050", "1.2.3.4.5.6")
    assert (study.placer_order_number, study.placer_order_issuer) == ("1298989898", "1.2.3.4.5.6")
    assert study.study_instance_uid == "2.16.840.1.113669.632.20.1211.10000231621"
    assert study.retrieve_url == "http://localhost:8080/dcm4chee-arc/aets/AS_RECEIVED/rs"
    assert study.study_description == "Tête^Dental (Adulte)"  # ISO_IR 100 decoded
    assert [len(s.instances) for s in study.series] == [1]
    assert study.series[0].instances[0].sop_class_uid == CT_IMAGE
    assert study.series[0].modality == ""  # not in the sample's evidence
    assert manifest.character_set == "ISO_IR 100"


@pytest.mark.parametrize(
    ("changes", "code"),
    [
        ({"ins": "279035121518988"}, "PatientID"),
        ({"ins_oid": "1.2.3"}, "PatientID"),
        ({"study_instance_uid": "1.2.abc"}, "StudyInstanceUID"),
        ({"study_instance_uid": "1." + "2" * 70}, "StudyInstanceUID"),
        ({"accession_number": ""}, "AccessionNumber"),
        ({"accession_number": "X" * 17}, "AccessionNumber"),
        ({"accession_issuer": "hospital"}, "IssuerOfAccessionNumber"),
        ({"placer_order_issuer": ""}, "OrderPlacerIdentifier"),
        ({"retrieve_url": "ftp://x"}, "RetrieveURL"),
        ({"retrieve_url": ""}, "RetrieveURL"),
        ({"series": ()}, "ReferencedSeriesSequence"),
        ({"birth_date": "19790230"}, "PatientBirthDate"),
        ({"sex": "X"}, "PatientSex"),
        ({"study_time": "9h40"}, "StudyTime"),
        ({"study_description": "a\\b"}, "StudyDescription"),
        ({"ipp": "000003", "ipp_issuer": ""}, "IPPIssuer"),
        # PN: 64 bytes per component group once UTF-8 encoded, 3 groups at most
        ({"patient_name": "É" * 33}, "PatientName"),
        ({"patient_name": "A=B=C=D"}, "PatientName"),
        ({"referring_physician": "X" * 65}, "ReferringPhysicianName"),
    ],
)
def test_bad_study_is_refused(changes: dict[str, object], code: str) -> None:
    with pytest.raises(KosError) as caught:
        build_kos(make_study(**changes))
    assert caught.value.code == code
    assert isinstance(caught.value, DicomError)


@pytest.mark.parametrize(
    ("series", "code"),
    [
        (KosSeries("1.2.3", "CT", ()), "ReferencedSOPSequence"),
        (KosSeries("1.2.3", "KO", (KosInstance(CT_IMAGE, "1.2.4"),)), "Modality"),
        (KosSeries("1.2.3", "ct", (KosInstance(CT_IMAGE, "1.2.4"),)), "Modality"),
        (KosSeries("1.2.3", "CT", (KosInstance("CT", "1.2.4"),)), "ReferencedSOPClassUID"),
        (
            KosSeries(
                "1.2.3", "CT", (KosInstance(CT_IMAGE, "1.2.4"), KosInstance(CT_IMAGE, "1.2.4"))
            ),
            "ReferencedSOPInstanceUID",
        ),
    ],
)
def test_bad_series_are_refused(series: KosSeries, code: str) -> None:
    with pytest.raises(KosError) as caught:
        build_kos(make_study(series=(series,)))
    assert caught.value.code == code


def test_bad_kos_uid_is_refused() -> None:
    with pytest.raises(KosError, match="SOPInstanceUID"):
        build_kos(make_study(), sop_instance_uid="not-a-uid")


def _ct(
    sop_uid: str, series_uid: str = "1.2.250.1.999.1.6.1", study_uid: str = STUDY_UID
) -> Dataset:
    ds = ct_image(sop_uid, series_uid, study_uid)
    ds.IssuerOfPatientID = "ASIP-SANTE-INS-NIR"
    qualifier = Dataset()
    qualifier.UniversalEntityID, qualifier.UniversalEntityIDType = INS_OID, "ISO"
    ds.IssuerOfPatientIDQualifiersSequence = [qualifier]
    ds.StudyTime = "094000"
    return ds


def _as_bytes(ds: Dataset) -> bytes:
    buffer = io.BytesIO()
    pydicom.dcmwrite(buffer, ds, enforce_file_format=True)
    return buffer.getvalue()


def test_study_from_image_headers() -> None:
    images = [_ct("1.2.9.2"), _ct("1.2.9.1"), _ct("1.2.9.3", series_uid="1.2.250.1.999.1.6.9")]
    headers = [pydicom.dcmread(io.BytesIO(_as_bytes(ds))) for ds in images]
    study = study_from_datasets(headers, retrieve_url=WADO, accession_issuer="1.2.250.1.999.1.3")
    assert (study.ins, study.ins_oid, study.accession_number) == (INS, INS_OID, ACCESSION)
    assert [s.series_instance_uid for s in study.series] == [
        "1.2.250.1.999.1.6.1",
        "1.2.250.1.999.1.6.9",
    ]
    assert [i.sop_instance_uid for i in study.series[0].instances] == ["1.2.9.1", "1.2.9.2"]
    assert read_kos(build_kos(study)).study == study


def test_study_from_headers_refuses_mixed_studies_and_nothing() -> None:
    with pytest.raises(KosError, match="plusieurs études"):
        study_from_datasets(
            [_ct("1.2.9.1"), _ct("1.2.9.2", study_uid="1.2.9.99")],
            retrieve_url=WADO,
            accession_issuer="1.2.250.1.999.1.3",
        )
    with pytest.raises(KosError, match="aucune instance"):
        study_from_datasets([], retrieve_url=WADO)
    with pytest.raises(KosError, match="IssuerOfAccessionNumber"):  # no issuer anywhere
        study_from_datasets([_ct("1.2.9.1")], retrieve_url=WADO)


def test_json_form_round_trip() -> None:
    study = make_study()
    assert study_from_dict(study_to_dict(study)) == study
    with pytest.raises(KosError, match="inconnus"):
        study_from_dict({**study_to_dict(study), "surprise": 1})
    with pytest.raises(KosError, match="chaîne"):
        study_from_dict({**study_to_dict(study), "ins": 279035121518989})
    with pytest.raises(KosError, match="series"):
        study_from_dict({**study_to_dict(study), "series": {}})
    with pytest.raises(KosError, match="objet"):
        study_from_dict([])


def test_unreadable_or_foreign_objects_are_refused(kos: bytes) -> None:
    with pytest.raises(KosError) as caught:
        read_kos(b"")
    assert caught.value.code == "format"
    with pytest.raises(KosError, match="Part 10"):
        read_kos(b"not dicom at all" * 20)
    with pytest.raises(KosError) as caught:
        read_kos(kos[: len(kos) - 20])
    assert caught.value.code == "format"
    with pytest.raises(KosError) as caught:
        read_kos(_as_bytes(_ct("1.2.9.1")))
    assert caught.value.code == "SOPClassUID"
    ds = pydicom.dcmread(io.BytesIO(kos))
    del ds.CurrentRequestedProcedureEvidenceSequence
    with pytest.raises(KosError, match="Evidence"):
        read_kos(_as_bytes(ds))


def test_other_title_gives_a_warning(kos: bytes) -> None:
    ds = pydicom.dcmread(io.BytesIO(kos))
    ds.ConceptNameCodeSequence[0].CodeValue = "113000"
    manifest = read_kos(_as_bytes(ds))
    assert manifest.warnings and "113030" in manifest.warnings[0]
    assert dataclasses.replace(manifest.study, title=MANIFEST) == make_study()


def test_every_truncation_is_refused(kos: bytes) -> None:
    """pydicom reads truncated files silently: read_kos must not return a partial manifest."""
    for cut in range(0, len(kos) - 1, 11):
        with pytest.raises(KosError):
            read_kos(kos[:cut])
    assert read_kos(kos).study == make_study()


def test_content_outside_the_evidence_is_refused(kos: bytes) -> None:
    ds = pydicom.dcmread(io.BytesIO(kos))
    ds.ContentSequence[1].ReferencedSOPSequence[0].ReferencedSOPInstanceUID = "1.2.3.4"
    with pytest.raises(KosError, match="hors de"):
        read_kos(_as_bytes(ds))


_uid_part = st.integers(min_value=1, max_value=10**9).map(str)
_uids = st.lists(_uid_part, min_size=2, max_size=6).map(lambda parts: "1.2." + ".".join(parts))
_texts = st.text(
    alphabet=st.characters(blacklist_categories=("Cc", "Cs"), blacklist_characters="\\^="),
    max_size=40,
).map(str.strip)


@settings(max_examples=25, deadline=None)
@given(
    uids=st.lists(_uids, min_size=3, max_size=8, unique=True),
    modality=st.sampled_from(["CT", "MR", "US", "DX", "SR", "PT"]),
    description=_texts,
    family=_texts,
    accession=st.text(alphabet="ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-", min_size=1, max_size=16),
)
@example(  # found by Hypothesis: 65 bytes in UTF-8 (pydicom warns when reading it back)
    uids=["1.2.8764.2128141", "1.2.1277.11792", "1.2.65536.4842"],
    modality="CT",
    description="",
    family="00" + "\xa0" * 14 + "\U00010000" * 7,
    accession="0",
)
def test_any_valid_study_round_trips(
    uids: list[str], modality: str, description: str, family: str, accession: str
) -> None:
    series_uid, *instance_uids = uids
    patient_name = f"{family}^Élise" if family else ""
    if len(patient_name.encode()) > 64:  # PN: 64 bytes per component group
        with pytest.raises(KosError, match="64 octets"):
            build_kos(make_study(patient_name=patient_name))
        return
    study = make_study(
        series=(
            KosSeries(series_uid, modality, tuple(KosInstance(CT_IMAGE, u) for u in instance_uids)),
        ),
        study_description=description,
        patient_name=patient_name,
        accession_number=accession,
    )
    assert read_kos(build_kos(study, description=description)).study == study
