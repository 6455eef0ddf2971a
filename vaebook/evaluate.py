"""Test-set metrics shared by the chapters and the benchmarks: the one metric path.

Every metric is a mean over images of a per-image sum over pixels (see
:mod:`vaebook.losses` for why), computed in batches so that memory stays bounded. The
per-image values are computed in float32 inside compiled functions and then summed in
float64 on the host, so that a reported number does not depend on the batch size and
agrees with a float64 NumPy computation to round-off (tested to 1e-6 relative).
"""

from __future__ import annotations

import os
import weakref
from collections.abc import Callable

import keras
import numpy as np
import tensorflow as tf

from vaebook import rng
from vaebook.checks import (
    as_images,
    check_fraction,
    check_latent_model,
    check_model_labels,
    check_non_negative,
    check_non_negative_int,
    check_positive_int,
    check_trainable,
    model_inputs_in_unit_interval,
)
from vaebook.losses import (
    bernoulli_entropy,
    bernoulli_reconstruction_loss,
    gaussian_kl,
    squared_error,
)
from vaebook.runtime import use_xla

__all__ = [
    "active_units",
    "evaluate_losses",
    "inference_gaps",
    "kl_per_unit",
    "likelihood_regret",
    "losses_per_example",
    "map_in_batches",
    "mean_image_error",
    "mmd",
    "mmd_to_prior",
    "paired_difference",
    "reconstruction_metrics",
    "sparsity_statistics",
    "squared_error_per_image",
    "vae_bounds",
    "vae_bounds_per_image",
]


def map_in_batches(
    function: Callable[[tf.Tensor], tf.Tensor], x: np.ndarray, batch_size: int = 1000
) -> np.ndarray:
    """Applies ``function`` to ``x`` batch by batch and concatenates the results.

    Args:
        function: Maps a batch ``(b, ...)`` to an output with a leading axis ``b``.
        x: The inputs.
        batch_size: Inputs per call.

    Returns:
        The concatenated outputs as a NumPy array.
    """
    if len(x) == 0:
        raise ValueError("x is empty.")
    batch_size = check_positive_int(batch_size, "batch_size")
    outputs = [
        np.asarray(function(tf.convert_to_tensor(x[start : start + batch_size])))
        for start in range(0, len(x), batch_size)
    ]
    return np.concatenate(outputs, axis=0)


def squared_error_per_image(x: np.ndarray, x_hat: np.ndarray) -> np.ndarray:
    """Squared error summed over each image's pixels, computed in float64.

    Args:
        x: Images, shape ``(n, ...)``.
        x_hat: Reconstructions of the same shape (any real values).

    Returns:
        Shape ``(n,)``.
    """
    x = np.asarray(x, dtype=np.float64)
    x_hat = np.asarray(x_hat, dtype=np.float64)
    if x.shape != x_hat.shape:
        raise ValueError(f"x has shape {x.shape} but x_hat has shape {x_hat.shape}.")
    return np.square(x - x_hat).reshape(len(x), -1).sum(axis=1)


def mean_image_error(x_train: np.ndarray, x_test: np.ndarray) -> float:
    """Squared error per test image of always answering with the mean training image.

    The trivial baseline of chapters 1 and 2: a model that beats it has learned
    something about each image; one that does not has learned only the average.

    Args:
        x_train: Training images, shape ``(n, ...)``.
        x_test: Test images of the same image shape.

    Returns:
        The mean over test images of the squared error summed over pixels.
    """
    x_train = as_images(x_train, "x_train")
    x_test = as_images(x_test, "x_test", image_shape=x_train.shape[1:])
    mean_image = x_train.astype(np.float64).mean(axis=0)
    return float(squared_error_per_image(x_test, np.broadcast_to(mean_image, x_test.shape)).mean())


def reconstruction_metrics(
    model: keras.Model, x: np.ndarray, batch_size: int = 1000
) -> dict[str, float]:
    """Test metrics of an autoencoder whose call returns logits.

    Args:
        model: A model with ``__call__(x) -> logits`` of the images' shape.
        x: Images in ``[0, 1]``, e.g. the full test set.
        batch_size: Images per batch.

    Returns:
        A dict of means over images of per-image sums over pixels, with keys
        ``"squared_error"`` (of the expected pixels: ``model.pixel_means(logits)`` where
        the model has it, as a continuous-Bernoulli VAE does, else ``sigmoid(logits)``,
        the same images ``model.reconstruct`` returns), ``"cross_entropy"`` (nats),
        ``"entropy_floor"`` (the cross-entropy's minimum for these targets) and
        ``"cross_entropy_gap"`` (cross-entropy minus floor).
    """
    x = as_images(x, "x", image_shape=getattr(model, "image_shape", None))
    batch_size = check_positive_int(batch_size, "batch_size")

    pixel_means = getattr(model, "pixel_means", tf.sigmoid)

    @tf.function(jit_compile=use_xla(model), reduce_retracing=True)
    def per_image(batch: tf.Tensor) -> tf.Tensor:
        logits = model(batch, training=False)
        return tf.stack(
            [
                squared_error(batch, pixel_means(logits)),
                bernoulli_reconstruction_loss(batch, logits),
                bernoulli_entropy(batch),
            ],
            axis=1,
        )  # (batch, 3)

    values = map_in_batches(per_image, x, batch_size).astype(np.float64).mean(axis=0)  # (3,)
    return {
        "squared_error": float(values[0]),
        "cross_entropy": float(values[1]),
        "entropy_floor": float(values[2]),
        "cross_entropy_gap": float(values[1] - values[2]),
    }


