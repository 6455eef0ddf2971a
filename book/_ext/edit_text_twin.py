"""Points a chapter's "Edit this page" button at its MyST Markdown twin.

The book renders each chapter's ``.ipynb`` (it carries the outputs of a full run), but
the text that people review and edit is the Jupytext-paired ``notebooks/NN_name.md``:
the ``.ipynb`` is regenerated from it (``tools/notebooks.py``). The theme builds the
edit link from the page's source suffix, read when the page is rendered, so setting
that suffix to ``.md`` for a chapter with a Markdown twin is enough.

Registered in ``_config.yml`` under ``sphinx: local_extensions:``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sphinx.application import Sphinx


def use_text_twin(
    app: Sphinx, pagename: str, templatename: str, context: dict[str, Any], doctree: Any
) -> None:
    """Makes the edit link of a notebook page open its ``.md`` twin, where one exists."""
    source = Path(app.srcdir) / f"{pagename}.ipynb"
    if source.exists() and source.with_suffix(".md").exists():
        context["page_source_suffix"] = ".md"


def setup(app: Sphinx) -> dict[str, Any]:
    """Registers the handler."""
    app.connect("html-page-context", use_text_twin)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
