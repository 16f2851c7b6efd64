"""PDF/A rendering of the example report: segur_ris vs plain reportlab + ``pikepdf.pdfa.save``.

Run: ``python benchmarks/bench_pdf.py``. Prints reports/s and ms per report, all in one run:

* ``segur_ris``: :func:`segur_ris.pdf.render_report_pdf` (platypus layout with header, blocks,
  sections, signature, "page n/N"; PDF/A-1b or 2b written in memory and validated);
* ``reportlab+pikepdf.pdfa.save``: the same story laid out by plain ``SimpleDocTemplate.build``
  (no page furniture), then ``pikepdf.pdfa.save`` (prepare, write a temporary file, re-open
  and validate) — the path the peers note measured;
* ``reportlab only`` (not PDF/A) and ``check_pdfa`` alone, for scale.
"""

from __future__ import annotations

import io
import json
import os
import timeit
from collections.abc import Callable
from pathlib import Path

import pikepdf
import pikepdf.pdfa
from reportlab.lib.pagesizes import A4
from reportlab.platypus import SimpleDocTemplate

from segur_ris.pdf import check_pdfa, render_report_pdf
from segur_ris.pdf._render import FONT, _story
from segur_ris.report import ImagingReport

ROOT = Path(__file__).resolve().parent.parent
QUICK = os.environ.get("BENCH_QUICK") == "1"  # smoke run (tests): few iterations


def best_ms(cases: list[tuple[str, str, Callable[[], object]]], number: int) -> list[float]:
    """Best ms per call of each case; the cases are interleaved in every repeat so that a
    change of machine load hits them all alike."""
    for _, _, fn in cases:
        fn()  # warm-up (font registration, lazy imports)
    repeats, number = (1, 2) if QUICK else (7, number)
    best = [float("inf")] * len(cases)
    for _ in range(repeats):
        for index, (_, _, fn) in enumerate(cases):
            best[index] = min(best[index], timeit.timeit(fn, number=number) / number * 1e3)
    return best


def main() -> int:
    report = ImagingReport.from_dict(json.loads((ROOT / "examples" / "report.json").read_text()))

    def plain_reportlab() -> bytes:
        buffer = io.BytesIO()
        doc = SimpleDocTemplate(buffer, pagesize=A4, initialFontName=FONT, invariant=1)
        doc.build(_story(report))
        return buffer.getvalue()

    def peer(level: str) -> Callable[[], bytes]:
        def run() -> bytes:
            with pikepdf.open(io.BytesIO(plain_reportlab())) as pdf:
                for page in pdf.pages:
                    if "/Trans" in page.obj:
                        del page.obj["/Trans"]
                out = io.BytesIO()
                pikepdf.pdfa.save(pdf, out, level)
                return out.getvalue()

        return run

    ours = render_report_pdf(report)
    cases: list[tuple[str, str, Callable[[], object]]] = [
        ("render-1b", "segur_ris", lambda: render_report_pdf(report, level="1b")),
        ("render-1b", "reportlab+pikepdf.pdfa.save", peer("1b")),
        ("render-2b", "segur_ris", lambda: render_report_pdf(report, level="2b")),
        ("render-2b", "reportlab+pikepdf.pdfa.save", peer("2b")),
        ("layout", "reportlab only (not PDF/A)", plain_reportlab),
        ("check", "segur_ris check_pdfa", lambda: check_pdfa(ours)),
    ]
    print(f"{'task':<10} {'implementation':<30} {'reports/s':>10} {'ms':>8}")
    for (task, name, _), ms in zip(cases, best_ms(cases, 10), strict=True):
        print(f"{task:<10} {name:<30} {1000 / ms:>10.1f} {ms:>8.2f}")
    print(f"size: segur_ris {len(ours)} bytes, peer {len(peer('1b')())} bytes")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
