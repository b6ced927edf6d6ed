"""compare() trains, scores and explains once; summarize(k) derives every view a user sees from that."""
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
import torch

import core
from core.agree import agreement as agr
from core.run.compare import compare, summarize, warm_up
from core.training.data import load_builtin
from core.errors import ConfigError
from core.agree.pairs import agreement_matrix
from core.runtime import PROGRESS_INTERVAL, computations, deterministic, throttled
from core.explainers.registry import ExplainConfig, methods_for
from core.training.config import MLPConfig, RunConfig

TINY_MLP = MLPConfig(hidden=(16,), dropout=0.0, epochs=20, learning_rate=1e-2)
EXPLAIN = ExplainConfig(methods=("kernel_shap", "gradient"), max_rows=10, background_size=5, lime_samples=500)


@pytest.fixture(scope="module")
def progress_log():
    return []


@pytest.fixture(scope="module")
def comparison(iris, progress_log):
    config = RunConfig(n_models=3, seed=0, vary=frozenset({"init"}), mlp=TINY_MLP)
    return compare(iris, config, EXPLAIN, progress=lambda fraction, message: progress_log.append((fraction, message)))


@pytest.fixture(scope="module")
def summary(comparison):
    return summarize(comparison, k=2)


@pytest.fixture(scope="module")
def identical(synthetic_data):
    """Three models trained with no source of randomness varying: the same model three times."""
    config = RunConfig(n_models=3, seed=0, vary=frozenset(), mlp=TINY_MLP)
    explain_config = ExplainConfig(methods=methods_for("mlp"), max_rows=5, background_size=5, kernel_samples=300,
                                   lime_samples=500)
    return compare(synthetic_data, config, explain_config)


def test_comparison_explains_every_model_on_common_test_rows(comparison):
    ex = comparison.explanation
    assert ex.methods == ("kernel_shap", "gradient")
    assert np.isin(ex.rows, comparison.evaluation.rows).all()
    assert len(ex.rows) == EXPLAIN.max_rows
    assert comparison.predictions.shape == (3, len(ex.rows))
    expected = comparison.run.predict_proba(comparison.run.dataset.X[ex.rows]).argmax(axis=-1)
    assert np.array_equal(comparison.predictions, expected)


def test_headline_names_the_model_count_and_the_like_with_like_verdict(summary):
    assert summary.headline_method == "kernel_shap"
    assert summary.by_method["kernel_shap"].between["feature_agreement"] < 0.999  # the models do disagree
    assert summary.headline.startswith("3 models")
    v = summary.by_method["kernel_shap"].verdict
    assert core.verdict_text(v, "kernel_shap", precision=summary.precision) in summary.headline
    # How far it moves with the explainer's seed, once that is a point or more.
    assert ("with the explainer's seed" in summary.headline) == (round(100 * v.seed_spread) >= 1)


def test_summary_has_every_metric_per_method_as_model_by_model_matrices(summary):
    assert set(summary.by_method) == {"kernel_shap", "gradient"}
    for name, agreement in summary.by_method.items():
        assert agreement.method == name
        assert set(agreement.matrices) == set(agr.METRICS)
        assert set(agreement.between) == set(agr.METRICS)
        for metric, matrix in agreement.matrices.items():
            assert matrix.shape == (3, 3)
            np.testing.assert_allclose(matrix, matrix.T)
            np.testing.assert_allclose(np.diag(matrix), 1.0)
            off_diagonal = matrix[~np.eye(3, dtype=bool)]
            assert agreement.between[metric] == pytest.approx(off_diagonal.mean())
    assert all(np.isfinite(v) for v in summary.by_method["kernel_shap"].noise_floor.values())
    assert all(np.isnan(v) for v in summary.by_method["gradient"].noise_floor.values())
    assert set(summary.null) == set(agr.METRICS)
    assert summary.null["feature_agreement"] == pytest.approx(2 / 4)


