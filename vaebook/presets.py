"""Experiments that a chapter and a benchmark both report, each defined once.

An :class:`Experiment` fixes everything that decides a trained model: the dataset, the
model class and its arguments, the epochs, the batch size, the learning rate and the
seed. A chapter and a benchmark that report the same result both run the same preset,
so the book cannot show two numbers for one stated set-up; where a chapter varies a
preset (quick mode, another sample count for an estimate) it says so in its text.

The presets and where they are used:

* :func:`fashion_autoencoder` -- chapter 2's network with code size ``k``: chapter 1's
  sweep over code sizes, chapter 3's baseline (``k = 20``) and
  ``benchmarks/fashion_reference.py``;
* :data:`FASHION_AUTOENCODER_LONG` -- the same network trained longer in bigger
  batches with a validation curve: chapter 2 and ``benchmarks/train_speed.py``;
* :data:`FASHION_VAE` -- chapter 5's reference VAE and the VAE of
  ``benchmarks/fashion_reference.py`` and ``benchmarks/eval_memory.py``;
* :func:`collapse_remedy` -- its mean-reduced variant, untreated and with each remedy
  for posterior collapse (:func:`remedy_settings`): chapter 9;
* :func:`pca_test_errors` -- PCA's test error by code size: chapter 1 (MNIST and
  Fashion-MNIST), ``benchmarks/hinton2006.py`` and ``benchmarks/fashion_reference.py``;
* :data:`FASHION_CONV_AUTOENCODER`, :data:`FASHION_CONV_VAE` and
  :data:`FASHION_CONDITIONAL_VAE` -- chapter 6's convolutional models;
* :data:`FASHION_CONV_VAE_CONTINUOUS` -- the convolutional VAE with a continuous
  Bernoulli decoder: ``benchmarks/fashion_conv_continuous.py`` (Results page);
* :data:`MNIST_M1_VAE` and :data:`MNIST_M1_AUTOENCODER` -- chapter 8's feature
  extractors for learning from few labels and for near neighbours;
* :data:`KINGMA_M1_VAE` -- the M1 under M1+M2 on the Results page;
* :data:`FASHION_VQVAE`, :data:`FASHION_VQVAE_NO_RESTARTS`, :data:`FASHION_CODE_PRIOR`
  and :data:`FASHION_CLASSIFIER` -- chapter 10's VQ-VAE (with and without restarts of
  unused codes), the prior over its code grids, and the classifier whose features
  judge samples.

Example:
    >>> model, history = fashion_autoencoder(20).fit(x_train)  # doctest: +SKIP
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

import keras
import numpy as np

from vaebook.checks import (
    as_images,
    check_choice,
    check_non_negative_int,
    check_positive,
    check_positive_int,
)
from vaebook.evaluate import squared_error_per_image
from vaebook.losses import CyclicalKL, KLWarmup
from vaebook.models import (
    VAE,
    VQVAE,
    Autoencoder,
    Classifier,
    CodePrior,
    ConditionalVAE,
    ConvAutoencoder,
    ConvVAE,
)
from vaebook.pca import PCA
from vaebook.train import QUICK_TRAINING_IMAGES, History, epochs_for, is_quick, set_seed, train

__all__ = [
    "COLLAPSE_REMEDIES",
    "FREE_BITS_FLOOR",
    "FASHION_CLASSIFIER",
    "FASHION_CODE_PRIOR",
    "FASHION_CONDITIONAL_VAE",
    "FASHION_CONV_AUTOENCODER",
    "FASHION_CONV_VAE",
    "FASHION_CONV_VAE_CONTINUOUS",
    "FASHION_AUTOENCODER_LONG",
    "FASHION_CODE_SIZES",
    "FASHION_VAE",
    "FASHION_VQVAE",
    "FASHION_VQVAE_NO_RESTARTS",
    "KINGMA_M1_VAE",
    "MNIST_M1_AUTOENCODER",
    "MNIST_M1_VAE",
    "Experiment",
    "collapse_remedy",
    "remedy_settings",
    "fashion_autoencoder",
    "pca_test_errors",
]


@dataclass(frozen=True)
class Experiment:
    """One training set-up, defined once and run by every chapter and benchmark using it.

    Args:
        name: A short identifier, e.g. ``"fashion_vae"``.
        dataset: ``"fashion-mnist"`` or ``"mnist"`` (the training images).
        model: The model class.
        model_args: Its constructor arguments.
        epochs: Epochs of the full-length run.
        batch_size: Examples per step.
        learning_rate: Adam's learning rate.
        seed: Seed of initialisation (via :func:`vaebook.train.set_seed`) and shuffling.
        quick_epochs: Epochs in quick mode (``VAEBOOK_QUICK=1``).
        binarize: Whether batches are binarised dynamically.
        description: The set-up in words, for tables and saved results.
    """

    name: str
    dataset: str
    model: Callable[..., keras.Model]
    model_args: Mapping[str, Any]
    epochs: int
    batch_size: int
    learning_rate: float = 1e-3
    seed: int = 0
    quick_epochs: int = 2
    binarize: bool = False
    description: str = field(default="", compare=False)

    def __post_init__(self) -> None:
        for field_name in ("epochs", "batch_size", "quick_epochs"):
            check_positive_int(getattr(self, field_name), f"Experiment {self.name!r}: {field_name}")
        check_positive(self.learning_rate, f"Experiment {self.name!r}: learning_rate")
        check_non_negative_int(self.seed, f"Experiment {self.name!r}: seed")
        object.__setattr__(self, "model_args", MappingProxyType(dict(self.model_args)))

    def __repr__(self) -> str:
        """The set-up in one line, as the API page and a notebook show it."""
        args = ", ".join(f"{key}={value!r}" for key, value in self.model_args.items())
        model = getattr(self.model, "__name__", repr(self.model))
        data = self.dataset + (", binarised in every batch" if self.binarize else "")
        return (
            f"Experiment({self.name!r}: {model}({args}) on {data}; {self.epochs} epochs "
            f"({self.quick_epochs} in quick mode), batches of {self.batch_size}, "
            f"Adam {self.learning_rate:g}, seed {self.seed})"
        )

    def build(self) -> keras.Model:
        """Seeds everything with ``seed`` and builds the untrained model."""
        set_seed(self.seed)
        return self.model(**self.model_args)

    def run_epochs(self) -> int:
        """The epochs of this run: ``quick_epochs`` in quick mode, ``epochs`` otherwise."""
        return epochs_for(self.epochs, self.quick_epochs)

    def variant(
        self, name: str, *, model_args: Mapping[str, Any] | None = None, **fields: Any
    ) -> Experiment:
        """A copy with some model arguments or fields changed (another set-up, renamed).

        Args:
            name: The variant's name.
            model_args: Model arguments to change; the others are kept.
            **fields: Other fields to change (``dataset``, ``binarize``, ...).

        Returns:
            The new experiment; its ``description`` is cleared unless given.
        """
        merged = {**self.model_args, **(model_args or {})}
        fields.setdefault("description", "")
        return dataclasses.replace(self, name=name, model_args=merged, **fields)

    def fit(
        self,
        x_train: np.ndarray,
        *,
        model: keras.Model | None = None,
        epochs: int | None = None,
        **train_args: Any,
    ) -> tuple[keras.Model, History]:
        """Builds the model (unless given) and trains it as the preset says.

        Args:
            x_train: The training images of the preset's ``dataset``.
            model: A model returned by :meth:`build`, when the caller needs it before
                training (for example in a callback); built here otherwise.
            epochs: Override of the number of epochs (default :meth:`run_epochs`);
                a run with another length is another set-up, and its text must say so.
            **train_args: Further arguments of :func:`vaebook.train.train` that do not
                change the result (``x_val``, ``callbacks``, ``verbose``, ``log_every``,
                ``checkpoint_dir``).

        Returns:
            The trained model and its history.
        """
        fixed = {"batch_size", "learning_rate", "seed", "binarize", "optimizer"}
        if fixed & set(train_args):
            raise ValueError(
                f"{sorted(fixed & set(train_args))} are fixed by the preset {self.name!r}; "
                "define another Experiment to change them."
            )
        if model is None:
            model = self.build()
        history = train(
            model,
            x_train,
            epochs=self.run_epochs() if epochs is None else epochs,
            batch_size=self.batch_size,
            learning_rate=self.learning_rate,
            seed=self.seed,
            binarize=self.binarize,
            **train_args,
        )
        return model, history

    def settings(self) -> str:
        """The training settings in words (optimiser, batch, epochs, seed)."""
        return (
            f"Adam({self.learning_rate:g}), batch {self.batch_size}, {self.epochs} epochs, "
            f"seed {self.seed}"
        )


#: Code sizes of the Fashion-MNIST reconstruction sweep (chapter 1, Results page).
FASHION_CODE_SIZES = (2, 5, 10, 20, 30, 50)


def fashion_autoencoder(code_size: int) -> Experiment:
    """Chapter 2's dense autoencoder with a ``code_size``-number code, on Fashion-MNIST.

    784-256-128-64-``code_size`` and back, ReLU, sigmoid cross-entropy, Adam(1e-3),
    batches of 256, 30 epochs, seed 0.

    Args:
        code_size: The code length ``k``.

    Returns:
        The experiment.
    """
    code_size = check_positive_int(code_size, "code_size")
    return Experiment(
        name=f"fashion_autoencoder_{code_size}",
        dataset="fashion-mnist",
        model=Autoencoder,
        model_args={"latent_dim": code_size, "encoder_units": (256, 128, 64)},
        epochs=30,
        batch_size=256,
        description=(
            f"784-256-128-64-{code_size} and back, ReLU, sigmoid cross-entropy, "
            "Adam(1e-3), batch 256, 30 epochs, seed 0"
        ),
    )


#: The set-up of chapter 2 (the 20-number autoencoder, 100 epochs, batches of 512).
FASHION_AUTOENCODER_LONG = Experiment(
    name="fashion_autoencoder_long",
    dataset="fashion-mnist",
    model=Autoencoder,
    model_args={"latent_dim": 20, "encoder_units": (256, 128, 64)},
    epochs=100,
    batch_size=512,
    quick_epochs=3,
    description=(
        "784-256-128-64-20 and back, ReLU, sigmoid cross-entropy, Adam(1e-3), batch 512, "
        "100 epochs, seed 0"
    ),
)

#: The reference VAE of chapter 5, on the grey-level Fashion-MNIST pixels.
FASHION_VAE = Experiment(
    name="fashion_vae",
    dataset="fashion-mnist",
    model=VAE,
    model_args={"latent_dim": 20, "encoder_units": (512, 256), "seed": 0},
    epochs=50,
    batch_size=128,
    description=(
        "784-512-256-20 ReLU Gaussian encoder, mirrored Bernoulli decoder on grey levels, "
        "sum over pixels, Adam(1e-3), batch 128, 50 epochs, seed 0"
    ),
)


#: The remedies for posterior collapse that :func:`remedy_settings` knows.
COLLAPSE_REMEDIES = ("none", "warm-up", "cyclical", "free bits")

#: Free bits' floor in :func:`remedy_settings`: nats per latent unit (a round value,
#: not tuned).
FREE_BITS_FLOOR = 1.0


def remedy_settings(remedy: str, steps: int) -> dict[str, Any]:
    """The VAE arguments of one remedy for posterior collapse, for a run of ``steps``.

    The settings are round values from the papers, not tuned on the course's data:

    * ``"none"``: no arguments (the untreated model);
    * ``"warm-up"``: ``kl_schedule``, the KL weight rising from 0 to 1 over the first
      fifth of the run (:class:`vaebook.losses.KLWarmup`; Bowman et al., 2016);
    * ``"cyclical"``: ``kl_schedule``, four cycles over the run, each rising over its
      first half (:class:`vaebook.losses.CyclicalKL`; Fu et al., 2019's settings);
    * ``"free bits"``: ``free_bits``, a floor of :data:`FREE_BITS_FLOOR` nats per unit on
      the KL term (:func:`vaebook.losses.free_bits_kl`; Kingma et al., 2016).

    Args:
        remedy: One of :data:`COLLAPSE_REMEDIES`.
        steps: The training steps of the run.

    Returns:
        Keyword arguments for :class:`vaebook.models.VAE` (``kl_schedule`` or
        ``free_bits``, or none).

    Raises:
        ValueError: If ``remedy`` is unknown or ``steps`` is not a positive integer.

    Example:
        >>> remedy_settings("warm-up", steps=1000)
        {'kl_schedule': KLWarmup(steps=200, start=0)}
    """
    check_choice(remedy, COLLAPSE_REMEDIES, "remedy")
    steps = check_positive_int(steps, "steps")
    if remedy == "warm-up":
        return {"kl_schedule": KLWarmup(steps=max(1, steps // 5))}
    if remedy == "cyclical":
        return {"kl_schedule": CyclicalKL(steps=steps, cycles=min(4, steps), ramp=0.5)}
    if remedy == "free bits":
        return {"free_bits": FREE_BITS_FLOOR}
    return {}


def collapse_remedy(remedy: str, seed: int, num_train: int) -> Experiment:
    """Chapter 5's mean-reduced VAE, which collapses, with one remedy for collapse.

    The model is :data:`FASHION_VAE` with ``pixel_reduction="mean"`` (chapter 5 shows
    its posterior collapse), with network and data-order seed ``seed``, and the
    arguments of :func:`remedy_settings` for the run's steps: its epochs
    (:meth:`Experiment.run_epochs`, fewer in quick mode) times the batches in
    ``num_train`` images (the first of them only, in quick mode).

    Args:
        remedy: One of :data:`COLLAPSE_REMEDIES`.
        seed: Seed of the weights, the noise and the order of the batches.
        num_train: Number of training images the run will be given.

    Returns:
        The experiment, named ``"collapse_<remedy>_seed_<seed>"``.

    Raises:
        ValueError: If ``remedy`` is unknown, or ``seed`` or ``num_train`` is invalid.

    Example:
        >>> experiment = collapse_remedy("free bits", seed=1, num_train=60000)
        >>> experiment.model_args["free_bits"], experiment.seed
        (1.0, 1)
    """
    check_choice(remedy, COLLAPSE_REMEDIES, "remedy")
    seed = check_non_negative_int(seed, "seed")
    num_train = check_positive_int(num_train, "num_train")
    base = FASHION_VAE
    used = min(num_train, QUICK_TRAINING_IMAGES) if is_quick() else num_train
    steps = base.run_epochs() * -(-used // base.batch_size)  # batches, rounded up
    model_args = {"pixel_reduction": "mean", "seed": seed, **remedy_settings(remedy, steps)}
    return base.variant(
        f"collapse_{remedy.replace(' ', '_')}_seed_{seed}",
        model_args=model_args,
        seed=seed,
        description=(
            f"FASHION_VAE with the reconstruction averaged over pixels, seed {seed}, "
            f"remedy: {remedy}"
        ),
    )


#: Chapter 6's convolutional autoencoder, trained like chapter 2's dense one with the
#: same 20-number code (fashion_autoencoder(20): its batches and epochs).
FASHION_CONV_AUTOENCODER = Experiment(
    name="fashion_conv_autoencoder",
    dataset="fashion-mnist",
    model=ConvAutoencoder,
    model_args={"latent_dim": 20, "filters": (32, 64)},
    epochs=fashion_autoencoder(20).epochs,
    batch_size=fashion_autoencoder(20).batch_size,
    quick_epochs=1,
    description=(
        "Conv 32-64 (3x3, stride 2) to a 20-number code and mirrored transposed "
        "convolutions, ReLU, sigmoid cross-entropy, Adam(1e-3), batch "
        f"{fashion_autoencoder(20).batch_size}, {fashion_autoencoder(20).epochs} epochs, "
        "seed 0"
    ),
)

#: Chapter 6's convolutional VAE, with FASHION_VAE's likelihood, code size and batches.
FASHION_CONV_VAE = Experiment(
    name="fashion_conv_vae",
    dataset="fashion-mnist",
    model=ConvVAE,
    model_args={"latent_dim": 20, "filters": (32, 64), "seed": 0},
    epochs=FASHION_VAE.epochs,
    batch_size=FASHION_VAE.batch_size,
    quick_epochs=1,
    description=(
        "Conv 32-64 (3x3, stride 2) Gaussian encoder, mirrored Bernoulli decoder on grey "
        f"levels, 20-number code, Adam(1e-3), batch {FASHION_VAE.batch_size}, "
        f"{FASHION_VAE.epochs} epochs (FASHION_VAE's), seed 0"
    ),
)

#: FASHION_CONV_VAE with chapter 5's continuous Bernoulli decoder (a proper density on
#: [0, 1]), for the Results page's comparison with chapter 5's dense model of that name
#: (``benchmarks/fashion_conv_continuous.py``).
FASHION_CONV_VAE_CONTINUOUS = FASHION_CONV_VAE.variant(
    "fashion_conv_vae_continuous",
    model_args={"likelihood": "continuous_bernoulli"},
    description=(
        "FASHION_CONV_VAE with a continuous Bernoulli decoder, "
        f"{FASHION_CONV_VAE.epochs} epochs, seed 0"
    ),
)

#: Chapter 6's conditional VAE, FASHION_CONV_VAE with the class label in both networks
#: (the same settings and epochs, so that the two bounds compare).
FASHION_CONDITIONAL_VAE = FASHION_CONV_VAE.variant(
    "fashion_conditional_vae",
    model=ConditionalVAE,
    model_args={"num_classes": 10},
    description=(
        "FASHION_CONV_VAE with the one-hot label joining the encoder's features and the "
        f"decoder's input; trained with the labels (y_train), {FASHION_CONV_VAE.epochs} "
        "epochs, seed 0"
    ),
)

#: Chapter 8's VAE for features from few labels, the "M1" model of Kingma et al. (2014)
#: (784-600-600-50 with softplus units), on grey-level MNIST.
MNIST_M1_VAE = Experiment(
    name="mnist_m1_vae",
    dataset="mnist",
    model=VAE,
    model_args={
        "latent_dim": 50,
        "encoder_units": (600, 600),
        "activation": "softplus",
        "seed": 0,
    },
    epochs=30,
    batch_size=100,
    quick_epochs=1,
    description=(
        "784-600-600-50 softplus Gaussian encoder, mirrored Bernoulli decoder on grey "
        "levels (Kingma et al.'s M1), Adam(1e-3), batch 100, 30 epochs, seed 0"
    ),
)

#: M1 for M1+M2 (``benchmarks/kingma2014.py``, the Results page): MNIST_M1_VAE's
#: network on images binarised afresh in every batch, as Kingma et al.'s code trains its
#: M1, and for longer (their M1 differs in other ways; the script's docstring says how).
KINGMA_M1_VAE = MNIST_M1_VAE.variant(
    "kingma_m1_vae",
    binarize=True,
    epochs=100,
    description=(
        "784-600-600-50 softplus Gaussian encoder, mirrored Bernoulli decoder, on MNIST "
        "binarised afresh in every batch (as in Kingma et al.'s code), Adam(1e-3), "
        f"batch {MNIST_M1_VAE.batch_size}, 100 epochs, seed 0"
    ),
)

#: The autoencoder that chapter 8 compares with MNIST_M1_VAE, with the same layers, code
#: size, data, batches and epochs and without the noise and the KL term.
MNIST_M1_AUTOENCODER = Experiment(
    name="mnist_m1_autoencoder",
    dataset="mnist",
    model=Autoencoder,
    model_args={"latent_dim": 50, "encoder_units": (600, 600), "activation": "softplus"},
    epochs=MNIST_M1_VAE.epochs,
    batch_size=MNIST_M1_VAE.batch_size,
    quick_epochs=1,
    description=(
        "784-600-600-50 softplus and back, sigmoid cross-entropy on grey levels, "
        f"Adam(1e-3), batch {MNIST_M1_VAE.batch_size}, {MNIST_M1_VAE.epochs} epochs, seed 0"
    ),
)

#: Chapter 10's VQ-VAE, a 7 x 7 grid of codes from a codebook of 64 vectors of size 16
#: (294 bits at most), the codebook moved by averages and unused codes restarted
#: (round values, not tuned).
FASHION_VQVAE = Experiment(
    name="fashion_vqvae",
    dataset="fashion-mnist",
    model=VQVAE,
    model_args={
        "num_codes": 64,
        "code_dim": 16,
        "filters": (32, 64),
        "ema_decay": 0.99,
        "restart_below": 1.0,
        "seed": 0,
    },
    epochs=15,
    batch_size=128,
    quick_epochs=1,
    description=(
        "Conv 32-64 (3x3, stride 2) to a 7x7 grid of 16-number vectors, quantised to a "
        "codebook of 64 (moving averages, decay 0.99; codes used less than once per "
        "batch restarted), mirrored transposed convolutions, Bernoulli decoder on grey "
        "levels, commitment 0.25, Adam(1e-3), batch 128, 15 epochs, seed 0"
    ),
)

#: FASHION_VQVAE without restarts, to show what happens to the codebook's usage.
FASHION_VQVAE_NO_RESTARTS = FASHION_VQVAE.variant(
    "fashion_vqvae_no_restarts",
    model_args={"restart_below": 0.0},
    description="FASHION_VQVAE with no restarts of unused codes, 15 epochs, seed 0",
)

#: Chapter 10's prior over FASHION_VQVAE's code grids, a two-block causal transformer.
FASHION_CODE_PRIOR = Experiment(
    name="fashion_code_prior",
    dataset="fashion-mnist",
    model=CodePrior,
    model_args={
        "num_codes": 64,
        "grid_shape": (7, 7),
        "dim": 64,
        "heads": 4,
        "num_layers": 2,
        "dropout": 0.1,
        "seed": 0,
    },
    epochs=10,
    batch_size=128,
    quick_epochs=1,
    description=(
        "Causal transformer over FASHION_VQVAE's 49 codes of the training images (raster "
        "order): 64-wide embeddings, 2 blocks of 4-head attention and a 256-unit MLP, "
        "dropout 0.1, Adam(1e-3), batch 128, 10 epochs, seed 0"
    ),
)

#: The classifier whose hidden features judge generated Fashion-MNIST images (chapter 10).
FASHION_CLASSIFIER = Experiment(
    name="fashion_classifier",
    dataset="fashion-mnist",
    model=Classifier,
    model_args={"num_classes": 10, "feature_dim": 128, "dropout": 0.3, "seed": 0},
    epochs=10,
    batch_size=128,
    quick_epochs=1,
    description=(
        "Conv 32-64 (3x3, stride 2), dropout 0.3, 128 ReLU features, dropout 0.3, 10 "
        "logits; cross-entropy with the labels (y_train), Adam(1e-3), batch 128, 10 "
        "epochs, seed 0"
    ),
)


def pca_test_errors(
    x_train: np.ndarray, x_test: np.ndarray, code_sizes: Sequence[int]
) -> dict[int, float]:
    """PCA's test squared error per image for each code size, from one fit.

    PCA is fitted once with the largest code size; each smaller code keeps the first
    ``k`` directions. Deterministic: computed in float64 from the training images.

    Args:
        x_train: Training images in ``[0, 1]``.
        x_test: Test images of the same shape.
        code_sizes: The code sizes ``k``.

    Returns:
        ``{k: mean over test images of the squared error summed over pixels}``.
    """
    x_train = as_images(x_train, "x_train")
    x_test = as_images(x_test, "x_test", image_shape=x_train.shape[1:])
    sizes = [check_positive_int(k, "each code size") for k in code_sizes]
    if not sizes:
        raise ValueError("code_sizes is empty.")
    pca = PCA(max(sizes)).fit(x_train)
    return {
        k: float(squared_error_per_image(x_test, pca.reconstruct(x_test, k)).mean()) for k in sizes
    }
