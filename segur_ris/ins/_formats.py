"""INS in HL7 v2 (PID-3, PID-32), CDA, IHE XDS / VIHF and MSSanté addresses.

Exports take a :class:`PatientIdentity` and go through
:meth:`PatientIdentity.qualified_ins`: only a *qualifiée* identity is exported with its INS
(PAM FR §6.6.1, RNIV). Parsers return a plain :class:`Ins`.

CX values are split on ``^`` (components) and ``&`` (subcomponents) only: HL7 escape sequences
cannot occur in an INS, and the ``&`` of the output is the literal ER7 subcomponent separator.
"""

from __future__ import annotations

from collections.abc import Sequence

from segur_ris.codes import OID_INS_NIA, PATIENT_MSSANTE_DOMAIN
from segur_ris.errors import IdentityStatusError, InsNotQualifiedError, InvalidMatriculeError
from segur_ris.ins._identity import IdentityAttribute, IdentityStatus, Ins, PatientIdentity
from segur_ris.ins._matricule import InsKind

__all__ = [
    "attributes_from_hl7",
    "from_cda_id",
    "from_hl7_pid3",
    "from_xds_patient_id",
    "hl7_pid32",
    "status_from_hl7",
    "to_cda_id",
    "to_hl7_pid3",
    "to_mssante_patient_address",
    "to_vihf_resource_id",
    "to_xds_patient_id",
]

HL7_NAMESPACE_NIR = "ASIP-SANTE-INS-NIR"
HL7_NAMESPACE_NIA = "ASIP-SANTE-INS-NIA"
_PID32_ATTRIBUTES = {
    IdentityAttribute.DOUTEUSE: "DOUT",
    IdentityAttribute.FICTIVE: "FICT",
    IdentityAttribute.HOMONYME: "HOMA",
}
_PID32_TO_ATTRIBUTE = {code: attr for attr, code in _PID32_ATTRIBUTES.items()}


def _qualified(identity: PatientIdentity, oid: str | None = None) -> Ins:
    """The INS to export, under ``oid`` when given (the target environment's OID for the same
    kind, e.g. ``settings.environment.ins.for_kind(ins.kind)``: the INSi qualification
    platform returns 1.2.250.1.213.1.4.8 where the DMP test platforms expect …4.10)."""
    if not isinstance(identity, PatientIdentity):
        raise InsNotQualifiedError(
            f"PatientIdentity attendu, pas {type(identity).__name__} "
            "(seule une identité qualifiée est exportée avec son INS)"
        )
    ins = identity.qualified_ins()
    if oid is None or oid == ins.oid:
        return ins
    target = Ins(ins.matricule, oid)  # rule "oid" when not an INS OID
    if target.kind is not ins.kind:
        raise InvalidMatriculeError(
            f"OID {oid} ({target.kind.value}) incompatible avec un INS {ins.kind.value}", rule="oid"
        )
    return target


def _format_error(message: str) -> InvalidMatriculeError:
    return InvalidMatriculeError(message, rule="format")


def _parse_cx(cx: str, allowed_types: frozenset[str], *, historical: bool) -> Ins:
    """CX-1 matricule, CX-4 ``namespace&OID&ISO``, CX-5 among ``allowed_types``."""
    if not isinstance(cx, str):
        raise _format_error("un identifiant CX (chaîne) est attendu")
    text = cx.strip()
    if "~" in text:
        raise _format_error("une seule répétition CX est attendue (pas de '~')")
    components = text.split("^")
    if len(components) < 4:
        raise _format_error(f"{cx!r}: CX sans autorité d'affectation (CX-4)")
    cx_type = components[4] if len(components) > 4 else ""
    if cx_type not in allowed_types:
        expected = " ou ".join(repr(t) for t in sorted(allowed_types))
        raise _format_error(f"{cx!r}: type d'identifiant CX-5 {cx_type!r}, attendu {expected}")
    authority = components[3].split("&")
    oid = authority[1] if len(authority) > 1 else ""
    oid_type = authority[2] if len(authority) > 2 else ""
    if not oid:
        raise _format_error(f"{cx!r}: OID absent de l'autorité d'affectation (CX-4.2)")
    if oid_type and oid_type != "ISO":
        raise _format_error(f"{cx!r}: type d'OID {oid_type!r}, attendu 'ISO' (CX-4.3)")
    value = components[0]
    if value in ("", '""'):
        raise _format_error(f"{cx!r}: matricule INS vide (CX-1)")
    ins = Ins.parse(value, oid, historical=historical)
    namespace = authority[0]
    expected = HL7_NAMESPACE_NIA if ins.kind is InsKind.NIA else HL7_NAMESPACE_NIR
    if namespace and namespace != expected:
        raise _format_error(f"{cx!r}: espace de noms {namespace!r} incohérent avec l'OID {oid}")
    return ins


# --- HL7 v2 ---------------------------------------------------------------------------------


