r"""A learned prior over a VQ-VAE's code grids: a small causal transformer.

A VQ-VAE describes an image by a grid of codebook indices; decoding indices drawn
uniformly at random gives noise, because real grids are far from uniform. A prior
:math:`p(k_1, \dots, k_L)` over the :math:`L` positions (read in raster order) is learned
by the chain rule of probability,

.. math:: \log p(k_1, \dots, k_L) = \sum_{i=1}^{L} \log p(k_i \mid k_1, \dots, k_{i-1}),

with one network that outputs all :math:`L` conditionals at once: the inputs are the
grid shifted by one position (a start token first), and *causal* self-attention lets
position :math:`i` look only at positions before it [1, 2]. Its loss, the negative
log-likelihood of the training grids, is an exact code length: divided by
:math:`\log 2` it is the number of bits an arithmetic coder would need per image for
the grid. Samples are drawn one position at a time.

References:
    1. A. Vaswani et al. Attention is all you need. *NeurIPS*, 2017.
    2. P. Esser, R. Rombach and B. Ommer. Taming transformers for high-resolution image
       synthesis. *CVPR*, 2021.
"""

from __future__ import annotations

from typing import Any

import keras
import numpy as np
import tensorflow as tf

from vaebook.checks import check_code_grid, check_fraction, check_positive_int, check_units
from vaebook.models.common import SeededModel

__all__ = ["CodePrior"]


