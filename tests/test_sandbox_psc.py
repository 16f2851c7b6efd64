"""The Pro Santé Connect sandbox provider (segur_ris.sandbox._psc) at the HTTP level."""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest
import requests
from joserfc import jwt
from joserfc.jwk import KeySet

from segur_ris.errors import ConfigError
from segur_ris.psc import tls_adapter
from segur_ris.sandbox import TestPki
from segur_ris.sandbox._psc import (
    PSC_REALM_PATH,
    SANDBOX_CLIENT_ID,
    SANDBOX_CLIENT_SECRET,
    SANDBOX_PROFESSIONALS,
    SANDBOX_REDIRECT_URI,
    PscSandbox,
    PscSandboxClient,
    PscSandboxCore,
)
from segur_ris.sandbox._server import HttpRequest

AUTH = (SANDBOX_CLIENT_ID, SANDBOX_CLIENT_SECRET)


@pytest.fixture(scope="module")
def sandbox(pki: TestPki) -> Iterator[PscSandbox]:
    with PscSandbox(pki) as running:
        yield running


@pytest.fixture()
def http(pki: TestPki) -> Iterator[requests.Session]:
    session = requests.Session()
    session.trust_env = False
    session.mount("https://", tls_adapter(trust=pki.ca_cert))
    with session:
        yield session


def _pkce() -> tuple[str, str]:
    verifier = secrets.token_urlsafe(48)
    digest = hashlib.sha256(verifier.encode()).digest()
    return verifier, base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def _authorize(sandbox: PscSandbox, **params: str) -> dict[str, list[str]]:
    query = {
        "client_id": SANDBOX_CLIENT_ID,
        "redirect_uri": SANDBOX_REDIRECT_URI,
        "response_type": "code",
        "scope": "openid scope_all",
        "state": "st",
        "nonce": "n0",
        "acr_values": "eidas1",
        **params,
    }
    url = f"{sandbox.issuer}/protocol/openid-connect/auth?{urlencode(query)}"
    return parse_qs(urlsplit(sandbox.sign_in(url)).query)


def _tokens(sandbox: PscSandbox, http: requests.Session, hint: str = "") -> dict[str, Any]:
    verifier, challenge = _pkce()
    answer = _authorize(
        sandbox, code_challenge=challenge, code_challenge_method="S256", login_hint=hint
    )
    response = http.post(
        f"{sandbox.issuer}/protocol/openid-connect/token",
        data={
            "grant_type": "authorization_code",
            "code": answer["code"][0],
            "redirect_uri": SANDBOX_REDIRECT_URI,
            "code_verifier": verifier,
        },
        auth=AUTH,
        timeout=10,
    )
    assert response.status_code == 200, response.text
    assert response.headers["Cache-Control"] == "no-store"
    return dict(response.json())


def test_discovery_at_both_paths(sandbox: PscSandbox, http: requests.Session) -> None:
    wallet = http.get(f"{sandbox.issuer}/.well-known/wallet-openid-configuration", timeout=10)
    standard = http.get(f"{sandbox.issuer}/.well-known/openid-configuration", timeout=10)
    assert wallet.status_code == standard.status_code == 200
    assert wallet.json() == standard.json()
    metadata = wallet.json()
    assert metadata["issuer"] == sandbox.issuer
    assert sandbox.issuer.endswith(PSC_REALM_PATH)
    assert metadata["code_challenge_methods_supported"] == ["S256"]
    assert metadata["acr_values_supported"] == ["eidas1"]
    assert http.get(sandbox.base_url + "/ailleurs", timeout=10).status_code == 404


