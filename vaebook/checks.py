"""Every input check of the package, each with one message per problem.

Public functions of the package call these at the door, before anything is traced or
trained, so that a wrong argument fails at once with a message that names it, instead
of deep inside TensorFlow or after an epoch. The rules, in one place:

* **images** are float arrays in ``[0, 1]`` with a batch axis; float64 (and float16)
  images are accepted and cast to float32, integer images are refused with a hint to
  divide by 255, NaN, infinity, values outside ``[0, 1]``, empty arrays and wrong
  shapes are refused by name;
* **counts and sizes** (epochs, batch sizes, code sizes, sample counts) are integers,
  Python's or NumPy's, and positive; ``1.9`` or ``True`` is not a count;
* **numbers** (rates, weights, learning rates) are finite real numbers in the range
  their name implies;
* **labels** are 1-D integer arrays, one per image, within the number of classes.

Nothing here imports another module of the package: this is the bottom layer.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from numbers import Integral, Real
from typing import Protocol, runtime_checkable

import numpy as np
import tensorflow as tf

__all__ = [
    "LatentVariableModel",
    "Trainable",
    "as_features",
    "as_images",
    "as_label_input",
    "as_model_input",
    "check_choice",
    "check_fraction",
    "check_labels",
    "model_inputs_in_unit_interval",
    "check_code_grid",
    "check_latent_model",
    "check_model_labels",
    "check_non_negative",
    "check_non_negative_int",
    "check_positive",
    "check_positive_int",
    "check_tensor_pair",
    "check_trainable",
    "check_unit_interval",
    "check_units",
]


def _is_int(value: object) -> bool:
    return isinstance(value, Integral) and not isinstance(value, (bool, np.bool_))


def _is_real(value: object) -> bool:
    return isinstance(value, Real) and not isinstance(value, (bool, np.bool_))


def check_positive_int(value: object, name: str) -> int:
    """Returns ``value`` as an int if it is a positive integer (Python or NumPy).

    Raises:
        ValueError: If ``value`` is not an integer (``2.5``, ``1.9``, ``True``,
            ``"3"``) or is zero or negative.
    """
    if not _is_int(value) or int(value) <= 0:
        raise ValueError(f"{name} must be a positive integer; got {value!r}.")
    return int(value)


def check_non_negative_int(value: object, name: str) -> int:
    """Returns ``value`` as an int if it is an integer >= 0 (a seed, an index).

    Raises:
        ValueError: If ``value`` is not an integer or is negative.
    """
    if not _is_int(value) or int(value) < 0:
        raise ValueError(f"{name} must be an integer >= 0; got {value!r}.")
    return int(value)


def check_positive(value: object, name: str) -> float:
    """Returns ``value`` as a float if it is a finite number > 0 (a learning rate).

    Raises:
        ValueError: If ``value`` is not a finite number greater than zero.
    """
    if not _is_real(value) or not math.isfinite(value) or value <= 0:
        raise ValueError(f"{name} must be a finite number > 0; got {value!r}.")
    return float(value)


def check_non_negative(value: object, name: str) -> float:
    """Returns ``value`` as a float if it is a finite number >= 0 (a weight, a scale).

    Raises:
        ValueError: If ``value`` is negative, NaN, infinite or not a number.
    """
    if not _is_real(value) or not math.isfinite(value) or value < 0:
        raise ValueError(f"{name} must be a finite number >= 0; got {value!r}.")
    return float(value)


def check_fraction(value: object, name: str, upper_inclusive: bool = True) -> float:
    """Returns ``value`` as a float if it lies in ``[0, 1]`` (or ``[0, 1)``).

    Args:
        value: The number to check.
        name: The argument's name, for the message.
        upper_inclusive: Whether 1 itself is allowed.

    Raises:
        ValueError: If ``value`` is not a number in the interval.
    """
    interval = "[0, 1]" if upper_inclusive else "[0, 1)"
    if (
        not _is_real(value)
        or math.isnan(value)
        or not 0 <= value <= 1
        or (not upper_inclusive and value == 1)
    ):
        raise ValueError(f"{name} must be a number in {interval}; got {value!r}.")
    return float(value)


def check_choice(value: object, choices: Sequence[str], name: str) -> str:
    """Returns ``value`` if it is one of ``choices``.

    Raises:
        ValueError: Naming the allowed values.
    """
    if not isinstance(value, str) or value not in choices:
        raise ValueError(f"{name} must be one of {tuple(choices)}; got {value!r}.")
    return value


def check_units(units: Sequence[int], name: str) -> tuple[int, ...]:
    """Checks a sequence of layer widths or an image shape (it may be empty).

    Raises:
        ValueError: If ``units`` is not a sequence of positive integers.
    """
    if isinstance(units, (str, bytes)) or not isinstance(units, (Sequence, np.ndarray)):
        raise ValueError(f"{name} must be a sequence of positive integers; got {units!r}.")
    return tuple(check_positive_int(width, f"each entry of {name}") for width in units)


def _shape_message(name: str, shape: tuple, image_shape: Sequence[int]) -> str:
    wanted = ", ".join(map(str, image_shape))
    return f"{name} has shape {shape}; expected (batch, {wanted})."


def _not_float_message(name: str, dtype: object) -> str:
    return f"{name} has dtype {dtype}; expected floats in [0, 1] (divide uint8 pixels by 255)."


def as_images(
    images: object,
    name: str = "x",
    image_shape: Sequence[int] | None = None,
    unit_interval: bool = True,
) -> np.ndarray:
    """Checks an array of images and returns it as float32.

    Args:
        images: Array-like (or tensor) of shape ``(batch, *image_shape)``.
        name: The argument's name, used in error messages.
        image_shape: If given, the required shape of one image, e.g. ``(28, 28)``.
        unit_interval: Whether values must lie in ``[0, 1]`` (pixels); ``False`` for a
            model of real-valued features (see :func:`model_inputs_in_unit_interval`).

    Returns:
        The images as a float32 NumPy array (float64 input is cast).

    Raises:
        ValueError: If the array is empty, not floating point, holds NaN or infinity,
            has values outside ``[0, 1]``, has no batch axis, or has the wrong shape.
    """
    images = np.asarray(images)
    if images.ndim < 2:
        raise ValueError(
            f"{name} has shape {images.shape}; expected a batch of images (batch, height, width)."
        )
    if images.size == 0:
        raise ValueError(f"{name} is empty (shape {images.shape}).")
    if not np.issubdtype(images.dtype, np.floating):
        raise ValueError(_not_float_message(name, images.dtype))
    if image_shape is not None and tuple(images.shape[1:]) != tuple(image_shape):
        raise ValueError(_shape_message(name, images.shape, image_shape))
    if not np.all(np.isfinite(images)):
        raise ValueError(f"{name} contains NaN or infinite values.")
    low, high = float(images.min()), float(images.max())
    if unit_interval and (low < 0.0 or high > 1.0):
        raise ValueError(f"{name} has values in [{low:g}, {high:g}]; expected values in [0, 1].")
    return images.astype(np.float32, copy=False)


def as_features(features: object, name: str) -> np.ndarray:
    """Checks a non-empty array of finite features; returns it as float64 rows.

    Args:
        features: Array-like of shape ``(n, ...)``; each row is flattened.
        name: The argument's name, for the message.

    Raises:
        ValueError: If it is empty, not numeric, has no row axis, or holds NaN or
            infinity.
    """
    array = np.asarray(features)
    if array.ndim < 2 or array.shape[0] == 0 or not np.issubdtype(array.dtype, np.number):
        raise ValueError(
            f"{name} must be a non-empty array of numbers with one row per example; got "
            f"shape {array.shape}, dtype {array.dtype}."
        )
    array = array.reshape(len(array), -1).astype(np.float64)
    if not np.all(np.isfinite(array)):
        raise ValueError(f"{name} holds NaN or infinite values.")
    return array


def model_inputs_in_unit_interval(model: object) -> bool:
    """Whether a model's inputs are pixels in ``[0, 1]`` (all but models of features).

    A model whose ``inputs_in_unit_interval`` attribute is false (a
    :class:`vaebook.models.SemiSupervisedVAE` with a Gaussian likelihood, trained on
    another model's codes) takes any finite real values.
    """
    return bool(getattr(model, "inputs_in_unit_interval", True))


def check_labels(
    labels: object,
    name: str = "labels",
    length: int | None = None,
    num_classes: int | None = None,
    allow_unlabelled: bool = False,
) -> np.ndarray:
    """Checks class labels and returns them as an int64 array.

    Args:
        labels: Array-like of shape ``(n,)``.
        name: The argument's name, for the message.
        length: If given, the required number of labels (one per image).
        num_classes: If given, labels must lie in ``[0, num_classes)``.
        allow_unlabelled: Also accept ``-1``, which marks an unlabelled example (for a
            semi-supervised model).

    Raises:
        ValueError: If the labels are not a non-empty 1-D integer array, have the wrong
            length, or fall outside the classes.
    """
    labels = np.asarray(labels)
    if labels.ndim != 1 or labels.size == 0 or not np.issubdtype(labels.dtype, np.integer):
        raise ValueError(
            f"{name} must be a non-empty 1-D integer array; got shape {labels.shape}, "
            f"dtype {labels.dtype}."
        )
    if length is not None and len(labels) != length:
        raise ValueError(f"{name} has {len(labels)} entries for {length} images; need one each.")
    lowest = -1 if allow_unlabelled else 0
    if num_classes is not None and (labels.min() < lowest or labels.max() >= num_classes):
        marker = " (-1 marks an unlabelled example)" if allow_unlabelled else ""
        raise ValueError(
            f"{name} must lie in [{lowest}, {num_classes}){marker}; got values from "
            f"{labels.min()} to {labels.max()}."
        )
    return labels.astype(np.int64, copy=False)


def as_model_input(x: object, expected_shape: Sequence[int], name: str = "x") -> tf.Tensor:
    """Converts a batch to a float32 tensor and checks the shape of one example.

    Static checks (rank, shape, dtype) run at trace time, so they cost nothing inside a
    compiled step; the value check (NaN, infinity) runs only when executing eagerly.

    Args:
        x: A batch, array-like or tensor, shape ``(batch, *expected_shape)``.
        expected_shape: The shape of one example, e.g. ``(28, 28)``.
        name: The argument's name, for error messages.

    Returns:
        ``x`` as a float32 tensor (float64 input is cast).

    Raises:
        ValueError: If ``x`` is not floating point, has the wrong shape, or (eagerly)
            holds NaN or infinity.
    """
    x = tf.convert_to_tensor(x)
    expected = tuple(expected_shape)
    if not x.dtype.is_floating:
        raise ValueError(_not_float_message(name, x.dtype.name))
    shape = tuple(x.shape)
    if len(shape) != len(expected) + 1 or any(
        dim is not None and dim != want for dim, want in zip(shape[1:], expected)
    ):
        raise ValueError(_shape_message(name, shape, expected))
    if x.dtype != tf.float32:
        x = tf.cast(x, tf.float32)
    if tf.executing_eagerly() and not bool(tf.reduce_all(tf.math.is_finite(x))):
        raise ValueError(f"{name} contains NaN or infinite values.")
    return x


def check_model_labels(
    model: object, labels: object, length: int, name: str = "labels"
) -> np.ndarray | None:
    """Checks that labels come exactly when a model is conditional, one per image.

    A conditional model (``model.conditional`` true, such as
    :class:`vaebook.models.ConditionalVAE`) needs a label for every image; any other
    model takes none.

    Args:
        model: The model.
        labels: The labels, or ``None``.
        length: The number of images.
        name: The argument's name, for the message.

    A semi-supervised model (``model.semi_supervised`` true, such as
    :class:`vaebook.models.SemiSupervisedVAE`) also accepts ``-1`` for an unlabelled
    image.

    Returns:
        The labels as an int64 array, or ``None`` for an unconditional model.

    Raises:
        ValueError: If labels are missing for a conditional model, given to another
            one, or invalid (see :func:`check_labels`).
    """
    conditional = bool(getattr(model, "conditional", False))
    model_name = type(model).__name__
    if labels is None:
        if conditional:
            raise ValueError(f"{model_name} is conditional: pass the images' labels as {name}=...")
        return None
    if not conditional:
        raise ValueError(
            f"{model_name} takes no labels; {name} is only for conditional models "
            "such as ConditionalVAE."
        )
    return check_labels(
        labels,
        name,
        length=length,
        num_classes=model.num_classes,
        allow_unlabelled=bool(getattr(model, "semi_supervised", False)),
    )


def as_label_input(
    labels: object, num_classes: int, name: str = "labels", allow_unlabelled: bool = False
) -> tf.Tensor:
    """Converts a batch of class labels to an int32 tensor, checked like :func:`check_labels`.

    Static checks (rank, integer dtype) run at trace time inside a compiled step; the
    range check runs when executing eagerly.

    Args:
        labels: Integer labels, array-like or tensor, shape ``(batch,)``.
        num_classes: Labels must lie in ``[0, num_classes)``.
        name: The argument's name, for error messages.
        allow_unlabelled: Also accept ``-1`` (an unlabelled example).

    Returns:
        ``labels`` as an int32 tensor.

    Raises:
        ValueError: If the labels are not a 1-D integer array or (eagerly) fall outside
            the classes.
    """
    if not isinstance(labels, (tf.Tensor, tf.Variable)):
        checked = check_labels(
            labels, name, num_classes=num_classes, allow_unlabelled=allow_unlabelled
        )
        return tf.constant(checked, tf.int32)
    if not labels.dtype.is_integer or labels.shape.rank != 1:
        raise ValueError(
            f"{name} must be a non-empty 1-D integer array; got shape {tuple(labels.shape)}, "
            f"dtype {labels.dtype.name}."
        )
    if tf.executing_eagerly():
        check_labels(
            labels.numpy(), name, num_classes=num_classes, allow_unlabelled=allow_unlabelled
        )
    return tf.cast(labels, tf.int32)


def check_tensor_pair(x: tf.Tensor, other: tf.Tensor, x_name: str, other_name: str) -> None:
    """Checks two float tensors that a loss compares: shapes always, values eagerly.

    ``other`` may have extra leading axes (for example ``k`` samples per example): its
    shape must end with ``x``'s, or broadcast against it.

    Raises:
        ValueError: On a missing batch axis, shapes that do not broadcast, a non-float
            dtype, or (when executing eagerly) NaN or infinity.
    """
    if x.shape.rank is not None and x.shape.rank < 2:
        raise ValueError(
            f"{x_name} must have a batch axis and at least one data axis; got shape {x.shape}."
        )
    try:
        tf.broadcast_static_shape(x.shape, other.shape)
    except ValueError:
        raise ValueError(
            f"{x_name} has shape {x.shape} but {other_name} has shape {other.shape}; "
            "they must match."
        ) from None
    for tensor, name in ((x, x_name), (other, other_name)):
        if not tensor.dtype.is_floating:
            raise ValueError(f"{name} has dtype {tensor.dtype.name}; expected a float tensor.")
    if tf.executing_eagerly():
        for tensor, name in ((x, x_name), (other, other_name)):
            if not bool(tf.reduce_all(tf.math.is_finite(tensor))):
                raise ValueError(f"{name} contains NaN or infinite values.")


def check_unit_interval(x: tf.Tensor, name: str, upper: float = 1.0) -> None:
    """Checks (when executing eagerly) that a tensor's values lie in ``[0, upper]``.

    Args:
        x: The tensor.
        name: Its name, for the message.
        upper: The largest value allowed (1 for pixels).

    Raises:
        ValueError: Naming the range found (and the likely cause of values up to 255).
    """
    if tf.executing_eagerly():
        low, high = float(tf.reduce_min(x)), float(tf.reduce_max(x))
        if low < 0.0 or high > upper:
            hint = " (pixels of 0-255? divide them by 255)" if upper < high <= 255.0 else ""
            raise ValueError(
                f"{name} has values in [{low:g}, {high:g}]; expected values in "
                f"[0, {upper:g}]{hint}."
            )


def check_code_grid(indices: object, num_codes: int, grid_shape: tuple[int, ...]) -> tf.Tensor:
    """Checks a batch of code grids and returns it as int32.

    Args:
        indices: Codebook indices, shape ``(batch, *grid_shape)``: integers, or floats
            holding whole numbers (as a training loop passes them).
        num_codes: The codebook size; every index must lie in ``[0, num_codes)``.
        grid_shape: The shape of one grid, e.g. ``(7, 7)``.

    Returns:
        The indices as an int32 tensor.

    Raises:
        ValueError: If the shape is wrong, or (when running eagerly) a value is not a
            whole number in ``[0, num_codes)``.
    """
    indices = tf.convert_to_tensor(indices)
    shape = tuple(indices.shape)
    if len(shape) != len(grid_shape) + 1 or any(
        dim is not None and dim != want for dim, want in zip(shape[1:], grid_shape)
    ):
        raise ValueError(
            f"code grids must have shape (batch, {', '.join(map(str, grid_shape))}); got {shape}."
        )
    if tf.executing_eagerly():
        values = indices.numpy()
        if values.size and (
            not np.all(np.isfinite(values))
            or np.any(values != np.round(values))
            or values.min() < 0
            or values.max() >= num_codes
        ):
            raise ValueError(
                f"code grids must hold whole numbers in [0, {num_codes}) (codebook "
                f"indices); got values from {values.min()} to {values.max()}."
            )
    return tf.cast(indices, tf.int32)


@runtime_checkable
class Trainable(Protocol):
    """What :func:`vaebook.train.train` and :func:`vaebook.evaluate.evaluate_losses` need.

    A Keras model with a method ``per_example_losses(x, training)`` returning a dict of
    tensors of shape ``(batch,)``, one of them named ``"loss"`` (the quantity whose
    batch mean is minimised). Optionally:

    * ``image_shape``: the shape of one input, checked against the data at the door;
    * ``apply_update(x, optimizer) -> dict``: a model that needs more than one gradient
      step per batch (the adversarial autoencoder) does its own update;
    * ``phase_optimizers``: that model's own optimisers, saved in checkpoints.
    """

    @property
    def trainable_variables(self) -> list:
        """The variables the optimiser updates."""
        ...

    def per_example_losses(self, x: tf.Tensor, training: bool = False) -> dict[str, tf.Tensor]:
        """Returns ``{"loss": (batch,), ...}``."""
        ...


@runtime_checkable
class LatentVariableModel(Protocol):
    """What the VAE metrics need: a Gaussian encoder and importance log-weights."""

    latent_dim: int

    def encode(self, x: tf.Tensor, training: bool = False) -> tuple[tf.Tensor, tf.Tensor]:
        """Returns ``(z_mean, z_log_var)``."""
        ...

    def log_weights(self, x: tf.Tensor, epsilon: tf.Tensor, training: bool = False) -> tf.Tensor:
        """Returns ``log p(x, z_s) - log q(z_s | x)`` of shape ``(k, batch)``."""
        ...


def check_trainable(model: object) -> None:
    """Checks that ``model`` satisfies :class:`Trainable`.

    Raises:
        TypeError: Naming the model's class and what is missing.
    """
    if not isinstance(model, Trainable):
        raise TypeError(
            f"{type(model).__name__} cannot be trained or evaluated here: it needs a "
            "per_example_losses(x, training) method returning a dict with a per-example "
            "'loss', and trainable_variables (a vaebook model or a keras.Model that adds "
            "them)."
        )


def check_latent_model(model: object, function: str) -> None:
    """Checks that ``model`` is a VAE-like :class:`LatentVariableModel`.

    Raises:
        TypeError: Naming the function, the model's class and what it lacks.
    """
    if not isinstance(model, LatentVariableModel):
        raise TypeError(
            f"{function} needs a VAE (a model with latent_dim, encode(x) -> (z_mean, "
            f"z_log_var) and log_weights); got {type(model).__name__}."
        )
