"""PDF/A rendering of the imaging report and checking/conversion of vendors' PDFs."""

from __future__ import annotations

import copy
import io
import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pikepdf
import pikepdf.pdfa
import pytest
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfgen.canvas import Canvas

import segur_ris.pdf
from segur_ris.errors import PdfError
from segur_ris.pdf import check_pdfa, ensure_pdfa, render_report_pdf
from segur_ris.pdf._render import FONT, MODALITY_LABELS, _font_charset, safe_text
from segur_ris.report import ImagingReport
from tests.helpers_bench import run_benchmark

REPO = Path(__file__).resolve().parent.parent
EXAMPLE: dict[str, Any] = json.loads((REPO / "examples" / "report.json").read_text("utf-8"))


def make_report(**changes: Any) -> ImagingReport:
    data = copy.deepcopy(EXAMPLE)
    for key, value in changes.items():
        if key == "patient":
            data["patient"].update(value)
        elif key == "exam":
            data["exam"].update(value)
        else:
            data[key] = value
    return ImagingReport.from_dict(data)


@pytest.fixture(scope="module")
def example_pdf() -> bytes:
    return render_report_pdf(make_report(), deterministic=True)


# --- helpers reading the PDF without reportlab ------------------------------------------------


def assert_pdfa(data: bytes, level: str = "1b") -> None:
    """pikepdf's validator approves ``data`` and every font is an embedded TrueType."""
    report = pikepdf.pdfa.validate_written(io.BytesIO(data), level)
    assert report.passed, report.summary()
    with pikepdf.open(io.BytesIO(data)) as pdf:
        fonts = [
            obj
            for obj in pdf.objects
            if isinstance(obj, pikepdf.Dictionary) and obj.get("/Type") == "/Font"
        ]
        assert fonts
        for font in fonts:
            assert font.Subtype == "/TrueType", font.get("/BaseFont")
            assert "/FontFile2" in font.FontDescriptor
        for page in pdf.pages:
            assert "/Trans" not in page.obj
        assert not pdf.is_encrypted
        assert len(pdf.Root.OutputIntents) == 1
        meta = pdf.open_metadata(set_pikepdf_as_editor=False, update_docinfo=False)
        assert meta.pdfa_status == level.upper()


def _to_unicode(font: pikepdf.Dictionary) -> dict[int, str]:
    cmap = font.ToUnicode.read_bytes().decode("latin-1")
    table = {}
    for code, uni in re.findall(r"<([0-9A-Fa-f]{2})>\s*<([0-9A-Fa-f]{4,})>", cmap):
        table[int(code, 16)] = bytes.fromhex(uni).decode("utf-16-be")
    return table


def page_texts(data: bytes) -> list[str]:
    """Text of each page, decoded with the fonts' ToUnicode maps (whitespace collapsed)."""
    texts = []
    with pikepdf.open(io.BytesIO(data)) as pdf:
        for page in pdf.pages:
            maps = {str(k): _to_unicode(f) for k, f in page.Resources.Font.items()}
            current: dict[int, str] = {}
            parts: list[str] = []
            for operands, operator in pikepdf.parse_content_stream(page):
                op = str(operator)
                if op == "Tf":
                    current = maps[str(operands[0])]
                elif op in ("Tj", "'", '"'):
                    parts.append("".join(current.get(b, "") for b in bytes(operands[-1])))
                elif op == "TJ":
                    parts.append(
                        "".join(
                            "".join(current.get(b, "") for b in bytes(item))
                            for item in operands[0]
                            if isinstance(item, pikepdf.String)
                        )
                    )
                parts.append(" ")
            texts.append(re.sub(r"\s+", " ", "".join(parts).replace("\u00a0", " ")))
    return texts


def page_count(data: bytes) -> int:
    with pikepdf.open(io.BytesIO(data)) as pdf:
        return len(pdf.pages)


# --- rendering ----------------------------------------------------------------------------------


def test_example_report_is_pdfa_1b(example_pdf: bytes) -> None:
    assert example_pdf.startswith(b"%PDF-1.4")
    assert_pdfa(example_pdf, "1b")
    check = check_pdfa(example_pdf)
    assert check == segur_ris.pdf.PdfaCheck(True, "1b", (), False, 1)
    with pikepdf.open(io.BytesIO(example_pdf)) as pdf:
        meta = pdf.open_metadata(set_pikepdf_as_editor=False, update_docinfo=False)
        assert meta["xmp:CreatorTool"] == "segur_ris"
        assert meta["dc:title"] == "Compte rendu d'imagerie médicale"
        assert meta["xmp:CreateDate"].startswith("2026-11-24T10:30:00")
        assert meta["xmp:MetadataDate"].startswith("2026-11-24T10:30:00")
        assert str(pdf.Root.Lang) == "fr-FR"


