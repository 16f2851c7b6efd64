"""Typed Pro Santé Connect data: provider metadata, authorization request, tokens, user."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, NoReturn

from segur_ris.errors import PscDiscoveryError, PscTokenError

__all__ = [
    "AuthorizationRequest",
    "ProviderMetadata",
    "PscActivity",
    "PscExercice",
    "PscTokens",
    "PscUser",
    "parse_user",
]

_REQUIRED_ENDPOINTS = ("authorization_endpoint", "token_endpoint", "jwks_uri")


@dataclass(frozen=True, slots=True)
class ProviderMetadata:
    """The provider's discovery document (the fields the client uses; ``raw`` has them all)."""

    issuer: str
    authorization_endpoint: str
    token_endpoint: str
    jwks_uri: str
    userinfo_endpoint: str | None = None
    end_session_endpoint: str | None = None
    introspection_endpoint: str | None = None
    code_challenge_methods: tuple[str, ...] = ()
    acr_values_supported: tuple[str, ...] = ()
    raw: Mapping[str, Any] = field(default_factory=dict, repr=False)

    @classmethod
    def from_json(cls, data: object, *, expected_issuer: str) -> ProviderMetadata:
        """Read a discovery document; its ``issuer`` must be ``expected_issuer`` (OIDC
        Discovery §4.3) and every endpoint an ``https`` URL."""
        if not isinstance(data, dict):
            raise PscDiscoveryError("document de découverte PSC: objet JSON attendu")
        issuer = data.get("issuer")
        if issuer != expected_issuer:
            raise PscDiscoveryError(
                f"document de découverte PSC: issuer {issuer!r} au lieu de {expected_issuer!r}",
                code="issuer",
            )
        endpoints: dict[str, str | None] = {}
        for name in (
            *_REQUIRED_ENDPOINTS,
            "userinfo_endpoint",
            "end_session_endpoint",
            "introspection_endpoint",
        ):
            value = data.get(name)
            if value is None and name not in _REQUIRED_ENDPOINTS:
                endpoints[name] = None
                continue
            if not isinstance(value, str) or not value.startswith("https://"):
                raise PscDiscoveryError(
                    f"document de découverte PSC: {name} absent ou non https: {value!r}",
                    code=name,
                )
            endpoints[name] = value

        def strings(name: str) -> tuple[str, ...]:
            value = data.get(name, [])
            return tuple(v for v in value if isinstance(v, str)) if isinstance(value, list) else ()

        return cls(
            issuer=issuer,
            authorization_endpoint=str(endpoints["authorization_endpoint"]),
            token_endpoint=str(endpoints["token_endpoint"]),
            jwks_uri=str(endpoints["jwks_uri"]),
            userinfo_endpoint=endpoints["userinfo_endpoint"],
            end_session_endpoint=endpoints["end_session_endpoint"],
            introspection_endpoint=endpoints["introspection_endpoint"],
            code_challenge_methods=strings("code_challenge_methods_supported"),
            acr_values_supported=strings("acr_values_supported"),
            raw=MappingProxyType(dict(data)),
        )


@dataclass(frozen=True, slots=True)
class AuthorizationRequest:
    """One authorization request in progress: send the user's browser to ``url``, keep this
    object (in the server-side session, never in a cookie) until the callback.

    ``code_verifier`` (PKCE S256) and ``nonce`` stay in memory and out of ``repr``.
    """

    url: str
    state: str
    nonce: str = field(repr=False)
    code_verifier: str = field(repr=False)
    redirect_uri: str
    created_at: dt.datetime


def _no_pickle(what: str) -> NoReturn:
    raise PscTokenError(f"{what}: les jetons PSC ne sont jamais sérialisés", code="persistence")


