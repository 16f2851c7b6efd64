"""SMTP submission to the sandbox MSSanté over real STARTTLS: planning, authentication, refusals."""

from __future__ import annotations

import dataclasses
import hashlib
import io
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from segur_ris.errors import (
    MssanteAddressError,
    MssanteMailError,
    MssanteSizeError,
    MssanteTransportError,
    XdmError,
)
from segur_ris.mssante._mail import MailDocument, build_mail, read_mail
from segur_ris.mssante._smtp import (
    CertificateAuth,
    SmtpTransport,
    XOAuth2,
    parse_ehlo,
    plan_submission,
    xtext,
)
from segur_ris.mssante._xdm import read_xdm
from segur_ris.sandbox import TestPki, generate_test_pki
from segur_ris.sandbox._mssante import MssanteSandbox
from tests import mssante_a_fixtures as a
from tests.mssante_b_fixtures import (
    INS,
    PS,
    SENDER,
    TOKEN,
    UNKNOWN_INS,
    free_port,
    plain_mail,
    plaintext_peer,
    sandbox,
    transport,
)

PATIENT = f"{INS}@patient.mssante.fr"


@pytest.fixture(scope="module")
def box(pki: TestPki) -> Iterator[MssanteSandbox]:
    with sandbox(pki) as running:
        yield running


# --- sans-IO planning -----------------------------------------------------------------------


def test_plan_requests_dsn_when_announced() -> None:
    extensions = parse_ehlo("localhost\nSIZE 1000\n8BITMIME\nDSN\nAUTH PLAIN XOAUTH2\nHELP")
    assert extensions["size"] == "1000" and "dsn" in extensions
    plan = plan_submission(
        SENDER, [PATIENT, PS], size=500, extensions=extensions, envelope_id="a+b=c@x"
    )
    assert plan.mail_options == ("SIZE=500", "RET=HDRS", "ENVID=a+2Bb+3Dc@x")
    assert plan.rcpt_options[0] == ("NOTIFY=SUCCESS,FAILURE", f"ORCPT=rfc822;{PATIENT}")
    assert plan.dsn
    bare = plan_submission(SENDER, [PS], size=500, extensions={}, envelope_id="x@y")
    assert bare.mail_options == () and bare.rcpt_options == ((),) and not bare.dsn
    assert xtext("é +") == "+C3+A9+20+2B"


def test_plan_refuses_oversize_and_8bit() -> None:
    with pytest.raises(MssanteSizeError) as caught:
        plan_submission(SENDER, [PS], size=1001, extensions={"size": "1000"}, envelope_id="i@d")
    assert caught.value.code == "5.3.4"
    with pytest.raises(MssanteSizeError):
        plan_submission(SENDER, [PATIENT], size=25_000_001, extensions={}, envelope_id="i@d")
    # 25 MB is Mon espace santé's limit only: a professional recipient is not concerned
    assert plan_submission(SENDER, [PS], size=25_000_001, extensions={}, envelope_id="i@d")
    with pytest.raises(MssanteTransportError, match="8BITMIME"):
        plan_submission(SENDER, [PS], size=1, extensions={}, envelope_id="i@d", eight_bit=True)
    with pytest.raises(MssanteTransportError):
        plan_submission(SENDER, ["a b@c.fr"], size=1, extensions={}, envelope_id="i@d")


# --- real SMTP over STARTTLS ----------------------------------------------------------------


def test_mail_with_client_certificate_parses_back(box: MssanteSandbox) -> None:
    mail = build_mail(
        [MailDocument(a.cda_n1(), a.pdf())],
        sender=SENDER,
        recipients=[PS],
        nil=a.NIL,
        patient=a.qualified(),
        to_patient=True,
        read_ack=True,
    )
    with transport(box) as smtp:
        assert "dsn" in smtp.extensions and "starttls" not in smtp.extensions  # after TLS
        assert "EXTERNAL" in smtp.extensions["auth"]
        result = smtp.send(mail)
    assert set(result.accepted) == {PS, PATIENT} and not result.refused
    assert result.dsn_requested and result.message_id == mail.message_id
    received = box.submissions[-1]
    assert received.client_cn == "INSI-AUTO"
    assert received.mail_from == SENDER and set(received.recipients) == {PS, PATIENT}
    assert received.envelope_id == mail.message_id.strip("<>")
    assert received.notify[PATIENT] == ("SUCCESS", "FAILURE")
    assert received.data == mail.to_bytes()

    parsed = read_mail(received.data)
    assert parsed.message_id == mail.message_id
    assert parsed.subject == a.SUBJECT
    assert parsed.codes_cda == ("18748-4",) and parsed.ins_qualified is True
    assert parsed.nil == a.NIL and parsed.disposition_notification_to == SENDER
    assert [p.filename for p in parsed.pdfs] == [a.PDF_NAME]
    assert parsed.pdfs[0].content == a.pdf()
    assert parsed.xdm is not None
    (document,) = parsed.xdm.documents
    assert document.content == a.cda_n1()
    assert document.entry.hash == hashlib.sha1(a.cda_n1()).hexdigest()
    assert document.entry.size == len(a.cda_n1())
    # the patient's and the professional's mailboxes both hold the mail
    assert box.mailbox(PATIENT)[-1].data == received.data
    assert box.mailbox(PS)[-1].data == received.data


