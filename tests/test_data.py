import gzip
import os
import shutil
import struct
import sys

import numpy as np
import pytest

from vaebook import data
from vaebook.checks import as_images


def write_idx(path, array, magic=None):
    array = np.asarray(array, dtype=np.uint8)
    magic = magic if magic is not None else (2051 if array.ndim == 3 else 2049)
    header = struct.pack(">I", magic) + struct.pack(">" + "I" * array.ndim, *array.shape)
    with gzip.open(path, "wb") as handle:
        handle.write(header + array.tobytes())


def test_fashion_mnist_is_complete_and_scaled(fashion):
    assert fashion.x_train.shape == (60000, 28, 28)
    assert fashion.x_test.shape == (10000, 28, 28)
    assert fashion.x_train.dtype == np.float32
    assert fashion.x_train.min() == 0.0 and fashion.x_train.max() == 1.0
    assert np.bincount(fashion.y_train).tolist() == [6000] * 10
    assert np.bincount(fashion.y_test).tolist() == [1000] * 10
    assert fashion.class_names[9] == "Ankle boot"
    (x_train, y_train), (x_test, y_test) = fashion  # Keras-style unpacking.
    assert x_train is fashion.x_train and y_test is fashion.y_test


def test_mnist_is_complete_with_published_label_counts(mnist):
    assert mnist.x_train.shape == (60000, 28, 28)
    assert np.bincount(mnist.y_train).tolist() == [
        5923,
        6742,
        5958,
        6131,
        5842,
        5421,
        5918,
        6265,
        5851,
        5949,
    ]
    assert np.bincount(mnist.y_test).tolist() == [
        980,
        1135,
        1032,
        1010,
        982,
        892,
        958,
        1028,
        974,
        1009,
    ]
    # Pixel values are k / 255 exactly.
    np.testing.assert_array_equal(np.round(mnist.x_test * 255) / 255, mnist.x_test)


@pytest.fixture
def tiny_dataset(tmp_path):
    """A folder ``mnist/`` with a copy of the four real MNIST files, for layout tests."""
    real = data.find_dataset_files("mnist")
    assert real is not None, "the tests need the real MNIST files (set VAEBOOK_DATA)"
    shutil.copytree(real, tmp_path / "mnist", ignore=shutil.ignore_patterns("*.md"))
    return tmp_path


def test_data_dir_accepts_folder_or_parent(tiny_dataset):
    from_parent = data.load_mnist(tiny_dataset)
    from_folder = data.load_mnist(tiny_dataset / "mnist")
    assert from_parent.source == from_folder.source
    assert from_parent.y_test[:3].tolist() == [7, 2, 1]  # MNIST's first test labels


def test_env_var_is_used(tiny_dataset, monkeypatch):
    monkeypatch.setenv(data.DATA_ENV_VAR, str(tiny_dataset))
    assert data.load_mnist().source == str(tiny_dataset / "mnist")


def test_missing_named_folder_says_what_to_do(tmp_path):
    with pytest.raises(data.DatasetNotFoundError) as error:
        data.load_fashion_mnist(tmp_path / "nowhere")
    message = str(error.value)
    assert "fashion-mnist" in message and "VAEBOOK_DATA" in message
    assert "train-images-idx3-ubyte.gz" in message


def test_failed_download_gives_one_clear_error(tmp_path, monkeypatch):
    import keras

    monkeypatch.delenv(data.DATA_ENV_VAR, raising=False)
    monkeypatch.setenv("KERAS_HOME", str(tmp_path))

    def offline():
        raise OSError("no network")

    monkeypatch.setattr(keras.datasets.mnist, "load_data", offline)
    with pytest.raises(data.DatasetNotFoundError, match="download failed: no network"):
        data.load_mnist()


def test_keras_cache_layout_is_found(tiny_dataset, monkeypatch):
    monkeypatch.delenv(data.DATA_ENV_VAR, raising=False)
    cache = tiny_dataset / "keras_home"
    shutil.copytree(tiny_dataset / "mnist", cache / "datasets" / "mnist")
    monkeypatch.setenv("KERAS_HOME", str(cache))
    assert data.find_dataset_files("mnist") == cache / "datasets" / "mnist"


