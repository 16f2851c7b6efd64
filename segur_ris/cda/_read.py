"""CDA R2 readers: any CR-IMG (N1 or N3) into :class:`CdaDocument`, and the demande d'acte
d'imagerie (IMG-DA-IMG) into :class:`ImagingOrderRequest`.

Input goes through the XXE-safe :func:`~segur_ris._xml.parse_xml` (malformed XML raises
:class:`~segur_ris.errors.XmlError`, a DOCTYPE :class:`~segur_ris.errors.UnsafeXmlError`); a
document that is not a CDA, or whose mandatory header items are missing or unreadable, raises
:class:`~segur_ris.errors.CdaError`. Optional items absent from the document read as ``""``,
``None`` or ``()``. Identifiers are returned as ``root`` or ``root^extension`` (the form the
builders accept).
"""

from __future__ import annotations

import base64
import binascii
import datetime as _dt
import re
from dataclasses import dataclass
from typing import Literal

from lxml import etree

from segur_ris._xml import parse_xml
from segur_ris.cda._sections import SECTION_SPECS
from segur_ris.codes import INS_NIR_OIDS, OID_INS_NIA
from segur_ris.errors import CdaError, InvalidMatriculeError
from segur_ris.ins import Ins, from_cda_id
from segur_ris.report import (
    OID_CCAM,
    OID_DICOM_MODALITY,
    OID_LOINC,
    OID_RPPS,
    OID_SNOMED_CT,
    Code,
    SectionKind,
)

__all__ = [
    "CdaDocument",
    "CdaPatient",
    "CdaPerson",
    "CdaSection",
    "ImagingOrderRequest",
    "RequestedExam",
    "narrative_text",
    "parse_ts",
    "read_cda",
    "read_da_img",
]

NS = {"h": "urn:hl7-org:v3", "ps3-20": "urn:dicom-org:ps3-20"}
_TS = re.compile(r"^(\d{4})(\d{2})?(\d{2})?(\d{2})?(\d{2})?(\d{2})?(?:\.(\d{1,6}))?([+-]\d{4})?$")
_BR = "\x00"  #: marks a <br/> while source whitespace is collapsed
_BLOCKS = frozenset({"paragraph", "list", "table"})
_TEMPLATE_KIND = {
    template: kind
    for kind, spec in SECTION_SPECS.items()
    for template in spec.template_ids
    if template.startswith("1.2.250.1.213.")
}


# --- model ----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class CdaPerson:
    """A health professional of the header (author, signer, prescriber…)."""

    id_root: str
    national_id: str  #: e.g. ``8`` + RPPS under 1.2.250.1.71.4.2.1
    family: str = ""
    given: str = ""
    prefix: str = ""
    specialty: Code | None = None
    telecom: str = ""
    organization_id: str = ""  #: structure id (``1`` + FINESS, ``3`` + SIRET)
    organization_name: str = ""

    @property
    def rpps(self) -> str | None:
        """The 11-digit RPPS when the national id is ``8`` + RPPS."""
        nid = self.national_id
        if self.id_root == OID_RPPS and len(nid) == 12 and nid.startswith("8"):
            return nid[1:]
        return None


@dataclass(frozen=True, slots=True)
class CdaPatient:
    """``recordTarget/patientRole``: identifiers and traits as written in the document."""

    ids: tuple[tuple[str, str], ...]  #: every ``(root, extension)``, INS first in CI-SIS documents
    ins: str = ""
    ins_oid: str = ""
    ipp: str = ""
    ipp_oid: str = ""
    birth_name: str = ""  #: ``family qualifier="BR"``
    given_names: str = ""  #: ``given`` without qualifier (all birth first names)
    first_given: str = ""  #: ``given qualifier="BR"``
    used_name: str = ""  #: ``family qualifier="CL"``
    sex: str = ""
    birth_time: str = ""
    birthplace: str = ""  #: INSEE COG code (``birthplace/place/addr/county``)
    guardian: str = ""  #: guardian person name, when present


@dataclass(frozen=True, slots=True)
class CdaSection:
    """A structured-body section (nested sections are listed too, with their ``depth``)."""

    code: str
    title: str
    text: str  #: narrative as plain text: paragraphs separated by a blank line
    kind: SectionKind | None
    template_ids: tuple[str, ...]
    depth: int = 0


