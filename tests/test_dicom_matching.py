"""PS3.4 Annex K matching (segur_ris.dicom._matching): pure, no sockets."""

from __future__ import annotations

import fnmatch

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydicom import Dataset
from pydicom.config import disable_value_validation
from pydicom.dataelem import DataElement

from segur_ris.dicom import QueryFilter, parse_query
from segur_ris.errors import DicomQueryError


def _item(
    name: str = "DUPONT^JEANNE",
    pid: str = "IPP1",
    modality: str = "CT",
    date: str = "20260302",
    time: str = "093000",
    aet: str | list[str] = "CT1",
    accession: str = "ACC1",
) -> Dataset:
    ds = Dataset()
    ds.SpecificCharacterSet = "ISO_IR 192"
    ds.AccessionNumber = accession
    ds.PatientName = name
    ds.PatientID = pid
    ds.PatientBirthDate = "19600530"
    ds.StudyInstanceUID = "1.2.3.4"
    sps = Dataset()
    sps.Modality = modality
    sps.ScheduledStationAETitle = aet
    sps.ScheduledProcedureStepStartDate = date
    sps.ScheduledProcedureStepStartTime = time
    sps.ScheduledProcedureStepID = "S1"
    sps.ScheduledProcedureStepDescription = "TDM thorax"
    ds.ScheduledProcedureStepSequence = [sps]
    ds.RequestedProcedureID = "RP1"
    return ds


def _query(**top: str) -> Dataset:
    ds = Dataset()
    with disable_value_validation():  # malformed values on purpose
        for keyword, value in top.items():
            setattr(ds, keyword, value)
    return ds


def _sps_query(**keys: str) -> Dataset:
    ds = Dataset()
    sps = Dataset()
    with disable_value_validation():
        for keyword, value in keys.items():
            setattr(sps, keyword, value)
    ds.ScheduledProcedureStepSequence = [sps]
    return ds


def _matches(query: Dataset, item: Dataset | None = None) -> bool:
    return parse_query(query).matches(item if item is not None else _item())


# --- kinds of matching ----------------------------------------------------------------------


def test_universal_matching() -> None:
    assert _matches(_query(PatientName="", PatientID="", AccessionNumber="*"))
    assert _matches(Dataset())
    empty_seq = Dataset()
    empty_seq.ScheduledProcedureStepSequence = []
    assert _matches(empty_seq)


@pytest.mark.parametrize(
    ("keyword", "value", "expected"),
    [
        ("PatientID", "IPP1", True),
        ("PatientID", "IPP2", False),
        ("PatientID", "ipp1", False),  # LO: case-sensitive
        ("PatientID", " IPP1 ", True),  # spaces are not significant
        ("PatientName", "dupont^jeanne", True),  # PN: case-insensitive (documented choice)
        ("PatientName", "DUPONT", False),  # single value: the whole name
        ("AccessionNumber", "ACC1\\ACC9", True),  # backslash: OR of values
        ("StudyInstanceUID", "9.9\\1.2.3.4", True),  # list of UIDs
        ("StudyInstanceUID", "1.2.3", False),
        ("PatientBirthDate", "19600530", True),
        ("PatientBirthDate", "19600531", False),
    ],
)
def test_single_value_matching(keyword: str, value: str, expected: bool) -> None:
    assert _matches(_query(**{keyword: value})) is expected


@pytest.mark.parametrize(
    ("pattern", "expected"),
    [
        ("DUP*", True),
        ("dup*", True),
        ("*JEANNE", True),
        ("DUPON?^JEANNE", True),
        ("DUPON?", False),
        ("D*T^J*", True),
        ("MARTIN*", False),
        ("*", True),
        ("?UPONT^JEANN?", True),
    ],
)
def test_wildcard_matching(pattern: str, expected: bool) -> None:
    assert _matches(_query(PatientName=pattern)) is expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("20260301-20260303", True),
        ("20260302-", True),
        ("-20260302", True),
        ("20260303-", False),
        ("-20260301", False),
        ("20260302", True),
    ],
)
def test_date_range_in_sequence(value: str, expected: bool) -> None:
    assert _matches(_sps_query(ScheduledProcedureStepStartDate=value)) is expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("0900-1000", True),
        ("09-10", True),
        ("0931-", False),
        ("-0930", True),  # 09:30 (precision minute) covers 09:30:00
        ("09", True),  # a single partial time covers its hour
        ("10", False),
        ("093000.000-093000.5", True),
    ],
)
def test_time_matching(value: str, expected: bool) -> None:
    assert _matches(_sps_query(ScheduledProcedureStepStartTime=value)) is expected


