"""TLS contexts (segur_ris.tls) over real sockets on 127.0.0.1, and RequestsTransport."""

from __future__ import annotations

import functools
import os
import socket
import ssl
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography import x509

from segur_ris.certificates import (
    CrlCache,
    IgcTestPki,
    OrgRole,
    RevocationChecker,
    TrustStore,
    generate_igc_test_pki,
)
from segur_ris.errors import (
    CertificateError,
    CertificateRevokedError,
    CertificateUsageError,
    ConfigError,
    TransportError,
)
from segur_ris.sandbox import InsiSandbox, TestPki, sandbox_pki_from
from segur_ris.tls import ANS_TLS12_CIPHERS, client_context, server_context, verify_peer
from segur_ris.transport import RequestsTransport
from tests.e_fixtures import TlsServer, tls_exchange, tls_server

CRL_URL = "http://crl.invalid/intermediate.crl"  # served by an in-memory fetcher
ROOT_CRL_URL = "http://crl.invalid/root.crl"


@pytest.fixture(scope="module")
def igc(tmp_path_factory: pytest.TempPathFactory) -> IgcTestPki:
    return generate_igc_test_pki(
        tmp_path_factory.mktemp("igc"), crl_url=CRL_URL, root_crl_url=ROOT_CRL_URL
    )


@pytest.fixture(scope="module")
def other(tmp_path_factory: pytest.TempPathFactory) -> IgcTestPki:
    return generate_igc_test_pki(tmp_path_factory.mktemp("other"), key_set=1)


def serve(pki: IgcTestPki, name: str) -> ssl.SSLContext:
    entry = pki[name]
    return server_context(cert_file=entry.chain, key_file=entry.key, require_client_cert=False)


@pytest.fixture(scope="module")
def good_server(igc: IgcTestPki) -> Iterator[TlsServer]:
    with tls_server(serve(igc, "server")) as server:
        yield server


def test_context_settings(igc: IgcTestPki) -> None:
    context = client_context(trust=igc.ca_bundle)
    assert context.minimum_version == ssl.TLSVersion.TLSv1_2
    assert context.verify_mode == ssl.CERT_REQUIRED and context.check_hostname
    tls12 = {c["name"] for c in context.get_ciphers() if c["protocol"] == "TLSv1.2"}
    assert tls12 == set(ANS_TLS12_CIPHERS.split(":"))
    with_crl = client_context(trust=igc.ca_bundle, crls=[igc.crl])
    assert with_crl.verify_flags & ssl.VERIFY_CRL_CHECK_LEAF
    with pytest.raises(ConfigError):
        client_context(trust=igc.ca_bundle, crls=[igc.directory / "absent.crl"])


def test_accepts_the_good_server(igc: IgcTestPki, good_server: TlsServer) -> None:
    assert tls_exchange(client_context(trust=igc.ca_bundle), good_server.port) == b"ok"
    store = TrustStore.from_paths(igc.root_cert)  # root only: the server sends its chain
    context = client_context(trust=store, crls=[igc.crl_pem])
    assert tls_exchange(context, good_server.port, "localhost") == b"ok"


def test_refuses_an_untrusted_server(igc: IgcTestPki, other: IgcTestPki) -> None:
    with tls_server(serve(other, "server")) as server:
        with pytest.raises(ssl.SSLCertVerificationError) as info:
            tls_exchange(client_context(trust=igc.ca_bundle), server.port)
        assert "unable to get local issuer" in str(info.value) or "signature" in str(info.value)


def test_refuses_an_expired_server(igc: IgcTestPki) -> None:
    with tls_server(serve(igc, "server-expired")) as server:
        with pytest.raises(ssl.SSLCertVerificationError) as info:
            tls_exchange(client_context(trust=igc.ca_bundle), server.port)
        assert "expired" in str(info.value)


def test_refuses_a_revoked_server(igc: IgcTestPki) -> None:
    with tls_server(serve(igc, "server-revoked")) as server:
        # Without the CRL the handshake would succeed: the CRL is what refuses it.
        assert tls_exchange(client_context(trust=igc.ca_bundle), server.port) == b"ok"
        context = client_context(trust=igc.ca_bundle, crls=[igc.crl])
        with pytest.raises(ssl.SSLCertVerificationError) as info:
            tls_exchange(context, server.port)
        assert "revoked" in str(info.value)
        chain = client_context(
            trust=igc.ca_bundle, crls=[igc.crl, igc.root_crl_pem], crl_check="chain"
        )
        with pytest.raises(ssl.SSLCertVerificationError):
            tls_exchange(chain, server.port)


