"""ebRIM 3.0 serialisation and parsing of the XDS.b transactions the DMP uses.

* ITI-41 (TD2.1) ``xdsb:ProvideAndRegisterDocumentSetRequest``: metadata plus one
  ``xdsb:Document id=…`` per document, as inline base64 or as an ``xop:Include`` placeholder
  whose MIME part the MTOM layer attaches.
* ITI-18 (TD3.1) ``query:AdhocQueryRequest`` for the stored queries, and the
  ``query:AdhocQueryResponse`` parsed into typed entries.
* ITI-43 (TD3.2) ``xdsb:RetrieveDocumentSetRequest`` / ``…Response``.
* ITI-57 (TD3.3) ``lcm:SubmitObjectsRequest`` for a metadata update (new version of an entry)
  or an availability status change (DMP ``Deleted`` / ``Archived``).
* ``rs:RegistryResponse`` with its ``RegistryErrorList`` → :class:`XdsRegistryError`.

Builders return :mod:`lxml` elements (the SOAP layer wraps them); parsers accept the element,
the XML bytes of the body element, or a whole SOAP envelope (the first ``Body`` child is read).
Bytes go through the XXE-safe parser.
"""

from __future__ import annotations

import base64
import binascii
import itertools
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field

from lxml import etree

from segur_ris._xml import parse_xml
from segur_ris.errors import XdsError
from segur_ris.xds._model import (
    ASSOCIATION_HAS_MEMBER,
    ASSOCIATION_UPDATE_AVAILABILITY_STATUS,
    STATUS_APPROVED,
    Association,
    Author,
    Code,
    DocumentEntry,
    Folder,
    RegistryError,
    Slot,
    Submission,
    SubmissionSet,
    registry_error,
)

__all__ = [
    "NS",
    "QUERY_FIND_DOCUMENTS",
    "QUERY_FIND_DOCUMENTS_BY_REFERENCE_ID",
    "QUERY_FIND_SUBMISSION_SETS",
    "QUERY_GET_ASSOCIATIONS",
    "QUERY_GET_DOCUMENTS",
    "RESPONSE_FAILURE",
    "RESPONSE_PARTIAL_SUCCESS",
    "RESPONSE_SUCCESS",
    "DocumentRequest",
    "PnrDocument",
    "ProvideAndRegisterRequest",
    "QueryResponse",
    "RegistryResponse",
    "RetrieveResponse",
    "RetrievedDocument",
    "StoredQuery",
    "availability_status_update",
    "build_adhoc_query",
    "build_adhoc_query_response",
    "build_provide_and_register",
    "build_registry_response",
    "build_retrieve_request",
    "build_retrieve_response",
    "build_submit_objects",
    "find_documents",
    "find_documents_by_reference_id",
    "find_submission_sets",
    "get_associations",
    "get_documents",
    "metadata_update",
    "parse_adhoc_query",
    "parse_adhoc_query_response",
    "parse_provide_and_register",
    "parse_registry_response",
    "parse_retrieve_request",
    "parse_retrieve_response",
    "parse_submit_objects",
    "query_value",
    "quote_list",
    "to_bytes",
]

RIM = "urn:oasis:names:tc:ebxml-regrep:xsd:rim:3.0"
RS = "urn:oasis:names:tc:ebxml-regrep:xsd:rs:3.0"
LCM = "urn:oasis:names:tc:ebxml-regrep:xsd:lcm:3.0"
QUERY = "urn:oasis:names:tc:ebxml-regrep:xsd:query:3.0"
XDSB = "urn:ihe:iti:xds-b:2007"
XOP = "http://www.w3.org/2004/08/xop/include"
XML_NS = "http://www.w3.org/XML/1998/namespace"
NS = {"rim": RIM, "rs": RS, "lcm": LCM, "query": QUERY, "xdsb": XDSB, "xop": XOP}
_NSMAP = {"rim": RIM, "rs": RS, "lcm": LCM, "query": QUERY, "xdsb": XDSB}

RESPONSE_SUCCESS = "urn:oasis:names:tc:ebxml-regrep:ResponseStatusType:Success"
RESPONSE_FAILURE = "urn:oasis:names:tc:ebxml-regrep:ResponseStatusType:Failure"
RESPONSE_PARTIAL_SUCCESS = "urn:ihe:iti:2007:ResponseStatusType:PartialSuccess"

QUERY_FIND_DOCUMENTS = "urn:uuid:14d4debf-8f97-4251-9a74-a90016b0af0d"
QUERY_FIND_SUBMISSION_SETS = "urn:uuid:f26abbcb-ac74-4422-8a30-edb644bbc1a9"
QUERY_GET_DOCUMENTS = "urn:uuid:5c4f972b-d56b-40ac-a5fc-c8ca9b40b9d4"
QUERY_GET_ASSOCIATIONS = "urn:uuid:a7ae438b-4bc2-4642-93e9-be891f7bb155"
QUERY_FIND_DOCUMENTS_BY_REFERENCE_ID = "urn:uuid:12941a89-e02e-4be5-967c-ce4bfc8fe492"

