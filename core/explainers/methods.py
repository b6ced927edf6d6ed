"""Attributions for every model of a run: SHAP, LIME and gradient saliency, shaped (model, row, feature).

Common random numbers: each stochastic explainer draws its perturbation samples
once and evaluates all N models on them in one batched call, so differences
between models are never explainer sampling noise. How much noise the
explainer itself adds is measured on two independent halves of its budget: every
model is explained on half A and on half B (each half shared by all models), the
reported values are their mean, and core.agree.verdict compares models across the
halves with each model against itself across the halves, like with like.

The two sampling explainers, KernelSHAP and LIME, live in core.explainers.shap_lime.
"""
from __future__ import annotations

import copy
import functools
import operator
from dataclasses import dataclass, field, replace
from typing import Callable

import numpy as np
import shap
import torch
from threadpoolctl import threadpool_limits

from . import gradients
from ..agree.topk import HEADLINE_METRIC, check_k, default_k
from ..agree.verdict import like_with_like
from ..errors import ConfigError
from ..training.models import MLPBank
from .registry import MAX_DOUBLINGS, METHODS, ExplainConfig, split_methods
from .shap_lime import Normal, Normals, draw_ahead
from ..runtime import Progress, deterministic, stage
from ..seeding import int_seed, numpy_generator
from ..training.config import FAMILIES
from ..training.fit import Run

_EXPANDED_BACKGROUND = 100  # rows for explainers that take unweighted background samples
_KMEANS_ROWS = 5000  # training rows the background summary is computed from, at most


@dataclass(frozen=True, eq=False)
class Attributions:
    method: str
    values: np.ndarray  # (model, row, feature)
    rows: np.ndarray  # (row,) dataset row ids explained
    target_class: np.ndarray  # (row,) the class whose probability is explained
    # (half, model, row, feature): every model on two independent halves of the samples (A, then B), each
    # half shared by all models. None for a deterministic method, or one explained without a noise floor.
    halves: np.ndarray | None = None
    samples: int | None = None  # coalitions (KernelSHAP) or samples per row (LIME) behind values; None if deterministic
    # KernelSHAP's normal equations (all runs, half A, half B), pooled over its runs: what more runs join
    # (refine). Not kept in bundles: a loaded comparison draws no more.
    normals: tuple[Normal, Normal, Normal] | None = field(default=None, repr=False)


@dataclass(frozen=True, eq=False)
class Explanation:
    """All methods' attributions of one run on the same rows."""

    config: ExplainConfig
    rows: np.ndarray  # (row,) dataset row ids
    target_class: np.ndarray  # (row,)
    by_method: dict[str, Attributions]
    skipped: tuple[str, ...] = ()  # requested methods this model family does not support

    @property
    def methods(self) -> tuple[str, ...]:
        return tuple(self.by_method)


@dataclass(frozen=True, eq=False)
class _Context:
    """What every method needs. X: (row, feature); target: (row,); background: k-means centres with weights."""

    run: Run
    rows: np.ndarray  # (row,) dataset row ids
    X: np.ndarray
    target: np.ndarray
    background: np.ndarray  # (centre, feature)
    weights: np.ndarray  # (centre,) cluster shares, summing to 1
    train_X: np.ndarray  # (row, feature) model 0's training rows, for LIME's statistics and the IG baseline
    config: ExplainConfig
    progress: Callable[[float], None] | None = None  # fraction of the current method done
    samples: int | None = None  # a sampling method's budget for this run of it (None: the config's)
    groups: np.ndarray | None = None  # (row,) KernelSHAP's row group of each row (None: verdict.row_groups of X's)
    normals: dict[int, Normals] | None = None  # LIME's normals by seed, drawn ahead (draw_lime_ahead)

    @property
    def expanded_background(self) -> np.ndarray:
        """The centres repeated in proportion to their weights, for explainers that take plain samples."""
        counts = np.maximum(1, np.round(self.weights * _EXPANDED_BACKGROUND)).astype(int)
        return np.repeat(self.background, counts, axis=0)


def _pick_target(values: np.ndarray, target: np.ndarray) -> np.ndarray:
    """(row, feature, class) shap output -> (row, feature) for each row's target class."""
    values = np.asarray(values)
    if values.ndim == 2:  # a single output
        return values
    return values[np.arange(len(target)), :, target]