def test_summary_derives_matrices_row_agreement_and_row_tables_from_every_pairs_scores(comparison, summary):
    ex = comparison.explanation
    first, second = np.triu_indices(3, k=1)
    for name, agreement in summary.by_method.items():
        values = ex.by_method[name].values
        for metric in agr.METRICS:
            scores = np.stack([agr.METRICS[metric].fn(values[a], values[b], k=2) for a, b in zip(first, second)])
            np.testing.assert_allclose(agreement.per_row[metric], scores.mean(axis=0), rtol=0, atol=1e-12)
            np.testing.assert_allclose(agreement.matrices[metric][first, second], scores.mean(axis=1), rtol=0, atol=1e-12)
        np.testing.assert_array_equal(agreement.importance, np.abs(ex.by_method[name].values).mean(axis=1))
    head = summary.by_method[summary.headline_method].per_row["feature_agreement"]
    # Row tables hold dataset row ids, and the same per-row agreement the matrices come from.
    contested = summary.contested.set_index("row")
    np.testing.assert_array_equal(np.sort(contested.index), np.sort(ex.rows))
    np.testing.assert_allclose(contested.loc[ex.rows, "agreement"], head)
    divergent = summary.divergent.set_index("row")
    position = {row: i for i, row in enumerate(ex.rows)}
    np.testing.assert_allclose(divergent["divergence"], [1 - head[position[r]] for r in divergent.index])


def test_summary_carries_method_by_method_matrices_labels_and_the_accuracy_spread(comparison, summary):
    ex = comparison.explanation
    for metric in agr.METRICS:
        for m in range(3):
            expected = agreement_matrix(np.stack([a.values[m] for a in ex.by_method.values()]), metric=metric, k=2)
            np.testing.assert_array_equal(summary.method_matrices[metric][m], expected)
    assert summary.metric_labels["feature_agreement"] == "Feature agreement@k"
    accuracy = comparison.evaluation.accuracy
    assert summary.accuracy_mean == pytest.approx(accuracy.mean())
    assert summary.accuracy_std == pytest.approx(accuracy.std(ddof=1))
    assert summary.accuracy_spread == f"{100 * accuracy.mean():.1f}% ± {100 * accuracy.std(ddof=1):.1f}"
    assert summary.accuracy_spread in summary.headline


def test_summary_without_k_uses_the_datasets_default(comparison):
    assert summarize(comparison).k == 2  # iris: 4 features, so half of them


def test_summary_for_k_above_the_feature_count_raises(comparison):
    with pytest.raises(ConfigError, match="k=5"):
        summarize(comparison, k=5)


@pytest.mark.parametrize("tolerance", [0.0, 0.02, 1.0])
def test_pairs_are_exactly_the_model_pairs_within_the_accuracy_tolerance(comparison, tolerance):
    summary = summarize(comparison, k=2, tolerance=tolerance)
    accuracy = comparison.evaluation.accuracy
    expected = {(a, b) for a in range(3) for b in range(a + 1, 3) if abs(accuracy[a] - accuracy[b]) <= tolerance}
    assert set(zip(summary.pairs.model_a, summary.pairs.model_b)) == expected
    assert (summary.pairs.accuracy_gap <= tolerance + 1e-12).all()
    assert len(summary.all_pairs) == 3
    assert set(zip(summary.all_pairs.model_a[summary.all_pairs.equal_accuracy],
                   summary.all_pairs.model_b[summary.all_pairs.equal_accuracy])) == expected


def test_progress_rises_from_zero_to_one(comparison, progress_log):
    fractions = [fraction for fraction, _ in progress_log]
    assert len(fractions) > 2
    assert all(0.0 <= f <= 1.0 for f in fractions)
    assert all(a <= b for a, b in zip(fractions, fractions[1:]))
    assert fractions[-1] == 1.0
    assert all(isinstance(message, str) and message for _, message in progress_log)


def test_identical_models_get_identical_attributions_from_every_method(identical):
    assert len(set(identical.run.fingerprints)) == 1
    assert set(identical.explanation.methods) == set(methods_for("mlp"))
    for name, attr in identical.explanation.by_method.items():
        for m in range(1, identical.run.n_models):
            assert np.array_equal(attr.values[m], attr.values[0]), name


def test_identical_models_agree_completely_on_every_metric(identical):
    summary = summarize(identical, k=3)
    for name, agreement in summary.by_method.items():
        for metric, matrix in agreement.matrices.items():
            np.testing.assert_array_equal(matrix, 1.0, err_msg=f"{name} {metric}")
            assert agreement.between[metric] == 1.0
    assert "agree completely" in summary.headline


