"""``segur-ris backfill DIR``: the *voiture balai* — send a folder of existing reports to the
DMP through the durable outbox, resumable, with a final report.

Input files (the folder is walked recursively, in name order):

* ``*.xml``: a CDA R2 CR-IMG, sent as is (its ``ClinicalDocument/id`` is the uniqueId);
* ``NAME.pdf`` + ``NAME.json``: a report PDF and its metadata in the JSON form of
  ``examples/report.json`` (:class:`~segur_ris.report.ImagingReport`), which must carry its
  ``document_id`` (so that a resumed run finds the same uniqueId); the PDF is made PDF/A when
  needed and wrapped in a CR-IMG N1. Other files are ignored.

Every document is accepted into the outbox (``--db``, SQLite) before anything is sent; a run
interrupted at any point is resumed by running the same command again: documents already
delivered are skipped, the others are sent. The DMP is the embedded sandbox unless ``--env``.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from segur_ris.cli._dmp import add_dmp_options, dmp_client
from segur_ris.cli._output import add_json_flag, emit_json, read_file
from segur_ris.errors import ConfigError, SegurError

_DEFAULT_DB = "segur-ris-outbox.sqlite"


def register(sub: Any) -> None:
    parser: argparse.ArgumentParser = sub.add_parser(
        "backfill",
        help="send a folder of existing reports to the DMP (voiture balai)",
        description="Send every CDA (*.xml) and PDF + metadata (NAME.pdf + NAME.json) of DIR "
        "to the DMP through the durable outbox; resumable: run it again after an "
        "interruption. Without --env, the embedded sandbox DMP is used (its state is kept "
        "beside --db). Exit code 1 when a document failed.",
    )
    parser.add_argument("directory", type=Path, metavar="DIR")
    parser.add_argument(
        "--db",
        type=Path,
        default=Path(os.environ.get("SEGUR_RIS_OUTBOX_DB", _DEFAULT_DB)),
        help=f"outbox SQLite file (default: $SEGUR_RIS_OUTBOX_DB or ./{_DEFAULT_DB})",
    )
    parser.add_argument("--hide-from-patient", action="store_true")
    parser.add_argument("--mask-to-professionals", action="store_true")
    parser.add_argument(
        "--retry-failed", action="store_true", help="send again the documents that failed"
    )
    parser.add_argument("--max-attempts", type=int, default=5, help="tries per document")
    parser.add_argument("--lease", type=float, default=60.0, help="seconds a job is held")
    parser.add_argument(
        "--concurrency",
        type=_lanes,
        default=4,
        help="documents in flight at once (the next one is signed while the DMP answers)",
    )
    parser.add_argument("--audit", type=Path, help="append the audit trail (JSON lines) here")
    parser.add_argument("--evidence", type=Path, help="record the exchanges in this folder")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    add_dmp_options(parser)
    add_json_flag(parser)
    parser.set_defaults(handler=_backfill)


@dataclass(slots=True)
class _Item:
    """One input document and what became of it."""

    file: str
    unique_id: str = ""
    job_id: int | None = None
    result: str = ""  # sent | skipped | failed | pending
    reason: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {
            "file": self.file,
            "unique_id": self.unique_id,
            "result": self.result,
            "reason": self.reason,
        }


@dataclass(slots=True)
class _Run:
    items: list[_Item] = field(default_factory=list)
    patients: set[str] = field(default_factory=set)


def _inputs(directory: Path) -> Iterator[tuple[Path, Path | None]]:
    """``(document, metadata)`` pairs: ``(x.xml, None)`` or ``(x.pdf, x.json)``."""
    if not directory.is_dir():
        raise ConfigError(f"dossier introuvable: {directory}")
    for path in sorted(p for p in directory.rglob("*") if p.is_file()):
        suffix = path.suffix.lower()
        if suffix == ".xml":
            yield path, None
        elif suffix == ".pdf":
            yield path, path.with_suffix(".json")


def _cda_of(document: Path, metadata: Path | None) -> bytes:
    if metadata is None:
        return read_file(document)
    import json

    from segur_ris.cda import build_cda_n1
    from segur_ris.errors import CdaError
    from segur_ris.pdf import ensure_pdfa
    from segur_ris.report import ImagingReport

    if not metadata.is_file():
        raise CdaError(f"métadonnées absentes: {metadata.name} attendu à côté du PDF")
    try:
        data = json.loads(read_file(metadata))
    except (ValueError, UnicodeDecodeError) as exc:
        raise CdaError(f"{metadata.name}: JSON invalide ({exc})") from None
    if not isinstance(data, dict) or not data.get("document_id"):
        raise CdaError(
            f"{metadata.name}: document_id requis (identifiant stable du document, pour la reprise)"
        )
    report = ImagingReport.from_dict(data)
    return build_cda_n1(report, ensure_pdfa(read_file(document)))


_BATCH = 100  # documents accepted per transaction (one fsync per batch)


def _accept(args: argparse.Namespace, outbox: Any, run: _Run) -> None:
    """Put every input document in the outbox (or find it there), by batches of
    :data:`_BATCH` in one transaction each (``Outbox.enqueue_many``)."""
    from segur_ris.errors import OutboxError
    from segur_ris.outbox import ACTION_DMP_SUBMIT, JobStatus, dmp_submit_item

    batch: list[tuple[_Item, tuple[str, bytes, dict[str, Any]]]] = []

    def settle(item: _Item, job: Any) -> None:
        item.job_id = job.id
        if job.status is JobStatus.FAILED and args.retry_failed:
            job = outbox.replay(job.id)
        if job.status is JobStatus.DONE:
            item.result, item.reason = "skipped", "déjà envoyé"
        elif job.status is JobStatus.FAILED:
            item.result, item.reason = "failed", _reason(job)
        else:
            item.result = "pending"

    def flush() -> None:
        if not batch:
            return
        try:
            jobs = outbox.enqueue_many(ACTION_DMP_SUBMIT, [request for _, request in batch])
        except OutboxError as exc:
            if exc.code != "conflict":
                raise
            jobs = []  # a document changed under its uniqueId: find which, one by one
            for item, (key, data, params) in batch:
                try:
                    jobs.append(
                        outbox.enqueue(ACTION_DMP_SUBMIT, key=key, payload=data, params=params)
                    )
                except OutboxError as conflict:
                    if conflict.code != "conflict":
                        raise
                    item.result, item.reason = "failed", str(conflict)
                    jobs.append(None)
        for (item, _), job in zip(batch, jobs, strict=True):
            if job is not None:
                settle(item, job)
        batch.clear()

    root = args.directory
    for document, metadata in _inputs(root):
        item = _Item(str(document.relative_to(root)))
        run.items.append(item)
        try:
            request = dmp_submit_item(
                _cda_of(document, metadata),
                hide_from_patient=args.hide_from_patient,
                mask_to_professionals=args.mask_to_professionals,
                source=item.file,
            )
        except SegurError as exc:
            item.result, item.reason = "failed", str(exc)
            continue
        item.unique_id = request[0]
        if metadata is not None:  # a CDA rebuilt from a PDF differs at each run: keep the first
            job = outbox.find(ACTION_DMP_SUBMIT, item.unique_id)
            if job is not None:
                settle(item, job)
                continue
        batch.append((item, request))
        if len(batch) >= _BATCH:
            flush()
    flush()
    # the worker also takes the outbox's other due jobs (an earlier run's): the sandbox must
    # know their patients too
    for status in (JobStatus.PENDING, JobStatus.RUNNING):
        after = 0
        while page := outbox.list(status, action=ACTION_DMP_SUBMIT, limit=500, after_id=after):
            run.patients.update(str(job.params.get("ins", "")) for job in page)
            after = page[-1].id


def _reason(job: Any) -> str:
    error = job.error
    if error is None:
        return "non envoyé"
    return f"{error.type}: [{error.code}] {error.message}" if error.code else error.message


def _lanes(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if not 1 <= value <= 64:
        raise argparse.ArgumentTypeError(f"entre 1 et 64, pas {text!r}")
    return value


@contextlib.contextmanager
def _client(args: argparse.Namespace, patients: set[str]) -> Iterator[Any]:
    def wrap(transport: Any) -> Any:
        if args.evidence is None:
            return transport
        from segur_ris.outbox import EvidenceTransport

        return EvidenceTransport(transport, args.evidence)

    sandbox_db = args.sandbox_db or args.db.with_name(args.db.name + ".dmp-sandbox.sqlite")
    known = tuple(sorted(p for p in patients if p))
    with dmp_client(args, known_ins=known, sandbox_db=sandbox_db, wrap=wrap) as client:
        yield client


def _deliver(args: argparse.Namespace, outbox: Any, run: _Run) -> None:
    """Run a worker on this run's jobs until each is done or failed."""
    from segur_ris import __version__
    from segur_ris.outbox import (
        ACTION_DMP_SUBMIT,
        OUTCOME_ALREADY_DELIVERED,
        AuditTrail,
        Backoff,
        JobStatus,
        Worker,
        dmp_submit_handler,
    )

    todo = {
        item.job_id: item
        for item in run.items
        if item.result == "pending" and item.job_id is not None
    }
    if not todo:
        return
    with contextlib.ExitStack() as stack:
        client = stack.enter_context(_client(args, run.patients))
        audit = None
        if args.audit is not None:
            audit = stack.enter_context(
                AuditTrail(
                    args.audit,
                    structure_id=client.settings.structure.id,
                    lps=f"segur-ris {__version__}",
                )
            )
        worker = Worker(
            outbox,
            {ACTION_DMP_SUBMIT: dmp_submit_handler(client)},
            lease=args.lease,
            backoff=Backoff(base=1.0, factor=2.0, cap=15.0),
            max_attempts=max(args.max_attempts, 1),
            audit=audit,
            concurrency=args.concurrency,
        )
        progress = stack.enter_context(_progress(args, len(todo)))
        final = (JobStatus.DONE, JobStatus.FAILED)
        remaining = set(todo)

        def settle(job: Any) -> None:
            if job.id not in remaining or job.status not in final:
                return  # another run's job, or a retry to come
            remaining.discard(job.id)
            item = todo[job.id]
            if job.status is JobStatus.FAILED:
                item.result, item.reason = "failed", _reason(job)
            elif job.outcome == OUTCOME_ALREADY_DELIVERED:
                item.result, item.reason = "skipped", "déjà dans le DMP"
            else:
                item.result = "sent"
            progress(item)

        while remaining:
            # each delivery is recorded with the claim of the next job (one transaction)
            worker.run(until_idle=True, on_job=settle)
            if not remaining:
                break
            # nothing due: retries waiting for their backoff, or jobs held by a worker that
            # died (until its lease expires): wait for the earliest
            waits = []
            for job_id in sorted(remaining):
                current = outbox.get(job_id)
                if current.status in final:
                    settle(current)
                elif current.status is JobStatus.RUNNING and current.lease_until is not None:
                    waits.append(current.lease_until - outbox.clock())
                else:
                    waits.append(current.next_attempt_at - outbox.clock())
            if waits:
                time.sleep(min(max(min(waits), 0.05), 5.0))