# classification schemes / nodes and identification schemes (ITI TF-3 4.2.5)
_SS_NODE = "urn:uuid:a54d6aa5-d40d-43f9-88c5-b4633d873bdd"
_FOLDER_NODE = "urn:uuid:d9d542f3-6cc4-48b6-8870-ea235fbc94c2"
_SS_AUTHOR = "urn:uuid:a7058bb9-b4e4-4307-ba5b-e3f0ab85e12d"
_SS_CONTENT_TYPE = "urn:uuid:aa543740-bdda-424e-8c96-df4873be8500"
_SS_PATIENT_ID = "urn:uuid:6b5aea1a-874d-4603-a4bc-96a0a7b38446"
_SS_SOURCE_ID = "urn:uuid:554ac39e-e3fe-47fe-b233-965d2a147832"
_SS_UNIQUE_ID = "urn:uuid:96fdda7c-d067-4183-912e-bf5ee74998a8"
_DE_AUTHOR = "urn:uuid:93606bcf-9494-43ec-9b4e-a7748d1a838d"
_DE_CLASS = "urn:uuid:41a5887f-8865-4c09-adf7-e362475b143a"
_DE_CONFIDENTIALITY = "urn:uuid:f4f85eac-e6cb-4883-b524-f2705394840f"
_DE_EVENT = "urn:uuid:2c6b8cb7-8b2a-4051-b291-b1ae6a575ef4"
_DE_FORMAT = "urn:uuid:a09d5840-386c-46f2-b5ad-9c3699a4309d"
_DE_FACILITY = "urn:uuid:f33fb8ac-18af-42cc-ae0e-ed0b0bdb91e1"
_DE_PRACTICE = "urn:uuid:cccf5598-8b07-4b77-a05e-ae952c785ead"
_DE_TYPE = "urn:uuid:f0306f51-975f-434e-a61c-c59651d33983"
_DE_PATIENT_ID = "urn:uuid:58a6f841-87b3-4a3e-92fd-a8ffeff98427"
_DE_UNIQUE_ID = "urn:uuid:2e82c1f6-a085-4c72-9da3-8640a32e42ab"
_FOLDER_CODES = "urn:uuid:1ba97051-7806-41a8-a48b-8fce7af683c5"
_FOLDER_PATIENT_ID = "urn:uuid:f64ffdf0-4b97-4e06-b79f-a52b38ec2f8a"
_FOLDER_UNIQUE_ID = "urn:uuid:75df8f67-9973-4fbe-a900-df66cefecc5a"
_REFERENCE_ID_LIST = "urn:ihe:iti:xds:2013:referenceIdList"
_ASSOCIATION_OBJECT_TYPE = "urn:oasis:names:tc:ebxml-regrep:ObjectType:RegistryObject:Association"

_DE_SLOTS = (
    "creationTime",
    "hash",
    "languageCode",
    "legalAuthenticator",
    _REFERENCE_ID_LIST,
    "repositoryUniqueId",
    "serviceStartTime",
    "serviceStopTime",
    "size",
    "sourcePatientId",
    "sourcePatientInfo",
)
_AUTHOR_SLOTS = {
    "authorPerson": "person",
    "authorInstitution": "institutions",
    "authorRole": "roles",
    "authorSpecialty": "specialties",
    "authorTelecommunication": "telecoms",
}
_ASSOCIATION_SLOTS = ("SubmissionSetStatus", "PreviousVersion", "OriginalStatus", "NewStatus")


def _q(ns: str, tag: str) -> str:
    return f"{{{ns}}}{tag}"


def to_bytes(element: etree._Element) -> bytes:
    """The UTF-8 XML of ``element`` (with an XML declaration)."""
    return etree.tostring(element, xml_declaration=True, encoding="UTF-8")


# --- writing ----------------------------------------------------------------------------------


