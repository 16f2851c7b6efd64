"""Does hl7apy serve segur_ris? Fidelity and speed on the messages our builders write.

Run: ``python benchmarks/bench_hl7apy_fidelity.py`` (``BENCH_QUICK=1``: few iterations). The
ORU/MDM carry the CDA of the ANS MDM sample when ``../shared/ref`` (or ``$SEGUR_RIS_REF``) is
there, else a synthetic 300 KB document.

(a) fidelity: each built message (ACK with ERR, PAM FR ADT^A01 with ZBE/ZFA/ZFD, ORM^O01 and
OMI^O23 of the teleradiology volet, ORU^R01 2.5 and MDM^T02 2.6 with PRT and MetaDMPMSS) goes
through hl7apy ``parse_message(..., validation_level=STRICT, find_groups=True)`` then
``validate()``; the report says whether parsing and validation pass, the first error, and
which of our segments hl7apy's tree no longer holds (dropped silently).

(b) speed: hl7apy STRICT parse (+ validate) against ``segur_ris.hl7v2.parse_message`` (+ reading
the fields a consumer reads), per message, in µs.
"""

from __future__ import annotations

import base64
import datetime as dt
import os
import sys
import timeit
import warnings
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from importlib.metadata import version  # noqa: E402

from hl7apy.consts import VALIDATION_LEVEL  # noqa: E402
from hl7apy.core import Element  # noqa: E402
from hl7apy.parser import parse_message as hl7apy_parse  # noqa: E402

from segur_ris.codes import OID_INS_NIR_TEST  # noqa: E402
from segur_ris.hl7v2 import parse_message  # noqa: E402
from segur_ris.hl7v2._build import (  # noqa: E402
    AssigningAuthority,
    CodedValue,
    Endpoint,
    EntityId,
    Identifier,
    MessageHeader,
)
from segur_ris.hl7v2._build_messages import (  # noqa: E402
    Author,
    CdaTransmission,
    DmpStatus,
    DocumentFlags,
    DocumentId,
    ErrDetail,
    IdentityComplement,
    ImagingOrder,
    Movement,
    Organization,
    Practitioner,
    Recipient,
    Visit,
    build_ack,
    build_adt,
    build_cda_mdm,
    build_cda_oru,
    build_omi,
    build_orm,
)
from segur_ris.ins import IdentityTraits, Ins, PatientIdentity, ProofDocument  # noqa: E402

REF = Path(os.environ.get("SEGUR_RIS_REF", ROOT.parent / "shared" / "ref"))
MDM_SAMPLE = (
    REF / "hl7/ansforge_hl7V2-exemples/Vague 2/Trans_Doc-CDA-HL7V2/"
    "TRANSMISSION_DOCS_CDA_EN_HL7V2_V2.1/MDM/Transmission initiale MDM/"
    "message_MDM_CR_Radio_INIT_N1_Base64.er7"
)
QUICK = os.environ.get("BENCH_QUICK") == "1"
VERSION = version("hl7apy")


def _cda() -> tuple[bytes, str]:
    if MDM_SAMPLE.is_file():
        obx = parse_message(MDM_SAMPLE.read_bytes()).segment("OBX")
        if obx is not None:
            return base64.b64decode(obx.get(5, 5)), "CDA of the ANS MDM sample"
    return b"<ClinicalDocument>" + b"x" * 300_000 + b"</ClinicalDocument>", "synthetic CDA"


def build_all() -> tuple[dict[str, bytes], str]:
    """One message of each kind, as a RIS would send them."""
    traits = IdentityTraits.create("PAT-TROIS", "DOMINIQUE", "F", "1979-03-28", "63220")
    patient = PatientIdentity(
        traits,
        ins=Ins.parse("279035121518989", OID_INS_NIR_TEST),
        insi_verified=True,
        proof=ProofDocument.CARTE_NATIONALE_IDENTITE,
        ipp="000003",
    )
    aut = AssigningAuthority("AUT-AFFECTATION", "120456789", "M")
    visit = Visit("I", Identifier("000897406", aut, "VN"), dt.datetime(2024, 3, 6, 11))
    header = MessageHeader(Endpoint("RIS", "IMAGERIE"), Endpoint("PFI", "GHT"))
    stamp = dt.datetime(2024, 3, 6, 11, 11, 54)
    adt = build_adt(
        "A01",
        patient,
        header=header,
        ipp_authority=aut,
        visit=visit,
        movement=Movement(EntityId("312"), stamp, uf_medicale=("Radiologie", "3435")),
        dmp=DmpStatus("ACTIF", stamp, feeding="INO", consultation="IC"),
        complement=IdentityComplement(sms_consent=True, obtained_by="INSI"),
    )
    order = ImagingOrder(
        patient,
        EntityId("OPN101", AssigningAuthority.iso("1.2.250.1.748.12345678.12")),
        modality=CodedValue("MR", "IRM", "DCM"),
        accession_number=EntityId("ACN101", AssigningAuthority.iso("1.2.250.1.925.994044.27")),
        requested_procedure_id=EntityId("RP1"),
        study_instance_uid="1.2.250.1.213.4.5.2.1.101",
        scheduled_step_id=EntityId("SPS1"),
        ordering_provider=Practitioner("801234567897", "Hoda", "Adam"),
        visit=Visit("O", Identifier("000897406", aut, "VN")),
        header=header,
    )
    cda, origin = _cda()
    doc = CdaTransmission(
        patient,
        cda,
        DocumentId("1.2.250.1.71.4.2.2.120456789.71024000081"),
        Author(Practitioner("801234564895", "Eric", "Thomas"), Organization("Org-Y", "300017985")),
        recipients=(Recipient("adam.hoda@test-ci-sis.mssante.fr"),),
        flags=DocumentFlags(dest_mssante_pat=True, patient_no_reply=True, corps_mail_ps="Bonjour"),
        ipp_authority=aut,
        visit=visit,
        header=header,
    )
    original = parse_message(adt)
    ack = build_ack(
        original,
        "AE",
        errors=[ErrDetail(code="204", segment="PID", sequence=1, field=3, application_code="902")],
    )
    messages = {
        "ACK": ack,
        "ADT^A01 (PAM FR)": adt,
        "ORM^O01": build_orm(order),
        "OMI^O23": build_omi(order),
        "ORU^R01 (2.5)": build_cda_oru(doc),
        "MDM^T02 (2.6)": build_cda_mdm(doc),
    }
    return messages, origin


