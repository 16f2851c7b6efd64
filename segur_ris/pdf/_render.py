"""Rendering of an :class:`~segur_ris.report.ImagingReport` as a PDF/A (reportlab + pikepdf).

Fonts: the Bitstream Vera TrueType fonts shipped inside reportlab, registered under
``SegurRis-*`` names and embedded (subset). They cover French (accents, ``œ``, ``€``, ``’``);
a character they lack is replaced by a safe equivalent (``œ`` → ``oe``, narrow no-break
space → no-break space…) or ``?``, never left to the missing-glyph box that PDF/A forbids.

INS: printed only for a *qualifiée* identity (RNIV). Otherwise the patient block says
"INS non qualifié — non communiqué" with the identity status; the report is still rendered,
since an imaging report must be issuable for a provisional identity.
"""

from __future__ import annotations

import datetime as _dt
import functools
import io
import os
import unicodedata
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any
from xml.sax.saxutils import escape

import pikepdf
import reportlab
from reportlab.lib import colors
from reportlab.lib.enums import TA_CENTER
from reportlab.lib.pagesizes import A4
from reportlab.lib.styles import ParagraphStyle
from reportlab.lib.units import mm
from reportlab.lib.utils import ImageReader
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.ttfonts import TTFont
from reportlab.pdfgen.canvas import Canvas
from reportlab.platypus import (
    Flowable,
    KeepTogether,
    Paragraph,
    SimpleDocTemplate,
    Spacer,
    Table,
    TableStyle,
)

from segur_ris.codes import OID_INS_NIA, OID_INS_NIR, OID_INS_NIR_DEMO, OID_INS_NIR_TEST
from segur_ris.errors import InsNotQualifiedError, PdfError
from segur_ris.ins import IdentityStatus, PatientIdentity
from segur_ris.pdf._pdfa import PdfaLevel, check_level, fix_metadata_date, save_kwargs, validate
from segur_ris.report import ImagingReport, Practitioner, SectionKind

__all__ = ["MAX_LOGO_BYTES", "SECTION_TITLES", "render_report_pdf"]

#: Size limit of a logo image (PNG, JPEG, GIF…), before decoding.
MAX_LOGO_BYTES = 2 * 1024 * 1024
_MAX_LOGO_PIXELS = 20_000_000
_LOGO_MAX_SIDE = 600  # pixels kept (downscaled beyond), plenty for 40 mm at 300 dpi

FONT = "SegurRis-Vera"
FONT_BOLD = "SegurRis-Vera-Bold"
FONT_ITALIC = "SegurRis-Vera-Italic"
FONT_BOLD_ITALIC = "SegurRis-Vera-BoldItalic"
_FONT_FILES = {
    FONT: "Vera.ttf",
    FONT_BOLD: "VeraBd.ttf",
    FONT_ITALIC: "VeraIt.ttf",
    FONT_BOLD_ITALIC: "VeraBI.ttf",
}

#: French titles of the sections (a :class:`~segur_ris.report.Section` title overrides them).
SECTION_TITLES: dict[SectionKind, str] = {
    SectionKind.INFORMATIONS_CLINIQUES: "Informations cliniques",
    SectionKind.JUSTIFICATION: "Indication et justification de l'examen",
    SectionKind.ANTECEDENTS: "Antécédents",
    SectionKind.TECHNIQUE: "Technique",
    SectionKind.COMPLICATIONS: "Complications",
    SectionKind.EXPOSITION: "Exposition aux rayonnements ionisants",
    SectionKind.RESULTATS: "Résultats",
    SectionKind.COMPARAISONS: "Comparaison avec les examens antérieurs",
    SectionKind.CONCLUSION: "Conclusion",
    SectionKind.ADDENDUM: "Addendum",
}
_SECTION_ORDER = {kind: index for index, kind in enumerate(SectionKind)}

#: French labels of common DICOM modality codes (others are shown as their code).
MODALITY_LABELS: dict[str, str] = {
    "CR": "Radiographie numérisée",
    "DX": "Radiographie numérique",
    "CT": "Scanographie (TDM)",
    "MR": "IRM",
    "US": "Échographie",
    "MG": "Mammographie",
    "XA": "Angiographie",
    "RF": "Radioscopie",
    "NM": "Médecine nucléaire",
    "PT": "TEP",
    "BMD": "Ostéodensitométrie",
    "IO": "Radiographie intrabuccale",
    "PX": "Radiographie panoramique dentaire",
    "OT": "Autre",
}

