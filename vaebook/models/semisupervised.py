r"""The semi-supervised VAE of Kingma et al. (2014), their model M2 (chapter 8).

The class label :math:`y` is a latent variable that is observed for a few images and
missing for the rest. The generative model is :math:`p(y) = 1/K` (uniform over ``K``
classes), :math:`p(z) = \mathcal N(0, I)` and :math:`p_\theta(x \mid y, z)`; the
inference model has a classifier :math:`q_\phi(y \mid x)` and a Gaussian encoder
:math:`q_\phi(z \mid x, y)`. For a labelled image the negative ELBO is

.. math:: \mathcal L(x, y) = \mathbb E_{q(z \mid x, y)}[-\log p(x \mid y, z)]
          + D_{KL}(q(z \mid x, y) \,\|\, p(z)) - \log p(y);

for an unlabelled one the label is summed out under the classifier,

.. math:: \mathcal U(x) = \sum_y q(y \mid x)\, \mathcal L(x, y)
          - \mathcal H(q(y \mid x)),

a bound on :math:`-\log p(x)`. Neither term trains the classifier on the labels, so the
objective adds :math:`\alpha \cdot (-\log q(y \mid x))` for each labelled image [1, eq. 9].
One difference from the paper: there the encoder's variance depends on :math:`x` alone
[1, eq. 4]; here both its mean and its variance see the label.

With ``likelihood="bernoulli"`` the data are pixels in ``[0, 1]`` (M2 on images). With
``likelihood="gaussian"`` they are real-valued features, and the decoder gives the mean
of a diagonal Gaussian with one learned variance per feature: the paper's stacked model
M1+M2 trains M2 on the codes of a VAE (M1) this way [1, section 2.3].
Here each example's loss is :math:`\mathcal L + \alpha\,(-\log q)` if it is labelled and
:math:`\mathcal U` if not (label ``-1``), so that :func:`vaebook.train.train` trains the
model on a mixed set with ``y_train`` holding ``-1`` for the unlabelled images. Every
example evaluates the decoder once per class (``K`` codes), which is what summing out
the label costs.

[1] D. P. Kingma, D. J. Rezende, S. Mohamed and M. Welling. Semi-supervised learning with
    deep generative models. NeurIPS 2014.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import keras
import tensorflow as tf

from vaebook import rng
from vaebook.checks import (
    as_label_input,
    as_model_input,
    check_choice,
    check_labels,
    check_non_negative,
    check_positive_int,
    check_units,
)
from vaebook.losses import bernoulli_reconstruction_loss, gaussian_kl, gaussian_log_density
from vaebook.models.common import DenseEncoderDecoder, dense_stack

__all__ = ["SemiSupervisedVAE"]


@keras.saving.register_keras_serializable(package="vaebook")
class SemiSupervisedVAE(DenseEncoderDecoder):
    """Kingma et al.'s M2: a VAE whose class label is partly observed.

    Dense networks throughout. Labels are integers in ``[0, num_classes)``, and ``-1``
    for an unlabelled example.

    Args:
        num_classes: Number of classes ``K``.
        latent_dim: Length of the code ``z``.
        encoder_units: Hidden widths of the encoder ``q(z | x, y)``.
        decoder_units: Hidden widths of the decoder ``p(x | y, z)``; defaults to the
            encoder's in reverse.
        classifier_units: Hidden widths of the classifier ``q(y | x)``.
        classification_weight: The weight of ``-log q(y | x)`` in each labelled
            image's loss. The paper's objective (eq. 9) sums the bounds over all ``N``
            training images and adds ``alpha = 0.1 * N`` times the *mean* of ``-log q``
            over the ``N_l`` labelled ones; in this per-example form that is a weight of
            ``0.1 * N / N_l`` (60 for 100 labels among 60,000 images).
        image_shape: Shape of one example (an image, or ``(features,)``).
        activation: Activation of the hidden layers (the paper uses softplus).
        likelihood: ``"bernoulli"`` (pixels in ``[0, 1]``; the decoder gives logits) or
            ``"gaussian"`` (real-valued features; the decoder gives means, with one
            learned log-variance per feature).
        seed: Seed of the initial weights and the sampling noise (``None``: the global
            state, :func:`vaebook.train.set_seed`).
        **kwargs: Passed to ``keras.Model``.

    Example:
        >>> m2 = SemiSupervisedVAE(num_classes=10, latent_dim=2, seed=0)
        >>> losses = m2.per_example_losses(tf.zeros((3, 28, 28)), labels=[4, -1, -1])
        >>> sorted(losses)
        ['classification_loss', 'kl_loss', 'loss', 'reconstruction_loss']
        >>> m2.classify(tf.zeros((3, 28, 28))).shape  # logits of q(y | x)
        TensorShape([3, 10])
    """

    conditional = True
    semi_supervised = True

    def __init__(
        self,
        num_classes: int = 10,
        latent_dim: int = 50,
        encoder_units: Sequence[int] = (500,),
        decoder_units: Sequence[int] | None = None,
        classifier_units: Sequence[int] = (500,),
        classification_weight: float = 1.0,
        image_shape: Sequence[int] = (28, 28),
        activation: str = "softplus",
        likelihood: str = "bernoulli",
        seed: int | None = None,
        **kwargs: Any,
    ) -> None:
        self.likelihood = check_choice(likelihood, ("bernoulli", "gaussian"), "likelihood")
        # Pixels must lie in [0, 1]; features may be any real numbers.
        self.inputs_in_unit_interval = likelihood == "bernoulli"
        self.num_classes = check_positive_int(num_classes, "num_classes")
        self.classifier_units = check_units(classifier_units, "classifier_units")
        self.classification_weight = check_non_negative(
            classification_weight, "classification_weight"
        )
        latent_dim = check_positive_int(latent_dim, "latent_dim")
        super().__init__(
            latent_dim,
            encoder_units,
            decoder_units,
            image_shape,
            activation,
            code_outputs=2 * latent_dim,
            **kwargs,
        )
        self.seed = seed
        if likelihood == "gaussian":
            # One log-variance per feature, started at 0 (unit variance).
            self.decoder_log_var = self.add_weight(
                shape=self.image_shape, initializer="zeros", name="decoder_log_var"
            )
        self.seed_generator = keras.random.SeedGenerator(seed)
        self.built = True

    def make_networks(self, code_outputs: int) -> tuple[keras.Model, keras.Model]:
        """Builds the classifier, then the encoder and decoder that take the label."""
        self.classifier = dense_stack(
            self.image_shape,
            self.classifier_units,
            self.activation,
            "classifier",
            output_units=self.num_classes,
            flatten=True,
        )
        encoder = dense_stack(
            (self.num_pixels + self.num_classes,),
            self.encoder_units,
            self.activation,
            "encoder",
            output_units=code_outputs,
        )
        decoder = dense_stack(
            (self.latent_dim + self.num_classes,),
            self.decoder_units,
            self.activation,
            "decoder",
            output_units=self.num_pixels,
            output_shape=self.image_shape,
        )
        return encoder, decoder

    def classify(self, x: tf.Tensor, training: bool = False) -> tf.Tensor:
        """Logits of ``q(y | x)``, shape ``(batch, num_classes)``."""
        x = self.check_pixels(x)
        return self.classifier(x, training=training)

    def predict_labels(self, x: tf.Tensor) -> tf.Tensor:
        """The classifier's most probable class per image, shape ``(batch,)``."""
        return tf.argmax(self.classify(x), axis=-1, output_type=tf.int32)

    def _encode(
        self, x: tf.Tensor, y: tf.Tensor, training: bool = False
    ) -> tuple[tf.Tensor, tf.Tensor]:
        """``q(z | x, y)`` for one-hot ``y`` (batch, num_classes)."""
        flat = tf.reshape(x, (-1, self.num_pixels))  # (batch, num_pixels)
        code = self.encoder(tf.concat([flat, y], axis=-1), training=training)
        z_mean, z_log_var = tf.split(code, 2, axis=-1)
        return z_mean, z_log_var

    def _decode(self, z: tf.Tensor, y: tf.Tensor, training: bool = False) -> tf.Tensor:
        """Logits of ``p(x | y, z)`` for one-hot ``y``."""
        return self.decoder(tf.concat([z, y], axis=-1), training=training)

    def one_hot(self, labels: object) -> tf.Tensor:
        """Checks class labels and returns them one-hot, shape ``(batch, num_classes)``."""
        labels = as_label_input(labels, self.num_classes)
        return tf.one_hot(labels, self.num_classes, dtype=tf.float32)

    def encode(  # type: ignore[override]
        self, x: tf.Tensor, labels: object, training: bool = False
    ) -> tuple[tf.Tensor, tf.Tensor]:
        """``(z_mean, z_log_var)`` of ``q(z | x, y)``, each ``(batch, latent_dim)``.

        Args:
            x: Images, shape ``(batch, *image_shape)``.
            labels: Their classes, shape ``(batch,)``.
            training: Whether layers run in training mode.
        """
        x = self.check_pixels(x)
        return self._encode(x, self.one_hot(labels), training=training)

    def decode(  # type: ignore[override]
        self, z: tf.Tensor, labels: object, training: bool = False
    ) -> tf.Tensor:
        """The decoder's output for codes and class labels, ``(batch, *image_shape)``.

        Logits of ``p(x | y, z)`` (Bernoulli) or its means (Gaussian).
        """
        z = as_model_input(z, (self.latent_dim,), name="z")
        return self._decode(z, self.one_hot(labels), training=training)

    def call(self, x: tf.Tensor, training: bool = False) -> tf.Tensor:
        """Logits of ``q(y | x)`` (the model's prediction)."""
        return self.classify(x, training=training)

    def generate(self, labels: object, seed: int = 0) -> tf.Tensor:
        """Decodes one prior draw ``z ~ N(0, I)`` per label: means ``(n, *image_shape)``."""
        labels = check_labels(labels, "labels", num_classes=self.num_classes)
        z = rng.normal((len(labels), self.latent_dim), seed)
        output = self.decode(z, labels)
        return tf.sigmoid(output) if self.likelihood == "bernoulli" else output

    def _negative_log_likelihood(self, x: tf.Tensor, output: tf.Tensor) -> tf.Tensor:
        """``-log p(x | y, z)`` per example from the decoder's output."""
        data_ndim = len(self.image_shape)
        if self.likelihood == "bernoulli":
            return bernoulli_reconstruction_loss(x, output, data_ndim)
        return -gaussian_log_density(x, output, self.decoder_log_var, data_ndim)

    def losses_given_noise(
        self, x: tf.Tensor, labels: tf.Tensor, epsilon: tf.Tensor, training: bool = False
    ) -> dict[str, tf.Tensor]:
        """Per-example losses for given noise: the whole objective, written out.

        Args:
            x: Images, shape ``(batch, *image_shape)``.
            labels: Shape ``(batch,)``, a class or ``-1`` (unlabelled).
            epsilon: Standard normal noise, shape ``(num_classes, batch, latent_dim)``:
                row ``c`` reparameterises the code drawn for class ``c``.
            training: Whether layers run in training mode.

        Returns:
            Each of shape ``(batch,)``, in nats: ``"reconstruction_loss"`` (the expected
            ``-log p(x | y, z)``, over ``q(y | x)`` when unlabelled), ``"kl_loss"`` (the
            KL terms of ``z`` and of ``y``: for a labelled image ``-log p(y) = log K``),
            ``"classification_loss"`` (``-log q(y | x)`` for a labelled image, 0
            otherwise) and ``"loss"``: reconstruction plus KL plus ``alpha`` times the
            classification loss.
        """
        x = self.check_pixels(x)
        labels = as_label_input(labels, self.num_classes, allow_unlabelled=True)
        epsilon = tf.convert_to_tensor(epsilon, dtype=x.dtype)
        wanted = (self.num_classes, x.shape[0], self.latent_dim)
        if epsilon.shape.rank != 3 or any(
            have is not None and want is not None and have != want
            for have, want in zip(epsilon.shape, wanted)
        ):
            raise ValueError(
                "epsilon must have shape (num_classes, batch, latent_dim) = "
                f"{wanted}; got {tuple(epsilon.shape)}."
            )
        k, batch = self.num_classes, tf.shape(x)[0]
        # Every image with every class: (k * batch, ...), class c in rows c * batch ...
        x_all = tf.tile(x, tf.concat([[k], tf.ones(len(self.image_shape), tf.int32)], 0))
        classes = tf.repeat(tf.range(k), batch)  # (k * batch,)
        y_all = tf.one_hot(classes, k, dtype=x.dtype)  # (k * batch, k)
        z_mean, z_log_var = self._encode(x_all, y_all, training=training)
        z = z_mean + tf.exp(0.5 * z_log_var) * tf.reshape(epsilon, (-1, self.latent_dim))
        logits = self._decode(z, y_all, training=training)
        reconstruction = tf.reshape(
            self._negative_log_likelihood(x_all, logits), (k, batch)
        )  # (k, batch): -log p(x | y = c, z_c)
        kl_z = tf.reshape(gaussian_kl(z_mean, z_log_var), (k, batch))  # (k, batch)

        log_q = tf.nn.log_softmax(self.classify(x, training=training))  # (batch, k)
        q = tf.exp(log_q)
        labelled = labels >= 0  # (batch,)
        # The weight of each class's term: the label for a labelled image, q(y | x) else.
        observed = tf.one_hot(tf.maximum(labels, 0), k, dtype=x.dtype)  # (batch, k)
        weights = tf.where(labelled[:, None], observed, q)  # (batch, k)
        reconstruction_loss = tf.reduce_sum(weights * tf.transpose(reconstruction), axis=1)
        kl_z_expected = tf.reduce_sum(weights * tf.transpose(kl_z), axis=1)
        log_k = math.log(k)
        # KL(q(y | x) || uniform) = sum q log q + log K; for an observed label, log K.
        kl_y = tf.where(labelled, log_k, tf.reduce_sum(q * log_q, axis=1) + log_k)
        classification_loss = tf.where(
            labelled, -tf.reduce_sum(observed * log_q, axis=1), tf.zeros_like(kl_y)
        )
        kl_loss = kl_z_expected + kl_y
        loss = reconstruction_loss + kl_loss + self.classification_weight * classification_loss
        return {
            "loss": loss,
            "reconstruction_loss": reconstruction_loss,
            "kl_loss": kl_loss,
            "classification_loss": classification_loss,
        }

    @property
    def noise_per_example(self) -> int:
        """How many standard normal numbers each example needs (one code per class)."""
        return self.num_classes * self.latent_dim

    def per_example_losses(  # type: ignore[override]
        self,
        x: tf.Tensor,
        training: bool = False,
        labels: object = None,
        noise: tf.Tensor | None = None,
    ) -> dict[str, tf.Tensor]:
        """The training objective per example (see :meth:`losses_given_noise`).

        Args:
            x: Images, shape ``(batch, *image_shape)``.
            training: Whether layers run in training mode.
            labels: Shape ``(batch,)``: a class, or ``-1`` for an unlabelled image;
                required (all ``-1`` gives the unsupervised bound of every image).
            noise: Standard normal numbers, shape ``(batch, noise_per_example)``: row
                ``i`` holds image ``i``'s code noise for each class. ``None`` draws
                them from the model's generator.

        Returns:
            ``"loss"``, ``"reconstruction_loss"``, ``"kl_loss"`` and
            ``"classification_loss"``, each ``(batch,)``.
        """
        if labels is None:
            raise ValueError(
                "SemiSupervisedVAE needs labels: a class for each labelled image and -1 "
                "for each unlabelled one (y_train=... in vaebook.train.train)."
            )
        x = self.check_pixels(x)
        if noise is None:
            shape = (self.num_classes, tf.shape(x)[0], self.latent_dim)
            epsilon = rng.normal(shape, self.seed_generator, dtype=x.dtype)
        else:
            epsilon = self.noise_draws(noise, tf.shape(x)[0], self.num_classes)
        return self.losses_given_noise(x, labels, epsilon, training=training)

    def get_config(self) -> dict[str, Any]:
        """Returns the constructor arguments, for saving and cloning."""
        config = super().get_config()
        config.pop("dropout", None)
        return config | {
            "num_classes": self.num_classes,
            "classifier_units": list(self.classifier_units),
            "classification_weight": self.classification_weight,
            "likelihood": self.likelihood,
            "seed": self.seed,
        }

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> SemiSupervisedVAE:
        """Rebuilds the model from :meth:`get_config`'s output."""
        return cls(**config)
