"""Checkpoints: exact resumption, and refusals that name what is wrong before training."""

import json
import re

import keras
import numpy as np
import pytest

from vaebook import train
from vaebook.checkpoint import (
    CHECKPOINT_FILE,
    CheckpointMismatchError,
    check_checkpoint_dir,
    load_checkpoint,
    save_checkpoint,
)
from vaebook.models import VAE, Autoencoder

# Tiny runs: no XLA compilation, a few steps on random images in [0, 1].
QUICK = {"batch_size": 32, "verbose": 0, "jit_compile": False}


@pytest.fixture(scope="module")
def x_tiny():
    return np.random.default_rng(0).random((64, 28, 28)).astype(np.float32)


@pytest.fixture
def counted_steps(monkeypatch):
    """Counts the training steps that :func:`vaebook.train.train` runs (in blocks)."""
    calls = []
    real = train.make_train_block

    def make_counted_block(*args, **kwargs):
        block = real(*args, **kwargs)

        def counted(x_all, indices, y_all=None):
            calls.extend([1] * int(indices.shape[0]))  # one entry per step of the block
            return block(x_all, indices, y_all)

        counted.noise = block.noise
        return counted

    monkeypatch.setattr(train, "make_train_block", make_counted_block)
    return calls


def autoencoder(**kwargs):
    keras.utils.set_random_seed(0)
    return Autoencoder(**({"latent_dim": 2, "encoder_units": (8,)} | kwargs))


def vae(**kwargs):
    keras.utils.set_random_seed(0)
    return VAE(**({"latent_dim": 2, "encoder_units": (8,), "seed": 0} | kwargs))


def weights_of(model):
    return [keras.ops.convert_to_numpy(v) for v in model.variables]


# --- Exact resumption ------------------------------------------------------------------


@pytest.mark.slow
def test_resumed_run_ends_with_the_same_weights_as_an_uninterrupted_one(fashion, tmp_path):
    x_train = fashion.x_train[:1024]

    def fresh():
        train.set_seed(5)
        return VAE(latent_dim=3, encoder_units=(32,), seed=5)

    # The compiled (XLA) path with dynamic binarisation: shuffling order, model noise,
    # binarisation noise and optimiser state must all be restored.
    arguments = {"batch_size": 200, "verbose": 0, "binarize": True, "seed": 9}
    straight = fresh()
    straight_history = train.train(straight, x_train, epochs=4, **arguments)

    interrupted = fresh()
    train.train(interrupted, x_train, epochs=2, checkpoint_dir=tmp_path, **arguments)
    resumed = fresh()  # A new process would start from a new model, as here.
    resumed_history = train.train(resumed, x_train, epochs=4, checkpoint_dir=tmp_path, **arguments)

    assert resumed_history.epochs == 4
    assert resumed_history.history["loss"] == straight_history.history["loss"]
    for a, b in zip(straight.variables, resumed.variables):
        np.testing.assert_array_equal(a.numpy(), b.numpy())
    # Written to a temporary name and renamed: nothing else is left in the folder.
    assert sorted(path.name for path in tmp_path.iterdir()) == [CHECKPOINT_FILE]


def test_a_run_cut_off_in_a_callback_repeats_that_epoch_when_it_resumes(x_tiny, tmp_path):
    class CutOffError(Exception):
        pass

    seen = []

    def cut_off_at_epoch_2(epoch, logs):
        seen.append(epoch)
        if epoch == 2 and seen.count(2) == 1:
            raise CutOffError  # As if the session ended during the callback's work.

    straight = autoencoder()
    train.train(straight, x_tiny, epochs=3, **QUICK)
    interrupted = autoencoder()
    with pytest.raises(CutOffError):
        train.train(
            interrupted,
            x_tiny,
            epochs=3,
            checkpoint_dir=tmp_path,
            callbacks=[cut_off_at_epoch_2],
            **QUICK,
        )
    resumed = autoencoder()
    history = train.train(
        resumed, x_tiny, epochs=3, checkpoint_dir=tmp_path, callbacks=[cut_off_at_epoch_2], **QUICK
    )
    # Epoch 2 was not checkpointed, so it runs again, and its callback with it.
    assert seen == [1, 2, 2, 3]
    assert history.epochs == 3
    for a, b in zip(weights_of(straight), weights_of(resumed)):
        np.testing.assert_array_equal(a, b)


