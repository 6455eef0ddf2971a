r"""The sparse autoencoder of chapter 3.

A sparse autoencoder may have *more* code units than pixels (an overcomplete code),
which alone would let it copy its input. A penalty keeps each image's code sparse:
most units are near zero for any one image, and each unit becomes a detector of one
pattern. With code activations :math:`a_j(x) \in (0, 1)` (a sigmoid),

* the **KL penalty** (Ng, 2011) compares each unit's average activation over a batch,
  :math:`\hat\rho_j = \frac1B \sum_b a_j(x_b)`, with a target rate :math:`\rho`:
  :math:`\sum_j \rho \log\frac{\rho}{\hat\rho_j} + (1-\rho)\log\frac{1-\rho}{1-\hat\rho_j}`,
  the KL divergence between Bernoulli(:math:`\rho`) and Bernoulli(:math:`\hat\rho_j`);
* the **L1 penalty** adds :math:`\sum_j |a_j(x)|` for each image.

The loss is the reconstruction loss plus ``sparsity_weight`` times the penalty.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import keras
import numpy as np
import tensorflow as tf

from vaebook.checks import check_choice, check_fraction, check_non_negative
from vaebook.losses import bernoulli_kl
from vaebook.models.autoencoder import Autoencoder

__all__ = ["PENALTIES", "SparseAutoencoder"]

PENALTIES = ("kl", "l1")


@keras.saving.register_keras_serializable(package="vaebook")
class SparseAutoencoder(Autoencoder):
    """An autoencoder with sigmoid code units and a sparsity penalty on them.

    By default a single hidden layer of 1,000 units (more than the 784 pixels) is the
    code, and the decoder is one dense layer, so each code unit's decoder weights are
    an image: the pattern that unit adds to the reconstruction (:meth:`features`).

    Args:
        latent_dim: Number of code units.
        penalty: ``"kl"`` (towards the average rate ``target_rate``) or ``"l1"``.
        sparsity_weight: Weight of the penalty, >= 0 (0 gives a plain overcomplete
            autoencoder with sigmoid codes).
        target_rate: The KL penalty's target average activation, in ``(0, 1)``.
        encoder_units: Hidden layers before the code; none by default.
        decoder_units: Hidden layers after the code; none by default.
        **kwargs: Other :class:`~vaebook.models.Autoencoder` arguments.

    Example:
        >>> model = SparseAutoencoder(latent_dim=1000, penalty="kl")
        >>> codes = model.encode(tf.zeros((2, 28, 28)))  # (2, 1000), in (0, 1)
        >>> model.features().shape  # one 28x28 pattern per code unit
        (1000, 28, 28)
    """

    def __init__(
        self,
        latent_dim: int = 1000,
        penalty: str = "kl",
        sparsity_weight: float = 3.0,
        target_rate: float = 0.05,
        encoder_units: Sequence[int] = (),
        decoder_units: Sequence[int] | None = (),
        **kwargs: Any,
    ) -> None:
        check_choice(penalty, PENALTIES, "penalty")
        self.sparsity_weight = check_non_negative(sparsity_weight, "sparsity_weight")
        self.target_rate = check_fraction(target_rate, "target_rate")
        if not 0 < self.target_rate < 1:
            raise ValueError(f"target_rate must lie strictly between 0 and 1; got {target_rate}.")
        super().__init__(
            latent_dim=latent_dim,
            encoder_units=encoder_units,
            decoder_units=decoder_units,
            **kwargs,
        )
        self.penalty = penalty

    def encode(self, x: tf.Tensor, training: bool = False) -> tf.Tensor:
        """Code activations in ``(0, 1)``, shape ``(batch, latent_dim)``."""
        return tf.sigmoid(super().encode(x, training=training))

    def sparsity_penalty(self, codes: tf.Tensor) -> tf.Tensor:
        """The penalty of each example, shape ``(batch,)``.

        The KL penalty depends on the batch's average activations, so every example of
        a batch carries the same value; the batch mean that training minimises is then
        exactly the penalty of the batch.
        """
        if self.penalty == "l1":
            return tf.reduce_sum(tf.abs(codes), axis=1)
        rates = tf.reduce_mean(codes, axis=0)  # (latent_dim,)
        penalty = tf.reduce_sum(bernoulli_kl(self.target_rate, rates))
        return tf.fill(tf.shape(codes)[:1], penalty)

    def per_example_losses(self, x: tf.Tensor, training: bool = False) -> dict[str, tf.Tensor]:
        """Reconstruction loss plus the weighted sparsity penalty, per example.

        Returns:
            ``"loss"``, ``"reconstruction_loss"`` and ``"sparsity_penalty"``, each of
            shape ``(batch,)``.
        """
        codes = self.encode(x, training=training)  # (batch, latent_dim)
        reconstruction_loss = self.reconstruction_loss(x, self.decode(codes, training=training))
        penalty = self.sparsity_penalty(codes)
        return {
            "loss": reconstruction_loss + self.sparsity_weight * penalty,
            "reconstruction_loss": reconstruction_loss,
            "sparsity_penalty": penalty,
        }

    def features(self) -> np.ndarray:
        """Each code unit's decoder weights as an image, scaled to ``[0, 1]``.

        Returns:
            Array of shape ``(latent_dim, *image_shape)``; each image is min-max scaled
            on its own so that its pattern is visible.

        Raises:
            ValueError: If the decoder has hidden layers (then a unit's effect on the
                image is not a fixed pattern).
        """
        if self.decoder_units:
            raise ValueError(
                "features() needs a decoder without hidden layers (decoder_units=()); "
                f"this one has {self.decoder_units}."
            )
        kernel = np.asarray(self.decoder.get_layer("output").kernel)  # (latent_dim, pixels)
        low = kernel.min(axis=1, keepdims=True)
        high = kernel.max(axis=1, keepdims=True)
        scaled = (kernel - low) / np.maximum(high - low, 1e-12)
        return scaled.reshape((self.latent_dim, *self.image_shape))

    def get_config(self) -> dict[str, Any]:
        """Returns the constructor arguments, for saving and cloning."""
        return super().get_config() | {
            "penalty": self.penalty,
            "sparsity_weight": self.sparsity_weight,
            "target_rate": self.target_rate,
        }
