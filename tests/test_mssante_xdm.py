"""IHE XDM (ITI-32) packages: round trip on real CR-IMG, ebRS XSD validity, hostile ZIPs."""

from __future__ import annotations

import dataclasses
import hashlib
import io
import re
import struct
import zipfile
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from lxml import etree

from segur_ris.errors import XdmError
from segur_ris.mssante import XdmDocument, build_xdm, read_xdm, xdm_document_from_cda
from segur_ris.xds import Code, SubmissionSet
from tests.helpers_bench import run_benchmark
from tests.helpers_xds import load_schema
from tests.mssante_a_fixtures import INS, PS, SENDER, WHEN, cda_n1, cda_n3, other_patient_cda

RIM = "urn:oasis:names:tc:ebxml-regrep:xsd:rim:3.0"
NS = {"rim": RIM, "lcm": "urn:oasis:names:tc:ebxml-regrep:xsd:lcm:3.0"}
NAMES = [
    "INDEX.HTM",
    "README.TXT",
    "IHE_XDM/SUBSET01/METADATA.XML",
    "IHE_XDM/SUBSET01/DOC0001.XML",
]


@pytest.fixture(scope="module")
def lcm_schema(ref_dir: Path) -> etree.XMLSchema:
    return load_schema(ref_dir, "ebRS/lcm.xsd")


@pytest.fixture(scope="module")
def package() -> bytes:
    return build_xdm(
        [xdm_document_from_cda(cda_n1())],
        sender=SENDER,
        software="RIS-Demo",
        software_version="4.2.1",
        submission_time=WHEN,
        intended_recipients=[PS],
    )


def _zip(entries: list[tuple[str, bytes]], compression: int = zipfile.ZIP_DEFLATED) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression) as archive:
        for name, content in entries:
            archive.writestr(name, content)
    return buffer.getvalue()


def _entries(package: bytes) -> list[tuple[str, bytes]]:
    with zipfile.ZipFile(io.BytesIO(package)) as archive:
        return [(n, archive.read(n)) for n in archive.namelist()]


def _replaced(package: bytes, name: str, content: bytes) -> bytes:
    return _zip([(n, content if n == name else c) for n, c in _entries(package)])


def _code(data: bytes, **limits: int) -> str | None:
    with pytest.raises(XdmError) as caught:
        read_xdm(data, **limits)
    return caught.value.code


# --- building and reading back --------------------------------------------------------------


def test_round_trip_on_a_cr_img(package: bytes) -> None:
    cda = cda_n1()
    with zipfile.ZipFile(io.BytesIO(package)) as archive:
        assert archive.namelist() == NAMES
        readme = archive.read("README.TXT").decode("utf-8")
        index = archive.read("INDEX.HTM").decode("utf-8")
    assert f"Emetteur : {SENDER}" in readme and "Logiciel : RIS-Demo 4.2.1" in readme
    assert 'href="IHE_XDM/SUBSET01/DOC0001.XML"' in index and 'href="README.TXT"' in index

    read = read_xdm(package)
    (document,) = read.documents
    assert document.name == "DOC0001.XML" and document.content == cda
    assert document.entry.hash == hashlib.sha1(cda).hexdigest()
    assert document.entry.size == len(cda)
    assert document.entry.patient_id == f"{INS}^^^&1.2.250.1.213.1.4.10&ISO^NH"
    assert document.entry.unique_id == "1.2.250.1.999.1.1.20261124.1"
    assert document.entry.entry_uuid.startswith("urn:uuid:")
    assert document.entry.type_code is not None and document.entry.type_code.code == "18748-4"
    ss = read.submission_set
    assert ss.patient_id == document.entry.patient_id
    assert ss.submission_time == "20261124100000"
    assert ss.intended_recipients == (f"||^^Internet^{PS}",)
    assert re.fullmatch(r"2\.25\.\d+", ss.unique_id) and ss.entry_uuid.startswith("urn:uuid:")
    assert ss.authors == document.entry.authors and ss.authors[0].person
    assert "RIS-Demo 4.2.1" in read.readme


