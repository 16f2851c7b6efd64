"""All the national-service stand-ins at once, for a vendor's integration tests and the demo.

:class:`SandboxSuite` generates the test PKIs into a folder, starts the selected services on
127.0.0.1 and describes them (endpoints, certificate files) as plain data, so a test suite, the
``segur-ris sandbox serve`` command or a vendor's own CI can point its configuration at them.
"""

from __future__ import annotations

import contextlib
import tempfile
from collections.abc import Iterable
from pathlib import Path
from types import TracebackType
from typing import Any, Self

from segur_ris.errors import ConfigError

__all__ = ["SANDBOX_SERVICES", "SandboxSuite"]

#: The services a suite can start, in start order.
SANDBOX_SERVICES: tuple[str, ...] = ("insi", "dmp", "psc", "mssante", "mwl")


class SandboxSuite:
    """The sandbox services on 127.0.0.1 with a generated test PKI.

    ``directory`` receives the PKIs and the DMP's SQLite file (a temporary folder, removed on
    :meth:`stop`, when ``None``). ``services`` picks among :data:`SANDBOX_SERVICES` (all by
    default). ``known_ins`` are the patients the DMP knows (the demo patient and the CNDA
    identities by default). ``structure_id`` goes into the ORG certificates' ``OU`` (the demo
    configuration's structure by default, so that its VIHF matches the signer).
    """

    def __init__(
        self,
        directory: str | Path | None = None,
        *,
        services: Iterable[str] = SANDBOX_SERVICES,
        known_ins: Iterable[str] | None = None,
        structure_id: str | None = None,
    ) -> None:
        wanted = tuple(dict.fromkeys(services))
        unknown = [name for name in wanted if name not in SANDBOX_SERVICES]
        if unknown:
            raise ConfigError(
                f"service(s) de bac à sable inconnu(s): {', '.join(unknown)} "
                f"(connus: {', '.join(SANDBOX_SERVICES)})"
            )
        self.services = wanted
        self._directory = Path(directory) if directory is not None else None
        self._known_ins = tuple(known_ins) if known_ins is not None else None
        if structure_id is None:
            from segur_ris.config import load_settings

            structure_id = load_settings(env="demo", environ={}).structure.id
        self.structure_id = structure_id
        self._stack: contextlib.ExitStack | None = None
        self.root: Path | None = None
        self.pki: Any = None  # TestPki (TLS of the services, INSi client certificates)
        self.org: Any = None  # OrgPki (ORG AUTH_CLI / SIGN of the structure)
        self.insi: Any = None
        self.dmp: Any = None
        self.psc: Any = None
        self.mssante: Any = None
        self.mwl: Any = None  # WorklistScp; its store is ``mwl_store``
        self.mwl_store: Any = None

    # --- life cycle -----------------------------------------------------------------------

    def start(self) -> Self:
        """Generate the PKIs and start the services; on any failure, stop what started."""
        if self._stack is not None:
            raise RuntimeError("le bac à sable est déjà démarré")
        from segur_ris.sandbox._dmp import DEFAULT_KNOWN_INS, DmpSandbox
        from segur_ris.sandbox._identities import CNDA_IDENTITIES
        from segur_ris.sandbox._insi import InsiSandbox
        from segur_ris.sandbox._pki import generate_test_pki
        from segur_ris.sandbox._pki_org import generate_org_pki

        stack = contextlib.ExitStack()
        try:
            if self._directory is None:
                root = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="segur-ris-")))
            else:
                root = self._directory
                root.mkdir(parents=True, exist_ok=True)
            self.root = root
            self.pki = generate_test_pki(root / "tls")
            self.org = generate_org_pki(root / "org", structure_id=self.structure_id)
            if "insi" in self.services:
                self.insi = stack.enter_context(InsiSandbox(self.pki))
            if "dmp" in self.services:
                known = self._known_ins
                if known is None:
                    known = (
                        *DEFAULT_KNOWN_INS,
                        _DEMO_INS,
                        *(i.ins.matricule for i in CNDA_IDENTITIES if i.ins is not None),
                    )
                self.dmp = stack.enter_context(
                    DmpSandbox(
                        self.pki, self.org.ca_cert, db_path=root / "dmp.sqlite", known_ins=known
                    )
                )
            if "psc" in self.services:
                from segur_ris.sandbox._psc import PscSandbox

                self.psc = stack.enter_context(PscSandbox(self.pki))
            if "mssante" in self.services:
                from segur_ris.sandbox._mssante import MssanteSandbox

                psc = self.psc

                def check_token(user: str, token: str) -> bool:
                    # XOAUTH2 with an access token of the sandbox PSC
                    return psc is not None and psc.validate_access_token(token) is not None

                mailboxes = (
                    *(i.ins.matricule for i in CNDA_IDENTITIES if i.ins is not None),
                    _DEMO_INS,
                )
                self.mssante = stack.enter_context(
                    MssanteSandbox(
                        self.pki,
                        store_dir=root / "mssante",
                        check_token=check_token,
                        known_ins=mailboxes,  # patients with a Mon espace santé mailbox
                    )
                )
            if "mwl" in self.services:
                from segur_ris.dicom import WorklistScp, WorklistStore

                self.mwl_store = stack.enter_context(WorklistStore(root / "worklist.sqlite"))
                self.mwl = stack.enter_context(WorklistScp(self.mwl_store))
        except BaseException:
            stack.close()
            raise
        self._stack = stack
        return self

    def stop(self) -> None:
        """Stop every service (in reverse order) and remove a temporary folder."""
        stack, self._stack = self._stack, None
        if stack is not None:
            stack.close()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    # --- description ----------------------------------------------------------------------

    def describe(self) -> dict[str, Any]:
        """Endpoints and PKI files as JSON-ready data (no private key content, paths only)."""
        if self._stack is None or self.pki is None or self.org is None:
            raise RuntimeError("le bac à sable n'est pas démarré")
        pki, org = self.pki, self.org
        services: dict[str, Any] = {}
        if self.insi is not None:
            services["insi"] = {
                "url": self.insi.url,
                "client_certificates": {
                    cn: {"cert": str(c.cert), "key": str(c.key)} for cn, c in pki.clients.items()
                },
            }
        if self.dmp is not None:
            services["dmp"] = {
                "url": self.dmp.url,
                "services": [f"{self.dmp.url}/{name}" for name in _DMP_SERVICES],
                "database": str(self.root / "dmp.sqlite") if self.root else None,
            }
        if self.psc is not None:
            from segur_ris.sandbox._psc import (
                SANDBOX_CLIENT_ID,
                SANDBOX_CLIENT_SECRET,
                SANDBOX_PROFESSIONALS,
                SANDBOX_REDIRECT_URI,
            )

            services["psc"] = {
                "url": self.psc.issuer,
                "issuer": self.psc.issuer,
                "client_id": SANDBOX_CLIENT_ID,
                "client_secret": SANDBOX_CLIENT_SECRET,  # the sandbox's public test client
                "redirect_uri": SANDBOX_REDIRECT_URI,
                "login_hints": sorted(SANDBOX_PROFESSIONALS),
            }
        if self.mssante is not None:
            smtp, imap = self.mssante.smtp_port, self.mssante.imap_port
            services["mssante"] = {
                "url": f"smtp://127.0.0.1:{smtp}",
                "smtp": {"host": "127.0.0.1", "port": smtp, "security": "STARTTLS"},
                "imap": {"host": "127.0.0.1", "port": imap, "security": "STARTTLS"},
                "authentication": ["client certificate (EXTERNAL)", "XOAUTH2 (PSC token)"],
            }
        if self.mwl is not None:
            services["mwl"] = {
                "url": f"dicom://{self.mwl.ae_title}@127.0.0.1:{self.mwl.port}",
                "ae_title": self.mwl.ae_title,
                "host": "127.0.0.1",
                "port": self.mwl.port,
                "database": str(self.root / "worklist.sqlite") if self.root else None,
            }
        return {
            "directory": str(self.root),
            "trust": {"server_ca": str(pki.ca_cert), "org_ca": str(org.ca_cert)},
            "structure": {
                "id": org.structure_id,
                "auth_cli": {"cert": str(org.auth_cli.cert), "key": str(org.auth_cli.key)},
                "sign": {"p12": str(org.sign.p12)},
                # a throw-away test PKI: its PKCS#12 password is part of the description
                "p12_password": org.p12_password.decode("ascii"),
            },
            "services": services,
        }


#: Patient of ``examples/report.json`` (the CLI's and demo's CR-IMG).
_DEMO_INS = "279035121518989"
_DMP_SERVICES = ("registry", "repository", "patients", "habilitations")
