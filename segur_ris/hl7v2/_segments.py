"""Typed, read-only segment views: thin objects over a :class:`~segur_ris.hl7v2.Segment`.

A view holds only its segment: every property reads the segment when accessed, so building a
view costs nothing and no value is copied. The one exception is :attr:`ObxView.values`, decoded
on first access and kept (a 300 KB base64 CDA is decoded once).

Property names are English for HL7 concepts and French for French proper names (``ZFA``
*statut DMP*, ``ZFD`` *mode d'obtention de l'identité*, *UF médicale*…).
"""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from typing import ClassVar, TypeVar

from segur_ris.errors import Hl7ParseError, InvalidMatriculeError
from segur_ris.hl7v2._er7 import Repetition, Segment
from segur_ris.hl7v2._types import (
    CWE,
    CX,
    ED,
    EI,
    HD,
    PL,
    RP,
    XAD,
    XCN,
    XON,
    XPN,
    XTN,
    Timestamp,
    parse_decimal,
)
from segur_ris.ins import Ins, InsKind, from_hl7_pid3

__all__ = [
    "SEGMENT_VIEWS",
    "ErrView",
    "EvnView",
    "IpcView",
    "MrgView",
    "MsaView",
    "MshView",
    "NteView",
    "ObrView",
    "ObxValue",
    "ObxView",
    "OrcView",
    "PidView",
    "PrtView",
    "Pv1View",
    "SegmentView",
    "TxaView",
    "ZbeView",
    "ZfaView",
    "ZfdView",
    "ins_of_cx",
    "view_segment",
]

T = TypeVar("T")

#: A decoded OBX-5 repetition (the Python type depends on OBX-2).
ObxValue = str | Decimal | CWE | Timestamp | XTN | bytes | RP | XCN | XON | CX | EI | XAD | XPN


def _yes_no(value: str) -> bool | None:
    """``Y``/``N`` (any case) → bool; anything else → ``None``."""
    flag = value.strip().upper()
    return True if flag == "Y" else False if flag == "N" else None


def ins_of_cx(cx: CX) -> Ins:
    """The INS of a CX whose CX-5 is ``INS`` (validated by :func:`segur_ris.ins.from_hl7_pid3`).

    Raises :class:`~segur_ris.errors.InvalidMatriculeError` for a bad matricule, authority or
    namespace. Works whatever the message's separators (the CX is rebuilt canonically).
    """
    auth = cx.authority
    oid = auth.oid
    namespace = auth.namespace_id if auth.universal_id else ""
    text = f"{cx.id}^^^{namespace}&{oid}&{auth.universal_id_type}^{cx.id_type}"
    return from_hl7_pid3(text)


class SegmentView:
    """Base of the typed views; ``segment`` is the underlying lossless segment."""

    __slots__ = ("segment",)

    #: The segment name this view reads (checked at construction).
    name: ClassVar[str] = ""

    def __init__(self, segment: Segment) -> None:
        if self.name and segment.name != self.name:
            raise Hl7ParseError(
                f"segment {self.name} attendu, pas {segment.name}", code="100", segment=segment.name
            )
        self.segment = segment

    def get(
        self, field: int, component: int = 1, subcomponent: int = 1, repetition: int = 1
    ) -> str:
        """The unescaped value (see :meth:`Segment.get`)."""
        return self.segment.get(field, component, subcomponent, repetition)

    def _first(self, field: int) -> Repetition | None:
        reps = self.segment.repetitions(field)
        return reps[0] if reps else None

    def _one(self, field: int, parse: Callable[[Repetition], T]) -> T | None:
        rep = self._first(field)
        return None if rep is None else parse(rep)

    def _all(self, field: int, parse: Callable[[Repetition], T]) -> list[T]:
        return [parse(rep) for rep in self.segment.repetitions(field)]

    def _ts(self, field: int) -> Timestamp | None:
        try:
            return Timestamp.parse_text(self.get(field))
        except Hl7ParseError as exc:
            raise Hl7ParseError(
                exc.message, code=exc.code, segment=self.name, field=field
            ) from None

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.segment!r})"


