r"""Convolutional autoencoders and VAEs, and the conditional VAE.

The dense models of chapters 1-5 flatten an image into 784 numbers, so a pattern seen at
one place must be learned again at every other. A convolution slides one small filter
over the whole image instead: the same few weights serve every position, and each
output depends only on a neighbourhood (a *local receptive field*).

The encoder here is a stack of ``Conv2D`` layers with stride 2, each halving the height
and width and holding ``filters[i]`` channels (28 x 28 x 1 -> 14 x 14 x 32 -> 7 x 7 x 64
with the default ``filters=(32, 64)``), flattened into a linear layer that outputs the
code (or ``z_mean`` and ``z_log_var``). The decoder mirrors it: a linear layer to
7 x 7 x 64, ``Conv2DTranspose`` layers with stride 2 that double height and width, and
a final ``Conv2D`` with one output channel: the logits (or means) of the pixels.

:class:`ConditionalVAE` (Sohn, Lee & Yan, 2015) also feeds the class label ``y``, one-hot,
into the encoder's last layer and into the decoder, and so models
:math:`p_\theta(x \mid y)`: :meth:`vaebook.models.ConditionalVAE.generate` draws images
of the classes asked for.
"""

from __future__ import annotations

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
    check_positive_int,
    check_units,
)
from vaebook.models.autoencoder import Autoencoder
from vaebook.models.vae import VAE

__all__ = ["ConditionalVAE", "ConvAutoencoder", "ConvVAE", "conv_decoder", "conv_encoder"]

_DENSE_ONLY = ("encoder_units", "decoder_units", "dropout")
#: How a convolutional decoder doubles the image's size (see ``conv_decoder``).
UPSAMPLINGS = ("transposed", "resize")


def _channels_shape(image_shape: Sequence[int]) -> tuple[int, int, int]:
    """``(height, width)`` -> ``(height, width, 1)``; ``(h, w, c)`` is kept."""
    if len(image_shape) == 2:
        return (image_shape[0], image_shape[1], 1)
    if len(image_shape) == 3:
        return tuple(image_shape)  # type: ignore[return-value]
    raise ValueError(
        f"image_shape must be (height, width) or (height, width, channels) for a "
        f"convolutional model; got {tuple(image_shape)}."
    )


def _check_divisible(image_shape: Sequence[int], num_layers: int) -> tuple[int, int]:
    """The height and width after ``num_layers`` halvings, checked to be whole."""
    height, width, _ = _channels_shape(image_shape)
    factor = 2**num_layers
    if height % factor or width % factor:
        raise ValueError(
            f"image_shape {tuple(image_shape)} has a side that {num_layers} stride-2 "
            f"layers cannot halve exactly (it must be divisible by {factor}); use fewer "
            "filters or pad the images."
        )
    return height // factor, width // factor


def conv_encoder(
    image_shape: Sequence[int],
    filters: Sequence[int],
    kernel_size: int,
    activation: str,
    output_units: int | None,
    name: str = "encoder",
) -> keras.Sequential:
    """Builds ``Conv2D(filters[0], stride 2) -> ... -> Flatten -> [Dense(output_units)]``.

    Args:
        image_shape: Shape of one image, ``(height, width)`` or with channels.
        filters: Channels of each stride-2 convolution, in order.
        kernel_size: Side of the square kernels.
        activation: Activation of the convolutions.
        output_units: Width of the final linear layer; ``None`` ends at the flattened
            features (the conditional VAE adds the label before its own output layer).
        name: Name of the returned model.

    Returns:
        A built ``keras.Sequential``: ``(batch, *image_shape)`` to
        ``(batch, output_units)``.
    """
    _check_divisible(image_shape, len(filters))
    layers: list[keras.layers.Layer] = [
        keras.Input(shape=tuple(image_shape)),
        keras.layers.Reshape(_channels_shape(image_shape), name="add_channels"),
    ]
    for index, channels in enumerate(filters):
        layers.append(
            keras.layers.Conv2D(
                channels,
                kernel_size,
                strides=2,
                padding="same",
                activation=activation,
                name=f"conv_{index}",
            )
        )  # each halves height and width
    layers.append(keras.layers.Flatten(name="flatten"))
    if output_units is not None:
        layers.append(keras.layers.Dense(output_units, name="output"))
    return keras.Sequential(layers, name=name)


