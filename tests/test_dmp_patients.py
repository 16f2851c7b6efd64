"""TD0.2 / TD0.3 and the DMP SOAP envelope against the official DMP package samples and the
HL7v3 schemas of the DMP WSDL annex."""

from __future__ import annotations

from pathlib import Path

import pytest
from lxml import etree

from segur_ris.dmp import (
    ACTION_SET_AUTHORIZATION,
    ACTION_TD02,
    build_envelope,
    build_set_authorization,
    build_td02,
    parse_envelope,
    parse_set_authorization_response,
    parse_td02_response,
)
from segur_ris.errors import DmpError, UnsafeXmlError
from segur_ris.ins import Ins, parse_matricule
from tests.conftest import ref_file

SAMPLES = "dmp/dmp-lps-package/DMP_LPS_Exemple_de_messages_1.0.1_1_-_v02.05.00"
SCHEMAS = "dmp/dmp-lps-package/annexe-wsdl-schema/schema/HL7V3/NE2009/multicacheschemas"
INS = Ins(parse_matricule("207058575627097"), "1.2.250.1.213.1.4.10")
S = "{http://www.w3.org/2003/05/soap-envelope}"
A = "{http://www.w3.org/2005/08/addressing}"


def schema(ref_dir: Path, name: str) -> etree.XMLSchema:
    return etree.XMLSchema(etree.parse(str(ref_file(ref_dir, f"{SCHEMAS}/{name}"))))


def sample_body(ref_dir: Path, name: str) -> etree._Element:
    return etree.parse(str(ref_file(ref_dir, f"{SAMPLES}/{name}"))).getroot().find(f"{S}Body")[0]


def test_td02_request_validates_and_matches_the_sample(ref_dir: Path) -> None:
    body = build_td02(INS, sender_oid="1.2.250.1.999.1", sender_name="segur-ris", query_id="q1")
    xsd = schema(ref_dir, "PRPA_IN201307UV02.xsd")
    assert xsd.validate(etree.fromstring(etree.tostring(body))), xsd.error_log
    official = sample_body(ref_dir, "TD0.2_-_Test_dexistence_requete.xml")
    assert xsd.validate(etree.fromstring(etree.tostring(official)))

    def shape(element: etree._Element) -> list[str]:
        return [etree.QName(e).localname for e in element.iter() if isinstance(e.tag, str)]

    ours, theirs = (
        shape(body),
        [t for t in shape(official) if t not in ("attentionLine", "dataSource")],
    )
    assert ours == theirs
    ns = {"h": "urn:hl7-org:v3"}
    value = body.find(".//h:patientIdentifier/h:value", ns)
    assert value is not None
    assert (value.get("root"), value.get("extension")) == (
        "1.2.250.1.213.1.4.10",
        "207058575627097",
    )
    assert body.find(".//h:reasonCode", ns).get("code") == "TEST_EXST"  # type: ignore[union-attr]


def test_td02_official_response(ref_dir: Path) -> None:
    status = parse_td02_response(sample_body(ref_dir, "TD0.2_-_Test_dexistence_reponse.xml"))
    assert status.exists and status.query_response == "OK"
    assert (status.authorization, status.medecin_traitant) == ("VALIDE", True)
    assert ("1.2.250.1.213.1.4.10", "207058575627097") in status.ins_ids
    assert (status.compte_internet_ouvert, status.rattachement_ens) == (True, False)
    assert (status.patient_status, status.acknowledgement) == ("active", "AA")


def test_td02_no_dmp() -> None:
    body = etree.fromstring(
        b'<PRPA_IN201308UV02 xmlns="urn:hl7-org:v3"><acknowledgement typeCode="AA"/>'
        b'<controlActProcess><queryAck><queryResponseCode code="NF"/></queryAck>'
        b"</controlActProcess></PRPA_IN201308UV02>"
    )
    status = parse_td02_response(body)
    assert not status.exists and status.query_response == "NF"
    with pytest.raises(DmpError):
        parse_td02_response(etree.fromstring(b"<other/>"))


def test_td03_request_is_the_sample_body(ref_dir: Path) -> None:
    official = sample_body(ref_dir, "TD0.3_-_Mise_a_jour_de_lautorisation_requete.xml")
    ours = build_set_authorization("AJOUT")
    assert (ours.tag, [(c.tag, c.text) for c in ours]) == (
        official.tag,
        [(c.tag, (c.text or "").strip()) for c in official if isinstance(c.tag, str)],
    )
    with pytest.raises(DmpError):
        build_set_authorization("PEUT-ETRE")
    ok = etree.fromstring(
        b'<setAuthorizationResponse xmlns="urn:si-dmp-habilitations"><output><status>DMPOk'
        b"</status></output></setAuthorizationResponse>"
    )
    assert parse_set_authorization_response(ok) == "DMPOk"
    refused = etree.fromstring(
        b'<setAuthorizationResponse xmlns="urn:si-dmp-habilitations"><output><status>DMPClosed'
        b"</status><context>DMP ferm\xc3\xa9</context></output></setAuthorizationResponse>"
    )
    with pytest.raises(DmpError) as info:
        parse_set_authorization_response(refused)
    assert info.value.code == "DMPClosed"


def test_envelope_round_trip(ref_dir: Path) -> None:
    security = etree.fromstring(
        b'<saml2:Assertion xmlns:saml2="urn:oasis:names:tc:SAML:2.0:assertion" ID="_1"/>'
    )
    data, message_id = build_envelope(
        build_td02(INS, sender_oid="1.2", sender_name="x"), ACTION_TD02, security=security
    )
    root = etree.fromstring(data)
    header = root.find(f"{S}Header")
    assert header is not None
    assert [etree.QName(c).localname for c in header] == [
        "MessageID",
        "To",
        "ReplyTo",
        "Action",
        "Security",
    ]
    assert (
        header.findtext(f"{A}Action") == ACTION_TD02
        and header.findtext(f"{A}MessageID") == message_id
    )
    parsed = parse_envelope(data)
    assert parsed.action == ACTION_TD02 and parsed.message_id == message_id
    answer = parse_envelope(
        ref_file(ref_dir, f"{SAMPLES}/TD0.2_-_Test_dexistence_reponse.xml").read_bytes()
    )
    assert answer.relates_to and answer.body.tag.endswith("PRPA_IN201308UV02")
    td03 = parse_envelope(build_envelope(build_set_authorization(), ACTION_SET_AUTHORIZATION)[0])
    assert td03.body.tag == "{urn:si-dmp-habilitations}setAuthorization"


def test_faults_and_hostile_answers() -> None:
    fault = (
        b'<soap:Envelope xmlns:soap="http://www.w3.org/2003/05/soap-envelope"><soap:Body><soap:Fault>'
        b"<soap:Code><soap:Value>soap:Sender</soap:Value><soap:Subcode><soap:Value>dmp:DMPAccessDenied"
        b"</soap:Value></soap:Subcode></soap:Code><soap:Reason><soap:Text>refus</soap:Text></soap:Reason>"
        b"</soap:Fault></soap:Body></soap:Envelope>"
    )
    with pytest.raises(DmpError) as info:
        parse_envelope(fault)
    assert info.value.code == "DMPAccessDenied"
    with pytest.raises(UnsafeXmlError):
        parse_envelope(b'<!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]><x>&e;</x>')
    with pytest.raises(DmpError):
        parse_envelope(b"<html/>")
