"""TD0.2 (test d'existence du DMP et statut d'autorisation, HL7v3 PRPA_IN201307UV02 →
PRPA_IN201308UV02, service ``patients``) and TD0.3 (mise à jour de l'autorisation,
``setAuthorization``, service ``habilitations``). Sans-IO: body elements out, typed results in.
"""

from __future__ import annotations

import datetime as _dt
import uuid
from dataclasses import dataclass
from enum import StrEnum

from lxml import etree

from segur_ris.errors import DmpError
from segur_ris.ins import Ins

__all__ = [
    "ACTION_SET_AUTHORIZATION",
    "ACTION_TD02",
    "AuthorizationAction",
    "DmpPatientStatus",
    "build_set_authorization",
    "build_td02",
    "parse_set_authorization_response",
    "parse_td02_response",
]

ACTION_TD02 = "urn:hl7-org:v3:PRPA_IN201307UV02"
ACTION_SET_AUTHORIZATION = "urn:si-dmp-habilitations:HabilitationsEndPoint:setAuthorization"

NS_HL7 = "urn:hl7-org:v3"
NS_HABILITATIONS = "urn:si-dmp-habilitations"
_H = f"{{{NS_HL7}}}"

#: The DMP's device id (HL7v3 receiver) and software name.
DMP_DEVICE_OID = "1.2.250.1.213.4.1.1.1"
#: reasonCode system of the GDP transactions (TEST_EXST, CNSLT_DATA…).
_REASON_SYSTEM = "1.2.250.1.213.1.1.4.11"
_ATTENTION_AUTHORIZATION = "1.2.250.1.213.4.1.2.6.1"
_ATTENTION_MT = "1.2.250.1.213.4.1.2.6.3"


def _sub(parent: etree._Element, tag: str, **attributes: str) -> etree._Element:
    return etree.SubElement(parent, f"{_H}{tag}", {k: v for k, v in attributes.items()})


def _device(parent: etree._Element, role: str, type_code: str, oid: str, name: str) -> None:
    holder = _sub(parent, role, typeCode=type_code)
    device = _sub(holder, "device", classCode="DEV", determinerCode="INSTANCE")
    _sub(device, "id", root=oid)
    _sub(device, "softwareName").text = name


def build_td02(
    ins: Ins,
    *,
    sender_oid: str,
    sender_name: str,
    message_id: str | None = None,
    query_id: str | None = None,
    now: _dt.datetime | None = None,
) -> etree._Element:
    """The PRPA_IN201307UV02 body of a TD0.2 for ``ins`` (declare it under the OID the DMP
    environment expects, e.g. ``Ins(ins.matricule, settings.environment.ins.for_kind(…))``).

    ``sender_oid``/``sender_name`` identify the software (LPS) as in the official sample.
    """
    moment = (now or _dt.datetime.now(_dt.UTC)).astimezone(_dt.UTC)
    root = etree.Element(f"{_H}PRPA_IN201307UV02", ITSVersion="XML_1.0", nsmap={None: NS_HL7})  # type: ignore[dict-item]
    _sub(root, "id", root=f"{sender_oid}.1", extension=message_id or str(uuid.uuid4()))
    _sub(root, "creationTime", value=moment.strftime("%Y%m%d%H%M%S"))
    _sub(root, "interactionId", root="2.16.840.1.113883.1.6", extension="PRPA_IN201307UV02")
    _sub(root, "processingCode", code="P")
    _sub(root, "processingModeCode", code="T")
    _sub(root, "acceptAckCode", code="AL")
    _device(root, "receiver", "RCV", DMP_DEVICE_OID, "DMP")
    _device(root, "sender", "SND", sender_oid, sender_name)
    act = _sub(root, "controlActProcess", classCode="CACT", moodCode="EVN")
    _sub(
        act,
        "reasonCode",
        code="TEST_EXST",
        codeSystem=_REASON_SYSTEM,
        displayName="Test d'existence de dossier",
    )
    query = _sub(act, "queryByParameter")
    _sub(query, "queryId", root=f"{sender_oid}.2", extension=query_id or str(uuid.uuid4()))
    _sub(query, "statusCode", code="new")
    parameters = _sub(query, "parameterList")
    identifier = _sub(parameters, "patientIdentifier")
    _sub(identifier, "value", root=ins.oid, extension=ins.value)
    _sub(identifier, "semanticsText").text = "Patient.id"
    return root


class AuthorizationAction(StrEnum):
    """TD0.3 ``setAuthorization/action``."""

    AJOUT = "AJOUT"
    SUPPRESSION = "SUPPRESSION"
    INTERDICTION = "INTERDICTION"


