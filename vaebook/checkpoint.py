"""Training checkpoints that know which run they belong to.

:func:`vaebook.train.train` with ``checkpoint_dir=...`` calls :func:`save_checkpoint`
after every epoch and :func:`load_checkpoint` when it finds one, so that a long run
cut off at any point resumes with the same weights, optimiser state, shuffling order
and noise as an uninterrupted run.

A checkpoint records what it belongs to: the model's class and configuration
(``get_config()``), its weight shapes, the optimiser's class and configuration, and the
run's settings (batch size, seed, binarisation, number of training examples).
Resuming with any difference (another β, objective, activation, optimiser, learning
rate or batch size) stops with an error that names the difference, instead of silently continuing
another run's training. Files are written to a temporary name and renamed, so an
interruption never leaves a half-written checkpoint; a damaged file is reported with
its path.
"""

from __future__ import annotations

import hashlib
import json
import os
import zipfile
from pathlib import Path
from typing import Any

import keras
import numpy as np

__all__ = [
    "CHECKPOINT_FILE",
    "CheckpointMismatchError",
    "check_checkpoint_dir",
    "data_fingerprint",
    "load_checkpoint",
    "save_checkpoint",
]

#: The file name inside ``checkpoint_dir``.
CHECKPOINT_FILE = "checkpoint.npz"

# Configuration entries that do not change what a run computes.
_IGNORED_CONFIG_KEYS = {"name", "trainable", "dtype"}


class CheckpointMismatchError(ValueError):
    """The checkpoint was written by a run with another model or optimiser."""


def check_checkpoint_dir(folder: str | os.PathLike, writable: bool = False) -> Path:
    """Checks, before training starts, that ``folder`` can hold checkpoints.

    Args:
        folder: The ``checkpoint_dir`` argument.
        writable: Also create the folder and write and delete a small file in it, so
            that a read-only place is found before the first epoch's work, not after.

    Returns:
        The folder as a ``Path``.

    Raises:
        ValueError: If ``folder`` exists but is not a folder, a parent of it is a file,
            or (with ``writable``) it cannot be created or written to.
    """
    path = Path(folder)
    for candidate in (path, *path.parents):
        if candidate.exists():
            if not candidate.is_dir():
                raise ValueError(
                    f"checkpoint_dir {path} cannot be used: {candidate} is a file, not a folder."
                )
            break
    if writable:
        probe = path / ".vaebook-write-test"
        try:
            path.mkdir(parents=True, exist_ok=True)
            probe.write_bytes(b"")
            probe.unlink()
        except OSError as error:
            raise ValueError(
                f"checkpoint_dir {path} cannot be written to ({error.strerror or error}); "
                "training would fail when saving its first checkpoint. Choose a folder you "
                "can write to."
            ) from error
    return path


def data_fingerprint(x: np.ndarray, y: np.ndarray | None = None) -> str:
    """A short description and hash of a training set, to tell two datasets apart.

    It names the count, shape and mean value (readable: Fashion-MNIST's mean pixel is
    0.286, MNIST's 0.131) and ends with a BLAKE2 hash of the bytes, so that another
    dataset of the same size is told apart too.

    Args:
        x: The training examples.
        y: Their labels, if the run uses them.

    Returns:
        For example ``"60000 x (28, 28), mean 0.28604, blake2b 3f0a..."``.
    """
    x = np.ascontiguousarray(x)
    digest = hashlib.blake2b(x.view(np.uint8).reshape(-1), digest_size=8)
    if y is not None:
        digest.update(np.ascontiguousarray(y).view(np.uint8).reshape(-1))
    return (
        f"{len(x)} x {tuple(x.shape[1:])}, mean {float(x.mean(dtype=np.float64)):.5f}, "
        f"blake2b {digest.hexdigest()}"
    )


def _optimizer_variables(model: keras.Model, optimizer: keras.optimizers.Optimizer) -> list:
    """The states of ``optimizer`` and of the model's own phase optimisers, if any."""
    variables = list(optimizer.variables)
    for phase_optimizer in getattr(model, "phase_optimizers", ()):
        variables += phase_optimizer.variables
    return variables


def _jsonable(value: Any) -> Any:
    """A JSON round trip, so that stored and current configurations compare alike."""
    return json.loads(json.dumps(value, default=repr))


