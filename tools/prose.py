"""Check that the pages speak to the learner: length, composed sentences, bookkeeping.

Three checks over every chapter (``notebooks/*.md``) and every page under ``book/``:

1. **Prose words per chapter.** The words of a chapter's Markdown cells, with the
   exercises and their solutions aside (everything from a heading that starts with
   "Exercises" or "Solutions"), display maths and MyST directive options left out. A
   chapter over ``MAX_WORDS`` fails.
2. **No sentence composed with if/else.** A code cell whose ``if``/``else`` branches (or
   conditional expression) hold a sentence (a string of four or more words) writes prose
   that changes with the run; the rule is to state the finding and guard it with an
   assertion instead. Strings inside ``raise`` and ``assert`` are messages, not prose,
   and are allowed.
3. **No run bookkeeping on a page.** No commit hashes, worktrees, histories of resumed
   runs or "targets met" in Markdown cells, in the text outputs a chapter shows, or on
   the book's pages: how a number was produced belongs in the README and benchmarks.

Usage::

    python tools/prose.py          # prints words per chapter; exits 1 on a problem
"""

from __future__ import annotations

import ast
import re
import sys
from pathlib import Path

import jupytext

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = ROOT / "notebooks"
BOOK = ROOT / "book"
MAX_WORDS = 3000
SENTENCE_WORDS = 4

# Pages whose composed sentences are still to be rewritten, with the reason. Their
# sentences are reported as warnings; every other check holds for them too. Empty this
# as the pages are reworked: a page listed here with nothing left to report fails.
PENDING: dict[str, str] = {}

# Phrases of run bookkeeping. A bare hexadecimal word of 7 to 40 characters with both a
# digit and a letter reads as a commit hash.
BOOKKEEPING = [
    re.compile(r"\bworktree", re.IGNORECASE),
    re.compile(r"\bgit (checkout|worktree|log)\b"),
    re.compile(r"\bresum(ed|ing) from\b", re.IGNORECASE),
    re.compile(r"\bthis session\b|\bearlier session|\bseveral sessions\b", re.IGNORECASE),
    re.compile(r"\btarget[^.]{0,40}\bmet\b", re.IGNORECASE),
    re.compile(r"\bcommit\b", re.IGNORECASE),
]
HASH = re.compile(r"(?<![\w#./-])(?=[0-9a-f]*[0-9])(?=[0-9a-f]*[a-f])[0-9a-f]{7,40}(?![\w-])")
EXERCISES = re.compile(r"^#{1,3}\s+(Exercises|Solutions)\b", re.MULTILINE)
DISPLAY_MATH = re.compile(r"\$\$.*?\$\$|```\{math\}.*?```", re.DOTALL)
DIRECTIVE_OPTION = re.compile(r"^:[\w-]+:.*$", re.MULTILINE)
FENCE_LINE = re.compile(r"^(```|:::).*$", re.MULTILINE)
COMMENT = re.compile(r"<!--.*?-->|^%.*$", re.DOTALL | re.MULTILINE)
TARGET = re.compile(r"^\([\w-]+\)=\s*$", re.MULTILINE)


def prose_words(markdown_cells: list[str]) -> int:
    """Words of a chapter's prose: exercises, solutions, display maths and options aside."""
    text = "\n\n".join(markdown_cells)
    match = EXERCISES.search(text)
    if match:
        text = text[: match.start()]
    for pattern in (COMMENT, DISPLAY_MATH, DIRECTIVE_OPTION, FENCE_LINE, TARGET):
        text = pattern.sub(" ", text)
    return len(re.findall(r"[^\s#|*>-]\S*", text))


