"""Run against run: two comparisons on the same features, side by side."""
import numpy as np
import pandas as pd
import pytest

from core import ExplainConfig, MLPConfig, RunConfig, bundle_bytes, compare, from_frame, load_builtin
from core.cli import main
from core.views.diff import diff_runs
from core.errors import ConfigError

RUN = RunConfig(n_models=4, vary={"init", "order"}, mlp=MLPConfig(hidden=(16,), epochs=30))
EXPLAIN = ExplainConfig(methods=("integrated_gradients",), max_rows=1000)


@pytest.fixture(scope="module")
def data():
    return load_builtin("breast_cancer")


@pytest.fixture(scope="module")
def run_a(data):
    return compare(data, RUN, EXPLAIN)


@pytest.fixture(scope="module")
def run_b(data):
    return compare(data, RunConfig(**{**RUN.__dict__, "seed": 1}), ExplainConfig(**{**EXPLAIN.__dict__, "seed": 1}))


def test_a_run_against_itself_has_identical_distributions(run_a):
    d = diff_runs(run_a, run_a)
    np.testing.assert_array_equal(d.accuracy[0], d.accuracy[1])
    assert d.within[0] == d.within[1] and d.level == "rows"
    assert (d.rank_moves["move"] == 0).all() and d.changed_rows.empty and not d.settings["differs"].any()


def test_runs_differing_only_in_the_base_seed_agree_between_about_as_well_as_within(run_a, run_b):
    d = diff_runs(run_a, run_b)
    assert d.level == "rows"  # another seed draws another split too; a quarter of the test rows are shared
    # Another base seed draws more models of the same kind: A's and B's models agree across runs
    # about as well as within each (4 models a side: each within-run mean is itself noisy).
    assert min(d.within) - 0.05 <= d.between <= max(d.within) + 0.05
    assert set(d.settings.loc[d.settings["differs"], "setting"]) == {"run.seed", "explain.seed"}


def test_runs_on_different_features_are_refused_naming_the_columns(run_a):
    gen = np.random.default_rng(0)
    frame = pd.DataFrame({"x": gen.normal(size=80), "y": gen.normal(size=80)})
    frame["label"] = (frame.x > 0).astype(int)
    other = compare(from_frame(frame, "label"), RunConfig(n_models=2, mlp=MLPConfig(hidden=(4,), epochs=2)), EXPLAIN)
    with pytest.raises(ConfigError, match="only in B: x, y"):
        diff_runs(run_a, other)


def test_cli_diff_writes_an_offline_escaped_page(run_a, run_b, tmp_path, capsys):
    a, b = tmp_path / "<a>.zip", tmp_path / "b.zip"
    a.write_bytes(bundle_bytes(run_a))
    b.write_bytes(bundle_bytes(run_b))
    out = tmp_path / "diff.html"
    assert main(["diff", str(a), str(b), "--out", str(out)]) == 0
    assert "between" in capsys.readouterr().out
    page = out.read_text()
    assert "&lt;a&gt;.zip" in page and "<a>.zip" not in page and "http" not in page
    assert main(["diff", str(a), str(tmp_path / "missing.zip"), "--out", str(out)]) == 2


def test_library_versions_travel_with_the_bundle_and_their_differences_show(run_a, run_b):
    from dataclasses import replace

    from core import load_bundle

    older = load_bundle(bundle_bytes(replace(run_b, libraries={**run_b.libraries, "shap": "0.1.0"})))
    assert older.libraries["shap"] == "0.1.0"
    differs = diff_runs(run_a, older).settings.set_index("setting")
    assert differs.loc["library shap", "differs"] and differs.loc["library shap", "b"] == "0.1.0"
    assert not differs.loc["library torch", "differs"]