def test_xoauth2_valid_token(box: MssanteSandbox) -> None:
    mail = plain_mail(PS, read_ack=False)
    with transport(box, client=None, auth=XOAuth2(SENDER, lambda: TOKEN)) as smtp:
        result = smtp.send(mail)
    assert result.accepted == (PS,)
    received = box.submissions[-1]
    assert received.auth_user == SENDER and received.client_cn is None


def test_xoauth2_invalid_token_refused_and_kept_secret(box: MssanteSandbox) -> None:
    before = len(box.submissions)
    secret = "jeton-faux-tres-secret"
    smtp = transport(box, client=None, auth=XOAuth2(SENDER, secret))
    assert secret not in repr(smtp) and secret not in repr(smtp.auth)
    with pytest.raises(MssanteTransportError) as caught:
        smtp.connect()
    assert caught.value.code == "5.7.8"
    assert secret not in str(caught.value)
    assert len(box.submissions) == before
    smtp.close()


def test_certificate_auth_without_certificate_refused(box: MssanteSandbox) -> None:
    before = len(box.submissions)
    with pytest.raises(MssanteTransportError) as caught:
        transport(box, client=None).send(plain_mail(PS))
    assert caught.value.code == "5.7.8"  # AUTH EXTERNAL without a client certificate
    assert len(box.submissions) == before


def test_untrusted_server_certificate_refused(
    box: MssanteSandbox, tmp_path_factory: pytest.TempPathFactory
) -> None:
    other = generate_test_pki(tmp_path_factory.mktemp("other-pki"))
    credential = other.clients["INSI-AUTO"]
    before = len(box.submissions)
    smtp = SmtpTransport(
        "127.0.0.1",
        box.smtp_port,
        auth=CertificateAuth(),
        trust=other.ca_cert,
        cert_file=credential.cert,
        key_file=credential.key,
        timeout=10,
    )
    with pytest.raises(MssanteTransportError) as caught:
        smtp.send(plain_mail(PS))
    assert caught.value.code == "tls_certificate"
    assert "certificat du serveur" in caught.value.message
    assert len(box.submissions) == before


def test_client_certificate_required_refuses_anonymous(pki: TestPki) -> None:
    with sandbox(pki, require_client_cert=True) as strict:
        smtp = transport(strict, client=None)
        with pytest.raises(MssanteTransportError) as caught:
            smtp.send(plain_mail(PS))
        assert caught.value.code in {"tls", "disconnected", "io"}
        with transport(strict) as ok:
            assert ok.send(plain_mail(PS, read_ack=False)).accepted == (PS,)
        assert [s.client_cn for s in strict.submissions] == ["INSI-AUTO"]


def test_plaintext_server_refused() -> None:
    script = [
        (b"EHLO", b"250-plain.example\r\n250-SIZE 1000000\r\n250 AUTH PLAIN\r\n"),
        (b"QUIT", b"221 bye\r\n"),
    ]
    with plaintext_peer(b"220 plain.example ESMTP\r\n", script) as peer:
        port = peer.server_address[1]
        from segur_ris.tls import client_context

        smtp = SmtpTransport(
            "127.0.0.1", port, auth=XOAuth2(SENDER, TOKEN), context=client_context(), timeout=5
        )
        with pytest.raises(MssanteTransportError) as caught:
            smtp.send(plain_mail(PS))
        assert caught.value.code == "starttls"
        smtp.close()
    sent = b"".join(peer.seen)
    assert b"MAIL" not in sent and b"AUTH" not in sent and TOKEN.encode() not in sent


def test_connection_refused() -> None:
    from segur_ris.tls import client_context

    smtp = SmtpTransport(
        "127.0.0.1", free_port(), auth=CertificateAuth(), context=client_context(), timeout=5
    )
    with pytest.raises(MssanteTransportError) as caught:
        smtp.connect()
    assert caught.value.code == "connect"


def test_unknown_domain_and_partial_refusal(box: MssanteSandbox) -> None:
    with transport(box) as smtp:
        with pytest.raises(MssanteTransportError) as caught:
            smtp.send(plain_mail("quelqu.un@gmail.com"))
        assert caught.value.code == "5.7.1"
        mail = plain_mail(PS, read_ack=False)
        both = type(mail)(mail.message, mail.message_id, SENDER, (PS, "x@example.org"))
        result = smtp.send(both)
    assert result.accepted == (PS,)
    assert result.refused["x@example.org"][0] == 550


# --- size -----------------------------------------------------------------------------------


