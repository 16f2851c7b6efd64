"""Pro Santé Connect client (segur_ris.psc) against the sandbox provider over real TLS."""

from __future__ import annotations

import base64
import dataclasses
import json
import logging
import pickle
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
from joserfc import jwt
from joserfc.jwk import KeySet, OctKey, RSAKey

from segur_ris.errors import (
    ConfigError,
    PscAuthorizationError,
    PscDiscoveryError,
    PscError,
    PscTokenError,
    PscTransportError,
)
from segur_ris.psc import (
    PSC_PRODUCTION,
    PSC_TEST,
    PscClient,
    PscConfig,
    PscTokens,
    load_jwks,
    parse_user,
    verify_jwt,
)
from segur_ris.sandbox import TestPki, generate_test_pki
from segur_ris.sandbox._psc import (
    SANDBOX_PROFESSIONALS,
    PscSandbox,
    PscSandboxClient,
)
from tests.psc_fixtures import rewriting_adapter, sandbox_client, sandbox_config


@pytest.fixture(scope="module")
def sandbox(pki: TestPki) -> Iterator[PscSandbox]:
    with PscSandbox(
        pki,
        clients=[
            PscSandboxClient("segur-ris-sandbox", "segur-ris-sandbox-secret"),
            PscSandboxClient("ris-post", "post-secret", auth_method="client_secret_post"),
            PscSandboxClient("ris-mtls", auth_method="tls_client_auth", tls_cn="INSI-AUTO"),
        ],
    ) as running:
        yield running


@pytest.fixture()
def psc(sandbox: PscSandbox, pki: TestPki) -> Iterator[PscClient]:
    sandbox.core.id_token_claims.clear()
    sandbox.core.userinfo_claims.clear()
    with sandbox_client(sandbox, pki) as client:
        yield client
    sandbox.core.id_token_claims.clear()
    sandbox.core.userinfo_claims.clear()


def _login(psc: PscClient, sandbox: PscSandbox, hint: str | None = None) -> PscTokens:
    request = psc.authorization_url(login_hint=hint)
    return psc.exchange_code(request, sandbox.sign_in(request.url))


def test_environments_are_data() -> None:
    assert PSC_TEST.discovery_url == (
        "https://auth.bas.psc.esante.gouv.fr/auth/realms/esante-wallet"
        "/.well-known/wallet-openid-configuration"
    )
    assert PSC_PRODUCTION.issuer.startswith("https://auth.esw.esante.gouv.fr/")
    config = PscConfig.for_environment(
        "test",
        client_id="ris",
        client_secret="tres-secret-42",
        redirect_uri="https://ris.example/cb",
    )
    assert config.issuer == PSC_TEST.issuer
    assert config.discovery_url == PSC_TEST.discovery_url
    assert "tres-secret-42" not in repr(config)


def test_config_from_settings() -> None:
    from segur_ris.config import load_settings

    demo = load_settings(env="demo")
    settings = dataclasses.replace(
        demo, environment=dataclasses.replace(demo.environment, name="test")
    )
    config = PscConfig.from_settings(
        settings, client_id="ris", client_secret="x", redirect_uri="https://ris.example/cb"
    )
    assert config.issuer == PSC_TEST.issuer
    with pytest.raises(ConfigError):
        PscConfig.from_settings(demo, client_id="ris", redirect_uri="https://ris.example/cb")
    local = demo.with_endpoints(psc="https://127.0.0.1:8443/auth/realms/esante-wallet")
    config = PscConfig.from_settings(
        local, client_id="ris", client_secret="x", redirect_uri="https://ris.example/cb"
    )
    assert config.discovery_url.endswith("/esante-wallet/.well-known/wallet-openid-configuration")


