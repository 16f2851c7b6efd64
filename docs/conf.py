"""Sphinx configuration of the segur_ris documentation."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

project = "segur_ris"
author = "segur_ris developers"
copyright = "2026, segur_ris developers"
release = "0.1.0"
language = "en"

extensions = ["sphinx.ext.autodoc", "sphinx.ext.napoleon", "sphinx.ext.viewcode"]
autodoc_member_order = "bysource"
autodoc_typehints = "description"
autodoc_default_options = {"members": True, "show-inheritance": True}
nitpicky = False
html_theme = "furo"
html_title = "segur_ris"
html_static_path = ["_static"]
exclude_patterns = ["_build"]
suppress_warnings = ["ref.python"]
