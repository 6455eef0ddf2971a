"""Loading saved models with clear errors (chapters save and reload trained models)."""

from __future__ import annotations

import json
import os
import zipfile
from pathlib import Path

import keras

__all__ = ["load_model"]


def load_model(path: str | os.PathLike, expected: type | None = None) -> keras.Model:
    """Loads a model saved with ``model.save("name.keras")``.

    Args:
        path: The ``.keras`` file.
        expected: If given, the class the file must hold (e.g. ``VAE``).

    Returns:
        The model, with its weights.

    Raises:
        FileNotFoundError: If the file does not exist.
        ValueError: If the file is not a readable ``.keras`` archive, or holds a model
            of another class than ``expected``.

    Example:
        >>> vae = load_model("vae.keras", expected=VAE)  # doctest: +SKIP
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"No saved model at {path}.")
    if not zipfile.is_zipfile(path):
        raise ValueError(f"{path} is not a .keras file (not a zip archive); it may be corrupt.")
    try:
        with zipfile.ZipFile(path) as archive:
            config = json.loads(archive.read("config.json"))
    except (KeyError, zipfile.BadZipFile, json.JSONDecodeError) as error:
        raise ValueError(f"{path} is not a readable .keras file ({error}).") from error
    class_name = config.get("class_name", "?")
    if expected is not None and class_name != expected.__name__:
        raise ValueError(
            f"{path} holds a {class_name}, not a {expected.__name__}; load it with "
            f"expected={class_name} or pick the right file."
        )
    try:
        return keras.saving.load_model(path)
    except Exception as error:  # noqa: BLE001 - report any failure with the file's name.
        raise ValueError(f"{path} could not be loaded as a {class_name}: {error}") from error
