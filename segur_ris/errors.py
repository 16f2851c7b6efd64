"""One exception tree for the whole SDK.

Every error raised by ``segur_ris`` derives from :class:`SegurError`. Each domain has its own
branch, and an error carries the national code where one exists (INSi ``siram`` codes, IHE XDS
error codes, HL7 v2 acknowledgement codes, DICOM statuses) in :attr:`SegurError.code`.

Catch :class:`SegurError` to handle anything the SDK raises; catch a branch (``InsError``,
``InsiError``…) to handle one domain; read ``code`` to act on the national code.
"""

from __future__ import annotations

__all__ = [
    "CdaError",
    "CdaValidationError",
    "CertificateError",
    "CertificateExpiredError",
    "CertificateRevokedError",
    "CertificateTrustError",
    "CertificateUsageError",
    "ConfigError",
    "DicomAssociationError",
    "DicomError",
    "DicomQueryError",
    "DmpError",
    "Hl7Error",
    "Hl7ParseError",
    "IdentityStatusError",
    "IdentityTraitsError",
    "InsError",
    "InsNotQualifiedError",
    "InsiError",
    "InsiFault",
    "InsiResponseError",
    "InsiTimeout",
    "InsiTransportError",
    "InvalidMatriculeError",
    "KosError",
    "MllpError",
    "MllpTimeout",
    "MssanteAckError",
    "MssanteAddressError",
    "MssanteError",
    "MssanteMailError",
    "MssanteSizeError",
    "MssanteTransportError",
    "MtomError",
    "OutboxError",
    "PdfError",
    "PscAuthorizationError",
    "PscDiscoveryError",
    "PscError",
    "PscTokenError",
    "PscTransportError",
    "RevocationUnavailableError",
    "SegurError",
    "TransportError",
    "TransportTimeout",
    "UnsafeXmlError",
    "WorklistError",
    "XdmError",
    "XdsError",
    "XdsMetadataError",
    "XdsRegistryError",
    "XmlError",
]


