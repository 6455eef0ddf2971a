import keras
import numpy as np
import pytest
import tensorflow as tf

from vaebook import evaluate, losses, rng, train
from vaebook.models import VAE


def images(count=6, seed=0):
    return np.random.default_rng(seed).random((count, 28, 28)).astype(np.float32)


def numpy_log_normal(x, mean, var):
    return -0.5 * (np.log(2 * np.pi * var) + (x - mean) ** 2 / var)


def test_encode_sample_decode_shapes(numpy_reference):
    vae = VAE(latent_dim=3, encoder_units=(16,), seed=1)
    z_mean, z_log_var = vae.encode(images())
    assert z_mean.shape == z_log_var.shape == (6, 3)
    # The encoder's 6 outputs are the mean (first 3) and the log-variance (last 3).
    outputs = numpy_reference["forward"](vae.encoder, images())
    np.testing.assert_allclose(z_mean, outputs[:, :3], rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(z_log_var, outputs[:, 3:], rtol=1e-4, atol=1e-5)
    assert vae.sample(z_mean, z_log_var).shape == (6, 3)
    assert vae(images()).shape == (6, 28, 28)
    generated = vae.generate(4).numpy()
    assert generated.shape == (4, 28, 28) and 0 <= generated.min() and generated.max() <= 1


def test_seeded_sampling_is_reproducible():
    z_mean, z_log_var = tf.zeros((2, 4)), tf.zeros((2, 4))
    first = VAE(latent_dim=4, encoder_units=(8,), seed=7).sample(z_mean, z_log_var)
    second = VAE(latent_dim=4, encoder_units=(8,), seed=7).sample(z_mean, z_log_var)
    other = VAE(latent_dim=4, encoder_units=(8,), seed=8).sample(z_mean, z_log_var)
    np.testing.assert_array_equal(first, second)
    assert not np.allclose(first, other)


def test_reparameterisation_passes_gradients_to_mean_and_log_var():
    vae = VAE(latent_dim=2, encoder_units=(8,), seed=0)
    z_mean = tf.Variable([[0.5, -0.5]])
    z_log_var = tf.Variable([[0.0, 0.0]])
    with tf.GradientTape() as tape:
        z = vae.sample(z_mean, z_log_var)
        total = tf.reduce_sum(z)
    grad_mean, grad_log_var = tape.gradient(total, [z_mean, z_log_var])
    np.testing.assert_allclose(grad_mean, [[1.0, 1.0]])  # dz / d mean = 1.
    epsilon = (z - z_mean).numpy()  # exp(0) = 1, so z - mean = epsilon.
    np.testing.assert_allclose(grad_log_var, 0.5 * epsilon, rtol=1e-6)


@pytest.mark.parametrize(
    ("beta", "reduction", "likelihood"),
    [(1.0, "sum", "bernoulli"), (4.0, "sum", "bernoulli"), (1.0, "mean", "bernoulli")]
    + [(0.5, "sum", "gaussian")],
)
def test_loss_is_reconstruction_plus_beta_kl_and_mean_reduction_divides(
    beta, reduction, likelihood, numpy_reference
):
    x = images()
    vae = VAE(
        latent_dim=2,
        encoder_units=(8,),
        beta=beta,
        pixel_reduction=reduction,
        likelihood=likelihood,
        seed=3,
    )
    state = vae.seed_generator.state.numpy()
    losses = vae.per_example_losses(x)
    assert {name: value.shape for name, value in losses.items()} == {
        "loss": (6,),
        "reconstruction_loss": (6,),
        "kl_loss": (6,),
    }
    # The same noise again: with mean 0 and log-variance 0 the sample is epsilon itself.
    vae.seed_generator.state.assign(state)
    epsilon = vae.sample(tf.zeros((6, 2)), tf.zeros((6, 2))).numpy().astype(np.float64)

    outputs = numpy_reference["forward"](vae.encoder, x)
    mean, log_var = outputs[:, :2], outputs[:, 2:]
    decoded = numpy_reference["forward"](vae.decoder, mean + np.exp(0.5 * log_var) * epsilon)
    if likelihood == "bernoulli":
        reconstruction = numpy_reference["cross_entropy"](x, decoded)
    else:
        pixel_var = np.exp(float(vae.decoder_log_var.numpy()))
        pixel_means = 1 / (1 + np.exp(-decoded))
        reconstruction = -numpy_log_normal(x, pixel_means, pixel_var).sum(axis=(1, 2))
    kl = 0.5 * np.sum(mean**2 + np.exp(log_var) - 1 - log_var, axis=1)
    scale = 1 / 784 if reduction == "mean" else 1.0
    np.testing.assert_allclose(losses["reconstruction_loss"], reconstruction, rtol=1e-4)
    np.testing.assert_allclose(losses["kl_loss"], kl, rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(losses["loss"], scale * reconstruction + beta * kl, rtol=1e-4)


def test_save_load_round_trip(tmp_path):
    vae = VAE(latent_dim=3, encoder_units=(16,), likelihood="gaussian", beta=0.5, seed=2)
    path = tmp_path / "vae.keras"
    vae.save(path)
    loaded = keras.saving.load_model(path)
    assert isinstance(loaded, VAE) and loaded.get_config() == vae.get_config()
    np.testing.assert_array_equal(vae.reconstruct(images()), loaded.reconstruct(images()))
    np.testing.assert_array_equal(vae.decoder_log_var.numpy(), loaded.decoder_log_var.numpy())


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"beta": -1.0}, "beta must be a finite number >= 0"),
        ({"beta": float("inf")}, "beta must be a finite number >= 0"),
        ({"likelihood": "poisson"}, "likelihood must be one of"),
        ({"pixel_reduction": "max"}, "pixel_reduction must be one of"),
        ({"latent_dim": 0}, "latent_dim must be a positive integer"),
        ({"objective": "wake-sleep"}, "objective must be one of"),
        ({"num_samples": 0}, "num_samples must be a positive integer"),
    ],
)
def test_bad_hyperparameters_are_rejected(kwargs, message):
    with pytest.raises(ValueError, match=message):
        VAE(**kwargs)


