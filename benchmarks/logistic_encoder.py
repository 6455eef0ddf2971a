"""Logistic PCA with a linear encoder on MNIST at 30 numbers, against Hinton & Salakhutdinov.

Their Figure 2 lists logistic PCA at 8.01 (average squared error per MNIST test image,
30 numbers), without saying how its codes were computed. ``logistic_pca.py`` fits each
test image's code separately with the loadings fixed, the model of Schein, Saul & Ungar
(2003), and gets far below 8.01. This script computes the code with a *linear encoder*
instead: ``z = A x + b`` and ``x_hat = sigmoid(C z + d)``, an autoencoder with no
hidden layer (``vaebook.models.Autoencoder(latent_dim=30, encoder_units=())``), trained
on the Bernoulli cross-entropy of the grey levels with Adam.

The number of epochs is chosen on a validation split: the model is trained on 50,000
training images for up to ``--max-epochs``, scored on the 10,000 others (a random
choice, ``vaebook.data.validation_split`` with seed 0) after each epoch, and the epoch
with the lowest validation cross-entropy is kept. A model with the same seed is then
trained on all 60,000 for that many epochs and scored once on the test set.

Usage::

    python benchmarks/logistic_encoder.py                    # about 5 minutes on 2 CPU cores
    python benchmarks/logistic_encoder.py --max-epochs 3     # a quick try (not saved)

Results go to ``benchmarks/results/logistic_encoder.json`` (full runs only).
"""

from __future__ import annotations

import argparse
import os
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import vaebook  # noqa: E402,F401  (imports TensorFlow quietly)

# isort: split
import numpy as np  # noqa: E402
from common import HINTON2006_PAPER, save_results  # noqa: E402

from vaebook import data, evaluate, train  # noqa: E402
from vaebook.models import Autoencoder  # noqa: E402

CODE_SIZE = 30
MAX_EPOCHS = 200
VALIDATION = 10_000
BATCH = 256
LEARNING_RATE = 1e-3
SEED = 0


def linear_logistic_autoencoder() -> Autoencoder:
    """The 784-30-784 model: a linear code, and a sigmoid on the decoder's output."""
    return Autoencoder(latent_dim=CODE_SIZE, encoder_units=(), seed=SEED)


def fit(x: np.ndarray, epochs: int, x_val: np.ndarray | None = None):
    """Trains a fresh model on ``x``; returns it with its history."""
    model = linear_logistic_autoencoder()
    history = train.train(
        model,
        x,
        epochs=epochs,
        batch_size=BATCH,
        learning_rate=LEARNING_RATE,
        seed=SEED,
        x_val=x_val,
        verbose=0,
    )
    return model, history


def main() -> None:
    """Chooses the epochs on validation images, retrains, and scores the test set."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--max-epochs", type=int, default=MAX_EPOCHS)
    args = parser.parse_args()
    began = time.perf_counter()
    mnist = data.load_mnist()
    (x_fit, _), (x_val, _) = data.validation_split(mnist.x_train, mnist.y_train, VALIDATION)
    _, pilot = fit(x_fit, args.max_epochs, x_val=x_val)
    curve = pilot.history["val_loss"]  # validation cross-entropy per epoch
    epochs = int(np.argmin(curve)) + 1
    model, history = fit(mnist.x_train, epochs)
    x_hat = evaluate.map_in_batches(model.reconstruct, mnist.x_test)
    error = float(evaluate.squared_error_per_image(mnist.x_test, x_hat).mean())
    paper = HINTON2006_PAPER["logistic_pca"]
    results = {
        "paper": HINTON2006_PAPER,
        "linear_encoder": round(error, 4),
        "ratio_to_paper": round(error / paper, 4),
        "epochs": epochs,
        "max_epochs": args.max_epochs,
        "validation_cross_entropy": round(float(curve[epochs - 1]), 4),
        "training_cross_entropy": round(history.last("loss"), 4),
        "setup": (
            f"784-{CODE_SIZE}-784 autoencoder, linear code and sigmoid output, Bernoulli "
            f"cross-entropy on grey levels, Adam({LEARNING_RATE:g}), batch {BATCH}, seed "
            f"{SEED}; {epochs} epochs, the best of {args.max_epochs} on "
            f"{VALIDATION:,} validation images, then retrained on all 60,000"
        ),
    }
    print(
        f"linear encoder + logistic decoder ({CODE_SIZE}): test squared error "
        f"{error:.2f} per image (paper's logistic PCA {paper}); {epochs} epochs"
    )
    if args.max_epochs == MAX_EPOCHS:
        save_results("logistic_encoder", results, time.perf_counter() - began)


if __name__ == "__main__":
    main()
