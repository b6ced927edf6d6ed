"""The whole comparison at full scale, against the naive notebook on the same work, in one process.

On breast_cancer (2 cores is the reference machine):
(a) full_s: the CLI's default comparison (10 MLPs; KernelSHAP 512 coalitions, LIME 5000 samples,
    integrated gradients, noise floors) on every test row, train + explain + summarize;
(b) demo_s: the breast-cancer demo preset exactly as the app runs it;
(c) n200_s: (a) with 200 models;
(d) naive_s: the notebook's work for (a): its ten MLPs trained one after another (train_bench's
    loop, timed) plus its per-(model, row) KernelExplainer + LIME cost (explain_bench's naive
    path, timed on a sample) times 10 x the test rows.
fidelity: Pearson correlation of (a)'s KernelSHAP with a 10x-sample reference (explain_bench's).
Targets: speedup = naive_s / full_s >= 30, demo_s <= 6, linearity = n200_s / full_s / 20 <= 1.1,
peak_mb <= 1500, fidelity >= 0.97. --quick runs a smaller version as a smoke test.
Last line: `full_s=<f> demo_s=<f> n200_s=<f> speedup=<f> linearity=<f> peak_mb=<f> fidelity=<f>`.
"""
from __future__ import annotations

import argparse
import resource
import sys
import time
import warnings
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
import explain_bench  # noqa: E402
import train_bench  # noqa: E402

from core import PRESETS, ExplainConfig, RunConfig, compare, load_builtin, summarize, train  # noqa: E402
from core.runtime import TORCH_THREADS  # noqa: E402

DEMO = "Breast cancer: 10 neural nets, vary init + order"


def timed(fn, *args, **kwargs):
    start = time.perf_counter()
    result = fn(*args, **kwargs)
    return time.perf_counter() - start, result


def comparison(ds, run: RunConfig, explain: ExplainConfig):
    result = compare(ds, run, explain)
    summarize(result)
    return result


def naive_seconds(ds, rows: int, sample_rows: int) -> float:
    """The notebook's training loop for 10 models, plus its explaining cost per (model, row) x 10 x rows."""
    train_bench.EPOCHS = 60  # the CLI's default epochs, not train_bench's 100
    run = train(ds, RunConfig(n_models=10, mlp=replace(RunConfig().mlp, epochs=1)))
    train_s = train_bench.naive(ds, run)
    explain_bench.N_MODELS = 2
    X = ds.X[np.sort(np.random.default_rng(0).choice(len(ds.y), sample_rows, replace=False))]
    explain_s, _ = explain_bench.naive(run, X, ds.X[np.unique(run.train_rows[0])])
    return train_s + explain_s / (2 * sample_rows) * 10 * rows


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="20 models instead of 200, a smaller naive sample")
    args = parser.parse_args()
    warnings.filterwarnings("ignore")
    torch.set_num_threads(TORCH_THREADS)
    ds = load_builtin("breast_cancer")
    comparison(ds, RunConfig(n_models=2), ExplainConfig(max_rows=2))  # warm up torch's lazy initialisation

    full_s, full = timed(comparison, ds, RunConfig(), ExplainConfig(max_rows=len(ds.y)))
    rows = len(full.explanation.rows)
    print(f"(a) default comparison, 10 models x {rows} rows: {full_s:.2f} s")
    preset = PRESETS[DEMO]
    demo_s, _ = timed(comparison, load_builtin(preset.dataset), preset.run, preset.explain)
    print(f"(b) demo preset: {demo_s:.2f} s")
    many = 20 if args.quick else 200
    many_s, _ = timed(comparison, ds, RunConfig(n_models=many), ExplainConfig(max_rows=len(ds.y)))
    n200_s = many_s * 200 / many
    print(f"(c) {many} models: {many_s:.2f} s" + ("" if many == 200 else f" (x{200 // many} = {n200_s:.2f} s)"))
    naive_s = naive_seconds(ds, rows, 3 if args.quick else 10)
    print(f"(d) naive notebook on (a)'s work: {naive_s:.1f} s")

    sample = full.explanation.rows[:explain_bench.N_ROWS]  # the reference is costly: explain_bench's 50 rows
    reference = explain_bench.reference(full.run, sample)
    ours = full.explanation.by_method["kernel_shap"].values[:explain_bench.FIDELITY_MODELS, :len(sample)]
    fidelity = explain_bench.pearson(ours, reference)
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"full_s={full_s:.2f} demo_s={demo_s:.2f} n200_s={n200_s:.2f} speedup={naive_s / full_s:.2f} "
          f"linearity={n200_s / full_s / 20:.2f} peak_mb={peak_mb:.0f} fidelity={fidelity:.3f}")


if __name__ == "__main__":
    main()
