"""Conformance rules as data: official samples are clean (but for documented sample defects),
broken variants produce each finding, findings map to ERR segments."""

from __future__ import annotations

import base64
from pathlib import Path

import pytest

from segur_ris.hl7v2 import parse_message
from segur_ris.hl7v2._conformance import (
    FIELD_RULES,
    Finding,
    check_message,
    profiles_of,
)
from segur_ris.hl7v2._views import read_message
from tests.conftest import ref_file
from tests.test_hl7v2_views import SAMPLES

#: Error-level findings of the official samples, with why: (segment, field, code) per file.
SAMPLE_DEFECTS: dict[str, set[tuple[str | None, int | None, str]]] = {
    # the "CDA" of the non-base64 variant is the placeholder "Document medcial au format CDA…"
    "message_MDM_CR_Radio_INIT_N1.er7": {("OBX", 5, "102")},
    # CORPSMAIL_PS base64 truncated to 93 characters (the MDM samples carry the full 96)
    "message_ORU_CR_Bio_RPLC_N3_SEGUR.hl7": {("OBX", 5, "102")},
    "message_ORU_CR_Bio_DEL_N3_SEGUR.hl7": {("OBX", 5, "102")},
    # same, plus the patient RCT carries a 20-character "INS" 27707279035121518989 in PRT-5
    "message_ORU_CR_Bio_INIT_N3_SEGUR.hl7": {("OBX", 5, "102"), ("PRT", 5, "102")},
    # PROTOCOLE_IMAGERIE "base64" is placeholder text (21 characters)
    "Flux3_ORU_R01.hl7": {("OBX", 5, "102")},
}


@pytest.mark.parametrize("relative", sorted(SAMPLES))
def test_official_samples_have_no_error_but_documented_defects(
    ref_dir: Path, relative: str
) -> None:
    message = parse_message(ref_file(ref_dir, relative).read_bytes())
    findings = check_message(message)
    errors = {(f.segment, f.field, f.code) for f in findings if f.severity == "error"}
    assert errors == SAMPLE_DEFECTS.get(Path(relative).name, set()), findings
    assert all(f.severity == "error" for f in findings), findings  # and no warning


def test_profiles_of_samples(ref_dir: Path) -> None:
    expected = {
        "SGL/admission.er7": {"HL7", "FR_PID", "PAM_FR"},
        "message_MDM_CR_Radio_RPLC_N1.er7": {"HL7", "FR_PID", "CDA_V2"},
        "Flux4_OMI_O23.hl7": {"HL7", "FR_PID", "TLR"},
        "Remplacement MDM/ack.er7": {"HL7"},
    }
    for relative in SAMPLES:
        for suffix, profiles in expected.items():
            if relative.endswith(suffix):
                view = read_message(ref_file(ref_dir, relative).read_bytes())
                assert profiles_of(view) == profiles


def test_rules_are_data() -> None:
    forbidden = {r.field for r in FIELD_RULES if r.segment == "PID" and r.rule == "forbidden"}
    assert forbidden == {2, 4, 9, 10, 12, 17, 19, 20, 22, 28}
    assert all(r.message for r in FIELD_RULES)


# --- hand-made variants --------------------------------------------------------------------------

NIR = "279035121518989^^^ASIP-SANTE-INS-NIR&1.2.250.1.213.1.4.10&ISO^INS"
PID_OK = f"PID|1||{NIR}||PAT-TROIS^DOMINIQUE^DOMINIQUE^^^^L||19790328|F|||^^^^^^BDL^^63220"


def pid(pid32: str = "VALI", **fields: str) -> str:
    parts = PID_OK.split("|")
    parts += [""] * (33 - len(parts))
    parts[32] = pid32
    for key, value in fields.items():
        parts[int(key[1:])] = value
    return "|".join(parts).rstrip("|")


def adt(*segments: str, trigger: str = "A01", structure: str = "ADT_A01",
        version: str = "2.5^FRA^2.11") -> str:  # fmt: skip
    msh = f"MSH|^~\\&|GAM|CHU|RIS|CHU|20240306111154||ADT^{trigger}^{structure}|1|P|{version}"
    return "\r".join((msh, "EVN||20240306111154", *segments))


