"""Reading MSSanté acknowledgements over IMAP4rev1 + STARTTLS ("API LPS", ECO.1.0.2).

:class:`ImapClient` is a thin layer on :mod:`imaplib`: STARTTLS is mandatory (the client never
authenticates in clear), the context comes from :func:`segur_ris.tls.client_context`, then
``AUTHENTICATE XOAUTH2`` (Pro Santé Connect token), ``AUTHENTICATE EXTERNAL`` (BAL applicative,
the TLS client certificate; the mailbox address as authorisation identity) or ``LOGIN``.

:meth:`ImapClient.fetch_acknowledgements` reads the unseen ``multipart/report`` messages (MDN
RFC 8098, DSN RFC 3464) and the ANS integration-error mails, parses each with
:func:`segur_ris.mssante._acks.parse_acknowledgement` and marks the parsed ones ``\\Seen``; a
report that cannot be read stays unseen and is listed in :attr:`AckBatch.rejected` (never
silently dropped).
"""

from __future__ import annotations

import contextlib
import imaplib
import logging
import os
import re
import ssl
from collections.abc import Callable
from dataclasses import dataclass
from email.parser import BytesHeaderParser
from email.policy import default as default_policy
from typing import TYPE_CHECKING, Any

from segur_ris.errors import MssanteAckError
from segur_ris.mssante._session import TlsSession, io_failure, tls_failure
from segur_ris.mssante._smtp import (
    CertificateAuth,
    MssAuth,
    PasswordAuth,
    XOAuth2,
    xoauth2_initial_response,
)

if TYPE_CHECKING:
    from segur_ris.certificates import Credential
    from segur_ris.mssante._acks import Acknowledgement

__all__ = ["AckBatch", "FetchedMessage", "ImapClient", "ReceivedAck"]

_log = logging.getLogger("segur_ris.mssante.imap")

#: Default IMAP port (STARTTLS on the clear port, as reported for the MSSanté operators).
IMAP_PORT = 143
_UID = re.compile(rb"UID (\d+)")
_CODE = re.compile(r"^\[([A-Z-]+)")


@dataclass(frozen=True, slots=True)
class FetchedMessage:
    """One message read from the mailbox: its IMAP ``uid`` and raw RFC 5322 bytes."""

    uid: int
    data: bytes

    @property
    def is_report(self) -> bool:
        """Whether it is a ``multipart/report`` (MDN or DSN)."""
        headers = BytesHeaderParser(policy=default_policy).parsebytes(self.data)
        return headers.get_content_type() == "multipart/report"

    @property
    def is_acknowledgement(self) -> bool:
        """Whether it is a report or the ANS "courriel standard" of an integration error
        (subject ``[Erreur d'intégration !][<code>] …``, sent when no MDN was asked)."""
        if self.is_report:
            return True
        from segur_ris.mssante._acks import is_error_mail_subject

        headers = BytesHeaderParser(policy=default_policy).parsebytes(self.data)
        return is_error_mail_subject(str(headers.get("Subject", "")))


@dataclass(frozen=True, slots=True)
class ReceivedAck:
    """A parsed acknowledgement and the IMAP ``uid`` of the report that carried it."""

    uid: int
    ack: Acknowledgement


@dataclass(frozen=True, slots=True)
class AckBatch:
    """Result of :meth:`ImapClient.fetch_acknowledgements`: ``acks`` read (and marked seen),
    ``rejected`` reports that could not be read as ``(uid, reason)`` (left unseen)."""

    acks: tuple[ReceivedAck, ...]
    rejected: tuple[tuple[int, str], ...]


def _text(data: Any) -> str:
    if isinstance(data, list) and data:
        data = data[-1]
    if isinstance(data, bytes):
        return data.decode("utf-8", "replace")
    return str(data)


