r"""The variational autoencoder of chapters 4 and 5.

The encoder maps an image to the parameters of a diagonal Gaussian
:math:`q_\phi(z \mid x) = \mathcal N(\mu(x), \operatorname{diag}\sigma^2(x))`, a code is
drawn from it with the reparameterisation :math:`z = \mu + \sigma \odot \varepsilon`,
:math:`\varepsilon \sim \mathcal N(0, I)`, and the decoder maps the code to the
parameters of :math:`p_\theta(x \mid z)`. Training minimises the negative ELBO,

.. math:: -\mathcal L(x) = \mathbb E_{q_\phi(z \mid x)}[-\log p_\theta(x \mid z)]
          + \beta\, D_{KL}\big(q_\phi(z \mid x) \,\|\, \mathcal N(0, I)\big),

with :math:`\beta = 1` for the true ELBO (chapter 4 derives it; chapter 5 trains it).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

import keras
import tensorflow as tf

from vaebook import rng
from vaebook.checks import as_model_input, check_choice, check_non_negative, check_positive_int
from vaebook.losses import (
    CyclicalKL,
    KLWarmup,
    bernoulli_reconstruction_loss,
    continuous_bernoulli_mean,
    continuous_bernoulli_reconstruction_loss,
    free_bits_kl,
    gaussian_kl_per_unit,
    gaussian_log_density,
    gaussian_reconstruction_loss,
    importance_weighted_bound,
    kl_schedule_from_config,
)
from vaebook.models.common import DenseEncoderDecoder

__all__ = ["VAE"]

LIKELIHOODS = ("bernoulli", "continuous_bernoulli", "gaussian")
PIXEL_REDUCTIONS = ("sum", "mean")
OBJECTIVES = ("elbo", "iwae")


@keras.saving.register_keras_serializable(package="vaebook")
class VAE(DenseEncoderDecoder):
    """A fully connected VAE with a diagonal Gaussian encoder and a seeded sampler.

    Args:
        latent_dim: Length of the code ``z``.
        encoder_units: Widths of the encoder's hidden layers.
        decoder_units: Widths of the decoder's hidden layers; defaults to the encoder's
            in reverse.
        image_shape: Shape of one image.
        activation: Activation of the hidden layers (``"relu"``, ``"tanh"``, ...).
        likelihood: ``"bernoulli"``: the decoder outputs logits and the reconstruction
            term is the sigmoid cross-entropy. ``"gaussian"``: the decoder outputs
            means (through a sigmoid, so in ``[0, 1]``) with one learned variance
            shared by all pixels, and the term is the Gaussian negative log-likelihood.
            ``"continuous_bernoulli"``: logits of a continuous Bernoulli, a proper
            density for grey-level pixels (the cross-entropy minus the log normalising
            constant); its reconstructions are the distribution's means.
        beta: Weight of the KL term (1 gives the ELBO); the one-sample ELBO only.
        free_bits: A floor of nats per latent unit on the KL term of the objective
            (Kingma et al., 2016; :func:`vaebook.losses.free_bits_kl`), a cure for
            posterior collapse; 0 (the default) adds none. The reported ``kl_loss``
            stays the true KL. The one-sample ELBO only.
        kl_schedule: A schedule of the KL weight over the training steps
            (:class:`vaebook.losses.KLWarmup` or :class:`vaebook.losses.CyclicalKL`),
            multiplied by ``beta`` in training; evaluation uses ``beta``. ``None``
            keeps ``beta`` throughout. The one-sample ELBO only.
        pixel_reduction: ``"sum"`` (correct: a log-likelihood in nats) or ``"mean"``
            (the common mistake of averaging the reconstruction term over pixels,
            which weakens it 784-fold against the KL term; kept to show its effect);
            the one-sample ELBO only.
        seed: Seed of the initial weights, the dropout masks and the sampling noise, so
            that the same seed builds the same model in any process; ``None`` takes
            them from the global state (:func:`vaebook.train.set_seed`).
        dropout: Fraction of hidden units dropped during training; 0 adds none.
        num_samples: Codes ``k`` drawn per image in training.
        objective: ``"elbo"``: minimise the negative ELBO (with ``k = 1``, the
            reconstruction term from one code plus the KL in closed form; with ``k > 1``,
            the mean of the ``k`` log-weights). ``"iwae"``: minimise the negative
            importance-weighted bound of Burda et al. (2015),
            ``-log (1/k) sum_s w_s``, never looser than the ELBO in expectation, and
            strictly tighter for ``k > 1`` unless ``q(z | x)`` is the exact posterior.
        **kwargs: Passed to ``keras.Model``.

    Example:
        >>> vae = VAE(latent_dim=2, encoder_units=(64,))
        >>> z_mean, z_log_var = vae.encode(tf.zeros((3, 28, 28)))  # (3, 2)
        >>> losses = vae.per_example_losses(tf.zeros((3, 28, 28)))
        >>> sorted(losses)
        ['kl_loss', 'loss', 'reconstruction_loss']
    """

    def __init__(
        self,
        latent_dim: int = 20,
        encoder_units: Sequence[int] = (512, 256),
        decoder_units: Sequence[int] | None = None,
        image_shape: Sequence[int] = (28, 28),
        activation: str = "relu",
        likelihood: str = "bernoulli",
        beta: float = 1.0,
        pixel_reduction: str = "sum",
        free_bits: float = 0.0,
        kl_schedule: KLWarmup | CyclicalKL | dict[str, Any] | None = None,
        seed: int | None = None,
        dropout: float = 0.0,
        num_samples: int = 1,
        objective: str = "elbo",
        **kwargs: Any,
    ) -> None:
        check_choice(objective, OBJECTIVES, "objective")
        num_samples = check_positive_int(num_samples, "num_samples")
        check_choice(likelihood, LIKELIHOODS, "likelihood")
        check_choice(pixel_reduction, PIXEL_REDUCTIONS, "pixel_reduction")
        beta = check_non_negative(beta, "beta")
        free_bits = check_non_negative(free_bits, "free_bits")
        if isinstance(kl_schedule, dict):
            kl_schedule = kl_schedule_from_config(kl_schedule)  # from a saved model
        if kl_schedule is not None and not isinstance(kl_schedule, (KLWarmup, CyclicalKL)):
            raise TypeError(
                "kl_schedule must be a vaebook.losses.KLWarmup or CyclicalKL (or None); "
                f"got {type(kl_schedule).__name__}."
            )
        changed = beta != 1 or pixel_reduction != "sum" or free_bits > 0 or kl_schedule
        if (objective == "iwae" or num_samples > 1) and changed:
            # Those objectives use whole log-weights, with no KL term to weigh and no
            # reconstruction term to rescale: the settings would be silently ignored.
            raise ValueError(
                f"beta={beta:g}, pixel_reduction={pixel_reduction!r}, "
                f"free_bits={free_bits:g} and kl_schedule={kl_schedule!r} apply to the "
                "one-sample ELBO only (objective='elbo', num_samples=1); with "
                f"objective={objective!r} and num_samples={num_samples} they would be "
                "ignored. Use beta=1.0, pixel_reduction='sum', free_bits=0 and no "
                "kl_schedule."
            )
        latent_dim = check_positive_int(latent_dim, "latent_dim")
        # The encoder outputs z_mean and z_log_var side by side: (batch, 2 * latent_dim).
        super().__init__(
            latent_dim,
            encoder_units,
            decoder_units,
            image_shape,
            activation,
            code_outputs=2 * latent_dim,
            dropout=dropout,
            **kwargs,
        )
        self.likelihood = likelihood
        self.beta = float(beta)
        self.pixel_reduction = pixel_reduction
        self.free_bits = float(free_bits)
        self.kl_schedule = kl_schedule
        self.seed = seed
        self.num_samples = num_samples
        self.objective = objective
        if likelihood == "gaussian":
            # One learned log-variance for all pixels, started at log(0.1) ~ -2.3.
            self.decoder_log_var = self.add_weight(
                shape=(),
                initializer=keras.initializers.Constant(math.log(0.1)),
                name="decoder_log_var",
            )
        self.seed_generator = keras.random.SeedGenerator(seed)
        self.built = True

    def encode(self, x: tf.Tensor, training: bool = False) -> tuple[tf.Tensor, tf.Tensor]:
        """Returns ``(z_mean, z_log_var)``, each of shape ``(batch, latent_dim)``."""
        x = self.check_pixels(x)
        z_mean, z_log_var = tf.split(self.encoder(x, training=training), 2, axis=-1)
        return z_mean, z_log_var

    def sample(
        self, z_mean: tf.Tensor, z_log_var: tf.Tensor, epsilon: tf.Tensor | None = None
    ) -> tf.Tensor:
        """Draws ``z = z_mean + exp(z_log_var / 2) * epsilon`` (the reparameterisation).

        The noise ``epsilon ~ N(0, I)`` comes from the model's seeded generator (the
        training stream), unless it is given, so the draws are repeatable, and
        gradients flow to ``z_mean`` and ``z_log_var``.
        """
        if epsilon is None:
            epsilon = rng.normal(tf.shape(z_mean), self.seed_generator, dtype=z_mean.dtype)
        return z_mean + tf.exp(0.5 * z_log_var) * epsilon  # (batch, latent_dim)

    @property
    def noise_per_example(self) -> int:
        """Standard normal numbers :meth:`per_example_losses` draws per example.

        :func:`vaebook.evaluate.evaluate_losses` passes that many as ``noise``, from a
        stream of its own, so that evaluating never advances the training stream.
        """
        return self.num_samples * self.latent_dim

    def decode(self, z: tf.Tensor, training: bool = False) -> tf.Tensor:
        """Maps codes to decoder outputs: logits (Bernoulli) or pre-sigmoid means."""
        z = as_model_input(z, (self.latent_dim,), name="z")
        return self.decoder(z, training=training)

    def pixel_means(self, decoder_output: tf.Tensor) -> tf.Tensor:
        """Turns decoder outputs into expected pixel values in ``[0, 1]``.

        The sigmoid of the output for the Bernoulli and Gaussian decoders; the
        continuous Bernoulli's mean (:func:`vaebook.losses.continuous_bernoulli_mean`),
        which differs from its parameter, for that decoder.
        """
        if self.likelihood == "continuous_bernoulli":
            return continuous_bernoulli_mean(decoder_output)
        return tf.sigmoid(decoder_output)

    def log_likelihood(self, x: tf.Tensor, decoder_output: tf.Tensor) -> tf.Tensor:
        """``log p(x | z)`` per example (summed over pixels), from the decoder's output.

        Args:
            x: Images, shape ``(batch, *image_shape)``.
            decoder_output: The decoder's output, shape ``(batch, *image_shape)`` or
                with leading sample axes, e.g. ``(k, batch, *image_shape)``.

        Returns:
            Shape ``(batch,)``, or the leading axes of ``decoder_output``.
        """
        data_ndim = len(self.image_shape)
        if self.likelihood == "bernoulli":
            return -bernoulli_reconstruction_loss(x, decoder_output, data_ndim)
        if self.likelihood == "continuous_bernoulli":
            return -continuous_bernoulli_reconstruction_loss(x, decoder_output, data_ndim)
        return -gaussian_reconstruction_loss(
            x, self.pixel_means(decoder_output), self.decoder_log_var, data_ndim
        )

    def call(self, x: tf.Tensor, training: bool = False) -> tf.Tensor:
        """Decoder output for a sampled code (training) or for ``z_mean`` (inference)."""
        z_mean, z_log_var = self.encode(x, training=training)
        z = self.sample(z_mean, z_log_var) if training else z_mean
        return self.decode(z, training=training)

    def reconstruct(self, x: tf.Tensor) -> tf.Tensor:
        """Expected pixels of ``p(x | z = z_mean)``, in ``[0, 1]``."""
        return self.pixel_means(self(x, training=False))

    def generate(self, num_images: int, seed: int = 0) -> tf.Tensor:
        """Decodes ``num_images`` codes drawn from the prior ``N(0, I)``.

        Returns:
            Expected pixel values, shape ``(num_images, *image_shape)``.
        """
        check_positive_int(num_images, "num_images")
        z = rng.normal((num_images, self.latent_dim), seed)
        return self.generate_from(z)

    def generate_from(self, z: tf.Tensor) -> tf.Tensor:
        """Decodes given codes ``(n, latent_dim)`` to expected pixels ``(n, *image_shape)``."""
        return self.pixel_means(self.decode(z))

    def log_weights(self, x: tf.Tensor, epsilon: tf.Tensor, training: bool = False) -> tf.Tensor:
        r"""Importance log-weights of ``k`` codes per image.

        For :math:`z_s = \mu(x) + \sigma(x) \odot \varepsilon_s`,
        :math:`\log w_s = \log p(x \mid z_s) + \log p(z_s) - \log q(z_s \mid x)`. Their
        mean estimates the ELBO and :func:`vaebook.losses.importance_weighted_bound` of
        them the tighter bound :math:`\mathcal L_k` (chapter 5, and Burda et al., 2015).

        Args:
            x: Images, shape ``(batch, *image_shape)``.
            epsilon: Standard normal noise, shape ``(k, batch, latent_dim)``.
            training: Whether layers run in training mode.

        Returns:
            ``log w``, shape ``(k, batch)``, in nats.
        """
        z_mean, z_log_var = self.encode(x, training=training)  # (batch, latent_dim) each
        return self._log_weights_from(
            x, z_mean, z_log_var, epsilon, lambda z: self.decode(z, training=training)
        )

    def _log_weights_from(
        self,
        x: tf.Tensor,
        z_mean: tf.Tensor,
        z_log_var: tf.Tensor,
        epsilon: tf.Tensor,
        decode: Callable[[tf.Tensor], tf.Tensor],
    ) -> tf.Tensor:
        """The log-weights of :meth:`log_weights`, given the encoder's output.

        ``decode`` maps codes ``(k * batch, latent_dim)``, the ``k`` samples of each
        image stacked sample by sample, to decoder outputs (a conditional model passes
        one that also takes the labels, tiled the same way).
        """
        z = z_mean + tf.exp(0.5 * z_log_var) * epsilon  # (k, batch, latent_dim)
        # The decoder's layers take one batch axis: fold the k samples into it and back.
        decoded = decode(tf.reshape(z, (-1, self.latent_dim)))
        decoded = tf.reshape(decoded, tf.concat([tf.shape(z)[:2], self.image_shape], 0))
        log_px_z = self.log_likelihood(x, decoded)  # (k, batch)
        log_pz = gaussian_log_density(z, 0.0, 0.0, data_ndim=1)  # (k, batch)
        # log q(z | x) from the noise that drew z, since (z - z_mean) / sigma is epsilon.
        # Recomputing that ratio from z fails for a sharp posterior: z rounds to z_mean
        # and 0 / sigma^2 becomes 0 / 0 once sigma^2 underflows (log-variance -130).
        log_qz_x = gaussian_log_density(epsilon, 0.0, 0.0, data_ndim=1) - 0.5 * tf.reduce_sum(
            z_log_var, axis=-1
        )  # (k, batch)
        return log_px_z + log_pz - log_qz_x  # (k, batch)

    def per_example_losses(
        self,
        x: tf.Tensor,
        training: bool = False,
        noise: tf.Tensor | None = None,
        kl_weight: tf.Tensor | float | None = None,
    ) -> dict[str, tf.Tensor]:
        """The training objective per example.

        Args:
            x: Images in ``[0, 1]``, shape ``(batch, *image_shape)``.
            training: Whether layers run in training mode.
            noise: Standard normal noise of shape ``(batch, noise_per_example)``; row
                ``i`` gives image ``i``'s ``num_samples`` codes. ``None`` draws it from
                the model's generator.
            kl_weight: The KL schedule's weight at this step (the training loop passes
                it when the model has a ``kl_schedule``); ``None`` means 1.

        Returns:
            With ``objective="elbo"`` and ``num_samples=1``: ``"reconstruction_loss"``
            (``-log p(x | z)`` in nats, summed over pixels), ``"kl_loss"`` (nats) and
            ``"loss"``, the minimised objective: their sum with the KL weighted by
            ``beta`` times ``kl_weight`` and floored by ``free_bits`` (and the
            reconstruction divided by the number of pixels when
            ``pixel_reduction="mean"``). Otherwise ``"loss"``, the negative ELBO
            estimate or the negative importance-weighted bound from ``num_samples``
            codes. Each has shape ``(batch,)``.
        """
        x = self.check_pixels(x)
        epsilon = self._epsilon(noise, tf.shape(x)[0])
        if self.objective == "iwae" or self.num_samples > 1:
            if epsilon is None:
                shape = (self.num_samples, tf.shape(x)[0], self.latent_dim)
                epsilon = rng.normal(shape, self.seed_generator, dtype=x.dtype)
            log_w = self.log_weights(x, epsilon, training=training)  # (k, batch)
            if self.objective == "iwae":
                return {"loss": -importance_weighted_bound(log_w)}
            return {"loss": -tf.reduce_mean(log_w, axis=0)}
        z_mean, z_log_var = self.encode(x, training=training)
        return self._elbo_losses(
            x,
            z_mean,
            z_log_var,
            lambda z: self.decode(z, training=training),
            None if epsilon is None else epsilon[0],
            kl_weight,
        )

    def _epsilon(self, noise: tf.Tensor | None, batch: tf.Tensor) -> tf.Tensor | None:
        """Noise ``(batch, num_samples * latent_dim)`` as ``(num_samples, batch, latent_dim)``."""
        return None if noise is None else self.noise_draws(noise, batch, self.num_samples)

    def _elbo_losses(
        self,
        x: tf.Tensor,
        z_mean: tf.Tensor,
        z_log_var: tf.Tensor,
        decode: Callable[[tf.Tensor], tf.Tensor],
        epsilon: tf.Tensor | None = None,
        kl_weight: tf.Tensor | float | None = None,
    ) -> dict[str, tf.Tensor]:
        """One-sample negative ELBO with the closed-form KL, given the encoder's output."""
        z = self.sample(z_mean, z_log_var, epsilon)  # (batch, latent_dim)
        reconstruction_loss = -self.log_likelihood(x, decode(z))
        kl_per_unit = gaussian_kl_per_unit(z_mean, z_log_var)  # (batch, latent_dim)
        kl_loss = tf.reduce_sum(kl_per_unit, axis=-1)  # (batch,)
        kl_term = free_bits_kl(kl_per_unit, self.free_bits) if self.free_bits else kl_loss
        weight = self.beta if kl_weight is None else self.beta * kl_weight
        scale = 1.0 / self.num_pixels if self.pixel_reduction == "mean" else 1.0
        loss = scale * reconstruction_loss + weight * kl_term
        return {"loss": loss, "reconstruction_loss": reconstruction_loss, "kl_loss": kl_loss}

    def get_config(self) -> dict[str, Any]:
        """Returns the constructor arguments, for saving and cloning."""
        return super().get_config() | {
            "likelihood": self.likelihood,
            "beta": self.beta,
            "pixel_reduction": self.pixel_reduction,
            "free_bits": self.free_bits,
            "kl_schedule": None if self.kl_schedule is None else self.kl_schedule.get_config(),
            "seed": self.seed,
            "num_samples": self.num_samples,
            "objective": self.objective,
        }

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> VAE:
        """Rebuilds the model from :meth:`get_config`'s output."""
        return cls(**config)
