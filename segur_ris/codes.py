"""National codes and identifiers that do not depend on the environment (data, not logic)."""

from __future__ import annotations

__all__ = [
    "HL7_TABLE_0357",
    "INS_NIR_OIDS",
    "OID_INS_NIA",
    "OID_INS_NIR",
    "OID_INS_NIR_DEMO",
    "OID_INS_NIR_TEST",
    "PATIENT_MSSANTE_DOMAIN",
]

#: INS-NIR assigning authority (production; also what the INSi qualification platform returns).
OID_INS_NIR = "1.2.250.1.213.1.4.8"
#: INS-NIA (numéro d'identification d'attente), every environment.
OID_INS_NIA = "1.2.250.1.213.1.4.9"
#: INS-NIR of the test platforms (DMP CNDA environments).
OID_INS_NIR_TEST = "1.2.250.1.213.1.4.10"
#: INS-NIR of demonstration (FR Core examples).
OID_INS_NIR_DEMO = "1.2.250.1.213.1.4.11"
#: Every OID under which an INS is a NIR.
INS_NIR_OIDS = frozenset({OID_INS_NIR, OID_INS_NIR_TEST, OID_INS_NIR_DEMO})

#: Domain of the patients' Mon espace santé mailboxes: ``<matricule INS>@patient.mssante.fr``.
PATIENT_MSSANTE_DOMAIN = "patient.mssante.fr"

#: HL7 table 0357, message error condition codes (ERR-3 of an acknowledgement).
HL7_TABLE_0357: dict[str, str] = {
    "0": "Message accepted",
    "100": "Segment sequence error",
    "101": "Required field missing",
    "102": "Data type error",
    "103": "Table value not found",
    "200": "Unsupported message type",
    "201": "Unsupported event code",
    "202": "Unsupported processing id",
    "203": "Unsupported version id",
    "204": "Unknown key identifier",
    "205": "Duplicate key identifier",
    "206": "Application record locked",
    "207": "Application internal error",
}
