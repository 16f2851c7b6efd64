"""The outbox's data: jobs, their errors, counts, and the one rule telling transient errors
(retried with backoff) from permanent ones (kept with their typed cause)."""

from __future__ import annotations

import hashlib
import json
import random
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from segur_ris.errors import (
    OutboxError,
    RevocationUnavailableError,
    SegurError,
    TransportError,
    XdsRegistryError,
)

__all__ = [
    "ACTION_DMP_SUBMIT",
    "ACTION_DMP_VISIBILITY",
    "ACTION_MSS_SEND",
    "TRANSIENT_XDS_CODES",
    "Backoff",
    "Job",
    "JobError",
    "JobStatus",
    "OutboxStats",
    "is_transient",
]

#: TD2.1: a CDA to submit to the DMP (payload: the CDA bytes).
ACTION_DMP_SUBMIT = "dmp.submit"
#: TD3.3a/b: a visibility change of a DMP document (payload empty, params say what).
ACTION_DMP_VISIBILITY = "dmp.visibility"
#: An MSSanté mail (payload: the message bytes).
ACTION_MSS_SEND = "mss.send"

_ACTION = re.compile(r"^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)+$")
_MAX_MESSAGE = 500

#: IHE/DMP registry error codes that say "try again later" (server busy or out of resources).
TRANSIENT_XDS_CODES = frozenset(
    {
        "XDSRegistryBusy",
        "XDSRepositoryBusy",
        "XDSRegistryOutOfResources",
        "XDSRepositoryOutOfResources",
        "XDSRegistryNotAvailable",
        "XDSRepositoryNotAvailable",
    }
)
#: SOAP 1.2 fault codes of a server-side failure (``soap:Receiver``): worth another try.
_TRANSIENT_FAULTS = frozenset({"Receiver", "Server"})


class JobStatus(StrEnum):
    """Life of a job: ``pending`` → ``running`` → ``done``, or back to ``pending`` (transient
    error, retried later) or ``failed`` (permanent error; :meth:`Outbox.replay` makes it
    ``pending`` again)."""

    PENDING = "pending"
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"


@dataclass(frozen=True, slots=True)
class JobError:
    """The last error of a job: exception type name, national/IHE code, message (truncated).

    Built by :meth:`from_exception`, which keeps only what the SDK's exceptions put in their
    message (never a secret, never the document), cut to 500 characters; of any other
    exception only the type name (and ``strerror``/``errno`` for an ``OSError``).
    """

    type: str
    code: str | None
    message: str
    transient: bool

    @classmethod
    def from_exception(cls, exc: BaseException) -> JobError:
        if isinstance(exc, SegurError):
            message, code = exc.message, exc.code
        elif isinstance(exc, OSError):
            message, code = exc.strerror or "erreur système", None
            code = None if exc.errno is None else str(exc.errno)
        else:  # not ours: its text could hold anything (document, secret): not stored
            message, code = "exception inattendue (détail dans le journal du worker)", None
        return cls(
            type=type(exc).__name__,
            code=code,
            message=" ".join(message.split())[:_MAX_MESSAGE],
            transient=is_transient(exc),
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "type": self.type,
            "code": self.code,
            "message": self.message,
            "transient": self.transient,
        }


@dataclass(frozen=True, slots=True)
class Job:
    """One delivery, as stored.

    ``key`` is the idempotency key with ``action``: the document uniqueId for the DMP (one job
    per ``(key, action)``, whatever the number of :meth:`Outbox.enqueue` calls). ``payload`` is
    the bytes to deliver (the CDA), ``params`` the JSON-able parameters of the action.
    ``attempts`` counts claims (a worker killed mid-delivery counts one). Times are Unix
    seconds. ``outcome`` says how a ``done`` job ended (``delivered``, ``already-delivered``).
    """

    id: int
    action: str
    key: str
    payload: bytes = field(repr=False)
    params: Mapping[str, Any]
    status: JobStatus
    attempts: int
    next_attempt_at: float
    lease_until: float | None
    worker: str | None
    created_at: float
    updated_at: float
    error: JobError | None = None
    outcome: str | None = None

    @property
    def digest(self) -> str:
        """SHA-256 of the payload (hex): the same key must always carry the same payload."""
        return payload_digest(self.payload)


