"""Enveloped XML-DSig of the VIHF assertion (indirect modes); signxml verifies.

Algorithms: exclusive c14n (``CanonicalizationMethod`` and the Reference transform, after the
enveloped-signature transform), RSA-SHA256 over SHA-256 digests, ``KeyInfo/X509Data`` carrying the
structure's ORG SIGN certificate. The ``ds:Signature`` is placed right after ``saml2:Issuer`` as
the SAML schema requires.
"""

from __future__ import annotations

import base64
import copy
import dataclasses
import datetime as dt
import functools
import hashlib
from dataclasses import dataclass

from cryptography import x509
from cryptography.exceptions import InvalidSignature as CryptoInvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from lxml import etree
from signxml.algorithms import CanonicalizationMethod, DigestAlgorithm, SignatureMethod
from signxml.exceptions import InvalidCertificate, InvalidInput, InvalidSignature
from signxml.verifier import SignatureConfiguration, XMLVerifier

from segur_ris._xml import parse_xml
from segur_ris.certificates import Credential, check_validity
from segur_ris.errors import CertificateError, DmpError
from segur_ris.vihf._assertion import DS_NS, SAML_NS, VihfToken, read_vihf
from segur_ris.vihf._xades import c14n_subtree

__all__ = ["VerifiedVihf", "load_trusted_cas", "sign_vihf", "verify_vihf"]

_EXC_C14N = CanonicalizationMethod.EXCLUSIVE_XML_CANONICALIZATION_1_0


@dataclass(frozen=True, slots=True)
class VerifiedVihf:
    """A VIHF whose signature and signer were checked; ``token`` holds its typed content."""

    token: VihfToken
    certificate: x509.Certificate
    signer_subject: str
    signature_method: str
    digest_method: str


def _element(assertion: etree._Element | bytes) -> etree._Element:
    if isinstance(assertion, etree._Element):
        return assertion
    return parse_xml(bytes(assertion), what="VIHF")


def sign_vihf(assertion: etree._Element, credential: Credential) -> etree._Element:
    """Return a signed copy of ``assertion`` (enveloped, exc-c14n, RSA-SHA256).

    An empty ``Issuer`` is filled with the certificate's subject DN. The key must be RSA (ORG
    SIGN certificate). ``assertion`` itself is left untouched.
    """
    if not isinstance(credential.private_key, rsa.RSAPrivateKey):
        raise CertificateError(
            "signature VIHF: une clé RSA (certificat ORG SIGN) est requise", code="certificate_key"
        )
    ident = assertion.get("ID")
    if not ident:
        raise DmpError("VIHF: l'assertion n'a pas d'attribut ID", code="vihf_format")
    doc = copy.deepcopy(assertion)
    issuer = doc.find(f"{{{SAML_NS}}}Issuer")
    if issuer is None:
        raise DmpError("VIHF: saml2:Issuer manquant", code="vihf_format")
    if not (issuer.text or "").strip():
        issuer.text = credential.certificate.subject.rfc4514_string()
    for old in doc.findall(f"{{{DS_NS}}}Signature"):
        doc.remove(old)
    issuer.addnext(_enveloped_signature(doc, ident, credential))
    return doc


# signxml's XMLSigner parses and serialises the document three times and costs ~1.5 ms per
# VIHF, paid on every DMP request; the enveloped signature of a SAML assertion is a fixed
# shape, built here with lxml's exclusive c14n (xmlsec1 and signxml verify it in the tests).
_ALG_EXC_C14N = "http://www.w3.org/2001/10/xml-exc-c14n#"
_ALG_ENVELOPED = "http://www.w3.org/2000/09/xmldsig#enveloped-signature"
_ALG_RSA_SHA256 = "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256"
_ALG_SHA256 = "http://www.w3.org/2001/04/xmlenc#sha256"


@functools.lru_cache(maxsize=32)
def _certificate_b64(certificate: x509.Certificate) -> str:
    return base64.b64encode(certificate.public_bytes(serialization.Encoding.DER)).decode("ascii")


def _exc_c14n(element: etree._Element) -> bytes:
    if element.getparent() is None:
        return etree.tostring(element, method="c14n", exclusive=True)
    return c14n_subtree(element, exclusive=True, with_comments=False)


