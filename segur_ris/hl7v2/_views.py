"""Message views for a RIS: typed access to ADT, orders, results, documents and acks.

:func:`read_message` picks a view class from MSH-9.1. A view never loses anything:
:attr:`Hl7View.message` is the lossless :class:`~segur_ris.hl7v2.Message` and every segment,
known or not, stays reachable. Views are cheap to build (one thin object per segment); OBX-5
values, base64 documents included, are decoded only when read, then cached.

**Patient identity and the French INS rule (PAM FR §6.6.1).** The INS is present in PID-3
only when the sender's identity is *qualifiée*, which PID-32 ``VALI`` states; a receiver
getting an INS without ``VALI`` integrates the message **without** the INS.
:func:`patient_identity` applies the rule and returns a :class:`ReceivedIdentity`:

* ``status`` is the status the *sender* declares, :func:`segur_ris.ins.status_from_hl7`
  (``VALI`` + INS kept → ``QUALIFIEE``);
* ``identity`` is a :class:`segur_ris.ins.PatientIdentity` holding only the facts the receiver
  actually has: the traits, the INS (when kept) with ``insi_verified=True`` (a qualified
  identity was verified by the INSi at the sender), the ZFD-7 document when it is a high-trust
  one, the PID-32 attributes and the IPP. Its *local* RNIV status is therefore often
  ``RECUPEREE``: the receiver did not see the identity document. Whether to trust the sender's
  qualification (same identity domain) is the application's decision, made explicit by reading
  ``status`` / :meth:`ReceivedIdentity.qualified_ins`; nothing is invented to force
  ``QUALIFIEE`` locally;
* an INS dropped (no ``VALI``, ``DOUT``/``FICT``, invalid matricule) is reported in
  ``ins_dropped_reason`` and by an :class:`InsDroppedWarning`;
* traits that cannot be normalised for the INS (digits in a name, sex ``U``, no ``L`` name…)
  give ``traits=None``, ``identity=None`` and ``traits_error``; reading never fails on them
  (:func:`segur_ris.hl7v2.check_message` reports them as a warning finding).
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import cached_property
from typing import TypeVar

from segur_ris.errors import (
    Hl7ParseError,
    IdentityTraitsError,
    InsNotQualifiedError,
    InvalidMatriculeError,
)
from segur_ris.hl7v2._er7 import Message, Segment, parse_message
from segur_ris.hl7v2._segments import (
    ErrView,
    EvnView,
    IpcView,
    MrgView,
    MsaView,
    MshView,
    NteView,
    ObrView,
    ObxView,
    OrcView,
    PidView,
    PrtView,
    Pv1View,
    SegmentView,
    TxaView,
    ZbeView,
    ZfaView,
    ZfdView,
    _yes_no,
    ins_of_cx,
    view_segment,
)
from segur_ris.hl7v2._types import CWE, CX, ED, XTN
from segur_ris.hl7v2._volet import METADMPMSS_CODES
from segur_ris.ins import (
    IdentityAttribute,
    IdentityStatus,
    IdentityTraits,
    Ins,
    InsKind,
    PatientIdentity,
    ProofDocument,
    attributes_from_hl7,
    mask_matricule,
    status_from_hl7,
)

__all__ = [
    "ADT_CANCELS",
    "KNOWN_ADT_TRIGGERS",
    "METADMPMSS_FLAGS",
    "VIEW_CLASSES",
    "ZAM_KINDS",
    "AckMessage",
    "AdtMessage",
    "DocumentMessage",
    "Hl7View",
    "InsDroppedWarning",
    "MetaDmpMss",
    "OrderGroup",
    "OrderMessage",
    "ReceivedIdentity",
    "ResultMessage",
    "ZamMessage",
    "patient_identity",
    "read_message",
]

V = TypeVar("V", bound=SegmentView)


class InsDroppedWarning(UserWarning):
    """An INS was present in PID-3 but not kept (no PID-32 ``VALI``, identity douteuse or
    fictive, invalid matricule); the message is integrated without it (PAM FR §6.6.1)."""


# --- patient identity ------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ReceivedIdentity:
    """The patient identity of a received message, with the PAM FR INS rule applied.

    See the module documentation for the meaning of ``status`` (declared by the sender) versus
    ``identity`` (the receiver's facts).
    """

    status: IdentityStatus
    traits: IdentityTraits | None
    ins: Ins | None
    identity: PatientIdentity | None
    pid32: tuple[str, ...] = ()
    attributes: frozenset[IdentityAttribute] = field(default_factory=frozenset)
    ipp: CX | None = None
    nda: CX | None = None
    ins_dropped_reason: str | None = None
    traits_error: str | None = None
    mode_obtention_identite: str = ""

    @property
    def is_qualified(self) -> bool:
        """Whether the sender declares the identity *qualifiée* (PID-32 ``VALI`` + INS)."""
        return self.status is IdentityStatus.QUALIFIEE

    def qualified_ins(self) -> Ins:
        """The INS qualified at the sender; :class:`InsNotQualifiedError` otherwise."""
        if self.ins is None or not self.is_qualified:
            raise InsNotQualifiedError(
                f"identité reçue au statut {self.status.value!r}: pas d'INS qualifié"
            )
        return self.ins


def _pick_ins(pid: PidView) -> tuple[Ins | None, str | None]:
    """The INS of PID-3 (NIR preferred) or ``None`` and why not, when one was sent."""
    candidates = pid.ins_identifiers
    if not candidates:
        return None, None
    valid: list[Ins] = []
    problems: list[str] = []
    for cx in candidates:
        try:
            valid.append(ins_of_cx(cx))
        except InvalidMatriculeError as exc:
            problems.append(f"{mask_matricule(cx.id)} ({exc.rule})")
    if not valid:
        return None, "INS invalide en PID-3: " + "; ".join(problems)
    valid.sort(key=lambda ins: ins.kind is not InsKind.NIR)
    return valid[0], None


def _traits(pid: PidView) -> IdentityTraits:
    name = pid.birth_name
    if name is None or not name.family:
        raise IdentityTraitsError("PID-5: pas de nom de naissance (type L)", field="nom_naissance")
    first_names = name.birth_first_names
    if not first_names:
        raise IdentityTraitsError("PID-5: pas de prénom de naissance", field="prenoms")
    birth = pid.get(7).strip()[:8]
    if not birth:
        raise IdentityTraitsError("PID-7: date de naissance absente", field="date_naissance")
    return IdentityTraits.create(
        name.family, list(first_names), pid.sex, birth, pid.birth_place_cog
    )


def _proof(code: str) -> ProofDocument | None:
    try:
        proof = ProofDocument(code.strip().upper())
    except ValueError:
        return None
    return proof if proof.high_trust else None


def patient_identity(source: Message | Hl7View, *, warn: bool = True) -> ReceivedIdentity | None:
    """The :class:`ReceivedIdentity` of the first PID, or ``None`` without PID.

    Emits :class:`InsDroppedWarning` (unless ``warn`` is false) when an INS is not kept.
    """
    view = source if isinstance(source, Hl7View) else read_message(source)
    pid = view.pid
    if pid is None:
        return None
    pid32 = tuple(pid.identity_reliability)
    sent, reason = _pick_ins(pid)
    status = status_from_hl7(sent is not None, pid32)
    ins: Ins | None = None
    if sent is not None:
        if status is IdentityStatus.QUALIFIEE:
            ins = sent
        else:
            shown = "~".join(pid32) if pid32 else "absent"
            if "VALI" in pid32:
                why = "identité douteuse ou fictive"
            else:
                why = "identité non qualifiée chez l'émetteur"
            reason = (
                f"INS {mask_matricule(sent.value)} ignoré: PID-32 {shown} ({why}); "
                "message intégré sans l'INS (PAM FR §6.6.1)"
            )
    if ins is None:
        status = status_from_hl7(False, pid32)
    if reason and warn:
        warnings.warn(reason, InsDroppedWarning, stacklevel=2)
    attributes = attributes_from_hl7(pid32)
    traits: IdentityTraits | None = None
    traits_error: str | None = None
    try:
        traits = _traits(pid)
    except IdentityTraitsError as exc:
        traits_error = f"{exc.field}: {exc.message}"
    zfd = view.first(ZfdView)
    proof = _proof(zfd.justificatif_identite) if zfd is not None else None
    ipp = pid.ipp
    identity = None
    if traits is not None:
        identity = PatientIdentity(
            traits,
            ins=ins,
            insi_verified=ins is not None,
            proof=proof,
            attributes=attributes,
            ipp=ipp.id if ipp is not None else None,
        )
    return ReceivedIdentity(
        status=status,
        traits=traits,
        ins=ins,
        identity=identity,
        pid32=pid32,
        attributes=attributes,
        ipp=ipp,
        nda=pid.nda,
        ins_dropped_reason=reason,
        traits_error=traits_error,
        mode_obtention_identite=zfd.mode_obtention_identite if zfd is not None else "",
    )


# --- MetaDMPMSS --------------------------------------------------------------------------------

#: MetaDMPMSS flag code → :class:`MetaDmpMss` attribute, in the order the volet requires.
METADMPMSS_FLAGS: dict[str, str] = {c.code: c.attribute for c in METADMPMSS_CODES if c.flag}


def _ed_text(obx: ObxView) -> str | None:
    """An ED OBX decoded to text (UTF-8, else Latin-9); ``None`` when undecodable."""
    try:
        value = obx.value
    except Hl7ParseError:
        return None
    if isinstance(value, bytes):
        try:
            return value.decode("utf-8")
        except UnicodeDecodeError:
            return value.decode("iso8859-15")
    return value if isinstance(value, str) else None


@dataclass(frozen=True, slots=True)
class MetaDmpMss:
    """The ``MetaDMPMSS`` OBX of a CDA transmission (volet ANS 2.1): DMP visibility and
    MSSanté routing. Flags are ``None`` when the OBX is absent; ``raw`` keeps every code seen
    (OBX-5.1, or the ED data for ``CORPSMAIL_*``) so unknown future codes are never lost.
    A ``CORPSMAIL_*`` body whose base64 cannot be decoded gives ``None`` (its raw data stays in
    ``raw``; :func:`check_message` reports it)."""

    masque_ps: bool | None = None
    invisible_patient: bool | None = None
    invisible_rep_legaux: bool | None = None
    connexion_secrete: bool | None = None
    modif_conf_code: bool | None = None
    dest_dmp: bool | None = None
    dest_mssante_ps: bool | None = None
    dest_mssante_pat: bool | None = None
    ack_reception: bool | None = None
    ack_lecture_mss: bool | None = None
    fin: bool = False
    corps_mail_ps: str | None = None
    corps_mail_patient: str | None = None
    raw: dict[str, str] = field(default_factory=dict)
    codes: tuple[str, ...] = ()

    @classmethod
    def from_segments(cls, views: tuple[SegmentView, ...]) -> MetaDmpMss | None:
        """Read the MetaDMPMSS OBX (and the ``NTE`` ``FIN`` after ``DESTMSSANTEPAT``)."""
        values: dict[str, object] = {}
        raw: dict[str, str] = {}
        codes: list[str] = []
        last = ""
        for view in views:
            if isinstance(view, ObxView):
                last = ""
                if not view.is_meta_dmp_mss:
                    continue
                code = view.code.strip().upper()
                last = code
                codes.append(code)
                ed = view.encapsulated
                raw[code] = ed.data if ed is not None else view.text_value
                attr = METADMPMSS_FLAGS.get(code)
                if attr is not None:
                    values[attr] = _yes_no(view.text_value)
                elif code == "CORPSMAIL_PS":
                    values["corps_mail_ps"] = _ed_text(view)
                elif code == "CORPSMAIL_PATIENT":
                    values["corps_mail_patient"] = _ed_text(view)
            elif isinstance(view, NteView):
                if last == "DESTMSSANTEPAT" and view.comment_type.strip().upper() == "FIN":
                    values["fin"] = True
            elif view.segment.name not in ("PRT",):
                last = ""
        if not codes:
            return None
        return cls(**values, raw=raw, codes=tuple(codes))  # type: ignore[arg-type]


# --- base view -----------------------------------------------------------------------------------


class Hl7View:
    """Any message: header, typed segments, patient. Subclasses add message-specific access."""

    def __init__(self, message: Message) -> None:
        if not isinstance(message, Message):
            raise Hl7ParseError(f"Message attendu, pas {type(message).__name__}", code="207")
        self.message = message

    @cached_property
    def typed_segments(self) -> tuple[SegmentView, ...]:
        """One typed view per segment, in order (built once: OBX caches are shared)."""
        return tuple(view_segment(seg) for seg in self.message.segments)

    def all(self, cls: type[V]) -> list[V]:
        """Every view of class ``cls`` (``view.all(ObxView)``)."""
        return [v for v in self.typed_segments if isinstance(v, cls)]

    def first(self, cls: type[V]) -> V | None:
        """The first view of class ``cls``, or ``None``."""
        return next((v for v in self.typed_segments if isinstance(v, cls)), None)

    @property
    def segments(self) -> tuple[Segment, ...]:
        return self.message.segments

    @property
    def segment_names(self) -> list[str]:
        return [seg.name for seg in self.message.segments]

    @cached_property
    def msh(self) -> MshView:
        return MshView(self.message.msh)

    @property
    def message_type(self) -> str:
        return self.msh.message_type

    @property
    def trigger(self) -> str:
        return self.msh.trigger_event

    @property
    def control_id(self) -> str:
        return self.msh.control_id

    @property
    def pid(self) -> PidView | None:
        return self.first(PidView)

    @property
    def pv1(self) -> Pv1View | None:
        return self.first(Pv1View)

    @cached_property
    def patient(self) -> ReceivedIdentity | None:
        """The PID identity with the INS rule applied (warns once when an INS is dropped)."""
        return patient_identity(self)

    def __iter__(self) -> Iterator[SegmentView]:
        return iter(self.typed_segments)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.message_type!r}, control_id={self.control_id!r})"


# --- ADT -----------------------------------------------------------------------------------------

#: ADT triggers of PAM FR 2.11 a RIS reads (ITI-30 and ITI-31); others are still readable.
KNOWN_ADT_TRIGGERS = frozenset(
    {
        "A01", "A02", "A03", "A04", "A05", "A06", "A07", "A11", "A12", "A13", "A14", "A15",
        "A16", "A21", "A22", "A25", "A26", "A27", "A28", "A31", "A38", "A40", "A44", "A47",
        "A52", "A53", "A54", "A55", "Z99",
    }
)  # fmt: skip

#: Cancel trigger → the triggers it cancels (PAM FR insert/cancel pairs).
ADT_CANCELS: dict[str, tuple[str, ...]] = {
    "A11": ("A01", "A04"),
    "A12": ("A02",),
    "A13": ("A03",),
    "A38": ("A05",),
    "A27": ("A14",),
    "A26": ("A15",),
    "A25": ("A16",),
    "A52": ("A21",),
    "A53": ("A22",),
    "A55": ("A54",),
}


class AdtMessage(Hl7View):
    """ADT (PAM FR): EVN, PID, PV1, MRG and the French Z-segments.

    Unknown triggers are read like the others (:attr:`known_trigger` is then false): PAM FR
    lets the *application* ignore them, the parser never fails on them.
    """

    @property
    def evn(self) -> EvnView | None:
        return self.first(EvnView)

    @property
    def mrg(self) -> MrgView | None:
        return self.first(MrgView)

    @property
    def zbe(self) -> ZbeView | None:
        return self.first(ZbeView)

    @property
    def zfa(self) -> ZfaView | None:
        return self.first(ZfaView)

    @property
    def zfd(self) -> ZfdView | None:
        return self.first(ZfdView)

    @property
    def known_trigger(self) -> bool:
        return self.trigger in KNOWN_ADT_TRIGGERS

    @property
    def cancels(self) -> tuple[str, ...]:
        """The triggers this message cancels (``A11`` → ``A01``/``A04``), else ``()``."""
        return ADT_CANCELS.get(self.trigger, ())


# --- orders --------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class OrderGroup:
    """One ORC + OBR group with the OBX, NTE, PRT, IPC and timing segments that follow it."""

    orc: OrcView | None = None
    obr: ObrView | None = None
    observations: tuple[ObxView, ...] = ()
    notes: tuple[NteView, ...] = ()
    participants: tuple[PrtView, ...] = ()
    imaging: tuple[IpcView, ...] = ()
    timing: tuple[SegmentView, ...] = ()

    @property
    def order_control(self) -> str:
        return self.orc.order_control if self.orc is not None else ""

    @property
    def placer_order_number(self) -> str:
        """ORC-2.1, else OBR-2.1."""
        for view in (self.orc, self.obr):
            if view is not None:
                ei = view.placer_order_number
                if ei:
                    return ei.entity_id
        return ""

    @property
    def filler_order_number(self) -> str:
        for view in (self.orc, self.obr):
            if view is not None:
                ei = view.filler_order_number
                if ei:
                    return ei.entity_id
        return ""

    def observation(self, code: str) -> ObxView | None:
        """The first OBX whose OBX-3.1 is ``code``."""
        return next((o for o in self.observations if o.code == code), None)

    @property
    def accession_number(self) -> str:
        """IPC-1.1, else OBR-18."""
        for ipc in self.imaging:
            ei = ipc.accession_number
            if ei is not None and ei.entity_id:
                return ei.entity_id
        return self.obr.accession_number if self.obr is not None else ""

    @property
    def study_instance_uid(self) -> str:
        return next((i.study_instance_uid for i in self.imaging if i.study_instance_uid), "")

    @property
    def modality(self) -> CWE | None:
        """OBX ``MODALITE_IMAGERIE`` (teleradiology), else OBR-24, else IPC-5."""
        obx = self.observation("MODALITE_IMAGERIE")
        if obx is not None and isinstance(obx.value, CWE):
            return obx.value
        if self.obr is not None and self.obr.diagnostic_service:
            return CWE(self.obr.diagnostic_service)
        return next((i.modality for i in self.imaging if i.modality), None)

    @property
    def procedure_code(self) -> CWE | None:
        """OBX ``CODE_ACTE_IMAGERIE``, else OBR-44, else OBR-4."""
        obx = self.observation("CODE_ACTE_IMAGERIE")
        if obx is not None and isinstance(obx.value, CWE):
            return obx.value
        if self.obr is None:
            return None
        return self.obr.procedure_code or self.obr.universal_service_id

    @property
    def requester(self) -> str:
        """Readable OBR-16, else ORC-12."""
        for xcn in (
            self.obr.ordering_provider if self.obr is not None else None,
            self.orc.ordering_provider if self.orc is not None else None,
        ):
            if xcn is not None:
                return str(xcn)
        return ""


_GROUP_MEMBERS = {
    "OBX": "observations",
    "NTE": "notes",
    "PRT": "participants",
    "IPC": "imaging",
    "TQ1": "timing",
    "TQ2": "timing",
}


def _order_groups(views: tuple[SegmentView, ...]) -> list[OrderGroup]:
    groups: list[dict[str, object]] = []
    current: dict[str, object] | None = None
    for view in views:
        name = view.segment.name
        if name == "ORC":
            current = {"orc": view}
            groups.append(current)
        elif name == "OBR":
            if current is None or "obr" in current:
                current = {}
                groups.append(current)
            current["obr"] = view
        elif name in _GROUP_MEMBERS and current is not None:
            members = current.setdefault(_GROUP_MEMBERS[name], [])
            assert isinstance(members, list)
            members.append(view)
        elif name == "PID":
            current = None
    return [
        OrderGroup(**{k: tuple(v) if isinstance(v, list) else v for k, v in g.items()})  # type: ignore[arg-type]
        for g in groups
    ]


class OrderMessage(Hl7View):
    """ORM^O01, OMI^O23 (and OMG^O19): the orders, one :class:`OrderGroup` per ORC."""

    @cached_property
    def orders(self) -> list[OrderGroup]:
        return _order_groups(self.typed_segments)


# --- documents (CDA in ORU / MDM) ----------------------------------------------------------------


class _DocumentMixin(Hl7View):
    """Document OBX, participants and MetaDMPMSS shared by ORU and MDM views."""

    @property
    def observations(self) -> list[ObxView]:
        return self.all(ObxView)

    @property
    def participants(self) -> list[PrtView]:
        return self.all(PrtView)

    def participants_with_role(self, role: str) -> list[PrtView]:
        """The PRT whose PRT-4.1 is ``role`` (``SB``, ``RCT``, ``REPLY``)."""
        return [p for p in self.participants if p.role_code == role]

    @property
    def sender(self) -> PrtView | None:
        """PRT ``SB`` (send by): the PS and organisation for the DMP submission."""
        found = self.participants_with_role("SB")
        return found[0] if found else None

    @property
    def recipients(self) -> list[PrtView]:
        """PRT ``RCT``: MSSanté recipients (PRT-15 addresses)."""
        return self.participants_with_role("RCT")

    @property
    def document_observation(self) -> ObxView | None:
        """The first OBX of type ED that is not a MetaDMPMSS one (the CDA document)."""
        return next(
            (o for o in self.observations if o.value_type == "ED" and not o.is_meta_dmp_mss),
            None,
        )

    @property
    def document(self) -> ED | None:
        """The ED envelope of the document (not decoded)."""
        obx = self.document_observation
        return obx.encapsulated if obx is not None else None

    @property
    def document_type(self) -> CWE | None:
        """OBX-3 of the document (``18748-4^CR d'imagerie médicale^LN``)."""
        obx = self.document_observation
        return obx.identifier if obx is not None else None

    @property
    def document_bytes(self) -> bytes | None:
        """The decoded document (decoded once, cached); :class:`Hl7ParseError` on bad base64."""
        obx = self.document_observation
        if obx is None:
            return None
        value = obx.value
        return value if isinstance(value, bytes) else None

    @cached_property
    def meta(self) -> MetaDmpMss | None:
        """The MetaDMPMSS flags, or ``None`` when the message has none."""
        return MetaDmpMss.from_segments(self.typed_segments)


class ResultMessage(_DocumentMixin):
    """ORU^R01: order/observation groups, the CDA document, PRT participants, MetaDMPMSS."""

    @cached_property
    def orders(self) -> list[OrderGroup]:
        return _order_groups(self.typed_segments)


class DocumentMessage(_DocumentMixin):
    """MDM^T02 (initial), T10 (replacement), T04 (deletion): TXA + document OBX + PRT."""

    @property
    def txa(self) -> TxaView | None:
        return self.first(TxaView)

    @property
    def orc(self) -> OrcView | None:
        return self.first(OrcView)

    @property
    def obr(self) -> ObrView | None:
        return self.first(ObrView)


# --- acknowledgements ----------------------------------------------------------------------------


class AckMessage(Hl7View):
    """ACK: MSA code (``AA``/``AE``/``AR``, ``CA``/``CE``/``CR``) and ERR segments."""

    @property
    def msa(self) -> MsaView | None:
        return self.first(MsaView)

    @property
    def ack_code(self) -> str:
        msa = self.msa
        return msa.ack_code if msa is not None else ""

    @property
    def acknowledged_control_id(self) -> str:
        msa = self.msa
        return msa.control_id if msa is not None else ""

    @property
    def accepted(self) -> bool:
        return self.ack_code in ("AA", "CA")

    @property
    def errors(self) -> list[ErrView]:
        return self.all(ErrView)


#: ZAM trigger → what it acknowledges (volet ANS CDA en HL7v2, business acknowledgements).
ZAM_KINDS: dict[str, str] = {
    "Z01": "reception DMP",
    "Z02": "reception MSSante",
    "Z03": "lecture MSSante",
}


class ZamMessage(AckMessage):
    """ZAM^Z01/Z02/Z03 business acknowledgement from the PFI: OBX of table ``AckMetierZAM``
    (OBX-4 = MSH-10 of the original message), ``DESTINATAIRE_MSS`` / ``LECTEUR_MSS`` addresses
    (XTN) and ERR-5 ``DMPERRORCODE`` / ``SMTPERRORCODE`` codes."""

    @property
    def kind(self) -> str:
        return ZAM_KINDS.get(self.trigger, "")

    @property
    def observations(self) -> list[ObxView]:
        return self.all(ObxView)

    @property
    def acknowledged_control_id(self) -> str:
        """OBX-4 of the first business OBX, else MSA-2."""
        for obx in self.observations:
            if obx.sub_id:
                return obx.sub_id
        return super().acknowledged_control_id

    def _addresses(self, code: str) -> list[str]:
        found: list[str] = []
        for obx in self.observations:
            if obx.code == code:
                found.extend(v.address for v in obx.values if isinstance(v, XTN) and v.address)
        return found

    @property
    def mss_recipients(self) -> list[str]:
        """Addresses of the ``DESTINATAIRE_MSS`` OBX (Z02)."""
        return self._addresses("DESTINATAIRE_MSS")

    @property
    def mss_readers(self) -> list[str]:
        """Addresses of the ``LECTEUR_MSS`` OBX (Z03)."""
        return self._addresses("LECTEUR_MSS")

    @property
    def application_errors(self) -> list[CWE]:
        """ERR-5 codes (``DMPClosed^DMP fermé^DMPERRORCODE``, SMTP codes…)."""
        return [c for c in (e.application_error_code for e in self.errors) if c is not None]

    @property
    def accepted(self) -> bool:
        """MSA ``AA``/``CA`` when there is an MSA, else no ERR of severity ``E``/``F``."""
        if self.msa is not None:
            return super().accepted
        return not any(e.severity in ("E", "F") for e in self.errors)


VIEW_CLASSES: dict[str, type[Hl7View]] = {
    "ADT": AdtMessage,
    "ORM": OrderMessage,
    "OMI": OrderMessage,
    "OMG": OrderMessage,
    "ORU": ResultMessage,
    "MDM": DocumentMessage,
    "ACK": AckMessage,
    "ZAM": ZamMessage,
}


def read_message(message: Message | bytes | str) -> Hl7View:
    """The typed view of a message, chosen by MSH-9.1 (:class:`Hl7View` for other types).

    Bytes or text are parsed first (:func:`parse_message`).
    """
    msg = message if isinstance(message, Message) else parse_message(message)
    cls = VIEW_CLASSES.get(msg.msh.get(9, 1).strip().upper(), Hl7View)
    return cls(msg)
