"""segur_ris — the Ségur du numérique en santé for radiology information systems (RIS).

Subpackages, one per national service or standard: :mod:`segur_ris.ins` (identité nationale de
santé), :mod:`segur_ris.insi` (téléservice INSi), :mod:`segur_ris.sandbox` (local stand-ins of the
national services). Shared modules: :mod:`segur_ris.errors`, :mod:`segur_ris.config`,
:mod:`segur_ris.codes`.

Importing ``segur_ris`` is cheap: heavy dependencies (zeep, pydicom, reportlab, pikepdf) are
imported by the subpackages that need them, when they are used.
"""

from segur_ris.errors import SegurError

__version__ = "0.1.0"
__all__ = ["SegurError", "__version__"]