def build_set_authorization(action: AuthorizationAction | str = "AJOUT") -> etree._Element:
    """The ``setAuthorization`` body of a TD0.3 (add, remove or forbid the PS authorisation)."""
    try:
        value = AuthorizationAction(action)
    except ValueError:
        raise DmpError(f"action d'autorisation inconnue: {action!r}") from None
    root = etree.Element(f"{{{NS_HABILITATIONS}}}setAuthorization", nsmap={None: NS_HABILITATIONS})  # type: ignore[dict-item]
    etree.SubElement(root, f"{{{NS_HABILITATIONS}}}action").text = value.value
    return root


@dataclass(frozen=True, slots=True)
class DmpPatientStatus:
    """The answer of a TD0.2.

    ``exists`` is false when the DMP has no record for the INS (``queryResponseCode`` other
    than ``OK``); ``authorization`` is the PS authorisation status (``VALIDE``…) and
    ``medecin_traitant`` whether the PS is the patient's médecin traitant DMP.
    """

    exists: bool
    query_response: str
    authorization: str | None = None
    medecin_traitant: bool | None = None
    patient_status: str | None = None  #: ``active``…
    ins_ids: tuple[tuple[str, str], ...] = ()  #: (root OID, extension) of every patient id
    compte_internet_ouvert: bool | None = None
    rattachement_ens: bool | None = None
    acknowledgement: str | None = None  #: ``AA``/``AE``…


def _bool(value: str | None) -> bool | None:
    return None if value is None else value.strip().lower() == "true"


def parse_td02_response(body: etree._Element) -> DmpPatientStatus:
    """Read a PRPA_IN201308UV02 (the body element of the answer)."""
    if body.tag != f"{_H}PRPA_IN201308UV02":
        raise DmpError(f"TD0.2: PRPA_IN201308UV02 attendu, reçu {body.tag}")
    authorization = medecin_traitant = None
    for line in body.iterfind(f"{_H}attentionLine"):
        keyword = line.find(f"{_H}keyWordText")
        value = line.find(f"{_H}value")
        if keyword is None or value is None:
            continue
        system = keyword.get("codeSystem")
        if system == _ATTENTION_AUTHORIZATION:
            authorization = value.get("code")
        elif system == _ATTENTION_MT:
            medecin_traitant = _bool(value.get("value"))
    ack = body.find(f"{_H}acknowledgement")
    code = body.find(f"{_H}controlActProcess/{_H}queryAck/{_H}queryResponseCode")
    response = code.get("code", "") if code is not None else ""
    patient = body.find(
        f"{_H}controlActProcess/{_H}subject/{_H}registrationEvent/{_H}subject1/{_H}patient"
    )
    observations: dict[str, bool | None] = {}
    ids: tuple[tuple[str, str], ...] = ()
    status = None
    if patient is not None:
        ids = tuple(
            (i.get("root", ""), i.get("extension", "")) for i in patient.iterfind(f"{_H}id")
        )
        status_el = patient.find(f"{_H}statusCode")
        status = status_el.get("code") if status_el is not None else None
        for obs in patient.iterfind(f"{_H}subjectOf/{_H}administrativeObservation"):
            code_el, value_el = obs.find(f"{_H}code"), obs.find(f"{_H}value")
            if code_el is not None and value_el is not None:
                observations[code_el.get("code", "")] = _bool(value_el.get("value"))
    return DmpPatientStatus(
        exists=response == "OK" and patient is not None,
        query_response=response,
        authorization=authorization,
        medecin_traitant=medecin_traitant,
        patient_status=status,
        ins_ids=ids,
        compte_internet_ouvert=observations.get("COMPTE_INTERNET_OUVERT"),
        rattachement_ens=observations.get("RATTACHEMENT_ENS"),
        acknowledgement=ack.get("typeCode") if ack is not None else None,
    )


def parse_set_authorization_response(body: etree._Element) -> str:
    """The ``output/status`` of a TD0.3 answer; :class:`DmpError` unless it is ``DMPOk``."""
    status = body.findtext(f"{{{NS_HABILITATIONS}}}output/{{{NS_HABILITATIONS}}}status")
    if status != "DMPOk":
        context = body.findtext(f"{{{NS_HABILITATIONS}}}output/{{{NS_HABILITATIONS}}}context")
        raise DmpError(
            f"TD0.3 refusée: {status or 'statut absent'} {context or ''}".strip(), code=status
        )
    return status
