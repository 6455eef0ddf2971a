"""The cures for posterior collapse: free bits and KL schedules, against references.

Free bits (Kingma et al., 2016) floor each unit's batch-mean KL in the objective; KL
warm-up (Bowman et al., 2016) and cyclical annealing (Fu et al., 2019) schedule the
KL weight over the steps. Each is checked against a NumPy version written here.
"""

import keras
import numpy as np
import pytest
import tensorflow as tf

from vaebook import evaluate, losses, presets, train
from vaebook.models import VAE, ConditionalVAE, load_model


def kl_per_unit_reference(mean, log_var):
    return 0.5 * (mean**2 + np.exp(log_var) - 1.0 - log_var)


def test_kl_per_unit_sums_to_the_kl():
    generator = np.random.default_rng(0)
    mean, log_var = generator.normal(size=(2, 5, 4)).astype(np.float32)
    per_unit = losses.gaussian_kl_per_unit(mean, log_var).numpy()
    np.testing.assert_allclose(per_unit, kl_per_unit_reference(mean, log_var), rtol=1e-5)
    np.testing.assert_allclose(
        per_unit.sum(axis=1), losses.gaussian_kl(mean, log_var).numpy(), rtol=1e-5
    )


def test_free_bits_batch_mean_and_gradients():
    generator = np.random.default_rng(1)
    # Units 0 and 1 carry little (means near 0), units 2 and 3 carry a lot.
    mean = generator.normal(size=(8, 4)) * [0.05, 0.1, 2.0, 3.0]
    log_var = generator.normal(size=(8, 4)) * 0.1
    floor = 0.5
    kl = kl_per_unit_reference(mean, log_var)
    expected = np.maximum(floor, kl.mean(axis=0)).sum()
    mean_t = tf.Variable(mean, dtype=tf.float64)
    with tf.GradientTape() as tape:
        per_unit = losses.gaussian_kl_per_unit(mean_t, tf.constant(log_var))
        term = losses.free_bits_kl(per_unit, floor)  # (8,)
        objective = tf.reduce_mean(term)
    assert term.shape == (8,)
    assert float(objective) == pytest.approx(expected, rel=1e-12)
    gradient = tape.gradient(objective, mean_t).numpy()
    # Below the floor, no gradient; above it, the plain KL's (mean_j / batch).
    below = kl.mean(axis=0) < floor
    assert below.tolist() == [True, True, False, False]
    np.testing.assert_array_equal(gradient[:, below], 0.0)
    np.testing.assert_allclose(gradient[:, ~below], mean[:, ~below] / 8, rtol=1e-12)
    # A floor of 0 is the plain KL.
    np.testing.assert_allclose(losses.free_bits_kl(per_unit, 0.0), kl.sum(axis=1), rtol=1e-12)


def test_free_bits_refuses_negative_floors_and_unfactorised_kls():
    with pytest.raises(ValueError, match="free bits floor"):
        losses.free_bits_kl(tf.zeros((2, 3)), -0.1)
    with pytest.raises(ValueError, match="per latent unit"):
        losses.free_bits_kl(tf.zeros((2,)), 0.5)
    with pytest.raises(ValueError, match="free_bits"):
        VAE(latent_dim=2, free_bits=-1.0)


def test_warmup_and_cyclical_schedules_against_their_formulas():
    warmup = losses.KLWarmup(steps=40, start=0.2)
    cyclical = losses.CyclicalKL(steps=120, cycles=3, ramp=0.25)
    for step in range(0, 200, 7):
        assert float(warmup(step)) == pytest.approx(0.2 + 0.8 * min(step / 40, 1.0))
        if step >= 120:
            expected = 1.0
        else:
            position = (step % 40) / 40
            expected = min(position / 0.25, 1.0)
        assert float(cyclical(step)) == pytest.approx(expected, abs=1e-6), step
    # Compiled, with the step as a tensor, as the training loop calls it.
    compiled = tf.function(lambda step: cyclical(step), jit_compile=True)
    assert float(compiled(tf.constant(50, tf.int64))) == pytest.approx(1.0)
    assert float(compiled(tf.constant(45, tf.int64))) == pytest.approx(0.5)


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda: losses.KLWarmup(steps=0), "steps"),
        (lambda: losses.KLWarmup(steps=10, start=1.0), "start must be below 1"),
        (lambda: losses.CyclicalKL(steps=3, cycles=4), "4 cycles do not fit in 3 steps"),
        (lambda: losses.CyclicalKL(steps=100, ramp=0.0), r"ramp must be in \(0, 1\]"),
        (lambda: losses.kl_schedule_from_config({"class_name": "Linear"}), "Unknown KL"),
    ],
)
def test_schedules_refuse_settings_that_make_no_sense(make, message):
    with pytest.raises(ValueError, match=message):
        make()


