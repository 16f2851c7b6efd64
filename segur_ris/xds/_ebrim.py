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

from segur_ris._xml import escape_attr, escape_text, parse_xml
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
    "provide_and_register_xml",
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

# The writers emit the XML text (then parsed once when an element is wanted): ~260 elements
# made one by one with lxml (SubElement, set, nsmap reconciliation) cost ~5 µs each on every
# ITI-41 request, the text about a tenth of that. Every value goes through :func:`_text` /
# :func:`_attr` (checked to be XML 1.0 characters, then xml.sax.saxutils escaping); only the
# constant names and tags of this module are written raw, so the text is well-formed.
_NS_DECLARATIONS = "".join(f' xmlns:{prefix}="{uri}"' for prefix, uri in _NSMAP.items())


def _unrepresentable(value: str) -> XdsError:
    return XdsError(f"valeur non représentable en XML: {value!r}", code="format")


def _text(value: str) -> str:
    """``value`` escaped as element content."""
    return escape_text(value, _unrepresentable)


def _attr(value: str) -> str:
    """``value`` escaped for a double-quoted attribute (whitespace kept as character refs)."""
    return escape_attr(value, _unrepresentable)


def _element(chunks: list[str], what: str) -> etree._Element:
    """Parse the XML text the writers produced (one parse for the whole request)."""
    return parse_xml("".join(chunks).encode("utf-8"), what=what)