def test_bad_inputs_are_rejected():
    vae = VAE(latent_dim=2, encoder_units=(8,))
    with pytest.raises(ValueError, match=r"expected \(batch, 28, 28\)"):
        vae.encode(np.zeros((2, 28, 27), np.float32))
    with pytest.raises(ValueError, match=r"expected \(batch, 2\)"):
        vae.decode(np.zeros((2, 3), np.float32))
    with pytest.raises(ValueError, match=r"values in \[2, 2\]; expected values in \[0, 1\]"):
        vae.per_example_losses(np.full((2, 28, 28), 2.0, np.float32))


def test_training_lowers_the_negative_elbo(fashion):
    train.set_seed(0)
    vae = VAE(latent_dim=4, encoder_units=(64,), seed=0)
    history = train.train(vae, fashion.x_train[:2048], epochs=4, batch_size=128, verbose=0)
    assert history.last("loss") < 0.8 * history.history["loss"][0]
    assert history.last("kl_loss") > 0


def test_bounds_order_and_chunking():
    train.set_seed(0)
    vae = VAE(latent_dim=2, encoder_units=(16,), seed=0)
    x = images(40)
    one = evaluate.vae_bounds(vae, x, num_samples=1)
    assert one["nll"] == pytest.approx(one["negative_elbo"], rel=1e-6)
    many = evaluate.vae_bounds(vae, x, num_samples=200, batch_size=16)
    assert many["nll"] <= many["negative_elbo"]
    # Each image's noise is its own rows of one stream: chunking and batching change
    # nothing but float32 round-off in the log-weights.
    for batch_size, max_decodes in [(3, 100), (40, 50_000), (1, 7)]:
        chunked = evaluate.vae_bounds(
            vae, x, num_samples=200, batch_size=batch_size, max_decodes=max_decodes
        )
        for name in ("nll", "negative_elbo"):
            assert chunked[name] == pytest.approx(many[name], rel=1e-6)


