"""Sans-IO core of the INSi client: request bytes out, typed results in.

Requests are serialised by zeep from the WSDL (packaged description of the CNAM contract, or the
official CNAM WSDL when given), so the body and the ``ContexteLPS``/``ContexteBAM``/``MessageID``
headers follow the schema; we add what the WSDL does not declare (``wsa:Action``, the CPS
``wsse:Security`` assertion kept byte-for-byte).

Responses are read with lxml rather than zeep's ``process_reply``: zeep reports every anomaly as
one generic ``XMLParseError`` and is about 5x slower on the CNAM samples (see
``benchmarks/bench_insi.py``); here each anomaly gets its typed error, and faults their
``siram`` code.
"""

from __future__ import annotations

import copy
import functools
import os
from collections.abc import Sequence
from datetime import datetime
from importlib import resources
from typing import TYPE_CHECKING, Any

from lxml import etree

from segur_ris._xml import parse_xml
from segur_ris.errors import (
    ConfigError,
    IdentityTraitsError,
    InsiFault,
    InsiResponseError,
    InsiTransportError,
    InvalidMatriculeError,
)
from segur_ris.ins import IdentityTraits, Ins, compute_key, parse_matricule
from segur_ris.insi._model import (
    CodeCR,
    InsiContext,
    InsiRequest,
    InsiResult,
    VitaleQuery,
    new_message_id,
    utc_timestamp,
)

if TYPE_CHECKING:
    import zeep

__all__ = [
    "ACTION_CARTE_VITALE",
    "ACTION_TRAITS",
    "build_traits_request",
    "build_vitale_request",
    "parse_response",
]

ACTION_TRAITS = "urn:ServiceIdentiteCertifiee:1.0.0:rechercherInsAvecTraitsIdentite"
ACTION_CARTE_VITALE = "urn:ServiceIdentiteCertifiee:1.0.0:rechercherInsAvecCarteVitale"

NS_SOAP12 = "http://www.w3.org/2003/05/soap-envelope"
NS_WSA = "http://www.w3.org/2005/08/addressing"
NS_WSSE = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd"
NS_RESULTAT = "http://www.cnamts.fr/INSiResultat"
NS_SIRAM = "urn:siram"
_WSA_ADDR_URL = "http://www.w3.org/2006/03/addressing/ws-addr.xsd"

_R = f"{{{NS_RESULTAT}}}"
_S = f"{{{NS_SOAP12}}}"


def _packaged(name: str) -> str:
    return str(resources.files("segur_ris.insi").joinpath("_wsdl", name))


@functools.lru_cache(maxsize=4)
def _zeep_client(wsdl: str) -> zeep.Client:
    """A zeep client on ``wsdl``, loaded once; no network (the WS-Addressing import is local)."""
    import zeep
    from zeep.transports import Transport

    class _OfflineTransport(Transport):  # type: ignore[misc]
        def load(self, url: str) -> bytes:
            if url == _WSA_ADDR_URL:
                url = _packaged("ws-addr-min.xsd")
            elif url.startswith(("http://", "https://")):
                raise ConfigError(f"le WSDL INSi importe une ressource distante: {url}")
            return bytes(super().load(url))

    settings = zeep.Settings(strict=True, forbid_dtd=True, forbid_entities=True)
    try:
        return zeep.Client(os.fspath(wsdl), transport=_OfflineTransport(), settings=settings)
    except (OSError, etree.XMLSyntaxError) as exc:
        raise ConfigError(f"WSDL INSi illisible: {wsdl}: {exc}") from None


def _contexts(context: InsiContext, moment: str, couverture: dict[str, Any]) -> dict[str, Any]:
    lps: dict[str, Any] = {
        "IDAM": {"_value_1": context.idam, "R": context.idam_r},
        "Version": context.lps_version,
        "Instance": context.instance or None,
        "Nom": context.lps_name,
    }
    return {
        "NO1_ContexteLPS": {
            "Id": new_message_id()[5:],
            "Temps": moment,
            "Emetteur": context.emetteur,
            "LPS": lps,
            "Nature": "CTXLPS",
            "Version": "01_00",
        },
        "NO1_ContexteBAM": {
            "Id": new_message_id()[5:],
            "Temps": moment,
            "Emetteur": context.emetteur,
            "COUVERTURE": couverture,
            "Version": "01_02",
        },
    }


def _serialise(
    operation: str,
    action: str,
    body: dict[str, Any],
    headers: dict[str, Any],
    *,
    message_id: str,
    security: Sequence[etree._Element],
    wsdl: str | os.PathLike[str] | None,
) -> InsiRequest:
    client = _zeep_client(os.fspath(wsdl) if wsdl else _packaged("insi.wsdl"))
    headers["NO1_MessageID"] = message_id
    envelope = client.create_message(client.service, operation, **body, _soapheaders=headers)
    header = envelope.find(f"{_S}Header")
    action_el = etree.SubElement(header, f"{{{NS_WSA}}}Action", nsmap={"wsa": NS_WSA})
    action_el.text = action
    if security:
        # CPS mode: the signed SAML assertion(s) go in wsse:Security untouched; the Body gets the
        # Id the CNAM client samples show.
        sec = etree.Element(f"{{{NS_WSSE}}}Security", nsmap={"wsse": NS_WSSE})
        for assertion in security:
            sec.append(copy.deepcopy(assertion))
        header.insert(0, sec)
        body_el = envelope.find(f"{_S}Body")
        body_el.set("Id", "_0")
    data = etree.tostring(envelope, xml_declaration=True, encoding="utf-8")
    return InsiRequest(action=action, message_id=message_id, body=data)


