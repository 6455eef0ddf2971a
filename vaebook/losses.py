r"""Reconstruction losses, the ELBO's KL terms and the metrics the book reports.

Chapter 1 introduces the reconstruction error :math:`\mathrm{dist}(x, \bar x)` and
chapter 2 trains with the Bernoulli loss below.

Every loss and log-density returns **one value per example** (the few helpers for the
continuous Bernoulli's constant and mean, and ``bernoulli_kl``, work elementwise): the
loss is summed over the data axes
(the pixels) and the caller takes the mean over the batch. The data axes are all axes
but the first, or the last ``data_ndim`` axes when that is given, so that a leading
sample axis passes through: logits of shape ``(k, batch, 28, 28)`` against images of
shape ``(batch, 28, 28)`` with ``data_ndim=2`` give ``(k, batch)``.
That convention matters: with a sum over pixels the numbers are per-image
log-likelihoods in nats, which are comparable across papers and, for the VAE of
later chapters, sit on the same scale as the KL term.

**Bernoulli decoder (cross-entropy).** If each pixel :math:`x_i \in [0, 1]` is read as
the probability of a binary pixel and the decoder outputs logits :math:`\ell_i` with
:math:`p_i = \sigma(\ell_i)`, the negative log-likelihood of one image is

.. math::

    \begin{aligned}
    -\log p(x \mid \ell)
    &= -\sum_{i=1}^{D} \big[x_i \log p_i + (1 - x_i) \log(1 - p_i)\big] \\
    &= \sum_{i=1}^{D} \big[\max(\ell_i, 0) - \ell_i x_i
       + \log(1 + e^{-|\ell_i|})\big],
    \end{aligned}

the second form being the overflow-free one that
``tf.nn.sigmoid_cross_entropy_with_logits`` computes [1]. For targets that are not
binary (grey pixels), the cross-entropy cannot reach zero: its minimum over :math:`p`
is the entropy :math:`H(x) = -\sum_i [x_i \log x_i + (1 - x_i)\log(1 - x_i)]`, reached
at :math:`p = x`. :func:`bernoulli_entropy` gives this floor; the gap above it is the
KL divergence between the target and predicted pixel distributions.

**Grey levels need a density.** The Bernoulli cross-entropy of grey pixels is not the
log-likelihood of a normalised distribution over :math:`[0, 1]` (a Bernoulli puts its
mass on 0 and 1 only), so its "NLL" of grey-level images is a loss, not a likelihood.
The *continuous Bernoulli* [3] normalises it:
:math:`p(x \mid \lambda) = C(\lambda)\lambda^x (1-\lambda)^{1-x}` is a density on
:math:`[0, 1]`, and :func:`continuous_bernoulli_reconstruction_loss` is the
cross-entropy minus :math:`\sum_i \log C(\lambda_i)`.

**Squared error.** :math:`\sum_i (x_i - \bar x_i)^2`, the metric of Hinton &
Salakhutdinov [2], who report it per test image (summed over the 784 pixels).

**The ELBO and its KL term** (chapter 4 derives them at length). For a latent-variable
model :math:`p_\theta(x, z) = p(z)\, p_\theta(x \mid z)` and any encoder
:math:`q_\phi(z \mid x)`,

.. math::

    \begin{aligned}
    \log p_\theta(x)
    &= \mathbb E_{q_\phi(z \mid x)}\Big[\log
       \frac{p_\theta(x, z)}{q_\phi(z \mid x)}\Big]
       + D_{KL}\big(q_\phi(z \mid x) \,\|\, p_\theta(z \mid x)\big) \\
    &\ge \mathbb E_{q_\phi(z \mid x)}[\log p_\theta(x \mid z)]
       - D_{KL}\big(q_\phi(z \mid x) \,\|\, p(z)\big)
       = \mathcal L(\theta, \phi; x),
    \end{aligned}

the evidence lower bound [4], since a KL divergence is never negative. Its first term is
minus a reconstruction loss above (Bernoulli, continuous Bernoulli or Gaussian); for a
diagonal Gaussian encoder and :math:`p(z) = \mathcal N(0, I)` the second has the closed
form :func:`gaussian_kl`,
:math:`\tfrac12 \sum_j (\mu_j^2 + \sigma_j^2 - 1 - \log \sigma_j^2)` [4, appendix B]
(:func:`diagonal_gaussian_kl` for any two diagonal Gaussians). Averaging ``k``
importance weights inside the logarithm gives a bound that is never looser in
expectation (equal only where :math:`q` is the exact posterior) and that tends to
:math:`\log p_\theta(x)` as ``k`` grows when the weights are bounded [5];
:func:`importance_weighted_bound` computes it from the log-weights.

References:
    1. TensorFlow, ``tf.nn.sigmoid_cross_entropy_with_logits`` documentation.
    2. G. E. Hinton and R. R. Salakhutdinov. Reducing the dimensionality of data with
       neural networks. *Science*, 313(5786):504-507, 2006.
    3. G. Loaiza-Ganem and J. P. Cunningham. The continuous Bernoulli: fixing a
       pervasive error in variational autoencoders. *NeurIPS*, 2019.
    4. D. P. Kingma and M. Welling. Auto-encoding variational Bayes. *ICLR*, 2014.
    5. Y. Burda, R. Grosse and R. Salakhutdinov. Importance weighted autoencoders.
       *ICLR*, 2016.
"""

