"""The XAdES-BES v1.1.1 signature document of a DMP submission (TD2.1), hand-built.

Shape of the official sample ``TD2.1-SignatureXades.xml`` (IHE DSG "detached" signature)::

    Signature Id=<uuid>                      (XML-DSig, default namespace)
      SignedInfo                             c14n 1.0 WithComments, RSA-SHA256
        Reference #IHEManifest               Type …xmldsig#Manifest
        Reference #S0-SignedProperties       Type …01903/v1.1.1#SignedProperties
      SignatureValue, KeyInfo/X509Data/X509Certificate
      Object/Manifest Id=IHEManifest         one Reference URI="urn:oid:<uniqueId>" per document
      Object/SignatureProperties             purposeOfSignature 1.2.840.10065.1.12.1.14
      Object/QualifyingProperties (v1.1.1)   SigningTime, SigningCertificate, SignaturePolicyImplied

Manifest references to XML documents carry the c14n WithComments transform and digest the
canonical form; other documents are digested as raw bytes. The official sample uses SHA-1 /
RSA-SHA1 everywhere; this module defaults to SHA-256 / RSA-SHA256 (``digest="sha1"`` reproduces
the sample). The submission set reference of the sample (digest ``AA==``, a placeholder) is
added when ``submission_set_id`` is given.

Manifest references (``urn:oid:``) cannot be dereferenced by a generic XML-DSig engine (xmlsec1
needs ``--ignore-manifests``): :func:`verify_xades` recomputes them from the documents given.
"""

from __future__ import annotations

import base64
import datetime as dt
import functools
import hashlib
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal
from xml.sax.saxutils import escape

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from lxml import etree

from segur_ris._xml import is_xml_text, parse_xml
from segur_ris.certificates import Credential, check_validity
from segur_ris.errors import CertificateError, DmpError, XmlError

__all__ = [
    "C14N",
    "C14N_WITH_COMMENTS",
    "MANIFEST_ID",
    "PURPOSE_OF_SIGNATURE",
    "SIGNED_PROPERTIES_ID",
    "XADES_NS",
    "DigestName",
    "XadesReference",
    "XadesReport",
    "build_xades",
    "verify_xades",
]

DS_NS = "http://www.w3.org/2000/09/xmldsig#"
XADES_NS = "http://uri.etsi.org/01903/v1.1.1#"
C14N = "http://www.w3.org/TR/2001/REC-xml-c14n-20010315"
C14N_WITH_COMMENTS = C14N + "#WithComments"
EXC_C14N = "http://www.w3.org/2001/10/xml-exc-c14n#"
EXC_C14N_WITH_COMMENTS = EXC_C14N + "WithComments"
MANIFEST_TYPE = DS_NS + "Manifest"
SIGNED_PROPERTIES_TYPE = XADES_NS + "SignedProperties"
MANIFEST_ID = "IHEManifest"
SIGNED_PROPERTIES_ID = "S0-SignedProperties"
#: IHE DSG purpose of signature ("Source", ASTM E1762).
PURPOSE_OF_SIGNATURE = "1.2.840.10065.1.12.1.14"
_PLACEHOLDER = "AA=="

DigestName = Literal["sha1", "sha256", "sha512"]
_DIGEST_URI: dict[str, str] = {
    "sha1": DS_NS + "sha1",
    "sha256": "http://www.w3.org/2001/04/xmlenc#sha256",
    "sha512": "http://www.w3.org/2001/04/xmlenc#sha512",
}
_DIGEST_BY_URI = {uri: name for name, uri in _DIGEST_URI.items()}
_SIGNATURE_URI: dict[str, str] = {
    "sha1": DS_NS + "rsa-sha1",
    "sha256": "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256",
    "sha512": "http://www.w3.org/2001/04/xmldsig-more#rsa-sha512",
}
_SIGNATURE_BY_URI = {uri: name for name, uri in _SIGNATURE_URI.items()}
_HASHES: dict[str, type[hashes.HashAlgorithm]] = {
    "sha1": hashes.SHA1,
    "sha256": hashes.SHA256,
    "sha512": hashes.SHA512,
}
_C14N_MODES: dict[str, tuple[bool, bool]] = {  # uri -> (exclusive, with_comments)
    C14N: (False, False),
    C14N_WITH_COMMENTS: (False, True),
    EXC_C14N: (True, False),
    EXC_C14N_WITH_COMMENTS: (True, True),
}


