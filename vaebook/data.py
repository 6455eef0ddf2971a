"""Real datasets for the course: Fashion-MNIST and MNIST.

Chapters 1 and 2 explain how these arrays are used. Every loader returns the *full*
dataset (60,000 training and 10,000 test images), as float32 pixels in ``[0, 1]`` of
shape ``(n, 28, 28)`` with uint8 class labels. Nothing is ever subsampled.

Whatever the source, what was read is checked to be the original data (the SHA-256 of
each file's content, :func:`check_identity`): the two datasets share file names, and
Fashion-MNIST's files are refused where MNIST's were asked for.

Where the data comes from is decided in one place, :func:`find_dataset_files`, in this
order:

1. a folder passed as ``data_dir=`` (only that folder is searched);
2. the folder named by the environment variable ``VAEBOOK_DATA``;
3. Keras' dataset cache (``~/.keras/datasets`` or ``$KERAS_HOME/datasets``);
4. a download through ``keras.datasets`` (online only).

A folder may hold the four IDX ``.gz`` files directly, or hold them in a subfolder named
after the dataset (``fashion-mnist/`` or ``mnist/``), which is the layout of Keras' cache.
If none of these works, :class:`DatasetNotFoundError` says where it looked and what to do.
"""

from __future__ import annotations

import gzip
import hashlib
import os
import struct
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from vaebook.checks import (
    as_images,
    check_labels,
    check_non_negative_int,
    check_positive_int,
)

__all__ = [
    "DATA_ENV_VAR",
    "DataError",
    "Dataset",
    "DatasetNotFoundError",
    "binarize",
    "check_identity",
    "find_dataset_files",
    "first_of_each_class",
    "load_faces",
    "load_fashion_mnist",
    "load_mnist",
    "read_idx",
    "validation_split",
]

#: Environment variable naming a folder that holds the datasets offline.
DATA_ENV_VAR = "VAEBOOK_DATA"

#: The four files of each dataset, in the original IDX layout.
IDX_FILES = {
    "x_train": "train-images-idx3-ubyte.gz",
    "y_train": "train-labels-idx1-ubyte.gz",
    "x_test": "t10k-images-idx3-ubyte.gz",
    "y_test": "t10k-labels-idx1-ubyte.gz",
}

# Expected shapes, so that a wrong or truncated file is caught by name.
_EXPECTED_COUNT = {"x_train": 60_000, "y_train": 60_000, "x_test": 10_000, "y_test": 10_000}

# SHA-256 of each original file's content (the array after the IDX header), so that a
# copy is recognised whatever its gzip wrapper. The two datasets share file names and
# shapes: only the content tells Fashion-MNIST's files from MNIST's.
_CONTENT_SHA256 = {
    "fashion-mnist": {
        "x_train": "2e487a6c89124f78f2d7521542223cafe96f7123c3ca13d447772ac6ecbb3012",
        "y_train": "657fbd221bfc9f4198cc14b5619cc33ec57c58dd0e47af4d99d6650759e869a7",
        "x_test": "c867c93ff95360594e8ec3287995350b824dd110b11595c0e13d5423f621867a",
        "y_test": "3d0e6c6ea990b53b6f8f500a41cac93881d981b315f84578b7d915342ade01e9",
    },
    "mnist": {
        "x_train": "741c988805d008ac6e4c904b69001ba184c24b2c540a4ef403f4c71b676cf757",
        "y_train": "1feba77c54802fa5339a11837ea4b2866434b83314ec45192930f1df69120c13",
        "x_test": "6d87418db22cc8025d05968bec9bd5c3932904b23485740db143a061a2c9d161",
        "y_test": "ddeff807876a9661a1110d45c266c86239a3a1b7d37da0c3716a7a683c852ff5",
    },
}

_DOWNLOAD_HINT = {
    "fashion-mnist": "https://github.com/zalandoresearch/fashion-mnist (folder data/fashion)",
    "mnist": "http://yann.lecun.com/exdb/mnist/ (or any mirror of the four IDX .gz files)",
}


class DataError(ValueError):
    """A dataset file exists but is not a valid IDX file of the expected kind."""


class DatasetNotFoundError(FileNotFoundError):
    """No copy of the dataset was found and it could not be downloaded."""


