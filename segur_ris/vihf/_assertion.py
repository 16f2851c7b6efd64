"""Build and read the VIHF SAML 2.0 assertion (names and formats of the DMP samples)."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import TYPE_CHECKING, Literal

from lxml import etree

from segur_ris._xml import escape_attr, escape_text, parse_xml
from segur_ris.errors import ConfigError, DmpError

if TYPE_CHECKING:
    from segur_ris.config import Settings
    from segur_ris.psc import PscUser

__all__ = [
    "ATTR_AUTH_MODE",
    "ATTR_AUTH_MODE_ALT",
    "ATTR_LPS_HOMOLOGATION",
    "ATTR_LPS_ID",
    "ATTR_LPS_NAME",
    "ATTR_LPS_VERSION",
    "ATTR_PURPOSE_OF_USE",
    "ATTR_RESOURCE_ID",
    "ATTR_RESOURCE_URN",
    "ATTR_ROLE",
    "ATTR_SECTEUR_ACTIVITE",
    "ATTR_STRUCTURE_ID",
    "ATTR_SUBJECT_ID",
    "ATTR_VIHF_VERSION",
    "AUTHN_PASSWORD",
    "AUTHN_PSC",
    "AUTHN_SMARTCARD",
    "AUTHN_TLS_CLIENT",
    "AUTHN_UNSPECIFIED",
    "AUTOMATE_ROLE",
    "OID_PROFESSION",
    "OID_SAVOIR_FAIRE",
    "OID_SECTEUR_ACTIVITE",
    "PURPOSES_OF_USE",
    "SAML_NS",
    "CodedValue",
    "PurposeOfUse",
    "VihfContext",
    "VihfMode",
    "VihfToken",
    "build_vihf",
    "parse_vihf",
    "psc_roles",
    "read_vihf",
]

SAML_NS = "urn:oasis:names:tc:SAML:2.0:assertion"
XSI_NS = "http://www.w3.org/2001/XMLSchema-instance"
XS_NS = "http://www.w3.org/2001/XMLSchema"
HL7_NS = "urn:hl7-org:v3"
DS_NS = "http://www.w3.org/2000/09/xmldsig#"
ISSUER_FORMAT = "urn:oasis:names:tc:SAML:1.1:nameid-format:X509SubjectName"

AUTHN_SMARTCARD = "urn:oasis:names:tc:SAML:2.0:ac:classes:SmartcardPKI"
AUTHN_PASSWORD = "urn:oasis:names:tc:SAML:2.0:ac:classes:Password"
AUTHN_TLS_CLIENT = "urn:oasis:names:tc:SAML:2.0:ac:classes:TLSClient"
AUTHN_UNSPECIFIED = "urn:oasis:names:tc:SAML:2.0:ac:classes:unspecified"
#: AuthnContextClassRef of a professional signed in with Pro Santé Connect (ANS PSC VIHF builder).
AUTHN_PSC = "urn:oasis:names:tc:SAML:2.0:ac:classes:MobileTwoFactorUnregistered"

#: TRE_G15-ProfessionSante (VIHF role of a health professional).
OID_PROFESSION = "1.2.250.1.71.1.2.7"
#: TRE_R01-SpecialiteOrdinale (savoir-faire of médecins, second VIHF role).
OID_SAVOIR_FAIRE = "1.2.250.1.71.4.2.5"
#: TRE_R02-SecteurActivite (``Secteur_Activite`` code^OID).
OID_SECTEUR_ACTIVITE = "1.2.250.1.71.4.2.4"

ATTR_STRUCTURE_ID = "Identifiant_Structure"
ATTR_SECTEUR_ACTIVITE = "Secteur_Activite"
ATTR_SUBJECT_ID = "urn:oasis:names:tc:xspa:1.0:subject:subject-id"
ATTR_ROLE = "urn:oasis:names:tc:xacml:2.0:subject:role"
ATTR_VIHF_VERSION = "VIHF_Version"
#: Spelling of the DMP package samples; the C# kit, DRIMbox and ANS use :data:`ATTR_AUTH_MODE_ALT`.
ATTR_AUTH_MODE = "Authentification_mode"
ATTR_AUTH_MODE_ALT = "Authentification_Mode"
ATTR_RESOURCE_ID = "urn:oasis:names:tc:xacml:2.0:resource:resource-id"
ATTR_RESOURCE_URN = "Ressource_URN"
ATTR_PURPOSE_OF_USE = "urn:oasis:names:tc:xspa:1.0:subject:purposeofuse"
ATTR_LPS_ID = "LPS_ID"
ATTR_LPS_NAME = "LPS_Nom"
ATTR_LPS_VERSION = "LPS_Version"
ATTR_LPS_HOMOLOGATION = "LPS_ID_HOMOLOGATION_DMP"

VihfMode = Literal["DIRECTE", "INDIRECTE", "INDIRECTE_RENFORCEE"]
PurposeOfUse = Literal["normal", "bris_de_glace", "centre_15"]
_MODES: tuple[str, ...] = ("DIRECTE", "INDIRECTE", "INDIRECTE_RENFORCEE")


@dataclass(frozen=True, slots=True)
class CodedValue:
    """An HL7 v3 ``CE`` (``Role``, ``PurposeOfUse``)."""

    code: str
    code_system: str
    display_name: str = ""
    code_system_name: str = ""


#: Role of a system acting on its own (TRE_A00-ProducteurDocNonPS, JDV_J65).
AUTOMATE_ROLE = CodedValue("AUTOMATE", "1.2.250.1.213.1.1.4.6", "Automate")

_PURPOSE_SYSTEM = "1.2.250.1.213.1.1.4.248"
_PURPOSE_SYSTEM_NAME = "mode acces VIHF 2.0"
#: TRE_R248-ModeAcces codes as written in the VIHF ``PurposeOfUse``.
PURPOSES_OF_USE: Mapping[str, CodedValue] = MappingProxyType(
    {
        "normal": CodedValue("normal", _PURPOSE_SYSTEM, "Accès normal", _PURPOSE_SYSTEM_NAME),
        "bris_de_glace": CodedValue(
            "bris_de_glace", _PURPOSE_SYSTEM, "Accès en mode bris de glace", _PURPOSE_SYSTEM_NAME
        ),
        "centre_15": CodedValue(
            "centre_15", _PURPOSE_SYSTEM, "Accès en mode centre de régulation", _PURPOSE_SYSTEM_NAME
        ),
    }
)


@dataclass(frozen=True, slots=True)
class VihfContext:
    """Everything a VIHF states about the caller, except the patient.

    * ``mode``: ``INDIRECTE`` (structure server, signed with the ORG SIGN certificate),
      ``INDIRECTE_RENFORCEE`` (idem, strong user authentication) or ``DIRECTE`` (CPS, unsigned);
    * ``issuer``: DN of the signing certificate (indirect) or of the CPS (direct); may stay
      empty in indirect mode: :func:`~segur_ris.vihf.sign_vihf` fills it from the certificate;
    * ``subject_id``: ``Subject/NameID`` (IdNat_PS, or the id of the person responsible for an
      automated process); ``subject_name``: ``subject-id`` ("Prénom NOM", or "logiciel, modèle,
      service" for an automate);
    * ``roles``: JDV_J65-SubjectRole-DMP codes (:data:`AUTOMATE_ROLE` for a RIS acting alone);
    * ``secteur_activite``: ``code^OID`` (JDV_J61, e.g. ``SA07^1.2.250.1.71.4.2.4``);
    * ``authn_context``: defaults to SmartcardPKI in ``DIRECTE``/``INDIRECTE_RENFORCEE``,
      ``unspecified`` for an automate, Password otherwise;
    * ``validity``: when set, ``Conditions NotBefore/NotOnOrAfter`` around ``now``.
    """

    structure_id: str
    secteur_activite: str
    subject_id: str
    subject_name: str
    lps_name: str
    lps_version: str
    lps_homologation: str
    mode: VihfMode = "INDIRECTE"
    structure_name: str = ""
    roles: tuple[CodedValue, ...] = (AUTOMATE_ROLE,)
    purpose_of_use: PurposeOfUse = "normal"
    issuer: str = ""
    lps_id: str = ""
    authn_context: str | None = None
    authn_context_decl: str | None = None
    vihf_version: str = "3.0"
    mode_attribute: str = ATTR_AUTH_MODE
    validity: dt.timedelta | None = None
    resource_urn: str = "urn:dmp"

    def __post_init__(self) -> None:
        if self.mode not in _MODES:
            raise ConfigError(f"mode VIHF inconnu: {self.mode!r} ({', '.join(_MODES)})")
        if self.purpose_of_use not in PURPOSES_OF_USE:
            raise ConfigError(f"mode d'accès VIHF inconnu: {self.purpose_of_use!r}")
        if not self.roles:
            raise ConfigError("VIHF: au moins un rôle (JDV_J65) est requis")
        for name in ("structure_id", "secteur_activite", "subject_id", "lps_name", "lps_version"):
            if not getattr(self, name):
                raise ConfigError(f"VIHF: {name} est obligatoire")
        if self.mode != "DIRECTE" and not self.subject_name:
            raise ConfigError("VIHF: subject_name (subject-id) est obligatoire en mode indirect")
        if "^" not in self.secteur_activite:
            raise ConfigError(
                f"VIHF: Secteur_Activite au format code^OID attendu: {self.secteur_activite!r}"
            )

    @property
    def is_automate(self) -> bool:
        """True when the subject is a system (role ``AUTOMATE``)."""
        return any(r.code == AUTOMATE_ROLE.code for r in self.roles)

    @property
    def signed(self) -> bool:
        """True when the mode requires a signed VIHF (indirect modes)."""
        return self.mode != "DIRECTE"

    def effective_authn_context(self) -> str:
        """The ``AuthnContextClassRef`` written in the assertion."""
        if self.authn_context:
            return self.authn_context
        if self.mode in ("DIRECTE", "INDIRECTE_RENFORCEE"):
            return AUTHN_SMARTCARD
        return AUTHN_UNSPECIFIED if self.is_automate else AUTHN_PASSWORD

    @classmethod
    def for_automate(
        cls,
        settings: Settings,
        *,
        secteur_activite: str,
        responsible_id: str,
        software: str | None = None,
        **overrides: object,
    ) -> VihfContext:
        """The ANS-proposed profile of a RIS acting alone: ``INDIRECTE``, role ``AUTOMATE``,
        authentication ``unspecified``; structure and LPS identifiers from ``settings``.

        ``responsible_id`` is the ``NameID`` (person responsible for the process); ``software``
        the ``subject-id`` (default: "<LPS name> <version>, <structure name>").
        """
        lps, structure = settings.lps, settings.structure
        name = software or ", ".join(
            p for p in (f"{lps.name} {lps.version}".strip(), structure.name) if p
        )
        values: dict[str, object] = {
            "structure_id": structure.id,
            "structure_name": structure.name,
            "secteur_activite": secteur_activite,
            "subject_id": responsible_id,
            "subject_name": name,
            "lps_name": lps.name,
            "lps_version": lps.version,
            "lps_homologation": lps.dmp_homologation,
            "lps_id": lps.instance,
            "mode": "INDIRECTE",
            "roles": (AUTOMATE_ROLE,),
            "authn_context": AUTHN_UNSPECIFIED,
        }
        values.update(overrides)
        return cls(**values)  # type: ignore[arg-type]

    @classmethod
    def for_psc_user(
        cls,
        settings: Settings,
        user: PscUser,
        *,
        secteur_activite: str | None = None,
        **overrides: object,
    ) -> VihfContext:
        """The VIHF of a professional signed in with Pro Santé Connect (:class:`PscUser`).

        Choices, as the DMP documentation gives no PSC-specific attribute [?]: mode
        ``INDIRECTE_RENFORCEE`` (the RIS server signs the VIHF with the structure's ORG SIGN
        certificate after a strong PSC authentication of the user), ``AuthnContextClassRef``
        :data:`AUTHN_PSC` (``MobileTwoFactorUnregistered``, as the ANS PSC VIHF builder),
        ``NameID`` = ``SubjectNameID`` (IdNat_PS), ``subject-id`` = "Prénom NOM", roles from
        ``SubjectRefPro`` (:func:`psc_roles`); ``Secteur_Activite`` defaults to the secteur of
        the user's first activity; the structure and the LPS come from ``settings``. No PSC token
        is put in the assertion.
        """
        if secteur_activite is None:
            secteurs = [a.secteur_activite for a in user.activities if a.secteur_activite]
            if not secteurs:
                raise ConfigError("VIHF PSC: aucun secteur d'activité dans SubjectRefPro")
            secteur_activite = f"{secteurs[0]}^{OID_SECTEUR_ACTIVITE}"
        lps, structure = settings.lps, settings.structure
        values: dict[str, object] = {
            "structure_id": structure.id,
            "structure_name": structure.name,
            "secteur_activite": secteur_activite,
            "subject_id": user.national_id,
            "subject_name": user.display_name,
            "lps_name": lps.name,
            "lps_version": lps.version,
            "lps_homologation": lps.dmp_homologation,
            "lps_id": lps.instance,
            "mode": "INDIRECTE_RENFORCEE",
            "roles": psc_roles(user),
            "authn_context": AUTHN_PSC,
        }
        values.update(overrides)
        return cls(**values)  # type: ignore[arg-type]


def psc_roles(user: PscUser) -> tuple[CodedValue, ...]:
    """VIHF roles (JDV_J65) of a PSC user: each profession (TRE_G15) then, for the exercices
    with a savoir-faire of type ``S`` (spécialité ordinale), the savoir-faire (TRE_R01).

    Pharmacists' CNOP sections (TRE_G05) are not mapped [?]. A user without profession is
    refused (:class:`~segur_ris.errors.ConfigError`).
    """
    roles: list[CodedValue] = []
    for exercice in user.exercices:
        if exercice.profession:
            roles.append(CodedValue(exercice.profession, OID_PROFESSION))
    for exercice in user.exercices:
        if exercice.savoir_faire and exercice.type_savoir_faire in ("S", ""):
            roles.append(CodedValue(exercice.savoir_faire, OID_SAVOIR_FAIRE))
    unique = tuple(dict.fromkeys(roles))
    if not any(r.code_system == OID_PROFESSION for r in unique):
        raise ConfigError("VIHF PSC: aucune profession dans SubjectRefPro")
    return unique


def _q(ns: str, name: str) -> str:
    return f"{{{ns}}}{name}"


def _instant(moment: dt.datetime) -> str:
    utc = moment.astimezone(dt.UTC) if moment.tzinfo else moment.replace(tzinfo=dt.UTC)
    return utc.strftime("%Y-%m-%dT%H:%M:%S.") + f"{utc.microsecond // 1000:03d}Z"


# The assertion is written as text and parsed once (~40 µs) rather than built element by
# element (~150 µs): it is made for every DMP request. Values go through _xml_text / _xml_attr
# (segur_ris._xml: XML 1.0 characters only, then escaped); the tags and names are constants.
def _unrepresentable(value: str) -> DmpError:
    return DmpError(f"VIHF: valeur non représentable en XML: {value!r}", code="vihf_format")


def _xml_text(value: str) -> str:
    return escape_text(value, _unrepresentable)


def _xml_attr(value: str) -> str:
    return escape_attr(value, _unrepresentable)


def _string_attribute(out: list[str], name: str, value: str) -> None:
    out.append(
        f'<saml2:Attribute Name="{_xml_attr(name)}"><saml2:AttributeValue xmlns:xs="{XS_NS}" '
        f'xsi:type="xs:string">{_xml_text(value)}</saml2:AttributeValue></saml2:Attribute>'
    )


def _coded_attribute(
    out: list[str], name: str, element: str, values: tuple[CodedValue, ...]
) -> None:
    items = []
    for value in values:
        optional = "".join(
            f' {key}="{_xml_attr(text)}"'
            for key, text in (
                ("codeSystemName", value.code_system_name),
                ("displayName", value.display_name),
            )
            if text
        )
        items.append(
            f'<saml2:AttributeValue><{element} xmlns="{HL7_NS}" code="{_xml_attr(value.code)}" '
            f'codeSystem="{_xml_attr(value.code_system)}"{optional} xsi:type="CE"/>'
            "</saml2:AttributeValue>"
        )
    start = f'<saml2:Attribute Name="{_xml_attr(name)}"'
    out.append(f"{start}>{''.join(items)}</saml2:Attribute>" if items else f"{start}/>")


def build_vihf(
    context: VihfContext,
    *,
    resource_id: str,
    now: dt.datetime | None = None,
    assertion_id: str | None = None,
) -> etree._Element:
    """The unsigned VIHF ``saml2:Assertion`` for the patient ``resource_id`` (INS as XDS CX,
    see :func:`segur_ris.ins.to_vihf_resource_id`).

    Element order and attribute names follow the DMP package samples; the assertion is ready for
    :func:`~segur_ris.vihf.sign_vihf` (indirect modes) or to be sent as is (``DIRECTE``).
    """
    if not resource_id or "^" not in resource_id:
        raise DmpError(f"VIHF: resource-id au format CX attendu: {resource_id!r}")
    moment = now or dt.datetime.now(dt.UTC)
    instant = _instant(moment)
    ident = assertion_id or f"_{uuid.uuid4()}"
    out = [
        f'<saml2:Assertion xmlns:saml2="{SAML_NS}" xmlns:xsi="{XSI_NS}" ID="{_xml_attr(ident)}" '
        f'IssueInstant="{instant}" Version="2.0">'
        f'<saml2:Issuer Format="{ISSUER_FORMAT}">{_xml_text(context.issuer)}</saml2:Issuer>'
        f"<saml2:Subject><saml2:NameID>{_xml_text(context.subject_id)}</saml2:NameID></saml2:Subject>"
    ]
    if context.validity is not None:
        out.append(
            f'<saml2:Conditions NotBefore="{instant}" '
            f'NotOnOrAfter="{_instant(moment + context.validity)}"/>'
        )
    out.append(
        f'<saml2:AuthnStatement AuthnInstant="{instant}"><saml2:AuthnContext>'
        "<saml2:AuthnContextClassRef>"
        f"{_xml_text(context.effective_authn_context())}</saml2:AuthnContextClassRef>"
    )
    if context.authn_context_decl:
        decl = _xml_text(context.authn_context_decl)
        out.append(f"<saml2:AuthnContextDecl>{decl}</saml2:AuthnContextDecl>")
    out.append("</saml2:AuthnContext></saml2:AuthnStatement><saml2:AttributeStatement>")
    _string_attribute(out, ATTR_STRUCTURE_ID, context.structure_id)
    _string_attribute(out, ATTR_SECTEUR_ACTIVITE, context.secteur_activite)
    if context.subject_name:
        _string_attribute(out, ATTR_SUBJECT_ID, context.subject_name)
    _coded_attribute(out, ATTR_ROLE, "Role", context.roles)
    _string_attribute(out, ATTR_VIHF_VERSION, context.vihf_version)
    _string_attribute(out, context.mode_attribute, context.mode)
    _string_attribute(out, ATTR_RESOURCE_ID, resource_id)
    _string_attribute(out, ATTR_RESOURCE_URN, context.resource_urn)
    _coded_attribute(
        out, ATTR_PURPOSE_OF_USE, "PurposeOfUse", (PURPOSES_OF_USE[context.purpose_of_use],)
    )
    if context.lps_id:
        _string_attribute(out, ATTR_LPS_ID, context.lps_id)
    _string_attribute(out, ATTR_LPS_NAME, context.lps_name)
    _string_attribute(out, ATTR_LPS_VERSION, context.lps_version)
    if context.lps_homologation:
        _string_attribute(out, ATTR_LPS_HOMOLOGATION, context.lps_homologation)
    out.append("</saml2:AttributeStatement></saml2:Assertion>")
    return parse_xml("".join(out).encode("utf-8"), what="VIHF")


# --- reading ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class VihfToken:
    """The typed content of a VIHF assertion.

    ``attributes`` maps every ``Attribute/@Name`` (in document order) to its simple string
    values; coded values (roles, purpose of use) are in ``roles`` / ``purpose_of_use``.
    """

    assertion_id: str
    issue_instant: str
    issuer: str
    subject_id: str
    authn_context: str
    authn_instant: str
    mode: str | None
    structure_id: str | None
    secteur_activite: str | None
    subject_name: str | None
    resource_id: str | None
    resource_urn: str | None
    vihf_version: str | None
    lps_id: str | None
    lps_name: str | None
    lps_version: str | None
    lps_homologation: str | None
    roles: tuple[CodedValue, ...]
    purpose_of_use: CodedValue | None
    signed: bool
    attributes: Mapping[str, tuple[str, ...]] = field(default_factory=dict)

    @property
    def attribute_names(self) -> tuple[str, ...]:
        """Attribute names in document order."""
        return tuple(self.attributes)


def _decode(data: bytes) -> bytes:
    """Bytes lxml can parse: the samples without XML declaration are sometimes ISO-8859-1."""
    head = data.lstrip()[:100]
    if head.startswith(b"<?xml") and b"encoding" in head.split(b"?>")[0]:
        return data
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        text = data.decode("iso-8859-1")
        if head.startswith(b"<?xml"):
            text = text.split("?>", 1)[1]
        return text.encode("utf-8")
    return data


def _text(element: etree._Element | None) -> str:
    return (element.text or "").strip() if element is not None else ""


def _coded(element: etree._Element) -> CodedValue:
    return CodedValue(
        code=element.get("code", ""),
        code_system=element.get("codeSystem", ""),
        display_name=element.get("displayName", ""),
        code_system_name=element.get("codeSystemName", ""),
    )


def _path(element: etree._Element | None, *tags: str) -> etree._Element | None:
    """First element at the child path ``tags`` (Clark names), as ``find`` but without
    compiling a path: the server reads a VIHF on every request."""
    if element is None or not tags:
        return element
    for child in element.iterchildren(tags[0]):
        found = _path(child, *tags[1:])
        if found is not None:
            return found
    return None


_S = f"{{{SAML_NS}}}"
_ROLE = _q(HL7_NS, "Role")
_PURPOSE = _q(HL7_NS, "PurposeOfUse")


def read_vihf(root: etree._Element) -> VihfToken:
    """Read the typed content of a parsed VIHF assertion element."""
    if root.tag != _q(SAML_NS, "Assertion"):
        found = root.find(f".//{_q(SAML_NS, 'Assertion')}")
        if found is None:
            raise DmpError(f"VIHF: saml2:Assertion attendu, trouvé {root.tag}", code="vihf_format")
        root = found
    attributes: dict[str, tuple[str, ...]] = {}
    roles: list[CodedValue] = []
    purpose: CodedValue | None = None
    for statement in root.iterchildren(f"{_S}AttributeStatement"):
        for attr in statement.iterchildren(f"{_S}Attribute"):
            name = attr.get("Name", "")
            simple: list[str] = []
            for value in attr.iterchildren(f"{_S}AttributeValue"):
                children = [c for c in value if isinstance(c.tag, str)]
                if not children:
                    simple.append((value.text or "").strip())
                for child in children:
                    if child.tag == _ROLE:
                        roles.append(_coded(child))
                    elif child.tag == _PURPOSE:
                        purpose = _coded(child)
            attributes[name] = attributes.get(name, ()) + tuple(simple)

    def first(*names: str) -> str | None:
        for name in names:
            values = attributes.get(name)
            if values:
                return values[0]
        return None

    authn = _path(root, f"{_S}AuthnStatement")
    return VihfToken(
        assertion_id=root.get("ID", ""),
        issue_instant=root.get("IssueInstant", ""),
        issuer=_text(_path(root, f"{_S}Issuer")),
        subject_id=_text(_path(root, f"{_S}Subject", f"{_S}NameID")),
        authn_context=_text(
            _path(root, f"{_S}AuthnStatement", f"{_S}AuthnContext", f"{_S}AuthnContextClassRef")
        ),
        authn_instant=authn.get("AuthnInstant", "") if authn is not None else "",
        mode=first(ATTR_AUTH_MODE, ATTR_AUTH_MODE_ALT),
        structure_id=first(ATTR_STRUCTURE_ID),
        secteur_activite=first(ATTR_SECTEUR_ACTIVITE),
        subject_name=first(ATTR_SUBJECT_ID),
        resource_id=first(ATTR_RESOURCE_ID),
        resource_urn=first(ATTR_RESOURCE_URN),
        vihf_version=first(ATTR_VIHF_VERSION),
        lps_id=first(ATTR_LPS_ID),
        lps_name=first(ATTR_LPS_NAME),
        lps_version=first(ATTR_LPS_VERSION),
        lps_homologation=first(ATTR_LPS_HOMOLOGATION),
        roles=tuple(roles),
        purpose_of_use=purpose,
        signed=_path(root, _q(DS_NS, "Signature")) is not None,
        attributes=MappingProxyType(attributes),
    )


def parse_vihf(data: bytes | etree._Element) -> VihfToken:
    """Parse a VIHF (bytes or element; tolerates the ISO-8859-1 samples without declaration).

    The signature is *not* checked here: use :func:`~segur_ris.vihf.verify_vihf`.
    """
    if isinstance(data, etree._Element):
        return read_vihf(data)
    root = parse_xml(_decode(bytes(data)), what="VIHF")
    return read_vihf(root)
