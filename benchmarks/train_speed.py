"""Training speed, measured side by side in one run: vaebook against the strongest baselines.

Workloads (each on the full training set, 60,000 images, Adam(1e-3)):

* **autoencoder**: chapter 2's model (``vaebook.presets.FASHION_AUTOENCODER_LONG``,
  784-256-128-64-20 and back, sigmoid cross-entropy summed over pixels) on
  Fashion-MNIST, at batch 512 (the chapter's) and at batch 100;
* **Burda VAE**: Burda et al.'s one-layer VAE (784-200-200-50 tanh, Bernoulli decoder)
  on dynamically binarised MNIST at batch 100, where per-call overhead matters most.

Loops compared on the autoencoder:

(a) the source notebook's loop: eager ``tf.GradientTape`` steps over ``tf.data``;
(b) ``vaebook.train.train`` with ``steps_per_call=1``: one compiled call per step (the
    package's loop before blocks of steps);
(c) ``vaebook.train.train``: blocks of steps inside one compiled XLA loop (the default);
(d) Keras ``Model.fit`` with ``jit_compile=True`` and ``steps_per_execution`` 1, 10
    and 100 (the best is the baseline);
(e) PyTorch eager, and (f) PyTorch with ``torch.compile``: the same model, batches
    gathered by index from a tensor made once; each in its own process (importing
    torch next to TensorFlow crashes here), with as many threads as TensorFlow uses.

The Burda VAE compares (b) and (c), each on dynamically binarised images (its training
protocol) and again on the grey levels, without the binarisation: the difference is
what the binarisation noise costs in each loop. Both draw it from one counter-based
stream, (b) once per step, (c) once per block, before the block's loop
(:func:`vaebook.rng.uniform_rows`).

**Fair timing.** All loops of a workload run at once, taking turns: each trains one
epoch, then waits while the others train one, so that machine noise hits them alike.
Round 0 (tracing, compilation, warm-up) is not timed; the median of the timed rounds is
reported as images per second, with the fraction of the machine's float32 matmul rate
it reaches (6 FLOPs per weight per image for a training step).

**PyTorch** is not a dependency of the course and never installed by CI. To include it,
install it in its own environment and name its Python::

    python -m venv /tmp/torch-venv && /tmp/torch-venv/bin/pip install numpy
    /tmp/torch-venv/bin/pip install torch --index-url https://download.pytorch.org/whl/cpu
    python benchmarks/train_speed.py --rounds 5 --torch-python /tmp/torch-venv/bin/python --save

(The CPU build is a few hundred MB; plain ``pip install torch`` takes the CUDA build, several
GB, which runs here just the same. The saved run's torch version is in its results.)
``torch.compile`` also needs a C++ compiler and the Python headers; without them row (f)
is reported as failed. Without PyTorch, or if it crashes, its rows are reported as
missing, with the reason: run without ``--torch-python``, ``--save`` would replace the
saved PyTorch figures with that.

Usage::

    python benchmarks/train_speed.py --rounds 5 --torch-python PYTHON --save  # ~10 min, 2 cores
    python benchmarks/train_speed.py --rounds 1          # a smoke run
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import vaebook  # noqa: E402,F401  (imports TensorFlow quietly)

# isort: split
import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402
from common import save_results  # noqa: E402

from vaebook import data, losses, presets, train  # noqa: E402
from vaebook.models import VAE  # noqa: E402

SETUP = presets.FASHION_AUTOENCODER_LONG  # chapter 2's model
TARGETS = {
    "vaebook / PyTorch eager": 1.2,
    "vaebook / best Keras fit": 1.0,
    "vaebook / one step per call (chapter 2 model, batch 512)": 1.0,
    "vaebook / one step per call (Burda VAE, batch 100)": 2.0,
}
WORKER = Path(__file__).resolve().parent / "torch_worker.py"
#: The Burda VAE's loops run a second time on the grey levels, to measure the draw.
NO_BINARISATION = "{}, grey levels (no binarisation)"


def matmul_rate(size: int = 2048, repeats: int = 10, trials: int = 5) -> float:
    """Float32 matrix-multiply rate of this machine in FLOP/s (compiled, warm).

    The best of ``trials`` timings: a peak rate, so that one trial slowed by another
    process does not inflate every loop's fraction of it.
    """
    a = tf.random.normal((size, size))
    b = tf.random.normal((size, size))
    multiply = tf.function(lambda a, b: tf.matmul(a, b))
    multiply(a, b).numpy()
    rates = []
    for _ in range(trials):
        start = time.perf_counter()
        for _ in range(repeats):
            result = multiply(a, b)
        result.numpy()
        rates.append(2 * size**3 * repeats / (time.perf_counter() - start))
    return max(rates)


def dense_weights(model: keras.Model) -> int:
    """Number of multiply-add weights (kernels only, biases excluded)."""
    return sum(int(np.prod(v.shape)) for v in model.trainable_variables if len(v.shape) == 2)


class Contestant:
    """A training loop run in its own thread, one epoch per turn.

    ``loop(pause)`` trains for ``epochs`` epochs and calls ``pause()`` after each; the
    thread then waits until :meth:`turn` is called again. Each epoch is timed from the
    moment its turn starts to its ``pause()``.
    """

    def __init__(self, name: str, loop: Callable[[Callable[[], None]], None], epochs: int):
        self.name = name
        self.seconds: list[float] = []
        self.error: str | None = None
        self._epochs = epochs
        self._go = threading.Semaphore(0)
        self._done = threading.Semaphore(0)
        self._started = 0.0

        def body() -> None:
            self._go.acquire()
            self._started = time.perf_counter()
            try:
                loop(self._pause)
            except Exception as error:  # noqa: BLE001 - reported in the table.
                self.error = f"{type(error).__name__}: {error}"
            if len(self.seconds) < self._epochs:
                self.error = self.error or "stopped early"
                self._done.release()

        threading.Thread(target=body, daemon=True).start()

    def _pause(self) -> None:
        self.seconds.append(time.perf_counter() - self._started)
        self._done.release()
        if len(self.seconds) < self._epochs:
            self._go.acquire()
            self._started = time.perf_counter()

    def turn(self) -> None:
        """Lets the loop train one epoch and waits for it."""
        if self.error is None and len(self.seconds) < self._epochs:
            self._go.release()
            self._done.acquire()

    def close(self) -> None:
        """Nothing to release for an in-process loop."""


class TorchContestant:
    """The PyTorch loop in its own process, one epoch per ``epoch`` command."""

    def __init__(self, name: str, python: str, images: Path, batch_size: int, compile_: bool):
        self.name = name
        self.seconds: list[float] = []
        self.error: str | None = None
        self.info: dict = {}
        command = [python, str(WORKER), str(images), "--batch-size", str(batch_size)]
        command += ["--threads", str(os.cpu_count())] + (["--compile"] if compile_ else [])
        env = {k: v for k, v in os.environ.items() if not k.startswith("TF_")}
        try:
            self.process = subprocess.Popen(
                command,
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.DEVNULL,
                text=True,
                env=env,
            )
        except OSError as error:
            self.process, self.error = None, f"could not start {python}: {error}"
            return
        self._read(first=True)

    def _read(self, first: bool = False) -> None:
        line = self.process.stdout.readline()
        if not line:
            self.error = f"the PyTorch process died (exit code {self.process.poll()})"
            return
        message = json.loads(line)
        if "error" in message:
            self.error = message["error"]
        elif first:
            self.info = message
        else:
            self.seconds.append(message["seconds"])

    def turn(self) -> None:
        """Asks the worker for one epoch and reads its time."""
        if self.error is None:
            try:
                self.process.stdin.write("epoch\n")
                self.process.stdin.flush()
            except BrokenPipeError:
                self.error = "the PyTorch process died"
                return
            self._read()

    def close(self) -> None:
        """Stops the worker."""
        if self.process is not None and self.process.poll() is None:
            try:
                self.process.stdin.write("quit\n")
                self.process.stdin.close()
            except BrokenPipeError:
                pass
            self.process.wait(timeout=60)


def vaebook_contestant(
    name: str, build: Callable[[], keras.Model], x: np.ndarray, epochs: int, **train_args
) -> Contestant:
    """``vaebook.train.train`` on a model from ``build()``."""

    def loop(pause: Callable[[], None]) -> None:
        model = build()
        train.train(
            model, x, epochs=epochs, verbose=0, callbacks=[lambda e, logs: pause()], **train_args
        )

    return Contestant(name, loop, epochs)


def eager_contestant(x: np.ndarray, batch_size: int, epochs: int) -> Contestant:
    """(a) The source notebook's loop."""

    def loop(pause: Callable[[], None]) -> None:
        model = SETUP.build()
        optimizer = keras.optimizers.Adam(1e-3)
        dataset = tf.data.Dataset.from_tensor_slices(x).shuffle(batch_size * 5).batch(batch_size)
        for _ in range(epochs):
            for batch in dataset:
                batch = tf.reshape(batch, [-1, 28, 28])
                with tf.GradientTape() as tape:
                    loss = tf.reduce_mean(
                        losses.bernoulli_reconstruction_loss(batch, model(batch, training=True))
                    )
                gradients = tape.gradient(loss, model.trainable_variables)
                optimizer.apply_gradients(zip(gradients, model.trainable_variables))
            float(loss)
            pause()

    return Contestant("(a) eager GradientTape loop (source notebook)", loop, epochs)


