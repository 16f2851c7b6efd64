"""Offline CDA validation (XSD + official ANS schematrons) against the TestContenuCDA kit."""

from __future__ import annotations

import os
import re
import threading
from collections import Counter
from pathlib import Path

import pytest
from lxml import etree

from segur_ris.cda import _validate as validate_cda_module
from segur_ris.cda._schematron import SchematronEngine, resolve_case_insensitive
from segur_ris.cda._validate import CdaValidator, Finding, ValidationReport, validate_cda
from segur_ris.errors import ConfigError, UnsafeXmlError, XmlError
from tests.conftest import ref_file

pytestmark = pytest.mark.refdata

KIT = "cda/ansforge-TestContenuCDA-3-0"
N1 = "ExemplesCDA/IMG_CR_IMG_2024.01_CDA-R2-Niveau-1.xml"
N3 = "ExemplesCDA/IMG_CR_IMG_2024.01.xml"
CR_IMG = "CI-SIS_IMG-CR-IMG_2024.01.sch"
DA_IMG = "CI-SIS_IMG-DA-IMG_2024.01.sch"
STRUC_MIN = "ASIP-STRUCT-MIN-StrucMin.sch"
SVRL = "{http://purl.oclc.org/dsdl/svrl}"
PIPELINE = ("iso_dsdl_include.xsl", "iso_abstract_expand.xsl", "iso_svrl_for_xslt2.xsl")
# Schematrons that run on the official examples, by relative path.
RUNNABLE = {
    "IHE.sch": "profils/IHE.sch",
    "CI-SIS_ModelesDeContenusCDA.sch": "profils/CI-SIS_ModelesDeContenusCDA.sch",
    "CI-SIS_Modeles_ANS.sch": "profils/CI-SIS_Modeles_ANS.sch",
    CR_IMG: CR_IMG,
}


@pytest.fixture(scope="session")
def kit(ref_dir: Path) -> Path:
    ref_file(ref_dir, f"{KIT}/infrastructure/cda/CDA_extended.xsd")
    return ref_dir / KIT


@pytest.fixture(scope="session")
def cache_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("schematron-cache")


@pytest.fixture(scope="session")
def validator(kit: Path, cache_dir: Path) -> CdaValidator:
    return CdaValidator(kit, cache_dir=cache_dir)


@pytest.fixture(scope="session")
def n1(kit: Path) -> bytes:
    return (kit / N1).read_bytes()


@pytest.fixture(scope="session")
def n3(kit: Path) -> bytes:
    return (kit / N3).read_bytes()


# --- plain Saxon reference run ------------------------------------------------------------


def _overlay(kit: Path, root: Path) -> Path:
    """A symlink view of the kit with an alias for the mis-cased include of IHE.sch."""
    for entry in kit.iterdir():
        if entry.name != "schematrons":
            (root / entry.name).symlink_to(entry)
    sch = root / "schematrons"
    sch.mkdir()
    for entry in (kit / "schematrons").iterdir():
        if entry.name != "include":
            (sch / entry.name).symlink_to(entry)
    (sch / "include").mkdir()
    for entry in (kit / "schematrons/include").iterdir():
        if entry.name != "entrees":
            (sch / "include" / entry.name).symlink_to(entry)
    (sch / "include/entrees").mkdir()
    for entry in (kit / "schematrons/include/entrees").iterdir():
        (sch / "include/entrees" / entry.name).symlink_to(entry)
    (sch / "include/entrees/E_directiveAnticipee_int.sch").symlink_to(
        kit / "schematrons/include/entrees/E_directiveanticipee_int.sch"
    )
    return sch


