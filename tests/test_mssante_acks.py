"""MDN (RFC 8098) and DSN (RFC 3464): build → parse, real-world shapes, ZAM Z02/Z03."""

from __future__ import annotations

import datetime as _dt
import email
from email import policy
from email.message import EmailMessage
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from segur_ris.errors import Hl7Error, MssanteAckError
from segur_ris.hl7v2 import ZamMessage, parse_message, read_message
from segur_ris.mssante import (
    MailDocument,
    ack_to_zam,
    build_dsn,
    build_mail,
    build_mdn,
    parse_acknowledgement,
    parse_acknowledgements,
)
from tests.conftest import ref_file
from tests.mssante_a_fixtures import (
    NIL,
    PATIENT_ADDRESS,
    PS,
    SENDER,
    SUBJECT,
    WHEN,
    cda_n1,
    pdf,
    qualified,
)

MSGID = "<cri-1@imagerie.mssante.fr>"
LATER = WHEN + _dt.timedelta(minutes=5)
ORU = (
    "hl7/ansforge_hl7V2-exemples/Vague 2/Trans_Doc-CDA-HL7V2/TRANSMISSION_DOCS_CDA_EN_HL7V2_V2.1/"
    "ORU/Transmission initiale ORU/message_ORU_CR_Bio_INIT_N3_SEGUR.hl7"
)
ANS_MDN = (
    "mss/ansforge_IG-hl7v2-volet-trans-lps-doc-cda-courriel-mss/input/pagecontent/"
    "struct-msg-mdn.md.extracted/mdn_example.eml.txt"
)


@pytest.fixture(scope="module")
def original() -> bytes:
    return build_mail(
        [MailDocument(cda_n1(), pdf())],
        sender=SENDER,
        recipients=[PS],
        nil=NIL,
        patient=qualified(),
        to_patient=True,
        read_ack=True,
        message_id=MSGID,
        date=WHEN,
    ).to_bytes()


@pytest.fixture(scope="module")
def oru(ref_dir: Path) -> bytes:
    return ref_file(ref_dir, ORU).read_bytes()


def _report(data: bytes) -> EmailMessage:
    message = email.message_from_bytes(data, policy=policy.default)
    assert isinstance(message, EmailMessage)
    return message


# --- MDN ------------------------------------------------------------------------------------


def test_mdn_processed_round_trip(original: bytes) -> None:
    data = build_mdn(
        original,
        reporting_ua="mes.example; Mon-espace-sante",
        final_recipient=PATIENT_ADDRESS,
        date=LATER,
        message_id="<mdn-1@patient.mssante.fr>",
    )
    report = _report(data)
    assert report.get_content_type() == "multipart/report"
    assert report.get_param("report-type") == "disposition-notification"
    parts = list(report.iter_parts())
    assert [p.get_content_type() for p in parts] == [
        "text/plain",
        "message/disposition-notification",
        "text/rfc822-headers",
    ]
    assert report["To"] == SENDER and report["From"] == PATIENT_ADDRESS
    assert report["Subject"] == SUBJECT and report["In-Reply-To"] == MSGID
    assert f"Message-ID: {MSGID}".encode() in data
    assert (
        b"Disposition: automatic-action/MDN-sent-automatically; processed\r\n" in data
        and b"Original-Message-ID: <cri-1@imagerie.mssante.fr>\r\n" in data
    )
    ack = parse_acknowledgement(data)
    assert (ack.kind, ack.status, ack.success, ack.final) == ("mdn", "processed", True, True)
    assert ack.original_message_id == MSGID and ack.recipient == PATIENT_ADDRESS
    assert ack.disposition_mode == "automatic-action/MDN-sent-automatically"
    assert ack.reporter == "mes.example; Mon-espace-sante"
    assert ack.message_id == "<mdn-1@patient.mssante.fr>" and not ack.is_read


