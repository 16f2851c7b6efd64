"""A two-level IGC Santé-like test PKI, for tests, the sandbox and vendors' own CI.

:func:`generate_igc_test_pki` writes, in one directory, with fixed file names:

* ``root-ca.pem`` (imitates "TEST AC RACINE IGC-SANTE ELEMENTAIRE") and ``intermediate-ca.pem``
  (imitates "TEST AC IGC-SANTE ELEMENTAIRE ORGANISATIONS"), ``ca-bundle.pem`` (both);
* for each entry ``<name>-cert.pem``, ``<name>-key.pem`` (PKCS#8, mode 0600),
  ``<name>-chain.pem`` (certificate + intermediate) and, for the client entries,
  ``<name>.p12`` (password-protected, with the chain): ``org-auth-cli`` (ORG AUTH_CLI),
  ``org-sign`` (ORG SIGN), ``insi-auto`` / ``insi-manu`` (AUTH_CLI with CN ``INSI-AUTO`` /
  ``INSI-MANU``), ``server``
  (127.0.0.1 / localhost), ``org-auth-cli-expired``, ``server-expired``,
  ``org-auth-cli-revoked``, ``server-revoked`` and ``ocsp-responder`` (delegated OCSP signer);
* ``intermediate.crl`` (DER) / ``intermediate-crl.pem`` listing the two revoked certificates,
  ``root-crl.pem`` (empty, for chain-wide CRL checks);
* ``manifest.json`` describing all of it (never the keys or the PKCS#12 password).

Every key is RSA 2048 like IGC Santé's. RSA generation costs 60-130 ms per key, so keys are
generated once per process per ``key_set`` and reused; certificates (serials, dates) are fresh
on each call. Pass another ``key_set`` to get a PKI that does *not* share keys with the first
(an "untrusted" issuer for tests).
"""

from __future__ import annotations

import datetime as dt
import functools
import ipaddress
import json
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.serialization import pkcs12
from cryptography.x509.oid import AuthorityInformationAccessOID, ExtendedKeyUsageOID, NameOID

from segur_ris._files import write_private
from segur_ris.certificates._pkcs12 import Credential
from segur_ris.errors import ConfigError

__all__ = [
    "IgcTestPki",
    "TestPkiEntry",
    "generate_igc_test_pki",
]

TEST_ROOT_COMMON_NAME = "TEST AC RACINE IGC-SANTE ELEMENTAIRE"
TEST_INTERMEDIATE_COMMON_NAME = "TEST AC IGC-SANTE ELEMENTAIRE ORGANISATIONS"
DEFAULT_P12_PASSWORD = b"segur-ris-test"
_UNOFFICIAL = "IGC-SANTE TEST (SEGUR_RIS, NON OFFICIEL)"

#: Entry names, in generation order.
ENTRY_NAMES = (
    "org-auth-cli",
    "org-sign",
    "insi-auto",
    "insi-manu",
    "server",
    "org-auth-cli-expired",
    "server-expired",
    "org-auth-cli-revoked",
    "server-revoked",
    "ocsp-responder",
)
_REVOKED = ("org-auth-cli-revoked", "server-revoked")


@functools.cache
def _rsa_key(key_set: int, slot: int) -> rsa.RSAPrivateKey:
    """The per-process RSA key ``slot`` of ``key_set`` (0 root, 1 intermediate, 2… leaves)."""
    del key_set, slot  # only the cache key
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@dataclass(frozen=True, slots=True, repr=False)
class TestPkiEntry:
    """One generated certificate: files and the in-memory :class:`Credential` (key included,
    never rendered)."""

    __test__ = False  # not a pytest test class

    name: str
    cert: Path
    key: Path
    chain: Path
    p12: Path | None
    credential: Credential = field(compare=False)

    @property
    def certificate(self) -> x509.Certificate:
        """The certificate."""
        return self.credential.certificate

    def __repr__(self) -> str:
        return f"TestPkiEntry(name={self.name!r}, cert={str(self.cert)!r})"


