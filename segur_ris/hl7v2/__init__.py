"""HL7 v2: lossless, lazy ER7 parsing, French-aware views, builders and MLLP.

The core (:func:`parse_message`, :class:`Message`, :class:`Segment`, :class:`Repetition`) keeps
every byte of a message and splits fields only when they are read.
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

__all__ = [
    "CHARSETS",
    "Message",
    "Repetition",
    "Segment",
    "Separators",
    "escape",
    "parse_message",
    "unescape",
]