class _Writer:
    """Serialises model objects; numbers the Classification / ExternalIdentifier ids."""

    def __init__(self) -> None:
        self._counter = itertools.count(1)

    def _next(self, prefix: str) -> str:
        return f"{prefix}{next(self._counter)}"

    @staticmethod
    def slot(parent: etree._Element, name: str, values: Sequence[str]) -> None:
        slot = etree.SubElement(parent, _q(RIM, "Slot"), name=name)
        value_list = etree.SubElement(slot, _q(RIM, "ValueList"))
        for value in values:
            etree.SubElement(value_list, _q(RIM, "Value")).text = value

    @staticmethod
    def localized(parent: etree._Element, tag: str, text: str) -> None:
        if not text:
            return
        holder = etree.SubElement(parent, _q(RIM, tag))
        string = etree.SubElement(holder, _q(RIM, "LocalizedString"))
        string.set("charset", "UTF8")
        string.set("value", text)
        string.set(_q(XML_NS, "lang"), "FR")

    def code(self, parent: etree._Element, scheme: str, code: Code) -> None:
        element = etree.SubElement(
            parent,
            _q(RIM, "Classification"),
            classificationScheme=scheme,
            classifiedObject=str(parent.get("id")),
            id=self._next("cl"),
            nodeRepresentation=code.code,
        )
        self.slot(element, "codingScheme", [code.scheme])
        self.localized(element, "Name", code.display)

    def author(self, parent: etree._Element, scheme: str, author: Author) -> None:
        element = etree.SubElement(
            parent,
            _q(RIM, "Classification"),
            classificationScheme=scheme,
            classifiedObject=str(parent.get("id")),
            id=self._next("cl"),
            nodeRepresentation="",
        )
        for name, attribute in _AUTHOR_SLOTS.items():
            value = getattr(author, attribute)
            values = (value,) if isinstance(value, str) else tuple(value)
            if any(values):
                self.slot(element, name, [v for v in values if v])

    def node(self, parent: etree._Element, node: str) -> None:
        etree.SubElement(
            parent,
            _q(RIM, "Classification"),
            classificationNode=node,
            classifiedObject=str(parent.get("id")),
            id=self._next("cl"),
        )

    def external_id(self, parent: etree._Element, scheme: str, value: str, name: str) -> None:
        element = etree.SubElement(
            parent,
            _q(RIM, "ExternalIdentifier"),
            id=self._next("ei"),
            identificationScheme=scheme,
            registryObject=str(parent.get("id")),
            value=value,
        )
        self.localized(element, "Name", name)

    @staticmethod
    def _common(element: etree._Element, obj_id: str, lid: str, status: str) -> None:
        element.set("id", obj_id)
        if lid:
            element.set("lid", lid)
        if status:
            element.set("status", status)

    def document(self, parent: etree._Element, entry: DocumentEntry) -> None:
        element = etree.SubElement(parent, _q(RIM, "ExtrinsicObject"))
        self._common(element, entry.entry_uuid, entry.logical_id, entry.availability_status)
        element.set("mimeType", entry.mime_type)
        element.set("objectType", entry.object_type)
        values: dict[str, tuple[str, ...]] = {
            "creationTime": (entry.creation_time,),
            "hash": (entry.hash,),
            "languageCode": (entry.language_code,),
            "legalAuthenticator": (entry.legal_authenticator,),
            _REFERENCE_ID_LIST: entry.reference_ids,
            "repositoryUniqueId": (entry.repository_unique_id,),
            "serviceStartTime": (entry.service_start_time,),
            "serviceStopTime": (entry.service_stop_time,),
            "size": (str(entry.size) if entry.size is not None else "",),
            "sourcePatientId": (entry.source_patient_id,),
            "sourcePatientInfo": entry.source_patient_info,
        }
        for name in _DE_SLOTS:
            present = [v for v in values[name] if v]
            if present:
                self.slot(element, name, present)
        for extra in entry.extra_slots:
            self.slot(element, extra.name, extra.values)
        self.localized(element, "Name", entry.title)
        self.localized(element, "Description", entry.comments)
        if entry.version:
            etree.SubElement(element, _q(RIM, "VersionInfo"), versionName=entry.version)
        for author in entry.authors:
            self.author(element, _DE_AUTHOR, author)
        singles = (
            (_DE_CLASS, entry.class_code),
            (_DE_TYPE, entry.type_code),
            (_DE_FORMAT, entry.format_code),
            (_DE_FACILITY, entry.healthcare_facility_type_code),
            (_DE_PRACTICE, entry.practice_setting_code),
        )
        for scheme, code in singles[:2]:
            if code is not None:
                self.code(element, scheme, code)
        for code in entry.confidentiality_codes:
            self.code(element, _DE_CONFIDENTIALITY, code)
        for code in entry.event_codes:
            self.code(element, _DE_EVENT, code)
        for scheme, code in singles[2:]:
            if code is not None:
                self.code(element, scheme, code)
        self.external_id(element, _DE_PATIENT_ID, entry.patient_id, "XDSDocumentEntry.patientId")
        self.external_id(element, _DE_UNIQUE_ID, entry.unique_id, "XDSDocumentEntry.uniqueId")

    def submission_set(self, parent: etree._Element, ss: SubmissionSet) -> None:
        element = etree.SubElement(parent, _q(RIM, "RegistryPackage"))
        self._common(element, ss.entry_uuid, "", ss.availability_status)
        self.slot(element, "submissionTime", [ss.submission_time])
        if ss.intended_recipients:
            self.slot(element, "intendedRecipient", ss.intended_recipients)
        for extra in ss.extra_slots:
            self.slot(element, extra.name, extra.values)
        self.localized(element, "Name", ss.title)
        self.localized(element, "Description", ss.comments)
        for author in ss.authors:
            self.author(element, _SS_AUTHOR, author)
        if ss.content_type_code is not None:
            self.code(element, _SS_CONTENT_TYPE, ss.content_type_code)
        self.node(element, _SS_NODE)
        self.external_id(element, _SS_PATIENT_ID, ss.patient_id, "XDSSubmissionSet.patientId")
        self.external_id(element, _SS_SOURCE_ID, ss.source_id, "XDSSubmissionSet.sourceId")
        self.external_id(element, _SS_UNIQUE_ID, ss.unique_id, "XDSSubmissionSet.uniqueId")

    def folder(self, parent: etree._Element, folder: Folder) -> None:
        element = etree.SubElement(parent, _q(RIM, "RegistryPackage"))
        self._common(element, folder.entry_uuid, "", folder.availability_status)
        if folder.last_update_time:
            self.slot(element, "lastUpdateTime", [folder.last_update_time])
        for extra in folder.extra_slots:
            self.slot(element, extra.name, extra.values)
        self.localized(element, "Name", folder.title)
        self.localized(element, "Description", folder.comments)
        for code in folder.codes:
            self.code(element, _FOLDER_CODES, code)
        self.node(element, _FOLDER_NODE)
        self.external_id(element, _FOLDER_PATIENT_ID, folder.patient_id, "XDSFolder.patientId")
        self.external_id(element, _FOLDER_UNIQUE_ID, folder.unique_id, "XDSFolder.uniqueId")

    def association(self, parent: etree._Element, assoc: Association) -> None:
        element = etree.SubElement(parent, _q(RIM, "Association"))
        self._common(element, assoc.entry_uuid, "", assoc.availability_status)
        element.set("objectType", _ASSOCIATION_OBJECT_TYPE)
        element.set("associationType", assoc.association_type)
        element.set("sourceObject", assoc.source)
        element.set("targetObject", assoc.target)
        values = (
            assoc.submission_set_status,
            assoc.previous_version,
            assoc.original_status,
            assoc.new_status,
        )
        for name, value in zip(_ASSOCIATION_SLOTS, values, strict=True):
            if value:
                self.slot(element, name, [value])
        for extra in assoc.extra_slots:
            self.slot(element, extra.name, extra.values)

    def object_list(self, parent: etree._Element, submission: Submission) -> etree._Element:
        objects = etree.SubElement(parent, _q(RIM, "RegistryObjectList"))
        for ss in submission.submission_sets:
            self.submission_set(objects, ss)
        for folder in submission.folders:
            self.folder(objects, folder)
        for entry in submission.documents:
            self.document(objects, entry)
        for assoc in submission.associations:
            self.association(objects, assoc)
        return objects


def build_submit_objects(submission: Submission) -> etree._Element:
    """``lcm:SubmitObjectsRequest`` (ITI-57 body, and the metadata part of ITI-41)."""
    root = etree.Element(_q(LCM, "SubmitObjectsRequest"), nsmap=_NSMAP)
    _Writer().object_list(root, submission)
    return root


# --- reading ----------------------------------------------------------------------------------


def _body(source: bytes | etree._Element, what: str) -> etree._Element:
    root = source if isinstance(source, etree._Element) else parse_xml(source, what=what)
    if etree.QName(root).localname == "Envelope":
        body = next((c for c in root if etree.QName(c).localname == "Body"), None)
        children = [] if body is None else [c for c in body if isinstance(c.tag, str)]
        if not children:
            raise XdsError(f"{what}: enveloppe SOAP sans corps", code="XDSRegistryError")
        return children[0]
    return root


def _expect(element: etree._Element, ns: str, tag: str, what: str) -> None:
    if element.tag != _q(ns, tag):
        raise XdsError(f"{what}: {{{ns}}}{tag} attendu, trouvé {element.tag}", code="format")


def _slots(element: etree._Element) -> dict[str, tuple[str, ...]]:
    found: dict[str, tuple[str, ...]] = {}
    for slot in element.findall("rim:Slot", NS):
        values = tuple((v.text or "") for v in slot.findall("rim:ValueList/rim:Value", NS))
        found[str(slot.get("name"))] = found.get(str(slot.get("name")), ()) + values
    return found


def _localized(element: etree._Element, tag: str) -> str:
    string = element.find(f"rim:{tag}/rim:LocalizedString", NS)
    return "" if string is None else string.get("value", "")


