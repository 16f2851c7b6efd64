"""PDF/A of the imaging report (compte rendu d'imagerie) and of vendors' own PDFs.

* :func:`render_report_pdf` renders an :class:`~segur_ris.report.ImagingReport` with reportlab
  (embedded Vera fonts, A4, facility header, patient/exam/order blocks, sections, signature,
  "page n/N") and makes it PDF/A-1b (default, what MSSanté asks for) or PDF/A-2b with pikepdf
  (sRGB output intent shipped by ``pikepdf.pdfa``, XMP metadata); every file is validated by
  ``pikepdf.pdfa`` before it is returned.
* :func:`check_pdfa` reports whether a PDF passes that validator.
* :func:`ensure_pdfa` returns a vendor's PDF unchanged when it is already PDF/A, converts it
  when only structure/metadata are missing, and otherwise raises
  :class:`~segur_ris.errors.PdfError` saying why (encrypted, fonts not embedded, transparency
  in PDF/A-1b, JavaScript, attachments, signature, not a PDF, truncated, too large).

This package imports reportlab and pikepdf; the rest of the SDK imports it lazily.
"""

from __future__ import annotations

from segur_ris.pdf._pdfa import MAX_PDF_BYTES, PdfaCheck, PdfaLevel, check_pdfa, ensure_pdfa
from segur_ris.pdf._render import MAX_LOGO_BYTES, SECTION_TITLES, render_report_pdf

__all__ = [
    "MAX_LOGO_BYTES",
    "MAX_PDF_BYTES",
    "SECTION_TITLES",
    "PdfaCheck",
    "PdfaLevel",
    "check_pdfa",
    "ensure_pdfa",
    "render_report_pdf",
]
