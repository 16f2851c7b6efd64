"""``segur-ris mwl``: the DICOM Modality Worklist (serve it, feed it from HL7 orders)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from segur_ris.cli._output import add_json_flag, emit_json, read_file
from segur_ris.errors import ConfigError, SegurError


def register(subparsers: Any) -> None:
    """Add the ``mwl`` command group."""
    mwl = subparsers.add_parser(
        "mwl",
        help="worklist DICOM (MWL): serveur C-FIND, alimentation par ordres HL7",
        description="Modality Worklist: sert les examens planifiés aux modalités (C-FIND) "
        "à partir d'ordres ORM^O01 / OMI^O23.",
    )
    commands = mwl.add_subparsers(dest="mwl_command", metavar="COMMAND")
    mwl.set_defaults(handler=lambda _args: _usage(mwl))

    serve = commands.add_parser(
        "serve",
        help="serveur C-FIND de la worklist",
        description="Sert la base de worklist aux modalités (Ctrl-C arrête proprement).",
    )
    serve.add_argument("--port", type=int, default=11112, help="port (0: un port libre)")
    serve.add_argument("--aet", default="SEGUR_MWL", help="AE title du serveur")
    serve.add_argument("--host", default="127.0.0.1", help="loopback only unless --any-host")
    serve.add_argument("--any-host", action="store_true", help="allow a non-loopback address")
    serve.add_argument("--from-hl7", type=Path, metavar="DIR", help="charge les *.hl7 de DIR")
    serve.add_argument("--max-matches", type=int, default=1000)
    _common(serve)
    serve.set_defaults(handler=_serve)

    add = commands.add_parser(
        "add",
        help="applique un ordre HL7 (ORM^O01 / OMI^O23) à la worklist",
        description="Crée, remplace ou annule (ORC-1 CA) les examens de l'ordre.",
    )
    add.add_argument("orders", type=Path, nargs="+", metavar="ORDER.hl7")
    _common(add)
    add_json_flag(add)
    add.set_defaults(handler=_add)


def _usage(parser: argparse.ArgumentParser) -> int:
    parser.print_help()
    return 2


def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--db", type=Path, default=Path("worklist.sqlite"), help="base SQLite de la worklist"
    )
    parser.add_argument("--uid-root", default="", help="racine d'OID des Study Instance UID")
    parser.add_argument("--accession-oid", default="", help="OID émetteur des n° d'accession")
    parser.add_argument(
        "--station-aet",
        action="append",
        default=[],
        metavar="[MOD=]AET",
        help="AE title de station planifiée (par modalité: MR=IRM_1); défaut: la modalité",
    )
    parser.add_argument("--charset", choices=("ISO_IR 192", "ISO_IR 100"), default="ISO_IR 192")


def _settings(args: argparse.Namespace) -> Any:
    from segur_ris.dicom import WorklistSettings

    by_modality: dict[str, str] = {}
    default = ""
    for value in args.station_aet:
        modality, sep, aet = value.partition("=")
        if sep:
            by_modality[modality.strip().upper()] = aet.strip()
        else:
            default = value.strip()
    return WorklistSettings(
        uid_root=args.uid_root,
        accession_issuer_oid=args.accession_oid,
        station_ae_titles=by_modality,
        default_station_ae_title=default,
        character_set=args.charset,
    )


def _describe(change: Any) -> dict[str, str]:
    item = change.item
    return {
        "action": str(change.action),
        "order_control": change.order_control,
        "placer_order": change.placer_order_number,
        "accession_number": change.accession_number,
        "study_instance_uid": item.study_instance_uid if item else "",
        "modality": item.modality if item else "",
        "station_ae_title": item.station_ae_title if item else "",
        "start": item.start.isoformat() if item else "",
    }


def _add(args: argparse.Namespace) -> int:
    from segur_ris.dicom import WorklistStore

    settings = _settings(args)
    results: list[dict[str, str]] = []
    with WorklistStore(args.db) as store:
        for path in args.orders:
            for change in store.apply_message(read_file(path), settings):
                results.append({"file": str(path), **_describe(change)})
        total = len(store)
    if args.json:
        emit_json({"changes": results, "items": total})
    else:
        for row in results:
            print(
                f"{row['file']}: {row['action']} {row['accession_number'] or row['placer_order']}"
                f" {row['modality']} {row['start']}".rstrip()
            )
        print(f"{total} examen(s) dans {args.db}")
    return 0


def _serve(args: argparse.Namespace) -> int:
    import signal
    import threading

    from pynetdicom import _config as pynetdicom_config

    from segur_ris.dicom import WorklistScp, WorklistStore

    # pynetdicom logs every query identifier (patient names, IDs) at INFO level by default
    pynetdicom_config.LOG_REQUEST_IDENTIFIERS = False
    settings = _settings(args)
    with WorklistStore(args.db) as store:
        if args.from_hl7 is not None:
            if not args.from_hl7.is_dir():
                raise ConfigError(f"{args.from_hl7}: dossier introuvable")
            for path in sorted(args.from_hl7.glob("*.hl7")):
                try:
                    store.apply_message(read_file(path), settings)
                except SegurError as exc:  # one bad order must not stop the others
                    print(f"{path}: ignoré: {exc}", file=sys.stderr)
        stop = threading.Event()
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, lambda _signum, _frame: stop.set())
        scp = WorklistScp(
            store,
            ae_title=args.aet,
            host=args.host,
            port=args.port,
            max_matches=args.max_matches,
            allow_non_loopback=args.any_host,
        )
        with scp:
            print(
                f"écoute dicom://{args.host}:{scp.port} AET {args.aet} — "
                f"{len(store)} examen(s) de {args.db}",
                flush=True,
            )
            while not stop.wait(0.5):
                pass
        print("arrêté", file=sys.stderr, flush=True)
    return 0
