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
    with pytest.raises(ValueError, match=r"x has values in \[2, 2\]; expected values in \[0, 1\]"):
        losses.bernoulli_reconstruction_loss(
            np.full((1, 2), 2.0, np.float32), np.zeros((1, 2), np.float32)
        )


# --- data_ndim: a leading sample axis passes through --------------------------------------


@pytest.fixture
def sample_axis_data():
    rng = np.random.default_rng(3)
    k, batch = 4, 5
    x = rng.random((batch, 28, 28)).astype(np.float32)
    outputs = rng.normal(size=(k, batch, 28, 28)).astype(np.float32)
    return x, outputs


@pytest.mark.parametrize(
    "loss",
    [
        losses.bernoulli_reconstruction_loss,
        losses.bernoulli_log_likelihood,
        lambda x, mean, **kw: losses.squared_error(x, tf.sigmoid(mean), **kw),
        lambda x, mean, **kw: losses.gaussian_reconstruction_loss(x, mean, -1.3, **kw),
        lambda x, mean, **kw: losses.gaussian_reconstruction_loss(
            x, mean, np.linspace(-2, 1, 28, dtype=np.float32), **kw
        ),
    ],
    ids=["bernoulli", "log_likelihood", "squared_error", "gaussian", "gaussian-per-column"],
)
def test_data_ndim_keeps_a_leading_sample_axis(sample_axis_data, loss):
    x, outputs = sample_axis_data
    got = loss(x, outputs, data_ndim=2).numpy()
    assert got.shape == (4, 5)
    expected = np.stack([loss(x, outputs[i]).numpy() for i in range(len(outputs))])
    np.testing.assert_allclose(got, expected, rtol=1e-6)
    # Without a leading axis, data_ndim=2 is the default sum over all axes but the first.
    np.testing.assert_array_equal(loss(x, outputs[0], data_ndim=2), loss(x, outputs[0]))


def test_gaussian_log_density_data_ndim_keeps_a_leading_sample_axis():
    rng = np.random.default_rng(4)
    k, batch, d = 6, 5, 3
    z = rng.normal(size=(k, batch, d))
    mean = rng.normal(size=(batch, d))
    log_var = rng.normal(size=(batch, d))
    got = losses.gaussian_log_density(z, mean, log_var, data_ndim=1).numpy()
    assert got.shape == (k, batch)
    loop = np.stack([losses.gaussian_log_density(z[i], mean, log_var).numpy() for i in range(k)])
    np.testing.assert_allclose(got, loop, rtol=1e-12)
    reference = -0.5 * (np.log(2 * np.pi) + log_var + (z - mean) ** 2 / np.exp(log_var)).sum(-1)
    np.testing.assert_allclose(got, reference, rtol=1e-12)


@pytest.mark.parametrize("data_ndim", [0, 4])
def test_data_ndim_must_leave_a_batch_axis(sample_axis_data, data_ndim):
    x, outputs = sample_axis_data
    with pytest.raises(ValueError, match=f"data_ndim={data_ndim} must be at least 1"):
        losses.bernoulli_reconstruction_loss(x, outputs, data_ndim=data_ndim)


# --- Bernoulli KL and the Gaussian KL's gradient -----------------------------------------


def test_bernoulli_kl_matches_a_float64_formula_and_is_non_negative():
    rng = np.random.default_rng(5)
    rho_hat = rng.uniform(0.001, 0.999, size=(7, 3))
    for rho in (0.01, 0.05, 0.5, 0.9):
        got = losses.bernoulli_kl(rho, tf.constant(rho_hat)).numpy()
        expected = rho * np.log(rho / rho_hat) + (1 - rho) * np.log((1 - rho) / (1 - rho_hat))
        assert got.shape == rho_hat.shape
        np.testing.assert_allclose(got, expected, rtol=1e-12)
        assert np.all(got >= 0)


@pytest.mark.parametrize("dtype", [tf.float32, tf.float64])
@pytest.mark.parametrize("rho", [0.01, 0.05, 0.5, 0.9])
def test_bernoulli_kl_vanishes_at_the_target(rho, dtype):
    assert float(losses.bernoulli_kl(rho, tf.constant(rho, dtype))) == 0.0
    np.testing.assert_array_equal(losses.bernoulli_kl(rho, tf.constant([rho] * 4, dtype)), 0)