@pytest.mark.parametrize(
    ("options", "what"),
    [
        ({"issuer": "http://auth.example/realm"}, "issuer"),
        ({"client_secret": None}, "client_secret"),
        ({"scopes": ("scope_all",)}, "openid"),
        ({"auth_method": "private_key_jwt"}, "méthode"),
        ({"redirect_uri": "ftp://x/cb"}, "redirect_uri"),
    ],
)
def test_config_refuses_bad_values(options: dict[str, object], what: str) -> None:
    values: dict[str, object] = {
        "issuer": "https://auth.example/realm",
        "client_id": "ris",
        "client_secret": "s",
        "redirect_uri": "https://ris.example/cb",
    }
    values.update(options)
    with pytest.raises(ConfigError, match=what):
        PscConfig(**values)  # type: ignore[arg-type]
    with pytest.raises(ConfigError):
        PscConfig.for_environment("nulle-part", client_id="c", redirect_uri="https://x/cb")


def test_full_code_flow(psc: PscClient, sandbox: PscSandbox) -> None:
    request = psc.authorization_url(login_hint="radiologue")
    query = parse_qs(urlsplit(request.url).query)
    assert query["scope"] == ["openid scope_all"]
    assert query["acr_values"] == ["eidas1"]
    assert query["code_challenge_method"] == ["S256"]
    assert query["response_type"] == ["code"]
    assert query["state"] == [request.state] and query["nonce"] == [request.nonce]
    assert "code_verifier" not in query and request.code_verifier not in request.url
    assert request.code_verifier not in repr(request)

    callback = sandbox.sign_in(request.url)
    tokens = psc.exchange_code(request, callback)
    assert tokens.id_claims["nonce"] == request.nonce
    assert tokens.id_claims["acr"] == "eidas1"
    assert not tokens.expired()
    assert tokens.scope == ("openid", "scope_all")
    assert sandbox.validate_access_token(tokens.access_token) is not None

    user = psc.userinfo(tokens)  # signed JWT, verified against the JWKS
    assert user.national_id == "899900018476"
    assert user.rpps == "99900018476" and user.adeli is None
    assert user.professions == ("10",)
    assert user.savoir_faire == ("SM44",)
    assert user.structure_ids == ("R10000000001",)
    assert user.activities[0].mode_exercice == "L"
    assert user.display_name == "Marie RADIOLOGUE-SANDBOX"
    assert user.sub == tokens.subject

    as_json = psc.userinfo(tokens, signed=False)
    assert as_json == user
    assert "iss" not in as_json.claims and "iss" in user.claims


def test_login_hint_picks_the_professional(psc: PscClient, sandbox: PscSandbox) -> None:
    tokens = _login(psc, sandbox, "manipulateur")
    user = psc.userinfo(tokens)
    assert user.professions == ("98",)
    assert user.national_id == SANDBOX_PROFESSIONALS["manipulateur"].national_id
    by_rpps = _login(psc, sandbox, SANDBOX_PROFESSIONALS["medecin"].national_id)
    assert psc.userinfo(by_rpps).family_name == "GENERALISTE-SANDBOX"


def test_refresh_rotates_tokens(psc: PscClient, sandbox: PscSandbox) -> None:
    tokens = _login(psc, sandbox)
    renewed = psc.refresh(tokens)
    assert renewed.access_token != tokens.access_token
    assert renewed.refresh_token and renewed.refresh_token != tokens.refresh_token
    assert renewed.subject == tokens.subject
    assert psc.userinfo(renewed).national_id == "899900018476"
    with pytest.raises(PscTokenError) as caught:  # a refresh token serves once
        psc.refresh(tokens)
    assert caught.value.code == "invalid_grant"
    with pytest.raises(PscTokenError, match="refresh"):
        psc.refresh(dataclasses.replace(renewed, refresh_token=None))


def test_wrong_pkce_verifier_is_refused(psc: PscClient, sandbox: PscSandbox) -> None:
    request = psc.authorization_url()
    callback = sandbox.sign_in(request.url)
    forged = dataclasses.replace(request, code_verifier="x" * 64)
    with pytest.raises(PscAuthorizationError) as caught:
        psc.exchange_code(forged, callback)
    assert caught.value.code == "invalid_grant"
    assert "PKCE" in str(caught.value)
    with pytest.raises(PscAuthorizationError) as again:  # the code was burnt by the attempt
        psc.exchange_code(request, callback)
    assert again.value.code == "invalid_grant"


