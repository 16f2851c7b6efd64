"""Trust anchors (IGC Santé roots as configuration) and chain verification.

The SDK never ships or downloads root certificates: the vendor installs the IGC Santé roots
and intermediate CAs (production or test, from the ANS site) and points a :class:`TrustStore`
at them. :data:`IGC_SANTE_PRODUCTION` and :data:`IGC_SANTE_TEST` only name the authorities
expected in each environment (and their CRL addresses) so that a store can be checked for
completeness with :meth:`TrustStore.missing_roots`.

Chain building uses ``cryptography.x509.verification`` (RFC 5280 path building, signatures,
dates, CA constraints). Its default end-entity profile is the Web PKI's (CA/B Forum), which
requires a ``subjectAltName`` and the ``clientAuth`` EKU on every client certificate: IGC Santé
ORG certificates have no SAN and ORG SIGN certificates carry ``emailProtection``, so the
end-entity extensions are checked by :func:`~segur_ris.certificates.check_role` instead (the
CA profile stays the Web PKI's). Server certificates use the default Web PKI server profile.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.x509 import verification
from cryptography.x509.oid import NameOID

from segur_ris.certificates._pkcs12 import check_validity
from segur_ris.certificates._roles import OrgRole, check_role, check_tls_server, first_attribute
from segur_ris.errors import CertificateError, CertificateTrustError, ConfigError

__all__ = [
    "IGC_SANTE_PRODUCTION",
    "IGC_SANTE_TEST",
    "IgcSanteAuthority",
    "IgcSanteTrustConfig",
    "TrustStore",
]

StrPath = str | os.PathLike[str]
_CERT_SUFFIXES = frozenset({".pem", ".crt", ".cer", ".der"})


@dataclass(frozen=True, slots=True)
class IgcSanteAuthority:
    """An IGC Santé certification authority: its CN and its CRL addresses."""

    common_name: str
    crl_urls: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class IgcSanteTrustConfig:
    """The IGC Santé authorities expected in one environment (names and URLs only)."""

    environment: str
    roots: tuple[IgcSanteAuthority, ...]
    intermediates: tuple[IgcSanteAuthority, ...]


#: IGC Santé "gamme élémentaire" production authorities. The root CN and CRL file names
#: follow the test names seen in the official samples without ``TEST``/``-TEST`` [unconfirmed:
#: check against the ANS download page when installing the roots].
IGC_SANTE_PRODUCTION = IgcSanteTrustConfig(
    environment="production",
    roots=(IgcSanteAuthority("AC RACINE IGC-SANTE ELEMENTAIRE"),),
    intermediates=(
        IgcSanteAuthority(
            "AC IGC-SANTE ELEMENTAIRE ORGANISATIONS",
            ("http://igc-sante.esante.gouv.fr/CRL/ACI-EL-ORG.crl",),
        ),
        IgcSanteAuthority(
            "AC IGC-SANTE ELEMENTAIRE PERSONNES",
            ("http://igc-sante.esante.gouv.fr/CRL/ACI-EL-PP.crl",),
        ),
    ),
)

#: IGC Santé test authorities, as named by the certificates of the official DMP samples
#: (issuer CN, CRL distribution points, LDAP ``ou`` of the root).
IGC_SANTE_TEST = IgcSanteTrustConfig(
    environment="test",
    roots=(IgcSanteAuthority("TEST AC RACINE IGC-SANTE ELEMENTAIRE"),),
    intermediates=(
        IgcSanteAuthority(
            "TEST AC IGC-SANTE ELEMENTAIRE ORGANISATIONS",
            ("http://igc-sante.esante.gouv.fr/CRL/ACI-EL-ORG-TEST.crl",),
        ),
        IgcSanteAuthority(
            "TEST AC IGC-SANTE ELEMENTAIRE PERSONNES",
            ("http://igc-sante.esante.gouv.fr/CRL/ACI-EL-PP-TEST.crl",),
        ),
    ),
)


def _load_certificates(data: bytes, origin: str) -> list[x509.Certificate]:
    try:
        if b"-----BEGIN" in data:
            return x509.load_pem_x509_certificates(data)
        return [x509.load_der_x509_certificate(data)]
    except ValueError:
        raise CertificateError(
            f"certificat illisible dans le magasin de confiance: {origin}", code="trust_store"
        ) from None


def _is_self_signed(certificate: x509.Certificate) -> bool:
    if certificate.subject != certificate.issuer:
        return False
    try:
        certificate.verify_directly_issued_by(certificate)
    except (InvalidSignature, ValueError, TypeError):
        return False
    return True


def _subject_of(server_name: str) -> verification.Subject:
    try:
        return x509.IPAddress(ipaddress.ip_address(server_name))
    except ValueError:
        return x509.DNSName(server_name)


@dataclass(frozen=True, slots=True)
class TrustStore:
    """Trust anchors (self-signed roots) and known intermediate CAs.

    Build it with :meth:`from_paths` (PEM/DER files or directories) or :meth:`from_pem`;
    self-signed certificates become anchors, the others intermediates used to build chains.
    """

    anchors: tuple[x509.Certificate, ...]
    intermediates: tuple[x509.Certificate, ...] = ()

    def __post_init__(self) -> None:
        if not self.anchors:
            raise ConfigError("magasin de confiance sans certificat racine (auto-signé)")

    @classmethod
    def from_certificates(cls, certificates: Iterable[x509.Certificate]) -> TrustStore:
        """Sort ``certificates`` into anchors (self-signed) and intermediates."""
        anchors: list[x509.Certificate] = []
        intermediates: list[x509.Certificate] = []
        for certificate in certificates:
            target = anchors if _is_self_signed(certificate) else intermediates
            if certificate not in target:
                target.append(certificate)
        return cls(tuple(anchors), tuple(intermediates))

    @classmethod
    def from_pem(cls, data: bytes) -> TrustStore:
        """A store from a PEM bundle."""
        return cls.from_certificates(_load_certificates(data, "PEM"))

    @classmethod
    def from_paths(cls, *paths: StrPath) -> TrustStore:
        """A store from PEM/DER files and directories (``*.pem``, ``*.crt``, ``*.cer``,
        ``*.der`` in them, not recursive)."""
        certificates: list[x509.Certificate] = []
        for path in map(Path, paths):
            if path.is_dir():
                files = sorted(p for p in path.iterdir() if p.suffix.lower() in _CERT_SUFFIXES)
            elif path.is_file():
                files = [path]
            else:
                raise ConfigError(f"magasin de confiance introuvable: {path}")
            for file in files:
                certificates += _load_certificates(file.read_bytes(), str(file))
        return cls.from_certificates(certificates)

    def pem(self) -> bytes:
        """Anchors then intermediates, in PEM (for :mod:`ssl` contexts)."""
        from cryptography.hazmat.primitives.serialization import Encoding

        return b"".join(c.public_bytes(Encoding.PEM) for c in self.anchors + self.intermediates)

    def common_names(self) -> frozenset[str]:
        """CNs of every certificate of the store."""
        names = (first_attribute(c.subject, NameOID.COMMON_NAME) for c in self.all())
        return frozenset(n for n in names if n)

    def all(self) -> tuple[x509.Certificate, ...]:
        """Anchors and intermediates."""
        return self.anchors + self.intermediates

    def missing_roots(self, config: IgcSanteTrustConfig) -> tuple[str, ...]:
        """CNs of the authorities of ``config`` absent from the store (empty when complete)."""
        present = self.common_names()
        expected = config.roots + config.intermediates
        return tuple(a.common_name for a in expected if a.common_name not in present)

    def issuer_of(
        self, certificate: x509.Certificate, extra: Sequence[x509.Certificate] = ()
    ) -> x509.Certificate | None:
        """The CA certificate (from the store or ``extra``) that signed ``certificate``."""
        for candidate in (*extra, *self.all()):
            if candidate.subject != certificate.issuer:
                continue
            try:
                certificate.verify_directly_issued_by(candidate)
            except (InvalidSignature, ValueError, TypeError):  # not this one: try the next
                continue
            return candidate
        return None

    def verify(
        self,
        certificate: x509.Certificate,
        *,
        intermediates: Sequence[x509.Certificate] = (),
        role: OrgRole | None = None,
        server_name: str | None = None,
        now: dt.datetime | None = None,
    ) -> tuple[x509.Certificate, ...]:
        """Verify ``certificate`` and return its chain (leaf first, anchor last).

        Checks, in this order: validity dates (:class:`~segur_ris.errors.CertificateExpiredError`),
        the role (``role`` for ORG certificates, TLS server use when ``server_name`` is given:
        :class:`~segur_ris.errors.CertificateUsageError`), then the chain to an anchor
        (signatures, CA dates and constraints, server name:
        :class:`~segur_ris.errors.CertificateTrustError`, code ``untrusted``). Revocation is
        checked separately (:class:`~segur_ris.certificates.RevocationChecker`).
        """
        moment = now or dt.datetime.now(dt.UTC)
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=dt.UTC)
        check_validity(certificate, moment)
        if role is not None:
            check_role(certificate, role)
        if server_name is not None:
            check_tls_server(certificate)
        builder = (
            verification.PolicyBuilder()
            .store(verification.Store(list(self.anchors)))
            .time(moment)
            .max_chain_depth(4)
        )
        untrusted = [*intermediates, *self.intermediates]
        try:
            if server_name is not None:
                server = builder.build_server_verifier(_subject_of(server_name))
                chain = server.verify(certificate, untrusted)
            else:
                client = builder.extension_policies(
                    ca_policy=verification.ExtensionPolicy.webpki_defaults_ca(),
                    ee_policy=verification.ExtensionPolicy.permit_all(),
                ).build_client_verifier()
                chain = client.verify(certificate, untrusted).chain
        except verification.VerificationError as exc:
            reason = str(exc).split(" (encountered", 1)[0]
            raise CertificateTrustError(
                f"certificat {certificate.subject.rfc4514_string()} non reconnu par le magasin "
                f"de confiance: {reason}",
                code="untrusted",
            ) from None
        return tuple(chain)