# --- header and patient ----------------------------------------------------------------------


class MshView(SegmentView):
    """MSH: applications, date, message type, control id, version and profiles."""

    __slots__ = ()
    name = "MSH"

    @property
    def sending_application(self) -> HD:
        return self._one(3, HD.parse) or HD()

    @property
    def sending_facility(self) -> HD:
        return self._one(4, HD.parse) or HD()

    @property
    def receiving_application(self) -> HD:
        return self._one(5, HD.parse) or HD()

    @property
    def receiving_facility(self) -> HD:
        return self._one(6, HD.parse) or HD()

    @property
    def datetime(self) -> Timestamp | None:
        """MSH-7."""
        return self._ts(7)

    @property
    def message_code(self) -> str:
        return self.get(9, 1)

    @property
    def trigger_event(self) -> str:
        return self.get(9, 2)

    @property
    def structure(self) -> str:
        return self.get(9, 3)

    @property
    def message_type(self) -> str:
        """``MSH-9.1^MSH-9.2`` (``ADT^A01``)."""
        code, event = self.message_code, self.trigger_event
        return f"{code}^{event}" if event else code

    @property
    def control_id(self) -> str:
        return self.get(10)

    @property
    def processing_id(self) -> str:
        """MSH-11.1: ``P`` production, ``T`` training/test, ``D`` debugging."""
        return self.get(11)

    @property
    def version(self) -> str:
        """MSH-12.1 (``2.5``)."""
        return self.get(12)

    @property
    def version_country(self) -> str:
        """MSH-12.2 (``FRA`` for the French extension)."""
        return self.get(12, 2)

    @property
    def profile_version(self) -> str:
        """MSH-12.3, the PAM FR version (``2.11``)."""
        return self.get(12, 3)

    @property
    def version_id(self) -> str:
        """MSH-12 as ``version^country^profile`` without trailing empty parts (``2.5^FRA^2.11``)."""
        return "^".join((self.version, self.version_country, self.profile_version)).rstrip("^")

    @property
    def country(self) -> str:
        return self.get(17)

    @property
    def charsets(self) -> list[str]:
        """MSH-18 repetitions (``UNICODE UTF-8``, ``8859/15``)."""
        return [rep.get(1) for rep in self.segment.repetitions(18)]

    @property
    def language(self) -> str:
        return self.get(19)

    @property
    def profiles(self) -> list[EI]:
        """MSH-21 message profile identifiers (``2.1^CISIS_CDA_HL7_V2``)."""
        return self._all(21, EI.parse)

    def profile(self, namespace: str) -> EI | None:
        """The MSH-21 profile whose namespace (EI-2) is ``namespace``, if any."""
        for ei in self.profiles:
            if ei.namespace_id == namespace:
                return ei
        return None


class EvnView(SegmentView):
    """EVN: recorded, planned and occurred date/times, reason and operator."""

    __slots__ = ()
    name = "EVN"

    @property
    def recorded_datetime(self) -> Timestamp | None:
        return self._ts(2)

    @property
    def planned_datetime(self) -> Timestamp | None:
        return self._ts(3)

    @property
    def reason(self) -> str:
        return self.get(4)

    @property
    def operator(self) -> XCN | None:
        return self._one(5, XCN.parse)

    @property
    def occurred_datetime(self) -> Timestamp | None:
        """EVN-6, the date of the event (the movement date in PAM FR)."""
        return self._ts(6)


