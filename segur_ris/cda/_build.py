"""CDA R2 CR-IMG builders: N1 (PDF/A in ``nonXMLBody``) and N3 (structured body).

The header follows CI-SIS IMG-CR-IMG 2024.01 and the official examples (element order,
templateIds, OIDs); the N3 body carries the sections and entries that
``CI-SIS_IMG-CR-IMG_2024.01.sch`` requires. Output is UTF-8, without DOCTYPE, and deterministic:
the ids the builder has to invent (sections, entries) are UUIDv5 derived from the document id.

Identifiers given as strings (``document_id``, ``set_id``, ``replaces``) are either an OID
(``id root`` only) or ``root^extension``.
"""

from __future__ import annotations

import base64
import datetime as _dt
import uuid
from collections.abc import Iterable

from lxml import etree

from segur_ris.cda._sections import (
    CATALOG,
    CLINICAL_INFO,
    HISTORY,
    HISTORY_OBSERVATIONS,
    REQUEST,
    SECTION_SPECS,
    SectionSpec,
)
from segur_ris.errors import CdaError
from segur_ris.ins import Sexe, to_cda_id
from segur_ris.report import (
    OID_CCAM,
    OID_DICOM_MODALITY,
    OID_LOINC,
    OID_RPPS,
    OID_SNOMED_CT,
    OID_STRUCTURE,
    Code,
    ImagingReport,
    Organization,
    Practitioner,
    Section,
    SectionKind,
)

__all__ = [
    "FORMAT_CODE_N1",
    "FORMAT_CODE_N3",
    "MODALITY_NAMES",
    "build_cda_n1",
    "build_cda_n3",
    "split_ii",
]

NS_HL7 = "urn:hl7-org:v3"
NS_XSI = "http://www.w3.org/2001/XMLSchema-instance"
NS_PS320 = "urn:dicom-org:ps3-20"
_NSMAP = {None: NS_HL7, "xsi": NS_XSI, "ps3-20": NS_PS320}

#: XDS formatCode of each level (DMP metadata).
FORMAT_CODE_N1 = "urn:ihe:iti:xds-sd:pdf:2008"
FORMAT_CODE_N3 = "urn:ihe:rad:CDA:ImagingReportStructuredHeadings:2013"

OID_HL7_CONFIDENTIALITY = "2.16.840.1.113883.5.25"
OID_HL7_GENDER = "2.16.840.1.113883.5.1"

TEMPLATES_COMMON = ("2.16.840.1.113883.2.8.2.1", "1.2.250.1.213.1.1.1.1")
TEMPLATES_N1 = (*TEMPLATES_COMMON, "1.3.6.1.4.1.19376.1.2.20")
TEMPLATES_N3 = (
    *TEMPLATES_COMMON,
    "1.2.840.10008.9.1",
    "1.2.840.10008.9.20",
    "1.2.840.10008.9.21",
)
TEMPLATE_CR_IMG = ("1.2.250.1.213.1.1.1.45", "2024.01")

DOCUMENT_CODE = Code("18748-4", OID_LOINC, "CR d'imagerie médicale", "LOINC")

#: French labels of common DICOM modalities (JDV_ModaliteAcquisition_CISIS, …5.618).
MODALITY_NAMES: dict[str, str] = {
    "BMD": "Ostéodensitométrie",
    "CR": "Radiographie assistée par ordinateur",
    "CT": "Tomodensitométrie",
    "DX": "Radiographie numérique",
    "IO": "Radiographie intrabuccale",
    "MG": "Mammographie",
    "MR": "Résonance magnétique",
    "NM": "Médecine nucléaire",
    "PT": "TEP : Tomographie par émission de positons",
    "PX": "Panaromique X-Ray",
    "RF": "Radio-fluoroscopie",
    "RG": "Imagerie radiographique",
    "US": "Échographie",
    "XA": "Angiographie X-Ray",
}