def test_vae_objective_with_free_bits_keeps_the_true_kl():
    model = VAE(latent_dim=3, encoder_units=(16,), free_bits=2.0, seed=0)
    x = np.random.default_rng(2).random((6, 28, 28)).astype(np.float32)
    noise = np.random.default_rng(3).standard_normal((6, 3)).astype(np.float32)
    out = model.per_example_losses(x, noise=noise)
    z_mean, z_log_var = (t.numpy() for t in model.encode(x))
    kl = kl_per_unit_reference(z_mean, z_log_var)
    np.testing.assert_allclose(out["kl_loss"], kl.sum(axis=1), rtol=1e-4)
    floored = np.maximum(2.0, kl.mean(axis=0)).sum()
    objective = float(np.mean(out["loss"] - out["reconstruction_loss"]))
    assert objective == pytest.approx(floored, rel=1e-4)
    # The untreated model's objective is the plain negative ELBO.
    plain = VAE(latent_dim=3, encoder_units=(16,), seed=0).per_example_losses(x, noise=noise)
    np.testing.assert_allclose(
        plain["loss"], plain["reconstruction_loss"] + plain["kl_loss"], rtol=1e-6
    )


def test_training_step_applies_the_schedule_weight():
    model = VAE(latent_dim=2, encoder_units=(16,), kl_schedule=losses.KLWarmup(4), seed=0)
    x = tf.constant(np.random.default_rng(4).random((8, 28, 28)), tf.float32)
    optimizer = keras.optimizers.Adam(1e-3)
    step = train.make_train_step(model, optimizer, jit_compile=False)
    indices = tf.range(8)
    first = step(x, indices)  # step 0: weight 0, the loss is the reconstruction alone
    assert float(first["loss"]) == pytest.approx(float(first["reconstruction_loss"]), rel=1e-6)
    for _ in range(4):
        last = step(x, indices)  # steps 1-4; at step 4 the weight is 1
    total = float(last["reconstruction_loss"] + last["kl_loss"])
    assert float(last["loss"]) == pytest.approx(total, rel=1e-6)


def test_train_refuses_a_schedule_longer_than_the_run():
    model = VAE(latent_dim=2, encoder_units=(8,), kl_schedule=losses.KLWarmup(steps=100))
    x = np.random.default_rng(5).random((50, 28, 28)).astype(np.float32)
    with pytest.raises(ValueError, match=r"covers 100 steps, but this run has 8 \(2 epochs"):
        train.train(model, x, epochs=2, batch_size=16, verbose=0)


@pytest.mark.parametrize("settings", [{"free_bits": 0.5}, {"kl_schedule": losses.KLWarmup(10)}])
def test_remedies_apply_to_the_one_sample_elbo_only(settings):
    with pytest.raises(ValueError, match="one-sample ELBO only"):
        VAE(latent_dim=2, objective="iwae", num_samples=5, **settings)
    with pytest.raises(TypeError, match="kl_schedule must be"):
        VAE(latent_dim=2, kl_schedule=lambda step: 1.0)


def test_models_with_remedies_round_trip(tmp_path):
    for model in (
        VAE(
            latent_dim=2,
            encoder_units=(16,),
            free_bits=0.25,
            seed=1,
            kl_schedule=losses.CyclicalKL(steps=400, cycles=4),
        ),
        ConditionalVAE(latent_dim=2, filters=(4, 8), kl_schedule=losses.KLWarmup(30), seed=2),
    ):
        path = tmp_path / f"{type(model).__name__}.keras"
        model.save(path)
        loaded = load_model(path, expected=type(model))
        assert loaded.get_config() == model.get_config()
        assert repr(loaded.kl_schedule) == repr(model.kl_schedule)
        assert loaded.free_bits == model.free_bits


