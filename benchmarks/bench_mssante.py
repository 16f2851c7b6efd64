"""MSSanté core: XDM build + read (segur_ris) vs a plain zipfile + lxml path; mail and reports.

Run: ``python benchmarks/bench_mssante.py`` (``BENCH_QUICK=1``: one iteration, for smoke tests).

* XDM, segur_ris: ``build_xdm`` (metadata through the XDS model, README/INDEX, deterministic
  entries) then ``read_xdm`` (name checks, bounded inflation with our own inflater, SHA-1 and
  size against METADATA.XML, ebRIM parsed into the model);
* XDM, plain: what a hand-written integration does: ``zipfile`` writes the same four files
  (the METADATA.XML bytes are given), then reads them back, parses METADATA.XML with lxml and
  compares the SHA-1 of each document, with none of the hostile-archive checks;
* mail: ``build_mail`` (PDF/A check of the copy included) + ``to_bytes`` + ``read_mail`` for
  the same document;
* reports: ``parse_acknowledgement`` of an MDN and a DSN.

Documents: the CR-IMG N1 of ``examples/report.json`` (its PDF/A embedded, ~70 KB) and a 5 MB
XML document.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import io
import json
import os
import sys
import timeit
import zipfile
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

from lxml import etree

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from segur_ris.cda import build_cda_n1  # noqa: E402
from segur_ris.mssante import (  # noqa: E402
    MailDocument,
    build_dsn,
    build_mail,
    build_mdn,
    build_xdm,
    parse_acknowledgement,
    read_mail,
    read_xdm,
    xdm_document_from_cda,
)
from segur_ris.pdf import render_report_pdf  # noqa: E402
from segur_ris.report import ImagingReport  # noqa: E402

QUICK = os.environ.get("BENCH_QUICK") == "1"
WHEN = _dt.datetime(2026, 11, 24, 10, 0, tzinfo=_dt.UTC)
SENDER = "jeanne.radiologue@imagerie.mssante.fr"
RIM = "urn:oasis:names:tc:ebxml-regrep:xsd:rim:3.0"


def per_call_us(fn: Callable[[], object], number: int) -> float:
    fn()  # warm-up
    if QUICK:
        number = 1
    best = min(timeit.repeat(fn, number=number, repeat=1 if QUICK else 5))
    return best / number * 1e6


def plain_round_trip(files: dict[str, bytes]) -> None:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, content in files.items():
            archive.writestr(name, content)
    with zipfile.ZipFile(io.BytesIO(buffer.getvalue())) as archive:
        metadata = etree.fromstring(archive.read("IHE_XDM/SUBSET01/METADATA.XML"))
        for extrinsic in metadata.iter(f"{{{RIM}}}ExtrinsicObject"):
            values = {
                s.get("name"): s.findtext(f"{{{RIM}}}ValueList/{{{RIM}}}Value")
                for s in extrinsic.iter(f"{{{RIM}}}Slot")
            }
            content = archive.read(f"IHE_XDM/SUBSET01/{values['URI']}")
            assert hashlib.sha1(content).hexdigest() == values["hash"]


def main() -> None:
    report = ImagingReport.from_dict(
        json.loads((ROOT / "examples" / "report.json").read_text("utf-8"))
    )
    pdf = render_report_pdf(report)  # PDF/A-1b: build_mail checks the copy is PDF/A
    cda = build_cda_n1(report, pdf)
    small = xdm_document_from_cda(cda)
    filler = b"<!--" + b"x" * 5_000_000 + b"-->\n"
    big_content = cda.replace(b"</ClinicalDocument>", filler + b"</ClinicalDocument>")
    big = replace(
        small,
        content=big_content,
        entry=replace(small.entry, hash="", size=None),
    )
    print(f"{'case':<34}{'segur_ris µs':>14}{'plain µs':>12}{'ratio':>8}")
    for label, document, number in (("XDM CR-IMG N1", small, 200), ("XDM 5 MB", big, 3)):
        package = build_xdm([document], sender=SENDER, submission_time=WHEN)
        with zipfile.ZipFile(io.BytesIO(package)) as archive:
            files = {n: archive.read(n) for n in archive.namelist()}
        ours = per_call_us(
            lambda d=document: read_xdm(build_xdm([d], sender=SENDER, submission_time=WHEN)),
            number,
        )
        plain = per_call_us(lambda f=files: plain_round_trip(f), number)
        print(f"{label + ' build+read':<34}{ours:>14.0f}{plain:>12.0f}{ours / plain:>8.2f}")
        print(f"{'  ZIP size (bytes)':<34}{len(package):>14}")

    document = MailDocument(cda, pdf)

    def mail_round_trip() -> None:
        mail = build_mail([document], sender=SENDER, recipients=["a@b.mssante.fr"], nil="DEV1")
        read_mail(mail.to_bytes())

    print(f"{'mail build+to_bytes+read':<34}{per_call_us(mail_round_trip, 50):>14.0f}")
    original = build_mail(
        [document], sender=SENDER, recipients=["a@b.mssante.fr"], nil="DEV1", read_ack=True
    ).to_bytes()
    mdn = build_mdn(original, reporting_ua="mes")
    dsn = build_dsn(
        original, reporting_mta="mx", recipient="a@b.mssante.fr", action="failed", status="5.1.1"
    )
    print(f"{'parse MDN':<34}{per_call_us(lambda: parse_acknowledgement(mdn), 500):>14.0f}")
    print(f"{'parse DSN':<34}{per_call_us(lambda: parse_acknowledgement(dsn), 500):>14.0f}")


if __name__ == "__main__":
    main()