_CONFIDENTIALITY = {"N": "Normal", "R": "Restreint", "V": "Très restreint"}
_GENDER = {Sexe.M: "Masculin", Sexe.F: "Féminin"}
MEDICAL, _SURGICAL, CONTRA_INDICATIONS = (code for code, _ in HISTORY_OBSERVATIONS)
_SYSTEM_NAMES = {
    OID_LOINC: "LOINC",
    OID_SNOMED_CT: "SNOMED CT",
    OID_CCAM: "CCAM",
    OID_DICOM_MODALITY: "DCM",
}


# --- small helpers --------------------------------------------------------------------------


def split_ii(value: str) -> tuple[str, str | None]:
    """``root`` or ``root^extension`` → ``(root, extension)``."""
    root, sep, extension = value.partition("^")
    if not root.strip() or (sep and not extension.strip()):
        raise CdaError(f"identifiant {value!r}: OID ou OID^extension attendu", code="id")
    return root.strip(), (extension.strip() if sep else None)


def _ts(moment: _dt.datetime) -> str:
    """HL7 TS with seconds and UTC offset: ``YYYYMMDDHHMMSS+HHMM``."""
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise CdaError(f"date {moment.isoformat()} sans fuseau horaire", code="time")
    return moment.strftime("%Y%m%d%H%M%S%z")


def _q(tag: str) -> str:
    return f"{{{NS_HL7}}}{tag}"


def _sub(parent: etree._Element, tag: str, text: str | None = None, **attrs: str) -> etree._Element:
    element = etree.SubElement(parent, _q(tag), {k: v for k, v in attrs.items() if v})
    if text:
        element.text = text
    return element


def _ii(parent: etree._Element, tag: str, value: str) -> etree._Element:
    root, extension = split_ii(value)
    return _sub(parent, tag, root=root, extension=extension or "")


def _system_name(code: Code) -> str:
    return code.system_name or _SYSTEM_NAMES.get(code.system, "")


def _code(parent: etree._Element, tag: str, code: Code, *, name: bool = True) -> etree._Element:
    return _sub(
        parent,
        tag,
        code=code.code,
        displayName=code.display,
        codeSystem=code.system,
        codeSystemName=_system_name(code) if name else "",
    )


class _Ids:
    """Deterministic UUIDs for the ids the builder has to invent."""

    def __init__(self, seed: str) -> None:
        self._seed = seed
        self._count = 0

    def next(self) -> str:
        self._count += 1
        return str(uuid.uuid5(uuid.NAMESPACE_OID, f"{self._seed}#{self._count}")).upper()


# --- header ---------------------------------------------------------------------------------


def _person_name(parent: etree._Element, person: Practitioner) -> None:
    name = _sub(parent, "name")
    if person.prefix:
        _sub(name, "prefix", person.prefix)
    if person.given:
        _sub(name, "given", person.given)
    _sub(name, "family", person.family)


def _organization(
    parent: etree._Element, tag: str, org: Organization, setting: Code | None = None
) -> None:
    element = _sub(parent, tag)
    _sub(element, "id", root=OID_STRUCTURE, extension=org.structure_id)
    _sub(element, "name", org.name)
    if org.telecom:
        _sub(element, "telecom", value=org.telecom)
    if org.address:
        _sub(element, "addr", org.address)
    if setting is not None:
        _code(element, "standardIndustryClassCode", setting)


def _assigned(
    parent: etree._Element, tag: str, person: Practitioner, report: ImagingReport
) -> etree._Element:
    """``assignedAuthor``/``assignedEntity``: RPPS, specialty, name, organization."""
    element = _sub(parent, tag)
    _sub(element, "id", root=OID_RPPS, extension=person.national_id)
    _code(element, "code", person.specialty, name=False)
    if person.telecom:
        _sub(element, "telecom", value=person.telecom, use="WP")
    _person_name(_sub(element, "assignedPerson"), person)
    facility = report.facility
    _organization(
        element, "representedOrganization", facility.organization, facility.practice_setting
    )
    return element


