import json

import keras
import numpy as np
import pytest
import tensorflow as tf

from vaebook import evaluate, rng, train
from vaebook.checks import Trainable
from vaebook.models import VAE, Autoencoder, SemiSupervisedVAE


@pytest.fixture(scope="module")
def small_fashion(fashion):
    # A tiny slice of the real data: enough to see learning in seconds.
    return fashion.x_train[:1024], fashion.x_test[:256]


def test_training_lowers_train_and_test_loss(small_fashion):
    x_train, x_test = small_fashion
    train.set_seed(0)
    model = Autoencoder(latent_dim=8, encoder_units=(64,))
    history = train.train(model, x_train, epochs=5, batch_size=128, x_val=x_test, verbose=0)
    assert history.epochs == 5
    assert history.last("loss") < 0.8 * history.history["loss"][0]
    assert history.last("val_loss") < history.history["val_loss"][0]
    assert all(rate > 0 for rate in history.examples_per_second)


def test_same_seed_gives_identical_losses(small_fashion):
    x_train, _ = small_fashion

    def run():
        train.set_seed(3)
        model = Autoencoder(latent_dim=4, encoder_units=(32,))
        return train.train(model, x_train, epochs=2, batch_size=256, verbose=0).history["loss"]

    assert run() == run()


def test_epoch_mean_weights_the_last_smaller_batch(small_fashion, numpy_reference):
    x_train, _ = small_fashion
    # With a learning rate of zero the weights never move, so the epoch mean must equal
    # the loss of the whole training set, even though 1000 = 3 * 300 + 100.
    model = Autoencoder(latent_dim=4, encoder_units=(16,))
    optimizer = keras.optimizers.SGD(learning_rate=0.0)
    history = train.train(
        model, x_train[:1000], epochs=1, batch_size=300, optimizer=optimizer, verbose=0
    )
    full = evaluate.evaluate_losses(model, x_train[:1000])
    np.testing.assert_allclose(history.last("loss"), full["loss"], rtol=1e-5)
    # And that loss is the mean cross-entropy, computed here in float64 from the logits.
    cross_entropy = numpy_reference["cross_entropy"](x_train[:1000], model(x_train[:1000]))
    np.testing.assert_allclose(history.last("loss"), cross_entropy.mean(), rtol=1e-5)


def test_callbacks_see_every_epoch(small_fashion):
    x_train, _ = small_fashion
    seen = []
    model = Autoencoder(latent_dim=2, encoder_units=(8,))
    train.train(
        model,
        x_train[:256],
        epochs=3,
        batch_size=128,
        verbose=0,
        callbacks=[lambda e, logs: seen.append((e, sorted(logs)))],
    )
    assert [epoch for epoch, _ in seen] == [1, 2, 3]
    assert seen[0][1] == ["loss", "reconstruction_loss"]


class Exploding(keras.Model):
    """A model whose loss overflows to infinity after its first update."""

    def __init__(self):
        super().__init__()
        self.w = self.add_weight(shape=(), initializer="ones")

    def per_example_losses(self, x, training=False):
        per_example = tf.exp(self.w * 100.0) * tf.reduce_sum(x, axis=[1, 2])
        return {"loss": per_example}


def test_divergence_stops_with_a_message_naming_epoch_and_step():
    x = np.ones((64, 28, 28), np.float32)
    model = Exploding()
    with pytest.raises(train.TrainingDivergedError, match=r"at step \d+ of epoch 1"):
        train.train(model, x, epochs=3, batch_size=16, learning_rate=10.0, verbose=0)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"epochs": 0}, "epochs must be a positive integer"),
        ({"epochs": 2.5}, "epochs must be a positive integer"),
        ({"batch_size": 0}, "batch_size must be a positive integer"),
        ({"batch_size": True}, "batch_size must be a positive integer"),
        ({"learning_rate": -1.0}, "learning_rate must be a finite number > 0"),
        ({"learning_rate": float("nan")}, "learning_rate must be a finite number > 0"),
        ({"seed": -1}, "seed must be an integer >= 0"),
        ({"log_every": 0}, "log_every must be a positive integer"),
    ],
)
def test_bad_arguments_are_rejected(kwargs, message):
    model = Autoencoder(latent_dim=2, encoder_units=(8,))
    arguments = {"epochs": 1} | kwargs
    with pytest.raises(ValueError, match=message):
        train.train(model, np.zeros((8, 28, 28), np.float32), verbose=0, **arguments)


@pytest.mark.parametrize(
    ("x", "message"),
    [
        (np.zeros((8, 28, 28), np.uint8), "dtype uint8"),
        (np.full((8, 28, 28), np.nan, np.float32), "NaN"),
        (np.full((8, 28, 28), 255.0, np.float32), r"expected values in \[0, 1\]"),
    ],
)
def test_bad_training_data_is_rejected(x, message):
    model = Autoencoder(latent_dim=2, encoder_units=(8,))
    with pytest.raises(ValueError, match=message):
        train.train(model, x, epochs=1, verbose=0)