from __future__ import annotations

import math

import tensorflow as tf

from vaebook.checks import (
    check_non_negative,
    check_positive_int,
    check_tensor_pair,
    check_unit_interval,
)

__all__ = [
    "bernoulli_entropy",
    "bernoulli_kl",
    "continuous_bernoulli_log_normalizer",
    "continuous_bernoulli_mean",
    "continuous_bernoulli_reconstruction_loss",
    "bernoulli_log_likelihood",
    "bernoulli_reconstruction_loss",
    "CyclicalKL",
    "KLWarmup",
    "diagonal_gaussian_kl",
    "free_bits_kl",
    "gaussian_kl",
    "gaussian_kl_per_unit",
    "kl_schedule_from_config",
    "gaussian_log_density",
    "gaussian_reconstruction_loss",
    "importance_weighted_bound",
    "squared_error",
]

LOG_2PI = 1.8378770664093453  # log(2 * pi)


def _cast_parameter(value: float | tf.Tensor, dtype: tf.DType) -> tf.Tensor:
    """Casts a parameter to ``dtype``; a Python number is not rounded to float32 first.

    ``tf.cast(0.9, tf.float64)`` converts 0.9 to float32 before casting (0.8999999761...),
    which would make float64 losses use float32-rounded parameters.
    """
    if isinstance(value, (int, float)):
        return tf.constant(value, dtype)
    return tf.cast(value, dtype)


def _sum_data_axes(tensor: tf.Tensor, data_ndim: int | None, x: tf.Tensor) -> tf.Tensor:
    """Sums over the data axes: the last ``data_ndim``, by default all of ``x``'s but the first.

    The default is taken from the target ``x`` (which has one batch axis), not from
    ``tensor``, so that a model output with extra leading sample axes keeps them.
    """
    rank = tensor.shape.rank
    if data_ndim is None:
        data_ndim = x.shape.rank - 1
    if not 1 <= data_ndim < rank:
        raise ValueError(
            f"data_ndim={data_ndim} must be at least 1 and leave a batch axis; "
            f"the tensor has shape {tensor.shape}."
        )
    return tf.reduce_sum(tensor, axis=list(range(rank - data_ndim, rank)))


