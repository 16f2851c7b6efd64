"""Imaging orders (ORM^O01, OMI^O23) → DICOM Modality Worklist items (pure, no I/O).

One :class:`WorklistItem` per ORC/OBR group: the type-1 keys DCMTK's ``wlmscpfs`` requires
(one Scheduled Procedure Step item with station AE title, start date/time, modality, SPS ID and
description/protocol code; requested procedure ID and description/code; Study Instance UID;
patient name and ID) and the type-2 keys a French RIS fills.

**Patient identification (choice made here, no national rule exists for the MWL).**
``PatientID`` is the IPP (PID-3 type ``PI``) with ``IssuerOfPatientID`` = its assigning
authority; when the sender declares the identity *qualifiée* (PID-32 ``VALI`` + INS), the INS
goes in ``OtherPatientIDsSequence`` as ``PatientID`` = matricule, ``IssuerOfPatientID`` =
``ASIP-SANTE-INS-NIR`` (or ``-NIA``), ``IssuerOfPatientIDQualifiersSequence`` =
``UniversalEntityID`` INS OID + ``UniversalEntityIDType`` ``ISO``, ``TypeOfPatientID`` ``TEXT``.
Without an IPP, ``PatientID`` is the qualified INS itself (the DRIMbox KOS form).
:func:`ins_patient_identification` and :func:`ins_of_dataset` give that form to other
modules (KOS) so the INS is written and read one way.

**Study Instance UID and accession number** are those of the order (IPC-3 / IPC-1, OBR-18);
when the order has no study UID one is derived from the accession number with
:func:`study_instance_uid_for`, so the MWL, the CDA, the KOS and the XDS metadata agree.
"""

from __future__ import annotations

import datetime as _dt
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from enum import StrEnum
from typing import TYPE_CHECKING

from segur_ris.errors import Hl7Error, InvalidMatriculeError, WorklistError
from segur_ris.hl7v2 import (
    CWE,
    XCN,
    OrderGroup,
    OrderMessage,
    PidView,
    Timestamp,
    read_message,
)
from segur_ris.ins import Ins, InsKind

if TYPE_CHECKING:
    from pydicom import Dataset

__all__ = [
    "CANCEL_CONTROLS",
    "INS_ISSUER_NIA",
    "INS_ISSUER_NIR",
    "UPSERT_CONTROLS",
    "CodedEntry",
    "WorklistAction",
    "WorklistChange",
    "WorklistItem",
    "WorklistSettings",
    "ins_issuer",
    "ins_of_dataset",
    "ins_patient_identification",
    "item_from_order",
    "study_instance_uid_for",
    "worklist_changes",
]

#: ``IssuerOfPatientID`` of an INS-NIR / INS-NIA (the HL7 PID-3 namespaces, ANS DRIMbox KOS).
INS_ISSUER_NIR = "ASIP-SANTE-INS-NIR"
INS_ISSUER_NIA = "ASIP-SANTE-INS-NIA"

#: ORC-1 codes that create or replace a worklist item (new, changed, status/complement).
UPSERT_CONTROLS = frozenset({"NW", "XO", "SC", "SR", "RP", "RU"})
#: ORC-1 codes that remove the item (cancel, discontinue, cancelled as requested).
CANCEL_CONTROLS = frozenset({"CA", "DC", "OC", "CR", "OD", "DR"})

_UID = re.compile(r"^(0|[1-9][0-9]*)(\.(0|[1-9][0-9]*))+$")
_AE = re.compile(r"^[ -\[\]-~]{1,16}$")  # printable ASCII but backslash
_CS = re.compile(r"^[A-Z0-9_ ]{1,16}$")
_CHARSETS = {"ISO_IR 192": "utf-8", "ISO_IR 100": "latin-1"}
_LATIN1_FALLBACK = str.maketrans({"œ": "oe", "Œ": "OE", "’": "'", "€": "EUR"})
_PRIORITIES = {"S": "STAT", "A": "HIGH", "R": "ROUTINE", "P": "MEDIUM", "C": "HIGH", "T": "MEDIUM"}
_SEXES = {"M": "M", "F": "F", "O": "O", "U": "O", "A": "O"}
# HL7 coding systems → DICOM coding scheme designators (PS3.16 §8).
_SCHEMES = {"LN": "LN", "SCT": "SCT", "DCM": "DCM", "2.16.840.1.113883.6.1": "LN"}
_TLR_PROCEDURE = "TLR_OBR_PROCEDURE"