@dataclass(frozen=True, slots=True)
class CdaDocument:
    """The header of a CDA R2 document, its level and body (PDF for N1, sections for N3)."""

    level: Literal[1, 3]
    document_id: str
    set_id: str
    version: int
    code: Code
    exam_codes: tuple[Code, ...]  #: translations of the document code (LOINC exam codes)
    title: str
    effective_time: _dt.datetime | None
    confidentiality: str
    language: str
    template_ids: tuple[str, ...]
    patient: CdaPatient
    author: CdaPerson | None
    custodian_id: str
    custodian_name: str
    legal_authenticator: CdaPerson | None
    prescriber: CdaPerson | None  #: ``participant typeCode="REF"``
    placer_order: str | None
    accession_number: str
    accession_issuer: str
    study_instance_uids: tuple[str, ...]
    service_code: Code | None
    ccam_acts: tuple[Code, ...]
    modalities: tuple[str, ...]
    anatomical_regions: tuple[Code, ...]
    exam_start: _dt.datetime | None
    exam_end: _dt.datetime | None
    facility_type: Code | None
    related: str | None  #: id of the replaced document (``relatedDocument typeCode="RPLC"``)
    pdf: bytes | None
    sections: tuple[CdaSection, ...]

    @property
    def ins(self) -> Ins | None:
        """The patient's INS (``None`` when absent or not a valid INS under an INS OID)."""
        if not self.patient.ins:
            return None
        try:
            return from_cda_id(self.patient.ins_oid, self.patient.ins)
        except InvalidMatriculeError:
            return None

    @property
    def study_instance_uid(self) -> str:
        """The first Study Instance UID (``""`` when none)."""
        return self.study_instance_uids[0] if self.study_instance_uids else ""

    def section(self, kind: SectionKind) -> CdaSection | None:
        """The first section of ``kind``."""
        return next((s for s in self.sections if s.kind is kind), None)


@dataclass(frozen=True, slots=True)
class RequestedExam:
    """One requested act of a demande d'acte d'imagerie."""

    code: Code  #: DICOM modality or TA_ASIP act (e.g. ``MED-1126`` radiographie sans contraste)
    target_site: Code | None = None
    laterality: Code | None = None  #: topographic modifier (SNOMED CT, e.g. 7771000 gauche)
    comment: str = ""


@dataclass(frozen=True, slots=True)
class ImagingOrderRequest:
    """A demande d'acte d'imagerie (IMG-DA-IMG): requested exams, prescriber, patient, reason."""

    document_id: str
    effective_time: _dt.datetime | None
    title: str
    placer_order: str | None
    patient: CdaPatient
    prescriber: CdaPerson | None
    exams: tuple[RequestedExam, ...]
    reason: str  #: narrative of the Demande sub-section (justification / finalité)
    clinical_information: str
    sections: tuple[CdaSection, ...]


# --- helpers --------------------------------------------------------------------------------


def parse_ts(value: str | None) -> _dt.datetime | None:
    """HL7 TS (``YYYY[MM[DD[HH[MM[SS[.f]]]]]][±ZZZZ]``) → datetime (naive without offset)."""
    if not value:
        return None
    match = _TS.match(value.strip())
    if match is None:
        raise CdaError(f"date HL7 {value!r} illisible", code="time")
    year, month, day, hour, minute, second, fraction, offset = match.groups()
    tz: _dt.tzinfo | None = None
    if offset:
        sign = 1 if offset[0] == "+" else -1
        delta = _dt.timedelta(hours=int(offset[1:3]), minutes=int(offset[3:5]))
        tz = _dt.timezone(sign * delta)
    try:
        return _dt.datetime(
            int(year),
            int(month or 1),
            int(day or 1),
            int(hour or 0),
            int(minute or 0),
            int(second or 0),
            int((fraction or "0").ljust(6, "0")),
            tzinfo=tz,
        )
    except ValueError as exc:
        raise CdaError(f"date HL7 {value!r} invalide: {exc}", code="time") from None


# A CDA header is read with ~70 child paths (``h:recordTarget/h:patientRole``…): lxml's
# ``find`` re-parses the path and walks a generic selector each time, ~4x the cost of walking
# the children with ``iterchildren(tag)``. Plain ``prefix:name/…`` paths are turned once into
# Clark tags and walked directly (same first-match / document order as ``find``/``findall``);
# paths with predicates or ``.`` still go to lxml.
_STEP = re.compile(r"([\w-]+):([A-Za-z_][\w.-]*)")
_STEPS: dict[str, tuple[str, ...] | None] = {}


