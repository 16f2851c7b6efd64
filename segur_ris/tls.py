"""The one place that builds :class:`ssl.SSLContext` objects for every transport of the SDK.

National services (DMP, INSi, MSSanté, PSC) require TLS >= 1.2 with ECDHE suites and AEAD
ciphers (ANS PDT-INF-579: ``TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256``,
``…_AES_128_GCM_SHA256``, ``…_AES_256_GCM_SHA384``, ``…_AES_256_CBC_SHA384``). The same suites
with ECDSA keys are allowed too, for the EC certificates of test PKIs; TLS 1.3 suites are
OpenSSL's defaults (all AEAD).

Client contexts verify the server against the configured trust anchors (IGC Santé roots in
production, the sandbox CA in tests: a PEM file, directory, bytes or a
:class:`~segur_ris.certificates.TrustStore`) and check the host name; a client certificate (ORG
AUTH_CLI, INSI-AUTO…) is loaded from PEM files or from a
:class:`~segur_ris.certificates.Credential`, and refused when its EKU forbids TLS client use
(an ORG SIGN certificate). Given CRLs, OpenSSL refuses a revoked peer during the handshake
(``VERIFY_CRL_CHECK_LEAF``, or ``…_CHAIN`` with ``crl_check="chain"``); :func:`verify_peer`
re-checks a connected peer with the SDK's own chain, role and OCSP/CRL checks.
"""

from __future__ import annotations

import datetime as dt
import os
import secrets
import ssl
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Literal, TypeAlias

from segur_ris._files import write_private
from segur_ris.errors import CertificateError, CertificateUsageError, ConfigError

if TYPE_CHECKING:
    from cryptography import x509

    from segur_ris.certificates import (
        Credential,
        OrgRole,
        RevocationChecker,
        RevocationStatus,
        TrustStore,
    )

__all__ = [
    "ANS_TLS12_CIPHERS",
    "CrlSource",
    "client_context",
    "peer_checker",
    "server_context",
    "verify_peer",
]

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
#: A CRL given to a context: PEM/DER bytes, a file, or a parsed CRL.
CrlSource: TypeAlias = "bytes | StrPath | x509.CertificateRevocationList"
_TrustSource: TypeAlias = "StrPath | bytes | TrustStore"


def _base(protocol: ssl._SSLMethod) -> ssl.SSLContext:
    context = ssl.SSLContext(protocol)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.set_ciphers(ANS_TLS12_CIPHERS)
    return context


def _load_trust(context: ssl.SSLContext, trust: _TrustSource) -> None:
    if not isinstance(trust, str | bytes | os.PathLike):
        trust = trust.pem()  # a TrustStore
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


def _crl_pem(source: CrlSource) -> bytes:
    from cryptography import x509
    from cryptography.hazmat.primitives.serialization import Encoding

    from segur_ris.certificates import parse_crl

    if isinstance(source, x509.CertificateRevocationList):
        return source.public_bytes(Encoding.PEM)
    if isinstance(source, bytes):
        data = source
    else:
        try:
            data = Path(source).read_bytes()
        except OSError:
            raise ConfigError(f"LCR introuvable: {os.fspath(source)}") from None
    return parse_crl(data).public_bytes(Encoding.PEM)


def _load_crls(
    context: ssl.SSLContext, crls: Sequence[CrlSource], crl_check: Literal["leaf", "chain"]
) -> None:
    """Load ``crls`` into the context's store and turn CRL checking on (fail-closed: a peer
    whose issuer has no CRL loaded is refused)."""
    if not crls:
        return
    if crl_check not in ("leaf", "chain"):
        raise ConfigError(f"crl_check doit valoir 'leaf' ou 'chain', pas {crl_check!r}")
    pem = b"".join(_crl_pem(source) for source in crls)
    # ssl loads CRLs only from files (cadata takes certificates only).
    with tempfile.TemporaryDirectory(prefix="segur-ris-crl-") as directory:
        path = Path(directory) / "crls.pem"
        path.write_bytes(pem)
        context.load_verify_locations(cafile=os.fspath(path))
    context.verify_flags |= (
        ssl.VERIFY_CRL_CHECK_CHAIN if crl_check == "chain" else ssl.VERIFY_CRL_CHECK_LEAF
    )