def bernoulli_reconstruction_loss(
    x: tf.Tensor, logits: tf.Tensor, data_ndim: int | None = None
) -> tf.Tensor:
    """Sigmoid cross-entropy between targets and decoder logits, summed per example.

    Args:
        x: Targets in ``[0, 1]``, shape ``(batch, ...)``.
        logits: Decoder outputs before the sigmoid, the shape of ``x`` or with extra
            leading axes (e.g. ``(k, batch, ...)`` for ``k`` codes per image).
        data_ndim: Number of trailing data axes summed over; ``None`` sums all axes of
            ``x`` but the first.

    Returns:
        Negative log-likelihood of each example in nats, shape ``(batch,)`` (or the
        leading axes of ``logits``, e.g. ``(k, batch)``).

    Raises:
        ValueError: On mismatched shapes, non-float dtypes, NaN or infinity, or (when
            executing eagerly) targets outside ``[0, 1]``.

    Example:
        >>> x = tf.constant([[0.0, 1.0]])
        >>> logits = tf.constant([[0.0, 0.0]])
        >>> float(bernoulli_reconstruction_loss(x, logits)[0])  # 2 log 2
        1.3862943649291992
    """
    x = tf.convert_to_tensor(x)
    logits = tf.convert_to_tensor(logits)
    check_tensor_pair(x, logits, "x", "logits")
    check_unit_interval(x, "x")
    labels = tf.cast(x, logits.dtype) + tf.zeros_like(logits)  # broadcast to logits' shape
    per_pixel = tf.nn.sigmoid_cross_entropy_with_logits(labels=labels, logits=logits)
    return _sum_data_axes(per_pixel, data_ndim, x)


def squared_error(x: tf.Tensor, x_hat: tf.Tensor, data_ndim: int | None = None) -> tf.Tensor:
    """Squared error summed over each example's pixels.

    Args:
        x: Targets, shape ``(batch, ...)``.
        x_hat: Reconstructions (pixel values, not logits), the shape of ``x`` or with
            extra leading axes.
        data_ndim: Number of trailing data axes summed over; ``None`` sums all axes of
            ``x`` but the first.

    Returns:
        ``sum((x - x_hat) ** 2)`` per example, shape ``(batch,)``.

    Raises:
        ValueError: On mismatched shapes, non-float dtypes, or NaN or infinity.
    """
    x = tf.convert_to_tensor(x)
    x_hat = tf.convert_to_tensor(x_hat)
    check_tensor_pair(x, x_hat, "x", "x_hat")
    difference = tf.cast(x, x_hat.dtype) - x_hat
    return _sum_data_axes(tf.square(difference), data_ndim, x)


def bernoulli_entropy(x: tf.Tensor, data_ndim: int | None = None) -> tf.Tensor:
    """Entropy of independent Bernoulli pixels with means ``x``, summed per example.

    This is the smallest value :func:`bernoulli_reconstruction_loss` can take for the
    targets ``x`` (reached when the decoder predicts ``x`` exactly), so it is the floor
    against which the cross-entropy of grey-level images is judged.

    Args:
        x: Pixel intensities in ``[0, 1]``, shape ``(batch, ...)``.
        data_ndim: Number of trailing data axes summed over; ``None`` sums all axes of
            ``x`` but the first.

    Returns:
        Entropy of each example in nats, shape ``(batch,)``; zero for binary images.
    """
    x = tf.convert_to_tensor(x)
    check_tensor_pair(x, x, "x", "x")
    check_unit_interval(x, "x")
    # x log x is taken as 0 at x = 0, its limit.
    inside = x * tf.math.log(tf.where(x > 0, x, 1.0))
    outside = (1.0 - x) * tf.math.log(tf.where(x < 1, 1.0 - x, 1.0))
    return -_sum_data_axes(inside + outside, data_ndim, x)


def bernoulli_log_likelihood(
    x: tf.Tensor, logits: tf.Tensor, data_ndim: int | None = None
) -> tf.Tensor:
    """``log p(x | logits)`` of independent Bernoulli pixels, summed per example.

    The negative of :func:`bernoulli_reconstruction_loss`, with the same checks.
    """
    return -bernoulli_reconstruction_loss(x, logits, data_ndim)


