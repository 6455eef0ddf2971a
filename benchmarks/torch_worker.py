"""PyTorch side of ``train_speed.py``: one model, trained one epoch per command.

Run by ``train_speed.py`` in its own process, never imported beside TensorFlow
(importing torch after TensorFlow crashes in one process on this machine). It reads the
training images from a ``.npy`` file, builds the same dense autoencoder as the course
(784-256-128-64-20 and back, ReLU, linear code and logits), and then answers commands
on standard input, one line each:

* ``epoch``: trains one epoch (Adam(1e-3), sigmoid cross-entropy summed over pixels and
  averaged over the batch, batches gathered by index from a tensor made once) and
  prints its wall-clock seconds;
* ``quit``: exits.

Its first line of output describes the set-up (PyTorch version, threads, whether
``torch.compile`` is on, the matmul rate), as JSON; an error is printed as JSON with
an ``"error"`` key, so that the parent reports it instead of failing.

Usage (by ``train_speed.py``)::

    python benchmarks/torch_worker.py IMAGES.npy --batch-size 512 --threads 2 [--compile]
"""

from __future__ import annotations

import argparse
import json
import sys
import time

WIDTHS = (784, 256, 128, 64, 20, 64, 128, 256, 784)


def build(torch):
    """The course's dense autoencoder as a ``torch.nn.Sequential``."""
    layers = []
    for index, (width_in, width_out) in enumerate(zip(WIDTHS, WIDTHS[1:])):
        layers.append(torch.nn.Linear(width_in, width_out))
        if index not in (3, len(WIDTHS) - 2):  # a linear code and linear logits
            layers.append(torch.nn.ReLU())
    return torch.nn.Sequential(*layers)


def matmul_rate(torch, size: int = 2048, repeats: int = 20) -> float:
    """Float32 matrix-multiply rate in FLOP/s, as PyTorch reaches it."""
    a = torch.randn(size, size)
    b = torch.randn(size, size)
    torch.mm(a, b)
    start = time.perf_counter()
    for _ in range(repeats):
        torch.mm(a, b)
    return 2 * size**3 * repeats / (time.perf_counter() - start)


def main() -> None:
    """Loads the data, builds the model and serves ``epoch`` commands."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("images")
    parser.add_argument("--batch-size", type=int, required=True)
    parser.add_argument("--threads", type=int, required=True)
    parser.add_argument("--compile", action="store_true")
    args = parser.parse_args()
    try:
        import numpy as np
        import torch
    except ImportError as error:
        print(json.dumps({"error": f"PyTorch is not installed here ({error})"}), flush=True)
        return
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    x_all = torch.as_tensor(np.load(args.images).reshape(-1, 784))
    model = build(torch)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)

    if args.compile:
        try:
            model = torch.compile(model)  # the usual way: the model's forward compiled
        except Exception as error:  # noqa: BLE001 - reported, not fatal.
            print(json.dumps({"error": f"torch.compile failed: {error}"}), flush=True)
            return

    def step(x):
        logits = model(x)
        loss = (
            torch.nn.functional.binary_cross_entropy_with_logits(logits, x, reduction="none")
            .sum(dim=1)
            .mean()
        )
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        return loss

    print(
        json.dumps(
            {
                "torch": torch.__version__,
                "threads": torch.get_num_threads(),
                "compile": args.compile,
                "matmul_flops": matmul_rate(torch),
            }
        ),
        flush=True,
    )
    generator = torch.Generator().manual_seed(0)
    for command in sys.stdin:
        if command.strip() != "epoch":
            break
        try:
            start = time.perf_counter()
            order = torch.randperm(len(x_all), generator=generator)
            for begin in range(0, len(x_all), args.batch_size):
                loss = step(x_all[order[begin : begin + args.batch_size]])
            float(loss)
            print(json.dumps({"seconds": time.perf_counter() - start}), flush=True)
        except Exception as error:  # noqa: BLE001 - reported, not fatal.
            print(json.dumps({"error": f"{type(error).__name__}: {error}"}), flush=True)
            return


if __name__ == "__main__":
    main()
