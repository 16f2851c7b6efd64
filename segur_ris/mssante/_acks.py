"""MSSanté acknowledgements, sans-IO: MDN (RFC 8098) and DSN (RFC 3464).

:func:`parse_acknowledgement` / :func:`parse_acknowledgements` read a ``multipart/report`` into
typed :class:`Acknowledgement` objects linked to the original Message-ID; :func:`build_mdn` and
:func:`build_dsn` write RFC-exact reports (used by the sandbox to answer like Mon espace santé
or an MTA); :func:`ack_to_zam` projects an acknowledgement onto the HL7 v2 business
acknowledgement the PFI sends the RIS (``ZAM^Z02`` / ``ZAM^Z03``).

Both MDN error forms are read: RFC 8098 (``Disposition: …; processed/error`` plus an
``Error: 902^Identifiant de patient inconnu`` field) and the ANS volet's
(``Disposition: …; processed/Error: 902^Identifiant de patient inconnu``). The builders write
the RFC form.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import re
from dataclasses import dataclass
from email import policy
from email.errors import MessageError
from email.header import Header, decode_header, make_header
from email.message import EmailMessage, Message, MIMEPart
from email.parser import BytesParser, HeaderParser
from email.utils import format_datetime, getaddresses, make_msgid
from typing import Literal

from segur_ris.errors import MssanteAckError
from segur_ris.hl7v2 import Message as Hl7Message
from segur_ris.hl7v2 import build_zam, parse_message

__all__ = [
    "DISPOSITION_TYPES",
    "DSN_ACTIONS",
    "Acknowledgement",
    "ack_to_zam",
    "build_dsn",
    "build_mdn",
    "parse_acknowledgement",
    "parse_acknowledgements",
]

#: RFC 8098 §3.2.6.2 disposition types.
DISPOSITION_TYPES = ("displayed", "deleted", "dispatched", "processed")
#: RFC 3464 §2.3.3 actions.
DSN_ACTIONS = ("failed", "delayed", "delivered", "relayed", "expanded")
_MDN_MODE = "automatic-action/MDN-sent-automatically"
_EMAIL_ERRORS = (ValueError, LookupError, IndexError, TypeError, AttributeError, MessageError)
_ERROR_SUBJECT = re.compile(
    r"^\s*\[(?:Erreur d.int[ée]gration|KO Int[ée]gration syst[èe]me)\s*!?\]\s*\[([^\]]+)\]",
    re.IGNORECASE,
)
_ERROR_TEXT = re.compile(r"Erreur d[ée]tect[ée]e\s*:\s*(.+)", re.IGNORECASE)
_MDN_TYPES = ("message/disposition-notification", "message/global-disposition-notification")
_DSN_TYPES = ("message/delivery-status", "message/global-delivery-status")
_STATUS = re.compile(r"^[245]\.\d{1,3}\.\d{1,3}$")
_SMTP_CODE = re.compile(r"^\s*([245]\d\d)(?:[\s-]+([245]\.\d{1,3}\.\d{1,3}))?\s*(.*)$", re.S)
_DSN_SUBJECTS = {
    "failed": "Undelivered Mail Returned to Sender",
    "delayed": "Delayed Mail (still being retried)",
    "delivered": "Successful Mail Delivery Report",
}


@dataclass(frozen=True, slots=True)
class Acknowledgement:
    """One acknowledgement for one recipient of an original mail: an MDN, a DSN, or the ANS
    "courriel standard" of an integration error (``error-mail``).

    ``status`` is the MDN disposition type (``processed``, ``displayed``, ``deleted``,
    ``dispatched``) or the DSN action (``delivered``, ``failed``, ``delayed``, ``relayed``,
    ``expanded``). ``error_code``/``error_text`` come from the MDN ``Error`` (``code^libellé``)
    or from the DSN diagnostic (SMTP reply code, else the enhanced status).
    """

    kind: Literal["mdn", "dsn", "error-mail"]
    original_message_id: str
    recipient: str
    status: str
    success: bool
    original_recipient: str = ""
    enhanced_status: str = ""  #: DSN ``Status`` (``5.1.1``…)
    error_code: str = ""
    error_text: str = ""
    diagnostic: str = ""  #: DSN ``Diagnostic-Code`` as received
    disposition_mode: str = ""  #: MDN ``action-mode/sending-mode``
    modifiers: tuple[str, ...] = ()  #: MDN disposition modifiers (``error``…)
    reporter: str = ""  #: ``Reporting-UA`` / ``Reporting-MTA``
    envelope_id: str = ""  #: DSN ``Original-Envelope-Id``
    message_id: str = ""  #: Message-ID of the report itself

    @property
    def final(self) -> bool:
        """``False`` for a DSN ``delayed`` (delivery still being retried)."""
        return not (self.kind == "dsn" and self.status == "delayed")

    @property
    def is_read(self) -> bool:
        """Whether this is a read acknowledgement (MDN ``displayed``)."""
        return self.kind == "mdn" and self.status == "displayed"


# --- building -------------------------------------------------------------------------------


def _original(original: bytes | EmailMessage) -> tuple[Message, str]:
    """The original's parsed headers and its header section exactly as on the wire."""
    if isinstance(original, EmailMessage):
        raw = original.as_bytes(policy=policy.SMTP)
    elif isinstance(original, bytes | bytearray):
        raw = bytes(original)
    else:
        raise MssanteAckError(f"courriel original attendu, pas {type(original).__name__}")
    end = min((i for i in (raw.find(b"\r\n\r\n"), raw.find(b"\n\n")) if i >= 0), default=-1)
    section = raw if end < 0 else raw[:end]
    # 8-bit bytes in a header section are not valid RFC 5322: shown as "?" in the report.
    text = section.decode("ascii", "replace").replace("\ufffd", "?")
    text = text.replace("\r\n", "\n").strip("\n")
    message = HeaderParser(policy=policy.compat32).parsestr(text + "\n\n")
    return message, text.replace("\n", "\r\n") + "\r\n"