@dataclass(frozen=True)
class Dataset:
    """A dataset split into training and test parts.

    Attributes:
        name: The dataset's name, ``"fashion-mnist"`` or ``"mnist"``.
        x_train: Training images, float32 in ``[0, 1]``, shape ``(60000, 28, 28)``.
        y_train: Training labels, uint8, shape ``(60000,)``.
        x_test: Test images, float32 in ``[0, 1]``, shape ``(10000, 28, 28)``.
        y_test: Test labels, uint8, shape ``(10000,)``.
        class_names: One name per label value.
        source: Where the files were read from.
    """

    name: str
    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    class_names: tuple[str, ...]
    source: str

    def __post_init__(self) -> None:
        for split in ("train", "test"):
            images, labels = getattr(self, f"x_{split}"), getattr(self, f"y_{split}")
            if labels.shape != (len(images),):
                raise DataError(
                    f"{self.name}: {len(images)} {split} images but labels of shape "
                    f"{labels.shape}; each image needs exactly one label."
                )

    def __iter__(self) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        """Unpack like Keras: ``(x_train, y_train), (x_test, y_test) = dataset``."""
        return iter(((self.x_train, self.y_train), (self.x_test, self.y_test)))


FASHION_MNIST_CLASSES = (
    "T-shirt/top",
    "Trouser",
    "Pullover",
    "Dress",
    "Coat",
    "Sandal",
    "Shirt",
    "Sneaker",
    "Bag",
    "Ankle boot",
)
MNIST_CLASSES = tuple(str(digit) for digit in range(10))


