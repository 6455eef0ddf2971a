"""A small convolutional classifier, whose hidden features judge generated images.

Sample-quality measures (:mod:`vaebook.quality`) compare sets of images in the feature
space of a network that knows the data: here, the last hidden layer of a classifier
trained on the same images. Its test accuracy says how well it knows them.
"""

from __future__ import annotations

from typing import Any

import keras
import tensorflow as tf

from vaebook.checks import (
    as_label_input,
    as_model_input,
    check_fraction,
    check_positive_int,
    check_unit_interval,
    check_units,
)
from vaebook.models.common import SeededModel

__all__ = ["Classifier"]


@keras.saving.register_keras_serializable(package="vaebook")
class Classifier(SeededModel):
    """Stride-2 convolutions, a dense layer of features, and the class logits.

    Args:
        num_classes: Number of classes.
        filters: Channels of the stride-2 convolutions.
        feature_dim: Width of the hidden dense layer whose outputs are the features.
        dropout: Fraction dropped before and after the feature layer in training.
        image_shape: Shape of one image.
        seed: Seed of the initial weights and the dropout masks.
        **kwargs: Passed to ``keras.Model``.

    Example:
        >>> model = Classifier(seed=0)
        >>> model.features(tf.zeros((2, 28, 28))).shape
        TensorShape([2, 128])
    """

    #: The training loop passes it each image's label.
    conditional = True

    def __init__(
        self,
        num_classes: int = 10,
        filters: tuple[int, ...] = (32, 64),
        feature_dim: int = 128,
        dropout: float = 0.3,
        image_shape: tuple[int, ...] = (28, 28),
        seed: int | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.num_classes = check_positive_int(num_classes, "num_classes")
        self.filters = check_units(filters, "filters")
        self.feature_dim = check_positive_int(feature_dim, "feature_dim")
        self.dropout = check_fraction(dropout, "dropout", upper_inclusive=False)
        self.image_shape = check_units(image_shape, "image_shape")
        self.seed = seed
        layers: list[keras.layers.Layer] = [
            keras.Input(shape=self.image_shape),
            keras.layers.Reshape((*self.image_shape, 1), name="add_channels"),
        ]
        for index, channels in enumerate(self.filters):
            layers.append(
                keras.layers.Conv2D(
                    channels, 3, strides=2, padding="same", activation="relu", name=f"conv_{index}"
                )
            )
        layers += [
            keras.layers.Flatten(name="flatten"),
            keras.layers.Dropout(dropout, name="dropout_0"),
            keras.layers.Dense(feature_dim, activation="relu", name="features"),
        ]
        self.body = keras.Sequential(layers, name="body")
        self.head = keras.Sequential(
            [
                keras.Input(shape=(feature_dim,)),
                keras.layers.Dropout(dropout, name="dropout_1"),
                keras.layers.Dense(num_classes, name="logits"),
            ],
            name="head",
        )
        self.built = True

    # XLA's CPU convolutions are slow (vaebook.runtime.use_xla): compile without it there.
    xla_on_cpu = False

    def _checked(self, x: object) -> tf.Tensor:
        x = as_model_input(x, self.image_shape)
        check_unit_interval(x, "x")
        return x

    def features(self, x: object, training: bool = False) -> tf.Tensor:
        """The hidden features of images in ``[0, 1]``: ``(batch, feature_dim)``."""
        return self.body(self._checked(x), training=training)

    def call(self, x: tf.Tensor, training: bool = False) -> tf.Tensor:
        """The class logits, ``(batch, num_classes)``."""
        return self.head(self.features(x, training=training), training=training)

    def classify(self, x: object) -> tf.Tensor:
        """The most probable class of each image, int32 ``(batch,)``."""
        return tf.argmax(self(x, training=False), axis=1, output_type=tf.int32)

    def per_example_losses(
        self, x: tf.Tensor, training: bool = False, labels: object = None
    ) -> dict[str, tf.Tensor]:
        """Cross-entropy and error of each image (both ``(batch,)``).

        Raises:
            ValueError: If ``labels`` are missing or not classes of this model.
        """
        if labels is None:
            raise ValueError("Classifier needs the images' labels: labels=...")
        labels = as_label_input(labels, self.num_classes)
        logits = self(x, training=training)
        loss = tf.nn.sparse_softmax_cross_entropy_with_logits(labels, logits)
        wrong = tf.cast(tf.argmax(logits, axis=1, output_type=tf.int32) != labels, tf.float32)
        return {"loss": loss, "error": wrong}

    def get_config(self) -> dict[str, Any]:
        """The constructor arguments, for saving and cloning."""
        return super().get_config() | {
            "num_classes": self.num_classes,
            "filters": list(self.filters),
            "feature_dim": self.feature_dim,
            "dropout": self.dropout,
            "image_shape": list(self.image_shape),
            "seed": self.seed,
        }

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> Classifier:
        """Rebuilds the model from :meth:`get_config`'s output."""
        config = dict(config)
        config["filters"] = tuple(config["filters"])
        config["image_shape"] = tuple(config["image_shape"])
        return cls(**config)
