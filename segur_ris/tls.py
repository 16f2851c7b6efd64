"""The one place that builds :class:`ssl.SSLContext` objects for every transport of the SDK.

National services (DMP, INSi, MSSanté, PSC) require TLS >= 1.2 with ECDHE suites and AEAD
ciphers (ANS PDT-INF-579: ``TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256``,
``…_AES_128_GCM_SHA256``, ``…_AES_256_GCM_SHA384``, ``…_AES_256_CBC_SHA384``). The same suites
with ECDSA keys are allowed too, for the EC certificates of test PKIs; TLS 1.3 suites are
OpenSSL's defaults (all AEAD).

Client contexts verify the server against the configured trust anchors (IGC Santé roots in
production, the sandbox CA in tests) and check the host name; a client certificate (ORG
AUTH_CLI, INSI-AUTO…) is loaded from PEM files or from a
:class:`~segur_ris.certificates.Credential`.
"""

from __future__ import annotations

import os
import ssl
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

from segur_ris.errors import CertificateError, ConfigError

if TYPE_CHECKING:
    from segur_ris.certificates import Credential

__all__ = ["ANS_TLS12_CIPHERS", "client_context", "server_context"]

#: OpenSSL names of the TLS 1.2 suites allowed by the ANS, then their ECDSA twins.
ANS_TLS12_CIPHERS = ":".join(
    (
        "ECDHE-RSA-CHACHA20-POLY1305",
        "ECDHE-RSA-AES128-GCM-SHA256",
        "ECDHE-RSA-AES256-GCM-SHA384",
        "ECDHE-RSA-AES256-SHA384",
        "ECDHE-ECDSA-CHACHA20-POLY1305",
        "ECDHE-ECDSA-AES128-GCM-SHA256",
        "ECDHE-ECDSA-AES256-GCM-SHA384",
        "ECDHE-ECDSA-AES256-SHA384",
    )
)

StrPath = str | os.PathLike[str]


def _base(purpose: int) -> ssl.SSLContext:
    context = ssl.SSLContext(
        ssl.PROTOCOL_TLS_CLIENT if purpose == ssl.PROTOCOL_TLS_CLIENT else ssl.PROTOCOL_TLS_SERVER
    )
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.set_ciphers(ANS_TLS12_CIPHERS)
    return context


def _load_trust(context: ssl.SSLContext, trust: StrPath | bytes) -> None:
    try:
        if isinstance(trust, bytes):
            context.load_verify_locations(cadata=trust.decode("ascii"))
        elif Path(trust).is_dir():
            context.load_verify_locations(capath=os.fspath(trust))
        else:
            context.load_verify_locations(cafile=os.fspath(trust))
    except FileNotFoundError:
        raise ConfigError(f"magasin de confiance introuvable: {os.fspath(trust)!s}") from None
    except (ssl.SSLError, UnicodeDecodeError, ValueError) as exc:
        raise CertificateError(
            f"magasin de confiance illisible ({exc.__class__.__name__})", code="trust_store"
        ) from None


def _load_chain(
    context: ssl.SSLContext,
    *,
    cert_file: StrPath | None,
    key_file: StrPath | None,
    credential: Credential | None,
) -> None:
    if credential is not None:
        if cert_file is not None or key_file is not None:
            raise ConfigError("donner soit credential, soit cert_file/key_file, pas les deux")
        # ssl only loads keys from files: write them to a private directory, load, remove.
        with tempfile.TemporaryDirectory(prefix="segur-ris-tls-") as directory:
            files = credential.write_pem(directory, stem="tls")
            chain = Path(directory) / "tls-fullchain.pem"
            chain.write_bytes(
                files.cert.read_bytes() + (files.chain.read_bytes() if files.chain else b"")
            )
            context.load_cert_chain(os.fspath(chain), os.fspath(files.key))
        return
    if cert_file is None:
        if key_file is not None:
            raise ConfigError("key_file sans cert_file")
        return
    for path in (cert_file, key_file):
        if path is not None and not os.path.isfile(path):
            raise ConfigError(f"certificat ou clé introuvable: {os.fspath(path)}")
    try:
        context.load_cert_chain(
            os.fspath(cert_file), os.fspath(key_file) if key_file is not None else None
        )
    except ssl.SSLError:
        raise CertificateError(
            f"certificat ou clé illisible, ou ne correspondant pas: {os.fspath(cert_file)}",
            code="key_mismatch",
        ) from None


def client_context(
    *,
    trust: StrPath | bytes | None = None,
    cert_file: StrPath | None = None,
    key_file: StrPath | None = None,
    credential: Credential | None = None,
    check_hostname: bool = True,
) -> ssl.SSLContext:
    """A client context: TLS >= 1.2, ANS suites, server verified against ``trust``.

    ``trust`` is a PEM file, a directory of hashed certificates or PEM bytes; ``None`` uses the
    system store (never right for the national services, whose roots are IGC Santé's). The
    client certificate comes from ``cert_file``/``key_file`` (PEM) or from ``credential``.
    """
    context = _base(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = check_hostname
    context.verify_mode = ssl.CERT_REQUIRED
    if trust is None:
        context.load_default_certs(ssl.Purpose.SERVER_AUTH)
    else:
        _load_trust(context, trust)
    _load_chain(context, cert_file=cert_file, key_file=key_file, credential=credential)
    return context


def server_context(
    *,
    cert_file: StrPath | None = None,
    key_file: StrPath | None = None,
    credential: Credential | None = None,
    client_trust: StrPath | bytes | None = None,
    require_client_cert: bool = True,
) -> ssl.SSLContext:
    """A server context (sandbox services): TLS >= 1.2, ANS suites; when
    ``require_client_cert``, clients must present a certificate chaining to ``client_trust``."""
    context = _base(ssl.PROTOCOL_TLS_SERVER)
    if cert_file is None and credential is None:
        raise ConfigError("un serveur TLS a besoin d'un certificat")
    _load_chain(context, cert_file=cert_file, key_file=key_file, credential=credential)
    if require_client_cert:
        if client_trust is None:
            raise ConfigError("une AC de confiance est nécessaire pour exiger un certificat client")
        context.verify_mode = ssl.CERT_REQUIRED
        _load_trust(context, client_trust)
    elif client_trust is not None:
        context.verify_mode = ssl.CERT_OPTIONAL
        _load_trust(context, client_trust)
    return context
