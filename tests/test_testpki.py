"""The IGC Santé-like test PKI generator (segur_ris.certificates.generate_igc_test_pki)."""

from __future__ import annotations

import json
import stat
import time
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from segur_ris.certificates import (
    IgcTestPki,
    OrgRole,
    check_crl,
    crl_urls,
    generate_igc_test_pki,
    load_pkcs12,
    ocsp_urls,
    parse_crl,
)
from segur_ris.certificates._testpki import ENTRY_NAMES
from segur_ris.errors import CertificateExpiredError, ConfigError


@pytest.fixture(scope="module")
def igc(tmp_path_factory: pytest.TempPathFactory) -> IgcTestPki:
    return generate_igc_test_pki(
        tmp_path_factory.mktemp("igc"),
        structure_id="10B0127189",
        crl_url="http://127.0.0.1:9/intermediate.crl",
        ocsp_url="http://127.0.0.1:9/ocsp",
    )


def _eku(cert: x509.Certificate) -> list[x509.ObjectIdentifier]:
    return list(cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value)


def test_files_have_fixed_names_and_private_keys(igc: IgcTestPki) -> None:
    names = {p.name for p in igc.directory.iterdir()}
    for fixed in ("root-ca.pem", "intermediate-ca.pem", "ca-bundle.pem", "intermediate.crl"):
        assert fixed in names
    assert {"intermediate-crl.pem", "root-crl.pem", "manifest.json"} <= names
    for name in ENTRY_NAMES:
        entry = igc[name]
        assert entry.cert.name == f"{name}-cert.pem"
        assert stat.S_IMODE(entry.key.stat().st_mode) == 0o600
        assert x509.load_pem_x509_certificates(entry.chain.read_bytes()) == [
            entry.certificate,
            igc.intermediate,
        ]
        assert (entry.p12 is None) == (name == "ocsp-responder")
    assert not any("root" in n and "key" in n for n in names)
    with pytest.raises(ConfigError):
        igc["nope"]


def test_two_level_chain(igc: IgcTestPki) -> None:
    igc.root.verify_directly_issued_by(igc.root)
    igc.intermediate.verify_directly_issued_by(igc.root)
    assert igc.root.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == (
        "TEST AC RACINE IGC-SANTE ELEMENTAIRE"
    )
    assert igc.intermediate.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == (
        "TEST AC IGC-SANTE ELEMENTAIRE ORGANISATIONS"
    )
    for entry in igc.entries.values():
        entry.certificate.verify_directly_issued_by(igc.intermediate)
    bundle = x509.load_pem_x509_certificates(igc.ca_bundle.read_bytes())
    assert bundle == [igc.root, igc.intermediate]


def test_igc_sante_like_profiles(igc: IgcTestPki) -> None:
    auth, sign = igc["org-auth-cli"].credential, igc["org-sign"].credential
    assert auth.org.role is OrgRole.AUTH_CLI and sign.org.role is OrgRole.SIGN
    assert auth.structure_id == sign.structure_id == "10B0127189"
    sign_usage = sign.certificate.extensions.get_extension_for_class(x509.KeyUsage).value
    assert sign_usage.content_commitment and sign_usage.digital_signature
    assert _eku(sign.certificate) == [ExtendedKeyUsageOID.EMAIL_PROTECTION]
    assert igc["insi-auto"].credential.subject_cn == "INSI-AUTO"
    server = igc["server"].certificate
    assert _eku(server) == [ExtendedKeyUsageOID.SERVER_AUTH]
    san = server.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert san.get_values_for_type(x509.DNSName) == ["localhost"]
    assert _eku(igc["ocsp-responder"].certificate) == [ExtendedKeyUsageOID.OCSP_SIGNING]
    for entry in igc.entries.values():
        key = entry.certificate.public_key()
        assert getattr(key, "key_size", 0) == 2048
        if entry.name != "ocsp-responder":
            assert crl_urls(entry.certificate) == ("http://127.0.0.1:9/intermediate.crl",)
            assert ocsp_urls(entry.certificate) == ("http://127.0.0.1:9/ocsp",)


def test_expired_and_revoked_entries(igc: IgcTestPki) -> None:
    for name in ("org-auth-cli-expired", "server-expired"):
        with pytest.raises(CertificateExpiredError) as info:
            igc[name].credential.check_validity()
        assert info.value.code == "certificate_expired"
    crl = parse_crl(igc.crl.read_bytes())
    assert parse_crl(igc.crl_pem.read_bytes()) == crl
    check_crl(crl, igc.intermediate)
    revoked = {r.serial_number for r in crl}
    assert revoked == {
        igc["org-auth-cli-revoked"].certificate.serial_number,
        igc["server-revoked"].certificate.serial_number,
    }
    assert set(igc.revoked_serials) == revoked
    root_crl = parse_crl(igc.root_crl_pem.read_bytes())
    check_crl(root_crl, igc.root)
    assert len(root_crl) == 0


def test_pkcs12_files_load_with_chain(igc: IgcTestPki) -> None:
    entry = igc["org-sign"]
    assert entry.p12 is not None
    credential = load_pkcs12(entry.p12.read_bytes(), igc.p12_password)
    assert credential.certificate == entry.certificate
    assert credential.chain == (igc.intermediate, igc.root)


def test_manifest_describes_everything_but_secrets(igc: IgcTestPki) -> None:
    text = igc.manifest.read_text("utf-8")
    manifest = json.loads(text)
    assert manifest["official"] is False
    assert manifest["structure_id"] == "10B0127189"
    assert set(manifest["entries"]) == set(ENTRY_NAMES)
    sign = manifest["entries"]["org-sign"]
    assert sign["p12"] == "org-sign.p12"
    assert sign["serial"] == f"{igc['org-sign'].certificate.serial_number:x}"
    assert manifest["revoked_serials"] == [f"{s:x}" for s in igc.revoked_serials]
    assert igc.p12_password.decode() not in text and "PRIVATE" not in text
    assert "PRIVATE" not in repr(igc) and "PRIVATE" not in repr(igc["org-sign"])


def test_fast_after_first_call_and_fresh_certificates(igc: IgcTestPki, tmp_path: Path) -> None:
    start = time.perf_counter()
    again = generate_igc_test_pki(tmp_path)
    assert time.perf_counter() - start < 1.0
    assert again.root.serial_number != igc.root.serial_number
    assert again.root.public_key() == igc.root.public_key()  # keys cached per key set
    assert crl_urls(again["org-auth-cli"].certificate) == ()


def test_other_key_set_does_not_share_keys(igc: IgcTestPki, tmp_path: Path) -> None:
    other = generate_igc_test_pki(tmp_path, key_set=1)
    assert other.root.public_key() != igc.root.public_key()
    assert other.root.subject == igc.root.subject


@pytest.mark.parametrize("structure_id", ["", "bad\nid"])
def test_invalid_structure_id(tmp_path: Path, structure_id: str) -> None:
    with pytest.raises(ConfigError):
        generate_igc_test_pki(tmp_path, structure_id=structure_id)
    assert not (tmp_path / "manifest.json").exists()


def test_make_crl_variants(igc: IgcTestPki) -> None:
    empty = igc.make_crl(revoked=())
    check_crl(empty, igc.intermediate)
    assert len(empty) == 0
    root_crl = igc.make_crl(root=True)
    check_crl(root_crl, igc.root)
    assert root_crl.issuer == igc.root.subject