class _Writer:
    """Writes model objects as ebRIM XML text into ``out``; numbers the Classification /
    ExternalIdentifier ids."""

    def __init__(self, out: list[str]) -> None:
        self._counter = itertools.count(1)
        self.out = out

    def _end(self, start: int, tag: str) -> None:
        """Close the element whose start tag is ``out[start - 1]``: as ``<…/>`` when nothing
        was written since, as lxml writes an empty element."""
        if len(self.out) == start:
            self.out[-1] = self.out[-1][:-1] + "/>"
        else:
            self.out.append(f"</rim:{tag}>")

    def slot(self, name: str, values: Iterable[str]) -> None:
        listed = "".join(f"<rim:Value>{_text(value)}</rim:Value>" for value in values)
        self.out.append(
            f'<rim:Slot name="{_attr(name)}">'
            + (f"<rim:ValueList>{listed}</rim:ValueList>" if listed else "<rim:ValueList/>")
            + "</rim:Slot>"
        )

    def localized(self, tag: str, text: str) -> None:
        if text:
            self.out.append(
                f'<rim:{tag}><rim:LocalizedString charset="UTF8" value="{_attr(text)}" '
                f'xml:lang="FR"/></rim:{tag}>'
            )

    def code(self, owner: str, scheme: str, code: Code) -> None:
        self.out.append(
            f'<rim:Classification classificationScheme="{scheme}" classifiedObject="{owner}" '
            f'id="cl{next(self._counter)}" nodeRepresentation="{_attr(code.code)}">'
        )
        self.slot("codingScheme", (code.scheme,))
        self.localized("Name", code.display)
        self.out.append("</rim:Classification>")

    def author(self, owner: str, scheme: str, author: Author) -> None:
        self.out.append(
            f'<rim:Classification classificationScheme="{scheme}" classifiedObject="{owner}" '
            f'id="cl{next(self._counter)}" nodeRepresentation="">'
        )
        start = len(self.out)
        for name, attribute in _AUTHOR_SLOTS.items():
            value = getattr(author, attribute)
            values = (value,) if isinstance(value, str) else tuple(value)
            if any(values):
                self.slot(name, [v for v in values if v])
        self._end(start, "Classification")

    def node(self, owner: str, node: str) -> None:
        self.out.append(
            f'<rim:Classification classificationNode="{node}" classifiedObject="{owner}" '
            f'id="cl{next(self._counter)}"/>'
        )

    def external_id(self, owner: str, scheme: str, value: str, name: str) -> None:
        self.out.append(
            f'<rim:ExternalIdentifier id="ei{next(self._counter)}" identificationScheme="{scheme}" '
            f'registryObject="{owner}" value="{_attr(value)}">'
        )
        self.localized("Name", name)
        self.out.append("</rim:ExternalIdentifier>")

    @staticmethod
    def _common(obj_id: str, lid: str, status: str) -> str:
        """The ``id``, ``lid`` and ``status`` attributes (``obj_id`` is already escaped)."""
        text = f' id="{obj_id}"'
        if lid:
            text += f' lid="{_attr(lid)}"'
        if status:
            text += f' status="{_attr(status)}"'
        return text

    def document(self, entry: DocumentEntry) -> None:
        owner = _attr(entry.entry_uuid)
        common = self._common(owner, entry.logical_id, entry.availability_status)
        self.out.append(
            f"<rim:ExtrinsicObject{common}"
            f' mimeType="{_attr(entry.mime_type)}" objectType="{_attr(entry.object_type)}">'
        )
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
                self.slot(name, present)
        for extra in entry.extra_slots:
            self.slot(extra.name, extra.values)
        self.localized("Name", entry.title)
        self.localized("Description", entry.comments)
        if entry.version:
            self.out.append(f'<rim:VersionInfo versionName="{_attr(entry.version)}"/>')
        for author in entry.authors:
            self.author(owner, _DE_AUTHOR, author)
        singles = (
            (_DE_CLASS, entry.class_code),
            (_DE_TYPE, entry.type_code),
            (_DE_FORMAT, entry.format_code),
            (_DE_FACILITY, entry.healthcare_facility_type_code),
            (_DE_PRACTICE, entry.practice_setting_code),
        )
        for scheme, code in singles[:2]:
            if code is not None:
                self.code(owner, scheme, code)
        for code in entry.confidentiality_codes:
            self.code(owner, _DE_CONFIDENTIALITY, code)
        for code in entry.event_codes:
            self.code(owner, _DE_EVENT, code)
        for scheme, code in singles[2:]:
            if code is not None:
                self.code(owner, scheme, code)
        self.external_id(owner, _DE_PATIENT_ID, entry.patient_id, "XDSDocumentEntry.patientId")
        self.external_id(owner, _DE_UNIQUE_ID, entry.unique_id, "XDSDocumentEntry.uniqueId")
        self.out.append("</rim:ExtrinsicObject>")

    def submission_set(self, ss: SubmissionSet) -> None:
        owner = _attr(ss.entry_uuid)
        self.out.append(f"<rim:RegistryPackage{self._common(owner, '', ss.availability_status)}>")
        self.slot("submissionTime", (ss.submission_time,))
        if ss.intended_recipients:
            self.slot("intendedRecipient", ss.intended_recipients)
        for extra in ss.extra_slots:
            self.slot(extra.name, extra.values)
        self.localized("Name", ss.title)
        self.localized("Description", ss.comments)
        for author in ss.authors:
            self.author(owner, _SS_AUTHOR, author)
        if ss.content_type_code is not None:
            self.code(owner, _SS_CONTENT_TYPE, ss.content_type_code)
        self.node(owner, _SS_NODE)
        self.external_id(owner, _SS_PATIENT_ID, ss.patient_id, "XDSSubmissionSet.patientId")
        self.external_id(owner, _SS_SOURCE_ID, ss.source_id, "XDSSubmissionSet.sourceId")
        self.external_id(owner, _SS_UNIQUE_ID, ss.unique_id, "XDSSubmissionSet.uniqueId")
        self.out.append("</rim:RegistryPackage>")

    def folder(self, folder: Folder) -> None:
        owner = _attr(folder.entry_uuid)
        self.out.append(
            f"<rim:RegistryPackage{self._common(owner, '', folder.availability_status)}>"
        )
        if folder.last_update_time:
            self.slot("lastUpdateTime", (folder.last_update_time,))
        for extra in folder.extra_slots:
            self.slot(extra.name, extra.values)
        self.localized("Name", folder.title)
        self.localized("Description", folder.comments)
        for code in folder.codes:
            self.code(owner, _FOLDER_CODES, code)
        self.node(owner, _FOLDER_NODE)
        self.external_id(owner, _FOLDER_PATIENT_ID, folder.patient_id, "XDSFolder.patientId")
        self.external_id(owner, _FOLDER_UNIQUE_ID, folder.unique_id, "XDSFolder.uniqueId")
        self.out.append("</rim:RegistryPackage>")

    def association(self, assoc: Association) -> None:
        common = self._common(_attr(assoc.entry_uuid), "", assoc.availability_status)
        self.out.append(
            f"<rim:Association{common}"
            f' objectType="{_ASSOCIATION_OBJECT_TYPE}"'
            f' associationType="{_attr(assoc.association_type)}"'
            f' sourceObject="{_attr(assoc.source)}" targetObject="{_attr(assoc.target)}">'
        )
        start = len(self.out)
        values = (
            assoc.submission_set_status,
            assoc.previous_version,
            assoc.original_status,
            assoc.new_status,
        )
        for name, value in zip(_ASSOCIATION_SLOTS, values, strict=True):
            if value:
                self.slot(name, (value,))
        for extra in assoc.extra_slots:
            self.slot(extra.name, extra.values)
        self._end(start, "Association")

    def object_list(self, submission: Submission, refs: Sequence[str] = ()) -> None:
        self.out.append("<rim:RegistryObjectList>")
        start = len(self.out)
        for ss in submission.submission_sets:
            self.submission_set(ss)
        for folder in submission.folders:
            self.folder(folder)
        for entry in submission.documents:
            self.document(entry)
        for assoc in submission.associations:
            self.association(assoc)
        self.out.extend(f'<rim:ObjectRef id="{_attr(ref)}"/>' for ref in refs)
        self._end(start, "RegistryObjectList")


