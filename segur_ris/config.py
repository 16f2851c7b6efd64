"""Configuration as data: national environments, endpoints, LPS and structure identifiers.

Three environments ship with the SDK (``production``, ``test``, ``demo``), defined in
``segur_ris/_data/environments.toml``. A vendor layers its own values on top, lowest first:

1. the shipped defaults;
2. a TOML file (``load_settings(path)`` or ``$SEGUR_RIS_CONFIG``) with the same layout;
3. environment variables ``SEGUR_RIS_<SECTION>_<KEY>`` (``SEGUR_RIS_LPS_IDAM``,
   ``SEGUR_RIS_ENDPOINTS_INSI``, ``SEGUR_RIS_INS_OID_NIR``…) and ``SEGUR_RIS_ENV`` to choose
   the environment.

No OID or URL lives in the SDK's logic: code reads them from :class:`Settings`.
"""

from __future__ import annotations

import dataclasses
import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from segur_ris.errors import ConfigError

__all__ = [
    "ENVIRONMENT_NAMES",
    "Endpoints",
    "Environment",
    "InsOids",
    "LpsIdentity",
    "Settings",
    "Structure",
    "load_settings",
]

ENVIRONMENT_NAMES = ("production", "test", "demo")
_ENV_PREFIX = "SEGUR_RIS_"


@dataclass(frozen=True, slots=True)
class InsOids:
    """OIDs of the INS assigning authorities used by an environment when exporting an INS."""

    oid_nir: str
    oid_nia: str

    def for_kind(self, kind: str) -> str:
        """The OID for an INS of ``kind`` (``"NIR"`` or ``"NIA"``) in this environment."""
        return self.oid_nia if kind == "NIA" else self.oid_nir


@dataclass(frozen=True, slots=True)
class Endpoints:
    """Base URLs of the national services; ``None`` where the environment has none (yet)."""

    insi: str | None = None
    insi_cps: str | None = None
    dmp: str | None = None
    mssante_smtp: str | None = None
    mssante_imap: str | None = None
    psc: str | None = None

    def require(self, name: str) -> str:
        """The URL of service ``name``, or :class:`ConfigError` when it is not configured."""
        value = getattr(self, name, None)
        if not value:
            raise ConfigError(
                f"aucun point d'accès configuré pour le service {name!r} "
                f"(SEGUR_RIS_ENDPOINTS_{name.upper()} ou section [environments.<env>.endpoints])"
            )
        return str(value)


@dataclass(frozen=True, slots=True)
class Environment:
    """A national environment: INS OIDs and service endpoints."""

    name: str
    description: str
    ins: InsOids
    endpoints: Endpoints


@dataclass(frozen=True, slots=True)
class LpsIdentity:
    """Identifiers of the software (logiciel de professionnel de santé) given by the CNDA/ANS."""

    name: str
    version: str
    idam: str
    idam_r: str = "4"
    instance: str = ""
    dmp_homologation: str = ""
    nil: str = ""


@dataclass(frozen=True, slots=True)
class Structure:
    """The healthcare structure running the RIS (``Emetteur`` of the INSi contexts…)."""

    id: str
    name: str = ""


@dataclass(frozen=True, slots=True)
class Settings:
    """Everything the SDK needs to talk to one environment."""

    environment: Environment
    lps: LpsIdentity
    structure: Structure
    extra: Mapping[str, Any] = field(default_factory=dict)

    def with_endpoints(self, **urls: str | None) -> Settings:
        """A copy whose endpoints are replaced by ``urls`` (used by the sandbox and tests)."""
        env = dataclasses.replace(
            self.environment, endpoints=dataclasses.replace(self.environment.endpoints, **urls)
        )
        return dataclasses.replace(self, environment=env)


def _defaults() -> dict[str, Any]:
    text = resources.files("segur_ris").joinpath("_data/environments.toml").read_text("utf-8")
    return tomllib.loads(text)


def _merge(base: dict[str, Any], override: Mapping[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in override.items():
        if isinstance(value, Mapping) and isinstance(out.get(key), dict):
            out[key] = _merge(out[key], value)
        else:
            out[key] = value
    return out


def _apply_environ(data: dict[str, Any], env_name: str, environ: Mapping[str, str]) -> None:
    """Apply ``SEGUR_RIS_<SECTION>_<KEY>`` variables; sections of the chosen environment
    (``INS``, ``ENDPOINTS``) and top-level sections (``LPS``, ``STRUCTURE``)."""
    env_section = data["environments"][env_name]
    for var, value in environ.items():
        if not var.startswith(_ENV_PREFIX) or var in ("SEGUR_RIS_ENV", "SEGUR_RIS_CONFIG"):
            continue
        rest = var[len(_ENV_PREFIX) :].lower()
        section, _, key = rest.partition("_")
        if not key:
            continue
        if section in ("ins", "endpoints"):
            env_section.setdefault(section, {})[key] = value
        elif section in ("lps", "structure"):
            data.setdefault(section, {})[key] = value


def _build(cls: type[Any], values: Mapping[str, Any], where: str) -> Any:
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = set(values) - names
    if unknown:
        raise ConfigError(f"clé(s) inconnue(s) dans {where}: {', '.join(sorted(unknown))}")
    for key, value in values.items():
        if not isinstance(value, str):
            raise ConfigError(f"{where}.{key} doit être une chaîne, pas {type(value).__name__}")
    try:
        return cls(**values)
    except TypeError as exc:
        raise ConfigError(f"{where} incomplet: {exc}") from None


def load_settings(
    path: str | os.PathLike[str] | None = None,
    *,
    env: str | None = None,
    environ: Mapping[str, str] | None = None,
) -> Settings:
    """Load :class:`Settings` from the shipped defaults, a TOML file and environment variables.

    ``env`` (else ``$SEGUR_RIS_ENV``, else ``demo``) chooses the environment; ``path`` (else
    ``$SEGUR_RIS_CONFIG``) names the vendor's TOML file; ``environ`` defaults to ``os.environ``.
    """
    environ = os.environ if environ is None else environ
    data = _defaults()
    path = path or environ.get("SEGUR_RIS_CONFIG")
    if path:
        try:
            with Path(path).open("rb") as fh:
                data = _merge(data, tomllib.load(fh))
        except OSError as exc:
            raise ConfigError(
                f"fichier de configuration illisible: {path}: {exc.strerror}"
            ) from None
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"fichier de configuration TOML invalide: {path}: {exc}") from None
    env_name = env or environ.get("SEGUR_RIS_ENV") or "demo"
    if env_name not in data.get("environments", {}):
        known = ", ".join(sorted(data.get("environments", {})))
        raise ConfigError(f"environnement inconnu {env_name!r} (connus: {known})")
    _apply_environ(data, env_name, environ)
    raw = data["environments"][env_name]
    environment = Environment(
        name=env_name,
        description=str(raw.get("description", "")),
        ins=_build(InsOids, raw.get("ins", {}), f"environments.{env_name}.ins"),
        endpoints=_build(Endpoints, raw.get("endpoints", {}), f"environments.{env_name}.endpoints"),
    )
    extra = {k: v for k, v in data.items() if k not in ("environments", "lps", "structure")}
    return Settings(
        environment=environment,
        lps=_build(LpsIdentity, data.get("lps", {}), "lps"),
        structure=_build(Structure, data.get("structure", {}), "structure"),
        extra=extra,
    )