def _float32_thresholds(model):
    """A copy of a tree ensemble whose split thresholds are float32, with every prediction unchanged.

    scikit-learn compares float32 inputs with float64 thresholds; shap's C++ walks the trees in
    float32. Rounding each threshold down to the largest float32 not above it keeps
    `x <= threshold` exactly as it was for every float32 x, so both walk the same branches.
    """
    model = copy.deepcopy(model)
    for tree in np.ravel(getattr(model, "estimators_", [])):
        t = tree.tree_.threshold  # a view of the tree's nodes: writing to it edits the copy
        down = t.astype(np.float32)
        down = np.where(down > t, np.nextafter(down, np.float32(-np.inf)), down)
        t[:] = down
    return model


def _tree_shap_values(bank, ctx: _Context, seed: int) -> np.ndarray:
    """Exact interventional TreeSHAP of the predicted probability (regression: the predicted value), against
    the same background as KernelSHAP.

    Exact means equal to enumerating every coalition on the expanded background (tests check it
    within 1e-6): the whole background is kept (shap would keep a random 100-row sample), and rows,
    background and thresholds are all float32, as the trees see them.
    """
    out = np.zeros((bank.n_models, *ctx.X.shape))
    # Each model is its own tree ensemble; TreeExplainer walks one ensemble at a time.
    for m, pipe in enumerate(bank.pipelines):
        scaler, model = pipe[:-1], pipe[-1]
        x = scaler.transform(ctx.X).astype(np.float32)
        background = scaler.transform(ctx.expanded_background).astype(np.float32)
        exact = _float32_thresholds(model)
        answer = "predict" if bank.regression else "predict_proba"
        for points in (x, background):
            assert np.array_equal(getattr(exact, answer)(points), getattr(model, answer)(points)), "threshold rounding"
        masker = shap.maskers.Independent(background, max_samples=len(background))
        explainer = shap.TreeExplainer(exact, masker, feature_perturbation="interventional",
                                       model_output="raw" if bank.regression else "probability")
        values = np.asarray(explainer.shap_values(x, check_additivity=False))
        if values.ndim == 2:  # one output: the positive class of a binary model, or a regressor's value
            out[m] = values
            continue
        # The class axis follows this model's classes_, which may lack a class its training rows never
        # held (bootstrap, rare classes); such a class has zero attribution.
        known = np.isin(ctx.target, model.classes_)
        column = np.searchsorted(model.classes_, ctx.target[known])
        out[m, known] = values[np.flatnonzero(known), :, column]
    return out


def _deep_shap_values(bank: MLPBank, ctx: _Context, seed: int) -> np.ndarray:
    """shap.DeepExplainer (DeepLIFT with SHAP's background averaging) on each MLP."""
    bg = torch.tensor(ctx.expanded_background, dtype=torch.float32)
    x = torch.tensor(ctx.X, dtype=torch.float32)
    out = []
    # DeepExplainer hooks one nn.Module's layers, so each model is explained on its own.
    for m in range(bank.n_models):
        explainer = shap.DeepExplainer(bank.module.single(m), bg)
        out.append(_pick_target(explainer.shap_values(x), ctx.target))  # shap checks additivity
    return np.stack(out)


def _gradient_values(bank: MLPBank, ctx: _Context, seed: int) -> np.ndarray:
    """Vanilla gradient of the target-class probability with respect to the raw input."""
    x = torch.tensor(ctx.X, dtype=torch.float32).expand(bank.n_models, -1, -1)
    return gradients.gradients(bank, x, ctx.target).double().numpy()


def _gradient_x_input_values(bank: MLPBank, ctx: _Context, seed: int) -> np.ndarray:
    """Gradient times (input - training mean): the first-order Taylor share of each feature."""
    return _gradient_values(bank, ctx, seed) * (ctx.X - ctx.train_X.mean(axis=0))[None]


def _integrated_gradients_values(bank: MLPBank, ctx: _Context, seed: int) -> np.ndarray:
    """Integrated gradients from the training mean, exact on every linear piece of the path (core.explainers.gradients)."""
    return gradients.integrated_gradients(bank, ctx.X, ctx.target, ctx.train_X.mean(axis=0),
                                         nodes=ctx.config.ig_steps)


