"""The VIHF verifier (segur_ris.vihf.verify_vihf, lxml exc-c14n + cryptography) against
signxml and xmlsec1: same verdict on our signatures and on signatures made by them, refusal of
tampering, signature wrapping and anything outside the VIHF profile."""

from __future__ import annotations

import base64
import copy
import dataclasses
import datetime as dt
import subprocess
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from lxml import etree
from signxml.algorithms import CanonicalizationMethod, DigestAlgorithm, SignatureMethod
from signxml.signer import XMLSigner
from signxml.verifier import SignatureConfiguration, XMLVerifier

from segur_ris.errors import CertificateError, DmpError
from segur_ris.sandbox._pki_org import OrgPki, generate_org_pki
from segur_ris.vihf import VihfContext, VihfMode, build_vihf, parse_vihf, sign_vihf, verify_vihf
from tests.conftest import xmlsec1, xmlsec1_verify_vihf

SAML = "urn:oasis:names:tc:SAML:2.0:assertion"
DS = "http://www.w3.org/2000/09/xmldsig#"
EXC = "http://www.w3.org/2001/10/xml-exc-c14n#"
SOAP = "http://www.w3.org/2003/05/soap-envelope"
WSSE = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd"
INS = "207058575627097^^^&1.2.250.1.213.1.4.10&ISO^NH"
OTHER_INS = "255069999999934^^^&1.2.250.1.213.1.4.10&ISO^NH"
RSA_SHA1 = "http://www.w3.org/2000/09/xmldsig#rsa-sha1"


@pytest.fixture(scope="module")
def org(tmp_path_factory: pytest.TempPathFactory) -> OrgPki:
    return generate_org_pki(tmp_path_factory.mktemp("org"), structure_id="10B0123456")


@pytest.fixture(scope="module")
def ca(org: OrgPki) -> bytes:
    return org.ca_cert.read_bytes()


def _context(org: OrgPki, mode: VihfMode = "INDIRECTE") -> VihfContext:
    return VihfContext(
        structure_id=org.structure_id,
        structure_name=org.structure_name,
        secteur_activite="SA07^1.2.250.1.71.4.2.4",
        subject_id="899900063480",
        subject_name="AUTOMATE",
        lps_name="SEGUR-RIS",
        lps_version="1.0",
        lps_homologation="EVO-20260001-tmp1",
        lps_id="01.02.03.04",
        mode=mode,
    )


def _unsigned(org: OrgPki, mode: VihfMode = "INDIRECTE") -> etree._Element:
    unsigned = build_vihf(_context(org, mode), resource_id=INS)
    issuer = unsigned.find(f"{{{SAML}}}Issuer")
    assert issuer is not None
    issuer.text = org.sign.credential.subject
    return unsigned


def _signed(org: OrgPki, mode: VihfMode = "INDIRECTE") -> etree._Element:
    return sign_vihf(build_vihf(_context(org, mode), resource_id=INS), org.sign.credential)


class _Signer(XMLSigner):
    """signxml's signer, SHA-1 included (to check that we refuse it unless allowed)."""

    def check_deprecated_methods(self) -> None:
        return None


def _signxml_signed(
    org: OrgPki,
    unsigned: etree._Element,
    *,
    method: SignatureMethod = SignatureMethod.RSA_SHA256,
    digest: DigestAlgorithm = DigestAlgorithm.SHA256,
    tail: str | None = None,
) -> etree._Element:
    """``unsigned`` signed by signxml (enveloped, exc-c14n), the signature after Issuer
    (followed by ``tail``)."""
    document = copy.deepcopy(unsigned)
    issuer = document.find(f"{{{SAML}}}Issuer")
    assert issuer is not None
    placeholder = etree.Element(f"{{{DS}}}Signature", Id="placeholder", nsmap={"ds": DS})
    placeholder.tail = tail
    issuer.addnext(placeholder)
    signer = _Signer(
        signature_algorithm=method,
        digest_algorithm=digest,
        c14n_algorithm=CanonicalizationMethod.EXCLUSIVE_XML_CANONICALIZATION_1_0,
    )
    key = org.sign.credential.private_key
    cert = org.sign.credential.certificate.public_bytes(serialization.Encoding.PEM)
    return signer.sign(
        document,
        key=key,
        cert=cert.decode(),
        reference_uri=f"#{document.get('ID')}",
        id_attribute="ID",
    )