def build_submit_objects(submission: Submission) -> etree._Element:
    """``lcm:SubmitObjectsRequest`` (ITI-57 body, and the metadata part of ITI-41)."""
    out = [f"<lcm:SubmitObjectsRequest{_NS_DECLARATIONS}>"]
    _Writer(out).object_list(submission)
    out.append("</lcm:SubmitObjectsRequest>")
    return _element(out, "SubmitObjectsRequest")


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


_SLOT = _q(RIM, "Slot")
_VALUE_LIST = _q(RIM, "ValueList")
_VALUE = _q(RIM, "Value")
_CLASSIFICATION = _q(RIM, "Classification")
_EXTERNAL_IDENTIFIER = _q(RIM, "ExternalIdentifier")
_NAME = _q(RIM, "Name")
_DESCRIPTION = _q(RIM, "Description")
_LOCALIZED_STRING = _q(RIM, "LocalizedString")
_VERSION_INFO = _q(RIM, "VersionInfo")


@dataclass(slots=True)
class _Parts:
    """The children of one registry object, read in a single pass over them (a server reads
    ~100 objects per ITI-41 request: one ``findall`` per attribute was most of its cost)."""

    slots: dict[str, tuple[str, ...]] = field(default_factory=dict)
    classifications: dict[str | None, list[etree._Element]] = field(default_factory=dict)
    nodes: set[str | None] = field(default_factory=set)
    external_ids: dict[str, str] = field(default_factory=dict)
    name: str | None = None  # first Name holding a LocalizedString
    description: str | None = None
    version: str | None = None  # first VersionInfo/@versionName

    def classified(self, scheme: str) -> list[etree._Element]:
        return self.classifications.get(scheme, [])


def _localized_value(holder: etree._Element) -> str | None:
    string = next(holder.iterchildren(_LOCALIZED_STRING), None)
    return None if string is None else string.get("value", "")


def _parts(element: etree._Element) -> _Parts:
    parts = _Parts()
    for child in element:
        tag = child.tag
        if tag == _SLOT:
            values = tuple(
                (value.text or "")
                for value_list in child.iterchildren(_VALUE_LIST)
                for value in value_list.iterchildren(_VALUE)
            )
            name = str(child.get("name"))
            parts.slots[name] = parts.slots.get(name, ()) + values
        elif tag == _CLASSIFICATION:
            parts.classifications.setdefault(child.get("classificationScheme"), []).append(child)
            parts.nodes.add(child.get("classificationNode"))
        elif tag == _EXTERNAL_IDENTIFIER:
            parts.external_ids[str(child.get("identificationScheme"))] = child.get("value", "")
        elif tag == _NAME:
            if parts.name is None:
                parts.name = _localized_value(child)
        elif tag == _DESCRIPTION:
            if parts.description is None:
                parts.description = _localized_value(child)
        elif tag == _VERSION_INFO and parts.version is None:
            parts.version = child.get("versionName", "")
    return parts


def _slots(element: etree._Element) -> dict[str, tuple[str, ...]]:
    return _parts(element).slots