def _first_address(message: Message, *names: str) -> str:
    values = [str(v) for name in names for v in message.get_all(name, [])]
    return next((addr for _, addr in getaddresses(values) if addr), "")


def _field(value: str) -> str:
    """A report field value: US-ASCII (RFC 2047 encoded words for anything else)."""
    value = " ".join(str(value).split())
    if value.isascii():
        return value
    return Header(value, "utf-8").encode(maxlinelen=998)


def _report(
    original: Message,
    original_headers: str,
    *,
    report_type: str,
    sender: str,
    to: str,
    subject: str,
    human: str,
    machine: MIMEPart,
    message_id: str | None,
    date: _dt.datetime | None,
) -> bytes:
    original_id = " ".join(str(original.get("Message-ID", "")).split())
    top = EmailMessage(policy=policy.SMTP)
    top["From"] = sender
    top["To"] = to
    top["Date"] = format_datetime(date or _dt.datetime.now(_dt.UTC))
    domain = sender.rsplit("@", 1)[-1] or "localhost"
    msgid = message_id or make_msgid(domain=domain)
    top["Message-ID"] = msgid
    top["Subject"] = subject
    if original_id:
        top["In-Reply-To"] = original_id
        top["References"] = original_id
    top["Auto-Submitted"] = "auto-replied"
    top["MIME-Version"] = "1.0"
    boundary = "=_report_" + hashlib.sha256(msgid.encode()).hexdigest()[:32]
    top["Content-Type"] = f'multipart/report; report-type={report_type}; boundary="{boundary}"'
    text = MIMEPart(policy=policy.SMTP)
    text.set_content(human, charset="utf-8", cte="quoted-printable")
    headers = MIMEPart(policy=policy.SMTP)
    headers["Content-Type"] = "text/rfc822-headers"
    headers.set_payload(original_headers)
    top.set_payload([text, machine, headers])
    return top.as_bytes(policy=policy.SMTP)


