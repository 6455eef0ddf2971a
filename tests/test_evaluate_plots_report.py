import numpy as np
import pytest
import tensorflow as tf
from matplotlib.figure import Figure

from vaebook import evaluate, losses, plots, report
from vaebook.models import Autoencoder


def test_reconstruction_metrics_match_direct_computation():
    rng = np.random.default_rng(0)
    x = rng.random((250, 28, 28)).astype(np.float32)
    model = Autoencoder(latent_dim=3, encoder_units=(16,))
    metrics = evaluate.reconstruction_metrics(model, x, batch_size=64)
    logits = model(x)
    expected_ce = float(tf.reduce_mean(losses.bernoulli_reconstruction_loss(x, logits)))
    expected_se = float(tf.reduce_mean(losses.squared_error(x, tf.sigmoid(logits))))
    np.testing.assert_allclose(metrics["cross_entropy"], expected_ce, rtol=1e-4)
    np.testing.assert_allclose(metrics["squared_error"], expected_se, rtol=1e-4)
    assert metrics["cross_entropy_gap"] > 0


def test_map_in_batches_does_not_depend_on_batch_size():
    x = np.arange(10, dtype=np.float32).reshape(10, 1)
    for batch_size in (1, 3, 10, 100):
        np.testing.assert_array_equal(
            evaluate.map_in_batches(lambda b: b * 2, x, batch_size), x * 2
        )
    with pytest.raises(ValueError, match="empty"):
        evaluate.map_in_batches(lambda b: b, np.zeros((0, 1)))


def test_squared_error_per_image_checks_shapes():
    with pytest.raises(ValueError, match="shape"):
        evaluate.squared_error_per_image(np.zeros((2, 3)), np.zeros((2, 4)))


def test_plots_return_figures():
    images = np.random.default_rng(0).random((20, 28, 28))
    assert isinstance(plots.image_grid(images, ncols=5), Figure)
    assert isinstance(plots.image_rows({"a": images[:4], "b": images[4:8]}), Figure)
    assert isinstance(plots.reconstruction_grid(images, images, nrows=2, ncols=5), Figure)
    assert isinstance(plots.reconstruction_progress(images[:3], {1: images[3:6]}), Figure)
    assert isinstance(plots.loss_curves({"loss": [3, 2], "val_loss": [3.5, 2.5]}), Figure)
    assert isinstance(plots.line_plot([1, 2], {"a": [1, 2]}, "x", "y", logx=True), Figure)


def test_plots_reject_bad_input():
    images = np.zeros((4, 28, 28))
    with pytest.raises(ValueError, match="height, width"):
        plots.image_grid(np.zeros((4, 784)))
    with pytest.raises(ValueError, match="same number"):
        plots.image_rows({"a": images, "b": images[:2]})
    with pytest.raises(ValueError, match="need 10"):
        plots.reconstruction_grid(images, images, nrows=1, ncols=10)
    with pytest.raises(KeyError, match="val_loss"):
        plots.loss_curves({"loss": [1.0]})
    with pytest.raises(ValueError, match="2 values for 3"):
        plots.line_plot([1, 2, 3], {"a": [1, 2]}, "x", "y")


def test_markdown_table_formats_floats():
    table = report.markdown_table(["k", "error"], [[2, 1.23456], [5, "n/a"]])
    assert table.data.splitlines() == ["| k | error |", "|---|---|", "| 2 | 1.23 |", "| 5 | n/a |"]
    with pytest.raises(ValueError, match="2 headers"):
        report.markdown_table(["a", "b"], [[1]])


def test_glue_stores_plain_numbers_under_the_myst_nb_prefix(monkeypatch):
    import IPython.display

    shown = []
    monkeypatch.setattr(IPython.display, "display", lambda *a, **k: shown.append((a, k)))
    report.glue("error", np.float64(1.5))
    (bundle,), options = shown[0]
    assert bundle == {"application/papermill.record/text/plain": "1.5"}
    assert options["metadata"]["scrapbook"]["name"] == "error"


def test_latent_plots():
    rng = np.random.default_rng(0)
    figure = plots.latent_scatter(rng.normal(size=(30, 2)), np.arange(30) % 3, ["a", "b", "c"])
    assert isinstance(figure, Figure)
    seen = []

    def decode(codes):
        seen.append(codes)
        return np.zeros((len(codes), 28, 28))

    assert isinstance(plots.latent_manifold(decode, grid_size=5), Figure)
    codes = seen[0]
    assert codes.shape == (25, 2)
    # Quantiles of N(0, 1) at p = 0.1, 0.3, 0.5, 0.7, 0.9: symmetric, median 0.
    np.testing.assert_allclose(
        np.unique(codes[:, 0]), [-1.2816, -0.5244, 0, 0.5244, 1.2816], atol=1e-4
    )
    with pytest.raises(ValueError, match=r"shape \(n, 2\)"):
        plots.latent_scatter(np.zeros((4, 3)), np.zeros(4, int))


def test_latent_scatter_rejects_labels_that_do_not_match():
    with pytest.raises(ValueError, match=r"labels must have shape \(4,\)"):
        plots.latent_scatter(np.zeros((4, 2)), np.zeros(3, int))


def test_mean_image_error_matches_direct_computation():
    rng = np.random.default_rng(1)
    x_train = rng.random((50, 4, 4)).astype(np.float32)
    x_test = rng.random((7, 4, 4)).astype(np.float32)
    expected = ((x_test - x_train.mean(axis=0)) ** 2).sum(axis=(1, 2)).mean()
    assert evaluate.mean_image_error(x_train, x_test) == pytest.approx(expected, rel=1e-6)
    with pytest.raises(ValueError, match="expected"):
        evaluate.mean_image_error(x_train, x_test.reshape(7, 16))
