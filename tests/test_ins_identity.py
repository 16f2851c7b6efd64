"""Ins and PatientIdentity: OID/kind, RNIV status derivation, transitions."""

from __future__ import annotations

import dataclasses
import itertools

import pytest

from segur_ris.codes import OID_INS_NIA, OID_INS_NIR, OID_INS_NIR_DEMO, OID_INS_NIR_TEST
from segur_ris.errors import (
    IdentityStatusError,
    InsNotQualifiedError,
    InvalidMatriculeError,
)
from segur_ris.ins import (
    IdentityAttribute,
    IdentityStatus,
    IdentityTraits,
    Ins,
    InsKeyWarning,
    InsKind,
    PatientIdentity,
    ProofDocument,
    parse_matricule,
)

TRAITS = IdentityTraits.create("Adrun", "Zoé", "F", "1975-12-31", "63220")
INSI_TRAITS = IdentityTraits.create("ADRUN", "ZOE", "F", "1975-12-31", "63220")
INS = Ins(parse_matricule("275126322074974"), OID_INS_NIR)


# --- Ins ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("oid", "kind"),
    [
        (OID_INS_NIR, InsKind.NIR),
        (OID_INS_NIR_TEST, InsKind.NIR),
        (OID_INS_NIR_DEMO, InsKind.NIR),
        (OID_INS_NIA, InsKind.NIA),
    ],
)
def test_ins_kind_from_oid(oid: str, kind: InsKind) -> None:
    ins = Ins(parse_matricule("109076322088835"), oid)
    assert ins.kind is kind
    assert ins.value == "109076322088835" == str(ins)


@pytest.mark.parametrize("oid", ["1.2.250.1.213.1.4.2", "", "1.2.250.1.213.1.4.8 x", "INS"])
def test_ins_rejects_unknown_oid(oid: str) -> None:
    with pytest.raises(InvalidMatriculeError) as info:
        Ins(parse_matricule("109076322088835"), oid)
    assert info.value.rule == "oid"


def test_ins_parse_and_frozen() -> None:
    ins = Ins.parse("2 07 05 85 756 270 97", OID_INS_NIR_TEST)
    assert ins.value == "207058575627097"
    with pytest.raises(dataclasses.FrozenInstanceError):
        ins.oid = OID_INS_NIA  # type: ignore[misc]
    with pytest.warns(InsKeyWarning):
        assert Ins.parse("181036322045660", OID_INS_NIR, historical=True).kind is InsKind.NIR
    with pytest.raises(InvalidMatriculeError):
        Ins("275126322074974", OID_INS_NIR)  # type: ignore[arg-type]


# --- ProofDocument --------------------------------------------------------------------------


def test_proof_documents() -> None:
    assert {d.value for d in ProofDocument} == {
        "AN",
        "CC",
        "CE",
        "CM",
        "CN",
        "CS",
        "LE",
        "PA",
        "PC",
        "TC",
    }
    high = {d for d in ProofDocument if d.high_trust}
    assert high == {
        ProofDocument.CARTE_NATIONALE_IDENTITE,
        ProofDocument.PASSEPORT,
        ProofDocument.TITRE_SEJOUR,
        ProofDocument.CARTE_IDENTITE_EUROPEENNE,
    }
    minors = {d for d in ProofDocument if d.minor_proof}
    assert minors == {ProofDocument.LIVRET_FAMILLE, ProofDocument.EXTRAIT_ACTE_NAISSANCE}
    assert ProofDocument("PA") is ProofDocument.PASSEPORT
    assert not ProofDocument.PERMIS_CONDUIRE.high_trust


# --- status derivation ----------------------------------------------------------------------


def _expected(insi: bool, proof: ProofDocument | None, attrs: frozenset[IdentityAttribute]) -> str:
    if attrs & {IdentityAttribute.DOUTEUSE, IdentityAttribute.FICTIVE}:
        return "provisoire"
    document = proof is not None and proof.high_trust
    if insi and document:
        return "qualifiee"
    if insi:
        return "recuperee"
    return "validee" if document else "provisoire"


ATTRIBUTE_SETS = [
    frozenset(c)
    for n in range(len(IdentityAttribute) + 1)
    for c in itertools.combinations(IdentityAttribute, n)
]