def build_mdn(
    original: bytes | EmailMessage,
    *,
    reporting_ua: str,
    disposition: str = "processed",
    error: str | None = None,
    final_recipient: str | None = None,
    original_recipient: str | None = None,
    mode: str = _MDN_MODE,
    from_address: str | None = None,
    message_id: str | None = None,
    date: _dt.datetime | None = None,
) -> bytes:
    """An MDN (RFC 8098) for ``original``: ``multipart/report;
    report-type=disposition-notification`` with a human part, the
    ``message/disposition-notification`` part and the original's ``text/rfc822-headers``.

    ``error`` (``"902^Identifiant de patient inconnu"``) adds the ``error`` modifier and an
    ``Error`` field; the subject then gets the ANS prefix ``[KO Intégration système !][902]``.
    The MDN goes to the original's ``Disposition-Notification-To`` (else ``From``);
    ``final_recipient`` defaults to its first ``To``.
    """
    message, original_headers = _original(original)
    if disposition not in DISPOSITION_TYPES:
        raise MssanteAckError(
            f"disposition {disposition!r} inconnue ({', '.join(DISPOSITION_TYPES)})",
            code="disposition",
        )
    original_id = " ".join(str(message.get("Message-ID", "")).split())
    if not original_id:
        raise MssanteAckError("courriel original sans Message-ID", code="original")
    to = _first_address(message, "Disposition-Notification-To") or _first_address(message, "From")
    final = final_recipient or _first_address(message, "To")
    if not to or not final:
        raise MssanteAckError("destinataire du MDN ou Final-Recipient inconnu", code="recipient")
    value = f"{mode}; {disposition}" + ("/error" if error else "")
    fields = [f"Reporting-UA: {_field(reporting_ua)}"]
    if original_recipient:
        fields.append(f"Original-Recipient: rfc822;{original_recipient}")
    fields += [
        f"Final-Recipient: rfc822;{final}",
        f"Original-Message-ID: {original_id}",
        f"Disposition: {value}",
    ]
    if error:
        fields.append(f"Error: {_field(error)}")
    machine = MIMEPart(policy=policy.SMTP)
    machine["Content-Type"] = "message/disposition-notification"
    machine.set_payload("\r\n".join(fields) + "\r\n")
    subject = _header(message, "Subject")
    if error:
        code = error.split("^", 1)[0].strip()
        subject = f"[KO Intégration système !][{code}] {subject}".strip()
        human = f"Le document n'a pas pu être intégré.\nLe système a retourné l'erreur {error}\n"
    else:
        human = f"Le message {original_id} adressé à {final} a été traité ({disposition}).\n"
    return _report(
        message,
        original_headers,
        report_type="disposition-notification",
        sender=from_address or final,
        to=to,
        subject=subject or "Disposition notification",
        human=human,
        machine=machine,
        message_id=message_id,
        date=date,
    )


