"""Enveloped XML-DSig of the VIHF assertion (indirect modes): signature and verification.

Algorithms: exclusive c14n (``CanonicalizationMethod`` and the Reference transform, after the
enveloped-signature transform), RSA-SHA256 over SHA-256 digests, ``KeyInfo/X509Data`` carrying the
structure's ORG SIGN certificate. The ``ds:Signature`` is placed right after ``saml2:Issuer`` as
the SAML schema requires. :func:`verify_vihf` accepts that profile only (RSA-SHA384/512 too, and
RSA-SHA1 on request); signxml and ``xmlsec1`` cross-check both sides in the tests.
"""

from __future__ import annotations

import base64
import copy
import dataclasses
import datetime as dt
import functools
import hashlib
import hmac
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from cryptography import x509
from cryptography.exceptions import InvalidSignature as CryptoInvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from lxml import etree

from segur_ris._xml import parse_xml
from segur_ris.certificates import Credential, check_validity
from segur_ris.errors import CertificateError, DmpError
from segur_ris.vihf._assertion import DS_NS, SAML_NS, VihfToken, read_vihf
from segur_ris.vihf._xades import c14n_subtree

__all__ = ["VerifiedVihf", "load_trusted_cas", "sign_vihf", "verify_vihf"]


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
        return etree.tostring(element, method="c14n", exclusive=True, with_comments=False)
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
    canonical = etree.tostring(info, method="c14n", exclusive=True, with_comments=False)
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


# --- verification ---------------------------------------------------------------------------
#
# signxml verified the VIHF for ~1.3 ms (it parses and serialises the assertion about six times,
# on every DMP request the sandbox answers). The VIHF signature has one fixed shape (the one
# _enveloped_signature writes, which the official samples share): it is checked here with
# lxml's exclusive c14n and ``cryptography``. Anything outside that profile is refused
# (``vihf_signature``) rather than handed to a general-purpose verifier: a second, rarely used
# path would accept shapes (several references, ds:Object, XPath transforms…) that only widen
# what an attacker can try, and no VIHF producer needs them.

_NS_EXC_C14N = _ALG_EXC_C14N  # namespace of ec:InclusiveNamespaces = the algorithm URI
_SIGNATURE_HASHES: dict[str, type[hashes.HashAlgorithm]] = {
    _ALG_RSA_SHA256: hashes.SHA256,
    "http://www.w3.org/2001/04/xmldsig-more#rsa-sha384": hashes.SHA384,
    "http://www.w3.org/2001/04/xmldsig-more#rsa-sha512": hashes.SHA512,
}
_RSA_SHA1 = "http://www.w3.org/2000/09/xmldsig#rsa-sha1"
_DIGESTS = {
    _ALG_SHA256: "sha256",
    "http://www.w3.org/2001/04/xmldsig-more#sha384": "sha384",
    "http://www.w3.org/2001/04/xmlenc#sha512": "sha512",
}
_SHA1 = "http://www.w3.org/2000/09/xmldsig#sha1"
_DS = f"{{{DS_NS}}}"
# the assertion's ID must be unique: as ``ID`` in the whole document (a SOAP message: the
# attribute SAML references resolve against), and under any identifier name (``ID``, ``Id``,
# ``wsu:Id``, ``id``, ``xml:id``) inside the assertion. Two XPath scans, not one over every
# attribute of the message with a name test: that one costs ~0.1 ms per request.
_SAME_ID = etree.XPath("count(//@ID[. = $value])")
_INNER_EQUAL = etree.XPath("descendant::*/@*[. = $value]")
_ID_NAMES = frozenset({"ID", "Id", "id"})


@dataclass(frozen=True, slots=True)
class _SignedInfo:
    """What a ``ds:SignedInfo`` of the VIHF profile says (see :func:`_signed_info`)."""

    c14n_prefixes: tuple[str, ...]
    signature_method: str
    signature_hash: type[hashes.HashAlgorithm]
    reference_uri: str
    transform_prefixes: tuple[str, ...]
    digest_method: str
    digest_name: str
    digest_value: bytes
    signature_value: bytes


def _refused(reason: str) -> DmpError:
    return DmpError(f"VIHF: signature invalide: {reason}", code="vihf_signature")