class PidView(SegmentView):
    """PID with the French rules: identifiers classified (INS, IPP, NDA), names by type,
    birth place COG and PID-32 identity reliability codes."""

    __slots__ = ()
    name = "PID"

    @property
    def identifiers(self) -> list[CX]:
        """PID-3, every repetition."""
        return self._all(3, CX.parse)

    @property
    def ins_identifiers(self) -> list[CX]:
        """The PID-3 repetitions that carry an INS (CX-5 ``INS``, INS authority, non-null)."""
        return [cx for cx in self.identifiers if cx.is_ins]

    @property
    def ins(self) -> Ins | None:
        """The INS of PID-3 *as sent* (INS-NIR preferred over INS-NIA; invalid ones skipped).

        This ignores PID-32: use :func:`segur_ris.hl7v2.patient_identity` for the INS a
        receiver may keep (only with ``VALI``).
        """
        valid: list[Ins] = []
        for cx in self.ins_identifiers:
            try:
                valid.append(ins_of_cx(cx))
            except InvalidMatriculeError:
                continue
        valid.sort(key=lambda ins: ins.kind is not InsKind.NIR)  # stable: NIR first
        return valid[0] if valid else None

    @property
    def ipp(self) -> CX | None:
        """The first PID-3 identifier of type ``PI`` (identifiant permanent du patient)."""
        return next((cx for cx in self.identifiers if cx.id_type == "PI" and cx.id), None)

    @property
    def account_number(self) -> CX | None:
        """PID-18 as sent."""
        return self._one(18, CX.parse)

    @property
    def nda(self) -> CX | None:
        """PID-18 when its type is ``AN`` (or empty): numéro de dossier administratif."""
        cx = self.account_number
        return cx if cx is not None and cx.id and cx.id_type in ("AN", "") else None

    @property
    def names(self) -> list[XPN]:
        """PID-5, every repetition."""
        return self._all(5, XPN.parse)

    def name_of_type(self, name_type: str) -> XPN | None:
        """The first PID-5 name of XPN-7 type ``name_type`` (``L``, ``D``, ``S``, ``U``)."""
        return next((n for n in self.names if n.name_type == name_type), None)

    @property
    def birth_name(self) -> XPN | None:
        """Type ``L``: nom de naissance and birth first names."""
        return self.name_of_type("L")

    @property
    def used_name(self) -> XPN | None:
        """Type ``D``: nom et prénom utilisés."""
        return self.name_of_type("D")

    @property
    def birth_date(self) -> Timestamp | None:
        """PID-7 (partial dates keep their precision)."""
        return self._ts(7)

    @property
    def sex(self) -> str:
        """PID-8 (``M``, ``F``, ``U``, ``O``…)."""
        return self.get(8)

    @property
    def addresses(self) -> list[XAD]:
        return self._all(11, XAD.parse)

    @property
    def birth_place(self) -> XAD | None:
        """The PID-11 repetition of type ``BDL`` (birth delivery location)."""
        return next((a for a in self.addresses if a.address_type == "BDL"), None)

    @property
    def birth_place_cog(self) -> str | None:
        """The INSEE COG code of the birth place (XAD-9 of the ``BDL`` address)."""
        place = self.birth_place
        return None if place is None else place.cog

    @property
    def death_indicator(self) -> bool | None:
        return _yes_no(self.get(30))

    @property
    def identity_reliability(self) -> list[str]:
        """PID-32 codes (``VALI``, ``PROV``, ``DOUT``…), upper case, in order."""
        return [rep.get(1).strip().upper() for rep in self.segment.repetitions(32) if rep.get(1)]

    @property
    def last_update(self) -> Timestamp | None:
        return self._ts(33)


class Pv1View(SegmentView):
    """PV1: patient class, location, doctors, visit number, admit/discharge times."""

    __slots__ = ()
    name = "PV1"

    @property
    def patient_class(self) -> str:
        """PV1-2: ``I`` hospitalisé, ``O`` externe, ``E`` urgence, ``R`` récurrent…"""
        return self.get(2)

    @property
    def location(self) -> PL | None:
        return self._one(3, PL.parse)

    @property
    def admission_type(self) -> str:
        return self.get(4)

    @property
    def attending_doctors(self) -> list[XCN]:
        return self._all(7, XCN.parse)

    @property
    def attending_doctor(self) -> XCN | None:
        return self._one(7, XCN.parse)

    @property
    def referring_doctor(self) -> XCN | None:
        return self._one(8, XCN.parse)

    @property
    def hospital_service(self) -> str:
        return self.get(10)

    @property
    def admitting_doctor(self) -> XCN | None:
        return self._one(17, XCN.parse)

    @property
    def visit_number(self) -> CX | None:
        """PV1-19 (numéro de venue; the appointment id in the teleradiology flows)."""
        return self._one(19, CX.parse)

    @property
    def admit_datetime(self) -> Timestamp | None:
        return self._ts(44)

    @property
    def discharge_datetime(self) -> Timestamp | None:
        return self._ts(45)


