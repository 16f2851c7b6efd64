"""Appel contextuel from the RIS to a DRIMbox Conso (Ségur vague 2, DRIMbox specification §4.6.1).

The RIS opens the DRIMbox Conso viewer for one patient with an HTTP ``POST``
(``application/x-www-form-urlencoded``); the DRIMbox answers ``302`` or ``303`` with the URL
of the viewer page. :class:`ContextualCall` holds the typed parameters and gives the form
fields (:meth:`ContextualCall.fields`), the encoded body and an auto-submitting HTML form
for the user's browser (:func:`html_form`), all sans-IO; :func:`open_drimbox` is a tiny
``requests`` caller that follows no redirect and returns the viewer URL.

Parameter names are those of the ANS DRIMbox (``ParameterList``: every parameter must have a
value, an unknown one is refused). The normative value formats were not found [?]; since the
names are FHIR paths, FHIR formats are used: ``Patient.identifier.system`` =
``urn:oid:<INS OID>``, ``Patient.gender`` = ``male``/``female``/``other``/``unknown``,
``Patient.birthDate`` = ``YYYY-MM-DD``, ``InformationEtConsentement`` = ``true``/``false``.
``PatientIDIssuer`` carries the whole HL7 CX-4 of the IPP (``name&OID&ISO``), as the ANS
DRIMbox FAQ says.
"""

from __future__ import annotations

import datetime as _dt
import html
import os
import re
import ssl
from dataclasses import dataclass
from typing import TYPE_CHECKING
from urllib.parse import urlencode, urljoin

from segur_ris.errors import DicomError, InvalidMatriculeError, TransportError, TransportTimeout

if TYPE_CHECKING:
    from segur_ris.config import InsOids
    from segur_ris.ins import PatientIdentity

__all__ = ["ContextualCall", "html_form", "open_drimbox"]

_GENDERS = {"M": "male", "F": "female", "I": "other", "O": "other", "U": "unknown"}
_FHIR_GENDERS = frozenset(_GENDERS.values())
_INSEE = re.compile(r"^(\d[0-9AB]\d{3})$")
_OID = re.compile(r"^(0|[1-9]\d*)(\.(0|[1-9]\d*))+$")


@dataclass(frozen=True, slots=True)
class ContextualCall:
    """The parameters of an appel contextuel (one patient).

    ``ins`` / ``ins_oid``: matricule INS and its OID; ``family`` / ``given``: nom de naissance
    and first birth first name; ``gender``: ``M``/``F``/``I``/``U`` (or a FHIR code);
    ``birth_date``: ISO date; ``birth_place``: INSEE code of the birth place
    (``Address.district``); ``consent``: the patient was informed and did not object;
    ``ipp`` / ``ipp_issuer``: IPP and its CX-4 (``NAME&OID&ISO`` or a bare OID);
    ``situation``: optional free text.
    """

    ins: str
    ins_oid: str
    family: str
    given: str
    gender: str
    birth_date: _dt.date | str
    birth_place: str
    consent: bool
    ipp: str
    ipp_issuer: str
    situation: str = ""

    @classmethod
    def from_identity(
        cls,
        identity: PatientIdentity,
        *,
        ipp: str,
        ipp_issuer: str,
        consent: bool,
        situation: str = "",
        environment_ins_oid: str | InsOids | None = None,
    ) -> ContextualCall:
        """From a *qualifiée* identity (the INS may only be exported then: raises
        :class:`~segur_ris.errors.InsNotQualifiedError` otherwise). ``environment_ins_oid``
        replaces the INS OID by the target environment's (as for the DMP)."""
        from segur_ris.config import InsOids
        from segur_ris.errors import InsNotQualifiedError

        if identity.ins is None or identity.status.value != "qualifiee":
            raise InsNotQualifiedError(
                "appel contextuel: l'INS d'une identité non qualifiée ne peut pas être transmis"
            )
        oid = identity.ins.oid
        if isinstance(environment_ins_oid, InsOids):
            oid = environment_ins_oid.for_kind(identity.ins.kind.value)
        elif environment_ins_oid:
            oid = environment_ins_oid
        traits = identity.traits
        return cls(
            ins=identity.ins.value,
            ins_oid=oid,
            family=traits.nom_naissance,
            given=traits.prenoms[0],
            gender=traits.sexe.value,
            birth_date=str(traits.date_naissance),
            birth_place=traits.lieu_naissance or "",
            consent=consent,
            ipp=ipp,
            ipp_issuer=ipp_issuer,
            situation=situation,
        )

    def fields(self) -> list[tuple[str, str]]:
        """The form fields, in the DRIMbox order; raises :class:`DicomError` on bad input."""
        from segur_ris.ins import Ins

        try:
            Ins.parse(self.ins, self.ins_oid)
        except InvalidMatriculeError as exc:
            raise DicomError(
                f"appel contextuel: INS invalide ({exc.message})", code="Patient.identifier"
            ) from None
        gender = _GENDERS.get(self.gender, self.gender)
        if gender not in _FHIR_GENDERS:
            raise DicomError(
                f"appel contextuel: sexe {self.gender!r} inconnu (M, F, I, U)",
                code="Patient.gender",
            )
        birth = _birth_date(self.birth_date)
        if not _INSEE.match(self.birth_place or ""):
            raise DicomError(
                f"appel contextuel: code INSEE du lieu de naissance attendu, pas "
                f"{self.birth_place!r}",
                code="Address.district",
            )
        issuer = self.ipp_issuer
        if _OID.match(issuer or ""):
            issuer = f"&{issuer}&ISO"
        values = {
            "Patient.name.family": self.family,
            "Patient.name.given": self.given,
            "PatientID": self.ipp,
            "PatientIDIssuer": issuer,
        }
        for name, value in values.items():
            if not isinstance(value, str) or not value.strip():
                raise DicomError(f"appel contextuel: {name} obligatoire", code=name)
        if not isinstance(self.consent, bool):
            raise DicomError(
                "appel contextuel: InformationEtConsentement booléen attendu",
                code="InformationEtConsentement",
            )
        fields = [
            ("Patient.identifier.value", self.ins),
            ("Patient.identifier.system", f"urn:oid:{self.ins_oid}"),
            ("Patient.name.family", self.family),
            ("Patient.name.given", self.given),
            ("Patient.gender", gender),
            ("Patient.birthDate", birth),
            ("Address.district", self.birth_place),
            ("InformationEtConsentement", "true" if self.consent else "false"),
            ("PatientID", self.ipp),
            ("PatientIDIssuer", issuer),
        ]
        if self.situation.strip():  # the DRIMbox refuses a parameter without value
            fields.append(("Situation", self.situation))
        return fields

    def body(self) -> bytes:
        """The ``application/x-www-form-urlencoded`` body (UTF-8)."""
        return urlencode(self.fields(), encoding="utf-8").encode("ascii")

    def __repr__(self) -> str:  # patient data stays out of logs and tracebacks
        return "ContextualCall(…)"


