r"""Principal component analysis, the linear baseline of chapter 1, and its logistic version.

PCA is the best *linear* autoencoder: among all encoders ``z = W^T (x - mean)`` and
decoders ``x_hat = mean + W z`` with ``k`` columns in ``W``, the top ``k`` right singular
vectors of the centred data matrix minimise the summed squared reconstruction error
(the Eckart-Young theorem). Chapter 1 writes it by hand with an SVD and checks it
against this class, which takes the other classical route: the eigendecomposition of
the covariance matrix (faster for many images of few pixels, and an independent check).

*Logistic PCA* [1] (逻辑主成分分析) keeps PCA's linear code but reads each pixel as the
probability of a binary pixel: image :math:`n`'s logits are
:math:`\theta_n = \mu + V u_n`, a bias plus a linear map of its code :math:`u_n`, and
the fit maximises the Bernoulli log-likelihood of the pixels instead of minimising the
squared error, so the reconstructions :math:`\sigma(\theta_n)` stay in ``[0, 1]``.
There is no closed form: :class:`LogisticPCA` fits :math:`\mu`, :math:`V` and the
training codes by gradient descent, and encodes a new image by fitting its code with
:math:`\mu` and :math:`V` fixed (a logistic regression, convex in the code).

References:
    1. A. I. Schein, L. K. Saul and L. H. Ungar. A generalized linear model for
       principal component analysis of binary data. *AISTATS*, 2003.
"""

from __future__ import annotations

import numpy as np
import tensorflow as tf

from vaebook.checks import as_images, check_positive, check_positive_int

__all__ = ["PCA", "LogisticPCA"]


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


