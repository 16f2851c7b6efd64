"""Send a CR-IMG to the DMP hidden from the patient, find it, show it, read it back.

Run: ``python examples/send_to_dmp.py``. It starts the sandbox DMP (mutual TLS on 127.0.0.1,
test IGC Santé-like PKI). Against the DMP test platform, build the client from
``load_settings("vendor.toml", env="test")`` with your ORG AUTH_CLI certificate, your ORG SIGN
PKCS#12 (:func:`segur_ris.certificates.load_pkcs12`) and the IGC Santé test roots.
"""

from __future__ import annotations

import json
from pathlib import Path

from segur_ris.cda import build_cda_n1
from segur_ris.config import load_settings
from segur_ris.dmp import DmpClient
from segur_ris.pdf import render_report_pdf
from segur_ris.report import ImagingReport
from segur_ris.sandbox import SandboxSuite
from segur_ris.vihf import VihfContext

HERE = Path(__file__).resolve().parent


def main() -> int:
    report = ImagingReport.from_dict(json.loads((HERE / "report.json").read_text("utf-8")))
    cda = build_cda_n1(report, render_report_pdf(report))
    ins = report.patient.qualified_ins().value

    with SandboxSuite(services=("dmp",)) as sandbox:
        settings = load_settings(env="demo").with_endpoints(dmp=sandbox.dmp.url)
        vihf = VihfContext.for_automate(
            settings,
            secteur_activite="SA07^1.2.250.1.71.4.2.4",  # cabinet de radiologie libéral
            responsible_id=settings.structure.id,
        )
        org = sandbox.org
        with DmpClient(
            settings,
            vihf=vihf,
            sign_credential=org.sign.credential,
            client_cert=(org.auth_cli.cert, org.auth_cli.key),
            ca_bundle=sandbox.pki.ca_cert,
        ) as dmp:
            status = dmp.exists(ins)
            print(f"TD0.2 DMP existant: {status.exists}")
            # until the radiologist has announced the result, the patient does not see it
            sent = dmp.submit(cda, hide_from_patient=True)
            print(f"TD2.1 envoyé: {sent.entry.unique_id} (masqué au patient)")
            entry = dmp.entry(ins, sent.entry.unique_id)
            codes = [code.code for code in entry.confidentiality_codes]
            print(f"TD3.1 trouvé: {entry.title!r}, confidentialité {codes}")
            shown = dmp.set_visibility(entry, patient=True)
            print(f"TD3.3 rendu visible au patient: version {shown.version}")
            data = dmp.get(sent.entry.unique_id, ins=ins)
            print(f"TD3.2 relu: {len(data)} octets, identique: {data == cda}")
            return 0 if data == cda else 1


if __name__ == "__main__":
    raise SystemExit(main())
