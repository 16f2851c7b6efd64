"""The imaging report (compte rendu d'imagerie, CRI): one typed model for the PDF/A, the CDA R2
CR-IMG (N1 and N3), the DMP metadata and the MSSanté mail.

Frozen dataclasses; codes carry their code system OID. :meth:`ImagingReport.from_dict` reads the
JSON a RIS can produce (``segur-ris cri build REPORT.json``); every missing mandatory item raises
:class:`~segur_ris.errors.CdaError` naming it.
"""

from __future__ import annotations

import datetime as _dt
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from segur_ris.errors import CdaError, SegurError
from segur_ris.ins import Ins, PatientIdentity, ProofDocument, parse_matricule

__all__ = [
    "OID_DICOM_MODALITY",
    "OID_LOINC",
    "OID_RPPS",
    "OID_STRUCTURE",
    "Code",
    "Confidentiality",
    "DocumentVersion",
    "Exam",
    "Facility",
    "ImagingReport",
    "Order",
    "Organization",
    "Practitioner",
    "Section",
    "SectionKind",
]

OID_LOINC = "2.16.840.1.113883.6.1"
OID_SNOMED_CT = "2.16.840.1.113883.6.96"
OID_CCAM = "1.2.250.1.215.300.1"
OID_DICOM_MODALITY = "1.2.840.10008.2.16.4"
OID_RPPS = "1.2.250.1.71.4.2.1"  #: national PS identifiers (8 + RPPS, 0 + ADELI)
OID_STRUCTURE = "1.2.250.1.71.4.2.2"  #: structure identifiers (1 + FINESS, 3 + SIRET)
OID_PROFESSION = "1.2.250.1.213.1.1.4.5"  #: TRE_G15 profession/specialty (SM44: radio-diagnostic)
OID_PRACTICE_SETTING = "1.2.250.1.213.1.1.4.9"
OID_FACILITY_TYPE = "1.2.250.1.71.4.2.4"


@dataclass(frozen=True, slots=True)
class Code:
    """A coded value with its code system OID (``display`` is the human label)."""

    code: str
    system: str
    display: str = ""
    system_name: str = ""


#: Médecin, spécialité radio-diagnostic (TRE_G15 ``G15_10/SM44``).
RADIOLOGIST = Code("G15_10/SM44", OID_PROFESSION, "Médecin - Radio-diagnostic (SM)")


@dataclass(frozen=True, slots=True)
class Practitioner:
    """A health professional identified by RPPS (11 digits; the national id is ``8`` + RPPS)."""

    rpps: str
    family: str
    given: str
    specialty: Code = RADIOLOGIST
    prefix: str = ""
    telecom: str = ""  #: e.g. ``mailto:jean.dupont@hopital.mssante.fr``

    def __post_init__(self) -> None:
        if not (self.rpps.isascii() and self.rpps.isdigit() and len(self.rpps) == 11):
            raise CdaError(f"RPPS {self.rpps!r}: 11 chiffres attendus", code="rpps")
        if not self.family.strip():
            raise CdaError("nom du professionnel manquant", code="practitioner")

    @property
    def national_id(self) -> str:
        """Identifier under OID 1.2.250.1.71.4.2.1: ``8`` + RPPS."""
        return "8" + self.rpps


@dataclass(frozen=True, slots=True)
class Organization:
    """A healthcare structure identified by FINESS (9 characters) or SIRET (14 digits)."""

    identifier: str
    name: str
    id_type: str = "FINESS"
    address: str = ""
    telecom: str = ""

    def __post_init__(self) -> None:
        expected = {"FINESS": 9, "SIRET": 14}.get(self.id_type)
        if expected is None:
            raise CdaError(f"type d'identifiant de structure {self.id_type!r} (FINESS, SIRET)")
        if len(self.identifier) != expected or not self.identifier.isascii():
            raise CdaError(
                f"{self.id_type} {self.identifier!r}: {expected} caractères attendus",
                code="structure",
            )
        if not self.name.strip():
            raise CdaError("nom de la structure manquant", code="structure")

    @property
    def structure_id(self) -> str:
        """Identifier under OID 1.2.250.1.71.4.2.2: ``1`` + FINESS or ``3`` + SIRET."""
        return ("1" if self.id_type == "FINESS" else "3") + self.identifier


DEFAULT_FACILITY_TYPE = Code("SA07", OID_FACILITY_TYPE, "Cabinet de radiologie")
DEFAULT_PRACTICE_SETTING = Code("AMBULATOIRE", OID_PRACTICE_SETTING, "Ambulatoire")


@dataclass(frozen=True, slots=True)
class Facility:
    """Where the exam took place: structure, healthcareFacilityTypeCode, practiceSettingCode."""

    organization: Organization
    facility_type: Code = DEFAULT_FACILITY_TYPE
    practice_setting: Code = DEFAULT_PRACTICE_SETTING


