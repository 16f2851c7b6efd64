"""``segur-ris dmp``: feed and query the DMP (the embedded sandbox by default)."""

from __future__ import annotations

import argparse
import contextlib
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from segur_ris.cli._output import add_json_flag, emit_json, read_file
from segur_ris.errors import ConfigError

_SECTEUR = "SA07^1.2.250.1.71.4.2.4"
#: Patient of examples/report.json, known by the embedded sandbox with the CDA's own.
_DEMO_INS = "279035121518989"


def add_dmp_options(parser: argparse.ArgumentParser) -> None:
    """The options that choose the DMP and the structure's credentials (shared with
    ``segur-ris backfill``): without ``--env``, the embedded sandbox DMP."""
    parser.add_argument("--env", choices=["test", "production"], help="real DMP")
    parser.add_argument("--config", type=Path, help="vendor TOML configuration")
    parser.add_argument("--cert", type=Path, help="ORG AUTH_CLI certificate (PEM)")
    parser.add_argument("--key", type=Path, help="its private key (PEM)")
    parser.add_argument("--sign-p12", type=Path, help="ORG SIGN PKCS#12 (VIHF, XAdES)")
    parser.add_argument("--sign-password-file", type=Path, help="file holding its password")
    parser.add_argument("--ca", type=Path, help="trust anchors of the DMP server (PEM)")
    parser.add_argument("--secteur", default=_SECTEUR, help="VIHF Secteur_Activite code^OID")
    parser.add_argument("--responsible", help="VIHF NameID (default: structure id)")
    parser.add_argument("--sandbox-db", type=Path, help="SQLite file of the sandbox DMP")
    parser.add_argument("--timeout", type=float, default=30.0)


def register(sub: Any) -> None:
    group = sub.add_parser("dmp", help="DMP (Mon espace santé): alimentation et consultation")
    commands = group.add_subparsers(dest="dmp_command", metavar="COMMAND", required=True)

    def command(name: str, help_text: str) -> argparse.ArgumentParser:
        parser: argparse.ArgumentParser = commands.add_parser(
            name,
            help=help_text,
            description=help_text + " Without --env, the embedded sandbox DMP is started on "
            "127.0.0.1 (state kept in --sandbox-db when given).",
        )
        add_dmp_options(parser)
        add_json_flag(parser)
        return parser

    submit = command("submit", "Submit a CDA CR-IMG (TD2.1).")
    submit.add_argument("cda", type=Path)
    submit.add_argument("--hide-from-patient", action="store_true")
    submit.add_argument("--mask-to-professionals", action="store_true")
    submit.set_defaults(handler=_submit)

    find = command("find", "List the patient's documents (TD3.1).")
    find.add_argument("--ins", required=True, help="matricule INS (15 characters) or XDS CX")
    find.add_argument(
        "--status", choices=["approved", "archived", "deprecated"], default="approved"
    )
    find.set_defaults(handler=_find)

    get = command("get", "Retrieve a document, exact bytes (TD3.2).")
    get.add_argument("unique_id")
    get.add_argument("--ins", default=_DEMO_INS, help="patient INS (default: the demo patient)")
    get.add_argument("-o", "--output", type=Path, required=True)
    get.set_defaults(handler=_get)

    visibility = command("visibility", "Show/hide a document (TD3.3a/b).")
    visibility.add_argument("unique_id")
    visibility.add_argument("--ins", default=_DEMO_INS, help="patient INS (default: demo patient)")
    visibility.add_argument("--patient", choices=["show", "hide"])
    visibility.add_argument("--professionals", choices=["show", "hide"])
    visibility.set_defaults(handler=_visibility)

    exists = command("exists", "Test whether the patient has a DMP (TD0.2).")
    exists.add_argument("--ins", required=True)
    exists.set_defaults(handler=_exists)


