"""``segur-ris hl7 inspect``."""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

import pytest

from segur_ris.cli import build_parser, main
from tests.conftest import ref_file

ADMISSION = "hl7/ansforge_hl7V2-exemples/SGL/admission.er7"
ORU = (
    "hl7/ansforge_hl7V2-exemples/Vague 2/Trans_Doc-CDA-HL7V2/TRANSMISSION_DOCS_CDA_EN_HL7V2_V2.1/"
    "ORU/Transmission initiale ORU/message_ORU_CR_Bio_INIT_N3_SEGUR.hl7"
)


def run(argv: Sequence[str]) -> int:
    """``segur-ris`` with the ``hl7`` group, as :func:`segur_ris.cli.main` runs handlers."""
    return main(list(argv))


def test_inspect_text(ref_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run(["hl7", "inspect", str(ref_file(ref_dir, ADMISSION))]) == 0
    out = capsys.readouterr().out
    assert "ADT^A01 (ADT_A01)" in out and "[AdtMessage]" in out
    assert "  PID (" in out and "  ZFA (12 champs)" in out
    assert "PAT-TROIS DOMINIQUE F 1979-03-28 lieu 63220" in out
    assert "INS 279035121518989 (NIR, OID 1.2.250.1.213.1.4.10), statut qualifiee" in out
    assert "Constats: aucun" in out


def test_inspect_json(ref_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run(["hl7", "inspect", str(ref_file(ref_dir, ADMISSION)), "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["type"] == "ADT^A01" and data["control_id"] == "3975"
    assert data["segments"] == ["MSH", "EVN", "PID", "PV1", "ZBE", "ZFA"]
    patient = data["patient"]
    assert {k: patient[k] for k in ("ins", "ins_oid", "pid32", "ipp", "nda", "status")} == {
        "ins": "279035121518989",
        "ins_oid": "1.2.250.1.213.1.4.10",
        "pid32": ["VALI"],
        "ipp": "000003",
        "nda": "24000006",
        "status": "qualifiee",
    }
    assert data["findings"] == [] and data["document"] is None


def test_inspect_json_document(ref_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run(["hl7", "inspect", str(ref_file(ref_dir, ORU)), "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    document = data["document"]
    assert document["media_type"] == "text/xml" and document["size"] > 200_000
    assert document["type"].startswith("11502-2^")
    assert document["meta_dmp_mss"]["flags"]["DESTDMP"] == "Y"
    assert [p["role"] for p in document["participants"]] == ["SB", "RCT", "RCT", "REPLY"]
    assert {(f["segment"], f["field"], f["code"]) for f in data["findings"]} == {
        ("OBX", 5, "102"),
        ("PRT", 5, "102"),
    }


def test_inspect_dropped_ins_is_reported(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "prov.hl7"
    path.write_bytes(
        b"MSH|^~\\&|A|B|C|D|20240101||ADT^A28^ADT_A05|9|P|2.5^FRA^2.11\r"
        b"PID|1||279035121518989^^^ASIP-SANTE-INS-NIR&1.2.250.1.213.1.4.10&ISO^INS||"
        b"DUPONT^JEAN^JEAN^^^^L||19800101|M" + b"|" * 24 + b"PROV"
    )
    assert run(["hl7", "inspect", str(path), "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["patient"]["ins"] is None and data["patient"]["status"] == "provisoire"
    assert "PROV" in data["warnings"][0]
    assert run(["hl7", "inspect", str(path)]) == 0
    out = capsys.readouterr().out
    assert "Avertissement: INS 279035********* ignoré" in out
    assert "279035121518989" not in out  # the INS is masked in diagnostics


def test_inspect_bad_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "bad.hl7"
    path.write_text("```\nOBX|1|ED|x\n```\n")
    assert run(["hl7", "inspect", str(path)]) == 1
    captured = capsys.readouterr()
    assert "segur-ris: erreur: [100]" in captured.err and captured.out == ""
    assert run(["hl7", "inspect", str(tmp_path / "missing.hl7")]) == 1
    assert "missing.hl7" in capsys.readouterr().err


def test_main_wiring(ref_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    parser = build_parser()
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    if "hl7" not in sub.choices:
        pytest.skip("segur_ris.cli does not register _hl7 yet (lead wiring)")
    from segur_ris.cli import main

    assert main(["hl7", "inspect", str(ref_file(ref_dir, ADMISSION)), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["type"] == "ADT^A01"


def test_registering_hl7_imports_nothing_heavy() -> None:
    code = (
        "import argparse, sys\n"
        "from segur_ris.cli import _hl7\n"
        "p = argparse.ArgumentParser(); _hl7.register(p.add_subparsers())\n"
        "p.format_help()\n"
        "heavy = [m for m in ('lxml', 'zeep', 'pydicom', 'reportlab', 'pikepdf', 'rich',"
        " 'segur_ris.hl7v2._views') if m in sys.modules]\n"
        "print(heavy)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    assert out.strip() == "[]"


def test_hl7v2_views_need_only_the_stdlib_and_ins() -> None:
    code = (
        "import sys\n"
        "import segur_ris.hl7v2._conformance\n"
        "print([m for m in ('lxml', 'zeep', 'pydicom', 'hl7apy', 'rich') if m in sys.modules])\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    assert out.strip() == "[]"
