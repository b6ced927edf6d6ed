"""What every long computation shares: progress callbacks and a deterministic numeric runtime.

Thread counts of torch and of the BLAS under numpy are process-wide, and Streamlit runs every
session as a thread of one process. A kernel may split its work differently with another thread
count, and so round differently (shap's KernelSHAP regression gave values 1e-17 apart in a worker
thread). So:
- BLAS runs on one thread in any process that imports SeedScope, fixed once here. OpenBLAS does
  not reliably honour a limit that is set and restored from several threads, and the numpy work
  here (LIME's and KernelSHAP's small solves, k-means) gains nothing from BLAS threads.
- torch computes inside `deterministic()`: the first caller in fixes its thread count and
  deterministic kernels, the last one out restores them, so no session's exit changes the threads
  another session is still computing with.
"""
from __future__ import annotations

import contextlib
import importlib.metadata
import platform
import threading
import time
from typing import Callable

import torch
from threadpoolctl import threadpool_limits

Progress = Callable[[float, str], None]

# Two threads suit the small batched matmuls of torch here.
TORCH_THREADS = 2
threadpool_limits(1, user_api="blas")

_LOCK = threading.Lock()
_depth: dict[int, int] = {}  # thread -> how deep inside `deterministic` it is; the first in fixes torch
_restore: Callable[[], None] = lambda: None


LIBRARIES = ("numpy", "pandas", "scikit-learn", "torch", "shap", "lime", "streamlit", "altair")


def library_versions() -> dict[str, str]:
    """Versions of Python and of the installed libraries SeedScope computes with."""
    versions = {"python": platform.python_version()}
    for name in LIBRARIES:
        try:
            versions[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            continue
    return versions


def stage(progress: Progress | None, start: float, end: float) -> Progress | None:
    """A progress callback that maps a stage's 0..1 onto start..end of the whole."""
    if progress is None:
        return None
    return lambda fraction, message: progress(start + (end - start) * fraction, message)


PROGRESS_INTERVAL = 0.1  # seconds between two progress reports passed on within a stage


def stage_name(message: str) -> str:
    """The stage a progress message belongs to: its text before any ':' ("Training 10 models: epoch 3/60")."""
    return message.split(":")[0]


def throttled(progress: Progress | None, *, interval: float = PROGRESS_INTERVAL) -> Progress | None:
    """progress, passed at most one report per `interval` seconds: a stage's first report (stage_name
    changed) and a report of completion (fraction 1) always pass. Wrap each stage of a computation
    before mapping it onto its part of a whole (`stage`), so that the stage's completion is seen.

    Drawing a report is not free: the app's server thread turns each one into a message for the
    browser, on the same two cores and under the same GIL as the computation. KernelSHAP reports
    every pass (2,254 reports in the breast-cancer demo), which made the demo's KernelSHAP take
    7-8 s in the browser instead of 2.6-3 s.
    """
    if progress is None:
        return None
    last = {"time": -float("inf"), "stage": None}

    def report(fraction: float, message: str) -> None:
        now, stage = time.monotonic(), stage_name(message)
        if now - last["time"] >= interval or stage != last["stage"] or fraction >= 1.0:
            last.update(time=now, stage=stage)
            progress(fraction, message)
    return report


def _fix_torch() -> Callable[[], None]:
    threads, deterministic_before = torch.get_num_threads(), torch.are_deterministic_algorithms_enabled()
    torch.set_num_threads(TORCH_THREADS)
    torch.use_deterministic_algorithms(True)

    def restore() -> None:
        torch.set_num_threads(threads)
        torch.use_deterministic_algorithms(deterministic_before)
    return restore


def computations() -> int:
    """How many threads compute in this process now (inside `deterministic`): the app's sessions each
    compute in a thread of their own, so more than one means sessions share the cores."""
    with _LOCK:
        return len(_depth)


@contextlib.contextmanager
def deterministic():
    """Deterministic torch kernels and fixed thread counts, so reruns are bit-identical on CPU."""
    global _restore
    thread = threading.get_ident()
    with _LOCK:
        if not _depth:
            _restore = _fix_torch()
        _depth[thread] = _depth.get(thread, 0) + 1  # calls nest: compare enters again in train_models
    try:
        yield
    finally:
        with _LOCK:
            _depth[thread] -= 1
            if not _depth[thread]:
                del _depth[thread]
            if not _depth:
                _restore()