def test_mdn_error_round_trip(original: bytes) -> None:
    data = build_mdn(
        _report(original),
        reporting_ua="pfi.example",
        error="902^Identifiant de patient inconnu",
        final_recipient=PS,
        date=LATER,
    )
    assert b"Disposition: automatic-action/MDN-sent-automatically; processed/error\r\n" in data
    assert b"Error: 902^Identifiant de patient inconnu\r\n" in data
    assert _report(data)["Subject"] == f"[KO Intégration système !][902] {SUBJECT}"
    ack = parse_acknowledgement(data)
    assert (ack.status, ack.success, ack.modifiers) == ("processed", False, ("error",))
    assert (ack.error_code, ack.error_text) == ("902", "Identifiant de patient inconnu")
    assert ack.original_message_id == MSGID


def test_mdn_displayed_and_deleted(original: bytes) -> None:
    shown = parse_acknowledgement(
        build_mdn(
            original,
            reporting_ua="webmail",
            disposition="displayed",
            mode="manual-action/MDN-sent-manually",
        )
    )
    assert shown.is_read and shown.success and shown.recipient == PS
    deleted = parse_acknowledgement(build_mdn(original, reporting_ua="x", disposition="deleted"))
    assert deleted.status == "deleted" and not deleted.success


def test_mdn_in_the_ans_form(ref_dir: Path) -> None:
    """The ANS volet writes the error inside ``Disposition`` (``processed/Error: code^…``):
    its sample line, in an RFC-valid envelope."""
    sample = ref_file(ref_dir, ANS_MDN).read_text("utf-8")
    line = next(x for x in sample.splitlines() if x.startswith("Disposition:"))
    data = (
        "From: serviceY_auto@chb.mssante.fr\r\n"
        "To: serviceY@chb.mssante.fr\r\n"
        "Message-ID: <199509200019.12345@chb.mssante.fr>\r\n"
        "Subject: [KO Integration systeme !][902] XDM/1.0/DDM+ECHOGRAPHIE\r\n"
        "MIME-Version: 1.0\r\n"
        'Content-Type: multipart/report; report-type=disposition-notification; boundary="B"\r\n'
        "\r\n--B\r\nContent-Type: text/plain\r\n\r\nLe document n'a pas pu etre integre.\r\n"
        "--B\r\nContent-Type: message/disposition-notification\r\n\r\n"
        "Original-Recipient: rfc822;serviceY_auto@chb.mssante.fr\r\n"
        "Final-Recipient: rfc822; serviceY_auto@chb.mssante.fr\r\n"
        "Original-Message-ID: <199509192301.23456@chb.mssante.fr>\r\n"
        f"{line}\r\n"
        "--B--\r\n"
    ).encode()
    ack = parse_acknowledgement(data)
    assert ack.kind == "mdn" and not ack.success
    assert (ack.error_code, ack.error_text) == ("902", "Identifiant de patient inconnu")
    assert ack.original_message_id == "<199509192301.23456@chb.mssante.fr>"
    assert ack.recipient == ack.original_recipient == "serviceY_auto@chb.mssante.fr"


RFC8098_MDN = (
    b"Date: Wed, 20 Sep 1995 00:19:00 (EDT) -0400\r\n"
    b"From: Joe Recipient <Joe_Recipient@example.com>\r\n"
    b"Message-Id: <199509200019.12345@example.com>\r\n"
    b"Subject: Disposition notification\r\n"
    b"To: Jane Sender <Jane_Sender@example.org>\r\n"
    b"MIME-Version: 1.0\r\n"
    b"Content-Type: multipart/report; report-type=disposition-notification;\r\n"
    b'\tboundary="RAA14128.773615765/example.com"\r\n'
    b"\r\n"
    b"--RAA14128.773615765/example.com\r\n"
    b"\r\n"
    b"The message sent on 1995 Sep 19 at 13:30:00 (EDT) -0400 to Joe\r\n"
    b'Recipient <Joe_Recipient@example.com> with subject "First draft of\r\n'
    b'report" has been displayed.\r\n'
    b"\r\n"
    b"--RAA14128.773615765/example.com\r\n"
    b"content-type: message/disposition-notification\r\n"
    b"\r\n"
    b"Reporting-UA: joes-pc.cs.example.com; Foomail 97.1\r\n"
    b"Original-Recipient: rfc822;Joe_Recipient@example.com\r\n"
    b"Final-Recipient: rfc822;Joe_Recipient@example.com\r\n"
    b"Original-Message-ID: <199509192301.23456@example.org>\r\n"
    b"Disposition: manual-action/MDN-sent-manually; displayed\r\n"
    b"\r\n"
    b"--RAA14128.773615765/example.com\r\n"
    b"content-type: message/rfc822\r\n"
    b"\r\n"
    b"Message-ID: <199509192301.23456@example.org>\r\n"
    b"Subject: First draft of report\r\n"
    b"\r\n"
    b"body\r\n"
    b"--RAA14128.773615765/example.com--\r\n"
)


