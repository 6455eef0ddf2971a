"""Seeded random numbers that stay fast inside XLA-compiled steps on CPU.

``keras.random`` draws with TensorFlow's ``auto_select`` algorithm, which XLA compiles to
a slow kernel on CPU: drawing one 256 x 784 batch of noise took about 37 ms there,
several times the cost of a training step (measured with TensorFlow 2.21 on 2 cores).
Naming the Philox algorithm brings it below 3 ms. These helpers take the same seeds as
``keras.random`` (an integer, or a ``keras.random.SeedGenerator`` that advances at every
call) and draw with Philox. The denoising corruption (chapter 3) and the dynamic
binarisation of :func:`vaebook.train.train` (chapter 5) use them.
"""

from __future__ import annotations

from collections.abc import Sequence

import keras
import tensorflow as tf

__all__ = ["Seed", "normal", "uniform"]

#: An integer seed (the same draw every call) or a generator (a fresh draw every call).
Seed = int | keras.random.SeedGenerator


def _stateless_seed(seed: Seed) -> tf.Tensor:
    if isinstance(seed, keras.random.SeedGenerator):
        return tf.cast(seed.next(), tf.int64)  # (2,), and the generator advances
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise ValueError(f"seed must be an int or a keras.random.SeedGenerator; got {seed!r}.")
    return tf.constant([seed, 0], tf.int64)


def uniform(
    shape: Sequence[int] | tf.Tensor, seed: Seed, dtype: tf.DType = tf.float32
) -> tf.Tensor:
    """Uniform numbers in ``[0, 1)`` of the given shape."""
    return tf.random.stateless_uniform(shape, _stateless_seed(seed), dtype=dtype, alg="philox")


def normal(shape: Sequence[int] | tf.Tensor, seed: Seed, dtype: tf.DType = tf.float32) -> tf.Tensor:
    """Standard normal numbers of the given shape."""
    return tf.random.stateless_normal(shape, _stateless_seed(seed), dtype=dtype, alg="philox")
