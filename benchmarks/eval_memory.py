"""Time and memory of the importance-sampled evaluation: 10,000 images x 5,000 samples.

Runs :func:`vaebook.evaluate.vae_bounds` on the full Fashion-MNIST test set with the
chapter-5 architecture (784-512-256-20 and back) and ``num_samples=5000``, in chunks of
at most ``--max-decodes`` decoder evaluations, and reports the wall time, the decoder
throughput and the growth of the process's resident memory during the evaluation
(sampled every 20 ms), against the stated budget. The model is freshly initialised:
time and memory do not depend on the weights.

Usage::

    python benchmarks/eval_memory.py --save                # full size, saved to results/
    python benchmarks/eval_memory.py --images 1000 --samples 500   # a quick look
"""

from __future__ import annotations

import argparse
import os
import threading
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import vaebook  # noqa: E402,F401  (imports TensorFlow quietly)

# isort: split
from common import save_results  # noqa: E402

from vaebook import data, evaluate, presets  # noqa: E402

BUDGET_MIB = 2048  # Stated budget for the evaluation's extra peak memory.


def rss_mib() -> float:
    """Current resident memory of this process, in MiB (from /proc, Linux)."""
    with open("/proc/self/status", encoding="ascii") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    raise RuntimeError("VmRSS not found in /proc/self/status")


class PeakSampler:
    """Samples the resident memory every 20 ms in a thread and keeps the maximum."""

    def __init__(self) -> None:
        self.peak = rss_mib()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.wait(0.02):
            self.peak = max(self.peak, rss_mib())

    def __enter__(self) -> PeakSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, rss_mib())


def main() -> None:
    """Runs the evaluation once and prints time, throughput and memory."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--images", type=int, default=10_000)
    parser.add_argument("--samples", type=int, default=5_000)
    parser.add_argument("--max-decodes", type=int, default=50_000)
    parser.add_argument(
        "--save", action="store_true", help="write benchmarks/results/eval_memory.json"
    )
    args = parser.parse_args()
    began = time.perf_counter()

    x_test = data.load_fashion_mnist().x_test[: args.images]
    model = presets.FASHION_VAE.build()  # chapter 5's reference VAE, untrained
    # Warm up (tracing and XLA compilation) on a small problem of the same chunk shape.
    evaluate.vae_bounds(model, x_test[:100], num_samples=10, max_decodes=args.max_decodes)
    before = rss_mib()
    with PeakSampler() as sampler:
        start = time.perf_counter()
        bounds = evaluate.vae_bounds(
            model, x_test, num_samples=args.samples, max_decodes=args.max_decodes
        )
        seconds = time.perf_counter() - start
    growth = sampler.peak - before
    decodes = args.images * args.samples
    print(f"{args.images:,} images x {args.samples:,} samples = {decodes:,} decoder evaluations")
    print(f"chunks of at most {args.max_decodes:,} decodes")
    print(f"time: {seconds:.0f} s ({decodes / seconds:,.0f} decodes/s)")
    print(f"resident memory before: {before:.0f} MiB; peak growth during it: {growth:.0f} MiB")
    print(f"budget: {BUDGET_MIB} MiB -> {'within' if growth <= BUDGET_MIB else 'OVER'}")
    print(f"negative ELBO {bounds['negative_elbo']:.2f}, NLL {bounds['nll']:.2f} (untrained)")
    if args.save:
        save_results(
            "eval_memory",
            {
                "images": args.images,
                "samples": args.samples,
                "max_decodes": args.max_decodes,
                "evaluation_seconds": round(seconds, 1),
                "rss_before_mib": round(before, 1),
                "peak_rss_growth_mib": round(growth, 1),
                "budget_mib": BUDGET_MIB,
            },
            time.perf_counter() - began,
        )


if __name__ == "__main__":
    main()
