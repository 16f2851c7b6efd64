"""Acknowledgements read back over real IMAP + STARTTLS (imaplib against the sandbox)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from segur_ris.errors import MssanteTransportError
from segur_ris.mssante._imap import ImapClient
from segur_ris.mssante._mail import MailDocument, build_mail
from segur_ris.mssante._smtp import CertificateAuth, PasswordAuth, XOAuth2
from segur_ris.sandbox import TestPki
from segur_ris.sandbox._mssante import MssanteSandbox
from tests import mssante_a_fixtures as a
from tests.mssante_b_fixtures import (
    INS,
    PASSWORD,
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


@pytest.fixture()
def box(pki: TestPki) -> Iterator[MssanteSandbox]:
    # one sandbox per test: each test reads the sender's mailbox from empty
    with sandbox(pki) as running:
        yield running


def imap(box: MssanteSandbox, auth: object = None, client: str | None = None) -> ImapClient:
    return ImapClient(
        "127.0.0.1",
        box.imap_port,
        auth=auth or XOAuth2(SENDER, TOKEN),  # type: ignore[arg-type]
        context=box.client_context(client),
        timeout=10,
    )


def test_dsn_and_mdn_come_back_matched_to_the_original(box: MssanteSandbox) -> None:
    mail = build_mail(
        [MailDocument(a.cda_n1(), a.pdf())],
        sender=SENDER,
        nil=a.NIL,
        patient=a.qualified(),
        to_patient=True,
        read_ack=True,
    )
    with transport(box) as smtp:
        smtp.send(mail)
    with imap(box) as reader:
        batch = reader.fetch_acknowledgements()
        again = reader.fetch_acknowledgements()
        assert reader.search("ALL") == [r.uid for r in batch.acks]
        assert reader.search("UNSEEN") == []
    assert batch.rejected == ()
    kinds = {(r.ack.kind, r.ack.status) for r in batch.acks}
    assert kinds == {("dsn", "delivered"), ("mdn", "processed")}
    for received in batch.acks:
        assert received.ack.original_message_id == mail.message_id
        assert received.ack.recipient == PATIENT
        assert received.ack.success
    dsn = next(r.ack for r in batch.acks if r.ack.kind == "dsn")
    assert dsn.enhanced_status == "2.0.0"
    assert dsn.envelope_id == mail.message_id.strip("<>")
    assert again.acks == ()  # marked \Seen the first time


def test_unknown_patient_gives_failure_dsn(box: MssanteSandbox) -> None:
    address = f"{UNKNOWN_INS}@patient.mssante.fr"
    mail = plain_mail(address)
    with transport(box) as smtp:
        result = smtp.send(mail)
    assert result.accepted == (address,)  # Mon espace santé accepts, then bounces
    assert box.mailbox(address) == ()
    with imap(box) as reader:
        (received,) = reader.fetch_acknowledgements().acks
    ack = received.ack
    assert (ack.kind, ack.status, ack.success) == ("dsn", "failed", False)
    assert ack.enhanced_status == "5.1.1"
    assert ack.original_message_id == mail.message_id and ack.recipient == address


def test_professional_recipient_no_mdn_by_default(pki: TestPki) -> None:
    with sandbox(pki, pro_displayed_mdn=True) as box:
        mail = plain_mail(PS)
        with transport(box) as smtp:
            smtp.send(mail)
        with imap(box) as reader:
            acks = reader.fetch_acknowledgements().acks
        assert {(r.ack.kind, r.ack.status) for r in acks} == {
            ("dsn", "delivered"),
            ("mdn", "displayed"),
        }
    with sandbox(pki) as box:
        with transport(box) as smtp:
            smtp.send(plain_mail(PS))
        with imap(box) as reader:
            acks = reader.fetch_acknowledgements().acks
        assert [r.ack.kind for r in acks] == ["dsn"]


def test_external_and_login_and_professional_mailbox(box: MssanteSandbox) -> None:
    with transport(box) as smtp:
        smtp.send(plain_mail(PS, read_ack=False))
    with imap(box, CertificateAuth(PS), client="INSI-AUTO") as reader:
        (message,) = reader.fetch_unseen()
        assert not message.is_report and b"XDM/1.0/DDM+essai" in message.data
        assert reader.fetch_acknowledgements().acks == ()
        assert reader.search("UNSEEN") == [message.uid]  # a mail is not an ack: left unseen
    with imap(box, PasswordAuth(SENDER, PASSWORD)) as reader:
        assert len(reader.fetch_acknowledgements().acks) == 1


def test_invalid_credentials_refused(box: MssanteSandbox) -> None:
    secret = "jeton-invalide-secret"
    client = imap(box, XOAuth2(SENDER, secret))
    with pytest.raises(MssanteTransportError) as caught:
        client.connect()
    assert caught.value.code == "AUTHENTICATIONFAILED"
    assert secret not in str(caught.value) and secret not in repr(client)
    with pytest.raises(MssanteTransportError):
        imap(box, CertificateAuth(SENDER)).connect()  # EXTERNAL without a certificate
    with pytest.raises(MssanteTransportError):
        imap(box, PasswordAuth(SENDER, "faux")).connect()


def test_unreadable_report_left_unseen(box: MssanteSandbox) -> None:
    bogus = (
        b"From: MAILER-DAEMON@x\r\nTo: " + SENDER.encode() + b"\r\nSubject: ?\r\n"
        b"MIME-Version: 1.0\r\n"
        b'Content-Type: multipart/report; report-type=delivery-status; boundary="b"\r\n\r\n'
        b"--b\r\nContent-Type: text/plain\r\n\r\nrien\r\n--b--\r\n"
    )
    uid = box.store.deliver(SENDER, bogus)
    with imap(box) as reader:
        batch = reader.fetch_acknowledgements()
        assert batch.acks == ()
        assert [u for u, _ in batch.rejected] == [uid]
        assert reader.search("UNSEEN") == [uid]


def test_ans_error_mail_is_read_as_an_acknowledgement(box: MssanteSandbox) -> None:
    """The ANS "courriel standard" of an integration error is not a ``multipart/report``:
    it is read too, and other mails stay untouched and unseen."""
    original_id = "<cri-9@imagerie.mssante.fr>"
    error_mail = (
        "From: serviceY_auto@chb.mssante.fr\r\nTo: " + SENDER + "\r\n"
        "Message-ID: <err-1@chb.mssante.fr>\r\nIn-Reply-To: " + original_id + "\r\n"
        "Subject: [Erreur d'int\u00e9gration !][902] XDM/1.0/DDM+CR\r\n"
        "MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n"
        "Erreur d\u00e9tect\u00e9e : Identifiant de patient inconnu\r\n"
    ).encode("utf-8")
    other = b"From: x@y.mssante.fr\r\nSubject: bonjour\r\n\r\nrien\r\n"
    uid = box.store.deliver(SENDER, error_mail)
    other_uid = box.store.deliver(SENDER, other)
    with imap(box) as reader:
        batch = reader.fetch_acknowledgements()
        assert [r.uid for r in batch.acks] == [uid] and batch.rejected == ()
        ack = batch.acks[0].ack
        assert (ack.kind, ack.success, ack.error_code) == ("error-mail", False, "902")
        assert ack.original_message_id == original_id
        assert reader.search("UNSEEN") == [other_uid]


def test_untrusted_server_and_plaintext_server_refused(
    box: MssanteSandbox, tmp_path_factory: pytest.TempPathFactory
) -> None:
    from segur_ris.sandbox import generate_test_pki
    from segur_ris.tls import client_context

    other = generate_test_pki(tmp_path_factory.mktemp("other"))
    client = ImapClient(
        "127.0.0.1",
        box.imap_port,
        auth=XOAuth2(SENDER, TOKEN),
        context=client_context(trust=other.ca_cert),
        timeout=10,
    )
    with pytest.raises(MssanteTransportError) as caught:
        client.connect()
    assert caught.value.code == "tls_certificate"

    script = [
        (b"", b"* CAPABILITY IMAP4rev1 AUTH=PLAIN\r\n<TAG> OK done\r\n"),
    ]
    with plaintext_peer(b"* OK IMAP4rev1 ready\r\n", script) as peer:
        plain = ImapClient(
            "127.0.0.1",
            peer.server_address[1],
            auth=XOAuth2(SENDER, TOKEN),
            context=client_context(),
            timeout=5,
        )
        with pytest.raises(MssanteTransportError) as caught:
            plain.connect()
        assert caught.value.code == "starttls"
    assert TOKEN.encode() not in b"".join(peer.seen)
    with pytest.raises(MssanteTransportError) as caught:
        ImapClient(
            "127.0.0.1", free_port(), auth=XOAuth2(SENDER, TOKEN), context=client_context()
        ).connect()
    assert caught.value.code == "connect"


def test_xdm_of_another_patient_gives_mdn_error(box: MssanteSandbox) -> None:
    from segur_ris.mssante._xdm import build_xdm, xdm_document_from_cda

    mail = plain_mail(PATIENT)
    xdm = build_xdm([xdm_document_from_cda(a.other_patient_cda())], sender=SENDER)
    mail.message.add_attachment(xdm, maintype="application", subtype="zip", filename="IHE_XDM.zip")
    with transport(box) as smtp:
        smtp.send(mail)
    with imap(box) as reader:
        acks = {r.ack.kind: r.ack for r in reader.fetch_acknowledgements().acks}
    mdn = acks["mdn"]
    assert mdn.status == "processed" and not mdn.success
    assert (mdn.error_code, mdn.error_text) == ("902", "Identifiant de patient inconnu")
    assert mdn.original_message_id == mail.message_id
    assert acks["dsn"].success  # delivered, then refused by the integration
