"""MSSanté submission: SMTP + STARTTLS ("API LPS", ECO.1.0.1), sans-IO planning + smtplib.

:func:`plan_submission` is pure: from the envelope, the mail size and the extensions the server
announced in its EHLO answer, it decides the ``MAIL FROM`` / ``RCPT TO`` parameters (DSN of RFC
3461: ``RET=HDRS ENVID=…`` and ``NOTIFY=SUCCESS,FAILURE ORCPT=rfc822;…`` when ``DSN`` is
announced; ``SIZE=`` when ``SIZE`` is) and refuses a mail larger than the server's ``SIZE`` or
than the 25 MB Mon espace santé accepts for ``@patient.mssante.fr``.

:class:`SmtpTransport` is the thin I/O side on :mod:`smtplib`: STARTTLS is mandatory (a server
that does not announce it is refused, nothing is sent in clear), the context comes from
:func:`segur_ris.tls.client_context` (TLS >= 1.2, server verified against the trust store), then
authentication:

* :class:`CertificateAuth` — *BAL applicative*: mutual TLS with the ORG certificate. The SASL
  step after mutual TLS is not documented in what we could read (notes §2.6, gap): we send
  ``AUTH EXTERNAL =`` when the server announces ``EXTERNAL`` and no ``AUTH`` otherwise (the TLS
  client certificate is then the authentication).
* :class:`XOAuth2` — personal or organisational mailbox: SASL ``XOAUTH2`` with a Pro Santé
  Connect access token (ECO.1.2.1). The token never appears in logs, ``repr`` or errors.

Every failure is a :class:`~segur_ris.errors.MssanteTransportError` whose ``code`` is the SMTP
enhanced status (``5.1.1``…) or reply code when the server gave one.
"""

from __future__ import annotations

import base64
import contextlib
import logging
import os
import re
import smtplib
import ssl
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import TYPE_CHECKING, Protocol

from segur_ris.errors import ConfigError, MssanteSizeError, MssanteTransportError
from segur_ris.mssante._session import TlsSession, io_failure, tls_failure

if TYPE_CHECKING:
    from segur_ris.certificates import Credential

__all__ = [
    "PATIENT_DOMAIN",
    "PATIENT_MAX_SIZE",
    "CertificateAuth",
    "MailToSend",
    "MssAuth",
    "PasswordAuth",
    "SendResult",
    "SmtpTransport",
    "SubmissionPlan",
    "XOAuth2",
    "parse_ehlo",
    "plan_submission",
    "xoauth2_initial_response",
    "xtext",
]

_log = logging.getLogger("segur_ris.mssante.smtp")

#: Domain of the patients' Mon espace santé mailboxes.
PATIENT_DOMAIN = "patient.mssante.fr"
#: Largest mail Mon espace santé accepts: 25 MB read as 25 000 000 bytes (as ``_mail``).
PATIENT_MAX_SIZE = 25_000_000
#: Default submission port (RFC 6409), as reported for the MSSanté operators.
SUBMISSION_PORT = 587

_ENHANCED = re.compile(r"^([245]\.\d{1,3}\.\d{1,3})\b")
_BARE_LF = re.compile(rb"(?<!\r)\n")


# --- authentication -------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class CertificateAuth:
    """BAL applicative: the TLS client certificate (IGC Santé ORG) authenticates the sender.

    ``authzid`` is the mailbox asked for with SASL ``EXTERNAL`` (empty: the one bound to the
    certificate); IMAP needs it (``AUTHENTICATE EXTERNAL``), SMTP sends ``AUTH EXTERNAL`` only
    when the server announces it.
    """

    authzid: str = ""


@dataclass(frozen=True, slots=True)
class XOAuth2:
    """SASL ``XOAUTH2``: ``user`` (the MSSanté address) and a Pro Santé Connect access token.

    ``token`` is a string or a callable returning a fresh one (never stored by the SDK); it is
    kept out of ``repr``.
    """

    user: str
    token: str | Callable[[], str] = field(repr=False)

    def bearer(self) -> str:
        """The current access token."""
        value = self.token() if callable(self.token) else self.token
        if not value or any(c in value for c in "\x01\r\n"):
            raise ConfigError("jeton d'accès Pro Santé Connect vide ou invalide")
        return value