def _float_logits(logits: object) -> tf.Tensor:
    """Logits as a float tensor (Python numbers become float32), or a clear error."""
    if isinstance(logits, (int, float)):
        logits = float(logits)
    logits = tf.convert_to_tensor(logits)
    if not logits.dtype.is_floating:
        raise ValueError(f"logits have dtype {logits.dtype.name}; expected a float tensor.")
    return logits


def continuous_bernoulli_log_normalizer(logits: tf.Tensor) -> tf.Tensor:
    r"""Log of the continuous Bernoulli's normalising constant, per pixel, from logits.

    The continuous Bernoulli (Loaiza-Ganem & Cunningham, 2019) [3] is the density
    :math:`p(x \mid \lambda) = C(\lambda)\, \lambda^x (1 - \lambda)^{1 - x}` on
    :math:`x \in [0, 1]`, with

    .. math:: C(\lambda) = \frac{2 \operatorname{artanh}(1 - 2\lambda)}{1 - 2\lambda},
              \qquad C(\tfrac12) = 2 .

    With :math:`\lambda = \sigma(\ell)`, :math:`1 - 2\lambda = -\tanh(\ell/2)` and
    :math:`\operatorname{artanh}(1 - 2\lambda) = -\ell/2`, so
    :math:`C = \ell / \tanh(\ell/2)`: no cancellation except near :math:`\ell = 0`,
    where the series :math:`\log C = \log 2 + u^2/3 - 7u^4/90 + O(u^6)`,
    :math:`u = \ell/2`, is used instead.

    Args:
        logits: Decoder logits :math:`\ell`, any shape.

    Returns:
        :math:`\log C(\sigma(\ell))`, same shape; ``log 2`` at ``logits = 0``.
    """
    logits = _float_logits(logits)
    half = 0.5 * logits
    small = tf.abs(half) < 1e-2
    safe = tf.where(small, tf.ones_like(half), half)  # keeps the unused branch finite
    exact = tf.math.log(tf.abs(2.0 * safe)) - tf.math.log(tf.abs(tf.tanh(safe)))
    series = math.log(2.0) + tf.square(half) / 3.0 - 7.0 * tf.square(tf.square(half)) / 90.0
    return tf.where(small, series, exact)


def continuous_bernoulli_reconstruction_loss(
    x: tf.Tensor, logits: tf.Tensor, data_ndim: int | None = None
) -> tf.Tensor:
    """Negative log-likelihood of grey-level pixels under a continuous Bernoulli decoder.

    Unlike :func:`bernoulli_reconstruction_loss` on grey levels, this is a proper
    density on ``[0, 1]`` per pixel, so its value is a negative log-likelihood in nats
    (it can be negative: densities may exceed 1). It is the Bernoulli cross-entropy
    minus the log normalising constant of each pixel
    (:func:`continuous_bernoulli_log_normalizer`).

    Args:
        x: Targets in ``[0, 1]``, shape ``(batch, ...)``.
        logits: Decoder logits, the shape of ``x`` or with extra leading axes.
        data_ndim: Number of trailing data axes summed over; ``None`` sums all axes of
            ``x`` but the first.

    Returns:
        Shape ``(batch,)`` (or the leading axes of ``logits``), in nats.
    """
    x = tf.convert_to_tensor(x)
    logits = tf.convert_to_tensor(logits)
    cross_entropy = bernoulli_reconstruction_loss(x, logits, data_ndim)
    log_normalizer = continuous_bernoulli_log_normalizer(logits)
    return cross_entropy - _sum_data_axes(log_normalizer, data_ndim, x)


