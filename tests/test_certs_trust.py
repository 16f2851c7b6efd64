"""Trust store, chain verification, roles and the INSi CN rule (segur_ris.certificates)."""

from __future__ import annotations

import base64
import datetime as dt
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes

from segur_ris._xml import parse_xml
from segur_ris.certificates import (
    IGC_SANTE_PRODUCTION,
    IGC_SANTE_TEST,
    IgcTestPki,
    OrgCertificate,
    OrgRole,
    TrustStore,
    check_insi_cn,
    check_role,
    check_validity,
    crl_urls,
    generate_igc_test_pki,
    load_pkcs12,
    ocsp_urls,
)
from segur_ris.errors import (
    CertificateError,
    CertificateExpiredError,
    CertificateTrustError,
    CertificateUsageError,
    ConfigError,
)
from segur_ris.sandbox import TestPki
from tests.conftest import ref_file

EXAMPLES = "dmp/dmp-lps-package/DMP_LPS_Exemple_de_messages_1.0.1_1_-_v02.05.00/Exemples_Jeton_VIHF"


@pytest.fixture(scope="module")
def igc(tmp_path_factory: pytest.TempPathFactory) -> IgcTestPki:
    return generate_igc_test_pki(tmp_path_factory.mktemp("igc"))


@pytest.fixture(scope="module")
def other(tmp_path_factory: pytest.TempPathFactory) -> IgcTestPki:
    """Same names, other keys: an issuer the store does not trust."""
    return generate_igc_test_pki(tmp_path_factory.mktemp("other"), key_set=1)


@pytest.fixture(scope="module")
def store(igc: IgcTestPki) -> TrustStore:
    return TrustStore.from_paths(igc.ca_bundle)


def test_store_from_paths_sorts_anchors(igc: IgcTestPki, tmp_path: Path) -> None:
    store = TrustStore.from_paths(igc.root_cert, igc.intermediate_cert)
    assert store.anchors == (igc.root,) and store.intermediates == (igc.intermediate,)
    directory = tmp_path / "roots"
    directory.mkdir()
    (directory / "root.pem").write_bytes(igc.root_cert.read_bytes())
    (directory / "inter.pem").write_bytes(igc.intermediate_cert.read_bytes())
    (directory / "readme.txt").write_text("ignored")
    assert TrustStore.from_paths(directory) == store_of(igc)
    assert TrustStore.from_pem(igc.ca_bundle.read_bytes()) == store_of(igc)
    assert b"BEGIN CERTIFICATE" in store.pem()


def store_of(igc: IgcTestPki) -> TrustStore:
    return TrustStore((igc.root,), (igc.intermediate,))


def test_store_errors(igc: IgcTestPki, tmp_path: Path) -> None:
    with pytest.raises(ConfigError):
        TrustStore.from_paths(tmp_path / "absent.pem")
    with pytest.raises(ConfigError):  # an intermediate alone is not an anchor
        TrustStore.from_paths(igc.intermediate_cert)
    garbage = tmp_path / "garbage.pem"
    garbage.write_bytes(b"-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n")
    with pytest.raises(CertificateError) as info:
        TrustStore.from_paths(garbage)
    assert info.value.code == "trust_store"


def test_igc_sante_configuration(igc: IgcTestPki, store: TrustStore) -> None:
    assert store.missing_roots(IGC_SANTE_TEST) == ("TEST AC IGC-SANTE ELEMENTAIRE PERSONNES",)
    assert len(store.missing_roots(IGC_SANTE_PRODUCTION)) == 3
    assert IGC_SANTE_TEST.environment == "test"


def test_official_sample_names_its_crl_and_ocsp(ref_dir: Path) -> None:
    """The AUTH_CLI certificate of the official VIHF sample points to the CRL named in
    IGC_SANTE_TEST and to the ANS OCSP responder."""
    path = ref_file(ref_dir, f"{EXAMPLES}/VIHF_INDIRECTE_RENFORCEE_signe.xml")
    root = parse_xml(path.read_bytes())
    text = root.findtext(".//{http://www.w3.org/2000/09/xmldsig#}X509Certificate") or ""
    cert = x509.load_der_x509_certificate(base64.b64decode("".join(text.split())))
    organisations = IGC_SANTE_TEST.intermediates[0]
    assert cert.issuer.get_attributes_for_oid(x509.NameOID.COMMON_NAME)[0].value == (
        organisations.common_name
    )
    assert crl_urls(cert) == organisations.crl_urls  # the LDAP point is skipped
    assert ocsp_urls(cert) == ("http://ocsp.esante.gouv.fr",)
    check_role(cert, OrgRole.AUTH_CLI)
    with pytest.raises(CertificateExpiredError):  # expired in 2022
        TrustStore((cert,)).verify(cert)


def test_good_certificates_verify(igc: IgcTestPki, store: TrustStore) -> None:
    chain = store.verify(igc["org-auth-cli"].certificate, role=OrgRole.AUTH_CLI)
    assert chain == (igc["org-auth-cli"].certificate, igc.intermediate, igc.root)
    assert store.verify(igc["org-sign"].certificate, role=OrgRole.SIGN)[-1] == igc.root
    assert len(store.verify(igc["server"].certificate, server_name="127.0.0.1")) == 3
    assert len(store.verify(igc["server"].certificate, server_name="localhost")) == 3


