"""Builders shared by the model families (their input checks live in vaebook.checks)."""

from __future__ import annotations

import math
from collections.abc import Sequence

import keras

from vaebook.checks import check_fraction, check_positive_int, check_units

__all__ = ["DenseEncoderDecoder", "dense_stack"]


def dense_stack(
    input_shape: Sequence[int],
    units: Sequence[int],
    activation: str,
    name: str,
    output_units: int | None = None,
    flatten: bool = False,
    output_shape: Sequence[int] | None = None,
    dropout: float = 0.0,
) -> keras.Sequential:
    """Builds ``[Flatten] -> Dense(units[0]) -> ... -> [Dense(output_units)] -> [Reshape]``.

    Hidden layers use ``activation``; the optional output layer is linear, so it can
    produce a code, a mean, a log-variance or logits. With ``dropout > 0`` every hidden
    layer is followed by a ``Dropout`` layer (active only when ``training=True``). The
    stack is built for inputs of shape ``(batch, *input_shape)``, so its weights exist as
    soon as it is created.

    Args:
        input_shape: Shape of one input example, e.g. ``(28, 28)`` or ``(20,)``.
        units: Widths of the hidden layers, in order.
        activation: Keras name of the hidden layers' activation, such as ``"relu"``.
        name: Name of the returned model.
        output_units: Width of a final linear layer, or ``None`` for none.
        flatten: Whether to flatten the input first (images to vectors).
        output_shape: If given, reshape the output to ``(batch, *output_shape)``.
        dropout: Fraction of each hidden layer's units dropped during training.

    Returns:
        A built ``keras.Sequential``.
    """
    layers: list[keras.layers.Layer] = [keras.Input(shape=tuple(input_shape))]
    if flatten:
        layers.append(keras.layers.Flatten(name="flatten"))
    for index, width in enumerate(units):
        layers.append(keras.layers.Dense(width, activation=activation, name=f"dense_{index}"))
        if dropout > 0:
            layers.append(keras.layers.Dropout(dropout, name=f"dropout_{index}"))
    if output_units is not None:
        layers.append(keras.layers.Dense(output_units, name="output"))
    if output_shape is not None:
        layers.append(keras.layers.Reshape(tuple(output_shape), name="reshape"))
    return keras.Sequential(layers, name=name)


class DenseEncoderDecoder(keras.Model):
    """Base of the dense model families: shared hyperparameters, encoder and decoder.

    Checks the shared hyperparameters and builds an encoder (images to ``code_outputs``
    numbers) and a decoder (``latent_dim`` numbers to one output per pixel), both dense
    stacks created with their weights. Subclasses add their own loss.

    Args:
        latent_dim: Length of the code ``z``.
        encoder_units: Widths of the encoder's hidden layers.
        decoder_units: Widths of the decoder's hidden layers; defaults to the encoder's
            in reverse.
        image_shape: Shape of one image.
        activation: Activation of the hidden layers.
        code_outputs: Width of the encoder's output layer (``latent_dim`` for an
            autoencoder, ``2 * latent_dim`` for a VAE's mean and log-variance).
        dropout: Fraction of hidden units dropped during training, in ``[0, 1)``
            (chapter 3's dropout autoencoder); 0 adds no dropout layers.
        **kwargs: Passed to ``keras.Model``.
    """

    def __init__(
        self,
        latent_dim: int,
        encoder_units: Sequence[int],
        decoder_units: Sequence[int] | None,
        image_shape: Sequence[int],
        activation: str,
        code_outputs: int,
        dropout: float = 0.0,
        **kwargs: object,
    ) -> None:
        super().__init__(**kwargs)
        self.dropout = check_fraction(dropout, "dropout", upper_inclusive=False)
        self.latent_dim = check_positive_int(latent_dim, "latent_dim")
        self.encoder_units = check_units(encoder_units, "encoder_units")
        self.decoder_units = (
            tuple(reversed(self.encoder_units))
            if decoder_units is None
            else check_units(decoder_units, "decoder_units")
        )
        self.image_shape = check_units(image_shape, "image_shape")
        self.activation = activation
        self.num_pixels = math.prod(self.image_shape)
        self.encoder, self.decoder = self.make_networks(code_outputs)

    def make_networks(self, code_outputs: int) -> tuple[keras.Model, keras.Model]:
        """Builds the encoder and the decoder (dense stacks; :mod:`.conv` overrides it).

        Args:
            code_outputs: Width of the encoder's linear output layer.

        Returns:
            ``(encoder, decoder)``: images ``(batch, *image_shape)`` to
            ``(batch, code_outputs)``, and codes ``(batch, latent_dim)`` to one output
            per pixel, ``(batch, *image_shape)``.
        """
        encoder = dense_stack(
            self.image_shape,
            self.encoder_units,
            self.activation,
            "encoder",
            output_units=code_outputs,
            flatten=True,
            dropout=self.dropout,
        )
        decoder = dense_stack(
            (self.latent_dim,),
            self.decoder_units,
            self.activation,
            "decoder",
            output_units=self.num_pixels,
            output_shape=self.image_shape,
            dropout=self.dropout,
        )
        return encoder, decoder

    def build(self, input_shape: Sequence[int | None] | None = None) -> None:
        """Marks the model built: all weights are created in the constructor."""
        self.built = True

    def get_config(self) -> dict:
        """Returns the shared constructor arguments; subclasses add their own."""
        config = super().get_config()
        config.update(
            latent_dim=self.latent_dim,
            encoder_units=list(self.encoder_units),
            decoder_units=list(self.decoder_units),
            image_shape=list(self.image_shape),
            activation=self.activation,
            dropout=self.dropout,
        )
        return config
