"""Training speed of chapter 2's autoencoder, three ways, measured side by side in one run.

(a) the source notebook's loop: eager ``tf.GradientTape`` steps over a ``tf.data``
    pipeline (shuffle, batch, reshape), no ``tf.function``;
(b) ``vaebook.train.train``: an XLA-compiled step gathering batches on the device;
(c) Keras ``Model.fit`` with the same loss (``jit_compile="auto"``);
(d) where PyTorch is installed (it is not a dependency), the same model and loop in
    PyTorch, on the GPU if there is one.

Each runs the same model (784-256-128-64-20 and back, 487,588 parameters) on the full
Fashion-MNIST training set with batches of 512 and Adam(1e-3). The first epoch of each
(tracing, compilation, warm-up) is excluded; the rest are timed. The script also
measures the machine's float32 matrix-multiply rate and the fraction of it that each
loop reaches, counting 6 floating-point operations per weight per image for a training
step (2 forward, 4 backward).

Usage::

    python benchmarks/train_speed.py              # 1 warm-up + 3 timed epochs each
    python benchmarks/train_speed.py --save       # also write results/train_speed.json
"""

from __future__ import annotations

import argparse
import os
import platform
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import vaebook  # noqa: E402,F401  (imports TensorFlow quietly)

# isort: split
import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402
from common import save_results  # noqa: E402

from vaebook import data, losses, presets, train  # noqa: E402

# The chapter 2 set-up: its model and batch size.
SETUP = presets.FASHION_AUTOENCODER_LONG
BATCH_SIZE = SETUP.batch_size
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
    model = SETUP.build()
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
    model = SETUP.build()
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
    model = SETUP.build()
    model.compile(
        optimizer=keras.optimizers.Adam(1e-3),
        loss=lambda x, logits: losses.bernoulli_reconstruction_loss(x, logits),
    )
    timer = _EpochTimer()
    model.fit(
        x_train, x_train, batch_size=BATCH_SIZE, epochs=epochs + 1, verbose=0, callbacks=[timer]
    )
    return len(x_train) * epochs / sum(timer.seconds[1:])


def pytorch_loop(x_train: np.ndarray, epochs: int) -> float | None:
    """(d) The same model and loop in PyTorch, if it is installed; images per second.

    PyTorch is not a dependency of the course: without it this returns ``None``. The
    loop mirrors (b): data on the device once, batches gathered by index, Adam(1e-3),
    sigmoid cross-entropy summed over pixels and averaged over the batch, on the GPU
    when there is one.
    """
    try:
        import torch  # noqa: PLC0415  (optional)
    except ImportError:
        return None
    torch.manual_seed(0)
    device = "cuda" if torch.cuda.is_available() else "cpu"
    widths = [784, 256, 128, 64, 20, 64, 128, 256, 784]
    layers: list = []
    for index, (width_in, width_out) in enumerate(zip(widths, widths[1:])):
        layers.append(torch.nn.Linear(width_in, width_out))
        if index not in (3, len(widths) - 2):  # linear code and linear logits
            layers.append(torch.nn.ReLU())
    model = torch.nn.Sequential(*layers).to(device)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    x_all = torch.as_tensor(x_train.reshape(len(x_train), -1), device=device)
    generator = torch.Generator().manual_seed(0)
    timed_images, timed_seconds = 0, 0.0
    for epoch in range(epochs + 1):
        start = time.perf_counter()
        order = torch.randperm(len(x_train), generator=generator).to(device)
        for begin in range(0, len(x_train), BATCH_SIZE):
            x = x_all[order[begin : begin + BATCH_SIZE]]
            logits = model(x)
            loss = (
                torch.nn.functional.binary_cross_entropy_with_logits(logits, x, reduction="none")
                .sum(dim=1)
                .mean()
            )
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
        float(loss)
        if epoch > 0:
            timed_seconds += time.perf_counter() - start
            timed_images += len(x_train)
    return timed_images / timed_seconds


def main() -> None:
    """Runs the three loops and prints images per second and ratios."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--epochs", type=int, default=3, help="timed epochs per loop")
    parser.add_argument(
        "--save", action="store_true", help="write benchmarks/results/train_speed.json"
    )
    args = parser.parse_args()
    began = time.perf_counter()

    x_train = data.load_fashion_mnist().x_train
    rate = matmul_rate()
    flops_per_image = 6 * dense_weights(SETUP.build())
    results = {
        "eager GradientTape loop (source notebook)": eager_loop(x_train, args.epochs),
        "vaebook.train.train (XLA step)": vaebook_loop(x_train, args.epochs),
        "keras Model.fit": keras_fit(x_train, args.epochs),
    }
    names = list(results)
    torch_rate = pytorch_loop(x_train, args.epochs)
    if torch_rate is None:
        print("PyTorch is not installed: its loop is skipped (it is not a dependency).")
    else:
        results["PyTorch (same model and loop)"] = torch_rate
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
    vs_torch = None
    if torch_rate is not None:
        vs_torch = results[names[1]] / torch_rate
        print(f"vaebook / PyTorch:    {vs_torch:.2f}x")
    if args.save:
        save_results(
            "train_speed",
            {
                "images_per_second": results,
                "matmul_flops": rate,
                "flops_per_image": flops_per_image,
                "vaebook_over_eager": vs_eager,
                "vaebook_over_fit": vs_fit,
                "vaebook_over_pytorch": vs_torch,
                "timed_epochs": args.epochs,
            },
            time.perf_counter() - began,
        )


if __name__ == "__main__":
    main()
