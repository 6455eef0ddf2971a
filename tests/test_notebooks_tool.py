"""tools/notebooks.py: a sync keeps the cell ids of the cells it does not change."""

import importlib.util
from pathlib import Path

import nbformat

TOOL = Path(__file__).resolve().parent.parent / "tools" / "notebooks.py"
spec = importlib.util.spec_from_file_location("notebooks_tool", TOOL)
notebooks_tool = importlib.util.module_from_spec(spec)
spec.loader.exec_module(notebooks_tool)


def _cells(*sources: str, ids: tuple[str, ...] = ()) -> list:
    cells = [nbformat.v4.new_code_cell(source) for source in sources]
    for cell, cell_id in zip(cells, ids):
        cell.id = cell_id
    return cells


def test_keep_ids_unchanged_changed_new_and_repeated_cells():
    old = _cells("a = 1", "b = 2", "a = 1", "c = 3", ids=("id-a", "id-b", "id-a2", "id-c"))
    # Unchanged, edited in place, a repeated source, unchanged, and a new last cell.
    new = _cells("a = 1", "b = 20", "a = 1", "c = 3", "d = 4")
    fresh = new[-1].id
    notebooks_tool._keep_ids(old, new)
    assert [cell.id for cell in new] == ["id-a", "id-b", "id-a2", "id-c", fresh]


def test_keep_ids_never_gives_one_id_twice():
    old = _cells("x = 1", "y = 2", ids=("id-x", "id-y"))
    # The cells swap places and one is edited: the unchanged one keeps its id, and
    # the edited one may not take that id again from the old cell at its position.
    new = _cells("y = 2", "x = 10")
    notebooks_tool._keep_ids(old, new)
    assert new[0].id == "id-y"
    assert new[1].id != "id-y"
    assert len({cell.id for cell in new}) == 2


def test_execute_records_no_cell_timestamps():
    # nbclient would write four timestamps into every cell's metadata at each run.
    notebook = nbformat.v4.new_notebook(cells=_cells("x = 1"))
    assert notebooks_tool._client(notebook, timeout=60).record_timing is False


def test_sync_of_a_markdown_edit_keeps_outputs_and_kernel_metadata(tmp_path, monkeypatch):
    markdown = tmp_path / "chapter.md"
    notebook = tmp_path / "chapter.ipynb"
    header = (
        "---\njupytext:\n  formats: ipynb,md:myst\n  text_representation:\n"
        "    extension: .md\n    format_name: myst\n---\n\n"
    )
    cell = "```{code-cell} ipython3\nx = 1\nx\n```\n"
    # The executed notebook: the code cell's output and the kernel's language_info.
    executed = nbformat.v4.new_notebook(
        cells=[nbformat.v4.new_markdown_cell("Old prose."), *_cells("x = 1\nx")]
    )
    executed.cells[1].outputs = [
        nbformat.v4.new_output("execute_result", {"text/plain": "1"}, execution_count=1)
    ]
    executed.cells[1].execution_count = 1
    executed.metadata["language_info"] = {"name": "python", "version": "3.11.7"}
    nbformat.write(executed, notebook)
    markdown.write_text(header + "New prose.\n\n" + cell, encoding="utf-8")
    monkeypatch.setattr(notebooks_tool, "pairs", lambda: [(markdown, notebook)])
    monkeypatch.setattr(notebooks_tool, "ROOT", tmp_path)
    notebooks_tool.sync([])
    synced = nbformat.read(notebook, as_version=4)
    assert synced.cells[0].source == "New prose."
    assert synced.cells[1].outputs[0]["data"]["text/plain"] == "1"
    assert synced.metadata["language_info"] == {"name": "python", "version": "3.11.7"}