def keras_fit_contestant(
    x: np.ndarray, batch_size: int, epochs: int, steps_per_execution: int
) -> Contestant:
    """(d) Keras fit, XLA-compiled, with ``steps_per_execution`` steps per call."""

    class Pause(keras.callbacks.Callback):
        def __init__(self, pause: Callable[[], None]) -> None:
            super().__init__()
            self.pause = pause

        def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
            self.pause()

    def loop(pause: Callable[[], None]) -> None:
        model = SETUP.build()
        model.compile(
            optimizer=keras.optimizers.Adam(1e-3),
            loss=lambda x, logits: losses.bernoulli_reconstruction_loss(x, logits),
            jit_compile=True,
            steps_per_execution=steps_per_execution,
        )
        model.fit(x, x, batch_size=batch_size, epochs=epochs, verbose=0, callbacks=[Pause(pause)])

    name = f"(d) Keras fit, jit_compile, steps_per_execution={steps_per_execution}"
    return Contestant(name, loop, epochs)


def race(contestants: list, rounds: int) -> None:
    """Round 0 warms every loop up; then ``rounds`` timed rounds, in turn."""
    for round_index in range(rounds + 1):
        for contestant in contestants:
            contestant.turn()
        alive = [c.name for c in contestants if c.error is None]
        print(f"  round {round_index}/{rounds} done ({len(alive)} loops running)", flush=True)
    for contestant in contestants:
        contestant.close()