class SegurError(Exception):
    """Base of every error raised by segur_ris.

    ``code`` is the national or standard code of the error when there is one (for example
    ``"insi_102"``, ``"XDSRegistryError"``, ``"AE"``, ``"0xA700"``); ``None`` otherwise.
    """

    def __init__(self, message: str, *, code: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.code = code

    def __str__(self) -> str:
        return f"[{self.code}] {self.message}" if self.code else self.message


# --- shared ---------------------------------------------------------------------------------


class ConfigError(SegurError):
    """Invalid or incomplete configuration (environment, endpoint, LPS identifiers, files)."""


class XmlError(SegurError):
    """An XML document could not be parsed or does not have the expected structure."""


class UnsafeXmlError(XmlError):
    """An XML document was refused because it declares a DTD or entities (XXE protection)."""


class TransportError(SegurError):
    """A network exchange failed (connection, TLS handshake, HTTP status)."""


class TransportTimeout(TransportError):
    """A network exchange did not complete in time."""


class CertificateError(SegurError):
    """A certificate or private key is unusable (format, trust, validity, revocation, role)."""


class CertificateExpiredError(CertificateError):
    """A certificate is outside its validity period (expired or not yet valid)."""


class CertificateRevokedError(CertificateError):
    """A certificate is revoked (CRL or OCSP); ``code`` is the revocation reason when known."""


class CertificateUsageError(CertificateError):
    """A certificate is used for a role it was not issued for (key usage, EKU, INSi CN rule)."""


class CertificateTrustError(CertificateError):
    """A certificate does not chain to a configured trust anchor (IGC Santé roots)."""


class RevocationUnavailableError(CertificateError):
    """No usable revocation information (CRL unreachable and no valid cached CRL, OCSP down)."""


# --- INS (identité nationale de santé) ------------------------------------------------------


class InsError(SegurError):
    """Errors of the INS domain (matricule, traits, identity status)."""


class InvalidMatriculeError(InsError, ValueError):
    """A matricule INS (NIR/NIA + key) breaks a rule; ``rule`` names which one."""

    def __init__(self, message: str, *, rule: str) -> None:
        super().__init__(message, code=rule)
        self.rule = rule


class IdentityTraitsError(InsError, ValueError):
    """Identity traits (nom de naissance, prénoms, sexe, date/lieu de naissance) are invalid.

    ``field`` names the trait at fault.
    """

    def __init__(self, message: str, *, field: str) -> None:
        super().__init__(message, code=field)
        self.field = field


class IdentityStatusError(InsError):
    """A change of identity status is not allowed by the RNIV rules."""


class InsNotQualifiedError(IdentityStatusError):
    """The INS of a non-qualified identity was about to be exported (forbidden by the RNIV)."""


# --- INSi (téléservice CNAM) ----------------------------------------------------------------


class InsiError(SegurError):
    """Errors of the INSi teleservice client."""


class InsiFault(InsiError):
    """The INSi answered with a SOAP fault.

    ``code`` is the ``siram:Erreur/@code`` (``insi_102``, ``desir_560``…) when present, else the
    SOAP subcode (``siram_40``…); ``subcode`` is the SOAP 1.2 ``Subcode/Value`` and ``severity``
    the ``siram:Erreur/@severite`` (``erreur``, ``fatale``…).
    """

    def __init__(
        self,
        message: str,
        *,
        code: str | None,
        subcode: str | None = None,
        severity: str | None = None,
    ) -> None:
        super().__init__(message, code=code)
        self.subcode = subcode
        self.severity = severity


class InsiResponseError(InsiError, XmlError):
    """The INSi answer is malformed or unexpected (not SOAP, wrong body, invalid values)."""


class InsiTransportError(InsiError, TransportError):
    """The INSi could not be reached or the exchange broke (TLS, HTTP status)."""


class InsiTimeout(InsiTransportError, TransportTimeout):
    """The INSi did not answer in time."""


# --- other national services (branches filled by their subpackages) -------------------------


class Hl7Error(SegurError):
    """HL7 v2 errors; ``code`` is the acknowledgement code (``AE``/``AR``) or a table 0357 code."""


class Hl7ParseError(Hl7Error, ValueError):
    """An ER7 message cannot be read (no MSH, bad encoding characters, undecodable text…).

    ``code`` is the HL7 table 0357 error code (``100`` segment sequence error, ``102`` data type
    error, ``207`` application internal error…); ``segment``/``field`` locate the problem
    when known.
    """

    def __init__(
        self,
        message: str,
        *,
        code: str | None = "102",
        segment: str | None = None,
        field: int | None = None,
    ) -> None:
        super().__init__(message, code=code)
        self.segment = segment
        self.field = field


class MllpError(Hl7Error, TransportError):
    """MLLP framing or connection error (oversize frame, bytes outside a frame, peer gone)."""


class MllpTimeout(MllpError, TransportTimeout):
    """An MLLP peer did not send or answer in time."""


class CdaError(SegurError):
    """CDA R2 CR-IMG building or validation errors."""


class CdaValidationError(CdaError):
    """The validation machinery failed (unusable kit file, Saxon static error, engine fault).

    ``code`` is the Saxon error code (``XTSE0010``…) when there is one. Problems *in the
    document* are findings of the validation report, not this error.
    """


class PdfError(SegurError):
    """PDF/A rendering errors."""


class XdsError(SegurError):
    """IHE XDS.b errors; ``code`` is the IHE error code (``XDSRegistryError``…)."""


class XdsMetadataError(XdsError):
    """A metadata value is missing or outside its value set (JDV).

    ``field`` names the XDS attribute (e.g. ``practiceSettingCode``), ``value`` the refused
    value and ``value_set`` the JDV it was checked against (empty when not a value-set check).
    ``code`` is the IHE error code ``XDSRegistryMetadataError``.
    """

    def __init__(self, message: str, *, field: str, value: str = "", value_set: str = "") -> None:
        super().__init__(message, code="XDSRegistryMetadataError")
        self.field = field
        self.value = value
        self.value_set = value_set


class XdsRegistryError(XdsError):
    """A registry or repository answered with errors (``RegistryErrorList``).

    ``code`` is the first error's ``errorCode`` (``XDSUnknownPatientId``…); ``severity`` and
    ``location`` are the first error's; ``errors`` holds every registry error of the list
    (:class:`segur_ris.xds.RegistryError`), warnings included.
    """

    def __init__(
        self,
        message: str,
        *,
        code: str | None,
        errors: tuple[object, ...] = (),
        status: str = "",
        severity: str = "",
        location: str = "",
    ) -> None:
        super().__init__(message, code=code)
        self.errors = errors
        self.status = status
        self.severity = severity
        self.location = location


class MtomError(XdsError, XmlError):
    """A MTOM/XOP message is malformed, oversized or inconsistent.

    ``code`` says what is wrong: ``content-type``, ``boundary``, ``truncated``, ``header``,
    ``start``, ``duplicate-cid``, ``encoding``, ``size``, ``parts``, ``include``, ``base64``,
    ``xml``.
    """


class DmpError(XdsError):
    """DMP (Mon espace santé) errors, including the DMP-specific error codes."""


class MssanteError(SegurError):
    """MSSanté (XDM package, mail, SMTP/IMAP, acknowledgements) errors."""


class XdmError(MssanteError):
    """An IHE XDM package is malformed or hostile (path traversal, size, hash, metadata).

    ``code`` says what is wrong (``path``, ``size``, ``count``, ``hash``, ``metadata``…).
    """


class MssanteMailError(MssanteError):
    """A mail cannot be composed as asked (two patients, missing document, bad address)."""


class MssanteAddressError(MssanteMailError):
    """An MSSanté address is invalid, or a patient address was asked for a non-qualified INS."""


class MssanteSizeError(MssanteMailError):
    """A mail exceeds the size accepted by the recipient's domain (25 MB for Mon espace santé)."""


class MssanteTransportError(MssanteError, TransportError):
    """SMTP/IMAP exchange failed; ``code`` is the SMTP reply or enhanced status when known."""


class MssanteAckError(MssanteError):
    """An acknowledgement (MDN RFC 8098, DSN RFC 3464) cannot be read."""


class DicomError(SegurError):
    """DICOM errors; ``code`` is the DICOM status (``0xA700``…) when there is one."""


class WorklistError(DicomError):
    """An order cannot become a Modality Worklist item, or the worklist store refused it."""


class DicomQueryError(DicomError):
    """A C-FIND query identifier is malformed or unsupported; ``code`` is the DICOM status."""


class DicomAssociationError(DicomError, TransportError):
    """A DICOM association failed (rejected, aborted, dropped)."""


class KosError(DicomError):
    """A Key Object Selection manifest cannot be built or read."""


class PscError(SegurError):
    """Pro Santé Connect (OIDC) errors."""


class PscDiscoveryError(PscError):
    """The provider's discovery document or JWKS is unreachable or invalid."""


class PscAuthorizationError(PscError):
    """The authorization step failed (error answer, state mismatch, refused by the user)."""


class PscTokenError(PscError):
    """A token or signed userinfo is invalid (signature, expiry, audience, issuer, nonce)."""


class PscTransportError(PscError, TransportError):
    """An exchange with the provider failed (connection, TLS, HTTP status)."""


# --- outbox (durable delivery) -------------------------------------------------------------


class OutboxError(SegurError):
    """The durable outbox cannot accept, claim or record a delivery job."""
