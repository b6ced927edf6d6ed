"""The sampling explainers, KernelSHAP and LIME, on every model of a bank at once.

Common random numbers: each draws its perturbation samples once and evaluates all N models on
them in batched passes, so differences between models are never explainer sampling noise.

KernelSHAP runs for all models and a group of rows in one shap.KernelExplainer call (a few groups,
each on coalitions of its own: see kernel_shap_values): the coalition masks z are the "instance"
being explained (background all-zeros, instance all-ones), and the value function maps each mask
to E_b[f_m(z*x_r + (1-z)*b)] for every (row r, model m) of the group at once. shap
draws its masks (paired, with full enumeration of small coalitions) exactly as it would for a
single row and model, and the weighted regression is solved for all outputs at once.

Both functions take (bank, ctx, seed), ctx being explain's context: X (row, feature), target
(row,), background and weights, train_X, config and a progress callback.
"""
from __future__ import annotations

import contextlib
import functools
import importlib
import queue
import threading

from dataclasses import dataclass

import numpy as np
import shap
from lime.lime_tabular import LimeTabularExplainer
from sklearn.metrics import pairwise_distances

from ..agree.verdict import row_groups
from .registry import kernel_samples
from ..runtime import spread
from ..seeding import int_seed, random_state

_LIME_NUMBERS = 1 << 21  # numbers per batched pass of LIME samples (16 MB of float64; several such arrays live at once)


class Normals:
    """The standard normals lime's sampler draws from the generator of one seed, in order: what
    LimeTabularExplainer(random_state=seed) draws for the rows it explains, one row after another.

    Some may be drawn ahead (`draw_ahead`) in a thread of their own: a call to the generator for a
    block of _LIME_NUMBERS releases the GIL, so the draws go on while the models train on the other core
    (training runs on one). The rest are drawn when taken. The numbers are the same however they
    were cut: numpy's legacy normal generator yields one stream whatever the sizes of its calls.
    """

    def __init__(self, seed: int):
        self._generator = random_state(seed)  # what lime's check_random_state(seed) makes
        self._ahead: queue.Queue = queue.Queue()  # arrays drawn ahead, then None once drawing ahead ended
        self._left = np.empty(0)  # the unused end of the last array taken from _ahead
        self._drawing = False
        self._stop = threading.Event()
        self.taken = 0  # numbers taken so far: a stream serves one explanation, from its start

    def draw_ahead(self, count: int) -> None:
        """Draw `count` numbers ahead, in blocks; call in a thread of its own (see `draw_ahead` below)."""
        try:
            while count > 0 and not self._stop.is_set():
                block = min(count, _LIME_NUMBERS)
                self._ahead.put(self._generator.normal(0, 1, block))
                count -= block
        finally:
            self._ahead.put(None)

    def take(self, n: int) -> np.ndarray:
        """The next n numbers of the stream."""
        self.taken += n
        if not n:
            return np.empty(0)
        parts, have = [], 0
        while have < n:
            if not len(self._left):
                if not self._drawing:
                    break
                block = self._ahead.get()  # waits while the block is being drawn
                if block is None:
                    self._drawing = False
                    break
                self._left = block
            part, self._left = self._left[:n - have], self._left[n - have:]
            parts.append(part)
            have += len(part)
        if have < n:  # drawing ahead has ended: the generator is this thread's alone now
            parts.append(self._generator.normal(0, 1, n - have))
        return parts[0] if len(parts) == 1 else np.concatenate(parts)

    def stop(self) -> None:
        """Draw no more ahead than the block in progress."""
        self._stop.set()


def draw_ahead(streams: list[tuple[Normals, int]]) -> threading.Thread:
    """Start drawing `count` numbers ahead for each (Normals, count), one stream after another, in a
    thread of their own (daemon: a process that exits never waits for it)."""
    for normals, _ in streams:
        normals._drawing = True

    def draw_all() -> None:
        for i, (normals, count) in enumerate(streams):
            try:
                normals.draw_ahead(count)
            except BaseException:
                for later, _ in streams[i + 1:]:  # their takers draw everything themselves
                    later._ahead.put(None)
                raise
    thread = threading.Thread(target=draw_all, daemon=True, name="lime-normals")
    thread.start()
    return thread


