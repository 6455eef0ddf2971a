"""The VAE's maths against independent references: Monte Carlo, closed forms, NumPy."""

import numpy as np
import pytest
import tensorflow as tf

from vaebook import losses


def numpy_log_normal(x, mean, var):
    """log N(x; mean, var) per coordinate, from the density written out in NumPy."""
    return np.log(np.exp(-((x - mean) ** 2) / (2 * var)) / np.sqrt(2 * np.pi * var))


def test_gaussian_log_density_matches_numpy():
    rng = np.random.default_rng(0)
    x, mean = rng.normal(size=(4, 3)), rng.normal(size=(4, 3))
    log_var = rng.normal(size=(4, 3))
    expected = numpy_log_normal(x, mean, np.exp(log_var)).sum(axis=1)
    np.testing.assert_allclose(losses.gaussian_log_density(x, mean, log_var), expected, rtol=1e-10)


def test_closed_form_kl_matches_monte_carlo():
    rng = np.random.default_rng(1)
    mean = np.array([[0.5, -1.0, 2.0]])
    log_var = np.array([[-0.5, 0.3, -2.0]])
    closed = float(losses.gaussian_kl(mean, log_var)[0])
    # KL(q || p) = E_q[log q(z) - log p(z)], estimated with 400,000 draws from q.
    z = mean + np.exp(0.5 * log_var) * rng.standard_normal((400_000, 3))
    log_ratio = (numpy_log_normal(z, mean, np.exp(log_var)) - numpy_log_normal(z, 0, 1)).sum(1)
    standard_error = log_ratio.std() / np.sqrt(len(log_ratio))
    assert abs(log_ratio.mean() - closed) < 4 * standard_error
    assert closed > 0


def test_general_kl_reduces_to_standard_normal_and_is_asymmetric():
    rng = np.random.default_rng(2)
    mean, log_var = rng.normal(size=(5, 4)), rng.normal(size=(5, 4))
    np.testing.assert_allclose(
        losses.diagonal_gaussian_kl(mean, log_var, 0.0, 0.0), losses.gaussian_kl(mean, log_var)
    )
    np.testing.assert_allclose(
        losses.diagonal_gaussian_kl(mean, log_var, mean, log_var), 0.0, atol=1e-12
    )
    forward = losses.diagonal_gaussian_kl(mean, log_var, 0.0, 0.0).numpy()
    backward = losses.diagonal_gaussian_kl(
        np.zeros_like(mean), np.zeros_like(log_var), mean, log_var
    ).numpy()
    assert not np.allclose(forward, backward)


def test_kl_gradient_matches_finite_differences():
    mean = tf.Variable([[0.3, -0.7]], dtype=tf.float64)
    log_var = tf.Variable([[0.2, -1.1]], dtype=tf.float64)
    with tf.GradientTape() as tape:
        kl = losses.gaussian_kl(mean, log_var)[0]
    grad_mean, grad_log_var = tape.gradient(kl, [mean, log_var])
    # Closed forms: d/d mu = mu, d/d log_var = (exp(log_var) - 1) / 2.
    np.testing.assert_allclose(grad_mean, mean.numpy())
    np.testing.assert_allclose(grad_log_var, (np.exp(log_var.numpy()) - 1) / 2)
    eps = 1e-6
    bumped = losses.gaussian_kl(mean + [[eps, 0]], log_var)[0]
    lowered = losses.gaussian_kl(mean - [[eps, 0]], log_var)[0]
    np.testing.assert_allclose((bumped - lowered) / (2 * eps), grad_mean[0, 0], rtol=1e-6)


def linear_gaussian_log_weights(x, k, rng):
    """A model with an exact log p(x): z ~ N(0, 1), x | z ~ N(z, 1), so x ~ N(0, 2).

    The proposal q(z | x) = N(x / 2 + 0.3, 0.7) is deliberately not the exact posterior
    N(x / 2, 1 / 2), so the bounds are strict.
    """
    q_mean, q_var = x / 2 + 0.3, 0.7
    z = q_mean + np.sqrt(q_var) * rng.standard_normal((k, len(x)))
    return (
        numpy_log_normal(x, z, 1.0) + numpy_log_normal(z, 0, 1) - numpy_log_normal(z, q_mean, q_var)
    )


def test_importance_weighted_bound_rises_with_k_towards_log_px():
    rng = np.random.default_rng(3)
    x = rng.normal(0, np.sqrt(2), size=2000)
    exact = numpy_log_normal(x, 0, 2).mean()
    bounds = []
    for k in (1, 5, 50, 500):
        log_weights = linear_gaussian_log_weights(x, k, rng)
        bounds.append(float(tf.reduce_mean(losses.importance_weighted_bound(log_weights))))
    assert bounds == sorted(bounds), bounds
    assert bounds[-1] < exact + 1e-3
    assert exact - bounds[-1] < 0.01 < exact - bounds[0]


