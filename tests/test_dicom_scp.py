"""The Modality Worklist C-FIND SCP against real peers: DCMTK findscu -W and wlmscpfs.

The same worklist data (DCMTK's sample worklist, converted with dump2dcm, plus items built
from HL7 orders) is served by DCMTK's ``wlmscpfs`` and by :class:`WorklistScp`; the same query
files (DCMTK dump format) must give the same answers from both.
"""

from __future__ import annotations

import datetime as dt
import os
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import pydicom
import pytest
from pydicom import Dataset
from pydicom.config import disable_value_validation
from pydicom.dataelem import DataElement
from pynetdicom import AE, evt

from segur_ris.dicom import (
    MODALITY_WORKLIST_FIND,
    STATUS_CANCEL,
    STATUS_OUT_OF_RESOURCES,
    STATUS_PROCESSING_FAILURE,
    STATUS_UNSUPPORTED_KEYS,
    QueryFilter,
    WorklistItem,
    WorklistScp,
    WorklistSettings,
    WorklistStore,
    guard_scu,
)
from segur_ris.errors import DicomAssociationError
from segur_ris.hl7v2 import AssigningAuthority, CodedValue, EntityId, ImagingOrder, build_omi
from segur_ris.ins import IdentityTraits, PatientIdentity
from tests.helpers_bench import run_benchmark

# pynetdicom installs its own findscu & co on PATH: always call DCMTK by full path.
FINDSCU = "/usr/bin/findscu"
WLMSCPFS = "/usr/bin/wlmscpfs"
DUMP2DCM = "/usr/bin/dump2dcm"
WLISTDB = "dicom/DCMTK_dcmtk/dcmwlm/data/wlistdb/OFFIS"
SETTINGS = WorklistSettings(uid_root="1.2.250.1.999.7", default_station_ae_title="SCANNER1")


def _need_dcmtk() -> None:
    missing = [tool for tool in (FINDSCU, WLMSCPFS, DUMP2DCM) if not os.access(tool, os.X_OK)]
    if missing:
        message = f"DCMTK missing ({', '.join(missing)}): apt-get install dcmtk"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(message)
        pytest.skip(message)


def _orders(count: int, *, modality: str = "CT", prefix: str = "HL7") -> Iterator[bytes]:
    traits = IdentityTraits.create("LÉTOURNEAU", "ÉLODIE", "F", "1981-02-03")
    for n in range(count):
        order = ImagingOrder(
            patient=PatientIdentity(traits, ipp=f"IPP{n}"),
            placer_order=EntityId(f"{prefix}-CMD-{n}"),
            accession_number=EntityId(f"{prefix}{n}"),
            modality=CodedValue(modality, "", "DCM"),
            exam_code=CodedValue("24627-2", "TDM thorax", "LN"),
            scheduled_time=dt.datetime(2026, 3, 2, 8 + n % 10, 0),
            requested_procedure_id=EntityId(f"RP{n}"),
            study_instance_uid=f"1.2.250.1.999.5.{n + 1}",
            scheduled_step_id=EntityId(f"SPS{n}"),
            ipp_authority=AssigningAuthority("AUT-AFFECTATION", "1.2.250.1.999.9", "ISO"),
        )
        yield build_omi(order)


guard_scu_reactor = guard_scu  # pynetdicom 3.0 SCU race (see segur_ris.dicom.guard_scu)


def find_worklist(
    port: int,
    query: Dataset,
    *,
    called: str = "SEGUR_MWL",
    syntaxes: Sequence[str] = (),
    **associate: Any,
) -> list[tuple[int, Any]]:
    """C-FIND ``query`` on the worklist SCP at ``port``: ``(status, identifier)`` of each answer.
    ``syntaxes`` restricts the proposed transfer syntaxes; ``associate`` goes to
    ``AE.associate`` (``max_pdu``, ``evt_handlers``…)."""
    ae = AE(ae_title="TEST_SCU")
    if syntaxes:
        ae.add_requested_context(MODALITY_WORKLIST_FIND, list(syntaxes))
    else:
        ae.add_requested_context(MODALITY_WORKLIST_FIND)
    assoc = ae.associate("127.0.0.1", port, ae_title=called, **associate)
    assert assoc.is_established
    guard_scu_reactor(assoc)
    try:
        return [
            (int(status.Status), identifier)
            for status, identifier in assoc.send_c_find(query, MODALITY_WORKLIST_FIND)
            if status
        ]
    finally:
        assoc.release()


