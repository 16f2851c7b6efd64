"""``segur-ris certs inspect`` / ``make-test-pki`` (segur_ris.cli._certs)."""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from segur_ris.certificates import IgcTestPki, generate_igc_test_pki
from segur_ris.cli import _certs
from segur_ris.errors import CertificateError, ConfigError


def run(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="segur-ris")
    _certs.register(parser.add_subparsers(dest="command"))
    args = parser.parse_args(argv)
    return int(args.handler(args))


@pytest.fixture(scope="module")
def igc(tmp_path_factory: pytest.TempPathFactory) -> IgcTestPki:
    return generate_igc_test_pki(tmp_path_factory.mktemp("igc"), structure_id="10B0127189")


def inspect_json(capsys: pytest.CaptureFixture[str], argv: list[str]) -> tuple[int, Any, str]:
    code = run(["certs", "inspect", *argv, "--json"])
    out = capsys.readouterr().out
    return code, json.loads(out), out


def test_make_test_pki(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    target = tmp_path / "pki"
    argv = ["certs", "make-test-pki", str(target), "--structure-id", "10B0999999", "--json"]
    assert run(argv) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["structure_id"] == "10B0999999"
    assert Path(summary["manifest"]).is_file()
    assert Path(summary["entries"]["org-auth-cli"]["p12"]).is_file()
    assert run(["certs", "make-test-pki", str(tmp_path / "text")]) == 0
    text = capsys.readouterr().out
    assert "non officielle" in text and "org-sign.p12" in text


def test_inspect_p12_never_shows_secrets(
    igc: IgcTestPki, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("P12_PASS", igc.p12_password.decode())
    entry = igc["org-auth-cli"]
    code, report, out = inspect_json(capsys, [str(entry.p12), "--password-env", "P12_PASS"])
    assert code == 0
    assert report["structure_id"] == "10B0127189"
    assert report["role"] == "AUTH_CLI" and report["insi_cn"] is None
    assert report["key_usage"] == ["digital_signature"]
    assert report["extended_key_usage"] == ["clientAuth"]
    assert len(report["chain"]) == 2
    assert igc.p12_password.decode() not in out and "PRIVATE" not in out
    # Plain text form, password from a file.
    password_file = igc.directory / "password.txt"
    password_file.write_bytes(igc.p12_password + b"\n")
    argv = ["certs", "inspect", str(igc["insi-auto"].p12), "--password-file", str(password_file)]
    assert run(argv) == 0
    text = capsys.readouterr().out
    assert "INSI-AUTO" in text and igc.p12_password.decode() not in text


def test_inspect_with_trust_and_crl(igc: IgcTestPki, capsys: pytest.CaptureFixture[str]) -> None:
    trust = ["--trust", str(igc.ca_bundle), "--crl", str(igc.crl)]
    code, report, _ = inspect_json(capsys, [str(igc["org-sign"].cert), *trust])
    assert code == 0 and report["valid"] is True
    assert report["checks"]["trust"] == "ok"
    assert report["checks"]["revocation"].startswith("non révoqué")
    code, report, _ = inspect_json(capsys, [str(igc["org-auth-cli-revoked"].cert), *trust])
    assert code == 1 and "révoqué" in report["checks"]["revocation"]
    code, report, _ = inspect_json(capsys, [str(igc["server-expired"].cert), *trust])
    assert code == 1 and "expiré" in report["checks"]["validity"]
    other = generate_igc_test_pki(igc.directory / "other", key_set=1)
    code, report, _ = inspect_json(
        capsys, [str(other["org-auth-cli"].chain), "--trust", str(igc.root_cert)]
    )
    assert code == 1 and "untrusted" in report["checks"]["trust"]


def test_inspect_errors(igc: IgcTestPki, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BAD_PASS", "wrong")
    with pytest.raises(CertificateError) as info:
        run(["certs", "inspect", str(igc["org-sign"].p12), "--password-env", "BAD_PASS"])
    assert info.value.code == "pkcs12_password"
    assert "wrong" not in str(info.value)
    with pytest.raises(ConfigError):
        run(["certs", "inspect", str(igc["org-sign"].p12), "--password-env", "NOT_SET_XYZ"])
    with pytest.raises(ConfigError):
        run(["certs", "inspect", str(igc.directory / "absent.p12")])


def test_inspect_unreadable_files(tmp_path: Path) -> None:
    """A damaged PEM or an unknown format is a typed error, not a traceback."""
    bad_pem = tmp_path / "bad.pem"
    bad_pem.write_text("-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n")
    with pytest.raises(CertificateError) as info:
        run(["certs", "inspect", str(bad_pem)])
    assert info.value.code == "certificate_format"
    garbage = tmp_path / "garbage.bin"
    garbage.write_bytes(b"ni PEM ni DER ni PKCS#12")
    with pytest.raises(CertificateError) as info:
        run(["certs", "inspect", str(garbage)])
    assert info.value.code == "pkcs12_format"


def test_cli_module_imports_no_heavy_dependency() -> None:
    code = (
        "import sys; import segur_ris.cli._certs; "
        "print(sorted(m for m in ('cryptography', 'requests', 'lxml') if m in sys.modules))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    assert result.stdout.strip() == "[]"