def read_idx(path: str | os.PathLike) -> np.ndarray:
    """Reads one gzipped IDX file (the format of MNIST and Fashion-MNIST).

    Args:
        path: A ``.gz`` file holding an IDX array of unsigned bytes.

    Returns:
        The array, uint8, with the shape stored in the file's header.

    Raises:
        FileNotFoundError: If the file does not exist.
        DataError: If the file is not gzip, is truncated, has a wrong magic number, or its
            size does not match its header.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"IDX file not found: {path}")
    try:
        with gzip.open(path, "rb") as handle:
            raw = handle.read()
    except (OSError, EOFError, zlib.error) as error:
        raise DataError(
            f"{path} is not a readable gzip file ({error}); it may be truncated or "
            "corrupt: delete it and download it again."
        ) from error
    if len(raw) < 4:
        raise DataError(f"{path} is too short to be an IDX file ({len(raw)} bytes).")
    zero1, zero2, dtype_code, ndim = raw[0], raw[1], raw[2], raw[3]
    if zero1 != 0 or zero2 != 0 or dtype_code != 0x08 or ndim not in (1, 3):
        magic = struct.unpack(">I", raw[:4])[0]
        raise DataError(
            f"{path} has magic number {magic}, expected 2049 (labels) or 2051 (images) "
            "for an IDX file of unsigned bytes."
        )
    header_size = 4 + 4 * ndim
    if len(raw) < header_size:
        raise DataError(f"{path} is truncated inside its header.")
    shape = struct.unpack(">" + "I" * ndim, raw[4:header_size])
    expected = int(np.prod(shape))
    actual = len(raw) - header_size
    if actual != expected:
        raise DataError(
            f"{path} holds {actual} bytes of data but its header announces shape {shape} "
            f"({expected} bytes); the file is truncated or corrupt."
        )
    return np.frombuffer(raw, dtype=np.uint8, offset=header_size).reshape(shape)


def _keras_cache_dir() -> Path:
    keras_home = os.environ.get("KERAS_HOME")
    base = Path(keras_home) if keras_home else Path.home() / ".keras"
    return base / "datasets"


def _folder_with_files(folder: Path, name: str) -> Path | None:
    """Returns the folder holding all four IDX files, looking in ``folder/name`` first."""
    for candidate in (folder / name, folder):
        if all((candidate / filename).is_file() for filename in IDX_FILES.values()):
            return candidate
    return None


def find_dataset_files(name: str, data_dir: str | os.PathLike | None = None) -> Path | None:
    """Finds a local folder holding the four IDX files of a dataset.

    Args:
        name: ``"fashion-mnist"`` or ``"mnist"``.
        data_dir: A folder to search instead of the default places.

    Returns:
        The folder, or ``None`` if no local copy was found (the caller may download).

    Raises:
        DatasetNotFoundError: If ``data_dir`` (or ``$VAEBOOK_DATA``) names a folder that
            does not hold the files: a folder the user named is never silently skipped.
    """
    _check_name(name)
    named = data_dir if data_dir is not None else os.environ.get(DATA_ENV_VAR) or None
    if named is not None:
        folder = Path(named).expanduser()
        found = _folder_with_files(folder, name)
        if found is None:
            origin = "data_dir" if data_dir is not None else f"${DATA_ENV_VAR}"
            raise DatasetNotFoundError(_not_found_message(name, [folder, folder / name], origin))
        return found
    return _folder_with_files(_keras_cache_dir(), name)


def _check_name(name: str) -> None:
    if name not in _DOWNLOAD_HINT:
        raise ValueError(f"Unknown dataset {name!r}; expected 'fashion-mnist' or 'mnist'.")


def _not_found_message(name: str, searched: list[Path], origin: str) -> str:
    files = ", ".join(IDX_FILES.values())
    places = "; ".join(str(path) for path in searched)
    return (
        f"The {name} dataset was not found ({origin} searched: {places}). "
        f"Put the four files {files} in a folder and either pass data_dir=FOLDER or set "
        f"{DATA_ENV_VAR}=FOLDER (the files may also sit in FOLDER/{name}/). "
        f"They can be downloaded from {_DOWNLOAD_HINT[name]}; when online, leave both "
        "unset and Keras downloads them into its cache."
    )


def _read_folder(folder: Path) -> dict[str, np.ndarray]:
    arrays = {key: read_idx(folder / filename) for key, filename in IDX_FILES.items()}
    for key, array in arrays.items():
        want_ndim = 3 if key.startswith("x") else 1
        if array.ndim != want_ndim or array.shape[0] != _EXPECTED_COUNT[key]:
            raise DataError(
                f"{folder / IDX_FILES[key]} has shape {array.shape}; expected "
                f"{_EXPECTED_COUNT[key]} {'images' if want_ndim == 3 else 'labels'}."
            )
        if want_ndim == 3 and array.shape[1:] != (28, 28):
            raise DataError(f"{folder / IDX_FILES[key]} holds images of shape {array.shape[1:]}.")
    return arrays


def check_identity(name: str, arrays: dict[str, np.ndarray], source: str) -> None:
    """Checks that the arrays read are the original files of dataset ``name``.

    Labels must lie in 0-9, and each array's content must have the SHA-256 of the
    original file's content (whatever its gzip wrapper). Fashion-MNIST's files where
    MNIST's were expected (the two share file names) are refused by name.

    Args:
        name: ``"fashion-mnist"`` or ``"mnist"``.
        arrays: ``x_train``, ``y_train``, ``x_test`` and ``y_test`` as read (uint8).
        source: Where they were read from, for the message.

    Raises:
        DataError: Naming the file and what is wrong with it.
    """
    _check_name(name)
    for key in ("y_train", "y_test"):
        labels = np.asarray(arrays[key])
        if labels.size and labels.max() > 9:
            wrong = np.unique(labels[labels > 9])[:5].tolist()
            raise DataError(
                f"{source}: {IDX_FILES[key]} holds labels outside 0-9 (for example "
                f"{wrong}); {name} has ten classes. The file is modified or of another "
                "dataset: use the original files."
            )
    digests = {
        key: hashlib.sha256(np.ascontiguousarray(arrays[key]).tobytes()).hexdigest()
        for key in IDX_FILES
    }
    if digests == _CONTENT_SHA256[name]:
        return
    for other, expected in _CONTENT_SHA256.items():
        if other != name and digests == expected:
            raise DataError(
                f"{source} holds the files of {other}, not of {name}: the two datasets "
                f"share file names. Put each dataset's four files in a folder of its own "
                f"(for example DATA/{name}/ and DATA/{other}/) and point to the right one."
            )
    wrong = [IDX_FILES[key] for key in IDX_FILES if digests[key] != _CONTENT_SHA256[name][key]]
    raise DataError(
        f"{source}: {', '.join(wrong)} {'is' if len(wrong) == 1 else 'are'} not the "
        f"original {name} file{'' if len(wrong) == 1 else 's'} (the content's SHA-256 "
        "differs from the published data's). The file may be modified, re-encoded or of "
        "another dataset: download the original files again."
    )


def _download(name: str) -> tuple[dict[str, np.ndarray], str]:
    """Downloads through ``keras.datasets`` into Keras' cache."""
    import keras  # Imported here: reading local files needs no TensorFlow.

    cache = _keras_cache_dir()
    existing = next(folder for folder in (cache, *cache.parents) if folder.exists())
    if not os.access(existing, os.W_OK):
        # Keras would otherwise switch silently to a temporary folder and download there.
        raise DatasetNotFoundError(
            f"Keras' dataset cache {cache} is not writable ({existing} is read-only), so "
            f"the {name} dataset cannot be downloaded into it. Set KERAS_HOME to a "
            f"writable folder, or {DATA_ENV_VAR} to a folder that holds the four files."
        )
    module = keras.datasets.fashion_mnist if name == "fashion-mnist" else keras.datasets.mnist
    try:
        (x_train, y_train), (x_test, y_test) = module.load_data()
    except Exception as error:  # noqa: BLE001 - any failure means "not available".
        message = _not_found_message(name, [_keras_cache_dir() / name], "Keras' cache")
        raise DatasetNotFoundError(f"{message} The download failed: {error}") from error
    arrays = {"x_train": x_train, "y_train": y_train, "x_test": x_test, "y_test": y_test}
    return arrays, f"keras.datasets ({_keras_cache_dir()})"