def _elements(parent: etree._Element) -> list[etree._Element]:
    """Element children (comments and processing instructions are not part of the profile's
    structure; exclusive c14n without comments drops them anyway)."""
    return [child for child in parent if isinstance(child.tag, str)]


def _shape(parent: etree._Element, *names: str) -> list[etree._Element]:
    """The element children of ``parent``, which must be exactly ``ds:<names>`` in order."""
    children = _elements(parent)
    if [child.tag for child in children] != [f"{_DS}{name}" for name in names]:
        found = ", ".join(etree.QName(child).localname for child in children) or "rien"
        raise _refused(
            f"{etree.QName(parent).localname}: attendu {', '.join(names)}, trouvé {found}"
        )
    return children


def _b64(element: etree._Element, what: str) -> bytes:
    text = "".join((element.text or "").split())
    try:
        value = base64.b64decode(text, validate=True)
    except ValueError:
        raise _refused(f"{what}: base64 invalide") from None
    if not value:
        raise _refused(f"{what} vide")
    return value


def _exc_c14n_prefixes(method: etree._Element) -> tuple[str, ...]:
    """Check that ``method`` names exclusive c14n (without comments) and return the
    ``InclusiveNamespaces/@PrefixList`` it may carry."""
    if method.get("Algorithm") != _ALG_EXC_C14N:
        raise _refused(f"canonicalisation {method.get('Algorithm')!r} hors profil (exc-c14n)")
    children = _elements(method)
    if not children:
        return ()
    inclusive = children[0]
    if len(children) > 1 or inclusive.tag != f"{{{_NS_EXC_C14N}}}InclusiveNamespaces":
        raise _refused("paramètres de canonicalisation inattendus")
    return tuple(inclusive.get("PrefixList", "").split())


def _algorithm(
    element: etree._Element, known: Mapping[str, object], sha1: str, allowed: bool
) -> str:
    value = element.get("Algorithm", "")
    if _elements(element):
        raise _refused(f"{etree.QName(element).localname}: paramètres inattendus")
    if value in known or (allowed and value == sha1):
        return value
    if value == sha1:
        raise _refused(f"{value} refusé (SHA-1 non autorisé)")
    raise _refused(f"algorithme {value!r} hors profil")


def _signed_info(signature: etree._Element, allow_sha1: bool) -> _SignedInfo:
    """Read ``signature``, refusing anything but the VIHF profile: ``SignedInfo`` (exc-c14n,
    RSA-SHA2, one ``Reference`` with exactly the enveloped-signature then exc-c14n transforms),
    ``SignatureValue``, optional ``KeyInfo``; no ``ds:Object`` (it could carry a second copy of
    signed content)."""
    children = _elements(signature)
    if [child.tag for child in children] not in (
        [f"{_DS}SignedInfo", f"{_DS}SignatureValue"],
        [f"{_DS}SignedInfo", f"{_DS}SignatureValue", f"{_DS}KeyInfo"],
    ):
        raise _refused("ds:Signature: attendu SignedInfo, SignatureValue, KeyInfo")
    signed_info, signature_value = children[0], children[1]
    c14n, method, reference = _shape(
        signed_info, "CanonicalizationMethod", "SignatureMethod", "Reference"
    )
    signature_method = _algorithm(method, _SIGNATURE_HASHES, _RSA_SHA1, allow_sha1)
    transforms, digest_method, digest_value = _shape(
        reference, "Transforms", "DigestMethod", "DigestValue"
    )
    enveloped, exclusive = _shape(transforms, "Transform", "Transform")
    if enveloped.get("Algorithm") != _ALG_ENVELOPED or _elements(enveloped):
        raise _refused("transformations attendues: enveloped-signature puis exc-c14n")
    digest = _algorithm(digest_method, _DIGESTS, _SHA1, allow_sha1)
    return _SignedInfo(
        c14n_prefixes=_exc_c14n_prefixes(c14n),
        signature_method=signature_method,
        signature_hash=_SIGNATURE_HASHES.get(signature_method, hashes.SHA1),
        reference_uri=reference.get("URI", ""),
        transform_prefixes=_exc_c14n_prefixes(exclusive),
        digest_method=digest,
        digest_name=_DIGESTS.get(digest, "sha1"),
        digest_value=_b64(digest_value, "DigestValue"),
        signature_value=_b64(signature_value, "SignatureValue"),
    )