def build_dsn(
    original: bytes | EmailMessage,
    *,
    reporting_mta: str,
    recipient: str,
    action: str,
    status: str,
    diagnostic: str | None = None,
    envelope_id: str | None = None,
    original_recipient: str | None = None,
    remote_mta: str | None = None,
    arrival_date: _dt.datetime | None = None,
    from_address: str | None = None,
    message_id: str | None = None,
    date: _dt.datetime | None = None,
) -> bytes:
    """A DSN (RFC 3464) for one ``recipient`` of ``original``: ``multipart/report;
    report-type=delivery-status`` with a human part, the ``message/delivery-status`` part
    (per-message ``Reporting-MTA``, ``Original-Envelope-Id``, ``Arrival-Date``; per-recipient
    ``Final-Recipient``, ``Action``, ``Status``, ``Remote-MTA``, ``Diagnostic-Code: smtp; …``)
    and the original's ``text/rfc822-headers``. Sent to the original's ``From`` by
    ``MAILER-DAEMON@<reporting_mta>`` unless ``from_address`` is given."""
    message, original_headers = _original(original)
    if action not in DSN_ACTIONS:
        raise MssanteAckError(
            f"action DSN {action!r} inconnue ({', '.join(DSN_ACTIONS)})", code="action"
        )
    if not _STATUS.match(status):
        raise MssanteAckError(f"statut DSN {status!r} invalide (X.Y.Z)", code="status")
    to = _first_address(message, "From")
    if not to or not recipient:
        raise MssanteAckError("expéditeur original ou destinataire inconnu", code="recipient")
    machine = MIMEPart(policy=policy.SMTP)
    machine["Content-Type"] = "message/delivery-status"
    per_message = Message()
    per_message["Reporting-MTA"] = f"dns; {reporting_mta}"
    if envelope_id:
        per_message["Original-Envelope-Id"] = envelope_id
    if arrival_date:
        per_message["Arrival-Date"] = format_datetime(arrival_date)
    per_recipient = Message()
    if original_recipient:
        per_recipient["Original-Recipient"] = f"rfc822;{original_recipient}"
    per_recipient["Final-Recipient"] = f"rfc822; {recipient}"
    per_recipient["Action"] = action
    per_recipient["Status"] = status
    if remote_mta:
        per_recipient["Remote-MTA"] = f"dns; {remote_mta}"
    if diagnostic:
        per_recipient["Diagnostic-Code"] = f"smtp; {_field(diagnostic)}"
    machine.set_payload([per_message, per_recipient])
    original_id = " ".join(str(message.get("Message-ID", "")).split())
    human = {
        "failed": f"Le message n'a pas pu être remis à {recipient}.",
        "delayed": f"La remise du message à {recipient} est retardée.",
    }.get(action, f"Le message a été remis à {recipient} ({action}).")
    if diagnostic:
        human += f"\n{diagnostic}"
    return _report(
        message,
        original_headers,
        report_type="delivery-status",
        sender=from_address or f"MAILER-DAEMON@{reporting_mta}",
        to=to,
        subject=_DSN_SUBJECTS.get(action, "Mail Delivery Status Report"),
        human=human + "\n",
        machine=machine,
        message_id=message_id or (make_msgid(domain=reporting_mta) if original_id else None),
        date=date,
    )


# --- parsing --------------------------------------------------------------------------------


def _decoded(value: str) -> str:
    """A field value unfolded, RFC 2047 encoded words decoded."""
    value = " ".join(value.split())
    if "=?" not in value:
        return value
    try:
        return str(make_header(decode_header(value)))
    except (ValueError, LookupError, MessageError):
        return value


def _header(message: Message, name: str) -> str:
    """A header of a parsed report as text: raw 8-bit bytes read as UTF-8, encoded words
    decoded (compat32 parsing hands back opaque ``Header`` objects for 8-bit values)."""
    for key, value in message.raw_items():
        if key.lower() == name.lower():
            raw = str(value).encode("utf-8", "surrogateescape")
            return _decoded(raw.decode("utf-8", "replace"))
    return ""


def _fields(text: str) -> list[dict[str, str]]:
    """Blank-line separated groups of ``Name: value`` fields (names lower-cased, values
    unfolded and decoded). Written here because the report parts are field lists, not mails:
    the header parser of :mod:`email` costs milliseconds per report for nothing."""
    groups: list[dict[str, str]] = []
    for chunk in re.split(r"\r?\n[ \t]*\r?\n", text.strip()):
        group: dict[str, str] = {}
        name = ""
        for line in chunk.splitlines():
            if line[:1] in (" ", "\t") and name:
                group[name] += " " + line.strip()
            elif ":" in line:
                name, _, value = line.partition(":")
                name = name.strip().lower()
                group[name] = value.strip()
        if group:
            groups.append({k: _decoded(v) for k, v in group.items()})
    return groups