def build_traits_request(
    traits: IdentityTraits,
    context: InsiContext,
    *,
    prenom: str | None = None,
    message_id: str | None = None,
    now: datetime | None = None,
    security: Sequence[etree._Element] = (),
    wsdl: str | os.PathLike[str] | None = None,
) -> InsiRequest:
    """``rechercherInsAvecTraitsIdentite`` for ``traits``.

    One ``Prenom`` is sent: ``prenom`` when given (a first name, or the whole list joined by
    spaces, see :func:`~segur_ris.insi.first_name_attempts`), else the first first name.
    """
    body: dict[str, Any] = {
        "NomNaissance": traits.nom_naissance,
        "Prenom": [prenom or traits.premier_prenom],
        "Sexe": traits.sexe.value,
        "DateNaissance": traits.date_naissance.insi(),
    }
    if traits.lieu_naissance:
        body["LieuNaissance"] = traits.lieu_naissance
    headers = _contexts(context, utc_timestamp(now), {})
    return _serialise(
        "rechercherInsAvecTraitsIdentite",
        ACTION_TRAITS,
        body,
        headers,
        message_id=message_id or new_message_id(),
        security=security,
        wsdl=wsdl,
    )


def build_vitale_request(
    query: VitaleQuery,
    context: InsiContext,
    *,
    message_id: str | None = None,
    now: datetime | None = None,
    security: Sequence[etree._Element] = (),
    wsdl: str | os.PathLike[str] | None = None,
) -> InsiRequest:
    """``rechercherInsAvecCarteVitale`` for the beneficiary read on a carte Vitale.

    The ``ContexteBAM/COUVERTURE/BENEFICIAIRE`` header repeats the beneficiary (NIR, birth date,
    rank), as the CNAM contexts schema provides [?: exact expectations of the CNAM not public].
    """
    date = query.date_naissance.insi()
    body: dict[str, Any] = {
        "MatriculeIndividu": {"NumIdentifiant": query.nir, "Cle": query.cle},
        "DateNaissance": date,
    }
    if query.nir_od:
        body["MatriculeOD"] = {"NumIdentifiant": query.nir_od, "Cle": query.cle_od}
    if query.nom_naissance:
        body["NomNaissance"] = query.nom_naissance
    if query.rang_naissance:
        body["RangNaissance"] = query.rang_naissance
    beneficiaire: dict[str, Any] = {"Nir": {"Num": query.nir, "Cle": query.cle}, "DateNai": date}
    if query.rang_naissance:
        beneficiaire["Rang"] = query.rang_naissance
    headers = _contexts(context, utc_timestamp(now), {"BENEFICIAIRE": beneficiaire})
    return _serialise(
        "rechercherInsAvecCarteVitale",
        ACTION_CARTE_VITALE,
        body,
        headers,
        message_id=message_id or new_message_id(),
        security=security,
        wsdl=wsdl,
    )


# --- responses -------------------------------------------------------------------------------


def _children(parent: etree._Element) -> dict[str, etree._Element]:
    """Direct RESULTAT-namespace children by local name (first occurrence): one pass instead
    of one ElementPath search per field, which dominated the parse time."""
    found: dict[str, etree._Element] = {}
    for child in parent:
        tag = child.tag
        if isinstance(tag, str) and tag.startswith(_R):
            found.setdefault(tag[len(_R) :], child)
    return found


def _text(fields: dict[str, etree._Element], name: str) -> str | None:
    child = fields.get(name)
    if child is None or child.text is None:
        return None
    return child.text.strip() or None


def _required(fields: dict[str, etree._Element], name: str, where: str) -> str:
    value = _text(fields, name)
    if not value:
        raise InsiResponseError(f"réponse INSi: élément {where}/{name} absent ou vide")
    return value


def _ins(element: etree._Element, where: str, *, historical: bool) -> Ins:
    fields = _children(element)
    ident = fields.get("IdIndividu")
    if ident is None:
        raise InsiResponseError(f"réponse INSi: {where}/IdIndividu absent")
    ident_fields = _children(ident)
    number = _required(ident_fields, "NumIdentifiant", f"{where}/IdIndividu")
    oid = _required(fields, "OID", where)
    try:
        key = _text(ident_fields, "Cle") or compute_key(number)  # Cle is optional in the XSD
        return Ins(matricule=parse_matricule(number + key, historical=historical), oid=oid)
    except InvalidMatriculeError as exc:
        raise InsiResponseError(f"réponse INSi: {where} invalide: {exc.message}") from None