class MrgView(SegmentView):
    """MRG: the identifiers being merged or changed (A40, A47)."""

    __slots__ = ()
    name = "MRG"

    @property
    def prior_identifiers(self) -> list[CX]:
        return self._all(1, CX.parse)

    @property
    def prior_ins(self) -> Ins | None:
        """The INS of MRG-1 (A47 INS change or deletion), if any and valid."""
        for cx in self.prior_identifiers:
            if cx.is_ins:
                try:
                    return ins_of_cx(cx)
                except InvalidMatriculeError:
                    continue
        return None

    @property
    def prior_ipp(self) -> CX | None:
        return next((cx for cx in self.prior_identifiers if cx.id_type == "PI"), None)

    @property
    def prior_account_number(self) -> CX | None:
        return self._one(3, CX.parse)

    @property
    def prior_visit_number(self) -> CX | None:
        return self._one(5, CX.parse)


# --- French Z-segments -------------------------------------------------------------------------


class ZbeView(SegmentView):
    """ZBE (action sur un mouvement): ids, start, action, historic flag, UF, nature."""

    __slots__ = ()
    name = "ZBE"

    @property
    def movement_ids(self) -> list[EI]:
        return self._all(1, EI.parse)

    @property
    def movement_id(self) -> EI | None:
        return self._one(1, EI.parse)

    @property
    def start(self) -> Timestamp | None:
        """ZBE-2, date/heure de début du mouvement."""
        return self._ts(2)

    @property
    def action(self) -> str:
        """ZBE-4: ``INSERT``, ``UPDATE`` or ``CANCEL``."""
        return self.get(4).strip().upper()

    @property
    def historic(self) -> bool | None:
        """ZBE-5: ``Y`` for a historic movement."""
        return _yes_no(self.get(5))

    @property
    def original_trigger(self) -> str:
        """ZBE-6: the trigger of the movement updated or cancelled (``A01``…)."""
        return self.get(6)

    @property
    def uf_medicale(self) -> XON | None:
        """ZBE-7: UF de responsabilité médicale (label XON-1, code XON-10)."""
        return self._one(7, XON.parse)

    @property
    def uf_soins(self) -> XON | None:
        """ZBE-8: UF de responsabilité de soins."""
        return self._one(8, XON.parse)

    @property
    def nature(self) -> str:
        """ZBE-9: nature du mouvement (``S``, ``H``, ``M``, ``L``, ``D``, ``SM``…, ``C``)."""
        return self.get(9)


class ZfaView(SegmentView):
    """ZFA (statut DMP du patient): status, dates, alimentation and consultation consents."""

    __slots__ = ()
    name = "ZFA"

    @property
    def statut_dmp(self) -> str:
        """ZFA-1: ``ACTIF``, ``FERME``, ``INEXISTANT``."""
        return self.get(1)

    @property
    def date_statut_dmp(self) -> Timestamp | None:
        return self._ts(2)

    @property
    def date_fermeture_dmp(self) -> Timestamp | None:
        return self._ts(3)

    @property
    def alimentation(self) -> str:
        """ZFA-9: ``NA`` non recueilli, ``IO`` informé et opposé, ``INO`` informé non opposé."""
        return self.get(9)

    @property
    def date_alimentation(self) -> Timestamp | None:
        return self._ts(10)

    @property
    def consultation(self) -> str:
        """ZFA-11: ``NA`` non recueilli, ``INC`` informé non consentant, ``IC`` consentant."""
        return self.get(11)

    @property
    def date_consultation(self) -> Timestamp | None:
        return self._ts(12)


