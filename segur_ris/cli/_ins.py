"""``segur-ris ins``: INS commands (``check``)."""

from __future__ import annotations

import argparse
from typing import Any

from segur_ris.cli._output import add_json_flag, emit_json


def register(sub: Any) -> None:  # argparse._SubParsersAction
    """Add the ``ins`` command group and its subcommands."""
    group = sub.add_parser("ins", help="identité nationale de santé (matricule INS)")
    group.set_defaults(handler=lambda _args: _print_help(group))
    commands = group.add_subparsers(dest="ins_command", metavar="SUBCOMMAND")

    check = commands.add_parser(
        "check",
        help="vérifier un matricule INS (NIR/NIA + clé)",
        description="Vérifie la structure et la clé d'un matricule INS de 15 caractères. "
        "Code de sortie 0 si valide, 1 sinon.",
    )
    check.add_argument("matricule", help="matricule INS de 15 caractères (espaces ignorés)")
    check.add_argument(
        "--oid",
        default=None,
        help="OID de l'autorité d'affectation (fait foi pour distinguer NIR et NIA)",
    )
    add_json_flag(check)
    check.set_defaults(handler=_check)


def _print_help(parser: argparse.ArgumentParser) -> int:
    parser.print_help()
    return 2


def _check(args: argparse.Namespace) -> int:
    from segur_ris.ins import check_matricule

    result = check_matricule(args.matricule, oid=args.oid)
    if args.json:
        emit_json(result.as_dict())
    else:
        kind = result.kind.value if result.kind else "?"
        if result.valid:
            print(f"{args.matricule.strip()}: matricule INS valide ({kind}, clé {result.key})")
        else:
            print(f"{args.matricule.strip()}: matricule INS invalide ({kind})")
            for error in result.errors:
                print(f"  - {error}")
        for warning in result.warnings:
            print(f"  ! {warning}")
    return 0 if result.valid else 1
