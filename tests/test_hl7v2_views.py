"""Typed read layer: data types, segment views, message views and the French INS rule, on every
ANS sample and on hand-made messages."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from pathlib import Path

import pytest
from lxml import etree

from segur_ris.errors import Hl7ParseError, InsNotQualifiedError
from segur_ris.hl7v2 import parse_message
from segur_ris.hl7v2._segments import ObxView, PidView
from segur_ris.hl7v2._types import CWE, XTN, IdentifierKind, Timestamp, decode_base64
from segur_ris.hl7v2._views import (
    AckMessage,
    AdtMessage,
    DocumentMessage,
    Hl7View,
    InsDroppedWarning,
    OrderMessage,
    ResultMessage,
    ZamMessage,
    patient_identity,
    read_message,
)
from segur_ris.ins import IdentityAttribute, IdentityStatus, InsKind
from tests.conftest import ref_file

HL7 = "hl7/ansforge_hl7V2-exemples"
CDA = f"{HL7}/Vague 2/Trans_Doc-CDA-HL7V2/TRANSMISSION_DOCS_CDA_EN_HL7V2_V2.1"
CONSENT = f"{HL7}/Vague 2/Consentement_DMP_PAMFR"
TLR = "hl7/ansforge_interop-ig-hl7v2-teleradiologie/input/pagecontent/exemples.md.extracted"
FRAGMENTS = (
    "hl7/ansforge_IG-hl7v2-volet-transmission-document-cda-r2/input/pagecontent/"
    "exemples.md.extracted"
)

#: Every ANS message sample → expected view class.
SAMPLES: dict[str, type[Hl7View]] = {
    f"{HL7}/SGL/admission.er7": AdtMessage,
    f"{CONSENT}/ConsentementConsultation_NonOppositionAlimentation.er7": AdtMessage,
    f"{CONSENT}/NonConsentementConsultation_NonOppositionAlimentation.er7": AdtMessage,
    f"{CDA}/MDM/Transmission initiale MDM/message_MDM_CR_Radio_INIT_N1.er7": DocumentMessage,
    f"{CDA}/MDM/Transmission initiale MDM/message_MDM_CR_Radio_INIT_N1_Base64.er7": (
        DocumentMessage
    ),
    f"{CDA}/MDM/Remplacement MDM/message_MDM_CR_Radio_RPLC_N1.er7": DocumentMessage,
    f"{CDA}/MDM/Remplacement MDM/ack.er7": AckMessage,
    f"{CDA}/MDM/Suppression MDM/message_MDM_CR_Radio_DEL_N1.er7": DocumentMessage,
    f"{CDA}/MDM/Suppression MDM/ack.er7": AckMessage,
    f"{CDA}/ORU/Transmission initiale ORU/message_ORU_CR_Bio_INIT_N3_SEGUR.hl7": ResultMessage,
    f"{CDA}/ORU/Remplacement ORU/message_ORU_CR_Bio_RPLC_N3_SEGUR.hl7": ResultMessage,
    f"{CDA}/ORU/Suppression ORU/message_ORU_CR_Bio_DEL_N3_SEGUR.hl7": ResultMessage,
    f"{TLR}/Flux1_ORM_O01.hl7": OrderMessage,
    f"{TLR}/Flux2_ORM_O01.hl7": OrderMessage,
    f"{TLR}/Flux3_ORU_R01.hl7": ResultMessage,
    f"{TLR}/Flux4_OMI_O23.hl7": OrderMessage,
}


def read(ref_dir: Path, relative: str) -> Hl7View:
    return read_message(parse_message(ref_file(ref_dir, relative).read_bytes()))


def er7(*segments: str) -> bytes:
    return "\r".join(segments).encode()


# --- every sample ----------------------------------------------------------------------------


def test_every_ans_sample_is_listed(ref_dir: Path) -> None:
    found = {
        str(p.relative_to(ref_dir))
        for p in (ref_dir / "hl7").rglob("*")
        if p.suffix in (".er7", ".hl7")
    }
    assert found == set(SAMPLES)


@pytest.mark.parametrize("relative", sorted(SAMPLES))
def test_every_sample_reads_with_its_view_and_qualified_patient(
    ref_dir: Path, relative: str
) -> None:
    view = read(ref_dir, relative)
    assert type(view) is SAMPLES[relative]
    assert view.message.to_bytes() == ref_file(ref_dir, relative).read_bytes()  # nothing lost
    assert [s.segment for s in view.typed_segments] == list(view.message.segments)
    if isinstance(view, AckMessage):
        assert view.patient is None
        return
    patient = view.patient
    assert patient is not None
    assert patient.status is IdentityStatus.QUALIFIEE and patient.is_qualified
    assert patient.ins is not None and patient.qualified_ins() is patient.ins
    assert (patient.ins.value, patient.ins.oid) == ("279035121518989", "1.2.250.1.213.1.4.10")
    assert patient.ins.kind is InsKind.NIR
    assert patient.pid32 == ("VALI",) and patient.ins_dropped_reason is None
    traits = patient.traits
    assert traits is not None
    assert (traits.nom_naissance, traits.prenoms, traits.sexe.value) == (
        "PAT-TROIS",
        ("DOMINIQUE",),
        "F",
    )
    assert traits.date_naissance.to_date() == dt.date(1979, 3, 28)
    assert traits.lieu_naissance == "63220"
    # the receiver's own facts: INS verified by the INSi at the sender, no document seen here
    assert patient.identity is not None and patient.identity.ins == patient.ins
    assert patient.identity.status is IdentityStatus.RECUPEREE


def test_markdown_fragments_are_not_messages(ref_dir: Path) -> None:
    fragments = sorted(ref_file(ref_dir, f"{FRAGMENTS}/fragment_00.txt").parent.glob("*.txt"))
    assert len(fragments) == 10
    for path in fragments:
        with pytest.raises(Hl7ParseError) as info:
            read_message(path.read_bytes())
        assert info.value.code == "100"


# --- ADT ---------------------------------------------------------------------------------------


def test_adt_admission_header_pid_pv1_zbe_zfa(ref_dir: Path) -> None:
    view = read(ref_dir, f"{HL7}/SGL/admission.er7")
    assert isinstance(view, AdtMessage)
    msh = view.msh
    assert (msh.sending_application.namespace_id, msh.sending_facility.namespace_id) == (
        "GAM",
        "CHU-X",
    )
    assert msh.receiving_application.namespace_id == "DPI"
    assert msh.datetime is not None
    assert msh.datetime.value == dt.datetime(2024, 3, 6, 11, 11, 54)
    assert msh.datetime.precision == "second" and not msh.datetime.has_timezone
    assert (msh.message_type, msh.structure, msh.control_id) == ("ADT^A01", "ADT_A01", "3975")
    assert (msh.processing_id, msh.version_id, msh.version_country) == ("D", "2.5^FRA^2.11", "FRA")
    assert msh.charsets == ["UNICODE UTF-8"]
    assert [(p.entity_id, p.namespace_id) for p in msh.profiles] == [
        ("2.11", "IHE_FRANCE-2.11-PAM")
    ]
    assert view.known_trigger and view.cancels == ()
    assert view.evn is not None and view.evn.occurred_datetime is not None

    pid = view.pid
    assert pid is not None
    assert [cx.kind for cx in pid.identifiers] == [IdentifierKind.IPP, IdentifierKind.INS_NIR_TEST]
    ipp = pid.ipp
    assert ipp is not None
    assert (ipp.id, ipp.authority_name, ipp.authority_oid, ipp.authority.universal_id_type) == (
        "000003",
        "CHU-X",
        "000897406",
        "N",
    )
    ins_cx = pid.ins_identifiers[0]
    assert (ins_cx.authority_name, ins_cx.id_type, ins_cx.effective_date) == (
        "ASIP-SANTE-INS-NIR",
        "INS",
        "20101207",
    )
    assert pid.nda is not None and pid.nda.id == "24000006" and pid.nda.kind is IdentifierKind.NDA
    name = pid.birth_name
    assert name is not None
    assert (name.family, name.given, name.birth_first_names) == (
        "PAT-TROIS",
        "DOMINIQUE",
        ("DOMINIQUE",),
    )
    assert pid.used_name is None
    assert pid.birth_date is not None and pid.birth_date.precision == "day"
    assert pid.birth_date.date == dt.date(1979, 3, 28)
    assert pid.sex == "F" and pid.birth_place_cog == "63220"
    assert pid.addresses[0].city == "PARIS" and pid.addresses[0].zip == "75007"
    assert pid.identity_reliability == ["VALI"]

    pv1 = view.pv1
    assert pv1 is not None and pv1.patient_class == "I"
    assert pv1.location is not None and pv1.location.facility.namespace_id == "CHU-X"
    assert pv1.visit_number is not None
    assert (pv1.visit_number.id, pv1.visit_number.id_type) == ("000897406", "VN")

    zbe = view.zbe
    assert zbe is not None
    assert zbe.movement_id is not None
    assert (zbe.movement_id.entity_id, zbe.movement_id.namespace_id) == ("001", "CHU-X")
    assert zbe.start is not None and zbe.start.value == dt.datetime(2024, 3, 6, 11, 0)
    assert (zbe.action, zbe.historic, zbe.original_trigger, zbe.nature) == (
        "INSERT",
        False,
        "",
        "HMS",
    )
    for uf in (zbe.uf_medicale, zbe.uf_soins):
        assert uf is not None
        assert (uf.name, uf.type_code, uf.id_type, uf.identifier) == ("Chir V", "", "UF", "6268")
        assert uf.authority.oid == "000897406"
    zfa = view.zfa
    assert zfa is not None
    assert (zfa.statut_dmp, zfa.alimentation, zfa.consultation) == ("ACTIF", "INO", "IC")
    assert view.zfd is None


@pytest.mark.parametrize(
    ("name", "consultation", "nda", "day"),
    [
        ("ConsentementConsultation_NonOppositionAlimentation.er7", "IC", "24000006", 6),
        ("NonConsentementConsultation_NonOppositionAlimentation.er7", "INC", "24000007", 7),
    ],
)
def test_dmp_consent_samples_zfa_zfd_pv1(
    ref_dir: Path, name: str, consultation: str, nda: str, day: int
) -> None:
    view = read(ref_dir, f"{CONSENT}/{name}")
    assert isinstance(view, AdtMessage)
    zfa = view.zfa
    assert zfa is not None
    assert (zfa.statut_dmp, zfa.alimentation, zfa.consultation) == ("ACTIF", "INO", consultation)
    for date in (zfa.date_statut_dmp, zfa.date_alimentation, zfa.date_consultation):
        assert date is not None and date.value == dt.datetime(2024, 3, day, 11, 11, 54)
    assert zfa.date_fermeture_dmp is None
    zfd = view.zfd
    assert zfd is not None
    assert zfd.date_lunaire == ()
    assert (zfd.consentement_sms, zfd.date_naissance_corrigee) == (True, False)
    assert zfd.mode_obtention_identite == "INSI"
    assert zfd.date_interrogation_insi is not None
    assert zfd.date_interrogation_insi.precision == "day"
    assert zfd.date_interrogation_insi.date == dt.date(2021, 12, 1)
    assert zfd.justificatif_identite == "" and zfd.date_fin_validite_document is None
    assert view.patient is not None and view.patient.mode_obtention_identite == "INSI"
    assert view.patient.nda is not None and view.patient.nda.id == nda
    pv1 = view.pv1
    assert pv1 is not None
    doctor = pv1.attending_doctor
    assert doctor is not None
    assert (doctor.id, doctor.family, doctor.given, doctor.id_type) == (
        "801234567897",
        "Réault",
        "Pierre",
        "IDNPS",
    )
    assert doctor.rpps == "01234567897" and doctor.adeli is None
    assert doctor.authority_oid == "1.2.250.1.71.4.2.1"
    assert pv1.admit_datetime is not None and pv1.admit_datetime.date == dt.date(2024, 3, day)


# --- orders (teleradiology) ----------------------------------------------------------------------


def test_tlr_flux1_new_order(ref_dir: Path) -> None:
    view = read(ref_dir, f"{TLR}/Flux1_ORM_O01.hl7")
    assert isinstance(view, OrderMessage)
    assert view.msh.profile("CISIS_TLR_HL7_V2") is not None
    [order] = view.orders
    assert order.order_control == "NW"
    assert order.orc is not None and order.obr is not None
    placer = order.orc.placer_order_number
    assert placer is not None
    assert (placer.entity_id, placer.universal_id, placer.universal_id_type) == (
        "OPN101",
        "1.2.250.1.748.12345678.12",
        "ISO",
    )
    assert order.placer_order_number == "OPN101"
    assert order.modality == CWE("MR", "IRM", "DCM")
    universal = order.obr.universal_service_id
    assert universal is not None and universal.identifier == "TRANSMISSION_DEMANDE"
    assert order.obr.relevant_clinical_info == "JustificationDemande"
    requester = order.obr.ordering_provider
    assert requester is not None and (requester.family, requester.prefix) == ("Hoda", "DR")
    assert order.requester == "DR Hoda Adam (801234567897)"
    assert order.orc.ordering_provider == requester
    facility = order.orc.ordering_facility
    assert facility is not None and facility.finess == "300017985"
    assert order.orc.callback_phones == [XTN("PRN", "CP", unformatted="+3360708091")]
    assert order.orc.transaction_datetime is not None
    regions = [o for o in order.observations if o.code == "REGION_ANATOMIQUE"]
    assert [(o.sub_id, o.value) for o in regions] == [
        ("1.1", CWE("774007", "tête et/ou cou", "SCT")),
        ("1.2", CWE("24028007", "côté droit", "SCT")),
    ]
    height = order.observation("8302-2")
    assert height is not None and height.value == Decimal("170")
    assert height.units is not None and height.units.identifier == "cm"
    history = order.observation("11322-5")
    assert history is not None and history.value == "Antécédents majeur du patient"
    assert [n.comment_type for n in order.notes] == ["FINALITE_EXAMEN", "MODALITE_IMAGERIE"]
    assert all(o.observation_status == "O" for o in order.observations)


def test_tlr_flux2_cancel_with_reason(ref_dir: Path) -> None:
    view = read(ref_dir, f"{TLR}/Flux2_ORM_O01.hl7")
    assert isinstance(view, OrderMessage)
    [order] = view.orders
    assert order.order_control == "CA"
    assert order.orc is not None
    reason = order.orc.order_control_reason
    assert reason is not None and reason.text == "Motif d'annulation de la demande"
    assert order.modality is None and order.observations == ()


def test_tlr_flux3_answer_and_dummy_protocol(ref_dir: Path) -> None:
    view = read(ref_dir, f"{TLR}/Flux3_ORU_R01.hl7")
    assert isinstance(view, ResultMessage)
    assert [o.order_control for o in view.orders] == ["OK"]
    assert view.meta is None
    # sample defect: the protocol "base64" is placeholder text (21 characters)
    with pytest.raises(Hl7ParseError) as info:
        _ = view.document_bytes
    assert (info.value.code, info.value.segment, info.value.field) == ("102", "OBX", 5)


def test_tlr_flux4_post_exam_ipc(ref_dir: Path) -> None:
    view = read(ref_dir, f"{TLR}/Flux4_OMI_O23.hl7")
    assert isinstance(view, OrderMessage)
    [order] = view.orders
    assert order.order_control == "SR"
    assert order.accession_number == "ACN101"
    [ipc] = order.imaging
    accession = ipc.accession_number
    assert accession is not None
    assert (accession.universal_id, accession.universal_id_type) == (
        "1.2.250.1.925.994044.27",
        "ISO",
    )
    assert order.study_instance_uid == "1.2.250.1.213.4.5.2.1.101"
    assert ipc.requested_procedure_id is not None
    assert ipc.requested_procedure_id.entity_id == "24590-2"
    assert ipc.scheduled_procedure_step_id is not None
    assert order.modality == CWE("MR", "IRM", "DCM")
    assert order.procedure_code == CWE("24590-2", "résonance magnétique cerveau", "LN")
    assert [s.segment.name for s in order.timing] == ["TQ1"]
    viewer = order.observation("URL_PARTIELLE_VIEWER")
    assert viewer is not None and isinstance(viewer.value, bytes)  # placeholder in the sample
    product = [o for o in order.observations if o.code == "PRODUIT_ADMINISTRE"]
    assert [o.sub_id for o in product] == ["1.1", "1.2", "1.3"]
    assert product[2].value == Decimal("1") and product[2].units == CWE("ml")
    assert view.pv1 is not None and view.pv1.discharge_datetime is not None


# --- documents (CDA in ORU / MDM) ----------------------------------------------------------------


def _cda_root(content: bytes) -> etree._Element:
    parser = etree.XMLParser(resolve_entities=False, no_network=True, huge_tree=True)
    return etree.fromstring(content.removeprefix(b"\xef\xbb\xbf"), parser)


ORU_FLAGS = {
    "INIT": ("Transmission initiale ORU", "NW", "F", (True, True)),
    "RPLC": ("Remplacement ORU", "RO", "C", (False, False)),
    "DEL": ("Suppression ORU", "CA", "D", (False, False)),
}


@pytest.mark.parametrize("kind", sorted(ORU_FLAGS))
def test_oru_cda_document_meta_and_participants(ref_dir: Path, kind: str) -> None:
    folder, control, status, acks = ORU_FLAGS[kind]
    view = read(ref_dir, f"{CDA}/ORU/{folder}/message_ORU_CR_Bio_{kind}_N3_SEGUR.hl7")
    assert isinstance(view, ResultMessage)
    assert view.msh.profile("CISIS_CDA_HL7_V2") is not None and view.msh.version == "2.5"
    [order] = view.orders
    assert order.order_control == control
    assert order.placer_order_number == "98765431" and order.filler_order_number == "1001-E1"
    assert order.obr is not None and order.obr.result_status == "F"
    assert order.requester == "DR BLUE Eva"
    obx = view.document_observation
    assert obx is not None and obx.observation_status == status
    assert obx._values is None  # not decoded by reading the message
    ed = view.document
    assert ed is not None
    assert (ed.type_of_data, ed.data_subtype, ed.encoding, ed.media_type) == (
        "TEXT",
        "XML",
        "Base64",
        "text/xml",
    )
    assert view.document_type == CWE("11502-2", "CR d'examens biologiques", "LN")
    content = view.document_bytes
    assert content is not None and content.startswith(b"<?xml")
    assert view.document_bytes is content  # decoded once, cached
    assert _cda_root(content).tag == "{urn:hl7-org:v3}ClinicalDocument"

    meta = view.meta
    assert meta is not None
    assert (meta.masque_ps, meta.invisible_patient, meta.invisible_rep_legaux) == (
        False,
        False,
        False,
    )
    assert (meta.connexion_secrete, meta.modif_conf_code) == (False, False)
    assert (meta.dest_dmp, meta.dest_mssante_ps, meta.dest_mssante_pat) == (True, True, True)
    assert (meta.ack_reception, meta.ack_lecture_mss) == acks
    assert meta.fin is False and meta.corps_mail_patient is None
    # sample defect: CORPSMAIL_PS base64 truncated (93 characters): kept raw, not decoded
    assert meta.corps_mail_ps is None and meta.raw["CORPSMAIL_PS"].startswith("Q2hlciBjb25m")
    assert len(meta.raw) == 11

    sender = view.sender
    assert sender is not None and sender.role == CWE("SB", "", "participation")
    person = sender.person
    assert person is not None
    assert (person.id, person.family, person.rpps, person.authority_oid) == (
        "801234567866",
        "DIAZ",
        "01234567866",
        "1.2.250.1.71.4.2.1",
    )
    assert person.authority.namespace_id == "ASIP-SANTE- PS"  # sample typo kept as sent
    assert sender.organization is not None and sender.organization.finess == "1120459876"
    assert [r.address for r in view.recipients] == [
        "adam.hoda@test-ci-sis.mssante.fr",
        ("27707279035121518989" if kind == "INIT" else "279035121518989") + "@patient.mssante.fr",
    ]
    patient_prt = view.recipients[1]
    assert patient_prt.is_patient
    if kind != "INIT":  # INIT: sample defect, 20-character "INS" in PRT-5
        ins = patient_prt.patient_ins
        assert ins is not None and (ins.value, ins.oid) == (
            "279035121518989",
            "1.2.250.1.213.1.4.10",
        )
    [reply] = view.participants_with_role("REPLY")
    assert reply.person is None and reply.address == "adam.hoda@test-ci-sis.mssante.fr"


MDM_SAMPLES = {
    "INIT": ("Transmission initiale MDM/message_MDM_CR_Radio_INIT_N1_Base64.er7", "T02", "NW", "F"),
    "RPLC": ("Remplacement MDM/message_MDM_CR_Radio_RPLC_N1.er7", "T10", "RO", "C"),
    "DEL": ("Suppression MDM/message_MDM_CR_Radio_DEL_N1.er7", "T04", "CA", "D"),
}


@pytest.mark.parametrize("kind", sorted(MDM_SAMPLES))
def test_mdm_txa_document_and_meta(ref_dir: Path, kind: str) -> None:
    path, trigger, control, status = MDM_SAMPLES[kind]
    view = read(ref_dir, f"{CDA}/MDM/{path}")
    assert isinstance(view, DocumentMessage)
    assert (view.trigger, view.msh.structure, view.msh.version) == (trigger, "MDM_T02", "2.6")
    assert view.orc is not None and view.orc.order_control == control
    txa = view.txa
    assert txa is not None
    assert txa.document_type.identifier == "18748-4"
    assert (txa.presentation, txa.completion_status) == ("TEXT", "AU")
    unique = txa.unique_document_number
    assert unique is not None
    assert unique.entity_id.startswith("1.2.250.1.71.4.2.2.120456789.7102400008")
    parent = txa.parent_document_number
    if kind == "INIT":
        assert parent is None
    else:
        assert parent is not None
        assert parent.entity_id == "1.2.250.1.71.4.2.2.120456789.71024000081"
    obx = view.document_observation
    assert obx is not None and obx.observation_status == status
    ed = view.document
    assert ed is not None and (ed.type_of_data, ed.data_subtype) == ("text", "XML")
    content = view.document_bytes
    assert content is not None and content.startswith(b"<ClinicalDocument")
    assert _cda_root(content).tag == "{urn:hl7-org:v3}ClinicalDocument"
    meta = view.meta
    assert meta is not None
    invisible = kind == "INIT"
    assert (meta.invisible_patient, meta.invisible_rep_legaux) == (invisible, invisible)
    assert (meta.masque_ps, meta.connexion_secrete, meta.modif_conf_code) == (
        False,
        True,
        kind == "RPLC",
    )
    assert (meta.dest_dmp, meta.dest_mssante_ps, meta.dest_mssante_pat) == (True, True, False)
    assert (
        meta.corps_mail_ps == "Cher confrère, vous trouverez ci-joint le CR d’imagerie de M.Dupont"
    )
    sender = view.sender
    assert sender is not None and sender.organization is not None
    assert sender.organization.finess == "300017985"  # non-breaking spaces stripped
    [rct] = view.recipients
    assert rct.address == "adam.hoda@test-ci-sis.mssante.fr"
    assert rct.telecoms[0].use_code == "NET" and rct.telecoms[0].equipment_type == "X.400"


def test_mdm_init_dummy_document_sample(ref_dir: Path) -> None:
    view = read(ref_dir, f"{CDA}/MDM/Transmission initiale MDM/message_MDM_CR_Radio_INIT_N1.er7")
    assert isinstance(view, DocumentMessage)
    # sample defect: the "CDA" is a placeholder sentence, not XML
    assert view.document_bytes == b"Document medcial au format CDA niveau 1"


@pytest.mark.parametrize("folder", ["Remplacement MDM", "Suppression MDM"])
def test_ack_samples(ref_dir: Path, folder: str) -> None:
    view = read(ref_dir, f"{CDA}/MDM/{folder}/ack.er7")
    assert isinstance(view, AckMessage)
    assert (view.ack_code, view.acknowledged_control_id, view.accepted) == ("AA", "015", True)
    assert view.errors == [] and view.message_type.startswith("ACK^T")


# --- hand-made messages --------------------------------------------------------------------------

MSH_ADT = "MSH|^~\\&|GAM|CHU|RIS|CHU|20240306111154+0100||ADT^{trigger}^ADT_A01|1|P|2.5^FRA^2.11"
NIR = "279035121518989^^^ASIP-SANTE-INS-NIR&1.2.250.1.213.1.4.10&ISO^INS"
NIA = "109076322088835^^^ASIP-SANTE-INS-NIA&1.2.250.1.213.1.4.9&ISO^INS"
NAME = "PAT-TROIS^DOMINIQUE^DOMINIQUE JEANNE^^^^L"


def adt(pid3: str, pid32: str, *, name: str = NAME, sex: str = "F", trigger: str = "A01") -> bytes:
    pid = ["PID", "1", "", pid3, "", name, "", "19790328", sex, "", "", "^^^^^^BDL^^63220"]
    pid += [""] * (31 - len(pid) + 1) + [pid32]
    return er7(MSH_ADT.format(trigger=trigger), "EVN||20240306", "|".join(pid))


def test_ins_rule_vali_keeps_the_ins_qualifiee() -> None:
    view = read_message(adt(f"123^^^CHU&1.2.3&ISO^PI~{NIR}", "VALI"))
    patient = view.patient
    assert patient is not None
    assert patient.status is IdentityStatus.QUALIFIEE
    assert patient.ins is not None and patient.ins.value == "279035121518989"
    assert patient.traits is not None and patient.traits.prenoms == ("DOMINIQUE", "JEANNE")
    assert patient.identity is not None and patient.identity.ipp == "123"
    assert patient.identity.insi_verified and patient.identity.proof is None


def test_ins_rule_prov_drops_the_ins_with_a_warning() -> None:
    view = read_message(adt(NIR, "PROV"))
    with pytest.warns(InsDroppedWarning, match="PID-32 PROV"):
        patient = view.patient
    assert patient is not None
    assert patient.ins is None and patient.status is IdentityStatus.PROVISOIRE
    reason = patient.ins_dropped_reason
    assert reason is not None and "279035*********" in reason
    assert "279035121518989" not in reason  # masked: reasons end up in logs
    assert patient.identity is not None and patient.identity.ins is None
    with pytest.raises(InsNotQualifiedError):
        patient.qualified_ins()
    assert view.pid is not None and view.pid.ins is not None  # still readable as sent


def test_ins_rule_missing_pid32_and_doubtful_identity() -> None:
    with pytest.warns(InsDroppedWarning, match="PID-32 absent"):
        patient = patient_identity(parse_message(adt(NIR, "")))
    assert patient is not None and patient.ins is None
    with pytest.warns(InsDroppedWarning, match="douteuse"):
        doubtful = patient_identity(parse_message(adt(NIR, "VALI~DOUT")))
    assert doubtful is not None and doubtful.ins is None
    assert doubtful.status is IdentityStatus.PROVISOIRE
    assert doubtful.attributes == frozenset({IdentityAttribute.DOUTEUSE})


def test_ins_rule_prefers_nir_over_nia() -> None:
    patient = read_message(adt(f"{NIA}~{NIR}", "VALI")).patient
    assert patient is not None and patient.ins is not None
    assert patient.ins.kind is InsKind.NIR


def test_ins_rule_invalid_ins_is_dropped() -> None:
    bad = NIR.replace("279035121518989", "279035121518912")
    with pytest.warns(InsDroppedWarning, match="INS invalide"):
        patient = patient_identity(parse_message(adt(bad, "VALI")))
    assert patient is not None and patient.ins is None
    assert patient.status is IdentityStatus.VALIDEE


def test_deleted_ins_null_value_is_not_an_ins() -> None:
    null_ins = NIR.replace("279035121518989", '""')
    patient = read_message(adt(null_ins, "PROV", trigger="A47")).patient  # no warning
    assert patient is not None and patient.ins is None and patient.ins_dropped_reason is None
    pid = read_message(adt(null_ins, "PROV")).pid
    assert pid is not None and pid.identifiers[0].is_null


def test_traits_not_normalisable_give_no_traits_but_keep_reading() -> None:
    patient = read_message(adt(NIR, "VALI", sex="U")).patient
    assert patient is not None
    assert patient.traits is None and patient.identity is None
    assert patient.traits_error is not None and patient.traits_error.startswith("sexe")
    assert patient.ins is not None  # the INS rule does not depend on the traits
    no_l = read_message(adt(NIR, "VALI", name="DUPONT^JEAN^^^^^D")).patient
    assert no_l is not None and no_l.traits_error is not None
    assert "nom_naissance" in no_l.traits_error


def test_unknown_adt_trigger_and_other_types_still_readable() -> None:
    view = read_message(adt(NIR, "VALI", trigger="A99"))
    assert isinstance(view, AdtMessage) and not view.known_trigger
    assert view.patient is not None and view.patient.is_qualified
    cancel = read_message(adt(NIR, "VALI", trigger="A11"))
    assert isinstance(cancel, AdtMessage) and cancel.cancels == ("A01", "A04")
    other = read_message(er7("MSH|^~\\&|A|B|C|D|20240101||SIU^S12^SIU_S12|9|P|2.5", f"PID|||{NIR}"))
    assert type(other) is Hl7View and other.message_type == "SIU^S12"
    assert other.segment_names == ["MSH", "PID"]
    with pytest.warns(InsDroppedWarning):
        assert other.patient is not None and other.patient.ins is None


def test_mrg_prior_ins() -> None:
    message = adt(NIR, "VALI", trigger="A47") + b"\rMRG|" + NIA.encode()
    view = read_message(message)
    assert isinstance(view, AdtMessage) and view.mrg is not None
    prior = view.mrg.prior_ins
    assert prior is not None and prior.kind is InsKind.NIA


def test_zam_business_ack() -> None:
    message = er7(
        "MSH|^~\\&|PFI|ORG|RIS|ORG|20240101||ZAM^Z02^ZAM_Z01|77|P|2.5",
        "OBX|1|XTN|DESTINATAIRE_MSS^Destinataire MSS^AckMetierZAM|015|"
        "^NET^X.400^a.b@test.mssante.fr||||||F",
        "ERR|||207^Application internal error^HL70357|E|554^Transaction failed^SMTPERRORCODE",
    )
    view = read_message(message)
    assert isinstance(view, ZamMessage)
    assert view.kind == "reception MSSante" and view.acknowledged_control_id == "015"
    assert view.mss_recipients == ["a.b@test.mssante.fr"]
    assert view.application_errors == [CWE("554", "Transaction failed", "SMTPERRORCODE")]
    assert not view.accepted


def test_ack_with_err() -> None:
    view = read_message(
        er7(
            "MSH|^~\\&|A|B|C|D|20240101||ACK^A01^ACK|2|P|2.5",
            "MSA|AE|1",
            "ERR||PID^1^3|102^Data type error^HL70357|E||||INS invalide",
        )
    )
    assert isinstance(view, AckMessage) and not view.accepted
    [err] = view.errors
    assert err.location == ("PID", "1", "3") and err.severity == "E"
    assert err.error_code is not None and err.error_code.identifier == "102"
    assert err.user_message == "INS invalide"


# --- data types ----------------------------------------------------------------------------------


def test_timestamps_precision_timezone_and_errors() -> None:
    year = Timestamp.parse_text("1979")
    assert year is not None and year.precision == "year" and year.value == dt.datetime(1979, 1, 1)
    aware = Timestamp.parse_text("20240306111154.123+0100")
    assert aware is not None and aware.precision == "fraction" and aware.has_timezone
    assert aware.value.utcoffset() == dt.timedelta(hours=1)
    assert aware.value.microsecond == 123000
    assert Timestamp.parse_text("") is None and Timestamp.parse_text('""') is None
    for bad in ("2024-03-06", "20241306", "2024030", "20240306+01"):
        with pytest.raises(Hl7ParseError) as info:
            Timestamp.parse_text(bad)
        assert info.value.code == "102"
    view = read_message(er7("MSH|^~\\&|A|B|C|D|2024XX||ADT^A01|1|P|2.5"))
    with pytest.raises(Hl7ParseError) as located:
        _ = view.msh.datetime
    assert (located.value.segment, located.value.field) == ("MSH", 7)


def obx_message(*obx: str) -> Hl7View:
    return read_message(er7("MSH|^~\\&|A|B|C|D|20240101||ORU^R01^ORU_R01|1|P|2.5", *obx))


def test_obx_ed_pdf_base64_with_line_breaks_and_any_case() -> None:
    pdf = b"%PDF-1.7 test"
    import base64

    encoded = base64.b64encode(pdf).decode()
    wrapped = encoded[:8] + "\\X0D\\\\X0A\\" + encoded[8:].rstrip("=")
    view = obx_message(f"OBX|1|ED|PDF^Rapport^L||^AP^PDF^base64^{wrapped}||||||F")
    obx = view.all(ObxView)[0]
    assert obx.encapsulated is not None and obx.encapsulated.media_type == "application/pdf"
    assert obx.value == pdf
    assert decode_base64(" QUJD\r\nRA== ") == b"ABCD"
    bad = obx_message("OBX|1|ED|PDF^Rapport^L||^AP^PDF^Base64^QUJD*A==||||||F").all(ObxView)[0]
    with pytest.raises(Hl7ParseError) as info:
        _ = bad.values
    assert (info.value.code, info.value.segment, info.value.field) == ("102", "OBX", 5)


def test_obx_value_types() -> None:
    view = obx_message(
        "OBX|1|ST|A||texte \\F\\ échappé",
        "OBX|2|NM|B||12.5~3",
        "OBX|3|DT|C||197903",
        "OBX|4|XTN|D||^NET^Internet^x@y.fr",
        "OBX|5|RP|E||https://viewer/1^PACS&1.2.3&ISO^IM^DICOM",
        "OBX|6|ZZ|F||brut^x",
        "OBX|7|NM|G||douze",
    )
    values = [o.values for o in view.all(ObxView)[:6]]
    assert values[0] == ["texte | échappé"]
    assert values[1] == [Decimal("12.5"), Decimal("3")]
    date = values[2][0]
    assert isinstance(date, Timestamp) and date.precision == "month"
    assert values[3] == [XTN("NET", "Internet", "x@y.fr")]
    assert getattr(values[4][0], "pointer", None) == "https://viewer/1"
    assert values[5] == ["brut^x"]
    with pytest.raises(Hl7ParseError):
        _ = view.all(ObxView)[6].value


def test_pid_view_rejects_other_segment() -> None:
    message = parse_message(er7("MSH|^~\\&|A|B|C|D|20240101||ADT^A01|1|P|2.5", "PV1|1|I"))
    with pytest.raises(Hl7ParseError):
        PidView(message.segments[1])


def test_reading_a_large_document_is_lazy(ref_dir: Path) -> None:
    path = f"{CDA}/ORU/Suppression ORU/message_ORU_CR_Bio_DEL_N3_SEGUR.hl7"
    view = read(ref_dir, path)
    assert isinstance(view, ResultMessage)
    assert view.patient is not None and view.meta is not None and view.orders
    document = view.document_observation
    assert document is not None and document._values is None
    assert view.document_bytes is not None and document._values is not None


def test_ins_with_an_unknown_oid_is_dropped_with_a_warning() -> None:
    """An INS (CX-5 INS) under an OID that is no INS authority is reported, not ignored."""
    data = adt(NIR, "VALI").replace(b"1.2.250.1.213.1.4.10", b"1.2.9.9")
    view = read_message(parse_message(data))
    with pytest.warns(InsDroppedWarning):
        patient = view.patient
    assert patient is not None and patient.ins is None
    assert patient.ins_dropped_reason is not None and "oid" in patient.ins_dropped_reason