class ZfdView(SegmentView):
    """ZFD (complément démographique): date lunaire, SMS, mode d'obtention de l'identité…"""

    __slots__ = ()
    name = "ZFD"

    @property
    def date_lunaire(self) -> tuple[str, ...]:
        """ZFD-1 ``jour^mois^année`` (empty tuple when absent)."""
        rep = self._first(1)
        return () if rep is None else tuple(rep.components())

    @property
    def semaines_gestation(self) -> int | None:
        value = self.get(2).strip()
        return int(value) if value.isdigit() else None

    @property
    def consentement_sms(self) -> bool | None:
        return _yes_no(self.get(3))

    @property
    def date_naissance_corrigee(self) -> bool | None:
        return _yes_no(self.get(4))

    @property
    def mode_obtention_identite(self) -> str:
        """ZFD-5: ``SM`` saisie manuelle, ``CV`` carte Vitale, ``INSI`` téléservice INSi,
        ``CB`` code-barres, ``RFID``."""
        return self.get(5)

    @property
    def date_interrogation_insi(self) -> Timestamp | None:
        return self._ts(6)

    @property
    def justificatif_identite(self) -> str:
        """ZFD-7 code (``CN``, ``PA``, ``CS``, ``LE``…): :class:`~segur_ris.ins.ProofDocument`."""
        return self.get(7)

    @property
    def date_fin_validite_document(self) -> Timestamp | None:
        return self._ts(8)


# --- orders and results ----------------------------------------------------------------------


class OrcView(SegmentView):
    """ORC: order control, numbers, status, date, providers, reason."""

    __slots__ = ()
    name = "ORC"

    @property
    def order_control(self) -> str:
        """ORC-1 (``NW``, ``CA``, ``SR``, ``RO``, ``OK``, ``OC``…)."""
        return self.get(1)

    @property
    def placer_order_number(self) -> EI | None:
        return self._one(2, EI.parse)

    @property
    def filler_order_number(self) -> EI | None:
        return self._one(3, EI.parse)

    @property
    def placer_group_number(self) -> EI | None:
        return self._one(4, EI.parse)

    @property
    def order_status(self) -> str:
        return self.get(5)

    @property
    def transaction_datetime(self) -> Timestamp | None:
        return self._ts(9)

    @property
    def entered_by(self) -> XCN | None:
        return self._one(10, XCN.parse)

    @property
    def verified_by(self) -> XCN | None:
        return self._one(11, XCN.parse)

    @property
    def ordering_provider(self) -> XCN | None:
        """ORC-12, the prescriber."""
        return self._one(12, XCN.parse)

    @property
    def callback_phones(self) -> list[XTN]:
        return self._all(14, XTN.parse)

    @property
    def order_control_reason(self) -> CWE | None:
        """ORC-16 (e.g. the reason of a cancellation)."""
        return self._one(16, CWE.parse)

    @property
    def entering_organization(self) -> CWE | None:
        return self._one(17, CWE.parse)

    @property
    def ordering_facility(self) -> XON | None:
        return self._one(21, XON.parse)


