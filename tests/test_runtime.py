"""The runtime every long computation shares: work shared out among threads, deterministic torch."""
import threading
import time

import pytest
import torch

from core import runtime
from core.errors import ConfigError
from core.runtime import spread


def test_spread_returns_results_in_item_order_and_reports_them_in_the_calling_thread():
    caller, seen = threading.get_ident(), []

    def work(i):
        time.sleep(0.01 * (5 - i))  # the later items finish first
        return i * i, threading.get_ident()

    results = spread(work, list(range(6)), done=lambda n: seen.append((n, threading.get_ident())))
    assert [square for square, _ in results] == [0, 1, 4, 9, 16, 25]
    assert len({thread for _, thread in results}) == runtime.WORKERS  # shared out, not run in turn
    assert seen == [(n, caller) for n in range(1, 7)]


def test_spread_raises_an_items_error_and_starts_no_more_items():
    started = []

    def work(i):
        started.append(i)
        if i == 0:
            raise ValueError("item 0 failed")
        time.sleep(0.05)

    with pytest.raises(ValueError, match="item 0 failed"):
        spread(work, list(range(40)))
    assert len(started) < 40


def test_spread_computes_each_operation_on_one_torch_thread_and_restores_torch_after():
    threads, strict = torch.get_num_threads(), torch.are_deterministic_algorithms_enabled()
    inside = spread(lambda _: (torch.get_num_threads(), torch.are_deterministic_algorithms_enabled()), [0, 1, 2])
    assert inside == [(runtime.TORCH_THREADS, True)] * 3
    assert (torch.get_num_threads(), torch.are_deterministic_algorithms_enabled()) == (threads, strict)


def test_spread_with_one_worker_runs_every_item_in_the_calling_thread(monkeypatch):
    monkeypatch.setattr(runtime, "WORKERS", 1)
    caller = threading.get_ident()
    assert spread(lambda i: (i, threading.get_ident()), [0, 1, 2]) == [(0, caller), (1, caller), (2, caller)]


def test_a_job_keeps_its_work_s_result_and_error_for_whoever_takes_it():
    from core.runtime import Job

    job = Job(lambda progress: (progress(0.5, "half way"), 42)[1], label="answer", estimate=10.0)
    assert job.wait(30) and job.done and job.result == 42 and job.error is None
    assert (job.fraction, job.message) == (0.5, "half way") and job.first_report is not None
    assert 0 <= job.seconds_left() <= 10.0

    def bad(progress):
        raise ConfigError("no such thing")
    failed = Job(bad, label="bad")
    assert failed.wait(30) and isinstance(failed.error, ConfigError) and not failed.cancelled
    assert failed.seconds_left() is None  # no estimate, no time left to tell


def test_cancelling_a_job_stops_a_real_comparison_at_its_next_progress_report():
    import core
    from core.runtime import Job

    ds = core.load_builtin("breast_cancer")
    reports = []

    def work(progress):
        def report(fraction, message):
            reports.append(message)
            progress(fraction, message)
        return core.compare(ds, core.RunConfig(n_models=4, mlp=core.MLPConfig(hidden=(16,), epochs=200)),
                            core.ExplainConfig(methods=("kernel_shap",), max_rows=20), progress=report)
    job = Job(work, label="long")
    while job.first_report is None and not job.done:
        job.wait(0.05)
    job.cancel()
    assert job.wait(60) and job.cancelled and job.result is None
    assert not any(m.startswith("Explaining") for m in reports)  # stopped while training, 200 epochs long