def _check_client_usage(certificate: x509.Certificate) -> None:
    """Refuse a certificate whose EKU excludes TLS client authentication (ORG SIGN)."""
    from cryptography import x509
    from cryptography.x509.oid import ExtendedKeyUsageOID

    try:
        eku = certificate.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    except x509.ExtensionNotFound:
        return
    if ExtendedKeyUsageOID.CLIENT_AUTH not in eku:
        raise CertificateUsageError(
            f"certificat {certificate.subject.rfc4514_string()} non utilisable pour "
            "l'authentification TLS (EKU clientAuth absent: certificat SIGN ?)",
            code="certificate_role",
        )


def _load_chain(
    context: ssl.SSLContext,
    *,
    cert_file: StrPath | None,
    key_file: StrPath | None,
    credential: Credential | None,
    key_password: bytes | None = None,
    client_role: bool = False,
) -> None:
    if credential is not None:
        if cert_file is not None or key_file is not None:
            raise ConfigError("donner soit credential, soit cert_file/key_file, pas les deux")
        if client_role:
            _check_client_usage(credential.certificate)
        from cryptography.hazmat.primitives import serialization

        # ssl only loads keys from files: the key is written to a private directory encrypted
        # with a one-time password (never in clear on disk), loaded, then removed.
        one_time = secrets.token_bytes(32).hex().encode()
        key_pem = credential.private_key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.BestAvailableEncryption(one_time),
        )
        pem = serialization.Encoding.PEM
        chain_pem = b"".join(
            c.public_bytes(pem) for c in (credential.certificate, *credential.chain)
        )
        with tempfile.TemporaryDirectory(prefix="segur-ris-tls-") as directory:
            chain, key = Path(directory) / "tls-fullchain.pem", Path(directory) / "tls-key.pem"
            chain.write_bytes(chain_pem)
            write_private(key, key_pem)
            context.load_cert_chain(os.fspath(chain), os.fspath(key), password=one_time)
        return
    if cert_file is None:
        if key_file is not None:
            raise ConfigError("key_file sans cert_file")
        return
    for path in (cert_file, key_file):
        if path is not None and not os.path.isfile(path):
            raise ConfigError(f"certificat ou clé introuvable: {os.fspath(path)}")
    if client_role:
        from cryptography import x509

        try:
            leaf = x509.load_pem_x509_certificate(Path(cert_file).read_bytes())
        except ValueError:
            leaf = None  # not PEM: left to OpenSSL, which reports it below
        if leaf is not None:
            _check_client_usage(leaf)

    def password() -> bytes:
        # never let OpenSSL prompt on the terminal (a server would hang): refuse instead
        if key_password is None:
            raise CertificateError(
                f"clé privée chiffrée sans key_password: {os.fspath(key_file or cert_file)}",
                code="key_encrypted",
            )
        return key_password

    try:
        context.load_cert_chain(
            os.fspath(cert_file),
            os.fspath(key_file) if key_file is not None else None,
            password=password,
        )
    except (ssl.SSLError, OSError):
        raise CertificateError(
            f"certificat ou clé illisible, ou ne correspondant pas: {os.fspath(cert_file)}",
            code="key_mismatch",
        ) from None


