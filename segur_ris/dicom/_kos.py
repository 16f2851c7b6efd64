"""DICOM Key Object Selection (KOS) manifests for the DRIMbox / XDS-I.b (Ségur vague 2).

:func:`build_kos` turns a typed :class:`KosStudy` into a KOS (SOP Class
1.2.840.10008.5.1.4.1.1.88.59, TID 2010 with the title ``113030^DCM^Manifest``) written as DICOM
Part 10, explicit VR little endian, ``ISO_IR 192``; :func:`read_kos` reads a KOS back (ours or
another implementation's, e.g. the ANS DRIMbox sample) into a typed :class:`KosManifest`.

The French identity follows the ANS DRIMbox KOS: ``PatientID`` = matricule INS,
``IssuerOfPatientID`` = ``ASIP-SANTE-INS-NIR`` (``…-NIA`` for an NIA) and the INS OID in
``IssuerOfPatientIDQualifiersSequence``; the INS is repeated in ``OtherPatientIDsSequence``
with the IPP when one is given. The DRIMbox Source WADO-RS URL is written in ``RetrieveURL``
at study level (top-level attribute, as in the ANS sample) and per series in the evidence.

Sans-IO: data in, bytes out. :func:`study_from_datasets` groups image headers (e.g. read from a
DICOM folder) into a :class:`KosStudy`.
"""

from __future__ import annotations

import datetime as _dt
import io
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from segur_ris.codes import OID_INS_NIA
from segur_ris.errors import InvalidMatriculeError, KosError

if TYPE_CHECKING:
    from pydicom.dataset import Dataset

    from segur_ris.dicom._worklist import WorklistItem

__all__ = [
    "KOS_SOP_CLASS_UID",
    "MANIFEST",
    "KosCode",
    "KosInstance",
    "KosManifest",
    "KosSeries",
    "KosStudy",
    "build_kos",
    "build_kos_dataset",
    "read_kos",
    "study_from_datasets",
    "study_from_dict",
    "study_from_worklist_item",
    "study_to_dict",
    "wado_rs_url",
]

KOS_SOP_CLASS_UID = "1.2.840.10008.5.1.4.1.1.88.59"
#: ``IssuerOfPatientID`` of an INS (same values as the worklist module's INS_ISSUER_*).
_ISSUER_INS_NIR = "ASIP-SANTE-INS-NIR"
_ISSUER_INS_NIA = "ASIP-SANTE-INS-NIA"
_EXPLICIT_VR_LE = "1.2.840.10008.1.2.1"
_UID = re.compile(r"^(0|[1-9]\d*)(\.(0|[1-9]\d*))+$")
_MODALITY = re.compile(r"^[A-Z0-9_ ]{1,16}$")
_URL = re.compile(r"^https?://[^\s]+$")


@dataclass(frozen=True, slots=True)
class KosCode:
    """A DICOM coded entry (Code Value, Coding Scheme Designator, Code Meaning)."""

    value: str
    scheme: str
    meaning: str


#: Document title of an XDS-I.b manifest (DICOM CID 7010).
MANIFEST = KosCode("113030", "DCM", "Manifest")
_KEY_OBJECT_DESCRIPTION = KosCode("113012", "DCM", "Key Object Description")


@dataclass(frozen=True, slots=True)
class KosInstance:
    """One referenced SOP instance (image, SR, presentation state…)."""

    sop_class_uid: str
    sop_instance_uid: str


@dataclass(frozen=True, slots=True)
class KosSeries:
    """One series of the study and its instances."""

    series_instance_uid: str
    modality: str
    instances: tuple[KosInstance, ...]