def _model_config(model: keras.Model) -> dict:
    try:
        config = model.get_config()
    except NotImplementedError:
        config = {}
    return {k: v for k, v in _jsonable(config).items() if k not in _IGNORED_CONFIG_KEYS}


def _optimizer_config(optimizer: keras.optimizers.Optimizer) -> dict:
    config = _jsonable(optimizer.get_config())
    return {k: v for k, v in config.items() if k not in _IGNORED_CONFIG_KEYS}


#: Settings that decide only how later epochs draw their noise; a finished run (one that
#: already holds the epochs asked for) loads whatever they were.
FUTURE_ONLY_SETTINGS = ("binarisation_noise",)


def _run_description(
    model: keras.Model, optimizer: keras.optimizers.Optimizer, settings: dict | None
) -> dict:
    return {
        "model": type(model).__name__,
        "model_config": _model_config(model),
        "shapes": [list(v.shape) for v in model.variables],
        "optimizer": type(optimizer).__name__,
        "optimizer_config": _optimizer_config(optimizer),
        "settings": _jsonable(settings or {}),
    }


def save_checkpoint(
    folder: str | os.PathLike,
    model: keras.Model,
    optimizer: keras.optimizers.Optimizer,
    noise: keras.random.SeedGenerator,
    rng_state: dict,
    history: Any,
    settings: dict | None = None,
    extra_state: dict | None = None,
) -> Path:
    """Writes everything needed to resume training after the last completed epoch.

    Weights (trainable and not, including the model's sampling seeds), the optimiser's
    state, the binarisation noise state, the shuffling generator's state, the history
    and the run's description go into one ``.npz`` file, written to a temporary name
    and then renamed.

    Args:
        folder: The checkpoint folder (created if needed).
        model: The model being trained.
        optimizer: Its optimiser.
        noise: The training step's noise generator.
        rng_state: The shuffling generator's ``bit_generator.state``.
        history: The :class:`vaebook.train.History` so far.
        settings: The run's other settings that decide its result (batch size, seed,
            ...), compared on resuming.
        extra_state: Other JSON values the run needs back when it resumes (the
            untrained model's loss, which the divergence check compares with).

    Returns:
        The checkpoint's path.
    """
    folder = check_checkpoint_dir(folder)
    folder.mkdir(parents=True, exist_ok=True)
    state = {
        "epoch": history.epochs,
        "rng": rng_state,
        "history": history.history,
        "epoch_seconds": history.epoch_seconds,
        "examples_per_second": history.examples_per_second,
        **(extra_state or {}),
        **_run_description(model, optimizer, settings),
    }
    # model.variables, unlike model.weights, includes the states of its seed generators.
    arrays = {f"model_{i}": np.asarray(v) for i, v in enumerate(model.variables)}
    arrays |= {
        f"optimizer_{i}": np.asarray(v)
        for i, v in enumerate(_optimizer_variables(model, optimizer))
    }
    arrays["noise"] = np.asarray(noise.state)
    arrays["state"] = np.array(json.dumps(state, default=repr))
    path = folder / CHECKPOINT_FILE
    temporary = folder / (CHECKPOINT_FILE + ".tmp.npz")
    try:
        np.savez(temporary, **arrays)
        os.replace(temporary, path)
    except OSError as error:
        temporary.unlink(missing_ok=True)
        raise OSError(
            error.errno,
            f"could not write the checkpoint {path} ({error.strerror or error}); the "
            "previous checkpoint, if any, is intact. Free some space or choose another "
            "checkpoint_dir, then run the same command to resume",
        ) from error
    return path


def _differences(stored: dict, current: dict, prefix: str) -> list[str]:
    keys = sorted(set(stored) | set(current))
    missing = "(not set)"
    return [
        f"{prefix}{key}: checkpoint {stored.get(key, missing)!r}, now {current.get(key, missing)!r}"
        for key in keys
        if stored.get(key, missing) != current.get(key, missing)
    ]