def to_hl7_pid3(identity: PatientIdentity, *, oid: str | None = None) -> str:
    """The PID-3 repetition ``<INS>^^^ASIP-SANTE-INS-NIR&<OID>&ISO^INS`` (``…-NIA`` for a NIA).

    Raises :class:`InsNotQualifiedError` unless the identity is qualifiée.
    """
    ins = _qualified(identity, oid)
    namespace = HL7_NAMESPACE_NIA if ins.oid == OID_INS_NIA else HL7_NAMESPACE_NIR
    return f"{ins.value}^^^{namespace}&{ins.oid}&ISO^INS"


def from_hl7_pid3(cx: str, *, historical: bool = False) -> Ins:
    """The INS of one PID-3 repetition (CX-5 must be ``INS``; CX-7/CX-8 are ignored).

    Raises :class:`InvalidMatriculeError`: rule ``format`` for a non-INS CX, ``oid`` for an
    unknown authority, or the matricule rule broken. ``historical`` as in
    :func:`parse_matricule`.
    """
    return _parse_cx(cx, frozenset({"INS"}), historical=historical)


def hl7_pid32(identity: PatientIdentity) -> tuple[str, ...]:
    """PID-32 repetitions: ``VALI`` (qualifiée, validée) or ``PROV`` (provisoire, récupérée),
    then ``DOUT``/``FICT``/``HOMA`` for the attributes."""
    status = identity.status
    reliability = "VALI" if status in (IdentityStatus.QUALIFIEE, IdentityStatus.VALIDEE) else "PROV"
    codes = [code for attr, code in _PID32_ATTRIBUTES.items() if attr in identity.attributes]
    return (reliability, *codes)


def _pid32_codes(pid32: Sequence[str] | str | None) -> set[str]:
    if pid32 is None:
        return set()
    if isinstance(pid32, str):
        return {item.strip().upper() for item in pid32.split("~")}
    if not isinstance(pid32, Sequence | set | frozenset):
        raise IdentityStatusError(f"PID-32: liste de codes attendue, pas {type(pid32).__name__}")
    return {str(item).strip().upper() for item in pid32}


def status_from_hl7(pid3_has_ins: bool, pid32: Sequence[str] | str | None) -> IdentityStatus:
    """The status a receiver can infer: ``VALI`` + INS → qualifiée, ``VALI`` alone → validée,
    anything else → provisoire (``DOUT``/``FICT`` also force provisoire). A receiver cannot
    tell *récupérée*. A ``~``-separated string is accepted for ``pid32``."""
    codes = _pid32_codes(pid32)
    if "VALI" not in codes or codes & {"DOUT", "FICT"}:
        return IdentityStatus.PROVISOIRE
    return IdentityStatus.QUALIFIEE if pid3_has_ins else IdentityStatus.VALIDEE


def attributes_from_hl7(pid32: Sequence[str] | str | None) -> frozenset[IdentityAttribute]:
    """The RNIV attributes carried by PID-32 (``DOUT``, ``FICT``, ``HOMA``)."""
    codes = _pid32_codes(pid32)
    return frozenset(attr for code, attr in _PID32_TO_ATTRIBUTE.items() if code in codes)


# --- CDA --------------------------------------------------------------------------------------


def to_cda_id(identity: PatientIdentity, *, oid: str | None = None) -> tuple[str, str]:
    """``(root, extension)`` = (OID, 15-character INS) for ``recordTarget/patientRole/id``."""
    ins = _qualified(identity, oid)
    return ins.oid, ins.value


def from_cda_id(root: str, extension: str, *, historical: bool = False) -> Ins:
    """The INS of a CDA ``II`` (rule ``oid`` when ``root`` is not an INS OID)."""
    if not isinstance(root, str) or not isinstance(extension, str):
        raise _format_error("root et extension doivent être des chaînes")
    return Ins.parse(extension, root.strip(), historical=historical)


# --- IHE XDS / VIHF ---------------------------------------------------------------------------


def to_xds_patient_id(identity: PatientIdentity, *, oid: str | None = None) -> str:
    """The XDS ``patientId`` ``<INS>^^^&<OID>&ISO^NH`` (also the VIHF resource-id)."""
    ins = _qualified(identity, oid)
    return f"{ins.value}^^^&{ins.oid}&ISO^NH"


def to_vihf_resource_id(identity: PatientIdentity, *, oid: str | None = None) -> str:
    """The VIHF ``urn:oasis:names:tc:xacml:2.0:resource:resource-id`` value (XDS format)."""
    return to_xds_patient_id(identity, oid=oid)


def from_xds_patient_id(cx: str, *, historical: bool = False) -> Ins:
    """The INS of an XDS ``patientId`` / VIHF resource-id (CX-5 ``NH`` or absent)."""
    return _parse_cx(cx, frozenset({"NH", ""}), historical=historical)


# --- MSSanté ----------------------------------------------------------------------------------


def to_mssante_patient_address(identity: PatientIdentity) -> str:
    """The patient's Mon espace santé mailbox ``<INS>@patient.mssante.fr``.

    [?] Only a NIR is expected to have a mailbox; a NIA is not refused here.
    """
    ins = _qualified(identity)
    return f"{ins.value}@{PATIENT_MSSANTE_DOMAIN}"