@dataclass(frozen=True, slots=True)
class KosStudy:
    """What a KOS manifest references, with the identifiers the DRIMbox joins on.

    ``ins`` is the matricule INS (15 characters), ``ins_oid`` its assigning authority;
    ``accession_number`` / ``accession_issuer`` (OID) and ``placer_order_number`` /
    ``placer_order_issuer`` (OID) are those of the order (MWL, CDA, XDS ``referenceIdList``);
    ``retrieve_url`` is the DRIMbox Source WADO-RS base (``…/rs``): study and series URLs are
    derived from it (:func:`wado_rs_url`). ``patient_name`` is ``FAMILY^Given`` (like
    ``referring_physician``: at most 64 bytes per ``=`` group in UTF-8); ``birth_date``
    ``YYYYMMDD``; ``sex`` ``M``/``F``/``O``.
    """

    ins: str
    ins_oid: str
    study_instance_uid: str
    accession_number: str
    accession_issuer: str
    series: tuple[KosSeries, ...]
    retrieve_url: str
    placer_order_number: str = ""
    placer_order_issuer: str = ""
    patient_name: str = ""
    birth_date: str = ""
    sex: str = ""
    ipp: str = ""
    ipp_issuer: str = ""
    study_date: str = ""
    study_time: str = ""
    study_description: str = ""
    study_id: str = ""
    referring_physician: str = ""
    institution_name: str = ""
    title: KosCode = MANIFEST

    @property
    def modalities(self) -> tuple[str, ...]:
        """The distinct modalities of the series, in order."""
        return tuple(dict.fromkeys(series.modality for series in self.series))

    @property
    def instance_count(self) -> int:
        """Number of referenced instances."""
        return sum(len(series.instances) for series in self.series)


@dataclass(frozen=True, slots=True)
class KosManifest:
    """A KOS read back: its own identifiers, its creation time and the study it references."""

    sop_instance_uid: str
    series_instance_uid: str
    content_date: str
    content_time: str
    study: KosStudy
    description: str = ""
    character_set: str = ""
    warnings: tuple[str, ...] = field(default=())


def wado_rs_url(base: str, study_uid: str, series_uid: str = "") -> str:
    """``{base}/studies/{study}[/series/{series}]`` (WADO-RS, PS3.18 §10.4)."""
    url = f"{base.rstrip('/')}/studies/{study_uid}"
    return f"{url}/series/{series_uid}" if series_uid else url


# --- checks -----------------------------------------------------------------------------------


def _uid(value: str, what: str) -> str:
    if not isinstance(value, str) or len(value) > 64 or not _UID.match(value):
        raise KosError(f"{what}: UID DICOM invalide {value!r}", code=what)
    return value


def _text(value: str, what: str, max_len: int, *, required: bool = False) -> str:
    if not isinstance(value, str):
        raise KosError(f"{what}: chaîne attendue", code=what)
    if required and not value.strip():
        raise KosError(f"{what}: valeur obligatoire", code=what)
    if len(value) > max_len or "\\" in value or any(ord(c) < 32 for c in value):
        raise KosError(
            f"{what}: {max_len} caractères au plus, sans '\\' ni caractère de contrôle",
            code=what,
        )
    return value


def _pn(value: str, what: str) -> str:
    """A PN value: at most 3 component groups (``=``) of 64 bytes each once UTF-8 encoded
    (``ISO_IR 192``; readers such as pydicom count bytes), no ``\\`` nor control character."""
    _text(value, what, 64 * 3 + 2)
    groups = value.split("=")
    if len(groups) > 3 or any(len(group.encode("utf-8")) > 64 for group in groups):
        raise KosError(
            f"{what}: 3 groupes de composants au plus, de 64 octets chacun (PN DICOM)", code=what
        )
    return value


def _date(value: str, what: str) -> str:
    if value and not re.fullmatch(r"\d{8}", value):
        raise KosError(f"{what}: date DICOM AAAAMMJJ attendue, pas {value!r}", code=what)
    if value:
        try:
            _dt.date(int(value[:4]), int(value[4:6]), int(value[6:]))
        except ValueError:
            raise KosError(f"{what}: date impossible {value!r}", code=what) from None
    return value


