"""Explaining N models: the per-model, per-row notebook way against SeedScope's batched pipeline.

breast_cancer, N=10 MLPs, 50 test rows, in one process:
- naive: per model and per row, shap.KernelExplainer at its defaults on a 20-row k-means
  background, then LimeTabularExplainer.explain_instance at its defaults;
- ours: core.run.compare's explain + summarize (KernelSHAP, LIME, integrated gradients, each sampling
  explainer on two halves of its samples, and every agreement metric), at SeedScope's defaults: 512 KernelSHAP coalitions
  shared by all rows and models, and LIME sampling continuous features around each row.
SHAP fidelity of each side: Pearson correlation of its SHAP values (positive class, the first
FIDELITY_MODELS models) with a reference computed by KernelSHAP with 10x the default samples
and no feature selection, on the same background.
Last line: `speedup=<float> fidelity=<float> naive_fidelity=<float>`.
"""
from __future__ import annotations

import sys
import time
import warnings
from dataclasses import replace
from pathlib import Path

import numpy as np
import shap
import torch
from lime.lime_tabular import LimeTabularExplainer

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from core import MLPConfig, RunConfig, load_builtin, train  # noqa: E402
from core.run.compare import Comparison, summarize  # noqa: E402
from core.explainers.registry import ExplainConfig
from core.explainers.methods import explain  # noqa: E402
from core.agree.scores import evaluate  # noqa: E402

N_MODELS, N_ROWS, BACKGROUND, FIDELITY_MODELS = 10, 50, 20, 3


def naive(run, X: np.ndarray, train_X: np.ndarray) -> tuple[float, np.ndarray]:
    """Returns seconds and (model, row, feature) positive-class SHAP values."""
    start = time.perf_counter()
    background = shap.kmeans(train_X, BACKGROUND)
    names = list(run.dataset.feature_names)
    shap_values = []
    for m in range(N_MODELS):
        model = run.bank.module.single(m)

        def predict(points, model=model):
            with torch.no_grad():
                return model(torch.as_tensor(points, dtype=torch.float32)).double().numpy()

        values = shap.KernelExplainer(predict, background).shap_values(X, silent=True)
        shap_values.append(np.asarray(values)[..., 1])
        lime = LimeTabularExplainer(train_X, feature_names=names, class_names=["0", "1"], random_state=m)
        for x in X:
            lime.explain_instance(x, predict)
    return time.perf_counter() - start, np.stack(shap_values)


def reference(run, rows) -> np.ndarray:
    """KernelSHAP with 10x the default samples and no feature selection, first FIDELITY_MODELS models."""
    subset = replace(run, bank=run.bank.subset(list(range(FIDELITY_MODELS))))
    samples = 10 * (2 * run.dataset.n_features + 2048)
    config = ExplainConfig(methods=("kernel_shap",), max_rows=N_ROWS, kernel_samples=samples,
                           background_size=BACKGROUND, noise_floor=False, seed=12345)
    return explain(subset, rows, config).by_method["kernel_shap"].values


def pearson(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.corrcoef(a.ravel(), b.ravel())[0, 1])


def main():
    warnings.filterwarnings("ignore")
    ds = load_builtin("breast_cancer")
    run = train(ds, RunConfig(n_models=N_MODELS, vary={"init", "order"}, mlp=MLPConfig(epochs=60)))
    evaluation = evaluate(run)
    config = ExplainConfig(methods=("kernel_shap", "lime", "integrated_gradients"), max_rows=N_ROWS,
                           background_size=BACKGROUND)
    rows = evaluation.rows[:N_ROWS]

    start = time.perf_counter()
    explanation = explain(run, rows, config)
    summarize(Comparison(run, evaluation, explanation), k=5)
    ours = time.perf_counter() - start

    train_X = ds.X[np.unique(run.train_rows[0])]
    naive_time, naive_shap = naive(run, ds.X[rows], train_X)
    ref = reference(run, rows)
    ours_shap = explanation.by_method["kernel_shap"].values[:FIDELITY_MODELS]
    fidelity, naive_fidelity = pearson(ours_shap, ref), pearson(naive_shap[:FIDELITY_MODELS], ref)
    per = N_MODELS * N_ROWS
    print(f"naive: {naive_time:.1f} s ({naive_time / per * 1000:.0f} ms per (model, row), SHAP + LIME)")
    print(f"ours:  {ours:.1f} s (SHAP + LIME + integrated gradients, in halves, + all agreement metrics)")
    print(f"speedup={naive_time / ours:.2f} fidelity={fidelity:.3f} naive_fidelity={naive_fidelity:.3f}")


if __name__ == "__main__":
    main()