def test_authorize_errors(sandbox: PscSandbox, http: requests.Session) -> None:
    # unknown redirect_uri: an error page, never a redirect
    query = urlencode({"client_id": SANDBOX_CLIENT_ID, "redirect_uri": "https://evil.example/"})
    response = http.get(
        f"{sandbox.issuer}/protocol/openid-connect/auth?{query}",
        allow_redirects=False,
        timeout=10,
    )
    assert response.status_code == 400 and "Location" not in response.headers
    without_pkce = _authorize(sandbox)
    assert without_pkce["error"] == ["invalid_request"] and without_pkce["state"] == ["st"]
    _, challenge = _pkce()
    plain = _authorize(sandbox, code_challenge=challenge, code_challenge_method="plain")
    assert plain["error"] == ["invalid_request"]
    acr = _authorize(
        sandbox, code_challenge=challenge, code_challenge_method="S256", acr_values="eidas3"
    )
    assert acr["error"] == ["invalid_request"]
    no_openid = _authorize(
        sandbox, code_challenge=challenge, code_challenge_method="S256", scope="scope_all"
    )
    assert no_openid["error"] == ["invalid_scope"]
    # loopback redirect URIs match on any port (RFC 8252)
    ported = _authorize(
        sandbox,
        code_challenge=challenge,
        code_challenge_method="S256",
        redirect_uri="http://127.0.0.1:8765/callback",
    )
    assert "code" in ported


def test_token_endpoint(sandbox: PscSandbox, http: requests.Session) -> None:
    token_url = f"{sandbox.issuer}/protocol/openid-connect/token"
    verifier, challenge = _pkce()
    code = _authorize(sandbox, code_challenge=challenge, code_challenge_method="S256")["code"][0]
    body = {
        "grant_type": "authorization_code",
        "code": code,
        "redirect_uri": SANDBOX_REDIRECT_URI,
        "code_verifier": verifier,
    }
    wrong = http.post(token_url, data=body, auth=(SANDBOX_CLIENT_ID, "faux"), timeout=10)
    assert wrong.status_code == 401 and wrong.json()["error"] == "invalid_client"
    assert "Bearer" in wrong.headers["WWW-Authenticate"]
    post_auth = {**body, "client_id": SANDBOX_CLIENT_ID, "client_secret": SANDBOX_CLIENT_SECRET}
    first = http.post(token_url, data=post_auth, timeout=10)  # client_secret_post
    assert first.status_code == 200
    assert first.json()["token_type"] == "Bearer"
    replay = http.post(token_url, data=body, auth=AUTH, timeout=10)
    assert replay.status_code == 400 and replay.json()["error"] == "invalid_grant"
    other = http.post(token_url, data={"grant_type": "password"}, auth=AUTH, timeout=10)
    assert other.json()["error"] == "unsupported_grant_type"
    as_json = http.post(token_url, json=body, auth=AUTH, timeout=10)
    assert as_json.status_code == 400
    assert http.get(token_url, auth=AUTH, timeout=10).status_code == 400


def test_userinfo_signed_and_json(sandbox: PscSandbox, http: requests.Session) -> None:
    tokens = _tokens(sandbox, http, "manipulateur")
    url = f"{sandbox.issuer}/protocol/openid-connect/userinfo"
    bearer = {"Authorization": f"Bearer {tokens['access_token']}"}
    signed = http.get(url, headers=bearer, timeout=10)
    assert signed.headers["Content-Type"] == "application/jwt"
    keys = KeySet.import_key_set(
        http.get(f"{sandbox.issuer}/protocol/openid-connect/certs", timeout=10).json()
    )
    decoded = jwt.decode(signed.text, keys, algorithms=["RS256"])
    assert decoded.header["alg"] == "RS256"
    assert decoded.claims["iss"] == sandbox.issuer and decoded.claims["aud"] == SANDBOX_CLIENT_ID
    assert decoded.claims["SubjectNameID"] == SANDBOX_PROFESSIONALS["manipulateur"].national_id
    plain = http.get(url, headers={**bearer, "Accept": "application/json"}, timeout=10)
    assert plain.headers["Content-Type"] == "application/json"
    assert plain.json()["SubjectRefPro"]["exercices"][0]["codeProfession"] == "98"
    refused = http.get(url, headers={"Authorization": "Bearer inconnu"}, timeout=10)
    assert refused.status_code == 401
    assert 'error="invalid_token"' in refused.headers["WWW-Authenticate"]
    assert http.get(url, timeout=10).status_code == 401