@contextlib.contextmanager
def _progress(args: argparse.Namespace, total: int) -> Iterator[Any]:
    """A callable advancing a rich progress bar on stderr (nothing with --json/--no-progress)."""
    if args.json or args.no_progress:
        yield lambda item: None
        return
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

    with Progress(
        TextColumn("DMP"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.description}"),
        console=Console(stderr=True),
    ) as progress:
        task = progress.add_task("", total=total)

        def advance(item: _Item) -> None:
            progress.update(task, advance=1, description=f"{item.result}: {item.file}")

        yield advance


def _backfill(args: argparse.Namespace) -> int:
    from segur_ris.outbox import Outbox, SqliteBackend

    if args.env and not (args.cert and args.key and args.sign_p12):
        raise ConfigError(f"--env {args.env} demande --cert, --key et --sign-p12")
    run = _Run()
    with Outbox(SqliteBackend(args.db)) as outbox:
        _accept(args, outbox, run)
        _deliver(args, outbox, run)
    for item in run.items:
        if item.result == "pending":
            item.result, item.reason = "failed", "non envoyé (nouvel essai au prochain passage)"
    counts = {
        key: sum(1 for i in run.items if i.result == key) for key in ("sent", "skipped", "failed")
    }
    if args.json:
        emit_json(
            {**counts, "total": len(run.items), "documents": [i.to_dict() for i in run.items]}
        )
    else:
        print(
            f"{len(run.items)} documents: {counts['sent']} envoyés, {counts['skipped']} ignorés "
            f"(déjà envoyés), {counts['failed']} en échec"
        )
        for item in run.items:
            if item.result == "failed":
                print(f"  échec {item.file}: {item.reason}", file=sys.stdout)
    return 1 if counts["failed"] else 0
