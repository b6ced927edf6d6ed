"""Model banks: N models of one family that answer together.

A bank maps raw feature rows (row, feature) to class probabilities
(model, row, class) for all its models in one call; a regression bank to its
predicted values in the target's units, (model, row, 1), through the same calls
(its one "class" is the target), so that every explainer explains either. Each model standardizes
inputs with its own training-row statistics, so every model, whatever its
split, is explained in the same raw feature space.
"""
from __future__ import annotations

import functools
import hashlib
import json
import math
from dataclasses import dataclass
from typing import Callable

import numpy as np
import torch
from torch import nn

from ..runtime import per_thread, spread

_POINTS = 2048  # points per model in one MLP pass: its activations stay in cache
_GROUP = 16  # models per piece of shared-out work (runtime.spread), each a pass of one group
_LAYER1_ROWS = 1024  # rows of KernelSHAP's layer-1 matmul: coalitions x (rows + background) at a time
_SKLEARN_POINTS = 32_768  # points per scikit-learn call: each call has a fixed cost, so fewer and larger


class BatchedMLP(nn.Module):
    """M independent MLPs as one module: layer l has weights (model, in, out) applied with bmm.

    forward(x): x is (row, feature), shared by all models, or (model, row, feature);
    returns logits (model, row, class).
    """

    def __init__(self, weights: list[torch.Tensor], biases: list[torch.Tensor],
                 mean: torch.Tensor, std: torch.Tensor, dropout: float = 0.0):
        super().__init__()
        self.weights = nn.ParameterList(nn.Parameter(w) for w in weights)
        self.biases = nn.ParameterList(nn.Parameter(b) for b in biases)
        self.register_buffer("mean", mean)  # (model, feature)
        self.register_buffer("std", std)  # (model, feature)
        self.dropout = dropout

    @property
    def n_models(self) -> int:
        return self.weights[0].shape[0]

    def forward(self, x: torch.Tensor, masks: list[torch.Tensor] | None = None) -> torch.Tensor:
        """masks: per hidden layer, (model, row, hidden) keep-masks already scaled by 1/(1-p), or None."""
        if x.dim() == 2:
            x = x.unsqueeze(0)
        h = (x - self.mean[:, None, :]) / self.std[:, None, :]
        last = len(self.weights) - 1
        for i, (w, b) in enumerate(zip(self.weights, self.biases)):
            h = torch.baddbmm(b[:, None, :], h, w)
            if i < last:
                h = torch.relu(h)
                if masks is not None:
                    h = h * masks[i]
        return h

    def subset(self, models: list[int]) -> "BatchedMLP":
        """A BatchedMLP of the given models only (copies of their parameters)."""
        ix = torch.as_tensor(models)
        return BatchedMLP([w.detach()[ix].clone() for w in self.weights], [b.detach()[ix].clone() for b in self.biases],
                          self.mean[ix].clone(), self.std[ix].clone(), self.dropout)

    def folded_first_layer(self) -> tuple[torch.Tensor, torch.Tensor]:
        """Layer 1 with the standardization folded in: W/std (model, feature, hidden), b - (mean/std) @ W (model, hidden).

        Lets raw inputs shared by all models enter with one matmul, without a per-model standardized copy.
        """
        w = self.weights[0] / self.std[:, :, None]
        b = self.biases[0] - torch.einsum("mf,mfh->mh", self.mean / self.std, self.weights[0])
        return w, b

    def single(self, m: int) -> nn.Sequential:
        """Model m as a plain nn.Sequential ending in nn.Softmax (what shap's DeepExplainer needs)."""
        w1, b1 = self.folded_first_layer()
        weights = [w1] + list(self.weights[1:])
        biases = [b1] + list(self.biases[1:])
        layers: list[nn.Module] = []
        for i, (w, b) in enumerate(zip(weights, biases)):
            lin = nn.Linear(w.shape[1], w.shape[2])
            with torch.no_grad():
                lin.weight.copy_(w[m].T)
                lin.bias.copy_(b[m])
            layers.append(lin)
            layers.append(nn.ReLU() if i < len(weights) - 1 else
                          nn.Softmax(dim=-1) if w.shape[2] > 1 else nn.Identity())
        return nn.Sequential(*layers).eval()