def test_rfc8098_example() -> None:
    ack = parse_acknowledgement(RFC8098_MDN)
    assert (ack.kind, ack.status, ack.success, ack.is_read) == ("mdn", "displayed", True, True)
    assert ack.original_message_id == "<199509192301.23456@example.org>"
    assert ack.recipient == "Joe_Recipient@example.com"
    assert ack.disposition_mode == "manual-action/MDN-sent-manually"
    assert ack.reporter == "joes-pc.cs.example.com; Foomail 97.1"


# --- DSN ------------------------------------------------------------------------------------


def test_dsn_failed_round_trip(original: bytes) -> None:
    data = build_dsn(
        original,
        reporting_mta="mx.patient.mssante.fr",
        recipient=PATIENT_ADDRESS,
        action="failed",
        status="5.2.2",
        diagnostic="552 5.2.2 Message size exceeds fixed maximum message size",
        envelope_id="cri-1@imagerie.mssante.fr",
        remote_mta="mes.mssante.fr",
        arrival_date=WHEN,
        date=LATER,
    )
    report = _report(data)
    assert report.get_param("report-type") == "delivery-status"
    assert [p.get_content_type() for p in report.iter_parts()] == [
        "text/plain",
        "message/delivery-status",
        "text/rfc822-headers",
    ]
    assert report["From"] == "MAILER-DAEMON@mx.patient.mssante.fr" and report["To"] == SENDER
    assert report["Subject"] == "Undelivered Mail Returned to Sender"
    for line in (
        b"Reporting-MTA: dns; mx.patient.mssante.fr",
        b"Original-Envelope-Id: cri-1@imagerie.mssante.fr",
        b"Action: failed",
        b"Status: 5.2.2",
        b"Remote-MTA: dns; mes.mssante.fr",
    ):
        assert line + b"\r\n" in data
    ack = parse_acknowledgement(data)
    assert (ack.kind, ack.status, ack.success) == ("dsn", "failed", False)
    assert ack.original_message_id == MSGID and ack.recipient == PATIENT_ADDRESS
    assert (ack.enhanced_status, ack.error_code) == ("5.2.2", "552")
    assert ack.error_text == "Message size exceeds fixed maximum message size"
    assert ack.envelope_id == "cri-1@imagerie.mssante.fr"
    assert ack.reporter == "dns; mx.patient.mssante.fr"


def test_dsn_delivered_and_delayed(original: bytes) -> None:
    delivered = parse_acknowledgement(
        build_dsn(
            original, reporting_mta="mx.example", recipient=PS, action="delivered", status="2.0.0"
        )
    )
    assert delivered.success and delivered.final and delivered.error_code == ""
    assert delivered.original_message_id == MSGID
    delayed = parse_acknowledgement(
        build_dsn(
            original,
            reporting_mta="mx.example",
            recipient=PS,
            action="delayed",
            status="4.4.1",
            diagnostic="421 4.4.1 connection timed out",
        )
    )
    assert not delayed.success and not delayed.final and delayed.error_code == "421"