def _blocks(part: Message) -> list[dict[str, str]]:
    """The field groups of a report part (the parser may have split them into messages)."""
    payload = part.get_payload()
    texts: list[str] = []
    if isinstance(payload, list):
        for block in payload:
            if isinstance(block, Message):
                texts.append("".join(f"{k}: {v}\n" for k, v in block.items()))
                inner = block.get_payload()
                if isinstance(inner, str) and inner.strip():
                    texts.append(inner)
    else:
        raw = part.get_payload(decode=True)
        texts.append(raw.decode("utf-8", "replace") if isinstance(raw, bytes) else str(payload))
    return [group for text in texts for group in _fields(text)]


def _address_field(value: str) -> str:
    """``rfc822; user@example.org`` → ``user@example.org``."""
    address = value.split(";", 1)[1] if ";" in value else value
    return address.strip().strip("<>").strip()


def _original_id(report: Message) -> str:
    """The Message-ID of the original's headers returned in the report, if any."""
    for part in report.walk():
        content_type = part.get_content_type()
        if content_type == "text/rfc822-headers":
            raw = part.get_payload(decode=True)
            text = raw.decode("utf-8", "replace") if isinstance(raw, bytes) else ""
            groups = _fields(text)
            return groups[0].get("message-id", "") if groups else ""
        if content_type == "message/rfc822":
            inner = part.get_payload()
            if isinstance(inner, list) and inner and isinstance(inner[0], Message):
                return _header(inner[0], "Message-ID")
    return ""


def _msgid(value: str) -> str:
    """A Message-ID as sent: ``<199509192301.23456 >`` (the ANS sample) → without the blank
    (a msg-id holds no white space, RFC 5322 §3.6.4), so that it matches the original's."""
    return "".join(value.split())


def _linked_id(report: Message, first: str = "", envelope: str = "") -> str:
    """The original Message-ID: ``first`` (MDN ``Original-Message-ID``), else the returned
    headers, else the DSN envelope id (when it is a Message-ID), else ``In-Reply-To``."""
    if first.strip():
        return _msgid(first)
    returned = _original_id(report)
    if returned:
        return _msgid(returned)
    envelope = envelope.strip()
    if "@" in envelope:
        return envelope if envelope.startswith("<") else f"<{envelope}>"
    reply = _header(report, "In-Reply-To")
    if reply:
        return _msgid(reply)
    raise MssanteAckError("accusé sans lien avec le message original (Message-ID)", code="original")


def _split_error(value: str) -> tuple[str, str]:
    """``902^Identifiant de patient inconnu^messageErrorCondition|…`` → code, libellé."""
    parts = value.strip().split("^")
    return parts[0].strip(), (parts[1].strip() if len(parts) > 1 else "")


def _parse_mdn(report: Message, part: Message, own_id: str) -> list[Acknowledgement]:
    groups = _blocks(part)
    fields = {k: v for group in groups for k, v in group.items()}
    disposition = fields.get("disposition", "")
    if not disposition or "final-recipient" not in fields:
        raise MssanteAckError("MDN sans Disposition ou Final-Recipient", code="mdn")
    mode, _, rest = disposition.partition(";")
    if not rest:
        mode, rest = "", disposition
    kind, _, modifier_text = rest.strip().partition("/")
    kind = kind.strip().lower()
    if kind not in (*DISPOSITION_TYPES, "denied", "failed"):
        raise MssanteAckError(f"type de disposition {kind!r} inconnu", code="mdn")
    error = fields.get("error", "") or fields.get("failure", "")
    # ANS form ``processed/Error: 902^libellé``: all after the colon is the error, commas too
    names, colon, value = modifier_text.partition(":")
    modifiers = [m.strip().lower() for m in names.split(",") if m.strip()]
    if colon and not error:
        error = value.strip()
    code, text = _split_error(error) if error else ("", "")
    failed = "error" in modifiers or bool(error) or kind in ("deleted", "denied", "failed")
    return [
        Acknowledgement(
            kind="mdn",
            original_message_id=_linked_id(report, fields.get("original-message-id", "")),
            recipient=_address_field(fields["final-recipient"]),
            status=kind,
            success=not failed,
            original_recipient=_address_field(fields.get("original-recipient", "")),
            error_code=code,
            error_text=text,
            disposition_mode=mode.strip(),
            modifiers=tuple(modifiers),
            reporter=fields.get("reporting-ua", ""),
            message_id=own_id,
        )
    ]


