"""Shared fixtures: locating the official reference data (../shared/ref)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parent.parent


def _ref_root() -> Path:
    override = os.environ.get("SEGUR_RIS_REF")
    return Path(override) if override else REPO_ROOT.parent / "shared" / "ref"


@pytest.fixture(scope="session")
def ref_dir() -> Path:
    """The reference data folder. Missing data skips locally and fails in CI (CI=true)."""
    root = _ref_root()
    if not root.is_dir():
        message = f"reference data not found at {root} (set SEGUR_RIS_REF)"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(message)
        pytest.skip(message)
    return root


def ref_file(ref_dir: Path, relative: str) -> Path:
    """A file of the reference data; fails in CI and skips locally when absent."""
    path = ref_dir / relative
    if not path.is_file():
        message = f"reference file missing: {path}"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(message)
        pytest.skip(message)
    return path
