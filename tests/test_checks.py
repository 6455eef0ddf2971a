"""Bad inputs are refused at the public entry points, each with a message that names it.

Every case calls the function a reader calls (``evaluate_losses``, ``train``, ``VAE``,
``vae_bounds``, ...), never :mod:`vaebook.checks` directly, so that a public function
that forgets its check fails here. Accepted inputs (float64 images, NumPy integers) are
checked to give the same result as their plain counterparts.
"""

import re

import matplotlib
import numpy as np
import pytest

from vaebook import data, evaluate, plots, train
from vaebook.models import VAE, Autoencoder
from vaebook.pca import PCA

matplotlib.use("Agg")

NOT_FLOAT = re.escape("expected floats in [0, 1] (divide uint8 pixels by 255)")
OUT_OF_RANGE = re.escape("expected values in [0, 1]")
NOT_FINITE = "contains NaN or infinite values"


def images(n=12, seed=0):
    return np.random.default_rng(seed).random((n, 28, 28), dtype=np.float32)


def with_nan(x):
    x = x.copy()
    x[1, 3, 4] = np.nan
    return x


def as_uint8(x):
    return np.round(x * 255).astype(np.uint8)


@pytest.fixture(scope="module")
def autoencoder():
    return Autoencoder(latent_dim=2, encoder_units=(8,))


@pytest.fixture(scope="module")
def vae():
    return VAE(latent_dim=2, encoder_units=(8,), seed=0)


# --- evaluate_losses -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("make_x", "kwargs", "message"),
    [
        (lambda: with_nan(images()), {}, "x " + NOT_FINITE),
        (lambda: images() * 255, {}, r"x has values in \[0.\d+, 25\d.\d+\]; " + OUT_OF_RANGE),
        (lambda: as_uint8(images()), {}, "x has dtype uint8; " + NOT_FLOAT),
        (images, {"batch_size": 0}, "batch_size must be a positive integer; got 0"),
        (
            lambda: images()[:, :27],
            {},
            re.escape("x has shape (12, 27, 28); expected (batch, 28, 28)"),
        ),
        (
            lambda: images().reshape(12, 784),
            {},
            re.escape("x has shape (12, 784); expected (batch, 28, 28)"),
        ),
        (lambda: images()[:0], {}, re.escape("x is empty (shape (0, 28, 28))")),
    ],
    ids=["nan", "0-255", "uint8", "batch_size-0", "wrong-shape", "flat", "empty"],
)
def test_evaluate_losses_refuses(autoencoder, make_x, kwargs, message):
    with pytest.raises(ValueError, match=message):
        evaluate.evaluate_losses(autoencoder, make_x(), **kwargs)


def test_evaluate_losses_accepts_float64_with_the_float32_result(autoencoder):
    x = images(40)
    single = evaluate.evaluate_losses(autoencoder, x)
    double = evaluate.evaluate_losses(autoencoder, x.astype(np.float64))
    assert single.keys() == double.keys()
    for name in single:
        assert double[name] == pytest.approx(single[name], rel=1e-6)


def test_evaluate_losses_refuses_a_model_without_per_example_losses():
    with pytest.raises(TypeError, match="needs a per_example_losses"):
        evaluate.evaluate_losses(PCA(2), images())


# --- model hyperparameters -------------------------------------------------------------


def test_vae_accepts_a_numpy_integer_latent_dim_and_saves_a_plain_int():
    model = VAE(latent_dim=np.int64(8), encoder_units=(8,))
    assert model.latent_dim == 8
    config = model.get_config()
    assert config["latent_dim"] == 8 and type(config["latent_dim"]) is int
    clone = VAE.from_config(config)
    assert type(clone.latent_dim) is int and clone.latent_dim == 8


@pytest.mark.parametrize("latent_dim", [2.5, 0, True, "8"])
def test_vae_refuses_a_latent_dim_that_is_not_a_positive_integer(latent_dim):
    with pytest.raises(
        ValueError, match=f"latent_dim must be a positive integer; got {latent_dim!r}"
    ):
        VAE(latent_dim=latent_dim, encoder_units=(8,))


# --- train -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"epochs": 1.9}, "epochs must be a positive integer; got 1.9"),
        ({"epochs": 0}, "epochs must be a positive integer; got 0"),
        ({"batch_size": 0}, "batch_size must be a positive integer; got 0"),
        ({"learning_rate": 0}, "learning_rate must be a finite number > 0; got 0"),
        ({"learning_rate": float("nan")}, "learning_rate must be a finite number > 0; got nan"),
        ({"seed": -1}, "seed must be an integer >= 0; got -1"),
        ({"x_val": images()[:, :27]}, re.escape("x_val has shape (12, 27, 28)")),
        ({"x_val": with_nan(images())}, "x_val " + NOT_FINITE),
    ],
    ids=[
        "epochs-1.9",
        "epochs-0",
        "batch_size-0",
        "lr-0",
        "lr-nan",
        "seed-minus-1",
        "x_val-shape",
        "x_val-nan",
    ],
)
def test_train_refuses_bad_arguments(autoencoder, kwargs, message):
    kwargs = {"epochs": 1, "verbose": 0} | kwargs
    with pytest.raises(ValueError, match=message):
        train.train(autoencoder, images(), **kwargs)


