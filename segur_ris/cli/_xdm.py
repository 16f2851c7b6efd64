"""``segur-ris xdm``: build an ``IHE_XDM.zip`` from CDA documents, read and check one."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from segur_ris.cli._output import add_json_flag, emit_json, read_file, write_atomically
from segur_ris.errors import ConfigError

_DEFAULT_SENDER = "ris@imagerie-sandbox.mssante.fr"


def register(sub: Any) -> None:
    group = sub.add_parser("xdm", help="IHE XDM (MSSanté): construire ou lire un IHE_XDM.zip")
    commands = group.add_subparsers(dest="xdm_command", metavar="COMMAND", required=True)

    build = commands.add_parser(
        "build", help="Build an IHE_XDM.zip from CDA documents (one patient).",
        description="Build an IHE_XDM.zip (METADATA.XML, README.TXT, INDEX.HTM, documents) "
        "from one or more CDA CR-IMG of the same patient.",
    )  # fmt: skip
    build.add_argument("cda", type=Path, nargs="+", help="CDA documents")
    build.add_argument("-o", "--output", type=Path, required=True, help="ZIP file to write")
    build.add_argument("--sender", default=_DEFAULT_SENDER, help="sender (README.TXT)")
    build.add_argument(
        "--recipient", action="append", default=[], help="intended recipient (repeatable)"
    )
    add_json_flag(build)
    build.set_defaults(handler=_build)

    read = commands.add_parser(
        "read", help="Read and check an IHE_XDM.zip (paths, sizes, SHA-1 hashes, metadata)."
    )
    read.add_argument("zip", type=Path)
    read.add_argument("--extract", type=Path, help="write the documents into this directory")
    add_json_flag(read)
    read.set_defaults(handler=_read_command)


def _build(args: argparse.Namespace) -> int:
    from segur_ris.mssante._xdm import build_xdm, xdm_document_from_cda

    documents = [xdm_document_from_cda(read_file(path)) for path in args.cda]
    data = build_xdm(documents, sender=args.sender, intended_recipients=args.recipient)
    write_atomically(args.output, data)
    if args.json:
        emit_json({"output": str(args.output), "size": len(data), "documents": len(documents)})
    else:
        print(f"{args.output}: IHE_XDM, {len(documents)} document(s), {len(data)} octets")
    return 0


def package_dict(package: Any) -> dict[str, Any]:
    """JSON form of an :class:`~segur_ris.mssante.XdmPackage`."""
    submission = package.submission_set
    return {
        "submission_set": {
            "unique_id": submission.unique_id,
            "source_id": submission.source_id,
            "patient_id": submission.patient_id,
            "submission_time": submission.submission_time,
            "intended_recipients": list(submission.intended_recipients),
        },
        "documents": [
            {
                "name": document.name,
                "size": len(document.content),
                "sha1": document.entry.hash,
                "mime_type": document.entry.mime_type,
                "unique_id": document.entry.unique_id,
                "title": document.entry.title,
                "patient_id": document.entry.patient_id,
                "type_code": document.entry.type_code.code if document.entry.type_code else "",
            }
            for document in package.documents
        ],
    }


def _read_command(args: argparse.Namespace) -> int:
    from segur_ris.mssante._xdm import read_xdm

    package = read_xdm(read_file(args.zip))  # every check runs before anything is written
    if args.extract is not None:
        # names are checked by read_xdm (no traversal); keep only the last component
        names = [Path(document.name).name for document in package.documents]
        if len({n.upper() for n in names}) != len(names):
            raise ConfigError(f"--extract: noms de documents en double ({', '.join(names)})")
        try:
            args.extract.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise ConfigError(f"--extract: {args.extract}: {exc.strerror}") from None
        for name, document in zip(names, package.documents, strict=True):
            write_atomically(args.extract / name, document.content)
    data = package_dict(package)
    if args.json:
        emit_json(data)
        return 0
    submission = data["submission_set"]
    print(f"lot {submission['unique_id']} patient {submission['patient_id']}")
    for document in data["documents"]:
        print(
            f"  {document['name']}: {document['size']} octets, SHA-1 {document['sha1']}, "
            f"{document['title']}"
        )
    return 0
