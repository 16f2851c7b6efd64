"""INS exchange formats: HL7 PID-3/PID-32, CDA id, XDS patientId, VIHF, MSSanté."""

from __future__ import annotations

import pytest

from segur_ris.codes import OID_INS_NIA, OID_INS_NIR, OID_INS_NIR_DEMO, OID_INS_NIR_TEST
from segur_ris.errors import IdentityStatusError, InsNotQualifiedError, InvalidMatriculeError
from segur_ris.ins import (
    IdentityAttribute,
    IdentityStatus,
    IdentityTraits,
    Ins,
    InsKeyWarning,
    InsKind,
    PatientIdentity,
    ProofDocument,
    attributes_from_hl7,
    from_cda_id,
    from_hl7_pid3,
    from_xds_patient_id,
    hl7_pid32,
    parse_matricule,
    status_from_hl7,
    to_cda_id,
    to_hl7_pid3,
    to_mssante_patient_address,
    to_vihf_resource_id,
    to_xds_patient_id,
)

TRAITS = IdentityTraits.create("PATB-QUATRE", "LAURENCE", "F", "1907-05-25", "85756")
NIR = Ins(parse_matricule("207058575627097"), OID_INS_NIR_TEST)
NIA = Ins(parse_matricule("109076322088835"), OID_INS_NIA)
CORSICA = Ins(parse_matricule("297022A02077878"), OID_INS_NIR)


def _qualified(ins: Ins) -> PatientIdentity:
    return (
        PatientIdentity(TRAITS)
        .with_insi_result(ins, TRAITS)
        .with_proof(ProofDocument.CARTE_NATIONALE_IDENTITE)
    )


QUALIFIED = _qualified(NIR)
NOT_QUALIFIED = {
    "provisoire": PatientIdentity(TRAITS, ins=NIR),
    "recuperee": PatientIdentity(TRAITS).with_insi_result(NIR, TRAITS),
    "validee": PatientIdentity(TRAITS, ins=NIR, proof=ProofDocument.PASSEPORT),
    "douteuse": QUALIFIED.with_attribute(IdentityAttribute.DOUTEUSE),
}
EXPORTS = [
    to_hl7_pid3,
    to_cda_id,
    to_xds_patient_id,
    to_vihf_resource_id,
    to_mssante_patient_address,
]


# --- exports refuse non-qualified identities ------------------------------------------------


@pytest.mark.parametrize("export", EXPORTS)
@pytest.mark.parametrize("name", sorted(NOT_QUALIFIED))
def test_exports_refuse_non_qualified(export: object, name: str) -> None:
    identity = NOT_QUALIFIED[name]
    assert not identity.is_qualified
    with pytest.raises(InsNotQualifiedError, match=identity.status.value):
        export(identity)  # type: ignore[operator]


@pytest.mark.parametrize("export", EXPORTS)
def test_exports_refuse_bare_ins(export: object) -> None:
    with pytest.raises(InsNotQualifiedError, match="PatientIdentity attendu"):
        export(NIR)  # type: ignore[operator]


def test_exports_under_the_target_environment_oid() -> None:
    """INSi qualification returns …4.8; the DMP test platforms expect …4.10."""
    from segur_ris.config import load_settings

    identity = QUALIFIED
    test_oid = load_settings(env="demo", environ={}).environment.ins.for_kind("NIR")
    assert test_oid == OID_INS_NIR_DEMO
    assert identity.ins is not None and identity.ins.oid == OID_INS_NIR_TEST
    assert to_xds_patient_id(identity, oid=OID_INS_NIR).endswith(f"^^^&{OID_INS_NIR}&ISO^NH")
    assert to_cda_id(identity, oid=test_oid)[0] == test_oid
    assert f"ASIP-SANTE-INS-NIR&{OID_INS_NIR}&ISO" in to_hl7_pid3(identity, oid=OID_INS_NIR)
    with pytest.raises(InvalidMatriculeError, match="incompatible"):
        to_hl7_pid3(identity, oid=OID_INS_NIA)  # a NIR never becomes a NIA
    with pytest.raises(InvalidMatriculeError):
        to_cda_id(identity, oid="1.2.3")


