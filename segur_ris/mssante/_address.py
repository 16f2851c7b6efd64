"""MSSanté addresses: syntax checks and the patient's Mon espace santé mailbox."""

from __future__ import annotations

import re

from segur_ris.codes import PATIENT_MSSANTE_DOMAIN
from segur_ris.errors import InsError, MssanteAddressError
from segur_ris.ins import PatientIdentity, check_matricule, to_mssante_patient_address

__all__ = ["PATIENT_MSSANTE_DOMAIN", "check_address", "is_patient_address", "patient_address"]

# A deliberately plain addr-spec (dot-atom local part, dotted domain): MSSanté addresses are
# ASCII, and quoted local parts or address literals have no place in the espace de confiance.
_ADDRESS = re.compile(
    r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*"
    r"@[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}"
    r"[A-Za-z0-9])?)+"
)


def check_address(address: str) -> str:
    """``address`` (an addr-spec, no display name) lower-cased in its domain, or
    :class:`~segur_ris.errors.MssanteAddressError` (``code="syntax"``, or ``"patient"`` for a
    patient address whose local part is not a valid matricule INS)."""
    if not isinstance(address, str) or not _ADDRESS.fullmatch(address) or len(address) > 254:
        raise MssanteAddressError(f"adresse de messagerie invalide: {address!r}", code="syntax")
    local, domain = address.rsplit("@", 1)
    domain = domain.lower()
    if domain == PATIENT_MSSANTE_DOMAIN and not check_matricule(local).valid:
        raise MssanteAddressError(
            "adresse patient: la partie locale n'est pas un matricule INS valide", code="patient"
        )
    return f"{local}@{domain}"


def is_patient_address(address: str) -> bool:
    """Whether ``address`` is a Mon espace santé patient mailbox (``@patient.mssante.fr``)."""
    return address.rsplit("@", 1)[-1].lower() == PATIENT_MSSANTE_DOMAIN


def patient_address(identity: PatientIdentity) -> str:
    """The patient's mailbox ``<INS>@patient.mssante.fr``, built only from a *qualifiée*
    identity; :class:`~segur_ris.errors.MssanteAddressError` (``code="ins"``) otherwise."""
    try:
        return to_mssante_patient_address(identity)
    except InsError as exc:
        raise MssanteAddressError(
            f"adresse patient impossible: {exc.message}", code="ins"
        ) from None
