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
import functools
import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
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

    def with_endpoints(self, **urls: str | None) -> Settings:
        """A copy whose endpoints are replaced by ``urls`` (used by the sandbox and tests)."""
        env = dataclasses.replace(
            self.environment, endpoints=dataclasses.replace(self.environment.endpoints, **urls)
        )
        return dataclasses.replace(self, environment=env)


@functools.cache
def _defaults_text() -> str:
    return resources.files("segur_ris").joinpath("_data/environments.toml").read_text("utf-8")


def _defaults() -> dict[str, Any]:
    """A fresh copy of the shipped defaults (callers merge into it)."""
    return tomllib.loads(_defaults_text())


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
            target = env_section.setdefault(section, {})
        elif section in ("lps", "structure"):
            target = data.setdefault(section, {})
        else:
            continue
        _table(target, section)[key] = value


def _table(value: Any, where: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise ConfigError(f"{where} doit être une table TOML, pas {type(value).__name__}")
    return value


def _build(cls: type[Any], values: Any, where: str) -> Any:
    values = _table(values, where)
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = set(values) - names
    if unknown:
        raise ConfigError(f"clé(s) inconnue(s) dans {where}: {', '.join(sorted(unknown))}")
    for key, value in values.items():
        if not isinstance(value, str):
            raise ConfigError(f"{where}.{key} doit être une chaîne, pas {type(value).__name__}")
    missing = [
        f.name
        for f in dataclasses.fields(cls)
        if f.name not in values and f.default is dataclasses.MISSING
    ]
    if missing:
        raise ConfigError(f"{where} incomplet: {', '.join(missing)} manquant(s)")
    return cls(**values)


def _read_toml(path: str | os.PathLike[str]) -> dict[str, Any]:
    try:
        with Path(path).open("rb") as fh:
            return tomllib.load(fh)
    except OSError as exc:
        raise ConfigError(f"fichier de configuration illisible: {path}: {exc.strerror}") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError, ValueError) as exc:
        raise ConfigError(f"fichier de configuration TOML invalide: {path}: {exc}") from None
    except TypeError:
        raise ConfigError(f"chemin de configuration invalide: {path!r}") from None


def load_settings(
    path: str | os.PathLike[str] | None = None,
    *,
    env: str | None = None,
    environ: Mapping[str, str] | None = None,
) -> Settings:
    """Load :class:`Settings` from the shipped defaults, a TOML file and environment variables.

    ``env`` (else ``$SEGUR_RIS_ENV``, else ``demo``) chooses the environment; ``path`` (else
    ``$SEGUR_RIS_CONFIG``) names the vendor's TOML file; ``environ`` defaults to ``os.environ``.
    Only the ``demo`` environment has default LPS and structure identifiers: ``production`` and
    ``test`` need the vendor's own (``[lps]``, ``[structure]``), else :class:`ConfigError`.
    """
    environ = os.environ if environ is None else environ
    data = _defaults()
    path = path or environ.get("SEGUR_RIS_CONFIG")
    if path:
        vendor = _read_toml(path)
        unknown = set(vendor) - {"environments", "lps", "structure"}
        if unknown:
            raise ConfigError(f"table(s) inconnue(s) dans {path}: {', '.join(sorted(unknown))}")
        environments = _table(vendor.get("environments", {}), "environments")
        for name, section in environments.items():
            _table(section, f"environments.{name}")
        data = _merge(data, vendor)
    environments = data["environments"]
    env_name = env or environ.get("SEGUR_RIS_ENV") or "demo"
    if env_name not in environments:
        known = ", ".join(sorted(environments))
        raise ConfigError(f"environnement inconnu {env_name!r} (connus: {known})")
    raw = _table(environments[env_name], f"environments.{env_name}")
    # identifiers: the environment's defaults (demo only), then the vendor's top-level tables
    for section in ("lps", "structure"):
        data[section] = _merge(
            _table(raw.pop(section, {}), f"environments.{env_name}.{section}"),
            _table(data.get(section, {}), section),
        )
    _apply_environ(data, env_name, environ)
    where = f"environments.{env_name}"
    description = raw.pop("description", "")
    unknown = set(raw) - {"ins", "endpoints"}
    if unknown:
        raise ConfigError(f"clé(s) inconnue(s) dans {where}: {', '.join(sorted(unknown))}")
    environment = Environment(
        name=env_name,
        description=str(description),
        ins=_build(InsOids, raw.get("ins", {}), f"{where}.ins"),
        endpoints=_build(Endpoints, raw.get("endpoints", {}), f"{where}.endpoints"),
    )
    return Settings(
        environment=environment,
        lps=_build(LpsIdentity, data["lps"], "lps"),
        structure=_build(Structure, data["structure"], "structure"),
    )
