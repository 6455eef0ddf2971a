"""Run a chapter as Colab would: its own install cell, then every cell top to bottom.

Colab opens the committed ``.ipynb`` in a runtime that has TensorFlow, Keras, NumPy,
Matplotlib and ipykernel preinstalled, and the chapter's first cell installs ``vaebook``
with ``--no-deps`` from the repository's address. This script does the same with the
Python environment you name (CI builds one from ``.ci/oldest.txt`` and nothing else):

* the notebook runs in a kernel of that environment, in an empty working folder (like
  Colab's ``/content``), so ``import vaebook`` can only find what the install cell
  installed, never this checkout's source;
* ``google.colab`` is made importable before the first cell, so the install cell takes
  its Colab branch;
* the install cell's address (``_config.yml``'s ``repository.url``) is pointed at this
  checkout (``git+file://``, its committed ``HEAD``), since CI has no access to the
  published repository; nothing else in the notebook is changed;
* ``VAEBOOK_QUICK=1`` and ``VAEBOOK_DATA`` (the datasets: Colab downloads them, CI
  has no internet) reach the kernel through its environment.

Usage::

    python tools/colab_run.py --python /tmp/colab/bin/python notebooks/05_vae_in_practice.ipynb
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import nbformat
import yaml
from nbclient import NotebookClient

ROOT = Path(__file__).resolve().parents[1]
KERNEL = "vaebook-colab-like"


def repository_url() -> str:
    """The address every chapter's install cell installs from."""
    config = yaml.safe_load((ROOT / "_config.yml").read_text(encoding="utf-8"))
    return config["repository"]["url"]


def colab_like(notebook: nbformat.NotebookNode) -> nbformat.NotebookNode:
    """The notebook as Colab would run it here: Colab detected, local install address."""
    url = f"git+{repository_url()}"
    installs = [
        cell
        for cell in notebook.cells
        if cell.cell_type == "code" and "%pip install" in cell.source and url in cell.source
    ]
    if len(installs) != 1:
        raise SystemExit(f"expected one install cell using {url}; found {len(installs)}")
    installs[0].source = installs[0].source.replace(url, f"git+file://{ROOT}")
    colab = nbformat.v4.new_code_cell(
        "# Added by tools/colab_run.py: make the notebook believe it runs in Colab.\n"
        "import sys, types\n"
        'sys.modules["google.colab"] = types.ModuleType("google.colab")'
    )
    notebook.cells.insert(0, colab)
    return notebook


def main() -> None:
    """Runs one notebook in a Colab-like kernel and fails on the first error."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("notebook", type=Path)
    parser.add_argument("--python", required=True, help="the environment's python")
    parser.add_argument("--timeout", type=int, default=1200, help="seconds per cell")
    args = parser.parse_args()

    notebook = colab_like(nbformat.read(args.notebook, as_version=4))
    with tempfile.TemporaryDirectory() as folder:
        kernels = Path(folder) / "kernels" / KERNEL
        kernels.mkdir(parents=True)
        spec = {
            "argv": [args.python, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
            "display_name": "Colab-like",
            "language": "python",
            "env": {"VAEBOOK_QUICK": "1"},
        }
        (kernels / "kernel.json").write_text(json.dumps(spec))
        os.environ["JUPYTER_PATH"] = folder
        content = Path(folder) / "content"  # Colab's working folder.
        content.mkdir()
        start = time.perf_counter()
        client = NotebookClient(
            notebook,
            timeout=args.timeout,
            kernel_name=KERNEL,
            resources={"metadata": {"path": str(content)}},
        )
        try:
            client.execute()
        finally:
            seconds = time.perf_counter() - start
            for cell in notebook.cells[:2]:
                for output in cell.get("outputs", []):
                    print(output.get("text", "").rstrip())
        where = subprocess.run(
            [args.python, "-c", "import vaebook; print(vaebook.__file__)"],
            cwd=content,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    if str(ROOT) in where:
        raise SystemExit(f"vaebook was imported from this checkout ({where}), not installed")
    print(f"ran {args.notebook.name} as Colab would in {seconds:.0f} s; vaebook from {where}")


if __name__ == "__main__":
    sys.exit(main())
