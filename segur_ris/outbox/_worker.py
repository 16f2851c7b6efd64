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

    ``concurrency`` > 1 makes :meth:`run` deliver that many jobs at once, on as many threads
    sharing the outbox and the handlers (which must then be thread-safe, as
    :class:`~segur_ris.dmp.DmpClient` is): while one delivery waits for the DMP's answer, the
    next document is built and signed. The national services answer in tens to hundreds of
    milliseconds, so one lane mostly waits; a few lanes keep one core busy.
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
        concurrency: int = 1,
    ) -> None:
        if not handlers:
            raise OutboxError("un worker a besoin d'au moins un handler", code="handlers")
        if max_attempts < 1:
            raise OutboxError("max_attempts doit être >= 1", code="max_attempts")
        if not 1 <= concurrency <= 64:
            raise OutboxError("concurrency doit être entre 1 et 64", code="concurrency")
        self.outbox = outbox
        self.handlers = dict(handlers)
        self.worker_id = worker_id or default_worker_id()
        self.lease = lease
        self.backoff = backoff or Backoff()
        self.max_attempts = max_attempts
        self.audit = audit
        self.transactions = {**ACTION_TRANSACTIONS, **(transactions or {})}
        self.concurrency = concurrency
        self._rng = rng or random.Random()
        self._rng_lock = threading.Lock()  # random.Random is not documented thread-safe
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
        return self._process(job, None, self.worker_id)[0]

    def _process(
        self, job: Job, claim_next: Callable[[], bool] | None, worker_id: str
    ) -> tuple[Job, Job | None]:
        """Process ``job``; with ``claim_next`` (returns whether to go on), a successful
        delivery is recorded together with the claim of the next due job by ``worker_id``, in
        one transaction."""
        started = time.perf_counter()
        if job.attempts > self.max_attempts:
            error = JobError(
                "AttemptsExhausted",
                "attempts",
                f"{job.attempts - 1} tentatives sans réponse (worker interrompu à chaque fois)",
                transient=False,
            )
            updated = self.outbox.fail(job, error, permanent=True)
            self._audit(job, "failed", started, error, worker_id)
            return updated, None
        handler = self.handlers[job.action]
        try:
            outcome = handler(job) or OUTCOME_DELIVERED
        except Exception as exc:  # every failure is recorded, typed, never lost
            error = JobError.from_exception(exc)
            if not isinstance(exc, SegurError | OSError):  # a bug: the operator needs the trace
                _log.exception("outbox %s %s: exception inattendue", job.action, job.key)
            permanent = not error.transient or job.attempts >= self.max_attempts
            delay = 0.0
            if not permanent:
                with self._rng_lock:
                    delay = self.backoff.delay(job.attempts, self._rng)
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
            self._audit(job, "failed" if permanent else "retry", started, error, worker_id)
            return updated, None
        following: Job | None = None
        if claim_next is not None and claim_next():
            updated, following = self.outbox.complete_and_claim(
                job, worker_id, outcome=outcome, lease=self.lease, actions=self._actions
            )
        else:
            updated = self.outbox.complete(job, outcome=outcome)
        self._audit(job, outcome, started, None, worker_id)
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
        ``on_job`` is called with each job as recorded (done, pending again, failed), one call
        at a time even with several lanes.

        A delivery is recorded together with the claim of the next job (one transaction per
        job instead of two); once ``stop_event`` is set, no new job is claimed and the jobs in
        hand are finished. Without ``until_idle``, a database outage (``OutboxError``
        ``storage``/``connect``) is logged and waited out (the job in hand, if any, is taken
        again after its lease). With ``concurrency`` > 1 the lanes run on threads named after
        the worker (claims recorded as ``<worker_id>/<lane>``); an error that ends one lane
        stops the others from claiming and is raised once they have finished."""
        stop = stop_event or threading.Event()
        if self.concurrency == 1:
            return self._lane(self.worker_id, stop, None, idle, until_idle, on_job)
        halt = threading.Event()  # set when a lane ends on an error
        callback_lock = threading.Lock()
        counts = [0] * self.concurrency
        errors: list[BaseException] = []

        def report(job: Job) -> None:
            if on_job is not None:
                with callback_lock:
                    on_job(job)

        def lane(index: int) -> None:
            try:
                counts[index] = self._lane(
                    f"{self.worker_id}/{index + 1}", stop, halt, idle, until_idle, report
                )
            except BaseException as exc:  # raised in run() once every lane has finished
                errors.append(exc)
                halt.set()

        threads = [
            threading.Thread(target=lane, args=(i,), name=f"outbox-{self.worker_id}/{i + 1}")
            for i in range(self.concurrency)
        ]
        for thread in threads:
            thread.start()
        try:
            for thread in threads:
                thread.join()
        except BaseException:  # Ctrl-C while waiting: finish the jobs in hand, claim no more
            halt.set()
            for thread in threads:
                thread.join()
            raise
        if errors:
            raise errors[0]
        return sum(counts)

    def _lane(
        self,
        worker_id: str,
        stop: threading.Event,
        halt: threading.Event | None,
        idle: float,
        until_idle: bool,
        on_job: Callable[[Job], None] | None,
    ) -> int:
        """One claim-deliver-record loop (see :meth:`run`)."""

        def going() -> bool:
            return not stop.is_set() and (halt is None or not halt.is_set())

        count = 0
        following: Job | None = None
        while following is not None or going():
            try:
                if following is not None:
                    job: Job | None = following
                    following = None
                else:
                    job = self.outbox.claim(worker_id, lease=self.lease, actions=self._actions)
                if job is None:
                    if until_idle:
                        break
                    stop.wait(idle)
                    continue
                updated, following = self._process(job, going, worker_id)
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

    def _audit(
        self,
        job: Job,
        result: str,
        started: float,
        error: JobError | None,
        worker_id: str | None = None,
    ) -> None:
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
                worker=worker_id or self.worker_id,
                action=job.action,
                patient_ins=str(ins) if ins else None,
                document_id=str(document),
                job_id=job.id,
                attempt=job.attempts,
                duration_ms=(time.perf_counter() - started) * 1000,
                error=error,
            )
        )
