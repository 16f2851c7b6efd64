"""The outbox's fast paths: batched enqueues (``enqueue_many``), a delivery recorded together
with the next claim (``complete_and_claim``), one statement per claim; on SQLite and, when
``SEGUR_RIS_PG_DSN`` is set, PostgreSQL. Same guarantees as the one-by-one calls."""

# ruff: noqa: F811 - the fixtures imported from tests.outbox_fixtures are arguments here

from __future__ import annotations

import contextlib
import sqlite3
import threading
import uuid
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest

from segur_ris.errors import CdaError, OutboxError
from segur_ris.outbox import (
    ACTION_DMP_SUBMIT,
    Job,
    JobStatus,
    Outbox,
    OutboxBackend,
    PostgresBackend,
    SqliteBackend,
    Worker,
    dmp_submit_handler,
    enqueue_dmp_submit_many,
)
from segur_ris.sandbox import DmpSandbox
from tests.outbox_fixtures import (  # noqa: F401 - fixtures
    INS_VALUE,
    CdaFactory,
    DmpWorld,
    cda_factory,
    dmp_sandbox,
    dmp_world,
    documents_of,
    org_pki,
    pg_dsn,
)


class Clock:
    def __init__(self) -> None:
        self.now = 1_800_000_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture(params=["sqlite", "postgresql"])
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[OutboxBackend]:
    if request.param == "sqlite":
        with SqliteBackend(tmp_path / "outbox.sqlite") as sqlite_backend:
            yield sqlite_backend
        return
    dsn = pg_dsn()
    table = f"outbox_batch_{uuid.uuid4().hex[:10]}"
    with PostgresBackend(dsn, table=table) as pg_backend:
        try:
            yield pg_backend
        finally:
            pg_backend.drop()


def test_enqueue_many_accepts_a_batch_and_stays_idempotent(backend: OutboxBackend) -> None:
    box = Outbox(backend, clock=Clock())
    first = box.enqueue("dmp.submit", key="k0", payload=b"zero")
    jobs = box.enqueue_many(
        "dmp.submit",
        [("k1", b"one", {"n": 1}), ("k0", b"zero", None), ("k2", b"\x00two", None)],
    )
    assert [job.key for job in jobs] == ["k1", "k0", "k2"]
    assert jobs[1].id == first.id  # existing job given back, not duplicated
    assert jobs[0].params == {"n": 1} and jobs[2].payload == b"\x00two"
    assert all(job.status is JobStatus.PENDING and job.attempts == 0 for job in jobs)
    # a key repeated inside one batch is one job
    again = box.enqueue_many("dmp.submit", [("k3", b"x", None), ("k3", b"x", None)])
    assert again[0].id == again[1].id
    assert box.stats().pending == 4
    assert box.enqueue_many("dmp.submit", []) == []
    assert box.get(jobs[2].id).payload == b"\x00two"


def test_enqueue_many_is_all_or_nothing(backend: OutboxBackend) -> None:
    box = Outbox(backend, clock=Clock())
    box.enqueue("dmp.submit", key="k0", payload=b"v1")
    # a payload conflict in the middle of the batch: nothing of the batch is stored
    with pytest.raises(OutboxError) as conflict:
        box.enqueue_many("dmp.submit", [("new-1", b"a", None), ("k0", b"v2", None)])
    assert conflict.value.code == "conflict"
    assert box.find("dmp.submit", "new-1") is None
    # an invalid item is refused before anything is written
    with pytest.raises(OutboxError) as invalid:
        box.enqueue_many("dmp.submit", [("new-2", b"a", None), ("", b"b", None)])
    assert invalid.value.code == "key"
    with pytest.raises(OutboxError) as payload:
        box.enqueue_many("dmp.submit", [("new-3", "text", None)])  # type: ignore[list-item]
    assert payload.value.code == "payload"
    with pytest.raises(OutboxError) as action:
        box.enqueue_many("DMP submit", [("new-4", b"a", None)])
    assert action.value.code == "action"
    assert box.stats().total == 1