def study_instance_uid_for(accession: str, root_oid: str) -> str:
    """The Study Instance UID of an exam that has none yet, derived from its accession number.

    Deterministic (same ``accession`` and ``root_oid`` → same UID, on every machine): the RIS
    puts it in the MWL and later in the CDA, the KOS and the XDS ``referenceIdList``, which must
    all carry the same value. ``root_oid`` is the organisation's own OID root (the UID is
    ``<root>.<digits>``, at most 64 characters; pydicom's ``generate_uid`` hashes the inputs).
    """
    from pydicom.uid import generate_uid

    accession = accession.strip()
    root = root_oid.strip().rstrip(".")
    if not accession:
        raise WorklistError("numéro d'accession vide: pas d'UID d'étude dérivable")
    if not _UID.match(root) or len(root) > 40:
        raise WorklistError(f"racine d'OID invalide pour un UID d'étude: {root_oid!r}")
    return str(generate_uid(prefix=f"{root}.", entropy_srcs=["segur_ris/study", accession]))


def ins_issuer(ins: Ins) -> str:
    """``IssuerOfPatientID`` of ``ins``: ``ASIP-SANTE-INS-NIR`` or ``ASIP-SANTE-INS-NIA``."""
    return INS_ISSUER_NIA if ins.kind is InsKind.NIA else INS_ISSUER_NIR


def ins_patient_identification(ins: Ins) -> Dataset:
    """``PatientID`` = INS, ``IssuerOfPatientID`` and its qualifiers (INS OID, ``ISO``).

    The dataset is merged as-is into a KOS/MWL (top level) or used as an item of
    ``OtherPatientIDsSequence`` (then add ``TypeOfPatientID`` ``TEXT``).
    """
    from pydicom import Dataset

    ds = Dataset()
    ds.PatientID = ins.value
    ds.IssuerOfPatientID = ins_issuer(ins)
    qualifier = Dataset()
    qualifier.UniversalEntityID = ins.oid
    qualifier.UniversalEntityIDType = "ISO"
    ds.IssuerOfPatientIDQualifiersSequence = [qualifier]
    return ds


def _ins_of(ds: Dataset) -> Ins | None:
    issuer = str(ds.get("IssuerOfPatientID", "") or "")
    if issuer not in (INS_ISSUER_NIR, INS_ISSUER_NIA):
        return None
    qualifiers = ds.get("IssuerOfPatientIDQualifiersSequence") or []
    oid = str(qualifiers[0].get("UniversalEntityID", "") or "") if qualifiers else ""
    try:
        return Ins.parse(str(ds.get("PatientID", "") or ""), oid)
    except InvalidMatriculeError:
        return None


def ins_of_dataset(ds: Dataset) -> Ins | None:
    """The INS a dataset carries (``PatientID`` when issued by an INS authority, else an item of
    ``OtherPatientIDsSequence``), or ``None``; an invalid matricule or OID counts as none."""
    found = _ins_of(ds)
    if found is not None:
        return found
    for item in ds.get("OtherPatientIDsSequence") or []:
        found = _ins_of(item)
        if found is not None:
            return found
    return None


@dataclass(frozen=True, slots=True)
class CodedEntry:
    """A DICOM code sequence item: ``CodeValue``, ``CodingSchemeDesignator``, ``CodeMeaning``."""

    value: str
    scheme: str
    meaning: str = ""

    def dataset(self) -> Dataset:
        from pydicom import Dataset

        ds = Dataset()
        ds.CodeValue = self.value
        ds.CodingSchemeDesignator = self.scheme
        ds.CodeMeaning = self.meaning[:64]
        return ds


