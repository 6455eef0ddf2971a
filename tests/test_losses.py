import numpy as np
import pytest
import tensorflow as tf

from vaebook import losses


def reference_cross_entropy(x, logits):
    """The textbook formula in float64, from probabilities (an independent reference)."""
    p = 1 / (1 + np.exp(-logits.astype(np.float64)))
    per_pixel = -(x * np.log(p) + (1 - x) * np.log(1 - p))
    return per_pixel.reshape(len(x), -1).sum(axis=1)


def test_cross_entropy_matches_reference_summed_per_example():
    rng = np.random.default_rng(0)
    x = rng.random((5, 4, 3)).astype(np.float32)
    logits = rng.normal(size=(5, 4, 3)).astype(np.float32)
    got = losses.bernoulli_reconstruction_loss(x, logits).numpy()
    assert got.shape == (5,)
    np.testing.assert_allclose(got, reference_cross_entropy(x, logits), rtol=1e-5)


def test_cross_entropy_is_stable_for_extreme_logits():
    x = tf.constant([[0.0, 1.0, 0.0, 1.0]])
    logits = tf.constant([[-100.0, 100.0, 100.0, -100.0]])
    got = losses.bernoulli_reconstruction_loss(x, logits).numpy()
    # Two right, confident pixels cost ~0; two wrong ones cost ~100 nats each.
    np.testing.assert_allclose(got, [200.0], rtol=1e-6)


def test_cross_entropy_gradient_matches_finite_differences():
    rng = np.random.default_rng(1)
    x = tf.constant(rng.random((1, 6)), dtype=tf.float64)
    logits = tf.Variable(rng.normal(size=(1, 6)), dtype=tf.float64)
    with tf.GradientTape() as tape:
        loss = losses.bernoulli_reconstruction_loss(x, logits)[0]
    analytic = tape.gradient(loss, logits).numpy()
    eps = 1e-6
    numeric = np.zeros_like(analytic)
    for i in range(6):
        step = np.zeros((1, 6))
        step[0, i] = eps
        up = losses.bernoulli_reconstruction_loss(x, logits + step)[0]
        down = losses.bernoulli_reconstruction_loss(x, logits - step)[0]
        numeric[0, i] = (up - down) / (2 * eps)
    np.testing.assert_allclose(analytic, numeric, rtol=1e-6, atol=1e-9)
    # And the closed form: d loss / d logit = sigmoid(logit) - x.
    np.testing.assert_allclose(analytic, tf.sigmoid(logits).numpy() - x.numpy(), atol=1e-12)


def test_entropy_is_the_minimum_of_the_cross_entropy():
    rng = np.random.default_rng(2)
    x = rng.uniform(0.01, 0.99, size=(3, 10))
    best_logits = np.log(x / (1 - x))
    entropy = losses.bernoulli_entropy(x).numpy()
    np.testing.assert_allclose(
        losses.bernoulli_reconstruction_loss(x, best_logits), entropy, rtol=1e-9
    )
    for _ in range(5):
        other = best_logits + rng.normal(size=x.shape)
        assert np.all(losses.bernoulli_reconstruction_loss(x, other).numpy() > entropy)


def test_entropy_of_binary_images_is_zero_and_of_grey_is_log2():
    binary = tf.constant([[0.0, 1.0, 1.0]])
    grey = tf.constant([[0.5, 0.5]])
    assert float(losses.bernoulli_entropy(binary)[0]) == 0.0
    np.testing.assert_allclose(losses.bernoulli_entropy(grey), [2 * np.log(2)], rtol=1e-6)


def test_squared_error_sums_per_example():
    x = np.array([[[0.0, 1.0]], [[0.5, 0.5]]], dtype=np.float32)
    x_hat = np.array([[[1.0, 1.0]], [[0.0, 0.0]]], dtype=np.float32)
    np.testing.assert_allclose(losses.squared_error(x, x_hat), [1.0, 0.5])


@pytest.mark.parametrize(
    ("x", "other", "message"),
    [
        (np.zeros((2, 3), np.float32), np.zeros((2, 4), np.float32), "must match"),
        (np.zeros((2, 3), np.int32), np.zeros((2, 3), np.float32), "dtype int32"),
        (np.full((2, 3), np.nan, np.float32), np.zeros((2, 3), np.float32), "NaN"),
        (np.zeros((2, 3), np.float32), np.full((2, 3), np.inf, np.float32), "NaN or infinite"),
        (np.zeros(3, np.float32), np.zeros(3, np.float32), "batch axis"),
    ],
)
def test_losses_reject_bad_input(x, other, message):
    with pytest.raises(ValueError, match=message):
        losses.bernoulli_reconstruction_loss(x, other)
    with pytest.raises(ValueError, match=message):
        losses.squared_error(x, other)


def test_cross_entropy_rejects_targets_outside_unit_interval():
    with pytest.raises(ValueError, match=r"targets in \[0, 1\]"):
        losses.bernoulli_reconstruction_loss(
            np.full((1, 2), 2.0, np.float32), np.zeros((1, 2), np.float32)
        )