def test_complete_and_claim_records_and_takes_the_next_job(backend: OutboxBackend) -> None:
    clock = Clock()
    box = Outbox(backend, clock=clock)
    box.enqueue_many("dmp.submit", [(f"k{n}", f"p{n}".encode(), None) for n in range(2)])
    box.enqueue("mss.send", key="mail", payload=b"m")
    first = box.claim("w", lease=30, actions=["dmp.submit"])
    assert first is not None and first.key == "k0"
    done, following = box.complete_and_claim(first, "w", lease=30, actions=["dmp.submit"])
    assert done.status is JobStatus.DONE and done.outcome == "delivered"
    assert done.payload == b"p0" and done.lease_until is None
    assert following is not None and following.key == "k1"
    assert following.status is JobStatus.RUNNING and following.attempts == 1
    assert following.payload == b"p1" and following.lease_until == clock.now + 30
    # nothing else due for this action (the mail is another action): None as the next job
    done, nothing = box.complete_and_claim(
        following, "w", outcome="already-delivered", actions=["dmp.submit"]
    )
    assert done.outcome == "already-delivered" and nothing is None
    assert box.stats().done == 2 and box.stats().pending == 1
    # completing a job again changes nothing (its first outcome stays)
    again, mail = box.complete_and_claim(done, "w")
    assert again.outcome == "already-delivered" and again.updated_at == done.updated_at
    assert mail is not None and mail.key == "mail"
    with pytest.raises(OutboxError):
        box.complete_and_claim(mail, "w", lease=0)
    with pytest.raises(OutboxError):
        box.complete_and_claim(mail, "")


def test_worker_run_reports_every_job_and_stops_claiming(backend: OutboxBackend) -> None:
    box = Outbox(backend)
    box.enqueue_many("dmp.submit", [(f"k{n}", b"x", None) for n in range(5)])
    stop = threading.Event()
    handled: list[str] = []

    def handler(job: Job) -> None:
        handled.append(job.key)
        if len(handled) == 2:
            stop.set()  # the job in hand is recorded, no further job is claimed

    seen: list[Job] = []
    assert Worker(box, {"dmp.submit": handler}).run(stop, on_job=seen.append) == 2
    assert [job.key for job in seen] == ["k0", "k1"]
    assert all(job.status is JobStatus.DONE for job in seen)
    stats = box.stats()
    assert (stats.done, stats.pending, stats.running) == (2, 3, 0)  # nothing left held
    assert Worker(box, {"dmp.submit": handler}).run(until_idle=True) == 3
    assert box.stats().done == 5


class Counting(SqliteBackend):
    """Counts the write transactions (each one a commit, i.e. an fsync of the WAL)."""

    def __init__(self, path: Path) -> None:
        super().__init__(path)
        self.writes = 0
        self._conn.set_trace_callback(self._trace)

    def _trace(self, statement: str) -> None:
        if statement.startswith("BEGIN IMMEDIATE"):
            self.writes += 1


def test_one_write_transaction_per_delivered_job(tmp_path: Path) -> None:
    with Outbox(Counting(tmp_path / "outbox.sqlite")) as box:
        backend = box.backend
        assert isinstance(backend, Counting)
        backend.writes = 0
        box.enqueue_many("dmp.submit", [(f"k{n}", b"x" * 1000, None) for n in range(20)])
        assert backend.writes == 1
        backend.writes = 0
        assert Worker(box, {"dmp.submit": lambda job: None}).run(until_idle=True) == 20
        # one claim, then a completion + the next claim per job, then one empty claim
        assert backend.writes <= 22
        assert box.stats().done == 20


def test_payload_is_not_rewritten_by_claims_and_completions(tmp_path: Path) -> None:
    """The payload table's rows are written once: claims and completions only update the
    small job row (SQLite would otherwise rewrite a 100 kB CDA at every status change)."""
    path = tmp_path / "outbox.sqlite"
    with Outbox(path) as box:
        box.enqueue("dmp.submit", key="k", payload=b"x" * 100_000)
        changes: list[int] = []
        conn = box.backend._conn  # type: ignore[attr-defined]
        conn.execute("CREATE TEMP TABLE writes (n INTEGER)")
        conn.execute(
            "CREATE TEMP TRIGGER payload_written AFTER UPDATE ON main.outbox_jobs_payloads "
            "BEGIN INSERT INTO writes VALUES (1); END"
        )
        job = box.claim("w")
        assert job is not None
        box.complete_and_claim(job, "w")
        changes = [row[0] for row in conn.execute("SELECT n FROM writes")]
    assert changes == []
    reader = sqlite3.connect(path)
    try:
        assert reader.execute("SELECT status FROM outbox_jobs").fetchall() == [("done",)]
    finally:
        reader.close()


