"""Figures for the chapters. Every function returns a ``matplotlib`` Figure.

No function here calls ``plt.show()``: a notebook displays the returned Figure, a
script saves it. Images are drawn in greyscale as stored (0 black, 1 white), pixel for
pixel, without interpolation.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from statistics import NormalDist

import matplotlib.pyplot as plt
import numpy as np
from matplotlib import ticker
from matplotlib.figure import Figure

from vaebook.checks import check_labels

__all__ = [
    "histogram",
    "image_grid",
    "image_rows",
    "latent_manifold",
    "latent_scatter",
    "line_plot",
    "loss_curves",
    "reconstruction_grid",
    "reconstruction_progress",
    "roc_curves",
]


def _use_retina_in_notebooks() -> None:
    """Makes notebooks show figures as 2x-resolution PNGs (sharp on high-DPI screens)."""
    try:
        from IPython import get_ipython
        from matplotlib_inline.backend_inline import set_matplotlib_formats
    except ImportError:  # Not in IPython: nothing to configure.
        return
    if get_ipython() is not None:
        set_matplotlib_formats("retina")


_use_retina_in_notebooks()


def _finish(figure: Figure) -> Figure:
    # Detach the figure from pyplot so that a notebook shows it once, as the cell's
    # result, instead of a second time when the inline backend flushes open figures.
    plt.close(figure)
    return figure


def _as_images(images: np.ndarray, name: str) -> np.ndarray:
    images = np.asarray(images, dtype=np.float64)
    if images.ndim != 3:
        raise ValueError(f"{name} must have shape (n, height, width); got {images.shape}.")
    return images


def image_grid(
    images: np.ndarray, ncols: int = 10, title: str | None = None, scale: float = 0.8
) -> Figure:
    """Draws images in a grid, row by row.

    Args:
        images: Shape ``(n, height, width)``, values in ``[0, 1]`` (clipped if not).
        ncols: Images per row.
        title: Optional title above the grid.
        scale: Inches per image.

    Returns:
        The Figure.
    """
    images = _as_images(images, "images")
    nrows = int(np.ceil(len(images) / ncols))
    figure, axes = plt.subplots(
        nrows, ncols, figsize=(ncols * scale, nrows * scale + (0.4 if title else 0)), squeeze=False
    )
    for index, axis in enumerate(axes.flat):
        axis.axis("off")
        if index < len(images):
            axis.imshow(
                np.clip(images[index], 0, 1), cmap="gray", vmin=0, vmax=1, interpolation="nearest"
            )
    if title:
        figure.suptitle(title)
    figure.subplots_adjust(wspace=0.05, hspace=0.05)
    return _finish(figure)


def image_rows(rows: Mapping[str, np.ndarray], scale: float = 0.9) -> Figure:
    """Draws one labelled row per entry, e.g. original / autoencoder / PCA.

    Args:
        rows: Row label to images ``(n, height, width)``; every row has the same ``n``.
        scale: Inches per image.

    Returns:
        The Figure.
    """
    arrays = {label: _as_images(images, label) for label, images in rows.items()}
    counts = {len(images) for images in arrays.values()}
    if len(counts) != 1:
        raise ValueError(f"every row needs the same number of images; got {sorted(counts)}.")
    ncols = counts.pop()
    figure, axes = plt.subplots(
        len(arrays), ncols, figsize=(ncols * scale + 1.2, len(arrays) * scale), squeeze=False
    )
    for row, (label, images) in enumerate(arrays.items()):
        for col in range(ncols):
            axis = axes[row, col]
            axis.imshow(
                np.clip(images[col], 0, 1), cmap="gray", vmin=0, vmax=1, interpolation="nearest"
            )
            axis.set_xticks([])
            axis.set_yticks([])
        axes[row, 0].set_ylabel(label, rotation=0, ha="right", va="center")
    figure.subplots_adjust(wspace=0.05, hspace=0.05, left=0.12)
    return _finish(figure)


def reconstruction_grid(
    originals: np.ndarray, reconstructions: np.ndarray, nrows: int = 5, ncols: int = 10
) -> Figure:
    """The notes' 10x10 grid done right: originals above, their reconstructions below.

    Args:
        originals: Images ``(n, height, width)`` with ``n >= nrows * ncols``.
        reconstructions: The model's output for the same images.
        nrows: Rows of originals (and as many rows of reconstructions).
        ncols: Images per row.

    Returns:
        The Figure, with a line between the two halves.
    """
    originals = _as_images(originals, "originals")
    reconstructions = _as_images(reconstructions, "reconstructions")
    count = nrows * ncols
    if len(originals) < count or originals.shape != reconstructions.shape:
        raise ValueError(
            f"need {count} originals and reconstructions of equal shape; got "
            f"{originals.shape} and {reconstructions.shape}."
        )
    figure = image_grid(np.concatenate([originals[:count], reconstructions[:count]]), ncols)
    # A separating line between the originals (top) and reconstructions (bottom).
    figure.add_artist(plt.Line2D([0.1, 0.9], [0.5, 0.5], color="tab:red", linewidth=2))
    return figure


def reconstruction_progress(
    originals: np.ndarray, snapshots: Mapping[int, np.ndarray], scale: float = 0.9
) -> Figure:
    """Reconstructions of the same images after several epochs, one row per epoch.

    Args:
        originals: The images ``(n, height, width)``, drawn in the top row.
        snapshots: Epoch to reconstructions of ``originals``.
        scale: Inches per image.

    Returns:
        The Figure.
    """
    rows = {"original": originals}
    rows.update({f"epoch {epoch}": images for epoch, images in sorted(snapshots.items())})
    return image_rows(rows, scale=scale)


def loss_curves(
    history: Mapping[str, Sequence[float]],
    names: Sequence[str] = ("loss", "val_loss"),
    ylabel: str = "loss (nats per image)",
    logy: bool = False,
) -> Figure:
    """Plots per-epoch values from a training history.

    Args:
        history: Name to one value per epoch, e.g. ``History.history``.
        names: Which entries to draw.
        ylabel: Label of the y axis.
        logy: Whether to use a logarithmic y axis.

    Returns:
        The Figure.
    """
    missing = [name for name in names if name not in history]
    if missing:
        raise KeyError(f"history has no {missing}; it has {sorted(history)}.")
    figure, axis = plt.subplots(figsize=(6, 3.5))
    for name in names:
        values = history[name]
        axis.plot(range(1, len(values) + 1), values, label=name)
    axis.set_xlabel("epoch")
    axis.set_ylabel(ylabel)
    if logy:
        axis.set_yscale("log")
    axis.grid(alpha=0.3)
    axis.legend()
    figure.tight_layout()
    return _finish(figure)


def line_plot(
    x: Sequence[float],
    series: Mapping[str, Sequence[float]],
    xlabel: str,
    ylabel: str,
    logx: bool = False,
    logy: bool = False,
    reference: Mapping[str, float] | None = None,
    ylim: tuple[float, float] | None = None,
) -> Figure:
    """Plots several named series against the same x values.

    Series of up to 30 points get a marker on each point; longer ones are drawn as
    lines only. A series not measured at some x values has NaN there: those points are
    left out and its line joins the points it has (learning curves recorded at
    different epochs, drawn on one axis).

    Args:
        x: The shared x values.
        series: Name to y values (same length as ``x``; NaN where not measured).
        xlabel: Label of the x axis.
        ylabel: Label of the y axis.
        logx: Whether to use a logarithmic x axis.
        logy: Whether to use a logarithmic y axis.
        reference: Name to a constant (a published value, a floor), drawn as a dashed
            horizontal line rather than as a data series.
        ylim: The y range shown, e.g. to leave out the first epochs' large losses.

    Returns:
        The Figure.
    """
    figure, axis = plt.subplots(figsize=(6, 3.5))
    marker = "o" if len(x) <= 30 else None
    for name, values in series.items():
        if len(values) != len(x):
            raise ValueError(f"series {name!r} has {len(values)} values for {len(x)} x values.")
        measured = ~np.isnan(np.asarray(values, dtype=float))
        if not measured.any():
            raise ValueError(f"series {name!r} has no values (all NaN).")
        axis.plot(
            np.asarray(x)[measured],
            np.asarray(values, dtype=float)[measured],
            marker=marker,
            label=name,
        )
    for index, (name, value) in enumerate((reference or {}).items()):
        axis.axhline(value, color="0.3", linestyle=("--", ":", "-.")[index % 3], label=name)
    axis.set_xlabel(xlabel)
    axis.set_ylabel(ylabel)
    if logx:
        axis.set_xscale("log")
        if len(x) <= 12:
            # Label exactly the x values, in plain numbers, and no minor ticks whose
            # labels would overlap them.
            axis.set_xticks(list(x), [f"{value:g}" for value in x])
            axis.xaxis.set_minor_locator(ticker.NullLocator())
        else:
            # Powers of ten in plain numbers (100, 1000), not as 10^2, 10^3.
            axis.xaxis.set_major_formatter(ticker.FuncFormatter(lambda v, _: f"{v:g}"))
    if logy:
        axis.set_yscale("log")
    if ylim is not None:
        axis.set_ylim(*ylim)
    axis.grid(alpha=0.3, which="both")
    axis.legend()
    figure.tight_layout()
    return _finish(figure)


def roc_curves(curves: Mapping[str, Mapping[str, np.ndarray]], title: str | None = None) -> Figure:
    """Draws ROC curves (true positive rate against false positive rate), one per score.

    Args:
        curves: Score name to a curve from :func:`vaebook.ood.roc_curve` (a
            mapping with ``"fpr"`` and ``"tpr"``, of equal length, in ``[0, 1]``).
        title: Optional title.

    Returns:
        The Figure, with the chance diagonal dashed.
    """
    figure, axis = plt.subplots(figsize=(4.6, 4.2))
    for name, curve in curves.items():
        fpr = np.asarray(curve["fpr"], dtype=np.float64)
        tpr = np.asarray(curve["tpr"], dtype=np.float64)
        if fpr.shape != tpr.shape or fpr.ndim != 1:
            raise ValueError(
                f"curve {name!r}: fpr and tpr must be 1-d and of equal length; got shapes "
                f"{fpr.shape} and {tpr.shape}."
            )
        axis.plot(fpr, tpr, label=name)
    axis.plot([0, 1], [0, 1], color="0.5", linestyle="--", linewidth=0.8, label="chance")
    axis.set_xlim(0, 1)
    axis.set_ylim(0, 1)
    axis.set_aspect("equal")
    axis.set_xlabel("familiar inputs flagged (false positive rate)")
    axis.set_ylabel("unfamiliar inputs flagged (true positive rate)")
    if title:
        axis.set_title(title)
    axis.grid(alpha=0.3)
    axis.legend(fontsize="small", loc="lower right")
    figure.tight_layout()
    return _finish(figure)


def histogram(
    samples: Mapping[str, np.ndarray],
    xlabel: str,
    bins: int = 50,
    value_range: tuple[float, float] | None = None,
    logy: bool = True,
    marks: Mapping[str, float] | None = None,
) -> Figure:
    """Overlaid histograms of several named samples, as outlines.

    Args:
        samples: Name to values (any shape; flattened).
        xlabel: Label of the x axis.
        bins: Number of equal-width bins over ``value_range``.
        value_range: The range binned; defaults to that of all samples.
        logy: Whether the counts axis is logarithmic (for values that pile up near
            zero, as sparse codes do).
        marks: Name to an x value drawn as a dashed vertical line (a threshold, a
            target).

    Returns:
        The Figure.
    """
    if not samples:
        raise ValueError("samples is empty.")
    flat = {name: np.asarray(values, dtype=np.float64).ravel() for name, values in samples.items()}
    for name, values in flat.items():
        if values.size == 0 or not np.all(np.isfinite(values)):
            raise ValueError(f"sample {name!r} is empty or holds NaN or infinite values.")
    if value_range is None:
        value_range = (
            min(float(v.min()) for v in flat.values()),
            max(float(v.max()) for v in flat.values()),
        )
    figure, axis = plt.subplots(figsize=(6, 3.5))
    for name, values in flat.items():
        axis.hist(values, bins=bins, range=value_range, histtype="step", linewidth=1.5, label=name)
    for index, (name, value) in enumerate((marks or {}).items()):
        axis.axvline(value, color="0.3", linestyle=("--", ":", "-.")[index % 3], label=name)
    axis.set_xlabel(xlabel)
    axis.set_ylabel("count")
    if logy:
        axis.set_yscale("log")
    axis.grid(alpha=0.3)
    axis.legend(fontsize="small")
    figure.tight_layout()
    return _finish(figure)


def latent_scatter(
    codes: np.ndarray,
    labels: np.ndarray,
    class_names: Sequence[str] | None = None,
    title: str | None = None,
) -> Figure:
    """Scatter plot of 2-D codes, coloured by class.

    Args:
        codes: Shape ``(n, 2)``, e.g. the encoder's ``z_mean`` for the test set.
        labels: Integer class of each point, shape ``(n,)``.
        class_names: Optional name of each class, for the legend.
        title: Optional title.

    Returns:
        The Figure.
    """
    codes = np.asarray(codes)
    if codes.ndim != 2 or codes.shape[1] != 2:
        raise ValueError(f"codes must have shape (n, 2); got {codes.shape}.")
    labels = check_labels(
        labels,
        length=len(codes),
        num_classes=len(class_names) if class_names is not None else None,
    )
    figure, axis = plt.subplots(figsize=(7.5, 5.5))
    colours = plt.get_cmap("tab10")
    for label in np.unique(labels):
        chosen = labels == label
        name = class_names[label] if class_names is not None else str(label)
        axis.scatter(*codes[chosen].T, s=2, alpha=0.5, color=colours(int(label) % 10), label=name)
    axis.set_xlabel("$z_1$")
    axis.set_ylabel("$z_2$")
    # The legend sits outside the axes, so that it hides no codes.
    axis.legend(markerscale=6, fontsize="small", loc="upper left", bbox_to_anchor=(1.02, 1))
    axis.set_aspect("equal")
    if title:
        axis.set_title(title)
    figure.tight_layout()
    return _finish(figure)


def latent_manifold(
    decode: Callable[[np.ndarray], np.ndarray], grid_size: int = 15, scale: float = 0.5
) -> Figure:
    """Images decoded from a grid of 2-D codes at evenly spaced Gaussian quantiles.

    The grid's coordinates are the quantiles ``Phi^-1(p)`` for ``p`` evenly spaced in
    ``(0, 1)``, so that each cell covers equal prior probability (Kingma & Welling, 2014).

    Args:
        decode: Maps codes ``(m, 2)`` to images ``(m, height, width)`` in ``[0, 1]``.
        grid_size: Images per side.
        scale: Inches per image.

    Returns:
        The Figure.
    """
    normal = NormalDist()
    quantiles = np.array(
        [normal.inv_cdf((i + 0.5) / grid_size) for i in range(grid_size)], dtype=np.float32
    )
    # Rows run from high z_2 (top) to low z_2 (bottom), like a plot's y axis.
    z1, z2 = np.meshgrid(quantiles, quantiles[::-1])
    codes = np.stack([z1.ravel(), z2.ravel()], axis=1)  # (grid_size ** 2, 2)
    images = _as_images(decode(codes), "decoded images")
    height, width = images.shape[1:]
    canvas = images.reshape(grid_size, grid_size, height, width).transpose(0, 2, 1, 3)
    canvas = canvas.reshape(grid_size * height, grid_size * width)
    figure, axis = plt.subplots(figsize=(grid_size * scale, grid_size * scale))
    axis.imshow(np.clip(canvas, 0, 1), cmap="gray", vmin=0, vmax=1, interpolation="nearest")
    ticks = (np.arange(grid_size) + 0.5) * width
    axis.set_xticks(ticks[::2], [f"{q:.1f}" for q in quantiles[::2]])
    axis.set_yticks(ticks[::2], [f"{q:.1f}" for q in quantiles[::-1][::2]])
    axis.set_xlabel("$z_1$ (Gaussian quantiles)")
    axis.set_ylabel("$z_2$")
    figure.tight_layout()
    return _finish(figure)