def _q(ns: str, name: str) -> str:
    return f"{{{ns}}}{name}"


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


@functools.lru_cache(maxsize=64)
def _der(certificate: x509.Certificate) -> bytes:
    """DER bytes of a signing certificate (cached: same certificate on every submission)."""
    return certificate.public_bytes(serialization.Encoding.DER)


@functools.lru_cache(maxsize=64)
def _issuer_name(certificate: x509.Certificate) -> str:
    return certificate.issuer.rfc4514_string()


@functools.lru_cache(maxsize=64)
def _subject_name(certificate: x509.Certificate) -> str:
    return certificate.subject.rfc4514_string()


@functools.lru_cache(maxsize=256)
def _load_certificate(der: bytes) -> x509.Certificate:
    """The KeyInfo certificate (cached: a server sees the same signers on every request)."""
    return x509.load_der_x509_certificate(der)


def _digest(name: str, data: bytes) -> bytes:
    return hashlib.new(name, data).digest()


def c14n_subtree(element: etree._Element, *, exclusive: bool, with_comments: bool) -> bytes:
    """Canonical form of ``element`` as the apex of a document subset.

    lxml's c14n of a non-root element mishandles nested default namespaces (it emits spurious
    ``xmlns=""``); serialising the subtree (which declares every in-scope namespace on the apex)
    and canonicalising the re-parsed copy gives the XML-DSig result.
    """
    standalone = etree.fromstring(etree.tostring(element, with_tail=False))
    return etree.tostring(
        standalone, method="c14n", exclusive=exclusive, with_comments=with_comments
    )


def _canonical_document(data: bytes, exclusive: bool, with_comments: bool) -> bytes:
    root = parse_xml(data, what="document signé")
    return _canonical_tree(root, exclusive, with_comments)


def _canonical_tree(root: etree._Element, exclusive: bool, with_comments: bool) -> bytes:
    return etree.tostring(
        root.getroottree(), method="c14n", exclusive=exclusive, with_comments=with_comments
    )


def _xml_root(data: bytes) -> etree._Element | None:
    """The parsed root when ``data`` is well-formed XML, else ``None`` (signed as octets)."""
    head = data.lstrip(b"\xef\xbb\xbf \t\r\n")[:1]
    if head != b"<":
        return None
    try:
        return parse_xml(data)
    except XmlError:
        return None


def _instant(moment: dt.datetime) -> str:
    aware = moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)
    return aware.isoformat(timespec="milliseconds").replace("+00:00", "Z")


# The signature document is written as text, already in canonical form (XML-C14N 1.0:
# attributes in order, empty elements as start-end tag pairs, C14N escaping): the digests of
# the Manifest and SignedProperties and the signed octets of SignedInfo are then the very
# substrings of the document, with the in-scope default namespace declared on the apex.
# Building it with lxml then serialising, re-parsing and canonicalising three subtrees cost
# ~0.8 ms per submission; xmlsec1 and verify_xades check the result in the tests.
_C14N_TEXT = {"\r": "&#xD;"}
_C14N_ATTR = {'"': "&quot;", "\t": "&#x9;", "\n": "&#xA;", "\r": "&#xD;"}


def _xml_value(value: str, what: str) -> str:
    """``value`` checked to hold only characters XML 1.0 allows."""
    if not is_xml_text(value):
        raise DmpError(f"XAdES: {what} contient un caractère interdit en XML", code="xades_format")
    return value


def _c14n_text(value: str) -> str:
    """Element content escaped as XML-C14N 1.0 writes it (&, <, > and CR)."""
    return escape(value, _C14N_TEXT)


def _c14n_attr(value: str) -> str:
    """Attribute value escaped as XML-C14N 1.0 writes it (&, <, ", TAB, LF, CR; not >)."""
    return escape(value, _C14N_ATTR).replace("&gt;", ">")