def test_save_and_load_round_trip_every_state(x_tiny, tmp_path):
    model = autoencoder()
    optimizer = keras.optimizers.Adam(1e-2)
    history = train.train(model, x_tiny, epochs=1, optimizer=optimizer, **QUICK)
    noise = keras.random.SeedGenerator(3)
    noise.next()
    rng = np.random.default_rng(4)
    rng.random(5)
    path = save_checkpoint(tmp_path, model, optimizer, noise, rng.bit_generator.state, history)
    assert path == tmp_path / CHECKPOINT_FILE

    other = autoencoder(name="a_new_name")  # Names do not define a run.
    other_optimizer = keras.optimizers.Adam(1e-2)
    other_optimizer.build(other.trainable_variables)
    other_noise = keras.random.SeedGenerator(99)
    state, rng_state = load_checkpoint(path, other, other_optimizer, other_noise)
    for a, b in zip(weights_of(model), weights_of(other)):
        np.testing.assert_array_equal(a, b)
    for a, b in zip(optimizer.variables, other_optimizer.variables):
        np.testing.assert_array_equal(a.numpy(), b.numpy())
    np.testing.assert_array_equal(noise.state.numpy(), other_noise.state.numpy())
    assert rng_state == rng.bit_generator.state
    assert state["epoch"] == 1 and state["history"] == history.history


# --- Refusing another run's checkpoint -------------------------------------------------


def first_then_second(first, second, tmp_path, x, first_options=None, second_options=None):
    """Trains ``first`` for one epoch, then tries to resume with ``second``."""
    train.train(first, x, epochs=1, checkpoint_dir=tmp_path, **(first_options or {}), **QUICK)
    saved = (tmp_path / CHECKPOINT_FILE).read_bytes()
    before = weights_of(second)
    with pytest.raises(CheckpointMismatchError) as error:
        train.train(second, x, epochs=2, checkpoint_dir=tmp_path, **(second_options or {}), **QUICK)
    # Nothing was restored and nothing was overwritten.
    for a, b in zip(before, weights_of(second)):
        np.testing.assert_array_equal(a, b)
    assert (tmp_path / CHECKPOINT_FILE).read_bytes() == saved
    message = str(error.value)
    assert str(tmp_path / CHECKPOINT_FILE) in message
    assert "'optimizer_" not in message and "'model_" not in message  # no KeyError text
    return message


@pytest.mark.parametrize(
    ("first", "second", "expected"),
    [
        (lambda: vae(beta=1.0), lambda: vae(beta=4.0), "model beta: checkpoint 1.0, now 4.0"),
        (
            lambda: vae(objective="elbo"),
            lambda: vae(objective="iwae"),
            "model objective: checkpoint 'elbo', now 'iwae'",
        ),
        (
            lambda: autoencoder(activation="relu"),
            lambda: autoencoder(activation="tanh"),
            "model activation: checkpoint 'relu', now 'tanh'",
        ),
        (
            lambda: autoencoder(latent_dim=2),
            lambda: autoencoder(latent_dim=3),
            "model latent_dim: checkpoint 2, now 3",
        ),
        (
            lambda: autoencoder(),
            lambda: vae(),
            "model: checkpoint 'Autoencoder', now 'VAE'",
        ),
    ],
    ids=["beta", "objective", "activation", "latent_dim", "class"],
)
def test_another_model_is_refused_naming_the_difference(first, second, expected, x_tiny, tmp_path):
    message = first_then_second(first(), second(), tmp_path, x_tiny)
    assert expected in message


