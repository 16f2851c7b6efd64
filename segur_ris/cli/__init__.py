"""The ``segur-ris`` command line.

Each command group lives in its own module with a ``register(subparsers)`` function; handlers
import what they need when they run, so ``segur-ris --help`` stays fast (no zeep, pydicom,
reportlab or pikepdf at start-up).
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence

from segur_ris import __version__
from segur_ris.cli import (
    _backfill,
    _certs,
    _cri,
    _demo,
    _dmp,
    _hl7,
    _hl7_listen,
    _ins,
    _insi,
    _kos,
    _mss,
    _mwl,
    _outbox,
    _psc,
    _sandbox,
    _xdm,
)
from segur_ris.errors import SegurError

__all__ = ["build_parser", "main"]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="segur-ris",
        description="Ségur du numérique en santé pour la radiologie: INS/INSi, DMP, MSSanté…",
    )
    parser.add_argument("--version", action="version", version=f"segur-ris {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for module in (
        _backfill,
        _certs,
        _cri,
        _demo,
        _dmp,
        _ins,
        _insi,
        _kos,
        _mss,
        _mwl,
        _outbox,
        _psc,
        _sandbox,
        _xdm,
    ):
        module.register(sub)
    _hl7_listen.register(_hl7.register(sub))
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``segur-ris``; returns the process exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    handler = getattr(args, "handler", None)
    if handler is None:
        parser.print_help()
        return 2
    try:
        return int(handler(args))
    except SegurError as exc:
        print(f"segur-ris: erreur: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:  # output piped into `head` & co: stop quietly, like other CLIs
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 141


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
