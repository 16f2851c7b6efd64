"""Test IGC-Santé-like "ORG" certificates (RSA 2048) for the DMP indirect mode.

:func:`generate_org_pki` issues, from a fresh self-signed RSA CA imitating "TEST AC IGC-SANTE
ELEMENTAIRE ORGANISATIONS", the two certificates of a structure, with the DN shape of the
official samples (``C=FR, ST=…, O=<structure name>, OU=<IdNat_Struct>, CN=<label>``):

* ``ORG AUTH_CLI`` — key usage ``digitalSignature``, EKU ``clientAuth`` (TLS);
* ``ORG SIGN`` — key usage ``digitalSignature`` + ``nonRepudiation``, EKU ``emailProtection``
  (VIHF and XAdES signatures, which need RSA-SHA256).

Each is written as PEM (key mode 0600) and as a password-protected PKCS#12 holding the CA.
RSA key generation costs 60-130 ms per key, so the three keys are generated once per process and
reused; certificates (serials, dates, subjects) are fresh on every call.
"""

from __future__ import annotations

import datetime as dt
import functools
import os
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.serialization import pkcs12
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from segur_ris._files import write_private
from segur_ris.certificates import Credential
from segur_ris.certificates._testpki import _ca_name, _name, _usage
from segur_ris.sandbox._pki import _write_key

__all__ = [
    "ORG_CA_COMMON_NAME",
    "OrgPki",
    "OrgPkiEntry",
    "generate_org_pki",
]

#: Common name of the test ORG CA (imitation, never an official name on its own).
ORG_CA_COMMON_NAME = "TEST AC IGC-SANTE ELEMENTAIRE ORGANISATIONS"


@functools.cache
def _rsa_key(slot: int) -> rsa.RSAPrivateKey:
    """The per-process RSA key number ``slot`` (0 = CA, 1 = AUTH_CLI, 2 = SIGN)."""
    del slot  # only the cache key
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@dataclass(frozen=True, slots=True, repr=False)
class OrgPkiEntry:
    """One ORG certificate: PEM files, PKCS#12 file and the in-memory :class:`Credential`."""

    cert: Path
    key: Path
    p12: Path
    credential: Credential

    def __repr__(self) -> str:
        return f"OrgPkiEntry(cert={str(self.cert)!r}, p12={str(self.p12)!r})"


@dataclass(frozen=True, slots=True, repr=False)
class OrgPki:
    """A generated ORG test PKI. ``p12_password`` protects both PKCS#12 files."""

    ca_cert: Path
    ca: x509.Certificate
    auth_cli: OrgPkiEntry
    sign: OrgPkiEntry
    p12_password: bytes
    structure_id: str
    structure_name: str

    def __repr__(self) -> str:
        return f"OrgPki(ca_cert={str(self.ca_cert)!r}, structure_id={self.structure_id!r})"


def generate_org_pki(
    directory: str | os.PathLike[str],
    *,
    structure_id: str = "10B0123456",
    structure_name: str = "CENTRE IMAGERIE SANDBOX",
    region: str = "Rhône (69)",
    password: bytes = b"sandbox-p12",
    days: int = 730,
    not_before: dt.datetime | None = None,
) -> OrgPki:
    """Generate the CA, ``ORG AUTH_CLI`` and ``ORG SIGN`` certificates in ``directory``.

    ``structure_id`` goes to the subject ``OU`` (as ``IdNat_Struct`` in IGC-Santé ORG
    certificates, e.g. ``10B0127189``). Certificates are valid from ``not_before`` (default:
    one day ago) for ``days`` days; pass a past ``not_before`` and small ``days`` to get an
    expired pair.
    """
    root = Path(directory)
    root.mkdir(parents=True, exist_ok=True)
    start = not_before or dt.datetime.now(dt.UTC).replace(microsecond=0) - dt.timedelta(days=1)
    end = start + dt.timedelta(days=days)

    ca_key = _rsa_key(0)
    ca_name = _ca_name(ORG_CA_COMMON_NAME, "IGC-SANTE TEST (SANDBOX SEGUR_RIS, NON OFFICIEL)")
    ca = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(end + dt.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(_usage(signature=True, ca=True), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), False)
        .sign(ca_key, hashes.SHA256())
    )
    ca_path = root / "org-ca-cert.pem"
    ca_path.write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    aki = x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key())

    def issue(
        slot: int, label: str, usage: x509.KeyUsage, eku: x509.ObjectIdentifier
    ) -> OrgPkiEntry:
        key = _rsa_key(slot)
        subject = _name(
            f"SEGUR-RIS SANDBOX {label}",
            (NameOID.COUNTRY_NAME, "FR"),
            (NameOID.STATE_OR_PROVINCE_NAME, region),
            (NameOID.ORGANIZATION_NAME, structure_name),
            (NameOID.ORGANIZATIONAL_UNIT_NAME, structure_id),
        )
        cert = (
            x509.CertificateBuilder()
            .subject_name(subject)
            .issuer_name(ca_name)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(start)
            .not_valid_after(end)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(usage, critical=True)
            .add_extension(x509.ExtendedKeyUsage([eku]), critical=False)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), False)
            .add_extension(aki, critical=False)
            .sign(ca_key, hashes.SHA256())
        )
        stem = f"org-{label.lower().replace('_', '-')}"
        cert_path, key_path, p12_path = (
            root / f"{stem}-cert.pem",
            root / f"{stem}-key.pem",
            root / f"{stem}.p12",
        )
        cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        _write_key(key_path, key)
        p12 = pkcs12.serialize_key_and_certificates(
            f"{structure_name} {label}".encode(),
            key,
            cert,
            [ca],
            serialization.BestAvailableEncryption(password),
        )
        write_private(p12_path, p12)
        credential = Credential(certificate=cert, private_key=key, chain=(ca,))
        return OrgPkiEntry(cert=cert_path, key=key_path, p12=p12_path, credential=credential)

    auth_cli = issue(
        1,
        "AUTH_CLI",
        _usage(signature=True),
        ExtendedKeyUsageOID.CLIENT_AUTH,
    )
    sign = issue(
        2,
        "SIGN",
        _usage(signature=True, non_repudiation=True),
        ExtendedKeyUsageOID.EMAIL_PROTECTION,
    )
    return OrgPki(
        ca_cert=ca_path,
        ca=ca,
        auth_cli=auth_cli,
        sign=sign,
        p12_password=password,
        structure_id=structure_id,
        structure_name=structure_name,
    )
