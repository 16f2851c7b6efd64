"""Tests of PKCS#12 loading and ORG certificate roles (segur_ris.certificates) and the ORG
test PKI (segur_ris.sandbox._pki_org)."""

from __future__ import annotations

import base64
import datetime as dt
import logging
import stat
import time
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from lxml import etree

from segur_ris.certificates import Credential, OrgCertificate, OrgRole, load_pkcs12
from segur_ris.errors import CertificateError
from segur_ris.sandbox._pki_org import OrgPki, generate_org_pki
from tests.conftest import ref_file

DS = "http://www.w3.org/2000/09/xmldsig#"
EXAMPLES = "dmp/dmp-lps-package/DMP_LPS_Exemple_de_messages_1.0.1_1_-_v02.05.00/Exemples_Jeton_VIHF"


@pytest.fixture(scope="module")
def org(tmp_path_factory: pytest.TempPathFactory) -> OrgPki:
    return generate_org_pki(tmp_path_factory.mktemp("org"), structure_id="10B0127189")


def _key_pem(credential: Credential) -> bytes:
    return credential.private_key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def test_generation_is_fast_rsa_and_shaped_like_igc_sante(tmp_path: Path) -> None:
    start = time.perf_counter()
    pki = generate_org_pki(tmp_path / "a", structure_id="10B0123456", structure_name="CH TEST")
    assert time.perf_counter() - start < 1.0
    for entry in (pki.auth_cli, pki.sign):
        cert = entry.credential.certificate
        public_key = cert.public_key()
        assert isinstance(public_key, rsa.RSAPublicKey)
        assert public_key.key_size == 2048
        cert.verify_directly_issued_by(pki.ca)
        subject = cert.subject
        assert subject.get_attributes_for_oid(x509.NameOID.ORGANIZATIONAL_UNIT_NAME)[0].value == (
            "10B0123456"
        )
        assert subject.get_attributes_for_oid(x509.NameOID.ORGANIZATION_NAME)[0].value == "CH TEST"
        for path in (entry.key, entry.p12):
            assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert pki.auth_cli.credential.org.role is OrgRole.AUTH_CLI
    assert pki.sign.credential.org.role is OrgRole.SIGN
    again = generate_org_pki(tmp_path / "b")
    assert again.sign.credential.certificate.serial_number != (
        pki.sign.credential.certificate.serial_number
    )


def test_pkcs12_round_trip_with_password(org: OrgPki) -> None:
    credential = load_pkcs12(org.sign.p12.read_bytes(), org.p12_password)
    assert credential.certificate == org.sign.credential.certificate
    assert _key_pem(credential) == _key_pem(org.sign.credential)
    assert credential.chain == (org.ca,)
    assert credential.subject_cn == "SEGUR-RIS SANDBOX SIGN"
    assert credential.ou == credential.structure_id == "10B0127189"
    assert credential.organization == org.structure_name
    assert credential.org.is_sign and not credential.org.is_auth_cli
    credential.org.require(OrgRole.SIGN)
    with pytest.raises(CertificateError) as info:
        credential.org.require(OrgRole.AUTH_CLI)
    assert info.value.code == "certificate_role"
    auth = load_pkcs12(org.auth_cli.p12.read_bytes(), org.p12_password)
    assert auth.org.role is OrgRole.AUTH_CLI


@pytest.mark.parametrize("password", [b"wrong", None])
def test_wrong_password(org: OrgPki, password: bytes | None) -> None:
    with pytest.raises(CertificateError) as info:
        load_pkcs12(org.sign.p12.read_bytes(), password)
    assert info.value.code == "pkcs12_password"


@pytest.mark.parametrize("data", [b"", b"garbage", b"-----BEGIN CERTIFICATE-----\n"])
def test_not_a_pkcs12(data: bytes) -> None:
    with pytest.raises(CertificateError) as info:
        load_pkcs12(data, b"x")
    assert info.value.code == "pkcs12_format"


def test_expired_and_not_yet_valid(tmp_path: Path, org: OrgPki) -> None:
    old = generate_org_pki(tmp_path, not_before=dt.datetime(2020, 1, 1, tzinfo=dt.UTC), days=30)
    data = old.sign.p12.read_bytes()
    with pytest.raises(CertificateError) as info:
        load_pkcs12(data, old.p12_password)
    assert info.value.code == "certificate_expired"
    assert load_pkcs12(data, old.p12_password, check_dates=False).structure_id == "10B0123456"
    with pytest.raises(CertificateError) as info:
        load_pkcs12(
            org.sign.p12.read_bytes(),
            org.p12_password,
            now=dt.datetime(2000, 1, 1, tzinfo=dt.UTC),
        )
    assert info.value.code == "certificate_not_yet_valid"


def test_write_pem_for_tls(org: OrgPki, tmp_path: Path) -> None:
    credential = load_pkcs12(org.auth_cli.p12.read_bytes(), org.p12_password)
    existing = tmp_path / "client-key.pem"
    existing.write_bytes(b"old")
    existing.chmod(0o644)
    files = credential.write_pem(tmp_path)
    assert files.key == existing
    assert stat.S_IMODE(files.key.stat().st_mode) == 0o600
    assert serialization.load_pem_private_key(files.key.read_bytes(), None)
    assert x509.load_pem_x509_certificate(files.cert.read_bytes()) == credential.certificate
    assert files.chain is not None
    assert x509.load_pem_x509_certificates(files.chain.read_bytes()) == [org.ca]


def test_key_never_rendered(org: OrgPki, caplog: pytest.LogCaptureFixture) -> None:
    credential = load_pkcs12(org.sign.p12.read_bytes(), org.p12_password)
    key_pem = _key_pem(credential).decode()
    secret = "".join(key_pem.splitlines()[1:3])
    numbers = credential.private_key.private_numbers()
    assert isinstance(numbers, rsa.RSAPrivateNumbers)
    with caplog.at_level(logging.DEBUG):
        logging.getLogger("segur_ris.test").info("credential %s %r", credential, credential)
    for text in (repr(credential), str(credential), f"{credential}", caplog.text, repr(org)):
        assert secret not in text
        assert str(numbers.d) not in text and "PRIVATE KEY" not in text
        assert "private_key" not in text
    assert "10B0127189" in repr(credential)


def test_roles_of_the_official_sample_certificates(ref_dir: Path) -> None:
    """The real IGC-Santé ORG certificates of the VIHF examples: SIGN (nonRepudiation,
    emailProtection) in INDIRECTE, AUTH_CLI (clientAuth) in INDIRECTE_RENFORCEE."""
    expected = {
        "VIHF_INDIRECTE_signe.xml": (OrgRole.SIGN, "339172288100052"),
        "VIHF_INDIRECTE_RENFORCEE_signe.xml": (OrgRole.AUTH_CLI, "10B0127189"),
    }
    for name, (role, structure) in expected.items():
        root = etree.fromstring(ref_file(ref_dir, f"{EXAMPLES}/{name}").read_bytes())
        text = root.findtext(f".//{{{DS}}}X509Certificate") or ""
        cert = x509.load_der_x509_certificate(base64.b64decode("".join(text.split())))
        helper = OrgCertificate(cert)
        assert helper.role is role
        assert helper.structure_id == structure