def _check(study: KosStudy) -> None:
    from segur_ris.ins import Ins

    if not isinstance(study, KosStudy):
        raise KosError(f"KosStudy attendu, pas {type(study).__name__}", code="study")
    try:
        Ins.parse(study.ins, study.ins_oid)
    except InvalidMatriculeError as exc:
        raise KosError(f"PatientID: INS invalide ({exc.message})", code="PatientID") from None
    _uid(study.study_instance_uid, "StudyInstanceUID")
    _text(study.accession_number, "AccessionNumber", 16, required=True)
    _uid(study.accession_issuer, "IssuerOfAccessionNumber")
    if study.placer_order_number or study.placer_order_issuer:
        _text(study.placer_order_number, "PlacerOrderNumber", 64, required=True)
        _uid(study.placer_order_issuer, "OrderPlacerIdentifier")
    if study.ipp or study.ipp_issuer:
        _text(study.ipp, "IPP", 64, required=True)
        _uid(study.ipp_issuer, "IPPIssuer")
    if not _URL.match(study.retrieve_url or ""):
        raise KosError(
            f"RetrieveURL: URL http(s) du DRIMbox Source attendue, pas {study.retrieve_url!r}",
            code="RetrieveURL",
        )
    _pn(study.patient_name, "PatientName")
    _pn(study.referring_physician, "ReferringPhysicianName")
    _date(study.birth_date, "PatientBirthDate")
    if study.sex not in ("", "M", "F", "O"):
        raise KosError(f"PatientSex: M, F ou O attendu, pas {study.sex!r}", code="PatientSex")
    _date(study.study_date, "StudyDate")
    if study.study_time and not re.fullmatch(
        r"\d{2}(\d{2}(\d{2}(\.\d{1,6})?)?)?", study.study_time
    ):
        raise KosError(f"StudyTime: heure DICOM invalide {study.study_time!r}", code="StudyTime")
    _text(study.study_description, "StudyDescription", 64)
    _text(study.study_id, "StudyID", 16)
    _text(study.institution_name, "InstitutionName", 64)
    if not study.series:
        raise KosError("aucune série à référencer", code="ReferencedSeriesSequence")
    seen: set[str] = set()
    for series in study.series:
        _uid(series.series_instance_uid, "SeriesInstanceUID")
        if not _MODALITY.match(series.modality or "") or series.modality == "KO":
            raise KosError(
                f"Modality: code de modalité DICOM attendu, pas {series.modality!r}",
                code="Modality",
            )
        if not series.instances:
            raise KosError(
                f"série {series.series_instance_uid}: aucune instance", code="ReferencedSOPSequence"
            )
        for instance in series.instances:
            _uid(instance.sop_class_uid, "ReferencedSOPClassUID")
            _uid(instance.sop_instance_uid, "ReferencedSOPInstanceUID")
            if instance.sop_instance_uid in seen:
                raise KosError(
                    f"instance référencée deux fois: {instance.sop_instance_uid}",
                    code="ReferencedSOPInstanceUID",
                )
            seen.add(instance.sop_instance_uid)


# --- building ---------------------------------------------------------------------------------


def _code_item(code: KosCode) -> Dataset:
    from pydicom.dataset import Dataset

    item = Dataset()
    item.CodeValue = code.value
    item.CodingSchemeDesignator = code.scheme
    item.CodeMeaning = code.meaning
    return item


def _issuer(oid: str) -> Dataset:
    from pydicom.dataset import Dataset

    item = Dataset()
    item.UniversalEntityID = oid
    item.UniversalEntityIDType = "ISO"
    return item


def _other_id(value: str, issuer: str, oid: str) -> Dataset:
    from pydicom.dataset import Dataset

    item = Dataset()
    item.PatientID = value
    if issuer:
        item.IssuerOfPatientID = issuer
    item.IssuerOfPatientIDQualifiersSequence = [_issuer(oid)]
    item.TypeOfPatientID = "TEXT"
    return item


def _value_type(sop_class_uid: str) -> str:
    """``IMAGE`` for image storage SOP classes, ``COMPOSITE`` otherwise (TID 2010)."""
    from pydicom.uid import UID

    return "IMAGE" if "Image Storage" in UID(sop_class_uid).name else "COMPOSITE"