def _names(element: Element) -> list[str]:
    """Segment names under an hl7apy message or group, depth first."""
    names: list[str] = []
    for child in element.children:
        if child.classname == "Segment":
            names.append(child.name)
        else:
            names.extend(_names(child))
    return names


def _short(exc: Exception) -> str:
    text = " ".join(str(exc).split())
    text = text if len(text) <= 70 else text[:50] + "…" + text[-19:]
    return f"{type(exc).__name__}: {text}"


def _check(text: str, level: int) -> tuple[str, str, list[str]]:
    """(parse, validate, segment names kept) of one hl7apy run at ``level``."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            parsed = hl7apy_parse(text, validation_level=level, find_groups=True)
        except Exception as exc:
            return f"FAIL {_short(exc)}", "-", []
        try:
            valid = "pass" if parsed.validate() else "False"
        except Exception as exc:
            valid = f"FAIL {_short(exc)}"
        return "pass", valid, _names(parsed)


def fidelity(messages: dict[str, bytes]) -> list[tuple[str, str, str, str]]:
    """(message, STRICT parse, validate(), segments hl7apy dropped) for each message; when the
    STRICT parse fails, validate() and the dropped segments come from a TOLERANT parse."""
    rows = []
    for name, data in messages.items():
        text = data.decode("utf-8")
        ours = [s.name for s in parse_message(data)]
        parse, valid, kept = _check(text, VALIDATION_LEVEL.STRICT)
        if not kept:
            _, valid, kept = _check(text, VALIDATION_LEVEL.TOLERANT)
            valid = f"(TOLERANT) {valid}"
        missing = list(ours)
        for seg in kept:
            if seg in missing:
                missing.remove(seg)
        rows.append((name, parse, valid, ", ".join(missing) or "none"))
    return rows


def per_call_us(fn: Callable[[], object], number: int) -> float:
    fn()
    if QUICK:
        number = 3
    best = min(timeit.repeat(fn, number=number, repeat=1 if QUICK else 3))
    return best / number * 1e6


def _ours(data: bytes) -> Callable[[], object]:
    def run() -> object:
        message = parse_message(data)
        pid = message.segment("PID")
        obx = message.segment("OBX")
        return (
            message.message_type,
            message.control_id,
            pid.get(3, 1) if pid else "",
            pid.get(32) if pid else "",
            obx.get(5, 5)[:10] if obx else "",
        )

    return run


def _theirs(data: bytes, level: int, validate: bool) -> Callable[[], object]:
    text = data.decode("utf-8")

    def run() -> object:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            try:
                message = hl7apy_parse(text, validation_level=level, find_groups=True)
                if validate:
                    message.validate()
            except Exception as exc:  # timed up to the refusal
                return exc
            return message

    return run


def main() -> None:
    messages, origin = build_all()
    print(f"hl7apy {VERSION} fidelity on segur_ris builders (ORU/MDM carry the {origin})\n")
    print(
        f"{'message':<18} {'bytes':>7}  {'STRICT parse':<14} {'validate()':<44} dropped by hl7apy"
    )
    for (name, parse, valid, dropped), data in zip(
        fidelity(messages), messages.values(), strict=True
    ):
        print(f"{name:<18} {len(data):>7}  {parse[:14]:<14} {valid[:44]:<44} {dropped}")
        if parse != "pass":
            print(f"{'':<28}STRICT parse: {parse}")
        if "FAIL" in valid:
            print(f"{'':<28}validate(): {valid}")
    print("\nspeed, µs per message (best of runs; hl7apy timed up to its refusal when it refuses)")
    head = f"{'message':<18} {'segur_ris':>10} {'STRICT':>10} {'+validate':>10} {'TOLERANT':>10}"
    print(f"{head} {'ratio':>7}")
    for name, data in messages.items():
        number = 20 if len(data) > 50_000 else 300
        slow = max(number // 10, 2)
        ours = per_call_us(_ours(data), number)
        strict = per_call_us(_theirs(data, VALIDATION_LEVEL.STRICT, False), slow)
        validated = per_call_us(_theirs(data, VALIDATION_LEVEL.STRICT, True), slow)
        tolerant = per_call_us(_theirs(data, VALIDATION_LEVEL.TOLERANT, False), slow)
        row = f"{name:<18} {ours:>10.1f} {strict:>10.1f} {validated:>10.1f} {tolerant:>10.1f}"
        print(f"{row} {max(validated, tolerant) / ours:>6.0f}x")


if __name__ == "__main__":
    main()
