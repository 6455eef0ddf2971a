"""Seeded random numbers that stay fast inside XLA-compiled steps on CPU.

``keras.random`` draws with TensorFlow's ``auto_select`` algorithm, which XLA compiles to
a slow kernel on CPU: drawing one 256 x 784 batch of noise took about 37 ms there,
several times the cost of a training step (measured with TensorFlow 2.21 on 2 cores).
Naming the Philox algorithm brings it below 3 ms. These helpers take the same seeds as
``keras.random`` (an integer, or a ``keras.random.SeedGenerator`` that advances at every
call) and draw with Philox. The denoising corruption (chapter 3) uses them, and
the dynamic binarisation of :func:`vaebook.train.train` (chapter 5) uses :func:`uniform_rows`.

**Independent streams.** A seed is never turned into a stream by counting from it:
``tf.random.Generator.from_seed(s)`` does that, and the streams of seeds ``s`` and
``s + 1`` are then the same numbers shifted by a few positions (149,848 of 150,000
normal draws shared), so runs "with different seeds" are not independent. Here an
integer seed and an optional path of integers (a batch index, a chunk index) go
through NumPy's ``SeedSequence`` hash (:func:`derive`) to a 64-bit Philox key, and the
stateless Philox draws of different keys are unrelated.

**Counter-based rows.** Philox turns a key and a 128-bit counter into four 32-bit
words, and a draw of ``n`` numbers at counter ``c`` uses counters ``c, c + 1, ...``,
one per four numbers. So row ``r`` of a long stream can be defined as the numbers at
counter ``r * ceil(length / 4)``, and one draw of many rows gives exactly the rows that
separate draws would (tested, compiled and not). :func:`uniform_rows` does that; it lets
a block of training steps draw all its binarisation noise in one operation (a draw inside
XLA's step loop costs several times more) while the noise of each image stays the same
whatever the blocking. Compiled and uncompiled code give different numbers for the same
key and row (XLA's Philox and TensorFlow's kernel arrange the words differently), and a
compiled draw whose key and counter are both constants can be folded at compile time
with the kernel's numbers. In training the counter is read from a variable, so the draw
is always compiled.
"""

from __future__ import annotations

import contextlib
import random
from collections.abc import Iterator, Sequence

import keras
import numpy as np
import tensorflow as tf

from vaebook.checks import check_non_negative_int

__all__ = [
    "STREAMS",
    "Seed",
    "derive",
    "normal",
    "normal_rows",
    "python_random_seeded",
    "row_key",
    "stream_key",
    "uniform",
    "uniform_rows",
]

#: An integer seed (the same draw every call), a key from :func:`derive`, or a
#: generator (a fresh draw every call).
Seed = int | tf.Tensor | keras.random.SeedGenerator


def derive(seed: int, *path: int) -> tf.Tensor:
    """A Philox key for the stream named by ``seed`` and an optional path of integers.

    Distinct ``(seed, *path)`` give independent streams (NumPy's ``SeedSequence``
    hashes them), so ``derive(0)`` and ``derive(1)`` share no structure, and
    ``derive(seed, i)`` gives the ``i``-th sub-stream of a run.

    Args:
        seed: An integer >= 0.
        *path: Integers >= 0 naming a sub-stream.

    Returns:
        An int64 tensor of shape ``(2,)``, to pass as ``seed`` to :func:`normal` or
        :func:`uniform`.
    """
    seed = check_non_negative_int(seed, "seed")
    path = tuple(check_non_negative_int(part, "each entry of the stream's path") for part in path)
    words = np.random.SeedSequence(seed, spawn_key=path).generate_state(2, dtype=np.uint64)
    return tf.constant(words.view(np.int64), tf.int64)


def _stateless_seed(seed: Seed) -> tf.Tensor:
    if isinstance(seed, keras.random.SeedGenerator):
        return tf.cast(seed.next(), tf.int64)  # (2,), and the generator advances
    if isinstance(seed, tf.Tensor):
        return tf.cast(seed, tf.int64)
    return derive(check_non_negative_int(seed, "seed"))


def uniform(
    shape: Sequence[int] | tf.Tensor, seed: Seed, dtype: tf.DType = tf.float32
) -> tf.Tensor:
    """Uniform numbers in ``[0, 1)`` of the given shape."""
    return tf.random.stateless_uniform(shape, _stateless_seed(seed), dtype=dtype, alg="philox")


def normal(shape: Sequence[int] | tf.Tensor, seed: Seed, dtype: tf.DType = tf.float32) -> tf.Tensor:
    """Standard normal numbers of the given shape."""
    return tf.random.stateless_normal(shape, _stateless_seed(seed), dtype=dtype, alg="philox")


#: ``tf.random.Algorithm.PHILOX``, the algorithm of :func:`uniform_rows`.
_PHILOX = 1


