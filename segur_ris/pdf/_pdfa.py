"""PDF/A checking and safe conversion of a vendor's PDF (pikepdf and its ``pikepdf.pdfa``).

The validator is pikepdf's allowlist validator (built from the veraPDF rule catalogue): an
approval is meant to be reliable, a denial may be a false alarm. :func:`ensure_pdfa` converts a
PDF only when the change is structural (output intent, XMP metadata, PDF version): it never
embeds fonts, flattens transparency, strips scripts, drops attachments or breaks a signature;
such files are refused with a French message saying why.
"""

from __future__ import annotations

import io
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, Literal, get_args

import pikepdf
import pikepdf.pdfa as pdfa

from segur_ris.errors import PdfError

__all__ = ["MAX_PDF_BYTES", "PdfaCheck", "PdfaLevel", "check_pdfa", "ensure_pdfa"]

PdfaLevel = Literal["1b", "2b"]
_LEVELS: tuple[str, ...] = get_args(PdfaLevel)

#: Default size limit of an input PDF (an MSSanté mail is limited to 25 MB with its base64).
MAX_PDF_BYTES = 20 * 1024 * 1024

_FONT_FILES = ("/FontFile", "/FontFile2", "/FontFile3")
_NORMAL_BLEND = ("/Normal", "/Compatible")
_MAX_LISTED = 8


@dataclass(frozen=True, slots=True)
class PdfaCheck:
    """Outcome of :func:`check_pdfa`.

    ``ok`` is true when pikepdf's validator approves the file for the requested level;
    ``level`` is the level the XMP metadata claims (``"1b"``, ``"2b"``, ``"2u"``…) or ``None``;
    ``problems`` lists the validator findings (and the refusal reasons found before it);
    ``pages`` is 0 when the file cannot be opened (password-protected).
    """

    ok: bool
    level: str | None
    problems: tuple[str, ...]
    encrypted: bool
    pages: int


def check_level(level: str) -> PdfaLevel:
    """``level`` as a :data:`PdfaLevel`; :class:`PdfError` (code ``level``) otherwise."""
    if level not in _LEVELS:
        raise PdfError(
            f"niveau PDF/A {level!r} non pris en charge (attendu: {', '.join(_LEVELS)})",
            code="level",
        )
    return level  # type: ignore[return-value]


def save_kwargs(level: PdfaLevel) -> dict[str, Any]:
    """The :meth:`pikepdf.Pdf.save` settings for ``level`` (content-derived trailer /ID)."""
    return dict(pdfa.resolve_save_kwargs(level, deterministic_id=True))


def validate(data: bytes, level: PdfaLevel) -> list[str]:
    """Findings of pikepdf's PDF/A validator on written bytes (empty: approved)."""
    report = pdfa.validate_written(io.BytesIO(data), level)
    return [str(finding) for finding in report.findings]


def _precheck(data: bytes, max_bytes: int) -> None:
    if not isinstance(data, bytes | bytearray | memoryview):
        raise PdfError("le PDF doit être fourni en octets (bytes)", code="not_pdf")
    if len(data) > max_bytes:
        raise PdfError(
            f"PDF trop volumineux: {len(data)} octets (limite {max_bytes} octets)",
            code="too_large",
        )
    if b"%PDF-" not in bytes(data[:1024]):
        raise PdfError("ce fichier n'est pas un PDF (en-tête %PDF- absent)", code="not_pdf")
    if b"%%EOF" not in bytes(data[-2048:]):
        raise PdfError("PDF tronqué: marqueur de fin %%EOF absent", code="truncated")


def _open(data: bytes) -> pikepdf.Pdf:
    try:
        pdf = pikepdf.open(io.BytesIO(bytes(data)))
    except pikepdf.PasswordError:
        raise PdfError(
            "PDF chiffré (protégé par mot de passe): interdit en PDF/A", code="encrypted"
        ) from None
    except (pikepdf.PdfError, ValueError, RuntimeError) as exc:
        raise PdfError(f"PDF illisible ou endommagé: {exc}", code="damaged") from None
    warnings = pdf.get_warnings()
    if warnings:
        pdf.close()
        raise PdfError(f"PDF endommagé: {warnings[0]}", code="damaged")
    return pdf


def _claimed_level(pdf: pikepdf.Pdf) -> str | None:
    try:
        meta = pdf.open_metadata(set_pikepdf_as_editor=False, update_docinfo=False)
        status = str(meta.pdfa_status)
    except Exception:  # unreadable XMP: no claim
        return None
    return status.lower() or None


