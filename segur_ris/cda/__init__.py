"""CDA R2 CR-IMG (compte rendu d'imagerie): build N1 (PDF/A in nonXMLBody) and N3 (structured),
read any CDA R2 and the DA-IMG orders, validate offline (XSD + the official ANS schematrons run
with saxonche; the user points the validator at a TestContenuCDA checkout, the SDK ships none
of the ANS files).
"""

from segur_ris.cda._build import (
    FORMAT_CODE_N1,
    FORMAT_CODE_N3,
    MODALITY_NAMES,
    build_cda_n1,
    build_cda_n3,
    split_ii,
)
from segur_ris.cda._read import (
    CdaDocument,
    CdaPatient,
    CdaPerson,
    CdaSection,
    ImagingOrderRequest,
    RequestedExam,
    narrative_text,
    parse_ts,
    read_cda,
    read_da_img,
)
from segur_ris.cda._sections import SECTION_SPECS, SectionSpec, spec_for_code
from segur_ris.cda._validate import (
    KIT_ENV,
    CdaValidator,
    Finding,
    Severity,
    ValidationReport,
    default_cache_dir,
    validate_cda,
)

__all__ = [
    "FORMAT_CODE_N1",
    "FORMAT_CODE_N3",
    "KIT_ENV",
    "MODALITY_NAMES",
    "SECTION_SPECS",
    "CdaDocument",
    "CdaPatient",
    "CdaPerson",
    "CdaSection",
    "CdaValidator",
    "Finding",
    "ImagingOrderRequest",
    "RequestedExam",
    "SectionSpec",
    "Severity",
    "ValidationReport",
    "build_cda_n1",
    "build_cda_n3",
    "default_cache_dir",
    "narrative_text",
    "parse_ts",
    "read_cda",
    "read_da_img",
    "spec_for_code",
    "split_ii",
    "validate_cda",
]
