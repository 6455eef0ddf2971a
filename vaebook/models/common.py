"""Builders shared by the model families (their input checks live in vaebook.checks)."""

from __future__ import annotations

import functools
import inspect
import math
import threading
from collections.abc import Callable, Sequence
from typing import Any

import keras
import numpy as np
import tensorflow as tf

from vaebook.checks import (
    as_model_input,
    check_fraction,
    check_non_negative_int,
    check_positive_int,
    check_unit_interval,
    check_units,
    model_inputs_in_unit_interval,
)
from vaebook.rng import python_random_seeded

__all__ = ["DenseEncoderDecoder", "SeededModel", "dense_stack"]

_CONSTRUCTING = threading.local()


def _seed_argument(init: Callable[..., None], args: tuple, kwargs: dict) -> object:
    """The ``seed`` a constructor call was given (by name, position or ``**kwargs``)."""
    try:
        bound = inspect.signature(init).bind_partial(None, *args, **kwargs).arguments
    except TypeError:
        return kwargs.get("seed")
    if "seed" in bound:
        return bound["seed"]
    extra = next(
        (value for name, value in bound.items() if name == "kwargs" and isinstance(value, dict)),
        {},
    )
    return extra.get("seed")


def _seeded(init: Callable[..., None]) -> Callable[..., None]:
    """Runs the outermost constructor call inside :func:`vaebook.rng.python_random_seeded`."""

    @functools.wraps(init)
    def wrapper(self: keras.Model, *args: Any, **kwargs: Any) -> None:
        if getattr(_CONSTRUCTING, "active", False):
            init(self, *args, **kwargs)  # A parent constructor, inside the child's.
            return
        seed = _seed_argument(init, args, kwargs)
        _CONSTRUCTING.active = True
        try:
            if seed is None:
                init(self, *args, **kwargs)
            else:
                with python_random_seeded(check_non_negative_int(seed, "seed")):
                    init(self, *args, **kwargs)
        finally:
            _CONSTRUCTING.active = False

    # Keras reads the constructor's signature to record its arguments.
    wrapper.__signature__ = inspect.signature(init)  # type: ignore[attr-defined]
    return wrapper


class SeededModel(keras.Model):
    """A Keras model whose ``seed`` argument also fixes its initial weights and dropout.

    Keras takes the seeds of initialisers and dropout layers created without one from
    Python's ``random`` module, so that two processes building the "same" model get
    different weights unless the global state is seeded first. A subclass's constructor
    called with ``seed=s`` (not ``None``) runs inside
    :func:`vaebook.rng.python_random_seeded`, so its weights and dropout masks depend on
    ``s`` alone (tested in two processes); ``seed=None`` leaves them to the global state
    (:func:`vaebook.train.set_seed`).
    """

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if "__init__" in cls.__dict__:
            cls.__init__ = _seeded(cls.__dict__["__init__"])

    def noise_draws(self, noise: object, batch: tf.Tensor, draws: int) -> tf.Tensor:
        """Checks noise given to ``per_example_losses`` and splits each row into draws.

        Args:
            noise: Standard normal numbers, shape ``(batch, noise_per_example)``: row
                ``i`` is example ``i``'s.
            batch: The number of examples.
            draws: How many equal parts each row holds (codes per image, say).

        Returns:
            Shape ``(draws, batch, noise_per_example // draws)``.

        Raises:
            ValueError: If ``noise`` is not of that shape (checked when traced, and its
                number of rows when running eagerly), naming the shape needed.
        """
        width = int(getattr(self, "noise_per_example", 0))
        noise = tf.convert_to_tensor(noise, tf.float32)
        rows = noise.shape[0] if noise.shape.rank else None
        if tf.executing_eagerly():
            rows = int(tf.shape(noise)[0]) if noise.shape.rank else None
            batch = int(batch)
        wrong_rows = rows is not None and isinstance(batch, int) and rows != batch
        if noise.shape.rank != 2 or noise.shape[-1] not in (None, width) or wrong_rows:
            raise ValueError(
                f"noise must have shape (batch, {width}) for {type(self).__name__} "
                f"(noise_per_example = {width}); got {tuple(noise.shape)} for a batch "
                f"of {batch}."
            )
        noise = tf.reshape(noise, (batch, draws, width // draws))
        return tf.transpose(noise, (1, 0, 2))  # (draws, batch, width // draws)

    def _noise_generators(self) -> list[tuple[str, keras.random.SeedGenerator]]:
        """The model's own noise generators, by attribute name."""
        return sorted(
            (name, value)
            for name, value in vars(self).items()
            if isinstance(value, keras.random.SeedGenerator)
        )

    def save_own_variables(self, store: Any) -> None:
        """Saves the weights and, unlike Keras, the states of the noise generators.

        A model reloaded from a ``.keras`` file then draws the same noise next as the
        model that was saved would have (tested).
        """
        super().save_own_variables(store)
        for name, generator in self._noise_generators():
            store[_GENERATOR_PREFIX + name] = np.asarray(generator.state)

    def load_own_variables(self, store: Any) -> None:
        """Loads what :meth:`save_own_variables` saved (files without states load too)."""
        names = [key for key in store.keys() if key.startswith(_GENERATOR_PREFIX)]
        super().load_own_variables(_StoreWithout(store, names))
        generators = dict(self._noise_generators())
        for key in names:
            generator = generators.get(key[len(_GENERATOR_PREFIX) :])
            if generator is not None:
                generator.state.assign(np.asarray(store[key]))


#: Key prefix of a noise generator's state in a ``.keras`` file's variables.
_GENERATOR_PREFIX = "seed_generator:"


class _StoreWithout:
    """A read-only view of a Keras variable store without some of its keys."""

    def __init__(self, store: Any, hidden: list[str]) -> None:
        self._store, self._hidden = store, set(hidden)

    def keys(self) -> list[str]:
        return [key for key in self._store.keys() if key not in self._hidden]

    def __getitem__(self, key: str) -> Any:
        return self._store[key]

    def __len__(self) -> int:
        return len(self.keys())


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


class DenseEncoderDecoder(SeededModel):
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

    def check_pixels(self, x: object) -> tf.Tensor:
        """``x`` as a float32 batch of this model's inputs, checked at the door.

        Shapes are checked when traced; NaN, infinity and (for models of pixels)
        values outside ``[0, 1]`` when running eagerly, before anything is computed
        from ``x``, so that ``model(x * 255)`` is refused by name.
        """
        x = as_model_input(x, self.image_shape)
        if model_inputs_in_unit_interval(self):
            check_unit_interval(x, "x", upper=self.input_upper_bound)
        return x

    @property
    def input_upper_bound(self) -> float:
        """The largest input value the encoder accepts: 1 for pixels."""
        return 1.0

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