@dataclass(frozen=True, slots=True)
class PasswordAuth:
    """IMAP ``LOGIN`` / SMTP ``AUTH PLAIN`` with a password (test and legacy servers)."""

    user: str
    password: str = field(repr=False)


MssAuth = CertificateAuth | XOAuth2 | PasswordAuth


def xoauth2_initial_response(user: str, token: str) -> bytes:
    """The raw (not base64) XOAUTH2 client response: ``user=…^Aauth=Bearer …^A^A``."""
    return f"user={user}\x01auth=Bearer {token}\x01\x01".encode()


# --- sans-IO planning -----------------------------------------------------------------------


class MailToSend(Protocol):
    """What :meth:`SmtpTransport.send` needs of a mail (``segur_ris.mssante.MssMail`` fits)."""

    @property
    def message_id(self) -> str: ...

    @property
    def sender(self) -> str: ...

    @property
    def recipients(self) -> Sequence[str]: ...

    def to_bytes(self) -> bytes: ...


@dataclass(frozen=True, slots=True)
class SubmissionPlan:
    """The SMTP envelope of one submission: options of ``MAIL FROM`` and of each ``RCPT TO``."""

    sender: str
    recipients: tuple[str, ...]
    mail_options: tuple[str, ...]
    rcpt_options: tuple[tuple[str, ...], ...]
    size: int
    dsn: bool


@dataclass(frozen=True, slots=True)
class SendResult:
    """Outcome of one submission.

    ``accepted`` recipients were taken by the server; ``refused`` maps the others to their
    ``(code, text)``. ``dsn_requested`` tells whether ``NOTIFY=SUCCESS,FAILURE`` was sent (the
    server announced ``DSN``): delivery reports will then come back to the sender's mailbox.
    """

    message_id: str
    envelope_id: str
    sender: str
    accepted: tuple[str, ...]
    refused: Mapping[str, tuple[int, str]]
    dsn_requested: bool
    size: int
    reply: str


def xtext(value: str) -> str:
    """RFC 3461 ``xtext``: ``+``, ``=`` and characters outside ``!``..``~`` as ``+HH``."""
    out = []
    for char in value.encode("utf-8"):
        if 33 <= char <= 126 and char not in (43, 61):
            out.append(chr(char))
        else:
            out.append(f"+{char:02X}")
    return "".join(out)


def parse_ehlo(reply: str) -> dict[str, str]:
    """EHLO answer lines (after the greeting line) to ``{extension: parameters}``."""
    extensions: dict[str, str] = {}
    for line in reply.splitlines()[1:]:
        name, _, params = line.strip().partition(" ")
        if name:
            extensions[name.lower()] = params.strip()
    return extensions


def _ascii_address(address: str) -> str:
    if not address or any(c in address for c in "<>\r\n ") or not address.isascii():
        raise MssanteTransportError(f"adresse d'enveloppe invalide: {address!r}", code="address")
    return address


