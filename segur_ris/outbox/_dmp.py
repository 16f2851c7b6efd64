"""DMP deliveries through the outbox: enqueue a CDA (TD2.1) or a visibility change (TD3.3),
and the handlers that deliver them exactly once with a :class:`~segur_ris.dmp.DmpClient`."""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

from segur_ris.errors import OutboxError, SegurError, XdsRegistryError
from segur_ris.outbox._model import ACTION_DMP_SUBMIT, ACTION_DMP_VISIBILITY, Job
from segur_ris.outbox._outbox import OUTCOME_ALREADY_DELIVERED, OUTCOME_DELIVERED, Outbox

if TYPE_CHECKING:
    from segur_ris.dmp import DmpClient
    from segur_ris.xds import DocumentEntry

__all__ = [
    "DUPLICATE_CODES",
    "dmp_submit_handler",
    "dmp_submit_item",
    "dmp_visibility_handler",
    "enqueue_dmp_submit",
    "enqueue_dmp_submit_many",
    "enqueue_dmp_visibility",
]

#: Registry answers meaning "this uniqueId is already registered". The sandbox answers
#: ``XDSNonIdenticalHash``; IHE also defines ``XDSDuplicateUniqueIdInRegistry``. Either way the
#: handler then checks with a query that the registered document is this one (same hash).
DUPLICATE_CODES = frozenset(
    {
        "XDSDuplicateUniqueIdInRegistry",
        "XDSNonIdenticalHash",
        "XDSRegistryDuplicateUniqueIdInMessage",
    }
)

Handler = Callable[[Job], str | None]


def _entry(cda: bytes, environment_ins_oid: Any = None) -> DocumentEntry:
    from segur_ris.xds import document_entry_from_cda

    try:
        return document_entry_from_cda(cda, environment_ins_oid=environment_ins_oid)
    except SegurError:
        raise
    except (TypeError, ValueError) as exc:  # pragma: no cover - defensive
        raise OutboxError(f"document CDA inexploitable: {exc}", code="cda") from None


def dmp_submit_item(
    cda: bytes,
    *,
    hide_from_patient: bool = False,
    mask_to_professionals: bool = False,
    source: str | None = None,
) -> tuple[str, bytes, dict[str, Any]]:
    """``(uniqueId, CDA bytes, params)`` of a TD2.1 job, the CDA read once (a malformed document
    raises :class:`~segur_ris.errors.CdaError` or :class:`~segur_ris.errors.XmlError`)."""
    data = bytes(cda)
    entry = _entry(data)
    params: dict[str, Any] = {
        "hide_from_patient": bool(hide_from_patient),
        "mask_to_professionals": bool(mask_to_professionals),
        "ins": entry.patient_id.split("^", 1)[0],
    }
    if source:
        params["source"] = source
    return entry.unique_id, data, params


def enqueue_dmp_submit(
    outbox: Outbox,
    cda: bytes,
    *,
    hide_from_patient: bool = False,
    mask_to_professionals: bool = False,
    source: str | None = None,
) -> Job:
    """Accept a CDA for TD2.1: key = its uniqueId (``ClinicalDocument/id``), payload = its bytes.

    The CDA is read once here (a malformed document raises :class:`~segur_ris.errors.CdaError`
    or :class:`~segur_ris.errors.XmlError` now, not in the worker); the patient's INS goes into
    the job's parameters for the audit trail. ``source`` (a file name…) is kept for reports.
    """
    key, data, params = dmp_submit_item(
        cda,
        hide_from_patient=hide_from_patient,
        mask_to_professionals=mask_to_professionals,
        source=source,
    )
    return outbox.enqueue(ACTION_DMP_SUBMIT, key=key, payload=data, params=params)


def enqueue_dmp_submit_many(
    outbox: Outbox,
    cdas: Iterable[bytes | tuple[bytes, str | None]],
    *,
    hide_from_patient: bool = False,
    mask_to_professionals: bool = False,
) -> list[Job]:
    """:func:`enqueue_dmp_submit` for several CDAs (each ``bytes`` or ``(bytes, source)``) in
    one transaction (:meth:`Outbox.enqueue_many`): all are read first, then stored together or
    not at all. The jobs in input order."""
    items = []
    for cda in cdas:
        data, source = cda if isinstance(cda, tuple) else (cda, None)
        items.append(
            dmp_submit_item(
                data,
                hide_from_patient=hide_from_patient,
                mask_to_professionals=mask_to_professionals,
                source=source,
            )
        )
    return outbox.enqueue_many(ACTION_DMP_SUBMIT, items)