class ImapClient(TlsSession):
    """IMAP client of one MSSanté mailbox (``INBOX`` by default) over STARTTLS.

    ``context`` is a ready :class:`ssl.SSLContext`; otherwise one is built by
    :func:`segur_ris.tls.client_context` from ``trust`` and the client certificate.
    """

    def __init__(
        self,
        host: str,
        port: int = IMAP_PORT,
        *,
        auth: MssAuth,
        context: ssl.SSLContext | None = None,
        trust: str | os.PathLike[str] | bytes | None = None,
        cert_file: str | os.PathLike[str] | None = None,
        key_file: str | os.PathLike[str] | None = None,
        credential: Credential | None = None,
        timeout: float = 30.0,
        mailbox: str = "INBOX",
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
        self.mailbox = mailbox
        self._imap: imaplib.IMAP4 | None = None

    def connect(self) -> None:
        """Connect, STARTTLS (mandatory), authenticate and select the mailbox."""
        if self._imap is not None:
            return
        try:
            imap = imaplib.IMAP4(self.host, self.port, timeout=self.timeout)
        except TimeoutError:
            raise self._error("délai de connexion dépassé", "timeout") from None
        except (OSError, imaplib.IMAP4.error) as exc:
            reason = exc.__class__.__name__
            raise self._error(f"connexion impossible ({reason})", "connect") from None
        try:
            self._open(imap)
        except BaseException:
            with contextlib.suppress(OSError, imaplib.IMAP4.error):
                imap.shutdown()
            raise
        self._imap = imap

    def _open(self, imap: imaplib.IMAP4) -> None:
        try:
            if "STARTTLS" not in imap.capabilities:
                raise self._error(
                    "le serveur n'annonce pas STARTTLS: pas d'authentification en clair",
                    "starttls",
                )
            imap.starttls(self._context)
            self._authenticate(imap)
            typ, data = imap.select(self.mailbox)
            if typ != "OK":
                raise self._error(f"boîte {self.mailbox!r} inaccessible: {_text(data)}", "select")
        except (ssl.SSLError, TimeoutError) as exc:
            raise self._error(*tls_failure(exc)) from None
        except imaplib.IMAP4.abort as exc:
            raise self._error(f"connexion interrompue: {exc}", "abort") from None
        except imaplib.IMAP4.error as exc:  # e.g. STARTTLS answered NO
            raise self._error(f"échange refusé: {str(exc)[:200]}", "imap") from None
        except OSError as exc:
            raise self._error(*io_failure(exc)) from None

    def _authenticate(self, imap: imaplib.IMAP4) -> None:
        auth = self.auth
        mechanism = type(auth).__name__
        try:
            if isinstance(auth, XOAuth2):
                token = auth.bearer()
                first = [True]

                def respond(_challenge: bytes) -> bytes:
                    # second call = error details sent as a challenge: answer empty
                    if first[0]:
                        first[0] = False
                        return xoauth2_initial_response(auth.user, token)
                    return b""

                imap.authenticate("XOAUTH2", respond)
            elif isinstance(auth, CertificateAuth):
                if not auth.authzid:
                    raise self._error("AUTHENTICATE EXTERNAL demande l'adresse de la BAL", "auth")
                authzid = auth.authzid.encode()
                imap.authenticate("EXTERNAL", _once(authzid))
            elif isinstance(auth, PasswordAuth):
                imap.login(auth.user, auth.password)
        except imaplib.IMAP4.error as exc:
            # imaplib's message is the server's text: it never holds the credentials
            text = str(exc)
            match = _CODE.match(text)
            raise self._error(
                f"authentification refusée ({mechanism}): {text[:200]}",
                match.group(1) if match else "auth",
            ) from None

    # --- reading ----------------------------------------------------------------------------

    def _client(self) -> imaplib.IMAP4:
        self.connect()
        assert self._imap is not None
        return self._imap

    def _uid(self, command: str, *args: str) -> list[Any]:
        imap = self._client()
        try:
            typ, data = imap.uid(command, *args)
        except imaplib.IMAP4.abort as exc:
            self._drop()
            raise self._error(f"connexion interrompue: {exc}", "abort") from None
        except imaplib.IMAP4.error as exc:
            raise self._error(f"UID {command} refusé: {exc}", "imap") from None
        except OSError as exc:
            self._drop()
            raise self._error(*io_failure(exc)) from None
        if typ != "OK":
            raise self._error(f"UID {command} refusé: {_text(data)}", "imap")
        return list(data)

    def search(self, *criteria: str) -> list[int]:
        """UIDs of the messages matching the IMAP ``criteria`` (default ``UNSEEN``)."""
        data = self._uid("SEARCH", *(criteria or ("UNSEEN",)))
        return [int(uid) for chunk in data if chunk for uid in chunk.split()]

    def fetch(self, uid: int) -> FetchedMessage:
        """The raw message ``uid`` (``BODY.PEEK[]``: the ``\\Seen`` flag is not changed)."""
        for item in self._uid("FETCH", str(uid), "(UID BODY.PEEK[])"):
            if isinstance(item, tuple) and len(item) == 2:
                match = _UID.search(item[0])
                if match and int(match.group(1)) == uid:
                    return FetchedMessage(uid, bytes(item[1]))
        raise self._error(f"message UID {uid} introuvable", "fetch")

    def mark_seen(self, uids: list[int]) -> None:
        """Set ``\\Seen`` on the messages ``uids``."""
        if uids:
            self._uid("STORE", ",".join(map(str, uids)), "+FLAGS.SILENT", "(\\Seen)")

    def fetch_unseen(self) -> list[FetchedMessage]:
        """Every unseen message, not marked seen."""
        return [self.fetch(uid) for uid in self.search("UNSEEN")]

    def fetch_acknowledgements(self, *, mark_seen: bool = True) -> AckBatch:
        """Parse the unseen reports (MDN, DSN, ANS integration-error mails) into typed
        acknowledgements.

        Other messages stay untouched; readable reports are marked ``\\Seen`` when
        ``mark_seen``; unreadable ones stay unseen and are listed in ``rejected``.
        """
        from segur_ris.mssante._acks import parse_acknowledgement

        acks: list[ReceivedAck] = []
        rejected: list[tuple[int, str]] = []
        for message in self.fetch_unseen():
            if not message.is_acknowledgement:
                continue
            try:
                ack = parse_acknowledgement(message.data)
            except MssanteAckError as exc:
                _log.warning("report UID %d unreadable: %s", message.uid, exc.message)
                rejected.append((message.uid, str(exc)))
                continue
            acks.append(ReceivedAck(message.uid, ack))
        if mark_seen:
            self.mark_seen([received.uid for received in acks])
        return AckBatch(acks=tuple(acks), rejected=tuple(rejected))

    # --- life cycle -------------------------------------------------------------------------

    def _drop(self) -> None:
        imap, self._imap = self._imap, None
        if imap is not None:
            with contextlib.suppress(OSError, imaplib.IMAP4.error):
                imap.shutdown()

    def close(self) -> None:
        """LOGOUT (best effort) and close the connection."""
        imap, self._imap = self._imap, None
        if imap is None:
            return
        try:
            imap.logout()
        except (imaplib.IMAP4.error, OSError):
            with contextlib.suppress(OSError, imaplib.IMAP4.error):
                imap.shutdown()


def _once(value: bytes) -> Callable[[bytes], bytes]:
    sent = [False]

    def respond(_challenge: bytes) -> bytes:
        if sent[0]:
            return b""
        sent[0] = True
        return value

    return respond