def test_example_report_text(example_pdf: bytes) -> None:
    (text,) = page_texts(example_pdf)
    for expected in (
        "Centre d'imagerie de démonstration",
        "FINESS 750000001",
        "PAT-TROIS",
        "DOMINIQUE",
        "Féminin",
        "28/03/1979",
        "279035121518989 (NIR de test, OID 1.2.250.1.213.1.4.10) — identité qualifiée",
        "000003",
        "ACC-2026-000123",
        "CT (Scanographie (TDM))",
        "ZBQK002 — Scanographie du thorax",
        "MEDECIN Prescripteur (RPPS 10101234567)",
        "Examen tomodensitométrique thoracique normal.",
        "Dr RADIOLOGUE Jeanne",
        "RPPS 10112345678",
        "24/11/2026 à 10:30",
        "page 1/1",
        "Document 1.2.250.1.999.1.1.20261124.1 — version 1",
    ):
        assert expected in text, expected
    titles = ["Informations cliniques", "Technique", "Résultats", "Conclusion", "Signature"]
    positions = [text.index(title) for title in titles]
    assert positions == sorted(positions)


def test_sections_follow_the_model_order() -> None:
    sections = list(reversed(EXAMPLE["sections"]))
    (text,) = page_texts(render_report_pdf(make_report(sections=sections)))
    assert text.index("Informations cliniques") < text.index("Technique")
    assert text.index("Résultats") < text.index("Conclusion")


def test_deterministic_output(example_pdf: bytes) -> None:
    assert render_report_pdf(make_report(), deterministic=True) == example_pdf
    with pikepdf.open(io.BytesIO(example_pdf)) as pdf:
        assert str(pdf.docinfo.CreationDate) == "D:20261124103000+01'00"
    now = render_report_pdf(make_report())
    assert_pdfa(now)
    with pikepdf.open(io.BytesIO(now)) as pdf:
        assert str(pdf.docinfo.CreationDate) != "D:20261124103000+01'00"


def test_level_2b() -> None:
    data = render_report_pdf(make_report(), level="2b")
    assert_pdfa(data, "2b")
    assert check_pdfa(data, level="2b").ok
    assert not check_pdfa(data, level="1b").ok  # declares part 2


@pytest.mark.parametrize("modality", [*MODALITY_LABELS, "XC"])
def test_each_modality(modality: str) -> None:
    data = render_report_pdf(make_report(exam={"modalities": [modality]}))
    assert_pdfa(data)
    label = MODALITY_LABELS.get(modality)
    assert (f"{modality} ({label})" if label else modality) in page_texts(data)[0]


def test_accents_and_ligatures_are_drawn_as_is() -> None:
    text = "Œdème, cœur, à, ç, €, ’ — «x» É ° µ ² × … 5\u00a0mm"
    sections = [*EXAMPLE["sections"][:-1], {"kind": "conclusion", "text": text}]
    data = render_report_pdf(make_report(sections=sections), level="2b")
    assert_pdfa(data, "2b")
    assert "Œdème, cœur, à, ç, €, ’ — «x» É ° µ ² × … 5 mm" in page_texts(data)[0]


def test_missing_glyphs_are_substituted_only_when_missing() -> None:
    full = _font_charset()
    assert safe_text("cœur € ’", full) == "cœur € ’"
    without = full - {ord("œ"), ord("€"), ord("’")}
    assert safe_text("cœur 5 € l’os", without) == "coeur 5 EUR l'os"
    assert safe_text("5\u202fmm") == "5\u00a0mm"  # Vera has no narrow no-break space
    assert safe_text("e\u0301\tx\x07y") == "é xy"  # NFC, tab, control character
    assert safe_text("漢 ǅ") == "? Dž"  # nothing better than "?" / compatibility decomposition
    data = render_report_pdf(
        make_report(sections=[{"kind": "conclusion", "text": "Lésion de 5\u202fmm 漢 <b>&"}])
    )
    assert_pdfa(data)
    text = page_texts(data)[0]
    assert "Lésion de 5 mm ?" in text
    assert "?<b>&Signature" in text.replace(" ", "")  # markup characters drawn, not parsed


