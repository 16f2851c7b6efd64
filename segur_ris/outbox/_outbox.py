"""The :class:`Outbox`: accept a delivery once, hand it to one worker at a time, remember how
it ended."""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from segur_ris.errors import OutboxError
from segur_ris.outbox._backend import OutboxBackend, SqliteBackend
from segur_ris.outbox._model import (
    Job,
    JobError,
    JobStatus,
    OutboxStats,
    check_action,
    check_key,
    dump_params,
    payload_digest,
)

__all__ = ["Outbox"]

#: Outcome of a job delivered by this attempt.
OUTCOME_DELIVERED = "delivered"
#: Outcome of a job found already delivered (a previous attempt got through before a crash).
OUTCOME_ALREADY_DELIVERED = "already-delivered"


class Outbox:
    """A durable, idempotent queue of deliveries over a backend (:class:`SqliteBackend`,
    :class:`PostgresBackend`); a path opens an SQLite file, a ``postgresql://`` DSN a
    PostgreSQL database.

    A job accepted by :meth:`enqueue` is stored (committed, fsynced) before the call returns;
    from then on it is delivered or still there with its error, across crashes and restarts.
    ``clock`` (Unix seconds) is injectable for tests.

    >>> outbox = Outbox(SqliteBackend("outbox.sqlite"))  # doctest: +SKIP
    >>> job = outbox.enqueue("dmp.submit", key=unique_id, payload=cda)  # doctest: +SKIP
    """

    def __init__(
        self,
        backend: OutboxBackend | str | os.PathLike[str],
        *,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if isinstance(backend, OutboxBackend):
            self.backend = backend
        elif str(backend).startswith(("postgresql://", "postgres://")):
            from segur_ris.outbox._postgres import PostgresBackend

            self.backend = PostgresBackend(str(backend))
        else:
            self.backend = SqliteBackend(backend)
        self.clock = clock

    # --- producer side ---------------------------------------------------------------------

    def enqueue(
        self,
        action: str,
        *,
        key: str,
        payload: bytes = b"",
        params: Mapping[str, Any] | None = None,
    ) -> Job:
        """Accept a delivery; idempotent on ``(key, action)``.

        The same ``(key, action)`` returns the existing job (whatever its status) and never
        creates a second one; if the payload differs, :class:`OutboxError` (``code="conflict"``)
        is raised: a corrected document needs a new uniqueId (and ``replaces``).
        """
        ((job, _created),) = self._insert(action, [(key, payload, params)])
        return job

    def enqueue_many(
        self,
        action: str,
        items: Iterable[tuple[str, bytes, Mapping[str, Any] | None]],
    ) -> list[Job]:
        """Accept several deliveries of ``action`` (``(key, payload, params)`` each) in one
        transaction: one commit and one fsync for the batch instead of one per job (backfill).

        Each item behaves as :meth:`enqueue` (an existing ``(key, action)`` gives its job back);
        the batch is all or nothing: an invalid item or a payload conflict raises
        :class:`OutboxError` and none of the batch is stored. The jobs in item order.
        """
        return [job for job, _created in self._insert(action, list(items))]

    def _insert(
        self, action: str, items: Sequence[tuple[str, bytes, Mapping[str, Any] | None]]
    ) -> list[tuple[Job, bool]]:
        check_action(action)
        rows: list[tuple[str, str, bytes, str, str]] = []
        for key, payload, params in items:  # everything checked before anything is written
            check_key(key)
            if not isinstance(payload, bytes | bytearray | memoryview):
                raise OutboxError("payload: octets attendus", code="payload")
            data = bytes(payload)
            rows.append((action, key, data, dump_params(params), payload_digest(data)))
        if not rows:
            return []
        return self.backend.insert_many(rows, self.clock())

    def find(self, action: str, key: str) -> Job | None:
        """The job of ``(key, action)``, if any."""
        return self.backend.find(check_action(action), check_key(key))

    def get(self, job_id: int) -> Job:
        """The job ``job_id``; :class:`OutboxError` (``code="unknown"``) when absent."""
        job = self.backend.get(int(job_id))
        if job is None:
            raise OutboxError(f"travail {job_id} inconnu", code="unknown")
        return job

    def list(
        self,
        status: JobStatus | str | None = None,
        *,
        action: str | None = None,
        limit: int = 100,
        after_id: int = 0,
    ) -> list[Job]:
        """Jobs by id (``after_id`` pages on), optionally of one status and/or action."""
        wanted = None if status is None else _status(status)
        if limit < 1:
            raise OutboxError("limit doit être positif", code="limit")
        return self.backend.list(
            wanted, None if action is None else check_action(action), limit, after_id
        )

    def stats(self) -> OutboxStats:
        """Number of jobs per status."""
        return self.backend.stats()

    def replay(self, job_id: int) -> Job:
        """Make a ``failed`` job pending again (due now, attempts reset); a pending or running
        job is returned unchanged; a ``done`` job cannot be replayed (it would be sent twice)."""
        job = self.get(job_id)
        if job.status is JobStatus.DONE:
            raise OutboxError(
                f"travail {job_id} déjà livré: pas de rejeu (le document serait envoyé deux fois)",
                code="done",
            )
        if job.status is not JobStatus.FAILED:
            return job
        replayed = self.backend.replay(job.id, self.clock())
        return replayed if replayed is not None else self.get(job_id)

    # --- worker side -----------------------------------------------------------------------

    def claim(
        self, worker_id: str, *, lease: float = 120.0, actions: Sequence[str] | None = None
    ) -> Job | None:
        """Take one due job for ``worker_id`` (its attempts count goes up by one) for ``lease``
        seconds; after that, another worker may take it again (the first one is presumed dead).
        Choose a lease longer than one delivery. ``None`` when nothing is due."""
        _check_claim(worker_id, lease)
        return self.backend.claim(worker_id, now=self.clock(), lease=lease, actions=actions)

    def complete(self, job: Job | int, *, outcome: str = OUTCOME_DELIVERED) -> Job:
        """Record a delivery (``done``)."""
        job_id = job if isinstance(job, int) else job.id
        payload = None if isinstance(job, int) else job.payload
        done = self.backend.complete(job_id, outcome, self.clock(), payload=payload)
        if done is None:
            raise OutboxError(f"travail {job_id} inconnu", code="unknown")
        return done

    def complete_and_claim(
        self,
        job: Job,
        worker_id: str,
        *,
        outcome: str = OUTCOME_DELIVERED,
        lease: float = 120.0,
        actions: Sequence[str] | None = None,
    ) -> tuple[Job, Job | None]:
        """:meth:`complete` ``job`` and :meth:`claim` the next due one in a single transaction
        (one commit, one fsync instead of two): ``(done job, next job or None)``. As durable as
        the two calls: the completion and the claim are committed together or not at all."""
        _check_claim(worker_id, lease)
        done, following = self.backend.complete_and_claim(
            job.id,
            outcome,
            payload=job.payload,
            worker=worker_id,
            now=self.clock(),
            lease=lease,
            actions=actions,
        )
        if done is None:
            raise OutboxError(f"travail {job.id} inconnu", code="unknown")
        return done, following

    def fail(
        self,
        job: Job,
        error: BaseException | JobError,
        *,
        permanent: bool,
        retry_in: float = 0.0,
    ) -> Job:
        """Record an error for this claim of ``job``: ``permanent`` makes it ``failed`` (kept
        with its cause until :meth:`replay`), else ``pending`` again, due in ``retry_in`` s.

        If the claim was lost meanwhile (lease expired and another worker took the job), the
        job is returned as it now is and left alone.
        """
        cause = error if isinstance(error, JobError) else JobError.from_exception(error)
        now = self.clock()
        updated = self.backend.fail(
            job.id,
            job.attempts,
            cause,
            permanent=permanent,
            retry_at=now + max(retry_in, 0.0),
            now=now,
        )
        if updated is None:
            raise OutboxError(f"travail {job.id} inconnu", code="unknown")
        return updated

    # --- lifecycle -------------------------------------------------------------------------

    def close(self) -> None:
        self.backend.close()

    def __enter__(self) -> Outbox:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"Outbox({self.backend!r})"


def _check_claim(worker_id: str, lease: float) -> None:
    if lease <= 0:
        raise OutboxError("lease doit être positif", code="lease")
    if not worker_id:
        raise OutboxError("identifiant de worker vide", code="worker")


def _status(status: JobStatus | str) -> JobStatus:
    try:
        return JobStatus(status)
    except ValueError:
        raise OutboxError(
            f"statut inconnu: {status!r} (pending, running, done, failed)", code="status"
        ) from None
