"""Sandbox of the DMP web services (``registry``, ``repository``, ``patients``, ``habilitations``).

:class:`DmpSandboxCore` is sans-IO: ``handle(service, body, content_type, client_cn)`` answers one
request. :class:`DmpSandbox` serves it over mutual TLS on 127.0.0.1 (client certificates chained
to the ORG CA), services at ``<url>/registry``, ``/repository``, ``/patients``, ``/habilitations``;
documents live in a :class:`~segur_ris.sandbox._dmp_store.DmpStore` (SQLite, ``db_path`` to keep
them across restarts).

Every request: SOAP 1.2 (plain, or MTOM ``multipart/related`` — answers to an MTOM request are
MTOM), a ``wsse:Security`` holding a VIHF; in ``INDIRECTE``/``INDIRECTE_RENFORCEE`` mode its
signature must verify against the ORG CA. A SOAP 1.1 envelope namespace is tolerated (the
official TD2.1 sample uses it); answers are always SOAP 1.2. Bodies are parsed structurally by
:mod:`segur_ris.xds`.

IHE XSD validation is optional, since the SDK does not ship the IHE schemas: ``schemas`` (or
``$SEGUR_RIS_IHE_SCHEMAS``) names a folder laid out like the IHE ITI kit
(``IHE/XDS.b_DocumentRepository.xsd``, ``ebRS/{rim,rs,lcm,query}.xsd``,
``www.w3.org/2001/xml.xsd``; loaded once, offline). Then the body of each ITI-41 (after XOP
reconstitution of an MTOM message), ITI-43, ITI-18 and ITI-57 request is validated (the IHE
schema imports ``lcm.xsd`` and ``query.xsd``) before being handled; an invalid request is
answered, in the transaction's own response element, with status Failure and one
``XDSRegistryMetadataError`` whose codeContext is the first XSD message: ``RegistryResponse``
(ITI-41, ITI-57), ``AdhocQueryResponse`` (ITI-18), ``RetrieveDocumentSetResponse`` (ITI-43: no
SOAP fault, the response carries an ``rs:RegistryResponse`` like any other ITI-43 error) [?].

ITI-18 stored queries: FindDocuments, FindDocumentsByReferenceId, GetDocuments,
FindSubmissionSets and GetAssociations (SubmissionSets and Associations are those registered
by ITI-41, kept in the store; ITI-57 ones are not kept) [?]; others answer
``XDSUnknownStoredQuery``.

Sandbox choices where the DMP documentation is silent ([?]):

* SOAP faults (``Sender``, HTTP 400; ``Receiver``, 500 for internal errors) carry one of the
  subcodes :data:`FAULT_NO_CLIENT_CERT`, :data:`FAULT_BAD_REQUEST`, :data:`FAULT_VIHF_MISSING`,
  :data:`FAULT_VIHF_INVALID`, :data:`FAULT_UNKNOWN_ACTION`;
* an ITI-41 whose XAdES signature document does not verify (signature, certificate or a
  manifest digest) is refused with ``XDSRepositoryMetadataError``; with
  ``require_valid_signature=False`` it is accepted and the problems are returned as a
  Warning-severity ``XDSRepositoryMetadataError`` (the last report is kept in
  :attr:`DmpSandboxCore.last_xades_report`);
* "patient" VIHF roles (documents coded ``INVISIBLE_PATIENT`` are hidden from them in ITI-18
  and ITI-43): :data:`PATIENT_ROLE_CODES`;
* TD0.2 for an unknown INS answers ``queryResponseCode NF`` with no patient; TD0.3 always
  answers ``DMPOk`` for a known patient (VIHF ``resource-id``), ``DMPKo`` otherwise.
"""

from __future__ import annotations

import dataclasses
import hashlib
import logging
import os
import re
import threading
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from email.message import Message
from pathlib import Path
from types import TracebackType
from typing import Any
from urllib.parse import quote

from lxml import etree

from segur_ris._xml import parse_xml
from segur_ris.errors import CertificateError, ConfigError, DmpError, SegurError
from segur_ris.sandbox._dmp_store import (
    KIND_ASSOCIATION,
    KIND_SUBMISSION_SET,
    DmpStore,
    StoredDocument,
    StoredObject,
    dump_metadata,
    load_metadata,
)
from segur_ris.sandbox._pki import TestPki
from segur_ris.sandbox._server import (
    HttpRequest,
    HttpResponse,
    SandboxHttpsServer,
)
from segur_ris.tls import server_context
from segur_ris.vihf import VihfToken, XadesReport, parse_vihf, verify_vihf, verify_xades
from segur_ris.xds import (
    ASSOCIATION_HAS_MEMBER,
    ASSOCIATION_RPLC,
    ASSOCIATION_SIGNS,
    ASSOCIATION_UPDATE_AVAILABILITY_STATUS,
    QUERY_FIND_DOCUMENTS,
    QUERY_FIND_DOCUMENTS_BY_REFERENCE_ID,
    QUERY_FIND_SUBMISSION_SETS,
    QUERY_GET_ASSOCIATIONS,
    QUERY_GET_DOCUMENTS,
    RESPONSE_FAILURE,
    RESPONSE_SUCCESS,
    STATUS_APPROVED,
    STATUS_ARCHIVED,
    STATUS_DELETED,
    STATUS_DEPRECATED,
    Association,
    DocumentEntry,
    MtomMessage,
    QueryResponse,
    RegistryError,
    RegistryResponse,
    RetrievedDocument,
    RetrieveResponse,
    StoredQuery,
    Submission,
    SubmissionSet,
    build_adhoc_query_response,
    build_registry_response,
    build_retrieve_response,
    decode_mtom,
    encode_mtom,
    parse_adhoc_query,
    parse_provide_and_register,
    parse_retrieve_request,
    parse_submit_objects,
    reconstitute,
)

__all__ = [
    "ACTION_ITI18",
    "ACTION_ITI41",
    "ACTION_ITI43",
    "ACTION_ITI57",
    "DEFAULT_KNOWN_INS",
    "DMP_REPOSITORY_UNIQUE_ID",
    "DMP_SERVICES",
    "FAULT_BAD_REQUEST",
    "FAULT_NO_CLIENT_CERT",
    "FAULT_UNKNOWN_ACTION",
    "FAULT_VIHF_INVALID",
    "FAULT_VIHF_MISSING",
    "IHE_SCHEMAS_ENV",
    "PATIENT_ROLE_CODES",
    "DmpAnswer",
    "DmpSandbox",
    "DmpSandboxCore",
]

_log = logging.getLogger("segur_ris.sandbox.dmp")