def test_crl_checking_fails_closed(igc: IgcTestPki, good_server: TlsServer) -> None:
    # Chain checking without the root's CRL: refused rather than silently unchecked.
    context = client_context(trust=igc.ca_bundle, crls=[igc.crl], crl_check="chain")
    with pytest.raises(ssl.SSLCertVerificationError) as info:
        tls_exchange(context, good_server.port)
    assert "CRL" in str(info.value)
    both = client_context(trust=igc.ca_bundle, crls=[igc.crl, igc.root_crl_pem], crl_check="chain")
    assert tls_exchange(both, good_server.port) == b"ok"


def test_wrong_host_name(igc: IgcTestPki, good_server: TlsServer) -> None:
    with pytest.raises(ssl.SSLCertVerificationError):
        tls_exchange(client_context(trust=igc.ca_bundle), good_server.port, "dmp.example.org")


def test_mutual_tls_with_org_auth_cli(igc: IgcTestPki) -> None:
    context = server_context(
        cert_file=igc["server"].chain,
        key_file=igc["server"].key,
        client_trust=TrustStore.from_paths(igc.ca_bundle),
        crls=[igc.crl],
    )
    crls = {CRL_URL: igc.crl.read_bytes(), ROOT_CRL_URL: igc.root_crl_pem.read_bytes()}
    checker = RevocationChecker(CrlCache(fetcher=lambda url, timeout: crls[url]), ocsp=False)
    store = TrustStore.from_paths(igc.ca_bundle)
    seen: list[object] = []

    def check(sock: ssl.SSLSocket) -> None:
        try:
            statuses = verify_peer(sock, store, role=OrgRole.AUTH_CLI, revocation=checker)
            seen.append(f"ok {len(statuses)}")
        except CertificateUsageError as exc:
            seen.append(exc)

    with tls_server(context) as server:
        server.on_connect = check
        client = client_context(trust=igc.ca_bundle, credential=igc["org-auth-cli"].credential)
        assert tls_exchange(client, server.port) == b"ok"
        peer = server.peers[-1]
        assert peer is not None
        assert x509.load_der_x509_certificate(peer) == igc["org-auth-cli"].certificate
        assert seen == ["ok 2"]  # leaf and intermediate checked against their CRLs
        # A revoked client certificate is refused by the server (CRL loaded).
        revoked = client_context(
            trust=igc.ca_bundle,
            cert_file=igc["org-auth-cli-revoked"].cert,
            key_file=igc["org-auth-cli-revoked"].key,
        )
        with pytest.raises((ssl.SSLError, ConnectionError)):
            tls_exchange(revoked, server.port)
        # No client certificate at all: refused.
        with pytest.raises((ssl.SSLError, ConnectionError)):
            tls_exchange(client_context(trust=igc.ca_bundle), server.port)
    # Revocation re-checked by the SDK on the client side.
    client = client_context(trust=igc.ca_bundle)
    with (
        tls_server(serve(igc, "server-revoked")) as server,
        socket.create_connection(("127.0.0.1", server.port), timeout=10) as raw,
        client.wrap_socket(raw, server_hostname="127.0.0.1") as tls,
    ):
        with pytest.raises(CertificateRevokedError):
            verify_peer(tls, store, server_name="127.0.0.1", revocation=checker)
        assert tls.recv(2) == b"ok"


def test_sign_certificate_refused_for_tls_client(igc: IgcTestPki) -> None:
    with pytest.raises(CertificateUsageError) as info:
        client_context(trust=igc.ca_bundle, credential=igc["org-sign"].credential)
    assert info.value.code == "certificate_role"
    with pytest.raises(CertificateUsageError):
        client_context(
            trust=igc.ca_bundle, cert_file=igc["org-sign"].cert, key_file=igc["org-sign"].key
        )