def conv_decoder(
    input_size: int,
    image_shape: Sequence[int],
    filters: Sequence[int],
    kernel_size: int,
    activation: str,
    name: str = "decoder",
    upsampling: str = "transposed",
) -> keras.Sequential:
    """Builds ``Dense -> Reshape -> Conv2DTranspose(stride 2) ... -> Conv2D`` to pixels.

    With ``upsampling="resize"`` each transposed convolution is replaced by a
    nearest-neighbour resize to twice the size followed by an ordinary convolution
    (Odena, Dumoulin & Olah, 2016): a stride-2 transposed convolution with a 3 x 3
    kernel covers some output pixels with more kernel taps than others, which can print
    a checkerboard pattern on the images; a resize then convolve covers every pixel
    alike.

    Args:
        input_size: Length of the input vector (the code, plus the one-hot label for a
            conditional decoder).
        image_shape: Shape of one output image.
        filters: Channels of the stride-2 transposed convolutions, in order (the
            encoder's in reverse for a mirrored network).
        kernel_size: Side of the square kernels.
        activation: Activation of the hidden layers.
        name: Name of the returned model.
        upsampling: ``"transposed"`` (stride-2 transposed convolutions) or
            ``"resize"`` (a nearest-neighbour resize, then a convolution).

    Returns:
        A built ``keras.Sequential``: ``(batch, input_size)`` to linear outputs
        ``(batch, *image_shape)`` (logits or pre-sigmoid means).
    """
    check_choice(upsampling, UPSAMPLINGS, "upsampling")
    height, width = _check_divisible(image_shape, len(filters))
    channels = _channels_shape(image_shape)[2]
    layers: list[keras.layers.Layer] = [
        keras.Input(shape=(input_size,)),
        keras.layers.Dense(height * width * filters[0], activation=activation, name="dense"),
        keras.layers.Reshape((height, width, filters[0]), name="to_grid"),
    ]
    for index, width_out in enumerate(filters):
        if upsampling == "resize":
            layers.append(keras.layers.UpSampling2D(2, name=f"resize_{index}"))
            layers.append(
                keras.layers.Conv2D(
                    width_out,
                    kernel_size,
                    padding="same",
                    activation=activation,
                    name=f"resize_conv_{index}",
                )
            )
        else:
            layers.append(
                keras.layers.Conv2DTranspose(
                    width_out,
                    kernel_size,
                    strides=2,
                    padding="same",
                    activation=activation,
                    name=f"deconv_{index}",
                )
            )  # each doubles height and width
    layers.append(keras.layers.Conv2D(channels, kernel_size, padding="same", name="output"))
    layers.append(keras.layers.Reshape(tuple(image_shape), name="to_image"))
    return keras.Sequential(layers, name=name)


class _ConvNetworks:
    """Swaps a model family's dense encoder and decoder for convolutional ones.

    Mixed in before :class:`~vaebook.models.Autoencoder` or :class:`~vaebook.models.VAE`:
    everything else (losses, sampling, evaluation) is theirs. The dense family's
    ``encoder_units`` carry the convolutions' channels.
    """

    filters: tuple[int, ...]
    kernel_size: int
    upsampling: str
    # XLA's CPU convolutions are slow (vaebook.runtime.use_xla): compile without it there.
    xla_on_cpu = False

    def _set_conv_args(
        self, filters: Sequence[int], kernel_size: int, kwargs: dict, upsampling: str
    ) -> None:
        given = sorted(set(_DENSE_ONLY) & set(kwargs))
        if given:
            raise TypeError(
                f"{type(self).__name__} takes filters and kernel_size, not {given} "
                "(those belong to the dense models)."
            )
        self.filters = check_units(filters, "filters")
        if not self.filters:
            raise ValueError("filters must name at least one convolution; got ().")
        self.kernel_size = check_positive_int(kernel_size, "kernel_size")
        self.upsampling = check_choice(upsampling, UPSAMPLINGS, "upsampling")

    def make_networks(self, code_outputs: int) -> tuple[keras.Model, keras.Model]:
        """Builds the convolutional encoder and its mirrored decoder."""
        encoder = conv_encoder(
            self.image_shape, self.filters, self.kernel_size, self.activation, code_outputs
        )
        decoder = conv_decoder(
            self.latent_dim,
            self.image_shape,
            tuple(reversed(self.filters)),
            self.kernel_size,
            self.activation,
            upsampling=self.upsampling,
        )
        return encoder, decoder

    def get_config(self) -> dict[str, Any]:
        """Returns the constructor arguments, for saving and cloning."""
        config = super().get_config()  # type: ignore[misc]
        for key in _DENSE_ONLY:
            config.pop(key, None)
        return config | {
            "filters": list(self.filters),
            "kernel_size": self.kernel_size,
            "upsampling": self.upsampling,
        }


