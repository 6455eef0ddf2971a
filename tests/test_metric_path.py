"""One metric path: dataset means do not depend on the batch size and match float64 NumPy.

Per-image losses are float32 (computed in compiled functions); their sum over a dataset
is taken in float64 on the host. These tests compare the package's numbers with an
independent float64 NumPy computation from the model's logits, at several batch sizes,
and show that a float32 running sum of the same per-image values would not pass.
"""

import keras
import numpy as np
import pytest

from vaebook import evaluate, train
from vaebook.models import Autoencoder

RTOL = 1e-6
BATCH_SIZES = (1000, 100, 7, 1)


@pytest.fixture(scope="module")
def x_test(fashion):
    return fashion.x_test  # all 10,000 test images, float32 in [0, 1]


def random_autoencoder(reconstruction="bernoulli", seed=1):
    keras.utils.set_random_seed(seed)
    return Autoencoder(latent_dim=2, encoder_units=(8,), reconstruction=reconstruction)


@pytest.fixture(scope="module")
def trained(fashion):
    """Briefly trained autoencoders (one per loss), whose per-image losses vary widely."""
    models = {}
    for reconstruction in ("bernoulli", "squared_error"):
        model = random_autoencoder(reconstruction)
        train.train(model, fashion.x_train[:10_000], epochs=1, batch_size=100, verbose=0)
        models[reconstruction] = model
    return models


def float64_logits(model, x):
    return np.concatenate(
        [model(x[start : start + 1000]).numpy() for start in range(0, len(x), 1000)]
    ).astype(np.float64)


def numpy_cross_entropy(x, logits):
    """Mean per-image Bernoulli cross-entropy in float64, the overflow-free form."""
    x = x.astype(np.float64)
    per_pixel = np.maximum(logits, 0) - logits * x + np.log1p(np.exp(-np.abs(logits)))
    return per_pixel.reshape(len(x), -1).sum(axis=1).mean()


def numpy_squared_error(x, logits):
    """Mean per-image squared error of sigmoid(logits), in float64."""
    x = x.astype(np.float64)
    return np.square(x - 1 / (1 + np.exp(-logits))).reshape(len(x), -1).sum(axis=1).mean()


@pytest.mark.parametrize(
    ("reconstruction", "reference"),
    [("bernoulli", numpy_cross_entropy), ("squared_error", numpy_squared_error)],
)
def test_evaluate_losses_matches_float64_numpy_at_every_batch_size(
    x_test, trained, reconstruction, reference
):
    model = trained[reconstruction]
    expected = reference(x_test, float64_logits(model, x_test))
    for batch_size in BATCH_SIZES:
        got = evaluate.evaluate_losses(model, x_test, batch_size=batch_size)
        assert got["loss"] == pytest.approx(expected, rel=RTOL), batch_size
        assert got["reconstruction_loss"] == got["loss"]


def test_a_float32_running_sum_would_drift_beyond_the_tolerance(x_test):
    """Documents why the sum is float64: the same float32 values, summed in float32, drift.

    An untrained model scores about 543 nats per image, so over the 10,000 test images
    the running total reaches 5.4 million, where one float32 step is 0.5; after 10,000
    additions the mean is off by about 3e-5 relative for this model (30 times the
    tolerance), while the float64 sum of the same float32 values is within 1e-7. (The
    drift depends on the values: for the briefly trained model above it is about 3e-7 on
    the test set and 3e-6 on the 60,000 training images.)
    """
    model = random_autoencoder()
    expected = numpy_cross_entropy(x_test, float64_logits(model, x_test))
    per_image = np.concatenate(
        [
            model.per_example_losses(x_test[start : start + 1000])["loss"].numpy()
            for start in range(0, len(x_test), 1000)
        ]
    )
    assert per_image.dtype == np.float32
    float32_mean = float(np.cumsum(per_image, dtype=np.float32)[-1]) / len(x_test)
    float64_mean = float(np.sum(per_image, dtype=np.float64)) / len(x_test)
    assert abs(float32_mean - expected) / expected > 10 * RTOL
    assert float64_mean == pytest.approx(expected, rel=1e-7)


def test_reconstruction_metrics_match_float64_numpy_at_every_batch_size(x_test, trained):
    model = trained["bernoulli"]
    logits = float64_logits(model, x_test)
    squared_error = numpy_squared_error(x_test, logits)
    cross_entropy = numpy_cross_entropy(x_test, logits)
    for batch_size in BATCH_SIZES:
        got = evaluate.reconstruction_metrics(model, x_test, batch_size=batch_size)
        assert got["squared_error"] == pytest.approx(squared_error, rel=RTOL), batch_size
        assert got["cross_entropy"] == pytest.approx(cross_entropy, rel=RTOL), batch_size
        assert got["cross_entropy_gap"] == pytest.approx(
            got["cross_entropy"] - got["entropy_floor"], rel=1e-12
        )


def test_training_log_weights_each_step_by_its_batch_size(x_test, trained):
    """With a zero learning rate the weights never move, so the epoch's logged loss must
    be the dataset mean: the mean of per-step means weighted by batch sizes. 1,000 images
    in batches of 64 leave a last batch of 40, so an unweighted mean would differ.
    """
    x = x_test[:1000]
    model = trained["bernoulli"]
    before = [weight.copy() for weight in model.get_weights()]
    history = train.train(
        model, x, epochs=1, batch_size=64, optimizer=keras.optimizers.SGD(0.0), verbose=0
    )
    for old, new in zip(before, model.get_weights()):
        np.testing.assert_array_equal(old, new)
    expected = numpy_cross_entropy(x, float64_logits(model, x))
    assert history.history["loss"][0] == pytest.approx(expected, rel=RTOL)

    # The unweighted mean of the same step means is measurably different.
    order = np.random.default_rng(0).permutation(len(x))  # train's order for seed 0
    per_image = model.per_example_losses(x)["loss"].numpy().astype(np.float64)[order]
    step_means = [per_image[start : start + 64].mean() for start in range(0, len(x), 64)]
    assert abs(np.mean(step_means) - expected) / expected > 100 * RTOL
