"""``segur-ris ins check``."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from segur_ris.cli import main


def test_check_valid_plain(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["ins", "check", "297022A02077878"]) == 0
    out = capsys.readouterr().out
    assert "valide" in out and "NIR" in out and "78" in out


def test_check_invalid_plain(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["ins", "check", "297022A02077812"]) == 1
    out = capsys.readouterr().out
    assert "invalide" in out
    assert "key: clé 12 attendue 78" in out


def test_check_json_valid(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["ins", "check", "2 07 05 85 756 270 97", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert {k: data[k] for k in ("valid", "kind", "key", "errors")} == {
        "valid": True,
        "kind": "NIR",
        "key": "97",
        "errors": [],
    }
    assert data["warnings"] == ["kind: NIR déduit du premier chiffre, sans OID (l'OID fait foi)"]


def test_check_json_nia_by_oid(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["ins", "check", "109076322088835", "--oid", "1.2.250.1.213.1.4.9", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["kind"] == "NIA" and data["key"] == "35" and data["valid"] is True


def test_check_json_invalid(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["ins", "check", "2970A2A02077878", "--json"]) == 1
    data = json.loads(capsys.readouterr().out)
    assert data["valid"] is False
    assert data["key"] is None
    assert [e.split(":")[0] for e in data["errors"]] == ["department"]
    assert set(data) == {"valid", "kind", "key", "errors", "warnings"}


def test_check_json_bad_oid(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["ins", "check", "297022A02077878", "--oid", "1.2.3", "--json"]) == 1
    data = json.loads(capsys.readouterr().out)
    assert data["errors"][0].startswith("oid: ")


def test_check_garbage(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["ins", "check", "n'importe quoi", "--json"]) == 1
    data = json.loads(capsys.readouterr().out)
    assert data["errors"][0].startswith("length: ")


def test_ins_is_a_group(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["ins"]) == 2
    assert "check" in capsys.readouterr().out
    with pytest.raises(SystemExit):
        main(["ins", "check"])  # matricule required


def test_cli_import_is_light() -> None:
    code = (
        "import segur_ris.cli, sys\n"
        "segur_ris.cli.main(['ins', 'check', '297022A02077878'])\n"
        "heavy = ('zeep', 'pydicom', 'pynetdicom', 'reportlab', 'pikepdf', 'lxml', 'authlib',\n"
        "         'joserfc', 'aiosmtpd', 'psycopg', 'cryptography', 'saxonche', 'requests')\n"
        "heavy = [m for m in heavy if m in sys.modules]\n"
        "print('HEAVY', heavy)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True
    )
    assert "HEAVY []" in result.stdout
    assert "valide" in result.stdout
