"""A throw-away test PKI imitating the IGC-Santé test chain, for the local sandboxes.

One self-signed CA whose subject imitates "TEST AC IGC-SANTE ELEMENTAIRE ORGANISATIONS", a
server certificate for 127.0.0.1/localhost and three "ORG AUTH_CLI"-like client certificates:
``INSI-AUTO`` and ``INSI-MANU`` (the only CNs the INSi accepts) and ``AUTRE`` (another CN, to
exercise the ``desir_560`` refusal). Everything is written as unencrypted PEM, keys mode 0600.

Keys are EC P-256 by default: generating five keys takes well under a millisecond, whereas RSA
2048 costs 60-130 ms per key here (0.3-0.7 s for the set, more on a loaded CI runner), which
would break the "< 1 s, no global cache" budget. Real IGC-Santé certificates are RSA 2048 and the
INSi negotiates ECDHE-RSA suites, so ``key_type="rsa"`` is offered for the rare test that needs
the exact key type.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import TYPE_CHECKING, Literal

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from segur_ris._files import write_private
from segur_ris.certificates._testpki import _usage
from segur_ris.errors import ConfigError

if TYPE_CHECKING:
    from segur_ris.certificates import IgcTestPki

__all__ = [
    "CA_COMMON_NAME",
    "CLIENT_AUTRE",
    "CLIENT_INSI_AUTO",
    "CLIENT_INSI_MANU",
    "ClientCredential",
    "KeyType",
    "TestPki",
    "generate_test_pki",
    "sandbox_pki_from",
]

KeyType = Literal["ec", "rsa"]
_PrivateKey = ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey

#: Common name of the test CA (imitates the IGC-Santé test CA issuing ORG certificates).
CA_COMMON_NAME = "TEST AC IGC-SANTE ELEMENTAIRE ORGANISATIONS"
#: Keys of :attr:`TestPki.clients`.
CLIENT_INSI_AUTO = "INSI-AUTO"
CLIENT_INSI_MANU = "INSI-MANU"
CLIENT_AUTRE = "AUTRE"
_AUTRE_CN = "SERVEUR-RIS-SANDBOX"


@dataclass(frozen=True, slots=True)
class ClientCredential:
    """A client certificate and its unencrypted private key (PEM files) with the cert's CN."""

    cert: Path
    key: Path
    cn: str


@dataclass(frozen=True, slots=True)
class TestPki:
    """Files of a generated test PKI. ``clients`` is keyed by ``INSI-AUTO``, ``INSI-MANU``,
    ``AUTRE``."""

    __test__ = False  # not a pytest test class

    ca_cert: Path
    server_cert: Path
    server_key: Path
    clients: Mapping[str, ClientCredential]


def _new_key(key_type: KeyType) -> _PrivateKey:
    if key_type == "ec":
        return ec.generate_private_key(ec.SECP256R1())
    if key_type == "rsa":
        return rsa.generate_private_key(public_exponent=65537, key_size=2048)
    raise ConfigError(f"type de clé inconnu: {key_type!r} (ec ou rsa)")


def _name(*attributes: tuple[x509.ObjectIdentifier, str]) -> x509.Name:
    return x509.Name([x509.NameAttribute(oid, value) for oid, value in attributes])


def _key_usage(key: _PrivateKey, *, ca: bool) -> x509.KeyUsage:
    rsa_key = isinstance(key, rsa.RSAPrivateKey)
    return _usage(signature=True, ca=ca, key_encipherment=rsa_key and not ca)


def _builder(
    subject: x509.Name, issuer: x509.Name, key: _PrivateKey, not_before: dt.datetime, days: int
) -> x509.CertificateBuilder:
    return (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before)
        .not_valid_after(not_before + dt.timedelta(days=days))
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
    )


def _write_cert(path: Path, cert: x509.Certificate) -> None:
    path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))


def _write_key(path: Path, key: _PrivateKey) -> None:
    data = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    write_private(path, data)


