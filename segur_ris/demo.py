"""End-to-end demonstration on the embedded sandbox (``segur-ris demo``).

Everything runs on 127.0.0.1 with a test PKI generated for the run: INS checks, then a patient
identity taken from *provisoire* to *qualifiée* through the sandbox INSi over mutual TLS, its
exports, the verification of the stored INS, a carte Vitale search and the refusal of a
certificate that is not ``INSI-AUTO``/``INSI-MANU``. Every SOAP exchange and a summary are written
to the output folder.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from segur_ris.config import Settings, load_settings

__all__ = ["DemoStep", "run_demo"]


@dataclass
class DemoStep:
    """One step of the demo: its title, whether it succeeded and what it showed."""

    title: str
    ok: bool = False
    details: list[str] = field(default_factory=list)
    seconds: float = 0.0


class _Steps:
    def __init__(self, on_step: Callable[[DemoStep], None] | None) -> None:
        self.done: list[DemoStep] = []
        self._on_step = on_step

    def run(self, title: str, action: Callable[[DemoStep], None]) -> bool:
        step = DemoStep(title)
        started = time.perf_counter()
        try:
            action(step)
            step.ok = True
        except Exception as exc:  # a demo step reports any failure, then the demo goes on
            step.details.append(f"ÉCHEC: {type(exc).__name__}: {exc}")
        step.seconds = time.perf_counter() - started
        self.done.append(step)
        if self._on_step:
            self._on_step(step)
        return step.ok


def _expect(condition: bool, message: str) -> None:
    if not condition:
        raise AssertionError(message)


def run_demo(output: Path, *, on_step: Callable[[DemoStep], None] | None = None) -> list[DemoStep]:
    """Run the demo, writing artefacts under ``output``; returns the steps (all ``ok`` on
    success). ``on_step`` is called after each step (the CLI prints it)."""
    from segur_ris.errors import InsiFault, InsNotQualifiedError
    from segur_ris.ins import (
        BirthDate,
        IdentityTraits,
        PatientIdentity,
        ProofDocument,
        check_matricule,
        hl7_pid32,
        to_cda_id,
        to_hl7_pid3,
        to_mssante_patient_address,
        to_xds_patient_id,
    )
    from segur_ris.insi import InsiClient, VitaleQuery
    from segur_ris.sandbox import InsiSandbox, generate_test_pki
    from segur_ris.transport import RecordingTransport, RequestsTransport

    output.mkdir(parents=True, exist_ok=True)
    steps = _Steps(on_step)
    state: dict[str, Any] = {}

    def pki(step: DemoStep) -> None:
        state["pki"] = generate_test_pki(output / "pki")
        step.details.append(f"AC de test et certificats INSI-AUTO, INSI-MANU: {output / 'pki'}")

    if not steps.run("PKI de test (type IGC Santé)", pki):
        return steps.done
    sandbox = InsiSandbox(state["pki"])
    sandbox.start()
    try:
        settings: Settings = load_settings(env="demo", environ={}).with_endpoints(insi=sandbox.url)
        test_pki = state["pki"]

        def client(cn: str = "INSI-AUTO") -> InsiClient:
            cred = test_pki.clients[cn]
            transport = RecordingTransport(
                RequestsTransport(client_cert=(cred.cert, cred.key), ca_bundle=test_pki.ca_cert),
                output / "insi",
            )
            return InsiClient(settings, transport=transport)

        def matricules(step: DemoStep) -> None:
            cases = {
                "275126322074974": True,
                "297022A02077878": True,  # born in Corse-du-Sud (2A)
                "109076322088835": True,  # NIA of the CNDA tests (kind told by its OID)
                "275126322074975": False,  # wrong key
                "2751263220749": False,  # too short
            }
            for value, expected in cases.items():
                check = check_matricule(value)
                _expect(check.valid is expected, f"{value}: valid={check.valid}")
                verdict = "valide" if check.valid else "; ".join(check.errors)
                step.details.append(f"{value}: {verdict}")

        steps.run("Contrôle des matricules INS (clé, Corse 2A/2B)", matricules)

        traits = IdentityTraits.create("Tchitchi", "Ola Catarina Bella", "F", "1936-06-21")
        identity = PatientIdentity(traits=traits)

        def provisoire(step: DemoStep) -> None:
            _expect(identity.status.value == "provisoire", identity.status.value)
            try:
                to_xds_patient_id(identity)
            except InsNotQualifiedError as exc:
                step.details.append(f"export de l'INS refusé: {exc.message}")
            else:
                raise AssertionError("l'INS d'une identité provisoire a été exporté")
            step.details.append(f"{traits.nom_naissance} {traits.liste_prenoms}: provisoire")

        steps.run("Identité provisoire saisie à l'accueil", provisoire)

        def search(step: DemoStep) -> None:
            with client() as insi:
                result = insi.search(traits)
            _expect(result.found and result.ins is not None, f"CodeCR {result.code.value}")
            assert result.ins is not None and result.traits is not None
            state["identity"] = identity.with_insi_result(result.ins, result.traits)
            step.details.append(
                f"CodeCR 00 avec le prénom {result.prenom_envoye!r} (stratégie multi-prénoms)"
            )
            step.details.append(
                f"INS {result.ins.value} ({result.ins.kind.value}, {result.ins.oid})"
            )
            step.details.append(f"statut: {state['identity'].status.value}")

        if steps.run("Recherche INSi par traits (TLS mutuel, INSI-AUTO)", search):

            def qualify(step: DemoStep) -> None:
                qualified = state["identity"].with_proof(ProofDocument.CARTE_NATIONALE_IDENTITE)
                _expect(qualified.is_qualified, qualified.status.value)
                state["identity"] = qualified
                # exports use the environment's INS OID (the INSi returns the production one)
                oid = settings.environment.ins.for_kind(qualified.qualified_ins().kind)
                exports = {
                    "HL7 PID-3": to_hl7_pid3(qualified, oid=oid),
                    "HL7 PID-32": "~".join(hl7_pid32(qualified)),
                    "CDA patientRole/id": "root={} extension={}".format(
                        *to_cda_id(qualified, oid=oid)
                    ),
                    "XDS patientId": to_xds_patient_id(qualified, oid=oid),
                    "MSSanté patient": to_mssante_patient_address(qualified),
                }
                step.details.extend(f"{k}: {v}" for k, v in exports.items())
                (output / "identite.json").write_text(
                    json.dumps(
                        {"statut": qualified.status.value, **exports}, indent=2, ensure_ascii=False
                    ),
                    encoding="utf-8",
                )

            steps.run("Identité qualifiée (pièce d'identité à haut niveau de confiance)", qualify)

            def verify(step: DemoStep) -> None:
                with client("INSI-MANU") as insi:
                    outcome = insi.verify(state["identity"])
                _expect(outcome.ok, "; ".join(outcome.differences))
                step.details.append("INS et traits identiques à ceux de l'INSi")

            steps.run("Vérification de l'INS enregistré", verify)

        def vitale(step: DemoStep) -> None:
            query = VitaleQuery(
                nir="2751263220749", cle="74", date_naissance=BirthDate.parse("1975-12-31")
            )
            with client() as insi:
                result = insi.search_by_carte_vitale(query)
            _expect(result.found and result.ins is not None, f"CodeCR {result.code.value}")
            assert result.traits is not None and result.ins is not None
            found = result.traits
            step.details.append(
                f"{found.nom_naissance} {found.liste_prenoms}: INS {result.ins.value}"
            )

        steps.run("Recherche INSi par carte Vitale", vitale)

        def refused(step: DemoStep) -> None:
            try:
                with client("AUTRE") as insi:
                    insi.search_once(traits)
            except InsiFault as exc:
                _expect(exc.code == "desir_560", str(exc.code))
                step.details.append(f"faute attendue: {exc}")
            else:
                raise AssertionError("le certificat AUTRE a été accepté")

        steps.run("Refus d'un certificat qui n'est ni INSI-AUTO ni INSI-MANU", refused)
    finally:
        sandbox.stop()
    return steps.done
