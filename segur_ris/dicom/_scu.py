"""Workaround for pynetdicom's C-FIND requestor (the modality side), used by the demo and the
examples that play a modality against the worklist SCP."""

from __future__ import annotations

from typing import Any

__all__ = ["guard_scu"]


def guard_scu(association: Any) -> None:
    """Keep pynetdicom's requestor reactor from taking C-FIND responses off the DIMSE queue.

    pynetdicom 3.0 race: ``send_c_find`` pauses the association reactor by clearing a checkpoint
    and reading a flag the reactor may not have updated yet; the reactor then polls the queue
    (non-blocking) and drops the first response when the SCP answers fast (about 1 query in 200
    against our SCP; DCMTK's ``findscu`` is not affected). A plain SCU serves no requests, so
    its reactor's non-blocking polls may return nothing. Call it right after ``associate()``.
    """
    get_msg = association.dimse.get_msg
    association.dimse.get_msg = lambda block=False: get_msg(block) if block else (None, None)