def _sentences(node: ast.AST) -> list[str]:
    """Strings of prose (``SENTENCE_WORDS`` words or more) under a node, messages aside."""
    found = []
    for child in ast.walk(node):
        if isinstance(child, (ast.Raise, ast.Assert)):
            continue
        if isinstance(child, ast.Constant) and isinstance(child.value, str):
            if len(child.value.split()) >= SENTENCE_WORDS:
                found.append(child.value)
    # Strings inside a raise or an assert are messages; take them back out.
    for child in ast.walk(node):
        if isinstance(child, (ast.Raise, ast.Assert)):
            for inner in ast.walk(child):
                if isinstance(inner, ast.Constant) and inner.value in found:
                    found.remove(inner.value)
    return found


def composed_sentences(source: str) -> list[str]:
    """Sentences a code cell chooses with ``if``/``else`` (empty when it chooses none)."""
    lines = [line for line in source.splitlines() if not line.lstrip().startswith(("%", "!"))]
    try:
        tree = ast.parse("\n".join(lines))
    except SyntaxError:
        return []
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.If):
            branches = [*node.body, *node.orelse]
        elif isinstance(node, ast.IfExp):
            branches = [node.body, node.orelse]
        else:
            continue
        for branch in branches:
            found += [s for s in _sentences(branch) if s not in found]
    return found


def bookkeeping(text: str) -> list[str]:
    """The phrases of run bookkeeping in a text."""
    found = [match.group(0) for pattern in BOOKKEEPING for match in pattern.finditer(text)]
    found += [f"hash {match.group(0)}" for match in HASH.finditer(text)]
    return found


def _shown_outputs(notebook: Path) -> str:
    """The text a chapter's committed outputs show (streams and Markdown)."""
    if not notebook.exists():
        return ""
    content = jupytext.read(notebook)
    shown = []
    for cell in content.cells:
        for output in cell.get("outputs", []):
            if "text" in output:
                shown.append(output["text"])
            shown.append(output.get("data", {}).get("text/markdown", ""))
    return "\n".join(shown)


def check() -> tuple[dict[str, int], list[str], list[str]]:
    """Words per chapter, the problems found on every page, and warnings."""
    words, problems, warnings = {}, [], []
    for markdown in sorted(NOTEBOOKS.glob("*.md")):
        content = jupytext.read(markdown)
        prose = [cell.source for cell in content.cells if cell.cell_type == "markdown"]
        name = markdown.stem
        if name != "results":
            words[name] = prose_words(prose)
            if words[name] > MAX_WORDS:
                problems.append(f"{name}: {words[name]:,} words of prose (at most {MAX_WORDS:,})")
        composed = []
        for index, cell in enumerate(content.cells):
            if cell.cell_type == "code":
                sentences = composed_sentences(cell.source)
                if sentences:
                    composed.append(
                        f"{name}, cell {index}: {len(sentences)} strings of a sentence "
                        f"chosen by if/else, e.g. {sentences[0][:50]!r}"
                    )
        if name in PENDING:
            warnings += [f"{line} ({PENDING[name]})" for line in composed]
            if not composed:
                problems.append(f"{name} is listed as PENDING but has nothing pending")
        else:
            problems += composed
        shown = "\n".join(prose) + "\n" + _shown_outputs(markdown.with_suffix(".ipynb"))
        found = [f"{name}: run bookkeeping on the page: {p!r}" for p in bookkeeping(shown)]
        if name in PENDING:
            warnings += [f"{line} ({PENDING[name]})" for line in found]
        else:
            problems += found
    for page in sorted(BOOK.glob("*.md")):
        text = page.read_text(encoding="utf-8")
        problems += [f"book/{page.name}: run bookkeeping: {p!r}" for p in bookkeeping(text)]
    return words, problems, warnings


def main() -> None:
    """Command-line entry point."""
    words, problems, warnings = check()
    for name, count in words.items():
        print(f"{count:6,} words  {name}")
    for warning in warnings:
        print(f"pending: {warning}")
    for problem in problems:
        print(f"FAIL {problem}")
    if not problems:
        print(f"ok: every chapter within {MAX_WORDS:,} words; no composed sentences or bookkeeping")
    sys.exit(1 if problems else 0)


if __name__ == "__main__":
    main()
