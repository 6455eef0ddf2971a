"""Helpers shared by the benchmark scripts: the machine's description and saved results.

Every long benchmark writes one JSON file to ``benchmarks/results/`` holding its figures
together with the command that produced them, the hardware, the time taken and the date;
the book's Results page renders its tables from those files.
"""

from __future__ import annotations

import json
import os
import platform
import shlex
import sys
import time
from pathlib import Path

import tensorflow as tf

RESULTS = Path(__file__).resolve().parent / "results"
#: Trained weights are written here; they are large, so git ignores this folder.
WEIGHTS = Path(__file__).resolve().parent / "weights"
#: Checkpoints of runs that span sessions; small, and committed so that any machine
#: can resume them.
CHECKPOINTS = Path(__file__).resolve().parent / "checkpoints"
#: Hinton & Salakhutdinov's (2006) Figure 2 for MNIST at 30 numbers: the average squared
#: error per test image (``hinton2006.py``, ``logistic_pca.py``, ``logistic_encoder.py``).
HINTON2006_PAPER = {"pca": 13.87, "logistic_pca": 8.01, "deep_autoencoder": 3.00}


def hardware() -> str:
    """One line describing the CPU cores, the GPU (if any) and the TensorFlow version."""
    gpus = tf.config.list_physical_devices("GPU")
    names = []
    for gpu in gpus:
        details = tf.config.experimental.get_device_details(gpu)
        names.append(details.get("device_name", gpu.name))
    accelerator = ", ".join(names) if names else "no GPU"
    return (
        f"{platform.machine()} CPU, {os.cpu_count()} cores, {accelerator}; "
        f"TensorFlow {tf.__version__}, Python {platform.python_version()}"
    )


def command() -> str:
    """The command line that ran this script, relative to the repository root."""
    script = Path(sys.argv[0]).resolve()
    try:
        shown = str(script.relative_to(RESULTS.parent.parent))
    except ValueError:
        shown = str(script)
    return " ".join(["python", shown, *map(shlex.quote, sys.argv[1:])])


def save_weights(model: object, name: str) -> Path:
    """Saves a trained Keras model as ``benchmarks/weights/<name>.keras``."""
    WEIGHTS.mkdir(exist_ok=True)
    path = WEIGHTS / f"{name}.keras"
    model.save(path)
    return path


def write_json(path: Path, value: object) -> None:
    """Writes JSON through a temporary file, so a cut-off run never leaves half a file."""
    temporary = path.with_suffix(".tmp")
    temporary.write_text(json.dumps(value, indent=1) + "\n", encoding="utf-8")
    os.replace(temporary, path)


def add_point(curve: list[dict], point: dict, path: Path) -> None:
    """Adds a point to a learning curve kept beside a checkpoint, and saves the curve.

    A point of the same epoch replaces the old one: a run cut off after a training
    callback but before its checkpoint repeats that epoch when it resumes
    (:func:`vaebook.train.train`'s callbacks run first).
    """
    curve[:] = [old for old in curve if old["epoch"] != point["epoch"]]
    curve.append(point)
    write_json(path, curve)


def save_results(name: str, results: dict, seconds: float) -> Path:
    """Writes ``results`` with the command, hardware, run time and date to ``results/``.

    Args:
        name: File name without extension, e.g. ``"hinton2006"``.
        results: The benchmark's figures (JSON-serialisable).
        seconds: Wall-clock time of this invocation of the script. For a run resumed
            from a checkpoint that is only its last part; such runs record their
            training time over every session in ``training_seconds``.

    Returns:
        The path written.
    """
    RESULTS.mkdir(exist_ok=True)
    path = RESULTS / f"{name}.json"
    record = {
        "command": command(),
        "hardware": hardware(),
        "seconds": round(seconds, 1),
        "date": time.strftime("%Y-%m-%d"),
        **results,
    }
    temporary = path.with_suffix(".tmp")
    temporary.write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")
    os.replace(temporary, path)
    print(f"wrote {path.relative_to(RESULTS.parent.parent)}")
    return path
