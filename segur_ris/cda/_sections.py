"""CR-IMG section metadata as data: LOINC/DCM code, default title and templateIds (N3).

Values read from the official IMG-CR-IMG 2024.01 example and its schematron
(``CI-SIS_IMG-CR-IMG_2024.01.sch``): each CI-SIS section carries the DICOM PS3.20 (or C-CDA)
templateId first, then the CI-SIS one.
"""

from __future__ import annotations

from dataclasses import dataclass

from segur_ris.report import OID_DICOM_MODALITY, OID_LOINC, SectionKind

__all__ = [
    "CATALOG",
    "CLINICAL_INFO",
    "HISTORY",
    "HISTORY_OBSERVATIONS",
    "REQUEST",
    "SECTION_SPECS",
    "SectionSpec",
    "spec_for_code",
]


@dataclass(frozen=True, slots=True)
class SectionSpec:
    """One N3 section: code (with its system), LOINC display, default title, templateIds."""

    code: str
    display: str
    title: str
    template_ids: tuple[str, ...]
    system: str = OID_LOINC
    system_name: str = "LOINC"
    kind: SectionKind | None = None


def _spec(
    kind: SectionKind | None, display: str, title: str, *template_ids: str, code: str = ""
) -> SectionSpec:
    return SectionSpec(
        code or (kind.value if kind else ""), display, title, template_ids, kind=kind
    )


#: Report sections (``SectionKind``) → N3 section.
SECTION_SPECS: dict[SectionKind, SectionSpec] = {
    SectionKind.ADDENDUM: _spec(
        SectionKind.ADDENDUM, "Addendum", "Addendum", "1.2.840.10008.9.6", "1.2.250.1.213.1.1.2.210"
    ),
    SectionKind.INFORMATIONS_CLINIQUES: _spec(
        SectionKind.INFORMATIONS_CLINIQUES,
        "Informations cliniques",
        "Informations cliniques",
        "1.2.840.10008.9.2",
        "1.2.250.1.213.1.1.2.205",
    ),
    SectionKind.JUSTIFICATION: _spec(
        SectionKind.JUSTIFICATION,
        "Demande",
        "Justification de la demande d'examen",
        "1.2.840.10008.9.7",
        "1.2.250.1.213.1.1.2.211",
    ),
    SectionKind.ANTECEDENTS: _spec(
        SectionKind.ANTECEDENTS,
        "Historique médical",
        "Antécédents",
        "2.16.840.1.113883.10.20.22.2.39",
        "1.2.250.1.213.1.1.2.213",
    ),
    SectionKind.TECHNIQUE: _spec(
        SectionKind.TECHNIQUE,
        "Description de l'acte d'imagerie",
        "Technique d'imagerie",
        "1.2.840.10008.9.3",
        "1.2.250.1.213.1.1.2.206",
    ),
    SectionKind.COMPLICATIONS: _spec(
        SectionKind.COMPLICATIONS,
        "Complications",
        "Complications",
        "2.16.840.1.113883.10.20.22.2.37",
        "1.2.250.1.213.1.1.2.214",
    ),
    SectionKind.EXPOSITION: _spec(
        SectionKind.EXPOSITION,
        "Exposition aux rayonnements et informations de radioprotection",
        "Exposition aux rayonnements",
        "1.2.840.10008.9.8",
        "1.2.250.1.213.1.1.2.215",
    ),
    SectionKind.RESULTATS: _spec(
        SectionKind.RESULTATS,
        "Résultats de l'acte",
        "Résultats",
        "2.16.840.1.113883.10.20.6.1.2",
        "1.2.250.1.213.1.1.2.208",
    ),
    SectionKind.COMPARAISONS: _spec(
        SectionKind.COMPARAISONS,
        "Examen de comparaison radiologique",
        "Comparaisons",
        "1.2.840.10008.9.4",
        "1.2.250.1.213.1.1.2.207",
    ),
    SectionKind.CONCLUSION: _spec(
        SectionKind.CONCLUSION,
        "Conclusions",
        "Conclusion",
        "1.2.840.10008.9.5",
        "1.2.250.1.213.1.1.2.209",
    ),
}

#: Sections the builder adds for structure (no ``SectionKind`` of their own).
CLINICAL_INFO = SECTION_SPECS[SectionKind.INFORMATIONS_CLINIQUES]
REQUEST = SECTION_SPECS[SectionKind.JUSTIFICATION]
HISTORY = SECTION_SPECS[SectionKind.ANTECEDENTS]
#: FR-DICOM-Object-Catalog, mandatory [1..1] inside each FR-DICOM-Acte-imagerie.
CATALOG = SectionSpec(
    "121181",
    "Catalogue d'objets DICOM",
    "Catalogue d'objets DICOM",
    ("2.16.840.1.113883.10.20.6.1.1", "1.2.250.1.213.1.1.2.217"),
    system=OID_DICOM_MODALITY,
    system_name="DCM",
)

#: FR-DICOM-Observation entries the schematron requires in FR-DICOM-Historique-medical:
#: (LOINC code, display) for medical history, surgical history and contra-indications.
HISTORY_OBSERVATIONS: tuple[tuple[str, str], ...] = (
    ("11348-0", "Antécédents médicaux"),
    ("47519-4", "Antécédents chirurgicaux"),
    ("64100-1", "Contre-indications"),
)

_BY_CODE = {spec.code: spec for spec in SECTION_SPECS.values()}


def spec_for_code(code: str) -> SectionSpec | None:
    """The section spec of a section ``code`` (``None`` when unknown; 55107-7 is the Addendum)."""
    return _BY_CODE.get(code)
