"""SQLite store of the DMP sandbox: one row per DocumentEntry version, with the document bytes;
the SubmissionSets and Associations registered by ITI-41 in a second table (``registry_objects``).

Thread-safe (one connection guarded by a lock; ``check_same_thread=False``); in memory by
default, on disk with ``db_path`` (then the documents survive a restart of the sandbox).

The registered metadata of each object is kept as compact JSON (:func:`dump_metadata`), not as
ebRIM XML: building the XML of every stored object cost more than the rest of an ITI-41, while
queries need the typed objects anyway (their answers are built from them). JSON, not pickle:
reading a database must never run code. Rows written as ``lcm:SubmitObjectsRequest`` XML by
earlier versions are still read (:func:`load_metadata`).
"""

from __future__ import annotations

import dataclasses
import functools
import json
import sqlite3
import threading
import types
import typing
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from segur_ris.errors import DmpError
from segur_ris.xds import Association, DocumentEntry, SubmissionSet, parse_submit_objects

__all__ = [
    "KIND_ASSOCIATION",
    "KIND_SUBMISSION_SET",
    "DmpStore",
    "StoredDocument",
    "StoredObject",
    "dump_metadata",
    "load_metadata",
]

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
    ``metadata`` is the DocumentEntry as registered (:func:`dump_metadata`; its
    ``status``/``lid``/version are those of the columns at insertion time: the columns are
    authoritative); ``document`` the exact bytes received.
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
    object as registered (:func:`dump_metadata`).
    """

    entry_uuid: str
    kind: str
    patient_id: str
    source: str
    target: str
    metadata: bytes


# --- metadata codec ---------------------------------------------------------------------------

_Registered = DocumentEntry | SubmissionSet | Association
_T = TypeVar("_T", DocumentEntry, SubmissionSet, Association)
_Decoder = Callable[[object], object]
_Encoder = Callable[[Any], object]
_REQUIRED = object()


def _corrupt(detail: str) -> DmpError:
    return DmpError(
        f"sandbox DMP: métadonnées stockées illisibles ({detail})", code="sandbox_store"
    )


def _text(value: object) -> object:
    if not isinstance(value, str):
        raise _corrupt(f"texte attendu, trouvé {type(value).__name__}")
    return value


def _integer(value: object) -> object:
    if not isinstance(value, int) or isinstance(value, bool):
        raise _corrupt(f"entier attendu, trouvé {type(value).__name__}")
    return value


def _codec(hint: Any) -> tuple[_Decoder, _Encoder | None]:
    """The checking decoder and the encoder (``None``: the value is already JSON) of one field
    type of the XDS model: ``str``, ``int``, ``X | None``, ``tuple[X, ...]``, nested
    dataclasses. Derived from the type hints: a row holds data, never a type to resolve."""
    if hint is str:
        return _text, None
    if hint is int:
        return _integer, None
    origin = typing.get_origin(hint)
    arguments = typing.get_args(hint)
    if origin in (types.UnionType, typing.Union):
        inner = [argument for argument in arguments if argument is not type(None)]
        if len(inner) == 1 and len(arguments) == 2:
            decode_one, encode_one = _codec(inner[0])

            def decode_optional(value: object) -> object:
                return None if value is None else decode_one(value)

            if encode_one is None:
                return decode_optional, None
            encode = encode_one
            return decode_optional, lambda value: None if value is None else encode(value)
    if origin is tuple and len(arguments) == 2 and arguments[1] is Ellipsis:
        decode_item, encode_item = _codec(arguments[0])

        def decode_sequence(value: object) -> object:
            if not isinstance(value, list):
                raise _corrupt(f"liste attendue, trouvé {type(value).__name__}")
            return tuple(decode_item(element) for element in value)

        if encode_item is None:
            return decode_sequence, list
        encode = encode_item
        return decode_sequence, lambda value: [encode(item) for item in value]
    if isinstance(hint, type) and dataclasses.is_dataclass(hint):
        cls = hint
        return (lambda value: _load(cls, value)), (lambda value: _plain(cls, value))
    raise TypeError(f"type de métadonnée non pris en charge: {hint!r}")


@functools.cache
def _fields(cls: type) -> tuple[tuple[str, _Decoder, _Encoder | None, object], ...]:
    """``(name, decoder, encoder, default)`` of each field of a model dataclass (default
    ``_REQUIRED``: none)."""
    hints = typing.get_type_hints(cls)
    return tuple(
        (
            field.name,
            *_codec(hints[field.name]),
            _REQUIRED if field.default is dataclasses.MISSING else field.default,
        )
        for field in dataclasses.fields(cls)
    )


def _plain(cls: type, value: object) -> dict[str, object]:
    """JSON-ready form of ``value`` (a ``cls``); fields equal to their default are left out."""
    out: dict[str, object] = {}
    for name, _, encode, default in _fields(cls):
        field_value = getattr(value, name)
        if default is _REQUIRED or field_value != default:
            out[name] = field_value if encode is None else encode(field_value)
    return out


def _load(cls: type, value: object) -> Any:
    if not isinstance(value, dict):
        raise _corrupt(f"objet attendu pour {cls.__name__}")
    arguments: dict[str, object] = {}
    for name, decode, _, default in _fields(cls):
        if name in value:
            arguments[name] = decode(value[name])
        elif default is _REQUIRED:
            raise _corrupt(f"{cls.__name__}.{name} absent")
    if len(arguments) != len(value):
        unknown = sorted(set(value) - set(arguments))
        raise _corrupt(f"champs inconnus de {cls.__name__}: {unknown}")
    return cls(**arguments)


def dump_metadata(item: _Registered) -> bytes:
    """The stored form of a registered DocumentEntry, SubmissionSet or Association (JSON)."""
    plain = _plain(type(item), item)
    return json.dumps(plain, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def load_metadata(data: bytes, cls: type[_T]) -> _T:
    """The ``cls`` object stored as ``data`` by :func:`dump_metadata` (or, in rows written by
    earlier versions, as an ``lcm:SubmitObjectsRequest`` holding that single object)."""
    if data[:1] == b"<":
        submission = parse_submit_objects(data)
        found: tuple[Any, ...] = {
            DocumentEntry: submission.documents,
            SubmissionSet: submission.submission_sets,
            Association: submission.associations,
        }[cls]
        if not found:
            raise _corrupt(f"{cls.__name__} absent du XML stocké")
        return typing.cast(_T, found[0])
    try:
        value = json.loads(data)
    except (ValueError, RecursionError):  # JSONDecodeError, UnicodeDecodeError, deep nesting
        raise _corrupt("JSON invalide") from None
    return typing.cast(_T, _load(cls, value))


def _chunks(values: Iterable[str], size: int = 400) -> Iterator[tuple[str, ...]]:
    """``values`` without duplicates, in tuples of at most ``size`` (SQLite bounds the number
    of parameters of a statement)."""
    unique = tuple(dict.fromkeys(values))
    for start in range(0, len(unique), size):
        yield unique[start : start + size]


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
        self.add_many((document,))

    def add_many(self, documents: Iterable[StoredDocument]) -> None:
        """Insert versions (each ``entry_uuid`` must be new) with one statement."""
        rows = [
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
            )
            for document in documents
        ]
        with self.transaction():
            self._conn.executemany(
                f"INSERT INTO documents ({_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", rows
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

    def status(self, entry_uuid: str) -> str | None:
        """The availability status of the version ``entry_uuid`` (``None``: unknown), without
        reading its document."""
        with self._lock:
            row = self._conn.execute(
                "SELECT status FROM documents WHERE entry_uuid = ?", (entry_uuid,)
            ).fetchone()
        return None if row is None else str(row[0])

    def existing_unique_ids(self, unique_ids: Iterable[str]) -> set[str]:
        """Those of ``unique_ids`` that a stored version has (one query per 400 ids)."""
        found: set[str] = set()
        with self._lock:
            for chunk in _chunks(unique_ids):
                marks = ", ".join("?" for _ in chunk)
                rows = self._conn.execute(
                    f"SELECT DISTINCT unique_id FROM documents WHERE unique_id IN ({marks})", chunk
                ).fetchall()
                found.update(str(row[0]) for row in rows)
        return found

    def existing_entry_uuids(self, uuids: Iterable[str]) -> set[str]:
        """Those of ``uuids`` that name a stored version, SubmissionSet or Association."""
        found: set[str] = set()
        with self._lock:
            for chunk in _chunks(uuids):
                marks = ", ".join("?" for _ in chunk)
                rows = self._conn.execute(
                    f"SELECT entry_uuid FROM documents WHERE entry_uuid IN ({marks}) UNION "
                    f"SELECT entry_uuid FROM registry_objects WHERE entry_uuid IN ({marks})",
                    (*chunk, *chunk),
                ).fetchall()
                found.update(str(row[0]) for row in rows)
        return found

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
        self.add_objects((stored,))

    def add_objects(self, objects: Iterable[StoredObject]) -> None:
        """Insert SubmissionSets and Associations (each ``entry_uuid`` new), one statement."""
        rows = [
            (o.entry_uuid, o.kind, o.patient_id, o.source, o.target, o.metadata) for o in objects
        ]
        with self.transaction():
            self._conn.executemany(
                f"INSERT INTO registry_objects ({_OBJECT_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?)", rows
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