def _code(classification: etree._Element) -> Code:
    schemes = _slots(classification).get("codingScheme", ("",))
    return Code(
        classification.get("nodeRepresentation", ""),
        schemes[0] if schemes else "",
        _localized(classification, "Name"),
    )


def _author(classification: etree._Element) -> Author:
    slots = _slots(classification)
    return Author(
        person=next(iter(slots.get("authorPerson", ())), ""),
        institutions=slots.get("authorInstitution", ()),
        roles=slots.get("authorRole", ()),
        specialties=slots.get("authorSpecialty", ()),
        telecoms=slots.get("authorTelecommunication", ()),
    )


def _external_ids(element: etree._Element) -> dict[str, str]:
    return {
        str(e.get("identificationScheme")): e.get("value", "")
        for e in element.findall("rim:ExternalIdentifier", NS)
    }


def _classifications(element: etree._Element, scheme: str) -> list[etree._Element]:
    return [
        c
        for c in element.findall("rim:Classification", NS)
        if c.get("classificationScheme") == scheme
    ]


def _first(values: tuple[str, ...] | None) -> str:
    return values[0] if values else ""


def _extras(slots: dict[str, tuple[str, ...]], known: Iterable[str]) -> tuple[Slot, ...]:
    skip = set(known)
    return tuple(Slot(name, values) for name, values in slots.items() if name not in skip)


def _parse_document(element: etree._Element) -> DocumentEntry:
    slots = _slots(element)
    ids = _external_ids(element)

    def single(scheme: str) -> Code | None:
        found = _classifications(element, scheme)
        return _code(found[0]) if found else None

    def many(scheme: str) -> tuple[Code, ...]:
        return tuple(_code(c) for c in _classifications(element, scheme))

    version = element.find("rim:VersionInfo", NS)
    size = _first(slots.get("size"))
    try:
        size_value = int(size) if size else None
    except ValueError:
        raise XdsError(f"size {size!r} non entier", code="XDSRegistryMetadataError") from None
    return DocumentEntry(
        entry_uuid=element.get("id", ""),
        unique_id=ids.get(_DE_UNIQUE_ID, ""),
        patient_id=ids.get(_DE_PATIENT_ID, ""),
        class_code=single(_DE_CLASS),
        type_code=single(_DE_TYPE),
        format_code=single(_DE_FORMAT),
        confidentiality_codes=many(_DE_CONFIDENTIALITY),
        healthcare_facility_type_code=single(_DE_FACILITY),
        practice_setting_code=single(_DE_PRACTICE),
        event_codes=many(_DE_EVENT),
        reference_ids=slots.get(_REFERENCE_ID_LIST, ()),
        source_patient_id=_first(slots.get("sourcePatientId")),
        source_patient_info=slots.get("sourcePatientInfo", ()),
        language_code=_first(slots.get("languageCode")),
        mime_type=element.get("mimeType", ""),
        creation_time=_first(slots.get("creationTime")),
        service_start_time=_first(slots.get("serviceStartTime")),
        service_stop_time=_first(slots.get("serviceStopTime")),
        hash=_first(slots.get("hash")),
        size=size_value,
        title=_localized(element, "Name"),
        comments=_localized(element, "Description"),
        authors=tuple(_author(c) for c in _classifications(element, _DE_AUTHOR)),
        legal_authenticator=_first(slots.get("legalAuthenticator")),
        availability_status=element.get("status", ""),
        repository_unique_id=_first(slots.get("repositoryUniqueId")),
        logical_id=element.get("lid", ""),
        version="" if version is None else version.get("versionName", ""),
        object_type=element.get("objectType", ""),
        extra_slots=_extras(slots, _DE_SLOTS),
    )


def _is_submission_set(element: etree._Element) -> bool:
    nodes = {c.get("classificationNode") for c in element.findall("rim:Classification", NS)}
    if _SS_NODE in nodes:
        return True
    if _FOLDER_NODE in nodes:
        return False
    return _SS_UNIQUE_ID in _external_ids(element)


def _parse_submission_set(element: etree._Element) -> SubmissionSet:
    slots = _slots(element)
    ids = _external_ids(element)
    content = _classifications(element, _SS_CONTENT_TYPE)
    return SubmissionSet(
        entry_uuid=element.get("id", ""),
        unique_id=ids.get(_SS_UNIQUE_ID, ""),
        source_id=ids.get(_SS_SOURCE_ID, ""),
        patient_id=ids.get(_SS_PATIENT_ID, ""),
        submission_time=_first(slots.get("submissionTime")),
        content_type_code=_code(content[0]) if content else None,
        authors=tuple(_author(c) for c in _classifications(element, _SS_AUTHOR)),
        intended_recipients=slots.get("intendedRecipient", ()),
        title=_localized(element, "Name"),
        comments=_localized(element, "Description"),
        availability_status=element.get("status", ""),
        extra_slots=_extras(slots, ("submissionTime", "intendedRecipient")),
    )


def _parse_folder(element: etree._Element) -> Folder:
    slots = _slots(element)
    ids = _external_ids(element)
    return Folder(
        entry_uuid=element.get("id", ""),
        unique_id=ids.get(_FOLDER_UNIQUE_ID, ""),
        patient_id=ids.get(_FOLDER_PATIENT_ID, ""),
        codes=tuple(_code(c) for c in _classifications(element, _FOLDER_CODES)),
        last_update_time=_first(slots.get("lastUpdateTime")),
        title=_localized(element, "Name"),
        comments=_localized(element, "Description"),
        availability_status=element.get("status", ""),
        extra_slots=_extras(slots, ("lastUpdateTime",)),
    )


def _parse_association(element: etree._Element) -> Association:
    slots = _slots(element)
    return Association(
        entry_uuid=element.get("id", ""),
        association_type=element.get("associationType", ""),
        source=element.get("sourceObject", ""),
        target=element.get("targetObject", ""),
        submission_set_status=_first(slots.get("SubmissionSetStatus")),
        previous_version=_first(slots.get("PreviousVersion")),
        original_status=_first(slots.get("OriginalStatus")),
        new_status=_first(slots.get("NewStatus")),
        availability_status=element.get("status", ""),
        extra_slots=_extras(slots, _ASSOCIATION_SLOTS),
    )