def test_kl_per_unit_of_a_model_against_monte_carlo():
    """evaluate.kl_per_unit against a Monte Carlo estimate of each unit's KL."""

    class Fixed:
        latent_dim = 3
        image_shape = (28, 28)

        def encode(self, x, training=False):
            batch = tf.shape(x)[0]
            # Unit 0 moves with the image; unit 1 is narrow; unit 2 is the prior.
            z_mean = tf.stack([x[:, 0, 0] * 2.0, tf.fill([batch], 0.5), tf.zeros([batch])], axis=1)
            z_log_var = tf.stack(
                [tf.zeros([batch]), tf.fill([batch], -2.0), tf.zeros([batch])], axis=1
            )
            return z_mean, z_log_var

    x = np.random.default_rng(3).uniform(size=(40, 28, 28)).astype(np.float32)
    per_unit = evaluate.kl_per_unit(Fixed(), x)
    assert per_unit.shape == (3,)
    # KL(q || p) = E_q[log q(z) - log p(z)], by sampling, unit by unit and image by image.
    generator = np.random.default_rng(4)
    mean = np.stack([x[:, 0, 0] * 2.0, np.full(40, 0.5), np.zeros(40)], axis=1)
    sd = np.exp(0.5 * np.array([0.0, -2.0, 0.0]))
    z = mean + sd * generator.standard_normal((20_000, 40, 3))
    log_q = -0.5 * (((z - mean) / sd) ** 2 + np.log(2 * np.pi * sd**2))
    log_p = -0.5 * (z**2 + np.log(2 * np.pi))
    estimate = (log_q - log_p).mean(axis=(0, 1))
    standard_error = (log_q - log_p).mean(axis=1).std(axis=0) / np.sqrt(20_000)
    assert np.all(np.abs(per_unit - estimate) < 4 * standard_error + 1e-3)
    assert per_unit[2] == pytest.approx(0.0, abs=1e-12)
    with pytest.raises(TypeError, match="kl_per_unit needs a model whose encode"):
        evaluate.kl_per_unit(object(), x)


@pytest.mark.parametrize("remedy", presets.COLLAPSE_REMEDIES)
def test_collapse_remedies_change_only_the_remedy_and_the_seed(remedy):
    experiment = presets.collapse_remedy(remedy, seed=2, num_train=1000)
    base = presets.FASHION_VAE
    assert experiment.seed == 2 and experiment.model_args["seed"] == 2
    assert experiment.model_args["pixel_reduction"] == "mean"
    changed = {
        key
        for key in set(experiment.model_args) | set(base.model_args)
        if experiment.model_args.get(key) != base.model_args.get(key)
    }
    extra = {"none": set(), "warm-up": {"kl_schedule"}, "cyclical": {"kl_schedule"}}
    assert changed == {"seed", "pixel_reduction"} | extra.get(remedy, {"free_bits"})
    assert (experiment.epochs, experiment.batch_size) == (base.epochs, base.batch_size)
    model = experiment.build()
    # The schedules fit the run exactly: 8 batches of 128 in 1,000 images, per epoch.
    steps = experiment.run_epochs() * 8
    if remedy == "warm-up":
        assert model.kl_schedule.steps == steps // 5
    elif remedy == "cyclical":
        assert (model.kl_schedule.steps, model.kl_schedule.cycles) == (steps, 4)
    elif remedy == "free bits":
        assert model.free_bits == presets.FREE_BITS_FLOOR


def test_collapse_remedy_refuses_unknown_remedies():
    with pytest.raises(ValueError, match="remedy"):
        presets.collapse_remedy("dropout", seed=0, num_train=1000)
    with pytest.raises(ValueError, match="num_train"):
        presets.collapse_remedy("none", seed=0, num_train=0)


def test_remedy_settings_fit_any_run_length():
    assert presets.remedy_settings("none", steps=10) == {}
    assert presets.remedy_settings("free bits", steps=10) == {"free_bits": presets.FREE_BITS_FLOOR}
    warm_up = presets.remedy_settings("warm-up", steps=1000)["kl_schedule"]
    assert isinstance(warm_up, losses.KLWarmup) and warm_up.steps == 200
    cyclical = presets.remedy_settings("cyclical", steps=1000)["kl_schedule"]
    assert (cyclical.steps, cyclical.cycles, cyclical.ramp) == (1000, 4, 0.5)
    # A run too short for four cycles or a fifth still gets a valid schedule.
    assert presets.remedy_settings("warm-up", steps=3)["kl_schedule"].steps == 1
    assert presets.remedy_settings("cyclical", steps=3)["kl_schedule"].cycles == 3
    with pytest.raises(ValueError, match="steps"):
        presets.remedy_settings("warm-up", steps=0)
