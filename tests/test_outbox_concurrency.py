"""A worker with several lanes (``Worker(concurrency=N)``): deliveries overlap, each job is
delivered once, callbacks are serialised, an error in one lane stops the others and is raised;
then real deliveries to the sandbox DMP by one shared DmpClient from several threads."""

# ruff: noqa: F811 - the fixtures imported from tests.outbox_fixtures are arguments here

from __future__ import annotations

import threading
import time
import uuid
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from segur_ris.errors import OutboxError
from segur_ris.outbox import (
    ACTION_DMP_SUBMIT,
    AuditTrail,
    EvidenceTransport,
    Job,
    JobStatus,
    Outbox,
    PostgresBackend,
    SqliteBackend,
    Worker,
    dmp_submit_handler,
    enqueue_dmp_submit_many,
)
from segur_ris.sandbox import DmpSandbox
from tests.outbox_fixtures import (  # noqa: F401 - fixtures
    CdaFactory,
    DmpWorld,
    cda_factory,
    dmp_sandbox,
    dmp_world,
    documents_of,
    org_pki,
    pg_dsn,
)


class Overlap:
    """Counts how many handlers run at the same moment."""

    def __init__(self, pause: float) -> None:
        self.pause = pause
        self.lock = threading.Lock()
        self.running = 0
        self.most = 0
        self.delivered: Counter[str] = Counter()
        self.threads: set[str] = set()

    def __call__(self, job: Job) -> None:
        with self.lock:
            self.running += 1
            self.most = max(self.most, self.running)
            self.threads.add(threading.current_thread().name)
        time.sleep(self.pause)  # a DMP answering in 20 ms
        with self.lock:
            self.running -= 1
            self.delivered[job.key] += 1


def _fill(box: Outbox, count: int) -> None:
    box.enqueue_many("dmp.submit", [(f"doc-{i}", b"x", None) for i in range(count)])


def test_lanes_overlap_and_deliver_each_job_once(tmp_path: Path) -> None:
    handler = Overlap(0.02)
    with Outbox(SqliteBackend(tmp_path / "o.sqlite")) as box:
        _fill(box, 40)
        worker = Worker(box, {"dmp.submit": handler}, worker_id="ris-1", concurrency=4)
        assert worker.run(until_idle=True) == 40
        assert box.stats().done == 40 and box.stats().pending == 0
        lanes = {job.worker for job in box.list(limit=100)}
    assert handler.delivered == Counter({f"doc-{i}": 1 for i in range(40)})
    assert handler.most >= 2  # deliveries really overlapped
    assert len(handler.threads) >= 2
    assert lanes <= {f"ris-1/{lane}" for lane in range(1, 5)} and len(lanes) >= 2


def test_lanes_on_postgresql_share_one_connection_safely() -> None:
    table = f"outbox_test_{uuid.uuid4().hex[:10]}"
    handler = Overlap(0.01)
    backend = PostgresBackend(pg_dsn(), table=table)
    try:
        with Outbox(backend) as box:
            _fill(box, 30)
            assert Worker(box, {"dmp.submit": handler}, concurrency=3).run(until_idle=True) == 30
            assert box.stats().done == 30
    finally:
        with PostgresBackend(pg_dsn(), table=table) as cleanup:
            cleanup.drop()
    assert handler.delivered == Counter({f"doc-{i}": 1 for i in range(30)})
    assert handler.most >= 2


def test_one_lane_keeps_the_worker_id_and_runs_in_the_calling_thread(tmp_path: Path) -> None:
    handler = Overlap(0.0)
    with Outbox(SqliteBackend(tmp_path / "o.sqlite")) as box:
        _fill(box, 3)
        assert Worker(box, {"dmp.submit": handler}, worker_id="ris-1").run(until_idle=True) == 3
        assert {job.worker for job in box.list()} == {"ris-1"}
    assert handler.threads == {threading.current_thread().name}


def test_on_job_is_called_one_at_a_time(tmp_path: Path) -> None:
    inside = threading.Lock()
    seen: list[int] = []

    def on_job(job: Job) -> None:
        assert inside.acquire(blocking=False), "on_job called from two lanes at once"
        try:
            time.sleep(0.002)
            seen.append(job.id)
        finally:
            inside.release()

    with Outbox(SqliteBackend(tmp_path / "o.sqlite")) as box:
        _fill(box, 30)
        worker = Worker(box, {"dmp.submit": Overlap(0.005)}, concurrency=3)
        assert worker.run(until_idle=True, on_job=on_job) == 30
    assert sorted(seen) == list(range(1, 31))


