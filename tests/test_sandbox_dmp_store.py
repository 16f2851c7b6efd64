"""The DMP sandbox store: compact JSON metadata (same query answers as the ebRIM XML it
replaces, old XML rows still read, corrupt rows refused), batched statements per ITI-41,
entryUUIDs unique across the registry."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import sqlite3
from collections.abc import Iterator, Mapping
from pathlib import Path

import pytest
from lxml import etree

from segur_ris.config import load_settings
from segur_ris.dmp import DmpClient, build_envelope, parse_envelope
from segur_ris.errors import DmpError
from segur_ris.sandbox._dmp import ACTION_ITI18, ACTION_ITI41, DmpSandboxCore
from segur_ris.sandbox._dmp_store import (
    KIND_ASSOCIATION,
    KIND_SUBMISSION_SET,
    DmpStore,
    StoredDocument,
    StoredObject,
    dump_metadata,
    load_metadata,
)
from segur_ris.sandbox._pki_org import OrgPki, generate_org_pki
from segur_ris.transport import HttpResponse
from segur_ris.vihf import VihfContext, build_vihf, sign_vihf
from segur_ris.xds import (
    STATUS_APPROVED,
    Association,
    Author,
    Code,
    DocumentEntry,
    PnrDocument,
    ProvideAndRegisterRequest,
    Slot,
    Submission,
    SubmissionSet,
    build_adhoc_query,
    build_provide_and_register,
    build_submit_objects,
    decode_response,
    encode_mtom,
    find_documents,
    find_submission_sets,
    get_associations,
    parse_adhoc_query_response,
    parse_registry_response,
    parse_submit_objects,
)
from tests.conftest import ref_file
from tests.helpers_dmp import RESPONSIBLE, SECTEUR, signed_associations
from tests.outbox_fixtures import INS_VALUE, CdaFactory, make_cda_factory

SAMPLES = "dmp/dmp-lps-package/DMP_LPS_Exemple_de_messages_1.0.1_1_-_v02.05.00"
SAMPLE_INS = "207058575627097"
PATIENT = f"{INS_VALUE}^^^&1.2.250.1.213.1.4.10&ISO^NH"


@pytest.fixture(scope="module")
def org(tmp_path_factory: pytest.TempPathFactory) -> OrgPki:
    settings = load_settings(env="demo", environ={})
    return generate_org_pki(tmp_path_factory.mktemp("org"), structure_id=settings.structure.id)


@pytest.fixture(scope="module")
def cdas() -> CdaFactory:
    return make_cda_factory()


class _CoreTransport:
    """The DmpClient's HTTP transport, answered in-process by a sandbox core."""

    def __init__(self, core: DmpSandboxCore) -> None:
        self.core = core

    def post(
        self, url: str, body: bytes, headers: Mapping[str, str], timeout: float
    ) -> HttpResponse:
        service = url.rstrip("/").rsplit("/", 1)[-1]
        answer = self.core.handle(service, body, headers["Content-Type"], "CN")
        return HttpResponse(answer.status, {"Content-Type": answer.content_type}, answer.body)


@pytest.fixture()
def core(org: OrgPki) -> Iterator[DmpSandboxCore]:
    store = DmpStore()
    yield DmpSandboxCore(
        store, known_ins=(INS_VALUE, SAMPLE_INS), trusted_ca_pem=org.ca_cert.read_bytes()
    )
    store.close()


def _client(core: DmpSandboxCore, org: OrgPki) -> DmpClient:
    settings = load_settings(env="demo", environ={}).with_endpoints(dmp="https://127.0.0.1:1")
    vihf = VihfContext.for_automate(settings, secteur_activite=SECTEUR, responsible_id=RESPONSIBLE)
    return DmpClient(
        settings, vihf=vihf, sign_credential=org.sign.credential, transport=_CoreTransport(core)
    )


