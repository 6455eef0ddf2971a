"""vaebook: the models, losses and training loop of the autoencoder and VAE course.

Each chapter of the book writes its key idea by hand and then imports the tested
version from here:

* :mod:`vaebook.data` - Fashion-MNIST and MNIST loaders, binarisation.
* :mod:`vaebook.losses` - reconstruction losses, Gaussian KL, bounds (chapters 1-2, 4).
* :mod:`vaebook.models` - the autoencoder (chapters 1-2) and the VAE (chapters 4-5).
* :mod:`vaebook.pca` - the linear baseline (chapter 1).
* :mod:`vaebook.train` - seeding, quick mode, the compiled training loop (chapter 2).
* :mod:`vaebook.evaluate` - test metrics, negative ELBO and importance-sampled NLL.
* :mod:`vaebook.ood`, :mod:`vaebook.few_labels`, :mod:`vaebook.retrieval` - what codes
  are for: spotting the unfamiliar, learning from few labels, near neighbours (chapters 7
  and 8; :mod:`vaebook.downstream` names them together).
* :mod:`vaebook.quality` - how good generated samples are: the Fréchet distance,
  precision and recall in a feature space.
* :mod:`vaebook.plots` - figures; every function returns a ``matplotlib`` Figure.
* :mod:`vaebook.report` - measured numbers into the prose, tables.
* :mod:`vaebook.runtime` - the supported TensorFlow and Keras, checked on import; the
  device in use.
"""

from __future__ import annotations

import os
import sys


def _import_tensorflow_quietly() -> None:
    """Imports TensorFlow with its C++ start-up notices kept out of notebook outputs.

    While loading, TensorFlow's runtime writes informational lines (oneDNN, CUDA probing,
    CPU features) straight to the process's standard error, before any log level applies.
    Only that import is silenced; errors still raise as Python exceptions, and later
    messages follow ``TF_CPP_MIN_LOG_LEVEL`` as usual.
    """
    if "tensorflow" in sys.modules:
        return
    try:
        sys.stderr.flush()
        saved = os.dup(2)
    except (OSError, ValueError, AttributeError):  # No real file descriptor 2.
        import tensorflow  # noqa: F401

        return
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, 2)
        import tensorflow  # noqa: F401
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)


_import_tensorflow_quietly()

# Stop here, saying what to do, if the runtime's TensorFlow or Keras is too old (Colab
# installs vaebook with --no-deps on top of whatever its runtime has).
from vaebook import runtime  # noqa: E402

runtime.check_versions()
__version__ = runtime.VERSION
