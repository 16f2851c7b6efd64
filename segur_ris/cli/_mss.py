"""``segur-ris mss``: send CDA documents by MSSanté and read the acknowledgements.

Without ``--smtp``/``--imap`` the embedded sandbox MSSanté is started on 127.0.0.1 with a
throw-away PKI (state kept in ``--sandbox-dir`` when given, so ``mss acks`` can read what an
earlier ``mss send`` produced).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from segur_ris.cli._output import add_json_flag, emit_json, read_file
from segur_ris.errors import ConfigError, MssanteAddressError, MssanteMailError

_SANDBOX_SENDER = "ris@imagerie-sandbox.mssante.fr"
_SANDBOX_NIL = "SANDBOX-SEGUR-RIS"
_SANDBOX_CLIENT = "AUTRE"  # an ORG-like client certificate of the throw-away PKI


def register(sub: Any) -> None:
    group = sub.add_parser("mss", help="MSSanté: envoi de documents et accusés (MDN/DSN)")
    commands = group.add_subparsers(dest="mss_command", metavar="COMMAND", required=True)

    def command(name: str, help_text: str) -> argparse.ArgumentParser:
        parser: argparse.ArgumentParser = commands.add_parser(
            name,
            help=help_text,
            description=help_text + " Without --smtp/--imap, the embedded sandbox MSSanté is "
            "started on 127.0.0.1 (state kept in --sandbox-dir when given).",
        )
        parser.add_argument(
            "--from", dest="sender", help="sender mailbox (BAL applicative or personal)"
        )
        parser.add_argument("--smtp", help="submission server HOST[:PORT] (port 587)")
        parser.add_argument("--imap", help="IMAP server HOST[:PORT] (port 143)")
        parser.add_argument("--ca", type=Path, help="trust anchors of the servers (PEM)")
        parser.add_argument("--cert", type=Path, help="ORG client certificate (PEM)")
        parser.add_argument("--key", type=Path, help="its private key (PEM)")
        parser.add_argument(
            "--token-env",
            metavar="VAR",
            help="environment variable holding a Pro Santé Connect access token (XOAUTH2)",
        )
        parser.add_argument(
            "--token-file",
            type=Path,
            help="file holding the access token (tests only: tokens belong in memory)",
        )
        parser.add_argument("--sandbox-dir", type=Path, help="state directory of the sandbox")
        parser.add_argument("--timeout", type=float, default=30.0)
        add_json_flag(parser)
        return parser

    send = command("send", "Send CDA documents (IHE_XDM + PDF copies) to MSSanté addresses.")
    send.add_argument("cda", type=Path, nargs="+", help="CDA CR-IMG of one patient")
    send.add_argument("--to", action="append", default=[], help="recipient (repeatable)")
    send.add_argument(
        "--patient",
        action="store_true",
        help="also send to the patient's Mon espace santé mailbox (qualified INS of the CDA)",
    )
    send.add_argument("--ack", action="store_true", help="ask for an MDN and wait for the acks")
    send.add_argument("--pdf", type=Path, action="append", default=[], help="PDF/A copy per CDA")
    send.add_argument("--nil", help="X-MSS-NIL product reference (required outside sandbox)")
    send.add_argument("--wait", type=float, help="seconds to wait for the acks (--ack)")
    send.set_defaults(handler=_send)

    acks = command("acks", "Read the unseen acknowledgements (MDN, DSN) of the mailbox.")
    acks.add_argument("--keep", action="store_true", help="do not mark them as seen")
    acks.add_argument("--hl7", type=Path, help="original HL7 message: print the ZAM of each ack")
    acks.set_defaults(handler=_acks)


def _host_port(value: str, default: int) -> tuple[str, int]:
    host, sep, port = value.rpartition(":")
    if not sep:
        return value, default
    if not port.isdigit():
        raise ConfigError(f"port invalide: {value!r}")
    return host.strip("[]"), int(port)


@dataclass(frozen=True)
class _Session:
    """Where and how to talk to the operator (or the sandbox)."""

    sender: str
    smtp: Any
    imap: Any
    sandbox: bool


@contextlib.contextmanager
def _session(args: argparse.Namespace, *, known_ins: tuple[str, ...] = ()) -> Iterator[_Session]:
    from segur_ris.mssante._imap import ImapClient
    from segur_ris.mssante._smtp import CertificateAuth, SmtpTransport, XOAuth2

    if args.smtp or args.imap:
        if not args.sender:
            raise ConfigError("--from est obligatoire avec --smtp/--imap")
        if args.ca is None:
            raise ConfigError("--ca (autorités IGC Santé) est obligatoire avec --smtp/--imap")
        auth: Any
        if args.token_env is not None:
            token = os.environ.get(args.token_env, "").strip()
            if not token:
                raise ConfigError(f"variable d'environnement {args.token_env} vide ou absente")
            auth = XOAuth2(args.sender, token)
        elif args.token_file is not None:
            token = read_file(args.token_file).decode("utf-8", "replace").strip()
            auth = XOAuth2(args.sender, token)
        elif args.cert is not None and args.key is not None:
            auth = CertificateAuth(args.sender)
        else:
            raise ConfigError("--cert/--key (BAL applicative) ou --token-env (PSC) requis")
        from segur_ris.tls import client_context

        context = client_context(trust=args.ca, cert_file=args.cert, key_file=args.key)
        smtp = imap = None
        if args.smtp:
            host, port = _host_port(args.smtp, 587)
            smtp = SmtpTransport(host, port, auth=auth, context=context, timeout=args.timeout)
        if args.imap:
            host, port = _host_port(args.imap, 143)
            imap = ImapClient(host, port, auth=auth, context=context, timeout=args.timeout)
        try:
            yield _Session(args.sender, smtp, imap, sandbox=False)
        finally:
            if smtp is not None:
                smtp.close()
            if imap is not None:
                imap.close()
        return

    from segur_ris.sandbox import CNDA_IDENTITIES, generate_test_pki
    from segur_ris.sandbox._mssante import MssanteSandbox

    sender = args.sender or _SANDBOX_SENDER
    with tempfile.TemporaryDirectory(prefix="segur-ris-mss-") as tmp:
        pki = generate_test_pki(Path(tmp) / "tls")
        known = (*(i.matricule for i in CNDA_IDENTITIES if i.oid.endswith(".8")), *known_ins)
        with MssanteSandbox(pki, known_ins=known, store_dir=args.sandbox_dir) as sandbox:
            context = sandbox.client_context(_SANDBOX_CLIENT)
            auth = CertificateAuth(sender)
            smtp = SmtpTransport(
                "127.0.0.1", sandbox.smtp_port, auth=auth, context=context, timeout=args.timeout
            )
            imap = ImapClient(
                "127.0.0.1", sandbox.imap_port, auth=auth, context=context, timeout=args.timeout
            )
            try:
                yield _Session(sender, smtp, imap, sandbox=True)
            finally:
                smtp.close()
                imap.close()


def _identity_from_cda(document: Any) -> Any:
    """The patient identity written in a CR-IMG, taken as *qualifiée*.

    The CI-SIS lets an INS into a CDA only for a qualified identity, so a CDA carrying a
    complete INS (matricule, INS OID, birth name, first name, sex, birth date) is the RIS's
    statement that the identity is qualified; anything less is refused.
    """
    from segur_ris.errors import SegurError
    from segur_ris.ins import IdentityTraits, Ins, PatientIdentity, ProofDocument

    patient = document.patient
    first = patient.given_names or patient.first_given
    birth = patient.birth_time[:8]
    if not (patient.ins and patient.ins_oid and patient.birth_name and first and len(birth) == 8):
        raise MssanteAddressError(
            "--patient: le CDA ne porte pas d'INS qualifié (matricule, OID, traits)", code="ins"
        )
    try:
        traits = IdentityTraits.create(
            patient.birth_name,
            first,
            patient.sex,
            f"{birth[:4]}-{birth[4:6]}-{birth[6:8]}",
            patient.birthplace or None,
        )
        ins = Ins.parse(patient.ins, patient.ins_oid)
    except SegurError as exc:
        raise MssanteAddressError(
            f"--patient: identité du CDA invalide: {exc}", code="ins"
        ) from None
    identity = PatientIdentity(traits=traits, ins=ins, insi_verified=True)
    return identity.with_proof(ProofDocument.CARTE_NATIONALE_IDENTITE)


def _documents(args: argparse.Namespace) -> tuple[list[Any], Any]:
    from segur_ris.cda import read_cda
    from segur_ris.mssante._mail import MailDocument

    if args.pdf and len(args.pdf) != len(args.cda):
        raise MssanteMailError("donner un --pdf par CDA, dans le même ordre", code="pdf")
    documents, first = [], None
    for index, path in enumerate(args.cda):
        data = read_file(path)
        parsed = read_cda(data)
        first = first or parsed
        if args.pdf:
            pdf = read_file(args.pdf[index])
        elif parsed.pdf:
            pdf = parsed.pdf  # N1: the PDF/A embedded in the CDA
        else:
            raise MssanteMailError(f"{path}: CDA sans PDF (niveau 3): donner --pdf", code="pdf")
        documents.append(MailDocument(cda=data, pdf=pdf))
    return documents, first


def ack_dict(ack: Any) -> dict[str, Any]:
    """JSON form of an acknowledgement."""
    return {
        "kind": ack.kind,
        "status": ack.status,
        "success": ack.success,
        "original_message_id": ack.original_message_id,
        "recipient": ack.recipient,
        "enhanced_status": ack.enhanced_status,
        "error_code": ack.error_code,
        "error_text": ack.error_text,
        "reporter": ack.reporter,
    }


def _wait_acks(imap: Any, message_id: str, expected: int, wait: float) -> list[Any]:
    """Acks of ``message_id`` (left unseen: ``mss acks`` consumes them), polled until
    ``expected`` arrived or ``wait`` seconds passed."""
    from segur_ris.errors import MssanteAckError
    from segur_ris.mssante._acks import parse_acknowledgements

    deadline = time.monotonic() + wait
    while True:
        found = []
        for message in imap.fetch_unseen():
            if not message.is_acknowledgement:
                continue
            with contextlib.suppress(MssanteAckError):
                found += [
                    a
                    for a in parse_acknowledgements(message.data)
                    if a.original_message_id == message_id
                ]
        if len(found) >= expected or time.monotonic() >= deadline:
            return found
        time.sleep(min(2.0, max(0.0, deadline - time.monotonic())))


def _send(args: argparse.Namespace) -> int:
    from segur_ris.mssante._mail import build_mail

    real = bool(args.smtp or args.imap)
    if real and not args.smtp:
        raise ConfigError("--smtp est nécessaire pour envoyer")
    if real and not args.nil:
        raise ConfigError("--nil (référence produit X-MSS-NIL) est obligatoire")
    if real and not args.sender:
        raise ConfigError("--from est obligatoire avec --smtp/--imap")
    documents, first = _documents(args)
    # a --to <INS>@patient.mssante.fr needs the identity too: build_mail checks it is the same
    to_patient = any(a.rpartition("@")[2].lower() == "patient.mssante.fr" for a in args.to)
    patient = _identity_from_cda(first) if args.patient or to_patient else None
    # the mail is composed and checked before any connection: bad input sends nothing
    mail = build_mail(
        documents,
        sender=args.sender or _SANDBOX_SENDER,
        recipients=args.to,
        nil=args.nil or _SANDBOX_NIL,
        patient=patient,
        to_patient=args.patient,
        read_ack=args.ack,
    )
    known = (first.patient.ins,) if first.patient.ins else ()
    with _session(args, known_ins=known) as session:
        result = session.smtp.send(mail)
        acks: list[Any] = []
        if args.ack and session.imap is not None:
            expected = len(result.accepted) * (1 + int(result.dsn_requested))
            # the sandbox files its reports before answering DATA: nothing to wait for
            wait = args.wait if args.wait is not None else (0.0 if session.sandbox else 60.0)
            acks = _wait_acks(session.imap, result.message_id, expected, wait)
    data = {
        "message_id": result.message_id,
        "accepted": list(result.accepted),
        "refused": {r: list(v) for r, v in result.refused.items()},
        "dsn_requested": result.dsn_requested,
        "size": result.size,
        "acks": [ack_dict(a) for a in acks],
    }
    failed = bool(result.refused) or any(not a.success for a in acks)
    if args.json:
        emit_json(data)
    else:
        print(f"envoyé {result.message_id} ({result.size} octets) à {', '.join(result.accepted)}")
        for rcpt, (code, text) in result.refused.items():
            print(f"  refusé {rcpt}: {code} {text}")
        for ack in acks:
            state = "ok" if ack.success else f"échec {ack.error_code or ack.enhanced_status}"
            print(f"  {ack.kind.upper()} {ack.status} {ack.recipient}: {state}")
    return 1 if failed else 0


def _acks(args: argparse.Namespace) -> int:
    original = None
    if args.hl7 is not None:
        original = read_file(args.hl7)
    with _session(args) as session:
        if session.imap is None:
            raise ConfigError("--imap est nécessaire pour lire les accusés")
        batch = session.imap.fetch_acknowledgements(mark_seen=not args.keep)
    entries = []
    for received in batch.acks:
        entry = ack_dict(received.ack)
        if original is not None:
            from segur_ris.mssante._acks import ack_to_zam

            entry["zam"] = ack_to_zam(received.ack, original).decode("utf-8", "replace")
        entries.append(entry)
    rejected = [{"uid": uid, "reason": reason} for uid, reason in batch.rejected]
    if args.json:
        emit_json({"acks": entries, "rejected": rejected})
    else:
        if not entries:
            print("aucun accusé non lu")
        for entry in entries:
            state = "ok" if entry["success"] else f"échec {entry['error_code']}"
            print(
                f"{entry['kind'].upper()} {entry['status']} {entry['recipient']} "
                f"{entry['original_message_id']}: {state}"
            )
        for item in rejected:
            print(f"illisible UID {item['uid']}: {item['reason']}")
    return 1 if rejected else 0
