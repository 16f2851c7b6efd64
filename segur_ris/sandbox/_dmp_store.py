"""SQLite store of the DMP sandbox: one row per DocumentEntry version, with the document bytes;
the SubmissionSets and Associations registered by ITI-41 in a second table (``registry_objects``).

Thread-safe (one connection guarded by a lock; ``check_same_thread=False``); in memory by
default, on disk with ``db_path`` (then the documents survive a restart of the sandbox).
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = ["KIND_ASSOCIATION", "KIND_SUBMISSION_SET", "DmpStore", "StoredDocument", "StoredObject"]

#: :attr:`StoredObject.kind` of a SubmissionSet.
KIND_SUBMISSION_SET = "SubmissionSet"
#: :attr:`StoredObject.kind` of an Association.
KIND_ASSOCIATION = "Association"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS documents (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    entry_uuid TEXT NOT NULL UNIQUE,
    unique_id TEXT NOT NULL,
    lid TEXT NOT NULL,
    version INTEGER NOT NULL,
    patient_id TEXT NOT NULL,
    status TEXT NOT NULL,
    confidentiality TEXT NOT NULL,
    mime_type TEXT NOT NULL,
    metadata BLOB NOT NULL,
    document BLOB NOT NULL
);
CREATE INDEX IF NOT EXISTS documents_patient ON documents (patient_id);
CREATE INDEX IF NOT EXISTS documents_unique ON documents (unique_id);
CREATE INDEX IF NOT EXISTS documents_lid ON documents (lid);
CREATE TABLE IF NOT EXISTS registry_objects (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    entry_uuid TEXT NOT NULL UNIQUE,
    kind TEXT NOT NULL,
    patient_id TEXT NOT NULL,
    source TEXT NOT NULL,
    target TEXT NOT NULL,
    metadata BLOB NOT NULL
);
CREATE INDEX IF NOT EXISTS objects_patient ON registry_objects (kind, patient_id);
CREATE INDEX IF NOT EXISTS objects_source ON registry_objects (source);
CREATE INDEX IF NOT EXISTS objects_target ON registry_objects (target);
"""
_OBJECT_COLUMNS = "entry_uuid, kind, patient_id, source, target, metadata"
_COLUMNS = (
    "entry_uuid, unique_id, lid, version, patient_id, status, confidentiality, mime_type, "
    "metadata, document"
)


@dataclass(frozen=True, slots=True)
class StoredDocument:
    """One stored DocumentEntry version.

    ``confidentiality_codes`` holds the codes only (``N``, ``MASQUE_PS``, ``INVISIBLE_PATIENT``…);
    ``metadata`` is the ``lcm:SubmitObjectsRequest`` holding the single ``ExtrinsicObject`` as
    registered (its ``status``/``lid``/version are those of the columns at insertion time: the
    columns are authoritative); ``document`` the exact bytes received.
    """

    entry_uuid: str
    unique_id: str
    lid: str
    version: int
    patient_id: str
    status: str
    confidentiality_codes: tuple[str, ...]
    mime_type: str
    metadata: bytes
    document: bytes


@dataclass(frozen=True, slots=True)
class StoredObject:
    """A registered SubmissionSet or Association (``kind``: :data:`KIND_SUBMISSION_SET`,
    :data:`KIND_ASSOCIATION`).

    ``patient_id`` is the bare INS of a SubmissionSet (empty for an Association); ``source`` and
    ``target`` the entryUUIDs an Association links (empty for a SubmissionSet); ``metadata`` the
    ``lcm:SubmitObjectsRequest`` holding the single object as registered.
    """

    entry_uuid: str
    kind: str
    patient_id: str
    source: str
    target: str
    metadata: bytes


def _row(row: tuple[Any, ...]) -> StoredDocument:
    values = row
    return StoredDocument(
        entry_uuid=str(values[0]),
        unique_id=str(values[1]),
        lid=str(values[2]),
        version=int(str(values[3])),
        patient_id=str(values[4]),
        status=str(values[5]),
        confidentiality_codes=tuple(str(values[6]).split()),
        mime_type=str(values[7]),
        metadata=bytes(values[8]),
        document=bytes(values[9]),
    )