def load_checkpoint(
    path: str | os.PathLike,
    model: keras.Model,
    optimizer: keras.optimizers.Optimizer,
    noise: keras.random.SeedGenerator,
    settings: dict | None = None,
    max_epochs: int | None = None,
) -> tuple[dict, dict]:
    """Restores a checkpoint written by :func:`save_checkpoint` into built objects.

    Args:
        path: The checkpoint file.
        model: The model, built as for the run that wrote the checkpoint.
        optimizer: Its optimiser, of the same class and configuration.
        noise: The training step's noise generator.
        settings: The run's settings, as given to :func:`save_checkpoint`.
        max_epochs: If given, a checkpoint holding more epochs than this is refused
            before anything is restored.

    Returns:
        The stored state (``"epoch"``, ``"history"``, ``"epoch_seconds"``,
        ``"examples_per_second"``) and the shuffling generator's state.

    Raises:
        ValueError: If the file is unreadable or damaged (the message names its path).
        CheckpointMismatchError: If it was written for another model class,
            configuration, weight shapes, optimiser class or configuration, or
            settings; the message lists every difference.
    """
    try:
        with np.load(path, allow_pickle=False) as stored:
            arrays = {name: stored[name] for name in stored.files}
        state = json.loads(str(arrays["state"]))
    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile) as error:
        raise ValueError(
            f"{path} is not a readable vaebook checkpoint ({type(error).__name__}: {error}); "
            "it may be truncated or damaged: delete it to start again, or use another "
            "checkpoint_dir."
        ) from error
    if max_epochs is not None and state.get("epoch", 0) > max_epochs:
        raise ValueError(
            f"{path} holds a run of {state['epoch']} epochs, more than the epochs={max_epochs} "
            f"asked for; ask for at least {state['epoch']} epochs, or use another "
            "checkpoint_dir to train a shorter run."
        )
    current = _run_description(model, optimizer, settings)
    differences = []
    for key in ("model", "shapes", "optimizer"):
        if state.get(key) != current[key]:
            differences.append(f"{key}: checkpoint {state.get(key)!r}, now {current[key]!r}")
    differences += _differences(state.get("model_config", {}), current["model_config"], "model ")
    differences += _differences(
        state.get("optimizer_config", {}), current["optimizer_config"], "optimizer "
    )
    stored_settings = dict(state.get("settings", {}))
    current_settings = dict(current["settings"])
    if max_epochs is not None and state.get("epoch") == max_epochs:
        # A finished run trains no further: what only decides the noise of later
        # epochs does not matter, so runs saved before it was recorded still load.
        for key in FUTURE_ONLY_SETTINGS:
            stored_settings.pop(key, None)
            current_settings.pop(key, None)
    if "data" not in stored_settings:
        current_settings.pop("data", None)  # written before data was recorded
    differences += _differences(stored_settings, current_settings, "")
    if differences:
        raise CheckpointMismatchError(
            f"{path} belongs to another run; resuming would mix two trainings. "
            "Differences: " + "; ".join(differences) + ". Use another checkpoint_dir, or "
            "build the model and optimiser exactly as before."
        )
    expected = len(model.variables) + len(_optimizer_variables(model, optimizer))
    found = sum(name.startswith(("model_", "optimizer_")) for name in arrays)
    if found != expected:
        raise ValueError(f"{path} holds {found} state arrays where {expected} are needed.")
    targets = [(f"model_{i}", v) for i, v in enumerate(model.variables)]
    targets += [(f"optimizer_{i}", v) for i, v in enumerate(_optimizer_variables(model, optimizer))]
    targets.append(("noise", noise.state))
    # Everything is checked before anything is assigned: a damaged file changes nothing.
    for name, variable in targets:
        array = arrays.get(name)
        if array is None or tuple(array.shape) != tuple(variable.shape):
            found = "missing" if array is None else f"of shape {tuple(array.shape)}"
            raise ValueError(
                f"{path} is damaged: its array {name} is {found} where {variable.path} "
                f"needs shape {tuple(variable.shape)}. Delete it to start again, or use "
                "another checkpoint_dir."
            )
        if np.issubdtype(array.dtype, np.floating) and not np.all(np.isfinite(array)):
            raise ValueError(
                f"{path} is damaged: its array {name} (for {variable.path}) holds NaN or "
                "infinite values. Delete it to start again, or use another checkpoint_dir."
            )
    for name, variable in targets:
        variable.assign(arrays[name])
    return state, state["rng"]
