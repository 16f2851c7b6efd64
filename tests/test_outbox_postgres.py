"""The outbox on PostgreSQL (``SEGUR_RIS_PG_DSN``, started by ``.ci/postgres.sh``): same
semantics as SQLite, and two workers in parallel never send a document twice."""

# ruff: noqa: F811 - the fixtures imported from tests.outbox_fixtures are arguments here

from __future__ import annotations

import threading
import uuid
from collections import Counter
from collections.abc import Iterator

import pytest

from segur_ris.errors import OutboxError, TransportError, XdsRegistryError
from segur_ris.outbox import (
    ACTION_DMP_SUBMIT,
    Job,
    JobStatus,
    Outbox,
    PostgresBackend,
    Worker,
    dmp_submit_handler,
    enqueue_dmp_submit,
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


@pytest.fixture(scope="module")
def dsn() -> str:
    return pg_dsn()


@pytest.fixture()
def table(dsn: str) -> Iterator[str]:
    name = f"outbox_test_{uuid.uuid4().hex[:10]}"
    yield name
    with PostgresBackend(dsn, table=name) as backend:
        backend.drop()


class Clock:
    def __init__(self) -> None:
        self.now = 1_800_000_000.0

    def __call__(self) -> float:
        return self.now


def test_same_semantics_as_sqlite(dsn: str, table: str) -> None:
    clock = Clock()
    with Outbox(PostgresBackend(dsn, table=table), clock=clock) as box:
        job = box.enqueue("dmp.submit", key="1.2.3", payload=b"\x00<cda/>", params={"ins": "x"})
        assert box.enqueue("dmp.submit", key="1.2.3", payload=b"\x00<cda/>").id == job.id
        with pytest.raises(OutboxError) as caught:
            box.enqueue("dmp.submit", key="1.2.3", payload=b"other")
        assert caught.value.code == "conflict"
        claimed = box.claim("w1", lease=10)
        assert claimed is not None and claimed.payload == b"\x00<cda/>" and claimed.attempts == 1
        assert box.claim("w2", lease=10) is None
        clock.now += 11
        again = box.claim("w2", lease=10)
        assert again is not None and again.attempts == 2
        stale = box.fail(claimed, TransportError("late"), permanent=True)
        assert stale.status is JobStatus.RUNNING and stale.worker == "w2"
        failed = box.fail(again, XdsRegistryError("x", code="XDSUnknownPatientId"), permanent=True)
        assert failed.status is JobStatus.FAILED and failed.error is not None
        assert failed.error.code == "XDSUnknownPatientId" and not failed.error.transient
        assert [j.id for j in box.list(status="failed")] == [job.id]
        assert box.replay(job.id).status is JobStatus.PENDING
        done = box.complete(job.id)
        assert done.status is JobStatus.DONE
        assert box.stats().done == 1 and done.params == {"ins": "x"}


def test_claims_from_parallel_connections_never_overlap(dsn: str, table: str) -> None:
    with Outbox(PostgresBackend(dsn, table=table)) as box:
        for n in range(80):
            box.enqueue("dmp.submit", key=f"k{n}", payload=b"x")
    taken: list[int] = []
    lock = threading.Lock()

    def worker(name: str) -> None:
        with Outbox(PostgresBackend(dsn, table=table)) as box:
            while (job := box.claim(name, lease=60)) is not None:
                with lock:
                    taken.append(job.id)
                box.complete(job)

    threads = [threading.Thread(target=worker, args=(f"w{i}",)) for i in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert len(taken) == 80 and len(set(taken)) == 80


def test_two_workers_in_parallel_send_no_document_twice(
    dsn: str,
    table: str,
    dmp_world: DmpWorld,
    dmp_sandbox: DmpSandbox,
    cda_factory: CdaFactory,
) -> None:
    ids = []
    with Outbox(PostgresBackend(dsn, table=table)) as box:
        for _ in range(30):
            unique_id, cda = cda_factory.make()
            enqueue_dmp_submit(box, cda)
            ids.append(unique_id)
    sent: Counter[str] = Counter()
    lock = threading.Lock()
    errors: list[BaseException] = []

    def run(name: str) -> None:
        try:
            with Outbox(PostgresBackend(dsn, table=table)) as box, dmp_world.client() as client:
                deliver = dmp_submit_handler(client)

                def counting(job: Job) -> str | None:
                    with lock:
                        sent[job.key] += 1
                    return deliver(job)

                Worker(box, {ACTION_DMP_SUBMIT: counting}, worker_id=name).run(until_idle=True)
        except BaseException as exc:  # reported by the main thread
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(f"worker-{i}",)) for i in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(90)
    assert not errors
    with Outbox(PostgresBackend(dsn, table=table)) as box:
        jobs = box.list(limit=100)
    assert [j.status for j in jobs] == [JobStatus.DONE] * 30
    assert {j.worker for j in jobs} == {"worker-0", "worker-1"}  # both did share the work
    assert set(sent.values()) == {1} and len(sent) == 30
    assert all(documents_of(dmp_sandbox, unique_id) == 1 for unique_id in ids)


def test_connection_errors_hide_the_password(dsn: str) -> None:
    bad = "postgresql://segur_ris:s3cr3t-pw@127.0.0.1:1/segur_ris"
    with pytest.raises(OutboxError) as caught:
        PostgresBackend(bad, connect_timeout=2)
    assert caught.value.code == "connect" and "s3cr3t-pw" not in str(caught.value)
    with pytest.raises(OutboxError):
        PostgresBackend(dsn, table="bad; DROP TABLE x")


def test_reconnects_after_the_connection_is_cut(dsn: str, table: str) -> None:
    import psycopg

    with Outbox(PostgresBackend(dsn, table=table)) as box:
        box.enqueue("dmp.submit", key="k", payload=b"x")
        pid = box.backend._conn.info.backend_pid  # type: ignore[attr-defined]
        with psycopg.connect(dsn, autocommit=True) as admin:
            admin.execute("SELECT pg_terminate_backend(%s)", (pid,))
        with pytest.raises(OutboxError) as caught:
            box.stats()
        assert caught.value.code == "storage"
        assert box.stats().pending == 1  # a new connection, nothing lost
        with Outbox(dsn) as other:  # a DSN string opens PostgreSQL (default table)
            assert isinstance(other.backend, PostgresBackend)


def test_concurrent_enqueues_of_one_document_make_one_job(dsn: str, table: str) -> None:
    barrier = threading.Barrier(4)
    ids: list[int] = []
    errors: list[BaseException] = []

    def enqueue() -> None:
        try:
            with Outbox(PostgresBackend(dsn, table=table)) as box:
                barrier.wait(10)
                for n in range(20):
                    ids.append(box.enqueue("dmp.submit", key=f"k{n}", payload=b"x").id)
        except BaseException as exc:
            errors.append(exc)

    with Outbox(PostgresBackend(dsn, table=table)):
        pass  # the table exists before the race
    threads = [threading.Thread(target=enqueue) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert not errors
    assert len(ids) == 80 and len(set(ids)) == 20
