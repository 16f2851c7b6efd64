"""HL7 v2 messages of a French RIS: ACK, ZAM business acks, CDA reports (ORU/MDM), PAM FR ADT,
teleradiology orders (ORM/OMI).

Inputs are frozen dataclasses checked when created, outputs are message bytes; nothing here does
I/O. The rules of the ANS volet *Transmission de document(s) CDA en HL7v2* v2.1 hold by
construction: ORC-1, OBX-11 and the MDM trigger all derive from one :class:`DocumentAction`;
the MetaDMPMSS OBX are written in their fixed order; the INS is written only for a qualified
identity (PAM FR §6.6.1), and PID-32 is always present.
"""

from __future__ import annotations

import base64
import datetime as _dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Literal, Protocol, runtime_checkable

from segur_ris.codes import HL7_TABLE_0357
from segur_ris.errors import Hl7Error, Hl7ParseError, InsNotQualifiedError
from segur_ris.hl7v2._build import (
    AssigningAuthority,
    CodedValue,
    Component,
    EntityId,
    FieldValue,
    Identifier,
    MessageHeader,
    Repeated,
    build_message,
    build_msh,
    build_segment,
    field_value,
    hl7_datetime,
)
from segur_ris.hl7v2._er7 import Message, parse_message
from segur_ris.hl7v2._volet import METADMPMSS_CODES
from segur_ris.ins import Ins, InsKind, PatientIdentity, hl7_pid32, to_hl7_pid3
from segur_ris.ins import to_mssante_patient_address as _patient_address

__all__ = [
    "CDA_PROFILE",
    "DOCUMENT_TYPE_CR_IMAGERIE",
    "META_DMP_MSS_ORDER",
    "PAM_FR_PROFILE",
    "PAM_FR_VERSION",
    "TLR_PROFILE",
    "AckCode",
    "Author",
    "CdaTransmission",
    "DmpStatus",
    "DocumentAction",
    "DocumentFlags",
    "DocumentId",
    "ErrDetail",
    "ErrSource",
    "IdentityComplement",
    "ImagingOrder",
    "Movement",
    "OrderControl",
    "Organization",
    "Practitioner",
    "Recipient",
    "Visit",
    "ZamKind",
    "build_ack",
    "build_adt",
    "build_cda_mdm",
    "build_cda_oru",
    "build_error_ack",
    "build_omi",
    "build_orm",
    "build_zam",
    "ins_identifier",
]

#: MSH-21 of the volet *Transmission de document(s) CDA en HL7v2* v2.1.
CDA_PROFILE = ("2.1", "CISIS_CDA_HL7_V2")
#: MSH-12 of IHE PAM national extension France 2.11.
PAM_FR_VERSION = ("2.5", "FRA", "2.11")
#: MSH-21 of the PAM FR 2.11 samples.
PAM_FR_PROFILE = ("2.11", "IHE_FRANCE-2.11-PAM")
#: MSH-21 of the ANS teleradiology volet.
TLR_PROFILE = ("1.0", "CISIS_TLR_HL7_V2")
#: Default document type (OBR-4, OBX-3, TXA-2): CR d'imagerie médicale.
DOCUMENT_TYPE_CR_IMAGERIE = CodedValue("18748-4", "CR d'imagerie médicale", "LN")

_PS_AUTHORITY = AssigningAuthority.iso("1.2.250.1.71.4.2.1", "ASIP-SANTE-PS")
_ST_AUTHORITY = AssigningAuthority.iso("1.2.250.1.71.4.2.2", "ASIP-SANTE-ST")
_YES_NO = "expandedYes-NoIndicator"


def _yn(flag: bool) -> tuple[str, str, str]:
    return ("Y" if flag else "N", "", _YES_NO)


def _text(value: object, name: str, *, required: bool = True) -> None:
    if value is None and not required:
        return
    if not isinstance(value, str) or (required and not value):
        raise Hl7Error(f"{name}: texte non vide attendu, pas {value!r}")


# --- acknowledgements -------------------------------------------------------------------------

AckCode = Literal["AA", "AE", "AR", "CA", "CE", "CR"]
_ACK_CODES = frozenset({"AA", "AE", "AR", "CA", "CE", "CR"})


@runtime_checkable
class ErrSource(Protocol):
    """Anything that can describe one ERR segment (e.g. a conformance finding).

    ``err_fields()`` returns the ERR field values, either as a mapping from field number to
    :data:`~segur_ris.hl7v2.FieldValue` or as the sequence of ERR-1, ERR-2, … values.
    """

    def err_fields(self) -> Mapping[int, FieldValue] | Sequence[FieldValue]: ...


@dataclass(frozen=True, slots=True)
class ErrDetail:
    """One ERR segment (HL7 2.5+).

    ERR-2 ``segment^sequence^field^repetition^component`` (``sequence``: 1-based occurrence
    of the segment), ERR-3 ``code^text^condition_table`` (HL7 table 0357 by default; the text
    defaults to the table's), ERR-4 ``severity`` ``E``/``W``/``I``, ERR-5
    ``application_code^application_text^application_table`` (e.g. ``902^patient inconnu``),
    ERR-7 ``diagnostic``, ERR-8 ``user_message``.
    """

    code: str = "207"
    text: str | None = None
    severity: Literal["E", "W", "I"] = "E"
    segment: str | None = None
    sequence: int | None = None
    field: int | None = None
    repetition: int | None = None
    component: int | None = None
    application_code: str | None = None
    application_text: str | None = None
    application_table: str | None = None
    diagnostic: str | None = None
    user_message: str | None = None
    condition_table: str = "HL70357"

    def __post_init__(self) -> None:
        _text(self.code, "ERR-3 code")
        if self.severity not in ("E", "W", "I"):
            raise Hl7Error(f"ERR-4 sévérité {self.severity!r}: E, W ou I attendu")
        for name in ("sequence", "field", "repetition", "component"):
            value = getattr(self, name)
            if value is not None and (type(value) is not int or value < 1):
                raise Hl7Error(f"ERR-2 {name}: entier >= 1 attendu, pas {value!r}")

    def err_fields(self) -> dict[int, FieldValue]:
        """ERR field values by field number."""
        location: FieldValue = None
        if self.segment:
            location = tuple(
                None if v is None else str(v)
                for v in (
                    self.segment,
                    self.sequence,
                    self.field,
                    self.repetition,
                    self.component,
                )
            )
        text = self.text if self.text is not None else HL7_TABLE_0357.get(self.code, "")
        application: FieldValue = None
        if self.application_code or self.application_text:
            application = (
                self.application_code,
                self.application_text,
                self.application_table,
            )
        return {
            2: location,
            3: (self.code, text, self.condition_table),
            4: self.severity,
            5: application,
            7: self.diagnostic,
            8: self.user_message,
        }