def _steps(path: str) -> tuple[str, ...] | None:
    """The Clark tags of a plain child path, ``None`` for any other path."""
    try:
        return _STEPS[path]
    except KeyError:
        pass
    tags: list[str] = []
    for step in path.split("/"):
        match = _STEP.fullmatch(step)
        if match is None or match.group(1) not in NS:
            _STEPS[path] = None
            return None
        tags.append(f"{{{NS[match.group(1)]}}}{match.group(2)}")
    _STEPS[path] = found = tuple(tags)
    return found


def _first_match(
    element: etree._Element, tags: tuple[str, ...], index: int
) -> etree._Element | None:
    if index == len(tags) - 1:
        return next(element.iterchildren(tags[index]), None)
    for child in element.iterchildren(tags[index]):
        found = _first_match(child, tags, index + 1)
        if found is not None:
            return found
    return None


def _collect(
    element: etree._Element, tags: tuple[str, ...], index: int, out: list[etree._Element]
) -> list[etree._Element]:
    if index == len(tags) - 1:
        out.extend(element.iterchildren(tags[index]))
    else:
        for child in element.iterchildren(tags[index]):
            _collect(child, tags, index + 1, out)
    return out


def _find(element: etree._Element | None, path: str) -> etree._Element | None:
    if element is None:
        return None
    tags = _steps(path)
    return element.find(path, NS) if tags is None else _first_match(element, tags, 0)


def _all(element: etree._Element | None, path: str) -> list[etree._Element]:
    if element is None:
        return []
    tags = _steps(path)
    return element.findall(path, NS) if tags is None else _collect(element, tags, 0, [])


def _attr(element: etree._Element | None, name: str) -> str:
    return "" if element is None else (element.get(name) or "").strip()


def _text(element: etree._Element | None, path: str) -> str:
    found = _find(element, path)
    return " ".join("".join(str(t) for t in found.itertext()).split()) if found is not None else ""


def _ii(element: etree._Element | None) -> str | None:
    """``root`` or ``root^extension``; ``None`` for a missing or nullFlavor id."""
    root = _attr(element, "root")
    if not root:
        return None
    extension = _attr(element, "extension")
    return f"{root}^{extension}" if extension else root


def _code(element: etree._Element | None) -> Code | None:
    if element is None or not _attr(element, "code"):
        return None
    return Code(
        _attr(element, "code"),
        _attr(element, "codeSystem"),
        _attr(element, "displayName"),
        _attr(element, "codeSystemName"),
    )


def _local(element: etree._Element) -> str:
    return etree.QName(element).localname if isinstance(element.tag, str) else ""


def _inline(element: etree._Element) -> str:
    """Text of an inline narrative element; ``<br/>`` → newline, source whitespace collapsed."""
    parts: list[str] = [element.text or ""]
    for child in element:
        if _local(child) == "br":
            parts.append(_BR)
        elif isinstance(child.tag, str):
            parts.append(_inline(child).replace("\n", _BR))
        parts.append(child.tail or "")
    return _inline_from(parts)


def narrative_text(element: etree._Element | None) -> str:
    """A section ``text`` as plain text: one block per paragraph, list item or table row."""
    if element is None:
        return ""
    blocks: list[str] = []
    loose = [element.text or ""]
    for child in element:
        name = _local(child)
        if name in _BLOCKS:
            blocks.append(_inline_from(loose))
            loose = []
            if name == "paragraph":
                blocks.append(_inline(child))
            elif name == "list":
                blocks.extend(_inline(item) for item in _all(child, "h:item"))
            else:
                for row in child.iter(f"{{{NS['h']}}}tr"):
                    cells = [_inline(cell) for cell in row if _local(cell) in ("td", "th")]
                    blocks.append(" | ".join(c for c in cells if c))
            loose.append(child.tail or "")
        elif name == "br":
            loose.append(_BR + (child.tail or ""))
        elif name:
            loose.append(_inline(child).replace("\n", _BR) + (child.tail or ""))
    blocks.append(_inline_from(loose))
    return "\n\n".join(b for b in blocks if b)


