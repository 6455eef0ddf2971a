"""The vector quantiser of the VQ-VAE against NumPy versions written here.

Nearest codes by brute force; the straight-through gradient is the identity on the
encoder's output; each loss sends its gradient where the paper says and nowhere else;
one moving-average step equals the appendix's formulas; an unused code is restarted at
an encoder output; and bad settings or inputs are refused by name.
"""

import keras
import numpy as np
import pytest
import tensorflow as tf

from vaebook.models.vq import VectorQuantizer, codebook_perplexity


def brute_nearest(z, codebook):
    distances = ((z[..., None, :] - codebook) ** 2).sum(-1)
    return distances.argmin(-1)


def test_nearest_codes_and_lookup_match_brute_force():
    quantizer = VectorQuantizer(num_codes=12, code_dim=3, seed=0)
    z = np.random.default_rng(0).normal(size=(2, 5, 5, 3)).astype(np.float32)
    codebook = quantizer.codebook.numpy()
    expected = brute_nearest(z, codebook)
    out = quantizer(z)
    np.testing.assert_array_equal(out["indices"].numpy(), expected)
    np.testing.assert_allclose(out["quantized"].numpy(), codebook[expected], atol=1e-6)


def test_straight_through_gradient_is_the_identity_and_losses_go_where_they_should():
    quantizer = VectorQuantizer(num_codes=6, code_dim=2, commitment=0.25, seed=1)
    z = tf.Variable(np.random.default_rng(1).normal(size=(10, 2)).astype(np.float32))
    weights = tf.constant(np.random.default_rng(2).normal(size=(10, 2)).astype(np.float32))
    with tf.GradientTape(persistent=True) as tape:
        out = quantizer(z)
        through = tf.reduce_sum(weights * out["quantized"])
        codebook_loss = tf.reduce_mean(out["codebook_loss"])  # (10,) -> mean
        commitment_loss = tf.reduce_mean(out["commitment_loss"])
    np.testing.assert_allclose(tape.gradient(through, z).numpy(), weights.numpy())
    assert tape.gradient(through, quantizer.codebook) is None
    z_q = quantizer.codebook.numpy()[out["indices"].numpy()]
    # Commitment: beta * mean ||z - sg(z_q)||^2 reaches z only.
    commit = tape.gradient(commitment_loss, z).numpy()
    np.testing.assert_allclose(commit, 2 * 0.25 * (z.numpy() - z_q) / 10, rtol=1e-5)
    assert tape.gradient(commitment_loss, quantizer.codebook) is None
    # Codebook: mean ||sg(z) - z_q||^2 reaches the chosen codes only.
    assert tape.gradient(codebook_loss, z) is None
    grad_codes = tf.convert_to_tensor(tape.gradient(codebook_loss, quantizer.codebook))
    expected = np.zeros((6, 2))
    np.add.at(expected, out["indices"].numpy(), 2 * (z_q - z.numpy()) / 10)
    np.testing.assert_allclose(grad_codes.numpy(), expected, rtol=1e-5, atol=1e-7)
    per_vector = np.sum((z.numpy() - z_q) ** 2, axis=1)  # (10,)
    np.testing.assert_allclose(out["codebook_loss"].numpy(), per_vector, rtol=1e-5)
    np.testing.assert_allclose(out["commitment_loss"].numpy(), 0.25 * per_vector, rtol=1e-5)


def test_one_moving_average_step_matches_the_formulas():
    quantizer = VectorQuantizer(num_codes=4, code_dim=2, ema_decay=0.9, seed=3)
    assert not quantizer.codebook.trainable
    before = quantizer.codebook.numpy().copy()
    count, total = quantizer.ema_count.numpy().copy(), quantizer.ema_sum.numpy().copy()
    np.testing.assert_allclose(total, before)  # counts of 1: the sums are the codes
    z = np.random.default_rng(4).normal(size=(20, 2)).astype(np.float32)
    out = quantizer(z, training=True)
    chosen = brute_nearest(z, before)
    np.testing.assert_array_equal(out["indices"].numpy(), chosen)
    np.testing.assert_allclose(out["quantized"].numpy(), before[chosen], atol=1e-6)
    assert np.all(out["codebook_loss"].numpy() == 0.0)
    counts = np.bincount(chosen, minlength=4)
    sums = np.zeros((4, 2))
    np.add.at(sums, chosen, z)
    new_count = 0.9 * count + 0.1 * counts
    new_sum = 0.9 * total + 0.1 * sums
    smoothed = (new_count + 1e-5) / (new_count.sum() + 4e-5) * new_count.sum()
    np.testing.assert_allclose(quantizer.ema_count.numpy(), new_count, rtol=1e-6)
    np.testing.assert_allclose(quantizer.codebook.numpy(), new_sum / smoothed[:, None], rtol=1e-5)
    # Without training=True nothing moves.
    frozen = quantizer.codebook.numpy().copy()
    quantizer(z)
    np.testing.assert_array_equal(quantizer.codebook.numpy(), frozen)