def test_namespace_must_match_the_oid() -> None:
    with pytest.raises(InvalidMatriculeError, match="incohérent"):
        from_hl7_pid3("275126322074974^^^ASIP-SANTE-INS-NIR&1.2.250.1.213.1.4.9&ISO^INS")
    with pytest.raises(InvalidMatriculeError, match="incohérent"):
        from_hl7_pid3("275126322074974^^^ASIP-SANTE-INS-NIA&1.2.250.1.213.1.4.8&ISO^INS")


def test_pid32_accepts_none_and_refuses_garbage() -> None:
    assert status_from_hl7(True, None) is IdentityStatus.PROVISOIRE
    assert attributes_from_hl7(None) == frozenset()
    with pytest.raises(IdentityStatusError):
        attributes_from_hl7(5)  # type: ignore[arg-type]


# --- HL7 v2 ---------------------------------------------------------------------------------


def test_to_hl7_pid3() -> None:
    assert to_hl7_pid3(QUALIFIED) == (
        "207058575627097^^^ASIP-SANTE-INS-NIR&1.2.250.1.213.1.4.10&ISO^INS"
    )
    assert to_hl7_pid3(_qualified(NIA)) == (
        "109076322088835^^^ASIP-SANTE-INS-NIA&1.2.250.1.213.1.4.9&ISO^INS"
    )
    assert to_hl7_pid3(_qualified(CORSICA)) == (
        "297022A02077878^^^ASIP-SANTE-INS-NIR&1.2.250.1.213.1.4.8&ISO^INS"
    )


@pytest.mark.parametrize("ins", [NIR, NIA, CORSICA])
def test_round_trips(ins: Ins) -> None:
    identity = _qualified(ins)
    assert from_hl7_pid3(to_hl7_pid3(identity)) == ins
    assert from_cda_id(*to_cda_id(identity)) == ins
    assert from_xds_patient_id(to_xds_patient_id(identity)) == ins
    assert from_xds_patient_id(to_vihf_resource_id(identity)) == ins


def test_ans_pid3_sample_with_cx7() -> None:
    ins = from_hl7_pid3(
        "279035121518989^^^ASIP-SANTE-INS-NIR&1.2.250.1.213.1.4.10&ISO^INS^^20101207"
    )
    assert ins.value == "279035121518989"
    assert ins.oid == OID_INS_NIR_TEST
    assert ins.kind is InsKind.NIR


def test_pam_fr_pid3_sample_has_a_wrong_key() -> None:
    """The PAM FR table example 276037510669380 does not satisfy the key formula (key 26)."""
    cx = "276037510669380^^^ASIP-SANTE-INS-NIR&1.2.250.1.213.1.4.8&ISO^INS"
    with pytest.raises(InvalidMatriculeError) as info:
        from_hl7_pid3(cx)
    assert info.value.rule == "key"
    assert "attendue 26" in info.value.message
    with pytest.warns(InsKeyWarning):
        ins = from_hl7_pid3(cx, historical=True)
    assert ins.oid == OID_INS_NIR and ins.kind is InsKind.NIR


def test_pam_fr_a31_sample() -> None:
    nir = from_hl7_pid3("260058815400233^^^ASIP-SANTE-INS-NIR&1.2.250.1.213.1.4.8&ISO^INS")
    assert nir.kind is InsKind.NIR and nir.matricule.key == "33"
    # the NIA of the same sample (key 44) is fictitious: the formula gives 33
    with pytest.raises(InvalidMatriculeError) as info:
        from_hl7_pid3("260058815400244^^^ASIP-SANTE-INS-NIA&1.2.250.1.213.1.4.9&ISO^INS")
    assert info.value.rule == "key"


