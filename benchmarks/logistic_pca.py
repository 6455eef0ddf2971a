"""Logistic PCA on MNIST at 30 numbers, against Hinton & Salakhutdinov (2006).

Their Figure 2 compares codes of 30 numbers by the average squared error per MNIST
test image: PCA 13.87, logistic PCA 8.01, the deep autoencoder 3.00. ``hinton2006.py``
measures PCA and the autoencoder; this script fits ``vaebook.pca.LogisticPCA`` (Schein,
Saul & Ungar, 2003) to the 60,000 training images (grey levels as the Bernoulli
targets), encodes the 10,000 test images with the loadings fixed, and reports their
squared error per image, with the mean cross-entropy of the fit and of the test codes
and PCA's error beside it. Nothing is random: a rerun gives the same figures on the
same machine.

Usage::

    python benchmarks/logistic_pca.py                  # a few minutes on 2 CPU cores
    python benchmarks/logistic_pca.py --steps 50 --encode-steps 20   # a quick try

Results go to ``benchmarks/results/logistic_pca.json`` (full runs only).
"""

from __future__ import annotations

import argparse
import os
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import vaebook  # noqa: E402,F401  (imports TensorFlow quietly)

# isort: split
from common import HINTON2006_PAPER, save_results  # noqa: E402

from vaebook import data, evaluate  # noqa: E402
from vaebook.pca import PCA, LogisticPCA  # noqa: E402

CODE_SIZE = 30
PAPER = HINTON2006_PAPER
DEFAULTS = LogisticPCA(CODE_SIZE)


def main() -> None:
    """Fits logistic PCA, scores the test images and saves the figures."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=int, default=DEFAULTS.steps)
    parser.add_argument("--encode-steps", type=int, default=DEFAULTS.encode_steps)
    args = parser.parse_args()
    began = time.perf_counter()
    mnist = data.load_mnist()
    model = LogisticPCA(CODE_SIZE, steps=args.steps, encode_steps=args.encode_steps)
    model.fit(mnist.x_train)
    test_codes = model.encode(mnist.x_test)
    x_hat = model.decode(test_codes)
    error = float(evaluate.squared_error_per_image(mnist.x_test, x_hat).mean())
    pca = PCA(CODE_SIZE).fit(mnist.x_train)
    pca_error = float(
        evaluate.squared_error_per_image(mnist.x_test, pca.reconstruct(mnist.x_test)).mean()
    )
    # The last tenth of the fit: how much the objective still moved.
    tail = model.history[-(len(model.history) // 10) :]
    results = {
        "paper": PAPER,
        "logistic_pca": round(error, 4),
        "pca": round(pca_error, 4),
        "training_cross_entropy": round(model.history[-1], 4),
        "cross_entropy_change_last_tenth": round(tail[0] - tail[-1], 4),
        "steps": args.steps,
        "encode_steps": args.encode_steps,
        "learning_rate": model.learning_rate,
        "setup": (
            f"LogisticPCA({CODE_SIZE}): full-batch Adam ({model.learning_rate:g}) for "
            f"{args.steps} steps on the 60,000 training images (grey levels as "
            f"Bernoulli targets), started from PCA; test codes by {args.encode_steps} "
            "Adam steps each with the loadings fixed"
        ),
    }
    print(
        f"logistic PCA ({CODE_SIZE}): test squared error {error:.2f} per image "
        f"(paper {PAPER['logistic_pca']}); PCA {pca_error:.2f} (paper {PAPER['pca']})"
    )
    if args.steps == DEFAULTS.steps and args.encode_steps == DEFAULTS.encode_steps:
        save_results("logistic_pca", results, time.perf_counter() - began)


if __name__ == "__main__":
    main()