POSTFIX_BOUNCE = (
    b"Return-Path: <>\r\n"
    b"Date: Tue, 24 Nov 2026 11:05:12 +0100 (CET)\r\n"
    b"From: MAILER-DAEMON@smtp.mssante.example (Mail Delivery System)\r\n"
    b"Subject: Undelivered Mail Returned to Sender\r\n"
    b"To: jeanne.radiologue@imagerie.mssante.fr\r\n"
    b"Auto-Submitted: auto-replied\r\n"
    b"MIME-Version: 1.0\r\n"
    b"Content-Type: multipart/report; report-type=delivery-status;\r\n"
    b'\tboundary="4B1F2A0C3E.1732442712/smtp.mssante.example"\r\n'
    b"Message-Id: <20261124100512.4B1F2A0C3E@smtp.mssante.example>\r\n"
    b"\r\n"
    b"This is a MIME-encapsulated message.\r\n"
    b"\r\n"
    b"--4B1F2A0C3E.1732442712/smtp.mssante.example\r\n"
    b"Content-Description: Notification\r\n"
    b"Content-Type: text/plain; charset=us-ascii\r\n"
    b"\r\n"
    b"I'm sorry to have to inform you that your message could not\r\n"
    b"be delivered to one or more recipients.\r\n"
    b"\r\n"
    b"--4B1F2A0C3E.1732442712/smtp.mssante.example\r\n"
    b"Content-Description: Delivery report\r\n"
    b"Content-Type: message/delivery-status\r\n"
    b"\r\n"
    b"Reporting-MTA: dns; smtp.mssante.example\r\n"
    b"X-Postfix-Queue-ID: 4B1F2A0C3E\r\n"
    b"X-Postfix-Sender: rfc822; jeanne.radiologue@imagerie.mssante.fr\r\n"
    b"Arrival-Date: Tue, 24 Nov 2026 11:05:10 +0100 (CET)\r\n"
    b"\r\n"
    b"Final-Recipient: rfc822; inconnu@test.mssante.fr\r\n"
    b"Original-Recipient: rfc822;inconnu@test.mssante.fr\r\n"
    b"Action: failed\r\n"
    b"Status: 5.1.1\r\n"
    b"Remote-MTA: dns; mx.test.mssante.fr\r\n"
    b"Diagnostic-Code: smtp; 550 5.1.1 <inconnu@test.mssante.fr>: Recipient address\r\n"
    b"    rejected: User unknown in virtual mailbox table\r\n"
    b"\r\n"
    b"Final-Recipient: rfc822; adam.hoda@test-ci-sis.mssante.fr\r\n"
    b"Action: delivered\r\n"
    b"Status: 2.0.0\r\n"
    b"\r\n"
    b"--4B1F2A0C3E.1732442712/smtp.mssante.example\r\n"
    b"Content-Description: Undelivered Message\r\n"
    b"Content-Type: message/rfc822\r\n"
    b"\r\n"
    b"From: jeanne.radiologue@imagerie.mssante.fr\r\n"
    b"To: inconnu@test.mssante.fr, adam.hoda@test-ci-sis.mssante.fr\r\n"
    b"Message-ID: <cri-1@imagerie.mssante.fr>\r\n"
    b"Subject: XDM/1.0/DDM+CR d'imagerie medicale PAT-TROIS DOMINIQUE 28/03/1979\r\n"
    b"\r\n"
    b"Bonjour,\r\n"
    b"\r\n"
    b"--4B1F2A0C3E.1732442712/smtp.mssante.example--\r\n"
)


def test_postfix_shaped_bounce() -> None:
    failed, delivered = parse_acknowledgements(POSTFIX_BOUNCE)
    assert failed.original_message_id == delivered.original_message_id == MSGID
    assert (failed.recipient, failed.status, failed.enhanced_status) == (
        "inconnu@test.mssante.fr",
        "failed",
        "5.1.1",
    )
    assert failed.error_code == "550"
    assert failed.error_text.endswith("User unknown in virtual mailbox table")
    assert failed.original_recipient == "inconnu@test.mssante.fr"
    assert delivered.recipient == PS and delivered.success
    assert parse_acknowledgement(POSTFIX_BOUNCE) == failed


def test_dsn_linked_by_envelope_id() -> None:
    """Without the returned message, the ENVID the client gave (its Message-ID) links it."""
    headless = POSTFIX_BOUNCE.split(b"--4B1F2A0C3E.1732442712/smtp.mssante.example\r\n")
    data = b"--4B1F2A0C3E.1732442712/smtp.mssante.example\r\n".join(headless[:3])
    data = data.replace(
        b"Reporting-MTA: dns; smtp.mssante.example\r\n",
        b"Reporting-MTA: dns; smtp.mssante.example\r\n"
        b"Original-Envelope-Id: cri-1@imagerie.mssante.fr\r\n",
    )
    data += b"--4B1F2A0C3E.1732442712/smtp.mssante.example--\r\n"
    ack = parse_acknowledgement(data)
    assert ack.original_message_id == MSGID and ack.envelope_id == "cri-1@imagerie.mssante.fr"


