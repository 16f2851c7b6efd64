"""Configuration as data: shipped environments, vendor TOML, environment variables."""

from __future__ import annotations

from pathlib import Path

import pytest

from segur_ris.codes import OID_INS_NIA, OID_INS_NIR, OID_INS_NIR_DEMO, OID_INS_NIR_TEST
from segur_ris.config import ENVIRONMENT_NAMES, load_settings
from segur_ris.errors import ConfigError


@pytest.mark.parametrize(
    ("env", "oid_nir"),
    [("production", OID_INS_NIR), ("test", OID_INS_NIR_TEST), ("demo", OID_INS_NIR_DEMO)],
)
def test_shipped_environments(env: str, oid_nir: str) -> None:
    settings = load_settings(env=env, environ={})
    assert settings.environment.name == env
    assert settings.environment.ins.oid_nir == oid_nir
    assert settings.environment.ins.oid_nia == OID_INS_NIA
    assert settings.environment.ins.for_kind("NIA") == OID_INS_NIA
    assert settings.environment.ins.for_kind("NIR") == oid_nir
    if env == "demo":  # the sandbox sets its endpoints when it starts
        assert settings.environment.endpoints.insi is None
    else:
        assert (settings.environment.endpoints.insi or "").startswith("https://")
    assert set(ENVIRONMENT_NAMES) >= {env}


def test_default_environment_is_demo_and_env_var_selects() -> None:
    assert load_settings(environ={}).environment.name == "demo"
    assert load_settings(environ={"SEGUR_RIS_ENV": "test"}).environment.name == "test"


def test_vendor_toml_and_environment_variables(tmp_path: Path) -> None:
    toml = tmp_path / "vendor.toml"
    toml.write_text(
        '[lps]\nname = "MonRIS"\nversion = "4.2"\nidam = "IDAM-CNDA-42"\n'
        '[structure]\nid = "123456789"\n'
        '[environments.test.endpoints]\ninsi = "https://insi.example.test/lps"\n',
        encoding="utf-8",
    )
    settings = load_settings(toml, env="test", environ={"SEGUR_RIS_LPS_VERSION": "4.3"})
    assert (settings.lps.name, settings.lps.version, settings.lps.idam) == (
        "MonRIS",
        "4.3",
        "IDAM-CNDA-42",
    )
    assert settings.structure.id == "123456789"
    assert settings.environment.endpoints.require("insi") == "https://insi.example.test/lps"
    via_env = load_settings(
        env="production",
        environ={
            "SEGUR_RIS_CONFIG": str(toml),
            "SEGUR_RIS_ENDPOINTS_INSI": "https://x/lps",
            "SEGUR_RIS_INS_OID_NIR": "1.2.3",
        },
    )
    assert via_env.lps.name == "MonRIS"
    assert via_env.environment.endpoints.insi == "https://x/lps"
    assert via_env.environment.ins.oid_nir == "1.2.3"


def test_with_endpoints_returns_a_copy() -> None:
    demo = load_settings(env="demo", environ={})
    other = demo.with_endpoints(insi="https://127.0.0.1:1/lps")
    assert other.environment.endpoints.insi == "https://127.0.0.1:1/lps"
    assert demo.environment.endpoints.insi is None


@pytest.mark.parametrize(
    ("content", "needle"),
    [
        ("[lps]\nunknown_key = 'x'\n", "inconnue"),
        ("[lps]\nversion = 3\n", "chaîne"),
        ("[lps\n", "TOML invalide"),
        ("[environments.demo.ins]\nbad = 'x'\n", "inconnue"),
    ],
)
def test_bad_configuration(tmp_path: Path, content: str, needle: str) -> None:
    toml = tmp_path / "bad.toml"
    toml.write_text(content, encoding="utf-8")
    with pytest.raises(ConfigError, match=needle):
        load_settings(toml, environ={})


def test_unknown_environment_and_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="inconnu"):
        load_settings(env="staging", environ={})
    with pytest.raises(ConfigError, match="illisible"):
        load_settings(tmp_path / "missing.toml", environ={})
    with pytest.raises(ConfigError, match="dmp"):
        load_settings(env="demo", environ={}).environment.endpoints.require("dmp")
