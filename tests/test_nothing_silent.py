"""Repeatable randomness and the last silent or cryptic inputs.

Each test here failed (or could not be written) before the change it guards: noise
that depended on the batching, validation that moved the trained weights, seeds that
were not enough in a fresh process, inputs that were accepted or refused cryptically.
"""

from __future__ import annotations

import errno
import hashlib
import random
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import keras
import numpy as np
import pytest
import tensorflow as tf

from vaebook import checkpoint, data, evaluate, pretrain, rng, train
from vaebook.models import (
    VAE,
    Autoencoder,
    ConditionalVAE,
    ConvAutoencoder,
    DenoisingAutoencoder,
    SemiSupervisedVAE,
    load_model,
)
from vaebook.presets import Experiment

ROOT = Path(__file__).resolve().parents[1]


def images(n, seed=0, shape=(28, 28)):
    return np.random.default_rng(seed).random((n, *shape), dtype=np.float32)


def weights_of(model):
    return [np.asarray(v) for v in model.trainable_variables]


# 1. Randomness that means what the docstrings say.


@pytest.mark.parametrize(
    "make",
    [
        lambda: VAE(latent_dim=3, encoder_units=(16,), seed=0),
        lambda: DenoisingAutoencoder(
            noise="masking", noise_level=0.3, latent_dim=3, encoder_units=(16,), seed=0
        ),
    ],
    ids=["VAE", "DenoisingAutoencoder"],
)
def test_validation_leaves_the_trained_weights_bitwise_unchanged(make):
    x, x_val = images(96), images(40, seed=1)
    runs = []
    for validation in (None, x_val):
        model = make()
        train.train(model, x, x_val=validation, epochs=2, batch_size=32, seed=3, verbose=0)
        runs.append(weights_of(model))
    for without, with_val in zip(*runs):
        np.testing.assert_array_equal(without, with_val)


def test_evaluate_losses_does_not_depend_on_the_batching_or_touch_the_training_stream():
    vae = VAE(latent_dim=4, encoder_units=(32,), seed=0)
    x = images(300)
    state = np.asarray(vae.seed_generator.state).copy()
    results = [evaluate.evaluate_losses(vae, x, batch_size=size) for size in (256, 32, 7)]
    for other in results[1:]:
        for name, value in results[0].items():
            assert other[name] == pytest.approx(value, rel=1e-6)
    np.testing.assert_array_equal(np.asarray(vae.seed_generator.state), state)
    # Another seed draws other noise (the reconstruction term changes a little).
    other_seed = evaluate.evaluate_losses(vae, x, seed=1)
    assert other_seed["reconstruction_loss"] != results[0]["reconstruction_loss"]
    assert other_seed["kl_loss"] == pytest.approx(results[0]["kl_loss"], rel=1e-6)
    # Example i's own values do not depend on the batching either, and average to the
    # means above.
    whole = evaluate.losses_per_example(vae, x, batch_size=300)
    parts = evaluate.losses_per_example(vae, x, batch_size=7)
    for name, value in whole.items():
        assert value.shape == (300,) and value.dtype == np.float64
        np.testing.assert_allclose(parts[name], value, rtol=1e-5)
        assert np.mean(value) == pytest.approx(results[0][name], rel=1e-6)


def test_likelihood_regret_does_not_depend_on_the_batching():
    vae = VAE(latent_dim=3, encoder_units=(16,), seed=0)
    x = images(9)
    one = evaluate.likelihood_regret(vae, x, steps=5, num_samples=4, batch_size=9)
    other = evaluate.likelihood_regret(vae, x, steps=5, num_samples=4, batch_size=2)
    np.testing.assert_allclose(one["regret"], other["regret"], rtol=1e-4, atol=1e-4)


