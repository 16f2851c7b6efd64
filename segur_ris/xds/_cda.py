"""The XDS DocumentEntry of a CDA CR-IMG (compte rendu d'imagerie), per the DMP rules.

Every coded value is checked against the shipped value sets (:mod:`segur_ris.xds._valuesets`);
a value outside its JDV raises :class:`~segur_ris.xds._model.XdsMetadataError` naming the XDS
field, the value and the JDV. Timestamps are converted to UTC (a CDA time without an offset is
taken as Europe/Paris time).
"""

from __future__ import annotations

import datetime as _dt
import hashlib
from zoneinfo import ZoneInfo

from lxml import etree

from segur_ris._xml import parse_xml
from segur_ris.cda import CdaDocument, CdaPerson
from segur_ris.cda._read import _read_cda
from segur_ris.codes import OID_INS_NIA
from segur_ris.config import InsOids
from segur_ris.errors import InvalidMatriculeError
from segur_ris.ins import Ins
from segur_ris.report import OID_DICOM_MODALITY, OID_RPPS, OID_SNOMED_CT, OID_STRUCTURE
from segur_ris.report import Code as ReportCode
from segur_ris.xds._model import (
    Author,
    Code,
    DocumentEntry,
    XdsMetadataError,
    xds_time,
)
from segur_ris.xds._valuesets import (
    ANATOMICAL_REGION,
    CLASS_CODE_BY_TYPE_CODE,
    J01_AUTHOR_SPECIALTY,
    J02_FACILITY_TYPE,
    J04_PRACTICE_SETTING,
    J07_TYPE_CODE,
    J57_CLASS_CODE,
    J58_CONFIDENTIALITY,
    J60_FORMAT_CODE,
    J231_REFERENCE_ID_TYPE,
    MODALITY,
    ValueSet,
)

__all__ = [
    "FORMAT_N1",
    "FORMAT_N3",
    "REFERENCE_ACCESSION",
    "REFERENCE_ORDER",
    "REFERENCE_STUDY_INSTANCE_UID",
    "document_entry_from_cda",
    "reference_id",
    "xcn",
    "xon",
]

FORMAT_N1 = "urn:ihe:iti:xds-sd:pdf:2008"
FORMAT_N3 = "urn:ihe:rad:CDA:ImagingReportStructuredHeadings:2013"
REFERENCE_ACCESSION = "urn:ihe:iti:xds:2013:accession"
REFERENCE_ORDER = "urn:ihe:iti:xds:2013:order"
REFERENCE_STUDY_INSTANCE_UID = "urn:ihe:iti:xds:2016:studyInstanceUID"
_OID_CONFIDENTIALITY = "2.16.840.1.113883.5.25"
_OID_VISIBILITY = "1.2.250.1.213.1.1.4.13"
_PARIS = ZoneInfo("Europe/Paris")
_HL7 = "{urn:hl7-org:v3}"


def _escape(value: str) -> str:
    """HL7 v2 escaping of the separators inside one component."""
    return (
        value.replace("\\", "\\E\\")
        .replace("|", "\\F\\")
        .replace("^", "\\S\\")
        .replace("&", "\\T\\")
        .replace("~", "\\R\\")
    )


def xcn(person: CdaPerson) -> str:
    """The XCN of a professional: ``<id>^FAMILY^Given^^^^^^&<OID>&ISO^D^^^IDNPS`` for a
    national id (``8`` + RPPS, ``0`` + ADELI under 1.2.250.1.71.4.2.1), ``…^L^^^EI`` else."""
    if not person.national_id or not person.id_root:
        raise XdsMetadataError(
            "auteur/authentificateur sans identifiant", field="authorPerson", value=""
        )
    kind = "D^^^IDNPS" if person.id_root == OID_RPPS else "L^^^EI"
    return (
        f"{_escape(person.national_id)}^{_escape(person.family)}^{_escape(person.given)}"
        f"^^^^^^&{person.id_root}&ISO^{kind}"
    )


def xon(name: str, identifier: str, oid: str = OID_STRUCTURE) -> str:
    """The XON of a structure: ``NAME^^^^^&<OID>&ISO^IDNST^^^<id>`` (``1`` + FINESS,
    ``3`` + SIRET under 1.2.250.1.71.4.2.2)."""
    kind = "IDNST" if oid == OID_STRUCTURE else "XX"
    return f"{_escape(name)}^^^^^&{oid}&ISO^{kind}^^^{_escape(identifier)}"


