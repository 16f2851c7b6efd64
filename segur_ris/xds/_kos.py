"""The XDS-I.b DocumentEntry of a DICOM KOS manifest (DRIMbox, Ségur vague 2).

Values follow the ANS DRIMbox validator sample (``DRIM-M_DATA``, ``Validateur XDS/XDS.xml``):
``mimeType`` ``application/dicom``, classCode ``31`` (Imagerie médicale), typeCode ``IMG-KOS``,
formatCode ``1.2.840.10008.5.1.4.1.1.88.59``, uniqueId = the KOS SOP Instance UID, eventCodeList
= modalities and anatomical regions, referenceIdList = accession, study instance UID and order.
Codes are checked against the shipped JDV like :func:`~segur_ris.xds.document_entry_from_cda`,
with the same rules for the environment's INS OID, and the referenceIdList entries are written
exactly as for the CR so that the DMP finds both by the same identifiers.

A KOS carries no author, facility or practice setting: give them, or give the DocumentEntry of
the exam's compte rendu (``report_entry``) to take them from it (its patient and identifiers
must then match the KOS).
"""

from __future__ import annotations

import datetime as _dt
import hashlib
from collections.abc import Sequence
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

from segur_ris.config import InsOids
from segur_ris.report import OID_DICOM_MODALITY, OID_SNOMED_CT
from segur_ris.xds._cda import (
    REFERENCE_ACCESSION,
    REFERENCE_ORDER,
    REFERENCE_STUDY_INSTANCE_UID,
    _escape,
    confidentiality_codes,
    reference_id,
    required_code,
    xds_patient_id,
)
from segur_ris.xds._model import Author, Code, DocumentEntry, XdsMetadataError, xds_time
from segur_ris.xds._valuesets import (
    J02_FACILITY_TYPE,
    J04_PRACTICE_SETTING,
    J07_TYPE_CODE,
    J57_CLASS_CODE,
    J60_FORMAT_CODE,
    MODALITY,
)

if TYPE_CHECKING:
    from segur_ris.dicom._kos import KosManifest

__all__ = [
    "FORMAT_KOS",
    "KOS_CLASS_CODE",
    "KOS_MIME_TYPE",
    "KOS_TITLE",
    "KOS_TYPE_CODE",
    "document_entry_from_kos",
]

KOS_MIME_TYPE = "application/dicom"
FORMAT_KOS = "1.2.840.10008.5.1.4.1.1.88.59"
KOS_TYPE_CODE = "IMG-KOS"
KOS_CLASS_CODE = "31"
#: DocumentEntry title of the ANS sample.
KOS_TITLE = "Reference d'Objets d'un Examen d'Imagerie"
_PARIS = ZoneInfo("Europe/Paris")
#: SNOMED CT, and the CI-SIS region system of the ANS DRIMbox sample.
_REGION_SCHEMES = frozenset({OID_SNOMED_CT, "1.2.250.1.213.2.5"})


def _dicom_time(date: str, time: str) -> str:
    """A DICOM DA + TM (local time, Europe/Paris) as an XDS DTM in UTC."""
    if not date:
        return ""
    digits = "".join(ch for ch in time.split(".")[0] if ch.isdigit())
    if not digits:
        return date
    digits = (digits + "0000")[:6]
    try:
        local = _dt.datetime.strptime(date + digits, "%Y%m%d%H%M%S").replace(tzinfo=_PARIS)
    except ValueError:
        raise XdsMetadataError(
            f"date/heure DICOM invalide {date!r} {time!r}", field="serviceStartTime", value=date
        ) from None
    return xds_time(local)


def _patient_id(manifest: KosManifest, environment_ins_oid: str | InsOids | None) -> str:
    study = manifest.study
    return xds_patient_id(
        study.ins,
        study.ins_oid,
        environment_ins_oid,
        source="KOS",
        where="PatientID + IssuerOfPatientIDQualifiersSequence",
    )