def kmeans_background(X: np.ndarray, size: int) -> tuple[np.ndarray, np.ndarray]:
    """shap.kmeans summary of X: (centre, feature) centres and (centre,) weights summing to 1.

    A weighted summary keeps KernelSHAP's cost at `size` evaluations per coalition while
    staying close to the full training distribution.
    """
    if len(X) > _KMEANS_ROWS:
        # The cost of explaining must not grow with the training set (k-means took a minute on
        # 100,000 rows): summarise a sample, drawn with a fixed seed as shap.kmeans fixes its own.
        X = X[np.sort(numpy_generator(0, "background_sample").choice(len(X), _KMEANS_ROWS, replace=False))]
    size = min(size, len(np.unique(X, axis=0)))
    # k-means on a few thousand rows: threads only add start-up and contention (OpenMP's count is per thread).
    with threadpool_limits(1, user_api="openmp"):
        summary = shap.kmeans(X, size)
    return np.asarray(summary.data), np.asarray(summary.weights) / np.sum(summary.weights)


def explain_rows(rows: np.ndarray, max_rows: int, seed: int) -> np.ndarray:
    """At most max_rows of `rows`, a seeded sample kept in dataset order."""
    if len(rows) <= max_rows:
        return np.asarray(rows)
    return np.sort(numpy_generator(seed, "explain_rows").choice(rows, size=max_rows, replace=False))


def target_classes(run: Run, X: np.ndarray, target_class: int | None) -> np.ndarray:
    """(row,) class to explain: the given one, the positive class if binary, else the models' majority vote."""
    n_classes = run.dataset.n_classes
    if run.dataset.regression:  # the one output: the predicted value
        if target_class not in (None, 0):
            raise ConfigError("A regression model has one output, the predicted value: there is no class to pick.")
        return np.zeros(len(X), dtype=np.int64)
    if target_class is not None:
        if not 0 <= target_class < n_classes:
            raise ConfigError(f"Target class must be between 0 and {n_classes - 1}; got {target_class}.")
        return np.full(len(X), target_class)
    if n_classes == 2:
        return np.ones(len(X), dtype=np.int64)
    return majority_vote(run.predict_proba(X).argmax(axis=-1), n_classes)


def majority_vote(predictions: np.ndarray, n_classes: int) -> np.ndarray:
    """(row,) the class most models predict, ties to the lower class; predictions: (model, row)."""
    counts = (predictions[:, :, None] == np.arange(n_classes)).sum(axis=0)  # (row, class)
    return counts.argmax(axis=-1)  # ties go to the lower class, as np.bincount(...).argmax() did


def block_seed(config: ExplainConfig, name: str, block: int) -> int:
    """The seed of run `block` of sampling method `name`: run 0 is the explanation, the others what
    precision "auto" adds (refine)."""
    return int_seed(config.seed, name, block)


def block_samples(config: ExplainConfig, name: str, n_features: int) -> int:
    """The samples of one run of sampling method `name`: the configured budget."""
    return METHODS[name].samples(config, n_features)


_AHEAD_NUMBERS = 20_000_000  # LIME normals drawn ahead at most (160 MB; those of 143 rows x 5000 samples x 30 features: 21.5M)


def draw_lime_ahead(config: ExplainConfig, n_rows: int, n_features: int) -> dict[int, Normals]:
    """Start drawing ahead, in a thread of their own, the normals LIME will draw to explain n_rows rows,
    at most _AHEAD_NUMBERS: for `explain(..., normals=)`.

    Meant to run while the models train: training computes on one core, and the draws, which release
    the GIL, on the other (on breast_cancer about 0.5 s of LIME's 1.7 s is lime's generator). None
    are drawn when LIME is not asked for.
    """
    if "lime" not in config.methods:
        return {}
    seed = block_seed(config, "lime", 0)
    streams = {seed: Normals(seed)}
    draw_ahead([(streams[seed], min(n_rows * block_samples(config, "lime", n_features) * n_features, _AHEAD_NUMBERS))])
    return streams


