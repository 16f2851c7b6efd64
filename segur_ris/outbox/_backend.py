"""Storage of the outbox: the backend protocol, the SQL shared by SQLite and PostgreSQL, and
:class:`SqliteBackend`.

A backend only stores and moves rows; times are given by the caller (:class:`Outbox` owns the
clock), so the semantics are the same whatever the database.
"""

from __future__ import annotations

import os
import sqlite3
import threading
from abc import ABC, abstractmethod
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from segur_ris.errors import OutboxError
from segur_ris.outbox._model import (
    Job,
    JobError,
    JobStatus,
    OutboxStats,
    error_columns,
    error_from_columns,
    load_params,
)

__all__ = ["OutboxBackend", "SqliteBackend"]

_COLUMNS = (
    "j.id, j.action, j.job_key, p.payload, j.params, j.digest, j.status, j.attempts, "
    "j.next_attempt_at, j.lease_until, j.worker, j.created_at, j.updated_at, j.error_type, "
    "j.error_code, j.error_message, j.error_transient, j.outcome"
)
# The payload lives in its own table: SQLite rewrites a whole row (overflow pages included) on
# UPDATE, so keeping a 100 kB CDA beside the status would write it again at every claim.
_FROM = "{table} j JOIN {table}_payloads p ON p.id = j.id"
_CLAIMABLE = (
    "((status = 'pending' AND next_attempt_at <= ?) OR (status = 'running' AND lease_until <= ?))"
)


def _job(row: Sequence[Any]) -> Job:
    return Job(
        id=int(row[0]),
        action=str(row[1]),
        key=str(row[2]),
        payload=bytes(row[3]),
        params=load_params(str(row[4])),
        status=JobStatus(str(row[6])),
        attempts=int(row[7]),
        next_attempt_at=float(row[8]),
        lease_until=None if row[9] is None else float(row[9]),
        worker=None if row[10] is None else str(row[10]),
        created_at=float(row[11]),
        updated_at=float(row[12]),
        error=error_from_columns(row[13], row[14], row[15], row[16]),
        outcome=None if row[17] is None else str(row[17]),
    )


#: The job columns an ``UPDATE … RETURNING`` gives back, then the payload by a scalar subquery
#: (one statement, one round trip; the payload is only read, never rewritten).
_RETURNING = (
    "id, action, job_key, (SELECT payload FROM {table}_payloads p WHERE p.id = {table}.id), "
    "params, digest, status, attempts, next_attempt_at, lease_until, worker, created_at, "
    "updated_at, error_type, error_code, error_message, error_transient, outcome"
)
_RETURNING_NO_PAYLOAD = _RETURNING.replace(
    "(SELECT payload FROM {table}_payloads p WHERE p.id = {table}.id)", "NULL"
)


