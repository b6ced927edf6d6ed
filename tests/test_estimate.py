"""The time estimate shown before a run: it scales with the work a configuration asks for."""
from dataclasses import replace

import pytest

from core import ExplainConfig, MLPConfig, RunConfig, SklearnConfig, estimate_seconds, load_builtin
from core.estimate import _FIXED
from core.format import duration

DATA = load_builtin("breast_cancer")


def work(run: RunConfig, explain: ExplainConfig = ExplainConfig()) -> float:
    return estimate_seconds(DATA, run, explain) - _FIXED


def test_estimate_is_linear_in_the_number_of_models():
    explain = ExplainConfig(noise_floor=False)
    assert work(RunConfig(n_models=200), explain) == pytest.approx(20 * work(RunConfig(n_models=10), explain))


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