def _record_target(root: etree._Element, report: ImagingReport, ins_oid: str | None) -> None:
    ins_root, ins_value = to_cda_id(report.patient, oid=ins_oid)  # raises unless qualifiée
    role = _sub(_sub(root, "recordTarget"), "patientRole")
    _sub(role, "id", root=ins_root, extension=ins_value)
    if report.ipp:
        _sub(role, "id", root=report.ipp_oid, extension=report.ipp)
    traits = report.patient.traits
    patient = _sub(role, "patient", classCode="PSN")
    name = _sub(patient, "name")
    _sub(name, "family", traits.nom_naissance, qualifier="BR")
    _sub(name, "given", traits.liste_prenoms)
    _sub(name, "given", traits.premier_prenom, qualifier="BR")
    _sub(
        patient,
        "administrativeGenderCode",
        code=traits.sexe.value,
        displayName=_GENDER[traits.sexe],
        codeSystem=OID_HL7_GENDER,
    )
    _sub(patient, "birthTime", value=traits.date_naissance.hl7())
    if traits.lieu_naissance:
        addr = _sub(_sub(_sub(patient, "birthplace"), "place"), "addr")
        _sub(addr, "county", traits.lieu_naissance)


def _header(
    root: etree._Element, report: ImagingReport, templates: Iterable[str], ins_oid: str | None
) -> None:
    version = report.document_version
    _sub(root, "realmCode", code="FR")
    _sub(root, "typeId", root="2.16.840.1.113883.1.3", extension="POCD_HD000040")
    for template in templates:
        _sub(root, "templateId", root=template)
    _ii(root, "id", report.document_id)
    code = _code(root, "code", DOCUMENT_CODE)
    _code(code, "translation", report.exam.exam_code)
    _sub(root, "title", report.title)
    _sub(root, "effectiveTime", value=_ts(report.effective_time))
    conf = report.confidentiality.code
    if conf not in _CONFIDENTIALITY:
        raise CdaError(f"confidentialityCode {conf!r} (N, R ou V)", code="confidentiality")
    _sub(
        root,
        "confidentialityCode",
        code=conf,
        displayName=_CONFIDENTIALITY[conf],
        codeSystem=OID_HL7_CONFIDENTIALITY,
    )
    _sub(root, "languageCode", code=report.language)
    _ii(root, "setId", version.set_id)
    _sub(root, "versionNumber", value=str(version.number))

    _record_target(root, report, ins_oid)

    author = _sub(root, "author")
    _sub(author, "time", value=_ts(report.effective_time))
    _assigned(author, "assignedAuthor", report.author, report)

    custodian = _sub(_sub(root, "custodian"), "assignedCustodian")
    org = report.custodian
    entity = _sub(custodian, "representedCustodianOrganization")
    _sub(entity, "id", root=OID_STRUCTURE, extension=org.structure_id)
    _sub(entity, "name", org.name)
    if org.telecom:
        _sub(entity, "telecom", value=org.telecom)
    if org.address:
        _sub(entity, "addr", org.address)

    legal = _sub(root, "legalAuthenticator")
    _sub(legal, "time", value=_ts(report.effective_time))
    _sub(legal, "signatureCode", code="S")
    _assigned(legal, "assignedEntity", report.signer, report)

    order = report.order
    if order is not None and order.prescriber is not None:
        _referrer(root, order.prescriber)

    placed = _sub(_sub(root, "inFulfillmentOf"), "order")
    if order is not None:
        _sub(placed, "id", root=order.placer_issuer, extension=order.placer_number)
    else:
        _sub(placed, "id", nullFlavor="UNK")
    exam = report.exam
    accession = etree.SubElement(placed, f"{{{NS_PS320}}}accessionNumber")
    accession.set("root", exam.accession_issuer)
    accession.set("extension", exam.accession_number)

    _service_event(root, report)

    if version.replaces:
        related = _sub(root, "relatedDocument", typeCode="RPLC")
        _ii(_sub(related, "parentDocument"), "id", version.replaces)

    encounter = _sub(_sub(root, "componentOf"), "encompassingEncounter")
    period = _sub(encounter, "effectiveTime")
    _sub(period, "low", value=_ts(exam.start))
    _sub(period, "high", value=_ts(exam.end or exam.start))
    facility = _sub(_sub(encounter, "location"), "healthCareFacility")
    _sub(facility, "id", root=OID_STRUCTURE, extension=report.facility.organization.structure_id)
    _code(facility, "code", report.facility.facility_type, name=False)
    place = _sub(facility, "location")
    _sub(place, "name", report.facility.organization.name)
    if report.facility.organization.address:
        _sub(place, "addr", report.facility.organization.address)


