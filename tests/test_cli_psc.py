"""``segur-ris psc login`` (segur_ris.cli._psc) on the embedded sandbox provider."""

from __future__ import annotations

import argparse
import json
import logging
import subprocess
import sys
from pathlib import Path

import pytest

from segur_ris.cli import _psc
from segur_ris.errors import ConfigError, PscAuthorizationError, SegurError
from segur_ris.sandbox import TestPki


def _run(argv: list[str]) -> int:
    """Parse ``argv`` with the psc command group and run its handler (as ``segur-ris`` does)."""
    parser = argparse.ArgumentParser(prog="segur-ris")
    _psc.register(parser.add_subparsers(dest="command"))
    args = parser.parse_args(argv)
    return int(args.handler(args))


def test_login_on_the_sandbox(
    capsys: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.DEBUG):
        assert _run(["psc", "login"]) == 0
    out = capsys.readouterr().out
    assert "Marie RADIOLOGUE-SANDBOX" in out
    assert "RPPS 99900018476" in out
    assert "profession 10, savoir-faire SM44" in out
    for word in ("access_token", "Bearer", "eyJ"):  # no token, no JWT
        assert word not in out
        assert word not in caplog.text


def test_login_json_and_hint(capsys: pytest.CaptureFixture[str]) -> None:
    assert _run(["psc", "login", "--login-hint", "manipulateur", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["professions"] == ["98"]
    assert data["national_id"] == "899900024513"
    assert data["exercices"][0]["activities"][0]["structure_id"] == "R10000000001"
    assert not any("token" in key for key in data)


def test_login_errors() -> None:
    with pytest.raises(PscAuthorizationError) as caught:
        _run(["psc", "login", "--login-hint", "personne"])
    assert caught.value.code == "access_denied"
    with pytest.raises(ConfigError):
        _run(["psc", "login", "--issuer", "https://auth.example/realms/x"])
    assert issubclass(ConfigError, SegurError)


def test_cli_module_imports_stay_light() -> None:
    code = (
        "import sys; import segur_ris.cli._psc; "
        "heavy = [m for m in ('authlib', 'joserfc', 'requests', 'cryptography', 'lxml') "
        "if m in sys.modules]; print(','.join(heavy))"
    )
    done = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=True,
        cwd=Path(__file__).resolve().parent.parent,
        timeout=60,
    )
    assert done.stdout.strip() == ""


def test_login_on_a_given_issuer_reads_the_callback_from_stdin(
    pki: TestPki,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """``--issuer``: the authorization URL goes to stderr, the callback URL is read from stdin
    (here the sandbox plays the browser); the secret comes from a file and is never printed."""
    from segur_ris.sandbox._psc import (
        SANDBOX_CLIENT_ID,
        SANDBOX_CLIENT_SECRET,
        SANDBOX_REDIRECT_URI,
        PscSandbox,
    )

    secret = tmp_path / "secret"
    secret.write_text(SANDBOX_CLIENT_SECRET + "\n", encoding="utf-8")
    with PscSandbox(pki) as sandbox:

        class Browser:
            def readline(self) -> str:
                prompt = capsys.readouterr().err
                url = next(line for line in prompt.splitlines() if line.startswith("https://"))
                return sandbox.sign_in(url) + "\n"

        monkeypatch.setattr(sys, "stdin", Browser())
        argv = ["psc", "login", "--issuer", sandbox.issuer, "--client-id", SANDBOX_CLIENT_ID]
        argv += ["--redirect-uri", SANDBOX_REDIRECT_URI, "--client-secret-file", str(secret)]
        argv += ["--ca", str(pki.ca_cert), "--login-hint", "medecin", "--json"]
        assert _run(argv) == 0
    captured = capsys.readouterr()
    assert json.loads(captured.out)["national_id"] == "899900031124"
    assert SANDBOX_CLIENT_SECRET not in captured.out + captured.err
