"""Helpers shared by the DMP tests: a DmpClient on the sandbox DMP over real TLS, the
associations of a document submitted with its XAdES signature."""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING

from segur_ris.xds import ASSOCIATION_HAS_MEMBER, ASSOCIATION_SIGNS, Association

if TYPE_CHECKING:
    from segur_ris.config import Settings
    from segur_ris.dmp import DmpClient
    from segur_ris.sandbox import TestPki
    from segur_ris.sandbox._pki_org import OrgPki

#: VIHF of the automated RIS in the tests (Secteur_Activite, NameID).
SECTEUR = "SA07^1.2.250.1.71.4.2.4"
RESPONSIBLE = "899900063480"


@contextlib.contextmanager
def sandbox_dmp_client(
    pki: TestPki, org: OrgPki, settings: Settings, known_ins: Iterable[str]
) -> Iterator[tuple[DmpClient, Settings, str]]:
    """A started sandbox DMP knowing ``known_ins`` and a :class:`DmpClient` of it (ORG
    certificates of ``org``, server trusted through ``pki``): ``(client, settings, url)``."""
    from segur_ris.dmp import DmpClient
    from segur_ris.sandbox import DmpSandbox
    from segur_ris.vihf import VihfContext

    with DmpSandbox(pki, org.ca_cert.read_bytes(), known_ins=tuple(known_ins)) as sandbox:
        local = settings.with_endpoints(dmp=sandbox.url)
        context = VihfContext.for_automate(
            local, secteur_activite=SECTEUR, responsible_id=RESPONSIBLE
        )
        with DmpClient(
            local,
            vihf=context,
            sign_credential=org.sign.credential,
            client_cert=(org.auth_cli.cert, org.auth_cli.key),
            ca_bundle=pki.ca_cert,
        ) as client:
            yield client, local, sandbox.url


def signed_associations(
    submission_set: str, document: str, signature: str = "Signature01"
) -> list[Association]:
    """``a1``/``a2``: the submission set has the document and its signature as members;
    ``a3``: the signature signs the submission set (DMP TD2.1)."""
    return [
        Association(
            "a1", ASSOCIATION_HAS_MEMBER, submission_set, document, submission_set_status="Original"
        ),
        Association(
            "a2",
            ASSOCIATION_HAS_MEMBER,
            submission_set,
            signature,
            submission_set_status="Original",
        ),
        Association("a3", ASSOCIATION_SIGNS, signature, submission_set),
    ]