def _referrer(root: etree._Element, prescriber: Practitioner) -> None:
    """The prescriber as ``participant typeCode="REF"`` (DICOM PS3.20 referrer)."""
    participant = _sub(root, "participant", typeCode="REF")
    _sub(participant, "time", nullFlavor="UNK")
    entity = _sub(participant, "associatedEntity", classCode="PROV")
    _sub(entity, "id", root=OID_RPPS, extension=prescriber.national_id)
    _code(entity, "code", prescriber.specialty, name=False)
    if prescriber.telecom:
        _sub(entity, "telecom", value=prescriber.telecom, use="WP")
    _person_name(_sub(entity, "associatedPerson"), prescriber)


def _modality_translation(parent: etree._Element, modality: str) -> None:
    translation = _sub(
        parent,
        "translation",
        code=modality,
        displayName=MODALITY_NAMES.get(modality, modality),
        codeSystem=OID_DICOM_MODALITY,
        codeSystemName="DCM",
    )
    qualifier = _sub(translation, "qualifier")
    _sub(
        qualifier,
        "name",
        code="121139",
        displayName="Modalité d'imagerie",
        codeSystem=OID_DICOM_MODALITY,
        codeSystemName="DCM",
    )


def _service_event(root: etree._Element, report: ImagingReport) -> None:
    exam = report.exam
    event = _sub(_sub(root, "documentationOf"), "serviceEvent", classCode="ACT")
    _sub(event, "id", root=exam.study_instance_uid)
    code = _code(event, "code", exam.exam_code)
    for act in exam.ccam_acts:
        _code(code, "translation", act)
    for modality in exam.modalities:
        _modality_translation(code, modality)
    if exam.anatomical_region is not None:
        region = _code(code, "translation", exam.anatomical_region)
        _sub(
            _sub(region, "qualifier"),
            "name",
            code="39111-0",
            displayName="localisation anatomique",
            codeSystem=OID_LOINC,
            codeSystemName="LOINC",
        )
    period = _sub(event, "effectiveTime")
    _sub(period, "low", value=_ts(exam.start))
    _sub(period, "high", value=_ts(exam.end or exam.start))
    performer = _sub(event, "performer", typeCode="PRF")
    _assigned(performer, "assignedEntity", report.author, report)


def _document(
    report: ImagingReport, templates: Iterable[str], ins_oid: str | None
) -> etree._Element:
    if not isinstance(report, ImagingReport):
        raise CdaError(f"ImagingReport attendu, pas {type(report).__name__}", code="report")
    root = etree.Element(_q("ClinicalDocument"), nsmap=_NSMAP)  # type: ignore[arg-type]
    _header(root, report, templates, ins_oid)
    return root


def _serialize(root: etree._Element) -> bytes:
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8", pretty_print=True)


def _insert_template(root: etree._Element, root_oid: str, extension: str) -> None:
    """Insert the CR-IMG templateId (with extension) after the other templateIds."""
    last = root.findall(_q("templateId"))[-1]
    element = etree.Element(_q("templateId"), root=root_oid, extension=extension)
    last.addnext(element)


# --- N1 -------------------------------------------------------------------------------------


