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
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

__all__ = [
    "REPOSITORY",
    "benchmark_result",
    "chapter_values",
    "glue",
    "glue_all",
    "glued_values",
    "markdown_table",
]

#: The repository the book is published from (``_config.yml``'s ``repository.url``).
REPOSITORY = "https://github.com/vaebook/vaebook"

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


def glue_all(values: Mapping[str, Any]) -> None:
    """Records every value of a mapping under its key, as :func:`glue` does one.

    A chapter's numbers for its prose, in one call instead of a line each.

    Args:
        values: Names the prose refers to, and their numbers or strings.

    Example:
        >>> glue_all({"error": 8.13, "epochs": 100})  # doctest: +SKIP
    """
    for name, value in values.items():
        if not isinstance(name, str) or not name.isidentifier():
            raise ValueError(f"glue names must be identifiers; got {name!r}.")
        glue(name, value)


def glued_values(notebook: str | os.PathLike) -> dict[str, Any]:
    """The values that a saved notebook's cells glued for its prose, by name.

    Lets one page quote another page's measured number (the Results page quotes
    chapter 5's), and lets checks compare them, without running anything again.

    Args:
        notebook: An ``.ipynb`` file with outputs.

    Returns:
        Each glued name with its value (numbers and strings, as Python objects).
    """
    return _glued_in(json.loads(Path(notebook).read_text(encoding="utf-8")))


def _glued_in(content: dict[str, Any]) -> dict[str, Any]:
    """The glued values of a parsed notebook."""
    values = {}
    for cell in content.get("cells", []):
        for output in cell.get("outputs", []):
            name = output.get("metadata", {}).get("scrapbook", {}).get("name")
            text = output.get("data", {}).get(_GLUE_PREFIX + "text/plain")
            if name is not None and text is not None:
                text = "".join(text) if isinstance(text, list) else text
                values[name] = ast.literal_eval(text)
    return values


def benchmark_result(
    name: str, start: str | os.PathLike | None = None, *, download: bool = True
) -> dict[str, Any]:
    """A benchmark's saved result, ``benchmarks/results/<name>.json``, as a dict.

    A page that quotes a reference run reads the file from the checkout it runs in:
    ``start`` (default: the working folder) or the nearest folder above it that holds
    ``benchmarks/results``. In Colab, where a chapter runs alone without the
    repository, the same file is read from the published repository's main branch.

    Args:
        name: The result's name, e.g. ``"fashion_reference"``.
        start: Where to begin looking for ``benchmarks/results``.
        download: Whether to fetch the file when no checkout holds it.

    Returns:
        The parsed JSON.

    Raises:
        ValueError: If ``name`` is not a plain file name.
        FileNotFoundError: If neither the checkout nor the repository has the file.
    """
    _check_plain_name(name, ".json", "a result's name like 'fashion_reference'")
    text = _repository_file(f"benchmarks/results/{name}.json", start, download)
    return json.loads(text)


def chapter_values(
    name: str, start: str | os.PathLike | None = None, *, download: bool = True
) -> dict[str, Any]:
    """The numbers another chapter glued, from its saved full run, by name.

    Chapter 6 compares its convolutional VAE with chapter 5's dense one at the same
    number of importance samples: it quotes chapter 5's measured numbers instead of
    training the dense model again. The notebook ``notebooks/<name>.ipynb`` is read
    from the checkout (``start`` or the nearest folder above it), or, in Colab, from
    the published repository's main branch.

    Args:
        name: The chapter's file name without extension, e.g. ``"05_vae_in_practice"``.
        start: Where to begin looking for ``notebooks/``.
        download: Whether to fetch the notebook when no checkout holds it.

    Returns:
        Each glued name with its value, as :func:`glued_values` reads them.

    Raises:
        ValueError: If ``name`` is not a plain file name.
        FileNotFoundError: If neither the checkout nor the repository has the notebook.
    """
    _check_plain_name(name, ".ipynb", "a chapter's name like '05_vae_in_practice'")
    text = _repository_file(f"notebooks/{name}.ipynb", start, download)
    return _glued_in(json.loads(text))


def _check_plain_name(name: str, extension: str, example: str) -> None:
    if not isinstance(name, str) or not name or Path(name).name != name:
        raise ValueError(f"name must be {example}; got {name!r}.")
    if name.endswith(extension):
        raise ValueError(f"name must be {example}, without {extension}; got {name!r}.")


def _repository_file(relative: str, start: str | os.PathLike | None, download: bool) -> str:
    """A file of the repository, from the nearest checkout above ``start`` or online."""
    here = Path.cwd() if start is None else Path(start)
    for folder in (here, *here.resolve().parents):
        path = folder / relative
        if path.is_file():
            return path.read_text(encoding="utf-8")
    address = (
        REPOSITORY.replace("https://github.com/", "https://raw.githubusercontent.com/")
        + f"/main/{relative}"
    )
    if download:
        import urllib.error
        import urllib.request

        try:
            with urllib.request.urlopen(address, timeout=30) as response:
                return response.read().decode("utf-8")
        except (urllib.error.URLError, OSError) as error:
            reason = f"downloading {address} failed ({error})"
    else:
        reason = "downloading was turned off"
    raise FileNotFoundError(
        f"No {relative} in {here} or a folder above it, and {reason}. Run the chapter "
        f"from a clone of {REPOSITORY} (its notebooks/ folder), or connect to the internet."
    )


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
