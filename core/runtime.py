"""What every long computation shares: progress callbacks and a deterministic numeric runtime.

Thread counts of torch and of the BLAS under numpy are process-wide, and Streamlit runs every
session as a thread of one process. A kernel may split its work differently with another thread
count, and so round differently (shap's KernelSHAP regression gave values 1e-17 apart in a worker
thread). So:
- BLAS runs on one thread in any process that imports SeedScope, fixed once here. OpenBLAS does
  not reliably honour a limit that is set and restored from several threads, and the numpy work
  here (LIME's and KernelSHAP's small solves, k-means) gains nothing from BLAS threads.
- torch computes inside `deterministic()`: the first caller in fixes its thread count (one thread
  per operation) and deterministic kernels, the last one out restores them, so no session's exit
  changes the threads another session is still computing with.
- A computation uses several cores by sharing its independent pieces of work out among WORKERS
  threads of its own (`spread`), never by splitting one operation.
"""
from __future__ import annotations

import contextlib
import importlib.metadata
import platform
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Callable, Sequence, TypeVar

from threadpoolctl import threadpool_limits

Progress = Callable[[float, str], None]
Item, Result, Value = TypeVar("Item"), TypeVar("Result"), TypeVar("Value")

# Cores a computation uses (its `spread` threads; a cluster task asks for as many), and torch's
# threads per operation. Splitting each operation over two threads made it wait for the slower one:
# on a shared machine a neighbour slows one core for seconds at a time, and the breast-cancer
# KernelSHAP took 1.3-1.5 s so, against 0.9-1.0 s with its passes shared out as each thread is free.
WORKERS = 2
TORCH_THREADS = 1
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
    import torch  # on first use: `core` loads without torch (the app's first page, the CLI's start-up)

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


def spread(work: Callable[[Item], Result], items: Sequence[Item], *,
           done: Callable[[int], None] | None = None) -> list[Result]:
    """[work(item) for item in items], the items shared out among WORKERS threads, each taking the
    next as it finishes one; results in item order, done(n) called in this thread as the first n are in.

    An item's error is raised once the items before it are in, and no item not yet started starts.
    The items must be independent (disjoint outputs, per-thread buffers: `per_thread`). Each runs
    inside `deterministic`, one torch thread per operation, so it gets exactly the numbers it gets
    alone, whichever thread runs it and in whatever order. This thread only waits and reports, so
    callbacks that must run in it (Streamlit's progress) can.
    """
    with deterministic():
        if len(items) < 2 or WORKERS < 2:
            results = []
            for item in items:
                results.append(work(item))
                if done:
                    done(len(results))
            return results
        with ThreadPoolExecutor(min(WORKERS, len(items))) as pool:
            futures = [pool.submit(work, item) for item in items]
            try:
                results = []
                for future in futures:
                    results.append(future.result())
                    if done:
                        done(len(results))
                return results
            finally:
                for future in futures:
                    future.cancel()  # after an error (or a progress callback's), start no more items


def per_thread(make: Callable[[], Value]) -> Callable[[], Value]:
    """A getter of the calling thread's own make(), made on its first call: buffers that each of
    spread's threads reuses from one item to the next."""
    local = threading.local()

    def get() -> Value:
        if not hasattr(local, "value"):
            local.value = make()
        return local.value
    return get


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


class Cancelled(Exception):
    """Raised through a Job's progress callback once the job is cancelled: the computation stops there."""


class Job:
    """A computation run in a thread of its own, so that it outlives whoever started it (a page's script
    run, which Streamlit stops when the user clicks elsewhere): it keeps its progress, its result or
    error, and can be cancelled.

    work(progress) -> result, progress being a Progress callback that the computation calls as it goes;
    once `cancel()` is called, the next report raises Cancelled inside the work, which stops it there.
    estimate: expected seconds, for the time left (None: unknown). The thread runs nothing but `work`.
    """

    def __init__(self, work: Callable[[Progress], Value], *, label: str, estimate: float | None = None):
        self.label, self.estimate = label, estimate
        self.fraction, self.message = 0.0, "Starting…"
        self.started = time.perf_counter()
        self.first_report: float | None = None  # when the work first reported (before: waiting on a lock or a cache)
        self.ended: float | None = None
        self.crowded = False  # another computation ran beside it at some report: its timing says little
        self.result: Value | None = None
        self.error: BaseException | None = None
        self._cancel, self._done = threading.Event(), threading.Event()
        self._thread = threading.Thread(target=self._run, args=(work,), name="seedscope-job", daemon=True)
        self._thread.start()

    def _progress(self, fraction: float, message: str) -> None:
        if self._cancel.is_set():
            raise Cancelled()
        now = time.perf_counter()
        self.first_report = self.first_report or now
        self.crowded = self.crowded or computations() > 1
        self.fraction, self.message = min(max(fraction, 0.0), 1.0), message

    def _run(self, work) -> None:
        try:
            self.result = work(self._progress)
        except BaseException as exc:  # kept for whoever takes the job; a thread has no one to raise to
            self.error = exc
        finally:
            self.ended = time.perf_counter()
            self._done.set()

    @property
    def done(self) -> bool:
        return self._done.is_set()

    @property
    def cancelled(self) -> bool:
        return isinstance(self.error, Cancelled)

    def cancel(self) -> None:
        self._cancel.set()

    def wait(self, seconds: float) -> bool:
        """Wait up to `seconds` for the job to end; whether it has."""
        return self._done.wait(seconds)

    def seconds_left(self) -> float | None:
        """Time left by the estimate (at least 0), or None without one."""
        if self.estimate is None:
            return None
        return max(self.estimate - (time.perf_counter() - self.started), 0.0)
