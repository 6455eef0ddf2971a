r"""The denoising autoencoder of chapter 3.

A denoising autoencoder sees a corrupted image :math:`\tilde x \sim C(\tilde x \mid x)`
and is trained to reconstruct the *clean* image :math:`x` (Vincent et al., 2008). The
identity map no longer minimises the loss, so the code has to capture what images of
the dataset have in common. Two corruptions are provided: additive Gaussian noise
(clipped back to :math:`[0, 1]`) and masking noise (each pixel set to 0 with
probability ``level``).
"""

from __future__ import annotations

import math
from typing import Any

import keras
import tensorflow as tf

from vaebook import rng
from vaebook.checks import as_model_input, check_choice, check_fraction, check_non_negative
from vaebook.models.autoencoder import Autoencoder

__all__ = ["NOISES", "DenoisingAutoencoder", "check_noise", "corrupt"]

NOISES = ("gaussian", "masking")


def check_noise(noise: str, level: float) -> float:
    """Checks a corruption's kind and level and returns the level as a float.

    Raises:
        ValueError: For an unknown kind, a Gaussian standard deviation that is negative
            or not finite, or a masking rate outside ``[0, 1]``.
    """
    check_choice(noise, NOISES, "noise")
    if noise == "masking":
        return check_fraction(level, "the masking noise rate (noise_level)")
    return check_non_negative(level, "the Gaussian noise standard deviation (noise_level)")


def corrupt(
    x: tf.Tensor,
    noise: str,
    level: float,
    seed: int | keras.random.SeedGenerator = 0,
    rescale: bool = False,
) -> tf.Tensor:
    """Corrupts images with Gaussian or masking noise.

    Args:
        x: Images in ``[0, 1]``, shape ``(batch, ...)``.
        noise: ``"gaussian"`` adds ``level * N(0, 1)`` to every pixel and clips the
            result to ``[0, 1]``; ``"masking"`` sets each pixel to 0 with probability
            ``level``.
        level: The noise's standard deviation (Gaussian) or rate (masking).
        seed: An integer (the same corruption every call) or a
            ``keras.random.SeedGenerator`` (fresh noise every call).
        rescale: For masking noise, divide the kept pixels by ``1 - level``, as dropout
            does, so that a corrupted image equals the clean one *on average*. Without
            it a masked image is on average ``1 - level`` times as bright as a clean
            one, and a model trained on masked images sees brighter inputs than it
            knows when given clean ones (chapter 3 measures the shift).

    Returns:
        Corrupted images, same shape and dtype as ``x``, in ``[0, 1]`` (up to
        ``1 / (1 - level)`` with ``rescale``).

    Example:
        >>> x = tf.ones((100, 28, 28))
        >>> masked = corrupt(x, "masking", 0.25, seed=1)  # (100, 28, 28)
        >>> round(float(tf.reduce_mean(masked)), 2)  # about 75% of pixels kept
        0.75
    """
    level = check_noise(noise, level)
    if rescale and (noise != "masking" or level >= 1):
        raise ValueError("rescale applies to masking noise with a rate below 1.")
    x = tf.convert_to_tensor(x)
    x = as_model_input(x, x.shape[1:])
    if noise == "gaussian":
        noisy = x + level * rng.normal(tf.shape(x), seed, dtype=x.dtype)
        return tf.clip_by_value(noisy, 0.0, 1.0)
    keep = rng.uniform(tf.shape(x), seed, dtype=x.dtype) >= level
    masked = x * tf.cast(keep, x.dtype)
    if rescale:
        masked = masked / (1.0 - level)
    return masked