def test_deterministic_and_8_3_names(package: bytes) -> None:
    again = build_xdm(
        [xdm_document_from_cda(cda_n1())],
        sender=SENDER,
        software="RIS-Demo",
        software_version="4.2.1",
        submission_time=WHEN,
        intended_recipients=[PS],
    )
    assert again == package
    two = build_xdm(
        [xdm_document_from_cda(cda_n1()), xdm_document_from_cda(cda_n3(), name="CRN3.XML")],
        sender=SENDER,
        submission_time=WHEN,
    )
    names = [n for n, _ in _entries(two)]
    assert names[-2:] == ["IHE_XDM/SUBSET01/DOC0001.XML", "IHE_XDM/SUBSET01/CRN3.XML"]
    for name in names:
        assert re.fullmatch(r"[A-Z0-9_]{1,8}(\.[A-Z0-9_]{1,3})?", name.rsplit("/", 1)[-1])
    read = read_xdm(two)
    assert [d.name for d in read.documents] == ["DOC0001.XML", "CRN3.XML"]
    assert read.documents[1].content == cda_n3()
    assert len({d.entry.entry_uuid for d in read.documents}) == 2


def test_metadata_validates_against_ebrs(package: bytes, lcm_schema: etree.XMLSchema) -> None:
    metadata = dict(_entries(package))["IHE_XDM/SUBSET01/METADATA.XML"]
    root = etree.fromstring(metadata)
    assert lcm_schema.validate(root), lcm_schema.error_log
    assert root.tag == "{urn:oasis:names:tc:ebxml-regrep:xsd:lcm:3.0}SubmitObjectsRequest"
    (extrinsic,) = root.findall(".//rim:ExtrinsicObject", NS)

    def slot(name: str) -> list[str | None]:
        return [v.text for v in extrinsic.findall(f"rim:Slot[@name='{name}']//rim:Value", NS)]

    cda = cda_n1()
    assert slot("URI") == ["DOC0001.XML"]
    assert slot("hash") == [hashlib.sha1(cda).hexdigest()]
    assert slot("size") == [str(len(cda))]
    (association,) = root.findall(".//rim:Association", NS)
    package_id = root.find(".//rim:RegistryPackage", NS)
    assert package_id is not None
    assert association.get("sourceObject") == package_id.get("id")
    assert association.get("targetObject") == extrinsic.get("id")


def test_given_submission_set_and_build_errors() -> None:
    document = xdm_document_from_cda(cda_n1())
    ss = SubmissionSet(
        entry_uuid="SubmissionSet01",
        unique_id="1.2.250.1.999.1.1.7898.1.42",
        source_id="1.2.250.1.999.1.1.7898",
        patient_id=document.entry.patient_id,
        submission_time="20261124093500",
        content_type_code=Code("04", "1.2.250.1.213.2.2", "Hospitalisation de jour"),
    )
    read = read_xdm(build_xdm([document], submission_set=ss, sender=SENDER))
    assert read.submission_set.unique_id == ss.unique_id
    assert read.submission_set.content_type_code == ss.content_type_code
    assert read.submission_set.entry_uuid.startswith("urn:uuid:")

    other = xdm_document_from_cda(other_patient_cda())
    with pytest.raises(XdmError) as caught:
        build_xdm([document, other], sender=SENDER)
    assert caught.value.code == "patient"
    with pytest.raises(XdmError) as caught:
        build_xdm([dataclasses.replace(document, name="document-1.xml")], sender=SENDER)
    assert caught.value.code == "path"
    wrong_hash = dataclasses.replace(
        document, entry=dataclasses.replace(document.entry, hash="0" * 40)
    )
    with pytest.raises(XdmError) as caught:
        build_xdm([wrong_hash], sender=SENDER)
    assert caught.value.code == "hash"
    with pytest.raises(XdmError) as caught:
        build_xdm([document, dataclasses.replace(document, name="COPY.XML")], sender=SENDER)
    assert caught.value.code == "document"  # the same uniqueId twice
    with pytest.raises(XdmError):
        build_xdm([], sender=SENDER)
    with pytest.raises(XdmError):
        build_xdm([XdmDocument(b"", document.entry)], sender=SENDER)


