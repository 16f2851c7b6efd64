"""Audit trail and homologation evidence.

:class:`AuditTrail` appends one JSON object per exchange to a file (JSON Lines): who (structure,
LPS, worker), what (the national transaction: ``TD2.1``, ``TD3.3``, ``INSi``…), when (UTC),
which patient (INS), which document (uniqueId), the result and the typed error. It never holds
a document, a token, a key or a password: free-form ``details`` go through :func:`redact`.

:class:`EvidenceTransport` wraps a transport and records every exchange with
:class:`~segur_ris.transport.RecordingTransport`, one folder per transaction
(``evidence/TD2.1/001-ProvideAndRegisterDocumentSet-b.request.xml``…), the files a CNDA /
homologation file asks for. Those files hold patient data: keep them where patient data may be
kept.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from segur_ris.errors import OutboxError
from segur_ris.outbox._model import JobError
from segur_ris.transport import HttpResponse, HttpTransport, RecordingTransport

__all__ = [
    "SOAP_TRANSACTIONS",
    "AuditEvent",
    "AuditTrail",
    "EvidenceTransport",
    "redact",
    "transaction_of_soap_action",
]

#: SOAP action (last part) → national transaction name, for evidence folders and audit lines.
SOAP_TRANSACTIONS: Mapping[str, str] = {
    "ProvideAndRegisterDocumentSet-b": "TD2.1",
    "RegistryStoredQuery": "TD3.1",
    "RetrieveDocumentSet": "TD3.2",
    "UpdateDocumentSet": "TD3.3",
    "PRPA_IN201307UV02": "TD0.2",
    "setAuthorization": "TD0.3",
    "rechercherInsAvecTraitsIdentite": "INSi-traits",
    "rechercherInsAvecCarteVitale": "INSi-carte-vitale",
}

_SECRET_WORDS = (
    "password",
    "passwd",
    "secret",
    "token",
    "assertion",
    "authorization",
    "cookie",
    "private",
    "key_pem",
    "dsn",
)
_SECRET_NAMES = frozenset({"pin", "pwd", "key", "passphrase"})
_CONTENT_WORDS = ("payload", "document", "cda", "pdf", "body", "content", "attachment", "data")
_REDACTED = "[redacted]"


def redact(details: Mapping[str, Any]) -> dict[str, Any]:
    """``details`` with secrets and document contents replaced by ``"[redacted]"``.

    A key naming a secret (password, token, assertion, private key, DSN…) or a content
    (payload, document, cda, pdf, body…) is redacted, as is any ``bytes`` value; identifiers
    such as ``document_id`` / ``unique_id`` are kept. Nested mappings are redacted too.
    """
    clean: dict[str, Any] = {}
    for key, value in details.items():
        name = str(key).lower()
        identifier = name.endswith(("_id", "_uid", "uniqueid", "_ids"))
        if (
            name in _SECRET_NAMES
            or any(word in name for word in _SECRET_WORDS)
            or (not identifier and any(word in name for word in _CONTENT_WORDS))
        ) or isinstance(value, bytes | bytearray | memoryview):
            clean[str(key)] = _REDACTED
        elif isinstance(value, Mapping):
            clean[str(key)] = redact(value)
        elif isinstance(value, str | int | float | bool) or value is None:
            clean[str(key)] = value
        elif isinstance(value, list | tuple):
            clean[str(key)] = [
                v if isinstance(v, str | int | float | bool) else str(v) for v in value
            ]
        else:
            clean[str(key)] = str(value)
    return clean


@dataclass(frozen=True, slots=True)
class AuditEvent:
    """One audited exchange. ``result`` is ``delivered``, ``already-delivered``, ``retry``
    (transient error, tried again later) or ``failed`` (permanent error)."""

    transaction: str
    result: str
    when: dt.datetime
    structure_id: str = ""
    lps: str = ""
    worker: str = ""
    action: str = ""
    patient_ins: str | None = None
    document_id: str | None = None
    job_id: int | None = None
    attempt: int = 0
    duration_ms: float | None = None
    error: JobError | None = None
    details: Mapping[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "when": self.when.astimezone(dt.UTC).isoformat(timespec="milliseconds"),
            "who": {"structure": self.structure_id, "lps": self.lps, "worker": self.worker},
            "what": {"transaction": self.transaction, "action": self.action},
            "patient_ins": self.patient_ins,
            "document_id": self.document_id,
            "job_id": self.job_id,
            "attempt": self.attempt,
            "result": self.result,
            "duration_ms": None if self.duration_ms is None else round(self.duration_ms, 1),
            "error": None if self.error is None else self.error.to_dict(),
            "details": redact(self.details),
        }

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), ensure_ascii=False, sort_keys=True)


class AuditTrail:
    """Appends :class:`AuditEvent` lines to ``target`` (a path, opened in append mode, or a
    text stream). ``structure_id`` and ``lps`` (name and version of the software) fill the
    *who* of every line. Thread-safe; each line is flushed (and fsynced with ``fsync=True``);
    a line that cannot be written raises :class:`OutboxError` (``code="audit"``), which stops
    the worker (the delivery itself is already recorded in the outbox)."""

    def __init__(
        self,
        target: str | os.PathLike[str] | IO[str],
        *,
        structure_id: str = "",
        lps: str = "",
        fsync: bool = False,
    ) -> None:
        self.structure_id = structure_id
        self.lps = lps
        self._fsync = fsync
        self._lock = threading.Lock()
        if isinstance(target, str | os.PathLike):
            try:
                self._stream: IO[str] = open(  # noqa: SIM115 - closed by close()
                    target, "a", encoding="utf-8"
                )
            except OSError as exc:
                raise OutboxError(
                    f"journal d'audit inaccessible: {os.fspath(target)}: {exc.strerror}",
                    code="audit",
                ) from None
            self._owned = True
        else:
            self._stream = target
            self._owned = False

    def record(self, event: AuditEvent) -> None:
        if not event.structure_id and not event.lps:
            from dataclasses import replace

            event = replace(event, structure_id=self.structure_id, lps=self.lps)
        line = event.to_json() + "\n"
        with self._lock:
            try:
                self._stream.write(line)
                self._stream.flush()
                if self._fsync:
                    os.fsync(self._stream.fileno())
            except (OSError, ValueError) as exc:  # disk full, closed stream…
                reason = exc.strerror if isinstance(exc, OSError) else str(exc)
                raise OutboxError(f"journal d'audit non écrit: {reason}", code="audit") from None

    def close(self) -> None:
        if self._owned:
            self._stream.close()

    def __enter__(self) -> AuditTrail:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def transaction_of_soap_action(action: str) -> str:
    """The national transaction of a SOAP action (``…:ProvideAndRegisterDocumentSet-b`` →
    ``TD2.1``); the action's last part when unknown."""
    last = action.rsplit(":", 1)[-1] if action else "exchange"
    return SOAP_TRANSACTIONS.get(last, last or "exchange")


