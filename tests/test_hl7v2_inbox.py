"""The durable inbox and ``segur-ris hl7 listen``: stored before acknowledged."""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path

from segur_ris.hl7v2 import PeerInfo, parse_message, send_message
from segur_ris.hl7v2._inbox import Hl7Inbox

PEER = PeerInfo("127.0.0.1", 40000)
_PID = (
    [
        "PID",
        "1",
        "",
        "000003^^^CHU-X&000897406&N^PI",
        "",
        "PAT-TROIS^DOMINIQUE^DOMINIQUE^^^^L",
        "",
        "19790328",
        "F",
    ]
    + [""] * 23
    + ["PROV"]
)
GOOD = (
    b"MSH|^~\\&|GAM|CHU-X|RIS|CHU-X|20240306111154||ADT^A28^ADT_A05|MSG-1|P|2.5^FRA^2.11|||||FRA|"
    b"UNICODE UTF-8\rEVN||20240306111154\r" + "|".join(_PID).encode() + b"\r"
)


def msa(ack: bytes) -> tuple[str, str]:
    message = parse_message(ack)
    segment = message.segment("MSA")
    assert segment is not None
    return segment.get(1), segment.get(2)


def test_inbox_stores_then_acknowledges(tmp_path: Path) -> None:
    inbox = Hl7Inbox(tmp_path)
    assert msa(inbox(GOOD, PEER)) == ("AA", "MSG-1")
    stored = list(tmp_path.glob("*.hl7"))
    assert len(stored) == 1 and stored[0].read_bytes() == GOOD
    assert "ADT_A28-MSG-1" in stored[0].name
    assert msa(inbox(GOOD, PEER)) == ("AA", "MSG-1")  # same control id: a second file
    assert len(list(tmp_path.glob("*.hl7"))) == 2
    assert not list(tmp_path.glob(".*.tmp"))


def test_inbox_rejects_with_ae_and_ar(tmp_path: Path) -> None:
    inbox = Hl7Inbox(tmp_path)
    no_pid32 = GOOD.replace(b"|PROV\r", b"|\r")
    code, control = msa(ack := inbox(no_pid32, PEER))
    assert (code, control) == ("AE", "MSG-1")
    err = parse_message(ack).segment("ERR")
    assert err is not None and err.get(3) == "101"  # PID-32 required in France
    assert msa(inbox(b"garbage, not HL7", PEER))[0] == "AR"
    rejected = sorted(p.name for p in (tmp_path / "rejected").glob("*.hl7"))
    assert len(rejected) == 2 and not list(tmp_path.glob("*.hl7"))


def test_listen_command_over_mllp(tmp_path: Path) -> None:
    inbox = tmp_path / "inbox"
    proc = subprocess.Popen(
        [sys.executable, "-m", "segur_ris", "hl7", "listen", "--port", "0", "--dir", str(inbox)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        banner = proc.stdout.readline()
        assert "mllp://127.0.0.1:" in banner, banner + (proc.stderr.read() if proc.stderr else "")
        port = int(banner.split("mllp://127.0.0.1:")[1].split()[0])
        for number in range(5):
            message = GOOD.replace(b"MSG-1", f"MSG-{number}".encode())
            assert msa(send_message("127.0.0.1", port, message, timeout=10)) == (
                "AA",
                f"MSG-{number}",
            )
        assert len(list(inbox.glob("*.hl7"))) == 5
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=10)
        finally:
            if proc.poll() is None:
                proc.kill()
            for stream in (proc.stdout, proc.stderr):
                if stream:
                    stream.close()
    assert proc.returncode == 0


def test_listen_refuses_a_public_address(tmp_path: Path) -> None:
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "segur_ris",
            "hl7",
            "listen",
            "--host",
            "0.0.0.0",
            "--port",
            "0",
            "--dir",
            str(tmp_path),
        ],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert proc.returncode == 1 and "erreur" in proc.stderr


def test_inbox_files_are_private(tmp_path: Path) -> None:
    inbox = Hl7Inbox(tmp_path / "box")
    inbox(GOOD, PEER)
    stored = next((tmp_path / "box").glob("*.hl7"))
    assert stored.stat().st_mode & 0o777 == 0o600
    assert (tmp_path / "box").stat().st_mode & 0o777 == 0o700


def test_inbox_always_answers_even_when_the_msh_cannot_be_echoed(tmp_path: Path) -> None:
    """Bytes invalid in the declared charset in MSH-3/MSH-10: still one ACK, never a loop."""
    odd = GOOD.replace(b"|GAM|", b"|GAM\xe9|").replace(b"MSG-1", b"MSG-\xff")
    ack = Hl7Inbox(tmp_path)(odd, PEER)
    assert msa(ack)[0] in ("AA", "AE")
    assert len(list(tmp_path.rglob("*.hl7"))) == 1