# --- unreadable acknowledgements ------------------------------------------------------------


def test_unreadable_acknowledgements(original: bytes) -> None:
    def code(data: bytes) -> str | None:
        with pytest.raises(MssanteAckError) as caught:
            parse_acknowledgement(data)
        return caught.value.code

    assert code(original) == "format"  # a plain mail, not a report
    assert code(b"") == "format"
    mdn = build_mdn(original, reporting_ua="x")
    assert code(mdn.replace(b"Disposition: ", b"X-Disposition: ")) == "mdn"
    assert code(mdn.replace(b"; processed\r\n", b"; exploded\r\n")) == "mdn"
    unlinked = RFC8098_MDN.replace(b"\r\nMessage-ID: <199509192301.23456@example.org>", b"")
    unlinked = unlinked.replace(b"Original-Message-ID", b"X-Original-Message-ID")
    assert code(unlinked) == "original"
    dsn = build_dsn(original, reporting_mta="mx", recipient=PS, action="failed", status="5.1.1")
    assert code(dsn.replace(b"Action: failed", b"Action: vanished")) == "dsn"
    assert code(dsn.replace(b"Final-Recipient", b"X-Recipient")) == "dsn"


def test_builder_errors(original: bytes) -> None:
    with pytest.raises(MssanteAckError):
        build_mdn(original, reporting_ua="x", disposition="read")
    with pytest.raises(MssanteAckError):
        build_mdn(b"Subject: no id\r\n\r\nbody", reporting_ua="x")
    with pytest.raises(MssanteAckError):
        build_dsn(original, reporting_mta="mx", recipient=PS, action="bounced", status="5.1.1")
    with pytest.raises(MssanteAckError):
        build_dsn(original, reporting_mta="mx", recipient=PS, action="failed", status="550")


# --- HL7 v2 ZAM -----------------------------------------------------------------------------


def test_dsn_to_zam_z02(original: bytes, oru: bytes) -> None:
    ack = parse_acknowledgements(POSTFIX_BOUNCE)[0]
    zam = read_message(parse_message(ack_to_zam(ack, oru)))
    assert isinstance(zam, ZamMessage)
    assert zam.trigger == "Z02" and zam.kind == "reception MSSante"
    assert zam.acknowledged_control_id == "015"
    assert zam.mss_recipients == ["inconnu@test.mssante.fr"]
    raw = parse_message(ack_to_zam(ack, oru))
    obx = raw.segment("OBX")
    assert obx is not None and obx.get(3) == "ACK_RECEPTION_MSS" and obx.get(5) == "N"
    err = raw.segment("ERR")
    assert err is not None
    assert (err.get(5), err.get(5, 3)) == ("550", "SMTPERRORCODE")
    delivered = parse_acknowledgements(POSTFIX_BOUNCE)[1]
    ok = parse_message(ack_to_zam(delivered, parse_message(oru)))
    assert ok.segment("ERR") is None
    ok_obx = ok.segment("OBX")
    assert ok_obx is not None and ok_obx.get(5) == "Y"


def test_mdn_to_zam(original: bytes, oru: bytes) -> None:
    read = parse_acknowledgement(build_mdn(original, reporting_ua="mes", disposition="displayed"))
    z03 = read_message(parse_message(ack_to_zam(read, oru)))
    assert isinstance(z03, ZamMessage)
    assert z03.trigger == "Z03" and z03.mss_readers == [PS]
    failed = parse_acknowledgement(
        build_mdn(original, reporting_ua="pfi", error="902^Identifiant de patient inconnu")
    )
    z02 = parse_message(ack_to_zam(failed, oru, mss_person_id="801234567897"))
    assert z02.msh.raw(9) == "ZAM^Z02^ZAM_Z01"
    err = z02.segment("ERR")
    assert err is not None and err.raw(5).startswith("902^Identifiant de patient inconnu")
    delayed = parse_acknowledgement(
        build_dsn(original, reporting_mta="mx", recipient=PS, action="delayed", status="4.4.1")
    )
    with pytest.raises(MssanteAckError):
        ack_to_zam(delayed, oru)
    with pytest.raises(Hl7Error):
        ack_to_zam(read, b"not hl7")