def test_python_number_parameters_keep_float64_precision():
    # tf.cast(0.9, tf.float64) would round 0.9 to float32 first.
    x = np.array([[0.25, -1.5, 3.0]])
    got = losses.gaussian_log_density(x, 0.1, -1.3).numpy()
    expected = -0.5 * (np.log(2 * np.pi) - 1.3 + (x - 0.1) ** 2 / np.exp(-1.3)).sum(-1)
    np.testing.assert_allclose(got, expected, rtol=1e-14)
    mean_q, log_var_q = np.array([[0.3, -0.2]]), np.array([[0.1, -0.4]])
    got = losses.diagonal_gaussian_kl(mean_q, log_var_q, 0.1, -1.3).numpy()
    expected = 0.5 * (
        -1.3 - log_var_q + (np.exp(log_var_q) + (mean_q - 0.1) ** 2) / np.exp(-1.3) - 1
    ).sum(-1)
    np.testing.assert_allclose(got, expected, rtol=1e-14)


def test_bernoulli_kl_of_a_dead_unit_is_large_but_finite():
    value = losses.bernoulli_kl(0.05, tf.constant([0.0, 1.0], tf.float64)).numpy()
    assert np.all(np.isfinite(value)) and np.all(value > 0.5)


def test_gaussian_kl_gradient_matches_finite_differences_in_every_entry():
    rng = np.random.default_rng(6)
    mean = rng.normal(size=(3, 4))
    log_var = rng.normal(size=(3, 4))

    def total_kl(m, v):
        return float(tf.reduce_sum(losses.gaussian_kl(tf.constant(m), tf.constant(v))))

    mean_var, log_var_var = tf.Variable(mean), tf.Variable(log_var)
    with tf.GradientTape() as tape:
        kl = tf.reduce_sum(losses.gaussian_kl(mean_var, log_var_var))
    grad_mean, grad_log_var = (g.numpy() for g in tape.gradient(kl, [mean_var, log_var_var]))
    eps = 1e-6
    numeric_mean, numeric_log_var = np.zeros_like(mean), np.zeros_like(log_var)
    for index in np.ndindex(mean.shape):
        step = np.zeros_like(mean)
        step[index] = eps
        numeric_mean[index] = (total_kl(mean + step, log_var) - total_kl(mean - step, log_var)) / (
            2 * eps
        )
        numeric_log_var[index] = (
            total_kl(mean, log_var + step) - total_kl(mean, log_var - step)
        ) / (2 * eps)
    np.testing.assert_allclose(grad_mean, numeric_mean, rtol=1e-6, atol=1e-9)
    np.testing.assert_allclose(grad_log_var, numeric_log_var, rtol=1e-6, atol=1e-9)
    # The closed forms: d/d mean = mean, d/d log_var = (exp(log_var) - 1) / 2.
    np.testing.assert_allclose(grad_mean, mean, rtol=1e-12)
    np.testing.assert_allclose(grad_log_var, (np.exp(log_var) - 1) / 2, rtol=1e-12)


def test_default_data_axes_come_from_the_target_so_sample_axes_survive():
    # Without data_ndim, the data axes are those of x beyond its batch axis: logits with
    # a leading sample axis keep it, instead of being summed over the batch as well.
    rng = np.random.default_rng(3)
    x = rng.random((4, 5, 6)).astype(np.float32)  # (batch, 5, 6)
    logits = rng.normal(size=(3, 4, 5, 6)).astype(np.float32)  # (k, batch, 5, 6)
    default = losses.bernoulli_reconstruction_loss(x, logits)
    explicit = losses.bernoulli_reconstruction_loss(x, logits, data_ndim=2)
    assert default.shape == (3, 4)
    np.testing.assert_array_equal(default, explicit)
    means = 1 / (1 + np.exp(-logits))
    assert losses.squared_error(x, means).shape == (3, 4)
    assert losses.gaussian_reconstruction_loss(x, means, 0.0).shape == (3, 4)


