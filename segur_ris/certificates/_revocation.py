"""Revocation checking: CRLs (cached on disk, last valid one kept) and OCSP.

Sans-IO core: :func:`parse_crl` / :func:`check_crl` (signature by the issuer, dates),
:func:`build_ocsp_request` / :func:`parse_ocsp_response` (signature by the issuer or a delegated
responder, certificate identifier, dates). The network is reached only through swappable
callables (:class:`CrlFetcher`, :class:`OcspPoster`); the defaults use ``requests``.

:class:`CrlCache` keeps the last valid CRL of each distribution point in memory and in a
directory: when a refresh fails (server down, forged or stale answer) the cached CRL is used as
long as its ``nextUpdate`` has not passed (MSSanté ECO.1.1.7: "conserver la dernière LCR
valide"); after that, :class:`~segur_ris.errors.RevocationUnavailableError`.
:class:`RevocationChecker` asks the OCSP responder named by the certificate (AIA) first, then
falls back to the CRL distribution points.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import functools
import hashlib
import itertools
import logging
import os
import ssl
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, Protocol

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.x509 import ocsp
from cryptography.x509.oid import AuthorityInformationAccessOID, ExtendedKeyUsageOID

from segur_ris.errors import (
    CertificateError,
    CertificateRevokedError,
    RevocationUnavailableError,
    SegurError,
    TransportError,
)

__all__ = [
    "CrlCache",
    "CrlFetcher",
    "OcspPoster",
    "OcspResult",
    "RevocationChecker",
    "RevocationStatus",
    "build_ocsp_request",
    "check_crl",
    "crl_urls",
    "ocsp_urls",
    "parse_crl",
    "parse_ocsp_response",
]

_log = logging.getLogger(__name__)
StrPath = str | os.PathLike[str]
#: Tolerated clock difference with CRL / OCSP issuers.
CLOCK_SKEW = dt.timedelta(minutes=5)
#: Largest CRL or OCSP answer read (IGC Santé CRLs are a few MB at most).
MAX_DOWNLOAD = 64 * 1024 * 1024


class CrlFetcher(Protocol):
    """Downloads a CRL: returns its bytes (DER or PEM) or raises."""

    def __call__(self, url: str, timeout: float) -> bytes: ...


class OcspPoster(Protocol):
    """Sends a DER OCSP request (``application/ocsp-request``), returns the DER answer."""

    def __call__(self, url: str, body: bytes, timeout: float) -> bytes: ...


def _read_limited(response: object, url: str) -> bytes:
    import requests

    assert isinstance(response, requests.Response)
    with response:
        if response.status_code != 200:
            raise TransportError(f"HTTP {response.status_code} pour {url}", code="http")
        chunks: list[bytes] = []
        size = 0
        for chunk in response.iter_content(65536):
            size += len(chunk)
            if size > MAX_DOWNLOAD:
                raise TransportError(f"réponse trop volumineuse pour {url}", code="size")
            chunks.append(chunk)
        return b"".join(chunks)


@functools.cache
def _https_context() -> ssl.SSLContext:
    """The TLS context of CRL/OCSP downloads over HTTPS: :func:`segur_ris.tls.client_context`
    with the system trust store (CRLs and OCSP answers are signed; TLS only protects their
    transport). Built once: loading the system store is slow."""
    from segur_ris.tls import client_context

    return client_context()


def _session() -> Any:
    """A ``requests`` session whose HTTPS connections use :func:`_https_context`."""
    import requests

    from segur_ris.transport import context_adapter

    session = requests.Session()
    session.mount("https://", context_adapter(_https_context()))
    return session


def requests_fetch(url: str, timeout: float) -> bytes:
    """Default :class:`CrlFetcher`: HTTP(S) ``GET`` with ``requests`` (HTTPS through the SDK's
    TLS context)."""
    import requests

    try:
        with _session() as session:
            return _read_limited(session.get(url, timeout=timeout, stream=True), url)
    except requests.RequestException as exc:
        raise TransportError(f"LCR injoignable ({url}): {exc.__class__.__name__}") from None


def requests_post_ocsp(url: str, body: bytes, timeout: float) -> bytes:
    """Default :class:`OcspPoster`: HTTP ``POST`` with ``requests`` (HTTPS through the SDK's
    TLS context)."""
    import requests

    try:
        with _session() as session:
            response = session.post(
                url,
                data=body,
                headers={"Content-Type": "application/ocsp-request"},
                timeout=timeout,
                stream=True,
            )
            return _read_limited(response, url)
    except requests.RequestException as exc:
        raise TransportError(f"OCSP injoignable ({url}): {exc.__class__.__name__}") from None


def _utc(now: dt.datetime | None) -> dt.datetime:
    moment = now or dt.datetime.now(dt.UTC)
    return moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)


def _uris(values: Sequence[x509.GeneralName]) -> list[str]:
    return [
        str(v.value)
        for v in values
        if isinstance(v, x509.UniformResourceIdentifier)
        and str(v.value).lower().startswith(("http://", "https://"))
    ]


def crl_urls(certificate: x509.Certificate) -> tuple[str, ...]:
    """HTTP(S) addresses of the certificate's CRL distribution points (LDAP ones skipped)."""
    try:
        points = certificate.extensions.get_extension_for_class(x509.CRLDistributionPoints)
    except x509.ExtensionNotFound:
        return ()
    urls: list[str] = []
    for point in points.value:
        urls += _uris(point.full_name or [])
    return tuple(urls)


