import numpy as np
import pytest

from vaebook.pca import PCA


@pytest.fixture
def images():
    rng = np.random.default_rng(0)
    # Low-rank images plus a little noise, in [0, 1].
    basis = rng.random((5, 36))
    codes = rng.random((400, 5))
    flat = codes @ basis / 5 + 0.01 * rng.random((400, 36))
    return (flat / flat.max()).reshape(400, 6, 6).astype(np.float32)


def test_matches_svd_reference(images):
    pca = PCA(3).fit(images)
    flat = images.reshape(400, -1).astype(np.float64)
    centred = flat - flat.mean(axis=0)
    _, singular_values, vt = np.linalg.svd(centred, full_matrices=False)
    reference = (centred @ vt[:3].T @ vt[:3] + flat.mean(axis=0)).reshape(images.shape)
    np.testing.assert_allclose(pca.reconstruct(images), reference, atol=1e-8)
    np.testing.assert_allclose(pca.explained_variance, singular_values[:3] ** 2 / 399, rtol=1e-8)
    np.testing.assert_allclose(pca.components @ pca.components.T, np.eye(3), atol=1e-10)


def test_fewer_components_equal_a_smaller_fit(images):
    big = PCA(5).fit(images)
    small = PCA(2).fit(images)
    np.testing.assert_allclose(big.reconstruct(images, 2), small.reconstruct(images), atol=1e-8)


def test_error_falls_with_more_components(images):
    pca = PCA(6).fit(images)
    errors = [np.square(images - pca.reconstruct(images, k)).sum() for k in range(1, 7)]
    assert all(a > b for a, b in zip(errors, errors[1:]))


def test_bad_use_is_rejected(images):
    with pytest.raises(RuntimeError, match="fit"):
        PCA(2).encode(images)
    pca = PCA(2).fit(images)
    with pytest.raises(ValueError, match="expected"):
        pca.encode(images.reshape(400, 36))
    with pytest.raises(ValueError, match="exceeds"):
        pca.reconstruct(images, 3)
    with pytest.raises(ValueError, match="positive integer"):
        PCA(0)
    with pytest.raises(ValueError, match="NaN"):
        PCA(2).fit(np.full((3, 2, 2), np.nan, np.float32))
