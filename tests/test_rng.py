import keras
import numpy as np
import pytest
import tensorflow as tf

from vaebook import rng


def test_integer_seeds_repeat_and_generators_advance():
    np.testing.assert_array_equal(rng.normal((3, 4), 5), rng.normal((3, 4), 5))
    assert not np.array_equal(rng.normal((3, 4), 5), rng.normal((3, 4), 6))
    generator = keras.random.SeedGenerator(1)
    first, second = rng.uniform((100,), generator), rng.uniform((100,), generator)
    assert not np.array_equal(first, second)
    # The same generator state gives the same draw: runs are repeatable.
    again = keras.random.SeedGenerator(1)
    np.testing.assert_array_equal(first, rng.uniform((100,), again))


def test_draws_have_the_right_distribution_inside_a_compiled_function():
    generator = keras.random.SeedGenerator(0)
    draw = tf.function(
        lambda: (rng.uniform((200_000,), generator), rng.normal((200_000,), generator)),
        jit_compile=True,
    )
    uniform, normal = (x.numpy() for x in draw())
    assert uniform.min() >= 0 and uniform.max() < 1
    assert abs(uniform.mean() - 0.5) < 0.005 and abs(uniform.var() - 1 / 12) < 0.002
    assert abs(normal.mean()) < 0.01 and abs(normal.std() - 1) < 0.01


@pytest.mark.parametrize("seed", [1.5, "0", None, True])
def test_bad_seeds_are_rejected(seed):
    with pytest.raises(ValueError, match="seed must be an int or a keras.random.SeedGenerator"):
        rng.normal((2,), seed)