class _ThreadNumpy:
    """numpy as shap's kernel module sees it, but for `random`: the generator the calling thread's
    explainer set, else numpy's own.

    shap's KernelExplainer draws its coalitions with np.random.choice and np.random.permutation and
    takes no generator. Seeding numpy's global generator around the call would let concurrent
    sessions (threads of one process) reseed or consume each other's draws; this way each
    explanation draws from its own generator and nothing process-wide is seeded or read.
    """

    def __init__(self):
        self._local = threading.local()

    def __getattr__(self, name):
        if name == "random":
            return getattr(self._local, "generator", np.random)
        return getattr(np, name)

    @contextlib.contextmanager
    def drawing_from(self, generator: np.random.RandomState):
        self._local.generator = generator
        try:
            yield
        finally:
            del self._local.generator


_SHAP_NUMPY = _ThreadNumpy()
importlib.import_module("shap.explainers._kernel").np = _SHAP_NUMPY  # that module alone sees it


class _SeededKernelExplainer(shap.KernelExplainer):
    """shap's KernelExplainer, its coalitions drawn from a generator of this explanation's own seed.

    Besides shap's regression on all its coalitions (`pieces`), it keeps those of two halves of its draws
    (`halves`): the coalitions shap enumerates (small and large ones, which carry no sampling noise) in
    both, the ones it draws at random dealt out alternately, a coalition and its complement together,
    each half's random weights scaled to the share shap gives them all. Two independent estimates of
    the same values from one run's model evaluations: what the like-with-like test compares.
    """

    def __init__(self, model, data, *, seed: int):
        super().__init__(model, data)
        self._seed = seed

    def explain(self, incoming_instance, **kwargs):
        self._phi, self.pieces, self.halves, self._enumerated = None, None, None, None
        with _SHAP_NUMPY.drawing_from(_FirstDraw(random_state(self._seed), self)):
            phi = super().explain(incoming_instance, **kwargs)
        if self.pieces is None:  # one feature: shap's values are fx - E[f] without a regression
            total = np.asarray(self.link.f(self.fx)) - np.asarray(self.link.f(self.fnull))
            self.pieces = np.zeros((0, 0)), np.zeros((len(total), 0)), total
            self.halves = (self.pieces, self.pieces)
        return phi

    def addsample(self, x, m, w):
        """shap's addsample where the explained instance is all ones and the background one row of
        zeros (kernel_shap_values): the synthetic row is the mask itself. shap's general version
        took longer than evaluating all models on the coalitions it recorded."""
        assert self.N == 1 and len(self.varyingInds) == self.M, "masks are the instance: all features vary"
        self.synth_data[self.nsamplesAdded] = m
        self.maskMatrix[self.nsamplesAdded] = m
        self.kernelWeights[self.nsamplesAdded] = w
        self.nsamplesAdded += 1

    def solve(self, fraction_evaluated, dim):
        """shap's regression for output `dim`, all outputs solved at the first call.

        Without L1 selection (l1_reg=False, as here) every output shares the masks and kernel
        weights, so shap's constrained weighted least squares is one factorisation for all
        rows x models outputs; shap's own solve formats arrays for debug logs it never shows,
        which took longer than the regression. Tests check equality with shap's solve.
        """
        assert self.l1_reg is False, "the batched solve has no feature selection"
        if self._phi is None:
            # link.f on the whole array: shap's links are numpy expressions, and its np.vectorize'd
            # linkfv calls Python once per (coalition, output), longer than the regression.
            ey, fnull, fx = (np.asarray(self.link.f(v)) for v in (self.ey, self.fnull, self.fx))  # may be memoryviews
            self.pieces = _wls_pieces(self.maskMatrix, self.kernelWeights, ey, fnull, fx)
            self.halves = tuple(_wls_pieces(self.maskMatrix, w, ey, fnull, fx) for w in self._half_weights())
            self._phi = _wls_solve(*self.pieces)
        return self._phi[:, dim], np.ones(self.M)

    def _half_weights(self) -> tuple[np.ndarray, np.ndarray]:
        """Each half's kernel weights over all coalitions: 0 for the other half's random ones (a zero
        weight drops a coalition from the regression without copying the outputs)."""
        n, enumerated = self.nsamplesAdded, self.nsamplesAdded if self._enumerated is None else self._enumerated
        masks, weights = self.maskMatrix[:n], self.kernelWeights[:n]
        half = np.zeros(n, dtype=int)
        i, unit = enumerated, 0
        while i < n:  # shap adds a drawn coalition's complement right after it: the two go to one half
            paired = i + 1 < n and np.array_equal(masks[i + 1], 1 - masks[i])
            half[i:i + 1 + paired] = unit % 2
            i, unit = i + 1 + paired, unit + 1
        out = []
        for h in (0, 1):
            w = np.zeros(len(self.kernelWeights))
            w[:enumerated] = weights[:enumerated]
            mine = np.flatnonzero(half[enumerated:] == h) + enumerated
            if len(mine):
                w[mine] = weights[mine] * (weights[enumerated:].sum() / weights[mine].sum())
            out.append(w)
        return out[0], out[1]