def summarise(contestants: list, images: int, flops_per_image: int, rate: float) -> dict:
    """Median images per second of the timed rounds, and the fraction of the matmul rate."""
    rows = {}
    for contestant in contestants:
        timed = contestant.seconds[1:]
        if contestant.error is not None or not timed:
            rows[contestant.name] = {"error": contestant.error or "no timed epoch"}
            continue
        per_second = images / float(np.median(timed))
        rows[contestant.name] = {
            "images_per_second": round(per_second, 1),
            "fraction_of_matmul_rate": round(per_second * flops_per_image / rate, 4),
            "epoch_seconds": [round(s, 3) for s in contestant.seconds],
        }
    return rows


def print_rows(title: str, rows: dict) -> None:
    """Prints one workload's table."""
    print(f"\n{title}")
    print(f"{'loop':<66}{'images/s':>10}{'of matmul':>11}")
    for name, row in rows.items():
        if "error" in row:
            print(f"{name:<66}{'-':>10}   ({row['error']})")
        else:
            rate = row["fraction_of_matmul_rate"]
            print(f"{name:<66}{row['images_per_second']:>10.0f}{rate:>10.1%}")


def rate_of(rows: dict, name: str) -> float | None:
    """Images per second of one loop, or None if it did not run."""
    return rows.get(name, {}).get("images_per_second")


