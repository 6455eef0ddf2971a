"""Keep the chapters' Jupytext pairs in sync, check them, and regenerate their outputs.

Each chapter is a MyST Markdown file (``notebooks/NN_name.md``, the text reviewed in
diffs) paired with a notebook (``notebooks/NN_name.ipynb``) that carries the outputs
of a full-length run, which the book renders and Colab opens.

Usage::

    python tools/notebooks.py sync      # copy the .md sources into the .ipynb files
    python tools/notebooks.py execute   # full-length run of every chapter, in place
    python tools/notebooks.py execute notebooks/02_fashion_mnist_reconstruction.ipynb
    python tools/notebooks.py execute --quick /tmp/quick  # try out, quick mode
    python tools/notebooks.py check     # pairs in sync, executed top to bottom, full run
    python tools/notebooks.py times     # the README's table of full-run times

``execute`` runs each notebook top to bottom in one fresh kernel with quick mode off
and records that in the notebook's metadata; ``check`` fails if a committed notebook
was run in quick mode, out of order, partly, or with an error.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import sys
import time
from pathlib import Path

import jupytext
import nbformat
from nbclient import NotebookClient

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from vaebook.report import glued_values  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = ROOT / "notebooks"
KERNEL = "python3"


def pairs() -> list[tuple[Path, Path]]:
    """The (markdown, notebook) pairs, in chapter order."""
    found = []
    for markdown in sorted(NOTEBOOKS.glob("*.md")):
        if "jupytext" in markdown.read_text(encoding="utf-8").split("---")[1]:
            found.append((markdown, markdown.with_suffix(".ipynb")))
    return found


def _cell_key(cell) -> tuple:
    tags = tuple(cell.get("metadata", {}).get("tags", []))
    return cell.cell_type, cell.source.strip(), tags


def _keep_ids(old_cells: list, new_cells: list) -> None:
    """Gives new cells the ids of the old ones, so that a sync changes only what changed.

    A cell with the same type and source as an old one takes its id (in order, where a
    source repeats); a changed cell takes the id of the old cell at its position, if no
    other cell took that id; any other cell keeps the fresh id Jupytext gave it.
    """
    by_source: dict[tuple, list[str]] = {}
    for cell in old_cells:
        if "id" in cell:
            by_source.setdefault((cell.cell_type, cell.source.strip()), []).append(cell.id)
    taken = set()
    matched = []
    for cell in new_cells:
        ids = by_source.get((cell.cell_type, cell.source.strip()))
        matched.append(ids.pop(0) if ids else None)
        taken.update(i for i in matched[-1:] if i)
    for index, (cell, cell_id) in enumerate(zip(new_cells, matched)):
        if cell_id is None and index < len(old_cells):
            candidate = old_cells[index].get("id")
            if candidate and candidate not in taken:
                cell_id = candidate
                taken.add(candidate)
        if cell_id is not None:
            cell.id = cell_id


def sync(paths: list[Path]) -> None:
    """Writes each .md's cells into its .ipynb, keeping outputs of unchanged code cells."""
    for markdown, notebook in pairs():
        if paths and markdown not in paths and notebook not in paths:
            continue
        text = jupytext.read(markdown)
        if notebook.exists():
            old = nbformat.read(notebook, as_version=4)
            outputs = {
                cell.source.strip(): (cell.get("outputs", []), cell.get("execution_count"))
                for cell in old.cells
                if cell.cell_type == "code"
            }
            for cell in text.cells:
                if cell.cell_type == "code" and cell.source.strip() in outputs:
                    cell.outputs, cell.execution_count = outputs[cell.source.strip()]
            _keep_ids(old.cells, text.cells)
            text.metadata["vaebook"] = old.metadata.get("vaebook", {})
            # What the last execution recorded about its kernel stays too.
            if "language_info" in old.metadata:
                text.metadata["language_info"] = old.metadata["language_info"]
        text.metadata["kernelspec"] = {
            "name": KERNEL,
            "display_name": "Python 3 (ipykernel)",
            "language": "python",
        }
        text.metadata.setdefault("jupytext", {})["formats"] = "ipynb,md:myst"
        jupytext.write(text, notebook, fmt="ipynb")
        print(f"synced {notebook.relative_to(ROOT)}")


def _client(content: nbformat.NotebookNode, timeout: int) -> NotebookClient:
    """A client that runs the notebook in the chapters' folder, as the book does.

    It records no per-cell timestamps: they would change every cell's metadata at each
    run, and a sync (which rebuilds cells from the .md) would drop them again.
    """
    return NotebookClient(
        content,
        timeout=timeout,
        kernel_name=KERNEL,
        record_timing=False,
        resources={"metadata": {"path": str(NOTEBOOKS)}},
    )