@dataclass(frozen=True, eq=False)
class Blocks:
    """Runs of a sampling method on every model, each on a seed of its own: values (run, model, row,
    feature); halves (run, half, model, row, feature), each run's two halves; or for a method whose runs
    pool (Method.pooled), each run's normal equations (run, half A, half B) instead of halves."""

    values: np.ndarray
    halves: np.ndarray | None = None
    normals: tuple[tuple[Normal, Normal, Normal], ...] | None = None

    def __getitem__(self, which: slice) -> "Blocks":
        """Some of the runs."""
        return Blocks(self.values[which], None if self.halves is None else self.halves[which],
                      self.normals and self.normals[which])

    def models(self, which: slice) -> "Blocks":
        return Blocks(self.values[:, which], None if self.halves is None else self.halves[:, :, which],
                      self.normals and tuple(tuple(n.models(which) for n in run) for run in self.normals))

    @staticmethod
    def joined(parts: list["Blocks"]) -> "Blocks":
        """The parts' models, in order: chunks of one run's models, explained apart on the same seeds."""
        first = parts[0]
        halves = None if first.halves is None else np.concatenate([p.halves for p in parts], axis=2)
        normals = first.normals and tuple(tuple(Normal.joined(list(n)) for n in zip(*runs))
                                          for runs in zip(*(p.normals for p in parts)))
        return Blocks(np.concatenate([p.values for p in parts], axis=1), halves, normals)


def _blocks(name: str, ctx: _Context, blocks: range) -> Blocks:
    """Sampling method `name` on every model, once per block, each block on its own seed and block_samples
    samples (shared by all models: common random numbers), with each run's two halves."""
    method, bank, config = METHODS[name], ctx.run.bank, ctx.config
    seeds = [block_seed(config, name, b) for b in blocks]
    ctx = replace(ctx, samples=block_samples(config, name, ctx.X.shape[1]))
    if method.halved:
        runs = method.halved(bank, ctx, seeds)  # (run, 3, model, row, feature)
        return Blocks(runs[:, 0], runs[:, 1:])
    report, out = ctx.progress, []
    for i, seed in enumerate(seeds):  # each block is one batched pass over all models already
        step = report and (lambda f, i=i: report((i + f) / len(seeds)))
        out.append(method.pooled(bank, replace(ctx, progress=step), seed))
    return Blocks(np.stack([values for values, _ in out]), normals=tuple(normals for _, normals in out))


def _attribute(name: str, ctx: _Context) -> Attributions:
    """One method on all models; a sampling one with the two halves of its samples (not without a noise floor)."""
    method, seed = METHODS[name], block_seed(ctx.config, name, 0)
    if not method.stochastic:
        return Attributions(name, method.fn(ctx.run.bank, ctx, seed), ctx.rows, ctx.target)
    samples = block_samples(ctx.config, name, ctx.X.shape[1])
    if not ctx.config.noise_floor:
        return Attributions(name, method.fn(ctx.run.bank, ctx, seed), ctx.rows, ctx.target, samples=samples)
    return with_blocks(Attributions(name, None, ctx.rows, ctx.target, samples=0), _blocks(name, ctx, range(1)), samples)


def with_blocks(attr: Attributions, blocks: Blocks, block_size: int) -> Attributions:
    """attr with `blocks`, the next runs after those it holds (none: samples 0), joined to it: precision
    raised without redrawing anything. Values and halves are the mean over runs, or for a method whose
    runs pool, each the regression on all the runs' samples at once (one run: its own values, exactly)."""
    held, added = attr.samples // block_size, len(blocks.values)
    if blocks.normals is not None:
        sums = [functools.reduce(operator.add, parts) for parts in zip(*blocks.normals)]  # run, half A, half B
        if attr.normals is not None:
            sums = [before + new for before, new in zip(attr.normals, sums)]
        values, halves, normals = sums[0].solve(), np.stack([sums[1].solve(), sums[2].solve()]), tuple(sums)
    else:
        values, halves, normals = blocks.values.mean(axis=0), blocks.halves.mean(axis=0), None
        if held:
            values = (attr.values * held + values * added) / (held + added)
            halves = (attr.halves * held + halves * added) / (held + added)
    return replace(attr, values=values, halves=halves, samples=attr.samples + added * block_size, normals=normals)


