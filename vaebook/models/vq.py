r"""Vector quantisation (向量量化): the bottleneck of the VQ-VAE, in Keras 3 without TFP.

A VQ-VAE's encoder outputs a vector :math:`z_e` at every position of a grid; the
quantiser replaces each by the nearest of :math:`K` *codebook* (码本) vectors
:math:`e_1, \dots, e_K`, so the image becomes a grid of integers [1]:

.. math:: k^\ast = \arg\min_k \lVert z_e - e_k \rVert^2, \qquad z_q = e_{k^\ast}.

The argmin has no gradient. The *straight-through* estimator passes the decoder's
gradient with respect to :math:`z_q` unchanged to :math:`z_e`, by computing
:math:`z_e + \operatorname{sg}[z_q - z_e]` (``sg``: stop the gradient), which equals
:math:`z_q` in the forward pass and has Jacobian :math:`I` with respect to
:math:`z_e`. Two losses then place the codebook and the encoder's outputs near each
other:

.. math:: \mathcal L_\text{codebook} = \lVert \operatorname{sg}[z_e] - z_q \rVert^2,
          \qquad
          \mathcal L_\text{commit} = \beta\, \lVert z_e - \operatorname{sg}[z_q] \rVert^2,

the first moving the codes towards the encoder's outputs, the second (with
:math:`\beta = 0.25` in [1]) keeping the encoder committed to its codes. Instead of
the codebook loss, the codebook can follow *exponential moving averages* of the
outputs assigned to each code (the paper's appendix): with decay :math:`\gamma`,
assignment counts :math:`n_k` and sums :math:`s_k` of a batch,

.. math:: N_k \leftarrow \gamma N_k + (1 - \gamma) n_k, \quad
          m_k \leftarrow \gamma m_k + (1 - \gamma) s_k, \quad
          e_k = m_k / \tilde N_k,

where :math:`\tilde N_k` smooths the counts so that no division is by zero. A code that
no output chooses any more stops moving; *restarting* it at a random output of the
batch puts it back to use [2].

References:
    1. A. van den Oord, O. Vinyals and K. Kavukcuoglu. Neural discrete representation
       learning. *NeurIPS*, 2017.
    2. A. Łańcucki et al. Robust training of vector quantized bottleneck models.
       *IJCNN*, 2020.
"""

from __future__ import annotations

from typing import Any

import keras
import numpy as np
import tensorflow as tf

from vaebook.checks import (
    as_model_input,
    check_code_grid,
    check_fraction,
    check_non_negative,
    check_positive_int,
    check_unit_interval,
    check_units,
)
from vaebook.losses import bernoulli_reconstruction_loss
from vaebook.models.common import SeededModel

__all__ = ["VQVAE", "VectorQuantizer", "codebook_perplexity"]


def codebook_perplexity(indices: object, num_codes: int) -> float:
    r"""How many codes are in use: :math:`\exp` of the entropy of their frequencies.

    Equal to ``num_codes`` when every code is chosen equally often, and to 1 when a
    single code is chosen every time.

    Args:
        indices: Chosen codes, integers in ``[0, num_codes)``, any shape.
        num_codes: The codebook size :math:`K`.

    Returns:
        The perplexity, in ``[1, num_codes]``.

    Raises:
        ValueError: If ``indices`` is empty or holds values outside ``[0, num_codes)``.

    Example:
        >>> codebook_perplexity([0, 1, 2, 3], num_codes=8)
        4.0
    """
    num_codes = check_positive_int(num_codes, "num_codes")
    values = np.asarray(indices).reshape(-1)
    if values.size == 0 or not np.issubdtype(values.dtype, np.integer):
        raise ValueError(f"indices must be a non-empty array of integers; got {values.dtype}.")
    if values.min() < 0 or values.max() >= num_codes:
        raise ValueError(
            f"indices must lie in [0, {num_codes}); got values from {values.min()} to "
            f"{values.max()}."
        )
    frequencies = np.bincount(values, minlength=num_codes) / values.size
    used = frequencies[frequencies > 0]
    return float(np.exp(-np.sum(used * np.log(used))))