def _check_sh(value: str, name: str, *, required: bool = True) -> None:
    if required and not value.strip():
        raise WorklistError(f"{name}: valeur obligatoire absente")
    if len(value) > 16 or "\\" in value or any(ord(c) < 32 for c in value):
        raise WorklistError(f"{name} {value!r}: 16 caractères au plus, sans \\ ni contrôle")


@dataclass(frozen=True, slots=True)
class WorklistItem:
    """One Modality Worklist item: a requested procedure with its single scheduled step.

    Text values are Python strings (``patient_name`` and physicians in DICOM PN form
    ``Famille^Prénom``); :meth:`dataset` encodes them with ``character_set`` (``ISO_IR 192``
    UTF-8, the default, or ``ISO_IR 100`` Latin-1 for older modalities).
    """

    accession_number: str
    study_instance_uid: str
    requested_procedure_id: str
    sps_id: str
    modality: str
    station_ae_title: str
    start: _dt.datetime
    patient_name: str
    patient_id: str
    issuer_of_patient_id: str = ""
    patient_id_qualifier: str = ""
    ins: Ins | None = None
    birth_date: _dt.date | None = None
    sex: str = ""
    accession_issuer_oid: str = ""
    requested_procedure_description: str = ""
    procedure_code: CodedEntry | None = None
    sps_description: str = ""
    referring_physician: str = ""
    requesting_physician: str = ""
    priority: str = ""
    admission_id: str = ""
    current_location: str = ""
    placer_order_number: str = ""
    filler_order_number: str = ""
    weight_kg: Decimal | None = None
    size_m: Decimal | None = None
    pregnancy_status: int | None = None
    patient_history: str = ""
    station_name: str = ""
    location: str = ""
    status: str = "SCHEDULED"
    character_set: str = "ISO_IR 192"

    def __post_init__(self) -> None:
        for name in ("accession_number", "requested_procedure_id", "sps_id"):
            _check_sh(getattr(self, name), name)
        if not _UID.match(self.study_instance_uid) or len(self.study_instance_uid) > 64:
            raise WorklistError(f"StudyInstanceUID invalide: {self.study_instance_uid!r}")
        if not _CS.match(self.modality):
            raise WorklistError(f"modalité DICOM invalide: {self.modality!r}")
        if not _AE.match(self.station_ae_title) or not self.station_ae_title.strip():
            raise WorklistError(f"AE title de station invalide: {self.station_ae_title!r}")
        if not self.patient_name.strip("^ "):
            raise WorklistError("nom du patient absent")
        if not self.patient_id.strip() or len(self.patient_id) > 64:
            raise WorklistError(f"identifiant patient invalide: {self.patient_id!r}")
        if not (self.requested_procedure_description or self.procedure_code):
            raise WorklistError("description ou code de la procédure demandée requis")
        if self.character_set not in _CHARSETS:
            raise WorklistError(
                f"jeu de caractères {self.character_set!r}: ISO_IR 192 ou ISO_IR 100 attendu"
            )
        if self.sex not in ("", "M", "F", "O"):
            raise WorklistError(f"sexe DICOM {self.sex!r}: M, F ou O attendu")
        if self.pregnancy_status not in (None, 1, 2, 3, 4):
            raise WorklistError(f"statut de grossesse {self.pregnancy_status!r}: 1 à 4")
        if not isinstance(self.start, _dt.datetime):
            raise WorklistError("start: datetime attendu")
        codec = _CHARSETS[self.character_set]
        for name in ("patient_name", "referring_physician", "requesting_physician"):
            groups = str(getattr(self, name)).split("=")
            if len(groups) > 3 or any(len(group) > 64 for group in groups):
                raise WorklistError(f"{name}: PN DICOM, 3 groupes de 64 caractères au plus")
            if any(c == "\\" or ord(c) < 32 for c in str(getattr(self, name))):
                raise WorklistError(f"{name}: ni \\ ni caractère de contrôle dans un PN")
        for name in (
            "patient_name",
            "referring_physician",
            "requesting_physician",
            "requested_procedure_description",
            "sps_description",
            "patient_history",
            "current_location",
        ):
            try:
                str(getattr(self, name)).encode(codec)
            except UnicodeEncodeError:
                raise WorklistError(
                    f"{name}: caractère non représentable en {self.character_set}"
                ) from None

    @property
    def key(self) -> tuple[str, str]:
        """The store key: accession number and scheduled procedure step ID."""
        return (self.accession_number, self.sps_id)

    def dataset(self) -> Dataset:
        """The worklist item as a pydicom :class:`~pydicom.dataset.Dataset`."""
        from pydicom import Dataset

        ds = Dataset()
        ds.SpecificCharacterSet = self.character_set
        ds.AccessionNumber = self.accession_number
        if self.accession_issuer_oid:
            issuer = Dataset()
            issuer.UniversalEntityID = self.accession_issuer_oid
            issuer.UniversalEntityIDType = "ISO"
            ds.IssuerOfAccessionNumberSequence = [issuer]
        else:
            ds.IssuerOfAccessionNumberSequence = []
        ds.ReferringPhysicianName = self.referring_physician
        ds.PatientName = self.patient_name
        ds.PatientID = self.patient_id
        ds.IssuerOfPatientID = self.issuer_of_patient_id
        if self.patient_id_qualifier:
            qualifier = Dataset()
            qualifier.UniversalEntityID = self.patient_id_qualifier
            qualifier.UniversalEntityIDType = "ISO"
            ds.IssuerOfPatientIDQualifiersSequence = [qualifier]
        ds.PatientBirthDate = self.birth_date.strftime("%Y%m%d") if self.birth_date else ""
        ds.PatientSex = self.sex
        if self.ins is not None and self.ins.value != self.patient_id:
            other = ins_patient_identification(self.ins)
            other.TypeOfPatientID = "TEXT"
            ds.OtherPatientIDsSequence = [other]
        if self.size_m is not None:
            ds.PatientSize = str(self.size_m)
        if self.weight_kg is not None:
            ds.PatientWeight = str(self.weight_kg)
        if self.patient_history:
            ds.AdditionalPatientHistory = self.patient_history
        if self.pregnancy_status is not None:
            ds.PregnancyStatus = self.pregnancy_status
        ds.StudyInstanceUID = self.study_instance_uid
        ds.RequestingPhysician = self.requesting_physician
        ds.RequestedProcedureDescription = self.requested_procedure_description[:64]
        if self.procedure_code is not None:
            ds.RequestedProcedureCodeSequence = [self.procedure_code.dataset()]
        ds.AdmissionID = self.admission_id[:64]
        ds.CurrentPatientLocation = self.current_location[:64]
        sps = Dataset()
        sps.ScheduledStationAETitle = self.station_ae_title
        sps.ScheduledProcedureStepStartDate = self.start.strftime("%Y%m%d")
        sps.ScheduledProcedureStepStartTime = self.start.strftime("%H%M%S")
        sps.Modality = self.modality
        sps.ScheduledPerformingPhysicianName = ""
        sps.ScheduledProcedureStepDescription = (
            self.sps_description or self.requested_procedure_description
        )[:64]
        if self.procedure_code is not None:
            sps.ScheduledProtocolCodeSequence = [self.procedure_code.dataset()]
        sps.ScheduledStationName = self.station_name[:16]
        sps.ScheduledProcedureStepLocation = self.location[:16]
        sps.ScheduledProcedureStepID = self.sps_id
        sps.ScheduledProcedureStepStatus = self.status
        ds.ScheduledProcedureStepSequence = [sps]
        ds.RequestedProcedureID = self.requested_procedure_id
        ds.RequestedProcedurePriority = self.priority
        ds.PlacerOrderNumberImagingServiceRequest = self.placer_order_number[:64]
        ds.FillerOrderNumberImagingServiceRequest = self.filler_order_number[:64]
        return ds