@pytest.mark.parametrize(
    ("cx", "rule"),
    [
        ("", "format"),
        ("garbage", "format"),
        ("^^^", "format"),
        ("207058575627097", "format"),
        ("207058575627097^^^ASIP-SANTE-INS-NIR&1.2.250.1.213.1.4.10&ISO", "format"),  # no CX-5
        ("207058575627097^^^ASIP-SANTE-INS-NIR&1.2.250.1.213.1.4.10&ISO^NH", "format"),
        ("1900068^^^&350000121&M^PI", "format"),  # an IPP
        ("207058575627097^^^ASIP-SANTE-INS-NIR^INS", "format"),  # no OID
        ("207058575627097^^^ASIP-SANTE-INS-NIR&1.2.250.1.213.1.4.10&L^INS", "format"),
        ('""^^^ASIP-SANTE-INS-NIR&1.2.250.1.213.1.4.8&ISO^INS', "format"),  # HL7 null (A47)
        ("^^^ASIP-SANTE-INS-NIR&1.2.250.1.213.1.4.8&ISO^INS", "format"),
        (
            "207058575627097^^^ASIP-SANTE-INS-NIR&1.2.250.1.213.1.4.10&ISO^INS~"
            "109076322088835^^^ASIP-SANTE-INS-NIA&1.2.250.1.213.1.4.9&ISO^INS",
            "format",
        ),
        ("1234567890123456^^^ASIP-SANTE-INS-C&1.2.250.1.213.1.4.2&ISO^INS", "length"),
        ("207058575627097^^^ASIP-SANTE-INS-C&1.2.250.1.213.1.4.2&ISO^INS", "oid"),
        ("207058575627012^^^ASIP-SANTE-INS-NIR&1.2.250.1.213.1.4.10&ISO^INS", "key"),
        ("2070585756270AB^^^ASIP-SANTE-INS-NIR&1.2.250.1.213.1.4.10&ISO^INS", "characters"),
    ],
)
def test_from_hl7_pid3_rejects(cx: str, rule: str) -> None:
    with pytest.raises(InvalidMatriculeError) as info:
        from_hl7_pid3(cx)
    assert info.value.rule == rule


@pytest.mark.parametrize("garbage", [None, 42, b"207058575627097^^^&1.2.250.1.213.1.4.10&ISO^INS"])
def test_parsers_reject_non_str(garbage: object) -> None:
    for parser in (from_hl7_pid3, from_xds_patient_id):
        with pytest.raises(InvalidMatriculeError):
            parser(garbage)  # type: ignore[arg-type]
    with pytest.raises(InvalidMatriculeError):
        from_cda_id(garbage, "207058575627097")  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("identity", "expected"),
    [
        (QUALIFIED, ("VALI",)),
        (NOT_QUALIFIED["validee"], ("VALI",)),
        (NOT_QUALIFIED["recuperee"], ("PROV",)),
        (NOT_QUALIFIED["provisoire"], ("PROV",)),
        (PatientIdentity(TRAITS), ("PROV",)),
        (QUALIFIED.with_attribute(IdentityAttribute.HOMONYME), ("VALI", "HOMA")),
        (QUALIFIED.with_attribute(IdentityAttribute.DOUTEUSE), ("PROV", "DOUT")),
        (
            PatientIdentity(TRAITS)
            .with_attribute(IdentityAttribute.HOMONYME)
            .with_attribute(IdentityAttribute.FICTIVE)
            .with_attribute(IdentityAttribute.DOUTEUSE),
            ("PROV", "DOUT", "FICT", "HOMA"),
        ),
    ],
)
def test_hl7_pid32(identity: PatientIdentity, expected: tuple[str, ...]) -> None:
    assert hl7_pid32(identity) == expected


