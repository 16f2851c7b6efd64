"""Conformance checks for the French HL7 v2 profiles, written as data.

Rules live in tables (:data:`FIELD_RULES`, :data:`EVENT_STRUCTURES`, :data:`ORDER_CONSISTENCY`,
:data:`TLR_ORDER_CONTROL`, :data:`ED_ENCODING`, the ``METADMPMSS_*`` tables,
:data:`DATE_FIELDS`); a few small interpreters apply them. :func:`check_message` returns
:class:`Finding` objects whose :meth:`Finding.err_fields` give the ERR segment of an ACK.

Profiles (chosen per message by :func:`profiles_of`):

* ``HL7``: every message (event/structure match, decodable values, MSA-1);
* ``FR_PID``: any message with a PID (PID follows PAM FR 2.11 in every ANS volet);
* ``PAM_FR``: ADT messages (IHE PAM France 2.11);
* ``CDA_V2``: volet ANS *Transmission de documents CDA en HL7v2* 2.1 (MSH-21
  ``CISIS_CDA_HL7_V2``, or ORU/MDM carrying MetaDMPMSS);
* ``TLR``: volet ANS *Téléradiologie* (MSH-21 ``CISIS_TLR_HL7_V2``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, NamedTuple

from segur_ris.codes import HL7_TABLE_0357
from segur_ris.errors import Hl7ParseError, InvalidMatriculeError
from segur_ris.hl7v2._er7 import Message, Segment
from segur_ris.hl7v2._segments import ObxView, OrcView, PrtView, ins_of_cx
from segur_ris.hl7v2._types import Timestamp
from segur_ris.hl7v2._views import (
    METADMPMSS_FLAGS,
    DocumentMessage,
    Hl7View,
    ResultMessage,
    patient_identity,
    read_message,
)
from segur_ris.hl7v2._volet import METADMPMSS_CODES
from segur_ris.ins import mask_matricule

__all__ = [
    "DATE_FIELDS",
    "ED_ENCODING",
    "EVENT_STRUCTURES",
    "FIELD_RULES",
    "METADMPMSS_FORBIDDEN",
    "METADMPMSS_ORDER",
    "METADMPMSS_REQUIRED",
    "METADMPMSS_REQUIRES_PARTICIPANT",
    "ORDER_CONSISTENCY",
    "TLR_ORDER_CONTROL",
    "Finding",
    "Rule",
    "Severity",
    "check_message",
    "profiles_of",
]

Severity = Literal["error", "warning"]


@dataclass(frozen=True, slots=True)
class Finding:
    """One conformance problem. ``field`` is ``None`` for a segment- or message-level finding;
    ``sequence`` is the occurrence of ``segment`` in the message (1-based); ``code`` is the
    HL7 table 0357 code for ERR-3; ``message`` is French."""

    severity: Severity
    segment: str | None
    field: int | None
    code: str
    message: str
    sequence: int = 1
    profile: str = ""

    def err_fields(self) -> dict[int, tuple[str, ...]]:
        """The ERR segment values, by field number, as unescaped components:
        ERR-2 location ``(SEG, sequence, field)``, ERR-3 ``(code, text, "HL70357")``, ERR-4
        severity ``E``/``W``, ERR-8 the French message. The builder escapes and joins them."""
        fields: dict[int, tuple[str, ...]] = {}
        if self.segment:
            location = [self.segment, str(self.sequence)]
            if self.field is not None:
                location.append(str(self.field))
            fields[2] = tuple(location)
        fields[3] = (self.code, HL7_TABLE_0357.get(self.code, ""), "HL70357")
        fields[4] = ("E" if self.severity == "error" else "W",)
        fields[8] = (self.message,)
        return fields

    def __str__(self) -> str:
        where = self.segment or "message"
        if self.field is not None:
            where += f"-{self.field}"
        return f"[{self.severity} {self.code}] {where}: {self.message}"


class Rule(NamedTuple):
    """A field rule: in ``profile``, field ``segment``-``field`` (``component`` 0 = the whole
    field) must satisfy ``rule``:

    * ``forbidden``: not sent; ``required``: sent (``field`` 0: the segment must be present);
    * ``one_of`` (``arg`` a set, every repetition), ``equals`` (``arg`` a string, first
      repetition), ``not_one_of`` (``arg`` a set);
    * ``profile_id``: MSH-21 contains ``arg`` (``version^namespace``).

    ``types`` restricts the rule to MSH-9.1 codes or ``code^trigger`` types.
    """

    profile: str
    segment: str
    field: int
    rule: str
    message: str
    arg: frozenset[str] | str | None = None
    component: int = 0
    severity: Severity = "error"
    code: str = ""
    types: frozenset[str] = frozenset()


_DEFAULT_CODES = {
    "forbidden": "102",
    "required": "101",
    "one_of": "103",
    "not_one_of": "201",
    "equals": "203",
    "profile_id": "203",
}

_PID_FORBIDDEN = {
    2: "PID-2 (identifiant patient, déprécié)",
    4: "PID-4 (identifiant alternatif)",
    9: "PID-9 (alias)",
    10: "PID-10 (race)",
    12: "PID-12 (code pays)",
    17: "PID-17 (religion)",
    19: "PID-19 (numéro de sécurité sociale)",
    20: "PID-20 (permis de conduire)",
    22: "PID-22 (groupe ethnique)",
    28: "PID-28 (nationalité)",
}

#: PID-32 values of PAM FR 2.11.1 (HL7 table 0445, French extension).
PID32_CODES = frozenset(
    {
        "VIDE", "PROV", "VALI", "DOUB", "DESA", "DPOT", "DOUA", "COLP", "COLV", "FILI", "CACH",
        "ANOM", "IDVER", "RECD", "IDRA", "USUR", "HOMD", "HOMA", "INVA", "FICT", "DOUT",
    }
)  # fmt: skip
_ORU, _MDM = frozenset({"ORU"}), frozenset({"MDM"})

#: Field rules, one row per rule.
FIELD_RULES: tuple[Rule, ...] = (
    *(
        Rule("FR_PID", "PID", n, "forbidden", f"{label} interdit en France (PAM FR)")
        for n, label in _PID_FORBIDDEN.items()
    ),
    Rule("FR_PID", "PID", 32, "required", "PID-32 (fiabilité de l'identité) requis en France"),
    Rule(
        "FR_PID", "PID", 32, "one_of", "PID-32: code hors table 0445 FR", PID32_CODES, 1,
        "warning",
    ),
    Rule("FR_PID", "PID", 5, "required", "PID-5 (nom du patient) requis"),
    Rule("PAM_FR", "PID", 0, "required", "segment PID requis"),
    Rule("PAM_FR", "ZBE", 3, "forbidden", "ZBE-3 interdit (PAM FR)"),
    Rule(
        "PAM_FR", "MSH", 9, "not_one_of",
        "ADT^A08 n'est pas utilisé en France (A31 pour l'identité, Z99 pour un mouvement)",
        frozenset({"A08"}), 2,
    ),
    Rule("PAM_FR", "MSH", 12, "equals", "MSH-12.1: version 2.5 attendue (PAM FR)", "2.5", 1),
    Rule("PAM_FR", "MSH", 12, "equals", "MSH-12.2: FRA attendu (PAM FR)", "FRA", 2),
    Rule(
        "PAM_FR", "MSH", 12, "equals", "MSH-12.3: version PAM FR 2.11 attendue", "2.11", 3,
        "warning",
    ),
    Rule("PAM_FR", "ZBE", 1, "required", "ZBE-1 (identifiant du mouvement) requis"),
    Rule("PAM_FR", "ZBE", 2, "required", "ZBE-2 (date du mouvement) requis"),
    Rule("PAM_FR", "ZBE", 4, "required", "ZBE-4 (action) requis"),
    Rule(
        "PAM_FR", "ZBE", 4, "one_of", "ZBE-4: INSERT, UPDATE ou CANCEL attendu",
        frozenset({"INSERT", "UPDATE", "CANCEL"}), 1,
    ),
    Rule("PAM_FR", "ZBE", 5, "one_of", "ZBE-5: Y ou N attendu", frozenset({"Y", "N"}), 1),
    Rule("PAM_FR", "ZBE", 9, "required", "ZBE-9 (nature du mouvement) requis"),
    Rule(
        "PAM_FR", "ZBE", 9, "one_of", "ZBE-9: nature du mouvement inconnue",
        frozenset({"S", "H", "M", "L", "D", "SM", "SH", "MH", "LD", "HMS", "C"}), 1,
    ),
    Rule(
        "PAM_FR", "ZFA", 1, "one_of", "ZFA-1: ACTIF, FERME ou INEXISTANT attendu",
        frozenset({"ACTIF", "FERME", "INEXISTANT"}), 1,
    ),
    Rule(
        "PAM_FR", "ZFA", 9, "one_of", "ZFA-9: NA, IO ou INO attendu",
        frozenset({"NA", "IO", "INO"}), 1,
    ),
    Rule(
        "PAM_FR", "ZFA", 11, "one_of", "ZFA-11: NA, INC ou IC attendu",
        frozenset({"NA", "INC", "IC"}), 1,
    ),
    Rule("PAM_FR", "ZFD", 3, "one_of", "ZFD-3: Y ou N attendu", frozenset({"Y", "N"}), 1),
    Rule(
        "PAM_FR", "ZFD", 5, "one_of", "ZFD-5: SM, CV, INSI, CB ou RFID attendu",
        frozenset({"SM", "CV", "INSI", "CB", "RFID"}), 1,
    ),
    Rule(
        "PAM_FR", "ZFD", 7, "one_of", "ZFD-7: justificatif d'identité inconnu",
        frozenset({"AN", "CC", "CE", "CM", "CN", "CS", "LE", "PA", "PC", "TC"}), 1,
    ),
    Rule("CDA_V2", "MSH", 12, "equals", "ORU du volet CDA: HL7 2.5 attendu", "2.5", 1,
         types=_ORU),
    Rule("CDA_V2", "MSH", 12, "equals", "MDM du volet CDA: HL7 2.6 attendu", "2.6", 1,
         types=_MDM),
    Rule("CDA_V2", "MSH", 21, "profile_id", "MSH-21: 2.1^CISIS_CDA_HL7_V2 attendu",
         "2.1^CISIS_CDA_HL7_V2"),
    Rule("CDA_V2", "PID", 0, "required", "segment PID requis"),
    Rule("CDA_V2", "TXA", 0, "required", "segment TXA requis dans un MDM", types=_MDM),
    Rule("CDA_V2", "ORC", 1, "required", "ORC-1 requis"),
    Rule("TLR", "MSH", 12, "equals", "volet téléradiologie: HL7 2.5.1 attendu", "2.5.1", 1),
    Rule("TLR", "MSH", 21, "profile_id", "MSH-21: 1.0^CISIS_TLR_HL7_V2 attendu",
         "1.0^CISIS_TLR_HL7_V2"),
    Rule("TLR", "PID", 0, "required", "segment PID requis"),
    Rule(
        "HL7", "MSA", 1, "one_of", "MSA-1: AA, AE, AR, CA, CE ou CR attendu",
        frozenset({"AA", "AE", "AR", "CA", "CE", "CR"}), 1,
    ),
    Rule("HL7", "MSH", 9, "required", "MSH-9 (type de message) requis"),
    Rule("HL7", "MSH", 10, "required", "MSH-10 (identifiant du message) requis"),
    Rule("HL7", "MSH", 12, "required", "MSH-12 (version) requis"),
)  # fmt: skip

#: (MSH-9.1, MSH-9.2) → expected MSH-9.3 (HL7 table 0354 and the French volets).
EVENT_STRUCTURES: dict[tuple[str, str], str] = {
    **{("ADT", t): "ADT_A01" for t in ("A01", "A04", "A08", "A13")},
    **{("ADT", t): "ADT_A05" for t in ("A05", "A14", "A28", "A31")},
    ("ADT", "A02"): "ADT_A02",
    ("ADT", "A03"): "ADT_A03",
    ("ADT", "A06"): "ADT_A06",
    ("ADT", "A07"): "ADT_A06",
    ("ADT", "A11"): "ADT_A09",
    ("ADT", "A12"): "ADT_A12",
    **{("ADT", t): "ADT_A21" for t in ("A21", "A22", "A25", "A26", "A27")},
    ("ADT", "A38"): "ADT_A38",
    ("ADT", "A40"): "ADT_A39",
    ("ADT", "A47"): "ADT_A30",
    ("ADT", "A52"): "ADT_A52",
    ("ADT", "A53"): "ADT_A52",
    ("ADT", "A54"): "ADT_A54",
    ("ADT", "A55"): "ADT_A52",
    **{("MDM", t): "MDM_T02" for t in ("T02", "T04", "T10")},
    ("ORU", "R01"): "ORU_R01",
    ("ORM", "O01"): "ORM_O01",
    ("OMI", "O23"): "OMI_O23",
    ("OMG", "O19"): "OMG_O19",
    **{("ZAM", t): "ZAM_Z01" for t in ("Z01", "Z02", "Z03")},
}

#: Volet CDA: (MSH-9.1, MSH-9.2, ORC-1, OBX-11 of the document) allowed combinations.
ORDER_CONSISTENCY: tuple[tuple[str, str, str, str], ...] = (
    ("MDM", "T02", "NW", "F"),
    ("MDM", "T10", "RO", "C"),
    ("MDM", "T04", "CA", "D"),
    ("ORU", "R01", "NW", "F"),
    ("ORU", "R01", "RO", "C"),
    ("ORU", "R01", "CA", "D"),
)

#: Volet téléradiologie: ORC-1 values per flux.
TLR_ORDER_CONTROL: dict[tuple[str, str], frozenset[str]] = {
    ("ORM", "O01"): frozenset({"NW", "CA"}),  # flux 1 (demande), flux 2 (annulation)
    ("ORU", "R01"): frozenset({"OK", "OC"}),  # flux 3 (acceptée, refusée)
    ("OMI", "O23"): frozenset({"SR"}),  # flux 4 (complément post-examen)
}

#: Volet CDA: OBX-5.2/.3/.4 of the document, exactly as the volet writes them.
ED_ENCODING: dict[str, tuple[str, str, str]] = {
    "ORU": ("TEXT", "XML", "Base64"),
    "MDM": ("text", "XML", "Base64"),
}

#: MetaDMPMSS OBX order required by the volet (optional codes included).
METADMPMSS_ORDER: tuple[str, ...] = tuple(c.code for c in METADMPMSS_CODES)
#: MetaDMPMSS codes that must be present when the block is sent.
METADMPMSS_REQUIRED: tuple[str, ...] = METADMPMSS_ORDER[:8]
#: Forbidden combinations: every (code, value) of a row at once is an error.
METADMPMSS_FORBIDDEN: tuple[tuple[tuple[tuple[str, str], ...], str], ...] = (
    (
        (("MASQUE_PS", "Y"), ("DESTMSSANTEPS", "Y")),
        "document masqué aux professionnels: jamais envoyé aux PS par MSSanté",
    ),
    (
        (("INVISIBLE_PATIENT", "Y"), ("DESTMSSANTEPAT", "Y")),
        "document invisible pour le patient: jamais envoyé au patient par MSSanté",
    ),
)
#: (code, value, PRT-4 role required, severity, message).
METADMPMSS_REQUIRES_PARTICIPANT: tuple[tuple[str, str, str, Severity, str], ...] = (
    ("DESTDMP", "Y", "SB", "error", "DESTDMP=Y: PRT SB (Send by) requis pour le DMP"),
    ("DESTMSSANTEPS", "Y", "RCT", "warning", "DESTMSSANTEPS=Y sans PRT RCT destinataire"),
    ("DESTMSSANTEPAT", "Y", "RCT", "warning", "DESTMSSANTEPAT=Y sans PRT RCT destinataire"),
)

#: Date/time fields checked for a valid DT/TS/DTM.
DATE_FIELDS: tuple[tuple[str, int], ...] = (
    ("MSH", 7),
    ("EVN", 2),
    ("EVN", 6),
    ("PID", 7),
    ("PID", 33),
    ("PV1", 44),
    ("PV1", 45),
    ("ZBE", 2),
    ("ZFA", 2),
    ("ZFA", 10),
    ("ZFA", 12),
    ("ZFD", 6),
    ("ZFD", 8),
    ("ORC", 9),
    ("OBR", 7),
    ("TXA", 4),
)


# --- interpreters --------------------------------------------------------------------------------


def profiles_of(view: Hl7View) -> frozenset[str]:
    """The profiles whose rules apply to ``view`` (see the module documentation)."""
    found = {"HL7"}
    code = view.msh.message_code
    if view.pid is not None:
        found.add("FR_PID")
    if code == "ADT":
        found.add("PAM_FR")
    namespaces = {ei.namespace_id for ei in view.msh.profiles}
    has_meta = any(isinstance(v, ObxView) and v.is_meta_dmp_mss for v in view.typed_segments)
    if "CISIS_CDA_HL7_V2" in namespaces or (code in ("ORU", "MDM") and has_meta):
        found.add("CDA_V2")
    if "CISIS_TLR_HL7_V2" in namespaces:
        found.add("TLR")
    return frozenset(found)


def _occurrences(message: Message, name: str) -> list[tuple[int, Segment]]:
    return [(i, seg) for i, seg in enumerate(message.segments_named(name), start=1)]


def _present(seg: Segment, field: int) -> bool:
    raw = seg.raw(field)
    return bool(raw) and raw != '""'


def _apply_rule(rule: Rule, view: Hl7View) -> list[Finding]:
    code = rule.code or _DEFAULT_CODES[rule.rule]

    def finding(seq: int, field: int | None, message: str) -> Finding:
        return Finding(rule.severity, rule.segment, field, code, message, seq, rule.profile)

    occurrences = _occurrences(view.message, rule.segment)
    if rule.field == 0:
        if rule.rule == "required" and not occurrences:
            return [finding(1, None, rule.message)]
        return []
    out: list[Finding] = []
    for seq, seg in occurrences:
        if rule.rule == "forbidden":
            if seg.raw(rule.field):
                out.append(finding(seq, rule.field, rule.message))
        elif rule.rule == "required":
            if not _present(seg, rule.field):
                out.append(finding(seq, rule.field, rule.message))
        elif rule.rule == "profile_id":
            wanted = str(rule.arg)
            sent = {f"{r.get(1)}^{r.get(2)}" for r in seg.repetitions(rule.field)}
            if wanted not in sent:
                shown = "~".join(sorted(sent)) or "absent"
                out.append(finding(seq, rule.field, f"{rule.message} (reçu: {shown})"))
        else:
            component = rule.component or 1
            reps = seg.repetitions(rule.field)
            values = [r.get(component).strip() for r in reps if r.get(component).strip()]
            if rule.rule == "equals":
                got = values[0] if values else ""
                if got != rule.arg:
                    out.append(finding(seq, rule.field, f"{rule.message} (reçu: {got!r})"))
                continue
            allowed = rule.arg if isinstance(rule.arg, frozenset) else frozenset()
            for value in values:
                bad = value not in allowed if rule.rule == "one_of" else value in allowed
                if bad:
                    out.append(finding(seq, rule.field, f"{rule.message} (reçu: {value!r})"))
    return out


def _check_structure(view: Hl7View) -> list[Finding]:
    msh = view.msh
    expected = EVENT_STRUCTURES.get((msh.message_code, msh.trigger_event))
    structure = msh.structure
    if expected is None or not structure or structure == expected:
        return []
    return [
        Finding(
            "error",
            "MSH",
            9,
            "200",
            f"structure {structure} incohérente avec {msh.message_type} ({expected} attendue)",
            profile="HL7",
        )
    ]


def _check_dates(view: Hl7View) -> list[Finding]:
    out: list[Finding] = []
    for name, field in DATE_FIELDS:
        for seq, seg in _occurrences(view.message, name):
            try:
                Timestamp.parse_text(seg.get(field))
            except Hl7ParseError as exc:
                out.append(Finding("error", name, field, "102", exc.message, seq, "HL7"))
    return out


def _check_values(view: Hl7View) -> list[Finding]:
    """Every OBX-5 decodes according to OBX-2 (base64 of ED included)."""
    out: list[Finding] = []
    for seq, obx in enumerate(view.all(ObxView), start=1):
        try:
            _ = obx.values  # decoding is the check
        except Hl7ParseError as exc:
            out.append(Finding("error", "OBX", 5, exc.code or "102", exc.message, seq, "HL7"))
    return out


def _check_identity(view: Hl7View) -> list[Finding]:
    out: list[Finding] = []
    pid = view.pid
    if pid is None:
        return out
    for cx in pid.ins_identifiers:
        try:
            ins_of_cx(cx)
        except InvalidMatriculeError as exc:
            out.append(
                Finding(
                    "error",
                    "PID",
                    3,
                    "102",
                    f"INS {mask_matricule(cx.id)} invalide (règle {exc.rule})",
                    profile="FR_PID",
                )
            )
    identity = patient_identity(view, warn=False)
    if identity is None:
        return out
    if identity.ins_dropped_reason and pid.ins is not None:
        out.append(
            Finding("warning", "PID", 32, "103", identity.ins_dropped_reason, profile="FR_PID")
        )
    if identity.traits_error:
        out.append(
            Finding(
                "warning",
                "PID",
                5,
                "102",
                f"traits non normalisables pour l'INS: {identity.traits_error}",
                profile="FR_PID",
            )
        )
    return out


def _document_view(view: Hl7View) -> ResultMessage | DocumentMessage | None:
    return view if isinstance(view, ResultMessage | DocumentMessage) else None


def _check_cda(view: Hl7View) -> list[Finding]:
    out: list[Finding] = []
    doc = _document_view(view)
    if doc is None:
        return out
    msh = view.msh

    def err(
        segment: str | None,
        field: int | None,
        code: str,
        message: str,
        severity: Severity = "error",
        seq: int = 1,
    ) -> None:
        out.append(Finding(severity, segment, field, code, message, seq, "CDA_V2"))

    obx = doc.document_observation
    if obx is None:
        err("OBX", 5, "101", "aucun OBX de type ED portant le document CDA")
    else:
        ed = obx.encapsulated
        expected = ED_ENCODING.get(msh.message_code)
        if ed is not None and expected is not None:
            got = (ed.type_of_data, ed.data_subtype, ed.encoding)
            if got != expected:
                same = tuple(g.upper() for g in got) == tuple(e.upper() for e in expected)
                err(
                    "OBX",
                    5,
                    "102",
                    f"OBX-5 ^{'^'.join(got)}^ au lieu de ^{'^'.join(expected)}^",
                    "warning" if same else "error",
                )
        try:
            content = doc.document_bytes
        except Hl7ParseError:
            content = None  # reported by _check_values
        if content is not None:
            head = content.lstrip(b"\xef\xbb\xbf \t\r\n")[:1]
            if head != b"<":
                err("OBX", 5, "102", "le document décodé n'est pas du XML (CDA attendu)")
        orc_view = doc.first(OrcView)
        orc = orc_view.order_control if orc_view is not None else ""
        allowed = [
            row for row in ORDER_CONSISTENCY if row[:2] == (msh.message_code, msh.trigger_event)
        ]
        status = obx.observation_status
        if allowed and orc:
            pairs = {(row[2], row[3]) for row in allowed}
            controls = {row[2] for row in allowed}
            if orc not in controls:
                err(
                    "ORC",
                    1,
                    "103",
                    f"ORC-1 {orc!r} incohérent avec {msh.message_type} "
                    f"(attendu {' ou '.join(sorted(controls))})",
                )
            elif (orc, status) not in pairs:
                wanted = " ou ".join(sorted(s for c, s in pairs if c == orc))
                err(
                    "OBX",
                    11,
                    "103",
                    f"OBX-11 {status!r} incohérent avec ORC-1 {orc!r} (attendu {wanted})",
                )
    meta = doc.meta
    if meta is not None:
        positions = [METADMPMSS_ORDER.index(c) for c in meta.codes if c in METADMPMSS_ORDER]
        if positions != sorted(positions):
            err(
                "OBX", 3, "100", "OBX MetaDMPMSS hors de l'ordre du volet: " + ", ".join(meta.codes)
            )
        for code in METADMPMSS_REQUIRED:
            if code not in meta.raw:
                err("OBX", 3, "101", f"OBX MetaDMPMSS {code} absent")
        for code in METADMPMSS_FLAGS:
            value = meta.raw.get(code)
            if value is not None and value.strip().upper() not in ("Y", "N"):
                err("OBX", 5, "103", f"MetaDMPMSS {code}: Y ou N attendu (reçu {value!r})")
        flags = {k: v.strip().upper() for k, v in meta.raw.items()}
        for combination, message in METADMPMSS_FORBIDDEN:
            if all(flags.get(code) == value for code, value in combination):
                err("OBX", 5, "207", message)
        roles = {p.role_code for p in doc.all(PrtView)}
        for code, value, role, severity, message in METADMPMSS_REQUIRES_PARTICIPANT:
            if flags.get(code) == value and role not in roles:
                err("PRT", None, "101", message, severity)
    for seq, prt in enumerate(doc.all(PrtView), start=1):
        if prt.is_patient:
            try:
                _ = prt.patient_ins
            except InvalidMatriculeError as exc:
                err(
                    "PRT", 5, "102", f"INS du patient destinataire invalide: {exc.message}", seq=seq
                )
    return out


def _check_tlr(view: Hl7View) -> list[Finding]:
    msh = view.msh
    allowed = TLR_ORDER_CONTROL.get((msh.message_code, msh.trigger_event))
    if allowed is None:
        return []
    out: list[Finding] = []
    for seq, orc in _occurrences(view.message, "ORC"):
        control = orc.get(1)
        if control not in allowed:
            out.append(
                Finding(
                    "error",
                    "ORC",
                    1,
                    "103",
                    f"ORC-1 {control!r} non prévu pour {msh.message_type} "
                    f"(attendu {' ou '.join(sorted(allowed))})",
                    seq,
                    "TLR",
                )
            )
    return out


def check_message(message: Message | Hl7View) -> list[Finding]:
    """Check a message against the applicable French profiles (never raises on content and
    emits no warning: an INS dropped is a finding)."""
    view = message if isinstance(message, Hl7View) else read_message(message)
    profiles = profiles_of(view)
    findings: list[Finding] = []
    for rule in FIELD_RULES:
        if rule.profile not in profiles:
            continue
        if rule.types and not (
            view.msh.message_code in rule.types or view.message_type in rule.types
        ):
            continue
        findings.extend(_apply_rule(rule, view))
    findings.extend(_check_structure(view))
    findings.extend(_check_dates(view))
    findings.extend(_check_values(view))
    if "FR_PID" in profiles:
        try:
            findings.extend(_check_identity(view))
        except Hl7ParseError as exc:
            findings.append(
                Finding(
                    "error",
                    exc.segment,
                    exc.field,
                    exc.code or "102",
                    exc.message,
                    profile="FR_PID",
                )
            )
    if "CDA_V2" in profiles:
        findings.extend(_check_cda(view))
    if "TLR" in profiles:
        findings.extend(_check_tlr(view))
    return findings