class OutboxBackend(ABC):
    """Rows of the outbox in an SQL database; subclasses give the connection, the transactions
    and the claim's locking clause. SQL is written with ``?`` placeholders (``_sql`` adapts
    them)."""

    table: str
    #: appended to the claim's subselect (PostgreSQL: ``FOR UPDATE SKIP LOCKED``)
    _lock_clause = ""

    # --- what a database must provide --------------------------------------------------------

    @abstractmethod
    def _transaction(self, *, write: bool) -> Any:
        """A context manager yielding a cursor; commits on success, rolls back on error."""

    def _statement(self) -> Any:
        """A cursor for one self-contained write statement (PostgreSQL: autocommit, no
        ``BEGIN``/``COMMIT`` round trips); a write transaction by default."""
        return self._transaction(write=True)

    def _action_filter(self, actions: Sequence[str]) -> tuple[str, list[object]]:
        return f"action IN ({', '.join('?' for _ in actions)})", list(actions)

    @abstractmethod
    def close(self) -> None: ...

    def _sql(self, statement: str) -> str:
        return statement.replace("{table}", self.table)

    # --- shared SQL --------------------------------------------------------------------------

    def _one(self, cursor: Any, where: str, parameters: Sequence[object]) -> Job | None:
        cursor.execute(
            self._sql(f"SELECT {_COLUMNS} FROM {_FROM} WHERE {where}"), tuple(parameters)
        )
        row = cursor.fetchone()
        return None if row is None else _job(row)

    def claim(
        self, worker: str, *, now: float, lease: float, actions: Sequence[str] | None
    ) -> Job | None:
        """Take the oldest due job (pending and due, or running with an expired lease): one
        ``UPDATE … WHERE id = (SELECT … LIMIT 1) RETURNING`` statement."""
        if actions is not None and not actions:
            return None
        with self._statement() as cursor:
            return self._claim_in(cursor, worker, now, lease, actions)

    def _claim_in(
        self, cursor: Any, worker: str, now: float, lease: float, actions: Sequence[str] | None
    ) -> Job | None:
        if actions is not None and not actions:
            return None
        where, parameters = _CLAIMABLE, [now, now]
        if actions is not None:
            clause, values = self._action_filter(actions)
            where += f" AND {clause}"
            parameters.extend(values)  # type: ignore[arg-type]
        cursor.execute(
            self._sql(
                "UPDATE {table} SET status = 'running', attempts = attempts + 1, "
                "lease_until = ?, worker = ?, updated_at = ? WHERE id = ("
                f"SELECT id FROM {{table}} WHERE {where} ORDER BY next_attempt_at, id "
                f"LIMIT 1{self._lock_clause}) RETURNING {_RETURNING}"
            ),
            (now + lease, worker, now, *parameters),
        )
        row = cursor.fetchone()
        return None if row is None else _job(row)

    def insert(
        self, action: str, key: str, payload: bytes, params: str, digest: str, now: float
    ) -> tuple[Job, bool]:
        """Insert a pending job unless ``(action, key)`` exists; ``(job, created)``."""
        ((job, created),) = self.insert_many([(action, key, payload, params, digest)], now)
        return job, created

    def insert_many(
        self, rows: Sequence[tuple[str, str, bytes, str, str]], now: float
    ) -> list[tuple[Job, bool]]:
        """Insert ``(action, key, payload, params, digest)`` rows as pending jobs, in one
        transaction (one commit, one fsync for the batch), each unless ``(action, key)`` exists;
        ``(job, created)`` per row. A row whose ``(action, key)`` exists with another digest
        raises :class:`OutboxError` (``code="conflict"``) and nothing of the batch is written."""
        results: list[tuple[Job, bool]] = []
        with self._transaction(write=True) as cursor:
            for action, key, payload, params, digest in rows:
                cursor.execute(
                    self._sql(
                        "INSERT INTO {table} (action, job_key, params, digest, status, "
                        "attempts, next_attempt_at, created_at, updated_at) "
                        "VALUES (?, ?, ?, ?, 'pending', 0, ?, ?, ?) "
                        "ON CONFLICT (action, job_key) DO NOTHING "
                        f"RETURNING {_RETURNING_NO_PAYLOAD}"
                    ),
                    (action, key, params, digest, now, now, now),
                )
                row = cursor.fetchone()
                if row is None:  # already there (or inserted meanwhile by another connection)
                    results.append((self._existing(cursor, action, key, digest), False))
                    continue
                cursor.execute(
                    self._sql("INSERT INTO {table}_payloads (id, payload) VALUES (?, ?)"),
                    (row[0], payload),
                )
                results.append((_job((*row[:3], payload, *row[4:])), True))
        return results

    def _existing(self, cursor: Any, action: str, key: str, digest: str) -> Job:
        """The job ``(action, key)`` an insert ran into; :class:`OutboxError`
        (``code="conflict"``) when its payload is another one."""
        existing = self._one(cursor, "j.action = ? AND j.job_key = ?", (action, key))
        if existing is None:  # pragma: no cover - the conflicting row exists
            raise OutboxError(f"{action} {key}: insertion refusée", code="storage")
        if existing.digest != digest:
            raise OutboxError(
                f"{action} {key}: déjà dans l'outbox avec un autre contenu (travail "
                f"{existing.id}); un document corrigé doit porter un nouvel identifiant",
                code="conflict",
            )
        return existing

    def get(self, job_id: int) -> Job | None:
        with self._transaction(write=False) as cursor:
            return self._one(cursor, "j.id = ?", (job_id,))

    def find(self, action: str, key: str) -> Job | None:
        with self._transaction(write=False) as cursor:
            return self._one(cursor, "j.action = ? AND j.job_key = ?", (action, key))

    def complete(
        self, job_id: int, outcome: str, now: float, *, payload: bytes | None = None
    ) -> Job | None:
        """Mark done (delivery is a fact: whoever holds the lease now). ``payload``, when the
        caller holds it, spares reading it back."""
        with self._statement() as cursor:
            return self._complete_in(cursor, job_id, outcome, now, payload)

    def _complete_in(
        self, cursor: Any, job_id: int, outcome: str, now: float, payload: bytes | None
    ) -> Job | None:
        returning = _RETURNING if payload is None else _RETURNING_NO_PAYLOAD
        cursor.execute(
            self._sql(
                "UPDATE {table} SET status = 'done', lease_until = NULL, outcome = ?, "
                f"updated_at = ? WHERE id = ? AND status <> 'done' RETURNING {returning}"
            ),
            (outcome, now, job_id),
        )
        row = cursor.fetchone()
        if row is None:  # unknown, or already done (another worker after a lost lease)
            return self._one(cursor, "j.id = ?", (job_id,))
        return _job(row if payload is None else (*row[:3], payload, *row[4:]))

    def complete_and_claim(
        self,
        job_id: int,
        outcome: str,
        *,
        payload: bytes | None,
        worker: str,
        now: float,
        lease: float,
        actions: Sequence[str] | None,
    ) -> tuple[Job | None, Job | None]:
        """:meth:`complete` then :meth:`claim` in one transaction (one commit, one fsync):
        ``(done job, next job or None)``."""
        with self._transaction(write=True) as cursor:
            done = self._complete_in(cursor, job_id, outcome, now, payload)
            return done, self._claim_in(cursor, worker, now, lease, actions)

    def fail(
        self,
        job_id: int,
        attempts: int,
        error: JobError,
        *,
        permanent: bool,
        retry_at: float,
        now: float,
    ) -> Job | None:
        """Record an error for the claim ``(job_id, attempts)``; ignored when that claim was
        lost (lease expired and the job claimed again, or replayed)."""
        status = JobStatus.FAILED if permanent else JobStatus.PENDING
        with self._transaction(write=True) as cursor:
            cursor.execute(
                self._sql(
                    "UPDATE {table} SET status = ?, lease_until = NULL, next_attempt_at = ?, "
                    "error_type = ?, error_code = ?, error_message = ?, error_transient = ?, "
                    "updated_at = ? WHERE id = ? AND attempts = ? AND status = 'running'"
                ),
                (status.value, retry_at, *error_columns(error), now, job_id, attempts),
            )
            return self._one(cursor, "j.id = ?", (job_id,))

    def replay(self, job_id: int, now: float) -> Job | None:
        """A failed job becomes pending, due now, with its attempt count reset."""
        with self._transaction(write=True) as cursor:
            cursor.execute(
                self._sql(
                    "UPDATE {table} SET status = 'pending', attempts = 0, next_attempt_at = ?, "
                    "lease_until = NULL, updated_at = ? WHERE id = ? AND status = 'failed'"
                ),
                (now, now, job_id),
            )
            return self._one(cursor, "j.id = ?", (job_id,))

    def list(
        self, status: JobStatus | None, action: str | None, limit: int, after_id: int
    ) -> list[Job]:
        where, parameters = ["j.id > ?"], [after_id]
        if status is not None:
            where.append("j.status = ?")
            parameters.append(status.value)  # type: ignore[arg-type]
        if action is not None:
            where.append("j.action = ?")
            parameters.append(action)  # type: ignore[arg-type]
        with self._transaction(write=False) as cursor:
            cursor.execute(
                self._sql(
                    f"SELECT {_COLUMNS} FROM {_FROM} WHERE {' AND '.join(where)} "
                    f"ORDER BY j.id LIMIT {int(limit)}"
                ),
                tuple(parameters),
            )
            return [_job(row) for row in cursor.fetchall()]

    def stats(self) -> OutboxStats:
        with self._transaction(write=False) as cursor:
            cursor.execute(self._sql("SELECT status, COUNT(*) FROM {table} GROUP BY status"))
            counts = {str(status): int(count) for status, count in cursor.fetchall()}
            cursor.execute(
                self._sql("SELECT MIN(created_at) FROM {table} WHERE status = ?"), ("pending",)
            )
            (oldest,) = cursor.fetchone()
        return OutboxStats(
            pending=counts.get("pending", 0),
            running=counts.get("running", 0),
            done=counts.get("done", 0),
            failed=counts.get("failed", 0),
            oldest_pending=None if oldest is None else float(oldest),
        )

    def __enter__(self) -> OutboxBackend:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


