"""Helpers of the MSSanté transport, sandbox and CLI tests (engineer B's test files)."""

from __future__ import annotations

import socket
import socketserver
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from email import policy
from email.message import EmailMessage
from email.utils import make_msgid

from segur_ris.mssante._smtp import CertificateAuth, MssAuth, SmtpTransport
from segur_ris.sandbox import TestPki
from segur_ris.sandbox._mssante import MssanteSandbox
from tests.mssante_a_fixtures import INS, PS, SENDER

__all__ = ["INS", "PS", "SENDER"]

TOKEN = "jeton-psc-valide-0123456789"
PASSWORD = "mot-de-passe-imap"
#: A valid matricule (key checks) that no Mon espace santé mailbox has.
UNKNOWN_INS = "185027505612340"


def sandbox(pki: TestPki, **options: object) -> MssanteSandbox:
    """A sandbox knowing the CNDA identities and the test report's patient."""
    from segur_ris.sandbox import CNDA_IDENTITIES

    known = [i.matricule for i in CNDA_IDENTITIES] + [INS]
    return MssanteSandbox(
        pki,
        known_ins=known,
        tokens={SENDER: TOKEN},
        passwords={SENDER: PASSWORD},
        **options,  # type: ignore[arg-type]
    )


def transport(
    box: MssanteSandbox,
    *,
    client: str | None = "INSI-AUTO",
    auth: MssAuth | None = None,
    **kw: object,
) -> SmtpTransport:
    return SmtpTransport(
        "127.0.0.1",
        box.smtp_port,
        auth=auth or CertificateAuth(),
        context=box.client_context(client),
        timeout=10,
        **kw,  # type: ignore[arg-type]
    )


@dataclass(frozen=True)
class PlainMail:
    """A hand-built mail with the attributes the transport needs (like ``MssMail``)."""

    message: EmailMessage
    message_id: str
    sender: str
    recipients: tuple[str, ...]

    def to_bytes(self) -> bytes:
        return self.message.as_bytes(policy=policy.SMTP)


def plain_mail(to: str, *, read_ack: bool = True, body: str = "bonjour") -> PlainMail:
    message = EmailMessage()
    message["From"] = SENDER
    message["To"] = to
    message["Subject"] = "XDM/1.0/DDM+essai"
    message["Message-ID"] = make_msgid(domain="imagerie.mssante.fr")
    if read_ack:
        message["Disposition-Notification-To"] = SENDER
    message.set_content(body)
    return PlainMail(message, str(message["Message-ID"]), SENDER, (to,))


class _LineHandler(socketserver.StreamRequestHandler):
    """A plaintext peer: replies from a script (``server.script``: request prefix -> reply)."""

    server: _ScriptServer

    def handle(self) -> None:
        self.wfile.write(self.server.greeting)
        for line in self.rfile:
            self.server.seen.append(line)
            for prefix, reply in self.server.script:
                if line.upper().startswith(prefix):
                    self.wfile.write(reply.replace(b"<TAG>", line.split(b" ", 1)[0]))
                    break
            else:
                self.wfile.write(b"500 unknown\r\n")
            if line.upper().startswith((b"QUIT", b"LOGOUT")) or b" LOGOUT" in line.upper():
                return


class _ScriptServer(socketserver.ThreadingTCPServer):
    daemon_threads = False
    block_on_close = True
    allow_reuse_address = True

    def __init__(self, greeting: bytes, script: list[tuple[bytes, bytes]]) -> None:
        self.greeting = greeting
        self.script = script
        self.seen: list[bytes] = []
        super().__init__(("127.0.0.1", 0), _LineHandler)


@contextmanager
def plaintext_peer(greeting: bytes, script: list[tuple[bytes, bytes]]) -> Iterator[_ScriptServer]:
    """A loopback server speaking a scripted plaintext protocol (no STARTTLS)."""
    server = _ScriptServer(greeting, script)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        thread.join()
        server.server_close()


def free_port() -> int:
    """A port nobody listens on (bound then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])
