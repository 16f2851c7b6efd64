"""Shared set-up of the outbox tests: one ORG PKI, one CR-IMG N1 template turned into as many
distinct documents as needed, a sandbox DMP over mutual TLS and DmpClient factories."""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from segur_ris.config import Settings, load_settings
from segur_ris.sandbox import DmpSandbox, OrgPki, TestPki, generate_org_pki

REPO_ROOT = Path(__file__).resolve().parents[1]
#: Patient of examples/report.json.
INS_VALUE = "279035121518989"
SECTEUR = "SA07^1.2.250.1.71.4.2.4"


def pg_dsn() -> str:
    """``SEGUR_RIS_PG_DSN``; unset: a failure in CI (``CI=true``), a skip elsewhere."""
    dsn = os.environ.get("SEGUR_RIS_PG_DSN", "")
    if not dsn:
        message = 'SEGUR_RIS_PG_DSN unset (start PostgreSQL with: eval "$(.ci/postgres.sh)")'
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(message)
        pytest.skip(message)
    return dsn


@dataclass(frozen=True, slots=True)
class CdaFactory:
    """Distinct CDA documents from one template: only ``ClinicalDocument/id`` changes."""

    template: bytes
    template_id: str

    def make(self, unique_id: str | None = None) -> tuple[str, bytes]:
        new_id = unique_id or f"2.25.{uuid.uuid4().int}"
        data = self.template.replace(self.template_id.encode(), new_id.encode(), 1)
        return new_id, data


def make_cda_factory() -> CdaFactory:
    from segur_ris.cda import build_cda_n1
    from segur_ris.pdf import render_report_pdf
    from segur_ris.report import ImagingReport

    data: dict[str, Any] = json.loads((REPO_ROOT / "examples" / "report.json").read_text("utf-8"))
    report = ImagingReport.from_dict(data)
    cda = build_cda_n1(report, render_report_pdf(report, deterministic=True))
    return CdaFactory(cda, report.document_id)


@dataclass(frozen=True, slots=True)
class DmpWorld:
    """What a DmpClient needs to talk to the sandbox."""

    settings: Settings
    org: OrgPki
    pki: TestPki
    url: str

    def client(self, **kwargs: Any) -> Any:
        from segur_ris.dmp import DmpClient
        from segur_ris.vihf import VihfContext

        settings = self.settings.with_endpoints(dmp=self.url)
        vihf = VihfContext.for_automate(
            settings, secteur_activite=SECTEUR, responsible_id=settings.structure.id
        )
        return DmpClient(
            settings,
            vihf=vihf,
            sign_credential=self.org.sign.credential,
            client_cert=(self.org.auth_cli.cert, self.org.auth_cli.key),
            ca_bundle=self.pki.ca_cert,
            **kwargs,
        )

    def config(self) -> dict[str, str]:
        """The paths a worker subprocess needs to build the same client."""
        return {
            "url": self.url,
            "sign_p12": str(self.org.sign.p12),
            "p12_password": self.org.p12_password.decode(),
            "cert": str(self.org.auth_cli.cert),
            "key": str(self.org.auth_cli.key),
            "ca": str(self.pki.ca_cert),
        }


@pytest.fixture(scope="module")
def cda_factory() -> CdaFactory:
    return make_cda_factory()


@pytest.fixture(scope="module")
def org_pki(tmp_path_factory: pytest.TempPathFactory) -> OrgPki:
    settings = load_settings(env="demo", environ={})
    return generate_org_pki(tmp_path_factory.mktemp("org"), structure_id=settings.structure.id)


@pytest.fixture(scope="module")
def dmp_sandbox(
    pki: TestPki, org_pki: OrgPki, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[DmpSandbox]:
    db = tmp_path_factory.mktemp("dmp") / "dmp.sqlite"
    with DmpSandbox(pki, org_pki.ca_cert, db_path=db, known_ins=(INS_VALUE,)) as sandbox:
        yield sandbox


@pytest.fixture(scope="module")
def dmp_world(pki: TestPki, org_pki: OrgPki, dmp_sandbox: DmpSandbox) -> DmpWorld:
    return DmpWorld(load_settings(env="demo", environ={}), org_pki, pki, dmp_sandbox.url)


def documents_of(sandbox: DmpSandbox, unique_id: str) -> int:
    """Number of stored versions of the document ``unique_id`` in the sandbox."""
    return len(sandbox.store.by_unique_id(unique_id))


# --- crash test: a pre-loaded process forking workers on request ------------------------------


def crash_zygote() -> None:  # pragma: no cover - runs in a subprocess
    """Reads a JSON configuration line, loads everything once, prints ``ready``; then, for each
    ``run`` line (``drain``), forks a worker (one outbox connection, one DmpClient) that runs
    until killed (until nothing is due), prints its pid, waits for it and prints ``exit N`` or
    ``signal N``. Forking from this single-threaded process keeps the 100+ worker starts cheap
    and safe."""
    import sys

    from segur_ris.certificates import load_pkcs12
    from segur_ris.dmp import DmpClient
    from segur_ris.outbox import (
        ACTION_DMP_SUBMIT,
        Outbox,
        SqliteBackend,
        Worker,
        dmp_submit_handler,
    )
    from segur_ris.vihf import VihfContext

    config = json.loads(sys.stdin.readline())
    settings = load_settings(env="demo", environ={}).with_endpoints(dmp=config["url"])
    sign = load_pkcs12(Path(config["sign_p12"]).read_bytes(), config["p12_password"].encode())
    vihf = VihfContext.for_automate(
        settings, secteur_activite=SECTEUR, responsible_id=settings.structure.id
    )
    print("ready", flush=True)
    for line in sys.stdin:
        command = line.strip()
        if command not in ("run", "drain"):
            break
        pid = os.fork()
        if pid == 0:
            code = 1
            try:
                with (
                    Outbox(SqliteBackend(config["db"])) as outbox,
                    DmpClient(
                        settings,
                        vihf=vihf,
                        sign_credential=sign,
                        client_cert=(config["cert"], config["key"]),
                        ca_bundle=config["ca"],
                        timeout=10,
                    ) as client,
                ):
                    worker = Worker(
                        outbox,
                        {ACTION_DMP_SUBMIT: dmp_submit_handler(client)},
                        lease=float(config["lease"]),
                        # a job may be killed many times in a row here: no poison-job limit
                        max_attempts=1_000_000,
                    )
                    worker.run(idle=0.02, until_idle=command == "drain")
                code = 0
            finally:
                os._exit(code)
        print(pid, flush=True)
        _, status = os.waitpid(pid, 0)
        if os.WIFSIGNALED(status):
            print(f"signal {os.WTERMSIG(status)}", flush=True)
        else:
            print(f"exit {os.WEXITSTATUS(status)}", flush=True)
