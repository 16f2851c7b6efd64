"""Tests of the XAdES signature document of a DMP submission (segur_ris.vihf build/verify)."""

from __future__ import annotations

import base64
import datetime as dt
import email
import email.policy
import hashlib
import subprocess
from email.message import Message
from pathlib import Path

import pytest
from lxml import etree

from segur_ris.errors import DmpError
from segur_ris.sandbox._pki_org import OrgPki, generate_org_pki
from segur_ris.vihf import build_xades, verify_xades
from segur_ris.vihf._xades import XADES_NS, c14n_subtree
from tests.conftest import ref_file, xmlsec1

DS = "http://www.w3.org/2000/09/xmldsig#"
SAMPLES = "dmp/dmp-lps-package/DMP_LPS_Exemple_de_messages_1.0.1_1_-_v02.05.00"
XSD = "dmp/dmp-lps-package/kit-csharp-v2.06.01-templates/XAdES.xsd"
NOW = dt.datetime.now(dt.UTC).replace(microsecond=123000)
SIGNING_TIME = NOW.strftime("%Y-%m-%dT%H:%M:%S.123Z")
CDA = (
    b'<?xml version="1.0" encoding="UTF-8"?>\n'
    b'<ClinicalDocument xmlns="urn:hl7-org:v3"><!-- CR-IMG -->\n'
    b'  <id root="1.2.250.1.999.1.1.7898.4.1"/><title>Scanner</title>\n'
    b"</ClinicalDocument>\n"
)
PDF = b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"
DOCS = {"1.2.250.1.999.1.1.7898.4.1": CDA, "1.2.250.1.999.1.1.7898.4.2": PDF}
SS_ID = "1.2.250.1.999.1.1.7898.3.1"


@pytest.fixture(scope="module")
def org(tmp_path_factory: pytest.TempPathFactory) -> OrgPki:
    return generate_org_pki(tmp_path_factory.mktemp("org"))


@pytest.fixture(scope="module")
def signature(org: OrgPki) -> bytes:
    return build_xades(DOCS, org.sign.credential, now=NOW, submission_set_id=SS_ID)


def _official_signature(ref_dir: Path) -> tuple[bytes, Message]:
    """The XAdES part of the official TD2.1 request (raw MIME multipart), and the message."""
    raw = ref_file(ref_dir, f"{SAMPLES}/TD2.1_-_Alimentation_requete.xml").read_bytes()
    boundary = raw.split(b"\n", 1)[0].strip()[2:]
    header = b'MIME-Version: 1.0\nContent-Type: multipart/related; boundary="' + boundary + b'"\n\n'
    message = email.message_from_bytes(header + raw, policy=email.policy.compat32)
    for part in message.get_payload():
        assert isinstance(part, Message)
        if "Signature" in (part.get("Content-ID") or ""):
            payload = part.get_payload(decode=True)
            assert isinstance(payload, bytes)
            return payload, message
    raise AssertionError("no signature part in the TD2.1 sample")


def test_build_and_verify_two_documents(org: OrgPki, signature: bytes) -> None:
    assert signature.startswith(b"<?xml version='1.0' encoding='UTF-8'?>")
    report = verify_xades(signature, DOCS, trusted_ca_pem=org.ca_cert.read_bytes())
    assert report.valid, report.errors
    assert report.signature_valid and report.errors == ()
    assert report.signing_time == SIGNING_TIME
    assert report.signer_subject == org.sign.credential.subject
    assert [(r.unique_id, r.digest_ok) for r in report.references] == [
        (SS_ID, None),  # the sample's "AA==" placeholder for the submission set
        ("1.2.250.1.999.1.1.7898.4.1", True),
        ("1.2.250.1.999.1.1.7898.4.2", True),
    ]
    assert report.failed == ()


