"""The MSSanté sandbox seen by the standard library's own clients (smtplib, imaplib)."""

from __future__ import annotations

import imaplib
import smtplib
import socket
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from segur_ris.errors import ConfigError
from segur_ris.sandbox import TestPki
from segur_ris.sandbox._imap_server import MailboxStore
from segur_ris.sandbox._mssante import MssanteSandbox, MssanteSandboxCore, SandboxSubmission
from tests.mssante_b_fixtures import (
    INS,
    PASSWORD,
    PS,
    SENDER,
    TOKEN,
    UNKNOWN_INS,
    plain_mail,
    sandbox,
    transport,
)

PATIENT = f"{INS}@patient.mssante.fr"


@pytest.fixture(scope="module")
def box(pki: TestPki) -> Iterator[MssanteSandbox]:
    with sandbox(pki) as running:
        yield running


def _smtp(box: MssanteSandbox) -> smtplib.SMTP:
    return smtplib.SMTP("127.0.0.1", box.smtp_port, local_hostname="client.test", timeout=10)


def _imap(box: MssanteSandbox, *, client: str | None = None) -> imaplib.IMAP4:
    connection = imaplib.IMAP4("127.0.0.1", box.imap_port, timeout=10)
    connection.starttls(box.client_context(client))
    return connection


# --- core -----------------------------------------------------------------------------------


def test_core_routing() -> None:
    strict = MssanteSandboxCore(known_ins=[INS], patient_max_size=100, size_bounce=False)
    assert strict.check_recipient(PATIENT, None) is None
    assert (strict.check_recipient(PATIENT, 101) or "").startswith("552 5.3.4")
    big = SandboxSubmission("Q", SENDER, (PATIENT,), b"x" * 101, None, None)
    assert (strict.check_data(big) or "").startswith("552 5.3.4")
    core = MssanteSandboxCore(known_ins=[INS], patient_max_size=100)
    assert core.check_recipient(PATIENT, 101) is None  # bounced by a DSN after acceptance
    assert core.check_data(big) is None
    assert (core.check_recipient("123@patient.mssante.fr", None) or "").startswith("553 5.1.3")
    assert core.check_recipient(PS, 10**9) is None
    assert (core.check_recipient("a@gmail.com", None) or "").startswith("550 5.7.1")
    mail = plain_mail(f"{UNKNOWN_INS}@patient.mssante.fr").to_bytes()
    never = SandboxSubmission(
        "Q", SENDER, (f"{UNKNOWN_INS}@patient.mssante.fr",), mail, None, None,
        notify={f"{UNKNOWN_INS}@patient.mssante.fr": ("NEVER",)},
    )  # fmt: skip
    assert core.deliveries(never) == []
    default = SandboxSubmission(
        "Q", SENDER, (f"{UNKNOWN_INS}@patient.mssante.fr",), mail, None, None
    )
    (bounce,) = core.deliveries(default)  # no NOTIFY: failures are reported (RFC 3461)
    assert bounce.kind == "dsn" and bounce.mailbox == SENDER and b"5.1.1" in bounce.data


def test_default_known_patients_are_the_cnda_qualified_ins() -> None:
    core = MssanteSandboxCore()
    assert "180032B02040123" in core.known_ins  # CORSE ANTHONY, Haute-Corse
    assert INS not in core.known_ins


# --- SMTP with smtplib ----------------------------------------------------------------------


def test_smtp_requires_starttls_and_authentication(box: MssanteSandbox) -> None:
    with _smtp(box) as smtp:
        code, text = smtp.ehlo()
        assert code == 250 and smtp.has_extn("starttls") and not smtp.has_extn("auth")
        assert smtp.mail(SENDER)[0] == 530  # not before STARTTLS
        smtp.starttls(context=box.client_context(None))
        smtp.ehlo()
        assert smtp.has_extn("dsn") and "XOAUTH2" in smtp.esmtp_features["auth"]
        code, text = smtp.mail(SENDER)
        assert (code, text[:5]) == (530, b"5.7.0")  # TLS without certificate nor AUTH
        code, _ = smtp.docmd("AUTH", "PLAIN " + _b64(f"\0{SENDER}\0{PASSWORD}"))
        assert code == 235
        assert smtp.mail(SENDER, ["RET=HDRS", "ENVID=abc+2Bd"])[0] == 250
        assert smtp.rcpt(PS, ["NOTIFY=BOGUS"])[0] == 501
        assert smtp.rcpt(PS, ["NOTIFY=NEVER,SUCCESS"])[0] == 501
        assert smtp.rcpt(PS, ["NOTIFY=SUCCESS", f"ORCPT=rfc822;{PS}"])[0] == 250
        assert smtp.rcpt("x@example.org")[0] == 550
        code, _ = smtp.data(plain_mail(PS).to_bytes())
        assert code == 250
    received = box.submissions[-1]
    assert received.envelope_id == "abc+d" and received.ret == "HDRS"
    assert received.notify == {PS: ("SUCCESS",)} and received.auth_user == SENDER