def client_context(
    *,
    trust: StrPath | bytes | TrustStore | None = None,
    cert_file: StrPath | None = None,
    key_file: StrPath | None = None,
    key_password: bytes | None = None,
    credential: Credential | None = None,
    check_hostname: bool = True,
    crls: Sequence[CrlSource] = (),
    crl_check: Literal["leaf", "chain"] = "leaf",
) -> ssl.SSLContext:
    """A client context: TLS >= 1.2, ANS suites, server verified against ``trust``.

    ``trust`` is a PEM file, a directory of hashed certificates, PEM bytes or a
    :class:`~segur_ris.certificates.TrustStore`; ``None`` uses the system store (never right for
    the national services, whose roots are IGC Santé's). The client certificate comes from
    ``cert_file``/``key_file`` (PEM; an encrypted key needs ``key_password``, OpenSSL never
    prompts) or from ``credential``; one whose EKU excludes
    ``clientAuth`` raises :class:`~segur_ris.errors.CertificateUsageError`. ``crls`` turns
    revocation checking on (leaf only, or the whole chain with ``crl_check="chain"``, which
    then needs the root's CRL too).
    """
    context = _base(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = check_hostname
    context.verify_mode = ssl.CERT_REQUIRED
    if trust is None:
        context.load_default_certs(ssl.Purpose.SERVER_AUTH)
    else:
        _load_trust(context, trust)
    _load_crls(context, crls, crl_check)
    _load_chain(
        context,
        cert_file=cert_file,
        key_file=key_file,
        key_password=key_password,
        credential=credential,
        client_role=True,
    )
    return context


def server_context(
    *,
    cert_file: StrPath | None = None,
    key_file: StrPath | None = None,
    key_password: bytes | None = None,
    credential: Credential | None = None,
    client_trust: StrPath | bytes | TrustStore | None = None,
    require_client_cert: bool = True,
    crls: Sequence[CrlSource] = (),
    crl_check: Literal["leaf", "chain"] = "leaf",
) -> ssl.SSLContext:
    """A server context (sandbox services): TLS >= 1.2, ANS suites; when
    ``require_client_cert``, clients must present a certificate chaining to ``client_trust``
    (and, given ``crls``, not revoked). An encrypted ``key_file`` needs ``key_password``."""
    context = _base(ssl.PROTOCOL_TLS_SERVER)
    if cert_file is None and credential is None:
        raise ConfigError("un serveur TLS a besoin d'un certificat")
    _load_chain(
        context,
        cert_file=cert_file,
        key_file=key_file,
        key_password=key_password,
        credential=credential,
    )
    if require_client_cert:
        if client_trust is None:
            raise ConfigError("une AC de confiance est nécessaire pour exiger un certificat client")
        context.verify_mode = ssl.CERT_REQUIRED
        _load_trust(context, client_trust)
    elif client_trust is not None:
        context.verify_mode = ssl.CERT_OPTIONAL
        _load_trust(context, client_trust)
    if client_trust is not None:
        _load_crls(context, crls, crl_check)
    return context


def verify_peer(
    sock: ssl.SSLSocket | ssl.SSLObject,
    trust: TrustStore,
    *,
    role: OrgRole | None = None,
    server_name: str | None = None,
    revocation: RevocationChecker | None = None,
    now: dt.datetime | None = None,
) -> tuple[RevocationStatus, ...]:
    """Check the peer certificate of a connected ``sock`` with the SDK's checks: dates, chain to
    ``trust``, ``role`` (ORG AUTH_CLI of a client) or TLS server use for ``server_name``, then
    revocation with ``revocation`` (OCSP, then CRLs with the last valid one kept), which
    OpenSSL does not do. Returns the revocation statuses (empty without ``revocation``).

    Raise the :class:`~segur_ris.errors.CertificateError` subclasses of each check.
    """
    from cryptography import x509

    der = sock.getpeercert(binary_form=True)
    if not der:
        raise CertificateError("le pair TLS n'a présenté aucun certificat", code="no_peer_cert")
    leaf = x509.load_der_x509_certificate(der)
    chain = trust.verify(leaf, role=role, server_name=server_name, now=now)
    if revocation is None:
        return ()
    return revocation.check_chain(chain, now=now)


def peer_checker(
    trust: TrustStore,
    *,
    revocation: RevocationChecker | None = None,
    now: dt.datetime | None = None,
) -> Callable[[ssl.SSLSocket | ssl.SSLObject, str], tuple[RevocationStatus, ...]]:
    """A ``peer_check`` for :class:`~segur_ris.transport.HttpsTransport`: :func:`verify_peer`
    of the server (TLS server use for the host connected to) against ``trust``, and its
    revocation with ``revocation`` (OCSP, then CRLs), on each new connection::

        checker = RevocationChecker(CrlCache("/var/cache/segur-ris/crl"))
        transport = HttpsTransport(
            client_cert=(cert, key),
            ca_bundle=igc_bundle,
            peer_check=peer_checker(TrustStore.from_paths(igc_bundle), revocation=checker),
        )
    """

    def check(sock: ssl.SSLSocket | ssl.SSLObject, host: str) -> tuple[RevocationStatus, ...]:
        return verify_peer(sock, trust, server_name=host, revocation=revocation, now=now)

    return check