def _code(classification: etree._Element) -> Code:
    scheme: str | None = None  # first value of the codingScheme slot(s)
    name: str | None = None
    for child in classification:
        tag = child.tag
        if tag == _SLOT:
            if scheme is None and child.get("name") == "codingScheme":
                scheme = next(
                    (
                        value.text or ""
                        for value_list in child.iterchildren(_VALUE_LIST)
                        for value in value_list.iterchildren(_VALUE)
                    ),
                    None,
                )
        elif tag == _NAME and name is None:
            name = _localized_value(child)
    return Code(classification.get("nodeRepresentation", ""), scheme or "", name or "")


def _author(classification: etree._Element) -> Author:
    slots = _slots(classification)
    return Author(
        person=next(iter(slots.get("authorPerson", ())), ""),
        institutions=slots.get("authorInstitution", ()),
        roles=slots.get("authorRole", ()),
        specialties=slots.get("authorSpecialty", ()),
        telecoms=slots.get("authorTelecommunication", ()),
    )


def _first(values: tuple[str, ...] | None) -> str:
    return values[0] if values else ""


def _extras(slots: dict[str, tuple[str, ...]], known: Iterable[str]) -> tuple[Slot, ...]:
    skip = set(known)
    return tuple(Slot(name, values) for name, values in slots.items() if name not in skip)


def _parse_document(element: etree._Element) -> DocumentEntry:
    parts = _parts(element)
    slots = parts.slots
    ids = parts.external_ids

    def single(scheme: str) -> Code | None:
        found = parts.classified(scheme)
        return _code(found[0]) if found else None

    def many(scheme: str) -> tuple[Code, ...]:
        return tuple(_code(c) for c in parts.classified(scheme))

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
        title=parts.name or "",
        comments=parts.description or "",
        authors=tuple(_author(c) for c in parts.classified(_DE_AUTHOR)),
        legal_authenticator=_first(slots.get("legalAuthenticator")),
        availability_status=element.get("status", ""),
        repository_unique_id=_first(slots.get("repositoryUniqueId")),
        logical_id=element.get("lid", ""),
        version=parts.version or "",
        object_type=element.get("objectType", ""),
        extra_slots=_extras(slots, _DE_SLOTS),
    )


def _is_submission_set(parts: _Parts) -> bool:
    if _SS_NODE in parts.nodes:
        return True
    if _FOLDER_NODE in parts.nodes:
        return False
    return _SS_UNIQUE_ID in parts.external_ids


def _parse_submission_set(element: etree._Element, parts: _Parts) -> SubmissionSet:
    slots = parts.slots
    ids = parts.external_ids
    content = parts.classified(_SS_CONTENT_TYPE)
    return SubmissionSet(
        entry_uuid=element.get("id", ""),
        unique_id=ids.get(_SS_UNIQUE_ID, ""),
        source_id=ids.get(_SS_SOURCE_ID, ""),
        patient_id=ids.get(_SS_PATIENT_ID, ""),
        submission_time=_first(slots.get("submissionTime")),
        content_type_code=_code(content[0]) if content else None,
        authors=tuple(_author(c) for c in parts.classified(_SS_AUTHOR)),
        intended_recipients=slots.get("intendedRecipient", ()),
        title=parts.name or "",
        comments=parts.description or "",
        availability_status=element.get("status", ""),
        extra_slots=_extras(slots, ("submissionTime", "intendedRecipient")),
    )


