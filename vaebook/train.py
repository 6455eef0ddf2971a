"""Seeding, quick mode and the compiled training loop.

Chapter 2 writes the training step by hand with ``tf.GradientTape``; this module is the
package version of that loop. It differs only in speed and care:

* the step is a ``tf.function`` compiled with XLA, and the training set is put on the
  device once, each batch being gathered inside the compiled step;
* the loss is checked after every epoch: a NaN or infinity, or a finite loss that
  explodes (more than ``DIVERGENCE_FACTOR`` times the untrained model's, see
  :func:`diverged`), stops training with a message naming the epoch, instead of
  carrying on with garbage;
* a run is repeatable from the seeds it is given, in any process: the model's
  ``seed`` fixes its initial weights, dropout masks and sampling noise (models built
  with ``seed=None`` take them from the global state, :func:`set_seed`), and
  ``train``'s ``seed`` fixes the shuffling order and the input noise. Validation
  (``x_val``) draws from a stream of its own and leaves the run unchanged.

Any model that satisfies the protocol :class:`vaebook.checks.Trainable` can be trained:
it needs a method ``per_example_losses(x, training) -> dict`` whose ``"loss"`` entry
has shape ``(batch,)``; the batch mean of that entry is minimised.
A model that needs more than one gradient step per batch (the adversarial autoencoder
of chapter 3) defines ``apply_update(x, optimizer) -> dict`` instead, and lists its
own optimisers in ``phase_optimizers`` so that checkpoints include their states.
Checkpoints live in :mod:`vaebook.checkpoint`; the loss of a whole dataset in
:func:`vaebook.evaluate.evaluate_losses`.
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import keras
import numpy as np
import tensorflow as tf

from vaebook.checkpoint import (
    CHECKPOINT_FILE,
    check_checkpoint_dir,
    data_fingerprint,
    load_checkpoint,
    save_checkpoint,
)
from vaebook.checks import (
    as_images,
    check_model_labels,
    check_non_negative_int,
    check_positive,
    check_positive_int,
    check_trainable,
    model_inputs_in_unit_interval,
)
from vaebook.evaluate import evaluate_losses
from vaebook.rng import normal as random_normal
from vaebook.rng import row_key, uniform_rows
from vaebook.runtime import use_xla

__all__ = [
    "DIVERGENCE_FACTOR",
    "QUICK_ENV_VAR",
    "QUICK_TRAINING_IMAGES",
    "History",
    "TrainingDivergedError",
    "diverged",
    "epochs_for",
    "is_quick",
    "DEFAULT_STEPS_PER_CALL",
    "make_train_block",
    "epoch_blocks",
    "make_train_step",
    "quick_subset",
    "set_seed",
    "train",
]

#: Set this environment variable to ``1`` for short runs (a few epochs on a declared
#: subset of the training images).
QUICK_ENV_VAR = "VAEBOOK_QUICK"

#: In quick mode :func:`train` uses at most this many training images (the first ones;
#: MNIST's and Fashion-MNIST's are in no particular order), so that CI runs every
#: chapter in minutes. Shapes, code paths and the test sets are unchanged.
QUICK_TRAINING_IMAGES = 20_000

_quick_notice_shown = False

EpochCallback = Callable[[int, dict[str, float]], None]


class TrainingDivergedError(RuntimeError):
    """Raised when the training loss becomes NaN or infinite, or explodes."""


#: An epoch's mean loss above ``start + DIVERGENCE_FACTOR * max(|start|, 1)``, where
#: ``start`` is the untrained model's loss on the first batch, stops training.
DIVERGENCE_FACTOR = 10.0


def diverged(loss: float, start: float) -> bool:
    """Whether a finite epoch loss has exploded relative to the untrained model's.

    Training lowers the loss; a loss that ends an epoch more than ``DIVERGENCE_FACTOR``
    times the starting loss's size above it has diverged (an autoencoder at learning
    rate 1e3 goes from about 540 to 3e5 nats) even though it stayed finite. The scale
    is at least 1, so that a loss starting near 0 (or negative, as Gaussian
    log-likelihoods can be) is judged on an absolute scale.

    Args:
        loss: An epoch's mean loss.
        start: The untrained model's loss (the first step's batch mean).

    Returns:
        True if training should stop.
    """
    return loss > start + DIVERGENCE_FACTOR * max(abs(start), 1.0)


def is_quick() -> bool:
    """Whether quick mode is on (``VAEBOOK_QUICK`` set to ``1``, ``true`` or ``yes``)."""
    return os.environ.get(QUICK_ENV_VAR, "").strip().lower() in {"1", "true", "yes", "on"}


def quick_subset(count: int) -> int:
    """How many of ``count`` training examples :func:`train` uses.

    All of them, except in quick mode, where at most ``QUICK_TRAINING_IMAGES`` (the
    first ones); the first time a run is cut, one line says so.
    """
    global _quick_notice_shown
    if not is_quick() or count <= QUICK_TRAINING_IMAGES:
        return count
    if not _quick_notice_shown:
        print(
            f"quick mode ({QUICK_ENV_VAR}=1): training on the first "
            f"{QUICK_TRAINING_IMAGES:,} of {count:,} images; full runs use all of them"
        )
        _quick_notice_shown = True
    return QUICK_TRAINING_IMAGES


def epochs_for(full: int, quick: int = 2) -> int:
    """Returns ``quick`` in quick mode and ``full`` otherwise.

    Args:
        full: Epochs of the full-length run whose outputs the book shows.
        quick: Epochs in quick mode (used by CI to run every notebook in minutes).

    Returns:
        The number of epochs to train for.
    """
    full = check_positive_int(full, "full")
    quick = check_positive_int(quick, "quick")
    return quick if is_quick() else full


def set_seed(seed: int) -> None:
    """Seeds Python, NumPy, TensorFlow and Keras so that runs are repeatable.

    Args:
        seed: Any non-negative integer.
    """
    keras.utils.set_random_seed(check_non_negative_int(seed, "seed"))


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


def _step_function(
    model: keras.Model,
    optimizer: keras.optimizers.Optimizer,
    noise: keras.random.SeedGenerator,
) -> Callable[..., dict[str, tf.Tensor]]:
    """The body of one training step, shared by the one-step and the block functions."""
    apply_update = getattr(model, "apply_update", None)

    def one_step(
        x_all: tf.Tensor,
        indices: tf.Tensor,
        y_all: tf.Tensor | None = None,
        sd_all: tf.Tensor | None = None,
        uniforms: tf.Tensor | None = None,
    ) -> dict[str, tf.Tensor]:
        x = tf.gather(x_all, indices)  # (batch, *image_shape)
        # A conditional model also gets the batch's labels: (batch,).
        extra = {} if y_all is None else {"labels": tf.gather(y_all, indices)}
        if uniforms is not None:
            # Dynamic binarisation: pixel on with probability equal to its intensity.
            x = tf.cast(tf.reshape(uniforms, tf.shape(x)) < x, x.dtype)
        if sd_all is not None:
            # Inputs given as distributions: a fresh draw from N(x, sd^2) each step.
            x = x + tf.gather(sd_all, indices) * random_normal(tf.shape(x), noise)
        if apply_update is not None:
            losses = apply_update(x, optimizer)
            return {name: tf.reduce_mean(value) for name, value in losses.items()}
        schedule = getattr(model, "kl_schedule", None)
        if schedule is not None:
            # The KL weight of this step, from the optimiser's step counter.
            extra["kl_weight"] = schedule(optimizer.iterations)
        with tf.GradientTape() as tape:
            losses = model.per_example_losses(x, training=True, **extra)
            loss = tf.reduce_mean(losses["loss"])
            if model.losses:
                loss = loss + tf.add_n(model.losses)
        gradients = tape.gradient(loss, model.trainable_variables)
        optimizer.apply_gradients(zip(gradients, model.trainable_variables))
        return {name: tf.reduce_mean(value) for name, value in losses.items()}

    return one_step


def _binarisation_noise(
    noise: keras.random.SeedGenerator, key: tf.Tensor, x_all: tf.Tensor, indices: tf.Tensor
) -> tf.Tensor:
    """Uniforms for binarising the images of ``indices``: ``(*indices.shape, pixels)``.

    The run's binarisation noise is one counter-based stream (:func:`vaebook.rng.
    uniform_rows`) with one row per image drawn: the ``i``-th image a run binarises gets
    row ``i``, whichever batch, block or call it comes in. The count of images drawn so
    far is the second word of ``noise``'s state, so checkpoints keep it. A block draws all
    its rows in one operation before its loop: a draw inside XLA's loop costs several
    times more (about 30 % of a step of the Burda et al. VAE).
    """
    images = tf.size(indices, out_type=tf.int64)
    pixels = tf.reduce_prod(tf.shape(x_all, out_type=tf.int64)[1:])
    drawn = noise.state[1]  # images binarised so far in this run
    uniforms = uniform_rows(key, drawn, images, pixels)  # (images, pixels)
    noise.state.assign_add(tf.stack([tf.constant(0, tf.int64), images]))
    shape = tf.concat([tf.shape(indices, out_type=tf.int64), [pixels]], axis=0)
    return tf.reshape(uniforms, shape)  # (*indices.shape, pixels)


def _check_one_noise(binarize: bool, sd_all: tf.Tensor | None) -> None:
    # Both would advance the one noise counter, and the binarisation of an image would
    # then depend on the blocking.
    if binarize and sd_all is not None:
        raise ValueError("binarize and input_sd cannot be combined: choose one.")


def _prepare(
    model: keras.Model, optimizer: keras.optimizers.Optimizer, seed: int
) -> tuple[keras.random.SeedGenerator, Callable[..., dict[str, tf.Tensor]], tf.Tensor]:
    """The noise generator, the body of one step and the binarisation stream's key."""
    check_trainable(model)
    if not model.trainable_variables:
        raise ValueError(f"{type(model).__name__} has no trainable variables; build it first.")
    optimizer.build(model.trainable_variables)
    seed = check_non_negative_int(seed, "seed")
    noise = keras.random.SeedGenerator(seed)
    return noise, _step_function(model, optimizer, noise), row_key(seed)


def make_train_step(
    model: keras.Model,
    optimizer: keras.optimizers.Optimizer,
    jit_compile: bool | None = True,
    binarize: bool = False,
    seed: int = 0,
) -> Callable[..., dict[str, tf.Tensor]]:
    """Builds the compiled training step ``step(x_all, indices[, y_all]) -> batch means``.

    The step gathers the batch ``x_all[indices]`` on the device (and, for a
    conditional model, its labels ``y_all[indices]``; with ``sd_all=`` it adds
    Gaussian noise of those standard deviations, as :func:`train`'s ``input_sd``
    does), computes the loss,
    differentiates it and applies one optimiser update. Chapter 2 checks it against
    the step written by hand; :func:`train` runs the same step in blocks
    (:func:`make_train_block`).

    Args:
        model: A model satisfying :class:`vaebook.checks.Trainable`.
        optimizer: A Keras optimiser.
        jit_compile: Whether to compile the step with XLA; ``None`` lets
            :func:`vaebook.runtime.use_xla` decide.
        binarize: Whether to binarise each batch dynamically: every time an image is
            drawn, each pixel is set to 1 with probability equal to its intensity
            (the standard training protocol for binarised MNIST).
        seed: Seed of the input noise (the binarisation, or ``sd_all``'s Gaussian
            noise).

    Returns:
        The compiled step; its ``noise`` attribute is the noise generator.
    """
    noise, one_step, key = _prepare(model, optimizer, seed)

    def step(
        x_all: tf.Tensor,
        indices: tf.Tensor,
        y_all: tf.Tensor | None = None,
        sd_all: tf.Tensor | None = None,
    ) -> dict[str, tf.Tensor]:
        _check_one_noise(binarize, sd_all)
        uniforms = _binarisation_noise(noise, key, x_all, indices) if binarize else None
        return one_step(x_all, indices, y_all, sd_all, uniforms)

    train_step = tf.function(step, jit_compile=use_xla(model, jit_compile), reduce_retracing=True)
    train_step.noise = noise  # Its state is part of a checkpoint.
    return train_step


def make_train_block(
    model: keras.Model,
    optimizer: keras.optimizers.Optimizer,
    jit_compile: bool | None = True,
    binarize: bool = False,
    seed: int = 0,
) -> Callable[..., dict[str, tf.Tensor]]:
    """Builds ``block(x_all, indices[, y_all]) -> per-step batch means``: many steps a call.

    ``indices`` has shape ``(steps, batch)``: row ``s`` holds the batch of step ``s``.
    One call runs all the steps in a loop *inside* one compiled function, so Python and
    the runtime are entered once per block instead of once per step. For small models
    that per-call cost dominates (a few hundred microseconds, against a step that can
    take less), which is why :func:`train` runs blocks. Each step is exactly
    :func:`make_train_step`'s.

    Args:
        model: A model satisfying :class:`vaebook.checks.Trainable`.
        optimizer: A Keras optimiser.
        jit_compile: Whether to compile the block with XLA; ``None`` lets
            :func:`vaebook.runtime.use_xla` decide.
        binarize: Whether to binarise each batch dynamically.
        seed: Seed of the input noise (the binarisation, or ``sd_all``'s Gaussian
            noise).

    Returns:
        The compiled block function, returning for each loss name a ``(steps,)`` tensor
        of batch means; its ``noise`` attribute is the noise generator.
    """
    noise, one_step, key = _prepare(model, optimizer, seed)

    def block(
        x_all: tf.Tensor,
        indices: tf.Tensor,
        y_all: tf.Tensor | None = None,
        sd_all: tf.Tensor | None = None,
    ) -> dict[str, tf.Tensor]:
        _check_one_noise(binarize, sd_all)
        steps = tf.shape(indices)[0]
        # All the block's binarisation noise in one draw: (steps, batch, pixels).
        uniforms = _binarisation_noise(noise, key, x_all, indices) if binarize else None

        def noise_of(s: int | tf.Tensor) -> tf.Tensor | None:
            return None if uniforms is None else uniforms[s]

        # The first step fixes the loss names and dtypes.
        first = one_step(x_all, indices[0], y_all, sd_all, noise_of(0))
        arrays = {
            name: tf.TensorArray(value.dtype, size=steps).write(0, value)
            for name, value in first.items()
        }
        for s in tf.range(1, steps):
            means = one_step(x_all, indices[s], y_all, sd_all, noise_of(s))
            arrays = {name: arrays[name].write(s, means[name]) for name in arrays}
        return {name: array.stack() for name, array in arrays.items()}  # each (steps,)

    train_block = tf.function(block, jit_compile=use_xla(model, jit_compile), reduce_retracing=True)
    train_block.noise = noise
    return train_block


#: Steps per compiled call when :func:`train`'s ``steps_per_call`` is not given and no
#: progress bar is shown: enough to make the per-call cost negligible for the course's
#: models, few enough that a block of the largest stays short.
DEFAULT_STEPS_PER_CALL = 100


_DIVERGENCE_CAUSES = (
    "Likely causes: a learning rate too high for this model, inputs outside the "
    "range the loss expects, or a numerically unstable loss (compute cross-entropy "
    "from logits, and log-variances rather than variances)."
)


def _describe_divergence(name: str, step_losses: np.ndarray, epoch: int) -> str:
    bad = np.flatnonzero(~np.isfinite(step_losses))
    step = int(bad[0]) + 1
    value = step_losses[bad[0]]
    return (
        f"Training diverged: {name} became {value} at step {step} of epoch {epoch}. "
        + _DIVERGENCE_CAUSES
    )


def _describe_explosion(loss: float, start: float, epoch: int) -> str:
    return (
        f"Training diverged: the loss rose from {start:.6g} (the untrained model, first "
        f"batch) to a mean of {loss:.6g} in epoch {epoch}, more than "
        f"{DIVERGENCE_FACTOR:g} times the starting loss's size above it. " + _DIVERGENCE_CAUSES
    )


def train(
    model: keras.Model,
    x_train: np.ndarray,
    *,
    y_train: np.ndarray | None = None,
    epochs: int,
    batch_size: int = 512,
    learning_rate: float = 1e-3,
    optimizer: keras.optimizers.Optimizer | None = None,
    x_val: np.ndarray | None = None,
    y_val: np.ndarray | None = None,
    seed: int = 0,
    callbacks: Sequence[EpochCallback] = (),
    verbose: int = 1,
    log_every: int = 1,
    jit_compile: bool | None = None,
    binarize: bool = False,
    input_sd: np.ndarray | None = None,
    checkpoint_dir: str | os.PathLike | None = None,
    steps_per_call: int | None = None,
) -> History:
    """Trains ``model`` by minibatch gradient descent on ``per_example_losses``.

    In quick mode (``VAEBOOK_QUICK=1``, for CI) only the first
    ``QUICK_TRAINING_IMAGES`` training examples are used (:func:`quick_subset`; one
    line says so), except by a semi-supervised model; held-out data and everything
    else are unchanged.

    Args:
        model: A model with ``per_example_losses(x, training)``.
        x_train: Training images, float in ``[0, 1]``.
        y_train: Their labels, for a conditional model (and only for one), such as
            :class:`vaebook.models.ConditionalVAE`: integers, one per image.
        epochs: Passes over the training set.
        batch_size: Examples per step; the last, smaller batch of an epoch is kept.
        learning_rate: Adam's learning rate, used when ``optimizer`` is not given.
        optimizer: A Keras optimiser; defaults to ``keras.optimizers.Adam(learning_rate)``.
        x_val: Held-out images; their mean losses are logged as ``val_*`` each epoch.
        y_val: Their labels, for a conditional model.
        seed: Seed of the shuffling order and of the input noise (``binarize``,
            ``input_sd``).
        callbacks: Functions ``callback(epoch, logs)`` called after each epoch
            (``epoch`` counts from 1), e.g. to save reconstructions. They run before
            the epoch's checkpoint is written, so a run cut off inside a callback
            repeats that epoch, callbacks included, when it resumes: a callback that
            records something should replace a record of the same epoch.
        verbose: 0 prints nothing, 1 prints one line every ``log_every`` epochs, 2 also
            shows a progress bar inside each epoch (for terminals).
        log_every: Epochs between printed lines when ``verbose`` is 1.
        jit_compile: Whether to compile the steps with XLA; ``None`` (the default)
            uses XLA except for convolutional models on a CPU, where it is slow
            (:func:`vaebook.runtime.use_xla`).
        binarize: Whether to binarise every batch dynamically (fresh Bernoulli draws
            each time an image is seen); ``x_val`` is used as given, so pass a fixed
            binarisation of the held-out images (:func:`vaebook.data.binarize`).
        input_sd: Standard deviations, one per value of ``x_train`` (same shape, >= 0):
            each time an example is drawn, its input is a fresh sample of
            ``N(x_train, input_sd**2)``, so ``x_train`` holds means; only for a model
            of real-valued features (not pixels in ``[0, 1]``). This trains on
            another model's posterior samples, as Kingma et al.'s stacked M1+M2 does
            (chapter 8, ``benchmarks/kingma2014.py``). ``x_val`` is used as given.
        checkpoint_dir: If given, a checkpoint is written there after every epoch, and
            if one is already there, training *resumes* from it (same weights,
            optimiser state, shuffling order and noise as an uninterrupted run), so
            ``epochs`` is the total, not the number still to run.
        steps_per_call: Training steps run inside one compiled call
            (:func:`make_train_block`). ``None`` chooses: ``DEFAULT_STEPS_PER_CALL``, or
            about a twentieth of an epoch when ``verbose=2`` shows a progress bar. The
            result does not depend on it: the steps, their batches and their noise are
            the same whatever the blocking (tested).

    Returns:
        A :class:`History` of per-epoch means.

    Raises:
        ValueError: If the data or the arguments are invalid.
        TrainingDivergedError: If the loss becomes NaN or infinite.
    """
    check_trainable(model)
    # 1. The data, checked at the door (and cut to a subset in quick mode).
    x_train, y_train, input_sd, x_val, y_val = _checked_data(
        model, x_train, y_train, input_sd, binarize, x_val, y_val
    )
    epochs = check_positive_int(epochs, "epochs")
    batch_size = check_positive_int(batch_size, "batch_size")
    log_every = check_positive_int(log_every, "log_every")
    seed = check_non_negative_int(seed, "seed")
    if optimizer is None:
        optimizer = keras.optimizers.Adam(check_positive(learning_rate, "learning_rate"))
    if checkpoint_dir is not None:
        checkpoint_dir = check_checkpoint_dir(checkpoint_dir, writable=True)

    # 2. The compiled block of steps, and the data put on the device once.
    step = make_train_block(model, optimizer, jit_compile=jit_compile, binarize=binarize, seed=seed)
    x_all = tf.convert_to_tensor(x_train, dtype=tf.float32)  # (n, *image_shape)
    y_all = None if y_train is None else tf.constant(np.asarray(y_train, np.int32))  # (n,)
    sd_all = None if input_sd is None else tf.constant(input_sd)  # (n, *image_shape)
    num_examples = x_train.shape[0]
    num_steps = math.ceil(num_examples / batch_size)
    _check_schedule_fits(model, epochs, num_steps)
    if steps_per_call is None:
        full_steps = num_examples // batch_size
        steps_per_call = max(1, full_steps // 20) if verbose >= 2 else DEFAULT_STEPS_PER_CALL
    steps_per_call = check_positive_int(steps_per_call, "steps_per_call")

    # 3. A fresh run, or the one the checkpoint holds.
    rng = np.random.default_rng(seed)  # the shuffling order
    settings = _run_settings(
        batch_size, seed, binarize, x_train, y_train, input_sd, checkpoint_dir is not None
    )
    history, start_loss = History(), None  # start_loss: the untrained model's loss
    if checkpoint_dir is not None and (checkpoint_dir / CHECKPOINT_FILE).is_file():
        state, rng_state = load_checkpoint(
            checkpoint_dir / CHECKPOINT_FILE,
            model,
            optimizer,
            step.noise,
            settings=settings,
            max_epochs=epochs,
        )
        history = History(
            history={name: list(values) for name, values in state["history"].items()},
            epoch_seconds=list(state["epoch_seconds"]),
            examples_per_second=list(state["examples_per_second"]),
        )
        rng.bit_generator.state = rng_state
        start_loss = state.get("start_loss")
        if verbose >= 1:
            print(f"resumed from {checkpoint_dir} after epoch {history.epochs}")

    # 4. The epochs: shuffle, run the blocks, check and average the losses, validate,
    # call back, checkpoint, print.
    for epoch in range(history.epochs + 1, epochs + 1):
        began = time.perf_counter()
        order = rng.permutation(num_examples).astype(np.int32)
        bar = keras.utils.Progbar(num_steps) if verbose >= 2 else None
        block_means: list[dict[str, tf.Tensor]] = []
        done = 0
        for block in epoch_blocks(order, batch_size, steps_per_call):
            inputs = (x_all, tf.constant(block), y_all) + (() if sd_all is None else (sd_all,))
            block_means.append(step(*inputs))
            done += len(block)
            if bar is not None:
                bar.update(done)
        # One transfer per block: each step's batch means, as (num_steps,) arrays.
        step_losses = {
            name: np.concatenate([np.asarray(means[name], np.float64) for means in block_means])
            for name in block_means[0]
        }
        logs, start_loss = _epoch_logs(step_losses, batch_size, num_examples, start_loss, epoch)
        if x_val is not None:
            for name, value in evaluate_losses(model, x_val, labels=y_val).items():
                logs[f"val_{name}"] = value
        seconds = time.perf_counter() - began
        history.append(logs, seconds, num_examples)
        # The callbacks run before the epoch is checkpointed: a run cut off inside
        # one (a long evaluation, say) repeats the epoch and its callbacks when it
        # resumes, rather than going on without what the callback would have done.
        for callback in callbacks:
            callback(epoch, logs)
        if checkpoint_dir is not None:
            save_checkpoint(
                checkpoint_dir,
                model,
                optimizer,
                step.noise,
                rng.bit_generator.state,
                history,
                settings=settings,
                extra_state={"start_loss": start_loss},
            )
        if verbose >= 1 and (epoch % log_every == 0 or epoch == epochs):
            shown = "  ".join(f"{name} {value:.4f}" for name, value in logs.items())
            print(f"epoch {epoch:>3}/{epochs}  {shown}  ({seconds:.1f} s)")
    return history


def _checked_data(
    model: keras.Model,
    x_train: np.ndarray,
    y_train: np.ndarray | None,
    input_sd: np.ndarray | None,
    binarize: bool,
    x_val: np.ndarray | None,
    y_val: np.ndarray | None,
) -> tuple[np.ndarray, ...]:
    """:func:`train`'s data, checked, and cut to :func:`quick_subset` in quick mode."""
    in_unit_interval = model_inputs_in_unit_interval(model)
    x_train = as_images(
        x_train,
        "x_train",
        image_shape=getattr(model, "image_shape", None),
        unit_interval=in_unit_interval,
    )
    y_train = check_model_labels(model, y_train, len(x_train), "y_train")
    if input_sd is not None:
        if binarize:
            raise ValueError("binarize and input_sd cannot be combined: choose one.")
        if in_unit_interval:
            raise ValueError(
                f"input_sd adds Gaussian noise, which leaves [0, 1], but "
                f"{type(model).__name__} takes pixels in [0, 1]; input_sd is for models "
                "of real-valued features (e.g. SemiSupervisedVAE(likelihood='gaussian'))."
            )
        input_sd = as_images(
            input_sd, "input_sd", image_shape=x_train.shape[1:], unit_interval=False
        )
        if len(input_sd) != len(x_train) or np.any(input_sd < 0):
            raise ValueError(
                f"input_sd must hold one standard deviation >= 0 per value of x_train "
                f"(shape {x_train.shape}); got shape {input_sd.shape}, minimum "
                f"{float(input_sd.min()):g}."
            )
    # All of them, except in quick mode (a semi-supervised model's few labels may lie
    # anywhere in the training set: it keeps them all).
    semi_supervised = bool(getattr(model, "semi_supervised", False))
    used = len(x_train) if semi_supervised else quick_subset(len(x_train))
    x_train = x_train[:used]
    y_train = None if y_train is None else y_train[:used]
    input_sd = None if input_sd is None else input_sd[:used]
    if x_val is not None:
        x_val = as_images(
            x_val, "x_val", image_shape=x_train.shape[1:], unit_interval=in_unit_interval
        )
        y_val = check_model_labels(model, y_val, len(x_val), "y_val")
    elif y_val is not None:
        raise ValueError("y_val was given without x_val.")
    return x_train, y_train, input_sd, x_val, y_val


def _check_schedule_fits(model: keras.Model, epochs: int, steps_per_epoch: int) -> None:
    """Refuses a KL schedule that the run would end before finishing."""
    schedule = getattr(model, "kl_schedule", None)
    if schedule is not None and schedule.steps > epochs * steps_per_epoch:
        raise ValueError(
            f"The model's kl_schedule {schedule!r} covers {schedule.steps:,} steps, but "
            f"this run has {epochs * steps_per_epoch:,} ({epochs} epochs of "
            f"{steps_per_epoch:,} steps): it would end before the KL weight reaches 1. "
            "Give the schedule at most the run's steps."
        )


def _run_settings(
    batch_size: int,
    seed: int,
    binarize: bool,
    x_train: np.ndarray,
    y_train: np.ndarray | None,
    input_sd: np.ndarray | None,
    checkpointed: bool,
) -> dict:
    """What else decides a run's result: recorded in checkpoints, compared on resuming."""
    settings: dict = {
        "batch_size": batch_size,
        "seed": seed,
        "binarize": bool(binarize),
        "num_examples": int(len(x_train)),
    }
    if binarize:
        # How the binarisation noise is drawn: row i of one counter-based stream for
        # the i-th image drawn (checkpoints written before that have no such entry,
        # and resuming one of them would mix two noise streams).
        settings["binarisation_noise"] = "rows"
    if input_sd is not None:
        settings["input_sd"] = True
    if y_train is not None:
        settings["labels"] = True
    if checkpointed:
        # Which data the run trains on: another dataset of the same size is refused.
        settings["data"] = data_fingerprint(x_train, y_train)
    return settings


def epoch_blocks(order: np.ndarray, batch_size: int, steps_per_call: int) -> list[np.ndarray]:
    """One epoch's batches, grouped into the blocks that :func:`train` runs.

    Args:
        order: The epoch's shuffled example indices, shape ``(n,)``.
        batch_size: Examples per step.
        steps_per_call: Steps per block.

    Returns:
        Arrays of shape ``(steps, batch_size)``: the full batches in blocks of at most
        ``steps_per_call`` steps, in order, then the smaller last batch (if any) as a
        block of one step, shape ``(1, n % batch_size)``.

    Example:
        >>> [block.shape for block in epoch_blocks(np.arange(10), 3, 2)]
        [(2, 3), (1, 3), (1, 1)]
    """
    full_steps = len(order) // batch_size  # steps with a full batch
    blocks = [
        order[first * batch_size : min(first + steps_per_call, full_steps) * batch_size].reshape(
            -1, batch_size
        )
        for first in range(0, full_steps, steps_per_call)
    ]
    if full_steps * batch_size < len(order):
        blocks.append(order[full_steps * batch_size :][None])  # (1, remainder)
    return blocks


def _epoch_logs(
    step_losses: dict[str, np.ndarray],
    batch_size: int,
    num_examples: int,
    start_loss: float | None,
    epoch: int,
) -> tuple[dict[str, float], float | None]:
    """Checks an epoch's per-step losses and averages them, weighted by batch size.

    Returns:
        The epoch's means, and the untrained model's loss (the first step's, taken in
        the first epoch) that later epochs are compared with.

    Raises:
        TrainingDivergedError: On a NaN or infinite loss, or one that exploded.
    """
    for name, values in step_losses.items():
        if not np.all(np.isfinite(values)):
            raise TrainingDivergedError(_describe_divergence(name, values, epoch))
    num_steps = math.ceil(num_examples / batch_size)
    sizes = np.full(num_steps, batch_size, dtype=np.float64)
    sizes[-1] = num_examples - batch_size * (num_steps - 1)
    logs = {
        name: float(np.dot(values, sizes) / num_examples) for name, values in step_losses.items()
    }
    if "loss" in step_losses:
        if start_loss is None:
            start_loss = float(step_losses["loss"][0])  # before the first update
        if diverged(logs["loss"], start_loss):
            raise TrainingDivergedError(_describe_explosion(logs["loss"], start_loss, epoch))
    return logs, start_loss