def _enveloped_signature(
    assertion: etree._Element, ident: str, credential: Credential
) -> etree._Element:
    """``ds:Signature`` over ``assertion`` (which holds no signature yet): enveloped-signature
    then exc-c14n transforms, SHA-256 digest, RSA-SHA256, the certificate in ``KeyInfo``."""
    key = credential.private_key
    assert isinstance(key, rsa.RSAPrivateKey)  # checked by sign_vihf
    digest = base64.b64encode(hashlib.sha256(_exc_c14n(assertion)).digest()).decode("ascii")
    ds = f"{{{DS_NS}}}"
    signature = etree.Element(f"{ds}Signature", nsmap={"ds": DS_NS})
    info = etree.SubElement(signature, f"{ds}SignedInfo")
    etree.SubElement(info, f"{ds}CanonicalizationMethod", Algorithm=_ALG_EXC_C14N)
    etree.SubElement(info, f"{ds}SignatureMethod", Algorithm=_ALG_RSA_SHA256)
    reference = etree.SubElement(info, f"{ds}Reference", URI=f"#{ident}")
    transforms = etree.SubElement(reference, f"{ds}Transforms")
    etree.SubElement(transforms, f"{ds}Transform", Algorithm=_ALG_ENVELOPED)
    etree.SubElement(transforms, f"{ds}Transform", Algorithm=_ALG_EXC_C14N)
    etree.SubElement(reference, f"{ds}DigestMethod", Algorithm=_ALG_SHA256)
    etree.SubElement(reference, f"{ds}DigestValue").text = digest
    # exclusive c14n of SignedInfo depends only on the prefixes it uses (ds): canonicalise it
    # where it stands, before it is attached to the assertion
    canonical = etree.tostring(info, method="c14n", exclusive=True)
    value = key.sign(canonical, padding.PKCS1v15(), hashes.SHA256())
    etree.SubElement(signature, f"{ds}SignatureValue").text = base64.b64encode(value).decode(
        "ascii"
    )
    etree.SubElement(
        etree.SubElement(etree.SubElement(signature, f"{ds}KeyInfo"), f"{ds}X509Data"),
        f"{ds}X509Certificate",
    ).text = _certificate_b64(credential.certificate)
    return signature


def load_trusted_cas(trusted_ca_pem: bytes | str) -> list[x509.Certificate]:
    """The certificates of a PEM bundle (bytes or text)."""
    data = trusted_ca_pem.encode() if isinstance(trusted_ca_pem, str) else bytes(trusted_ca_pem)
    return list(_load_cas(data))


@functools.lru_cache(maxsize=16)
def _load_cas(data: bytes) -> tuple[x509.Certificate, ...]:
    """Parsed once per bundle: a server verifies a VIHF on every request."""
    try:
        cas = x509.load_pem_x509_certificates(data)
    except ValueError:
        raise CertificateError(
            "autorités de confiance: PEM illisible", code="certificate_format"
        ) from None
    return tuple(cas)


@functools.lru_cache(maxsize=256)
def issued_by(cert: x509.Certificate, ca: x509.Certificate) -> bool:
    """``cert`` is signed by ``ca`` (cached: the same signer comes back on every request)."""
    if ca.subject != cert.issuer:
        return False
    try:
        cert.verify_directly_issued_by(ca)
    except (CryptoInvalidSignature, ValueError, TypeError):
        return False
    return True


def _check_trust(
    cert: x509.Certificate, cas: list[x509.Certificate], now: dt.datetime | None
) -> None:
    """Check that ``cert`` is issued by one of ``cas`` and valid at ``now`` (both)."""
    check_validity(cert, now)
    for ca in cas:
        if not issued_by(cert, ca):
            continue
        check_validity(ca, now)
        return
    raise CertificateError(
        f"signataire non reconnu (émetteur hors confiance): {cert.subject.rfc4514_string()}",
        code="certificate_untrusted",
    )


def _key_info_certificate(signature: etree._Element) -> x509.Certificate:
    node = signature.find(f"{{{DS_NS}}}KeyInfo/{{{DS_NS}}}X509Data/{{{DS_NS}}}X509Certificate")
    text = node.text if node is not None else None
    if not text or not text.strip():
        raise DmpError("VIHF: KeyInfo/X509Certificate manquant", code="vihf_signature")
    try:
        return x509.load_der_x509_certificate(base64.b64decode("".join(text.split())))
    except ValueError:
        raise DmpError("VIHF: certificat KeyInfo illisible", code="vihf_signature") from None


