import numpy as np
import pytest

from vaebook.models import (
    VAE,
    AdversarialAutoencoder,
    Autoencoder,
    DenoisingAutoencoder,
    SparseAutoencoder,
    load_model,
)


@pytest.mark.parametrize(
    "model",
    [
        Autoencoder(latent_dim=3, encoder_units=(16,)),
        VAE(latent_dim=2, encoder_units=(16,), likelihood="gaussian", seed=1),
        Autoencoder(latent_dim=3, encoder_units=(16,), dropout=0.3),
        DenoisingAutoencoder(noise="masking", noise_level=0.4, seed=2, latent_dim=3),
        SparseAutoencoder(latent_dim=40, penalty="l1", sparsity_weight=0.1),
        AdversarialAutoencoder(latent_dim=2, encoder_units=(16,), discriminator_units=(8,)),
    ],
)
def test_every_model_round_trips_with_identical_outputs(model, tmp_path):
    x = np.random.default_rng(0).random((4, 28, 28)).astype(np.float32)
    path = tmp_path / "model.keras"
    model.save(path)
    loaded = load_model(path, expected=type(model))
    assert type(loaded) is type(model)
    assert loaded.get_config() == model.get_config()
    np.testing.assert_array_equal(model.reconstruct(x), loaded.reconstruct(x))


def test_a_file_of_another_model_is_named(tmp_path):
    path = tmp_path / "ae.keras"
    Autoencoder(latent_dim=2, encoder_units=(8,)).save(path)
    with pytest.raises(ValueError, match="holds a Autoencoder, not a VAE"):
        load_model(path, expected=VAE)


def test_corrupt_and_missing_files_are_reported(tmp_path):
    corrupt = tmp_path / "broken.keras"
    corrupt.write_bytes(b"not a zip archive")
    with pytest.raises(ValueError, match="not a .keras file"):
        load_model(corrupt)
    good = tmp_path / "good.keras"
    Autoencoder(latent_dim=2, encoder_units=(8,)).save(good)
    truncated = tmp_path / "truncated.keras"
    truncated.write_bytes(good.read_bytes()[:200])
    with pytest.raises(ValueError):
        load_model(truncated)
    with pytest.raises(FileNotFoundError, match="No saved model"):
        load_model(tmp_path / "absent.keras")