def _parse_dsn(report: Message, part: Message, own_id: str) -> list[Acknowledgement]:
    groups = _blocks(part)
    if not groups:
        raise MssanteAckError("DSN sans champs", code="dsn")
    per_message = groups[0] if "final-recipient" not in groups[0] else {}
    recipients = [g for g in groups if "final-recipient" in g]
    if not recipients:
        raise MssanteAckError("DSN sans Final-Recipient", code="dsn")
    envelope = per_message.get("original-envelope-id", "")
    original_id = _linked_id(report, envelope=envelope)
    acks: list[Acknowledgement] = []
    for group in recipients:
        action = group.get("action", "").lower()
        if action not in DSN_ACTIONS:
            raise MssanteAckError(f"action DSN {action!r} inconnue", code="dsn")
        status = group.get("status", "").split()[0] if group.get("status") else ""
        diagnostic = group.get("diagnostic-code", "")
        code = text = ""
        if action in ("failed", "delayed"):
            detail = diagnostic.split(";", 1)[1] if ";" in diagnostic else diagnostic
            match = _SMTP_CODE.match(detail)
            if match:
                code, text = match.group(1), match.group(3).strip()
            else:
                code, text = status, detail.strip()
        acks.append(
            Acknowledgement(
                kind="dsn",
                original_message_id=original_id,
                recipient=_address_field(group["final-recipient"]),
                status=action,
                success=action in ("delivered", "relayed", "expanded"),
                original_recipient=_address_field(group.get("original-recipient", "")),
                enhanced_status=status,
                error_code=code,
                error_text=text,
                diagnostic=diagnostic,
                reporter=per_message.get("reporting-mta", ""),
                envelope_id=envelope,
                message_id=own_id,
            )
        )
    return acks


def parse_acknowledgements(data: bytes) -> tuple[Acknowledgement, ...]:
    """Every acknowledgement of a report (a DSN has one per recipient).

    Also reads the ANS volet's "courriel standard" of an integration error (kind
    ``error-mail``: subject ``[Erreur d'intégration !][<code>] XDM/1.0/DDM+…``, the original
    mail attached as ``message/rfc822``), which a receiving system sends instead of an MDN
    when none was asked for. Raises :class:`~segur_ris.errors.MssanteAckError` when ``data``
    is none of these, misses required fields or cannot be linked to the original Message-ID.
    """
    try:
        return _parse_acknowledgements(data)
    except MssanteAckError:
        raise
    except _EMAIL_ERRORS as exc:  # the standard parser's failures on malformed input
        raise MssanteAckError(
            f"accusé illisible ({type(exc).__name__}: {exc})", code="format"
        ) from None


def _parse_acknowledgements(data: bytes) -> tuple[Acknowledgement, ...]:
    if not isinstance(data, bytes | bytearray):
        raise MssanteAckError(f"bytes attendus, reçu {type(data).__name__}", code="format")
    try:
        report = BytesParser(policy=policy.compat32).parsebytes(bytes(data))
    except (ValueError, LookupError) as exc:
        raise MssanteAckError(f"accusé illisible: {exc}", code="format") from None
    own_id = _header(report, "Message-ID")
    for part in report.walk():
        content_type = part.get_content_type()
        if content_type in _MDN_TYPES:
            return tuple(_parse_mdn(report, part, own_id))
        if content_type in _DSN_TYPES:
            return tuple(_parse_dsn(report, part, own_id))
    error_mail = _parse_error_mail(report, own_id)
    if error_mail is not None:
        return (error_mail,)
    raise MssanteAckError(
        f"ni MDN ni DSN (Content-Type {report.get_content_type()})", code="format"
    )


