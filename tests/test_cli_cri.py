"""``segur-ris cri``: build, show, pdf, validate; bad input writes nothing."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import pytest

from segur_ris.cli import main
from segur_ris.pdf import check_pdfa
from tests.conftest import REPO_ROOT

EXAMPLE = REPO_ROOT / "examples" / "report.json"


def report(tmp_path: Path, change: Any = None) -> Path:
    data = json.loads(EXAMPLE.read_text(encoding="utf-8"))
    if change:
        change(data)
    path = tmp_path / "report.json"
    path.write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")
    return path


def test_build_show_pdf_n1(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    cda, pdf = tmp_path / "cri.xml", tmp_path / "cri.pdf"
    assert (
        main(["cri", "build", str(report(tmp_path)), "-o", str(cda), "--pdf-output", str(pdf)]) == 0
    )
    assert main(["cri", "show", str(cda), "--json"]) == 0
    shown = json.loads(capsys.readouterr().out.split("\n", 1)[1])
    assert shown["ins"] == "279035121518989" and shown["ins_oid"] == "1.2.250.1.213.1.4.10"
    assert shown["study_uid"] == "1.2.250.1.999.1.4.20261124.1"
    assert shown["accession"] == "ACC-2026-000123"
    assert (shown["code"], shown["level"]) == ("18748-4", 1)
    assert shown["pdf_bytes"] == pdf.stat().st_size > 10_000
    extracted = tmp_path / "extracted.pdf"
    assert main(["cri", "pdf", str(cda), "-o", str(extracted)]) == 0
    assert extracted.read_bytes() == pdf.read_bytes()
    assert check_pdfa(extracted.read_bytes()).ok


def test_build_n3_and_validate(
    tmp_path: Path, ref_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cda = tmp_path / "cri3.xml"
    assert main(["cri", "build", str(report(tmp_path)), "-o", str(cda), "--level", "3"]) == 0
    capsys.readouterr()
    kit = ref_dir / "cda" / "ansforge-TestContenuCDA-3-0"
    assert main(["cri", "validate", str(cda), "--kit", str(kit), "--json"]) == 0
    verdict = json.loads(capsys.readouterr().out)
    assert verdict["ok"] is True
    assert main(["cri", "pdf", str(cda), "-o", str(tmp_path / "none.pdf")]) == 1
    assert not (tmp_path / "none.pdf").exists()


def test_vendor_pdf(tmp_path: Path) -> None:
    from reportlab.pdfgen import canvas

    buffer = io.BytesIO()
    page = canvas.Canvas(buffer)  # Helvetica, not embedded: not PDF/A, cannot be made so
    page.drawString(72, 720, "CR")
    page.save()
    vendor = tmp_path / "vendor.pdf"
    vendor.write_bytes(buffer.getvalue())
    cda = tmp_path / "cri.xml"
    assert main(["cri", "build", str(report(tmp_path)), "-o", str(cda), "--pdf", str(vendor)]) == 1
    assert not cda.exists()


@pytest.mark.parametrize(
    "change",
    [
        lambda d: d.pop("author"),  # missing mandatory data
        lambda d: d["patient"].pop("justificatif"),  # identity not qualified
        lambda d: d["exam"].update(study_instance_uid="not-an-uid"),
        lambda d: d.update(sections=[{"kind": "resultats", "text": "sans conclusion"}]),
    ],
)
def test_bad_reports_write_nothing(
    tmp_path: Path, change: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    cda = tmp_path / "cri.xml"
    assert main(["cri", "build", str(report(tmp_path, change)), "-o", str(cda)]) == 1
    assert not cda.exists()
    assert "erreur" in capsys.readouterr().err
    assert not list(tmp_path.glob(".cri.xml.*"))  # no temporary left behind


def test_hostile_cda_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    evil = tmp_path / "evil.xml"
    evil.write_bytes(
        b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]>'
        b'<ClinicalDocument xmlns="urn:hl7-org:v3">&e;</ClinicalDocument>'
    )
    assert main(["cri", "show", str(evil)]) == 1
    assert "root:" not in capsys.readouterr().out
