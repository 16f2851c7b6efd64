"""IHE XDM (ITI-32, "ZIP over e-mail") packages: build and read ``IHE_XDM.zip``.

Layout written (IHE ITI TF-2b §3.32.4.1 and the French MSSanté practice)::

    INDEX.HTM                     human-readable entry page
    README.TXT                    sender, sending software name and version, contents
    IHE_XDM/SUBSET01/METADATA.XML lcm:SubmitObjectsRequest (segur_ris.xds model)
    IHE_XDM/SUBSET01/DOC0001.XML  the documents, ISO 9660 8.3 upper-case names

Reading is defensive: the archive comes from outside. Entry names (absolute, ``..``, drive
letters, backslashes, duplicates), the entry count and the total size (declared *and* actually
inflated) are checked before anything is used, and every document listed by ``METADATA.XML``
must be present with the SHA-1 and size the metadata declares. Any failure raises
:class:`~segur_ris.errors.XdmError` whose ``code`` says what is wrong.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import html
import re
import struct
import uuid
import zipfile
import zlib
from collections.abc import Sequence
from dataclasses import dataclass, replace
from io import BytesIO

from segur_ris import __version__
from segur_ris.config import InsOids
from segur_ris.errors import SegurError, XdmError
from segur_ris.xds import (
    ASSOCIATION_HAS_MEMBER,
    Association,
    Code,
    DocumentEntry,
    Slot,
    Submission,
    SubmissionSet,
    build_submit_objects,
    document_entry_from_cda,
    parse_submit_objects,
    parse_xds_time,
    to_bytes,
    xds_time,
)

__all__ = [
    "DEFAULT_MAX_ENTRIES",
    "DEFAULT_MAX_TOTAL_SIZE",
    "XdmDocument",
    "XdmEntry",
    "XdmPackage",
    "build_xdm",
    "read_xdm",
    "xdm_document_from_cda",
]

#: Limits applied by :func:`read_xdm` unless told otherwise.
DEFAULT_MAX_ENTRIES = 1000
DEFAULT_MAX_TOTAL_SIZE = 256 * 1024 * 1024

_SUBSET = "IHE_XDM/SUBSET01"
_NAME_83 = re.compile(r"^[A-Z0-9_]{1,8}(\.[A-Z0-9_]{1,3})?$")
_EXTENSIONS = {"text/xml": "XML", "application/pdf": "PDF", "text/plain": "TXT"}
_LOCAL_HEADER = struct.Struct("<4sHHHHHIIIHH")
_LOCAL_SIGNATURE = b"PK\x03\x04"
_CHUNK = 1 << 16


@dataclass(frozen=True, slots=True)
class XdmDocument:
    """A document to package: its exact bytes and its XDS DocumentEntry.

    ``name`` is the 8.3 upper-case file name inside the subset folder (``DOC0001.XML``… by
    default). The entry's ``hash``/``size`` are filled from ``content`` (a hash or size that
    contradicts the content is refused) and its ``URI`` slot is set to ``name``.
    """

    content: bytes
    entry: DocumentEntry
    name: str = ""


@dataclass(frozen=True, slots=True)
class XdmEntry:
    """A document read from a package: file name (relative to ``METADATA.XML``), bytes, entry."""

    name: str
    content: bytes
    entry: DocumentEntry


@dataclass(frozen=True, slots=True)
class XdmPackage:
    """An XDM package read by :func:`read_xdm` (every subset: ``documents`` of all of them)."""

    submission_sets: tuple[SubmissionSet, ...]
    documents: tuple[XdmEntry, ...]
    readme: str = ""

    @property
    def submission_set(self) -> SubmissionSet:
        """The submission set of the (first) subset."""
        return self.submission_sets[0]


# --- building -------------------------------------------------------------------------------


def _uuid_urn(*parts: str) -> str:
    """A deterministic ``urn:uuid:`` (UUID v5) for an object that has a symbolic id."""
    return f"urn:uuid:{uuid.uuid5(uuid.NAMESPACE_OID, '|'.join(parts))}"


def _oid_from(*parts: str) -> str:
    """A deterministic OID under ``2.25`` (ITU-T X.667 UUID OIDs)."""
    return f"2.25.{uuid.uuid5(uuid.NAMESPACE_OID, '|'.join(parts)).int}"


def _file_name(index: int, document: XdmDocument) -> str:
    if document.name:
        name = document.name
        if not _NAME_83.match(name):
            raise XdmError(
                f"nom de fichier XDM {name!r} invalide (8.3 en majuscules attendu)", code="path"
            )
        return name
    extension = _EXTENSIONS.get(document.entry.mime_type, "BIN")
    return f"DOC{index:04d}.{extension}"


def _prepare(index: int, document: XdmDocument) -> tuple[str, DocumentEntry]:
    if not isinstance(document, XdmDocument):
        raise XdmError(f"XdmDocument attendu, pas {type(document).__name__}", code="document")
    content = bytes(document.content)
    if not content:
        raise XdmError(f"document {index}: contenu vide", code="document")
    entry = document.entry
    digest = hashlib.sha1(content).hexdigest()
    if entry.hash and entry.hash.lower() != digest:
        raise XdmError(f"document {index}: hash {entry.hash} ≠ contenu ({digest})", code="hash")
    if entry.size is not None and entry.size != len(content):
        raise XdmError(
            f"document {index}: taille {entry.size} ≠ contenu ({len(content)})", code="size"
        )
    name = _file_name(index, document)
    entry_uuid = entry.entry_uuid
    if not entry_uuid.startswith("urn:uuid:"):
        # XDM has no registry to assign entryUUIDs: symbolic ids become deterministic UUIDs.
        entry_uuid = _uuid_urn("DocumentEntry", entry.unique_id)
    slots = (*(s for s in entry.extra_slots if s.name != "URI"), Slot("URI", (name,)))
    return name, replace(
        entry, entry_uuid=entry_uuid, hash=digest, size=len(content), extra_slots=slots
    )


def _readme(
    sender: str, software: str, version: str, names: Sequence[tuple[str, DocumentEntry]]
) -> str:
    lines = [
        "IHE XDM - Echange de documents de sante par messagerie (MSSante)",
        "",
        f"Emetteur : {sender}",
        f"Logiciel : {software} {version}",
        "",
        "Ce support contient des documents de sante au format IHE XDM (ITI-32).",
        "Ouvrir INDEX.HTM pour les consulter ; les metadonnees sont dans",
        f"{_SUBSET}/METADATA.XML.",
        "",
        "Contenu :",
        "  INDEX.HTM",
        "  README.TXT",
        "  IHE_XDM/",
        "    SUBSET01/",
        "      METADATA.XML",
    ]
    lines += [f"      {name}  {entry.title}".rstrip() for name, entry in names]
    return "\r\n".join(lines) + "\r\n"


def _index(sender: str, names: Sequence[tuple[str, DocumentEntry]]) -> str:
    items = "\n".join(
        f'<li><a href="{_SUBSET}/{name}">{html.escape(entry.title or name)}</a></li>'
        for name, entry in names
    )
    return (
        '<!DOCTYPE html>\n<html lang="fr">\n<head><meta charset="utf-8">'
        "<title>IHE XDM</title></head>\n<body>\n"
        f"<h1>Documents transmis par {html.escape(sender)}</h1>\n"
        f"<ul>\n{items}\n</ul>\n"
        '<p><a href="README.TXT">README.TXT</a></p>\n</body>\n</html>\n'
    )


def _zip_info(name: str, when: _dt.datetime) -> zipfile.ZipInfo:
    info = zipfile.ZipInfo(name, date_time=when.timetuple()[:6])
    info.compress_type = zipfile.ZIP_DEFLATED
    info.create_system = 3
    info.external_attr = 0o100644 << 16
    return info


def build_xdm(
    documents: Sequence[XdmDocument],
    *,
    submission_set: SubmissionSet | None = None,
    sender: str,
    software: str = "segur_ris",
    software_version: str = __version__,
    submission_time: _dt.datetime | None = None,
    source_id: str = "",
    intended_recipients: Sequence[str] = (),
    content_type_code: Code | None = None,
    title: str = "",
) -> bytes:
    """The ``IHE_XDM.zip`` of ``documents`` (one patient), as bytes.

    ``sender`` (MSSanté address or name of the sending professional/organisation) and the
    software go into ``README.TXT``. Without ``submission_set`` one is made: patientId of the
    documents, ``submission_time`` (now by default), ``source_id`` (the vendor's OID; a ``2.25``
    OID derived from ``sender`` by default), a ``2.25`` uniqueId derived from the documents,
    the first document's authors,
    ``intended_recipients`` as XDS ``intendedRecipient`` values (a bare e-mail address becomes
    ``||^^Internet^<address>``). The result is byte-for-byte deterministic given the same inputs
    and ``submission_time`` (ZIP timestamps come from the submission time).
    """
    if not documents:
        raise XdmError("un paquet XDM contient au moins un document", code="document")
    if not sender:
        raise XdmError("émetteur (sender) obligatoire pour README.TXT", code="sender")
    prepared = [_prepare(i, d) for i, d in enumerate(documents, start=1)]
    names = [name for name, _ in prepared]
    if len(set(names)) != len(names):
        raise XdmError(f"noms de fichiers XDM en double: {names}", code="path")
    unique_ids = [entry.unique_id for _, entry in prepared]
    if len(set(unique_ids)) != len(unique_ids):
        raise XdmError(f"uniqueId de document en double: {unique_ids}", code="document")
    patients = {entry.patient_id for _, entry in prepared}
    if len(patients) != 1:
        raise XdmError(
            f"un paquet XDM ne concerne qu'un patient ({len(patients)} patientId)", code="patient"
        )
    patient_id = patients.pop()
    if submission_set is None:
        when = submission_time or _dt.datetime.now(_dt.UTC)
        stamp = xds_time(when)
        recipients = tuple(
            r if ("|" in r or "^" in r) else f"||^^Internet^{r}" for r in intended_recipients
        )
        submission_set = SubmissionSet(
            entry_uuid=_uuid_urn("SubmissionSet", stamp, *(e.unique_id for _, e in prepared)),
            unique_id=_oid_from("SubmissionSet", stamp, *(e.unique_id for _, e in prepared)),
            source_id=source_id or _oid_from("source", sender),
            patient_id=patient_id,
            submission_time=stamp,
            content_type_code=content_type_code,
            authors=prepared[0][1].authors,
            intended_recipients=recipients,
            title=title,
        )
    else:
        if submission_set.patient_id != patient_id:
            raise XdmError("patientId du lot ≠ patientId des documents", code="patient")
        if not submission_set.entry_uuid.startswith("urn:uuid:"):
            submission_set = replace(
                submission_set, entry_uuid=_uuid_urn("SubmissionSet", submission_set.unique_id)
            )
        when = submission_time or _zip_time(submission_set.submission_time)
    associations = tuple(
        Association(
            entry_uuid=_uuid_urn("HasMember", submission_set.entry_uuid, entry.entry_uuid),
            association_type=ASSOCIATION_HAS_MEMBER,
            source=submission_set.entry_uuid,
            target=entry.entry_uuid,
            submission_set_status="Original",
        )
        for _, entry in prepared
    )
    submission = Submission(
        submission_sets=(submission_set,),
        documents=tuple(entry for _, entry in prepared),
        associations=associations,
    )
    metadata = to_bytes(build_submit_objects(submission))
    if when.tzinfo is not None:
        when = when.astimezone(_dt.UTC).replace(tzinfo=None)
    when = max(when, _dt.datetime(1980, 1, 1))  # the ZIP format starts in 1980

    buffer = BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr(_zip_info("INDEX.HTM", when), _index(sender, prepared).encode("utf-8"))
        readme = _readme(sender, software, software_version, prepared)
        archive.writestr(_zip_info("README.TXT", when), readme.encode("utf-8"))
        archive.writestr(_zip_info(f"{_SUBSET}/METADATA.XML", when), metadata)
        for (name, _), document in zip(prepared, documents, strict=True):
            archive.writestr(_zip_info(f"{_SUBSET}/{name}", when), bytes(document.content))
    return buffer.getvalue()


def _zip_time(stamp: str) -> _dt.datetime:
    try:
        return parse_xds_time(stamp)
    except SegurError:
        return _dt.datetime(1980, 1, 1, tzinfo=_dt.UTC)


def xdm_document_from_cda(
    cda: bytes,
    *,
    environment_ins_oid: str | InsOids | None = None,
    name: str = "",
    **entry_options: object,
) -> XdmDocument:
    """An :class:`XdmDocument` for a CDA CR-IMG: the DocumentEntry comes from
    :func:`segur_ris.xds.document_entry_from_cda` (``entry_options`` are passed to it)."""
    entry = document_entry_from_cda(
        bytes(cda),
        environment_ins_oid=environment_ins_oid,
        **entry_options,  # type: ignore[arg-type]
    )
    return XdmDocument(content=bytes(cda), entry=entry, name=name)


# --- reading --------------------------------------------------------------------------------


def _check_name(name: str) -> str:
    """The normalised entry name; :class:`XdmError` ``path`` for hostile names."""
    if not name or "\x00" in name:
        raise XdmError(f"nom d'entrée ZIP invalide: {name!r}", code="path")
    if name.startswith(("/", "\\")) or re.match(r"^[A-Za-z]:", name):
        raise XdmError(f"chemin absolu interdit dans le ZIP: {name!r}", code="path")
    if "\\" in name:
        raise XdmError(f"séparateur '\\' interdit dans le ZIP: {name!r}", code="path")
    parts = name.split("/")
    if any(p in ("..", ".") for p in parts):
        raise XdmError(f"remontée de répertoire interdite dans le ZIP: {name!r}", code="path")
    return name


def _inflate(data: bytes, info: zipfile.ZipInfo, budget: int) -> bytes:
    """The entry's bytes, inflated at most to ``budget`` bytes.

    Written here rather than with ``ZipFile.open`` because the standard reader silently stops
    at the *declared* size: an entry that inflates beyond its declared size (a zip bomb lying
    in its headers) must be told apart from a merely corrupt one.
    """
    if info.flag_bits & 0x1:
        raise XdmError(f"entrée chiffrée refusée: {info.filename!r}", code="zip")
    offset = info.header_offset
    header = data[offset : offset + _LOCAL_HEADER.size]
    if len(header) != _LOCAL_HEADER.size:
        raise XdmError(f"en-tête local tronqué: {info.filename!r}", code="zip")
    fields = _LOCAL_HEADER.unpack(header)
    if fields[0] != _LOCAL_SIGNATURE:
        raise XdmError(f"en-tête local invalide: {info.filename!r}", code="zip")
    start = offset + _LOCAL_HEADER.size + fields[9] + fields[10]
    raw = data[start : start + info.compress_size]
    if len(raw) != info.compress_size:
        raise XdmError(f"entrée tronquée: {info.filename!r}", code="zip")
    limit = min(budget, info.file_size) + 1
    if info.compress_type == zipfile.ZIP_STORED:
        content = raw
    elif info.compress_type == zipfile.ZIP_DEFLATED:
        inflater = zlib.decompressobj(-zlib.MAX_WBITS)
        try:
            content = inflater.decompress(raw, limit)
        except zlib.error as exc:
            raise XdmError(f"entrée illisible {info.filename!r}: {exc}", code="zip") from None
        if inflater.unconsumed_tail and len(content) < limit:
            raise XdmError(f"entrée illisible: {info.filename!r}", code="zip")
    else:
        raise XdmError(
            f"méthode de compression {info.compress_type} non prise en charge: {info.filename!r}",
            code="zip",
        )
    if len(content) > budget:
        raise XdmError(f"taille décompressée au-delà de la limite ({info.filename!r})", code="size")
    if len(content) > info.file_size:
        raise XdmError(
            f"taille réelle de {info.filename!r} au-delà de la taille déclarée ({info.file_size})",
            code="size",
        )
    if len(content) < info.file_size:
        raise XdmError(f"entrée tronquée: {info.filename!r}", code="zip")
    if zlib.crc32(content) != info.CRC:
        raise XdmError(f"CRC invalide: {info.filename!r}", code="zip")
    return content


def _uri(entry: DocumentEntry) -> str:
    for slot in entry.extra_slots:
        if slot.name == "URI" and slot.values:
            values = slot.values
            if len(values) > 1 and all("|" in v for v in values):  # long URI split "n|part"
                if not all(v.split("|", 1)[0].isdigit() for v in values):
                    raise XdmError(f"slot URI mal formé: {values!r}", code="metadata")
                ordered = sorted(values, key=lambda v: int(v.split("|", 1)[0]))
                return "".join(v.split("|", 1)[1] for v in ordered)
            return values[0]
    return ""


def read_xdm(
    data: bytes,
    *,
    max_entries: int = DEFAULT_MAX_ENTRIES,
    max_total_size: int = DEFAULT_MAX_TOTAL_SIZE,
) -> XdmPackage:
    """Read and check an ``IHE_XDM.zip`` (see the module docstring for the checks).

    Raises :class:`~segur_ris.errors.XdmError` with ``code`` ``zip`` (not a ZIP, corrupt,
    encrypted), ``path`` (hostile or duplicate name), ``count`` (more than ``max_entries``),
    ``size`` (declared or inflated total above ``max_total_size``, or a document whose size
    is absent from or differs from METADATA.XML), ``hash`` (SHA-1 absent or mismatched),
    ``patient`` (documents or subsets of different patientIds), ``metadata`` (METADATA.XML
    missing, unreadable, or listing a missing file).
    """
    if not isinstance(data, bytes | bytearray):
        raise XdmError(f"bytes attendus, reçu {type(data).__name__}", code="zip")
    data = bytes(data)
    try:
        archive = zipfile.ZipFile(BytesIO(data))
    except (zipfile.BadZipFile, ValueError, EOFError, NotImplementedError, OSError) as exc:
        raise XdmError(f"archive ZIP illisible: {exc}", code="zip") from None
    with archive:
        infos = archive.infolist()
        if len(infos) > max_entries:
            raise XdmError(f"{len(infos)} entrées dans le ZIP (limite {max_entries})", code="count")
        seen: set[str] = set()
        declared = 0
        for info in infos:
            key = _check_name(info.filename).upper()
            if key in seen:
                raise XdmError(f"entrée en double dans le ZIP: {info.filename!r}", code="path")
            seen.add(key)
            declared += info.file_size
        if declared > max_total_size:
            raise XdmError(
                f"taille déclarée {declared} octets au-delà de la limite ({max_total_size})",
                code="size",
            )
        files: dict[str, bytes] = {}
        budget = max_total_size
        for info in infos:
            if info.is_dir():
                continue
            content = _inflate(data, info, budget)
            budget -= len(content)
            files[info.filename.upper()] = content
    return _read_subsets(files)


def _read_subsets(files: dict[str, bytes]) -> XdmPackage:
    metadata_names = sorted(
        n
        for n in files
        if n.startswith("IHE_XDM/") and n.endswith("/METADATA.XML") and n.count("/") == 2
    )
    if not metadata_names:
        raise XdmError("IHE_XDM/<SUBSET>/METADATA.XML absent", code="metadata")
    sets: list[SubmissionSet] = []
    documents: list[XdmEntry] = []
    for metadata_name in metadata_names:
        folder = metadata_name.rsplit("/", 1)[0]
        try:
            submission = parse_submit_objects(files[metadata_name])
        except SegurError as exc:
            raise XdmError(f"{metadata_name} illisible: {exc}", code="metadata") from None
        if submission.submission_set is None:
            raise XdmError(f"{metadata_name}: pas de SubmissionSet", code="metadata")
        if not submission.documents:
            raise XdmError(f"{metadata_name}: aucun document", code="metadata")
        patient_id = submission.submission_set.patient_id
        if any(entry.patient_id != patient_id for entry in submission.documents):
            raise XdmError(
                f"{metadata_name}: patientId des documents ≠ patientId du lot", code="patient"
            )
        if sets and patient_id != sets[0].patient_id:
            raise XdmError("un paquet XDM ne concerne qu'un patient", code="patient")
        sets.append(submission.submission_set)
        for entry in submission.documents:
            documents.append(_checked_entry(files, folder, entry))
    readme = files.get("README.TXT", b"").decode("utf-8", errors="replace")
    return XdmPackage(submission_sets=tuple(sets), documents=tuple(documents), readme=readme)


def _checked_entry(files: dict[str, bytes], folder: str, entry: DocumentEntry) -> XdmEntry:
    uri = _uri(entry)
    if not uri:
        raise XdmError(f"document {entry.unique_id}: slot URI absent", code="metadata")
    _check_name(uri)
    content = files.get(f"{folder}/{uri}".upper())
    if content is None:
        raise XdmError(f"document {uri!r} listé dans METADATA.XML mais absent", code="metadata")
    if entry.size is None:  # hash and size are required in XDM (ITI TF-3 Table 4.3.1-3)
        raise XdmError(f"{uri}: taille absente de METADATA.XML", code="size")
    if entry.size != len(content):
        raise XdmError(f"{uri}: taille {len(content)} ≠ METADATA.XML ({entry.size})", code="size")
    digest = hashlib.sha1(content).hexdigest()
    if not entry.hash:
        raise XdmError(f"{uri}: hash absent de METADATA.XML", code="hash")
    if entry.hash.lower() != digest:
        raise XdmError(f"{uri}: SHA-1 {digest} ≠ METADATA.XML ({entry.hash})", code="hash")
    return XdmEntry(name=uri, content=content, entry=entry)
