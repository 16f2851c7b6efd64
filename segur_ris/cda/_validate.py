"""Offline validation of a CDA R2 CR-IMG: CDA XSD plus the official ANS schematrons.

The SDK ships no ANS file: point :class:`CdaValidator` at a checkout of the ANS kit
``TestContenuCDA-3-0`` (argument ``kit`` or ``$SEGUR_RIS_TESTCONTENUCDA``). Nothing in the kit is
modified; generated validators go to a per-user cache directory.

What runs:

* the XSD ``infrastructure/cda/CDA_extended.xsd`` (lxml, loaded once per validator);
* the schematrons of :meth:`CdaValidator.schematron_names`: for a level 1 document (PDF in
  ``nonXMLBody``) ``IHE``, ``CI-SIS_ModelesDeContenusCDA``, ``CI-SIS_Modeles_ANS`` and
  ``structurationMinimale``; for a level 3 document the same plus ``CI-SIS_IMG-CR-IMG_2024.01``.

Decisions:

* The document is parsed with :func:`segur_ris._xml.parse_xml`: a DOCTYPE (hence any entity) raises
  :class:`~segur_ris.errors.UnsafeXmlError`, a malformed document raises
  :class:`~segur_ris.errors.XmlError`; nothing is validated then. Saxon only receives the
  re-serialised, entity-free tree, so the document can never make it read a local file.
* Severity: SVRL ``@role`` (else ``@flag``) ``error``/``fatal``/``erreur`` -> ``error``,
  ``warning``/``warn``/``avertissement`` -> ``warning``, ``info``/``information`` -> ``info``;
  without either, a failed assert is an ``error`` and a successful report a ``warning``. The ANS
  kit uses ``role="error"``, ``role="warning"`` and (once) ``role="info"``; most ANS asserts have
  no role and are errors.
* A schematron that cannot run because a kit file is missing (the upstream kit lacks
  ``include/voc-1.2.250.1.213.1.1.5.471-DYNAMIC.xml`` for ``structurationMinimale``) yields one
  ``warning`` finding (rule ``kit:jeu-de-valeurs`` or ``kit:include``) naming the missing file
  and is listed in :attr:`ValidationReport.skipped`; the other schematrons still run. The document
  is not at fault, so :attr:`ValidationReport.ok` is unaffected; check
  :attr:`ValidationReport.complete` to require every schematron to have run.
* A Saxon dynamic error while a schematron runs on the document becomes an ``error`` finding
  (rule ``saxon:<code>``); Saxon static errors and unusable kit files raise
  :class:`CdaValidationError`. No raw saxonche exception escapes.

Thread-safety: all Saxon work of the process is serialised by one lock; a validator may be shared
between threads (validations then run one at a time). For parallel validation, use processes.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, cast

from lxml import etree

from segur_ris._xml import parse_xml
from segur_ris.cda._schematron import (
    SVRL_NS,
    CompiledSchematron,
    SchematronEngine,
    missing_resource,
    saxon_message,
)
from segur_ris.errors import CdaValidationError, ConfigError, XmlError

__all__ = [
    "KIT_ENV",
    "CdaValidator",
    "Finding",
    "Severity",
    "ValidationReport",
    "default_cache_dir",
    "validate_cda",
]

Severity = Literal["error", "warning", "info"]

#: Environment variable naming the TestContenuCDA checkout when ``kit`` is not given.
KIT_ENV = "SEGUR_RIS_TESTCONTENUCDA"

_CDA_NS = "urn:hl7-org:v3"
_XSD = Path("infrastructure") / "cda" / "CDA_extended.xsd"

_COMMON = (
    "profils/IHE.sch",
    "profils/CI-SIS_ModelesDeContenusCDA.sch",
    "profils/CI-SIS_Modeles_ANS.sch",
    "profils/structurationMinimale/ASIP-STRUCT-MIN-StrucMin.sch",
)
_CR_IMG = "CI-SIS_IMG-CR-IMG_2024.01.sch"

_ROLE: dict[str, Severity] = {
    "error": "error",
    "fatal": "error",
    "erreur": "error",
    "warning": "warning",
    "warn": "warning",
    "avertissement": "warning",
    "info": "info",
    "information": "info",
}


@dataclass(frozen=True, slots=True)
class Finding:
    """One problem found in a document.

    ``source`` is ``"xsd"`` or the schematron file name; ``rule`` the assert/report ``@id``, else
    the pattern id (XSD: the libxml2 error type); ``location`` the SVRL XPath, or ``"line N"``.
    """

    severity: Severity
    source: str
    rule: str | None
    location: str | None
    message: str

    def as_dict(self) -> dict[str, str | None]:
        """Plain dictionary (JSON output)."""
        return {
            "severity": self.severity,
            "source": self.source,
            "rule": self.rule,
            "location": self.location,
            "message": self.message,
        }


@dataclass(frozen=True, slots=True)
class ValidationReport:
    """Result of :meth:`CdaValidator.validate`.

    ``timings`` pairs each source (``"xsd"``, schematron file names) with its duration in seconds
    (validation only, compilation excluded); ``schematrons`` lists the schematrons that ran,
    ``skipped`` those that could not run (missing kit file, see the findings).
    """

    findings: tuple[Finding, ...]
    level: int | None = None
    schematrons: tuple[str, ...] = ()
    skipped: tuple[str, ...] = ()
    timings: tuple[tuple[str, float], ...] = field(default=(), compare=False)

    @property
    def errors(self) -> tuple[Finding, ...]:
        """Findings of severity ``error``."""
        return tuple(f for f in self.findings if f.severity == "error")

    @property
    def warnings(self) -> tuple[Finding, ...]:
        """Findings of severity ``warning``."""
        return tuple(f for f in self.findings if f.severity == "warning")

    @property
    def ok(self) -> bool:
        """True when no finding is an error."""
        return not self.errors

    @property
    def complete(self) -> bool:
        """True when every requested schematron ran."""
        return not self.skipped

    @property
    def per_source(self) -> dict[str, float]:
        """Validation time in seconds per source."""
        return dict(self.timings)

    def by_source(self, source: str) -> tuple[Finding, ...]:
        """Findings of one source (``"xsd"`` or a schematron file name)."""
        return tuple(f for f in self.findings if f.source == source)

    def as_dict(self) -> dict[str, Any]:
        """Plain dictionary for ``--json`` output."""
        return {
            "ok": self.ok,
            "complete": self.complete,
            "level": self.level,
            "errors": len(self.errors),
            "warnings": len(self.warnings),
            "schematrons": list(self.schematrons),
            "skipped": list(self.skipped),
            "timings": {name: round(seconds, 6) for name, seconds in self.timings},
            "findings": [f.as_dict() for f in self.findings],
        }


def default_cache_dir() -> Path:
    """Per-user cache of generated validators (``$XDG_CACHE_HOME/segur_ris/schematrons``)."""
    if os.name == "nt":  # pragma: no cover - Windows
        base = os.environ.get("LOCALAPPDATA") or str(Path.home() / "AppData" / "Local")
    else:
        base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "segur_ris" / "schematrons"


class CdaValidator:
    """Validates CDA documents against a TestContenuCDA kit (XSD + ANS schematrons).

    ``kit`` is the checkout directory (``None``: ``$SEGUR_RIS_TESTCONTENUCDA``); ``cache_dir``
    receives the generated validators (default :func:`default_cache_dir`). Schematrons are
    compiled lazily, on first use, then kept in memory.
    """

    def __init__(
        self,
        kit: str | os.PathLike[str] | None = None,
        *,
        cache_dir: str | os.PathLike[str] | None = None,
    ) -> None:
        if kit is None:
            env = os.environ.get(KIT_ENV, "").strip()
            if not env:
                raise ConfigError(
                    "kit TestContenuCDA non configuré: passer le dossier du dépôt ANS "
                    f"TestContenuCDA-3-0 (argument kit) ou définir ${KIT_ENV}"
                )
            kit = env
        self.kit = Path(kit).expanduser().resolve()
        self.schematrons_dir = self.kit / "schematrons"
        if not self.kit.is_dir():
            raise ConfigError(f"kit TestContenuCDA introuvable: {self.kit} n'est pas un dossier")
        for required in (self.schematrons_dir / "moteur", self.kit / _XSD):
            if not required.exists():
                raise ConfigError(
                    f"kit TestContenuCDA incomplet: {required} absent "
                    "(attendu: une copie du dépôt ansforge/TestContenuCDA-3-0)"
                )
        self.cache_dir = Path(cache_dir) if cache_dir is not None else default_cache_dir()
        self._engine = SchematronEngine(self.schematrons_dir, self.cache_dir)
        self._schema: etree.XMLSchema | None = None
        self._schema_lock = threading.Lock()

    # --- public API --------------------------------------------------------------------------

    def schematron_names(self, level: int | None) -> tuple[str, ...]:
        """Schematrons (paths relative to ``schematrons/``) applied to a document of ``level``.

        Level 1: IHE, Modèles de contenus, Modèles ANS, structuration minimale; level 3 (and
        ``None``): the same plus the CR-IMG 2024.01 schematron.
        """
        if level == 1:
            return _COMMON
        if level in (3, None):
            return (*_COMMON, _CR_IMG)
        raise ValueError(f"niveau CDA non géré: {level} (1 ou 3)")

    def validate(
        self,
        document: bytes,
        *,
        level: int | None = None,
        profiles: Sequence[str] | None = None,
    ) -> ValidationReport:
        """Validate ``document`` (CDA bytes) against the XSD and the applicable schematrons.

        ``level`` (1 or 3) defaults to the body found (``nonXMLBody`` -> 1, else 3); ``profiles``
        (schematron paths relative to ``schematrons/``, or absolute) replaces the default list.
        Raises :class:`~segur_ris.errors.UnsafeXmlError` (DOCTYPE), ``XmlError`` (malformed),
        :class:`~segur_ris.errors.ConfigError` (unknown schematron), :class:`CdaValidationError`.
        """
        root = parse_xml(document, what="document CDA")
        if level is None:
            level = detect_level(root)
        paths = [self._schematron_path(name) for name in profiles or self.schematron_names(level)]
        findings: list[Finding] = []
        timings: list[tuple[str, float]] = []

        start = time.perf_counter()
        findings.extend(self._validate_xsd(root))
        timings.append(("xsd", time.perf_counter() - start))

        text = etree.tostring(root, encoding="unicode")
        ran: list[str] = []
        skipped: list[str] = []
        node: Any = None
        for path in paths:
            compiled = self._engine.load(path)
            if compiled.executable is None:
                skipped.append(compiled.name)
                findings.append(_missing_finding(compiled))
                continue
            if node is None:
                node = self._parse_for_saxon(text)
            start = time.perf_counter()
            found = self._run(compiled, node)
            timings.append((compiled.name, time.perf_counter() - start))
            findings.extend(found)
            if any(f.rule is not None and f.rule.startswith("kit:") for f in found):
                skipped.append(compiled.name)
            else:
                ran.append(compiled.name)
        return ValidationReport(
            findings=tuple(findings),
            level=level,
            schematrons=tuple(ran),
            skipped=tuple(skipped),
            timings=tuple(timings),
        )

    def warm_up(self, level: int | None = None) -> None:
        """Load the XSD and compile the schematrons of ``level`` ahead of the first document."""
        self._xsd()
        for name in self.schematron_names(level):
            self._engine.load(self._schematron_path(name))

    def cache_stats(self) -> dict[str, int]:
        """Counters: ``generated`` (pipeline runs), ``disk_hits``, ``memory_hits``, ``compiled``."""
        return dict(self._engine.stats)

    # --- internals -------------------------------------------------------------------------

    def _schematron_path(self, name: str) -> Path:
        path = Path(name)
        if not path.is_absolute():
            path = self.schematrons_dir / path
        if not path.is_file():
            raise ConfigError(f"schématron introuvable dans le kit: {path}")
        return path

    def _xsd(self) -> etree.XMLSchema:
        with self._schema_lock:
            if self._schema is None:
                path = self.kit / _XSD
                parser = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False)
                try:
                    doc = etree.parse(str(path), parser)
                    self._schema = etree.XMLSchema(doc)
                except (etree.XMLSyntaxError, etree.XMLSchemaParseError) as exc:
                    raise CdaValidationError(f"XSD CDA du kit inutilisable: {exc}") from None
            return self._schema

    def _validate_xsd(self, root: etree._Element) -> list[Finding]:
        schema = self._xsd()
        with self._schema_lock:  # an lxml XMLSchema keeps its error log: one use at a time
            schema.validate(root)
            log = list(cast("Iterable[Any]", schema.error_log))
        return [
            Finding(
                severity="warning" if entry.level_name == "WARNING" else "error",
                source="xsd",
                rule=entry.type_name,
                location=f"line {entry.line}",
                message=entry.message,
            )
            for entry in log
        ]

    def _parse_for_saxon(self, text: str) -> Any:
        try:
            return self._engine.parse(text)
        except Exception as exc:
            message, code = saxon_message(exc)
            raise CdaValidationError(f"document refusé par Saxon: {message}", code=code) from None

    def _run(self, compiled: CompiledSchematron, node: Any) -> list[Finding]:
        try:
            svrl = self._engine.run(compiled, node)
        except Exception as exc:
            message, code = saxon_message(exc)
            missing = missing_resource(str(exc), compiled.path.parent)
            if missing is not None:
                return [_missing_finding(self._engine.mark_missing(compiled, missing))]
            return [
                Finding(
                    severity="error",
                    source=compiled.name,
                    rule=f"saxon:{code}" if code else "saxon",
                    location=None,
                    message=f"échec d'exécution du schématron: {message}",
                )
            ]
        return parse_svrl(svrl, compiled.name)


def detect_level(root: etree._Element) -> int:
    """1 when the body is a ``nonXMLBody``, else 3."""
    body = root.find(f"{{{_CDA_NS}}}component/{{{_CDA_NS}}}nonXMLBody")
    return 1 if body is not None else 3


def parse_svrl(svrl: str, source: str) -> list[Finding]:
    """Findings of an SVRL report (``failed-assert`` and ``successful-report``)."""
    try:
        root = parse_xml(svrl.encode("utf-8"), what="rapport SVRL")
    except XmlError as exc:  # cannot come from the ISO skeleton
        raise CdaValidationError(f"rapport SVRL inattendu: {exc}") from None
    findings: list[Finding] = []
    pattern: str | None = None
    failed, report, active = (
        f"{{{SVRL_NS}}}{n}" for n in ("failed-assert", "successful-report", "active-pattern")
    )
    for element in root:
        tag = element.tag
        if tag == active:
            pattern = element.get("id") or element.get("name")
        elif tag in (failed, report):
            severity = _ROLE.get((element.get("role") or element.get("flag") or "").strip().lower())
            if severity is None:
                severity = "error" if tag == failed else "warning"
            text = element.find(f"{{{SVRL_NS}}}text")
            message = (
                " ".join("".join(str(t) for t in text.itertext()).split())
                if text is not None
                else ""
            )
            findings.append(
                Finding(
                    severity=severity,
                    source=source,
                    rule=element.get("id") or pattern,
                    location=element.get("location"),
                    message=message,
                )
            )
    return findings


def _missing_finding(compiled: CompiledSchematron) -> Finding:
    files = ", ".join(compiled.missing)
    what = "jeu de valeurs" if compiled.missing_kind == "jeu-de-valeurs" else "fichier inclus"
    return Finding(
        severity="warning",
        source=compiled.name,
        rule=f"kit:{compiled.missing_kind}",
        location=None,
        message=(
            f"schématron non exécuté: {what} introuvable dans le kit ({files}); "
            f"ajouter le fichier dans {compiled.path.parent} pour l'activer"
        ),
    )


_VALIDATORS: dict[Path, CdaValidator] = {}
_VALIDATORS_LOCK = threading.Lock()


def validate_cda(document: bytes, kit: str | os.PathLike[str] | None = None) -> ValidationReport:
    """Validate ``document`` with a validator cached per kit path.

    ``kit`` defaults to ``$SEGUR_RIS_TESTCONTENUCDA``; the default cache directory is used.
    """
    if kit is None:
        kit = os.environ.get(KIT_ENV, "").strip() or None
    if kit is None:
        CdaValidator(None)  # raises the ConfigError explaining how to configure the kit
    key = Path(kit or "").expanduser().resolve()
    with _VALIDATORS_LOCK:
        validator = _VALIDATORS.get(key)
        if validator is None:
            validator = _VALIDATORS[key] = CdaValidator(key)
    return validator.validate(document)
