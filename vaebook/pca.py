"""Principal component analysis, the linear baseline of chapter 1.

PCA is the best *linear* autoencoder: among all encoders ``z = W^T (x - mean)`` and
decoders ``x_hat = mean + W z`` with ``k`` columns in ``W``, the top ``k`` right singular
vectors of the centred data matrix minimise the summed squared reconstruction error
(the Eckart-Young theorem). Chapter 1 writes it by hand with an SVD and checks it
against this class, which takes the other classical route: the eigendecomposition of
the covariance matrix (faster for many images of few pixels, and an independent check).
"""

from __future__ import annotations

import numpy as np

from vaebook.checks import as_images, check_positive_int

__all__ = ["PCA"]


class PCA:
    """PCA fitted by an eigendecomposition of the data's covariance matrix.

    Args:
        num_components: Length ``k`` of the code.

    Attributes:
        mean: Mean image, shape ``(pixels,)``, after :meth:`fit`.
        components: Principal directions as rows, shape ``(k, pixels)``.
        explained_variance: Variance of the data along each direction, shape ``(k,)``.

    Example:
        >>> pca = PCA(30).fit(x_train)  # doctest: +SKIP
        >>> x_hat = pca.reconstruct(x_test)  # doctest: +SKIP
    """

    def __init__(self, num_components: int) -> None:
        self.num_components = check_positive_int(num_components, "num_components")
        self.mean: np.ndarray | None = None
        self.components: np.ndarray | None = None
        self.explained_variance: np.ndarray | None = None
        self._image_shape: tuple[int, ...] | None = None

    def fit(self, x: np.ndarray) -> PCA:
        """Fits the mean and the principal directions to images ``(n, ...)``.

        Computed in float64, so the result does not depend on float32 round-off.
        """
        x = as_images(x, "x")
        flat = x.reshape(len(x), -1).astype(np.float64)  # (n, pixels)
        if self.num_components > min(flat.shape):
            raise ValueError(
                f"num_components={self.num_components} exceeds min(n, pixels)={min(flat.shape)}."
            )
        self._image_shape = x.shape[1:]
        self.mean = flat.mean(axis=0)
        centred = flat - self.mean
        covariance = centred.T @ centred / (len(flat) - 1)  # (pixels, pixels)
        eigenvalues, eigenvectors = np.linalg.eigh(covariance)  # ascending order
        top = np.argsort(eigenvalues)[::-1][: self.num_components]
        self.components = eigenvectors[:, top].T  # (k, pixels)
        self.explained_variance = eigenvalues[top]
        return self

    def _check_fitted(self, x: np.ndarray, name: str) -> np.ndarray:
        if self.components is None:
            raise RuntimeError("Call fit() before encoding or decoding.")
        return as_images(x, name, image_shape=self._image_shape).astype(np.float64)

    def _num(self, num_components: int | None) -> int:
        if num_components is None:
            return self.num_components
        check_positive_int(num_components, "num_components")
        if num_components > self.num_components:
            raise ValueError(
                f"num_components={num_components} exceeds the {self.num_components} fitted."
            )
        return num_components

    def encode(self, x: np.ndarray, num_components: int | None = None) -> np.ndarray:
        """Projects images ``(n, ...)`` to codes ``(n, k)``.

        Args:
            x: Images of the fitted shape.
            num_components: Use only the first ``k`` directions (default: all fitted);
                one fit thus serves every smaller code size.
        """
        x = self._check_fitted(x, "x")
        k = self._num(num_components)
        return (x.reshape(len(x), -1) - self.mean) @ self.components[:k].T

    def decode(self, z: np.ndarray) -> np.ndarray:
        """Maps codes ``(n, k)`` back to images ``(n, ...)`` (values may leave [0, 1])."""
        if self.components is None:
            raise RuntimeError("Call fit() before encoding or decoding.")
        z = np.asarray(z, dtype=np.float64)
        if z.ndim != 2 or not 1 <= z.shape[1] <= self.num_components:
            raise ValueError(
                f"z has shape {z.shape}; expected (batch, k) with k <= {self.num_components}."
            )
        flat = z @ self.components[: z.shape[1]] + self.mean
        return flat.reshape(len(z), *self._image_shape)

    def reconstruct(self, x: np.ndarray, num_components: int | None = None) -> np.ndarray:
        """Encodes then decodes, as float64, with the first ``num_components`` directions."""
        return self.decode(self.encode(x, num_components))