def test_callback_checks(psc: PscClient, sandbox: PscSandbox) -> None:
    request = psc.authorization_url()
    callback = sandbox.sign_in(request.url)
    other = psc.authorization_url()
    with pytest.raises(PscAuthorizationError) as caught:
        psc.exchange_code(other, callback)  # state of another request
    assert caught.value.code == "state"
    forged_iss = callback.replace("iss=", "iss=https%3A%2F%2Fevil.example&x=")
    with pytest.raises(PscAuthorizationError) as caught:
        psc.exchange_code(request, forged_iss)
    assert caught.value.code == "iss"
    refused = psc.authorization_url(login_hint="inconnu")
    with pytest.raises(PscAuthorizationError) as caught:
        psc.exchange_code(refused, sandbox.sign_in(refused.url))
    assert caught.value.code == "access_denied"
    no_code = f"http://127.0.0.1/callback?state={request.state}"
    with pytest.raises(PscAuthorizationError) as caught:
        psc.exchange_code(request, no_code)
    assert caught.value.code == "code"


@pytest.mark.parametrize(
    ("override", "code"),
    [
        ({"aud": "un-autre-client"}, "aud"),
        ({"iss": "https://faux.example/realms/x"}, "iss"),
        ({"nonce": "rejoue"}, "nonce"),
        ({"exp": 1_000_000_000}, "expired"),
        ({"acr": "eidas2"}, "acr"),
        ({"aud": ["segur-ris-sandbox", "autre"], "azp": "autre"}, "azp"),
        ({"iat": 4_000_000_000}, "iat"),
    ],
)
def test_invalid_id_tokens_are_refused(
    psc: PscClient, sandbox: PscSandbox, override: dict[str, object], code: str
) -> None:
    sandbox.core.id_token_claims.update(override)
    with pytest.raises(PscTokenError) as caught:
        _login(psc, sandbox)
    assert caught.value.code == code


def test_wrong_issuer_in_discovery(sandbox: PscSandbox, pki: TestPki) -> None:
    config = sandbox_config(sandbox, issuer=sandbox.issuer + "-autre")
    with PscClient(config, trust=pki.ca_cert) as client, pytest.raises(PscError):
        client.discover()
    # the discovery document is served at the standard path too, with the same issuer
    config = sandbox_config(sandbox, discovery_path="/.well-known/openid-configuration")
    with PscClient(config, trust=pki.ca_cert) as client:
        assert client.discover().issuer == sandbox.issuer


def test_discovery_document_checks() -> None:
    from segur_ris.psc import ProviderMetadata

    good = {
        "issuer": "https://idp.example/r",
        "authorization_endpoint": "https://idp.example/r/auth",
        "token_endpoint": "https://idp.example/r/token",
        "jwks_uri": "https://idp.example/r/certs",
    }
    assert (
        ProviderMetadata.from_json(good, expected_issuer="https://idp.example/r").userinfo_endpoint
        is None
    )
    with pytest.raises(PscDiscoveryError) as caught:
        ProviderMetadata.from_json(
            {**good, "token_endpoint": "http://idp.example/r/token"},
            expected_issuer="https://idp.example/r",
        )
    assert caught.value.code == "token_endpoint"
    with pytest.raises(PscDiscoveryError):
        ProviderMetadata.from_json([good], expected_issuer="https://idp.example/r")
    with pytest.raises(PscDiscoveryError):
        load_jwks({"keys": "non"})


def _payload(token: str) -> dict[str, object]:
    part = token.split(".")[1]
    return dict(json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))))


def _b64(data: dict[str, object]) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


def test_tampered_userinfo_jwt_is_refused(sandbox: PscSandbox, pki: TestPki) -> None:
    def tamper(url: str, body: bytes) -> bytes:
        if not url.endswith("/userinfo") or body.count(b".") != 2:
            return body
        header, _, signature = body.decode().split(".")
        claims = _payload(body.decode())
        claims["SubjectNameID"] = "899999999999"  # another professional, same signature
        return f"{header}.{_b64(claims)}.{signature}".encode()

    config = sandbox_config(sandbox)
    with PscClient(config, adapter=rewriting_adapter(pki, tamper)) as client:
        tokens = _login(client, sandbox)
        with pytest.raises(PscTokenError) as caught:
            client.userinfo(tokens)
        assert caught.value.code == "signature"
        assert client.userinfo(tokens, signed=False).national_id == "899900018476"


