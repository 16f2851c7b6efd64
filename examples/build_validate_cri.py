"""Build a compte rendu d'imagerie (PDF/A, CDA CR-IMG N1 and N3) and validate it.

Run: ``python examples/build_validate_cri.py [--kit DIR] [--out DIR]``. ``--kit`` (or
``$SEGUR_RIS_TESTCONTENUCDA``) is a checkout of the ANS TestContenuCDA 3.0 repository: the CDA
XSD and the official schematrons then validate both documents offline. Without it the documents
are built and read back, and the script says that validation was skipped.
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path

from segur_ris.cda import CdaValidator, build_cda_n1, build_cda_n3, read_cda
from segur_ris.pdf import check_pdfa, render_report_pdf
from segur_ris.report import ImagingReport

HERE = Path(__file__).resolve().parent


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--kit", type=Path, help="TestContenuCDA checkout (XSD + schematrons)")
    parser.add_argument("--out", type=Path, default=Path("cri-output"))
    parser.add_argument("--cache", type=Path, help="compiled schematrons (default: user cache)")
    args = parser.parse_args(argv)

    report = ImagingReport.from_dict(json.loads((HERE / "report.json").read_text("utf-8")))
    pdf = render_report_pdf(report)
    print(f"PDF/A: {len(pdf)} octets, conforme PDF/A: {check_pdfa(pdf).ok}")
    documents = {"cri-n1.xml": build_cda_n1(report, pdf), "cri-n3.xml": build_cda_n3(report)}
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "cri.pdf").write_bytes(pdf)
    for name, data in documents.items():
        (args.out / name).write_bytes(data)
        doc = read_cda(data)
        print(
            f"{name}: niveau {doc.level}, INS {doc.ins.value if doc.ins else '-'}, "
            f"étude {doc.study_instance_uid}, accession {doc.accession_number}"
        )

    kit = args.kit or os.environ.get("SEGUR_RIS_TESTCONTENUCDA")
    if not kit:
        print("validation XSD + schematrons ANS non faite: --kit ou $SEGUR_RIS_TESTCONTENUCDA")
        return 0
    validator = CdaValidator(kit, cache_dir=args.cache)  # first run compiles (~1 min)
    failed = 0
    for name, data in documents.items():
        result = validator.validate(data)
        print(f"{name}: {len(result.errors)} erreur(s), {len(result.warnings)} avertissement(s)")
        for finding in result.errors:
            print(f"  {finding.source} {finding.rule}: {finding.message}")
        failed += not result.ok
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