@dataclass(frozen=True, slots=True)
class WorklistSettings:
    """How orders become items: the RIS's choices, not the order's content.

    ``uid_root``: OID root for :func:`study_instance_uid_for` when the order has no study UID;
    ``accession_issuer_oid``: issuer of accession numbers when the order does not carry one
    (IPC-1.3); ``station_ae_titles``: modality → scheduled station AE title, else
    ``default_station_ae_title``, else the modality code itself; ``default_modality``: used when
    the order names none (else the order is refused); ``character_set``: ``ISO_IR 192`` or
    ``ISO_IR 100`` (then ``œ``/``€``… are transliterated, other characters refused).
    """

    uid_root: str = ""
    accession_issuer_oid: str = ""
    station_ae_titles: Mapping[str, str] = field(default_factory=dict)
    default_station_ae_title: str = ""
    default_modality: str = ""
    character_set: str = "ISO_IR 192"


class WorklistAction(StrEnum):
    """What an order does to the worklist."""

    UPSERT = "upsert"
    CANCEL = "cancel"


@dataclass(frozen=True, slots=True)
class WorklistChange:
    """One order group as a worklist change: an item to insert/replace, or a cancellation.

    A cancellation names the accession number when the order carries one, else only the placer
    order number (ORM^O01 ``CA`` of the teleradiology volet), which the store also indexes.
    """

    action: WorklistAction
    order_control: str
    placer_order_number: str
    accession_number: str = ""
    item: WorklistItem | None = None