def check_pdfa(data: bytes, *, level: str = "1b", max_bytes: int = MAX_PDF_BYTES) -> PdfaCheck:
    """Check ``data`` against PDF/A ``level`` with pikepdf's validator.

    Raises :class:`PdfError` when ``data`` is not a PDF (``not_pdf``), is truncated
    (``truncated``) or damaged (``damaged``), or exceeds ``max_bytes`` (``too_large``); an
    encrypted PDF is reported (``encrypted=True``, ``ok=False``), not raised.
    """
    flavour = check_level(level)
    _precheck(data, max_bytes)
    try:
        pdf = _open(data)
    except PdfError as exc:
        if exc.code != "encrypted":
            raise
        return PdfaCheck(False, None, (exc.message,), True, 0)
    with pdf:
        claimed = _claimed_level(pdf)
        encrypted = bool(pdf.is_encrypted)
        pages = len(pdf.pages)
    problems = validate(bytes(data), flavour)
    if encrypted:
        problems.insert(0, "PDF chiffré: interdit en PDF/A")
    if claimed != flavour:
        problems.insert(0, f"PDF/A-{flavour} non déclaré dans les métadonnées XMP")
    return PdfaCheck(not problems, claimed, tuple(problems), encrypted, pages)


def ensure_pdfa(data: bytes, *, level: str = "1b", max_bytes: int = MAX_PDF_BYTES) -> bytes:
    """``data`` as PDF/A ``level``: returned unchanged when already approved, else converted
    when that is safe (output intent, XMP metadata, PDF version), else :class:`PdfError`.

    Refusal codes: ``encrypted``, ``fonts`` (fonts not embedded), ``transparency`` (PDF/A-1b),
    ``javascript``, ``attachments``, ``signed``, ``annotations`` (conversion would drop some),
    ``pdfa`` (still not approved after conversion), plus those of :func:`check_pdfa`.
    """
    flavour = check_level(level)
    _precheck(data, max_bytes)
    with _open(data) as pdf:
        if pdf.is_encrypted:
            raise PdfError(
                "PDF chiffré: interdit en PDF/A, à fournir non chiffré", code="encrypted"
            )
        if _claimed_level(pdf) == flavour and not validate(bytes(data), flavour):
            return bytes(data)
        _refuse_unsafe(pdf, flavour)
        return _convert(pdf, flavour)


def _convert(pdf: pikepdf.Pdf, flavour: PdfaLevel) -> bytes:
    for page in pdf.pages:
        trans = page.obj.get("/Trans")
        if isinstance(trans, pikepdf.Dictionary) and len(trans.keys()) == 0:
            del page.obj["/Trans"]
    try:
        prepared = pdfa.prepare(pdf, flavour)
    except (ValueError, pikepdf.PdfError) as exc:
        raise PdfError(f"conversion PDF/A-{flavour} impossible: {exc}", code="pdfa") from None
    dropped = [sentence for kind, sentence in prepared.messages() if kind == "warning"]
    if dropped:
        raise PdfError(
            f"conversion PDF/A-{flavour} refusée, elle supprimerait du contenu: {dropped[0]}",
            code="annotations",
        )
    out = io.BytesIO()
    pdf.save(out, **save_kwargs(flavour))
    converted = out.getvalue()
    problems = validate(converted, flavour)
    if problems:
        shown = "; ".join(problems[:3])
        raise PdfError(
            f"PDF non convertible sans risque en PDF/A-{flavour} ({len(problems)} problème(s)): "
            f"{shown}",
            code="pdfa",
        )
    return converted


# --- refusal reasons ------------------------------------------------------------------------


def _objects(pdf: pikepdf.Pdf) -> Iterator[pikepdf.Object]:
    """Every indirect dictionary or stream and the direct dictionaries nested in them."""
    for obj in pdf.objects:
        if isinstance(obj, pikepdf.Dictionary | pikepdf.Stream):
            yield obj
            yield from _direct_children(obj, 0)