def test_per_image_bounds_against_log_weights_written_out():
    train.set_seed(0)
    vae = VAE(latent_dim=2, encoder_units=(16,), seed=0)
    x = images(6)
    # Sample s of image i is row i * 50 + s of the vae_bounds stream: all the noise at
    # once, through the model's own log-weights, reduced in float64 by hand.
    key = rng.stream_key(0, rng.STREAMS["vae_bounds"])
    epsilon = np.asarray(rng.normal_rows(key, 0, 6 * 50, 2)).reshape(6, 50, 2)
    w = vae.log_weights(x, epsilon.transpose(1, 0, 2)).numpy().astype(np.float64)  # (50, 6)
    expected_elbo = -w.mean(axis=0)
    top = w.max(axis=0)
    expected_nll = -(top + np.log(np.exp(w - top).mean(axis=0)))
    # Batched, chunked within an image (a wrong chunk size or every chunk reusing the
    # same noise would show here), and all at once.
    for batch_size, max_decodes in [(4, 50_000), (4, 20), (1, 7), (6, 300)]:
        per_image = evaluate.vae_bounds_per_image(
            vae, x, num_samples=50, batch_size=batch_size, max_decodes=max_decodes
        )
        assert per_image["negative_elbo"].shape == per_image["nll"].shape == (6,)
        assert np.allclose(per_image["negative_elbo"], expected_elbo, rtol=1e-6, atol=0)
        assert np.allclose(per_image["nll"], expected_nll, rtol=1e-6, atol=0)
    means = evaluate.vae_bounds(vae, x, num_samples=50, batch_size=4)
    assert means["nll"] == pytest.approx(np.mean(per_image["nll"]), rel=1e-12)


def test_active_units_counts_informative_dimensions():
    class Fixed:
        latent_dim = 4

        def encode(self, x, training=False):
            batch = tf.shape(x)[0]
            varying = x[:, :1, 0] * 10  # depends on the image: variance about 100 / 12
            barely = x[:, :1, 1] * 0.01  # depends on it too, variance about 1e-4 / 12
            constant = tf.zeros((batch, 2))  # the same for every image
            z_mean = tf.concat([varying, barely, constant], axis=1)
            return z_mean, tf.zeros_like(z_mean)

        def log_weights(self, x, epsilon, training=False):
            raise AssertionError("active_units needs no log-weights")

    x = images(50)
    assert evaluate.active_units(Fixed(), x) == 1  # the default threshold is 0.01
    barely_variance = float(np.var(x[:, 0, 1].astype(np.float64) * 0.01))
    assert 0 < barely_variance < 0.01
    assert evaluate.active_units(Fixed(), x, threshold=barely_variance / 2) == 2
    with pytest.raises(TypeError, match="active_units needs a model whose encode"):
        evaluate.active_units(object(), x)


def test_log_weights_match_a_numpy_computation(numpy_reference):
    vae = VAE(latent_dim=3, encoder_units=(16,), seed=0)
    x = images(4)
    epsilon = np.random.default_rng(1).standard_normal((5, 4, 3)).astype(np.float32)
    log_w = vae.log_weights(x, epsilon).numpy()  # (5, 4)
    assert log_w.shape == (5, 4)
    outputs = numpy_reference["forward"](vae.encoder, x)
    mean, log_var = outputs[:, :3], outputs[:, 3:]
    for s in range(5):
        z = mean + np.exp(0.5 * log_var) * epsilon[s]  # (4, 3)
        log_px_z = -numpy_reference["cross_entropy"](x, numpy_reference["forward"](vae.decoder, z))
        log_pz = numpy_log_normal(z, 0.0, 1.0).sum(axis=1)
        log_qz_x = numpy_log_normal(z, mean, np.exp(log_var)).sum(axis=1)
        np.testing.assert_allclose(log_w[s], log_px_z + log_pz - log_qz_x, rtol=1e-4)
    # All k samples decoded at once give the same log-likelihoods as one at a time.
    z = vae.encode(x)[0][None] + tf.exp(0.5 * vae.encode(x)[1])[None] * epsilon
    decoded = tf.reshape(vae.decode(tf.reshape(z, (-1, 3))), (5, 4, 28, 28))
    together = vae.log_likelihood(x, decoded).numpy()  # (5, 4)
    for s in range(5):
        np.testing.assert_allclose(together[s], vae.log_likelihood(x, decoded[s]), rtol=1e-6)