def _pn(family: str, given: str) -> str:
    return f"{family}^{given}" if given else family


def _xcn_pn(xcn: XCN | None) -> str:
    return _pn(xcn.family, xcn.given) if xcn is not None else ""


def _naive(ts: Timestamp) -> _dt.datetime:
    return ts.value.replace(tzinfo=None, microsecond=0)


def _start(message: OrderMessage, group: OrderGroup) -> _dt.datetime:
    """TQ1-7, ORC-7.4 / OBR-27.4 (TQ), OBR-7, OBR-6, ORC-9, then MSH-7."""
    candidates: list[str] = [t.get(7) for t in group.timing if t.segment.name == "TQ1"]
    if group.orc is not None:
        candidates.append(group.orc.get(7, 4))
    if group.obr is not None:
        candidates += [group.obr.get(27, 4), group.obr.get(7), group.obr.get(6)]
    if group.orc is not None:
        candidates.append(group.orc.get(9))
    candidates.append(message.msh.get(7))
    for text in candidates:
        try:
            ts = Timestamp.parse_text(text)
        except Hl7Error as exc:
            raise WorklistError(f"date de l'examen invalide: {exc.message}") from None
        if ts is not None:
            return _naive(ts)
    raise WorklistError("aucune date d'examen (TQ1-7, OBR-27, OBR-7, ORC-9, MSH-7)")


def _priority(group: OrderGroup) -> str:
    codes = [t.get(9) for t in group.timing if t.segment.name == "TQ1"]
    if group.obr is not None:
        codes.append(group.obr.get(27, 6))
    if group.orc is not None:
        codes.append(group.orc.get(7, 6))
    return next((_PRIORITIES[c] for c in codes if c in _PRIORITIES), "")


def _procedure(group: OrderGroup, modality: CWE | None) -> tuple[str, CodedEntry | None]:
    code = group.procedure_code
    if code is not None and code.identifier and code.coding_system != _TLR_PROCEDURE:
        scheme = _SCHEMES.get(code.coding_system, code.coding_system or "99LOCAL")
        entry = CodedEntry(code.identifier[:16], scheme[:16], code.text or code.identifier)
        return code.text or code.identifier, entry
    # teleradiology flux 1: OBR-4 is the message's purpose; describe modality + regions
    words = [modality.text or modality.identifier] if modality is not None else []
    regions = [
        o.value.text or o.value.identifier
        for o in group.observations
        if o.code == "REGION_ANATOMIQUE" and isinstance(o.value, CWE)
    ]
    description = " ".join(words)
    if regions:
        description = f"{description} - {', '.join(regions)}" if description else ", ".join(regions)
    if not description and code is not None:
        description = code.text or code.identifier
    return description, None


