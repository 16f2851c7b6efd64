"""The error tree is one tree with national codes; the benchmark scripts keep running."""

from __future__ import annotations

import inspect
from pathlib import Path

import pytest

from segur_ris import errors
from segur_ris.errors import InsiFault, InsiTimeout, InvalidMatriculeError, SegurError
from tests.helpers_bench import run_benchmark

REPO = Path(__file__).resolve().parent.parent


def test_every_error_is_a_segur_error() -> None:
    classes = [
        obj for _, obj in inspect.getmembers(errors, inspect.isclass) if issubclass(obj, Exception)
    ]
    assert set(errors.__all__) == {cls.__name__ for cls in classes}
    assert all(issubclass(cls, SegurError) for cls in classes)


def test_codes_are_carried_and_shown() -> None:
    fault = InsiFault(
        "Niveau d'accès insuffisant", code="desir_560", subcode="siram_100", severity="erreur"
    )
    assert (fault.code, fault.subcode, fault.severity) == ("desir_560", "siram_100", "erreur")
    assert str(fault) == "[desir_560] Niveau d'accès insuffisant"
    bad = InvalidMatriculeError("clé 12 attendue 78", rule="key")
    assert isinstance(bad, ValueError) and bad.rule == bad.code == "key"
    timeout = InsiTimeout("délai dépassé")
    assert isinstance(timeout, errors.TransportTimeout) and isinstance(timeout, errors.InsiError)


@pytest.mark.parametrize("script", ["bench_hl7.py", "bench_cri.py", "bench_dmp.py"])
def test_other_benchmarks_run(ref_dir: Path, script: str) -> None:
    proc = run_benchmark(script, timeout=300, env={"SEGUR_RIS_REF": str(ref_dir)})
    assert "x" in proc.stdout  # ratios were printed


def test_outbox_benchmark_runs() -> None:
    """The goal's set-up of issue 9: every lane count and the same-CPU floor are measured, and
    each round delivered all its documents (the script asserts it)."""
    proc = run_benchmark("bench_outbox.py", timeout=300, env={"SEGUR_RIS_PG_DSN": ""})
    for label in ("outbox, 1 lane", "outbox, 4 lanes", "outbox, 8 lanes", "direct DmpClient"):
        assert any(line.startswith(label) for line in proc.stdout.splitlines()), label
    assert "goal: 80 reports/s" in proc.stdout


def test_insi_benchmark_runs(ref_dir: Path) -> None:
    proc = run_benchmark("bench_insi.py", env={"SEGUR_RIS_REF": str(ref_dir)})
    for task in ("build", "parse"):
        for peer in ("segur_ris", "zeep", "lxml"):
            assert any(line.split()[:2] == [task, peer] for line in proc.stdout.splitlines())


@pytest.mark.parametrize(
    "name",
    [
        *("ins", "insi", "sandbox", "config", "errors", "transport", "tls", "hl7v2", "cda"),
        *("pdf", "xds", "vihf", "dmp", "certificates", "mssante", "dicom", "psc", "outbox"),
    ],
)
def test_public_api_is_declared(name: str) -> None:
    module = __import__(f"segur_ris.{name}", fromlist=["__all__"])
    for symbol in module.__all__:
        assert hasattr(module, symbol), f"segur_ris.{name}.{symbol}"