def test_encrypted_key_needs_its_password(igc: IgcTestPki, tmp_path: Path) -> None:
    """An encrypted PEM key never makes OpenSSL prompt on the terminal: without
    ``key_password`` it is a typed error, with the wrong one too, with the right one it loads."""
    from cryptography.hazmat.primitives import serialization

    entry = igc["org-auth-cli"]
    key = tmp_path / "encrypted-key.pem"
    key.write_bytes(
        entry.credential.private_key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.BestAvailableEncryption(b"motdepasse"),
        )
    )
    serve_only = functools.partial(server_context, require_client_cert=False)
    for make in (client_context, serve_only):
        with pytest.raises(CertificateError) as info:
            make(cert_file=entry.cert, key_file=key)
        assert info.value.code == "key_encrypted"
        with pytest.raises(CertificateError) as info:
            make(cert_file=entry.cert, key_file=key, key_password=b"faux")
        assert info.value.code == "key_mismatch"
        make(cert_file=entry.cert, key_file=key, key_password=b"motdepasse")


def test_requests_transport_uses_the_sdk_context(igc: IgcTestPki, other: IgcTestPki) -> None:
    context = server_context(
        cert_file=igc["server"].chain, key_file=igc["server"].key, client_trust=igc.ca_bundle
    )
    with tls_server(context, http=True) as server:
        url = f"https://127.0.0.1:{server.port}/lps"
        auth = igc["org-auth-cli"]
        transport = RequestsTransport(client_cert=(auth.cert, auth.key), ca_bundle=igc.ca_bundle)
        try:
            assert transport.ssl_context.minimum_version == ssl.TLSVersion.TLSv1_2
            response = transport.post(url, b"<x/>", {"Content-Type": "text/xml"}, 10)
            assert (response.status, response.body) == (200, b"ok")
        finally:
            transport.close()
        peer = server.peers[-1]
        assert peer is not None and x509.load_der_x509_certificate(peer) == auth.certificate
        untrusted = RequestsTransport(ssl_context=client_context(trust=other.ca_bundle))
        try:
            with pytest.raises(TransportError) as info:
                untrusted.post(url, b"<x/>", {}, 10)
            assert "TLS" in info.value.message
        finally:
            untrusted.close()
    with tls_server(serve(igc, "server-expired"), http=True) as server:
        expired = RequestsTransport(ca_bundle=igc.ca_bundle)
        try:
            with pytest.raises(TransportError):
                expired.post(f"https://127.0.0.1:{server.port}/", b"", {}, 10)
        finally:
            expired.close()
    with pytest.raises(ConfigError):
        RequestsTransport(ca_bundle=igc.ca_bundle, ssl_context=client_context())


def test_sandbox_insi_refused_when_its_certificate_is_not_trusted(
    insi_sandbox: InsiSandbox, pki: TestPki, igc: IgcTestPki
) -> None:
    """The sandbox INSi (its own test CA) is refused by a client trusting another PKI, and
    accepted by one trusting its CA."""
    auto = pki.clients["INSI-AUTO"]
    refused = RequestsTransport(client_cert=(auto.cert, auto.key), ca_bundle=igc.ca_bundle)
    accepted = RequestsTransport(client_cert=(auto.cert, auto.key), ca_bundle=pki.ca_cert)
    try:
        with pytest.raises(TransportError) as info:
            refused.post(insi_sandbox.url, b"<x/>", {"Content-Type": "application/soap+xml"}, 10)
        assert "TLS" in info.value.message
        answer = accepted.post(insi_sandbox.url, b"<x/>", {"Content-Type": "text/plain"}, 10)
        assert answer.status in {400, 415, 500}  # reached the service, which refuses the body
    finally:
        refused.close()
        accepted.close()


def test_requests_never_widens_the_trust(
    igc: IgcTestPki, other: IgcTestPki, monkeypatch: pytest.MonkeyPatch
) -> None:
    """requests' own CA bundle (certifi, REQUESTS_CA_BUNDLE) never reaches the SDK context."""
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(igc.ca_bundle))
    with tls_server(serve(igc, "server"), http=True) as server:
        url = f"https://127.0.0.1:{server.port}/"
        strict = RequestsTransport(ca_bundle=other.ca_bundle)
        trusting = RequestsTransport(ca_bundle=igc.ca_bundle)
        try:
            with pytest.raises(TransportError):
                strict.post(url, b"", {}, 10)
            assert trusting.post(url, b"", {}, 10).status == 200
            for transport in (strict, trusting):
                assert transport.ssl_context.cert_store_stats()["x509_ca"] == 2
        finally:
            strict.close()
            trusting.close()


