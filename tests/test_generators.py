"""The VQ-VAE, the prior over its code grids and the classifier that judges samples.

Each is checked against something independent of its own code: the VQ-VAE's loss
against the reconstruction and quantiser losses computed from its parts; the prior's
probabilities against the chain rule written out by hand and against the fact that
they sum to 1 over every grid; its samples against those probabilities; the
classifier against a task it must solve. Saved models reload with identical outputs,
and bad inputs are refused by name.
"""

import itertools

import numpy as np
import pytest
import tensorflow as tf

from vaebook import train
from vaebook.checks import check_code_grid
from vaebook.losses import bernoulli_reconstruction_loss
from vaebook.models import VQVAE, Classifier, CodePrior, load_model


def images(n, seed=0):
    return np.random.default_rng(seed).random((n, 28, 28)).astype(np.float32)


# The VQ-VAE.


def test_vqvae_shapes_bits_and_decoding_of_its_own_codes():
    model = VQVAE(num_codes=32, code_dim=4, seed=0)
    x = images(3)
    grids = model.encode(x)
    assert grids.shape == (3, 7, 7) and grids.dtype == tf.int32
    assert model.bits_per_image == pytest.approx(49 * 5)
    # Reconstructing is decoding the image's own grid.
    np.testing.assert_allclose(
        model.reconstruct(x).numpy(), model.generate_from(grids).numpy(), atol=1e-6
    )


def test_vqvae_loss_is_the_reconstruction_plus_the_quantiser_losses():
    model = VQVAE(num_codes=16, code_dim=4, ema_decay=None, seed=1)
    x = images(5, seed=1)
    losses = model.per_example_losses(x)
    z_e = model.encode_vectors(x).numpy()  # (5, 7, 7, 4)
    z_q = model.quantizer.codebook.numpy()[model.encode(x).numpy()]
    distance = np.sum((z_e - z_q) ** 2, axis=(1, 2, 3))  # (5,)
    reconstruction = bernoulli_reconstruction_loss(x, model.decode(model.encode(x)), 2)
    np.testing.assert_allclose(losses["reconstruction_loss"], reconstruction, rtol=1e-5)
    np.testing.assert_allclose(losses["codebook_loss"], distance, rtol=1e-4)
    np.testing.assert_allclose(losses["commitment_loss"], 0.25 * distance, rtol=1e-4)
    np.testing.assert_allclose(losses["loss"], reconstruction + 1.25 * distance, rtol=1e-4)


def test_vqvae_training_lowers_the_loss_and_moves_the_codebook_by_averages():
    model = VQVAE(num_codes=16, code_dim=4, ema_decay=0.9, restart_below=0.5, seed=2)
    x = images(256, seed=2)
    before = model.quantizer.codebook.numpy().copy()
    history = train.train(model, x, epochs=3, batch_size=64, verbose=0)
    assert history.history["loss"][-1] < history.history["loss"][0]
    assert not np.allclose(model.quantizer.codebook.numpy(), before)
    assert history.history["codebook_loss"][-1] == 0.0  # the averages move the codes


def test_vqvae_round_trips_with_its_codebook_and_averages(tmp_path):
    model = VQVAE(num_codes=8, code_dim=3, ema_decay=0.9, restart_below=0.1, seed=3)
    train.train(model, images(64), epochs=1, batch_size=32, verbose=0)
    path = tmp_path / "vq.keras"
    model.save(path)
    loaded = load_model(path, expected=VQVAE)
    assert loaded.get_config() == model.get_config()
    x = images(4, seed=5)
    np.testing.assert_array_equal(model.encode(x), loaded.encode(x))
    np.testing.assert_array_equal(model.reconstruct(x), loaded.reconstruct(x))
    np.testing.assert_array_equal(
        model.quantizer.ema_count.numpy(), loaded.quantizer.ema_count.numpy()
    )


def test_vqvae_refuses_bad_settings_and_inputs():
    with pytest.raises(ValueError, match="num_codes"):
        VQVAE(num_codes=0)
    with pytest.raises(ValueError, match="divisible by 8"):
        VQVAE(filters=(8, 8, 8))
    model = VQVAE(num_codes=8, code_dim=2, seed=0)
    with pytest.raises(ValueError, match="values in"):
        model.encode(images(2) * 255)
    with pytest.raises(ValueError, match="shape"):
        model.encode(np.zeros((2, 28, 27), np.float32))
    with pytest.raises(ValueError, match=r"whole numbers in \[0, 8\)"):
        model.decode(np.full((1, 7, 7), 8))
    with pytest.raises(ValueError, match="shape"):
        model.decode(np.zeros((1, 7, 6), np.int32))


def test_code_grids_are_checked_for_whole_numbers_in_range():
    grid = check_code_grid(np.full((2, 2, 2), 3.0, np.float32), 4, (2, 2))
    assert grid.dtype == tf.int32
    with pytest.raises(ValueError, match="whole numbers"):
        check_code_grid(np.full((1, 2, 2), 1.5), 4, (2, 2))
    with pytest.raises(ValueError, match="whole numbers"):
        check_code_grid(np.full((1, 2, 2), -1), 4, (2, 2))


# The prior over code grids.