def build_kos_dataset(
    study: KosStudy,
    *,
    sop_instance_uid: str | None = None,
    series_instance_uid: str | None = None,
    created: _dt.datetime | None = None,
    description: str = "",
    series_number: int = 1,
) -> Dataset:
    """The KOS as a pydicom :class:`~pydicom.dataset.Dataset` (with its file meta).

    UIDs not given are generated under ``2.25`` (UUID-derived); ``created`` (default: now,
    local time) gives InstanceCreation/Content/Series date and time; ``description`` becomes
    the TID 2010 ``113012 Key Object Description`` text item. Raises :class:`KosError`.
    """
    from pydicom.dataset import Dataset, FileMetaDataset
    from pydicom.uid import PYDICOM_IMPLEMENTATION_UID, generate_uid

    _check(study)
    sop_uid = _uid(sop_instance_uid or generate_uid(prefix=None), "SOPInstanceUID")
    series_uid = _uid(series_instance_uid or generate_uid(prefix=None), "SeriesInstanceUID")
    _text(description, "KeyObjectDescription", 1024)
    when = created or _dt.datetime.now().astimezone()
    date, time = when.strftime("%Y%m%d"), when.strftime("%H%M%S")

    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = KOS_SOP_CLASS_UID
    meta.MediaStorageSOPInstanceUID = sop_uid
    meta.TransferSyntaxUID = _EXPLICIT_VR_LE
    meta.ImplementationClassUID = PYDICOM_IMPLEMENTATION_UID
    meta.ImplementationVersionName = "SEGUR_RIS"

    ds = Dataset()
    ds.file_meta = meta
    ds.SpecificCharacterSet = "ISO_IR 192"
    ds.InstanceCreationDate, ds.InstanceCreationTime = date, time
    ds.SOPClassUID = KOS_SOP_CLASS_UID
    ds.SOPInstanceUID = sop_uid
    ds.StudyDate, ds.StudyTime = study.study_date, study.study_time
    ds.ContentDate, ds.ContentTime = date, time
    ds.SeriesDate, ds.SeriesTime = date, time
    ds.AccessionNumber = study.accession_number
    ds.IssuerOfAccessionNumberSequence = [_issuer(study.accession_issuer)]
    ds.Modality = "KO"
    ds.Manufacturer = "segur_ris"
    if study.institution_name:
        ds.InstitutionName = study.institution_name
    ds.ReferringPhysicianName = study.referring_physician
    if study.study_description:
        ds.StudyDescription = study.study_description
    ds.ReferencedPerformedProcedureStepSequence = []
    ds.RetrieveURL = wado_rs_url(study.retrieve_url, study.study_instance_uid)

    nia = study.ins_oid == OID_INS_NIA
    issuer = _ISSUER_INS_NIA if nia else _ISSUER_INS_NIR
    ds.PatientName = study.patient_name
    ds.PatientID = study.ins
    ds.IssuerOfPatientID = issuer
    ds.IssuerOfPatientIDQualifiersSequence = [_issuer(study.ins_oid)]
    ds.PatientBirthDate = study.birth_date
    ds.PatientSex = study.sex
    others = [_other_id(study.ins, issuer, study.ins_oid)]
    if study.ipp:
        others.append(_other_id(study.ipp, "", study.ipp_issuer))
    ds.OtherPatientIDsSequence = others

    ds.StudyInstanceUID = study.study_instance_uid
    ds.SeriesInstanceUID = series_uid
    ds.StudyID = study.study_id
    ds.SeriesNumber = series_number
    ds.InstanceNumber = 1

    # SR document content (TID 2010): root CONTAINER titled by the manifest code
    ds.ValueType = "CONTAINER"
    ds.ConceptNameCodeSequence = [_code_item(study.title)]
    ds.ContinuityOfContent = "SEPARATE"
    template = Dataset()
    template.MappingResource = "DCMR"
    template.TemplateIdentifier = "2010"
    ds.ContentTemplateSequence = [template]

    request = Dataset()
    request.AccessionNumber = study.accession_number
    request.IssuerOfAccessionNumberSequence = [_issuer(study.accession_issuer)]
    request.StudyInstanceUID = study.study_instance_uid
    request.RequestedProcedureID = ""
    request.RequestedProcedureDescription = study.study_description
    request.RequestedProcedureCodeSequence = []
    if study.placer_order_number:
        request.PlacerOrderNumberImagingServiceRequest = study.placer_order_number
        request.OrderPlacerIdentifierSequence = [_issuer(study.placer_order_issuer)]
    else:
        request.PlacerOrderNumberImagingServiceRequest = ""
        request.OrderPlacerIdentifierSequence = []
    request.FillerOrderNumberImagingServiceRequest = ""
    request.OrderFillerIdentifierSequence = []
    ds.ReferencedRequestSequence = [request]

    evidence = Dataset()
    evidence.StudyInstanceUID = study.study_instance_uid
    referenced_series = []
    content = []
    if description:
        text = Dataset()
        text.RelationshipType = "CONTAINS"
        text.ValueType = "TEXT"
        text.ConceptNameCodeSequence = [_code_item(_KEY_OBJECT_DESCRIPTION)]
        text.TextValue = description
        content.append(text)
    for series in study.series:
        item = Dataset()
        item.SeriesInstanceUID = series.series_instance_uid
        item.RetrieveURL = wado_rs_url(
            study.retrieve_url, study.study_instance_uid, series.series_instance_uid
        )
        sops = []
        for instance in series.instances:
            sop = Dataset()
            sop.ReferencedSOPClassUID = instance.sop_class_uid
            sop.ReferencedSOPInstanceUID = instance.sop_instance_uid
            sops.append(sop)
            ref = Dataset()
            ref.RelationshipType = "CONTAINS"
            ref.ValueType = _value_type(instance.sop_class_uid)
            ref_sop = Dataset()
            ref_sop.ReferencedSOPClassUID = instance.sop_class_uid
            ref_sop.ReferencedSOPInstanceUID = instance.sop_instance_uid
            ref.ReferencedSOPSequence = [ref_sop]
            content.append(ref)
        item.ReferencedSOPSequence = sops
        # Modality is not in the Hierarchical SOP Instance Reference macro: added as a Type 3
        # standard attribute (Standard Extended SOP Class, PS3.4 B.1.3) so that a reader can
        # give the XDS eventCodeList without the images
        item.Modality = series.modality
        referenced_series.append(item)
    evidence.ReferencedSeriesSequence = referenced_series
    ds.CurrentRequestedProcedureEvidenceSequence = [evidence]
    ds.ContentSequence = content
    return ds