def build_cda_n1(report: ImagingReport, pdf: bytes, *, ins_oid: str | None = None) -> bytes:
    """The CR-IMG N1: CI-SIS header and the PDF/A in ``nonXMLBody`` (``application/pdf``, B64).

    ``ins_oid`` exports the INS under the target environment's OID. Raises
    :class:`~segur_ris.errors.InsNotQualifiedError` unless the identity is qualifiée and
    :class:`~segur_ris.errors.CdaError` for an invalid report or a non-PDF payload.
    """
    if not isinstance(pdf, bytes | bytearray) or not bytes(pdf[:5]) == b"%PDF-":
        raise CdaError("le corps N1 doit être un PDF (%PDF-…)", code="pdf")
    root = _document(report, TEMPLATES_N1, ins_oid)
    body = _sub(_sub(root, "component"), "nonXMLBody")
    text = _sub(body, "text", mediaType="application/pdf", representation="B64")
    text.text = base64.b64encode(bytes(pdf)).decode("ascii")
    return _serialize(root)


# --- N3 -------------------------------------------------------------------------------------


def _narrative(parent: etree._Element, text: str) -> etree._Element:
    """``<text>`` with one ``<paragraph>`` per blank-line separated block; lines → ``<br/>``."""
    element = _sub(parent, "text")
    blocks = [b.strip() for b in text.replace("\r\n", "\n").split("\n\n") if b.strip()]
    for block in blocks:
        paragraph = _sub(element, "paragraph")
        lines = [line.strip() for line in block.split("\n")]
        paragraph.text = lines[0]
        for line in lines[1:]:
            br = _sub(paragraph, "br")
            br.tail = line
    return element


def _section(
    parent: etree._Element,
    spec: SectionSpec,
    ids: _Ids,
    title: str,
    text: str,
    *,
    docsect: bool = False,
) -> etree._Element:
    attrs = {"classCode": "DOCSECT", "moodCode": "EVN"} if docsect else {}
    section = _sub(_sub(parent, "component"), "section", **attrs)
    for template in spec.template_ids:
        _sub(section, "templateId", root=template)
    _sub(section, "id", root=ids.next())
    _sub(
        section,
        "code",
        code=spec.code,
        displayName=spec.display,
        codeSystem=spec.system,
        codeSystemName=spec.system_name,
    )
    _sub(section, "title", title or spec.title)
    _narrative(section, text)
    return section


def _title(section: Section | None, spec: SectionSpec) -> str:
    return section.title if section is not None and section.title else spec.title


def _text(section: Section | None) -> str:
    return section.text if section is not None else ""


def _history_observation(
    section: etree._Element, ids: _Ids, code: str, display: str, reference: str | None
) -> None:
    """An FR-DICOM-Observation of FR-DICOM-Historique-medical.

    ``reference`` points to the narrative that states it; without one the value is unknown:
    ``CD nullFlavor="NI"``, except for contra-indications whose value set forbids a nullFlavor
    (``ST`` "Non renseignée" then, a type the value-set rule does not constrain).
    """
    observation = _sub(_sub(section, "entry"), "observation", classCode="OBS", moodCode="EVN")
    _sub(observation, "templateId", root="2.16.840.1.113883.10.20.6.2.13")
    _sub(observation, "templateId", root="1.2.250.1.213.1.1.3.150")
    _sub(observation, "id", root=ids.next())
    _sub(
        observation,
        "code",
        code=code,
        displayName=display,
        codeSystem=OID_LOINC,
        codeSystemName="LOINC",
    )
    if reference:
        _sub(_sub(observation, "text"), "reference", value=f"#{reference}")
    _sub(observation, "statusCode", code="completed")
    if reference:
        value = _sub(observation, "value")
        _sub(_sub(value, "originalText"), "reference", value=f"#{reference}")
        value.set(f"{{{NS_XSI}}}type", "CD")
    elif code == CONTRA_INDICATIONS:
        value = _sub(observation, "value", "Non renseignée")
        value.set(f"{{{NS_XSI}}}type", "ST")
    else:
        value = _sub(observation, "value", nullFlavor="NI")
        value.set(f"{{{NS_XSI}}}type", "CD")
    _sub(observation, "targetSiteCode", nullFlavor="NA")


