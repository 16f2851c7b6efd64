"""pytest fixtures for a vendor's own tests: the segur_ris sandbox as a fixture.

Enable them in a ``conftest.py``::

    pytest_plugins = ["segur_ris.testing"]

    def test_submit(segur_sandbox):
        url = segur_sandbox.dmp.url  # the sandbox DMP over mutual TLS on 127.0.0.1
        ...

``segur_sandbox`` is session-scoped: the test PKIs are generated and the services started once
per test run, in a pytest temporary folder, and stopped at the end.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from segur_ris.sandbox import SandboxSuite

__all__ = ["segur_sandbox"]


@pytest.fixture(scope="session")
def segur_sandbox(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SandboxSuite]:
    """Every sandbox service, started once for the session (see :class:`SandboxSuite`)."""
    with SandboxSuite(tmp_path_factory.mktemp("segur-ris-sandbox")) as suite:
        yield suite
