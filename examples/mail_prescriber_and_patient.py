"""Mail a CR-IMG by MSSanté to the prescriber and to the patient, then read the acknowledgements.

Run: ``python examples/mail_prescriber_and_patient.py``. It starts the sandbox Pro Santé Connect
and MSSanté operator (SMTP + IMAP over STARTTLS on 127.0.0.1, test PKI), signs the radiologist
in with PSC, sends one mail to the prescriber (read acknowledgement asked) and one to the
patient's Mon espace santé mailbox (``X-MSS-MES: FIN``: the patient may not answer), authenticated
with SASL ``XOAUTH2`` and the PSC access token, reads the MDN/DSN over IMAP and shows the HL7
``ZAM`` each one maps to. Against a real operator, use its SMTP/IMAP hosts and the IGC Santé
roots (``segur_ris.tls.client_context``), the PSC test or production realm
(``segur_ris.psc.PSC_TEST``) and your ``X-MSS-NIL`` product reference; a *BAL applicative*
authenticates with its ORG certificate instead (``CertificateAuth``).
"""

from __future__ import annotations

import json
import time
from pathlib import Path

from segur_ris.cda import build_cda_n1
from segur_ris.hl7v2 import (
    Author,
    CdaTransmission,
    DocumentFlags,
    DocumentId,
    Organization,
    Practitioner,
    Recipient,
    build_cda_oru,
    parse_message,
)
from segur_ris.mssante import (
    ImapClient,
    MailDocument,
    ReceivedAck,
    SmtpTransport,
    XOAuth2,
    ack_to_zam,
    build_mail,
    patient_address,
)
from segur_ris.pdf import render_report_pdf
from segur_ris.psc import PscClient, PscConfig
from segur_ris.report import ImagingReport
from segur_ris.sandbox import (
    SANDBOX_CLIENT_ID,
    SANDBOX_CLIENT_SECRET,
    SANDBOX_REDIRECT_URI,
    SandboxSuite,
)
from segur_ris.tls import client_context

HERE = Path(__file__).resolve().parent
PRESCRIBER = "prescripteur.medecin@medecin-demo.mssante.fr"
NIL = "SANDBOX-SEGUR-RIS"  # X-MSS-NIL: the product reference the ANS gives the software
WAIT = 30.0  # seconds to wait for the acknowledgements (the sandbox files them at once)


def main() -> int:
    report = ImagingReport.from_dict(json.loads((HERE / "report.json").read_text("utf-8")))
    pdf = render_report_pdf(report)
    cda = build_cda_n1(report, pdf)
    identity = report.patient  # qualifiée: INSi-verified INS and an identity document
    sender = report.author.telecom.removeprefix("mailto:")
    to_patient = patient_address(identity)
    print(f"CR-IMG N1: {len(cda)} octets, expéditeur {sender}")

    with SandboxSuite(services=("psc", "mssante")) as sandbox:
        # let the prescriber open the mail (MDN "displayed"); the sandbox's Mon espace santé
        # already has the demo patient's mailbox
        sandbox.mssante.core.pro_displayed_mdn = True

        # 1. the radiologist signs in with Pro Santé Connect (the sandbox plays the browser)
        config = PscConfig(
            issuer=sandbox.psc.issuer,
            client_id=SANDBOX_CLIENT_ID,
            client_secret=SANDBOX_CLIENT_SECRET,
            redirect_uri=SANDBOX_REDIRECT_URI,
        )
        with PscClient(config, trust=sandbox.pki.ca_cert) as psc:
            request = psc.authorization_url(login_hint="radiologue")
            tokens = psc.exchange_code(request, sandbox.psc.sign_in(request.url))
            user = psc.userinfo(tokens)
        print(f"PSC: connecté {user.display_name} (RPPS {user.rpps})")

        # 2. two mails: the prescriber (read acknowledgement) and the patient (no reply)
        document = MailDocument(cda=cda, pdf=pdf)
        to_prescriber = build_mail(
            [document], sender=sender, recipients=[PRESCRIBER], nil=NIL, read_ack=True
        )
        to_mes = build_mail(
            [document],
            sender=sender,
            recipients=[to_patient],
            nil=NIL,
            patient=identity,
            patient_may_reply=False,
            read_ack=True,
        )
        auth = XOAuth2(sender, lambda: tokens.access_token)  # read at each login, never logged
        context = client_context(trust=sandbox.pki.ca_cert)
        mssante = sandbox.mssante
        with SmtpTransport("127.0.0.1", mssante.smtp_port, auth=auth, context=context) as smtp:
            for mail in (to_prescriber, to_mes):
                result = smtp.send(mail)
                print(
                    f"envoyé {result.message_id} à {', '.join(result.accepted)} "
                    f"({result.size} octets, DSN demandé: {result.dsn_requested}, "
                    f"refusés: {len(result.refused)})"
                )
        mes = to_mes.message["X-MSS-MES"]
        print(f"courriel patient: X-MSS-MES: {mes}")

        # 3. the acknowledgements come back to the sender's mailbox
        expected = 4  # per mail: DSN "delivered" + MDN (processed / displayed)
        acks: list[ReceivedAck] = []
        deadline = time.monotonic() + WAIT
        with ImapClient("127.0.0.1", mssante.imap_port, auth=auth, context=context) as imap:
            while len(acks) < expected and time.monotonic() < deadline:
                batch = imap.fetch_acknowledgements()
                for uid, reason in batch.rejected:
                    print(f"accusé illisible UID {uid}: {reason}")
                acks += batch.acks
                if len(acks) < expected:
                    time.sleep(1.0)

    # 4. each acknowledgement as the ZAM the RIS returns to its HL7 peer
    oru = build_cda_oru(transmission(report, cda, PRESCRIBER))
    names = {to_prescriber.message_id: "prescripteur", to_mes.message_id: "patient"}
    failed = len(acks) < expected
    for received in acks:
        ack = received.ack
        linked = names.get(ack.original_message_id, "inconnu")
        state = "ok" if ack.success else f"échec {ack.error_code or ack.enhanced_status}"
        print(
            f"accusé {ack.kind.upper()} {ack.status} de {ack.recipient}: {state}, "
            f"lié à {ack.original_message_id} ({linked})"
        )
        zam = parse_message(ack_to_zam(ack, oru))
        obx = zam.segment("OBX")
        what = f"{obx.raw(3)} = {obx.get(5)}" if obx is not None else "?"
        print(f"  -> {zam.msh.raw(9)}: {what}")
        failed = failed or not ack.success or linked == "inconnu"
    print(f"{len(acks)} accusé(s) reçu(s) sur {expected}")
    return 1 if failed else 0


def transmission(report: ImagingReport, cda: bytes, prescriber: str) -> CdaTransmission:
    """The ORU^R01 that asked for the mails (RIS → PFI), which the ZAM answers."""
    author = report.author
    organization = report.custodian
    return CdaTransmission(
        patient=report.patient,
        cda=cda,
        document_id=DocumentId(report.document_id),
        author=Author(
            Practitioner(author.rpps, author.family, author.given),
            Organization(organization.name, organization.identifier),
        ),
        recipients=(Recipient(prescriber),),
        flags=DocumentFlags(
            dest_mssante_pat=True, patient_no_reply=True, ack_reception=True, ack_lecture_mss=True
        ),
        ins_oid=report.patient.qualified_ins().oid,
    )


if __name__ == "__main__":
    raise SystemExit(main())
