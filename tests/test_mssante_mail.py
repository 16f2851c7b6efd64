"""MSSanté mails: headers, subject, attachments, patient mailbox rules, size limit, read back."""

from __future__ import annotations

import dataclasses
import email
import re
from email import policy
from pathlib import Path

import pytest

from segur_ris.errors import (
    MssanteAddressError,
    MssanteMailError,
    MssanteSizeError,
    XdmError,
)
from segur_ris.ins import compute_key
from segur_ris.mssante import (
    MES_MAX_SIZE,
    MailDocument,
    build_mail,
    check_address,
    is_patient_address,
    patient_address,
    read_mail,
)
from tests.conftest import ref_file
from tests.mssante_a_fixtures import (
    INS,
    NIL,
    PATIENT_ADDRESS,
    PDF_NAME,
    PS,
    SENDER,
    SUBJECT,
    WHEN,
    cda_n1,
    cda_n3,
    not_qualified,
    other_patient_cda,
    pdf,
    plain_pdf,
    provisional,
    qualified,
)

ANS_MSS = "mss/ansforge_IG-hl7v2-volet-trans-lps-doc-cda-courriel-mss/input/pagecontent"
STANDARD_EMAIL = (
    f"{ANS_MSS}/struct-email-standard.md.extracted/standard_error_email_example.eml.txt"
)


def _document() -> MailDocument:
    return MailDocument(cda_n1(), pdf())


def _mail(**options: object) -> bytes:
    values: dict[str, object] = {
        "sender": SENDER,
        "recipients": [PS],
        "nil": NIL,
        "message_id": "<cri-1@imagerie.mssante.fr>",
        "date": WHEN,
    }
    values.update(options)
    return build_mail([_document()], **values).to_bytes()  # type: ignore[arg-type]


def _parsed(data: bytes) -> email.message.EmailMessage:
    message = email.message_from_bytes(data, policy=policy.default)
    assert isinstance(message, email.message.EmailMessage)
    return message


# --- the mail to a professional ---------------------------------------------------------------


def test_headers_subject_and_attachments() -> None:
    mail = build_mail(
        [_document()],
        sender=SENDER,
        sender_name="Dr Jeanne RADIOLOGUE",
        recipients=[PS],
        nil=NIL,
        read_ack=True,
        message_id="cri-1@imagerie.mssante.fr",
        date=WHEN,
    )
    assert mail.message_id == "<cri-1@imagerie.mssante.fr>"
    assert (mail.sender, mail.recipients, mail.patient_recipient) == (SENDER, (PS,), None)
    data = mail.to_bytes()
    assert mail.size == len(data)
    assert data.isascii(), "7-bit on the wire"
    assert b"\n" not in data.replace(b"\r\n", b"")
    assert max(len(line) for line in data.split(b"\r\n")) <= 998

    message = _parsed(data)
    assert message["Subject"] == SUBJECT
    assert message["From"].addresses[0].addr_spec == SENDER
    assert message["From"].addresses[0].display_name == "Dr Jeanne RADIOLOGUE"
    assert message["To"] == PS
    assert message["Message-ID"] == "<cri-1@imagerie.mssante.fr>"
    assert message["Disposition-Notification-To"] == SENDER
    assert message["X-MSS-CODECDA"] == "18748-4"
    assert message["X-MSS-INS"] == "O"
    assert message["X-MSS-NIL"] == NIL
    assert message["X-MSS-MES"] is None and message["In-Reply-To"] is None
    assert message.get_content_type() == "multipart/mixed"
    parts = list(message.iter_parts())
    assert [p.get_content_type() for p in parts] == [
        "text/plain",
        "application/zip",
        "application/pdf",
    ]
    assert parts[0].get_content_charset() == "utf-8"
    assert [p.get_filename() for p in parts[1:]] == ["IHE_XDM.zip", PDF_NAME]
    assert parts[2].get_content() == pdf()
    assert all(p["MIME-Version"] is None for p in parts)


