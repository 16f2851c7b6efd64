"""Tests of the DMP VIHF assertion (segur_ris.vihf): build, sign, verify, parse."""

from __future__ import annotations

import copy
import datetime as dt
from pathlib import Path
from typing import Any

import pytest
from lxml import etree

from segur_ris.config import load_settings
from segur_ris.errors import CertificateError, ConfigError, DmpError
from segur_ris.sandbox._pki_org import OrgPki, generate_org_pki
from segur_ris.vihf import (
    AUTHN_PASSWORD,
    AUTHN_SMARTCARD,
    AUTHN_UNSPECIFIED,
    AUTOMATE_ROLE,
    CodedValue,
    VihfContext,
    build_vihf,
    parse_vihf,
    sign_vihf,
    verify_vihf,
)
from tests.conftest import ref_file, xmlsec1_verify_vihf

SAML = "urn:oasis:names:tc:SAML:2.0:assertion"
DS = "http://www.w3.org/2000/09/xmldsig#"
XSI = "http://www.w3.org/2001/XMLSchema-instance"
HL7 = "urn:hl7-org:v3"
EXAMPLES = "dmp/dmp-lps-package/DMP_LPS_Exemple_de_messages_1.0.1_1_-_v02.05.00/Exemples_Jeton_VIHF"
SAMPLES = (
    "VIHF_DIRECTE_non_signe.xml",
    "VIHF_DIRECTE_signe.xml",
    "VIHF_INDIRECTE_signe.xml",
    "VIHF_INDIRECTE_RENFORCEE_signe.xml",
)
INS = "207058575627097^^^&1.2.250.1.213.1.4.10&ISO^NH"
NOW = dt.datetime(2026, 3, 2, 9, 30, 15, 123000, tzinfo=dt.UTC)
MEDECIN = CodedValue("10", "1.2.250.1.71.1.2.7", "Médecin", "professions")
RADIOLOGUE = CodedValue("SM44", "1.2.250.1.71.4.2.5", "Radio-diagnostic et imagerie médicale")


@pytest.fixture(scope="module")
def org(tmp_path_factory: pytest.TempPathFactory) -> OrgPki:
    return generate_org_pki(tmp_path_factory.mktemp("org"), structure_id="10B0123456")


def _context(org: OrgPki, mode: str = "INDIRECTE", **kwargs: object) -> VihfContext:
    values: dict[str, object] = {
        "structure_id": org.structure_id,
        "structure_name": org.structure_name,
        "secteur_activite": "SA01^1.2.250.1.71.4.2.4",
        "subject_id": "899900063480",
        "subject_name": "MAX LIBRE",
        "roles": (MEDECIN, RADIOLOGUE),
        "lps_name": "SEGUR-RIS",
        "lps_version": "1.0",
        "lps_homologation": "EVO-20260001-tmp1",
        "lps_id": "01.02.03.04",
        "mode": mode,
    }
    values.update(kwargs)
    return VihfContext(**values)  # type: ignore[arg-type]


def _official(ref_dir: Path, name: str) -> bytes:
    return ref_file(ref_dir, f"{EXAMPLES}/{name}").read_bytes()


def _attribute_names(root: etree._Element) -> list[str]:
    return [a.get("Name", "") for a in root.iter(f"{{{SAML}}}Attribute")]


# --- building --------------------------------------------------------------------------------


@pytest.mark.parametrize("mode", ["DIRECTE", "INDIRECTE", "INDIRECTE_RENFORCEE"])
def test_build_every_mode_has_every_attribute(org: OrgPki, mode: str) -> None:
    root = build_vihf(_context(org, mode), resource_id=INS, now=NOW, assertion_id="_a1")
    assert root.tag == f"{{{SAML}}}Assertion"
    assert root.get("ID") == "_a1" and root.get("Version") == "2.0"
    assert root.get("IssueInstant") == "2026-03-02T09:30:15.123Z"
    assert [etree.QName(c).localname for c in root] == [
        "Issuer",
        "Subject",
        "AuthnStatement",
        "AttributeStatement",
    ]
    issuer = root.find(f"{{{SAML}}}Issuer")
    assert issuer is not None
    assert issuer.get("Format") == "urn:oasis:names:tc:SAML:1.1:nameid-format:X509SubjectName"
    token = parse_vihf(etree.tostring(root))
    assert token.mode == mode
    assert token.subject_id == "899900063480"
    assert token.structure_id == "10B0123456"
    assert token.secteur_activite == "SA01^1.2.250.1.71.4.2.4"
    assert token.subject_name == "MAX LIBRE"
    assert token.resource_id == INS
    assert token.resource_urn == "urn:dmp"
    assert token.vihf_version == "3.0"
    assert (token.lps_id, token.lps_name, token.lps_version) == ("01.02.03.04", "SEGUR-RIS", "1.0")
    assert token.lps_homologation == "EVO-20260001-tmp1"
    assert token.roles == (MEDECIN, RADIOLOGUE)
    assert token.purpose_of_use == CodedValue(
        "normal", "1.2.250.1.213.1.1.4.248", "Accès normal", "mode acces VIHF 2.0"
    )
    expected_authn = AUTHN_PASSWORD if mode == "INDIRECTE" else AUTHN_SMARTCARD
    assert token.authn_context == expected_authn
    assert not token.signed
    assert _attribute_names(root) == [
        "Identifiant_Structure",
        "Secteur_Activite",
        "urn:oasis:names:tc:xspa:1.0:subject:subject-id",
        "urn:oasis:names:tc:xacml:2.0:subject:role",
        "VIHF_Version",
        "Authentification_mode",
        "urn:oasis:names:tc:xacml:2.0:resource:resource-id",
        "Ressource_URN",
        "urn:oasis:names:tc:xspa:1.0:subject:purposeofuse",
        "LPS_ID",
        "LPS_Nom",
        "LPS_Version",
        "LPS_ID_HOMOLOGATION_DMP",
    ]