def verify_vihf(
    assertion: etree._Element | bytes,
    trusted_ca_pem: bytes | str,
    *,
    now: dt.datetime | None = None,
    allow_sha1: bool = False,
    check_structure: bool = True,
) -> VerifiedVihf:
    """Verify the enveloped signature of a VIHF and return its typed content.

    The signer certificate (``KeyInfo``) must be issued by a CA of ``trusted_ca_pem`` and valid
    at ``now``; the single Reference must cover the whole assertion; with ``check_structure``
    the ``Identifiant_Structure`` must equal the certificate's ``OU`` (indirect modes).
    ``allow_sha1`` accepts the RSA-SHA1 of the 2019 samples.

    Raise :class:`CertificateError` (untrusted, expired signer) or :class:`DmpError`
    (``vihf_unsigned``, ``vihf_signature``: tampered or malformed, ``vihf_structure``).
    """
    root = _element(assertion)
    if root.tag != f"{{{SAML_NS}}}Assertion":
        raise DmpError(f"VIHF: saml2:Assertion attendu, trouvé {root.tag}", code="vihf_format")
    signatures = root.findall(f"{{{DS_NS}}}Signature")
    if not signatures:
        raise DmpError("VIHF non signé", code="vihf_unsigned")
    if len(signatures) > 1:
        raise DmpError("VIHF: plusieurs signatures", code="vihf_signature")
    cert = _key_info_certificate(signatures[0])
    _check_trust(cert, load_trusted_cas(trusted_ca_pem), now)
    methods = {SignatureMethod.RSA_SHA256, SignatureMethod.RSA_SHA384, SignatureMethod.RSA_SHA512}
    digests = {DigestAlgorithm.SHA256, DigestAlgorithm.SHA384, DigestAlgorithm.SHA512}
    if allow_sha1:
        methods.add(SignatureMethod.RSA_SHA1)
        digests.add(DigestAlgorithm.SHA1)
    config = SignatureConfiguration(
        location="./",
        expect_references=1,
        signature_methods=frozenset(methods),
        digest_algorithms=frozenset(digests),
        verification_time=now,
        default_reference_c14n_method=_EXC_C14N,
    )
    # signxml re-serialises the tree: give it a standalone copy of the assertion
    document = etree.fromstring(etree.tostring(root))
    try:
        result = XMLVerifier().verify(
            document, x509_cert=cert, id_attribute="ID", expect_config=config
        )
    except InvalidCertificate as exc:
        raise CertificateError(
            f"VIHF: certificat refusé: {exc}", code="certificate_invalid"
        ) from None
    except (InvalidSignature, InvalidInput) as exc:
        raise DmpError(f"VIHF: signature invalide: {exc}", code="vihf_signature") from None
    if isinstance(result, list):
        raise DmpError("VIHF: plusieurs références signées", code="vihf_signature")
    signed = result.signed_xml
    if signed is None or signed.tag != root.tag or signed.get("ID") != root.get("ID"):
        raise DmpError("VIHF: la signature ne couvre pas l'assertion", code="vihf_signature")
    # read what was signed, not the surrounding document
    token = read_vihf(signed)
    if check_structure and token.mode != "DIRECTE":
        ou = [
            str(a.value)
            for a in cert.subject.get_attributes_for_oid(x509.NameOID.ORGANIZATIONAL_UNIT_NAME)
        ]
        if token.structure_id not in ou:
            raise DmpError(
                f"VIHF: Identifiant_Structure {token.structure_id!r} absent de l'OU du "
                f"certificat signataire {ou}",
                code="vihf_structure",
            )
    sig_info = signatures[0].find(f"{{{DS_NS}}}SignedInfo")
    method = digest = ""
    if sig_info is not None:
        sm = sig_info.find(f"{{{DS_NS}}}SignatureMethod")
        dm = sig_info.find(f"{{{DS_NS}}}Reference/{{{DS_NS}}}DigestMethod")
        method = sm.get("Algorithm", "") if sm is not None else ""
        digest = dm.get("Algorithm", "") if dm is not None else ""
    return VerifiedVihf(
        token=dataclasses.replace(token, signed=True),
        certificate=cert,
        signer_subject=cert.subject.rfc4514_string(),
        signature_method=method,
        digest_method=digest,
    )