def _parse_object_list(objects: etree._Element | None) -> tuple[Submission, tuple[str, ...]]:
    sets: list[SubmissionSet] = []
    folders: list[Folder] = []
    documents: list[DocumentEntry] = []
    associations: list[Association] = []
    refs: list[str] = []
    for child in [] if objects is None else objects:
        if not isinstance(child.tag, str):
            continue
        tag = child.tag
        if tag == _q(RIM, "ExtrinsicObject"):
            documents.append(_parse_document(child))
        elif tag == _q(RIM, "RegistryPackage"):
            if _is_submission_set(child):
                sets.append(_parse_submission_set(child))
            else:
                folders.append(_parse_folder(child))
        elif tag == _q(RIM, "Association"):
            associations.append(_parse_association(child))
        elif tag == _q(RIM, "ObjectRef"):
            refs.append(child.get("id", ""))
    submission = Submission(tuple(sets), tuple(documents), tuple(folders), tuple(associations))
    return submission, tuple(refs)


def parse_submit_objects(source: bytes | etree._Element) -> Submission:
    """Parse an ``lcm:SubmitObjectsRequest`` (ITI-57 body or the metadata of an ITI-41)."""
    element = _body(source, "SubmitObjectsRequest")
    _expect(element, LCM, "SubmitObjectsRequest", "SubmitObjectsRequest")
    submission, _ = _parse_object_list(element.find("rim:RegistryObjectList", NS))
    return submission


# --- ITI-41 -----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class PnrDocument:
    """One ``xdsb:Document``: ``document_id`` is the ExtrinsicObject id.

    Exactly one of ``data`` (inline base64 on the wire) and ``content_id`` (an
    ``xop:Include href="cid:<content_id>"`` the MTOM layer resolves) is set.
    """

    document_id: str
    data: bytes | None = None
    content_id: str | None = None

    def __post_init__(self) -> None:
        if (self.data is None) == (self.content_id is None):
            raise XdsError(
                f"document {self.document_id}: data ou content_id (exclusivement)",
                code="XDSMissingDocument",
            )


@dataclass(frozen=True, slots=True)
class ProvideAndRegisterRequest:
    """An ITI-41 request: the metadata and the documents."""

    submission: Submission
    documents: tuple[PnrDocument, ...] = ()


def _payload(element: etree._Element, content: str | None, data: bytes | None) -> None:
    if content is not None:
        include = etree.SubElement(element, _q(XOP, "Include"), nsmap={"xop": XOP})
        include.set("href", f"cid:{content}")
    elif data is not None:
        element.text = base64.b64encode(data).decode("ascii")


def _read_payload(element: etree._Element, what: str) -> tuple[bytes | None, str | None]:
    include = element.find("xop:Include", NS)
    if include is not None:
        href = include.get("href", "")
        if not href.startswith("cid:"):
            raise XdsError(f"{what}: xop:Include href {href!r} sans cid:", code="format")
        return None, href[4:]
    try:
        return base64.b64decode("".join((element.text or "").split()), validate=True), None
    except (binascii.Error, ValueError):
        raise XdsError(f"{what}: base64 invalide", code="format") from None


def build_provide_and_register(request: ProvideAndRegisterRequest) -> etree._Element:
    """``xdsb:ProvideAndRegisterDocumentSetRequest`` with inline or ``xop:Include`` payloads."""
    root = etree.Element(_q(XDSB, "ProvideAndRegisterDocumentSetRequest"), nsmap=_NSMAP)
    submit = etree.SubElement(root, _q(LCM, "SubmitObjectsRequest"))
    _Writer().object_list(submit, request.submission)
    for document in request.documents:
        element = etree.SubElement(root, _q(XDSB, "Document"), id=document.document_id)
        _payload(element, document.content_id, document.data)
    return root


def parse_provide_and_register(source: bytes | etree._Element) -> ProvideAndRegisterRequest:
    """Parse an ITI-41 request (XOP placeholders are returned as ``content_id``)."""
    root = _body(source, "ProvideAndRegisterDocumentSetRequest")
    _expect(root, XDSB, "ProvideAndRegisterDocumentSetRequest", "ITI-41")
    submit = root.find("lcm:SubmitObjectsRequest", NS)
    if submit is None:
        raise XdsError("ITI-41: SubmitObjectsRequest absent", code="format")
    submission, _ = _parse_object_list(submit.find("rim:RegistryObjectList", NS))
    documents = []
    for element in root.findall("xdsb:Document", NS):
        doc_id = element.get("id", "")
        data, cid = _read_payload(element, f"Document {doc_id}")
        documents.append(PnrDocument(doc_id, data, cid))
    return ProvideAndRegisterRequest(submission, tuple(documents))


# --- ITI-18 -----------------------------------------------------------------------------------


def query_value(value: str) -> str:
    """A stored-query string parameter: ``'value'`` (single quotes doubled)."""
    return "'" + value.replace("'", "''") + "'"


def quote_list(values: Iterable[str]) -> str:
    """A stored-query list parameter: ``('a','b')``."""
    return "(" + ",".join(query_value(v) for v in values) + ")"


def _code_param(code: Code) -> str:
    return f"{code.code}^^{code.scheme}"


@dataclass(frozen=True, slots=True)
class StoredQuery:
    """An ITI-18 stored query: its id, parameters (raw slot values) and return type."""

    query_id: str
    parameters: tuple[Slot, ...]
    return_type: str = "LeafClass"
    return_composed_objects: bool = True

    def values(self, name: str) -> tuple[str, ...]:
        """The decoded values of parameter ``name`` (quotes and list syntax removed)."""
        decoded: list[str] = []
        for slot in self.parameters:
            if slot.name == name:
                for raw in slot.values:
                    decoded.extend(_decode_parameter(raw))
        return tuple(decoded)


def _decode_parameter(raw: str) -> list[str]:
    text = raw.strip()
    if text.startswith("(") and text.endswith(")"):
        text = text[1:-1]
    items: list[str] = []
    current: list[str] = []
    quoted = False
    index = 0
    while index < len(text):
        char = text[index]
        if char == "'":
            if quoted and index + 1 < len(text) and text[index + 1] == "'":
                current.append("'")
                index += 1
            else:
                quoted = not quoted
        elif char == "," and not quoted:
            items.append("".join(current).strip())
            current = []
        else:
            current.append(char)
        index += 1
    items.append("".join(current).strip())
    return [item for item in items if item]


