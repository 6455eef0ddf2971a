import keras
import numpy as np
import pytest
import tensorflow as tf

from vaebook import train
from vaebook.models import Autoencoder


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


def test_epoch_mean_weights_the_last_smaller_batch(small_fashion):
    x_train, _ = small_fashion
    # With a learning rate of zero the weights never move, so the epoch mean must equal
    # the loss of the whole training set, even though 1000 = 3 * 300 + 100.
    model = Autoencoder(latent_dim=4, encoder_units=(16,))
    optimizer = keras.optimizers.SGD(learning_rate=0.0)
    history = train.train(
        model, x_train[:1000], epochs=1, batch_size=300, optimizer=optimizer, verbose=0
    )
    full = train.evaluate_losses(model, x_train[:1000])
    np.testing.assert_allclose(history.last("loss"), full["loss"], rtol=1e-5)


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
        ({"epochs": 0}, "epochs must be at least 1"),
        ({"batch_size": 0}, "batch_size must be a positive integer"),
        ({"learning_rate": -1.0}, "learning_rate must be positive"),
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
    with pytest.raises(TypeError, match="per_example_losses"):
        train.train(
            keras.Sequential([keras.layers.Dense(1)]), np.zeros((4, 2), np.float32), epochs=1
        )


def test_quick_mode(monkeypatch):
    monkeypatch.setenv(train.QUICK_ENV_VAR, "1")
    assert train.is_quick() and train.epochs_for(100, quick=3) == 3
    monkeypatch.setenv(train.QUICK_ENV_VAR, "0")
    assert not train.is_quick() and train.epochs_for(100, quick=3) == 100
    with pytest.raises(ValueError):
        train.epochs_for(0)


def test_set_seed_rejects_negative():
    with pytest.raises(ValueError, match="non-negative integer"):
        train.set_seed(-1)


def test_dynamic_binarisation_feeds_fresh_binary_batches():
    class OnesCounter(keras.Model):
        """Its 'loss' is the number of pixels that are on in each image."""

        def __init__(self):
            super().__init__()
            self.w = self.add_weight(shape=(), initializer="zeros")

        def per_example_losses(self, x, training=False):
            return {"loss": tf.reduce_sum(x, axis=[1, 2]) + 0.0 * self.w}

    model = OnesCounter()
    step = train.make_train_step(model, keras.optimizers.SGD(0.0), binarize=True, seed=1)
    x_all = tf.fill((4, 28, 28), 0.3)
    counts = [float(step(x_all, tf.constant([0, 1, 2, 3]))["loss"]) for _ in range(3)]
    # Binary pixels: each image's count is an integer, so the batch mean is k / 4; about
    # 0.3 * 784 = 235.2 pixels are on (standard deviation of the mean about 6.4).
    assert all(count * 4 == round(count * 4) for count in counts), counts
    assert all(abs(count - 235.2) < 30 for count in counts), counts
    assert len(set(counts)) > 1, counts  # Fresh draws at every step.


def test_resumed_run_ends_with_the_same_weights_as_an_uninterrupted_one(small_fashion, tmp_path):
    from vaebook.models import VAE

    x_train, _ = small_fashion

    def fresh():
        train.set_seed(5)
        return VAE(latent_dim=3, encoder_units=(32,), seed=5)

    arguments = {"batch_size": 200, "verbose": 0, "binarize": True, "seed": 9}
    straight = fresh()
    straight_history = train.train(straight, x_train, epochs=4, **arguments)

    interrupted = fresh()
    train.train(interrupted, x_train, epochs=2, checkpoint_dir=tmp_path, **arguments)
    resumed = fresh()  # A new process would start from a new model, as here.
    resumed_history = train.train(resumed, x_train, epochs=4, checkpoint_dir=tmp_path, **arguments)

    assert resumed_history.history["loss"] == straight_history.history["loss"]
    for a, b in zip(straight.weights, resumed.weights):
        np.testing.assert_array_equal(a.numpy(), b.numpy())


def test_checkpoint_of_another_model_is_rejected(small_fashion, tmp_path):
    x_train, _ = small_fashion

    def run(latent_dim, epochs):
        model = Autoencoder(latent_dim=latent_dim, encoder_units=(8,))
        train.train(model, x_train[:256], epochs=epochs, verbose=0, checkpoint_dir=tmp_path)

    run(latent_dim=2, epochs=1)
    with pytest.raises(ValueError, match="written for a Autoencoder"):
        run(latent_dim=3, epochs=2)
    (tmp_path / "checkpoint.npz").write_bytes(b"garbage")
    with pytest.raises(ValueError, match="not a readable vaebook checkpoint"):
        run(latent_dim=2, epochs=2)


def test_data_of_the_wrong_image_shape_is_rejected_before_tracing():
    model = Autoencoder(latent_dim=2, encoder_units=(8,))
    with pytest.raises(ValueError, match=r"expects images of shape \(batch, 28, 28\)"):
        train.train(model, np.zeros((8, 784), np.float32), epochs=1, verbose=0)
    with pytest.raises(ValueError, match="x is empty"):
        train.evaluate_losses(model, np.zeros((0, 28, 28), np.float32))