_INS_AUTHORITIES = {
    OID_INS_NIR: "NIR",
    OID_INS_NIA: "NIA",
    OID_INS_NIR_TEST: "NIR de test",
    OID_INS_NIR_DEMO: "NIR de démonstration",
}
_CONFIDENTIALITY = {"R": "restreinte", "V": "très restreinte"}

# Used only when the font lacks the character (checked against the font's own cmap).
_FALLBACKS = {
    "\u202f": "\u00a0",  # narrow no-break space
    "\u2009": " ",
    "\u200a": " ",
    "\u2007": " ",
    "\u2011": "-",  # non-breaking hyphen
    "\u2010": "-",
    "œ": "oe",
    "Œ": "OE",
    "æ": "ae",
    "Æ": "AE",
    "€": "EUR",
    "’": "'",
    "‘": "'",
    "‚": ",",
    "“": '"',
    "”": '"',
    "«": '"',
    "»": '"',
    "–": "-",
    "—": "-",
    "…": "...",
    "\u00a0": " ",
    "≤": "<=",
    "≥": ">=",
    "±": "+/-",
}


@functools.cache
def _font_charset() -> frozenset[int]:
    """Register the Vera fonts once; the code points every one of them covers."""
    folder = os.path.join(os.path.dirname(reportlab.__file__), "fonts")
    charset: frozenset[int] | None = None
    for name, filename in _FONT_FILES.items():
        font = TTFont(name, os.path.join(folder, filename))
        pdfmetrics.registerFont(font)
        covered = frozenset(font.face.charToGlyph)
        charset = covered if charset is None else charset & covered
    pdfmetrics.registerFontFamily(
        FONT, normal=FONT, bold=FONT_BOLD, italic=FONT_ITALIC, boldItalic=FONT_BOLD_ITALIC
    )
    assert charset is not None
    return charset


def safe_text(text: str, charset: frozenset[int] | None = None) -> str:
    """``text`` made drawable with the embedded fonts (NFC; missing glyphs substituted).

    Control characters other than line feeds are dropped (tabs become spaces); a character
    the fonts lack becomes its fallback (``œ`` → ``oe``…) or its base letter, else ``?``.
    """
    if charset is None:
        return _safe_text_cached(text)
    return _safe_text(text, charset)


@functools.lru_cache(maxsize=4096)
def _safe_text_cached(text: str) -> str:
    """Labels and values repeat from one report to the next: checked once."""
    return _safe_text(text, _font_charset())


def _safe_text(text: str, covered: frozenset[int]) -> str:
    out: list[str] = []
    for char in unicodedata.normalize("NFC", text):
        if char == "\n" or (ord(char) in covered and unicodedata.category(char) != "Cc"):
            out.append(char)
            continue
        if char in "\t\r\v\f":
            out.append(" " if char != "\r" else "")
            continue
        if unicodedata.category(char) in ("Cc", "Cf"):
            continue
        fallback = _FALLBACKS.get(char)
        if fallback is not None and all(ord(c) in covered for c in fallback):
            out.append(fallback)
            continue
        compatible = unicodedata.normalize("NFKC", char)
        base = "".join(
            c for c in unicodedata.normalize("NFKD", char) if not unicodedata.combining(c)
        )
        usable = [t for t in (compatible, base) if t and all(ord(c) in covered for c in t)]
        out.append(usable[0] if usable else "?")
    return "".join(out)


def _markup(text: str) -> str:
    """Paragraph markup for plain ``text`` (escaped; single line feeds become line breaks)."""
    return escape(safe_text(text)).replace("\n", "<br/>")


# --- formatting -----------------------------------------------------------------------------


def _when(moment: _dt.datetime) -> str:
    return moment.strftime("%d/%m/%Y à %H:%M")


def _person(practitioner: Practitioner) -> str:
    name = f"{practitioner.family.upper()} {practitioner.given}"
    return f"{practitioner.prefix} {name}".strip()


def _birth(patient: PatientIdentity) -> str:
    date = patient.traits.date_naissance
    return f"{date.day:02d}/{date.month:02d}/{date.year:04d}"


def _age(patient: PatientIdentity, at: _dt.date) -> int | None:
    born = patient.traits.date_naissance.to_date()
    if born is None:
        return None
    return at.year - born.year - ((at.month, at.day) < (born.month, born.day))