class ObrView(SegmentView):
    """OBR, with the IHE radiology meaning of OBR-18/19/20/24."""

    __slots__ = ()
    name = "OBR"

    @property
    def set_id(self) -> str:
        return self.get(1)

    @property
    def placer_order_number(self) -> EI | None:
        return self._one(2, EI.parse)

    @property
    def filler_order_number(self) -> EI | None:
        return self._one(3, EI.parse)

    @property
    def universal_service_id(self) -> CWE | None:
        """OBR-4 (the requested procedure, or the document type in report messages)."""
        return self._one(4, CWE.parse)

    @property
    def requested_datetime(self) -> Timestamp | None:
        return self._ts(6)

    @property
    def observation_datetime(self) -> Timestamp | None:
        return self._ts(7)

    @property
    def observation_end_datetime(self) -> Timestamp | None:
        return self._ts(8)

    @property
    def relevant_clinical_info(self) -> str:
        return self.get(13)

    @property
    def ordering_provider(self) -> XCN | None:
        """OBR-16, the requester."""
        return self._one(16, XCN.parse)

    @property
    def accession_number(self) -> str:
        """OBR-18 (placer field 1: the accession number in IHE RAD)."""
        return self.get(18)

    @property
    def requested_procedure_id(self) -> str:
        """OBR-19 (placer field 2 in IHE RAD)."""
        return self.get(19)

    @property
    def scheduled_procedure_step_id(self) -> str:
        """OBR-20 (filler field 1 in IHE RAD)."""
        return self.get(20)

    @property
    def results_status_change(self) -> Timestamp | None:
        return self._ts(22)

    @property
    def diagnostic_service(self) -> str:
        """OBR-24 (the modality in IHE RAD: ``MR``, ``CT``…)."""
        return self.get(24)

    @property
    def result_status(self) -> str:
        """OBR-25 (``F`` final, ``C`` corrected, ``P`` preliminary…)."""
        return self.get(25)

    @property
    def procedure_code(self) -> CWE | None:
        """OBR-44."""
        return self._one(44, CWE.parse)


_OBX_PARSERS: dict[str, Callable[[Repetition], ObxValue | None]] = {
    "NM": lambda rep: parse_decimal(rep.get(1)),
    "CE": CWE.parse,
    "CWE": CWE.parse,
    "CNE": CWE.parse,
    "CF": CWE.parse,
    "DT": Timestamp.parse,
    "TS": Timestamp.parse,
    "DTM": Timestamp.parse,
    "XTN": XTN.parse,
    "ED": lambda rep: ED.parse(rep).decode(),
    "RP": RP.parse,
    "XCN": XCN.parse,
    "XON": XON.parse,
    "CX": CX.parse,
    "EI": EI.parse,
    "XAD": XAD.parse,
    "XPN": XPN.parse,
}


class ObxView(SegmentView):
    """OBX with OBX-5 decoded according to OBX-2, lazily (first access) and cached.

    ``ST``/``TX``/``FT``/``ID``/``IS`` and unknown types give ``str``; ``NM`` a
    :class:`~decimal.Decimal`; ``CE``/``CWE`` a :class:`CWE`; ``DT``/``TS``/``DTM`` a
    :class:`Timestamp`; ``XTN`` an :class:`XTN`; ``RP`` an :class:`RP`; ``ED`` the decoded
    **bytes** (:attr:`encapsulated` gives the envelope without decoding).
    """

    __slots__ = ("_values",)
    name = "OBX"

    def __init__(self, segment: Segment) -> None:
        super().__init__(segment)
        self._values: list[ObxValue] | None = None

    @property
    def set_id(self) -> str:
        return self.get(1)

    @property
    def value_type(self) -> str:
        return self.get(2).strip().upper()

    @property
    def identifier(self) -> CWE:
        """OBX-3 (``MetaDMPMSS`` codes carry that coding system in OBX-3.3)."""
        return self._one(3, CWE.parse) or CWE()

    @property
    def code(self) -> str:
        """OBX-3.1."""
        return self.get(3)

    @property
    def sub_id(self) -> str:
        return self.get(4)

    @property
    def is_meta_dmp_mss(self) -> bool:
        return self.get(3, 3) == "MetaDMPMSS"

    @property
    def values(self) -> list[ObxValue]:
        """Every OBX-5 repetition, decoded (raises :class:`Hl7ParseError` on bad data)."""
        if self._values is None:
            parse = _OBX_PARSERS.get(self.value_type)
            decoded: list[ObxValue] = []
            for rep in self.segment.repetitions(5):
                try:
                    value = parse(rep) if parse is not None else rep.text
                except Hl7ParseError as exc:
                    raise Hl7ParseError(
                        f"OBX-5 ({self.value_type}, {self.code}): {exc.message}",
                        code=exc.code,
                        segment="OBX",
                        field=5,
                    ) from None
                if value is not None:
                    decoded.append(value)
            self._values = decoded
        return self._values

    @property
    def value(self) -> ObxValue | None:
        """The first decoded OBX-5 value, or ``None``."""
        values = self.values
        return values[0] if values else None

    @property
    def text_value(self) -> str:
        """OBX-5.1 of the first repetition, not decoded (``Y`` of a ``Y^^expandedYes-No``)."""
        return self.get(5)

    @property
    def encapsulated(self) -> ED | None:
        """The ED envelope (type, subtype, encoding, raw data) when OBX-2 is ``ED``."""
        if self.value_type != "ED":
            return None
        return self._one(5, ED.parse)

    @property
    def units(self) -> CWE | None:
        return self._one(6, CWE.parse)

    @property
    def references_range(self) -> str:
        return self.get(7)

    @property
    def abnormal_flags(self) -> list[str]:
        return [rep.get(1) for rep in self.segment.repetitions(8)]

    @property
    def observation_status(self) -> str:
        """OBX-11 (``F`` final, ``C`` correction/replacement, ``D`` deletion, ``O`` order…)."""
        return self.get(11)

    @property
    def observation_datetime(self) -> Timestamp | None:
        return self._ts(14)

    @property
    def responsible_observer(self) -> XCN | None:
        return self._one(16, XCN.parse)