def test_truncated_gzip_is_reported(tiny_dataset):
    path = tiny_dataset / "mnist" / "t10k-images-idx3-ubyte.gz"
    content = path.read_bytes()
    path.write_bytes(content[: len(content) // 2])
    with pytest.raises(data.DataError, match="truncated or corrupt"):
        data.load_mnist(tiny_dataset)


def test_not_gzip_is_reported(tmp_path):
    path = tmp_path / "x.gz"
    path.write_bytes(b"this is not gzip")
    with pytest.raises(data.DataError, match="not a readable gzip file"):
        data.read_idx(path)


def test_wrong_magic_number_is_reported(tmp_path):
    path = tmp_path / "x.gz"
    write_idx(path, np.zeros((2, 28, 28)), magic=0x0B0B0B03)
    with pytest.raises(data.DataError, match="magic number"):
        data.read_idx(path)


def test_size_mismatch_is_reported(tmp_path):
    path = tmp_path / "x.gz"
    with gzip.open(path, "wb") as handle:
        handle.write(struct.pack(">IIII", 2051, 5, 28, 28) + bytes(28 * 28 * 4))
    with pytest.raises(data.DataError, match="truncated or corrupt"):
        data.read_idx(path)


def test_wrong_image_count_is_reported(tiny_dataset):
    write_idx(tiny_dataset / "mnist" / "t10k-images-idx3-ubyte.gz", np.zeros((10, 28, 28)))
    with pytest.raises(data.DataError, match="expected 10000 images"):
        data.load_mnist(tiny_dataset)


def test_missing_file_is_reported(tmp_path):
    with pytest.raises(FileNotFoundError, match="IDX file not found"):
        data.read_idx(tmp_path / "absent.gz")


def test_unknown_dataset_name():
    with pytest.raises(ValueError, match="Unknown dataset"):
        data.find_dataset_files("cifar")


def test_binarize_samples_bernoulli_pixels():
    images = np.tile(np.linspace(0, 1, 11, dtype=np.float32), (2000, 1))
    binary = data.binarize(images, seed=1)
    assert set(np.unique(binary).tolist()) <= {0.0, 1.0}
    # Each column's frequency of ones estimates its intensity (std <= 0.011 here).
    np.testing.assert_allclose(binary.mean(axis=0), images[0], atol=0.05)
    assert binary[:, 0].max() == 0 and binary[:, -1].min() == 1
    np.testing.assert_array_equal(binary, data.binarize(images, seed=1))
    assert not np.array_equal(binary, data.binarize(images, seed=2))


@pytest.mark.parametrize(
    ("images", "message"),
    [
        (np.zeros((2, 3), dtype=np.uint8), "dtype uint8"),
        (np.full((2, 3), np.nan, dtype=np.float32), "NaN"),
        (np.full((2, 3), 1.5, dtype=np.float32), r"values in \[1.5, 1.5\]"),
        (np.zeros((0, 3), dtype=np.float32), "empty"),
    ],
)
def test_binarize_rejects_bad_input(images, message):
    with pytest.raises(ValueError, match=message):
        data.binarize(images)


def test_image_check_names_wrong_shape():
    # The check that data used to hold now lives in vaebook.checks.
    with pytest.raises(
        ValueError, match=r"images has shape \(2, 784\); expected \(batch, 28, 28\)"
    ):
        as_images(np.zeros((2, 784), dtype=np.float32), "images", image_shape=(28, 28))
    with pytest.raises(ValueError, match=r"images has shape \(784,\); expected a batch"):
        data.binarize(np.zeros(784, dtype=np.float32))


def test_shared_data_is_not_silently_used_when_env_is_wrong(monkeypatch, tmp_path):
    monkeypatch.setenv(data.DATA_ENV_VAR, str(tmp_path))
    with pytest.raises(data.DatasetNotFoundError, match=r"\$VAEBOOK_DATA"):
        data.load_fashion_mnist()
    assert os.environ[data.DATA_ENV_VAR] == str(tmp_path)


def test_unwritable_cache_is_reported_before_any_download(tmp_path, monkeypatch):
    import keras

    monkeypatch.delenv(data.DATA_ENV_VAR, raising=False)
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras"))
    real_access = os.access
    monkeypatch.setattr(
        os,
        "access",
        lambda path, mode: (
            False if str(path).startswith(str(tmp_path)) else real_access(path, mode)
        ),
    )
    called = []
    monkeypatch.setattr(keras.datasets.fashion_mnist, "load_data", lambda: called.append(1))
    with pytest.raises(data.DatasetNotFoundError, match="not writable"):
        data.load_fashion_mnist()
    assert not called  # Nothing was downloaded, and nothing was written.
    assert list(tmp_path.iterdir()) == []


def test_labels_that_do_not_match_the_images_are_rejected(tiny_dataset):
    write_idx(tiny_dataset / "mnist" / "t10k-labels-idx1-ubyte.gz", np.zeros(10000))
    images = np.zeros((3, 28, 28), np.float32)
    with pytest.raises(data.DataError, match="3 train images but labels of shape"):
        data.Dataset("mnist", images, np.zeros(2, np.uint8), images, np.zeros(3, np.uint8), (), "")


def test_first_of_each_class(fashion):
    indices = data.first_of_each_class(fashion.y_test)
    assert fashion.y_test[indices].tolist() == list(range(10))
    for label, index in enumerate(indices):
        assert index == np.flatnonzero(fashion.y_test == label)[0]
    with pytest.raises(ValueError, match="1-D integer"):
        data.first_of_each_class(np.zeros((2, 2), int))


def test_validation_split_partitions_the_training_images(fashion):
    x, y = fashion.x_train, fashion.y_train
    (x_fit, y_fit), (x_val, y_val) = data.validation_split(x, y, size=10_000, seed=0)
    assert (len(x_fit), len(x_val)) == (50_000, 10_000)
    # Every training image lands on exactly one side: the two parts' pixel sums add
    # up to the whole, and their label counts too.
    np.testing.assert_allclose(
        x_fit.sum(dtype=np.float64) + x_val.sum(dtype=np.float64),
        x.sum(dtype=np.float64),
        rtol=1e-12,
    )
    np.testing.assert_array_equal(
        np.bincount(y_fit, minlength=10) + np.bincount(y_val, minlength=10),
        np.bincount(y, minlength=10),
    )
    # A random choice, not the last 10,000: every class is held out, in proportion.
    assert np.all(np.abs(np.bincount(y_val, minlength=10) - 1000) < 100)
    again = data.validation_split(x, y, size=10_000, seed=0)
    np.testing.assert_array_equal(again[1][1], y_val)
    other = data.validation_split(x, y, size=10_000, seed=1)
    assert not np.array_equal(other[1][0][:50], x_val[:50])


@pytest.mark.parametrize(
    ("size", "message"),
    [(0, "positive integer"), (10, "hold out all 10"), (2.5, "size")],
)
def test_validation_split_refuses_bad_sizes(size, message):
    x, y = np.zeros((10, 28, 28), np.float32), np.arange(10) % 3
    with pytest.raises(ValueError, match=message):
        data.validation_split(x, y, size=size)


def test_validation_split_needs_one_label_per_image():
    with pytest.raises(ValueError, match="labels has 5 entries for 10 images"):
        data.validation_split(np.zeros((10, 28, 28), np.float32), np.arange(5))


def test_faces_load_offline_and_split_without_overlap():
    pytest.importorskip("skimage", reason="the faces ship with scikit-image (extra 'faces')")
    faces = data.load_faces(test_size=20, seed=0)
    assert faces.x_train.shape == (80, 25, 25) and faces.x_test.shape == (20, 25, 25)
    assert faces.x_train.dtype == np.float32
    assert 0.0 <= faces.x_train.min() and faces.x_train.max() <= 1.0
    # No face is on both sides, and together they are the subset's first 100 images.
    from skimage.data import lfw_subset

    everything = np.asarray(lfw_subset()[:100], np.float32).reshape(100, -1)
    seen = np.concatenate([faces.x_train, faces.x_test]).reshape(100, -1)
    assert sorted(map(bytes, seen)) == sorted(map(bytes, everything))
    again = data.load_faces(test_size=20, seed=0)
    np.testing.assert_array_equal(again.x_test, faces.x_test)


def test_faces_without_scikit_image_say_what_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "skimage", None)
    monkeypatch.setitem(sys.modules, "skimage.data", None)
    with pytest.raises(data.DatasetNotFoundError, match="pip install scikit-image"):
        data.load_faces()