def reference_id(value: str, assigning_oid: str, type_code: str) -> str:
    """One referenceIdList entry (CXi): ``value^^^&<oid>&ISO^<type>`` (``value^^^^<type>``
    without an assigning authority, as for a study instance UID)."""
    J231_REFERENCE_ID_TYPE.require(type_code, field="referenceIdList")
    authority = f"&{assigning_oid}&ISO" if assigning_oid else ""
    return f"{_escape(value)}^^^{authority}^{type_code}"


def _utc(value: _dt.datetime | None) -> str:
    if value is None:
        return ""
    if value.tzinfo is None:
        value = value.replace(tzinfo=_PARIS)
    return xds_time(value)


def _split_ii(value: str) -> tuple[str, str]:
    root, _, extension = value.partition("^")
    return root, extension


def _practice_setting_from_xml(root: etree._Element) -> Code | None:
    """``standardIndustryClassCode`` of the performer's (else the author's) organization."""
    paths = (
        f"{_HL7}documentationOf/{_HL7}serviceEvent/{_HL7}performer/{_HL7}assignedEntity/"
        f"{_HL7}representedOrganization/{_HL7}standardIndustryClassCode",
        f"{_HL7}author/{_HL7}assignedAuthor/{_HL7}representedOrganization/"
        f"{_HL7}standardIndustryClassCode",
    )
    for path in paths:
        element = root.find(path)
        if element is not None and element.get("code"):
            return Code(element.get("code", ""), element.get("codeSystem", ""))
    return None


def _patient_id(doc: CdaDocument, environment_ins_oid: str | InsOids | None) -> str:
    patient = doc.patient
    return xds_patient_id(
        patient.ins,
        patient.ins_oid,
        environment_ins_oid,
        source="document",
        where="recordTarget/patientRole/id",
    )


def xds_patient_id(
    ins: str, oid: str, environment_ins_oid: str | InsOids | None, *, source: str, where: str
) -> str:
    """``<INS>^^^&<OID>&ISO^NH`` with the target environment's OID (same kind of INS) in place
    of ``oid``; the INS is checked. ``source`` names it in messages (``document``, ``KOS``),
    ``where`` the place of the INS in it. Shared by the CR and KOS DocumentEntries."""
    if not ins or not oid:
        raise XdsMetadataError(f"patientId: le {source} n'a pas d'INS ({where})", field="patientId")
    if isinstance(environment_ins_oid, InsOids):  # the environment's OID for this kind of INS
        environment_ins_oid = environment_ins_oid.for_kind("NIA" if oid == OID_INS_NIA else "NIR")
    if environment_ins_oid and environment_ins_oid != oid:
        same_kind = (oid == OID_INS_NIA) == (environment_ins_oid == OID_INS_NIA)
        if not same_kind:
            raise XdsMetadataError(
                f"patientId: OID d'environnement {environment_ins_oid} incompatible avec "
                f"l'INS du {source} ({oid})",
                field="patientId",
                value=environment_ins_oid,
            )
        oid = environment_ins_oid
    try:
        Ins.parse(ins, oid)
    except InvalidMatriculeError as exc:
        raise XdsMetadataError(
            f"patientId: INS {ins!r} invalide ({exc.message})",
            field="patientId",
            value=ins,
        ) from None
    return f"{ins}^^^&{oid}&ISO^NH"


def confidentiality_codes(
    base: str,
    *,
    masque_ps: bool,
    invisible_patient: bool,
    invisible_representants_legaux: bool,
) -> tuple[Code, ...]:
    """The J58 confidentiality codes: ``base`` (HL7 confidentiality) then the DMP visibility
    flags ``MASQUE_PS``, ``INVISIBLE_PATIENT``, ``INVISIBLE_REPRESENTANTS_LEGAUX`` set."""
    codes = [
        J58_CONFIDENTIALITY.require(base, field="confidentialityCode", scheme=_OID_CONFIDENTIALITY)
    ]
    for flag, code in (
        (masque_ps, "MASQUE_PS"),
        (invisible_patient, "INVISIBLE_PATIENT"),
        (invisible_representants_legaux, "INVISIBLE_REPRESENTANTS_LEGAUX"),
    ):
        if flag:
            codes.append(
                J58_CONFIDENTIALITY.require(
                    code, field="confidentialityCode", scheme=_OID_VISIBILITY
                )
            )
    return tuple(codes)


