r"""The adversarial autoencoder of chapter 3.

An adversarial autoencoder (Makhzani et al., 2016) is a deterministic autoencoder whose
codes are pushed towards a chosen prior :math:`p(z) = \mathcal N(0, I)` by a GAN played
in code space. A discriminator :math:`D` learns to tell samples of the prior (label 1)
from the encoder's codes (label 0); the encoder, acting as the generator, learns to
fool it. Each training batch runs three phases, each with its own optimiser:

1. **reconstruction**: encoder and decoder minimise the reconstruction loss;
2. **discriminator**: :math:`D` minimises
   :math:`-\log D(z_{prior}) - \log(1 - D(z_{code}))`;
3. **generator**: the encoder minimises :math:`-\log D(z_{code})`.

Where a VAE pulls each image's *posterior* towards the prior with a KL term, the
adversarial autoencoder matches the *aggregate* distribution of all codes to it, so
decoding prior samples gives plausible images.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import keras
import tensorflow as tf

from vaebook import rng
from vaebook.checks import check_positive, check_positive_int, check_units
from vaebook.losses import bernoulli_reconstruction_loss
from vaebook.models.autoencoder import Autoencoder
from vaebook.models.common import dense_stack

__all__ = ["AdversarialAutoencoder"]


def _binary_cross_entropy(logits: tf.Tensor, label: float) -> tf.Tensor:
    """Cross-entropy of discriminator logits ``(batch, 1)`` against a constant label."""
    return bernoulli_reconstruction_loss(tf.fill(tf.shape(logits), label), logits)


@keras.saving.register_keras_serializable(package="vaebook")
class AdversarialAutoencoder(Autoencoder):
    """An autoencoder whose codes a discriminator pushes towards ``N(0, I)``.

    The reconstruction phase uses the optimiser that :func:`vaebook.train.train` passes
    in; the discriminator and generator phases use the model's own Adam optimisers
    (``phase_optimizers``), whose states are saved in checkpoints too.

    Args:
        latent_dim: Length of the code ``z``.
        discriminator_units: Hidden widths of the discriminator (ReLU).
        adversarial_learning_rate: Learning rate of the discriminator and generator
            phases (Adam with ``beta_1 = 0.5``, usual for adversarial games).
        seed: Seed of the prior samples.
        **kwargs: Other :class:`~vaebook.models.Autoencoder` arguments.

    Example:
        >>> model = AdversarialAutoencoder(latent_dim=2, seed=0)
        >>> sorted(model.per_example_losses(tf.zeros((4, 28, 28))))
        ['discriminator_loss', 'generator_loss', 'loss', 'reconstruction_loss']
    """

    def __init__(
        self,
        latent_dim: int = 2,
        discriminator_units: Sequence[int] = (256, 256),
        adversarial_learning_rate: float = 5e-4,
        seed: int | None = None,
        **kwargs: Any,
    ) -> None:
        self.discriminator_units = check_units(discriminator_units, "discriminator_units")
        self.adversarial_learning_rate = check_positive(
            adversarial_learning_rate, "adversarial_learning_rate"
        )
        super().__init__(latent_dim=latent_dim, seed=seed, **kwargs)

    def _create_state(self) -> None:
        self.discriminator = dense_stack(
            (self.latent_dim,), self.discriminator_units, "relu", "discriminator", output_units=1
        )
        self.prior_generator = keras.random.SeedGenerator(self.seed)
        self._phase_optimizers = (
            keras.optimizers.Adam(self.adversarial_learning_rate, beta_1=0.5),
            keras.optimizers.Adam(self.adversarial_learning_rate, beta_1=0.5),
        )
        self._phase_optimizers[0].build(self.discriminator.trainable_variables)
        self._phase_optimizers[1].build(self.encoder.trainable_variables)

    @property
    def phase_optimizers(self) -> tuple[keras.optimizers.Optimizer, ...]:
        """The discriminator's and the generator's optimisers, in that order."""
        return self._phase_optimizers

    def sample_prior(self, num: tf.Tensor | int) -> tf.Tensor:
        """Draws ``num`` codes from ``N(0, I)``, shape ``(num, latent_dim)``."""
        return rng.normal((num, self.latent_dim), self.prior_generator)

    def discriminator_loss(self, z_code: tf.Tensor, z_prior: tf.Tensor) -> tf.Tensor:
        """``-log D(z_prior) - log(1 - D(z_code))`` per example, shape ``(batch,)``."""
        real = self.discriminator(z_prior, training=True)  # (batch, 1) logits
        fake = self.discriminator(tf.stop_gradient(z_code), training=True)
        return _binary_cross_entropy(real, 1.0) + _binary_cross_entropy(fake, 0.0)

    def generator_loss(self, z_code: tf.Tensor) -> tf.Tensor:
        """``-log D(z_code)`` per example: small when the codes fool the discriminator."""
        return _binary_cross_entropy(self.discriminator(z_code, training=True), 1.0)

    @property
    def noise_per_example(self) -> int:
        """Standard normal numbers per example that :meth:`per_example_losses` takes."""
        return self.latent_dim

    def per_example_losses(
        self, x: tf.Tensor, training: bool = False, noise: tf.Tensor | None = None
    ) -> dict[str, tf.Tensor]:
        """The three phases' losses for a batch, without updating anything.

        ``"loss"`` is the reconstruction loss (what the autoencoder phase minimises).
        ``noise``, of shape ``(batch, latent_dim)``, gives the prior draws that the
        discriminator's loss compares with the codes; ``None`` draws them from the
        model's generator.
        """
        z_code = self.encode(x, training=training)  # (batch, latent_dim)
        reconstruction_loss = self.reconstruction_loss(x, self.decode(z_code, training=training))
        if noise is None:
            z_prior = self.sample_prior(tf.shape(z_code)[0])
        else:
            z_prior = self.noise_draws(noise, tf.shape(z_code)[0], 1)[0]  # (batch, latent_dim)
        return {
            "loss": reconstruction_loss,
            "reconstruction_loss": reconstruction_loss,
            "discriminator_loss": self.discriminator_loss(z_code, z_prior),
            "generator_loss": self.generator_loss(z_code),
        }

    def apply_update(
        self, x: tf.Tensor, optimizer: keras.optimizers.Optimizer
    ) -> dict[str, tf.Tensor]:
        """One training step: the reconstruction, discriminator and generator phases.

        Called by :func:`vaebook.train.make_train_step` instead of its single
        gradient step.

        Args:
            x: A batch of images.
            optimizer: The reconstruction phase's optimiser.

        Returns:
            The per-example losses of the three phases, each of shape ``(batch,)``.
        """
        autoencoder_variables = self.encoder.trainable_variables + self.decoder.trainable_variables
        with tf.GradientTape() as tape:
            logits = self(x, training=True)
            reconstruction_loss = self.reconstruction_loss(x, logits)
            loss = tf.reduce_mean(reconstruction_loss)
        optimizer.apply_gradients(
            zip(tape.gradient(loss, autoencoder_variables), autoencoder_variables)
        )

        discriminator_optimizer, generator_optimizer = self._phase_optimizers
        z_code = self.encode(x, training=True)
        z_prior = self.sample_prior(tf.shape(z_code)[0])
        with tf.GradientTape() as tape:
            discriminator_loss = self.discriminator_loss(z_code, z_prior)
            loss = tf.reduce_mean(discriminator_loss)
        variables = self.discriminator.trainable_variables
        discriminator_optimizer.apply_gradients(zip(tape.gradient(loss, variables), variables))

        with tf.GradientTape() as tape:
            generator_loss = self.generator_loss(self.encode(x, training=True))
            loss = tf.reduce_mean(generator_loss)
        variables = self.encoder.trainable_variables
        generator_optimizer.apply_gradients(zip(tape.gradient(loss, variables), variables))
        return {
            "loss": reconstruction_loss,
            "reconstruction_loss": reconstruction_loss,
            "discriminator_loss": discriminator_loss,
            "generator_loss": generator_loss,
        }

    def generate(self, num_images: int, seed: int = 0) -> tf.Tensor:
        """Decodes ``num_images`` codes drawn from the prior, pixels in ``[0, 1]``."""
        num_images = check_positive_int(num_images, "num_images")
        z = rng.normal((num_images, self.latent_dim), seed)
        return tf.sigmoid(self.decode(z))

    def get_config(self) -> dict[str, Any]:
        """Returns the constructor arguments, for saving and cloning."""
        return super().get_config() | {
            "discriminator_units": list(self.discriminator_units),
            "adversarial_learning_rate": self.adversarial_learning_rate,
            "seed": self.seed,
        }
