"""Modality Worklist C-FIND latency on loopback: segur_ris SCP vs pynetdicom defaults vs wlmscpfs.

Run: ``python benchmarks/bench_mwl.py`` (needs Debian ``dcmtk`` for the wlmscpfs column).
Prints the median and 90th percentile of one C-FIND answered with 10 matches (the worklist holds
200 items), over an open association, in one run:

* segur_ris: :class:`WorklistScp` (SQLite store, PS3.4 matching, TCP_NODELAY on its sockets);
* pynetdicom defaults: the same SCP with ``tcp_nodelay=False`` (pynetdicom's socket settings);
* wlmscpfs: DCMTK's file-based SCP serving the same 200 items as ``.wl`` files;
* pynetdicom standard path: the same server yielding 10 ready-made datasets to pynetdicom (no
  store, no matching), which encodes and sends each answer itself: what our SCP would cost
  without its direct sending of pending answers;
* segur_ris matching only: store look-up, PS3.4 matching and answers, in process.

The SCU is a blocking raw-socket client (:class:`RawScu`, TCP_NODELAY, no polling) so that the
server is what is measured; one more row uses pynetdicom's own SCU (a modality written with
pynetdicom). Target: segur_ris median <= 10 ms. ``BENCH_QUICK=1`` does a short smoke run.
"""

from __future__ import annotations

import datetime as dt
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

QUICK = os.environ.get("BENCH_QUICK") == "1"
ROUNDS = 5 if QUICK else 60
SLOW_ROUNDS = 3 if QUICK else 15  # Nagle-bound servers are slow: fewer rounds
WLMSCPFS = "/usr/bin/wlmscpfs"  # never the pynetdicom console script of the same family
FIND = "1.2.840.10008.5.1.4.31"
TARGET_MS = 10.0


def _items() -> list[object]:
    from segur_ris.dicom import WorklistItem

    items = []
    for n in range(200):
        items.append(
            WorklistItem(
                accession_number=f"ACC{n:05d}",
                study_instance_uid=f"1.2.250.1.999.5.{n + 1}",
                requested_procedure_id=f"RP{n}",
                sps_id=f"SPS{n}",
                modality="CT" if n % 20 == 0 else "MR",  # 10 CT items out of 200
                station_ae_title="SCANNER1",
                start=dt.datetime(2026, 3, 2, 8) + dt.timedelta(minutes=15 * n),
                patient_name=f"LÉTOURNEAU^ÉLODIE{n}",
                patient_id=f"IPP{n}",
                issuer_of_patient_id="AUT-AFFECTATION",
                birth_date=dt.date(1981, 2, 3),
                sex="F",
                requested_procedure_description="TDM thorax",
                character_set="ISO_IR 100",
            )
        )
    return items


def _query() -> object:
    from pydicom import Dataset

    ds = Dataset()
    ds.SpecificCharacterSet = "ISO_IR 100"
    for keyword in ("AccessionNumber", "PatientName", "PatientID", "PatientBirthDate"):
        setattr(ds, keyword, "")
    ds.StudyInstanceUID = ""
    ds.RequestedProcedureID = ""
    sps = Dataset()
    sps.Modality = "CT"
    sps.ScheduledStationAETitle = ""
    sps.ScheduledProcedureStepStartDate = ""
    sps.ScheduledProcedureStepStartTime = ""
    sps.ScheduledProcedureStepID = ""
    ds.ScheduledProcedureStepSequence = [sps]
    return ds


def _measure(port: int, called: str, rounds: int) -> list[float]:
    from pynetdicom import AE

    ae = AE(ae_title="BENCH_SCU")
    ae.add_requested_context(FIND)
    assoc = ae.associate("127.0.0.1", port, ae_title=called)
    if not assoc.is_established:
        raise RuntimeError(f"association refused by {called}@{port}")
    assoc.dul.socket.socket.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    # pynetdicom 3.0's requestor reactor may poll the DIMSE queue while send_c_find believes it
    # paused, and drop the first response of a fast SCP (~1 query in 200): keep it away.
    get_msg = assoc.dimse.get_msg
    assoc.dimse.get_msg = lambda block=False: get_msg(block) if block else (None, None)
    query = _query()
    times: list[float] = []
    try:
        for _ in range(rounds + 1):  # the first one warms up
            start = time.perf_counter()
            matches = sum(
                1 for status, ds in assoc.send_c_find(query, FIND) if status and ds is not None
            )
            times.append((time.perf_counter() - start) * 1000)
            if matches != 10:
                raise RuntimeError(f"{called}: {matches} matches instead of 10")
    finally:
        assoc.release()
    return times[1:]


