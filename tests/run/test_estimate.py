"""The time estimate shown before a run: it scales with the work a configuration asks for."""
from dataclasses import replace

import pytest

from core import (PRESETS, ExplainConfig, MLPConfig, RunConfig, SklearnConfig, estimate_seconds, load_builtin,
                  machine_speed)
from core.run.estimate import _FIXED
from core.format import duration

DATA = load_builtin("breast_cancer")
DEMO = "Breast cancer: 10 neural nets, vary init + order"


def work(run: RunConfig, explain: ExplainConfig = ExplainConfig()) -> float:
    return estimate_seconds(DATA, run, explain) - _FIXED


@pytest.mark.parametrize("run, explain, measured", [
    # bench/compare_bench.py on the 2-core reference machine, 2026-12-03 (three runs: full 6.3-7.2 s,
    # demo 4.0-5.9 s, 200 models 85-95 s)
    (RunConfig(), ExplainConfig(max_rows=10_000), 6.9),
    (PRESETS[DEMO].run, PRESETS[DEMO].explain, 5.0),
    (RunConfig(n_models=200), ExplainConfig(max_rows=10_000), 92.0),
])
def test_estimate_is_within_a_third_of_the_measured_time_of_the_bench_comparisons(run, explain, measured):
    assert measured / 1.33 <= estimate_seconds(DATA, run, explain) <= measured * 1.33


def test_estimate_grows_with_models_and_faster_than_linearly_only_through_the_pairs():
    explain = ExplainConfig(noise_floor=False)
    ten, hundred, two_hundred = (work(RunConfig(n_models=n), explain) for n in (10, 100, 200))
    assert ten < hundred < two_hundred < 2.2 * hundred  # fixed step costs, then pairs of models


def test_estimate_grows_with_samples_epochs_rows_and_trees():
    run = RunConfig()
    assert work(run, ExplainConfig(kernel_samples=4096)) > work(run, ExplainConfig(kernel_samples=512))
    assert work(run, ExplainConfig(lime_samples=10_000)) > work(run, ExplainConfig(lime_samples=5000))
    assert work(run, ExplainConfig(max_rows=140)) > work(run, ExplainConfig(max_rows=50))
    assert work(replace(run, mlp=MLPConfig(epochs=200))) > work(run)
    forest = RunConfig(family="random_forest")
    methods = ExplainConfig(methods=("tree_shap", "kernel_shap"))
    assert work(replace(forest, sklearn=SklearnConfig(n_estimators=300)), methods) > work(forest, methods)


def test_estimate_counts_only_methods_the_family_can_run():
    forest = RunConfig(family="random_forest")
    with_gradients = ExplainConfig(methods=("kernel_shap", "integrated_gradients"))
    assert work(forest, with_gradients) == work(forest, ExplainConfig(methods=("kernel_shap",)))


@pytest.mark.parametrize("seconds, text", [(0.2, "about 1 s"), (42.4, "about 42 s"), (185, "about 3 min")])
def test_duration_reads_in_seconds_then_minutes(seconds, text):
    assert duration(seconds) == text


def test_a_timed_run_scales_the_next_estimates_to_this_machine():
    run, explain = RunConfig(), ExplainConfig()
    reference = estimate_seconds(DATA, run, explain)
    speed = machine_speed(reference, reference / 2)  # this machine took half the reference time
    assert speed == pytest.approx(0.5)
    assert estimate_seconds(DATA, run, explain, speed=speed) == pytest.approx(reference / 2)
    assert machine_speed(reference, 2 * reference, previous=0.5) == pytest.approx(1.0)  # geometric mean with the last
    assert machine_speed(reference, 100 * reference) == 4.0  # slowed by something else: counted at most 4x
    assert machine_speed(reference, reference / 100) == 0.25
    assert machine_speed(1.0, 10.0, previous=0.7) == 0.7  # a run of fixed costs says nothing about speed
    assert machine_speed(1.0, 10.0) is None
