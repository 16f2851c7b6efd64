"""The VIHF of a professional signed in with Pro Santé Connect (VihfContext.for_psc_user)."""

from __future__ import annotations

import dataclasses
import datetime as dt

import pytest
from lxml import etree

from segur_ris._xml import parse_xml
from segur_ris.config import load_settings
from segur_ris.errors import ConfigError, DmpError
from segur_ris.psc import PscUser, parse_user
from segur_ris.sandbox._pki_org import OrgPki, generate_org_pki
from segur_ris.sandbox._psc import SANDBOX_PROFESSIONALS
from segur_ris.vihf import (
    AUTHN_PSC,
    OID_PROFESSION,
    OID_SAVOIR_FAIRE,
    CodedValue,
    VihfContext,
    build_vihf,
    parse_vihf,
    psc_roles,
    sign_vihf,
    verify_vihf,
)

INS = "207058575627097^^^&1.2.250.1.213.1.4.10&ISO^NH"
NOW = dt.datetime(2026, 3, 2, 9, 30, 15, tzinfo=dt.UTC)
SAML = "urn:oasis:names:tc:SAML:2.0:assertion"


@pytest.fixture(scope="module")
def org(tmp_path_factory: pytest.TempPathFactory) -> OrgPki:
    return generate_org_pki(tmp_path_factory.mktemp("org-psc"), structure_id="10B0123456")


def _user(login: str = "radiologue") -> PscUser:
    return parse_user(SANDBOX_PROFESSIONALS[login].claims())


def test_psc_vihf_content() -> None:
    settings = load_settings(env="demo")
    context = VihfContext.for_psc_user(settings, _user())
    assert context.mode == "INDIRECTE_RENFORCEE" and context.signed
    token = parse_vihf(build_vihf(context, resource_id=INS, now=NOW))
    assert token.authn_context == AUTHN_PSC
    assert token.authn_context.endswith(":MobileTwoFactorUnregistered")
    assert token.mode == "INDIRECTE_RENFORCEE"
    assert token.subject_id == "899900018476"
    assert token.subject_name == "Marie RADIOLOGUE-SANDBOX"
    assert token.roles == (
        CodedValue("10", OID_PROFESSION),
        CodedValue("SM44", OID_SAVOIR_FAIRE),
    )
    assert token.secteur_activite == "SA07^1.2.250.1.71.4.2.4"
    assert token.structure_id == settings.structure.id
    assert token.lps_name == settings.lps.name
    assert token.resource_id == INS
    assert token.purpose_of_use is not None and token.purpose_of_use.code == "normal"


def test_psc_vihf_overrides_and_roles() -> None:
    settings = load_settings(env="demo")
    manip = _user("manipulateur")
    assert psc_roles(manip) == (CodedValue("98", OID_PROFESSION),)
    context = VihfContext.for_psc_user(
        settings, manip, secteur_activite="SA01^1.2.250.1.71.4.2.4", purpose_of_use="centre_15"
    )
    token = parse_vihf(build_vihf(context, resource_id=INS, now=NOW))
    assert token.secteur_activite == "SA01^1.2.250.1.71.4.2.4"
    assert token.purpose_of_use is not None and token.purpose_of_use.code == "centre_15"
    assert token.roles == (CodedValue("98", OID_PROFESSION),)


def test_psc_vihf_refuses_incomplete_users() -> None:
    settings = load_settings(env="demo")
    user = _user()
    without_profession = dataclasses.replace(
        user, exercices=tuple(dataclasses.replace(e, profession="") for e in user.exercices)
    )
    with pytest.raises(ConfigError, match="profession"):
        VihfContext.for_psc_user(settings, without_profession)
    without_activity = dataclasses.replace(
        user, exercices=tuple(dataclasses.replace(e, activities=()) for e in user.exercices)
    )
    with pytest.raises(ConfigError, match="secteur"):
        VihfContext.for_psc_user(settings, without_activity)
    context = VihfContext.for_psc_user(
        settings, without_activity, secteur_activite="SA07^1.2.250.1.71.4.2.4"
    )
    assert context.secteur_activite.startswith("SA07")


def test_psc_vihf_signed_and_verified(org: OrgPki) -> None:
    settings = load_settings(env="demo")
    context = VihfContext.for_psc_user(settings, _user(), structure_id=org.structure_id)
    signed = sign_vihf(build_vihf(context, resource_id=INS), org.sign.credential)
    verified = verify_vihf(etree.tostring(signed), org.ca_cert.read_bytes())
    assert verified.token.authn_context == AUTHN_PSC
    assert verified.token.subject_id == "899900018476"
    assert verified.token.structure_id == org.structure_id
    assert verified.token.signed
    # the signature covers the PSC authentication context
    text = etree.tostring(signed).replace(b"MobileTwoFactorUnregistered", b"SmartcardPKI")
    with pytest.raises(DmpError) as caught:
        verify_vihf(text, org.ca_cert.read_bytes())
    assert caught.value.code == "vihf_signature"


def test_automate_vihf_unchanged() -> None:
    settings = load_settings(env="demo")
    context = VihfContext.for_automate(
        settings, secteur_activite="SA07^1.2.250.1.71.4.2.4", responsible_id="899900018476"
    )
    token = parse_vihf(build_vihf(context, resource_id=INS, now=NOW))
    assert token.authn_context != AUTHN_PSC
    assert token.mode == "INDIRECTE"
    assert (
        len(
            parse_xml(etree.tostring(build_vihf(context, resource_id=INS))).findall(
                f"{{{SAML}}}AttributeStatement/{{{SAML}}}Attribute"
            )
        )
        >= 8
    )


def test_psc_sign_in_then_dmp_call(tmp_path_factory: pytest.TempPathFactory, org: OrgPki) -> None:
    """End to end: a radiologist signs in on the PSC sandbox, the RIS calls the sandbox DMP
    (TD0.2) with the VIHF of that user, signed by the structure; the DMP reads it back."""
    from segur_ris.dmp._client import DmpClient
    from segur_ris.sandbox import generate_test_pki
    from segur_ris.sandbox._dmp import DmpSandbox
    from segur_ris.sandbox._psc import PscSandbox
    from tests.psc_fixtures import sandbox_client

    pki = generate_test_pki(tmp_path_factory.mktemp("tls-psc-dmp"))
    with PscSandbox(pki) as provider, sandbox_client(provider, pki) as psc:
        request = psc.authorization_url(login_hint="radiologue")
        user = psc.userinfo(psc.exchange_code(request, provider.sign_in(request.url)))
    ins = "279035121518989"
    with DmpSandbox(pki, org.ca_cert.read_bytes(), known_ins=(ins,)) as dmp:
        settings = load_settings(env="demo", environ={}).with_endpoints(dmp=dmp.url)
        context = VihfContext.for_psc_user(settings, user, structure_id=org.structure_id)
        with DmpClient(
            settings,
            vihf=context,
            sign_credential=org.sign.credential,
            client_cert=(org.auth_cli.cert, org.auth_cli.key),
            ca_bundle=pki.ca_cert,
        ) as client:
            status = client.exists(ins)
        body = dmp.requests[-1]
    assert status.exists  # the DMP accepted the signed PSC VIHF and found the patient
    received = parse_vihf(body)  # the assertion in wsse:Security of the SOAP request
    assert received.signed
    assert received.authn_context == AUTHN_PSC
    assert received.mode == "INDIRECTE_RENFORCEE"
    assert received.subject_id == user.national_id == "899900018476"
    assert received.roles[0] == CodedValue("10", OID_PROFESSION)
