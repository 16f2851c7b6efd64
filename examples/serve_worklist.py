"""Turn an imaging order into Modality Worklist items, serve them and query them as a modality.

Run: ``python examples/serve_worklist.py [--serve] [--port N] [ORDER.hl7 ...]``. Without files,
an ``OMI^O23`` is built for the patient and exam of ``examples/report.json``; with files, each
``ORM^O01`` / ``OMI^O23`` is read. The items are stored (SQLite, in memory here: give
``WorklistStore`` a file in a RIS), served by the C-FIND SCP on 127.0.0.1 and queried like a
scanner does (modality, scheduled date range). ``--serve`` then keeps serving until Ctrl-C and
prints the DCMTK ``findscu -W`` command that queries it. A real RIS feeds the store from its
HL7 interface (``segur-ris mwl add`` / ``segur-ris mwl serve``) and opens the SCP to the
modalities' network (``WorklistScp(..., host="0.0.0.0", allow_non_loopback=True)``, a
deliberate choice).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import signal
import sys
import threading
from pathlib import Path
from types import FrameType

from pydicom import Dataset
from pynetdicom import AE

from segur_ris.dicom import (
    MODALITY_WORKLIST_FIND,
    WorklistScp,
    WorklistSettings,
    WorklistStore,
    guard_scu,
    ins_of_dataset,
    worklist_changes,
)
from segur_ris.errors import WorklistError
from segur_ris.hl7v2 import (
    AssigningAuthority,
    CodedValue,
    EntityId,
    ImagingOrder,
    Practitioner,
    build_omi,
)
from segur_ris.report import ImagingReport

HERE = Path(__file__).resolve().parent
#: How orders become items: the RIS's OID root (orders without a study UID) and its stations.
SETTINGS = WorklistSettings(
    uid_root="1.2.250.1.999.1.4",
    accession_issuer_oid="1.2.250.1.999.1.3",
    station_ae_titles={"CT": "SCANNER_1", "MR": "IRM_1"},
)
FINDSCU = "/usr/bin/findscu"  # DCMTK's (pynetdicom installs another findscu on PATH)


def sample_order() -> bytes:
    """The ``OMI^O23`` of the examples/report.json exam (the RIS's own order, qualified INS)."""
    report = ImagingReport.from_dict(json.loads((HERE / "report.json").read_text("utf-8")))
    exam, order = report.exam, report.order
    assert order is not None and order.prescriber is not None
    prescriber = order.prescriber
    modality = exam.modalities[0]
    return build_omi(
        ImagingOrder(
            patient=dataclasses.replace(report.patient, ipp=report.ipp or None),
            ipp_authority=AssigningAuthority.iso(report.ipp_oid, "RIS-DEMO"),
            placer_order=EntityId(order.placer_number, AssigningAuthority.iso(order.placer_issuer)),
            accession_number=EntityId(
                exam.accession_number, AssigningAuthority.iso(exam.accession_issuer)
            ),
            modality=CodedValue(modality, "", "DCM"),
            exam_code=CodedValue(exam.exam_code.code, exam.exam_code.display, "LN"),
            ordering_provider=Practitioner(prescriber.rpps, prescriber.family, prescriber.given),
            scheduled_time=exam.start,
            requested_procedure_id=EntityId(exam.accession_number.replace("ACC", "RP", 1)[:16]),
            study_instance_uid=exam.study_instance_uid,
            scheduled_step_id=EntityId(exam.accession_number.replace("ACC", "SPS", 1)[:16]),
            ins_oid=report.patient.qualified_ins().oid,
        )
    )


def mwl_query(modality: str, dates: str) -> Dataset:
    """The identifier a modality sends: matching keys (modality, date range) + return keys."""
    query = Dataset()
    query.SpecificCharacterSet = "ISO_IR 192"
    for keyword in (
        "AccessionNumber",
        "PatientName",
        "PatientID",
        "IssuerOfPatientID",
        "PatientBirthDate",
        "PatientSex",
        "StudyInstanceUID",
        "RequestedProcedureDescription",
    ):
        setattr(query, keyword, "")
    query.IssuerOfPatientIDQualifiersSequence = []  # the INS OID when PatientID is the INS
    other = Dataset()  # ask for the INS (OtherPatientIDsSequence, see docs/dicom.rst)
    other.PatientID = ""
    other.IssuerOfPatientID = ""
    other.IssuerOfPatientIDQualifiersSequence = []
    query.OtherPatientIDsSequence = [other]
    step = Dataset()
    step.Modality = modality
    step.ScheduledProcedureStepStartDate = dates
    step.ScheduledProcedureStepStartTime = ""
    step.ScheduledStationAETitle = ""
    step.ScheduledProcedureStepID = ""
    query.ScheduledProcedureStepSequence = [step]
    return query


def query_worklist(port: int, called: str, query: Dataset) -> list[Dataset]:
    """C-FIND as the modality ``CT_DEMO`` would; the pending answers are the matches."""
    ae = AE(ae_title="CT_DEMO")
    ae.add_requested_context(MODALITY_WORKLIST_FIND)
    assoc = ae.associate("127.0.0.1", port, ae_title=called)
    if not assoc.is_established:
        raise RuntimeError(f"association refusée par {called}@127.0.0.1:{port}")
    guard_scu(assoc)  # pynetdicom 3.0's SCU may drop the first answer of a fast SCP
    try:
        matches = []
        for status, identifier in assoc.send_c_find(query, MODALITY_WORKLIST_FIND):
            if status and status.Status in (0xFF00, 0xFF01) and identifier is not None:
                matches.append(identifier)
            elif status and status.Status != 0x0000:
                print(f"C-FIND: statut 0x{status.Status:04X}")
        return matches
    finally:
        assoc.release()


def show(item: Dataset) -> None:
    step = item.ScheduledProcedureStepSequence[0]
    ins = ins_of_dataset(item)
    print(
        f"  {item.AccessionNumber}: {item.PatientName} (PatientID {item.PatientID}, "
        f"INS {ins.value if ins else '-'}), {step.Modality} {step.ScheduledStationAETitle} "
        f"le {step.ScheduledProcedureStepStartDate} à {step.ScheduledProcedureStepStartTime}, "
        f"{item.get('RequestedProcedureDescription', '')}"
    )


def findscu_command(port: int, called: str, modality: str, dates: str) -> str:
    keys = [
        f'-k "ScheduledProcedureStepSequence[0].Modality={modality}"',
        f'-k "ScheduledProcedureStepSequence[0].ScheduledProcedureStepStartDate={dates}"',
        '-k "ScheduledProcedureStepSequence[0].ScheduledStationAETitle="',
        '-k "PatientName=" -k "PatientID=" -k "AccessionNumber="',
        '-k "OtherPatientIDsSequence[0].PatientID="',
        '-k "OtherPatientIDsSequence[0].IssuerOfPatientID="',
    ]
    return f"{FINDSCU} -W -aet CT_DEMO -aec {called} {' '.join(keys)} 127.0.0.1 {port}"


def serve_until_interrupted() -> None:
    """Block until SIGINT (Ctrl-C) or SIGTERM."""
    stop = threading.Event()

    def handler(signum: int, frame: FrameType | None) -> None:
        stop.set()

    previous = {sig: signal.signal(sig, handler) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        while not stop.wait(0.5):
            pass
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("orders", type=Path, nargs="*", help="ORM^O01 / OMI^O23 files")
    parser.add_argument("--serve", action="store_true", help="keep serving until Ctrl-C")
    parser.add_argument("--port", type=int, default=0, help="port of the SCP (0: a free one)")
    parser.add_argument("--ae-title", default="SEGUR_MWL", help="AE title of the SCP")
    parser.add_argument("--modality", default="CT", help="modality of the query")
    args = parser.parse_args(argv)

    messages = [path.read_bytes() for path in args.orders] or [sample_order()]
    with WorklistStore() as store:
        for message in messages:
            try:
                changes = worklist_changes(message, SETTINGS)
            except WorklistError as exc:  # not an order, or an item that cannot be built
                print(f"ordre refusé: {exc}", file=sys.stderr)
                return 2
            for change in changes:
                print(f"ordre {change.placer_order_number} ({change.order_control}): "
                      f"{change.action.value} {change.accession_number}")  # fmt: skip
            store.apply(changes)
        starts = sorted(
            str(item.ScheduledProcedureStepSequence[0].ScheduledProcedureStepStartDate)
            for item in store.candidates()
        )
        if not starts:
            print("aucun examen dans la worklist")
            return 1
        dates = f"{starts[0]}-{starts[-1]}"  # a range query, as modalities send (PS3.4 K)
        print(f"worklist: {len(store)} élément(s), du {starts[0]} au {starts[-1]}")

        with WorklistScp(store, ae_title=args.ae_title, port=args.port) as scp:
            print(f"SCP {scp.ae_title} sur 127.0.0.1:{scp.port}")
            matches = query_worklist(scp.port, scp.ae_title, mwl_query(args.modality, dates))
            print(f"C-FIND modalité {args.modality}, dates {dates}: {len(matches)} réponse(s)")
            for item in matches:
                show(item)
            if args.serve:
                print("interroger avec DCMTK:")
                print(f"  {findscu_command(scp.port, scp.ae_title, args.modality, dates)}")
                print("en service, Ctrl-C pour arrêter", flush=True)
                serve_until_interrupted()
                print("arrêt du SCP")
    return 0 if matches else 1


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
