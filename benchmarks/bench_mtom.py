"""ITI-41 document transport: MTOM/XOP (segur_ris) vs the same request with inline base64.

Run: ``python benchmarks/bench_mtom.py``. The SOAP envelope is the root part of the official
TD2.1 sample (VIHF + XDS metadata, ~20 KB; from ``../shared/ref`` or ``$SEGUR_RIS_REF``, a
synthetic one of the same size when absent) carrying one document of 50 KB, 500 KB or 5 MB.

* MTOM: ``encode_mtom`` (raw binary part) then, on the receiving side, ``decode_mtom`` +
  ``resolve_includes`` (the exact document bytes);
* inline: what a zeep user sends since zeep cannot send MTOM: the document base64-encoded
  (standard library, as zeep's ``xsd:base64Binary`` does) into ``xds:Document``, serialised with
  lxml; the receiver parses the envelope and decodes the base64;
* to_xop: turning that inline envelope into MTOM (``to_xop`` + ``encode_mtom``).

Prints µs per operation, wire sizes and ratios inline / MTOM, all in one run.
"""

from __future__ import annotations

import base64
import os
import random
import sys
import timeit
from collections.abc import Callable
from pathlib import Path

from lxml import etree

ROOT = Path(__file__).resolve().parent.parent
REF = Path(os.environ.get("SEGUR_RIS_REF", ROOT.parent / "shared" / "ref"))
TD21 = REF / "dmp/dmp-lps-package/DMP_LPS_Exemple_de_messages_1.0.1_1_-_v02.05.00"
TD21 = TD21 / "TD2.1_-_Alimentation_requete.xml"
QUICK = os.environ.get("BENCH_QUICK") == "1"  # smoke run (tests): few iterations
XDS = "urn:ihe:iti:xds-b:2007"
ACTION = "urn:ihe:iti:2007:ProvideAndRegisterDocumentSet-b"
SIZES = {"50 KB": 50 * 1024, "500 KB": 500 * 1024, "5 MB": 5 * 1024 * 1024}


def per_call_us(fn: Callable[[], object], number: int) -> float:
    fn()  # warm-up
    if QUICK:
        number = 1
    best = min(timeit.repeat(fn, number=number, repeat=1 if QUICK else 5))
    return best / number * 1e6


def envelope_with_one_document() -> bytes:
    """A PnR envelope whose single ``xds:Document id="doc"`` holds ``xop:Include cid:doc``."""
    from segur_ris.xds._mtom import decode_mtom

    if TD21.is_file():
        first = TD21.read_bytes().split(b"\n", 1)[0].strip()[2:].decode()
        root = etree.fromstring(
            decode_mtom(TD21.read_bytes(), f'multipart/related; boundary="{first}"').root
        )
    else:
        filler = "".join(
            f'<Slot name="s{i}"><ValueList><Value>v</Value></ValueList></Slot>' for i in range(300)
        )
        root = etree.fromstring(
            f'<e:Envelope xmlns:e="http://www.w3.org/2003/05/soap-envelope"><e:Body>'
            f'<x:ProvideAndRegisterDocumentSetRequest xmlns:x="{XDS}"><m>{filler}</m>'
            '<x:Document id="a"/></x:ProvideAndRegisterDocumentSetRequest></e:Body></e:Envelope>'
        )
    documents = list(root.iter(f"{{{XDS}}}Document"))
    for extra in documents[1:]:
        extra.getparent().remove(extra)  # type: ignore[union-attr]
    document = documents[0]
    document.set("id", "doc")
    for child in list(document):
        document.remove(child)
    include = etree.SubElement(
        document,
        "{http://www.w3.org/2004/08/xop/include}Include",
        nsmap={"xop": "http://www.w3.org/2004/08/xop/include"},
    )
    include.set("href", "cid:doc")
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8")


def measure(envelope: bytes, size: int) -> list[tuple[str, float, float, int]]:
    """(path, encode µs, decode µs, wire bytes) for one document of ``size`` bytes."""
    from segur_ris.xds._mtom import decode_mtom, encode_mtom, resolve_includes, to_xop

    data = random.Random(size).randbytes(size)
    number = max(3, 2_000_000 // size)
    parser = etree.XMLParser(resolve_entities=False, no_network=True, huge_tree=True)
    tag = f"{{{XDS}}}Document"

    def mtom_encode() -> tuple[bytes, str]:
        return encode_mtom(envelope, {"doc": data}, action=ACTION)

    body, content_type = mtom_encode()

    def mtom_decode() -> dict[str, bytes]:
        return resolve_includes(decode_mtom(body, content_type))

    assert mtom_decode() == {"doc": data}

    def inline_encode() -> bytes:
        root = etree.fromstring(envelope, parser)
        document = next(root.iter(tag))
        document.remove(document[0])
        document.text = base64.b64encode(data).decode("ascii")
        return etree.tostring(root, xml_declaration=True, encoding="UTF-8")

    inline = inline_encode()

    def inline_decode() -> bytes:
        root = etree.fromstring(inline, parser)
        return base64.b64decode(next(root.iter(tag)).text or "")

    assert inline_decode() == data

    def optimise() -> tuple[bytes, str]:
        xop, parts = to_xop(inline)
        return encode_mtom(xop, parts, action=ACTION)

    assert resolve_includes(decode_mtom(*optimise())) == {"doc": data}
    return [
        ("MTOM", per_call_us(mtom_encode, number), per_call_us(mtom_decode, number), len(body)),
        (
            "inline",
            per_call_us(inline_encode, number),
            per_call_us(inline_decode, number),
            len(inline),
        ),
        ("to_xop", per_call_us(optimise, number), 0.0, len(optimise()[0])),
    ]


def main() -> int:
    envelope = envelope_with_one_document()
    print(f"lxml {etree.__version__}, Python {sys.version.split()[0]}, envelope {len(envelope)} B")
    print(
        f"{'document':8} {'path':8} {'encode µs':>11} {'decode µs':>11} {'total µs':>11} "
        f"{'wire B':>10} {'vs MTOM':>8}"
    )
    for label, size in SIZES.items():
        rows = measure(envelope, size)
        base = rows[0][1] + rows[0][2]
        for path, enc, dec, wire in rows:
            total = enc + dec
            ratio = f"{total / base:7.2f}x" if path != "to_xop" else "enc only"
            print(f"{label:8} {path:8} {enc:11.1f} {dec:11.1f} {total:11.1f} {wire:10d} {ratio:>8}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