class _Passes:
    """Forward passes of every model of a BatchedMLP, pass after pass into the same buffers.

    Measured on 2 cores, and why it is written this way:
    - a fresh activation tensor per pass cost more than the matmul that fills it (each large
      allocation maps new zeroed pages), so every pass of at most `points` points per model writes
      into memory allocated once;
    - the last layer runs transposed, (out, in) @ (in, point): with one or a few outputs the
      (point, in) @ (in, out) form is a matrix-vector product that took as long as layer 2;
    - binary models answer p_1 = sigmoid(l_1 - l_0): one output row instead of two and a softmax;
      a regression model (one output) answers its output itself, the predicted value.
    predict_proba, target_proba and coalition_proba all compute through here, so they agree exactly.
    No autograd: inference only.
    """

    def __init__(self, module: BatchedMLP, points: int, buffers: list[torch.Tensor] | None = None):
        """buffers: flat float32 tensors, one per layer, each holding at least n_models x points x that
        layer's width (a thread's buffers, shared by its _Passes of several model groups); None: new ones."""
        self.n_models = module.n_models
        self.w1, self.b1 = (t.detach() for t in module.folded_first_layer())
        weights = [w.detach() for w in module.weights]
        biases = [b.detach() for b in module.biases]
        self.n_classes = weights[-1].shape[2]
        if self.n_classes == 2:
            weights[-1] = weights[-1][:, :, 1:] - weights[-1][:, :, :1]
            biases[-1] = biases[-1][:, 1:] - biases[-1][:, :1]
        self.hidden = [(w, b[:, None, :]) for w, b in zip(weights[1:-1], biases[1:-1])]
        self.last = (weights[-1].transpose(1, 2).contiguous(), biases[-1][:, :, None])  # (model, out, in), (model, out, 1)
        self._buffers = buffers or _buffers(module, self.n_models, points)
        self.selectors: dict = {}  # what coalition_proba keeps of `selector`'s answers, per pass shape

    def _buffer(self, layer: int, *shape: int) -> torch.Tensor:
        return self._buffers[layer][:math.prod(shape)].view(*shape)

    def activations(self, n: int) -> torch.Tensor:
        """The (model, n, hidden) buffer for layer-1 activations of n points."""
        return self._buffer(0, self.n_models, n, self.w1.shape[2])

    def first_layer(self, X: np.ndarray | torch.Tensor) -> torch.Tensor:
        """Layer-1 activations (model, row, hidden) of raw rows X (row, feature), shared by all models."""
        h = self.activations(len(X))
        torch.matmul(torch.as_tensor(X, dtype=torch.float32), self.w1, out=h)
        return torch.relu_(h.add_(self.b1[:, None, :]))

    def _logits(self, h: torch.Tensor) -> torch.Tensor:
        """(model, out, n) from (model, n, hidden) layer-1 activations: l_1 - l_0 for binary models, else all logits."""
        n = h.shape[1]
        for i, (w, b) in enumerate(self.hidden, start=1):
            h = torch.relu_(torch.baddbmm(b, h, w, out=self._buffer(i, self.n_models, n, w.shape[2])))
        w, b = self.last
        return torch.baddbmm(b, w, h.transpose(1, 2), out=self._buffer(len(self._buffers) - 1, self.n_models,
                                                                         w.shape[1], n))

    def proba(self, h: torch.Tensor) -> torch.Tensor:
        """(model, n, class) float64 probabilities from layer-1 activations (model, n, hidden).

        In float64, so each row's probabilities sum to 1 to double precision (scikit-learn's
        log loss warns beyond 1e-8 or so); the sampling explainers use target_proba instead.
        """
        logits = self._logits(h).double()
        if self.n_classes == 1:  # regression: the value itself
            return logits.transpose(1, 2)
        if self.n_classes == 2:
            return torch.stack([_sigmoid_(-logits[:, 0]), _sigmoid_(logits[:, 0].clone())], dim=-1)
        return self._softmax(logits)

    def selector(self, target: torch.Tensor) -> torch.Tensor:
        """What target_proba picks each point's class with, from target (n,): computed once and reused
        by every pass over points of the same classes."""
        if self.n_classes <= 2:  # p_t = sigmoid(+-(l_1 - l_0)); regression ignores it
            return (2 * target - 1).to(torch.float64)
        return target.expand(self.n_models, -1)[..., None]

    def target_proba(self, h: torch.Tensor, select: torch.Tensor) -> torch.Tensor:
        """(model, n) float64 probability of each point's class (select: from `selector`) from layer-1
        activations, equal to the same column of proba."""
        logits = self._logits(h).double()
        if self.n_classes == 1:  # regression: the predicted value
            return logits[:, 0]
        if self.n_classes == 2:  # p_0 = sigmoid(-d): exact where 1 - p_1 would cancel
            return _sigmoid_(logits[:, 0].mul_(select))
        return torch.gather(self._softmax(logits), -1, select)[..., 0]

    @staticmethod
    def _softmax(logits: torch.Tensor) -> torch.Tensor:
        # Over a contiguous last axis: along axis 1 of (model, class, n), models at different
        # positions in the batch were rounded differently, and identical models must agree exactly.
        return torch.softmax(logits.transpose(1, 2).contiguous(), dim=-1)


