"""Kingma, Rezende, Mohamed & Welling (2014): MNIST with 100 labels, M2 and M1+M2.

The paper's Table 1 reports test error rates on MNIST with 100 labelled training
images (10 per class) and the rest of the 60,000 unlabelled: M1 + TSVM 11.82 %, M2
11.97 % and the stacked M1+M2 3.33 % [1]. M2 treats the label as a latent variable
that is observed for the labelled images; M1+M2 trains M2 on the codes of a VAE (M1)
instead of on pixels. Chapter 8 measures M1, with a logistic regression and with label
spreading (a transductive classifier, like the paper's support vector machine); this
script trains the package's :class:`vaebook.models.SemiSupervisedVAE` as

* ``--model m2``: on the pixels (Bernoulli decoder on grey levels);
* ``--model m1m2``: on the codes of M1, ``vaebook.presets.KINGMA_M1_VAE`` (chapter 8's
  784-600-600-50 network, on images binarised afresh in every batch as the authors'
  ``gpulearn_z_x.py`` does, for 100 epochs), with a Gaussian decoder whose variance
  is learned per feature.

M1+M2 follows the authors' code (``learn_yz_x_ss.py``, ``run_2layer_ssl.py`` and
``gpulearn_z_x.py`` in their ``nips14-ssl`` repository; read for the set-up, nothing
copied) in the ways that matter. M1's inactive units are dropped: a unit is kept if
its posterior mean varies (standard deviation above 0.1 over the training images);
an inactive unit's mean is nearly constant, so a decoder that learns its variance
could drive that variance towards 0 and the loss towards minus infinity. And M2 sees a
fresh *sample* of M1's posterior ``q(z | x)`` each time it sees an image
(:func:`vaebook.train.train`'s ``input_sd``); the test images are classified from
their posterior means.

The labelled images are a seeded draw of 10 per class
(:func:`vaebook.few_labels.sample_labelled`). As in the authors' code, each is seen
once per epoch, like every other training image, and adds its classification loss
with the weight ``0.1 * N / N_labelled`` (the paper's alpha = 0.1 N, per labelled
example; here N = 60,000, so 60). Each of M2's networks has one hidden layer of
softplus units, 500 on pixels and 300 for M1+M2 (as ``run_2layer_ssl.py`` has for 100
labels), and the code has 50 numbers; the optimiser is Adam (3e-4, theirs too) with
batches of 200. M2 on pixels trains for 500 epochs (theirs: 3,000), M1+M2 for the
authors' 3,000 passes (300 steps per epoch here, 100 in theirs). The test error is
recorded every ``--curve-every`` epochs for the curve, and the reported error is that
of the **last** epoch (the test set chooses nothing).

What still differs from the authors' code:

* their M1 is 784-500-500-50, trained with batches of 1,000, Adam(3e-4) and weight
  decay on 50,000 images until its bound on 10,000 held-out images stopped improving
  (thousands of epochs);
* they train M2 on those 50,000 images (so their weight is 0.1 * 50,000 / 100 = 50),
  each step with 1 labelled and 499 unlabelled images, and choose M1's active units
  on 1,000 of the unlabelled ones;
* they put a standard normal prior on the weights of M2 and of its classifier, and
  their decoder's variance depends on the code and the label, not only on the feature.

Runs write a checkpoint after every epoch to ``benchmarks/checkpoints/kingma2014_*``
(committed, so a run can go on in another session) and resume from it; for ``m1m2``
that folder also holds M1's final checkpoint (``m1/``, 21 MB with Adam's moments).

Usage::

    python benchmarks/kingma2014.py --model m1m2          # 3,000 epochs (hours); resumes
    python benchmarks/kingma2014.py --model m2            # 500 epochs (3.9 h); resumes
    python benchmarks/kingma2014.py --model m1m2 --epochs 1 --m1-epochs 1   # smoke; not saved

Results go to ``benchmarks/results/kingma2014_<model>.json`` (full runs only).

[1] D. P. Kingma, D. J. Rezende, S. Mohamed and M. Welling. Semi-supervised learning
    with deep generative models. NeurIPS 2014, Table 1.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import vaebook  # noqa: E402,F401  (imports TensorFlow quietly)

# isort: split
import keras  # noqa: E402
import numpy as np  # noqa: E402
from common import CHECKPOINTS, add_point, save_results  # noqa: E402

from vaebook import data, downstream, evaluate, presets, train  # noqa: E402
from vaebook.models import SemiSupervisedVAE  # noqa: E402

PAPER = {"m1": 11.82, "m2": 11.97, "m1m2": 3.33}  # test error, %, 100 labels
LABELS_PER_CLASS = 10
BATCH = 200
LEARNING_RATE = 3e-4
DEFAULT_EPOCHS = {"m2": 500, "m1m2": 3000}
HIDDEN_UNITS = {"m2": 500, "m1m2": 300}  # one hidden layer in each of M2's networks
ACTIVE_SD = 0.1  # M1 units whose posterior means vary less than this are dropped.


def m1_features(mnist: data.Dataset, epochs: int, folder: Path | None) -> tuple:
    """Trains (or resumes) M1; returns its active units' posteriors.

    Returns:
        ``(train means, train standard deviations, test means)``, each with one
        column per active unit of M1.
    """
    model, _ = presets.KINGMA_M1_VAE.fit(
        mnist.x_train, epochs=epochs, verbose=1, log_every=10, checkpoint_dir=folder
    )

    def posterior(x: np.ndarray, part: int) -> np.ndarray:
        # part 0: the means, part 1: the log-variances; (len(x), 50).
        return evaluate.map_in_batches(lambda batch: model.encode(batch)[part], x)

    train_mean, train_log_var = posterior(mnist.x_train, 0), posterior(mnist.x_train, 1)
    test_mean = posterior(mnist.x_test, 0)
    active = train_mean.std(axis=0) > ACTIVE_SD
    print(f"M1: {active.sum()} of {active.size} units active (kept)")
    train_sd = np.exp(0.5 * train_log_var[:, active])
    return train_mean[:, active], train_sd, test_mean[:, active]


def main() -> None:
    """Trains M2 or M1+M2 with 100 labels and reports the test error."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", choices=("m2", "m1m2"), default="m1m2")
    parser.add_argument("--epochs", type=int, default=None)
    parser.add_argument("--m1-epochs", type=int, default=presets.KINGMA_M1_VAE.epochs)
    parser.add_argument("--curve-every", type=int, default=5)
    parser.add_argument("--draw", type=int, default=0, help="seed of the labelled draw")
    args = parser.parse_args()
    epochs = args.epochs or DEFAULT_EPOCHS[args.model]
    full = (
        epochs == DEFAULT_EPOCHS[args.model]
        and args.m1_epochs == presets.KINGMA_M1_VAE.epochs
        and args.draw == 0
    )
    began = time.perf_counter()
    mnist = data.load_mnist()
    folder = CHECKPOINTS / f"kingma2014_{args.model}"
    if not full:  # a smoke run leaves nothing behind
        folder = Path(tempfile.mkdtemp(prefix=f"kingma2014_{args.model}_smoke_"))
    folder.mkdir(parents=True, exist_ok=True)

    if args.model == "m1m2":
        # M1's final checkpoint is committed with M2's, so that a run resumed on another
        # machine trains M2 on the very same features.
        x_train, x_train_sd, x_test = m1_features(mnist, args.m1_epochs, folder / "m1")
        shape, likelihood = (x_train.shape[1],), "gaussian"
    else:
        x_train, x_train_sd, x_test = mnist.x_train, None, mnist.x_test
        shape, likelihood = mnist.x_train.shape[1:], "bernoulli"

    labelled = downstream.sample_labelled(mnist.y_train, LABELS_PER_CLASS, seed=args.draw)
    y = np.full(len(x_train), -1)  # (60000,): -1 marks an unlabelled image
    y[labelled] = mnist.y_train[labelled]
    weight = 0.1 * len(x_train) / len(labelled)
    print(
        f"{args.model}: {len(labelled)} labelled, {len(x_train) - len(labelled)} "
        f"unlabelled; classification weight {weight:g}"
    )

    train.set_seed(0)
    model = SemiSupervisedVAE(
        num_classes=10,
        latent_dim=50,
        encoder_units=(HIDDEN_UNITS[args.model],),
        classifier_units=(HIDDEN_UNITS[args.model],),
        classification_weight=weight,
        image_shape=shape,
        likelihood=likelihood,
        seed=0,
    )
    curve_path = folder / "curve.json"
    curve = json.loads(curve_path.read_text(encoding="utf-8")) if curve_path.is_file() else []

    def test_error() -> float:
        predicted = evaluate.map_in_batches(model.predict_labels, x_test)
        return float(100 * np.mean(predicted != mnist.y_test))

    def record(epoch: int, logs: dict[str, float]) -> None:
        if epoch % args.curve_every == 0 or epoch == epochs:
            error = test_error()
            add_point(
                curve,
                {
                    "epoch": epoch,
                    "test_error": round(error, 3),
                    "loss": round(float(logs["loss"]), 3),
                },
                curve_path,
            )
            print(f"  epoch {epoch}: test error {error:.2f} %", flush=True)

    history = train.train(
        model,
        x_train,
        y_train=y,
        input_sd=x_train_sd,
        epochs=epochs,
        batch_size=BATCH,
        optimizer=keras.optimizers.Adam(LEARNING_RATE),
        seed=0,
        log_every=5,
        callbacks=[record],
        checkpoint_dir=folder / "m2",
    )
    error = test_error()
    paper = PAPER[args.model]
    print(
        f"{args.model}, {epochs} epochs: test error {error:.2f} % (paper {paper} %; target "
        f"{'met' if error <= paper else 'NOT met'})"
    )
    if not full:
        print("(not saved: a smoke run)")
        return
    save_results(
        f"kingma2014_{args.model}",
        {
            "model": args.model,
            "test_error": round(error, 3),
            "paper_test_error": paper,
            "labels": len(labelled),
            "labelled_draw_seed": args.draw,
            "epochs": epochs,
            "m1": presets.KINGMA_M1_VAE.description if args.model == "m1m2" else None,
            "m1_active_units": shape[0] if args.model == "m1m2" else None,
            "training": (
                f"SemiSupervisedVAE with one hidden layer of {HIDDEN_UNITS[args.model]} "
                "softplus units in each network and a 50-number code; a "
                f"{likelihood} decoder of "
                + (
                    f"M1's {shape[0]} active units, with a fresh sample of M1's "
                    "posterior each time an image is seen"
                    if args.model == "m1m2"
                    else "the pixels' grey levels"
                )
                + "; each labelled image seen once per epoch, its classification loss "
                f"weighted {weight:g}; Adam({LEARNING_RATE:g}), batches of {BATCH}, "
                f"{epochs} epochs, seed 0; the error after the last epoch is reported"
            ),
            "training_seconds": round(sum(history.epoch_seconds), 1),
            "test_error_by_epoch": curve,
        },
        time.perf_counter() - began,
    )


if __name__ == "__main__":
    main()