def required_code(
    value_set: ValueSet, code: Code | ReportCode | None, *, field: str, missing: str
) -> Code:
    """``code`` checked against ``value_set``; ``missing`` is the message when it is ``None``."""
    if code is None:
        raise XdsMetadataError(missing, field=field, value_set=value_set.name)
    return value_set.require(code.code, field=field, scheme=_system(code))


def _source_patient_info(doc: CdaDocument) -> tuple[str, ...]:
    patient = doc.patient
    given = patient.first_given or patient.given_names.split(" ")[0]
    info = [f"PID-5|{_escape(patient.birth_name)}^{_escape(given)}^^^^^L"]
    if patient.birth_time:
        info.append(f"PID-7|{patient.birth_time[:8]}")
    if patient.sex:
        info.append(f"PID-8|{patient.sex}")
    return tuple(info)


def _author(doc: CdaDocument, author_role: str) -> Author:
    person = doc.author
    if person is None:
        raise XdsMetadataError("author: auteur du document absent", field="author")
    specialties: tuple[str, ...] = ()
    if person.specialty is not None:
        code = J01_AUTHOR_SPECIALTY.require(
            person.specialty.code, field="authorSpecialty", scheme=person.specialty.system
        )
        specialties = (f"{code.code}^{_escape(code.display)}^{code.scheme}",)
    org_id = person.organization_id or doc.custodian_id
    org_name = person.organization_name or doc.custodian_name
    institutions = (xon(org_name, org_id),) if org_id else ()
    return Author(
        person=xcn(person),
        institutions=institutions,
        roles=(author_role,) if author_role else (),
        specialties=specialties,
    )


def _event_codes(doc: CdaDocument) -> tuple[Code, ...]:
    codes: list[Code] = []
    for modality in doc.modalities:
        codes.append(MODALITY.require(modality, field="eventCodeList", scheme=OID_DICOM_MODALITY))
    for region in doc.anatomical_regions:
        known = ANATOMICAL_REGION.get(region.code, OID_SNOMED_CT)
        codes.append(known or Code(region.code, region.system, region.display))
    for act in doc.ccam_acts:
        codes.append(Code(act.code, act.system, act.display))
    return tuple(dict.fromkeys(codes))


def _reference_ids(doc: CdaDocument) -> tuple[str, ...]:
    ids: list[str] = []
    if doc.accession_number:
        ids.append(reference_id(doc.accession_number, doc.accession_issuer, REFERENCE_ACCESSION))
    for uid in doc.study_instance_uids:
        ids.append(reference_id(uid, "", REFERENCE_STUDY_INSTANCE_UID))
    if doc.placer_order:
        root, extension = _split_ii(doc.placer_order)
        if extension:
            ids.append(reference_id(extension, root, REFERENCE_ORDER))
    return tuple(ids)