@pytest.mark.parametrize("logit", [-30.0, -4.0, -0.5, -1e-3, 0.0, 1e-6, 5e-3, 0.02, 3.0, 40.0])
def test_continuous_bernoulli_density_integrates_to_one(logit):
    # Independent reference: the density C * lam^x (1 - lam)^(1 - x) integrated over
    # [0, 1] numerically in float64 (Simpson's rule on 20,001 points).
    log_c = float(losses.continuous_bernoulli_log_normalizer(tf.constant(logit, tf.float64)))
    x = np.linspace(0.0, 1.0, 20_001)
    log_lam = -np.logaddexp(0.0, -logit)
    log_one_minus = -np.logaddexp(0.0, logit)
    density = np.exp(log_c + x * log_lam + (1 - x) * log_one_minus)
    h = x[1] - x[0]
    integral = (
        h / 3 * (density[0] + density[-1] + 4 * density[1:-1:2].sum() + 2 * density[2:-1:2].sum())
    )
    assert abs(integral - 1.0) < 1e-6, integral


def test_continuous_bernoulli_constant_is_smooth_through_one_half():
    # Near logit 0 (lambda = 1/2) the closed form cancels; the series must join it
    # smoothly, in float32 too, and give log 2 at the centre.
    logits = np.linspace(-0.05, 0.05, 2001)
    with np.errstate(divide="ignore", invalid="ignore"):  # the centre is filled with log 2
        exact = np.where(logits != 0, np.log(np.abs(logits / np.tanh(logits / 2))), np.log(2.0))
    for dtype in (tf.float32, tf.float64):
        ours = losses.continuous_bernoulli_log_normalizer(tf.constant(logits, dtype)).numpy()
        assert np.all(np.isfinite(ours))
        tolerance = 1e-6 if dtype == tf.float32 else 1e-10
        np.testing.assert_allclose(ours, exact, atol=tolerance)
    assert float(losses.continuous_bernoulli_log_normalizer(0.0)) == pytest.approx(np.log(2))


@pytest.mark.parametrize("logit", [-20.0, -2.0, -1e-3, 0.0, 4e-3, 0.3, 15.0])
def test_continuous_bernoulli_mean_matches_numerical_integration(logit):
    log_c = float(losses.continuous_bernoulli_log_normalizer(tf.constant(logit, tf.float64)))
    x = np.linspace(0.0, 1.0, 20_001)
    density = np.exp(log_c - x * np.logaddexp(0.0, -logit) - (1 - x) * np.logaddexp(0.0, logit))
    mean = np.trapezoid(x * density, x) if hasattr(np, "trapezoid") else np.trapz(x * density, x)
    ours = float(losses.continuous_bernoulli_mean(tf.constant(logit, tf.float64)))
    assert abs(ours - mean) < 1e-6, (ours, mean)


def test_continuous_bernoulli_loss_is_cross_entropy_minus_log_constants():
    rng = np.random.default_rng(4)
    x = rng.random((3, 4, 5)).astype(np.float64)
    logits = rng.normal(scale=3.0, size=(3, 4, 5))
    lam = 1 / (1 + np.exp(-logits))
    log_c = np.log(2 * np.arctanh(1 - 2 * lam) / (1 - 2 * lam))
    expected = -(log_c + x * np.log(lam) + (1 - x) * np.log(1 - lam)).sum(axis=(1, 2))
    ours = losses.continuous_bernoulli_reconstruction_loss(tf.constant(x), tf.constant(logits))
    np.testing.assert_allclose(ours, expected, rtol=1e-10)


def test_continuous_bernoulli_refuses_integer_logits_by_name():
    with pytest.raises(ValueError, match="logits have dtype int32"):
        losses.continuous_bernoulli_log_normalizer(tf.constant([1, 2]))
    with pytest.raises(ValueError, match="logits have dtype int32"):
        losses.continuous_bernoulli_mean(tf.constant([1, 2]))
    assert float(losses.continuous_bernoulli_mean(0)) == pytest.approx(0.5)