def _ins_line(patient: PatientIdentity) -> str:
    """The INS as printed: qualified INS with its kind, else why it is not shown."""
    try:
        ins = patient.qualified_ins()
    except InsNotQualifiedError:
        status = patient.status
        label = {
            IdentityStatus.PROVISOIRE: "provisoire",
            IdentityStatus.RECUPEREE: "récupérée",
            IdentityStatus.VALIDEE: "validée",
        }.get(status, status.value)
        return f"INS non qualifié — non communiqué (identité {label})"
    authority = _INS_AUTHORITIES.get(ins.oid, ins.kind.value)
    return f"{ins.value} ({authority}, OID {ins.oid}) — identité qualifiée"


@dataclass(frozen=True, slots=True)
class _Styles:
    title: ParagraphStyle
    heading: ParagraphStyle
    body: ParagraphStyle
    label: ParagraphStyle
    value: ParagraphStyle
    notice: ParagraphStyle
    small: ParagraphStyle


@functools.cache
def _styles() -> _Styles:
    _font_charset()
    body = ParagraphStyle(
        "body", fontName=FONT, bulletFontName=FONT, fontSize=9.5, leading=13, spaceAfter=4
    )
    return _Styles(
        title=ParagraphStyle(
            "title", parent=body, fontName=FONT_BOLD, fontSize=15, leading=19, alignment=TA_CENTER
        ),
        heading=ParagraphStyle(
            "heading",
            parent=body,
            fontName=FONT_BOLD,
            fontSize=11,
            leading=14,
            spaceBefore=8,
            spaceAfter=3,
            textColor=colors.HexColor("#1F3A5F"),
        ),
        body=body,
        label=ParagraphStyle("label", parent=body, fontName=FONT_BOLD, spaceAfter=0),
        value=ParagraphStyle("value", parent=body, spaceAfter=0),
        notice=ParagraphStyle(
            "notice",
            parent=body,
            fontName=FONT_BOLD,
            textColor=colors.HexColor("#8B0000"),
            borderColor=colors.HexColor("#8B0000"),
            borderWidth=0.8,
            borderPadding=4,
            spaceBefore=4,
            spaceAfter=8,
        ),
        small=ParagraphStyle("small", parent=body, fontSize=8, leading=10),
    )


#: Values up to this length fit on one line of the value column: drawn as plain table text,
#: which costs a fraction of a Paragraph (the layout dominates the rendering time).
_SHORT_VALUE = 70


def _cell(text: str, style: ParagraphStyle) -> Any:
    """Plain (safe) text for a short single-line value, a wrapping Paragraph otherwise."""
    return (
        safe_text(text)
        if len(text) <= _SHORT_VALUE and "\n" not in text
        else Paragraph(_markup(text), style)
    )


def _block(title: str, rows: Sequence[tuple[str, str]], styles: _Styles) -> Flowable:
    """A titled two-column label/value table."""
    data: list[list[Any]] = [[Paragraph(_markup(title), styles.heading), ""]]
    data += [
        [_cell(label, styles.label), _cell(value, styles.value)] for label, value in rows if value
    ]
    table = Table(data, colWidths=[48 * mm, None], hAlign="LEFT")
    table.setStyle(
        TableStyle(
            [
                ("FONTNAME", (0, 0), (-1, -1), FONT),  # default Helvetica is not embedded
                ("FONTNAME", (0, 1), (0, -1), FONT_BOLD),  # labels (plain cells)
                ("FONTSIZE", (0, 1), (-1, -1), styles.value.fontSize),
                ("LEADING", (0, 1), (-1, -1), styles.value.leading),
                ("SPAN", (0, 0), (1, 0)),
                ("VALIGN", (0, 0), (-1, -1), "TOP"),
                ("LEFTPADDING", (0, 0), (-1, -1), 2),
                ("TOPPADDING", (0, 1), (-1, -1), 1),
                ("BOTTOMPADDING", (0, 1), (-1, -1), 1),
                ("LINEBELOW", (0, 0), (1, 0), 0.6, colors.HexColor("#1F3A5F")),
            ]
        )
    )
    return table


# --- story ----------------------------------------------------------------------------------


def _notices(report: ImagingReport) -> list[str]:
    version = report.document_version
    notices = []
    if version.replaces:
        notices.append(
            f"Version {version.number} — ce document remplace et annule le document "
            f"{version.replaces}."
        )
    conf = report.confidentiality
    if conf.code in _CONFIDENTIALITY:
        notices.append(f"Confidentialité {_CONFIDENTIALITY[conf.code]}.")
    if conf.masque_ps:
        notices.append("Document masqué aux professionnels de santé dans le DMP.")
    if conf.invisible_patient:
        notices.append("Document non visible par le patient dans le DMP.")
    if conf.invisible_representants_legaux:
        notices.append("Document non visible par les représentants légaux du patient.")
    return notices