@pytest.fixture(scope="session")
def plain_saxon(kit: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[tuple[str, str], list]:
    """Failed asserts of a plain Saxon run (ISO skeleton on the .sch files, no SDK code)."""
    from saxonche import PySaxonProcessor

    from segur_ris.cda._schematron import SAXON_LOCK, saxon_processor

    sch_dir = _overlay(kit, tmp_path_factory.mktemp("overlay"))
    results: dict[tuple[str, str], list] = {}
    with SAXON_LOCK:
        proc: PySaxonProcessor = saxon_processor()
        xslt = proc.new_xslt30_processor()
        steps = [
            xslt.compile_stylesheet(stylesheet_file=str(sch_dir / "moteur" / n)) for n in PIPELINE
        ]
        for name, relative in {**RUNNABLE, DA_IMG: DA_IMG}.items():
            source = sch_dir / relative
            node = proc.parse_xml(xml_file_name=str(source))
            for step in steps[:-1]:
                node = proc.parse_xml(xml_text=step.transform_to_string(xdm_node=node))
            out = steps[-1].transform_to_string(xdm_node=node)
            out_file = tmp_path_factory.mktemp("plain") / f"{source.stem}.xsl"
            out_file.write_text(out, encoding="utf-8")
            # The generated XSLT must sit next to the .sch for the value-set look-ups: use xml:base.
            tree = etree.parse(str(out_file))
            tree.getroot().set("{http://www.w3.org/XML/1998/namespace}base", source.as_uri())
            tree.write(str(out_file))
            executable = xslt.compile_stylesheet(stylesheet_file=str(out_file))
            docs = (
                [N1, N3]
                if name != DA_IMG
                else sorted(
                    f"ExemplesCDA/{p.name}" for p in (kit / "ExemplesCDA").glob("IMG-DA-IMG_*.xml")
                )
            )
            for doc in docs:
                svrl = etree.fromstring(
                    executable.transform_to_string(source_file=str(kit / doc)).encode()
                )
                pattern = None
                found = []
                for element in svrl:
                    if element.tag == f"{SVRL}active-pattern":
                        pattern = element.get("id")
                    elif element.tag == f"{SVRL}failed-assert":
                        text = " ".join("".join(element.itertext()).split())
                        found.append((element.get("id") or pattern, element.get("location"), text))
                results[(name, doc)] = found
    return results


def _ours(report: ValidationReport, source: str) -> list[tuple[str | None, str | None, str]]:
    return [(f.rule, f.location, f.message) for f in report.findings if f.source == source]


# --- verdicts on the official examples ----------------------------------------------------


@pytest.mark.parametrize("doc", [N1, N3])
def test_same_verdicts_as_plain_saxon(
    validator: CdaValidator, kit: Path, plain_saxon: dict[tuple[str, str], list], doc: str
) -> None:
    report = validator.validate((kit / doc).read_bytes())
    assert report.level == (1 if doc == N1 else 3)
    for name in validator.schematron_names(report.level):
        source = Path(name).name
        if source == STRUC_MIN:
            continue
        plain = plain_saxon[(source, doc)]
        assert Counter(_ours(report, source)) == Counter(plain), source
    expected = {name: 0 for name in RUNNABLE} | {CR_IMG: 4 if doc == N1 else 0}
    if doc == N1:
        expected.pop(CR_IMG)
    got = {name: len(_ours(report, name)) for name in expected}
    assert got == expected


def test_n1_cr_img_fails_by_design(validator: CdaValidator, n1: bytes) -> None:
    report = validator.validate(n1, profiles=[CR_IMG])
    assert len(report.errors) == 4
    assert {f.rule for f in report.errors} == {"Entete_IMG-CR-IMG"}
    assert {f.location for f in report.errors} == {"/ClinicalDocument"}
    assert any("1.2.250.1.213.1.1.1.45" in f.message for f in report.errors)


@pytest.mark.parametrize("doc", [N1, N3])
def test_official_examples_pass(validator: CdaValidator, kit: Path, doc: str) -> None:
    report = validator.validate((kit / doc).read_bytes())
    assert report.ok, report.errors
    assert not report.by_source("xsd")
    assert report.schematrons[:3] == (
        "IHE.sch",
        "CI-SIS_ModelesDeContenusCDA.sch",
        "CI-SIS_Modeles_ANS.sch",
    )
    assert (CR_IMG in report.schematrons) == (doc == N3)
    assert set(report.per_source) >= {"xsd", "IHE.sch"}
    data = report.as_dict()
    assert data["ok"] is True and data["level"] == report.level
    assert data["findings"] == [f.as_dict() for f in report.findings]


def test_da_img_examples(validator: CdaValidator, kit: Path, plain_saxon: dict) -> None:
    docs = sorted((kit / "ExemplesCDA").glob("IMG-DA-IMG_*.xml"))
    assert len(docs) == 7
    for path in docs:
        report = validator.validate(path.read_bytes(), profiles=[DA_IMG])
        assert report.schematrons == (DA_IMG,)
        assert Counter(_ours(report, DA_IMG)) == Counter(
            plain_saxon[(DA_IMG, f"ExemplesCDA/{path.name}")]
        )
        assert report.ok, (path.name, report.errors)


# --- broken documents ---------------------------------------------------------------------


def test_missing_record_target_is_an_xsd_error(validator: CdaValidator, n3: bytes) -> None:
    broken = re.sub(rb"<recordTarget>.*?</recordTarget>", b"", n3, flags=re.S)
    report = validator.validate(broken)
    assert not report.ok
    (error,) = report.by_source("xsd")
    assert error.severity == "error"
    assert error.rule == "SCHEMAV_ELEMENT_CONTENT"
    assert re.fullmatch(r"line \d+", error.location or "")
    assert "recordTarget" in error.message


def test_wrong_document_code_is_a_schematron_error(validator: CdaValidator, n3: bytes) -> None:
    broken = n3.replace(b'code="18748-4"', b'code="11111-1"', 1)
    report = validator.validate(broken)
    assert not report.ok
    (error,) = report.errors
    assert error.source == CR_IMG
    assert error.rule == "Entete_IMG-CR-IMG"
    assert error.location == "/ClinicalDocument"
    assert "18748-4" in error.message


def test_bad_ins_oid_is_not_checked_by_the_runnable_kit(validator: CdaValidator, n3: bytes) -> None:
    """Known limit: no runnable schematron of the kit checks the INS OID (the SDK must)."""
    report = validator.validate(n3.replace(b"1.2.250.1.213.1.4.10", b"1.2.3.4.5"))
    assert report.ok


def test_hostile_documents_are_refused(validator: CdaValidator, tmp_path: Path) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text("SECRET")
    hostile = (
        f'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY e SYSTEM "{secret.as_uri()}">]>'
        '<ClinicalDocument xmlns="urn:hl7-org:v3"><title>&e;</title></ClinicalDocument>'
    ).encode()
    with pytest.raises(UnsafeXmlError):
        validator.validate(hostile)
    with pytest.raises(UnsafeXmlError):
        validator.validate(b'<!DOCTYPE ClinicalDocument><ClinicalDocument xmlns="urn:hl7-org:v3"/>')
    with pytest.raises(XmlError):
        validator.validate(b"<ClinicalDocument")


# --- kit faults ---------------------------------------------------------------------------


def test_case_fault_include_resolves(kit: Path, validator: CdaValidator, n3: bytes) -> None:
    sch = kit / "schematrons/profils"
    resolved = resolve_case_insensitive(sch, "../include/entrees/E_directiveAnticipee_int.sch")
    assert resolved.name == "E_directiveanticipee_int.sch"
    assert validator.validate(n3, profiles=["profils/IHE.sch"]).schematrons == ("IHE.sch",)


def test_missing_value_set_is_a_finding(validator: CdaValidator, n1: bytes) -> None:
    for _ in range(2):  # first run: seen at run time; second: skipped up front
        report = validator.validate(n1)
        (finding,) = report.by_source(STRUC_MIN)
        assert finding.severity == "warning"
        assert finding.rule == "kit:jeu-de-valeurs"
        assert "voc-1.2.250.1.213.1.1.5.471-DYNAMIC.xml" in finding.message
        assert report.skipped == (STRUC_MIN,)
        assert not report.complete and report.ok
        assert "IHE.sch" in report.schematrons


# --- caches -------------------------------------------------------------------------------


def test_disk_cache_is_used_by_a_second_instance(
    kit: Path, validator: CdaValidator, cache_dir: Path, n3: bytes
) -> None:
    validator.validate(n3, profiles=[CR_IMG])  # make sure it is on disk
    cold = CdaValidator(kit, cache_dir=cache_dir.parent / "cold-cache")
    cold.validate(n3, profiles=[CR_IMG])
    assert cold.cache_stats()["generated"] == 1

    warm = CdaValidator(kit, cache_dir=cache_dir)
    warm.validate(n3, profiles=[CR_IMG])
    assert warm.cache_stats()["generated"] == 0  # loaded from disk, nothing regenerated
    assert warm.cache_stats()["disk_hits"] == 1
    warm.validate(n3, profiles=[CR_IMG])
    assert warm.cache_stats()["memory_hits"] == 1


def test_generated_xslt_stays_out_of_the_kit(kit: Path, cache_dir: Path) -> None:
    engine = SchematronEngine(kit / "schematrons", cache_dir)
    engine.load(kit / "schematrons" / CR_IMG)
    assert list(cache_dir.glob("CI-SIS_IMG-CR-IMG_2024.01-*.xsl"))


def test_threads_share_a_validator(validator: CdaValidator, n3: bytes) -> None:
    results: list[ValidationReport] = []
    threads = [
        threading.Thread(target=lambda: results.append(validator.validate(n3, profiles=[CR_IMG])))
        for _ in range(3)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(results) == 3 and all(r.ok for r in results)


# --- configuration ------------------------------------------------------------------------


def test_missing_kit_is_a_config_error(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("SEGUR_RIS_TESTCONTENUCDA", raising=False)
    with pytest.raises(ConfigError, match="SEGUR_RIS_TESTCONTENUCDA"):
        CdaValidator()
    with pytest.raises(ConfigError, match="introuvable"):
        CdaValidator(tmp_path / "absent")
    with pytest.raises(ConfigError, match="incomplet"):
        CdaValidator(tmp_path)


def test_unknown_profile_is_a_config_error(validator: CdaValidator, n3: bytes) -> None:
    with pytest.raises(ConfigError):
        validator.validate(n3, profiles=["nope.sch"])


def test_schematron_names(validator: CdaValidator) -> None:
    assert CR_IMG not in validator.schematron_names(1)
    assert validator.schematron_names(3)[-1] == CR_IMG
    assert validator.schematron_names(None) == validator.schematron_names(3)
    with pytest.raises(ValueError):
        validator.schematron_names(2)


def test_validate_cda_uses_env_kit(
    monkeypatch: pytest.MonkeyPatch, kit: Path, cache_dir: Path, n3: bytes
) -> None:
    monkeypatch.setenv("SEGUR_RIS_TESTCONTENUCDA", os.fspath(kit))
    xdg = cache_dir.parent / "xdg"
    (xdg / "segur_ris").mkdir(parents=True, exist_ok=True)
    if not (xdg / "segur_ris/schematrons").exists():
        (xdg / "segur_ris/schematrons").symlink_to(cache_dir)  # reuse the session's cache
    monkeypatch.setenv("XDG_CACHE_HOME", os.fspath(xdg))
    assert validate_cda(n3).ok
    assert validate_cda(n3, kit).ok
    assert validate_cda_module._VALIDATORS[kit.resolve()] is not None
    assert len([k for k in validate_cda_module._VALIDATORS if k == kit.resolve()]) == 1
    monkeypatch.delenv("SEGUR_RIS_TESTCONTENUCDA")
    with pytest.raises(ConfigError):
        validate_cda(n3)


def test_finding_is_frozen() -> None:
    finding = Finding("error", "xsd", None, "line 1", "x")
    with pytest.raises(AttributeError):
        finding.message = "y"  # type: ignore[misc]
