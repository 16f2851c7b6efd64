"""CDA readers on the official ANS examples (CR-IMG N1/N3, DA-IMG) and on broken input."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from segur_ris.cda._read import narrative_text, parse_ts, read_cda, read_da_img
from segur_ris.errors import CdaError, UnsafeXmlError, XmlError
from segur_ris.ins import from_cda_id
from segur_ris.report import SectionKind
from tests.conftest import ref_file

EXAMPLES = "cda/ansforge-TestContenuCDA-3-0/ExemplesCDA"
PLUS_ONE = dt.timezone(dt.timedelta(hours=1))


def _example(ref_dir: Path, name: str) -> bytes:
    return ref_file(ref_dir, f"{EXAMPLES}/{name}").read_bytes()


def _assert_official_header(doc_level: int, ref_dir: Path, name: str) -> None:
    doc = read_cda(_example(ref_dir, name))
    assert doc.level == doc_level
    assert doc.code.code == "18748-4"
    assert [c.code for c in doc.exam_codes] == ["24727-0", "36235-0", "24979-7"]
    assert doc.effective_time == dt.datetime(2021, 1, 8, 11, 17, tzinfo=PLUS_ONE)
    assert (doc.confidentiality, doc.language, doc.version) == ("N", "fr-FR", 2)
    patient = doc.patient
    assert (patient.ins, patient.ins_oid) == ("279035121518989", "1.2.250.1.213.1.4.10")
    assert from_cda_id(patient.ins_oid, patient.ins).value == "279035121518989"
    assert doc.ins is not None and doc.ins.oid == "1.2.250.1.213.1.4.10"
    assert (patient.ipp, patient.ipp_oid) == ("1234567890121", "1.2.3.4.567.8.9.10")
    assert patient.birth_name == "PAT-TROIS"
    assert (patient.given_names, patient.first_given) == ("DOMINIQUE MARIE-LOUISE", "DOMINIQUE")
    assert (patient.sex, patient.birth_time, patient.birthplace) == ("F", "19790328", "51215")
    assert patient.guardian == "MME Jeanne NESSI"
    assert doc.author is not None
    assert (doc.author.national_id, doc.author.rpps) == ("801234560801", "01234560801")
    assert doc.author.family == "BIDEAULT"
    assert doc.author.specialty is not None and doc.author.specialty.code == "G15_10/SM44"
    assert doc.custodian_name == "Centre de radiologie Ambroise"
    assert doc.placer_order == "1.2.250.1.748.12345678.12^984375862"
    assert doc.accession_number == "105234751"
    assert len(doc.study_instance_uids) == 3
    assert doc.modalities == ("CT",)
    assert [c.code for c in doc.ccam_acts] == ["ACQH004", "LCQH001", "ZBQH001"]
    assert doc.exam_start == dt.datetime(2021, 1, 8, 10, 25, tzinfo=PLUS_ONE)
    assert doc.related == "90E1C8EC-F951-4B26-A305-A34848818DD6"
    assert doc.facility_type is not None and doc.facility_type.code == "SA08"
    assert doc.prescriber is None  # the examples carry the médecin traitant (PCP), not REF


@pytest.mark.refdata
def test_official_n1(ref_dir: Path) -> None:
    name = "IMG_CR_IMG_2024.01_CDA-R2-Niveau-1.xml"
    _assert_official_header(1, ref_dir, name)
    doc = read_cda(_example(ref_dir, name))
    assert doc.document_id == "1.2.250.1.213.1.1.1.45.2024.2.1"
    assert doc.set_id == "1.2.250.1.213.1.1.1.45.2024.2"
    assert doc.template_ids == (
        "2.16.840.1.113883.2.8.2.1",
        "1.2.250.1.213.1.1.1.1",
        "1.3.6.1.4.1.19376.1.2.20",
    )
    assert doc.custodian_id == "1750803447"
    assert doc.accession_issuer == "1.2.250.1.925.994044.27"
    assert doc.study_instance_uid == "1.2.250.1.925.994044.27.123.1876350"
    assert doc.pdf is not None and doc.pdf.startswith(b"%PDF-1.7")
    assert doc.pdf.rstrip().endswith(b"%%EOF")
    assert doc.sections == ()


@pytest.mark.refdata
def test_official_n3(ref_dir: Path) -> None:
    name = "IMG_CR_IMG_2024.01.xml"
    _assert_official_header(3, ref_dir, name)
    doc = read_cda(_example(ref_dir, name))
    assert doc.document_id == "1.2.250.1.213.1.1.1.45.2024.1.1"
    assert "1.2.250.1.213.1.1.1.45" in doc.template_ids
    assert doc.pdf is None
    kinds = {s.kind for s in doc.sections}
    assert set(SectionKind) <= kinds
    top = [s.code for s in doc.sections if s.depth == 0]
    assert top[:3] == ["55107-7", "55752-0", "55111-9"]
    assert top.count("55111-9") == 3
    conclusion = doc.section(SectionKind.CONCLUSION)
    assert conclusion is not None and conclusion.title == "Conclusion"
    results = doc.section(SectionKind.RESULTATS)
    assert results is not None and "Pas d'adénomégalie cervicale" in results.text
    catalogs = [s for s in doc.sections if s.code == "121181"]
    assert len(catalogs) == 3 and all(s.kind is None and s.depth == 1 for s in catalogs)
    # "Documents ajoutés" shares 55107-7 with the Addendum but is not one
    attached = [s for s in doc.sections if s.title == "Documents liés"]
    assert attached and attached[0].kind is None


DA_IMG = {
    "IMG-DA-IMG_2024.01_Mammo-Echo-Seins.xml": ("984375862", ["MG", "MED-1128"]),
    "IMG-DA-IMG_2024.01_Radiographie_ChevilleGenou.xml": ("984375870", ["MED-1126", "MED-1126"]),
    "IMG-DA-IMG_2024.01_Radiographie_Echographie_SeinThorax.xml": (
        "984375871",
        ["MED-1126", "MED-1128", "MED-1126"],
    ),
    "IMG-DA-IMG_2024.01_Radiographie_IRM_Genou.xml": ("984375872", ["MR", "MED-1126"]),
    "IMG-DA-IMG_2024.01_Radiographie_Scanner_Genou.xml": ("984375873", ["CT", "MED-1126"]),
    "IMG-DA-IMG_2024.01_Scanner_Crane_ThoraxAbdomenPelvis.xml": ("984375874", ["CT", "CT"]),
    "IMG-DA-IMG_2024.01_TEP_Thorax.xml": ("984375875", ["PT"]),
}


@pytest.mark.refdata
@pytest.mark.parametrize("name", sorted(DA_IMG))
def test_official_da_img(ref_dir: Path, name: str) -> None:
    number, codes = DA_IMG[name]
    request = read_da_img(_example(ref_dir, name))
    assert request.placer_order == f"1.2.250.1.748.12345678.12^{number}"
    assert request.title == "Demande d'acte d'imagerie"
    assert [e.code.code for e in request.exams] == codes
    assert all(e.target_site is not None for e in request.exams)
    assert all(e.comment == "(texte libre)" for e in request.exams)
    assert request.prescriber is not None
    assert (request.prescriber.rpps, request.prescriber.family) == ("01234567897", "BOILEAU")
    assert request.patient.ins == "279035121518989"
    assert request.reason.startswith("Justification de la demande d’examen")
    assert request.effective_time is not None and request.effective_time.tzinfo is not None


@pytest.mark.refdata
def test_da_img_laterality(ref_dir: Path) -> None:
    request = read_da_img(_example(ref_dir, "IMG-DA-IMG_2024.01_Radiographie_IRM_Genou.xml"))
    exam = request.exams[0]
    assert exam.code.system == "1.2.840.10008.2.16.4"
    assert exam.target_site is not None and exam.target_site.code == "361291001"
    assert exam.laterality is not None
    assert (exam.laterality.code, exam.laterality.display) == ("7771000", "gauche")


@pytest.mark.refdata
def test_read_da_img_refuses_a_report(ref_dir: Path) -> None:
    with pytest.raises(CdaError) as error:
        read_da_img(_example(ref_dir, "IMG_CR_IMG_2024.01.xml"))
    assert error.value.code == "not_da_img"


# --- broken input ---------------------------------------------------------------------------

MINIMAL = (
    '<ClinicalDocument xmlns="urn:hl7-org:v3"><id root="1.2.3"/>'
    '<code code="18748-4" codeSystem="2.16.840.1.113883.6.1"/>'
    '<recordTarget><patientRole><id root="1.2.3.4" extension="P1"/></patientRole></recordTarget>'
    "{body}</ClinicalDocument>"
)


def _minimal(body: str) -> bytes:
    return MINIMAL.format(body=body).encode()


def test_minimal_document_reads_with_defaults() -> None:
    doc = read_cda(_minimal("<component><structuredBody/></component>"))
    assert (doc.level, doc.document_id, doc.set_id, doc.version) == (3, "1.2.3", "1.2.3", 1)
    assert doc.patient.ins == "" and doc.patient.ipp == "P1" and doc.ins is None
    assert doc.author is None and doc.effective_time is None and doc.study_instance_uids == ()


@pytest.mark.parametrize(
    ("data", "error", "code"),
    [
        (b"<ClinicalDocument", XmlError, None),
        (b'<!DOCTYPE x [<!ENTITY e "x">]><x>&e;</x>', UnsafeXmlError, None),
        (b'<x xmlns="urn:hl7-org:v3"/>', CdaError, "not_cda"),
        (_minimal(""), CdaError, "body"),
        (
            _minimal(
                '<component><nonXMLBody><text mediaType="application/pdf" '
                'representation="B64">***</text></nonXMLBody></component>'
            ),
            CdaError,
            "pdf",
        ),
        (
            _minimal(
                '<component><nonXMLBody><text mediaType="application/pdf">%PDF'
                "</text></nonXMLBody></component>"
            ),
            CdaError,
            "pdf",
        ),
        (
            _minimal('<effectiveTime value="2021-01-08"/><component><structuredBody/></component>'),
            CdaError,
            "time",
        ),
        (
            _minimal('<versionNumber value="deux"/><component><structuredBody/></component>'),
            CdaError,
            "version",
        ),
        (
            b'<ClinicalDocument xmlns="urn:hl7-org:v3"><code code="1"/></ClinicalDocument>',
            CdaError,
            "id",
        ),
    ],
)
def test_malformed_input_raises_typed_errors(
    data: bytes, error: type[Exception], code: str | None
) -> None:
    with pytest.raises(error) as raised:
        read_cda(data)
    if code is not None:
        assert getattr(raised.value, "code", None) == code


def test_reader_refuses_text() -> None:
    with pytest.raises(XmlError):
        read_cda("<ClinicalDocument/>")  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("20210108111700+0100", dt.datetime(2021, 1, 8, 11, 17, tzinfo=PLUS_ONE)),
        ("20210108", dt.datetime(2021, 1, 8)),
        ("2021", dt.datetime(2021, 1, 1)),
        ("20210108111700.5-0230", None),
        ("", None),
    ],
)
def test_parse_ts(value: str, expected: dt.datetime | None) -> None:
    parsed = parse_ts(value)
    if value.startswith("20210108111700.5"):
        assert parsed is not None and parsed.microsecond == 500000
        assert parsed.utcoffset() == -dt.timedelta(hours=2, minutes=30)
    else:
        assert parsed == expected


def test_narrative_text_blocks() -> None:
    from lxml import etree

    text = etree.fromstring(
        '<text xmlns="urn:hl7-org:v3">Intro\n  libre<paragraph>Un<br/>deux</paragraph>'
        "<list><item>A</item><item>B <content>C</content></item></list>"
        "<table><tr><th>T1</th><th>T2</th></tr><tr><td>x</td><td>y</td></tr></table>fin</text>"
    )
    assert narrative_text(text) == "Intro libre\n\nUn\ndeux\n\nA\n\nB C\n\nT1 | T2\n\nx | y\n\nfin"
    assert narrative_text(None) == ""
