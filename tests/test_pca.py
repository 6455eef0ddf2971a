import numpy as np
import pytest

from vaebook.pca import PCA, LogisticPCA


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


def _bernoulli_nll(x, p):
    p = np.clip(p, 1e-7, 1 - 1e-7)
    return -np.sum(x * np.log(p) + (1 - x) * np.log(1 - p), axis=(1, 2)).mean()


@pytest.fixture(scope="module")
def small_fit():
    generator = np.random.default_rng(0)
    # Grey images with a low-rank structure in their logits, 6 x 6 pixels.
    codes = generator.normal(size=(60, 2))
    loadings = generator.normal(size=(2, 36)) * 2.0
    probabilities = 1 / (1 + np.exp(-(codes @ loadings - 0.5)))
    images = probabilities.reshape(60, 6, 6).astype(np.float32)
    return images, LogisticPCA(2, steps=600, encode_steps=3000).fit(images[:50])


def test_logistic_pca_objective_is_the_mean_cross_entropy(small_fit):
    images, model = small_fit
    x = images[:50]
    # The history's last value is the objective of the fitted parameters, by hand.
    by_hand = _bernoulli_nll(x, model.decode(model.codes))
    assert by_hand == pytest.approx(model.history[-1], rel=1e-3)
    # It beats PCA on its own objective, the Bernoulli likelihood of the pixels.
    pca = PCA(2).fit(x)
    assert model.history[-1] < _bernoulli_nll(x, pca.reconstruct(x))
    assert model.history[-1] < model.history[0]


def test_logistic_pca_encoding_reaches_newtons_optimum(small_fit):
    images, model = small_fit
    x = images[50:].reshape(10, -1).astype(np.float64)
    codes = model.encode(images[50:])
    v, b = model.loadings.astype(np.float64), model.bias.astype(np.float64)
    for image, code in zip(x, codes):
        # Each code solves a logistic regression with v as the design: Newton's
        # method from 0 reaches its optimum to machine precision.
        u = np.zeros(2)
        for _ in range(50):
            p = 1 / (1 + np.exp(-(b + v @ u)))
            gradient = v.T @ (p - image)
            hessian = v.T @ (v * (p * (1 - p))[:, None])
            u -= np.linalg.solve(hessian, gradient)
        np.testing.assert_allclose(code, u, atol=2e-3)


def test_logistic_pca_reconstructions_are_probabilities_and_bad_use_is_named(small_fit):
    images, model = small_fit
    out = model.reconstruct(images[50:])
    assert out.shape == (10, 6, 6) and np.all((out > 0) & (out < 1))
    with pytest.raises(RuntimeError, match="Call fit"):
        LogisticPCA(2).encode(images)
    with pytest.raises(ValueError, match="exceeds min"):
        LogisticPCA(40).fit(images)
    with pytest.raises(ValueError, match="codes has shape"):
        model.decode(np.zeros((3, 5)))
    with pytest.raises(ValueError, match="x has values in"):
        model.encode(images * 255)