def execute(paths: list[Path], timeout: int, quick_out: Path | None = None) -> None:
    """Runs notebooks top to bottom in a fresh kernel and saves their outputs.

    Full length, in place; or, with ``quick_out``, in quick mode into that folder (for
    trying a chapter out: quick outputs are never committed).
    """
    env_quick = os.environ.pop("VAEBOOK_QUICK", None)
    if quick_out is not None:
        os.environ["VAEBOOK_QUICK"] = "1"
        quick_out.mkdir(parents=True, exist_ok=True)
    elif env_quick not in (None, "", "0"):
        print("note: VAEBOOK_QUICK was set; it is ignored, execute always runs full length")
    selected = [nb for _, nb in pairs() if not paths or nb in paths]
    for notebook in selected:
        content = nbformat.read(notebook, as_version=4)
        start = time.perf_counter()
        client = _client(content, timeout)
        try:
            client.execute()
        except Exception:
            # Keep what ran, for inspection, without touching the committed notebook.
            failed = Path(os.environ.get("TMPDIR", "/tmp")) / f"failed-{notebook.name}"
            nbformat.write(content, failed)
            print(f"{notebook.name} failed; its partial outputs are in {failed}")
            raise
        finally:
            seconds = time.perf_counter() - start
            if quick_out is not None:
                nbformat.write(content, quick_out / notebook.name)
        if quick_out is not None:
            print(f"executed {notebook.name} in quick mode in {seconds:.0f} s -> {quick_out}")
            continue
        content.metadata["vaebook"] = {
            "quick": False,
            "executed": datetime.date.today().isoformat(),
            "seconds": round(seconds),
        }
        nbformat.write(content, notebook)
        print(f"executed {notebook.relative_to(ROOT)} in {seconds:.0f} s")


RESULTS = ROOT / "benchmarks" / "results"

#: Pairs of :func:`one_truth` known to disagree, with the reason and the issue that fixes
#: it: reported on every check, but not failed. A pair listed here that agrees fails, so
#: that the entry is removed once the cause is fixed.
KNOWN_DISAGREEMENTS: dict[str, str] = {}


def one_truth() -> list[str]:
    """Problems where two pages of the book show different numbers for one set-up.

    The chapters and the Results page's benchmarks run the same presets
    (:mod:`vaebook.presets`); this compares what the committed outputs show.
    """
    problems = []
    reference = json.loads((RESULTS / "fashion_reference.json").read_text(encoding="utf-8"))
    hinton = json.loads((RESULTS / "hinton2006.json").read_text(encoding="utf-8"))
    chapter1 = glued_values(NOTEBOOKS / "01_autoencoder_principle.ipynb")
    chapter3 = glued_values(NOTEBOOKS / "03_autoencoder_variants.ipynb")
    chapter5 = glued_values(NOTEBOOKS / "05_vae_in_practice.ipynb")
    pairs_to_compare = [
        ("chapter 1 PCA-30 on MNIST", chapter1.get("pca_error"), hinton["pca"], 0.005),
        (
            "chapter 3 baseline vs chapter 1 (k = 20)",
            chapter3.get("plain_error"),
            chapter1.get("fashion_ae_20"),
            1e-9,
        ),
        (
            "chapter 5 reference VAE active units",
            chapter5.get("reference_active_units"),
            reference["vae"]["active_units"],
            0,
        ),
        (
            "chapter 5 reference VAE test -ELBO",
            chapter5.get("reference_negative_ELBO"),
            reference["vae"]["negative_elbo"],
            # One model, two Monte Carlo estimates: the mean log-weight over 1,000
            # (chapter 5) and 5,000 (the benchmark) noise draws per test image, from
            # other rows of the noise stream. Their standard error is about 0.001 nats.
            0.02,
        ),
    ]
    for row in reference["reconstruction"]:
        k = row["code_size"]
        for method, key in (("PCA", "pca"), ("autoencoder", "ae")):
            pairs_to_compare.append(
                (
                    f"chapter 1 Fashion-MNIST {method}, k = {k}",
                    chapter1.get(f"fashion_{key}_{k}"),
                    row[key],
                    0.0006,  # The JSON keeps three decimals.
                )
            )
    for what, shown, other, tolerance in pairs_to_compare:
        if shown is None or other is None:
            problems.append(f"one truth: {what}: a value is missing ({shown!r}, {other!r})")
        elif what in KNOWN_DISAGREEMENTS:
            if abs(shown - other) > tolerance:
                reason = KNOWN_DISAGREEMENTS[what]
                print(f"known disagreement: {what}: {shown} and {other} ({reason})")
            else:
                problems.append(f"one truth: {what} agrees now: remove it from KNOWN_DISAGREEMENTS")
        elif abs(shown - other) > tolerance:
            problems.append(f"one truth: {what}: the book shows {shown} and {other}")
    return problems