def test_userinfo_signed_by_another_key_is_refused(sandbox: PscSandbox, pki: TestPki) -> None:
    rogue = RSAKey.generate_key(2048, parameters={"kid": sandbox.core.key.kid})
    unknown = RSAKey.generate_key(2048, parameters={"kid": "inconnue"})

    def resign(key: RSAKey) -> object:
        def rewrite(url: str, body: bytes) -> bytes:
            if not url.endswith("/userinfo") or body.count(b".") != 2:
                return body
            header = {"alg": "RS256", "kid": key.kid}
            return jwt.encode(header, _payload(body.decode()), key).encode()

        return rewrite

    for key, code in ((rogue, "signature"), (unknown, "key")):
        adapter = rewriting_adapter(pki, resign(key))  # type: ignore[arg-type]
        with PscClient(sandbox_config(sandbox), adapter=adapter) as client:
            tokens = _login(client, sandbox)
            with pytest.raises(PscTokenError) as caught:
                client.userinfo(tokens)
            assert caught.value.code == code


def test_userinfo_claims_checked(psc: PscClient, sandbox: PscSandbox) -> None:
    tokens = _login(psc, sandbox)
    for override, code in (({"aud": "autre"}, "aud"), ({"iss": "https://x.example"}, "iss")):
        sandbox.core.userinfo_claims.clear()
        sandbox.core.userinfo_claims.update(override)
        with pytest.raises(PscTokenError) as caught:
            psc.userinfo(tokens)
        assert caught.value.code == code
    sandbox.core.userinfo_claims.clear()
    sandbox.core.userinfo_claims.update({"exp": int(time.time()) - 3600})
    with pytest.raises(PscTokenError) as caught:
        psc.userinfo(tokens)
    assert caught.value.code == "expired"
    sandbox.core.userinfo_claims.clear()
    sandbox.core.userinfo_claims.update({"sub": "quelqu-un-d-autre"})
    with pytest.raises(PscTokenError) as caught:
        psc.userinfo(tokens)
    assert caught.value.code == "sub"


def test_expired_access_token_is_refused(psc: PscClient, sandbox: PscSandbox) -> None:
    tokens = _login(psc, sandbox)
    sandbox.core.expire_access_tokens()
    with pytest.raises(PscTokenError) as caught:
        psc.userinfo(tokens)
    assert caught.value.code == "invalid_token"
    assert sandbox.validate_access_token(tokens.access_token) is None
    renewed = psc.refresh(tokens)  # the refresh token is still valid
    assert psc.userinfo(renewed).rpps == "99900018476"


def test_end_session(psc: PscClient, sandbox: PscSandbox) -> None:
    tokens = _login(psc, sandbox)
    url = psc.logout_url(tokens, post_logout_redirect_uri="http://127.0.0.1/callback", state="s1")
    query = parse_qs(urlsplit(url).query)
    assert query["id_token_hint"] == [tokens.id_token]
    assert sandbox.sign_in(url) == "http://127.0.0.1/callback?state=s1"  # the browser logs out
    assert sandbox.validate_access_token(tokens.access_token) is None
    with pytest.raises(PscTokenError):
        psc.refresh(tokens)
    second = _login(psc, sandbox)
    psc.end_session(second)  # back-channel logout with the refresh token
    with pytest.raises(PscTokenError) as caught:
        psc.userinfo(second)
    assert caught.value.code == "invalid_token"