def continuous_bernoulli_mean(logits: tf.Tensor) -> tf.Tensor:
    r"""Mean of the continuous Bernoulli with parameter :math:`\sigma(\ell)`.

    .. math:: \mathbb E[x] = \frac{\lambda}{2\lambda - 1}
              + \frac{1}{2 \operatorname{artanh}(1 - 2\lambda)}
              = \frac{\sigma(\ell)}{\tanh(\ell/2)} - \frac{1}{\ell},

    which is not :math:`\lambda`: a decoder of this family reconstructs with this mean.
    Near :math:`\ell = 0` the series :math:`\tfrac12 + \ell/12 - \ell^3/720` is used.

    Args:
        logits: Decoder logits, any shape.

    Returns:
        Means in ``(0, 1)``, same shape.
    """
    logits = _float_logits(logits)
    small = tf.abs(logits) < 1e-2
    safe = tf.where(small, tf.ones_like(logits), logits)
    exact = tf.sigmoid(safe) / tf.tanh(0.5 * safe) - 1.0 / safe
    series = 0.5 + logits / 12.0 - logits**3 / 720.0
    return tf.where(small, series, exact)


def bernoulli_kl(rho: float | tf.Tensor, rho_hat: tf.Tensor) -> tf.Tensor:
    r"""KL divergence :math:`D_{KL}(\mathrm{Bernoulli}(\rho) \,\|\, \mathrm{Bernoulli}(\hat\rho))`.

    Elementwise, no reduction: the sparsity penalty of chapter 3's sparse autoencoder
    sums it over code units.

    .. math:: \rho \log\frac{\rho}{\hat\rho} + (1 - \rho)\log\frac{1 - \rho}{1 - \hat\rho}

    Args:
        rho: The target rate, in ``(0, 1)``.
        rho_hat: Observed rates, any shape, in ``(0, 1)``; clipped to
            ``[1e-7, 1 - 1e-7]`` so that a dead or saturated unit gives a large finite
            value instead of infinity.

    Returns:
        The divergence of each entry of ``rho_hat``, in nats.
    """
    rho_hat = tf.clip_by_value(tf.convert_to_tensor(rho_hat), 1e-7, 1.0 - 1e-7)
    rho = _cast_parameter(rho, rho_hat.dtype)
    return rho * tf.math.log(rho / rho_hat) + (1.0 - rho) * tf.math.log(
        (1.0 - rho) / (1.0 - rho_hat)
    )


def gaussian_log_density(
    x: tf.Tensor, mean: tf.Tensor, log_var: tf.Tensor, data_ndim: int | None = None
) -> tf.Tensor:
    r"""Log density of a diagonal Gaussian, summed over the data axes.

    .. math:: \log \mathcal N(x; \mu, \operatorname{diag}\sigma^2)
              = -\tfrac12 \sum_i \big[\log 2\pi + \log\sigma_i^2
                + (x_i - \mu_i)^2 / \sigma_i^2\big]

    Args:
        x: Points, shape ``(batch, ...)``.
        mean: Means, broadcastable to ``x``.
        log_var: Log-variances (not variances: exponentiating inside keeps the
            variance positive and the gradient stable), broadcastable to ``x``.
        data_ndim: Number of trailing axes summed over (1 for codes of shape
            ``(k, batch, latent_dim)``); ``None`` sums all axes but the first.

    Returns:
        Shape ``(batch,)``, or the leading axes, e.g. ``(k, batch)``.
    """
    x = tf.convert_to_tensor(x)
    mean = _cast_parameter(mean, x.dtype)
    log_var = _cast_parameter(log_var, x.dtype)
    # A zero difference counts zero even where exp(-log_var) overflows float32 (from a
    # log-variance of about -88 on): a plain product would give 0 * inf = NaN.
    per_dim = LOG_2PI + log_var + tf.math.multiply_no_nan(tf.exp(-log_var), tf.square(x - mean))
    per_dim = per_dim + tf.zeros_like(x)  # Broadcast to x's shape before summing.
    return -0.5 * _sum_data_axes(per_dim, data_ndim, x)


