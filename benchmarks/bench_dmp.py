"""DMP submission (TD2.1 / ITI-41): throughput on one core, in one run.

Run: ``python benchmarks/bench_dmp.py``. Three measures on the CR-IMG N1 of
``examples/report.json``:

* **build**: everything the client does before the network — DocumentEntry from the CDA, a
  VIHF signed RSA-SHA256, the XAdES signature document (RSA-SHA256), the ebRIM request and its
  MTOM encoding — through :class:`DmpClient` with a transport that answers at once;
* **inline**: the same request with the documents inline in base64 (what a zeep user must send,
  zeep cannot send MTOM), envelope serialised in one piece by lxml, same signatures;
* **zeep**: the same request serialised by zeep from the IHE XDS.b repository WSDL of the DMP
  LPS package (``../shared/ref/dmp/dmp-lps-package``; ``SEGUR_RIS_REF`` moves ``shared/ref``):
  documents inline in base64, the VIHF as a SOAP header — skipped when the reference files are
  absent. zeep cannot write the ebRIM objects (``rim:ExtrinsicObject``… are members of the
  ``rim:Identifiable`` substitution group, which zeep's parse drops and its serialiser would
  write as ``rim:Identifiable xsi:type=…``): the metadata element built with lxml is put in
  place of zeep's empty ``SubmitObjectsRequest``, as a zeep user has to;
* **round trip**: the same submissions to the sandbox DMP over mutual TLS on 127.0.0.1 (which
  parses the MTOM, verifies the VIHF and the XAdES digests and stores in SQLite).
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
QUICK = os.environ.get("BENCH_QUICK") == "1"


def rate(fn: Callable[[], object], seconds: float) -> float:
    fn()
    count, start = 0, time.perf_counter()
    while True:
        fn()
        count += 1
        elapsed = time.perf_counter() - start
        if elapsed >= seconds:
            return count / elapsed


def main() -> int:
    from segur_ris.cda import build_cda_n1
    from segur_ris.config import load_settings
    from segur_ris.dmp import DmpClient, build_envelope
    from segur_ris.pdf import render_report_pdf
    from segur_ris.report import ImagingReport
    from segur_ris.sandbox import DmpSandbox, generate_org_pki, generate_test_pki
    from segur_ris.transport import HttpResponse
    from segur_ris.vihf import VihfContext, build_vihf, sign_vihf
    from segur_ris.xds import (
        PnrDocument,
        ProvideAndRegisterRequest,
        RegistryResponse,
        build_provide_and_register,
        build_registry_response,
    )

    data = json.loads((ROOT / "examples/report.json").read_text(encoding="utf-8"))
    report = ImagingReport.from_dict(data)
    cda = build_cda_n1(report, render_report_pdf(report))
    settings = load_settings(env="demo", environ={}).with_endpoints(dmp="https://127.0.0.1:1")
    tmp = Path(tempfile.mkdtemp(prefix="segur-ris-bench-"))
    org = generate_org_pki(tmp / "org", structure_id=settings.structure.id)
    vihf = VihfContext.for_automate(
        settings, secteur_activite="SA07^1.2.250.1.71.4.2.4", responsible_id="899900063480"
    )
    success, _ = build_envelope(build_registry_response(RegistryResponse()), "urn:answer")

    class Instant:
        def post(
            self, url: str, body: bytes, headers: Mapping[str, str], timeout: float
        ) -> HttpResponse:
            return HttpResponse(200, {"Content-Type": "application/soap+xml"}, success)

    def unique(document: bytes) -> bytes:  # each submission needs its own document id
        return document.replace(report.document_id.encode(), f"2.25.{uuid.uuid4().int}".encode(), 1)

    client = DmpClient(
        settings, vihf=vihf, sign_credential=org.sign.credential, transport=Instant()
    )
    seconds = 0.3 if QUICK else 3.0
    build_rate = rate(lambda: client.submit(unique(cda)), seconds)

    oid = settings.environment.ins.oid_nir

    def inline() -> bytes:
        document = unique(cda)
        entry, submission, signature = _same_submission(document, org.sign.credential, oid)
        body = build_provide_and_register(
            ProvideAndRegisterRequest(
                submission,
                (
                    PnrDocument(entry.entry_uuid, data=document),
                    PnrDocument("Signature01", data=signature),
                ),
            )
        )
        token = sign_vihf(build_vihf(vihf, resource_id=entry.patient_id), org.sign.credential)
        envelope, _ = build_envelope(
            body, "urn:ihe:iti:2007:ProvideAndRegisterDocumentSet-b", security=token
        )
        return envelope

    inline_rate = rate(inline, seconds)
    zeep_call = _zeep_path(vihf, org.sign.credential, unique, cda, oid)
    zeep_rate = rate(zeep_call, seconds) if zeep_call is not None else None
    print("TD2.1 / ITI-41, one core                         submissions/s")
    print(f"segur_ris build (VIHF + XAdES + ebRIM + MTOM)   {build_rate:10.1f}")
    print(
        f"lxml, inline base64, same signatures            {inline_rate:10.1f}"
        f"   (segur_ris {build_rate / inline_rate:.2f}x)"
    )
    if zeep_rate is not None:
        print(
            f"zeep (WSDL), inline base64, same signatures     {zeep_rate:10.1f}"
            f"   (segur_ris {build_rate / zeep_rate:.2f}x)"
        )
    else:
        print("zeep (WSDL) path skipped: ../shared/ref/dmp not found")

    pki = generate_test_pki(tmp / "tls")
    cred = org.auth_cli
    with DmpSandbox(
        pki,
        org.ca_cert,
        db_path=tmp / "dmp.sqlite",
        known_ins=(report.patient.qualified_ins().value,),
    ) as sandbox:
        remote = DmpClient(
            load_settings(env="demo", environ={}).with_endpoints(dmp=sandbox.url),
            vihf=vihf,
            sign_credential=org.sign.credential,
            client_cert=(cred.cert, cred.key),
            ca_bundle=pki.ca_cert,
        )
        with remote:
            trip_rate = rate(lambda: remote.submit(unique(cda)), seconds)
    print(f"round trip to the sandbox DMP over mutual TLS    {trip_rate:10.1f}")
    return 0


def _same_submission(document: bytes, credential: Any, oid: str) -> tuple[Any, Any, bytes]:
    """The submission :meth:`DmpClient.submit` sends (CDA entry, XAdES document and its entry,
    submission set, HasMember x2 + signs), built by the peers with the same public builders."""
    from segur_ris.dmp._client import _signature_entry
    from segur_ris.vihf import build_xades
    from segur_ris.xds import Association, Submission, SubmissionSet, document_entry_from_cda

    entry = document_entry_from_cda(document, environment_ins_oid=oid)
    ss = SubmissionSet(
        entry_uuid="SubmissionSet01",
        unique_id=f"2.25.{uuid.uuid4().int}",
        source_id="1.2.250.1.999",
        patient_id=entry.patient_id,
        submission_time="20261124100000",
        authors=entry.authors[:1],
        title=entry.title,
    )
    xades = build_xades({entry.unique_id: document}, credential, submission_set_id=ss.unique_id)
    signature = _signature_entry(entry, xades)
    member = "urn:oasis:names:tc:ebxml-regrep:AssociationType:HasMember"
    signs = "urn:ihe:iti:2007:AssociationType:signs"
    associations = (
        Association(
            "as1", member, ss.entry_uuid, entry.entry_uuid, submission_set_status="Original"
        ),
        Association(
            "as2", member, ss.entry_uuid, signature.entry_uuid, submission_set_status="Original"
        ),
        Association("as3", signs, signature.entry_uuid, ss.entry_uuid),
    )
    return entry, Submission((ss,), (entry, signature), (), associations), xades


def _zeep_path(
    vihf: Any, credential: Any, unique: Callable[[bytes], bytes], cda: bytes, oid: str
) -> Callable[[], bytes] | None:
    """A zeep user's ITI-41: zeep serialises the WSDL operation, documents inline in base64."""
    ref = Path(os.environ.get("SEGUR_RIS_REF", ROOT.parent / "shared" / "ref"))
    wsdl = ref / "dmp/dmp-lps-package/annexe-wsdl-schema/wsdl/XDS.b_DocumentRepository.wsdl"
    if not wsdl.is_file():
        return None
    import zeep

    from segur_ris.vihf import build_vihf, sign_vihf
    from segur_ris.xds import (
        build_submit_objects,
    )

    client = zeep.Client(str(wsdl), settings=zeep.Settings(strict=False, xml_huge_tree=True))
    lcm_submit = "{urn:oasis:names:tc:ebxml-regrep:xsd:lcm:3.0}SubmitObjectsRequest"
    operation = "DocumentRepository_ProvideAndRegisterDocumentSet-b"
    wsse = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd"

    def call() -> bytes:
        from lxml import etree

        document = unique(cda)
        entry, submission, signature = _same_submission(document, credential, oid)
        metadata = build_submit_objects(submission)
        security = etree.Element(f"{{{wsse}}}Security", nsmap={"wsse": wsse})
        security.append(sign_vihf(build_vihf(vihf, resource_id=entry.patient_id), credential))
        envelope = client.create_message(
            client.service,
            operation,
            SubmitObjectsRequest={"RegistryObjectList": {}},
            Document=[
                {"_value_1": document, "id": entry.entry_uuid},
                {"_value_1": signature, "id": "Signature01"},
            ],
            _soapheaders=[security],
        )
        placeholder = next(envelope.iter(lcm_submit))
        placeholder.getparent().replace(placeholder, metadata)
        return etree.tostring(envelope, xml_declaration=True, encoding="UTF-8")

    return call


if __name__ == "__main__":
    sys.exit(main())
