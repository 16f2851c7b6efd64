"""Sandbox of the CNAM INSi teleservice (``ServiceIdentiteCertifiee`` v1, WSDL 1.5.0).

:class:`InsiSandboxCore` is sans-IO: it turns a request body (+ content type + client
certificate CN) into a SOAP 1.2 answer. :class:`InsiSandbox` serves it over mutual TLS on
127.0.0.1 at ``/lps``, like ``https://qualiflps-services-ps-tlsm.ameli.fr/lps``.

Answers imitate the recorded responses of the qualification platform: ``RESULTAT`` (ns
``http://www.cnamts.fr/INSiResultat``) with CR ``00`` / ``01`` / ``02``, or a SOAP 1.2 fault whose
``Detail`` holds ``siram:Erreur``. Faults (codes as observed by padoa/tlsi-ins against the real
service, README and recorded fixtures; ``[?]`` = our choice where nothing is documented):

===================================  ========  =========  ==========  ========================
situation                            Code      Subcode    Erreur      source
===================================  ========  =========  ==========  ========================
client CN not INSI-AUTO/INSI-MANU,   Sender    siram_100  desir_560   README (code, message);
or no client certificate                                               subcode/severity [?]
ContexteLPS or IDAM absent, IDAM     Sender    siram_100  desir_550   recorded fault (fake
not in ``allowed_idams``                                               IDAM), exact layout
invalid contexts or traits,          Receiver  siram_40   insi_102    recorded fault (invalid
malformed RECSANSVITALE/RECVITALE                                      traits) [?] for contexts
not XML, DOCTYPE, not a SOAP 1.2     Sender    siram_40   insi_102    [?]
envelope, unknown/absent action,
wrong content type (HTTP 415)
SOAP 1.1 envelope                    Version-  –          insi_102    SOAP 1.2 §5.4.7 [?]
                                     Mismatch
===================================  ========  =========  ==========  ========================

HTTP status follows the SOAP 1.2 HTTP binding: 400 for ``Sender``, 500 otherwise, 415 for a
content type other than ``application/soap+xml``. The real service wrote ``severite="fatal"`` in
its insi_102 faults, which its own XSD (``schema_faultSOAP_V01_01``) rejects; the sandbox emits
the schema value ``fatale`` (also seen in real desir_1020 faults). ``Reason/Text`` is always
``xml:lang="fr"`` (the real insi_102 says ``en``); ``siram:Erreur/@messageID`` echoes the request
``wsa:MessageID`` as in the recorded desir_550 fault. Checks run in this order: content type,
XML/envelope, client CN, action, ContexteLPS (IDAM), ContexteBAM, body.

Unlike the recorded answers (bare ``Body``), every answer carries a ``soap:Header`` with
``wsa:Action`` (``<operation>Response``, or the WS-Addressing fault action), a fresh
``wsa:MessageID`` and ``wsa:RelatesTo`` = the request ``wsa:MessageID`` when there was one.
``TIQ`` holds both ``Prenom`` and ``ListePrenom``, like the CNDA test-case responses.

Matching rules (nothing is normalised; the real service is fuzzier):

* traits search: exact ``NomNaissance``, ``Sexe``, ``DateNaissance`` and, when sent,
  ``LieuNaissance``; one ``Prenom`` matches the identity's first first name or its whole
  first-name list ("PIERRE PAUL JACQUES"); several ``Prenom`` elements are joined by spaces and
  compared with the whole list ("CATARINA BELLA");
* carte Vitale search: ``MatriculeIndividu/NumIdentifiant`` (+ ``Cle`` when sent) equal to an
  active INS-NIR (never a NIA) and the same ``DateNaissance``; ``NomNaissance``, ``RangNaissance``
  and ``MatriculeOD`` are ignored (simplification: a child on a parent's card is not modelled).
"""

from __future__ import annotations

import logging
import re
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from email.message import Message
from typing import cast

from lxml import etree