def test_long_text_flows_onto_several_pages() -> None:
    paragraph = " ".join(["Le parenchyme pulmonaire est analysé segment par segment."] * 12)
    results = "\n\n".join(f"{i}. {paragraph}" for i in range(1, 21))
    sections = [
        {"kind": "resultats", "text": results},
        {"kind": "conclusion", "text": "Conclusion finale."},
    ]
    data = render_report_pdf(make_report(sections=sections))
    assert_pdfa(data)
    pages = page_count(data)
    assert pages > 1
    texts = page_texts(data)
    for number, text in enumerate(texts, start=1):
        assert f"page {number}/{pages}" in text
        assert "Centre d'imagerie de démonstration" in text  # header on every page
        footer = "PAT-TROIS DOMINIQUE — né(e) le 28/03/1979 — INS 279035121518989"
        assert footer in text  # running footer with the identity
    assert "20. Le parenchyme" in "".join(texts)
    assert "Conclusion finale." in " ".join(texts[-2:])
    assert "Compte rendu validé par" in texts[-1]


def test_long_names_are_cut_in_header_and_footer() -> None:
    name = "Centre hospitalier intercommunal de radiologie et d'imagerie médicale " * 3
    facility = {"organization": {"identifier": "750000001", "name": name}}
    patient = {"nom_naissance": "DE LA " + "TRES-LONGUE-" * 8 + "FAMILLE"}
    data = render_report_pdf(make_report(facility=facility, patient=patient))
    assert_pdfa(data)
    text = page_texts(data)[0]
    assert "Centre hospitalier intercommunal" in text and "…" in text
    assert "page 1/1" in text


def test_minor_patient() -> None:
    patient = {"date_naissance": "2015-06-01", "justificatif": "LE", "mineur": True}
    report = make_report(patient=patient)
    assert report.patient.is_qualified
    data = render_report_pdf(report)
    assert_pdfa(data)
    assert "01/06/2015 (patient mineur, 11 ans)" in page_texts(data)[0]


def test_non_qualified_identity_shows_no_ins() -> None:
    report = make_report(patient={"justificatif": None})
    assert not report.patient.is_qualified
    data = render_report_pdf(report)
    assert_pdfa(data)
    text = page_texts(data)[0]
    assert "INS non qualifié — non communiqué (identité récupérée)" in text
    assert "279035121518989" not in text


def test_masked_confidentiality() -> None:
    conf = {"code": "R", "masque_ps": True, "invisible_patient": True}
    data = render_report_pdf(make_report(confidentiality=conf))
    assert_pdfa(data)
    text = page_texts(data)[0]
    assert "Confidentialité restreinte." in text
    assert "Document masqué aux professionnels de santé dans le DMP." in text
    assert "Document non visible par le patient dans le DMP." in text


def test_replacement_version() -> None:
    version = {"set_id": "1.2.250.1.999.1.9", "number": 2, "replaces": "1.2.250.1.999.1.1.1"}
    data = render_report_pdf(make_report(version=version), level="2b")
    assert_pdfa(data, "2b")
    text = page_texts(data)[0]
    assert "Version 2 — ce document remplace et annule le document 1.2.250.1.999.1.1.1." in text
    assert "— version 2" in text


def test_logo_is_flattened() -> None:
    from PIL import Image

    image = Image.new("RGBA", (300, 100), (0, 80, 160, 128))
    png = io.BytesIO()
    image.save(png, format="PNG")
    data = render_report_pdf(make_report(), logo=png.getvalue())
    assert_pdfa(data)
    with pikepdf.open(io.BytesIO(data)) as pdf:
        images = [
            o
            for o in pdf.objects
            if isinstance(o, pikepdf.Stream) and o.get("/Subtype") == "/Image"
        ]
        assert len(images) == 1 and "/SMask" not in images[0]
    with pytest.raises(PdfError) as caught:
        render_report_pdf(make_report(), logo=b"not an image")
    assert caught.value.code == "logo"


def test_bad_level() -> None:
    with pytest.raises(PdfError) as caught:
        render_report_pdf(make_report(), level="3u")  # type: ignore[arg-type]
    assert caught.value.code == "level"
    with pytest.raises(PdfError):
        check_pdfa(b"%PDF-1.4", level="1a")


# --- vendor PDFs -------------------------------------------------------------------------------