def test_sequence_matching_needs_all_keys_of_one_item() -> None:
    assert _matches(_sps_query(Modality="CT", ScheduledStationAETitle="CT1"))
    assert not _matches(_sps_query(Modality="CT", ScheduledStationAETitle="MR1"))
    assert not _matches(_sps_query(Modality="MR"))
    # a multi-valued candidate matches when one of its values does
    item = _item(aet=["AA32", "AA33"])
    assert _matches(_sps_query(ScheduledStationAETitle="AA33"), item)
    assert _matches(_sps_query(ScheduledStationAETitle="AA3?"), item)
    assert not _matches(_sps_query(ScheduledStationAETitle="AA34"), item)


def test_absent_or_empty_candidate_values_match_only_universal() -> None:
    item = _item()
    del item.PatientBirthDate
    item.AccessionNumber = ""
    assert _matches(_query(PatientBirthDate="", AccessionNumber=""), item)
    assert not _matches(_query(PatientBirthDate="19600530"), item)
    assert not _matches(_query(AccessionNumber="*1"), item)
    no_sps = _item()
    del no_sps.ScheduledProcedureStepSequence
    assert not _matches(_sps_query(Modality="CT"), no_sps)
    assert _matches(_sps_query(Modality=""), no_sps)


# --- response -----------------------------------------------------------------------------


def test_response_has_exactly_the_requested_keys() -> None:
    query = _sps_query(Modality="CT", ScheduledProcedureStepStartDate="")
    query.PatientName = ""
    query.PatientSex = ""  # not in the item: returned empty
    query.SpecificCharacterSet = "ISO_IR 100"
    compiled = parse_query(query)
    response = compiled.response(_item())
    assert sorted(e.keyword for e in response) == [
        "PatientName",
        "PatientSex",
        "ScheduledProcedureStepSequence",
        "SpecificCharacterSet",
    ]
    assert response.SpecificCharacterSet == "ISO_IR 192"  # the item's, not the query's
    assert response.PatientName == "DUPONT^JEANNE"
    assert response.PatientSex in (None, "")
    (sps,) = response.ScheduledProcedureStepSequence
    assert sorted(e.keyword for e in sps) == ["Modality", "ScheduledProcedureStepStartDate"]
    assert sps.ScheduledProcedureStepStartDate == "20260302"


def test_empty_sequence_is_expanded() -> None:
    query = Dataset()
    query.ScheduledProcedureStepSequence = []
    (sps,) = parse_query(query).response(_item()).ScheduledProcedureStepSequence
    assert sps.ScheduledProcedureStepDescription == "TDM thorax"
    assert sps.ScheduledProcedureStepID == "S1"


def test_filter_for_the_store() -> None:
    query = _sps_query(Modality="CT", ScheduledProcedureStepStartDate="20260301-20260305")
    query.PatientID = "IPP1"
    query.AccessionNumber = "AC*"
    assert parse_query(query).filter == QueryFilter(
        accession_number=None,
        patient_id="IPP1",
        modality="CT",
        date_from="20260301",
        date_to="20260305",
    )
    assert parse_query(_sps_query(ScheduledProcedureStepStartDate="-20260305")).filter == (
        QueryFilter(date_to="20260305")
    )


