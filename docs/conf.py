"""Sphinx configuration of the v2g-hostcap documentation site.

Build (offline, warnings as errors), from the repository root:

    python -m sphinx -W --keep-going -b html docs docs/_build/html

Generated at build time and git-ignored: `study_file.md` (from the study spec's JSON schema, `_ext/hostcap_docs.py`)
and `api/` (autosummary's pages of every module of hostcap.models, .feeders, .cosim and .studies, found
recursively, so a module that is added or moved needs no change here).
"""
import shutil
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent / "_ext"))
# autosummary writes a page per module but never removes one: a moved module's old page would fail the build
shutil.rmtree(Path(__file__).resolve().parent / "api", ignore_errors=True)

import hostcap  # noqa: E402  (the installed package: `pip install -e ".[docs]"`)

project = "v2g-hostcap"
author = "v2g-hostcap developers"
copyright = "the v2g-hostcap developers, MIT licence"
release = version = hostcap.__version__

extensions = [
    "myst_parser",
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "hostcap_docs",  # _ext/: the study-file reference, the docstrings as reStructuredText
]
source_suffix = {".rst": "restructuredtext", ".md": "markdown"}
root_doc = "index"
templates_path = ["_templates"]
# performance_table.md is included by performance.md (benchmarks/run.py rewrites it), not a page of its own
exclude_patterns = ["_build", "_ext", "_templates", "performance_table.md", "Thumbs.db", ".DS_Store"]

# Markdown pages: links such as [models](models.md#phases) resolve to the heading's anchor
myst_heading_anchors = 3
myst_enable_extensions = ["colon_fence"]

# API reference
autosummary_generate = True
autosummary_imported_members = False
autodoc_default_options = {"members": True, "show-inheritance": True}
autodoc_member_order = "bysource"
autodoc_typehints = "signature"
autodoc_inherit_docstrings = False  # ours only: a mosaik simulator's methods do not repeat mosaik's manual
autodoc_class_signature = "mixed"
add_module_names = False

# offline: no intersphinx, no remote images, no fonts or scripts from elsewhere (furo ships its assets)
html_theme = "furo"
html_title = f"v2g-hostcap {release}"
html_static_path: list[str] = []
html_show_sourcelink = False