def generate_test_pki(
    directory: str | os.PathLike[str],
    *,
    key_type: KeyType = "ec",
    structure_id: str = "899900063480",
    structure_name: str = "CENTRE IMAGERIE SANDBOX",
    days: int = 730,
) -> TestPki:
    """Generate a fresh test PKI in ``directory`` (created if needed) and return its files.

    Client certificates carry ``O`` = ``structure_name`` and ``OU`` = ``structure_id`` (the
    ``Emetteur`` of the INSi contexts, as in IGC-Santé ORG certificates), EKU ``clientAuth``; the
    server certificate has SAN ``IP:127.0.0.1`` + ``DNS:localhost`` and EKU ``serverAuth``. Every
    certificate is valid from one day ago for ``days`` days. Nothing is cached between calls.
    """
    root = Path(directory)
    root.mkdir(parents=True, exist_ok=True)
    not_before = dt.datetime.now(dt.UTC).replace(microsecond=0) - dt.timedelta(days=1)

    ca_key = _new_key(key_type)
    ca_name = _name(
        (NameOID.COUNTRY_NAME, "FR"),
        (NameOID.ORGANIZATION_NAME, "ASIP-SANTE"),
        (NameOID.ORGANIZATIONAL_UNIT_NAME, "0002 187512751"),
        (NameOID.ORGANIZATIONAL_UNIT_NAME, "IGC-SANTE TEST (SANDBOX SEGUR_RIS, NON OFFICIEL)"),
        (NameOID.COMMON_NAME, CA_COMMON_NAME),
    )
    ca_cert = (
        _builder(ca_name, ca_name, ca_key, not_before, days)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(_key_usage(ca_key, ca=True), critical=True)
        .sign(ca_key, hashes.SHA256())
    )
    ca_aki = x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key())

    def issue(
        subject: x509.Name, eku: x509.ObjectIdentifier, san: x509.SubjectAlternativeName | None
    ) -> tuple[x509.Certificate, _PrivateKey]:
        key = _new_key(key_type)
        builder = (
            _builder(subject, ca_name, key, not_before, days)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(_key_usage(key, ca=False), critical=True)
            .add_extension(x509.ExtendedKeyUsage([eku]), critical=False)
            .add_extension(ca_aki, critical=False)
        )
        if san is not None:
            builder = builder.add_extension(san, critical=False)
        return builder.sign(ca_key, hashes.SHA256()), key

    ca_path = root / "ca-cert.pem"
    _write_cert(ca_path, ca_cert)

    server_cert, server_key = issue(
        _name((NameOID.COUNTRY_NAME, "FR"), (NameOID.COMMON_NAME, "localhost")),
        ExtendedKeyUsageOID.SERVER_AUTH,
        x509.SubjectAlternativeName(
            [x509.IPAddress(ipaddress.ip_address("127.0.0.1")), x509.DNSName("localhost")]
        ),
    )
    server_cert_path, server_key_path = root / "server-cert.pem", root / "server-key.pem"
    _write_cert(server_cert_path, server_cert)
    _write_key(server_key_path, server_key)

    clients: dict[str, ClientCredential] = {}
    for label, cn in (
        (CLIENT_INSI_AUTO, CLIENT_INSI_AUTO),
        (CLIENT_INSI_MANU, CLIENT_INSI_MANU),
        (CLIENT_AUTRE, _AUTRE_CN),
    ):
        cert, key = issue(
            _name(
                (NameOID.COUNTRY_NAME, "FR"),
                (NameOID.ORGANIZATION_NAME, structure_name),
                (NameOID.ORGANIZATIONAL_UNIT_NAME, structure_id),
                (NameOID.COMMON_NAME, cn),
            ),
            ExtendedKeyUsageOID.CLIENT_AUTH,
            None,
        )
        stem = label.lower()
        cert_path, key_path = root / f"{stem}-cert.pem", root / f"{stem}-key.pem"
        _write_cert(cert_path, cert)
        _write_key(key_path, key)
        clients[label] = ClientCredential(cert=cert_path, key=key_path, cn=cn)

    return TestPki(
        ca_cert=ca_path,
        server_cert=server_cert_path,
        server_key=server_key_path,
        clients=MappingProxyType(clients),
    )


def sandbox_pki_from(igc: IgcTestPki, *, server: str = "server") -> TestPki:
    """The files of an IGC Santé-like test PKI
    (:func:`~segur_ris.certificates.generate_igc_test_pki`) seen as a sandbox :class:`TestPki`:
    the sandboxes then run with RSA certificates, a two-level chain and a CRL. ``server`` picks
    the server entry (``server-expired`` or ``server-revoked`` to rehearse refusals); clients
    are ``insi-auto``, ``insi-manu`` and ``org-auth-cli`` (as ``AUTRE``)."""
    clients = {
        CLIENT_INSI_AUTO: igc["insi-auto"],
        CLIENT_INSI_MANU: igc["insi-manu"],
        CLIENT_AUTRE: igc["org-auth-cli"],
    }
    entry = igc[server]
    return TestPki(
        ca_cert=igc.ca_bundle,
        server_cert=entry.chain,
        server_key=entry.key,
        clients=MappingProxyType(
            {
                label: ClientCredential(
                    cert=client.cert, key=client.key, cn=client.credential.subject_cn or ""
                )
                for label, client in clients.items()
            }
        ),
    )
