"""Local stand-ins of the national services, for tests, demos and CNDA rehearsals.

* :func:`generate_test_pki` — a throw-away PKI imitating the IGC-Santé test chain (CA, server
  certificate for 127.0.0.1, ``INSI-AUTO`` / ``INSI-MANU`` / ``AUTRE`` client certificates);
* :class:`InsiSandbox` — the CNAM INSi teleservice over mutual TLS on 127.0.0.1, answering from
  the CNDA test identities (:data:`CNDA_IDENTITIES`); :class:`InsiSandboxCore` is its sans-IO
  logic.

Servers only ever bind to the loopback interface.
"""

from __future__ import annotations

from segur_ris.sandbox._dmp import DmpSandbox, DmpSandboxCore
from segur_ris.sandbox._dmp_store import DmpStore
from segur_ris.sandbox._identities import CNDA_IDENTITIES, SandboxIdentity, SandboxIns
from segur_ris.sandbox._imap_server import MailboxStore, StoredMessage
from segur_ris.sandbox._insi import (
    ALLOWED_CLIENT_CNS,
    InsiSandbox,
    InsiSandboxCore,
    SoapAnswer,
)
from segur_ris.sandbox._mssante import (
    MssanteSandbox,
    MssanteSandboxCore,
    SandboxDelivery,
    SandboxSubmission,
)
from segur_ris.sandbox._pki import ClientCredential, TestPki, generate_test_pki, sandbox_pki_from
from segur_ris.sandbox._pki_org import ORG_CA_COMMON_NAME, OrgPki, OrgPkiEntry, generate_org_pki
from segur_ris.sandbox._psc import (
    PSC_REALM_PATH,
    SANDBOX_CLIENT_ID,
    SANDBOX_CLIENT_SECRET,
    SANDBOX_PROFESSIONALS,
    SANDBOX_REDIRECT_URI,
    PscSandbox,
    PscSandboxClient,
    PscSandboxCore,
    SandboxProfessional,
)
from segur_ris.sandbox._suite import SANDBOX_SERVICES, SandboxSuite

__all__ = [
    "ALLOWED_CLIENT_CNS",
    "CNDA_IDENTITIES",
    "ORG_CA_COMMON_NAME",
    "PSC_REALM_PATH",
    "SANDBOX_CLIENT_ID",
    "SANDBOX_CLIENT_SECRET",
    "SANDBOX_PROFESSIONALS",
    "SANDBOX_REDIRECT_URI",
    "SANDBOX_SERVICES",
    "ClientCredential",
    "DmpSandbox",
    "DmpSandboxCore",
    "DmpStore",
    "InsiSandbox",
    "InsiSandboxCore",
    "MailboxStore",
    "MssanteSandbox",
    "MssanteSandboxCore",
    "OrgPki",
    "OrgPkiEntry",
    "PscSandbox",
    "PscSandboxClient",
    "PscSandboxCore",
    "SandboxDelivery",
    "SandboxIdentity",
    "SandboxIns",
    "SandboxProfessional",
    "SandboxSubmission",
    "SandboxSuite",
    "SoapAnswer",
    "StoredMessage",
    "TestPki",
    "generate_org_pki",
    "generate_test_pki",
    "sandbox_pki_from",
]