def _reference_xml(uri: str, digest_uri: str, value: str, transforms: tuple[str, ...] = ()) -> str:
    """A canonical ``Reference`` of the Manifest (``URI`` escaped by the caller)."""
    steps = "".join(f'<Transform Algorithm="{t}"></Transform>' for t in transforms)
    return (
        f'<Reference URI="{uri}">'
        + (f"<Transforms>{steps}</Transforms>" if steps else "")
        + f'<DigestMethod Algorithm="{digest_uri}"></DigestMethod>'
        f"<DigestValue>{value}</DigestValue></Reference>"
    )


@functools.lru_cache(maxsize=64)
def _cert_xml(certificate: x509.Certificate, digest: str) -> str:
    """The canonical ``Cert`` of ``SigningCertificate`` (same certificates every submission)."""
    issuer = _c14n_text(_xml_value(_issuer_name(certificate), "émetteur du certificat"))
    return (
        f'<Cert><CertDigest><DigestMethod Algorithm="{_DIGEST_URI[digest]}"></DigestMethod>'
        f"<DigestValue>{_b64(_digest(digest, _der(certificate)))}</DigestValue></CertDigest>"
        f'<IssuerSerial><X509IssuerName xmlns="{DS_NS}">{issuer}</X509IssuerName>'
        f'<X509SerialNumber xmlns="{DS_NS}">{certificate.serial_number}</X509SerialNumber>'
        "</IssuerSerial></Cert>"
    )


@functools.lru_cache(maxsize=64)
def _certificate_b64(certificate: x509.Certificate) -> str:
    return _b64(_der(certificate))