def test_read_mail_round_trip() -> None:
    received = read_mail(_mail(read_ack=True))
    assert received.is_xdm and received.subject == SUBJECT
    assert received.subject_text == "CR d'imagerie médicale PAT-TROIS DOMINIQUE 28/03/1979"
    assert received.subject_prefixes == () and received.replaces is None
    assert received.message_id == "<cri-1@imagerie.mssante.fr>"
    assert (received.sender, received.recipients) == (SENDER, (PS,))
    assert received.codes_cda == ("18748-4",) and received.ins_qualified is True
    assert received.nil == NIL and not received.end_of_exchange
    assert received.disposition_notification_to == SENDER
    assert "Veuillez trouver ci-joint le document" in received.body
    assert [a.filename for a in received.pdfs] == [PDF_NAME]
    assert received.xdm is not None
    (document,) = received.xdm.documents
    assert document.content == cda_n1()
    assert document.entry.patient_id.startswith(f"{INS}^^^")
    assert received.xdm.submission_set.intended_recipients == (f"||^^Internet^{PS}",)


def test_ascii_pdf_names() -> None:
    received = read_mail(_mail(ascii_names=True))
    assert [a.filename for a in received.pdfs] == [
        "20261124_CR_d_imagerie_medicale_PAT-TROIS_DOMINIQUE.pdf"
    ]


def test_deterministic() -> None:
    assert _mail() == _mail()
    assert _mail() != _mail(message_id="<cri-2@imagerie.mssante.fr>")


def test_several_documents() -> None:
    mail = build_mail(
        [_document(), MailDocument(cda_n3(), pdf())],
        sender=SENDER,
        recipients=[PS],
        nil=NIL,
        date=WHEN,
    )
    message = mail.message
    assert message["Subject"] == "XDM/1.0/DDM+2 documents PAT-TROIS DOMINIQUE 28/03/1979"
    assert message["X-MSS-CODECDA"] == "18748-4"
    received = read_mail(mail.to_bytes())
    assert [a.filename for a in received.pdfs] == [PDF_NAME, PDF_NAME.replace(".pdf", "_2.pdf")]
    assert received.xdm is not None and len(received.xdm.documents) == 2
    assert re.fullmatch(r"<[^@<>]+@imagerie\.mssante\.fr>", mail.message_id)


def test_annule_et_remplace_and_threading() -> None:
    received = read_mail(_mail(replaces="<cri-0@imagerie.mssante.fr>"))
    assert received.subject == f"[Annule et remplace] {SUBJECT}"
    assert received.subject_prefixes == ("[Annule et remplace]",)
    assert received.in_reply_to == "<cri-0@imagerie.mssante.fr>"
    assert received.references == ("<cri-0@imagerie.mssante.fr>",)
    assert received.replaces == "<cri-0@imagerie.mssante.fr>"
    reply = read_mail(_mail(in_reply_to="<q-2@x.mssante.fr>", references=["<q-1@x.mssante.fr>"]))
    assert reply.in_reply_to == "<q-2@x.mssante.fr>" and reply.replaces is None
    assert reply.references == ("<q-1@x.mssante.fr>", "<q-2@x.mssante.fr>")


# --- the patient's Mon espace santé mailbox -----------------------------------------------------


def test_patient_address() -> None:
    assert patient_address(qualified()) == PATIENT_ADDRESS
    for identity in (not_qualified(), provisional()):
        with pytest.raises(MssanteAddressError) as caught:
            patient_address(identity)
        assert caught.value.code == "ins"
    assert is_patient_address(PATIENT_ADDRESS) and not is_patient_address(PS)
    assert check_address("A.B@Test.MSSANTE.fr") == "A.B@test.mssante.fr"
    for bad in ("no-at-sign", "a@b", "a b@c.fr", "<a@b.fr>", "a@b.fr\r\nBcc: c@d.fr"):
        with pytest.raises(MssanteAddressError):
            check_address(bad)
    with pytest.raises(MssanteAddressError) as caught:
        check_address("123456789012345@patient.mssante.fr")
    assert caught.value.code == "patient"