def _inline_from(pieces: list[str]) -> str:
    joined = "".join(pieces)
    return "\n".join(" ".join(line.split()) for line in joined.split(_BR)).strip()


def _root(data: bytes, what: str) -> etree._Element:
    root = parse_xml(data, what=what)
    if root.tag != f"{{{NS['h']}}}ClinicalDocument":
        raise CdaError(f"{what}: ClinicalDocument (urn:hl7-org:v3) attendu", code="not_cda")
    return root


def _person(entity: etree._Element | None, person_tag: str, org_tag: str) -> CdaPerson | None:
    if entity is None:
        return None
    ident = _find(entity, "h:id")
    name = _find(entity, f"h:{person_tag}/h:name")
    org = _find(entity, f"h:{org_tag}")
    telecom = _find(entity, "h:telecom")
    return CdaPerson(
        id_root=_attr(ident, "root"),
        national_id=_attr(ident, "extension"),
        family=_text(name, "h:family"),
        given=_text(name, "h:given"),
        prefix=_text(name, "h:prefix"),
        specialty=_code(_find(entity, "h:code")),
        telecom=_attr(telecom, "value"),
        organization_id=_attr(_find(org, "h:id"), "extension"),
        organization_name=_text(org, "h:name"),
    )


def _patient(root: etree._Element) -> CdaPatient:
    role = _find(root, "h:recordTarget/h:patientRole")
    if role is None:
        raise CdaError("recordTarget/patientRole absent", code="patient")
    ids = tuple(
        (_attr(i, "root"), _attr(i, "extension")) for i in _all(role, "h:id") if _attr(i, "root")
    )
    ins_oids = INS_NIR_OIDS | {OID_INS_NIA}
    ins = next(((r, e) for r, e in ids if r in ins_oids), ("", ""))
    ipp = next(((r, e) for r, e in ids if r not in ins_oids and e), ("", ""))
    patient = _find(role, "h:patient")
    name = _find(patient, "h:name")
    given = [g for g in _all(name, "h:given")]
    guardian = _find(patient, "h:guardian/h:guardianPerson/h:name")
    guardian_name = " ".join(
        part
        for part in (
            _text(guardian, "h:prefix"),
            _text(guardian, "h:given"),
            _text(guardian, "h:family"),
        )
        if part
    )
    return CdaPatient(
        ids=ids,
        ins=ins[1],
        ins_oid=ins[0],
        ipp=ipp[1],
        ipp_oid=ipp[0],
        birth_name=_text(name, "h:family[@qualifier='BR']") or _text(name, "h:family"),
        given_names=next((_norm(g) for g in given if not g.get("qualifier")), ""),
        first_given=next((_norm(g) for g in given if g.get("qualifier") == "BR"), ""),
        used_name=_text(name, "h:family[@qualifier='CL']"),
        sex=_attr(_find(patient, "h:administrativeGenderCode"), "code"),
        birth_time=_attr(_find(patient, "h:birthTime"), "value"),
        birthplace=_text(patient, "h:birthplace/h:place/h:addr/h:county"),
        guardian=guardian_name,
    )


def _norm(element: etree._Element) -> str:
    return " ".join("".join(str(t) for t in element.itertext()).split())


def _sections(root: etree._Element) -> tuple[CdaSection, ...]:
    body = _find(root, "h:component/h:structuredBody")
    found: list[CdaSection] = []

    def walk(parent: etree._Element, depth: int) -> None:
        for section in _all(parent, "h:component/h:section"):
            templates = tuple(_attr(t, "root") for t in _all(section, "h:templateId"))
            code = _attr(_find(section, "h:code"), "code")
            kind = next((_TEMPLATE_KIND[t] for t in templates if t in _TEMPLATE_KIND), None)
            found.append(
                CdaSection(
                    code=code,
                    title=_text(section, "h:title"),
                    text=narrative_text(_find(section, "h:text")),
                    kind=kind,
                    template_ids=templates,
                    depth=depth,
                )
            )
            walk(section, depth + 1)

    if body is not None:
        walk(body, 0)
    return tuple(found)


