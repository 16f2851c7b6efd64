"""The MetaDMPMSS codes of the ANS volet "Transmission de document(s) CDA en HL7v2" 2.1, once.

One table, in the order the volet requires the OBX to appear; the views, the builders and the
conformance checks all derive from it.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["METADMPMSS_CODES", "MetaDmpMssCode"]


@dataclass(frozen=True, slots=True)
class MetaDmpMssCode:
    """One MetaDMPMSS OBX: its OBX-3 code and label, the attribute that holds it in
    :class:`~segur_ris.hl7v2.MetaDmpMss`, and whether it is a ``Y``/``N`` flag (else ED text)."""

    code: str
    label: str
    attribute: str
    flag: bool = True


METADMPMSS_CODES: tuple[MetaDmpMssCode, ...] = (
    MetaDmpMssCode("MASQUE_PS", "Masqué aux professionnels de Santé", "masque_ps"),
    MetaDmpMssCode("INVISIBLE_PATIENT", "Document Non Visible par le patient", "invisible_patient"),
    MetaDmpMssCode(
        "INVISIBLE_REP_LEGAUX",
        "Non visible par les représentants Légaux du patient",
        "invisible_rep_legaux",
    ),
    MetaDmpMssCode("CONNEXION_SECRETE", "Connexion Secrete", "connexion_secrete"),
    MetaDmpMssCode("MODIF_CONF_CODE", "Modification Confidentiality Code", "modif_conf_code"),
    MetaDmpMssCode("DESTDMP", "Destinataire DMP", "dest_dmp"),
    MetaDmpMssCode(
        "DESTMSSANTEPS",
        "Destinataire (Professionnel de Santé, organisation ou BAL applicative)",
        "dest_mssante_ps",
    ),
    MetaDmpMssCode("DESTMSSANTEPAT", "Destinataire Patient", "dest_mssante_pat"),
    MetaDmpMssCode("ACK_RECEPTION", "Accusé de réception", "ack_reception"),
    MetaDmpMssCode("ACK_LECTURE_MSS", "Accusé de lecture", "ack_lecture_mss"),
    MetaDmpMssCode("CORPSMAIL_PS", "Corps du mail pour un PS", "corps_mail_ps", flag=False),
    MetaDmpMssCode(
        "CORPSMAIL_PATIENT", "Corps du mail pour le patient", "corps_mail_patient", flag=False
    ),
)
