"""Client of the CNAM INSi teleservice (``ServiceIdentiteCertifiee`` v1).

Two layers: a sans-IO core (:func:`build_traits_request`, :func:`build_vitale_request`,
:func:`parse_response`) that turns queries into SOAP 1.2 bytes and answers into typed results,
and :class:`InsiClient`, which adds a swappable HTTPS transport (mutual TLS with an
``INSI-AUTO``/``INSI-MANU`` certificate, or a CPS assertion), the multi-first-name strategy and
the verification of a stored INS.
"""

from segur_ris.insi._client import InsiClient, InsVerification, first_name_attempts
from segur_ris.insi._messages import (
    ACTION_CARTE_VITALE,
    ACTION_TRAITS,
    build_traits_request,
    build_vitale_request,
    parse_response,
)
from segur_ris.insi._model import CodeCR, InsiContext, InsiRequest, InsiResult, VitaleQuery

__all__ = [
    "ACTION_CARTE_VITALE",
    "ACTION_TRAITS",
    "CodeCR",
    "InsVerification",
    "InsiClient",
    "InsiContext",
    "InsiRequest",
    "InsiResult",
    "VitaleQuery",
    "build_traits_request",
    "build_vitale_request",
    "first_name_attempts",
    "parse_response",
]
