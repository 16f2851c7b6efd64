"""MSSanté mails carrying health documents (Référentiel socle MSSanté #2, §ECO.2), sans-IO.

:func:`build_mail` composes the mail with the standard :mod:`email` package: one patient, an
``IHE_XDM.zip`` attachment (see :func:`~segur_ris.mssante.build_xdm`) and a PDF/A copy of each
document, the ``XDM/1.0/DDM+…`` subject, the ``X-MSS-*`` headers, read-acknowledgement request,
threading and the *annule et remplace* form. Every check (one patient, qualified identity for a
patient mailbox, size limit) runs before a :class:`MssMail` exists, so nothing invalid can be
handed to a transport. :func:`read_mail` parses a received mail back.

Choices on points the public texts leave open ([?] in the research notes):

* subject ``XDM/1.0/DDM+<libellé> <NOM> <prénom> <JJ/MM/AAAA>``: libellé = CDA
  ``code/@displayName`` for one document, ``<n> documents`` otherwise; names as in the CDA
  (INSi traits are already upper-case); no truncation;
* *annule et remplace*: subject prefix ``[Annule et remplace] `` and ``In-Reply-To`` /
  ``References`` pointing at the replaced mail's Message-ID;
* PDF name ``<AAAAMMJJ de l'acte>_<type de document>_<NOM>_<prénom>.pdf`` as in the ANS example
  (spaces and accents kept, RFC 2231 encoded; only ``<>:"/\\|?*`` and controls are replaced);
* ``X-MSS-CODECDA``: the distinct CDA codes, comma-separated, in document order;
* the Mon espace santé limit is 25 000 000 bytes of the encoded mail (the stricter reading of
  "25 Mo").
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from email import policy
from email.errors import MessageError
from email.headerregistry import Address
from email.message import EmailMessage
from email.parser import BytesParser
from email.utils import format_datetime, getaddresses, make_msgid
from zoneinfo import ZoneInfo

from segur_ris import __version__
from segur_ris.cda import CdaDocument, read_cda
from segur_ris.codes import INS_NIR_OIDS, OID_INS_NIA
from segur_ris.config import InsOids
from segur_ris.errors import (
    MssanteAddressError,
    MssanteMailError,
    MssanteSizeError,
    SegurError,
)
from segur_ris.ins import PatientIdentity
from segur_ris.mssante._address import check_address, is_patient_address, patient_address
from segur_ris.mssante._xdm import (
    DEFAULT_MAX_ENTRIES,
    DEFAULT_MAX_TOTAL_SIZE,
    XdmDocument,
    XdmPackage,
    build_xdm,
    read_xdm,
)
from segur_ris.xds import DocumentEntry, document_entry_from_cda

__all__ = [
    "ANNULE_ET_REMPLACE",
    "MES_MAX_SIZE",
    "SUBJECT_PREFIX",
    "XDM_ATTACHMENT",
    "MailAttachment",
    "MailDocument",
    "MssMail",
    "ReceivedMail",
    "build_mail",
    "read_mail",
]

#: Size limit of Mon espace santé (bytes of the encoded mail).
MES_MAX_SIZE = 25_000_000
SUBJECT_PREFIX = "XDM/1.0/DDM+"
ANNULE_ET_REMPLACE = "[Annule et remplace]"
XDM_ATTACHMENT = "IHE_XDM.zip"

_PARIS = ZoneInfo("Europe/Paris")
_INS_OIDS = INS_NIR_OIDS | {OID_INS_NIA}
_FILE_UNSAFE = re.compile(r'[<>:"/\\|?*\x00-\x1f\x7f]')
_SPACES = re.compile(r"\s+")
_NIL = re.compile(r"[!-~]{1,64}")  # the convergence reference (``DEV935997``): printable ASCII
#: What the standard email parser raises on malformed input (besides its own errors).
_EMAIL_ERRORS = (ValueError, LookupError, IndexError, TypeError, AttributeError, MessageError)
_SUBJECT = re.compile(r"^(?P<prefixes>(?:\s*\[[^\]]*\])*)\s*XDM/1\.0/DDM\+(?P<text>.*)$", re.S)
_DEFAULT_BODY = (
    "Bonjour,\n\nVeuillez trouver ci-joint {what}.\n\n"
    "Ce message contient des données de santé à caractère personnel.\n"
)


@dataclass(frozen=True, slots=True)
class MailDocument:
    """A document to send: the CDA R2 (N1 or N3) bytes and its PDF/A copy.

    ``entry`` overrides the DocumentEntry derived from the CDA
    (:func:`segur_ris.xds.document_entry_from_cda`).
    """

    cda: bytes
    pdf: bytes
    entry: DocumentEntry | None = None


@dataclass(frozen=True, slots=True)
class MssMail:
    """A composed mail, checked and ready for SMTP submission.

    ``sender`` and ``recipients`` are the SMTP envelope (``MAIL FROM`` / ``RCPT TO``);
    ``patient_recipient`` is the Mon espace santé address among them, if any.
    """

    message: EmailMessage
    message_id: str
    sender: str
    recipients: tuple[str, ...]
    patient_recipient: str | None = None
    max_size: int | None = None

    def to_bytes(self) -> bytes:
        """The mail as it goes on the wire (CRLF line ends, 7-bit headers)."""
        return self.message.as_bytes(policy=policy.SMTP)

    @property
    def size(self) -> int:
        """Size in bytes of :meth:`to_bytes`."""
        return len(self.to_bytes())


# --- building -------------------------------------------------------------------------------


def _clean(text: str) -> str:
    return _SPACES.sub(" ", text).strip()


def _read(index: int, document: MailDocument, require_pdfa: bool) -> CdaDocument:
    if not isinstance(document, MailDocument):
        raise MssanteMailError(
            f"MailDocument attendu, pas {type(document).__name__}", code="document"
        )
    if not bytes(document.pdf[:5]) == b"%PDF-":
        raise MssanteMailError(f"document {index}: la copie PDF/A n'est pas un PDF", code="pdf")
    if require_pdfa:
        _check_pdfa(index, bytes(document.pdf))
    try:
        return read_cda(bytes(document.cda))
    except SegurError as exc:
        raise MssanteMailError(f"document {index}: CDA illisible ({exc})", code="cda") from None


def _check_pdfa(index: int, pdf: bytes) -> None:
    """ECO.2.1.1: the copy is PDF/A-1 (checked with :func:`segur_ris.pdf.check_pdfa`)."""
    from segur_ris.pdf import check_pdfa

    try:
        check = check_pdfa(pdf, level="1b")
    except SegurError as exc:
        raise MssanteMailError(f"document {index}: PDF illisible ({exc})", code="pdf") from None
    if not check.ok:
        raise MssanteMailError(
            f"document {index}: la copie n'est pas PDF/A-1b ({check.problems[0]})", code="pdfa"
        )


def _patient_key(doc: CdaDocument) -> tuple[str, str, str]:
    patient = doc.patient
    if patient.ins:
        return ("ins", patient.ins, "")
    return ("traits", patient.birth_name.upper(), patient.birth_time[:8])


def _one_patient(docs: Sequence[CdaDocument], identity: PatientIdentity | None) -> None:
    keys = {_patient_key(d) for d in docs}
    traits = {(d.patient.birth_name.upper(), d.patient.birth_time[:8]) for d in docs}
    if len(keys) > 1 or len(traits) > 1:
        raise MssanteMailError(
            "un courriel MSSanté ne concerne qu'un seul patient (ECO.2.1.1): les documents "
            "portent des patients différents",
            code="patients",
        )
    if identity is None:
        return
    patient = docs[0].patient
    if identity.ins is not None and patient.ins and identity.ins.value != patient.ins:
        raise MssanteMailError(
            "l'identité du patient ne correspond pas à l'INS des documents", code="patients"
        )
    if identity.traits.nom_naissance.upper() != patient.birth_name.upper():
        raise MssanteMailError(
            "le nom de naissance du patient ne correspond pas à celui des documents",
            code="patients",
        )


def _ins_flag(docs: Sequence[CdaDocument]) -> str:
    """``O`` when every document carries a qualified INS (matricule + INS OID + 4 traits)."""
    for doc in docs:
        p = doc.patient
        complete = p.birth_name and (p.first_given or p.given_names) and p.birth_time and p.sex
        if not (p.ins and p.ins_oid in _INS_OIDS and complete):
            return "N"
    return "O"


def _birth_date(doc: CdaDocument) -> str:
    value = doc.patient.birth_time
    if len(value) >= 8 and value[:8].isdigit():
        return f"{value[6:8]}/{value[4:6]}/{value[0:4]}"
    return ""


def _first_name(doc: CdaDocument) -> str:
    patient = doc.patient
    return patient.first_given or (patient.given_names.split() or [""])[0]


def _subject(docs: Sequence[CdaDocument], replaces: str | None) -> str:
    label = (docs[0].code.display or docs[0].title) if len(docs) == 1 else f"{len(docs)} documents"
    parts = [label, docs[0].patient.birth_name, _first_name(docs[0]), _birth_date(docs[0])]
    subject = SUBJECT_PREFIX + _clean(" ".join(p for p in parts if p))
    return f"{ANNULE_ET_REMPLACE} {subject}" if replaces else subject


def _act_date(doc: CdaDocument) -> str:
    when = doc.exam_start or doc.effective_time
    if when is None:
        raise MssanteMailError("date de l'acte absente du CDA (documentationOf, effectiveTime)")
    if when.tzinfo is not None:
        when = when.astimezone(_PARIS)
    return when.strftime("%Y%m%d")


def _ascii(text: str) -> str:
    """``CR d'imagerie médicale`` → ``CR_d_imagerie_medicale`` (the ANS sample's other form)."""
    plain = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii")
    return re.sub(r"[^A-Za-z0-9-]+", "_", plain).strip("_")


def _pdf_name(doc: CdaDocument, taken: set[str], ascii_only: bool) -> str:
    parts = [
        _act_date(doc),
        doc.code.display or doc.title,
        doc.patient.birth_name,
        _first_name(doc),
    ]
    clean = _ascii if ascii_only else (lambda p: _clean(_FILE_UNSAFE.sub("_", p)))
    stem = "_".join(clean(p) for p in parts if p)
    name, n = f"{stem}.pdf", 1
    while name.lower() in taken:
        n += 1
        name = f"{stem}_{n}.pdf"
    taken.add(name.lower())
    return name


def _message_id(value: str) -> str:
    value = value.strip()
    if not value.startswith("<"):
        value = f"<{value}>"
    if not re.match(r"^<[^<>\s@]+@[^<>\s@]+>$", value):
        raise MssanteMailError(f"Message-ID invalide: {value!r}", code="message-id")
    return value


def _recipients(
    recipients: Sequence[str], identity: PatientIdentity | None, to_patient: bool
) -> tuple[tuple[str, ...], str | None]:
    if isinstance(recipients, str):
        recipients = (recipients,)
    checked = [check_address(r) for r in recipients]
    own: str | None = None
    if to_patient or any(is_patient_address(r) for r in checked):
        if identity is None:
            raise MssanteAddressError(
                "adresse patient sans identité qualifiée du patient (ECO.2.2.6)", code="ins"
            )
        own = patient_address(identity)
        strangers = [r for r in checked if is_patient_address(r) and r != own]
        if strangers:
            raise MssanteAddressError(
                "adresse patient d'un autre patient que celui des documents", code="patients"
            )
        if own not in checked:
            checked.append(own)
    unique = tuple(dict.fromkeys(checked))
    if not unique:
        raise MssanteAddressError("aucun destinataire", code="recipients")
    return unique, own


def _attach(message: EmailMessage, content: bytes, subtype: str, filename: str) -> None:
    part = EmailMessage(policy=policy.SMTP)
    part.set_content(content, maintype="application", subtype=subtype, filename=filename)
    del part["MIME-Version"]  # only the top level carries it
    message.attach(part)


def build_mail(
    documents: Sequence[MailDocument],
    *,
    sender: str,
    recipients: Sequence[str] = (),
    nil: str,
    patient: PatientIdentity | None = None,
    to_patient: bool = False,
    sender_name: str = "",
    body: str = "",
    read_ack: bool = False,
    replaces: str | None = None,
    in_reply_to: str | None = None,
    references: Sequence[str] = (),
    patient_may_reply: bool = True,
    reply_to: str | None = None,
    max_size: int | None = None,
    message_id: str | None = None,
    date: _dt.datetime | None = None,
    environment_ins_oid: str | InsOids | None = None,
    software: str = "segur_ris",
    software_version: str = __version__,
    ascii_names: bool = False,
    require_pdfa: bool = True,
) -> MssMail:
    """Compose an MSSanté mail carrying ``documents`` (one patient).

    ``nil`` is the product's ``X-MSS-NIL`` reference (every mail). ``to_patient`` adds the
    patient's Mon espace santé mailbox built from ``patient`` (which must then be *qualifiée*);
    a ``@patient.mssante.fr`` address in ``recipients`` must be that one.
    ``patient_may_reply=False`` adds ``X-MSS-MES: FIN`` to a mail to the patient.
    ``read_ack`` asks for an MDN (``Disposition-Notification-To`` = sender).
    ``replaces`` is the Message-ID of the replaced mail (*annule et remplace*).
    ``max_size`` defaults to :data:`MES_MAX_SIZE` when the patient is a recipient.
    ``message_id`` and ``date`` make the result deterministic (generated otherwise).
    ``ascii_names`` writes the PDF names without accents, spaces or apostrophes
    (``20261124_CR_d_imagerie_medicale_…``, as in the ANS sample mail).
    ``require_pdfa`` checks each copy is PDF/A-1b (ECO.2.1.1) with
    :func:`segur_ris.pdf.check_pdfa` (about 20 ms per file); ``False`` only checks it is a PDF.

    Raises :class:`~segur_ris.errors.MssanteMailError` (``patients``, ``pdf``, ``pdfa``,
    ``cda``…),
    :class:`~segur_ris.errors.MssanteAddressError`, :class:`~segur_ris.errors.MssanteSizeError`.
    """
    if not documents:
        raise MssanteMailError("aucun document à envoyer", code="document")
    if not isinstance(nil, str) or not _NIL.fullmatch(nil):
        raise MssanteMailError(
            "X-MSS-NIL (référence produit, ASCII sans espace) obligatoire", code="nil"
        )
    sender = check_address(sender)
    docs = [_read(i, d, require_pdfa) for i, d in enumerate(documents, start=1)]
    _one_patient(docs, patient)
    rcpts, own = _recipients(recipients, patient, to_patient)
    if own is not None and docs[0].patient.ins and own.split("@")[0] != docs[0].patient.ins:
        raise MssanteAddressError(
            "l'adresse patient ne correspond pas à l'INS des documents", code="patients"
        )
    try:
        entries = [
            d.entry
            or document_entry_from_cda(bytes(d.cda), environment_ins_oid=environment_ins_oid)
            for d in documents
        ]
    except SegurError as exc:
        raise MssanteMailError(f"métadonnées XDS: {exc}", code="metadata") from None
    when = date or _dt.datetime.now(_dt.UTC)
    msgid = _message_id(message_id) if message_id else make_msgid(domain=sender.split("@")[1])
    xdm = build_xdm(
        [XdmDocument(bytes(d.cda), e) for d, e in zip(documents, entries, strict=True)],
        sender=f"{sender_name} <{sender}>" if sender_name else sender,
        software=software,
        software_version=software_version,
        submission_time=when,
        intended_recipients=rcpts,
    )

    message = EmailMessage(policy=policy.SMTP)
    try:
        message["From"] = Address(display_name=_clean(sender_name), addr_spec=sender)
        message["To"] = ", ".join(rcpts)
        message["Date"] = format_datetime(when if when.tzinfo else when.replace(tzinfo=_dt.UTC))
        message["Message-ID"] = msgid
        message["Subject"] = _subject(docs, replaces)
        if reply_to:
            message["Reply-To"] = check_address(reply_to)
        parent = _message_id(replaces) if replaces else None
        if in_reply_to:
            parent = _message_id(in_reply_to)
        if isinstance(references, str):
            references = references.split()
        refs = [_message_id(r) for r in references]
        if replaces and _message_id(replaces) not in refs:
            refs.append(_message_id(replaces))
        if parent and parent not in refs:
            refs.append(parent)
        if parent:
            message["In-Reply-To"] = parent
        if refs:
            message["References"] = " ".join(refs)
        if read_ack:
            message["Disposition-Notification-To"] = sender
        message["X-MSS-CODECDA"] = ",".join(dict.fromkeys(d.code.code for d in docs))
        message["X-MSS-INS"] = _ins_flag(docs)
        message["X-MSS-NIL"] = nil
        if own is not None and not patient_may_reply:
            message["X-MSS-MES"] = "FIN"
        what = "le document" if len(docs) == 1 else f"les {len(docs)} documents"
        message.set_content(
            body or _DEFAULT_BODY.format(what=what), charset="utf-8", cte="quoted-printable"
        )
        message.make_mixed()
        _attach(message, xdm, "zip", XDM_ATTACHMENT)
        taken: set[str] = set()
        for doc, document in zip(docs, documents, strict=True):
            _attach(message, bytes(document.pdf), "pdf", _pdf_name(doc, taken, ascii_names))
    except ValueError as exc:  # header injection (CR/LF) or unencodable value
        raise MssanteMailError(f"en-tête invalide: {exc}", code="header") from None
    message.set_boundary("=_segur_ris_" + hashlib.sha256(msgid.encode()).hexdigest()[:32])

    limit = max_size if max_size is not None else (MES_MAX_SIZE if own else None)
    mail = MssMail(message, msgid, sender, rcpts, own, limit)
    if limit is not None:
        size = mail.size
        if size > limit:
            raise MssanteSizeError(
                f"courriel de {size} octets au-delà de la limite de {limit} octets"
                + (" (Mon espace santé)" if own else ""),
                code="size",
            )
    return mail


# --- reading --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class MailAttachment:
    """An attachment of a received mail."""

    filename: str
    content_type: str
    content: bytes


@dataclass(frozen=True, slots=True)
class ReceivedMail:
    """A received MSSanté mail: headers, subject parts, body, attachments and the XDM."""

    message: EmailMessage
    message_id: str
    sender: str
    recipients: tuple[str, ...]
    subject: str
    subject_prefixes: tuple[str, ...]  #: ``[Annule et remplace]``, ``[KO …][902]``…
    subject_text: str  #: what follows ``XDM/1.0/DDM+`` (``""`` for a non-XDM subject)
    is_xdm: bool
    codes_cda: tuple[str, ...]  #: ``X-MSS-CODECDA``
    ins_qualified: bool | None  #: ``X-MSS-INS`` ``O``/``N``; ``None`` when absent
    nil: str  #: ``X-MSS-NIL``
    end_of_exchange: bool  #: ``X-MSS-MES: FIN``
    disposition_notification_to: str
    in_reply_to: str
    references: tuple[str, ...]
    body: str
    attachments: tuple[MailAttachment, ...]
    xdm: XdmPackage | None

    @property
    def replaces(self) -> str | None:
        """The replaced mail's Message-ID for an *annule et remplace* mail."""
        if ANNULE_ET_REMPLACE.lower() in (p.lower() for p in self.subject_prefixes):
            return self.in_reply_to or (self.references[-1] if self.references else None)
        return None

    @property
    def pdfs(self) -> tuple[MailAttachment, ...]:
        """The PDF attachments."""
        return tuple(a for a in self.attachments if a.content_type == "application/pdf")


