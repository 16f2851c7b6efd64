"""The DMP client: the sans-IO cores (SOAP envelope, VIHF, TD0.2/TD0.3, XDS.b ebRIM, MTOM,
XAdES) composed over a swappable :class:`~segur_ris.transport.HttpTransport`.

Every request carries a fresh VIHF whose resource-id is the patient INS as XDS CX, signed with
the ORG SIGN credential in the indirect modes. Registry errors raise
:class:`~segur_ris.errors.XdsRegistryError`, SOAP faults :class:`~segur_ris.errors.DmpError`,
network failures a :class:`~segur_ris.errors.TransportError`.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import logging
import os
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass

from lxml import etree

from segur_ris._xml import parse_xml
from segur_ris.certificates import Credential, OrgRole, check_role
from segur_ris.config import Settings
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
from segur_ris.dmp._soap import build_envelope, parse_envelope
from segur_ris.errors import ConfigError, DmpError, TransportError, XmlError
from segur_ris.ins import Ins, from_xds_patient_id
from segur_ris.transport import HttpsTransport, HttpTransport
from segur_ris.vihf import VihfContext, build_vihf, build_xades, sign_vihf
from segur_ris.xds import (
    ASSOCIATION_HAS_MEMBER,
    ASSOCIATION_RPLC,
    ASSOCIATION_SIGNS,
    STATUS_APPROVED,
    STATUS_ARCHIVED,
    STATUS_DELETED,
    Association,
    Code,
    DocumentEntry,
    DocumentRequest,
    MtomPart,
    PnrDocument,
    ProvideAndRegisterRequest,
    RegistryResponse,
    Submission,
    SubmissionSet,
    availability_status_update,
    build_adhoc_query,
    build_retrieve_request,
    build_submit_objects,
    document_entry_from_cda,
    find_documents,
    metadata_update,
    parse_adhoc_query_response,
    parse_registry_response,
    parse_retrieve_response,
    post_mtom,
    provide_and_register_xml,
    xds_time,
)
from segur_ris.xds._valuesets import J58_CONFIDENTIALITY

__all__ = [
    "ACTION_ITI18",
    "ACTION_ITI41",
    "ACTION_ITI43",
    "ACTION_ITI57",
    "DmpClient",
    "SubmissionResult",
]

_log = logging.getLogger("segur_ris.dmp")
StrPath = str | os.PathLike[str]

ACTION_ITI41 = "urn:ihe:iti:2007:ProvideAndRegisterDocumentSet-b"
ACTION_ITI18 = "urn:ihe:iti:2007:RegistryStoredQuery"
ACTION_ITI43 = "urn:ihe:iti:2007:RetrieveDocumentSet"
ACTION_ITI57 = "urn:ihe:iti:2010:UpdateDocumentSet"

#: contentTypeCode of the submission set (JDV_J59, value of the official TD2.1 sample).
DEFAULT_CONTENT_TYPE = Code("04", "1.2.250.1.213.2.2", "Hospitalisation de jour")

_OID_VISIBILITY = "1.2.250.1.213.1.1.4.13"
_INVISIBLE_PATIENT = "INVISIBLE_PATIENT"
_MASQUE_PS = "MASQUE_PS"


@dataclass(frozen=True, slots=True)
class SubmissionResult:
    """Outcome of a TD2.1 submission: the entries as sent (symbolic ids) and the answer."""

    entry: DocumentEntry  #: the CDA's DocumentEntry
    signature: DocumentEntry  #: the XAdES signature document's entry
    submission_set: SubmissionSet
    response: RegistryResponse

    @property
    def unique_id(self) -> str:
        """The uniqueId of the submitted document (the CDA ``ClinicalDocument/id``)."""
        return self.entry.unique_id


def _new_oid() -> str:
    """A globally unique OID derived from a random UUID (ITU-T X.667, ``2.25.<int>``)."""
    return f"2.25.{uuid.uuid4().int}"


def _visibility(code: str) -> Code:
    return J58_CONFIDENTIALITY.require(code, field="confidentialityCode", scheme=_OID_VISIBILITY)


class DmpClient:
    """Client of the DMP (Mon espace santé) web services for a RIS.

    ``settings`` gives the DMP base URL (``endpoints.dmp``) and the INS OIDs of the
    environment; ``vihf`` the caller (e.g. :meth:`VihfContext.for_automate`);
    ``sign_credential`` the structure's ORG SIGN credential (VIHF and XAdES signatures,
    required in the indirect modes). Without ``transport`` an
    :class:`~segur_ris.transport.HttpsTransport` with ``client_cert=(cert, key)`` (ORG AUTH_CLI)
    and ``ca_bundle`` is used: one keep-alive connection pool, safe to share between threads
    (the outbox's lanes).

    >>> with DmpClient(settings, vihf=ctx, sign_credential=sign, client_cert=(c, k)) as dmp:
    ...     result = dmp.submit(cda)  # doctest: +SKIP
    """

    def __init__(
        self,
        settings: Settings,
        *,
        vihf: VihfContext,
        sign_credential: Credential | None,
        transport: HttpTransport | None = None,
        client_cert: tuple[StrPath, StrPath] | None = None,
        ca_bundle: StrPath | None = None,
        timeout: float = 30.0,
        source_id: str | None = None,
        content_type_code: Code = DEFAULT_CONTENT_TYPE,
    ) -> None:
        self.url = settings.environment.endpoints.require("dmp").rstrip("/")
        if not self.url.startswith("https://"):
            raise ConfigError(f"le DMP s'appelle en HTTPS uniquement: {self.url}")
        if vihf.signed and sign_credential is None:
            raise ConfigError(
                f"DMP: mode VIHF {vihf.mode} sans certificat ORG SIGN (sign_credential)"
            )
        self.settings = settings
        self.vihf = vihf
        self.timeout = timeout
        self.content_type_code = content_type_code
        self.source_id = source_id or _source_id(settings)
        if sign_credential is not None:
            # an AUTH_CLI certificate must not sign the VIHF and the XAdES (IGC Santé roles)
            check_role(sign_credential.certificate, OrgRole.SIGN)
        self._sign = sign_credential
        if transport is None:
            if client_cert is None:
                raise ConfigError("DMP: un certificat client (ORG AUTH_CLI ou CPS) est requis")
            transport = HttpsTransport(client_cert=client_cert, ca_bundle=ca_bundle)
        self._transport = transport
        self._known: dict[str, DocumentEntry] = {}  # uniqueId → last entry seen

    # --- plumbing ---------------------------------------------------------------------------

    def patient_id(self, ins: Ins | str) -> str:
        """The XDS patientId (and VIHF resource-id) of ``ins`` with the environment's OID.

        ``ins`` is an :class:`Ins`, an XDS CX or a 15-character matricule (taken as a NIR).
        """
        if isinstance(ins, str):
            ins = from_xds_patient_id(ins) if "^" in ins else Ins.parse(ins, self._oid("NIR"))
        return f"{ins.value}^^^&{self._oid(ins.kind.value)}&ISO^NH"

    def _oid(self, kind: str) -> str:
        return self.settings.environment.ins.for_kind(kind)

    def _security(self, resource_id: str) -> etree._Element:
        assertion = build_vihf(self.vihf, resource_id=resource_id)
        if self.vihf.signed:
            assert self._sign is not None  # checked in __init__
            assertion = sign_vihf(assertion, self._sign)
        return assertion

    def _log(self, action: str, message_id: str, status: int | str, started: float) -> None:
        _log.info(
            "DMP %s %s -> %s in %.0f ms",
            action.rsplit(":", 1)[-1],
            message_id,
            status,
            (time.perf_counter() - started) * 1000,
        )

    def _call(
        self, service: str, action: str, body: etree._Element, resource_id: str
    ) -> etree._Element:
        """A plain SOAP 1.2 exchange; returns the first body element of the answer."""
        url = f"{self.url}/{service}"
        envelope, message_id = build_envelope(body, action, security=self._security(resource_id))
        headers = {"Content-Type": f'application/soap+xml; charset=UTF-8; action="{action}"'}
        started = time.perf_counter()
        response = self._transport.post(url, envelope, headers, self.timeout)
        self._log(action, message_id, response.status, started)
        return _read_answer(response.body, response.status, url)

    def _call_mtom(
        self,
        action: str,
        body: etree._Element | bytes,
        resource_id: str,
        attachments: Sequence[MtomPart] = (),
        includes: Sequence[str] = (),
    ) -> tuple[etree._Element, dict[str, bytes]]:
        """An MTOM exchange with the repository: the answer's body element and its parts.
        ``body`` is an element or its XML; ``includes`` the href of each of its
        ``xop:Include``."""
        url = f"{self.url}/repository"
        envelope, message_id = build_envelope(body, action, security=self._security(resource_id))
        started = time.perf_counter()
        message = post_mtom(
            self._transport,
            url,
            envelope,
            attachments,
            action=action,
            timeout=self.timeout,
            includes=includes,  # known: the envelope is not parsed again to find them
        )
        self._log(action, message_id, "MTOM", started)
        answer = _read_answer(message.root_element(), 200, url)  # the decoder's tree
        return answer, {part.content_id: part.data for part in message.attachments}

    def _submission_set(self, patient_id: str, entry: DocumentEntry | None) -> SubmissionSet:
        return SubmissionSet(
            entry_uuid="SubmissionSet01",
            unique_id=_new_oid(),
            source_id=self.source_id,
            patient_id=patient_id,
            submission_time=xds_time(dt.datetime.now(dt.UTC)),
            content_type_code=self.content_type_code,
            authors=entry.authors[:1] if entry is not None else (),
            title=entry.title if entry is not None else "",
        )

    def _remember(self, entries: Sequence[DocumentEntry]) -> None:
        for entry in entries:
            self._known[entry.unique_id] = entry

    # --- TD0.2 / TD0.3 ----------------------------------------------------------------------

    def exists(self, ins: Ins | str) -> DmpPatientStatus:
        """TD0.2: does the patient have a DMP, and is the structure authorised on it?"""
        patient_id = self.patient_id(ins)
        target = from_xds_patient_id(patient_id)
        lps = self.settings.lps
        body = build_td02(target, sender_oid=self.source_id, sender_name=lps.name)
        answer = self._call("patients", ACTION_TD02, body, patient_id)
        return parse_td02_response(answer)

    def authorize(self, ins: Ins | str, action: AuthorizationAction | str = "AJOUT") -> str:
        """TD0.3: add (``AJOUT``), remove or forbid the PS authorisation; returns ``DMPOk``."""
        body = build_set_authorization(action)
        answer = self._call("habilitations", ACTION_SET_AUTHORIZATION, body, self.patient_id(ins))
        return parse_set_authorization_response(answer)

    # --- TD2.1 (ITI-41) ---------------------------------------------------------------------

    def submit(
        self,
        cda: bytes,
        *,
        hide_from_patient: bool = False,
        mask_to_professionals: bool = False,
        replaces: DocumentEntry | None = None,
    ) -> SubmissionResult:
        """TD2.1: send a CDA CR-IMG with its XAdES signature document (MTOM).

        ``replaces`` is the registry entry (``urn:uuid:`` entryUUID) of the document this one
        replaces (RPLC association): the CDA must carry a new ``ClinicalDocument/id``.
        """
        if self._sign is None:
            raise ConfigError("DMP: la signature XAdES demande le certificat ORG SIGN")
        cda = bytes(cda)
        tree = parse_xml(cda, what="document CDA")  # parsed once: metadata and XAdES digest
        entry = document_entry_from_cda(
            cda,
            environment_ins_oid=self.settings.environment.ins,
            entry_uuid="Document01",
            invisible_patient=hide_from_patient,
            masque_ps=mask_to_professionals,
            tree=tree,
        )
        return self.submit_document(cda, entry, replaces=replaces, tree=tree)

    def submit_document(
        self,
        data: bytes,
        entry: DocumentEntry,
        *,
        replaces: DocumentEntry | None = None,
        tree: etree._Element | None = None,
    ) -> SubmissionResult:
        """TD2.1 of a document whose DocumentEntry is already built (e.g. a DICOM KOS and its
        :func:`~segur_ris.xds.document_entry_from_kos` entry), with its XAdES signature
        document; the MTOM part has the entry's ``mime_type``. ``tree``: the parsed XML
        document (CDA), reused for the XAdES digest."""
        if self._sign is None:
            raise ConfigError("DMP: la signature XAdES demande le certificat ORG SIGN")
        data = bytes(data)
        if replaces is not None and replaces.unique_id == entry.unique_id:
            raise DmpError(
                f"remplacement: le nouveau document doit avoir un autre identifiant que "
                f"{entry.unique_id}",
                code="XDSDuplicateUniqueIdInRegistry",
            )
        ss = self._submission_set(entry.patient_id, entry)
        xades = build_xades(
            {entry.unique_id: data},
            self._sign,
            submission_set_id=ss.unique_id,
            trees={entry.unique_id: tree} if tree is not None else None,
        )
        signature = _signature_entry(entry, xades)
        associations = [
            Association(
                "association01",
                ASSOCIATION_HAS_MEMBER,
                ss.entry_uuid,
                entry.entry_uuid,
                submission_set_status="Original",
            ),
            Association(
                "association02",
                ASSOCIATION_HAS_MEMBER,
                ss.entry_uuid,
                signature.entry_uuid,
                submission_set_status="Original",
            ),
            Association("association03", ASSOCIATION_SIGNS, signature.entry_uuid, ss.entry_uuid),
        ]
        if replaces is not None:
            associations.append(
                Association(
                    "association04", ASSOCIATION_RPLC, entry.entry_uuid, replaces.entry_uuid
                )
            )
        doc_cid = f"document.{uuid.uuid4()}@segur-ris"
        sig_cid = f"signature.{uuid.uuid4()}@segur-ris"
        request = ProvideAndRegisterRequest(
            Submission((ss,), (entry, signature), (), tuple(associations)),
            (
                PnrDocument(entry.entry_uuid, content_id=doc_cid),
                PnrDocument(signature.entry_uuid, content_id=sig_cid),
            ),
        )
        parts = (
            MtomPart(doc_cid, entry.mime_type, data),
            MtomPart(sig_cid, "text/xml", xades),
        )
        answer, _ = self._call_mtom(
            ACTION_ITI41,
            provide_and_register_xml(request),  # text only: the envelope is written around it
            entry.patient_id,
            parts,
            includes=[f"cid:{doc_cid}", f"cid:{sig_cid}"],
        )
        response = parse_registry_response(answer)
        response.raise_for_errors()
        return SubmissionResult(entry, signature, ss, response)

    # --- TD3.1 / TD3.2 (ITI-18, ITI-43) -----------------------------------------------------

    def find(
        self, ins: Ins | str, *, status: str | Sequence[str] = STATUS_APPROVED
    ) -> list[DocumentEntry]:
        """TD3.1 FindDocuments: the patient's entries with the given availability status(es)."""
        patient_id = self.patient_id(ins)
        statuses = (status,) if isinstance(status, str) else tuple(status)
        query = find_documents(patient_id, statuses=statuses)
        answer = self._call("registry", ACTION_ITI18, build_adhoc_query(query), patient_id)
        response = parse_adhoc_query_response(answer)
        response.raise_for_errors()
        documents = list(response.objects.documents)
        self._remember(documents)
        return documents

    def entry(self, ins: Ins | str, unique_id: str) -> DocumentEntry:
        """The Approved entry of the document ``unique_id`` (FindDocuments, then filter)."""
        for found in self.find(ins):
            if found.unique_id == unique_id:
                return found
        raise DmpError(
            f"document {unique_id} introuvable dans le DMP", code="XDSDocumentUniqueIdError"
        )

    def get(self, document: str | DocumentEntry, *, ins: Ins | str | None = None) -> bytes:
        """TD3.2 (ITI-43): the exact bytes of a document.

        ``document`` is an entry (from :meth:`find`) or a uniqueId: then the entry is taken
        from the entries this client has seen, else looked up with ``ins``.
        """
        if isinstance(document, str):
            known = self._known.get(document)
            if known is None or not known.repository_unique_id:
                if ins is None:
                    raise DmpError(
                        f"document {document}: INS du patient requis (entrée inconnue)",
                        code="XDSDocumentUniqueIdError",
                    )
                known = self.entry(ins, document)
            document = known
        request = DocumentRequest(document.repository_unique_id, document.unique_id)
        answer, parts = self._call_mtom(
            ACTION_ITI43, build_retrieve_request([request]), document.patient_id
        )
        response = parse_retrieve_response(answer)
        response.raise_for_errors()
        for retrieved in response.documents:
            if retrieved.document_unique_id == document.unique_id:
                return retrieved.resolve(lambda cid: _part(parts, cid))
        raise DmpError(
            f"ITI-43: document {document.unique_id} absent de la réponse", code="XDSMissingDocument"
        )

    # --- TD3.3 (ITI-57) ---------------------------------------------------------------------

    def set_visibility(
        self,
        entry: DocumentEntry,
        *,
        patient: bool | None = None,
        professionals: bool | None = None,
    ) -> DocumentEntry:
        """TD3.3a/b: a new version of ``entry`` shown to / hidden from the patient and/or
        masked to / unmasked for the professionals (``None`` keeps the current setting).

        Returns the new version as sent (same ``lid``, Approved).
        """
        codes = list(entry.confidentiality_codes)
        for wanted, code in ((patient, _INVISIBLE_PATIENT), (professionals, _MASQUE_PS)):
            if wanted is None:
                continue
            codes = [c for c in codes if c.code != code]
            if not wanted:
                codes.append(_visibility(code))
        previous = entry.version or "1"
        new = dataclasses.replace(
            entry,
            entry_uuid=f"urn:uuid:{uuid.uuid4()}",
            logical_id=entry.logical_id or entry.entry_uuid,
            availability_status=STATUS_APPROVED,
            confidentiality_codes=tuple(codes),
            version=str(int(previous) + 1) if previous.isdigit() else "",
        )
        ss = self._submission_set(entry.patient_id, entry)
        submission = metadata_update(
            ss, dataclasses.replace(new, version=""), previous_version=previous
        )
        self._update(submission, entry.patient_id)
        self._known[new.unique_id] = new
        return new

    def delete(self, entry: DocumentEntry) -> None:
        """TD3.3c: set the entry's availability status to Deleted."""
        self._set_status(entry, STATUS_DELETED)

    def archive(self, entry: DocumentEntry) -> None:
        """TD3.3d: set the entry's availability status to Archived."""
        self._set_status(entry, STATUS_ARCHIVED)

    def _set_status(self, entry: DocumentEntry, status: str) -> None:
        if not entry.entry_uuid.startswith("urn:uuid:"):
            raise DmpError(
                f"mise à jour de statut: entryUUID du registre attendu, pas {entry.entry_uuid!r}"
            )
        ss = self._submission_set(entry.patient_id, entry)
        submission = availability_status_update(
            ss,
            entry.entry_uuid,
            status,
            original_status=entry.availability_status or STATUS_APPROVED,
        )
        self._update(submission, entry.patient_id)
        self._known.pop(entry.unique_id, None)

    def _update(self, submission: Submission, patient_id: str) -> None:
        answer = self._call("registry", ACTION_ITI57, build_submit_objects(submission), patient_id)
        parse_registry_response(answer).raise_for_errors()

    # --- lifecycle --------------------------------------------------------------------------

    def close(self) -> None:
        """Close the transport (when it has a ``close`` method)."""
        close = getattr(self._transport, "close", None)
        if callable(close):
            close()

    def __enter__(self) -> DmpClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


# --- helpers ----------------------------------------------------------------------------------


def _source_id(settings: Settings) -> str:
    """The sourceId of the submission sets: the LPS instance UUID as an OID when it is one."""
    try:
        return f"2.25.{uuid.UUID(settings.lps.instance).int}"
    except ValueError:
        raise ConfigError(
            "DMP: lps.instance (UUID de l'installation) requis pour le sourceId, "
            "ou passez source_id="
        ) from None


def _part(parts: dict[str, bytes], content_id: str) -> bytes:
    from urllib.parse import unquote

    for key in (content_id, unquote(content_id)):
        if key in parts:
            return parts[key]
    raise DmpError(f"ITI-43: partie MIME <{content_id}> absente", code="XDSMissingDocument")


def _read_answer(data: bytes | etree._Element, status: int, url: str) -> etree._Element:
    """The first body element of a SOAP answer (bytes or parsed); faults raise
    :class:`DmpError`, a non-SOAP error answer :class:`TransportError`."""
    if not isinstance(data, etree._Element) and not data:
        raise TransportError(f"réponse vide (HTTP {status}) de {url}")
    try:
        return parse_envelope(data).body
    except DmpError:
        raise
    except XmlError as exc:
        if 200 <= status < 300:
            raise DmpError(f"réponse DMP illisible: {exc.message}", code="format") from None
        raise TransportError(f"HTTP {status} de {url}") from None


def _signature_entry(entry: DocumentEntry, xades: bytes) -> DocumentEntry:
    """The DocumentEntry of the XAdES signature document (notes §2.3): hidden from everyone."""
    now = xds_time(dt.datetime.now(dt.UTC))
    normal = J58_CONFIDENTIALITY.require(
        "N", field="confidentialityCode", scheme="2.16.840.1.113883.5.25"
    )
    confidentiality = (normal, _visibility(_MASQUE_PS), _visibility(_INVISIBLE_PATIENT))
    return DocumentEntry(
        entry_uuid="Signature01",
        unique_id=_new_oid(),
        patient_id=entry.patient_id,
        class_code=Code("urn:oid:1.3.6.1.4.1.19376.1.2.1.1.1", "URN", "Digital Signature"),
        type_code=Code("E1762", "ASTM", "Full Document"),
        format_code=Code("http://www.w3.org/2000/09/xmldsig#", "URN", "Default Signature Style"),
        confidentiality_codes=confidentiality,
        healthcare_facility_type_code=entry.healthcare_facility_type_code,
        practice_setting_code=entry.practice_setting_code,
        event_codes=(Code("1.2.840.10065.1.12.1.14", "1.2.840.10065.1.12", "Source"),),
        source_patient_id=entry.patient_id,
        language_code="art",
        mime_type="text/xml",
        creation_time=now,
        service_start_time=now,
        service_stop_time=now,
        hash=hashlib.sha1(xades).hexdigest(),
        size=len(xades),
        title="Source",
        authors=entry.authors,
        legal_authenticator=entry.legal_authenticator,
    )