def test_mean_log_weight_is_the_elbo_with_the_closed_form_kl():
    # E[log p(z) - log q(z|x)] = -KL: the Monte Carlo mean over many codes must match.
    from vaebook.losses import gaussian_kl

    vae = VAE(latent_dim=2, encoder_units=(16,), seed=0)
    x = images(3)
    epsilon = np.random.default_rng(2).standard_normal((20000, 3, 2)).astype(np.float32)
    z_mean, z_log_var = vae.encode(x)
    z = z_mean[None] + tf.exp(0.5 * z_log_var)[None] * epsilon
    flat = tf.reshape(z, (-1, 2))
    repeated = np.broadcast_to(x[None], (20000, *x.shape)).reshape((-1, 28, 28))
    log_px_z = tf.reshape(vae.log_likelihood(repeated, vae.decode(flat)), (20000, 3))
    prior_minus_posterior = vae.log_weights(x, epsilon).numpy() - log_px_z.numpy()
    np.testing.assert_allclose(
        prior_minus_posterior.mean(axis=0), -gaussian_kl(z_mean, z_log_var), atol=0.03
    )


@pytest.mark.parametrize("settings", [{"beta": 4.0}, {"pixel_reduction": "mean"}])
@pytest.mark.parametrize("objective", [{"objective": "iwae"}, {"num_samples": 5}])
def test_settings_of_the_one_sample_elbo_are_refused_where_they_would_be_ignored(
    settings, objective
):
    # The importance-weighted and k-sample objectives have no KL term to weigh and no
    # reconstruction term to rescale.
    with pytest.raises(ValueError, match="one-sample ELBO only"):
        VAE(latent_dim=2, encoder_units=(8,), **settings, **objective)
    VAE(latent_dim=2, encoder_units=(8,), **settings)  # fine with the one-sample ELBO


def test_iwae_objective_is_tighter_than_the_elbo_and_trains(mnist):
    def model(objective):
        keras.utils.set_random_seed(0)
        return VAE(latent_dim=4, encoder_units=(32,), num_samples=8, objective=objective, seed=3)

    x = (images(16) > 0.5).astype(np.float32)
    elbo = model("elbo").per_example_losses(x)["loss"].numpy()
    iwae = model("iwae").per_example_losses(x)["loss"].numpy()  # same weights, same noise
    assert np.all(iwae <= elbo + 1e-4)
    assert np.mean(elbo - iwae) > 0.01

    vae = model("iwae")
    history = train.train(
        vae, mnist.x_train[:2048], epochs=4, batch_size=128, binarize=True, verbose=0
    )
    assert history.last("loss") < 0.8 * history.history["loss"][0]
    assert vae.get_config()["objective"] == "iwae" and vae.get_config()["num_samples"] == 8


