"""The story of a comparison (core.views.story): six steps in order, the Summary's numbers, advice that follows them."""
from dataclasses import replace

import numpy as np
import pytest

import core
from core.export import charts
from core import format as fmt
from core.agree.intervals import Interval
from core.export.report import render_html
from core.views.story import reading

CHARTS = [None, "accuracy", "pair", "baselines", "case", None]


@pytest.fixture(scope="module")
def comparison(iris):
    return core.compare(iris, core.RunConfig(n_models=4, vary=frozenset({"init", "order"}),
                                             mlp=core.MLPConfig(hidden=(8,), epochs=30)),
                        core.ExplainConfig(methods=("kernel_shap",), max_rows=12, background_size=8,
                                           kernel_samples=100))


@pytest.fixture(scope="module")
def summary(comparison):
    # A wide tolerance, so that the tiny run has equally accurate pairs to tell about.
    return core.summarize(comparison, tolerance=0.35)


def text(step) -> str:
    return " ".join(step.text + step.points)


def headline(summary):
    return summary.by_method[summary.headline_method]


def with_headline(summary, **changes):
    """The summary with the headline method's agreement numbers changed, as another run could have given them."""
    head = headline(summary)
    return replace(summary, by_method={**summary.by_method, summary.headline_method: replace(head, **changes)})


def test_the_story_has_six_steps_in_order_each_with_at_most_one_chart(comparison, summary):
    steps = core.story(comparison, summary)
    assert [s.title for s in steps][0::3] == ["The question", "Is it real?"] and steps[-1].title == "What to do"
    assert [s.chart for s in steps] == CHARTS
    for step in steps:
        assert step.title and 1 <= len(step.text) <= 2
        assert (charts.story_chart(step) is None) == (step.chart is None)
    assert "4 neural networks on iris" in steps[0].text[1]
    assert "starting point" in steps[0].text[1] and "order" in steps[0].text[1] and "dropout" not in steps[0].text[1]


def test_the_sentences_carry_the_summarys_numbers(comparison, summary):
    steps = core.story(comparison, summary)
    assert summary.accuracy_spread in text(steps[1])
    assert fmt.percent(summary.accuracy.min(), 1) in text(steps[1])
    pair = summary.pairs.iloc[0]
    assert f"Model {pair.model_a}" in text(steps[2]) and f"model {pair.model_b}" in text(steps[2])
    assert f"only {fmt.percent(pair.agreement)} of the {summary.k} features" in text(steps[2])
    head, interval = headline(summary), summary.budget.agreement
    real = text(steps[3])
    for number in (head.between[core.HEADLINE_METRIC], interval.lo, interval.hi,
                   head.verdict.between, head.verdict.within, summary.null[core.HEADLINE_METRIC]):
        assert fmt.percent(number) in real
    drawn = steps[3].data.set_index("what")["agreement"]
    assert drawn["Between the models"] == head.between[core.HEADLINE_METRIC]
    assert drawn["Two models, independent samples"] == head.verdict.between
    assert drawn["Same model, independent samples"] == head.verdict.within
    assert drawn["Random lists of features"] == summary.null[core.HEADLINE_METRIC]


def test_the_case_is_a_unanimous_row_and_lists_each_models_largest_attributions(comparison, summary):
    step = core.story(comparison, summary)[4]
    row = int(summary.divergent.row.iloc[0])
    assert step.text[0].startswith(f"Case {row}: all 4 models predict")
    values = comparison.explanation.by_method[summary.headline_method].values
    position = int(np.flatnonzero(comparison.explanation.rows == row)[0])
    names = list(comparison.run.dataset.feature_names)
    for m, listed in step.data.groupby("model", sort=False)["feature"]:
        size = np.abs(values[int(m.split()[1]), position])
        chosen = [names.index(f) for f in listed]
        assert len(chosen) == summary.k
        assert size[chosen].min() >= np.delete(size, chosen).max()  # the k largest |attribution|, no other


def test_a_wide_interval_asks_for_more_seeds_and_a_narrow_one_does_not(comparison, summary):
    def advice(lo, hi):
        budget = replace(summary.budget, agreement=Interval(headline(summary).between[core.HEADLINE_METRIC], lo, hi))
        return core.story(comparison, replace(summary, budget=budget))[-1].points

    wide, narrow = advice(0.30, 0.70), advice(0.49, 0.51)
    assert any(p.startswith("Train more models") and "±20 points" in p for p in wide)
    assert not any(p.startswith("Train more models") for p in narrow)
    assert any("4 models are enough" in p and "±1 point." in p for p in narrow)


def with_outcome(summary, outcome: str):
    """The summary as if the like-with-like test had said `outcome`."""
    return with_headline(summary, verdict=replace(headline(summary).verdict, outcome=outcome))