def test_importance_weighted_bound_with_one_sample_is_the_log_weight():
    log_weights = tf.constant([[-3.0, -1.5]])
    np.testing.assert_allclose(losses.importance_weighted_bound(log_weights), [-3.0, -1.5])


def test_gaussian_reconstruction_loss_is_scaled_squared_error_plus_constant():
    rng = np.random.default_rng(4)
    x, mean = rng.random((3, 5)), rng.random((3, 5))
    log_var = np.log(0.25)
    squared = ((x - mean) ** 2).sum(1)
    expected = squared / (2 * 0.25) + 5 * 0.5 * np.log(2 * np.pi * 0.25)
    np.testing.assert_allclose(losses.gaussian_reconstruction_loss(x, mean, log_var), expected)


@pytest.mark.parametrize(
    ("mean", "log_var", "message"),
    [
        (np.zeros((2, 3)), np.zeros((2, 4)), "must match"),
        (np.full((2, 3), np.nan), np.zeros((2, 3)), "NaN"),
    ],
)
def test_kl_rejects_bad_input(mean, log_var, message):
    with pytest.raises(ValueError, match=message):
        losses.gaussian_kl(mean, log_var)


def test_k_samples_per_example_give_k_by_batch_values():
    # The shapes of the importance-weighted bound: k codes for each of the batch's images.
    rng = np.random.default_rng(5)
    k, batch, latent_dim = 4, 3, 2
    z = rng.normal(size=(k, batch, latent_dim))
    mean, log_var = rng.normal(size=(batch, latent_dim)), rng.normal(size=(batch, latent_dim))
    expected = numpy_log_normal(z, mean, np.exp(log_var)).sum(axis=-1)  # (k, batch)
    np.testing.assert_allclose(
        losses.gaussian_log_density(z, mean, log_var, data_ndim=1), expected, rtol=1e-10
    )
    x = rng.random((batch, 5, 6))
    means = rng.random((k, batch, 5, 6))
    expected = -numpy_log_normal(x, means, 0.5).sum(axis=(2, 3))  # (k, batch)
    np.testing.assert_allclose(
        losses.gaussian_reconstruction_loss(x, means, np.log(0.5), data_ndim=2),
        expected,
        rtol=1e-10,
    )
    logits = rng.normal(size=(k, batch, 5, 6))
    p = 1 / (1 + np.exp(-logits))
    expected = -(x * np.log(p) + (1 - x) * np.log(1 - p)).sum(axis=(2, 3))  # (k, batch)
    np.testing.assert_allclose(
        losses.bernoulli_reconstruction_loss(x, logits, data_ndim=2), expected, rtol=1e-10
    )


def test_inference_gaps_against_quadrature_of_a_2d_latent():
    # With a 2-D code, log p(x) = log of the integral of p(z) p(x | z) over z, computed
    # here on a fine grid: an independent reference for the importance-sampled NLL
    # and for the two gaps, which must add up and can never be negative beyond noise.
    from vaebook import evaluate
    from vaebook.models import VAE

    model = VAE(latent_dim=2, encoder_units=(32,), seed=0)
    x = np.random.default_rng(0).random((4, 28, 28)).astype(np.float32)
    grid = np.linspace(-6.0, 6.0, 241)
    step = grid[1] - grid[0]
    z = np.stack(np.meshgrid(grid, grid), axis=-1).reshape(-1, 2).astype(np.float32)
    log_prior = -0.5 * np.sum(z.astype(np.float64) ** 2, axis=1) - np.log(2 * np.pi)
    decoded = model.decode(tf.constant(z))  # (points, 28, 28)
    exact = []
    for image in x:
        log_lik = (
            model.log_likelihood(tf.constant(np.broadcast_to(image, decoded.shape)), decoded)
            .numpy()
            .astype(np.float64)
        )
        terms = log_prior + log_lik + 2 * np.log(step)
        exact.append(np.logaddexp.reduce(terms))
    gaps = evaluate.inference_gaps(model, x, num_samples=5000, steps=100)
    np.testing.assert_allclose(-gaps["nll"], exact, atol=0.05)
    np.testing.assert_allclose(
        gaps["total_gap"], gaps["approximation_gap"] + gaps["amortisation_gap"], rtol=1e-12
    )
    # Each part is a difference of bounds on the same log p(x): never negative but
    # for the noise of the 128-sample ELBO estimates (about 0.1 nat per image for
    # this untrained model, whose posterior is close to Gaussian: the approximation
    # gap is near 0 and its estimate scatters around it).
    assert np.all(gaps["approximation_gap"] > -0.3), gaps
    assert np.all(gaps["amortisation_gap"] > -0.3), gaps
    regret = evaluate.likelihood_regret(model, x, steps=100, num_samples=128, batch_size=781)
    np.testing.assert_array_equal(gaps["amortisation_gap"], regret["regret"])