def test_value_formats_match_the_official_examples(org: OrgPki, ref_dir: Path) -> None:
    """Same attribute names, same xsi:type for simple values, same CE shape for coded values."""
    ours = build_vihf(_context(org), resource_id=INS, now=NOW)
    official = etree.fromstring(_official(ref_dir, "VIHF_INDIRECTE_signe.xml"))
    assert _attribute_names(ours) == _attribute_names(official)

    def shapes(root: etree._Element) -> dict[str, list[tuple[str | None, str | None]]]:
        out: dict[str, list[tuple[str | None, str | None]]] = {}
        for attr in root.iter(f"{{{SAML}}}Attribute"):
            values = attr.findall(f"{{{SAML}}}AttributeValue")
            out[attr.get("Name", "")] = [
                (
                    v.get(f"{{{XSI}}}type"),
                    etree.QName(v[0]).text if len(v) else None,
                )
                for v in values[:1]
            ]
        return out

    assert shapes(ours) == shapes(official)
    for name in ("Role", "PurposeOfUse"):
        ce = next(ours.iter(f"{{{HL7}}}{name}"))
        assert ce.get(f"{{{XSI}}}type") == "CE"
        assert {"code", "codeSystem"} <= set(ce.attrib)


def test_automate_profile_from_settings() -> None:
    settings = load_settings(env="demo", environ={})
    context = VihfContext.for_automate(
        settings, secteur_activite="SA07^1.2.250.1.71.4.2.4", responsible_id="899900063480"
    )
    assert context.mode == "INDIRECTE" and context.roles == (AUTOMATE_ROLE,)
    token = parse_vihf(etree.tostring(build_vihf(context, resource_id=INS)))
    assert token.roles[0].code == "AUTOMATE"
    assert token.roles[0].code_system == "1.2.250.1.213.1.1.4.6"
    assert token.authn_context == AUTHN_UNSPECIFIED
    assert token.structure_id == settings.structure.id
    assert token.lps_name == settings.lps.name
    assert settings.lps.name in (token.subject_name or "")


def test_options_purpose_conditions_and_spelling(org: OrgPki) -> None:
    context = _context(
        org,
        purpose_of_use="bris_de_glace",
        validity=dt.timedelta(minutes=5),
        mode_attribute="Authentification_Mode",
        authn_context_decl="APP_BROWSER_AUTH",
    )
    root = build_vihf(context, resource_id=INS, now=NOW)
    conditions = root.find(f"{{{SAML}}}Conditions")
    assert conditions is not None
    assert conditions.get("NotOnOrAfter") == "2026-03-02T09:35:15.123Z"
    token = parse_vihf(root)
    assert token.purpose_of_use is not None and token.purpose_of_use.code == "bris_de_glace"
    assert "Authentification_Mode" in token.attributes and token.mode == "INDIRECTE"
    assert root.findtext(f".//{{{SAML}}}AuthnContextDecl") == "APP_BROWSER_AUTH"


@pytest.mark.parametrize(
    "change",
    [
        {"mode": "MIXTE"},
        {"purpose_of_use": "curiosite"},
        {"roles": ()},
        {"structure_id": ""},
        {"subject_name": ""},
        {"secteur_activite": "SA07"},
    ],
)
def test_invalid_context_is_refused(org: OrgPki, change: dict[str, Any]) -> None:
    with pytest.raises(ConfigError):
        _context(org, **change)


def test_resource_id_must_be_a_cx(org: OrgPki) -> None:
    with pytest.raises(DmpError):
        build_vihf(_context(org), resource_id="207058575627097")


# --- signing ---------------------------------------------------------------------------------