def _signxml_accepts(root: etree._Element, org: OrgPki, *, sha1: bool = False) -> bool:
    methods = {SignatureMethod.RSA_SHA256, SignatureMethod.RSA_SHA384, SignatureMethod.RSA_SHA512}
    digests = {DigestAlgorithm.SHA256, DigestAlgorithm.SHA384, DigestAlgorithm.SHA512}
    if sha1:
        methods.add(SignatureMethod.RSA_SHA1)
        digests.add(DigestAlgorithm.SHA1)
    config = SignatureConfiguration(
        expect_references=1,
        signature_methods=frozenset(methods),
        digest_algorithms=frozenset(digests),
    )
    try:
        XMLVerifier().verify(
            etree.fromstring(etree.tostring(root)),
            x509_cert=org.sign.credential.certificate,
            id_attribute="ID",
            expect_config=config,
        )
    except Exception:  # any refusal (signxml raises several unrelated types)
        return False
    return True


def _xmlsec1_accepts(tmp_path: Path, xml: bytes, ca: Path) -> bool:
    return xmlsec1_verify_vihf(tmp_path, xml, ca).returncode == 0


def _in_envelope(assertion: etree._Element, extra_ns: str = "") -> etree._Element:
    """``assertion`` inside a SOAP envelope (``extra_ns``: declarations on the envelope); the
    returned element is the embedded assertion."""
    xml = etree.tostring(assertion).decode()
    envelope = etree.fromstring(
        f'<soap:Envelope xmlns:soap="{SOAP}" xmlns="urn:autre" {extra_ns}><soap:Header>'
        f'<wsse:Security xmlns:wsse="{WSSE}">{xml}</wsse:Security></soap:Header>'
        "<soap:Body/></soap:Envelope>"
    )
    found = envelope.find(f".//{{{SAML}}}Assertion")
    assert found is not None
    return found


def _refused(root: etree._Element | bytes, ca: bytes, **kwargs: object) -> str:
    with pytest.raises(DmpError) as info:
        verify_vihf(root, ca, **kwargs)  # type: ignore[arg-type]
    return str(info.value.code)


def _signed_info(root: etree._Element) -> etree._Element:
    found = root.find(f"{{{DS}}}Signature/{{{DS}}}SignedInfo")
    assert found is not None
    return found


def _resign(root: etree._Element, org: OrgPki) -> None:
    """Recompute SignatureValue over the (edited) SignedInfo with the signer's key, so that
    only the edit decides the verdict."""
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import padding, rsa

    key = org.sign.credential.private_key
    assert isinstance(key, rsa.RSAPrivateKey)
    info = etree.fromstring(etree.tostring(_signed_info(root)))
    value = key.sign(
        etree.tostring(info, method="c14n", exclusive=True), padding.PKCS1v15(), hashes.SHA256()
    )
    node = root.find(f"{{{DS}}}Signature/{{{DS}}}SignatureValue")
    assert node is not None
    node.text = base64.b64encode(value).decode()


# --- same verdict as signxml and xmlsec1 ----------------------------------------------------


@pytest.mark.parametrize("mode", ["INDIRECTE", "INDIRECTE_RENFORCEE"])
def test_our_signatures_accepted_by_all_three(
    org: OrgPki, ca: bytes, tmp_path: Path, mode: VihfMode
) -> None:
    signed = _signed(org, mode)
    xml = etree.tostring(signed)
    for given in (xml, signed, _in_envelope(signed, 'xmlns:foo="urn:foo"')):
        verified = verify_vihf(given, ca)
        assert verified.token.signed and verified.token.mode == mode
        assert verified.token.resource_id == INS
        assert verified.digest_method.endswith("#sha256")
    assert _signxml_accepts(signed, org)
    assert _xmlsec1_accepts(tmp_path, xml, org.ca_cert)