def build_xades(
    documents: Mapping[str, bytes],
    credential: Credential,
    *,
    now: dt.datetime | None = None,
    submission_set_id: str | None = None,
    signature_id: str | None = None,
    digest: DigestName = "sha256",
    trees: Mapping[str, etree._Element] | None = None,
) -> bytes:
    """The XAdES signature document (UTF-8 bytes) over ``documents`` (uniqueId → exact bytes
    sent in the submission), signed with the ORG SIGN (or CPS) RSA key of ``credential``.
    ``trees`` may give the already parsed root of an XML document (same uniqueId), so that a
    large CDA is parsed once per submission.

    The result must be sent byte for byte (its size/hash go into the signature entry's
    metadata).
    """
    if not documents:
        raise DmpError("XAdES: aucun document à signer", code="xades_empty")
    key = credential.private_key
    if not isinstance(key, rsa.RSAPrivateKey):
        raise CertificateError("XAdES: une clé RSA est requise", code="certificate_key")
    if digest not in _DIGEST_URI:
        raise DmpError(f"XAdES: algorithme d'empreinte inconnu {digest!r}", code="xades_digest")
    sig_id = _xml_value(signature_id or str(uuid.uuid4()), "identifiant de signature")
    if sig_id in (MANIFEST_ID, SIGNED_PROPERTIES_ID):  # verifiers look these Ids up
        raise DmpError(f"XAdES: identifiant de signature {sig_id!r} réservé", code="xades_format")
    moment = now or dt.datetime.now(dt.UTC)
    digest_uri = _DIGEST_URI[digest]

    references: list[str] = []
    if submission_set_id:
        uri = _c14n_attr(_xml_value(f"urn:oid:{submission_set_id}", "identifiant du lot"))
        references.append(_reference_xml(uri, digest_uri, _PLACEHOLDER))
    for unique_id, data in documents.items():
        if not unique_id or not isinstance(data, bytes | bytearray):
            raise DmpError(f"XAdES: document invalide {unique_id!r}", code="xades_document")
        parsed = trees.get(unique_id) if trees else None
        if parsed is None:
            parsed = _xml_root(bytes(data))
        if parsed is not None:
            octets = _canonical_tree(parsed, exclusive=False, with_comments=True)
            transforms: tuple[str, ...] = (C14N_WITH_COMMENTS,)
        else:
            octets, transforms = bytes(data), ()
        uri = _c14n_attr(_xml_value(f"urn:oid:{unique_id}", "identifiant de document"))
        references.append(
            _reference_xml(uri, digest_uri, _b64(_digest(digest, octets)), transforms)
        )
    manifest = "".join(references)

    certificates = "".join(
        _cert_xml(c, digest) for c in (credential.certificate, *credential.chain)
    )
    signed_properties = (
        f"<SignedSignatureProperties><SigningTime>{_instant(moment)}</SigningTime>"
        f"<SigningCertificate>{certificates}</SigningCertificate>"
        "<SignaturePolicyIdentifier><SignaturePolicyImplied></SignaturePolicyImplied>"
        "</SignaturePolicyIdentifier></SignedSignatureProperties>"
        "<SignedDataObjectProperties></SignedDataObjectProperties>"
    )
    manifest_digest = _digest(
        digest, f'<Manifest xmlns="{DS_NS}" Id="{MANIFEST_ID}">{manifest}</Manifest>'.encode()
    )
    properties_digest = _digest(
        digest,
        f'<SignedProperties xmlns="{XADES_NS}" Id="{SIGNED_PROPERTIES_ID}">'
        f"{signed_properties}</SignedProperties>".encode(),
    )
    signed_info = (
        f'<CanonicalizationMethod Algorithm="{C14N_WITH_COMMENTS}"></CanonicalizationMethod>'
        f'<SignatureMethod Algorithm="{_SIGNATURE_URI[digest]}"></SignatureMethod>'
        f'<Reference Type="{MANIFEST_TYPE}" URI="#{MANIFEST_ID}">'
        f'<DigestMethod Algorithm="{digest_uri}"></DigestMethod>'
        f"<DigestValue>{_b64(manifest_digest)}</DigestValue></Reference>"
        f'<Reference Type="{SIGNED_PROPERTIES_TYPE}" URI="#{SIGNED_PROPERTIES_ID}">'
        f'<DigestMethod Algorithm="{digest_uri}"></DigestMethod>'
        f"<DigestValue>{_b64(properties_digest)}</DigestValue></Reference>"
    )
    signed = f'<SignedInfo xmlns="{DS_NS}">{signed_info}</SignedInfo>'.encode()
    value = _b64(key.sign(signed, padding.PKCS1v15(), _HASHES[digest]()))
    target = _c14n_attr(f"#{sig_id}")
    document = (
        "<?xml version='1.0' encoding='UTF-8'?>\n"
        f'<Signature xmlns="{DS_NS}" Id="{_c14n_attr(sig_id)}">'
        f"<SignedInfo>{signed_info}</SignedInfo><SignatureValue>{value}</SignatureValue>"
        f"<KeyInfo><X509Data><X509Certificate>{_certificate_b64(credential.certificate)}"
        "</X509Certificate></X509Data></KeyInfo>"
        f'<Object><Manifest Id="{MANIFEST_ID}">{manifest}</Manifest></Object>'
        f'<Object><SignatureProperties><SignatureProperty Id="purposeOfSignature" '
        f'Target="{target}">{PURPOSE_OF_SIGNATURE}</SignatureProperty></SignatureProperties>'
        f'</Object><Object><QualifyingProperties xmlns="{XADES_NS}" Target="{target}">'
        f'<SignedProperties Id="{SIGNED_PROPERTIES_ID}">{signed_properties}</SignedProperties>'
        "</QualifyingProperties></Object></Signature>"
    )
    return document.encode("utf-8")


# --- verification ----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class XadesReference:
    """One manifest reference. ``digest_ok`` is ``None`` when it was not checked (placeholder
    digest of the submission set, or document not given); ``detail`` explains a failure."""

    uri: str
    unique_id: str
    digest_ok: bool | None
    detail: str = ""