def gaussian_reconstruction_loss(
    x: tf.Tensor, mean: tf.Tensor, log_var: tf.Tensor, data_ndim: int | None = None
) -> tf.Tensor:
    """Negative log-likelihood of ``x`` under a Gaussian decoder, summed per example.

    With a fixed variance this is the squared error scaled by ``1 / (2 sigma^2)`` plus a
    constant: the probabilistic reading of the squared-error loss.

    Args:
        x: Targets, shape ``(batch, ...)``.
        mean: The decoder's means, the shape of ``x`` or with extra leading axes.
        log_var: Log-variance of each pixel, broadcastable to ``x`` (often a scalar).
        data_ndim: Number of trailing data axes summed over; ``None`` sums all axes of
            ``x`` but the first.

    Returns:
        Shape ``(batch,)`` (or the leading axes of ``mean``), in nats.
    """
    x = tf.convert_to_tensor(x)
    mean = tf.convert_to_tensor(mean)
    check_tensor_pair(x, mean, "x", "mean")
    if data_ndim is None:
        data_ndim = x.shape.rank - 1  # x's axes but the batch axis
    return -gaussian_log_density(
        tf.cast(x, mean.dtype) + tf.zeros_like(mean), mean, log_var, data_ndim
    )


def diagonal_gaussian_kl(
    mean_q: tf.Tensor, log_var_q: tf.Tensor, mean_p: tf.Tensor, log_var_p: tf.Tensor
) -> tf.Tensor:
    r"""KL divergence between two diagonal Gaussians, summed over the last axis.

    .. math:: D_{KL}(q \,\|\, p) = \tfrac12 \sum_j \Big[\log\frac{\sigma_{p,j}^2}
              {\sigma_{q,j}^2} + \frac{\sigma_{q,j}^2 + (\mu_{q,j} - \mu_{p,j})^2}
              {\sigma_{p,j}^2} - 1\Big]

    Args:
        mean_q: Means of ``q``, shape ``(batch, latent_dim)``.
        log_var_q: Log-variances of ``q``, same shape.
        mean_p: Means of ``p``, broadcastable.
        log_var_p: Log-variances of ``p``, broadcastable.

    Returns:
        Shape ``(batch,)``, in nats; zero exactly when the two are equal.
    """
    mean_q = tf.convert_to_tensor(mean_q)
    log_var_q = tf.convert_to_tensor(log_var_q)
    check_tensor_pair(mean_q, log_var_q, "mean_q", "log_var_q")
    mean_p = _cast_parameter(mean_p, mean_q.dtype)
    log_var_p = _cast_parameter(log_var_p, mean_q.dtype)
    per_dim = (
        log_var_p
        - log_var_q
        + (tf.exp(log_var_q) + tf.square(mean_q - mean_p)) * tf.exp(-log_var_p)
        - 1.0
    )
    return 0.5 * tf.reduce_sum(per_dim, axis=-1)


def gaussian_kl(z_mean: tf.Tensor, z_log_var: tf.Tensor) -> tf.Tensor:
    r"""KL divergence from ``N(z_mean, diag exp(z_log_var))`` to the prior ``N(0, I)``.

    The VAE's regulariser (chapter 4 derives it):

    .. math:: D_{KL}\big(q(z \mid x) \,\|\, \mathcal N(0, I)\big)
              = \tfrac12 \sum_j \big[\mu_j^2 + \sigma_j^2 - 1 - \log \sigma_j^2\big]

    Args:
        z_mean: Shape ``(batch, latent_dim)``.
        z_log_var: Same shape.

    Returns:
        Shape ``(batch,)``, in nats.
    """
    return tf.reduce_sum(gaussian_kl_per_unit(z_mean, z_log_var), axis=-1)


def gaussian_kl_per_unit(z_mean: tf.Tensor, z_log_var: tf.Tensor) -> tf.Tensor:
    r"""The terms of :func:`gaussian_kl`, one per latent unit.

    A factorised posterior's KL to :math:`\mathcal N(0, I)` is a sum over units; each
    term says how many nats unit :math:`j` carries about the image. A unit whose term is
    near 0 for every image has collapsed to the prior.

    Args:
        z_mean: Shape ``(batch, latent_dim)``.
        z_log_var: Same shape.

    Returns:
        Shape ``(batch, latent_dim)``, in nats.
    """
    z_mean = tf.convert_to_tensor(z_mean)
    z_log_var = tf.convert_to_tensor(z_log_var)
    check_tensor_pair(z_mean, z_log_var, "z_mean", "z_log_var")
    return 0.5 * (tf.square(z_mean) + tf.exp(z_log_var) - 1.0 - z_log_var)