def test_oversize_refused_by_client_before_sending(pki: TestPki) -> None:
    with sandbox(pki, max_size=5_000) as small:
        with transport(small) as smtp, pytest.raises(MssanteSizeError) as caught:
            smtp.send(plain_mail(PS, body="x" * 6_000))
        assert caught.value.code == "5.3.4"
        assert small.submissions == () and small.mailbox(PS) == ()


def test_oversize_patient_mail_refused_before_connecting() -> None:
    """No server is even contacted: the port is closed, yet the error is the size one."""
    from segur_ris.tls import client_context

    smtp = SmtpTransport(
        "127.0.0.1", free_port(), auth=CertificateAuth(), context=client_context(), timeout=5,
        patient_max_size=5_000,
    )  # fmt: skip
    with pytest.raises(MssanteSizeError) as caught:
        smtp.send(plain_mail(PATIENT, body="x" * 6_000))
    assert caught.value.code == "5.3.4"
    with pytest.raises(MssanteTransportError) as refused:
        smtp.send(plain_mail(PS))  # while a well-sized mail does try to connect
    assert refused.value.code == "connect"


def test_oversize_refused_by_mon_espace_sante(pki: TestPki) -> None:
    with sandbox(pki, patient_max_size=5_000, size_bounce=False) as small:
        with transport(small, patient_max_size=10**9) as smtp:
            with pytest.raises(MssanteSizeError) as caught:
                smtp.send(plain_mail(PATIENT, body="x" * 6_000))
            assert caught.value.code == "5.3.4"
            # the same size to a professional goes through
            assert smtp.send(plain_mail(PS, body="x" * 6_000)).accepted == (PS,)
        assert small.mailbox(PATIENT) == ()
        assert [s.recipients for s in small.submissions] == [(PS,)]


def test_oversize_bounced_by_mon_espace_sante(pki: TestPki) -> None:
    """By default the operator accepts and Mon espace santé bounces: a DSN ``failed 5.3.4``
    comes back for the patient, the professional still gets the mail."""
    from segur_ris.mssante import parse_acknowledgement

    with sandbox(pki, patient_max_size=5_000) as small:
        with transport(small, patient_max_size=10**9) as smtp:
            mail = dataclasses.replace(
                plain_mail(PATIENT, body="x" * 6_000), recipients=(PATIENT, PS)
            )
            result = smtp.send(mail)
        assert set(result.accepted) == {PATIENT, PS}
        assert small.mailbox(PATIENT) == () and len(small.mailbox(PS)) == 1
        reports = [parse_acknowledgement(m.data) for m in small.mailbox(SENDER)]
        failed = [r for r in reports if not r.success]
        assert [(r.recipient, r.enhanced_status, r.error_code) for r in failed] == [
            (PATIENT, "5.3.4", "552")
        ]
        assert failed[0].original_message_id == mail.message_id


# --- bad input: typed error, nothing sent ---------------------------------------------------


def _hostile_zip() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("IHE_XDM/SUBSET01/METADATA.XML", b"<x/>")
        archive.writestr("../../etc/passwd", b"root:x:0:0")
    return buffer.getvalue()


def test_bad_input_nothing_sent(box: MssanteSandbox, tmp_path: Path) -> None:
    before = len(box.submissions)
    with pytest.raises(MssanteMailError) as two:
        build_mail(
            [MailDocument(a.cda_n1(), a.pdf()), MailDocument(a.other_patient_cda(), a.pdf())],
            sender=SENDER,
            recipients=[PS],
            nil=a.NIL,
        )
    assert two.value.code == "patients"
    with pytest.raises(MssanteAddressError):
        build_mail(
            [MailDocument(a.cda_n1(), a.pdf())],
            sender=SENDER,
            nil=a.NIL,
            patient=a.not_qualified(),
            to_patient=True,
        )
    with pytest.raises(XdmError):
        read_xdm(_hostile_zip())
    assert len(box.submissions) == before
    assert not any(box.mailbox(f"{UNKNOWN_INS}@patient.mssante.fr"))


def test_token_check_callable(pki: TestPki) -> None:
    seen: list[tuple[str, str]] = []

    def check(user: str, token: str) -> bool:
        seen.append((user, token))
        return token == "jeton-du-jour"

    with MssanteSandbox(pki, check_token=check) as box:
        with transport(box, client=None, auth=XOAuth2(SENDER, "jeton-du-jour")) as smtp:
            assert smtp.send(plain_mail(PS, read_ack=False)).accepted == (PS,)
        with pytest.raises(MssanteTransportError):
            transport(box, client=None, auth=XOAuth2(SENDER, "hier")).connect()
    assert seen == [(SENDER, "jeton-du-jour"), (SENDER, "hier")]


def test_send_benchmark_runs() -> None:
    from tests.helpers_bench import run_benchmark

    proc = run_benchmark("bench_mssante_send.py")
    assert "x\n" in proc.stdout and "acks/s" in proc.stdout