def _load(name: str, data_dir: str | os.PathLike | None, class_names: tuple[str, ...]) -> Dataset:
    folder = find_dataset_files(name, data_dir)
    if folder is not None:
        arrays, source = _read_folder(folder), str(folder)
    else:
        arrays, source = _download(name)
    check_identity(name, arrays, source)
    return Dataset(
        name=name,
        x_train=arrays["x_train"].astype(np.float32) / 255.0,
        y_train=np.asarray(arrays["y_train"], dtype=np.uint8),
        x_test=arrays["x_test"].astype(np.float32) / 255.0,
        y_test=np.asarray(arrays["y_test"], dtype=np.uint8),
        class_names=class_names,
        source=source,
    )


def load_fashion_mnist(data_dir: str | os.PathLike | None = None) -> Dataset:
    """Loads the full Fashion-MNIST dataset (Xiao, Rasul & Vollgraf, 2017).

    Args:
        data_dir: A folder holding the four IDX ``.gz`` files (directly or in a
            ``fashion-mnist/`` subfolder). Defaults to ``$VAEBOOK_DATA``, then Keras'
            cache, then a download.

    Returns:
        A :class:`Dataset` with float32 images in ``[0, 1]`` of shape ``(n, 28, 28)``.

    Raises:
        DatasetNotFoundError: If no copy is found and the download fails.
        DataError: If a file is corrupt, truncated or of the wrong kind.

    Example:
        >>> data = load_fashion_mnist()  # doctest: +SKIP
        >>> data.x_train.shape, data.x_train.dtype
        ((60000, 28, 28), dtype('float32'))
    """
    return _load("fashion-mnist", data_dir, FASHION_MNIST_CLASSES)


def load_mnist(data_dir: str | os.PathLike | None = None) -> Dataset:
    """Loads the full MNIST dataset of handwritten digits (LeCun et al., 1998).

    Args:
        data_dir: A folder holding the four IDX ``.gz`` files (directly or in an
            ``mnist/`` subfolder). Defaults to ``$VAEBOOK_DATA``, then Keras' cache,
            then a download.

    Returns:
        A :class:`Dataset` with float32 images in ``[0, 1]`` of shape ``(n, 28, 28)``.

    Raises:
        DatasetNotFoundError: If no copy is found and the download fails.
        DataError: If a file is corrupt, truncated or of the wrong kind.
    """
    return _load("mnist", data_dir, MNIST_CLASSES)


def first_of_each_class(labels: np.ndarray) -> np.ndarray:
    """Index of the first example of each class, in class order (for figures).

    Args:
        labels: Integer labels, shape ``(n,)``.

    Returns:
        One index per class present, shape ``(num_classes,)``.

    Example:
        >>> first_of_each_class(np.array([2, 0, 2, 1, 0]))
        array([1, 3, 0])
    """
    labels = check_labels(labels)
    classes, first = np.unique(labels, return_index=True)
    return first[np.argsort(classes)]