@keras.saving.register_keras_serializable(package="vaebook")
class DenoisingAutoencoder(Autoencoder):
    """An autoencoder trained to reconstruct clean images from corrupted ones.

    Same network as :class:`~vaebook.models.Autoencoder`; only the loss differs: the
    input is corrupted with fresh noise each time (from a seeded generator) and the
    target is the clean image. ``call`` and ``reconstruct`` do not corrupt: to denoise,
    pass them corrupted images (:func:`corrupt` with a fixed seed).

    Args:
        noise: ``"gaussian"`` or ``"masking"`` (see :func:`corrupt`).
        noise_level: Standard deviation (Gaussian, >= 0) or rate (masking, in [0, 1]).
        seed: Seed of the corruption noise.
        rescale: With masking noise, divide kept pixels by ``1 - noise_level`` (see
            :func:`corrupt`).
        **kwargs: The :class:`~vaebook.models.Autoencoder` arguments (``latent_dim``,
            ``encoder_units``, ...).

    Example:
        >>> model = DenoisingAutoencoder(noise="masking", noise_level=0.5)
        >>> losses = model.per_example_losses(tf.zeros((4, 28, 28)))
        >>> losses["loss"].shape  # (batch,)
        TensorShape([4])
    """

    def __init__(
        self,
        noise: str = "gaussian",
        noise_level: float = 0.3,
        seed: int | None = None,
        rescale: bool = False,
        **kwargs: Any,
    ) -> None:
        self.noise_level = check_noise(noise, noise_level)
        self.noise = noise
        self.seed = seed
        if not isinstance(rescale, bool):
            raise ValueError(f"rescale must be True or False; got {rescale!r}.")
        if rescale and (noise != "masking" or self.noise_level >= 1):
            raise ValueError("rescale applies to masking noise with a rate below 1.")
        self.rescale = rescale
        super().__init__(seed=seed, **kwargs)

    def _create_state(self) -> None:
        self.noise_generator = keras.random.SeedGenerator(self.seed)

    @property
    def input_upper_bound(self) -> float:
        """1, or ``1 / (1 - noise_level)`` for rescaled masking noise."""
        return 1.0 / (1.0 - self.noise_level) if self.rescale else 1.0

    @property
    def noise_per_example(self) -> int:
        """Standard normal numbers per example that :meth:`per_example_losses` takes."""
        return self.num_pixels

    def per_example_losses(
        self, x: tf.Tensor, training: bool = False, noise: tf.Tensor | None = None
    ) -> dict[str, tf.Tensor]:
        """Loss of reconstructing each clean image from a freshly corrupted copy.

        Args:
            x: Clean images in ``[0, 1]``, shape ``(batch, *image_shape)``.
            training: Whether layers run in training mode.
            noise: Standard normal numbers of shape ``(batch, noise_per_example)`` that
                decide the corruption (Gaussian noise itself; for masking, a pixel is
                dropped where its number's normal CDF is below the rate), so that
                :func:`vaebook.evaluate.evaluate_losses` never draws from the training
                stream. ``None`` draws from the model's generator.

        Returns:
            ``{"loss": ..., "reconstruction_loss": ...}``, each of shape ``(batch,)``.
        """
        x = self.check_pixels(x)
        if noise is None:
            noisy = corrupt(
                x, self.noise, self.noise_level, seed=self.noise_generator, rescale=self.rescale
            )
        else:
            normal = tf.reshape(self.noise_draws(noise, tf.shape(x)[0], 1)[0], tf.shape(x))
            if self.noise == "gaussian":
                noisy = tf.clip_by_value(x + self.noise_level * normal, 0.0, 1.0)
            else:
                uniform = 0.5 * tf.math.erfc(-normal / math.sqrt(2.0))  # the normal CDF
                keep = tf.cast(uniform >= self.noise_level, x.dtype)
                noisy = x * keep / ((1.0 - self.noise_level) if self.rescale else 1.0)
        logits = self(noisy, training=training)  # (batch, *image_shape)
        reconstruction_loss = self.reconstruction_loss(x, logits)
        return {"loss": reconstruction_loss, "reconstruction_loss": reconstruction_loss}

    def get_config(self) -> dict[str, Any]:
        """Returns the constructor arguments, for saving and cloning."""
        return super().get_config() | {
            "noise": self.noise,
            "noise_level": self.noise_level,
            "seed": self.seed,
            "rescale": self.rescale,
        }