class _FirstDraw:
    """An explanation's generator, noting how many coalitions shap had enumerated when it first drew at random."""

    def __init__(self, generator: np.random.RandomState, explainer: _SeededKernelExplainer):
        self._generator, self._explainer = generator, explainer

    def choice(self, *args, **kwargs):
        if self._explainer._enumerated is None:
            self._explainer._enumerated = self._explainer.nsamplesAdded
        return self._generator.choice(*args, **kwargs)

    def __getattr__(self, name):
        return getattr(self._generator, name)


def _constrained_wls(masks: np.ndarray, weights: np.ndarray, ey: np.ndarray, base: np.ndarray,
                     fx: np.ndarray) -> np.ndarray:
    """(feature, output) KernelSHAP values: weighted least squares whose values add up to fx - base.

    masks (coalition, feature) 0/1; weights (coalition,); ey (coalition, output), each coalition's
    expected output; base (output,), the background's; fx (output,), the explained instance's. As
    shap does, the regression is of ey - base on the masks, the last feature is eliminated through
    the constraint, the rest solved by normal equations (least squares where they are singular, as shap
    falls back to), and values under 1e-10 set to 0.
    """
    return _wls_solve(*_wls_pieces(masks, weights, ey, base, fx))


def _wls_pieces(masks: np.ndarray, weights: np.ndarray, ey: np.ndarray, base: np.ndarray,
                fx: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The normal equations of _constrained_wls: gram (feature - 1, feature - 1), shared by every output;
    rhs (output, feature - 1); total (output,), fx - base. Both add up over runs on other coalitions whose
    weights each sum to 1 (shap's do): the pooled regression.

    The right-hand sides are formed term by term, never as a (coalition, output) array of differences:
    with 200 models that is 117 MB, and there were three such.
    """
    total = fx - base
    last = masks[:, -1:]
    X = masks[:, :-1] - last
    WX = weights[:, None] * X
    rhs = (ey.T[:, None, :] @ WX)[:, 0] - base[:, None] * WX.sum(axis=0) - total[:, None] * (last[:, 0] @ WX)
    return X.T @ WX, rhs, total


def _wls_solve(gram: np.ndarray, rhs: np.ndarray, total: np.ndarray) -> np.ndarray:
    """(feature, output) values from normal equations: gram (feature - 1, feature - 1), or one per output
    (output, feature - 1, feature - 1); rhs (output, feature - 1); total (output,)."""
    # One small system per output, stacked, rather than one system with many right-hand sides: a
    # multi-column BLAS kernel may round columns differently by position, and identical models
    # must get identical values.
    if not rhs.shape[-1]:  # a single feature: its value is the whole total
        return total[None].copy()
    try:
        rest = np.linalg.solve(gram, rhs[..., None])[..., 0].T  # (feature - 1, output)
    except np.linalg.LinAlgError:
        # Too few coalitions to pin every feature (say half of a small budget): shap then falls back to the
        # minimum-norm least-squares solution, which is this one, still one small product per output.
        rest = (np.linalg.pinv(gram) @ rhs[..., None])[..., 0].T
    phi = np.vstack([rest, total - rest.sum(axis=0)])
    phi[np.abs(phi) < 1e-10] = 0
    return phi


@dataclass(frozen=True, eq=False)
class Normal:
    """KernelSHAP's normal equations for every model and row: the values of several runs pooled (as one run
    on all their coalitions would weigh them) are (a + b).solve(). gram (group, feature - 1, feature - 1):
    each group of rows has its coalitions; groups (row,): each row's group; rhs (model, row, feature - 1);
    total (model, row), what a row's values add up to."""

    gram: np.ndarray
    groups: np.ndarray
    rhs: np.ndarray
    total: np.ndarray

    def __add__(self, other: "Normal") -> "Normal":
        return Normal(self.gram + other.gram, self.groups, self.rhs + other.rhs, self.total)

    def solve(self) -> np.ndarray:
        """(model, row, feature) values, each group's rows solved as shap's regression solves them."""
        n_models, n_rows, rest = self.rhs.shape
        out = np.empty((n_models, n_rows, rest + 1))
        for g in range(len(self.gram)):
            rows = self.groups == g
            outputs = self.rhs[:, rows].transpose(1, 0, 2).reshape(-1, rest)  # (row * model, ...), as shap orders them
            phi = _wls_solve(self.gram[g], outputs, self.total[:, rows].T.reshape(-1))
            out[:, rows] = phi.reshape(rest + 1, int(rows.sum()), n_models).transpose(2, 1, 0)
        return out

    def models(self, which: slice) -> "Normal":
        return Normal(self.gram, self.groups, self.rhs[which], self.total[which])

    @staticmethod
    def joined(parts: list["Normal"]) -> "Normal":
        """The parts' models, in order (each part a chunk of models on the same coalitions)."""
        return Normal(parts[0].gram, parts[0].groups, np.concatenate([p.rhs for p in parts]),
                      np.concatenate([p.total for p in parts]))


def kernel_shap_values(bank, ctx, seed: int) -> np.ndarray:
    """(model, row, feature) KernelSHAP values for every model and row.

    Every model is explained on the same coalitions (common random numbers). The rows are explained in
    groups (ctx.groups, else core.agree.verdict.row_groups), each group on coalitions of its own drawn
    from a seed of its own: the groups are independent draws of the explainer, which is what lets the
    like-with-like test measure how much of its result is the explainer's noise. Each group's values
    are those of shap's KernelExplainer on its seed.
    """
    return kernel_shap_run(bank, ctx, seed)[0]


def kernel_shap_run(bank, ctx, seed: int) -> tuple[np.ndarray, tuple[Normal, Normal, Normal]]:
    """kernel_shap_values, and the normal equations behind them, which pool with other runs' (Normal): the
    run's own, and those of its two halves of draws (see _SeededKernelExplainer)."""
    groups = ctx.groups if ctx.groups is not None else row_groups(len(ctx.X))
    numbers, index = np.unique(groups, return_inverse=True)
    n_models, (n_rows, n_features) = bank.n_models, ctx.X.shape
    out = np.empty((n_models, n_rows, n_features))
    gram = np.empty((3, len(numbers), n_features - 1, n_features - 1))
    rhs, total = np.empty((3, n_models, n_rows, n_features - 1)), np.empty((n_models, n_rows))
    for i, g in enumerate(numbers):  # one batched pass over all models and the group's rows each
        rows, count = index == i, int((index == i).sum())
        report = ctx.progress and (lambda f, i=i: ctx.progress((i + f) / len(numbers)))
        out[:, rows], pieces = _kernel_shap(bank, ctx, ctx.X[rows], ctx.target[rows],
                                            int_seed(seed, "row_group", int(g)), report)
        for j, (group_gram, group_rhs, group_total) in enumerate(pieces):
            gram[j, i] = group_gram
            rhs[j][:, rows] = group_rhs.reshape(count, n_models, -1).transpose(1, 0, 2)
        total[:, rows] = group_total.reshape(count, n_models).T
    return out, tuple(Normal(gram[j], index, rhs[j], total) for j in range(3))


def _kernel_shap(bank, ctx, X: np.ndarray, target: np.ndarray, seed: int, progress):
    """(model, row, feature) KernelSHAP values of rows X (row, feature), all on one set of coalitions, and
    the regression's pieces (_wls_pieces, outputs in shap's order, row * model) of the run and its halves."""
    bg, w = ctx.background, ctx.weights
    n_rows, n_features = X.shape

    def value(masks: np.ndarray) -> np.ndarray:
        # masks (coalition, feature) -> (coalition, row * model): expected output over the background
        report = progress if len(masks) > 2 else None  # shap also asks for f(x) and E[f]: not progress
        # (model, coalition, row)
        proba = bank.coalition_proba(masks, X, bg, w, target, progress=report)
        return proba.transpose(1, 2, 0).reshape(len(masks), n_rows * bank.n_models)

    explainer = _SeededKernelExplainer(value, np.zeros((1, n_features)), seed=seed)
    nsamples = ctx.samples or kernel_samples(ctx.config, n_features)
    phi = explainer.shap_values(np.ones((1, n_features)), nsamples=nsamples, l1_reg=False, silent=True)
    values = np.asarray(phi).reshape(n_features, n_rows, bank.n_models).transpose(2, 1, 0)
    return values, (explainer.pieces, *explainer.halves)


def lime_values(bank, ctx, seed: int) -> np.ndarray:
    """(model, row, feature) LIME weights; each row's perturbations are shared by all models.

    What LimeTabularExplainer.explain_instance computes for each row and model (tests check it):
    each row's neighbourhood is lime's sampler's, from the normals the explainer's generator gives
    row after row as explain_instance would draw them, weighed by lime's kernel; then the samples of many rows go
    through all models in one pass, and one weighted ridge per row serves every model, which share
    its design matrix and weights.
    """
    return _lime([(bank, seed)], ctx)[0][0]


def lime_halved(bank, ctx, seeds: list[int]) -> np.ndarray:
    """(seed, 3, model, row, feature): under each of `seeds`, lime_values of every model, then the same
    ridge on each half of every row's samples (the row itself, then the first half of the rest; the row,
    then the second half): two independent estimates from one run, for the like-with-like test. The
    seeds' explanations are computed side by side: most of LIME's time is single-threaded numpy (lime's
    sampler, the kernel, the ridge), which then draws and fits on two cores at once; each gets exactly
    the values it gets alone.
    """
    return np.stack(_lime([(bank, seed) for seed in seeds], ctx, halves=True))


def _lime(jobs: list, ctx, *, halves: bool = False) -> list[np.ndarray]:
    """(model, row, feature) LIME weights for each (bank, seed) of `jobs`, on the rows of ctx; with halves,
    (3, model, row, feature): those and each half's (see lime_halved).

    Pass by pass over the rows, as a pipeline: each step shares out (runtime.spread; numpy and torch
    release the GIL) every job's draw of its next pass's neighbourhoods, its models' forward passes
    on the pass before, and its ridges on the pass before that. A job draws its passes in order, from
    its explainer's one generator, so the draws of one job follow each other from step to step.
    """
    ds = ctx.run.dataset
    n_samples, n_rows, n_features = ctx.samples or ctx.config.lime_samples, len(ctx.X), ds.n_features
    # Continuous features sampled around the row, not LIME's quartile bins: the weights are then local
    # slopes per training standard deviation, signed like SHAP and gradients, so the methods can be
    # compared feature by feature (a bin-indicator weight means something else).
    explainers = [LimeTabularExplainer(ctx.train_X, feature_names=list(ds.feature_names), feature_selection="none",
                                       discretize_continuous=False, sample_around_instance=True, random_state=seed)
                  for _, seed in jobs]
    normals = [(ctx.normals or {}).get(seed) or Normals(seed) for _, seed in jobs]  # what each explainer would draw
    assert not any(stream.taken for stream in normals), "LIME's normals drawn ahead serve one explanation"
    widest = max(bank.n_models for bank, _ in jobs)
    per_pass = max(1, _LIME_NUMBERS // (n_samples * max(n_features, widest * ds.n_classes)))
    passes = [slice(start, min(start + per_pass, n_rows)) for start in range(0, n_rows, per_pass)]
    outs = [np.zeros((3 if halves else 1, bank.n_models, n_rows, n_features)) for bank, _ in jobs]
    parts = [slice(None)] + ([np.r_[0, 1:(n_samples + 1) // 2], np.r_[0, (n_samples + 1) // 2:n_samples]]
                             if halves else [])
    drawn, targets = {}, {}  # (job, pass) -> its neighbourhoods; -> its models' (model, row, sample) answers

    def draw(j: int, p: int) -> None:
        X = ctx.X[passes[p]]
        drawn[j, p] = _neighbourhoods(explainers[j], X, normals[j].take(X.size * n_samples).reshape(len(X), n_samples, -1))

    def fit(j: int, p: int) -> None:
        _, scaled, weights = drawn.pop((j, p))
        answers = targets.pop((j, p)).transpose(1, 2, 0)  # (row, sample, model)
        for i, part in enumerate(parts):
            fitted = weighted_ridge(scaled[:, part], weights[:, part], answers[:, part])
            outs[j][i][:, passes[p]] = fitted.transpose(2, 0, 1)

    for step in range(len(passes) + 2):
        work = [functools.partial(draw, j, step) for j in range(len(jobs)) if step < len(passes)]
        if 1 <= step <= len(passes):
            p = step - 1
            n_pass, classes = passes[p].stop - passes[p].start, np.repeat(ctx.target[passes[p]], n_samples)
            for j, (bank, _) in enumerate(jobs):
                answers, chunks = bank.target_proba_work(drawn[j, p][0].reshape(-1, n_features), classes)
                targets[j, p] = answers.reshape(-1, n_pass, n_samples)
                work += chunks
        if step >= 2:
            work += [functools.partial(fit, j, step - 2) for j in range(len(jobs))]
        spread(lambda call: call(), work)
        if ctx.progress and step >= 2:
            ctx.progress(passes[step - 2].stop / n_rows)
    return outs


def _neighbourhoods(explainer: LimeTabularExplainer, X: np.ndarray, normals: np.ndarray):
    """Each row's LIME neighbourhood as explain_instance draws it, from `normals` (row, sample, feature),
    the standard normals its explainer's generator gives for these rows, one row after another:
    samples (row, sample, feature), the first of a row the row itself; the same standardised; and
    the kernel's weights (row, sample).

    lime's own sampler (`__data_inverse`) with continuous features and samples around the row, in
    the same operations, so the numbers are equal bit for bit (tests check it); each pass draws its
    normals with one call, and lime's two copies of every neighbourhood are not made.
    """
    assert not explainer.categorical_features, "LIME here has continuous features only"
    data = normals * explainer.scaler.scale_  # lime: normal(...) * scale + data_row
    data += X[:, None, :]
    data[:, 0] = X  # lime: data[0] = data_row
    scaled = data - explainer.scaler.mean_  # explain_instance: (data - mean) / scale
    scaled /= explainer.scaler.scale_
    weights = np.stack([explainer.base.kernel_fn(pairwise_distances(x, x[:1]).ravel()) for x in scaled])
    return data, scaled, weights


def weighted_ridge(X: np.ndarray, weights: np.ndarray, y: np.ndarray, alpha: float = 1.0) -> np.ndarray:
    """LIME's default local model, Ridge(alpha) with an intercept and sample weights, in closed form.

    X (row, sample, feature), weights (row, sample), y (row, sample, target) -> coefficients
    (row, feature, target): one independent fit per row and target, the same estimate as
    sklearn.linear_model.Ridge (tests check it) without its per-call validation, every target of
    a row solved with one factorisation.
    """
    # Each (row, target) is its own small product and solve, stacked, never one multi-column BLAS
    # call: such kernels may round columns differently by position, and identical models must agree.
    w = weights / weights.sum(axis=1, keepdims=True)
    Xc = X - w[:, None, :] @ X  # X is shared by all targets: one product per row is safe
    yc = (y - (w[..., None] * y).sum(axis=1, keepdims=True)).transpose(0, 2, 1)[:, :, None, :]  # (row, target, 1, sample)
    weighted = Xc * weights[..., None]  # (row, sample, feature)
    gram = weighted.transpose(0, 2, 1) @ Xc + alpha * np.eye(X.shape[-1])  # (row, feature, feature)
    rhs = (yc @ weighted[:, None]).transpose(0, 1, 3, 2)  # (row, target, feature, 1)
    return np.linalg.solve(gram[:, None], rhs)[..., 0].transpose(0, 2, 1)