def _story(report: ImagingReport) -> list[Flowable]:
    styles = _styles()
    patient = report.patient
    traits = patient.traits
    exam = report.exam
    story: list[Flowable] = [
        Paragraph(_markup(report.title), styles.title),
        Spacer(1, 2 * mm),
        Paragraph(
            _markup(f"{exam.exam_code.display or exam.exam_code.code} — {_when(exam.start)}"),
            ParagraphStyle("subtitle", parent=styles.body, alignment=TA_CENTER),
        ),
    ]
    story += [Paragraph(_markup(text), styles.notice) for text in _notices(report)]

    age = _age(patient, exam.start.date())
    birth = _birth(patient) + (
        f" (patient mineur, {age} ans)" if age is not None and age < 18 else ""
    )
    story.append(
        _block(
            "Patient",
            [
                ("Nom de naissance", traits.nom_naissance),
                ("Prénom(s) de naissance", traits.liste_prenoms),
                ("Sexe", "Féminin" if traits.sexe.value == "F" else "Masculin"),
                ("Date de naissance", birth),
                ("Lieu de naissance (COG)", traits.lieu_naissance or ""),
                ("INS", _ins_line(patient)),
                ("IPP", f"{report.ipp} (domaine {report.ipp_oid})" if report.ipp else ""),
            ],
            styles,
        )
    )
    modalities = ", ".join(
        f"{code} ({MODALITY_LABELS[code]})" if code in MODALITY_LABELS else code
        for code in exam.modalities
    )
    period = _when(exam.start) + (f" — fin {exam.end.strftime('%H:%M')}" if exam.end else "")
    story.append(
        _block(
            "Examen",
            [
                ("Examen", f"{exam.exam_code.display} (LOINC {exam.exam_code.code})"),
                ("Date", period),
                ("Modalité(s)", modalities),
                (
                    "Région anatomique",
                    exam.anatomical_region.display if exam.anatomical_region else "",
                ),
                ("Actes CCAM", "\n".join(f"{a.code} — {a.display}" for a in exam.ccam_acts)),
                ("Numéro d'accession", exam.accession_number),
            ],
            styles,
        )
    )
    order = report.order
    if order is not None:
        prescriber = order.prescriber
        story.append(
            _block(
                "Demande",
                [
                    (
                        "Prescripteur",
                        f"{_person(prescriber)} (RPPS {prescriber.rpps})" if prescriber else "",
                    ),
                    ("Numéro de demande", order.placer_number),
                    ("Motif", order.reason),
                ],
                styles,
            )
        )
    for section in sorted(report.sections, key=lambda s: _SECTION_ORDER[s.kind]):
        title = section.title or SECTION_TITLES[section.kind]
        paragraphs = [p.strip() for p in section.text.replace("\r\n", "\n").split("\n\n")]
        body = [Paragraph(_markup(p), styles.body) for p in paragraphs if p]
        heading = Paragraph(_markup(title), styles.heading)
        story.append(KeepTogether([heading, *body[:1]]))
        story += body[1:]
    story.append(_signature(report, styles))
    return story


def _signature(report: ImagingReport, styles: _Styles) -> Flowable:
    signer = report.signer
    lines = []
    if report.legal_authenticator is not None and report.legal_authenticator != report.author:
        lines.append(f"Rédigé par {_person(report.author)} (RPPS {report.author.rpps}).")
    lines.append(
        f"Compte rendu validé par {_person(signer)}, {signer.specialty.display} "
        f"(RPPS {signer.rpps}), le {_when(report.effective_time)}."
    )
    custodian = report.custodian
    if custodian.identifier != report.facility.organization.identifier:
        lines.append(
            f"Document conservé par {custodian.name} ({custodian.id_type} {custodian.identifier})."
        )
    return KeepTogether(
        [
            Spacer(1, 4 * mm),
            Paragraph(_markup("Signature"), styles.heading),
            *(Paragraph(_markup(line), styles.body) for line in lines),
        ]
    )