def _reference_ids(manifest: KosManifest) -> tuple[str, ...]:
    study = manifest.study
    if not study.accession_number or not study.accession_issuer:
        raise XdsMetadataError(
            "referenceIdList: numéro d'accession et son émetteur (OID) requis",
            field="referenceIdList",
        )
    if not study.study_instance_uid:
        raise XdsMetadataError("referenceIdList: StudyInstanceUID absent", field="referenceIdList")
    ids = [
        reference_id(study.accession_number, study.accession_issuer, REFERENCE_ACCESSION),
        reference_id(study.study_instance_uid, "", REFERENCE_STUDY_INSTANCE_UID),
    ]
    if study.placer_order_number and study.placer_order_issuer:
        ids.append(
            reference_id(study.placer_order_number, study.placer_order_issuer, REFERENCE_ORDER)
        )
    return tuple(ids)


def _source_patient_info(manifest: KosManifest) -> tuple[str, ...]:
    study = manifest.study
    family, _, rest = study.patient_name.partition("^")
    given = rest.split("^")[0]
    info = []
    if family:
        info.append(f"PID-5|{_escape(family)}^{_escape(given)}^^^^^L")
    if study.birth_date:
        info.append(f"PID-7|{study.birth_date}")
    if study.sex:
        info.append(f"PID-8|{study.sex}")
    return tuple(info)


def _check_report(entry: DocumentEntry, patient_id: str, reference_ids: Sequence[str]) -> None:
    """The CR and the KOS must name the same patient and the same exam."""
    if entry.patient_id.split("^")[0] != patient_id.split("^")[0]:
        raise XdsMetadataError(
            "patientId: le compte rendu et le KOS ne concernent pas le même patient",
            field="patientId",
            value=entry.patient_id,
        )
    ours = {ref.rsplit("^", 1)[-1]: ref for ref in reference_ids}
    for ref in entry.reference_ids:
        kind = ref.rsplit("^", 1)[-1]
        if kind in ours and kind != REFERENCE_ORDER and ours[kind] != ref:
            raise XdsMetadataError(
                f"referenceIdList: {ref!r} du compte rendu ≠ {ours[kind]!r} du KOS",
                field="referenceIdList",
                value=ref,
            )