_crl_urls_of = crl_urls


def ocsp_urls(certificate: x509.Certificate) -> tuple[str, ...]:
    """HTTP(S) addresses of the certificate's OCSP responders (AIA)."""
    try:
        aia = certificate.extensions.get_extension_for_class(x509.AuthorityInformationAccess)
    except x509.ExtensionNotFound:
        return ()
    return tuple(
        _uris(
            [
                d.access_location
                for d in aia.value
                if d.access_method == AuthorityInformationAccessOID.OCSP
            ]
        )
    )


# --- CRL ------------------------------------------------------------------------------------


def parse_crl(data: bytes) -> x509.CertificateRevocationList:
    """A CRL from DER or PEM bytes; :class:`~segur_ris.errors.CertificateError` (code
    ``crl_format``) otherwise."""
    try:
        if data.lstrip().startswith(b"-----BEGIN"):
            return x509.load_pem_x509_crl(data)
        return x509.load_der_x509_crl(data)
    except ValueError:
        raise CertificateError("LCR illisible (ni DER ni PEM)", code="crl_format") from None


def check_crl(
    crl: x509.CertificateRevocationList, issuer: x509.Certificate, now: dt.datetime | None = None
) -> None:
    """Check that ``crl`` was signed by ``issuer`` and is current at ``now``.

    Raise :class:`~segur_ris.errors.RevocationUnavailableError`: code ``crl_issuer``,
    ``crl_signature``, ``crl_not_yet_valid`` or ``crl_stale`` (``nextUpdate`` passed).
    """
    _check_crl_signature(crl, issuer)
    _check_crl_dates(crl, issuer, _utc(now))


def _check_crl_signature(crl: x509.CertificateRevocationList, issuer: x509.Certificate) -> None:
    if crl.issuer != issuer.subject:
        raise RevocationUnavailableError(
            f"LCR émise par un autre que {issuer.subject.rfc4514_string()}", code="crl_issuer"
        )
    public_key = issuer.public_key()
    if not isinstance(public_key, rsa.RSAPublicKey | ec.EllipticCurvePublicKey) or (
        not crl.is_signature_valid(public_key)
    ):
        raise RevocationUnavailableError(
            f"signature de la LCR invalide (émetteur {issuer.subject.rfc4514_string()})",
            code="crl_signature",
        )


def _check_crl_dates(
    crl: x509.CertificateRevocationList, issuer: x509.Certificate, moment: dt.datetime
) -> None:
    if crl.last_update_utc > moment + CLOCK_SKEW:
        raise RevocationUnavailableError(
            f"LCR de {issuer.subject.rfc4514_string()} pas encore valide "
            f"({crl.last_update_utc.isoformat()})",
            code="crl_not_yet_valid",
        )
    next_update = crl.next_update_utc
    if next_update is None or next_update < moment - CLOCK_SKEW:
        when = next_update.isoformat() if next_update else "non indiquée"
        raise RevocationUnavailableError(
            f"LCR de {issuer.subject.rfc4514_string()} périmée (prochaine mise à jour {when})",
            code="crl_stale",
        )


@dataclass(slots=True)
class _Cached:
    crl: x509.CertificateRevocationList
    fetched: dt.datetime
    #: Issuers whose signature on ``crl`` was verified (not verified again on each check).
    verified: list[x509.Certificate] = field(default_factory=list)

    def check(self, issuer: x509.Certificate, moment: dt.datetime) -> None:
        if issuer not in self.verified:
            _check_crl_signature(self.crl, issuer)
            self.verified.append(issuer)
        _check_crl_dates(self.crl, issuer, moment)