def _err_segment(source: ErrSource) -> str:
    if not isinstance(source, ErrSource):
        raise Hl7Error(f"ErrDetail ou objet avec err_fields() attendu, pas {type(source).__name__}")
    return build_segment("ERR", source.err_fields())


def _copy(message: Message, field: int) -> FieldValue:
    return field_value(message.msh, field)


def build_ack(
    original: Message,
    code: AckCode,
    *,
    errors: Sequence[ErrSource] = (),
    text: str | None = None,
    sending_application: str | None = None,
    sending_facility: str | None = None,
    control_id: str | None = None,
    timestamp: _dt.datetime | None = None,
    charset: str | None = None,
) -> bytes:
    """The acknowledgement of ``original``.

    MSH: sender and receiver swapped (``sending_*`` override the new MSH-3/4), MSH-9
    ``ACK^<event>^ACK``, same MSH-11, MSH-12 and MSH-18 as the original (``charset``
    overrides it); MSA-1 ``code``, MSA-2 the original MSH-10, MSA-3 ``text``; one ERR per item
    of ``errors`` (:class:`ErrDetail` or any :class:`ErrSource`).
    """
    if code not in _ACK_CODES:
        raise Hl7Error(f"code d'acquittement {code!r} invalide (AA, AE, AR, CA, CE, CR)")
    msh = original.msh
    header = MessageHeader(
        charset=charset or msh.get(18) or "UNICODE UTF-8",
        control_id=control_id,
        timestamp=timestamp,
        processing_id=msh.get(11, 1) or "P",
    )
    endpoints = (
        sending_application if sending_application is not None else _copy(original, 5),
        sending_facility if sending_facility is not None else _copy(original, 6),
        _copy(original, 3),
        _copy(original, 4),
    )
    line = build_msh(
        header,
        ("ACK", msh.get(9, 2), "ACK"),
        _copy(original, 12),
        country=msh.get(17) or None,
        endpoints=endpoints,
    )
    segments = [
        line,
        build_segment("MSA", [code, original.control_id, text]),
        *(_err_segment(e) for e in errors),
    ]
    return build_message(segments)


def build_error_ack(data: bytes, exc: Exception) -> bytes:
    """An ``AR``/``AE`` ACK for a message whose processing raised ``exc`` (fits the MLLP
    server's ``error_ack``).

    :class:`~segur_ris.errors.Hl7ParseError` (or ``data`` not readable at all) → ``AR`` with
    its 0357 code and location; another :class:`~segur_ris.errors.Hl7Error` with a 0357 code →
    ``AE`` with that code; anything else → ``AE`` ``207`` with a generic text (the text of an
    unexpected exception is never sent to the peer). When ``data`` has no readable MSH, or its
    MSH cannot be echoed, MSA-2 is empty.
    """
    try:
        original = parse_message(data)
        original.msh.get(10)
    except Hl7ParseError as parse_error:
        original = _BLANK_ORIGINAL
        if not isinstance(exc, Hl7ParseError):
            exc = parse_error
    code: AckCode
    if isinstance(exc, Hl7ParseError):
        code = "AR"
        detail = ErrDetail(
            code=exc.code if exc.code in HL7_TABLE_0357 else "100",
            segment=exc.segment,
            field=exc.field,
            sequence=1 if exc.segment else None,
            diagnostic=exc.message,
        )
    else:
        code = "AE"
        if isinstance(exc, Hl7Error):
            detail = ErrDetail(
                code=exc.code if exc.code in HL7_TABLE_0357 else "207", diagnostic=exc.message
            )
        else:
            detail = ErrDetail(code="207", diagnostic="erreur interne du récepteur")
    try:
        return build_ack(original, code, errors=[detail])
    except Hl7Error:  # the original MSH cannot be echoed (charset): answer with a blank one
        return build_ack(_BLANK_ORIGINAL, code, errors=[detail])


_BLANK_ORIGINAL = parse_message(b"MSH|^~\\&|||||||ACK||P|2.5")


# --- ZAM business acknowledgements (PFI → RIS) -----------------------------------------------


class ZamKind(StrEnum):
    """The ZAM events: DMP reception, MSSanté reception, MSSanté read acknowledgement."""

    DMP_RECEPTION = "Z01"
    MSS_RECEPTION = "Z02"
    MSS_READ = "Z03"


_ZAM_ACK = {
    ZamKind.DMP_RECEPTION: ("ACK_RECEPTION_DMP", "Accusé de réception DMP"),
    ZamKind.MSS_RECEPTION: ("ACK_RECEPTION_MSS", "Accusé de réception MSSanté"),
    ZamKind.MSS_READ: ("ACK_LECTURE_MSS", "Accusé de lecture"),
}
_ZAM_PERSON = {
    ZamKind.MSS_RECEPTION: ("DESTINATAIRE_MSS", "Destinataire MSSanté"),
    ZamKind.MSS_READ: ("LECTEUR_MSS", "Lecteur du courriel MSSanté"),
}