@dataclass(frozen=True, slots=True)
class PscTokens:
    """Tokens of a PSC session. The tokens never appear in ``repr`` and the object refuses
    to be pickled: access tokens live in memory only (MSSanté ECO.1.2.5).

    ``id_claims`` are the verified ID token claims; ``expires_at`` / ``refresh_expires_at``
    are UTC instants computed from ``expires_in`` / ``refresh_expires_in``.
    """

    access_token: str = field(repr=False)
    expires_at: dt.datetime
    token_type: str = "Bearer"
    refresh_token: str | None = field(default=None, repr=False)
    refresh_expires_at: dt.datetime | None = None
    id_token: str | None = field(default=None, repr=False)
    scope: tuple[str, ...] = ()
    id_claims: Mapping[str, Any] = field(default_factory=dict, repr=False)
    session_state: str | None = field(default=None, repr=False)

    def __reduce_ex__(self, protocol: object) -> NoReturn:
        _no_pickle("PscTokens")

    @property
    def subject(self) -> str | None:
        """``sub`` of the ID token."""
        sub = self.id_claims.get("sub")
        return sub if isinstance(sub, str) else None

    def expired(self, *, now: dt.datetime | None = None, margin: float = 0.0) -> bool:
        """Whether the access token is expired (or will be within ``margin`` seconds)."""
        moment = now or dt.datetime.now(dt.UTC)
        return moment + dt.timedelta(seconds=margin) >= self.expires_at

    def authorization_header(self) -> dict[str, str]:
        """``{"Authorization": "Bearer …"}`` for DRIMbox/API calls."""
        return {"Authorization": f"Bearer {self.access_token}"}

    def xoauth2(self, user: str) -> str:
        """The SASL ``XOAUTH2`` initial client response for MSSanté (before base64):
        ``user=<address>^Aauth=Bearer <token>^A^A``. ``smtplib``/``imaplib`` base64-encode it."""
        if not user or "\x01" in user:
            raise PscTokenError("XOAUTH2: adresse MSSanté invalide", code="xoauth2")
        return f"user={user}\x01auth=Bearer {self.access_token}\x01\x01"


@dataclass(frozen=True, slots=True)
class PscActivity:
    """One activity (``SubjectRefPro.exercices[].activities[]``): where and how the
    professional practises. ``structure_id`` is ``identifiantTechniqueDeLaStructure``."""

    structure_id: str = ""
    raison_sociale: str = ""
    enseigne: str = ""
    mode_exercice: str = ""
    secteur_activite: str = ""
    section_pharmacien: str = ""
    role: str = ""
    genre_activite: str = ""
    siret: str = ""
    siren: str = ""
    finess_site: str = ""
    finess_juridique: str = ""


@dataclass(frozen=True, slots=True)
class PscExercice:
    """One professional practice (``SubjectRefPro.exercices[]``): profession (TRE_G15),
    category, savoir-faire (TRE_R01/TRE_R38…) and its activities."""

    profession: str
    categorie: str = ""
    type_savoir_faire: str = ""
    savoir_faire: str = ""
    civilite: str = ""
    nom: str = ""
    prenom: str = ""
    activities: tuple[PscActivity, ...] = ()


@dataclass(frozen=True, slots=True)
class PscUser:
    """The professional signed in with Pro Santé Connect.

    ``national_id`` is ``SubjectNameID`` (IdNat_PS: ``8`` + RPPS, or ``0`` + ADELI);
    ``rpps``/``adeli`` the number without its prefix. ``claims`` keeps every userinfo claim.
    """

    sub: str
    national_id: str
    given_name: str
    family_name: str
    exercices: tuple[PscExercice, ...] = ()
    civilite: str = ""
    preferred_username: str = ""
    email: str = ""
    claims: Mapping[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @property
    def rpps(self) -> str | None:
        """The RPPS number (11 digits) when ``national_id`` is ``8`` + RPPS."""
        nid = self.national_id
        return nid[1:] if nid.startswith("8") and len(nid) == 12 and nid.isdigit() else None

    @property
    def adeli(self) -> str | None:
        """The ADELI number (9 characters) when ``national_id`` is ``0`` + ADELI."""
        nid = self.national_id
        return nid[1:] if nid.startswith("0") and len(nid) == 10 else None

    @property
    def professions(self) -> tuple[str, ...]:
        """Profession codes (TRE_G15: ``10`` médecin, ``98`` manipulateur ERM…), in order."""
        return tuple(dict.fromkeys(e.profession for e in self.exercices if e.profession))

    @property
    def savoir_faire(self) -> tuple[str, ...]:
        """Savoir-faire codes (specialities such as ``SM44``), in order."""
        return tuple(dict.fromkeys(e.savoir_faire for e in self.exercices if e.savoir_faire))

    @property
    def activities(self) -> tuple[PscActivity, ...]:
        """Every activity of every exercice."""
        return tuple(a for e in self.exercices for a in e.activities)

    @property
    def structure_ids(self) -> tuple[str, ...]:
        """Technical ids of the structures the professional works in."""
        return tuple(dict.fromkeys(a.structure_id for a in self.activities if a.structure_id))

    @property
    def display_name(self) -> str:
        """ "Prénom NOM" (VIHF ``subject-id``)."""
        return f"{self.given_name} {self.family_name.upper()}".strip()

    def as_dict(self) -> dict[str, Any]:
        """A JSON-ready summary (no token, no raw claims)."""
        return {
            "sub": self.sub,
            "national_id": self.national_id,
            "rpps": self.rpps,
            "adeli": self.adeli,
            "given_name": self.given_name,
            "family_name": self.family_name,
            "civilite": self.civilite,
            "email": self.email,
            "professions": list(self.professions),
            "savoir_faire": list(self.savoir_faire),
            "exercices": [
                {
                    "profession": e.profession,
                    "categorie": e.categorie,
                    "type_savoir_faire": e.type_savoir_faire,
                    "savoir_faire": e.savoir_faire,
                    "activities": [
                        {
                            "structure_id": a.structure_id,
                            "raison_sociale": a.raison_sociale,
                            "mode_exercice": a.mode_exercice,
                            "secteur_activite": a.secteur_activite,
                            "role": a.role,
                        }
                        for a in e.activities
                    ],
                }
                for e in self.exercices
            ],
        }


def _str(data: Mapping[str, Any], key: str) -> str:
    value = data.get(key)
    if value is None:
        return ""
    if isinstance(value, str | int):
        return str(value)
    raise PscTokenError(f"userinfo PSC: {key} devrait être une chaîne", code="claims")


def _objects(value: object, what: str) -> list[Mapping[str, Any]]:
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(v, dict) for v in value):
        raise PscTokenError(f"userinfo PSC: {what} devrait être une liste d'objets", code="claims")
    return list(value)


