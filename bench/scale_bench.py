"""What the Ray engine costs where it cannot help: one machine, a local Ray runtime of 2 CPUs, against in-process.

1,000 MLPs on breast_cancer (the CLI's default network), 50 test rows explained with the default
methods (KernelSHAP, LIME, integrated gradients, noise floors), timed in the same process:
(a) local_s: compare(), the in-process default;
(b) ray_s: compare_on_ray() on a Ray runtime of 2 CPUs started here (its start-up is printed, not
    counted: a cluster is up before a run), default chunks; its result must equal (a)'s (fingerprints
    bit for bit, attributions to 1e-6).
serial_s: the driver's own work within (b) (split, scoring, explanation basis), which no cluster
shortens; with it, the time on C machines of K CPUs follows Amdahl: serial_s + (ray_s - serial_s)
* slots_here / slots_there, with slots = CPUs / 2 tasks at a time (each task computes on 2 threads),
or the number of chunks if fewer (smaller chunks batch less well: a lower bound on the time).
Target: overhead = ray_s / local_s <= 1.15. --models N runs N models instead of 1,000.
Last line: `models=<n> local_s=<f> ray_s=<f> overhead=<f>`.
"""
from __future__ import annotations

import argparse
import sys
import time
import warnings
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from core import ConfigError, ExplainConfig, RunConfig, compare, compare_on_ray, connect_ray, load_builtin  # noqa: E402
from core.run.cluster import default_chunk  # noqa: E402
from core.explainers.registry import default_methods
from core.explainers.methods import explain_basis  # noqa: E402
from core.agree.scores import evaluate  # noqa: E402
from core.runtime import deterministic  # noqa: E402
from core.training.fit import split_rows  # noqa: E402

CPUS = 2


def timed(label, fn):
    start = time.perf_counter()
    result = fn()
    seconds = time.perf_counter() - start
    print(f"{label}: {seconds:.2f} s")
    return seconds, result


def serial_seconds(ds, result, explain: ExplainConfig) -> float:
    """The driver's share of compare_on_ray, done again here: the split, scoring the joined bank, the basis."""
    start = time.perf_counter()
    split_rows(ds, result.run.config)
    with deterministic():
        evaluation = evaluate(result.run)
        explain_basis(result.run, evaluation.rows, explain)
    return time.perf_counter() - start


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", type=int, default=1000, help="number of MLPs")
    args = parser.parse_args()
    warnings.filterwarnings("ignore")
    ds = load_builtin("breast_cancer")
    try:
        run = RunConfig(n_models=args.models)
    except ConfigError as exc:
        parser.error(str(exc))
    explain = ExplainConfig(methods=default_methods("mlp", ds.n_classes), max_rows=50)
    compare(ds, RunConfig(n_models=2), ExplainConfig(max_rows=2))  # warm up torch's lazy initialisation

    local_s, local = timed(f"(a) in-process, {args.models} models", lambda: compare(ds, run, explain))
    _, cluster = timed(f"Ray runtime start-up, {CPUS} CPUs (not counted)", lambda: connect_ray(None, num_cpus=CPUS))
    chunk = default_chunk(ds, run, cluster.slots)
    chunks = -(-args.models // chunk)
    ray_s, on_ray = timed(f"(b) Ray, {chunks} chunks of up to {chunk} models, {cluster.describe()}",
                          lambda: compare_on_ray(ds, run, explain))
    assert on_ray.run.fingerprints == local.run.fingerprints, "the models differ"
    gap = max(float(np.abs(a.values - on_ray.explanation.by_method[name].values).max())
              for name, a in local.explanation.by_method.items())
    assert gap <= 1e-6, f"attributions differ by {gap}"
    print(f"same models; attributions differ by at most {gap:.1e}")
    serial_s = serial_seconds(ds, on_ray, explain)
    parallel_s = ray_s - serial_s
    print(f"serial_s={serial_s:.2f} (driver), per chunk {parallel_s / chunks:.2f} s on {cluster.slots} slot(s)")
    for machines, cpus in ((4, 16), (16, 16)):
        slots = machines * cpus // cluster.task_cpus
        there = default_chunk(ds, run, slots)
        busy = min(slots, -(-args.models // there))  # no more tasks at a time than there are chunks
        print(f"expected on {machines} machines of {cpus} CPUs ({busy} tasks at a time, chunks of {there}): "
              f"{serial_s + parallel_s * cluster.slots / busy:.1f} s")
    print(f"models={args.models} local_s={local_s:.2f} ray_s={ray_s:.2f} overhead={ray_s / local_s:.2f}")


if __name__ == "__main__":
    main()