def _clinical_information(body: etree._Element, report: ImagingReport, ids: _Ids) -> None:
    """FR-DICOM-informations-cliniques with its mandatory sub-sections (demande, historique)."""
    info = report.section(SectionKind.INFORMATIONS_CLINIQUES)
    request = report.section(SectionKind.JUSTIFICATION)
    history = report.section(SectionKind.ANTECEDENTS)
    if info is None and request is None and history is None:
        return
    section = _section(body, CLINICAL_INFO, ids, _title(info, CLINICAL_INFO), _text(info))
    reason = _text(request) or (report.order.reason if report.order else "") or "Non renseignée."
    _section(section, REQUEST, ids, _title(request, REQUEST), reason, docsect=True)
    past = _section(
        section, HISTORY, ids, _title(history, HISTORY), _text(history) or "Non renseignés."
    )
    reference = None
    if history is not None and history.text.strip():
        reference = "antecedents"
        past.find(_q("text")).set("ID", reference)  # type: ignore[union-attr]
    for code, display in HISTORY_OBSERVATIONS:
        _history_observation(past, ids, code, display, reference if code == MEDICAL else None)


def _imaging_procedure(section: etree._Element, report: ImagingReport, ids: _Ids) -> None:
    """FR-DICOM-Technique-imagerie (procedure 1.2.250.1.213.1.1.3.153)."""
    exam = report.exam
    procedure = _sub(_sub(section, "entry"), "procedure", classCode="PROC", moodCode="EVN")
    _sub(procedure, "templateId", root="1.2.840.10008.9.14")
    _sub(procedure, "templateId", root="1.2.250.1.213.1.1.3.153")
    _sub(procedure, "id", root=ids.next())
    code = _code(procedure, "code", exam.exam_code)
    if exam.ccam_acts:  # [0..1] CCAM translation
        _code(code, "translation", exam.ccam_acts[0])
    _sub(procedure, "effectiveTime", value=_ts(exam.start))
    for modality in exam.modalities:
        _sub(
            procedure,
            "methodCode",
            code=modality,
            displayName=MODALITY_NAMES.get(modality, modality),
            codeSystem=OID_DICOM_MODALITY,
            codeSystemName="DCM",
        )
    if exam.anatomical_region is None:  # [1..*], value set without nullFlavor
        raise CdaError(
            "le CR-IMG N3 exige la localisation anatomique de l'examen "
            "(JDV_LocalisationAnatomique_CISIS)",
            code="anatomical_region",
        )
    site = _code(procedure, "targetSiteCode", exam.anatomical_region)
    site.set(f"{{{NS_XSI}}}type", "CD")


def _exposure(parent: etree._Element, report: ImagingReport, ids: _Ids, section: Section) -> None:
    """FR-DICOM-Exposition-aux-radiations with the FR-DICOM-Exposition-patient entry (the
    radiologist author is recorded as the practitioner who authorised the exposure)."""
    spec = SECTION_SPECS[SectionKind.EXPOSITION]
    element = _section(parent, spec, ids, _title(section, spec), section.text, docsect=True)
    procedure = _sub(_sub(element, "entry"), "procedure", classCode="PROC", moodCode="EVN")
    _sub(procedure, "templateId", root="1.2.250.1.213.1.1.3.165")
    _sub(
        procedure,
        "code",
        code="121290",
        displayName="Exposition du patient aux rayonnements ionisants",
        codeSystem=OID_DICOM_MODALITY,
        codeSystemName="DCM",
    )
    role = _sub(_sub(procedure, "participant", typeCode="RESP"), "participantRole")
    _sub(role, "id", root=OID_RPPS, extension=report.author.national_id)
    _sub(
        role,
        "code",
        code="113850",
        displayName="Autorisation d'irradiation",
        codeSystem=OID_DICOM_MODALITY,
        codeSystemName="DCM",
    )
    _person_name(_sub(role, "playingEntity"), report.author)
    _pregnancy_status(element, report, ids)


#: JDV_StatutGrossesse_CISIS "inconnu": the report model does not record pregnancy status.
PREGNANCY_UNKNOWN = Code("261665006", OID_SNOMED_CT, "inconnu", "SNOMED CT")


