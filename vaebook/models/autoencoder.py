r"""The dense autoencoder of chapters 1 and 2.

An encoder :math:`g_{\theta_1}` maps an image to a short code
:math:`z = g_{\theta_1}(x)` and a decoder :math:`h_{\theta_2}` maps the code back to an
image :math:`\\bar x = h_{\theta_2}(z)`; both are trained together to make
:math:`\\bar x` close to :math:`x` (chapter 1, "The autoencoder principle").
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import keras
import tensorflow as tf

from vaebook.checks import as_model_input, check_choice
from vaebook.losses import bernoulli_reconstruction_loss, squared_error
from vaebook.models.common import DenseEncoderDecoder

__all__ = ["Autoencoder"]

RECONSTRUCTIONS = ("bernoulli", "squared_error")


@keras.saving.register_keras_serializable(package="vaebook")
class Autoencoder(DenseEncoderDecoder):
    """A fully connected autoencoder whose decoder outputs logits.

    The default widths are those of the source notebook: encoder 784-256-128-64-20 and
    decoder 20-64-128-256-784, ReLU in the hidden layers, a linear code and linear
    logits (487,588 parameters). The image is ``sigmoid(logits)``, so it always lies in
    ``[0, 1]``.

    Args:
        latent_dim: Length of the code ``z``.
        encoder_units: Widths of the encoder's hidden layers.
        decoder_units: Widths of the decoder's hidden layers; defaults to the encoder's
            widths in reverse (a mirrored network).
        image_shape: Shape of one image.
        activation: Activation of the hidden layers.
        reconstruction: The training loss, ``"bernoulli"`` (sigmoid cross-entropy from
            the logits) or ``"squared_error"`` (on ``sigmoid(logits)``), each summed
            over pixels.
        dropout: Fraction of hidden units dropped during training (the dropout
            autoencoder of chapter 3); 0, the default, adds no dropout layers.
        seed: Seed of the initial weights and the dropout masks (and of a subclass's
            noise), so that the same seed builds the same model in any process;
            ``None`` takes them from the global state (:func:`vaebook.train.set_seed`).
        **kwargs: Passed to ``keras.Model`` (e.g. ``name``).

    Example:
        >>> model = Autoencoder(latent_dim=20)
        >>> logits = model(tf.zeros((2, 28, 28)))  # (batch, 28, 28)
        >>> model.count_params()
        487588
    """

    def __init__(
        self,
        latent_dim: int = 20,
        encoder_units: Sequence[int] = (256, 128, 64),
        decoder_units: Sequence[int] | None = None,
        image_shape: Sequence[int] = (28, 28),
        activation: str = "relu",
        reconstruction: str = "bernoulli",
        dropout: float = 0.0,
        seed: int | None = None,
        **kwargs: Any,
    ) -> None:
        check_choice(reconstruction, RECONSTRUCTIONS, "reconstruction")
        self.seed = seed
        super().__init__(
            latent_dim,
            encoder_units,
            decoder_units,
            image_shape,
            activation,
            code_outputs=latent_dim,
            dropout=dropout,
            **kwargs,
        )
        self.reconstruction = reconstruction
        self._create_state()
        self.build()

    def _create_state(self) -> None:
        """Creates a subclass's extra layers and generators (before the model is built)."""

    def encode(self, x: tf.Tensor, training: bool = False) -> tf.Tensor:
        """Maps images ``(batch, *image_shape)`` to codes ``(batch, latent_dim)``."""
        x = self.check_pixels(x)
        return self.encoder(x, training=training)

    def decode(self, z: tf.Tensor, training: bool = False) -> tf.Tensor:
        """Maps codes ``(batch, latent_dim)`` to logits ``(batch, *image_shape)``."""
        z = as_model_input(z, (self.latent_dim,), name="z")
        return self.decoder(z, training=training)

    def call(self, x: tf.Tensor, training: bool = False) -> tf.Tensor:
        """Returns the reconstruction logits, shape ``(batch, *image_shape)``."""
        return self.decode(self.encode(x, training=training), training=training)

    def reconstruct(self, x: tf.Tensor) -> tf.Tensor:
        """Returns reconstructed images in ``[0, 1]`` (the sigmoid of the logits)."""
        return tf.sigmoid(self(x, training=False))

    def per_example_losses(self, x: tf.Tensor, training: bool = False) -> dict[str, tf.Tensor]:
        """Computes the training loss of each example.

        Args:
            x: Images in ``[0, 1]``, shape ``(batch, *image_shape)``.
            training: Whether layers run in training mode.

        Returns:
            ``{"loss": ..., "reconstruction_loss": ...}``, each of shape ``(batch,)``;
            :func:`vaebook.train.train` minimises the batch mean of ``"loss"``.
        """
        reconstruction_loss = self.reconstruction_loss(x, self(x, training=training))
        return {"loss": reconstruction_loss, "reconstruction_loss": reconstruction_loss}

    def reconstruction_loss(self, x: tf.Tensor, logits: tf.Tensor) -> tf.Tensor:
        """The chosen reconstruction loss of targets ``x`` given logits, shape ``(batch,)``."""
        if self.reconstruction == "bernoulli":
            return bernoulli_reconstruction_loss(x, logits, data_ndim=len(self.image_shape))
        return squared_error(x, tf.sigmoid(logits), data_ndim=len(self.image_shape))

    def get_config(self) -> dict[str, Any]:
        """Returns the constructor arguments, for saving and cloning."""
        return super().get_config() | {"reconstruction": self.reconstruction, "seed": self.seed}

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> Autoencoder:
        """Rebuilds the model from :meth:`get_config`'s output."""
        return cls(**config)