def build_kos(
    study: KosStudy,
    *,
    sop_instance_uid: str | None = None,
    series_instance_uid: str | None = None,
    created: _dt.datetime | None = None,
    description: str = "",
) -> bytes:
    """The KOS of ``study`` as DICOM Part 10 bytes (explicit VR little endian, UTF-8).

    See :func:`build_kos_dataset` for the parameters. Raises :class:`KosError`.
    """
    from pydicom import dcmwrite

    ds = build_kos_dataset(
        study,
        sop_instance_uid=sop_instance_uid,
        series_instance_uid=series_instance_uid,
        created=created,
        description=description,
    )
    buffer = io.BytesIO()
    try:
        dcmwrite(buffer, ds, enforce_file_format=True)
    except (ValueError, TypeError, OverflowError) as exc:  # pydicom's encoding errors
        raise KosError(f"KOS non encodable: {exc}", code="encoding") from None
    return buffer.getvalue()


# --- reading ----------------------------------------------------------------------------------


def _str(ds: Any, keyword: str) -> str:
    value = ds.get(keyword, "")
    return "" if value is None else str(value)


def _first(ds: Any, keyword: str) -> Any:
    sequence = ds.get(keyword)
    return sequence[0] if sequence else None


def _entity(ds: Any, keyword: str) -> str:
    item = _first(ds, keyword)
    return _str(item, "UniversalEntityID") if item is not None else ""


def _check_complete(ds: Any) -> None:
    """pydicom reads a truncated file without complaint: compare each top-level element's
    declared length with the bytes read (elements are still raw right after reading)."""
    for tag in list(ds.keys()):
        raw = ds.get_item(tag)
        length = getattr(raw, "length", None)
        value = getattr(raw, "value", None)
        if isinstance(value, bytes) and length not in (None, 0xFFFFFFFF) and len(value) != length:
            raise KosError(f"KOS tronqué (élément {tag})", code="format")


def read_kos(data: bytes) -> KosManifest:
    """Read a KOS (Part 10 bytes, any transfer syntax pydicom reads) into a
    :class:`KosManifest`. Raises :class:`KosError` when it is not a readable KOS manifest."""
    from pydicom import dcmread
    from pydicom.errors import InvalidDicomError

    if not isinstance(data, bytes | bytearray) or not data:
        raise KosError("KOS vide ou non binaire", code="format")
    try:
        ds = dcmread(io.BytesIO(bytes(data)))
        _check_complete(ds)
        ds.decode()
        sop_class = _str(ds, "SOPClassUID")
    except InvalidDicomError:
        raise KosError(
            "fichier DICOM Part 10 attendu (préambule DICM absent)", code="format"
        ) from None
    except Exception as exc:  # pydicom raises many types on truncated/corrupt input
        raise KosError(f"KOS illisible ({exc.__class__.__name__})", code="format") from None
    if sop_class != KOS_SOP_CLASS_UID:
        raise KosError(f"SOP Class {sop_class or '(absente)'} n'est pas un KOS", code="SOPClassUID")
    try:
        return _read(ds)
    except (AttributeError, TypeError, ValueError, IndexError, KeyError) as exc:
        raise KosError(f"KOS mal formé ({exc.__class__.__name__})", code="format") from None