def _pregnancy_status(section: etree._Element, report: ImagingReport, ids: _Ids) -> None:
    """FR-DICOM-Observation "statut de grossesse" (mandatory in the exposure sub-section)."""
    observation = _sub(_sub(section, "entry"), "observation", classCode="OBS", moodCode="EVN")
    _sub(observation, "templateId", root="2.16.840.1.113883.10.20.6.2.13")
    _sub(observation, "templateId", root="1.2.250.1.213.1.1.3.150")
    _sub(observation, "id", root=ids.next())
    _sub(
        observation,
        "code",
        code="364320009",
        displayName="statut de grossesse",
        codeSystem=OID_SNOMED_CT,
        codeSystemName="SNOMED CT",
    )
    _sub(observation, "statusCode", code="completed")
    _sub(observation, "effectiveTime", value=_ts(report.exam.start))
    value = _code(observation, "value", PREGNANCY_UNKNOWN)
    value.set(f"{{{NS_XSI}}}type", "CD")
    _sub(observation, "targetSiteCode", nullFlavor="NA")


def _catalog_text(report: ImagingReport) -> str:
    exam = report.exam
    modalities = ", ".join(f"{m} ({MODALITY_NAMES.get(m, m)})" for m in exam.modalities)
    return (
        f"Study Instance UID : {exam.study_instance_uid}\n"
        f"Numéro d'accession : {exam.accession_number}\n"
        f"Modalité(s) : {modalities}"
    )


def _procedure_section(body: etree._Element, report: ImagingReport, ids: _Ids) -> None:
    """FR-DICOM-Acte-imagerie: technique text, procedure entry, complications, exposure and
    the mandatory DICOM object catalog."""
    technique = report.section(SectionKind.TECHNIQUE)
    spec = SECTION_SPECS[SectionKind.TECHNIQUE]
    exam = report.exam
    text = _text(technique) or f"{exam.exam_code.display or exam.exam_code.code}."
    section = _section(body, spec, ids, _title(technique, spec), text)
    _imaging_procedure(section, report, ids)
    complications = report.section(SectionKind.COMPLICATIONS)
    if complications is not None:
        cspec = SECTION_SPECS[SectionKind.COMPLICATIONS]
        title = _title(complications, cspec)
        _section(section, cspec, ids, title, complications.text, docsect=True)
    exposure = report.section(SectionKind.EXPOSITION)
    if exposure is not None:
        _exposure(section, report, ids, exposure)
    _section(section, CATALOG, ids, CATALOG.title, _catalog_text(report), docsect=True)


def _addendum(body: etree._Element, report: ImagingReport, ids: _Ids, section: Section) -> None:
    spec = SECTION_SPECS[SectionKind.ADDENDUM]
    element = _section(body, spec, ids, _title(section, spec), section.text)
    author = _sub(element, "author")
    _sub(author, "time", value=_ts(report.effective_time))
    _assigned(author, "assignedAuthor", report.author, report)


def build_cda_n3(report: ImagingReport, *, ins_oid: str | None = None) -> bytes:
    """The CR-IMG N3 (structured body).

    Sections, in the order of the official example: Addendum, Informations cliniques (with
    the mandatory Demande and Historique sub-sections), Acte d'imagerie (mandatory; technique
    entry, Complications, Exposition, DICOM object catalog), Résultats, Comparaisons,
    Conclusion (mandatory). Raises like :func:`build_cda_n1`.
    """
    root = _document(report, TEMPLATES_N3, ins_oid)
    _insert_template(root, *TEMPLATE_CR_IMG)
    ids = _Ids(report.document_id)
    body = _sub(_sub(root, "component"), "structuredBody")
    addendum = report.section(SectionKind.ADDENDUM)
    if addendum is not None:
        _addendum(body, report, ids, addendum)
    _clinical_information(body, report, ids)
    _procedure_section(body, report, ids)
    for kind in (SectionKind.RESULTATS, SectionKind.COMPARAISONS, SectionKind.CONCLUSION):
        section = report.section(kind)
        if section is not None:
            spec = SECTION_SPECS[kind]
            _section(body, spec, ids, _title(section, spec), section.text)
    return _serialize(root)
