"""Seeding, quick mode and the compiled training loop.

Chapter 2 writes the training step by hand with ``tf.GradientTape``; this module is the
package version of that loop. It differs only in speed and care:

* the step is a ``tf.function`` compiled with XLA, and the training set is put on the
  device once, each batch being gathered inside the compiled step;
* the loss is checked after every epoch: a NaN or infinity stops training with a
  message naming the epoch and step, instead of carrying on with garbage;
* shuffling, initialisation and dropout are seeded, so a run is repeatable.

Any model with a method ``per_example_losses(x, training) -> dict`` whose ``"loss"``
entry has shape ``(batch,)`` can be trained; the batch mean of that entry is minimised.
A model that needs more than one gradient step per batch (the adversarial autoencoder
of chapter 3) defines ``apply_update(x, optimizer) -> dict`` instead, and lists its
own optimisers in ``phase_optimizers`` so that checkpoints include their states.
"""

from __future__ import annotations

import json
import math
import os
import time
import weakref
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf

from vaebook.data import check_images
from vaebook.rng import uniform as random_uniform

__all__ = [
    "QUICK_ENV_VAR",
    "History",
    "TrainingDivergedError",
    "epochs_for",
    "evaluate_losses",
    "is_quick",
    "load_checkpoint",
    "make_train_step",
    "save_checkpoint",
    "set_seed",
    "train",
]

#: Set this environment variable to ``1`` for short runs (a few epochs, same data).
QUICK_ENV_VAR = "VAEBOOK_QUICK"

EpochCallback = Callable[[int, dict[str, float]], None]


class TrainingDivergedError(RuntimeError):
    """Raised when the training loss becomes NaN or infinite."""


def is_quick() -> bool:
    """Whether quick mode is on (``VAEBOOK_QUICK`` set to ``1``, ``true`` or ``yes``)."""
    return os.environ.get(QUICK_ENV_VAR, "").strip().lower() in {"1", "true", "yes", "on"}


def epochs_for(full: int, quick: int = 2) -> int:
    """Returns ``quick`` in quick mode and ``full`` otherwise.

    Args:
        full: Epochs of the full-length run whose outputs the book shows.
        quick: Epochs in quick mode (used by CI to run every notebook in minutes).

    Returns:
        The number of epochs to train for.
    """
    if full < 1 or quick < 1:
        raise ValueError(f"epoch counts must be positive; got full={full}, quick={quick}.")
    return quick if is_quick() else full


def set_seed(seed: int) -> None:
    """Seeds Python, NumPy, TensorFlow and Keras so that runs are repeatable.

    Args:
        seed: Any non-negative integer.
    """
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise ValueError(f"seed must be a non-negative integer; got {seed!r}.")
    keras.utils.set_random_seed(seed)


@dataclass
class History:
    """Per-epoch averages recorded by :func:`train`.

    Attributes:
        history: For each name (``"loss"``, ``"val_loss"``, ...), one value per epoch.
        epoch_seconds: Wall-clock seconds of each epoch, evaluation included.
        examples_per_second: Training throughput of each epoch.
    """

    history: dict[str, list[float]] = field(default_factory=dict)
    epoch_seconds: list[float] = field(default_factory=list)
    examples_per_second: list[float] = field(default_factory=list)

    @property
    def epochs(self) -> int:
        """Number of completed epochs."""
        return len(self.epoch_seconds)

    def append(self, logs: dict[str, float], seconds: float, examples: int) -> None:
        """Records one epoch."""
        for name, value in logs.items():
            self.history.setdefault(name, []).append(value)
        self.epoch_seconds.append(seconds)
        self.examples_per_second.append(examples / seconds if seconds > 0 else math.inf)

    def last(self, name: str) -> float:
        """The value of ``name`` after the last epoch."""
        return self.history[name][-1]


def _check_image_shape(model: keras.Model, shape: Sequence[int], name: str) -> None:
    """Checks the data's image shape against the model's, before anything is traced."""
    image_shape = getattr(model, "image_shape", None)
    if image_shape is not None and tuple(shape[1:]) != tuple(image_shape):
        wanted = ", ".join(map(str, image_shape))
        raise ValueError(
            f"{name} has shape {tuple(shape)} but {type(model).__name__} expects images of "
            f"shape (batch, {wanted})."
        )


def _check_trainable(model: keras.Model) -> None:
    if not callable(getattr(model, "per_example_losses", None)):
        raise TypeError(
            f"{type(model).__name__} has no per_example_losses(x, training) method; "
            "train() needs one returning a dict with a per-example 'loss'."
        )