def test_mail_to_the_patient() -> None:
    mail = build_mail(
        [_document()],
        sender=SENDER,
        recipients=[PS],
        nil=NIL,
        patient=qualified(),
        to_patient=True,
        patient_may_reply=False,
        date=WHEN,
    )
    assert mail.recipients == (PS, PATIENT_ADDRESS)
    assert mail.patient_recipient == PATIENT_ADDRESS and mail.max_size == MES_MAX_SIZE
    assert mail.message["X-MSS-MES"] == "FIN"
    received = read_mail(mail.to_bytes())
    assert received.end_of_exchange and PATIENT_ADDRESS in received.recipients
    may_reply = build_mail(
        [_document()], sender=SENDER, recipients=[PATIENT_ADDRESS], nil=NIL, patient=qualified()
    )
    assert may_reply.message["X-MSS-MES"] is None
    assert may_reply.recipients == (PATIENT_ADDRESS,)


# --- refused before anything could be sent -----------------------------------------------------


def test_two_patients() -> None:
    with pytest.raises(MssanteMailError) as caught:
        build_mail(
            [_document(), MailDocument(other_patient_cda(), pdf())],
            sender=SENDER,
            recipients=[PS],
            nil=NIL,
        )
    assert caught.value.code == "patients"
    other = dataclasses.replace(
        qualified(), traits=dataclasses.replace(qualified().traits, nom_naissance="MARTIN")
    )
    with pytest.raises(MssanteMailError) as caught:
        build_mail([_document()], sender=SENDER, recipients=[PS], nil=NIL, patient=other)
    assert caught.value.code == "patients"


def test_patient_mailbox_needs_a_qualified_identity() -> None:
    for identity in (not_qualified(), provisional(), None):
        with pytest.raises(MssanteAddressError) as caught:
            build_mail(
                [_document()],
                sender=SENDER,
                recipients=[PATIENT_ADDRESS],
                nil=NIL,
                patient=identity,
            )
        assert caught.value.code == "ins"
    with pytest.raises(MssanteAddressError) as caught:
        build_mail([_document()], sender=SENDER, nil=NIL, patient=not_qualified(), to_patient=True)
    assert caught.value.code == "ins"
    stranger = f"1850275056123{compute_key('1850275056123')}@patient.mssante.fr"
    with pytest.raises(MssanteAddressError) as caught:  # another patient's mailbox
        build_mail(
            [_document()], sender=SENDER, recipients=[stranger], nil=NIL, patient=qualified()
        )
    assert caught.value.code == "patients"


def test_size_limits() -> None:
    with pytest.raises(MssanteSizeError) as caught:
        build_mail([_document()], sender=SENDER, recipients=[PS], nil=NIL, max_size=5_000)
    assert caught.value.code == "size"
    big = MailDocument(cda_n1(), b"%PDF-1.7\n" + bytes(19_000_000))
    common = {"sender": SENDER, "recipients": [PS], "nil": NIL, "require_pdfa": False}
    assert build_mail([big], **common).size > MES_MAX_SIZE  # type: ignore[arg-type]
    with pytest.raises(MssanteSizeError, match="Mon espace santé"):
        build_mail([big], **common, patient=qualified(), to_patient=True)  # type: ignore[arg-type]