def _query(core: DmpSandboxCore, org: OrgPki, content: etree._Element) -> bytes:
    vihf = VihfContext.for_automate(
        load_settings(env="demo", environ={}),
        secteur_activite=SECTEUR,
        responsible_id=RESPONSIBLE,
    )
    security = sign_vihf(build_vihf(vihf, resource_id=PATIENT), org.sign.credential)
    envelope, _ = build_envelope(content, ACTION_ITI18, security=security)
    answer = core.handle(
        "registry", envelope, f'application/soap+xml; action="{ACTION_ITI18}"', "CN"
    )
    assert answer.status == 200, answer.body
    return answer.body


def _xml_round_trip(item: DocumentEntry | SubmissionSet | Association) -> object:
    """What the store answered before: the object through ebRIM XML and back."""
    if isinstance(item, DocumentEntry):
        return parse_submit_objects(build_submit_objects(Submission(documents=(item,)))).documents[
            0
        ]
    if isinstance(item, SubmissionSet):
        submission = Submission(submission_sets=(item,))
        return parse_submit_objects(build_submit_objects(submission)).submission_sets[0]
    submission = Submission(associations=(item,))
    return parse_submit_objects(build_submit_objects(submission)).associations[0]


def _stored_items(store: DmpStore) -> list[DocumentEntry | SubmissionSet | Association]:
    """Every registered object, through the store's public queries."""
    documents = [load_metadata(d.metadata, DocumentEntry) for d in store.all()]
    items: list[DocumentEntry | SubmissionSet | Association] = [*documents]
    for ins in (INS_VALUE, SAMPLE_INS):
        items += [load_metadata(o.metadata, SubmissionSet) for o in store.submission_sets(ins)]
    links = store.associations(d.entry_uuid for d in documents)
    items += [load_metadata(o.metadata, Association) for o in links]
    return items


def _json_round_trip(item: DocumentEntry | SubmissionSet | Association) -> object:
    if isinstance(item, DocumentEntry):
        return load_metadata(dump_metadata(item), DocumentEntry)
    if isinstance(item, SubmissionSet):
        return load_metadata(dump_metadata(item), SubmissionSet)
    return load_metadata(dump_metadata(item), Association)


# --- same answers as the ebRIM XML -----------------------------------------------------------


def _check_round_trips(store: DmpStore, documents: int) -> None:
    """Every object in ``store`` comes back from its JSON exactly as it came back from its
    ebRIM XML (what the store kept before), so query answers are unchanged."""
    items = _stored_items(store)
    assert {type(item) for item in items} == {DocumentEntry, SubmissionSet, Association}
    assert len([i for i in items if isinstance(i, DocumentEntry)]) == documents
    for item in items:
        assert _xml_round_trip(item) == item
        assert _json_round_trip(item) == item


def test_client_submissions_answer_as_their_ebrim_xml_did(
    core: DmpSandboxCore, org: OrgPki, cdas: CdaFactory
) -> None:
    """A CR-IMG and its signature from our client, one hidden from the patient, a
    replacement (RPLC)."""
    client = _client(core, org)
    first = client.submit(cdas.make()[1])
    client.submit(cdas.make()[1], hide_from_patient=True)
    [registered] = [
        d
        for d in parse_adhoc_query_response(
            parse_envelope(_query(core, org, build_adhoc_query(find_documents(PATIENT)))).body
        ).objects.documents
        if d.unique_id == first.unique_id
    ]
    client.submit(cdas.make()[1], replaces=registered)
    _check_round_trips(core.store, documents=6)
    # the stored form is JSON, not XML, and much smaller than the ebRIM it replaces
    document = core.store.all()[0]
    entry = load_metadata(document.metadata, DocumentEntry)
    assert json.loads(document.metadata)["unique_id"] == document.unique_id
    ebrim = etree.tostring(build_submit_objects(Submission(documents=(entry,))))
    assert len(document.metadata) * 2 < len(ebrim)


def test_official_td21_request_answers_as_its_ebrim_xml_did(ref_dir: Path) -> None:
    raw = ref_file(ref_dir, f"{SAMPLES}/TD2.1_-_Alimentation_requete.xml").read_bytes()
    boundary = raw.split(b"\n", 1)[0].strip()[2:].decode("ascii")
    sample = DmpSandboxCore(
        DmpStore(), known_ins=[SAMPLE_INS], trusted_ca_pem=None, require_valid_signature=False
    )
    content_type = f'multipart/related; boundary="{boundary}"; type="application/xop+xml"'
    answer = sample.handle("repository", raw, content_type, "SAMPLE")
    message = decode_response(answer.body, answer.content_type)
    assert parse_registry_response(parse_envelope(message.root).body).ok
    _check_round_trips(sample.store, documents=2)


