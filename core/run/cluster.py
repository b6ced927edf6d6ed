"""The Ray engine: a comparison's models fan out to a Ray cluster, or to a Ray runtime on this machine.

compare() trains and explains all N models in this process. compare_on_ray() returns the same
Comparison with the models cut into chunks of consecutive indices, each trained, then explained,
by one Ray task:
- Model m's seeds depend only on (seed, source, m), so a chunk trains m bit for bit as the whole run
  does (training.train_models); the driver joins the chunks' weights into one bank and scores it.
- Every chunk is explained on one explain.Basis drawn by the driver for the whole run (rows, target
  classes, background): common random numbers hold across workers. The driver draws it once all
  models are trained, since a multiclass target is the majority vote of every model.
- The noise floor (model 0 again under another explainer seed) runs once, in the chunk holding model 0.
- Workers get the dataset's arrays (put in the object store once), the split, the frozen configs
  and their model range; never a user's file, column names or class names. They send back weights
  (numpy arrays; fitted pipelines for scikit-learn families), fingerprints, histories and attributions.
Ray is imported only here and only when a Ray engine is asked for: the in-process path never loads it.
A process holds one Ray connection, so an app process joins one cluster (the first one asked for).
"""
from __future__ import annotations

import logging
import math
import socket
import threading
from dataclasses import dataclass, replace
from pathlib import Path
from urllib.parse import urlsplit

import numpy as np
import torch

from .compare import Comparison
from ..training.data import Dataset
from ..errors import ConfigError
from ..explainers.registry import ExplainConfig, split_methods
from ..explainers.methods import (
    Attributions,
    Basis,
    Blocks,
    Explanation,
    blocks_on,
    explain_basis,
    explain_on,
    refine,
)
from ..explainers.shap_lime import Normal
from ..agree.scores import evaluate
from ..training.models import BatchedMLP, MLPBank, SklearnBank
from ..runtime import WORKERS, Progress, deterministic, library_versions, stage
from ..training.config import RunConfig
from ..training.fit import MODEL_BLOCK, History, Run, check_model, join_histories, split_rows, train_models

LOCAL = "local"  # the address of a Ray runtime started on this machine
RETRIES = 3  # reruns of a task whose worker or machine died
_CHUNK_PARAMETERS = 1 << 20  # MLP parameters per task by default: a chunk's explainer arrays grow with its models
_PROBE_SECONDS = 5.0
_LOCK = threading.Lock()
_joined: dict[str, str] = {}  # {"address": ...} of this process's Ray connection (Ray allows one per process)


