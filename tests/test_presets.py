"""The presets that chapters and benchmarks share say what their comparisons assume."""

from __future__ import annotations

import pytest

from vaebook import presets


def test_m1_autoencoder_matches_the_m1_vae_but_for_the_noise_and_kl():
    vae, autoencoder = presets.MNIST_M1_VAE, presets.MNIST_M1_AUTOENCODER
    assert vae.dataset == autoencoder.dataset == "mnist"
    for field in ("epochs", "batch_size", "learning_rate", "seed", "binarize"):
        assert getattr(vae, field) == getattr(autoencoder, field), field
    for arg in ("latent_dim", "encoder_units", "activation"):
        assert vae.model_args[arg] == autoencoder.model_args[arg], arg
    built_vae, built_autoencoder = vae.build(), autoencoder.build()
    # The same layers; the VAE's encoder ends in twice as many outputs (mean, log-variance).
    extra = 600 * 50 + 50
    assert built_vae.count_params() == built_autoencoder.count_params() + extra


def test_continuous_conv_vae_changes_only_the_likelihood():
    base, variant = presets.FASHION_CONV_VAE, presets.FASHION_CONV_VAE_CONTINUOUS
    assert variant.model_args["likelihood"] == "continuous_bernoulli"
    assert {k: v for k, v in variant.model_args.items() if k != "likelihood"} == dict(
        base.model_args
    )
    for field in ("epochs", "batch_size", "learning_rate", "seed", "model", "dataset"):
        assert getattr(variant, field) == getattr(base, field), field


def test_fit_refuses_to_change_fixed_settings():
    with pytest.raises(ValueError, match="fixed by the preset"):
        presets.MNIST_M1_VAE.fit(None, batch_size=10)


def test_kingma_m1_is_chapter_8s_m1_binarised_and_trained_longer():
    base, kingma = presets.MNIST_M1_VAE, presets.KINGMA_M1_VAE
    assert kingma.binarize and not base.binarize
    assert kingma.epochs > base.epochs
    assert dict(kingma.model_args) == dict(base.model_args)
    for field in ("batch_size", "learning_rate", "seed", "model", "dataset"):
        assert getattr(kingma, field) == getattr(base, field), field
    assert f"{kingma.epochs} epochs" in kingma.description


def test_an_experiment_reads_as_its_settings():
    shown = repr(presets.KINGMA_M1_VAE)
    assert "mappingproxy" not in shown
    for part in (
        "'kingma_m1_vae'",
        "VAE(latent_dim=50",
        "activation='softplus'",
        "mnist, binarised in every batch",
        "100 epochs",
        "batches of 100",
        "Adam 0.001",
        "seed 0",
    ):
        assert part in shown, (part, shown)