def test_source_spread_attributes_the_spread_to_the_sources_that_vary(iris):
    from core.run.compare import source_spread

    config = RunConfig(n_models=3, seed=0, mlp=TINY_MLP)
    explain_config = ExplainConfig(methods=("gradient",), max_rows=10)
    shares = source_spread(iris, config, explain_config, sources=("init", "dropout"), k=2).set_index("source")
    # TINY_MLP has no dropout, so varying only the dropout masks changes nothing: identical models.
    assert shares.loc["dropout", "accuracy_std"] == 0 and shares.loc["dropout", "disagreement"] == 0
    assert shares.loc["init", "disagreement"] > 0
    assert shares.loc["init", "disagreement_share"] == pytest.approx(1.0)
    # Dropout moved nothing, so whatever accuracy spread there is belongs to init.
    assert shares.loc["init", "accuracy_std"] > 0
    assert shares.loc["init", "accuracy_share"] == pytest.approx(1.0)


def test_source_spread_measures_the_split_even_with_many_models(iris):
    from core.run.compare import source_spread

    config = RunConfig(n_models=12, seed=0, mlp=TINY_MLP)  # 12 independent splits would share no test row
    shares = source_spread(iris, config, ExplainConfig(methods=("gradient",), max_rows=5), sources=("init", "split"),
                           k=2).set_index("source")
    assert (shares["note"] == "").all()
    assert shares.loc["split", "disagreement"] > 0


def test_summary_carries_the_seed_budget_and_the_gate_reads_the_same_interval(comparison, summary):
    from core.views.gate import release_gate

    budget = summary.budget
    assert budget.agreement.estimate == pytest.approx(summary.by_method["kernel_shap"].between["feature_agreement"])
    assert budget.agreement.lo <= budget.agreement.estimate <= budget.agreement.hi
    assert f"95% CI {100 * budget.agreement.lo:.0f}-{100 * budget.agreement.hi:.0f}%" in summary.headline
    assert set(budget.curve.quantity) == {"agreement", "accuracy_std", "ambiguity"}
    assert sorted(set(budget.curve.n)) == [2, 3]
    (criterion,) = release_gate(summary, seed=comparison.explanation.config.seed, min_agreement=0.0)
    assert criterion.interval == budget.agreement and criterion.passed


def test_progress_passes_each_stage_start_and_completion_but_throttles_the_rest():
    seen = []
    report = throttled(lambda fraction, message: seen.append((fraction, message)), interval=3600)
    for i in range(100):
        report(i / 100, "Explaining 3 models with KernelSHAP")
    report(0.0, "Training 3 models: epoch 1/5")
    report(0.5, "Training 3 models: epoch 2/5")  # the same stage, so within the hour: dropped
    report(1.0, "Explanations done")
    assert seen == [(0.0, "Explaining 3 models with KernelSHAP"), (0.0, "Training 3 models: epoch 1/5"),
                    (1.0, "Explanations done")]
    assert throttled(None) is None


def test_a_comparison_reports_progress_a_few_times_a_second_not_once_per_pass():
    """Training reports every epoch and KernelSHAP every pass over its coalitions (2,000 coalitions of
    breast_cancer's 30 features, about 150 passes here); a few of those a second reach the caller."""
    seen = []
    config = RunConfig(n_models=3, seed=0, vary=frozenset({"init"}), mlp=TINY_MLP)
    explain_config = ExplainConfig(methods=("kernel_shap",), max_rows=30, background_size=5, kernel_samples=2000,
                                   noise_floor=False)
    start = time.monotonic()
    compare(load_builtin("breast_cancer"), config, explain_config,
            progress=lambda fraction, message: seen.append((time.monotonic(), message)))
    elapsed = time.monotonic() - start
    stages = {message.split(":")[0] for _, message in seen}
    assert len(seen) <= elapsed / PROGRESS_INTERVAL + 2 * len(stages) + 1
    explaining = [t for t, message in seen if message.startswith("Explaining")]
    # Timed by the callback, a moment after the throttle's own clock: a few milliseconds of slack.
    assert all(b - a >= PROGRESS_INTERVAL - 0.01 for a, b in zip(explaining, explaining[1:-1]))


