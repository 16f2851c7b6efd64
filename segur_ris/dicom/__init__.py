"""DICOM for a RIS: Modality Worklist (orders → items, store, C-FIND SCP) and DRIMbox sharing.

* Worklist: :func:`worklist_changes` turns ORM^O01 / OMI^O23 into :class:`WorklistItem`
  upserts and cancellations; :class:`WorklistStore` keeps them (SQLite); :class:`WorklistScp`
  serves them to modalities (C-FIND, PS3.4 Annex K matching in :func:`parse_query`).
* Identity: :func:`ins_patient_identification` / :func:`ins_of_dataset` write and read the INS
  (``PatientID`` + ``IssuerOfPatientID`` + OID qualifiers) one way for MWL and KOS;
  :func:`study_instance_uid_for` derives the study UID of an order that has none.
* DRIMbox (Ségur vague 2): :func:`build_kos` writes the KOS manifest of a study (DRIMbox
  WADO-RS ``RetrieveURL``), :func:`read_kos` reads one back; :class:`ContextualCall` and
  :func:`open_drimbox` make the appel contextuel to a DRIMbox Conso. The KOS's XDS-I.b entry is
  :func:`segur_ris.xds.document_entry_from_kos`.
"""

from segur_ris.dicom._drimbox import ContextualCall, html_form, open_drimbox
from segur_ris.dicom._kos import (
    KOS_SOP_CLASS_UID,
    MANIFEST,
    KosCode,
    KosInstance,
    KosManifest,
    KosSeries,
    KosStudy,
    build_kos,
    build_kos_dataset,
    read_kos,
    study_from_datasets,
    study_from_dict,
    study_from_worklist_item,
    study_to_dict,
    wado_rs_url,
)
from segur_ris.dicom._matching import QueryFilter, WorklistQuery, parse_query
from segur_ris.dicom._scp import (
    MODALITY_WORKLIST_FIND,
    STATUS_CANCEL,
    STATUS_OUT_OF_RESOURCES,
    STATUS_PROCESSING_FAILURE,
    STATUS_UNSUPPORTED_KEYS,
    WorklistScp,
)
from segur_ris.dicom._scu import guard_scu
from segur_ris.dicom._store import WorklistStore, decode_item, encode_item
from segur_ris.dicom._worklist import (
    CANCEL_CONTROLS,
    INS_ISSUER_NIA,
    INS_ISSUER_NIR,
    UPSERT_CONTROLS,
    CodedEntry,
    WorklistAction,
    WorklistChange,
    WorklistItem,
    WorklistSettings,
    ins_issuer,
    ins_of_dataset,
    ins_patient_identification,
    item_from_order,
    study_instance_uid_for,
    worklist_changes,
)

__all__ = [
    "CANCEL_CONTROLS",
    "INS_ISSUER_NIA",
    "INS_ISSUER_NIR",
    "KOS_SOP_CLASS_UID",
    "MANIFEST",
    "MODALITY_WORKLIST_FIND",
    "STATUS_CANCEL",
    "STATUS_OUT_OF_RESOURCES",
    "STATUS_PROCESSING_FAILURE",
    "STATUS_UNSUPPORTED_KEYS",
    "UPSERT_CONTROLS",
    "CodedEntry",
    "ContextualCall",
    "KosCode",
    "KosInstance",
    "KosManifest",
    "KosSeries",
    "KosStudy",
    "QueryFilter",
    "WorklistAction",
    "WorklistChange",
    "WorklistItem",
    "WorklistQuery",
    "WorklistScp",
    "WorklistSettings",
    "WorklistStore",
    "build_kos",
    "build_kos_dataset",
    "decode_item",
    "encode_item",
    "guard_scu",
    "html_form",
    "ins_issuer",
    "ins_of_dataset",
    "ins_patient_identification",
    "item_from_order",
    "open_drimbox",
    "parse_query",
    "read_kos",
    "study_from_datasets",
    "study_from_dict",
    "study_from_worklist_item",
    "study_instance_uid_for",
    "study_to_dict",
    "wado_rs_url",
    "worklist_changes",
]
