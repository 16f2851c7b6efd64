"""Which VIHF the DMP sandbox core accepts: the indirect modes must verify against the ORG CA,
the direct mode is read without verification, and the token used is the verified one."""

from __future__ import annotations

import copy

import pytest
from lxml import etree

from segur_ris.dmp import build_envelope, build_set_authorization, parse_envelope
from segur_ris.errors import DmpError
from segur_ris.sandbox._dmp import FAULT_VIHF_INVALID, DmpSandboxCore
from segur_ris.sandbox._dmp_store import DmpStore
from segur_ris.sandbox._pki_org import OrgPki, generate_org_pki
from segur_ris.vihf import VihfContext, VihfMode, build_vihf, sign_vihf

SAML = "urn:oasis:names:tc:SAML:2.0:assertion"
INS = "207058575627097"
PATIENT = f"{INS}^^^&1.2.250.1.213.1.4.10&ISO^NH"
OTHER = "255069999999934^^^&1.2.250.1.213.1.4.10&ISO^NH"
TD03 = "urn:si-dmp-habilitations:HabilitationsEndPoint:setAuthorization"


@pytest.fixture(scope="module")
def org(tmp_path_factory: pytest.TempPathFactory) -> OrgPki:
    return generate_org_pki(tmp_path_factory.mktemp("org"), structure_id="10B0123456")


@pytest.fixture(scope="module")
def other_org(tmp_path_factory: pytest.TempPathFactory) -> OrgPki:
    """Another structure: its SIGN certificate does not carry ``org``'s structure id."""
    return generate_org_pki(tmp_path_factory.mktemp("other"), structure_id="10B0999999")


def _vihf(
    org: OrgPki,
    mode: VihfMode = "INDIRECTE",
    *,
    signer: OrgPki | None = None,
    sign: bool = True,
) -> etree._Element:
    context = VihfContext(
        structure_id=org.structure_id,
        structure_name=org.structure_name,
        secteur_activite="SA07^1.2.250.1.71.4.2.4",
        subject_id="899900063480",
        subject_name="MAX LIBRE",
        lps_name="SEGUR-RIS",
        lps_version="1.0",
        lps_homologation="EVO-TEST",
        mode=mode,
        issuer="CN=899900063480,OU=Médecin,O=TEST,C=FR" if mode == "DIRECTE" else "",
    )
    assertion = build_vihf(context, resource_id=PATIENT)
    return sign_vihf(assertion, (signer or org).sign.credential) if sign else assertion


def _td03(core: DmpSandboxCore, vihf: etree._Element) -> tuple[int, str]:
    """``(HTTP status, TD0.3 status or SOAP fault subcode)``."""
    envelope, _ = build_envelope(build_set_authorization("AJOUT"), TD03, security=vihf)
    answer = core.handle("habilitations", envelope, "application/soap+xml", "CN")
    try:
        body = parse_envelope(answer.body).body
    except DmpError as fault:
        return answer.status, str(fault.code)
    status = body.findtext(".//{urn:si-dmp-habilitations}status")
    return answer.status, str(status)


@pytest.fixture()
def core(org: OrgPki) -> DmpSandboxCore:
    return DmpSandboxCore(DmpStore(), known_ins=[INS], trusted_ca_pem=org.ca_cert.read_bytes())


def test_indirect_modes_must_verify(core: DmpSandboxCore, org: OrgPki, other_org: OrgPki) -> None:
    for mode in ("INDIRECTE", "INDIRECTE_RENFORCEE"):
        assert _td03(core, _vihf(org, mode)) == (200, "DMPOk")
        assert _td03(core, _vihf(org, mode, sign=False)) == (400, FAULT_VIHF_INVALID)
    # signed by a certificate whose OU is another structure (same CA): vihf_structure
    assert _td03(core, _vihf(org, signer=other_org)) == (400, FAULT_VIHF_INVALID)
    untrusted = DmpSandboxCore(
        DmpStore(), known_ins=[INS], trusted_ca_pem=org.sign.cert.read_bytes()
    )
    assert _td03(untrusted, _vihf(org)) == (400, FAULT_VIHF_INVALID)


def test_the_token_used_is_the_verified_one(core: DmpSandboxCore, org: OrgPki) -> None:
    """The patient of the answer comes from the signed assertion: a tampered resource-id is
    refused, it is not read as the unknown patient."""
    signed = _vihf(org)
    tampered = copy.deepcopy(signed)
    for value in tampered.iter(f"{{{SAML}}}AttributeValue"):
        if value.text == PATIENT:
            value.text = OTHER
    assert _td03(core, tampered) == (400, FAULT_VIHF_INVALID)
    assert _td03(core, signed) == (200, "DMPOk")


def test_direct_mode_and_no_trust_are_not_verified(core: DmpSandboxCore, org: OrgPki) -> None:
    assert _td03(core, _vihf(org, "DIRECTE", sign=False)) == (200, "DMPOk")
    unsigned = _vihf(org, sign=False)
    lenient = DmpSandboxCore(DmpStore(), known_ins=[INS], trusted_ca_pem=None)
    assert _td03(lenient, unsigned) == (200, "DMPOk")
    assert _td03(core, unsigned) == (400, FAULT_VIHF_INVALID)


def test_a_signed_token_turned_direct_is_refused(core: DmpSandboxCore, org: OrgPki) -> None:
    """Direct mode is accepted unverified only when unsigned: a signed INDIRECTE token whose
    mode was changed to DIRECTE after signing, and a signed DIRECTE, are refused."""
    turned = etree.fromstring(etree.tostring(_vihf(org)).replace(b">INDIRECTE<", b">DIRECTE<", 1))
    assert b">DIRECTE<" in etree.tostring(turned)
    assert _td03(core, turned) == (400, FAULT_VIHF_INVALID)
    assert _td03(core, _vihf(org, "DIRECTE")) == (400, FAULT_VIHF_INVALID)