@pytest.mark.parametrize(
    ("first_optimizer", "second_optimizer", "expected"),
    [
        # SGD keeps 2 variables and Adam 18 here: no mismatch may surface as a KeyError.
        (keras.optimizers.Adam, keras.optimizers.SGD, "optimizer: checkpoint 'Adam', now 'SGD'"),
        (keras.optimizers.SGD, keras.optimizers.Adam, "optimizer: checkpoint 'SGD', now 'Adam'"),
    ],
    ids=["adam-then-sgd", "sgd-then-adam"],
)
def test_another_optimiser_class_is_refused(
    first_optimizer, second_optimizer, expected, x_tiny, tmp_path
):
    message = first_then_second(
        autoencoder(),
        autoencoder(),
        tmp_path,
        x_tiny,
        {"optimizer": first_optimizer(1e-3)},
        {"optimizer": second_optimizer(1e-3)},
    )
    assert expected in message


def test_another_learning_rate_is_refused(x_tiny, tmp_path):
    message = first_then_second(
        autoencoder(),
        autoencoder(),
        tmp_path,
        x_tiny,
        {"learning_rate": 1e-3},
        {"learning_rate": 2e-3},
    )
    differences = message.split("Differences: ")[1].split(". Use another")[0].split("; ")
    assert len(differences) == 1, differences  # Only the learning rate differs.
    assert re.fullmatch(
        r"optimizer learning_rate: checkpoint 0\.001\d*, now 0\.002\d*", differences[0]
    )


def test_every_difference_is_listed(x_tiny, tmp_path):
    message = first_then_second(
        vae(beta=1.0, activation="relu"),
        vae(beta=2.0, activation="tanh"),
        tmp_path,
        x_tiny,
        {"learning_rate": 1e-3},
        {"learning_rate": 3e-3},
    )
    for name in ("model beta", "model activation", "optimizer learning_rate"):
        assert name in message, message


# --- Damaged files and unusable folders ------------------------------------------------


