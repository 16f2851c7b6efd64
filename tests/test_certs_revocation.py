"""CRL (fetched from a local HTTP server, cached on disk) and OCSP (a tiny local responder)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.x509 import ocsp

from segur_ris.certificates import (
    CrlCache,
    IgcTestPki,
    RevocationChecker,
    TrustStore,
    build_ocsp_request,
    generate_igc_test_pki,
    parse_crl,
    parse_ocsp_response,
)
from segur_ris.errors import CertificateError, CertificateRevokedError, RevocationUnavailableError
from tests.e_fixtures import LocalHttp, OcspResponder, local_http

CRL_PATH = "/crl/intermediate.crl"
ROOT_CRL_PATH = "/crl/root.crl"


@pytest.fixture(scope="module")
def http() -> Iterator[LocalHttp]:
    with local_http() as server:
        yield server


@pytest.fixture(scope="module")
def igc(http: LocalHttp, tmp_path_factory: pytest.TempPathFactory) -> IgcTestPki:
    return generate_igc_test_pki(
        tmp_path_factory.mktemp("igc"),
        crl_url=http.url(CRL_PATH),
        root_crl_url=http.url(ROOT_CRL_PATH),
        ocsp_url=http.url("/ocsp"),
    )


@pytest.fixture()
def served(http: LocalHttp, igc: IgcTestPki) -> Iterator[LocalHttp]:
    """The CRLs served, no OCSP responder; restored after each test."""
    http.files.clear()
    http.files[CRL_PATH] = igc.crl.read_bytes()
    http.files[ROOT_CRL_PATH] = igc.make_crl(root=True).public_bytes(serialization.Encoding.DER)
    http.post = None
    http.hits.clear()
    yield http
    http.files.clear()
    http.post = None


def der(crl: object) -> bytes:
    from cryptography import x509

    assert isinstance(crl, x509.CertificateRevocationList)
    return crl.public_bytes(serialization.Encoding.DER)


def test_crl_good_and_revoked(served: LocalHttp, igc: IgcTestPki) -> None:
    checker = RevocationChecker(ocsp=False)
    status = checker.check(igc["org-auth-cli"].certificate, igc.intermediate)
    assert (status.source, status.url, status.cached) == ("crl", served.url(CRL_PATH), False)
    for name in ("org-auth-cli-revoked", "server-revoked"):
        with pytest.raises(CertificateRevokedError) as info:
            checker.check(igc[name].certificate, igc.intermediate)
        assert info.value.code == "key_compromise"
    assert served.hits.count(f"GET {CRL_PATH}") == 1  # cached in memory for max_age


def test_whole_chain(served: LocalHttp, igc: IgcTestPki) -> None:
    chain = TrustStore((igc.root,), (igc.intermediate,)).verify(igc["server"].certificate)
    statuses = RevocationChecker(ocsp=False).check_chain(chain)
    assert [s.url for s in statuses] == [served.url(CRL_PATH), served.url(ROOT_CRL_PATH)]


def test_cached_crl_used_when_the_server_is_down(
    served: LocalHttp, igc: IgcTestPki, tmp_path: Path
) -> None:
    cert = igc["org-auth-cli"].certificate
    cache = CrlCache(tmp_path / "crl", max_age=dt.timedelta(0))
    checker = RevocationChecker(cache, ocsp=False)
    assert checker.check(cert, igc.intermediate).cached is False
    assert len(list((tmp_path / "crl").glob("*.crl"))) == 1
    served.files.clear()  # distribution point now answers 404
    assert checker.check(cert, igc.intermediate).cached is True
    with pytest.raises(CertificateRevokedError):  # the kept CRL still revokes
        checker.check(igc["org-auth-cli-revoked"].certificate, igc.intermediate)
    # A new process: the CRL comes back from the directory.
    fresh = RevocationChecker(CrlCache(tmp_path / "crl", max_age=dt.timedelta(0)), ocsp=False)
    assert fresh.check(cert, igc.intermediate).cached is True
    # Past its nextUpdate the kept CRL is no longer usable.
    later = dt.datetime.now(dt.UTC) + dt.timedelta(days=8)
    with pytest.raises(RevocationUnavailableError) as info:
        fresh.check(cert, igc.intermediate, now=later)
    assert info.value.code == "revocation_unavailable"
    assert "crl_unavailable" in info.value.message


def test_nothing_cached_and_server_down(served: LocalHttp, igc: IgcTestPki) -> None:
    served.files.clear()
    with pytest.raises(RevocationUnavailableError):
        RevocationChecker(ocsp=False).check(igc["org-auth-cli"].certificate, igc.intermediate)


def test_stale_crl_refused(served: LocalHttp, igc: IgcTestPki) -> None:
    old = dt.datetime.now(dt.UTC) - dt.timedelta(days=10)
    served.files[CRL_PATH] = der(
        igc.make_crl(this_update=old, next_update=old + dt.timedelta(days=1))
    )
    cache = CrlCache()
    with pytest.raises(RevocationUnavailableError) as info:
        cache.get(served.url(CRL_PATH), igc.intermediate)
    assert info.value.code == "crl_stale"


def test_forged_crl_refused_and_good_one_kept(served: LocalHttp, igc: IgcTestPki) -> None:
    url = served.url(CRL_PATH)
    cache = CrlCache(max_age=dt.timedelta(0))
    good, _ = cache.get(url, igc.intermediate)
    forged = igc.make_crl(revoked=(), signer=igc.root_key)  # right name, wrong key
    served.files[CRL_PATH] = der(forged)
    kept, cached = cache.get(url, igc.intermediate)
    assert kept == good and cached is True
    with pytest.raises(RevocationUnavailableError) as info:
        CrlCache().get(url, igc.intermediate)
    assert info.value.code == "crl_signature"
    served.files[CRL_PATH] = der(igc.make_crl(root=True))  # issued by another CA
    with pytest.raises(RevocationUnavailableError) as info:
        CrlCache().get(url, igc.intermediate)
    assert info.value.code == "crl_issuer"


def test_older_crl_never_replaces_a_newer_one(served: LocalHttp, igc: IgcTestPki) -> None:
    url = served.url(CRL_PATH)
    cache = CrlCache(max_age=dt.timedelta(0))
    newer, _ = cache.get(url, igc.intermediate)
    old = dt.datetime.now(dt.UTC) - dt.timedelta(days=1)
    served.files[CRL_PATH] = der(
        igc.make_crl(revoked=(), this_update=old, next_update=old + dt.timedelta(days=7))
    )
    assert cache.get(url, igc.intermediate)[0] == newer


def test_swappable_fetcher_and_parse_errors(igc: IgcTestPki) -> None:
    calls: list[str] = []

    def fetch(url: str, timeout: float) -> bytes:
        calls.append(url)
        return igc.crl_pem.read_bytes()  # PEM accepted too

    checker = RevocationChecker(CrlCache(fetcher=fetch), ocsp=False)
    status = checker.check(
        igc["org-auth-cli"].certificate, igc.intermediate, crl_urls=["memory://crl"]
    )
    assert status.url == "memory://crl" and calls == ["memory://crl"]
    with pytest.raises(CertificateError) as info:
        parse_crl(b"not a crl")
    assert info.value.code == "crl_format"


def test_no_revocation_information(tmp_path: Path) -> None:
    bare = generate_igc_test_pki(tmp_path)
    with pytest.raises(RevocationUnavailableError) as info:
        RevocationChecker().check(bare["org-auth-cli"].certificate, bare.intermediate)
    assert "ni répondeur OCSP" in info.value.message


# --- OCSP -----------------------------------------------------------------------------------


def test_ocsp_good_delegated_responder(served: LocalHttp, igc: IgcTestPki) -> None:
    served.post = OcspResponder(igc)
    status = RevocationChecker().check(igc["org-auth-cli"].certificate, igc.intermediate)
    assert status.source == "ocsp" and status.url == served.url("/ocsp")
    assert f"GET {CRL_PATH}" not in served.hits


def test_ocsp_good_signed_by_the_issuer(served: LocalHttp, igc: IgcTestPki) -> None:
    served.post = OcspResponder(igc, delegated=False)
    assert RevocationChecker().check(igc["server"].certificate, igc.intermediate).source == "ocsp"


def test_ocsp_revoked(served: LocalHttp, igc: IgcTestPki) -> None:
    cert = igc["org-sign"].certificate
    served.files.clear()  # the OCSP answer alone is enough
    served.post = OcspResponder(igc, revoked={cert.serial_number})
    with pytest.raises(CertificateRevokedError) as info:
        RevocationChecker().check(cert, igc.intermediate)
    assert info.value.code == "key_compromise" and "OCSP" in info.value.message


def test_ocsp_unknown_falls_back_to_the_crl(served: LocalHttp, igc: IgcTestPki) -> None:
    cert = igc["org-auth-cli-revoked"].certificate
    served.post = OcspResponder(igc, unknown={cert.serial_number})
    with pytest.raises(CertificateRevokedError):
        RevocationChecker().check(cert, igc.intermediate)
    assert served.hits == ["POST /ocsp", f"GET {CRL_PATH}"]


def test_ocsp_forged_answer_ignored(served: LocalHttp, igc: IgcTestPki) -> None:
    cert = igc["org-auth-cli"].certificate
    served.post = OcspResponder(igc, forged=True)
    assert RevocationChecker().check(cert, igc.intermediate).source == "crl"
    served.files.clear()
    with pytest.raises(RevocationUnavailableError) as info:
        RevocationChecker().check(cert, igc.intermediate)
    assert "ocsp_signature" in info.value.message


def test_ocsp_unsuccessful_status(served: LocalHttp, igc: IgcTestPki) -> None:
    served.post = OcspResponder(igc, status=ocsp.OCSPResponseStatus.TRY_LATER)
    served.files.clear()
    with pytest.raises(RevocationUnavailableError) as info:
        RevocationChecker().check(igc["org-auth-cli"].certificate, igc.intermediate)
    assert "ocsp_try_later" in info.value.message


def test_ocsp_core_checks(igc: IgcTestPki) -> None:
    cert, other = igc["org-auth-cli"].certificate, igc["org-sign"].certificate
    answer = OcspResponder(igc)("/", build_ocsp_request(cert, igc.intermediate))
    assert parse_ocsp_response(answer, cert, igc.intermediate).status == "good"
    with pytest.raises(RevocationUnavailableError) as info:
        parse_ocsp_response(answer, other, igc.intermediate)
    assert info.value.code == "ocsp_mismatch"
    later = dt.datetime.now(dt.UTC) + dt.timedelta(hours=2)
    with pytest.raises(RevocationUnavailableError) as info:
        parse_ocsp_response(answer, cert, igc.intermediate, now=later)
    assert info.value.code == "ocsp_stale"
    with pytest.raises(RevocationUnavailableError) as info:
        parse_ocsp_response(b"garbage", cert, igc.intermediate)
    assert info.value.code == "ocsp_format"
    # A responder certificate issued by another CA does not count as delegated.
    forged = OcspResponder(igc, forged=True)("/", build_ocsp_request(cert, igc.intermediate))
    with pytest.raises(RevocationUnavailableError) as info:
        parse_ocsp_response(forged, cert, igc.intermediate)
    assert info.value.code == "ocsp_signature"


def test_replayed_older_crl_does_not_cause_a_download_on_every_check(igc: IgcTestPki) -> None:
    """An older CRL answered by the distribution point is ignored and the next download waits
    for ``max_age`` again (no download on every check)."""
    old = dt.datetime.now(dt.UTC) - dt.timedelta(days=1)
    answers = [
        der(igc.make_crl()),
        der(igc.make_crl(this_update=old, next_update=old + dt.timedelta(days=7))),
    ]
    calls: list[str] = []

    def fetch(url: str, timeout: float) -> bytes:
        calls.append(url)
        return answers[min(len(calls), 2) - 1]

    cache = CrlCache(fetcher=fetch, max_age=dt.timedelta(minutes=10))
    newer, _ = cache.get("memory://crl", igc.intermediate)
    later = dt.datetime.now(dt.UTC) + dt.timedelta(minutes=11)
    assert cache.get("memory://crl", igc.intermediate, now=later) == (newer, False)
    assert cache.get("memory://crl", igc.intermediate, now=later) == (newer, False)
    assert len(calls) == 2


def test_unwritable_cache_directory_keeps_the_crl_in_memory(
    igc: IgcTestPki, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A cache directory that cannot be written (disk full, read-only) is not an error: the
    downloaded CRL is still used."""
    cache = CrlCache(tmp_path / "crl", fetcher=lambda url, timeout: igc.crl.read_bytes())

    def refuse(self: Path, data: bytes) -> int:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(Path, "write_bytes", refuse)
    crl, cached = cache.get("memory://crl", igc.intermediate)
    monkeypatch.undo()
    assert cached is False and crl.issuer == igc.intermediate.subject
    assert list((tmp_path / "crl").iterdir()) == []
    checker = RevocationChecker(cache, ocsp=False)
    status = checker.check(
        igc["org-auth-cli"].certificate, igc.intermediate, crl_urls=["memory://crl"]
    )
    assert status.source == "crl"


def test_ocsp_signed_by_the_issuer_while_carrying_a_responder_certificate(
    igc: IgcTestPki,
) -> None:
    """An answer signed by the CA itself stays valid when it also carries the certificate of a
    delegated responder (some responders always attach it)."""
    cert = igc["org-auth-cli"].certificate
    now = dt.datetime.now(dt.UTC)
    answer = (
        ocsp.OCSPResponseBuilder()
        .add_response(
            cert=cert,
            issuer=igc.intermediate,
            algorithm=hashes.SHA1(),
            cert_status=ocsp.OCSPCertStatus.GOOD,
            this_update=now - dt.timedelta(minutes=1),
            next_update=now + dt.timedelta(hours=1),
            revocation_time=None,
            revocation_reason=None,
        )
        .responder_id(ocsp.OCSPResponderEncoding.HASH, igc.intermediate)
        .certificates([igc["ocsp-responder"].certificate])
        .sign(igc.intermediate_key, hashes.SHA256())
        .public_bytes(serialization.Encoding.DER)
    )
    assert parse_ocsp_response(answer, cert, igc.intermediate).status == "good"
