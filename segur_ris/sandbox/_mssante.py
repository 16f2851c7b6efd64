"""Sandbox of an MSSanté operator and of Mon espace santé (SMTP submission + IMAP).

:class:`MssanteSandboxCore` is the routing logic without I/O: recipient checks at ``RCPT`` and,
for an accepted mail, the deliveries and the reports Mon espace santé sends back.
:class:`MssanteSandbox` serves it on 127.0.0.1 (ephemeral ports) in one background thread
running one asyncio loop: an aiosmtpd SMTP server (STARTTLS required before ``MAIL``, ``DSN``
announced) and the small IMAP4rev1 server of :mod:`segur_ris.sandbox._imap_server`, both over
the test PKI's server certificate.

Authentication: a client certificate chaining to the sandbox CA (BAL applicative; ``AUTH
EXTERNAL`` offered too) or SASL ``XOAUTH2`` with a token accepted by ``check_token`` (default:
the ``tokens`` mapping ``address -> token``); with ``require_client_cert`` the TLS handshake
itself demands a certificate. ``MAIL`` without either is refused (``530 5.7.0``).

Answers, imitating Mon espace santé (notes §2.4–2.5; ``[?]`` = our choice):

=====================================  ==================================================
recipient                              outcome
=====================================  ==================================================
``<INS>@patient.mssante.fr`` known     delivered; DSN ``delivered 2.0.0`` if NOTIFY has
                                       SUCCESS; MDN ``processed`` if
                                       ``Disposition-Notification-To`` (MES always answers);
                                       ``processed/error 902^…`` when the XDM ``patientId``
                                       is another patient's
``<INS>@patient.mssante.fr`` unknown   accepted at RCPT, then DSN ``failed 5.1.1`` (unless
                                       NOTIFY=NEVER) — MES bounces after acceptance
local part not a 15-character INS      ``553 5.1.3`` at RCPT [?]
patient mail > ``patient_max_size``    accepted, then DSN ``failed 5.3.4`` ("Undelivered
                                       Mail Returned to Sender", unless NOTIFY=NEVER); other
                                       recipients still served. With ``size_bounce=False``:
                                       ``552 5.3.4`` at RCPT (declared ``SIZE=``) or at the
                                       end of DATA, nothing stored
``*@<pro domain>`` (``*.mssante.fr``)  delivered; DSN success if asked; MDN ``displayed``
                                       when ``pro_displayed_mdn`` [?]
any other domain                       ``550 5.7.1`` at RCPT (outside the espace de
                                       confiance) [?]
=====================================  ==================================================

Reports go to the sender's mailbox (DSN: ``MAIL FROM``; MDN: the
``Disposition-Notification-To`` address), readable over IMAP with the same credentials.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import fnmatch
import logging
import re
import threading
import uuid
import weakref
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from email.parser import BytesHeaderParser
from email.policy import default as default_policy
from email.utils import getaddresses
from pathlib import Path
from types import MappingProxyType, TracebackType
from typing import Any, Self

from segur_ris.errors import ConfigError
from segur_ris.sandbox._identities import CNDA_IDENTITIES
from segur_ris.sandbox._imap_server import ImapServer, MailboxStore, StoredMessage
from segur_ris.sandbox._pki import TestPki
from segur_ris.sandbox._server import _check_loopback

__all__ = [
    "MSSANTE_PATIENT_DOMAIN",
    "MssanteSandbox",
    "MssanteSandboxCore",
    "SandboxDelivery",
    "SandboxSubmission",
]

_log = logging.getLogger("segur_ris.sandbox.mssante")


class _QuietLoginData(logging.Filter):
    """Drops aiosmtpd's "Session.login_data is deprecated" warning, logged by aiosmtpd itself
    on every successful AUTH (nothing the caller can change)."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "login_data is deprecated" not in record.getMessage()


logging.getLogger("mail.log").addFilter(_QuietLoginData())

#: Domain of the Mon espace santé patient mailboxes.
MSSANTE_PATIENT_DOMAIN = "patient.mssante.fr"
_MATRICULE = re.compile(r"^[0-9]{6}[0-9AB][0-9]{8}$", re.IGNORECASE)
_REPORTING_MTA = "mssante-sandbox.localhost"
_REPORTING_UA = "Mon espace santé (bac à sable segur_ris)"
_NOTIFY_VALUES = frozenset({"SUCCESS", "FAILURE", "DELAY", "NEVER"})