def binarize(images: np.ndarray, seed: int | np.random.Generator | None = 0) -> np.ndarray:
    """Samples binary images with each pixel on with probability equal to its intensity.

    This is *dynamic* binarisation: call it again (with another seed) for a fresh draw,
    for instance once per epoch, so that a model sees many binary versions of each image.

    Args:
        images: Float array with values in ``[0, 1]``.
        seed: A seed or a NumPy generator, for reproducible draws.

    Returns:
        A float32 array of zeros and ones with the shape of ``images``.

    Raises:
        ValueError: If ``images`` is not floating point, holds NaN, or leaves ``[0, 1]``.
    """
    images = as_images(images, name="images")
    if not isinstance(seed, np.random.Generator) and seed is not None:
        seed = check_non_negative_int(seed, "seed")
    rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)
    return (rng.random(images.shape, dtype=np.float32) < images).astype(np.float32)


def validation_split(
    images: np.ndarray,
    labels: np.ndarray,
    size: int = 10_000,
    seed: int = 0,
) -> tuple[tuple[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]:
    """Holds out a random validation set from the training images.

    Choices that a learning curve guides (the number of epochs, a regulariser's
    strength) are made on these held-out training images, so that the test set is
    touched once, for the number a chapter reports.

    Args:
        images: Training images, shape ``(n, 28, 28)``, values in ``[0, 1]``.
        labels: Their labels, shape ``(n,)``.
        size: How many images to hold out, between 1 and ``n - 1``.
        seed: Seed of the random choice; the same seed holds out the same images.

    Returns:
        ``(x_fit, y_fit), (x_val, y_val)``: the images left to train on and the
        held-out ones, each in their original order.

    Raises:
        ValueError: If the shapes disagree or ``size`` leaves no image on a side.

    Example:
        >>> x, y = np.zeros((10, 28, 28), np.float32), np.arange(10) % 3
        >>> (x_fit, y_fit), (x_val, y_val) = validation_split(x, y, size=4)
        >>> x_fit.shape, x_val.shape
        ((6, 28, 28), (4, 28, 28))
    """
    images = as_images(images, name="images")
    labels = check_labels(labels, length=len(images))
    size = check_positive_int(size, "size")
    seed = check_non_negative_int(seed, "seed")
    if size >= len(images):
        raise ValueError(
            f"size={size} would hold out all {len(images)} images; leave at least one to train on."
        )
    held_out = np.zeros(len(images), dtype=bool)
    held_out[np.random.default_rng(seed).choice(len(images), size, replace=False)] = True
    return (images[~held_out], labels[~held_out]), (images[held_out], labels[held_out])


FACES_SOURCE = "scikit-image's skimage.data.lfw_subset()"


def load_faces(test_size: int = 20, seed: int = 0) -> Dataset:
    """The 100 face images of scikit-image's LFW subset, split into training and test.

    ``skimage.data.lfw_subset()`` ships 200 grey images of 25 x 25 pixels inside the
    scikit-image package (no download): 100 faces cropped from Labeled Faces in the
    Wild, then 100 patches that are not faces. Only the faces are used here, the
    patch size Hinton & Salakhutdinov used for their face images, though they had
    about 100,000 of them: this set can show what a hundred images can and cannot
    teach an autoencoder.

    Args:
        test_size: How many faces, drawn at random, are held out as the test set.
        seed: Seed of that draw.

    Returns:
        A :class:`Dataset` named ``"lfw-faces"``, images float32 in ``[0, 1]``, every
        label 0 (``class_names == ("face",)``).

    Raises:
        DatasetNotFoundError: If scikit-image is not installed (it is an optional
            dependency: ``pip install scikit-image``, or ``pip install "vaebook[faces]"``;
            Colab has it).
        ValueError: If ``test_size`` leaves no face on one side.
    """
    try:
        from skimage.data import lfw_subset
    except ImportError as error:
        raise DatasetNotFoundError(
            "The face images come with scikit-image, which is not installed: run "
            '`pip install scikit-image` (or `pip install "vaebook[faces]"`) and load '
            "them again."
        ) from error
    faces = np.asarray(lfw_subset()[:100], dtype=np.float32)  # (100, 25, 25)
    labels = np.zeros(len(faces), dtype=np.uint8)
    (x_train, y_train), (x_test, y_test) = validation_split(faces, labels, test_size, seed)
    return Dataset(
        name="lfw-faces",
        x_train=x_train,
        y_train=y_train.astype(np.uint8),
        x_test=x_test,
        y_test=y_test.astype(np.uint8),
        class_names=("face",),
        source=FACES_SOURCE,
    )
