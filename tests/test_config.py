"""Configuration as data: shipped environments, vendor TOML, environment variables."""

from __future__ import annotations

from pathlib import Path

import pytest

from segur_ris.codes import OID_INS_NIA, OID_INS_NIR, OID_INS_NIR_DEMO, OID_INS_NIR_TEST
from segur_ris.config import ENVIRONMENT_NAMES, load_settings
from segur_ris.errors import ConfigError

VENDOR = {
    "SEGUR_RIS_LPS_NAME": "MonRIS",
    "SEGUR_RIS_LPS_VERSION": "4.2",
    "SEGUR_RIS_LPS_IDAM": "IDAM-42",
    "SEGUR_RIS_STRUCTURE_ID": "123456789",
}


def test_real_environments_need_the_vendor_identifiers() -> None:
    """Production and test never fall back on the demo LPS/structure identifiers."""
    for env in ("production", "test"):
        with pytest.raises(ConfigError, match="lps incomplet"):
            load_settings(env=env, environ={})
    demo = load_settings(env="demo", environ={})
    assert demo.lps.idam == "DEMO-IDAM"
    real = load_settings(env="test", environ=VENDOR)
    assert (real.lps.idam, real.structure.id) == ("IDAM-42", "123456789")


@pytest.mark.parametrize(
    ("env", "oid_nir"),
    [("production", OID_INS_NIR), ("test", OID_INS_NIR_TEST), ("demo", OID_INS_NIR_DEMO)],
)
def test_shipped_environments(env: str, oid_nir: str) -> None:
    settings = load_settings(env=env, environ=VENDOR)
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
    assert load_settings(environ={**VENDOR, "SEGUR_RIS_ENV": "test"}).environment.name == "test"


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
        env="test",
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
        ("[strucure]\nid = 'x'\n", r"table\(s\) inconnue"),
        ('environments = "demo"\n', "table TOML"),
        ("environments = 5\n", "table TOML"),
        ('environments = ["demo"]\n', "table TOML"),
        ("[environments]\ndemo = 5\n", "table TOML"),
        ("lps = 5\n", "table TOML"),
        ("lps = [1, 2]\n", "table TOML"),
        ("[environments.demo]\nins = 'x'\n", "table TOML"),
        ("[environments.demo]\ntypo = 'x'\n", "inconnue"),
    ],
)
def test_bad_configuration(tmp_path: Path, content: str, needle: str) -> None:
    toml = tmp_path / "bad.toml"
    toml.write_text(content, encoding="utf-8")
    with pytest.raises(ConfigError, match=needle):
        load_settings(toml, environ={})


def test_unreadable_files_and_paths(tmp_path: Path) -> None:
    latin1 = tmp_path / "latin1.toml"
    latin1.write_bytes("[lps]\nname = 'Hôpital'\n".encode("latin-1"))
    with pytest.raises(ConfigError, match="TOML invalide"):
        load_settings(latin1, environ={})
    with pytest.raises(ConfigError):
        load_settings(str(tmp_path / "a\x00b.toml"), environ={})
    with pytest.raises(ConfigError, match="chemin"):
        load_settings(5, environ={})  # type: ignore[arg-type]


def test_unknown_environment_and_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="inconnu"):
        load_settings(env="staging", environ={})
    with pytest.raises(ConfigError, match="illisible"):
        load_settings(tmp_path / "missing.toml", environ={})
    with pytest.raises(ConfigError, match="dmp"):
        load_settings(env="demo", environ={}).environment.endpoints.require("dmp")