def _sigmoid_(x: torch.Tensor) -> torch.Tensor:
    """In-place sigmoid of x (model, n), one model at a time.

    torch's vectorised loop computes the last x.numel() % vector-width values of a contiguous
    tensor with its scalar function, which rounds differently: across models at once, the last
    model's values would differ from an identical first model's. Softmax over a last axis of
    classes has no such tail across models.
    """
    for row in x:
        torch.sigmoid_(row)
    return x


def _buffers(module: BatchedMLP, n_models: int, points: int) -> list[torch.Tensor]:
    return [torch.empty(n_models * points * w.shape[2]) for w in module.weights]


def model_groups(n_models: int) -> list[range]:
    """Consecutive ranges of at most _GROUP models, the last one a model longer where it would hold a
    single model: a batch of one runs other torch kernels, whose numbers differ in the last bits
    from the same model's in a batch, and identical models must get identical numbers."""
    groups = [range(g, min(g + _GROUP, n_models)) for g in range(0, n_models, _GROUP)]
    if len(groups) > 1 and len(groups[-1]) == 1:
        groups[-2:] = [range(groups[-2].start, n_models)]
    return groups


def _grouped(module: BatchedMLP, points: int) -> tuple[list[range], Callable[[int], _Passes]]:
    """module's models in groups of at most _GROUP, and a getter of the calling thread's _Passes for
    group g: the pieces of work `spread` shares out, each one group's pass over some points.

    A thread's _Passes of every group write into the one set of buffers that thread owns, sized for
    a group: the buffers grow with the threads, not with the models (a thread keeps only the small
    weight tensors of each group it computed). Each group computes what a bank of its models alone
    computes (tests check it).
    """
    groups = model_groups(module.n_models)
    modules = [module if len(groups) == 1 else module.subset(list(group)) for group in groups]
    own = per_thread(lambda: ({}, _buffers(module, max(map(len, groups)), points)))

    def passes(g: int) -> _Passes:
        made, buffers = own()
        if g not in made:
            made[g] = _Passes(modules[g], points, buffers)
        return made[g]
    return groups, passes