@keras.saving.register_keras_serializable(package="vaebook")
class VectorQuantizer(keras.layers.Layer):
    r"""Replaces each vector by its nearest codebook vector, with a straight-through gradient.

    Args:
        num_codes: Codebook size :math:`K`, at least 1.
        code_dim: Size :math:`D` of each vector (the input's last axis).
        commitment: :math:`\beta`, the commitment loss's weight (0.25 in the paper).
        ema_decay: ``None`` learns the codebook by gradient through the codebook loss;
            a decay :math:`\gamma` in ``(0, 1)`` updates it by moving averages instead
            (then the codebook loss is not needed and is returned as 0).
        restart_below: With moving averages: a code whose averaged count
            :math:`N_k` falls below this many assignments per batch is restarted at a
            random encoder output of the batch (0 never restarts).
        seed: Seed of the codebook's initial values and of the restarts.
        **kwargs: Passed to :class:`keras.layers.Layer`.

    Example:
        >>> quantizer = VectorQuantizer(num_codes=16, code_dim=4, seed=0)
        >>> out = quantizer(tf.random.normal((2, 7, 7, 4)))
        >>> out["quantized"].shape, out["indices"].shape
        (TensorShape([2, 7, 7, 4]), TensorShape([2, 7, 7]))
    """

    def __init__(
        self,
        num_codes: int,
        code_dim: int,
        commitment: float = 0.25,
        ema_decay: float | None = None,
        restart_below: float = 0.0,
        seed: int | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.num_codes = check_positive_int(num_codes, "num_codes (the codebook size)")
        self.code_dim = check_positive_int(code_dim, "code_dim")
        self.commitment = check_non_negative(commitment, "commitment")
        if ema_decay is not None:
            ema_decay = check_fraction(ema_decay, "ema_decay", upper_inclusive=False)
            if ema_decay == 0:
                raise ValueError("ema_decay must be in (0, 1), or None; got 0.")
        self.ema_decay = ema_decay
        self.restart_below = check_non_negative(restart_below, "restart_below")
        if self.restart_below > 0 and ema_decay is None:
            raise ValueError(
                "restart_below restarts codes by their moving-average counts, which only "
                "exist with ema_decay; give ema_decay too, or restart_below=0."
            )
        self.seed = seed
        self._restart_seeds = keras.random.SeedGenerator(seed)  # where codes restart
        initial = keras.initializers.RandomUniform(-1.0, 1.0, seed=seed)
        self.codebook = self.add_weight(
            name="codebook",
            shape=(self.num_codes, self.code_dim),
            initializer=initial,
            trainable=ema_decay is None,
        )
        if ema_decay is not None:
            self.ema_count = self.add_weight(
                name="ema_count", shape=(self.num_codes,), initializer="ones", trainable=False
            )
            self.ema_sum = self.add_weight(
                name="ema_sum",
                shape=(self.num_codes, self.code_dim),
                initializer=initial,
                trainable=False,
            )
            self.ema_sum.assign(self.codebook)  # counts of 1: sums equal the codes

    def nearest(self, z_e: tf.Tensor) -> tf.Tensor:
        """The index of each vector's nearest code: shape ``z_e.shape[:-1]``."""
        z_e = self._check(z_e)
        flat = tf.reshape(z_e, (-1, self.code_dim))  # (n, D)
        distances = (
            tf.reduce_sum(flat**2, axis=1, keepdims=True)
            - 2.0 * flat @ tf.transpose(self.codebook)
            + tf.reduce_sum(self.codebook**2, axis=1)[None, :]
        )  # (n, K): squared distances to every code
        indices = tf.argmin(distances, axis=1, output_type=tf.int32)
        return tf.reshape(indices, tf.shape(z_e)[:-1])

    def lookup(self, indices: tf.Tensor) -> tf.Tensor:
        """The codebook vectors of ``indices``: shape ``indices.shape + (D,)``."""
        return tf.gather(self.codebook, indices)

    def call(self, z_e: tf.Tensor, training: bool = False) -> dict[str, tf.Tensor]:
        """Quantises ``z_e``, shape ``(..., D)``.

        Returns:
            ``"quantized"`` (:math:`z_q` in value, the identity's gradient to
            :math:`z_e`), ``"indices"``, and ``"codebook_loss"`` and
            ``"commitment_loss"`` (the latter already weighted by ``commitment``) for
            each vector, summed over its ``D`` dimensions: shape ``z_e.shape[:-1]``, for
            the model to sum over positions and average over images.
        """
        z_e = self._check(z_e)
        indices = self.nearest(z_e)
        z_q = self.lookup(indices)  # the codes as they were when chosen
        if training and self.ema_decay is not None:
            self._ema_update(z_e, indices)
        squared = lambda a, b: tf.reduce_sum((a - b) ** 2, axis=-1)  # noqa: E731
        codebook_loss = squared(tf.stop_gradient(z_e), z_q)
        if self.ema_decay is not None:
            codebook_loss = tf.zeros_like(codebook_loss)  # the averages move the codes
        commitment_loss = self.commitment * squared(z_e, tf.stop_gradient(z_q))
        return {
            "quantized": z_e + tf.stop_gradient(z_q - z_e),
            "indices": indices,
            "codebook_loss": codebook_loss,
            "commitment_loss": commitment_loss,
        }

    def _ema_update(self, z_e: tf.Tensor, indices: tf.Tensor) -> None:
        """One moving-average step of the codebook, then restarts of unused codes."""
        flat = tf.reshape(tf.stop_gradient(z_e), (-1, self.code_dim))  # (n, D)
        one_hot = tf.one_hot(tf.reshape(indices, (-1,)), self.num_codes)  # (n, K)
        decay = self.ema_decay
        self.ema_count.assign(decay * self.ema_count + (1 - decay) * tf.reduce_sum(one_hot, 0))
        self.ema_sum.assign(decay * self.ema_sum + (1 - decay) * tf.transpose(one_hot) @ flat)
        # Laplace smoothing: no count is zero, and the counts keep their total.
        total = tf.reduce_sum(self.ema_count)
        epsilon = 1e-5
        smoothed = (self.ema_count + epsilon) / (total + self.num_codes * epsilon) * total
        self.codebook.assign(self.ema_sum / smoothed[:, None])
        if self.restart_below > 0:
            dead = self.ema_count < self.restart_below  # (K,)
            picks = keras.random.randint(
                (self.num_codes,), 0, tf.shape(flat)[0], dtype="int32", seed=self._restart_seeds
            )
            fresh = tf.gather(flat, picks)  # (K, D): a random output per code
            self.codebook.assign(tf.where(dead[:, None], fresh, self.codebook))
            self.ema_sum.assign(tf.where(dead[:, None], fresh, self.ema_sum))
            self.ema_count.assign(tf.where(dead, tf.ones_like(self.ema_count), self.ema_count))

    def _check(self, z_e: tf.Tensor) -> tf.Tensor:
        z_e = tf.convert_to_tensor(z_e, dtype=self.codebook.dtype)
        if z_e.shape.rank is not None and (z_e.shape.rank < 1 or z_e.shape[-1] != self.code_dim):
            raise ValueError(
                f"the quantiser takes vectors of size {self.code_dim} on the last axis; got "
                f"shape {z_e.shape}."
            )
        tf.debugging.assert_all_finite(z_e, "the quantiser's input holds NaN or infinity")
        return z_e

    def get_config(self) -> dict[str, Any]:
        """The constructor arguments, for saving and cloning."""
        return super().get_config() | {
            "num_codes": self.num_codes,
            "code_dim": self.code_dim,
            "commitment": self.commitment,
            "ema_decay": self.ema_decay,
            "restart_below": self.restart_below,
            "seed": self.seed,
        }


@keras.saving.register_keras_serializable(package="vaebook")
class VQVAE(SeededModel):
    r"""A VQ-VAE (van den Oord et al., 2017): a code that is a grid of codebook indices.

    The encoder's stride-2 convolutions map a 28 x 28 image to a 7 x 7 grid of vectors of
    size ``code_dim`` (with the default two layers); :class:`VectorQuantizer` replaces
    each by its nearest codebook vector; the decoder's transposed convolutions map the
    grid back to one logit per pixel. The image is therefore described by
    :math:`7 \cdot 7 = 49` integers, each in ``[0, num_codes)``: at most
    :math:`49 \log_2 K` bits. The loss of each image is the Bernoulli reconstruction
    loss summed over pixels plus the quantiser's losses summed over the grid.

    Args:
        num_codes: Codebook size :math:`K`.
        code_dim: Size of each codebook vector.
        filters: Channels of the encoder's stride-2 convolutions (the decoder's
            transposed convolutions use them in reverse).
        kernel_size: Side of the square kernels.
        image_shape: Shape of one image; each side divisible by ``2 ** len(filters)``.
        activation: Activation of the hidden layers.
        commitment: The commitment loss's weight :math:`\beta`.
        ema_decay: ``None`` learns the codebook by gradient; a decay in ``(0, 1)`` by
            moving averages (see :class:`VectorQuantizer`).
        restart_below: With moving averages, the averaged count below which a code is
            restarted (0 never restarts).
        seed: Seed of the initial weights, the codebook and the restarts.
        **kwargs: Passed to ``keras.Model``.

    Example:
        >>> model = VQVAE(num_codes=64, code_dim=16, seed=0)
        >>> model.encode(tf.zeros((2, 28, 28))).shape  # codebook indices
        TensorShape([2, 7, 7])
        >>> model.bits_per_image
        294.0
    """

    # XLA's CPU convolutions are slow (vaebook.runtime.use_xla): compile without it there.
    xla_on_cpu = False

    def __init__(
        self,
        num_codes: int = 64,
        code_dim: int = 16,
        filters: tuple[int, ...] = (32, 64),
        kernel_size: int = 3,
        image_shape: tuple[int, ...] = (28, 28),
        activation: str = "relu",
        commitment: float = 0.25,
        ema_decay: float | None = 0.99,
        restart_below: float = 0.0,
        seed: int | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.num_codes = check_positive_int(num_codes, "num_codes (the codebook size)")
        self.code_dim = check_positive_int(code_dim, "code_dim")
        self.filters = check_units(filters, "filters")
        if not self.filters:
            raise ValueError("filters must name at least one convolution; got ().")
        self.kernel_size = check_positive_int(kernel_size, "kernel_size")
        self.image_shape = check_units(image_shape, "image_shape")
        if len(self.image_shape) != 2:
            raise ValueError(
                f"image_shape must be (height, width) for VQVAE; got {self.image_shape}."
            )
        factor = 2 ** len(self.filters)
        height, width = self.image_shape
        if height % factor or width % factor:
            raise ValueError(
                f"image_shape {self.image_shape} has a side that {len(self.filters)} "
                f"stride-2 layers cannot halve exactly (it must be divisible by {factor})."
            )
        self.grid_shape = (height // factor, width // factor)
        self.activation = activation
        self.seed = seed
        self.encoder = self._make_encoder()
        self.decoder = self._make_decoder()
        self.quantizer = VectorQuantizer(
            num_codes,
            code_dim,
            commitment=commitment,
            ema_decay=ema_decay,
            restart_below=restart_below,
            seed=seed,
            name="quantizer",
        )
        self.built = True

    def _make_encoder(self) -> keras.Sequential:
        layers: list[keras.layers.Layer] = [
            keras.Input(shape=self.image_shape),
            keras.layers.Reshape((*self.image_shape, 1), name="add_channels"),
        ]
        for index, channels in enumerate(self.filters):
            layers.append(
                keras.layers.Conv2D(
                    channels,
                    self.kernel_size,
                    strides=2,
                    padding="same",
                    activation=self.activation,
                    name=f"conv_{index}",
                )
            )  # each halves height and width
        # A 1 x 1 convolution to one linear vector of code_dim numbers per position.
        layers.append(keras.layers.Conv2D(self.code_dim, 1, name="to_codes"))
        return keras.Sequential(layers, name="encoder")

    def _make_decoder(self) -> keras.Sequential:
        layers: list[keras.layers.Layer] = [
            keras.Input(shape=(*self.grid_shape, self.code_dim)),
            keras.layers.Conv2D(
                self.filters[-1],
                self.kernel_size,
                padding="same",
                activation=self.activation,
                name="from_codes",
            ),
        ]
        for index, channels in enumerate(reversed(self.filters)):
            layers.append(
                keras.layers.Conv2DTranspose(
                    channels,
                    self.kernel_size,
                    strides=2,
                    padding="same",
                    activation=self.activation,
                    name=f"deconv_{index}",
                )
            )  # each doubles height and width
        layers.append(keras.layers.Conv2D(1, self.kernel_size, padding="same", name="output"))
        layers.append(keras.layers.Reshape(self.image_shape, name="to_image"))
        return keras.Sequential(layers, name="decoder")

    @property
    def bits_per_image(self) -> float:
        """The most bits a code grid can hold, ``grid positions * log2(num_codes)``."""
        return float(np.prod(self.grid_shape) * np.log2(self.num_codes))

    def check_pixels(self, x: object) -> tf.Tensor:
        """``x`` as a float32 batch of images in ``[0, 1]``, checked at the door."""
        x = as_model_input(x, self.image_shape)
        check_unit_interval(x, "x")
        return x

    def encode_vectors(self, x: tf.Tensor, training: bool = False) -> tf.Tensor:
        """The encoder's outputs before quantisation: ``(batch, *grid_shape, code_dim)``."""
        return self.encoder(self.check_pixels(x), training=training)

    def encode(self, x: tf.Tensor) -> tf.Tensor:
        """Images ``(batch, *image_shape)`` to code grids ``(batch, *grid_shape)``, int32."""
        return self.quantizer.nearest(self.encode_vectors(x))

    def decode(self, indices: object) -> tf.Tensor:
        """Code grids ``(batch, *grid_shape)`` to logits ``(batch, *image_shape)``."""
        indices = check_code_grid(indices, self.num_codes, self.grid_shape)
        return self.decoder(self.quantizer.lookup(indices))

    def generate_from(self, indices: object) -> tf.Tensor:
        """Code grids to images: the decoder's pixel means, ``(batch, *image_shape)``."""
        return tf.sigmoid(self.decode(indices))

    def call(self, x: tf.Tensor, training: bool = False) -> tf.Tensor:
        """Returns the reconstruction logits, shape ``(batch, *image_shape)``."""
        quantized = self.quantizer(self.encode_vectors(x, training), training=training)
        return self.decoder(quantized["quantized"], training=training)

    def reconstruct(self, x: tf.Tensor) -> tf.Tensor:
        """Returns reconstructed images in ``[0, 1]`` (the sigmoid of the logits)."""
        return tf.sigmoid(self(x, training=False))

    def per_example_losses(self, x: tf.Tensor, training: bool = False) -> dict[str, tf.Tensor]:
        """The training loss of each image and its parts.

        Args:
            x: Images in ``[0, 1]``, shape ``(batch, *image_shape)``.
            training: Whether to update the codebook's moving averages (and restarts).

        Returns:
            ``"loss"``, ``"reconstruction_loss"`` (nats, summed over pixels),
            ``"codebook_loss"`` and ``"commitment_loss"`` (summed over the grid), each
            of shape ``(batch,)``.
        """
        z_e = self.encode_vectors(x, training)  # (batch, 7, 7, code_dim)
        quantized = self.quantizer(z_e, training=training)
        logits = self.decoder(quantized["quantized"], training=training)  # (batch, 28, 28)
        reconstruction_loss = bernoulli_reconstruction_loss(x, logits, data_ndim=2)
        codebook_loss = tf.reduce_sum(quantized["codebook_loss"], axis=(1, 2))
        commitment_loss = tf.reduce_sum(quantized["commitment_loss"], axis=(1, 2))
        return {
            "loss": reconstruction_loss + codebook_loss + commitment_loss,
            "reconstruction_loss": reconstruction_loss,
            "codebook_loss": codebook_loss,
            "commitment_loss": commitment_loss,
        }

    def get_config(self) -> dict[str, Any]:
        """The constructor arguments, for saving and cloning."""
        return super().get_config() | {
            "num_codes": self.num_codes,
            "code_dim": self.code_dim,
            "filters": list(self.filters),
            "kernel_size": self.kernel_size,
            "image_shape": list(self.image_shape),
            "activation": self.activation,
            "commitment": self.quantizer.commitment,
            "ema_decay": self.quantizer.ema_decay,
            "restart_below": self.quantizer.restart_below,
            "seed": self.seed,
        }

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> VQVAE:
        """Rebuilds the model from :meth:`get_config`'s output."""
        config = dict(config)
        config["filters"] = tuple(config["filters"])
        config["image_shape"] = tuple(config["image_shape"])
        return cls(**config)
