"""Matricule INS: key computation, structural rules, check_matricule."""

from __future__ import annotations

import dataclasses
import warnings

import pytest

from segur_ris.codes import OID_INS_NIA, OID_INS_NIR, OID_INS_NIR_TEST
from segur_ris.errors import InsError, InvalidMatriculeError
from segur_ris.ins import (
    InsKeyWarning,
    InsKind,
    Matricule,
    MatriculeCheck,
    check_matricule,
    compute_key,
    parse_matricule,
)

# (NIR, key) verified on CNAM / ANS test data, plus values recomputed here.
VECTORS = [
    ("297022A020778", "78"),  # ADRTROIS DOMINIQUE, born in Corse-du-Sud
    ("160012B020777", "13"),  # ADRTROIS TOUSSAINT, Haute-Corse
    ("180032B020401", "23"),  # CORSE ANTHONY
    ("1090763220834", "89"),  # ECETINSI PIERRE-ALAIN
    ("2360663220836", "56"),  # TCHITCHI CATARINA
    ("2751263220749", "74"),  # ADRUN ZOE
    ("2070585756270", "97"),  # PATB-QUATRE LAURENCE
    ("1090763220888", "35"),  # PROVISOIRE MATRICULE (NIA)
    ("1100863220830", "60"),  # NESSI MICHELANGELO
    ("2790351215189", "89"),  # DMP CR-IMG example
    ("2600588154002", "33"),  # PAM FR DARK JEANNE (INS-NIR)
]
HISTORICAL = [("1810363220456", "60", "76"), ("2810363220456", "10", "26")]


@pytest.mark.parametrize(("nir", "key"), VECTORS)
def test_compute_key_vectors(nir: str, key: str) -> None:
    assert compute_key(nir) == key


@pytest.mark.parametrize(("nir", "key"), VECTORS)
def test_parse_vectors(nir: str, key: str) -> None:
    matricule = parse_matricule(nir + key)
    assert matricule == Matricule(nir, key)
    assert matricule.value == nir + key
    assert str(matricule) == nir + key
    assert matricule.key_valid
    check = check_matricule(nir + key)
    assert check.valid and check.errors == () and check.key == key


def test_corsica_equivalences() -> None:
    # 2A counts as 19 and 2B as 18 (positions 6-7 only)
    assert compute_key("297022A020778") == compute_key("2970219020778")
    assert compute_key("160012B020777") == compute_key("1600118020777")
    assert compute_key("297022a020778") == "78"  # lower case accepted


def test_parse_strips_spaces_and_uppercases() -> None:
    assert parse_matricule(" 2 97 02 2a 020 778 78 ").value == "297022A02077878"
    assert parse_matricule("1\t60012B020777\n13").nir == "160012B020777"


@pytest.mark.parametrize(
    ("text", "rule"),
    [
        ("29702202077878", "length"),  # 14
        ("2970220207787812", "length"),  # 16
        ("", "length"),
        ("297022C02077878", "characters"),
        ("29702-202077878", "characters"),
        ("297022A020778X8", "characters"),  # key not numeric
        ("597022A02077878", "sex"),
        ("097022A02077878", "sex"),
        ("997022A02077878", "sex"),
        ("297002A02077878", "month"),
        ("297132A02077878", "month"),
        ("297192A02077878", "month"),
        ("297432A02077878", "month"),
        ("297492A02077878", "month"),
        ("2A7022A02077878", "department"),  # 2A out of positions 6-7
        ("29702A202077878", "department"),  # A2 is not a department
        ("297022A0B077878", "department"),  # letter in the commune
        ("2970AB002077878", "department"),
        ("29702AB02077878", "department"),
        ("297022A02077812", "key"),
        ("297022B02077878", "key"),  # 2B instead of 2A changes the key
    ],
)
def test_broken_rules(text: str, rule: str) -> None:
    with pytest.raises(InvalidMatriculeError) as info:
        parse_matricule(text)
    assert info.value.rule == rule
    assert info.value.code == rule
    assert isinstance(info.value, InsError) and isinstance(info.value, ValueError)
    check = check_matricule(text)
    assert not check.valid
    assert any(e.startswith(f"{rule}: ") for e in check.errors)


@pytest.mark.parametrize("month", ["01", "12", "20", "30", "42", "50", "99"])
def test_lenient_months(month: str) -> None:
    nir = f"180{month}63220401"
    assert len(nir) == 13
    assert parse_matricule(nir + compute_key(nir)).nir == nir


@pytest.mark.parametrize("sex", "123478")
def test_accepted_first_digits(sex: str) -> None:
    nir = f"{sex}800363220401"
    assert len(nir) == 13
    assert parse_matricule(nir + compute_key(nir)).nir[0] == sex