_RUN = textwrap.dedent(
    """
    import hashlib, sys
    import numpy as np
    sys.path.insert(0, {root!r})
    from vaebook import train
    from vaebook.models import VAE
    x = np.random.default_rng(0).random((64, 28, 28), dtype=np.float32)
    vae = VAE(latent_dim=3, encoder_units=(16,), dropout=0.2, seed={seed})
    train.train(vae, x, epochs=2, batch_size=16, seed=3, verbose=0)
    digest = hashlib.sha256()
    for variable in vae.variables:
        digest.update(np.asarray(variable).tobytes())
    print("DIGEST", digest.hexdigest())
    """
)


def _digest_in_a_fresh_process(seed):
    result = subprocess.run(
        [sys.executable, "-c", _RUN.format(root=str(ROOT), seed=seed)],
        capture_output=True,
        text=True,
        check=True,
        timeout=300,
    )
    return next(line for line in result.stdout.splitlines() if line.startswith("DIGEST"))


@pytest.mark.slow
def _digest_here(seed):
    namespace = {}
    body = _RUN.format(root=str(ROOT), seed=seed).replace('print("DIGEST", ', "result = (")
    exec(body, namespace)  # noqa: S102 - the same script as the fresh processes run
    return "DIGEST " + namespace["result"]


def test_the_seeds_given_are_enough_in_two_fresh_processes():
    # Neither process calls set_seed: the model's seed fixes its weights, dropout masks
    # and sampling noise, train's seed the order and the input noise.
    first, second = _digest_in_a_fresh_process(0), _digest_in_a_fresh_process(0)
    assert first == second
    # Here, in a process whose global state other tests have moved, the same seed
    # gives the same run too, and another seed another one.
    assert _digest_here(0) == first
    assert _digest_here(1) != first


def test_building_a_seeded_model_leaves_the_global_stream_alone():
    random.seed(5)
    expected = [random.random() for _ in range(3)]
    random.seed(5)
    first = VAE(latent_dim=2, encoder_units=(8,), seed=0)
    assert [random.random() for _ in range(3)] == expected
    second = VAE(latent_dim=2, encoder_units=(8,), seed=0)
    for a, b in zip(weights_of(first), weights_of(second)):
        np.testing.assert_array_equal(a, b)
    third = VAE(latent_dim=2, encoder_units=(8,), seed=1)
    assert not np.array_equal(weights_of(first)[0], weights_of(third)[0])


@pytest.mark.parametrize(
    "make",
    [
        lambda: VAE(latent_dim=3, encoder_units=(16,), seed=0),
        lambda: DenoisingAutoencoder(latent_dim=3, encoder_units=(16,), seed=0),
    ],
    ids=["VAE", "DenoisingAutoencoder"],
)
def test_a_reloaded_model_draws_the_same_training_noise_next(make, tmp_path):
    model = make()
    x = images(8)
    model.per_example_losses(x, training=True)  # advance the generator once
    path = tmp_path / "model.keras"
    model.save(path)
    loaded = load_model(path)
    expected = model.per_example_losses(x, training=True)["loss"].numpy()
    np.testing.assert_allclose(loaded.per_example_losses(x, training=True)["loss"], expected)


# 2. The remaining silent and cryptic inputs.


def _small_autoencoder():
    return Autoencoder(latent_dim=2, encoder_units=(8,), seed=0)


def _checkpoint_after_one_epoch(x, folder):
    train.train(_small_autoencoder(), x, epochs=1, checkpoint_dir=folder, verbose=0)


def test_a_finite_explosion_stops_training_with_a_message():
    model = Autoencoder(latent_dim=4, encoder_units=(32,), seed=0)
    with pytest.raises(train.TrainingDivergedError, match=r"loss rose from .* \(the untrained"):
        train.train(model, images(512), epochs=3, batch_size=64, learning_rate=1e3, verbose=0)