@dataclass(frozen=True, slots=True)
class SandboxSubmission:
    """A mail as the sandbox received it (envelope, bytes, who sent it, DSN parameters)."""

    queue_id: str
    mail_from: str
    recipients: tuple[str, ...]
    data: bytes
    client_cn: str | None
    auth_user: str | None
    envelope_id: str | None = None
    ret: str | None = None
    notify: Mapping[str, tuple[str, ...]] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class SandboxDelivery:
    """One message to put in a mailbox (a delivered mail or a report)."""

    mailbox: str
    data: bytes
    kind: str  #: ``mail``, ``dsn`` or ``mdn``


def _domain(address: str) -> str:
    return address.rpartition("@")[2].lower()


def _reason(status: str) -> str:
    # SMTP replies and Diagnostic-Code are ASCII (no SMTPUTF8): French without accents
    return {
        "5.1.1": "patient inconnu de Mon espace sante",
        "5.3.4": "message trop volumineux",
        "2.0.0": "delivre",
    }.get(status, status)


class MssanteSandboxCore:
    """Routing and answers of the sandbox, without I/O.

    ``known_ins`` are the matricules with a Mon espace santé mailbox (default: the active INS-NIR
    of :data:`~segur_ris.sandbox.CNDA_IDENTITIES`); ``pro_domains`` are ``fnmatch`` patterns of
    the professional domains. ``size_bounce``: a mail to a patient above ``patient_max_size`` is
    bounced by a DSN after acceptance, as Mon espace santé does behind the operator (``False``:
    refused with ``552`` during the SMTP dialogue).
    """

    def __init__(
        self,
        *,
        known_ins: Iterable[str] | None = None,
        patient_max_size: int = 25_000_000,
        pro_domains: Iterable[str] = ("*.mssante.fr",),
        pro_displayed_mdn: bool = False,
        size_bounce: bool = True,
    ) -> None:
        if known_ins is None:
            known_ins = (i.matricule for i in CNDA_IDENTITIES if i.oid.endswith(".8"))
        self.known_ins = frozenset(m.upper() for m in known_ins)
        self.patient_max_size = patient_max_size
        self.pro_domains = tuple(pro_domains)
        self.pro_displayed_mdn = pro_displayed_mdn
        self.size_bounce = size_bounce

    def is_patient(self, address: str) -> bool:
        return _domain(address) == MSSANTE_PATIENT_DOMAIN

    def is_pro(self, address: str) -> bool:
        domain = _domain(address)
        return domain != MSSANTE_PATIENT_DOMAIN and any(
            fnmatch.fnmatchcase(domain, pattern) for pattern in self.pro_domains
        )

    def check_recipient(self, address: str, declared_size: int | None) -> str | None:
        """The SMTP refusal for ``RCPT TO:<address>``, or ``None`` when accepted."""
        if self.is_patient(address):
            if not _MATRICULE.match(address.rpartition("@")[0]):
                return "553 5.1.3 adresse patient invalide: la partie locale doit etre l'INS"
            too_big = declared_size is not None and declared_size > self.patient_max_size
            if too_big and not self.size_bounce:
                return (
                    f"552 5.3.4 message trop volumineux pour Mon espace sante "
                    f"(maximum {self.patient_max_size} octets)"
                )
            return None
        if self.is_pro(address):
            return None
        return "550 5.7.1 domaine hors de l'espace de confiance MSSante"

    def check_data(self, submission: SandboxSubmission) -> str | None:
        """The SMTP refusal at the end of ``DATA``, or ``None``."""
        if self.size_bounce:
            return None
        if len(submission.data) > self.patient_max_size and any(
            self.is_patient(r) for r in submission.recipients
        ):
            return (
                f"552 5.3.4 message de {len(submission.data)} octets: Mon espace sante "
                f"refuse au-dela de {self.patient_max_size} octets"
            )
        return None

    def integration_error(self, recipient: str, data: bytes) -> str | None:
        """The ``code^libellé`` of the MDN ``processed/error`` Mon espace santé would return
        for a patient mail, or ``None``.

        Only one case is modelled, with the code of the ANS MDN sample: an ``IHE_XDM.zip``
        whose ``patientId`` is not the INS of the mailbox → ``902^Identifiant de patient
        inconnu``. A mail whose XDM cannot be read is delivered without error [?].
        """
        if not self.is_patient(recipient):
            return None
        from segur_ris.errors import SegurError
        from segur_ris.mssante._mail import read_mail

        try:
            mail = read_mail(data)
        except SegurError:
            return None
        if mail.xdm is None:
            return None
        ins = recipient.rpartition("@")[0].upper()
        patient_ids = {d.entry.patient_id.split("^", 1)[0].upper() for d in mail.xdm.documents}
        if patient_ids and patient_ids != {ins}:
            return "902^Identifiant de patient inconnu"
        return None

    def deliveries(self, submission: SandboxSubmission) -> list[SandboxDelivery]:
        """The mails and reports an accepted submission produces."""
        from segur_ris.mssante._acks import build_dsn, build_mdn

        headers = BytesHeaderParser(policy=default_policy).parsebytes(submission.data)
        dnt = [
            a
            for _, a in getaddresses(
                [str(v) for v in headers.get_all("Disposition-Notification-To", [])]
            )
            if a
        ]
        out: list[SandboxDelivery] = []
        too_big = len(submission.data) > self.patient_max_size

        def dsn(rcpt: str, action: str, status: str, diagnostic: str) -> SandboxDelivery:
            report = build_dsn(
                submission.data,
                reporting_mta=_REPORTING_MTA,
                recipient=rcpt,
                action=action,
                status=status,
                diagnostic=diagnostic,
                envelope_id=submission.envelope_id,
            )
            return SandboxDelivery(submission.mail_from, report, "dsn")

        for rcpt in submission.recipients:
            notify = submission.notify.get(rcpt, ())
            patient = self.is_patient(rcpt)
            known = not patient or rcpt.rpartition("@")[0].upper() in self.known_ins
            status = "5.1.1" if not known else ("5.3.4" if patient and too_big else "")
            if not status:
                out.append(SandboxDelivery(rcpt, submission.data, "mail"))
                if "SUCCESS" in notify:
                    out.append(dsn(rcpt, "delivered", "2.0.0", "250 2.0.0 " + _reason("2.0.0")))
                disposition = (
                    "processed"
                    if self.is_patient(rcpt)
                    else ("displayed" if self.pro_displayed_mdn else None)
                )
                if dnt and disposition:
                    error = self.integration_error(rcpt, submission.data)
                    mdn = build_mdn(
                        submission.data,
                        reporting_ua=_REPORTING_UA,
                        disposition=disposition,
                        error=error,
                        final_recipient=rcpt,
                    )
                    out.extend(SandboxDelivery(a, mdn, "mdn") for a in dnt)
            elif "NEVER" not in notify:
                code = "550" if status == "5.1.1" else "552"
                out.append(dsn(rcpt, "failed", status, f"{code} {status} {_reason(status)}"))
        return out


