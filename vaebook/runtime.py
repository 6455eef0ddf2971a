"""The runtime a chapter runs on: the supported versions, and the device in use.

Learners open the chapters in Colab, whose first cell installs ``vaebook`` with
``--no-deps`` on top of the TensorFlow and Keras the runtime already has. So the package
checks them itself when it is imported (:func:`check_versions`), and stops with one
message that names the versions found and what to do, instead of failing later inside
TensorFlow. Each chapter's first cell then prints :func:`describe`: the versions and the
device the chapter will train on.

:data:`MINIMUM_VERSIONS` are the oldest versions CI runs (the ``oldest supported stack``
stage of ``.ci/run``, pinned in ``.ci/oldest.txt``); ``pyproject.toml`` states the same
lower bounds, and a test checks that the three agree.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping

#: The package's version (``vaebook.__version__``; pyproject.toml states the same).
VERSION = "0.1.0"

#: The oldest TensorFlow and Keras that CI tests; see the module docstring.
MINIMUM_VERSIONS: dict[str, str] = {"tensorflow": "2.19.1", "keras": "3.10.0"}

_NAMES = {"tensorflow": "TensorFlow", "keras": "Keras"}


def parse_version(text: str) -> tuple[int, ...]:
    """The leading numeric release of a version string.

    Args:
        text: A version such as ``"2.21.0"``, ``"3.10.0rc1"`` or ``"2.19.0.dev2025"``.

    Returns:
        The release numbers as a tuple of ints, which compare in order; for the
        examples above ``(2, 21, 0)``, ``(3, 10, 0)`` and ``(2, 19, 0)``.

    Raises:
        ValueError: If ``text`` does not start with a number.

    Example:
        >>> parse_version("2.19.1") < parse_version("2.21.0")
        True
    """
    match = re.match(r"\d+(\.\d+)*", text.strip())
    if match is None:
        raise ValueError(f"cannot read a version number from {text!r}.")
    return tuple(int(part) for part in match.group(0).split("."))


def installed_versions() -> dict[str, str]:
    """The versions of TensorFlow, Keras and NumPy this process has imported.

    Returns:
        A mapping from ``"tensorflow"``, ``"keras"`` and ``"numpy"`` to their
        ``__version__``.
    """
    import keras
    import numpy
    import tensorflow

    return {
        "tensorflow": tensorflow.__version__,
        "keras": keras.__version__,
        "numpy": numpy.__version__,
    }


def check_versions(versions: Mapping[str, str] | None = None) -> None:
    """Stops with a clear message if TensorFlow or Keras is older than supported.

    Args:
        versions: Package name to version; by default :func:`installed_versions`.

    Raises:
        ImportError: If a version is below :data:`MINIMUM_VERSIONS`. The message names
            every package that is too old, the version found, and the command that
            upgrades it.

    Example:
        >>> check_versions({"tensorflow": "2.21.0", "keras": "3.15.1"})
        >>> check_versions({"tensorflow": "2.15.0", "keras": "2.15.0"})
        Traceback (most recent call last):
        ...
        ImportError: vaebook needs TensorFlow >= 2.19.1 and Keras >= 3.10.0; ...
    """
    found = installed_versions() if versions is None else versions
    too_old = [
        f"{_NAMES[name]} {found[name]}"
        for name, oldest in MINIMUM_VERSIONS.items()
        if parse_version(found[name]) < parse_version(oldest)
    ]
    if not too_old:
        return
    needed = " and ".join(f"{_NAMES[name]} >= {v}" for name, v in MINIMUM_VERSIONS.items())
    upgrade = " ".join(f'"{name}>={v}"' for name, v in MINIMUM_VERSIONS.items())
    raise ImportError(
        f"vaebook needs {needed}; this runtime has {' and '.join(too_old)}. "
        f"Upgrade with  pip install -U {upgrade}  and then restart the Python "
        "process (in Colab: Runtime > Restart session) before importing vaebook again."
    )


def device() -> str:
    """The device TensorFlow will place the chapter's work on, in words.

    Returns:
        ``"GPU (<name>)"`` for the first visible GPU, with the number of GPUs if there
        are several, else ``"CPU (<n> cores)"`` with the cores this process may use.
    """
    import tensorflow as tf

    gpus = tf.config.list_physical_devices("GPU")
    if gpus:
        details = tf.config.experimental.get_device_details(gpus[0])
        name = details.get("device_name", gpus[0].name)
        count = f"{len(gpus)} x " if len(gpus) > 1 else ""
        return f"GPU ({count}{name})"
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # macOS and Windows have no affinity mask.
        cores = os.cpu_count() or 1
    return f"CPU ({cores} core{'s' if cores != 1 else ''})"


def use_xla(model: object, requested: bool | None = None) -> bool:
    """Whether to compile a model's training or evaluation step with XLA.

    XLA fuses the dense models' small operations and makes them several times faster
    on a CPU. Its CPU convolutions are another matter: a convolutional VAE's training
    step runs far slower with XLA than without on the course's 2-core machine
    (``benchmarks/conv_speed.py`` measures it; the Results page shows the ratio), so
    models that say ``xla_on_cpu = False`` are compiled without it unless a GPU is
    present.

    Args:
        model: The model to be run.
        requested: An explicit choice, returned as it is; ``None`` decides as above.

    Returns:
        ``True`` to compile with XLA.
    """
    if requested is not None:
        return bool(requested)
    if getattr(model, "xla_on_cpu", True):
        return True
    import tensorflow as tf

    return bool(tf.config.list_physical_devices("GPU"))


def describe() -> str:
    """One line naming vaebook, TensorFlow, Keras and NumPy versions and the device.

    Returns:
        For example ``"vaebook 0.1.0 | TensorFlow 2.21.0 | Keras 3.15.1 |
        NumPy 2.4.6 | device: CPU (2 cores)"``.
    """
    found = installed_versions()
    return (
        f"vaebook {VERSION} | TensorFlow {found['tensorflow']} | "
        f"Keras {found['keras']} | NumPy {found['numpy']} | device: {device()}"
    )
