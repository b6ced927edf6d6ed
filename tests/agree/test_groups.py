"""Correlated features: grouped by |Spearman rho|, attributions summed, agreement measured again."""
import numpy as np
import pandas as pd
import pytest

from core import ExplainConfig, MLPConfig, RunConfig, compare, from_frame, load_builtin, summarize
from core.errors import ConfigError
from core.agree.groups import feature_groups, group_name, group_values


def test_breast_cancers_radius_perimeter_and_area_land_in_one_group():
    ds = load_builtin("breast_cancer")
    groups = feature_groups(ds.X)
    names = ds.feature_names
    (group,) = [g for g in groups if names.index("worst radius") in g]
    assert {names.index(n) for n in ("worst radius", "worst perimeter", "worst area")} <= set(group)
    assert sorted(f for g in groups for f in g) == list(range(ds.n_features))  # a partition


def test_group_values_sum_attributions_within_each_group():
    values = np.arange(24.0).reshape(2, 3, 4)  # (model, row, feature)
    grouped = group_values(values, ((0, 2), (1,), (3,)))
    np.testing.assert_array_equal(grouped[..., 0], values[..., 0] + values[..., 2])
    np.testing.assert_array_equal(grouped[..., 1:], values[..., [1, 3]])
    assert group_name((0, 2), ("a", "b", "c")) == "a / c"


def test_two_and_one_features_are_grouped_too():
    gen = np.random.default_rng(1)
    a = gen.normal(size=50)
    assert feature_groups(np.column_stack([a, 2 * a])) == ((0, 1),)
    assert feature_groups(np.column_stack([a, gen.normal(size=50)])) == ((0,), (1,))
    assert feature_groups(a[:, None]) == ((0,),)


def test_a_threshold_outside_zero_one_is_refused():
    with pytest.raises(ConfigError, match="absolute correlation"):
        feature_groups(np.random.default_rng(0).normal(size=(20, 3)), threshold=1.5)


def test_duplicate_columns_disagree_feature_by_feature_and_agree_as_groups():
    # Three signals, each copied three times: which copy a model leans on is arbitrary.
    gen = np.random.default_rng(0)
    signal = gen.normal(size=(400, 3))
    frame = pd.DataFrame({f"s{j}_copy{c}": signal[:, j] + 1e-3 * gen.normal(size=400)
                          for j in range(3) for c in range(3)})
    frame["noise"] = gen.normal(size=400)
    frame["label"] = (signal @ [1.0, -1.0, 0.5] > 0).astype(int)
    ds = from_frame(frame, "label")
    comparison = compare(ds, RunConfig(n_models=6, vary={"init", "order"}, mlp=MLPConfig(hidden=(16,), epochs=30)),
                         ExplainConfig(methods=("integrated_gradients",), max_rows=40))
    summary = summarize(comparison, k=3)
    assert len(summary.groups) == 4  # three signals and the noise column
    features = summary.by_method["integrated_gradients"].between["feature_agreement"]
    grouped = summary.group_by_method["integrated_gradients"].between["feature_agreement"]
    assert features < 0.8 and grouped > 0.95
    assert "most of the difference is which of correlated features" in summary.grouping


def test_the_report_gives_every_metric_at_the_group_level():
    from core.export.report import render_html

    data = load_builtin("iris")
    comparison = compare(data, RunConfig(n_models=2, mlp=MLPConfig(hidden=(4,), epochs=2)),
                         ExplainConfig(methods=("integrated_gradients",), max_rows=5))
    summary = summarize(comparison)
    page = render_html(comparison, summary)
    assert f"At the level of {len(summary.groups)} correlated groups" in page
    assert page.count("Pairwise rank agreement") >= 2  # feature-level and group-level tables
