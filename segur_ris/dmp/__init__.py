"""DMP (Mon espace santé) transactions. Sans-IO cores: the SOAP 1.2 envelope with WS-Addressing
and the VIHF token (:func:`build_envelope`, :func:`parse_envelope`), TD0.2 test d'existence
(:func:`build_td02`, :func:`parse_td02_response`) and TD0.3 autorisation
(:func:`build_set_authorization`, :func:`parse_set_authorization_response`).
"""

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
    "ACTION_SET_AUTHORIZATION",
    "ACTION_TD02",
    "AuthorizationAction",
    "DmpPatientStatus",
    "SoapMessage",
    "build_envelope",
    "build_set_authorization",
    "build_td02",
    "parse_envelope",
    "parse_set_authorization_response",
    "parse_td02_response",
]