@dataclass(frozen=True, slots=True)
class OutboxStats:
    """Number of jobs per status, and the creation time of the oldest pending job."""

    pending: int = 0
    running: int = 0
    done: int = 0
    failed: int = 0
    oldest_pending: float | None = None

    @property
    def total(self) -> int:
        return self.pending + self.running + self.done + self.failed

    def to_dict(self) -> dict[str, Any]:
        return {
            "pending": self.pending,
            "running": self.running,
            "done": self.done,
            "failed": self.failed,
            "total": self.total,
            "oldest_pending": self.oldest_pending,
        }


@dataclass(frozen=True, slots=True)
class Backoff:
    """Exponential backoff with jitter and a cap: attempt ``n`` (1-based) waits a random delay
    in ``[d/2, d]`` with ``d = min(cap, base * factor ** (n - 1))`` ("equal jitter": workers that
    failed together do not come back together, yet never retry at once)."""

    base: float = 2.0
    factor: float = 2.0
    cap: float = 900.0

    def __post_init__(self) -> None:
        if self.base <= 0 or self.factor < 1 or self.cap < self.base:
            raise OutboxError("backoff: base > 0, factor >= 1 et cap >= base attendus")

    def delay(self, attempt: int, rng: random.Random | None = None) -> float:
        exponent = min(max(attempt, 1) - 1, 64)  # bounded: no float overflow after many tries
        ceiling = min(self.cap, self.base * self.factor**exponent)
        draw = (rng or random).random()
        return ceiling / 2 + draw * ceiling / 2


def is_transient(exc: BaseException) -> bool:
    """The retry rule, in one place.

    Transient (retried with backoff): network failures (:class:`TransportError` and its
    subclasses: timeouts, TLS, HTTP status without a SOAP answer such as a 5xx, MLLP/SMTP
    transport errors), an ``OSError`` escaping a transport, a server certificate whose
    revocation could not be checked (OCSP and CRL points unreachable), a SOAP ``Receiver``
    fault and the registry's busy / out-of-resources codes. Everything else is permanent (a
    revoked server certificate too): the request itself
    is wrong (unknown patient, invalid metadata, refused signature…) and sending it again would
    fail again; it stays in the outbox with its cause until :meth:`Outbox.replay`.
    """
    if isinstance(exc, TransportError | OSError | TimeoutError | RevocationUnavailableError):
        return True
    if isinstance(exc, XdsRegistryError):
        return exc.code in TRANSIENT_XDS_CODES
    if isinstance(exc, SegurError):
        return exc.code in _TRANSIENT_FAULTS or exc.code in TRANSIENT_XDS_CODES
    return False


def payload_digest(payload: bytes) -> str:
    return hashlib.sha256(payload).hexdigest()


def check_action(action: str) -> str:
    if not isinstance(action, str) or not _ACTION.match(action):
        raise OutboxError(
            f"action invalide: {action!r} (attendu: domaine.verbe, par ex. dmp.submit)",
            code="action",
        )
    return action


def check_key(key: str) -> str:
    if not isinstance(key, str) or not key.strip() or len(key) > 256:
        raise OutboxError(
            "clé d'idempotence invalide (uniqueId du document attendu, 1 à 256 caractères)",
            code="key",
        )
    return key


def dump_params(params: Mapping[str, Any] | None) -> str:
    try:
        return json.dumps(dict(params or {}), sort_keys=True, ensure_ascii=False)
    except (TypeError, ValueError) as exc:
        raise OutboxError(f"paramètres non sérialisables en JSON: {exc}", code="params") from None


def load_params(text: str) -> dict[str, Any]:
    value = json.loads(text) if text else {}
    return dict(value) if isinstance(value, dict) else {}


def error_columns(error: JobError | None) -> tuple[str | None, str | None, str | None, int]:
    if error is None:
        return None, None, None, 0
    return error.type, error.code, error.message, int(error.transient)


def error_from_columns(
    type_: str | None, code: str | None, message: str | None, transient: object
) -> JobError | None:
    if type_ is None:
        return None
    return JobError(type_, code, message or "", bool(transient))