def test_the_divergence_rule():
    assert train.diverged(541 + 10 * 541 + 1, 541)
    assert not train.diverged(541 * 5, 541)
    # A negative start (a Gaussian log-likelihood) is judged on its size.
    assert not train.diverged(-2000.0, -500.0)
    assert train.diverged(-500.0 + 10 * 500 + 1, -500.0)
    assert train.diverged(11.5, 0.2)  # a start near 0: an absolute scale of 1


def _copy_dataset(name, folder):
    source = data.find_dataset_files(name)
    assert source is not None, "the tests need the real datasets (set VAEBOOK_DATA)"
    shutil.copytree(source, folder, ignore=shutil.ignore_patterns("*.md"))
    return folder


def _rewrite_idx(path, change):
    """Rewrites an IDX .gz file after applying ``change`` to its array."""
    import gzip

    array = data.read_idx(path).copy()
    change(array)
    header_size = 4 + 4 * array.ndim
    with gzip.open(path, "rb") as handle:
        header = handle.read(header_size)
    with gzip.open(path, "wb") as handle:
        handle.write(header + array.tobytes())


def test_fashion_mnist_files_are_not_loaded_as_mnist(tmp_path):
    folder = _copy_dataset("fashion-mnist", tmp_path / "data")  # files at the root
    with pytest.raises(data.DataError, match="holds the files of fashion-mnist, not of mnist"):
        data.load_mnist(data_dir=folder)
    assert data.load_fashion_mnist(data_dir=folder).x_train.shape == (60000, 28, 28)


def test_labels_outside_the_ten_classes_are_refused(tmp_path):
    folder = _copy_dataset("mnist", tmp_path / "mnist")

    def bad(labels):
        labels[[3, 7]] = [200, 255]

    _rewrite_idx(folder / "t10k-labels-idx1-ubyte.gz", bad)
    with pytest.raises(data.DataError, match=r"labels outside 0-9 \(for example \[200, 255\]\)"):
        data.load_mnist(data_dir=tmp_path)


def test_a_modified_image_file_is_refused_by_name(tmp_path):
    folder = _copy_dataset("mnist", tmp_path / "mnist")

    def bad(images):
        images[0, 0, 0] ^= 1

    _rewrite_idx(folder / "t10k-images-idx3-ubyte.gz", bad)
    with pytest.raises(data.DataError, match="t10k-images-idx3-ubyte.gz is not the original"):
        data.load_mnist(data_dir=tmp_path)


def test_a_checkpoint_does_not_resume_on_other_data(tmp_path):
    x, other = images(64), images(64, seed=1) * 0.5
    train.train(
        _small_autoencoder(),
        x,
        epochs=1,
        batch_size=32,
        checkpoint_dir=tmp_path,
        verbose=0,
    )
    model = _small_autoencoder()
    with pytest.raises(checkpoint.CheckpointMismatchError) as error:
        train.train(model, other, epochs=2, batch_size=32, checkpoint_dir=tmp_path, verbose=0)
    message = str(error.value)
    assert "data: checkpoint '64 x (28, 28), mean 0.4" in message
    assert "now '64 x (28, 28), mean 0.2" in message


def test_a_run_resumes_on_the_same_data(tmp_path):
    x = images(64)
    for epochs in (1, 2):
        model = _small_autoencoder()
        history = train.train(
            model, x, epochs=epochs, batch_size=32, checkpoint_dir=tmp_path, verbose=0
        )
    assert history.epochs == 2


@pytest.mark.parametrize("likelihood", ["bernoulli", "continuous_bernoulli", "gaussian"])
def test_reconstruction_metrics_use_the_models_own_reconstructions(likelihood):
    vae = VAE(latent_dim=3, encoder_units=(16,), likelihood=likelihood, seed=0)
    x = images(50)
    expected = evaluate.squared_error_per_image(x, vae.reconstruct(x)).mean()
    metrics = evaluate.reconstruction_metrics(vae, x, batch_size=16)
    assert metrics["squared_error"] == pytest.approx(expected, rel=1e-5)


