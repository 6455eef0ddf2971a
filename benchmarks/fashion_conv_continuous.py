"""Chapter 6's convolutional VAE under the continuous Bernoulli likelihood.

Chapter 6 compares its convolutional VAE with chapter 5's dense one under the grey-level
Bernoulli "likelihood" (a cross-entropy, not a density). Chapter 5 also trains the dense
VAE with a continuous Bernoulli decoder, a proper density on [0, 1]; this script trains
``vaebook.presets.FASHION_CONV_VAE_CONTINUOUS`` (the convolutional VAE with that decoder,
the same 50 epochs and batches) and measures its test negative ELBO and its negative
log-likelihood with 1,000 importance samples per image, as chapter 5 does for the dense
model. The Results page sets the two side by side.

Most of the time is the evaluation: 1,000 decoder passes per test image through a
convolutional decoder (39 of the 72 minutes measured). Training writes a checkpoint
after every epoch (``benchmarks/weights/fashion_conv_vae_continuous_checkpoint/``) and a
rerun resumes from it.

Usage::

    python benchmarks/fashion_conv_continuous.py   # 72 min on 2 CPU cores, shared with other jobs
    python benchmarks/fashion_conv_continuous.py --epochs 1 --eval-samples 10   # a trial

Results go to ``benchmarks/results/fashion_conv_continuous.json`` (full runs only).
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import vaebook  # noqa: E402,F401  (imports TensorFlow quietly)

# isort: split
from common import WEIGHTS, save_results  # noqa: E402

from vaebook import data, evaluate, presets  # noqa: E402

EXPERIMENT = presets.FASHION_CONV_VAE_CONTINUOUS
#: Importance samples per test image: chapter 5's number for the dense model.
EVAL_SAMPLES = 1000


def main() -> None:
    """Trains the model (resuming a cut-off run), measures it and saves the result."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--epochs", type=int, default=EXPERIMENT.epochs)
    parser.add_argument("--eval-samples", type=int, default=EVAL_SAMPLES)
    args = parser.parse_args()
    full = args.epochs == EXPERIMENT.epochs and args.eval_samples == EVAL_SAMPLES
    began = time.perf_counter()
    fashion = data.load_fashion_mnist()
    folder = WEIGHTS / f"{EXPERIMENT.name}_checkpoint" if full else Path(tempfile.mkdtemp())
    model, history = EXPERIMENT.fit(
        fashion.x_train, epochs=args.epochs, log_every=5, checkpoint_dir=folder
    )
    start = time.perf_counter()
    bounds = evaluate.vae_bounds(model, fashion.x_test, num_samples=args.eval_samples, seed=0)
    evaluation_seconds = time.perf_counter() - start
    active = evaluate.active_units(model, fashion.x_test)
    print(
        f"conv VAE, continuous Bernoulli: -ELBO {bounds['negative_elbo']:.2f}, "
        f"NLL (k={args.eval_samples}) {bounds['nll']:.2f} nats per image; "
        f"{active} active units; evaluation {evaluation_seconds:.0f} s"
    )
    if not full:
        print("(not saved: not the full run)")
        return
    save_results(
        "fashion_conv_continuous",
        {
            "preset": f"vaebook.presets.{EXPERIMENT.name.upper()}",
            "training": EXPERIMENT.description,
            "parameters": model.count_params(),
            "negative_elbo": round(bounds["negative_elbo"], 3),
            "nll": round(bounds["nll"], 3),
            "nll_samples": args.eval_samples,
            "active_units": active,
            "epochs": len(history.epoch_seconds),
            "training_seconds": round(sum(history.epoch_seconds), 1),
            "evaluation_seconds": round(evaluation_seconds, 1),
        },
        time.perf_counter() - began,
    )


if __name__ == "__main__":
    main()