def _standalone(element: etree._Element, *, owned: bool, whole_scope: bool) -> etree._Element:
    """``element`` as the root of a document of its own, safe to modify.

    ``owned``: ``element`` was parsed here, use it as is when it is alone in its document. A
    deep copy declares the namespaces the subtree uses; ``whole_scope`` (an InclusiveNamespaces
    PrefixList may name a prefix declared only on an ancestor) serialises and re-parses instead,
    which declares every in-scope namespace on the copy.
    """
    if owned and element.getprevious() is None and element.getnext() is None:
        return element
    if whole_scope and element.getparent() is not None:
        return parse_xml(etree.tostring(element, with_tail=False), what="VIHF")
    copied = copy.deepcopy(element)
    copied.tail = None
    return copied


def _canonical(element: etree._Element, prefixes: tuple[str, ...]) -> bytes:
    """Exclusive c14n of ``element``, the root of its document (no comments: lxml keeps them
    unless told, the algorithm URI is the one without). A tree c14n cannot write (a relative
    namespace URI) is refused, typed."""
    try:
        return etree.tostring(
            element,
            method="c14n",
            exclusive=True,
            with_comments=False,
            inclusive_ns_prefixes=list(prefixes) or None,
        )
    except (etree.C14NError, ValueError) as exc:
        raise _refused(f"canonicalisation impossible: {exc}") from None


def _detach(signature: etree._Element) -> None:
    """The enveloped-signature transform: drop ``signature``, keep the text that follows it
    (lxml removes an element together with its tail)."""
    parent = signature.getparent()
    assert parent is not None  # a child of the assertion, checked by the caller
    if signature.tail:
        previous = signature.getprevious()
        if previous is not None:
            previous.tail = (previous.tail or "") + signature.tail
        else:
            parent.text = (parent.text or "") + signature.tail
    parent.remove(signature)


@functools.lru_cache(maxsize=64)
def _certificate(der_b64: str) -> x509.Certificate:
    """The KeyInfo certificate (cached: the same signer comes back on every request)."""
    try:
        return x509.load_der_x509_certificate(base64.b64decode(der_b64, validate=True))
    except ValueError:
        raise DmpError("VIHF: certificat KeyInfo illisible", code="vihf_signature") from None


def _key_info_certificate(signature: etree._Element) -> x509.Certificate:
    node = signature.find(f"{_DS}KeyInfo/{_DS}X509Data/{_DS}X509Certificate")
    text = node.text if node is not None else None
    if not text or not text.strip():
        raise DmpError("VIHF: KeyInfo/X509Certificate manquant", code="vihf_signature")
    return _certificate("".join(text.split()))


def _id_unique(root: etree._Element, ident: str) -> bool:
    """``ident`` identifies ``root`` only (see ``_SAME_ID``)."""
    if _SAME_ID(root, value=ident) != 1:
        return False
    inner: Any = _INNER_EQUAL(root, value=ident)
    return not any(etree.QName(value.attrname).localname in _ID_NAMES for value in inner)


@functools.lru_cache(maxsize=64)
def _signer(cert: x509.Certificate) -> tuple[str, tuple[str, ...]]:
    """The subject (RFC 4514) and ``OU`` values of a signer (cached, like :func:`issued_by`)."""
    ou = cert.subject.get_attributes_for_oid(x509.NameOID.ORGANIZATIONAL_UNIT_NAME)
    return cert.subject.rfc4514_string(), tuple(str(a.value) for a in ou)


