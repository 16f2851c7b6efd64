"""``segur-ris demo``: the end-to-end demonstration on the embedded sandbox."""

from __future__ import annotations

import argparse
import time
from pathlib import Path
from typing import Any

from segur_ris.cli._output import add_json_flag, emit_json


def register(sub: Any) -> None:
    parser = sub.add_parser(
        "demo",
        help="run the end-to-end demo on the embedded sandbox",
        description="Runs the Ségur radiology flow on the local sandbox (127.0.0.1, test PKI).",
    )
    parser.add_argument(
        "--output", type=Path, default=Path("demo-output"), help="folder for the artefacts"
    )
    add_json_flag(parser)
    parser.set_defaults(handler=_run)


def _run(args: argparse.Namespace) -> int:
    from segur_ris.demo import DemoStep, run_demo

    started = time.perf_counter()
    if args.json:
        steps = run_demo(args.output)
        emit_json(
            {
                "ok": all(s.ok for s in steps),
                "output": str(args.output),
                "steps": [
                    {
                        "title": s.title,
                        "ok": s.ok,
                        "seconds": round(s.seconds, 3),
                        "details": s.details,
                    }
                    for s in steps
                ],
            }
        )
        return 0 if all(s.ok for s in steps) else 1

    from rich.console import Console

    console = Console(highlight=False)
    console.rule("[bold]segur-ris — démonstration sur le bac à sable local")

    def show(step: DemoStep) -> None:
        mark = "[green]✔[/]" if step.ok else "[red]✘[/]"
        console.print(f"{mark} [bold]{step.title}[/] [dim]({step.seconds * 1000:.0f} ms)[/]")
        for line in step.details:
            console.print(f"    {line}", markup=False)

    steps = run_demo(args.output, on_step=show)
    failed = [s for s in steps if not s.ok]
    elapsed = time.perf_counter() - started
    console.rule()
    if failed:
        console.print(f"[red]{len(failed)} étape(s) en échec[/] sur {len(steps)} — {elapsed:.1f} s")
        return 1
    console.print(
        f"[green]{len(steps)} étapes réussies[/] en {elapsed:.1f} s — artefacts: {args.output}"
    )
    return 0