@pytest.mark.parametrize(
    ("has_ins", "insi", "proof", "attrs"),
    [
        (has_ins, insi, proof, attrs)
        for has_ins, insi, proof, attrs in itertools.product(
            (False, True), (False, True), (None, *ProofDocument), ATTRIBUTE_SETS
        )
        if has_ins or not insi
    ],
)
def test_status_table(
    has_ins: bool, insi: bool, proof: ProofDocument | None, attrs: frozenset[IdentityAttribute]
) -> None:
    identity = PatientIdentity(
        TRAITS, ins=INS if has_ins else None, insi_verified=insi, proof=proof, attributes=attrs
    )
    expected = IdentityStatus(_expected(insi, proof, attrs))
    assert identity.status is expected
    assert identity.is_qualified is (expected is IdentityStatus.QUALIFIEE)
    if expected is IdentityStatus.QUALIFIEE:
        assert identity.qualified_ins() is INS
    else:
        with pytest.raises(InsNotQualifiedError, match=expected.value):
            identity.qualified_ins()


def test_status_table_readable() -> None:
    """The four RNIV statuses, spelled out."""
    base = PatientIdentity(TRAITS)
    assert base.status is IdentityStatus.PROVISOIRE
    recovered = base.with_insi_result(INS, INSI_TRAITS)
    assert recovered.status is IdentityStatus.RECUPEREE
    validated = base.with_proof(ProofDocument.PASSEPORT)
    assert validated.status is IdentityStatus.VALIDEE
    qualified = recovered.with_proof(ProofDocument.CARTE_NATIONALE_IDENTITE)
    assert qualified.status is IdentityStatus.QUALIFIEE
    assert validated.with_insi_result(INS, INSI_TRAITS).status is IdentityStatus.QUALIFIEE
    # an INS that the INSi did not return/verify does not count
    assert PatientIdentity(TRAITS, ins=INS).status is IdentityStatus.PROVISOIRE
    assert (
        PatientIdentity(TRAITS, ins=INS, proof=ProofDocument.PASSEPORT).status
        is IdentityStatus.VALIDEE
    )


def test_with_insi_result_replaces_traits() -> None:
    identity = PatientIdentity(TRAITS, ipp="123456").with_insi_result(INS, INSI_TRAITS)
    assert identity.traits == INSI_TRAITS
    assert identity.ins == INS and identity.insi_verified
    assert identity.ipp == "123456"
    with pytest.raises(IdentityStatusError):
        identity.with_insi_result("275126322074974", INSI_TRAITS)  # type: ignore[arg-type]


def test_insi_result_of_another_person_is_never_attached() -> None:
    """A document checked on DUPONT JEAN must not qualify the INS of ADRUN ZOE."""
    dupont = IdentityTraits.create("Dupont", "Jean", "M", "1980-01-01")
    checked = PatientIdentity(dupont).with_proof(ProofDocument.CARTE_NATIONALE_IDENTITE)
    with pytest.raises(IdentityStatusError, match="ne correspond pas"):
        checked.with_insi_result(INS, INSI_TRAITS)
    same_sex_other_date = IdentityTraits.create("Adrun", "Zoe", "F", "1976-12-31")
    with pytest.raises(IdentityStatusError, match="date de naissance"):
        PatientIdentity(same_sex_other_date).with_insi_result(INS, INSI_TRAITS)


def test_changed_traits_drop_the_document_check() -> None:
    local = IdentityTraits.create("Adrun", "Zoe Marie", "F", "1975-12-31")
    checked = PatientIdentity(local).with_proof(ProofDocument.PASSEPORT)
    after = checked.with_insi_result(INS, INSI_TRAITS)
    assert after.traits == INSI_TRAITS and after.proof is None
    assert after.status is IdentityStatus.RECUPEREE  # re-check the document on INSi traits
    same = PatientIdentity(TRAITS).with_proof(ProofDocument.PASSEPORT)
    assert same.with_insi_result(INS, INSI_TRAITS).status is IdentityStatus.QUALIFIEE


@pytest.mark.parametrize("doc", [d for d in ProofDocument if not d.high_trust])
def test_with_proof_refuses_low_trust(doc: ProofDocument) -> None:
    with pytest.raises(IdentityStatusError):
        PatientIdentity(TRAITS).with_proof(doc)


