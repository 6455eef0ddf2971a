"""The course's own Fashion-MNIST reference numbers (no public source gives them).

1. Reconstruction: test squared error per image (summed over the 784 pixels in [0, 1])
   of PCA and of an autoencoder at code sizes 2, 5, 10, 20, 30 and 50: the presets
   ``vaebook.presets.pca_test_errors`` and ``vaebook.presets.fashion_autoencoder(k)``
   that chapter 1 runs too (chapter 2's network with the code size changed), so the
   Results page and chapter 1 show the same numbers.
2. Likelihood: ``vaebook.presets.FASHION_VAE``, chapter 5's reference VAE; test negative
   ELBO and negative log-likelihood estimated with 5,000 importance samples per image
   (chapter 5 uses 1,000, so its estimates differ from these in the second decimal),
   plus the entropy floor of the grey-level targets (no Bernoulli model can go below it).

Usage::

    python benchmarks/fashion_reference.py                  # about 25 min on 2 CPU cores
    python benchmarks/fashion_reference.py --ae-epochs 1 --vae-epochs 1 --eval-samples 10

Results go to ``benchmarks/results/fashion_reference.json`` (full runs only).
"""

from __future__ import annotations

import argparse
import os
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import vaebook  # noqa: E402,F401  (imports TensorFlow quietly)

# isort: split
import numpy as np  # noqa: E402
from common import save_results, save_weights  # noqa: E402

from vaebook import data, evaluate, losses, presets  # noqa: E402

CODE_SIZES = presets.FASHION_CODE_SIZES
AE_EPOCHS = presets.fashion_autoencoder(CODE_SIZES[0]).epochs
VAE_EPOCHS = presets.FASHION_VAE.epochs


def main() -> None:
    """Measures the reference numbers and prints them as a table."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--ae-epochs", type=int, default=AE_EPOCHS)
    parser.add_argument("--vae-epochs", type=int, default=VAE_EPOCHS)
    parser.add_argument("--eval-samples", type=int, default=5000)
    args = parser.parse_args()
    began = time.perf_counter()
    fashion = data.load_fashion_mnist()
    x_train, x_test = fashion.x_train, fashion.x_test

    pca_errors = presets.pca_test_errors(x_train, x_test, CODE_SIZES)
    rows = []
    print(f"{'code size':>9}  {'PCA':>7}  {'AE':>7}  {'AE / PCA':>8}")
    for size in CODE_SIZES:
        model, _ = presets.fashion_autoencoder(size).fit(x_train, epochs=args.ae_epochs, verbose=0)
        ae_error = evaluate.reconstruction_metrics(model, x_test)["squared_error"]
        pca_error = pca_errors[size]
        rows.append({"code_size": size, "pca": round(pca_error, 3), "ae": round(ae_error, 3)})
        print(f"{size:>9}  {pca_error:>7.2f}  {ae_error:>7.2f}  {ae_error / pca_error:>8.2f}")

    vae, history = presets.FASHION_VAE.fit(x_train, epochs=args.vae_epochs, log_every=10)
    start = time.perf_counter()
    bounds = evaluate.vae_bounds(vae, x_test, num_samples=args.eval_samples, seed=0)
    evaluation_seconds = time.perf_counter() - start
    floor = float(np.mean(losses.bernoulli_entropy(x_test).numpy()))
    active = evaluate.active_units(vae, x_test)
    print(
        f"VAE (d=20): -ELBO {bounds['negative_elbo']:.2f}, NLL (k={args.eval_samples}) "
        f"{bounds['nll']:.2f} nats per image; entropy floor {floor:.2f}; {active} active units; "
        f"evaluation {evaluation_seconds:.0f} s"
    )
    if args.eval_samples < 5000 or args.ae_epochs != AE_EPOCHS or args.vae_epochs != VAE_EPOCHS:
        print("(not saved: not the full run)")
        return
    save_weights(vae, "fashion_reference_vae")
    save_results(
        "fashion_reference",
        {
            "reconstruction": rows,
            "autoencoder_preset": "vaebook.presets.fashion_autoencoder(k)",
            "autoencoder": presets.fashion_autoencoder(20).description.replace("-20 ", "-k "),
            "vae": {
                "negative_elbo": round(bounds["negative_elbo"], 3),
                "nll": round(bounds["nll"], 3),
                "nll_samples": args.eval_samples,
                "entropy_floor": round(floor, 3),
                "active_units": active,
                "preset": "vaebook.presets.FASHION_VAE",
                "training": presets.FASHION_VAE.description,
                "training_seconds": round(sum(history.epoch_seconds), 1),
                "evaluation_seconds": round(evaluation_seconds, 1),
            },
        },
        time.perf_counter() - began,
    )


if __name__ == "__main__":
    main()
