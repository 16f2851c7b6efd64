"""Pro Santé Connect (PSC): the ANS OpenID Connect provider of health professionals.

* :class:`PscClient` — discovery (``/.well-known/wallet-openid-configuration``), authorization
  code with PKCE S256 (``scope=openid scope_all``, ``acr_values=eidas1``), token refresh,
  ID token and signed userinfo verification against the provider's JWKS, end of session;
* :class:`PscUser` — the professional: RPPS/ADELI (``SubjectNameID``), exercices with their
  profession, savoir-faire and activities (``SubjectRefPro``);
* :class:`PscTokens` — the tokens, kept in memory only (never in ``repr``, never pickled), with
  the SASL ``XOAUTH2`` response for MSSanté and the ``Bearer`` header;
* :class:`PscConfig`, :data:`PSC_PRODUCTION`, :data:`PSC_TEST` — environments as data.

The sandbox provider is :class:`segur_ris.sandbox.PscSandbox`; the VIHF of a PSC user is built
with :meth:`segur_ris.vihf.VihfContext.for_psc_user`.
"""

from __future__ import annotations

from segur_ris.psc._client import PscClient, tls_adapter
from segur_ris.psc._config import (
    ACR_EIDAS1,
    DEFAULT_SCOPES,
    PSC_ENVIRONMENTS,
    PSC_PRODUCTION,
    PSC_TEST,
    WALLET_DISCOVERY_PATH,
    ClientAuthMethod,
    PscConfig,
    PscEnvironment,
)
from segur_ris.psc._jwt import SIGNING_ALGORITHMS, load_jwks, verify_jwt
from segur_ris.psc._model import (
    AuthorizationRequest,
    ProviderMetadata,
    PscActivity,
    PscExercice,
    PscTokens,
    PscUser,
    parse_user,
)

__all__ = [
    "ACR_EIDAS1",
    "DEFAULT_SCOPES",
    "PSC_ENVIRONMENTS",
    "PSC_PRODUCTION",
    "PSC_TEST",
    "SIGNING_ALGORITHMS",
    "WALLET_DISCOVERY_PATH",
    "AuthorizationRequest",
    "ClientAuthMethod",
    "ProviderMetadata",
    "PscActivity",
    "PscClient",
    "PscConfig",
    "PscEnvironment",
    "PscExercice",
    "PscTokens",
    "PscUser",
    "load_jwks",
    "parse_user",
    "tls_adapter",
    "verify_jwt",
]