def test_bad_input() -> None:
    with pytest.raises(MssanteMailError) as caught:
        build_mail([MailDocument(cda_n1(), b"not a pdf")], sender=SENDER, recipients=[PS], nil=NIL)
    assert caught.value.code == "pdf"
    with pytest.raises(MssanteMailError) as caught:
        build_mail([MailDocument(b"<x/>", pdf())], sender=SENDER, recipients=[PS], nil=NIL)
    assert caught.value.code == "cda"
    with pytest.raises(MssanteMailError) as caught:  # a PDF, but not a PDF/A-1b (ECO.2.1.1)
        build_mail([MailDocument(cda_n1(), plain_pdf())], sender=SENDER, recipients=[PS], nil=NIL)
    assert caught.value.code == "pdfa" and "PDF/A-1b" in caught.value.message
    assert build_mail(
        [MailDocument(cda_n1(), plain_pdf())],
        sender=SENDER,
        recipients=[PS],
        nil=NIL,
        require_pdfa=False,
    ).message_id
    with pytest.raises(MssanteMailError) as caught:  # starts like a PDF, is none
        build_mail(
            [MailDocument(cda_n1(), b"%PDF-1.4 nothing")], sender=SENDER, recipients=[PS], nil=NIL
        )
    assert caught.value.code == "pdf"
    with pytest.raises(MssanteMailError) as caught:
        build_mail([_document()], sender=SENDER, recipients=[PS], nil="")
    assert caught.value.code == "nil"
    with pytest.raises(MssanteMailError):
        build_mail([], sender=SENDER, recipients=[PS], nil=NIL)
    with pytest.raises(MssanteAddressError):
        build_mail([_document()], sender="not an address", recipients=[PS], nil=NIL)
    with pytest.raises(MssanteAddressError):
        build_mail([_document()], sender=SENDER, recipients=[], nil=NIL)
    with pytest.raises(MssanteMailError) as caught:
        build_mail([_document()], sender=SENDER, recipients=[PS], nil=NIL, replaces="no id")
    assert caught.value.code == "message-id"
    injected = build_mail(
        [_document()],
        sender=SENDER,
        sender_name="Dr X\r\nBcc: spy@evil.fr",
        recipients=[PS],
        nil=NIL,
    )
    assert injected.message["Bcc"] is None and b"\r\nBcc:" not in injected.to_bytes()


@pytest.mark.parametrize("nil", ["DÉV935997", "DEV 935997", "DEV935997\n", " DEV935997"])
def test_nil_is_a_printable_ascii_reference(nil: str) -> None:
    with pytest.raises(MssanteMailError) as caught:
        build_mail([_document()], sender=SENDER, recipients=[PS], nil=nil)
    assert caught.value.code == "nil"


def test_trailing_newline_is_not_an_address() -> None:
    for address in (PS + "\n", PS + "\r\n", PATIENT_ADDRESS + "\n"):
        with pytest.raises(MssanteAddressError):
            check_address(address)
    with pytest.raises(MssanteAddressError):
        build_mail([_document()], sender=SENDER, recipients=[PS + "\n"], nil=NIL)


def test_references_given_as_one_string() -> None:
    message = _parsed(_mail(references="<a-1@imagerie.mssante.fr> <a-2@imagerie.mssante.fr>"))
    assert message["References"] == "<a-1@imagerie.mssante.fr> <a-2@imagerie.mssante.fr>"


def test_read_mail_refuses_a_hostile_xdm() -> None:
    message = _parsed(_mail())
    zip_part = next(p for p in message.iter_attachments() if p.get_filename() == "IHE_XDM.zip")
    zip_part.set_content(
        b"PK\x03\x04garbage", maintype="application", subtype="zip", filename="IHE_XDM.zip"
    )
    with pytest.raises(XdmError):
        read_mail(message.as_bytes(policy=policy.SMTP))
    with pytest.raises(MssanteMailError):
        read_mail(b"")


def test_subject_convention_of_the_ans_sample(ref_dir: Path) -> None:
    """The ANS sample (illustrative: placeholders for the attachments) names the attachments
    and builds the subject the way :func:`build_mail` does."""
    sample = ref_file(ref_dir, STANDARD_EMAIL).read_bytes()
    message = _parsed(sample)
    names = [p.get_filename() for p in message.iter_attachments()]
    assert "IHE_XDM.zip" in names
    pdf_names = [n for n in names if n and n.endswith(".pdf")]
    pattern = re.compile(r"^\d{8}_[^_]+(?:_[^_]+)*_[A-Z-]+_[A-Z-]+\.pdf$")
    assert pdf_names and all(pattern.match(n) for n in pdf_names)
    assert pattern.match(PDF_NAME)
    headers = sample.split(b"\n\n", 1)[0].replace(b"\n", b"\r\n")
    received = read_mail(headers + b"\r\n\r\nx\r\n")
    assert received.is_xdm
    assert received.subject_prefixes == ("[Erreur d’intégration !]", "[902]")
    assert received.subject_text == "ECHOGRAPHIE ABDOMINOPELVIENNE CORSE FIGATELLIX 12/10/1988"
    ours = read_mail(_mail())
    assert re.fullmatch(r".+ [A-Z-]+ [A-Z]+ \d\d/\d\d/\d{4}", ours.subject_text)
