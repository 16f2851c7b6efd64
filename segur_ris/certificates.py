"""Structure certificates (IGC-Santé "ORG") loaded from PKCS#12 files.

A healthcare structure talks to the DMP in indirect mode with two IGC-Santé certificates issued
to the legal person, whose ``OU`` is the structure's national identifier (``IdNat_Struct``,
e.g. ``10B0127189`` or ``3`` + SIRET):

* ``ORG AUTH_CLI`` — TLS client authentication (EKU ``clientAuth``);
* ``ORG SIGN`` ("cachet") — signs the VIHF and the XAdES document of a submission
  (key usage ``nonRepudiation``, EKU ``emailProtection`` in the official samples).

:func:`load_pkcs12` turns the ``.p12`` file delivered by the ANS into a :class:`Credential`;
:class:`OrgCertificate` tells the two roles apart. The private key is never rendered by
``repr()``/``str()`` and is only written to disk (mode 0600) by :meth:`Credential.write_pem`.
"""

from __future__ import annotations

import datetime as dt
import enum
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.serialization import pkcs12
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from segur_ris._files import write_private
from segur_ris.errors import CertificateError

__all__ = [
    "Credential",
    "OrgCertificate",
    "OrgRole",
    "PemFiles",
    "PrivateKey",
    "check_validity",
    "load_pkcs12",
]

#: Private key types usable by the SDK (RSA for XML signatures, EC for TLS only).
PrivateKey = rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey


class OrgRole(enum.Enum):
    """Role of an IGC-Santé structure certificate."""

    AUTH_CLI = "AUTH_CLI"
    SIGN = "SIGN"


def _first(name: x509.Name, oid: x509.ObjectIdentifier) -> str | None:
    attributes = name.get_attributes_for_oid(oid)
    return str(attributes[0].value) if attributes else None


@dataclass(frozen=True, slots=True)
class OrgCertificate:
    """Role helpers around an IGC-Santé ORG certificate (no private key here)."""

    certificate: x509.Certificate

    def _key_usage(self) -> x509.KeyUsage | None:
        try:
            return self.certificate.extensions.get_extension_for_class(x509.KeyUsage).value
        except x509.ExtensionNotFound:
            return None

    def _eku(self) -> frozenset[x509.ObjectIdentifier]:
        try:
            ext = self.certificate.extensions.get_extension_for_class(x509.ExtendedKeyUsage)
        except x509.ExtensionNotFound:
            return frozenset()
        return frozenset(ext.value)

    @property
    def is_auth_cli(self) -> bool:
        """True for a TLS client certificate (EKU ``clientAuth``)."""
        return ExtendedKeyUsageOID.CLIENT_AUTH in self._eku()

    @property
    def is_sign(self) -> bool:
        """True for a signature ("cachet") certificate: ``nonRepudiation`` key usage or EKU
        ``emailProtection``, and not a TLS client certificate."""
        if self.is_auth_cli:
            return False
        usage = self._key_usage()
        non_repudiation = usage is not None and usage.content_commitment
        return non_repudiation or ExtendedKeyUsageOID.EMAIL_PROTECTION in self._eku()

    @property
    def role(self) -> OrgRole | None:
        """:attr:`OrgRole.AUTH_CLI`, :attr:`OrgRole.SIGN` or ``None`` when neither."""
        if self.is_auth_cli:
            return OrgRole.AUTH_CLI
        if self.is_sign:
            return OrgRole.SIGN
        return None

    @property
    def structure_id(self) -> str | None:
        """The structure identifier carried in the subject ``OU``."""
        return _first(self.certificate.subject, NameOID.ORGANIZATIONAL_UNIT_NAME)

    def require(self, role: OrgRole) -> None:
        """Raise :class:`CertificateError` (code ``certificate_role``) unless ``role`` fits."""
        if self.role is not role:
            found = self.role.value if self.role else "aucun"
            raise CertificateError(
                f"certificat {self.certificate.subject.rfc4514_string()}: rôle {role.value} "
                f"attendu, trouvé {found}",
                code="certificate_role",
            )


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
        """Raise :class:`CertificateError` (``certificate_expired`` /
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
    """Raise :class:`CertificateError` when ``certificate`` is expired or not yet valid."""
    moment = now or dt.datetime.now(dt.UTC)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.UTC)
    subject = certificate.subject.rfc4514_string()
    if moment > certificate.not_valid_after_utc:
        raise CertificateError(
            f"certificat expiré le {certificate.not_valid_after_utc.isoformat()}: {subject}",
            code="certificate_expired",
        )
    if moment < certificate.not_valid_before_utc:
        raise CertificateError(
            f"certificat valide seulement à partir du "
            f"{certificate.not_valid_before_utc.isoformat()}: {subject}",
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