@dataclass(frozen=True)
class Cluster:
    """A Ray cluster this process is connected to."""

    address: str  # as asked for: LOCAL, "auto", "ray://host:port" or "host:port"
    machines: int
    cpus: int
    task_cpus: int  # CPUs each task asks for: explaining shares its work out among WORKERS threads, as compare() does

    @property
    def slots(self) -> int:
        """Tasks the cluster runs at a time."""
        return max(1, self.cpus // self.task_cpus)

    def describe(self) -> str:
        machines = f"{self.machines} machine{'s' if self.machines != 1 else ''}"
        return f"{machines}, {self.cpus} CPUs (runs {self.slots} task{'s' if self.slots != 1 else ''} at a time)"


def check_address(address: str | None) -> str:
    """The address in canonical form (LOCAL for None); ConfigError for one that is not a Ray address."""
    if address is None or address.strip() in ("", LOCAL):
        return LOCAL
    address = address.strip()
    if address == "auto":
        return address
    parts = urlsplit(address if "://" in address else f"//{address}")
    try:
        port = parts.port
    except ValueError:
        port = None
    if parts.scheme not in ("", "ray") or not parts.hostname or port is None or parts.path not in ("", "/"):
        raise ConfigError(f"{address!r} is not a Ray cluster address; use auto (the cluster this machine belongs "
                          "to), ray://HOST:PORT (a remote head, port 10001 by default) or HOST:PORT.")
    return address


def connect_ray(address: str | None = None, *, num_cpus: int | None = None) -> Cluster:
    """Join the Ray cluster at `address`, or start a Ray runtime on this machine (None) with num_cpus CPUs.

    Joining again the cluster this process already belongs to is free; ConfigError when the address
    cannot be reached, or when this process already belongs to another cluster.
    """
    address = check_address(address)
    try:
        import ray
    except ImportError:
        raise ConfigError("The Ray engine needs Ray: pip install -r requirements.txt") from None
    if address not in (LOCAL, "auto"):  # a quick answer, where Ray would retry for a while
        try:
            socket.create_connection(_host_port(address), timeout=_PROBE_SECONDS).close()
        except OSError as exc:
            raise _unreachable(address, exc.strerror or str(exc)) from None
    with _LOCK:
        if not ray.is_initialized():
            _joined.clear()
            _init(ray, address, num_cpus)
            _joined["address"] = address
        elif address not in (_joined.get("address"), "auto") and address != _gcs_address(ray):
            raise ConfigError(f"This process already runs on the Ray cluster at {_joined.get('address', 'unknown')}; "
                              f"restart it to use {address}.")
        nodes = [n for n in ray.nodes() if n.get("Alive")]
    cpus = [int(n.get("Resources", {}).get("CPU", 0)) for n in nodes]
    # A task asks for the threads it computes with, or for the largest machine's CPUs if smaller (else it never runs).
    return Cluster(address, len(nodes), sum(cpus), max(1, min(WORKERS, max(cpus, default=1))))


def _host_port(address: str) -> tuple[str, int]:
    parts = urlsplit(address if "://" in address else f"//{address}")
    return parts.hostname, parts.port


def _gcs_address(ray) -> str | None:
    try:
        return ray.get_runtime_context().gcs_address
    except Exception:  # a Ray Client connection (ray://) has no GCS address of its own
        return None


def disconnect_ray() -> None:
    """Leave the Ray cluster (stopping the runtime if this process started it), if connected."""
    import ray
    with _LOCK:
        _joined.clear()
        ray.shutdown()


def _init(ray, address: str, num_cpus: int | None) -> None:
    quiet = {"logging_level": logging.ERROR, "log_to_driver": False}
    if address == LOCAL:
        # A new runtime even where `ray start` left one running (or its address file behind).
        ray.init(address="local", num_cpus=num_cpus, include_dashboard=False, **quiet)
        return
    try:
        # Workers on other machines import this package from the cluster, not from their disk.
        ray.init(address=address, runtime_env={"py_modules": [str(Path(__file__).parents[1])]}, **quiet)
    except (ConnectionError, RuntimeError, TimeoutError) as exc:
        reason = "no Ray cluster runs on this machine" if address == "auto" else str(exc).splitlines()[0]
        if address != "auto":  # the port answers, yet no session: most often a missing token
            reason += "; if the cluster uses token authentication, set RAY_AUTH_MODE=token and RAY_AUTH_TOKEN here"
        raise _unreachable(address, reason) from None


def _unreachable(address: str, reason: str) -> ConfigError:
    return ConfigError(f"Cannot reach a Ray cluster at {address} ({reason}). Start one with `ray start --head` on "
                       "its head machine and check the address (auto on a machine of the cluster, "
                       "ray://HEAD:10001 from elsewhere), or compute on this machine instead.")


def default_chunk(dataset: Dataset, run_config: RunConfig, slots: int) -> int:
    """Models per task: about _CHUNK_PARAMETERS MLP parameters, at most an even share of the cluster's
    task slots, in whole aligned blocks (training.MODEL_BLOCK) so that no block is trained twice."""
    n = run_config.n_models
    by_size = n
    if run_config.family == "mlp":
        sizes = [dataset.n_features, *run_config.mlp.hidden, dataset.n_classes]
        by_size = max(1, _CHUNK_PARAMETERS // sum((a + 1) * b for a, b in zip(sizes[:-1], sizes[1:])))
    chunk = min(by_size, math.ceil(n / slots))
    return min(n, MODEL_BLOCK * math.ceil(chunk / MODEL_BLOCK))


@dataclass(frozen=True, eq=False)
class _Shared:
    """What every task reads, put in the object store once: the dataset's arrays and the split."""

    X: np.ndarray  # (row, feature)
    y: np.ndarray  # (row,)
    n_classes: int
    task: str
    train_rows: np.ndarray  # (model, rows) dataset row ids, as Run holds them
    val_rows: np.ndarray
    test_rows: np.ndarray

    def dataset(self) -> Dataset:
        """The arrays as a Dataset, its names placeholders (a worker gets none of the user's)."""
        return Dataset("part", self.X, self.y, tuple(f"x{i}" for i in range(self.X.shape[1])),
                       tuple(str(c) for c in range(self.n_classes)), content_hash="part", task=self.task)


@dataclass(frozen=True, eq=False)
class _Trained:
    """A chunk's trained models. MLPs as arrays: weights, biases per layer ((model, in, out), (model, out))."""

    models: range
    weights: tuple[np.ndarray, ...] | None
    biases: tuple[np.ndarray, ...] | None
    mean: np.ndarray | None  # (model, feature)
    std: np.ndarray | None
    pipelines: tuple | None  # fitted scikit-learn pipelines, for the other families
    fingerprints: tuple[str, ...]
    history: History | None
    libraries: dict[str, str]  # the worker's Python and libraries (runtime.library_versions)


def _train_chunk(shared: _Shared, run_config: RunConfig, models: range) -> _Trained:
    bank, history = train_models(shared.dataset(), run_config, shared.train_rows, shared.val_rows, models=models)
    if isinstance(bank, SklearnBank):
        return _Trained(models, None, None, None, None, bank.pipelines, bank.fingerprints(), history,
                        library_versions())
    m = bank.module
    return _Trained(models, tuple(w.detach().numpy() for w in m.weights), tuple(b.detach().numpy() for b in m.biases),
                    m.mean.numpy(), m.std.numpy(), None, bank.fingerprints(), history, library_versions())


def _bank(parts: list[_Trained], run_config: RunConfig, n_classes: int) -> MLPBank | SklearnBank:
    """One bank of every part's models, in order."""
    if parts[0].pipelines is not None:
        return SklearnBank(tuple(p for part in parts for p in part.pipelines), n_classes)

    def joined(arrays) -> torch.Tensor:
        return torch.tensor(np.concatenate(arrays))
    layers = range(len(parts[0].weights))
    return MLPBank(BatchedMLP([joined([p.weights[i] for p in parts]) for i in layers],
                              [joined([p.biases[i] for p in parts]) for i in layers],
                              joined([p.mean for p in parts]), joined([p.std for p in parts]),
                              dropout=run_config.mlp.dropout))


def _part(shared: _Shared, run_config: RunConfig, trained: _Trained) -> Run:
    """The chunk's models as a Run. A chunk of one model of a larger run holds two copies of it: torch
    computes a batch of one by other kernels (matrix-vector products) that round the last bits
    differently, and a model must get the values it gets in the whole run's bank."""
    n = len(trained.models)
    members = [0, 0] if n == 1 and run_config.n_models > 1 else list(range(n))  # positions in the chunk
    ids = slice(trained.models.start, trained.models.stop)
    bank = _bank([trained], run_config, shared.n_classes).subset(members)
    return Run(run_config, shared.dataset(), bank, shared.train_rows[ids][members], shared.val_rows[ids][members],
               shared.test_rows[ids][members], tuple(trained.fingerprints[i] for i in members), trained.history)


def _explain_chunk(shared: _Shared, run_config: RunConfig, explain_config: ExplainConfig, trained: _Trained,
                   basis: Basis) -> dict[str, Attributions]:
    """{method: its attributions} of the chunk's models (explain_on: halves of a sampling method included)."""
    n = len(trained.models)
    explanation = explain_on(_part(shared, run_config, trained), basis, explain_config)
    return {name: replace(a, values=a.values[:n], halves=None if a.halves is None else a.halves[:, :n],
                          normals=a.normals and tuple(normal.models(slice(n)) for normal in a.normals))
            for name, a in explanation.by_method.items()}


def _blocks_chunk(shared: _Shared, run_config: RunConfig, explain_config: ExplainConfig, trained: _Trained,
                  basis: Basis, name: str, blocks: range) -> Blocks:
    """More blocks of sampling method `name` for the chunk's models (refine)."""
    return blocks_on(_part(shared, run_config, trained), basis, explain_config, name, blocks).models(
        slice(len(trained.models)))


def compare_on_ray(dataset: Dataset, run_config: RunConfig, explain_config: ExplainConfig = ExplainConfig(), *,
                   address: str | None = None, chunk: int | None = None, num_cpus: int | None = None,
                   progress: Progress | None = None, delta: float | None = None) -> Comparison:
    """compare() on a Ray cluster (address: see connect_ray; None starts a runtime on this machine with
    num_cpus CPUs), `chunk` models per task (None: default_chunk). The same Comparison as compare()."""
    check_model(run_config, dataset.task)
    if delta is not None and not delta > 0:
        raise ConfigError(f"The tolerance must be positive, in the target's units; got {delta}.")
    usable, skipped = split_methods(explain_config.methods, run_config.family, dataset.n_classes)  # before any work
    if chunk is not None and chunk < 1:
        raise ConfigError(f"A chunk holds at least one model; got {chunk}.")
    if progress:
        progress(0.0, "Connecting to Ray")
    cluster = connect_ray(address, num_cpus=num_cpus)
    import ray
    n = run_config.n_models
    train_rows, val_rows, test_rows = split_rows(dataset, run_config)
    size = chunk or default_chunk(dataset, run_config, cluster.slots)
    ranges = [range(a, min(n, a + size)) for a in range(0, n, size)]
    task = {"num_cpus": cluster.task_cpus, "max_retries": RETRIES}
    # Where this process reaches the cluster, probed while waiting: the GCS, or a ray:// client's own address.
    reach = _gcs_address(ray) or _joined.get("address")
    head = _host_port(reach) if reach not in (None, LOCAL, "auto") else None
    try:
        shared = ray.put(_Shared(dataset.X, dataset.y, dataset.n_classes, dataset.task, train_rows, val_rows, test_rows))
        trained_refs = [ray.remote(**task)(_train_chunk).remote(shared, run_config, r) for r in ranges]
        parts = _gather(ray, head, trained_refs, ranges, progress, 0.0, 0.4, f"Ray: trained {{}}/{n} models")
        libraries = same_libraries(library_versions(), [p.libraries for p in parts]) | {"ray": ray.__version__}
        run = Run(run_config, dataset, _bank(parts, run_config, dataset.n_classes), train_rows, val_rows, test_rows,
                  tuple(f for p in parts for f in p.fingerprints),
                  join_histories([p.history for p in parts], run_config.mlp.patience) if parts[0].history else None)
        with deterministic():
            evaluation = evaluate(run, delta=delta)
            basis = explain_basis(run, evaluation.rows, explain_config)
        explain, basis_ref = ray.remote(**task)(_explain_chunk), ray.put(basis)
        explained_refs = [explain.remote(shared, run_config, explain_config, ref, basis_ref) for ref in trained_refs]
        explained = _gather(ray, head, explained_refs, ranges, progress, 0.4, 1.0, f"Ray: explained {{}}/{n} models")
        by_method = {name: _chunks_joined([part[name] for part in explained]) for name in usable}
        explanation = Explanation(explain_config, basis.rows, basis.target, by_method, skipped)

        def more(name: str, blocks: range, report) -> Blocks:  # refine's blocks, explained chunk by chunk on the cluster
            remote = ray.remote(**task)(_blocks_chunk)
            refs = [remote.remote(shared, run_config, explain_config, ref, basis_ref, name, blocks) for ref in trained_refs]
            reported = report and (lambda f, message: report(f))  # models done, as the chunks finish
            return Blocks.joined(_gather(ray, head, refs, ranges, reported, 0.0, 1.0, ""))
        with deterministic():
            # Its reports (only when it draws more) come at the end of the bar, which the explained models filled.
            explanation = refine(run, basis, explanation, explain_blocks=more, progress=stage(progress, 1.0, 1.0))
    except ray.exceptions.RayTaskError:
        raise  # an error inside a task (raised as the task's own exception type): not the cluster's
    except (ray.exceptions.RayError, ConnectionError) as exc:
        disconnect_ray()  # so that the next run connects afresh
        raise ConfigError(f"The Ray cluster at {cluster.address} failed during the run ({type(exc).__name__}: "
                          f"{str(exc).splitlines()[0] if str(exc) else 'no detail'}); check it with `ray status` "
                          "and start the run again.") from None
    return Comparison(run, evaluation, explanation, libraries)


def _chunks_joined(parts: list[Attributions]) -> Attributions:
    """One method's attributions of every model, from the chunks' (explained on the same basis and seeds)."""
    first = parts[0]
    return replace(first, values=np.concatenate([a.values for a in parts]),
                   halves=None if first.halves is None else np.concatenate([a.halves for a in parts], axis=1),
                   normals=first.normals and tuple(Normal.joined(list(n)) for n in zip(*(a.normals for a in parts))))


_COMPUTE = ("python", "numpy", "pandas", "scikit-learn", "torch", "shap", "lime")  # what workers compute with


def same_libraries(here: dict[str, str], workers: list[dict[str, str]]) -> dict[str, str]:
    """The versions every machine computed with, or a ConfigError naming a library whose version differs:
    models trained or explained with other versions would not give the in-process results. Only what
    the workers compute with counts (a worker without the app's streamlit or altair is fine)."""
    for versions in workers:
        for name in _COMPUTE:
            if here.get(name) != versions.get(name):
                raise ConfigError(f"A worker of the Ray cluster runs {name} {versions.get(name, '(none)')}, this "
                                  f"machine {here.get(name, '(none)')}: install the same requirements.txt on every "
                                  "machine of the cluster, then start the run again.")
    return dict(here)


def _gather(ray, head: tuple[str, int] | None, refs: list, ranges: list[range], progress: Progress | None,
            start: float, end: float, message: str) -> list:
    """The tasks' results in order; progress counts the models of finished tasks, on whichever worker.

    ConnectionError once the cluster's head stops answering: Ray's waits do not fail then, its driver
    retries the head for a minute and then ends this whole process.
    """
    pending, done, total = dict(zip(refs, ranges)), 0, sum(map(len, ranges))
    while pending:
        ready, _ = ray.wait(list(pending), num_returns=1, timeout=_PROBE_SECONDS)
        if not ready:
            if head is not None:
                try:
                    socket.create_connection(head, timeout=_PROBE_SECONDS).close()
                except OSError as exc:
                    raise ConnectionError(f"its head at {head[0]}:{head[1]} does not answer: "
                                          f"{exc.strerror or exc}") from None
            continue
        done += len(pending.pop(ready[0]))
        if progress:
            progress(start + (end - start) * done / total, message.format(done))
    return ray.get(refs)