# --- bad input ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "query",
    [
        _sps_query(ScheduledProcedureStepStartDate="2026-03-02"),  # ISO form, not DICOM
        _sps_query(ScheduledProcedureStepStartDate="20260302-20260301"),  # reversed
        _sps_query(ScheduledProcedureStepStartDate="2026*"),  # no wildcard for DA
        _sps_query(ScheduledProcedureStepStartDate="-"),
        _sps_query(ScheduledProcedureStepStartDate="20260301-20260302-20260303"),
        _sps_query(ScheduledProcedureStepStartTime="2500"),
        _sps_query(ScheduledProcedureStepStartTime="09h30"),
        _sps_query(ScheduledProcedureStepStartDate="20261302"),
    ],
)
def test_malformed_identifiers_raise(query: Dataset) -> None:
    with pytest.raises(DicomQueryError) as caught:
        parse_query(query)
    assert caught.value.code == "0xA900"


def test_several_items_in_a_sequence_key_raise() -> None:
    query = Dataset()
    query.ScheduledProcedureStepSequence = [Dataset(), Dataset()]
    query.ScheduledProcedureStepSequence[0].Modality = "CT"
    with pytest.raises(DicomQueryError, match="une seule"):
        parse_query(query)


def test_not_a_dataset_raises() -> None:
    with pytest.raises(DicomQueryError):
        parse_query(None)  # type: ignore[arg-type]


def test_private_and_unknown_keys_are_reported() -> None:
    query = _query(PatientName="DUPONT*")
    query.add(DataElement(0x00091010, "LO", "private"))
    query.add(DataElement(0x00191001, "UN", b"xx"))
    compiled = parse_query(query)
    assert set(compiled.unsupported) == {"(0009,1010)", "(0019,1001)"}
    assert compiled.matches(_item())  # ignored for matching
    response = compiled.response(_item())
    assert 0x00091010 not in response and 0x00191001 not in response


def test_query_retrieve_level_is_ignored() -> None:
    query = _query(QueryRetrieveLevel="WORKLIST", PatientID="IPP1")
    compiled = parse_query(query)
    assert compiled.matches(_item()) and compiled.unsupported == ()
    assert "QueryRetrieveLevel" not in compiled.response(_item())


# --- properties ---------------------------------------------------------------------------

_TEXT = st.text(alphabet="ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-", min_size=1, max_size=12)


@settings(max_examples=150, deadline=None)
@given(name=_TEXT, pid=_TEXT, modality=st.sampled_from(["CT", "MR", "US", "CR"]))
def test_an_item_matches_a_query_built_from_its_own_values(
    name: str, pid: str, modality: str
) -> None:
    item = _item(name=name, pid=pid, modality=modality)
    query = _sps_query(Modality=modality, ScheduledProcedureStepStartDate="20260302")
    query.PatientName = name
    query.PatientID = pid
    compiled = parse_query(query)
    assert compiled.matches(item)
    response = compiled.response(item)
    assert response.PatientID == pid
    assert {e.keyword for e in response} == {
        "PatientName",
        "PatientID",
        "ScheduledProcedureStepSequence",
        "SpecificCharacterSet",
    }


@settings(max_examples=300, deadline=None)
@given(
    value=st.text(alphabet="ABC-", min_size=1, max_size=8),
    pattern=st.text(alphabet="ABC*?", min_size=1, max_size=6),
)
def test_wildcards_agree_with_fnmatch(value: str, pattern: str) -> None:
    item = _item(pid=value)
    expected = fnmatch.fnmatchcase(value, pattern)
    assert _matches(_query(PatientID=pattern), item) is expected


@settings(max_examples=200, deadline=None)
@given(
    day=st.dates(min_value=__import__("datetime").date(2000, 1, 1)),
    low=st.dates(min_value=__import__("datetime").date(2000, 1, 1)),
    high=st.dates(min_value=__import__("datetime").date(2000, 1, 1)),
)
def test_date_ranges_agree_with_date_comparison(day: object, low: object, high: object) -> None:
    import datetime as dt

    assert isinstance(day, dt.date) and isinstance(low, dt.date) and isinstance(high, dt.date)
    if low > high:
        low, high = high, low
    item = _item(date=day.strftime("%Y%m%d"))
    value = f"{low:%Y%m%d}-{high:%Y%m%d}"
    assert _matches(_sps_query(ScheduledProcedureStepStartDate=value), item) is (low <= day <= high)