def _in_process(items: list[object], rounds: int) -> list[float]:
    """Store look-up + matching + answers of the same query, without the network."""
    from segur_ris.dicom import WorklistStore, parse_query

    times: list[float] = []
    with WorklistStore() as store:
        for item in items:
            store.upsert(item)  # type: ignore[arg-type]
        for _ in range(rounds + 1):
            start = time.perf_counter()
            query = parse_query(_query())  # type: ignore[arg-type]
            answers = [
                query.response(c) for c in store.candidates(query.filter) if query.matches(c)
            ]
            times.append((time.perf_counter() - start) * 1000)
            assert len(answers) == 10
    return times[1:]


class RawScu:
    """A blocking, single-threaded MWL SCU on a plain socket (TCP_NODELAY, one ``sendall`` per
    request, blocking reads): it adds no polling delay of its own, so it measures the server.

    pynetdicom's SCU is event-loop based (its reactor sleeps 1 ms when idle) and is measured
    separately; the bytes here are built with pynetdicom's own DIMSE/PDU encoders.
    """

    def __init__(self, port: int, called: str) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port))
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.msg_id = 0

        def item(kind: int, body: bytes) -> bytes:
            return bytes([kind, 0]) + len(body).to_bytes(2, "big") + body

        context = bytes([1, 0, 0, 0]) + item(0x30, FIND.encode()) + item(0x40, b"1.2.840.10008.1.2")
        user = item(0x51, (16384).to_bytes(4, "big")) + item(0x52, b"1.2.826.0.1.3680043.9.1")
        body = (
            b"\x00\x01\x00\x00"
            + called.encode().ljust(16)
            + b"BENCH_RAW".ljust(16)
            + bytes(32)
            + item(0x10, b"1.2.840.10008.3.1.1.1")
            + item(0x20, context)
            + item(0x50, user)
        )
        self.sock.sendall(b"\x01\x00" + len(body).to_bytes(4, "big") + body)
        kind, _ = self._pdu()
        if kind != 0x02:
            raise RuntimeError(f"association refused (PDU type {kind})")

    def _exact(self, size: int) -> bytes:
        data = bytearray()
        while len(data) < size:
            chunk = self.sock.recv(size - len(data))
            if not chunk:
                raise RuntimeError("connection closed")
            data += chunk
        return bytes(data)

    def _pdu(self) -> tuple[int, bytes]:
        header = self._exact(6)
        return header[0], self._exact(int.from_bytes(header[2:6], "big"))

    def find(self, query: object) -> int:
        """Send one C-FIND; the number of pending answers before the final status."""
        from io import BytesIO

        from pynetdicom.dimse_messages import C_FIND_RQ
        from pynetdicom.dimse_primitives import C_FIND
        from pynetdicom.dsutils import encode
        from pynetdicom.pdu import P_DATA_TF

        self.msg_id += 1
        primitive = C_FIND()
        primitive.MessageID = self.msg_id
        primitive.AffectedSOPClassUID = FIND
        primitive.Priority = 2
        primitive.Identifier = BytesIO(encode(query, True, True))  # type: ignore[arg-type]
        message = C_FIND_RQ()
        message.primitive_to_message(primitive)
        out = bytearray()
        for p_data in message.encode_msg(1, 16372):
            pdu = P_DATA_TF()
            pdu.from_primitive(p_data)
            out += pdu.encode()
        self.sock.sendall(out)
        matches = 0
        command = bytearray()
        while True:
            kind, body = self._pdu()
            if kind != 0x04:
                raise RuntimeError(f"unexpected PDU type {kind}")
            offset = 0
            while offset < len(body):
                length = int.from_bytes(body[offset : offset + 4], "big")
                control = body[offset + 5]
                value = body[offset + 6 : offset + 4 + length]
                offset += 4 + length
                if not control & 1:  # dataset fragment
                    if control & 2:
                        matches += 1
                    continue
                command += value
                if control & 2:
                    status = _status_of(bytes(command))
                    command.clear()
                    if status not in (0xFF00, 0xFF01):
                        return matches

    def close(self) -> None:
        try:
            self.sock.sendall(b"\x05\x00\x00\x00\x00\x04\x00\x00\x00\x00")
            self._pdu()  # A-RELEASE-RP
        finally:
            self.sock.close()


def _status_of(command: bytes) -> int:
    """(0000,0900) Status of an implicit VR little endian command set."""
    offset = 0
    while offset + 8 <= len(command):
        group = int.from_bytes(command[offset : offset + 2], "little")
        element = int.from_bytes(command[offset + 2 : offset + 4], "little")
        length = int.from_bytes(command[offset + 4 : offset + 8], "little")
        if (group, element) == (0, 0x0900):
            return int.from_bytes(command[offset + 8 : offset + 10], "little")
        offset += 8 + length
    raise RuntimeError("no Status in the C-FIND response")


