"""``segur-ris kos``: build and show DICOM KOS manifests (DRIMbox, XDS-I.b)."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from segur_ris.cli._output import add_json_flag, emit_json, read_file, write_atomically
from segur_ris.errors import ConfigError, KosError

#: Files larger than this are not read as DICOM headers when scanning a folder.
_MAX_DICOM_FILE = 2 * 1024**3


def register(sub: Any) -> None:
    group = sub.add_parser("kos", help="manifeste DICOM KOS (DRIMbox, XDS-I.b)")
    commands = group.add_subparsers(dest="kos_command", metavar="COMMAND", required=True)

    build = commands.add_parser(
        "build", help="build a KOS from a study description (JSON) or a DICOM folder"
    )
    source = build.add_mutually_exclusive_group(required=True)
    source.add_argument("--study-json", type=Path, help="study JSON (KosStudy fields)")
    source.add_argument("--dicom-dir", type=Path, help="folder of the study's DICOM files")
    build.add_argument("-o", "--output", type=Path, required=True, help="KOS file to write")
    build.add_argument("--retrieve-url", help="DRIMbox Source WADO-RS base URL (…/rs)")
    build.add_argument("--ins", help="matricule INS (else PatientID of the images)")
    build.add_argument("--ins-oid", help="INS OID (else from the images)")
    build.add_argument("--accession-issuer", help="OID of the accession number issuer")
    build.add_argument("--placer-order", help="placer order number")
    build.add_argument("--placer-issuer", help="OID of the placer order number issuer")
    build.add_argument("--description", default="", help="Key Object Description text")
    build.add_argument("--sop-instance-uid", help="UID of the KOS (else generated)")
    add_json_flag(build)
    build.set_defaults(handler=_build)

    xds = commands.add_parser("xds", help="XDS-I.b DocumentEntry of a KOS (JSON)")
    xds.add_argument("kos", type=Path)
    xds.add_argument(
        "--cda", type=Path, help="the exam's CDA CR-IMG: authors, facility, practice setting…"
    )
    xds.add_argument("--ins-oid", help="INS OID of the target environment (else the KOS's)")
    xds.set_defaults(handler=_xds)

    show = commands.add_parser("show", help="summary of a KOS")
    show.add_argument("kos", type=Path)
    add_json_flag(show)
    show.set_defaults(handler=_show)


def _datasets(folder: Path) -> list[Any]:
    """The headers of every DICOM Part 10 file under ``folder`` (other files are skipped)."""
    from pydicom import dcmread
    from pydicom.errors import InvalidDicomError

    if not folder.is_dir():
        raise ConfigError(f"dossier DICOM introuvable: {folder}")
    found = []
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        if path.stat().st_size > _MAX_DICOM_FILE:
            continue
        try:
            found.append(dcmread(path, stop_before_pixels=True))
        except InvalidDicomError:
            continue
        except Exception as exc:  # truncated or corrupt file: say which one
            raise KosError(f"{path}: DICOM illisible ({exc.__class__.__name__})") from None
    if not found:
        raise KosError(f"{folder}: aucun fichier DICOM", code="ReferencedSOPSequence")
    return found


def _build(args: argparse.Namespace) -> int:
    from segur_ris.dicom._kos import (
        build_kos,
        read_kos,
        study_from_datasets,
        study_from_dict,
        study_to_dict,
    )

    if args.study_json is not None:
        try:
            data = json.loads(read_file(args.study_json))
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise KosError(f"{args.study_json}: JSON invalide: {exc}", code="json") from None
        if isinstance(data, dict):
            overrides = {
                "retrieve_url": args.retrieve_url,
                "ins": args.ins,
                "ins_oid": args.ins_oid,
                "accession_issuer": args.accession_issuer,
                "placer_order_number": args.placer_order,
                "placer_order_issuer": args.placer_issuer,
            }
            data.update({k: v for k, v in overrides.items() if v})
        study = study_from_dict(data)
    else:
        if not args.retrieve_url:
            raise ConfigError("--retrieve-url (WADO-RS du DRIMbox Source) requis avec --dicom-dir")
        study = study_from_datasets(
            _datasets(args.dicom_dir),
            retrieve_url=args.retrieve_url,
            ins=args.ins or "",
            ins_oid=args.ins_oid or "",
            accession_issuer=args.accession_issuer or "",
            placer_order_number=args.placer_order or "",
            placer_order_issuer=args.placer_issuer or "",
        )
    kos = build_kos(study, sop_instance_uid=args.sop_instance_uid, description=args.description)
    write_atomically(args.output, kos)
    manifest = read_kos(kos)
    if args.json:
        emit_json(
            {
                "output": str(args.output),
                "size": len(kos),
                "sop_instance_uid": manifest.sop_instance_uid,
                "study": study_to_dict(study),
            }
        )
    else:
        print(
            f"{args.output}: KOS {manifest.sop_instance_uid} — étude "
            f"{study.study_instance_uid}, accession {study.accession_number}, "
            f"{len(study.series)} série(s), {study.instance_count} instance(s)"
        )
    return 0


def _show(args: argparse.Namespace) -> int:
    from segur_ris.dicom._kos import read_kos, study_to_dict

    manifest = read_kos(read_file(args.kos))
    study = manifest.study
    if args.json:
        emit_json(
            {
                "sop_instance_uid": manifest.sop_instance_uid,
                "series_instance_uid": manifest.series_instance_uid,
                "content_date": manifest.content_date,
                "content_time": manifest.content_time,
                "character_set": manifest.character_set,
                "description": manifest.description,
                "title": [study.title.value, study.title.scheme, study.title.meaning],
                "warnings": list(manifest.warnings),
                "study": study_to_dict(study),
            }
        )
    else:
        print(f"KOS {manifest.sop_instance_uid} ({study.title.meaning})")
        print(f"  patient     {study.ins} ({study.ins_oid})")
        print(f"  étude       {study.study_instance_uid}")
        print(f"  accession   {study.accession_number} ({study.accession_issuer})")
        if study.placer_order_number:
            print(f"  demande     {study.placer_order_number} ({study.placer_order_issuer})")
        print(f"  WADO-RS     {study.retrieve_url}")
        for series in study.series:
            print(
                f"  série       {series.series_instance_uid} {series.modality or '?'} "
                f"({len(series.instances)} instance(s))"
            )
        for warning in manifest.warnings:
            print(f"  attention   {warning}")
    return 0


def _xds(args: argparse.Namespace) -> int:
    import dataclasses

    from segur_ris.xds import document_entry_from_cda
    from segur_ris.xds._kos import document_entry_from_kos

    report_entry = None
    if args.cda is not None:
        report_entry = document_entry_from_cda(
            read_file(args.cda), environment_ins_oid=args.ins_oid or None
        )
    entry = document_entry_from_kos(
        read_file(args.kos), environment_ins_oid=args.ins_oid or None, report_entry=report_entry
    )
    emit_json(dataclasses.asdict(entry))
    return 0
