"""The durable outbox on SQLite: idempotence, claims and leases, retries with backoff,
permanent errors kept with their typed cause, replay, audit trail and evidence; then real
deliveries to the sandbox DMP over mutual TLS (exactly once, duplicate answers)."""

# ruff: noqa: F811 - the fixtures imported from tests.outbox_fixtures are arguments here

from __future__ import annotations

import io
import json
import random
import sqlite3
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from segur_ris.errors import (
    CdaError,
    CertificateRevokedError,
    DmpError,
    MllpTimeout,
    OutboxError,
    RevocationUnavailableError,
    TransportError,
    TransportTimeout,
    XdsMetadataError,
    XdsRegistryError,
    XmlError,
)
from segur_ris.outbox import (
    ACTION_DMP_SUBMIT,
    AuditTrail,
    Backoff,
    EvidenceTransport,
    Job,
    JobError,
    JobStatus,
    Outbox,
    SqliteBackend,
    Worker,
    dmp_submit_handler,
    dmp_visibility_handler,
    enqueue_dmp_submit,
    enqueue_dmp_visibility,
    is_transient,
    redact,
    transaction_of_soap_action,
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
)


class Clock:
    """A hand-driven clock (Unix seconds)."""

    def __init__(self, now: float = 1_800_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture()
def clock() -> Clock:
    return Clock()


@pytest.fixture()
def outbox(tmp_path: Path, clock: Clock) -> Iterator[Outbox]:
    with Outbox(SqliteBackend(tmp_path / "outbox.sqlite"), clock=clock) as box:
        yield box


# --- enqueue: idempotence and validation -----------------------------------------------------


def test_enqueue_is_idempotent_on_key_and_action(outbox: Outbox) -> None:
    first = outbox.enqueue("dmp.submit", key="1.2.3", payload=b"<cda/>", params={"a": 1})
    again = outbox.enqueue("dmp.submit", key="1.2.3", payload=b"<cda/>", params={"a": 2})
    other_action = outbox.enqueue("mss.send", key="1.2.3", payload=b"mail")
    assert again.id == first.id and again.params == {"a": 1}
    assert other_action.id != first.id
    assert first.status is JobStatus.PENDING and first.attempts == 0
    assert outbox.stats().pending == 2 and outbox.stats().total == 2
    assert outbox.find("dmp.submit", "1.2.3") == first
    assert outbox.find("dmp.submit", "9.9.9") is None


def test_same_key_other_content_is_a_conflict(outbox: Outbox) -> None:
    outbox.enqueue("dmp.submit", key="1.2.3", payload=b"<cda>v1</cda>")
    with pytest.raises(OutboxError) as caught:
        outbox.enqueue("dmp.submit", key="1.2.3", payload=b"<cda>v2</cda>")
    assert caught.value.code == "conflict"
    assert outbox.stats().total == 1


@pytest.mark.parametrize(
    ("action", "key", "payload", "params", "code"),
    [
        ("submit", "k", b"", None, "action"),
        ("DMP.Submit", "k", b"", None, "action"),
        ("dmp.submit", "", b"", None, "key"),
        ("dmp.submit", " ", b"", None, "key"),
        ("dmp.submit", "k" * 300, b"", None, "key"),
        ("dmp.submit", "k", "text", None, "payload"),
        ("dmp.submit", "k", b"", {"x": object()}, "params"),
    ],
)
def test_bad_input_is_refused_with_a_typed_error(
    outbox: Outbox, action: str, key: str, payload: object, params: object, code: str
) -> None:
    with pytest.raises(OutboxError) as caught:
        outbox.enqueue(action, key=key, payload=payload, params=params)  # type: ignore[arg-type]
    assert caught.value.code == code
    assert outbox.stats().total == 0


def test_get_unknown_and_bad_status(outbox: Outbox) -> None:
    with pytest.raises(OutboxError, match="inconnu"):
        outbox.get(42)
    with pytest.raises(OutboxError) as caught:
        outbox.list(status="lost")
    assert caught.value.code == "status"


def test_jobs_survive_reopening_the_database(tmp_path: Path, clock: Clock) -> None:
    path = tmp_path / "outbox.sqlite"
    with Outbox(path, clock=clock) as box:
        job = box.enqueue("dmp.submit", key="1.2.3", payload=b"\x00\xffbytes")
    with Outbox(path, clock=clock) as box:
        again = box.get(job.id)
        assert again.payload == b"\x00\xffbytes" and again.status is JobStatus.PENDING
        mode = box.backend._conn.execute("PRAGMA journal_mode").fetchone()[0]  # type: ignore[attr-defined]
        sync = box.backend._conn.execute("PRAGMA synchronous").fetchone()[0]  # type: ignore[attr-defined]
    assert (mode, sync) == ("wal", 2)  # WAL, synchronous=FULL


def test_unusable_database_path(tmp_path: Path) -> None:
    with pytest.raises(OutboxError) as caught:
        SqliteBackend(tmp_path / "missing-dir" / "outbox.sqlite")
    assert caught.value.code == "path"
    (tmp_path / "garbage.sqlite").write_bytes(b"not a database" * 100)
    with pytest.raises(OutboxError) as caught:
        SqliteBackend(tmp_path / "garbage.sqlite")
    assert caught.value.code == "storage"


# --- claims and leases --------------------------------------------------------------------


def test_claim_takes_each_job_once_until_the_lease_expires(outbox: Outbox, clock: Clock) -> None:
    a = outbox.enqueue("dmp.submit", key="a", payload=b"1")
    clock.advance(1)
    b = outbox.enqueue("dmp.submit", key="b", payload=b"2")
    first = outbox.claim("w1", lease=30)
    second = outbox.claim("w2", lease=30)
    assert first is not None and second is not None
    assert (first.id, second.id) == (a.id, b.id)  # oldest first
    assert first.status is JobStatus.RUNNING and first.attempts == 1 and first.worker == "w1"
    assert first.lease_until == clock.now + 30
    assert outbox.claim("w3", lease=30) is None
    clock.advance(29)
    assert outbox.claim("w3", lease=30) is None
    clock.advance(2)  # w1 and w2 presumed dead: their jobs come back
    again = outbox.claim("w3", lease=30)
    assert again is not None and again.id == a.id and again.attempts == 2 and again.worker == "w3"


def test_a_lost_claim_cannot_record_a_failure(outbox: Outbox, clock: Clock) -> None:
    outbox.enqueue("dmp.submit", key="a", payload=b"1")
    stale = outbox.claim("w1", lease=10)
    assert stale is not None
    clock.advance(11)
    fresh = outbox.claim("w2", lease=10)
    assert fresh is not None and fresh.attempts == 2
    after = outbox.fail(stale, TransportError("late"), permanent=True)
    assert after.status is JobStatus.RUNNING and after.worker == "w2" and after.error is None
    done = outbox.complete(fresh)
    assert done.status is JobStatus.DONE and done.lease_until is None


def test_claim_filters_by_action_and_validates(outbox: Outbox) -> None:
    outbox.enqueue("mss.send", key="m", payload=b"mail")
    assert outbox.claim("w", actions=["dmp.submit"]) is None
    assert outbox.claim("w", actions=[]) is None
    job = outbox.claim("w", actions=["mss.send"])
    assert job is not None and job.action == "mss.send"
    with pytest.raises(OutboxError):
        outbox.claim("w", lease=0)
    with pytest.raises(OutboxError):
        outbox.claim("")


def test_concurrent_claims_from_threads_never_share_a_job(tmp_path: Path) -> None:
    path = tmp_path / "outbox.sqlite"
    with Outbox(path) as box:
        for n in range(60):
            box.enqueue("dmp.submit", key=f"k{n}", payload=b"x")
    taken: list[int] = []
    lock = threading.Lock()

    def worker(name: str) -> None:
        with Outbox(path) as box:  # one connection per thread, like one per process
            while (job := box.claim(name, lease=60)) is not None:
                with lock:
                    taken.append(job.id)
                box.complete(job)

    threads = [threading.Thread(target=worker, args=(f"w{i}",)) for i in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert sorted(taken) == list(range(1, 61))
    with Outbox(path) as box:
        assert box.stats().done == 60


# --- worker: retries, permanent errors, replay ---------------------------------------------


class Flaky:
    """A handler failing with ``errors`` in turn, then succeeding."""

    def __init__(self, *errors: Exception) -> None:
        self.errors = list(errors)
        self.calls: list[int] = []

    def __call__(self, job: Job) -> str | None:
        self.calls.append(job.attempts)
        if self.errors:
            raise self.errors.pop(0)
        return None


def test_transient_errors_are_retried_with_backoff(outbox: Outbox, clock: Clock) -> None:
    handler = Flaky(TransportTimeout("délai dépassé"), TransportError("HTTP 503"))
    worker = Worker(
        outbox,
        {"dmp.submit": handler},
        backoff=Backoff(base=10, factor=2, cap=1000),
        rng=random.Random(1),
    )
    outbox.enqueue("dmp.submit", key="k", payload=b"x")
    job = worker.run_once()
    assert job is not None and job.status is JobStatus.PENDING and job.attempts == 1
    assert job.error == JobError("TransportTimeout", None, "délai dépassé", transient=True)
    assert 5 <= job.next_attempt_at - clock.now <= 10  # [base/2, base]
    assert worker.run_once() is None  # not due yet
    clock.advance(10)
    job = worker.run_once()
    assert job is not None and job.status is JobStatus.PENDING and job.attempts == 2
    assert 10 <= job.next_attempt_at - clock.now <= 20  # doubled
    clock.advance(20)
    job = worker.run_once()
    assert job is not None and job.status is JobStatus.DONE and job.outcome == "delivered"
    assert handler.calls == [1, 2, 3]


def test_backoff_grows_has_jitter_and_a_cap() -> None:
    backoff = Backoff(base=1, factor=3, cap=50)
    rng = random.Random(7)
    delays = [backoff.delay(n, rng) for n in range(1, 8)]
    assert delays[0] <= 1 and delays[1] >= 1.5 and delays[2] >= 4.5
    assert all(25 <= d <= 50 for d in delays[4:])
    assert len({round(backoff.delay(3, rng), 6) for _ in range(20)}) > 10  # jitter
    assert backoff.delay(10_000, rng) <= 50  # no overflow
    with pytest.raises(OutboxError):
        Backoff(base=0)
    with pytest.raises(OutboxError):
        Backoff(base=10, cap=5)


def test_permanent_errors_are_kept_with_their_typed_cause_then_replayed(
    outbox: Outbox, clock: Clock
) -> None:
    error = XdsRegistryError("patient inconnu", code="XDSUnknownPatientId")
    handler = Flaky(error)
    worker = Worker(outbox, {"dmp.submit": handler})
    job = outbox.enqueue("dmp.submit", key="k", payload=b"<secret-cda/>")
    failed = worker.run_once()
    assert failed is not None and failed.status is JobStatus.FAILED
    assert failed.error == JobError(
        "XdsRegistryError", "XDSUnknownPatientId", "patient inconnu", transient=False
    )
    assert worker.run_once() is None  # kept, not retried
    assert [j.id for j in outbox.list(status="failed")] == [job.id]
    replayed = outbox.replay(job.id)
    assert replayed.status is JobStatus.PENDING and replayed.attempts == 0
    assert replayed.error is not None  # the last cause stays visible until the next outcome
    done = worker.run_once()
    assert done is not None and done.status is JobStatus.DONE
    with pytest.raises(OutboxError) as caught:
        outbox.replay(job.id)
    assert caught.value.code == "done"
    assert handler.calls == [1, 1]


def test_transient_errors_give_up_after_max_attempts(outbox: Outbox, clock: Clock) -> None:
    handler = Flaky(*(TransportError("down") for _ in range(5)))
    worker = Worker(outbox, {"dmp.submit": handler}, max_attempts=3, backoff=Backoff(1, 1, 1))
    outbox.enqueue("dmp.submit", key="k", payload=b"x")
    statuses = []
    for _ in range(3):
        job = worker.run_once()
        assert job is not None
        statuses.append(job.status)
        clock.advance(2)
    assert statuses == [JobStatus.PENDING, JobStatus.PENDING, JobStatus.FAILED]
    assert worker.run_once() is None


def test_a_poison_job_killing_its_workers_ends_failed(outbox: Outbox, clock: Clock) -> None:
    handler = Flaky()
    worker = Worker(outbox, {"dmp.submit": handler}, max_attempts=2, lease=5)
    outbox.enqueue("dmp.submit", key="k", payload=b"x")
    for _ in range(2):  # two workers die holding the job
        assert outbox.claim("doomed", lease=5) is not None
        clock.advance(6)
    job = worker.run_once()
    assert job is not None and job.status is JobStatus.FAILED
    assert job.error is not None and job.error.type == "AttemptsExhausted"
    assert handler.calls == []


def test_unexpected_handler_exceptions_are_recorded_not_raised(outbox: Outbox) -> None:
    worker = Worker(outbox, {"dmp.submit": Flaky(KeyError("<cda>secret</cda>"))})
    outbox.enqueue("dmp.submit", key="k", payload=b"x")
    job = worker.run_once()
    assert job is not None and job.status is JobStatus.FAILED
    assert job.error is not None and job.error.type == "KeyError" and not job.error.transient
    assert "secret" not in job.error.message  # a foreign exception's text is not stored
    error = JobError.from_exception(ConnectionRefusedError(111, "Connection refused"))
    assert (error.code, error.message, error.transient) == ("111", "Connection refused", True)


def test_worker_run_until_idle_and_stop_event(outbox: Outbox) -> None:
    for n in range(5):
        outbox.enqueue("dmp.submit", key=f"k{n}", payload=b"x")
    worker = Worker(outbox, {"dmp.submit": Flaky()})
    assert worker.run(until_idle=True) == 5
    stop = threading.Event()
    stop.set()
    assert worker.run(stop) == 0
    with pytest.raises(OutboxError):
        Worker(outbox, {})


def test_the_retry_rule_in_one_place() -> None:
    assert is_transient(TransportError("x"))
    assert is_transient(TransportTimeout("x"))
    assert is_transient(MllpTimeout("x"))
    assert is_transient(ConnectionResetError())
    assert is_transient(XdsRegistryError("busy", code="XDSRegistryBusy"))
    assert is_transient(DmpError("faute DMP", code="Receiver"))
    assert not is_transient(DmpError("faute DMP", code="Sender"))
    assert not is_transient(XdsRegistryError("x", code="XDSUnknownPatientId"))
    assert not is_transient(XdsMetadataError("x", field="classCode"))
    assert not is_transient(CdaError("x"))
    assert not is_transient(ValueError("x"))
    assert is_transient(RevocationUnavailableError("CRL injoignable"))
    assert not is_transient(CertificateRevokedError("révoqué", code="key_compromise"))


def test_job_error_keeps_no_document_and_is_bounded() -> None:
    error = JobError.from_exception(DmpError("a\n  b " + "x" * 2000, code="C"))
    assert error.message.startswith("a b ") and len(error.message) == 500
    assert error.code == "C" and error.type == "DmpError"


# --- audit trail and evidence -------------------------------------------------------------


def test_audit_trail_lines_are_structured_and_redacted(outbox: Outbox, tmp_path: Path) -> None:
    path = tmp_path / "audit.jsonl"
    with AuditTrail(path, structure_id="1750000000", lps="RIS 1.0") as audit:
        worker = Worker(
            outbox,
            {"dmp.submit": Flaky(TransportError("HTTP 503"))},
            audit=audit,
            worker_id="w1",
        )
        outbox.enqueue(
            "dmp.submit", key="1.2.250.1.9", payload=b"<cda>CONTENU</cda>", params={"ins": "2"}
        )
        worker.run_once()
    lines = [json.loads(line) for line in path.read_text("utf-8").splitlines()]
    assert len(lines) == 1
    line = lines[0]
    assert line["who"] == {"structure": "1750000000", "lps": "RIS 1.0", "worker": "w1"}
    assert line["what"] == {"transaction": "TD2.1", "action": "dmp.submit"}
    assert line["patient_ins"] == "2" and line["document_id"] == "1.2.250.1.9"
    assert line["result"] == "retry" and line["error"]["type"] == "TransportError"
    assert line["when"].endswith("+00:00")
    assert "CONTENU" not in path.read_text("utf-8")


def test_redact_removes_secrets_and_contents_keeps_identifiers() -> None:
    clean = redact(
        {
            "password": "hunter2",
            "access_token": "eyJ",
            "dsn": "postgresql://u:p@h/db",
            "payload": "<cda/>",
            "document": "PDF",
            "document_id": "1.2.3",
            "unique_id": "1.2.4",
            "raw": b"\x00",
            "nested": {"private_key": "-----BEGIN", "status": "ok"},
            "mapping": "kept",
            "count": 3,
        }
    )
    assert "hunter2" not in json.dumps(clean) and "eyJ" not in json.dumps(clean)
    assert clean["document_id"] == "1.2.3" and clean["unique_id"] == "1.2.4"
    assert clean["payload"] == clean["document"] == clean["raw"] == "[redacted]"
    assert clean["nested"] == {"private_key": "[redacted]", "status": "ok"}
    assert clean["mapping"] == "kept" and clean["count"] == 3


def test_audit_trail_on_a_stream_and_unwritable_path(tmp_path: Path) -> None:
    stream = io.StringIO()
    import datetime as dt

    from segur_ris.outbox import AuditEvent

    AuditTrail(stream, structure_id="S").record(
        AuditEvent("INSi-traits", "delivered", dt.datetime(2026, 1, 1, tzinfo=dt.UTC))
    )
    assert json.loads(stream.getvalue())["who"]["structure"] == "S"
    with pytest.raises(OutboxError) as caught:
        AuditTrail(tmp_path / "no" / "such" / "audit.jsonl")
    assert caught.value.code == "audit"


def test_transaction_names() -> None:
    assert transaction_of_soap_action("urn:ihe:iti:2007:ProvideAndRegisterDocumentSet-b") == "TD2.1"
    assert transaction_of_soap_action("urn:ihe:iti:2010:UpdateDocumentSet") == "TD3.3"
    assert (
        transaction_of_soap_action(
            "urn:ServiceIdentiteCertifiee:1.0.0:rechercherInsAvecTraitsIdentite"
        )
        == "INSi-traits"
    )
    assert transaction_of_soap_action("urn:x:Other") == "Other"


# --- real deliveries to the sandbox DMP ---------------------------------------------------


def test_dmp_delivery_through_the_outbox_exactly_once(
    tmp_path: Path, dmp_world: DmpWorld, dmp_sandbox: DmpSandbox, cda_factory: CdaFactory
) -> None:
    evidence = tmp_path / "evidence"
    with Outbox(tmp_path / "outbox.sqlite") as box, dmp_world.client() as client:
        client._transport = EvidenceTransport(client._transport, evidence)
        ids = []
        for _ in range(3):
            unique_id, cda = cda_factory.make()
            job = enqueue_dmp_submit(box, cda, hide_from_patient=True, source="a.xml")
            assert job.key == unique_id and job.params["ins"] == INS_VALUE
            assert enqueue_dmp_submit(box, cda).id == job.id  # idempotent
            ids.append(unique_id)
        worker = Worker(box, {ACTION_DMP_SUBMIT: dmp_submit_handler(client)})
        assert worker.run(until_idle=True) == 3
        assert box.stats().done == 3
        assert [j.outcome for j in box.list(status="done")] == ["delivered"] * 3
    for unique_id in ids:
        assert documents_of(dmp_sandbox, unique_id) == 1
        (stored,) = dmp_sandbox.store.by_unique_id(unique_id)
        assert "INVISIBLE_PATIENT" in stored.confidentiality_codes
    files = sorted(p.name for p in (evidence / "TD2.1").iterdir())
    assert files[:3] == [
        "001-ProvideAndRegisterDocumentSet-b.request-envelope.xml",
        "001-ProvideAndRegisterDocumentSet-b.request.xml",
        "001-ProvideAndRegisterDocumentSet-b.response.xml",
    ]
    assert len(files) == 9
    envelope = (evidence / "TD2.1" / files[0]).read_bytes()
    assert b"ProvideAndRegisterDocumentSetRequest" in envelope and ids[0].encode() in envelope
    assert b"jeton de securite retire" in envelope and b"SignatureValue" not in envelope


def test_dmp_handler_after_a_crash_finds_the_document_already_there(
    tmp_path: Path, dmp_world: DmpWorld, dmp_sandbox: DmpSandbox, cda_factory: CdaFactory
) -> None:
    """The worker died after the DMP registered the document, before recording it."""
    unique_id, cda = cda_factory.make()
    with Outbox(tmp_path / "outbox.sqlite") as box, dmp_world.client() as client:
        client.submit(cda)  # the delivery that got through before the crash
        enqueue_dmp_submit(box, cda)
        assert box.claim("killed", lease=0.01) is not None  # …and its worker died
        threading.Event().wait(0.05)
        job = Worker(box, {ACTION_DMP_SUBMIT: dmp_submit_handler(client)}).run_once()
        assert job is not None and job.status is JobStatus.DONE
        assert job.outcome == "already-delivered" and job.attempts == 2
        # a first attempt meeting the DMP's duplicate answer ends the same way
        other_id, other = cda_factory.make()
        client.submit(other)
        enqueue_dmp_submit(box, other)
        job = Worker(box, {ACTION_DMP_SUBMIT: dmp_submit_handler(client)}).run_once()
        assert job is not None and job.attempts == 1 and job.outcome == "already-delivered"
    assert documents_of(dmp_sandbox, unique_id) == 1 and documents_of(dmp_sandbox, other_id) == 1


def test_dmp_unknown_patient_is_a_permanent_failure(
    tmp_path: Path, dmp_world: DmpWorld, cda_factory: CdaFactory
) -> None:
    _, cda = cda_factory.make()
    cda = cda.replace(INS_VALUE.encode(), b"182052A01202363")  # not known by the sandbox
    with Outbox(tmp_path / "outbox.sqlite") as box, dmp_world.client() as client:
        enqueue_dmp_submit(box, cda)
        job = Worker(box, {ACTION_DMP_SUBMIT: dmp_submit_handler(client)}).run_once()
    assert job is not None and job.status is JobStatus.FAILED
    assert job.error is not None and job.error.code == "XDSUnknownPatientId"


def test_dmp_unreachable_is_retried(
    tmp_path: Path, dmp_world: DmpWorld, cda_factory: CdaFactory
) -> None:
    _, cda = cda_factory.make()
    closed = DmpWorld(dmp_world.settings, dmp_world.org, dmp_world.pki, "https://127.0.0.1:9")
    with Outbox(tmp_path / "outbox.sqlite") as box, closed.client(timeout=5) as client:
        enqueue_dmp_submit(box, cda)
        job = Worker(box, {ACTION_DMP_SUBMIT: dmp_submit_handler(client)}).run_once()
    assert job is not None and job.status is JobStatus.PENDING
    assert job.error is not None and job.error.transient and job.error.type == "TransportError"


def test_enqueue_refuses_a_malformed_cda(outbox: Outbox) -> None:
    with pytest.raises((CdaError, XmlError)):
        enqueue_dmp_submit(outbox, b"<not-a-cda/>")
    with pytest.raises(XmlError):
        enqueue_dmp_submit(outbox, b"\x00garbage")
    assert outbox.stats().total == 0


def test_dmp_visibility_through_the_outbox(
    tmp_path: Path, dmp_world: DmpWorld, dmp_sandbox: DmpSandbox, cda_factory: CdaFactory
) -> None:
    unique_id, cda = cda_factory.make()
    with Outbox(tmp_path / "outbox.sqlite") as box, dmp_world.client() as client:
        client.submit(cda)
        job = enqueue_dmp_visibility(box, unique_id, ins=INS_VALUE, patient=False)
        assert enqueue_dmp_visibility(box, unique_id, ins=INS_VALUE, patient=False).id == job.id
        worker = Worker(box, {"dmp.visibility": dmp_visibility_handler(client)})
        done = worker.run_once()
        assert done is not None and done.outcome == "delivered"
        again = enqueue_dmp_visibility(box, unique_id, ins=INS_VALUE, patient=False, request_id="2")
        assert again.id != job.id
        done = worker.run_once()
        assert done is not None and done.outcome == "already-delivered"
        with pytest.raises(OutboxError):
            enqueue_dmp_visibility(box, unique_id, ins=INS_VALUE)
    versions = dmp_sandbox.store.by_unique_id(unique_id)
    assert len(versions) == 2
    assert "INVISIBLE_PATIENT" in versions[-1].confidentiality_codes


def test_sqlite_file_is_readable_by_the_sqlite3_module(tmp_path: Path) -> None:
    """The schema is plain SQL: operators can inspect the outbox with any SQLite tool."""
    path = tmp_path / "outbox.sqlite"
    with Outbox(path) as box:
        box.enqueue("dmp.submit", key="k", payload=b"x")
    conn = sqlite3.connect(path)
    try:
        assert conn.execute("SELECT job_key, status FROM outbox_jobs").fetchall() == [
            ("k", "pending")
        ]
    finally:
        conn.close()


def test_worker_run_waits_out_a_database_outage(tmp_path: Path) -> None:
    class Outage(SqliteBackend):
        failures = 1

        def claim(self, worker: str, **kwargs: Any) -> Job | None:
            if self.failures:
                self.failures -= 1
                raise OutboxError("disk I/O error", code="storage")
            return super().claim(worker, **kwargs)

    stop = threading.Event()
    seen: list[str] = []

    def handler(job: Job) -> None:
        seen.append(job.key)
        stop.set()

    with Outbox(Outage(tmp_path / "o.sqlite")) as box:
        box.enqueue("dmp.submit", key="k", payload=b"x")
        with pytest.raises(OutboxError):  # with until_idle, the error is reported
            Worker(box, {"dmp.submit": handler}).run(until_idle=True)
        box.backend.failures = 1  # type: ignore[attr-defined]
        assert Worker(box, {"dmp.submit": handler}).run(stop, idle=0.01) == 1
    assert seen == ["k"]


def test_random_operations_keep_the_invariants(tmp_path: Path) -> None:
    """2,000 random operations (enqueue, claim, complete, fail, replay, time passing) against a
    simple model: one job per key, a done job is never claimed again, a claimed job is held by
    one worker until its lease expires, attempts only grow (or reset on replay)."""
    rng = random.Random(4242)
    clock = Clock()
    with Outbox(SqliteBackend(tmp_path / "o.sqlite"), clock=clock) as box:
        held: dict[int, Job] = {}  # job id -> the claim we hold
        done: set[int] = set()
        keys: dict[str, int] = {}
        for _ in range(2000):
            op = rng.choice(["enqueue", "claim", "claim", "complete", "fail", "replay", "tick"])
            if op == "enqueue":
                key = f"k{rng.randrange(40)}"
                job = box.enqueue("dmp.submit", key=key, payload=key.encode())
                assert keys.setdefault(key, job.id) == job.id
            elif op == "claim":
                job = box.claim(f"w{rng.randrange(3)}", lease=rng.choice([5, 50]))
                if job is not None:
                    assert job.id not in done
                    previous = held.get(job.id)
                    if previous is not None:  # only after the previous lease expired
                        assert previous.lease_until is not None
                        assert previous.lease_until <= clock.now
                        assert job.attempts == previous.attempts + 1
                    held[job.id] = job
            elif op == "complete" and held:
                job = held.pop(rng.choice(sorted(held)))
                assert box.complete(job).status is JobStatus.DONE
                done.add(job.id)
            elif op == "fail" and held:
                job = held.pop(rng.choice(sorted(held)))
                after = box.fail(job, TransportError("x"), permanent=rng.random() < 0.3)
                assert after.status in (JobStatus.PENDING, JobStatus.FAILED)
            elif op == "replay" and keys:
                job_id = keys[rng.choice(sorted(keys))]
                if job_id in done:
                    with pytest.raises(OutboxError):
                        box.replay(job_id)
                else:
                    box.replay(job_id)
            elif op == "tick":
                clock.advance(rng.choice([1, 10, 100]))
        stats = box.stats()
        assert stats.total == len(keys) and stats.done == len(done)
        assert all(box.get(job_id).status is JobStatus.DONE for job_id in done)