def enqueue_dmp_visibility(
    outbox: Outbox,
    unique_id: str,
    *,
    ins: str,
    patient: bool | None = None,
    professionals: bool | None = None,
    request_id: str | None = None,
) -> Job:
    """Accept a visibility change (TD3.3a/b) of the document ``unique_id`` of patient ``ins``:
    ``patient``/``professionals`` ``True`` shows, ``False`` hides, ``None`` keeps.

    The idempotency key is the uniqueId plus the wanted state (or ``request_id`` when given, to
    queue the same state again after a change the other way).
    """
    if patient is None and professionals is None:
        raise OutboxError("changement de visibilité vide (patient et professionals à None)")

    def word(value: bool | None) -> str:
        return "keep" if value is None else ("show" if value else "hide")

    key = f"{unique_id}#{request_id or f'patient={word(patient)},ps={word(professionals)}'}"
    params = {
        "unique_id": unique_id,
        "ins": ins,
        "patient": patient,
        "professionals": professionals,
    }
    return outbox.enqueue(ACTION_DMP_VISIBILITY, key=key, params=params)


def _registered(client: DmpClient, cda: bytes, unique_id: str, patient_id: str) -> bool:
    """Whether the registry already holds ``unique_id`` for this patient, with this content.

    A registered document with the same uniqueId but another hash is a real conflict:
    :class:`OutboxError` (``code="XDSNonIdenticalHash"``), kept as a permanent error.
    """
    from segur_ris.xds import STATUS_APPROVED, STATUS_ARCHIVED, STATUS_DEPRECATED

    statuses = (STATUS_APPROVED, STATUS_DEPRECATED, STATUS_ARCHIVED)
    for entry in client.find(patient_id, status=statuses):
        if entry.unique_id != unique_id:
            continue
        if entry.hash and entry.hash.lower() != hashlib.sha1(cda).hexdigest():
            raise OutboxError(
                f"le DMP contient déjà un document {unique_id} au contenu différent",
                code="XDSNonIdenticalHash",
            )
        return True
    return False


def dmp_submit_handler(client: DmpClient) -> Handler:
    """The ``dmp.submit`` handler: TD2.1 with ``client.submit``, exactly once.

    After a crash the document may already be in the DMP (the worker died after the DMP's
    answer, before recording it). So on a retry (``attempts > 1``) the handler first looks the
    uniqueId up (ITI-18 FindDocuments) and, if registered with the same hash, reports
    ``already-delivered`` without sending again; and a duplicate-uniqueId answer
    (:data:`DUPLICATE_CODES`) is checked the same way instead of being taken as a failure.
    """

    def handle(job: Job) -> str:
        cda = job.payload

        def registered() -> bool:
            patient_id = _entry(cda, client.settings.environment.ins).patient_id
            return _registered(client, cda, job.key, patient_id)

        if job.attempts > 1 and registered():
            return OUTCOME_ALREADY_DELIVERED
        try:
            client.submit(
                cda,
                hide_from_patient=bool(job.params.get("hide_from_patient")),
                mask_to_professionals=bool(job.params.get("mask_to_professionals")),
            )
        except XdsRegistryError as exc:
            if exc.code in DUPLICATE_CODES and registered():
                return OUTCOME_ALREADY_DELIVERED
            raise
        return OUTCOME_DELIVERED

    return handle


def dmp_visibility_handler(client: DmpClient) -> Handler:
    """The ``dmp.visibility`` handler: TD3.3a/b with ``client.set_visibility``; a document
    already in the wanted state is ``already-delivered`` (no new version)."""

    def handle(job: Job) -> str:
        params = job.params
        unique_id, ins = str(params.get("unique_id", "")), str(params.get("ins", ""))
        if not unique_id or not ins:
            raise OutboxError("dmp.visibility: unique_id et ins requis", code="params")
        patient, professionals = params.get("patient"), params.get("professionals")
        entry = client.entry(ins, unique_id)
        codes = {code.code for code in entry.confidentiality_codes}
        wanted_patient = None if patient is None else ("INVISIBLE_PATIENT" not in codes) == patient
        wanted_ps = None if professionals is None else ("MASQUE_PS" not in codes) == professionals
        if wanted_patient in (None, True) and wanted_ps in (None, True):
            return OUTCOME_ALREADY_DELIVERED
        client.set_visibility(
            entry,
            patient=None if patient is None else bool(patient),
            professionals=None if professionals is None else bool(professionals),
        )
        return OUTCOME_DELIVERED

    return handle