def build_zam(
    original: Message,
    kind: ZamKind | Literal["Z01", "Z02", "Z03"],
    *,
    success: bool = True,
    mss_address: str | None = None,
    mss_person_id: str | None = None,
    error_code: str | None = None,
    error_text: str | None = None,
    header: MessageHeader | None = None,
    event_time: _dt.datetime | None = None,
) -> bytes:
    """The business acknowledgement ``ZAM^<kind>^ZAM_Z01`` of ``original`` (a CDA ORU/MDM), as
    the PFI sends it back to the RIS (for tests and simulators).

    OBX 1 (``AckMetierZAM``): ``success`` as ``Y``/``N``, OBX-4 = original MSH-10. Z02/Z03 add
    the MSSanté recipient/reader (``mss_address``, OBX-4 ``mss_person_id``) as an XTN OBX.
    On failure, ERR-5 carries ``error_code^error_text`` from table ``DMPERRORCODE`` (Z01, e.g.
    ``DMPClosed^DMP fermé``) or ``SMTPERRORCODE`` (Z02, e.g. ``550``). MSH sender/receiver
    are swapped from the original unless ``header`` gives them (its control id, timestamp and
    charset are used too).
    """
    try:
        kind = ZamKind(kind)
    except ValueError:
        raise Hl7Error(f"ZAM {kind!r} inconnu (Z01, Z02, Z03)") from None
    if kind is not ZamKind.DMP_RECEPTION:
        _text(mss_address, "adresse MSSanté du destinataire")
    if success and (error_code or error_text):
        raise Hl7Error("un accusé positif ne porte pas de code d'erreur")
    msh = original.msh
    base = header or MessageHeader(charset=msh.get(18) or "UNICODE UTF-8")
    swapped = None
    if header is None:
        swapped = [_copy(original, n) for n in (5, 6, 3, 4)]
    line = build_msh(
        base, ("ZAM", kind.value, "ZAM_Z01"), "2.6", profile=CDA_PROFILE, endpoints=swapped
    )
    code, label = _ZAM_ACK[kind]
    segments = [
        line,
        build_segment("EVN", {2: hl7_datetime(event_time)}),
        build_segment(
            "OBX",
            {
                1: "1",
                2: "CWE",
                3: (code, label, "AckMetierZAM"),
                4: original.control_id,
                5: _yn(success),
                11: "F",
            },
        ),
    ]
    if kind in _ZAM_PERSON:
        pcode, plabel = _ZAM_PERSON[kind]
        segments.append(
            build_segment(
                "OBX",
                {
                    1: "2",
                    2: "XTN",
                    3: (pcode, plabel, "AckMetierZAM"),
                    4: mss_person_id,
                    5: ("", "", "X.400", mss_address),
                    11: "F",
                },
            )
        )
    if not success:
        table = "DMPERRORCODE" if kind is ZamKind.DMP_RECEPTION else "SMTPERRORCODE"
        segments.append(
            _err_segment(
                ErrDetail(
                    code="207",
                    condition_table="messageErrorCondition",
                    application_code=error_code,
                    application_text=error_text,
                    application_table=table if error_code or error_text else None,
                )
            )
        )
    return build_message(segments)


# --- shared patient / visit segments ----------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Visit:
    """PV1: patient class (``I``, ``O``, ``E``, ``R``, ``N``…), visit number (PV1-19, CX ``VN``),
    admission date (PV1-44)."""

    patient_class: str = "O"
    visit_number: Identifier | None = None
    admit_time: _dt.datetime | None = None

    def __post_init__(self) -> None:
        _text(self.patient_class, "PV1-2")
        if self.patient_class in ("E", "I", "O", "R") and self.visit_number is None:
            raise Hl7Error(f"PV1-19 requis pour la classe de patient {self.patient_class}")


def _pid_segment(
    patient: PatientIdentity,
    *,
    ipp_authority: AssigningAuthority | None,
    ins_oid: str | None,
    account_number: Identifier | None,
    extra_identifiers: Sequence[Identifier] = (),
) -> str:
    if not isinstance(patient, PatientIdentity):
        raise Hl7Error(f"PatientIdentity attendu, pas {type(patient).__name__}")
    pid3: list[Sequence[Component]] = []
    if patient.ipp:
        pid3.append(Identifier(patient.ipp, ipp_authority, "PI").cx())
    if patient.is_qualified:  # PAM FR §6.6.1: the INS only for a qualified identity
        pid3.append(tuple(c.split("&") for c in to_hl7_pid3(patient, oid=ins_oid).split("^")))
    pid3.extend(i.cx() for i in extra_identifiers)
    if not pid3:
        raise Hl7Error("PID-3: ni IPP ni INS qualifiée à transmettre", code="101")
    traits = patient.traits
    fields: dict[int, FieldValue] = {
        1: "1",
        3: Repeated(*pid3),
        5: (traits.nom_naissance, traits.premier_prenom, traits.liste_prenoms, "", "", "", "L"),
        7: traits.date_naissance.hl7(),
        8: traits.sexe.value,
        11: ("", "", "", "", "", "", "BDL", "", traits.lieu_naissance)
        if traits.lieu_naissance
        else None,
        18: account_number.cx() if account_number else None,
        32: Repeated(*hl7_pid32(patient)),
    }
    return build_segment("PID", fields)


def _pv1_segment(visit: Visit | None) -> str:
    if visit is None:
        return build_segment("PV1", {1: "1", 2: "N"})
    return build_segment(
        "PV1",
        {
            1: "1",
            2: visit.patient_class,
            19: visit.visit_number.cx() if visit.visit_number else None,
            44: hl7_datetime(visit.admit_time) if visit.admit_time else None,
        },
    )


# --- CDA documents: ORU^R01 (2.5) and MDM^T02/T10/T04 (2.6) -----------------------------------


class DocumentAction(StrEnum):
    """What the message asks for the document; fixes ORC-1, OBX-11 and the MDM trigger."""

    INITIAL = "initial"
    REPLACE = "replace"
    DELETE = "delete"

    @property
    def order_control(self) -> str:
        """ORC-1: ``NW``, ``RO``, ``CA``."""
        return {"initial": "NW", "replace": "RO", "delete": "CA"}[self.value]

    @property
    def result_status(self) -> str:
        """OBX-11 of the document: ``F``, ``C``, ``D``."""
        return {"initial": "F", "replace": "C", "delete": "D"}[self.value]

    @property
    def mdm_trigger(self) -> str:
        """MDM event: ``T02``, ``T10``, ``T04``."""
        return {"initial": "T02", "replace": "T10", "delete": "T04"}[self.value]


