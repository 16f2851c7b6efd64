"""Tests of the test PKI generator (segur_ris.sandbox._pki)."""

from __future__ import annotations

import dataclasses
import datetime as dt
import ipaddress
import ssl
import stat
import time
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from segur_ris.errors import ConfigError
from segur_ris.sandbox import ClientCredential, TestPki, generate_test_pki


def _cert(path: Path) -> x509.Certificate:
    return x509.load_pem_x509_certificate(path.read_bytes())


def _attr(name: x509.Name, oid: x509.ObjectIdentifier) -> list[str]:
    return [str(a.value) for a in name.get_attributes_for_oid(oid)]


def _eku(cert: x509.Certificate) -> list[x509.ObjectIdentifier]:
    return list(cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value)


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> TestPki:
    return generate_test_pki(tmp_path_factory.mktemp("pki"))


def test_generation_is_fast_and_writes_every_file(tmp_path: Path) -> None:
    start = time.perf_counter()
    pki = generate_test_pki(tmp_path / "new" / "dir")
    assert time.perf_counter() - start < 1.0
    paths = [pki.ca_cert, pki.server_cert, pki.server_key]
    paths += [p for c in pki.clients.values() for p in (c.cert, c.key)]
    assert all(p.is_file() and p.parent == tmp_path / "new" / "dir" for p in paths)
    assert set(pki.clients) == {"INSI-AUTO", "INSI-MANU", "AUTRE"}


def test_chain_verifies(pki: TestPki) -> None:
    ca = _cert(pki.ca_cert)
    ca.verify_directly_issued_by(ca)
    assert ca.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    leaves = [pki.server_cert, *(c.cert for c in pki.clients.values())]
    for path in leaves:
        leaf = _cert(path)
        leaf.verify_directly_issued_by(ca)
        assert not leaf.extensions.get_extension_for_class(x509.BasicConstraints).value.ca


def test_ca_imitates_igc_sante_test_ca(pki: TestPki) -> None:
    ca = _cert(pki.ca_cert)
    assert _attr(ca.subject, NameOID.COMMON_NAME) == ["TEST AC IGC-SANTE ELEMENTAIRE ORGANISATIONS"]
    assert _attr(ca.subject, NameOID.COUNTRY_NAME) == ["FR"]
    assert ca.subject == ca.issuer


def test_client_certificates(pki: TestPki) -> None:
    expected = {"INSI-AUTO": "INSI-AUTO", "INSI-MANU": "INSI-MANU"}
    for label, credential in pki.clients.items():
        assert isinstance(credential, ClientCredential)
        cert = _cert(credential.cert)
        assert _attr(cert.subject, NameOID.COMMON_NAME) == [credential.cn]
        if label in expected:
            assert credential.cn == expected[label]
        assert _attr(cert.subject, NameOID.ORGANIZATIONAL_UNIT_NAME) == ["899900063480"]
        assert _attr(cert.subject, NameOID.ORGANIZATION_NAME)
        assert _eku(cert) == [ExtendedKeyUsageOID.CLIENT_AUTH]
    assert pki.clients["AUTRE"].cn not in {"INSI-AUTO", "INSI-MANU"}


def test_structure_is_configurable(tmp_path: Path) -> None:
    pki = generate_test_pki(tmp_path, structure_id="10B0152872", structure_name="CABINET X")
    cert = _cert(pki.clients["INSI-AUTO"].cert)
    assert _attr(cert.subject, NameOID.ORGANIZATIONAL_UNIT_NAME) == ["10B0152872"]
    assert _attr(cert.subject, NameOID.ORGANIZATION_NAME) == ["CABINET X"]


def test_server_certificate(pki: TestPki) -> None:
    cert = _cert(pki.server_cert)
    san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert san.get_values_for_type(x509.IPAddress) == [ipaddress.ip_address("127.0.0.1")]
    assert san.get_values_for_type(x509.DNSName) == ["localhost"]
    assert _eku(cert) == [ExtendedKeyUsageOID.SERVER_AUTH]


def test_validity_starts_one_day_ago_for_two_years(pki: TestPki) -> None:
    now = dt.datetime.now(dt.UTC)
    for path in [pki.ca_cert, pki.server_cert, *(c.cert for c in pki.clients.values())]:
        cert = _cert(path)
        start, end = cert.not_valid_before_utc, cert.not_valid_after_utc
        assert dt.timedelta(hours=23) < now - start < dt.timedelta(hours=25)
        assert end - start == dt.timedelta(days=730)


def test_keys_are_private_unencrypted_and_match(pki: TestPki) -> None:
    pairs = [(pki.server_cert, pki.server_key)]
    pairs += [(c.cert, c.key) for c in pki.clients.values()]
    for cert_path, key_path in pairs:
        assert stat.S_IMODE(key_path.stat().st_mode) == 0o600
        key = serialization.load_pem_private_key(key_path.read_bytes(), password=None)
        assert isinstance(key, ec.EllipticCurvePrivateKey)
        assert key.curve.name == "secp256r1"
        assert key.public_key() == _cert(cert_path).public_key()
    assert not any(
        p.name.startswith("ca") and "key" in p.name for p in pki.ca_cert.parent.iterdir()
    )


def test_existing_key_file_gets_mode_0600(tmp_path: Path) -> None:
    key = tmp_path / "server-key.pem"
    key.write_text("old")
    key.chmod(0o644)
    generate_test_pki(tmp_path)
    assert stat.S_IMODE(key.stat().st_mode) == 0o600


def test_files_load_in_ssl(pki: TestPki) -> None:
    server = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server.load_cert_chain(pki.server_cert, pki.server_key)
    server.load_verify_locations(cafile=pki.ca_cert)
    for credential in pki.clients.values():
        client = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        client.load_cert_chain(credential.cert, credential.key)


def test_rsa_variant(tmp_path: Path) -> None:
    pki = generate_test_pki(tmp_path, key_type="rsa")
    key = serialization.load_pem_private_key(pki.clients["INSI-MANU"].key.read_bytes(), None)
    assert isinstance(key, rsa.RSAPrivateKey) and key.key_size == 2048
    _cert(pki.server_cert).verify_directly_issued_by(_cert(pki.ca_cert))


def test_unknown_key_type(tmp_path: Path) -> None:
    with pytest.raises(ConfigError):
        generate_test_pki(tmp_path, key_type="dsa")  # type: ignore[arg-type]


def test_each_call_makes_a_new_pki(tmp_path: Path) -> None:
    first = _cert(generate_test_pki(tmp_path / "a").ca_cert)
    second = _cert(generate_test_pki(tmp_path / "b").ca_cert)
    assert first.public_key() != second.public_key()


def test_result_is_immutable(pki: TestPki) -> None:
    with pytest.raises(dataclasses.FrozenInstanceError):
        pki.ca_cert = Path("x")  # type: ignore[misc]
    with pytest.raises(TypeError):
        pki.clients["X"] = pki.clients["AUTRE"]  # type: ignore[index]
