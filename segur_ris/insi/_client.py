"""The INSi client: the sans-IO core plus a transport, the first-name strategy and verification."""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from lxml import etree

from segur_ris._xml import parse_xml
from segur_ris.config import Settings
from segur_ris.errors import (
    CertificateError,
    ConfigError,
    InsiError,
    InsiTimeout,
    InsiTransportError,
    TransportError,
    TransportTimeout,
)
from segur_ris.ins import IdentityTraits, PatientIdentity
from segur_ris.insi._messages import build_traits_request, build_vitale_request, parse_response
from segur_ris.insi._model import InsiContext, InsiRequest, InsiResult, VitaleQuery
from segur_ris.transport import HttpResponse, HttpsTransport, HttpTransport

__all__ = ["InsVerification", "InsiClient", "first_name_attempts"]

_log = logging.getLogger("segur_ris.insi")
StrPath = str | os.PathLike[str]


def first_name_attempts(traits: IdentityTraits) -> tuple[str, ...]:
    """The ``Prenom`` values to try, in order: each birth first name alone, then the whole list.

    This is the strategy the CNDA test cases expect (TCHITCHI: ``OLA`` → 01, ``CATARINA`` → 00);
    the search stops at the first ``00``.
    """
    prenoms = traits.prenoms
    if len(prenoms) <= 1:
        return tuple(prenoms)
    return (*prenoms, traits.liste_prenoms)


@dataclass(frozen=True, slots=True)
class InsVerification:
    """Outcome of the verification of a stored INS: ``ok`` when the INSi returns the same INS
    and the same traits; ``differences`` says what differs (in French)."""

    ok: bool
    result: InsiResult
    differences: tuple[str, ...] = ()