@dataclass(frozen=True, eq=False)
class Basis:
    """What every model of a run is explained on, drawn once per run, so that a part of the run
    explained elsewhere (core.run.cluster) sees exactly the same (common random numbers)."""

    rows: np.ndarray  # (row,) dataset row ids
    target: np.ndarray  # (row,) the class explained: needs every model's prediction when it is the majority vote
    background: np.ndarray  # (centre, feature) k-means centres of model 0's training rows
    weights: np.ndarray  # (centre,) cluster shares, summing to 1
    train_X: np.ndarray  # (row, feature) model 0's training rows


def model0_training_rows(run: Run) -> np.ndarray:
    """(row, feature) model 0's training rows: what LIME's statistics, the background and the IG baseline summarise."""
    return run.dataset.X[np.unique(run.train_rows[0])]


def explain_basis(run: Run, rows: np.ndarray, config: ExplainConfig) -> Basis:
    """The rows (at most config.max_rows of `rows`), their target classes and the background, for all of `run`."""
    rows = explain_rows(rows, config.max_rows, config.seed)
    X = run.dataset.X[rows]
    train_X = model0_training_rows(run)
    background, weights = kmeans_background(train_X, config.background_size)
    return Basis(rows, target_classes(run, X, config.target_class), background, weights, train_X)


def explain(run: Run, rows: np.ndarray, config: ExplainConfig = ExplainConfig(), *,
            progress: Progress | None = None, normals: dict[int, Normals] | None = None) -> Explanation:
    """Explain every model of `run` on dataset rows `rows` (capped at config.max_rows) with each method,
    then, at precision "auto", raise the samples of a sampling method whose like-with-like test is
    inconclusive (refine). normals: LIME's, drawn ahead for this explanation alone (draw_lime_ahead);
    the values are the same without them."""
    split_methods(config.methods, run.config.family, run.dataset.n_classes)  # before the background, not after
    if config.k is not None:
        check_k(config.k, run.dataset.n_features)
    basis = explain_basis(run, rows, config)
    explanation = explain_on(run, basis, config, progress=stage(progress, 0.0, 0.9), normals=normals)
    explanation = refine(run, basis, explanation, progress=stage(progress, 0.9, 1.0))
    if progress:
        progress(1.0, "Explanations done")
    return explanation


def explain_on(run: Run, basis: Basis, config: ExplainConfig, *, progress: Progress | None = None,
               normals: dict[int, Normals] | None = None) -> Explanation:
    """Explain every model of `run` (a whole run, or a part of one) on `basis` with each method."""
    usable, skipped = split_methods(config.methods, run.config.family, run.dataset.n_classes)
    ctx = _Context(run, basis.rows, run.dataset.X[basis.rows], basis.target, basis.background, basis.weights,
                   basis.train_X, config, normals=normals)
    by_method = {}
    with deterministic():
        for i, name in enumerate(usable):
            message = f"Explaining {run.bank.n_models} models with {METHODS[name].label}"
            step = stage(progress, i / len(usable), (i + 1) / len(usable))
            report = step and (lambda f, step=step, message=message: step(f, message))
            if report:
                report(0.0)
            by_method[name] = _attribute(name, replace(ctx, progress=report))
    return Explanation(config, basis.rows, basis.target, by_method, skipped)


def blocks_on(run: Run, basis: Basis, config: ExplainConfig, name: str, blocks: range, *,
              progress: Callable[[float], None] | None = None) -> Blocks:
    """Blocks `blocks` of sampling method `name` for every model of `run` (a whole run, or a part of one)
    on `basis`."""
    ctx = _Context(run, basis.rows, run.dataset.X[basis.rows], basis.target, basis.background, basis.weights,
                   basis.train_X, config, progress=progress)
    with deterministic():
        return _blocks(name, ctx, blocks)


