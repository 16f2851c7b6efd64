"""Benchmark of the offline CDA validation (XSD + ANS schematrons with saxonche).

Per schematron: cold build (include resolution + ISO pipeline + compile), reload from the disk
cache (parse + compile of the generated XSLT) and validation time of the official N1 and N3
examples; then XSD load and validation. Usage::

    python benchmarks/bench_cda_validate.py [KIT]   # KIT defaults to ../shared/ref/cda/...
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

from segur_ris._xml import parse_xml
from segur_ris.cda._validate import CdaValidator

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_KIT = ROOT.parent / "shared/ref/cda/ansforge-TestContenuCDA-3-0"
DOCS = {
    "N1": "ExemplesCDA/IMG_CR_IMG_2024.01_CDA-R2-Niveau-1.xml",
    "N3": "ExemplesCDA/IMG_CR_IMG_2024.01.xml",
}
SCHEMATRONS = (
    "profils/IHE.sch",
    "profils/CI-SIS_ModelesDeContenusCDA.sch",
    "profils/CI-SIS_Modeles_ANS.sch",
    "profils/structurationMinimale/ASIP-STRUCT-MIN-StrucMin.sch",
    "CI-SIS_IMG-CR-IMG_2024.01.sch",
    "CI-SIS_IMG-DA-IMG_2024.01.sch",
)


def _ms(seconds: float) -> str:
    return f"{seconds * 1000:9.1f}"


def _best(fn: object, repeat: int = 5) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()  # type: ignore[operator]
        times.append(time.perf_counter() - start)
    return min(times)


def main() -> None:
    kit = Path(sys.argv[1]) if len(sys.argv) > 1 else DEFAULT_KIT
    docs = {name: (kit / rel).read_bytes() for name, rel in DOCS.items()}
    with tempfile.TemporaryDirectory() as tmp:
        cache = Path(tmp)
        cold = CdaValidator(kit, cache_dir=cache)
        warm = CdaValidator(kit, cache_dir=cache)
        print(f"{'schematron':38} {'cold ms':>9} {'disk ms':>9} {'N1 ms':>9} {'N3 ms':>9}  note")
        for name in SCHEMATRONS:
            cold.validate(docs["N3"], profiles=[name])  # build + first run
            cold_build = cold._engine.last_timings.get(
                "generate", 0.0
            ) + cold._engine.last_timings.get("compile", 0.0)
            warm._engine.last_timings.clear()
            report = warm.validate(docs["N3"], profiles=[name])
            disk = warm._engine.last_timings.get("disk_read", 0.0) + warm._engine.last_timings.get(
                "compile", 0.0
            )
            if report.skipped:
                print(
                    f"{Path(name).name:38} {_ms(cold_build)} {_ms(disk)} {'-':>9} {'-':>9}  skipped"
                )
                continue
            per_doc = {
                key: _best(lambda d=doc, n=name: warm.validate(d, profiles=[n]))
                for key, doc in docs.items()
            }
            print(
                f"{Path(name).name:38} {_ms(cold_build)} {_ms(disk)} "
                f"{_ms(per_doc['N1'])} {_ms(per_doc['N3'])}"
            )
        xsd = CdaValidator(kit, cache_dir=cache)
        start = time.perf_counter()
        xsd._xsd()
        load = time.perf_counter() - start
        roots = {key: parse_xml(doc) for key, doc in docs.items()}
        validate = {
            key: _best(lambda r=root: xsd._validate_xsd(r), 20) for key, root in roots.items()
        }
        print(
            f"{'XSD CDA_extended.xsd (load / N1 / N3)':38} {_ms(load)} {'':9} "
            f"{_ms(validate['N1'])} {_ms(validate['N3'])}"
        )
        full = {key: _best(lambda d=doc: warm.validate(d), 3) for key, doc in docs.items()}
        print(f"{'full validate() (warm)':38} {'':9} {'':9} {_ms(full['N1'])} {_ms(full['N3'])}")


if __name__ == "__main__":
    main()