def init_mlp_layer(fan_in: int, fan_out: int, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """PyTorch's nn.Linear default init, U(-1/sqrt(fan_in), 1/sqrt(fan_in)), from an explicit generator."""
    bound = 1.0 / np.sqrt(fan_in)
    w = (torch.rand(fan_in, fan_out, generator=generator, dtype=torch.float32) * 2 - 1) * bound
    b = (torch.rand(fan_out, generator=generator, dtype=torch.float32) * 2 - 1) * bound
    return w, b


@dataclass(frozen=True, eq=False)
class MLPBank:
    """N torch MLPs; `module` evaluates them all at once."""

    module: BatchedMLP

    @property
    def n_models(self) -> int:
        return self.module.n_models

    @property
    def regression(self) -> bool:
        return self.module.weights[-1].shape[2] == 1

    def torch_proba(self, x: torch.Tensor) -> torch.Tensor:
        """Differentiable probabilities (model, row, class) for x (row, feature) or (model, row, feature);
        a regression bank's predicted values (model, row, 1)."""
        out = self.module(x)
        return out if self.regression else torch.softmax(out, dim=-1)

    def predict_proba(self, X: np.ndarray) -> np.ndarray:
        """Probabilities (model, row, class) for X (row, feature): a pass per group of models and chunk of rows."""
        n_classes = self.module.weights[-1].shape[2]
        out, work = self._row_work(X, (n_classes,), lambda own, rows: own.proba(own.first_layer(X[rows])))
        spread(lambda call: call(), work)
        return out

    def target_proba(self, X: np.ndarray, target: np.ndarray) -> np.ndarray:
        """(model, row) probability of class target[row] for X (row, feature)."""
        out, work = self.target_proba_work(X, target)
        spread(lambda call: call(), work)
        return out

    def target_proba_work(self, X: np.ndarray, target: np.ndarray) -> tuple[np.ndarray, list[Callable[[], None]]]:
        """target_proba as pieces of work to share out (runtime.spread) with others: the (model, row)
        array they fill, and the pieces, each a pass of a group of models over a chunk of rows."""
        target_t = torch.as_tensor(target)
        return self._row_work(X, (), lambda own, rows: own.target_proba(own.first_layer(X[rows]),
                                                                        own.selector(target_t[rows])))

    def _row_work(self, X: np.ndarray, shape: tuple[int, ...],
                  compute: Callable[[_Passes, slice], torch.Tensor]) -> tuple[np.ndarray, list[Callable[[], None]]]:
        """The float64 (model, row, *shape) array for X (row, feature), and the pieces of work that fill
        it: compute(passes, rows), the answers of one group of models (its _Passes) on one chunk of rows."""
        groups, passes = _grouped(self.module, min(len(X), _POINTS))
        out = torch.empty((self.n_models, len(X), *shape), dtype=torch.float64)

        @torch.no_grad()  # grad mode is per thread: in the thread that runs the chunk
        def chunk(g: int, i: int) -> None:
            out[groups[g].start:groups[g].stop, i:i + _POINTS] = compute(passes(g), slice(i, i + _POINTS))
        return out.numpy(), [functools.partial(chunk, g, i) for g in range(len(groups)) for i in range(0, len(X), _POINTS)]

    def subset(self, models: list[int]) -> "MLPBank":
        return MLPBank(self.module.subset(models))

    def coalition_proba(self, masks: np.ndarray, X: np.ndarray, background: np.ndarray, weights: np.ndarray,
                        target: np.ndarray, progress: Callable[[float], None] | None = None) -> np.ndarray:
        """Expected p_target of every model at z*x + (1-z)*b over the weighted background b.

        masks (coalition, feature) of 0/1, X (row, feature), background (bg, feature), weights (bg,)
        summing to 1, target (row,) -> (model, coalition, row). Layer 1 is linear, so its pre-activation
        splits into a row part (z*x) W and a background part ((1-z)*b) W + bias, each computed once and
        summed per (coalition, bg, row); only the later layers run on every combination, and the
        background is averaged (in float64) pass by pass.

        How the work is cut depends on the data and the background, never on the number of models, so
        a model gets the same values in a bank of any size (core.run.cluster explains a run in chunks).
        """
        points = _POINTS
        groups, passes = _grouped(self.module, points)
        w1, b1 = (t.detach() for t in self.module.folded_first_layer())  # (model, feature, hidden), (model, hidden)
        z = torch.as_tensor(masks, dtype=torch.float32)
        x = torch.as_tensor(X, dtype=torch.float32)
        bg = torch.as_tensor(background, dtype=torch.float32)
        bg_weights = torch.as_tensor(weights, dtype=torch.float64)[:, None]
        target_t = torch.as_tensor(target)
        (n_rows, n_features), n_bg, hidden = x.shape, len(bg), w1.shape[2]
        # A pass holds at most `points` (coalition, bg, row) points: several coalitions, or one and part of the rows.
        rows_per_pass = min(n_rows, max(1, points // n_bg))
        per_pass = max(1, points // (rows_per_pass * n_bg))
        # Layer 1 for a block of coalitions at a time, all of a group's models in one matmul, (feature,
        # model * hidden): a batched matmul per pass of two coalitions spent more on small-matrix
        # overhead than on numbers. A block is one piece of the shared-out work.
        per_block = per_pass * max(1, _LAYER1_ROWS // (per_pass * (n_rows + n_bg)))
        w1_all = [w1[group.start:group.stop].permute(1, 0, 2).reshape(n_features, len(group) * hidden) for group in groups]
        # Stored (coalition, row, model), the layout KernelSHAP reads its outputs in; returned as a view.
        out = torch.empty((len(z), n_rows, self.n_models), dtype=torch.float64).permute(2, 0, 1)

        @torch.no_grad()  # grad mode is per thread: in the thread that runs the block
        def block(task: tuple[int, int]) -> None:
            g, first = task
            own, group = passes(g), groups[g]
            selectors = own.selectors  # (first row, coalitions) -> that pass's selector, kept by this thread
            zb = z[first:first + per_block]
            kb, n_models = len(zb), len(group)
            # Layer 1 of z*x and of (1-z)*b + bias: the two parts of every point's pre-activation.
            block_a = torch.mm((zb[:, None, :] * x).view(-1, n_features), w1_all[g]).view(kb, n_rows, n_models, hidden)
            block_c = torch.mm(((1 - zb)[:, None, :] * bg).view(-1, n_features), w1_all[g])
            block_c = block_c.view(kb, n_bg, n_models, hidden).add_(b1[group.start:group.stop])
            for at in range(0, kb, per_pass):
                k = min(per_pass, kb - at)
                a = block_a[at:at + k].permute(2, 0, 1, 3)[:, :, None]  # (model, k, 1, row, hidden)
                c = block_c[at:at + k].permute(2, 0, 1, 3)[:, :, :, None]  # (model, k, bg, 1, hidden)
                for r in range(0, n_rows, rows_per_pass):
                    n_pass = min(rows_per_pass, n_rows - r)
                    rows = slice(r, r + n_pass)
                    if (r, k) not in selectors:
                        selectors[r, k] = own.selector(target_t[rows].repeat(k * n_bg))
                    h = own.activations(k * n_bg * n_pass)
                    # relu(a + c) in one pass over memory (torch's fused op for JIT add+relu fusion).
                    torch._add_relu(a[:, :, :, rows], c, out=h.view(n_models, k, n_bg, n_pass, hidden))
                    p_target = own.target_proba(h, selectors[r, k]).view(n_models, k, n_bg, n_pass)
                    # Weighted sum over the background as elementwise work: a matrix-vector product could
                    # round models differently by their position, and identical models must agree exactly.
                    out[group.start:group.stop, first + at:first + at + k, rows] = p_target.mul_(bg_weights).sum(dim=2)

        tasks = [(g, first) for g in range(len(groups)) for first in range(0, len(z), per_block)]
        spread(block, tasks, done=progress and (lambda n: progress(n / len(tasks))))
        return out.numpy()

    def fingerprints(self) -> tuple[str, ...]:
        prints = []
        for m in range(self.n_models):
            h = hashlib.sha256()
            for p in list(self.module.parameters()) + list(self.module.buffers()):
                h.update(p[m].detach().contiguous().numpy().tobytes())
            prints.append(h.hexdigest()[:12])
        return tuple(prints)


@dataclass(frozen=True, eq=False)
class SklearnBank:
    """N fitted scikit-learn pipelines (StandardScaler + classifier or regressor; n_classes 1 for a regressor)."""

    pipelines: tuple
    n_classes: int

    @property
    def n_models(self) -> int:
        return len(self.pipelines)

    @property
    def regression(self) -> bool:
        return self.n_classes == 1

    def predict_proba(self, X: np.ndarray) -> np.ndarray:
        # scikit-learn estimators are separate objects, so this loop over models cannot
        # be batched; each call is itself vectorized over rows.
        out = np.zeros((self.n_models, len(X), self.n_classes))
        for m, pipe in enumerate(self.pipelines):
            if self.regression:
                out[m][:, 0] = pipe.predict(X)
            else:
                proba = pipe.predict_proba(X)
                if proba.dtype == np.float32:  # XGBoost, LightGBM: rows that sum to 1 in float64 too
                    proba = proba.astype(np.float64)
                    proba /= proba.sum(axis=1, keepdims=True)
                out[m][:, pipe.classes_] = proba
        return out

    def target_proba(self, X: np.ndarray, target: np.ndarray) -> np.ndarray:
        """(model, row) probability of class target[row] for X (row, feature)."""
        return np.take_along_axis(self.predict_proba(X), target[None, :, None], axis=-1)[..., 0]

    def target_proba_work(self, X: np.ndarray, target: np.ndarray) -> tuple[np.ndarray, list[Callable[[], None]]]:
        """As MLPBank.target_proba_work: the (model, row) array, and one piece of work per model."""
        out = np.empty((self.n_models, len(X)))

        def model(m: int) -> None:
            out[m] = self.subset([m]).target_proba(X, target)[0]
        return out, [functools.partial(model, m) for m in range(self.n_models)]

    def subset(self, models: list[int]) -> "SklearnBank":
        return SklearnBank(tuple(self.pipelines[m] for m in models), self.n_classes)

    def coalition_proba(self, masks: np.ndarray, X: np.ndarray, background: np.ndarray, weights: np.ndarray,
                        target: np.ndarray, progress: Callable[[float], None] | None = None) -> np.ndarray:
        """Same contract as MLPBank.coalition_proba: (model, coalition, row) expected p_target over the
        weighted background. The points are built explicitly, a bounded number of coalitions at a time.
        """
        per_chunk = max(1, _SKLEARN_POINTS // (len(X) * len(background)))
        out = []
        for start in range(0, len(masks), per_chunk):
            z = masks[start:start + per_chunk, None, None, :]
            points = z * X[None, None] + (1 - z) * background[None, :, None]  # (coalition, bg, row, feature)
            proba = self.predict_proba(points.reshape(-1, X.shape[1])).reshape(self.n_models, *points.shape[:-1], -1)
            p_target = np.take_along_axis(proba, np.broadcast_to(target[:, None], proba.shape[:-1] + (1,)),
                                          axis=-1)[..., 0]
            out.append(np.einsum("mcbr,b->mcr", p_target, weights))
            if progress:
                progress(min(1.0, (start + per_chunk) / len(masks)))
        return np.concatenate(out, axis=1)

    def fingerprints(self) -> tuple[str, ...]:
        return tuple(_sklearn_fingerprint(p) for p in self.pipelines)


def _sklearn_fingerprint(pipe) -> str:
    """Hash of a fitted pipeline's learned arrays (scaler stats, coefficients, tree structure)."""
    h = hashlib.sha256()

    def feed(obj):
        for attr in ("mean_", "scale_", "coef_", "intercept_", "init_"):
            value = getattr(obj, attr, None)
            if isinstance(value, float):  # a single-output regressor's intercept
                value = np.array([value])
            if isinstance(value, np.ndarray):
                h.update(np.ascontiguousarray(value).tobytes())
        if hasattr(obj, "get_booster"):  # XGBoost: its trees as saved, byte for byte
            h.update(bytes(obj.get_booster().save_raw("ubj")))
        if hasattr(obj, "booster_"):  # LightGBM: its trees (its model text also holds the seeds it was given)
            h.update(json.dumps(obj.booster_.dump_model()["tree_info"], sort_keys=True).encode())
        tree = getattr(obj, "tree_", None)
        if tree is not None:
            for arr in (tree.feature, tree.threshold, tree.value):
                h.update(np.ascontiguousarray(arr).tobytes())
        for sub in np.ravel(getattr(obj, "estimators_", [])):
            feed(sub)

    for _, step in pipe.steps:
        feed(step)
    return h.hexdigest()[:12]