@pytest.mark.parametrize(
    ("method", "digest"),
    [
        (SignatureMethod.RSA_SHA256, DigestAlgorithm.SHA256),
        (SignatureMethod.RSA_SHA384, DigestAlgorithm.SHA384),
        (SignatureMethod.RSA_SHA512, DigestAlgorithm.SHA512),
        (SignatureMethod.RSA_SHA256, DigestAlgorithm.SHA512),
    ],
)
def test_signxml_signatures_accepted(
    org: OrgPki, ca: bytes, tmp_path: Path, method: SignatureMethod, digest: DigestAlgorithm
) -> None:
    signed = _signxml_signed(org, _unsigned(org), method=method, digest=digest)
    verified = verify_vihf(etree.tostring(signed), ca)
    assert verified.signature_method == method.value
    assert verified.digest_method == digest.value
    assert _xmlsec1_accepts(tmp_path, etree.tostring(signed), org.ca_cert)


def _xmlsec1_signed(
    org: OrgPki,
    unsigned: etree._Element,
    tmp_path: Path,
    *,
    c14n_prefixes: str = "",
    transform_prefixes: str = "",
) -> bytes:
    """``unsigned`` signed by xmlsec1 from a template in the official samples' layout
    (``<Signature xmlns="…xmldsig#">`` right after Issuer), RSA-SHA512 over SHA-512, with
    the InclusiveNamespaces PrefixLists given."""

    def inclusive(prefixes: str) -> str:
        if not prefixes:
            return ""
        return f'<ec:InclusiveNamespaces xmlns:ec="{EXC}" PrefixList="{prefixes}"/>'

    template = etree.fromstring(
        f'<Signature xmlns="{DS}"><SignedInfo>'
        f'<CanonicalizationMethod Algorithm="{EXC}">{inclusive(c14n_prefixes)}'
        "</CanonicalizationMethod>"
        '<SignatureMethod Algorithm="http://www.w3.org/2001/04/xmldsig-more#rsa-sha512"/>'
        f'<Reference URI="#{unsigned.get("ID")}"><Transforms>'
        f'<Transform Algorithm="{DS}enveloped-signature"/>'
        f'<Transform Algorithm="{EXC}">{inclusive(transform_prefixes)}</Transform></Transforms>'
        '<DigestMethod Algorithm="http://www.w3.org/2001/04/xmlenc#sha512"/>'
        "<DigestValue/></Reference></SignedInfo><SignatureValue/>"
        "<KeyInfo><X509Data/></KeyInfo></Signature>"
    )
    document = copy.deepcopy(unsigned)
    issuer = document.find(f"{{{SAML}}}Issuer")
    assert issuer is not None
    issuer.addnext(template)
    source = tmp_path / "template.xml"
    source.write_bytes(etree.tostring(document))
    result = subprocess.run(
        [
            xmlsec1(),
            "--sign",
            "--privkey-pem",
            f"{org.sign.key},{org.sign.cert}",
            "--id-attr:ID",
            f"{SAML}:Assertion",
            "--output",
            str(tmp_path / "signed.xml"),
            str(source),
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    return (tmp_path / "signed.xml").read_bytes()


@pytest.mark.parametrize(
    ("c14n_prefixes", "transform_prefixes"), [("", ""), ("", "xsi saml2"), ("xsi", "xsi")]
)
def test_xmlsec1_signatures_accepted(
    org: OrgPki, ca: bytes, tmp_path: Path, c14n_prefixes: str, transform_prefixes: str
) -> None:
    signed = _xmlsec1_signed(
        org,
        _unsigned(org),
        tmp_path,
        c14n_prefixes=c14n_prefixes,
        transform_prefixes=transform_prefixes,
    )
    assert b'<Signature xmlns="http://www.w3.org/2000/09/xmldsig#">' in signed
    verified = verify_vihf(signed, ca)
    assert verified.signature_method.endswith("rsa-sha512")
    assert verified.digest_method.endswith("#sha512")
    assert verify_vihf(_in_envelope(etree.fromstring(signed)), ca).token.resource_id == INS
    assert _xmlsec1_accepts(tmp_path, signed, org.ca_cert)
    if not c14n_prefixes:  # signxml's schema refuses InclusiveNamespaces in SignedInfo
        assert _signxml_accepts(etree.fromstring(signed), org)
    tampered = signed.replace(b">899900063480<", b">899900063481<", 1)
    assert tampered != signed
    assert _refused(tampered, ca) == "vihf_signature"
    assert not _xmlsec1_accepts(tmp_path, tampered, org.ca_cert)


@pytest.mark.parametrize("where", ["transform", "signed info"])
def test_prefix_list_is_honoured(org: OrgPki, ca: bytes, tmp_path: Path, where: str) -> None:
    """A PrefixList naming a prefix the assertion declares but does not use: the digest (or
    the signed SignedInfo) covers that declaration, also when it is declared on an ancestor
    (the SOAP envelope)."""
    base = _unsigned(org)
    nsmap: dict[str | None, str] = {**base.nsmap, "foo": "urn:foo"}
    unsigned = etree.Element(base.tag, nsmap=nsmap)  # type: ignore[arg-type]
    unsigned.attrib.update(base.attrib)
    unsigned.extend(copy.deepcopy(child) for child in base)
    signed = _xmlsec1_signed(
        org,
        unsigned,
        tmp_path,
        c14n_prefixes="foo" if where == "signed info" else "",
        transform_prefixes="foo" if where == "transform" else "",
    )
    assert verify_vihf(signed, ca).token.resource_id == INS
    assert verify_vihf(etree.fromstring(signed), ca).token.resource_id == INS
    # the same bytes without the declaration: the PrefixList names nothing any more
    bare = signed.replace(b' xmlns:foo="urn:foo"', b"", 1)
    assert b"urn:foo" not in bare
    assert _refused(bare, ca) == "vihf_signature"
    assert not _xmlsec1_accepts(tmp_path, bare, org.ca_cert)
    # declared on the envelope only: in scope again, the signature holds
    embedded = _in_envelope(etree.fromstring(bare), 'xmlns:foo="urn:foo"')
    assert verify_vihf(embedded, ca).token.resource_id == INS


def test_comments_and_whitespace(org: OrgPki, ca: bytes, tmp_path: Path) -> None:
    """exc-c14n drops comments; the text after the removed signature stays (enveloped
    transform on a pretty-printed assertion)."""
    unsigned = _unsigned(org)
    etree.indent(unsigned)
    issuer = unsigned.find(f"{{{SAML}}}Issuer")
    assert issuer is not None
    signed = _signxml_signed(org, unsigned, tail=issuer.tail)
    signature = signed.find(f"{{{DS}}}Signature")
    assert signature is not None and signature.tail and signature.tail.strip() == ""
    verify_vihf(etree.tostring(signed), ca)
    assert _xmlsec1_accepts(tmp_path, etree.tostring(signed), org.ca_cert)
    commented = copy.deepcopy(signed)
    subject = commented.find(f"{{{SAML}}}Subject")
    assert subject is not None
    subject.insert(0, etree.Comment(" ajouté après signature "))
    assert verify_vihf(commented, ca).token.resource_id == INS
    assert _xmlsec1_accepts(tmp_path, etree.tostring(commented), org.ca_cert)
    # the whitespace after the signature is signed content
    changed = copy.deepcopy(signed)
    moved = changed.find(f"{{{DS}}}Signature")
    assert moved is not None
    moved.tail = "\n"
    assert _refused(changed, ca) == "vihf_signature"
    assert not _xmlsec1_accepts(tmp_path, etree.tostring(changed), org.ca_cert)


def test_token_read_from_the_verified_copy(org: OrgPki, ca: bytes) -> None:
    signed = _signed(org)
    before = etree.tostring(signed)
    verified = verify_vihf(signed, ca)
    assert etree.tostring(signed) == before  # the caller's tree is left as it was
    assert verified.token == parse_vihf(signed)  # signed=True in both
    assert verified.signer_subject == org.sign.credential.subject


# --- refusals -------------------------------------------------------------------------------


def test_tampered_content_refused(org: OrgPki, ca: bytes, tmp_path: Path) -> None:
    signed = _signed(org)
    text = copy.deepcopy(signed)
    for value in text.iter(f"{{{SAML}}}AttributeValue"):
        if value.text == INS:
            value.text = OTHER_INS
    attribute = copy.deepcopy(signed)
    attribute.set("IssueInstant", "2031-01-01T00:00:00.000Z")
    added = copy.deepcopy(signed)
    added.append(etree.Element(f"{{{SAML}}}Advice"))
    for tampered in (text, attribute, added):
        assert _refused(tampered, ca) == "vihf_signature"
        assert not _signxml_accepts(tampered, org)
        assert not _xmlsec1_accepts(tmp_path, etree.tostring(tampered), org.ca_cert)
    value = copy.deepcopy(signed)
    node = value.find(f"{{{DS}}}Signature/{{{DS}}}SignatureValue")
    assert node is not None and node.text
    raw = bytearray(base64.b64decode(node.text))
    raw[10] ^= 1
    node.text = base64.b64encode(bytes(raw)).decode()
    assert _refused(value, ca) == "vihf_signature"
    assert not _signxml_accepts(value, org)


def test_moved_signature_refused(org: OrgPki, ca: bytes) -> None:
    signed = _signed(org)
    at_end = copy.deepcopy(signed)
    signature = at_end.find(f"{{{DS}}}Signature")
    assert signature is not None
    at_end.append(signature)  # still a valid enveloped signature, but not where SAML puts it
    assert _signxml_accepts(at_end, org)
    assert _refused(at_end, ca) == "vihf_signature"
    nested = copy.deepcopy(signed)
    signature = nested.find(f"{{{DS}}}Signature")
    subject = nested.find(f"{{{SAML}}}Subject")
    assert signature is not None and subject is not None
    subject.append(signature)
    assert _refused(nested, ca) == "vihf_signature"
    two = copy.deepcopy(signed)
    first = two.find(f"{{{DS}}}Signature")
    assert first is not None
    first.addnext(copy.deepcopy(first))
    assert _refused(two, ca) == "vihf_signature"


def test_reference_outside_the_profile_refused(org: OrgPki, ca: bytes) -> None:
    signed = _signed(org)
    ident = signed.get("ID")

    def edited(change: str) -> etree._Element:
        root = copy.deepcopy(signed)
        info = _signed_info(root)
        reference = info.find(f"{{{DS}}}Reference")
        transforms = info.find(f"{{{DS}}}Reference/{{{DS}}}Transforms")
        assert reference is not None and transforms is not None
        if change == "extra reference":
            info.append(copy.deepcopy(reference))
        elif change == "empty URI":
            reference.set("URI", "")
        elif change == "other URI":
            reference.set("URI", "#ailleurs")
        elif change == "no c14n transform":
            transforms.remove(transforms[1])
        elif change == "inclusive c14n":
            transforms[1].set("Algorithm", "http://www.w3.org/TR/2001/REC-xml-c14n-20010315")
        elif change == "xpath transform":
            extra = etree.SubElement(
                transforms,
                f"{{{DS}}}Transform",
                Algorithm="http://www.w3.org/TR/1999/REC-xpath-19991116",
            )
            etree.SubElement(extra, f"{{{DS}}}XPath").text = "true()"
        elif change == "md5 digest":
            method = reference.find(f"{{{DS}}}DigestMethod")
            assert method is not None
            method.set("Algorithm", "http://www.w3.org/2001/04/xmldsig-more#md5")
        elif change == "signed info c14n":
            method = info.find(f"{{{DS}}}CanonicalizationMethod")
            assert method is not None
            method.set("Algorithm", "http://www.w3.org/2006/12/xml-c14n11")
        elif change == "object":
            signature = root.find(f"{{{DS}}}Signature")
            assert signature is not None
            etree.SubElement(signature, f"{{{DS}}}Object").text = "x"
        _resign(root, org)
        return root

    control = copy.deepcopy(signed)
    _resign(control, org)
    assert verify_vihf(control, ca).token.assertion_id == ident  # _resign alone changes nothing
    for change in (
        "extra reference",
        "empty URI",
        "other URI",
        "no c14n transform",
        "inclusive c14n",
        "xpath transform",
        "md5 digest",
        "signed info c14n",
        "object",
    ):
        with pytest.raises(DmpError) as info:
            verify_vihf(edited(change), ca)
        assert info.value.code == "vihf_signature", change


def test_duplicated_id_and_wrapping_refused(org: OrgPki, ca: bytes, tmp_path: Path) -> None:
    signed = _signed(org)
    ident = signed.get("ID", "")
    # the signed original hidden inside an evil assertion that reuses its ID and signature
    evil = copy.deepcopy(signed)
    for value in evil.iter(f"{{{SAML}}}AttributeValue"):
        if value.text == INS:
            value.text = OTHER_INS
    advice = etree.SubElement(evil, f"{{{SAML}}}Advice")
    advice.append(copy.deepcopy(signed))
    original = advice[0].find(f"{{{DS}}}Signature")
    assert original is not None
    advice[0].remove(original)
    assert _refused(evil, ca) == "vihf_signature"
    assert not _xmlsec1_accepts(tmp_path, etree.tostring(evil), org.ca_cert)
    # the same ID elsewhere in the SOAP message, or under any identifier name inside
    embedded = _in_envelope(signed)
    body = embedded.getroottree().getroot()[-1]
    etree.SubElement(body, "{urn:autre}leurre").set("ID", ident)
    with pytest.raises(DmpError, match="plusieurs éléments") as info:
        verify_vihf(embedded, ca)
    assert info.value.code == "vihf_signature"
    for attribute in ("ID", "Id", f"{{{WSSE}}}Id", "{http://www.w3.org/XML/1998/namespace}id"):
        inner = copy.deepcopy(signed)
        subject = inner.find(f"{{{SAML}}}Subject")
        assert subject is not None
        subject.set(attribute, ident)
        with pytest.raises(DmpError, match="plusieurs éléments") as info:
            verify_vihf(inner, ca)
        assert info.value.code == "vihf_signature", attribute
    assert verify_vihf(_in_envelope(signed), ca).token.assertion_id == ident


def test_sha1_only_when_allowed(org: OrgPki, ca: bytes, tmp_path: Path) -> None:
    signed = _signxml_signed(
        org, _unsigned(org), method=SignatureMethod.RSA_SHA1, digest=DigestAlgorithm.SHA1
    )
    assert _refused(signed, ca) == "vihf_signature"
    assert not _signxml_accepts(signed, org)
    verified = verify_vihf(signed, ca, allow_sha1=True)
    assert verified.signature_method == RSA_SHA1
    assert _signxml_accepts(signed, org, sha1=True)
    assert _xmlsec1_accepts(tmp_path, etree.tostring(signed), org.ca_cert)
    # a SHA-1 digest under an RSA-SHA256 signature is refused too
    mixed = _signxml_signed(org, _unsigned(org), digest=DigestAlgorithm.SHA1)
    assert _refused(mixed, ca) == "vihf_signature"
    assert verify_vihf(mixed, ca, allow_sha1=True).digest_method.endswith("#sha1")


def test_untrusted_or_expired_signer(org: OrgPki, ca: bytes, tmp_path: Path) -> None:
    signed = _signed(org)
    with pytest.raises(CertificateError) as info:
        verify_vihf(signed, org.sign.cert.read_bytes())  # the leaf is not a CA of itself
    assert info.value.code == "certificate_untrusted"
    with pytest.raises(CertificateError) as info:
        verify_vihf(signed, ca, now=dt.datetime.now(dt.UTC) + dt.timedelta(days=3650))
    assert info.value.code == "certificate_expired"
    # a certificate of another signer in KeyInfo: trusted, but the value does not match
    foreign = copy.deepcopy(signed)
    node = foreign.find(f".//{{{DS}}}X509Certificate")
    assert node is not None
    node.text = base64.b64encode(
        org.auth_cli.credential.certificate.public_bytes(serialization.Encoding.DER)
    ).decode()
    assert _refused(foreign, ca) == "vihf_signature"


def test_missing_or_broken_parts(org: OrgPki, ca: bytes) -> None:
    signed = _signed(org)
    no_id = copy.deepcopy(signed)
    del no_id.attrib["ID"]
    assert _refused(no_id, ca) == "vihf_signature"
    bad_value = copy.deepcopy(signed)
    digest = bad_value.find(f".//{{{DS}}}DigestValue")
    assert digest is not None
    digest.text = "pas du base64 !"
    assert _refused(bad_value, ca) == "vihf_signature"
    unsigned = copy.deepcopy(signed)
    signature = unsigned.find(f"{{{DS}}}Signature")
    assert signature is not None
    unsigned.remove(signature)
    assert _refused(unsigned, ca) == "vihf_unsigned"


# --- review of the own verifier: comments, DIRECTE, c14n failures ------------------------------


def test_a_comment_inserted_in_a_signed_value_cannot_shorten_it(org: OrgPki, ca: bytes) -> None:
    """c14n drops comments, so the digest still matches; what is read must be the digested
    value, not the text before the comment (the CVE-2017-11427 class)."""
    xml = etree.tostring(_signed(org, "INDIRECTE_RENFORCEE"))
    tampered = xml.replace(b">899900063480<", b">8999<!---->00063480<").replace(
        b"INDIRECTE_RENFORCEE", b"INDIRECTE<!---->_RENFORCEE"
    )
    assert tampered != xml
    token = verify_vihf(tampered, ca).token
    assert token.subject_id == "899900063480"
    assert token.mode == "INDIRECTE_RENFORCEE"


def test_a_signed_directe_token_is_refused(org: OrgPki, ca: bytes) -> None:
    """The direct mode (CPS) is unsigned: a signed DIRECTE would skip the structure check."""
    context = dataclasses.replace(_context(org, "DIRECTE"), structure_id="AUTRE_STRUCTURE")
    signed = sign_vihf(build_vihf(context, resource_id=INS), org.sign.credential)
    with pytest.raises(DmpError) as info:
        verify_vihf(signed, ca)
    assert info.value.code == "vihf_signature" and "DIRECTE" in info.value.message


@pytest.mark.parametrize(
    ("old", "new"),
    [
        (b"<saml2:Subject>", b'<saml2:Subject xmlns:r="relatif">'),
        (b"<ds:SignedInfo>", b'<ds:SignedInfo xmlns:r="relatif">'),
    ],
)
def test_a_tree_c14n_cannot_write_is_a_typed_refusal(
    org: OrgPki, ca: bytes, old: bytes, new: bytes
) -> None:
    xml = etree.tostring(_signed(org))
    assert old in xml
    with pytest.raises(DmpError) as info:
        verify_vihf(xml.replace(old, new, 1), ca)
    assert info.value.code == "vihf_signature"