def stream_key(seed: int, *path: int) -> tf.Tensor:
    """The Philox key of a row-indexed stream (:func:`uniform_rows`, :func:`normal_rows`).

    It is the first word of :func:`derive` ``(seed, *path)``: a ``(1,)`` uint64 tensor.
    Distinct paths name unrelated streams; the package's own are listed in
    :data:`STREAMS`.
    """
    return tf.bitcast(derive(seed, *path)[:1], tf.uint64)


#: The first entry of the path of each row-indexed stream the package draws, so that no
#: two share numbers: the training run's binarisation noise, and the noise of the
#: stochastic metrics, in which row ``i`` belongs to image ``i`` of the evaluated set.
STREAMS = {
    "binarisation": 1,
    "evaluate_losses": 2,
    "vae_bounds": 3,
    "likelihood_regret": 4,
    "model_construction": 5,
}


def row_key(seed: int) -> tf.Tensor:
    """The Philox key of the training binarisation stream for ``seed`` (``(1,)`` uint64).

    It is :func:`stream_key` ``(seed, 1)``, so it shares nothing with the streams of
    :func:`uniform` and :func:`normal` for the same seed.
    """
    return stream_key(seed, STREAMS["binarisation"])


def uniform_rows(
    key: tf.Tensor,
    first_row: int | tf.Tensor,
    rows: int | tf.Tensor,
    length: int | tf.Tensor,
) -> tf.Tensor:
    """Rows ``first_row, ..., first_row + rows - 1`` of a counter-based stream of uniforms.

    Row ``r`` holds ``length`` numbers in ``[0, 1)`` and depends only on ``key``,
    ``length`` and ``r``: drawing rows 0-9 at once gives the same numbers, bit for bit,
    as ten draws of one row each.

    Args:
        key: A ``(1,)`` uint64 key from :func:`row_key`.
        first_row: Index of the first row: an integer >= 0, or an integer scalar tensor.
        rows: Number of rows (an integer or an integer scalar tensor).
        length: Numbers per row (an integer or an integer scalar tensor).

    Returns:
        A float32 tensor of shape ``(rows, length)``.
    """
    if not isinstance(first_row, tf.Tensor):
        first_row = check_non_negative_int(first_row, "first_row")
    length = tf.cast(length, tf.int64)
    counters_per_row = (length + 3) // 4  # Philox gives four numbers per counter.
    low = tf.cast(first_row, tf.uint64) * tf.cast(counters_per_row, tf.uint64)
    counter = tf.stack([low, tf.constant(0, tf.uint64)])  # (2,): a 128-bit counter
    numbers = tf.raw_ops.StatelessRandomUniformV2(
        shape=tf.stack([tf.cast(rows, tf.int64), 4 * counters_per_row]),
        key=key,
        counter=counter,
        alg=_PHILOX,
    )  # (rows, 4 * counters_per_row)
    return numbers[:, :length]


def normal_rows(
    key: tf.Tensor,
    first_row: int,
    rows: int,
    length: int,
) -> tf.Tensor:
    """Rows of a counter-based stream of standard normal numbers.

    Row ``r`` is the inverse normal CDF of uniforms made from row ``r`` of
    :func:`uniform_rows` (of twice the length: two float32 uniforms, 23 bits each, make
    one uniform of 46 bits, shifted by half its step so that none is 0 or 1; with 23
    bits, two independent streams would share about 2 % of their values exactly). Row
    ``r`` depends only on ``key``, ``length`` and ``r``. The stochastic metrics give
    row ``i`` to image ``i`` of the evaluated set: an image's noise is then the same
    whatever the batch size, the chunking or the other images evaluated with it. Draw
    rows outside compiled functions (eagerly), where the numbers are those of
    TensorFlow's kernel.

    Args:
        key: A ``(1,)`` uint64 key from :func:`stream_key`.
        first_row: Index of the first row, an integer >= 0.
        rows: Number of rows.
        length: Numbers per row.

    Returns:
        A float32 tensor of shape ``(rows, length)``.
    """
    uniforms = tf.cast(uniform_rows(key, first_row, rows, 2 * length), tf.float64)
    high, low = uniforms[:, :length], uniforms[:, length:]  # each a multiple of 2**-23
    fine = high + low * 2.0**-23 + 2.0**-47  # (rows, length), in (0, 1)
    return tf.cast(tf.math.ndtri(fine), tf.float32)


@contextlib.contextmanager
def python_random_seeded(seed: int) -> Iterator[None]:
    """Seeds Python's ``random`` inside the block and restores its state afterwards.

    Keras draws the seeds of initialisers and dropout layers created without one from
    Python's ``random`` module. Building a model inside this block therefore gives the
    same initial weights and dropout masks for the same ``seed`` in any process,
    without :func:`vaebook.train.set_seed` and without disturbing the global stream.

    Args:
        seed: An integer >= 0.
    """
    seed = check_non_negative_int(seed, "seed")
    state = random.getstate()
    words = np.random.SeedSequence(seed, spawn_key=(STREAMS["model_construction"],))
    random.seed(int(words.generate_state(1, dtype=np.uint64)[0]))
    try:
        yield
    finally:
        random.setstate(state)