def plan_submission(
    sender: str,
    recipients: Iterable[str],
    *,
    size: int,
    extensions: Mapping[str, str],
    envelope_id: str,
    eight_bit: bool = False,
    notify: Sequence[str] = ("SUCCESS", "FAILURE"),
    ret: str = "HDRS",
    patient_max_size: int = PATIENT_MAX_SIZE,
) -> SubmissionPlan:
    """Decide the envelope parameters of one submission (no I/O).

    Raises :class:`~segur_ris.errors.MssanteSizeError` (code ``5.3.4``) when the mail is larger
    than the server's announced ``SIZE`` or, for a ``@patient.mssante.fr`` recipient, than
    ``patient_max_size``; :class:`~segur_ris.errors.MssanteTransportError` for an 8-bit mail to a
    server without ``8BITMIME`` or an empty recipient list.
    """
    rcpts = tuple(_ascii_address(r) for r in recipients)
    _ascii_address(sender)
    if not rcpts:
        raise MssanteTransportError("aucun destinataire", code="address")
    limit_text = extensions.get("size", "")
    limit = int(limit_text) if limit_text.isdigit() else 0
    if limit and size > limit:
        raise MssanteSizeError(
            f"message de {size} octets, le serveur n'en accepte que {limit}", code="5.3.4"
        )
    if size > patient_max_size and any(
        r.rpartition("@")[2].lower() == PATIENT_DOMAIN for r in rcpts
    ):
        raise MssanteSizeError(
            f"message de {size} octets: Mon espace santé refuse au-delà de "
            f"{patient_max_size} octets",
            code="5.3.4",
        )
    mail_options: list[str] = []
    if "size" in extensions:
        mail_options.append(f"SIZE={size}")
    if eight_bit:
        if "8bitmime" not in extensions:
            raise MssanteTransportError(
                "message 8 bits et le serveur n'annonce pas 8BITMIME", code="8bitmime"
            )
        mail_options.append("BODY=8BITMIME")
    dsn = "dsn" in extensions and bool(notify)
    rcpt_options: list[tuple[str, ...]] = []
    if dsn:
        mail_options += [f"RET={ret}", f"ENVID={xtext(envelope_id)}"]
        for rcpt in rcpts:
            rcpt_options.append((f"NOTIFY={','.join(notify)}", f"ORCPT=rfc822;{xtext(rcpt)}"))
    else:
        rcpt_options = [() for _ in rcpts]
    return SubmissionPlan(
        sender=sender,
        recipients=rcpts,
        mail_options=tuple(mail_options),
        rcpt_options=tuple(rcpt_options),
        size=size,
        dsn=dsn,
    )


def _envelope_id(message_id: str) -> str:
    return message_id.strip().strip("<>") or "segur-ris"


def _reply_code(code: int, text: bytes | str) -> str:
    message = text.decode("utf-8", "replace") if isinstance(text, bytes) else text
    match = _ENHANCED.match(message.strip())
    return match.group(1) if match else str(code)


def _reply_text(text: bytes | str) -> str:
    message = text.decode("utf-8", "replace") if isinstance(text, bytes) else text
    return " ".join(message.split())[:300]


# --- transport ------------------------------------------------------------------------------