def test_an_unused_code_is_restarted_at_an_encoder_output():
    quantizer = VectorQuantizer(num_codes=3, code_dim=2, ema_decay=0.5, restart_below=0.5, seed=5)
    # Codes 0 and 1 near the data; code 2 far away, so it is never chosen.
    quantizer.codebook.assign([[0.0, 0.0], [1.0, 1.0], [50.0, 50.0]])
    quantizer.ema_sum.assign(quantizer.codebook)
    z = np.random.default_rng(6).normal(scale=0.1, size=(30, 2)).astype(np.float32)
    z[15:] += 1.0
    quantizer(z, training=True)  # code 2's count: 0.5 * 1, not below 0.5 yet
    assert np.allclose(quantizer.codebook.numpy()[2], [50.0, 50.0], rtol=1e-3)
    quantizer(z, training=True)  # 0.25 < 0.5: restarted
    restarted = quantizer.codebook.numpy()[2]
    assert np.min(np.abs(z - restarted).sum(axis=1)) < 1e-6  # one of the outputs
    assert quantizer.ema_count.numpy()[2] == 1.0


def test_perplexity_counts_the_codes_in_use():
    assert codebook_perplexity([3, 3, 3], num_codes=8) == pytest.approx(1.0)
    assert codebook_perplexity(np.arange(8).repeat(5), num_codes=8) == pytest.approx(8.0)
    frequencies = np.array([0.5, 0.25, 0.25])
    indices = np.repeat([0, 1, 2], (frequencies * 40).astype(int))
    expected = np.exp(-np.sum(frequencies * np.log(frequencies)))
    assert codebook_perplexity(indices, num_codes=5) == pytest.approx(expected)
    with pytest.raises(ValueError, match=r"must lie in \[0, 5\)"):
        codebook_perplexity([0, 5], num_codes=5)


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"num_codes": 0, "code_dim": 2}, "num_codes"),
        ({"num_codes": 4, "code_dim": 2, "ema_decay": 1.0}, "ema_decay"),
        ({"num_codes": 4, "code_dim": 2, "ema_decay": 0.0}, "ema_decay"),
        ({"num_codes": 4, "code_dim": 2, "restart_below": 1.0}, "only exist with ema_decay"),
        ({"num_codes": 4, "code_dim": 2, "commitment": -1.0}, "commitment"),
    ],
)
def test_settings_that_make_no_sense_are_refused(settings, message):
    with pytest.raises(ValueError, match=message):
        VectorQuantizer(**settings)


def test_inputs_of_the_wrong_size_or_not_finite_are_refused():
    quantizer = VectorQuantizer(num_codes=4, code_dim=3, seed=0)
    with pytest.raises(ValueError, match="vectors of size 3 on the last axis"):
        quantizer(np.zeros((5, 2), np.float32))
    bad = np.zeros((5, 3), np.float32)
    bad[2, 1] = np.nan
    with pytest.raises(tf.errors.InvalidArgumentError, match="NaN or infinity"):
        quantizer(bad)


def test_configuration_round_trip():
    quantizer = VectorQuantizer(num_codes=5, code_dim=2, ema_decay=0.99, restart_below=0.1, seed=7)
    clone = keras.layers.deserialize(keras.layers.serialize(quantizer))
    assert isinstance(clone, VectorQuantizer)
    assert clone.get_config() == quantizer.get_config()
    np.testing.assert_allclose(clone.codebook.numpy(), quantizer.codebook.numpy())


def test_moving_averages_update_inside_a_compiled_step():
    eager = VectorQuantizer(num_codes=4, code_dim=2, ema_decay=0.8, restart_below=0.2, seed=8)
    compiled = VectorQuantizer(num_codes=4, code_dim=2, ema_decay=0.8, restart_below=0.2, seed=8)
    step = tf.function(lambda z: compiled(z, training=True)["indices"])
    z = np.random.default_rng(9).normal(size=(16, 2)).astype(np.float32)
    for _ in range(3):
        eager(z, training=True)
        step(z)
    np.testing.assert_allclose(compiled.codebook.numpy(), eager.codebook.numpy(), rtol=1e-5)
    np.testing.assert_allclose(compiled.ema_count.numpy(), eager.ema_count.numpy(), rtol=1e-5)
