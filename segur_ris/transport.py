"""Swappable HTTP transports for the SOAP clients (INSi, DMP…).

The protocol cores build and parse bytes; a transport only moves them. :class:`RequestsTransport`
is the default (``requests``, mutual TLS with a client certificate); tests and vendors can pass
any object with the :class:`HttpTransport` ``post`` method.
"""

from __future__ import annotations

import functools
import os
import ssl
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from segur_ris.errors import ConfigError, TransportError, TransportTimeout

if TYPE_CHECKING:
    import requests
    import requests.adapters

__all__ = [
    "HttpResponse",
    "HttpTransport",
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
        self.ssl_context = ssl_context
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
    still contain patient data: keep them where patient data may be kept.
    """

    def __init__(self, inner: HttpTransport, directory: StrPath, *, start: int = 0) -> None:
        self._inner = inner
        self._dir = os.fspath(directory)
        self._count = start
        os.makedirs(self._dir, exist_ok=True)

    @property
    def count(self) -> int:
        """Number of the last exchange written (``start`` before the first one)."""
        return self._count

    def post(
        self, url: str, body: bytes, headers: Mapping[str, str], timeout: float
    ) -> HttpResponse:
        self._count += 1
        stem = os.path.join(self._dir, f"{self._count:03d}-{_action_name(headers)}")
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
