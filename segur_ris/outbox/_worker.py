"""The worker: claims due jobs, runs the handler of their action, records the outcome (done,
retry later with backoff, or failed with its typed cause) and audits every attempt."""

from __future__ import annotations

import datetime as dt
import logging
import os
import random
import socket
import threading
import time
import uuid
from collections.abc import Callable, Mapping

from segur_ris.errors import OutboxError, SegurError
from segur_ris.outbox._audit import AuditEvent, AuditTrail
from segur_ris.outbox._model import (
    ACTION_DMP_SUBMIT,
    ACTION_DMP_VISIBILITY,
    ACTION_MSS_SEND,
    Backoff,
    Job,
    JobError,
)
from segur_ris.outbox._outbox import OUTCOME_DELIVERED, Outbox

__all__ = ["ACTION_TRANSACTIONS", "Handler", "Worker"]

_log = logging.getLogger("segur_ris.outbox")

#: A handler delivers one job; it returns the outcome (``None`` means ``delivered``) or raises.
Handler = Callable[[Job], str | None]

#: Action → national transaction name, for the audit trail.
ACTION_TRANSACTIONS: Mapping[str, str] = {
    ACTION_DMP_SUBMIT: "TD2.1",
    ACTION_DMP_VISIBILITY: "TD3.3",
    ACTION_MSS_SEND: "MSSante",
}


def default_worker_id() -> str:
    """``host:pid:random``: unique per worker, readable in ``outbox list``."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"


class Worker:
    """Runs the jobs of ``outbox`` whose action has a handler in ``handlers``.

    A handler error is classified by :func:`~segur_ris.outbox.is_transient`: transient errors
    put the job back, due after ``backoff.delay(attempts)``; permanent errors (and transient
    ones after ``max_attempts`` tries) mark it ``failed`` with its cause. A job claimed more
    than ``max_attempts`` times without an answer (a worker killed each time: poison job) is
    failed too. ``lease`` must exceed the longest delivery (the client's timeout). Each attempt
    is written to ``audit`` when given.
    """

    def __init__(
        self,
        outbox: Outbox,
        handlers: Mapping[str, Handler],
        *,
        worker_id: str | None = None,
        lease: float = 120.0,
        backoff: Backoff | None = None,
        max_attempts: int = 20,
        audit: AuditTrail | None = None,
        transactions: Mapping[str, str] | None = None,
        rng: random.Random | None = None,
    ) -> None:
        if not handlers:
            raise OutboxError("un worker a besoin d'au moins un handler", code="handlers")
        if max_attempts < 1:
            raise OutboxError("max_attempts doit être >= 1", code="max_attempts")
        self.outbox = outbox
        self.handlers = dict(handlers)
        self.worker_id = worker_id or default_worker_id()
        self.lease = lease
        self.backoff = backoff or Backoff()
        self.max_attempts = max_attempts
        self.audit = audit
        self.transactions = {**ACTION_TRANSACTIONS, **(transactions or {})}
        self._rng = rng or random.Random()
        self._actions = list(self.handlers)

    def run_once(self) -> Job | None:
        """Claim and process one due job; the job as recorded afterwards, or ``None`` when
        nothing is due."""
        job = self.outbox.claim(self.worker_id, lease=self.lease, actions=self._actions)
        if job is None:
            return None
        return self.process(job)

    def process(self, job: Job) -> Job:
        """Run the handler of a claimed ``job`` and record the outcome."""
        return self._process(job, None)[0]

    def _process(self, job: Job, claim_next: threading.Event | None) -> tuple[Job, Job | None]:
        """Process ``job``; with ``claim_next`` (a stop event, not set), a successful delivery
        is recorded together with the claim of the next due job, in one transaction."""
        started = time.perf_counter()
        if job.attempts > self.max_attempts:
            error = JobError(
                "AttemptsExhausted",
                "attempts",
                f"{job.attempts - 1} tentatives sans réponse (worker interrompu à chaque fois)",
                transient=False,
            )
            updated = self.outbox.fail(job, error, permanent=True)
            self._audit(job, "failed", started, error)
            return updated, None
        handler = self.handlers[job.action]
        try:
            outcome = handler(job) or OUTCOME_DELIVERED
        except Exception as exc:  # every failure is recorded, typed, never lost
            error = JobError.from_exception(exc)
            if not isinstance(exc, SegurError | OSError):  # a bug: the operator needs the trace
                _log.exception("outbox %s %s: exception inattendue", job.action, job.key)
            permanent = not error.transient or job.attempts >= self.max_attempts
            delay = 0.0 if permanent else self.backoff.delay(job.attempts, self._rng)
            updated = self.outbox.fail(job, error, permanent=permanent, retry_in=delay)
            _log.warning(
                "outbox %s %s (travail %d, essai %d): %s %s%s",
                job.action,
                job.key,
                job.id,
                job.attempts,
                error.type,
                f"[{error.code}] " if error.code else "",
                "échec définitif" if permanent else f"nouvel essai dans {delay:.1f} s",
            )
            self._audit(job, "failed" if permanent else "retry", started, error)
            return updated, None
        following: Job | None = None
        if claim_next is not None and not claim_next.is_set():
            updated, following = self.outbox.complete_and_claim(
                job, self.worker_id, outcome=outcome, lease=self.lease, actions=self._actions
            )
        else:
            updated = self.outbox.complete(job, outcome=outcome)
        self._audit(job, outcome, started, None)
        return updated, following

    def run(
        self,
        stop_event: threading.Event | None = None,
        *,
        idle: float = 0.5,
        until_idle: bool = False,
        on_job: Callable[[Job], None] | None = None,
    ) -> int:
        """Process jobs until ``stop_event`` is set (waiting ``idle`` s when nothing is due),
        or, with ``until_idle``, until nothing is due. Returns the number of jobs processed;
        ``on_job`` is called with each job as recorded (done, pending again, failed).

        A delivery is recorded together with the claim of the next job (one transaction per
        job instead of two); once ``stop_event`` is set, no new job is claimed. Without
        ``until_idle``, a database outage (``OutboxError`` ``storage``/``connect``) is logged
        and waited out (the job in hand, if any, is taken again after its lease)."""
        stop = stop_event or threading.Event()
        count = 0
        following: Job | None = None
        while following is not None or not stop.is_set():
            try:
                if following is not None:
                    job: Job | None = following
                    following = None
                else:
                    job = self.outbox.claim(self.worker_id, lease=self.lease, actions=self._actions)
                if job is None:
                    if until_idle:
                        break
                    stop.wait(idle)
                    continue
                updated, following = self._process(job, stop)
            except OutboxError as exc:
                if until_idle or exc.code not in ("storage", "connect"):
                    raise
                _log.error("outbox indisponible, nouvel essai dans %.1f s: %s", max(idle, 1), exc)
                stop.wait(max(idle, 1.0))
                continue
            count += 1
            if on_job is not None:
                on_job(updated)
        return count

    def _audit(self, job: Job, result: str, started: float, error: JobError | None) -> None:
        if self.audit is None:
            return
        ins = job.params.get("ins")
        document = job.params.get("unique_id", job.key)
        self.audit.record(
            AuditEvent(
                transaction=self.transactions.get(job.action, job.action),
                result=result,
                when=dt.datetime.now(dt.UTC),
                structure_id=self.audit.structure_id,
                lps=self.audit.lps,
                worker=self.worker_id,
                action=job.action,
                patient_ins=str(ins) if ins else None,
                document_id=str(document),
                job_id=job.id,
                attempt=job.attempts,
                duration_ms=(time.perf_counter() - started) * 1000,
                error=error,
            )
        )