_ALPHABET = b':;\r\n -/<>@=?\x00\xff\xc3"(),'


@settings(max_examples=300, deadline=None)
@given(
    st.sampled_from([RFC8098_MDN, POSTFIX_BOUNCE]),
    st.lists(
        st.tuples(st.integers(0, 10_000), st.sampled_from(list(_ALPHABET)), st.integers(0, 2)),
        min_size=1,
        max_size=8,
    ),
)
def test_mutated_reports_fail_typed(sample: bytes, edits: list[tuple[int, int, int]]) -> None:
    """Any corruption gives acknowledgements or a typed MssanteAckError, never another error."""
    data = bytearray(sample)
    for position, value, operation in edits:
        position %= len(data)
        if operation == 0:
            data[position] = value
        elif operation == 1:
            del data[position : position + 5]
        else:
            data.insert(position, value)
    try:
        acks = parse_acknowledgements(bytes(data))
    except MssanteAckError as exc:
        assert exc.code in {"format", "mdn", "dsn", "original"}
    else:
        assert acks and all(a.kind in ("mdn", "dsn", "error-mail") for a in acks)


STANDARD_EMAIL = (
    "mss/ansforge_IG-hl7v2-volet-trans-lps-doc-cda-courriel-mss/input/pagecontent/"
    "struct-email-standard.md.extracted/standard_error_email_example.eml.txt"
)


def test_ans_standard_error_mail(ref_dir: Path, original: bytes, oru: bytes) -> None:
    """The ANS "courriel standard" of an integration error, its placeholder replaced by the
    original mail."""
    sample = ref_file(ref_dir, STANDARD_EMAIL).read_bytes()
    start = sample.index("<Insérer ici".encode())
    end = sample.index(b">", start) + 1
    data = sample[:start] + original.replace(b"\r\n", b"\n") + sample[end:]
    ack = parse_acknowledgement(data)
    assert (ack.kind, ack.success, ack.status) == ("error-mail", False, "processed")
    assert (ack.error_code, ack.error_text) == ("902", "Identifiant de patient inconnu")
    assert ack.original_message_id == MSGID
    assert ack.recipient == "serviceY_auto@chb.mssante.fr"
    zam = parse_message(ack_to_zam(ack, oru))
    assert zam.msh.raw(9) == "ZAM^Z02^ZAM_Z01"
    err = zam.segment("ERR")
    assert err is not None and err.raw(5).startswith("902^Identifiant de patient inconnu")
    with pytest.raises(MssanteAckError) as caught:  # the placeholder links to nothing
        parse_acknowledgement(sample)
    assert caught.value.code == "original"


def test_original_message_id_with_a_blank_is_normalised() -> None:
    """The ANS MDN sample writes ``Original-Message-ID: <199509192301.23456 >``: the blank
    (not allowed in a msg-id) must not break the link to the original."""
    report = RFC8098_MDN.replace(
        b"Original-Message-ID: <199509192301.23456@example.org>",
        b"Original-Message-ID: <199509192301.23456@example.org >",
    )
    assert report != RFC8098_MDN
    ack = parse_acknowledgement(report)
    assert ack.original_message_id == "<199509192301.23456@example.org>"


def test_error_mail_subject() -> None:
    from segur_ris.mssante._acks import is_error_mail_subject

    assert is_error_mail_subject("[Erreur d'intégration !][902] XDM/1.0/DDM+CR")
    assert is_error_mail_subject("=?utf-8?q?=5BKO_Int=C3=A9gration_syst=C3=A8me_!=5D=5B902=5D?= X")
    assert not is_error_mail_subject("XDM/1.0/DDM+CR d'imagerie PAT-TROIS DOMINIQUE")


def test_ans_form_error_keeps_its_commas() -> None:
    report = RFC8098_MDN.replace(
        b"Disposition: manual-action/MDN-sent-manually; displayed",
        b"Disposition: automatic-action/MDN-sent-automatically; processed/Error: "
        b"903^Document illisible, format inconnu",
    )
    ack = parse_acknowledgement(report)
    assert (ack.status, ack.success, ack.modifiers) == ("processed", False, ("error",))
    assert (ack.error_code, ack.error_text) == ("903", "Document illisible, format inconnu")