@dataclass(frozen=True, slots=True)
class Exam:
    """The imaging exam: accession number and issuer, Study Instance UID, codes, dates."""

    accession_number: str
    accession_issuer: str  #: OID of the accession number issuer
    study_instance_uid: str
    modalities: tuple[str, ...]  #: DICOM modality codes (``CT``, ``MR``, ``US``, ``DX``…)
    exam_code: Code  #: LOINC exam code (e.g. ``24627-2`` CT chest)
    start: _dt.datetime
    end: _dt.datetime | None = None
    ccam_acts: tuple[Code, ...] = ()
    anatomical_region: Code | None = None  #: SNOMED CT

    def __post_init__(self) -> None:
        if not self.accession_number or not self.accession_issuer:
            raise CdaError("numéro d'accession et son émetteur requis", code="accession")
        uid = self.study_instance_uid
        if not uid or len(uid) > 64 or not all(c.isdigit() or c == "." for c in uid):
            raise CdaError(f"Study Instance UID {uid!r} invalide", code="study_uid")
        if not self.modalities:
            raise CdaError("au moins une modalité DICOM est requise", code="modality")
        if self.start.tzinfo is None:
            raise CdaError("date d'examen sans fuseau horaire", code="time")


@dataclass(frozen=True, slots=True)
class Order:
    """The order (demande d'examen): placer number and issuer, filler number, prescriber."""

    placer_number: str
    placer_issuer: str  #: OID of the placer order number issuer
    filler_number: str = ""
    prescriber: Practitioner | None = None
    reason: str = ""


class SectionKind(StrEnum):
    """Report sections (N3 LOINC codes; N1 renders them in the PDF)."""

    INFORMATIONS_CLINIQUES = "55752-0"
    JUSTIFICATION = "55115-0"
    ANTECEDENTS = "11329-0"
    TECHNIQUE = "55111-9"
    COMPLICATIONS = "55109-3"
    EXPOSITION = "73569-6"
    RESULTATS = "59776-5"
    COMPARAISONS = "18834-2"
    CONCLUSION = "19005-8"
    ADDENDUM = "55107-7"


@dataclass(frozen=True, slots=True)
class Section:
    """A report section; ``text`` is plain text, paragraphs separated by blank lines."""

    kind: SectionKind
    text: str
    title: str = ""  #: overrides the default title of the kind


@dataclass(frozen=True, slots=True)
class Confidentiality:
    """Confidentiality (HL7 ``N`` by default) and the DMP visibility flags."""

    code: str = "N"
    masque_ps: bool = False
    invisible_patient: bool = False
    invisible_representants_legaux: bool = False


@dataclass(frozen=True, slots=True)
class DocumentVersion:
    """``setId``/``versionNumber``; ``replaces`` is the id (root or root^extension) of the
    document a new version replaces (relatedDocument RPLC)."""

    set_id: str
    number: int = 1
    replaces: str | None = None

    def __post_init__(self) -> None:
        if self.number < 1 or (self.number > 1) != (self.replaces is not None):
            raise CdaError("une version > 1 remplace un document (replaces), la version 1 non")


def new_oid_id() -> str:
    """A unique document id as an OID under 2.25 (UUID-derived), as DICOM and IHE allow."""
    return f"2.25.{uuid.uuid4().int}"


@dataclass(frozen=True, slots=True)
class ImagingReport:
    """A compte rendu d'imagerie (everything the PDF, the CDA and the DMP metadata need)."""

    patient: PatientIdentity
    exam: Exam
    author: Practitioner
    custodian: Organization
    facility: Facility
    sections: tuple[Section, ...]
    effective_time: _dt.datetime
    document_id: str = field(default_factory=new_oid_id)
    version: DocumentVersion | None = None  #: None: version 1 with setId = document_id
    order: Order | None = None
    legal_authenticator: Practitioner | None = None  #: None: the author signs
    ipp: str = ""
    ipp_oid: str = ""
    confidentiality: Confidentiality = Confidentiality()
    title: str = "Compte rendu d'imagerie médicale"
    language: str = "fr-FR"

    def __post_init__(self) -> None:
        if not isinstance(self.patient, PatientIdentity):
            raise CdaError("patient: PatientIdentity attendu", code="patient")
        if not any(s.kind is SectionKind.CONCLUSION for s in self.sections):
            raise CdaError("le compte rendu doit comporter une conclusion", code="sections")
        if self.effective_time.tzinfo is None:
            raise CdaError("date du document sans fuseau horaire", code="time")
        if bool(self.ipp) != bool(self.ipp_oid):
            raise CdaError("l'IPP va avec l'OID de son domaine", code="ipp")

    @property
    def signer(self) -> Practitioner:
        return self.legal_authenticator or self.author

    @property
    def document_version(self) -> DocumentVersion:
        return self.version or DocumentVersion(set_id=self.document_id)

    def section(self, kind: SectionKind) -> Section | None:
        return next((s for s in self.sections if s.kind is kind), None)

    # --- JSON ----------------------------------------------------------------------------------

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ImagingReport:
        """Read the JSON form (see ``examples/report.json``); :class:`CdaError` names what is
        missing or invalid."""
        try:
            return _from_dict(data)
        except SegurError as exc:
            raise CdaError(f"compte rendu invalide: {exc}", code=exc.code) from None
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise CdaError(f"compte rendu invalide: {type(exc).__name__}: {exc}") from None


