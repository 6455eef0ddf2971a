r"""Greedy layer-wise pretraining of a deep autoencoder (the stacked autoencoder of chapter 3).

This module combines a model with the training loop, so it sits above both: models
never import :mod:`vaebook.train`.

Before good initialisations and optimisers, deep autoencoders were trained in two
stages (Hinton & Salakhutdinov, 2006; Bengio et al., 2007):

1. **greedy pretraining**: a shallow autoencoder is trained on the images; its hidden
   layer's outputs become the data of the next shallow autoencoder, and so on, one
   layer at a time, each stage leaving the weights it learned in place;
2. **fine-tuning**: the stages are stacked into one deep network (encoder layers in
   order, decoder layers in reverse) and trained end to end.

:func:`~vaebook.pretrain.greedy_pretrain` runs stage 1 *inside* an existing
:class:`~vaebook.models.Autoencoder` with a mirrored decoder: stage ``k`` pairs encoder
layer ``k`` with the decoder layer that undoes it and trains just those two. Stage 2 is
ordinary :func:`vaebook.train.train` on the same model.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import keras
import numpy as np
import tensorflow as tf

from vaebook.checks import check_positive_int
from vaebook.losses import bernoulli_reconstruction_loss, squared_error
from vaebook.models.autoencoder import Autoencoder
from vaebook.train import train

__all__ = ["greedy_pretrain", "layer_pairs"]


#: The layers of a dense stack (vaebook.models.common.dense_stack).
_STACK_LAYERS = (
    keras.layers.Dense,
    keras.layers.Flatten,
    keras.layers.Reshape,
    keras.layers.Dropout,
    keras.layers.InputLayer,
)


def _dense_layers(stack: keras.Sequential) -> list[keras.layers.Dense]:
    return [layer for layer in stack.layers if isinstance(layer, keras.layers.Dense)]


def layer_pairs(model: Autoencoder) -> list[tuple[keras.layers.Dense, keras.layers.Dense]]:
    """Pairs each encoder layer with the decoder layer that mirrors it.

    Args:
        model: An autoencoder whose decoder mirrors its encoder.

    Returns:
        ``[(encoder_layer_k, decoder_layer_k), ...]`` from the input side to the code:
        stage ``k`` maps ``h_k`` to ``h_{k+1}`` and back.

    Raises:
        TypeError: If ``model`` is not a dense autoencoder (a convolutional one, say,
            whose layers do not pair up as dense layers do).
        ValueError: If the decoder does not mirror the encoder.
    """
    if not isinstance(model, Autoencoder):
        raise TypeError(
            f"greedy layer-wise pretraining needs an Autoencoder; got {type(model).__name__}."
        )
    others = sorted(
        {
            type(layer).__name__
            for stack in (model.encoder, model.decoder)
            for layer in stack.layers
            if not isinstance(layer, _STACK_LAYERS)
        }
    )
    if others:
        raise TypeError(
            f"greedy layer-wise pretraining pairs dense layers, but this "
            f"{type(model).__name__} also has {', '.join(others)} layers; it supports "
            "dense autoencoders (Autoencoder and its dense subclasses) only."
        )
    encoder = _dense_layers(model.encoder)
    decoder = _dense_layers(model.decoder)[::-1]
    shapes = [(tuple(e.kernel.shape), tuple(d.kernel.shape)) for e, d in zip(encoder, decoder)]
    if len(encoder) != len(decoder) or any(e != d[::-1] for e, d in shapes):
        raise ValueError(
            "Greedy pretraining needs a decoder that mirrors the encoder; got encoder "
            f"units {model.encoder_units} and decoder units {model.decoder_units}."
        )
    return list(zip(encoder, decoder))


class _Stage(keras.Model):
    """A shallow autoencoder made of one mirrored pair of the deep model's layers.

    Its input is images; the frozen layers below the pair compute the pair's data
    ``h_k``, which the pair learns to reconstruct (cross-entropy on pixels for the
    first stage, squared error on hidden activations for the others).
    """

    def __init__(
        self,
        features: Callable[[tf.Tensor], tf.Tensor],
        pair: tuple[keras.layers.Dense, keras.layers.Dense],
        first: bool,
        image_shape: tuple[int, ...],
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.up, self.down = pair
        self.first = first
        self.image_shape = image_shape
        self._features = features
        self.built = True

    def per_example_losses(self, x: tf.Tensor, training: bool = False) -> dict[str, tf.Tensor]:
        h = tf.stop_gradient(self._features(x))  # (batch, width_k): this stage's data
        output = self.down(self.up(h))  # (batch, width_k)
        if self.first:
            loss = bernoulli_reconstruction_loss(h, output)  # logits of the pixels
        else:
            loss = squared_error(h, output)
        return {"loss": loss, "reconstruction_loss": loss}


def greedy_pretrain(
    model: Autoencoder,
    x_train: np.ndarray,
    *,
    epochs: int,
    batch_size: int = 256,
    learning_rate: float = 1e-3,
    seed: int = 0,
    verbose: int = 1,
) -> list[Any]:
    """Pretrains ``model`` greedily, one mirrored pair of layers at a time.

    Args:
        model: A :class:`~vaebook.models.Autoencoder` with a mirrored decoder (its
            weights are changed in place).
        x_train: Training images in ``[0, 1]``.
        epochs: Epochs of each stage.
        batch_size: Examples per step.
        learning_rate: Adam's learning rate in each stage (a fresh optimiser each time).
        seed: Seed of the shuffling order.
        verbose: As in :func:`vaebook.train.train`.

    Returns:
        One :class:`vaebook.train.History` per stage, from the input side to the code.

    Example:
        >>> model = Autoencoder(latent_dim=20)
        >>> histories = greedy_pretrain(model, x_train, epochs=5)  # 4 stages
        >>> history = train(model, x_train, epochs=20)  # then fine-tune
    """
    pairs = layer_pairs(model)
    epochs = check_positive_int(epochs, "epochs")
    flatten = keras.layers.Flatten()
    histories = []
    for k, pair in enumerate(pairs):
        below = [layer for layer, _ in pairs[:k]]

        def features(x: tf.Tensor, below: list = below) -> tf.Tensor:
            h = flatten(x)  # (batch, pixels)
            for layer in below:
                h = layer(h)
            return h

        stage = _Stage(features, pair, first=k == 0, image_shape=model.image_shape)
        if verbose:
            inner, outer = pair[0].kernel.shape[1], pair[0].kernel.shape[0]
            print(f"stage {k + 1}/{len(pairs)}: {outer} -> {inner} -> {outer}")
        histories.append(
            train(
                stage,
                x_train,
                epochs=epochs,
                batch_size=batch_size,
                learning_rate=learning_rate,
                seed=seed + k,
                verbose=verbose,
            )
        )
    return histories