def test_model_without_losses_is_rejected():
    assert isinstance(Autoencoder(latent_dim=2, encoder_units=(8,)), Trainable)
    assert not isinstance(keras.Sequential([keras.layers.Dense(1)]), Trainable)
    with pytest.raises(TypeError, match="per_example_losses"):
        train.train(
            keras.Sequential([keras.layers.Dense(1)]), np.zeros((4, 2), np.float32), epochs=1
        )


def test_quick_mode(monkeypatch):
    monkeypatch.setenv(train.QUICK_ENV_VAR, "1")
    assert train.is_quick() and train.epochs_for(100, quick=3) == 3
    monkeypatch.setenv(train.QUICK_ENV_VAR, "0")
    assert not train.is_quick() and train.epochs_for(100, quick=3) == 100
    with pytest.raises(ValueError, match="full must be a positive integer"):
        train.epochs_for(0)
    with pytest.raises(ValueError, match="quick must be a positive integer"):
        train.epochs_for(10, quick=1.5)


def test_set_seed_rejects_negative():
    with pytest.raises(ValueError, match="seed must be an integer >= 0"):
        train.set_seed(-1)
    with pytest.raises(ValueError, match="seed must be an integer >= 0"):
        train.set_seed(1.5)


def test_dynamic_binarisation_feeds_fresh_binary_batches():
    model = OnesCounter()
    step = train.make_train_step(model, keras.optimizers.SGD(0.0), binarize=True, seed=1)
    x_all = tf.fill((4, 28, 28), 0.3)
    counts = [float(step(x_all, tf.constant([0, 1, 2, 3]))["loss"]) for _ in range(3)]
    # Binary pixels: each image's count is an integer, so the batch mean is k / 4; about
    # 0.3 * 784 = 235.2 pixels are on (standard deviation of the mean about 6.4).
    assert all(count * 4 == round(count * 4) for count in counts), counts
    assert all(abs(count - 235.2) < 30 for count in counts), counts
    assert len(set(counts)) > 1, counts  # Fresh draws at every step.


class OnesCounter(keras.Model):
    """Its 'loss' is the number of pixels that are on in each image."""

    def __init__(self):
        super().__init__()
        self.w = self.add_weight(shape=(), initializer="zeros")

    def per_example_losses(self, x, training=False):
        return {"loss": tf.reduce_sum(x, axis=[1, 2]) + 0.0 * self.w}


@pytest.mark.parametrize("builder", ["block", "step"])
@pytest.mark.parametrize("jit_compile", [False, True])
def test_the_ith_image_binarised_gets_row_i_of_the_noise_stream(jit_compile, builder):
    """Checked against the binarisation written by hand from :func:`rng.uniform_rows`."""
    intensities = np.linspace(0.1, 0.9, 6, dtype=np.float32)
    x_all = tf.constant(np.broadcast_to(intensities[:, None, None], (6, 28, 28)).copy())
    make = train.make_train_block if builder == "block" else train.make_train_step
    step = make(
        OnesCounter(), keras.optimizers.SGD(0.0), jit_compile=jit_compile, binarize=True, seed=4
    )
    indices = np.array([[5, 0, 3], [1, 1, 4], [5, 0, 3]], np.int32)  # three batches
    if builder == "block":
        first = step(x_all, tf.constant(indices[:2]))["loss"].numpy()  # rows 0-5
        second = step(x_all, tf.constant(indices[2:]))["loss"].numpy()  # rows 6-8
        means = np.concatenate([first, second])
    else:
        means = np.array([float(step(x_all, tf.constant(row))["loss"]) for row in indices])
    # The counter is an argument, as in training, where it is read from a variable: a
    # draw of constants only could be folded at compile time, with uncompiled numbers.
    draw = tf.function(
        lambda first_row: rng.uniform_rows(rng.row_key(4), first_row, 9, 784),
        jit_compile=jit_compile,
    )
    rows = draw(tf.constant(0, tf.int64)).numpy()  # (9, 784): a row per image drawn
    ones = (rows < intensities[indices.ravel()][:, None]).sum(axis=1).astype(np.float32)
    # Batch means of counts: one pixel more or less would change one by 1/3.
    np.testing.assert_allclose(means, ones.reshape(3, 3).mean(1), rtol=1e-6)
    assert int(step.noise.state[1]) == 9  # the count of images drawn, kept by checkpoints