def test_continuous_bernoulli_vae_uses_the_density_and_its_mean():
    keras.utils.set_random_seed(0)
    vae = VAE(latent_dim=2, encoder_units=(8,), likelihood="continuous_bernoulli", seed=0)
    x = np.random.default_rng(0).random((5, 28, 28)).astype(np.float32)
    logits = vae.decode(vae.encode(x)[0])
    np.testing.assert_allclose(
        vae.log_likelihood(x, logits),
        -losses.continuous_bernoulli_reconstruction_loss(x, logits),
        rtol=1e-6,
    )
    np.testing.assert_allclose(
        vae.reconstruct(x), losses.continuous_bernoulli_mean(logits), rtol=1e-6
    )
    restored = VAE.from_config(vae.get_config())
    assert restored.likelihood == "continuous_bernoulli"


def test_likelihood_regret_is_zero_without_steps_and_before_matches_the_bounds():
    train.set_seed(0)
    vae = VAE(latent_dim=2, encoder_units=(16,), seed=0)
    x = images(5)
    still = evaluate.likelihood_regret(vae, x, steps=3, learning_rate=0.0)
    # Same noise before and after, and a posterior that did not move: exactly zero.
    assert np.array_equal(still["regret"], np.zeros(5))
    # The ELBO before fitting (analytic KL, sampled reconstruction) against the mean
    # log-weight of vae_bounds_per_image (sampled KL too), each with many samples.
    many = evaluate.likelihood_regret(vae, x, steps=1, learning_rate=0.0, num_samples=4000)
    bounds = evaluate.vae_bounds_per_image(vae, x, num_samples=4000)
    assert np.allclose(many["elbo_before"], -bounds["negative_elbo"], atol=0.5)


def test_likelihood_regret_matches_a_keras_adam_loop():
    train.set_seed(0)
    vae = VAE(latent_dim=3, encoder_units=(16,), seed=0)
    x = images(4, seed=1)
    steps, lr, samples = 25, 0.05, 8
    result = evaluate.likelihood_regret(vae, x, steps=steps, learning_rate=lr, num_samples=samples)

    # The same per-image fit, written with Keras' own Adam and a variable.
    # Row i of each of the two streams is image i's noise.
    def rows(part, draws):
        key = rng.stream_key(0, rng.STREAMS["likelihood_regret"], part)
        noise = np.asarray(rng.normal_rows(key, 0, 4, draws * 3)).reshape(4, draws, 3)
        return tf.constant(noise.transpose(1, 0, 2))  # (draws, 4, 3)

    noise, final = rows(0, steps), rows(1, samples)

    def elbo(tau, epsilon):
        mean, log_var = tf.split(tau, 2, axis=-1)
        z = mean + tf.exp(0.5 * log_var) * epsilon  # (s, 4, 3)
        decoded = tf.reshape(vae.decode(tf.reshape(z, (-1, 3))), (len(epsilon), 4, 28, 28))
        return tf.reduce_mean(vae.log_likelihood(x, decoded), 0) - losses.gaussian_kl(mean, log_var)

    tau = tf.Variable(tf.concat(vae.encode(x), axis=-1))
    before = elbo(tau, final).numpy()
    adam = keras.optimizers.Adam(lr, epsilon=1e-7)
    for step in range(steps):
        with tf.GradientTape() as tape:
            loss = -tf.reduce_sum(elbo(tau, noise[step][None]))
        adam.apply_gradients([(tape.gradient(loss, tau), tau)])
    after = elbo(tau, final).numpy()
    assert np.allclose(result["elbo_before"], before, rtol=1e-5)
    assert np.allclose(result["regret"], after - before, rtol=1e-3, atol=1e-2)
    # Fitting each image's own posterior improves its ELBO.
    assert np.all(result["regret"] > 0)


def test_likelihood_regret_rejects_bad_arguments():
    vae = VAE(latent_dim=2, encoder_units=(8,), seed=0)
    with pytest.raises(ValueError, match="steps"):
        evaluate.likelihood_regret(vae, images(2), steps=0)
    with pytest.raises(ValueError, match="learning_rate"):
        evaluate.likelihood_regret(vae, images(2), learning_rate=-1.0)
    with pytest.raises(ValueError):
        evaluate.likelihood_regret(vae, images(2)[:, :27])