def _params(pairs: Iterable[tuple[str, str | None]]) -> tuple[Slot, ...]:
    return tuple(Slot(name, (value,)) for name, value in pairs if value)


def _codes(codes: Sequence[Code]) -> str | None:
    return quote_list(_code_param(c) for c in codes) if codes else None


def find_documents(
    patient_id: str,
    *,
    statuses: Sequence[str] = (STATUS_APPROVED,),
    class_codes: Sequence[Code] = (),
    type_codes: Sequence[Code] = (),
    practice_setting_codes: Sequence[Code] = (),
    healthcare_facility_type_codes: Sequence[Code] = (),
    event_codes: Sequence[Code] = (),
    confidentiality_codes: Sequence[Code] = (),
    format_codes: Sequence[Code] = (),
    creation_time_from: str = "",
    creation_time_to: str = "",
    service_start_time_from: str = "",
    service_start_time_to: str = "",
    service_stop_time_from: str = "",
    service_stop_time_to: str = "",
    author_person: str = "",
    return_type: str = "LeafClass",
) -> StoredQuery:
    """FindDocuments (TD3.1). Times are XDS DTM strings (UTC)."""
    return StoredQuery(
        QUERY_FIND_DOCUMENTS,
        _document_filters(
            patient_id,
            statuses,
            class_codes,
            type_codes,
            practice_setting_codes,
            healthcare_facility_type_codes,
            event_codes,
            confidentiality_codes,
            format_codes,
            (
                creation_time_from,
                creation_time_to,
                service_start_time_from,
                service_start_time_to,
                service_stop_time_from,
                service_stop_time_to,
            ),
            author_person,
        ),
        return_type,
    )


def _document_filters(
    patient_id: str,
    statuses: Sequence[str],
    class_codes: Sequence[Code],
    type_codes: Sequence[Code],
    practice_setting_codes: Sequence[Code],
    healthcare_facility_type_codes: Sequence[Code],
    event_codes: Sequence[Code],
    confidentiality_codes: Sequence[Code],
    format_codes: Sequence[Code],
    times: tuple[str, ...],
    author_person: str,
) -> tuple[Slot, ...]:
    prefix = "$XDSDocumentEntry"
    return _params(
        [
            (f"{prefix}PatientId", query_value(patient_id)),
            (f"{prefix}ClassCode", _codes(class_codes)),
            (f"{prefix}TypeCode", _codes(type_codes)),
            (f"{prefix}PracticeSettingCode", _codes(practice_setting_codes)),
            (f"{prefix}CreationTimeFrom", times[0]),
            (f"{prefix}CreationTimeTo", times[1]),
            (f"{prefix}ServiceStartTimeFrom", times[2]),
            (f"{prefix}ServiceStartTimeTo", times[3]),
            (f"{prefix}ServiceStopTimeFrom", times[4]),
            (f"{prefix}ServiceStopTimeTo", times[5]),
            (f"{prefix}HealthcareFacilityTypeCode", _codes(healthcare_facility_type_codes)),
            (f"{prefix}EventCodeList", _codes(event_codes)),
            (f"{prefix}ConfidentialityCode", _codes(confidentiality_codes)),
            (f"{prefix}AuthorPerson", quote_list([author_person]) if author_person else None),
            (f"{prefix}FormatCode", _codes(format_codes)),
            (f"{prefix}Status", quote_list(statuses)),
        ]
    )


def find_documents_by_reference_id(
    patient_id: str,
    reference_ids: Sequence[str],
    *,
    statuses: Sequence[str] = (STATUS_APPROVED,),
    class_codes: Sequence[Code] = (),
    type_codes: Sequence[Code] = (),
    return_type: str = "LeafClass",
) -> StoredQuery:
    """FindDocumentsByReferenceId, e.g. by accession number (CXi values)."""
    filters = _document_filters(
        patient_id, statuses, class_codes, type_codes, (), (), (), (), (), ("",) * 6, ""
    )
    extra = Slot("$XDSDocumentEntryReferenceIdList", (quote_list(reference_ids),))
    return StoredQuery(QUERY_FIND_DOCUMENTS_BY_REFERENCE_ID, (*filters, extra), return_type)


def find_submission_sets(
    patient_id: str,
    *,
    statuses: Sequence[str] = (STATUS_APPROVED,),
    source_ids: Sequence[str] = (),
    submission_time_from: str = "",
    submission_time_to: str = "",
    author_person: str = "",
    content_type_codes: Sequence[Code] = (),
    return_type: str = "LeafClass",
) -> StoredQuery:
    """FindSubmissionSets ("search by submission date": then GetAssociations, GetDocuments)."""
    prefix = "$XDSSubmissionSet"
    return StoredQuery(
        QUERY_FIND_SUBMISSION_SETS,
        _params(
            [
                (f"{prefix}PatientId", query_value(patient_id)),
                (f"{prefix}SourceId", quote_list(source_ids) if source_ids else None),
                (f"{prefix}SubmissionTimeFrom", submission_time_from),
                (f"{prefix}SubmissionTimeTo", submission_time_to),
                (f"{prefix}AuthorPerson", query_value(author_person) if author_person else None),
                (f"{prefix}ContentType", _codes(content_type_codes)),
                (f"{prefix}Status", quote_list(statuses)),
            ]
        ),
        return_type,
    )


def get_documents(
    *,
    entry_uuids: Sequence[str] = (),
    unique_ids: Sequence[str] = (),
    home_community_id: str = "",
    return_type: str = "LeafClass",
) -> StoredQuery:
    """GetDocuments by entryUUIDs or by uniqueIds (exactly one of the two)."""
    if bool(entry_uuids) == bool(unique_ids):
        raise XdsError("GetDocuments: entry_uuids ou unique_ids (exclusivement)", code="query")
    return StoredQuery(
        QUERY_GET_DOCUMENTS,
        _params(
            [
                ("$XDSDocumentEntryEntryUUID", quote_list(entry_uuids) if entry_uuids else None),
                ("$XDSDocumentEntryUniqueId", quote_list(unique_ids) if unique_ids else None),
                ("$homeCommunityId", query_value(home_community_id) if home_community_id else None),
            ]
        ),
        return_type,
    )