def free_bits_kl(kl_per_unit: tf.Tensor, floor: float) -> tf.Tensor:
    r"""The KL term with *free bits* (Kingma et al., 2016): a floor of nats per unit.

    Over a batch, unit :math:`j`'s mean KL :math:`\bar k_j` is replaced in the
    objective by :math:`\max(\lambda, \bar k_j)`: below the floor :math:`\lambda` a
    unit's KL costs nothing more, so the optimiser has no reason to push it all the way
    to 0 (posterior collapse); above it, the KL acts as usual. Returned per example:
    example :math:`i` gets :math:`\sum_j k_{ij}` over the units above the floor plus
    :math:`\lambda` for each unit below it, so the batch mean is exactly
    :math:`\sum_j \max(\lambda, \bar k_j)`, and no gradient reaches the units below the
    floor.

    Args:
        kl_per_unit: Shape ``(batch, latent_dim)``, from :func:`gaussian_kl_per_unit`.
        floor: :math:`\lambda`, in nats per unit, ``>= 0`` (0 gives the plain KL).

    Returns:
        Shape ``(batch,)``, in nats.

    Raises:
        ValueError: If ``floor`` is negative, or ``kl_per_unit`` is not 2-D.
    """
    floor = check_non_negative(floor, "free bits floor")
    kl_per_unit = tf.convert_to_tensor(kl_per_unit)
    if kl_per_unit.shape.rank != 2:
        raise ValueError(
            "free bits need the KL per example and per latent unit, shape "
            f"(batch, latent_dim); got shape {kl_per_unit.shape}. A KL that is not a "
            "sum over units has no per-unit floor."
        )
    above = tf.stop_gradient(tf.reduce_mean(kl_per_unit, axis=0)) >= floor  # (units,)
    floored = tf.where(above[None, :], kl_per_unit, tf.cast(floor, kl_per_unit.dtype))
    return tf.reduce_sum(floored, axis=-1)


def importance_weighted_bound(log_weights: tf.Tensor, axis: int = 0) -> tf.Tensor:
    r"""The importance-weighted bound from ``k`` log-weights, computed stably.

    With :math:`w_s = p(x, z_s) / q(z_s \mid x)` for :math:`z_s \sim q(z \mid x)`,

    .. math:: \hat{\mathcal L}_k = \log \frac1k \sum_{s=1}^k w_s, \qquad
              \mathbb E[\hat{\mathcal L}_k] = \mathcal L_k \le \log p(x),

    an estimate of the bound :math:`\mathcal L_k` (chapter 4), which equals the ELBO
    for :math:`k = 1`, does not decrease with :math:`k`, and tends to
    :math:`\log p(x)` when the weights are bounded [5].

    Args:
        log_weights: ``log w``, with the ``k`` samples along ``axis``.
        axis: The samples' axis.

    Returns:
        ``logsumexp(log_weights, axis) - log k``.
    """
    log_weights = tf.convert_to_tensor(log_weights)
    count = tf.cast(tf.shape(log_weights)[axis], log_weights.dtype)
    return tf.reduce_logsumexp(log_weights, axis=axis) - tf.math.log(count)


