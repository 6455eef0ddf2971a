"""Training speed of the convolutional VAE with and without XLA, side by side.

:func:`vaebook.runtime.use_xla` compiles convolutional models without XLA on a CPU
(``xla_on_cpu = False``). This script measures why: the same model, the same batches
of Fashion-MNIST and the same optimiser, trained in alternating turns with the block
compiled with XLA and without, and the dense VAE of chapter 5 for comparison. It prints
images per second and the ratios; a run of at least 3 turns saves
``benchmarks/results/conv_speed.json`` (replacing the saved one).

Usage::

    python benchmarks/conv_speed.py --steps 10 --turns 3  # as saved (about 3.5 min)
    python benchmarks/conv_speed.py            # 3 turns of 20 steps per loop; saved too
    python benchmarks/conv_speed.py --turns 1 --steps 5   # smoke; not saved
"""

from __future__ import annotations

import argparse
import os
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import vaebook  # noqa: E402,F401  (imports TensorFlow quietly)

# isort: split
import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402
from common import save_results  # noqa: E402

from vaebook import data, train  # noqa: E402
from vaebook.models import VAE, ConvVAE  # noqa: E402

BATCH = 128


def make_loop(model: keras.Model, jit_compile: bool):
    """A compiled block of training steps for ``model`` and its own optimiser."""
    return train.make_train_block(model, keras.optimizers.Adam(1e-3), jit_compile=jit_compile)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--turns", type=int, default=3)
    parser.add_argument("--steps", type=int, default=20, help="steps per timed block")
    args = parser.parse_args()
    start = time.perf_counter()

    x_all = tf.constant(data.load_fashion_mnist().x_train)
    rng = np.random.default_rng(0)
    loops = {
        "conv VAE (32, 64), no XLA": make_loop(ConvVAE(latent_dim=20, seed=0), False),
        "conv VAE (32, 64), XLA": make_loop(ConvVAE(latent_dim=20, seed=0), True),
        "dense VAE 784-512-256-20, XLA": make_loop(VAE(latent_dim=20, seed=0), True),
    }
    blocks = [
        tf.constant(rng.permutation(len(x_all))[: args.steps * BATCH].reshape(args.steps, BATCH))
        for _ in range(args.turns)
    ]
    compile_seconds, seconds = {}, {name: [] for name in loops}
    for name, loop in loops.items():
        begin = time.perf_counter()
        np.asarray(loop(x_all, blocks[0][:2])["loss"])  # compile (and two steps)
        compile_seconds[name] = time.perf_counter() - begin
        print(f"{name}: compiled and ran 2 steps in {compile_seconds[name]:.1f} s", flush=True)
    for turn, block in enumerate(blocks):
        for name, loop in loops.items():  # the loops take turns, so noise hits all alike
            begin = time.perf_counter()
            np.asarray(loop(x_all, block)["loss"])
            seconds[name].append(time.perf_counter() - begin)
        print(f"turn {turn + 1}: " + ", ".join(f"{s[-1]:.2f} s" for s in seconds.values()))

    images = args.steps * BATCH
    rates = {name: images / float(np.median(values)) for name, values in seconds.items()}
    for name, rate in rates.items():
        print(f"{name:32s} {rate:9.0f} images/s")
    no_xla, xla = rates["conv VAE (32, 64), no XLA"], rates["conv VAE (32, 64), XLA"]
    print(f"conv VAE: no XLA / XLA = {no_xla / xla:.1f}x")
    results = {
        "batch_size": BATCH,
        "steps_per_turn": args.steps,
        "turns": args.turns,
        "images_per_second": {name: round(rate, 1) for name, rate in rates.items()},
        "compile_and_two_steps_seconds": {k: round(v, 1) for k, v in compile_seconds.items()},
        "conv_no_xla_over_xla": round(no_xla / xla, 2),
    }
    if args.turns >= 3:
        save_results("conv_speed", results, time.perf_counter() - start)


if __name__ == "__main__":
    main()
