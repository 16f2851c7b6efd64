"""Sandbox of Pro Santé Connect: a small OpenID Connect provider on 127.0.0.1.

:class:`PscSandboxCore` is sans-IO (``handle(HttpRequest) -> HttpResponse``);
:class:`PscSandbox` serves it over HTTPS (server certificate of the test PKI; client
certificates optional, used by ``tls_client_auth`` clients). Paths imitate the ANS Keycloak realm
``esante-wallet`` (one host, whereas the real authorize endpoint lives on ``wallet.*``):

==========================================================  ===================================
``/auth/realms/esante-wallet``                              issuer
``…/.well-known/wallet-openid-configuration``               discovery (and the standard path)
``…/protocol/openid-connect/auth``                          authorize: signs a test professional
                                                            in without a browser, 302 to
                                                            ``redirect_uri`` with code & state
``…/protocol/openid-connect/token``                         ``authorization_code`` (PKCE S256
                                                            required) and ``refresh_token``
``…/protocol/openid-connect/userinfo``                      signed JWT (RS256), or JSON with
                                                            ``Accept: application/json``
``…/protocol/openid-connect/certs``                         JWKS
``…/protocol/openid-connect/logout``                        end session (GET ``id_token_hint``,
                                                            or POST of the refresh token)
``…/protocol/openid-connect/token/introspect``              RFC 7662 introspection
==========================================================  ===================================

``login_hint`` picks the professional among :data:`SANDBOX_PROFESSIONALS` (key or
``SubjectNameID``). Access tokens are opaque, short-lived (``access_ttl``, 300 s by default)
and checked on every use (expired or revoked: 401 ``invalid_token``); refresh tokens rotate.
:meth:`PscSandboxCore.validate_access_token` lets another sandbox (MSSanté XOAUTH2) check a
token in-process. ``id_token_claims`` / ``userinfo_claims`` (dicts) override claims of the
issued ID tokens / signed userinfo, to rehearse a misbehaving provider in tests.

The professionals are fictitious; their RPPS numbers are in the ``99900…`` test range and the
codes (TRE_G15 professions, savoir-faire, secteurs) illustrative [?].
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import http.client
import json
import secrets
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any
from urllib.parse import parse_qs, unquote, urlencode, urlsplit

from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet, RSAKey

from segur_ris.errors import ConfigError
from segur_ris.sandbox._pki import TestPki
from segur_ris.sandbox._server import (
    HttpRequest,
    HttpResponse,
    SandboxHttpsServer,
    server_tls_context,
)

__all__ = [
    "PSC_REALM_PATH",
    "SANDBOX_CLIENT_ID",
    "SANDBOX_CLIENT_SECRET",
    "SANDBOX_PROFESSIONALS",
    "SANDBOX_REDIRECT_URI",
    "PscSandbox",
    "PscSandboxClient",
    "PscSandboxCore",
    "SandboxProfessional",
]

#: Path of the issuer under the sandbox's base URL (the ANS realm).
PSC_REALM_PATH = "/auth/realms/esante-wallet"
_OIDC = "/protocol/openid-connect"
#: The client registered by default (public knowledge: it is a sandbox).
SANDBOX_CLIENT_ID = "segur-ris-sandbox"
SANDBOX_CLIENT_SECRET = "segur-ris-sandbox-secret"  # a sandbox: not a secret
SANDBOX_REDIRECT_URI = "http://127.0.0.1/callback"

_JSON = "application/json"
_TEXT = "text/plain; charset=utf-8"
_NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}


@dataclass(frozen=True, slots=True)
class SandboxProfessional:
    """A fictitious health professional the sandbox signs in (one exercice, one activity)."""

    login: str
    national_id: str
    given_name: str
    family_name: str
    civilite: str
    profession: str
    categorie: str = "C"
    type_savoir_faire: str = ""
    savoir_faire: str = ""
    structure_id: str = ""
    raison_sociale: str = ""
    mode_exercice: str = "S"
    secteur_activite: str = "SA07"
    role: str = ""

    @property
    def sub(self) -> str:
        """A stable ``sub`` (PSC subjects are opaque UUID-like strings)."""
        return "f:" + hashlib.sha256(self.national_id.encode()).hexdigest()[:32]

    def claims(self) -> dict[str, Any]:
        """The PSC userinfo claims of the professional (``scope_all``)."""
        activity = {
            "codeModeExercice": self.mode_exercice,
            "codeSecteurDactivite": self.secteur_activite,
            "codeSectionPharmacien": "",
            "codeRole": self.role,
            "numeroSiretSite": "",
            "numeroSirenSite": "",
            "numeroFinessSite": "",
            "numeroFinessetablissementJuridique": "",
            "identifiantTechniqueDeLaStructure": self.structure_id,
            "raisonSocialeSite": self.raison_sociale,
            "enseigneCommercialeSite": "",
            "codeGenreActivite": "GENR01",
        }
        exercice = {
            "codeProfession": self.profession,
            "codeCategorieProfessionnelle": self.categorie,
            "codeTypeSavoirFaire": self.type_savoir_faire,
            "codeSavoirFaire": self.savoir_faire,
            "codeCiviliteDexercice": "DR" if self.profession == "10" else "",
            "nomDexercice": self.family_name,
            "prenomDexercice": self.given_name,
            "activities": [activity],
        }
        return {
            "sub": self.sub,
            "SubjectNameID": self.national_id,
            "given_name": self.given_name,
            "family_name": self.family_name,
            "preferred_username": self.national_id,
            "email_verified": False,
            "SubjectOrganization": self.raison_sociale,
            "SubjectOrganizationID": self.structure_id,
            "SubjectRole": [f"{self.profession}^1.2.250.1.71.1.2.7"],
            "Secteur_Activite": f"{self.secteur_activite}^1.2.250.1.71.4.2.4",
            "Palier_Authentification": "APPPRIP3^1.2.250.1.213.1.5.1.1.1",
            "UITVersion": "1.0",
            "otherIds": [{"identifiant": self.national_id, "origine": "RPPS", "qualite": 1}],
            "SubjectRefPro": {"codeCivilite": self.civilite, "exercices": [exercice]},
        }


_RADIOLOGUE = SandboxProfessional(
    login="radiologue",
    national_id="899900018476",
    given_name="Marie",
    family_name="RADIOLOGUE-SANDBOX",
    civilite="MME",
    profession="10",
    type_savoir_faire="S",
    savoir_faire="SM44",
    structure_id="R10000000001",
    raison_sociale="CABINET DE RADIOLOGIE SANDBOX",
    mode_exercice="L",
    role="FON-01",
)
_MANIPULATEUR = SandboxProfessional(
    login="manipulateur",
    national_id="899900024513",
    given_name="Paul",
    family_name="MANIP-SANDBOX",
    civilite="M",
    profession="98",
    structure_id="R10000000001",
    raison_sociale="CABINET DE RADIOLOGIE SANDBOX",
    role="FON-02",
)
_MEDECIN = SandboxProfessional(
    login="medecin",
    national_id="899900031124",
    given_name="Jeanne",
    family_name="GENERALISTE-SANDBOX",
    civilite="MME",
    profession="10",
    type_savoir_faire="S",
    savoir_faire="SM54",
    structure_id="R10000000002",
    raison_sociale="CABINET MEDICAL SANDBOX",
    mode_exercice="L",
    role="FON-01",
)
#: The built-in test professionals by ``login_hint`` (the first is the default).
SANDBOX_PROFESSIONALS: Mapping[str, SandboxProfessional] = MappingProxyType(
    {p.login: p for p in (_RADIOLOGUE, _MANIPULATEUR, _MEDECIN)}
)


@dataclass(frozen=True, slots=True)
class PscSandboxClient:
    """A client registered at the sandbox. ``auth_method`` is ``client_secret_basic``,
    ``client_secret_post`` (both accepted for either) or ``tls_client_auth`` (client
    certificate CN equal to ``tls_cn``). Loopback ``redirect_uris`` match on any port
    (RFC 8252 §7.3)."""

    client_id: str
    client_secret: str | None = field(default=None, repr=False)
    redirect_uris: tuple[str, ...] = (SANDBOX_REDIRECT_URI,)
    auth_method: str = "client_secret_basic"
    tls_cn: str | None = None

    def allows_redirect(self, uri: str) -> bool:
        """Exact match, or a loopback URI equal but for its port."""
        if uri in self.redirect_uris:
            return True
        parts = urlsplit(uri)
        if parts.hostname not in ("127.0.0.1", "localhost", "::1") or parts.scheme != "http":
            return False
        for registered in self.redirect_uris:
            reg = urlsplit(registered)
            if (reg.scheme, reg.hostname, reg.path) == (parts.scheme, parts.hostname, parts.path):
                return True
        return False


@dataclass(slots=True)
class _Code:
    client_id: str
    redirect_uri: str
    login: str
    nonce: str
    challenge: str
    scope: str
    expires: float


@dataclass(slots=True)
class _Grant:
    client_id: str
    login: str
    scope: str
    session: str
    expires: float


class _OAuthError(Exception):
    def __init__(self, error: str, description: str, status: int = 400) -> None:
        super().__init__(description)
        self.error, self.description, self.status = error, description, status


def _s256(verifier: str) -> str:
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


def _json(status: int, data: object, headers: Mapping[str, str] | None = None) -> HttpResponse:
    body = json.dumps(data, ensure_ascii=False).encode()
    return HttpResponse(status, _JSON, body, headers=dict(headers or {}))


def _redirect(location: str) -> HttpResponse:
    return HttpResponse(302, _TEXT, b"", headers={"Location": location})


def _with_query(uri: str, params: Mapping[str, str]) -> str:
    return f"{uri}{'&' if '?' in uri else '?'}{urlencode(params)}"


class PscSandboxCore:
    """The provider logic without I/O. ``issuer`` is set by :class:`PscSandbox` when it starts.

    ``clients`` are the registered clients (default: :data:`SANDBOX_CLIENT_ID`);
    ``professionals`` who can sign in; ``access_ttl``/``refresh_ttl``/``code_ttl`` lifetimes in
    seconds; ``clock`` returns the time (seconds since the epoch).
    """

    def __init__(
        self,
        issuer: str = "",
        *,
        clients: Iterable[PscSandboxClient] | None = None,
        professionals: Mapping[str, SandboxProfessional] = SANDBOX_PROFESSIONALS,
        access_ttl: int = 300,
        refresh_ttl: int = 1800,
        code_ttl: int = 60,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if not professionals:
            raise ConfigError("bac à sable PSC: au moins un professionnel est nécessaire")
        self.issuer = issuer
        self.clients = {
            c.client_id: c
            for c in (
                clients
                if clients is not None
                else (PscSandboxClient(SANDBOX_CLIENT_ID, SANDBOX_CLIENT_SECRET),)
            )
        }
        self.professionals = dict(professionals)
        self.default_login = next(iter(self.professionals))
        self.access_ttl, self.refresh_ttl, self.code_ttl = access_ttl, refresh_ttl, code_ttl
        self.clock = clock
        self.id_token_claims: dict[str, Any] = {}
        self.userinfo_claims: dict[str, Any] = {}
        self.key = RSAKey.generate_key(
            2048, parameters={"use": "sig", "alg": "RS256"}, auto_kid=True
        )
        self._lock = threading.Lock()
        self._codes: dict[str, _Code] = {}
        self._access: dict[str, _Grant] = {}
        self._refresh: dict[str, _Grant] = {}

    # --- Python API ------------------------------------------------------------------------

    def metadata(self) -> dict[str, Any]:
        """The discovery document."""
        base = self.issuer + _OIDC
        return {
            "issuer": self.issuer,
            "authorization_endpoint": base + "/auth",
            "token_endpoint": base + "/token",
            "userinfo_endpoint": base + "/userinfo",
            "jwks_uri": base + "/certs",
            "end_session_endpoint": base + "/logout",
            "introspection_endpoint": base + "/token/introspect",
            "response_types_supported": ["code"],
            "grant_types_supported": ["authorization_code", "refresh_token"],
            "subject_types_supported": ["public"],
            "id_token_signing_alg_values_supported": ["RS256"],
            "userinfo_signing_alg_values_supported": ["RS256"],
            "scopes_supported": ["openid", "scope_all", "offline_access"],
            "acr_values_supported": ["eidas1"],
            "claims_parameter_supported": False,
            "code_challenge_methods_supported": ["S256"],
            "token_endpoint_auth_methods_supported": [
                "client_secret_basic",
                "client_secret_post",
                "tls_client_auth",
            ],
        }

    def jwks(self) -> dict[str, Any]:
        """The public signing keys."""
        return dict(KeySet([self.key]).as_dict(private=False))

    def validate_access_token(self, token: str) -> dict[str, Any] | None:
        """Claims of an active access token (``sub``, ``SubjectNameID``, ``client_id``,
        ``scope``, ``exp``…), ``None`` when unknown, expired or revoked."""
        with self._lock:
            grant = self._access.get(token)
            if grant is None or grant.expires <= self.clock():
                return None
        professional = self.professionals[grant.login]
        return {
            "active": True,
            "sub": professional.sub,
            "SubjectNameID": professional.national_id,
            "preferred_username": professional.national_id,
            "client_id": grant.client_id,
            "scope": grant.scope,
            "token_type": "Bearer",
            "exp": int(grant.expires),
            "iss": self.issuer,
        }

    def expire_access_tokens(self) -> None:
        """Make every issued access token expired (tests of the 401 path)."""
        with self._lock:
            for grant in self._access.values():
                grant.expires = self.clock() - 1

    def sign(self, claims: Mapping[str, Any]) -> str:
        """A compact JWS (RS256) of ``claims`` with the provider key."""
        header = {"alg": "RS256", "kid": str(self.key.kid), "typ": "JWT"}
        return jwt.encode(header, dict(claims), self.key)

    # --- HTTP --------------------------------------------------------------------------------

    def handle(self, request: HttpRequest) -> HttpResponse:
        """Answer one HTTP request."""
        path, _, query = request.path.partition("?")
        realm = urlsplit(self.issuer).path or PSC_REALM_PATH
        if path in (
            realm + "/.well-known/wallet-openid-configuration",
            realm + "/.well-known/openid-configuration",
            "/.well-known/openid-configuration",
        ):
            return _json(200, self.metadata())
        routes: dict[str, Callable[[HttpRequest, dict[str, list[str]]], HttpResponse]] = {
            "/auth": self._authorize,
            "/token": self._token,
            "/userinfo": self._userinfo,
            "/certs": self._certs,
            "/logout": self._logout,
            "/token/introspect": self._introspect,
        }
        prefix = realm + _OIDC
        route = routes.get(path[len(prefix) :]) if path.startswith(prefix) else None
        if route is None:
            return HttpResponse(404, _TEXT, f"{path}: inconnu\n".encode())
        params = parse_qs(query, keep_blank_values=True)
        if request.method == "POST":
            if "application/x-www-form-urlencoded" not in request.headers.get("content-type", ""):
                return _json(400, {"error": "invalid_request", "error_description": "form attendu"})
            try:
                form = parse_qs(request.body.decode("utf-8"), keep_blank_values=True)
            except UnicodeDecodeError:
                return _json(400, {"error": "invalid_request", "error_description": "UTF-8"})
            params = {**params, **form}
        elif request.method not in ("GET", "HEAD"):
            return HttpResponse(405, _TEXT, b"GET ou POST\n", headers={"Allow": "GET, POST"})
        try:
            return route(request, params)
        except _OAuthError as exc:
            headers = dict(_NO_STORE)
            if exc.status == 401:
                headers["WWW-Authenticate"] = f'Bearer error="{exc.error}"'
            return _json(
                exc.status, {"error": exc.error, "error_description": exc.description}, headers
            )

    @staticmethod
    def _one(params: Mapping[str, list[str]], name: str, *, required: bool = True) -> str:
        values = params.get(name, [])
        if len(values) > 1:
            raise _OAuthError("invalid_request", f"{name} répété")
        if not values or not values[0]:
            if required:
                raise _OAuthError("invalid_request", f"{name} manquant")
            return ""
        return values[0]

    def _certs(self, request: HttpRequest, params: dict[str, list[str]]) -> HttpResponse:
        return _json(200, self.jwks())

    def _professional(self, hint: str) -> str:
        if not hint:
            return self.default_login
        if hint in self.professionals:
            return hint
        for login, professional in self.professionals.items():
            if hint == professional.national_id:
                return login
        raise _OAuthError("access_denied", "professionnel inconnu du bac à sable")

    def _authorize(self, request: HttpRequest, params: dict[str, list[str]]) -> HttpResponse:
        client = self.clients.get(self._one(params, "client_id"))
        redirect_uri = self._one(params, "redirect_uri")
        if client is None or not client.allows_redirect(redirect_uri):
            # never redirect to an unverified URI (RFC 6749 §4.1.2.1)
            return HttpResponse(400, _TEXT, b"client_id ou redirect_uri inconnu\n")
        state = self._one(params, "state", required=False)
        try:
            if self._one(params, "response_type") != "code":
                raise _OAuthError("unsupported_response_type", "seul response_type=code")
            scope = self._one(params, "scope")
            if "openid" not in scope.split():
                raise _OAuthError("invalid_scope", "scope openid requis")
            nonce = self._one(params, "nonce")
            challenge = self._one(params, "code_challenge")
            if self._one(params, "code_challenge_method") != "S256":
                raise _OAuthError("invalid_request", "PKCE S256 requis")
            acr = self._one(params, "acr_values", required=False)
            if acr and "eidas1" not in acr.split():
                raise _OAuthError("invalid_request", "acr_values: seul eidas1")
            login = self._professional(self._one(params, "login_hint", required=False))
        except _OAuthError as exc:
            answer = {"error": exc.error, "error_description": exc.description}
            if state:
                answer["state"] = state
            return _redirect(_with_query(redirect_uri, answer))
        code = secrets.token_urlsafe(32)
        with self._lock:
            self._codes[code] = _Code(
                client.client_id,
                redirect_uri,
                login,
                nonce,
                challenge,
                scope,
                self.clock() + self.code_ttl,
            )
        answer = {"code": code, "iss": self.issuer}
        if state:
            answer["state"] = state
        return _redirect(_with_query(redirect_uri, answer))

    def _authenticate(self, request: HttpRequest, params: dict[str, list[str]]) -> PscSandboxClient:
        """Client authentication: Basic, form secret or TLS client certificate."""
        authorization = request.headers.get("authorization", "")
        client_id = secret = ""
        if authorization.lower().startswith("basic "):
            try:
                raw = base64.b64decode(authorization[6:].strip(), validate=True).decode()
                user, _, password = raw.partition(":")
                client_id, secret = unquote(user), unquote(password)
            except (ValueError, UnicodeDecodeError):
                raise _OAuthError("invalid_client", "en-tête Basic illisible", 401) from None
        else:
            client_id = self._one(params, "client_id", required=False)
            secret = self._one(params, "client_secret", required=False)
        client = self.clients.get(client_id)
        if client is None:
            raise _OAuthError("invalid_client", "client inconnu", 401)
        if client.auth_method == "tls_client_auth":
            if client.tls_cn is None or request.client_cn != client.tls_cn:
                raise _OAuthError("invalid_client", "certificat client attendu", 401)
            return client
        if not secret or not client.client_secret:
            raise _OAuthError("invalid_client", "secret client manquant", 401)
        if not secrets.compare_digest(secret.encode(), client.client_secret.encode()):
            raise _OAuthError("invalid_client", "secret client invalide", 401)
        return client

    def _issue(
        self, client: PscSandboxClient, login: str, scope: str, session: str, nonce: str
    ) -> dict[str, Any]:
        now = self.clock()
        access, refresh = secrets.token_urlsafe(32), secrets.token_urlsafe(48)
        with self._lock:
            self._access[access] = _Grant(
                client.client_id, login, scope, session, now + self.access_ttl
            )
            self._refresh[refresh] = _Grant(
                client.client_id, login, scope, session, now + self.refresh_ttl
            )
        professional = self.professionals[login]
        claims: dict[str, Any] = {
            "iss": self.issuer,
            "sub": professional.sub,
            "aud": client.client_id,
            "azp": client.client_id,
            "exp": int(now) + self.access_ttl,
            "iat": int(now),
            "auth_time": int(now),
            "acr": "eidas1",
            "sid": session,
            "preferred_username": professional.national_id,
        }
        if nonce:
            claims["nonce"] = nonce
        claims.update(self.id_token_claims)
        return {
            "access_token": access,
            "token_type": "Bearer",
            "expires_in": self.access_ttl,
            "refresh_token": refresh,
            "refresh_expires_in": self.refresh_ttl,
            "id_token": self.sign(claims),
            "scope": scope,
            "session_state": session,
        }

    def _token(self, request: HttpRequest, params: dict[str, list[str]]) -> HttpResponse:
        if request.method != "POST":
            raise _OAuthError("invalid_request", "POST requis")
        client = self._authenticate(request, params)
        grant_type = self._one(params, "grant_type")
        if grant_type == "authorization_code":
            code = self._one(params, "code")
            with self._lock:
                entry = self._codes.pop(code, None)  # single use, even when refused below
            if entry is None or entry.expires <= self.clock():
                raise _OAuthError("invalid_grant", "code inconnu, expiré ou déjà utilisé")
            if entry.client_id != client.client_id:
                raise _OAuthError("invalid_grant", "code d'un autre client")
            if self._one(params, "redirect_uri") != entry.redirect_uri:
                raise _OAuthError("invalid_grant", "redirect_uri différente")
            verifier = self._one(params, "code_verifier")
            if not secrets.compare_digest(_s256(verifier), entry.challenge):
                raise _OAuthError("invalid_grant", "PKCE: code_verifier invalide")
            answer = self._issue(
                client, entry.login, entry.scope, secrets.token_hex(16), entry.nonce
            )
        elif grant_type == "refresh_token":
            token = self._one(params, "refresh_token")
            with self._lock:
                grant = self._refresh.pop(token, None)  # rotation: a refresh token serves once
            if grant is None or grant.expires <= self.clock():
                raise _OAuthError("invalid_grant", "refresh token invalide ou expiré")
            if grant.client_id != client.client_id:
                raise _OAuthError("invalid_grant", "refresh token d'un autre client")
            answer = self._issue(client, grant.login, grant.scope, grant.session, "")
        else:
            raise _OAuthError("unsupported_grant_type", f"grant_type {grant_type!r}")
        return _json(200, answer, _NO_STORE)

    def _grant(self, request: HttpRequest, params: dict[str, list[str]]) -> _Grant:
        authorization = request.headers.get("authorization", "")
        token = authorization[7:].strip() if authorization.lower().startswith("bearer ") else ""
        token = token or self._one(params, "access_token", required=False)
        if not token:
            raise _OAuthError("invalid_token", "jeton d'accès manquant", 401)
        with self._lock:
            grant = self._access.get(token)
            if grant is None or grant.expires <= self.clock():
                raise _OAuthError("invalid_token", "jeton d'accès invalide ou expiré", 401)
            return grant

    def _userinfo(self, request: HttpRequest, params: dict[str, list[str]]) -> HttpResponse:
        grant = self._grant(request, params)
        claims = self.professionals[grant.login].claims()
        accept = request.headers.get("accept", "")
        if _JSON in accept and "application/jwt" not in accept:
            return _json(200, claims, _NO_STORE)
        now = int(self.clock())
        signed = {
            **claims,
            "iss": self.issuer,
            "aud": grant.client_id,
            "iat": now,
            "exp": now + self.access_ttl,
            **self.userinfo_claims,
        }
        return HttpResponse(200, "application/jwt", self.sign(signed).encode(), _NO_STORE)

    def _revoke_session(self, session: str) -> None:
        with self._lock:
            for table in (self._access, self._refresh):
                for token in [t for t, g in table.items() if g.session == session]:
                    del table[token]

    def _logout(self, request: HttpRequest, params: dict[str, list[str]]) -> HttpResponse:
        if request.method == "POST":
            client = self._authenticate(request, params)
            with self._lock:
                grant = self._refresh.get(self._one(params, "refresh_token"))
            if grant is None or grant.client_id != client.client_id:
                raise _OAuthError("invalid_grant", "refresh token invalide")
            self._revoke_session(grant.session)
            return HttpResponse(204, _TEXT, b"")
        hint = self._one(params, "id_token_hint", required=False)
        if hint:
            try:
                claims = jwt.decode(hint, self.key, algorithms=["RS256"]).claims
            except (JoseError, ValueError):
                raise _OAuthError("invalid_request", "id_token_hint invalide") from None
            session = claims.get("sid")
            if isinstance(session, str):
                self._revoke_session(session)
        target = self._one(params, "post_logout_redirect_uri", required=False)
        if target:
            known = self.clients.get(self._one(params, "client_id", required=False))
            if known is None or not known.allows_redirect(target):
                raise _OAuthError("invalid_request", "post_logout_redirect_uri inconnue")
            state = self._one(params, "state", required=False)
            return _redirect(_with_query(target, {"state": state}) if state else target)
        return HttpResponse(200, _TEXT, "Vous êtes déconnecté.\n".encode())

    def _introspect(self, request: HttpRequest, params: dict[str, list[str]]) -> HttpResponse:
        if request.method != "POST":
            raise _OAuthError("invalid_request", "POST requis")
        self._authenticate(request, params)
        claims = self.validate_access_token(self._one(params, "token"))
        return _json(200, claims or {"active": False}, _NO_STORE)


class PscSandbox(SandboxHttpsServer):
    """The PSC sandbox on loopback over HTTPS (server certificate of ``pki``; client
    certificates optional, checked against ``pki.ca_cert`` for ``tls_client_auth`` clients).

    :attr:`issuer` is known once started. ``core`` (default: a :class:`PscSandboxCore` with
    ``options``) holds the logic.
    """

    def __init__(
        self,
        pki: TestPki,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        core: PscSandboxCore | None = None,
        **options: Any,
    ) -> None:
        self.core = core or PscSandboxCore(**options)
        self.pki = pki
        context = server_tls_context(
            pki.server_cert, pki.server_key, pki.ca_cert, require_client_cert=False
        )
        super().__init__(self.core.handle, context, host=host, port=port, name="psc-sandbox")

    def start(self) -> PscSandbox:
        """Bind, serve, and set the issuer ``https://127.0.0.1:<port>/auth/realms/esante-wallet``."""
        super().start()
        self.core.issuer = self.base_url + PSC_REALM_PATH
        return self

    @property
    def issuer(self) -> str:
        """The issuer URL (discovery at ``issuer + "/.well-known/wallet-openid-configuration"``)."""
        return self.base_url + PSC_REALM_PATH

    def validate_access_token(self, token: str) -> dict[str, Any] | None:
        """See :meth:`PscSandboxCore.validate_access_token`."""
        return self.core.validate_access_token(token)

    def sign_in(self, authorization_url: str, *, timeout: float = 10.0) -> str:
        """Play the browser: GET ``authorization_url`` over TLS (trusting the sandbox CA) and
        return the ``Location`` the provider redirects to (the callback URL with
        ``code``/``state``, or ``error``)."""
        from segur_ris.tls import client_context

        parts = urlsplit(authorization_url)
        if (parts.hostname, parts.port) != self.address:
            raise ConfigError("sign_in: URL d'un autre serveur que ce bac à sable")
        context = client_context(trust=self.pki.ca_cert)
        connection = http.client.HTTPSConnection(
            str(parts.hostname), parts.port, context=context, timeout=timeout
        )
        try:
            target = parts.path + (f"?{parts.query}" if parts.query else "")
            connection.request("GET", target)
            response = connection.getresponse()
            response.read()
            location = response.getheader("Location")
        finally:
            with contextlib.suppress(OSError):
                connection.close()
        if response.status != 302 or not location:
            raise ConfigError(f"sign_in: le bac à sable PSC a répondu HTTP {response.status}")
        return location
