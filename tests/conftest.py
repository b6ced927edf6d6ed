"""Shared fixtures: built-in datasets loaded once per session (loading is offline and cheap, but not free)."""
import pytest

from core.training.data import load_builtin


@pytest.fixture(scope="session")
def iris():
    return load_builtin("iris")


@pytest.fixture(scope="session")
def synthetic_data():
    return load_builtin("synthetic")
