"""The whole sandbox at once: SandboxSuite, `segur-ris sandbox serve`, the pytest plugin."""

from __future__ import annotations

import json
import os
import signal
import socket
import ssl
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

from segur_ris.errors import ConfigError
from segur_ris.sandbox import SANDBOX_SERVICES, SandboxSuite

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def suite(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SandboxSuite]:
    with SandboxSuite(tmp_path_factory.mktemp("suite")) as running:
        yield running


def _tls_hello(url: str, ca: str, cert: str | None = None, key: str | None = None) -> str:
    """TLS handshake with the service; returns the negotiated protocol version."""
    host, port = url.split("//", 1)[1].split("/", 1)[0].rsplit(":", 1)
    context = ssl.create_default_context(cafile=ca)
    if cert and key:
        context.load_cert_chain(cert, key)
    with (
        socket.create_connection((host, int(port)), timeout=5) as raw,
        context.wrap_socket(raw, server_hostname=host) as tls,
    ):
        return str(tls.version())


def test_describe_lists_every_service_with_reachable_endpoints(suite: SandboxSuite) -> None:
    description = suite.describe()
    assert set(description["services"]) == set(SANDBOX_SERVICES)
    for path in (description["trust"]["server_ca"], description["structure"]["sign"]["p12"]):
        assert Path(path).is_file()
    insi = description["services"]["insi"]
    auto = insi["client_certificates"]["INSI-AUTO"]
    assert insi["url"].startswith("https://127.0.0.1:")
    assert _tls_hello(insi["url"], description["trust"]["server_ca"], auto["cert"], auto["key"])
    psc = description["services"]["psc"]
    assert psc["issuer"].endswith("/auth/realms/esante-wallet")
    assert "radiologue" in psc["login_hints"]
    # no private key content in the description, only paths
    assert "PRIVATE KEY" not in json.dumps(description)


def test_insi_and_dmp_answer_through_the_suite(suite: SandboxSuite) -> None:
    from segur_ris.config import load_settings
    from segur_ris.dmp import DmpClient
    from segur_ris.vihf import VihfContext

    settings = load_settings(env="demo", environ={}).with_endpoints(dmp=suite.dmp.url)
    org = suite.org
    client = DmpClient(
        settings,
        vihf=VihfContext.for_automate(
            settings, secteur_activite="SA07^1.2.250.1.71.4.2.4", responsible_id=org.structure_id
        ),
        sign_credential=org.sign.credential,
        client_cert=(org.auth_cli.cert, org.auth_cli.key),
        ca_bundle=suite.pki.ca_cert,
    )
    with client:
        status = client.exists("279035121518989")
    assert status.exists


def test_unknown_service_is_refused() -> None:
    with pytest.raises(ConfigError, match="inconnu"):
        SandboxSuite(services=("insi", "pacs"))


def test_temporary_folder_is_removed_on_stop() -> None:
    with SandboxSuite(services=("insi",)) as running:
        root = running.root
        assert root is not None and root.is_dir()
        assert running.dmp is None
    assert not root.exists()


def test_cli_sandbox_serve_prints_endpoints_and_stops_on_sigint(tmp_path: Path) -> None:
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    process = subprocess.Popen(
        [
            *(sys.executable, "-m", "segur_ris", "sandbox", "serve", "--dir", str(tmp_path)),
            *("--services", "insi", "--json"),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        assert process.stdout is not None
        line = process.stdout.readline()
        description = json.loads(line)
        url = description["services"]["insi"]["url"]
        auto = description["services"]["insi"]["client_certificates"]["INSI-AUTO"]
        assert _tls_hello(url, description["trust"]["server_ca"], auto["cert"], auto["key"])
        process.send_signal(signal.SIGINT)
        assert process.wait(timeout=20) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        for stream in (process.stdout, process.stderr):
            if stream is not None:
                stream.close()
    # the port is released
    port = int(url.rsplit(":", 1)[1].split("/", 1)[0])
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", port))


def test_pytest_plugin_gives_a_running_sandbox(tmp_path: Path) -> None:
    (tmp_path / "conftest.py").write_text('pytest_plugins = ["segur_ris.testing"]\n')
    (tmp_path / "test_vendor.py").write_text(
        textwrap.dedent(
            """
            def test_vendor(segur_sandbox):
                assert segur_sandbox.dmp.url.startswith("https://127.0.0.1:")
                assert segur_sandbox.insi.url.endswith("/lps")
            """
        )
    )
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(tmp_path)],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=100,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "1 passed" in result.stdout


def test_mssante_and_worklist_of_the_suite_answer(suite: SandboxSuite) -> None:
    import smtplib

    from pynetdicom import AE

    from segur_ris.dicom import MODALITY_WORKLIST_FIND
    from segur_ris.tls import client_context

    description = suite.describe()["services"]
    smtp = description["mssante"]["smtp"]
    with smtplib.SMTP(smtp["host"], smtp["port"], timeout=10) as client:
        client.starttls(context=client_context(trust=suite.pki.ca_cert, check_hostname=False))
        code, features = client.ehlo()
        assert code == 250
        assert b"DSN" in features
    mwl = description["mwl"]
    ae = AE(ae_title="MODALITY")
    ae.add_requested_context(MODALITY_WORKLIST_FIND)
    association = ae.associate(mwl["host"], mwl["port"], ae_title=mwl["ae_title"])
    try:
        assert association.is_established
    finally:
        association.release()
        ae.shutdown()