@pytest.mark.parametrize(
    "damage",
    [lambda content: content[: len(content) // 2], lambda content: b"garbage", lambda _: b""],
    ids=["truncated", "garbage", "empty"],
)
def test_a_damaged_checkpoint_is_reported_with_its_path(damage, x_tiny, tmp_path, counted_steps):
    train.train(autoencoder(), x_tiny, epochs=1, checkpoint_dir=tmp_path, **QUICK)
    path = tmp_path / CHECKPOINT_FILE
    path.write_bytes(damage(path.read_bytes()))
    counted_steps.clear()
    with pytest.raises(ValueError, match=re.escape(str(path))) as error:
        train.train(autoencoder(), x_tiny, epochs=2, checkpoint_dir=tmp_path, **QUICK)
    assert not isinstance(error.value, CheckpointMismatchError)
    assert "truncated or damaged" in str(error.value)
    assert counted_steps == []


@pytest.mark.parametrize("below", [False, True], ids=["the-folder", "a-parent"])
def test_a_checkpoint_dir_that_is_a_file_is_refused_before_training(
    below, x_tiny, tmp_path, counted_steps
):
    a_file = tmp_path / "not_a_folder"
    a_file.write_text("something else")
    checkpoint_dir = a_file / "run" if below else a_file
    epochs_seen = []
    with pytest.raises(ValueError, match=f"{re.escape(str(a_file))} is a file, not a folder"):
        train.train(
            autoencoder(),
            x_tiny,
            epochs=3,
            checkpoint_dir=checkpoint_dir,
            callbacks=[lambda epoch, logs: epochs_seen.append(epoch)],
            **QUICK,
        )
    assert epochs_seen == [] and counted_steps == []
    assert a_file.read_text() == "something else"


def test_check_checkpoint_dir_accepts_new_and_existing_folders(tmp_path):
    assert check_checkpoint_dir(tmp_path) == tmp_path
    assert check_checkpoint_dir(str(tmp_path / "new" / "deeper")) == tmp_path / "new" / "deeper"
    assert not (tmp_path / "new").exists()  # Checking creates nothing.


# --- How many epochs -------------------------------------------------------------------


def test_fewer_epochs_than_the_checkpoint_holds_is_refused(x_tiny, tmp_path, counted_steps):
    train.train(autoencoder(), x_tiny, epochs=2, checkpoint_dir=tmp_path, **QUICK)
    saved = (tmp_path / CHECKPOINT_FILE).read_bytes()
    counted_steps.clear()
    fresh = autoencoder()
    before = weights_of(fresh)
    with pytest.raises(ValueError, match=r"holds a run of 2 epochs.*epochs=1"):
        train.train(fresh, x_tiny, epochs=1, checkpoint_dir=tmp_path, **QUICK)
    assert counted_steps == []
    assert (tmp_path / CHECKPOINT_FILE).read_bytes() == saved
    # Refused before anything was restored: the model passed in is untouched.
    for a, b in zip(before, weights_of(fresh)):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize(
    "change, expected",
    [
        ({"batch_size": 16}, "batch_size: checkpoint 32, now 16"),
        ({"seed": 1}, "seed: checkpoint 0, now 1"),
        ({"binarize": True}, "binarize: checkpoint False, now True"),
    ],
)
def test_other_run_settings_are_refused(change, expected, x_tiny, tmp_path):
    train.train(autoencoder(), x_tiny, epochs=1, checkpoint_dir=tmp_path, **QUICK)
    settings = QUICK | change
    with pytest.raises(CheckpointMismatchError, match=re.escape(expected)):
        train.train(autoencoder(), x_tiny, epochs=2, checkpoint_dir=tmp_path, **settings)


def test_a_run_saved_before_the_binarisation_stream_is_refused_unless_finished(x_tiny, tmp_path):
    arguments = QUICK | {"binarize": True}
    train.train(autoencoder(), x_tiny, epochs=1, checkpoint_dir=tmp_path, **arguments)
    # Rewrite the checkpoint as the code before the row stream wrote it: no entry.
    path = tmp_path / CHECKPOINT_FILE
    with np.load(path) as stored:
        arrays = {name: stored[name] for name in stored.files}
    state = json.loads(str(arrays["state"]))
    del state["settings"]["binarisation_noise"]
    arrays["state"] = np.array(json.dumps(state))
    np.savez(path, **arrays)
    with pytest.raises(CheckpointMismatchError, match="binarisation_noise"):
        train.train(autoencoder(), x_tiny, epochs=2, checkpoint_dir=tmp_path, **arguments)
    # Finished (as many epochs as asked for), it loads: no noise is drawn any more.
    history = train.train(autoencoder(), x_tiny, epochs=1, checkpoint_dir=tmp_path, **arguments)
    assert history.epochs == 1


def test_other_training_data_size_is_refused(x_tiny, tmp_path):
    train.train(autoencoder(), x_tiny, epochs=1, checkpoint_dir=tmp_path, **QUICK)
    with pytest.raises(CheckpointMismatchError, match="num_examples: checkpoint 64, now 48"):
        train.train(autoencoder(), x_tiny[:48], epochs=2, checkpoint_dir=tmp_path, **QUICK)


def test_as_many_epochs_as_the_checkpoint_holds_returns_its_history(
    x_tiny, tmp_path, counted_steps
):
    first = autoencoder()
    done = train.train(first, x_tiny, epochs=2, checkpoint_dir=tmp_path, **QUICK)
    assert len(counted_steps) == 2 * 2  # 64 images in batches of 32, two epochs
    counted_steps.clear()
    epochs_seen = []
    again = autoencoder(activation="relu")
    history = train.train(
        again,
        x_tiny,
        epochs=2,
        checkpoint_dir=tmp_path,
        callbacks=[lambda epoch, logs: epochs_seen.append(epoch)],
        **QUICK,
    )
    assert counted_steps == [] and epochs_seen == []
    assert history.history == done.history and history.epochs == 2
    assert history.epoch_seconds == done.epoch_seconds
    for a, b in zip(weights_of(first), weights_of(again)):
        np.testing.assert_array_equal(a, b)