def _parse_error_mail(report: Message, own_id: str) -> Acknowledgement | None:
    """The ANS "courriel standard" of an integration error (sent when no MDN was asked):
    subject ``[Erreur d'intégration !][902] XDM/1.0/DDM+…``, original as ``message/rfc822``."""
    subject = _header(report, "Subject")
    match = _ERROR_SUBJECT.match(subject)
    if match is None:
        return None
    code = match.group(1).strip()
    payload = report.get_payload(decode=True) if not report.is_multipart() else None
    texts = [payload] if isinstance(payload, bytes) else []
    for part in report.walk():
        if part.get_content_type() == "text/plain" and not part.get_filename():
            raw = part.get_payload(decode=True)
            if isinstance(raw, bytes):
                texts.append(raw)
    found = (_ERROR_TEXT.search(t.decode("utf-8", "replace")) for t in texts)
    text = next((m.group(1).strip() for m in found if m), "")
    sender = getaddresses([_header(report, "From")])
    return Acknowledgement(
        kind="error-mail",
        original_message_id=_linked_id(report),
        recipient=sender[0][1] if sender else "",
        status="processed",
        success=False,
        error_code=code,
        error_text=text,
        modifiers=("error",),
        message_id=own_id,
    )


def is_error_mail_subject(subject: str) -> bool:
    """Whether ``subject`` is that of the ANS integration-error mail
    (``[Erreur d'intégration !][<code>] …``, also ``[KO Intégration système !][<code>]``)."""
    return _ERROR_SUBJECT.match(_decoded(subject)) is not None


def parse_acknowledgement(data: bytes) -> Acknowledgement:
    """The (first) acknowledgement of a report; see :func:`parse_acknowledgements`."""
    return parse_acknowledgements(data)[0]


# --- HL7 v2 projection ----------------------------------------------------------------------


def ack_to_zam(
    ack: Acknowledgement,
    original_hl7: Hl7Message | bytes,
    *,
    mss_person_id: str | None = None,
    event_time: _dt.datetime | None = None,
) -> bytes:
    """The ``ZAM`` business acknowledgement of ``ack`` for the HL7 message that asked for the
    mail (``original_hl7``, a CDA ORU/MDM), built by :func:`segur_ris.hl7v2.build_zam`.

    Mapping (ANS volet transmission CDA en HL7 v2, §ZAM): a DSN and an MDN ``processed`` /
    ``dispatched`` (received by the recipient's system) → ``Z02`` (``ACK_RECEPTION_MSS``,
    ``DESTINATAIRE_MSS``); an MDN ``displayed`` / ``deleted`` (the reader acted) → ``Z03``
    (``ACK_LECTURE_MSS``, ``LECTEUR_MSS``); an ``error-mail`` → a negative ``Z02``. A failure
    carries ERR-5 ``error_code^error_text``
    (SMTP reply code or MDN ``code^libellé``). A DSN ``delayed`` is not final and raises
    :class:`~segur_ris.errors.MssanteAckError`.
    """
    if not ack.final:
        raise MssanteAckError("DSN 'delayed': accusé non définitif, pas de ZAM", code="delayed")
    if isinstance(original_hl7, bytes | bytearray):
        original = parse_message(bytes(original_hl7))
    elif isinstance(original_hl7, Hl7Message):
        original = original_hl7
    else:
        raise MssanteAckError(f"message HL7 attendu, pas {type(original_hl7).__name__}")
    kind: Literal["Z02", "Z03"] = (
        "Z03" if ack.kind == "mdn" and ack.status in ("displayed", "deleted") else "Z02"
    )
    code = ack.error_code or (ack.enhanced_status if not ack.success else "")
    text = ack.error_text or ("" if ack.success else ack.status)
    return build_zam(
        original,
        kind,
        success=ack.success,
        mss_address=ack.recipient,
        mss_person_id=mss_person_id,
        error_code=None if ack.success else (code or None),
        error_text=None if ack.success else (text or None),
        event_time=event_time,
    )
