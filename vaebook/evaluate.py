"""Test-set metrics shared by the chapters and the benchmarks.

Every metric is a mean over images of a per-image sum over pixels (see
:mod:`vaebook.losses` for why), computed in batches so that memory stays bounded.
"""

from __future__ import annotations

from collections.abc import Callable

import keras
import numpy as np
import tensorflow as tf

from vaebook.data import check_images
from vaebook.losses import bernoulli_entropy, bernoulli_reconstruction_loss, squared_error

__all__ = ["map_in_batches", "reconstruction_metrics", "squared_error_per_image"]


def map_in_batches(
    function: Callable[[tf.Tensor], tf.Tensor], x: np.ndarray, batch_size: int = 1000
) -> np.ndarray:
    """Applies ``function`` to ``x`` batch by batch and concatenates the results.

    Args:
        function: Maps a batch ``(b, ...)`` to an output with a leading axis ``b``.
        x: The inputs.
        batch_size: Inputs per call.

    Returns:
        The concatenated outputs as a NumPy array.
    """
    if len(x) == 0:
        raise ValueError("x is empty.")
    outputs = [
        np.asarray(function(tf.convert_to_tensor(x[start : start + batch_size])))
        for start in range(0, len(x), batch_size)
    ]
    return np.concatenate(outputs, axis=0)


def squared_error_per_image(x: np.ndarray, x_hat: np.ndarray) -> np.ndarray:
    """Squared error summed over each image's pixels, computed in float64.

    Args:
        x: Images, shape ``(n, ...)``.
        x_hat: Reconstructions of the same shape (any real values).

    Returns:
        Shape ``(n,)``.
    """
    x = np.asarray(x, dtype=np.float64)
    x_hat = np.asarray(x_hat, dtype=np.float64)
    if x.shape != x_hat.shape:
        raise ValueError(f"x has shape {x.shape} but x_hat has shape {x_hat.shape}.")
    return np.square(x - x_hat).reshape(len(x), -1).sum(axis=1)


def reconstruction_metrics(
    model: keras.Model, x: np.ndarray, batch_size: int = 1000
) -> dict[str, float]:
    """Test metrics of an autoencoder whose call returns logits.

    Args:
        model: A model with ``__call__(x) -> logits`` of the images' shape.
        x: Images in ``[0, 1]``, e.g. the full test set.
        batch_size: Images per batch.

    Returns:
        A dict of means over images of per-image sums over pixels, with keys
        ``"squared_error"`` (of ``sigmoid(logits)``), ``"cross_entropy"`` (nats),
        ``"entropy_floor"`` (the cross-entropy's minimum for these targets) and
        ``"cross_entropy_gap"`` (cross-entropy minus floor).
    """
    x = np.asarray(x)
    check_images(x, "x")

    @tf.function(jit_compile=True, reduce_retracing=True)
    def per_image(batch: tf.Tensor) -> tf.Tensor:
        logits = model(batch, training=False)
        return tf.stack(
            [
                squared_error(batch, tf.sigmoid(logits)),
                bernoulli_reconstruction_loss(batch, logits),
                bernoulli_entropy(batch),
            ],
            axis=1,
        )  # (batch, 3)

    values = map_in_batches(per_image, x, batch_size).astype(np.float64).mean(axis=0)
    return {
        "squared_error": float(values[0]),
        "cross_entropy": float(values[1]),
        "entropy_floor": float(values[2]),
        "cross_entropy_gap": float(values[1] - values[2]),
    }
