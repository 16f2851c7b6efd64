"""``segur-ris insi``: query the INSi teleservice (the embedded sandbox by default)."""

from __future__ import annotations

import argparse
import contextlib
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from segur_ris.cli._output import add_json_flag, emit_json
from segur_ris.errors import ConfigError


def register(sub: Any) -> None:
    group = sub.add_parser("insi", help="téléservice INSi (CNAM)")
    commands = group.add_subparsers(dest="insi_command", metavar="COMMAND", required=True)
    search = commands.add_parser(
        "search",
        help="search an INS by identity traits",
        description=(
            "Searches the INS with the multi-first-name strategy. Without --env, the embedded "
            "sandbox INSi is started on 127.0.0.1 and queried over mutual TLS."
        ),
    )
    search.add_argument("--nom", required=True, help="nom de naissance")
    search.add_argument("--prenoms", required=True, help="prénoms de naissance, space-separated")
    search.add_argument("--sexe", required=True, choices=["M", "F"])
    search.add_argument("--date-naissance", required=True, help="YYYY-MM-DD (00 if unknown)")
    search.add_argument("--lieu-naissance", help="code COG INSEE (5 characters)")
    search.add_argument(
        "--env", choices=["test", "production"], help="real INSi environment (needs --cert/--key)"
    )
    search.add_argument("--config", type=Path, help="vendor TOML configuration")
    search.add_argument("--cert", type=Path, help="INSI-AUTO/INSI-MANU certificate (PEM)")
    search.add_argument("--key", type=Path, help="its private key (PEM)")
    search.add_argument("--ca", type=Path, help="trust anchors of the INSi server (PEM)")
    search.add_argument("--timeout", type=float, default=15.0)
    add_json_flag(search)
    search.set_defaults(handler=_search)


@contextlib.contextmanager
def _client(args: argparse.Namespace) -> Iterator[Any]:
    from segur_ris.config import load_settings
    from segur_ris.insi import InsiClient

    if args.env:
        if not (args.cert and args.key):
            raise ConfigError(f"--env {args.env} demande --cert et --key (certificat INSI-*)")
        settings = load_settings(args.config, env=args.env)
        with InsiClient(
            settings, client_cert=(args.cert, args.key), ca_bundle=args.ca, timeout=args.timeout
        ) as client:
            yield client
        return
    from segur_ris.sandbox import InsiSandbox, generate_test_pki

    with tempfile.TemporaryDirectory(prefix="segur-ris-") as tmp:
        pki = generate_test_pki(Path(tmp))
        with InsiSandbox(pki) as sandbox:
            settings = load_settings(args.config, env="demo").with_endpoints(insi=sandbox.url)
            cred = pki.clients["INSI-MANU"]
            with InsiClient(
                settings,
                client_cert=(cred.cert, cred.key),
                ca_bundle=pki.ca_cert,
                timeout=args.timeout,
            ) as client:
                yield client


def _search(args: argparse.Namespace) -> int:
    from segur_ris.ins import IdentityTraits

    traits = IdentityTraits.create(
        args.nom, args.prenoms, args.sexe, args.date_naissance, args.lieu_naissance
    )
    with _client(args) as client:
        result = client.search(traits)
    if args.json:
        emit_json(result.as_dict())
    elif result.found and result.ins is not None and result.traits is not None:
        found = result.traits
        print(f"INS {result.ins.value} ({result.ins.kind.value}, OID {result.ins.oid})")
        print(
            f"{found.nom_naissance} {found.liste_prenoms} {found.sexe.value} "
            f"{found.date_naissance.insi()} {found.lieu_naissance or ''}".rstrip()
        )
        for former in result.historiques:
            print(f"INS historique {former.value}")
    else:
        print(f"CodeCR {result.code.value}: {result.libelle}")
    return 0 if result.found else 1
