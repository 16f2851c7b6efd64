"""Helpers shared by the CLI commands: printing (plain text or ``--json``), reading and writing
files. Stdlib only: this module is loaded at ``segur-ris --help``."""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from pathlib import Path
from typing import Any

from segur_ris.errors import ConfigError


def add_json_flag(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", help="print the result as JSON")


def emit_json(data: Any) -> None:
    json.dump(data, sys.stdout, ensure_ascii=False, indent=2, default=str)
    sys.stdout.write("\n")


def read_file(path: Path) -> bytes:
    """The bytes of ``path``; :class:`~segur_ris.errors.ConfigError` when unreadable."""
    try:
        return path.read_bytes()
    except OSError as exc:
        raise ConfigError(f"fichier illisible: {path}: {exc.strerror}") from None


def write_atomically(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` only as a whole (temporary file, then rename): never a
    partial file; :class:`~segur_ris.errors.ConfigError` when the folder is not writable."""
    directory = path.parent if str(path.parent) else Path(".")
    try:
        fd, temporary = tempfile.mkstemp(dir=directory, prefix=f".{path.name}.", suffix=".tmp")
    except OSError as exc:
        raise ConfigError(f"écriture impossible dans {directory}: {exc.strerror}") from None
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