# --- SMTP side (aiosmtpd) -------------------------------------------------------------------


def _peer_cn(session: Any) -> str | None:
    ssl_info = getattr(session, "ssl", None) or {}
    peer = ssl_info.get("peercert") if isinstance(ssl_info, dict) else None
    for rdn in (peer or {}).get("subject", ()):
        for name, value in rdn:
            if name == "commonName":
                return str(value)
    return None


def _smtp_class() -> type[Any]:
    """aiosmtpd's SMTP taught the DSN parameters of RFC 3461 (it rejects unknown ones)."""
    from aiosmtpd.smtp import SMTP

    class _DsnSmtp(SMTP):  # type: ignore[misc]
        async def smtp_MAIL(self, arg: str | None) -> None:
            kept, dsn = _split_params(arg, ("RET", "ENVID"))
            before = self.envelope.mail_from if self.envelope else None
            await super().smtp_MAIL(kept)
            if self.envelope is not None and self.envelope.mail_from and not before:
                self.envelope.dsn = {"ret": dsn.get("RET"), "envid": dsn.get("ENVID")}

        async def smtp_RCPT(self, arg: str | None) -> None:
            kept, dsn = _split_params(arg, ("NOTIFY", "ORCPT"))
            notify = tuple(v for v in (dsn.get("NOTIFY") or "").upper().split(",") if v)
            if not set(notify) <= _NOTIFY_VALUES or ("NEVER" in notify and len(notify) > 1):
                await self.push("501 5.5.4 parametre NOTIFY invalide")
                return
            count = len(self.envelope.rcpt_tos) if self.envelope else 0
            await super().smtp_RCPT(kept)
            if self.envelope is not None and len(self.envelope.rcpt_tos) > count:
                notifies = getattr(self.envelope, "notify", None) or {}
                notifies[self.envelope.rcpt_tos[-1]] = notify
                self.envelope.notify = notifies

    return _DsnSmtp


