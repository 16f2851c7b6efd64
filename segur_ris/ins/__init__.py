"""Identité nationale de santé (INS): matricule, traits, RNIV status and exchange formats.

Standard library only. The INS of a patient is exported (HL7 PID-3, CDA, XDS, VIHF, MSSanté)
only when the identity is *qualifiée*; the export functions enforce it.
"""

from __future__ import annotations

from segur_ris.ins._formats import (
    attributes_from_hl7,
    from_cda_id,
    from_hl7_pid3,
    from_xds_patient_id,
    hl7_pid32,
    status_from_hl7,
    to_cda_id,
    to_hl7_pid3,
    to_mssante_patient_address,
    to_vihf_resource_id,
    to_xds_patient_id,
)
from segur_ris.ins._identity import (
    IdentityAttribute,
    IdentityStatus,
    Ins,
    PatientIdentity,
    ProofDocument,
)
from segur_ris.ins._matricule import (
    InsKeyWarning,
    InsKind,
    Matricule,
    MatriculeCheck,
    check_matricule,
    compute_key,
    mask_matricule,
    parse_matricule,
)
from segur_ris.ins._traits import BirthDate, IdentityTraits, Sexe, normalize_name

__all__ = [
    "BirthDate",
    "IdentityAttribute",
    "IdentityStatus",
    "IdentityTraits",
    "Ins",
    "InsKeyWarning",
    "InsKind",
    "Matricule",
    "MatriculeCheck",
    "PatientIdentity",
    "ProofDocument",
    "Sexe",
    "attributes_from_hl7",
    "check_matricule",
    "compute_key",
    "from_cda_id",
    "from_hl7_pid3",
    "from_xds_patient_id",
    "hl7_pid32",
    "mask_matricule",
    "normalize_name",
    "parse_matricule",
    "status_from_hl7",
    "to_cda_id",
    "to_hl7_pid3",
    "to_mssante_patient_address",
    "to_vihf_resource_id",
    "to_xds_patient_id",
]