def document_entry_from_kos(
    kos: bytes | KosManifest,
    *,
    environment_ins_oid: str | InsOids | None,
    report_entry: DocumentEntry | None = None,
    authors: Sequence[Author] = (),
    facility_type: Code | None = None,
    practice_setting: Code | None = None,
    anatomical_regions: Sequence[Code] = (),
    modalities: Sequence[str] = (),
    legal_authenticator: str | None = None,
    repository_unique_id: str = "",
    entry_uuid: str = "Document01",
    masque_ps: bool = False,
    invisible_patient: bool = False,
    invisible_representants_legaux: bool = False,
    title: str = KOS_TITLE,
    comments: str = "",
    availability_status: str = "",
) -> DocumentEntry:
    """The XDS-I.b DocumentEntry of a KOS (TD2.1 submission to the DMP).

    ``kos`` is the exact KOS bytes (hash and size are taken from them) or a
    :class:`~segur_ris.dicom.KosManifest`. ``environment_ins_oid`` as for
    :func:`~segur_ris.xds.document_entry_from_cda`. ``report_entry`` (the CR's DocumentEntry)
    supplies the authors, facility type, practice setting, legal authenticator, anatomical
    regions and service times not given explicitly; ``modalities`` replace those of the KOS
    series. Raises :class:`~segur_ris.errors.XdsMetadataError` (missing value, value outside
    its JDV, CR and KOS of different patients or exams) or
    :class:`~segur_ris.errors.KosError` (unreadable KOS).
    """
    from segur_ris.dicom._kos import KosManifest, read_kos

    data = bytes(kos) if isinstance(kos, bytes | bytearray) else None
    manifest = read_kos(data) if data is not None else kos
    if not isinstance(manifest, KosManifest):
        raise TypeError(f"bytes ou KosManifest attendu, pas {type(kos).__name__}")
    study = manifest.study

    class_code = J57_CLASS_CODE.require(KOS_CLASS_CODE, field="classCode")
    type_code = J07_TYPE_CODE.require(KOS_TYPE_CODE, field="typeCode")
    format_code = J60_FORMAT_CODE.require(FORMAT_KOS, field="formatCode")
    confidentiality = confidentiality_codes(
        "N",
        masque_ps=masque_ps,
        invisible_patient=invisible_patient,
        invisible_representants_legaux=invisible_representants_legaux,
    )

    patient_id = _patient_id(manifest, environment_ins_oid)
    reference_ids = _reference_ids(manifest)
    if report_entry is not None:
        _check_report(report_entry, patient_id, reference_ids)

    facility = required_code(
        J02_FACILITY_TYPE,
        facility_type or (report_entry.healthcare_facility_type_code if report_entry else None),
        field="healthcareFacilityTypeCode",
        missing="healthcareFacilityTypeCode absent (paramètre ou compte rendu)",
    )
    setting = required_code(
        J04_PRACTICE_SETTING,
        practice_setting or (report_entry.practice_setting_code if report_entry else None),
        field="practiceSettingCode",
        missing="practiceSettingCode absent (paramètre ou compte rendu)",
    )
    entry_authors = tuple(authors) or (report_entry.authors if report_entry else ())
    if not entry_authors:
        raise XdsMetadataError("author: auteur absent (paramètre ou compte rendu)", field="author")

    if modalities:
        codes = [
            MODALITY.require(m, field="eventCodeList", scheme=OID_DICOM_MODALITY)
            for m in modalities
        ]
    else:  # SR, PR, KO… series are not acquisition modalities (DICOM CID 29): left out
        found = (MODALITY.get(m, OID_DICOM_MODALITY) for m in study.modalities)
        codes = [code for code in found if code is not None]
    if not codes:
        raise XdsMetadataError(
            "eventCodeList: aucune modalité (séries du KOS ou paramètre modalities)",
            field="eventCodeList",
            value_set=MODALITY.name,
        )
    regions = list(anatomical_regions)
    if not regions and report_entry is not None:
        # the anatomical regions only (SNOMED CT); CCAM acts describe the report, not images
        regions = [c for c in report_entry.event_codes if c.scheme in _REGION_SCHEMES]
    event_codes = tuple(dict.fromkeys([*codes, *regions]))

    if study.ipp and study.ipp_issuer:
        source_patient_id = f"{_escape(study.ipp)}^^^&{study.ipp_issuer}&ISO^PI"
    elif report_entry is not None and report_entry.source_patient_id:
        source_patient_id = report_entry.source_patient_id
    else:
        source_patient_id = patient_id
    start = _dicom_time(study.study_date, study.study_time)
    stop = ""
    if report_entry is not None:
        start = report_entry.service_start_time or start
        stop = report_entry.service_stop_time
    creation = _dicom_time(manifest.content_date, manifest.content_time)
    if not creation:
        raise XdsMetadataError("creationTime: ContentDate du KOS absente", field="creationTime")
    if legal_authenticator is None:
        legal_authenticator = report_entry.legal_authenticator if report_entry else ""

    return DocumentEntry(
        entry_uuid=entry_uuid,
        unique_id=manifest.sop_instance_uid,
        patient_id=patient_id,
        class_code=class_code,
        type_code=type_code,
        format_code=format_code,
        confidentiality_codes=confidentiality,
        healthcare_facility_type_code=facility,
        practice_setting_code=setting,
        event_codes=event_codes,
        reference_ids=reference_ids,
        source_patient_id=source_patient_id,
        source_patient_info=_source_patient_info(manifest)
        or (report_entry.source_patient_info if report_entry else ()),
        language_code="fr-FR",
        mime_type=KOS_MIME_TYPE,
        creation_time=creation,
        service_start_time=start,
        service_stop_time=stop,
        hash=hashlib.sha1(data).hexdigest() if data is not None else "",
        size=len(data) if data is not None else None,
        title=title,
        comments=comments,
        authors=entry_authors,
        legal_authenticator=legal_authenticator,
        availability_status=availability_status,
        repository_unique_id=repository_unique_id,
    )
