"""Model families: the autoencoder (chapters 1-2), its variants (chapter 3), the VAE (4-5)."""

from vaebook.models.adversarial import AdversarialAutoencoder
from vaebook.models.autoencoder import Autoencoder
from vaebook.models.denoising import DenoisingAutoencoder, corrupt
from vaebook.models.saving import load_model
from vaebook.models.sparse import SparseAutoencoder, sparsity_statistics
from vaebook.models.stacked import greedy_pretrain, layer_pairs
from vaebook.models.vae import VAE

__all__ = [
    "VAE",
    "AdversarialAutoencoder",
    "Autoencoder",
    "DenoisingAutoencoder",
    "SparseAutoencoder",
    "corrupt",
    "greedy_pretrain",
    "layer_pairs",
    "load_model",
    "sparsity_statistics",
]