ZBE = "ZBE|1^CHU|20240306110000||INSERT|N||||HMS"
CDA = base64.b64encode(b'<ClinicalDocument xmlns="urn:hl7-org:v3"/>').decode()
META = (
    ("MASQUE_PS", "N"),
    ("INVISIBLE_PATIENT", "N"),
    ("INVISIBLE_REP_LEGAUX", "N"),
    ("CONNEXION_SECRETE", "N"),
    ("MODIF_CONF_CODE", "N"),
    ("DESTDMP", "Y"),
    ("DESTMSSANTEPS", "Y"),
    ("DESTMSSANTEPAT", "N"),
)
SB = (
    "PRT||UC||SB^Send by^participation|801234564895^Eric^Thomas^^^^^^ASIP-SANTE-PS&"
    "1.2.250.1.71.4.2.1&ISO^D^^^IDNPS|||Org^^^^^ASIP-SANTE-ST&1.2.250.1.71.4.2.2&ISO^FINEG^^^"
    "300017985"
)
RCT = "PRT||UC||RCT^Results Copies To^participation|||||||||||^^X.400^dr@test.mssante.fr"


def mdm(trigger: str = "T02", control: str = "NW", status: str = "F", *,
        meta: tuple[tuple[str, str], ...] = META, prts: tuple[str, ...] = (SB, RCT),
        ed: str = "text", structure: str = "MDM_T02") -> str:  # fmt: skip
    lines = [
        f"MSH|^~\\&|RIS|ORG|PFI|ORG|20240101||MDM^{trigger}^{structure}|1|P|2.6|||||FRA|"
        "UNICODE UTF-8|||2.1^CISIS_CDA_HL7_V2",
        "EVN||20240101",
        pid(),
        "PV1|1|O",
        f"ORC|{control}",
        "OBR|1|||18748-4^CR d'imagerie médicale^LN",
        "TXA|1|18748-4|TEXT|20240101||||||||1.2.3.4|||||AU",
        f"OBX|1|ED|18748-4^CR d'imagerie médicale^LN||^{ed}^XML^Base64^{CDA}||||||{status}",
        *prts,
    ]
    for i, (code, value) in enumerate(meta, start=2):
        lines.append(
            f"OBX|{i}|CWE|{code}^{code}^MetaDMPMSS||{value}^^expandedYes-NoIndicator||||||F"
        )
    return "\r".join(lines)


def findings_of(text: str) -> list[Finding]:
    return check_message(parse_message(text.encode()))


def keys(findings: list[Finding]) -> set[tuple[str, str | None, int | None, str]]:
    return {(f.severity, f.segment, f.field, f.code) for f in findings}


def test_clean_hand_made_messages() -> None:
    assert findings_of(adt(pid(), ZBE)) == []
    assert findings_of(mdm()) == []
    assert findings_of(mdm("T10", "RO", "C")) == []
    assert findings_of(mdm("T04", "CA", "D")) == []


@pytest.mark.parametrize("field", [2, 4, 9, 10, 12, 17, 19, 20, 22, 28])
def test_forbidden_pid_field(field: int) -> None:
    found = findings_of(adt(pid(**{f"f{field}": "X"}), ZBE))
    assert keys(found) == {("error", "PID", field, "102")}


def test_missing_pid32_and_ins_dropped() -> None:
    found = findings_of(adt(pid(""), ZBE))  # no InsDroppedWarning: it is a finding
    assert ("error", "PID", 32, "101") in keys(found)
    assert ("warning", "PID", 32, "103") in keys(found)
    prov = findings_of(adt(pid("PROV"), ZBE))
    assert keys(prov) == {("warning", "PID", 32, "103")}
    unknown = findings_of(adt(pid("VALI~XXXX"), ZBE))
    assert keys(unknown) == {("warning", "PID", 32, "103")}


def test_a08_not_used_in_france_and_version() -> None:
    assert keys(findings_of(adt(pid(), ZBE, trigger="A08"))) == {("error", "MSH", 9, "201")}
    old = findings_of(adt(pid(), ZBE, version="2.5^FRA^2.10"))
    assert keys(old) == {("warning", "MSH", 12, "203")}
    plain = findings_of(adt(pid(), ZBE, version="2.5"))
    assert keys(plain) == {("error", "MSH", 12, "203"), ("warning", "MSH", 12, "203")}


def test_wrong_structure() -> None:
    assert keys(findings_of(adt(pid(), ZBE, structure="ADT_A05"))) == {("error", "MSH", 9, "200")}
    assert keys(findings_of(mdm("T10", "RO", "C", structure="MDM_T10"))) == {
        ("error", "MSH", 9, "200")
    }


