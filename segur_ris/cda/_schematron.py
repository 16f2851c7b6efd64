"""Private engine: compile the official ANS schematrons (XSLT 2) with saxonche and run them.

Pipeline (ISO skeleton shipped in the kit's ``schematrons/moteur/``)::

    .sch --(includes inlined here, case-insensitively)--> iso_dsdl_include.xsl
         --> iso_abstract_expand.xsl --> iso_svrl_for_xslt2.xsl --> generated XSLT --> SVRL

Includes are resolved in Python before the ISO include step so that the kit's packaging fault
(``IHE.sch`` names ``E_directiveAnticipee_int.sch``, the file is ``E_directiveanticipee_int.sch``)
works on case-sensitive file systems without touching the kit. The generated XSLT is compiled
with the base URI of the ``.sch`` file so that the value-set ``document()`` look-ups resolve
inside the kit.

Caches: the generated XSLT is written to a disk cache (Saxon-HE cannot export compiled SEF
packages, so reloading means parsing and compiling that XSLT, skipping the three pipeline
transforms and the include resolution); compiled executables live in memory in each
:class:`SchematronEngine`.

Thread-safety: every saxonche call of the process goes through :data:`SAXON_LOCK` (one
process-wide ``PySaxonProcessor``); engines may be shared between threads, work is serialised.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import threading
import urllib.parse
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lxml import etree

from segur_ris.errors import CdaValidationError

__all__ = [
    "SAXON_LOCK",
    "CompiledSchematron",
    "SchematronEngine",
    "missing_resource",
    "saxon_processor",
    "saxon_version",
]

SCH_NS = "http://purl.oclc.org/dsdl/schematron"
SVRL_NS = "http://purl.oclc.org/dsdl/svrl"
PIPELINE = ("iso_dsdl_include.xsl", "iso_abstract_expand.xsl", "iso_svrl_for_xslt2.xsl")
_CACHE_FORMAT = "1"

#: Serialises every saxonche call of the process (saxonche objects are not thread-safe).
SAXON_LOCK = threading.RLock()

_processor: Any = None

_IO_FILE = re.compile(r"processing (file:\S+?\.xml)")
_SAXON_CODE = re.compile(r"\b([A-Z]{4}\d{4})\b")

# Parser for the kit's own files: no network, no entities (the kit is data, not code).
_KIT_PARSER = etree.XMLParser(
    resolve_entities=False, no_network=True, load_dtd=False, huge_tree=True
)


def saxon_processor() -> Any:
    """The process-wide ``PySaxonProcessor`` (created on first use; call under the lock)."""
    global _processor
    with SAXON_LOCK:
        if _processor is None:
            try:
                from saxonche import PySaxonProcessor
            except ImportError as exc:  # pragma: no cover - saxonche is a dependency
                raise CdaValidationError(f"saxonche indisponible: {exc}") from None
            _processor = PySaxonProcessor(license=False)
        return _processor


def saxon_version() -> str:
    """Version string of the Saxon engine (part of the disk-cache key)."""
    with SAXON_LOCK:
        return str(saxon_processor().version)


def saxon_message(exc: BaseException) -> tuple[str, str | None]:
    """First line of a saxonche error message and its Saxon error code, if any."""
    text = " ".join(str(exc).split())
    match = _SAXON_CODE.search(str(exc))
    return text[:500], (match.group(1) if match else None)


@dataclass(frozen=True, slots=True)
class CompiledSchematron:
    """A loaded schematron: its executable, or why it cannot run (a missing kit file)."""

    name: str
    path: Path
    executable: Any = field(default=None, repr=False, compare=False)
    missing: tuple[str, ...] = ()  # kit files (value sets, includes) that do not exist
    missing_kind: str = ""  # "include" or "jeu-de-valeurs"
    key: str | None = None  # disk-cache key


class SchematronEngine:
    """Compiles and caches the schematrons of one kit ``schematrons/`` folder."""

    def __init__(self, schematrons_dir: Path, cache_dir: Path | None) -> None:
        self.schematrons_dir = schematrons_dir
        self.cache_dir = cache_dir
        self._memory: dict[Path, CompiledSchematron] = {}
        self._pipeline: list[Any] | None = None
        self.stats = {"generated": 0, "disk_hits": 0, "memory_hits": 0, "compiled": 0}
        self.last_timings: dict[str, float] = {}

    # --- loading ---------------------------------------------------------------------------

    def load(self, sch: Path) -> CompiledSchematron:
        """Return the compiled schematron ``sch`` (memory cache, then disk cache, then build)."""
        import time

        with SAXON_LOCK:
            cached = self._memory.get(sch)
            if cached is not None:
                self.stats["memory_hits"] += 1
                return cached
            try:
                files = self._include_closure(sch)
            except _MissingInclude as exc:
                result = CompiledSchematron(
                    sch.name, sch, missing=(exc.href,), missing_kind="include"
                )
                self._memory[sch] = result
                return result
            key = self._cache_key(sch, files)
            t0 = time.perf_counter()
            xslt = self._read_disk(sch, key)
            if xslt is None:
                xslt = self._generate(sch)
                self.stats["generated"] += 1
                self._write_disk(sch, key, xslt)
                self.last_timings["generate"] = time.perf_counter() - t0
            else:
                self.stats["disk_hits"] += 1
                self.last_timings["disk_read"] = time.perf_counter() - t0
            # Kit files seen missing by an earlier run (recorded next to the cached XSLT): the
            # schematron is skipped without compiling it until the files appear.
            missing = tuple(
                ref
                for ref in self._read_meta(sch, key).get("missing", [])
                if not (sch.parent / ref).exists()
            )
            if missing:
                result = CompiledSchematron(
                    sch.name, sch, missing=missing, missing_kind="jeu-de-valeurs", key=key
                )
            else:
                t1 = time.perf_counter()
                executable = self._compile(sch, xslt)
                result = CompiledSchematron(sch.name, sch, executable=executable, key=key)
                self.stats["compiled"] += 1
                self.last_timings["compile"] = time.perf_counter() - t1
            self._memory[sch] = result
            return result

    def mark_missing(self, compiled: CompiledSchematron, missing: str) -> CompiledSchematron:
        """Record that ``compiled`` stopped on the missing kit file ``missing`` (memory, disk)."""
        with SAXON_LOCK:
            result = CompiledSchematron(
                compiled.name,
                compiled.path,
                missing=(missing,),
                missing_kind="jeu-de-valeurs",
                key=compiled.key,
            )
            self._memory[compiled.path] = result
            if compiled.key is not None:
                meta = self._read_meta(compiled.path, compiled.key)
                meta["missing"] = sorted({*meta.get("missing", []), missing})
                self._write_meta(compiled.path, compiled.key, meta)
            return result

    def run(self, compiled: CompiledSchematron, document: Any) -> str:
        """Apply a compiled schematron to a Saxon document node; return the SVRL text."""
        with SAXON_LOCK:
            return str(compiled.executable.transform_to_string(xdm_node=document))

    def parse(self, text: str) -> Any:
        """Parse an already XXE-checked document (text) into a Saxon node."""
        with SAXON_LOCK:
            builder = saxon_processor().new_document_builder()
            builder.set_dtd_validation(False)
            return builder.parse_xml(xml_text=text, encoding="UTF-8")

    # --- generation ------------------------------------------------------------------------

    def _pipeline_steps(self) -> list[Any]:
        if self._pipeline is None:
            moteur = self.schematrons_dir / "moteur"
            xslt = saxon_processor().new_xslt30_processor()
            steps = []
            for name in PIPELINE:
                path = moteur / name
                if not path.is_file():
                    raise CdaValidationError(f"moteur schématron absent du kit: {path}")
                try:
                    steps.append(xslt.compile_stylesheet(stylesheet_file=str(path)))
                except Exception as exc:
                    message, code = saxon_message(exc)
                    raise CdaValidationError(
                        f"compilation de {name} impossible: {message}", code=code
                    ) from None
            self._pipeline = steps
        return self._pipeline

    def _generate(self, sch: Path) -> str:
        """Run the ISO pipeline on ``sch`` (includes inlined) and return the generated XSLT."""
        root = self._inline(sch, set())
        text = etree.tostring(root, encoding="unicode")
        processor = saxon_processor()
        builder = processor.new_document_builder()
        builder.set_base_uri(sch.as_uri())
        try:
            node = builder.parse_xml(xml_text=text, encoding="UTF-8")
            out = ""
            for step, name in zip(self._pipeline_steps(), PIPELINE, strict=True):
                out = str(step.transform_to_string(xdm_node=node))
                if name != PIPELINE[-1]:
                    node = builder.parse_xml(xml_text=out, encoding="UTF-8")
        except CdaValidationError:
            raise
        except Exception as exc:
            message, code = saxon_message(exc)
            raise CdaValidationError(
                f"génération du validateur {sch.name} impossible: {message}", code=code
            ) from None
        return out

    def _compile(self, sch: Path, xslt: str) -> Any:
        processor = saxon_processor()
        builder = processor.new_document_builder()
        builder.set_base_uri(sch.as_uri())  # value-set look-ups resolve inside the kit
        try:
            node = builder.parse_xml(xml_text=xslt, encoding="UTF-8")
            return processor.new_xslt30_processor().compile_stylesheet(stylesheet_node=node)
        except Exception as exc:
            message, code = saxon_message(exc)
            raise CdaValidationError(
                f"compilation du validateur {sch.name} impossible: {message}", code=code
            ) from None

    # --- includes --------------------------------------------------------------------------

    def _include_closure(self, sch: Path) -> list[Path]:
        """``sch`` and every file it includes (recursively), resolved case-insensitively."""
        seen: list[Path] = []
        stack = [sch]
        while stack:
            path = stack.pop()
            if path in seen:
                continue
            seen.append(path)
            root = _parse_kit_file(path)
            for inc in root.iter(f"{{{SCH_NS}}}include"):
                stack.append(resolve_case_insensitive(path.parent, inc.get("href") or ""))
        return seen

    def _inline(self, path: Path, active: set[Path]) -> etree._Element:
        if path in active:
            raise CdaValidationError(f"inclusion circulaire dans le kit: {path}")
        root = _parse_kit_file(path)
        for inc in list(root.iter(f"{{{SCH_NS}}}include")):
            target = resolve_case_insensitive(path.parent, inc.get("href") or "")
            included = self._inline(target, active | {path})
            parent = inc.getparent()
            if parent is None:  # pragma: no cover - an include is never the root
                raise CdaValidationError(f"inclusion racine inattendue dans {path}")
            included.tail = inc.tail
            parent.replace(inc, included)
        return root

    # --- disk cache ------------------------------------------------------------------------

    def _cache_key(self, sch: Path, files: list[Path]) -> str:
        digest = hashlib.sha256()
        digest.update(f"{_CACHE_FORMAT}\0{saxon_version()}\0{sch.parent}\0".encode())
        for name in PIPELINE:
            digest.update(_read_bytes(self.schematrons_dir / "moteur" / name))
        for path in files:
            digest.update(os.path.relpath(path, sch.parent).encode())
            digest.update(b"\0")
            digest.update(hashlib.sha256(_read_bytes(path)).digest())
        return digest.hexdigest()[:24]

    def _cache_path(self, sch: Path, key: str) -> Path | None:
        if self.cache_dir is None:
            return None
        return self.cache_dir / f"{sch.stem}-{key}.xsl"

    def _read_disk(self, sch: Path, key: str) -> str | None:
        path = self._cache_path(sch, key)
        if path is None or not path.is_file():
            return None
        try:
            return path.read_text(encoding="utf-8")
        except OSError:
            return None

    def _write_disk(self, sch: Path, key: str, xslt: str) -> None:
        path = self._cache_path(sch, key)
        if path is None:
            return
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
            tmp.write_text(xslt, encoding="utf-8")
            os.replace(tmp, path)
        except OSError:
            # An unwritable cache only costs time: the validator keeps working from memory.
            return
        self._write_meta(sch, key, {"schematron": str(sch), "saxon": saxon_version()})

    def _read_meta(self, sch: Path, key: str) -> dict[str, Any]:
        path = self._cache_path(sch, key)
        if path is None:
            return {}
        try:
            meta = json.loads(path.with_suffix(".json").read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return {}
        return meta if isinstance(meta, dict) else {}

    def _write_meta(self, sch: Path, key: str, meta: dict[str, Any]) -> None:
        path = self._cache_path(sch, key)
        if path is None:
            return
        try:
            path.with_suffix(".json").write_text(json.dumps(meta, indent=1), encoding="utf-8")
        except OSError:
            return


class _MissingInclude(Exception):
    def __init__(self, href: str) -> None:
        super().__init__(href)
        self.href = href


def resolve_case_insensitive(base: Path, href: str) -> Path:
    """Resolve ``href`` against ``base``; a component that does not exist is matched ignoring case.

    Raises :class:`_MissingInclude` when no file matches (or the match is ambiguous).
    """
    if not href or "://" in href:
        raise _MissingInclude(href or "(href vide)")
    exact = base / href
    if exact.is_file():
        return exact
    current = base
    for part in Path(href).parts:
        candidate = current / part
        if part in (".", "..") or candidate.exists():
            current = candidate
            continue
        try:
            matches = [e for e in current.iterdir() if e.name.lower() == part.lower()]
        except OSError:
            matches = []
        if len(matches) != 1:
            raise _MissingInclude(href)
        current = matches[0]
    if not current.is_file():
        raise _MissingInclude(href)
    return current


def missing_resource(message: str, base: Path) -> str | None:
    """The missing local file named by a Saxon I/O error message (relative to ``base``), if any."""
    found = _IO_FILE.search(message)
    if found is None:
        return None
    path = Path(urllib.parse.unquote(urllib.parse.urlsplit(found.group(1)).path))
    if path.exists():
        return None
    try:
        return str(path.relative_to(base))
    except ValueError:
        return str(path)


def _read_bytes(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise CdaValidationError(f"fichier du kit illisible: {path}: {exc}") from None


def _parse_kit_file(path: Path) -> etree._Element:
    try:
        return etree.fromstring(_read_bytes(path), _KIT_PARSER, base_url=path.as_uri())
    except etree.XMLSyntaxError as exc:
        raise CdaValidationError(f"schématron du kit mal formé: {path}: {exc}") from None
