"""Swappable HTTP transports for the SOAP clients (INSi, DMP…).

The protocol cores build and parse bytes; a transport only moves them. :class:`RequestsTransport`
is the default (``requests``, mutual TLS with a client certificate); tests and vendors can pass
any object with the :class:`HttpTransport` ``post`` method.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol

from segur_ris.errors import ConfigError, TransportError, TransportTimeout

if TYPE_CHECKING:
    import requests

__all__ = ["HttpResponse", "HttpTransport", "RecordingTransport", "RequestsTransport"]

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
    """HTTPS with ``requests``: optional client certificate (mutual TLS) and CA bundle.

    ``client_cert`` is ``(certificate PEM, private key PEM)``; ``ca_bundle`` the trust anchors
    of the server (IGC Santé for the national services, the sandbox CA in tests).
    Errors become :class:`TransportError` / :class:`TransportTimeout`; no secret is ever put in
    a message (only file names).
    """

    def __init__(
        self,
        *,
        client_cert: tuple[StrPath, StrPath] | None = None,
        ca_bundle: StrPath | None = None,
        session: requests.Session | None = None,
    ) -> None:
        import requests

        if client_cert is not None:
            for path in client_cert:
                if not os.path.isfile(path):
                    raise ConfigError(f"certificat ou clé client introuvable: {os.fspath(path)}")
        if ca_bundle is not None and not os.path.exists(ca_bundle):
            raise ConfigError(f"magasin de confiance introuvable: {os.fspath(ca_bundle)}")
        self._session = session or requests.Session()
        self._cert = tuple(os.fspath(p) for p in client_cert) if client_cert else None
        self._verify: str | bool = os.fspath(ca_bundle) if ca_bundle is not None else True

    def post(
        self, url: str, body: bytes, headers: Mapping[str, str], timeout: float
    ) -> HttpResponse:
        import requests

        try:
            response = self._session.post(
                url,
                data=body,
                headers=dict(headers),
                timeout=timeout,
                cert=self._cert,  # type: ignore[arg-type]
                verify=self._verify,
            )
        except requests.Timeout:
            raise TransportTimeout(f"délai dépassé ({timeout:g} s) pour {url}") from None
        except requests.exceptions.SSLError as exc:
            raise TransportError(f"échec TLS avec {url}: {_reason(exc)}") from None
        except requests.RequestException as exc:
            raise TransportError(f"échec de connexion à {url}: {_reason(exc)}") from None
        return HttpResponse(response.status_code, dict(response.headers), response.content)

    def close(self) -> None:
        self._session.close()


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
    the SOAP action. Security tokens (``wsse:Security``) are removed before writing; the files
    still contain patient data: keep them where patient data may be kept.
    """

    def __init__(self, inner: HttpTransport, directory: StrPath) -> None:
        self._inner = inner
        self._dir = os.fspath(directory)
        self._count = 0
        os.makedirs(self._dir, exist_ok=True)

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