@keras.saving.register_keras_serializable(package="vaebook")
class ConvAutoencoder(_ConvNetworks, Autoencoder):
    """A convolutional autoencoder: the interface of :class:`Autoencoder`, with convolutions.

    Args:
        latent_dim: Length of the code ``z``.
        filters: Channels of the encoder's stride-2 convolutions; the decoder's
            transposed convolutions use them in reverse.
        kernel_size: Side of the square kernels.
        image_shape: Shape of one image; each side must be divisible by
            ``2 ** len(filters)``.
        activation: Activation of the hidden layers.
        reconstruction: ``"bernoulli"`` or ``"squared_error"``, as in
            :class:`Autoencoder`.
        upsampling: How the decoder doubles the image's size: ``"transposed"``
            convolutions or ``"resize"`` then convolve (see ``conv_decoder``).
        **kwargs: Passed to ``keras.Model``.

    Example:
        >>> model = ConvAutoencoder(latent_dim=20)
        >>> model(tf.zeros((2, 28, 28))).shape  # logits (batch, 28, 28)
        TensorShape([2, 28, 28])
        >>> model.count_params()
        203093
    """

    def __init__(
        self,
        latent_dim: int = 20,
        filters: Sequence[int] = (32, 64),
        kernel_size: int = 3,
        image_shape: Sequence[int] = (28, 28),
        activation: str = "relu",
        reconstruction: str = "bernoulli",
        upsampling: str = "transposed",
        **kwargs: Any,
    ) -> None:
        self._set_conv_args(filters, kernel_size, kwargs, upsampling)
        super().__init__(
            latent_dim=latent_dim,
            encoder_units=self.filters,
            image_shape=image_shape,
            activation=activation,
            reconstruction=reconstruction,
            **kwargs,
        )


@keras.saving.register_keras_serializable(package="vaebook")
class ConvVAE(_ConvNetworks, VAE):
    """A convolutional VAE: the interface of :class:`VAE`, with convolutions.

    Args:
        latent_dim: Length of the code ``z``.
        filters: Channels of the encoder's stride-2 convolutions; the decoder's
            transposed convolutions use them in reverse.
        kernel_size: Side of the square kernels.
        upsampling: How the decoder doubles the image's size: ``"transposed"``
            convolutions or ``"resize"`` then convolve (see ``conv_decoder``).
        **kwargs: The other arguments of :class:`VAE` (``image_shape``,
            ``activation``, ``likelihood``, ``beta``, ``pixel_reduction``,
            ``free_bits``, ``kl_schedule``, ``seed``,
            ``num_samples``, ``objective``), then those of ``keras.Model``.

    Example:
        >>> vae = ConvVAE(latent_dim=2, seed=0)
        >>> z_mean, z_log_var = vae.encode(tf.zeros((3, 28, 28)))  # (3, 2) each
        >>> vae.generate(4).shape  # pixel means (4, 28, 28)
        TensorShape([4, 28, 28])
    """

    def __init__(
        self,
        latent_dim: int = 20,
        filters: Sequence[int] = (32, 64),
        kernel_size: int = 3,
        upsampling: str = "transposed",
        **kwargs: Any,
    ) -> None:
        self._set_conv_args(filters, kernel_size, kwargs, upsampling)
        super().__init__(latent_dim=latent_dim, encoder_units=self.filters, **kwargs)


