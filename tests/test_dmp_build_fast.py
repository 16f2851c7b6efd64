"""The submission builders written as text (ebRIM, XAdES, SOAP envelope), the one-pass ebRIM
and CDA readers and the MTOM shortcuts: the same XML as lxml element by element, awkward values
escaped and read back unchanged, characters XML cannot hold refused with typed errors."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import subprocess
from pathlib import Path

import pytest
from lxml import etree

from segur_ris.cda import build_cda_n1, build_cda_n3, read_cda
from segur_ris.cda._read import _STEPS, NS, _all, _find, _read_cda
from segur_ris.dmp import build_envelope, parse_envelope
from segur_ris.errors import DmpError, MtomError, XdsError
from segur_ris.report import ImagingReport
from segur_ris.sandbox._pki_org import OrgPki, generate_org_pki
from segur_ris.vihf import (
    CodedValue,
    VihfContext,
    build_vihf,
    build_xades,
    parse_vihf,
    verify_xades,
)
from segur_ris.vihf._assertion import HL7_NS, SAML_NS, XSI_NS
from segur_ris.vihf._xades import XADES_NS
from segur_ris.xds import (
    ASSOCIATION_HAS_MEMBER,
    ASSOCIATION_RPLC,
    STATUS_APPROVED,
    Association,
    Author,
    Code,
    DocumentEntry,
    Folder,
    PnrDocument,
    ProvideAndRegisterRequest,
    QueryResponse,
    RetrievedDocument,
    RetrieveResponse,
    Slot,
    Submission,
    SubmissionSet,
    build_adhoc_query_response,
    build_provide_and_register,
    build_retrieve_response,
    build_submit_objects,
    parse_adhoc_query_response,
    parse_provide_and_register,
    parse_submit_objects,
)
from segur_ris.xds._ebrim import provide_and_register_xml
from segur_ris.xds._mtom import MtomPart, decode_mtom, decode_response, encode_mtom
from tests.conftest import REPO_ROOT, xmlsec1

RIM = "urn:oasis:names:tc:ebxml-regrep:xsd:rim:3.0"
LCM = "urn:oasis:names:tc:ebxml-regrep:xsd:lcm:3.0"
DS = "http://www.w3.org/2000/09/xmldsig#"
PNR = "urn:ihe:iti:2007:ProvideAndRegisterDocumentSet-b"
PATIENT = "279035121518989^^^&1.2.250.1.213.1.4.10&ISO^NH"
#: every character class the writers must escape or keep: markup, quotes, TAB/LF/CR, non-BMP
AWKWARD = "a<b>&c \"q\" 'apos'\ttab\nline\r\ncrlf é \U0001f600 ]]> &amp;"
BAD_CHARACTERS = ("\x00", "\x01", "\x1f", "\ud800", "\ufffe", "\uffff")


def _awkward_submission() -> Submission:
    entry = DocumentEntry(
        entry_uuid="Document01",
        unique_id="1.2.3&4",
        patient_id=PATIENT,
        class_code=Code("10", "1.2.250.1.213.1.1.4.1", AWKWARD),
        type_code=Code("18748-4", "2.16.840.1.113883.6.1", "CR d'imagerie"),
        format_code=Code("urn:ihe:iti:xds-sd:pdf:2008", "1.3.6.1.4.1.19376.1.2.3"),
        confidentiality_codes=(Code("N", "2.16.840.1.113883.5.25", "Normal"),),
        event_codes=(Code("CT", "1.2.840.10008.2.16.4", "<CT>"),),
        reference_ids=("ACC&1^^^&1.2.3&ISO^urn:ihe:iti:xds:2013:accession",),
        source_patient_id=PATIENT,
        source_patient_info=("PID-5|O'NEIL^JOSÉ^^^^^L", "PID-8|F"),
        language_code="fr-FR",
        creation_time="20261124093000",
        hash="da39a3ee5e6b4b0d3255bfef95601890afd80709",
        size=0,
        title=AWKWARD,
        comments="ligne 1\nligne 2\r\n\tfin",
        authors=(Author("8&1^A<B^C", ('I"1',), ("r",), ("s\tt",), ("u\nv",)), Author()),
        legal_authenticator="8&1^A<B^C",
        availability_status=STATUS_APPROVED,
        repository_unique_id="1.2.3",
        logical_id="urn:uuid:l&1",
        version="2",
        extra_slots=(Slot('x<y"z', ("1&2", AWKWARD)),),
    )
    ss = SubmissionSet(
        entry_uuid="SubmissionSet01",
        unique_id="2.25.1",
        source_id="2.25.2",
        patient_id=PATIENT,
        submission_time="20261124093500",
        content_type_code=Code("04", "1.2.250.1.213.2.2", "Hospitalisation de jour"),
        authors=entry.authors[:1],
        intended_recipients=("r1|x&y",),
        title=AWKWARD,
        comments="c",
        extra_slots=(Slot("k", ("v",)),),
    )
    folder = Folder("Folder01", "2.25.9", PATIENT, (Code("c", "s", "d<"),), "20240101", "T")
    associations = (
        Association("a1", ASSOCIATION_HAS_MEMBER, "SubmissionSet01", "Document01", "Original"),
        Association("a2", ASSOCIATION_RPLC, "Document01", "urn:uuid:x&y"),  # no slot at all
        Association(
            "a3", "urn:x", "s", "t", previous_version="1", extra_slots=(Slot("z", ("1",)),)
        ),
    )
    return Submission((ss,), (entry,), (folder,), associations)


def _request() -> ProvideAndRegisterRequest:
    return ProvideAndRegisterRequest(
        _awkward_submission(),
        (PnrDocument("Document01", content_id="doc&1@x"), PnrDocument("Folder01", data=b"\x00x")),
    )


# --- ebRIM writer -----------------------------------------------------------------------------


def test_ebrim_text_reads_back_unchanged() -> None:
    request = _request()
    element = build_provide_and_register(request)
    assert parse_provide_and_register(element) == request
    assert parse_provide_and_register(etree.tostring(element)) == request
    submission = request.submission
    assert parse_submit_objects(build_submit_objects(submission)) == submission
    response = QueryResponse(objects=submission, object_refs=("ref&1",))
    assert parse_adhoc_query_response(build_adhoc_query_response(response)) == response
    empty = QueryResponse()
    assert parse_adhoc_query_response(build_adhoc_query_response(empty)) == empty


def test_ebrim_text_is_what_lxml_writes() -> None:
    """The text path gives the bytes lxml serialises (empty elements self-closed), and the
    parsed element the same as a tree built element by element."""
    request = _request()
    text = provide_and_register_xml(request)
    assert text == etree.tostring(build_provide_and_register(request), encoding="UTF-8")
    assert not text.startswith(b"<?xml")
    assert b'<rim:Association id="a2" ' in text and b'targetObject="urn:uuid:x&amp;y"/>' in text
    assert b"<rim:RegistryObjectList/>" in etree.tostring(
        build_adhoc_query_response(QueryResponse())
    )
    root = etree.fromstring(text)
    title = root.find(f".//{{{RIM}}}ExtrinsicObject/{{{RIM}}}Name/{{{RIM}}}LocalizedString")
    assert title is not None and title.get("value") == AWKWARD  # TAB/LF/CR kept in attributes
    assert b"&#9;tab&#10;line&#13;&#10;crlf" in text


@pytest.mark.parametrize("bad", BAD_CHARACTERS)
def test_ebrim_refuses_characters_xml_cannot_hold(bad: str) -> None:
    submission = _awkward_submission()
    entry = dataclasses.replace(submission.documents[0], title=f"titre {bad}")
    broken = dataclasses.replace(submission, documents=(entry,))
    for build in (
        lambda: build_submit_objects(broken),
        lambda: provide_and_register_xml(ProvideAndRegisterRequest(broken)),
        lambda: build_provide_and_register(ProvideAndRegisterRequest(broken)),
    ):
        with pytest.raises(XdsError) as caught:
            build()
        assert caught.value.code == "format"


# --- ebRIM reader -----------------------------------------------------------------------------


def test_ebrim_reader_one_pass_keeps_find_semantics() -> None:
    """First Name holding a LocalizedString, slots of one name merged in order, the last
    ExternalIdentifier of a scheme, the first VersionInfo, comments ignored."""
    xml = f"""<lcm:SubmitObjectsRequest xmlns:lcm="{LCM}" xmlns:rim="{RIM}">
    <rim:RegistryObjectList><!-- c -->
    <rim:ExtrinsicObject id="D" mimeType="text/xml"><!-- c -->
      <rim:Slot name="a"><rim:ValueList><rim:Value>1</rim:Value><rim:Value/></rim:ValueList>
        <rim:ValueList><rim:Value>2</rim:Value></rim:ValueList></rim:Slot>
      <rim:Slot name="a"><rim:ValueList><rim:Value>3</rim:Value></rim:ValueList></rim:Slot>
      <rim:Name/><rim:Name><rim:LocalizedString value="titre"/></rim:Name>
      <rim:Name><rim:LocalizedString value="autre"/></rim:Name>
      <rim:VersionInfo versionName="4"/><rim:VersionInfo versionName="5"/>
      <rim:Classification classificationScheme="urn:uuid:41a5887f-8865-4c09-adf7-e362475b143a"
        nodeRepresentation="10"><rim:Slot name="other"><rim:ValueList><rim:Value>o</rim:Value>
        </rim:ValueList></rim:Slot><rim:Slot name="codingScheme"><rim:ValueList/></rim:Slot>
        <rim:Slot name="codingScheme"><rim:ValueList><rim:Value>s1</rim:Value><rim:Value>s2
        </rim:Value></rim:ValueList></rim:Slot><rim:Name><rim:LocalizedString value="CR"/>
        </rim:Name></rim:Classification>
      <rim:ExternalIdentifier identificationScheme="urn:uuid:2e82c1f6-a085-4c72-9da3-8640a32e42ab"
        value="u1"/>
      <rim:ExternalIdentifier identificationScheme="urn:uuid:2e82c1f6-a085-4c72-9da3-8640a32e42ab"
        value="u2"/>
    </rim:ExtrinsicObject>
    <rim:RegistryPackage id="P1"><rim:ExternalIdentifier value="ss"
      identificationScheme="urn:uuid:96fdda7c-d067-4183-912e-bf5ee74998a8"/></rim:RegistryPackage>
    <rim:RegistryPackage id="P2"><rim:ExternalIdentifier value="ss"
      identificationScheme="urn:uuid:96fdda7c-d067-4183-912e-bf5ee74998a8"/><rim:Classification
      classificationNode="urn:uuid:d9d542f3-6cc4-48b6-8870-ea235fbc94c2"/></rim:RegistryPackage>
    </rim:RegistryObjectList></lcm:SubmitObjectsRequest>""".encode()
    submission = parse_submit_objects(xml)
    (entry,) = submission.documents
    assert entry.title == "titre" and entry.version == "4" and entry.unique_id == "u2"
    assert entry.extra_slots == (Slot("a", ("1", "", "2", "3")),)
    assert entry.class_code == Code("10", "s1", "CR")
    assert [s.entry_uuid for s in submission.submission_sets] == ["P1"]
    assert [f.entry_uuid for f in submission.folders] == ["P2"]  # the folder node wins


# --- XAdES written in canonical form ----------------------------------------------------------


@pytest.fixture(scope="module")
def org(tmp_path_factory: pytest.TempPathFactory) -> OrgPki:
    return generate_org_pki(tmp_path_factory.mktemp("org"))


def _cda() -> bytes:
    data = json.loads((REPO_ROOT / "examples" / "report.json").read_text("utf-8"))
    return build_cda_n3(ImagingReport.from_dict(data))


def test_xades_document_is_its_own_canonical_form(org: OrgPki) -> None:
    documents = {"1.2.3": _cda(), "1.2.4": b"%PDF-1.7 raw"}
    xml = build_xades(documents, org.sign.credential, submission_set_id="1.2.5")
    head = b"<?xml version='1.0' encoding='UTF-8'?>\n"
    assert xml.startswith(head)
    canonical = etree.tostring(etree.fromstring(xml).getroottree(), method="c14n")
    assert canonical == xml[len(head) :]
    assert verify_xades(xml, documents, trusted_ca_pem=org.ca_cert.read_bytes()).valid


def test_xades_awkward_identifiers_are_escaped(org: OrgPki, tmp_path: Path) -> None:
    documents = {f"1.2.3&<>\"'{AWKWARD}": _cda(), "1.2.4\t\r\n": b"%PDF raw"}
    xml = build_xades(
        documents,
        org.sign.credential,
        signature_id=f"id {AWKWARD}",
        submission_set_id="2.25.1&<>",
        digest="sha1",
    )
    report = verify_xades(xml, documents, trusted_ca_pem=org.ca_cert.read_bytes())
    assert report.valid, report.errors
    assert [r.unique_id for r in report.references] == ["2.25.1&<>", *documents]
    root = etree.fromstring(xml)
    assert root.get("Id") == f"id {AWKWARD}"
    prop = root.find(f".//{{{DS}}}SignatureProperty")
    assert prop is not None and prop.get("Target") == f"#id {AWKWARD}"
    target = tmp_path / "xades.xml"
    target.write_bytes(xml)
    result = subprocess.run(
        [
            xmlsec1(),
            "--verify",
            "--id-attr:Id",
            "Manifest",
            "--id-attr:Id",
            f"{XADES_NS}:SignedProperties",
            "--trusted-pem",
            str(org.ca_cert),
            "--ignore-manifests",
            str(target),
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr


@pytest.mark.parametrize("bad", BAD_CHARACTERS)
def test_xades_refuses_characters_xml_cannot_hold(org: OrgPki, bad: str) -> None:
    for kwargs in ({"signature_id": f"s{bad}"}, {"submission_set_id": f"1.2{bad}"}):
        with pytest.raises(DmpError) as caught:
            build_xades({"1.2": b"x"}, org.sign.credential, **kwargs)  # type: ignore[arg-type]
        assert caught.value.code == "xades_format"
    with pytest.raises(DmpError):
        build_xades({f"1.2{bad}": b"x"}, org.sign.credential)


def test_xades_reserved_signature_ids(org: OrgPki) -> None:
    for reserved in ("IHEManifest", "S0-SignedProperties"):
        with pytest.raises(DmpError, match="réservé"):
            build_xades({"1.2": b"x"}, org.sign.credential, signature_id=reserved)


# --- SOAP envelope ----------------------------------------------------------------------------


def _lxml_envelope(body: etree._Element, action: str, security: etree._Element, mid: str) -> bytes:
    """The envelope built element by element (the reference the text writer must match)."""
    soap, wsa = "http://www.w3.org/2003/05/soap-envelope", "http://www.w3.org/2005/08/addressing"
    wsse = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd"
    envelope = etree.Element(f"{{{soap}}}Envelope", nsmap={"soap": soap})
    header = etree.SubElement(envelope, f"{{{soap}}}Header")
    etree.SubElement(header, f"{{{wsa}}}MessageID", nsmap={None: wsa}).text = mid  # type: ignore[dict-item]
    etree.SubElement(header, f"{{{wsa}}}To", nsmap={None: wsa})  # type: ignore[dict-item]
    reply = etree.SubElement(header, f"{{{wsa}}}ReplyTo", nsmap={None: wsa})  # type: ignore[dict-item]
    reply.set(f"{{{soap}}}mustUnderstand", "true")
    etree.SubElement(reply, f"{{{wsa}}}Address").text = f"{wsa}/anonymous"
    action_el = etree.SubElement(header, f"{{{wsa}}}Action", nsmap={None: wsa})  # type: ignore[dict-item]
    action_el.set(f"{{{soap}}}mustUnderstand", "true")
    action_el.text = action
    etree.SubElement(header, f"{{{wsse}}}Security", nsmap={"wsse": wsse}).append(
        etree.fromstring(etree.tostring(security))
    )
    etree.SubElement(envelope, f"{{{soap}}}Body").append(etree.fromstring(etree.tostring(body)))
    return etree.tostring(envelope, xml_declaration=True, encoding="UTF-8")


def test_envelope_text_is_what_lxml_writes_and_leaves_the_body_in_place() -> None:
    request = _request()
    body = build_provide_and_register(request)
    holder = etree.Element("holder")
    holder.append(body)
    token = etree.fromstring(
        b'<saml2:Assertion xmlns:saml2="urn:x" ID="_1">\xc3\xa9</saml2:Assertion>'
    )
    mid = "urn:uuid:1&<2>\r"
    data, message_id = build_envelope(body, PNR, security=token, message_id=mid)
    assert message_id == mid
    assert data == _lxml_envelope(body, PNR, token, mid)
    assert body.getparent() is holder  # not moved into the envelope
    same, _ = build_envelope(provide_and_register_xml(request), PNR, security=token, message_id=mid)
    assert same == data
    message = parse_envelope(etree.fromstring(data))  # an already parsed answer is accepted
    assert message.message_id == "urn:uuid:1&<2>"  # stripped, as read from bytes
    assert parse_envelope(data).body.tag == body.tag
    with pytest.raises(DmpError):
        build_envelope(body, PNR, message_id="urn:uuid:\x01")


# --- MTOM -------------------------------------------------------------------------------------


def test_encode_mtom_with_known_includes_skips_the_parse_not_the_check() -> None:
    envelope, _ = build_envelope(build_provide_and_register(_request()), PNR, message_id="m")
    parts = [MtomPart("doc&1@x", "text/xml", b"<a/>")]
    expected = encode_mtom(envelope, parts, action=PNR, boundary="b_1", start="root@x")
    known = encode_mtom(
        envelope, parts, action=PNR, boundary="b_1", start="root@x", includes=["cid:doc&1@x"]
    )
    assert known == expected
    with pytest.raises(MtomError) as caught:
        encode_mtom(envelope, parts, action=PNR, includes=["cid:missing@x"])
    assert caught.value.code == "include"


def test_root_element_is_the_decoders_tree() -> None:
    envelope, _ = build_envelope(build_provide_and_register(_request()), PNR, message_id="m")
    body, content_type = encode_mtom(envelope, [MtomPart("doc&1@x", "text/xml", b"x")], action=PNR)
    message = decode_mtom(body, content_type)
    tree = message.root_element()
    assert tree is message.root_element()  # parsed once, by the decoder
    assert etree.tostring(tree) == etree.tostring(etree.fromstring(envelope))
    changed = dataclasses.replace(message, root=envelope.replace(b">m<", b">n<"))
    assert changed.root != message.root
    fresh = changed.root_element()  # another root: parsed afresh
    assert fresh is not tree and b">n<" in etree.tostring(fresh)
    answer = RetrieveResponse(documents=(RetrievedDocument("1", "2", "text/xml", b"abc"),))
    soap, _ = build_envelope(build_retrieve_response(answer), "urn:x", message_id="m")
    inline = decode_response(soap, "application/soap+xml")  # base64 moved into a part
    assert etree.tostring(inline.root_element()) == etree.tostring(etree.fromstring(inline.root))
    assert inline.root_element() is inline.root_element()


# --- CDA reader -------------------------------------------------------------------------------


def _cdas() -> list[bytes]:
    data = json.loads((REPO_ROOT / "examples" / "report.json").read_text("utf-8"))
    report = ImagingReport.from_dict(data)
    found = [build_cda_n1(report, b"%PDF-1.4 minimal"), build_cda_n3(report)]
    examples = REPO_ROOT.parent / "shared/ref/cda/ansforge-TestContenuCDA-3-0/ExemplesCDA"
    found += [path.read_bytes() for path in sorted(examples.glob("*.xml"))]
    return found


def test_cda_child_paths_match_lxml_find() -> None:
    for data in _cdas():
        _read_cda(data)  # fills the table of compiled paths
    paths = [path for path, tags in list(_STEPS.items()) if tags is not None]
    assert "h:recordTarget/h:patientRole" in paths and "ps3-20:accessionNumber" in paths
    for data in _cdas():
        elements = list(etree.fromstring(data).iter(etree.Element))
        for path in paths:
            for element in elements:
                assert _find(element, path) is element.find(path, NS), path
                assert _all(element, path) == element.findall(path, NS), path


def test_cda_header_only_reads_the_same_header() -> None:
    for data in _cdas():
        full = read_cda(data)
        header = _read_cda(etree.fromstring(data), header_only=True)
        assert header.pdf is None and header.sections == ()
        assert dataclasses.replace(full, pdf=None, sections=()) == header


def test_signing_time_is_written_in_utc_milliseconds(org: OrgPki) -> None:
    moment = dt.datetime(2026, 1, 2, 3, 4, 5, 678901, tzinfo=dt.UTC)
    xml = build_xades({"1.2": b"x"}, org.sign.credential, now=moment)
    assert b"<SigningTime>2026-01-02T03:04:05.678Z</SigningTime>" in xml


# --- VIHF assertion ---------------------------------------------------------------------------


def _vihf_context(**changes: object) -> VihfContext:
    values: dict[str, object] = {
        "structure_id": "10B0123456",
        "secteur_activite": "SA07^1.2.250.1.71.4.2.4",
        "subject_id": "899900063480",
        "subject_name": AWKWARD,
        "lps_name": "segur-ris <test>",
        "lps_version": "1.0 & co",
        "lps_homologation": "",
        "issuer": 'CN=a\\"b,O=c&d',
        "lps_id": "",
        "roles": (CodedValue("AUTOMATE", "1.2.250.1.213.1.1.4.6", "Automate & co", 'n"m'),),
        "authn_context_decl": "decl<1>",
        "validity": dt.timedelta(minutes=5),
    }
    values.update(changes)
    return VihfContext(**values)  # type: ignore[arg-type]


def test_vihf_text_reads_back_unchanged() -> None:
    context = _vihf_context()
    moment = dt.datetime(2026, 1, 2, 3, 4, 5, 678000, tzinfo=dt.UTC)
    assertion = build_vihf(context, resource_id=PATIENT, now=moment, assertion_id="_a&1")
    token = parse_vihf(etree.tostring(assertion))
    assert token.assertion_id == "_a&1" and token.issuer == context.issuer
    assert token.subject_name == AWKWARD.strip()  # read values are stripped
    assert (token.lps_name, token.lps_version) == (context.lps_name, context.lps_version)
    assert token.roles == context.roles and token.resource_id == PATIENT
    conditions = assertion.find(f"{{{SAML_NS}}}Conditions")
    assert conditions is not None and conditions.get("NotOnOrAfter") == "2026-01-02T03:09:05.678Z"
    assert assertion.findtext(f".//{{{SAML_NS}}}AuthnContextDecl") == "decl<1>"
    roles = assertion.findall(f".//{{{HL7_NS}}}Role")
    assert [r.get(f"{{{XSI_NS}}}type") for r in roles] == ["CE"]


@pytest.mark.parametrize("bad", BAD_CHARACTERS)
def test_vihf_refuses_characters_xml_cannot_hold(bad: str) -> None:
    with pytest.raises(DmpError) as caught:
        build_vihf(_vihf_context(subject_name=f"x{bad}"), resource_id=PATIENT)
    assert caught.value.code == "vihf_format"
