"""HL7 v2 reading: segur_ris vs python-hl7 vs hl7apy, side by side in one run.

Run: ``python benchmarks/bench_hl7.py`` (reads the ANS samples from ``../shared/ref`` or
``$SEGUR_RIS_REF``). The task is what a RIS does with each message: parse it, read the INS
(PID-3 repetition whose CX-5 is ``INS``) and decode the document of the first ED OBX (base64 of
OBX-5.5). Messages:

* ADT^A01 PAM FR, 0.8 KB (ANS SGL sample);
* ORU^R01 2 KB: the ANS CDA-transmission ORU with a tiny OBX-5;
* ORU^R01 32 KB: the same carrying a 22.5 KB PDF (``^AP^PDF^Base64^``);
* the ANS ORU CR-BIO N3, 293 KB, as published.

python-hl7 and hl7apy need CR segment separators: the LF of the ANS files is replaced before
timing (a cost segur_ris does not have, not counted against them). hl7apy drops ZBE/ZFA and PRT
(see peers_perf.md); it is timed on the same text anyway. Each side decodes base64 the way its
users would: segur_ris with its own ``decode_base64`` (pybase64, SIMD), the peers with the
standard library. The second table (no decode) isolates the parsers.
"""

from __future__ import annotations

import base64
import os
import random
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
REF = Path(os.environ.get("SEGUR_RIS_REF", ROOT.parent / "shared" / "ref"))
ADT = REF / "hl7/ansforge_hl7V2-exemples/SGL/admission.er7"
ORU = (
    REF / "hl7/ansforge_hl7V2-exemples/Vague 2/Trans_Doc-CDA-HL7V2/"
    "TRANSMISSION_DOCS_CDA_EN_HL7V2_V2.1/ORU/Transmission initiale ORU/"
    "message_ORU_CR_Bio_INIT_N3_SEGUR.hl7"
)
QUICK = os.environ.get("BENCH_QUICK") == "1"


def _with_obx5(oru: bytes, payload: str) -> bytes:
    """The ANS ORU with the first ED OBX-5 replaced by ``payload``."""
    lines = oru.split(b"\n")
    for i, line in enumerate(lines):
        if line.startswith(b"OBX|") and line.split(b"|")[2] == b"ED":
            fields = line.split(b"|")
            fields[5] = payload.encode()
            lines[i] = b"|".join(fields)
            break
    return b"\n".join(lines)


def fixtures() -> dict[str, bytes]:
    oru = ORU.read_bytes()
    tiny_cda = base64.b64encode(b'<?xml version="1.0"?><ClinicalDocument/>').decode()
    pdf = b"%PDF-1.4\n" + random.Random(0).randbytes(22_500)
    return {
        "ADT^A01 0.8 KB": ADT.read_bytes(),
        "ORU^R01 2 KB": _with_obx5(oru, f"^TEXT^XML^Base64^{tiny_cda}"),
        "ORU^R01 32 KB PDF": _with_obx5(oru, f"^AP^PDF^Base64^{base64.b64encode(pdf).decode()}"),
        "ORU^R01 ANS 293 KB": oru,
    }


def ours(data: bytes, decode: bool = True) -> tuple[str, int]:
    from segur_ris.hl7v2 import decode_base64, parse_message

    message = parse_message(data)
    pid = message.segment("PID")
    assert pid is not None
    ins = next(r.get(1) for r in pid.repetitions(3) if r.get(5) == "INS")
    size = 0
    for obx in message.segments_named("OBX"):
        if obx.get(2) == "ED":
            document = obx.get(5, 5)
            size = len(decode_base64(document)) if decode else len(document)
            break
    return ins, size


def python_hl7(text: str, decode: bool = True) -> tuple[str, int]:
    import hl7

    message = hl7.parse(text)
    pid = message.segment("PID")
    ins = next(str(rep[0]) for rep in pid[3] if str(rep[4]) == "INS")
    size = 0
    for segment in message:
        if str(segment[0]) == "OBX" and str(segment[2]) == "ED":
            document = str(segment[5][0][4])
            size = len(base64.b64decode(document)) if decode else len(document)
            break
    return ins, size


def _find(element: Any, name: str) -> list[Any]:
    found = []
    for child in element.children:
        if child.name == name:
            found.append(child)
        elif child.classname == "Group":
            found.extend(_find(child, name))
    return found


def hl7apy(text: str, decode: bool = True) -> tuple[str, int]:
    from hl7apy.parser import parse_message

    message = parse_message(text)
    pid = _find(message, "PID")[0]
    ins = ""
    for rep in pid.pid_3:
        parts = rep.to_er7().split("^")
        if len(parts) > 4 and parts[4] == "INS":
            ins = parts[0]
    size = 0
    for obx in _find(message, "OBX"):
        if obx.obx_2.to_er7() == "ED":
            document = obx.obx_5.to_er7().split("^")[4]
            size = len(base64.b64decode(document)) if decode else len(document)
            break
    return ins, size


def rate(fn: Callable[[], object], budget: float) -> float:
    """Calls per second: best of 3 batches sized to last about ``budget`` seconds each."""
    fn()
    start = time.perf_counter()
    fn()
    once = max(time.perf_counter() - start, 1e-6)
    n = max(1, int(budget / once))
    best = min(_timed(fn, n) for _ in range(1 if QUICK else 3))
    return n / best


def _timed(fn: Callable[[], object], n: int) -> float:
    start = time.perf_counter()
    for _ in range(n):
        fn()
    return time.perf_counter() - start


def _row(name: str, data: bytes, decode: bool, budget: float) -> None:
    text = data.decode("utf-8").replace("\r\n", "\r").replace("\n", "\r")
    expected = ours(data, decode)
    assert python_hl7(text, decode) == expected, name
    ours_rate = rate(lambda: ours(data, decode), budget)
    peer_rate = rate(lambda: python_hl7(text, decode), budget)
    try:
        assert hl7apy(text, decode)[0] == expected[0], name
        apy_rate = rate(lambda: hl7apy(text, decode), budget / 4)
        apy, apy_ratio = f"{apy_rate:9.1f}", f"{ours_rate / apy_rate:9.0f}x"
    except Exception as exc:  # hl7apy refuses some messages: say so
        apy, apy_ratio = "   failed", f"{type(exc).__name__:>10}"
    print(
        f"{name:20} {ours_rate:12.0f} {peer_rate:13.0f} {apy} "
        f"{ours_rate / peer_rate:13.1f}x {apy_ratio}"
    )


def main() -> int:
    if not ADT.is_file() or not ORU.is_file():
        print(f"reference data missing under {REF}", file=sys.stderr)
        return 2
    from importlib.metadata import version

    budget = 0.02 if QUICK else 0.4
    print(
        f"python-hl7 {version('hl7')}, hl7apy {version('hl7apy')}, Python {sys.version.split()[0]}"
    )
    for decode in (True, False):
        task = "parse + read INS + decode OBX-5" if decode else "parse + read INS + read OBX-5"
        print(f"\n{task}")
        print(
            f"{'message':20} {'segur_ris/s':>12} {'python-hl7/s':>13} {'hl7apy/s':>9} "
            f"{'vs python-hl7':>14} {'vs hl7apy':>10}"
        )
        for name, data in fixtures().items():
            _row(name, data, decode, budget)
    return 0


if __name__ == "__main__":
    sys.exit(main())
