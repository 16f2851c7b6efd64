"""``segur-ris mwl add`` / ``mwl serve``: feeding the worklist from HL7 files and serving it."""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

import pytest
from pydicom import Dataset

from segur_ris.cli import build_parser, main
from segur_ris.dicom import WorklistStore
from tests.conftest import REPO_ROOT, ref_file
from tests.test_dicom_scp import find_worklist

TLR = "hl7/ansforge_interop-ig-hl7v2-teleradiologie/input/pagecontent/exemples.md.extracted"

# Until ``mwl`` is registered in segur_ris.cli, run the group through its own parser.
_RUNNER = (
    "import argparse, sys\n"
    "from segur_ris.cli import _mwl\n"
    "parser = argparse.ArgumentParser(prog='segur-ris')\n"
    "_mwl.register(parser.add_subparsers())\n"
    "args = parser.parse_args(sys.argv[1:])\n"
    "sys.exit(args.handler(args))\n"
)


def _registered() -> bool:
    parser = build_parser()
    return any(
        isinstance(action, argparse._SubParsersAction) and "mwl" in action.choices
        for action in parser._actions
    )


def _main(argv: Sequence[str]) -> int:
    assert _registered()
    return main(list(argv))


def _flux(ref_dir: Path, n: int, kind: str = "ORM_O01") -> Path:
    return ref_file(ref_dir, f"{TLR}/Flux{n}_{kind}.hl7")


def test_add_then_cancel(ref_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    db = tmp_path / "w.sqlite"
    common = ["--db", str(db), "--uid-root", "1.2.250.1.999", "--station-aet", "MR=IRM_1"]
    code = _main(["mwl", "add", str(_flux(ref_dir, 1)), str(_flux(ref_dir, 4, "OMI_O23")), *common])
    assert code == 0
    out = capsys.readouterr().out
    assert "upsert OPN101 MR 2026-01-06T13:44:18" in out and "2 examen(s)" in out
    with WorklistStore(db) as store:
        item = store.get("OPN101")
        assert item is not None
        assert item.ScheduledProcedureStepSequence[0].ScheduledStationAETitle == "IRM_1"
    assert _main(["mwl", "add", str(_flux(ref_dir, 2)), *common, "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["changes"][0]["action"] == "cancel" and result["items"] == 0


def test_add_refuses_a_result_message(
    ref_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = _main(["mwl", "add", str(_flux(ref_dir, 3, "ORU_R01")), "--db", str(tmp_path / "x")])
    assert code == 1
    assert "ORM^O01 ou OMI^O23" in capsys.readouterr().err
    missing = _main(["mwl", "add", str(tmp_path / "none.hl7"), "--db", str(tmp_path / "x")])
    assert missing == 1


def test_serve_from_hl7_answers_c_find(ref_dir: Path, tmp_path: Path) -> None:
    inbox = tmp_path / "orders"
    inbox.mkdir()
    for name in ("Flux1_ORM_O01.hl7", "Flux3_ORU_R01.hl7", "Flux4_OMI_O23.hl7"):
        (inbox / name).write_bytes(ref_file(ref_dir, f"{TLR}/{name}").read_bytes())
    argv = ["mwl", "serve", "--port", "0", "--aet", "RIS_MWL", "--from-hl7", str(inbox)]
    argv += ["--db", str(tmp_path / "w.sqlite"), "--uid-root", "1.2.250.1.999"]
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    process = subprocess.Popen(
        [sys.executable, "-c", _RUNNER, *argv],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        assert process.stdout is not None
        banner = process.stdout.readline()
        assert "AET RIS_MWL" in banner and "2 examen(s)" in banner, banner
        port = int(banner.split("dicom://127.0.0.1:")[1].split()[0])
        query = Dataset()
        query.AccessionNumber = ""
        query.PatientID = "279035121518989"
        answers = find_worklist(port, query, called="RIS_MWL")
        assert sorted(ds.AccessionNumber for s, ds in answers if s == 0xFF00) == [
            "ACN101",
            "OPN101",
        ]
        process.send_signal(signal.SIGINT)
        _out, err = process.communicate(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
    assert process.returncode == 0
    assert "Flux3_ORU_R01.hl7: ignoré" in err and "arrêté" in err


def test_serve_refuses_non_loopback_and_missing_dir(tmp_path: Path) -> None:
    db = ["--db", str(tmp_path / "w.sqlite")]
    assert _main(["mwl", "serve", "--host", "0.0.0.0", "--port", "0", *db]) == 1
    assert _main(["mwl", "serve", "--from-hl7", str(tmp_path / "nope"), *db]) == 1


def test_mwl_without_subcommand_prints_usage(capsys: pytest.CaptureFixture[str]) -> None:
    assert _main(["mwl"]) == 2
    assert "serve" in capsys.readouterr().out


def test_cli_module_top_level_imports_stay_light() -> None:
    code = (
        "import sys; import segur_ris.cli._mwl; "
        "heavy = ('pydicom', 'pynetdicom', 'lxml', 'cryptography'); "
        "print([m for m in heavy if m in sys.modules])"
    )
    out = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "PYTHONPATH": str(REPO_ROOT)},
    ).stdout
    assert out.strip() == "[]"
