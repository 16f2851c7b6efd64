"""PKCS#12 loading: :class:`Credential` (certificate, private key, chain) and date checks."""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.serialization import pkcs12
from cryptography.x509.oid import NameOID

from segur_ris._files import write_private
from segur_ris.certificates._roles import OrgCertificate, first_attribute
from segur_ris.errors import CertificateError, CertificateExpiredError

__all__ = ["Credential", "PemFiles", "PrivateKey", "check_validity", "load_pkcs12"]

#: Private key types usable by the SDK (RSA for XML signatures, EC for TLS only).
PrivateKey = rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey

_first = first_attribute


@dataclass(frozen=True, slots=True)
class PemFiles:
    """Files written by :meth:`Credential.write_pem`; ``chain`` is ``None`` without a chain."""

    cert: Path
    key: Path
    chain: Path | None


@dataclass(frozen=True, slots=True, repr=False)
class Credential:
    """A certificate, its private key and the issuing chain (leaf first excluded).

    ``repr()``/``str()`` show the subject and serial only, never the key.
    """

    certificate: x509.Certificate
    private_key: PrivateKey = field(compare=False)
    chain: tuple[x509.Certificate, ...] = ()

    def __repr__(self) -> str:
        return (
            f"Credential(subject={self.subject!r}, serial={self.certificate.serial_number}, "
            f"not_after={self.certificate.not_valid_after_utc.isoformat()})"
        )

    __str__ = __repr__

    @property
    def subject(self) -> str:
        """The subject DN (RFC 4514)."""
        return self.certificate.subject.rfc4514_string()

    @property
    def subject_cn(self) -> str | None:
        """The subject common name."""
        return _first(self.certificate.subject, NameOID.COMMON_NAME)

    @property
    def ou(self) -> str | None:
        """The first subject ``OU``."""
        return _first(self.certificate.subject, NameOID.ORGANIZATIONAL_UNIT_NAME)

    @property
    def organization(self) -> str | None:
        """The subject ``O`` (structure name for an ORG certificate)."""
        return _first(self.certificate.subject, NameOID.ORGANIZATION_NAME)

    @property
    def structure_id(self) -> str | None:
        """The structure identifier (``OU`` of an IGC-Santé ORG certificate)."""
        return self.ou

    @property
    def org(self) -> OrgCertificate:
        """Role helpers for the certificate."""
        return OrgCertificate(self.certificate)

    def check_validity(self, now: dt.datetime | None = None) -> None:
        """Raise :class:`~segur_ris.errors.CertificateExpiredError` (``certificate_expired`` /
        ``certificate_not_yet_valid``) when the certificate is not valid at ``now``."""
        check_validity(self.certificate, now)

    def certificate_pem(self) -> bytes:
        """The certificate in PEM."""
        return self.certificate.public_bytes(serialization.Encoding.PEM)

    def write_pem(self, directory: str | os.PathLike[str], *, stem: str = "client") -> PemFiles:
        """Write ``<stem>-cert.pem``, ``<stem>-key.pem`` (PKCS#8, unencrypted, mode 0600) and
        ``<stem>-chain.pem`` (when there is a chain) for a TLS client, e.g. ``requests``."""
        root = Path(directory)
        root.mkdir(parents=True, exist_ok=True)
        cert_path = root / f"{stem}-cert.pem"
        cert_path.write_bytes(self.certificate_pem())
        key_path = root / f"{stem}-key.pem"
        data = self.private_key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        write_private(key_path, data)
        chain_path: Path | None = None
        if self.chain:
            chain_path = root / f"{stem}-chain.pem"
            chain_path.write_bytes(
                b"".join(c.public_bytes(serialization.Encoding.PEM) for c in self.chain)
            )
        return PemFiles(cert=cert_path, key=key_path, chain=chain_path)


def check_validity(certificate: x509.Certificate, now: dt.datetime | None = None) -> None:
    """Raise :class:`~segur_ris.errors.CertificateExpiredError` (a :class:`CertificateError`,
    code ``certificate_expired`` / ``certificate_not_yet_valid``) when ``certificate`` is outside
    its validity period at ``now`` (default: now)."""
    moment = now or dt.datetime.now(dt.UTC)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.UTC)
    # the subject is rendered only on failure: this runs on every VIHF verification
    if moment > certificate.not_valid_after_utc:
        raise CertificateExpiredError(
            f"certificat expiré le {certificate.not_valid_after_utc.isoformat()}: "
            f"{certificate.subject.rfc4514_string()}",
            code="certificate_expired",
        )
    if moment < certificate.not_valid_before_utc:
        raise CertificateExpiredError(
            f"certificat valide seulement à partir du "
            f"{certificate.not_valid_before_utc.isoformat()}: "
            f"{certificate.subject.rfc4514_string()}",
            code="certificate_not_yet_valid",
        )


def load_pkcs12(
    data: bytes,
    password: bytes | None,
    *,
    check_dates: bool = True,
    now: dt.datetime | None = None,
) -> Credential:
    """Load a PKCS#12 (``.p12``/``.pfx``) file: certificate, private key and chain.

    Raise :class:`CertificateError` with ``code`` ``pkcs12_password`` (wrong or missing password),
    ``pkcs12_format`` (not a PKCS#12, no key or certificate, unsupported key type),
    ``certificate_expired`` / ``certificate_not_yet_valid`` (when ``check_dates``).
    """
    if not isinstance(data, bytes | bytearray):
        raise CertificateError(
            f"PKCS#12: bytes attendus, reçu {type(data).__name__}", code="pkcs12_format"
        )
    try:
        bundle = pkcs12.load_pkcs12(bytes(data), password)
    except ValueError as exc:
        if "password" in str(exc).lower():
            raise CertificateError(
                "PKCS#12 illisible: mot de passe incorrect (ou fichier altéré)",
                code="pkcs12_password",
            ) from None
        raise CertificateError("fichier non reconnu comme PKCS#12", code="pkcs12_format") from None
    except TypeError:
        raise CertificateError(
            "PKCS#12: mot de passe de type bytes attendu", code="pkcs12_password"
        ) from None
    key = bundle.key
    if bundle.cert is None or key is None:
        raise CertificateError("PKCS#12 sans certificat ou sans clé privée", code="pkcs12_format")
    if not isinstance(key, rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey):
        raise CertificateError(
            f"type de clé non pris en charge: {type(key).__name__}", code="pkcs12_format"
        )
    chain: Sequence[x509.Certificate] = [c.certificate for c in bundle.additional_certs]
    credential = Credential(
        certificate=bundle.cert.certificate, private_key=key, chain=tuple(chain)
    )
    if check_dates:
        credential.check_validity(now)
    return credential