@dataclass(frozen=True, slots=True)
class DocumentId:
    """A CDA document id (``ClinicalDocument/id``); TXA-12 ``extension^^root^ISO`` or ``root``."""

    root: str
    extension: str | None = None

    def __post_init__(self) -> None:
        _text(self.root, "identifiant de document (root)")
        _text(self.extension, "identifiant de document (extension)", required=False)

    def ei(self) -> tuple[str, ...]:
        if self.extension:
            return (self.extension, "", self.root, "ISO")
        return (self.root,)


@dataclass(frozen=True, slots=True)
class Practitioner:
    """A health professional as an XCN: ``id^family^given^^^^^^ASIP-SANTE-PS&…&ISO^D^^^<id_type>``
    (``RPPS``, or ``IDNPS`` for the ``8``-prefixed national id, ``ADELI``)."""

    id: str
    family: str = ""
    given: str = ""
    id_type: str = "RPPS"

    def __post_init__(self) -> None:
        _text(self.id, "identifiant du professionnel")

    def xcn(self) -> tuple[Component, ...]:
        return (
            self.id,
            self.family,
            self.given,
            "",
            "",
            "",
            "",
            "",
            _PS_AUTHORITY.parts(),
            "D",
            "",
            "",
            self.id_type,
        )


@dataclass(frozen=True, slots=True)
class Organization:
    """A healthcare organisation as an XON: ``name^^^^^ASIP-SANTE-ST&…&ISO^<id_type>^^^<id>``
    (``FINEG`` FINESS géographique, ``FINEJ`` juridique, ``SIRET``…)."""

    name: str
    id: str
    id_type: str = "FINEG"

    def __post_init__(self) -> None:
        _text(self.name, "nom de la structure")
        _text(self.id, "identifiant de la structure")

    def xon(self) -> tuple[Component, ...]:
        return (self.name, "", "", "", "", _ST_AUTHORITY.parts(), self.id_type, "", "", self.id)


@dataclass(frozen=True, slots=True)
class Author:
    """The sender of the document (PRT ``SB``): required by the PFI for the DMP (VIHF token,
    submission-set author)."""

    person: Practitioner
    organization: Organization


@dataclass(frozen=True, slots=True)
class Recipient:
    """A professional MSSanté recipient (PRT ``RCT``): mailbox ``address`` (PRT-15), optional
    person (PRT-5) and organisation (PRT-8)."""

    address: str
    person: Practitioner | None = None
    organization: Organization | None = None

    def __post_init__(self) -> None:
        _text(self.address, "adresse MSSanté")
        if "@" not in self.address:
            raise Hl7Error(f"adresse MSSanté invalide {self.address!r}")


#: MetaDMPMSS codes and labels, in the order of the volet (never change it).
META_DMP_MSS_ORDER: tuple[tuple[str, str], ...] = tuple((c.code, c.label) for c in METADMPMSS_CODES)


@dataclass(frozen=True, slots=True)
class DocumentFlags:
    """The MetaDMPMSS flags of a document.

    ``dest_mssante_ps`` ``None`` means "yes if there are professional recipients";
    ``patient_no_reply`` adds ``NTE|1|||FIN|`` (the patient may not answer the mail);
    ``corps_mail_ps``/``corps_mail_patient`` are mail bodies (sent base64, UTF-8).
    """

    masque_ps: bool = False
    invisible_patient: bool = False
    invisible_rep_legaux: bool = False
    connexion_secrete: bool = False
    modif_conf_code: bool = False
    dest_dmp: bool = True
    dest_mssante_ps: bool | None = None
    dest_mssante_pat: bool = False
    patient_no_reply: bool = False
    ack_reception: bool = False
    ack_lecture_mss: bool = False
    corps_mail_ps: str | None = None
    corps_mail_patient: str | None = None

    def __post_init__(self) -> None:
        for name in (
            "masque_ps",
            "invisible_patient",
            "invisible_rep_legaux",
            "connexion_secrete",
            "modif_conf_code",
            "dest_dmp",
            "dest_mssante_pat",
            "patient_no_reply",
            "ack_reception",
            "ack_lecture_mss",
        ):
            if not isinstance(getattr(self, name), bool):
                raise Hl7Error(f"MetaDMPMSS {name}: booléen attendu")
        if self.dest_mssante_ps is not None and not isinstance(self.dest_mssante_ps, bool):
            raise Hl7Error("MetaDMPMSS dest_mssante_ps: booléen ou None attendu")
        _text(self.corps_mail_ps, "corps_mail_ps", required=False)
        _text(self.corps_mail_patient, "corps_mail_patient", required=False)
        if self.masque_ps and self.dest_mssante_ps:
            raise Hl7Error(
                "un document masqué aux professionnels ne peut pas leur être envoyé par MSSanté",
                code="masque_ps_mssante_ps",
            )
        if self.invisible_patient and self.dest_mssante_pat:
            raise Hl7Error(
                "un document invisible pour le patient ne peut pas lui être envoyé par MSSanté",
                code="invisible_patient_mssante_pat",
            )
        if self.patient_no_reply and not self.dest_mssante_pat:
            raise Hl7Error("NTE FIN sans envoi au patient (dest_mssante_pat)", code="nte_fin")


