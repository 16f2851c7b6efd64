"""Pro Santé Connect environments and client configuration, as data.

Issuers are those of the ANS Keycloak realm ``esante-wallet`` (notes §5, ANS
``keycloak-prosanteconnect`` ``psc.properties``): ``test`` is the *bac à sable* (BAS) of the
ANS, ``production`` the real service. PSC publishes its discovery document at the non-standard
path ``/.well-known/wallet-openid-configuration`` under the issuer.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import TYPE_CHECKING, Literal
from urllib.parse import urlsplit

from segur_ris.errors import ConfigError

if TYPE_CHECKING:
    from segur_ris.config import Settings

__all__ = [
    "ACR_EIDAS1",
    "DEFAULT_SCOPES",
    "PSC_ENVIRONMENTS",
    "PSC_PRODUCTION",
    "PSC_TEST",
    "WALLET_DISCOVERY_PATH",
    "ClientAuthMethod",
    "PscConfig",
    "PscEnvironment",
]

#: Discovery path of Pro Santé Connect (instead of ``/.well-known/openid-configuration``).
WALLET_DISCOVERY_PATH = "/.well-known/wallet-openid-configuration"
#: The only authentication level the PSC provider supports (checked in the ID token ``acr``).
ACR_EIDAS1 = "eidas1"
#: ``scope`` of a PSC authorization request (``scope_all``: every PSC claim, SubjectRefPro…).
DEFAULT_SCOPES: tuple[str, ...] = ("openid", "scope_all")

ClientAuthMethod = Literal["client_secret_basic", "client_secret_post", "tls_client_auth"]
_AUTH_METHODS: tuple[str, ...] = ("client_secret_basic", "client_secret_post", "tls_client_auth")


def _check_url(url: str, what: str, *, allow_http: bool = False) -> None:
    parts = urlsplit(url)
    schemes = ("https", "http") if allow_http else ("https",)
    if parts.scheme not in schemes or not parts.hostname:
        raise ConfigError(f"PSC: {what} doit être une URL {'/'.join(schemes)}: {url!r}")


@dataclass(frozen=True, slots=True)
class PscEnvironment:
    """One Pro Santé Connect environment: its ``issuer`` and discovery document URL."""

    name: str
    issuer: str
    discovery_path: str = WALLET_DISCOVERY_PATH

    def __post_init__(self) -> None:
        _check_url(self.issuer, "issuer")

    @property
    def discovery_url(self) -> str:
        """``<issuer>/.well-known/wallet-openid-configuration``."""
        return self.issuer.rstrip("/") + self.discovery_path


#: Pro Santé Connect production (``auth.esw.esante.gouv.fr``).
PSC_PRODUCTION = PscEnvironment(
    "production", "https://auth.esw.esante.gouv.fr/auth/realms/esante-wallet"
)
#: Pro Santé Connect bac à sable of the ANS (BAS, ``auth.bas.psc.esante.gouv.fr``).
PSC_TEST = PscEnvironment("test", "https://auth.bas.psc.esante.gouv.fr/auth/realms/esante-wallet")
#: The environments by name (``production``, ``test``), like ``segur_ris.config``'s.
PSC_ENVIRONMENTS: Mapping[str, PscEnvironment] = MappingProxyType(
    {env.name: env for env in (PSC_PRODUCTION, PSC_TEST)}
)


@dataclass(frozen=True, slots=True)
class PscConfig:
    """What a RIS registered at the ANS for Pro Santé Connect.

    * ``issuer``: the provider (:data:`PSC_PRODUCTION`/:data:`PSC_TEST` ``.issuer``, or a
      sandbox's); the discovery document is read at ``issuer + discovery_path``;
    * ``client_id`` / ``client_secret`` (never shown by ``repr``) and ``auth_method``
      (``client_secret_basic``, ``client_secret_post``, or ``tls_client_auth`` with the
      client certificate given to :class:`~segur_ris.psc.PscClient`);
    * ``redirect_uri``: the callback registered for the client;
    * ``scopes`` / ``acr_values``: ``openid scope_all`` and ``eidas1`` for PSC;
    * ``leeway``: clock skew tolerated on ``exp``/``iat`` (seconds); ``timeout`` per request.
    """

    issuer: str
    client_id: str
    redirect_uri: str
    client_secret: str | None = field(default=None, repr=False)
    auth_method: ClientAuthMethod = "client_secret_basic"
    scopes: tuple[str, ...] = DEFAULT_SCOPES
    acr_values: str = ACR_EIDAS1
    discovery_path: str = WALLET_DISCOVERY_PATH
    leeway: int = 30
    timeout: float = 15.0

    def __post_init__(self) -> None:
        _check_url(self.issuer, "issuer")
        _check_url(self.redirect_uri, "redirect_uri", allow_http=True)
        if not self.client_id:
            raise ConfigError("PSC: client_id est obligatoire")
        if self.auth_method not in _AUTH_METHODS:
            raise ConfigError(
                f"PSC: méthode d'authentification client inconnue: {self.auth_method!r} "
                f"({', '.join(_AUTH_METHODS)})"
            )
        if self.auth_method != "tls_client_auth" and not self.client_secret:
            raise ConfigError(f"PSC: client_secret est obligatoire avec {self.auth_method}")
        if "openid" not in self.scopes:
            raise ConfigError("PSC: le scope openid est obligatoire")
        if not self.discovery_path.startswith("/"):
            raise ConfigError(f"PSC: discovery_path doit commencer par '/': {self.discovery_path}")
        if self.leeway < 0 or self.timeout <= 0:
            raise ConfigError("PSC: leeway >= 0 et timeout > 0 attendus")

    @classmethod
    def for_environment(
        cls,
        environment: str | PscEnvironment,
        *,
        client_id: str,
        redirect_uri: str,
        **options: object,
    ) -> PscConfig:
        """The configuration of ``client_id`` on a named environment (``production``/``test``)."""
        if isinstance(environment, str):
            try:
                environment = PSC_ENVIRONMENTS[environment]
            except KeyError:
                raise ConfigError(
                    f"PSC: environnement inconnu {environment!r} ({', '.join(PSC_ENVIRONMENTS)})"
                ) from None
        return cls(
            issuer=environment.issuer,
            client_id=client_id,
            redirect_uri=redirect_uri,
            discovery_path=environment.discovery_path,
            **options,  # type: ignore[arg-type]
        )

    @classmethod
    def from_settings(
        cls, settings: Settings, *, client_id: str, redirect_uri: str, **options: object
    ) -> PscConfig:
        """The configuration of ``client_id`` on the environment of ``settings``: the issuer is
        ``endpoints.psc`` when configured, else the built-in issuer of an environment named
        ``production`` or ``test`` (:class:`ConfigError` otherwise, e.g. ``demo``)."""
        environment = settings.environment
        issuer = environment.endpoints.psc
        if not issuer:
            known = PSC_ENVIRONMENTS.get(environment.name)
            if known is None:
                raise ConfigError(
                    f"PSC: pas d'issuer pour l'environnement {environment.name!r} "
                    "(endpoints.psc ou SEGUR_RIS_ENDPOINTS_PSC)"
                )
            issuer = known.issuer
        return cls(issuer=issuer, client_id=client_id, redirect_uri=redirect_uri, **options)  # type: ignore[arg-type]

    @property
    def discovery_url(self) -> str:
        """Where the discovery document is read."""
        return self.issuer.rstrip("/") + self.discovery_path