def test_smtp_xoauth2_challenge_form(box: MssanteSandbox) -> None:
    with _smtp(box) as smtp:
        smtp.starttls(context=box.client_context(None))
        smtp.ehlo()
        assert smtp.docmd("AUTH", "XOAUTH2")[0] == 334  # empty challenge
        code, _ = smtp.docmd(_b64(f"user={SENDER}\x01auth=Bearer {TOKEN}\x01\x01"))
        assert code == 235


def _b64(text: str) -> str:
    import base64

    return base64.b64encode(text.encode()).decode()


# --- IMAP with imaplib ----------------------------------------------------------------------


def test_imap_session_with_imaplib(box: MssanteSandbox) -> None:
    owner = "lecture.imap@test.mssante.fr"
    first = box.store.deliver(owner, plain_mail(owner).to_bytes())
    second = box.store.deliver(owner, plain_mail(owner, body="deuxième").to_bytes())
    box.store.deliver("autre@test.mssante.fr", b"Subject: autre\r\n\r\nx\r\n")

    plain = imaplib.IMAP4("127.0.0.1", box.imap_port, timeout=10)
    try:
        assert "STARTTLS" in plain.capabilities and "LOGINDISABLED" in plain.capabilities
        with pytest.raises(imaplib.IMAP4.error, match="PRIVACYREQUIRED"):
            plain.login(owner, PASSWORD)
    finally:
        plain.logout()

    connection = _imap(box)
    try:
        assert "AUTH=XOAUTH2" in connection.capabilities
        raw = f"user={owner}\x01auth=Bearer {TOKEN}\x01\x01".encode()
        with pytest.raises(imaplib.IMAP4.error, match="AUTHENTICATIONFAILED"):
            connection.authenticate("XOAUTH2", lambda _: raw)  # token is not owner's
        connection.authenticate("PLAIN", lambda _: f"\0{SENDER}\0{PASSWORD}".encode())
        assert connection.select("INBOX")[0] == "OK"  # SENDER's own mailbox
        assert connection.select("Autre")[0] == "NO"
    finally:
        connection.logout()

    box._passwords[owner] = 'mot de passe "cite" \\'  # a quoted string with escapes
    connection = _imap(box)
    try:
        connection.login(owner, 'mot de passe "cite" \\')
        typ, data = connection.select("INBOX")
        assert (typ, data) == ("OK", [b"2"])
        assert connection.search(None, "UNSEEN") == ("OK", [b"1 2"])
        assert connection.uid("SEARCH", "ALL") == ("OK", [f"{first} {second}".encode()])
        typ, found = connection.search(None, "HEADER", "Subject", "essai")
        assert found == [b"1 2"]
        typ, data = connection.fetch("1", "(BODY.PEEK[] FLAGS)")
        assert data[0][1] == box.mailbox(owner)[0].data  # type: ignore[index]
        assert connection.search(None, "UNSEEN")[1] == [b"1 2"]  # PEEK kept it unseen
        typ, data = connection.fetch("2", "(RFC822)")
        assert b"\\Seen" in data[1] or b"\\Seen" in data[0][0]  # type: ignore[operator,index]
        assert connection.search(None, "SEEN")[1] == [b"2"]
        typ, data = connection.uid("FETCH", str(first), "(RFC822.SIZE FLAGS)")
        assert f"UID {first}".encode() in data[0] and b"RFC822.SIZE" in data[0]  # type: ignore[operator]
        assert connection.uid("STORE", str(first), "+FLAGS", "(\\Seen)")[0] == "OK"
        assert connection.search(None, "UNSEEN")[1] == [b""]
        connection.store("1:*", "-FLAGS", "\\Seen")
        assert connection.search(None, "UNSEEN")[1] == [b"1 2"]
        assert connection.noop()[0] == "OK"
        assert connection.select("INBOX", readonly=True)[0] == "OK"
        assert connection.store("1", "+FLAGS", "\\Seen")[0] == "NO"
        connection.fetch("1", "(RFC822)")  # EXAMINE: reading does not set \Seen
        assert connection.search(None, "UNSEEN")[1] == [b"1 2"]
        with pytest.raises(imaplib.IMAP4.error):
            connection.fetch("1", "(BODYSTRUCTURE)")
    finally:
        connection.logout()
    assert {m.seen for m in box.mailbox(owner)} == {False}