def _addresses(message: EmailMessage, *names: str) -> tuple[str, ...]:
    values = [str(v) for name in names for v in message.get_all(name, [])]
    return tuple(addr for _, addr in getaddresses(values) if addr)


def read_mail(
    data: bytes,
    *,
    max_entries: int = DEFAULT_MAX_ENTRIES,
    max_total_size: int = DEFAULT_MAX_TOTAL_SIZE,
) -> ReceivedMail:
    """Parse a received mail; the ``IHE_XDM.zip`` attachment is read with
    :func:`~segur_ris.mssante.read_xdm` (its limits are passed on; a hostile archive raises
    :class:`~segur_ris.errors.XdmError`). :class:`~segur_ris.errors.MssanteMailError` when
    ``data`` is not a mail."""
    try:
        return _read_mail(data, max_entries, max_total_size)
    except SegurError:
        raise
    except _EMAIL_ERRORS as exc:  # the standard parser's failures on malformed headers
        raise MssanteMailError(
            f"courriel illisible ({type(exc).__name__}: {exc})", code="format"
        ) from None


def _read_mail(data: bytes, max_entries: int, max_total_size: int) -> ReceivedMail:
    if not isinstance(data, bytes | bytearray):
        raise MssanteMailError(f"bytes attendus, reçu {type(data).__name__}", code="format")
    message = BytesParser(policy=policy.default).parsebytes(bytes(data))
    if not isinstance(message, EmailMessage) or not message.keys():
        raise MssanteMailError("courriel illisible: aucun en-tête", code="format")
    subject = _clean(str(message.get("Subject", "")))
    match = _SUBJECT.match(subject)
    prefixes: tuple[str, ...] = ()
    text = ""
    if match:
        prefixes = tuple(re.findall(r"\[[^\]]*\]", match.group("prefixes")))
        text = match.group("text").strip()
    attachments: list[MailAttachment] = []
    xdm: XdmPackage | None = None
    for part in message.iter_attachments():
        payload = part.get_payload(decode=True)
        content = payload if isinstance(payload, bytes) else b""
        filename = part.get_filename() or ""
        attachment = MailAttachment(filename, part.get_content_type(), content)
        attachments.append(attachment)
        if xdm is None and filename.upper() == XDM_ATTACHMENT.upper():
            xdm = read_xdm(content, max_entries=max_entries, max_total_size=max_total_size)
    body_part = message.get_body(("plain",))
    body = body_part.get_content() if isinstance(body_part, EmailMessage) else ""
    codes = tuple(c.strip() for c in str(message.get("X-MSS-CODECDA", "")).split(",") if c.strip())
    ins = str(message.get("X-MSS-INS", "")).strip().upper()
    dnt = _addresses(message, "Disposition-Notification-To")
    return ReceivedMail(
        message=message,
        message_id=str(message.get("Message-ID", "")).strip(),
        sender=next(iter(_addresses(message, "From")), ""),
        recipients=_addresses(message, "To", "Cc"),
        subject=subject,
        subject_prefixes=prefixes,
        subject_text=text,
        is_xdm=match is not None,
        codes_cda=codes,
        ins_qualified={"O": True, "N": False}.get(ins),
        nil=str(message.get("X-MSS-NIL", "")).strip(),
        end_of_exchange=str(message.get("X-MSS-MES", "")).strip().upper() == "FIN",
        disposition_notification_to=dnt[0] if dnt else "",
        in_reply_to=str(message.get("In-Reply-To", "")).strip(),
        references=tuple(str(message.get("References", "")).split()),
        body=body if isinstance(body, str) else "",
        attachments=tuple(attachments),
        xdm=xdm,
    )