def _cvae():
    return ConditionalVAE(latent_dim=2, num_classes=10, filters=(4,), image_shape=(8, 8), seed=0)


def test_a_label_outside_the_classes_is_caught_inside_a_compiled_function():
    model = _cvae()
    x, labels = images(2, shape=(8, 8)), tf.constant([3, 12])

    @tf.function(jit_compile=False)
    def graph(x, labels):
        return model.per_example_losses(x, labels=labels)["loss"]

    with pytest.raises(tf.errors.InvalidArgumentError, match=r"labels must lie in \[0, 10\)"):
        graph(x, labels)

    @tf.function(jit_compile=True)
    def compiled(x, labels):
        return model.per_example_losses(x, labels=labels)["loss"]

    loss = compiled(x, labels).numpy()  # XLA drops assertions: the bad row turns NaN
    assert np.isfinite(loss[0]) and np.isnan(loss[1])


def test_greedy_pretraining_refuses_a_convolutional_autoencoder():
    model = ConvAutoencoder(latent_dim=4, filters=(16,), seed=0)  # 14 * 14 * 16 != 784
    with pytest.raises(TypeError, match="also has Conv2D, Conv2DTranspose layers"):
        pretrain.greedy_pretrain(model, images(8), epochs=1, verbose=0)
    shaped = ConvAutoencoder(latent_dim=4, filters=(8, 16), seed=0)  # 7 * 7 * 16 = 784
    with pytest.raises(TypeError, match="dense autoencoders"):
        pretrain.greedy_pretrain(shaped, images(8), epochs=1, verbose=0)


@pytest.mark.parametrize("call", ["call", "per_example_losses", "reconstruct"])
def test_pixels_of_0_to_255_are_refused_before_anything_is_computed(call):
    vae = VAE(latent_dim=2, encoder_units=(8,), seed=0)
    x = images(3) * 255
    method = vae if call == "call" else getattr(vae, call)
    with pytest.raises(ValueError, match=r"x has values in \[.*\]; .*divide them by 255"):
        method(x)


def test_a_rescaled_masking_model_takes_its_brighter_inputs():
    model = DenoisingAutoencoder(
        noise="masking", noise_level=0.5, rescale=True, latent_dim=2, encoder_units=(8,)
    )
    model(np.full((2, 28, 28), 2.0, np.float32))  # up to 1 / (1 - 0.5)
    with pytest.raises(ValueError, match=r"expected values in \[0, 2\]"):
        model(np.full((2, 28, 28), 2.5, np.float32))


@pytest.mark.parametrize("damage", ["shape", "nan"])
def test_a_damaged_checkpoint_is_named(tmp_path, damage):
    x = images(32)
    _checkpoint_after_one_epoch(x, tmp_path)
    path = tmp_path / checkpoint.CHECKPOINT_FILE
    with np.load(path) as stored:
        arrays = {name: stored[name] for name in stored.files}
    arrays["model_0"] = (
        arrays["model_0"][:-1] if damage == "shape" else np.full_like(arrays["model_0"], np.nan)
    )
    np.savez(path, **arrays)
    model = _small_autoencoder()
    before = weights_of(model)
    expected = "of shape" if damage == "shape" else "holds NaN"
    with pytest.raises(ValueError, match=rf"{path} is damaged: its array model_0 .*{expected}"):
        train.train(model, x, epochs=2, checkpoint_dir=tmp_path, verbose=0)
    for a, b in zip(before, weights_of(model)):  # nothing was assigned
        np.testing.assert_array_equal(a, b)


def test_max_decodes_beyond_memory_is_named():
    vae = VAE(latent_dim=2, encoder_units=(8,), seed=0)
    with pytest.raises(ValueError, match=r"max_decodes=1000000000 .* lower max_decodes"):
        evaluate.vae_bounds(vae, images(2), num_samples=10**6, max_decodes=10**9)


