"""``segur-ris backfill`` and ``segur-ris outbox`` on the embedded sandbox DMP: final report,
resumption after an interruption (including a SIGKILL mid-run), each document sent once."""

# ruff: noqa: F811 - the fixtures imported from tests.outbox_fixtures are arguments here

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from segur_ris.cli import _backfill, _outbox
from segur_ris.errors import ConfigError, OutboxError
from segur_ris.outbox import JobStatus, Outbox, SqliteBackend
from segur_ris.sandbox import DmpStore
from tests.outbox_fixtures import REPO_ROOT, CdaFactory, cda_factory  # noqa: F401 - fixture


def cli(*argv: str) -> int:
    """Run a command through the modules' own ``register`` (as cli/__init__ wires them)."""
    parser = argparse.ArgumentParser(prog="segur-ris")
    sub = parser.add_subparsers(dest="command")
    _backfill.register(sub)
    _outbox.register(sub)
    args = parser.parse_args(list(argv))
    return int(args.handler(args))


def sandbox_counts(db: Path) -> dict[str, int]:
    """uniqueId → number of stored CDA versions in the sandbox DMP kept beside the outbox
    (the XAdES signature documents, one per submission, are left out)."""
    store = DmpStore(db.with_name(db.name + ".dmp-sandbox.sqlite"))
    try:
        counts: dict[str, int] = {}
        for document in store.all():
            if b"<ClinicalDocument" in document.document[:2000]:
                counts[document.unique_id] = counts.get(document.unique_id, 0) + 1
        return counts
    finally:
        store.close()


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory, cda_factory: CdaFactory) -> Path:
    """3 CDA, 1 PDF + metadata, 1 malformed XML, 1 PDF without metadata, 1 ignored file."""
    from segur_ris.pdf import render_report_pdf
    from segur_ris.report import ImagingReport

    root = tmp_path_factory.mktemp("reports")
    (root / "2025").mkdir()
    for n in range(3):
        _, cda = cda_factory.make()
        (root / "2025" / f"cr-{n}.xml").write_bytes(cda)
    data: dict[str, Any] = json.loads((REPO_ROOT / "examples" / "report.json").read_text("utf-8"))
    data["document_id"] = "1.2.250.1.999.1.1.20260101.77"
    report = ImagingReport.from_dict(data)
    (root / "scan.pdf").write_bytes(render_report_pdf(report, deterministic=True))
    (root / "scan.json").write_text(json.dumps(data), "utf-8")
    (root / "broken.xml").write_bytes(b"<html>pas un CDA</html>")
    (root / "orphan.pdf").write_bytes(b"%PDF-1.4 orphan")
    (root / "notes.txt").write_text("ignored", "utf-8")
    return root


