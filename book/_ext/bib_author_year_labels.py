"""Author-year labels for the book's bibliography, the same as its in-text citations.

sphinxcontrib-bibtex writes an in-text citation with the *referencing* style
(``bibtex_reference_style: author_year`` in ``_config.yml``: "[Burda et al., 2015]"), but
labels the entries of the ``{bibliography}`` list with the *label* style of the pybtex
formatting style (``bibtex_default_style``, by default ``alpha``: "[BGS15]"). The two
would not match.

This local extension registers a pybtex formatting style, ``author_year_labels``: pybtex's
``alpha`` style (entries sorted by author, year and title) whose labels are built with the
same template and person style as sphinxcontrib-bibtex's default ``author_year`` citations,
so that an entry's label in the list reads exactly as its citations in the text. Two
entries that would get the same label (same authors, same year) get "a", "b", ... appended,
as BibTeX does, so that labels stay unique; their in-text citations do not show the letter.

``_config.yml`` loads it under ``sphinx: local_extensions:`` and selects it with
``bibtex_default_style: author_year_labels``. If ``bibtex_reference_style`` is changed, or
its person style customised, change :class:`AuthorYearLabelStyle` to match.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Iterator
from types import SimpleNamespace
from typing import Any

from pybtex.plugin import register_plugin
from pybtex.style.formatting.alpha import Style as AlphaStyle
from pybtex.style.labels import BaseLabelStyle
from sphinxcontrib.bibtex.style.referencing import PersonStyle
from sphinxcontrib.bibtex.style.template import join, year

STYLE_NAME = "author_year_labels"


class AuthorYearLabelStyle(BaseLabelStyle):
    """Labels "Author, year", "A and B, year" or "A et al., year", as author_year cites."""

    def format_labels(self, sorted_entries: Iterable[Any]) -> Iterator[str]:
        """Yields one label per entry, in the order of ``sorted_entries``.

        Args:
            sorted_entries: The pybtex entries of one bibliography, already sorted.

        Yields:
            The plain-text label of each entry.
        """
        # The template of sphinxcontrib-bibtex's parenthetical author-year citation, without
        # the link and the brackets: author (or editor, or title), a comma, the year.
        person = PersonStyle()
        template = join(sep=", ")[person.author_or_editor_or_title(full=False), year]
        context = SimpleNamespace(person=person)
        labels = [
            template.format_data({"entry": entry, "style": context}).render_as("text")
            for entry in sorted_entries
        ]
        counts = Counter(labels)
        used: Counter[str] = Counter()
        for label in labels:
            if counts[label] == 1:
                yield label
            else:
                yield label + chr(ord("a") + used[label])
                used[label] += 1


class AuthorYearLabelsStyle(AlphaStyle):
    """pybtex's alpha style (sorted by author, year, title) with author-year labels."""

    default_label_style = AuthorYearLabelStyle


def setup(app: Any) -> dict[str, Any]:
    """Registers the ``author_year_labels`` pybtex formatting style.

    Args:
        app: The Sphinx application.

    Returns:
        The extension's metadata.
    """
    register_plugin("pybtex.style.formatting", STYLE_NAME, AuthorYearLabelsStyle, force=True)
    return {"version": "1.0", "parallel_read_safe": True, "parallel_write_safe": True}