def make_train_step(
    model: keras.Model,
    optimizer: keras.optimizers.Optimizer,
    jit_compile: bool = True,
    binarize: bool = False,
    seed: int = 0,
) -> Callable[[tf.Tensor, tf.Tensor], dict[str, tf.Tensor]]:
    """Builds the compiled training step ``step(x_all, indices) -> batch means``.

    The step gathers the batch ``x_all[indices]`` on the device, computes the loss,
    differentiates it and applies one optimiser update.

    Args:
        model: A model with ``per_example_losses``.
        optimizer: A Keras optimiser.
        jit_compile: Whether to compile the step with XLA.
        binarize: Whether to binarise each batch dynamically: every time an image is
            drawn, each pixel is set to 1 with probability equal to its intensity
            (the standard training protocol for binarised MNIST).
        seed: Seed of the binarisation noise.

    Returns:
        The compiled step.
    """
    _check_trainable(model)
    if not model.trainable_variables:
        raise ValueError(f"{type(model).__name__} has no trainable variables; build it first.")
    optimizer.build(model.trainable_variables)
    noise = keras.random.SeedGenerator(seed)

    apply_update = getattr(model, "apply_update", None)

    @tf.function(jit_compile=jit_compile, reduce_retracing=True)
    def train_step(x_all: tf.Tensor, indices: tf.Tensor) -> dict[str, tf.Tensor]:
        x = tf.gather(x_all, indices)  # (batch, *image_shape)
        if binarize:
            x = tf.cast(random_uniform(tf.shape(x), noise) < x, x.dtype)
        if apply_update is not None:
            losses = apply_update(x, optimizer)
            return {name: tf.reduce_mean(value) for name, value in losses.items()}
        with tf.GradientTape() as tape:
            losses = model.per_example_losses(x, training=True)
            loss = tf.reduce_mean(losses["loss"])
            if model.losses:
                loss = loss + tf.add_n(model.losses)
        gradients = tape.gradient(loss, model.trainable_variables)
        optimizer.apply_gradients(zip(gradients, model.trainable_variables))
        return {name: tf.reduce_mean(value) for name, value in losses.items()}

    train_step.noise = noise  # Its state is part of a checkpoint.
    return train_step


CHECKPOINT_FILE = "checkpoint.npz"


def _optimizer_variables(
    model: keras.Model, optimizer: keras.optimizers.Optimizer
) -> list[keras.Variable]:
    """The states of ``optimizer`` and of the model's own phase optimisers, if any."""
    variables = list(optimizer.variables)
    for phase_optimizer in getattr(model, "phase_optimizers", ()):
        variables += phase_optimizer.variables
    return variables


