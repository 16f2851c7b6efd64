"""``segur-ris sandbox serve``: the national-service stand-ins for a vendor's own tests."""

from __future__ import annotations

import argparse
import json
import signal
import sys
import threading
from pathlib import Path
from typing import Any

from segur_ris.cli._output import add_json_flag


def register(sub: Any) -> None:
    group = sub.add_parser("sandbox", help="bac à sable: INSi, DMP… sur 127.0.0.1")
    commands = group.add_subparsers(dest="sandbox_command", metavar="COMMAND", required=True)
    serve: argparse.ArgumentParser = commands.add_parser(
        "serve",
        help="Start the sandbox services and wait for Ctrl-C.",
        description="Start the sandbox services on 127.0.0.1 with a generated test PKI, print "
        "their endpoints and certificate files, serve until Ctrl-C (or SIGTERM).",
    )
    serve.add_argument(
        "--dir", type=Path, help="folder for the test PKI and the DMP database (default: temp)"
    )
    serve.add_argument(
        "--services", help="comma-separated subset (default: all), e.g. insi,dmp", default=""
    )
    add_json_flag(serve)
    serve.set_defaults(handler=_serve)


def _serve(args: argparse.Namespace) -> int:
    from segur_ris.sandbox import SANDBOX_SERVICES, SandboxSuite

    names = [n.strip() for n in args.services.split(",") if n.strip()] or SANDBOX_SERVICES
    stop = threading.Event()

    def on_signal(signum: int, frame: object) -> None:
        stop.set()

    previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        with SandboxSuite(args.dir, services=names) as suite:
            description = suite.describe()
            if args.json:
                print(json.dumps(description, ensure_ascii=False), flush=True)
            else:
                _print(description)
            while not stop.wait(0.5):
                pass
        if not args.json:
            print("bac à sable arrêté", file=sys.stderr)
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    return 0


def _print(description: dict[str, Any]) -> None:
    print(f"bac à sable segur_ris — dossier {description['directory']}")
    for name, service in description["services"].items():
        endpoint = service.get("url") or service.get("address")
        print(f"  {name:10s} {endpoint}")
    trust = description["trust"]
    print(f"  AC serveurs (TLS)       {trust['server_ca']}")
    print(f"  AC ORG (VIHF, XAdES)    {trust['org_ca']}")
    structure = description["structure"]
    print(f"  ORG AUTH_CLI            {structure['auth_cli']['cert']}")
    print(f"  ORG SIGN (PKCS#12)      {structure['sign']['p12']}")
    print("Ctrl-C pour arrêter.", flush=True)