def test_computations_counts_threads_computing_not_nested_calls():
    inside = threading.Event()
    release = threading.Event()

    def other_session():
        with deterministic():
            inside.set()
            release.wait(10)

    assert computations() == 0
    with deterministic(), deterministic():  # compare enters again in train_models
        assert computations() == 1
        with ThreadPoolExecutor(1) as pool:
            done = pool.submit(other_session)
            inside.wait(10)
            assert computations() == 2
            release.set()
            done.result()
        assert computations() == 1
    assert computations() == 0


def test_warm_up_runs_a_real_comparison_and_leaves_the_process_as_it_found_it():
    threads, strict = torch.get_num_threads(), torch.are_deterministic_algorithms_enabled()
    warm_up()
    assert (torch.get_num_threads(), torch.are_deterministic_algorithms_enabled()) == (threads, strict)
    assert computations() == 0
    assert "torch._dynamo" in sys.modules  # what torch.optim imports on first use, now done


def test_lime_normals_drawn_ahead_while_the_models_train_give_the_values_drawn_as_lime_explains(monkeypatch, iris):
    from core.explainers import methods as explain_module

    config = ExplainConfig(methods=("lime",), max_rows=6, lime_samples=300)
    # All of half A's normals drawn ahead and half of half B's: both ways of taking them.
    monkeypatch.setattr(explain_module, "_AHEAD_NUMBERS", 6 * 150 * iris.n_features * 3 // 2)
    result = compare(iris, RunConfig(n_models=3, mlp=MLPConfig(hidden=(8,), epochs=3)), config)
    again = explain_module.explain(result.run, result.evaluation.rows, config)  # nothing drawn ahead
    ahead, drawn_after = result.explanation.by_method["lime"], again.by_method["lime"]
    assert np.array_equal(ahead.values, drawn_after.values)
    assert np.array_equal(ahead.halves, drawn_after.halves)


def test_identical_models_agree_exactly_where_the_last_group_would_hold_one_model(iris):
    """Past 16 models the work goes a group of models at a time; a group of one would run other torch
    kernels, whose numbers differ in the last bits, so 17 identical models must still agree exactly."""
    from core.training import models

    config = RunConfig(n_models=models._GROUP + 1, vary=frozenset(), mlp=MLPConfig(hidden=(8,), epochs=2))
    result = compare(iris, config, ExplainConfig(methods=methods_for("mlp"), max_rows=4, background_size=4,
                                                  kernel_samples=100, lime_samples=200))
    assert len(set(result.run.fingerprints)) == 1
    proba = result.run.predict_proba(iris.X[:20])
    assert all(np.array_equal(proba[m], proba[0]) for m in range(config.n_models))
    for name, attr in result.explanation.by_method.items():
        for m in range(1, config.n_models):
            assert np.array_equal(attr.values[m], attr.values[0]), (name, m)


def test_the_group_line_never_contradicts_the_headline(summary):
    """The headline and the group line read the same test: a group line may say the models differ beyond
    correlated features, or that correlated features explain the difference, only when the headline
    says the models differ."""
    from dataclasses import replace

    from core.agree.verdict import OUTCOMES
    from core.run.compare import _grouping

    head, grouped = summary.by_method["kernel_shap"], summary.group_by_method["kernel_shap"]
    for level in OUTCOMES:
        for there in OUTCOMES:
            line = _grouping(replace(head, verdict=replace(head.verdict, outcome=level)),
                             replace(grouped, verdict=replace(grouped.verdict, outcome=there)),
                             summary.groups, summary.group_names, summary.group_k, True)
            if len(summary.groups) == len(summary.group_names) and max(map(len, summary.groups)) == 1:
                continue  # nothing grouped: the line says so whatever the test
            claims = "differ beyond picking" in line or "which of correlated features" in line
            if level != "differ":
                assert not claims, (level, there, line)
            elif there != "inconclusive":
                assert claims, (level, there, line)
            if level == "same":
                assert "no detectable difference" in line
