"""Shared builders for the MSSanté core tests (XDM, mail, acknowledgements)."""

from __future__ import annotations

import datetime as _dt
import functools
import io
import json
from typing import Any

from segur_ris.cda import build_cda_n1, build_cda_n3
from segur_ris.ins import IdentityTraits, PatientIdentity, compute_key
from segur_ris.report import ImagingReport
from tests.conftest import REPO_ROOT

INS = "279035121518989"
PATIENT_ADDRESS = f"{INS}@patient.mssante.fr"
SENDER = "jeanne.radiologue@imagerie.mssante.fr"
PS = "adam.hoda@test-ci-sis.mssante.fr"
NIL = "DEV935997"
WHEN = _dt.datetime(2026, 11, 24, 10, 0, tzinfo=_dt.UTC)
SUBJECT = "XDM/1.0/DDM+CR d'imagerie médicale PAT-TROIS DOMINIQUE 28/03/1979"
PDF_NAME = "20261124_CR d'imagerie médicale_PAT-TROIS_DOMINIQUE.pdf"


@functools.cache
def pdf() -> bytes:
    """The PDF/A-1b of the test report (rendered once per test session)."""
    from segur_ris.pdf import render_report_pdf

    return render_report_pdf(report())


@functools.cache
def plain_pdf() -> bytes:
    """A small real PDF that is not PDF/A (reportlab, fonts not embedded, no XMP)."""
    from reportlab.pdfgen import canvas

    buffer = io.BytesIO()
    page = canvas.Canvas(buffer, invariant=True)
    page.drawString(72, 720, "Compte rendu d'imagerie")
    page.save()
    return buffer.getvalue()


def report_dict() -> dict[str, Any]:
    data: dict[str, Any] = json.loads((REPO_ROOT / "examples" / "report.json").read_text("utf-8"))
    return data


def report(document_id: str = "", **patient: Any) -> ImagingReport:
    data = report_dict()
    data["patient"].update(patient)
    if document_id:
        data["document_id"] = document_id
    return ImagingReport.from_dict(data)


@functools.cache
def cda_n1() -> bytes:
    return build_cda_n1(report(), pdf())


@functools.cache
def cda_n3() -> bytes:
    return build_cda_n3(report(document_id="1.2.250.1.999.1.1.20261124.2"))


@functools.cache
def other_patient_cda() -> bytes:
    """A CR-IMG of another (qualified) patient."""
    nir = "1850275056123"
    return build_cda_n1(
        report(
            document_id="1.2.250.1.999.1.1.20261124.3",
            nom_naissance="MARTIN",
            prenoms="PAUL",
            sexe="M",
            date_naissance="1985-02-14",
            lieu_naissance="75056",
            ins={"matricule": nir + compute_key(nir), "oid": "1.2.250.1.213.1.4.10"},
        ),
        pdf(),
    )


def qualified() -> PatientIdentity:
    return report().patient


def not_qualified() -> PatientIdentity:
    """The same person, INS recovered from the INSi but no identity document seen."""
    identity = qualified()
    return PatientIdentity(traits=identity.traits, ins=identity.ins, insi_verified=True)


def provisional() -> PatientIdentity:
    return PatientIdentity(
        traits=IdentityTraits.create("PAT-TROIS", "DOMINIQUE", "F", "1979-03-28")
    )