def test_concurrency_is_validated(tmp_path: Path) -> None:
    with Outbox(SqliteBackend(tmp_path / "o.sqlite")) as box:
        for bad in (0, -1, 65):
            with pytest.raises(OutboxError) as info:
                Worker(box, {"dmp.submit": Overlap(0)}, concurrency=bad)
            assert info.value.code == "concurrency"


def test_an_error_in_one_lane_stops_the_others_and_is_raised(tmp_path: Path) -> None:
    """A storage failure while recording ends its lane; the other lanes finish the job in hand,
    claim nothing more, and run() raises the error. Nothing is lost: the job whose completion
    could not be recorded is still running (taken again after its lease), the rest pending."""

    class Broken(SqliteBackend):
        def __init__(self, path: Path) -> None:
            super().__init__(path)
            self.completions = 0

        def complete_and_claim(self, job_id: int, outcome: str, **kwargs: Any) -> Any:
            self.completions += 1
            if self.completions == 3:
                raise OutboxError("disk I/O error", code="storage")
            return super().complete_and_claim(job_id, outcome, **kwargs)

    handler = Overlap(0.01)
    with Outbox(Broken(tmp_path / "o.sqlite")) as box:
        _fill(box, 50)
        worker = Worker(box, {"dmp.submit": handler}, concurrency=3)
        with pytest.raises(OutboxError) as info:
            worker.run(until_idle=True)
        assert info.value.code == "storage"
        stats = box.stats()
        assert stats.done + stats.running + stats.pending == 50 and stats.failed == 0
        assert stats.pending > 0  # the other lanes stopped claiming
        assert stats.done == sum(handler.delivered.values()) - stats.running


def test_stop_event_lets_every_lane_finish_its_job(tmp_path: Path) -> None:
    stop = threading.Event()
    handler = Overlap(0.01)

    def on_job(job: Job) -> None:
        if job.status is JobStatus.DONE and sum(handler.delivered.values()) >= 5:
            stop.set()

    with Outbox(SqliteBackend(tmp_path / "o.sqlite")) as box:
        _fill(box, 100)
        count = Worker(box, {"dmp.submit": handler}, concurrency=4).run(
            stop, idle=0.01, on_job=on_job
        )
        stats = box.stats()
    assert 5 <= count < 100
    assert stats.done == count and stats.running == 0  # no job left claimed
    assert stats.pending == 100 - count


def test_lanes_deliver_to_the_sandbox_dmp_exactly_once(
    tmp_path: Path, dmp_world: DmpWorld, dmp_sandbox: DmpSandbox, cda_factory: CdaFactory
) -> None:
    """One DmpClient (one transport, one connection pool) shared by four lanes, its exchanges
    recorded as evidence: every exchange has its own number and its three files."""
    made = [cda_factory.make() for _ in range(12)]
    audit_path = tmp_path / "audit.jsonl"
    evidence = tmp_path / "evidence"
    with (
        Outbox(tmp_path / "outbox.sqlite") as box,
        dmp_world.client() as client,
        AuditTrail(audit_path, structure_id="S", lps="test") as audit,
    ):
        client._transport = EvidenceTransport(client._transport, evidence)
        enqueue_dmp_submit_many(box, [cda for _, cda in made])
        worker = Worker(
            box, {ACTION_DMP_SUBMIT: dmp_submit_handler(client)}, audit=audit, concurrency=4
        )
        assert worker.run(until_idle=True) == 12
        assert box.stats().done == 12
        assert {job.outcome for job in box.list()} == {"delivered"}
    for unique_id, _ in made:
        assert documents_of(dmp_sandbox, unique_id) == 1
    lines = audit_path.read_text(encoding="utf-8").splitlines()
    assert len(lines) == 12 and all('"result": "delivered"' in line for line in lines)
    files = sorted(p.name for p in (evidence / "TD2.1").iterdir())
    stem = "ProvideAndRegisterDocumentSet-b"
    assert files == sorted(
        f"{n:03d}-{stem}.{kind}.xml"
        for n in range(1, 13)
        for kind in ("request", "request-envelope", "response")
    )
    recorded = set()
    for n in range(1, 13):
        envelope = (evidence / "TD2.1" / f"{n:03d}-{stem}.request-envelope.xml").read_bytes()
        response = (evidence / "TD2.1" / f"{n:03d}-{stem}.response.xml").read_bytes()
        (unique_id,) = [u for u, _ in made if u.encode() in envelope]
        assert b"ResponseStatusType:Success" in response
        recorded.add(unique_id)
    assert recorded == {u for u, _ in made}