README = ROOT / "README.md"
TIMES_START, TIMES_END = "<!-- run times: start -->", "<!-- run times: end -->"


def times_table() -> str:
    """The README's table of full-run times, from the notebooks' recorded metadata."""
    lines = ["| notebook | full run on 2 CPU cores |", "|---|---|"]
    total = 0
    for _, notebook in pairs():
        seconds = nbformat.read(notebook, as_version=4).metadata.get("vaebook", {})
        seconds = seconds.get("seconds", 0)
        total += seconds
        lines.append(f"| `{notebook.name}` | {seconds / 60:.1f} min |")
    lines.append(f"| all | {total / 60:.1f} min |")
    return "\n".join(lines)


def readme_times() -> list[str]:
    """Problems if the README's table of run times is not the recorded one."""
    text = README.read_text(encoding="utf-8")
    start, end = text.find(TIMES_START), text.find(TIMES_END)
    if start < 0 or end < 0:
        return [f"README.md: the markers {TIMES_START} ... {TIMES_END} are missing"]
    shown = text[start + len(TIMES_START) : end].strip()
    if shown != times_table():
        return ["README.md: the table of run times is stale (run tools/notebooks.py times)"]
    return []


def write_times() -> None:
    """Writes the table of run times into the README, between its markers."""
    text = README.read_text(encoding="utf-8")
    start, end = text.index(TIMES_START), text.index(TIMES_END)
    text = text[: start + len(TIMES_START)] + "\n" + times_table() + "\n" + text[end:]
    README.write_text(text, encoding="utf-8")
    print(times_table())


def check() -> int:
    """Returns the number of problems found, printing each."""
    problems: list[str] = []
    if not pairs():
        problems.append("no Jupytext-paired chapters found in notebooks/")
    for markdown, notebook in pairs():
        name = notebook.relative_to(ROOT)
        if not notebook.exists():
            problems.append(f"{name}: missing (run tools/notebooks.py sync, then execute)")
            continue
        source = [_cell_key(cell) for cell in jupytext.read(markdown).cells]
        stored = nbformat.read(notebook, as_version=4)
        if source != [_cell_key(cell) for cell in stored.cells]:
            problems.append(f"{name}: cells differ from {markdown.name} (run sync, then execute)")
        inside, too_long = False, 0
        for line in markdown.read_text(encoding="utf-8").splitlines():
            if line.startswith("```{code-cell}"):
                inside = True
            elif line.startswith("```"):
                inside = False
            elif inside and len(line) > 80:
                too_long += 1
        if too_long:
            problems.append(
                f"{markdown.relative_to(ROOT)}: {too_long} lines of code cells (options "
                "included) exceed 80 characters, the book's column"
            )
        counts = [cell.get("execution_count") for cell in stored.cells if cell.cell_type == "code"]
        if counts != list(range(1, len(counts) + 1)):
            problems.append(f"{name}: not executed top to bottom in one run (counts {counts})")
        for cell in stored.cells:
            for output in cell.get("outputs", []):
                if output.get("output_type") == "error":
                    problems.append(f"{name}: a cell raised {output.get('ename')}")
        run = stored.metadata.get("vaebook", {})
        if run.get("quick", True):
            problems.append(f"{name}: outputs are not from a full-length run (run execute)")
    problems += one_truth()
    problems += readme_times()
    for problem in problems:
        print(f"FAIL {problem}")
    if not problems:
        print(f"ok: {len(pairs())} chapter pairs in sync, each executed top to bottom in full")
        print("ok: chapters and the Results page agree on every shared result")
    return len(problems)


def main() -> None:
    """Command-line entry point."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("command", choices=["sync", "execute", "check", "times"])
    parser.add_argument("paths", nargs="*", type=Path)
    parser.add_argument("--timeout", type=int, default=7200, help="seconds per cell")
    parser.add_argument(
        "--quick", type=Path, metavar="FOLDER", help="execute in quick mode into FOLDER"
    )
    args = parser.parse_args()
    paths = [path.resolve() for path in args.paths]
    if args.command == "sync":
        sync(paths)
    elif args.command == "execute":
        sync(paths)
        execute(paths, args.timeout, args.quick)
    elif args.command == "times":
        write_times()
    else:
        sys.exit(1 if check() else 0)


if __name__ == "__main__":
    main()