def test_enqueue_dmp_submit_many_reads_every_cda_first(
    tmp_path: Path, cda_factory: CdaFactory
) -> None:
    documents = [cda_factory.make() for _ in range(3)]
    with Outbox(tmp_path / "outbox.sqlite") as box:
        with pytest.raises(CdaError):  # one unreadable CDA: none of the batch is stored
            enqueue_dmp_submit_many(box, [documents[0][1], b"<html/>"])
        assert box.stats().total == 0
        jobs = enqueue_dmp_submit_many(
            box,
            [(documents[0][1], "a.xml"), documents[1][1], (documents[2][1], None)],
            hide_from_patient=True,
        )
    assert [job.key for job in jobs] == [unique_id for unique_id, _ in documents]
    assert jobs[0].params == {
        "hide_from_patient": True,
        "mask_to_professionals": False,
        "ins": INS_VALUE,
        "source": "a.xml",
    }
    assert "source" not in jobs[1].params


def test_batched_outbox_delivers_each_document_once_to_the_sandbox(
    tmp_path: Path, dmp_world: DmpWorld, dmp_sandbox: DmpSandbox, cda_factory: CdaFactory
) -> None:
    documents = [cda_factory.make() for _ in range(8)]
    sent: Counter[str] = Counter()
    with Outbox(tmp_path / "outbox.sqlite") as box, dmp_world.client() as client:
        enqueue_dmp_submit_many(box, [cda for _, cda in documents])
        deliver = dmp_submit_handler(client)

        def counting(job: Job) -> str | None:
            sent[job.key] += 1
            return deliver(job)

        assert Worker(box, {ACTION_DMP_SUBMIT: counting}).run(until_idle=True) == 8
        assert box.stats().done == 8
    assert set(sent.values()) == {1}
    assert all(documents_of(dmp_sandbox, unique_id) == 1 for unique_id, _ in documents)


def test_evidence_of_a_resumed_run_does_not_overwrite_the_first(
    tmp_path: Path, dmp_world: DmpWorld, dmp_sandbox: DmpSandbox, cda_factory: CdaFactory
) -> None:
    """Two runs recording into the same evidence folder (a resumed backfill): the second
    numbers its exchanges after the first's, one number per exchange even with two threads."""
    from segur_ris.outbox import EvidenceTransport

    evidence = tmp_path / "evidence"
    ids: list[str] = []
    for run in range(2):
        with Outbox(tmp_path / "outbox.sqlite") as box, dmp_world.client() as client:
            client._transport = EvidenceTransport(client._transport, evidence)
            documents = [cda_factory.make() for _ in range(2 + run)]
            ids.extend(unique_id for unique_id, _ in documents)
            enqueue_dmp_submit_many(box, [cda for _, cda in documents])
            handler = dmp_submit_handler(client)
            threads = [
                threading.Thread(
                    target=Worker(box, {ACTION_DMP_SUBMIT: handler}).run,
                    kwargs={"until_idle": True},
                )
                for _ in range(2)
            ]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join(60)
            assert box.stats().done == len(ids)
    names = sorted(p.name for p in (evidence / "TD2.1").iterdir())
    stems = Counter(name.split(".", 1)[0] for name in names)
    assert sorted(stems) == [f"{n:03d}-ProvideAndRegisterDocumentSet-b" for n in range(1, 6)]
    assert set(stems.values()) == {3}  # envelope, request and response of each exchange
    recorded = b"".join(
        (evidence / "TD2.1" / f"{stem}.request-envelope.xml").read_bytes() for stem in stems
    )
    assert all(unique_id.encode() in recorded for unique_id in ids)
    assert all(documents_of(dmp_sandbox, unique_id) == 1 for unique_id in ids)


def test_an_audit_line_that_cannot_be_written_is_a_typed_error(tmp_path: Path) -> None:
    from segur_ris.outbox import AuditTrail

    with Outbox(tmp_path / "outbox.sqlite") as box:
        box.enqueue_many("dmp.submit", [("k0", b"x", None), ("k1", b"y", None)])
        full = open("/dev/full", "w", encoding="utf-8")  # noqa: SIM115 - every write: ENOSPC
        try:
            audit = AuditTrail(full, structure_id="1750000000")
            worker = Worker(box, {"dmp.submit": lambda job: None}, audit=audit)
            with pytest.raises(OutboxError) as error:
                worker.run(until_idle=True)
        finally:
            with contextlib.suppress(OSError):  # the unwritten line fails again; fd closed
                full.close()
        assert error.value.code == "audit"
        # the delivery was recorded before its audit line: nothing is lost or sent twice
        assert box.get(1).status is JobStatus.DONE
        assert box.stats().done + box.stats().pending + box.stats().running == 2
