"""Training speed of chapter 2's autoencoder, three ways, measured side by side in one run.

(a) the source notebook's loop: eager ``tf.GradientTape`` steps over a ``tf.data``
    pipeline (shuffle, batch, reshape), no ``tf.function``;
(b) ``vaebook.train.train``: an XLA-compiled step gathering batches on the device;
(c) Keras ``Model.fit`` with the same loss (``jit_compile="auto"``).

Each runs the same model (784-256-128-64-20 and back, 487,588 parameters) on the full
Fashion-MNIST training set with batches of 512 and Adam(1e-3). The first epoch of each
(tracing, compilation, warm-up) is excluded; the rest are timed. The script also
measures the machine's float32 matrix-multiply rate and the fraction of it that each
loop reaches, counting 6 floating-point operations per weight per image for a training
step (2 forward, 4 backward).

Usage::

    python benchmarks/train_speed.py              # 1 warm-up + 3 timed epochs each
    python benchmarks/train_speed.py --epochs 5 --json results.json
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import vaebook  # noqa: E402,F401  (imports TensorFlow quietly)

# isort: split
import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

from vaebook import data, losses, train  # noqa: E402
from vaebook.models import Autoencoder  # noqa: E402

BATCH_SIZE = 512
TARGET_VS_EAGER = 3.0  # vaebook should be at least this many times faster than (a).
TARGET_VS_FIT = 1.0  # ... and no slower than (c).


def matmul_rate(size: int = 2048, repeats: int = 20) -> float:
    """Float32 matrix-multiply rate of this machine in FLOP/s (compiled, warm)."""
    a = tf.random.normal((size, size))
    b = tf.random.normal((size, size))
    multiply = tf.function(lambda a, b: tf.matmul(a, b))
    multiply(a, b).numpy()
    start = time.perf_counter()
    for _ in range(repeats):
        result = multiply(a, b)
    result.numpy()
    return 2 * size**3 * repeats / (time.perf_counter() - start)


def dense_weights(model: keras.Model) -> int:
    """Number of multiply-add weights (kernels only, biases excluded)."""
    return sum(int(np.prod(v.shape)) for v in model.trainable_variables if len(v.shape) == 2)


def eager_loop(x_train: np.ndarray, epochs: int) -> float:
    """(a) The source notebook's loop; returns timed images per second."""
    train.set_seed(0)
    model = Autoencoder()
    optimizer = keras.optimizers.Adam(1e-3)
    dataset = tf.data.Dataset.from_tensor_slices(x_train).shuffle(BATCH_SIZE * 5).batch(BATCH_SIZE)
    timed_images, timed_seconds = 0, 0.0
    for epoch in range(epochs + 1):
        start = time.perf_counter()
        for x in dataset:
            x = tf.reshape(x, [-1, 28, 28])
            with tf.GradientTape() as tape:
                logits = model(x)
                loss = tf.reduce_mean(losses.bernoulli_reconstruction_loss(x, logits))
            gradients = tape.gradient(loss, model.trainable_variables)
            optimizer.apply_gradients(zip(gradients, model.trainable_variables))
        float(loss)
        if epoch > 0:
            timed_seconds += time.perf_counter() - start
            timed_images += len(x_train)
    return timed_images / timed_seconds


def vaebook_loop(x_train: np.ndarray, epochs: int) -> float:
    """(b) vaebook.train.train; returns timed images per second."""
    train.set_seed(0)
    model = Autoencoder()
    history = train.train(model, x_train, epochs=epochs + 1, batch_size=BATCH_SIZE, verbose=0)
    return len(x_train) * epochs / sum(history.epoch_seconds[1:])


class _EpochTimer(keras.callbacks.Callback):
    def __init__(self) -> None:
        super().__init__()
        self.seconds: list[float] = []

    def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None:
        self._start = time.perf_counter()

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        self.seconds.append(time.perf_counter() - self._start)


def keras_fit(x_train: np.ndarray, epochs: int) -> float:
    """(c) Keras fit with the same per-image loss; returns timed images per second."""
    train.set_seed(0)
    model = Autoencoder()
    model.compile(
        optimizer=keras.optimizers.Adam(1e-3),
        loss=lambda x, logits: losses.bernoulli_reconstruction_loss(x, logits),
    )
    timer = _EpochTimer()
    model.fit(
        x_train, x_train, batch_size=BATCH_SIZE, epochs=epochs + 1, verbose=0, callbacks=[timer]
    )
    return len(x_train) * epochs / sum(timer.seconds[1:])


def main() -> None:
    """Runs the three loops and prints images per second and ratios."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--epochs", type=int, default=3, help="timed epochs per loop")
    parser.add_argument("--json", help="also write the results to this JSON file")
    args = parser.parse_args()

    x_train = data.load_fashion_mnist().x_train
    rate = matmul_rate()
    flops_per_image = 6 * dense_weights(Autoencoder())
    results = {
        "eager GradientTape loop (source notebook)": eager_loop(x_train, args.epochs),
        "vaebook.train.train (XLA step)": vaebook_loop(x_train, args.epochs),
        "keras Model.fit": keras_fit(x_train, args.epochs),
    }
    names = list(results)
    print(
        f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
        f"TensorFlow {tf.__version__}, GPU: {bool(tf.config.list_physical_devices('GPU'))}"
    )
    print(f"float32 matmul rate: {rate / 1e9:.0f} GFLOP/s")
    print(f"{'loop':<44}{'images/s':>10}{'of matmul rate':>16}")
    for name, images_per_second in results.items():
        fraction = images_per_second * flops_per_image / rate
        print(f"{name:<44}{images_per_second:>10.0f}{fraction:>15.1%}")
    vs_eager = results[names[1]] / results[names[0]]
    vs_fit = results[names[1]] / results[names[2]]
    print(
        f"vaebook / eager loop: {vs_eager:.2f}x (target >= {TARGET_VS_EAGER:.0f}x: "
        f"{'met' if vs_eager >= TARGET_VS_EAGER else 'NOT met'})"
    )
    print(
        f"vaebook / keras fit:  {vs_fit:.2f}x (target >= {TARGET_VS_FIT:.0f}x: "
        f"{'met' if vs_fit >= TARGET_VS_FIT else 'NOT met'})"
    )
    if args.json:
        with open(args.json, "w", encoding="utf-8") as handle:
            json.dump(
                {
                    "images_per_second": results,
                    "matmul_flops": rate,
                    "flops_per_image": flops_per_image,
                    "vaebook_over_eager": vs_eager,
                    "vaebook_over_fit": vs_fit,
                    "timed_epochs": args.epochs,
                    "date": time.strftime("%Y-%m-%d"),
                },
                handle,
                indent=2,
            )


if __name__ == "__main__":
    main()
