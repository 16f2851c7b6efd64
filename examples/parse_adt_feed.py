"""Receive an ADT feed (PAM FR) over MLLP, read each patient's identity, acknowledge it.

Run: ``python examples/parse_adt_feed.py [MESSAGE.hl7 ...]``. Without files, two messages are
built and sent: an A28 with a *provisoire* identity and an A31 carrying the qualified INS. A
real RIS keeps the server running (``segur-ris hl7 listen`` does that and stores the messages).
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import sys
from pathlib import Path

from segur_ris.hl7v2 import (
    MllpClient,
    MllpServer,
    PeerInfo,
    build_ack,
    build_adt,
    read_message,
)
from segur_ris.ins import IdentityTraits, PatientIdentity
from segur_ris.report import ImagingReport

HERE = Path(__file__).resolve().parent


def handle(message: bytes, peer: PeerInfo) -> bytes:
    """The RIS side: read the message, show the identity as PAM FR defines it, acknowledge."""
    view = read_message(message)
    patient = view.patient
    if patient is None:
        print(f"{view.message_type}: pas de PID")
    else:
        name = patient.traits.nom_naissance if patient.traits else "?"
        ins = patient.ins.value if patient.ins else "-"
        print(
            f"{view.message_type} {view.control_id}: {name}, "
            f"identité {patient.status.value}, INS {ins}, IPP {patient.ipp}"
        )
    return build_ack(view.message, "AA")


def sample_messages() -> list[bytes]:
    report = ImagingReport.from_dict(json.loads((HERE / "report.json").read_text("utf-8")))
    qualified = dataclasses.replace(report.patient, ipp="IPP0001")
    traits = qualified.traits
    provisional = PatientIdentity(
        traits=IdentityTraits.create(
            traits.nom_naissance, traits.prenoms, traits.sexe, traits.date_naissance
        ),
        ipp="IPP0001",
    )
    return [build_adt("A28", provisional), build_adt("A31", qualified)]


async def run(messages: list[bytes]) -> int:
    server = await MllpServer.start(handle, host="127.0.0.1", port=0)
    client = MllpClient("127.0.0.1", server.port, timeout=10)
    try:
        for message in messages:
            ack = read_message(await client.send(message))
            print(f"  -> ACK {ack.ack_code} pour {ack.acknowledged_control_id}")
            if not ack.accepted:
                return 1
    finally:
        await client.close()
        await server.close()
    return 0


def main(argv: list[str]) -> int:
    messages = [Path(name).read_bytes() for name in argv] or sample_messages()
    return asyncio.run(run(messages))


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