# --- hostile archives -----------------------------------------------------------------------


@pytest.mark.parametrize(
    "name",
    [
        "../evil.txt",
        "IHE_XDM/SUBSET01/../../../etc/cron.d/x",
        "/etc/passwd",
        "C:/Windows/win.ini",
        "IHE_XDM\\SUBSET01\\METADATA.XML",
    ],
)
def test_hostile_names(package: bytes, name: str) -> None:
    assert _code(_zip([*_entries(package), (name, b"x")])) == "path"


def test_duplicate_entry(package: bytes) -> None:
    entries = _entries(package)
    with pytest.warns(UserWarning, match="Duplicate name"):
        data = _zip([*entries, ("readme.txt", b"x"), ("README.TXT", b"y")])
    assert _code(data) == "path"


def test_too_many_entries(package: bytes) -> None:
    extra = [(f"IHE_XDM/SUBSET01/X{i}.TXT", b"x") for i in range(3)]
    assert _code(_zip(_entries(package) + extra), max_entries=6) == "count"
    assert len(read_xdm(_zip(_entries(package) + extra), max_entries=7).documents) == 1


def test_zip_bomb_by_declared_size(package: bytes) -> None:
    bomb = _zip([*_entries(package), ("ZEROS.BIN", bytes(2_000_000))])
    assert len(bomb) < len(package) + 5_000  # 2 MB of zeros deflate to a few kB
    assert _code(bomb, max_total_size=1_000_000) == "size"


def test_zip_bomb_by_actual_size(package: bytes) -> None:
    """Headers declare 100 bytes; the entry inflates to 1 MB."""
    data = bytearray(_zip([*_entries(package), ("ZEROS.BIN", bytes(1_000_000))]))
    name = b"ZEROS.BIN"
    central = data.find(b"PK\x01\x02")
    while data[central + 46 : central + 46 + len(name)] != name:
        central = data.find(b"PK\x01\x02", central + 4)
        assert central > 0
    struct.pack_into("<I", data, central + 24, 100)
    local = struct.unpack_from("<I", data, central + 42)[0]
    struct.pack_into("<I", data, local + 22, 100)
    with zipfile.ZipFile(io.BytesIO(bytes(data))) as archive:
        assert archive.getinfo("ZEROS.BIN").file_size == 100
    assert _code(bytes(data)) == "size"


def test_hash_and_size_mismatch(package: bytes) -> None:
    cda = cda_n1()
    tampered = cda.replace(b"PAT-TROIS", b"PAT-QUATR")
    assert len(tampered) == len(cda)
    assert _code(_replaced(package, "IHE_XDM/SUBSET01/DOC0001.XML", tampered)) == "hash"
    assert _code(_replaced(package, "IHE_XDM/SUBSET01/DOC0001.XML", cda + b" ")) == "size"


def test_missing_or_bad_metadata(package: bytes) -> None:
    without = [(n, c) for n, c in _entries(package) if not n.endswith("METADATA.XML")]
    assert _code(_zip(without)) == "metadata"
    without_doc = [(n, c) for n, c in _entries(package) if not n.endswith("DOC0001.XML")]
    assert _code(_zip(without_doc)) == "metadata"
    xxe = b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]><x>&e;</x>'
    assert _code(_replaced(package, "IHE_XDM/SUBSET01/METADATA.XML", xxe)) == "metadata"
    assert _code(_replaced(package, "IHE_XDM/SUBSET01/METADATA.XML", b"<not-xml")) == "metadata"


def _metadata(package: bytes) -> str:
    return dict(_entries(package))["IHE_XDM/SUBSET01/METADATA.XML"].decode("utf-8")