def test_every_field_survives(tmp_path: Path) -> None:
    author = Author("DUPONT^Jean", ("CIM^^^^^^^^^1.2.3",), ("Radiologue",), ("SM44",), ("^^^a@b",))
    entry = DocumentEntry(
        entry_uuid="urn:uuid:1",
        unique_id="1.2.3",
        patient_id=PATIENT,
        class_code=Code("10", "1.2.250.1.213.1.1.4.1", "Compte rendu"),
        type_code=Code("18748-4", "2.16.840.1.113883.6.1"),
        format_code=Code("urn:x", "1.2", "é <&> \"'"),
        confidentiality_codes=(Code("N", "2.16.840.1.113883.5.25"), Code("MASQUE_PS", "1.2")),
        healthcare_facility_type_code=Code("SA07", "1.2.250.1.71.4.2.4"),
        practice_setting_code=Code("ETABLISSEMENT", "1.2.250.1.213.1.1.4.9"),
        event_codes=(Code("ZBQK001", "1.2.250.1.213.2.5"),),
        reference_ids=("ACC42^^^&1.2&ISO^urn:ihe:iti:xds:2013:accession",),
        source_patient_id="X^^^&1.2&ISO",
        source_patient_info=("PID-5|NOM^Prénom",),
        language_code="fr-FR",
        creation_time="20261124093000",
        service_start_time="20261124",
        service_stop_time="2026112410",
        hash="da39a3ee5e6b4b0d3255bfef95601890afd80709",
        size=0,
        title="Scanner thoracique\n\u00e9\u4e2d",
        comments="",
        authors=(author, Author()),
        legal_authenticator="L^^^^^^^^^1.2",
        availability_status=STATUS_APPROVED,
        repository_unique_id="1.2.250.1.213.4.1.1.1.2",
        logical_id="urn:uuid:1",
        version="1",
        extra_slots=(Slot("urn:x:slot", ("a", "", "c")), Slot("vide", ())),
    )
    assert load_metadata(dump_metadata(entry), DocumentEntry) == entry
    ss = SubmissionSet(
        "urn:uuid:2", "1.2.4", "1.2.5", PATIENT, "20261124", Code("04", "1.2"), (author,)
    )
    assert load_metadata(dump_metadata(ss), SubmissionSet) == ss
    association = Association("urn:uuid:3", "urn:x", "a", "b", previous_version="2")
    assert load_metadata(dump_metadata(association), Association) == association
    # through SQLite too
    store = DmpStore(tmp_path / "s.sqlite")
    store.add(
        StoredDocument(
            "urn:uuid:1",
            "1.2.3",
            "urn:uuid:1",
            1,
            INS_VALUE,
            STATUS_APPROVED,
            ("N",),
            "text/xml",
            dump_metadata(entry),
            b"cda",
        )
    )
    store.close()
    reopened = DmpStore(tmp_path / "s.sqlite")
    found = reopened.get("urn:uuid:1")
    assert found is not None and load_metadata(found.metadata, DocumentEntry) == entry
    reopened.close()