@pytest.mark.parametrize("make", [train.make_train_block, train.make_train_step])
def test_binarisation_and_gaussian_input_noise_are_refused_together(make):
    step = make(SquareSum(), keras.optimizers.SGD(0.0), binarize=True)
    x_all = tf.zeros((4, 28, 28))
    indices = tf.constant([[0, 1]] if make is train.make_train_block else [0, 1])
    with pytest.raises(ValueError, match="binarize and input_sd cannot be combined"):
        step(x_all, indices, None, tf.ones((4, 28, 28)))


class SquareSum(keras.Model):
    """Its 'loss' is each input's sum of squares, so the log shows E[x^2]."""

    inputs_in_unit_interval = False  # a model of real-valued features

    def __init__(self):
        super().__init__()
        self.w = self.add_weight(shape=(), initializer="zeros")

    def per_example_losses(self, x, training=False):
        return {"loss": tf.reduce_sum(tf.square(x), axis=[1, 2]) + 0.0 * self.w}


def test_input_sd_draws_fresh_gaussian_inputs_around_the_means():
    x = np.full((64, 28, 28), 0.5, np.float32)
    sd = np.full_like(x, 0.2)
    sd[32:] = 0.0  # these examples are used as given

    def mean_square(input_sd):
        history = train.train(
            SquareSum(),
            x,
            input_sd=input_sd,
            epochs=2,
            batch_size=64,
            optimizer=keras.optimizers.SGD(0.0),
            verbose=0,
        )
        return history.history["loss"]

    # Without noise each image's sum of squares is 784 * 0.25 = 196 exactly.
    assert mean_square(None) == [196.0, 196.0]
    assert mean_square(np.zeros_like(x)) == [196.0, 196.0]
    # With N(0.5, 0.2^2) draws for half the images, E[x^2] = 0.25 + 0.04: the mean is
    # 196 + 392 * 0.04 = 211.68 (the sd of this mean over 64 images is about 0.6).
    first, second = mean_square(sd)
    assert abs(first - 211.68) < 3.0 and abs(second - 211.68) < 3.0, (first, second)
    assert first != second  # fresh draws each epoch


@pytest.mark.slow
def test_input_sd_of_zero_gives_the_run_without_it():
    x = np.random.default_rng(0).random((100, 28, 28), dtype=np.float32)

    labels = np.where(np.arange(100) < 20, np.arange(100) % 10, -1)  # 20 labelled

    def run(input_sd):
        keras.utils.set_random_seed(0)
        model = SemiSupervisedVAE(
            latent_dim=3,
            encoder_units=(16,),
            classifier_units=(16,),
            likelihood="gaussian",
            seed=0,
        )
        train.train(
            model,
            x,
            y_train=labels,
            epochs=2,
            batch_size=32,
            optimizer=keras.optimizers.SGD(0.01),
            verbose=0,
            input_sd=input_sd,
        )
        return model.get_weights()

    # Equal to float32 round-off: XLA may fuse the added zero noise differently, which
    # changes the order of some sums. Plain SGD keeps that round-off at its own size;
    # Adam divides tiny gradients by their own size and can turn it into a full step,
    # which is why this test does not use it. A real draw (sd 0.1) moves the weights
    # by far more than the tolerance.
    plain = run(None)
    for a, b in zip(plain, run(np.zeros_like(x))):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
    noisy = run(np.full_like(x, 0.1))
    assert max(np.abs(a - b).max() for a, b in zip(plain, noisy)) > 1e-4


def test_bad_input_sd_is_rejected():
    x = np.zeros((8, 28, 28), np.float32)
    with pytest.raises(ValueError, match=r"Autoencoder takes pixels in \[0, 1\]"):
        train.train(
            Autoencoder(latent_dim=2, encoder_units=(8,)),
            x,
            input_sd=np.zeros_like(x),
            epochs=1,
            verbose=0,
        )
    model = SquareSum()
    with pytest.raises(ValueError, match="binarize and input_sd cannot be combined"):
        train.train(model, x, input_sd=np.zeros_like(x), binarize=True, epochs=1, verbose=0)
    with pytest.raises(ValueError, match=r"input_sd has shape \(8, 28, 27\)"):
        train.train(model, x, input_sd=np.zeros((8, 28, 27), np.float32), epochs=1, verbose=0)
    with pytest.raises(ValueError, match="one standard deviation >= 0 per value"):
        train.train(model, x, input_sd=np.zeros((4, 28, 28), np.float32), epochs=1, verbose=0)
    with pytest.raises(ValueError, match="minimum -1"):
        train.train(model, x, input_sd=np.full_like(x, -1.0), epochs=1, verbose=0)
    with pytest.raises(ValueError, match="input_sd contains NaN"):
        train.train(model, x, input_sd=np.full_like(x, np.nan), epochs=1, verbose=0)