class LogisticPCA:
    r"""Logistic PCA: a linear code, a Bernoulli likelihood of the pixels.

    The logits of image :math:`n` are :math:`\theta_n = \mu + V u_n`, with a bias
    :math:`\mu` (pixels), loadings :math:`V` (pixels x k) and a code :math:`u_n` (k
    numbers); :meth:`fit` minimises the mean sigmoid cross-entropy of the training
    images over :math:`\mu`, :math:`V` and every training code, by full-batch Adam,
    starting from PCA (the bias at the logits of the mean image, :math:`V` along the
    principal directions, every code at 0), with a step size that decays to a hundredth
    of ``learning_rate`` along a half cosine. The objective is not convex in all three
    together, but it is in each code for fixed :math:`\mu, V`: :meth:`encode` solves
    that problem for new images. Nothing is random, so a fit is reproducible.

    Args:
        num_components: Length ``k`` of the code.
        steps: Adam steps of the fit.
        encode_steps: Adam steps when encoding new images.
        learning_rate: Adam's initial learning rate for both.

    Attributes:
        bias: :math:`\mu`, shape ``(pixels,)``, after :meth:`fit`.
        loadings: :math:`V`, shape ``(pixels, k)``.
        codes: The training images' codes :math:`u_n`, shape ``(n, k)``.
        history: The mean cross-entropy (nats per image) after each step of the fit.

    Example:
        >>> lpca = LogisticPCA(30).fit(x_train)  # doctest: +SKIP
        >>> x_hat = lpca.reconstruct(x_test)  # doctest: +SKIP
    """

    def __init__(
        self,
        num_components: int,
        steps: int = 1500,
        encode_steps: int = 500,
        learning_rate: float = 0.05,
    ) -> None:
        self.num_components = check_positive_int(num_components, "num_components")
        self.steps = check_positive_int(steps, "steps")
        self.encode_steps = check_positive_int(encode_steps, "encode_steps")
        self.learning_rate = check_positive(learning_rate, "learning_rate")
        self.bias: np.ndarray | None = None
        self.loadings: np.ndarray | None = None
        self.codes: np.ndarray | None = None
        self.history: list[float] = []
        self._image_shape: tuple[int, ...] | None = None

    def fit(self, x: np.ndarray) -> LogisticPCA:
        """Fits the bias, the loadings and the training codes to images ``(n, ...)``."""
        x = as_images(x, "x")
        flat = x.reshape(len(x), -1).astype(np.float32)  # (n, pixels)
        if self.num_components > min(flat.shape):
            raise ValueError(
                f"num_components={self.num_components} exceeds min(n, pixels)={min(flat.shape)}."
            )
        self._image_shape = x.shape[1:]
        start = PCA(self.num_components).fit(x)
        mean = np.clip(flat.mean(axis=0), 1e-3, 1 - 1e-3)
        bias = tf.Variable(np.log(mean / (1 - mean)).astype(np.float32))  # (pixels,)
        # Along the principal directions; at scale 4 a unit of code moves the logits
        # by a few nats, where the sigmoid is neither flat nor saturated.
        loadings = tf.Variable(4.0 * start.components.T.astype(np.float32))  # (pixels, k)
        codes = tf.Variable(tf.zeros((len(flat), self.num_components)))  # (n, k)
        self.history = self._minimise(flat, codes, [codes, loadings, bias], loadings, bias)
        self.bias, self.loadings, self.codes = bias.numpy(), loadings.numpy(), codes.numpy()
        return self

    def _minimise(
        self,
        flat: np.ndarray,
        codes: tf.Variable,
        variables: list[tf.Variable],
        loadings: tf.Variable | tf.Tensor,
        bias: tf.Variable | tf.Tensor,
    ) -> list[float]:
        """Full-batch Adam on ``variables``; returns the objective after each step."""
        targets = tf.constant(flat)  # (n, pixels)
        steps = self.steps if len(variables) > 1 else self.encode_steps
        # The step size decays to a hundredth along a half cosine, so that full-batch
        # Adam settles at the end instead of circling the optimum.
        schedule = tf.keras.optimizers.schedules.CosineDecay(self.learning_rate, steps, alpha=0.01)
        optimizer = tf.keras.optimizers.Adam(schedule)

        def objective() -> tf.Tensor:
            logits = bias + tf.matmul(codes, loadings, transpose_b=True)  # (n, pixels)
            per_pixel = tf.nn.sigmoid_cross_entropy_with_logits(labels=targets, logits=logits)
            return tf.reduce_sum(per_pixel) / float(len(flat))

        @tf.function
        def step() -> tf.Tensor:
            with tf.GradientTape() as tape:
                value = objective()
            optimizer.apply_gradients(zip(tape.gradient(value, variables), variables))
            return value

        history = [float(step()) for _ in range(steps)]
        history.append(float(objective()))
        if not np.isfinite(history[-1]):
            raise FloatingPointError(
                f"logistic PCA diverged (objective {history[-1]}); lower learning_rate."
            )
        return history[1:]

    def _check_fitted(self, x: np.ndarray, name: str) -> np.ndarray:
        if self.loadings is None:
            raise RuntimeError("Call fit() before encoding or decoding.")
        x = as_images(x, name, image_shape=self._image_shape)
        return x.reshape(len(x), -1).astype(np.float32)

    def encode(self, x: np.ndarray) -> np.ndarray:
        """The best code of each image for the fitted bias and loadings: ``(n, k)``."""
        flat = self._check_fitted(x, "x")
        codes = tf.Variable(tf.zeros((len(flat), self.num_components)))
        self._minimise(flat, codes, [codes], tf.constant(self.loadings), tf.constant(self.bias))
        return codes.numpy()

    def decode(self, codes: np.ndarray) -> np.ndarray:
        r"""Pixel probabilities :math:`\sigma(\mu + V u)` of codes ``(n, k)``: images."""
        if self.loadings is None:
            raise RuntimeError("Call fit() before encoding or decoding.")
        codes = np.asarray(codes, dtype=np.float64)
        if codes.ndim != 2 or codes.shape[1] != self.num_components:
            raise ValueError(
                f"codes has shape {codes.shape}; expected (batch, {self.num_components})."
            )
        logits = self.bias + codes @ self.loadings.T.astype(np.float64)
        return (1.0 / (1.0 + np.exp(-logits))).reshape(len(codes), *self._image_shape)

    def reconstruct(self, x: np.ndarray) -> np.ndarray:
        """Encodes then decodes images ``(n, ...)``; values in ``(0, 1)``."""
        return self.decode(self.encode(x))