def _birth_date(value: _dt.date | str) -> str:
    """ISO date; unknown month/day (``00``, as the INSi allows) give a FHIR partial date."""
    if isinstance(value, _dt.date):
        return value.isoformat()
    compact = str(value).strip().replace("-", "")
    if re.fullmatch(r"\d{8}", compact):
        year, month, day = int(compact[:4]), int(compact[4:6]), int(compact[6:])
        try:
            if month == 0 and day == 0:
                return f"{year:04d}"
            if day == 0:
                return _dt.date(year, month, 1).isoformat()[:7]
            return _dt.date(year, month, day).isoformat()
        except ValueError:
            pass
    raise DicomError(
        f"appel contextuel: date de naissance AAAA-MM-JJ attendue, pas {value!r}",
        code="Patient.birthDate",
    )


def html_form(call: ContextualCall, url: str) -> str:
    """A minimal HTML page that POSTs ``call`` to the DRIMbox Conso ``url`` from the user's
    browser (auto-submitted; a button remains when scripts are disabled)."""
    _check_url(url)
    inputs = "\n".join(
        f'<input type="hidden" name="{html.escape(name)}" value="{html.escape(value)}">'
        for name, value in call.fields()
    )
    return (
        '<!DOCTYPE html>\n<html lang="fr"><head><meta charset="utf-8">'
        "<title>DRIMbox</title></head>\n"
        '<body onload="document.forms[0].submit()">\n'
        f'<form method="post" action="{html.escape(url)}" '
        'enctype="application/x-www-form-urlencoded">\n'
        f'{inputs}\n<button type="submit">Ouvrir les images (DRIMbox)</button>\n'
        "</form>\n</body></html>\n"
    )


def _check_url(url: str) -> None:
    if not isinstance(url, str) or not re.match(r"^https?://[^\s]+$", url):
        raise DicomError(f"URL de la DRIMbox Conso invalide: {url!r}", code="url")


def open_drimbox(
    call: ContextualCall,
    url: str,
    *,
    timeout: float = 10.0,
    trust: str | os.PathLike[str] | bytes | None = None,
    client_cert: tuple[str, str] | None = None,
    ssl_context: ssl.SSLContext | None = None,
) -> str:
    """POST the appel contextuel to ``url`` and return the viewer URL of the ``302``/``303``
    answer (``Location``, else ``Content-Location`` as the ANS test DRIMbox sends with 302).

    Over HTTPS the TLS context is :func:`segur_ris.tls.client_context` (TLS >= 1.2, ANS
    suites) trusting ``trust`` (PEM file, folder or bytes; ``None``: the system store) with the
    optional ``client_cert`` (PEM certificate, key), or ``ssl_context`` when given. No redirect
    is followed. Another status, or a redirect without a URL, raises
    :class:`~segur_ris.errors.TransportError` (``code`` = HTTP status); a timeout
    :class:`~segur_ris.errors.TransportTimeout`.
    """
    import requests

    from segur_ris.tls import client_context
    from segur_ris.transport import context_adapter

    _check_url(url)
    body = call.body()
    headers = {"Content-Type": "application/x-www-form-urlencoded; charset=UTF-8"}
    try:
        with requests.Session() as session:
            if url.startswith("https://"):
                if ssl_context is None:
                    cert, key = client_cert if client_cert is not None else (None, None)
                    ssl_context = client_context(trust=trust, cert_file=cert, key_file=key)
                session.mount("https://", context_adapter(ssl_context))
            response = session.post(
                url, data=body, headers=headers, allow_redirects=False, timeout=timeout
            )
            with response:
                status = response.status_code
                location = response.headers.get("Location") or response.headers.get(
                    "Content-Location", ""
                )
    except requests.Timeout:
        raise TransportTimeout(
            f"DRIMbox Conso: pas de réponse en {timeout} s", code="timeout"
        ) from None
    except requests.exceptions.SSLError:
        raise TransportError(
            "DRIMbox Conso: échec TLS (certificat serveur non reconnu ?)", code="tls"
        ) from None
    except requests.RequestException as exc:
        raise TransportError(
            f"DRIMbox Conso injoignable ({exc.__class__.__name__})", code="connection"
        ) from None
    if status not in (302, 303):
        raise TransportError(
            f"DRIMbox Conso: HTTP {status} au lieu d'une redirection 302/303", code=str(status)
        )
    if not location:
        raise TransportError(f"DRIMbox Conso: redirection {status} sans Location", code=str(status))
    return urljoin(url, location)
