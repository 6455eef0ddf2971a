r"""How good are generated samples? Distances between sets of features, offline.

A generative model's samples are compared with real images in the feature space of a
network (for the course, a Fashion-MNIST classifier that the package trains): each
image becomes a row of features, and two sets of rows are compared.

* :func:`frechet_distance` fits one Gaussian to each set and returns the squared
  2-Wasserstein (Fréchet) distance between the two [1]:

  .. math:: d^2 = \lVert \mu_a - \mu_b \rVert^2
            + \operatorname{tr}\big(\Sigma_a + \Sigma_b
            - 2\,(\Sigma_a^{1/2} \Sigma_b \Sigma_a^{1/2})^{1/2}\big).

  With Inception-v3 features this is the FID of Heusel et al. [2]; with other features
  it is another number, not comparable with published FIDs.
* :func:`precision_recall` estimates how much of the generated set lies where the real
  data lies (*precision*) and how much of the real data the generated set covers
  (*recall*), from balls around each point reaching its ``k``-th nearest neighbour in
  its own set (Kynkäänniemi et al. [3]).

References:
    1. D. C. Dowson and B. V. Landau. The Fréchet distance between multivariate normal
       distributions. *Journal of Multivariate Analysis*, 12(3):450-455, 1982.
    2. M. Heusel, H. Ramsauer, T. Unterthiner, B. Nessler and S. Hochreiter. GANs
       trained by a two time-scale update rule converge to a local Nash equilibrium.
       *NeurIPS*, 2017.
    3. T. Kynkäänniemi, T. Karras, S. Laine, J. Lehtinen and T. Aila. Improved precision
       and recall metric for assessing generative models. *NeurIPS*, 2019.
"""

from __future__ import annotations

import numpy as np

from vaebook.checks import as_features, check_positive_int
from vaebook.retrieval import nearest_neighbours

__all__ = ["frechet_distance", "gaussian_fit", "precision_recall"]


def gaussian_fit(features: object, name: str = "features") -> tuple[np.ndarray, np.ndarray]:
    """The mean and covariance of a set of feature rows, in float64.

    Args:
        features: Shape ``(n, d)`` (each row flattened), finite, with ``n > d``: fewer
            rows than features leave the covariance singular and the distance
            meaningless.
        name: The argument's name, for messages.

    Returns:
        ``(mean, covariance)``, shapes ``(d,)`` and ``(d, d)`` (unbiased, ``n - 1``).

    Raises:
        ValueError: If the rows are not finite numbers or are not more than the features.
    """
    rows = as_features(features, name)
    count, dim = rows.shape
    if count <= dim:
        raise ValueError(
            f"{name} has {count} rows of {dim} features: a covariance needs more rows "
            f"than features (more than {dim} samples), or it is singular."
        )
    return rows.mean(axis=0), np.cov(rows, rowvar=False)


def _psd_sqrt(matrix: np.ndarray) -> np.ndarray:
    """The symmetric square root of a symmetric positive semi-definite matrix."""
    values, vectors = np.linalg.eigh(matrix)
    values = np.clip(values, 0.0, None)  # rounding can leave tiny negative values
    return (vectors * np.sqrt(values)) @ vectors.T


def frechet_distance(features_a: object, features_b: object) -> float:
    r"""The Fréchet distance between Gaussians fitted to two sets of features.

    Computed stably through symmetric matrices only:
    :math:`\operatorname{tr}(\Sigma_a \Sigma_b)^{1/2}
    = \operatorname{tr}(\Sigma_a^{1/2} \Sigma_b \Sigma_a^{1/2})^{1/2}`, with both
    square roots from symmetric eigendecompositions.

    Args:
        features_a: Shape ``(n_a, d)``, e.g. a classifier's features of real images.
        features_b: Shape ``(n_b, d)``, e.g. the same features of generated images.

    Returns:
        The squared Fréchet distance, ``>= 0`` (0 for identical sets).

    Raises:
        ValueError: If the sets have different feature sizes, too few rows, or values
            that are not finite numbers.

    Example:
        >>> generator = np.random.default_rng(0)
        >>> a = generator.normal(size=(5000, 2))
        >>> round(frechet_distance(a, a + [3.0, 4.0]), 6)  # the means are 5 apart
        25.0
    """
    mean_a, cov_a = gaussian_fit(features_a, "features_a")
    mean_b, cov_b = gaussian_fit(features_b, "features_b")
    if mean_a.shape != mean_b.shape:
        raise ValueError(
            f"features_a has {mean_a.size} features per row but features_b has {mean_b.size}."
        )
    root_a = _psd_sqrt(cov_a)
    middle = root_a @ cov_b @ root_a
    cross = np.sqrt(np.clip(np.linalg.eigvalsh((middle + middle.T) / 2), 0.0, None)).sum()
    distance = np.sum((mean_a - mean_b) ** 2) + np.trace(cov_a) + np.trace(cov_b) - 2 * cross
    return float(max(distance, 0.0))


def precision_recall(real: object, generated: object, k: int = 3) -> dict[str, float]:
    """Precision and recall of a generated set against a real one (Kynkäänniemi et al.).

    Each real point gets a ball reaching its ``k``-th nearest other real point; the
    union of the balls estimates where the real data lies. *Precision* is the fraction
    of generated points inside some real ball; *recall*, the same with the roles
    swapped: the fraction of real points inside some generated ball. A model that draws
    only a few good images has high precision and low recall; one that draws blurred
    averages of everything, the reverse.

    Args:
        real: Shape ``(n, d)``.
        generated: Shape ``(m, d)``.
        k: The neighbour that sets each ball's radius; ``k`` must be below both ``n``
            and ``m``.

    Returns:
        ``{"precision": ..., "recall": ...}``, fractions in ``[0, 1]``.

    Raises:
        ValueError: If the sets differ in feature size, hold non-finite values, or have
            no more than ``k`` rows.

    Example:
        >>> generator = np.random.default_rng(0)
        >>> real = generator.normal(size=(500, 2))
        >>> scores = precision_recall(real, real[:250])  # half of the real points
        >>> scores["precision"], scores["recall"] > 0.5
        (1.0, True)
    """
    real = as_features(real, "real")
    generated = as_features(generated, "generated")
    k = check_positive_int(k, "k")
    if real.shape[1] != generated.shape[1]:
        raise ValueError(
            f"real has {real.shape[1]} features per row but generated has {generated.shape[1]}."
        )
    for name, rows in (("real", real), ("generated", generated)):
        if len(rows) <= k:
            raise ValueError(f"{name} has {len(rows)} rows; k = {k} needs more than {k}.")
    return {
        "precision": _coverage(real, generated, k),
        "recall": _coverage(generated, real, k),
    }


def _coverage(reference: np.ndarray, queries: np.ndarray, k: int) -> float:
    """The fraction of queries inside a ball around some reference point."""
    own = nearest_neighbours(reference, reference, k=k, exclude_self=True)[:, -1]
    radii = np.linalg.norm(reference - reference[own], axis=1)  # (n,)
    inside = np.zeros(len(queries), dtype=bool)
    # In blocks of queries, so that the distance matrix stays small.
    block = max(1, 20_000_000 // len(reference))
    for first in range(0, len(queries), block):
        part = queries[first : first + block]
        squared = (
            np.sum(part**2, axis=1)[:, None]
            - 2 * part @ reference.T
            + np.sum(reference**2, axis=1)[None, :]
        )
        inside[first : first + block] = np.any(squared <= radii[None, :] ** 2, axis=1)
    return float(inside.mean())