def _pdf(root: etree._Element) -> bytes | None:
    text = _find(root, "h:component/h:nonXMLBody/h:text")
    if text is None or _attr(text, "mediaType") != "application/pdf":
        return None
    if _attr(text, "representation") != "B64":
        raise CdaError("nonXMLBody PDF non encodé en B64", code="pdf")
    payload = "".join((text.text or "").split())
    try:
        return base64.b64decode(payload, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise CdaError(f"nonXMLBody: base64 invalide ({exc})", code="pdf") from None


def _level(root: etree._Element) -> Literal[1, 3]:
    if _find(root, "h:component/h:structuredBody") is not None:
        return 3
    if _find(root, "h:component/h:nonXMLBody") is not None:
        return 1
    raise CdaError("corps du document absent (nonXMLBody ou structuredBody)", code="body")


def _required_id(root: etree._Element, tag: str) -> str:
    value = _ii(_find(root, f"h:{tag}"))
    if value is None:
        raise CdaError(f"{tag} du document absent", code=tag)
    return value


# --- readers --------------------------------------------------------------------------------


def read_cda(data: bytes | etree._Element) -> CdaDocument:
    """Read a CDA R2 document (CR-IMG N1 or N3, or any CI-SIS CDA) into :class:`CdaDocument`.

    ``data`` is the document's bytes or its already parsed root element.
    """
    return _read_cda(data)


def _read_cda(data: bytes | etree._Element, *, header_only: bool = False) -> CdaDocument:
    """:func:`read_cda`; ``header_only`` skips the body (``pdf`` is ``None``, ``sections``
    empty), for callers that only need the header (XDS metadata)."""
    root = data if isinstance(data, etree._Element) else _root(data, "document CDA")
    if root.tag != f"{{{NS['h']}}}ClinicalDocument":
        raise CdaError("document CDA: ClinicalDocument (urn:hl7-org:v3) attendu", code="not_cda")
    document_id = _required_id(root, "id")
    code = _code(_find(root, "h:code"))
    if code is None:
        raise CdaError("code du document absent", code="code")
    version_text = _attr(_find(root, "h:versionNumber"), "value") or "1"
    if not version_text.isdigit():
        raise CdaError(f"versionNumber {version_text!r} invalide", code="version")
    events = [
        e
        for e in _all(root, "h:documentationOf/h:serviceEvent")
        if _attr(_find(e, "h:code"), "code")
    ]
    imaging = [e for e in events if _attr(_find(e, "h:code"), "codeSystem") == OID_LOINC] or events
    translations = [t for e in imaging for t in _all(e, "h:code/h:translation")]
    first = imaging[0] if imaging else None
    order = _find(root, "h:inFulfillmentOf/h:order")
    accession = _find(order, "ps3-20:accessionNumber")
    legal = _find(root, "h:legalAuthenticator/h:assignedEntity")
    referrer = next(
        (
            _find(p, "h:associatedEntity")
            for p in _all(root, "h:participant")
            if p.get("typeCode") == "REF"
        ),
        None,
    )
    custodian = _find(root, "h:custodian/h:assignedCustodian/h:representedCustodianOrganization")
    modalities: list[str] = []
    for translation in translations:
        value = _attr(translation, "code")
        if _attr(translation, "codeSystem") == OID_DICOM_MODALITY and value not in modalities:
            modalities.append(value)
    return CdaDocument(
        level=_level(root),
        document_id=document_id,
        set_id=_ii(_find(root, "h:setId")) or document_id,
        version=int(version_text),
        code=code,
        exam_codes=tuple(c for c in map(_code, _all(root, "h:code/h:translation")) if c),
        title=_text(root, "h:title"),
        effective_time=parse_ts(_attr(_find(root, "h:effectiveTime"), "value")),
        confidentiality=_attr(_find(root, "h:confidentialityCode"), "code"),
        language=_attr(_find(root, "h:languageCode"), "code"),
        template_ids=tuple(_attr(t, "root") for t in _all(root, "h:templateId")),
        patient=_patient(root),
        author=_person(
            _find(root, "h:author/h:assignedAuthor"), "assignedPerson", "representedOrganization"
        ),
        custodian_id=_attr(_find(custodian, "h:id"), "extension"),
        custodian_name=_text(custodian, "h:name"),
        legal_authenticator=_person(legal, "assignedPerson", "representedOrganization"),
        prescriber=_person(referrer, "associatedPerson", "scopingOrganization"),
        placer_order=_ii(_find(order, "h:id")),
        accession_number=_attr(accession, "extension"),
        accession_issuer=_attr(accession, "root"),
        study_instance_uids=tuple(
            uid for uid in (_attr(_find(e, "h:id"), "root") for e in imaging) if uid
        ),
        service_code=_code(_find(first, "h:code")),
        ccam_acts=tuple(
            c for c in map(_code, translations) if c is not None and c.system == OID_CCAM
        ),
        modalities=tuple(modalities),
        anatomical_regions=tuple(
            c for c in map(_code, translations) if c is not None and c.system == OID_SNOMED_CT
        ),
        exam_start=parse_ts(_attr(_find(first, "h:effectiveTime/h:low"), "value")),
        exam_end=parse_ts(_attr(_find(first, "h:effectiveTime/h:high"), "value")),
        facility_type=_code(
            _find(
                root, "h:componentOf/h:encompassingEncounter/h:location/h:healthCareFacility/h:code"
            )
        ),
        related=next(
            (
                _ii(_find(r, "h:parentDocument/h:id"))
                for r in _all(root, "h:relatedDocument")
                if r.get("typeCode") == "RPLC"
            ),
            None,
        ),
        pdf=None if header_only else _pdf(root),
        sections=() if header_only else _sections(root),
    )


_REQUEST_CODE = "55115-0"
_COMMENT_CODE = "48767-8"
_PLAN_TEMPLATE = "1.2.250.1.213.1.1.2.158"
_TOPOGRAPHIC_MODIFIER = "106233006"


def _references(root: etree._Element) -> dict[str, str]:
    return {
        str(e.get("ID")): _inline(e) for e in root.iter() if isinstance(e.tag, str) and e.get("ID")
    }


def _referenced(element: etree._Element | None, ids: dict[str, str]) -> str:
    target = _attr(_find(element, "h:reference"), "value").lstrip("#")
    return ids.get(target, "") if target else _text(element, ".")


def read_da_img(data: bytes) -> ImagingOrderRequest:
    """Read a demande d'acte d'imagerie (IMG-DA-IMG, document code 55115-0)."""
    root = _root(data, "demande d'acte d'imagerie")
    code = _attr(_find(root, "h:code"), "code")
    if code != _REQUEST_CODE:
        raise CdaError(
            f"code de document {code!r}: une demande d'acte d'imagerie a le code 55115-0",
            code="not_da_img",
        )
    ids = _references(root)
    exams: list[RequestedExam] = []
    plan = root.xpath(".//h:section[h:templateId/@root=$t]", namespaces=NS, t=_PLAN_TEMPLATE)
    for section in plan:  # type: ignore[union-attr]
        assert isinstance(section, etree._Element)
        for observation in _all(section, "h:entry/h:observation"):
            exam_code = _code(_find(observation, "h:code"))
            if exam_code is None:
                continue
            site = _find(observation, "h:targetSiteCode")
            laterality = next(
                (
                    _code(_find(q, "h:value"))
                    for q in _all(site, "h:qualifier")
                    if _attr(_find(q, "h:name"), "code") == _TOPOGRAPHIC_MODIFIER
                ),
                None,
            )
            comment = next(
                (
                    _find(act, "h:text")
                    for act in _all(observation, "h:entryRelationship/h:act")
                    if _attr(_find(act, "h:code"), "code") == _COMMENT_CODE
                ),
                None,
            )
            exams.append(
                RequestedExam(
                    exam_code,
                    _code(site),
                    laterality,
                    _referenced(comment, ids) if comment is not None else "",
                )
            )
    sections = _sections(root)
    reason = next((s.text for s in sections if s.code == _REQUEST_CODE), "")
    clinical = next((s.text for s in sections if s.kind is SectionKind.INFORMATIONS_CLINIQUES), "")
    return ImagingOrderRequest(
        document_id=_required_id(root, "id"),
        effective_time=parse_ts(_attr(_find(root, "h:effectiveTime"), "value")),
        title=_text(root, "h:title"),
        placer_order=_ii(_find(root, "h:documentationOf/h:serviceEvent/h:id"))
        or _ii(_find(root, "h:inFulfillmentOf/h:order/h:id")),
        patient=_patient(root),
        prescriber=_person(
            _find(root, "h:author/h:assignedAuthor"), "assignedPerson", "representedOrganization"
        ),
        exams=tuple(exams),
        reason=reason,
        clinical_information=clinical,
        sections=sections,
    )
