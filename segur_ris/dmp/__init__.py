"""DMP (Mon espace santé) transactions. :class:`DmpClient` (ITI-41 with MTOM and the XAdES
signature document, ITI-18, ITI-43, ITI-57, TD0.2, TD0.3 over mutual TLS with a VIHF per
request) composes the sans-IO cores: the SOAP 1.2 envelope with WS-Addressing
and the VIHF token (:func:`build_envelope`, :func:`parse_envelope`), TD0.2 test d'existence
(:func:`build_td02`, :func:`parse_td02_response`) and TD0.3 autorisation
(:func:`build_set_authorization`, :func:`parse_set_authorization_response`).
"""

from segur_ris.dmp._client import (
    ACTION_ITI18,
    ACTION_ITI41,
    ACTION_ITI43,
    ACTION_ITI57,
    DmpClient,
    SubmissionResult,
)
from segur_ris.dmp._patients import (
    ACTION_SET_AUTHORIZATION,
    ACTION_TD02,
    AuthorizationAction,
    DmpPatientStatus,
    build_set_authorization,
    build_td02,
    parse_set_authorization_response,
    parse_td02_response,
)
from segur_ris.dmp._soap import SoapMessage, build_envelope, parse_envelope

__all__ = [
    "ACTION_ITI18",
    "ACTION_ITI41",
    "ACTION_ITI43",
    "ACTION_ITI57",
    "ACTION_SET_AUTHORIZATION",
    "ACTION_TD02",
    "AuthorizationAction",
    "DmpClient",
    "DmpPatientStatus",
    "SoapMessage",
    "SubmissionResult",
    "build_envelope",
    "build_set_authorization",
    "build_td02",
    "parse_envelope",
    "parse_set_authorization_response",
    "parse_td02_response",
]