def _measure_raw(port: int, called: str, rounds: int) -> list[float]:
    scu = RawScu(port, called)
    query = _query()
    times: list[float] = []
    try:
        for _ in range(rounds + 1):
            start = time.perf_counter()
            matches = scu.find(query)
            times.append((time.perf_counter() - start) * 1000)
            if matches != 10:
                raise RuntimeError(f"{called}: {matches} matches instead of 10")
    finally:
        scu.close()
    return times[1:]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _wlmscpfs(items: list[object], folder: Path, rounds: int) -> list[float] | None:
    """DCMTK's wlmscpfs on the same items (``.wl`` files), measured with the raw SCU."""
    if not os.access(WLMSCPFS, os.X_OK):
        return None
    import pydicom
    from pydicom.dataset import FileMetaDataset
    from pydicom.uid import ExplicitVRLittleEndian, generate_uid

    aet = folder / "BENCH"
    aet.mkdir()
    (aet / "lockfile").touch()
    for n, item in enumerate(items):
        ds = item.dataset()  # type: ignore[attr-defined]
        ds.file_meta = FileMetaDataset()
        ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
        ds.file_meta.MediaStorageSOPClassUID = "1.2.276.0.7230010.3.1.0.1"
        ds.file_meta.MediaStorageSOPInstanceUID = generate_uid()
        pydicom.dcmwrite(aet / f"item{n}.wl", ds, enforce_file_format=True)
    port = _free_port()
    process = subprocess.Popen(
        [WLMSCPFS, "-dfp", str(folder), str(port)],
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
        return _measure_raw(port, "BENCH", rounds)
    finally:
        process.terminate()
        process.wait(timeout=10)


def _row(name: str, times: list[float] | None) -> str:
    if times is None:
        return f"| {name:<28} | {'n/a (dcmtk missing)':>19} | {'':>9} | {'':>6} |"
    median = statistics.median(times)
    p90 = sorted(times)[max(0, int(len(times) * 0.9) - 1)]
    return f"| {name:<28} | {median:>16.2f} ms | {p90:>6.2f} ms | {len(times):>6} |"


_SERVER = """
import sys
from segur_ris.dicom import WorklistScp, WorklistStore
sys.path.insert(0, {bench_dir!r})
from bench_mwl import _items
store = WorklistStore()
for item in _items():
    store.upsert(item)
scp = WorklistScp(store, ae_title="BENCH", tcp_nodelay={nodelay})
if {canned}:  # pynetdicom standard path: 10 ready-made answers, no store, no matching
    from pydicom import Dataset
    def canned(event):
        for n in range(10):
            ds = Dataset()
            ds.AccessionNumber = f"A{{n}}"
            ds.PatientName = "X^Y"
            yield 0xFF00, ds
    scp._on_find = canned
with scp:
    print(scp.port, flush=True)
    sys.stdin.read()  # until the benchmark closes our stdin
"""


def _ours(nodelay: bool, rounds: int, *, canned: bool = False, raw: bool = True) -> list[float]:
    """Our SCP in its own process (a modality and the RIS are separate processes: sharing one
    interpreter would make the SCU's and SCP's pynetdicom threads fight for the GIL)."""
    code = _SERVER.format(
        bench_dir=str(Path(__file__).resolve().parent), nodelay=nodelay, canned=canned
    )
    process = subprocess.Popen(
        [sys.executable, "-c", code],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None and process.stdin is not None
        port = int(process.stdout.readline())
        return (_measure_raw if raw else _measure)(port, "BENCH", rounds)
    finally:
        assert process.stdin is not None and process.stdout is not None
        process.stdin.close()
        process.wait(timeout=30)
        process.stdout.close()


def main() -> int:
    items = _items()
    results: dict[str, list[float] | None] = {}
    results["segur_ris (TCP_NODELAY)"] = _ours(True, ROUNDS)
    results["pynetdicom default sockets"] = _ours(False, SLOW_ROUNDS)
    with tempfile.TemporaryDirectory() as folder:
        results["wlmscpfs (DCMTK)"] = _wlmscpfs(items, Path(folder), ROUNDS)
    results["pynetdicom standard path"] = _ours(True, ROUNDS, canned=True)
    results["segur_ris, pynetdicom SCU"] = _ours(True, ROUNDS, raw=False)
    results["segur_ris matching only"] = _in_process(items, ROUNDS)

    print("C-FIND MWL, 10 matches out of 200 items, loopback, one open association,")
    print("blocking raw-socket SCU unless said otherwise")
    print(f"| {'server':<28} | {'median':>19} | {'p90':>9} | {'rounds':>6} |")
    print(f"|{'-' * 30}|{'-' * 21}|{'-' * 11}|{'-' * 8}|")
    for name, times in results.items():
        print(_row(name, times))
    ours_ms = statistics.median(results["segur_ris (TCP_NODELAY)"] or [0.0])
    verdict = "OK" if ours_ms <= TARGET_MS else "ABOVE TARGET"
    print(f"segur_ris median {ours_ms:.2f} ms (target <= {TARGET_MS:.0f} ms): {verdict}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
