"""INSi request building and response parsing: segur_ris vs plain zeep vs plain lxml.

Run: ``python benchmarks/bench_insi.py`` (reads the CNAM WSDL and CR 00 sample from
``../shared/ref`` or ``$SEGUR_RIS_REF``). Prints µs per operation and ratios, all in one run.

* build: segur_ris ``build_traits_request`` (zeep on the packaged WSDL, plus wsa:Action) vs
  plain zeep ``create_message`` on the official CNAM WSDL vs a hand-written lxml envelope;
* parse: segur_ris ``parse_response`` (typed result, INS key checked, traits normalised) vs
  zeep ``process_reply`` vs plain lxml text look-ups (no checks at all).
"""

from __future__ import annotations

import os
import sys
import timeit
import uuid
from collections.abc import Callable
from pathlib import Path
from types import SimpleNamespace

from lxml import etree

ROOT = Path(__file__).resolve().parent.parent
REF = Path(os.environ.get("SEGUR_RIS_REF", ROOT.parent / "shared" / "ref"))
WSDL = REF / "insi/padoa-tlsi-ins/src/wsdl/DESIR_ICIR_EXP_1.5.0.wsdl"
CR00 = REF / "insi/dmp-lps-kit-ServiceICIR/WS_INS2_rechercherInsAvecTraitsIdentite_reponse.xml"


QUICK = os.environ.get("BENCH_QUICK") == "1"  # smoke run (tests): few iterations


def per_call_us(fn: Callable[[], object], number: int) -> float:
    fn()  # warm-up (caches, lazy imports)
    if QUICK:
        number = 5
    best = min(timeit.repeat(fn, number=number, repeat=1 if QUICK else 5))
    return best / number * 1e6


def main() -> int:
    if not WSDL.is_file() or not CR00.is_file():
        print(f"reference data missing under {REF}", file=sys.stderr)
        return 2
    import zeep

    from segur_ris.ins import IdentityTraits
    from segur_ris.insi import InsiContext, build_traits_request, parse_response
    from segur_ris.insi._messages import _zeep_client

    traits = IdentityTraits.create("ADRUN", "ZOE", "F", "1975-12-31")
    context = InsiContext("899900063480", "segur-ris", "1.0", "IDAM", instance=str(uuid.uuid4()))
    official = _zeep_client(str(WSDL))  # the same offline loader, official CNAM WSDL

    def zeep_build() -> bytes:
        headers = {
            "NO1_ContexteLPS": {
                "Id": "1",
                "Temps": "2026-01-01T00:00:00.000Z",
                "Emetteur": "899900063480",
                "LPS": {
                    "IDAM": {"_value_1": "IDAM", "R": "4"},
                    "Version": "1.0",
                    "Instance": "i",
                    "Nom": "segur-ris",
                },
                "Nature": "CTXLPS",
                "Version": "01_00",
            },
            "NO1_ContexteBAM": {
                "Id": "2",
                "Temps": "2026-01-01T00:00:00.000Z",
                "Emetteur": "899900063480",
                "COUVERTURE": {},
                "Version": "01_02",
            },
            "NO1_MessageID": "uuid:1",
        }
        env = official.create_message(
            official.service,
            "rechercherInsAvecTraitsIdentite",
            NomNaissance="ADRUN",
            Prenom=["ZOE"],
            Sexe="F",
            DateNaissance="1975-12-31",
            _soapheaders=headers,
        )
        return etree.tostring(env, xml_declaration=True, encoding="utf-8")

    from lxml.builder import ElementMaker as E

    soap = E(namespace="http://www.w3.org/2003/05/soap-envelope")
    lps = E(namespace="urn:siram:lps:ctxlps")
    bam = E(namespace="urn:siram:bam:ctxbam")
    wsa = E(namespace="http://www.w3.org/2005/08/addressing")
    rs = E(namespace="http://www.cnamts.fr/INSiRecSans")

    def lxml_build() -> bytes:
        env = soap.Envelope(
            soap.Header(
                lps.ContexteLPS(
                    lps.Id("1"),
                    lps.Temps("2026-01-01T00:00:00.000Z"),
                    lps.Emetteur("899900063480"),
                    lps.LPS(
                        lps.IDAM("IDAM", R="4"),
                        lps.Version("1.0"),
                        lps.Instance("i"),
                        lps.Nom("segur-ris"),
                    ),
                    Nature="CTXLPS",
                    Version="01_00",
                ),
                bam.ContexteBAM(
                    bam.Id("2"),
                    bam.Temps("2026-01-01T00:00:00.000Z"),
                    bam.Emetteur("899900063480"),
                    bam.COUVERTURE(),
                    Version="01_02",
                ),
                wsa.Action("urn:ServiceIdentiteCertifiee:1.0.0:rechercherInsAvecTraitsIdentite"),
                wsa.MessageID("uuid:1"),
            ),
            soap.Body(
                rs.RECSANSVITALE(
                    rs.NomNaissance("ADRUN"),
                    rs.Prenom("ZOE"),
                    rs.Sexe("F"),
                    rs.DateNaissance("1975-12-31"),
                )
            ),
        )
        return etree.tostring(env, xml_declaration=True, encoding="utf-8")

    body = CR00.read_bytes()
    binding = official.service._binding
    operation = binding.get("rechercherInsAvecTraitsIdentite")
    reply = SimpleNamespace(
        status_code=200,
        headers={"Content-Type": "application/soap+xml"},
        content=body,
        encoding="utf-8",
    )
    parser = etree.XMLParser(resolve_entities=False, no_network=True)
    r = "{http://www.cnamts.fr/INSiResultat}"

    def lxml_parse() -> tuple[str | None, ...]:
        root = etree.fromstring(body, parser)
        return (
            root.findtext(f".//{r}CodeCR"),
            root.findtext(f".//{r}NumIdentifiant"),
            root.findtext(f".//{r}Cle"),
            root.findtext(f".//{r}NomNaissance"),
        )

    rows = [
        ("build", "segur_ris", per_call_us(lambda: build_traits_request(traits, context), 2000)),
        ("build", "zeep", per_call_us(zeep_build, 2000)),
        ("build", "lxml", per_call_us(lxml_build, 5000)),
        ("parse", "segur_ris", per_call_us(lambda: parse_response(body), 5000)),
        (
            "parse",
            "zeep",
            per_call_us(lambda: binding.process_reply(official, operation, reply), 2000),
        ),
        ("parse", "lxml", per_call_us(lxml_parse, 5000)),
    ]
    print(f"zeep {zeep.__version__}, lxml {etree.__version__}, Python {sys.version.split()[0]}")
    print(f"{'task':6} {'implementation':14} {'µs/op':>9} {'vs segur_ris':>13}")
    for task in ("build", "parse"):
        ours = next(us for t, name, us in rows if t == task and name == "segur_ris")
        for t, name, us in rows:
            if t == task:
                print(f"{t:6} {name:14} {us:9.1f} {us / ours:12.2f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
