"""Sample-quality measures against independent references.

The Fréchet distance is checked against its closed form where the covariances are
diagonal (built so that the sample moments are exactly the chosen ones), against
SciPy's general matrix square root, and for its basic properties; precision and recall
against a brute-force version written here, and on sets whose answer is known.
"""

import numpy as np
import pytest

from vaebook import quality


def exact_moments(count, mean, scales, seed):
    """Rows whose sample mean is `mean` and sample covariance diag(scales**2)."""
    generator = np.random.default_rng(seed)
    x = generator.normal(size=(count, len(mean)))
    x -= x.mean(axis=0)
    # Whiten with the sample covariance (n - 1 convention, as np.cov).
    cholesky = np.linalg.cholesky(np.cov(x, rowvar=False))
    x = np.linalg.solve(cholesky, x.T).T
    return x * scales + mean


def test_frechet_distance_matches_the_closed_form_for_diagonal_covariances():
    mean_a, mean_b = np.array([0.0, 1.0, -2.0]), np.array([0.5, 1.0, 0.0])
    scales_a, scales_b = np.array([1.0, 2.0, 0.5]), np.array([3.0, 0.5, 0.5])
    a = exact_moments(400, mean_a, scales_a, seed=0)
    b = exact_moments(300, mean_b, scales_b, seed=1)
    expected = np.sum((mean_a - mean_b) ** 2) + np.sum((scales_a - scales_b) ** 2)
    assert quality.frechet_distance(a, b) == pytest.approx(expected, rel=1e-9)
    assert quality.frechet_distance(b, a) == pytest.approx(expected, rel=1e-9)
    assert quality.frechet_distance(a, a) == pytest.approx(0.0, abs=1e-9)


def test_frechet_distance_matches_scipy_for_general_covariances():
    linalg = pytest.importorskip("scipy.linalg")
    generator = np.random.default_rng(2)
    a = generator.normal(size=(200, 5)) @ generator.normal(size=(5, 5))
    b = generator.normal(size=(150, 5)) @ generator.normal(size=(5, 5)) + 1.0
    mean_a, cov_a = a.mean(axis=0), np.cov(a, rowvar=False)
    mean_b, cov_b = b.mean(axis=0), np.cov(b, rowvar=False)
    cross = np.real(linalg.sqrtm(cov_a @ cov_b))
    expected = np.sum((mean_a - mean_b) ** 2) + np.trace(cov_a + cov_b - 2 * cross)
    assert quality.frechet_distance(a, b) == pytest.approx(expected, rel=1e-8)


def test_frechet_distance_refuses_what_it_cannot_measure():
    generator = np.random.default_rng(3)
    with pytest.raises(ValueError, match="needs more rows than features"):
        quality.frechet_distance(generator.normal(size=(10, 10)), generator.normal(size=(50, 10)))
    with pytest.raises(ValueError, match="features_a has 3 features per row"):
        quality.frechet_distance(generator.normal(size=(50, 3)), generator.normal(size=(50, 4)))
    bad = generator.normal(size=(50, 3))
    bad[4, 1] = np.nan
    with pytest.raises(ValueError, match="features_b holds NaN"):
        quality.frechet_distance(generator.normal(size=(50, 3)), bad)


def brute_force_coverage(reference, queries, k):
    distances = np.linalg.norm(reference[:, None] - reference[None], axis=-1)
    np.fill_diagonal(distances, np.inf)
    radii = np.sort(distances, axis=1)[:, k - 1]
    to_queries = np.linalg.norm(queries[:, None] - reference[None], axis=-1)
    return float(np.mean(np.any(to_queries <= radii[None], axis=1)))


def test_precision_recall_match_a_brute_force_version():
    generator = np.random.default_rng(4)
    real = generator.normal(size=(300, 4))
    generated = generator.normal(size=(200, 4)) * 0.7 + 0.5
    for k in (1, 3, 5):
        found = quality.precision_recall(real, generated, k=k)
        assert found["precision"] == pytest.approx(brute_force_coverage(real, generated, k))
        assert found["recall"] == pytest.approx(brute_force_coverage(generated, real, k))


def test_precision_recall_on_sets_with_known_answers():
    generator = np.random.default_rng(5)
    real = generator.normal(size=(400, 2))
    assert quality.precision_recall(real, real.copy()) == {"precision": 1.0, "recall": 1.0}
    far = quality.precision_recall(real, real + 100.0)
    assert far == {"precision": 0.0, "recall": 0.0}
    # A generator that draws only near one real point: precise, covering little.
    narrow = real[0] + 0.01 * generator.normal(size=(50, 2))
    found = quality.precision_recall(real, narrow)
    assert found["precision"] == 1.0 and found["recall"] < 0.05
    with pytest.raises(ValueError, match="generated has 3 rows; k = 3 needs more than 3"):
        quality.precision_recall(real, narrow[:3])
