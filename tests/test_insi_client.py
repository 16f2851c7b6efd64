"""The INSi client against the sandbox INSi over real TLS with client certificates."""

from __future__ import annotations

import socket
from collections.abc import Mapping
from pathlib import Path

import pytest

from segur_ris.config import Settings, load_settings
from segur_ris.errors import (
    CertificateUsageError,
    ConfigError,
    InsiFault,
    InsiTimeout,
    InsiTransportError,
)
from segur_ris.ins import (
    BirthDate,
    IdentityTraits,
    InsKeyWarning,
    InsKind,
    PatientIdentity,
    ProofDocument,
    parse_matricule,
)
from segur_ris.insi import CodeCR, InsiClient, VitaleQuery
from segur_ris.sandbox import InsiSandbox, TestPki, generate_test_pki
from segur_ris.transport import HttpResponse, RequestsTransport


@pytest.fixture()
def settings(insi_sandbox: InsiSandbox) -> Settings:
    return load_settings(env="demo", environ={}).with_endpoints(insi=insi_sandbox.url)


def client_for(settings: Settings, pki: TestPki, cn: str = "INSI-AUTO", **kw: object) -> InsiClient:
    cred = pki.clients[cn]
    return InsiClient(settings, client_cert=(cred.cert, cred.key), ca_bundle=pki.ca_cert, **kw)  # type: ignore[arg-type]


def t(nom: str, prenoms: str, sexe: str, date: str, lieu: str | None = None) -> IdentityTraits:
    return IdentityTraits.create(nom, prenoms, sexe, date, lieu)


@pytest.mark.parametrize(
    ("traits", "ins", "kind", "lieu"),
    [
        (t("ADRUN", "ZOE", "F", "1975-12-31"), "275126322074974", InsKind.NIR, "63220"),
        (t("ADRTROIS", "DOMINIQUE", "F", "1997-02-26"), "297022A02077878", InsKind.NIR, "2A020"),
        (t("ADRTROIS", "TOUSSAINT", "M", "1960-01-01"), "160012B02077713", InsKind.NIR, "2B020"),
        (t("PROVISOIRE", "MATRICULE", "M", "2009-07-01"), "109076322088835", InsKind.NIA, None),
        (t("PATB-QUATRE", "LAURENCE", "F", "1907-05-25"), "207058575627097", InsKind.NIR, "85756"),
    ],
)
def test_search_cnda_identities(
    settings: Settings,
    pki: TestPki,
    traits: IdentityTraits,
    ins: str,
    kind: InsKind,
    lieu: str | None,
) -> None:
    with client_for(settings, pki) as client:
        result = client.search(traits)
    assert result.code is CodeCR.OK
    assert result.ins is not None and result.ins.value == ins
    assert result.ins.kind is kind
    assert result.traits is not None
    assert result.traits.nom_naissance == traits.nom_naissance
    if lieu:
        assert result.traits.lieu_naissance == lieu


def test_first_name_strategy_tchitchi(
    settings: Settings, pki: TestPki, insi_sandbox: InsiSandbox
) -> None:
    before = len(insi_sandbox.requests)
    with client_for(settings, pki, "INSI-MANU") as client:
        result = client.search(t("TCHITCHI", "OLA CATARINA BELLA", "F", "1936-06-21"))
    assert result.found and result.prenom_envoye == "CATARINA"
    assert result.ins is not None and result.ins.value == "236066322083656"
    assert result.traits is not None and result.traits.prenoms == ("CATARINA", "BELLA")
    sent = insi_sandbox.requests[before:]
    assert len(sent) == 2  # OLA -> 01, CATARINA -> 00: stop
    assert b">OLA<" in sent[0] and b">CATARINA<" in sent[1]


def test_not_found_after_every_attempt(
    settings: Settings, pki: TestPki, insi_sandbox: InsiSandbox
) -> None:
    before = len(insi_sandbox.requests)
    with client_for(settings, pki) as client:
        result = client.search(t("HOUILLES", "PIERRE PAUL JACQUES", "M", "1993-01-27"))
    assert result.code is CodeCR.AUCUNE_IDENTITE and result.ins is None
    assert len(insi_sandbox.requests) - before == 4
    assert result.prenom_envoye == "PIERRE PAUL JACQUES"