def test_rows_written_as_ebrim_xml_are_still_read(core: DmpSandboxCore, org: OrgPki) -> None:
    """A database written by an earlier version holds lcm:SubmitObjectsRequest XML."""
    entry = DocumentEntry(
        "urn:uuid:ancien",
        "1.2.250.1.999.42",
        PATIENT,
        class_code=Code("10", "1.2.250.1.213.1.1.4.1", "Compte rendu"),
        title="ancien",
        availability_status=STATUS_APPROVED,
        logical_id="urn:uuid:ancien",
        version="1",
    )
    xml = etree.tostring(build_submit_objects(Submission(documents=(entry,))), encoding="UTF-8")
    core.store.add(
        StoredDocument(
            entry.entry_uuid,
            entry.unique_id,
            entry.logical_id,
            1,
            INS_VALUE,
            STATUS_APPROVED,
            (),
            "text/xml",
            xml,
            b"<ClinicalDocument/>",
        )
    )
    ss = SubmissionSet(
        "urn:uuid:lot",
        "1.2.250.1.999.43",
        "1.2.250.1.999",
        PATIENT,
        "20260101",
        availability_status=STATUS_APPROVED,
    )
    association = Association(
        "urn:uuid:lien",
        "urn:oasis:names:tc:ebxml-regrep:AssociationType:HasMember",
        ss.entry_uuid,
        entry.entry_uuid,
    )
    core.store.add_objects(
        [
            StoredObject(
                ss.entry_uuid,
                KIND_SUBMISSION_SET,
                INS_VALUE,
                "",
                "",
                etree.tostring(build_submit_objects(Submission(submission_sets=(ss,)))),
            ),
            StoredObject(
                association.entry_uuid,
                KIND_ASSOCIATION,
                "",
                ss.entry_uuid,
                entry.entry_uuid,
                etree.tostring(build_submit_objects(Submission(associations=(association,)))),
            ),
        ]
    )
    found = parse_adhoc_query_response(
        parse_envelope(_query(core, org, build_adhoc_query(find_documents(PATIENT)))).body
    )
    assert found.objects.documents == (entry,)
    sets = parse_adhoc_query_response(
        parse_envelope(
            _query(
                core,
                org,
                build_adhoc_query(find_submission_sets(PATIENT, statuses=(STATUS_APPROVED,))),
            )
        ).body
    )
    assert [s.entry_uuid for s in sets.objects.submission_sets] == [ss.entry_uuid]
    links = parse_adhoc_query_response(
        parse_envelope(
            _query(core, org, build_adhoc_query(get_associations([entry.entry_uuid])))
        ).body
    )
    assert [a.entry_uuid for a in links.objects.associations] == [association.entry_uuid]


@pytest.mark.parametrize(
    "data",
    [
        b"{pas du json",
        b"\xff\xfe",
        b"[]",
        b'{"entry_uuid": "u", "unique_id": "1"}',
        b'{"entry_uuid": "u", "unique_id": "1", "patient_id": "p", "inconnu": 1}',
        b'{"entry_uuid": "u", "unique_id": "1", "patient_id": "p", "size": "12"}',
        b'{"entry_uuid": "u", "unique_id": "1", "patient_id": "p", "size": true}',
        b'{"entry_uuid": "u", "unique_id": "1", "patient_id": 3}',
        b'{"entry_uuid": "u", "unique_id": "1", "patient_id": "p", "event_codes": {"a": 1}}',
        b'{"entry_uuid": "u", "unique_id": "1", "patient_id": "p", "class_code": ["10"]}',
        b'{"entry_uuid": "u", "unique_id": "1", "patient_id": "p", "class_code": {"code": "1"}}',
        b"[" * 200_000 + b"]" * 200_000,  # nesting deeper than the interpreter's recursion
    ],
    ids=lambda data: repr(data[:40]),
)
def test_corrupt_rows_are_refused(data: bytes) -> None:
    with pytest.raises(DmpError) as info:
        load_metadata(data, DocumentEntry)
    assert info.value.code == "sandbox_store"


# --- statements per submission, entryUUID uniqueness ------------------------------------------