@pytest.mark.parametrize(
    ("make_x", "message"),
    [
        (lambda: with_nan(images()), "x_train " + NOT_FINITE),
        (lambda: images() * 2, r"x_train has values in \[[\d.e-]+, 1.9\d*\]; " + OUT_OF_RANGE),
        (lambda: as_uint8(images()), "x_train has dtype uint8; " + NOT_FLOAT),
    ],
    ids=["nan", "above-1", "uint8"],
)
def test_train_refuses_bad_training_images(autoencoder, make_x, message):
    with pytest.raises(ValueError, match=message):
        train.train(autoencoder, make_x(), epochs=1, verbose=0)


def test_train_accepts_numpy_batch_size_and_float64_images():
    x = images(20)
    runs = []
    for x_train, batch_size in ((x, 8), (x.astype(np.float64), np.int64(8))):
        model = Autoencoder(latent_dim=2, encoder_units=(8,))
        model.set_weights([np.full(w.shape, 0.01, np.float32) for w in model.get_weights()])
        history = train.train(model, x_train, epochs=1, batch_size=batch_size, verbose=0)
        runs.append(history.history["loss"][0])
    # Same weights, same seed, same data up to the cast: the same run.
    assert runs[1] == pytest.approx(runs[0], rel=1e-6)


# --- vae_bounds ------------------------------------------------------------------------


def test_vae_bounds_refuses_a_fractional_sample_count(vae):
    with pytest.raises(ValueError, match="num_samples must be a positive integer; got 2.5"):
        evaluate.vae_bounds(vae, images(), num_samples=2.5)


def test_vae_bounds_refuses_a_model_that_is_not_a_vae(autoencoder):
    with pytest.raises(TypeError, match="vae_bounds needs a VAE .* got Autoencoder"):
        evaluate.vae_bounds(autoencoder, images())


def test_vae_bounds_refuses_batch_size_zero(vae):
    with pytest.raises(ValueError, match="batch_size must be a positive integer; got 0"):
        evaluate.vae_bounds(vae, images(), batch_size=0)


# --- the other image metrics -----------------------------------------------------------

BAD_IMAGES = {
    "nan": (with_nan, NOT_FINITE),
    "above-1": (lambda x: x * 2, r"has values in \[[\d.e-]+, 1.9\d*\]; " + OUT_OF_RANGE),
    "below-0": (lambda x: x - 1, r"has values in \[-0.9\d*, -[\d.e-]+\]; " + OUT_OF_RANGE),
    "uint8": (as_uint8, "has dtype uint8; " + NOT_FLOAT),
    "int64": (lambda x: as_uint8(x).astype(np.int64), "has dtype int64; " + NOT_FLOAT),
}

# Each entry point, called with images x: (function, the argument's name in messages).
IMAGE_ENTRY_POINTS = {
    "reconstruction_metrics": (
        lambda models, x: evaluate.reconstruction_metrics(models["autoencoder"], x),
        "x",
    ),
    "active_units": (lambda models, x: evaluate.active_units(models["vae"], x), "x"),
    "sparsity_statistics": (
        lambda models, x: evaluate.sparsity_statistics(models["autoencoder"], x),
        "x",
    ),
    "mean_image_error-x_train": (
        lambda models, x: evaluate.mean_image_error(x, images()),
        "x_train",
    ),
    "mean_image_error-x_test": (
        lambda models, x: evaluate.mean_image_error(images(), x),
        "x_test",
    ),
    "PCA.fit": (lambda models, x: PCA(2).fit(x).components, "x"),
    "binarize": (lambda models, x: data.binarize(x, seed=0), "images"),
}


@pytest.fixture(scope="module")
def models(autoencoder, vae):
    return {"autoencoder": autoencoder, "vae": vae}


@pytest.mark.parametrize("bad", BAD_IMAGES)
@pytest.mark.parametrize("entry", IMAGE_ENTRY_POINTS)
def test_image_metrics_refuse_bad_images(models, entry, bad):
    call, name = IMAGE_ENTRY_POINTS[entry]
    spoil, message = BAD_IMAGES[bad]
    with pytest.raises(ValueError, match=f"^{name} {message}"):
        call(models, spoil(images()))


@pytest.mark.parametrize("entry", IMAGE_ENTRY_POINTS)
def test_image_metrics_accept_float64_with_the_float32_result(models, entry):
    call = IMAGE_ENTRY_POINTS[entry][0]
    x = images()
    single, double = call(models, x), call(models, x.astype(np.float64))
    if isinstance(single, dict):
        assert single.keys() == double.keys()
        for key in single:
            assert double[key] == pytest.approx(single[key], rel=1e-6)
    else:
        np.testing.assert_allclose(double, single, rtol=1e-6, atol=1e-9)


# --- labels ----------------------------------------------------------------------------


def test_first_of_each_class_refuses_float_labels():
    with pytest.raises(
        ValueError,
        match=re.escape(
            "labels must be a non-empty 1-D integer array; got shape (3,), dtype float64"
        ),
    ):
        data.first_of_each_class(np.array([0.0, 1.0, 2.0]))


def test_latent_scatter_refuses_labels_of_the_wrong_length():
    codes = np.random.default_rng(0).normal(size=(10, 2))
    with pytest.raises(ValueError, match="labels has 9 entries for 10 images; need one each"):
        plots.latent_scatter(codes, np.arange(9))