def _read(ds: Any) -> KosManifest:
    warnings: list[str] = []
    title_item = _first(ds, "ConceptNameCodeSequence")
    if title_item is None:
        raise KosError("ConceptNameCodeSequence (titre du document) absente", code="title")
    title = KosCode(
        _str(title_item, "CodeValue"),
        _str(title_item, "CodingSchemeDesignator"),
        _str(title_item, "CodeMeaning"),
    )
    if title.value != MANIFEST.value:
        warnings.append(f"titre {title.value} au lieu de 113030 (Manifest)")
    evidence = ds.get("CurrentRequestedProcedureEvidenceSequence") or []
    if not evidence:
        raise KosError(
            "CurrentRequestedProcedureEvidenceSequence absente",
            code="CurrentRequestedProcedureEvidenceSequence",
        )
    study_uid = _str(ds, "StudyInstanceUID")
    study_url = _str(ds, "RetrieveURL")
    series: list[KosSeries] = []
    base = ""
    for study_item in evidence:
        if _str(study_item, "StudyInstanceUID") != study_uid:
            warnings.append(f"preuve d'une autre étude: {_str(study_item, 'StudyInstanceUID')}")
        for item in study_item.get("ReferencedSeriesSequence") or []:
            instances = tuple(
                KosInstance(
                    _str(sop, "ReferencedSOPClassUID"), _str(sop, "ReferencedSOPInstanceUID")
                )
                for sop in item.get("ReferencedSOPSequence") or []
            )
            series_uid = _str(item, "SeriesInstanceUID")
            series.append(KosSeries(series_uid, _str(item, "Modality"), instances))
            url = _str(item, "RetrieveURL")
            suffix = f"/studies/{study_uid}/series/{series_uid}"
            if not base and url.endswith(suffix):
                base = url[: -len(suffix)]
    if not base and study_url.endswith(f"/studies/{study_uid}"):
        base = study_url[: -len(f"/studies/{study_uid}")]
    request = _first(ds, "ReferencedRequestSequence")
    accession = _str(ds, "AccessionNumber")
    accession_issuer = _entity(ds, "IssuerOfAccessionNumberSequence")
    placer = placer_issuer = ""
    if request is not None:
        accession = _str(request, "AccessionNumber") or accession
        accession_issuer = _entity(request, "IssuerOfAccessionNumberSequence") or accession_issuer
        placer = _str(request, "PlacerOrderNumberImagingServiceRequest")
        placer_issuer = _entity(request, "OrderPlacerIdentifierSequence")
    ins_oid = _entity(ds, "IssuerOfPatientIDQualifiersSequence")
    ins = _str(ds, "PatientID")
    ipp = ipp_issuer = ""
    for other in ds.get("OtherPatientIDsSequence") or []:
        value, oid = _str(other, "PatientID"), _entity(other, "IssuerOfPatientIDQualifiersSequence")
        if value != ins and not ipp:
            ipp, ipp_issuer = value, oid
    study = KosStudy(
        ins=ins,
        ins_oid=ins_oid,
        study_instance_uid=study_uid,
        accession_number=accession,
        accession_issuer=accession_issuer,
        series=tuple(series),
        retrieve_url=base,
        placer_order_number=placer,
        placer_order_issuer=placer_issuer,
        patient_name=_str(ds, "PatientName"),
        birth_date=_str(ds, "PatientBirthDate"),
        sex=_str(ds, "PatientSex"),
        ipp=ipp,
        ipp_issuer=ipp_issuer,
        study_date=_str(ds, "StudyDate"),
        study_time=_str(ds, "StudyTime"),
        study_description=_str(ds, "StudyDescription"),
        study_id=_str(ds, "StudyID"),
        referring_physician=_str(ds, "ReferringPhysicianName"),
        institution_name=_str(ds, "InstitutionName"),
        title=title,
    )
    content = ds.get("ContentSequence") or []
    if not content:
        raise KosError("ContentSequence (TID 2010) absente ou vide", code="ContentSequence")
    evidence_uids = {i.sop_instance_uid for s in series for i in s.instances}
    for item in content:
        for sop in item.get("ReferencedSOPSequence") or []:
            uid = _str(sop, "ReferencedSOPInstanceUID")
            if uid not in evidence_uids:
                raise KosError(
                    f"instance {uid} citée hors de CurrentRequestedProcedureEvidenceSequence",
                    code="ContentSequence",
                )
    description = ""
    for item in content:
        name = _first(item, "ConceptNameCodeSequence")
        if (
            _str(item, "ValueType") == "TEXT"
            and name is not None
            and _str(name, "CodeValue") == _KEY_OBJECT_DESCRIPTION.value
        ):
            description = _str(item, "TextValue")
    return KosManifest(
        sop_instance_uid=_str(ds, "SOPInstanceUID"),
        series_instance_uid=_str(ds, "SeriesInstanceUID"),
        content_date=_str(ds, "ContentDate"),
        content_time=_str(ds, "ContentTime"),
        study=study,
        description=description,
        character_set=_str(ds, "SpecificCharacterSet"),
        warnings=tuple(warnings),
    )