def test_several_identities(settings: Settings, pki: TestPki) -> None:
    with client_for(settings, pki) as client:
        result = client.search(t("DE VINCI", "LEONARDO", "M", "2014-02-01"))
    assert result.code is CodeCR.PLUSIEURS_IDENTITES


def test_historical_ins(settings: Settings, pki: TestPki) -> None:
    with client_for(settings, pki) as client, pytest.warns(InsKeyWarning):
        result = client.search(t("HERMANN", "GATIEN", "M", "1981-03-24"))
    assert result.ins is not None and result.ins.value == "181036322045660"
    assert result.historiques


def test_carte_vitale(settings: Settings, pki: TestPki) -> None:
    query = VitaleQuery(nir="2751263220749", cle="74", date_naissance=BirthDate.parse("1975-12-31"))
    with client_for(settings, pki) as client:
        result = client.search_by_carte_vitale(query)
    assert result.found and result.ins is not None and result.ins.value == "275126322074974"


def test_certificate_with_other_cn_gets_the_cnam_fault(settings: Settings, pki: TestPki) -> None:
    other = client_for(settings, pki, "AUTRE", check_certificate=False)
    with other as client, pytest.raises(InsiFault) as info:
        client.search(t("ADRUN", "ZOE", "F", "1975-12-31"))
    assert info.value.code == "desir_560"


def test_certificate_with_other_cn_is_refused_before_calling(
    settings: Settings, pki: TestPki, insi_sandbox: InsiSandbox
) -> None:
    before = len(insi_sandbox.requests)
    with pytest.raises(CertificateUsageError) as info:
        client_for(settings, pki, "AUTRE")
    assert info.value.code == "insi_cn"
    assert len(insi_sandbox.requests) == before  # nothing was sent
    with client_for(settings, pki, "INSI-MANU") as client:  # the other accepted CN
        assert client.search(t("ADRUN", "ZOE", "F", "1975-12-31")).found


def test_timeout(settings: Settings, pki: TestPki, insi_sandbox: InsiSandbox) -> None:
    insi_sandbox.delay = 1.5
    with client_for(settings, pki, timeout=0.3) as client, pytest.raises(InsiTimeout):
        client.search_once(t("ADRUN", "ZOE", "F", "1975-12-31"))


def test_untrusted_server_is_refused(settings: Settings, pki: TestPki, tmp_path: Path) -> None:
    other = generate_test_pki(tmp_path)
    cred = pki.clients["INSI-AUTO"]
    client = InsiClient(settings, client_cert=(cred.cert, cred.key), ca_bundle=other.ca_cert)
    with client, pytest.raises(InsiTransportError, match="TLS"):
        client.search_once(t("ADRUN", "ZOE", "F", "1975-12-31"))


def test_connection_refused(pki: TestPki) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    settings = load_settings(env="demo", environ={}).with_endpoints(
        insi=f"https://127.0.0.1:{port}/lps"
    )
    with client_for(settings, pki) as client, pytest.raises(InsiTransportError):
        client.search_once(t("ADRUN", "ZOE", "F", "1975-12-31"))


def test_configuration_errors(pki: TestPki) -> None:
    demo = load_settings(env="demo", environ={})
    with pytest.raises(ConfigError, match="insi"):
        InsiClient(demo, client_cert=(pki.clients["INSI-AUTO"].cert, pki.clients["INSI-AUTO"].key))
    with pytest.raises(ConfigError, match="HTTPS"):
        InsiClient(demo, url="http://127.0.0.1/lps", transport=_Canned(b""))
    with pytest.raises(ConfigError, match="certificat"):
        InsiClient(demo.with_endpoints(insi="https://127.0.0.1/lps"))
    with pytest.raises(ConfigError, match="introuvable"):
        InsiClient(
            demo.with_endpoints(insi="https://127.0.0.1/lps"),
            client_cert=("/nonexistent.pem", "/nonexistent.key"),
        )