def test_with_proof_accepts_codes_and_minor_documents() -> None:
    assert PatientIdentity(TRAITS).with_proof("PA").proof is ProofDocument.PASSEPORT
    with pytest.raises(IdentityStatusError):
        PatientIdentity(TRAITS).with_proof("XX")
    child = PatientIdentity(TRAITS).with_proof(ProofDocument.LIVRET_FAMILLE, minor=True)
    assert child.proof_for_minor and child.status is IdentityStatus.VALIDEE
    with pytest.raises(IdentityStatusError):
        PatientIdentity(TRAITS).with_proof(ProofDocument.PERMIS_CONDUIRE, minor=True)
    # a later high-trust document clears the minor flag
    adult = child.with_proof(ProofDocument.PASSEPORT)
    assert not adult.proof_for_minor and adult.status is IdentityStatus.VALIDEE


def test_minor_proof_flag_consistency() -> None:
    with pytest.raises(IdentityStatusError):
        PatientIdentity(TRAITS, proof=ProofDocument.PASSEPORT, proof_for_minor=True)
    with pytest.raises(IdentityStatusError):
        PatientIdentity(TRAITS, proof_for_minor=True)
    # a minor-only document without the flag does not validate
    assert (
        PatientIdentity(TRAITS, proof=ProofDocument.EXTRAIT_ACTE_NAISSANCE).status
        is IdentityStatus.PROVISOIRE
    )


@pytest.mark.parametrize("attr", [IdentityAttribute.DOUTEUSE, IdentityAttribute.FICTIVE])
def test_doubtful_or_fictitious_forces_provisoire(attr: IdentityAttribute) -> None:
    qualified = (
        PatientIdentity(TRAITS)
        .with_insi_result(INS, INSI_TRAITS)
        .with_proof(ProofDocument.PASSEPORT)
    )
    flagged = qualified.with_attribute(attr)
    assert flagged.status is IdentityStatus.PROVISOIRE
    with pytest.raises(InsNotQualifiedError, match="provisoire"):
        flagged.qualified_ins()
    assert flagged.without_attribute(attr).status is IdentityStatus.QUALIFIEE


def test_homonym_keeps_status() -> None:
    qualified = (
        PatientIdentity(TRAITS)
        .with_insi_result(INS, INSI_TRAITS)
        .with_proof(ProofDocument.PASSEPORT)
        .with_attribute("homonyme")
    )
    assert qualified.attributes == frozenset({IdentityAttribute.HOMONYME})
    assert qualified.status is IdentityStatus.QUALIFIEE


def test_without_ins_downgrades() -> None:
    recovered = PatientIdentity(TRAITS).with_insi_result(INS, INSI_TRAITS)
    qualified = recovered.with_proof(ProofDocument.TITRE_SEJOUR)
    assert qualified.without_ins().status is IdentityStatus.VALIDEE
    assert recovered.without_ins().status is IdentityStatus.PROVISOIRE
    assert qualified.without_ins().ins is None and not qualified.without_ins().insi_verified


def test_invariants() -> None:
    with pytest.raises(IdentityStatusError):
        PatientIdentity(TRAITS, insi_verified=True)
    with pytest.raises(IdentityStatusError):
        PatientIdentity("ADRUN")  # type: ignore[arg-type]
    for bad in ({"nope"}, "douteuse", 5):
        with pytest.raises(IdentityStatusError):
            PatientIdentity(TRAITS, attributes=bad)  # type: ignore[arg-type]
    with pytest.raises(IdentityStatusError):
        PatientIdentity(TRAITS, proof="XX")  # type: ignore[arg-type]
    with pytest.raises(IdentityStatusError):
        PatientIdentity(TRAITS).with_attribute("x")
    identity = PatientIdentity(TRAITS, attributes={IdentityAttribute.HOMONYME})  # type: ignore[arg-type]
    assert isinstance(identity.attributes, frozenset)
    with pytest.raises(dataclasses.FrozenInstanceError):
        identity.ins = INS  # type: ignore[misc]


def test_not_qualified_error_is_status_error() -> None:
    assert issubclass(InsNotQualifiedError, IdentityStatusError)
    with pytest.raises(InsNotQualifiedError, match="recuperee"):
        PatientIdentity(TRAITS).with_insi_result(INS, INSI_TRAITS).qualified_ins()