def _query(**sps_keys: str) -> Dataset:
    ds = Dataset()
    ds.PatientName = ""
    ds.PatientID = ""
    ds.AccessionNumber = ""
    sps = Dataset()
    with disable_value_validation():  # malformed values on purpose
        for keyword, value in {
            "Modality": "",
            "ScheduledProcedureStepStartDate": "",
            **sps_keys,
        }.items():
            setattr(sps, keyword, value)
    ds.ScheduledProcedureStepSequence = [sps]
    return ds


# --- fixtures -------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def wl_files(ref_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """DCMTK's sample worklist (.dump → .wl with dump2dcm) in <tmp>/OFFIS, with its lockfile."""
    _need_dcmtk()
    source = ref_dir / WLISTDB
    if not source.is_dir():
        pytest.skip(f"{source} missing")
    root = tmp_path_factory.mktemp("wlistdb")
    target = root / "OFFIS"
    target.mkdir()
    (target / "lockfile").touch()
    for dump in sorted(source.glob("*.dump")):
        subprocess.run(
            [DUMP2DCM, "-q", "-g", str(dump), str(target / f"{dump.stem}.wl")],
            check=True,
            capture_output=True,
            timeout=30,
        )
    return root


@pytest.fixture(scope="module")
def store(wl_files: Path) -> Iterator[WorklistStore]:
    worklist = WorklistStore()
    for path in sorted((wl_files / "OFFIS").glob("*.wl")):
        worklist.upsert(pydicom.dcmread(path))
    for message in _orders(12):
        worklist.apply_message(message, SETTINGS)
    yield worklist
    worklist.close()