# --- page furniture -------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Furniture:
    """What is drawn on every page: facility header, logo, running footer."""

    facility: tuple[str, ...]
    footer_left: str
    footer_id: str
    logo: ImageReader | None
    logo_size: tuple[float, float]

    def header(self, canvas: Canvas, _doc: Any = None) -> None:
        width, height = A4
        canvas.saveState()
        y = height - 16 * mm
        room = width - 36 * mm - (self.logo_size[0] + 5 * mm if self.logo else 0)
        for index, line in enumerate(self.facility):
            font, size = (FONT_BOLD, 11) if index == 0 else (FONT, 8.5)
            canvas.setFont(font, size)
            canvas.drawString(18 * mm, y, _fit(line, font, size, room))
            y -= 5 * mm if index == 0 else 4 * mm
        if self.logo is not None:
            w, h = self.logo_size
            canvas.drawImage(self.logo, width - 18 * mm - w, height - 10 * mm - h, w, h)
        canvas.setStrokeColor(colors.HexColor("#1F3A5F"))
        canvas.setLineWidth(0.8)
        canvas.line(18 * mm, height - 31 * mm, width - 18 * mm, height - 31 * mm)
        canvas.restoreState()

    def footer(self, canvas: Canvas, page: int, total: int) -> None:
        width, _ = A4
        canvas.saveState()
        canvas.setStrokeColor(colors.grey)
        canvas.setLineWidth(0.4)
        canvas.line(18 * mm, 17 * mm, width - 18 * mm, 17 * mm)
        canvas.setFont(FONT, 7.5)
        room = width - 36 * mm - 25 * mm  # keep clear of "page n/N"
        canvas.drawString(18 * mm, 13 * mm, _fit(self.footer_left, FONT, 7.5, room))
        canvas.drawString(18 * mm, 9.5 * mm, _fit(self.footer_id, FONT, 7.5, room))
        canvas.setFont(FONT_BOLD, 8)
        canvas.drawRightString(width - 18 * mm, 13 * mm, f"page {page}/{total}")
        canvas.restoreState()


def _fit(text: str, font: str, size: float, room: float) -> str:
    """``text`` cut with an ellipsis so that it fits in ``room`` points."""
    if pdfmetrics.stringWidth(text, font, size) <= room:
        return text
    while text and pdfmetrics.stringWidth(text + "…", font, size) > room:
        text = text[:-1]
    return text + "…"


def _paged_canvas(furniture: _Furniture) -> Callable[..., Canvas]:
    """A canvas class that holds pages back until the total is known ("page n/N")."""

    class PagedCanvas(Canvas):  # type: ignore[misc]
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            self._held: list[dict[str, Any]] = []

        def showPage(self) -> None:  # reportlab API name
            self._held.append(dict(self.__dict__))
            self._startPage()

        def save(self) -> None:
            held = self._held
            for number, state in enumerate(held, start=1):
                self.__dict__.update(state)
                furniture.footer(self, number, len(held))
                Canvas.showPage(self)
            Canvas.save(self)

    return PagedCanvas


def _furniture(report: ImagingReport, logo: bytes | None) -> _Furniture:
    org = report.facility.organization
    facility = [org.name, org.address, f"{org.id_type} {org.identifier}", org.telecom]
    patient = report.patient
    left = (
        f"{patient.traits.nom_naissance} {patient.traits.premier_prenom}"
        f" — né(e) le {_birth(patient)}"
    )
    if patient.is_qualified:  # the running footer repeats the identity, INS included
        left += f" — INS {patient.qualified_ins().value}"
    version = report.document_version
    ident = f"Document {report.document_id} — version {version.number}"
    reader, size = _logo(logo) if logo is not None else (None, (0.0, 0.0))
    return _Furniture(
        tuple(safe_text(line.replace("\n", ", ")) for line in facility if line),
        safe_text(left),
        safe_text(ident),
        reader,
        size,
    )


def _logo(data: bytes) -> tuple[ImageReader, tuple[float, float]]:
    """The logo as an opaque RGB PNG (alpha flattened on white: no transparency in PDF/A-1)."""
    from PIL import Image, UnidentifiedImageError

    if not isinstance(data, bytes | bytearray) or len(data) > MAX_LOGO_BYTES:
        raise PdfError(f"logo: octets attendus, {MAX_LOGO_BYTES} au plus", code="logo")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(bytes(data)))
            if image.width * image.height > _MAX_LOGO_PIXELS:
                raise PdfError("logo: image trop grande", code="logo")
            image.load()
            has_alpha = image.mode in ("RGBA", "LA", "PA") or "transparency" in image.info
            rgba = image.convert("RGBA") if has_alpha else image.convert("RGB")
    except (UnidentifiedImageError, OSError, ValueError, Image.DecompressionBombWarning) as exc:
        raise PdfError(f"logo illisible: {exc}", code="logo") from None
    if has_alpha:
        flat = Image.new("RGB", rgba.size, (255, 255, 255))
        flat.paste(rgba, mask=rgba.getchannel("A"))
        rgba = flat
    rgba.thumbnail((_LOGO_MAX_SIDE, _LOGO_MAX_SIDE))
    png = io.BytesIO()
    rgba.save(png, format="PNG")
    png.seek(0)
    box_w, box_h = 40 * mm, 18 * mm
    scale = min(box_w / rgba.width, box_h / rgba.height)
    return ImageReader(png), (rgba.width * scale, rgba.height * scale)


