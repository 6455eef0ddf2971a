"""Convolutional autoencoder and VAE, and the conditional VAE ."""

import numpy as np
import pytest
import tensorflow as tf

from vaebook import evaluate, rng, runtime, train
from vaebook.models import (
    VAE,
    Autoencoder,
    ConditionalVAE,
    ConvAutoencoder,
    ConvVAE,
    load_model,
)
from vaebook.models.conv import conv_decoder, conv_encoder


def tiny_images(n=64, seed=0):
    """Smooth random blobs in [0, 1], shape (n, 8, 8): learnable structure, small."""
    rng = np.random.default_rng(seed)
    grid = np.linspace(-1, 1, 8)
    yy, xx = np.meshgrid(grid, grid, indexing="ij")
    centres = rng.uniform(-0.5, 0.5, size=(n, 2))
    images = np.exp(-((yy - centres[:, :1, None]) ** 2 + (xx - centres[:, 1:, None]) ** 2) * 4)
    return images.astype(np.float32)


def numpy_conv_stride2_same(image, kernel, bias):
    """A 'same'-padded stride-2 convolution written with loops: the reference."""
    height, width, _ = image.shape
    size, _, _, channels = kernel.shape
    out_h, out_w = -(-height // 2), -(-width // 2)
    # TensorFlow's 'same' padding: total padding max(size - stride, 0) (for even sides),
    # split with the smaller half before.
    pad_total = max((out_h - 1) * 2 + size - height, 0)
    before = pad_total // 2
    padded = np.pad(image, ((before, pad_total - before), (before, pad_total - before), (0, 0)))
    out = np.zeros((out_h, out_w, channels))
    for i in range(out_h):
        for j in range(out_w):
            patch = padded[2 * i : 2 * i + size, 2 * j : 2 * j + size, :]  # (size, size, c_in)
            out[i, j] = np.tensordot(patch, kernel, axes=([0, 1, 2], [0, 1, 2])) + bias
    return out


def test_first_convolution_matches_a_loop_written_by_hand():
    model = ConvAutoencoder(latent_dim=3, filters=(4, 6), image_shape=(8, 8))
    x = tiny_images(2)
    first = model.encoder.get_layer("conv_0")
    kernel, bias = (w.numpy().astype(np.float64) for w in first.weights)
    to_channels = model.encoder.get_layer("add_channels")
    got = first.activation(first.convolution_op(to_channels(x), first.kernel) + first.bias)
    for index in range(2):
        expected = np.maximum(numpy_conv_stride2_same(x[index, :, :, None], kernel, bias), 0)
        np.testing.assert_allclose(got[index], expected, rtol=1e-5, atol=1e-6)


def test_shapes_and_parameter_counts_follow_the_architecture():
    encoder = conv_encoder((28, 28), (32, 64), 3, "relu", 40)
    decoder = conv_decoder(20, (28, 28), (64, 32), 3, "relu")
    assert encoder.output_shape == (None, 40)
    assert decoder.output_shape == (None, 28, 28)
    conv = (3 * 3 * 1 + 1) * 32 + (3 * 3 * 32 + 1) * 64
    assert encoder.count_params() == conv + (7 * 7 * 64 + 1) * 40
    deconv = (3 * 3 * 64 + 1) * 64 + (3 * 3 * 64 + 1) * 32 + (3 * 3 * 32 + 1) * 1
    assert decoder.count_params() == (20 + 1) * 7 * 7 * 64 + deconv
    model = ConvVAE(latent_dim=20)
    assert model.count_params() == encoder.count_params() + decoder.count_params()


@pytest.mark.parametrize("cls", [ConvAutoencoder, ConvVAE])
def test_same_interface_as_the_dense_models(cls):
    model = cls(latent_dim=3, filters=(4, 8), image_shape=(8, 8), **_seed(cls))
    x = tiny_images(5)
    losses = model.per_example_losses(x)
    assert all(value.shape == (5,) for value in losses.values())
    assert model.reconstruct(x).shape == (5, 8, 8)
    dense = Autoencoder if cls is ConvAutoencoder else VAE
    assert set(losses) == set(dense(latent_dim=3, image_shape=(8, 8)).per_example_losses(x))


def _seed(cls):
    return {"seed": 0} if cls is not ConvAutoencoder else {}


def test_conv_vae_loss_against_numpy():
    train.set_seed(0)  # The same weights whatever ran before.
    model = ConvVAE(latent_dim=3, filters=(4, 8), image_shape=(8, 8), seed=1)
    x = tiny_images(4)
    z_mean, z_log_var = (t.numpy().astype(np.float64) for t in model.encode(x))
    kl = 0.5 * np.sum(np.exp(z_log_var) + z_mean**2 - 1 - z_log_var, axis=1)
    losses = model.per_example_losses(x)
    # float32 sums of terms near 1 cancel: an absolute floor of 1e-6 nats.
    np.testing.assert_allclose(losses["kl_loss"], kl, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(losses["loss"], losses["reconstruction_loss"] + losses["kl_loss"])
    # The reconstruction term is the summed cross-entropy of the decoder's logits.
    logits = model.decode(z_mean).numpy().astype(np.float64)
    bce = np.sum(np.logaddexp(0, logits) - x * logits, axis=(1, 2))
    at_mean = -model.log_likelihood(x, model.decode(z_mean)).numpy()
    np.testing.assert_allclose(at_mean, bce, rtol=1e-5)


@pytest.mark.parametrize("cls", [ConvAutoencoder, ConvVAE])
def test_training_on_tiny_data_lowers_the_loss(cls):
    train.set_seed(0)
    model = cls(latent_dim=4, filters=(8, 16), image_shape=(8, 8), **_seed(cls))
    x = tiny_images(128)
    before = evaluate.evaluate_losses(model, x)["loss"]
    history = train.train(model, x, epochs=15, batch_size=32, learning_rate=3e-3, verbose=0)
    after = evaluate.evaluate_losses(model, x)["loss"]
    assert after < 0.8 * before, (before, after)
    assert history.history["loss"][-1] < history.history["loss"][0]


@pytest.mark.parametrize(
    "make",
    [
        lambda: ConvAutoencoder(latent_dim=3, filters=(4, 8), image_shape=(8, 8)),
        lambda: ConvVAE(latent_dim=3, filters=(4,), kernel_size=5, image_shape=(8, 8), seed=2),
        lambda: ConditionalVAE(latent_dim=3, num_classes=4, filters=(4, 8), image_shape=(8, 8)),
    ],
)
def test_keras_file_round_trip_and_config(make, tmp_path):
    model = make()
    x = tiny_images(3)
    kwargs = {"labels": [0, 3, 1]} if getattr(model, "conditional", False) else {}
    expected = model.reconstruct(x, **kwargs).numpy()
    path = tmp_path / "model.keras"
    model.save(path)
    from vaebook.models import load_model

    loaded = load_model(path)
    assert type(loaded) is type(model)
    np.testing.assert_allclose(loaded.reconstruct(x, **kwargs), expected, rtol=1e-6)
    clone = type(model).from_config(model.get_config())
    assert clone.get_config() == model.get_config()
    assert "encoder_units" not in model.get_config()


def test_bad_architectures_are_refused_by_name():
    with pytest.raises(ValueError, match=r"divisible by 4"):
        ConvVAE(filters=(8, 16), image_shape=(30, 30))
    with pytest.raises(TypeError, match=r"not \['encoder_units'\]"):
        ConvVAE(encoder_units=(64,))
    with pytest.raises(ValueError, match="filters must name at least one"):
        ConvAutoencoder(filters=())
    with pytest.raises(ValueError, match="kernel_size must be a positive integer"):
        ConvAutoencoder(kernel_size=0)
    with pytest.raises(ValueError, match=r"\(height, width\)"):
        ConvAutoencoder(image_shape=(784,))


def test_xla_is_chosen_per_model_and_device():
    on_gpu = bool(tf.config.list_physical_devices("GPU"))
    assert runtime.use_xla(ConvVAE(latent_dim=2)) is on_gpu
    assert runtime.use_xla(VAE(latent_dim=2)) is True
    assert runtime.use_xla(ConvVAE(latent_dim=2), requested=True) is True
    assert runtime.use_xla(VAE(latent_dim=2), requested=False) is False


# --- The conditional VAE ----------------------------------------------------------------


def small_cvae(**kwargs):
    return ConditionalVAE(
        latent_dim=2, num_classes=3, filters=(4, 8), image_shape=(8, 8), seed=0, **kwargs
    )


def test_the_label_changes_what_the_decoder_draws():
    model = small_cvae()
    z = np.zeros((3, 2), np.float32)
    images = model.generate_from(z, [0, 1, 2]).numpy()
    assert not np.allclose(images[0], images[1]) and not np.allclose(images[1], images[2])
    assert model.generate([2, 2, 0, 1]).shape == (4, 8, 8)
    # Same seed, same draws.
    np.testing.assert_array_equal(model.generate([1, 2], seed=5), model.generate([1, 2], seed=5))


@pytest.mark.parametrize(
    ("labels", "message"),
    [
        ([0, 3], r"must lie in \[0, 3\); got values from 0 to 3"),
        ([-1, 0], r"must lie in \[0, 3\)"),
        ([0.0, 1.0], "integer array; got shape"),
        ([[0, 1]], "1-D integer array"),
        ([], "non-empty"),
    ],
)
def test_bad_labels_are_refused_with_the_problem_named(labels, message):
    with pytest.raises(ValueError, match=message):
        small_cvae().generate(labels)


def test_a_label_count_that_does_not_match_the_batch_is_named():
    model = small_cvae()
    with pytest.raises(ValueError, match="labels has 2 entries for 3 codes; need one each"):
        model.generate_from(np.zeros((3, 2), np.float32), [0, 1])
    with pytest.raises(ValueError, match="labels has 4 entries for 3 images; need one each"):
        model.reconstruct(tiny_images(3), labels=[0, 1, 2, 0])


def test_labels_must_come_exactly_with_conditional_models():
    x = tiny_images(6)
    labels = np.array([0, 1, 2, 0, 1, 2])
    with pytest.raises(ValueError, match="ConditionalVAE is conditional: pass .* y_train="):
        train.train(small_cvae(), x, epochs=1, verbose=0)
    with pytest.raises(ValueError, match="VAE takes no labels; y_train is only for"):
        train.train(VAE(latent_dim=2, image_shape=(8, 8)), x, y_train=labels, epochs=1)
    with pytest.raises(ValueError, match="y_train has 5 entries for 6 images"):
        train.train(small_cvae(), x, y_train=labels[:5], epochs=1, verbose=0)
    with pytest.raises(ValueError, match="is conditional: pass the images' labels as labels="):
        evaluate.evaluate_losses(small_cvae(), x)
    with pytest.raises(ValueError, match="needs the images' labels"):
        small_cvae().per_example_losses(x)
    with pytest.raises(ValueError, match="supports only num_samples=1"):
        small_cvae(num_samples=5)


def test_conditional_evaluation_uses_each_images_own_label():
    model = small_cvae()
    x = tiny_images(10)
    labels = np.arange(10) % 3
    got = evaluate.evaluate_losses(model, x, batch_size=4, labels=labels)
    # Reference: one image at a time, eagerly.
    kl = [
        float(model.per_example_losses(x[i : i + 1], labels=labels[i : i + 1])["kl_loss"][0])
        for i in range(10)
    ]
    np.testing.assert_allclose(got["kl_loss"], np.mean(kl), rtol=1e-5)
    other = evaluate.evaluate_losses(model, x, labels=(labels + 1) % 3)
    assert other["kl_loss"] != pytest.approx(got["kl_loss"])


def test_conditional_bounds_order_and_label_blocks(numpy_reference):
    model = small_cvae()
    x = tiny_images(8)
    labels = np.arange(8) % 3
    bounds = evaluate.vae_bounds(model, x, num_samples=64, batch_size=3, labels=labels)
    assert bounds["nll"] <= bounds["negative_elbo"]
    # With the same noise, each image's log-weight splits exactly into the loss's
    # reconstruction term and log q(z | x, y) - log p(z), written out here (a check at
    # 2 % of the -ELBO could not see a KL of 0.07 nats go wrong).
    noise = rng.normal((8, 2), 5)  # (batch, latent_dim)
    losses = model.per_example_losses(x, labels=labels, noise=noise)
    log_w = model.log_weights(x, noise[None], labels=labels).numpy()[0].astype(np.float64)
    expected = numpy_reference["negative_log_weight"](
        *model.encode(x, labels), noise, losses["reconstruction_loss"]
    )
    np.testing.assert_allclose(-log_w, expected, rtol=1e-5, atol=1e-4)


def test_conditional_training_lowers_the_loss_and_blocks_do_not_change_it():
    x = tiny_images(96)
    labels = (np.arange(96) % 3).astype(np.int64)
    runs = []
    for steps_per_call in (1, 4):
        train.set_seed(0)
        model = small_cvae()
        history = train.train(
            model,
            x,
            y_train=labels,
            x_val=x[:12],
            y_val=labels[:12],
            epochs=8,
            batch_size=16,
            learning_rate=3e-3,
            verbose=0,
            steps_per_call=steps_per_call,
        )
        runs.append(history.history)
    assert runs[0]["loss"][-1] < 0.8 * runs[0]["loss"][0]
    np.testing.assert_allclose(runs[0]["loss"], runs[1]["loss"], rtol=1e-5)
    assert "val_loss" in runs[0]


@pytest.mark.parametrize("upsampling", ["transposed", "resize"])
def test_decoder_upsampling_and_the_checkerboard(upsampling):
    # Every weight 1 and every bias 0, after a dense layer that outputs a constant
    # grid: what reaches each output pixel is then just how many kernel taps cover it.
    decoder = conv_decoder(2, (28, 28), (4, 2), 3, "relu", upsampling=upsampling)
    for layer in decoder.layers:
        weights = layer.get_weights()
        if not weights:
            continue
        kernel, bias = weights
        if layer.name == "dense":
            layer.set_weights([np.zeros_like(kernel), np.ones_like(bias)])
        else:
            layer.set_weights([np.ones_like(kernel), np.zeros_like(bias)])
    kinds = {type(layer).__name__ for layer in decoder.layers}
    assert ("Conv2DTranspose" in kinds) == (upsampling == "transposed")
    image = decoder(np.zeros((1, 2), np.float32)).numpy()[0]  # (28, 28)
    interior = image[4:-4, 4:-4]
    if upsampling == "transposed":
        # Uneven overlap of stride-2 kernels: neighbouring pixels differ, in a
        # pattern that repeats every 2 ** 2 pixels after two of them (the
        # checkerboard).
        assert interior.std() > 0.1 * interior.mean()
        np.testing.assert_allclose(interior[:-4, :-4], interior[4:, 4:], rtol=1e-5)
    else:
        # Resize, then convolve: every interior pixel is covered alike.
        np.testing.assert_allclose(interior, interior.mean(), rtol=1e-5)


def test_resize_upsampling_round_trips_and_bad_names_are_refused(tmp_path):
    model = ConvVAE(latent_dim=2, filters=(4, 8), upsampling="resize", seed=0)
    x = np.random.default_rng(0).random((3, 28, 28)).astype(np.float32)
    path = tmp_path / "resize.keras"
    model.save(path)
    loaded = load_model(path, expected=ConvVAE)
    assert loaded.get_config()["upsampling"] == "resize"
    np.testing.assert_array_equal(model.reconstruct(x), loaded.reconstruct(x))
    with pytest.raises(ValueError, match="upsampling"):
        ConvVAE(latent_dim=2, upsampling="bilinear")