def test_structure_algorithms_and_transforms(signature: bytes, org: OrgPki) -> None:
    root = etree.fromstring(signature)
    refs = root.findall(f"{{{DS}}}SignedInfo/{{{DS}}}Reference")
    assert [(r.get("URI"), r.get("Type")) for r in refs] == [
        ("#IHEManifest", f"{DS}Manifest"),
        ("#S0-SignedProperties", f"{XADES_NS}SignedProperties"),
    ]
    assert (
        root.find(f"{{{DS}}}SignedInfo/{{{DS}}}CanonicalizationMethod").get(  # type: ignore[union-attr]
            "Algorithm"
        )
        == "http://www.w3.org/TR/2001/REC-xml-c14n-20010315#WithComments"
    )
    manifest_refs = root.findall(f".//{{{DS}}}Manifest/{{{DS}}}Reference")
    transforms = [[t.get("Algorithm") for t in r.iter(f"{{{DS}}}Transform")] for r in manifest_refs]
    assert transforms == [
        [],
        ["http://www.w3.org/TR/2001/REC-xml-c14n-20010315#WithComments"],  # CDA (XML)
        [],  # PDF digested as raw bytes
    ]
    certs = root.findall(f".//{{{XADES_NS}}}SigningCertificate/{{{XADES_NS}}}Cert")
    assert len(certs) == 2  # signer + CA, as the sample lists the chain
    serial = certs[0].findtext(f".//{{{DS}}}X509SerialNumber")
    assert serial == str(org.sign.credential.certificate.serial_number)
    prop = root.find(f".//{{{DS}}}SignatureProperty")
    assert prop is not None and prop.get("Id") == "purposeOfSignature"
    assert prop.get("Target") == f"#{root.get('Id')}" and prop.text == "1.2.840.10065.1.12.1.14"


def test_tampered_document_is_reported(signature: bytes, org: OrgPki) -> None:
    changed = dict(DOCS)
    changed["1.2.250.1.999.1.1.7898.4.2"] = PDF.replace(b"1 0 obj", b"2 0 obj")
    report = verify_xades(signature, changed)
    assert not report.valid
    assert report.signature_valid  # the signature itself is fine
    assert report.failed == ("1.2.250.1.999.1.1.7898.4.2",)
    assert any("1.2.250.1.999.1.1.7898.4.2" in e for e in report.errors)
    # XML documents are compared canonically: a comment change is a change (WithComments)
    changed = dict(DOCS)
    changed["1.2.250.1.999.1.1.7898.4.1"] = CDA.replace(b"CR-IMG", b"CR-IMG v2")
    assert verify_xades(signature, changed).failed == ("1.2.250.1.999.1.1.7898.4.1",)
    # ...but not a mere re-serialisation
    equivalent = dict(DOCS)
    equivalent["1.2.250.1.999.1.1.7898.4.1"] = CDA.replace(b'"UTF-8"?>', b"'UTF-8'?>")
    assert verify_xades(signature, equivalent).valid


def test_tampered_signature_document(signature: bytes, org: OrgPki) -> None:
    forged = signature.replace(SIGNING_TIME.encode(), SIGNING_TIME.replace(".123", ".124").encode())
    report = verify_xades(forged, DOCS)
    assert not report.valid
    assert any("S0-SignedProperties" in e for e in report.errors)
    missing = verify_xades(signature, {**DOCS, "1.2.3.4": b"x"})
    assert not missing.valid and any("1.2.3.4" in e for e in missing.errors)
    untrusted = verify_xades(signature, DOCS, trusted_ca_pem=org.sign.cert.read_bytes())
    assert not untrusted.valid and untrusted.signature_valid
    with pytest.raises(DmpError):
        verify_xades(b"<a/>", DOCS)


def test_sha1_variant_like_the_sample(org: OrgPki) -> None:
    xml = build_xades(DOCS, org.sign.credential, digest="sha1")
    assert b"http://www.w3.org/2000/09/xmldsig#rsa-sha1" in xml
    assert verify_xades(xml, DOCS).valid