class CrlCache:
    """CRLs per distribution point, refreshed after ``max_age``, kept in ``directory``.

    ``directory`` (created if needed; ``None``: memory only) holds one DER file per URL. A
    refresh that fails or brings an invalid CRL keeps the cached one while it is current.
    Thread-safe.
    """

    def __init__(
        self,
        directory: StrPath | None = None,
        *,
        fetcher: CrlFetcher | None = None,
        timeout: float = 10.0,
        max_age: dt.timedelta = dt.timedelta(hours=1),
    ) -> None:
        self._dir = Path(directory) if directory is not None else None
        if self._dir is not None:
            self._dir.mkdir(parents=True, exist_ok=True)
        self._fetch: CrlFetcher = fetcher or requests_fetch
        self._timeout = timeout
        self._max_age = max_age
        self._memory: dict[str, _Cached] = {}
        self._lock = threading.Lock()

    def _path(self, url: str) -> Path | None:
        if self._dir is None:
            return None
        return self._dir / f"{hashlib.sha256(url.encode()).hexdigest()[:32]}.crl"

    def _cached(self, url: str) -> _Cached | None:
        cached = self._memory.get(url)
        path = self._path(url)
        if cached is None and path is not None and path.is_file():
            try:
                crl = parse_crl(path.read_bytes())
            except (CertificateError, OSError):
                return None  # damaged cache file: treated as absent, rewritten on next fetch
            fetched = dt.datetime.fromtimestamp(path.stat().st_mtime, dt.UTC)
            cached = self._memory[url] = _Cached(crl, fetched)
        return cached

    def _store(
        self,
        url: str,
        crl: x509.CertificateRevocationList,
        moment: dt.datetime,
        issuer: x509.Certificate,
    ) -> None:
        self._memory[url] = _Cached(crl, moment, [issuer])
        path = self._path(url)
        if path is not None:
            temporary = path.with_suffix(f".tmp{os.getpid()}")
            try:
                temporary.write_bytes(crl.public_bytes(serialization.Encoding.DER))
                os.replace(temporary, path)
            except OSError as exc:  # disk full, read-only cache: the CRL is still usable
                _log.warning("LCR %s non écrite dans le cache (%s)", url, exc.__class__.__name__)
                with contextlib.suppress(OSError):
                    temporary.unlink(missing_ok=True)

    def get(
        self, url: str, issuer: x509.Certificate, *, now: dt.datetime | None = None
    ) -> tuple[x509.CertificateRevocationList, bool]:
        """The current CRL of ``url`` signed by ``issuer``, and whether it is a cached one
        kept after a failed refresh.

        Raise :class:`~segur_ris.errors.RevocationUnavailableError` (code
        ``crl_unavailable``, or the :func:`check_crl` code) when no valid CRL is available.
        """
        moment = _utc(now)
        with self._lock:
            cached = self._cached(url)
            usable: x509.CertificateRevocationList | None = None
            if cached is not None:
                try:
                    cached.check(issuer, moment)
                    usable = cached.crl
                except RevocationUnavailableError:
                    usable = None
            if (
                usable is not None
                and cached is not None
                and moment - cached.fetched < self._max_age
            ):
                return usable, False
            try:
                crl = parse_crl(self._fetch(url, self._timeout))
                check_crl(crl, issuer, moment)
            except Exception as exc:  # any refresh failure: fall back on the last valid CRL
                reason = str(exc) if isinstance(exc, SegurError) else exc.__class__.__name__
                if usable is not None:
                    _log.warning(
                        "LCR %s non rafraîchie (%s): dernière LCR valide utilisée", url, reason
                    )
                    return usable, True
                code = exc.code if isinstance(exc, RevocationUnavailableError) else None
                raise RevocationUnavailableError(
                    f"aucune LCR valide pour {url}: {reason}", code=code or "crl_unavailable"
                ) from None
            older = usable is not None and crl.last_update_utc < usable.last_update_utc
            if older and cached is not None and usable is not None:
                cached.fetched = moment  # not fetched again before max_age
                return usable, False  # never go back to an older CRL (replayed answer)
            self._store(url, crl, moment, issuer)
            return crl, False


# --- OCSP -----------------------------------------------------------------------------------


