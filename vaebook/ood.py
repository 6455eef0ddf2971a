"""Spotting the unfamiliar: scores compared by their ROC curve, and image complexity.

A model gives every input a *score* (reconstruction error, negative ELBO, negative
log-likelihood) that should be higher for inputs unlike its training data.
:func:`auroc` is the probability that a random unfamiliar input scores higher than a
random familiar one (ties count one half), the area under the curve that
:func:`roc_curve` traces; 0.5 is chance, 1 a perfect detector, and below 0.5 the score
points the wrong way [1]. :func:`compressed_bits` measures how complex an image is by
the length of its compressed bytes, for the input-complexity correction of
likelihoods [2]. Written in NumPy in float64 and tested against brute-force references.

[1] T. Fawcett. An introduction to ROC analysis. Pattern Recognition Letters
    27(8):861-874, 2006.
[2] J. Serrà, D. Álvarez, V. Gómez, O. Slizovskaia, J. F. Núñez, J. Luque. Input
    complexity and out-of-distribution detection with likelihood-based generative
    models. ICLR 2020. arXiv:1909.11480.
"""

from __future__ import annotations

import zlib

import numpy as np

from vaebook.checks import as_features

__all__ = ["auroc", "compressed_bits", "roc_curve"]


def _as_scores(scores: object, name: str) -> np.ndarray:
    """Checks a 1-D, non-empty array of finite scores; returns it in float64."""
    array = np.asarray(scores)
    if array.ndim != 1 or array.size == 0 or not np.issubdtype(array.dtype, np.number):
        raise ValueError(
            f"{name} must be a non-empty 1-D array of numbers; got shape {array.shape}, "
            f"dtype {array.dtype}."
        )
    array = array.astype(np.float64)
    if not np.all(np.isfinite(array)):
        raise ValueError(f"{name} holds {int(np.sum(~np.isfinite(array)))} NaN or infinite scores.")
    return array


def roc_curve(known: object, unknown: object) -> dict[str, np.ndarray]:
    """The receiver operating characteristic of a score that flags unfamiliar inputs.

    Each distinct score, from the highest down, is a threshold ``t``: inputs scoring
    ``>= t`` are flagged. The curve pairs the fraction of familiar inputs flagged (false
    positive rate) with the fraction of unfamiliar ones flagged (true positive rate).

    Args:
        known: Scores of familiar inputs, shape ``(n,)`` (e.g. the training
            distribution's test set).
        unknown: Scores of unfamiliar inputs, shape ``(m,)``.

    Returns:
        ``{"fpr": ..., "tpr": ..., "thresholds": ...}``; ``fpr`` and ``tpr`` start at 0
        and end at 1 and have one more entry than ``thresholds`` (the first point flags
        nothing).
    """
    known = _as_scores(known, "known")
    unknown = _as_scores(unknown, "unknown")
    thresholds = np.unique(np.concatenate([known, unknown]))[::-1]  # decreasing
    # Number of scores >= each threshold, by binary search in the sorted scores.
    known_flagged = len(known) - np.searchsorted(np.sort(known), thresholds, side="left")
    unknown_flagged = len(unknown) - np.searchsorted(np.sort(unknown), thresholds, side="left")
    return {
        "fpr": np.concatenate([[0.0], known_flagged / len(known)]),
        "tpr": np.concatenate([[0.0], unknown_flagged / len(unknown)]),
        "thresholds": thresholds,
    }


def auroc(known: object, unknown: object) -> float:
    """Area under the ROC curve: how often an unfamiliar input outscores a familiar one.

    Equal to the Mann-Whitney statistic ``P(s_unknown > s_known) + P(s_unknown ==
    s_known) / 2`` over all pairs, computed from the ranks of the pooled scores (ties
    share their mean rank) in ``O((n + m) log(n + m))``; also the trapezoidal area under
    :func:`roc_curve`.

    Args:
        known: Scores of familiar inputs, shape ``(n,)``.
        unknown: Scores of unfamiliar inputs, shape ``(m,)``; higher should mean less
            familiar.

    Returns:
        The area, in ``[0, 1]``.
    """
    known = _as_scores(known, "known")
    unknown = _as_scores(unknown, "unknown")
    pooled = np.concatenate([known, unknown])
    _, inverse, counts = np.unique(pooled, return_inverse=True, return_counts=True)
    # The mean rank (1-based) of each distinct value: the ranks it spans, averaged.
    ends = np.cumsum(counts)
    mean_ranks = ends - (counts - 1) / 2.0
    ranks = mean_ranks[inverse]
    m = len(unknown)
    u_statistic = ranks[len(known) :].sum() - m * (m + 1) / 2.0
    return float(u_statistic / (len(known) * m))


def compressed_bits(images: object) -> np.ndarray:
    """Each image's length in bits after lossless compression: a measure of complexity.

    Pixels in ``[0, 1]`` are rounded to 8-bit grey levels (the images' stored form) and
    compressed with DEFLATE at its strongest level (``zlib``, the compressor inside PNG).
    A plain image (a thin digit on black) compresses to few bits, a textured one to many.
    Serrà et al. [2] subtract this length from a model's negative log-likelihood in bits,
    so that an input is flagged for being less likely than its complexity explains.

    Args:
        images: Shape ``(n, ...)``, values in ``[0, 1]``.

    Returns:
        Bits per image, float64, shape ``(n,)`` (the format's fixed overhead of 48 bits
        included: it shifts every image alike).
    """
    x = as_features(images, "images")
    if x.min() < 0.0 or x.max() > 1.0:
        raise ValueError(f"images must lie in [0, 1]; got values from {x.min():g} to {x.max():g}.")
    grey = np.round(x * 255.0).astype(np.uint8)
    return np.array([8.0 * len(zlib.compress(row.tobytes(), 9)) for row in grey])
