"""The worklist store: SQLite (embedded, standard library), fed from HL7 orders.

One row per scheduled procedure step, keyed by (accession number, SPS ID); the item is kept
as a DICOM dataset (explicit VR little endian bytes) next to indexed columns (patient ID,
modality, SPS start date, placer order number) that :meth:`WorklistStore.candidates` filters on
before the full PS3.4 matching. A file database survives restarts (WAL journal); ``:memory:``
is for tests. Decoded items are cached in memory (until the next write), because decoding and
converting a pydicom dataset costs far more than matching it; datasets handed out are shared
and must be treated as read-only. One connection guarded by a lock makes the store safe to
share between the SCP's association threads and the HL7 feed; reads go page by page so a long
query never holds the lock while answers are sent.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterable, Iterator
from io import BytesIO
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING

from segur_ris.dicom._matching import QueryFilter
from segur_ris.dicom._worklist import (
    WorklistAction,
    WorklistChange,
    WorklistItem,
    WorklistSettings,
    worklist_changes,
)
from segur_ris.errors import WorklistError

if TYPE_CHECKING:
    from pydicom import Dataset

    from segur_ris.hl7v2 import OrderMessage

__all__ = ["WorklistStore", "decode_item", "encode_item"]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS worklist (
    accession TEXT NOT NULL,
    sps_id TEXT NOT NULL,
    placer_order TEXT NOT NULL DEFAULT '',
    patient_id TEXT NOT NULL DEFAULT '',
    modality TEXT NOT NULL DEFAULT '',
    start_date TEXT NOT NULL DEFAULT '',
    study_uid TEXT NOT NULL DEFAULT '',
    dataset BLOB NOT NULL,
    PRIMARY KEY (accession, sps_id)
);
CREATE INDEX IF NOT EXISTS worklist_patient ON worklist (patient_id);
CREATE INDEX IF NOT EXISTS worklist_modality_date ON worklist (modality, start_date);
CREATE INDEX IF NOT EXISTS worklist_date ON worklist (start_date);
CREATE INDEX IF NOT EXISTS worklist_placer ON worklist (placer_order);
"""
_PAGE = 256
_CACHE_MAX = 50_000


def encode_item(ds: Dataset) -> bytes:
    """``ds`` as explicit VR little endian bytes (no preamble, no file meta)."""
    from pydicom.filebase import DicomBytesIO
    from pydicom.filewriter import write_dataset

    buffer = DicomBytesIO()
    buffer.is_little_endian = True
    buffer.is_implicit_VR = False
    try:
        write_dataset(buffer, ds)
    except Exception as exc:  # pydicom raises ValueError, TypeError, struct.error…
        raise WorklistError(f"élément de worklist non encodable: {exc}") from None
    return bytes(buffer.getvalue())


def decode_item(data: bytes) -> Dataset:
    """The dataset :func:`encode_item` wrote."""
    from pydicom.filereader import read_dataset

    return read_dataset(BytesIO(data), is_implicit_VR=False, is_little_endian=True)


def _columns(ds: Dataset) -> tuple[str, str, str, str, str, str, str]:
    def text(value: object) -> str:
        return str(value or "").strip()

    steps = ds.get("ScheduledProcedureStepSequence") or []
    sps = steps[0] if steps else None
    accession = text(ds.get("AccessionNumber"))
    sps_id = text(sps.get("ScheduledProcedureStepID")) if sps is not None else ""
    if not accession and not sps_id:
        raise WorklistError("élément sans AccessionNumber ni ScheduledProcedureStepID")
    return (
        accession,
        sps_id,
        text(ds.get("PlacerOrderNumberImagingServiceRequest")),
        text(ds.get("PatientID")),
        text(sps.get("Modality")) if sps is not None else "",
        text(sps.get("ScheduledProcedureStepStartDate")) if sps is not None else "",
        text(ds.get("StudyInstanceUID")),
    )