def _parse_folder(element: etree._Element, parts: _Parts) -> Folder:
    ids = parts.external_ids
    return Folder(
        entry_uuid=element.get("id", ""),
        unique_id=ids.get(_FOLDER_UNIQUE_ID, ""),
        patient_id=ids.get(_FOLDER_PATIENT_ID, ""),
        codes=tuple(_code(c) for c in parts.classified(_FOLDER_CODES)),
        last_update_time=_first(parts.slots.get("lastUpdateTime")),
        title=parts.name or "",
        comments=parts.description or "",
        availability_status=element.get("status", ""),
        extra_slots=_extras(parts.slots, ("lastUpdateTime",)),
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


_EXTRINSIC_OBJECT = _q(RIM, "ExtrinsicObject")
_REGISTRY_PACKAGE = _q(RIM, "RegistryPackage")
_ASSOCIATION = _q(RIM, "Association")
_OBJECT_REF = _q(RIM, "ObjectRef")


def _parse_object_list(objects: etree._Element | None) -> tuple[Submission, tuple[str, ...]]:
    sets: list[SubmissionSet] = []
    folders: list[Folder] = []
    documents: list[DocumentEntry] = []
    associations: list[Association] = []
    refs: list[str] = []
    for child in [] if objects is None else objects:
        tag = child.tag
        if tag == _EXTRINSIC_OBJECT:
            documents.append(_parse_document(child))
        elif tag == _REGISTRY_PACKAGE:
            parts = _parts(child)
            if _is_submission_set(parts):
                sets.append(_parse_submission_set(child, parts))
            else:
                folders.append(_parse_folder(child, parts))
        elif tag == _ASSOCIATION:
            associations.append(_parse_association(child))
        elif tag == _OBJECT_REF:
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
    return _element(_provide_and_register(request), "ProvideAndRegisterDocumentSetRequest")


def provide_and_register_xml(request: ProvideAndRegisterRequest) -> bytes:
    """The XML of :func:`build_provide_and_register` (UTF-8, no XML declaration), for a
    caller that only serialises it (e.g. into a SOAP envelope): no tree is built."""
    return "".join(_provide_and_register(request)).encode("utf-8")


def _provide_and_register(request: ProvideAndRegisterRequest) -> list[str]:
    out = [
        f"<xdsb:ProvideAndRegisterDocumentSetRequest{_NS_DECLARATIONS}><lcm:SubmitObjectsRequest>"
    ]
    _Writer(out).object_list(request.submission)
    out.append("</lcm:SubmitObjectsRequest>")
    for document in request.documents:
        out.append(f'<xdsb:Document id="{_attr(document.document_id)}">')
        if document.content_id is not None:
            href = _attr(f"cid:{document.content_id}")
            out.append(f'<xop:Include xmlns:xop="{XOP}" href="{href}"/>')
        elif document.data is not None:
            out.append(base64.b64encode(document.data).decode("ascii"))
        out.append("</xdsb:Document>")
    out.append("</xdsb:ProvideAndRegisterDocumentSetRequest>")
    return out


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
    composed = "true" if query.return_composed_objects else "false"
    out = [
        f"<query:AdhocQueryRequest{_NS_DECLARATIONS}>"
        f'<query:ResponseOption returnComposedObjects="{composed}" '
        f'returnType="{_attr(query.return_type)}"/>'
        f'<rim:AdhocQuery id="{_attr(query.query_id)}">'
    ]
    writer = _Writer(out)
    for slot in query.parameters:
        writer.slot(slot.name, slot.values)
    out.append("</rim:AdhocQuery></query:AdhocQueryRequest>")
    return _element(out, "AdhocQueryRequest")


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


def _write_errors(out: list[str], errors: Sequence[RegistryError]) -> None:
    if not errors:
        return
    out.append("<rs:RegistryErrorList>")
    for error in errors:
        location = f' location="{_attr(error.location)}"' if error.location else ""
        out.append(
            f'<rs:RegistryError codeContext="{_attr(error.code_context)}" '
            f'errorCode="{_attr(error.error_code)}" severity="{_attr(error.severity)}"{location}'
        )
        out.append(f">{_text(error.value)}</rs:RegistryError>" if error.value else "/>")
    out.append("</rs:RegistryErrorList>")


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
    out = [f'<rs:RegistryResponse{_NS_DECLARATIONS} status="{_attr(response.status)}">']
    _write_errors(out, response.errors)
    out.append("</rs:RegistryResponse>")
    return _element(out, "RegistryResponse")


def parse_registry_response(source: bytes | etree._Element) -> RegistryResponse:
    """Parse an ``rs:RegistryResponse`` (ITI-41 / ITI-57 answer)."""
    root = _body(source, "RegistryResponse")
    _expect(root, RS, "RegistryResponse", "RegistryResponse")
    return RegistryResponse(root.get("status", ""), _read_errors(root))


def build_adhoc_query_response(response: QueryResponse) -> etree._Element:
    """``query:AdhocQueryResponse`` (for test peers and mocks)."""
    out = [f'<query:AdhocQueryResponse{_NS_DECLARATIONS} status="{_attr(response.status)}">']
    _write_errors(out, response.errors)
    _Writer(out).object_list(response.objects, response.object_refs)
    out.append("</query:AdhocQueryResponse>")
    return _element(out, "AdhocQueryResponse")


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