# --- from image headers -----------------------------------------------------------------------


def study_from_datasets(
    datasets: Iterable[Any],
    *,
    retrieve_url: str,
    ins: str = "",
    ins_oid: str = "",
    accession_issuer: str = "",
    placer_order_number: str = "",
    placer_order_issuer: str = "",
) -> KosStudy:
    """Group image headers (pydicom datasets of one study) into a :class:`KosStudy`.

    The INS and its OID are taken from ``PatientID`` and ``IssuerOfPatientIDQualifiersSequence``
    unless given; the accession issuer from ``IssuerOfAccessionNumberSequence`` unless given.
    Instances of several studies or without UIDs raise :class:`KosError`.
    """
    series: dict[str, tuple[str, list[KosInstance]]] = {}
    first: Any = None
    for ds in datasets:
        if first is None:
            first = ds
        study_uid = _str(ds, "StudyInstanceUID")
        if study_uid != _str(first, "StudyInstanceUID"):
            raise KosError(
                f"instances de plusieurs études ({_str(first, 'StudyInstanceUID')}, {study_uid})",
                code="StudyInstanceUID",
            )
        series_uid, sop_uid = _str(ds, "SeriesInstanceUID"), _str(ds, "SOPInstanceUID")
        if not series_uid or not sop_uid:
            raise KosError("instance sans SeriesInstanceUID/SOPInstanceUID", code="SOPInstanceUID")
        _, instances = series.setdefault(series_uid, (_str(ds, "Modality"), []))
        instances.append(KosInstance(_str(ds, "SOPClassUID"), sop_uid))
    if first is None:
        raise KosError("aucune instance DICOM", code="ReferencedSOPSequence")
    study = KosStudy(
        ins=ins or _str(first, "PatientID"),
        ins_oid=ins_oid or _entity(first, "IssuerOfPatientIDQualifiersSequence"),
        study_instance_uid=_str(first, "StudyInstanceUID"),
        accession_number=_str(first, "AccessionNumber"),
        accession_issuer=accession_issuer or _entity(first, "IssuerOfAccessionNumberSequence"),
        series=tuple(
            KosSeries(uid, modality, tuple(sorted(instances, key=lambda i: i.sop_instance_uid)))
            for uid, (modality, instances) in series.items()
        ),
        retrieve_url=retrieve_url,
        placer_order_number=placer_order_number,
        placer_order_issuer=placer_order_issuer,
        patient_name=_str(first, "PatientName"),
        birth_date=_str(first, "PatientBirthDate"),
        sex=_str(first, "PatientSex"),
        study_date=_str(first, "StudyDate"),
        study_time=_str(first, "StudyTime"),
        study_description=_str(first, "StudyDescription"),
        study_id=_str(first, "StudyID"),
        referring_physician=_str(first, "ReferringPhysicianName"),
        institution_name=_str(first, "InstitutionName"),
    )
    _check(study)
    return study