@keras.saving.register_keras_serializable(package="vaebook")
class CodePrior(SeededModel):
    """An autoregressive prior over grids of codebook indices (a causal transformer).

    Args:
        num_codes: Codebook size :math:`K` of the grids it models.
        grid_shape: Shape of one grid, e.g. ``(7, 7)``; read in raster order.
        dim: Width of the token and position embeddings and of the blocks.
        heads: Attention heads per block.
        num_layers: Transformer blocks (attention, then a two-layer MLP, each with a
            residual connection and a layer normalisation before it).
        dropout: Dropout in the blocks during training.
        seed: Seed of the initial weights and of the dropout masks.
        **kwargs: Passed to ``keras.Model``.

    Example:
        >>> prior = CodePrior(num_codes=64, grid_shape=(7, 7), seed=0)
        >>> grids = np.zeros((2, 7, 7), "int32")
        >>> prior.log_prob(grids).shape  # nats per grid
        TensorShape([2])
        >>> prior.sample(3, seed=0).shape
        (3, 7, 7)
    """

    #: Its inputs are codebook indices, not pixels (see vaebook.checks).
    inputs_in_unit_interval = False

    def __init__(
        self,
        num_codes: int,
        grid_shape: tuple[int, ...] = (7, 7),
        dim: int = 128,
        heads: int = 4,
        num_layers: int = 2,
        dropout: float = 0.1,
        seed: int | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.num_codes = check_positive_int(num_codes, "num_codes (the codebook size)")
        self.grid_shape = check_units(grid_shape, "grid_shape")
        self.image_shape = self.grid_shape  # what the training loop checks the data by
        self.length = int(np.prod(self.grid_shape))
        self.dim = check_positive_int(dim, "dim")
        self.heads = check_positive_int(heads, "heads")
        if self.dim % self.heads:
            raise ValueError(f"dim ({dim}) must be divisible by heads ({heads}).")
        self.num_layers = check_positive_int(num_layers, "num_layers")
        self.dropout = check_fraction(dropout, "dropout", upper_inclusive=False)
        self.seed = seed
        # Index num_codes is the start token, the input of the first position.
        self.token_embedding = keras.layers.Embedding(num_codes + 1, dim, name="tokens")
        self.position_embedding = keras.layers.Embedding(self.length, dim, name="positions")
        self.blocks = []
        for index in range(self.num_layers):
            self.blocks.append(
                {
                    "norm_1": keras.layers.LayerNormalization(name=f"norm_{index}_1"),
                    "attention": keras.layers.MultiHeadAttention(
                        heads, dim // heads, dropout=dropout, name=f"attention_{index}"
                    ),
                    "norm_2": keras.layers.LayerNormalization(name=f"norm_{index}_2"),
                    "mlp_1": keras.layers.Dense(4 * dim, activation="gelu", name=f"mlp_{index}_1"),
                    "mlp_2": keras.layers.Dense(dim, name=f"mlp_{index}_2"),
                    "dropout": keras.layers.Dropout(dropout, name=f"dropout_{index}"),
                }
            )
        self.final_norm = keras.layers.LayerNormalization(name="final_norm")
        self.to_logits = keras.layers.Dense(num_codes, name="logits")
        self.logits(tf.zeros((1, self.length), tf.int32))  # creates every weight
        self.built = True

    def logits(self, tokens: tf.Tensor, training: bool = False) -> tf.Tensor:
        """Each position's logits given the tokens before it.

        Args:
            tokens: Flattened grids, integers in ``[0, num_codes)``, ``(batch, length)``.
            training: Whether dropout is active.

        Returns:
            Shape ``(batch, length, num_codes)``: row ``i`` depends on ``tokens[:, :i]``
            only.
        """
        tokens = check_code_grid(tokens, self.num_codes, (self.length,))
        batch = tf.shape(tokens)[0]
        start = tf.fill((batch, 1), self.num_codes)
        shifted = tf.concat([start, tokens[:, :-1]], axis=1)  # (batch, length)
        positions = tf.range(self.length)[None, :]  # (1, length)
        h = self.token_embedding(shifted) + self.position_embedding(positions)
        for block in self.blocks:
            a = block["norm_1"](h)
            a = block["attention"](a, a, use_causal_mask=True, training=training)
            h = h + block["dropout"](a, training=training)
            m = block["mlp_2"](block["mlp_1"](block["norm_2"](h)))
            h = h + block["dropout"](m, training=training)
        return self.to_logits(self.final_norm(h))  # (batch, length, num_codes)

    def call(self, grids: tf.Tensor, training: bool = False) -> tf.Tensor:
        """Logits of each position, shape ``(batch, length, num_codes)``."""
        grids = check_code_grid(grids, self.num_codes, self.grid_shape)
        return self.logits(tf.reshape(grids, (-1, self.length)), training=training)

    def per_example_losses(self, x: tf.Tensor, training: bool = False) -> dict[str, tf.Tensor]:
        """The negative log-likelihood of each grid, in nats: ``{"loss": (batch,)}``.

        Args:
            x: Code grids ``(batch, *grid_shape)``, integers or whole-number floats.
            training: Whether dropout is active.
        """
        tokens = tf.reshape(check_code_grid(x, self.num_codes, self.grid_shape), (-1, self.length))
        logits = self.logits(tokens, training=training)
        nll = tf.reduce_sum(
            tf.nn.sparse_softmax_cross_entropy_with_logits(tokens, logits), axis=1
        )  # (batch,)
        return {"loss": nll}

    def log_prob(self, grids: object) -> tf.Tensor:
        """``log p(grid)`` in nats, shape ``(batch,)`` (dropout off)."""
        return -self.per_example_losses(grids, training=False)["loss"]

    def sample(self, num: int, seed: int = 0, temperature: float = 1.0) -> np.ndarray:
        """Draws grids one position at a time, in raster order.

        Args:
            num: How many grids.
            seed: Seed of the draws (the same seed gives the same grids).
            temperature: Divides the logits; 1 samples the model itself.

        Returns:
            Integer grids, shape ``(num, *grid_shape)``.
        """
        num = check_positive_int(num, "num")
        if not temperature > 0:
            raise ValueError(f"temperature must be > 0; got {temperature}.")
        generator = np.random.default_rng(seed)
        tokens = np.zeros((num, self.length), np.int32)
        step = tf.function(lambda t: self.logits(t), reduce_retracing=True)
        for position in range(self.length):
            logits = step(tf.constant(tokens))[:, position].numpy() / temperature
            gumbel = -np.log(-np.log(generator.uniform(size=logits.shape)))
            tokens[:, position] = np.argmax(logits + gumbel, axis=1)  # a categorical draw
        return tokens.reshape((num, *self.grid_shape))

    def get_config(self) -> dict[str, Any]:
        """The constructor arguments, for saving and cloning."""
        return super().get_config() | {
            "num_codes": self.num_codes,
            "grid_shape": list(self.grid_shape),
            "dim": self.dim,
            "heads": self.heads,
            "num_layers": self.num_layers,
            "dropout": self.dropout,
            "seed": self.seed,
        }

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> CodePrior:
        """Rebuilds the model from :meth:`get_config`'s output."""
        config = dict(config)
        config["grid_shape"] = tuple(config["grid_shape"])
        return cls(**config)
