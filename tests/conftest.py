"""Shared fixtures: the real datasets, found where the README says."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

import vaebook  # noqa: F401  (imports TensorFlow quietly before the tests do)

SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"


@pytest.fixture(scope="session", autouse=True)
def _data_location():
    """Uses $VAEBOOK_DATA, or the shared copy beside the checkout when it is unset."""
    if not os.environ.get("VAEBOOK_DATA") and SHARED_DATA.is_dir():
        os.environ["VAEBOOK_DATA"] = str(SHARED_DATA)
    yield


@pytest.fixture(scope="session")
def fashion():
    from vaebook.data import load_fashion_mnist

    return load_fashion_mnist()


@pytest.fixture(scope="session")
def mnist():
    from vaebook.data import load_mnist

    return load_mnist()