NS_SOAP12 = "http://www.w3.org/2003/05/soap-envelope"
NS_SOAP11 = "http://schemas.xmlsoap.org/soap/envelope/"
NS_WSA = "http://www.w3.org/2005/08/addressing"
NS_WSSE = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd"
NS_SAML2 = "urn:oasis:names:tc:SAML:2.0:assertion"
NS_HL7 = "urn:hl7-org:v3"
NS_HABILITATIONS = "urn:si-dmp-habilitations"
NS_XSI = "http://www.w3.org/2001/XMLSchema-instance"
_XML_LANG = "{http://www.w3.org/XML/1998/namespace}lang"

ACTION_ITI41 = "urn:ihe:iti:2007:ProvideAndRegisterDocumentSet-b"
ACTION_ITI43 = "urn:ihe:iti:2007:RetrieveDocumentSet"
ACTION_ITI18 = "urn:ihe:iti:2007:RegistryStoredQuery"
ACTION_ITI57 = "urn:ihe:iti:2010:UpdateDocumentSet"
_ACTION_TD02 = "urn:hl7-org:v3:PRPA_IN201307UV02"
_ACTION_TD03 = "urn:si-dmp-habilitations:HabilitationsEndPoint:setAuthorization"
_RESPONSE_ACTIONS = {
    ACTION_ITI41: ACTION_ITI41 + "Response",
    ACTION_ITI43: ACTION_ITI43 + "Response",
    ACTION_ITI18: ACTION_ITI18 + "Response",
    ACTION_ITI57: "urn:ihe:iti:2010:UpdateDocumentSet-Response",
    _ACTION_TD02: "urn:hl7-org:v3:PRPA_IN201308UV02",
    _ACTION_TD03: _ACTION_TD03 + "Response",
}
_FAULT_ACTION = "http://www.w3.org/2005/08/addressing/soap/fault"

#: repositoryUniqueId of the DMP (official TD3.1/TD3.2 samples).
DMP_REPOSITORY_UNIQUE_ID = "1.2.250.1.213.4.1.1.1.2"
#: The DMP test patient of the official samples (INS-NIR, OID 1.2.250.1.213.1.4.10).
DEFAULT_KNOWN_INS: tuple[str, ...] = ("207058575627097",)
#: VIHF role codes treated as the patient or a legal representative [?].
PATIENT_ROLE_CODES = frozenset({"PATIENT", "REPRESENTANT_LEGAL", "REPRESENTANT_PATIENT"})
#: Service paths of :class:`DmpSandbox`.
DMP_SERVICES = ("registry", "repository", "patients", "habilitations")

FAULT_NO_CLIENT_CERT = "DMP_CERTIFICAT_CLIENT"
FAULT_BAD_REQUEST = "DMP_REQUETE_INVALIDE"
FAULT_VIHF_MISSING = "DMP_VIHF_ABSENT"
FAULT_VIHF_INVALID = "DMP_VIHF_INVALIDE"
FAULT_UNKNOWN_ACTION = "DMP_ACTION_INCONNUE"

#: Environment variable naming the IHE schema folder when ``schemas`` is not given.
IHE_SCHEMAS_ENV = "SEGUR_RIS_IHE_SCHEMAS"
_XML_XSD_URL = "http://www.w3.org/2001/xml.xsd"
_IHE_XSD = "IHE/XDS.b_DocumentRepository.xsd"
_VALIDATED_ACTIONS = frozenset({ACTION_ITI41, ACTION_ITI43, ACTION_ITI18, ACTION_ITI57})

_INVISIBLE_PATIENT = "INVISIBLE_PATIENT"
_SOAP_CT = "application/soap+xml; charset=UTF-8"
_XDS_CID_SUFFIX = "@urn:ihe:iti:xds-b:2007"
_CID_SAFE = "@.!$&'()*+,;=-_~"
_STATUSES = frozenset({STATUS_APPROVED, STATUS_DEPRECATED, STATUS_DELETED, STATUS_ARCHIVED})


@dataclass(frozen=True, slots=True)
class DmpAnswer:
    """An HTTP answer of the DMP sandbox."""

    status: int
    content_type: str
    body: bytes


class _Fault(Exception):
    def __init__(self, subcode: str, text: str, *, receiver: bool = False) -> None:
        super().__init__(text)
        self.subcode = subcode
        self.text = text
        self.receiver = receiver


class _XdsFailure(Exception):
    """Ends an XDS transaction with a Failure RegistryResponse."""

    def __init__(self, code: str, text: str, location: str = "") -> None:
        super().__init__(text)
        self.error = RegistryError(code, text, location=location)


@dataclass(frozen=True, slots=True)
class _Request:
    action: str
    message_id: str | None
    body: etree._Element
    vihf: VihfToken
    mtom: MtomMessage | None


def _q(ns: str, name: str) -> str:
    return f"{{{ns}}}{name}"


def _ins(patient_id: str) -> str:
    """The identifier part of a CX (``207058575627097^^^&…&ISO^NH`` → ``207058575627097``)."""
    return patient_id.split("^", 1)[0].strip()


def _media_type(content_type: str) -> str:
    message = Message()
    message["content-type"] = content_type or "application/octet-stream"
    return message.get_content_type()


def _children(element: etree._Element) -> list[etree._Element]:
    return [child for child in element if isinstance(child.tag, str)]


def _cid_href(cid: str) -> str:
    return "cid:" + quote(cid, safe=_CID_SAFE)


def _soap_content(root: etree._Element) -> etree._Element | None:
    """The first element child of the SOAP Body of envelope ``root`` (SOAP 1.2 or 1.1)."""
    ns = etree.QName(root).namespace or NS_SOAP12
    soap_body = root.find(_q(ns, "Body"))
    return None if soap_body is None else next(iter(_children(soap_body)), None)


class _OfflineXmlXsd(etree.Resolver):
    """Maps the W3C ``xml.xsd`` (imported by URL from ``rim.xsd``) to the local copy."""

    def __init__(self, local: Path) -> None:
        super().__init__()
        self.local = local

    def resolve(self, system_url: str, public_id: str, context: Any = None) -> Any:
        if system_url == _XML_XSD_URL:
            return self.resolve_filename(str(self.local), context)  # type: ignore[attr-defined]
        return None


def _schemas_folder(schemas: str | os.PathLike[str] | None) -> Path | None:
    if schemas is None:
        schemas = os.environ.get(IHE_SCHEMAS_ENV) or None
    return None if schemas is None else Path(schemas)


