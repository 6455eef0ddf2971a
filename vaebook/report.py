"""Helpers for putting measured numbers into the chapters' prose and tables.

A number quoted in the book's text is never typed by hand: the notebook computes it,
then :func:`glue` records it in the cell's output, and the prose refers to it by name
with MyST-NB's ``glue:text`` role (for example, the role with content
``pca_error:.2f`` prints the value glued as ``pca_error`` with two decimals). These
helpers need only IPython, so the chapters run the same in Jupyter, in Colab and under
``pytest --nbval``.
"""

from __future__ import annotations

import ast
import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

__all__ = ["glue", "glued_values", "markdown_table"]

# The MIME prefix under which MyST-NB looks for glued values (hidden in the page).
_GLUE_PREFIX = "application/papermill.record/"


def glue(name: str, value: Any) -> None:
    """Records ``value`` under ``name``, for the prose's ``glue:text`` role to print.

    The value is stored in the cell's output but not shown, exactly as
    ``myst_nb.glue(name, value, display=False)`` does, without needing MyST-NB.

    Args:
        name: The key the prose refers to.
        value: A number or string.
    """
    from IPython.core.formatters import format_display_data
    from IPython.display import display

    if hasattr(value, "item") and getattr(value, "ndim", None) == 0:
        value = value.item()  # NumPy scalars print as np.float64(...); store plain numbers.
    bundle, metadata = format_display_data(value)
    metadata["scrapbook"] = {"name": name, "mime_prefix": _GLUE_PREFIX}
    display({_GLUE_PREFIX + key: data for key, data in bundle.items()}, raw=True, metadata=metadata)


def glued_values(notebook: str | os.PathLike) -> dict[str, Any]:
    """The values that a saved notebook's cells glued for its prose, by name.

    Lets one page quote another page's measured number (the Results page quotes
    chapter 5's), and lets checks compare them, without running anything again.

    Args:
        notebook: An ``.ipynb`` file with outputs.

    Returns:
        Each glued name with its value (numbers and strings, as Python objects).
    """
    content = json.loads(Path(notebook).read_text(encoding="utf-8"))
    values = {}
    for cell in content.get("cells", []):
        for output in cell.get("outputs", []):
            name = output.get("metadata", {}).get("scrapbook", {}).get("name")
            text = output.get("data", {}).get(_GLUE_PREFIX + "text/plain")
            if name is not None and text is not None:
                text = "".join(text) if isinstance(text, list) else text
                values[name] = ast.literal_eval(text)
    return values


def markdown_table(
    headers: Sequence[str], rows: Sequence[Sequence[Any]], float_format: str = "{:.2f}"
) -> Any:
    """Formats rows as a Markdown table that a notebook renders.

    Args:
        headers: Column titles.
        rows: One sequence of cells per row; floats use ``float_format``.
        float_format: Format of float cells.

    Returns:
        An ``IPython.display.Markdown`` object (the last expression of a cell is shown).
    """
    from IPython.display import Markdown

    def cell(value: Any) -> str:
        return float_format.format(value) if isinstance(value, float) else str(value)

    for row in rows:
        if len(row) != len(headers):
            raise ValueError(f"row {row!r} has {len(row)} cells for {len(headers)} headers.")
    lines = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    lines += ["| " + " | ".join(cell(value) for value in row) + " |" for row in rows]
    return Markdown("\n".join(lines))
