"""CRI N1 end to end: PDF/A + CDA + XSD, reports per second on one core, against the plain
reportlab + ``pikepdf.pdfa.save`` path, in one run; then the full schematron validation time
per document.

Run: ``python benchmarks/bench_cri.py`` (the XSD and schematrons are read from
``../shared/ref/cda/ansforge-TestContenuCDA-3-0`` or ``$SEGUR_RIS_REF``).

* segur_ris: ``render_report_pdf`` (PDF/A-1b) → ``build_cda_n1`` → XSD validation;
* plain: a reportlab platypus report with the same content and embedded TrueType fonts, made
  PDF/A-1b with ``pikepdf.pdfa.save`` — what a vendor would write without the SDK (no CDA).
"""

from __future__ import annotations

import io
import json
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
REF = Path(os.environ.get("SEGUR_RIS_REF", ROOT.parent / "shared" / "ref"))
KIT = REF / "cda/ansforge-TestContenuCDA-3-0"
QUICK = os.environ.get("BENCH_QUICK") == "1"


def rate(fn: Callable[[], object], seconds: float) -> float:
    fn()
    count, start = 0, time.perf_counter()
    while True:
        fn()
        count += 1
        elapsed = time.perf_counter() - start
        if elapsed >= seconds:
            return count / elapsed


def plain_path(report_json: dict[str, object]) -> Callable[[], bytes]:
    import pikepdf
    import pikepdf.pdfa
    import reportlab
    from reportlab.lib.pagesizes import A4
    from reportlab.lib.styles import ParagraphStyle
    from reportlab.pdfbase import pdfmetrics
    from reportlab.pdfbase.ttfonts import TTFont
    from reportlab.platypus import Paragraph, SimpleDocTemplate, Spacer

    fonts = Path(reportlab.__file__).parent / "fonts"
    pdfmetrics.registerFont(TTFont("BenchVera", str(fonts / "Vera.ttf")))
    pdfmetrics.registerFont(TTFont("BenchVeraBd", str(fonts / "VeraBd.ttf")))
    body = ParagraphStyle("b", fontName="BenchVera", fontSize=10, leading=13)
    title = ParagraphStyle("t", fontName="BenchVeraBd", fontSize=14, leading=18)
    texts = [str(s["text"]) for s in report_json["sections"]]  # type: ignore[attr-defined]

    def run() -> bytes:
        buffer = io.BytesIO()
        doc = SimpleDocTemplate(buffer, pagesize=A4, initialFontName="BenchVera")
        story = [Paragraph("Compte rendu d'imagerie médicale", title), Spacer(1, 12)]
        story += [Paragraph(t.replace("\n", "<br/>"), body) for t in texts]
        doc.build(story)
        pdf = pikepdf.open(io.BytesIO(buffer.getvalue()))
        for page in pdf.pages:
            if "/Trans" in page.obj:
                del page.obj["/Trans"]
        out = io.BytesIO()
        pikepdf.pdfa.save(pdf, out, "1b")
        return out.getvalue()

    return run


def main() -> int:
    xsd_path = KIT / "infrastructure/cda/CDA_extended.xsd"
    if not xsd_path.is_file():
        print(f"reference data missing under {KIT}", file=sys.stderr)
        return 2
    from lxml import etree

    from segur_ris.cda import CdaValidator, build_cda_n1
    from segur_ris.pdf import render_report_pdf
    from segur_ris.report import ImagingReport

    data = json.loads((ROOT / "examples/report.json").read_text(encoding="utf-8"))
    report = ImagingReport.from_dict(data)
    xsd = etree.XMLSchema(etree.parse(str(xsd_path)))

    def ours() -> bytes:
        document = build_cda_n1(report, render_report_pdf(report))
        if not xsd.validate(etree.fromstring(document)):
            raise AssertionError(xsd.error_log)
        return document

    seconds = 0.3 if QUICK else 3.0
    ours_rate = rate(ours, seconds)
    plain_rate = rate(plain_path(data), seconds)
    print("N1 end to end (one core)        reports/s")
    print(f"segur_ris PDF/A + CDA + XSD     {ours_rate:9.1f}")
    print(f"reportlab + pikepdf.pdfa.save   {plain_rate:9.1f}")
    print(f"ratio                           {ours_rate / plain_rate:9.2f}x")

    if QUICK:  # smoke run (tests): the schematron timing needs compiled validators
        return 0
    validator = CdaValidator(KIT)
    document = ours()
    started = time.perf_counter()
    verdict = validator.validate(document)
    first = time.perf_counter() - started
    started = time.perf_counter()
    runs = 1 if QUICK else 5
    for _ in range(runs):
        verdict = validator.validate(document)
    warm = (time.perf_counter() - started) / runs
    print(
        f"full validation (XSD + schematrons): first {first * 1000:.0f} ms (compiles or "
        f"loads the cache), then {warm * 1000:.0f} ms/document; {len(verdict.errors)} error(s)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