def vae_bounds(
    model: keras.Model,
    x: np.ndarray,
    num_samples: int = 1000,
    batch_size: int = 100,
    max_decodes: int = 50_000,
    seed: int = 0,
    labels: np.ndarray | None = None,
) -> dict[str, float]:
    """Negative ELBO and importance-sampled negative log-likelihood of a VAE, in nats.

    The means over images of :func:`vae_bounds_per_image` (see there), accumulated in
    float64.

    Args:
        model: A :class:`vaebook.models.VAE` (anything with ``encode``, ``decode`` and
            ``log_likelihood``).
        x: Images in ``[0, 1]``, e.g. the full test set.
        num_samples: Importance samples ``k`` per image.
        batch_size: Images encoded at once.
        max_decodes: Largest number of decoder evaluations held in memory at once.
        seed: Seed of the sampling noise (the result is repeatable).
        labels: The images' labels, for a conditional model (whose bounds are then
            those of ``-log p(x | y)``).

    Returns:
        ``{"negative_elbo": ..., "nll": ...}``, means over images, plus ``"num_samples"``.

    Raises:
        FloatingPointError: If either bound is NaN or infinite for any image.
    """
    per_image = vae_bounds_per_image(model, x, num_samples, batch_size, max_decodes, seed, labels)
    return {
        "negative_elbo": float(np.mean(per_image["negative_elbo"])),
        "nll": float(np.mean(per_image["nll"])),
        "num_samples": per_image["num_samples"],
    }


