"""HL7 v2: lossless, lazy ER7 parsing, French-aware views, builders and MLLP.

The core (:func:`parse_message`, :class:`Message`, :class:`Segment`, :class:`Repetition`) keeps
every byte of a message and splits fields only when they are read. MLLP: the sans-IO
:class:`MllpFramer` and, on it, :class:`MllpServer` / :class:`MllpClient` (asyncio).
"""

from segur_ris.hl7v2._er7 import (
    CHARSETS,
    Message,
    Repetition,
    Segment,
    Separators,
    escape,
    parse_message,
    unescape,
)
from segur_ris.hl7v2._mllp import DEFAULT_MAX_FRAME, MllpFramer, frame
from segur_ris.hl7v2._mllp_asyncio import (
    MllpClient,
    MllpServer,
    PeerInfo,
    send_message,
    serve_mllp,
)

__all__ = [
    "CHARSETS",
    "DEFAULT_MAX_FRAME",
    "Message",
    "MllpClient",
    "MllpFramer",
    "MllpServer",
    "PeerInfo",
    "Repetition",
    "Segment",
    "Separators",
    "escape",
    "frame",
    "parse_message",
    "send_message",
    "serve_mllp",
    "unescape",
]
