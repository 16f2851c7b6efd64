"""INS traits: name normalisation, birth dates, COG codes, IdentityTraits.create."""

from __future__ import annotations

import dataclasses
import datetime

import pytest

from segur_ris.errors import IdentityTraitsError
from segur_ris.ins import BirthDate, IdentityTraits, Sexe, normalize_name


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("Éloïse", "ELOISE"),
        ("françois", "FRANCOIS"),
        ("Hélène-Noëlle", "HELENE-NOELLE"),
        ("ŒDIPE", "OEDIPE"),
        ("cœur", "COEUR"),
        ("Lætitia", "LAETITIA"),
        ("Strauß", "STRAUSS"),
        ("Ørsted", "ORSTED"),
        ("Łukasz", "LUKASZ"),
        ("Núñez", "NUNEZ"),
        ("d’Arc", "D'ARC"),
        ("d‘Arc", "D'ARC"),
        ("o`neil", "O'NEIL"),
        ("D'ARC", "D'ARC"),
        ("  de   vinci  ", "DE VINCI"),
        ("Jean - Pierre", "JEAN-PIERRE"),
        ("Jean–Pierre", "JEAN-PIERRE"),  # en dash
        ("MARIE--CLAIRE", "MARIE--CLAIRE"),  # double hyphen allowed
        ("patb-quatre", "PATB-QUATRE"),
        ("d ' Arc", "D'ARC"),
    ],
)
def test_normalize_name(raw: str, expected: str) -> None:
    assert normalize_name(raw) == expected


@pytest.mark.parametrize(
    "raw",
    [
        "",
        "   ",
        "R2D2",
        "DUPONT 2",
        "A---B",
        "-DUPONT",
        "DUPONT-",
        "D''ARC",
        "DU_PONT",
        "Иван",
        "X.Y",
    ],
)
def test_normalize_name_refused(raw: str) -> None:
    with pytest.raises(IdentityTraitsError) as info:
        normalize_name(raw)
    assert info.value.field == "nom_naissance"


def test_normalize_name_field_and_type() -> None:
    with pytest.raises(IdentityTraitsError) as info:
        normalize_name("", field="prenoms")
    assert info.value.field == "prenoms"
    with pytest.raises(IdentityTraitsError):
        normalize_name(None)  # type: ignore[arg-type]


# --- BirthDate ------------------------------------------------------------------------------


def test_birth_date_formats() -> None:
    full = BirthDate.parse("1975-12-31")
    assert full == BirthDate(1975, 12, 31)
    assert BirthDate.parse("19751231") == full
    assert full.insi() == "1975-12-31" and full.hl7() == "19751231" and str(full) == "1975-12-31"
    assert full.to_date() == datetime.date(1975, 12, 31) and full.is_complete
    assert BirthDate.from_date(datetime.date(1936, 6, 21)).insi() == "1936-06-21"
    assert BirthDate.from_date(datetime.datetime(1936, 6, 21, 10, 5)).hl7() == "19360621"


def test_birth_date_unknown_parts() -> None:
    no_day = BirthDate.parse("1975-12-00")
    assert no_day == BirthDate(1975, 12, 0)
    assert no_day.hl7() == "197512" and no_day.insi() == "1975-12-00"
    assert BirthDate.parse("197512") == no_day
    no_month = BirthDate.parse("1975-00-00")
    assert no_month.hl7() == "1975" and no_month.insi() == "1975-00-00"
    assert BirthDate.parse("1975") == no_month
    assert no_month.to_date() is None and not no_month.is_complete
    assert BirthDate(1975) == no_month


@pytest.mark.parametrize(
    "text",
    [
        "1975-00-15",  # day without month
        "19750015",
        "1975-13-01",
        "1975-02-30",
        "1975-02-29",  # not a leap year
        "1975-12-32",
        "31/12/1975",
        "1975-1-1",
        "1975121",
        "",
        "abcd",
        "0999-01-01",
    ],
)
def test_birth_date_invalid(text: str) -> None:
    with pytest.raises(IdentityTraitsError) as info:
        BirthDate.parse(text)
    assert info.value.field == "date_naissance"


def test_birth_date_leap_day_and_types() -> None:
    assert BirthDate.parse("2000-02-29").day == 29
    with pytest.raises(IdentityTraitsError):
        BirthDate(1975, 0, 3)
    with pytest.raises(IdentityTraitsError):
        BirthDate("1975", 1, 1)  # type: ignore[arg-type]
    with pytest.raises(IdentityTraitsError):
        BirthDate.parse(19751231)  # type: ignore[arg-type]
    with pytest.raises(IdentityTraitsError):
        BirthDate.from_date("1975-12-31")  # type: ignore[arg-type]


# --- IdentityTraits -------------------------------------------------------------------------


def test_create_normalises() -> None:
    traits = IdentityTraits.create("Tchitchi", "  Catarina   bella ", "f", "1936-06-21", "63220")
    assert traits == IdentityTraits(
        "TCHITCHI", ("CATARINA", "BELLA"), Sexe.F, BirthDate(1936, 6, 21), "63220"
    )
    assert traits.premier_prenom == "CATARINA"
    assert traits.liste_prenoms == "CATARINA BELLA"
    with pytest.raises(dataclasses.FrozenInstanceError):
        traits.nom_naissance = "X"  # type: ignore[misc]