class NteView(SegmentView):
    """NTE: comment and comment type (``FIN`` after ``DESTMSSANTEPAT``)."""

    __slots__ = ()
    name = "NTE"

    @property
    def comment(self) -> str:
        return "\n".join(rep.text for rep in self.segment.repetitions(3))

    @property
    def comment_type(self) -> str:
        return self.get(4)


class PrtView(SegmentView):
    """PRT (participation, pre-adopted from 2.9): sender (``SB``), MSSanté recipients (``RCT``),
    reply-to (``REPLY``)."""

    __slots__ = ()
    name = "PRT"

    @property
    def action_code(self) -> str:
        return self.get(2)

    @property
    def role(self) -> CWE:
        """PRT-4 (``SB^Send by^participation``…)."""
        return self._one(4, CWE.parse) or CWE()

    @property
    def role_code(self) -> str:
        return self.get(4)

    @property
    def person(self) -> XCN | None:
        """PRT-5: a health professional (IDNPS/RPPS) or, for the patient, its INS."""
        xcn = self._one(5, XCN.parse)
        return xcn if xcn is not None and (xcn.id or xcn.family) else None

    @property
    def organization(self) -> XON | None:
        """PRT-8 (FINESS in XON-10 with XON-7 ``FINEG``/``FINEJ``)."""
        xon = self._one(8, XON.parse)
        return xon if xon is not None and (xon.name or xon.identifier) else None

    @property
    def begin_datetime(self) -> Timestamp | None:
        return self._ts(11)

    @property
    def end_datetime(self) -> Timestamp | None:
        return self._ts(12)

    @property
    def telecoms(self) -> list[XTN]:
        """PRT-15 (MSSanté address as ``^^X.400^<address>``)."""
        return self._all(15, XTN.parse)

    @property
    def address(self) -> str | None:
        """The first PRT-15 address (an MSSanté mailbox for ``RCT``/``REPLY``)."""
        return next((t.address for t in self.telecoms if t.address), None)

    @property
    def is_patient(self) -> bool:
        """PRT-5 identifies the patient by INS (XCN-13 ``INS``)."""
        person = self.person
        return person is not None and person.id_type == "INS"

    @property
    def patient_ins(self) -> Ins | None:
        """The patient's INS (PRT-5.1 with its OID in PRT-5.9, XCN-13 ``INS``).

        Raises :class:`~segur_ris.errors.InvalidMatriculeError` when it is not a valid INS.
        """
        person = self.person
        if person is None or person.id_type != "INS":
            return None
        return Ins.parse(person.id, person.authority_oid)


