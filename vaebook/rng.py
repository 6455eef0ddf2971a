"""Seeded random numbers that stay fast inside XLA-compiled steps on CPU.

``keras.random`` draws with TensorFlow's ``auto_select`` algorithm, which XLA compiles to
a slow kernel on CPU: drawing one 256 x 784 batch of noise took about 37 ms there,
several times the cost of a training step (measured with TensorFlow 2.21 on 2 cores).
Naming the Philox algorithm brings it below 3 ms. These helpers take the same seeds as
``keras.random`` (an integer, or a ``keras.random.SeedGenerator`` that advances at every
call) and draw with Philox. The denoising corruption (chapter 3) and the dynamic
binarisation of :func:`vaebook.train.train` (chapter 5) use them.

**Independent streams.** A seed is never turned into a stream by counting from it:
``tf.random.Generator.from_seed(s)`` does that, and the streams of seeds ``s`` and
``s + 1`` are then the same numbers shifted by a few positions (149,848 of 150,000
normal draws shared), so runs "with different seeds" are not independent. Here an
integer seed and an optional path of integers (a batch index, a chunk index) go
through NumPy's ``SeedSequence`` hash (:func:`derive`) to a 64-bit Philox key, and the
stateless Philox draws of different keys are unrelated.
"""

from __future__ import annotations

from collections.abc import Sequence

import keras
import numpy as np
import tensorflow as tf

from vaebook.checks import check_non_negative_int

__all__ = ["Seed", "derive", "normal", "uniform"]

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