def _decimal(text: str) -> Decimal | None:
    try:
        value = Decimal(text.strip())
    except (InvalidOperation, ValueError):
        return None
    return value if value.is_finite() and value > 0 else None


def _observations(group: OrderGroup) -> dict[str, object]:
    found: dict[str, object] = {}
    for obx in group.observations:
        text = obx.get(5)
        if obx.code == "29463-7":
            weight = _decimal(text)
            if weight is not None:
                found["weight_kg"] = weight * Decimal("0.001") if obx.get(6) == "g" else weight
        elif obx.code == "8302-2":
            size = _decimal(text)
            if size is not None:
                found["size_m"] = size / 100 if obx.get(6) in ("cm", "") else size
        elif obx.code == "82810-3":
            found["pregnancy_status"] = {"N": 1, "Y": 3}.get(obx.get(5, 1), 4)
        elif obx.code == "11322-5" and text:
            found["patient_history"] = text
    return found


def _text(value: str, charset: str) -> str:
    if charset == "ISO_IR 100":
        return value.translate(_LATIN1_FALLBACK)
    return value


def item_from_order(
    message: OrderMessage, group: OrderGroup, settings: WorklistSettings
) -> WorklistItem:
    """The worklist item of one order group (an ``NW``/``XO``/``SC``/``SR`` order).

    Raises :class:`WorklistError` when a type-1 key cannot be filled (no accession number,
    modality, patient identifier, procedure description…).
    """
    pid = message.first(PidView)
    if pid is None:
        raise WorklistError("ordre sans segment PID")
    charset = settings.character_set
    identity = message.patient
    ins = identity.ins if identity is not None and identity.is_qualified else None
    ipp = pid.ipp
    if ipp is not None:
        patient_id, issuer = ipp.id, ipp.authority_name or ipp.authority.universal_id
        qualifier = ipp.authority_oid if ipp.authority.universal_id_type == "ISO" else ""
    elif ins is not None:
        patient_id, issuer, qualifier = ins.value, ins_issuer(ins), ins.oid
    else:
        raise WorklistError("ni IPP (PID-3 type PI) ni INS qualifié: PatientID impossible")
    name = pid.birth_name or pid.used_name or (pid.names[0] if pid.names else None)
    if name is None or not name.family:
        raise WorklistError("PID-5: nom du patient absent")
    birth = pid.get(7).strip()[:8]
    try:
        birth_date = _dt.datetime.strptime(birth, "%Y%m%d").date() if len(birth) == 8 else None
    except ValueError:
        raise WorklistError(f"PID-7 date de naissance invalide: {birth!r}") from None

    accession_ei = next((i.accession_number for i in group.imaging if i.accession_number), None)
    accession = group.accession_number or group.filler_order_number or group.placer_order_number
    accession_oid = (
        accession_ei.universal_id if accession_ei is not None and accession_ei.universal_id else ""
    ) or settings.accession_issuer_oid
    modality_cwe = group.modality
    modality = (modality_cwe.identifier if modality_cwe else "") or settings.default_modality
    if not modality:
        raise WorklistError(f"ordre {group.placer_order_number!r}: modalité absente")
    modality = modality.upper()
    study_uid = group.study_instance_uid
    if not study_uid:
        if not settings.uid_root:
            raise WorklistError(
                "ordre sans Study Instance UID et pas de racine d'OID (WorklistSettings.uid_root)"
            )
        study_uid = study_instance_uid_for(accession, settings.uid_root)
    requested_id = next(
        (i.requested_procedure_id.entity_id for i in group.imaging if i.requested_procedure_id),
        "",
    ) or (group.obr.requested_procedure_id if group.obr is not None else "")
    sps_id = next(
        (
            i.scheduled_procedure_step_id.entity_id
            for i in group.imaging
            if i.scheduled_procedure_step_id
        ),
        "",
    ) or (group.obr.scheduled_procedure_step_id if group.obr is not None else "")
    description, code = _procedure(group, modality_cwe)
    station = (
        settings.station_ae_titles.get(modality) or settings.default_station_ae_title or modality
    )
    requester = group.obr.ordering_provider if group.obr is not None else None
    prescriber = group.orc.ordering_provider if group.orc is not None else None
    pv1 = message.pv1
    visit = pv1.visit_number if pv1 is not None else None
    nda = pid.nda
    location = pv1.location if pv1 is not None else None
    return WorklistItem(
        accession_number=accession,
        study_instance_uid=study_uid,
        requested_procedure_id=requested_id or accession,
        sps_id=sps_id or accession,
        modality=modality,
        station_ae_title=station,
        start=_start(message, group),
        patient_name=_text(_pn(name.family, name.given), charset),
        patient_id=patient_id,
        issuer_of_patient_id=issuer[:64],
        patient_id_qualifier=qualifier,
        ins=ins,
        birth_date=birth_date,
        sex=_SEXES.get(pid.sex.upper(), ""),
        accession_issuer_oid=accession_oid,
        requested_procedure_description=_text(description, charset),
        procedure_code=code,
        referring_physician=_text(_xcn_pn(prescriber or requester), charset),
        requesting_physician=_text(_xcn_pn(requester or prescriber), charset),
        priority=_priority(group),
        admission_id=(visit.id if visit is not None and visit.id else (nda.id if nda else "")),
        current_location=_text(str(location) if location is not None else "", charset),
        placer_order_number=group.placer_order_number,
        filler_order_number=group.filler_order_number,
        character_set=charset,
        **_observations(group),  # type: ignore[arg-type]
    )