def test_backfill_report_then_resume(
    folder: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = tmp_path / "outbox.sqlite"
    audit = tmp_path / "audit.jsonl"
    evidence = tmp_path / "evidence"
    code = cli(
        "backfill", str(folder), "--db", str(db), "--json",
        "--audit", str(audit), "--evidence", str(evidence),
    )  # fmt: skip
    report = json.loads(capsys.readouterr().out)
    assert code == 1  # two inputs failed
    assert (report["sent"], report["skipped"], report["failed"], report["total"]) == (4, 0, 2, 6)
    by_file = {d["file"]: d for d in report["documents"]}
    assert set(by_file) == {
        "2025/cr-0.xml", "2025/cr-1.xml", "2025/cr-2.xml", "scan.pdf", "broken.xml", "orphan.pdf"
    }  # fmt: skip
    assert by_file["scan.pdf"]["unique_id"] == "1.2.250.1.999.1.1.20260101.77"
    assert by_file["scan.pdf"]["result"] == "sent"
    assert "ClinicalDocument" in by_file["broken.xml"]["reason"]
    assert "orphan.json" in by_file["orphan.pdf"]["reason"]
    counts = sandbox_counts(db)
    sent_ids = {d["unique_id"] for d in report["documents"] if d["result"] == "sent"}
    assert {uid: counts.get(uid) for uid in sent_ids} == dict.fromkeys(sent_ids, 1)
    lines = [json.loads(line) for line in audit.read_text("utf-8").splitlines()]
    assert [line["result"] for line in lines] == ["delivered"] * 4
    assert {line["what"]["transaction"] for line in lines} == {"TD2.1"}
    assert len(list((evidence / "TD2.1").glob("*.response.xml"))) == 4

    # second run: everything already sent is skipped, nothing is sent again
    code = cli("backfill", str(folder), "--db", str(db), "--json")
    again = json.loads(capsys.readouterr().out)
    assert code == 1
    assert (again["sent"], again["skipped"], again["failed"]) == (0, 4, 2)
    assert sandbox_counts(db) == counts


def test_backfill_resumes_a_job_whose_worker_died_after_delivery(
    folder: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = tmp_path / "outbox.sqlite"
    cli("backfill", str(folder), "--db", str(db), "--json")
    capsys.readouterr()
    # the worker died after the DMP's answer, before recording it: the job is still running
    with Outbox(SqliteBackend(db)) as outbox:
        conn = outbox.backend._conn  # type: ignore[attr-defined]
        conn.execute(
            "UPDATE outbox_jobs SET status = 'running', lease_until = 0, worker = 'dead' "
            "WHERE id = 1"
        )
        key = outbox.get(1).key
    code = cli("backfill", str(folder), "--db", str(db), "--json", "--retry-failed")
    report = json.loads(capsys.readouterr().out)
    assert code == 1
    document = next(d for d in report["documents"] if d["unique_id"] == key)
    assert document == {**document, "result": "skipped", "reason": "déjà dans le DMP"}
    assert sandbox_counts(db)[key] == 1
    with Outbox(SqliteBackend(db)) as outbox:
        job = outbox.get(1)
    assert job.status is JobStatus.DONE and job.attempts == 2


def test_backfill_killed_mid_run_then_resumed(
    tmp_path: Path, cda_factory: CdaFactory, capsys: pytest.CaptureFixture[str]
) -> None:
    root = tmp_path / "in"
    root.mkdir()
    for n in range(25):
        _, cda = cda_factory.make()
        (root / f"{n:02d}.xml").write_bytes(cda)
    db = tmp_path / "outbox.sqlite"
    script = (
        "import sys; from tests.test_cli_backfill import cli; "
        f"sys.exit(cli('backfill', {str(root)!r}, '--db', {str(db)!r}, '--json', '--lease', '1'))"
    )
    with subprocess.Popen(
        [sys.executable, "-c", script],
        cwd=REPO_ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    ) as child:
        deadline = time.monotonic() + 60
        done = 0
        while time.monotonic() < deadline and child.poll() is None:
            if db.exists():
                with Outbox(SqliteBackend(db)) as outbox:
                    done = outbox.stats().done
                if done >= 3:
                    break
            time.sleep(0.05)
        os.kill(child.pid, signal.SIGKILL)
        child.wait(30)
    assert 3 <= done < 25, done
    code = cli("backfill", str(root), "--db", str(db), "--json", "--lease", "1")
    report = json.loads(capsys.readouterr().out)
    assert code == 0
    assert report["failed"] == 0 and report["sent"] + report["skipped"] == 25
    assert report["skipped"] >= 3
    counts = sandbox_counts(db)
    assert len(counts) == 25 and set(counts.values()) == {1}


def test_backfill_text_output_and_bad_folder(
    tmp_path: Path, cda_factory: CdaFactory, capsys: pytest.CaptureFixture[str]
) -> None:
    root = tmp_path / "in"
    root.mkdir()
    _, cda = cda_factory.make()
    (root / "a.xml").write_bytes(cda)
    db = tmp_path / "o.sqlite"
    assert cli("backfill", str(root), "--db", str(db), "--no-progress", "--concurrency", "1") == 0
    assert "1 documents: 1 envoyés, 0 ignorés (déjà envoyés), 0 en échec" in capsys.readouterr().out
    for lanes in ("0", "65", "deux"):
        with pytest.raises(SystemExit):
            cli("backfill", str(root), "--db", str(db), "--concurrency", lanes)
        assert "--concurrency" in capsys.readouterr().err
    with pytest.raises(ConfigError):
        cli("backfill", str(tmp_path / "missing"), "--db", str(db))
    with pytest.raises(ConfigError):
        cli("backfill", str(root), "--db", str(db), "--env", "test")  # no certificates


def test_outbox_commands(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    db = tmp_path / "o.sqlite"
    with Outbox(SqliteBackend(db)) as outbox:
        outbox.enqueue("dmp.submit", key="1.2.3", payload=b"x", params={"source": "a.xml"})
        outbox.enqueue("dmp.submit", key="1.2.4", payload=b"y")
        job = outbox.claim("w")
        assert job is not None
        outbox.fail(job, OutboxError("refusé", code="XDSUnknownPatientId"), permanent=True)
    assert cli("outbox", "stats", "--db", str(db), "--json") == 0
    stats = json.loads(capsys.readouterr().out)
    assert (stats["pending"], stats["failed"], stats["total"]) == (1, 1, 2)
    assert cli("outbox", "list", "--db", str(db), "--status", "failed", "--json") == 0
    (listed,) = json.loads(capsys.readouterr().out)
    assert listed["key"] == "1.2.3" and listed["source"] == "a.xml"
    assert listed["error"]["code"] == "XDSUnknownPatientId"
    assert cli("outbox", "list", "--db", str(db)) == 0
    assert "[XDSUnknownPatientId] refusé" in capsys.readouterr().out
    assert cli("outbox", "replay", "--db", str(db), "--all-failed", "--json") == 0
    (replayed,) = json.loads(capsys.readouterr().out)
    assert replayed["status"] == "pending" and replayed["attempts"] == 0
    with pytest.raises(OutboxError):
        cli("outbox", "replay", "--db", str(db), "99")
    with pytest.raises(ConfigError):
        cli("outbox", "replay", "--db", str(db))
    with pytest.raises(ConfigError):
        cli("outbox", "stats", "--db", str(tmp_path / "none.sqlite"))


def test_backfill_also_delivers_an_earlier_runs_jobs(
    tmp_path: Path, cda_factory: CdaFactory, capsys: pytest.CaptureFixture[str]
) -> None:
    """Jobs left pending by an earlier run (other folder, other patient) are delivered too."""
    from segur_ris.outbox import enqueue_dmp_submit

    db = tmp_path / "o.sqlite"
    _, other = cda_factory.make()
    other = other.replace(b"279035121518989", b"182052A01202363")  # another patient
    with Outbox(SqliteBackend(db)) as outbox:
        earlier = enqueue_dmp_submit(outbox, other, source="earlier/x.xml")
    root = tmp_path / "in"
    root.mkdir()
    (root / "a.xml").write_bytes(cda_factory.make()[1])
    assert cli("backfill", str(root), "--db", str(db), "--json") == 0
    assert json.loads(capsys.readouterr().out)["sent"] == 1
    with Outbox(SqliteBackend(db)) as outbox:
        job = outbox.get(earlier.id)
    assert job.status is JobStatus.DONE and job.error is None
    assert sandbox_counts(db)[earlier.key] == 1


def test_backfill_batches_survive_a_changed_document_and_a_corrupt_db(
    tmp_path: Path, cda_factory: CdaFactory, capsys: pytest.CaptureFixture[str]
) -> None:
    """A CDA rewritten under an already accepted uniqueId fails alone (``conflict``): the other
    documents of its batch are still accepted and sent; a corrupt outbox file is a typed
    error before anything is read or sent."""
    root = tmp_path / "in"
    root.mkdir()
    documents = [cda_factory.make() for _ in range(3)]
    (root / "a.xml").write_bytes(documents[0][1])
    db = tmp_path / "o.sqlite"
    with Outbox(SqliteBackend(db)) as outbox:  # a.xml accepted by an earlier, interrupted run
        from segur_ris.outbox import enqueue_dmp_submit

        enqueue_dmp_submit(outbox, documents[0][1])
    changed = documents[0][1].replace(b"</ClinicalDocument>", b"<!-- v2 --></ClinicalDocument>")
    (root / "a.xml").write_bytes(changed)
    (root / "b.xml").write_bytes(documents[1][1])
    (root / "c.xml").write_bytes(documents[2][1])
    assert cli("backfill", str(root), "--db", str(db), "--json") == 1
    report = json.loads(capsys.readouterr().out)
    by_file = {d["file"]: d for d in report["documents"]}
    assert by_file["a.xml"]["result"] == "failed" and "[conflict]" in by_file["a.xml"]["reason"]
    assert by_file["b.xml"]["result"] == by_file["c.xml"]["result"] == "sent"
    counts = sandbox_counts(db)
    # the first version of a.xml, accepted earlier, was delivered as accepted
    assert counts == {unique_id: 1 for unique_id, _ in documents}

    corrupt = tmp_path / "corrupt.sqlite"
    corrupt.write_bytes(b"not a database " * 400)
    with pytest.raises(OutboxError) as error:
        cli("backfill", str(root), "--db", str(corrupt), "--json")
    assert error.value.code == "storage"
    assert corrupt.read_bytes() == b"not a database " * 400  # left as it was
    assert not corrupt.with_name(corrupt.name + ".dmp-sandbox.sqlite").exists()
