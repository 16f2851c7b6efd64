"""Swappable HTTP transports for the SOAP clients (INSi, DMP…).

The protocol cores build and parse bytes; a transport only moves them. :class:`RequestsTransport`
is the default (``requests``, mutual TLS with a client certificate); :class:`HttpsTransport` is
its drop-in replacement for high rates (HTTP/1.1 keep-alive on stdlib sockets framed by ``h11``,
a quarter of the CPU per request); tests and vendors can pass any object with the
:class:`HttpTransport` ``post`` method.
"""

from __future__ import annotations

import functools
import os
import ssl
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from types import TracebackType
from typing import TYPE_CHECKING, Any, Protocol, Self

from segur_ris.errors import ConfigError, TransportError, TransportTimeout

if TYPE_CHECKING:
    import requests
    import requests.adapters

__all__ = [
    "HttpResponse",
    "HttpTransport",
    "HttpsTransport",
    "RecordingTransport",
    "RequestsTransport",
    "context_adapter",
]

StrPath = str | os.PathLike[str]


@dataclass(frozen=True, slots=True)
class HttpResponse:
    status: int
    headers: Mapping[str, str] = field(default_factory=dict)
    body: bytes = b""

    @property
    def content_type(self) -> str:
        for key, value in self.headers.items():
            if key.lower() == "content-type":
                return value
        return ""


class HttpTransport(Protocol):
    def post(
        self, url: str, body: bytes, headers: Mapping[str, str], timeout: float
    ) -> HttpResponse: ...