def document_entry_from_cda(
    cda: bytes | CdaDocument,
    *,
    environment_ins_oid: str | InsOids | None,
    repository_unique_id: str = "",
    entry_uuid: str = "Document01",
    masque_ps: bool = False,
    invisible_patient: bool = False,
    invisible_representants_legaux: bool = False,
    practice_setting: Code | None = None,
    facility_type: Code | None = None,
    author_role: str = "",
    comments: str = "",
    mime_type: str = "text/xml",
    availability_status: str = "",
    class_code: Code | None = None,
    tree: etree._Element | None = None,
) -> DocumentEntry:
    """The DocumentEntry of a CR-IMG (TD2.1 submission).

    ``cda`` is the exact document bytes (hash, size and the practice setting are taken from
    them) or a parsed :class:`~segur_ris.cda.CdaDocument` (then no hash/size, and the
    practice setting must be given). ``environment_ins_oid`` replaces the INS OID of the
    document by the target environment's; pass ``settings.environment.ins`` to pick it by the
    kind of INS (the INSi qualification platform returns …4.8 where the DMP test platforms
    expect …4.10).
    The visibility flags add the J58 codes ``MASQUE_PS``, ``INVISIBLE_PATIENT``,
    ``INVISIBLE_REPRESENTANTS_LEGAUX`` to the confidentiality codes. ``practice_setting`` and
    ``facility_type`` override the CDA values; ``class_code`` overrides the ASS_X16 mapping.
    ``tree`` is the already parsed root of ``cda`` (bytes), to parse a large document once.
    """
    data = bytes(cda) if isinstance(cda, bytes | bytearray) else None
    root: etree._Element | None = None
    if data is not None:
        root = tree if tree is not None else parse_xml(data, what="document CDA")
        doc: CdaDocument | object = _read_cda(root, header_only=True)
    else:
        doc = cda
    if not isinstance(doc, CdaDocument):
        raise TypeError(f"bytes ou CdaDocument attendu, pas {type(cda).__name__}")

    type_code = J07_TYPE_CODE.require(doc.code.code, field="typeCode", scheme=doc.code.system)
    if class_code is None:
        mapped = CLASS_CODE_BY_TYPE_CODE.get(type_code.code)
        if mapped is None:
            raise XdsMetadataError(
                f"classCode: pas de correspondance ASS_X16 connue pour le typeCode "
                f"{type_code.code!r}",
                field="classCode",
                value=type_code.code,
                value_set=J57_CLASS_CODE.name,
            )
        class_code = J57_CLASS_CODE.require(mapped, field="classCode")
    else:
        class_code = J57_CLASS_CODE.require(class_code.code, field="classCode")
    format_code = J60_FORMAT_CODE.require(
        FORMAT_N3 if doc.level == 3 else FORMAT_N1, field="formatCode"
    )

    confidentiality = confidentiality_codes(
        doc.confidentiality or "N",
        masque_ps=masque_ps,
        invisible_patient=invisible_patient,
        invisible_representants_legaux=invisible_representants_legaux,
    )
    facility_code = required_code(
        J02_FACILITY_TYPE,
        facility_type or doc.facility_type,
        field="healthcareFacilityTypeCode",
        missing="healthcareFacilityTypeCode absent (componentOf/…/healthCareFacility/code)",
    )
    setting_code = required_code(
        J04_PRACTICE_SETTING,
        practice_setting or (_practice_setting_from_xml(root) if root is not None else None),
        field="practiceSettingCode",
        missing="practiceSettingCode absent (standardIndustryClassCode ou paramètre)",
    )

    patient = doc.patient
    patient_id = _patient_id(doc, environment_ins_oid)
    source_patient_id = (
        f"{_escape(patient.ipp)}^^^&{patient.ipp_oid}&ISO^PI"
        if patient.ipp and patient.ipp_oid
        else patient_id
    )
    if doc.legal_authenticator is None:
        raise XdsMetadataError("legalAuthenticator absent", field="legalAuthenticator")
    if doc.effective_time is None:
        raise XdsMetadataError("creationTime: effectiveTime absent", field="creationTime")

    return DocumentEntry(
        entry_uuid=entry_uuid,
        unique_id=doc.document_id,
        patient_id=patient_id,
        class_code=class_code,
        type_code=Code(type_code.code, type_code.scheme, doc.code.display or type_code.display),
        format_code=format_code,
        confidentiality_codes=confidentiality,
        healthcare_facility_type_code=facility_code,
        practice_setting_code=setting_code,
        event_codes=_event_codes(doc),
        reference_ids=_reference_ids(doc),
        source_patient_id=source_patient_id,
        source_patient_info=_source_patient_info(doc),
        language_code=doc.language or "fr-FR",
        mime_type=mime_type,
        creation_time=_utc(doc.effective_time),
        service_start_time=_utc(doc.exam_start),
        service_stop_time=_utc(doc.exam_end),
        hash=hashlib.sha1(data).hexdigest() if data is not None else "",
        size=len(data) if data is not None else None,
        title=doc.title,
        comments=comments,
        authors=(_author(doc, author_role),),
        legal_authenticator=xcn(doc.legal_authenticator),
        availability_status=availability_status or "",
        repository_unique_id=repository_unique_id,
    )


def _system(code: Code | ReportCode) -> str | None:
    """The code system to check (either Code flavour), ``None`` when left empty."""
    return (code.scheme if isinstance(code, Code) else code.system) or None
