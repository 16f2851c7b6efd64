"""Durable outbox: every delivery (DMP submission, visibility change, MSSanté mail) goes
through a queue that survives crashes and restarts.

:class:`Outbox` accepts a job once per ``(key, action)`` (the key is the document uniqueId;
:meth:`Outbox.enqueue_many` and :func:`enqueue_dmp_submit_many` accept a batch in one
transaction), stores it in :class:`SqliteBackend` (one machine) or :class:`PostgresBackend`
(several machines, ``FOR UPDATE SKIP LOCKED``); a :class:`Worker` claims due jobs with a
lease, runs the handler of their action (:func:`dmp_submit_handler`…), records each delivery
together with the next claim (:meth:`Outbox.complete_and_claim`), retries transient errors
with :class:`Backoff` and keeps permanent ones with their typed cause (:class:`JobError`) until
:meth:`Outbox.replay`. :class:`AuditTrail` writes a JSON line per attempt;
:class:`EvidenceTransport` records the exchanges per transaction as homologation evidence.
"""

from __future__ import annotations

from segur_ris.outbox._audit import (
    SOAP_TRANSACTIONS,
    AuditEvent,
    AuditTrail,
    EvidenceTransport,
    redact,
    transaction_of_soap_action,
)
from segur_ris.outbox._backend import OutboxBackend, SqliteBackend
from segur_ris.outbox._dmp import (
    DUPLICATE_CODES,
    dmp_submit_handler,
    dmp_submit_item,
    dmp_visibility_handler,
    enqueue_dmp_submit,
    enqueue_dmp_submit_many,
    enqueue_dmp_visibility,
)
from segur_ris.outbox._model import (
    ACTION_DMP_SUBMIT,
    ACTION_DMP_VISIBILITY,
    ACTION_MSS_SEND,
    TRANSIENT_XDS_CODES,
    Backoff,
    Job,
    JobError,
    JobStatus,
    OutboxStats,
    is_transient,
)
from segur_ris.outbox._outbox import OUTCOME_ALREADY_DELIVERED, OUTCOME_DELIVERED, Outbox
from segur_ris.outbox._postgres import PostgresBackend
from segur_ris.outbox._worker import ACTION_TRANSACTIONS, Handler, Worker

__all__ = [
    "ACTION_DMP_SUBMIT",
    "ACTION_DMP_VISIBILITY",
    "ACTION_MSS_SEND",
    "ACTION_TRANSACTIONS",
    "DUPLICATE_CODES",
    "OUTCOME_ALREADY_DELIVERED",
    "OUTCOME_DELIVERED",
    "SOAP_TRANSACTIONS",
    "TRANSIENT_XDS_CODES",
    "AuditEvent",
    "AuditTrail",
    "Backoff",
    "EvidenceTransport",
    "Handler",
    "Job",
    "JobError",
    "JobStatus",
    "Outbox",
    "OutboxBackend",
    "OutboxStats",
    "PostgresBackend",
    "SqliteBackend",
    "Worker",
    "dmp_submit_handler",
    "dmp_submit_item",
    "dmp_visibility_handler",
    "enqueue_dmp_submit",
    "enqueue_dmp_submit_many",
    "enqueue_dmp_visibility",
    "is_transient",
    "redact",
    "transaction_of_soap_action",
]