def test_chain_given_by_the_peer(igc: IgcTestPki) -> None:
    """Only the root configured: the intermediate comes with the PKCS#12."""
    entry = igc["org-auth-cli"]
    assert entry.p12 is not None
    credential = load_pkcs12(entry.p12.read_bytes(), igc.p12_password)
    roots_only = TrustStore((igc.root,))
    with pytest.raises(CertificateTrustError):
        roots_only.verify(credential.certificate)
    chain = roots_only.verify(credential.certificate, intermediates=credential.chain)
    assert chain[1] == igc.intermediate


def test_expired(igc: IgcTestPki, store: TrustStore) -> None:
    cert = igc["org-auth-cli-expired"].certificate
    with pytest.raises(CertificateExpiredError) as info:
        store.verify(cert, role=OrgRole.AUTH_CLI)
    assert info.value.code == "certificate_expired"
    assert "expiré" in info.value.message
    with pytest.raises(CertificateExpiredError) as info:
        store.verify(igc["org-auth-cli"].certificate, now=dt.datetime(2001, 1, 1))
    assert info.value.code == "certificate_not_yet_valid"
    with pytest.raises(CertificateError):  # still a CertificateError for existing callers
        check_validity(cert)


def test_untrusted(other: IgcTestPki, store: TrustStore) -> None:
    for name in ("org-auth-cli", "server"):
        with pytest.raises(CertificateTrustError) as info:
            store.verify(other[name].certificate, intermediates=[other.intermediate])
        assert info.value.code == "untrusted"


def test_wrong_server_name(igc: IgcTestPki, store: TrustStore) -> None:
    with pytest.raises(CertificateTrustError):
        store.verify(igc["server"].certificate, server_name="dmp.example.org")
    with pytest.raises(CertificateUsageError):
        store.verify(igc["org-auth-cli"].certificate, server_name="127.0.0.1")


def test_wrong_usage(igc: IgcTestPki, store: TrustStore) -> None:
    with pytest.raises(CertificateUsageError) as info:
        store.verify(igc["org-sign"].certificate, role=OrgRole.AUTH_CLI)
    assert info.value.code == "certificate_role"
    with pytest.raises(CertificateUsageError):
        check_role(igc["org-auth-cli"].certificate, OrgRole.SIGN)
    with pytest.raises(CertificateUsageError):  # historical API, now the typed error
        OrgCertificate(igc["server"].certificate).require(OrgRole.AUTH_CLI)


def test_key_usage_without_digital_signature(igc: IgcTestPki) -> None:
    source = igc["org-auth-cli"].certificate
    usage = x509.KeyUsage(False, False, True, False, False, False, False, False, False)
    cert = (
        x509.CertificateBuilder()
        .subject_name(source.subject)
        .issuer_name(igc.intermediate.subject)
        .public_key(source.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(source.not_valid_before_utc)
        .not_valid_after(source.not_valid_after_utc)
        .add_extension(usage, critical=True)
        .add_extension(
            x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False
        )
        .sign(igc.intermediate_key, hashes.SHA256())
    )
    with pytest.raises(CertificateUsageError) as info:
        check_role(cert, OrgRole.AUTH_CLI)
    assert info.value.code == "key_usage"


def test_insi_cn_rule(igc: IgcTestPki, pki: TestPki) -> None:
    assert check_insi_cn(igc["insi-auto"].certificate) == "INSI-AUTO"
    with pytest.raises(CertificateUsageError) as info:
        check_insi_cn(igc["org-auth-cli"].certificate)
    assert info.value.code == "insi_cn" and "DESIR_560" in info.value.message
    with pytest.raises(CertificateUsageError) as info:
        check_insi_cn(igc["org-sign"].certificate)
    assert info.value.code == "certificate_role"
    # The sandbox INSi PKI (EC keys): INSI-MANU accepted, AUTRE refused.
    manu = x509.load_pem_x509_certificate(pki.clients["INSI-MANU"].cert.read_bytes())
    assert check_insi_cn(manu) == "INSI-MANU"
    autre = x509.load_pem_x509_certificate(pki.clients["AUTRE"].cert.read_bytes())
    with pytest.raises(CertificateUsageError):
        check_insi_cn(autre)


def test_valid_checks_never_render_the_subject(
    igc: IgcTestPki, store: TrustStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    """check_validity / check_role / CRL checks run on every VIHF verification: the subject
    string is only built for an error message."""
    from segur_ris.certificates import check_crl

    good = igc["org-sign"].credential.certificate
    issuer = store.issuer_of(good)
    assert issuer is not None

    def forbidden(self: x509.Name) -> str:
        raise AssertionError("rfc4514_string() called on the success path")

    monkeypatch.setattr(x509.Name, "rfc4514_string", forbidden)
    check_validity(good)
    check_role(good, OrgRole.SIGN)
    check_crl(igc.make_crl(), issuer)
    monkeypatch.undo()
    with pytest.raises(CertificateExpiredError, match="CN="):
        check_validity(good, dt.datetime(2000, 1, 1, tzinfo=dt.UTC))
