"""Typed IHE XDS.b metadata (ITI TF-3 §4.2, DMP profile): document entries, submission sets,
folders, associations, and the errors raised on invalid metadata or registry failures.

Every object is a frozen dataclass; multi-valued attributes are tuples. Timestamps are kept as
the XDS ``DTM`` strings (``YYYY[MM[DD[hh[mm[ss]]]]]``, UTC) so that parsing then serialising is
lossless; :func:`xds_time` / :func:`parse_xds_time` convert from and to :class:`datetime`.
"""

from __future__ import annotations

import datetime as _dt
import re
from dataclasses import dataclass

from segur_ris.errors import XdsMetadataError, XdsRegistryError

__all__ = [
    "ASSOCIATION_HAS_MEMBER",
    "ASSOCIATION_RPLC",
    "ASSOCIATION_SIGNS",
    "ASSOCIATION_UPDATE_AVAILABILITY_STATUS",
    "DOCUMENT_ENTRY_ON_DEMAND",
    "DOCUMENT_ENTRY_STABLE",
    "STATUS_APPROVED",
    "STATUS_ARCHIVED",
    "STATUS_DELETED",
    "STATUS_DEPRECATED",
    "Association",
    "Author",
    "Code",
    "DocumentEntry",
    "Folder",
    "RegistryError",
    "Slot",
    "Submission",
    "SubmissionSet",
    "XdsMetadataError",
    "XdsRegistryError",
    "parse_xds_time",
    "registry_error",
    "xds_time",
]

# --- constants (IHE ITI TF-3 4.2.5, DMP status URNs) ---------------------------------------

STATUS_APPROVED = "urn:oasis:names:tc:ebxml-regrep:StatusType:Approved"
STATUS_DEPRECATED = "urn:oasis:names:tc:ebxml-regrep:StatusType:Deprecated"
#: DMP-specific availability statuses (TD3.3c delete, TD3.3d archive).
STATUS_DELETED = "urn:asip:ci-sis:2010:StatusType:Deleted"
STATUS_ARCHIVED = "urn:asip:ci-sis:2010:StatusType:Archived"

ASSOCIATION_HAS_MEMBER = "urn:oasis:names:tc:ebxml-regrep:AssociationType:HasMember"
ASSOCIATION_RPLC = "urn:ihe:iti:2007:AssociationType:RPLC"
ASSOCIATION_SIGNS = "urn:ihe:iti:2007:AssociationType:signs"
ASSOCIATION_UPDATE_AVAILABILITY_STATUS = "urn:ihe:iti:2010:AssociationType:UpdateAvailabilityStatus"

DOCUMENT_ENTRY_STABLE = "urn:uuid:7edca82f-054d-47f2-a032-9b2a5b5186c1"
DOCUMENT_ENTRY_ON_DEMAND = "urn:uuid:34268e47-fdf5-41a6-ba33-82133c465248"

_DTM = re.compile(r"^\d{4}(\d{2}){0,5}$")


# --- errors -----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class RegistryError:
    """One ``rs:RegistryError`` of a ``RegistryErrorList``."""

    error_code: str  #: e.g. ``XDSRegistryError``, ``XDSUnknownPatientId``
    code_context: str = ""
    severity: str = "urn:oasis:names:tc:ebxml-regrep:ErrorSeverityType:Error"
    location: str = ""
    value: str = ""

    @property
    def is_error(self) -> bool:
        """``True`` for severity Error (``False`` for a Warning)."""
        return not self.severity.endswith(":Warning")


def registry_error(errors: tuple[RegistryError, ...], *, status: str = "") -> XdsRegistryError:
    """The typed exception for a ``RegistryErrorList``: code, severity and location of the first
    error-severity entry (else the first entry)."""
    first = next((e for e in errors if e.is_error), errors[0])
    return XdsRegistryError(
        first.code_context or first.error_code,
        code=first.error_code,
        errors=errors,
        status=status,
        severity=first.severity,
        location=first.location,
    )


# --- value objects ----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Code:
    """A coded classification: ``nodeRepresentation`` + ``codingScheme`` slot + display name."""

    code: str
    scheme: str
    display: str = ""