def test_experiment_fields_are_named():
    with pytest.raises(ValueError, match="Experiment 'x': epochs must be a positive integer"):
        Experiment("x", "mnist", Autoencoder, {}, epochs=0, batch_size=10)
    with pytest.raises(ValueError, match="Experiment 'x': batch_size"):
        Experiment("x", "mnist", Autoencoder, {}, epochs=1, batch_size=0)


def test_an_unwritable_checkpoint_folder_is_found_before_training(tmp_path, monkeypatch):
    epochs_run = []

    def read_only(self, content):
        raise OSError(errno.EROFS, "Read-only file system")

    monkeypatch.setattr(Path, "write_bytes", read_only)
    with pytest.raises(ValueError, match=r"checkpoint_dir .* cannot be written to \(Read-only"):
        train.train(
            _small_autoencoder(),
            images(32),
            epochs=1,
            checkpoint_dir=tmp_path / "run",
            callbacks=[lambda epoch, logs: epochs_run.append(epoch)],
            verbose=0,
        )
    assert epochs_run == []


def test_a_full_disk_names_the_checkpoint_and_keeps_the_previous_one(tmp_path, monkeypatch):
    x = images(32)
    _checkpoint_after_one_epoch(x, tmp_path)
    before = (tmp_path / checkpoint.CHECKPOINT_FILE).read_bytes()

    def full(path, **arrays):
        Path(path).write_bytes(b"partial")
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(checkpoint.np, "savez", full)
    with pytest.raises(OSError, match=r"could not write the checkpoint .*checkpoint.npz \(No sp"):
        train.train(
            _small_autoencoder(),
            x,
            epochs=2,
            checkpoint_dir=tmp_path,
            verbose=0,
        )
    assert (tmp_path / checkpoint.CHECKPOINT_FILE).read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == [checkpoint.CHECKPOINT_FILE]


# 3. Tests that catch a broken change.


def test_shuffling_follows_the_seeded_permutation():
    """train() against a loop written by hand over np.random.default_rng(seed)'s order."""
    x = images(40, shape=(2, 2))
    seed, batch_size, epochs = 7, 8, 2
    model = Autoencoder(latent_dim=1, encoder_units=(), image_shape=(2, 2), seed=0)
    reference = Autoencoder(latent_dim=1, encoder_units=(), image_shape=(2, 2), seed=0)
    train.train(model, x, epochs=epochs, batch_size=batch_size, seed=seed, verbose=0)
    order = np.random.default_rng(seed)
    adam = keras.optimizers.Adam(1e-3)
    for _ in range(epochs):
        permutation = order.permutation(len(x))
        for start in range(0, len(x), batch_size):
            batch = x[permutation[start : start + batch_size]]
            with tf.GradientTape() as tape:
                loss = tf.reduce_mean(reference.per_example_losses(batch, training=True)["loss"])
            variables = reference.trainable_variables
            adam.apply_gradients(zip(tape.gradient(loss, variables), variables))
    for got, want in zip(weights_of(model), weights_of(reference)):
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)
    # Another seed, another order, other weights.
    other = Autoencoder(latent_dim=1, encoder_units=(), image_shape=(2, 2), seed=0)
    train.train(other, x, epochs=epochs, batch_size=batch_size, seed=seed + 1, verbose=0)
    assert not np.allclose(weights_of(other)[0], weights_of(model)[0], rtol=1e-6, atol=0)


def test_rescaled_masking_divides_by_the_kept_fraction_at_an_asymmetric_level():
    from vaebook.models.denoising import corrupt

    x = np.full((50, 28, 28), 0.6, np.float32)
    masked = np.asarray(corrupt(x, "masking", 0.3, seed=1, rescale=True))
    values = np.unique(masked)
    np.testing.assert_allclose(values, [0.0, 0.6 / 0.7], rtol=1e-6)
    assert np.mean(masked == 0) == pytest.approx(0.3, abs=0.01)
    assert masked.mean() == pytest.approx(0.6, abs=0.01)  # unbiased on average