def vendor_pdf(*, embedded: bool, alpha: float = 1.0) -> bytes:
    """A one-page vendor report, not PDF/A: Helvetica (not embedded) or an embedded TTF."""
    _font_charset()
    buffer = io.BytesIO()
    canvas = Canvas(buffer, initialFontName=FONT if embedded else None)
    canvas.setFont(FONT if embedded else "Helvetica", 12)
    canvas.setFillAlpha(alpha)
    canvas.drawString(72, 720, "Compte rendu du fournisseur — cœur normal")
    canvas.showPage()
    canvas.save()
    return buffer.getvalue()


def test_vendor_pdf_with_helvetica_is_refused() -> None:
    data = vendor_pdf(embedded=False)
    assert "Helvetica" in pdfmetrics.standardFonts
    check = check_pdfa(data)
    assert not check.ok and check.level is None and check.pages == 1 and check.problems
    with pytest.raises(PdfError) as caught:
        ensure_pdfa(data)
    assert caught.value.code == "fonts"
    assert "polices non incorporées: Helvetica" in caught.value.message


@pytest.mark.parametrize("level", ["1b", "2b"])
def test_vendor_pdf_with_embedded_fonts_is_converted(level: str) -> None:
    data = vendor_pdf(embedded=True)
    before = check_pdfa(data, level=level)
    assert not before.ok and before.level is None
    converted = ensure_pdfa(data, level=level)
    assert converted != data
    assert_pdfa(converted, level)
    assert check_pdfa(converted, level=level).ok
    assert ensure_pdfa(converted, level=level) is converted  # already PDF/A: unchanged
    assert "cœur normal" in page_texts(converted)[0]


def test_transparency_refused_for_1b_only() -> None:
    data = vendor_pdf(embedded=True, alpha=0.5)
    with pytest.raises(PdfError) as caught:
        ensure_pdfa(data, level="1b")
    assert caught.value.code == "transparency"
    assert_pdfa(ensure_pdfa(data, level="2b"), "2b")


def test_javascript_is_refused() -> None:
    with pikepdf.open(io.BytesIO(vendor_pdf(embedded=True))) as pdf:
        pdf.Root.OpenAction = pikepdf.Dictionary(
            S=pikepdf.Name.JavaScript, JS=pikepdf.String("app.alert('x')")
        )
        out = io.BytesIO()
        pdf.save(out)
    with pytest.raises(PdfError) as caught:
        ensure_pdfa(out.getvalue())
    assert caught.value.code == "javascript"


@pytest.mark.parametrize("user", ["", "secret"])
def test_encrypted_pdf(user: str, example_pdf: bytes) -> None:
    with pikepdf.open(io.BytesIO(example_pdf)) as pdf:
        out = io.BytesIO()
        pdf.save(out, encryption=pikepdf.Encryption(owner="owner", user=user, R=4))
    data = out.getvalue()
    with pytest.raises(PdfError) as caught:
        ensure_pdfa(data)
    assert caught.value.code == "encrypted" and "chiffré" in caught.value.message
    check = check_pdfa(data)
    assert check.encrypted and not check.ok
    assert check.pages == (1 if not user else 0)


def test_bad_inputs(example_pdf: bytes) -> None:
    cases = {
        "not_pdf": b"GIF89a garbage bytes, not a PDF at all",
        "truncated": example_pdf[: len(example_pdf) // 2],
        "too_large": example_pdf,
    }
    for code, data in cases.items():
        for function in (check_pdfa, ensure_pdfa):
            with pytest.raises(PdfError) as caught:
                function(data, max_bytes=1000 if code == "too_large" else 10**7)
            assert caught.value.code == code, (function, code)
    damaged = b"%PDF-1.4\n" + os.urandom(200) + b"\n%%EOF\n"
    with pytest.raises(PdfError) as caught:
        ensure_pdfa(damaged)
    assert caught.value.code == "damaged"


# --- packaging ---------------------------------------------------------------------------------


def test_public_api() -> None:
    for name in segur_ris.pdf.__all__:
        assert hasattr(segur_ris.pdf, name)


def test_sdk_does_not_import_reportlab_or_pikepdf() -> None:
    code = (
        "import sys, segur_ris, segur_ris.report, segur_ris.ins, segur_ris.errors;"
        "print(sorted(m for m in ('reportlab', 'pikepdf') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_pdf_benchmark_runs() -> None:
    proc = run_benchmark("bench_pdf.py")
    assert "segur_ris" in proc.stdout and "pikepdf.pdfa.save" in proc.stdout