@pytest.mark.parametrize("server", ["server", "server-expired", "server-revoked", "untrusted"])
def test_sandbox_insi_server_certificates(igc: IgcTestPki, other: IgcTestPki, server: str) -> None:
    """The sandbox INSi on the IGC Santé-like PKI: a client with the CA and CRL accepts the good
    server certificate and refuses an expired, a revoked or an untrusted one."""
    source = other if server == "untrusted" else igc
    sandbox_pki = sandbox_pki_from(source, server="server" if server == "untrusted" else server)
    auto = igc["insi-auto"]
    context = client_context(
        trust=igc.ca_bundle, crls=[igc.crl], cert_file=auto.cert, key_file=auto.key
    )
    transport = RequestsTransport(ssl_context=context)
    try:
        with InsiSandbox(sandbox_pki) as sandbox:
            if server == "server":
                answer = transport.post(sandbox.url, b"<x/>", {"Content-Type": "text/plain"}, 10)
                assert answer.status in {400, 415, 500}  # reached the service
            else:
                with pytest.raises(TransportError) as info:
                    transport.post(sandbox.url, b"<x/>", {}, 10)
                assert "TLS" in info.value.message
    finally:
        transport.close()


_SERVICES = ("psc", "dmp", "mssante-smtp", "mssante-imap")


def _reach_sandbox(service: str, sandbox_pki: TestPki, context: ssl.SSLContext) -> None:
    """Start the sandbox ``service`` on ``sandbox_pki`` and talk to it through the SDK client
    with ``context``; TLS failures surface as the client's typed errors."""
    if service in ("psc", "dmp"):
        from segur_ris.sandbox import DmpSandbox, PscSandbox

        transport = RequestsTransport(ssl_context=context)
        try:
            if service == "psc":
                with PscSandbox(sandbox_pki) as psc:
                    answer = transport.post(
                        psc.issuer + "/protocol/openid-connect/token", b"", {}, 10
                    )
                    assert answer.status in {400, 401}  # reached the provider
            else:
                ca = sandbox_pki.ca_cert.read_bytes()
                with DmpSandbox(sandbox_pki, ca) as dmp:
                    answer = transport.post(dmp.url + "/registry", b"<x/>", {}, 10)
                    assert answer.status in {400, 415, 500}  # reached the service
        finally:
            transport.close()
        return
    from segur_ris.mssante import ImapClient, SmtpTransport, XOAuth2
    from segur_ris.sandbox import MssanteSandbox

    address = "radiologie@imagerie.mssante.fr"
    auth = XOAuth2(address, "jeton-du-bac-a-sable")
    with MssanteSandbox(sandbox_pki, tokens={address: "jeton-du-bac-a-sable"}) as mss:
        if service == "mssante-smtp":
            with SmtpTransport("127.0.0.1", mss.smtp_port, auth=auth, context=context) as smtp:
                smtp.connect()
        else:
            imap = ImapClient("127.0.0.1", mss.imap_port, auth=auth, context=context)
            try:
                imap.connect()
            finally:
                imap.close()


@pytest.mark.parametrize("server", ["server", "server-expired", "server-revoked", "untrusted"])
@pytest.mark.parametrize("service", _SERVICES)
def test_every_sandbox_service_checks_its_server_certificate(
    igc: IgcTestPki, other: IgcTestPki, service: str, server: str
) -> None:
    """PSC, DMP and MSSanté (SMTP, IMAP) sandboxes on the IGC Santé-like PKI: the SDK clients
    with the CA and CRL reach them with the good server certificate and refuse an expired, a
    revoked or an untrusted one during the handshake."""
    from segur_ris.errors import MssanteTransportError

    source = other if server == "untrusted" else igc
    sandbox_pki = sandbox_pki_from(source, server="server" if server == "untrusted" else server)
    auto = igc["org-auth-cli"]
    context = client_context(
        trust=igc.ca_bundle, crls=[igc.crl], cert_file=auto.cert, key_file=auto.key
    )
    if server == "server":
        _reach_sandbox(service, sandbox_pki, context)
        return
    if service.startswith("mssante"):
        with pytest.raises(MssanteTransportError) as refused:
            _reach_sandbox(service, sandbox_pki, context)
        assert refused.value.code == "tls_certificate"
    else:
        with pytest.raises(TransportError) as info:
            _reach_sandbox(service, sandbox_pki, context)
        assert "TLS" in info.value.message