@dataclass(frozen=True, slots=True)
class CdaTransmission:
    """One CDA document to hand to the PFI (ORU^R01 or MDM).

    ``cda`` is the document bytes (sent base64); ``document_id`` its ``ClinicalDocument/id``
    (TXA-12) and ``parent_id`` the replaced one (``relatedDocument``, TXA-13: required to
    replace). The patient's INS is written only if the identity is qualified (``ins_oid``:
    the OID of the target environment, e.g. ``…4.10`` for the DMP test platforms). Raises
    :class:`~segur_ris.errors.Hl7Error` for the combinations the volet forbids.
    """

    patient: PatientIdentity
    cda: bytes
    document_id: DocumentId
    author: Author
    action: DocumentAction = DocumentAction.INITIAL
    parent_id: DocumentId | None = None
    document_type: CodedValue = DOCUMENT_TYPE_CR_IMAGERIE
    recipients: tuple[Recipient, ...] = ()
    reply_to: str | None = None
    flags: DocumentFlags = field(default_factory=DocumentFlags)
    visit: Visit | None = None
    ipp_authority: AssigningAuthority | None = None
    account_number: Identifier | None = None
    ins_oid: str | None = None
    document_time: _dt.datetime | None = None
    placer_order: EntityId | None = None
    filler_order: EntityId | None = None
    header: MessageHeader = field(default_factory=MessageHeader)

    def __post_init__(self) -> None:
        if not isinstance(self.patient, PatientIdentity):
            raise Hl7Error(f"patient: PatientIdentity attendu, pas {type(self.patient).__name__}")
        if not isinstance(self.cda, bytes) or not self.cda:
            raise Hl7Error("cda: octets du document CDA attendus")
        try:
            object.__setattr__(self, "action", DocumentAction(self.action))
        except ValueError:
            raise Hl7Error(f"action {self.action!r}: initial, replace ou delete") from None
        object.__setattr__(self, "recipients", tuple(self.recipients))
        if not isinstance(self.author, Author):
            raise Hl7Error("author: Author attendu (PRT SB requis par la PFI)")
        if self.action is DocumentAction.REPLACE and self.parent_id is None:
            raise Hl7Error("remplacement sans identifiant du document remplacé (parent_id)")
        if self.action is DocumentAction.INITIAL and self.parent_id is not None:
            raise Hl7Error("une transmission initiale n'a pas de document parent")
        flags = self.flags
        if flags.dest_mssante_ps is False and self.recipients:
            raise Hl7Error("destinataires MSSanté donnés mais DESTMSSANTEPS = N")
        if flags.dest_mssante_ps and not self.recipients:
            raise Hl7Error("DESTMSSANTEPS = Y sans destinataire (Recipient)")
        if flags.masque_ps and self.recipients:
            raise Hl7Error(
                "un document masqué aux professionnels ne peut pas leur être envoyé par MSSanté",
                code="masque_ps_mssante_ps",
            )
        if (flags.dest_mssante_pat or flags.dest_dmp) and not self.patient.is_qualified:
            raise Hl7Error(
                "DMP et messagerie du patient exigent une identité qualifiée (INS)",
                code="ins_not_qualified",
            )
        _text(self.reply_to, "reply_to", required=False)

    @property
    def sends_to_ps(self) -> bool:
        """DESTMSSANTEPS."""
        return bool(self.recipients)


def _ed(data: bytes, subtype: str | None, mdm: bool) -> tuple[str, ...]:
    return ("", "text" if mdm else "TEXT", subtype or "", "Base64", base64.b64encode(data).decode())


def _prt(
    role: tuple[str, str],
    *,
    person: FieldValue = None,
    org: FieldValue = None,
    address: str | None = None,
) -> str:
    return build_segment(
        "PRT",
        {
            2: "UC",
            4: (*role, "participation"),
            5: person,
            8: org,
            15: ("", "", "X.400", address) if address else None,
        },
    )


def _document_segments(doc: CdaTransmission, *, mdm: bool) -> list[str]:
    """OBX of the document, PRT, then the MetaDMPMSS OBX in their fixed order."""
    status = doc.action.result_status
    segments = [
        build_segment(
            "OBX",
            {1: "1", 2: "ED", 3: doc.document_type.ce(), 5: _ed(doc.cda, "XML", mdm), 11: status},
        ),
        _prt(("SB", "Send by"), person=doc.author.person.xcn(), org=doc.author.organization.xon()),
    ]
    for rcpt in doc.recipients:
        segments.append(
            _prt(
                ("RCT", "Results Copies To"),
                person=rcpt.person.xcn() if rcpt.person else None,
                org=rcpt.organization.xon() if rcpt.organization else None,
                address=rcpt.address,
            )
        )
    flags = doc.flags
    if flags.dest_mssante_pat:
        try:
            ins = doc.patient.qualified_ins()
            address = _patient_address(doc.patient)
        except InsNotQualifiedError as exc:  # pragma: no cover - refused in __post_init__
            raise Hl7Error(str(exc), code="ins_not_qualified") from None
        namespace = "ASIP-SANTE-INS-NIA" if ins.kind is InsKind.NIA else "ASIP-SANTE-INS-NIR"
        oid = doc.ins_oid or ins.oid
        traits = doc.patient.traits
        person = (
            *(ins.value, traits.nom_naissance, traits.premier_prenom, "", "", "", "", ""),
            *((namespace, oid, "ISO"), "L", "", "", "INS"),
        )
        segments.append(_prt(("RCT", "Results Copies To"), person=person, address=address))
    if doc.reply_to:
        segments.append(_prt(("REPLY", "Reply To"), address=doc.reply_to))
    values = {
        "MASQUE_PS": flags.masque_ps,
        "INVISIBLE_PATIENT": flags.invisible_patient,
        "INVISIBLE_REP_LEGAUX": flags.invisible_rep_legaux,
        "CONNEXION_SECRETE": flags.connexion_secrete,
        "MODIF_CONF_CODE": flags.modif_conf_code,
        "DESTDMP": flags.dest_dmp,
        "DESTMSSANTEPS": doc.sends_to_ps,
        "DESTMSSANTEPAT": flags.dest_mssante_pat,
        "ACK_RECEPTION": flags.ack_reception,
        "ACK_LECTURE_MSS": flags.ack_lecture_mss,
    }
    bodies = {"CORPSMAIL_PS": flags.corps_mail_ps, "CORPSMAIL_PATIENT": flags.corps_mail_patient}
    set_id = 1
    for code, label in META_DMP_MSS_ORDER:
        obx: dict[int, FieldValue] = {3: (code, label, "MetaDMPMSS"), 11: "F"}
        if code in values:
            obx.update({2: "CWE" if mdm else "CE", 5: _yn(values[code])})
        elif bodies[code] is not None:
            obx.update({2: "ED", 5: _ed(str(bodies[code]).encode("utf-8"), None, mdm)})
        else:
            continue
        set_id += 1
        obx[1] = str(set_id)
        segments.append(build_segment("OBX", obx))
        if code == "DESTMSSANTEPAT" and flags.patient_no_reply:
            segments.append(build_segment("NTE", {1: "1", 4: "FIN"}))
    return segments


