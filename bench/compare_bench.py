"""The whole comparison at full scale, against the naive notebook on the same work, in one process.

On breast_cancer (2 cores is the reference machine):
(a) full_s: the CLI's default comparison (10 MLPs; KernelSHAP 512 coalitions, LIME 5000 samples,
    integrated gradients, each sampling explainer on two halves of its samples for the like-with-like
    test, precision "auto" drawing more while it is undecided) on every test row, train + explain +
    summarize; coalitions: the KernelSHAP coalitions (a) ended with;
(b) demo_s: the breast-cancer demo preset exactly as the app runs it;
(c) n200_s: (a) with 200 models;
(d) naive_s: the notebook's work for (a): its ten MLPs trained one after another (train_bench's
    loop, timed) plus its per-(model, row) KernelExplainer + LIME cost (explain_bench's naive
    path, timed on a sample of (a)'s rows) times 10 x the test rows.
(e) training-set size: explaining 50 rows of 10 MLPs (default methods) trained on 20,000 and on
    100,000 synthetic rows; the ratio should stay near 1 (the background summarises a sample).
(a), (b) and (d)'s explaining cost are each the median of REPEATS measurements, (a) and (d)'s taken by
turns so that each pair ran under the same load ((c), a minute long, is measured once, so linearity
divides one measurement by a median): on a shared 2-core
machine a neighbour can halve one core's speed for seconds at a time (the engine shares its work
out among its threads as each is free, see core.runtime.spread, so a slowed core does less of it).
(f) reg_s: regression, the default comparison on every diabetes test row (10 MLPs, the default methods),
    median of REPEATS; reg_speedup: the naive notebook on the same work (its MLPs trained on squared error
    one after another, then per model and row shap.KernelExplainer plus LimeTabularExplainer(mode=
    "regression") at their defaults, timed on a sample of rows) over reg_s. Target: reg_speedup >= 30.
fidelity: Pearson correlation of (a)'s KernelSHAP with a 10x-sample reference (explain_bench's).
peak_mb: the peak resident memory of this whole process.
Targets: speedup = naive_s / full_s >= 30, demo_s <= 6, linearity = n200_s / full_s / 20 <= 1.1,
peak_mb <= 1500, fidelity >= 0.97. --quick runs 20 models instead of 200 (n200_s scaled linearly)
and a smaller naive sample, as a smoke test.
Last line: `full_s=<f> demo_s=<f> n200_s=<f> speedup=<f> linearity=<f> peak_mb=<f> fidelity=<f> rows_ratio=<f>
coalitions=<n> reg_s=<f> reg_speedup=<f>`
(rows_ratio: (e)'s 100,000-row time over its 20,000-row time).
"""
from __future__ import annotations

import argparse
import resource
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
import explain_bench  # noqa: E402
import train_bench  # noqa: E402

from core import PRESETS, ExplainConfig, MLPConfig, RunConfig, compare, load_builtin, summarize  # noqa: E402
from core.training.data import synthetic  # noqa: E402
from core.explainers.registry import default_methods
from core.explainers.methods import explain  # noqa: E402
from core.agree.scores import evaluate  # noqa: E402
from core.training.fit import train  # noqa: E402
from core.runtime import WORKERS, stage_name  # noqa: E402

DEMO = "Breast cancer: 10 neural nets, vary init + order"
ALL_ROWS = 10_000  # more than breast_cancer's test rows: explain every one
REPEATS = 3  # measurements of (a), (b) and the notebook's explaining cost; each reports the median


def stage_clock():
    """A progress callback, and the seconds it saw each stage take (a stage: its message up to any ':')."""
    seconds, current = {}, [None, time.perf_counter()]

    def progress(fraction, message):
        now = time.perf_counter()
        if current[0] is not None:
            seconds[current[0]] = seconds.get(current[0], 0.0) + now - current[1]
        current[:] = [stage_name(message), now]

    return progress, seconds


def comparison(label, ds, run: RunConfig, explain: ExplainConfig):
    """compare + summarize(k=None), as the app and the CLI run them; prints where the time went."""
    progress, seconds = stage_clock()
    start = time.perf_counter()
    result = compare(ds, run, explain, progress=progress)
    progress(1.0, "Summarizing")
    summarize(result, k=None)
    progress(1.0, "done")
    total = time.perf_counter() - start
    stages = ", ".join(f"{name} {s:.2f}" for name, s in seconds.items() if s >= 0.01)
    print(f"{label}: {total:.2f} s ({stages}; training includes scoring)")
    return total, result