@pytest.fixture(scope="module")
def scp(store: WorklistStore) -> Iterator[WorklistScp]:
    with WorklistScp(store, max_matches=50) as running:
        yield running


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="module")
def wlmscpfs(wl_files: Path) -> Iterator[int]:
    """DCMTK's wlmscpfs serving <tmp>/OFFIS (only the DCMTK sample items) on a free port."""
    port = _free_port()
    process = subprocess.Popen(
        [WLMSCPFS, "-dfp", str(wl_files), str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
                break
            except OSError:
                time.sleep(0.05)
        else:
            pytest.fail("wlmscpfs did not start")
        yield port
    finally:
        process.terminate()
        process.wait(timeout=10)


def _findscu(
    port: int, called: str, args: list[str], out: Path, files: tuple[Path, ...] = ()
) -> list[Dataset]:
    out.mkdir(parents=True, exist_ok=True)
    command = [FINDSCU, "-W", "-aec", called, "-X", "-od", str(out), *args]
    result = subprocess.run(
        [*command, "127.0.0.1", str(port), *map(str, files)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    return [pydicom.dcmread(p) for p in sorted(out.glob("rsp*.dcm"))]


# --- findscu -W against our SCP ---------------------------------------------------------------


def test_findscu_gets_the_right_matches(scp: WorklistScp, tmp_path: Path) -> None:
    _need_dcmtk()
    responses = _findscu(
        scp.port,
        "SEGUR_MWL",
        [
            "-k", "(0040,0100)[0].Modality=CT",
            "-k", "(0040,0100)[0].ScheduledProcedureStepStartDate=20260302",
            "-k", "(0040,0100)[0].ScheduledStationAETitle=",
            "-k", "PatientName=LETOURNEAU*",
            "-k", "AccessionNumber=",
            "-k", "StudyInstanceUID=",
            "-k", "(0010,1002)[0].PatientID=",
        ],
        tmp_path,
    )  # fmt: skip
    assert sorted(r.AccessionNumber for r in responses) == sorted(f"HL7{n}" for n in range(12))
    first = responses[0]
    assert {e.keyword for e in first} == {
        "SpecificCharacterSet",
        "AccessionNumber",
        "PatientName",
        "StudyInstanceUID",
        "ScheduledProcedureStepSequence",
        "OtherPatientIDsSequence",
    }
    sps = first.ScheduledProcedureStepSequence[0]
    assert (sps.Modality, sps.ScheduledStationAETitle) == ("CT", "SCANNER1")
    assert first.SpecificCharacterSet == "ISO_IR 192"
    assert str(first.PatientName) == "LETOURNEAU^ELODIE"  # INS-normalised traits (built order)


def test_findscu_single_item_and_no_match(scp: WorklistScp, tmp_path: Path) -> None:
    _need_dcmtk()
    (one,) = _findscu(
        scp.port,
        "SEGUR_MWL",
        ["-k", "AccessionNumber=HL77", "-k", "PatientID=", "-k", "RequestedProcedureID="],
        tmp_path / "one",
    )
    assert (one.PatientID, one.RequestedProcedureID) == ("IPP7", "RP7")
    none = _findscu(scp.port, "SEGUR_MWL", ["-k", "PatientID=NOBODY"], tmp_path / "none")
    assert none == []


# --- same answers as wlmscpfs ----------------------------------------------------------------

_RETURN_KEYS = """(0008,0050) SH []
(0010,0010) PN {name}
(0010,0020) LO {pid}
(0010,0030) DA []
(0010,0040) CS []
(0020,000d) UI []
(0032,1060) LO []
(0040,1001) SH []
(0040,1003) SH []
(0040,0100) SQ
(fffe,e000) -
(0008,0060) CS {modality}
(0040,0001) AE {aet}
(0040,0002) DA {date}
(0040,0003) TM {time}
(0040,0007) LO []
(0040,0009) SH []
(fffe,e00d) -
(fffe,e0dd) -
"""
_QUERIES = {
    "all": {},
    "ct_1996": {"modality": "[CT]", "date": "[19960101-19961231]"},
    "name_wildcard": {"name": "[HAYDN*]"},
    "name_question_mark": {"name": "[MOZAR?^WOLFGANG^AMADEUS]"},
    "multi_valued_aet": {"aet": "[NN77]"},
    "patient_and_open_range": {"pid": "[AV35674]", "date": "[19960101-]"},
    "time_range": {"time": "[0800-1200]"},
    "until_date": {"date": "[-19951231]"},
    "no_match": {"modality": "[MG]"},
}


def _normalise(ds: Dataset) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for element in ds:
        if element.tag in (0x00080005,) or element.tag.group == 0x0002:
            continue
        if element.VR == "SQ":
            out[str(element.tag)] = [_normalise(item) for item in element.value]
        else:
            value = element.value
            text = "\\".join(map(str, value)) if isinstance(value, list | tuple) else value
            out[str(element.tag)] = str(text or "").strip()
    return out


@pytest.fixture(scope="module")
def dcmtk_scp(wl_files: Path) -> Iterator[int]:
    """Our SCP serving only DCMTK's sample items (the data wlmscpfs serves)."""
    with WorklistStore() as only_dcmtk:
        for path in sorted((wl_files / "OFFIS").glob("*.wl")):
            only_dcmtk.upsert(pydicom.dcmread(path))
        with WorklistScp(only_dcmtk) as ours:
            yield ours.port


def _compare(
    values: dict[str, str], ours_port: int, wlmscpfs: int, tmp_path: Path
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """(our answers, wlmscpfs' answers) to the query file made from ``values``."""
    name = "query"
    values = {
        "name": "[]",
        "pid": "[]",
        "modality": "[]",
        "aet": "[]",
        "date": "[]",
        "time": "[]",
        **values,
    }
    dump = tmp_path / f"{name}.dump"
    dump.write_text(_RETURN_KEYS.format(**values))
    query = tmp_path / f"{name}.dcm"
    subprocess.run([DUMP2DCM, "-q", str(dump), str(query)], check=True, timeout=30)
    mine = _findscu(ours_port, "OFFIS", [], tmp_path / "ours", (query,))
    theirs = _findscu(wlmscpfs, "OFFIS", [], tmp_path / "dcmtk", (query,))

    def key(ds: dict[str, Any]) -> str:
        return str(ds.get("(0008,0050)", ""))

    ours_n = sorted((_normalise(d) for d in mine), key=key)
    theirs_n = sorted((_normalise(d) for d in theirs), key=key)
    return ours_n, theirs_n


@pytest.mark.parametrize("name", sorted(_QUERIES))
def test_same_answers_as_wlmscpfs(name: str, dcmtk_scp: int, wlmscpfs: int, tmp_path: Path) -> None:
    ours, theirs = _compare(_QUERIES[name], dcmtk_scp, wlmscpfs, tmp_path)
    assert ours == theirs
    if name != "no_match":
        assert ours, "the query should find something"


def test_known_difference_wildcard_on_ae_title(
    dcmtk_scp: int, wlmscpfs: int, tmp_path: Path
) -> None:
    """PS3.4 allows wildcards on AE values; wlmscpfs only does single value matching on
    ScheduledStationAETitle. We follow PS3.4 (documented in docs/dicom.rst)."""
    ours, theirs = _compare({"aet": "[AA3*]"}, dcmtk_scp, wlmscpfs, tmp_path)
    assert theirs == []
    assert sorted(d["(0008,0050)"] for d in ours) == ["00000", "00004"]


# --- statuses, limits and bad input (pynetdicom SCU) ----------------------------------------


def test_unsupported_private_key_answers_ff01(scp: WorklistScp) -> None:
    query = _query(Modality="CT")
    query.add(DataElement(0x00091010, "LO", "x"))
    query.AccessionNumber = "HL73"
    answers = find_worklist(scp.port, query)
    assert [s for s, _ in answers] == [STATUS_UNSUPPORTED_KEYS, 0x0000]


@pytest.mark.parametrize(
    "bad",
    ["2026-03-02", "20260302-20260301", "2026*", "20261399"],
)
def test_malformed_query_answers_a900_and_server_keeps_serving(scp: WorklistScp, bad: str) -> None:
    (answer,) = find_worklist(scp.port, _query(ScheduledProcedureStepStartDate=bad))
    assert answer[0] == 0xA900
    ok = find_worklist(scp.port, _query(Modality="CT", ScheduledProcedureStepStartDate="20260302"))
    assert [s for s, _ in ok].count(0xFF00) == 12


def test_max_matches_answers_out_of_resources() -> None:
    with WorklistStore() as many:
        for message in _orders(30, prefix="M"):
            many.apply_message(message, SETTINGS)
        with WorklistScp(many, max_matches=10) as limited:
            answers = find_worklist(limited.port, _query())
    statuses = [s for s, _ in answers]
    assert statuses[:10] == [0xFF00] * 10
    assert statuses[10:] == [STATUS_OUT_OF_RESOURCES]


class _SlowStore(WorklistStore):
    """A store that takes 20 ms per candidate, to cancel or drop an association mid-query."""

    def candidates(self, query_filter: QueryFilter | None = None) -> Iterator[Dataset]:
        for ds in super().candidates(query_filter):
            time.sleep(0.02)
            yield ds


class _BrokenStore(WorklistStore):
    def candidates(self, query_filter: QueryFilter | None = None) -> Iterator[Dataset]:
        raise RuntimeError("disk on fire")


@pytest.fixture(scope="module")
def slow_scp() -> Iterator[WorklistScp]:
    slow = _SlowStore()
    for message in _orders(40, prefix="S"):
        slow.apply_message(message, SETTINGS)
    with WorklistScp(slow) as running:
        yield running
    slow.close()


def test_cancel_answers_fe00(slow_scp: WorklistScp) -> None:
    ae = AE(ae_title="TEST_SCU")
    ae.add_requested_context(MODALITY_WORKLIST_FIND)
    assoc = ae.associate("127.0.0.1", slow_scp.port)
    guard_scu_reactor(assoc)
    statuses: list[int] = []
    try:
        for status, _ in assoc.send_c_find(_query(), MODALITY_WORKLIST_FIND, msg_id=7):
            statuses.append(int(status.Status))
            if len(statuses) == 2:
                assoc.send_c_cancel(7, query_model=MODALITY_WORKLIST_FIND)
    finally:
        assoc.release()
    assert statuses[-1] == STATUS_CANCEL
    assert len(statuses) < 40


def test_association_dropped_mid_query_then_next_one_works(slow_scp: WorklistScp) -> None:
    ae = AE(ae_title="TEST_SCU")
    ae.add_requested_context(MODALITY_WORKLIST_FIND)
    assoc = ae.associate("127.0.0.1", slow_scp.port)
    guard_scu_reactor(assoc)
    for _status, _identifier in assoc.send_c_find(_query(), MODALITY_WORKLIST_FIND):
        assoc.abort()  # drop the association after the first answer
        break
    assert assoc.is_aborted
    answers = find_worklist(
        slow_scp.port, _query(Modality="CT", ScheduledStationAETitle="SCANNER1")
    )
    assert len(answers) == 41 and answers[-1][0] == 0x0000


def test_handler_failure_answers_c000_and_server_survives() -> None:
    broken = _BrokenStore()
    with WorklistScp(broken) as running:
        (first,) = find_worklist(running.port, _query())
        (second,) = find_worklist(running.port, _query())
    broken.close()
    assert first[0] == second[0] == STATUS_PROCESSING_FAILURE


@pytest.mark.parametrize("nodelay", [True, False])
def test_tcp_nodelay_on_accepted_sockets(nodelay: bool) -> None:
    with WorklistStore() as empty, WorklistScp(empty, tcp_nodelay=nodelay) as running:
        ae = AE(ae_title="TEST_SCU")
        ae.add_requested_context(MODALITY_WORKLIST_FIND)
        assoc = ae.associate("127.0.0.1", running.port)
        try:
            deadline = time.monotonic() + 5
            while not running._server.active_associations and time.monotonic() < deadline:
                time.sleep(0.01)
            (server_side,) = running._server.active_associations
            raw = server_side.dul.socket.socket
            flag = raw.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY)
        finally:
            assoc.release()
    assert bool(flag) is nodelay


def test_loopback_only_unless_allowed() -> None:
    with WorklistStore() as empty:
        with pytest.raises(DicomAssociationError):
            WorklistScp(empty, host="0.0.0.0")
        scp = WorklistScp(empty, host="0.0.0.0", allow_non_loopback=True)
        assert scp.port == 0 and not scp.running


@pytest.mark.parametrize(
    "settings",
    [
        {"port": 70000},
        {"port": -1},
        {"ae_title": ""},
        {"ae_title": "A" * 17},
        {"ae_title": "BAD\\AET"},
        {"ae_title": "ÉCHO"},
    ],
)
def test_bad_port_or_ae_title_is_a_typed_error(settings: dict[str, Any]) -> None:
    with WorklistStore() as empty, pytest.raises(DicomAssociationError):
        WorklistScp(empty, **settings).start()


def test_port_in_use_is_a_typed_error(scp: WorklistScp) -> None:
    with WorklistStore() as empty, pytest.raises(DicomAssociationError):
        WorklistScp(empty, port=scp.port).start()


def test_item_from_hl7_is_accepted_by_wlmscpfs(wl_files: Path, tmp_path: Path) -> None:
    """An item built from an order, written as a .wl file, passes wlmscpfs' completeness check
    (--enable-file-reject, the default) and is found by findscu."""
    _need_dcmtk()
    root = tmp_path / "db"
    (root / "RIS").mkdir(parents=True)
    (root / "RIS" / "lockfile").touch()
    with WorklistStore() as one:
        one.apply_message(next(_orders(1, prefix="W")), SETTINGS)
        item = one.get("W0")
    assert item is not None
    item.file_meta = pydicom.dataset.FileMetaDataset()
    item.file_meta.TransferSyntaxUID = pydicom.uid.ExplicitVRLittleEndian
    item.file_meta.MediaStorageSOPClassUID = "1.2.276.0.7230010.3.1.0.1"  # DCMTK worklist file
    item.file_meta.MediaStorageSOPInstanceUID = pydicom.uid.generate_uid()
    item.save_as(root / "RIS" / "w0.wl", enforce_file_format=True)
    port = _free_port()
    process = subprocess.Popen(
        [WLMSCPFS, "-dfp", str(root), str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        for _ in range(200):
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
                break
            except OSError:
                time.sleep(0.05)
        (found,) = _findscu(
            port, "RIS", ["-k", "AccessionNumber=", "-k", "PatientID="], tmp_path / "out"
        )
    finally:
        process.terminate()
        process.wait(timeout=10)
    assert (found.AccessionNumber, found.PatientID) == ("W0", "IPP0")


def test_dcmtk_paths_are_not_pynetdicom_apps() -> None:
    _need_dcmtk()
    shadow = shutil.which("findscu")
    version = subprocess.run(
        [FINDSCU, "--version"], capture_output=True, text=True, timeout=30
    ).stdout
    assert "dcmtk" in version.lower(), shadow


def test_benchmark_script_runs_quick() -> None:
    _need_dcmtk()
    repo = Path(__file__).resolve().parent.parent
    result = run_benchmark("bench_mwl.py", env={"PYTHONPATH": str(repo)})
    rows = [line for line in result.stdout.splitlines() if line.startswith("| ")]
    assert len(rows) == 7  # header + 6 measured rows
    assert "wlmscpfs (DCMTK)" in result.stdout and "segur_ris median" in result.stdout


@pytest.mark.parametrize("charset", ["ISO_IR 192", "ISO_IR 100"])
def test_french_names_reach_findscu_intact(ref_dir: Path, tmp_path: Path, charset: str) -> None:
    _need_dcmtk()
    flux1 = ref_dir / "hl7/ansforge_interop-ig-hl7v2-teleradiologie/input/pagecontent"
    raw = (flux1 / "exemples.md.extracted/Flux1_ORM_O01.hl7").read_bytes()
    raw = raw.replace(b"PAT-TROIS^DOMINIQUE", "LÉTOURNEAU-FAÇADE^JOSÉ".encode())
    settings = WorklistSettings(uid_root="1.2.3", character_set=charset)
    with WorklistStore() as one:
        one.apply_message(raw, settings)
        with WorklistScp(one) as running:
            (found,) = _findscu(
                running.port,
                "SEGUR_MWL",
                ["-k", "SpecificCharacterSet=ISO_IR 192", "-k", "PatientName=LÉTOURNEAU*"],
                tmp_path,
            )
    assert found.SpecificCharacterSet == charset
    assert str(found.PatientName) == "LÉTOURNEAU-FAÇADE^JOSÉ"


def test_concurrent_associations(scp: WorklistScp) -> None:
    import concurrent.futures

    def one(n: int) -> list[str]:
        query = _query(Modality="CT")
        query.AccessionNumber = f"HL7{n}"
        return [ds.AccessionNumber for s, ds in find_worklist(scp.port, query) if s == 0xFF00]

    with concurrent.futures.ThreadPoolExecutor(max_workers=6) as pool:
        results = list(pool.map(one, range(12)))
    assert results == [[f"HL7{n}"] for n in range(12)]


@pytest.mark.parametrize("explicit", [False, True])
def test_long_answer_is_fragmented_to_the_scu_max_pdu(explicit: bool) -> None:
    """An answer bigger than the SCU's maximum PDU goes in several P-DATA fragments (PS3.8 E.2)
    that the SCU reassembles; implicit and explicit VR transfer syntaxes."""
    from pydicom.uid import ExplicitVRLittleEndian, ImplicitVRLittleEndian

    history = "antécédents " * 700  # LT, about 8.4 kB once UTF-8 encoded
    item = WorklistItem(
        accession_number="LONG1",
        study_instance_uid="1.2.250.1.999.7.1",
        requested_procedure_id="RP1",
        sps_id="SPS1",
        modality="CT",
        station_ae_title="SCANNER1",
        start=dt.datetime(2026, 3, 2, 8, 30),
        patient_name="LÉTOURNEAU^ÉLODIE",
        patient_id="IPP1",
        requested_procedure_description="TDM thorax",
        patient_history=history.strip(),
    )
    syntax = ExplicitVRLittleEndian if explicit else ImplicitVRLittleEndian
    with WorklistStore() as store, WorklistScp(store) as running:
        store.upsert(item)
        sizes: list[int] = []

        def received(event: Any) -> None:
            if event.pdu.pdu_type == 0x04:  # P-DATA-TF
                sizes.append(len(event.pdu.encode()))

        query = Dataset()
        query.AdditionalPatientHistory = ""
        query.PatientName = ""
        query.ScheduledProcedureStepSequence = [Dataset()]
        query.ScheduledProcedureStepSequence[0].Modality = "CT"
        answers = find_worklist(
            running.port,
            query,
            syntaxes=[syntax],
            max_pdu=4096,  # maximum length of a P-DATA-TF's variable field (PS3.8 D.1)
            evt_handlers=[(evt.EVT_PDU_RECV, received)],
        )
    assert [status for status, _ in answers] == [0xFF00, 0x0000]
    # 6-byte PDU header + at most 4096; command, 3 data fragments, final status
    assert max(sizes) <= 6 + 4096 and len(sizes) >= 5
    answer = answers[0][1]
    assert answer.AdditionalPatientHistory == history.strip()
    assert str(answer.PatientName) == "LÉTOURNEAU^ÉLODIE"
    assert answer.ScheduledProcedureStepSequence[0].Modality == "CT"


def test_repeated_query_sees_store_changes() -> None:
    """A modality polls with the same identifier: the compiled query and the encoded answers
    are reused, but every poll answers from the store as it is now."""

    def item(accession: str, name: str) -> WorklistItem:
        return WorklistItem(
            accession_number=accession,
            study_instance_uid=f"1.2.250.1.999.7.{len(accession)}{accession[-1:]}",
            requested_procedure_id="RP1",
            sps_id="SPS1",
            modality="MR",
            station_ae_title="IRM_1",
            start=dt.datetime(2026, 3, 2, 8, 30),
            patient_name=name,
            patient_id=f"IPP-{accession}",
            requested_procedure_description="IRM genou",
        )

    query = _query(Modality="MR")
    with WorklistStore() as store, WorklistScp(store) as running:
        store.upsert(item("P1", "DUPONT^JEANNE"))
        first = find_worklist(running.port, query)
        store.upsert(item("P2", "MARTIN^PAUL"))
        store.upsert(item("P1", "DUPONT-DURAND^JEANNE"))  # a change (ORC XO) of P1
        second = find_worklist(running.port, query)
        store.cancel(accession_number="P1")
        third = find_worklist(running.port, query)
        assert len(running._queries) == 1  # one identifier, compiled once
    assert [str(ds.PatientName) for status, ds in first if status == 0xFF00] == ["DUPONT^JEANNE"]
    assert sorted(str(ds.PatientName) for status, ds in second if status == 0xFF00) == [
        "DUPONT-DURAND^JEANNE",
        "MARTIN^PAUL",
    ]
    assert [str(ds.PatientName) for status, ds in third if status == 0xFF00] == ["MARTIN^PAUL"]