class TxaView(SegmentView):
    """TXA (MDM document header): type, dates, unique and parent document numbers, status."""

    __slots__ = ()
    name = "TXA"

    @property
    def set_id(self) -> str:
        return self.get(1)

    @property
    def document_type(self) -> CWE:
        return self._one(2, CWE.parse) or CWE()

    @property
    def presentation(self) -> str:
        return self.get(3)

    @property
    def activity_datetime(self) -> Timestamp | None:
        return self._ts(4)

    @property
    def origination_datetime(self) -> Timestamp | None:
        return self._ts(6)

    @property
    def originator(self) -> XCN | None:
        return self._one(9, XCN.parse)

    @property
    def unique_document_number(self) -> EI | None:
        """TXA-12 (``<ext>^^<root>^ISO`` or the full OID)."""
        return self._one(12, EI.parse)

    @property
    def parent_document_number(self) -> EI | None:
        """TXA-13, the document replaced (T10)."""
        return self._one(13, EI.parse)

    @property
    def completion_status(self) -> str:
        """TXA-17 (``AU`` authenticated…)."""
        return self.get(17)

    @property
    def confidentiality(self) -> str:
        return self.get(18)

    @property
    def availability(self) -> str:
        return self.get(19)


# --- acknowledgements --------------------------------------------------------------------------


class MsaView(SegmentView):
    """MSA: acknowledgement code and the acknowledged control id."""

    __slots__ = ()
    name = "MSA"

    @property
    def ack_code(self) -> str:
        """MSA-1: ``AA``/``AE``/``AR`` (original mode), ``CA``/``CE``/``CR`` (enhanced)."""
        return self.get(1).strip().upper()

    @property
    def control_id(self) -> str:
        """MSA-2, the MSH-10 of the acknowledged message."""
        return self.get(2)

    @property
    def text(self) -> str:
        return self.get(3)


class ErrView(SegmentView):
    """ERR: location (ERR-2), HL7 code (ERR-3, table 0357), severity, application code."""

    __slots__ = ()
    name = "ERR"

    @property
    def location(self) -> tuple[str, ...]:
        """ERR-2 components ``(segment, sequence, field, field rep, component, sub)``."""
        rep = self._first(2)
        return () if rep is None else tuple(c for c in rep.components())

    @property
    def error_code(self) -> CWE | None:
        return self._one(3, CWE.parse)

    @property
    def severity(self) -> str:
        """ERR-4: ``E`` error, ``W`` warning, ``I`` information, ``F`` fatal."""
        return self.get(4)

    @property
    def application_error_code(self) -> CWE | None:
        """ERR-5 (``SMTPERRORCODE``, ``DMPERRORCODE``… in the ZAM business acks)."""
        return self._one(5, CWE.parse)

    @property
    def diagnostic(self) -> str:
        return self.get(7)

    @property
    def user_message(self) -> str:
        return self.get(8)


class IpcView(SegmentView):
    """IPC (imaging procedure control): accession, requested procedure, study, SPS."""

    __slots__ = ()
    name = "IPC"

    @property
    def accession_number(self) -> EI | None:
        """IPC-1 ``<accession>^^<OID>^ISO``."""
        return self._one(1, EI.parse)

    @property
    def requested_procedure_id(self) -> EI | None:
        return self._one(2, EI.parse)

    @property
    def study_instance_uid(self) -> str:
        """IPC-3."""
        return self.get(3)

    @property
    def scheduled_procedure_step_id(self) -> EI | None:
        return self._one(4, EI.parse)

    @property
    def modality(self) -> CWE | None:
        return self._one(5, CWE.parse)


SEGMENT_VIEWS: dict[str, type[SegmentView]] = {
    cls.name: cls
    for cls in (
        MshView,
        EvnView,
        PidView,
        Pv1View,
        MrgView,
        ZbeView,
        ZfaView,
        ZfdView,
        OrcView,
        ObrView,
        ObxView,
        NteView,
        PrtView,
        TxaView,
        MsaView,
        ErrView,
        IpcView,
    )
}


def view_segment(segment: Segment) -> SegmentView:
    """The typed view of ``segment`` (a plain :class:`SegmentView` for other segments)."""
    cls = SEGMENT_VIEWS.get(segment.name, SegmentView)
    return cls(segment)
