"""The MSSanté and worklist scripts of examples/ run against the sandbox and real peers."""

from __future__ import annotations

import os
import re
import shlex
import signal
import subprocess
import sys
from pathlib import Path

import pydicom
import pytest

from tests.conftest import ref_file

REPO = Path(__file__).resolve().parent.parent
EXAMPLES = REPO / "examples"
FINDSCU = "/usr/bin/findscu"  # DCMTK's; pynetdicom shadows ``findscu`` on PATH
TLR = "hl7/ansforge_interop-ig-hl7v2-teleradiologie/input/pagecontent/exemples.md.extracted"
DEMO_INS = "279035121518989"


def _env() -> dict[str, str]:
    # the scripts import the segur_ris of this checkout, whatever is installed
    path = os.environ.get("PYTHONPATH")
    return {**os.environ, "PYTHONPATH": str(REPO) + (os.pathsep + path if path else "")}


def _run(script: str, *args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(EXAMPLES / script), *args],
        capture_output=True,
        text=True,
        timeout=110,
        cwd=cwd,
        env=_env(),
    )


def test_mail_prescriber_and_patient(tmp_path: Path) -> None:
    result = _run("mail_prescriber_and_patient.py", cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    out = result.stdout
    assert "PSC: connecté Marie RADIOLOGUE-SANDBOX" in out
    sent = dict(
        (rcpt, msgid)
        for msgid, rcpt in re.findall(r"^envoyé (<[^>]+>) à (\S+) \(.*refusés: 0\)$", out, re.M)
    )
    prescriber = "prescripteur.medecin@medecin-demo.mssante.fr"
    patient = f"{DEMO_INS}@patient.mssante.fr"
    assert set(sent) == {prescriber, patient}, out
    assert "X-MSS-MES: FIN" in out
    acks = re.findall(
        r"^accusé (DSN|MDN) (\S+) de (\S+): ok, lié à (<[^>]+>) \((\w+)\)$", out, re.M
    )
    assert sorted(acks) == sorted(
        [
            ("DSN", "delivered", prescriber, sent[prescriber], "prescripteur"),
            ("MDN", "displayed", prescriber, sent[prescriber], "prescripteur"),
            ("DSN", "delivered", patient, sent[patient], "patient"),
            ("MDN", "processed", patient, sent[patient], "patient"),
        ]
    ), out
    # a reading (MDN displayed) is a ZAM Z03, everything else a reception Z02
    zams = re.findall(r"^  -> ZAM\^(Z0\d)\S*: (\w+)\^.* = Y$", out, re.M)
    assert sorted(zams) == [
        ("Z02", "ACK_RECEPTION_MSS"),
        ("Z02", "ACK_RECEPTION_MSS"),
        ("Z02", "ACK_RECEPTION_MSS"),
        ("Z03", "ACK_LECTURE_MSS"),
    ], out
    assert "4 accusé(s) reçu(s) sur 4" in out


def test_serve_worklist_answers_a_modality(tmp_path: Path) -> None:
    result = _run("serve_worklist.py", cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    out = result.stdout
    assert "ordre DEM-2026-42 (NW): upsert ACC-2026-000123" in out
    assert "C-FIND modalité CT, dates 20261124-20261124: 1 réponse(s)" in out
    assert (
        f"  ACC-2026-000123: PAT-TROIS^DOMINIQUE (PatientID 000003, INS {DEMO_INS}), "
        "CT SCANNER_1 le 20261124 à 094000, TDM Thorax"
    ) in out.splitlines()


def test_serve_worklist_reads_official_orders(tmp_path: Path, ref_dir: Path) -> None:
    orders = [
        ref_file(ref_dir, f"{TLR}/Flux1_ORM_O01.hl7"),
        ref_file(ref_dir, f"{TLR}/Flux4_OMI_O23.hl7"),
    ]
    result = _run("serve_worklist.py", "--modality", "MR", *map(str, orders), cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    answers = [line for line in result.stdout.splitlines() if line.startswith("  ")]
    assert len(answers) == 2, result.stdout
    assert all(f"INS {DEMO_INS}), MR IRM_1 le 20260106" in line for line in answers)
    # a CT modality gets nothing from these MR orders: the script says so and fails
    ct = _run("serve_worklist.py", *map(str, orders), cwd=tmp_path)
    assert ct.returncode == 1 and "0 réponse(s)" in ct.stdout


def test_serve_worklist_refuses_a_non_order(tmp_path: Path, ref_dir: Path) -> None:
    oru = ref_file(ref_dir, f"{TLR}/Flux3_ORU_R01.hl7")
    result = _run("serve_worklist.py", str(oru), cwd=tmp_path)
    assert result.returncode == 2, result.stderr
    assert (
        result.stderr.startswith("ordre refusé: ") and "ORM^O01 ou OMI^O23 attendu" in result.stderr
    )
    assert "Traceback" not in result.stderr


def test_serve_worklist_serves_findscu_until_interrupted(tmp_path: Path) -> None:
    if not os.access(FINDSCU, os.X_OK):
        message = f"DCMTK missing ({FINDSCU}): apt-get install dcmtk"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(message)
        pytest.skip(message)
    process = subprocess.Popen(
        [sys.executable, "-u", str(EXAMPLES / "serve_worklist.py"), "--serve"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=tmp_path,
        env=_env(),
    )
    try:
        assert process.stdout is not None
        lines: list[str] = []
        command = ""
        for line in process.stdout:
            lines.append(line)
            if line.strip().startswith(FINDSCU):
                command = line.strip()
            if line.startswith("en service"):
                break
        assert command, "".join(lines)
        out = tmp_path / "rsp"
        out.mkdir()
        found = subprocess.run(
            [*shlex.split(command)[:-2], "-X", "-od", str(out), *shlex.split(command)[-2:]],
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert found.returncode == 0, found.stderr
        (answer,) = [pydicom.dcmread(p) for p in sorted(out.glob("rsp*.dcm"))]
        assert answer.AccessionNumber == "ACC-2026-000123"
        assert str(answer.PatientName) == "PAT-TROIS^DOMINIQUE"
        assert answer.PatientID == "000003"
        (other,) = answer.OtherPatientIDsSequence
        assert other.PatientID == DEMO_INS and other.IssuerOfPatientID == "ASIP-SANTE-INS-NIR"
        assert answer.ScheduledProcedureStepSequence[0].Modality == "CT"

        process.send_signal(signal.SIGINT)
        rest, errors = process.communicate(timeout=30)
        assert process.returncode == 0, errors
        assert "arrêt du SCP" in rest
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate(timeout=10)