def refine(run: Run, basis: Basis, explanation: Explanation, *,
           explain_blocks: Callable[[str, range, Callable[[float], None] | None], Blocks] | None = None,
           progress: Progress | None = None) -> Explanation:
    """Precision "auto": while a sampling method's like-with-like test (core.agree.verdict, headline
    metric, config.k) is inconclusive, double its samples, at most MAX_DOUBLINGS times. The blocks
    drawn so far are kept and new ones, on seeds of their own, join them: nothing is redrawn.

    explain_blocks(name, blocks, progress) -> Blocks of every model, reporting the fraction done (default:
    blocks_on in this process; the Ray engine passes its own). Its reports are what a cancel (core.runtime.Job)
    acts on. Needs 3 models: with 2 the interval has one degree of freedom, which more samples rarely
    narrow enough to decide."""
    config = explanation.config
    if config.precision != "auto" or not config.noise_floor or run.n_models < 3:
        return explanation
    explain_blocks = explain_blocks or (lambda name, blocks, report: blocks_on(run, basis, config, name, blocks,
                                                                           progress=report))
    n_features, by_method = run.dataset.n_features, dict(explanation.by_method)
    k = config.k or default_k(n_features)
    for name, attr in by_method.items():
        method = METHODS[name]
        if not method.stochastic:
            continue
        size = block_samples(config, name, n_features)
        for doubling in range(MAX_DOUBLINGS):
            v = like_with_like(attr.values, attr.halves, metric=HEADLINE_METRIC, k=k)
            # Decided, or undecided because of the models' own spread, or with no sampling noise left (every
            # coalition enumerated): more samples would not narrow it.
            if v.decided or v.se_models >= v.se_rows or np.array_equal(attr.halves[0], attr.halves[1]):
                break
            message = f"{method.label}: the test is inconclusive at {attr.samples:,} {method.unit}; drawing {2 * attr.samples:,}"
            report = progress and (lambda f, d=doubling, m=message: progress((d + f) / MAX_DOUBLINGS, m))
            if report:
                report(0.0)
            held = attr.samples // size
            attr = with_blocks(attr, explain_blocks(name, range(held, 2 * held), report), size)
        by_method[name] = attr
    return replace(explanation, by_method=by_method)


def attribute_row(run: Run, x: np.ndarray, *, row: int, target: int, method: str, config: ExplainConfig,
                  samples: int | None = None, group: int = 0) -> np.ndarray:
    """(model, feature) values of `method` for one row x (feature,) that the explanation did not hold (a
    what-if edit of dataset row `row`), computed as `explain` computes its rows: with model 0's training
    rows, the same k-means background, the same seeds and, for KernelSHAP, the `samples` its stored
    attributions hold (precision "auto" may have raised them) and the coalitions of the row's group
    (`group`: verdict.row_groups of the explained rows, at the row's position). An unedited row gets its stored values
    back from the deterministic methods and from KernelSHAP, whose coalitions every row shares; not
    from LIME, whose neighbourhoods are drawn row after row from one generator (so LIME is not offered here)."""
    assert method != "lime", "LIME draws each row's neighbourhood after the rows before it"
    train_X = model0_training_rows(run)
    if METHODS[method].background:
        background, weights = kmeans_background(train_X, config.background_size)
    else:  # k-means would only cost time
        background, weights = np.empty((0, len(x))), np.empty(0)
    ctx = _Context(run, np.array([row]), x[None], np.array([target]), background, weights, train_X, config,
                   groups=np.array([group]))
    with deterministic():
        if not METHODS[method].stochastic:
            return METHODS[method].fn(run.bank, ctx, block_seed(config, method, 0))[:, 0]
        size, seed = block_samples(config, method, len(x)), block_seed(config, method, 0)
        if not config.noise_floor or (samples or size) == size:  # one run: its own values
            return METHODS[method].fn(run.bank, ctx, seed)[:, 0]
        blocks = _blocks(method, ctx, range((samples or size) // size))
        # Joined as explain and refine joined them, round by round, so the values are the same bit for bit.
        attr = Attributions(method, None, ctx.rows, ctx.target, samples=0)
        while attr.samples < len(blocks.values) * size:
            held = attr.samples // size
            attr = with_blocks(attr, blocks[held:max(1, 2 * held)], size)
        return attr.values[:, 0]


def as_images(values: np.ndarray, image_shape: tuple[int, int]) -> np.ndarray:
    """(..., feature) attributions -> (..., height, width) pictures, for pixel datasets such as digits."""
    return values.reshape(*values.shape[:-1], *image_shape)