def _pnr(cdas: CdaFactory, org: OrgPki, ids: Mapping[str, str]) -> tuple[bytes, str]:
    """An ITI-41 (CDA + XAdES, MTOM) whose objects carry ``ids`` (symbolic → entryUUID)."""
    from segur_ris.vihf import build_xades

    unique_id, cda = cdas.make()
    xades = build_xades({unique_id: cda}, org.sign.credential)
    ss = SubmissionSet(
        ids["SubmissionSet01"], unique_id + ".1", "1.2.250.1.999", PATIENT, "20261124"
    )
    document = DocumentEntry(
        ids["Document01"], unique_id, PATIENT, hash=hashlib.sha1(cda).hexdigest()
    )
    signature = DocumentEntry(ids["Signature01"], unique_id + ".9", PATIENT)
    associations = [
        dataclasses.replace(
            a, entry_uuid=ids[a.entry_uuid], source=ids[a.source], target=ids[a.target]
        )
        for a in signed_associations("SubmissionSet01", "Document01")
    ]
    request = ProvideAndRegisterRequest(
        Submission((ss,), (document, signature), associations=tuple(associations)),
        (
            PnrDocument(ids["Document01"], content_id="doc1@segur-ris"),
            PnrDocument(ids["Signature01"], content_id="sig1@segur-ris"),
        ),
    )
    vihf = VihfContext.for_automate(
        load_settings(env="demo", environ={}), secteur_activite=SECTEUR, responsible_id=RESPONSIBLE
    )
    security = sign_vihf(build_vihf(vihf, resource_id=PATIENT), org.sign.credential)
    envelope, _ = build_envelope(
        build_provide_and_register(request), ACTION_ITI41, security=security
    )
    return encode_mtom(
        envelope, {"doc1@segur-ris": cda, "sig1@segur-ris": xades}, action=ACTION_ITI41
    )


def _ids(**fixed: str) -> dict[str, str]:
    ids = {
        name: name for name in ("SubmissionSet01", "Document01", "Signature01", "a1", "a2", "a3")
    }
    ids.update(fixed)
    return ids


def _register(core: DmpSandboxCore, body: bytes, content_type: str) -> list[str]:
    answer = core.handle("repository", body, content_type, "CN")
    message = decode_response(answer.body, answer.content_type)
    response = parse_registry_response(parse_envelope(message.root).body)
    return [e.error_code for e in response.errors]


def test_one_submission_is_four_statements(
    core: DmpSandboxCore, org: OrgPki, cdas: CdaFactory
) -> None:
    body, content_type = _pnr(cdas, org, _ids())
    statements: list[str] = []
    core.store._conn.set_trace_callback(statements.append)
    try:
        assert _register(core, body, content_type) == []
    finally:
        core.store._conn.set_trace_callback(None)
    selects = [s for s in statements if s.lstrip().upper().startswith("SELECT")]
    inserts = [s for s in statements if s.lstrip().upper().startswith("INSERT")]
    assert len(selects) == 2, selects  # the uniqueIds, the entryUUIDs
    assert not any("document" in s.split("FROM")[0] for s in selects)  # no document read
    assert len(inserts) == 6  # executemany: 2 documents, 1 submission set, 3 associations
    assert len(core.store) == 2


def test_entry_uuids_are_unique_in_the_registry(
    core: DmpSandboxCore, org: OrgPki, cdas: CdaFactory
) -> None:
    fixed = "urn:uuid:0b6a6f0e-7c1e-4a8e-9a57-0d8f8f9a1c01"
    assert _register(core, *_pnr(cdas, org, _ids(Document01=fixed))) == []
    # the same entryUUID again (new uniqueIds), as a document or as an association
    for ids in (_ids(Document01=fixed), _ids(a2=fixed)):
        assert _register(core, *_pnr(cdas, org, ids)) == ["XDSRegistryDuplicateUniqueIdInMessage"]
    # twice in one message (a document and the submission set)
    other = "urn:uuid:0b6a6f0e-7c1e-4a8e-9a57-0d8f8f9a1c02"
    codes = _register(core, *_pnr(cdas, org, _ids(Document01=other, SubmissionSet01=other)))
    assert codes == ["XDSRegistryDuplicateUniqueIdInMessage"]
    assert len(core.store) == 2  # the first submission only


def test_batched_inserts_are_atomic() -> None:
    store = DmpStore()
    first = StoredObject("urn:uuid:a", KIND_ASSOCIATION, "", "x", "y", b"{}")
    clash = dataclasses.replace(first, target="z")
    with pytest.raises(sqlite3.IntegrityError):
        store.add_objects([first, clash])
    assert store.existing_entry_uuids(["urn:uuid:a"]) == set()
    store.add_objects([first])
    assert store.existing_entry_uuids(["urn:uuid:a", "urn:uuid:b"]) == {"urn:uuid:a"}
