"""``segur-ris cri``: build, validate, show and extract comptes rendus d'imagerie (CDA CR-IMG)."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from segur_ris.cli._output import add_json_flag, emit_json, read_file, write_atomically
from segur_ris.errors import CdaError


def register(sub: Any) -> None:
    group = sub.add_parser("cri", help="compte rendu d'imagerie: PDF/A et CDA R2 CR-IMG")
    commands = group.add_subparsers(dest="cri_command", metavar="COMMAND", required=True)

    build = commands.add_parser("build", help="build a CDA (N1 with PDF/A, or N3) from JSON")
    build.add_argument("report", type=Path, help="report JSON (see examples/report.json)")
    build.add_argument("-o", "--output", type=Path, required=True, help="CDA file to write")
    build.add_argument("--level", type=int, choices=[1, 3], default=1)
    build.add_argument("--pdf", type=Path, help="the vendor's own PDF (checked/made PDF/A)")
    build.add_argument("--pdf-output", type=Path, help="also write the PDF/A here (N1)")
    build.set_defaults(handler=_build)

    validate = commands.add_parser(
        "validate", help="XSD + ANS schematrons (needs a TestContenuCDA checkout)"
    )
    validate.add_argument("cda", type=Path)
    validate.add_argument(
        "--kit", type=Path, help="TestContenuCDA checkout (else $SEGUR_RIS_TESTCONTENUCDA)"
    )
    add_json_flag(validate)
    validate.set_defaults(handler=_validate)

    show = commands.add_parser("show", help="summary of a CDA header")
    show.add_argument("cda", type=Path)
    add_json_flag(show)
    show.set_defaults(handler=_show)

    pdf = commands.add_parser("pdf", help="extract the PDF of an N1 CDA")
    pdf.add_argument("cda", type=Path)
    pdf.add_argument("-o", "--output", type=Path, required=True)
    pdf.set_defaults(handler=_pdf)


def _build(args: argparse.Namespace) -> int:
    from segur_ris.cda import build_cda_n1, build_cda_n3
    from segur_ris.report import ImagingReport

    try:
        data = json.loads(read_file(args.report))
    except json.JSONDecodeError as exc:
        raise CdaError(f"{args.report}: JSON invalide: {exc}") from None
    report = ImagingReport.from_dict(data)
    pdf: bytes | None = None
    if args.level == 1:
        from segur_ris.pdf import ensure_pdfa, render_report_pdf

        pdf = ensure_pdfa(read_file(args.pdf)) if args.pdf else render_report_pdf(report)
        document = build_cda_n1(report, pdf)
    else:
        document = build_cda_n3(report)
    write_atomically(args.output, document)  # nothing is written before everything succeeded
    if pdf is not None and args.pdf_output:
        write_atomically(args.pdf_output, pdf)
    print(f"{args.output}: CDA CR-IMG niveau {args.level}, {len(document)} octets")
    return 0


def _validate(args: argparse.Namespace) -> int:
    from segur_ris.cda import CdaValidator

    report = CdaValidator(args.kit).validate(read_file(args.cda))
    if args.json:
        emit_json(report.as_dict())
    else:
        for finding in report.findings:
            where = f" [{finding.location}]" if finding.location else ""
            rule = f" {finding.rule}" if finding.rule else ""
            print(f"{finding.severity:7} {finding.source}{rule}{where}: {finding.message}")
        print(f"{len(report.errors)} erreur(s), {len(report.warnings)} avertissement(s)")
    return 0 if report.ok else 1


def _summary(data: bytes) -> dict[str, Any]:
    from segur_ris.cda import read_cda

    doc = read_cda(data)
    return {
        "ins": doc.ins.value if doc.ins else None,
        "ins_oid": doc.ins.oid if doc.ins else None,
        "study_uid": doc.study_instance_uid,
        "accession": doc.accession_number,
        "code": doc.code.code,
        "level": doc.level,
        "pdf_bytes": len(doc.pdf) if doc.pdf else 0,
        "document_id": doc.document_id,
        "set_id": doc.set_id,
        "version": doc.version,
        "title": doc.title,
    }


def _show(args: argparse.Namespace) -> int:
    summary = _summary(read_file(args.cda))
    if args.json:
        emit_json(summary)
    else:
        for key, value in summary.items():
            print(f"{key:12} {value}")
    return 0


def _pdf(args: argparse.Namespace) -> int:
    from segur_ris.cda import read_cda

    doc = read_cda(read_file(args.cda))
    if not doc.pdf:
        raise CdaError(f"{args.cda}: pas de PDF (document de niveau {doc.level})")
    write_atomically(args.output, doc.pdf)
    print(f"{args.output}: {len(doc.pdf)} octets")
    return 0
