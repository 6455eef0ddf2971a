import keras
import numpy as np
import pytest
import tensorflow as tf

from vaebook.models import Autoencoder


def test_default_model_is_the_source_notebook_network():
    model = Autoencoder()
    assert model.count_params() == 487_588  # As printed by the source notebook.
    widths = [layer.units for layer in model.encoder.layers if hasattr(layer, "units")]
    assert widths == [256, 128, 64, 20]
    widths = [layer.units for layer in model.decoder.layers if hasattr(layer, "units")]
    assert widths == [64, 128, 256, 784]


def test_shapes_and_reconstruction_range():
    model = Autoencoder(latent_dim=3, encoder_units=(16,))
    x = np.random.default_rng(0).random((5, 28, 28)).astype(np.float32)
    assert model.encode(x).shape == (5, 3)
    assert model(x).shape == (5, 28, 28)
    reconstruction = model.reconstruct(x).numpy()
    assert reconstruction.min() >= 0 and reconstruction.max() <= 1
    losses = model.per_example_losses(x)
    assert losses["loss"].shape == (5,)


@pytest.mark.parametrize("reconstruction", ["bernoulli", "squared_error"])
@pytest.mark.parametrize("activation", ["relu", "tanh"])
def test_forward_pass_and_losses_match_numpy(reconstruction, activation, numpy_reference):
    model = Autoencoder(
        latent_dim=3,
        encoder_units=(16, 8),
        activation=activation,
        reconstruction=reconstruction,
    )
    x = np.random.default_rng(0).random((5, 28, 28)).astype(np.float32)
    codes = numpy_reference["forward"](model.encoder, x)  # (5, 3), float64
    logits = numpy_reference["forward"](model.decoder, codes)  # (5, 28, 28)
    np.testing.assert_allclose(model.encode(x), codes, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(model(x), logits, rtol=1e-4, atol=1e-5)
    pixels = 1 / (1 + np.exp(-logits))
    np.testing.assert_allclose(model.reconstruct(x), pixels, rtol=1e-5, atol=1e-6)
    if reconstruction == "bernoulli":
        expected = numpy_reference["cross_entropy"](x, logits)
    else:
        expected = ((x - pixels) ** 2).sum(axis=(1, 2))
    losses = model.per_example_losses(x)
    np.testing.assert_allclose(losses["loss"], expected, rtol=1e-5)
    np.testing.assert_array_equal(losses["loss"], losses["reconstruction_loss"])


def test_config_round_trip_and_save_load(tmp_path):
    model = Autoencoder(latent_dim=4, encoder_units=(32, 8), reconstruction="squared_error")
    clone = Autoencoder.from_config(model.get_config())
    assert clone.get_config() == model.get_config()
    x = np.random.default_rng(1).random((3, 28, 28)).astype(np.float32)
    path = tmp_path / "ae.keras"
    model.save(path)
    loaded = keras.saving.load_model(path)
    assert isinstance(loaded, Autoencoder)
    assert loaded.reconstruction == "squared_error"
    np.testing.assert_array_equal(model(x).numpy(), loaded(x).numpy())


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"latent_dim": 0}, "latent_dim must be a positive integer"),
        ({"latent_dim": 2.5}, "latent_dim must be a positive integer"),
        ({"encoder_units": (16, -1)}, "encoder_units"),
        ({"encoder_units": "256"}, "sequence of positive integers"),
        ({"reconstruction": "mse"}, "reconstruction must be one of"),
    ],
)
def test_bad_hyperparameters_are_rejected(kwargs, message):
    with pytest.raises(ValueError, match=message):
        Autoencoder(**kwargs)


@pytest.mark.parametrize(
    ("x", "message"),
    [
        (np.zeros((2, 784), np.float32), r"shape \(2, 784\); expected \(batch, 28, 28\)"),
        (np.zeros((2, 28, 28), np.uint8), "dtype uint8"),
        (np.full((2, 28, 28), np.nan, np.float32), "NaN"),
    ],
)
def test_bad_input_is_rejected_with_a_clear_message(x, message):
    model = Autoencoder(latent_dim=2, encoder_units=(8,))
    with pytest.raises(ValueError, match=message):
        model(x)


def test_decode_checks_code_shape():
    model = Autoencoder(latent_dim=2, encoder_units=(8,))
    with pytest.raises(ValueError, match=r"expected \(batch, 2\)"):
        model.decode(tf.zeros((1, 3)))