@dataclass(frozen=True, slots=True)
class Slot:
    """An ebRIM slot kept as is (slots the model has no attribute for)."""

    name: str
    values: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Author:
    """An XDS author: person (XCN), institutions (XON), roles, specialties, telecoms (XTN)."""

    person: str = ""
    institutions: tuple[str, ...] = ()
    roles: tuple[str, ...] = ()
    specialties: tuple[str, ...] = ()
    telecoms: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class DocumentEntry:
    """An XDS DocumentEntry (``ExtrinsicObject``).

    ``entry_uuid`` is the ebRIM ``id``: a symbolic id (``Document01``) in a submission, the
    ``urn:uuid:`` entryUUID assigned by the registry in query results. ``logical_id``
    (``lid``) and ``version`` (``VersionInfo/@versionName``) identify the version chain used
    by ITI-57 metadata updates.
    """

    entry_uuid: str
    unique_id: str
    patient_id: str
    class_code: Code | None = None
    type_code: Code | None = None
    format_code: Code | None = None
    confidentiality_codes: tuple[Code, ...] = ()
    healthcare_facility_type_code: Code | None = None
    practice_setting_code: Code | None = None
    event_codes: tuple[Code, ...] = ()
    reference_ids: tuple[str, ...] = ()
    source_patient_id: str = ""
    source_patient_info: tuple[str, ...] = ()
    language_code: str = ""
    mime_type: str = "text/xml"
    creation_time: str = ""
    service_start_time: str = ""
    service_stop_time: str = ""
    hash: str = ""
    size: int | None = None
    title: str = ""
    comments: str = ""
    authors: tuple[Author, ...] = ()
    legal_authenticator: str = ""
    availability_status: str = ""
    repository_unique_id: str = ""
    logical_id: str = ""
    version: str = ""
    object_type: str = DOCUMENT_ENTRY_STABLE
    extra_slots: tuple[Slot, ...] = ()


@dataclass(frozen=True, slots=True)
class SubmissionSet:
    """An XDS SubmissionSet (``RegistryPackage`` classified as submission set)."""

    entry_uuid: str
    unique_id: str
    source_id: str
    patient_id: str
    submission_time: str
    content_type_code: Code | None = None
    authors: tuple[Author, ...] = ()
    intended_recipients: tuple[str, ...] = ()
    title: str = ""
    comments: str = ""
    availability_status: str = ""
    extra_slots: tuple[Slot, ...] = ()


@dataclass(frozen=True, slots=True)
class Folder:
    """An XDS Folder (``RegistryPackage`` classified as folder)."""

    entry_uuid: str
    unique_id: str
    patient_id: str
    codes: tuple[Code, ...] = ()
    last_update_time: str = ""
    title: str = ""
    comments: str = ""
    availability_status: str = ""
    extra_slots: tuple[Slot, ...] = ()


@dataclass(frozen=True, slots=True)
class Association:
    """An ebRIM Association (HasMember, RPLC, signs, UpdateAvailabilityStatus…).

    The IHE slots have attributes: ``SubmissionSetStatus`` (``Original``/``Reference``),
    ``PreviousVersion`` (ITI-57 metadata update), ``OriginalStatus``/``NewStatus``
    (UpdateAvailabilityStatus); other slots are kept in ``extra_slots``.
    """

    entry_uuid: str
    association_type: str
    source: str
    target: str
    submission_set_status: str = ""
    previous_version: str = ""
    original_status: str = ""
    new_status: str = ""
    availability_status: str = ""
    extra_slots: tuple[Slot, ...] = ()


@dataclass(frozen=True, slots=True)
class Submission:
    """The registry objects of one request or response (``RegistryObjectList``)."""

    submission_sets: tuple[SubmissionSet, ...] = ()
    documents: tuple[DocumentEntry, ...] = ()
    folders: tuple[Folder, ...] = ()
    associations: tuple[Association, ...] = ()

    @property
    def submission_set(self) -> SubmissionSet | None:
        """The (first) submission set; ``None`` when there is none."""
        return self.submission_sets[0] if self.submission_sets else None


# --- timestamps -------------------------------------------------------------------------------


def xds_time(value: _dt.datetime) -> str:
    """An XDS ``DTM`` in UTC (``YYYYMMDDhhmmss``); a naive datetime is taken as UTC."""
    if value.tzinfo is not None:
        value = value.astimezone(_dt.UTC)
    return value.strftime("%Y%m%d%H%M%S")


def parse_xds_time(value: str) -> _dt.datetime:
    """An XDS ``DTM`` (4 to 14 digits, UTC) → aware datetime (missing parts = start)."""
    text = value.strip()
    if not _DTM.match(text):
        raise XdsMetadataError(f"horodatage XDS {value!r} invalide", field="DTM", value=value)
    parts = [int(text[0:4])] + [int(text[i : i + 2]) for i in range(4, len(text), 2)]
    defaults = [0, 1, 1, 0, 0, 0]
    year, month, day, hour, minute, second = parts + defaults[len(parts) :]
    try:
        return _dt.datetime(year, month, day, hour, minute, second, tzinfo=_dt.UTC)
    except ValueError:
        raise XdsMetadataError(
            f"horodatage XDS {value!r} invalide", field="DTM", value=value
        ) from None