from segur_ris._xml import parse_xml
from segur_ris.codes import OID_INS_NIA
from segur_ris.errors import XmlError
from segur_ris.insi import ACTION_CARTE_VITALE, ACTION_TRAITS
from segur_ris.sandbox._identities import CNDA_IDENTITIES, SandboxIdentity, SandboxIns
from segur_ris.sandbox._pki import TestPki
from segur_ris.sandbox._server import (
    HttpRequest,
    HttpResponse,
    SandboxHttpsServer,
    server_tls_context,
)

__all__ = [
    "ALLOWED_CLIENT_CNS",
    "InsiSandbox",
    "InsiSandboxCore",
    "SoapAnswer",
]

_log = logging.getLogger("segur_ris.sandbox.insi")

NS_SOAP12 = "http://www.w3.org/2003/05/soap-envelope"
NS_SOAP11 = "http://schemas.xmlsoap.org/soap/envelope/"
NS_WSA = "http://www.w3.org/2005/08/addressing"
NS_CTXBAM = "urn:siram:bam:ctxbam"
NS_CTXLPS = "urn:siram:lps:ctxlps"
NS_SIRAM = "urn:siram"
NS_RECSANS = "http://www.cnamts.fr/INSiRecSans"
NS_RECVIT = "http://www.cnamts.fr/INSiRecVit"
NS_RESULTAT = "http://www.cnamts.fr/INSiResultat"
NS_WSSE = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd"
NS_SAML2 = "urn:oasis:names:tc:SAML:2.0:assertion"
_XML_LANG = "{http://www.w3.org/XML/1998/namespace}lang"

_FAULT_ACTION = "http://www.w3.org/2005/08/addressing/soap/fault"
#: The only client-certificate CNs the INSi accepts.
ALLOWED_CLIENT_CNS = frozenset({"INSI-AUTO", "INSI-MANU"})
#: Path of the service, as in the CNAM endpoints.
INSI_PATH = "/lps"

_CONTENT_TYPE = "application/soap+xml;charset=UTF-8"
# lxml-stubs types nsmap keys as str; lxml takes None for the default namespace
_DEFAULT_NS_RESULTAT = cast("dict[str, str]", {None: NS_RESULTAT})
_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
_DATETIME = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})?")
_COG = re.compile(r"[A-Za-z0-9]{5}")
_NIR = re.compile(r"\d{6}[0-9AB]\d{6}")
_CLE = re.compile(r"\d{2}")

_REASON_SIRAM_40 = (
    "Le service est temporairement inaccessible. Veuillez renouveler votre demande "
    "ultérieurement. Si le problème persiste, contactez l'éditeur du progiciel ou votre "
    "responsable informatique."
)
_REASON_SIRAM_100 = (
    "L'accès par ce progiciel au service n'est pas autorisé. Contactez l'éditeur du progiciel "
    "ou votre responsable informatique."
)
_REASON_DESIR_560 = "Vous ne disposez pas des droits suffisants pour accéder à ce service."
_TEXT_INSI_102 = (
    "L'appel au service de recherche avec les traits d'identité renvoie une erreur technique."
)


@dataclass(frozen=True, slots=True)
class SoapAnswer:
    """An HTTP answer of the INSi sandbox."""

    status: int
    content_type: str
    body: bytes


@dataclass(frozen=True, slots=True)
class _FaultKind:
    code: str
    subcode: str | None
    reason: str
    erreur: str
    severite: str

    @property
    def status(self) -> int:
        return 400 if self.code == "Sender" else 500


_ACCESS = _FaultKind("Sender", "siram_100", _REASON_DESIR_560, "desir_560", "erreur")
_IDAM = _FaultKind("Sender", "siram_100", _REASON_SIRAM_100, "desir_550", "erreur")
_TECHNICAL = _FaultKind("Receiver", "siram_40", _REASON_SIRAM_40, "insi_102", "fatale")
_NOT_SOAP = _FaultKind("Sender", "siram_40", _REASON_SIRAM_40, "insi_102", "fatale")
_VERSION = _FaultKind("VersionMismatch", None, _REASON_SIRAM_40, "insi_102", "fatale")


class _Fault(Exception):
    def __init__(self, kind: _FaultKind, text: str, *, status: int | None = None) -> None:
        super().__init__(text)
        self.kind = kind
        self.text = text
        self.status = status or kind.status


