"""``segur-ris psc``: sign in with Pro Santé Connect (the embedded sandbox provider by default)."""

from __future__ import annotations

import argparse
import contextlib
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from segur_ris.cli._output import add_json_flag, emit_json
from segur_ris.errors import ConfigError


def register(sub: Any) -> None:
    group = sub.add_parser("psc", help="Pro Santé Connect (OpenID Connect)")
    commands = group.add_subparsers(dest="psc_command", metavar="COMMAND", required=True)
    login = commands.add_parser(
        "login",
        help="run the authorization code flow and print the signed-in professional",
        description=(
            "Runs the PSC authorization code flow (PKCE S256, scope_all, acr eidas1), then "
            "reads the signed userinfo. Without --issuer, an embedded sandbox provider is "
            "started on 127.0.0.1 and signs a test professional in without a browser. With "
            "--issuer, the authorization URL is printed and the callback URL (after signing in "
            "with the browser) is read from standard input. Tokens are never printed."
        ),
    )
    login.add_argument("--issuer", help="PSC issuer URL (default: embedded sandbox)")
    login.add_argument("--client-id", help="client id (default: the sandbox client)")
    login.add_argument("--client-secret-file", type=Path, help="file holding the client secret")
    login.add_argument("--redirect-uri", help="registered callback URL")
    login.add_argument("--ca", type=Path, help="trust anchors of the provider (PEM)")
    login.add_argument(
        "--login-hint",
        help="test professional of the sandbox (radiologue, manipulateur, medecin) or RPPS id",
    )
    login.add_argument("--timeout", type=float, default=15.0)
    add_json_flag(login)
    login.set_defaults(handler=_login)


@contextlib.contextmanager
def _sandbox_flow(args: argparse.Namespace) -> Iterator[tuple[Any, Any]]:
    """(client, sign_in function) against an in-process sandbox with a throw-away PKI."""
    from segur_ris.psc import PscClient, PscConfig
    from segur_ris.sandbox import generate_test_pki
    from segur_ris.sandbox._psc import (
        SANDBOX_CLIENT_ID,
        SANDBOX_CLIENT_SECRET,
        SANDBOX_REDIRECT_URI,
        PscSandbox,
    )

    with tempfile.TemporaryDirectory(prefix="segur-ris-psc-") as tmp:
        pki = generate_test_pki(Path(tmp))
        with PscSandbox(pki) as sandbox:
            config = PscConfig(
                issuer=sandbox.issuer,
                client_id=args.client_id or SANDBOX_CLIENT_ID,
                client_secret=SANDBOX_CLIENT_SECRET,
                redirect_uri=args.redirect_uri or SANDBOX_REDIRECT_URI,
                timeout=args.timeout,
            )
            with PscClient(config, trust=pki.ca_cert) as client:
                yield client, sandbox.sign_in


def _login(args: argparse.Namespace) -> int:
    if args.issuer is None:
        with _sandbox_flow(args) as (client, sign_in):
            request = client.authorization_url(login_hint=args.login_hint)
            tokens = client.exchange_code(request, sign_in(request.url))
            user = client.userinfo(tokens)
            client.end_session(tokens)
    else:
        user = _remote_login(args)
    if args.json:
        emit_json(user.as_dict())
        return 0
    print(f"{user.display_name} — SubjectNameID {user.national_id}")
    if user.rpps:
        print(f"RPPS {user.rpps}")
    if user.adeli:
        print(f"ADELI {user.adeli}")
    for exercice in user.exercices:
        speciality = f", savoir-faire {exercice.savoir_faire}" if exercice.savoir_faire else ""
        print(f"profession {exercice.profession}{speciality}")
        for activity in exercice.activities:
            print(f"  activité {activity.structure_id} {activity.raison_sociale}".rstrip())
    return 0


def _remote_login(args: argparse.Namespace) -> Any:
    from segur_ris.psc import PscClient, PscConfig

    if not (args.client_id and args.redirect_uri and args.client_secret_file):
        raise ConfigError("--issuer demande --client-id, --redirect-uri et --client-secret-file")
    try:
        secret = args.client_secret_file.read_text(encoding="utf-8").strip()
    except OSError:
        raise ConfigError(f"secret client illisible: {args.client_secret_file}") from None
    config = PscConfig(
        issuer=args.issuer,
        client_id=args.client_id,
        client_secret=secret,
        redirect_uri=args.redirect_uri,
        timeout=args.timeout,
    )
    with PscClient(config, trust=args.ca) as client:
        request = client.authorization_url(login_hint=args.login_hint)
        print(f"Ouvrez cette URL dans un navigateur:\n{request.url}", file=sys.stderr)
        print("URL de retour (callback):", file=sys.stderr)
        callback = sys.stdin.readline().strip()
        tokens = client.exchange_code(request, callback)
        return client.userinfo(tokens)