@pytest.mark.parametrize(
    ("has_ins", "pid32", "expected"),
    [
        (True, ["VALI"], IdentityStatus.QUALIFIEE),
        (False, ["VALI"], IdentityStatus.VALIDEE),
        (True, ["PROV"], IdentityStatus.PROVISOIRE),
        (False, ["PROV"], IdentityStatus.PROVISOIRE),
        (True, [], IdentityStatus.PROVISOIRE),
        (True, ["VIDE"], IdentityStatus.PROVISOIRE),
        (True, ["VALI", "HOMA"], IdentityStatus.QUALIFIEE),
        (True, ["VALI", "DOUT"], IdentityStatus.PROVISOIRE),
        (True, ("vali",), IdentityStatus.QUALIFIEE),
        (True, "VALI~HOMA", IdentityStatus.QUALIFIEE),
        (False, "VALI", IdentityStatus.VALIDEE),
        (True, "PROV", IdentityStatus.PROVISOIRE),
    ],
)
def test_status_from_hl7(has_ins: bool, pid32: list[str] | str, expected: IdentityStatus) -> None:
    assert status_from_hl7(has_ins, pid32) is expected


def test_status_from_hl7_matches_sender() -> None:
    for identity in (QUALIFIED, *NOT_QUALIFIED.values()):
        sent_ins = identity.is_qualified
        received = status_from_hl7(sent_ins, hl7_pid32(identity))
        expected = identity.status
        if expected is IdentityStatus.RECUPEREE:
            expected = IdentityStatus.PROVISOIRE  # not visible to a receiver
        assert received is expected


def test_attributes_from_hl7() -> None:
    assert attributes_from_hl7(["VALI", "HOMA", "DOUT"]) == {
        IdentityAttribute.HOMONYME,
        IdentityAttribute.DOUTEUSE,
    }
    assert attributes_from_hl7("PROV~FICT") == {IdentityAttribute.FICTIVE}
    assert attributes_from_hl7([]) == frozenset()


# --- CDA, XDS, VIHF, MSSanté ----------------------------------------------------------------


def test_to_cda_id() -> None:
    assert to_cda_id(QUALIFIED) == ("1.2.250.1.213.1.4.10", "207058575627097")


def test_from_cda_id() -> None:
    assert from_cda_id("1.2.250.1.213.1.4.9", "109076322088835").kind is InsKind.NIA
    with pytest.raises(InvalidMatriculeError) as info:
        from_cda_id("1.2.250.1.213.1.4.2", "207058575627097")
    assert info.value.rule == "oid"
    with pytest.raises(InvalidMatriculeError) as info:
        from_cda_id("1.2.250.1.213.1.4.10", "20705857562709")
    assert info.value.rule == "length"


def test_xds_patient_id() -> None:
    assert to_xds_patient_id(QUALIFIED) == "207058575627097^^^&1.2.250.1.213.1.4.10&ISO^NH"
    assert to_vihf_resource_id(QUALIFIED) == to_xds_patient_id(QUALIFIED)


def test_xds_sample() -> None:
    ins = from_xds_patient_id("207058575627097^^^&1.2.250.1.213.1.4.10&ISO^NH")
    assert ins == NIR
    assert from_xds_patient_id("207058575627097^^^&1.2.250.1.213.1.4.10&ISO") == NIR


@pytest.mark.parametrize(
    ("cx", "rule"),
    [
        ("207058575627097^^^&1.2.250.1.213.1.4.10&ISO^PI", "format"),
        ("207058575627097^^^&1.2.250.1.213.1.4.10&ISO^INS", "format"),
        ("207058575627097", "format"),
        ("207058575627097^^^&&ISO^NH", "format"),
        ("207058575627097^^^&1.2.250.1.213.1.4.2&ISO^NH", "oid"),
        ("207058575627098^^^&1.2.250.1.213.1.4.10&ISO^NH", "key"),
        ("IPP123^^^&1.2.250.1.71.4.2.1&ISO^PI", "format"),
    ],
)
def test_from_xds_rejects(cx: str, rule: str) -> None:
    with pytest.raises(InvalidMatriculeError) as info:
        from_xds_patient_id(cx)
    assert info.value.rule == rule


def test_mssante_address() -> None:
    assert to_mssante_patient_address(QUALIFIED) == "207058575627097@patient.mssante.fr"
    assert to_mssante_patient_address(_qualified(CORSICA)) == "297022A02077878@patient.mssante.fr"