def _patient_segments(doc: CdaTransmission) -> list[str]:
    return [
        _pid_segment(
            doc.patient,
            ipp_authority=doc.ipp_authority,
            ins_oid=doc.ins_oid,
            account_number=doc.account_number,
        ),
        _pv1_segment(doc.visit),
    ]


def _order_segments(doc: CdaTransmission) -> list[str]:
    placer = doc.placer_order.ei() if doc.placer_order else None
    filler = doc.filler_order.ei() if doc.filler_order else None
    return [
        build_segment("ORC", [doc.action.order_control, placer, filler]),
        build_segment(
            "OBR",
            {
                1: "1",
                2: placer,
                3: filler,
                4: doc.document_type.ce(),
                7: hl7_datetime(doc.document_time) if doc.document_time else None,
            },
        ),
    ]


def build_cda_oru(doc: CdaTransmission) -> bytes:
    """``ORU^R01^ORU_R01`` (HL7 2.5) carrying ``doc`` to the PFI: MSH, PID, PV1, ORC, OBR, OBX
    (ED ``^TEXT^XML^Base64^…``), PRT SB/RCT/REPLY, MetaDMPMSS OBX (type ``CE``)."""
    msh = build_msh(doc.header, ("ORU", "R01", "ORU_R01"), "2.5", profile=CDA_PROFILE)
    segments = [msh, *_patient_segments(doc), *_order_segments(doc)]
    segments += _document_segments(doc, mdm=False)
    return build_message(segments)


def build_cda_mdm(doc: CdaTransmission) -> bytes:
    """``MDM^T02|T10|T04^MDM_T02`` (HL7 2.6) carrying ``doc`` to the PFI: MSH, EVN, PID, PV1,
    ORC, OBR, TXA, OBX (ED ``^text^XML^Base64^…``), PRT, MetaDMPMSS OBX (type ``CWE``)."""
    trigger = doc.action.mdm_trigger
    msh = build_msh(doc.header, ("MDM", trigger, "MDM_T02"), "2.6", profile=CDA_PROFILE)
    txa = build_segment(
        "TXA",
        {
            1: "1",
            2: doc.document_type.code,
            3: "TEXT",
            4: hl7_datetime(doc.document_time) if doc.document_time else None,
            12: doc.document_id.ei(),
            13: doc.parent_id.ei() if doc.parent_id else None,
            17: "AU",
            22: doc.author.person.xcn(),
        },
    )
    evn = build_segment("EVN", {2: hl7_datetime(doc.header.timestamp)})
    segments = [msh, evn, *_patient_segments(doc), *_order_segments(doc), txa]
    segments += _document_segments(doc, mdm=True)
    return build_message(segments)


# --- PAM FR 2.11 ADT ----------------------------------------------------------------------------

_ADT_STRUCTURES = {
    "A01": "ADT_A01",
    "A02": "ADT_A02",
    "A03": "ADT_A03",
    "A04": "ADT_A01",
    "A05": "ADT_A05",
    "A06": "ADT_A06",
    "A07": "ADT_A06",
    "A11": "ADT_A09",
    "A12": "ADT_A12",
    "A13": "ADT_A01",
    "A28": "ADT_A05",
    "A31": "ADT_A05",
    "A38": "ADT_A38",
    "A40": "ADT_A39",
    "A47": "ADT_A30",
    "Z99": "ADT_A01",
}
_NO_PV1 = frozenset({"A47"})
_OPTIONAL_PV1 = frozenset({"A40"})
_MRG_EVENTS = frozenset({"A40", "A47"})


@dataclass(frozen=True, slots=True)
class Movement:
    """ZBE (action on a movement): id (ZBE-1 EI), start (ZBE-2), action ``INSERT``/``UPDATE``/
    ``CANCEL`` (ZBE-4), historic ``Y``/``N`` (ZBE-5), original trigger (ZBE-6, for UPDATE/
    CANCEL), UF médicale/soins (ZBE-7/8 as ``(label, code)``), nature (ZBE-9)."""

    movement_id: EntityId
    start: _dt.datetime
    action: Literal["INSERT", "UPDATE", "CANCEL"] = "INSERT"
    historic: bool = False
    original_trigger: str | None = None
    uf_medicale: tuple[str, str] | None = None
    uf_soins: tuple[str, str] | None = None
    uf_authority: AssigningAuthority | None = None
    nature: str = "HMS"

    def __post_init__(self) -> None:
        if self.action not in ("INSERT", "UPDATE", "CANCEL"):
            raise Hl7Error(f"ZBE-4 {self.action!r}: INSERT, UPDATE ou CANCEL attendu")
        if self.action != "INSERT" and not self.original_trigger:
            raise Hl7Error("ZBE-6 (événement d'origine) requis pour UPDATE/CANCEL")

    def _uf(self, uf: tuple[str, str] | None) -> FieldValue:
        if uf is None:
            return None
        auth = self.uf_authority.parts() if self.uf_authority else None
        return (uf[0], "", "", "", "", auth, "UF", "", "", uf[1])

    def segment(self) -> str:
        return build_segment(
            "ZBE",
            {
                1: self.movement_id.ei(),
                2: hl7_datetime(self.start),
                4: self.action,
                5: "Y" if self.historic else "N",
                6: self.original_trigger,
                7: self._uf(self.uf_medicale),
                8: self._uf(self.uf_soins),
                9: self.nature,
            },
        )


