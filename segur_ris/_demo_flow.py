"""The steps of ``segur-ris demo`` (see :mod:`segur_ris.demo`): one exam through the whole flow.

Each step is a method reading and filling the flow's state; the step list in :meth:`run` says
which step needs which earlier result, so a failure marks its dependants as not run and the
independent steps still go on.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import datetime as dt
import json
import uuid
from collections.abc import Mapping
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from segur_ris.demo import DemoStep, _Steps, write_artefact

# identifiers of the demo RIS (OIDs of the 1.2.250.1.999 test arc)
_IPP_OID = "1.2.250.1.999.1.2"
_ACCESSION_OID = "1.2.250.1.999.1.3"
_UID_ROOT = "1.2.250.1.999.1.4"
_PLACER_OID = "1.2.250.1.999.1.5"
_NIL = "SANDBOX-SEGUR-RIS"  # X-MSS-NIL product reference of the demo
_RADIOLOGIST_MAIL = "marie.radiologue@radiologie-sandbox.mssante.fr"
_PRESCRIBER_MAIL = "jeanne.generaliste@cabinet-medical-sandbox.mssante.fr"
_WADO = "https://drimbox-source.radiologie-sandbox.test/dicom-web/rs"
_CT_IMAGE = "1.2.840.10008.5.1.4.1.1.2"  # CT Image Storage
_SECTEUR_CABINET = "SA07^1.2.250.1.71.4.2.4"  # cabinet individuel (TRE_R02)
_PARIS = ZoneInfo("Europe/Paris")
_DEMO_INS = "236066322083656"  # TCHITCHI Ola Catarina Bella, known by every sandbox service


def _expect(condition: bool, message: str) -> None:
    if not condition:
        raise AssertionError(message)


def _json(data: object) -> str:
    return json.dumps(data, indent=2, ensure_ascii=False, default=str) + "\n"


class _StepRecorder:
    """An HTTP transport writing each SOAP exchange into the current step's folder.

    Like :class:`segur_ris.transport.RecordingTransport` (which it reuses for plain SOAP), but
    the folder follows the demo's steps and MTOM exchanges (DMP TD2.1/TD3.2) are written as
    their SOAP envelope with the ``wsse:Security`` header emptied, the attachments listed by
    content-id and size: ``RecordingTransport`` writes no MTOM request at all, as it cannot
    redact one.
    """

    def __init__(self, inner: Any, output: Path) -> None:
        self._inner = inner
        self._output = output
        self._count = 0
        self.step: DemoStep | None = None
        self._counted: DemoStep | None = None

    def post(self, url: str, body: bytes, headers: Mapping[str, str], timeout: float) -> Any:
        from segur_ris.transport import _action_name

        if self.step is not self._counted:  # numbering restarts in each step's folder
            self._counted, self._count = self.step, 0
        self._count += 1
        action = _action_name(headers)
        content_type = next((v for k, v in headers.items() if k.lower() == "content-type"), "")
        if action == "exchange":  # MTOM: the action is in the start-info of the root part
            action = _mtom_action(content_type)
        stem = f"{self._count:03d}-{action}"
        self._write(f"{stem}.request.xml", _redacted(body, content_type))
        response = self._inner.post(url, body, headers, timeout)
        self._write(f"{stem}.response.xml", _redacted(response.body, response.content_type))
        return response

    def _write(self, name: str, data: bytes) -> None:
        if self.step is not None:
            write_artefact(self._output, self.step, name, data)

    def close(self) -> None:
        self._inner.close()


def _mtom_action(content_type: str) -> str:
    from email.message import Message

    message = Message()
    message["content-type"] = content_type
    info = message.get_param("start-info")
    for part in str(info or "").split(";"):
        key, _, value = part.strip().partition("=")
        if key == "action":
            return value.strip('"').rsplit(":", 1)[-1] or "exchange"
    return "exchange"


def _redacted(body: bytes, content_type: str) -> bytes:
    """The body to record: security tokens removed; for MTOM, the envelope plus a list of the
    attachments (their content, a CDA or a KOS, is written by the step itself)."""
    from segur_ris.transport import _redact_security

    if not content_type.lower().startswith("multipart/"):
        return _redact_security(body)
    from segur_ris.errors import SegurError
    from segur_ris.xds import decode_mtom

    try:
        message = decode_mtom(body, content_type)
    except SegurError:
        return b"<!-- message MTOM illisible: non enregistre -->"
    parts = "".join(
        f"\n  {part.content_id} ({part.content_type}, {len(part.data)} octets)"
        for part in message.attachments
    )
    root = _redact_security(message.root)
    return root + f"\n<!-- pieces MTOM:{parts}\n-->\n".encode()


def _mllp_exchange(message: bytes, handle: Any) -> tuple[bytes, bytes]:
    """Send ``message`` over MLLP to a RIS inbox on 127.0.0.1 whose ``handle`` reads it and
    returns the acknowledgement; returns (message as received, acknowledgement)."""
    from segur_ris.hl7v2 import MllpClient, MllpServer

    received: list[bytes] = []

    def handler(data: bytes, peer: Any) -> bytes:
        received.append(data)
        answer: bytes = handle(data)
        return answer

    async def exchange() -> bytes:
        server = await MllpServer.start(handler, host="127.0.0.1", port=0)
        client = MllpClient("127.0.0.1", server.port, timeout=10)
        try:
            return await client.send(message)
        finally:
            await client.close()
            await server.close()

    ack = asyncio.run(exchange())
    _expect(len(received) == 1, "le RIS n'a pas reçu le message")
    return received[0], ack


class DemoFlow:
    """State and steps of one demo run (used by :func:`segur_ris.demo.run_demo`)."""

    def __init__(
        self,
        output: Path,
        steps: _Steps,
        *,
        kit: Path | None,
        schematron_cache: Path | None,
    ) -> None:
        from segur_ris.config import load_settings

        self.output = output
        self.steps = steps
        self.kit = kit
        self.schematron_cache = schematron_cache
        self.validation_mode = "non faite" if kit is None else "XSD + schématrons ANS"
        self.settings: Any = load_settings(env="demo", environ={})
        self.suite: Any = None
        self.recorder: _StepRecorder | None = None
        self.state: dict[str, Any] = {}
        now = dt.datetime.now(_PARIS).replace(microsecond=0)
        self.now = now
        stamp = now.strftime("%y%m%d%H%M%S")
        self.accession = f"A{stamp}"
        self.placer = f"DEM-{stamp}"
        self.ipp = f"IPP{stamp}"
        self.tokens: Any = None  # PSC tokens: in memory only, never written

    # --- the flow ---------------------------------------------------------------------------

    def run(self) -> None:
        run, has = self.steps.run, self.state.__contains__
        if not run("Bac à sable local (INSi, DMP, PSC, MSSanté, MWL, PKI de test)", "bac-a-sable",
                   self.sandbox):  # fmt: skip
            return
        run("Contrôle des matricules INS (clé, Corse 2A/2B)", "matricules", self.matricules)
        run("ADT A28 (PAM FR) : le patient est créé, identité provisoire", "adt", self.adt)
        run("Recherche INSi par traits (TLS mutuel, INSI-AUTO)", "insi", self.insi_search)
        run(
            "Identité qualifiée, vérifiée (INSI-MANU) et diffusée (ADT A31)",
            "identite-qualifiee",
            self.qualify,
            requires=[has("insi_result")],
        )
        run("Refus d'un certificat ni INSI-AUTO ni INSI-MANU", "insi-refus", self.refused)
        run(
            "Demande d'examen OMI^O23 reçue par le RIS (MLLP), worklist alimentée",
            "demande",
            self.order,
            requires=[has("identity")],
        )
        run(
            "La modalité interroge la worklist (C-FIND DICOM)",
            "worklist",
            self.worklist,
            requires=[has("item")],
        )
        run("Le radiologue se connecte avec Pro Santé Connect", "psc", self.psc)
        run(
            "Compte rendu d'imagerie : PDF/A, CDA R2 N1 et N3",
            "cri",
            self.report,
            requires=[has("item"), has("user")],
        )
        run("Validation des CDA (XSD + schématrons ANS)", "validation", self.validate,
            requires=[has("cda_n1")])  # fmt: skip
        run(
            "Envoi au DMP masqué au patient (TD0.2, TD2.1)",
            "dmp-envoi",
            self.dmp_submit,
            requires=[has("cda_n1")],
        )
        run(
            "MSSanté au prescripteur (IHE_XDM + PDF)",
            "mssante-prescripteur",
            self.mail_prescriber,
            requires=[has("cda_n1")],
        )
        run(
            "Annonce du résultat : le document devient visible au patient (TD3.3)",
            "annonce",
            self.announce,
            requires=[has("dmp_entry")],
        )
        run(
            "MSSanté au patient (Mon espace santé)",
            "mssante-patient",
            self.mail_patient,
            requires=[has("announced")],
        )
        run(
            "Accusés de réception (DSN, MDN) relevés par IMAP",
            "accuses",
            self.acknowledgements,
            requires=[has("mails")],
        )
        run(
            "Le RIS consulte les documents du patient dans le DMP (TD3.1, TD3.2)",
            "dmp-consultation",
            self.consult,
            requires=[has("dmp_entry")],
        )
        run(
            "KOS de l'examen indexé dans le DMP pour le DRIMbox (XDS-I.b)",
            "kos",
            self.kos,
            requires=[has("dmp_entry"), has("item")],
        )

    def close(self) -> None:
        """Stop the sandbox (its temporary PKIs are removed) and end the PSC session."""
        try:
            psc = self.state.pop("psc_client", None)
            if psc is not None and self.tokens is not None:
                with contextlib.suppress(Exception):  # the demo is over: nothing to report
                    psc.end_session(self.tokens)
            if psc is not None:
                psc.close()
            for name in ("dmp", "dmp_ris"):
                client = self.state.pop(name, None)
                if client is not None:
                    client.close()
        finally:
            self.tokens = None
            if self.suite is not None:
                self.suite.stop()
                self.suite = None

    def patient_summary(self) -> dict[str, Any]:
        identity = self.state.get("identity")
        if identity is None:
            return {}
        traits = identity.traits
        ins = identity.ins
        return {
            "nom_naissance": traits.nom_naissance,
            "prenoms": traits.liste_prenoms,
            "statut": identity.status.value,
            "ins": ins.value if ins is not None else None,
            "ipp": identity.ipp,
            "accession": self.accession,
            "study_instance_uid": getattr(self.state.get("item"), "study_instance_uid", None),
        }

    def _write(self, step: DemoStep, name: str, data: bytes | str) -> Path:
        return write_artefact(self.output, step, name, data)

    def _record(self, step: DemoStep) -> _StepRecorder:
        assert self.recorder is not None
        self.recorder.step = step
        return self.recorder

    @property
    def ins_oid(self) -> str:
        """The INS-NIR OID of the target environment (the demo's ``…4.11``)."""
        oid: str = self.settings.environment.ins.for_kind("NIR")
        return oid

    # --- steps ------------------------------------------------------------------------------

    def sandbox(self, step: DemoStep) -> None:
        from segur_ris.sandbox import SandboxSuite
        from segur_ris.transport import HttpsTransport

        # a temporary folder: the PKIs' private keys never reach the output folder
        self.suite = SandboxSuite(None).start()
        suite = self.suite
        self.settings = self.settings.with_endpoints(
            insi=suite.insi.url, dmp=suite.dmp.url, psc=suite.psc.issuer
        )
        org = suite.org
        self.recorder = _StepRecorder(
            HttpsTransport(
                client_cert=(org.auth_cli.cert, org.auth_cli.key), ca_bundle=suite.pki.ca_cert
            ),
            self.output,
        )
        services = suite.describe()["services"]
        public = {
            name: {k: v for k, v in info.items() if k in ("url", "services", "smtp", "imap")}
            for name, info in services.items()
        }
        self._write(step, "services.json", _json(public))
        for name, info in public.items():
            step.details.append(f"{name}: {info['url']}")
        step.details.append(
            f"PKI de test (AC, serveurs 127.0.0.1, INSI-AUTO/INSI-MANU, ORG AUTH_CLI/SIGN de la "
            f"structure {org.structure_id}) dans un dossier temporaire, supprimé à la fin"
        )
        self._seed_prior_exam(step)

    def _seed_prior_exam(self, step: DemoStep) -> None:
        """A report of an earlier exam of the demo patient, already in the sandbox DMP (what
        step 17 finds as the patient's prior exam)."""
        from segur_ris.cda import build_cda_n3
        from segur_ris.dicom import study_instance_uid_for
        from segur_ris.ins import IdentityTraits, Ins, PatientIdentity, ProofDocument
        from segur_ris.report import ImagingReport

        data = _report_template()
        data.update(
            document_id=f"{_UID_ROOT}.9.{uuid.uuid4().int % 10**15}",
            effective_time="2025-03-12T11:00:00+01:00",
            ipp="IPP-ANTERIEUR",
        )
        data["exam"].update(
            accession_number="A250312101500",
            study_instance_uid=study_instance_uid_for("A250312101500", _UID_ROOT),
            start="2025-03-12T10:15:00+01:00",
            end="2025-03-12T10:25:00+01:00",
        )
        data["order"]["placer_number"] = "DEM-250312101500"
        data["author"].update(rpps="10112345678", family="RADIOLOGUE", given="Jeanne")
        data["sections"][-1]["text"] = "Scanner thoracique sans anomalie."
        report = ImagingReport.from_dict(data)
        traits = IdentityTraits.create("TCHITCHI", "CATARINA BELLA", "F", "1936-06-21", "63220")
        patient = PatientIdentity(
            traits,
            ins=Ins.parse(_DEMO_INS, "1.2.250.1.213.1.4.8"),
            insi_verified=True,
            proof=ProofDocument.CARTE_NATIONALE_IDENTITE,
        )
        report = dataclasses.replace(report, patient=patient)
        dmp = self._dmp_ris()
        self._record(step)
        result = dmp.submit(build_cda_n3(report, ins_oid=self.ins_oid))
        self.state["prior_uid"] = result.unique_id
        step.details.append(
            f"DMP: un CR antérieur du patient ({result.unique_id}, scanner du 12/03/2025) "
            "déjà présent"
        )

    def matricules(self, step: DemoStep) -> None:
        from segur_ris.ins import check_matricule

        cases = {
            "275126322074974": True,
            "297022A02077878": True,  # born in Corse-du-Sud (2A)
            "275126322074975": False,  # wrong key
            "2751263220749": False,  # too short
        }
        for value, expected in cases.items():
            check = check_matricule(value)
            _expect(check.valid is expected, f"{value}: valid={check.valid}")
            verdict = "valide" if check.valid else "; ".join(check.errors)
            step.details.append(f"{value}: {verdict}")

    def _ris_inbox(self, data: bytes) -> bytes:
        """The RIS's HL7 inbox: reads the message, feeds the worklist with orders, acks."""
        from segur_ris.dicom import WorklistSettings
        from segur_ris.hl7v2 import OrderMessage, build_ack, read_message

        view = read_message(data)
        if isinstance(view, OrderMessage):
            settings = WorklistSettings(
                uid_root=_UID_ROOT,
                accession_issuer_oid=_ACCESSION_OID,
                default_station_ae_title="CT1",
            )
            self.state["changes"] = self.suite.mwl_store.apply_message(view, settings)
        return build_ack(view.message, "AA")

    def _send_hl7(self, step: DemoStep, name: str, message: bytes) -> Any:
        from segur_ris.hl7v2 import AckMessage, read_message

        received, ack = _mllp_exchange(message, self._ris_inbox)
        self._write(step, f"{name}.hl7", received.replace(b"\r", b"\r\n"))
        self._write(step, f"{name}.ack.hl7", ack.replace(b"\r", b"\r\n"))
        answer = read_message(ack)
        _expect(isinstance(answer, AckMessage), "réponse qui n'est pas un ACK")
        assert isinstance(answer, AckMessage)
        _expect(answer.accepted, f"ACK {answer.ack_code}")
        view = read_message(received)
        step.details.append(
            f"{view.message_type} {view.control_id} envoyé en MLLP, ACK {answer.ack_code}"
        )
        return view

    def adt(self, step: DemoStep) -> None:
        from segur_ris.errors import InsNotQualifiedError
        from segur_ris.hl7v2 import AssigningAuthority, build_adt
        from segur_ris.ins import IdentityTraits, PatientIdentity, to_xds_patient_id

        traits = IdentityTraits.create("Tchitchi", "Ola Catarina Bella", "F", "1936-06-21")
        identity = PatientIdentity(traits=traits, ipp=self.ipp)
        self.state["provisional"] = identity
        message = build_adt("A28", identity, ipp_authority=AssigningAuthority.iso(_IPP_OID, "RIS"))
        view = self._send_hl7(step, "adt-a28", message)
        patient = view.patient
        _expect(patient is not None and patient.status.value == "provisoire", "PID-32")
        step.details.append(
            f"{traits.nom_naissance} {traits.liste_prenoms}, né(e) le {traits.date_naissance}: "
            f"IPP {self.ipp}, identité {patient.status.value} (PID-32)"
        )
        try:
            to_xds_patient_id(identity)
        except InsNotQualifiedError as exc:
            step.details.append(f"export de l'INS refusé tant que provisoire: {exc.message}")
        else:
            raise AssertionError("l'INS d'une identité provisoire a été exporté")

    def _insi(self, cn: str = "INSI-AUTO") -> Any:
        from segur_ris.insi import InsiClient
        from segur_ris.transport import HttpsTransport

        credential = self.suite.pki.clients[cn]
        transport = _StepRecorder(
            HttpsTransport(
                client_cert=(credential.cert, credential.key), ca_bundle=self.suite.pki.ca_cert
            ),
            self.output,
        )
        return InsiClient(self.settings, transport=transport), transport

    def insi_search(self, step: DemoStep) -> None:
        provisional = self.state.get("provisional")
        if provisional is None:
            from segur_ris.ins import IdentityTraits, PatientIdentity

            traits = IdentityTraits.create("Tchitchi", "Ola Catarina Bella", "F", "1936-06-21")
            provisional = PatientIdentity(traits=traits, ipp=self.ipp)
        self.state["provisional"] = provisional
        client, transport = self._insi()
        transport.step = step
        with client as insi:
            result = insi.search(provisional.traits)
        _expect(result.found and result.ins is not None, f"CodeCR {result.code.value}")
        self.state["insi_result"] = result
        step.details.append(
            f"CodeCR {result.code.value} avec le prénom {result.prenom_envoye!r} "
            "(un prénom à la fois, puis la liste)"
        )
        step.details.append(f"INS {result.ins.value} ({result.ins.kind.value}, {result.ins.oid})")

    def qualify(self, step: DemoStep) -> None:
        from segur_ris.hl7v2 import AssigningAuthority, build_adt
        from segur_ris.ins import (
            ProofDocument,
            hl7_pid32,
            to_cda_id,
            to_hl7_pid3,
            to_mssante_patient_address,
            to_xds_patient_id,
        )

        result = self.state["insi_result"]
        identity = self.state["provisional"].with_insi_result(result.ins, result.traits)
        step.details.append(f"après l'INSi: {identity.status.value} (INS récupéré)")
        identity = identity.with_proof(ProofDocument.CARTE_NATIONALE_IDENTITE)
        _expect(identity.is_qualified, identity.status.value)
        client, transport = self._insi("INSI-MANU")
        transport.step = step
        with client as insi:
            outcome = insi.verify(identity)
        _expect(outcome.ok, "; ".join(outcome.differences))
        step.details.append(
            f"pièce d'identité (carte nationale d'identité): {identity.status.value}; "
            "vérification INSi: INS et traits identiques"
        )
        oid = self.ins_oid  # exports carry the environment's INS OID
        exports = {
            "HL7 PID-3": to_hl7_pid3(identity, oid=oid),
            "HL7 PID-32": "~".join(hl7_pid32(identity)),
            "CDA patientRole/id": "root={} extension={}".format(*to_cda_id(identity, oid=oid)),
            "XDS patientId": to_xds_patient_id(identity, oid=oid),
            "MSSanté patient": to_mssante_patient_address(identity),
        }
        step.details.extend(f"{k}: {v}" for k, v in exports.items())
        self._write(step, "identite.json", _json({"statut": identity.status.value, **exports}))
        message = build_adt(
            "A31", identity, ipp_authority=AssigningAuthority.iso(_IPP_OID, "RIS"), ins_oid=oid
        )
        view = self._send_hl7(step, "adt-a31", message)
        patient = view.patient
        _expect(patient is not None and patient.ins is not None, "PID-3 sans INS")
        step.details.append(f"A31 reçu par le RIS: INS {patient.ins.value}, {patient.status.value}")
        self.state["identity"] = identity

    def refused(self, step: DemoStep) -> None:
        from segur_ris.errors import InsiFault

        provisional = self.state["provisional"]
        client, transport = self._insi("AUTRE")
        transport.step = step
        try:
            with client as insi:
                insi.search_once(provisional.traits)
        except InsiFault as exc:
            _expect(exc.code == "desir_560", str(exc.code))
            step.details.append(f"faute SOAP attendue: {exc}")
        else:
            raise AssertionError("le certificat AUTRE a été accepté")

    def order(self, step: DemoStep) -> None:
        from segur_ris.dicom import study_instance_uid_for
        from segur_ris.hl7v2 import (
            AssigningAuthority,
            CodedValue,
            EntityId,
            ImagingOrder,
            Practitioner,
            build_omi,
        )

        identity = self.state["identity"]
        study_uid = study_instance_uid_for(self.accession, _UID_ROOT)
        scheduled = self.now.replace(tzinfo=None)
        order = ImagingOrder(
            patient=identity,
            placer_order=EntityId(self.placer, AssigningAuthority.iso(_PLACER_OID)),
            accession_number=EntityId(self.accession, AssigningAuthority.iso(_ACCESSION_OID)),
            modality=CodedValue("CT", "Scanner", "DCM"),
            exam_code=CodedValue("24627-2", "TDM thorax", "LN"),
            ordering_provider=Practitioner(
                "899900031124", "GENERALISTE-SANDBOX", "Jeanne", id_type="IDNPS"
            ),
            clinical_info="Toux persistante depuis trois semaines",
            scheduled_time=scheduled,
            requested_procedure_id=EntityId("RP1"),
            study_instance_uid=study_uid,
            scheduled_step_id=EntityId("SPS1"),
            ipp_authority=AssigningAuthority.iso(_IPP_OID, "RIS"),
            ins_oid=self.ins_oid,
        )
        self._send_hl7(step, "omi-o23", build_omi(order))
        changes = self.state.pop("changes", None)
        _expect(bool(changes), "la demande n'a pas alimenté la worklist")
        (change,) = changes
        item = change.item
        _expect(item is not None and item.ins is not None, "élément de worklist sans INS")
        self.state["item"] = item
        step.details.append(
            f"demande {self.placer}, accession {item.accession_number}, "
            f"Study Instance UID {item.study_instance_uid}"
        )
        step.details.append(
            f"worklist: {change.action.value} SPS {item.sps_id} {item.modality} sur "
            f"{item.station_ae_title} le {item.start:%d/%m/%Y à %H:%M}, INS {item.ins.value}"
        )

    def worklist(self, step: DemoStep) -> None:
        from pydicom import Dataset
        from pynetdicom import AE

        from segur_ris.dicom import MODALITY_WORKLIST_FIND, guard_scu

        query = Dataset()
        query.PatientName = ""
        query.PatientID = ""
        query.PatientBirthDate = ""
        query.PatientSex = ""
        query.AccessionNumber = ""
        query.StudyInstanceUID = ""
        query.OtherPatientIDsSequence = []
        sps = Dataset()
        sps.Modality = "CT"
        sps.ScheduledStationAETitle = "CT1"
        sps.ScheduledProcedureStepStartDate = self.now.strftime("%Y%m%d")
        sps.ScheduledProcedureStepID = ""
        query.ScheduledProcedureStepSequence = [sps]
        self._write(step, "c-find.query.json", _json(query.to_json_dict()))
        ae = AE(ae_title="CT1")
        ae.add_requested_context(MODALITY_WORKLIST_FIND)
        ae.acse_timeout = ae.dimse_timeout = ae.network_timeout = 10
        mwl = self.suite.mwl
        association = ae.associate("127.0.0.1", mwl.port, ae_title=mwl.ae_title)
        _expect(association.is_established, "association DICOM refusée")
        guard_scu(association)  # pynetdicom 3.0 SCU race on fast answers
        answers: list[Any] = []
        statuses: list[int] = []
        try:
            for status, identifier in association.send_c_find(query, MODALITY_WORKLIST_FIND):
                if status:
                    statuses.append(int(status.Status))
                if identifier is not None:
                    answers.append(identifier)
        finally:
            association.release()
            ae.shutdown()
        _expect(bool(statuses) and statuses[-1] == 0x0000, f"statuts C-FIND {statuses}")
        item = self.state["item"]
        mine = [a for a in answers if a.AccessionNumber == item.accession_number]
        _expect(len(mine) == 1, f"{len(answers)} réponse(s), aucune pour {item.accession_number}")
        answer = mine[0]
        self._write(step, "c-find.answer.json", _json(answer.to_json_dict()))
        _expect(answer.StudyInstanceUID == item.study_instance_uid, "Study Instance UID")
        step.details.append(
            f"association CT1 → {mwl.ae_title}@127.0.0.1:{mwl.port}, "
            f"{len(answers)} élément(s), statut final 0x0000"
        )
        others = [o.PatientID for o in answer.get("OtherPatientIDsSequence", [])]
        step.details.append(
            f"PatientName {answer.PatientName}, PatientID {answer.PatientID}"
            + (f" (autres: {', '.join(others)})" if others else "")
        )
        step.details.append(
            f"AccessionNumber {answer.AccessionNumber}, StudyInstanceUID {answer.StudyInstanceUID}"
        )

    def psc(self, step: DemoStep) -> None:
        from segur_ris.psc import PscClient, PscConfig
        from segur_ris.sandbox import SANDBOX_CLIENT_ID, SANDBOX_CLIENT_SECRET, SANDBOX_REDIRECT_URI

        provider = self.suite.psc
        config = PscConfig(
            issuer=provider.issuer,
            client_id=SANDBOX_CLIENT_ID,
            client_secret=SANDBOX_CLIENT_SECRET,
            redirect_uri=SANDBOX_REDIRECT_URI,
        )
        client = PscClient(config, trust=self.suite.pki.ca_cert)
        self.state["psc_client"] = client
        request = client.authorization_url(login_hint="radiologue")
        self.tokens = client.exchange_code(request, provider.sign_in(request.url))
        user = client.userinfo(self.tokens)
        _expect(user.rpps is not None, "professionnel sans RPPS")
        self.state["user"] = user
        self._write(step, "professionnel.json", _json(user.as_dict()))
        step.details.append(
            "code d'autorisation (PKCE S256, acr eidas1) échangé, jeton d'identité vérifié "
            "(jetons gardés en mémoire, jamais écrits)"
        )
        step.details.append(f"{user.display_name}: IdNat {user.national_id}, RPPS {user.rpps}")
        for exercice in user.exercices:
            structures = ", ".join(a.raison_sociale for a in exercice.activities)
            step.details.append(
                f"profession {exercice.profession}, savoir-faire {exercice.savoir_faire}: "
                f"{structures}"
            )

    def report(self, step: DemoStep) -> None:
        from segur_ris.cda import build_cda_n1, build_cda_n3, read_cda
        from segur_ris.pdf import check_pdfa, render_report_pdf
        from segur_ris.report import ImagingReport

        item, user, identity = self.state["item"], self.state["user"], self.state["identity"]
        data = _report_template()
        data["document_id"] = f"{_UID_ROOT}.9.{uuid.uuid4().int % 10**15}"
        data["effective_time"] = self.now.isoformat()
        data["ipp"] = self.ipp
        data["exam"].update(
            accession_number=item.accession_number,
            accession_issuer=item.accession_issuer_oid,
            study_instance_uid=item.study_instance_uid,
            start=self.now.isoformat(),
            end=(self.now + dt.timedelta(minutes=15)).isoformat(),
        )
        data["order"]["placer_number"] = self.placer
        data["author"].update(
            rpps=user.rpps,
            family=user.family_name,
            given=user.given_name,
            telecom=f"mailto:{_RADIOLOGIST_MAIL}",
        )
        report = ImagingReport.from_dict(data)
        report = dataclasses.replace(report, patient=identity)
        pdf = render_report_pdf(report)
        cda_n1 = build_cda_n1(report, pdf, ins_oid=self.ins_oid)
        cda_n3 = build_cda_n3(report, ins_oid=self.ins_oid)
        self._write(step, "cri.pdf", pdf)
        self._write(step, "cri-n1.xml", cda_n1)
        self._write(step, "cri-n3.xml", cda_n3)
        pdfa = check_pdfa(pdf)
        _expect(pdfa.ok, "PDF/A non conforme")
        step.details.append(f"PDF/A-1b: {len(pdf)} octets, conforme")
        for name, document in (("N1", cda_n1), ("N3", cda_n3)):
            doc = read_cda(document)
            _expect(doc.study_instance_uids == (item.study_instance_uid,), "Study UID du CDA")
            _expect(doc.accession_number == item.accession_number, "accession du CDA")
            _expect(doc.patient.ins == identity.ins.value, "INS du CDA")
            step.details.append(
                f"CDA {name}: {len(document)} octets, id {report.document_id}, "
                f"INS {doc.patient.ins} ({doc.patient.ins_oid}), auteur "
                f"{user.display_name}, accession {doc.accession_number}"
            )
        self.state.update(report=report, pdf=pdf, cda_n1=cda_n1, cda_n3=cda_n3)

    def validate(self, step: DemoStep) -> None:
        from segur_ris.cda import read_cda

        documents = {"cri-n1.xml": self.state["cda_n1"]}
        if "cda_n3" in self.state:
            documents["cri-n3.xml"] = self.state["cda_n3"]
        if self.kit is None:
            for name, data in documents.items():
                doc = read_cda(data)
                body = (
                    f"PDF/A embarqué de {len(doc.pdf)} octets"
                    if doc.pdf
                    else f"{len(doc.sections)} section(s)"
                )
                step.details.append(f"{name}: relu (niveau {doc.level}, {body})")
            step.details.append(
                "validation XSD + schématrons ANS NON FAITE: donner --kit (dépôt "
                "TestContenuCDA 3.0) ou $SEGUR_RIS_TESTCONTENUCDA"
            )
            self._write(step, "validation.json", _json({"validation": "non faite"}))
            return
        from segur_ris.cda import CdaValidator

        validator = CdaValidator(self.kit, cache_dir=self.schematron_cache)
        reports: dict[str, Any] = {}
        failed = []
        for name, data in documents.items():
            result = validator.validate(data)
            reports[name] = {
                "ok": result.ok,
                "schematrons": list(result.schematrons),
                "errors": [f"{f.source} {f.rule}: {f.message}" for f in result.errors],
                "warnings": [f"{f.source} {f.rule}: {f.message}" for f in result.warnings],
            }
            step.details.append(
                f"{name}: XSD + {len(result.schematrons)} schématron(s): "
                f"{len(result.errors)} erreur(s), {len(result.warnings)} avertissement(s)"
            )
            for finding in result.errors[:5]:
                step.details.append(f"  {finding.source} {finding.rule}: {finding.message}")
            if not result.ok:
                failed.append(name)
        self._write(step, "validation.json", _json(reports))
        _expect(not failed, f"CDA non conforme(s): {', '.join(failed)}")

    def _dmp(self, vihf: Any) -> Any:
        from segur_ris.dmp import DmpClient

        assert self.recorder is not None
        return DmpClient(
            self.settings,
            vihf=vihf,
            sign_credential=self.suite.org.sign.credential,
            transport=self.recorder,
        )

    def dmp_submit(self, step: DemoStep) -> None:
        from segur_ris.vihf import VihfContext

        identity = self.state["identity"]
        user = self.state.get("user")
        if user is not None:  # the radiologist, signed in with PSC, through the RIS
            vihf = VihfContext.for_psc_user(self.settings, user)
            who = f"VIHF {vihf.mode} de {user.display_name} (PSC), signé ORG SIGN"
        else:
            vihf = VihfContext.for_automate(
                self.settings, secteur_activite=_SECTEUR_CABINET, responsible_id="899900018476"
            )
            who = f"VIHF {vihf.mode} (automate)"
        dmp = self._dmp(vihf)
        self.state["dmp"] = dmp
        self._record(step)
        ins = identity.ins.value
        status = dmp.exists(ins)
        _expect(status.exists, "le patient n'a pas de DMP")
        step.details.append(f"TD0.2: DMP existant pour {dmp.patient_id(ins)} ({who})")
        result = dmp.submit(self.state["cda_n1"], hide_from_patient=True)
        entry = dmp.entry(ins, result.unique_id)
        codes = [c.code for c in entry.confidentiality_codes]
        _expect("INVISIBLE_PATIENT" in codes, f"confidentialité {codes}")
        self.state["dmp_entry"] = entry
        self.state["dmp_result"] = result
        step.details.append(
            f"TD2.1: CR {result.unique_id} + signature XAdES, réponse "
            f"{result.response.status.rsplit(':', 1)[-1]}"
        )
        step.details.append(f"TD3.1: entrée {entry.entry_uuid} v{entry.version}, {codes}")

    def _mss(self) -> tuple[Any, Any]:
        from segur_ris.mssante import ImapClient, SmtpTransport, XOAuth2
        from segur_ris.tls import client_context

        _expect(self.tokens is not None, "pas de session Pro Santé Connect")
        tokens = self.tokens
        auth = XOAuth2(_RADIOLOGIST_MAIL, lambda: tokens.access_token)
        context = client_context(trust=self.suite.pki.ca_cert)
        box = self.suite.mssante
        smtp = SmtpTransport("127.0.0.1", box.smtp_port, auth=auth, context=context, timeout=10)
        imap = ImapClient("127.0.0.1", box.imap_port, auth=auth, context=context, timeout=10)
        return smtp, imap

    def _send_mail(self, step: DemoStep, **options: Any) -> None:
        from segur_ris.mssante import MailDocument, build_mail, read_xdm

        mail = build_mail(
            [MailDocument(cda=self.state["cda_n1"], pdf=self.state["pdf"])],
            sender=_RADIOLOGIST_MAIL,
            nil=_NIL,
            patient=self.state["identity"],
            read_ack=True,
            **options,
        )
        self._write(step, "message.eml", mail.to_bytes())
        for part in mail.message.iter_attachments():
            payload = part.get_payload(decode=True)
            if part.get_filename() == "IHE_XDM.zip" and isinstance(payload, bytes):
                self._write(step, "IHE_XDM.zip", payload)
                package = read_xdm(payload)
                step.details.append(
                    f"IHE_XDM.zip: {len(package.documents)} document(s), patientId "
                    f"{package.documents[0].entry.patient_id}"
                )
        smtp, _imap = self._mss()
        with smtp:
            result = smtp.send(mail)
        _expect(not result.refused, f"refusé: {dict(result.refused)}")
        self.state.setdefault("mails", []).append(result)
        step.details.append(
            f"XOAUTH2 avec le jeton PSC de {_RADIOLOGIST_MAIL}, STARTTLS, "
            f"DSN {'demandé' if result.dsn_requested else 'non annoncé'}, MDN demandé"
        )
        step.details.append(
            f"{result.message_id}: {result.size} octets, accepté pour {', '.join(result.accepted)}"
        )

    def mail_prescriber(self, step: DemoStep) -> None:
        self._send_mail(step, recipients=[_PRESCRIBER_MAIL])

    def announce(self, step: DemoStep) -> None:
        dmp = self.state["dmp"]
        self._record(step)
        entry = self.state["dmp_entry"]
        shown = dmp.set_visibility(entry, patient=True)
        ins = self.state["identity"].ins.value
        current = dmp.entry(ins, entry.unique_id)
        codes = [c.code for c in current.confidentiality_codes]
        _expect("INVISIBLE_PATIENT" not in codes, f"toujours masqué: {codes}")
        self.state["announced"] = current
        step.details.append(
            "le radiologue a annoncé le résultat au patient: mise à jour des métadonnées (ITI-57)"
        )
        step.details.append(
            f"version {entry.version} → {shown.version or current.version}, confidentialité {codes}"
        )

    def mail_patient(self, step: DemoStep) -> None:
        from segur_ris.mssante import patient_address

        address = patient_address(self.state["identity"])
        self._send_mail(step, to_patient=True)
        step.details.append(f"adresse Mon espace santé construite depuis l'INS qualifié: {address}")

    def acknowledgements(self, step: DemoStep) -> None:
        _smtp, imap = self._mss()
        with imap:
            messages = [m for m in imap.fetch_unseen() if m.is_report]
            batch = imap.fetch_acknowledgements(mark_seen=True)
        for index, message in enumerate(messages, start=1):
            self._write(step, f"accuse-{index:02d}.eml", message.data)
        _expect(not batch.rejected, f"accusés illisibles: {batch.rejected}")
        sent = {r.message_id: r for r in self.state["mails"]}
        expected = sum(len(r.accepted) * int(r.dsn_requested) for r in sent.values()) + 1
        acks = [received.ack for received in batch.acks]
        rows = []
        for ack in acks:
            _expect(ack.original_message_id in sent, f"accusé d'un autre message: {ack}")
            state = "succès" if ack.success else f"ÉCHEC {ack.error_code} {ack.error_text}"
            step.details.append(f"{ack.kind.upper()} {ack.status} de {ack.recipient}: {state}")
            rows.append(
                {
                    "kind": ack.kind,
                    "status": ack.status,
                    "success": ack.success,
                    "recipient": ack.recipient,
                    "original_message_id": ack.original_message_id,
                    "reporter": ack.reporter,
                }
            )
        self._write(step, "accuses.json", _json(rows))
        _expect(all(a.success for a in acks), "accusé négatif")
        _expect(len(acks) >= expected, f"{len(acks)} accusé(s) sur {expected} attendus")
        _expect(any(a.kind == "mdn" for a in acks), "pas de MDN de Mon espace santé")

    def _dmp_ris(self) -> Any:
        """The RIS's own DMP client (VIHF of the structure's automaton), made once."""
        from segur_ris.vihf import VihfContext

        if "dmp_ris" not in self.state:
            vihf = VihfContext.for_automate(
                self.settings,
                secteur_activite=_SECTEUR_CABINET,
                responsible_id=self.settings.structure.id,
            )
            self.state["dmp_ris"] = self._dmp(vihf)
        return self.state["dmp_ris"]

    def consult(self, step: DemoStep) -> None:
        dmp = self._dmp_ris()
        vihf = dmp.vihf
        self._record(step)
        ins = self.state["identity"].ins.value
        entries = dmp.find(ins)
        _expect(bool(entries), "aucun document")
        step.details.append(
            f"TD3.1 FindDocuments (VIHF {vihf.mode}, automate de la structure): "
            f"{len(entries)} entrée(s)"
        )
        signatures = [e for e in entries if e.type_code is not None and e.type_code.code == "E1762"]
        documents = [e for e in entries if e not in signatures]
        step.details.append(
            f"  dont {len(signatures)} document(s) de signature XAdES (un par soumission)"
        )
        unique_id = self.state["dmp_entry"].unique_id
        for entry in sorted(documents, key=lambda e: e.service_start_time):
            codes = ",".join(c.code for c in entry.confidentiality_codes)
            kind = entry.type_code.code if entry.type_code is not None else "?"
            when = entry.service_start_time
            day = f"{when[6:8]}/{when[4:6]}/{when[:4]}" if len(when) >= 8 else "?"
            which = "examen du jour" if entry.unique_id == unique_id else "examen antérieur"
            step.details.append(
                f"  {which} du {day}: typeCode {kind} {entry.title!r}, confidentialité "
                f"{codes or 'N'}"
            )
        prior = self.state.get("prior_uid")
        _expect(
            prior is None or any(e.unique_id == prior for e in documents),
            "l'examen antérieur n'est pas listé",
        )
        mine = next(e for e in entries if e.unique_id == unique_id)
        data = dmp.get(mine)
        self._write(step, "cr-relu.xml", data)
        _expect(data == self.state["cda_n1"], "le CR relu diffère du CR envoyé")
        step.details.append(f"TD3.2: CR {unique_id} relu, {len(data)} octets identiques")

    def kos(self, step: DemoStep) -> None:
        from pydicom import dcmread

        from segur_ris.dicom import KosInstance, KosSeries, build_kos, study_from_worklist_item
        from segur_ris.xds import document_entry_from_kos

        item = self.state["item"]
        series_uid = f"2.25.{uuid.uuid4().int}"
        series = (  # what the modality stored in the PACS (DRIMbox Source)
            KosSeries(
                series_uid,
                item.modality,
                tuple(KosInstance(_CT_IMAGE, f"2.25.{uuid.uuid4().int}") for _ in range(3)),
            ),
        )
        study = study_from_worklist_item(
            item, series=series, retrieve_url=_WADO, placer_order_issuer=_PLACER_OID
        )
        kos = build_kos(study, description="TDM thorax")
        self._write(step, "kos.dcm", kos)
        report_entry = self.state["dmp_result"].entry
        entry = document_entry_from_kos(
            kos,
            environment_ins_oid=self.settings.environment.ins,
            report_entry=report_entry,
            entry_uuid="DocumentKOS",
        )
        self._write(step, "kos-entry.json", _json(dataclasses.asdict(entry)))
        dmp = self._dmp_ris()  # the RIS indexes the images of its exam
        self._record(step)
        dmp.submit_document(kos, entry)
        found = {e.unique_id: e for e in dmp.find(self.state["identity"].ins.value)}
        indexed = found.get(entry.unique_id)
        if indexed is None:
            raise AssertionError("KOS introuvable dans le DMP")
        cr = found[report_entry.unique_id]
        _expect(
            set(indexed.reference_ids) == set(cr.reference_ids),
            "referenceIdList du KOS différente de celle du CR",
        )
        manifest = dcmread(_bytes_io(kos))
        step.details.append(
            f"KOS {entry.unique_id}: étude {manifest.StudyInstanceUID}, accession "
            f"{manifest.AccessionNumber}, {len(series[0].instances)} instance(s), WADO-RS "
            f"{manifest.RetrieveURL}"
        )
        step.details.append(
            f"TD2.1 XDS-I.b: {indexed.mime_type}, typeCode "
            f"{indexed.type_code.code if indexed.type_code else '?'}, même referenceIdList que "
            f"le CR ({len(cr.reference_ids)} référence(s)): le DRIMbox relie CR et images"
        )


def _bytes_io(data: bytes) -> Any:
    import io

    return io.BytesIO(data)


def _report_template() -> dict[str, Any]:
    """The report content (the same exam as ``examples/report.json``); the identifiers come
    from the order, the patient from the qualified identity, the author from PSC."""
    return {
        "document_id": "",
        "effective_time": "",
        "patient": {  # replaced by the qualified identity
            "nom_naissance": "PAT-TROIS",
            "prenoms": "DOMINIQUE",
            "sexe": "F",
            "date_naissance": "1979-03-28",
            "ins": {"matricule": "279035121518989", "oid": "1.2.250.1.213.1.4.10"},
            "justificatif": "CN",
        },
        "ipp": "",
        "ipp_oid": _IPP_OID,
        "exam": {
            "accession_number": "",
            "accession_issuer": _ACCESSION_OID,
            "study_instance_uid": "",
            "modalities": ["CT"],
            "exam_code": {
                "code": "24627-2",
                "system": "2.16.840.1.113883.6.1",
                "display": "TDM Thorax",
            },
            "ccam_acts": [
                {
                    "code": "ZBQK002",
                    "system": "1.2.250.1.215.300.1",
                    "display": "Scanographie du thorax",
                }
            ],
            "anatomical_region": {
                "code": "302551006",
                "system": "2.16.840.1.113883.6.96",
                "display": "Thorax entier",
            },
            "start": "",
            "end": "",
        },
        "order": {
            "placer_number": "",
            "placer_issuer": _PLACER_OID,
            "prescriber": {
                "rpps": "99900031124",
                "family": "GENERALISTE-SANDBOX",
                "given": "Jeanne",
                "specialty": {
                    "code": "G15_10/SM54",
                    "system": "1.2.250.1.213.1.1.4.5",
                    "display": "Médecine générale",
                },
            },
        },
        "author": {"rpps": "", "family": "", "given": "", "prefix": "Dr", "telecom": ""},
        "custodian": {"identifier": "750000001", "name": "Centre d'imagerie de démonstration"},
        "facility": {
            "organization": {
                "identifier": "750000001",
                "name": "Centre d'imagerie de démonstration",
            }
        },
        "sections": [
            {"kind": "informations_cliniques", "text": "Toux persistante depuis trois semaines."},
            {
                "kind": "technique",
                "text": "Acquisition hélicoïdale thoracique sans injection de produit de "
                "contraste.",
            },
            {
                "kind": "resultats",
                "text": "Pas de nodule ni de masse pulmonaire.\n\nPas d'épanchement pleural.",
            },
            {"kind": "conclusion", "text": "Examen tomodensitométrique thoracique normal."},
        ],
    }