def test_xmlsec1_verifies_the_signed_info(signature: bytes, org: OrgPki, tmp_path: Path) -> None:
    """xmlsec1 checks SignatureValue and both SignedInfo references. It cannot dereference the
    manifest's ``urn:oid:`` URIs, hence ``--ignore-manifests``: verify_xades checks those."""
    target = tmp_path / "xades.xml"
    target.write_bytes(signature)
    base = [
        xmlsec1(),
        "--verify",
        "--id-attr:Id",
        "Manifest",
        "--id-attr:Id",
        f"{XADES_NS}:SignedProperties",
        "--trusted-pem",
        str(org.ca_cert),
    ]
    result = subprocess.run(
        [*base, "--ignore-manifests", str(target)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "SignedInfo References (ok/all): 2/2" in result.stdout + result.stderr
    # without --ignore-manifests xmlsec1 tries to open urn:oid:… and fails
    result = subprocess.run(
        [*base, str(target)], capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode != 0
    # a forged SignedProperties is caught by xmlsec1 too
    target.write_bytes(
        signature.replace(SIGNING_TIME.encode(), SIGNING_TIME.replace(".123", ".124").encode())
    )
    result = subprocess.run(
        [*base, "--ignore-manifests", str(target)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode != 0


def _shape(root: etree._Element) -> list[tuple[str, tuple[str, ...]]]:
    """(qualified tag, sorted attribute names) of every element, without repeated Refs/Certs."""
    shape: list[tuple[str, tuple[str, ...]]] = []
    for element in root.iter():
        if not isinstance(element.tag, str):
            continue
        item = (element.tag, tuple(sorted(str(name) for name in element.attrib)))
        if not shape or shape[-1] != item:
            shape.append(item)
    return shape


def test_same_structure_as_the_official_td21_signature(org: OrgPki, ref_dir: Path) -> None:
    official_bytes, _ = _official_signature(ref_dir)
    official = etree.fromstring(official_bytes)
    ours = etree.fromstring(
        build_xades({"1.2.3": CDA}, org.sign.credential, submission_set_id="1.2")
    )

    def normalise(shape: list[tuple[str, tuple[str, ...]]]) -> list[tuple[str, tuple[str, ...]]]:
        # the sample puts SignatureProperties in no namespace (xmlns=""): a glitch of its
        # generator; XML-DSig (and DRIMbox) use the ds namespace, so do we
        out = []
        for tag, attrs in shape:
            if tag in ("SignatureProperties", "SignatureProperty"):
                tag = f"{{{DS}}}{tag}"
            out.append((tag, attrs))
        # collapse the manifest's repeated Reference groups (1 SS + n documents)
        dedup: list[tuple[str, tuple[str, ...]]] = []
        for item in out:
            if item not in dedup or item[0].endswith(("Reference", "Transform")):
                dedup.append(item)
        return dedup

    ours_shape = {t for t, _ in normalise(_shape(ours))}
    official_shape = {t for t, _ in normalise(_shape(official))}
    assert ours_shape == official_shape
    # same namespaces for the XAdES part, same Ids and reference types/URIs in SignedInfo
    for root in (official, ours):
        qp = root.find(f".//{{{XADES_NS}}}QualifyingProperties")
        assert qp is not None and qp.get("Target") == f"#{root.get('Id')}"
        assert root.find(f".//{{{XADES_NS}}}SignedProperties").get("Id") == (  # type: ignore[union-attr]
            "S0-SignedProperties"
        )
        assert root.find(f".//{{{DS}}}Manifest").get("Id") == "IHEManifest"  # type: ignore[union-attr]
    assert [
        (r.get("URI"), r.get("Type"))
        for r in official.findall(f"{{{DS}}}SignedInfo/{{{DS}}}Reference")
    ] == [
        (r.get("URI"), r.get("Type")) for r in ours.findall(f"{{{DS}}}SignedInfo/{{{DS}}}Reference")
    ]


def test_official_sample_signature_checks_with_our_verifier(ref_dir: Path) -> None:
    """Our c14n reproduces the sample's SignedInfo and SignedProperties/Manifest digests and its
    RSA-SHA1 SignatureValue verifies. Its CDA digest does not match the CDA in the same request
    (the sample document was edited after signing): reported, not hidden."""
    official_bytes, message = _official_signature(ref_dir)
    document = None
    for part in message.get_payload():
        assert isinstance(part, Message)
        if "DocumentME2" in (part.get("Content-ID") or ""):
            document = part.get_payload(decode=True)
    assert isinstance(document, bytes)
    report = verify_xades(
        official_bytes, {"1.2.250.1.999.1.1.7898.4.9956570902": document}, check_dates=False
    )
    assert report.signature_valid
    assert not any("#IHEManifest" in e or "S0-SignedProperties" in e for e in report.errors)
    assert "SigningCertificate ne désigne pas le certificat signataire" not in report.errors
    assert [(r.unique_id, r.digest_ok) for r in report.references] == [
        ("1.2.250.1.999.1.1.7898.3.9956570900", None),
        ("1.2.250.1.999.1.1.7898.4.9956570902", False),
    ]
    assert report.signing_time == "2019-04-04T14:20:12.282+02:00"


def test_c14n_subtree_keeps_nested_default_namespaces() -> None:
    root = etree.fromstring(b'<a xmlns="urn:a"><b xmlns="urn:b"><c/></b></a>')
    assert c14n_subtree(root[0], exclusive=False, with_comments=False) == (
        b'<b xmlns="urn:b"><c></c></b>'
    )


def test_validates_against_the_kit_xades_xsd(signature: bytes, ref_dir: Path) -> None:
    """The kit's XAdES.xsd imports xmldsig-core from w3.org: resolve it from the local copy in
    the INSi reference folder (no network)."""
    xsd = ref_file(ref_dir, XSD)
    dsig = ref_file(ref_dir, "insi/padoa-tlsi-ins/src/wsdl/xsd/SAML/xmldsig-core-schema.xsd")

    class Local(etree.Resolver):
        def resolve(self, system_url, public_id, context):  # type: ignore[no-untyped-def,override]
            if system_url.endswith("xmldsig-core-schema.xsd"):
                return self.resolve_filename(str(dsig), context)  # type: ignore[attr-defined]
            return None

    parser = etree.XMLParser(no_network=True, load_dtd=False, resolve_entities=False)
    parser.resolvers.add(Local())
    try:
        schema = etree.XMLSchema(etree.parse(str(xsd), parser))
    except etree.XMLSchemaParseError as exc:  # pragma: no cover - depends on the data
        pytest.skip(f"XAdES.xsd does not load offline: {exc}")
    qp = etree.fromstring(signature).find(f".//{{{XADES_NS}}}QualifyingProperties")
    assert qp is not None
    standalone = etree.fromstring(etree.tostring(qp))
    schema.assertValid(standalone)


def test_an_unsigned_second_manifest_is_not_trusted(org: OrgPki) -> None:
    """The document digests are read from the Manifest the signature covers: a look-alike
    Manifest (no Id) placed before it, with a forged document's digest, changes nothing."""
    genuine, forged = b"%PDF-1.4 compte rendu", b"%PDF-1.4 compte rendu FALSIFIE"
    xml = build_xades({"1.2.3.4": genuine}, org.sign.credential)
    ca = org.ca_cert.read_bytes()
    assert verify_xades(xml, {"1.2.3.4": genuine}, trusted_ca_pem=ca).valid
    digest = base64.b64encode(hashlib.sha256(forged).digest()).decode()
    decoy = (
        '<Object><Manifest><Reference URI="urn:oid:1.2.3.4"><DigestMethod '
        'Algorithm="http://www.w3.org/2001/04/xmlenc#sha256"></DigestMethod>'
        f"<DigestValue>{digest}</DigestValue></Reference></Manifest></Object>"
    ).encode()
    tampered = xml.replace(b"</KeyInfo>", b"</KeyInfo>" + decoy, 1)
    report = verify_xades(tampered, {"1.2.3.4": forged}, trusted_ca_pem=ca)
    assert not report.valid
    assert report.failed == ("1.2.3.4",)
    assert any("plusieurs Manifest" in error for error in report.errors)


def test_a_reference_of_the_wrong_type_and_a_bad_signature_value_are_reported(
    org: OrgPki,
) -> None:
    xml = build_xades({"1.2.3.4": b"data"}, org.sign.credential)
    # the Manifest reference pointed at the SignedProperties
    swapped = xml.replace(b'URI="#IHEManifest"', b'URI="#S0-SignedProperties"', 1)
    assert swapped != xml
    report = verify_xades(swapped, {"1.2.3.4": b"data"})
    assert not report.valid and any("n'est pas du type" in e for e in report.errors)
    root = etree.fromstring(xml)
    value = root.find("{http://www.w3.org/2000/09/xmldsig#}SignatureValue")
    assert value is not None
    value.text = "@@pas du base64@@"
    report = verify_xades(etree.tostring(root), {"1.2.3.4": b"data"})  # reported, not raised
    assert not report.valid and not report.signature_valid
    assert "SignatureValue: base64 invalide" in report.errors