@dataclass(frozen=True, slots=True)
class DmpStatus:
    """ZFA (DMP status and consents): status ``ACTIF``/``FERME``/``INEXISTANT``, feeding
    consent ``NA``/``IO``/``INO``, consultation consent ``NA``/``INC``/``IC``, with dates."""

    status: Literal["ACTIF", "FERME", "INEXISTANT"]
    status_date: _dt.datetime | None = None
    closure_date: _dt.datetime | None = None
    feeding: Literal["NA", "IO", "INO"] | None = None
    feeding_date: _dt.datetime | None = None
    consultation: Literal["NA", "INC", "IC"] | None = None
    consultation_date: _dt.datetime | None = None

    def segment(self) -> str:
        def ts(value: _dt.datetime | None) -> str | None:
            return hl7_datetime(value) if value else None

        return build_segment(
            "ZFA",
            {
                1: self.status,
                2: ts(self.status_date),
                3: ts(self.closure_date),
                9: self.feeding,
                10: ts(self.feeding_date),
                11: self.consultation,
                12: ts(self.consultation_date),
            },
        )


@dataclass(frozen=True, slots=True)
class IdentityComplement:
    """ZFD (demographic complement): SMS consent (ZFD-3), identity obtained by (ZFD-5 ``INSI``,
    ``CV``…), INSi query date (ZFD-6), proof document (ZFD-7: the identity's when ``None``),
    proof expiry (ZFD-8)."""

    sms_consent: bool | None = None
    birth_date_corrected: bool | None = None
    obtained_by: str | None = None
    insi_query_date: _dt.date | None = None
    proof_document: str | None = None
    proof_expiry: _dt.date | None = None

    def segment(self, patient: PatientIdentity) -> str:
        def yn(flag: bool | None) -> str | None:
            return None if flag is None else ("Y" if flag else "N")

        proof = self.proof_document or (patient.proof.value if patient.proof else None)
        return build_segment(
            "ZFD",
            {
                3: yn(self.sms_consent),
                4: yn(self.birth_date_corrected),
                5: self.obtained_by,
                6: hl7_datetime(self.insi_query_date) if self.insi_query_date else None,
                7: proof,
                8: hl7_datetime(self.proof_expiry) if self.proof_expiry else None,
            },
        )


def build_adt(
    event: str,
    patient: PatientIdentity,
    *,
    header: MessageHeader | None = None,
    ipp_authority: AssigningAuthority | None = None,
    ins_oid: str | None = None,
    account_number: Identifier | None = None,
    extra_identifiers: Sequence[Identifier] = (),
    visit: Visit | None = None,
    movement: Movement | None = None,
    dmp: DmpStatus | None = None,
    complement: IdentityComplement | None = None,
    merged: Sequence[Identifier] = (),
    event_time: _dt.datetime | None = None,
    profile: FieldValue = PAM_FR_PROFILE,
) -> bytes:
    """A PAM FR 2.11 ADT message (``MSH-12 = 2.5^FRA^2.11``): MSH, EVN, PID (PID-32 always),
    PV1 (``N`` when no visit; none for A47), ZBE ``movement``, ZFA ``dmp``, ZFD
    ``complement``, and MRG (``merged``: the prior identifiers, required for A40/A47).

    ``extra_identifiers`` are appended to PID-3 (e.g. the ``""`` INS of an A47 deletion).
    A08 is not used in France (A31 / Z99 instead) and is refused like unknown events.
    """
    structure = _ADT_STRUCTURES.get(event)
    if structure is None:
        raise Hl7Error(
            f"événement ADT {event!r} non pris en charge ({', '.join(sorted(_ADT_STRUCTURES))})",
            code="201",
        )
    if event in _MRG_EVENTS and not merged:
        raise Hl7Error(f"ADT^{event}: MRG-1 (identifiants antérieurs) requis", code="101")
    if merged and event not in _MRG_EVENTS:
        raise Hl7Error(f"ADT^{event}: pas de segment MRG", code="100")
    if event == "A47" and (visit or movement):
        raise Hl7Error("ADT^A47 (ADT_A30) ne porte pas de venue", code="100")
    header = header or MessageHeader()
    segments = [
        build_msh(header, ("ADT", event, structure), PAM_FR_VERSION, profile=profile),
        build_segment(
            "EVN",
            {
                2: hl7_datetime(header.timestamp),
                6: hl7_datetime(event_time) if event_time else None,
            },
        ),
        _pid_segment(
            patient,
            ipp_authority=ipp_authority,
            ins_oid=ins_oid,
            account_number=account_number,
            extra_identifiers=extra_identifiers,
        ),
    ]
    if merged:
        segments.append(build_segment("MRG", [Repeated(*(m.cx() for m in merged))]))
    if event not in _NO_PV1 and (visit is not None or event not in _OPTIONAL_PV1):
        segments.append(_pv1_segment(visit))
    if movement is not None:
        segments.append(movement.segment())
    if dmp is not None:
        segments.append(dmp.segment())
    if complement is not None:
        segments.append(complement.segment(patient))
    return build_message(segments)


def ins_identifier(ins: Ins) -> Identifier:
    """The CX of an INS (any status: for MRG-1 of an A47, not for PID-3)."""
    namespace = "ASIP-SANTE-INS-NIA" if ins.kind is InsKind.NIA else "ASIP-SANTE-INS-NIR"
    return Identifier(ins.value, AssigningAuthority.iso(ins.oid, namespace), "INS")


# --- radiology orders: ORM^O01 (teleradiology) and OMI^O23 ------------------------------------


class OrderControl(StrEnum):
    """ORC-1 of an imaging order: new, cancel, status report (teleradiology flux 4)."""

    NEW = "NW"
    CANCEL = "CA"
    STATUS = "SR"


_TLR_PROCEDURES = {
    OrderControl.NEW: CodedValue(
        "TRANSMISSION_DEMANDE",
        "Transmission d’une demande d’examen d'imagerie",
        "TLR_OBR_PROCEDURE",
    ),
    OrderControl.CANCEL: CodedValue(
        "ANNULATION_DEMANDE", "Annulation d’une demande d’examen", "TLR_OBR_PROCEDURE"
    ),
    OrderControl.STATUS: CodedValue(
        "COMPLEMENT_POST_ACTE",
        "Transmission d'un complément d’information post-examen",
        "TLR_OBR_PROCEDURE",
    ),
}
_MODALITY = (
    "MODALITE_IMAGERIE",
    "Modalité d’imagerie utilisée ou prévue pour réaliser l’examen",
    "TLR_OBSERVATION",
)
_EXAM_CODE = ("CODE_ACTE_IMAGERIE", "Code de l'acte d'imagerie réalisée", "TLR_OBSERVATION")