def test_client_secret_post_and_tls_client_auth(sandbox: PscSandbox, pki: TestPki) -> None:
    config = sandbox_config(
        sandbox, client_id="ris-post", client_secret="post-secret", auth_method="client_secret_post"
    )
    with PscClient(config, trust=pki.ca_cert) as client:
        assert client.userinfo(_login(client, sandbox)).rpps == "99900018476"
    bad = dataclasses.replace(config, client_secret="mauvais")
    with (
        PscClient(bad, trust=pki.ca_cert) as client,
        pytest.raises(PscAuthorizationError) as caught,
    ):
        _login(client, sandbox)
    assert caught.value.code == "invalid_client"
    assert "mauvais" not in str(caught.value)

    mtls = sandbox_config(
        sandbox, client_id="ris-mtls", client_secret=None, auth_method="tls_client_auth"
    )
    with pytest.raises(ConfigError):
        PscClient(mtls, trust=pki.ca_cert)
    auto, autre = pki.clients["INSI-AUTO"], pki.clients["AUTRE"]
    with PscClient(mtls, trust=pki.ca_cert, client_cert=(auto.cert, auto.key)) as client:
        assert client.userinfo(_login(client, sandbox)).rpps == "99900018476"
    with (
        PscClient(mtls, trust=pki.ca_cert, client_cert=(autre.cert, autre.key)) as client,
        pytest.raises(PscAuthorizationError) as caught,
    ):
        _login(client, sandbox)
    assert caught.value.code == "invalid_client"


def test_transport_errors(sandbox: PscSandbox, pki: TestPki, tmp_path: Path) -> None:
    other = generate_test_pki(tmp_path / "other")
    with (
        PscClient(sandbox_config(sandbox), trust=other.ca_cert) as client,
        pytest.raises(PscTransportError),  # server certificate from an untrusted CA
    ):
        client.discover()
    with PscSandbox(pki) as stopped:
        config = sandbox_config(stopped)
    with PscClient(config, trust=pki.ca_cert) as client, pytest.raises(PscTransportError):
        client.discover()  # nobody listens any more


def test_tokens_never_logged_nor_shown(
    psc: PscClient, sandbox: PscSandbox, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.DEBUG):
        tokens = _login(psc, sandbox)
        renewed = psc.refresh(tokens)
        psc.userinfo(renewed)
        sandbox.core.expire_access_tokens()
        with pytest.raises(PscTokenError) as caught:
            psc.userinfo(renewed)
        psc.end_session(psc.refresh(renewed))
    secrets_seen = [
        t for t in (tokens, renewed) for t in (t.access_token, t.refresh_token, t.id_token) if t
    ]
    assert len(secrets_seen) == 6
    text = caplog.text + repr(tokens) + str(tokens) + repr(renewed) + str(caught.value)
    assert caplog.records  # something was logged: the check below is meaningful
    for secret in secrets_seen:
        assert secret not in text
    assert "segur-ris-sandbox-secret" not in text
    with pytest.raises(PscTokenError):
        pickle.dumps(tokens)


def test_xoauth2_and_bearer() -> None:
    import datetime as dt

    tokens = PscTokens(access_token="AT-123", expires_at=dt.datetime.now(dt.UTC))
    assert tokens.xoauth2("dr.marie@medecin.mssante.fr") == (
        "user=dr.marie@medecin.mssante.fr\x01auth=Bearer AT-123\x01\x01"
    )
    assert tokens.authorization_header() == {"Authorization": "Bearer AT-123"}
    assert tokens.expired()
    with pytest.raises(PscTokenError):
        tokens.xoauth2("a\x01b")


def test_verify_jwt_refuses_unsafe_tokens() -> None:
    key = RSAKey.generate_key(2048, parameters={"kid": "k1"})
    keys = load_jwks(KeySet([key]).as_dict(private=False))
    now = int(time.time())
    claims = {"iss": "https://i.example", "aud": "c", "sub": "s", "exp": now + 60, "iat": now}
    good = jwt.encode({"alg": "RS256", "kid": "k1"}, claims, key)
    assert verify_jwt(good, keys, issuer="https://i.example", audience="c")["sub"] == "s"
    hmac = jwt.encode({"alg": "HS256"}, claims, OctKey.import_key(b"k" * 32))
    unsigned = f"{_b64({'alg': 'none'})}.{_b64(claims)}."
    for token, code in (
        (hmac, "format"),
        (unsigned, "format"),
        ("a.b.c.d.e", "jwe"),
        ("pas-un-jwt", "format"),
        ("", "format"),
    ):
        with pytest.raises(PscTokenError) as caught:
            verify_jwt(token, keys, issuer="https://i.example", audience="c")
        assert caught.value.code == code, token
    no_exp = jwt.encode({"alg": "RS256", "kid": "k1"}, {**claims, "exp": None}, key)
    with pytest.raises(PscTokenError):
        verify_jwt(no_exp, keys, issuer="https://i.example", audience="c")
    # without sub, the userinfo could not be tied to the ID token's user
    no_sub = {k: v for k, v in claims.items() if k != "sub"}
    for signed in (
        jwt.encode({"alg": "RS256", "kid": "k1"}, no_sub, key),
        jwt.encode({"alg": "RS256", "kid": "k1"}, {**claims, "sub": ""}, key),
    ):
        with pytest.raises(PscTokenError) as caught:
            verify_jwt(signed, keys, issuer="https://i.example", audience="c", require_exp=False)
        assert caught.value.code == "sub"


