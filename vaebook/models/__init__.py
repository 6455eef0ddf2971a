"""Model families: autoencoders, their variants, VAEs, convolutional and conditional models.

The autoencoder is chapters 1-2's, its variants chapter 3's, the VAE chapters 4-5's;
the convolutional and conditional models give them convolutions and class labels, and
the semi-supervised VAE (chapter 8) a label that is observed for only a few images;
the vector quantiser is the VQ-VAE's discrete bottleneck.

Models import only the pure layers below them (:mod:`vaebook.checks`,
:mod:`vaebook.losses`, :mod:`vaebook.rng`); they never import the training loop or the
metrics. What :func:`vaebook.train.train` needs of a model is written down once, as
:class:`vaebook.checks.Trainable`.
"""

from vaebook.models.adversarial import AdversarialAutoencoder
from vaebook.models.autoencoder import Autoencoder
from vaebook.models.conv import ConditionalVAE, ConvAutoencoder, ConvVAE
from vaebook.models.denoising import DenoisingAutoencoder, corrupt
from vaebook.models.saving import load_model
from vaebook.models.semisupervised import SemiSupervisedVAE
from vaebook.models.sparse import SparseAutoencoder
from vaebook.models.vae import VAE
from vaebook.models.vq import VectorQuantizer, codebook_perplexity

__all__ = [
    "VAE",
    "AdversarialAutoencoder",
    "Autoencoder",
    "ConditionalVAE",
    "ConvAutoencoder",
    "ConvVAE",
    "DenoisingAutoencoder",
    "SemiSupervisedVAE",
    "SparseAutoencoder",
    "VectorQuantizer",
    "codebook_perplexity",
    "corrupt",
    "load_model",
]