def _q(ns: str, name: str) -> str:
    return f"{{{ns}}}{name}"


def _text(element: etree._Element | None) -> str | None:
    if element is None:
        return None
    return (element.text or "").strip()


def _sub(parent: etree._Element, name: str, text: str | None = None) -> etree._Element:
    """A child of ``parent`` in the INSiResultat namespace."""
    element = etree.SubElement(parent, _q(NS_RESULTAT, name))
    element.text = text
    return element


def _children(element: etree._Element) -> list[etree._Element]:
    return [child for child in element if isinstance(child.tag, str)]


def _parse_xml(body: bytes) -> etree._Element:
    """Parse ``body`` with the SDK's XXE-safe parser; any refusal becomes an ``insi_102`` fault."""
    try:
        return parse_xml(body, what="message SOAP")
    except XmlError as exc:
        raise _Fault(_NOT_SOAP, exc.message) from None


class InsiSandboxCore:
    """The INSi logic without any I/O: :meth:`handle` answers one request.

    ``identities`` is the base searched; ``allowed_idams`` (``None``: any non-empty IDAM) lists
    the software authorisation numbers accepted, to reproduce ``desir_550``; ``allowed_cns`` the
    client-certificate CNs accepted (``desir_560`` otherwise). With ``accept_cps``, a request
    without client certificate is accepted when its ``wsse:Security`` carries a CPS SAML
    assertion (``Subject/NameID[@NameQualifier="CPS"]``), as on the CNAM CPS endpoint; the
    card's signature is not verified (the sandbox has no CPS trust chain).
    """

    def __init__(
        self,
        identities: Iterable[SandboxIdentity] = CNDA_IDENTITIES,
        *,
        allowed_idams: Iterable[str] | None = None,
        allowed_cns: Iterable[str] = ALLOWED_CLIENT_CNS,
        accept_cps: bool = False,
    ) -> None:
        self.accept_cps = accept_cps
        self.identities: tuple[SandboxIdentity, ...] = tuple(identities)
        self.allowed_idams = None if allowed_idams is None else frozenset(allowed_idams)
        self.allowed_cns = frozenset(allowed_cns)

    # --- entry point -------------------------------------------------------------------------

    def handle(self, body: bytes, content_type: str, client_cn: str | None) -> SoapAnswer:
        """Answer one HTTP POST body; ``client_cn`` is the CN of the TLS client certificate
        (``None`` when the transport presented none, which is refused like a wrong CN)."""
        message_id: str | None = None
        try:
            media_type, ct_action = self._content_type(content_type)
            if media_type != "application/soap+xml":
                raise _Fault(
                    _NOT_SOAP,
                    f"type de contenu {media_type!r} refusé: SOAP 1.2 (application/soap+xml)",
                    status=415,
                )
            header, soap_body = self._envelope(_parse_xml(body))
            if header is not None:
                message_id = _text(header.find(_q(NS_WSA, "MessageID"))) or None
            self._check_client(client_cn, header)
            if header is None:
                raise _Fault(_TECHNICAL, "en-tête SOAP absent (ContexteBAM, ContexteLPS)")
            action = self._action(header, ct_action)
            self._check_lps(header)
            self._check_bam(header)
            request = self._single_child(soap_body)
            if action == ACTION_TRAITS:
                found = self.search_traits(*self._traits(request))
            else:
                found = self.search_carte_vitale(*self._vitale(request))
            return self._result(action, found, message_id)
        except _Fault as fault:
            _log.debug("INSi sandbox fault %s: %s", fault.kind.erreur, fault.text)
            return self._fault(fault, message_id)

    # --- searches ----------------------------------------------------------------------------

    def search_traits(
        self,
        nom: str,
        prenoms: Sequence[str],
        sexe: str,
        date: str,
        lieu: str | None = None,
    ) -> list[SandboxIdentity]:
        """Identities matching the traits exactly (see the module docstring)."""
        sent = " ".join(prenoms)

        def first_names_match(identity: SandboxIdentity) -> bool:
            if len(prenoms) == 1:
                return sent in (identity.first_name, identity.first_names_list)
            return sent == identity.first_names_list

        return [
            identity
            for identity in self.identities
            if identity.birth_name == nom
            and first_names_match(identity)
            and identity.sex == sexe
            and identity.birth_date == date
            and (lieu is None or identity.birth_place == lieu)
        ]

    def search_carte_vitale(self, nir: str, cle: str | None, date: str) -> list[SandboxIdentity]:
        """Identities whose active INS-NIR is ``nir`` (+ ``cle``) and born on ``date``."""
        return [
            identity
            for identity in self.identities
            if identity.oid != OID_INS_NIA
            and identity.nir == nir
            and (cle is None or identity.key == cle)
            and identity.birth_date == date
        ]

    # --- request checks ----------------------------------------------------------------------

    @staticmethod
    def _content_type(content_type: str) -> tuple[str, str | None]:
        message = Message()
        message["content-type"] = content_type or "application/octet-stream"
        action = message.get_param("action")
        return message.get_content_type(), action if isinstance(action, str) else None

    @staticmethod
    def _envelope(root: etree._Element) -> tuple[etree._Element | None, etree._Element]:
        if root.tag == _q(NS_SOAP11, "Envelope"):
            raise _Fault(_VERSION, "enveloppe SOAP 1.1 reçue: le service n'accepte que SOAP 1.2")
        if root.tag != _q(NS_SOAP12, "Envelope"):
            raise _Fault(_NOT_SOAP, f"élément racine {root.tag!r}: enveloppe SOAP 1.2 attendue")
        header = root.find(_q(NS_SOAP12, "Header"))
        body = root.find(_q(NS_SOAP12, "Body"))
        if body is None:
            raise _Fault(_NOT_SOAP, "soap:Body absent")
        return header, body

    def _check_client(self, client_cn: str | None, header: etree._Element | None) -> None:
        if client_cn is None and self.accept_cps and header is not None:
            name_id = header.find(
                f"{_q(NS_WSSE, 'Security')}/{_q(NS_SAML2, 'Assertion')}/"
                f"{_q(NS_SAML2, 'Subject')}/{_q(NS_SAML2, 'NameID')}"
            )
            if name_id is not None and name_id.get("NameQualifier") == "CPS" and name_id.text:
                return
        if client_cn not in self.allowed_cns:
            shown = "aucun certificat client" if client_cn is None else f"CN {client_cn!r}"
            raise _Fault(
                _ACCESS,
                f"Niveau d'accès insuffisant ({shown}; attendu "
                f"{' ou '.join(sorted(self.allowed_cns))}).",
            )

    @staticmethod
    def _action(header: etree._Element, ct_action: str | None) -> str:
        wsa_action = _text(header.find(_q(NS_WSA, "Action")))
        if wsa_action and ct_action and wsa_action != ct_action.strip():
            raise _Fault(
                _NOT_SOAP, f"action incohérente: wsa:Action {wsa_action!r} / HTTP {ct_action!r}"
            )
        action = wsa_action or (ct_action or "").strip()
        if action not in (ACTION_TRAITS, ACTION_CARTE_VITALE):
            raise _Fault(_NOT_SOAP, f"opération inconnue: {action or '(aucune action)'!r}")
        return action

    def _check_lps(self, header: etree._Element) -> None:
        context = header.find(_q(NS_CTXLPS, "ContexteLPS"))
        if context is None:
            raise _Fault(_IDAM, "Numéro d'autorisation du logiciel inconnu. (ContexteLPS absent)")
        idam = _text(context.find(f"{_q(NS_CTXLPS, 'LPS')}/{_q(NS_CTXLPS, 'IDAM')}"))
        if not idam:
            raise _Fault(_IDAM, "Numéro d'autorisation du logiciel inconnu. (IDAM absent)")
        if self.allowed_idams is not None and idam not in self.allowed_idams:
            raise _Fault(_IDAM, "Numéro d'autorisation du logiciel inconnu.")
        self._check_context(context, NS_CTXLPS, "ContexteLPS")

    def _check_bam(self, header: etree._Element) -> None:
        context = header.find(_q(NS_CTXBAM, "ContexteBAM"))
        if context is None:
            raise _Fault(_TECHNICAL, "ContexteBAM absent de l'en-tête SOAP")
        self._check_context(context, NS_CTXBAM, "ContexteBAM")
        if context.find(_q(NS_CTXBAM, "COUVERTURE")) is None:
            raise _Fault(_TECHNICAL, "ContexteBAM/COUVERTURE absent")

    @staticmethod
    def _check_context(context: etree._Element, ns: str, name: str) -> None:
        if not context.get("Version"):
            raise _Fault(_TECHNICAL, f"{name}/@Version absent")
        if not _text(context.find(_q(ns, "Id"))):
            raise _Fault(_TECHNICAL, f"{name}/Id absent")
        temps = _text(context.find(_q(ns, "Temps"))) or ""
        if not _DATETIME.fullmatch(temps):
            raise _Fault(_TECHNICAL, f"{name}/Temps absent ou invalide: {temps!r}")

    @staticmethod
    def _single_child(soap_body: etree._Element) -> etree._Element:
        children = _children(soap_body)
        if len(children) != 1:
            raise _Fault(_TECHNICAL, f"soap:Body doit contenir une requête, pas {len(children)}")
        return children[0]

    @staticmethod
    def _fields(
        request: etree._Element, ns: str, order: Sequence[str], repeatable: frozenset[str]
    ) -> dict[str, list[etree._Element]]:
        """Children of ``request`` by local name, checking namespace, order and cardinality."""
        found: dict[str, list[etree._Element]] = {}
        position = 0
        for child in _children(request):
            qname = etree.QName(child)
            if qname.namespace != ns or qname.localname not in order:
                raise _Fault(_TECHNICAL, f"élément inattendu {child.tag!r}")
            index = order.index(qname.localname)
            if index < position:
                raise _Fault(_TECHNICAL, f"élément {qname.localname} hors séquence")
            position = index
            values = found.setdefault(qname.localname, [])
            if values and qname.localname not in repeatable:
                raise _Fault(_TECHNICAL, f"élément {qname.localname} répété")
            values.append(child)
        return found

    def _traits(self, request: etree._Element) -> tuple[str, tuple[str, ...], str, str, str | None]:
        if request.tag != _q(NS_RECSANS, "RECSANSVITALE"):
            raise _Fault(
                _NOT_SOAP, f"{request.tag!r} reçu, RECSANSVITALE attendu pour {ACTION_TRAITS}"
            )
        order = ("NomNaissance", "Prenom", "Sexe", "DateNaissance", "LieuNaissance")
        fields = self._fields(request, NS_RECSANS, order, frozenset({"Prenom"}))

        def value(name: str) -> str:
            element = fields.get(name, [None])[0]
            text = None if element is None else element.text
            if not text:
                raise _Fault(_TECHNICAL, f"trait {name} absent ou vide")
            return text

        prenoms = tuple(element.text or "" for element in fields.get("Prenom", []))
        if not prenoms or not all(prenoms):
            raise _Fault(_TECHNICAL, "trait Prenom absent ou vide")
        sexe, date = value("Sexe"), value("DateNaissance")
        if sexe not in ("M", "F"):
            raise _Fault(_TECHNICAL, f"Sexe invalide: {sexe!r} (M ou F)")
        if not _DATE.fullmatch(date):
            raise _Fault(_TECHNICAL, f"DateNaissance invalide: {date!r} (AAAA-MM-JJ)")
        lieu = value("LieuNaissance") if "LieuNaissance" in fields else None
        if lieu is not None and not _COG.fullmatch(lieu):
            raise _Fault(_TECHNICAL, f"LieuNaissance invalide: {lieu!r} (code COG à 5 caractères)")
        return value("NomNaissance"), prenoms, sexe, date, lieu

    def _vitale(self, request: etree._Element) -> tuple[str, str | None, str]:
        if request.tag != _q(NS_RECVIT, "RECVITALE"):
            raise _Fault(
                _NOT_SOAP, f"{request.tag!r} reçu, RECVITALE attendu pour {ACTION_CARTE_VITALE}"
            )
        order = (
            "MatriculeIndividu",
            "MatriculeOD",
            "NomNaissance",
            "DateNaissance",
            "RangNaissance",
        )
        fields = self._fields(request, NS_RECVIT, order, frozenset())
        matricule = fields.get("MatriculeIndividu", [None])[0]
        if matricule is None:
            raise _Fault(_TECHNICAL, "MatriculeIndividu absent")
        self._fields(matricule, NS_RECVIT, ("NumIdentifiant", "Cle", "TypeMatricule"), frozenset())
        nir = _text(matricule.find(_q(NS_RECVIT, "NumIdentifiant"))) or ""
        cle = _text(matricule.find(_q(NS_RECVIT, "Cle")))
        if not _NIR.fullmatch(nir):
            raise _Fault(_TECHNICAL, f"MatriculeIndividu/NumIdentifiant invalide: {nir!r}")
        if cle is not None and not _CLE.fullmatch(cle):
            raise _Fault(_TECHNICAL, f"MatriculeIndividu/Cle invalide: {cle!r}")
        date_element = fields.get("DateNaissance", [None])[0]
        date = _text(date_element) or ""
        if not _DATE.fullmatch(date):
            raise _Fault(_TECHNICAL, f"DateNaissance absente ou invalide: {date!r}")
        return nir, cle, date

    # --- answers -----------------------------------------------------------------------------

    @staticmethod
    def _envelope_for(action: str, relates_to: str | None) -> tuple[etree._Element, etree._Element]:
        envelope = etree.Element(_q(NS_SOAP12, "Envelope"), nsmap={"soap": NS_SOAP12})
        header = etree.SubElement(envelope, _q(NS_SOAP12, "Header"), nsmap={"wsa": NS_WSA})
        etree.SubElement(header, _q(NS_WSA, "Action")).text = action
        etree.SubElement(header, _q(NS_WSA, "MessageID")).text = f"uuid:{uuid.uuid4()}"
        if relates_to:
            etree.SubElement(header, _q(NS_WSA, "RelatesTo")).text = relates_to
        return envelope, etree.SubElement(envelope, _q(NS_SOAP12, "Body"))

    @staticmethod
    def _serialise(envelope: etree._Element, status: int) -> SoapAnswer:
        body = etree.tostring(envelope, xml_declaration=True, encoding="UTF-8")
        return SoapAnswer(status=status, content_type=_CONTENT_TYPE, body=body)

    def _result(
        self, action: str, found: Sequence[SandboxIdentity], message_id: str | None
    ) -> SoapAnswer:
        envelope, body = self._envelope_for(action + "Response", message_id)
        result = etree.SubElement(body, _q(NS_RESULTAT, "RESULTAT"), nsmap=_DEFAULT_NS_RESULTAT)
        cr = _sub(result, "CR")
        if len(found) == 1:
            _sub(cr, "CodeCR", "00")
            _sub(cr, "LibelleCR", "OK")
            self._individu(_sub(result, "INDIVIDU"), found[0])
        elif not found:
            _sub(cr, "CodeCR", "01")
            _sub(cr, "LibelleCR", "Aucune identite trouvee")
        else:
            _sub(cr, "CodeCR", "02")
            _sub(cr, "LibelleCR", "Plusieurs identites trouvees")
        return self._serialise(envelope, 200)

    @staticmethod
    def _individu(individu: etree._Element, identity: SandboxIdentity) -> None:
        def ins(name: str, value: SandboxIns) -> None:
            element = _sub(individu, name)
            id_individu = _sub(element, "IdIndividu")
            _sub(id_individu, "NumIdentifiant", value.nir)
            _sub(id_individu, "Cle", value.key)
            if value.type_matricule:
                _sub(id_individu, "TypeMatricule", value.type_matricule)
            _sub(element, "OID", value.oid)
            if value.date_deb:
                _sub(element, "DateDeb", value.date_deb)
            if value.date_fin:
                _sub(element, "DateFin", value.date_fin)

        ins("INSACTIF", identity.ins)
        for historical in identity.history:
            ins("INSHISTO", historical)
        tiq = _sub(individu, "TIQ")
        _sub(tiq, "NomNaissance", identity.birth_name)
        _sub(tiq, "Prenom", identity.first_name)
        _sub(tiq, "ListePrenom", identity.first_names_list)
        _sub(tiq, "Sexe", identity.sex)
        _sub(tiq, "DateNaissance", identity.birth_date)
        if identity.birth_place:
            _sub(tiq, "LieuNaissance", identity.birth_place)

    def _fault(self, fault: _Fault, message_id: str | None) -> SoapAnswer:
        kind = fault.kind
        envelope, body = self._envelope_for(_FAULT_ACTION, message_id)
        element = etree.SubElement(body, _q(NS_SOAP12, "Fault"))
        code = etree.SubElement(element, _q(NS_SOAP12, "Code"))
        etree.SubElement(code, _q(NS_SOAP12, "Value")).text = f"soap:{kind.code}"
        if kind.subcode:
            subcode = etree.SubElement(code, _q(NS_SOAP12, "Subcode"))
            # the real service qualifies its siram subcodes with the envelope prefix
            etree.SubElement(subcode, _q(NS_SOAP12, "Value")).text = f"soap:{kind.subcode}"
        reason = etree.SubElement(element, _q(NS_SOAP12, "Reason"))
        text = etree.SubElement(reason, _q(NS_SOAP12, "Text"))
        text.set(_XML_LANG, "fr")
        text.text = kind.reason
        detail = etree.SubElement(element, _q(NS_SOAP12, "Detail"))
        erreur = etree.SubElement(detail, _q(NS_SIRAM, "Erreur"), nsmap={"siram": NS_SIRAM})
        erreur.set("code", kind.erreur)
        erreur.set("severite", kind.severite)
        if message_id:
            erreur.set("messageID", message_id)
        # insi_102 keeps the service's own wording; the sandbox adds what was wrong
        is_102 = kind.erreur == "insi_102"
        erreur.text = f"{_TEXT_INSI_102} ({fault.text})" if is_102 else fault.text
        return self._serialise(envelope, fault.status)


