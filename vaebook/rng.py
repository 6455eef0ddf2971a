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

from collections.abc import Sequence

import keras
import numpy as np
import tensorflow as tf

from vaebook.checks import check_non_negative_int

__all__ = ["Seed", "derive", "normal", "row_key", "uniform", "uniform_rows"]

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


def row_key(seed: int) -> tf.Tensor:
    """The Philox key of :func:`uniform_rows`' stream for ``seed``: a ``(1,)`` uint64 tensor.

    It is the first word of :func:`derive` ``(seed, 1)``, so it shares nothing with the
    streams of :func:`uniform` and :func:`normal` for the same seed.
    """
    return tf.bitcast(derive(seed, 1)[:1], tf.uint64)


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