def _direct_children(obj: pikepdf.Object, depth: int) -> Iterator[pikepdf.Object]:
    # Direct objects cannot form cycles (only references can); the depth bound is a guard.
    if depth > 32:
        return
    if isinstance(obj, pikepdf.Array):
        values: list[Any] = list(obj)
    else:
        values = [obj.get(key) for key in list(obj.keys())]
    for value in values:
        if isinstance(value, pikepdf.Dictionary | pikepdf.Array) and not value.is_indirect:
            if isinstance(value, pikepdf.Dictionary):
                yield value
            yield from _direct_children(value, depth + 1)


def _name(value: Any) -> str:
    return str(value) if isinstance(value, pikepdf.Name) else ""


def _listing(names: set[str]) -> str:
    ordered = sorted(names)
    text = ", ".join(ordered[:_MAX_LISTED])
    return text + (f" (+{len(ordered) - _MAX_LISTED})" if len(ordered) > _MAX_LISTED else "")


def _unembedded_fonts(obj: pikepdf.Object) -> str | None:
    if _name(obj.get("/Type")) != "/Font":
        return None
    subtype = _name(obj.get("/Subtype"))
    if subtype in ("/Type0", "/Type3"):  # glyphs in the descendant font / in content streams
        return None
    descriptor = obj.get("/FontDescriptor")
    if isinstance(descriptor, pikepdf.Dictionary) and any(k in descriptor for k in _FONT_FILES):
        return None
    return str(obj.get("/BaseFont", "?")).lstrip("/")


def _is_javascript(obj: pikepdf.Object) -> bool:
    return _name(obj.get("/S")) == "/JavaScript" or "/JS" in obj


def _transparency(obj: pikepdf.Object) -> bool:
    smask = obj.get("/SMask")
    if smask is not None and _name(smask) != "/None":
        return True
    for key in ("/CA", "/ca"):
        alpha = obj.get(key)
        if alpha is not None and float(alpha) < 1.0:
            return True
    blend = obj.get("/BM")
    if blend is not None and _name(blend) not in _NORMAL_BLEND:
        return True
    group = obj.get("/Group")
    return isinstance(group, pikepdf.Dictionary) and _name(group.get("/S")) == "/Transparency"


def _refuse_unsafe(pdf: pikepdf.Pdf, flavour: PdfaLevel) -> None:
    """Raise :class:`PdfError` for what only the producing software can fix safely."""
    fonts: set[str] = set()
    javascript = transparency = attachment = signed = False
    for obj in _objects(pdf):
        font = _unembedded_fonts(obj)
        if font is not None:
            fonts.add(font)
        javascript = javascript or _is_javascript(obj)
        transparency = transparency or _transparency(obj)
        attachment = attachment or "/EF" in obj or _name(obj.get("/Subtype")) == "/FileAttachment"
        signed = signed or (_name(obj.get("/FT")) == "/Sig" and "/V" in obj)
    names = pdf.Root.get("/Names")
    if isinstance(names, pikepdf.Dictionary):
        javascript = javascript or "/JavaScript" in names
        attachment = attachment or "/EmbeddedFiles" in names
    if fonts:
        raise PdfError(
            f"polices non incorporées: {_listing(fonts)} (PDF/A exige l'incorporation de toutes "
            "les polices; à corriger dans le logiciel qui produit le PDF)",
            code="fonts",
        )
    if javascript:
        raise PdfError("le PDF contient du JavaScript, interdit en PDF/A", code="javascript")
    if signed:
        raise PdfError("PDF signé: la conversion en PDF/A invaliderait la signature", code="signed")
    if attachment:
        raise PdfError(
            f"le PDF contient des pièces jointes, refusées en PDF/A-{flavour}", code="attachments"
        )
    if transparency and flavour == "1b":
        raise PdfError(
            "le PDF utilise la transparence, interdite en PDF/A-1b (la produire sans "
            "transparence ou demander le PDF/A-2b)",
            code="transparency",
        )


_METADATA_DATE = re.compile(rb"<xmp:MetadataDate>[^<]*</xmp:MetadataDate>")


def fix_metadata_date(pdf: pikepdf.Pdf, iso: str) -> None:
    """Set xmp:MetadataDate (which :func:`pikepdf.pdfa.prepare` sets to *now*) to ``iso``."""
    metadata = pdf.Root.get("/Metadata")
    if isinstance(metadata, pikepdf.Stream):
        packet = metadata.read_bytes()
        fixed = _METADATA_DATE.sub(
            b"<xmp:MetadataDate>" + iso.encode("ascii") + b"</xmp:MetadataDate>", packet, count=1
        )
        if fixed != packet:
            metadata.write(fixed)
