"""``segur-ris demo``: the end-to-end demonstration on the embedded sandbox."""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path
from typing import Any

from segur_ris.cli._output import add_json_flag, emit_json

_KIT_ENV = "SEGUR_RIS_TESTCONTENUCDA"  # segur_ris.cda.KIT_ENV (not imported: lxml at start-up)


def register(sub: Any) -> None:
    parser = sub.add_parser(
        "demo",
        help="run the end-to-end demo on the embedded sandbox",
        description=(
            "Runs the Ségur radiology flow on the local sandbox (127.0.0.1, test PKI): ADT, "
            "INSi, order and worklist, PSC, CRI (PDF/A, CDA N1/N3), DMP, MSSanté, "
            "acknowledgements, KOS. Writes every artefact to --output; exits 1 if a step fails."
        ),
    )
    parser.add_argument(
        "--output", type=Path, default=Path("demo-output"), help="folder for the artefacts"
    )
    parser.add_argument(
        "--kit",
        type=Path,
        help=f"TestContenuCDA checkout: validate the CDA (XSD + ANS schematrons) [${_KIT_ENV}]",
    )
    parser.add_argument(
        "--schematron-cache", type=Path, help="folder of the compiled schematrons (reused)"
    )
    add_json_flag(parser)
    parser.set_defaults(handler=_run)


def _run(args: argparse.Namespace) -> int:
    from segur_ris.demo import DemoStep, run_demo

    kit = args.kit or os.environ.get(_KIT_ENV) or None
    started = time.perf_counter()
    if args.json:
        steps = run_demo(args.output, kit=kit, schematron_cache=args.schematron_cache)
        emit_json(
            {
                "ok": all(s.ok for s in steps),
                "output": str(args.output),
                "seconds": round(time.perf_counter() - started, 3),
                "validation": "XSD + schématrons ANS" if kit else "non faite",
                "steps": [
                    {
                        "title": s.title,
                        "ok": s.ok,
                        "seconds": round(s.seconds, 3),
                        "folder": s.folder,
                        "details": s.details,
                        "artefacts": s.artefacts,
                    }
                    for s in steps
                ],
            }
        )
        return 0 if all(s.ok for s in steps) else 1

    from rich.console import Console

    console = Console(highlight=False)
    console.rule("[bold]segur-ris — démonstration sur le bac à sable local")
    if not kit:
        console.print(
            f"[yellow]sans --kit (ni ${_KIT_ENV}): la validation XSD + schématrons ANS des CDA "
            "ne sera pas faite[/]"
        )

    def show(step: DemoStep) -> None:
        mark = "[green]✔[/]" if step.ok else "[red]✘[/]"
        where = f" [dim]→ {step.folder}/[/]" if step.artefacts else ""
        console.print(f"{mark} [bold]{step.title}[/] [dim]({step.seconds * 1000:.0f} ms)[/]{where}")
        for line in step.details:
            style = "red" if line.startswith("ÉCHEC") else None
            console.print(f"    {line}", markup=False, style=style)

    steps = run_demo(args.output, on_step=show, kit=kit, schematron_cache=args.schematron_cache)
    failed = [s for s in steps if not s.ok]
    elapsed = time.perf_counter() - started
    console.rule()
    if failed:
        console.print(f"[red]{len(failed)} étape(s) en échec[/] sur {len(steps)} — {elapsed:.1f} s")
        for step in failed:
            console.print(f"  [red]✘[/] {step.title}", markup=True)
        return 1
    validation = "validation XSD + schématrons faite" if kit else "validation des CDA non faite"
    console.print(
        f"[green]{len(steps)} étapes réussies[/] en {elapsed:.1f} s ({validation}) — "
        f"artefacts: {args.output}/ (résumé: summary.json)"
    )
    return 0
