import json
from pathlib import Path

import keras
import numpy as np
import pytest
import tensorflow as tf
from matplotlib.figure import Figure

from vaebook import evaluate, plots, report
from vaebook.models import Autoencoder


def test_reconstruction_metrics_match_a_numpy_computation(numpy_reference):
    rng = np.random.default_rng(0)
    x = rng.random((250, 28, 28)).astype(np.float32)
    x[:10] = np.round(x[:10])  # binary images: their entropy is exactly zero
    model = Autoencoder(latent_dim=3, encoder_units=(16,))
    metrics = evaluate.reconstruction_metrics(model, x, batch_size=64)
    logits = numpy_reference["forward"](model.decoder, numpy_reference["forward"](model.encoder, x))
    cross_entropy = numpy_reference["cross_entropy"](x, logits).mean()
    squared_error = ((x - 1 / (1 + np.exp(-logits))) ** 2).sum(axis=(1, 2)).mean()
    p = x.astype(np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        terms = np.nan_to_num(p * np.log(p)) + np.nan_to_num((1 - p) * np.log(1 - p))
    entropy = -terms.sum(axis=(1, 2)).mean()
    np.testing.assert_allclose(metrics["cross_entropy"], cross_entropy, rtol=1e-5)
    np.testing.assert_allclose(metrics["squared_error"], squared_error, rtol=1e-5)
    np.testing.assert_allclose(metrics["entropy_floor"], entropy, rtol=1e-5)
    np.testing.assert_allclose(
        metrics["cross_entropy_gap"], metrics["cross_entropy"] - metrics["entropy_floor"]
    )
    assert metrics["cross_entropy_gap"] > 0
    # The batch size changes nothing but float32 round-off in each image's own sum.
    again = evaluate.reconstruction_metrics(model, x, batch_size=250)
    for name, value in metrics.items():
        np.testing.assert_allclose(again[name], value, rtol=1e-6)


def test_evaluate_losses_match_numpy_and_do_not_depend_on_the_batch_size(numpy_reference):
    x = np.random.default_rng(2).random((37, 28, 28)).astype(np.float32)
    model = Autoencoder(latent_dim=2, encoder_units=(8,))
    logits = numpy_reference["forward"](model.decoder, numpy_reference["forward"](model.encoder, x))
    expected = numpy_reference["cross_entropy"](x, logits).mean()
    results = [evaluate.evaluate_losses(model, x, batch_size=size) for size in (1, 10, 37, 1000)]
    for result in results:
        assert sorted(result) == ["loss", "reconstruction_loss"]
        np.testing.assert_allclose(result["loss"], expected, rtol=1e-5)
        np.testing.assert_allclose(result["loss"], results[0]["loss"], rtol=1e-6)
    with pytest.raises(ValueError, match="batch_size must be a positive integer"):
        evaluate.evaluate_losses(model, x, batch_size=0)
    with pytest.raises(TypeError, match="per_example_losses"):
        evaluate.evaluate_losses(keras.Sequential([keras.layers.Dense(1)]), x)


class ExactLosses(keras.Model):
    """Per-example losses that float32 holds exactly: 2**23 + 256 * (sum of pixels).

    With pixels that are multiples of 1/256, every loss is an integer below 2**24, so
    its float32 value is exact; only the sum over examples can lose digits.
    """

    image_shape = (2, 2)

    def __init__(self):
        super().__init__()
        self.w = self.add_weight(shape=(), initializer="zeros")

    def per_example_losses(self, x, training=False):
        return {"loss": 2.0**23 + 256.0 * tf.reduce_sum(x, axis=[1, 2]) + 0.0 * self.w}


def test_evaluate_losses_sums_in_float64():
    x = np.random.default_rng(3).integers(0, 257, (3000, 2, 2)) / 256
    exact = 2**23 + 256 * x.sum(axis=(1, 2)).mean()  # float64: exact here
    for batch_size in (3000, 7):
        result = evaluate.evaluate_losses(ExactLosses(), x.astype(np.float32), batch_size)
        # A float32 total (about 2.5e10, where floats are 2048 apart) would miss it.
        assert result["loss"] == pytest.approx(exact, rel=1e-15, abs=0)


def test_sparsity_statistics_match_numpy():
    class Codes:
        """Its codes are the four pixels of each 2 x 2 image."""

        image_shape = (2, 2)

        def encode(self, x):
            return tf.reshape(x, (-1, 4))

    rng = np.random.default_rng(4)
    x = rng.random((30, 2, 2)).astype(np.float32)
    x[:, 1, 1] *= 0.04  # the fourth unit is below 0.05 for every image: dead
    codes = x.reshape(30, 4).astype(np.float64)
    stats = evaluate.sparsity_statistics(Codes(), x, threshold=0.05)
    assert stats["mean_activation"] == pytest.approx(codes.mean(), rel=1e-6)
    assert stats["near_zero_fraction"] == pytest.approx((codes < 0.05).mean())
    assert stats["active_per_image"] == pytest.approx((codes >= 0.05).sum(axis=1).mean())
    assert stats["dead_units"] == 1
    with pytest.raises(ValueError, match=r"threshold must be a number in \[0, 1\]"):
        evaluate.sparsity_statistics(Codes(), x, threshold=2.0)
    with pytest.raises(TypeError, match="needs a model with encode"):
        evaluate.sparsity_statistics(object(), x)


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


def drawn_images(figure):
    """The arrays the figure's axes show with imshow, in axes order."""
    return [image.get_array() for axis in figure.axes for image in axis.get_images()]


def test_plots_draw_the_images_and_values_given():
    images = np.random.default_rng(0).random((20, 28, 28))
    # A grid of 4 x 5 axes, image k in axes k, row by row; values outside [0, 1] clipped.
    grid = plots.image_grid(np.concatenate([images[:19], images[19:] * 3]), ncols=5)
    assert isinstance(grid, Figure) and len(grid.axes) == 20
    shown = drawn_images(grid)
    np.testing.assert_array_equal(np.stack(shown[:19]), images[:19])
    np.testing.assert_array_equal(shown[19], np.clip(images[19] * 3, 0, 1))
    # One row per entry, labelled, in order.
    rows = plots.image_rows({"a": images[:4], "b": images[4:8]})
    np.testing.assert_array_equal(np.stack(drawn_images(rows)), images[:8])
    assert [rows.axes[i].get_ylabel() for i in (0, 4)] == ["a", "b"]
    # Originals (first 10) above their reconstructions (next 10).
    recon = plots.reconstruction_grid(images, 1 - images, nrows=2, ncols=5)
    shown = np.stack(drawn_images(recon))
    np.testing.assert_array_equal(shown[:10], images[:10])
    np.testing.assert_array_equal(shown[10:], 1 - images[:10])
    progress = plots.reconstruction_progress(images[:3], {5: images[6:9], 1: images[3:6]})
    np.testing.assert_array_equal(np.stack(drawn_images(progress)), images[:9])  # epochs sorted
    assert [progress.axes[i].get_ylabel() for i in (0, 3, 6)] == ["original", "epoch 1", "epoch 5"]
    curves = plots.loss_curves({"loss": [3, 2], "val_loss": [3.5, 2.5]})
    lines = {line.get_label(): line for line in curves.axes[0].get_lines()}
    np.testing.assert_array_equal(lines["loss"].get_xydata(), [[1, 3], [2, 2]])
    np.testing.assert_array_equal(lines["val_loss"].get_ydata(), [3.5, 2.5])
    line = plots.line_plot([1, 2], {"a": [1, 2]}, "x", "y", logx=True).axes[0]
    assert line.get_xscale() == "log" and line.get_xlabel() == "x"
    np.testing.assert_array_equal(line.get_lines()[0].get_xydata(), [[1, 1], [2, 2]])


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


def test_glue_all_glues_each_value_and_refuses_bad_names(monkeypatch):
    import IPython.display

    shown = []
    monkeypatch.setattr(IPython.display, "display", lambda *a, **k: shown.append((a, k)))
    report.glue_all({"error": np.float32(0.25), "epochs": 100, "name": "VAE"})
    names = [options["metadata"]["scrapbook"]["name"] for _, options in shown]
    texts = [bundle["application/papermill.record/text/plain"] for (bundle,), _ in shown]
    assert names == ["error", "epochs", "name"]
    assert texts == ["0.25", "100", "'VAE'"]
    with pytest.raises(ValueError, match="identifiers"):
        report.glue_all({"test error": 1.0})


def test_latent_plots():
    rng = np.random.default_rng(0)
    codes, labels = rng.normal(size=(30, 2)), np.arange(30) % 3
    figure = plots.latent_scatter(codes, labels, ["a", "b", "c"])
    # One scatter per class, holding exactly that class's codes, named in the legend.
    collections = figure.axes[0].collections
    assert [c.get_label() for c in collections] == ["a", "b", "c"]
    for label, collection in enumerate(collections):
        np.testing.assert_allclose(collection.get_offsets(), codes[labels == label])
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
    with pytest.raises(ValueError, match="labels has 3 entries for 4 images"):
        plots.latent_scatter(np.zeros((4, 2)), np.zeros(3, int))


def test_mean_image_error_matches_direct_computation():
    rng = np.random.default_rng(1)
    x_train = rng.random((50, 4, 4)).astype(np.float32)
    x_test = rng.random((7, 4, 4)).astype(np.float32)
    expected = ((x_test - x_train.mean(axis=0)) ** 2).sum(axis=(1, 2)).mean()
    assert evaluate.mean_image_error(x_train, x_test) == pytest.approx(expected, rel=1e-6)
    with pytest.raises(ValueError, match="expected"):
        evaluate.mean_image_error(x_train, x_test.reshape(7, 16))


def test_line_plot_draws_reference_values_as_lines_not_series():
    figure = plots.line_plot(
        list(range(50)), {"curve": list(range(50))}, "x", "y", reference={"paper": 3.0}
    )
    axis = figure.axes[0]
    curve, paper = axis.get_lines()
    assert curve.get_marker() in (None, "None", "")  # 50 points: a line, no markers
    assert paper.get_label() == "paper"
    np.testing.assert_array_equal(paper.get_ydata(), [3.0, 3.0])  # horizontal
    few = plots.line_plot([1, 2, 3], {"a": [1, 2, 3]}, "x", "y").axes[0].get_lines()[0]
    assert few.get_marker() == "o"


def test_line_plot_joins_a_series_over_the_x_values_it_was_measured_at():
    nan = float("nan")
    figure = plots.line_plot(
        [1, 2, 3, 4], {"all": [4, 3, 2, 1], "some": [5, nan, 3, nan]}, "x", "y"
    )
    every, some = figure.axes[0].get_lines()
    np.testing.assert_array_equal(every.get_xdata(), [1, 2, 3, 4])
    # One line through the measured points, not broken at the gaps.
    np.testing.assert_array_equal(some.get_xdata(), [1, 3])
    np.testing.assert_array_equal(some.get_ydata(), [5, 3])
    with pytest.raises(ValueError, match="no values"):
        plots.line_plot([1, 2], {"none": [nan, nan]}, "x", "y")


def test_histogram_counts_every_value_and_marks_thresholds():
    rng = np.random.default_rng(0)
    values = {"a": rng.random(1000), "b": rng.random((10, 10))}
    figure = plots.histogram(values, "activation", bins=10, value_range=(0, 1), marks={"t": 0.5})
    axis = figure.axes[0]
    heights = [patch.get_path().vertices[:, 1].max() for patch in axis.patches]
    assert len(axis.patches) == 2 and max(heights) <= 1000
    assert [line.get_label() for line in axis.get_lines()] == ["t"]
    with pytest.raises(ValueError, match="NaN"):
        plots.histogram({"bad": np.array([np.nan])}, "x")


def test_glued_values_reads_what_glue_wrote(tmp_path):
    # The output that report.glue() produces in a notebook, saved as nbformat writes it.
    output = {
        "output_type": "display_data",
        "metadata": {
            "scrapbook": {"name": "error", "mime_prefix": "application/papermill.record/"}
        },
        "data": {"application/papermill.record/text/plain": "8.7286"},
    }
    other = {"output_type": "stream", "name": "stdout", "text": "8.7286\n"}
    notebook = {"cells": [{"cell_type": "code", "outputs": [other, output], "source": ""}]}
    path = tmp_path / "page.ipynb"
    path.write_text(json.dumps(notebook))
    assert report.glued_values(path) == {"error": 8.7286}


def test_roc_curves_draw_each_curve_and_reject_mismatched_arrays():
    figure = plots.roc_curves(
        {"a": {"fpr": np.array([0, 0.5, 1]), "tpr": np.array([0, 0.8, 1])}}, title="t"
    )
    assert isinstance(figure, Figure)
    lines = figure.axes[0].get_lines()
    assert [line.get_label() for line in lines] == ["a", "chance"]
    assert np.allclose(lines[0].get_ydata(), [0, 0.8, 1])
    with pytest.raises(ValueError, match="equal length"):
        plots.roc_curves({"b": {"fpr": np.zeros(3), "tpr": np.zeros(2)}})


def test_benchmark_result_reads_the_nearest_checkouts_file(tmp_path):
    results = tmp_path / "benchmarks" / "results"
    results.mkdir(parents=True)
    (results / "run.json").write_text('{"nll": 86.5}', encoding="utf-8")
    chapter_folder = tmp_path / "notebooks"
    chapter_folder.mkdir()
    assert report.benchmark_result("run", chapter_folder) == {"nll": 86.5}
    # The repository's own results are found from its notebooks/ folder.
    root = Path(__file__).resolve().parents[1]
    reference = report.benchmark_result("fashion_reference", root / "notebooks")
    assert reference["vae"]["negative_elbo"] > 0


def test_benchmark_result_downloads_from_the_repository_or_says_what_to_do(tmp_path, monkeypatch):
    import io
    import urllib.request

    asked = []

    def fake_urlopen(address, timeout):
        asked.append(address)
        return io.BytesIO(b'{"nll": 1.0}')

    monkeypatch.setattr(urllib.request, "urlopen", fake_urlopen)
    assert report.benchmark_result("run", tmp_path) == {"nll": 1.0}
    assert asked == [
        "https://raw.githubusercontent.com/vaebook/vaebook/main/benchmarks/results/run.json"
    ]
    with pytest.raises(FileNotFoundError, match=r"benchmarks/results/run\.json.*clone"):
        report.benchmark_result("run", tmp_path, download=False)
    for bad in ("", "../run", "run.json"):
        with pytest.raises(ValueError, match="result's name"):
            report.benchmark_result(bad, tmp_path)


def test_chapter_values_reads_a_chapters_glued_numbers_from_the_checkout_or_online(
    tmp_path, monkeypatch
):
    import io
    import urllib.request

    notebook = {
        "cells": [
            {
                "cell_type": "code",
                "outputs": [
                    {
                        "output_type": "display_data",
                        "metadata": {"scrapbook": {"name": "reference_NLL"}},
                        "data": {"application/papermill.record/text/plain": "235.1"},
                    }
                ],
            }
        ]
    }
    folder = tmp_path / "checkout" / "notebooks"
    folder.mkdir(parents=True)
    (folder / "05_vae_in_practice.ipynb").write_text(json.dumps(notebook))
    # From a chapter's folder, as a notebook runs, and from the checkout's root.
    for start in (folder, folder.parent):
        values = report.chapter_values("05_vae_in_practice", start, download=False)
        assert values == {"reference_NLL": 235.1}
    asked = []

    def fake_urlopen(address, timeout):
        asked.append(address)
        return io.BytesIO(json.dumps(notebook).encode())

    monkeypatch.setattr(urllib.request, "urlopen", fake_urlopen)
    elsewhere = tmp_path / "colab"
    elsewhere.mkdir()
    assert report.chapter_values("05_vae_in_practice", elsewhere) == {"reference_NLL": 235.1}
    assert asked == [
        "https://raw.githubusercontent.com/vaebook/vaebook/main/notebooks/05_vae_in_practice.ipynb"
    ]
    with pytest.raises(FileNotFoundError, match=r"notebooks/05_vae_in_practice\.ipynb"):
        report.chapter_values("05_vae_in_practice", elsewhere, download=False)
    for bad in ("", "../x", "05_vae_in_practice.ipynb"):
        with pytest.raises(ValueError, match="chapter's name"):
            report.chapter_values(bad, elsewhere)


def test_the_packages_repository_is_the_books():
    import yaml

    root = Path(__file__).resolve().parents[1]
    config = yaml.safe_load((root / "_config.yml").read_text(encoding="utf-8"))
    url = config["repository"]["url"]
    assert report.REPOSITORY == url
    # Every chapter's Colab install cell installs from the same repository.
    import re

    for chapter in sorted((root / "notebooks").glob("*.md")):
        installs = re.findall(r"git\+(https://[^\s\"@#]+)", chapter.read_text(encoding="utf-8"))
        assert all(found.removesuffix(".git") == url for found in installs), (chapter, installs)


def test_log_x_axes_label_epochs_in_plain_numbers():
    # Few points: exactly those, labelled; many points: powers of ten as 10, 100, 1000.
    few = plots.line_plot([1, 10, 300], {"a": [3, 2, 1]}, "epoch", "y", logx=True)
    assert [t.get_text() for t in few.axes[0].get_xticklabels()] == ["1", "10", "300"]
    epochs = list(range(1, 3001, 100))
    many = plots.line_plot(epochs, {"a": epochs}, "epoch", "y", logx=True)
    many.canvas.draw()
    labels = {t.get_text() for t in many.axes[0].get_xticklabels()}
    assert {"10", "100", "1000"} <= labels, labels


def test_paired_difference_against_its_formula():
    a = np.array([21.8, 23.0, 20.6, 22.1])
    b = np.array([26.8, 28.5, 25.2, 27.0])
    mean, standard_error = evaluate.paired_difference(a, b)
    d = a - b
    assert mean == pytest.approx(np.mean(d))
    assert standard_error == pytest.approx(np.sqrt(np.sum((d - d.mean()) ** 2) / 3) / 2)
    # Pairing removes what the pairs share: the same shift in both changes nothing.
    shifted = evaluate.paired_difference(a + [0, 5, -5, 1], b + [0, 5, -5, 1])
    assert shifted == pytest.approx((mean, standard_error))
    one = evaluate.paired_difference([1.0], [0.5])
    assert one[0] == 0.5 and np.isnan(one[1])


@pytest.mark.parametrize(
    ("a", "b", "message"),
    [([1.0, 2.0], [1.0], "shapes"), ([], [], "non-empty"), ([1.0, np.nan], [1.0, 2.0], "NaN")],
)
def test_paired_difference_refuses_bad_input(a, b, message):
    with pytest.raises(ValueError, match=message):
        evaluate.paired_difference(a, b)