class RequestsTransport:
    """HTTPS with ``requests``: optional client certificate (mutual TLS) and trust anchors.

    ``client_cert`` is ``(certificate PEM, private key PEM)``; ``ca_bundle`` the trust anchors
    of the server (IGC Santé for the national services, the sandbox CA in tests). The TLS
    context comes from :func:`segur_ris.tls.client_context` (TLS >= 1.2, ANS suites), or is
    ``ssl_context`` when given (then ``client_cert``/``ca_bundle`` must be ``None``); it is
    mounted on the session for ``https://`` through an ``HTTPAdapter``.
    Errors become :class:`TransportError` / :class:`TransportTimeout`; no secret is ever put in
    a message (only file names).
    """

    def __init__(
        self,
        *,
        client_cert: tuple[StrPath, StrPath] | None = None,
        ca_bundle: StrPath | None = None,
        session: requests.Session | None = None,
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        import requests

        self.ssl_context = ssl_context = _tls_context(client_cert, ca_bundle, ssl_context)
        self._session = session or requests.Session()
        self._session.mount("https://", context_adapter(ssl_context))

    def post(
        self, url: str, body: bytes, headers: Mapping[str, str], timeout: float
    ) -> HttpResponse:
        import requests

        try:
            response = self._session.post(url, data=body, headers=dict(headers), timeout=timeout)
        except requests.Timeout:
            raise TransportTimeout(f"délai dépassé ({timeout:g} s) pour {url}") from None
        except requests.exceptions.SSLError as exc:
            raise TransportError(f"échec TLS avec {url}: {_reason(exc)}") from None
        except requests.RequestException as exc:
            raise TransportError(f"échec de connexion à {url}: {_reason(exc)}") from None
        return HttpResponse(response.status_code, dict(response.headers), response.content)

    def close(self) -> None:
        self._session.close()


def _tls_context(
    client_cert: tuple[StrPath, StrPath] | None,
    ca_bundle: StrPath | None,
    ssl_context: ssl.SSLContext | None,
) -> ssl.SSLContext:
    """The TLS context of a transport: ``ssl_context``, or one built by
    :func:`segur_ris.tls.client_context` from ``client_cert``/``ca_bundle`` (not both)."""
    from segur_ris.tls import client_context

    if ssl_context is not None and (client_cert is not None or ca_bundle is not None):
        raise ConfigError("donner soit ssl_context, soit client_cert/ca_bundle, pas les deux")
    if client_cert is not None:
        for path in client_cert:
            if not os.path.isfile(path):
                raise ConfigError(f"certificat ou clé client introuvable: {os.fspath(path)}")
    if ca_bundle is not None and not os.path.exists(ca_bundle):
        raise ConfigError(f"magasin de confiance introuvable: {os.fspath(ca_bundle)}")
    if ssl_context is None:
        ssl_context = client_context(
            trust=ca_bundle,
            cert_file=client_cert[0] if client_cert else None,
            key_file=client_cert[1] if client_cert else None,
        )
    return ssl_context


class HttpsTransport:
    """HTTP/1.1 keep-alive over stdlib sockets and :mod:`ssl`, framed by ``h11``: a drop-in
    for :class:`RequestsTransport` at a quarter of its CPU per request.

    TLS as :class:`RequestsTransport`: ``client_cert`` (certificate PEM, key PEM) and
    ``ca_bundle`` (the *only* trust anchors: neither certifi nor the system store is added), or
    a ready ``ssl_context``. ``http://`` URLs work too (loopback tests, CRL distribution points).

    * Connections are pooled per origin and shared by threads; at most ``max_connections`` idle
      ones are kept per origin (any number may be open at once).
    * A POST is sent once: it is retried on a fresh connection only when a pooled connection
      failed before any byte of the request left (Go's ``net/http`` rule). After that, an
      error is raised even though the server may have processed the request.
    * ``timeout`` bounds the connection and each socket read or write
      (:class:`~segur_ris.errors.TransportTimeout`); every other failure, a malformed answer
      and an answer over ``max_response_bytes`` raise :class:`~segur_ris.errors.TransportError`.
      Non-2xx statuses are returned (SOAP faults are parsed by the callers).
    * ``peer_check(sock, host)`` runs on every new TLS connection, after the handshake and
      before the request is sent; its exception is raised as is. With
      :func:`segur_ris.tls.peer_checker` it checks the server's chain with the SDK's rules and
      its revocation online (OCSP, CRLs with the last valid one kept), which OpenSSL does not.
    * ``proxy`` (``http://[user:password@]host:port``) serves every origin; without it and with
      ``trust_env``, ``HTTPS_PROXY``/``HTTP_PROXY``/``ALL_PROXY``/``NO_PROXY`` are read once, here.
      HTTPS goes through a ``CONNECT`` tunnel.

    Messages and ``repr`` never contain header values, bodies or proxy credentials.
    """

    def __init__(
        self,
        *,
        client_cert: tuple[StrPath, StrPath] | None = None,
        ca_bundle: StrPath | None = None,
        ssl_context: ssl.SSLContext | None = None,
        proxy: str | None = None,
        trust_env: bool = True,
        max_connections: int = 10,
        max_response_bytes: int = 256 * 1024 * 1024,
        peer_check: Callable[[ssl.SSLSocket, str], object] | None = None,
    ) -> None:
        from segur_ris import __version__
        from segur_ris._http11 import Http11Client, ProxyRoutes

        if max_connections < 0:
            raise ConfigError(f"max_connections doit être >= 0, pas {max_connections}")
        if max_response_bytes <= 0:
            raise ConfigError(f"max_response_bytes doit être > 0, pas {max_response_bytes}")
        self.ssl_context = _tls_context(client_cert, ca_bundle, ssl_context)
        # nothing re-imposes verification below (urllib3 does it for RequestsTransport): a
        # context that would accept any certificate or any host name is refused here
        if self.ssl_context.verify_mode != ssl.CERT_REQUIRED or not self.ssl_context.check_hostname:
            raise ConfigError(
                "HttpsTransport: le contexte TLS doit vérifier le certificat du serveur et son "
                "nom (verify_mode=CERT_REQUIRED, check_hostname=True)"
            )
        self._routes = ProxyRoutes(proxy, trust_env=trust_env)
        self._client = Http11Client(
            self.ssl_context,
            routes=self._routes,
            max_connections=max_connections,
            max_response_bytes=max_response_bytes,
            user_agent=f"segur-ris/{__version__}",
            peer_check=peer_check,
        )

    def post(
        self, url: str, body: bytes, headers: Mapping[str, str], timeout: float
    ) -> HttpResponse:
        status, response_headers, data = self._client.post(url, body, headers, timeout)
        return HttpResponse(status, response_headers, data)

    def close(self) -> None:
        """Close the idle connections (the transport stays usable, like a closed
        ``requests.Session``)."""
        self._client.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        proxy = self._routes.display
        return f"HttpsTransport(proxy={proxy!r})" if proxy else "HttpsTransport()"


@functools.cache
def _context_adapter_class() -> Callable[[ssl.SSLContext], requests.adapters.HTTPAdapter]:
    from requests.adapters import HTTPAdapter

    class ContextAdapter(HTTPAdapter):
        """An adapter whose connection pools all use one :class:`ssl.SSLContext`."""

        def __init__(self, context: ssl.SSLContext) -> None:
            self._context = context
            super().__init__()

        def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
            kwargs["ssl_context"] = self._context
            super().init_poolmanager(*args, **kwargs)

        # requests would otherwise hand its own CA bundle (certifi, or REQUESTS_CA_BUNDLE) and
        # client certificate to urllib3, which loads them *into this context*: trust would
        # silently widen to every public CA. The context alone decides.
        def build_connection_pool_key_attributes(
            self, request: Any, verify: Any, cert: Any = None
        ) -> Any:
            del verify, cert
            return super().build_connection_pool_key_attributes(request, True, None)

        def cert_verify(self, conn: Any, url: str, verify: Any, cert: Any) -> None:
            del url, verify, cert
            conn.cert_reqs = "CERT_REQUIRED"
            conn.ca_certs = None
            conn.ca_cert_dir = None
            conn.cert_file = None
            conn.key_file = None

        def proxy_manager_for(self, *args: Any, **kwargs: Any) -> Any:
            kwargs["ssl_context"] = self._context
            return super().proxy_manager_for(*args, **kwargs)

    return ContextAdapter


def context_adapter(context: ssl.SSLContext) -> requests.adapters.HTTPAdapter:
    """A ``requests`` adapter whose connections all use ``context`` (built by
    :func:`segur_ris.tls.client_context`) and nothing else: the CA bundle, ``verify=`` and
    ``cert=`` of ``requests`` are ignored, so trust never widens beyond the context's."""
    return _context_adapter_class()(context)


def _reason(exc: BaseException) -> str:
    while exc.__context__ is not None and not exc.args:
        exc = exc.__context__
    return str(exc.args[0] if exc.args else exc)[:300]


_WSSE = "{http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd}"


def _redact_security(body: bytes) -> bytes:
    """``body`` with the content of every ``wsse:Security`` header replaced by a comment: a
    signed assertion (CPS, VIHF) could be replayed while valid, so it is never written."""
    if b"Security" not in body:
        return body
    from lxml import etree

    from segur_ris._xml import parse_xml
    from segur_ris.errors import XmlError

    try:
        root = parse_xml(body)
    except XmlError:
        return b"<!-- corps non XML: non enregistre -->"
    for security in root.iter(f"{_WSSE}Security"):
        for child in list(security):
            security.remove(child)
        security.append(etree.Comment(" jeton de securite retire de l'enregistrement "))
    return bytes(etree.tostring(root, xml_declaration=True, encoding="utf-8"))


def _action_name(headers: Mapping[str, str]) -> str:
    """Last part of the SOAP 1.2 ``action`` parameter of the Content-Type (``exchange`` if
    none)."""
    from email.message import Message

    message = Message()
    for key, value in headers.items():
        if key.lower() == "content-type":
            message["content-type"] = value
    action = message.get_param("action")
    return action.rsplit(":", 1)[-1] if isinstance(action, str) and action else "exchange"


class RecordingTransport:
    """Wraps a transport and writes every exchange to ``directory`` (evidence, demo artefacts).

    Files are ``NNN-<name>.request.xml`` / ``.response.xml`` where ``name`` is the last part of
    the SOAP action and ``NNN`` counts from ``start + 1`` (a resumed run continues after its
    previous files). Security tokens (``wsse:Security``) are removed before writing; the files
    still contain patient data: keep them where patient data may be kept. Thread-safe: each
    exchange takes its number first, and the exchanges themselves run concurrently.
    """

    def __init__(self, inner: HttpTransport, directory: StrPath, *, start: int = 0) -> None:
        self._inner = inner
        self._dir = os.fspath(directory)
        self._count = start
        self._lock = threading.Lock()
        os.makedirs(self._dir, exist_ok=True)

    @property
    def count(self) -> int:
        """Number of the last exchange begun (``start`` before the first one)."""
        return self._count

    def reserve(self) -> int:
        """Take the number of the next exchange (see :meth:`post_reserved`)."""
        with self._lock:
            self._count += 1
            return self._count

    def post(
        self, url: str, body: bytes, headers: Mapping[str, str], timeout: float
    ) -> HttpResponse:
        return self.post_reserved(self.reserve(), url, body, headers, timeout)

    def post_reserved(
        self, number: int, url: str, body: bytes, headers: Mapping[str, str], timeout: float
    ) -> HttpResponse:
        """:meth:`post`, recorded under ``number`` from :meth:`reserve` (a caller writing its
        own files for the same exchange numbers them alike)."""
        stem = os.path.join(self._dir, f"{number:03d}-{_action_name(headers)}")
        with open(f"{stem}.request.xml", "wb") as fh:
            fh.write(_redact_security(body))
        response = self._inner.post(url, body, headers, timeout)
        with open(f"{stem}.response.xml", "wb") as fh:
            fh.write(response.body)
        return response

    def close(self) -> None:
        close = getattr(self._inner, "close", None)
        if callable(close):
            close()