_SQLITE_SCHEMA = """
CREATE TABLE IF NOT EXISTS {table} (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    action TEXT NOT NULL,
    job_key TEXT NOT NULL,
    params TEXT NOT NULL,
    digest TEXT NOT NULL,
    status TEXT NOT NULL,
    attempts INTEGER NOT NULL,
    next_attempt_at REAL NOT NULL,
    lease_until REAL,
    worker TEXT,
    created_at REAL NOT NULL,
    updated_at REAL NOT NULL,
    error_type TEXT,
    error_code TEXT,
    error_message TEXT,
    error_transient INTEGER NOT NULL DEFAULT 0,
    outcome TEXT,
    UNIQUE (action, job_key)
);
CREATE TABLE IF NOT EXISTS {table}_payloads (
    id INTEGER PRIMARY KEY REFERENCES {table} (id),
    payload BLOB NOT NULL
);
CREATE INDEX IF NOT EXISTS {table}_due ON {table} (status, next_attempt_at);
CREATE INDEX IF NOT EXISTS {table}_lease ON {table} (status, lease_until);
"""


class SqliteBackend(OutboxBackend):
    """The outbox in an SQLite file (one machine; several processes may share the file).

    WAL journal with ``synchronous=FULL`` (a job acknowledged by :meth:`Outbox.enqueue` survives
    a power cut), ``BEGIN IMMEDIATE`` for every write (claims are serialised across processes)
    and a 30 s busy timeout. One connection per backend, guarded by a lock (threads may share
    it); open one backend per process.
    """

    table = "outbox_jobs"

    def __init__(self, path: str | os.PathLike[str], *, busy_timeout: float = 30.0) -> None:
        self.path = Path(path)
        self._lock = threading.RLock()
        try:
            if self.path.parent and not self.path.parent.is_dir():
                raise OutboxError(f"dossier de la base absent: {self.path.parent}", code="path")
            self._conn = sqlite3.connect(
                os.fspath(self.path),
                timeout=busy_timeout,
                isolation_level=None,  # explicit BEGIN IMMEDIATE / COMMIT below
                check_same_thread=False,
            )
        except sqlite3.Error as exc:
            raise OutboxError(
                f"base outbox inutilisable: {self.path}: {exc}", code="storage"
            ) from None
        try:
            self._conn.execute(f"PRAGMA busy_timeout = {int(busy_timeout * 1000)}")
            self._conn.execute("PRAGMA journal_mode = WAL")
            self._conn.execute("PRAGMA synchronous = FULL")
            with self._transaction(write=True) as cursor:
                for statement in self._sql(_SQLITE_SCHEMA).split(";"):
                    if statement.strip():
                        cursor.execute(statement)
        except (sqlite3.Error, OutboxError) as exc:
            self._conn.close()
            if isinstance(exc, OutboxError):
                raise
            raise OutboxError(
                f"base outbox inutilisable: {self.path}: {exc}", code="storage"
            ) from None

    @contextmanager
    def _transaction(self, *, write: bool) -> Iterator[sqlite3.Cursor]:
        with self._lock:
            cursor = self._conn.cursor()
            try:
                cursor.execute("BEGIN IMMEDIATE" if write else "BEGIN")
                yield cursor
            except BaseException as exc:
                if self._conn.in_transaction:
                    self._conn.rollback()
                if isinstance(exc, sqlite3.Error):
                    raise OutboxError(f"outbox SQLite: {exc}", code="storage") from None
                raise
            else:
                try:
                    self._conn.commit()
                except sqlite3.Error as exc:
                    raise OutboxError(f"outbox SQLite: {exc}", code="storage") from None
            finally:
                cursor.close()

    def close(self) -> None:
        with self._lock:
            self._conn.close()

    def __repr__(self) -> str:
        return f"SqliteBackend({os.fspath(self.path)!r})"