def _traits(tiq: etree._Element) -> IdentityTraits:
    fields = _children(tiq)
    prenoms = _text(fields, "ListePrenom") or _text(fields, "Prenom") or ""
    try:
        return IdentityTraits.create(
            nom_naissance=_text(fields, "NomNaissance") or "",
            prenoms=prenoms,
            sexe=_text(fields, "Sexe") or "",
            date_naissance=_text(fields, "DateNaissance") or "",
            lieu_naissance=_text(fields, "LieuNaissance"),
        )
    except IdentityTraitsError as exc:
        raise InsiResponseError(f"réponse INSi: traits TIQ invalides: {exc.message}") from None


def _fault(fault: etree._Element) -> InsiFault:
    def first(path: str) -> str | None:
        found = fault.find(path)
        return found.text.strip() if found is not None and found.text else None

    value = first(f"{_S}Code/{_S}Value")
    subcode = first(f"{_S}Code/{_S}Subcode/{_S}Value")
    if subcode and ":" in subcode:
        subcode = subcode.split(":", 1)[1]
    reason = first(f"{_S}Reason/{_S}Text") or "faute SOAP sans motif"
    erreur = fault.find(f"{_S}Detail/{{{NS_SIRAM}}}Erreur")
    code = severity = None
    message = reason
    if erreur is not None:
        code = erreur.get("code")
        severity = erreur.get("severite")  # an xs:QName: keep the local part
        if severity and ":" in severity:
            severity = severity.split(":", 1)[1]
        if erreur.text and erreur.text.strip():
            message = f"{reason}: {erreur.text.strip()}"
    return InsiFault(
        f"faute INSi ({value or 'soap'}): {message}",
        code=code or subcode,
        subcode=subcode,
        severity=severity,
    )


def parse_response(
    body: bytes,
    *,
    status: int = 200,
    prenom: str | None = None,
    message_id: str | None = None,
) -> InsiResult:
    """Read an INSi answer: a :class:`InsiResult`, or raise :class:`InsiFault` for a SOAP fault,
    :class:`InsiTransportError` for a non-SOAP HTTP error, :class:`InsiResponseError` for
    anything malformed or unexpected — including an answer whose ``wsa:RelatesTo`` names
    another request than ``message_id`` (when both are known)."""
    try:
        root = parse_xml(body, what="réponse INSi", error=InsiResponseError)
    except InsiResponseError:
        if status >= 400:
            raise InsiTransportError(f"INSi: erreur HTTP {status}", code=str(status)) from None
        raise
    if root.tag != f"{_S}Envelope":
        if status >= 400:
            raise InsiTransportError(f"INSi: erreur HTTP {status}", code=str(status))
        raise InsiResponseError(f"réponse INSi: enveloppe SOAP 1.2 attendue, reçu {root.tag}")
    soap_body = root.find(f"{_S}Body")
    content = None if soap_body is None else next(iter(soap_body.iterchildren("{*}*")), None)
    if content is None:
        raise InsiResponseError("réponse INSi: corps SOAP vide")
    if content.tag == f"{_S}Fault":
        raise _fault(content)
    if content.tag != f"{_R}RESULTAT":
        raise InsiResponseError(f"réponse INSi: RESULTAT attendu, reçu {content.tag}")
    parts = _children(content)
    cr_element = parts.get("CR")
    if cr_element is None:
        raise InsiResponseError("réponse INSi: compte rendu CR absent")
    cr = _children(cr_element)
    raw_code = _required(cr, "CodeCR", "CR")
    try:
        code = CodeCR(raw_code)
    except ValueError:
        raise InsiResponseError(f"réponse INSi: CodeCR inconnu {raw_code!r}") from None
    libelle = _text(cr, "LibelleCR") or ""
    relates = root.find(f"{_S}Header/{{{NS_WSA}}}RelatesTo")
    relates_to = relates.text.strip() if relates is not None and relates.text else None
    if message_id and relates_to and relates_to != message_id:
        raise InsiResponseError(
            f"réponse INSi: RelatesTo {relates_to!r} ne correspond pas à la requête {message_id!r}"
        )
    if code is not CodeCR.OK:
        return InsiResult(code, libelle, relates_to=relates_to, prenom_envoye=prenom)
    individu = parts.get("INDIVIDU")
    if individu is None:
        raise InsiResponseError("réponse INSi: CodeCR 00 sans INDIVIDU")
    members = _children(individu)
    actif, tiq = members.get("INSACTIF"), members.get("TIQ")
    if actif is None or tiq is None:
        raise InsiResponseError("réponse INSi: INDIVIDU sans INSACTIF ou TIQ")
    # The INSi is the authority on the INS: a key that does not check (CNDA test case 2.08
    # cas 2, HERMANN, in INSACTIF and INSHISTO) warns with InsKeyWarning instead of failing;
    # every other rule (length, characters, OID) still fails.
    historiques = tuple(
        _ins(h, "INSHISTO", historical=True) for h in individu.iterfind(f"{_R}INSHISTO")
    )
    return InsiResult(
        code,
        libelle,
        ins=_ins(actif, "INSACTIF", historical=True),
        historiques=historiques,
        traits=_traits(tiq),
        relates_to=relates_to,
        prenom_envoye=prenom,
    )
