"""The runtime check that stops an import on a too-old TensorFlow or Keras."""

import re

import keras
import numpy as np
import pytest
import tensorflow as tf

import vaebook
from vaebook import runtime


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2.21.0", (2, 21, 0)),
        ("3.10.0rc1", (3, 10, 0)),
        ("2.19.0.dev20250101", (2, 19, 0)),
        ("2.15.0.post1", (2, 15, 0)),
        (" 1.26 ", (1, 26)),
    ],
)
def test_parse_version(text, expected):
    assert runtime.parse_version(text) == expected


def test_parse_version_refuses_text_without_a_number():
    with pytest.raises(ValueError, match="'nightly'"):
        runtime.parse_version("nightly")


def test_versions_at_or_above_the_minimum_pass():
    runtime.check_versions(runtime.MINIMUM_VERSIONS)
    runtime.check_versions({"tensorflow": "2.30.0", "keras": "4.0.0"})
    runtime.check_versions()  # This process's own versions.


@pytest.mark.parametrize(
    ("versions", "named"),
    [
        ({"tensorflow": "2.15.0", "keras": "3.15.1"}, ["TensorFlow 2.15.0"]),
        ({"tensorflow": "2.21.0", "keras": "2.15.0"}, ["Keras 2.15.0"]),
        ({"tensorflow": "2.19.0", "keras": "3.9.2"}, ["TensorFlow 2.19.0", "Keras 3.9.2"]),
    ],
)
def test_too_old_versions_stop_with_what_to_do(versions, named):
    with pytest.raises(ImportError) as error:
        runtime.check_versions(versions)
    message = str(error.value)
    for item in named:
        assert item in message
    assert "TensorFlow >= 2.19.1 and Keras >= 3.10.0" in message
    assert 'pip install -U "tensorflow>=2.19.1" "keras>=3.10.0"' in message
    assert "Restart session" in message


def test_describe_names_the_versions_in_use_and_the_device():
    line = runtime.describe()
    assert f"vaebook {vaebook.__version__}" in line
    assert f"TensorFlow {tf.__version__}" in line
    assert f"Keras {keras.__version__}" in line
    assert f"NumPy {np.__version__}" in line
    gpus = tf.config.list_physical_devices("GPU")
    if gpus:
        assert re.search(r"device: GPU \(.+\)$", line)
    else:
        assert re.search(r"device: CPU \(\d+ cores?\)$", line)