def naive_training_seconds(full) -> float:
    """The notebook's training loop for (a)'s models: one model after another (train_bench's loop, timed)."""
    train_bench.EPOCHS = RunConfig().mlp.epochs  # the CLI's 60, not train_bench's 100; same architecture and batch
    train_bench.N_MODELS = full.run.n_models
    return train_bench.naive(full.run.dataset, full.run)


def naive_pair_seconds(full, sample_rows: int) -> float:
    """The notebook's explaining cost per (model, row): explain_bench's naive path on two of (a)'s models."""
    explain_bench.N_MODELS = 2
    ds, rows = full.run.dataset, full.explanation.rows
    seconds, _ = explain_bench.naive(full.run, ds.X[rows[:sample_rows]], ds.X[np.unique(full.run.train_rows[0])])
    return seconds / (2 * sample_rows)


def naive_regression_training_seconds(full) -> float:
    """The notebook's regression training: one nn.Sequential after another, the same architecture, epochs and
    batches as (f)'s models, mean squared error on the target standardized on each model's training rows."""
    from torch import nn

    ds, mlp = full.run.dataset, full.run.config.mlp
    X, y = torch.tensor(ds.X, dtype=torch.float32), torch.tensor(ds.y, dtype=torch.float32)
    start = time.perf_counter()
    for m in range(full.run.n_models):
        rows = torch.tensor(full.run.train_rows[m])
        mean, std = X[rows].mean(0), X[rows].std(0).clamp_min(1e-12)
        y_mean, y_std = y[rows].mean(), y[rows].std()
        torch.manual_seed(m)
        sizes = [ds.n_features, *mlp.hidden]
        layers = [layer for a, b in zip(sizes[:-1], sizes[1:]) for layer in (nn.Linear(a, b), nn.ReLU(),
                                                                             nn.Dropout(mlp.dropout))]
        model = nn.Sequential(*layers, nn.Linear(sizes[-1], 1))
        opt = torch.optim.Adam(model.parameters(), lr=mlp.learning_rate)
        for _ in range(mlp.epochs):
            perm = rows[torch.randperm(len(rows))]
            for s in range(0, len(perm), mlp.batch_size):
                b = perm[s:s + mlp.batch_size]
                loss = nn.functional.mse_loss(model((X[b] - mean) / std)[:, 0], (y[b] - y_mean) / y_std)
                opt.zero_grad()
                loss.backward()
                opt.step()
    return time.perf_counter() - start


def naive_regression_pair_seconds(full, sample_rows: int) -> float:
    """The notebook's regression explaining cost per (model, row), on two of (f)'s models: KernelExplainer
    (default samples, a k-means background as explain_bench's) and LimeTabularExplainer in regression mode."""
    import shap
    from lime.lime_tabular import LimeTabularExplainer

    ds, rows = full.run.dataset, full.explanation.rows[:sample_rows]
    train_X = ds.X[np.unique(full.run.train_rows[0])]
    start = time.perf_counter()
    background = shap.kmeans(train_X, explain_bench.BACKGROUND)
    for m in range(2):
        model = full.run.bank.module.single(m)

        def predict(points, model=model):
            with torch.no_grad():
                return model(torch.as_tensor(points, dtype=torch.float32))[:, 0].double().numpy()

        shap.KernelExplainer(predict, background).shap_values(ds.X[rows], silent=True)
        lime = LimeTabularExplainer(train_X, feature_names=list(ds.feature_names), mode="regression", random_state=m)
        for x in ds.X[rows]:
            lime.explain_instance(x, predict)
    return (time.perf_counter() - start) / (2 * len(rows))


def median_comparison(label, ds, run: RunConfig, explain: ExplainConfig, after=None):
    """comparison() REPEATS times, calling after(result) after each: the median seconds, and the last
    result (all are bit-identical)."""
    seconds = []
    for i in range(REPEATS):
        total, result = comparison(f"{label} [{i + 1}/{REPEATS}]", ds, run, explain)
        seconds.append(total)
        if after:
            after(result)
    print(f"{label}: median {np.median(seconds):.2f} s")
    return float(np.median(seconds)), result