def _check_value(cert: x509.Certificate, info: _SignedInfo, canonical_info: bytes) -> None:
    key = cert.public_key()
    if not isinstance(key, rsa.RSAPublicKey):
        raise _refused("clé du certificat signataire non RSA")
    try:
        key.verify(info.signature_value, canonical_info, padding.PKCS1v15(), info.signature_hash())
    except CryptoInvalidSignature:
        raise _refused("SignatureValue ne correspond pas à SignedInfo") from None


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
    at ``now``. The signature must be the assertion's only ``ds:Signature``, right after
    ``saml2:Issuer``, with one Reference whose URI is ``#`` + the assertion's ``ID`` (an ID no
    other element of the document carries), transforms enveloped-signature then exc-c14n,
    SignedInfo in exc-c14n, RSA-SHA256/384/512 (``allow_sha1``: RSA-SHA1 and SHA-1 digests, the
    2019 samples). The token is read from the very tree whose digest was checked. With
    ``check_structure`` the ``Identifiant_Structure`` must equal the certificate's ``OU``
    (indirect modes).

    Raise :class:`CertificateError` (untrusted, expired signer) or :class:`DmpError`
    (``vihf_unsigned``, ``vihf_signature``: tampered, malformed or outside the profile,
    ``vihf_structure``).
    """
    root = _element(assertion)
    if root.tag != f"{{{SAML_NS}}}Assertion":
        raise DmpError(f"VIHF: saml2:Assertion attendu, trouvé {root.tag}", code="vihf_format")
    signatures = root.findall(f"{_DS}Signature")
    if not signatures:
        if root.find(f".//{_DS}Signature") is not None:
            raise _refused("ds:Signature n'est pas un enfant de l'assertion")
        raise DmpError("VIHF non signé", code="vihf_unsigned")
    if len(signatures) > 1:
        raise DmpError("VIHF: plusieurs signatures", code="vihf_signature")
    cert = _key_info_certificate(signatures[0])
    _check_trust(cert, load_trusted_cas(trusted_ca_pem), now)
    info = _signed_info(signatures[0], allow_sha1)
    previous = signatures[0].getprevious()
    while previous is not None and not isinstance(previous.tag, str):
        previous = previous.getprevious()
    if previous is None or previous.tag != f"{{{SAML_NS}}}Issuer":
        raise _refused("ds:Signature doit suivre saml2:Issuer")
    ident = root.get("ID", "")
    if not ident or info.reference_uri != f"#{ident}":
        raise _refused(f"la référence {info.reference_uri!r} ne désigne pas l'assertion")
    # signature wrapping: the reference may resolve to the assertion only
    if not _id_unique(root, ident):
        raise _refused(f"identifiant {ident!r} porté par plusieurs éléments")
    signed = _standalone(
        root,
        owned=not isinstance(assertion, etree._Element),
        whole_scope=bool(info.c14n_prefixes or info.transform_prefixes),
    )
    signature = signed.find(f"{_DS}Signature")
    assert signature is not None  # the copy of signatures[0]
    signed_info = _standalone(
        _elements(signature)[0], owned=False, whole_scope=bool(info.c14n_prefixes)
    )
    canonical_info = _canonical(signed_info, info.c14n_prefixes)
    _detach(signature)
    digest = hashlib.new(info.digest_name, _canonical(signed, info.transform_prefixes)).digest()
    if not hmac.compare_digest(digest, info.digest_value):
        raise _refused("empreinte de l'assertion différente (contenu modifié)")
    _check_value(cert, info, canonical_info)
    # read what was digested (a copy), not the caller's tree; c14n drops comments, so a comment
    # inserted into a signed value (``8999<!---->00063480``) leaves the digest intact while
    # ``.text`` would stop at it: the comments go before anything is read
    etree.strip_tags(signed, etree.Comment)
    token = read_vihf(signed)
    subject, ou = _signer(cert)
    if token.mode == "DIRECTE":
        # the direct mode (CPS) is not signed: a signed "DIRECTE" would skip the structure check
        raise _refused("un VIHF en mode DIRECTE n'est pas signé (authentification par la CPS)")
    if check_structure and token.structure_id not in ou:
        raise DmpError(
            f"VIHF: Identifiant_Structure {token.structure_id!r} absent de l'OU du "
            f"certificat signataire {list(ou)}",
            code="vihf_structure",
        )
    return VerifiedVihf(
        token=dataclasses.replace(token, signed=True),
        certificate=cert,
        signer_subject=subject,
        signature_method=info.signature_method,
        digest_method=info.digest_method,
    )