def speed_ratio(rows: dict, faster: str, slower: str) -> float | None:
    """``faster``'s images per second over ``slower``'s; None if either did not run."""
    top, bottom = rate_of(rows, faster), rate_of(rows, slower)
    return top / bottom if top and bottom else None


def main() -> None:
    """Runs every workload and prints images per second, fractions and ratios."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=5, help="timed epochs per loop")
    parser.add_argument(
        "--torch-python",
        default=sys.executable,
        help="a Python that can import torch (default: this one)",
    )
    parser.add_argument("--save", action="store_true", help="write results/train_speed.json")
    args = parser.parse_args()
    began = time.perf_counter()
    epochs = args.rounds + 1
    fashion = data.load_fashion_mnist().x_train
    mnist = data.load_mnist().x_train
    rate = matmul_rate()
    print(f"float32 matmul rate (TensorFlow): {rate / 1e9:.0f} GFLOP/s")
    autoencoder_flops = 6 * dense_weights(SETUP.build())

    def burda_vae() -> keras.Model:
        train.set_seed(0)
        return VAE(latent_dim=50, encoder_units=(200, 200), activation="tanh", seed=0)

    burda_flops = 6 * dense_weights(burda_vae())
    workloads = {}
    torch_info = {}
    with tempfile.TemporaryDirectory() as folder:
        images = Path(folder) / "fashion.npy"
        np.save(images, fashion)
        for batch_size in (512, 100):
            title = f"autoencoder, batch {batch_size}"
            print(f"\n{title}: racing", flush=True)
            contestants = [
                eager_contestant(fashion, batch_size, epochs),
                vaebook_contestant(
                    "(b) vaebook, one step per call",
                    SETUP.build,
                    fashion,
                    epochs,
                    batch_size=batch_size,
                    steps_per_call=1,
                ),
                vaebook_contestant(
                    "(c) vaebook, blocks of steps (default)",
                    SETUP.build,
                    fashion,
                    epochs,
                    batch_size=batch_size,
                ),
                *(keras_fit_contestant(fashion, batch_size, epochs, s) for s in (1, 10, 100)),
                TorchContestant(
                    "(e) PyTorch eager", args.torch_python, images, batch_size, compile_=False
                ),
                TorchContestant(
                    "(f) PyTorch, torch.compile",
                    args.torch_python,
                    images,
                    batch_size,
                    compile_=True,
                ),
            ]
            for contestant in contestants:
                if isinstance(contestant, TorchContestant) and contestant.info:
                    torch_info = contestant.info
            race(contestants, args.rounds)
            workloads[title] = summarise(contestants, len(fashion), autoencoder_flops, rate)
            print_rows(title, workloads[title])

    title = "Burda VAE, batch 100"
    print(f"\n{title}: racing", flush=True)
    contestants = [
        vaebook_contestant(
            "(b) vaebook, one step per call",
            burda_vae,
            mnist,
            epochs,
            batch_size=100,
            binarize=True,
            steps_per_call=1,
        ),
        vaebook_contestant(
            "(c) vaebook, blocks of steps (default)",
            burda_vae,
            mnist,
            epochs,
            batch_size=100,
            binarize=True,
        ),
        # The same two loops on the grey levels, without the binarisation draw: the
        # difference is what drawing 100 x 784 uniform numbers per step costs (per
        # call in the first loop, per block in the second).
        vaebook_contestant(
            NO_BINARISATION.format("(b) vaebook, one step per call"),
            burda_vae,
            mnist,
            epochs,
            batch_size=100,
            steps_per_call=1,
        ),
        vaebook_contestant(
            NO_BINARISATION.format("(c) vaebook, blocks of steps (default)"),
            burda_vae,
            mnist,
            epochs,
            batch_size=100,
        ),
    ]
    race(contestants, args.rounds)
    workloads[title] = summarise(contestants, len(mnist), burda_flops, rate)
    print_rows(title, workloads[title])

    vaebook_name = "(c) vaebook, blocks of steps (default)"
    one_step = "(b) vaebook, one step per call"
    ratios = {}
    for batch_size in (512, 100):
        rows = workloads[f"autoencoder, batch {batch_size}"]
        ours = rate_of(rows, vaebook_name)
        fits = [
            r["images_per_second"] for n, r in rows.items() if "Keras fit" in n and "error" not in r
        ]
        torch_eager = rate_of(rows, "(e) PyTorch eager")
        torch_compiled = rate_of(rows, "(f) PyTorch, torch.compile")
        ratios[f"batch {batch_size}"] = {
            "vaebook / PyTorch eager": ours / torch_eager if torch_eager else None,
            "vaebook / PyTorch compiled": ours / torch_compiled if torch_compiled else None,
            "vaebook / best Keras fit": ours / max(fits) if fits else None,
            "vaebook / eager loop": ours
            / rate_of(rows, "(a) eager GradientTape loop (source notebook)"),
            "vaebook / one step per call": ours / rate_of(rows, one_step),
        }
    burda = workloads[title]
    ratios["Burda VAE, batch 100"] = {
        "vaebook / one step per call": speed_ratio(burda, vaebook_name, one_step),
        "vaebook / one step per call, without binarisation": speed_ratio(
            burda, NO_BINARISATION.format(vaebook_name), NO_BINARISATION.format(one_step)
        ),
        "vaebook without binarisation / vaebook": speed_ratio(
            burda, NO_BINARISATION.format(vaebook_name), vaebook_name
        ),
    }
    verdicts = {
        "vaebook / PyTorch eager": [
            ratios[b]["vaebook / PyTorch eager"] for b in ("batch 512", "batch 100")
        ],
        "vaebook / best Keras fit": [
            ratios[b]["vaebook / best Keras fit"] for b in ("batch 512", "batch 100")
        ],
        "vaebook / one step per call (chapter 2 model, batch 512)": [
            ratios["batch 512"]["vaebook / one step per call"]
        ],
        "vaebook / one step per call (Burda VAE, batch 100)": [
            ratios["Burda VAE, batch 100"]["vaebook / one step per call"]
        ],
    }
    print("\nratios, measured in this run (target in brackets):")
    met = {}
    for what, values in verdicts.items():
        target = TARGETS[what]
        known = [v for v in values if v is not None]
        met[what] = bool(known) and len(known) == len(values) and min(known) >= target
        shown = ", ".join("n/a" if v is None else f"{v:.2f}x" for v in values)
        print(f"  {what}: {shown} (>= {target}x: {'met' if met[what] else 'NOT met'})")
    if args.save:
        save_results(
            "train_speed",
            {
                "workloads": workloads,
                "ratios": ratios,
                "targets": TARGETS,
                "targets_met": met,
                "matmul_flops": rate,
                "flops_per_image": {"autoencoder": autoencoder_flops, "burda_vae": burda_flops},
                "pytorch": torch_info or None,
                "tensorflow_threads": os.cpu_count(),
                "timed_rounds": args.rounds,
            },
            time.perf_counter() - began,
        )


if __name__ == "__main__":
    main()