class KLWarmup:
    r"""KL warm-up (Bowman et al., 2016; Sønderby et al., 2016): the KL weight from 0 to 1.

    The weight of the KL term rises linearly from ``start`` at step 0 to 1 at step
    ``steps`` and stays there, so that early in training the decoder learns to use the
    code before the KL term can close it. The model multiplies its ``beta`` by it.

    Args:
        steps: Training steps to reach 1.
        start: The weight at step 0, in ``[0, 1)``.

    Example:
        >>> warmup = KLWarmup(steps=100)
        >>> [round(float(warmup(step)), 2) for step in (0, 50, 100, 500)]
        [0.0, 0.5, 1.0, 1.0]
    """

    def __init__(self, steps: int, start: float = 0.0) -> None:
        self.steps = check_positive_int(steps, "steps")
        self.start = check_non_negative(start, "start")
        if self.start >= 1.0:
            raise ValueError(f"start must be below 1 (the weight it warms up to); got {start}.")

    def __call__(self, step: tf.Tensor | int) -> tf.Tensor:
        """The weight at a training step (a tensor, so it runs inside compiled steps)."""
        progress = tf.minimum(tf.cast(step, tf.float32) / float(self.steps), 1.0)
        return self.start + (1.0 - self.start) * progress

    def get_config(self) -> dict[str, object]:
        """The schedule's settings, for saving a model that uses it."""
        return {"class_name": "KLWarmup", "steps": self.steps, "start": self.start}

    def __repr__(self) -> str:
        return f"KLWarmup(steps={self.steps}, start={self.start:g})"


class CyclicalKL:
    r"""Cyclical KL annealing (Fu et al., 2019): warm-up repeated ``cycles`` times.

    The ``steps`` are split into ``cycles`` equal cycles; within each, the weight
    rises linearly from 0 to 1 over the first ``ramp`` fraction and stays at 1 for the
    rest. After ``steps`` it stays at 1. Each restart lets the encoder reorganise the
    code with the KL term off, then keeps what the decoder uses.

    Args:
        steps: Training steps covered by the cycles.
        cycles: Number of cycles.
        ramp: Fraction of each cycle spent rising, in ``(0, 1]``.

    Example:
        >>> schedule = CyclicalKL(steps=400, cycles=4, ramp=0.5)
        >>> [round(float(schedule(step)), 2) for step in (0, 25, 50, 99, 100, 125, 400)]
        [0.0, 0.5, 1.0, 1.0, 0.0, 0.5, 1.0]
    """

    def __init__(self, steps: int, cycles: int = 4, ramp: float = 0.5) -> None:
        self.steps = check_positive_int(steps, "steps")
        self.cycles = check_positive_int(cycles, "cycles")
        if self.cycles > self.steps:
            raise ValueError(f"{cycles} cycles do not fit in {steps} steps.")
        self.ramp = check_non_negative(ramp, "ramp")
        if not 0.0 < self.ramp <= 1.0:
            raise ValueError(f"ramp must be in (0, 1], a fraction of a cycle; got {ramp}.")

    def __call__(self, step: tf.Tensor | int) -> tf.Tensor:
        """The weight at a training step (a tensor, so it runs inside compiled steps)."""
        step = tf.cast(step, tf.float32)
        period = self.steps / self.cycles
        position = tf.math.floormod(step, period) / period  # in [0, 1)
        rising = tf.minimum(position / self.ramp, 1.0)
        return tf.where(step >= float(self.steps), 1.0, rising)

    def get_config(self) -> dict[str, object]:
        """The schedule's settings, for saving a model that uses it."""
        return {
            "class_name": "CyclicalKL",
            "steps": self.steps,
            "cycles": self.cycles,
            "ramp": self.ramp,
        }

    def __repr__(self) -> str:
        return f"CyclicalKL(steps={self.steps}, cycles={self.cycles}, ramp={self.ramp:g})"


def kl_schedule_from_config(config: dict[str, object] | None) -> KLWarmup | CyclicalKL | None:
    """Rebuilds a KL schedule from its ``get_config()`` (``None`` gives ``None``).

    Raises:
        ValueError: If the configuration names no known schedule.
    """
    if config is None:
        return None
    settings = dict(config)
    kinds = {"KLWarmup": KLWarmup, "CyclicalKL": CyclicalKL}
    kind = settings.pop("class_name", None)
    if kind not in kinds:
        raise ValueError(f"Unknown KL schedule {kind!r}; known: {sorted(kinds)}.")
    return kinds[kind](**settings)
