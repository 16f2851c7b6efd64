"""IGC Santé certificates: PKCS#12 loading, roles, trust, revocation and a test PKI.

A healthcare structure talks to the national services with IGC Santé certificates issued to the
legal person, whose ``OU`` is the structure's national identifier (``IdNat_Struct``, e.g.
``10B0127189`` or ``3`` + SIRET):

* ``ORG AUTH_CLI`` — TLS client authentication (EKU ``clientAuth``); for the INSi its CN must be
  ``INSI-AUTO`` or ``INSI-MANU`` (:func:`check_insi_cn`);
* ``ORG SIGN`` ("cachet") — signs the VIHF and the XAdES document of a DMP submission
  (key usage ``nonRepudiation``, EKU ``emailProtection`` in the official samples).

:func:`load_pkcs12` turns the ``.p12`` file delivered by the ANS into a :class:`Credential`;
:class:`OrgCertificate` / :func:`check_role` tell the roles apart; :class:`TrustStore` verifies
chains against the configured IGC Santé roots; :class:`RevocationChecker` checks OCSP and CRLs
(:class:`CrlCache` keeps the last valid CRL); :func:`generate_igc_test_pki` writes a test PKI.
The private key is never rendered by ``repr()``/``str()`` and is only written to disk
(mode 0600) by :meth:`Credential.write_pem`.
"""

from __future__ import annotations

from segur_ris.certificates._pkcs12 import (
    Credential,
    PemFiles,
    PrivateKey,
    check_validity,
    load_pkcs12,
)
from segur_ris.certificates._revocation import (
    CrlCache,
    CrlFetcher,
    OcspPoster,
    OcspResult,
    RevocationChecker,
    RevocationStatus,
    build_ocsp_request,
    check_crl,
    crl_urls,
    ocsp_urls,
    parse_crl,
    parse_ocsp_response,
)
from segur_ris.certificates._roles import (
    INSI_CNS,
    OrgCertificate,
    OrgRole,
    check_insi_cn,
    check_role,
    check_tls_server,
)
from segur_ris.certificates._testpki import IgcTestPki, TestPkiEntry, generate_igc_test_pki
from segur_ris.certificates._trust import (
    IGC_SANTE_PRODUCTION,
    IGC_SANTE_TEST,
    IgcSanteAuthority,
    IgcSanteTrustConfig,
    TrustStore,
)

__all__ = [
    "IGC_SANTE_PRODUCTION",
    "IGC_SANTE_TEST",
    "INSI_CNS",
    "Credential",
    "CrlCache",
    "CrlFetcher",
    "IgcSanteAuthority",
    "IgcSanteTrustConfig",
    "IgcTestPki",
    "OcspPoster",
    "OcspResult",
    "OrgCertificate",
    "OrgRole",
    "PemFiles",
    "PrivateKey",
    "RevocationChecker",
    "RevocationStatus",
    "TestPkiEntry",
    "TrustStore",
    "build_ocsp_request",
    "check_crl",
    "check_insi_cn",
    "check_role",
    "check_tls_server",
    "check_validity",
    "crl_urls",
    "generate_igc_test_pki",
    "load_pkcs12",
    "ocsp_urls",
    "parse_crl",
    "parse_ocsp_response",
]
