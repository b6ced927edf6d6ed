"""Model banks: N models of one family that answer together.

A bank maps raw feature rows (row, feature) to class probabilities
(model, row, class) for all its models in one call. Each model standardizes
inputs with its own training-row statistics, so every model, whatever its
split, is explained in the same raw feature space.
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Callable

import numpy as np
import torch
from torch import nn

_COALITION_POINTS = 2048  # (coalition, bg, row) combinations per MLP pass: activations stay in cache
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

    def after_first_layer(self, pre: torch.Tensor) -> torch.Tensor:
        """Logits (model, row, class) from layer-1 pre-activations (model, row, hidden), no dropout."""
        h = torch.relu_(pre)
        last = len(self.weights) - 1
        for i in range(1, last + 1):
            h = torch.baddbmm(self.biases[i][:, None, :], h, self.weights[i])
            if i < last:
                h = torch.relu_(h)
        return h

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
            layers.append(nn.ReLU() if i < len(weights) - 1 else nn.Softmax(dim=-1))
        return nn.Sequential(*layers).eval()


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

    def torch_proba(self, x: torch.Tensor) -> torch.Tensor:
        """Differentiable probabilities (model, row, class) for x (row, feature) or (model, row, feature)."""
        return torch.softmax(self.module(x), dim=-1)

    def predict_proba(self, X: np.ndarray, *, chunk: int = 2048) -> np.ndarray:  # rows per pass: activations in cache
        """Probabilities (model, row, class) for X (row, feature), all models in one pass per chunk.

        The inference path folds standardization into layer 1, so the shared rows enter every
        model through one broadcast matmul instead of N standardized copies.
        """
        w1, b1 = self.module.folded_first_layer()
        out = torch.empty((self.n_models, len(X), self.module.weights[-1].shape[-1]), dtype=torch.float64)
        with torch.no_grad():  # written in place, as in coalition_proba
            for i in range(0, len(X), chunk):
                x = torch.as_tensor(X[i:i + chunk], dtype=torch.float32)
                pre = torch.matmul(x, w1) + b1[:, None, :]
                out[:, i:i + chunk] = torch.softmax(self.module.after_first_layer(pre).double(), dim=-1)
        return out.numpy()

    def subset(self, models: list[int]) -> "MLPBank":
        return MLPBank(self.module.subset(models))

    def coalition_proba(self, masks: np.ndarray, X: np.ndarray, background: np.ndarray, weights: np.ndarray,
                        target: np.ndarray, progress: Callable[[float], None] | None = None) -> np.ndarray:
        """Expected p_target of every model at z*x + (1-z)*b over the weighted background b.

        masks (coalition, feature) of 0/1, X (row, feature), background (bg, feature), weights (bg,)
        summing to 1, target (row,) -> (model, coalition, row). Layer 1 is linear, so its pre-activation
        splits into a row part (z*x) W and a background part ((1-z)*b) W + bias, each computed once and
        summed per (coalition, bg, row); only the later layers run on every combination, and the
        background is averaged (in float64) chunk by chunk.
        """
        w1, b1 = self.module.folded_first_layer()
        z = torch.as_tensor(masks, dtype=torch.float32)
        x = torch.as_tensor(X, dtype=torch.float32)
        bg = torch.as_tensor(background, dtype=torch.float32)
        bg_weights = torch.as_tensor(weights, dtype=torch.float64)
        n_models, hidden = w1.shape[0], w1.shape[2]
        n_rows, n_bg = len(x), len(bg)
        row_part = torch.einsum("rf,mfh->mfrh", x, w1).reshape(n_models, -1, n_rows * hidden)
        bg_part = torch.einsum("bf,mfh->mfbh", bg, w1).reshape(n_models, -1, n_bg * hidden)
        per_chunk = max(1, _COALITION_POINTS // (n_rows * n_bg))
        target_t = torch.as_tensor(target)
        # Written in place: small results kept between large temporaries fragment the heap (RSS grew
        # by the temporaries' size per chunk).
        out = torch.empty((n_models, len(z), n_rows), dtype=torch.float64)
        with torch.no_grad():
            for start in range(0, len(z), per_chunk):
                zc = z[start:start + per_chunk]
                a = torch.matmul(zc, row_part).view(n_models, len(zc), 1, n_rows, hidden)
                c = (torch.matmul(1 - zc, bg_part).view(n_models, len(zc), n_bg, hidden) + b1[:, None, None, :])
                pre = (a + c[:, :, :, None, :]).view(n_models, -1, hidden)
                proba = torch.softmax(self.module.after_first_layer(pre), dim=-1)
                proba = proba.view(n_models, len(zc), n_bg, n_rows, -1)
                p_target = torch.gather(proba, -1, target_t.expand(proba.shape[:-1])[..., None])[..., 0]
                # Weighted sum over the background as elementwise work: a matrix-vector product could
                # round models differently by their position, and identical models must agree exactly.
                out[:, start:start + len(zc)] = (p_target.double() * bg_weights[:, None]).sum(dim=2)
                if progress:
                    progress(min(1.0, (start + per_chunk) / len(z)))
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
    """N fitted scikit-learn pipelines (StandardScaler + classifier)."""

    pipelines: tuple
    n_classes: int

    @property
    def n_models(self) -> int:
        return len(self.pipelines)

    def predict_proba(self, X: np.ndarray) -> np.ndarray:
        # scikit-learn estimators are separate objects, so this loop over models cannot
        # be batched; each call is itself vectorized over rows.
        out = np.zeros((self.n_models, len(X), self.n_classes))
        for m, pipe in enumerate(self.pipelines):
            out[m][:, pipe.classes_] = pipe.predict_proba(X)
        return out

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
            if isinstance(value, np.ndarray):
                h.update(np.ascontiguousarray(value).tobytes())
        tree = getattr(obj, "tree_", None)
        if tree is not None:
            for arr in (tree.feature, tree.threshold, tree.value):
                h.update(np.ascontiguousarray(arr).tobytes())
        for sub in np.ravel(getattr(obj, "estimators_", [])):
            feed(sub)

    for _, step in pipe.steps:
        feed(step)
    return h.hexdigest()[:12]