def _split_params(arg: str | None, names: tuple[str, ...]) -> tuple[str | None, dict[str, str]]:
    if arg is None:
        return None, {}
    kept: list[str] = []
    found: dict[str, str] = {}
    for part in arg.split(" "):
        key, sep, value = part.partition("=")
        if sep and key.upper() in names:
            found[key.upper()] = _unxtext(value)
        else:
            kept.append(part)
    return " ".join(kept), found


def _unxtext(value: str) -> str:
    return re.sub(r"\+([0-9A-Fa-f]{2})", lambda m: chr(int(m.group(1), 16)), value)


class _Handler:
    """aiosmtpd handler: authentication mechanisms, checks and delivery."""

    def __init__(self, sandbox: MssanteSandbox) -> None:
        self.sandbox = sandbox

    async def handle_EHLO(
        self, server: Any, session: Any, envelope: Any, hostname: str, responses: list[str]
    ) -> list[str]:
        session.host_name = hostname
        return [*responses[:-1], "250-DSN", "250-ENHANCEDSTATUSCODES", responses[-1]]

    async def auth_XOAUTH2(self, server: Any, args: list[str]) -> Any:
        from aiosmtpd.smtp import AuthResult

        blob = await _sasl_blob(server, args)
        if blob is None:
            return AuthResult(success=False, handled=True)
        fields = dict(
            p.split("=", 1) for p in blob.decode("utf-8", "replace").split("\x01") if "=" in p
        )
        user, bearer = fields.get("user", ""), fields.get("auth", "")
        if user and bearer.startswith("Bearer ") and self.sandbox.check_token(user, bearer[7:]):
            return AuthResult(success=True, auth_data=user)
        return AuthResult(success=False, handled=False, message="535 5.7.8 jeton d'acces refuse")

    async def auth_EXTERNAL(self, server: Any, args: list[str]) -> Any:
        from aiosmtpd.smtp import AuthResult

        blob = await _sasl_blob(server, args)
        if blob is None:
            return AuthResult(success=False, handled=True)
        cn = _peer_cn(server.session)
        if cn is None:
            return AuthResult(
                success=False, handled=False, message="535 5.7.8 certificat client requis"
            )
        return AuthResult(success=True, auth_data=blob.decode("utf-8", "replace") or cn)

    async def handle_MAIL(
        self, server: Any, session: Any, envelope: Any, address: str, options: list[str]
    ) -> str:
        if not session.authenticated and _peer_cn(session) is None:
            return "530 5.7.0 authentification requise (certificat client ou XOAUTH2)"
        envelope.mail_from = address
        envelope.mail_options.extend(options)
        return "250 2.1.0 OK"

    async def handle_RCPT(
        self, server: Any, session: Any, envelope: Any, address: str, options: list[str]
    ) -> str:
        declared = None
        for option in envelope.mail_options:
            if option.upper().startswith("SIZE=") and option[5:].isdigit():
                declared = int(option[5:])
        refusal = self.sandbox.core.check_recipient(address, declared)
        if refusal is not None:
            return refusal
        envelope.rcpt_tos.append(address)
        envelope.rcpt_options.extend(options)
        return "250 2.1.5 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        dsn = getattr(envelope, "dsn", None) or {}
        submission = SandboxSubmission(
            queue_id=uuid.uuid4().hex[:12].upper(),
            mail_from=envelope.mail_from,
            recipients=tuple(envelope.rcpt_tos),
            data=bytes(envelope.original_content or envelope.content),
            client_cn=_peer_cn(session),
            auth_user=session.auth_data if isinstance(session.auth_data, str) else None,
            envelope_id=dsn.get("envid"),
            ret=dsn.get("ret"),
            notify=MappingProxyType(dict(getattr(envelope, "notify", None) or {})),
        )
        refusal = self.sandbox.core.check_data(submission)
        if refusal is not None:
            return refusal
        try:
            self.sandbox.accept(submission)
        except Exception:
            _log.exception("MSSanté sandbox: delivery failed")
            return "451 4.3.0 erreur interne du bac a sable"
        return f"250 2.0.0 OK: queued as {submission.queue_id}"