def _code(data: Mapping[str, Any] | None) -> Code | None:
    if data is None:
        return None
    return Code(str(data["code"]), str(data["system"]), str(data.get("display", "")))


def _when(value: str) -> _dt.datetime:
    moment = _dt.datetime.fromisoformat(value)
    if moment.tzinfo is None:
        raise CdaError(f"date {value!r} sans fuseau horaire (ex. 2026-11-24T10:30:00+01:00)")
    return moment


def _practitioner(data: Mapping[str, Any] | None) -> Practitioner | None:
    if data is None:
        return None
    specialty = _code(data.get("specialty")) or RADIOLOGIST
    return Practitioner(
        str(data["rpps"]),
        str(data["family"]),
        str(data["given"]),
        specialty,
        str(data.get("prefix", "")),
        str(data.get("telecom", "")),
    )


def _organization(data: Mapping[str, Any]) -> Organization:
    return Organization(
        str(data["identifier"]),
        str(data["name"]),
        str(data.get("id_type", "FINESS")),
        str(data.get("address", "")),
        str(data.get("telecom", "")),
    )


def _patient(data: Mapping[str, Any]) -> PatientIdentity:
    from segur_ris.ins import IdentityTraits

    traits = IdentityTraits.create(
        data["nom_naissance"],
        data["prenoms"],
        data["sexe"],
        data["date_naissance"],
        data.get("lieu_naissance"),
    )
    identity = PatientIdentity(traits=traits)
    ins = data.get("ins")
    if ins:
        identity = identity.with_insi_result(
            Ins(parse_matricule(ins["matricule"]), ins["oid"]), traits
        )
    proof = data.get("justificatif")
    if proof:
        identity = identity.with_proof(ProofDocument(proof), minor=bool(data.get("mineur")))
    return identity


def _sections(items: Sequence[Mapping[str, Any]]) -> tuple[Section, ...]:
    return tuple(
        Section(SectionKind[str(s["kind"]).upper()], str(s["text"]), str(s.get("title", "")))
        for s in items
    )


def _from_dict(data: Mapping[str, Any]) -> ImagingReport:
    exam = data["exam"]
    author = _practitioner(data["author"])
    assert author is not None
    facility = data["facility"]
    version = data.get("version")
    order = data.get("order")
    return ImagingReport(
        patient=_patient(data["patient"]),
        exam=Exam(
            accession_number=str(exam["accession_number"]),
            accession_issuer=str(exam["accession_issuer"]),
            study_instance_uid=str(exam["study_instance_uid"]),
            modalities=tuple(exam["modalities"]),
            exam_code=_code(exam["exam_code"]),  # type: ignore[arg-type]
            start=_when(exam["start"]),
            end=_when(exam["end"]) if exam.get("end") else None,
            ccam_acts=tuple(c for c in map(_code, exam.get("ccam_acts", [])) if c),
            anatomical_region=_code(exam.get("anatomical_region")),
        ),
        author=author,
        custodian=_organization(data["custodian"]),
        facility=Facility(
            _organization(facility["organization"]),
            _code(facility.get("facility_type")) or DEFAULT_FACILITY_TYPE,
            _code(facility.get("practice_setting")) or DEFAULT_PRACTICE_SETTING,
        ),
        sections=_sections(data["sections"]),
        effective_time=_when(data["effective_time"]),
        document_id=str(data.get("document_id") or new_oid_id()),
        version=DocumentVersion(
            str(version["set_id"]), int(version.get("number", 1)), version.get("replaces")
        )
        if version
        else None,
        order=Order(
            str(order["placer_number"]),
            str(order["placer_issuer"]),
            str(order.get("filler_number", "")),
            _practitioner(order.get("prescriber")),
            str(order.get("reason", "")),
        )
        if order
        else None,
        legal_authenticator=_practitioner(data.get("legal_authenticator")),
        ipp=str(data.get("ipp", "")),
        ipp_oid=str(data.get("ipp_oid", "")),
        confidentiality=Confidentiality(**data.get("confidentiality", {})),
        title=str(data.get("title", "Compte rendu d'imagerie médicale")),
    )