def build_ocsp_request(certificate: x509.Certificate, issuer: x509.Certificate) -> bytes:
    """The DER OCSP request for ``certificate`` (CertID hashed with SHA-1, as RFC 6960
    responders expect; it is an identifier, not a signature)."""
    request = ocsp.OCSPRequestBuilder().add_certificate(certificate, issuer, hashes.SHA1()).build()
    return request.public_bytes(serialization.Encoding.DER)


@dataclass(frozen=True, slots=True)
class OcspResult:
    """A verified OCSP answer for one certificate."""

    status: Literal["good", "revoked", "unknown"]
    this_update: dt.datetime
    next_update: dt.datetime | None
    revocation_reason: str | None = None
    revocation_time: dt.datetime | None = None


def _verify_signature(
    key: object, signature: bytes, data: bytes, algorithm: hashes.HashAlgorithm | None
) -> bool:
    if algorithm is None:
        return False
    try:
        if isinstance(key, rsa.RSAPublicKey):
            key.verify(signature, data, padding.PKCS1v15(), algorithm)
        elif isinstance(key, ec.EllipticCurvePublicKey):
            key.verify(signature, data, ec.ECDSA(algorithm))
        else:
            return False
    except InvalidSignature:
        return False
    return True


def _responders(
    response: ocsp.OCSPResponse, issuer: x509.Certificate, moment: dt.datetime
) -> list[x509.Certificate]:
    """The certificates allowed to sign ``response``: the responders delegated by the issuer
    (issued by it, EKU ``OCSPSigning``, valid now: RFC 6960 §4.2.2.2), then the issuer."""
    delegated: list[x509.Certificate] = []
    for candidate in response.certificates:
        if candidate.issuer != issuer.subject:
            continue
        try:
            candidate.verify_directly_issued_by(issuer)
            eku = candidate.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
        except (InvalidSignature, ValueError, TypeError, x509.ExtensionNotFound):
            continue
        if ExtendedKeyUsageOID.OCSP_SIGNING not in eku:
            continue
        if not candidate.not_valid_before_utc <= moment <= candidate.not_valid_after_utc:
            continue
        delegated.append(candidate)
    return [*delegated, issuer]


def parse_ocsp_response(
    data: bytes,
    certificate: x509.Certificate,
    issuer: x509.Certificate,
    *,
    now: dt.datetime | None = None,
) -> OcspResult:
    """Read and verify an OCSP answer about ``certificate``.

    Raise :class:`~segur_ris.errors.RevocationUnavailableError`: code ``ocsp_format``,
    ``ocsp_<status>`` (``ocsp_try_later``, ``ocsp_unauthorized``…), ``ocsp_signature``
    (not signed by the issuer or a delegated responder), ``ocsp_mismatch`` (about another
    certificate), ``ocsp_stale``.
    """
    moment = _utc(now)
    try:
        response = ocsp.load_der_ocsp_response(data)
    except ValueError:
        raise RevocationUnavailableError("réponse OCSP illisible", code="ocsp_format") from None
    if response.response_status is not ocsp.OCSPResponseStatus.SUCCESSFUL:
        status = response.response_status.name.lower()
        raise RevocationUnavailableError(f"répondeur OCSP: {status}", code=f"ocsp_{status}")
    if not any(
        _verify_signature(
            signer.public_key(),
            response.signature,
            response.tbs_response_bytes,
            response.signature_hash_algorithm,
        )
        for signer in _responders(response, issuer, moment)
    ):
        raise RevocationUnavailableError(
            "signature de la réponse OCSP invalide", code="ocsp_signature"
        )
    for single in response.responses:
        if single.serial_number != certificate.serial_number:
            continue
        expected = (
            ocsp.OCSPRequestBuilder()
            .add_certificate(certificate, issuer, single.hash_algorithm)
            .build()
        )
        if (single.issuer_key_hash, single.issuer_name_hash) != (
            expected.issuer_key_hash,
            expected.issuer_name_hash,
        ):
            continue
        if single.this_update_utc > moment + CLOCK_SKEW or (
            single.next_update_utc is not None and single.next_update_utc < moment - CLOCK_SKEW
        ):
            raise RevocationUnavailableError("réponse OCSP périmée", code="ocsp_stale")
        status_map: dict[ocsp.OCSPCertStatus, Literal["good", "revoked", "unknown"]] = {
            ocsp.OCSPCertStatus.GOOD: "good",
            ocsp.OCSPCertStatus.REVOKED: "revoked",
            ocsp.OCSPCertStatus.UNKNOWN: "unknown",
        }
        reason = single.revocation_reason
        return OcspResult(
            status=status_map[single.certificate_status],
            this_update=single.this_update_utc,
            next_update=single.next_update_utc,
            revocation_reason=reason.name if reason is not None else None,
            revocation_time=single.revocation_time_utc,
        )
    raise RevocationUnavailableError(
        "la réponse OCSP ne porte pas sur ce certificat", code="ocsp_mismatch"
    )