def test_parse_user_adeli_and_malformed() -> None:
    user = parse_user(
        {
            "sub": "s",
            "SubjectNameID": "0691234567",
            "SubjectRefPro": {
                "codeCivilite": "M",
                "exercices": [
                    {"codeProfession": "98", "nomDexercice": "DUPONT", "prenomDexercice": "Luc"}
                ],
            },
        }
    )
    assert user.adeli == "691234567" and user.rpps is None
    assert (user.given_name, user.family_name) == ("Luc", "DUPONT")
    assert user.activities == ()
    for bad in (
        {"sub": "s"},
        {"sub": "s", "SubjectNameID": "8", "SubjectRefPro": []},
        {"sub": "s", "SubjectNameID": "8", "SubjectRefPro": {"exercices": {"a": 1}}},
        {"sub": "s", "SubjectNameID": "8", "given_name": ["x"]},
    ):
        with pytest.raises(PscTokenError) as caught:
            parse_user(bad)
        assert caught.value.code == "claims"


def test_xoauth2_on_the_mssante_sandbox(psc: PscClient, sandbox: PscSandbox, pki: TestPki) -> None:
    """The PSC access token opens an MSSanté SMTP session (SASL XOAUTH2, real aiosmtpd peer);
    the MSSanté sandbox asks the PSC sandbox whether the token is valid."""
    import smtplib

    mssante = pytest.importorskip("segur_ris.sandbox._mssante")
    from segur_ris.tls import client_context

    tokens = _login(psc, sandbox)
    address = "marie.radiologue@radiologie.mssante.fr"

    def check(user: str, token: str) -> bool:
        return user == address and sandbox.validate_access_token(token) is not None

    with mssante.MssanteSandbox(pki, check_token=check) as operator:
        for token, expected in (
            (tokens, 235),
            (dataclasses.replace(tokens, access_token="x"), 535),
        ):
            with smtplib.SMTP("127.0.0.1", operator.smtp_port, timeout=10) as smtp:
                smtp.starttls(context=client_context(trust=pki.ca_cert))
                smtp.ehlo()
                try:
                    code, _ = smtp.auth("XOAUTH2", lambda _=None, t=token: t.xoauth2(address))
                except smtplib.SMTPAuthenticationError as exc:
                    code = exc.smtp_code
                assert code == expected
        sandbox.core.expire_access_tokens()  # an expired token no longer opens the mailbox
        with smtplib.SMTP("127.0.0.1", operator.smtp_port, timeout=10) as smtp:
            smtp.starttls(context=client_context(trust=pki.ca_cert))
            smtp.ehlo()
            with pytest.raises(smtplib.SMTPAuthenticationError):
                smtp.auth("XOAUTH2", lambda _=None: tokens.xoauth2(address))


def test_through_an_https_proxy(sandbox: PscSandbox, pki: TestPki) -> None:
    """Through a CONNECT proxy the client still verifies the provider with its own TLS context
    (the sandbox CA), and ignores proxy environment variables."""
    from tests.psc_fixtures import ConnectProxy

    with ConnectProxy() as proxy:
        proxies = {"https": f"http://127.0.0.1:{proxy.port}"}
        config = sandbox_config(sandbox)
        with PscClient(config, trust=pki.ca_cert, proxies=proxies) as client:
            user = client.userinfo(_login(client, sandbox))
        assert user.rpps == "99900018476"
        assert proxy.tunnels and all(t.endswith(f":{sandbox.address[1]}") for t in proxy.tunnels)
