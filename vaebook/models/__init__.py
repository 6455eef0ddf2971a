"""Model families: the autoencoder (chapters 1-2), its variants (chapter 3), the VAE (4-5).

Models import only the pure layers below them (:mod:`vaebook.checks`,
:mod:`vaebook.losses`, :mod:`vaebook.rng`); they never import the training loop or the
metrics. What :func:`vaebook.train.train` needs of a model is written down once, as
:class:`vaebook.checks.Trainable`.
"""

from vaebook.models.adversarial import AdversarialAutoencoder
from vaebook.models.autoencoder import Autoencoder
from vaebook.models.denoising import DenoisingAutoencoder, corrupt
from vaebook.models.saving import load_model
from vaebook.models.sparse import SparseAutoencoder
from vaebook.models.vae import VAE

__all__ = [
    "VAE",
    "AdversarialAutoencoder",
    "Autoencoder",
    "DenoisingAutoencoder",
    "SparseAutoencoder",
    "corrupt",
    "load_model",
]