def worklist_changes(
    message: OrderMessage | bytes | str, settings: WorklistSettings
) -> list[WorklistChange]:
    """The worklist changes an ORM^O01 / OMI^O23 (/ OMG^O19) message asks for, one per order.

    ``NW``/``XO``/``SC``/``SR``… give an upsert (the item replaces the one with the same
    accession number and SPS ID), ``CA``/``DC``/``OC``… a cancellation. Raises
    :class:`WorklistError` (a typed :class:`~segur_ris.errors.SegurError`) for a message that is
    not an order, an unknown ORC-1 code or an item that cannot be built; nothing is partially
    returned.
    """
    if isinstance(message, bytes | str):
        try:
            view = read_message(message)
        except Hl7Error as exc:
            raise WorklistError(f"message HL7 illisible: {exc}") from None
    else:
        view = message
    if not isinstance(view, OrderMessage):
        raise WorklistError(
            f"{getattr(view, 'message_type', '?')}: ORM^O01 ou OMI^O23 attendu", code="AR"
        )
    if not view.orders:
        raise WorklistError("message d'ordre sans ORC/OBR")
    changes: list[WorklistChange] = []
    for group in view.orders:
        control = group.order_control.upper()
        try:
            if control in UPSERT_CONTROLS or (not control and group.obr is not None):
                item = item_from_order(view, group, settings)
                changes.append(
                    WorklistChange(
                        WorklistAction.UPSERT,
                        control or "NW",
                        group.placer_order_number,
                        item.accession_number,
                        item,
                    )
                )
            elif control in CANCEL_CONTROLS:
                changes.append(
                    WorklistChange(
                        WorklistAction.CANCEL,
                        control,
                        group.placer_order_number,
                        group.accession_number,
                    )
                )
            else:
                raise WorklistError(f"ORC-1 {control!r} non géré pour la worklist", code="ORC-1")
        except Hl7Error as exc:
            raise WorklistError(f"ordre illisible: {exc}") from None
    if any(c.action is WorklistAction.CANCEL and not (c.accession_number or c.placer_order_number)
           for c in changes):  # fmt: skip
        raise WorklistError("annulation sans numéro d'accession ni numéro d'ordre")
    return changes
