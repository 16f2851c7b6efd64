"""What the SMTP and IMAP clients share: the TLS context, the error wording, the life cycle."""

from __future__ import annotations

import os
import ssl
from types import TracebackType
from typing import TYPE_CHECKING, Self

from segur_ris.errors import MssanteError, MssanteTransportError

if TYPE_CHECKING:
    from segur_ris.certificates import Credential
    from segur_ris.mssante._smtp import MssAuth

__all__ = ["TlsSession", "io_failure", "tls_failure"]


def tls_failure(exc: ssl.SSLError | TimeoutError) -> tuple[str, str]:
    """``(message, code)`` of a TLS negotiation failure or a timeout after connecting."""
    if isinstance(exc, ssl.SSLCertVerificationError):
        return f"certificat du serveur refusé: {exc.verify_message}", "tls_certificate"
    if isinstance(exc, ssl.SSLError):
        return f"négociation TLS échouée ({exc.reason})", "tls"
    return "délai dépassé", "timeout"


def io_failure(exc: OSError) -> tuple[str, str]:
    """``(message, code)`` of a broken exchange (the exception text may hold peer data)."""
    return f"échange interrompu ({exc.__class__.__name__})", "io"


class TlsSession:
    """Base of a STARTTLS client of an MSSanté operator: host, port, authentication, context.

    ``context`` is a ready :class:`ssl.SSLContext`; otherwise one is built by
    :func:`segur_ris.tls.client_context` from ``trust`` and the client certificate
    (``cert_file``/``key_file`` or ``credential``). Subclasses implement :meth:`connect` and
    :meth:`close`.
    """

    def __init__(
        self,
        host: str,
        port: int,
        *,
        auth: MssAuth,
        context: ssl.SSLContext | None,
        trust: str | os.PathLike[str] | bytes | None,
        cert_file: str | os.PathLike[str] | None,
        key_file: str | os.PathLike[str] | None,
        credential: Credential | None,
        timeout: float,
    ) -> None:
        if context is None:
            from segur_ris.tls import client_context

            context = client_context(
                trust=trust, cert_file=cert_file, key_file=key_file, credential=credential
            )
        self.host = host
        self.port = port
        self.auth = auth
        self.timeout = timeout
        self._context = context

    def __repr__(self) -> str:
        # the authentication's type only: its token or password never reaches repr
        return f"{type(self).__name__}({self.host!r}, {self.port}, auth={type(self.auth).__name__})"

    def _error(self, message: str, code: str) -> MssanteError:
        return MssanteTransportError(f"{self.host}:{self.port}: {message}", code=code)

    def connect(self) -> None:
        """Open the connection (subclasses)."""
        raise NotImplementedError

    def close(self) -> None:
        """Close the connection (subclasses)."""
        raise NotImplementedError

    def __enter__(self) -> Self:
        self.connect()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