@dataclass(frozen=True, slots=True)
class XadesReport:
    """Result of :func:`verify_xades`.

    ``valid`` = signature value, SignedInfo references, signing certificate, trust (when asked)
    and every given document's digest all correct, and every given document covered.
    """

    valid: bool
    signature_valid: bool
    signing_time: str | None
    signer_subject: str | None
    certificate: x509.Certificate | None
    signature_method: str
    references: tuple[XadesReference, ...]
    errors: tuple[str, ...]

    @property
    def failed(self) -> tuple[str, ...]:
        """uniqueIds whose digest does not match."""
        return tuple(r.unique_id for r in self.references if r.digest_ok is False)


def _id_index(root: etree._Element) -> dict[str, list[etree._Element]]:
    """Every element of the document by its ``Id`` attribute (one pass for all references)."""
    index: dict[str, list[etree._Element]] = {}
    for element in root.iter(etree.Element):
        ident = element.get("Id")
        if ident is not None:
            index.setdefault(ident, []).append(element)
    return index


def _by_id(index: dict[str, list[etree._Element]], ident: str) -> etree._Element:
    found = index.get(ident, [])
    if len(found) != 1:
        raise DmpError(f"XAdES: élément Id={ident!r} introuvable ou ambigu", code="xades_format")
    return found[0]


def _transforms(ref: etree._Element) -> list[str]:
    return [t.get("Algorithm", "") for t in ref.iterfind(f"{_q(DS_NS, 'Transforms')}/*")]


def _ref_digest(ref: etree._Element) -> tuple[str, str]:
    method = ref.find(_q(DS_NS, "DigestMethod"))
    uri = method.get("Algorithm", "") if method is not None else ""
    name = _DIGEST_BY_URI.get(uri)
    if name is None:
        raise DmpError(f"XAdES: DigestMethod non pris en charge {uri!r}", code="xades_digest")
    return name, "".join((ref.findtext(_q(DS_NS, "DigestValue")) or "").split())


def _same_document_octets(
    index: dict[str, list[etree._Element]], ref: etree._Element
) -> tuple[etree._Element, bytes]:
    """The element a same-document reference designates, and its octets after the
    reference's transforms."""
    uri = ref.get("URI", "")
    if not uri.startswith("#"):
        raise DmpError(f"XAdES: référence SignedInfo inattendue {uri!r}", code="xades_format")
    element = _by_id(index, uri[1:])
    transforms = _transforms(ref)
    exclusive, comments = False, False  # "#id" without transform: c14n without comments
    for algorithm in transforms:
        if algorithm not in _C14N_MODES:
            raise DmpError(f"XAdES: transformation non prise en charge {algorithm!r}")
        exclusive, comments = _C14N_MODES[algorithm]
    return element, c14n_subtree(element, exclusive=exclusive, with_comments=comments)


def _check_manifest_ref(ref: etree._Element, documents: Mapping[str, bytes]) -> XadesReference:
    uri = ref.get("URI", "")
    unique_id = uri.removeprefix("urn:oid:")
    name, expected = _ref_digest(ref)
    data = documents.get(unique_id)
    if data is None:
        if expected == _PLACEHOLDER:
            return XadesReference(uri, unique_id, None, "empreinte factice (lot de soumission)")
        return XadesReference(uri, unique_id, None, "document non fourni")
    octets = bytes(data)
    for algorithm in _transforms(ref):
        if algorithm not in _C14N_MODES:
            return XadesReference(uri, unique_id, False, f"transformation inconnue {algorithm}")
        try:
            octets = _canonical_document(octets, *_C14N_MODES[algorithm])
        except XmlError as exc:
            return XadesReference(uri, unique_id, False, f"document XML illisible: {exc}")
    ok = _b64(_digest(name, octets)) == expected
    return XadesReference(uri, unique_id, ok, "" if ok else "empreinte différente")


