"""tools/prose.py: what it counts as prose, as a composed sentence and as bookkeeping."""

import importlib.util
from pathlib import Path

TOOL = Path(__file__).resolve().parent.parent / "tools" / "prose.py"
spec = importlib.util.spec_from_file_location("prose_tool", TOOL)
prose = importlib.util.module_from_spec(spec)
spec.loader.exec_module(prose)


def test_prose_words_leave_out_maths_options_and_exercises():
    cells = [
        "# A title\n\nOne two three.\n\n$$\na + b = c\n$$",
        "```{admonition} Note\n:class: dropdown\n\nFour five.\n```",
        "## Exercises\n\n1. Six seven eight nine ten.",
        "More words after the exercises heading are aside too.",
    ]
    # "A title", "One two three." and "Four five."; the fence line is left out.
    assert prose.prose_words(cells) == 7


def test_composed_sentences_are_found_in_if_else_and_conditional_expressions():
    source = (
        "if gap > 0:\n"
        "    text = 'the code helps by a wide margin'\n"
        "else:\n"
        "    text = 'the code does not help at all'\n"
        "label = 'a short label' if x else 'b'\n"
        "word = 'sentence with four words' if x else 'and another one here'\n"
    )
    found = prose.composed_sentences(source)
    assert found == [
        "the code helps by a wide margin",
        "the code does not help at all",
        "sentence with four words",
        "and another one here",
    ]


def test_messages_of_raise_and_assert_are_not_prose():
    source = (
        "if x < 0:\n"
        "    raise ValueError('x must not be negative here')\n"
        "assert y, 'y must hold for the text to be true'\n"
        "%pip install -q something\n"
    )
    assert prose.composed_sentences(source) == []
    # A fixed sentence with numbers put in, with no branch, is allowed.
    assert prose.composed_sentences("Markdown(f'The error is {e:.2f} per image.')") == []


def test_bookkeeping_finds_hashes_worktrees_and_resumed_runs():
    text = (
        "Trained before commit cb63bb6; run it in a git worktree at 5fdce64, "
        "resumed from the checkpoints; target met."
    )
    found = prose.bookkeeping(text)
    assert "hash cb63bb6" in found and "hash 5fdce64" in found
    assert any("worktree" in item for item in found)
    assert "resumed from" in found and "target met" in found
    # Numbers, words and colours that only look like hashes are not flagged.
    clean = "It reached 3.37 % with seed 1234567 and colour #a1b2c3d; a decade later."
    assert prose.bookkeeping(clean) == []


def test_the_book_passes_or_lists_what_is_pending():
    words, problems, warnings = prose.check()
    assert "01_autoencoder_principle" in words and len(words) >= 7, words
    assert problems == [], problems
    # A page is pending only while it has something pending.
    for name in prose.PENDING:
        assert any(line.startswith(name) for line in warnings), name
