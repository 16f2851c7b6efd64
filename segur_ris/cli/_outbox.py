"""``segur-ris outbox list|stats|replay``: look into the durable outbox and replay failures.

``--db`` is an SQLite file or a ``postgresql://`` DSN; give a DSN through the
``SEGUR_RIS_OUTBOX_DB`` variable rather than on the command line (it may hold a password).
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
from typing import Any

from segur_ris.cli._output import add_json_flag, emit_json
from segur_ris.errors import ConfigError

_DEFAULT_DB = "segur-ris-outbox.sqlite"


def register(sub: Any) -> None:
    group = sub.add_parser("outbox", help="durable outbox: list, stats, replay")
    commands = group.add_subparsers(dest="outbox_command", metavar="COMMAND", required=True)

    def command(name: str, help_text: str) -> argparse.ArgumentParser:
        parser: argparse.ArgumentParser = commands.add_parser(
            name, help=help_text, description=help_text
        )
        parser.add_argument(
            "--db",
            default=os.environ.get("SEGUR_RIS_OUTBOX_DB", _DEFAULT_DB),
            help="SQLite file or postgresql:// DSN (default: $SEGUR_RIS_OUTBOX_DB or "
            f"./{_DEFAULT_DB})",
        )
        parser.add_argument("--table", default="outbox_jobs", help="PostgreSQL table")
        add_json_flag(parser)
        return parser

    listing = command("list", "List jobs (id, action, key, status, attempts, last error).")
    listing.add_argument("--status", choices=["pending", "running", "done", "failed"])
    listing.add_argument("--action", help="e.g. dmp.submit")
    listing.add_argument("--limit", type=int, default=100)
    listing.add_argument("--after", type=int, default=0, help="only jobs with a larger id")
    listing.set_defaults(handler=_list)

    stats = command("stats", "Number of jobs per status.")
    stats.set_defaults(handler=_stats)

    replay = command("replay", "Make failed jobs pending again.")
    replay.add_argument("job_ids", type=int, nargs="*", metavar="JOB_ID")
    replay.add_argument("--all-failed", action="store_true", help="every failed job")
    replay.set_defaults(handler=_replay)


def _open(args: argparse.Namespace) -> Any:
    from pathlib import Path

    from segur_ris.outbox import Outbox, PostgresBackend, SqliteBackend

    target = str(args.db)
    if target.startswith(("postgresql://", "postgres://")):
        return Outbox(PostgresBackend(target, table=args.table))
    if not Path(target).is_file():
        raise ConfigError(f"outbox introuvable: {target}")
    return Outbox(SqliteBackend(target))


def _time(value: float | None) -> str | None:
    if value is None:
        return None
    return dt.datetime.fromtimestamp(value, dt.UTC).isoformat(timespec="seconds")


def _job_dict(job: Any) -> dict[str, Any]:
    return {
        "id": job.id,
        "action": job.action,
        "key": job.key,
        "status": job.status.value,
        "attempts": job.attempts,
        "outcome": job.outcome,
        "next_attempt_at": _time(job.next_attempt_at),
        "lease_until": _time(job.lease_until),
        "worker": job.worker,
        "created_at": _time(job.created_at),
        "updated_at": _time(job.updated_at),
        "source": job.params.get("source"),
        "error": None if job.error is None else job.error.to_dict(),
    }


def _list(args: argparse.Namespace) -> int:
    with _open(args) as outbox:
        jobs = outbox.list(args.status, action=args.action, limit=args.limit, after_id=args.after)
    if args.json:
        emit_json([_job_dict(job) for job in jobs])
        return 0
    for job in jobs:
        error = ""
        if job.error is not None:
            code = f"[{job.error.code}] " if job.error.code else ""
            error = f"  {job.error.type}: {code}{job.error.message}"
        print(
            f"{job.id:>6}  {job.action:<15} {job.status.value:<8} x{job.attempts}  {job.key}{error}"
        )
    if not jobs:
        print("aucun travail")
    return 0


def _stats(args: argparse.Namespace) -> int:
    with _open(args) as outbox:
        stats = outbox.stats()
    if args.json:
        emit_json({**stats.to_dict(), "oldest_pending": _time(stats.oldest_pending)})
    else:
        print(
            f"en attente {stats.pending}, en cours {stats.running}, livrés {stats.done}, "
            f"en échec {stats.failed} (total {stats.total})"
        )
    return 0


def _replay(args: argparse.Namespace) -> int:
    if not args.job_ids and not args.all_failed:
        raise ConfigError("indiquez des numéros de travaux ou --all-failed")
    with _open(args) as outbox:
        ids = list(args.job_ids)
        if args.all_failed:
            after = 0
            while page := outbox.list("failed", limit=500, after_id=after):
                ids.extend(job.id for job in page)
                after = page[-1].id
        replayed = [outbox.replay(job_id) for job_id in ids]
    if args.json:
        emit_json([_job_dict(job) for job in replayed])
    else:
        print(f"{len(replayed)} travail(aux) remis en attente")
    return 0