def test_generate_decodes_seeded_prior_draws():
    vae = VAE(latent_dim=3, encoder_units=(16,), seed=0)
    generated = vae.generate(5, seed=3).numpy()
    z = rng.normal((5, 3), 3)
    np.testing.assert_array_equal(generated, vae.pixel_means(vae.decode(z)).numpy())
    at_zero = vae.pixel_means(vae.decode(tf.zeros((1, 3)))).numpy()
    assert not np.allclose(generated[0], at_zero[0])
    assert not np.allclose(generated[0], generated[1])


def test_one_sample_log_weight_splits_into_the_losses_terms_with_the_same_noise(
    numpy_reference,
):
    """-log w = reconstruction + log q(z|x) - log p(z), with the z of the same noise."""
    vae = VAE(latent_dim=3, encoder_units=(16,), seed=0)
    x = images(6)
    noise = rng.normal_rows(rng.stream_key(0, 9), 0, 6, 3)  # (6, 3)
    losses = vae.per_example_losses(x, noise=noise)
    log_w = vae.log_weights(x, noise[None]).numpy()[0].astype(np.float64)  # (6,)
    expected = numpy_reference["negative_log_weight"](
        *vae.encode(x), noise, losses["reconstruction_loss"]
    )
    np.testing.assert_allclose(-log_w, expected, rtol=1e-5, atol=1e-3)


def test_the_importance_weighted_bound_is_stable_far_from_zero():
    from vaebook.losses import importance_weighted_bound

    offsets = np.random.default_rng(0).normal(size=(50, 4))
    for centre in (-2.0, -1000.0, -1e5):
        log_w = (centre + offsets).astype(np.float32)  # what the model would produce
        exact = log_w.astype(np.float64)
        top = exact.max(axis=0)
        expected = top + np.log(np.mean(np.exp(exact - top), axis=0))
        got = importance_weighted_bound(tf.constant(log_w)).numpy()
        assert np.all(np.isfinite(got))
        # A naive log(mean(exp(log_w))) underflows to -inf from about -104 on.
        tolerance = 4 * np.finfo(np.float32).eps * abs(centre) + 1e-6
        np.testing.assert_allclose(got, expected, rtol=0, atol=tolerance)


def test_noise_of_the_wrong_shape_is_named():
    vae = VAE(latent_dim=3, encoder_units=(8,), seed=0)
    with pytest.raises(ValueError, match=r"noise must have shape \(batch, 3\)"):
        vae.per_example_losses(images(2), noise=np.zeros((2, 4), np.float32))
    # Every model that takes noise names the shape it needs, rows included.
    denoiser = DenoisingAutoencoder(latent_dim=2, encoder_units=(8,), seed=0)
    with pytest.raises(ValueError, match=r"\(batch, 784\) for DenoisingAutoencoder.*batch of 2"):
        denoiser.per_example_losses(images(2), noise=np.zeros((3, 784), np.float32))
    semi = SemiSupervisedVAE(num_classes=3, latent_dim=2, encoder_units=(8,), seed=0)
    with pytest.raises(ValueError, match=r"\(batch, 6\) for SemiSupervisedVAE"):
        semi.per_example_losses(images(2), labels=[0, -1], noise=np.zeros((2, 5), np.float32))


def test_normal_rows_are_standard_normal_and_row_indexed():
    key = rng.stream_key(0, 8)
    all_rows = np.asarray(rng.normal_rows(key, 0, 2000, 50))
    assert abs(all_rows.mean()) < 0.01 and abs(all_rows.std() - 1) < 0.01
    assert np.all(np.isfinite(all_rows)) and np.abs(all_rows).max() < 8.5
    np.testing.assert_array_equal(np.asarray(rng.normal_rows(key, 17, 3, 50)), all_rows[17:20])
    again = np.asarray(rng.normal_rows(key, 0, 2000, 50))
    assert hashlib.sha256(again.tobytes()).digest() == hashlib.sha256(all_rows.tobytes()).digest()


