"""Altair charts of a comparison, shared by the app and the HTML report.

Each function takes results (arrays, frames) and returns an altair Chart; none
computes anything a test would need to check.
"""
from __future__ import annotations

import altair as alt
import numpy as np
import pandas as pd

MODEL_A, MODEL_B = "#4C78A8", "#F58518"


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


def disagreement_heatmap(disagreement: np.ndarray, *, title: str) -> alt.Chart:
    """(model, model) share of rows two models predict differently, on the oranges scale in percent."""
    return heatmap(disagreement, title=title, value="disagreement", fmt=".1%", domain=None, scheme="oranges",
                   light_high=False)


def accuracy_strip(per_model: pd.DataFrame) -> alt.Chart:
    """Test accuracy of each model as a dot plot, with the mean as a rule."""
    frame = per_model.reset_index()[["model", "accuracy"]].assign(model=lambda d: d["model"].map(model_label))
    dots = alt.Chart(frame, title="Test accuracy of each model").mark_circle(size=90).encode(
        x=alt.X("accuracy:Q", scale=alt.Scale(zero=False), axis=alt.Axis(format="%")),
        y=alt.Y("model:N", sort=None, title=None), tooltip=["model", alt.Tooltip("accuracy:Q", format=".2%")],
    )
    mean = alt.Chart(frame).mark_rule(color="gray", strokeDash=[4, 4]).encode(x="mean(accuracy):Q")
    return (dots + mean).properties(width=420, height=alt.Step(24))


def training_curves(train_loss: np.ndarray, val_accuracy: np.ndarray) -> alt.Chart:
    """(model, epoch) curves: training loss and validation accuracy per seed."""
    n_models, n_epochs = train_loss.shape
    frame = pd.DataFrame({
        "model": np.repeat([model_label(m) for m in range(n_models)], n_epochs),
        "epoch": np.tile(np.arange(1, n_epochs + 1), n_models),
        "training loss": train_loss.ravel(), "validation accuracy": val_accuracy.ravel(),
    })
    base = alt.Chart(frame).mark_line(opacity=0.7).encode(x="epoch:Q", color=alt.Color("model:N", legend=None),
                                                           tooltip=["model", "epoch"])
    return (base.encode(y="training loss:Q").properties(width=320, height=220, title="Training loss")
            | base.encode(y=alt.Y("validation accuracy:Q", scale=alt.Scale(zero=False)))
            .properties(width=320, height=220, title="Validation accuracy"))


def importance_small_multiples(importance: np.ndarray, feature_names: list[str], *, top: int = 10,
                               columns: int = 5) -> alt.Chart:
    """Global importance (model, feature) as one bar chart per model, the overall top features, same order."""
    order = np.argsort(-importance.mean(axis=0))[:top]
    names = [feature_names[f] for f in order]
    frame = pd.DataFrame([(model_label(m), feature_names[f], float(importance[m, f]))
                          for m in range(len(importance)) for f in order],
                         columns=["model", "feature", "mean |attribution|"])
    return alt.Chart(frame).mark_bar().encode(
        x=alt.X("mean |attribution|:Q", title=None), y=alt.Y("feature:N", sort=names, title=None),
        color=alt.Color("feature:N", legend=None, sort=names), tooltip=["model", "feature", "mean |attribution|"],
    ).properties(width=150, height=alt.Step(20)).facet(facet=alt.Facet("model:N", title=None, sort=None),
                                                            columns=columns)


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


def gap_vs_agreement(pairs: pd.DataFrame) -> alt.Chart:
    """Every model pair (agreement.model_pairs): accuracy gap against explanation agreement; equal-accuracy pairs highlighted."""
    frame = pairs.assign(pair=lambda d: "model " + d["model_a"].astype(str) + " vs " + d["model_b"].astype(str),
                         equal=lambda d: np.where(d["equal_accuracy"], "equal accuracy", "different accuracy"))
    return alt.Chart(frame, title="Accuracy gap vs explanation agreement, every pair of models").mark_circle(
        size=80).encode(
        x=alt.X("accuracy_gap:Q", title="accuracy gap", axis=alt.Axis(format="%")),
        y=alt.Y("agreement:Q", title="explanation agreement", scale=alt.Scale(zero=False, domainMax=1)),
        color=alt.Color("equal:N", scale=alt.Scale(domain=["equal accuracy", "different accuracy"],
                                                   range=["#E45756", "#9e9e9e"]), title=None),
        tooltip=["pair", alt.Tooltip("accuracy_gap:Q", format=".2%"), alt.Tooltip("agreement:Q", format=".2f")],
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


def seed_budget(curve: pd.DataFrame) -> alt.Chart:
    """Each quantity against the number of models (budget.SeedBudget.curve): estimate and band."""
    titles = {"agreement": "explanation agreement", "accuracy_std": "accuracy std", "ambiguity": "prediction ambiguity"}
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
