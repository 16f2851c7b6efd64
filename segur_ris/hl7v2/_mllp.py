"""MLLP (HL7 v2 minimal lower layer protocol, release 2) framing, sans-IO.

A frame is ``0x0B`` + message bytes + ``0x1C 0x0D``. Messages stay bytes here (ER7 in any
charset): this module never decodes them. :func:`frame` wraps one message; :class:`MllpFramer`
turns a byte stream back into messages, in linear time whatever the chunking, with a bounded
buffer. The asyncio server and client (:mod:`segur_ris.hl7v2._mllp_asyncio`) are built on it.

Error codes (:attr:`MllpError.code`): ``"forbidden_byte"`` (a message holds ``0x0B`` or
``0x1C``), ``"garbage"`` (bytes outside a frame, a start block inside a frame, a block end not
followed by ``0x0D``), ``"oversize"`` (a frame longer than ``max_frame``), ``"failed"`` (the
framer is in error and must be :meth:`~MllpFramer.reset`).
"""

from __future__ import annotations

import re
from typing import Final

from segur_ris.errors import ConfigError, MllpError

__all__ = [
    "CARRIAGE_RETURN",
    "DEFAULT_MAX_FRAME",
    "END_BLOCK",
    "START_BLOCK",
    "MllpFramer",
    "frame",
]

#: Start block character (VT).
START_BLOCK: Final = 0x0B
#: End block character (FS), followed by :data:`CARRIAGE_RETURN`.
END_BLOCK: Final = 0x1C
#: Carriage return closing a frame.
CARRIAGE_RETURN: Final = 0x0D
#: Default largest message accepted (bytes between the start and end blocks).
DEFAULT_MAX_FRAME: Final = 16 * 1024 * 1024

_START = b"\x0b"
_END = b"\x1c"
_TRAILER = b"\x1c\x0d"
# Whitespace tolerated between frames (CR/LF sent by some peers after the trailer).
_BETWEEN_FRAMES = re.compile(rb"[ \t\r\n\x0c]*")

# Framer states.
_OUTSIDE: Final = 0  # between frames
_INSIDE: Final = 1  # after a start block
_END_SEEN: Final = 2  # after an end block, expecting CR
_FAILED: Final = 3  # after an error, until reset()


def frame(message: bytes | bytearray | memoryview) -> bytes:
    """Wrap ``message`` in an MLLP frame.

    Raises :class:`MllpError` (code ``"forbidden_byte"``) when the message contains a start
    block (``0x0B``) or an end block (``0x1C``), which cannot be carried by MLLP.
    """
    if not isinstance(message, bytes | bytearray | memoryview):
        raise TypeError(f"an MLLP message is bytes, not {type(message).__name__}")
    data = bytes(message)
    if _START in data or _END in data:
        raise MllpError("un message MLLP ne peut contenir ni 0x0B ni 0x1C", code="forbidden_byte")
    return _START + data + _TRAILER


class MllpFramer:
    """Incremental MLLP decoder: :meth:`feed` bytes as they arrive, get complete messages.

    Whitespace (space, tab, CR, LF, FF) between frames is skipped. Any other byte outside a
    frame, a start block inside a frame or an end block not followed by CR raises
    :class:`MllpError` (code ``"garbage"``); a message growing past ``max_frame`` bytes raises
    it with code ``"oversize"`` before the excess is buffered. After an error the framer refuses
    every :meth:`feed` (code ``"failed"``) until :meth:`reset`; messages completed earlier in
    the failing chunk are discarded with it (the peer never got their acknowledgement).

    Each byte is examined a bounded number of times: total work is linear in the stream length
    however it is split.
    """

    __slots__ = ("_buffer", "_max_frame", "_state")

    def __init__(self, max_frame: int = DEFAULT_MAX_FRAME) -> None:
        if isinstance(max_frame, bool) or not isinstance(max_frame, int) or max_frame < 1:
            raise ConfigError(f"max_frame doit être un entier positif, pas {max_frame!r}")
        self._max_frame = max_frame
        self._buffer = bytearray()
        self._state = _OUTSIDE

    @property
    def max_frame(self) -> int:
        """Largest message accepted, in bytes (envelope excluded)."""
        return self._max_frame

    @property
    def pending(self) -> bytes:
        """Message bytes received so far for the incomplete frame (``b""`` at a boundary)."""
        return bytes(self._buffer) if self._state in (_INSIDE, _END_SEEN) else b""

    @property
    def pending_size(self) -> int:
        """Length of :attr:`pending`, without copying it."""
        return len(self._buffer) if self._state in (_INSIDE, _END_SEEN) else 0

    @property
    def at_boundary(self) -> bool:
        """True when no frame is partially received (and the framer is not in error)."""
        return self._state == _OUTSIDE

    @property
    def failed(self) -> bool:
        """True after a framing error, until :meth:`reset`."""
        return self._state == _FAILED

    def reset(self) -> None:
        """Forget any partial frame and any previous error."""
        self._buffer = bytearray()
        self._state = _OUTSIDE

    def feed(self, data: bytes | bytearray | memoryview) -> list[bytes]:
        """Consume ``data``; return the messages it completes, in order (maybe none)."""
        if self._state == _FAILED:
            raise MllpError("décodeur MLLP en erreur: appeler reset()", code="failed")
        if not isinstance(data, bytes | bytearray):
            data = bytes(data)
        try:
            return self._feed(data)
        except MllpError:
            self._buffer = bytearray()
            self._state = _FAILED
            raise

    def _feed(self, data: bytes | bytearray) -> list[bytes]:
        messages: list[bytes] = []
        size = len(data)
        pos = 0
        while pos < size:
            state = self._state
            if state == _OUTSIDE:
                match = _BETWEEN_FRAMES.match(data, pos)
                pos = match.end() if match is not None else pos
                if pos == size:
                    break
                if data[pos] != START_BLOCK:
                    raise MllpError(
                        f"octet 0x{data[pos]:02X} hors d'une trame MLLP", code="garbage"
                    )
                pos += 1
                self._state = _INSIDE
            elif state == _INSIDE:
                end = data.find(_END, pos)
                stop = size if end < 0 else end
                if data.find(_START, pos, stop) >= 0:
                    raise MllpError("début de trame (0x0B) dans une trame MLLP", code="garbage")
                if len(self._buffer) + (stop - pos) > self._max_frame:
                    raise MllpError(
                        f"trame MLLP de plus de {self._max_frame} octets", code="oversize"
                    )
                self._buffer += data[pos:stop]
                pos = stop
                if end >= 0:
                    pos += 1
                    self._state = _END_SEEN
            else:  # _END_SEEN
                if data[pos] != CARRIAGE_RETURN:
                    raise MllpError(
                        f"fin de bloc MLLP suivie de 0x{data[pos]:02X} au lieu de 0x0D",
                        code="garbage",
                    )
                pos += 1
                messages.append(bytes(self._buffer))
                self._buffer = bytearray()
                self._state = _OUTSIDE
        return messages