def test_imap_external_needs_certificate(box: MssanteSandbox) -> None:
    connection = _imap(box)
    try:
        with pytest.raises(imaplib.IMAP4.error):
            connection.authenticate("EXTERNAL", lambda _: PS.encode())
    finally:
        connection.logout()
    connection = _imap(box, client="INSI-AUTO")
    try:
        connection.authenticate("EXTERNAL", lambda _: PS.encode())
        assert connection.select("INBOX")[0] == "OK"
    finally:
        connection.logout()


# --- life cycle -----------------------------------------------------------------------------


def _refused(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=2).close()
    except OSError:
        return True
    return False


def test_stops_cleanly_with_open_connections(pki: TestPki) -> None:
    threads = set(threading.enumerate())
    running = sandbox(pki).start()
    smtp_port, imap_port = running.smtp_port, running.imap_port
    idle_smtp = _smtp(running)
    idle_smtp.ehlo()
    idle_imap = _imap(running)
    with transport(running) as sender:
        sender.send(plain_mail(PS, read_ack=False))
    running.stop()
    running.stop()  # idempotent
    assert not running.running
    assert set(threading.enumerate()) <= threads
    assert _refused(smtp_port) and _refused(imap_port)
    with pytest.raises((smtplib.SMTPServerDisconnected, OSError)):
        idle_smtp.noop()
    idle_smtp.close()
    with pytest.raises((imaplib.IMAP4.abort, OSError)):
        idle_imap.noop()
    idle_imap.shutdown()
    with pytest.raises(RuntimeError):
        _ = running.smtp_port


def test_state_directory_survives_restart(pki: TestPki, tmp_path: Path) -> None:
    with sandbox(pki, store_dir=tmp_path) as first:
        with transport(first) as sender:
            sender.send(plain_mail(PATIENT))
        assert len(first.mailbox(SENDER)) == 2  # DSN + MDN
    assert len(list((tmp_path / "received").glob("*.eml"))) == 1
    with sandbox(pki, store_dir=tmp_path) as second:
        assert [m.data for m in second.mailbox(SENDER)] == [
            m.data for m in MailboxStore(tmp_path / "mailboxes").messages(SENDER)
        ]
        assert len(second.mailbox(PATIENT)) == 1
        second.store.update_flags(SENDER, 1, {"\\Seen"}, "+")
    assert MailboxStore(tmp_path / "mailboxes").messages(SENDER)[0].seen


def test_refuses_non_loopback_host(pki: TestPki) -> None:
    with pytest.raises(ConfigError):
        MssanteSandbox(pki, host="0.0.0.0")


def test_imap_server_survives_garbage(box: MssanteSandbox) -> None:
    context = box.client_context(None)
    with socket.create_connection(("127.0.0.1", box.imap_port), timeout=10) as raw:
        reader = raw.makefile("rb")
        assert reader.readline().startswith(b"* OK")
        raw.sendall(b"a0 STARTTLS\r\n")
        assert reader.readline().startswith(b"a0 OK")
        reader.close()
        with context.wrap_socket(raw, server_hostname="127.0.0.1") as tls:
            lines = tls.makefile("rb")

            def ask(command: bytes) -> bytes:
                tls.sendall(command + b"\r\n")
                return lines.readline()

            assert ask(b"a1 LOGIN").startswith(b"a1 BAD")
            assert ask(b'a2 LOGIN "unterminated').startswith(b"a2 BAD")
            assert ask(b"a3 LOGIN \x00x\x00 y").startswith(b"a3 BAD")
            assert ask(b"a4 SELECT INBOX").startswith(b"a4 NO")  # not authenticated
            assert ask(b"a5 FROB").startswith(b"a5 NO")
            login = f'a6 LOGIN {SENDER} "{PASSWORD}"'.encode()
            assert ask(login).startswith(b"a6 OK")
            assert ask(b"a7 FETCH 1 (BODY[").startswith(b"a7 NO")  # nothing selected yet
            assert ask(b"a8 SELECT INBOX").startswith(b"* FLAGS")
            while not lines.readline().startswith(b"a8 OK"):
                pass
            assert ask(b"a9 FETCH x:y (FLAGS)").startswith(b"a9 BAD")
            assert ask(b"b1 SEARCH FROB").startswith(b"b1 BAD")
            assert ask(b"b2 STORE 1 XFLAGS (\\Seen)").startswith(b"b2 BAD")
            assert ask(b"b3 FETCH 1 (FLAGS").startswith(b"b3 BAD")
            tls.sendall(b"b4 LOGIN {99999999}\r\n")
            assert lines.readline() == b""  # oversized literal: connection closed
            lines.close()
    # the server is still serving
    connection = _imap(box)
    try:
        assert connection.noop()[0] == "OK"
    finally:
        connection.logout()
