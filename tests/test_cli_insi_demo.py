"""``segur-ris insi search`` on the embedded sandbox (the demo is tested in test_demo.py)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from segur_ris.cli import main

REPO = Path(__file__).resolve().parent.parent


def test_insi_search_json(capsys: pytest.CaptureFixture[str]) -> None:
    code = main(
        [
            "insi",
            "search",
            "--nom",
            "Tchitchi",
            "--prenoms",
            "Ola Catarina Bella",
            "--sexe",
            "F",
            "--date-naissance",
            "1936-06-21",
            "--json",
        ]
    )
    out = json.loads(capsys.readouterr().out)
    assert code == 0
    assert out["code"] == "00"
    assert out["ins"] == {
        "matricule": "236066322083656",
        "oid": "1.2.250.1.213.1.4.8",
        "kind": "NIR",
    }
    assert out["prenom_envoye"] == "CATARINA"
    assert out["traits"]["prenoms"] == ["CATARINA", "BELLA"]


def test_insi_search_not_found_text(capsys: pytest.CaptureFixture[str]) -> None:
    code = main(
        [
            "insi",
            "search",
            "--nom",
            "HOUILLES",
            "--prenoms",
            "PIERRE",
            "--sexe",
            "M",
            "--date-naissance",
            "1993-01-27",
        ]
    )
    assert code == 1
    assert "CodeCR 01" in capsys.readouterr().out


def test_insi_search_bad_traits_is_a_clean_error(capsys: pytest.CaptureFixture[str]) -> None:
    code = main(
        [
            "insi",
            "search",
            "--nom",
            "R2D2",
            "--prenoms",
            "X",
            "--sexe",
            "M",
            "--date-naissance",
            "1993-01-27",
        ]
    )
    assert code == 1
    assert "erreur" in capsys.readouterr().err


def test_insi_search_real_env_needs_a_certificate(capsys: pytest.CaptureFixture[str]) -> None:
    code = main(
        [
            "insi",
            "search",
            "--nom",
            "ADRUN",
            "--prenoms",
            "ZOE",
            "--sexe",
            "F",
            "--date-naissance",
            "1975-12-31",
            "--env",
            "test",
        ]
    )
    assert code == 1
    assert "--cert" in capsys.readouterr().err


def test_example_qualify_identity() -> None:
    proc = subprocess.run(
        [sys.executable, str(REPO / "examples" / "qualify_identity.py")],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    assert "qualifiee" in proc.stdout
    assert "236066322083656^^^ASIP-SANTE-INS-NIR" in proc.stdout


def test_help_does_not_import_heavy_dependencies() -> None:
    code = (
        "import sys, contextlib, io\n"
        "from segur_ris.cli import main\n"
        "with contextlib.redirect_stdout(io.StringIO()):\n"
        "    try:\n"
        "        main(['--help'])\n"
        "    except SystemExit:\n"
        "        pass\n"
        "heavy = [m for m in ('zeep', 'pydicom', 'reportlab', 'pikepdf', 'lxml', 'rich')"
        " if m in sys.modules]\n"
        "print(','.join(heavy))\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True
    )
    assert proc.stdout.strip() == ""