def test_credential_key_never_written_in_clear(
    igc: IgcTestPki, monkeypatch: pytest.MonkeyPatch
) -> None:
    """ssl loads keys from files only: a Credential's key goes to disk encrypted with a
    one-time password, never in clear."""
    import segur_ris.tls as tls

    written: list[bytes] = []
    original = tls.write_private

    def spy(path: str | os.PathLike[str], data: bytes) -> None:
        written.append(data)
        original(path, data)

    monkeypatch.setattr(tls, "write_private", spy)
    client_context(trust=igc.ca_bundle, credential=igc["org-auth-cli"].credential)
    assert len(written) == 1
    assert b"-----BEGIN ENCRYPTED PRIVATE KEY-----" in written[0]


def test_crl_and_ocsp_downloads_over_https_use_the_sdk_context(
    igc: IgcTestPki, monkeypatch: pytest.MonkeyPatch
) -> None:
    """CRL/OCSP downloads over HTTPS go through segur_ris.tls (TLS >= 1.2, ANS suites, the
    context's trust only): a server outside the trust store is refused, whatever requests'
    own CA bundle says."""
    from segur_ris.certificates import _revocation

    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(igc.ca_bundle))  # never consulted
    context = _revocation._https_context()
    assert context.minimum_version is ssl.TLSVersion.TLSv1_2
    with tls_server(serve(igc, "server"), http=True) as server:
        url = f"https://127.0.0.1:{server.port}/crl"
        with pytest.raises(TransportError):  # the system store does not know the test PKI
            _revocation.requests_fetch(url, 10)
        with pytest.raises(TransportError):
            _revocation.requests_post_ocsp(url, b"\x30\x00", 10)
        trusting = client_context(trust=igc.ca_bundle)
        monkeypatch.setattr(_revocation, "_https_context", lambda: trusting)
        assert _revocation.requests_fetch(url, 10) == b"ok"
        assert _revocation.requests_post_ocsp(url, b"\x30\x00", 10) == b"ok"


def test_https_transport_checks_revocation_online_before_sending(igc: IgcTestPki) -> None:
    """HttpsTransport with peer_checker: the server's chain and its CRLs checked by the SDK on
    each new connection (OpenSSL has no CRL here); a revoked server gets no request."""
    from segur_ris.sandbox._server import HttpRequest, SandboxHttpsServer
    from segur_ris.sandbox._server import HttpResponse as ServerResponse
    from segur_ris.tls import peer_checker
    from segur_ris.transport import HttpsTransport

    crls = {CRL_URL: igc.crl.read_bytes(), ROOT_CRL_URL: igc.root_crl_pem.read_bytes()}
    fetched: list[str] = []

    def fetch(url: str, timeout: float) -> bytes:
        fetched.append(url)
        return crls[url]

    checker = RevocationChecker(CrlCache(fetcher=fetch), ocsp=False)
    store = TrustStore.from_paths(igc.ca_bundle)
    calls: list[str] = []
    check = peer_checker(store, revocation=checker)

    def counted(sock: ssl.SSLSocket, host: str) -> object:
        calls.append(host)
        return check(sock, host)

    def answer(request: HttpRequest) -> ServerResponse:
        return ServerResponse(200, "text/plain", b"ok " + request.body)

    for name, expected in (("server", None), ("server-revoked", CertificateRevokedError)):
        calls.clear()
        with (
            SandboxHttpsServer(answer, serve(igc, name), name=name) as server,
            HttpsTransport(
                ssl_context=client_context(trust=igc.ca_bundle), peer_check=counted
            ) as transport,
        ):
            url = f"{server.base_url}/x"
            if expected is None:
                for n in range(3):
                    assert transport.post(url, str(n).encode(), {}, 10).body == f"ok {n}".encode()
                assert calls == ["127.0.0.1"]  # once per connection (keep-alive)
                assert CRL_URL in fetched and ROOT_CRL_URL in fetched
            else:
                with pytest.raises(expected):
                    transport.post(url, b"secret", {}, 10)
                assert server.requests == []  # nothing was sent to a revoked server