# --- rendering ------------------------------------------------------------------------------


def _pdf_date(moment: _dt.datetime) -> str:
    offset = moment.utcoffset() or _dt.timedelta(0)
    minutes = int(offset.total_seconds() // 60)
    sign = "+" if minutes >= 0 else "-"
    hours, mins = divmod(abs(minutes), 60)
    return moment.strftime("D:%Y%m%d%H%M%S") + f"{sign}{hours:02d}'{mins:02d}'"


def render_report_pdf(
    report: ImagingReport,
    *,
    level: PdfaLevel = "1b",
    logo: bytes | None = None,
    deterministic: bool = False,
    validate_output: bool = False,
) -> bytes:
    """The report as a PDF/A (``"1b"`` by default, ``"2b"``).

    ``logo`` is an image (PNG, JPEG…) shown top right, flattened to opaque RGB.
    ``deterministic`` dates the file with ``report.effective_time`` instead of now, so the
    same report always gives the same bytes. ``validate_output`` re-reads the written file
    with pikepdf's PDF/A validator (about as long as the rendering itself): the test suite
    does it on every PDF the renderer can produce; turn it on where a check is wanted at run
    time. Raises :class:`PdfError` (codes ``level``, ``logo``, ``render``, ``pdfa``).
    """
    flavour = check_level(level)
    if not isinstance(report, ImagingReport):
        raise PdfError("ImagingReport attendu", code="render")
    _font_charset()
    furniture = _furniture(report, logo)
    signer = report.signer
    buffer = io.BytesIO()
    doc = SimpleDocTemplate(
        buffer,
        pagesize=A4,
        leftMargin=18 * mm,
        rightMargin=18 * mm,
        topMargin=35 * mm,
        bottomMargin=22 * mm,
        title=safe_text(report.title),
        author=safe_text(f"{signer.given} {signer.family}"),
        subject=safe_text(report.exam.exam_code.display or report.exam.exam_code.code),
        creator="segur_ris",
        keywords=[report.document_id],
        invariant=1,
        pageCompression=0,  # pikepdf compresses the streams once, in C, when it saves
        initialFontName=FONT,
        initialFontSize=9.5,
    )
    try:
        doc.build(
            _story(report),
            onFirstPage=furniture.header,
            onLaterPages=furniture.header,
            canvasmaker=_paged_canvas(furniture),
        )
    except PdfError:
        raise
    except Exception as exc:  # reportlab raises bare LayoutError/ValueError
        raise PdfError(f"mise en page impossible: {exc}", code="render") from None
    moment = report.effective_time if deterministic else _dt.datetime.now(_dt.UTC)
    return _to_pdfa(buffer.getvalue(), flavour, moment, report.language, validate_output)


def _to_pdfa(
    data: bytes, flavour: PdfaLevel, moment: _dt.datetime, language: str, check: bool
) -> bytes:
    """reportlab output → PDF/A ``flavour`` (output intent, XMP), written (and validated)."""
    import pikepdf.pdfa as pdfa

    with pikepdf.open(io.BytesIO(data)) as pdf:
        for page in pdf.pages:
            if "/Trans" in page.obj:  # reportlab writes an empty one; the validator refuses it
                del page.obj["/Trans"]
        info = pdf.docinfo
        info["/CreationDate"] = info["/ModDate"] = _pdf_date(moment)
        if "/Trapped" in info:
            del info["/Trapped"]
        pdf.Root.Lang = pikepdf.String(language)
        pdfa.prepare(pdf, flavour)
        fix_metadata_date(pdf, moment.isoformat())
        out = io.BytesIO()
        pdf.save(out, **save_kwargs(flavour))
    written = out.getvalue()
    problems = validate(written, flavour) if check else ()
    if problems:  # a bug of this module, never the caller's input
        raise PdfError(f"PDF/A-{flavour} non conforme: {'; '.join(problems[:3])}", code="pdfa")
    return written
