"""Model families: the autoencoder of chapters 1 and 2."""

from vaebook.models.autoencoder import Autoencoder

__all__ = ["Autoencoder"]