def small_prior(seed=0):
    return CodePrior(num_codes=3, grid_shape=(1, 2), dim=8, heads=2, dropout=0.0, seed=seed)


def test_prior_is_causal():
    prior = CodePrior(num_codes=5, grid_shape=(2, 3), dim=16, heads=2, dropout=0.0, seed=1)
    tokens = np.random.default_rng(0).integers(0, 5, (4, 6)).astype(np.int32)
    base = prior.logits(tf.constant(tokens)).numpy()
    for position in range(6):
        changed = tokens.copy()
        changed[:, position] = (changed[:, position] + 1) % 5
        logits = prior.logits(tf.constant(changed)).numpy()
        # A position's logits see only the tokens before it.
        np.testing.assert_allclose(logits[:, : position + 1], base[:, : position + 1], atol=1e-5)
        if position < 5:
            assert not np.allclose(logits[:, position + 1], base[:, position + 1])


def test_prior_log_prob_is_the_chain_rule_and_sums_to_one():
    prior = small_prior()
    grids = np.array(list(itertools.product(range(3), repeat=2))).reshape(9, 1, 2)
    log_p = prior.log_prob(grids).numpy()
    # By hand: log softmax of each position's logits at its token, summed.
    logits = prior.logits(tf.constant(grids.reshape(9, 2), tf.int32)).numpy()
    log_softmax = logits - np.log(np.sum(np.exp(logits), axis=-1, keepdims=True))
    by_hand = log_softmax[np.arange(9), 0, grids[:, 0, 0]]
    by_hand += log_softmax[np.arange(9), 1, grids[:, 0, 1]]
    np.testing.assert_allclose(log_p, by_hand, rtol=1e-5)
    # A distribution over the nine grids.
    assert np.exp(log_p).sum() == pytest.approx(1.0, abs=1e-5)


def test_prior_samples_follow_its_probabilities():
    prior = small_prior(seed=2)
    draws = prior.sample(20000, seed=0).reshape(20000, 2)
    counts = np.bincount(draws[:, 0] * 3 + draws[:, 1], minlength=9) / 20000
    grids = np.array(list(itertools.product(range(3), repeat=2))).reshape(9, 1, 2)
    expected = np.exp(prior.log_prob(grids).numpy())
    standard_error = np.sqrt(expected * (1 - expected) / 20000)
    assert np.all(np.abs(counts - expected) < 5 * standard_error)
    np.testing.assert_array_equal(draws, prior.sample(20000, seed=0).reshape(20000, 2))


def test_prior_learns_a_skewed_distribution_and_round_trips(tmp_path):
    # Grids whose second token copies the first: log 3 nats is the least possible.
    first = np.random.default_rng(0).integers(0, 3, 600)
    grids = np.stack([first, first], axis=1).reshape(600, 1, 2).astype(np.float32)
    prior = small_prior(seed=3)
    train.train(prior, grids, epochs=30, batch_size=60, learning_rate=1e-2, verbose=0)
    nll = -prior.log_prob(grids).numpy().mean()
    assert nll < np.log(3) + 0.1, nll
    path = tmp_path / "prior.keras"
    prior.save(path)
    loaded = load_model(path, expected=CodePrior)
    np.testing.assert_allclose(loaded.log_prob(grids), prior.log_prob(grids), rtol=1e-6)


def test_prior_refuses_bad_grids_and_settings():
    prior = small_prior()
    with pytest.raises(ValueError, match="whole numbers"):
        prior.log_prob(np.full((1, 1, 2), 3))
    with pytest.raises(ValueError, match="shape"):
        prior.log_prob(np.zeros((1, 2, 1)))
    with pytest.raises(ValueError, match="divisible by heads"):
        CodePrior(num_codes=3, dim=10, heads=4)
    with pytest.raises(ValueError, match="temperature"):
        prior.sample(2, temperature=0)
    with pytest.raises(ValueError, match="whole numbers"):
        prior.logits(tf.constant([[0, 5]]))  # a code the prior does not have


# The classifier.


def test_classifier_learns_a_separable_task_and_round_trips(tmp_path):
    generator = np.random.default_rng(0)
    labels = generator.integers(0, 2, 400)
    x = (0.2 + 0.6 * labels[:, None, None] * np.ones((400, 28, 28))).astype(np.float32)
    x += generator.uniform(-0.1, 0.1, x.shape).astype(np.float32)
    model = Classifier(num_classes=2, feature_dim=16, seed=0)
    history = train.train(model, x, y_train=labels, epochs=5, batch_size=50, verbose=0)
    assert history.history["error"][-1] == 0.0
    np.testing.assert_array_equal(model.classify(x).numpy(), labels)
    assert model.features(x[:3]).shape == (3, 16)
    path = tmp_path / "classifier.keras"
    model.save(path)
    loaded = load_model(path, expected=Classifier)
    np.testing.assert_array_equal(loaded.features(x[:5]), model.features(x[:5]))


def test_classifier_needs_labels_of_its_classes():
    model = Classifier(num_classes=3, seed=0)
    with pytest.raises(ValueError, match="conditional"):
        train.train(model, images(8), epochs=1, verbose=0)
    with pytest.raises(ValueError):
        model.per_example_losses(images(2), labels=np.array([0, 3]))
    with pytest.raises(ValueError, match="values in"):
        model.features(images(2) + 1)
