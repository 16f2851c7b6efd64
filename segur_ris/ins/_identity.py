"""INS and patient identity with its RNIV status (provisoire, récupérée, validée, qualifiée).

The status is never stored: it is derived from the facts that the RNIV (Référentiel national
d'identitovigilance) uses, so that it cannot drift from them:

* the INS was returned or verified by the INSi teleservice (``insi_verified``);
* the identity was checked against a high-trust identity document (``proof``);
* a ``DOUTEUSE`` or ``FICTIVE`` attribute keeps the identity *provisoire*.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from enum import StrEnum

from segur_ris.errors import IdentityStatusError, InsNotQualifiedError, InvalidMatriculeError
from segur_ris.ins._matricule import InsKind, Matricule, kind_from_oid, parse_matricule
from segur_ris.ins._traits import IdentityTraits

__all__ = [
    "IdentityAttribute",
    "IdentityStatus",
    "Ins",
    "PatientIdentity",
    "ProofDocument",
]


@dataclass(frozen=True, slots=True)
class Ins:
    """An INS: matricule plus the OID of its assigning authority (which tells NIR from NIA).

    Raises :class:`InvalidMatriculeError` (rule ``oid``) when ``oid`` is not an INS OID.
    """

    matricule: Matricule
    oid: str

    def __post_init__(self) -> None:
        if not isinstance(self.matricule, Matricule):
            raise InvalidMatriculeError("matricule: Matricule attendu", rule="characters")
        if not isinstance(self.oid, str):
            raise InvalidMatriculeError("OID: chaîne attendue", rule="oid")
        kind_from_oid(self.oid)

    @classmethod
    def parse(cls, matricule: str, oid: str, *, historical: bool = False) -> Ins:
        """An INS from a 15-character matricule and an OID (see :func:`parse_matricule`)."""
        return cls(parse_matricule(matricule, historical=historical), oid)

    @property
    def kind(self) -> InsKind:
        """NIA for the INS-NIA OID, NIR for the INS-NIR OIDs (production, test, demo)."""
        return kind_from_oid(self.oid)

    @property
    def value(self) -> str:
        """The 15-character matricule INS."""
        return self.matricule.value

    def __str__(self) -> str:
        return self.value


class IdentityStatus(StrEnum):
    """RNIV identity status."""

    PROVISOIRE = "provisoire"
    RECUPEREE = "recuperee"
    VALIDEE = "validee"
    QUALIFIEE = "qualifiee"


class IdentityAttribute(StrEnum):
    """RNIV identity attributes (HL7 PID-32 ``DOUT``, ``FICT``, ``HOMA``)."""

    DOUTEUSE = "douteuse"
    FICTIVE = "fictive"
    HOMONYME = "homonyme"


class ProofDocument(StrEnum):
    """Justificatif d'identité; values are the IHE PAM FR ZFD-7 codes.

    :attr:`high_trust` documents (RNIV *haut niveau de confiance*) validate any identity.
    :attr:`minor_proof` documents (livret de famille, extrait d'acte de naissance) validate a
    minor's identity only, when the caller says so (``with_proof(doc, minor=True)``) [?]: the
    RNIV accepts them for minors, normally together with the legal guardian's identity
    document; the SDK cannot check that pairing and leaves it to the user.
    """

    EXTRAIT_ACTE_NAISSANCE = "AN"
    CARNET_CIRCULATION = "CC"
    CARTE_IDENTITE_EUROPEENNE = "CE"
    CARTE_MILITAIRE = "CM"
    CARTE_NATIONALE_IDENTITE = "CN"
    TITRE_SEJOUR = "CS"
    LIVRET_FAMILLE = "LE"
    PASSEPORT = "PA"
    PERMIS_CONDUIRE = "PC"
    TIERS_CONFIANCE = "TC"  # [?] meaning taken from FR Core; not a document the RNIV lists

    @property
    def high_trust(self) -> bool:
        """Whether the RNIV counts it as a high-trust document (CNI, passeport, titre de séjour).

        The European identity card (``CE``) is counted as an identity card [?].
        """
        return self in _HIGH_TRUST

    @property
    def minor_proof(self) -> bool:
        """Whether it validates a minor's identity only (livret de famille, acte) [?]."""
        return self in _MINOR_PROOF


_HIGH_TRUST = frozenset(
    {
        ProofDocument.CARTE_NATIONALE_IDENTITE,
        ProofDocument.PASSEPORT,
        ProofDocument.TITRE_SEJOUR,
        ProofDocument.CARTE_IDENTITE_EUROPEENNE,
    }
)
_MINOR_PROOF = frozenset({ProofDocument.LIVRET_FAMILLE, ProofDocument.EXTRAIT_ACTE_NAISSANCE})
_FORCE_PROVISOIRE = frozenset({IdentityAttribute.DOUTEUSE, IdentityAttribute.FICTIVE})


@dataclass(frozen=True, slots=True)
class PatientIdentity:
    """A patient identity and the facts its RNIV :attr:`status` is derived from.

    ``insi_verified`` means the INS and ``traits`` come from (or were verified by) the INSi;
    ``proof`` is the identity document seen; ``proof_for_minor`` records that a minor-only
    document (livret de famille, acte de naissance) was accepted for a minor; ``ipp`` is the
    local patient identifier (optional).
    """

    traits: IdentityTraits
    ins: Ins | None = None
    insi_verified: bool = False
    proof: ProofDocument | None = None
    attributes: frozenset[IdentityAttribute] = field(default_factory=frozenset)
    proof_for_minor: bool = False
    ipp: str | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.traits, IdentityTraits):
            raise IdentityStatusError("traits: IdentityTraits attendu")
        if self.ins is not None and not isinstance(self.ins, Ins):
            raise IdentityStatusError("ins: Ins attendu")
        if self.insi_verified and self.ins is None:
            raise IdentityStatusError("une identité vérifiée par l'INSi doit porter son INS")
        if self.proof is not None:
            object.__setattr__(self, "proof", _proof(self.proof))
        if self.proof_for_minor and (self.proof is None or not self.proof.minor_proof):
            raise IdentityStatusError(
                "proof_for_minor n'a de sens qu'avec un livret de famille ou un acte de naissance"
            )
        if isinstance(self.attributes, str) or not isinstance(
            self.attributes, frozenset | set | tuple | list
        ):
            raise IdentityStatusError("attributes: ensemble d'IdentityAttribute attendu")
        attributes = frozenset(_attribute(a) for a in self.attributes)
        object.__setattr__(self, "attributes", attributes)

    @property
    def validated_by_document(self) -> bool:
        """Whether the identity was checked against an accepted identity document."""
        if self.proof is None:
            return False
        return self.proof.high_trust or (self.proof_for_minor and self.proof.minor_proof)

    @property
    def status(self) -> IdentityStatus:
        """The RNIV status derived from INSi verification, proof and attributes."""
        if self.attributes & _FORCE_PROVISOIRE:
            return IdentityStatus.PROVISOIRE
        document = self.validated_by_document
        if self.insi_verified:
            return IdentityStatus.QUALIFIEE if document else IdentityStatus.RECUPEREE
        return IdentityStatus.VALIDEE if document else IdentityStatus.PROVISOIRE

    @property
    def is_qualified(self) -> bool:
        """Whether the status is *qualifiée* (the only status whose INS may be exported)."""
        return self.status is IdentityStatus.QUALIFIEE

    def qualified_ins(self) -> Ins:
        """The INS, for export; :class:`InsNotQualifiedError` unless the identity is qualifiée."""
        status = self.status
        if status is not IdentityStatus.QUALIFIEE or self.ins is None:
            raise InsNotQualifiedError(
                f"l'INS d'une identité au statut {status.value!r} ne peut pas être transmis "
                "(seule une identité qualifiée est exportée avec son INS)"
            )
        return self.ins

    def with_insi_result(self, ins: Ins, traits: IdentityTraits) -> PatientIdentity:
        """The identity after a successful INSi call: INSi traits and INS, ``insi_verified``.

        The INSi answer must be about this person: a different sexe or date de naissance raises
        :class:`IdentityStatusError` (never attach another person's INS). When the INSi traits
        differ from the local ones in any way, the identity document check no longer covers
        them: ``proof`` is dropped and must be done again on the INSi traits (RNIV).
        """
        if not isinstance(ins, Ins) or not isinstance(traits, IdentityTraits):
            raise IdentityStatusError("with_insi_result(Ins, IdentityTraits) attendu")
        local = self.traits
        for label, mine, theirs in (
            ("sexe", local.sexe, traits.sexe),
            ("date de naissance", local.date_naissance, traits.date_naissance),
        ):
            if mine != theirs:
                raise IdentityStatusError(
                    f"l'identité renvoyée par l'INSi ne correspond pas ({label}: {theirs} "
                    f"au lieu de {mine}): INS non rattaché"
                )
        if traits == local:
            return dataclasses.replace(self, ins=ins, insi_verified=True)
        return dataclasses.replace(
            self, ins=ins, traits=traits, insi_verified=True, proof=None, proof_for_minor=False
        )

    def with_proof(self, doc: ProofDocument | str, *, minor: bool = False) -> PatientIdentity:
        """The identity checked against ``doc``.

        Raises :class:`IdentityStatusError` unless ``doc`` is high-trust, or ``minor`` is true
        and ``doc`` is a minor-only document (livret de famille, extrait d'acte de naissance).
        """
        document = _proof(doc)
        if document.high_trust:
            return dataclasses.replace(self, proof=document, proof_for_minor=False)
        if minor and document.minor_proof:
            return dataclasses.replace(self, proof=document, proof_for_minor=True)
        raise IdentityStatusError(
            f"{document.name} ne permet pas de valider l'identité: justificatif à haut niveau "
            "de confiance attendu (CNI, passeport, titre de séjour; livret de famille ou extrait "
            "d'acte de naissance pour un mineur, avec minor=True)"
        )

    def with_attribute(self, attr: IdentityAttribute | str) -> PatientIdentity:
        """The identity with one more RNIV attribute (douteuse, fictive, homonyme)."""
        return dataclasses.replace(self, attributes=self.attributes | {_attribute(attr)})

    def without_attribute(self, attr: IdentityAttribute | str) -> PatientIdentity:
        """The identity without attribute ``attr``."""
        return dataclasses.replace(self, attributes=self.attributes - {_attribute(attr)})

    def without_ins(self) -> PatientIdentity:
        """The identity with its INS removed (qualifiée → validée, récupérée → provisoire)."""
        return dataclasses.replace(self, ins=None, insi_verified=False)


def _proof(value: str) -> ProofDocument:
    try:
        return ProofDocument(value)
    except ValueError:
        raise IdentityStatusError(f"justificatif d'identité inconnu: {value!r}") from None


def _attribute(value: str) -> IdentityAttribute:
    try:
        return IdentityAttribute(value)
    except ValueError:
        known = ", ".join(a.value for a in IdentityAttribute)
        raise IdentityStatusError(f"attribut d'identité inconnu {value!r} ({known})") from None