def test_indirect_signed_and_verified_by_us_and_xmlsec1(org: OrgPki, tmp_path: Path) -> None:
    unsigned = build_vihf(_context(org), resource_id=INS, now=NOW)
    signed = sign_vihf(unsigned, org.sign.credential)
    assert unsigned.find(f"{{{DS}}}Signature") is None  # input untouched
    assert [etree.QName(c).localname for c in signed][:3] == ["Issuer", "Signature", "Subject"]
    assert signed.findtext(f"{{{SAML}}}Issuer") == org.sign.credential.subject
    algorithms = [e.get("Algorithm") for e in signed.iter() if e.get("Algorithm")]
    assert algorithms == [
        "http://www.w3.org/2001/10/xml-exc-c14n#",
        "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256",
        "http://www.w3.org/2000/09/xmldsig#enveloped-signature",
        "http://www.w3.org/2001/10/xml-exc-c14n#",
        "http://www.w3.org/2001/04/xmlenc#sha256",
    ]
    reference = signed.find(f".//{{{DS}}}Reference")
    assert reference is not None and reference.get("URI") == f"#{signed.get('ID')}"
    assert signed.find(f".//{{{DS}}}X509Certificate") is not None

    verified = verify_vihf(etree.tostring(signed), org.ca_cert.read_bytes())
    assert verified.signer_subject == org.sign.credential.subject
    assert verified.token.signed and verified.token.resource_id == INS
    assert verified.signature_method.endswith("rsa-sha256")

    result = xmlsec1_verify_vihf(tmp_path, etree.tostring(signed, encoding="UTF-8"), org.ca_cert)
    assert result.returncode == 0, result.stderr
    assert "OK" in result.stdout + result.stderr


@pytest.mark.parametrize("mode", ["INDIRECTE", "INDIRECTE_RENFORCEE"])
def test_tampering_is_detected_by_us_and_xmlsec1(org: OrgPki, tmp_path: Path, mode: str) -> None:
    signed = sign_vihf(build_vihf(_context(org, mode), resource_id=INS), org.sign.credential)
    tampered = copy.deepcopy(signed)
    for value in tampered.iter(f"{{{SAML}}}AttributeValue"):
        if value.text == INS:
            value.text = "255069999999934^^^&1.2.250.1.213.1.4.10&ISO^NH"
    with pytest.raises(DmpError) as info:
        verify_vihf(tampered, org.ca_cert.read_bytes())
    assert info.value.code == "vihf_signature"
    result = xmlsec1_verify_vihf(tmp_path, etree.tostring(tampered), org.ca_cert)
    assert result.returncode != 0


def test_untrusted_or_wrong_structure_signer(org: OrgPki, tmp_path: Path) -> None:
    signed = sign_vihf(build_vihf(_context(org), resource_id=INS), org.sign.credential)
    with pytest.raises(CertificateError) as info:
        verify_vihf(signed, org.sign.cert.read_bytes())  # the leaf is not a CA of itself
    assert info.value.code == "certificate_untrusted"
    with pytest.raises(CertificateError) as info:
        verify_vihf(signed, org.ca_cert.read_bytes(), now=NOW + dt.timedelta(days=3650))
    assert info.value.code == "certificate_expired"
    other = sign_vihf(
        build_vihf(_context(org, structure_id="10B0999999"), resource_id=INS),
        org.sign.credential,
    )
    with pytest.raises(DmpError) as structure_info:
        verify_vihf(other, org.ca_cert.read_bytes())
    assert structure_info.value.code == "vihf_structure"


def test_direct_mode_stays_unsigned(org: OrgPki) -> None:
    context = _context(org, "DIRECTE", issuer="CN=899900063480,OU=Médecin,O=TEST,C=FR")
    root = build_vihf(context, resource_id=INS)
    assert not context.signed
    assert root.find(f".//{{{DS}}}Signature") is None
    with pytest.raises(DmpError) as info:
        verify_vihf(root, org.ca_cert.read_bytes())
    assert info.value.code == "vihf_unsigned"


def test_ec_key_cannot_sign(org: OrgPki, tmp_path: Path) -> None:
    from cryptography.hazmat.primitives.asymmetric import ec

    from segur_ris.certificates import Credential

    ec_credential = Credential(
        certificate=org.sign.credential.certificate,
        private_key=ec.generate_private_key(ec.SECP256R1()),
    )
    with pytest.raises(CertificateError):
        sign_vihf(build_vihf(_context(org), resource_id=INS), ec_credential)


# --- official examples -----------------------------------------------------------------------


@pytest.mark.parametrize("name", SAMPLES)
def test_official_examples_parse(ref_dir: Path, name: str) -> None:
    token = parse_vihf(_official(ref_dir, name))
    assert token.subject_id == "899900063480"
    assert token.mode == name.removeprefix("VIHF_").removesuffix("_signe.xml").removesuffix("_non")
    assert token.resource_id == INS
    assert token.resource_urn == "urn:dmp"
    assert token.vihf_version == "3.0"
    assert token.lps_homologation == "NumAutorisation"
    assert [r.code for r in token.roles] == ["10", "SM26"]
    assert token.purpose_of_use is not None and token.purpose_of_use.code == "normal"
    assert token.purpose_of_use.display_name == "Accès normal"
    assert token.signed == (not name.endswith("non_signe.xml"))
    assert token.authn_context == AUTHN_SMARTCARD