@contextlib.contextmanager
def dmp_client(
    args: argparse.Namespace,
    *,
    known_ins: tuple[str, ...] = (),
    sandbox_db: Path | None = None,
    wrap: Callable[[Any], Any] | None = None,
) -> Iterator[Any]:
    """A :class:`~segur_ris.dmp.DmpClient` for the options of :func:`add_dmp_options`: the real
    DMP with ``--env``, else a sandbox DMP (knowing ``known_ins``, stored in ``sandbox_db`` or
    ``--sandbox-db``) with a throw-away PKI. ``wrap`` wraps its HTTPS transport (evidence)."""
    from segur_ris.config import load_settings
    from segur_ris.dmp import DmpClient
    from segur_ris.transport import HttpsTransport
    from segur_ris.vihf import VihfContext

    def client(settings: Any, sign: Any, cert: Any, key: Any, ca: Any) -> Any:
        transport: Any = HttpsTransport(client_cert=(cert, key), ca_bundle=ca)
        return DmpClient(
            settings,
            vihf=VihfContext.for_automate(
                settings,
                secteur_activite=args.secteur,
                responsible_id=args.responsible or settings.structure.id,
            ),
            sign_credential=sign,
            transport=wrap(transport) if wrap is not None else transport,
            timeout=args.timeout,
        )

    if args.env:
        from segur_ris.certificates import load_pkcs12

        if not (args.cert and args.key and args.sign_p12):
            raise ConfigError(f"--env {args.env} demande --cert, --key et --sign-p12")
        settings = load_settings(args.config, env=args.env)
        password = read_file(args.sign_password_file).strip() if args.sign_password_file else None
        sign = load_pkcs12(read_file(args.sign_p12), password)
        with client(settings, sign, args.cert, args.key, args.ca) as dmp:
            yield dmp
        return
    from segur_ris.sandbox import DmpSandbox, generate_org_pki, generate_test_pki

    base = load_settings(args.config, env="demo")
    with tempfile.TemporaryDirectory(prefix="segur-ris-") as tmp:
        pki = generate_test_pki(Path(tmp) / "tls")
        org = generate_org_pki(Path(tmp) / "org", structure_id=base.structure.id)
        db = sandbox_db or args.sandbox_db
        with DmpSandbox(pki, org.ca_cert, db_path=db, known_ins=known_ins) as sandbox:
            settings = base.with_endpoints(dmp=sandbox.url)
            auth = org.auth_cli
            with client(settings, org.sign.credential, auth.cert, auth.key, pki.ca_cert) as dmp:
                yield dmp


@contextlib.contextmanager
def _client(args: argparse.Namespace) -> Iterator[Any]:
    known = (_DEMO_INS, *([args.ins] if getattr(args, "ins", None) else []))
    with dmp_client(args, known_ins=known) as client:
        yield client


def _entry_dict(entry: Any) -> dict[str, Any]:
    return {
        "unique_id": entry.unique_id,
        "entry_uuid": entry.entry_uuid,
        "title": entry.title,
        "status": entry.availability_status.rsplit(":", 1)[-1],
        "version": entry.version,
        "creation_time": entry.creation_time,
        "confidentiality": [c.code for c in entry.confidentiality_codes],
        "patient_id": entry.patient_id,
    }


def _submit(args: argparse.Namespace) -> int:
    cda = read_file(args.cda)
    with _client(args) as client:
        result = client.submit(
            cda,
            hide_from_patient=args.hide_from_patient,
            mask_to_professionals=args.mask_to_professionals,
        )
    if args.json:
        emit_json(
            {
                "unique_id": result.unique_id,
                "submission_set": result.submission_set.unique_id,
                "signature": result.signature.unique_id,
                "status": result.response.status.rsplit(":", 1)[-1],
            }
        )
    else:
        print(f"document {result.unique_id} déposé (lot {result.submission_set.unique_id})")
    return 0


_STATUSES = {
    "approved": "urn:oasis:names:tc:ebxml-regrep:StatusType:Approved",
    "archived": "urn:asip:ci-sis:2010:StatusType:Archived",
    "deprecated": "urn:oasis:names:tc:ebxml-regrep:StatusType:Deprecated",
}


def _find(args: argparse.Namespace) -> int:
    with _client(args) as client:
        entries = client.find(args.ins, status=_STATUSES[args.status])
    if args.json:
        emit_json([_entry_dict(e) for e in entries])
    else:
        for entry in entries:
            flags = ",".join(c.code for c in entry.confidentiality_codes)
            print(f"{entry.unique_id}  {entry.creation_time}  {entry.title}  [{flags}]")
        if not entries:
            print("aucun document")
    return 0


def _get(args: argparse.Namespace) -> int:
    with _client(args) as client:
        data = client.get(args.unique_id, ins=args.ins)
    args.output.write_bytes(data)
    if args.json:
        emit_json({"unique_id": args.unique_id, "output": str(args.output), "size": len(data)})
    else:
        print(f"{args.output}: {len(data)} octets")
    return 0


def _visibility(args: argparse.Namespace) -> int:
    def flag(value: str | None) -> bool | None:
        return None if value is None else value == "show"

    if args.patient is None and args.professionals is None:
        raise ConfigError("indiquez --patient et/ou --professionals (show|hide)")
    with _client(args) as client:
        entry = client.entry(args.ins, args.unique_id)
        new = client.set_visibility(
            entry, patient=flag(args.patient), professionals=flag(args.professionals)
        )
    if args.json:
        emit_json(_entry_dict(new))
    else:
        flags = ",".join(c.code for c in new.confidentiality_codes)
        print(f"document {new.unique_id}: nouvelle version [{flags}]")
    return 0


def _exists(args: argparse.Namespace) -> int:
    with _client(args) as client:
        status = client.exists(args.ins)
    if args.json:
        emit_json(
            {
                "exists": status.exists,
                "query_response": status.query_response,
                "authorization": status.authorization,
                "medecin_traitant": status.medecin_traitant,
            }
        )
    else:
        print(
            f"DMP {'existant' if status.exists else 'absent'} ({status.query_response}), "
            f"autorisation {status.authorization or '-'}"
        )
    return 0 if status.exists else 1