def test_metadata_without_size_or_with_a_bad_uri(package: bytes) -> None:
    """XDM requires hash and size (ITI TF-3 Table 4.3.1-3); a malformed split URI is typed."""
    metadata = _metadata(package)
    name = "IHE_XDM/SUBSET01/METADATA.XML"
    no_size = re.sub(r'<rim:Slot name="size">.*?</rim:Slot>', "", metadata, flags=re.S)
    assert no_size != metadata
    assert _code(_replaced(package, name, no_size.encode())) == "size"
    split = metadata.replace(
        "<rim:Value>DOC0001.XML</rim:Value>",
        "<rim:Value>a|DOC</rim:Value><rim:Value>b|0001.XML</rim:Value>",
    )
    assert split != metadata
    assert _code(_replaced(package, name, split.encode())) == "metadata"
    ordered = metadata.replace(
        "<rim:Value>DOC0001.XML</rim:Value>",
        "<rim:Value>2|0001.XML</rim:Value><rim:Value>1|DOC</rim:Value>",
    )
    assert read_xdm(_replaced(package, name, ordered.encode())).documents[0].name == "DOC0001.XML"


def test_one_patient_per_package(package: bytes) -> None:
    metadata = _metadata(package)
    name = "IHE_XDM/SUBSET01/METADATA.XML"
    # the DocumentEntry's patientId differs from the SubmissionSet's
    entry_patient = re.sub(
        r'(<rim:ExternalIdentifier[^>]*identificationScheme="urn:uuid:58a6f841-87b3-4a3e-92fd-'
        r'a8ffeff98427"[^>]*value=")' + INS,
        r"\g<1>" + "1850275056123",
        metadata,
        count=1,
    )
    assert entry_patient != metadata
    assert _code(_replaced(package, name, entry_patient.encode())) == "patient"
    # a second subset of another patient
    other = build_xdm([xdm_document_from_cda(other_patient_cda())], sender=SENDER)
    entries = _entries(package) + [
        (n.replace("SUBSET01", "SUBSET02"), c)
        for n, c in _entries(other)
        if n.startswith("IHE_XDM/")
    ]
    assert _code(_zip(entries)) == "patient"


def test_not_a_zip_and_corrupt(package: bytes) -> None:
    assert _code(b"PK\x03\x04 not really") == "zip"
    assert _code(b"%PDF-1.4") == "zip"
    corrupt = bytearray(_zip(_entries(package), zipfile.ZIP_STORED))
    offset = corrupt.find(b"<ClinicalDocument")
    corrupt[offset + 1] = ord("c")
    assert _code(bytes(corrupt)) == "zip"
    with pytest.raises(XdmError):
        read_xdm("not bytes")  # type: ignore[arg-type]


def test_stored_and_lowercase_producers(package: bytes) -> None:
    """Another producer: stored entries, lower-case folder names, extra files."""
    entries = [(n.replace("SUBSET01", "subset01"), c) for n, c in _entries(package)]
    entries.append(("IHE_XDM/subset01/EXTRA.TXT", b"ignored"))
    read = read_xdm(_zip(entries, zipfile.ZIP_STORED))
    assert read.documents[0].content == cda_n1()


_PACKAGE = build_xdm([xdm_document_from_cda(cda_n1())], sender=SENDER, submission_time=WHEN)


@settings(max_examples=300, deadline=None)
@given(
    st.lists(
        st.tuples(st.integers(0, len(_PACKAGE) - 1), st.integers(0, 255)), min_size=1, max_size=6
    ),
    st.integers(1, len(_PACKAGE)),
)
def test_mutated_packages_fail_typed(edits: list[tuple[int, int]], keep: int) -> None:
    """Any corruption is a typed XdmError (or still a valid package), never another error."""
    data = bytearray(_PACKAGE)
    for position, value in edits:
        data[position] = value
    try:
        package = read_xdm(bytes(data[:keep]))
    except XdmError as exc:
        assert exc.code in {"zip", "path", "count", "size", "hash", "metadata"}
    else:
        assert package.documents and package.documents[0].content


def test_benchmark_runs() -> None:
    """``benchmarks/bench_mssante.py`` keeps running (one iteration)."""
    result = run_benchmark("bench_mssante.py", timeout=100)
    assert "XDM CR-IMG N1 build+read" in result.stdout and "parse DSN" in result.stdout
