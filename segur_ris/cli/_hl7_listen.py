"""``segur-ris hl7 listen``: an MLLP server that stores every message and acknowledges it."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import signal
import sys
from pathlib import Path
from typing import Any

from segur_ris.errors import ConfigError


def register(commands: Any) -> None:
    """Add ``listen`` to the ``hl7`` subparsers."""
    listen = commands.add_parser(
        "listen",
        help="serveur MLLP: stocke chaque message reçu et l'acquitte",
        description="Écoute en MLLP, écrit chaque message dans --dir (avant d'acquitter), "
        "répond AA, AE (constats de conformité bloquants) ou AR (message illisible). "
        "Ctrl-C arrête proprement.",
    )
    listen.add_argument("--port", type=int, default=2575)
    listen.add_argument("--host", default="127.0.0.1", help="loopback only unless --any-host")
    listen.add_argument("--any-host", action="store_true", help="allow a non-loopback address")
    listen.add_argument("--dir", type=Path, default=Path("hl7-inbox"), help="storage folder")
    listen.add_argument("--tls-cert", type=Path, help="server certificate (PEM) for MLLP/TLS")
    listen.add_argument("--tls-key", type=Path, help="its private key (PEM)")
    listen.add_argument("--tls-ca", type=Path, help="CA of the client certificates to require")
    listen.set_defaults(handler=_listen)


def _tls(args: argparse.Namespace) -> Any:
    if not args.tls_cert:
        return None
    if not args.tls_key:
        raise ConfigError("--tls-cert demande --tls-key")
    from segur_ris.sandbox._server import server_tls_context

    return server_tls_context(
        args.tls_cert, args.tls_key, args.tls_ca, require_client_cert=args.tls_ca is not None
    )


def _listen(args: argparse.Namespace) -> int:
    from segur_ris.hl7v2._inbox import Hl7Inbox
    from segur_ris.hl7v2._mllp_asyncio import MllpServer

    inbox = Hl7Inbox(args.dir)
    context = _tls(args)

    async def serve() -> None:
        server = await MllpServer.start(
            inbox,
            host=args.host,
            port=args.port,
            ssl=context,
            allow_non_loopback=args.any_host,
        )
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(NotImplementedError):
                loop.add_signal_handler(sig, stop.set)
        scheme = "mllp+tls" if context else "mllp"
        print(
            f"écoute {scheme}://{server.host}:{server.port} — messages dans {inbox.directory}",
            flush=True,
        )
        try:
            await stop.wait()
        finally:
            await server.close()
            print("arrêté", file=sys.stderr, flush=True)

    asyncio.run(serve())
    return 0
