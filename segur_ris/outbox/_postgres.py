"""The outbox in PostgreSQL, for several workers on several machines (psycopg 3, imported
lazily: ``pip install segur-ris[postgres]``)."""

from __future__ import annotations

import re
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from segur_ris.errors import OutboxError
from segur_ris.outbox._backend import _RETURNING_NO_PAYLOAD, OutboxBackend, _job
from segur_ris.outbox._model import Job

__all__ = ["PostgresBackend"]

_TABLE = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS {table} (
    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    action TEXT NOT NULL,
    job_key TEXT NOT NULL,
    params TEXT NOT NULL,
    digest TEXT NOT NULL,
    status TEXT NOT NULL,
    attempts INTEGER NOT NULL,
    next_attempt_at DOUBLE PRECISION NOT NULL,
    lease_until DOUBLE PRECISION,
    worker TEXT,
    created_at DOUBLE PRECISION NOT NULL,
    updated_at DOUBLE PRECISION NOT NULL,
    error_type TEXT,
    error_code TEXT,
    error_message TEXT,
    error_transient INTEGER NOT NULL DEFAULT 0,
    outcome TEXT,
    UNIQUE (action, job_key)
);
CREATE TABLE IF NOT EXISTS {table}_payloads (
    id BIGINT PRIMARY KEY REFERENCES {table} (id),
    payload BYTEA NOT NULL
);
CREATE INDEX IF NOT EXISTS {table}_due ON {table} (status, next_attempt_at);
CREATE INDEX IF NOT EXISTS {table}_lease ON {table} (status, lease_until)
"""


class PostgresBackend(OutboxBackend):
    """The outbox in a PostgreSQL table (default ``outbox_jobs``), shared by workers on
    several machines: a claim is one ``UPDATE … WHERE id = (SELECT … FOR UPDATE SKIP LOCKED)
    RETURNING …`` statement, so two workers never take the same job, never wait for each other,
    and a claim costs one round trip.

    ``dsn`` is a libpq connection string (``postgresql://user:pass@host/db``); it is never
    repeated in messages or ``repr`` (it may hold a password). Times come from the workers'
    clocks: keep the machines NTP-synchronised (the lease absorbs small skews).
    """

    _lock_clause = " FOR UPDATE SKIP LOCKED"

    def __init__(self, dsn: str, *, table: str = "outbox_jobs", connect_timeout: int = 10) -> None:
        if not _TABLE.match(table):
            raise OutboxError(f"nom de table invalide: {table!r}", code="table")
        try:
            import psycopg
        except ImportError:
            raise OutboxError(
                "PostgreSQL demande psycopg 3: pip install 'segur-ris[postgres]'", code="psycopg"
            ) from None
        self.table = table
        self._psycopg = psycopg
        self._lock = threading.RLock()
        self._dsn = dsn
        self._connect_timeout = connect_timeout
        self._conn = self._connect()
        try:
            with self._transaction(write=True) as cursor:
                # one creator at a time: CREATE … IF NOT EXISTS is not safe under concurrency
                cursor.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", (table,))
                for statement in self._sql(_SCHEMA).split(";"):
                    if statement.strip():
                        cursor.execute(statement)
        except BaseException:
            self._conn.close()
            raise

    def _connect(self) -> Any:
        psycopg = self._psycopg
        try:
            return psycopg.connect(
                self._dsn, autocommit=True, connect_timeout=self._connect_timeout
            )
        except psycopg.Error as exc:
            # the DSN may hold a password: only the first line, scrubbed
            reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            raise OutboxError(
                f"connexion PostgreSQL impossible: {_scrub(reason, self._dsn)}", code="connect"
            ) from None

    def _sql(self, statement: str) -> str:
        return super()._sql(statement).replace("?", "%s")

    @contextmanager
    def _transaction(self, *, write: bool) -> Iterator[Any]:
        psycopg = self._psycopg
        with self._lock:
            if self._conn.broken:  # server restarted or network cut: a new connection
                self._conn.close()
                self._conn = self._connect()
            try:
                with self._conn.transaction(), self._conn.cursor() as cursor:
                    yield _Cursor(cursor)
            except psycopg.Error as exc:
                reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
                raise OutboxError(f"outbox PostgreSQL: {reason}", code="storage") from None

    @contextmanager
    def _statement(self) -> Iterator[Any]:
        """One statement in autocommit (it is its own transaction): a claim or a completion is
        one round trip instead of three (``BEGIN``, statement, ``COMMIT``)."""
        psycopg = self._psycopg
        with self._lock:
            if self._conn.broken:
                self._conn.close()
                self._conn = self._connect()
            try:
                with self._conn.cursor() as cursor:
                    yield _Cursor(cursor)
            except psycopg.Error as exc:
                reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
                raise OutboxError(f"outbox PostgreSQL: {reason}", code="storage") from None

    def _action_filter(self, actions: Sequence[str]) -> tuple[str, list[object]]:
        return "action = ANY(?)", [list(actions)]

    def insert_many(
        self, rows: Sequence[tuple[str, str, bytes, str, str]], now: float
    ) -> list[tuple[Job, bool]]:
        """As :meth:`OutboxBackend.insert_many`; a single job (:meth:`Outbox.enqueue`) is one
        statement in autocommit (job and payload inserted by a data-modifying ``WITH``): one
        round trip instead of four."""
        if len(rows) != 1:
            return super().insert_many(rows, now)
        ((action, key, payload, params, digest),) = rows
        with self._statement() as cursor:
            cursor.execute(
                self._sql(
                    "WITH j AS (INSERT INTO {table} (action, job_key, params, digest, status, "
                    "attempts, next_attempt_at, created_at, updated_at) "
                    "VALUES (?, ?, ?, ?, 'pending', 0, ?, ?, ?) "
                    f"ON CONFLICT (action, job_key) DO NOTHING RETURNING {_RETURNING_NO_PAYLOAD}), "
                    "p AS (INSERT INTO {table}_payloads (id, payload) SELECT id, ? FROM j) "
                    "SELECT * FROM j"
                ),
                (action, key, params, digest, now, now, now, payload),
            )
            row = cursor.fetchone()
            if row is not None:
                return [(_job((*row[:3], payload, *row[4:])), True)]
            return [(self._existing(cursor, action, key, digest), False)]

    def drop(self) -> None:
        """Drop the table (tests, sandbox resets)."""
        with self._transaction(write=True) as cursor:
            cursor.execute(self._sql("DROP TABLE IF EXISTS {table}_payloads, {table}"))

    def close(self) -> None:
        with self._lock:
            self._conn.close()

    def __repr__(self) -> str:
        return f"PostgresBackend(table={self.table!r})"


class _Cursor:
    """A psycopg cursor seen through the small DB-API subset the shared SQL uses."""

    def __init__(self, cursor: Any) -> None:
        self._cursor = cursor

    def execute(self, statement: str, parameters: Sequence[object] = ()) -> None:
        self._cursor.execute(statement, tuple(parameters) or None)

    def fetchone(self) -> Any:
        return self._cursor.fetchone()

    def fetchall(self) -> list[Any]:
        return list(self._cursor.fetchall())


def _scrub(text: str, dsn: str) -> str:
    """``text`` without the DSN's password, should the driver quote it."""
    match = re.search(r"password=([^\s]+)|://[^:/@]+:([^@]+)@", dsn)
    if match:
        secret = match.group(1) or match.group(2)
        if secret:
            text = text.replace(secret, "***")
    return text