@dataclass(frozen=True, slots=True, repr=False)
class IgcTestPki:
    """A generated test PKI (see the module documentation for the files)."""

    __test__ = False

    directory: Path
    root: x509.Certificate
    intermediate: x509.Certificate
    root_cert: Path
    intermediate_cert: Path
    ca_bundle: Path
    crl: Path
    crl_pem: Path
    root_crl_pem: Path
    manifest: Path
    entries: Mapping[str, TestPkiEntry]
    p12_password: bytes = field(repr=False)
    structure_id: str
    structure_name: str
    crl_url: str | None
    ocsp_url: str | None
    intermediate_key: rsa.RSAPrivateKey = field(repr=False, compare=False)
    key_set: int = 0

    def __repr__(self) -> str:
        return f"IgcTestPki(directory={str(self.directory)!r}, structure_id={self.structure_id!r})"

    def __getitem__(self, name: str) -> TestPkiEntry:
        try:
            return self.entries[name]
        except KeyError:
            raise ConfigError(f"entrée inconnue dans la PKI de test: {name!r}") from None

    @property
    def revoked_serials(self) -> tuple[int, ...]:
        """Serial numbers listed in the CRL."""
        return tuple(self.entries[name].certificate.serial_number for name in _REVOKED)

    @property
    def root_key(self) -> rsa.RSAPrivateKey:
        """The root CA key (tests sign root CRLs with it)."""
        return _rsa_key(self.key_set, 0)

    def make_crl(
        self,
        *,
        revoked: Iterable[int] | None = None,
        this_update: dt.datetime | None = None,
        next_update: dt.datetime | None = None,
        signer: rsa.RSAPrivateKey | None = None,
        root: bool = False,
    ) -> x509.CertificateRevocationList:
        """A CRL of the intermediate CA, or of the root with ``root`` (default: the revoked
        entries, valid 7 days); pass ``signer`` to sign it with another key (a forged CRL)."""
        issuer, key = (
            (self.root, self.root_key) if root else (self.intermediate, self.intermediate_key)
        )
        return _crl(
            issuer,
            signer or key,
            (() if root else self.revoked_serials) if revoked is None else tuple(revoked),
            this_update or dt.datetime.now(dt.UTC) - dt.timedelta(minutes=5),
            next_update or dt.datetime.now(dt.UTC) + dt.timedelta(days=7),
        )


def _name(common_name: str, *more: tuple[x509.ObjectIdentifier, str]) -> x509.Name:
    return x509.Name(
        [x509.NameAttribute(oid, value) for oid, value in more]
        + [x509.NameAttribute(NameOID.COMMON_NAME, common_name)]
    )


def _ca_name(common_name: str, unofficial: str = _UNOFFICIAL) -> x509.Name:
    """An IGC Santé-like CA subject; the ``unofficial`` OU marks it as a test imitation."""
    return _name(
        common_name,
        (NameOID.COUNTRY_NAME, "FR"),
        (NameOID.ORGANIZATION_NAME, "ASIP-SANTE"),
        (NameOID.ORGANIZATIONAL_UNIT_NAME, "0002 187512751"),
        (NameOID.ORGANIZATIONAL_UNIT_NAME, unofficial),
    )


def _usage(
    *,
    signature: bool,
    non_repudiation: bool = False,
    ca: bool = False,
    key_encipherment: bool = False,
) -> x509.KeyUsage:
    """Key usage of a test certificate (also used by the sandbox PKIs)."""
    return x509.KeyUsage(
        digital_signature=signature,
        content_commitment=non_repudiation,
        key_encipherment=key_encipherment,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=ca,
        crl_sign=ca,
        encipher_only=False,
        decipher_only=False,
    )


