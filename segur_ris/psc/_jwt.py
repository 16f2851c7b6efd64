"""Sans-IO verification of the provider's signed JWTs (ID token, signed userinfo), with joserfc.

Only asymmetric signature algorithms are accepted (the provider signs with the keys of its
JWKS; ``none`` and HMAC are refused). Every failure is a
:class:`~segur_ris.errors.PscTokenError` whose ``code`` says what is wrong: ``format``,
``jwe`` (encrypted userinfo is not supported), ``key`` (no JWKS key for the ``kid``),
``signature``, ``expired``, ``iss``, ``aud``, ``azp``, ``nonce``, ``acr``, ``iat``, ``sub``…
Messages never quote the token.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

from joserfc import jwt
from joserfc.errors import (
    BadSignatureError,
    ClaimError,
    ExpiredTokenError,
    InvalidKeyIdError,
    JoseError,
    MissingKeyError,
)
from joserfc.jwk import KeySet

from segur_ris.errors import PscDiscoveryError, PscTokenError

__all__ = ["SIGNING_ALGORITHMS", "load_jwks", "verify_jwt"]

#: Signature algorithms accepted on provider JWTs (Keycloak signs with RS256 by default).
SIGNING_ALGORITHMS: tuple[str, ...] = (
    "RS256",
    "RS384",
    "RS512",
    "PS256",
    "PS384",
    "PS512",
    "ES256",
    "ES384",
    "ES512",
)


def load_jwks(data: object) -> KeySet:
    """The provider's public keys from a JWKS document (:class:`PscDiscoveryError` if invalid)."""
    if not isinstance(data, dict) or not isinstance(data.get("keys"), list):
        raise PscDiscoveryError("JWKS PSC: objet {'keys': [...]} attendu", code="jwks")
    # keep signature keys only (a JWKS may also publish encryption keys)
    keys = [k for k in data["keys"] if isinstance(k, dict) and k.get("use", "sig") == "sig"]
    try:
        return KeySet.import_key_set({"keys": keys})
    except (JoseError, ValueError, TypeError, KeyError) as exc:
        raise PscDiscoveryError(
            f"JWKS PSC illisible ({exc.__class__.__name__})", code="jwks"
        ) from None


def _audiences(claims: Mapping[str, Any]) -> list[str]:
    aud = claims.get("aud")
    if isinstance(aud, str):
        return [aud]
    if isinstance(aud, list) and all(isinstance(a, str) for a in aud):
        return list(aud)
    return []


def verify_jwt(
    token: str,
    keys: KeySet,
    *,
    issuer: str,
    audience: str,
    what: str = "jeton d'identité",
    nonce: str | None = None,
    acr: str | None = None,
    require_exp: bool = True,
    leeway: int = 30,
    now: float | None = None,
) -> dict[str, Any]:
    """Verify the signature and the claims of ``token``; return its claims.

    Checks: signature with ``keys``; ``iss == issuer``; ``sub`` present; ``audience`` in
    ``aud`` (and ``azp == audience`` when several audiences); ``exp`` in the future (required
    unless not ``require_exp``); ``iat`` not in the future; ``nbf``; ``nonce`` and ``acr`` when
    given.
    ``leeway`` (seconds) absorbs clock skew.
    """
    if not isinstance(token, str) or not token:
        raise PscTokenError(f"{what}: absent", code="format")
    parts = token.split(".")
    if len(parts) == 5:
        raise PscTokenError(f"{what}: JWE (chiffré) non pris en charge", code="jwe")
    if len(parts) != 3:
        raise PscTokenError(f"{what}: JWS compact attendu", code="format")
    try:
        decoded = jwt.decode(token, keys, algorithms=list(SIGNING_ALGORITHMS))
    except BadSignatureError:
        raise PscTokenError(f"{what}: signature invalide", code="signature") from None
    except (MissingKeyError, InvalidKeyIdError):
        raise PscTokenError(f"{what}: aucune clé du JWKS pour ce jeton", code="key") from None
    except (JoseError, ValueError, TypeError, KeyError) as exc:
        raise PscTokenError(
            f"{what}: illisible ou algorithme refusé ({exc.__class__.__name__})", code="format"
        ) from None
    claims = dict(decoded.claims)
    moment = int(now if now is not None else time.time())
    options: dict[str, Any] = {
        "iss": {"essential": True, "value": issuer},
        "sub": {"essential": True},  # ID token and userinfo alike (OIDC Core §2, §5.3.2)
        "aud": {"essential": True},
        "exp": {"essential": require_exp},
    }
    if nonce is not None:
        options["nonce"] = {"essential": True, "value": nonce}
    if acr is not None:
        options["acr"] = {"essential": True, "value": acr}
    registry = jwt.JWTClaimsRegistry(now=moment, leeway=leeway, **options)
    try:
        registry.validate(claims)
    except ExpiredTokenError:
        raise PscTokenError(f"{what}: expiré", code="expired") from None
    except ClaimError as exc:
        raise PscTokenError(
            f"{what}: claim {exc.claim!r} invalide ou absente", code=exc.claim
        ) from None
    audiences = _audiences(claims)
    if audience not in audiences:
        raise PscTokenError(f"{what}: audience inattendue", code="aud")
    azp = claims.get("azp")
    if (len(audiences) > 1 or azp is not None) and azp != audience:
        raise PscTokenError(f"{what}: azp inattendu", code="azp")
    iat = claims.get("iat")
    if iat is not None and (not isinstance(iat, int | float) or iat > moment + leeway):
        raise PscTokenError(f"{what}: iat dans le futur", code="iat")
    return claims