def vae_bounds_per_image(
    model: keras.Model,
    x: np.ndarray,
    num_samples: int = 1000,
    batch_size: int = 100,
    max_decodes: int = 50_000,
    seed: int = 0,
    labels: np.ndarray | None = None,
) -> dict[str, np.ndarray | int]:
    r"""Each image's negative ELBO and importance-sampled negative log-likelihood, in nats.

    For each image, ``num_samples`` codes :math:`z_s \sim q(z \mid x)` give log-weights
    :math:`\log w_s = \log p(x \mid z_s) + \log p(z_s) - \log q(z_s \mid x)`. Their mean
    estimates the ELBO; :func:`vaebook.losses.importance_weighted_bound` of them
    estimates :math:`\log p(x)` from below in expectation (one image's estimate can
    land above it), tighter as ``num_samples`` grows (Burda et al., 2015). The work is
    vectorised over images and samples and done in chunks of at most ``max_decodes``
    decoder evaluations, so memory stays bounded whatever ``num_samples`` is. Chapter 7
    scores single images with these.

    Args:
        model: A :class:`vaebook.models.VAE` (anything with ``encode``, ``decode`` and
            ``log_likelihood``).
        x: Images in ``[0, 1]``.
        num_samples: Importance samples ``k`` per image.
        batch_size: Images encoded at once.
        max_decodes: Largest number of decoder evaluations held in memory at once.
        seed: Seed of the sampling noise (the result is repeatable).
        labels: The images' labels, for a conditional model.

    Returns:
        ``{"negative_elbo": ..., "nll": ...}``, float64 arrays of shape ``(n,)``, plus
        ``"num_samples"``.

    Raises:
        FloatingPointError: If either bound is NaN or infinite for any image (the
            message says for how many, and the first one's index).
    """
    check_latent_model(model, "vae_bounds")
    x = as_images(x, "x", image_shape=getattr(model, "image_shape", None))
    num_samples = check_positive_int(num_samples, "num_samples")
    batch_size = check_positive_int(batch_size, "batch_size")
    max_decodes = check_positive_int(max_decodes, "max_decodes")
    seed = check_non_negative_int(seed, "seed")
    labels = check_model_labels(model, labels, len(x))
    _check_decodes_fit(model, max_decodes)
    latent_dim = model.latent_dim
    key = rng.stream_key(seed, rng.STREAMS["vae_bounds"])

    # One compiled function: (images (b, ...), noise (s, b, latent_dim)) -> (s, b).
    log_weights = tf.function(model.log_weights, jit_compile=use_xla(model), reduce_retracing=True)

    # Sample s of image i is row i * num_samples + s of one stream: an image's noise does
    # not depend on batch_size, max_decodes or the other images. A call decodes all
    # samples of as many images as max_decodes allows, or a chunk of one image's samples.
    images_per_call = max(1, min(batch_size, max_decodes // num_samples))
    chunk = min(num_samples, max_decodes)
    negative_elbo = np.empty(len(x))
    nll = np.empty(len(x))
    for start in range(0, len(x), images_per_call):
        images = tf.convert_to_tensor(x[start : start + images_per_call])
        count = int(images.shape[0])
        extra = {} if labels is None else {"labels": labels[start : start + count]}
        lse_parts, weight_sum = [], np.zeros(count)
        for done in range(0, num_samples, chunk):
            samples = min(chunk, num_samples - done)
            if count == 1:
                first = start * num_samples + done
                epsilon = rng.normal_rows(key, first, samples, latent_dim)[:, None]
            else:  # all the samples of each image: rows start * k ... (start + count) * k
                epsilon = rng.normal_rows(key, start * num_samples, count * samples, latent_dim)
                epsilon = tf.transpose(tf.reshape(epsilon, (count, samples, latent_dim)), (1, 0, 2))
            weights = log_weights(images, epsilon, **extra)  # (samples, count)
            lse_parts.append(tf.reduce_logsumexp(weights, axis=0))
            weight_sum += np.sum(weights.numpy(), axis=0, dtype=np.float64)
        # Each part is a logsumexp over its chunk of samples; combining the parts gives the
        # logsumexp over all k, and subtracting log k gives the bound.
        total = tf.reduce_logsumexp(tf.stack(lse_parts), axis=0).numpy().astype(np.float64)
        nll[start : start + count] = np.log(num_samples) - total  # (count,)
        negative_elbo[start : start + count] = -weight_sum / num_samples
    _refuse_non_finite(negative_elbo, "the negative ELBO", "vae_bounds", _MODEL_HINT)
    _refuse_non_finite(nll, "the negative log-likelihood", "vae_bounds", _MODEL_HINT)
    return {"negative_elbo": negative_elbo, "nll": nll, "num_samples": num_samples}


#: Bytes of memory that one decoder evaluation is allowed, per output number, when
#: checking ``max_decodes`` against the machine's memory: the decoder's output, the
#: log-likelihood's intermediate arrays and the hidden layers, in float32.
_BYTES_PER_DECODED_NUMBER = 4 * 8


def _check_decodes_fit(model: keras.Model, max_decodes: int) -> None:
    """Refuses a ``max_decodes`` whose decoder outputs could not fit in memory."""
    image_shape = getattr(model, "image_shape", None)
    if not image_shape:
        return
    try:
        memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        return
    per_decode = int(np.prod(image_shape)) * _BYTES_PER_DECODED_NUMBER
    if max_decodes * per_decode > memory:
        fits = max(1, memory // per_decode)
        raise ValueError(
            f"max_decodes={max_decodes} would hold about {max_decodes * per_decode / 2**30:.0f} "
            f"GiB of decoder outputs at once, more than this machine's "
            f"{memory / 2**30:.0f} GiB of memory: lower max_decodes (at most about "
            f"{fits} fit; the default, 50,000, works everywhere). num_samples can stay "
            "as it is: the work is done in chunks of max_decodes."
        )


def likelihood_regret(
    model: keras.Model,
    x: np.ndarray,
    steps: int = 100,
    learning_rate: float = 0.02,
    num_samples: int = 16,
    batch_size: int = 1000,
    seed: int = 0,
) -> dict[str, np.ndarray]:
    r"""How much each image's ELBO improves when its posterior is fitted to it alone.

    The *likelihood regret* of Xiao, Yan and Amit (2020) [1], an out-of-distribution
    score made for VAEs. The encoder was trained to serve the training distribution as a
    whole; for an image like those, the posterior it proposes is already close to the best
    Gaussian for that image, while for an unfamiliar image a fit of its own improves the
    ELBO by more. Here each image's posterior parameters :math:`\tau = (\mu, \log
    \sigma^2)` start from the encoder's and are fitted by ``steps`` steps of Adam on that
    image's negative ELBO (one reparameterised sample per step), the decoder fixed:

    .. math:: \mathrm{LR}(x) = \mathcal L(x; \hat\tau(x)) - \mathcal L(x; \tau_\phi(x)).

    This follows the paper's definition (the regret against the best per-image
    posterior); the authors' code approximates :math:`\hat\tau` by re-fitting a copy of
    the whole encoder to each image, which costs a network per image. Fitting
    :math:`\tau` itself is vectorised over images, as here. Both ELBOs are estimated with
    the same ``num_samples`` noise draws (common random numbers), so their difference is
    less noisy than either; a regret can be slightly negative by chance. The regret is
    the per-image *amortisation gap* of Cremer, Li and Duvenaud (2018), the price of one
    encoder for every image (:func:`inference_gaps`).

    Chapter 7 compares it with the scores it corrects.

    Args:
        model: A :class:`vaebook.models.VAE` (anything with ``encode``, ``decode``,
            ``log_likelihood`` and ``latent_dim``).
        x: Images in ``[0, 1]``.
        steps: Adam steps per image.
        learning_rate: Adam's step size on :math:`\mu` and :math:`\log \sigma^2`.
        num_samples: Noise draws of each final ELBO estimate.
        batch_size: Images fitted at once.
        seed: Seed of the noise (the result is repeatable).

    Returns:
        ``{"regret": ..., "elbo_before": ..., "elbo_after": ...}``, float64 arrays of
        shape ``(n,)`` in nats.

    References:
        [1] Z. Xiao, Q. Yan, Y. Amit. Likelihood Regret: An Out-of-Distribution Detection
        Score for Variational Auto-encoder. NeurIPS 2020. arXiv:2003.02977.
    """
    check_latent_model(model, "likelihood_regret")
    x = as_images(x, "x", image_shape=getattr(model, "image_shape", None))
    steps = check_positive_int(steps, "steps")
    learning_rate = check_non_negative(learning_rate, "learning_rate")
    num_samples = check_positive_int(num_samples, "num_samples")
    batch_size = check_positive_int(batch_size, "batch_size")
    seed = check_non_negative_int(seed, "seed")
    latent_dim = model.latent_dim

    def elbo(
        images: tf.Tensor, z_mean: tf.Tensor, z_log_var: tf.Tensor, epsilon: tf.Tensor
    ) -> tf.Tensor:
        """ELBO per image, averaged over the noise: epsilon (s, b, latent_dim) -> (b,)."""
        z = z_mean + tf.exp(0.5 * z_log_var) * epsilon  # (s, b, latent_dim)
        decoded = model.decode(tf.reshape(z, (-1, latent_dim)))
        decoded = tf.reshape(decoded, tf.concat([tf.shape(z)[:2], tf.shape(images)[1:]], 0))
        log_px_z = model.log_likelihood(images, decoded)  # (s, b)
        return tf.reduce_mean(log_px_z, axis=0) - gaussian_kl(z_mean, z_log_var)

    @tf.function(jit_compile=use_xla(model), reduce_retracing=True)
    def fit(
        images: tf.Tensor, noise: tf.Tensor, final_noise: tf.Tensor
    ) -> tuple[tf.Tensor, tf.Tensor]:
        # Adam on tau = (z_mean, z_log_var), by hand: each image's entries have their own
        # moments, so the images are fitted independently of each other.
        z_mean, z_log_var = model.encode(images)
        before = elbo(images, z_mean, z_log_var, final_noise)
        tau = tf.concat([z_mean, z_log_var], axis=-1)  # (b, 2 * latent_dim)
        first = tf.zeros_like(tau)
        second = tf.zeros_like(tau)
        beta1, beta2 = 0.9, 0.999
        for step in tf.range(steps):
            with tf.GradientTape() as tape:
                tape.watch(tau)
                mean, log_var = tf.split(tau, 2, axis=-1)
                loss = -tf.reduce_sum(elbo(images, mean, log_var, noise[step][None]))
            gradient = tape.gradient(loss, tau)
            first = beta1 * first + (1 - beta1) * gradient
            second = beta2 * second + (1 - beta2) * tf.square(gradient)
            t = tf.cast(step + 1, tau.dtype)
            corrected = (first / (1 - beta1**t)) / (tf.sqrt(second / (1 - beta2**t)) + 1e-7)
            tau = tau - learning_rate * corrected
        mean, log_var = tf.split(tau, 2, axis=-1)
        return before, elbo(images, mean, log_var, final_noise)

    # Row i of each stream is image i's noise, whatever the batching.
    fit_key = rng.stream_key(seed, rng.STREAMS["likelihood_regret"], 0)
    final_key = rng.stream_key(seed, rng.STREAMS["likelihood_regret"], 1)

    def rows(key: tf.Tensor, start: int, count: int, draws: int) -> tf.Tensor:
        noise = rng.normal_rows(key, start, count, draws * latent_dim)
        return tf.transpose(tf.reshape(noise, (count, draws, latent_dim)), (1, 0, 2))

    before = np.empty(len(x))
    after = np.empty(len(x))
    for start in range(0, len(x), batch_size):
        images = tf.convert_to_tensor(x[start : start + batch_size])
        count = int(images.shape[0])
        noise = rows(fit_key, start, count, steps)  # (steps, count, latent_dim)
        final_noise = rows(final_key, start, count, num_samples)
        elbo_before, elbo_after = fit(images, noise, final_noise)
        before[start : start + count] = elbo_before.numpy()
        after[start : start + count] = elbo_after.numpy()
    if not (np.all(np.isfinite(before)) and np.all(np.isfinite(after))):
        raise FloatingPointError(
            "likelihood_regret: an ELBO became NaN or infinite; lower learning_rate."
        )
    return {"regret": after - before, "elbo_before": before, "elbo_after": after}


def active_units(model: keras.Model, x: np.ndarray, threshold: float = 0.01) -> int:
    r"""Counts latent dimensions that the encoder really uses.

    A unit :math:`j` is active if :math:`\operatorname{Var}_x\, \mathbb E_{q(z \mid x)}[z_j]`
    exceeds ``threshold`` (Burda et al., 2015): an inactive unit's posterior mean is
    nearly the same for every image, so it carries little information about the image
    through its mean (a heuristic: its variance could still vary).

    Args:
        model: A model whose ``encode(x)`` returns ``(z_mean, z_log_var)``.
        x: Images, e.g. the test set.
        threshold: Variance below which a unit counts as inactive.

    Returns:
        The number of active units.
    """
    if not callable(getattr(model, "encode", None)):
        raise TypeError(
            f"active_units needs a model whose encode(x) returns (z_mean, z_log_var); "
            f"got {type(model).__name__}."
        )
    x = as_images(x, "x", image_shape=getattr(model, "image_shape", None))
    threshold = check_non_negative(threshold, "threshold")
    z_mean = map_in_batches(lambda batch: model.encode(batch)[0], x)  # (n, latent_dim)
    return int(np.sum(z_mean.astype(np.float64).var(axis=0) > threshold))


def kl_per_unit(model: keras.Model, x: np.ndarray) -> np.ndarray:
    r"""Each latent unit's KL to the prior, averaged over images.

    For a Gaussian encoder, unit :math:`j`'s share of the KL term of image
    :math:`x` is :math:`\tfrac12(\mu_j^2 + \sigma_j^2 - 1 - \log\sigma_j^2)`
    (:func:`vaebook.losses.gaussian_kl_per_unit`); their sum over units is the KL
    term. A unit whose average is near 0 sits on the prior for every image and says
    nothing (posterior collapse, when all of them do).

    Args:
        model: A model whose ``encode(x)`` returns ``(z_mean, z_log_var)``.
        x: Images, e.g. the test set.

    Returns:
        Shape ``(latent_dim,)``, in nats, computed in float64.

    Raises:
        TypeError: If the model has no such ``encode``.
        ValueError: If ``x`` is not valid images for the model, or a KL is not finite.
    """
    if not callable(getattr(model, "encode", None)):
        raise TypeError(
            f"kl_per_unit needs a model whose encode(x) returns (z_mean, z_log_var); "
            f"got {type(model).__name__}."
        )
    x = as_images(x, "x", image_shape=getattr(model, "image_shape", None))
    # z_mean and z_log_var side by side: (n, 2 * latent_dim).
    codes = map_in_batches(lambda batch: tf.concat(model.encode(batch), axis=-1), x)
    z_mean, z_log_var = np.split(codes.astype(np.float64), 2, axis=-1)  # (n, latent_dim)
    per_image = 0.5 * (z_mean**2 + np.exp(z_log_var) - 1.0 - z_log_var)
    if not np.all(np.isfinite(per_image)):
        raise ValueError(
            "kl_per_unit: the KL of some image is not finite (the encoder returned NaN "
            "or an infinite z_mean or z_log_var)."
        )
    return per_image.mean(axis=0)


#: Multiples of ``2 * dim`` used as the inverse multiquadratic kernel's scales.
MMD_SCALES = (0.1, 0.2, 0.5, 1.0, 2.0, 5.0, 10.0)


@tf.function(jit_compile=True, reduce_retracing=True)
def _kernel_block_sum(part: tf.Tensor, b: tf.Tensor, scales: tf.Tensor) -> tf.Tensor:
    """Sum of the kernel over all pairs of rows of ``part`` and ``b``, over all scales."""
    distances = (
        tf.reduce_sum(part**2, axis=1)[:, None]
        + tf.reduce_sum(b**2, axis=1)[None]
        - 2 * tf.matmul(part, b, transpose_b=True)
    )  # (block, m) squared distances
    distances = tf.maximum(distances, 0.0)
    return tf.reduce_sum(tf.map_fn(lambda c: tf.reduce_sum(c / (c + distances)), scales))


def mmd(x: np.ndarray, y: np.ndarray, block: int = 2000) -> float:
    r"""Unbiased estimate of the squared maximum mean discrepancy between two samples.

    .. math:: \mathrm{MMD}^2 = \mathbb E\,k(x, x') + \mathbb E\,k(y, y')
              - 2\,\mathbb E\,k(x, y)

    with the inverse multiquadratic kernel :math:`k(a, b) = C / (C + \|a - b\|^2)`
    summed over :math:`C = 2d \cdot s` for the scales ``s`` in ``MMD_SCALES``
    (as in Tolstikhin et al.'s Wasserstein autoencoders, whose codes are compared with
    :math:`\mathcal N(0, I)` the same way). It is 0 in expectation when the two samples
    come from the same distribution, and larger the more they differ. Pairs are
    processed in blocks, so memory stays bounded for any sample size.

    Args:
        x: First sample, shape ``(n, d)``, ``n >= 2``.
        y: Second sample, shape ``(m, d)``, ``m >= 2``.
        block: Rows per block of the pairwise computation.

    Returns:
        The estimate (it can be slightly negative when the samples agree).
    """
    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    if x.ndim != 2 or y.ndim != 2 or x.shape[1] != y.shape[1]:
        raise ValueError(f"x and y must be (n, d) and (m, d) arrays; got {x.shape} and {y.shape}.")
    if len(x) < 2 or len(y) < 2:
        raise ValueError("mmd needs at least two points in each sample.")
    if not (np.all(np.isfinite(x)) and np.all(np.isfinite(y))):
        raise ValueError("mmd got NaN or infinite values.")
    block = check_positive_int(block, "block")
    scales = tf.constant([2.0 * x.shape[1] * scale for scale in MMD_SCALES], tf.float64)

    def kernel_sum(a: np.ndarray, b: np.ndarray) -> float:
        b = tf.constant(b)
        return sum(
            float(_kernel_block_sum(tf.constant(a[start : start + block]), b, scales))
            for start in range(0, len(a), block)
        )

    n, m = len(x), len(y)
    diagonal = len(MMD_SCALES)  # k(a, a) = 1 for each scale
    within_x = (kernel_sum(x, x) - n * diagonal) / (n * (n - 1))
    within_y = (kernel_sum(y, y) - m * diagonal) / (m * (m - 1))
    between = kernel_sum(x, y) / (n * m)
    return within_x + within_y - 2 * between


def mmd_to_prior(codes: np.ndarray, seed: int = 0) -> float:
    """MMD between codes and an equally large sample of the prior ``N(0, I)``.

    Args:
        codes: Codes of shape ``(n, latent_dim)``, e.g. of the whole test set.
        seed: Seed of the prior sample.

    Returns:
        The squared MMD estimate of :func:`mmd`.
    """
    codes = np.asarray(codes)
    if codes.ndim != 2:
        raise ValueError(f"codes must have shape (n, latent_dim); got {codes.shape}.")
    seed = check_non_negative_int(seed, "seed")
    prior = np.random.default_rng(seed).standard_normal(codes.shape)
    return mmd(codes, prior)


def evaluate_losses(
    model: keras.Model,
    x: np.ndarray | tf.Tensor,
    batch_size: int = 1000,
    labels: np.ndarray | None = None,
    seed: int = 0,
) -> dict[str, float]:
    """Averages the model's per-example losses over a whole dataset, in batches.

    The means of :func:`losses_per_example`, which takes the same arguments and raises
    the same errors (a NaN or infinite loss for any example is refused by name).

    Returns:
        The mean of each entry of ``per_example_losses`` over all of ``x``.
    """
    values = losses_per_example(model, x, batch_size, labels, seed)
    return {name: float(np.mean(value)) for name, value in values.items()}


def losses_per_example(
    model: keras.Model,
    x: np.ndarray | tf.Tensor,
    batch_size: int = 1000,
    labels: np.ndarray | None = None,
    seed: int = 0,
) -> dict[str, np.ndarray]:
    """The model's per-example losses over a whole dataset, computed in batches.

    Per-example losses come from one compiled function per model (traced once) in
    float32. A model whose losses draw noise (a VAE's codes, a denoising model's
    corruption; it says how much in ``noise_per_example``) gets it from a stream of
    this function's own, in which row ``i`` belongs to example ``i``: the result does
    not depend on ``batch_size`` beyond float32 round-off in each example's own value,
    and evaluating never advances the model's training noise (so validating during
    training leaves the run unchanged).

    Args:
        model: A model satisfying :class:`vaebook.checks.Trainable`.
        x: The examples, for instance the test images.
        batch_size: Examples per batch (memory only; the result does not depend on it).
        labels: The examples' labels, for a conditional model (and only for one).
        seed: Seed of the evaluation noise, for models that draw noise.

    Returns:
        Each entry of ``per_example_losses``, a float64 array of shape ``(n,)``.

    Raises:
        TypeError: If ``model`` has no ``per_example_losses``.
        ValueError: If ``x`` is not a valid batch of images for the model, or
            ``batch_size`` is not a positive integer.
        FloatingPointError: If a loss is NaN or infinite for any example (the message
            says for how many, and the first one's index).
    """
    check_trainable(model)
    x = as_images(
        x,
        "x",
        image_shape=getattr(model, "image_shape", None),
        unit_interval=model_inputs_in_unit_interval(model),
    )
    batch_size = check_positive_int(batch_size, "batch_size")
    labels = check_model_labels(model, labels, len(x))
    seed = check_non_negative_int(seed, "seed")
    noise_length = int(getattr(model, "noise_per_example", 0))
    key = rng.stream_key(seed, rng.STREAMS["evaluate_losses"])
    step = _per_example_step(model)
    parts: dict[str, list[np.ndarray]] = {}
    for start in range(0, len(x), batch_size):
        batch = tf.convert_to_tensor(x[start : start + batch_size])
        count = int(batch.shape[0])
        arguments = {}
        if labels is not None:
            arguments["labels"] = tf.constant(labels[start : start + count], tf.int32)
        if noise_length:
            arguments["noise"] = rng.normal_rows(key, start, count, noise_length)
        values = step(batch, **arguments)
        for name, value in values.items():
            value = value.numpy().astype(np.float64)  # (count,)
            _refuse_non_finite(value, f"the {name}", "losses_per_example", _MODEL_HINT, start)
            parts.setdefault(name, []).append(value)
    return {name: np.concatenate(values) for name, values in parts.items()}


def _refuse_non_finite(
    values: np.ndarray, what: str, function: str, hint: str, offset: int = 0
) -> None:
    """Raises if any per-example value is NaN or infinite, naming how many and which.

    Averaging would turn one bad example into a NaN mean, or hide it in a finite one
    that is wrong; so every metric computed per example passes through here first.
    """
    bad = np.flatnonzero(~np.isfinite(values))
    if bad.size:
        raise FloatingPointError(
            f"{function}: {what} is NaN or infinite for {bad.size} of {values.size} "
            f"examples (the first at index {offset + int(bad[0])}). {hint}"
        )


_MODEL_HINT = (
    "The model's outputs overflow float32 for these examples: look for decoder outputs "
    "of extreme size (a density fitted to pixels that sit exactly at 0 or 1 can grow "
    "without bound) or a log-variance beyond about +-80."
)


# One compiled evaluation function per model, so that it is traced once.
_EVAL_STEPS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def _per_example_step(model: keras.Model) -> Callable[[tf.Tensor], dict[str, tf.Tensor]]:
    step = _EVAL_STEPS.get(model)
    if step is None:

        @tf.function(jit_compile=use_xla(model), reduce_retracing=True)
        def step(
            x: tf.Tensor, labels: tf.Tensor | None = None, noise: tf.Tensor | None = None
        ) -> dict[str, tf.Tensor]:
            extra = {} if labels is None else {"labels": labels}
            if noise is not None:
                extra["noise"] = noise
            return model.per_example_losses(x, training=False, **extra)  # each (batch,)

        _EVAL_STEPS[model] = step
    return step


def sparsity_statistics(
    model: keras.Model, x: np.ndarray, threshold: float = 0.05
) -> dict[str, float]:
    """How sparse a model's codes are on a set of images (chapter 3).

    Args:
        model: A model whose ``encode(x)`` returns activations in ``[0, 1]``, such as
            :class:`vaebook.models.SparseAutoencoder`.
        x: Images, e.g. the test set.
        threshold: Activations below this count as near zero, in ``[0, 1]``.

    Returns:
        ``"mean_activation"`` (over images and units), ``"near_zero_fraction"`` (of all
        image-unit pairs below ``threshold``), ``"active_per_image"`` (average number of
        units at or above it) and ``"dead_units"`` (units below it for every image).
    """
    if not callable(getattr(model, "encode", None)):
        raise TypeError(f"sparsity_statistics needs a model with encode(x); got {type(model)}.")
    x = as_images(x, "x", image_shape=getattr(model, "image_shape", None))
    threshold = check_fraction(threshold, "threshold")
    codes = map_in_batches(lambda batch: model.encode(batch), x)  # (n, latent_dim)
    near_zero = codes < threshold
    return {
        "mean_activation": float(codes.mean(dtype=np.float64)),
        "near_zero_fraction": float(near_zero.mean()),
        "active_per_image": float((~near_zero).sum(axis=1).mean()),
        "dead_units": int(near_zero.all(axis=0).sum()),
    }


def paired_difference(a: object, b: object) -> tuple[float, float]:
    """The mean of paired differences ``a - b`` and its standard error.

    For results measured in pairs (two methods on the same seeds, draws or images), the
    difference of each pair removes what the pair shares, so the standard error of the
    mean difference is usually far smaller than either method's spread. A difference
    is worth calling real only when it is several standard errors from 0.

    Args:
        a: One result per pair, shape ``(n,)``, finite.
        b: The other method's results on the same pairs, shape ``(n,)``.

    Returns:
        ``(mean, standard_error)``: the mean of ``a - b`` and the sample standard
        deviation of the differences divided by ``sqrt(n)`` (NaN for a single pair).

    Raises:
        ValueError: If the shapes differ, are not 1-D and non-empty, or hold NaN.

    Example:
        >>> mean, standard_error = paired_difference([3.0, 4.0, 5.0], [2.0, 2.5, 4.0])
        >>> round(mean, 4), round(standard_error, 4)
        (1.1667, 0.1667)
    """
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    if a.ndim != 1 or a.shape != b.shape or len(a) == 0:
        raise ValueError(
            f"a and b must be non-empty 1-D arrays of one result per pair; got shapes "
            f"{a.shape} and {b.shape}."
        )
    if not (np.all(np.isfinite(a)) and np.all(np.isfinite(b))):
        raise ValueError("a and b must be finite; a pair holds NaN or infinity.")
    differences = a - b
    if len(differences) == 1:
        return float(differences[0]), float("nan")
    return (
        float(differences.mean()),
        float(differences.std(ddof=1) / np.sqrt(len(differences))),
    )


def inference_gaps(
    model: keras.Model,
    x: np.ndarray,
    num_samples: int = 1000,
    steps: int = 100,
    regret_samples: int = 128,
    seed: int = 0,
) -> dict[str, np.ndarray]:
    r"""Splits each image's gap between :math:`\log p(x)` and the ELBO in two (Cremer et al.).

    The gap of the encoder's ELBO is the sum of two parts [1]:

    .. math::
        \begin{aligned}
        \log p(x) - \mathcal L(x; \lambda_\phi(x))
        &= \big[\log p(x) - \mathcal L(x; \hat\lambda(x))\big] \\
        &\quad + \big[\mathcal L(x; \hat\lambda(x)) - \mathcal L(x; \lambda_\phi(x))\big],
        \end{aligned}

    the approximation gap and the amortisation gap,
    where :math:`\lambda_\phi(x)` are the encoder's posterior parameters and
    :math:`\hat\lambda(x)` the best Gaussian's for that image alone. The
    *approximation gap* is what a Gaussian cannot express of the true posterior; the
    *amortisation gap* is what one encoder for all images costs, and it is
    :func:`likelihood_regret`. :math:`\log p(x)` is the importance-sampled estimate of
    :func:`vae_bounds_per_image`, whose mean is at most :math:`\log p(x)`: with too few
    samples the approximation gap comes out too small.

    Args:
        model: A :class:`vaebook.models.VAE`.
        x: Images in ``[0, 1]``.
        num_samples: Importance samples per image for :math:`\log p(x)` and the ELBO.
        steps: Adam steps of each image's posterior fit.
        regret_samples: Noise draws of the two ELBOs whose difference is the
            amortisation gap; the approximation gap inherits their noise.
        seed: Seed of the noise (the result is repeatable).

    Returns:
        Float64 arrays of shape ``(n,)``, in nats: ``"negative_elbo"``, ``"nll"``,
        ``"total_gap"`` (the first minus the second), ``"amortisation_gap"`` and
        ``"approximation_gap"`` (their difference; the two add up to the total).

    References:
        [1] C. Cremer, X. Li, D. Duvenaud. Inference Suboptimality in Variational
        Autoencoders. ICML 2018.
    """
    bounds = vae_bounds_per_image(model, x, num_samples=num_samples, seed=seed)
    regret_samples = check_positive_int(regret_samples, "regret_samples")
    amortisation = likelihood_regret(
        model,
        x,
        steps=steps,
        num_samples=regret_samples,
        # Images per call, so that a call decodes about 100,000 codes at most.
        batch_size=max(1, 100_000 // regret_samples),
        seed=seed,
    )["regret"]
    total = np.asarray(bounds["negative_elbo"], np.float64) - bounds["nll"]
    return {
        "negative_elbo": np.asarray(bounds["negative_elbo"], np.float64),
        "nll": np.asarray(bounds["nll"], np.float64),
        "total_gap": total,
        "amortisation_gap": amortisation,
        "approximation_gap": total - amortisation,
    }