@keras.saving.register_keras_serializable(package="vaebook")
class ConditionalVAE(ConvVAE):
    r"""A conditional convolutional VAE (Sohn et al., 2015): a model of ``p(x | y)``.

    The one-hot label ``y`` joins the flattened convolutional features before the
    encoder's output layer, giving :math:`q_\phi(z \mid x, y)`, and joins the code at
    the decoder's input, giving :math:`p_\theta(x \mid z, y)`; the prior stays
    :math:`\mathcal N(0, I)`. Its negative ELBO bounds :math:`-\log p(x \mid y)`, so
    with a uniform label prior :math:`-\log p(x) \le -\mathrm{ELBO}(x, y) + \log C`
    for ``C`` classes: the way to compare it with an unconditional model.

    Training and evaluation pass the labels: ``train(model, x, y_train=labels, ...)``
    and ``evaluate_losses(model, x, labels=labels)``. Only the ELBO with one sample and
    the closed-form KL is supported.

    Args:
        latent_dim: Length of the code ``z``.
        num_classes: Number of classes; labels are integers in ``[0, num_classes)``.
        filters: Channels of the encoder's stride-2 convolutions.
        kernel_size: Side of the square kernels.
        **kwargs: The other arguments of :class:`VAE` (``image_shape``,
            ``activation``, ``likelihood``, ``beta``, ``seed``), then those of
            ``keras.Model``.

    Example:
        >>> cvae = ConditionalVAE(latent_dim=2, num_classes=10, seed=0)
        >>> losses = cvae.per_example_losses(tf.zeros((3, 28, 28)), labels=[0, 4, 9])
        >>> cvae.generate([0, 0, 7]).shape  # two images of class 0, one of class 7
        TensorShape([3, 28, 28])
    """

    conditional = True

    def __init__(
        self,
        latent_dim: int = 20,
        num_classes: int = 10,
        filters: Sequence[int] = (32, 64),
        kernel_size: int = 3,
        upsampling: str = "transposed",
        **kwargs: Any,
    ) -> None:
        self.num_classes = check_positive_int(num_classes, "num_classes")
        for name, allowed in (("num_samples", 1), ("objective", "elbo")):
            if kwargs.get(name, allowed) != allowed:
                raise ValueError(
                    f"ConditionalVAE supports only {name}={allowed!r}; got {kwargs[name]!r}."
                )
        super().__init__(
            latent_dim,
            filters=filters,
            kernel_size=kernel_size,
            upsampling=upsampling,
            **kwargs,
        )

    def make_networks(self, code_outputs: int) -> tuple[keras.Model, keras.Model]:
        """Builds the feature extractor, the output layer after the label, the decoder."""
        encoder = conv_encoder(
            self.image_shape, self.filters, self.kernel_size, self.activation, None
        )
        features = encoder.output_shape[-1]
        self.encoder_output = keras.layers.Dense(code_outputs, name="encoder_output")
        self.encoder_output.build((None, features + self.num_classes))
        decoder = conv_decoder(
            self.latent_dim + self.num_classes,
            self.image_shape,
            tuple(reversed(self.filters)),
            self.kernel_size,
            self.activation,
            upsampling=self.upsampling,
        )
        return encoder, decoder

    def one_hot(self, labels: object) -> tf.Tensor:
        """Checks integer labels and returns them one-hot, shape ``(batch, num_classes)``.

        Labels are checked eagerly by value and, inside a compiled function, by an
        in-graph assertion. XLA drops assertions, so there a label outside
        ``[0, num_classes)`` gives a row of NaN instead of ``tf.one_hot``'s silent row
        of zeros: whatever is computed from it is NaN, and training stops on it.
        """
        labels = as_label_input(labels, self.num_classes)
        y = tf.one_hot(labels, self.num_classes, dtype=tf.float32)
        if tf.executing_eagerly():
            return y
        valid = (labels >= 0) & (labels < self.num_classes)  # (batch,)
        tf.debugging.assert_equal(
            tf.reduce_all(valid),
            True,
            message=f"ConditionalVAE: labels must lie in [0, {self.num_classes})",
        )
        return tf.where(valid[:, None], y, tf.fill(tf.shape(y), float("nan")))

    def _join_label(self, inputs: tf.Tensor, labels: object, name: str) -> tf.Tensor:
        """``[inputs, one_hot(labels)]`` side by side, after checking one label each."""
        y = self.one_hot(labels)  # (batch, num_classes)
        count, wanted = y.shape[0], inputs.shape[0]
        if tf.executing_eagerly():
            count, wanted = int(tf.shape(y)[0]), int(tf.shape(inputs)[0])
        if count is not None and wanted is not None and count != wanted:
            raise ValueError(f"labels has {count} entries for {wanted} {name}; need one each.")
        return tf.concat([inputs, y], axis=-1)

    def encode(  # type: ignore[override]
        self, x: tf.Tensor, labels: object, training: bool = False
    ) -> tuple[tf.Tensor, tf.Tensor]:
        """Returns ``(z_mean, z_log_var)`` of ``q(z | x, y)``, each ``(batch, latent_dim)``."""
        x = self.check_pixels(x)
        features = self.encoder(x, training=training)  # (batch, features)
        code = self.encoder_output(self._join_label(features, labels, "images"))
        z_mean, z_log_var = tf.split(code, 2, axis=-1)
        return z_mean, z_log_var

    def decode(  # type: ignore[override]
        self, z: tf.Tensor, labels: object, training: bool = False
    ) -> tf.Tensor:
        """Maps codes and labels to decoder outputs ``(batch, *image_shape)``."""
        z = as_model_input(z, (self.latent_dim,), name="z")
        return self.decoder(self._join_label(z, labels, "codes"), training=training)

    def call(  # type: ignore[override]
        self, x: tf.Tensor, labels: object = None, training: bool = False
    ) -> tf.Tensor:
        """Decoder output for a sampled code (training) or for ``z_mean`` (inference)."""
        self._need_labels(labels)
        z_mean, z_log_var = self.encode(x, labels, training=training)
        z = self.sample(z_mean, z_log_var) if training else z_mean
        return self.decode(z, labels, training=training)

    def reconstruct(self, x: tf.Tensor, labels: object = None) -> tf.Tensor:  # type: ignore[override]
        """Expected pixels of ``p(x | z = z_mean, y)``, in ``[0, 1]``."""
        self._need_labels(labels)
        labels = as_label_input(labels, self.num_classes)
        return self.pixel_means(self(x, labels=labels, training=False))

    def generate(self, labels: object, seed: int = 0) -> tf.Tensor:  # type: ignore[override]
        """Decodes one prior draw ``z ~ N(0, I)`` per label into an image of that class.

        Args:
            labels: Integer labels, one per image wanted, each in ``[0, num_classes)``.
            seed: Seed of the codes.

        Returns:
            Expected pixel values, shape ``(len(labels), *image_shape)``.
        """
        labels = check_labels(labels, "labels", num_classes=self.num_classes)
        z = rng.normal((len(labels), self.latent_dim), seed)
        return self.generate_from(z, labels)

    def generate_from(self, z: tf.Tensor, labels: object) -> tf.Tensor:  # type: ignore[override]
        """Decodes given codes ``(n, latent_dim)`` and labels ``(n,)`` to pixel means."""
        return self.pixel_means(self.decode(z, labels))

    def log_weights(  # type: ignore[override]
        self, x: tf.Tensor, epsilon: tf.Tensor, training: bool = False, labels: object = None
    ) -> tf.Tensor:
        """Importance log-weights ``log p(x | z_s, y) + log p(z_s) - log q(z_s | x, y)``.

        Args:
            x: Images, shape ``(batch, *image_shape)``.
            epsilon: Standard normal noise, shape ``(k, batch, latent_dim)``.
            training: Whether layers run in training mode.
            labels: The images' labels, shape ``(batch,)``.

        Returns:
            ``log w``, shape ``(k, batch)``, in nats.
        """
        self._need_labels(labels)
        z_mean, z_log_var = self.encode(x, labels, training=training)
        k = tf.shape(epsilon)[0]
        tiled = tf.tile(as_label_input(labels, self.num_classes), [k])  # (k * batch,)
        return self._log_weights_from(
            x, z_mean, z_log_var, epsilon, lambda z: self.decode(z, tiled, training=training)
        )

    def per_example_losses(  # type: ignore[override]
        self,
        x: tf.Tensor,
        training: bool = False,
        labels: object = None,
        noise: tf.Tensor | None = None,
        kl_weight: tf.Tensor | float | None = None,
    ) -> dict[str, tf.Tensor]:
        """The negative ELBO of ``p(x | y)`` per example, as :meth:`VAE.per_example_losses`.

        Args:
            x: Images, shape ``(batch, *image_shape)``.
            training: Whether layers run in training mode.
            labels: Their labels, shape ``(batch,)``; required.
            noise: As in :meth:`VAE.per_example_losses`.
            kl_weight: As in :meth:`VAE.per_example_losses`.

        Returns:
            ``"loss"``, ``"reconstruction_loss"`` and ``"kl_loss"``, each ``(batch,)``.
        """
        self._need_labels(labels)
        z_mean, z_log_var = self.encode(x, labels, training=training)
        epsilon = self._epsilon(noise, tf.shape(z_mean)[0])
        return self._elbo_losses(
            x,
            z_mean,
            z_log_var,
            lambda z: self.decode(z, labels, training=training),
            None if epsilon is None else epsilon[0],
            kl_weight,
        )

    def _need_labels(self, labels: object) -> None:
        if labels is None:
            raise ValueError(
                "ConditionalVAE needs the images' labels: pass labels=... (and "
                "y_train=... to vaebook.train.train)."
            )

    def get_config(self) -> dict[str, Any]:
        """Returns the constructor arguments, for saving and cloning."""
        return super().get_config() | {"num_classes": self.num_classes}
