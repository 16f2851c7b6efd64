"""Writing secret files (private keys, PKCS#12): owner-only, whatever was there before."""

from __future__ import annotations

import os

__all__ = ["write_private"]

PRIVATE_MODE = 0o600


def write_private(path: str | os.PathLike[str], data: bytes) -> None:
    """Write ``data`` to ``path`` readable by its owner only (mode 0600, also when the file
    existed with a wider mode)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, PRIVATE_MODE)
    try:
        os.fchmod(fd, PRIVATE_MODE)
        view = memoryview(data)
        while view:  # os.write may write less than asked
            view = view[os.write(fd, view) :]
    finally:
        os.close(fd)