def _crl(
    issuer: x509.Certificate,
    key: rsa.RSAPrivateKey,
    revoked: tuple[int, ...],
    this_update: dt.datetime,
    next_update: dt.datetime,
) -> x509.CertificateRevocationList:
    builder = (
        x509.CertificateRevocationListBuilder()
        .issuer_name(issuer.subject)
        .last_update(this_update)
        .next_update(next_update)
        .add_extension(x509.CRLNumber(int(this_update.timestamp())), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer.public_key()),  # type: ignore[arg-type]
            critical=False,
        )
    )
    for serial in revoked:
        builder = builder.add_revoked_certificate(
            x509.RevokedCertificateBuilder()
            .serial_number(serial)
            .revocation_date(this_update)
            .add_extension(x509.CRLReason(x509.ReasonFlags.key_compromise), critical=False)
            .build()
        )
    return builder.sign(key, hashes.SHA256())


def _distribution(url: str) -> x509.CRLDistributionPoints:
    point = x509.DistributionPoint([x509.UniformResourceIdentifier(url)], None, None, None)
    return x509.CRLDistributionPoints([point])


def _pem(*certificates: x509.Certificate) -> bytes:
    return b"".join(c.public_bytes(serialization.Encoding.PEM) for c in certificates)


def generate_igc_test_pki(
    directory: str | os.PathLike[str],
    *,
    structure_id: str = "10B0123456",
    structure_name: str = "CENTRE IMAGERIE TEST",
    region: str = "Rhône (69)",
    password: bytes = DEFAULT_P12_PASSWORD,
    crl_url: str | None = None,
    ocsp_url: str | None = None,
    root_crl_url: str | None = None,
    days: int = 730,
    key_set: int = 0,
) -> IgcTestPki:
    """Generate the test PKI in ``directory`` (created if needed) and return its files.

    ORG certificates carry ``O`` = ``structure_name`` and ``OU`` = ``structure_id``
    (``IdNat_Struct``, as in IGC Santé ORG certificates). ``crl_url`` / ``ocsp_url`` go to the
    CRL distribution point / AIA OCSP extension of every leaf, ``root_crl_url`` to the CRL
    distribution point of the intermediate CA (none when ``None``). Valid
    certificates run from one day ago for ``days`` days; the expired ones ended 30 days ago.
    """
    if not structure_id or not structure_id.isprintable():
        raise ConfigError(f"identifiant de structure invalide: {structure_id!r}")
    if days < 2:
        raise ConfigError("durée de validité trop courte (au moins 2 jours)")
    root_dir = Path(directory)
    root_dir.mkdir(parents=True, exist_ok=True)
    now = dt.datetime.now(dt.UTC).replace(microsecond=0)
    start = now - dt.timedelta(days=1)
    ca_start = start - dt.timedelta(days=400)
    ca_end = start + dt.timedelta(days=days + 365)

    root_key, inter_key = _rsa_key(key_set, 0), _rsa_key(key_set, 1)
    root_name = _ca_name(TEST_ROOT_COMMON_NAME)
    inter_name = _ca_name(TEST_INTERMEDIATE_COMMON_NAME)

    def base(
        subject: x509.Name, issuer: x509.Name, public: rsa.RSAPublicKey, issuer_public: object
    ) -> x509.CertificateBuilder:
        builder = (
            x509.CertificateBuilder()
            .subject_name(subject)
            .issuer_name(issuer)
            .public_key(public)
            .serial_number(x509.random_serial_number())
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(public), critical=False)
        )
        if issuer_public is not public:
            builder = builder.add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer_public),  # type: ignore[arg-type]
                critical=False,
            )
        return builder

    root = (
        base(root_name, root_name, root_key.public_key(), root_key.public_key())
        .not_valid_before(ca_start)
        .not_valid_after(ca_end + dt.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=1), critical=True)
        .add_extension(_usage(signature=False, ca=True), critical=True)
        .sign(root_key, hashes.SHA256())
    )
    inter_builder = (
        base(inter_name, root_name, inter_key.public_key(), root_key.public_key())
        .not_valid_before(ca_start)
        .not_valid_after(ca_end)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(_usage(signature=False, ca=True), critical=True)
    )
    if root_crl_url:
        inter_builder = inter_builder.add_extension(_distribution(root_crl_url), critical=False)
    intermediate = inter_builder.sign(root_key, hashes.SHA256())

    def org_subject(cn: str) -> x509.Name:
        return _name(
            cn,
            (NameOID.COUNTRY_NAME, "FR"),
            (NameOID.STATE_OR_PROVINCE_NAME, region),
            (NameOID.ORGANIZATION_NAME, structure_name),
            (NameOID.ORGANIZATIONAL_UNIT_NAME, structure_id),
        )

    server_subject = _name("localhost", (NameOID.COUNTRY_NAME, "FR"))
    server_san = x509.SubjectAlternativeName(
        [x509.IPAddress(ipaddress.ip_address("127.0.0.1")), x509.DNSName("localhost")]
    )
    auth = (_usage(signature=True), ExtendedKeyUsageOID.CLIENT_AUTH)
    sign = (_usage(signature=True, non_repudiation=True), ExtendedKeyUsageOID.EMAIL_PROTECTION)
    server = (_usage(signature=True), ExtendedKeyUsageOID.SERVER_AUTH)
    ocsp = (_usage(signature=True), ExtendedKeyUsageOID.OCSP_SIGNING)
    expired = (start - dt.timedelta(days=400), now - dt.timedelta(days=30))
    valid = (start, start + dt.timedelta(days=days))
    # name: (key slot, subject, (key usage, EKU))
    plan: dict[str, tuple[int, x509.Name, tuple[x509.KeyUsage, x509.ObjectIdentifier]]] = {
        "org-auth-cli": (2, org_subject("SEGUR-RIS TEST ORG AUTH_CLI"), auth),
        "org-sign": (3, org_subject("SEGUR-RIS TEST ORG SIGN"), sign),
        "insi-auto": (4, org_subject("INSI-AUTO"), auth),
        "insi-manu": (4, org_subject("INSI-MANU"), auth),
        "server": (5, server_subject, server),
        "org-auth-cli-expired": (2, org_subject("SEGUR-RIS TEST EXPIRE"), auth),
        "server-expired": (5, server_subject, server),
        "org-auth-cli-revoked": (2, org_subject("SEGUR-RIS TEST REVOQUE"), auth),
        "server-revoked": (5, server_subject, server),
        "ocsp-responder": (6, _name("SEGUR-RIS TEST OCSP", (NameOID.COUNTRY_NAME, "FR")), ocsp),
    }
    chain_pem = _pem(intermediate)
    entries: dict[str, TestPkiEntry] = {}
    for name in ENTRY_NAMES:
        slot, subject, (usage, eku) = plan[name]
        key = _rsa_key(key_set, slot)
        not_before, not_after = expired if name.endswith("-expired") else valid
        builder = (
            base(subject, inter_name, key.public_key(), inter_key.public_key())
            .not_valid_before(not_before)
            .not_valid_after(not_after)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(usage, critical=True)
            .add_extension(x509.ExtendedKeyUsage([eku]), critical=False)
        )
        if eku == ExtendedKeyUsageOID.SERVER_AUTH:
            builder = builder.add_extension(server_san, critical=False)
        if name == "ocsp-responder":
            builder = builder.add_extension(x509.OCSPNoCheck(), critical=False)
        else:
            if crl_url:
                builder = builder.add_extension(_distribution(crl_url), critical=False)
            if ocsp_url:
                builder = builder.add_extension(
                    x509.AuthorityInformationAccess(
                        [
                            x509.AccessDescription(
                                AuthorityInformationAccessOID.OCSP,
                                x509.UniformResourceIdentifier(ocsp_url),
                            )
                        ]
                    ),
                    critical=False,
                )
        certificate = builder.sign(inter_key, hashes.SHA256())
        cert_path, key_path = root_dir / f"{name}-cert.pem", root_dir / f"{name}-key.pem"
        chain_path = root_dir / f"{name}-chain.pem"
        cert_path.write_bytes(_pem(certificate))
        chain_path.write_bytes(_pem(certificate) + chain_pem)
        write_private(
            key_path,
            key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            ),
        )
        p12_path: Path | None = None
        if eku != ExtendedKeyUsageOID.OCSP_SIGNING:
            p12_path = root_dir / f"{name}.p12"
            write_private(
                p12_path,
                pkcs12.serialize_key_and_certificates(
                    name.encode(),
                    key,
                    certificate,
                    [intermediate, root],
                    serialization.BestAvailableEncryption(password),
                ),
            )
        entries[name] = TestPkiEntry(
            name=name,
            cert=cert_path,
            key=key_path,
            chain=chain_path,
            p12=p12_path,
            credential=Credential(certificate, key, (intermediate, root)),
        )

    root_path, inter_path = root_dir / "root-ca.pem", root_dir / "intermediate-ca.pem"
    bundle_path = root_dir / "ca-bundle.pem"
    root_path.write_bytes(_pem(root))
    inter_path.write_bytes(_pem(intermediate))
    bundle_path.write_bytes(_pem(root, intermediate))
    revoked = tuple(entries[name].certificate.serial_number for name in _REVOKED)
    this_update = now - dt.timedelta(minutes=5)
    crl = _crl(intermediate, inter_key, revoked, this_update, now + dt.timedelta(days=7))
    root_crl = _crl(root, root_key, (), this_update, now + dt.timedelta(days=30))
    crl_path, crl_pem_path = root_dir / "intermediate.crl", root_dir / "intermediate-crl.pem"
    root_crl_path = root_dir / "root-crl.pem"
    crl_path.write_bytes(crl.public_bytes(serialization.Encoding.DER))
    crl_pem_path.write_bytes(crl.public_bytes(serialization.Encoding.PEM))
    root_crl_path.write_bytes(root_crl.public_bytes(serialization.Encoding.PEM))

    manifest_path = root_dir / "manifest.json"
    manifest = {
        "generator": "segur_ris.certificates.generate_igc_test_pki",
        "official": False,
        "structure_id": structure_id,
        "structure_name": structure_name,
        "root": root_path.name,
        "intermediate": inter_path.name,
        "ca_bundle": bundle_path.name,
        "crl": crl_path.name,
        "crl_pem": crl_pem_path.name,
        "root_crl_pem": root_crl_path.name,
        "crl_url": crl_url,
        "ocsp_url": ocsp_url,
        "revoked_serials": [f"{serial:x}" for serial in revoked],
        "entries": {
            name: {
                "cert": entry.cert.name,
                "key": entry.key.name,
                "chain": entry.chain.name,
                "p12": entry.p12.name if entry.p12 else None,
                "subject": entry.certificate.subject.rfc4514_string(),
                "serial": f"{entry.certificate.serial_number:x}",
                "not_before": entry.certificate.not_valid_before_utc.isoformat(),
                "not_after": entry.certificate.not_valid_after_utc.isoformat(),
            }
            for name, entry in entries.items()
        },
    }
    manifest_path.write_text(json.dumps(manifest, ensure_ascii=False, indent=2) + "\n", "utf-8")
    return IgcTestPki(
        directory=root_dir,
        root=root,
        intermediate=intermediate,
        root_cert=root_path,
        intermediate_cert=inter_path,
        ca_bundle=bundle_path,
        crl=crl_path,
        crl_pem=crl_pem_path,
        root_crl_pem=root_crl_path,
        manifest=manifest_path,
        entries=MappingProxyType(entries),
        p12_password=password,
        structure_id=structure_id,
        structure_name=structure_name,
        crl_url=crl_url,
        ocsp_url=ocsp_url,
        intermediate_key=inter_key,
        key_set=key_set,
    )
