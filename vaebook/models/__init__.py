"""Model families: the autoencoder (chapters 1-2) and the VAE (chapters 4-5)."""

from vaebook.models.autoencoder import Autoencoder
from vaebook.models.saving import load_model
from vaebook.models.vae import VAE

__all__ = ["VAE", "Autoencoder", "load_model"]
