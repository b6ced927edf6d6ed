"""Batched training of N MLPs against the plain one-model-at-a-time loop a notebook would write.

N=10 MLPs on breast_cancer, 100 epochs, batch 32, same architecture and optimizer on both sides,
timed in the same process. Last line: `speedup=<float>`.
"""
from __future__ import annotations

import sys
import time
from pathlib import Path

import torch
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from core import MLPConfig, RunConfig, load_builtin, train  # noqa: E402
from core.seeding import numpy_generator  # noqa: E402
from core.runtime import WORKERS  # noqa: E402

N_MODELS, EPOCHS, BATCH = 10, 100, 32


def naive(ds, run) -> float:
    """One nn.Sequential at a time, the textbook loop, on the same rows as the batched run."""
    X, y = torch.tensor(ds.X, dtype=torch.float32), torch.tensor(ds.y)
    start = time.perf_counter()
    for m in range(N_MODELS):
        rows = torch.tensor(run.train_rows[m])
        mean, std = X[rows].mean(0), X[rows].std(0).clamp_min(1e-12)
        torch.manual_seed(m)
        model = nn.Sequential(nn.Linear(ds.n_features, 64), nn.ReLU(), nn.Dropout(0.1),
                              nn.Linear(64, 32), nn.ReLU(), nn.Dropout(0.1), nn.Linear(32, ds.n_classes))
        opt = torch.optim.Adam(model.parameters(), lr=1e-3)
        order = numpy_generator(0, "bench_order", m)
        for _ in range(EPOCHS):
            perm = rows[torch.tensor(order.permutation(len(rows)))]
            for s in range(0, len(perm), BATCH):
                b = perm[s:s + BATCH]
                loss = nn.functional.cross_entropy(model((X[b] - mean) / std), y[b])
                opt.zero_grad()
                loss.backward()
                opt.step()
    return time.perf_counter() - start


def main():
    torch.set_num_threads(WORKERS)  # the naive loop: torch's default, a thread per core (the batched trainer computes on one)
    ds = load_builtin("breast_cancer")
    cfg = RunConfig(n_models=N_MODELS, vary={"init", "order", "dropout"},
                    mlp=MLPConfig(hidden=(64, 32), dropout=0.1, epochs=EPOCHS, batch_size=BATCH))
    train(ds, RunConfig(n_models=2, mlp=MLPConfig(epochs=1)))  # warm up torch's lazy initialisation
    start = time.perf_counter()
    run = train(ds, cfg)
    batched = time.perf_counter() - start
    loop = naive(ds, run)
    print(f"naive loop: {loop:.2f} s for {N_MODELS} models ({loop / N_MODELS:.2f} s per model)")
    print(f"batched:    {batched:.2f} s for {N_MODELS} models")
    print(f"speedup={loop / batched:.2f}")


if __name__ == "__main__":
    main()
