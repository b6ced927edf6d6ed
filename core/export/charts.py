"""Altair charts of a comparison, shared by the app and the HTML report.

Each function takes results (arrays, frames) and returns an altair Chart; none
computes anything a test would need to check.
"""
from __future__ import annotations

import altair as alt
import numpy as np
import pandas as pd

from ..views.story import STORY_DOTS

MODEL_A, MODEL_B = "#4C78A8", "#F58518"
# Beyond these many models a chart of every model (or every pair, as cells) would be unreadable, and
# over altair's 5,000-row limit for the report: the charts show the distribution across models instead.
HEATMAP_MODELS = 70  # 4,900 cells
CURVE_MODELS = 40  # lines of training curves, dots of accuracy
SMALL_MULTIPLE_MODELS = 20  # one bar chart per model


def model_label(m: int) -> str:
    return f"model {m}"


def heatmap(matrix: np.ndarray, *, title: str, value: str = "value", fmt: str = ".2f",
            domain: tuple[float, float] | None = (0.0, 1.0), labels: list[str] | None = None,
            scheme: str = "viridis", light_high: bool = True) -> alt.Chart:
    """A square matrix (model, model) as a labelled heatmap.

    light_high: whether the scheme draws high values light (viridis) or dark (oranges), so cell
    text can be black on light cells and white on dark ones.
    """
    n = len(matrix)
    if n > HEATMAP_MODELS:
        return pair_distribution(matrix, title=title, value=value, fmt=fmt, domain=domain)
    labels = labels or [model_label(i) for i in range(n)]
    frame = pd.DataFrame([(labels[i], labels[j], float(matrix[i, j])) for i in range(n) for j in range(n)],
                         columns=["row", "column", value])
    scale = alt.Scale(scheme=scheme, domain=list(domain)) if domain else alt.Scale(scheme=scheme)
    base = alt.Chart(frame, title=title).encode(
        x=alt.X("column:N", sort=labels, title=None, axis=alt.Axis(labelLimit=200)),
        y=alt.Y("row:N", sort=labels, title=None, axis=alt.Axis(labelLimit=200)),
    )
    cells = base.mark_rect().encode(color=alt.Color(f"{value}:Q", scale=scale, legend=alt.Legend(format=fmt)),
                                    tooltip=["row", "column", alt.Tooltip(f"{value}:Q", format=fmt)])
    chart = cells
    if n <= 12:
        text = base.mark_text(fontSize=10).encode(
            text=alt.Text(f"{value}:Q", format=fmt),
            color=alt.condition(f"datum['{value}'] {'>' if light_high else '<='} {np.nanmean(matrix):.6f}",
                                alt.value("black"), alt.value("white")),
        )
        chart = cells + text
    step = max(3, min(48, 440 // max(n, 1)))  # 200 models still fit a page, with smaller cells
    return chart.properties(width=alt.Step(step), height=alt.Step(step))


def pair_distribution(matrix: np.ndarray, *, title: str, value: str = "value", fmt: str = ".2f",
                      domain: tuple[float, float] | None = (0.0, 1.0), bins: int = 40) -> alt.Chart:
    """The off-diagonal values of a symmetric (model, model) matrix as a histogram of pairs: a heatmap
    of many models, binned here so that the chart holds `bins` rows whatever the number of pairs."""
    n = len(matrix)
    values = matrix[np.triu_indices(n, k=1)]
    values = values[np.isfinite(values)]
    frame = _histogram(values, "pairs", bins, domain)
    return alt.Chart(frame, title=f"{title} ({n} models: {len(values):,} pairs)").mark_bar().encode(
        x=alt.X("from:Q", bin="binned", title="the pair's value" if value == "value" else value,
                axis=alt.Axis(format=fmt)), x2="to:Q",
        y=alt.Y("pairs:Q", title="pairs of models"),
        tooltip=[alt.Tooltip("from:Q", format=fmt), alt.Tooltip("to:Q", format=fmt), "pairs:Q"],
    ).properties(width=440, height=220)


def _histogram(values: np.ndarray, count: str, bins: int, domain: tuple[float, float] | None = None) -> pd.DataFrame:
    """(from, to, count) rows of `bins` equal bins over the domain widened to every value (a rank
    correlation's negative pairs included), or the values' own range."""
    low, high = domain or (np.inf, -np.inf)
    if len(values):
        low, high = min(low, float(values.min())), max(high, float(values.max()))
    if not high > low:  # no values, or all equal: one unit around them
        low, high = (low - 0.5, low + 0.5) if np.isfinite(low) else (0.0, 1.0)
    counts, edges = np.histogram(values, bins=bins, range=(low, high))
    return pd.DataFrame({"from": edges[:-1], "to": edges[1:], count: counts})


def disagreement_heatmap(disagreement: np.ndarray, *, title: str) -> alt.Chart:
    """(model, model) share of rows two models predict differently, on the oranges scale in percent."""
    return heatmap(disagreement, title=title, value="disagreement", fmt=".1%", domain=None, scheme="oranges",
                   light_high=False)


def accuracy_strip(per_model: pd.DataFrame) -> alt.Chart:
    """Test accuracy of each model as a dot plot, with the mean as a rule (regression: test RMSE)."""
    if "rmse" in per_model.columns:
        return _rmse_strip(per_model)
    frame = per_model.reset_index()[["model", "accuracy"]].assign(model=lambda d: d["model"].map(model_label))
    if len(frame) > CURVE_MODELS:  # how many models reach each accuracy: a dot per model would fill pages
        counts = _histogram(frame["accuracy"].to_numpy(), "models", 30)
        return alt.Chart(counts, title=f"Test accuracy of {len(frame)} models (mean {frame['accuracy'].mean():.2%})"
                         ).mark_bar().encode(
            x=alt.X("from:Q", bin="binned", title="accuracy", axis=alt.Axis(format=".1%")), x2="to:Q",
            y=alt.Y("models:Q", title="models"),
            tooltip=[alt.Tooltip("from:Q", format=".2%"), alt.Tooltip("to:Q", format=".2%"), "models:Q"],
        ).properties(width=420, height=160)
    dots = alt.Chart(frame, title="Test accuracy of each model").mark_circle(size=90).encode(
        x=alt.X("accuracy:Q", scale=alt.Scale(zero=False), axis=alt.Axis(format="%")),
        y=alt.Y("model:N", sort=None, title=None), tooltip=["model", alt.Tooltip("accuracy:Q", format=".2%")],
    )
    mean = alt.Chart(frame).mark_rule(color="gray", strokeDash=[4, 4]).encode(x="mean(accuracy):Q")
    return (dots + mean).properties(width=420, height=alt.Step(24))


def _rmse_strip(per_model: pd.DataFrame) -> alt.Chart:
    frame = per_model.reset_index()[["model", "rmse"]].assign(model=lambda d: d["model"].map(model_label))
    if len(frame) > CURVE_MODELS:
        counts = _histogram(frame["rmse"].to_numpy(), "models", 30)
        return alt.Chart(counts, title=f"Test RMSE of {len(frame)} models (mean {frame['rmse'].mean():.3g})"
                         ).mark_bar().encode(
            x=alt.X("from:Q", bin="binned", title="RMSE"), x2="to:Q", y=alt.Y("models:Q", title="models"),
            tooltip=[alt.Tooltip("from:Q", format=".4g"), alt.Tooltip("to:Q", format=".4g"), "models:Q"],
        ).properties(width=420, height=160)
    dots = alt.Chart(frame, title="Test RMSE of each model (lower is better)").mark_circle(size=90).encode(
        x=alt.X("rmse:Q", title="RMSE", scale=alt.Scale(zero=False)),
        y=alt.Y("model:N", sort=None, title=None), tooltip=["model", alt.Tooltip("rmse:Q", format=".4g")],
    )
    mean = alt.Chart(frame).mark_rule(color="gray", strokeDash=[4, 4]).encode(x="mean(rmse):Q")
    return (dots + mean).properties(width=420, height=alt.Step(24))


def predicted_against_actual(actual: np.ndarray, predictions: np.ndarray, target: str) -> alt.Chart:
    """Regression, on the test rows every model saw: the models' median prediction against the actual value,
    with a rule from the lowest to the highest model's prediction (the band the models span), beside the
    residuals (actual - median prediction) against the median prediction, with the same band."""
    low, high, middle = predictions.min(axis=0), predictions.max(axis=0), np.median(predictions, axis=0)
    frame = pd.DataFrame({"actual": actual, "median prediction": middle, "lowest model": low, "highest model": high,
                          "residual": actual - middle, "residual low": actual - high, "residual high": actual - low,
                          "range": high - low})
    tooltip = [alt.Tooltip(c, format=".4g") for c in ("actual", "median prediction", "lowest model", "highest model")]
    base = alt.Chart(frame)
    band = base.mark_rule(opacity=0.45, color="#4c78a8").encode(x="actual:Q", y="lowest model:Q", y2="highest model:Q")
    dots = base.mark_circle(size=28).encode(x=alt.X("actual:Q", scale=alt.Scale(zero=False)),
                                            y=alt.Y("median prediction:Q", title=f"predicted {target}",
                                                    scale=alt.Scale(zero=False)), tooltip=tooltip)
    lo, hi = float(min(actual.min(), low.min())), float(max(actual.max(), high.max()))
    diagonal = alt.Chart(pd.DataFrame({"x": [lo, hi]})).mark_line(color="gray", strokeDash=[4, 4]).encode(
        x="x:Q", y="x:Q")
    left = (band + dots + diagonal).properties(width=320, height=280,
                                               title=f"Predicted against actual {target}: dot, median model; line, all")
    rband = base.mark_rule(opacity=0.45, color="#4c78a8").encode(x="median prediction:Q", y="residual low:Q",
                                                                y2="residual high:Q")
    rdots = base.mark_circle(size=28).encode(x=alt.X("median prediction:Q", scale=alt.Scale(zero=False)),
                                             y=alt.Y("residual:Q", title="actual - prediction"), tooltip=tooltip)
    zero = alt.Chart(pd.DataFrame({"y": [0.0]})).mark_rule(color="gray", strokeDash=[4, 4]).encode(y="y:Q")
    right = (rband + rdots + zero).properties(width=320, height=280, title="Residuals against the prediction")
    return left | right


def training_curves(train_loss: np.ndarray, val_accuracy: np.ndarray, *, regression: bool = False) -> alt.Chart:
    """(model, epoch) curves: training loss and validation accuracy (regression: validation R²) per seed
    (of many models, their median and the band of the middle 80%)."""
    n_models, n_epochs = train_loss.shape
    val_name = "validation R²" if regression else "validation accuracy"
    val_title = val_name[0].upper() + val_name[1:]
    if n_models > CURVE_MODELS:
        return _curve_band(train_loss, "Training loss") | _curve_band(val_accuracy, val_title)
    frame = pd.DataFrame({
        "model": np.repeat([model_label(m) for m in range(n_models)], n_epochs),
        "epoch": np.tile(np.arange(1, n_epochs + 1), n_models),
        "training loss": train_loss.ravel(), val_name: val_accuracy.ravel(),
    })
    base = alt.Chart(frame).mark_line(opacity=0.7).encode(x="epoch:Q", color=alt.Color("model:N", legend=None),
                                                           tooltip=["model", "epoch"])
    return (base.encode(y="training loss:Q").properties(width=320, height=220, title="Training loss")
            | base.encode(y=alt.Y(f"{val_name}:Q", scale=alt.Scale(zero=False)))
            .properties(width=320, height=220, title=val_title))


def _curve_band(curves: np.ndarray, title: str) -> alt.Chart:
    """(model, epoch) curves as the median per epoch and the band from the 10th to the 90th percentile,
    over the models with a finite value (a diverged epoch records inf or NaN)."""
    finite = np.where(np.isfinite(curves), curves, np.nan)
    kept = np.isfinite(finite).any(axis=0)
    if not kept.any():  # every model diverged from the first epoch: nothing to draw
        kept[:] = True
        finite = np.zeros_like(curves, dtype=float)
    low, median, high = np.nanpercentile(finite[:, kept], [10, 50, 90], axis=0)
    frame = pd.DataFrame({"epoch": np.arange(1, curves.shape[1] + 1)[kept], "p10": low, "median": median, "p90": high})
    base = alt.Chart(frame, title=f"{title}: median of {len(curves)} models, 10-90% band").encode(x="epoch:Q")
    band = base.mark_area(opacity=0.3).encode(y=alt.Y("p10:Q", title=title.lower(), scale=alt.Scale(zero=False)),
                                              y2="p90:Q")
    line = base.mark_line().encode(y="median:Q", tooltip=["epoch", alt.Tooltip("median:Q", format=".4f"),
                                                           alt.Tooltip("p10:Q", format=".4f"),
                                                           alt.Tooltip("p90:Q", format=".4f")])
    return (band + line).properties(width=320, height=220)


def importance_small_multiples(importance: np.ndarray, feature_names: list[str], *, top: int = 10,
                               columns: int = 5) -> alt.Chart:
    """Global importance (model, feature) as one bar chart per model, the overall top features, same order."""
    order = np.argsort(-importance.mean(axis=0))[:top]
    names = [feature_names[f] for f in order]
    if len(importance) > SMALL_MULTIPLE_MODELS:
        return _importance_boxes(importance[:, order], names)
    frame = pd.DataFrame([(model_label(m), feature_names[f], float(importance[m, f]))
                          for m in range(len(importance)) for f in order],
                         columns=["model", "feature", "mean |attribution|"])
    return alt.Chart(frame).mark_bar().encode(
        x=alt.X("mean |attribution|:Q", title=None), y=alt.Y("feature:N", sort=names, title=None),
        color=alt.Color("feature:N", legend=None, sort=names), tooltip=["model", "feature", "mean |attribution|"],
    ).properties(width=150, height=alt.Step(20)).facet(facet=alt.Facet("model:N", title=None, sort=None),
                                                            columns=columns)


def _importance_boxes(importance: np.ndarray, names: list[str]) -> alt.Chart:
    """(model, feature) importance of many models as one box per feature: the middle half of the models,
    whiskers to the least and the most (quantiles computed here: the chart holds one row per feature)."""
    low, q1, median, q3, high = np.quantile(importance, [0, 0.25, 0.5, 0.75, 1], axis=0)
    frame = pd.DataFrame({"feature": names, "least": low, "q1": q1, "median": median, "q3": q3, "most": high})
    base = alt.Chart(frame, title=f"Importance across {len(importance)} models: box the middle half, "
                                  "whiskers least to most").encode(y=alt.Y("feature:N", sort=names, title=None))
    tooltip = ["feature"] + [alt.Tooltip(f"{c}:Q", format=".4f") for c in ("least", "q1", "median", "q3", "most")]
    whiskers = base.mark_rule().encode(x=alt.X("least:Q", title="mean |attribution|"), x2="most:Q")
    boxes = base.mark_bar(size=12).encode(x="q1:Q", x2="q3:Q", color=alt.Color("feature:N", legend=None, sort=names),
                                          tooltip=tooltip)
    medians = base.mark_tick(color="white", size=12).encode(x="median:Q")
    return (whiskers + boxes + medians).properties(width=440, height=alt.Step(22))


def pair_importance(importance: np.ndarray, a: int, b: int, feature_names: list[str], *, top: int = 10) -> alt.Chart:
    """Two models' global importances side by side, over the union of their top features."""
    feats = list(dict.fromkeys(list(np.argsort(-importance[a])[:top]) + list(np.argsort(-importance[b])[:top])))
    feats = feats[:max(top, 12)]
    names = [feature_names[f] for f in feats]
    frame = pd.DataFrame([(model_label(m), feature_names[f], float(importance[m, f])) for m in (a, b) for f in feats],
                         columns=["model", "feature", "mean |attribution|"])
    return alt.Chart(frame).mark_bar().encode(
        y=alt.Y("feature:N", sort=names, title=None, axis=alt.Axis(labelLimit=220)), x=alt.X("mean |attribution|:Q"),
        color=alt.Color("model:N", scale=alt.Scale(range=[MODEL_A, MODEL_B])), yOffset="model:N",
        tooltip=["model", "feature", alt.Tooltip("mean |attribution|:Q", format=".4f")],
    ).properties(width=460, height=alt.Step(12), title="Global importance of the two models")  # step per bar


def row_attributions(values: np.ndarray, feature_names: list[str], *, top: int = 10, title: str = "") -> alt.Chart:
    """One row's signed attributions (model, feature): one bar group per feature, one colour per model."""
    order = np.argsort(-np.abs(values).mean(axis=0))[:top]
    names = [feature_names[f] for f in order]
    frame = pd.DataFrame([(model_label(m), feature_names[f], float(values[m, f]))
                          for m in range(len(values)) for f in order], columns=["model", "feature", "attribution"])
    return alt.Chart(frame, title=title).mark_bar().encode(
        y=alt.Y("feature:N", sort=names, title=None), x="attribution:Q", yOffset="model:N",
        color="model:N", tooltip=["model", "feature", alt.Tooltip("attribution:Q", format=".4f")],
    ).properties(width=420, height=alt.Step(max(4, 24 // len(values))))  # step per bar (yOffset band)


def image_grid(images: np.ndarray, *, columns: int = 5, title: str = "") -> alt.Chart:
    """(model, height, width) attribution pictures, diverging colours centred on zero."""
    n, h, w = images.shape
    frame = pd.DataFrame([(model_label(m), r, c, float(images[m, r, c]))
                          for m in range(n) for r in range(h) for c in range(w)],
                         columns=["model", "y", "x", "attribution"])
    bound = float(np.abs(images).max()) or 1.0
    return alt.Chart(frame).mark_rect().encode(
        x=alt.X("x:O", axis=None), y=alt.Y("y:O", axis=None),
        color=alt.Color("attribution:Q", scale=alt.Scale(scheme="redblue", domain=[-bound, bound], reverse=True)),
        tooltip=["model", "x", "y", alt.Tooltip("attribution:Q", format=".4f")],
    ).properties(width=alt.Step(13), height=alt.Step(13)).facet(
        facet=alt.Facet("model:N", sort=None, title=None), columns=columns, title=title)


def gap_vs_agreement(pairs: pd.DataFrame, *, regression: bool = False) -> alt.Chart:
    """Every model pair (agreement.model_pairs): accuracy gap (regression: RMSE gap) against explanation agreement;
    equal-accuracy pairs highlighted."""
    frame = pairs.assign(pair=lambda d: "model " + d["model_a"].astype(str) + " vs " + d["model_b"].astype(str),
                         equal=lambda d: np.where(d["equal_accuracy"], "equal accuracy", "different accuracy"))
    quality = "RMSE" if regression else "Accuracy"
    return alt.Chart(frame, title=f"{quality} gap vs explanation agreement, every pair of models").mark_circle(
        size=80).encode(
        x=alt.X("accuracy_gap:Q", title=f"{quality} gap".lower().replace("rmse", "RMSE"),
                axis=alt.Axis(format=".3g" if regression else "%")),
        y=alt.Y("agreement:Q", title="explanation agreement", scale=alt.Scale(zero=False, domainMax=1)),
        color=alt.Color("equal:N", scale=alt.Scale(domain=["equal accuracy", "different accuracy"],
                                                   range=["#E45756", "#9e9e9e"]), title=None),
        tooltip=["pair", alt.Tooltip("accuracy_gap:Q", format=".4g" if regression else ".2%"),
                 alt.Tooltip("agreement:Q", format=".2f")],
    ).properties(width=460, height=300)


def rank_distribution(ranks: pd.DataFrame, flips: dict[str, bool], *, top: int = 15) -> alt.Chart:
    """Box plot of each feature's global-importance rank across models; sign-flipping features in red."""
    order = ranks.groupby("feature")["rank"].median().sort_values().index[:top].tolist()
    frame = ranks[ranks["feature"].isin(order)].assign(
        sign=lambda d: np.where(d["feature"].map(flips), "sign flips across models", "consistent sign"))
    return alt.Chart(frame, title="Global-importance rank of each feature across models (1 = most important)"
                     ).mark_boxplot(extent="min-max").encode(
        y=alt.Y("feature:N", sort=order, title=None), x=alt.X("rank:Q", scale=alt.Scale(zero=False)),
        color=alt.Color("sign:N", scale=alt.Scale(domain=["consistent sign", "sign flips across models"],
                                                  range=["#4C78A8", "#E45756"]), title=None),
    ).properties(width=460, height=alt.Step(22))


def seed_budget(curve: pd.DataFrame, *, regression: bool = False) -> alt.Chart:
    """Each quantity against the number of models (budget.SeedBudget.curve): estimate and band."""
    titles = {"agreement": "explanation agreement", "accuracy_std": "RMSE std" if regression else "accuracy std",
              "ambiguity": "prediction ambiguity"}
    frame = curve.assign(quantity=curve["quantity"].map(titles))
    base = alt.Chart(frame).encode(x=alt.X("n:Q", title="models", scale=alt.Scale(zero=False),
                                           axis=alt.Axis(format="d", tickMinStep=1)))
    band = base.mark_area(opacity=0.25, color=MODEL_A).encode(y=alt.Y("lo:Q", title=None, scale=alt.Scale(zero=False)),
                                                               y2="hi:Q")
    line = base.mark_line(point=True, color=MODEL_A).encode(
        y="estimate:Q", tooltip=["quantity", "n", alt.Tooltip("estimate:Q", format=".3f"),
                                 alt.Tooltip("lo:Q", format=".3f"), alt.Tooltip("hi:Q", format=".3f")])
    return (band + line).properties(width=220, height=160).facet(
        facet=alt.Facet("quantity:N", title=None, sort=list(titles.values())), columns=3).resolve_scale(y="independent")


def class_probabilities(proba: np.ndarray, class_names: tuple[str, ...]) -> alt.Chart:
    """(model, class) probabilities of one row as one stacked bar per model: where the models split shows as
    bars whose largest segment has another colour."""
    labels = [model_label(m) for m in range(len(proba))]
    frame = pd.DataFrame([(labels[m], class_names[c], c, float(proba[m, c]))
                          for m in range(len(proba)) for c in range(proba.shape[1])],
                         columns=["model", "class", "order", "probability"])
    # Another palette than the models' (which the attribution charts beside it colour by).
    return alt.Chart(frame, title="Each model's class probabilities for the row as edited").mark_bar().encode(
        x=alt.X("probability:Q", stack="zero", scale=alt.Scale(domain=[0, 1]), axis=alt.Axis(format="%"), title=None),
        y=alt.Y("model:N", sort=labels, title=None),
        color=alt.Color("class:N", sort=list(class_names), title="class", scale=alt.Scale(scheme="set2")),
        order="order:Q",
        tooltip=["model", "class", alt.Tooltip("probability:Q", format=".1%")],
    ).properties(width=420, height=alt.Step(22))


def _dependence_x(dep) -> alt.X:
    """The feature's axis: numbers on a linear scale, categories in their order."""
    if dep.feature.categorical:
        return alt.X("value:O", sort=list(dep.labels), title=dep.feature.name, axis=alt.Axis(labelAngle=0))
    return alt.X("value:Q", scale=alt.Scale(zero=False, padding=8), title=dep.feature.name)


def _curves_frame(dep, curves: np.ndarray) -> pd.DataFrame:
    """(model, point) curves in long form; `value` is the grid value, or the category for a group."""
    x = list(dep.labels) if dep.feature.categorical else dep.grid
    n_models, n_points = curves.shape
    return pd.DataFrame({"model": np.repeat([model_label(m) for m in range(n_models)], n_points),
                         "value": np.tile(x, n_models), "probability": curves.ravel()})


def _answer(class_name: str, regression: bool) -> tuple[str, str, str]:
    """(axis title, axis format, tooltip format) of what the dependence charts follow: a class's probability,
    or a regression's predicted value (class_name is then the target's name)."""
    return (f"predicted {class_name}", "~s", ".4g") if regression else (f"probability of {class_name}", "%", ".1%")


def _model_lines(dep, curves: np.ndarray, class_name: str, regression: bool = False) -> alt.Chart:
    """One thin line per model, all in one colour: with many seeds what matters is the band they make."""
    width = 1.5 if len(curves) <= 10 else 0.8
    title, axis_format, tip = _answer(class_name, regression)
    return alt.Chart(_curves_frame(dep, curves)).mark_line(strokeWidth=width, opacity=0.7, color=MODEL_A).encode(
        x=_dependence_x(dep), y=alt.Y("probability:Q", axis=alt.Axis(format=axis_format), title=title,
                                      scale=alt.Scale(zero=not regression)),
        detail="model:N",
        tooltip=["model", "value", alt.Tooltip("probability:Q", format=tip, title=title)],
    )


def partial_dependence(dep, *, class_name: str, regression: bool = False) -> alt.Chart:
    """Every model's partial dependence curve (core.views.dependence.Dependence) inside the band the models span:
    light from the lowest to the highest model, darker between their 10th and 90th percentiles."""
    x = list(dep.labels) if dep.feature.categorical else dep.grid
    band = pd.DataFrame({"value": x, "low": dep.low, "high": dep.high, "inner_low": dep.inner_low,
                         "inner_high": dep.inner_high})
    base = alt.Chart(band).encode(x=_dependence_x(dep))
    title = _answer(class_name, regression)[0]
    layers = [base.mark_area(opacity=0.15, color=MODEL_A).encode(y=alt.Y("low:Q", title=title), y2="high:Q")]
    if len(dep.curves) >= 5:  # percentiles of fewer models say nothing the extremes do not
        layers.append(base.mark_area(opacity=0.2, color=MODEL_A).encode(y=alt.Y("inner_low:Q", title=title),
                                                                        y2="inner_high:Q"))
    layers.append(_model_lines(dep, dep.curves, class_name, regression))
    return alt.layer(*layers).properties(
        width=520, height=300,
        title=f"Mean {title} over the test rows, one line per model")


def ice_curves(dep, row_curves, *, class_name: str, regression: bool = False) -> alt.Chart:
    """One row's curves (core.views.dependence.RowCurves): each model's probability as only the feature changes,
    a dot per model where the row is now, and a dashed rule at the row's own value."""
    own = dep.feature.categories[int(row_curves.position)] if dep.feature.categorical else row_curves.position
    now = pd.DataFrame({"model": [model_label(m) for m in range(len(row_curves.now))], "value": own,
                        "probability": row_curves.now})
    rule = alt.Chart(pd.DataFrame({"value": [own]})).mark_rule(color="gray", strokeDash=[4, 4]).encode(
        x=_dependence_x(dep))
    dots = alt.Chart(now).mark_circle(size=60, color=MODEL_B, opacity=0.9).encode(
        x=_dependence_x(dep), y="probability:Q",
        tooltip=["model", alt.Tooltip("probability:Q", format=_answer(class_name, regression)[2], title="now")])
    return (_model_lines(dep, row_curves.curves, class_name, regression) + rule + dots).properties(
        width=520, height=300,
        title=f"Row {row_curves.row}: {_answer(class_name, regression)[0]} as only this feature changes")


def attribution_scatter(frame: pd.DataFrame, *, feature_name: str, method_label: str, categorical: bool) -> alt.Chart:
    """A SHAP dependence plot for every model (core.views.dependence.attribution_scatter): feature value against
    attribution, one colour per model (a legend while there are few enough to tell apart)."""
    labels = [model_label(m) for m in sorted(frame["model"].unique())]
    frame = frame.assign(model=frame["model"].map(model_label))
    x = (alt.X("value:N", title=feature_name, axis=alt.Axis(labelAngle=0)) if categorical
         else alt.X("value:Q", title=feature_name, scale=alt.Scale(zero=False, padding=8)))
    legend = alt.Legend(title=None) if len(labels) <= 12 else None
    chart = alt.Chart(frame, title=f"{method_label} attribution of {feature_name} in each explained row").mark_circle(
        size=45, opacity=0.75).encode(
        x=x, y=alt.Y("attribution:Q", title=f"{method_label} attribution"),
        color=alt.Color("model:N", sort=labels, legend=legend),
        tooltip=["model", "row", "value", alt.Tooltip("attribution:Q", format=".4f")],
    )
    if categorical:
        chart = chart.encode(xOffset=alt.XOffset("model:N", sort=labels))
    zero = alt.Chart(pd.DataFrame({"zero": [0.0]})).mark_rule(color="gray").encode(y="zero:Q")
    return (zero + chart).properties(width=520, height=300)


def _presentation(chart, title: str):
    """Large type and no frame, for a room (the Present page) and the story that opens the report."""
    return chart.properties(title=alt.TitleParams(title, fontSize=20, anchor="start", offset=12)).configure_axis(
        labelFontSize=16, titleFontSize=16, labelLimit=320, grid=False).configure_view(stroke=None).configure_header(
        labelFontSize=18, titleFontSize=18)


def story_accuracy(data: pd.DataFrame, title: str):
    """(model, accuracy, stack) as one dot per model on an accuracy axis; models of equal accuracy stack up."""
    lo = max(0.0, np.floor((data["accuracy"].min() - 0.05) * 10) / 10)
    frame = data.assign(model=data["model"].map(model_label))
    if len(frame) > STORY_DOTS:  # stacks of dots would run pages tall: bars of how many models reach each accuracy
        counts = _histogram(frame["accuracy"].to_numpy(), "models", 40, (lo, 1.0))
        bars = alt.Chart(counts).mark_bar(color=MODEL_A).encode(
            x=alt.X("from:Q", bin="binned", scale=alt.Scale(domain=[lo, 1.0]), axis=alt.Axis(format="%", tickCount=6),
                    title="share of test cases predicted right"), x2="to:Q",
            y=alt.Y("models:Q", title="models"),
            tooltip=[alt.Tooltip("from:Q", format=".1%"), alt.Tooltip("to:Q", format=".1%"), "models:Q"],
        )
        return _presentation(bars.properties(width=680, height=220), title)
    dots = alt.Chart(frame).mark_circle(size=420, opacity=0.85, color=MODEL_A).encode(
        x=alt.X("accuracy:Q", scale=alt.Scale(domain=[lo, 1.0]), axis=alt.Axis(format="%", tickCount=6),
                title="share of test cases predicted right"),
        y=alt.Y("stack:O", axis=None, sort="descending"),
        tooltip=["model", alt.Tooltip("accuracy:Q", format=".1%")],
    )
    return _presentation(dots.properties(width=680, height=alt.Step(30)), title)


def story_rmse(data: pd.DataFrame, title: str):
    """Regression's story_accuracy: (model, accuracy holding RMSE, stack) as one dot per model on an RMSE axis."""
    frame = data.rename(columns={"accuracy": "rmse"}).assign(model=data["model"].map(model_label))
    if len(frame) > STORY_DOTS:
        counts = _histogram(frame["rmse"].to_numpy(), "models", 40)
        bars = alt.Chart(counts).mark_bar(color=MODEL_A).encode(
            x=alt.X("from:Q", bin="binned", title="root mean squared error (lower is better)"), x2="to:Q",
            y=alt.Y("models:Q", title="models"),
            tooltip=[alt.Tooltip("from:Q", format=".4g"), alt.Tooltip("to:Q", format=".4g"), "models:Q"])
        return _presentation(bars.properties(width=680, height=220), title)
    dots = alt.Chart(frame).mark_circle(size=420, opacity=0.85, color=MODEL_A).encode(
        x=alt.X("rmse:Q", scale=alt.Scale(zero=False), title="root mean squared error (lower is better)"),
        y=alt.Y("stack:O", axis=None, sort="descending"),
        tooltip=["model", alt.Tooltip("rmse:Q", format=".4g")])
    return _presentation(dots.properties(width=680, height=alt.Step(30)), title)


def story_pair(data: pd.DataFrame, title: str):
    """(model, feature, share, rank) two models' shares of importance side by side, features in the frame's
    order; each bar ends with the feature's rank in that model."""
    names = list(dict.fromkeys(data["feature"]))
    models = list(dict.fromkeys(data["model"]))
    base = alt.Chart(data.assign(label="#" + data["rank"].astype(str))).encode(
        x=alt.X("share:Q", axis=alt.Axis(format="%", tickCount=4), title="share of the model's total importance"),
        y=alt.Y("feature:N", sort=names, title=None),
    )
    bars = base.mark_bar().encode(
        color=alt.Color("model:N", scale=alt.Scale(domain=models, range=[MODEL_A, MODEL_B]), legend=None),
        tooltip=["model", "feature", alt.Tooltip("share:Q", format=".0%"), "rank"],
    )
    ranks = base.mark_text(align="left", dx=6, fontSize=15).encode(text="label:N")
    return _presentation((bars + ranks).properties(width=300, height=alt.Step(34)).facet(
        column=alt.Column("model:N", sort=models, title=None), spacing=60), title)


def story_baselines(data: pd.DataFrame, title: str):
    """(what, agreement, lo, hi, note): the models' agreement with its interval between chance and the explainer's noise."""
    order = list(data["what"])
    colour = alt.Color("what:N", scale=alt.Scale(domain=order, range=["#9e9e9e", MODEL_B, MODEL_A][:len(order)]),
                       legend=None)
    base = alt.Chart(data).encode(y=alt.Y("what:N", sort=order, title=None))
    x = alt.X("agreement:Q", scale=alt.Scale(domain=[0, 1]), axis=alt.Axis(format="%"), title=None)
    band = base.mark_rule(strokeWidth=6, opacity=0.5, color=MODEL_B).encode(x=alt.X("lo:Q"), x2="hi:Q")
    dots = base.mark_circle(size=500, opacity=1).encode(x=x, color=colour,
                                                         tooltip=["what", alt.Tooltip("agreement:Q", format=".0%")])
    labels = base.mark_text(dy=-26, fontSize=18, fontWeight="bold").encode(
        x=x, text=alt.Text("agreement:Q", format=".0%"), color=colour)
    notes = base.mark_text(dy=26, fontSize=14, color="#57606a").encode(x=x, text="note:N")
    return _presentation((band + dots + labels + notes).properties(width=680, height=alt.Step(90)), title)


def story_case(data: pd.DataFrame, title: str):
    """(model, rank, feature, attribution) each model's top features for one case as a grid, one colour per feature."""
    models = list(dict.fromkeys(data["model"]))
    base = alt.Chart(data).encode(
        x=alt.X("rank:O", title="1 = most important", axis=alt.Axis(orient="top", labelAngle=0)),
        y=alt.Y("model:N", sort=models, title=None),
    )
    cells = base.mark_rect(stroke="white", strokeWidth=3).encode(
        color=alt.Color("feature:N", scale=alt.Scale(scheme="set3"), legend=None),
        tooltip=["model", "rank", "feature", alt.Tooltip("attribution:Q", format=".4f")],
    )
    names = base.mark_text(fontSize=15, limit=160).encode(text="feature:N")
    return _presentation((cells + names).properties(width=alt.Step(170), height=alt.Step(40)), title)


STORY_CHARTS = {"accuracy": story_accuracy, "rmse": story_rmse, "pair": story_pair, "baselines": story_baselines, "case": story_case}


def story_chart(step):
    """The chart of one step of the story (core.views.story.Step), or None for a step without one."""
    return None if step.chart is None else STORY_CHARTS[step.chart](step.data, step.chart_title)
