"""Burda, Grosse & Salakhutdinov (2015), Table 1: VAE and IWAE on binarised MNIST.

One stochastic layer, 784-200-200-50 encoder with tanh units and its mirror as a
Bernoulli decoder, trained on dynamically binarised MNIST; the test negative
log-likelihood is estimated with 5,000 importance samples [1]. The paper reports
86.76 nats for the VAE (k = 1) and 84.78 for the IWAE trained with k = 50.

The schedule is the paper's (``--schedule paper``, the default): 3,280 passes over the
training set in 8 stages, stage i lasting 3^i epochs at learning rate
0.001 * 10^(-i/7), Adam with epsilon 1e-4. ``--schedule exponential --epochs N`` is the
shorter schedule of earlier runs (the learning rate decayed exponentially from 0.001
to 0.0001 over N epochs). Differences from the paper, recorded in the saved results:

* batches of 100 images instead of 20 (five times fewer steps per epoch on a CPU);
  ``--batch-size 20`` trains with the paper's batches instead, under its own name
  (``..._b20``: checkpoints, weights and results), beside the batch-100 run;
* the test set is binarised once, with seed 0, and every model is scored on that copy.

The authors' code (github.com/yburda/iwae, read for this note, not used) differs from
the paper's text in ways that may matter for the last half nat: its Adam has
beta_1 = 0.99 (the paper says 0.9) and starts its second-moment estimates at 1 rather
than 0; the decoder's output biases start at the log-odds of the training images' mean
pixel values; it trains on 59,600 images (400 held out) in a fixed order, binarised
afresh in every batch; every layer's weights are drawn from a Glorot-uniform generator
with the same seed; and the test images are binarised afresh as they are scored. By
default this script follows the paper's text; ``--recipe authors`` also takes the
authors' beta_1 and output biases (under its own name, ``..._authors``), and none of
the rest.

Training is checkpointed after every epoch in ``benchmarks/checkpoints/`` (committed:
a few MiB); running the same command again resumes where it stopped, so a long run can
span sessions and machines. Every
``--curve-every`` epochs, and at the end of each stage, the test NLL is estimated with
``--curve-samples`` importance samples and kept beside the checkpoint: the learning
curve that the Results page plots. Results go to
``benchmarks/results/burda2015_<objective>_k<k>[_b<batch>][_authors].json`` once the
schedule is complete. ``--stages S`` ends the paper's schedule after its first S stages
(the IWAE, at about 50 s per epoch here, cannot afford all 3,280 epochs in one go): the
run is saved as a result that says so, and the same command with a larger S resumes
from its checkpoint and carries on along the same schedule.

Usage::

    python benchmarks/burda2015.py --objective elbo --k 1              # 3,280 epochs
    python benchmarks/burda2015.py --objective iwae --k 50
    python benchmarks/burda2015.py --objective iwae --k 50 --stages 5 --curve-every 20
    python benchmarks/burda2015.py --objective elbo --k 1 --batch-size 20  # paper's batches
    python benchmarks/burda2015.py --objective elbo --k 1 --batch-size 20 --recipe authors
    python benchmarks/burda2015.py --objective iwae --k 5 --epochs 2 --eval-samples 100  # smoke

[1] Y. Burda, R. Grosse and R. Salakhutdinov. Importance weighted autoencoders.
    arXiv:1509.00519, 2015 (published at ICLR 2016).
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
from common import CHECKPOINTS, add_point, save_results, save_weights  # noqa: E402

from vaebook import data, evaluate, train  # noqa: E402
from vaebook.models import VAE  # noqa: E402

PAPER = {("elbo", 1): 86.76, ("iwae", 50): 84.78, ("elbo", 50): 86.35, ("iwae", 5): 85.54}
BATCH = 100
STAGES = 8  # stage i: 3^i epochs at learning rate 1e-3 * 10^(-i/7)
PAPER_EPOCHS = sum(3**i for i in range(STAGES))  # 3,280


def paper_schedule(steps_per_epoch: int) -> keras.optimizers.schedules.LearningRateSchedule:
    """The paper's stages as a step-wise learning-rate schedule."""
    ends = np.cumsum([3**i for i in range(STAGES)])  # last epoch of each stage
    boundaries = [int(end * steps_per_epoch) for end in ends[:-1]]
    values = [1e-3 * 10 ** (-i / 7) for i in range(STAGES)]
    return keras.optimizers.schedules.PiecewiseConstantDecay(boundaries, values)