@dataclass(frozen=True, slots=True)
class ImagingOrder:
    """An imaging order (teleradiology volet flavour, HL7 2.5.1).

    ``placer_order`` → ORC-2/OBR-2; ``procedure`` → OBR-4 (default: the TLR code of
    ``control``); ``accession_number`` → OBR-18 (ORM) and IPC-1 (OMI); ``modality`` (DICOM,
    e.g. ``CodedValue("MR", "IRM", "DCM")``) → OBX ``MODALITE_IMAGERIE``; ``exam_code`` →
    OBX ``CODE_ACTE_IMAGERIE`` (OMI). OMI also needs ``requested_procedure_id``,
    ``study_instance_uid`` and ``scheduled_step_id`` (IPC-2..4).
    """

    patient: PatientIdentity
    placer_order: EntityId
    control: OrderControl = OrderControl.NEW
    procedure: CodedValue | None = None
    accession_number: EntityId | None = None
    modality: CodedValue | None = None
    exam_code: CodedValue | None = None
    ordering_provider: Practitioner | None = None
    ordering_facility: Organization | None = None
    clinical_info: str | None = None
    cancel_reason: str | None = None
    order_time: _dt.datetime | None = None
    scheduled_time: _dt.datetime | None = None
    requested_procedure_id: EntityId | None = None
    study_instance_uid: str | None = None
    scheduled_step_id: EntityId | None = None
    visit: Visit | None = None
    ipp_authority: AssigningAuthority | None = None
    account_number: Identifier | None = None
    ins_oid: str | None = None
    version: str = "2.5.1"
    profile: FieldValue = TLR_PROFILE
    header: MessageHeader = field(default_factory=MessageHeader)

    def __post_init__(self) -> None:
        try:
            object.__setattr__(self, "control", OrderControl(self.control))
        except ValueError:
            raise Hl7Error(f"ORC-1 {self.control!r}: NW, CA ou SR attendu") from None
        if not isinstance(self.placer_order, EntityId):
            raise Hl7Error("placer_order: EntityId attendu")
        if self.cancel_reason and self.control is not OrderControl.CANCEL:
            raise Hl7Error("cancel_reason (ORC-16) seulement pour une annulation (CA)")


def _order_common(order: ImagingOrder, message_type: tuple[str, str, str]) -> list[str]:
    provider = order.ordering_provider.xcn() if order.ordering_provider else None
    return [
        build_msh(order.header, message_type, order.version, profile=order.profile),
        _pid_segment(
            order.patient,
            ipp_authority=order.ipp_authority,
            ins_oid=order.ins_oid,
            account_number=order.account_number,
        ),
        _pv1_segment(order.visit),
        build_segment(
            "ORC",
            {
                1: order.control.value,
                2: order.placer_order.ei(),
                9: hl7_datetime(order.order_time) if order.order_time else None,
                12: provider,
                16: ("", order.cancel_reason) if order.cancel_reason else None,
                21: order.ordering_facility.xon() if order.ordering_facility else None,
            },
        ),
    ]


def _obr(order: ImagingOrder, *, accession: bool) -> str:
    procedure = order.procedure or _TLR_PROCEDURES[order.control]
    return build_segment(
        "OBR",
        {
            1: "1",
            2: order.placer_order.ei(),
            4: procedure.ce(),
            13: order.clinical_info,
            16: order.ordering_provider.xcn() if order.ordering_provider else None,
            18: order.accession_number.value if accession and order.accession_number else None,
        },
    )


def build_orm(order: ImagingOrder) -> bytes:
    """``ORM^O01^ORM_O01``: MSH, PID, PV1, ORC (``NW``/``CA``), OBR (procedure, accession in
    OBR-18), OBX ``MODALITE_IMAGERIE`` (status ``O``) when a modality is given."""
    segments = _order_common(order, ("ORM", "O01", "ORM_O01"))
    segments.append(_obr(order, accession=True))
    if order.modality is not None:
        segments.append(
            build_segment("OBX", {1: "1", 2: "CE", 3: _MODALITY, 5: order.modality.ce(), 11: "O"})
        )
    return build_message(segments)


def build_omi(order: ImagingOrder) -> bytes:
    """``OMI^O23^OMI_O23``: MSH, PID, PV1, ORC, TQ1 (``scheduled_time``), OBR, OBX
    (``CODE_ACTE_IMAGERIE``, ``MODALITE_IMAGERIE``), IPC (accession, requested procedure,
    study instance UID, scheduled step, modality)."""
    missing = [
        name
        for name in (
            "accession_number",
            "requested_procedure_id",
            "study_instance_uid",
            "scheduled_step_id",
        )
        if not getattr(order, name)
    ]
    if missing:
        raise Hl7Error(f"OMI^O23: IPC incomplet, manque {', '.join(missing)}", code="101")
    assert order.accession_number and order.requested_procedure_id and order.scheduled_step_id
    segments = _order_common(order, ("OMI", "O23", "OMI_O23"))
    if order.scheduled_time is not None:
        segments.append(build_segment("TQ1", {1: "1", 7: hl7_datetime(order.scheduled_time)}))
    segments.append(_obr(order, accession=False))
    set_id = 0
    for code, value in ((_EXAM_CODE, order.exam_code), (_MODALITY, order.modality)):
        if value is not None:
            set_id += 1
            segments.append(
                build_segment("OBX", {1: str(set_id), 2: "CE", 3: code, 5: value.ce(), 11: "F"})
            )
    segments.append(
        build_segment(
            "IPC",
            {
                1: order.accession_number.ei(),
                2: order.requested_procedure_id.ei(),
                3: order.study_instance_uid,
                4: order.scheduled_step_id.ei(),
                5: order.modality.ce() if order.modality else None,
            },
        )
    )
    return build_message(segments)