def _load_ihe_schema(folder: Path) -> etree.XMLSchema:
    """The IHE XDS.b schema of ``folder`` (it imports ``rs``, ``rim``, ``lcm`` and ``query``),
    loaded without network access; :class:`ConfigError` when it cannot be loaded."""
    xml_xsd = folder / "www.w3.org/2001/xml.xsd"
    main = folder / _IHE_XSD
    for needed in (main, xml_xsd):
        if not needed.is_file():
            raise ConfigError(f"schémas IHE: {needed} absent")
    parser = etree.XMLParser(no_network=True, resolve_entities=False)
    parser.resolvers.add(_OfflineXmlXsd(xml_xsd))
    try:
        return etree.XMLSchema(etree.parse(str(main), parser))
    except (etree.XMLSchemaParseError, etree.XMLSyntaxError, OSError) as exc:
        raise ConfigError(f"schémas IHE illisibles ({folder}): {exc}") from None


class DmpSandboxCore:
    """The DMP logic without I/O.

    ``store`` keeps the documents; ``known_ins`` lists the INS (bare 15 characters, or CX) that
    have a DMP; ``trusted_ca_pem`` is the ORG CA the VIHF signatures (indirect modes) and XAdES
    signer certificates must chain to (``None``: VIHF signatures are not checked, XAdES trust
    neither). ``require_valid_signature`` refuses submissions whose XAdES does not verify.
    ``patient_roles``: VIHF role codes that may not see ``INVISIBLE_PATIENT`` documents.
    ``schemas``: folder of the IHE schemas (``None``: ``$SEGUR_RIS_IHE_SCHEMAS``, else no XSD
    validation; see the module documentation).
    """

    def __init__(
        self,
        store: DmpStore,
        *,
        known_ins: Iterable[str],
        trusted_ca_pem: bytes | str | None,
        repository_unique_id: str = DMP_REPOSITORY_UNIQUE_ID,
        require_valid_signature: bool = True,
        patient_roles: Iterable[str] = PATIENT_ROLE_CODES,
        schemas: str | os.PathLike[str] | None = None,
    ) -> None:
        self.store = store
        self.known_ins = frozenset(_ins(value) for value in known_ins)
        self.trusted_ca_pem = trusted_ca_pem
        self.repository_unique_id = repository_unique_id
        self.require_valid_signature = require_valid_signature
        self.patient_roles = frozenset(patient_roles)
        self.last_xades_report: XadesReport | None = None
        self._lock = threading.Lock()
        self._retrieved: dict[str, bytes] = {}
        folder = _schemas_folder(schemas)
        self.schema: etree.XMLSchema | None = None if folder is None else _load_ihe_schema(folder)

    # --- entry point -------------------------------------------------------------------------

    def handle(
        self, service: str, body: bytes, content_type: str, client_cn: str | None
    ) -> DmpAnswer:
        """Answer one POST to ``service`` (``registry``, ``repository``, ``patients``,
        ``habilitations``); ``client_cn`` is the TLS client certificate CN (``None``: refused)."""
        message_id: str | None = None
        try:
            request = self._read(body, content_type)
            message_id = request.message_id
            if client_cn is None:
                raise _Fault(FAULT_NO_CLIENT_CERT, "certificat client (ORG AUTH_CLI) requis")
            handlers: Mapping[tuple[str, str], Callable[[_Request], etree._Element]] = {
                ("repository", ACTION_ITI41): self._provide_and_register,
                ("repository", ACTION_ITI43): self._retrieve,
                ("registry", ACTION_ITI18): self._query,
                ("registry", ACTION_ITI57): self._update,
                ("patients", _ACTION_TD02): self._td02,
                ("habilitations", _ACTION_TD03): self._td03,
            }
            handler = handlers.get((service, request.action))
            if handler is None:
                raise _Fault(
                    FAULT_UNKNOWN_ACTION,
                    f"action {request.action!r} inconnue pour le service {service!r}",
                )
            with self._lock:  # one transaction at a time: version chains stay consistent
                self._retrieved = {}
                result = self._invalid(request)
                if result is None:
                    result = handler(request)
                attachments, self._retrieved = self._retrieved, {}
            return self._answer(request, result, attachments)
        except _Fault as fault:
            return self._fault(fault, message_id)
        except SegurError as exc:
            return self._fault(_Fault(FAULT_BAD_REQUEST, str(exc)), message_id)

    # --- request reading ---------------------------------------------------------------------

    def _read(self, body: bytes, content_type: str) -> _Request:
        media = _media_type(content_type)
        mtom: MtomMessage | None = None
        if media == "multipart/related":
            mtom = decode_mtom(body, content_type)
            root = mtom.root_element()  # the decoder's tree: the envelope is parsed once
        elif media in ("application/soap+xml", "text/xml"):
            root = parse_xml(body, what="message SOAP")
        else:
            raise _Fault(FAULT_BAD_REQUEST, f"type de contenu {media!r} refusé (SOAP 1.2)")
        if root.tag not in (_q(NS_SOAP12, "Envelope"), _q(NS_SOAP11, "Envelope")):
            raise _Fault(FAULT_BAD_REQUEST, f"enveloppe SOAP attendue, reçu {root.tag!r}")
        ns = etree.QName(root).namespace or NS_SOAP12
        header = root.find(_q(ns, "Header"))
        content = _soap_content(root)
        if header is None or content is None:
            raise _Fault(FAULT_BAD_REQUEST, "en-tête ou corps SOAP absent")
        action = (header.findtext(_q(NS_WSA, "Action")) or "").strip()
        message_id = (header.findtext(_q(NS_WSA, "MessageID")) or "").strip() or None
        assertion = header.find(f"{_q(NS_WSSE, 'Security')}/{_q(NS_SAML2, 'Assertion')}")
        if assertion is None:
            raise _Fault(FAULT_VIHF_MISSING, "wsse:Security/saml2:Assertion (VIHF) absent")
        return _Request(action, message_id, content, self._vihf(assertion), mtom)

    def _vihf(self, assertion: etree._Element) -> VihfToken:
        """The VIHF's token; in the indirect modes its signature must verify (ORG CA).

        Verified first, read only when that fails: a verified token is read from the
        verified tree, and reading the assertion twice cost ~0.1 ms per request. A token that
        does not verify is accepted only when it carries no signature at all and its own mode
        is not indirect (DIRECTE, CPS): a signed token whose mode was turned into DIRECTE
        after signing, or a signed DIRECTE, is refused.
        """
        refusal: SegurError | None = None
        if self.trusted_ca_pem is not None:
            try:
                return verify_vihf(assertion, self.trusted_ca_pem).token
            except (SegurError, CertificateError) as exc:
                refusal = exc
        try:
            token = parse_vihf(assertion)
        except SegurError as exc:
            raise _Fault(FAULT_VIHF_INVALID, f"VIHF illisible: {exc}") from None
        unsigned = isinstance(refusal, DmpError) and refusal.code == "vihf_unsigned"
        indirect = (token.mode or "").upper().startswith("INDIRECTE")
        if refusal is not None and (indirect or not unsigned):
            raise _Fault(FAULT_VIHF_INVALID, f"VIHF refusé: {refusal}") from None
        return token

    def _invalid(self, request: _Request) -> etree._Element | None:
        """The Failure response of a request whose body is not valid against the IHE XSDs
        (``None``: valid, or no schemas configured)."""
        if self.schema is None or request.action not in _VALIDATED_ACTIONS:
            return None
        if request.mtom is not None:
            infoset = parse_xml(reconstitute(request.mtom), what="message XOP reconstitué")
            content = _soap_content(infoset)
            if content is None:
                raise _Fault(FAULT_BAD_REQUEST, "corps SOAP absent")
        else:
            content = request.body
        document = etree.fromstring(etree.tostring(content))
        if self.schema.validate(document):
            return None
        log: Any = self.schema.error_log  # lxml-stubs: _ErrorLog is opaque
        first = next(iter(log), None)
        text = f"XSD: {first.message}" if first is not None else "XSD: invalide"
        error = RegistryError("XDSRegistryMetadataError", text)
        if request.action == ACTION_ITI18:
            return build_adhoc_query_response(QueryResponse(RESPONSE_FAILURE, errors=(error,)))
        if request.action == ACTION_ITI43:
            return build_retrieve_response(RetrieveResponse(RESPONSE_FAILURE, (), (error,)))
        return build_registry_response(RegistryResponse(RESPONSE_FAILURE, (error,)))

    def _is_patient(self, vihf: VihfToken) -> bool:
        return any(role.code in self.patient_roles for role in vihf.roles)

    def _visible(self, document: StoredDocument, vihf: VihfToken) -> bool:
        return not (_INVISIBLE_PATIENT in document.confidentiality_codes and self._is_patient(vihf))

    # --- ITI-41 ------------------------------------------------------------------------------

    def _provide_and_register(self, request: _Request) -> etree._Element:
        try:
            warnings = self._register(request)
        except _XdsFailure as failure:
            return build_registry_response(RegistryResponse(RESPONSE_FAILURE, (failure.error,)))
        return build_registry_response(RegistryResponse(RESPONSE_SUCCESS, warnings))

    def _register(self, request: _Request) -> tuple[RegistryError, ...]:
        pnr = parse_provide_and_register(request.body)
        submission = pnr.submission
        ss = submission.submission_set
        if ss is None:
            raise _XdsFailure("XDSRegistryMetadataError", "SubmissionSet absent")
        if not submission.documents:
            raise _XdsFailure("XDSRegistryMetadataError", "aucun DocumentEntry")
        payloads: dict[str, bytes] = {}
        for document in pnr.documents:
            if document.data is not None:
                data = document.data
            elif request.mtom is not None and document.content_id is not None:
                data = request.mtom.part(document.content_id).data
            else:
                raise _XdsFailure("XDSMissingDocument", f"{document.document_id}: sans contenu")
            payloads[document.document_id] = data
        folded = {key.casefold(): value for key, value in payloads.items()}
        contents: dict[str, bytes] = {}
        for entry in submission.documents:
            # the official sample names its Document "documentME2" for ExtrinsicObject
            # "DocumentME2": ids are matched exactly, then ignoring case
            found = payloads.get(entry.entry_uuid, folded.get(entry.entry_uuid.casefold()))
            if found is None:
                raise _XdsFailure(
                    "XDSMissingDocument",
                    f"pas de document pour {entry.entry_uuid}",
                    entry.unique_id,
                )
            contents[entry.entry_uuid] = found
        for patient_id in {ss.patient_id, *(e.patient_id for e in submission.documents)}:
            if _ins(patient_id) not in self.known_ins:
                raise _XdsFailure("XDSUnknownPatientId", f"patient inconnu: {patient_id}")
        if any(_ins(e.patient_id) != _ins(ss.patient_id) for e in submission.documents):
            raise _XdsFailure("XDSPatientIdDoesNotMatch", "patientId différents dans le lot")
        registered = self.store.existing_unique_ids(e.unique_id for e in submission.documents)
        for entry in submission.documents:
            data = contents[entry.entry_uuid]
            if entry.hash and entry.hash.lower() != hashlib.sha1(data).hexdigest():
                raise _XdsFailure("XDSRepositoryMetadataError", "hash différent", entry.unique_id)
            if entry.size is not None and entry.size != len(data):
                raise _XdsFailure("XDSRepositoryMetadataError", "size différente", entry.unique_id)
            if entry.unique_id in registered:
                raise _XdsFailure(
                    "XDSNonIdenticalHash", f"uniqueId déjà enregistré: {entry.unique_id}"
                )
        warnings = self._check_signature(submission, contents)
        replaced = self._replacements(submission)
        # symbolic ids (``Document01``) get a fresh entryUUID; association ends follow
        ids = {
            symbolic: (symbolic if symbolic.startswith("urn:uuid:") else f"urn:uuid:{uuid.uuid4()}")
            for symbolic in (
                *(e.entry_uuid for e in submission.documents),
                ss.entry_uuid,
                *(a.entry_uuid for a in submission.associations),
            )
        }
        documents = []
        for entry in submission.documents:
            entry_uuid = ids[entry.entry_uuid]
            data = contents[entry.entry_uuid]
            stored = dataclasses.replace(
                entry,
                entry_uuid=entry_uuid,
                logical_id=entry_uuid,
                version="1",
                availability_status=STATUS_APPROVED,
                repository_unique_id=self.repository_unique_id,
                hash=entry.hash or hashlib.sha1(data).hexdigest(),
                size=len(data),
            )
            documents.append(self._stored(stored, 1, data))
        objects = [
            self._object(
                dataclasses.replace(
                    ss, entry_uuid=ids[ss.entry_uuid], availability_status=STATUS_APPROVED
                )
            ),
            *(
                self._object(
                    dataclasses.replace(
                        association,
                        entry_uuid=ids[association.entry_uuid],
                        source=ids.get(association.source, association.source),
                        target=ids.get(association.target, association.target),
                        availability_status=STATUS_APPROVED,
                    )
                )
                for association in submission.associations
            ),
        ]
        new_ids = [d.entry_uuid for d in documents] + [o.entry_uuid for o in objects]
        with self.store.transaction():
            # one query for every new entryUUID; an entryUUID is unique in the whole registry
            # (documents, submission sets, associations), in the message too
            taken = self.store.existing_entry_uuids(new_ids)
            seen: set[str] = set()
            for entry_uuid in new_ids:
                if entry_uuid in taken or entry_uuid in seen:
                    raise _XdsFailure("XDSRegistryDuplicateUniqueIdInMessage", entry_uuid)
                seen.add(entry_uuid)
            self.store.add_many(documents)
            self.store.add_objects(objects)
            for target in replaced:
                self.store.set_status(target, STATUS_DEPRECATED)
        return warnings

    @staticmethod
    def _object(item: SubmissionSet | Association) -> StoredObject:
        if isinstance(item, SubmissionSet):
            kind, patient, source, target = KIND_SUBMISSION_SET, _ins(item.patient_id), "", ""
        else:
            kind, patient, source, target = KIND_ASSOCIATION, "", item.source, item.target
        return StoredObject(item.entry_uuid, kind, patient, source, target, dump_metadata(item))

    def _check_signature(
        self, submission: Submission, contents: Mapping[str, bytes]
    ) -> tuple[RegistryError, ...]:
        signs = [a for a in submission.associations if a.association_type == ASSOCIATION_SIGNS]
        if not signs:
            raise _XdsFailure(
                "XDSRepositoryMetadataError", "document de signature (association signs) absent"
            )
        by_id = {entry.entry_uuid: entry for entry in submission.documents}
        signature = by_id.get(signs[0].source)
        if signature is None:
            raise _XdsFailure(
                "XDSRepositoryMetadataError", f"signature {signs[0].source!r} introuvable"
            )
        signed = {
            entry.unique_id: contents[entry.entry_uuid]
            for entry in submission.documents
            if entry.entry_uuid != signature.entry_uuid
        }
        try:
            report = verify_xades(
                contents[signature.entry_uuid], signed, trusted_ca_pem=self.trusted_ca_pem
            )
        except SegurError as exc:
            raise _XdsFailure(
                "XDSRepositoryMetadataError", f"signature XAdES illisible: {exc}"
            ) from None
        self.last_xades_report = report
        problems = list(report.errors)
        problems += [f"{uid}: empreinte différente" for uid in report.failed]
        uncovered = [uid for uid in signed if uid not in {r.unique_id for r in report.references}]
        problems += [f"{uid}: absent du manifeste" for uid in uncovered]
        if report.valid and not problems:
            return ()
        text = "signature XAdES invalide: " + "; ".join(problems or ["invalide"])
        if self.require_valid_signature:
            raise _XdsFailure("XDSRepositoryMetadataError", text, signature.unique_id)
        warning = RegistryError(
            "XDSRepositoryMetadataError",
            text,
            severity="urn:oasis:names:tc:ebxml-regrep:ErrorSeverityType:Warning",
            location=signature.unique_id,
        )
        return (warning,)

    def _replacements(self, submission: Submission) -> list[str]:
        targets = []
        for association in submission.associations:
            if association.association_type != ASSOCIATION_RPLC:
                continue
            if self.store.status(association.target) != STATUS_APPROVED:
                raise _XdsFailure(
                    "XDSRegistryError", f"document remplacé inconnu: {association.target}"
                )
            targets.append(association.target)
        return targets

    @staticmethod
    def _stored(entry: DocumentEntry, version: int, data: bytes) -> StoredDocument:
        return StoredDocument(
            entry_uuid=entry.entry_uuid,
            unique_id=entry.unique_id,
            lid=entry.logical_id,
            version=version,
            patient_id=_ins(entry.patient_id),
            status=entry.availability_status,
            confidentiality_codes=tuple(code.code for code in entry.confidentiality_codes),
            mime_type=entry.mime_type,
            metadata=dump_metadata(entry),
            document=data,
        )

    @staticmethod
    def _entry(stored: StoredDocument) -> DocumentEntry:
        entry = load_metadata(stored.metadata, DocumentEntry)
        return dataclasses.replace(
            entry,
            availability_status=stored.status,
            logical_id=stored.lid,
            version=str(stored.version),
        )

    # --- ITI-43 ------------------------------------------------------------------------------

    def _retrieve(self, request: _Request) -> etree._Element:
        documents: list[RetrievedDocument] = []
        errors: list[RegistryError] = []
        for index, wanted in enumerate(parse_retrieve_request(request.body), start=1):
            if wanted.repository_unique_id != self.repository_unique_id:
                errors.append(
                    RegistryError(
                        "XDSUnknownRepositoryId",
                        f"entrepôt inconnu: {wanted.repository_unique_id}",
                        location=wanted.document_unique_id,
                    )
                )
                continue
            # the current version decides (metadata updates keep the uniqueId)
            versions = [
                d
                for d in self.store.by_unique_id(wanted.document_unique_id)
                if d.status in (STATUS_APPROVED, STATUS_ARCHIVED)
            ]
            if not versions or not self._visible(versions[-1], request.vihf):
                errors.append(
                    RegistryError(
                        "XDSDocumentUniqueIdError",
                        f"document inconnu: {wanted.document_unique_id}",
                        location=wanted.document_unique_id,
                    )
                )
                continue
            found = versions[-1]
            cid = f"{index}.{uuid.uuid4().hex}{_XDS_CID_SUFFIX}"
            self._retrieved[cid] = found.document
            documents.append(
                RetrievedDocument(
                    self.repository_unique_id, found.unique_id, found.mime_type, content_id=cid
                )
            )
        if errors and documents:
            status = "urn:ihe:iti:2007:ResponseStatusType:PartialSuccess"
        else:
            status = RESPONSE_FAILURE if errors else RESPONSE_SUCCESS
        response = build_retrieve_response(
            RetrieveResponse(status, tuple(documents), tuple(errors))
        )
        for include in response.iter("{http://www.w3.org/2004/08/xop/include}Include"):
            include.set("href", _cid_href(include.get("href", "")[4:]))
        return response

    # --- ITI-18 ------------------------------------------------------------------------------

    def _query(self, request: _Request) -> etree._Element:
        query = parse_adhoc_query(request.body)
        if query.query_id in (QUERY_FIND_SUBMISSION_SETS, QUERY_GET_ASSOCIATIONS):
            try:
                objects = self._query_objects(query, request.vihf)
            except _XdsFailure as failure:
                return build_adhoc_query_response(
                    QueryResponse(RESPONSE_FAILURE, errors=(failure.error,))
                )
            if query.return_type == "ObjectRef":
                refs = tuple(s.entry_uuid for s in objects.submission_sets) + tuple(
                    a.entry_uuid for a in objects.associations
                )
                return build_adhoc_query_response(QueryResponse(RESPONSE_SUCCESS, object_refs=refs))
            return build_adhoc_query_response(QueryResponse(RESPONSE_SUCCESS, objects=objects))
        try:
            found = self._run_query(query)
        except _XdsFailure as failure:
            return build_adhoc_query_response(
                QueryResponse(RESPONSE_FAILURE, errors=(failure.error,))
            )
        visible = [d for d in found if self._visible(d, request.vihf)]
        if query.return_type == "ObjectRef":
            return build_adhoc_query_response(
                QueryResponse(RESPONSE_SUCCESS, object_refs=tuple(d.entry_uuid for d in visible))
            )
        entries = tuple(self._entry(d) for d in visible)
        return build_adhoc_query_response(
            QueryResponse(RESPONSE_SUCCESS, objects=Submission(documents=entries))
        )

    def _run_query(self, query: StoredQuery) -> list[StoredDocument]:
        if query.query_id == QUERY_GET_DOCUMENTS:
            uuids = query.values("$XDSDocumentEntryEntryUUID")
            unique_ids = query.values("$XDSDocumentEntryUniqueId")
            if bool(uuids) == bool(unique_ids):
                raise _XdsFailure(
                    "XDSStoredQueryParamNumber", "GetDocuments: EntryUUID ou UniqueId"
                )
            if uuids:
                return [d for d in map(self.store.get, uuids) if d is not None]
            return [d for uid in unique_ids for d in self.store.by_unique_id(uid)]
        if query.query_id not in (QUERY_FIND_DOCUMENTS, QUERY_FIND_DOCUMENTS_BY_REFERENCE_ID):
            raise _XdsFailure("XDSUnknownStoredQuery", f"requête inconnue: {query.query_id}")
        patients = query.values("$XDSDocumentEntryPatientId")
        statuses = query.values("$XDSDocumentEntryStatus")
        if len(patients) != 1 or not statuses:
            raise _XdsFailure(
                "XDSStoredQueryParamNumber", "PatientId (un) et Status (au moins un) requis"
            )
        found = self.store.by_patient(_ins(patients[0]), statuses)
        filters = self._filters(query)
        return [d for d in found if all(check(self._entry(d)) for check in filters)]

    def _query_objects(self, query: StoredQuery, vihf: VihfToken) -> Submission:
        """FindSubmissionSets and GetAssociations, from the objects registered by ITI-41."""
        if query.query_id == QUERY_GET_ASSOCIATIONS:
            uuids = query.values("$uuid")
            if not uuids:
                raise _XdsFailure("XDSStoredQueryParamNumber", "GetAssociations: $uuid requis")
            associations = [
                load_metadata(o.metadata, Association) for o in self.store.associations(uuids)
            ]
            return Submission(
                associations=tuple(
                    a
                    for a in associations
                    if self._end_visible(a.source, vihf) and self._end_visible(a.target, vihf)
                )
            )
        prefix = "$XDSSubmissionSet"
        patients = query.values(prefix + "PatientId")
        statuses = set(query.values(prefix + "Status"))
        if len(patients) != 1 or not statuses:
            raise _XdsFailure(
                "XDSStoredQueryParamNumber", "PatientId (un) et Status (au moins un) requis"
            )
        sets = [
            load_metadata(o.metadata, SubmissionSet)
            for o in self.store.submission_sets(_ins(patients[0]))
        ]
        checks: list[Callable[[SubmissionSet], bool]] = [
            lambda s: s.availability_status in statuses
        ]
        sources = set(query.values(prefix + "SourceId"))
        if sources:
            checks.append(lambda s: s.source_id in sources)
        contents = {value.split("^")[0] for value in query.values(prefix + "ContentType")}
        if contents:
            checks.append(
                lambda s: s.content_type_code is not None and s.content_type_code.code in contents
            )
        authors = [_like(value) for value in query.values(prefix + "AuthorPerson")]
        if authors:
            checks.append(lambda s: any(p.fullmatch(a.person) for p in authors for a in s.authors))
        low = next(iter(query.values(prefix + "SubmissionTimeFrom")), "")
        high = next(iter(query.values(prefix + "SubmissionTimeTo")), "")
        if low or high:
            checks.append(_time_filter("submission_time", low, high))
        return Submission(
            submission_sets=tuple(s for s in sets if all(check(s) for check in checks))
        )

    def _end_visible(self, entry_uuid: str, vihf: VihfToken) -> bool:
        """An association end is hidden when it is a document the caller may not see."""
        document = self.store.get(entry_uuid)
        return document is None or self._visible(document, vihf)

    @staticmethod
    def _filters(query: StoredQuery) -> list[Callable[[DocumentEntry], bool]]:
        prefix = "$XDSDocumentEntry"
        checks: list[Callable[[DocumentEntry], bool]] = []

        def codes_filter(name: str, codes_of: Callable[[DocumentEntry], Sequence[str]]) -> None:
            wanted = {value.split("^")[0] for value in query.values(prefix + name)}
            if wanted:
                checks.append(lambda entry: bool(wanted.intersection(codes_of(entry))))

        def one(code: object) -> list[str]:
            value = getattr(code, "code", None)
            return [value] if isinstance(value, str) else []

        codes_filter("ClassCode", lambda e: one(e.class_code))
        codes_filter("TypeCode", lambda e: one(e.type_code))
        codes_filter("FormatCode", lambda e: one(e.format_code))
        codes_filter("PracticeSettingCode", lambda e: one(e.practice_setting_code))
        codes_filter("HealthcareFacilityTypeCode", lambda e: one(e.healthcare_facility_type_code))
        codes_filter("EventCodeList", lambda e: [c.code for c in e.event_codes])
        codes_filter("ConfidentialityCode", lambda e: [c.code for c in e.confidentiality_codes])
        references = set(query.values(prefix + "ReferenceIdList"))
        if query.query_id == QUERY_FIND_DOCUMENTS_BY_REFERENCE_ID:
            if not references:
                raise _XdsFailure("XDSStoredQueryParamNumber", "ReferenceIdList requis")
            checks.append(lambda entry: bool(references.intersection(entry.reference_ids)))
        for name, attribute in (
            ("CreationTime", "creation_time"),
            ("ServiceStartTime", "service_start_time"),
            ("ServiceStopTime", "service_stop_time"),
        ):
            low = next(iter(query.values(f"{prefix}{name}From")), "")
            high = next(iter(query.values(f"{prefix}{name}To")), "")
            if low or high:
                checks.append(_time_filter(attribute, low, high))
        return checks

    # --- ITI-57 ------------------------------------------------------------------------------

    def _update(self, request: _Request) -> etree._Element:
        submission = parse_submit_objects(request.body)
        try:
            with self.store.transaction():
                self._apply_updates(submission)
        except _XdsFailure as failure:
            return build_registry_response(RegistryResponse(RESPONSE_FAILURE, (failure.error,)))
        return build_registry_response(RegistryResponse(RESPONSE_SUCCESS))

    def _apply_updates(self, submission: Submission) -> None:
        by_id = {entry.entry_uuid: entry for entry in submission.documents}
        done = False
        for association in submission.associations:
            kind = association.association_type
            if kind == ASSOCIATION_UPDATE_AVAILABILITY_STATUS:
                self._update_status(
                    association.target, association.original_status, association.new_status
                )
                done = True
            elif kind == ASSOCIATION_HAS_MEMBER and association.target in by_id:
                if not association.previous_version:
                    raise _XdsFailure("XDSMetadataUpdateError", "PreviousVersion absent")
                self._new_version(by_id[association.target], association.previous_version)
                done = True
        if not done:
            raise _XdsFailure("XDSMetadataUpdateError", "aucune mise à jour dans la requête")

    def _update_status(self, target: str, original: str, new: str) -> None:
        stored = self.store.get(target)
        if stored is None:
            raise _XdsFailure("XDSMetadataUpdateError", f"entrée inconnue: {target}")
        if new not in _STATUSES:
            raise _XdsFailure("XDSMetadataUpdateError", f"statut inconnu: {new}")
        if original and original != stored.status:
            raise _XdsFailure(
                "XDSMetadataUpdateError", f"statut actuel {stored.status}, pas {original}"
            )
        self.store.set_status(target, new)

    def _new_version(self, entry: DocumentEntry, previous_version: str) -> None:
        versions = self.store.by_lid(entry.logical_id)
        current = [d for d in versions if d.status == STATUS_APPROVED]
        if not versions:
            raise _XdsFailure("XDSMetadataUpdateError", f"lid inconnu: {entry.logical_id}")
        if not current or str(current[-1].version) != previous_version:
            raise _XdsFailure(
                "XDSMetadataVersionError",
                f"PreviousVersion {previous_version} n'est pas la version en vigueur",
            )
        old = current[-1]
        if _ins(entry.patient_id) != old.patient_id:
            raise _XdsFailure("XDSPatientIdDoesNotMatch", "patientId différent")
        base = self._entry(old)
        entry_uuid = (
            entry.entry_uuid
            if entry.entry_uuid.startswith("urn:uuid:")
            else f"urn:uuid:{uuid.uuid4()}"
        )
        if self.store.get(entry_uuid) is not None:
            raise _XdsFailure("XDSMetadataUpdateError", f"entryUUID déjà utilisé: {entry_uuid}")
        version = old.version + 1
        updated = dataclasses.replace(
            entry,
            entry_uuid=entry_uuid,
            unique_id=base.unique_id,
            patient_id=base.patient_id,
            logical_id=old.lid,
            version=str(version),
            availability_status=STATUS_APPROVED,
            repository_unique_id=base.repository_unique_id,
            hash=base.hash,
            size=base.size,
            mime_type=base.mime_type,
        )
        self.store.add(self._stored(updated, version, old.document))
        self.store.set_status(old.entry_uuid, STATUS_DEPRECATED)

    # --- TD0.2 / TD0.3 -----------------------------------------------------------------------

    def _td02(self, request: _Request) -> etree._Element:
        h = f"{{{NS_HL7}}}"
        value = request.body.find(
            f"{h}controlActProcess/{h}queryByParameter/{h}parameterList/"
            f"{h}patientIdentifier/{h}value"
        )
        if request.body.tag != f"{h}PRPA_IN201307UV02" or value is None:
            raise _Fault(FAULT_BAD_REQUEST, "PRPA_IN201307UV02/patientIdentifier attendu")
        ins, root_oid = value.get("extension", ""), value.get("root", "")
        known = _ins(ins) in self.known_ins
        response = etree.Element(
            f"{h}PRPA_IN201308UV02",
            ITSVersion="XML_1.0",
            nsmap={None: NS_HL7, "xsi": NS_XSI},  # type: ignore[dict-item]
        )

        def sub(parent: etree._Element, tag: str, **attributes: str) -> etree._Element:
            return etree.SubElement(parent, f"{h}{tag}", dict(attributes))

        sub(response, "id", root="1.2.250.1.213.4.1.1.1", extension=str(uuid.uuid4()))
        sub(response, "interactionId", root="2.16.840.1.113883.1.6", extension="PRPA_IN201308UV02")
        sub(response, "processingCode", code="P")
        sub(response, "processingModeCode", code="T")
        sub(response, "acceptAckCode", code="NE")
        ack = sub(response, "acknowledgement", typeCode="AA")
        request_id = request.body.find(f"{h}id")
        if request_id is not None:
            target = sub(ack, "targetMessage")
            sub(target, "id", **{str(k): str(v) for k, v in request_id.attrib.items()})
        if known:
            line = sub(response, "attentionLine")
            sub(line, "keyWordText", code="AUTORISATION", codeSystem="1.2.250.1.213.4.1.2.6.1")
            authorisation = sub(line, "value", code="VALIDE", codeSystem="1.2.250.1.213.4.1.2.6.2")
            authorisation.set(f"{{{NS_XSI}}}type", "CV")
            line = sub(response, "attentionLine")
            sub(line, "keyWordText", code="STATUT_MT", codeSystem="1.2.250.1.213.4.1.2.6.3")
            mt = sub(line, "value", value="false")
            mt.set(f"{{{NS_XSI}}}type", "BL")
        act = sub(response, "controlActProcess", classCode="CACT", moodCode="EVN")
        if known:
            subject = sub(act, "subject", typeCode="SUBJ")
            event = sub(subject, "registrationEvent", classCode="REG", moodCode="EVN")
            sub(event, "statusCode", code="active")
            holder = sub(event, "subject1", typeCode="SBJ")
            patient = sub(holder, "patient", classCode="PAT")
            sub(patient, "id", root=root_oid, extension=ins)
            sub(patient, "statusCode", code="active")
        query_ack = sub(act, "queryAck")
        sub(query_ack, "queryResponseCode", code="OK" if known else "NF")
        return response

    def _td03(self, request: _Request) -> etree._Element:
        ns = f"{{{NS_HABILITATIONS}}}"
        action = request.body.findtext(f"{ns}action") or ""
        if request.body.tag != f"{ns}setAuthorization" or action not in (
            "AJOUT",
            "SUPPRESSION",
            "INTERDICTION",
        ):
            raise _Fault(
                FAULT_BAD_REQUEST, "setAuthorization/action AJOUT|SUPPRESSION|INTERDICTION"
            )
        patient = _ins(request.vihf.resource_id or "")
        response = etree.Element(
            f"{ns}setAuthorizationResponse",
            nsmap={None: NS_HABILITATIONS},  # type: ignore[dict-item]
        )
        output = etree.SubElement(response, f"{ns}output")
        if patient in self.known_ins:
            etree.SubElement(output, f"{ns}status").text = "DMPOk"
        else:
            etree.SubElement(output, f"{ns}status").text = "DMPKo"
            etree.SubElement(output, f"{ns}context").text = f"patient inconnu: {patient or '?'}"
        return response

    # --- answers -----------------------------------------------------------------------------

    @staticmethod
    def _envelope(action: str, relates_to: str | None, content: etree._Element) -> etree._Element:
        envelope = etree.Element(_q(NS_SOAP12, "Envelope"), nsmap={"soap": NS_SOAP12})
        header = etree.SubElement(envelope, _q(NS_SOAP12, "Header"), nsmap={"wsa": NS_WSA})
        etree.SubElement(header, _q(NS_WSA, "Action")).text = action
        etree.SubElement(header, _q(NS_WSA, "MessageID")).text = f"urn:uuid:{uuid.uuid4()}"
        if relates_to:
            etree.SubElement(header, _q(NS_WSA, "RelatesTo")).text = relates_to
        etree.SubElement(envelope, _q(NS_SOAP12, "Body")).append(content)
        return envelope

    def _answer(
        self, request: _Request, content: etree._Element, attachments: Mapping[str, bytes]
    ) -> DmpAnswer:
        action = _RESPONSE_ACTIONS[request.action]
        envelope = self._envelope(action, request.message_id, content)
        if request.mtom is not None or attachments:
            # the element, not its bytes: encode_mtom would parse them again
            body, content_type = encode_mtom(envelope, attachments, action=action)
            return DmpAnswer(200, content_type, body)
        return DmpAnswer(200, f'{_SOAP_CT}; action="{action}"', _serialised(envelope))

    def _fault(self, fault: _Fault, relates_to: str | None) -> DmpAnswer:
        element = etree.Element(_q(NS_SOAP12, "Fault"))
        code = etree.SubElement(element, _q(NS_SOAP12, "Code"))
        etree.SubElement(code, _q(NS_SOAP12, "Value")).text = (
            "soap:Receiver" if fault.receiver else "soap:Sender"
        )
        subcode = etree.SubElement(code, _q(NS_SOAP12, "Subcode"))
        etree.SubElement(subcode, _q(NS_SOAP12, "Value")).text = fault.subcode
        reason = etree.SubElement(element, _q(NS_SOAP12, "Reason"))
        text = etree.SubElement(reason, _q(NS_SOAP12, "Text"))
        text.set(_XML_LANG, "fr")
        text.text = fault.text
        body = _serialised(self._envelope(_FAULT_ACTION, relates_to, element))
        return DmpAnswer(500 if fault.receiver else 400, _SOAP_CT, body)


