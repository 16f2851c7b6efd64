"""Sans-IO INSi core: requests validated by the CNAM XSDs, official responses parsed, every
anomaly mapped to its typed error."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from lxml import etree

from segur_ris.errors import (
    IdentityTraitsError,
    InsiFault,
    InsiResponseError,
    InsiTransportError,
    InvalidMatriculeError,
    SegurError,
    UnsafeXmlError,
)
from segur_ris.ins import BirthDate, IdentityTraits, InsKeyWarning, InsKind
from segur_ris.insi import (
    ACTION_TRAITS,
    CodeCR,
    InsiContext,
    VitaleQuery,
    build_traits_request,
    build_vitale_request,
    first_name_attempts,
    parse_response,
)
from tests.conftest import ref_file

XSD = "insi/padoa-tlsi-ins/src/wsdl/xsd"
OFFICIAL_WSDL = "insi/padoa-tlsi-ins/src/wsdl/DESIR_ICIR_EXP_1.5.0.wsdl"
S = "{http://www.w3.org/2003/05/soap-envelope}"
CONTEXT = InsiContext(
    emetteur="899900063480",
    lps_name="segur-ris-test",
    lps_version="1.00.00",
    idam="NumAutorisation",
    instance="791e183f-6f66-4248-a312-5ed5cd4785d4",
)
NOW = datetime(2026, 11, 24, 9, 39, 2, 4000, tzinfo=UTC)


def traits(
    nom: str = "ADRUN",
    prenoms: str = "ZOE",
    sexe: str = "F",
    date: str = "1975-12-31",
    lieu: str | None = None,
) -> IdentityTraits:
    return IdentityTraits.create(nom, prenoms, sexe, date, lieu)


def schema(ref_dir: Path, relative: str) -> etree.XMLSchema:
    return etree.XMLSchema(etree.parse(str(ref_file(ref_dir, f"{XSD}/{relative}"))))


def header_child(envelope: etree._Element, tag: str) -> etree._Element:
    found = envelope.find(f"{S}Header/{tag}")
    assert found is not None, tag
    return found


def assert_valid(xsd: etree.XMLSchema, element: etree._Element) -> None:
    doc = etree.fromstring(etree.tostring(element))
    assert xsd.validate(doc), xsd.error_log


# --- requests ----------------------------------------------------------------------------------


def test_traits_request_validates_against_cnam_xsds(ref_dir: Path) -> None:
    request = build_traits_request(traits(lieu="63220"), CONTEXT, message_id="uuid:1234", now=NOW)
    envelope = etree.fromstring(request.body)
    assert envelope.tag == f"{S}Envelope"
    body = envelope.find(f"{S}Body")[0]
    assert_valid(schema(ref_dir, "ServiceIdentiteCertifiee/INSi_RECSANS_INS.xsd"), body)
    lps = header_child(envelope, "{urn:siram:lps:ctxlps}ContexteLPS")
    bam = header_child(envelope, "{urn:siram:bam:ctxbam}ContexteBAM")
    assert_valid(schema(ref_dir, "CTX/ROOT_ctxlps_CTXLPS_V01_00.xsd"), lps)
    assert_valid(schema(ref_dir, "CTX/ROOT_ctxbam_CTXBAM_V01_02.xsd"), bam)
    ns = {
        "r": "http://www.cnamts.fr/INSiRecSans",
        "l": "urn:siram:lps:ctxlps",
        "w": "http://www.w3.org/2005/08/addressing",
    }
    assert body.xpath("r:NomNaissance/text()", namespaces=ns) == ["ADRUN"]
    assert body.xpath("r:Prenom/text()", namespaces=ns) == ["ZOE"]
    assert body.xpath("r:LieuNaissance/text()", namespaces=ns) == ["63220"]
    assert lps.xpath("l:LPS/l:IDAM/text()", namespaces=ns) == ["NumAutorisation"]
    assert lps.xpath("l:LPS/l:IDAM/@R", namespaces=ns) == ["4"]
    assert lps.xpath("l:Temps/text()", namespaces=ns) == ["2026-11-24T09:39:02.004Z"]
    assert envelope.xpath("//w:Action/text()", namespaces=ns) == [ACTION_TRAITS]
    assert envelope.xpath("//w:MessageID/text()", namespaces=ns) == ["uuid:1234"]
    # certificate mode: no wsse:Security header
    assert b"Security" not in request.body
    assert request.content_type.startswith("application/soap+xml")
    assert f'action="{ACTION_TRAITS}"' in request.content_type


def _without_random_ids(data: bytes) -> bytes:
    root = etree.fromstring(data)
    for el in root.iter("{urn:siram:lps:ctxlps}Id", "{urn:siram:bam:ctxbam}Id"):
        el.text = "ID"
    return etree.tostring(root, method="c14n")


def test_packaged_wsdl_and_official_cnam_wsdl_give_the_same_request(ref_dir: Path) -> None:
    official = ref_file(ref_dir, OFFICIAL_WSDL)
    t = traits("TCHITCHI", "OLA CATARINA BELLA", "F", "1936-06-21", "63220")
    ours = build_traits_request(
        t, CONTEXT, prenom="OLA CATARINA BELLA", message_id="uuid:1", now=NOW
    )
    theirs = build_traits_request(
        t, CONTEXT, prenom="OLA CATARINA BELLA", message_id="uuid:1", now=NOW, wsdl=official
    )
    assert _without_random_ids(ours.body) == _without_random_ids(theirs.body)
    query = VitaleQuery(nir="2751263220749", cle="74", date_naissance=BirthDate.parse("1975-12-31"))
    assert _without_random_ids(
        build_vitale_request(query, CONTEXT, message_id="uuid:2", now=NOW).body
    ) == _without_random_ids(
        build_vitale_request(query, CONTEXT, message_id="uuid:2", now=NOW, wsdl=official).body
    )


def test_vitale_request_validates(ref_dir: Path) -> None:
    query = VitaleQuery(
        nir="2751263220749",
        cle="74",
        date_naissance=BirthDate.parse("1975-12-31"),
        rang_naissance="1",
        nir_od="1750163220748",
        cle_od="46",
    )
    envelope = etree.fromstring(build_vitale_request(query, CONTEXT).body)
    body = envelope.find(f"{S}Body")[0]
    assert body.tag == "{http://www.cnamts.fr/INSiRecVit}RECVITALE"
    assert_valid(schema(ref_dir, "ServiceIdentiteCertifiee/INSi_RECVITALE_INS.xsd"), body)
    bam = header_child(envelope, "{urn:siram:bam:ctxbam}ContexteBAM")
    assert_valid(schema(ref_dir, "CTX/ROOT_ctxbam_CTXBAM_V01_02.xsd"), bam)
    assert bam.findtext(".//{urn:siram:bam:ctxbam}Num") == "2751263220749"


def test_cps_assertion_is_carried_untouched(ref_dir: Path) -> None:
    sample = ref_file(ref_dir, "insi/padoa-tlsi-ins/extracted/assertion_ps_CPS_saml.xml")
    assertion = etree.fromstring(sample.read_bytes())
    request = build_traits_request(traits(), CONTEXT, security=[assertion])
    envelope = etree.fromstring(request.body)
    carried = envelope.find(
        f"{S}Header/{{http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd}}Security/"
        "{urn:oasis:names:tc:SAML:2.0:assertion}Assertion"
    )
    assert carried is not None
    # the enveloped signature covers exc-c14n of the assertion: it must be byte-identical
    assert etree.tostring(carried, method="c14n", exclusive=True) == etree.tostring(
        assertion, method="c14n", exclusive=True
    )
    assert envelope.find(f"{S}Body").get("Id") == "_0"


def test_first_name_attempts() -> None:
    assert first_name_attempts(traits(prenoms="ZOE")) == ("ZOE",)
    assert first_name_attempts(traits(prenoms="OLA CATARINA BELLA")) == (
        "OLA",
        "CATARINA",
        "BELLA",
        "OLA CATARINA BELLA",
    )


# --- official responses ------------------------------------------------------------------------


def test_parse_official_cr00_sample(ref_dir: Path) -> None:
    data = ref_file(
        ref_dir, "insi/dmp-lps-kit-ServiceICIR/WS_INS2_rechercherInsAvecTraitsIdentite_reponse.xml"
    ).read_bytes()
    result = parse_response(data)
    assert result.code is CodeCR.OK and result.found
    assert result.libelle == "OK"
    assert result.ins is not None
    assert result.ins.value == "207058575627097"
    assert result.ins.oid == "1.2.250.1.213.1.4.8"
    assert result.ins.kind is InsKind.NIR
    assert result.historiques == ()
    assert result.traits == traits("PATB-QUATRE", "LAURENCE", "F", "1907-05-25", "85756")


@pytest.mark.parametrize(
    ("relative", "code", "libelle"),
    [
        (
            "insi/padoa-tlsi-ins/src/ins/fixtures/REP_CR01.xml",
            CodeCR.AUCUNE_IDENTITE,
            "Aucune identite trouvee",
        ),
        (
            "insi/padoa-tlsi-ins/extracted/response_CR02_plusieurs_identites.xml",
            CodeCR.PLUSIEURS_IDENTITES,
            "Plusieurs identites trouvees",
        ),
    ],
)
def test_parse_official_cr01_cr02(ref_dir: Path, relative: str, code: CodeCR, libelle: str) -> None:
    result = parse_response(ref_file(ref_dir, relative).read_bytes())
    assert (result.code, result.libelle, result.ins, result.traits) == (code, libelle, None, None)
    assert not result.found


def envelope(body: str, header: str = "") -> bytes:
    return (
        '<?xml version="1.0" encoding="UTF-8"?>'
        f'<soap:Envelope xmlns:soap="http://www.w3.org/2003/05/soap-envelope">'
        f"<soap:Header>{header}</soap:Header><soap:Body>{body}</soap:Body></soap:Envelope>"
    ).encode()


def resultat(individu: str, code: str = "00") -> bytes:
    return envelope(
        f'<RESULTAT xmlns="http://www.cnamts.fr/INSiResultat"><CR><CodeCR>{code}</CodeCR>'
        f"<LibelleCR>OK</LibelleCR></CR>{individu}</RESULTAT>",
        '<wsa:RelatesTo xmlns:wsa="http://www.w3.org/2005/08/addressing">uuid:42</wsa:RelatesTo>',
    )


def ins_xml(tag: str, num: str, cle: str, oid: str = "1.2.250.1.213.1.4.8") -> str:
    return (
        f"<{tag}><IdIndividu><NumIdentifiant>{num}</NumIdentifiant><Cle>{cle}</Cle>"
        f"</IdIndividu><OID>{oid}</OID></{tag}>"
    )


TIQ = (
    "<TIQ><NomNaissance>HERMANN</NomNaissance><Prenom>GATIEN</Prenom>"
    "<ListePrenom>GATIEN</ListePrenom><Sexe>M</Sexe><DateNaissance>1981-03-24</DateNaissance>"
    "<LieuNaissance>63220</LieuNaissance></TIQ>"
)


def test_historical_ins_with_bad_key_warns_not_fails() -> None:
    data = resultat(
        "<INDIVIDU>"
        + ins_xml("INSACTIF", "1810363220456", "76")
        + ins_xml("INSHISTO", "2810363220456", "10")
        + TIQ
        + "</INDIVIDU>"
    )
    with pytest.warns(InsKeyWarning):
        result = parse_response(data)
    assert result.ins is not None and result.ins.value == "181036322045676"
    assert [h.value for h in result.historiques] == ["281036322045610"]
    assert result.relates_to == "uuid:42"
    with pytest.warns(InsKeyWarning):
        assert parse_response(data, message_id="uuid:42").found
    with pytest.raises(InsiResponseError, match="RelatesTo"):
        parse_response(data, message_id="uuid:other")


def test_active_ins_with_bad_key_as_in_cnda_case_2_08_warns() -> None:
    """CNDA test 2.08 cas 2 (HERMANN) returns INSACTIF 1810363220456/60, whose key does not
    check: the INSi is the authority, so the answer is accepted with a warning."""
    data = resultat(
        "<INDIVIDU>"
        + ins_xml("INSACTIF", "1810363220456", "60")
        + ins_xml("INSHISTO", "1810363220456", "60")
        + TIQ
        + "</INDIVIDU>"
    )
    with pytest.warns(InsKeyWarning, match="60"):
        result = parse_response(data)
    assert result.ins is not None and result.ins.value == "181036322045660"


def test_nia_and_missing_key() -> None:
    data = resultat(
        "<INDIVIDU><INSACTIF><IdIndividu><NumIdentifiant>1090763220888</NumIdentifiant>"
        "</IdIndividu><OID>1.2.250.1.213.1.4.9</OID></INSACTIF>" + TIQ + "</INDIVIDU>"
    )
    result = parse_response(data)
    assert result.ins is not None
    assert result.ins.kind is InsKind.NIA
    assert result.ins.value == "109076322088835"  # key computed when Cle is absent


def fault(
    subcode: str, code: str, severite: str = "erreur", text: str = "Niveau d'accès insuffisant"
) -> bytes:
    return envelope(
        "<soap:Fault><soap:Code><soap:Value>soap:Sender</soap:Value><soap:Subcode>"
        f'<soap:Value xmlns:siram="urn:siram">siram:{subcode}</soap:Value>'
        "</soap:Subcode></soap:Code>"
        '<soap:Reason><soap:Text xml:lang="fr">Erreur</soap:Text></soap:Reason>'
        f'<soap:Detail><siram:Erreur xmlns:siram="urn:siram" severite="{severite}" code="{code}">'
        f"{text}</siram:Erreur></soap:Detail></soap:Fault>"
    )


def test_soap_fault_becomes_typed_insi_fault() -> None:
    with pytest.raises(InsiFault) as info:
        parse_response(fault("siram_100", "desir_560"), status=500)
    err = info.value
    assert (err.code, err.subcode, err.severity) == ("desir_560", "siram_100", "erreur")
    assert "Niveau d'accès insuffisant" in str(err)
    assert isinstance(err, SegurError)


@pytest.mark.parametrize(
    ("data", "status", "error", "needle"),
    [
        (b"not xml at all", 200, InsiResponseError, "mal formé"),
        (b"<html><body>Bad gateway</body></html>", 502, InsiTransportError, "502"),
        (b"<html/>", 200, InsiResponseError, "enveloppe SOAP 1.2"),
        (envelope(""), 200, InsiResponseError, "corps SOAP vide"),
        (envelope("<other xmlns='urn:x'/>"), 200, InsiResponseError, "RESULTAT attendu"),
        (resultat("", code="99"), 200, InsiResponseError, "CodeCR inconnu"),
        (resultat(""), 200, InsiResponseError, "sans INDIVIDU"),
        (resultat("<INDIVIDU>" + TIQ + "</INDIVIDU>"), 200, InsiResponseError, "INSACTIF"),
        (
            resultat(
                "<INDIVIDU>" + ins_xml("INSACTIF", "18103632204X6", "60") + TIQ + "</INDIVIDU>"
            ),
            200,
            InsiResponseError,
            "INSACTIF invalide",
        ),
        (
            resultat(
                "<INDIVIDU>"
                + ins_xml("INSACTIF", "1810363220456", "76", oid="1.2.3")
                + TIQ
                + "</INDIVIDU>"
            ),
            200,
            InsiResponseError,
            "INSACTIF invalide",
        ),
        (
            resultat(
                "<INDIVIDU>"
                + ins_xml("INSACTIF", "1810363220456", "76")
                + TIQ.replace("1981-03-24", "1981-13-24")
                + "</INDIVIDU>"
            ),
            200,
            InsiResponseError,
            "TIQ",
        ),
        (
            envelope("<RESULTAT xmlns='http://www.cnamts.fr/INSiResultat'/>"),
            200,
            InsiResponseError,
            "CR absent",
        ),
    ],
)
def test_malformed_answers(data: bytes, status: int, error: type[Exception], needle: str) -> None:
    with pytest.raises(error, match=needle):
        parse_response(data, status=status)


def test_xxe_is_refused() -> None:
    evil = (
        b'<?xml version="1.0"?><!DOCTYPE r [<!ENTITY x SYSTEM "file:///etc/passwd">]>'
        b'<soap:Envelope xmlns:soap="http://www.w3.org/2003/05/soap-envelope"><soap:Body>'
        b"<r>&x;</r></soap:Body></soap:Envelope>"
    )
    with pytest.raises(UnsafeXmlError):
        parse_response(evil)


@pytest.mark.parametrize(
    ("kwargs", "error"),
    [
        ({"nir": "27512632207", "cle": "4974"}, InvalidMatriculeError),
        ({"nir": 2751263220749, "cle": "74"}, InvalidMatriculeError),
        ({"cle": None}, InvalidMatriculeError),
        ({"cle": "75"}, InvalidMatriculeError),
        ({"date_naissance": "1975-12-31"}, IdentityTraitsError),
        ({"rang_naissance": "abc"}, IdentityTraitsError),
        ({"nir_od": "1750163220748"}, InvalidMatriculeError),
        ({"nom_naissance": "R2D2"}, IdentityTraitsError),
    ],
)
def test_bad_vitale_queries(kwargs: dict[str, object], error: type[Exception]) -> None:
    base: dict[str, object] = {
        "nir": "2751263220749",
        "cle": "74",
        "date_naissance": BirthDate.parse("1975-12-31"),
    }
    with pytest.raises(error):
        VitaleQuery(**{**base, **kwargs})  # type: ignore[arg-type]


def test_vitale_query_normalises_the_name() -> None:
    query = VitaleQuery("2751263220749", "74", BirthDate.parse("1975-12-31"), nom_naissance="Adrün")
    assert query.nom_naissance == "ADRUN"


def test_fault_severity_qname_prefix_is_dropped() -> None:
    with pytest.raises(InsiFault) as info:
        parse_response(fault("siram_40", "insi_102", severite="siram:fatale"), status=500)
    assert info.value.severity == "fatale"