def test_create_sequence_and_types() -> None:
    traits = IdentityTraits.create(
        "Écetinsi", ["Pierre-Alain", "Jean Marc"], Sexe.M, datetime.date(2009, 7, 14)
    )
    assert traits.prenoms == ("PIERRE-ALAIN", "JEAN", "MARC")
    assert traits.lieu_naissance is None
    assert traits.sexe is Sexe.M
    same = IdentityTraits.create("ECETINSI", ("PIERRE-ALAIN",), "M", BirthDate(2009, 7, 14))
    assert same.date_naissance == traits.date_naissance


@pytest.mark.parametrize("cog", ["63220", "2A020", "2b020", "99134", "85756", " 75056 "])
def test_cog_accepted(cog: str) -> None:
    traits = IdentityTraits.create("ADRUN", "ZOE", "F", "1975-12-31", cog)
    assert traits.lieu_naissance == cog.strip().upper()


@pytest.mark.parametrize("cog", ["6322", "632200", "2C020", "A2020", "2A02B", "00123", "PARIS"])
def test_cog_refused(cog: str) -> None:
    with pytest.raises(IdentityTraitsError) as info:
        IdentityTraits.create("ADRUN", "ZOE", "F", "1975-12-31", cog)
    assert info.value.field == "lieu_naissance"


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"nom_naissance": "R2D2"}, "nom_naissance"),
        ({"nom_naissance": ""}, "nom_naissance"),
        ({"prenoms": ""}, "prenoms"),
        ({"prenoms": []}, "prenoms"),
        ({"prenoms": ["ZOE", "4"]}, "prenoms"),
        ({"prenoms": None}, "prenoms"),
        ({"prenoms": {"ZOE"}}, "prenoms"),
        ({"nom_naissance": None}, "nom_naissance"),
        ({"sexe": None}, "sexe"),
        ({"date_naissance": None}, "date_naissance"),
        ({"sexe": "U"}, "sexe"),
        ({"sexe": "I"}, "sexe"),
        ({"sexe": "H"}, "sexe"),
        ({"date_naissance": "1975-02-30"}, "date_naissance"),
        ({"date_naissance": "1975-00-12"}, "date_naissance"),
    ],
)
def test_create_errors_name_the_field(kwargs: dict[str, object], field: str) -> None:
    base: dict[str, object] = {
        "nom_naissance": "ADRUN",
        "prenoms": "ZOE",
        "sexe": "F",
        "date_naissance": "1975-12-31",
    }
    base.update(kwargs)
    with pytest.raises(IdentityTraitsError) as info:
        IdentityTraits.create(**base)  # type: ignore[arg-type]
    assert info.value.field == field
    assert info.value.message


def test_direct_construction_is_validated() -> None:
    date = BirthDate(1975, 12, 31)
    with pytest.raises(IdentityTraitsError) as info:
        IdentityTraits("Adrun", ("ZOE",), Sexe.F, date)
    assert info.value.field == "nom_naissance"
    with pytest.raises(IdentityTraitsError) as info:
        IdentityTraits("ADRUN", ["ZOE"], Sexe.F, date)  # type: ignore[arg-type]
    assert info.value.field == "prenoms"
    with pytest.raises(IdentityTraitsError) as info:
        IdentityTraits("ADRUN", ("ZOE BELLA",), Sexe.F, date)
    assert info.value.field == "prenoms"
    with pytest.raises(IdentityTraitsError) as info:
        IdentityTraits("ADRUN", ("ZOE",), "F", date)  # type: ignore[arg-type]
    assert info.value.field == "sexe"
    with pytest.raises(IdentityTraitsError) as info:
        IdentityTraits("ADRUN", ("ZOE",), Sexe.F, "1975-12-31")  # type: ignore[arg-type]
    assert info.value.field == "date_naissance"
    with pytest.raises(IdentityTraitsError) as info:
        IdentityTraits("ADRUN", ("ZOE",), Sexe.F, date, "2c020")
    assert info.value.field == "lieu_naissance"


@pytest.mark.parametrize("lieu", ["٦٣٢٢٠", "2A０２０", "63220\n"])
def test_birth_place_digits_are_ascii(lieu: str) -> None:
    if lieu.strip() == "63220":  # surrounding white space is trimmed, not an error
        assert IdentityTraits.create("A", "B", "M", "1980-01-01", lieu).lieu_naissance == "63220"
        return
    with pytest.raises(IdentityTraitsError, match=r"lieu|COG"):
        IdentityTraits.create("A", "B", "M", "1980-01-01", lieu)


@pytest.mark.parametrize("date", ["١٩٨٠-٠١-٠١", "1980-01-01\n1"])
def test_birth_date_digits_are_ascii(date: str) -> None:
    with pytest.raises(IdentityTraitsError):
        BirthDate.parse(date)