def save_checkpoint(
    folder: str | os.PathLike,
    model: keras.Model,
    optimizer: keras.optimizers.Optimizer,
    noise: keras.random.SeedGenerator,
    rng: np.random.Generator,
    history: History,
) -> Path:
    """Writes everything needed to resume training after the last completed epoch.

    Weights (trainable and not, including the model's sampling seed), the optimiser's
    state, the binarisation noise state, the shuffling generator's state and the history
    go into one ``.npz`` file, written to a temporary name and then renamed, so an
    interruption never leaves a half-written checkpoint.

    Returns:
        The checkpoint's path.
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    state = {
        "epoch": history.epochs,
        "rng": rng.bit_generator.state,
        "history": history.history,
        "epoch_seconds": history.epoch_seconds,
        "examples_per_second": history.examples_per_second,
        "model": type(model).__name__,
        "shapes": [list(v.shape) for v in model.variables],
    }
    # model.variables, unlike model.weights, includes the states of its seed generators.
    arrays = {f"model_{i}": np.asarray(v) for i, v in enumerate(model.variables)}
    arrays |= {
        f"optimizer_{i}": np.asarray(v)
        for i, v in enumerate(_optimizer_variables(model, optimizer))
    }
    arrays["noise"] = np.asarray(noise.state)
    arrays["state"] = np.array(json.dumps(state))
    path = folder / CHECKPOINT_FILE
    temporary = folder / (CHECKPOINT_FILE + ".tmp.npz")
    np.savez(temporary, **arrays)
    os.replace(temporary, path)
    return path


def load_checkpoint(
    path: str | os.PathLike,
    model: keras.Model,
    optimizer: keras.optimizers.Optimizer,
    noise: keras.random.SeedGenerator,
) -> tuple[History, dict]:
    """Restores a checkpoint written by :func:`save_checkpoint` into built objects.

    Returns:
        The history so far and the shuffling generator's state.

    Raises:
        ValueError: If the file is unreadable or was written for another model.
    """
    try:
        with np.load(path, allow_pickle=False) as stored:
            arrays = {name: stored[name] for name in stored.files}
        state = json.loads(str(arrays["state"]))
    except (OSError, ValueError, KeyError) as error:
        raise ValueError(f"{path} is not a readable vaebook checkpoint ({error}).") from error
    shapes = [list(v.shape) for v in model.variables]
    if state["model"] != type(model).__name__ or state["shapes"] != shapes:
        raise ValueError(
            f"{path} was written for a {state['model']} with weight shapes {state['shapes']}, "
            f"not for this {type(model).__name__} ({shapes}); use another checkpoint_dir."
        )
    for i, variable in enumerate(model.variables):
        variable.assign(arrays[f"model_{i}"])
    for i, variable in enumerate(_optimizer_variables(model, optimizer)):
        variable.assign(arrays[f"optimizer_{i}"])
    noise.state.assign(arrays["noise"])
    history = History(
        history={name: list(values) for name, values in state["history"].items()},
        epoch_seconds=list(state["epoch_seconds"]),
        examples_per_second=list(state["examples_per_second"]),
    )
    return history, state["rng"]


def evaluate_losses(
    model: keras.Model, x: np.ndarray | tf.Tensor, batch_size: int = 1000
) -> dict[str, float]:
    """Averages the model's per-example losses over a whole dataset, in batches.

    Args:
        model: A model with ``per_example_losses``.
        x: The examples, for instance the test images.
        batch_size: Examples per batch (memory only; the result does not depend on it).

    Returns:
        The mean of each entry of ``per_example_losses`` over all of ``x``.
    """
    _check_trainable(model)
    x = np.asarray(x) if not isinstance(x, tf.Tensor) else x
    if int(x.shape[0]) == 0:
        raise ValueError(f"x is empty (shape {tuple(x.shape)}); nothing to evaluate.")
    _check_image_shape(model, x.shape, "x")
    x = tf.convert_to_tensor(x)
    step = _eval_step(model)
    totals: dict[str, float] = {}
    count = int(x.shape[0])
    for start in range(0, count, batch_size):
        sums = step(x[start : start + batch_size])
        for name, value in sums.items():
            totals[name] = totals.get(name, 0.0) + float(value)
    return {name: total / count for name, total in totals.items()}


# One compiled evaluation function per model, so that it is traced once.
_EVAL_STEPS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def _eval_step(model: keras.Model) -> Callable[[tf.Tensor], dict[str, tf.Tensor]]:
    step = _EVAL_STEPS.get(model)
    if step is None:

        @tf.function(jit_compile=True, reduce_retracing=True)
        def step(x: tf.Tensor) -> dict[str, tf.Tensor]:
            losses = model.per_example_losses(x, training=False)
            return {name: tf.reduce_sum(value) for name, value in losses.items()}

        _EVAL_STEPS[model] = step
    return step


def _describe_divergence(name: str, step_losses: np.ndarray, epoch: int) -> str:
    bad = np.flatnonzero(~np.isfinite(step_losses))
    step = int(bad[0]) + 1
    value = step_losses[bad[0]]
    return (
        f"Training diverged: {name} became {value} at step {step} of epoch {epoch}. "
        "Likely causes: a learning rate too high for this model, inputs outside the "
        "range the loss expects, or a numerically unstable loss (compute cross-entropy "
        "from logits, and log-variances rather than variances)."
    )


def train(
    model: keras.Model,
    x_train: np.ndarray,
    *,
    epochs: int,
    batch_size: int = 512,
    learning_rate: float = 1e-3,
    optimizer: keras.optimizers.Optimizer | None = None,
    x_val: np.ndarray | None = None,
    seed: int = 0,
    callbacks: Sequence[EpochCallback] = (),
    verbose: int = 1,
    log_every: int = 1,
    jit_compile: bool = True,
    binarize: bool = False,
    checkpoint_dir: str | os.PathLike | None = None,
) -> History:
    """Trains ``model`` by minibatch gradient descent on ``per_example_losses``.

    Args:
        model: A model with ``per_example_losses(x, training)``.
        x_train: Training images, float in ``[0, 1]``.
        epochs: Passes over the training set.
        batch_size: Examples per step; the last, smaller batch of an epoch is kept.
        learning_rate: Adam's learning rate, used when ``optimizer`` is not given.
        optimizer: A Keras optimiser; defaults to ``keras.optimizers.Adam(learning_rate)``.
        x_val: Held-out images; their mean losses are logged as ``val_*`` each epoch.
        seed: Seed of the shuffling order.
        callbacks: Functions ``callback(epoch, logs)`` called after each epoch
            (``epoch`` counts from 1), e.g. to save reconstructions.
        verbose: 0 prints nothing, 1 prints one line every ``log_every`` epochs, 2 also
            shows a progress bar inside each epoch (for terminals).
        log_every: Epochs between printed lines when ``verbose`` is 1.
        jit_compile: Whether to compile the step with XLA.
        binarize: Whether to binarise every batch dynamically (fresh Bernoulli draws
            each time an image is seen); ``x_val`` is used as given, so pass a fixed
            binarisation of the held-out images (:func:`vaebook.data.binarize`).
        checkpoint_dir: If given, a checkpoint is written there after every epoch, and
            if one is already there, training *resumes* from it (same weights,
            optimiser state, shuffling order and noise as an uninterrupted run), so
            ``epochs`` is the total, not the number still to run.

    Returns:
        A :class:`History` of per-epoch means.

    Raises:
        ValueError: If the data or the arguments are invalid.
        TrainingDivergedError: If the loss becomes NaN or infinite.
    """
    _check_trainable(model)
    x_train = np.asarray(x_train)
    check_images(x_train, "x_train")
    _check_image_shape(model, x_train.shape, "x_train")
    if x_val is not None:
        x_val = np.asarray(x_val)
        check_images(x_val, "x_val", image_shape=x_train.shape[1:])
    epochs = int(epochs)
    if epochs < 1:
        raise ValueError(f"epochs must be at least 1; got {epochs}.")
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"batch_size must be a positive integer; got {batch_size!r}.")
    if optimizer is None:
        if not learning_rate > 0:
            raise ValueError(f"learning_rate must be positive; got {learning_rate!r}.")
        optimizer = keras.optimizers.Adam(learning_rate)

    step = make_train_step(model, optimizer, jit_compile=jit_compile, binarize=binarize, seed=seed)
    x_all = tf.convert_to_tensor(x_train, dtype=tf.float32)  # (n, *image_shape), once.
    num_examples = x_train.shape[0]
    num_steps = math.ceil(num_examples / batch_size)
    rng = np.random.default_rng(seed)
    history = History()
    if checkpoint_dir is not None and (Path(checkpoint_dir) / CHECKPOINT_FILE).is_file():
        history, rng_state = load_checkpoint(
            Path(checkpoint_dir) / CHECKPOINT_FILE, model, optimizer, step.noise
        )
        rng.bit_generator.state = rng_state
        if verbose >= 1:
            print(f"resumed from {checkpoint_dir} after epoch {history.epochs}")

    for epoch in range(history.epochs + 1, epochs + 1):
        start = time.perf_counter()
        order = rng.permutation(num_examples).astype(np.int32)
        bar = keras.utils.Progbar(num_steps) if verbose >= 2 else None
        step_means: list[dict[str, tf.Tensor]] = []
        for index in range(num_steps):
            indices = order[index * batch_size : (index + 1) * batch_size]
            step_means.append(step(x_all, tf.constant(indices)))
            if bar is not None:
                bar.update(index + 1)
        # One transfer per epoch: the per-step losses, checked for NaN and averaged
        # with weights equal to the batch sizes.
        names = list(step_means[0])
        values = {name: np.array([float(m[name]) for m in step_means]) for name in names}
        for name in names:
            if not np.all(np.isfinite(values[name])):
                raise TrainingDivergedError(_describe_divergence(name, values[name], epoch))
        sizes = np.full(num_steps, batch_size, dtype=np.float64)
        sizes[-1] = num_examples - batch_size * (num_steps - 1)
        logs = {name: float(np.dot(values[name], sizes) / num_examples) for name in names}
        if x_val is not None:
            for name, value in evaluate_losses(model, x_val).items():
                logs[f"val_{name}"] = value
        seconds = time.perf_counter() - start
        history.append(logs, seconds, num_examples)
        if checkpoint_dir is not None:
            save_checkpoint(checkpoint_dir, model, optimizer, step.noise, rng, history)
        for callback in callbacks:
            callback(epoch, logs)
        if verbose >= 1 and (epoch % log_every == 0 or epoch == epochs):
            shown = "  ".join(f"{name} {value:.4f}" for name, value in logs.items())
            print(f"epoch {epoch:>3}/{epochs}  {shown}  ({seconds:.1f} s)")
    return history
