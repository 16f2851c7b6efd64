"""The DMP VIHF (Vecteur d'Identification et d'Habilitation Formelle) and the XAdES signature
document of a DMP submission.

* :func:`build_vihf` — the SAML 2.0 assertion placed in ``wsse:Security`` of every DMP call;
  :func:`sign_vihf` signs it (indirect modes: enveloped XML-DSig, exc-c14n, RSA-SHA256, with the
  structure's ORG SIGN certificate); :func:`verify_vihf` checks a signed one;
  :func:`parse_vihf` reads one (including the ISO-8859-1 official samples);
  :meth:`VihfContext.for_psc_user` is the VIHF of a professional signed in with Pro Santé
  Connect (``INDIRECTE_RENFORCEE``, :data:`AUTHN_PSC`, roles from ``SubjectRefPro``).
* :func:`build_xades` / :func:`verify_xades` — the detached XAdES-BES v1.1.1 signature document
  (IHE DSG manifest of ``urn:oid:<uniqueId>`` references) that accompanies every TD2.1 submission.
"""

from __future__ import annotations

from segur_ris.vihf._assertion import (
    AUTHN_PASSWORD,
    AUTHN_PSC,
    AUTHN_SMARTCARD,
    AUTHN_TLS_CLIENT,
    AUTHN_UNSPECIFIED,
    AUTOMATE_ROLE,
    OID_PROFESSION,
    OID_SAVOIR_FAIRE,
    OID_SECTEUR_ACTIVITE,
    PURPOSES_OF_USE,
    CodedValue,
    PurposeOfUse,
    VihfContext,
    VihfMode,
    VihfToken,
    build_vihf,
    parse_vihf,
    psc_roles,
)
from segur_ris.vihf._xades import XadesReference, XadesReport, build_xades, verify_xades
from segur_ris.vihf._xmldsig import VerifiedVihf, sign_vihf, verify_vihf

__all__ = [
    "AUTHN_PASSWORD",
    "AUTHN_PSC",
    "AUTHN_SMARTCARD",
    "AUTHN_TLS_CLIENT",
    "AUTHN_UNSPECIFIED",
    "AUTOMATE_ROLE",
    "OID_PROFESSION",
    "OID_SAVOIR_FAIRE",
    "OID_SECTEUR_ACTIVITE",
    "PURPOSES_OF_USE",
    "CodedValue",
    "PurposeOfUse",
    "VerifiedVihf",
    "VihfContext",
    "VihfMode",
    "VihfToken",
    "XadesReference",
    "XadesReport",
    "build_vihf",
    "build_xades",
    "parse_vihf",
    "psc_roles",
    "sign_vihf",
    "verify_vihf",
    "verify_xades",
]