# --- checker --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class RevocationStatus:
    """A certificate found not revoked: how (``ocsp`` or ``crl``), where, and whether the CRL
    was a cached one kept after a failed refresh."""

    source: Literal["ocsp", "crl"]
    url: str
    this_update: dt.datetime
    next_update: dt.datetime | None
    cached: bool = False


def _revoked(certificate: x509.Certificate, reason: str | None, source: str) -> None:
    raise CertificateRevokedError(
        f"certificat révoqué ({source}, motif {reason or 'non précisé'}): "
        f"{certificate.subject.rfc4514_string()} n° {certificate.serial_number:x}",
        code=reason or "revoked",
    )


class RevocationChecker:
    """Checks a certificate against OCSP (when it names a responder) then its CRLs.

    ``crls`` is the :class:`CrlCache` to use (default: memory only, ``requests``); ``ocsp`` and
    ``poster`` control OCSP. A *revoked* answer raises
    :class:`~segur_ris.errors.CertificateRevokedError` (``code`` = reason, e.g.
    ``key_compromise``); no usable answer raises
    :class:`~segur_ris.errors.RevocationUnavailableError`.
    """

    def __init__(
        self,
        crls: CrlCache | None = None,
        *,
        ocsp: bool = True,
        poster: OcspPoster | None = None,
        timeout: float = 10.0,
    ) -> None:
        self.crls = crls or CrlCache()
        self._ocsp = ocsp
        self._post: OcspPoster = poster or requests_post_ocsp
        self._timeout = timeout

    def check(
        self,
        certificate: x509.Certificate,
        issuer: x509.Certificate,
        *,
        now: dt.datetime | None = None,
        crl_urls: Sequence[str] | None = None,
    ) -> RevocationStatus:
        """Check ``certificate`` (issued by ``issuer``); ``crl_urls`` overrides the
        certificate's distribution points."""
        problems: list[str] = []
        if self._ocsp:
            for url in ocsp_urls(certificate):
                try:
                    answer = self._post(url, build_ocsp_request(certificate, issuer), self._timeout)
                    result = parse_ocsp_response(answer, certificate, issuer, now=now)
                except Exception as exc:  # responder down or bad answer: try CRLs next
                    problems.append(f"OCSP {url}: {_describe(exc)}")
                    continue
                if result.status == "revoked":
                    _revoked(certificate, result.revocation_reason, "OCSP")
                if result.status == "good":
                    return RevocationStatus("ocsp", url, result.this_update, result.next_update)
                problems.append(f"OCSP {url}: statut inconnu")
        urls = tuple(crl_urls) if crl_urls is not None else _crl_urls_of(certificate)
        for url in urls:
            try:
                crl, cached = self.crls.get(url, issuer, now=now)
            except RevocationUnavailableError as exc:
                problems.append(str(exc))
                continue
            entry = crl.get_revoked_certificate_by_serial_number(certificate.serial_number)
            if entry is not None:
                try:
                    reason = entry.extensions.get_extension_for_class(x509.CRLReason).value.reason
                    reason_name: str | None = reason.name
                except x509.ExtensionNotFound:
                    reason_name = None
                _revoked(certificate, reason_name, "LCR")
            return RevocationStatus("crl", url, crl.last_update_utc, crl.next_update_utc, cached)
        detail = "; ".join(problems) or "ni répondeur OCSP ni point de distribution de LCR"
        raise RevocationUnavailableError(
            f"révocation non vérifiable pour {certificate.subject.rfc4514_string()}: {detail}",
            code="revocation_unavailable",
        )

    def check_chain(
        self, chain: Sequence[x509.Certificate], *, now: dt.datetime | None = None
    ) -> tuple[RevocationStatus, ...]:
        """Check every certificate of ``chain`` (leaf first, as returned by
        :meth:`TrustStore.verify <segur_ris.certificates.TrustStore.verify>`) but the anchor."""
        return tuple(
            self.check(certificate, issuer, now=now)
            for certificate, issuer in itertools.pairwise(chain)
        )


def _describe(exc: BaseException) -> str:
    return str(exc) if isinstance(exc, SegurError) else exc.__class__.__name__
