"""A durable HL7 inbox: store each received message, then acknowledge it.

The acknowledgement is sent only once the message is on disk (written to a temporary file,
flushed with ``fsync``, then renamed), so an ``AA`` never covers a message that a crash could
lose. Messages with error-level conformance findings are stored under ``rejected/`` and answered
``AE`` with one ERR per finding; unreadable ones under ``rejected/`` too, answered ``AR``.
"""

from __future__ import annotations

import logging
import os
import re
import threading
import time
from collections.abc import Sequence
from pathlib import Path

from segur_ris.errors import Hl7Error, Hl7ParseError
from segur_ris.hl7v2._build_messages import ErrSource, build_ack, build_error_ack
from segur_ris.hl7v2._conformance import check_message
from segur_ris.hl7v2._er7 import Message, parse_message
from segur_ris.hl7v2._mllp_asyncio import PeerInfo

__all__ = ["Hl7Inbox"]

_log = logging.getLogger("segur_ris.hl7v2.inbox")
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


class Hl7Inbox:
    """MLLP handler (``MllpServer.start(Hl7Inbox(folder))``) storing messages in ``directory``.

    Files are named ``<UTC time>-<n>-<type>-<control id>.hl7`` (characters outside
    ``[A-Za-z0-9._-]`` replaced), never overwritten.
    """

    def __init__(self, directory: str | os.PathLike[str]) -> None:
        self.directory = Path(directory)
        self.rejected = self.directory / "rejected"
        for folder in (self.directory, self.rejected):  # patient data: owner only
            folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._count = 0

    def __call__(self, data: bytes, peer: PeerInfo) -> bytes:
        try:
            message = parse_message(data)
            message_type = message.message_type
        except Hl7ParseError as exc:
            path = self._store(self.rejected, data, "illisible", "")
            _log.warning(
                "HL7 message from %s unreadable (%s), kept as %s", peer.host, exc.code, path.name
            )
            return build_error_ack(data, exc)
        errors = [f for f in check_message(message) if f.severity == "error"]
        folder = self.rejected if errors else self.directory
        path = self._store(folder, data, message_type, message.control_id)
        _log.info("HL7 %s from %s stored as %s", message_type, peer.host, path.name)
        try:
            return self.acknowledge(message, errors)
        except Hl7Error as exc:  # e.g. an MSH that cannot be echoed: still answer, never loop
            return build_error_ack(data, exc)

    @staticmethod
    def acknowledge(message: Message, errors: Sequence[ErrSource]) -> bytes:
        """``AA``, or ``AE`` with the error findings as ERR segments."""
        return build_ack(message, "AE", errors=errors) if errors else build_ack(message, "AA")

    def _store(self, folder: Path, data: bytes, message_type: str, control_id: str) -> Path:
        with self._lock:
            self._count += 1
            count = self._count
        stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
        stem = "-".join(
            _UNSAFE.sub("_", part)[:64]
            for part in (stamp, str(count), message_type, control_id)
            if part
        )
        path = folder / f"{stem}.hl7"
        suffix = 0
        while path.exists():
            suffix += 1
            path = folder / f"{stem}.{suffix}.hl7"
        temporary = folder / f".{path.name}.tmp"
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(temporary, path)
        directory = os.open(folder, os.O_RDONLY)  # make the rename itself durable
        try:
            os.fsync(directory)
        finally:
            os.close(directory)
        return path
