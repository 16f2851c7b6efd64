"""``segur-ris demo``: the README's main command, end to end on the embedded sandbox.

Run once as a subprocess with the TestContenuCDA kit (XSD + ANS schematrons, the session's
warm cache), then in-process without the kit (text output) and with a wrong kit (exit 1).
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from segur_ris.cli import main

REPO = Path(__file__).resolve().parent.parent
INS = "236066322083656"  # TCHITCHI Ola Catarina Bella (CNDA test identity)
JWT = re.compile(rb"eyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]+")
STEP_FOLDERS = (
    "01-bac-a-sable",
    "03-adt",
    "04-insi",
    "05-identite-qualifiee",
    "06-insi-refus",
    "07-demande",
    "08-worklist",
    "09-psc",
    "10-cri",
    "11-validation",
    "12-dmp-envoi",
    "13-mssante-prescripteur",
    "14-annonce",
    "15-mssante-patient",
    "16-accuses",
    "17-dmp-consultation",
    "18-kos",
)


def _warm(validator: Any) -> None:
    """Compile the N1 and N3 schematrons into the session cache (shared with other tests)."""
    from segur_ris.cda import build_cda_n1, build_cda_n3
    from segur_ris.pdf import render_report_pdf
    from segur_ris.report import ImagingReport

    data = json.loads((REPO / "examples" / "report.json").read_text("utf-8"))
    report = ImagingReport.from_dict(data)
    validator.validate(build_cda_n1(report, render_report_pdf(report, deterministic=True)))
    validator.validate(build_cda_n3(report))


@pytest.fixture(scope="module")
def demo_run(
    cda_validator: Any, tmp_path_factory: pytest.TempPathFactory
) -> tuple[dict[str, Any], Path, float]:
    """(JSON report, output folder, wall-clock seconds) of one ``segur-ris demo --json``."""
    _warm(cda_validator)
    out = tmp_path_factory.mktemp("demo") / "demo-output"
    started = time.perf_counter()
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "segur_ris",
            "demo",
            "--output",
            str(out),
            "--json",
            "--kit",
            str(cda_validator.kit),
            "--schematron-cache",
            str(cda_validator.cache_dir),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=REPO,
        check=False,
    )
    elapsed = time.perf_counter() - started
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return json.loads(proc.stdout), out, elapsed


def _step(report: dict[str, Any], folder: str) -> dict[str, Any]:
    (step,) = [s for s in report["steps"] if s["folder"] == folder]
    return step


def test_every_step_succeeds_in_under_30_s(demo_run: tuple[dict[str, Any], Path, float]) -> None:
    report, out, elapsed = demo_run
    assert report["ok"] is True
    assert report["validation"] == "XSD + schématrons ANS"
    assert [s["ok"] for s in report["steps"]] == [True] * 18
    assert [s["folder"] for s in report["steps"] if s["artefacts"]] == list(STEP_FOLDERS)
    assert report["seconds"] < 30, report["seconds"]
    assert elapsed < 45  # interpreter start-up included
    summary = json.loads((out / "summary.json").read_text("utf-8"))
    assert summary["ok"] is True
    assert summary["patient"]["ins"] == INS
    assert summary["patient"]["statut"] == "qualifiee"
    for step in report["steps"]:
        for artefact in step["artefacts"]:
            assert (out / artefact).is_file(), artefact


def test_identity_from_adt_to_qualified(demo_run: tuple[dict[str, Any], Path, float]) -> None:
    from segur_ris.hl7v2 import read_message

    report, out, _ = demo_run
    a28 = read_message((out / "03-adt" / "adt-a28.hl7").read_bytes())
    assert a28.message_type.startswith("ADT^A28")
    assert a28.patient is not None and a28.patient.status.value == "provisoire"
    assert a28.patient.ins is None
    ack = read_message((out / "03-adt" / "adt-a28.ack.hl7").read_bytes())
    assert ack.acknowledged_control_id == a28.control_id
    identity = json.loads((out / "05-identite-qualifiee" / "identite.json").read_text("utf-8"))
    assert identity["statut"] == "qualifiee"
    assert identity["MSSanté patient"] == f"{INS}@patient.mssante.fr"
    assert identity["XDS patientId"] == f"{INS}^^^&1.2.250.1.213.1.4.11&ISO^NH"
    a31 = read_message((out / "05-identite-qualifiee" / "adt-a31.hl7").read_bytes())
    assert a31.patient is not None and a31.patient.ins is not None
    assert a31.patient.ins.value == INS
    insi = sorted(p.name for p in (out / "04-insi").iterdir())
    assert "001-rechercherInsAvecTraitsIdentite.request.xml" in insi
    refused = out / "06-insi-refus" / "001-rechercherInsAvecTraitsIdentite.response.xml"
    assert b"desir_560" in refused.read_bytes() or b"560" in refused.read_bytes()
    details = " ".join(_step(report, "04-insi")["details"])
    assert f"INS {INS}" in details


def test_order_worklist_report_and_kos_share_identifiers(
    demo_run: tuple[dict[str, Any], Path, float],
) -> None:
    import pydicom

    from segur_ris.cda import read_cda
    from segur_ris.hl7v2 import read_message

    report, out, _ = demo_run
    order = read_message((out / "07-demande" / "omi-o23.hl7").read_bytes())
    assert order.message_type.startswith("OMI^O23")
    study_uid = order.orders[0].study_instance_uid
    answer = json.loads((out / "08-worklist" / "c-find.answer.json").read_text("utf-8"))
    assert answer["0020000D"]["Value"] == [study_uid]  # StudyInstanceUID
    accession = answer["00080050"]["Value"][0]
    for name in ("cri-n1.xml", "cri-n3.xml"):
        cda = read_cda((out / "10-cri" / name).read_bytes())
        assert cda.study_instance_uids == (study_uid,)
        assert cda.accession_number == accession
        assert cda.patient.ins == INS
    assert (out / "10-cri" / "cri.pdf").read_bytes().startswith(b"%PDF-")
    kos = pydicom.dcmread(out / "18-kos" / "kos.dcm")
    assert (kos.StudyInstanceUID, kos.AccessionNumber) == (study_uid, accession)
    entry = json.loads((out / "18-kos" / "kos-entry.json").read_text("utf-8"))
    assert entry["mime_type"] == "application/dicom"
    consulted = " ".join(_step(report, "17-dmp-consultation")["details"])
    assert "examen antérieur du 12/03/2025" in consulted
    assert "examen du jour" in consulted
    assert (out / "17-dmp-consultation" / "cr-relu.xml").read_bytes() == (
        out / "10-cri" / "cri-n1.xml"
    ).read_bytes()


def test_validation_with_the_kit(demo_run: tuple[dict[str, Any], Path, float]) -> None:
    report, out, _ = demo_run
    results = json.loads((out / "11-validation" / "validation.json").read_text("utf-8"))
    assert set(results) == {"cri-n1.xml", "cri-n3.xml"}
    assert all(r["ok"] and not r["errors"] for r in results.values())
    assert "CI-SIS_IMG-CR-IMG_2024.01.sch" in results["cri-n3.xml"]["schematrons"]
    assert "0 erreur(s)" in " ".join(_step(report, "11-validation")["details"])


def test_dmp_visibility_and_mssante(demo_run: tuple[dict[str, Any], Path, float]) -> None:
    from segur_ris.mssante import read_mail, read_xdm

    report, out, _ = demo_run
    assert "INVISIBLE_PATIENT" in " ".join(_step(report, "12-dmp-envoi")["details"])
    assert "INVISIBLE_PATIENT" not in " ".join(_step(report, "14-annonce")["details"])
    submitted = out / "12-dmp-envoi" / "002-ProvideAndRegisterDocumentSet-b.request.xml"
    assert b"INVISIBLE_PATIENT" in submitted.read_bytes()
    for path in (out / "12-dmp-envoi").iterdir():  # the VIHF never reaches the files
        if path.name.endswith(".request.xml"):
            assert b"jeton de securite retire" in path.read_bytes()
            assert b"Assertion" not in path.read_bytes()
    prescriber = read_mail((out / "13-mssante-prescripteur" / "message.eml").read_bytes())
    assert "jeanne.generaliste@cabinet-medical-sandbox.mssante.fr" in prescriber.recipients
    patient = read_mail((out / "15-mssante-patient" / "message.eml").read_bytes())
    assert f"{INS}@patient.mssante.fr" in patient.recipients
    package = read_xdm((out / "15-mssante-patient" / "IHE_XDM.zip").read_bytes())
    assert package.documents[0].entry.patient_id.startswith(INS)
    acks = json.loads((out / "16-accuses" / "accuses.json").read_text("utf-8"))
    assert all(a["success"] for a in acks)
    assert {(a["kind"], a["status"]) for a in acks} >= {("dsn", "delivered"), ("mdn", "processed")}
    assert {a["recipient"] for a in acks} >= {f"{INS}@patient.mssante.fr"}


def test_no_secret_in_the_output(demo_run: tuple[dict[str, Any], Path, float]) -> None:
    _, out, _ = demo_run
    files = [p for p in out.rglob("*") if p.is_file()]
    assert len(files) > 40
    for path in files:
        data = path.read_bytes()
        assert b"PRIVATE KEY" not in data, path
        assert not JWT.search(data), path  # no PSC access/ID token
        assert b"segur-ris-sandbox-secret" not in data, path
    assert not (out / "pki").exists()


def test_demo_text_output_without_kit(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("SEGUR_RIS_TESTCONTENUCDA", raising=False)
    assert main(["demo", "--output", str(tmp_path)]) == 0
    text = capsys.readouterr().out
    assert "Recherche INSi par traits" in text
    assert "KOS de l'examen indexé" in text
    assert "NON FAITE" in text  # the skipped validation is said
    assert "18 étapes réussies" in text
    assert "validation des CDA non faite" in text
    summary = json.loads((tmp_path / "summary.json").read_text("utf-8"))
    assert summary["ok"] is True and summary["validation"] == "non faite"
    assert (tmp_path / "11-validation" / "validation.json").is_file()


def test_a_failed_step_gives_exit_code_1(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A wrong kit path fails the validation step only; the demo goes on and exits 1. The
    step folders of an earlier run in the same output folder are replaced, nothing else."""
    previous = tmp_path / "out"
    (previous / "42-ancien").mkdir(parents=True)
    (previous / "summary.json").write_text("{}", encoding="utf-8")
    (previous / "notes.txt").write_text("à garder", encoding="utf-8")
    code = main(["demo", "--output", str(tmp_path / "out"), "--kit", str(tmp_path), "--json"])
    report = json.loads(capsys.readouterr().out)
    assert code == 1
    assert report["ok"] is False
    failed = [s for s in report["steps"] if not s["ok"]]
    assert [s["folder"] for s in failed] == ["11-validation"]
    assert "kit TestContenuCDA" in failed[0]["details"][-1]
    assert _step(report, "18-kos")["ok"] is True
    assert json.loads((previous / "summary.json").read_text("utf-8"))["ok"] is False
    assert not (previous / "42-ancien").exists()
    assert (previous / "notes.txt").read_text("utf-8") == "à garder"


def test_dependent_steps_are_not_run_after_a_failure(tmp_path: Path) -> None:
    from segur_ris.demo import DemoStep, _Steps

    seen: list[DemoStep] = []
    steps = _Steps(tmp_path, seen.append)

    def boom(step: DemoStep) -> None:
        raise RuntimeError("panne")

    assert not steps.run("première", "a", boom)
    assert not steps.run("seconde", "b", lambda step: None, requires=[False])
    assert steps.run("troisième", "c", lambda step: step.details.append("ok"))
    assert [s.folder for s in seen] == ["01-a", "02-b", "03-c"]
    assert seen[0].details == ["ÉCHEC: RuntimeError: panne"]
    assert "non exécutée" in seen[1].details[0]
    assert seen[2].ok and seen[2].details == ["ok"]