class InsiClient:
    """Client of the CNAM INSi teleservice (``ServiceIdentiteCertifiee`` v1).

    Authentication is either mutual TLS with an IGC Santé ORG certificate whose CN is
    ``INSI-AUTO`` or ``INSI-MANU`` (``client_cert=(cert.pem, key.pem)``), or a CPS SAML assertion
    signed by the card (``cps_assertion``: the ``saml2:Assertion`` XML), sent to the CPS
    endpoint. ``transport`` replaces the default HTTPS transport (tests, proxies, async hosts).
    With ``client_cert``, the certificate is checked first (ORG AUTH_CLI, CN ``INSI-AUTO`` or
    ``INSI-MANU``: :class:`~segur_ris.errors.CertificateUsageError` otherwise, instead of the
    INSi's ``DESIR_560``); ``check_certificate=False`` lets the INSi refuse it (CNDA rehearsal).

    >>> client = InsiClient(settings, client_cert=("insi-auto.pem", "insi-auto.key"))
    >>> result = client.search(traits)          # doctest: +SKIP
    """

    def __init__(
        self,
        settings: Settings,
        *,
        client_cert: tuple[StrPath, StrPath] | None = None,
        ca_bundle: StrPath | None = None,
        cps_assertion: bytes | etree._Element | None = None,
        transport: HttpTransport | None = None,
        url: str | None = None,
        timeout: float = 15.0,
        wsdl: StrPath | None = None,
        check_certificate: bool = True,
    ) -> None:
        endpoints = settings.environment.endpoints
        self.url = url or endpoints.require("insi_cps" if cps_assertion is not None else "insi")
        if not self.url.startswith("https://"):
            raise ConfigError(f"l'INSi s'appelle en HTTPS uniquement: {self.url}")
        self.context = InsiContext.from_settings(settings)
        self.timeout = timeout
        self._wsdl = wsdl
        self._security: tuple[etree._Element, ...] = ()
        if cps_assertion is not None:
            if isinstance(cps_assertion, bytes):
                cps_assertion = parse_xml(cps_assertion, what="assertion CPS")
            self._security = (cps_assertion,)
        if transport is None:
            if client_cert is None and cps_assertion is None:
                raise ConfigError(
                    "INSi: un certificat client (INSI-AUTO/INSI-MANU) ou une assertion CPS "
                    "est requis"
                )
            if client_cert is not None and check_certificate:
                _check_insi_certificate(client_cert[0])
            transport = HttpsTransport(client_cert=client_cert, ca_bundle=ca_bundle)
        self._transport = transport

    # --- one call ---------------------------------------------------------------------------

    def _exchange(self, request: InsiRequest, prenom: str | None = None) -> InsiResult:
        headers = {"Content-Type": request.content_type}  # SOAP 1.2: action in Content-Type
        started = time.perf_counter()
        try:
            response: HttpResponse = self._transport.post(
                self.url, request.body, headers, self.timeout
            )
        except TransportTimeout as exc:
            raise InsiTimeout(f"INSi: {exc.message}") from None
        except TransportError as exc:
            raise InsiTransportError(f"INSi: {exc.message}") from None
        _log.info(
            "INSi %s %s -> HTTP %s in %.0f ms",
            request.action.rsplit(":", 1)[-1],
            request.message_id,
            response.status,
            (time.perf_counter() - started) * 1000,
        )
        return parse_response(
            response.body, status=response.status, prenom=prenom, message_id=request.message_id
        )

    def search_once(self, traits: IdentityTraits, *, prenom: str | None = None) -> InsiResult:
        """One ``rechercherInsAvecTraitsIdentite`` call with one ``Prenom`` value."""
        request = build_traits_request(
            traits, self.context, prenom=prenom, security=self._security, wsdl=self._wsdl
        )
        return self._exchange(request, prenom or traits.premier_prenom)

    def search_by_carte_vitale(self, query: VitaleQuery) -> InsiResult:
        """One ``rechercherInsAvecCarteVitale`` call."""
        request = build_vitale_request(
            query, self.context, security=self._security, wsdl=self._wsdl
        )
        return self._exchange(request)

    # --- strategies -------------------------------------------------------------------------

    def search(self, traits: IdentityTraits) -> InsiResult:
        """Search by traits with the multi-first-name strategy; the first ``00`` wins, else the
        last answer is returned (``01`` or ``02``). Faults are raised at once."""
        result: InsiResult | None = None
        for prenom in first_name_attempts(traits):
            result = self.search_once(traits, prenom=prenom)
            if result.found:
                break
        assert result is not None  # IdentityTraits always has a first name
        return result

    def verify(self, identity: PatientIdentity) -> InsVerification:
        """Re-query the INSi with the identity's traits and compare the INS and the traits.

        Used before trusting an INS received from elsewhere or stored long ago (RNIV).
        """
        if identity.ins is None:
            raise InsiError("vérification impossible: l'identité n'a pas d'INS")
        result = self.search(identity.traits)
        if not result.found or result.ins is None or result.traits is None:
            return InsVerification(False, result, (f"INSi: CodeCR {result.code.value}",))
        differences = _differences(identity, result)
        return InsVerification(not differences, result, differences)

    def close(self) -> None:
        close = getattr(self._transport, "close", None)
        if callable(close):
            close()

    def __enter__(self) -> InsiClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _differences(identity: PatientIdentity, result: InsiResult) -> tuple[str, ...]:
    assert identity.ins is not None and result.ins is not None and result.traits is not None
    diffs: list[str] = []
    if identity.ins.matricule != result.ins.matricule:
        historic = any(h.matricule == identity.ins.matricule for h in result.historiques)
        diffs.append(
            f"INS: {identity.ins.value} "
            + ("est un INS historique" if historic else "différent")
            + f", INS actif {result.ins.value}"
        )
    if identity.ins.kind != result.ins.kind:
        diffs.append(f"type d'INS: {identity.ins.kind.value} au lieu de {result.ins.kind.value}")
    local, ref = identity.traits, result.traits
    pairs: Sequence[tuple[str, object, object]] = (
        ("nom de naissance", local.nom_naissance, ref.nom_naissance),
        ("prénoms", local.liste_prenoms, ref.liste_prenoms),
        ("sexe", local.sexe, ref.sexe),
        ("date de naissance", local.date_naissance, ref.date_naissance),
    )
    for label, mine, theirs in pairs:
        if mine != theirs:
            diffs.append(f"{label}: {mine} au lieu de {theirs}")
    if local.lieu_naissance and ref.lieu_naissance and local.lieu_naissance != ref.lieu_naissance:
        diffs.append(f"lieu de naissance: {local.lieu_naissance} au lieu de {ref.lieu_naissance}")
    return tuple(diffs)


def _check_insi_certificate(path: StrPath) -> None:
    """Refuse, before any call, a client certificate the INSi would refuse with ``DESIR_560``:
    an ORG AUTH_CLI certificate whose CN is ``INSI-AUTO`` or ``INSI-MANU`` is required."""
    from cryptography import x509

    from segur_ris.certificates import check_insi_cn

    try:
        data = Path(path).read_bytes()
    except OSError:
        raise ConfigError(f"certificat client INSi introuvable: {os.fspath(path)}") from None
    try:
        certificate = x509.load_pem_x509_certificate(data)
    except ValueError:
        raise CertificateError(
            f"certificat client INSi illisible (PEM attendu): {os.fspath(path)}",
            code="certificate_format",
        ) from None
    check_insi_cn(certificate)
