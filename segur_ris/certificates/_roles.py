"""Roles of IGC Santé structure certificates: key usage / EKU checks and the INSi CN rule.

IGC Santé "gamme élémentaire organisations" profiles, as in the official DMP samples:

* ``ORG AUTH_CLI`` — key usage ``digitalSignature``, EKU ``clientAuth`` (TLS client);
* ``ORG SIGN`` ("cachet") — key usage ``digitalSignature`` + ``nonRepudiation``, EKU
  ``emailProtection`` (VIHF, XAdES);
* server certificates — EKU ``serverAuth``.

The INSi accepts, in certificate mode, only an ORG AUTH_CLI certificate whose CN is exactly
``INSI-AUTO`` (unattended) or ``INSI-MANU`` (user-triggered); anything else gets ``DESIR_560``.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from cryptography import x509
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from segur_ris.errors import CertificateUsageError

__all__ = [
    "INSI_CNS",
    "OrgCertificate",
    "OrgRole",
    "check_insi_cn",
    "check_role",
    "check_tls_server",
    "first_attribute",
]

#: The only CNs the INSi teleservice accepts in certificate (tlsm) mode.
INSI_CNS = frozenset({"INSI-AUTO", "INSI-MANU"})


class OrgRole(enum.Enum):
    """Role of an IGC-Santé structure certificate."""

    AUTH_CLI = "AUTH_CLI"
    SIGN = "SIGN"


def first_attribute(name: x509.Name, oid: x509.ObjectIdentifier) -> str | None:
    """The first value of attribute ``oid`` in ``name``, ``None`` when absent."""
    attributes = name.get_attributes_for_oid(oid)
    return str(attributes[0].value) if attributes else None


def _key_usage(certificate: x509.Certificate) -> x509.KeyUsage | None:
    try:
        return certificate.extensions.get_extension_for_class(x509.KeyUsage).value
    except x509.ExtensionNotFound:
        return None


def _eku(certificate: x509.Certificate) -> frozenset[x509.ObjectIdentifier] | None:
    try:
        ext = certificate.extensions.get_extension_for_class(x509.ExtendedKeyUsage)
    except x509.ExtensionNotFound:
        return None
    return frozenset(ext.value)


@dataclass(frozen=True, slots=True)
class OrgCertificate:
    """Role helpers around an IGC-Santé ORG certificate (no private key here)."""

    certificate: x509.Certificate

    def _key_usage(self) -> x509.KeyUsage | None:
        return _key_usage(self.certificate)

    def _eku(self) -> frozenset[x509.ObjectIdentifier]:
        return _eku(self.certificate) or frozenset()

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
        return first_attribute(self.certificate.subject, NameOID.ORGANIZATIONAL_UNIT_NAME)

    def require(self, role: OrgRole) -> None:
        """Raise :class:`~segur_ris.errors.CertificateUsageError` (code ``certificate_role``)
        unless ``role`` fits."""
        if self.role is not role:
            found = self.role.value if self.role else "aucun"
            raise CertificateUsageError(
                f"certificat {self.certificate.subject.rfc4514_string()}: rôle {role.value} "
                f"attendu, trouvé {found}",
                code="certificate_role",
            )


def check_role(certificate: x509.Certificate, role: OrgRole) -> None:
    """Check that ``certificate`` may be used as ``role`` (EKU and key usage).

    Raise :class:`~segur_ris.errors.CertificateUsageError`: code ``certificate_role`` when the
    EKU names another role, ``key_usage`` when the key usage lacks ``digitalSignature``
    (AUTH_CLI) or ``nonRepudiation``/``digitalSignature`` (SIGN).
    """
    OrgCertificate(certificate).require(role)
    usage = _key_usage(certificate)
    if usage is None:
        return  # no key usage extension: not restricted (RFC 5280 §4.2.1.3)
    if role is OrgRole.AUTH_CLI and not usage.digital_signature:
        raise CertificateUsageError(
            f"certificat {certificate.subject.rfc4514_string()}: usage de clé digitalSignature "
            "requis pour l'authentification TLS",
            code="key_usage",
        )
    if role is OrgRole.SIGN and not (usage.content_commitment or usage.digital_signature):
        raise CertificateUsageError(
            f"certificat {certificate.subject.rfc4514_string()}: usage de clé nonRepudiation ou "
            "digitalSignature requis pour la signature",
            code="key_usage",
        )


def check_tls_server(certificate: x509.Certificate) -> None:
    """Raise :class:`~segur_ris.errors.CertificateUsageError` (code ``certificate_role``)
    unless ``certificate`` may authenticate a TLS server (EKU ``serverAuth`` when an EKU is
    present)."""
    eku = _eku(certificate)
    if eku is not None and ExtendedKeyUsageOID.SERVER_AUTH not in eku:
        raise CertificateUsageError(
            f"certificat {certificate.subject.rfc4514_string()}: EKU serverAuth absent",
            code="certificate_role",
        )


def check_insi_cn(certificate: x509.Certificate) -> str:
    """Return the CN (``INSI-AUTO`` or ``INSI-MANU``) of an ORG AUTH_CLI certificate usable
    with the INSi.

    Raise :class:`~segur_ris.errors.CertificateUsageError`: code ``certificate_role`` when it is
    not an AUTH_CLI certificate, ``insi_cn`` when its CN is another one (the INSi would answer
    ``DESIR_560`` "Niveau d'accès insuffisant").
    """
    check_role(certificate, OrgRole.AUTH_CLI)
    cn = first_attribute(certificate.subject, NameOID.COMMON_NAME)
    if cn not in INSI_CNS:
        raise CertificateUsageError(
            f"INSi: le CN du certificat doit être INSI-AUTO ou INSI-MANU, trouvé {cn!r} "
            "(l'INSi refuserait avec DESIR_560)",
            code="insi_cn",
        )
    return cn
