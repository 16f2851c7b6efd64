"""``segur-ris hl7``: HL7 v2 commands (``inspect``; ``listen`` is added to the same group).

:func:`register` returns the group's subparsers object so that other commands can join the
group: ``commands = _hl7.register(sub); _hl7_listen.register(commands)``.
"""

from __future__ import annotations

import argparse
import sys
import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Any

from segur_ris.cli._output import add_json_flag, emit_json

if TYPE_CHECKING:
    from segur_ris.hl7v2._conformance import Finding
    from segur_ris.hl7v2._views import Hl7View, ReceivedIdentity

__all__ = ["register", "register_inspect"]


def register(sub: Any) -> Any:  # argparse._SubParsersAction
    """Add the ``hl7`` command group; returns its subparsers object (to add ``listen``…)."""
    group = sub.add_parser("hl7", help="messages HL7 v2 (PAM FR, CDA en HL7v2, téléradiologie)")
    group.set_defaults(handler=lambda _args: _print_help(group))
    commands = group.add_subparsers(dest="hl7_command", metavar="SUBCOMMAND")
    register_inspect(commands)
    return commands


def register_inspect(commands: Any) -> None:
    """Add ``inspect`` to the ``hl7`` subparsers."""
    inspect = commands.add_parser(
        "inspect",
        help="lire un message HL7 v2 (segments, patient, document, conformité)",
        description="Lit un fichier ER7 et affiche ses segments, l'identité patient (règle INS "
        "PAM FR: INS retenu seulement avec PID-32 VALI), le document CDA éventuel, les "
        "métadonnées MetaDMPMSS et les constats de conformité. Code de sortie 1 si le fichier "
        "n'est pas lisible.",
    )
    inspect.add_argument("file", type=Path, help="fichier ER7 (.hl7, .er7)")
    add_json_flag(inspect)
    inspect.set_defaults(handler=_inspect)


def _print_help(parser: argparse.ArgumentParser) -> int:
    parser.print_help()
    return 2


def _patient_dict(patient: ReceivedIdentity | None) -> dict[str, Any] | None:
    if patient is None:
        return None
    traits = patient.traits
    return {
        "ins": patient.ins.value if patient.ins else None,
        "ins_oid": patient.ins.oid if patient.ins else None,
        "ins_kind": patient.ins.kind.value if patient.ins else None,
        "status": patient.status.value,
        "pid32": list(patient.pid32),
        "ipp": patient.ipp.id if patient.ipp else None,
        "nda": patient.nda.id if patient.nda else None,
        "ins_dropped_reason": patient.ins_dropped_reason,
        "traits": None
        if traits is None
        else {
            "nom_naissance": traits.nom_naissance,
            "prenoms": list(traits.prenoms),
            "sexe": traits.sexe.value,
            "date_naissance": traits.date_naissance.insi(),
            "lieu_naissance": traits.lieu_naissance,
        },
        "traits_error": patient.traits_error,
    }


def _document_dict(view: Hl7View) -> dict[str, Any] | None:
    from segur_ris.errors import Hl7ParseError
    from segur_ris.hl7v2._views import DocumentMessage, ResultMessage

    if not isinstance(view, ResultMessage | DocumentMessage):
        return None
    ed = view.document
    if ed is None:
        return None
    kind = view.document_type
    try:
        content = view.document_bytes
        size: int | None = len(content) if content is not None else None
        error = None
    except Hl7ParseError as exc:
        size, error = None, exc.message
    meta = view.meta
    return {
        "type": None if kind is None else f"{kind.identifier}^{kind.text}^{kind.coding_system}",
        "media_type": ed.media_type,
        "encoding": ed.encoding,
        "size": size,
        "error": error,
        "meta_dmp_mss": None
        if meta is None
        else {"flags": dict(meta.raw), "fin": meta.fin, "corps_mail_ps": meta.corps_mail_ps},
        "participants": [
            {"role": p.role_code, "person": str(p.person or ""), "address": p.address}
            for p in view.participants
        ],
    }


def _finding_dict(finding: Finding) -> dict[str, Any]:
    return {
        "severity": finding.severity,
        "segment": finding.segment,
        "field": finding.field,
        "code": finding.code,
        "message": finding.message,
        "profile": finding.profile,
    }


def _inspect(args: argparse.Namespace) -> int:
    from segur_ris.hl7v2._conformance import check_message
    from segur_ris.hl7v2._er7 import parse_message
    from segur_ris.hl7v2._views import read_message

    path: Path = args.file
    try:
        data = path.read_bytes()
    except OSError as exc:
        print(f"segur-ris: erreur: {path}: {exc.strerror or exc}", file=sys.stderr)
        return 1
    view = read_message(parse_message(data))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        patient = view.patient
    findings = check_message(view)
    notes = [str(w.message) for w in caught]
    if args.json:
        emit_json(
            {
                "type": view.message_type,
                "structure": view.msh.structure,
                "control_id": view.control_id,
                "version": view.msh.version_id,
                "view": type(view).__name__,
                "segments": view.segment_names,
                "patient": _patient_dict(patient),
                "document": _document_dict(view),
                "findings": [_finding_dict(f) for f in findings],
                "warnings": notes,
            }
        )
        return 0
    msh = view.msh
    print(
        f"{view.message_type} ({msh.structure or '-'}) contrôle {view.control_id!r} "
        f"version {msh.version_id} [{type(view).__name__}]"
    )
    for seg in view.segments:
        print(f"  {seg.name} ({seg.field_count} champs)")
    info = _patient_dict(patient)
    if info is not None:
        print("Patient:")
        traits = info["traits"]
        if traits is not None:
            print(
                f"  {traits['nom_naissance']} {' '.join(traits['prenoms'])} {traits['sexe']} "
                f"{traits['date_naissance']} lieu {traits['lieu_naissance'] or '-'}"
            )
        else:
            print(f"  traits non normalisables: {info['traits_error']}")
        ins = f"{info['ins']} ({info['ins_kind']}, OID {info['ins_oid']})" if info["ins"] else "-"
        print(f"  INS {ins}, statut {info['status']}, PID-32 {'~'.join(info['pid32']) or '-'}")
        print(f"  IPP {info['ipp'] or '-'}, NDA {info['nda'] or '-'}")
    document = _document_dict(view)
    if document is not None:
        size = f"{document['size']} octets" if document["size"] is not None else document["error"]
        print(f"Document: {document['type']} {document['media_type']} ({size})")
        if document["meta_dmp_mss"] is not None:
            flags = document["meta_dmp_mss"]["flags"]
            shown = " ".join(f"{k}={v}" for k, v in flags.items() if not k.startswith("CORPS"))
            print(f"  MetaDMPMSS {shown}")
        for part in document["participants"]:
            print(f"  PRT {part['role']} {part['person']} {part['address'] or ''}".rstrip())
    for note in notes:
        print(f"Avertissement: {note}")
    print(f"Constats: {len(findings)}" if findings else "Constats: aucun")
    for finding in findings:
        print(f"  {finding}")
    return 0
