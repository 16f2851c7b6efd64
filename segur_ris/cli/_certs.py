"""``segur-ris certs``: certificate commands (``inspect``, ``make-test-pki``).

Never prints a private key or a password: the PKCS#12 password comes from an environment
variable or a file, not from the command line (which other users can read in ``ps``).
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path
from typing import Any

from segur_ris.cli._output import add_json_flag, emit_json
from segur_ris.errors import ConfigError

_DEFAULT_TEST_PASSWORD = "segur-ris-test"


def register(sub: Any) -> None:  # argparse._SubParsersAction
    """Add the ``certs`` command group and its subcommands."""
    group = sub.add_parser("certs", help="certificats IGC Santé (inspection, PKI de test)")
    group.set_defaults(handler=lambda _args: _print_help(group))
    commands = group.add_subparsers(dest="certs_command", metavar="SUBCOMMAND")

    inspect = commands.add_parser(
        "inspect",
        help="décrire un certificat (PKCS#12 ou PEM) et le vérifier",
        description="Affiche sujet, identifiant de structure, rôle (ORG AUTH_CLI / SIGN), "
        "validité, usages de clé, chaîne; avec --trust, vérifie la chaîne; avec --crl ou "
        "--online, la révocation. Code de sortie 0 si tout est valide, 1 sinon. La clé "
        "privée et le mot de passe ne sont jamais affichés.",
    )
    inspect.add_argument("file", type=Path, help="fichier .p12/.pfx, ou certificat PEM/DER")
    source = inspect.add_mutually_exclusive_group()
    source.add_argument("--password-env", metavar="VAR", help="variable contenant le mot de passe")
    source.add_argument("--password-file", type=Path, metavar="F", help="fichier du mot de passe")
    inspect.add_argument(
        "--trust",
        action="append",
        type=Path,
        default=[],
        metavar="PATH",
        help="racines / AC intermédiaires IGC Santé (fichier PEM ou dossier), répétable",
    )
    inspect.add_argument(
        "--crl", action="append", type=Path, default=[], metavar="FILE", help="LCR locale"
    )
    inspect.add_argument(
        "--online",
        action="store_true",
        help="interroger OCSP et les points de distribution de LCR du certificat",
    )
    inspect.add_argument("--crl-cache", type=Path, metavar="DIR", help="cache des LCR (--online)")
    add_json_flag(inspect)
    inspect.set_defaults(handler=_inspect)

    make = commands.add_parser(
        "make-test-pki",
        help="générer une PKI de test façon IGC Santé",
        description="Écrit dans DIR une PKI de test NON OFFICIELLE: racine, AC intermédiaire, "
        "ORG AUTH_CLI / SIGN, INSI-AUTO, serveur 127.0.0.1, certificats expirés et révoqués, "
        "LCR, répondeur OCSP, manifest.json. Mot de passe des PKCS#12: --password-env, sinon "
        f"{_DEFAULT_TEST_PASSWORD!r}.",
    )
    make.add_argument("directory", type=Path, metavar="DIR")
    make.add_argument("--structure-id", default="10B0123456", help="IdNat_Struct (OU)")
    make.add_argument("--structure-name", default="CENTRE IMAGERIE TEST", help="nom (O)")
    make.add_argument("--crl-url", default=None, help="point de distribution de LCR des feuilles")
    make.add_argument("--ocsp-url", default=None, help="répondeur OCSP (AIA) des feuilles")
    make.add_argument("--password-env", metavar="VAR", help="variable du mot de passe PKCS#12")
    add_json_flag(make)
    make.set_defaults(handler=_make_test_pki)


def _print_help(parser: argparse.ArgumentParser) -> int:
    parser.print_help()
    return 2


def _password(args: argparse.Namespace) -> bytes | None:
    if args.password_env:
        value = os.environ.get(args.password_env)
        if value is None:
            raise ConfigError(f"variable d'environnement absente: {args.password_env}")
        return value.encode()
    if getattr(args, "password_file", None):
        try:
            text = Path(args.password_file).read_bytes()
        except OSError:
            raise ConfigError(f"fichier de mot de passe illisible: {args.password_file}") from None
        return text.rstrip(b"\r\n")
    return None


def _names(value: object) -> list[str]:
    return [
        name
        for name in (
            "digital_signature",
            "content_commitment",
            "key_encipherment",
            "data_encipherment",
            "key_agreement",
            "key_cert_sign",
            "crl_sign",
        )
        if getattr(value, name, False)
    ]


def _inspect(args: argparse.Namespace) -> int:
    from cryptography import x509

    from segur_ris.certificates import (
        OrgCertificate,
        TrustStore,
        check_insi_cn,
        check_validity,
        crl_urls,
        load_pkcs12,
        ocsp_urls,
    )
    from segur_ris.errors import CertificateError

    try:
        data = Path(args.file).read_bytes()
    except OSError:
        raise ConfigError(f"fichier illisible: {args.file}") from None
    chain: tuple[x509.Certificate, ...] = ()
    if b"-----BEGIN CERTIFICATE" in data:
        try:
            certificates = x509.load_pem_x509_certificates(data)
        except ValueError:
            raise CertificateError(
                f"certificat PEM illisible: {args.file}", code="certificate_format"
            ) from None
        certificate, chain = certificates[0], tuple(certificates[1:])
    else:
        try:
            certificate = x509.load_der_x509_certificate(data)
        except ValueError:
            credential = load_pkcs12(data, _password(args), check_dates=False)
            certificate, chain = credential.certificate, credential.chain
    org = OrgCertificate(certificate)
    try:
        usage = _names(certificate.extensions.get_extension_for_class(x509.KeyUsage).value)
    except x509.ExtensionNotFound:
        usage = []
    try:
        eku_ext = certificate.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
        eku = [oid._name if oid._name != "Unknown OID" else oid.dotted_string for oid in eku_ext]
    except x509.ExtensionNotFound:
        eku = []
    try:
        insi_cn: str | None = check_insi_cn(certificate)
    except CertificateError:
        insi_cn = None
    report: dict[str, Any] = {
        "file": str(args.file),
        "subject": certificate.subject.rfc4514_string(),
        "issuer": certificate.issuer.rfc4514_string(),
        "serial": f"{certificate.serial_number:x}",
        "structure_id": org.structure_id,
        "role": org.role.value if org.role else None,
        "insi_cn": insi_cn,
        "not_before": certificate.not_valid_before_utc.isoformat(),
        "not_after": certificate.not_valid_after_utc.isoformat(),
        "key_usage": usage,
        "extended_key_usage": eku,
        "chain": [c.subject.rfc4514_string() for c in chain],
        "crl_urls": list(crl_urls(certificate)),
        "ocsp_urls": list(ocsp_urls(certificate)),
    }
    ok = True
    checks: dict[str, str] = {}
    try:
        check_validity(certificate)
        checks["validity"] = "ok"
    except CertificateError as exc:
        checks["validity"] = str(exc)
        ok = False
    verified: tuple[x509.Certificate, ...] = ()
    if args.trust:
        try:
            store = TrustStore.from_paths(*args.trust)
            verified = store.verify(certificate, intermediates=chain, role=org.role)
            checks["trust"] = "ok"
            report["verified_chain"] = [c.subject.rfc4514_string() for c in verified]
        except CertificateError as exc:
            checks["trust"] = str(exc)
            ok = False
    if args.crl or args.online:
        ok = _revocation(args, certificate, chain, verified, checks) and ok
    report["checks"] = checks
    report["valid"] = ok
    if args.json:
        emit_json(report)
    else:
        for key, value in report.items():
            if key == "checks":
                for name, result in value.items():
                    print(f"{'vérification ' + name:<22} {result}")
            elif isinstance(value, list):
                print(f"{key:<22} {', '.join(value) if value else '-'}")
            else:
                print(f"{key:<22} {value if value is not None else '-'}")
    return 0 if ok else 1


def _revocation(
    args: argparse.Namespace,
    certificate: Any,
    chain: tuple[Any, ...],
    verified: tuple[Any, ...],
    checks: dict[str, str],
) -> bool:
    """Revocation of ``certificate`` from local CRL files (``--crl``) or online; records the
    outcome in ``checks`` and returns whether the certificate is known not revoked."""
    from cryptography.hazmat.primitives.serialization import Encoding

    from segur_ris.certificates import CrlCache, RevocationChecker, parse_crl
    from segur_ris.errors import CertificateError

    candidates = (*verified[1:2], *chain)
    issuer = next((c for c in candidates if c.subject == certificate.issuer), None)
    if issuer is None:
        checks["revocation"] = "émetteur inconnu: donner --trust ou un PKCS#12 avec sa chaîne"
        return False
    local: dict[str, bytes] = {}
    for path in args.crl:
        try:
            crl = parse_crl(Path(path).read_bytes())
        except OSError:
            raise ConfigError(f"LCR illisible: {path}") from None
        local[f"file://{Path(path).resolve()}"] = crl.public_bytes(Encoding.DER)
    try:
        if local:
            cache = CrlCache(fetcher=lambda url, timeout: local[url])
            status = RevocationChecker(cache, ocsp=False).check(
                certificate, issuer, crl_urls=list(local)
            )
        else:
            checker = RevocationChecker(CrlCache(args.crl_cache) if args.crl_cache else None)
            status = checker.check(certificate, issuer)
    except CertificateError as exc:
        checks["revocation"] = str(exc)
        return False
    checks["revocation"] = f"non révoqué ({status.source} {status.url})"
    return True


def _make_test_pki(args: argparse.Namespace) -> int:
    from segur_ris.certificates import generate_igc_test_pki

    password = _password(args) or _DEFAULT_TEST_PASSWORD.encode()
    pki = generate_igc_test_pki(
        args.directory,
        structure_id=args.structure_id,
        structure_name=args.structure_name,
        password=password,
        crl_url=args.crl_url,
        ocsp_url=args.ocsp_url,
    )
    summary = {
        "directory": str(pki.directory),
        "manifest": str(pki.manifest),
        "ca_bundle": str(pki.ca_bundle),
        "crl": str(pki.crl),
        "structure_id": pki.structure_id,
        "entries": {
            name: {"cert": str(e.cert), "p12": str(e.p12) if e.p12 else None}
            for name, e in pki.entries.items()
        },
    }
    if args.json:
        emit_json(summary)
    else:
        print(f"PKI de test (non officielle) écrite dans {pki.directory}")
        print(f"  AC: {pki.ca_bundle.name}, LCR: {pki.crl.name}, manifest: {pki.manifest.name}")
        for name, entry in pki.entries.items():
            extra = f", {entry.p12.name}" if entry.p12 else ""
            print(f"  {name:<22} {entry.cert.name}{extra}")
    return 0
