"""Running a benchmark script in quick mode from a test (``BENCH_QUICK=1``)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"


def run_benchmark(
    script: str, *, timeout: float = 120, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """Run ``benchmarks/<script>`` once in quick mode (``env`` added to the environment) and
    check it exits 0; its output is in the result's ``stdout``."""
    proc = subprocess.run(
        [sys.executable, str(BENCHMARKS / script)],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
        env={**os.environ, "BENCH_QUICK": "1", **(env or {})},
    )
    assert proc.returncode == 0, proc.stderr[-4000:]
    return proc