def _sharpen_posterior(vae, log_var):
    """Sets the encoder's log-variances to ``log_var`` for every image."""
    last = vae.encoder.layers[-1]  # Dense(2 * latent_dim): means, then log-variances
    kernel, bias = last.get_weights()
    kernel[:, vae.latent_dim :] = 0.0
    bias[vae.latent_dim :] = log_var
    last.set_weights([kernel, bias])


def test_log_weights_stay_finite_for_a_posterior_sharper_than_float32():
    """A log-variance of -130 underflows exp(log_var) to 0 in float32; z rounds to z_mean.

    Recomputing (z - z_mean)^2 / sigma^2 then gave 0 / 0: the NaN that a continuous-
    Bernoulli VAE trained on Fashion-MNIST met in 987 of the 10,000 test images.
    """
    vae = VAE(latent_dim=3, encoder_units=(16,), seed=0)
    x = images(6)
    vae(x)  # builds the layers
    _sharpen_posterior(vae, -130.0)
    noise = rng.normal_rows(rng.stream_key(0, 9), 0, 6, 3)  # (6, 3)
    losses = vae.per_example_losses(x, noise=noise)
    log_w = vae.log_weights(x, noise[None]).numpy()[0].astype(np.float64)  # (6,)
    assert np.all(np.isfinite(log_w))
    # Even float64 rounds z to z_mean here, so the reference takes log q(z | x) from
    # the noise: -log w = reconstruction + log q(z | x) - log p(z).
    z_mean, z_log_var = (np.asarray(t, np.float64) for t in vae.encode(x))
    eps = np.asarray(noise, np.float64)
    log_q = -0.5 * np.sum(np.log(2 * np.pi) + z_log_var + eps**2, axis=1)
    log_p = -0.5 * np.sum(np.log(2 * np.pi) + z_mean**2, axis=1)
    expected = np.asarray(losses["reconstruction_loss"], np.float64) + log_q - log_p
    np.testing.assert_allclose(-log_w, expected, rtol=1e-5)
    bounds = evaluate.vae_bounds(vae, x, num_samples=8)
    assert np.isfinite(bounds["nll"]) and np.isfinite(bounds["negative_elbo"])


def test_a_gaussian_density_with_an_underflowing_variance_is_finite():
    from vaebook.losses import gaussian_log_density

    z = tf.constant([[0.5, -1.0]])
    got = gaussian_log_density(z, z, tf.constant([[-130.0, -200.0]])).numpy()
    np.testing.assert_allclose(got, [-np.log(2 * np.pi) + 165.0], rtol=1e-6)


def _poison_decoder(vae):
    """Makes the decoder's output NaN for every image (a stand-in for an overflow)."""
    last = [layer for layer in vae.decoder.layers if layer.get_weights()][-1]
    kernel, bias = last.get_weights()
    bias[:] = np.nan
    last.set_weights([kernel, bias])


def test_bounds_and_losses_refuse_nan_by_name_instead_of_averaging_it():
    vae = VAE(latent_dim=3, encoder_units=(16,), seed=0)
    x = images(5)
    vae(x)  # builds the layers
    _poison_decoder(vae)
    with pytest.raises(
        FloatingPointError,
        match=r"vae_bounds: the negative ELBO is NaN or infinite for 5 of 5 examples "
        r"\(the first at index 0\)",
    ):
        evaluate.vae_bounds(vae, x, num_samples=4)
    with pytest.raises(
        FloatingPointError,
        match=r"losses_per_example: the \w+ is NaN or infinite for 3 of 3 examples "
        r"\(the first at index 0\)",
    ):
        evaluate.evaluate_losses(vae, x, batch_size=3)