def get_associations(uuids: Sequence[str], *, return_type: str = "LeafClass") -> StoredQuery:
    """GetAssociations of the given entryUUIDs (submission sets, documents, folders)."""
    if not uuids:
        raise XdsError("GetAssociations: au moins un UUID", code="query")
    return StoredQuery(QUERY_GET_ASSOCIATIONS, (Slot("$uuid", (quote_list(uuids),)),), return_type)


def build_adhoc_query(query: StoredQuery) -> etree._Element:
    """``query:AdhocQueryRequest`` for a stored query."""
    root = etree.Element(_q(QUERY, "AdhocQueryRequest"), nsmap=_NSMAP)
    option = etree.SubElement(root, _q(QUERY, "ResponseOption"))
    option.set("returnComposedObjects", "true" if query.return_composed_objects else "false")
    option.set("returnType", query.return_type)
    adhoc = etree.SubElement(root, _q(RIM, "AdhocQuery"), id=query.query_id)
    for slot in query.parameters:
        _Writer.slot(adhoc, slot.name, slot.values)
    return root


def parse_adhoc_query(source: bytes | etree._Element) -> StoredQuery:
    """Parse an ``AdhocQueryRequest`` into a :class:`StoredQuery`."""
    root = _body(source, "AdhocQueryRequest")
    _expect(root, QUERY, "AdhocQueryRequest", "ITI-18")
    option = root.find("query:ResponseOption", NS)
    adhoc = root.find("rim:AdhocQuery", NS)
    if adhoc is None:
        raise XdsError("ITI-18: AdhocQuery absent", code="format")
    slots = _slots(adhoc)
    return StoredQuery(
        adhoc.get("id", ""),
        tuple(Slot(name, values) for name, values in slots.items()),
        option.get("returnType", "LeafClass") if option is not None else "LeafClass",
        (option.get("returnComposedObjects", "false") == "true") if option is not None else False,
    )


# --- responses --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class RegistryResponse:
    """An ``rs:RegistryResponse``: status URN and errors/warnings."""

    status: str = RESPONSE_SUCCESS
    errors: tuple[RegistryError, ...] = ()

    @property
    def ok(self) -> bool:
        """``True`` for Success (warnings allowed)."""
        return self.status == RESPONSE_SUCCESS

    def raise_for_errors(self) -> None:
        """Raise :class:`XdsRegistryError` unless Success without Error-severity entries."""
        if self.ok and not any(e.is_error for e in self.errors):
            return
        errors = self.errors or (RegistryError("XDSRegistryError", f"statut {self.status}"),)
        raise registry_error(errors, status=self.status)


@dataclass(frozen=True, slots=True)
class QueryResponse:
    """An ITI-18 ``AdhocQueryResponse``: typed objects (LeafClass) or ``object_refs``."""

    status: str = RESPONSE_SUCCESS
    objects: Submission = field(default_factory=Submission)
    object_refs: tuple[str, ...] = ()
    errors: tuple[RegistryError, ...] = ()

    def raise_for_errors(self) -> None:
        """Raise :class:`XdsRegistryError` on Failure / PartialSuccess or error entries."""
        RegistryResponse(self.status, self.errors).raise_for_errors()


def _write_errors(parent: etree._Element, errors: Sequence[RegistryError]) -> None:
    if not errors:
        return
    holder = etree.SubElement(parent, _q(RS, "RegistryErrorList"))
    for error in errors:
        element = etree.SubElement(holder, _q(RS, "RegistryError"))
        element.set("codeContext", error.code_context)
        element.set("errorCode", error.error_code)
        element.set("severity", error.severity)
        if error.location:
            element.set("location", error.location)
        if error.value:
            element.text = error.value


def _read_errors(element: etree._Element) -> tuple[RegistryError, ...]:
    return tuple(
        RegistryError(
            error_code=e.get("errorCode", ""),
            code_context=e.get("codeContext", ""),
            severity=e.get("severity", "urn:oasis:names:tc:ebxml-regrep:ErrorSeverityType:Error"),
            location=e.get("location", ""),
            value=(e.text or "").strip(),
        )
        for e in element.findall("rs:RegistryErrorList/rs:RegistryError", NS)
    )


def build_registry_response(response: RegistryResponse) -> etree._Element:
    """``rs:RegistryResponse`` (for test peers and mocks)."""
    root = etree.Element(_q(RS, "RegistryResponse"), nsmap=_NSMAP, status=response.status)
    _write_errors(root, response.errors)
    return root


def parse_registry_response(source: bytes | etree._Element) -> RegistryResponse:
    """Parse an ``rs:RegistryResponse`` (ITI-41 / ITI-57 answer)."""
    root = _body(source, "RegistryResponse")
    _expect(root, RS, "RegistryResponse", "RegistryResponse")
    return RegistryResponse(root.get("status", ""), _read_errors(root))


def build_adhoc_query_response(response: QueryResponse) -> etree._Element:
    """``query:AdhocQueryResponse`` (for test peers and mocks)."""
    root = etree.Element(_q(QUERY, "AdhocQueryResponse"), nsmap=_NSMAP, status=response.status)
    _write_errors(root, response.errors)
    objects = _Writer().object_list(root, response.objects)
    for ref in response.object_refs:
        etree.SubElement(objects, _q(RIM, "ObjectRef"), id=ref)
    return root


def parse_adhoc_query_response(source: bytes | etree._Element) -> QueryResponse:
    """Parse an ITI-18 ``AdhocQueryResponse`` into typed entries."""
    root = _body(source, "AdhocQueryResponse")
    _expect(root, QUERY, "AdhocQueryResponse", "ITI-18")
    objects, refs = _parse_object_list(root.find("rim:RegistryObjectList", NS))
    return QueryResponse(root.get("status", ""), objects, refs, _read_errors(root))


# --- ITI-43 -----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class DocumentRequest:
    """One ``DocumentRequest`` of an ITI-43 request."""

    repository_unique_id: str
    document_unique_id: str
    home_community_id: str = ""