def qualified(traits: IdentityTraits, ins: str) -> PatientIdentity:
    from segur_ris.ins import Ins

    identity = PatientIdentity(traits=traits)
    return identity.with_insi_result(
        Ins(parse_matricule(ins), "1.2.250.1.213.1.4.8"), traits
    ).with_proof(ProofDocument("CN"))


def test_verify_stored_ins(settings: Settings, pki: TestPki) -> None:
    zoe = t("ADRUN", "ZOE", "F", "1975-12-31", "63220")
    with client_for(settings, pki) as client:
        good = client.verify(qualified(zoe, "275126322074974"))
        assert good.ok and good.differences == ()
        wrong = client.verify(qualified(zoe, "297022A02077878"))
        assert not wrong.ok
        assert any("INS" in d for d in wrong.differences)
        renamed = client.verify(
            qualified(t("ADRUN", "ZOE MARIE", "F", "1975-12-31"), "275126322074974")
        )
        assert not renamed.ok and any("prénoms" in d for d in renamed.differences)


class _Canned:
    """A transport with no socket: the sans-IO core is usable with any HTTP stack."""

    def __init__(self, body: bytes, status: int = 200) -> None:
        self.body, self.status = body, status
        self.sent: list[tuple[str, bytes, Mapping[str, str]]] = []

    def post(
        self, url: str, body: bytes, headers: Mapping[str, str], timeout: float
    ) -> HttpResponse:
        self.sent.append((url, body, headers))
        return HttpResponse(self.status, {"Content-Type": "application/soap+xml"}, self.body)


def test_custom_transport(ref_dir: Path) -> None:
    from tests.conftest import ref_file

    sample = ref_file(ref_dir, "insi/padoa-tlsi-ins/src/ins/fixtures/REP_CR01.xml").read_bytes()
    transport = _Canned(sample)
    vendor = {
        "SEGUR_RIS_LPS_NAME": "MonRIS",
        "SEGUR_RIS_LPS_VERSION": "4.2",
        "SEGUR_RIS_LPS_IDAM": "IDAM-42",
        "SEGUR_RIS_STRUCTURE_ID": "123456789",
    }
    settings = load_settings(env="test", environ=vendor)
    client = InsiClient(settings, transport=transport)
    result = client.search_once(t("ADRUN", "ZOE", "F", "1975-12-31"))
    assert result.code is CodeCR.AUCUNE_IDENTITE
    url, body, headers = transport.sent[0]
    assert url == "https://qualiflps-services-ps-tlsm.ameli.fr:443/lps"
    assert b"RECSANSVITALE" in body
    assert "rechercherInsAvecTraitsIdentite" in headers["Content-Type"]


def test_cps_assertion_mode_over_tls(pki: TestPki, ref_dir: Path) -> None:
    """CPS endpoint: server-only TLS, the card's SAML assertion in wsse:Security."""
    from tests.conftest import ref_file

    assertion = ref_file(ref_dir, "insi/padoa-tlsi-ins/extracted/assertion_ps_CPS_saml.xml")
    with InsiSandbox(pki, cps=True) as cps_endpoint:
        settings = load_settings(env="demo", environ={}).with_endpoints(insi_cps=cps_endpoint.url)
        client = InsiClient(settings, cps_assertion=assertion.read_bytes(), ca_bundle=pki.ca_cert)
        with client:
            result = client.search(t("ADRTROIS", "DOMINIQUE", "F", "1997-02-26"))
        assert result.ins is not None and result.ins.value == "297022A02077878"
        assert b'NameQualifier="CPS"' in cps_endpoint.requests[-1]
        # without an assertion nor a certificate, the CNAM refuses access
        anonymous = InsiClient(
            settings, transport=RequestsTransport(ca_bundle=pki.ca_cert), url=cps_endpoint.url
        )
        with anonymous, pytest.raises(InsiFault) as info:
            anonymous.search_once(t("ADRUN", "ZOE", "F", "1975-12-31"))
        assert info.value.code == "desir_560"