def test_key_message() -> None:
    with pytest.raises(InvalidMatriculeError, match="clé 12 attendue 78"):
        parse_matricule("297022A02077812")
    check = check_matricule("297022A02077812")
    assert check.errors == ("key: clé 12 attendue 78",)
    assert check.key == "78"


@pytest.mark.parametrize(("nir", "key", "expected"), HISTORICAL)
def test_historical_key_warns(nir: str, key: str, expected: str) -> None:
    with pytest.warns(InsKeyWarning, match=f"clé {key} attendue {expected}"):
        matricule = parse_matricule(nir + key, historical=True)
    assert matricule == Matricule(nir, key)
    assert not matricule.key_valid
    assert matricule.expected_key == expected
    with pytest.raises(InvalidMatriculeError) as info:
        parse_matricule(nir + key)
    assert info.value.rule == "key"


def test_historical_still_enforces_structure() -> None:
    with pytest.raises(InvalidMatriculeError) as info:
        parse_matricule("2970A2A02077878", historical=True)
    assert info.value.rule == "department"


def test_historical_valid_key_does_not_warn() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert parse_matricule("297022A02077878", historical=True).key == "78"


def test_insk_warning_is_user_warning() -> None:
    assert issubclass(InsKeyWarning, UserWarning)


def test_compute_key_rejects_bad_input() -> None:
    with pytest.raises(InvalidMatriculeError) as info:
        compute_key("12345")
    assert info.value.rule == "length"
    with pytest.raises(InvalidMatriculeError) as info:
        compute_key("2A7022A020778")
    assert info.value.rule == "department"
    with pytest.raises(InvalidMatriculeError) as info:
        compute_key(None)  # type: ignore[arg-type]
    assert info.value.rule == "characters"


def test_matricule_dataclass() -> None:
    matricule = Matricule("297022A020778", "78")
    with pytest.raises(dataclasses.FrozenInstanceError):
        matricule.key = "00"  # type: ignore[misc]
    assert not hasattr(matricule, "__dict__")  # slots
    with pytest.raises(InvalidMatriculeError) as info:
        Matricule("2970", "78")
    assert info.value.rule == "length"
    with pytest.raises(InvalidMatriculeError) as info:
        Matricule("297022A020778", "7X")
    assert info.value.rule == "characters"
    with pytest.raises(InvalidMatriculeError) as info:
        Matricule("29702?A020778", "78")
    assert info.value.rule == "characters"


def test_check_kind_from_number_and_oid() -> None:
    assert check_matricule("297022A02077878").kind is InsKind.NIR
    nia = "7090763220888"
    assert check_matricule(nia + compute_key(nia)).kind is InsKind.NIA
    assert check_matricule("8090763220888" + compute_key("8090763220888")).kind is InsKind.NIA
    # the CNDA NIA test case starts with 1: only its OID tells it is a NIA
    assert check_matricule("109076322088835").kind is InsKind.NIR
    assert check_matricule("109076322088835", oid=OID_INS_NIA).kind is InsKind.NIA
    assert check_matricule("297022A02077878", oid=OID_INS_NIR).kind is InsKind.NIR
    assert check_matricule("207058575627097", oid=OID_INS_NIR_TEST).kind is InsKind.NIR


def test_check_unknown_oid() -> None:
    check = check_matricule("297022A02077878", oid="1.2.250.1.213.1.4.2")
    assert not check.valid
    assert check.kind is None
    assert check.errors[0].startswith("oid: ")


def test_check_collects_several_errors() -> None:
    check = check_matricule("597132A02077878")
    rules = [e.split(":")[0] for e in check.errors]
    assert rules == ["sex", "month", "key"]
    assert check.key is not None  # still computable


@pytest.mark.parametrize("garbage", ["", "   ", "abc", "é" * 15, "2" * 40, None, 12, b"x"])
def test_check_never_raises(garbage: object) -> None:
    check = check_matricule(garbage)  # type: ignore[arg-type]
    assert isinstance(check, MatriculeCheck)
    assert not check.valid
    assert check.errors


def test_parse_rejects_non_str() -> None:
    with pytest.raises(InvalidMatriculeError):
        parse_matricule(None)  # type: ignore[arg-type]


def test_as_dict() -> None:
    assert check_matricule("2 79 03 51 215 189 89", oid="1.2.250.1.213.1.4.10").as_dict() == {
        "valid": True,
        "kind": "NIR",
        "key": "89",
        "errors": [],
        "warnings": [],
    }
    guessed = check_matricule("279035121518989").as_dict()
    assert guessed["kind"] == "NIR" and guessed["warnings"][0].startswith("kind: ")
    data = check_matricule("x").as_dict()
    assert data["valid"] is False and data["kind"] is None and data["key"] is None