@dataclass(frozen=True, slots=True)
class RetrievedDocument:
    """One ``DocumentResponse``: ``data`` inline, or ``content_id`` of the MIME part."""

    repository_unique_id: str
    document_unique_id: str
    mime_type: str
    data: bytes | None = None
    content_id: str | None = None
    home_community_id: str = ""

    def resolve(self, parts: Callable[[str], bytes]) -> bytes:
        """The document bytes, asking ``parts(content_id)`` for an XOP attachment."""
        if self.data is not None:
            return self.data
        if self.content_id is None:
            raise XdsError("DocumentResponse sans contenu", code="XDSMissingDocument")
        return parts(self.content_id)


@dataclass(frozen=True, slots=True)
class RetrieveResponse:
    """An ITI-43 response: the registry status/errors and the documents."""

    status: str = RESPONSE_SUCCESS
    documents: tuple[RetrievedDocument, ...] = ()
    errors: tuple[RegistryError, ...] = ()

    def raise_for_errors(self) -> None:
        """Raise :class:`XdsRegistryError` on Failure / PartialSuccess or error entries."""
        RegistryResponse(self.status, self.errors).raise_for_errors()


def _text_child(parent: etree._Element, tag: str, text: str) -> None:
    etree.SubElement(parent, _q(XDSB, tag)).text = text


def build_retrieve_request(requests: Sequence[DocumentRequest]) -> etree._Element:
    """``xdsb:RetrieveDocumentSetRequest`` (TD3.2)."""
    root = etree.Element(_q(XDSB, "RetrieveDocumentSetRequest"), nsmap=_NSMAP)
    for request in requests:
        element = etree.SubElement(root, _q(XDSB, "DocumentRequest"))
        if request.home_community_id:
            _text_child(element, "HomeCommunityId", request.home_community_id)
        _text_child(element, "RepositoryUniqueId", request.repository_unique_id)
        _text_child(element, "DocumentUniqueId", request.document_unique_id)
    return root


def _child_text(element: etree._Element, tag: str) -> str:
    return (element.findtext(f"xdsb:{tag}", "", NS) or "").strip()


def parse_retrieve_request(source: bytes | etree._Element) -> tuple[DocumentRequest, ...]:
    """Parse an ITI-43 request."""
    root = _body(source, "RetrieveDocumentSetRequest")
    _expect(root, XDSB, "RetrieveDocumentSetRequest", "ITI-43")
    return tuple(
        DocumentRequest(
            _child_text(e, "RepositoryUniqueId"),
            _child_text(e, "DocumentUniqueId"),
            _child_text(e, "HomeCommunityId"),
        )
        for e in root.findall("xdsb:DocumentRequest", NS)
    )


def build_retrieve_response(response: RetrieveResponse) -> etree._Element:
    """``xdsb:RetrieveDocumentSetResponse`` (for test peers and mocks)."""
    root = etree.Element(_q(XDSB, "RetrieveDocumentSetResponse"), nsmap=_NSMAP)
    root.append(build_registry_response(RegistryResponse(response.status, response.errors)))
    for document in response.documents:
        element = etree.SubElement(root, _q(XDSB, "DocumentResponse"))
        if document.home_community_id:
            _text_child(element, "HomeCommunityId", document.home_community_id)
        _text_child(element, "RepositoryUniqueId", document.repository_unique_id)
        _text_child(element, "DocumentUniqueId", document.document_unique_id)
        _text_child(element, "mimeType", document.mime_type)
        payload = etree.SubElement(element, _q(XDSB, "Document"))
        _payload(payload, document.content_id, document.data)
    return root


def parse_retrieve_response(source: bytes | etree._Element) -> RetrieveResponse:
    """Parse an ITI-43 response; XOP payloads come back as ``content_id``."""
    root = _body(source, "RetrieveDocumentSetResponse")
    _expect(root, XDSB, "RetrieveDocumentSetResponse", "ITI-43")
    registry = root.find("rs:RegistryResponse", NS)
    if registry is None:
        raise XdsError("ITI-43: RegistryResponse absent", code="format")
    documents = []
    for element in root.findall("xdsb:DocumentResponse", NS):
        payload = element.find("xdsb:Document", NS)
        unique_id = _child_text(element, "DocumentUniqueId")
        if payload is None:
            raise XdsError(f"ITI-43: Document absent pour {unique_id}", code="XDSMissingDocument")
        data, cid = _read_payload(payload, f"Document {unique_id}")
        documents.append(
            RetrievedDocument(
                _child_text(element, "RepositoryUniqueId"),
                unique_id,
                _child_text(element, "mimeType"),
                data,
                cid,
                _child_text(element, "HomeCommunityId"),
            )
        )
    return RetrieveResponse(registry.get("status", ""), tuple(documents), _read_errors(registry))


# --- ITI-57 -----------------------------------------------------------------------------------


def metadata_update(
    submission_set: SubmissionSet,
    entry: DocumentEntry,
    *,
    previous_version: str,
    association_id: str = "association1",
) -> Submission:
    """An ITI-57 metadata update (TD3.3a/b masking and visibility): ``entry`` is the new
    version (``logical_id`` = the lid of the entry being replaced, status Approved), linked by
    a HasMember association with ``SubmissionSetStatus=Original`` and ``PreviousVersion``."""
    if not entry.logical_id:
        raise XdsError("mise à jour ITI-57: logical_id (lid) de l'entrée requis", code="format")
    if not previous_version:
        raise XdsError("mise à jour ITI-57: PreviousVersion requis", code="format")
    association = Association(
        entry_uuid=association_id,
        association_type=ASSOCIATION_HAS_MEMBER,
        source=submission_set.entry_uuid,
        target=entry.entry_uuid,
        submission_set_status="Original",
        previous_version=previous_version,
    )
    return Submission((submission_set,), (entry,), (), (association,))


def availability_status_update(
    submission_set: SubmissionSet,
    target_entry_uuid: str,
    new_status: str,
    *,
    original_status: str = STATUS_APPROVED,
    association_id: str = "association1",
) -> Submission:
    """An ITI-57 UpdateAvailabilityStatus (TD3.3c ``STATUS_DELETED``, TD3.3d
    ``STATUS_ARCHIVED``) of the entry ``target_entry_uuid`` (its ``urn:uuid:`` entryUUID)."""
    association = Association(
        entry_uuid=association_id,
        association_type=ASSOCIATION_UPDATE_AVAILABILITY_STATUS,
        source=submission_set.entry_uuid,
        target=target_entry_uuid,
        original_status=original_status,
        new_status=new_status,
    )
    return Submission((submission_set,), (), (), (association,))