def _serialised(envelope: etree._Element) -> bytes:
    return etree.tostring(envelope, xml_declaration=True, encoding="UTF-8")


def _like(pattern: str) -> re.Pattern[str]:
    """An SQL ``LIKE`` pattern (``%``, ``_``; the XDS AuthorPerson parameter) as a regex."""
    parts = (".*" if c == "%" else "." if c == "_" else re.escape(c) for c in pattern)
    return re.compile("".join(parts), re.DOTALL)


def _time_filter(attribute: str, low: str, high: str) -> Callable[[Any], bool]:
    def check(entry: Any) -> bool:
        value = str(getattr(entry, attribute))
        if not value:
            return False
        width = 14
        padded = value.ljust(width, "0")
        return (not low or padded >= low.ljust(width, "0")) and (
            not high or padded < high.ljust(width, "0")
        )

    return check


class DmpSandbox(SandboxHttpsServer):
    """The DMP sandbox over HTTPS on loopback: server certificate of ``pki``, client
    certificates required and chained to ``org_ca_pem`` (the ORG CA, path or PEM bytes), which
    also anchors VIHF and XAdES signatures. Services at ``<url>/registry``, ``/repository``,
    ``/patients``, ``/habilitations``; documents in SQLite at ``db_path`` (``None``: memory).
    ``schemas``: folder of the IHE XSDs to validate requests against (see
    :class:`DmpSandboxCore`).
    """

    def __init__(
        self,
        pki: TestPki,
        org_ca_pem: Path | bytes,
        *,
        db_path: Path | None = None,
        known_ins: Iterable[str] = DEFAULT_KNOWN_INS,
        require_valid_signature: bool = True,
        schemas: str | os.PathLike[str] | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
    ) -> None:
        pem = org_ca_pem.read_bytes() if isinstance(org_ca_pem, Path) else bytes(org_ca_pem)
        self.store = DmpStore(db_path)
        self.core = DmpSandboxCore(
            self.store,
            known_ins=known_ins,
            trusted_ca_pem=pem,
            require_valid_signature=require_valid_signature,
            schemas=schemas,
        )
        context = server_context(
            cert_file=pki.server_cert, key_file=pki.server_key, client_trust=pem
        )  # ORG AUTH_CLI client certificates required, chained to the ORG CA
        super().__init__(self._serve, context, host=host, port=port, name="dmp-sandbox")

    @property
    def url(self) -> str:
        """The services' base URL, ``https://127.0.0.1:<port>`` (append ``/registry``…)."""
        return self.base_url

    def close(self) -> None:
        """Stop serving and close the store (:meth:`stop` alone keeps it open)."""
        self.stop()
        self.store.close()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def _serve(self, request: HttpRequest) -> HttpResponse:
        text = "text/plain; charset=utf-8"
        service = request.path.split("?", 1)[0].strip("/")
        if service not in DMP_SERVICES:
            return HttpResponse(404, text, f"{request.path}: service inconnu\n".encode())
        if request.method != "POST":
            return HttpResponse(405, text, b"POST uniquement\n", headers={"Allow": "POST"})
        answer = self.core.handle(
            service, request.body, request.headers.get("content-type", ""), request.client_cn
        )
        return HttpResponse(answer.status, answer.content_type, answer.body)