@settings(max_examples=100, deadline=None)
@given(garbage=st.text(max_size=20))
def test_random_date_values_never_crash(garbage: str) -> None:
    try:
        compiled = parse_query(_sps_query(ScheduledProcedureStepStartDate=garbage))
    except DicomQueryError:
        return
    compiled.matches(_item())


# --- encoded answers (the SCP's fast path) ---------------------------------------------------


def _stored(item: Dataset) -> Dataset:
    """``item`` as the store hands it out: encoded, then decoded (raw elements)."""
    from segur_ris.dicom import decode_item, encode_item

    return decode_item(encode_item(item))


def _full_item() -> Dataset:
    ds = _item(name="LÉTOURNEAU^ÉLODIE", aet=["CT1", "CT2"])
    ds.ReferringPhysicianName = ""
    ds.IssuerOfAccessionNumberSequence = []
    other = Dataset()
    other.PatientID = "248039263001064"
    other.IssuerOfPatientID = "ASIP-SANTE-INS-NIR"
    qualifier = Dataset()
    qualifier.UniversalEntityID = "1.2.250.1.213.1.4.10"
    qualifier.UniversalEntityIDType = "ISO"
    other.IssuerOfPatientIDQualifiersSequence = [qualifier]
    ds.OtherPatientIDsSequence = [other]
    ds.PregnancyStatus = 4
    ds.PatientWeight = "62.5"
    second = Dataset()
    second.Modality = "MR"
    second.ScheduledProcedureStepID = "S2"
    ds.ScheduledProcedureStepSequence.append(second)
    return ds


_QUERIES = [
    _query(),
    _query(PatientName="", PatientID="", AccessionNumber="", StudyInstanceUID=""),
    _query(PatientName="LÉT*", PatientWeight="", PregnancyStatus="", AdmissionID=""),
    _query(OtherPatientIDsSequence=[], IssuerOfAccessionNumberSequence=[]),
    _sps_query(),
    _sps_query(Modality="CT", ScheduledStationAETitle="", ScheduledProcedureStepStartDate=""),
    _sps_query(Modality="MR", ScheduledProcedureStepID="", ScheduledPerformingPhysicianName=""),
    _sps_query(Modality="US"),
]


@pytest.mark.parametrize("charset", ["ISO_IR 192", "ISO_IR 100", None])
@pytest.mark.parametrize("implicit", [True, False])
@pytest.mark.parametrize("number", range(len(_QUERIES)))
def test_encoded_response_is_pydicom_encoding_of_response(
    number: int, implicit: bool, charset: str | None
) -> None:
    from pydicom.filebase import DicomBytesIO
    from pydicom.filewriter import write_dataset

    item = _full_item()
    if charset is None:
        del item.SpecificCharacterSet
        item.PatientName = "DUPONT^JEANNE"
    else:
        item.SpecificCharacterSet = charset
    query = _QUERIES[number]
    other = _query(PatientName="", PatientSex="")
    other.ScheduledProcedureStepSequence = [Dataset()]
    other.ScheduledProcedureStepSequence[0].Modality = ""
    for candidate in (_stored(item), _stored(Dataset())):
        compiled = parse_query(query)
        expected = DicomBytesIO()
        expected.is_little_endian, expected.is_implicit_VR = True, implicit
        write_dataset(expected, compiled.response(candidate))
        for _ in range(2):  # the second answer comes from the encoded elements kept
            got = compiled.encoded_response(candidate, implicit_vr=implicit)
            assert got == expected.getvalue()
        # another query on the same (now memoised) item still gets its own keys only
        second = parse_query(other)
        expected = DicomBytesIO()
        expected.is_little_endian, expected.is_implicit_VR = True, implicit
        write_dataset(expected, second.response(candidate))
        assert second.encoded_response(candidate, implicit_vr=implicit) == expected.getvalue()