class InsiSandbox(SandboxHttpsServer):
    """The INSi sandbox over HTTPS with client certificates (``CERT_REQUIRED`` against
    ``pki.ca_cert``, TLS >= 1.2) on loopback, answering at :attr:`url`.

    ``core`` (default: an :class:`InsiSandboxCore` over ``identities`` / ``allowed_idams``)
    holds the logic; ``requests`` and ``delay`` come from :class:`SandboxHttpsServer`.
    ``cps=True`` stands in for the CPS endpoint instead: server-only TLS, authentication by the
    CPS SAML assertion in ``wsse:Security``.
    """

    def __init__(
        self,
        pki: TestPki,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        core: InsiSandboxCore | None = None,
        identities: Iterable[SandboxIdentity] = CNDA_IDENTITIES,
        allowed_idams: Iterable[str] | None = None,
        cps: bool = False,
    ) -> None:
        self.core = core or InsiSandboxCore(identities, allowed_idams=allowed_idams, accept_cps=cps)
        context = server_tls_context(
            pki.server_cert, pki.server_key, pki.ca_cert, require_client_cert=not cps
        )
        super().__init__(self._serve, context, host=host, port=port, name="insi-sandbox")

    @property
    def url(self) -> str:
        """The service URL, ``https://127.0.0.1:<port>/lps``."""
        return self.base_url + INSI_PATH

    def _serve(self, request: HttpRequest) -> HttpResponse:
        text = "text/plain; charset=utf-8"
        if request.path.split("?", 1)[0] != INSI_PATH:
            return HttpResponse(404, text, f"{request.path}: inconnu (service: /lps)\n".encode())
        if request.method != "POST":
            return HttpResponse(405, text, b"POST uniquement\n", headers={"Allow": "POST"})
        answer = self.core.handle(
            request.body, request.headers.get("content-type", ""), request.client_cn
        )
        return HttpResponse(answer.status, answer.content_type, answer.body)