def explain_seconds_by_training_rows() -> dict[int, float]:
    """Seconds to explain 50 rows of 10 MLPs trained (one quick epoch) on synthetic data of each size."""
    seconds = {}
    for n_rows in (20_000, 100_000):
        ds = synthetic(n_rows=n_rows, n_features=20, n_informative=5)
        run = train(ds, RunConfig(mlp=MLPConfig(epochs=1, batch_size=512)))
        start = time.perf_counter()
        explain(run, evaluate(run).rows, ExplainConfig(methods=default_methods("mlp", 2), max_rows=50))
        seconds[n_rows] = time.perf_counter() - start
    print("(e) explaining 50 rows after training on " + ", ".join(f"{n:,} rows: {s:.2f} s" for n, s in seconds.items()))
    return seconds


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="20 models instead of 200, a smaller naive sample")
    args = parser.parse_args()
    warnings.filterwarnings("ignore")
    torch.set_num_threads(WORKERS)  # the notebook: torch on every core, its default
    ds = load_builtin("breast_cancer")
    compare(ds, RunConfig(n_models=2), ExplainConfig(max_rows=2))  # warm up torch's lazy initialisation
    full_config = ExplainConfig(methods=default_methods("mlp", ds.n_classes), max_rows=ALL_ROWS)

    # (a) and the notebook's explaining cost, measured by turns: each pair under the same load on the machine.
    pair_times = []

    def naive_right_after(full):
        pair_times.append(naive_pair_seconds(full, 3 if args.quick else 10))
        print(f"(d) naive explaining right after: {pair_times[-1]:.3f} s per (model, row)")

    full_s, full = median_comparison("(a) default comparison, 10 models x all test rows", ds, RunConfig(),
                                     full_config, after=naive_right_after)
    preset = PRESETS[DEMO]
    demo_s, _ = median_comparison("(b) demo preset", load_builtin(preset.dataset), preset.run, preset.explain)
    many = 20 if args.quick else 200
    many_s, _ = comparison(f"(c) {many} models", ds, RunConfig(n_models=many), full_config)
    n200_s = many_s * 200 / many
    if many != 200:
        print(f"note: --quick ran {many} models; n200_s is {many} models' time x {200 // many} = {n200_s:.2f} s")
    train_s = naive_training_seconds(full)
    naive_s = train_s + float(np.median(pair_times)) * full.run.n_models * len(full.explanation.rows)
    print(f"(d) naive notebook on (a)'s work ({len(full.explanation.rows)} rows): {naive_s:.2f} s (training "
          f"{train_s:.2f} s one model at a time, explaining {np.median(pair_times):.3f} s per (model, row))")

    reg_data = load_builtin("diabetes")
    reg_pairs = []

    def naive_regression_right_after(reg):
        reg_pairs.append(naive_regression_pair_seconds(reg, 3 if args.quick else 10))
        print(f"(f) naive regression explaining right after: {reg_pairs[-1]:.3f} s per (model, row)")

    reg_s, reg = median_comparison("(f) regression, 10 models x all diabetes test rows", reg_data, RunConfig(),
                                   ExplainConfig(methods=default_methods("mlp", 1), max_rows=ALL_ROWS),
                                   after=naive_regression_right_after)
    reg_train_s = naive_regression_training_seconds(reg)
    reg_naive_s = reg_train_s + float(np.median(reg_pairs)) * reg.run.n_models * len(reg.explanation.rows)
    print(f"(f) naive notebook on the regression's work ({len(reg.explanation.rows)} rows): {reg_naive_s:.2f} s "
          f"(training {reg_train_s:.2f} s, explaining {np.median(reg_pairs):.3f} s per (model, row))")

    by_size = explain_seconds_by_training_rows()
    sample = full.explanation.rows[:explain_bench.N_ROWS]  # the reference is costly: explain_bench's 50 rows
    reference = explain_bench.reference(full.run, sample)
    ours = full.explanation.by_method["kernel_shap"].values[:explain_bench.FIDELITY_MODELS, :len(sample)]
    fidelity = explain_bench.pearson(ours, reference)
    print(f"fidelity: {fidelity:.4f} on {explain_bench.FIDELITY_MODELS} models x {len(sample)} rows")
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"full_s={full_s:.2f} demo_s={demo_s:.2f} n200_s={n200_s:.2f} speedup={naive_s / full_s:.2f} "
          f"linearity={n200_s / full_s / 20:.2f} peak_mb={peak_mb:.2f} fidelity={fidelity:.2f} "
          f"rows_ratio={by_size[100_000] / by_size[20_000]:.2f} "
          f"coalitions={full.explanation.by_method['kernel_shap'].samples} "
          f"reg_s={reg_s:.2f} reg_speedup={reg_naive_s / reg_s:.2f}")


if __name__ == "__main__":
    main()