class DmpStore:
    """The sandbox's documents in SQLite (``db_path`` ``None``: in memory)."""

    def __init__(self, db_path: Path | str | None = None) -> None:
        self.db_path = None if db_path is None else Path(db_path)
        self._lock = threading.RLock()
        self._depth = 0
        self._conn = sqlite3.connect(
            ":memory:" if self.db_path is None else str(self.db_path), check_same_thread=False
        )
        if self.db_path is not None:
            # WAL + NORMAL: committed documents survive a crash of the process (what a sandbox
            # needs) without an fsync per submission
            self._conn.execute("PRAGMA journal_mode=WAL")
            self._conn.execute("PRAGMA synchronous=NORMAL")
        with self._lock, self._conn:
            self._conn.executescript(_SCHEMA)

    def close(self) -> None:
        """Close the connection."""
        with self._lock:
            self._conn.close()

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """Hold the store lock and commit (or roll back) everything done inside at once;
        nested transactions join the outermost one."""
        with self._lock:
            if self._depth:
                self._depth += 1
                try:
                    yield
                finally:
                    self._depth -= 1
                return
            self._depth = 1
            try:
                with self._conn:
                    yield
            finally:
                self._depth = 0

    def add(self, document: StoredDocument) -> None:
        """Insert one version (``entry_uuid`` must be new)."""
        with self.transaction():
            self._conn.execute(
                f"INSERT INTO documents ({_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    document.entry_uuid,
                    document.unique_id,
                    document.lid,
                    document.version,
                    document.patient_id,
                    document.status,
                    " ".join(document.confidentiality_codes),
                    document.mime_type,
                    document.metadata,
                    document.document,
                ),
            )

    def set_status(self, entry_uuid: str, status: str) -> None:
        """Change the availability status of a version."""
        with self.transaction():
            self._conn.execute(
                "UPDATE documents SET status = ? WHERE entry_uuid = ?", (status, entry_uuid)
            )

    def _select(self, where: str, parameters: Sequence[object]) -> list[StoredDocument]:
        with self._lock:
            rows = self._conn.execute(
                f"SELECT {_COLUMNS} FROM documents WHERE {where} ORDER BY seq", tuple(parameters)
            ).fetchall()
        return [_row(row) for row in rows]

    def get(self, entry_uuid: str) -> StoredDocument | None:
        """The version whose entryUUID is ``entry_uuid``."""
        found = self._select("entry_uuid = ?", (entry_uuid,))
        return found[0] if found else None

    def by_unique_id(self, unique_id: str) -> list[StoredDocument]:
        """Every version of the document ``unique_id`` (metadata updates keep the uniqueId)."""
        return self._select("unique_id = ?", (unique_id,))

    def by_lid(self, lid: str) -> list[StoredDocument]:
        """Every version of the logical document ``lid``, oldest first."""
        return self._select("lid = ?", (lid,))

    def by_patient(self, patient_id: str, statuses: Iterable[str] = ()) -> list[StoredDocument]:
        """The versions of ``patient_id`` (restricted to ``statuses`` when given)."""
        wanted = tuple(statuses)
        if not wanted:
            return self._select("patient_id = ?", (patient_id,))
        marks = ", ".join("?" for _ in wanted)
        return self._select(f"patient_id = ? AND status IN ({marks})", (patient_id, *wanted))

    def add_object(self, stored: StoredObject) -> None:
        """Insert a SubmissionSet or Association (``entry_uuid`` must be new)."""
        with self.transaction():
            self._conn.execute(
                f"INSERT INTO registry_objects ({_OBJECT_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?)",
                (
                    stored.entry_uuid,
                    stored.kind,
                    stored.patient_id,
                    stored.source,
                    stored.target,
                    stored.metadata,
                ),
            )

    def _select_objects(self, where: str, parameters: Sequence[object]) -> list[StoredObject]:
        with self._lock:
            rows = self._conn.execute(
                f"SELECT {_OBJECT_COLUMNS} FROM registry_objects WHERE {where} ORDER BY seq",
                tuple(parameters),
            ).fetchall()
        return [
            StoredObject(str(r[0]), str(r[1]), str(r[2]), str(r[3]), str(r[4]), bytes(r[5]))
            for r in rows
        ]

    def get_object(self, entry_uuid: str) -> StoredObject | None:
        """The SubmissionSet or Association whose entryUUID is ``entry_uuid``."""
        found = self._select_objects("entry_uuid = ?", (entry_uuid,))
        return found[0] if found else None

    def submission_sets(self, patient_id: str) -> list[StoredObject]:
        """The SubmissionSets of ``patient_id`` (bare INS), oldest first."""
        return self._select_objects(
            "kind = ? AND patient_id = ?", (KIND_SUBMISSION_SET, patient_id)
        )

    def associations(self, uuids: Iterable[str]) -> list[StoredObject]:
        """The Associations whose source or target is one of ``uuids``."""
        wanted = tuple(uuids)
        if not wanted:
            return []
        marks = ", ".join("?" for _ in wanted)
        return self._select_objects(
            f"kind = ? AND (source IN ({marks}) OR target IN ({marks}))",
            (KIND_ASSOCIATION, *wanted, *wanted),
        )

    def all(self) -> list[StoredDocument]:
        """Every stored version, in insertion order."""
        return self._select("1 = 1", ())

    def __len__(self) -> int:
        with self._lock:
            (count,) = self._conn.execute("SELECT COUNT(*) FROM documents").fetchone()
        return int(count)