def test_zbe_rules() -> None:
    bad = "ZBE|1^CHU|20240306110000|X|MOVE|N||||HMS"
    assert keys(findings_of(adt(pid(), bad))) == {
        ("error", "ZBE", 3, "102"),
        ("error", "ZBE", 4, "103"),
    }


def test_traits_and_invalid_ins_findings() -> None:
    found = findings_of(adt(pid(f8="U"), ZBE))
    assert keys(found) == {("warning", "PID", 5, "102")}
    bad_ins = findings_of(adt(pid(f3=NIR.replace("89^", "12^", 1)), ZBE))
    assert ("error", "PID", 3, "102") in keys(bad_ins)


def test_bad_date() -> None:
    assert keys(findings_of(adt(pid(f7="1979-03-28"), ZBE))) >= {("error", "PID", 7, "102")}


def test_orc_obx11_trigger_consistency() -> None:
    assert keys(findings_of(mdm("T10", "NW", "F"))) == {("error", "ORC", 1, "103")}
    assert keys(findings_of(mdm("T02", "NW", "C"))) == {("error", "OBX", 11, "103")}
    assert keys(findings_of(mdm("T04", "CA", "F"))) == {("error", "OBX", 11, "103")}


def test_mss_combinations() -> None:
    masked = dict(META, MASQUE_PS="Y")
    found = findings_of(mdm(meta=tuple(masked.items())))
    assert keys(found) == {("error", "OBX", 5, "207")}
    assert "masqué" in found[0].message
    invisible = dict(META, INVISIBLE_PATIENT="Y", DESTMSSANTEPAT="Y")
    found = findings_of(mdm(meta=tuple(invisible.items())))
    assert ("error", "OBX", 5, "207") in keys(found)


def test_metadmpmss_order_required_and_sender() -> None:
    swapped = (META[1], META[0], *META[2:])
    assert keys(findings_of(mdm(meta=swapped))) == {("error", "OBX", 3, "100")}
    assert keys(findings_of(mdm(meta=META[:7]))) == {("error", "OBX", 3, "101")}
    assert keys(findings_of(mdm(prts=(RCT,)))) == {("error", "PRT", None, "101")}
    assert keys(findings_of(mdm(prts=(SB,)))) == {("warning", "PRT", None, "101")}
    maybe = (*META[:5], ("DESTDMP", "O"), *META[6:])
    assert keys(findings_of(mdm(meta=maybe))) == {("error", "OBX", 5, "103")}


def test_ed_encoding_and_document_content() -> None:
    assert keys(findings_of(mdm(ed="TEXT"))) == {("warning", "OBX", 5, "102")}
    assert keys(findings_of(mdm(ed="AP"))) == {("error", "OBX", 5, "102")}
    not_xml = mdm().replace(CDA, base64.b64encode(b"PDF").decode())
    assert keys(findings_of(not_xml)) == {("error", "OBX", 5, "102")}
    broken = mdm().replace(CDA, CDA[:-3] + "*==")
    assert keys(findings_of(broken)) == {("error", "OBX", 5, "102")}


def test_tlr_order_control() -> None:
    message = "\r".join(
        (
            "MSH|^~\\&|A|B|C|D|20240101||ORM^O01^ORM_O01|1|P|2.5.1|||||FRA|UNICODE UTF-8|||"
            "1.0^CISIS_TLR_HL7_V2",
            pid(),
            "ORC|SR|OPN1",
            "OBR||OPN1||TRANSMISSION_DEMANDE^^TLR_OBR_PROCEDURE",
        )
    )
    assert keys(findings_of(message)) == {("error", "ORC", 1, "103")}
    wrong_version = message.replace("|2.5.1|", "|2.5|").replace("ORC|SR", "ORC|NW")
    assert keys(findings_of(wrong_version)) == {("error", "MSH", 12, "203")}


def test_finding_err_fields() -> None:
    finding = Finding("error", "PID", 10, "102", "PID-10 (race) interdit en France", sequence=1)
    assert finding.err_fields() == {
        2: ("PID", "1", "10"),
        3: ("102", "Data type error", "HL70357"),
        4: ("E",),
        8: ("PID-10 (race) interdit en France",),
    }
    warning = Finding("warning", None, None, "207", "x")
    assert warning.err_fields() == {
        3: ("207", "Application internal error", "HL70357"),
        4: ("W",),
        8: ("x",),
    }
    assert str(finding) == "[error 102] PID-10: PID-10 (race) interdit en France"
