"""Crash safety: workers SIGKILLed at random points, over 100+ runs, then restarted; the
sandbox DMP ends up holding every document exactly once and every job is done."""

# ruff: noqa: F811 - the fixtures imported from tests.outbox_fixtures are arguments here

from __future__ import annotations

import contextlib
import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

from segur_ris.outbox import JobStatus, Outbox, SqliteBackend, enqueue_dmp_submit
from segur_ris.sandbox import DmpSandbox
from tests.outbox_fixtures import (  # noqa: F401 - fixtures
    REPO_ROOT,
    CdaFactory,
    DmpWorld,
    cda_factory,
    dmp_sandbox,
    dmp_world,
    documents_of,
    org_pki,
)

DOCUMENTS = 150
KILLS = 105
# longer than a delivery, including the sandbox finishing a request whose client was killed
LEASE = 1.5


def test_sigkilled_workers_deliver_every_document_exactly_once(
    tmp_path: Path, dmp_world: DmpWorld, dmp_sandbox: DmpSandbox, cda_factory: CdaFactory
) -> None:
    db = tmp_path / "outbox.sqlite"
    ids = []
    with Outbox(SqliteBackend(db)) as outbox:
        for n in range(DOCUMENTS):
            unique_id, cda = cda_factory.make()
            enqueue_dmp_submit(outbox, cda, source=f"doc{n}.xml")
            ids.append(unique_id)
    config = {**dmp_world.config(), "db": str(db), "lease": LEASE}
    rng = random.Random(20261125)
    killed = 0
    with subprocess.Popen(
        [sys.executable, "-c", "from tests.outbox_fixtures import crash_zygote; crash_zygote()"],
        cwd=REPO_ROOT,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    ) as zygote:
        assert zygote.stdin is not None and zygote.stdout is not None

        def run(kill_after: float | None) -> str:
            assert zygote.stdin is not None and zygote.stdout is not None
            zygote.stdin.write("run\n" if kill_after is not None else "drain\n")
            zygote.stdin.flush()
            pid = int(zygote.stdout.readline())
            if kill_after is not None:
                time.sleep(kill_after)
                with contextlib.suppress(ProcessLookupError):  # already finished
                    os.kill(pid, signal.SIGKILL)
            return zygote.stdout.readline().strip()

        zygote.stdin.write(json.dumps(config) + "\n")
        zygote.stdin.flush()
        assert zygote.stdout.readline().strip() == "ready"
        for _ in range(KILLS):
            # the child needs ~0.2 s to open its connections, then delivers one document every
            # 50-100 ms: kills land before, during and between deliveries
            status = run(rng.uniform(0.05, 0.5))
            assert status == f"signal {signal.SIGKILL}"
            killed += 1
        # restart until everything is delivered (leases of the killed workers expire)
        deadline = time.monotonic() + 60
        while True:
            with Outbox(SqliteBackend(db)) as outbox:
                stats = outbox.stats()
            if stats.done == DOCUMENTS or time.monotonic() > deadline:
                break
            assert run(None) == "exit 0"
            if stats.running:
                time.sleep(LEASE)
        zygote.stdin.close()
        assert zygote.wait(30) == 0
    assert killed >= 100
    with Outbox(SqliteBackend(db)) as outbox:
        stats = outbox.stats()
        jobs = outbox.list(limit=DOCUMENTS + 10)
    failures = [(job.key, job.attempts, job.error) for job in jobs if job.error is not None]
    assert stats.done == DOCUMENTS and stats.failed == 0, (stats, failures)
    assert all(job.status is JobStatus.DONE for job in jobs)
    counts = {unique_id: documents_of(dmp_sandbox, unique_id) for unique_id in ids}
    assert set(counts.values()) == {1}, {k: v for k, v in counts.items() if v != 1}
    # the crashes did happen mid-delivery: some jobs needed more than one attempt
    assert any(job.attempts > 1 for job in jobs)