def stage_ends() -> set[int]:
    """The epochs at which a stage of the paper's schedule ends."""
    return {int(end) for end in np.cumsum([3**i for i in range(STAGES)])}


def main() -> None:
    """Trains one model, estimates its test NLL and prints it against the paper."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--objective", choices=("elbo", "iwae"), default="elbo")
    parser.add_argument("--k", type=int, default=1, help="samples per image in training")
    parser.add_argument("--schedule", choices=("paper", "exponential"), default="paper")
    parser.add_argument("--epochs", type=int, default=None, help="default: the schedule's")
    parser.add_argument(
        "--stages",
        type=int,
        default=STAGES,
        help=f"with --schedule paper: train its first STAGES of {STAGES} stages (default all)",
    )
    parser.add_argument("--eval-samples", type=int, default=5000)
    parser.add_argument("--curve-samples", type=int, default=200)
    parser.add_argument("--curve-every", type=int, default=200)
    parser.add_argument(
        "--batch-size", type=int, default=BATCH, help=f"default {BATCH}; the paper's is 20"
    )
    parser.add_argument(
        "--recipe",
        choices=("paper", "authors"),
        default="paper",
        help="'authors': also two settings of the authors' code (Adam beta_1 = 0.99, and "
        "the decoder's output biases started at the training images' log-odds)",
    )
    args = parser.parse_args()
    if args.batch_size < 1:
        parser.error(f"--batch-size must be a positive integer, got {args.batch_size}")
    if not 1 <= args.stages <= STAGES:
        parser.error(f"--stages must be between 1 and {STAGES}, got {args.stages}")
    if args.stages != STAGES and (args.schedule != "paper" or args.epochs):
        parser.error("--stages goes with --schedule paper and without --epochs")
    began = time.perf_counter()
    # The first --stages stages of the paper's schedule end after this many epochs.
    stage_epochs = sum(3**i for i in range(args.stages))
    epochs = args.epochs or (stage_epochs if args.schedule == "paper" else 300)
    name = f"burda2015_{args.objective}_k{args.k}"
    if args.batch_size != BATCH:  # another run, kept beside the batch-100 one
        name += f"_b{args.batch_size}"
    if args.recipe == "authors":
        name += "_authors"
    # A paper-schedule run is saved when it ends at the end of a stage: all 8, or the
    # first --stages of them (a run to be continued later with a larger --stages).
    complete = args.schedule != "paper" or epochs == stage_epochs
    smoke = args.eval_samples < 5000 or not complete

    mnist = data.load_mnist()
    x_test = data.binarize(mnist.x_test, seed=0)
    train.set_seed(0)
    model = VAE(
        latent_dim=50,
        encoder_units=(200, 200),
        activation="tanh",
        num_samples=args.k,
        objective=args.objective,
        seed=0,
    )
    steps_per_epoch = -(-len(mnist.x_train) // args.batch_size)
    if args.schedule == "paper":
        schedule = paper_schedule(steps_per_epoch)
    else:
        steps = epochs * steps_per_epoch
        schedule = keras.optimizers.schedules.ExponentialDecay(1e-3, steps, decay_rate=0.1)
    beta_1 = 0.99 if args.recipe == "authors" else 0.9
    optimizer = keras.optimizers.Adam(schedule, beta_1=beta_1, epsilon=1e-4)
    adam = f"Adam(beta_1={beta_1}, epsilon=1e-4)" if beta_1 != 0.9 else "Adam(epsilon=1e-4)"
    if args.recipe == "authors":
        # The authors' code starts the decoder's output biases at the log-odds of the
        # training images' mean pixel values, clipped to [0.001, 0.999]. (A resumed run
        # takes its weights from the checkpoint instead.)
        mean = np.clip(mnist.x_train.reshape(len(mnist.x_train), -1).mean(axis=0), 1e-3, 0.999)
        output = [layer for layer in model.decoder.layers if isinstance(layer, keras.layers.Dense)]
        output[-1].bias.assign(np.log(mean / (1 - mean)).astype("float32"))
        adam += ", decoder output biases started at the training images' log-odds"
    checkpointed = args.eval_samples >= 5000
    # Checkpoints of long runs are kept in the repository (a few MiB), so that a run
    # can go on in another session, on another machine.
    folder = CHECKPOINTS / f"{name}_{args.schedule}"
    if not checkpointed:  # a smoke run leaves nothing behind
        folder = Path(tempfile.mkdtemp(prefix=f"{name}_smoke_"))
    folder.mkdir(parents=True, exist_ok=True)
    curve_path = folder / "curve.json"
    curve = json.loads(curve_path.read_text(encoding="utf-8")) if curve_path.is_file() else []
    marks = stage_ends() if args.schedule == "paper" else set()

    def record(epoch: int, logs: dict[str, float]) -> None:
        if epoch % args.curve_every == 0 or epoch in marks or epoch == epochs:
            nll = evaluate.vae_bounds(model, x_test, num_samples=args.curve_samples, seed=1)
            add_point(
                curve,
                {"epoch": epoch, "nll": round(nll["nll"], 3), "train_loss": round(logs["loss"], 3)},
                curve_path,
            )
            print(
                f"  epoch {epoch}: test NLL (k={args.curve_samples}) {nll['nll']:.2f}", flush=True
            )

    history = train.train(
        model,
        mnist.x_train,
        epochs=epochs,
        batch_size=args.batch_size,
        optimizer=optimizer,
        binarize=True,
        seed=0,
        log_every=10,
        callbacks=[record],
        checkpoint_dir=folder if checkpointed else None,
    )
    evaluation_start = time.perf_counter()
    bounds = evaluate.vae_bounds(model, x_test, num_samples=args.eval_samples, seed=0)
    evaluation_seconds = time.perf_counter() - evaluation_start
    elbo = evaluate.vae_bounds(model, x_test, num_samples=1, seed=1)["negative_elbo"]
    active = evaluate.active_units(model, x_test)
    paper = PAPER.get((args.objective, args.k))
    ratio = bounds["nll"] / paper if paper else None
    print(
        f"{args.objective.upper()} k={args.k}, {epochs} epochs: test NLL "
        f"(k={args.eval_samples}) {bounds['nll']:.2f} nats, -ELBO {elbo:.2f}, "
        f"{active} active units; paper {paper}"
        + (
            f", ratio {ratio:.4f} (target <= 1: {'met' if ratio <= 1 else 'NOT met'})"
            if paper
            else ""
        )
    )
    print(f"evaluation: {evaluation_seconds:.0f} s for 10,000 x {args.eval_samples} samples")
    if smoke:
        print("(not saved: a smoke run or an incomplete schedule)")
        return
    if args.schedule == "paper":
        stages = (
            f"the paper's schedule: {epochs:,} epochs in {STAGES} stages"
            if args.stages == STAGES
            else f"the paper's schedule cut short: its first {args.stages} of {STAGES} stages, "
            f"{epochs:,} of its {PAPER_EPOCHS:,} epochs, in stages"
        )
        training = (
            f"{stages} of 3^i epochs at "
            f"learning rate 1e-3 * 10^(-i/7); batch {args.batch_size} (paper: 20), "
            f"{adam}, dynamic binarisation, seed 0"
        )
    else:
        training = (
            f"{epochs} epochs, batch {args.batch_size}, {adam}, learning rate 1e-3 "
            "decayed exponentially to 1e-4, dynamic binarisation, seed 0"
        )
    save_weights(model, name)
    save_results(
        name,
        {
            "objective": args.objective,
            "k": args.k,
            "paper_nll": paper,
            "nll": round(bounds["nll"], 3),
            "nll_samples": args.eval_samples,
            "negative_elbo": round(elbo, 3),
            "active_units": active,
            "ratio_to_paper": round(ratio, 4) if ratio else None,
            "epochs": epochs,
            "schedule": args.schedule,
            "stages": args.stages if args.schedule == "paper" else None,
            "batch_size": args.batch_size,
            "recipe": args.recipe,
            "training": training,
            "architecture": "784-200-200-50 tanh Gaussian encoder, mirrored Bernoulli decoder",
            "parameters": model.count_params(),
            "training_seconds": round(sum(history.epoch_seconds), 1),
            "evaluation_seconds": round(evaluation_seconds, 1),
            "final_train_loss": round(history.last("loss"), 3),
            "curve_samples": args.curve_samples,
            "test_nll_by_epoch": curve,
        },
        time.perf_counter() - began,
    )


if __name__ == "__main__":
    main()
