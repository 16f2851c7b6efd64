"""The ER7 core: lossless round trips on every ANS sample, escapes, charsets, separators, and
only typed errors on bad or random input."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from segur_ris.errors import Hl7ParseError, SegurError
from segur_ris.hl7v2 import Separators, escape, parse_message, unescape

SAMPLE_SUFFIXES = (".er7", ".hl7")


def ans_samples(ref_dir: Path) -> list[Path]:
    found = sorted(p for p in (ref_dir / "hl7").rglob("*") if p.suffix in SAMPLE_SUFFIXES)
    assert len(found) >= 16, "the ANS HL7 samples are missing"
    return found


def test_every_ans_sample_round_trips_byte_exact(ref_dir: Path) -> None:
    for path in ans_samples(ref_dir):
        data = path.read_bytes()
        message = parse_message(data)
        assert message.to_bytes() == data, path.name
        assert message.msh.name == "MSH"
        # rebuilt from the segments alone (CR-normalised) it is the same message
        normalised = message.to_bytes("\r")
        assert parse_message(normalised).to_bytes() == normalised
        assert [s.line for s in parse_message(normalised)] == [s.line for s in message]


def test_nothing_is_dropped_z_segments_prt_and_large_obx(ref_dir: Path) -> None:
    adt = parse_message((ref_dir / "hl7/ansforge_hl7V2-exemples/SGL/admission.er7").read_bytes())
    assert [s.name for s in adt] == ["MSH", "EVN", "PID", "PV1", "ZBE", "ZFA"]
    assert adt.segment("ZBE").get(4) == "INSERT"  # type: ignore[union-attr]
    assert adt.segment("ZFA").get(9) == "INO"  # type: ignore[union-attr]
    name = "message_ORU_CR_Bio_INIT_N3_SEGUR.hl7"
    oru_path = next(p for p in ans_samples(ref_dir) if p.name == name)
    oru = parse_message(oru_path.read_bytes())
    assert oru.version == "2.5"
    assert len(oru.segments_named("PRT")) == 4
    obx = oru.segment("OBX")
    assert obx is not None and obx.get(2) == "ED"
    assert len(obx.get(5, 5)) > 200_000  # the base64 CDA, intact


def test_header_shortcuts(ref_dir: Path) -> None:
    adt = parse_message((ref_dir / "hl7/ansforge_hl7V2-exemples/SGL/admission.er7").read_bytes())
    assert (adt.message_type, adt.structure, adt.control_id, adt.version) == (
        "ADT^A01",
        "ADT_A01",
        "3975",
        "2.5",
    )
    assert adt.charset == "utf-8"
    assert adt.msh.get(1) == "|" and adt.msh.get(2) == "^~\\&"
    pid = adt.segment("PID")
    assert pid is not None
    reps = pid.repetitions(3)
    assert [r.get(5) for r in reps] == ["PI", "INS"]
    assert reps[1].get(1) == "279035121518989"
    assert reps[1].subcomponents(4) == ["ASIP-SANTE-INS-NIR", "1.2.250.1.213.1.4.10", "ISO"]
    assert pid.get(3, 4, 2, repetition=2) == "1.2.250.1.213.1.4.10"
    assert pid.get(32) == "VALI"
    assert pid.get(99) == "" and pid.get(3, repetition=9) == ""


@pytest.mark.parametrize("terminator", ["\r", "\n", "\r\n"])
def test_segment_terminators_and_mixtures(terminator: str) -> None:
    lines = ["MSH|^~\\&|A|B|C|D|20240101||ADT^A28^ADT_A05|1|P|2.5", "EVN||20240101", "PID|1||X"]
    text = terminator.join(lines) + terminator
    message = parse_message(text.encode())
    assert [s.name for s in message] == ["MSH", "EVN", "PID"]
    assert message.to_bytes() == text.encode()
    mixed = b"MSH|^~\\&|A|||||||ADT^A01|1|P|2.5\r\nEVN|\rPID|1\n\nPV1|1|O\r"
    parsed = parse_message(mixed)
    assert [s.name for s in parsed] == ["MSH", "EVN", "PID", "PV1"]
    assert parsed.to_bytes() == mixed  # the blank line and every separator are kept
    assert parsed.to_bytes("\r") == b"MSH|^~\\&|A|||||||ADT^A01|1|P|2.5\rEVN|\rPID|1\rPV1|1|O\r"


@pytest.mark.parametrize(
    ("msh18", "codec", "name"),
    [
        ("8859/15", "iso8859-15", "ŒUVRE €"),
        ("8859/1", "iso8859-1", "ÉLODIE Ç"),
        ("UNICODE UTF-8", "utf-8", "ZOÉ ŒIL €"),
        ("", "utf-8", "ÉLÉONORE"),
    ],
)
def test_charsets_from_msh18(msh18: str, codec: str, name: str) -> None:
    text = f"MSH|^~\\&|A|B|C|D|20240101||ADT^A28^ADT_A05|1|P|2.5|||||FRA|{msh18}\rPID|1||||{name}\r"
    data = text.encode(codec)
    message = parse_message(data)
    assert message.charset == codec
    assert message.segment("PID").get(5) == name  # type: ignore[union-attr]
    assert message.to_bytes() == data


def test_latin9_bytes_are_not_read_as_utf8() -> None:
    text = "MSH|^~\\&|||||||ADT^A28|1|P|2.5|||||FRA|8859/15\rPID|1||||MÜLLER €\r"
    data = text.encode("iso8859-15")
    assert parse_message(data).segment("PID").get(5) == "MÜLLER €"  # type: ignore[union-attr]


def test_undeclared_charset_with_invalid_utf8_still_round_trips() -> None:
    data = "MSH|^~\\&|||||||ADT^A28|1|P|2.5\rPID|1||||CÉLINE\r".encode("iso8859-15")
    message = parse_message(data)  # default utf-8: the é byte is kept, not lost
    assert message.to_bytes() == data
    assert parse_message(data, default_charset="iso8859-15").segment("PID").get(5) == "CÉLINE"  # type: ignore[union-attr]


def test_escape_sequences() -> None:
    seps = Separators()
    assert unescape(r"A\F\B\S\C\T\D\R\E\E\F", seps) == "A|B^C&D~E\\F"
    assert unescape(r"caf\XC3A9\ ok", seps) == "café ok"
    assert unescape(r"line\.br\next \H\bold\N\ \Zcustom\ \X4\ \Xzz\ trailing\\", seps) == (
        r"line\.br\next \H\bold\N\ \Zcustom\ \X4\ \Xzz\ trailing\\"
    )
    assert unescape("no escapes", seps) == "no escapes"
    assert unescape("lone \\ escape", seps) == "lone \\ escape"
    value = "a|b^c&d~e\\f\rg\nh"
    assert unescape(escape(value, seps), seps) == value
    assert "\r" not in escape(value) and "|" not in escape(value)


def test_custom_encoding_characters() -> None:
    data = b"MSH#$*!@#A#B#####ADT$A28#1#P#2.5\rPID#1##X$$$AUTH@1.2@ISO$PI*Y$$$AUTH$PI##NOM!S!#\r"
    message = parse_message(data)
    assert message.separators == Separators("#", "$", "*", "!", "@")
    assert message.message_type == "ADT^A28"
    pid = message.segment("PID")
    assert pid is not None
    assert [r.get(1) for r in pid.repetitions(3)] == ["X", "Y"]
    assert pid.get(3, 4, 2) == "1.2"
    assert pid.get(5) == "NOM$"  # \S\ written with "!" as the escape character
    assert message.to_bytes() == data


def test_truncation_character_of_hl7_27() -> None:
    message = parse_message(b"MSH|^~\\&#|A|||||||ADT^A28^ADT_A05|1|P|2.7\rPID|1||||A\\P\\B\r")
    assert message.separators.truncation == "#"
    assert message.segment("PID").get(5) == "A#B"  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("data", "code"),
    [
        (b"", "100"),
        (b"   ", "100"),
        (b"PID|1||X\rMSH|^~\\&|\r", "100"),
        (b"MSH|", "100"),
        (b"MSH|^~|A|B\r", "102"),  # two encoding characters only
        (b"MSH|^^\\&|A|B|C|D|E\r", "102"),  # duplicate delimiter
        (b"MSHA^~\\&|A|B|C|D|E\r", "102"),  # alphanumeric field separator
        (b"MSH|^~\\&|A|B|C|D|E||ADT^A01|1|P|2.5|||||FRA|KLINGON\r", "103"),
        (b"MSH|^~\\&|A|B|C|D|E\rpid|1\r", "100"),
        (b"MSH|^~\\&|A|B|C|D|E\rPIDX1\r", "100"),
        (b"MSH|^~\\&|A|B|C|D|E\rP\r", "100"),
    ],
)
def test_bad_input_gives_typed_errors(data: bytes, code: str) -> None:
    with pytest.raises(Hl7ParseError) as info:
        parse_message(data)
    assert info.value.code == code


def test_non_bytes_input() -> None:
    with pytest.raises(Hl7ParseError):
        parse_message(42)  # type: ignore[arg-type]


# --- property tests ------------------------------------------------------------------------

_VALUE = st.text(alphabet=st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=30)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(values=st.lists(_VALUE, min_size=1, max_size=8))
def test_escaped_values_survive_a_round_trip(values: list[str]) -> None:
    fields = "|".join(escape(v) for v in values)
    data = f"MSH|^~\\&|A|||||||ORU^R01|1|P|2.5\rOBX|{fields}\r".encode()
    message = parse_message(data)
    obx = message.segment("OBX")
    assert obx is not None
    for index, value in enumerate(values, start=1):
        assert message.unescape(obx.raw(index)) == value
    assert message.to_bytes() == data


@settings(max_examples=400, deadline=None)
@given(data=st.binary(max_size=400))
def test_random_bytes_give_only_typed_errors(data: bytes) -> None:
    _read_everything(b"MSH|^~\\&|" + data)
    _read_everything(data)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(position=st.integers(min_value=0, max_value=2000), junk=st.binary(min_size=1, max_size=6))
def test_mutated_ans_message_gives_only_typed_errors(position: int, junk: bytes) -> None:
    base = _ADT
    cut = position % (len(base) + 1)
    _read_everything(base[:cut] + junk + base[cut:])
    _read_everything(base[:cut])


_ADT = (
    b"MSH|^~\\&|GAM|CHU-X|DPI|CHU-X|20240306111154||ADT^A01^ADT_A01|3975|D|2.5^FRA^2.11|||||FRA|"
    b"UNICODE UTF-8|FR||2.11^IHE_FRANCE-2.11-PAM\nEVN||20240306111154\nPID|1||000003^^^CHU-X&"
    b"000897406&N^PI~279035121518989^^^ASIP-SANTE-INS-NIR&1.2.250.1.213.1.4.10&ISO^INS||PAT-TROIS"
    b"^DOMINIQUE^DOMINIQUE^^^^L||19790328|F|||^^^^^^BDL^^63220||||||||||||||||||||||VALI\n"
    b"ZBE|001^CHU-X^000897406|20240306110000||INSERT|N\nZFA|ACTIF|20240306111154\n"
)


def _read_everything(data: bytes) -> None:
    """Parse and touch every field: anything but a typed SegurError is a bug."""
    try:
        message = parse_message(data)
    except SegurError:
        return
    assert message.to_bytes() == data
    for segment in message:
        for field in range(1, segment.field_count + 1):
            for rep in segment.repetitions(field):
                rep.components()
                rep.get(2, 2)
            segment.get(field, 2, 2)
    _ = (message.message_type, message.control_id, message.version, message.structure)


def test_truncation_escape_without_a_fifth_character_is_kept() -> None:
    message = parse_message(b"MSH|^~\\&|A|||||||ADT^A28^ADT_A05|1|P|2.5\rPID|1||||A\\P\\B\r")
    assert message.segment("PID").get(5) == "A\\P\\B"  # type: ignore[union-attr]


@pytest.mark.parametrize("msh", ["MSH\xe9^~\\&\xe9A", "MSH|^~\\\xe9|A", "MSH|\t~\\&|A"])
def test_separators_must_be_printable_ascii(msh: str) -> None:
    with pytest.raises(Hl7ParseError) as info:
        parse_message((msh + "\rPID\xe91\r").encode("utf-8"))
    assert info.value.code == "102"


def test_msh18_repetition_uses_the_message_separators() -> None:
    msh = "#".join(
        [
            *("MSH", "$*!@", "A", "", "", "", "", "", "ADT$A28", "1", "P", "2.5"),
            *("", "", "", "", "FRA", "8859/15*UNICODE UTF-8"),
        ]
    )  # MSH-18 repeats, with "*" as the repetition character
    data = msh + "\rPID#1####É\r"
    message = parse_message(data.encode("iso8859-15"))
    assert message.charset == "iso8859-15"
    assert message.segment("PID").get(5) == "É"  # type: ignore[union-attr]
