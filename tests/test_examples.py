"""Every script of examples/ runs against the sandbox and does what it says."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tests.conftest import ref_file

REPO = Path(__file__).resolve().parent.parent
EXAMPLES = REPO / "examples"


def _run(script: str, *args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(EXAMPLES / script), *args],
        capture_output=True,
        text=True,
        timeout=110,
        cwd=cwd,
    )


def test_parse_adt_feed_reads_identities_and_acknowledges(tmp_path: Path) -> None:
    result = _run("parse_adt_feed.py", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert "identité provisoire, INS -" in lines[0]
    assert "INS 279035121518989" in lines[2]
    assert lines[1].strip().startswith("-> ACK AA") and lines[3].strip().startswith("-> ACK AA")


def test_parse_adt_feed_takes_official_messages(tmp_path: Path, ref_dir: Path) -> None:
    # the ANS teleradiology volet's orders carry a PAM FR PID like an ADT does
    folder = "hl7/ansforge_interop-ig-hl7v2-teleradiologie/input/pagecontent/exemples.md.extracted"
    samples = [
        ref_file(ref_dir, f"{folder}/Flux1_ORM_O01.hl7"),
        ref_file(ref_dir, f"{folder}/Flux4_OMI_O23.hl7"),
    ]
    result = _run("parse_adt_feed.py", *map(str, samples), cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.count("-> ACK AA") == 2
    assert "ORM^O01" in result.stdout and "OMI^O23" in result.stdout


def test_send_to_dmp_round_trip(tmp_path: Path) -> None:
    result = _run("send_to_dmp.py", cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "confidentialité ['N', 'INVISIBLE_PATIENT']" in result.stdout
    assert "rendu visible au patient: version 2" in result.stdout
    assert "identique: True" in result.stdout


def test_build_validate_cri_with_the_official_kit(tmp_path: Path, ref_dir: Path) -> None:
    kit = ref_file(
        ref_dir, "cda/ansforge-TestContenuCDA-3-0/schematrons/moteur/iso_dsdl_include.xsl"
    )
    kit_dir = kit.parent.parent.parent
    result = _run("build_validate_cri.py", "--kit", str(kit_dir), "--out", "out", cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "cri-n1.xml: 0 erreur(s)" in result.stdout
    assert "cri-n3.xml: 0 erreur(s)" in result.stdout
    assert (tmp_path / "out" / "cri-n1.xml").read_bytes().startswith(b"<?xml")


def test_build_cri_without_kit_says_validation_was_skipped(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, str(EXAMPLES / "build_validate_cri.py"), "--out", "out"],
        capture_output=True,
        text=True,
        timeout=110,
        cwd=tmp_path,
        env={k: v for k, v in os.environ.items() if k != "SEGUR_RIS_TESTCONTENUCDA"},
    )
    assert result.returncode == 0, result.stderr
    assert "validation XSD + schematrons ANS non faite" in result.stdout
