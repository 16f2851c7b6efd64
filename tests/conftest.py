"""Shared fixtures: locating the official reference data (../shared/ref)."""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from segur_ris.sandbox import InsiSandbox, TestPki, generate_test_pki

REPO_ROOT = Path(__file__).resolve().parent.parent


def _missing(message: str) -> None:
    """Missing reference data: a failure in CI (``CI=true``), a skip elsewhere."""
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(message)
    pytest.skip(message)


def _ref_root() -> Path:
    override = os.environ.get("SEGUR_RIS_REF")
    return Path(override) if override else REPO_ROOT.parent / "shared" / "ref"


@pytest.fixture(scope="session")
def ref_dir() -> Path:
    """The reference data folder. Missing data skips locally and fails in CI (CI=true)."""
    root = _ref_root()
    if not root.is_dir():
        _missing(f"reference data not found at {root} (set SEGUR_RIS_REF)")
    return root


def ref_file(ref_dir: Path, relative: str) -> Path:
    """A file of the reference data; fails in CI and skips locally when absent."""
    path = ref_dir / relative
    if not path.is_file():
        _missing(f"reference file missing: {path}")
    return path


@pytest.fixture(scope="session")
def pki(tmp_path_factory: pytest.TempPathFactory) -> TestPki:
    """A test PKI (CA, server certificate, INSI-AUTO / INSI-MANU / AUTRE client certificates)."""
    return generate_test_pki(tmp_path_factory.mktemp("pki"))


@pytest.fixture(scope="session")
def _insi_sandbox_running(pki: TestPki) -> Iterator[InsiSandbox]:
    with InsiSandbox(pki) as running:
        yield running


@pytest.fixture()
def insi_sandbox(_insi_sandbox_running: InsiSandbox) -> Iterator[InsiSandbox]:
    """The sandbox INSi on 127.0.0.1 over mutual TLS, shared by the session, with no delay."""
    _insi_sandbox_running.delay = 0.0
    yield _insi_sandbox_running
    _insi_sandbox_running.delay = 0.0


@pytest.fixture(scope="session")
def cda_validator(ref_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Any:
    """One CdaValidator (XSD + ANS schematrons) for the session: compiling the schematrons
    costs seconds, so the test modules share it and its cache."""
    from segur_ris.cda import CdaValidator

    kit = ref_dir / "cda" / "ansforge-TestContenuCDA-3-0"
    if not kit.is_dir():
        _missing(f"TestContenuCDA kit missing: {kit}")
    return CdaValidator(kit, cache_dir=tmp_path_factory.mktemp("schematron-cache"))


SAML_NS = "urn:oasis:names:tc:SAML:2.0:assertion"


def xmlsec1() -> str:
    """Path of ``xmlsec1``, the XML-DSig peer; missing: a failure in CI, a skip elsewhere."""
    path = shutil.which("xmlsec1")
    if path is None:
        _missing("xmlsec1 missing (apt-get install xmlsec1)")
    assert path is not None
    return path


def xmlsec1_verify_vihf(tmp_path: Path, xml: bytes, ca: Path) -> subprocess.CompletedProcess[str]:
    """``xmlsec1 --verify`` of a signed VIHF assertion (``ID`` attributes) against ``ca``."""
    target = tmp_path / "vihf.xml"
    target.write_bytes(xml)
    return subprocess.run(
        [xmlsec1(), "--verify", "--id-attr:ID", f"{SAML_NS}:Assertion", "--trusted-pem", str(ca),
         str(target)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )  # fmt: skip