def study_from_worklist_item(
    item: WorklistItem,
    *,
    series: tuple[KosSeries, ...],
    retrieve_url: str,
    placer_order_issuer: str = "",
) -> KosStudy:
    """The :class:`KosStudy` of an exam scheduled by a worklist item (same patient, Study
    Instance UID, accession number and order as the MWL). The item must carry a qualified INS;
    the IPP (``PatientID`` of the item when it is not the INS) is kept."""
    if item.ins is None:
        raise KosError(
            "l'élément de worklist n'a pas d'INS qualifié: pas de KOS pour le DMP", code="PatientID"
        )
    ipp = ipp_issuer = ""
    if item.patient_id != item.ins.value and item.patient_id_qualifier:
        ipp, ipp_issuer = item.patient_id, item.patient_id_qualifier
    study = KosStudy(
        ins=item.ins.value,
        ins_oid=item.ins.oid,
        study_instance_uid=item.study_instance_uid,
        accession_number=item.accession_number,
        accession_issuer=item.accession_issuer_oid,
        series=series,
        retrieve_url=retrieve_url,
        placer_order_number=item.placer_order_number if placer_order_issuer else "",
        placer_order_issuer=placer_order_issuer,
        patient_name=item.patient_name,
        birth_date=item.birth_date.strftime("%Y%m%d") if item.birth_date else "",
        sex=item.sex,
        ipp=ipp,
        ipp_issuer=ipp_issuer,
        study_date=item.start.strftime("%Y%m%d"),
        study_time=item.start.strftime("%H%M%S"),
        study_description=item.requested_procedure_description[:64],
        referring_physician=item.referring_physician,
    )
    _check(study)
    return study


_STUDY_TEXT_FIELDS = (
    "ins",
    "ins_oid",
    "study_instance_uid",
    "accession_number",
    "accession_issuer",
    "retrieve_url",
    "placer_order_number",
    "placer_order_issuer",
    "patient_name",
    "birth_date",
    "sex",
    "ipp",
    "ipp_issuer",
    "study_date",
    "study_time",
    "study_description",
    "study_id",
    "referring_physician",
    "institution_name",
)


def study_from_dict(data: Any) -> KosStudy:
    """A :class:`KosStudy` from its JSON form (the field names of :class:`KosStudy`; ``series``
    is a list of ``{series_instance_uid, modality, instances: [{sop_class_uid,
    sop_instance_uid}]}``). Unknown keys and wrong types raise :class:`KosError`."""
    if not isinstance(data, dict):
        raise KosError("étude: objet JSON attendu", code="json")
    unknown = set(data) - {*_STUDY_TEXT_FIELDS, "series"}
    if unknown:
        raise KosError(f"étude: champs inconnus {sorted(unknown)}", code="json")
    values: dict[str, Any] = {}
    for name in _STUDY_TEXT_FIELDS:
        value = data.get(name, "")
        if not isinstance(value, str):
            raise KosError(f"{name}: chaîne attendue", code="json")
        values[name] = value
    raw_series = data.get("series")
    if not isinstance(raw_series, list):
        raise KosError("series: liste attendue", code="json")
    series: list[KosSeries] = []
    for raw in raw_series:
        if not isinstance(raw, dict) or not isinstance(raw.get("instances"), list):
            raise KosError("series[]: objet avec une liste 'instances' attendu", code="json")
        instances = []
        for instance in raw["instances"]:
            if not isinstance(instance, dict):
                raise KosError("instances[]: objet attendu", code="json")
            instances.append(
                KosInstance(
                    str(instance.get("sop_class_uid", "")),
                    str(instance.get("sop_instance_uid", "")),
                )
            )
        series.append(
            KosSeries(
                str(raw.get("series_instance_uid", "")),
                str(raw.get("modality", "")),
                tuple(instances),
            )
        )
    study = KosStudy(series=tuple(series), **values)
    _check(study)
    return study


def study_to_dict(study: KosStudy) -> dict[str, Any]:
    """The JSON form of ``study`` (inverse of :func:`study_from_dict`)."""
    data: dict[str, Any] = {name: getattr(study, name) for name in _STUDY_TEXT_FIELDS}
    data["series"] = [
        {
            "series_instance_uid": s.series_instance_uid,
            "modality": s.modality,
            "instances": [
                {"sop_class_uid": i.sop_class_uid, "sop_instance_uid": i.sop_instance_uid}
                for i in s.instances
            ],
        }
        for s in study.series
    ]
    return data