def _activity(data: Mapping[str, Any]) -> PscActivity:
    return PscActivity(
        structure_id=_str(data, "identifiantTechniqueDeLaStructure"),
        raison_sociale=_str(data, "raisonSocialeSite"),
        enseigne=_str(data, "enseigneCommercialeSite"),
        mode_exercice=_str(data, "codeModeExercice"),
        secteur_activite=_str(data, "codeSecteurDactivite"),
        section_pharmacien=_str(data, "codeSectionPharmacien"),
        role=_str(data, "codeRole"),
        genre_activite=_str(data, "codeGenreActivite"),
        siret=_str(data, "numeroSiretSite"),
        siren=_str(data, "numeroSirenSite"),
        finess_site=_str(data, "numeroFinessSite"),
        finess_juridique=_str(data, "numeroFinessetablissementJuridique"),
    )


def _exercice(data: Mapping[str, Any]) -> PscExercice:
    return PscExercice(
        profession=_str(data, "codeProfession"),
        categorie=_str(data, "codeCategorieProfessionnelle"),
        type_savoir_faire=_str(data, "codeTypeSavoirFaire"),
        savoir_faire=_str(data, "codeSavoirFaire"),
        civilite=_str(data, "codeCiviliteDexercice"),
        nom=_str(data, "nomDexercice"),
        prenom=_str(data, "prenomDexercice"),
        activities=tuple(_activity(a) for a in _objects(data.get("activities"), "activities")),
    )


def parse_user(claims: Mapping[str, Any]) -> PscUser:
    """The typed user of PSC userinfo ``claims`` (``SubjectNameID``, ``SubjectRefPro``…).

    ``sub`` and ``SubjectNameID`` are required; a malformed ``SubjectRefPro`` is refused
    (:class:`~segur_ris.errors.PscTokenError`, code ``claims``) rather than half-read.
    """
    sub, national_id = _str(claims, "sub"), _str(claims, "SubjectNameID")
    if not sub or not national_id:
        raise PscTokenError("userinfo PSC: sub et SubjectNameID sont obligatoires", code="claims")
    ref_pro = claims.get("SubjectRefPro")
    ref_pro = {} if ref_pro is None else ref_pro
    if not isinstance(ref_pro, dict):
        raise PscTokenError("userinfo PSC: SubjectRefPro devrait être un objet", code="claims")
    exercices = tuple(_exercice(e) for e in _objects(ref_pro.get("exercices"), "exercices"))
    first = exercices[0] if exercices else None
    return PscUser(
        sub=sub,
        national_id=national_id,
        given_name=_str(claims, "given_name") or (first.prenom if first else ""),
        family_name=_str(claims, "family_name") or (first.nom if first else ""),
        exercices=exercices,
        civilite=_str(ref_pro, "codeCivilite"),
        preferred_username=_str(claims, "preferred_username"),
        email=_str(claims, "email"),
        claims=MappingProxyType(dict(claims)),
    )