def test_the_story_follows_the_like_with_like_test_and_never_the_noise_floor_alone(comparison, summary):
    noisy = with_outcome(summary, "same")
    steps = core.story(comparison, noisy)
    assert reading(noisy) == "noise"
    assert "no larger than the explainer's own noise" in text(steps[3])
    assert steps[-1].points[0].startswith("One model's explanation speaks for all of them here, within KernelSHAP")
    undecided = with_outcome(summary, "inconclusive")
    assert reading(undecided) == "inconclusive"
    assert core.story(comparison, undecided)[3].text[1].startswith("Inconclusive at 100 coalitions")
    assert core.story(comparison, undecided)[-1].points[0].startswith(
        "Decide before judging the models: the test is inconclusive at 100 coalitions")
    real = with_outcome(summary, "differ")
    assert reading(real) == "real"
    assert core.story(comparison, real)[-1].points[0].startswith("Do not present one model's explanation")
    # The floor moved, the test did not: the story does not move either.
    floor_only = with_headline(real, noise_floor={**headline(real).noise_floor, core.HEADLINE_METRIC: 0.0})
    assert [s.text for s in core.story(comparison, floor_only)] == [s.text for s in core.story(comparison, real)]


def test_agreement_near_random_rankings_is_called_chance(comparison, summary):
    null = summary.null[core.HEADLINE_METRIC]

    def verdict(between):
        changed = with_headline(with_outcome(summary, "differ"), between={core.HEADLINE_METRIC: between})
        return core.story(comparison, changed)[3].text[1]

    assert "no more than chance" in verdict(null + 0.01)
    assert "the difference is real" in verdict(null + 0.3) and "chance would" not in verdict(null + 0.3)


def test_complete_agreement_says_one_explanation_speaks_for_all(comparison, summary):
    same = with_headline(summary, between={**headline(summary).between, core.HEADLINE_METRIC: 1.0})
    assert core.story(comparison, same)[-1].points[0].startswith("One model's explanation speaks for all")


def test_groups_are_recommended_only_when_they_change_the_picture(comparison, summary):
    assert max(len(g) for g in summary.groups) > 1  # iris's petal and sepal lengths correlate
    head, between = summary.headline_method, headline(summary).between[core.HEADLINE_METRIC]

    def advice(grouped_agreement):
        grouped = replace(summary.group_by_method[head], between={core.HEADLINE_METRIC: grouped_agreement})
        return core.story(comparison, replace(summary, group_by_method={head: grouped}))[-1].points

    assert any(p.startswith("Talk about groups") and fmt.percent(0.99) in p for p in advice(0.99))
    assert not any(p.startswith("Talk about groups") for p in advice(between))


def test_without_an_equally_accurate_pair_the_story_says_so_and_shows_the_least_alike(comparison, summary):
    alone = replace(summary, pairs=summary.pairs.iloc[:0])
    step = core.story(comparison, alone)[2]
    first = alone.all_pairs.iloc[0]
    assert step.text[0].startswith("No two models are within 35% accuracy of each other")
    assert f"model {first.model_a}" in step.text[0] and f"model {first.model_b}" in step.text[0]
    assert set(step.data["model"]) == {f"model {first.model_a}", f"model {first.model_b}"}


def test_the_story_from_a_bundle_reads_like_the_story_from_the_models(comparison, summary):
    loaded = core.load_bundle(core.bundle_bytes(comparison))
    assert loaded.run.bank is None
    again = core.story(loaded, core.summarize(loaded, tolerance=0.35))
    assert [(s.title, s.text, s.points) for s in again] == [(s.title, s.text, s.points)
                                                            for s in core.story(comparison, summary)]


def test_a_deterministic_explainer_has_no_noise_to_blame(iris):
    run = core.compare(iris, core.RunConfig(n_models=3, mlp=core.MLPConfig(hidden=(4,), epochs=5)),
                       core.ExplainConfig(methods=("integrated_gradients",), max_rows=6))
    summary = core.summarize(run)
    step = core.story(run, summary)[3]
    assert reading(summary) == "real"
    assert step.text[1].startswith("Integrated gradients gives the same answer every time")
    assert step.data.set_index("what").loc["Same model, explained twice", "note"] == "no sampling: always the same"


def test_a_single_model_story_asks_for_a_second_model(iris):
    one = core.compare(iris, core.RunConfig(n_models=1, mlp=core.MLPConfig(hidden=(4,), epochs=2)),
                       core.ExplainConfig(methods=("integrated_gradients",), max_rows=4))
    steps = core.story(one, core.summarize(one))
    assert len(steps) == 6 and "a single model" in steps[0].text[1]
    assert all("at least two models" in text(step) for step in steps[2:])


def test_the_report_opens_with_the_story(comparison, summary):
    page = render_html(comparison, summary)
    assert page.index('<h2 id="story">') < page.index('<h2 id="finding">') < page.index('<h2 id="configuration">')
    positions = [page.index(f"<h3>{i}. ") for i in range(1, 7)]
    assert positions == sorted(positions) and positions[-1] < page.index('<h2 id="finding">')
    for step in core.story(comparison, summary):
        assert step.title in page