def test_id_token_claims(sandbox: PscSandbox, http: requests.Session) -> None:
    tokens = _tokens(sandbox, http)
    keys = KeySet.import_key_set(sandbox.core.jwks())
    claims = jwt.decode(tokens["id_token"], keys, algorithms=["RS256"]).claims
    assert claims["nonce"] == "n0" and claims["acr"] == "eidas1"
    assert claims["aud"] == SANDBOX_CLIENT_ID and claims["iss"] == sandbox.issuer
    assert claims["exp"] - claims["iat"] == sandbox.core.access_ttl
    assert tokens["expires_in"] == 300  # short-lived access tokens


def test_validate_access_token_and_introspection(
    sandbox: PscSandbox, http: requests.Session
) -> None:
    tokens = _tokens(sandbox, http, "medecin")
    claims = sandbox.validate_access_token(tokens["access_token"])
    assert claims is not None
    assert claims["SubjectNameID"] == SANDBOX_PROFESSIONALS["medecin"].national_id
    assert claims["client_id"] == SANDBOX_CLIENT_ID
    assert sandbox.validate_access_token("inconnu") is None
    assert sandbox.validate_access_token(tokens["refresh_token"]) is None
    url = f"{sandbox.issuer}/protocol/openid-connect/token/introspect"
    active = http.post(url, data={"token": tokens["access_token"]}, auth=AUTH, timeout=10).json()
    assert active["active"] is True and active["sub"] == claims["sub"]
    assert http.post(url, data={"token": "x"}, auth=AUTH, timeout=10).json() == {"active": False}
    assert http.post(url, data={"token": "x"}, timeout=10).status_code == 401


def test_access_tokens_expire() -> None:
    now = [1_800_000_000.0]
    core = PscSandboxCore(
        "https://127.0.0.1:1" + PSC_REALM_PATH, clock=lambda: now[0], access_ttl=60
    )
    verifier, challenge = _pkce()
    query = urlencode(
        {
            "client_id": SANDBOX_CLIENT_ID,
            "redirect_uri": SANDBOX_REDIRECT_URI,
            "response_type": "code",
            "scope": "openid",
            "nonce": "n",
            "code_challenge": challenge,
            "code_challenge_method": "S256",
        }
    )
    prefix = PSC_REALM_PATH + "/protocol/openid-connect"
    answer = core.handle(HttpRequest("GET", f"{prefix}/auth?{query}", {}, b"", None))
    code = parse_qs(urlsplit(answer.headers["Location"]).query)["code"][0]
    basic = base64.b64encode(f"{SANDBOX_CLIENT_ID}:{SANDBOX_CLIENT_SECRET}".encode()).decode()
    body = urlencode(
        {
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": SANDBOX_REDIRECT_URI,
            "code_verifier": verifier,
        }
    ).encode()
    headers = {
        "authorization": f"Basic {basic}",
        "content-type": "application/x-www-form-urlencoded",
    }
    token = json.loads(
        core.handle(HttpRequest("POST", f"{prefix}/token", headers, body, None)).body
    )
    assert core.validate_access_token(token["access_token"]) is not None
    now[0] += 61
    assert core.validate_access_token(token["access_token"]) is None
    userinfo = core.handle(
        HttpRequest(
            "GET",
            f"{prefix}/userinfo",
            {"authorization": f"Bearer {token['access_token']}"},
            b"",
            None,
        )
    )
    assert userinfo.status == 401


def test_sandbox_configuration(pki: TestPki) -> None:
    with pytest.raises(ConfigError):
        PscSandbox(pki, host="0.0.0.0")  # loopback only
    with pytest.raises(ConfigError):
        PscSandboxCore(professionals={})
    client = PscSandboxClient("c", "s", redirect_uris=("https://ris.example/cb",))
    assert client.allows_redirect("https://ris.example/cb")
    assert not client.allows_redirect("https://ris.example:8443/cb")
    secret = PscSandboxClient("c", "tres-secret-99")
    assert "tres-secret-99" not in repr(secret)