def _soap_action(headers: Mapping[str, str]) -> str:
    from email.message import Message

    message = Message()
    for name, value in headers.items():
        if name.lower() == "content-type":
            message["content-type"] = value
    action = message.get_param("action")
    return action if isinstance(action, str) else ""


class EvidenceTransport:
    """A transport recording every exchange as homologation evidence, in one folder per
    transaction under ``directory`` (``TD2.1/``, ``TD3.1/``, ``INSi-traits/``…), each through a
    :class:`~segur_ris.transport.RecordingTransport` (security tokens removed).

    For an MTOM request (TD2.1), whose multipart body ``RecordingTransport`` cannot redact, the
    SOAP envelope part is also written, tokens removed, as ``NNN-<action>.request-envelope.xml``
    (its ``xop:Include`` elements point to the documents, which are not copied again).
    """

    def __init__(self, inner: HttpTransport, directory: str | os.PathLike[str]) -> None:
        self._inner = inner
        self.directory = Path(directory)
        self._recorders: dict[str, RecordingTransport] = {}
        self._lock = threading.Lock()

    def _recorder(self, transaction: str) -> RecordingTransport:
        with self._lock:
            found = self._recorders.get(transaction)
            if found is None:
                folder = self.directory / transaction
                try:
                    folder.mkdir(parents=True, exist_ok=True)
                    # a resumed run (backfill…) numbers its exchanges after the previous ones
                    # instead of overwriting them
                    found = RecordingTransport(self._inner, folder, start=_last_number(folder))
                except OSError as exc:
                    raise OutboxError(
                        f"dossier de preuves inaccessible: {folder}: {exc.strerror}",
                        code="evidence",
                    ) from None
                self._recorders[transaction] = found
            return found

    def post(
        self, url: str, body: bytes, headers: Mapping[str, str], timeout: float
    ) -> HttpResponse:
        action = _soap_action(headers)
        transaction = transaction_of_soap_action(action)
        recorder = self._recorder(transaction)
        content_type = next((v for k, v in headers.items() if k.lower() == "content-type"), "")
        # the exchange's number first: the envelope file carries the same number as the
        # recorder's request and response files, and concurrent exchanges (the outbox's lanes)
        # are not serialised
        number = recorder.reserve()
        if content_type.lower().startswith("multipart/related"):
            envelope = _mtom_envelope(body, content_type)
            if envelope is not None:
                name = action.rsplit(":", 1)[-1] if action else "exchange"
                path = self.directory / transaction / f"{number:03d}-{name}"
                path.with_name(path.name + ".request-envelope.xml").write_bytes(envelope)
        return recorder.post_reserved(number, url, body, headers, timeout)

    def close(self) -> None:
        close = getattr(self._inner, "close", None)
        if callable(close):
            close()


def _last_number(folder: Path) -> int:
    """The highest ``NNN`` of the ``NNN-…`` files in ``folder`` (0 when none)."""
    numbers = [0]
    for path in folder.iterdir():
        prefix = path.name.split("-", 1)[0]
        if prefix.isdigit():
            numbers.append(int(prefix))
    return max(numbers)


_WSSE = "{http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd}"


def _mtom_envelope(body: bytes, content_type: str) -> bytes | None:
    """The SOAP envelope part of an MTOM body with its ``wsse:Security`` content removed (a
    signed VIHF could be replayed while valid); ``None`` when the body cannot be read (the
    evidence never stops a delivery)."""
    from lxml import etree

    from segur_ris._xml import parse_xml
    from segur_ris.errors import SegurError
    from segur_ris.xds import decode_mtom

    try:
        root = parse_xml(decode_mtom(body, content_type).root)
    except SegurError:
        return None
    for security in root.iter(f"{_WSSE}Security"):
        for child in list(security):
            security.remove(child)
        security.append(etree.Comment(" jeton de securite retire de l'enregistrement "))
    return bytes(etree.tostring(root, xml_declaration=True, encoding="utf-8"))