class SmtpTransport(TlsSession):
    """SMTP submission over STARTTLS to an MSSanté operator (or the sandbox).

    ``context`` is a ready :class:`ssl.SSLContext`; otherwise one is built with
    :func:`segur_ris.tls.client_context` from ``trust`` and the client certificate
    (``cert_file``/``key_file`` or ``credential``). One connection is opened lazily and reused
    by successive :meth:`send` calls; use the transport as a context manager or call
    :meth:`close`.
    """

    def __init__(
        self,
        host: str,
        port: int = SUBMISSION_PORT,
        *,
        auth: MssAuth,
        context: ssl.SSLContext | None = None,
        trust: str | os.PathLike[str] | bytes | None = None,
        cert_file: str | os.PathLike[str] | None = None,
        key_file: str | os.PathLike[str] | None = None,
        credential: Credential | None = None,
        timeout: float = 30.0,
        local_hostname: str | None = None,
        patient_max_size: int = PATIENT_MAX_SIZE,
    ) -> None:
        super().__init__(
            host,
            port,
            auth=auth,
            context=context,
            trust=trust,
            cert_file=cert_file,
            key_file=key_file,
            credential=credential,
            timeout=timeout,
        )
        self.patient_max_size = patient_max_size
        self._local_hostname = local_hostname or "segur-ris.localdomain"
        self._smtp: smtplib.SMTP | None = None
        self._extensions: dict[str, str] = {}

    @property
    def extensions(self) -> Mapping[str, str]:
        """Extensions announced by the server after STARTTLS (lower-case names)."""
        return MappingProxyType(self._extensions)

    def _error(self, message: str, code: str) -> MssanteTransportError | MssanteSizeError:
        if code in ("5.3.4", "552"):  # size refusals keep their own type
            return MssanteSizeError(f"{self.host}:{self.port}: {message}", code=code)
        return MssanteTransportError(f"{self.host}:{self.port}: {message}", code=code)

    def connect(self) -> None:
        """Open the connection: EHLO, STARTTLS (mandatory), EHLO, authentication."""
        if self._smtp is not None:
            return
        try:
            smtp = smtplib.SMTP(
                self.host, self.port, local_hostname=self._local_hostname, timeout=self.timeout
            )
        except TimeoutError:
            raise self._error("délai de connexion dépassé", "timeout") from None
        except smtplib.SMTPResponseException as exc:
            raise self._error(
                f"accueil refusé: {_reply_text(exc.smtp_error)}",
                _reply_code(exc.smtp_code, exc.smtp_error),
            ) from None
        except (OSError, smtplib.SMTPException) as exc:
            raise self._error(
                f"connexion impossible ({exc.__class__.__name__})", "connect"
            ) from None
        try:
            self._handshake(smtp)
        except BaseException:
            smtp.close()
            raise
        self._smtp = smtp

    def _handshake(self, smtp: smtplib.SMTP) -> None:
        try:
            smtp.ehlo()
            if not smtp.has_extn("starttls"):
                raise self._error(
                    "le serveur n'annonce pas STARTTLS: rien n'est envoyé en clair", "starttls"
                )
            code, text = smtp.starttls(context=self._context)
            if code != 220:
                raise self._error(f"STARTTLS refusé: {_reply_text(text)}", _reply_code(code, text))
            code, text = smtp.ehlo()
            if code != 250:
                raise self._error(f"EHLO refusé: {_reply_text(text)}", str(code))
            self._extensions = parse_ehlo(text.decode("utf-8", "replace"))
            self._authenticate(smtp)
        except (ssl.SSLError, TimeoutError) as exc:
            raise self._error(*tls_failure(exc)) from None
        except smtplib.SMTPServerDisconnected:
            raise self._error("connexion fermée par le serveur", "disconnected") from None
        except smtplib.SMTPException as exc:
            raise self._error(f"échange refusé ({exc.__class__.__name__})", "smtp") from None
        except OSError as exc:
            raise self._error(*io_failure(exc)) from None

    def _authenticate(self, smtp: smtplib.SMTP) -> None:
        mechanisms = set(self._extensions.get("auth", "").upper().split())
        auth = self.auth
        if isinstance(auth, CertificateAuth):
            if "EXTERNAL" not in mechanisms:
                return  # the verified client certificate is the authentication
            blob = base64.b64encode(auth.authzid.encode()).decode() if auth.authzid else "="
            code, text = smtp.docmd("AUTH", f"EXTERNAL {blob}")
        elif isinstance(auth, XOAuth2):
            if "XOAUTH2" not in mechanisms:
                raise self._error("le serveur n'annonce pas AUTH XOAUTH2", "auth")
            blob = base64.b64encode(xoauth2_initial_response(auth.user, auth.bearer())).decode()
            code, text = smtp.docmd("AUTH", f"XOAUTH2 {blob}")
            if code == 334:  # error details (JSON) as a challenge: answer empty, read the 535
                code, text = smtp.docmd("")
        else:
            if "PLAIN" not in mechanisms:
                raise self._error("le serveur n'annonce pas AUTH PLAIN", "auth")
            raw = f"\0{auth.user}\0{auth.password}".encode()
            code, text = smtp.docmd("AUTH", f"PLAIN {base64.b64encode(raw).decode()}")
        if code != 235:
            raise self._error(
                f"authentification refusée ({type(auth).__name__}): {_reply_text(text)}",
                _reply_code(code, text),
            )
        smtp.does_esmtp = True

    def send(self, mail: MailToSend, *, envelope_id: str | None = None) -> SendResult:
        """Submit ``mail`` (``MssMail`` or anything with ``message_id``, ``sender``,
        ``recipients``, ``to_bytes()``) and return the server's answer per recipient.

        Raises :class:`~segur_ris.errors.MssanteSizeError` before sending anything when the mail
        is too large, :class:`~segur_ris.errors.MssanteTransportError` when the server refuses
        the sender, every recipient or the data.
        """
        data = mail.to_bytes()
        if data.count(b"\n") != data.count(b"\r\n"):  # counting is 10x cheaper than the regex
            data = _BARE_LF.sub(b"\r\n", data)
        return self.send_bytes(
            mail.sender,
            tuple(mail.recipients),
            data,
            envelope_id=envelope_id or _envelope_id(mail.message_id),
            message_id=mail.message_id,
        )

    def send_bytes(
        self,
        sender: str,
        recipients: Sequence[str],
        data: bytes,
        *,
        envelope_id: str,
        message_id: str = "",
    ) -> SendResult:
        """Submit an already serialised RFC 5322 message (CRLF line ends)."""
        # what needs no server answer (addresses, Mon espace santé size) is refused before
        # connecting; the plan is made again below with the extensions the server announced
        plan_submission(
            sender,
            recipients,
            size=len(data),
            extensions={},
            envelope_id=envelope_id,
            patient_max_size=self.patient_max_size,
        )
        self.connect()
        smtp = self._smtp
        assert smtp is not None
        plan = plan_submission(
            sender,
            recipients,
            size=len(data),
            extensions=self._extensions,
            envelope_id=envelope_id,
            eight_bit=not data.isascii(),
            patient_max_size=self.patient_max_size,
        )
        try:
            return self._transaction(smtp, plan, data, message_id, envelope_id)
        except TimeoutError:
            self.close()
            raise self._error("délai dépassé pendant l'envoi", "timeout") from None
        except (smtplib.SMTPServerDisconnected, OSError):
            self.close()
            raise self._error("connexion perdue pendant l'envoi", "disconnected") from None

    def _transaction(
        self,
        smtp: smtplib.SMTP,
        plan: SubmissionPlan,
        data: bytes,
        message_id: str,
        envelope_id: str,
    ) -> SendResult:
        code, text = smtp.mail(plan.sender, list(plan.mail_options))
        if code != 250:
            self._rset(smtp)
            raise self._error(f"expéditeur refusé: {_reply_text(text)}", _reply_code(code, text))
        accepted: list[str] = []
        refused: dict[str, tuple[int, str]] = {}
        for rcpt, options in zip(plan.recipients, plan.rcpt_options, strict=True):
            code, text = smtp.rcpt(rcpt, list(options))
            if code in (250, 251):
                accepted.append(rcpt)
            else:
                refused[rcpt] = (code, _reply_text(text))
        if not accepted:
            self._rset(smtp)
            first_code, first_text = next(iter(refused.values()))
            raise self._error(
                "tous les destinataires sont refusés: "
                + "; ".join(f"{r}: {c} {t}" for r, (c, t) in refused.items()),
                _reply_code(first_code, first_text),
            )
        try:
            code, text = smtp.data(data)
        except smtplib.SMTPDataError as exc:
            self._rset(smtp)
            raise self._error(
                f"DATA refusé: {_reply_text(exc.smtp_error)}",
                _reply_code(exc.smtp_code, exc.smtp_error),
            ) from None
        if code != 250:
            self._rset(smtp)
            raise self._error(f"message refusé: {_reply_text(text)}", _reply_code(code, text))
        _log.info(
            "mail %s submitted to %s:%s (%d accepted, %d refused)",
            message_id,
            self.host,
            self.port,
            len(accepted),
            len(refused),
        )
        return SendResult(
            message_id=message_id,
            envelope_id=envelope_id,
            sender=plan.sender,
            accepted=tuple(accepted),
            refused=MappingProxyType(refused),
            dsn_requested=plan.dsn,
            size=plan.size,
            reply=_reply_text(text),
        )

    @staticmethod
    def _rset(smtp: smtplib.SMTP) -> None:
        with contextlib.suppress(smtplib.SMTPException, OSError):
            smtp.rset()

    def close(self) -> None:
        """Send QUIT (best effort) and close the connection."""
        smtp, self._smtp = self._smtp, None
        if smtp is None:
            return
        try:
            smtp.quit()
        except (smtplib.SMTPException, OSError):
            pass
        finally:
            smtp.close()
