"""One independent random generator per source of randomness.

Every random draw in SeedScope comes from here. A generator is derived from
(base seed, purpose, index) with numpy's SeedSequence, so streams for different
purposes never overlap and varying one source of randomness (say the batch
order) leaves every other stream (the initial weights, the split, ...) bit for
bit as it was.
"""
from __future__ import annotations

import hashlib

import numpy as np

SOURCES: tuple[str, ...] = ("init", "order", "dropout", "split", "bootstrap")
SOURCE_HELP: dict[str, str] = {
    "init": "initial weights (for scikit-learn models: their random_state)",
    "order": "the order in which mini-batches visit the training rows",
    "dropout": "which units dropout switches off at each step",
    "split": "which rows go to the training set and which to the test set (half of the test rows stay "
             "shared by all models, so their predictions can be compared)",
    "bootstrap": "training rows resampled with replacement",
}


def _purpose_key(purpose: str) -> int:
    # A stable integer for a purpose name (Python's hash() is salted per process).
    return int.from_bytes(hashlib.sha256(purpose.encode()).digest()[:4], "little")


def seed_sequence(base_seed: int, purpose: str, index: int = 0) -> np.random.SeedSequence:
    return np.random.SeedSequence(entropy=int(base_seed), spawn_key=(_purpose_key(purpose), int(index)))


def numpy_generator(base_seed: int, purpose: str, index: int = 0) -> np.random.Generator:
    """A numpy Generator for one purpose; same arguments, same stream."""
    return np.random.Generator(np.random.PCG64(seed_sequence(base_seed, purpose, index)))


def torch_generator(base_seed: int, purpose: str, index: int = 0) -> "torch.Generator":
    """A CPU torch.Generator for one purpose; same arguments, same stream."""
    import torch  # on first use: `core` loads without torch (the app's first page, the CLI's start-up)

    seed = int(seed_sequence(base_seed, purpose, index).generate_state(1, np.uint64)[0] >> 1)
    return torch.Generator().manual_seed(seed)


def int_seed(base_seed: int, purpose: str, index: int = 0) -> int:
    """A 31-bit integer seed, for libraries that take `random_state=int` (scikit-learn, lime)."""
    return int(seed_sequence(base_seed, purpose, index).generate_state(1, np.uint32)[0] >> 1)


def source_index(source: str, model: int, varied: frozenset[str]) -> int:
    """The stream index of `source` for model number `model`.

    A varied source gets one stream per model; a fixed source shares stream 0,
    so every model sees the same draws from it.
    """
    return model if source in varied else 0


def random_state(seed: int) -> np.random.RandomState:
    """A legacy numpy RandomState from a seed drawn here (int_seed), for a library written against
    np.random's functions (shap's KernelExplainer; see core.explainers.shap_lime)."""
    return np.random.RandomState(seed % 2**32)