def verify_xades(
    xml: bytes,
    documents: Mapping[str, bytes],
    *,
    trusted_ca_pem: bytes | str | None = None,
    now: dt.datetime | None = None,
    check_dates: bool = True,
) -> XadesReport:
    """Verify a XAdES signature document against the submitted ``documents``.

    Checks the RSA signature over the canonical SignedInfo, the digests of the Manifest and
    SignedProperties references, that ``SigningCertificate`` names the KeyInfo certificate,
    every manifest reference whose document is given, and (``trusted_ca_pem``) that the
    signer is issued by a trusted CA; ``check_dates`` checks the validity period at ``now``.
    Problems are reported, not raised; :class:`DmpError` only for a document that is not a
    XAdES signature at all.
    """
    root = parse_xml(xml, what="signature XAdES")
    if root.tag != _q(DS_NS, "Signature"):
        raise DmpError(f"XAdES: ds:Signature attendu, trouvé {root.tag}", code="xades_format")
    errors: list[str] = []
    signed_info = root.find(_q(DS_NS, "SignedInfo"))
    if signed_info is None:
        raise DmpError("XAdES: SignedInfo manquant", code="xades_format")

    cert: x509.Certificate | None = None
    cert_text = root.findtext(
        f"{_q(DS_NS, 'KeyInfo')}/{_q(DS_NS, 'X509Data')}/{_q(DS_NS, 'X509Certificate')}"
    )
    if cert_text:
        try:
            cert = _load_certificate(base64.b64decode("".join(cert_text.split())))
        except ValueError:
            errors.append("certificat KeyInfo illisible")
    else:
        errors.append("KeyInfo/X509Certificate manquant")

    # SignedInfo references; the Manifest and the SignedProperties are then read from the very
    # elements these references resolved to (an unsigned look-alike elsewhere is ignored)
    types_seen: set[str] = set()
    signed: dict[str, etree._Element] = {}
    expected_tags = {
        MANIFEST_TYPE: _q(DS_NS, "Manifest"),
        SIGNED_PROPERTIES_TYPE: _q(XADES_NS, "SignedProperties"),
    }
    index = _id_index(root)
    for ref in signed_info.iterfind(_q(DS_NS, "Reference")):
        kind = ref.get("Type", "")
        types_seen.add(kind)
        try:
            name, expected = _ref_digest(ref)
            element, octets = _same_document_octets(index, ref)
        except DmpError as exc:
            errors.append(exc.message)
            continue
        if kind in expected_tags and element.tag != expected_tags[kind]:
            errors.append(f"référence {ref.get('URI')}: {element.tag} n'est pas du type {kind}")
        elif _b64(_digest(name, octets)) != expected:
            errors.append(f"référence {ref.get('URI')}: empreinte différente")
        elif kind in expected_tags:
            signed.setdefault(kind, element)
    for required in (MANIFEST_TYPE, SIGNED_PROPERTIES_TYPE):
        if required not in types_seen:
            errors.append(f"SignedInfo ne référence pas {required}")
    for tag in expected_tags.values():
        if sum(1 for _ in root.iter(tag)) > 1:
            errors.append(f"plusieurs {etree.QName(tag).localname}: un seul est signé")

    # signature value
    method_el = signed_info.find(_q(DS_NS, "SignatureMethod"))
    method = method_el.get("Algorithm", "") if method_el is not None else ""
    c14n_el = signed_info.find(_q(DS_NS, "CanonicalizationMethod"))
    c14n_uri = c14n_el.get("Algorithm", "") if c14n_el is not None else ""
    signature_ok = False
    hash_name = _SIGNATURE_BY_URI.get(method)
    if hash_name is None:
        errors.append(f"SignatureMethod non pris en charge: {method!r}")
    elif c14n_uri not in _C14N_MODES:
        errors.append(f"CanonicalizationMethod non pris en charge: {c14n_uri!r}")
    elif cert is not None:
        public_key = cert.public_key()
        try:
            value = base64.b64decode(
                "".join((root.findtext(_q(DS_NS, "SignatureValue")) or "").split()),
                validate=True,
            )
        except ValueError:  # binascii.Error
            value = b""
            errors.append("SignatureValue: base64 invalide")
        exclusive, comments = _C14N_MODES[c14n_uri]
        canonical = c14n_subtree(signed_info, exclusive=exclusive, with_comments=comments)
        if not isinstance(public_key, rsa.RSAPublicKey):
            errors.append("clé du signataire non RSA")
        elif value:
            try:
                public_key.verify(value, canonical, padding.PKCS1v15(), _HASHES[hash_name]())
                signature_ok = True
            except InvalidSignature:
                errors.append("valeur de signature invalide")

    # what was digested is read without comments (c14n drops them: a comment inserted in a
    # signed value would shorten what .text returns)
    etree.strip_tags(root, etree.Comment)

    # qualifying properties: the SignedProperties the signature covers
    properties = signed.get(SIGNED_PROPERTIES_TYPE)
    ssp = _q(XADES_NS, "SignedSignatureProperties")
    signing_time = (
        properties.findtext(f"{ssp}/{_q(XADES_NS, 'SigningTime')}")
        if properties is not None
        else None
    )
    if properties is None:
        errors.append("QualifyingProperties XAdES v1.1.1 manquant ou non signé")
    elif cert is not None:
        cert_ok = False
        der = _der(cert)
        for cert_el in properties.iterfind(
            f"{ssp}/{_q(XADES_NS, 'SigningCertificate')}/{_q(XADES_NS, 'Cert')}"
        ):
            digest_el = cert_el.find(_q(XADES_NS, "CertDigest"))
            serial = cert_el.findtext(
                f"{_q(XADES_NS, 'IssuerSerial')}/{_q(DS_NS, 'X509SerialNumber')}"
            )
            if digest_el is None or serial is None or serial.strip() != str(cert.serial_number):
                continue
            method_uri = _cert_digest_method(digest_el)
            cert_hash = _DIGEST_BY_URI.get(method_uri)
            value_text = "".join((digest_el.findtext(_q(XADES_NS, "DigestValue")) or "").split())
            if cert_hash is not None and _b64(_digest(cert_hash, der)) == value_text:
                cert_ok = True
        if not cert_ok:
            errors.append("SigningCertificate ne désigne pas le certificat signataire")

    if cert is not None:
        if check_dates:
            try:
                check_validity(cert, now or _signing_moment(signing_time))
            except CertificateError as exc:
                errors.append(exc.message)
        if trusted_ca_pem is not None:
            errors.extend(_trust_errors(cert, trusted_ca_pem))

    # manifest: the one the signature covers
    manifest = signed.get(MANIFEST_TYPE)
    references: list[XadesReference] = []
    if manifest is None:
        errors.append("Manifest manquant ou non signé")
    else:
        for ref in manifest.iterfind(_q(DS_NS, "Reference")):
            try:
                references.append(_check_manifest_ref(ref, documents))
            except DmpError as exc:
                errors.append(exc.message)
    covered = {r.unique_id for r in references}
    for unique_id in documents:
        if unique_id not in covered:
            errors.append(f"document {unique_id} absent du manifeste")
    for ref_report in references:
        if ref_report.digest_ok is False:
            errors.append(f"document {ref_report.unique_id}: {ref_report.detail}")

    return XadesReport(
        valid=signature_ok and not errors,
        signature_valid=signature_ok,
        signing_time=signing_time,
        signer_subject=_subject_name(cert) if cert is not None else None,
        certificate=cert,
        signature_method=method,
        references=tuple(references),
        errors=tuple(errors),
    )


def _cert_digest_method(digest_el: etree._Element) -> str:
    method = digest_el.find(_q(XADES_NS, "DigestMethod"))
    if method is None:  # the official sample's children are unprefixed under QualifyingProperties
        method = digest_el.find(_q(DS_NS, "DigestMethod"))
    return method.get("Algorithm", "") if method is not None else ""


def _signing_moment(signing_time: str | None) -> dt.datetime | None:
    if not signing_time:
        return None
    try:
        return dt.datetime.fromisoformat(signing_time.strip().replace("Z", "+00:00"))
    except ValueError:
        return None


def _trust_errors(cert: x509.Certificate, trusted_ca_pem: bytes | str) -> list[str]:
    from segur_ris.vihf._xmldsig import issued_by, load_trusted_cas  # (imports this module)

    try:
        cas = load_trusted_cas(trusted_ca_pem)
    except CertificateError:
        return ["autorités de confiance: PEM illisible"]
    if any(issued_by(cert, ca) for ca in cas):
        return []
    return [f"signataire hors confiance: {_subject_name(cert)}"]
