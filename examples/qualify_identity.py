"""Qualify a patient identity with the INSi, on the embedded sandbox.

Run: ``python examples/qualify_identity.py``. Against the CNAM qualification platform, replace
the sandbox by ``load_settings("vendor.toml", env="test")`` and your INSI-AUTO certificate.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from segur_ris.config import Settings, load_settings
from segur_ris.ins import IdentityTraits, PatientIdentity, ProofDocument, to_hl7_pid3
from segur_ris.insi import InsiClient
from segur_ris.sandbox import InsiSandbox, TestPki, generate_test_pki


def main() -> int:
    with tempfile.TemporaryDirectory() as tmp:
        pki = generate_test_pki(Path(tmp))
        with InsiSandbox(pki) as sandbox:
            return qualify(load_settings(env="demo").with_endpoints(insi=sandbox.url), pki)


def qualify(settings: Settings, pki: TestPki) -> int:
    cert = pki.clients["INSI-AUTO"]
    traits = IdentityTraits.create("Tchitchi", "Ola Catarina Bella", "F", "1936-06-21")
    identity = PatientIdentity(traits=traits)
    print("accueil:", identity.status.value)

    with InsiClient(settings, client_cert=(cert.cert, cert.key), ca_bundle=pki.ca_cert) as client:
        result = client.search(traits)
    if not result.found or result.ins is None or result.traits is None:
        print("INSi:", result.code.value, result.libelle)
        return 1
    identity = identity.with_insi_result(result.ins, result.traits)
    print("après INSi:", identity.status.value, result.ins.value)

    identity = identity.with_proof(ProofDocument.CARTE_NATIONALE_IDENTITE)
    print("après contrôle de la CNI:", identity.status.value)
    print("PID-3:", to_hl7_pid3(identity))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
