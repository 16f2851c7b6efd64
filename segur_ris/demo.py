"""End-to-end demonstration on the embedded sandbox (``segur-ris demo``).

One exam of one patient goes through the whole Ségur radiology flow, every national service
being the local sandbox (:class:`~segur_ris.sandbox.SandboxSuite`: INSi, DMP, Pro Santé Connect,
MSSanté, Modality Worklist on 127.0.0.1 with test PKIs generated for the run):

ADT A28 (identité provisoire) → INSi search, qualification, verification and ADT A31 → order
OMI^O23 over MLLP feeding the worklist → C-FIND of the modality → the radiologist signs in with
PSC → CRI as PDF/A, CDA N1 and N3 → XSD + ANS schematrons (when a TestContenuCDA kit is given)
→ DMP submission hidden from the patient → MSSanté to the prescriber → announcement (the
document becomes visible) → MSSanté to the patient → acknowledgements (DSN, MDN) over IMAP →
the RIS consults the patient's documents in the DMP → the exam's KOS indexed for the DRIMbox.

Every artefact (HL7, SOAP exchanges without their security tokens, PDF, CDA, ``.eml``,
``IHE_XDM.zip``, KOS) is written under the output folder, one sub-folder per step, with a
``summary.json``. Tokens and private keys are never written: the test PKIs live in a temporary
folder removed at the end.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

__all__ = ["DemoStep", "run_demo"]


@dataclass
class DemoStep:
    """One step of the demo: its title, whether it succeeded, what it showed, how long it took
    and the files it wrote (relative to the output folder)."""

    title: str
    ok: bool = False
    details: list[str] = field(default_factory=list)
    seconds: float = 0.0
    folder: str = ""
    artefacts: list[str] = field(default_factory=list)


class _Skipped(Exception):
    """A step whose prerequisite failed (the demo goes on with the independent steps)."""


class _Steps:
    def __init__(self, output: Path, on_step: Callable[[DemoStep], None] | None) -> None:
        self.output = output
        self.done: list[DemoStep] = []
        self._on_step = on_step

    def run(
        self,
        title: str,
        slug: str,
        action: Callable[[DemoStep], None],
        *,
        requires: Sequence[bool] = (),
    ) -> bool:
        step = DemoStep(title, folder=f"{len(self.done) + 1:02d}-{slug}")
        started = time.perf_counter()
        try:
            if not all(requires):
                raise _Skipped("non exécutée: une étape préalable a échoué")
            action(step)
            step.ok = True
        except _Skipped as exc:
            step.details.append(f"ÉCHEC: {exc}")
        except Exception as exc:  # a demo step reports any failure, then the demo goes on
            step.details.append(f"ÉCHEC: {type(exc).__name__}: {exc}")
        step.seconds = time.perf_counter() - started
        self.done.append(step)
        if self._on_step:
            self._on_step(step)
        return step.ok


def write_artefact(output: Path, step: DemoStep, name: str, data: bytes | str) -> Path:
    """Write ``data`` as ``<output>/<step folder>/<name>`` and list it in the step."""
    path = output / step.folder / name
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(data, str):
        path.write_text(data, encoding="utf-8")
    else:
        path.write_bytes(data)
    step.artefacts.append(path.relative_to(output).as_posix())
    return path


def _clear_previous_run(output: Path) -> None:
    """Remove the step folders of an earlier demo run in ``output`` (recognised by its
    ``summary.json``), so that no stale artefact is mixed with the new ones; nothing else in
    the folder is touched."""
    summary = output / "summary.json"
    if not summary.is_file():
        return
    for child in output.iterdir():
        if child.is_dir() and re.fullmatch(r"\d\d-[a-z0-9-]+", child.name):
            shutil.rmtree(child)
    summary.unlink()


def run_demo(
    output: Path,
    *,
    on_step: Callable[[DemoStep], None] | None = None,
    kit: str | os.PathLike[str] | None = None,
    schematron_cache: str | os.PathLike[str] | None = None,
) -> list[DemoStep]:
    """Run the demo, writing artefacts under ``output``; returns the steps (all ``ok`` on
    success). ``on_step`` is called after each step (the CLI prints it). ``kit`` is a
    TestContenuCDA checkout: the CDA documents are then validated (XSD + ANS schematrons,
    compiled once into ``schematron_cache`` or the user cache); without it the validation is
    skipped, which the validation step says."""
    from segur_ris._demo_flow import DemoFlow

    output = Path(output)
    output.mkdir(parents=True, exist_ok=True)
    _clear_previous_run(output)
    started = time.perf_counter()
    steps = _Steps(output, on_step)
    flow = DemoFlow(
        output,
        steps,
        kit=Path(kit) if kit else None,
        schematron_cache=Path(schematron_cache) if schematron_cache else None,
    )
    try:
        flow.run()
    finally:
        flow.close()
    summary = {
        "ok": all(s.ok for s in steps.done),
        "seconds": round(time.perf_counter() - started, 3),
        "validation": flow.validation_mode,
        "patient": flow.patient_summary(),
        "steps": [
            {
                "title": s.title,
                "ok": s.ok,
                "seconds": round(s.seconds, 3),
                "folder": s.folder,
                "details": s.details,
                "artefacts": s.artefacts,
            }
            for s in steps.done
        ],
    }
    (output / "summary.json").write_text(
        json.dumps(summary, indent=2, ensure_ascii=False) + "\n", encoding="utf-8"
    )
    return steps.done
