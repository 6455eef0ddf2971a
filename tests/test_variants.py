"""The autoencoder variants of chapter 3: each one's own property, on tiny real data."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from vaebook import evaluate, train
from vaebook.evaluate import sparsity_statistics
from vaebook.losses import bernoulli_kl
from vaebook.models import (
    VAE,
    AdversarialAutoencoder,
    Autoencoder,
    DenoisingAutoencoder,
    SparseAutoencoder,
    corrupt,
)
from vaebook.pretrain import greedy_pretrain, layer_pairs


@pytest.fixture(scope="module")
def small_fashion(fashion):
    return fashion.x_train[:1024], fashion.x_test[:256]


# --- Denoising -------------------------------------------------------------------------


def test_masking_noise_drops_the_requested_fraction_of_pixels():
    x = tf.ones((50, 28, 28))
    for level in (0.0, 0.3, 0.9, 1.0):
        kept = float(tf.reduce_mean(corrupt(x, "masking", level, seed=0)))
        assert abs(kept - (1 - level)) < 0.01


def test_gaussian_noise_has_the_requested_spread_and_stays_in_range():
    x = tf.fill((50, 28, 28), 0.5)
    noisy = corrupt(x, "gaussian", 0.1, seed=0).numpy()
    assert abs(noisy.std() - 0.1) < 0.005  # clipping at 0 and 1 is 5 sigma away
    wide = corrupt(x, "gaussian", 2.0, seed=0).numpy()
    assert wide.min() == 0.0 and wide.max() == 1.0
    np.testing.assert_array_equal(corrupt(x, "gaussian", 0.0, seed=0), x)


def test_integer_seeds_repeat_and_generators_draw_fresh_noise():
    x = tf.fill((4, 28, 28), 0.5)
    np.testing.assert_array_equal(
        corrupt(x, "gaussian", 0.3, seed=7), corrupt(x, "gaussian", 0.3, seed=7)
    )
    generator = keras.random.SeedGenerator(7)
    first = corrupt(x, "masking", 0.5, seed=generator).numpy()
    assert not np.array_equal(first, corrupt(x, "masking", 0.5, seed=generator).numpy())


def test_denoising_autoencoder_beats_the_identity_map(small_fashion):
    x_train, x_test = small_fashion
    train.set_seed(0)
    model = DenoisingAutoencoder(
        noise="masking", noise_level=0.5, seed=0, latent_dim=32, encoder_units=(256,)
    )
    history = train.train(model, x_train, epochs=15, batch_size=64, verbose=0)
    assert history.last("loss") < 0.7 * history.history["loss"][0]
    noisy = corrupt(x_test, "masking", 0.5, seed=1).numpy()
    identity = evaluate.squared_error_per_image(x_test, noisy).mean()
    denoised = evaluate.squared_error_per_image(x_test, model.reconstruct(noisy).numpy()).mean()
    assert denoised < 0.6 * identity


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"noise": "masking", "noise_level": 1.5}, r"masking noise rate .* \[0, 1\]"),
        ({"noise": "masking", "noise_level": -0.1}, r"masking noise rate .* \[0, 1\]"),
        ({"noise": "gaussian", "noise_level": -0.3}, "standard deviation .* >= 0"),
        ({"noise": "gaussian", "noise_level": float("inf")}, "standard deviation .* >= 0"),
        ({"noise": "gaussian", "noise_level": float("nan")}, "standard deviation .* >= 0"),
        ({"noise": "salt"}, "noise must be one of"),
    ],
)
def test_bad_noise_is_rejected(kwargs, message):
    with pytest.raises(ValueError, match=message):
        DenoisingAutoencoder(**kwargs)
    with pytest.raises(ValueError, match=message):
        corrupt(tf.zeros((1, 28, 28)), kwargs["noise"], kwargs.get("noise_level", 0.1))


def test_corrupting_integer_images_names_the_problem():
    with pytest.raises(ValueError, match=r"dtype uint8; expected floats in \[0, 1\]"):
        corrupt(np.zeros((2, 28, 28), np.uint8), "masking", 0.5)


# --- Dropout ---------------------------------------------------------------------------


def test_dropout_is_random_in_training_and_off_at_test_time():
    train.set_seed(0)
    model = Autoencoder(latent_dim=4, encoder_units=(64,), dropout=0.5)
    assert [layer.name for layer in model.encoder.layers].count("dropout_0") == 1
    x = tf.fill((2, 28, 28), 0.5)
    assert not np.array_equal(model(x, training=True), model(x, training=True))
    np.testing.assert_array_equal(model(x), model(x))
    assert model.get_config()["dropout"] == 0.5


@pytest.mark.parametrize("rate", [1.0, -0.1, 2, "half"])
def test_bad_dropout_rates_are_rejected(rate):
    with pytest.raises(ValueError, match="dropout must"):
        Autoencoder(dropout=rate)


# --- Sparse ----------------------------------------------------------------------------


def test_bernoulli_kl_matches_the_formula_and_vanishes_at_the_target():
    rho, rho_hat = 0.05, np.array([0.01, 0.05, 0.3, 0.9])
    expected = rho * np.log(rho / rho_hat) + (1 - rho) * np.log((1 - rho) / (1 - rho_hat))
    kl = bernoulli_kl(rho, tf.constant(rho_hat))
    np.testing.assert_allclose(kl, expected, rtol=1e-6, atol=1e-15)
    assert float(bernoulli_kl(rho, tf.constant(rho))) == pytest.approx(0.0, abs=1e-9)


def test_sparsity_penalty_values():
    model = SparseAutoencoder(latent_dim=6, penalty="l1")
    codes = tf.constant([[0.1, 0.2, 0.0, 0.0, 0.5, 0.2], [0.0] * 6])
    np.testing.assert_allclose(model.sparsity_penalty(codes), [1.0, 0.0], rtol=1e-6)
    model = SparseAutoencoder(latent_dim=2, penalty="kl", target_rate=0.1)
    codes = tf.constant([[0.2, 0.1], [0.0, 0.1]])  # rates 0.1 and 0.1: no penalty
    np.testing.assert_allclose(model.sparsity_penalty(codes), [0.0, 0.0], atol=1e-6)
    codes = np.array([[0.3, 0.1, 0.9], [0.5, 0.0, 0.7], [0.1, 0.2, 0.8]])
    rates = codes.mean(axis=0)  # 0.3, 0.1, 0.8: every example carries the batch's penalty
    rho = 0.05
    expected = np.sum(rho * np.log(rho / rates) + (1 - rho) * np.log((1 - rho) / (1 - rates)))
    model = SparseAutoencoder(latent_dim=3, penalty="kl", target_rate=rho)
    penalty = model.sparsity_penalty(tf.constant(codes, tf.float32)).numpy()
    np.testing.assert_allclose(penalty, [expected] * 3, rtol=1e-5)


def test_kl_penalty_reaches_the_target_rate(small_fashion):
    x_train, x_test = small_fashion

    def fit(weight):
        train.set_seed(0)
        model = SparseAutoencoder(latent_dim=200, sparsity_weight=weight, target_rate=0.05)
        history = train.train(model, x_train, epochs=20, batch_size=64, verbose=0)
        return model, history

    sparse, history = fit(3.0)
    dense, _ = fit(0.0)
    assert history.last("reconstruction_loss") < 0.8 * history.history["reconstruction_loss"][0]
    sparse_stats = sparsity_statistics(sparse, x_test)
    dense_stats = sparsity_statistics(dense, x_test)
    assert sparse_stats["mean_activation"] < 0.15  # from about 0.5 at initialisation
    assert dense_stats["mean_activation"] > 3 * sparse_stats["mean_activation"]
    assert sparse_stats["near_zero_fraction"] > 2 * dense_stats["near_zero_fraction"]


def test_features_are_decoder_weights_as_images():
    model = SparseAutoencoder(latent_dim=10)
    features = model.features()
    assert features.shape == (10, 28, 28)
    assert features.min() == 0.0 and features.max() == 1.0
    kernel = model.decoder.get_layer("output").kernel.numpy()[3]
    order = np.argsort(kernel)
    assert np.all(np.diff(features[3].ravel()[order]) >= 0)  # a monotone rescaling
    with pytest.raises(ValueError, match="decoder without hidden layers"):
        SparseAutoencoder(latent_dim=10, decoder_units=(32,)).features()


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"sparsity_weight": -1.0}, "sparsity_weight must be a finite number >= 0"),
        ({"target_rate": 0.0}, "strictly between 0 and 1"),
        ({"target_rate": 1.5}, r"target_rate must be a number in \[0, 1\]"),
        ({"penalty": "l2"}, "penalty must be one of"),
    ],
)
def test_bad_sparsity_settings_are_rejected(kwargs, message):
    with pytest.raises(ValueError, match=message):
        SparseAutoencoder(**kwargs)


# --- Stacked ---------------------------------------------------------------------------


def test_layer_pairs_mirror_each_other():
    pairs = layer_pairs(Autoencoder())  # 784-256-128-64-20
    shapes = [(tuple(e.kernel.shape), tuple(d.kernel.shape)) for e, d in pairs]
    assert shapes == [
        ((784, 256), (256, 784)),
        ((256, 128), (128, 256)),
        ((128, 64), (64, 128)),
        ((64, 20), (20, 64)),
    ]
    with pytest.raises(ValueError, match="mirrors the encoder"):
        layer_pairs(Autoencoder(encoder_units=(64,), decoder_units=(32,)))
    with pytest.raises(TypeError, match="needs an Autoencoder; got VAE"):
        layer_pairs(VAE(latent_dim=2, encoder_units=(8,)))


def test_greedy_pretraining_trains_one_pair_per_stage_and_yields_a_working_autoencoder(
    small_fashion,
):
    x_train, x_test = small_fashion
    train.set_seed(0)
    model = Autoencoder(latent_dim=16, encoder_units=(128, 64))
    before = [w.numpy() for w in model.weights]
    error_before = evaluate.reconstruction_metrics(model, x_test)["squared_error"]
    histories = greedy_pretrain(model, x_train, epochs=8, batch_size=64, verbose=0)
    assert len(histories) == 3
    for history in histories:
        assert history.last("loss") < history.history["loss"][0]
    assert all(not np.array_equal(a, b.numpy()) for a, b in zip(before, model.weights))
    error_after = evaluate.reconstruction_metrics(model, x_test)["squared_error"]
    assert error_after < 0.5 * error_before


# --- Adversarial -----------------------------------------------------------------------


@pytest.mark.slow
def test_adversarial_codes_are_closer_to_the_prior_than_a_plain_autoencoders(small_fashion):
    x_train, x_test = small_fashion

    def codes(model):
        return evaluate.map_in_batches(model.encode, x_test)

    train.set_seed(0)
    adversarial = AdversarialAutoencoder(latent_dim=2, encoder_units=(128,), seed=0)
    distances = []

    def record(epoch, logs):
        distances.append(evaluate.mmd_to_prior(codes(adversarial)))

    history = train.train(
        adversarial, x_train, epochs=30, batch_size=64, verbose=0, callbacks=[record]
    )
    train.set_seed(0)
    plain = Autoencoder(latent_dim=2, encoder_units=(128,))
    train.train(plain, x_train, epochs=30, batch_size=64, verbose=0)

    assert history.last("reconstruction_loss") < 0.8 * history.history["reconstruction_loss"][0]
    assert set(history.history) >= {"discriminator_loss", "generator_loss"}
    # The first epochs spread the codes out (reconstruction wins); then the adversary
    # pulls them towards N(0, I).
    assert distances[-1] < 0.6 * distances[4]
    assert distances[-1] < 0.5 * evaluate.mmd_to_prior(codes(plain))


@pytest.mark.slow
def test_adversarial_training_resumes_exactly(small_fashion, tmp_path):
    x_train, _ = small_fashion

    def fresh():
        train.set_seed(1)
        return AdversarialAutoencoder(latent_dim=2, encoder_units=(16,), seed=1)

    arguments = {"batch_size": 256, "verbose": 0}
    straight = fresh()
    train.train(straight, x_train, epochs=3, **arguments)
    interrupted = fresh()
    train.train(interrupted, x_train, epochs=1, checkpoint_dir=tmp_path, **arguments)
    resumed = fresh()
    train.train(resumed, x_train, epochs=3, checkpoint_dir=tmp_path, **arguments)
    for a, b in zip(straight.variables, resumed.variables):
        np.testing.assert_array_equal(a.numpy(), b.numpy())


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (
            {"adversarial_learning_rate": 0.0},
            "adversarial_learning_rate must be a finite number > 0",
        ),
        ({"adversarial_learning_rate": -1e-3}, "adversarial_learning_rate must be a finite"),
        ({"discriminator_units": "64"}, "discriminator_units must be a sequence"),
    ],
)
def test_bad_adversarial_settings_are_rejected(kwargs, message):
    with pytest.raises(ValueError, match=message):
        AdversarialAutoencoder(**kwargs)


# --- MMD -------------------------------------------------------------------------------


def test_mmd_agrees_with_a_direct_computation_and_separates_distributions():
    rng = np.random.default_rng(0)
    x, y = rng.standard_normal((60, 3)), rng.standard_normal((45, 3)) + 0.5

    def direct(a, b):
        def k(p, q):
            d = ((p[:, None] - q[None]) ** 2).sum(-1)
            return sum(c / (c + d) for c in 2 * 3 * np.array(evaluate.MMD_SCALES))

        kaa, kbb = k(a, a), k(b, b)
        n, m = len(a), len(b)
        return (
            (kaa.sum() - np.trace(kaa)) / (n * (n - 1))
            + (kbb.sum() - np.trace(kbb)) / (m * (m - 1))
            - 2 * k(a, b).mean()
        )

    assert evaluate.mmd(x, y, block=7) == pytest.approx(direct(x, y), rel=1e-9)
    same = evaluate.mmd_to_prior(rng.standard_normal((2000, 2)))
    shifted = evaluate.mmd_to_prior(rng.standard_normal((2000, 2)) + 1.0)
    assert abs(same) < 0.005 < 0.1 < shifted


def test_mmd_rejects_bad_samples():
    with pytest.raises(ValueError, match=r"\(n, d\) and \(m, d\)"):
        evaluate.mmd(np.zeros((5, 2)), np.zeros((5, 3)))
    with pytest.raises(ValueError, match="at least two points"):
        evaluate.mmd(np.zeros((1, 2)), np.zeros((5, 2)))
    with pytest.raises(ValueError, match="NaN"):
        evaluate.mmd(np.full((3, 2), np.nan), np.zeros((5, 2)))


def test_rescaled_masking_keeps_the_mean_and_divides_kept_pixels():
    x = tf.fill((200, 28, 28), 0.6)
    masked = corrupt(x, "masking", 0.5, seed=1).numpy()
    rescaled = corrupt(x, "masking", 0.5, seed=1, rescale=True).numpy()
    # The same pixels are kept; the kept ones are doubled.
    np.testing.assert_array_equal(rescaled == 0, masked == 0)
    np.testing.assert_allclose(rescaled[rescaled > 0], 1.2, rtol=1e-6)
    assert abs(masked.mean() - 0.3) < 0.01  # half as bright on average
    assert abs(rescaled.mean() - 0.6) < 0.01  # as bright as the clean images
    with pytest.raises(ValueError, match="rescale applies to masking"):
        DenoisingAutoencoder(noise="gaussian", noise_level=0.2, rescale=True)
    model = DenoisingAutoencoder(
        noise="masking", noise_level=0.5, rescale=True, latent_dim=2, encoder_units=(8,)
    )
    assert DenoisingAutoencoder.from_config(model.get_config()).rescale is True