async def _sasl_blob(server: Any, args: list[str]) -> bytes | None:
    if len(args) > 1:
        text = args[1]
    else:
        answer = await server.challenge_auth("", encode_to_b64=False)
        if not isinstance(answer, bytes):
            return None
        return answer
    if text == "=":
        return b""
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        await server.push("501 5.5.2 base64 invalide")
        return None


# --- the sandbox ----------------------------------------------------------------------------


class MssanteSandbox:
    """An MSSanté operator on 127.0.0.1: SMTP submission and IMAP, over STARTTLS.

    ``pki`` gives the server certificate and the CA client certificates must chain to;
    ``tokens`` maps an address to the access token ``XOAUTH2`` accepts for it (or pass
    ``check_token``); ``passwords`` the same for IMAP ``LOGIN``. ``store_dir`` keeps a ``.eml``
    of every accepted submission (``received/``) and the mailboxes (``mailboxes/``, reloaded
    at the next start). Other keywords go to :class:`MssanteSandboxCore`.
    """

    def __init__(
        self,
        pki: TestPki,
        *,
        known_ins: Iterable[str] | None = None,
        patient_max_size: int = 25_000_000,
        max_size: int = 40_000_000,
        pro_domains: Iterable[str] = ("*.mssante.fr",),
        pro_displayed_mdn: bool = False,
        size_bounce: bool = True,
        tokens: Mapping[str, str] | None = None,
        check_token: Callable[[str, str], bool] | None = None,
        passwords: Mapping[str, str] | None = None,
        require_client_cert: bool = False,
        store_dir: str | Path | None = None,
        host: str = "127.0.0.1",
    ) -> None:
        _check_loopback(host)
        self.core = MssanteSandboxCore(
            known_ins=known_ins,
            patient_max_size=patient_max_size,
            pro_domains=pro_domains,
            pro_displayed_mdn=pro_displayed_mdn,
            size_bounce=size_bounce,
        )
        self.pki = pki
        self.host = host
        self.max_size = max_size
        self.store_dir = Path(store_dir) if store_dir is not None else None
        self.store = MailboxStore(self.store_dir / "mailboxes" if self.store_dir else None)
        self.require_client_cert = require_client_cert
        self._tokens = dict(tokens or {})
        self._check_token = check_token
        self._passwords = dict(passwords or {})
        self._lock = threading.Lock()
        self._submissions: list[SandboxSubmission] = []
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._smtp_server: asyncio.Server | None = None
        self._imap: ImapServer | None = None
        self._imap_server: asyncio.Server | None = None
        self._protocols: weakref.WeakSet[Any] = weakref.WeakSet()

    def __repr__(self) -> str:
        state = "running" if self.running else "stopped"
        return f"MssanteSandbox({self.host!r}, {state})"

    # --- checks used by the servers ---------------------------------------------------------

    def check_token(self, user: str, token: str) -> bool:
        """Whether ``token`` is accepted for ``user`` (XOAUTH2)."""
        if self._check_token is not None:
            return self._check_token(user, token)
        expected = self._tokens.get(user.lower()) or self._tokens.get(user)
        return expected is not None and _same(expected, token)

    def _check_password(self, user: str, password: str) -> bool:
        expected = self._passwords.get(user.lower()) or self._passwords.get(user)
        return expected is not None and _same(expected, password)

    def accept(self, submission: SandboxSubmission) -> None:
        """Record an accepted submission and deliver its mails and reports."""
        deliveries = self.core.deliveries(submission)
        with self._lock:
            self._submissions.append(submission)
        if self.store_dir is not None:
            folder = self.store_dir / "received"
            folder.mkdir(parents=True, exist_ok=True)
            (folder / f"{submission.queue_id}.eml").write_bytes(submission.data)
        for delivery in deliveries:
            self.store.deliver(delivery.mailbox, delivery.data)

    # --- reading ----------------------------------------------------------------------------

    @property
    def submissions(self) -> tuple[SandboxSubmission, ...]:
        """Accepted submissions, in arrival order."""
        with self._lock:
            return tuple(self._submissions)

    def mailbox(self, address: str) -> tuple[StoredMessage, ...]:
        """Messages of ``address``'s mailbox."""
        return self.store.messages(address)

    # --- life cycle -------------------------------------------------------------------------

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def _port(self, server: asyncio.Server | None) -> int:
        if server is None:
            raise RuntimeError("le bac à sable MSSanté n'est pas démarré")
        return int(server.sockets[0].getsockname()[1])

    @property
    def smtp_port(self) -> int:
        """Port of the SMTP submission server."""
        return self._port(self._smtp_server)

    @property
    def imap_port(self) -> int:
        """Port of the IMAP server."""
        return self._port(self._imap_server)

    def client_context(self, client: str | None = "INSI-AUTO") -> Any:
        """A client :class:`ssl.SSLContext` trusting the sandbox CA, with the PKI client
        certificate ``client`` (``None``: no certificate)."""
        from segur_ris.tls import client_context

        if client is None:
            return client_context(trust=self.pki.ca_cert)
        credential = self.pki.clients[client]
        return client_context(
            trust=self.pki.ca_cert, cert_file=credential.cert, key_file=credential.key
        )

    def start(self) -> Self:
        """Start both servers in a background thread."""
        if self._thread is not None:
            raise RuntimeError("le bac à sable MSSanté est déjà démarré")
        from segur_ris.tls import server_context

        tls = server_context(
            cert_file=self.pki.server_cert,
            key_file=self.pki.server_key,
            client_trust=self.pki.ca_cert,
            require_client_cert=self.require_client_cert,
        )
        loop = asyncio.new_event_loop()
        ready = threading.Event()
        failure: list[BaseException] = []

        def run() -> None:
            asyncio.set_event_loop(loop)
            try:
                loop.run_until_complete(self._open(loop, tls))
            except BaseException as exc:  # reported to start()
                failure.append(exc)
                ready.set()
                return
            ready.set()
            loop.run_forever()

        thread = threading.Thread(target=run, name="mssante-sandbox", daemon=True)
        self._loop, self._thread = loop, thread
        thread.start()
        ready.wait()
        if failure:
            thread.join()
            loop.close()
            self._loop = self._thread = None
            raise ConfigError(f"bac à sable MSSanté non démarré: {failure[0]}") from None
        _log.debug("MSSanté sandbox: SMTP %d, IMAP %d", self.smtp_port, self.imap_port)
        return self

    async def _open(self, loop: asyncio.AbstractEventLoop, tls: Any) -> None:
        smtp_class = _smtp_class()
        handler = _Handler(self)

        def factory() -> Any:
            protocol = smtp_class(
                handler,
                hostname=_REPORTING_MTA,
                tls_context=tls,
                require_starttls=True,
                auth_require_tls=True,
                auth_exclude_mechanism=["LOGIN"],
                authenticator=self._authenticator,
                data_size_limit=self.max_size,
                timeout=60,
                loop=loop,
            )
            self._protocols.add(protocol)
            return protocol

        self._smtp_server = await loop.create_server(factory, self.host, 0)
        self._imap = ImapServer(
            self.store, tls, check_password=self._check_password, check_token=self.check_token
        )
        self._imap_server = await self._imap.serve(self.host, 0)

    def _authenticator(
        self, server: Any, session: Any, envelope: Any, mechanism: str, auth_data: Any
    ) -> Any:
        from aiosmtpd.smtp import AuthResult

        login = auth_data.login.decode("utf-8", "replace")
        password = auth_data.password.decode("utf-8", "replace")
        return AuthResult(success=self._check_password(login, password), auth_data=login)

    async def _close(self) -> None:
        if self._smtp_server is not None:
            self._smtp_server.close()
        for protocol in list(self._protocols):
            # abort, not close: a TLS close waits for the (possibly idle) client's close_notify
            for name in ("transport", "_original_transport"):
                transport = getattr(protocol, name, None)
                if transport is not None:
                    transport.abort()
        if self._imap is not None:
            await self._imap.close()
        if self._smtp_server is not None:
            await self._smtp_server.wait_closed()
        await asyncio.sleep(0)
        tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    def stop(self) -> None:
        """Stop both servers, close every connection and join the thread."""
        loop, thread = self._loop, self._thread
        if loop is None or thread is None:
            return
        try:
            asyncio.run_coroutine_threadsafe(self._close(), loop).result(timeout=10)
        finally:
            loop.call_soon_threadsafe(loop.stop)
            thread.join()
            loop.run_until_complete(loop.shutdown_asyncgens())
            loop.close()
            self._loop = self._thread = None
            self._smtp_server = self._imap_server = None
            self._imap = None
            self._protocols.clear()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


def _same(expected: str, given: str) -> bool:
    import hmac

    return hmac.compare_digest(expected.encode(), given.encode())
