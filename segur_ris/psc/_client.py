"""The Pro Santé Connect OpenID Connect client (authorization code + PKCE S256).

Authlib's ``OAuth2Session`` builds the authorization URL (PKCE challenge) and runs the token
requests (client authentication, ``code_verifier``, refresh); joserfc verifies the ID token and
the signed userinfo (:mod:`segur_ris.psc._jwt`). TLS contexts come from
:func:`segur_ris.tls.client_context`; the HTTP transport is a ``requests`` adapter that tests
and vendors may replace (``adapter=``). Tokens are never logged nor put in an error message.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
import secrets
import threading
from collections.abc import Mapping
from types import TracebackType
from typing import TYPE_CHECKING, Any, Self
from urllib.parse import parse_qs, urlencode, urlsplit

from segur_ris.errors import (
    PscAuthorizationError,
    PscDiscoveryError,
    PscTokenError,
    PscTransportError,
)
from segur_ris.psc._config import PscConfig
from segur_ris.psc._jwt import load_jwks, verify_jwt
from segur_ris.psc._model import (
    AuthorizationRequest,
    ProviderMetadata,
    PscTokens,
    PscUser,
    parse_user,
)

if TYPE_CHECKING:
    from joserfc.jwk import KeySet
    from requests.adapters import BaseAdapter

__all__ = ["PscClient", "tls_adapter"]

_log = logging.getLogger("segur_ris.psc")
StrPath = str | os.PathLike[str]
_JWT_TYPE = "application/jwt"


def tls_adapter(
    *,
    trust: StrPath | bytes | None = None,
    client_cert: tuple[StrPath, StrPath] | None = None,
) -> BaseAdapter:
    """A ``requests`` adapter whose TLS context is :func:`segur_ris.tls.client_context`
    (TLS >= 1.2, ANS suites) trusting ``trust`` and presenting ``client_cert`` (PEM files)."""
    from segur_ris.tls import client_context
    from segur_ris.transport import context_adapter

    cert, key = client_cert if client_cert is not None else (None, None)
    context = client_context(trust=trust, cert_file=cert, key_file=key)
    # context_adapter, not a bare ssl_context adapter: requests would load its own CA bundle
    # into the context on each request and trust every public CA
    return context_adapter(context)


def _utc_in(seconds: object, now: dt.datetime) -> dt.datetime | None:
    if isinstance(seconds, int | float) and not isinstance(seconds, bool) and seconds > 0:
        return now + dt.timedelta(seconds=float(seconds))
    return None


def _reason(exc: BaseException) -> str:
    return exc.__class__.__name__


class PscClient:
    """OpenID Connect client of Pro Santé Connect for one registered RIS ``config``.

    ``trust`` is the provider's trust anchors (PEM file/bytes; ``None``: system store, right for
    the public PSC endpoints); ``client_cert`` the ORG certificate for ``tls_client_auth``;
    ``adapter`` replaces the HTTPS transport; ``proxies`` (``{"https": "http://proxy:3128"}``)
    is the only proxy used (environment variables are ignored). Discovery and the JWKS are
    fetched on first use and cached (the JWKS is re-read once when a token names an unknown
    key). Thread-safe.

    Typical web flow::

        with PscClient(config) as psc:
            request = psc.authorization_url()          # redirect the browser to request.url
            tokens = psc.exchange_code(request, callback_url)   # on /callback?code=…&state=…
            user = psc.userinfo(tokens)                # PscUser: RPPS, professions, activities
    """

    def __init__(
        self,
        config: PscConfig,
        *,
        trust: StrPath | bytes | None = None,
        client_cert: tuple[StrPath, StrPath] | None = None,
        adapter: BaseAdapter | None = None,
        proxies: Mapping[str, str] | None = None,
    ) -> None:
        import requests

        if config.auth_method == "tls_client_auth" and client_cert is None and adapter is None:
            from segur_ris.errors import ConfigError

            raise ConfigError("PSC: tls_client_auth demande un certificat client (client_cert)")
        self.config = config
        self._adapter = adapter or tls_adapter(trust=trust, client_cert=client_cert)
        self._http = requests.Session()
        self._http.trust_env = False  # no proxy or CA bundle from the environment
        self._proxies = dict(proxies or {})
        self._http.proxies.update(self._proxies)
        self._http.mount("https://", self._adapter)
        self._lock = threading.Lock()
        self._metadata: ProviderMetadata | None = None
        self._keys: KeySet | None = None

    # --- plumbing ------------------------------------------------------------------------

    def _oauth(self, redirect_uri: str | None = None) -> Any:
        """A fresh Authlib session sharing the client's adapter (no token kept between calls)."""
        from authlib.integrations.requests_client import OAuth2Session

        config = self.config
        session = OAuth2Session(
            client_id=config.client_id,
            client_secret=config.client_secret,
            token_endpoint_auth_method=(
                "none" if config.auth_method == "tls_client_auth" else config.auth_method
            ),
            scope=" ".join(config.scopes),
            redirect_uri=redirect_uri or config.redirect_uri,
            code_challenge_method="S256",
            default_timeout=config.timeout,
        )
        session.trust_env = False
        session.proxies.update(self._proxies)
        session.mount("https://", self._adapter)
        return session

    def _get(self, url: str, what: str, headers: Mapping[str, str] | None = None) -> Any:
        import requests

        try:
            return self._http.get(url, headers=dict(headers or {}), timeout=self.config.timeout)
        except requests.RequestException as exc:
            raise PscTransportError(
                f"{what}: échec d'échange avec {url} ({_reason(exc)})"
            ) from None

    def _json(self, url: str, what: str, error: type[PscDiscoveryError]) -> object:
        response = self._get(url, what, {"Accept": "application/json"})
        if response.status_code != 200:
            raise PscTransportError(f"{what}: HTTP {response.status_code} sur {url}")
        try:
            return response.json()
        except ValueError:
            raise error(f"{what}: JSON invalide ({url})") from None

    def discover(self, *, refresh: bool = False) -> ProviderMetadata:
        """The provider metadata read at ``config.discovery_url`` (cached)."""
        with self._lock:
            if self._metadata is not None and not refresh:
                return self._metadata
        data = self._json(self.config.discovery_url, "découverte PSC", PscDiscoveryError)
        metadata = ProviderMetadata.from_json(data, expected_issuer=self.config.issuer)
        if metadata.code_challenge_methods and "S256" not in metadata.code_challenge_methods:
            raise PscDiscoveryError("le fournisseur PSC n'annonce pas PKCE S256", code="pkce")
        with self._lock:
            self._metadata = metadata
        return metadata

    def _jwks(self, *, refresh: bool = False) -> KeySet:
        with self._lock:
            if self._keys is not None and not refresh:
                return self._keys
        keys = load_jwks(self._json(self.discover().jwks_uri, "JWKS PSC", PscDiscoveryError))
        with self._lock:
            self._keys = keys
        return keys

    def _verify(self, token: str, **expect: Any) -> dict[str, Any]:
        """``verify_jwt`` with the cached JWKS, re-read once for an unknown ``kid``."""
        issuer, audience, leeway = self.config.issuer, self.config.client_id, self.config.leeway
        try:
            return verify_jwt(
                token, self._jwks(), issuer=issuer, audience=audience, leeway=leeway, **expect
            )
        except PscTokenError as exc:
            if exc.code != "key":
                raise
        return verify_jwt(
            token,
            self._jwks(refresh=True),
            issuer=issuer,
            audience=audience,
            leeway=leeway,
            **expect,
        )

    # --- authorization code flow ---------------------------------------------------------

    def authorization_url(
        self,
        *,
        login_hint: str | None = None,
        prompt: str | None = None,
        extra: Mapping[str, str] | None = None,
    ) -> AuthorizationRequest:
        """A new authorization request: fresh ``state``, ``nonce`` and PKCE S256 verifier,
        ``scope=openid scope_all``, ``acr_values=eidas1``, ``response_type=code``."""
        metadata = self.discover()
        state, nonce = secrets.token_urlsafe(24), secrets.token_urlsafe(24)
        verifier = secrets.token_urlsafe(64)  # 86 characters, within RFC 7636's 43-128
        params: dict[str, str] = {"nonce": nonce, "acr_values": self.config.acr_values}
        if login_hint:
            params["login_hint"] = login_hint
        if prompt:
            params["prompt"] = prompt
        params.update(extra or {})
        url, _ = self._oauth().create_authorization_url(
            metadata.authorization_endpoint, state=state, code_verifier=verifier, **params
        )
        return AuthorizationRequest(
            url=url,
            state=state,
            nonce=nonce,
            code_verifier=verifier,
            redirect_uri=self.config.redirect_uri,
            created_at=dt.datetime.now(dt.UTC),
        )

    def exchange_code(self, request: AuthorizationRequest, callback_url: str) -> PscTokens:
        """Check the callback (``state``, ``error``, RFC 9207 ``iss``), exchange its code for
        tokens (with the PKCE verifier) and verify the ID token (signature, ``iss``, ``aud``,
        ``exp``, ``nonce``, ``acr``).

        :class:`PscAuthorizationError` for a refused or forged callback or a refused code,
        :class:`PscTokenError` for an invalid ID token.
        """
        query = parse_qs(urlsplit(callback_url).query, keep_blank_values=True)

        def one(name: str) -> str | None:
            values = query.get(name)
            return values[0] if values else None

        if one("state") != request.state:
            raise PscAuthorizationError("retour PSC: state inattendu", code="state")
        error = one("error")
        if error:
            description = (one("error_description") or "")[:200]
            raise PscAuthorizationError(f"autorisation PSC refusée: {description}", code=error)
        issuer = one("iss")
        if issuer is not None and issuer != self.config.issuer:
            raise PscAuthorizationError("retour PSC: iss inattendu", code="iss")
        code = one("code")
        if not code:
            raise PscAuthorizationError("retour PSC sans code", code="code")
        token = self._token_request(
            "échange du code PSC",
            PscAuthorizationError,
            grant_type="authorization_code",
            code=code,
            code_verifier=request.code_verifier,
            redirect_uri=request.redirect_uri,
        )
        return self._tokens(token, nonce=request.nonce)

    def refresh(self, tokens: PscTokens) -> PscTokens:
        """New tokens from ``tokens.refresh_token`` (:class:`PscTokenError` when the refresh
        token is refused: the PSC session is over and the user must sign in again)."""
        if not tokens.refresh_token:
            raise PscTokenError("pas de refresh token dans la session PSC", code="refresh_token")
        token = self._token_request(
            "rafraîchissement PSC",
            PscTokenError,
            grant_type="refresh_token",
            refresh_token=tokens.refresh_token,
        )
        return self._tokens(token, previous=tokens)

    def _token_request(
        self, what: str, error: type[PscAuthorizationError | PscTokenError], **body: str
    ) -> Mapping[str, Any]:
        import requests
        from authlib.common.errors import AuthlibBaseError

        endpoint = self.discover().token_endpoint
        session = self._oauth(body.get("redirect_uri"))
        try:
            if body["grant_type"] == "refresh_token":
                return dict(session.refresh_token(endpoint, refresh_token=body["refresh_token"]))
            return dict(
                session.fetch_token(
                    endpoint,
                    grant_type="authorization_code",
                    code=body["code"],
                    code_verifier=body["code_verifier"],
                )
            )
        except AuthlibBaseError as exc:
            description = str(getattr(exc, "description", "") or "")[:200]
            raise error(f"{what} refusé: {description}".rstrip(": "), code=exc.error) from None
        except requests.HTTPError as exc:
            status = exc.response.status_code if exc.response is not None else "?"
            raise PscTransportError(f"{what}: HTTP {status}", code=str(status)) from None
        except requests.RequestException as exc:
            raise PscTransportError(f"{what}: échec d'échange ({_reason(exc)})") from None
        except (ValueError, KeyError, TypeError) as exc:
            raise PscTransportError(f"{what}: réponse illisible ({_reason(exc)})") from None

    def _tokens(
        self,
        token: Mapping[str, Any],
        *,
        nonce: str | None = None,
        previous: PscTokens | None = None,
    ) -> PscTokens:
        access = token.get("access_token")
        if not isinstance(access, str) or not access:
            raise PscTokenError("réponse de jeton PSC sans access_token", code="access_token")
        if str(token.get("token_type", "")).lower() != "bearer":
            raise PscTokenError(
                "réponse de jeton PSC: token_type Bearer attendu", code="token_type"
            )
        id_token = token.get("id_token")
        claims: dict[str, Any] = {}
        if isinstance(id_token, str) and id_token:
            # on refresh the provider may omit the nonce (OIDC Core §12.2); acr is still eidas1
            claims = self._verify(id_token, nonce=nonce, acr=self.config.acr_values)
            if previous is not None and previous.subject and claims.get("sub") != previous.subject:
                raise PscTokenError("jeton d'identité d'un autre utilisateur", code="sub")
        elif previous is None:
            raise PscTokenError("réponse de jeton PSC sans id_token", code="id_token")
        else:
            id_token, claims = previous.id_token, dict(previous.id_claims)
        now = dt.datetime.now(dt.UTC)
        expires_at = _utc_in(token.get("expires_in"), now)
        if expires_at is None:
            raise PscTokenError("réponse de jeton PSC sans expires_in", code="expires_in")
        refresh_token = token.get("refresh_token")
        scope = token.get("scope")
        _log.debug("PSC tokens received for sub %s", claims.get("sub"))
        return PscTokens(
            access_token=access,
            expires_at=expires_at,
            token_type="Bearer",
            refresh_token=refresh_token if isinstance(refresh_token, str) else None,
            refresh_expires_at=_utc_in(token.get("refresh_expires_in"), now),
            id_token=id_token if isinstance(id_token, str) else None,
            scope=tuple(scope.split()) if isinstance(scope, str) else (),
            id_claims=claims,
            session_state=(
                str(token["session_state"]) if token.get("session_state") is not None else None
            ),
        )

    def validate_id_token(self, id_token: str, *, nonce: str | None = None) -> dict[str, Any]:
        """Verify an ID token (signature, ``iss``, ``aud``, ``exp``, ``acr``, ``nonce`` when
        given) and return its claims."""
        return self._verify(id_token, nonce=nonce, acr=self.config.acr_values)

    # --- userinfo, logout ----------------------------------------------------------------

    def userinfo_claims(self, tokens: PscTokens, *, signed: bool = True) -> dict[str, Any]:
        """The userinfo claims. ``signed`` asks for ``application/jwt``; whatever the provider
        answers, a JWT is verified (signature, ``iss``, ``aud``, ``exp``/``iat``) and its
        ``sub`` must be the ID token's."""
        endpoint = self.discover().userinfo_endpoint
        if endpoint is None:
            raise PscDiscoveryError("le fournisseur PSC n'a pas de userinfo_endpoint")
        accept = f"{_JWT_TYPE}, application/json;q=0.5" if signed else "application/json"
        response = self._get(
            endpoint, "userinfo PSC", {**tokens.authorization_header(), "Accept": accept}
        )
        if response.status_code == 401:
            challenge = response.headers.get("WWW-Authenticate", "")
            code = "invalid_token" if "invalid_token" in challenge or not challenge else "401"
            raise PscTokenError("userinfo PSC: jeton d'accès refusé (expiré?)", code=code)
        if response.status_code != 200:
            raise PscTransportError(
                f"userinfo PSC: HTTP {response.status_code}", code=str(response.status_code)
            )
        content_type = response.headers.get("Content-Type", "").split(";")[0].strip().lower()
        if content_type == _JWT_TYPE:
            token = response.content.decode("ascii", "replace").strip()
            claims = self._verify(token, what="userinfo signé", require_exp=False)
        elif content_type == "application/json":
            try:
                data = json.loads(response.content)
            except ValueError:
                raise PscTokenError("userinfo PSC: JSON invalide", code="format") from None
            if not isinstance(data, dict):
                raise PscTokenError("userinfo PSC: objet JSON attendu", code="format")
            claims = data
        else:
            raise PscTokenError(f"userinfo PSC: type {content_type!r} inattendu", code="format")
        if tokens.subject is not None and claims.get("sub") != tokens.subject:
            raise PscTokenError("userinfo PSC: sub différent du jeton d'identité", code="sub")
        return claims

    def userinfo(self, tokens: PscTokens, *, signed: bool = True) -> PscUser:
        """The signed-in professional (:class:`PscUser`) from the userinfo endpoint."""
        return parse_user(self.userinfo_claims(tokens, signed=signed))

    def logout_url(
        self,
        tokens: PscTokens | None = None,
        *,
        post_logout_redirect_uri: str | None = None,
        state: str | None = None,
    ) -> str:
        """The RP-initiated logout URL (``end_session_endpoint`` with ``id_token_hint``)."""
        endpoint = self.discover().end_session_endpoint
        if endpoint is None:
            raise PscDiscoveryError("le fournisseur PSC n'a pas d'end_session_endpoint")
        params = {"client_id": self.config.client_id}
        if tokens is not None and tokens.id_token:
            params["id_token_hint"] = tokens.id_token
        if post_logout_redirect_uri:
            params["post_logout_redirect_uri"] = post_logout_redirect_uri
        if state:
            params["state"] = state
        separator = "&" if "?" in endpoint else "?"
        return f"{endpoint}{separator}{urlencode(params)}"

    def end_session(self, tokens: PscTokens) -> None:
        """End the PSC session server-side (Keycloak back-channel logout: ``POST`` of the
        refresh token to ``end_session_endpoint`` with client authentication)."""
        import requests

        endpoint = self.discover().end_session_endpoint
        if endpoint is None:
            raise PscDiscoveryError("le fournisseur PSC n'a pas d'end_session_endpoint")
        if not tokens.refresh_token:
            raise PscTokenError(
                "pas de refresh token: fin de session impossible", code="refresh_token"
            )
        body = {"client_id": self.config.client_id, "refresh_token": tokens.refresh_token}
        auth: tuple[str, str] | None = None
        if self.config.auth_method == "client_secret_basic" and self.config.client_secret:
            auth = (self.config.client_id, self.config.client_secret)
        elif self.config.auth_method == "client_secret_post" and self.config.client_secret:
            body["client_secret"] = self.config.client_secret
        try:
            response = self._http.post(endpoint, data=body, auth=auth, timeout=self.config.timeout)
        except requests.RequestException as exc:
            raise PscTransportError(
                f"fin de session PSC: échec d'échange ({_reason(exc)})"
            ) from None
        if response.status_code not in (200, 204):
            raise PscTransportError(
                f"fin de session PSC: HTTP {response.status_code}", code=str(response.status_code)
            )

    # --- lifetime ------------------------------------------------------------------------

    def close(self) -> None:
        """Close the HTTP connections."""
        self._http.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"PscClient(issuer={self.config.issuer!r}, client_id={self.config.client_id!r})"
