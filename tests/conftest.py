"""Shared fixtures: the real datasets, found where the README says, and NumPy references."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

import vaebook  # noqa: F401  (imports TensorFlow quietly before the tests do)

SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"

_ACTIVATIONS = {
    "linear": lambda h: h,
    "relu": lambda h: np.maximum(h, 0.0),
    "tanh": np.tanh,
    "sigmoid": lambda h: 1.0 / (1.0 + np.exp(-h)),
}


@pytest.fixture(scope="session", autouse=True)
def _data_location():
    """Uses $VAEBOOK_DATA, or the shared copy beside the checkout when it is unset."""
    if not os.environ.get("VAEBOOK_DATA") and SHARED_DATA.is_dir():
        os.environ["VAEBOOK_DATA"] = str(SHARED_DATA)
    yield


@pytest.fixture(scope="session")
def fashion():
    from vaebook.data import load_fashion_mnist

    return load_fashion_mnist()


@pytest.fixture(scope="session")
def mnist():
    from vaebook.data import load_mnist

    return load_mnist()


def numpy_dense_stack(stack, x):
    """Runs a ``dense_stack`` (inference mode) in float64 NumPy from its weights."""
    import keras

    h = np.asarray(x, dtype=np.float64)
    for layer in stack.layers:
        if isinstance(layer, keras.layers.Flatten):
            h = h.reshape(len(h), -1)
        elif isinstance(layer, keras.layers.Dense):
            kernel, bias = (np.asarray(w, dtype=np.float64) for w in layer.get_weights())
            h = _ACTIVATIONS[layer.get_config()["activation"]](h @ kernel + bias)
        elif isinstance(layer, keras.layers.Reshape):
            h = h.reshape((len(h), *layer.target_shape))
        elif not isinstance(layer, keras.layers.Dropout):  # dropout is off at inference
            raise TypeError(f"no NumPy reference for layer {layer.name}")
    return h


def numpy_sigmoid_cross_entropy(x, logits):
    """``-sum[x log sigmoid(l) + (1 - x) log(1 - sigmoid(l))]`` per example, in float64."""
    x, logits = np.asarray(x, np.float64), np.asarray(logits, np.float64)
    per_pixel = np.maximum(logits, 0) - logits * x + np.log1p(np.exp(-np.abs(logits)))
    return per_pixel.reshape(*per_pixel.shape[: per_pixel.ndim - x.ndim + 1], -1).sum(-1)


def one_sample_log_weight_parts(z_mean, z_log_var, noise, reconstruction_loss):
    """-log w of one code per image, written out in float64 from its parts.

    ``z = z_mean + exp(z_log_var / 2) * noise``; ``-log w = -log p(x | z) + log q(z | x)
    - log p(z)`` with the Gaussian densities by hand and ``-log p(x | z)`` the loss's
    reconstruction term for the same noise.
    """
    z_mean, z_log_var = (np.asarray(t, np.float64) for t in (z_mean, z_log_var))
    z = z_mean + np.exp(0.5 * z_log_var) * np.asarray(noise, np.float64)
    log_q = -0.5 * np.sum(np.log(2 * np.pi) + z_log_var + (z - z_mean) ** 2 / np.exp(z_log_var), 1)
    log_p = -0.5 * np.sum(np.log(2 * np.pi) + z**2, 1)
    return np.asarray(reconstruction_loss, np.float64) + log_q - log_p


@pytest.fixture(scope="session")
def numpy_reference():
    """NumPy versions of a dense stack's forward pass and of the Bernoulli loss."""
    return {
        "forward": numpy_dense_stack,
        "cross_entropy": numpy_sigmoid_cross_entropy,
        "negative_log_weight": one_sample_log_weight_parts,
    }