def test_data_of_the_wrong_image_shape_is_rejected_before_tracing():
    model = Autoencoder(latent_dim=2, encoder_units=(8,))
    with pytest.raises(
        ValueError, match=r"x_train has shape \(8, 784\); expected \(batch, 28, 28\)"
    ):
        train.train(model, np.zeros((8, 784), np.float32), epochs=1, verbose=0)
    x = np.zeros((8, 28, 28), np.float32)
    with pytest.raises(ValueError, match=r"x_val has shape \(2, 28, 27\); expected"):
        train.train(model, x, x_val=np.zeros((2, 28, 27), np.float32), epochs=1, verbose=0)
    with pytest.raises(ValueError, match="x is empty"):
        evaluate.evaluate_losses(model, np.zeros((0, 28, 28), np.float32))


@pytest.mark.slow
@pytest.mark.parametrize("steps_per_call", [1, 3, 1000])
def test_blocks_of_steps_give_bitwise_the_same_run_as_one_step_per_call(steps_per_call):
    # 250 images in batches of 32: 7 full steps and a last batch of 26, so blocks of 3
    # leave an uneven block and the small batch runs alone. The VAE samples, and the
    # batches are binarised: every source of noise must advance exactly as before.
    x = np.random.default_rng(0).random((250, 28, 28), dtype=np.float32)

    def run(blocking):
        keras.utils.set_random_seed(0)
        model = VAE(latent_dim=3, encoder_units=(16,), seed=0)
        history = train.train(
            model, x, epochs=2, batch_size=32, binarize=True, verbose=0, steps_per_call=blocking
        )
        return model, history

    reference_model, reference = run(1)
    model, history = run(steps_per_call)
    for a, b in zip(reference_model.get_weights(), model.get_weights()):
        np.testing.assert_array_equal(a, b)
    assert history.history == reference.history


def test_a_block_returns_the_loss_of_each_of_its_steps():
    x = np.random.default_rng(1).random((40, 28, 28), dtype=np.float32)
    keras.utils.set_random_seed(0)
    model = Autoencoder(latent_dim=2, encoder_units=(8,))
    step_model = Autoencoder(latent_dim=2, encoder_units=(8,))
    step_model.set_weights(model.get_weights())
    block = train.make_train_block(model, keras.optimizers.SGD(0.1), jit_compile=False)
    step = train.make_train_step(step_model, keras.optimizers.SGD(0.1), jit_compile=False)
    indices = np.arange(40, dtype=np.int32).reshape(4, 10)
    means = block(tf.constant(x), tf.constant(indices))
    assert means["loss"].shape == (4,)
    expected = [float(step(tf.constant(x), tf.constant(row))["loss"]) for row in indices]
    np.testing.assert_allclose(means["loss"].numpy(), expected, rtol=1e-6)


@pytest.mark.parametrize("steps_per_call", [0, 2.5, True])
def test_bad_steps_per_call_is_rejected(steps_per_call):
    x = np.random.default_rng(1).random((8, 28, 28), dtype=np.float32)
    model = Autoencoder(latent_dim=2, encoder_units=(8,))
    with pytest.raises(ValueError, match="steps_per_call must be a positive integer"):
        train.train(model, x, epochs=1, verbose=0, steps_per_call=steps_per_call)


def test_quick_mode_trains_on_a_declared_subset(monkeypatch, tmp_path, capsys):
    monkeypatch.setenv(train.QUICK_ENV_VAR, "1")
    monkeypatch.setattr(train, "QUICK_TRAINING_IMAGES", 40)
    monkeypatch.setattr(train, "_quick_notice_shown", False)
    x = np.random.default_rng(0).random((64, 28, 28), dtype=np.float32)
    model = Autoencoder(latent_dim=2, encoder_units=(8,), seed=0)
    train.train(model, x, epochs=1, batch_size=8, checkpoint_dir=tmp_path, verbose=0)
    assert "training on the first 40 of 64 images" in capsys.readouterr().out
    with np.load(tmp_path / "checkpoint.npz") as stored:
        state = json.loads(str(stored["state"]))
    assert state["settings"]["num_examples"] == 40
    monkeypatch.setenv(train.QUICK_ENV_VAR, "0")
    assert train.quick_subset(64) == 64


def test_epoch_blocks_cover_the_order_in_sequence():
    order = np.random.default_rng(0).permutation(10)
    blocks = train.epoch_blocks(order, 3, 2)
    assert [block.shape for block in blocks] == [(2, 3), (1, 3), (1, 1)]
    np.testing.assert_array_equal(np.concatenate([b.ravel() for b in blocks]), order)
    assert [b.shape for b in train.epoch_blocks(order, 5, 100)] == [(2, 5)]
    assert [b.shape for b in train.epoch_blocks(order, 20, 1)] == [(1, 10)]