class WorklistStore:
    """Worklist items in SQLite, fed by :meth:`apply_message`, read by the SCP.

    ``path`` is a database file (created if needed) or ``":memory:"``.
    """

    def __init__(self, path: str | Path = ":memory:") -> None:
        self.path = str(path)
        self._lock = threading.Lock()
        self._cache: dict[int, Dataset] = {}
        try:
            self._db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
        except sqlite3.Error as exc:
            raise WorklistError(f"base de worklist inutilisable ({self.path}): {exc}") from None
        try:
            if self.path != ":memory:":
                self._db.execute("PRAGMA journal_mode=WAL")
                self._db.execute("PRAGMA synchronous=NORMAL")
            self._db.executescript(_SCHEMA)
        except sqlite3.Error as exc:
            self._db.close()
            raise WorklistError(f"base de worklist inutilisable ({self.path}): {exc}") from None

    # --- writing --------------------------------------------------------------------------

    def _write(self, rows: Iterable[tuple[str, tuple[object, ...]]]) -> int:
        changed = 0
        with self._lock:
            try:
                self._db.execute("BEGIN IMMEDIATE")
                for sql, params in rows:
                    changed += self._db.execute(sql, params).rowcount
                self._db.execute("COMMIT")
                self._cache = {}  # a new dict: rowids of deleted rows may be reused
            except BaseException as exc:
                if self._db.in_transaction:
                    self._db.execute("ROLLBACK")
                if isinstance(exc, sqlite3.Error):
                    raise WorklistError(f"écriture de la worklist refusée: {exc}") from None
                raise
        return changed

    @staticmethod
    def _upsert_row(item: WorklistItem | Dataset) -> tuple[str, tuple[object, ...]]:
        ds = item.dataset() if isinstance(item, WorklistItem) else item
        return (
            "INSERT OR REPLACE INTO worklist (accession, sps_id, placer_order, patient_id,"
            " modality, start_date, study_uid, dataset) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (*_columns(ds), encode_item(ds)),
        )

    @staticmethod
    def _cancel_rows(change: WorklistChange) -> list[tuple[str, tuple[object, ...]]]:
        rows: list[tuple[str, tuple[object, ...]]] = []
        if change.accession_number:
            rows.append(("DELETE FROM worklist WHERE accession = ?", (change.accession_number,)))
        if change.placer_order_number:
            rows.append(
                ("DELETE FROM worklist WHERE placer_order = ?", (change.placer_order_number,))
            )
        return rows

    def upsert(self, item: WorklistItem | Dataset) -> None:
        """Insert ``item`` or replace the one with the same accession number and SPS ID.

        A raw :class:`~pydicom.dataset.Dataset` (e.g. a DCMTK ``.wl`` file) is stored as is.
        """
        self._write([self._upsert_row(item)])

    def cancel(self, *, accession_number: str = "", placer_order_number: str = "") -> int:
        """Remove the items of an accession number and/or a placer order; how many went."""
        change = WorklistChange(WorklistAction.CANCEL, "CA", placer_order_number, accession_number)
        rows = self._cancel_rows(change)
        if not rows:
            raise WorklistError("annulation sans numéro d'accession ni numéro d'ordre")
        return self._write(rows)

    def apply(self, changes: Iterable[WorklistChange]) -> int:
        """Apply changes in one transaction (all or nothing); the number of rows touched.

        An ``XO`` (order changed) replaces all the steps of its accession number: steps of that
        accession that the message no longer carries (e.g. a new SPS ID) are removed.
        """
        changes = list(changes)
        rows: list[tuple[str, tuple[object, ...]]] = []
        kept: dict[str, set[str]] = {}
        for change in changes:
            if change.order_control == "XO" and change.item is not None:
                kept.setdefault(change.item.accession_number, set()).add(change.item.sps_id)
        for accession, sps_ids in kept.items():
            marks = ", ".join("?" * len(sps_ids))
            rows.append(
                (
                    f"DELETE FROM worklist WHERE accession = ? AND sps_id NOT IN ({marks})",
                    (accession, *sorted(sps_ids)),
                )
            )
        for change in changes:
            if change.action is WorklistAction.UPSERT:
                if change.item is None:
                    raise WorklistError("mise à jour sans élément de worklist")
                rows.append(self._upsert_row(change.item))
            else:
                rows += self._cancel_rows(change)
        return self._write(rows)

    def apply_message(
        self, message: OrderMessage | bytes | str, settings: WorklistSettings
    ) -> list[WorklistChange]:
        """Read an ORM^O01 / OMI^O23 and apply what it asks for, atomically."""
        changes = worklist_changes(message, settings)
        self.apply(changes)
        return changes

    # --- reading --------------------------------------------------------------------------

    def get(self, accession_number: str, sps_id: str | None = None) -> Dataset | None:
        """The item of ``accession_number`` (and ``sps_id``), or ``None``."""
        sql = "SELECT dataset FROM worklist WHERE accession = ?"
        params: tuple[str, ...] = (accession_number,)
        if sps_id is not None:
            sql += " AND sps_id = ?"
            params += (sps_id,)
        with self._lock:
            row = self._db.execute(sql + " LIMIT 1", params).fetchone()
        return decode_item(row[0]) if row else None

    def __len__(self) -> int:
        with self._lock:
            return int(self._db.execute("SELECT count(*) FROM worklist").fetchone()[0])

    def candidates(self, query_filter: QueryFilter | None = None) -> Iterator[Dataset]:
        """The items that may match ``query_filter`` (indexed columns only, the caller does
        the full matching), decoded lazily, page by page, in insertion order."""
        where: list[str] = []
        params: list[object] = []
        f = query_filter or QueryFilter()
        for column, value in (
            ("accession", f.accession_number),
            ("patient_id", f.patient_id),
            ("modality", f.modality),
        ):
            if value is not None:
                where.append(f"{column} = ?")
                params.append(value)
        if f.date_from:
            where.append("start_date >= ?")
            params.append(f.date_from)
        if f.date_to:
            where.append("start_date <= ?")
            params.append(f.date_to)
        sql = "SELECT rowid, dataset FROM worklist WHERE rowid > ?"
        sql += "".join(f" AND {clause}" for clause in where) + f" ORDER BY rowid LIMIT {_PAGE}"
        last = -1
        while True:
            with self._lock:
                page = self._db.execute(sql, (last, *params)).fetchall()
                cache = self._cache
            for rowid, blob in page:
                last = rowid
                ds = cache.get(rowid)
                if ds is None:
                    ds = decode_item(blob)
                    with self._lock:
                        if cache is self._cache and len(cache) < _CACHE_MAX:
                            cache[rowid] = ds
                yield ds
            if len(page) < _PAGE:
                return

    # --- life cycle -----------------------------------------------------------------------

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def __enter__(self) -> WorklistStore:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"WorklistStore({self.path!r})"
