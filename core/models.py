"""Model banks: N models of one family that answer together.

A bank maps raw feature rows (row, feature) to class probabilities
(model, row, class) for all its models in one call. Each model standardizes
inputs with its own training-row statistics, so every model, whatever its
split, is explained in the same raw feature space.
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn


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

    def single(self, m: int) -> nn.Sequential:
        """Model m as a plain nn.Sequential ending in nn.Softmax (what shap's DeepExplainer needs)."""
        layers: list[nn.Module] = [_Standardize(self.mean[m], self.std[m])]
        last = len(self.weights) - 1
        for i, (w, b) in enumerate(zip(self.weights, self.biases)):
            lin = nn.Linear(w.shape[1], w.shape[2])
            with torch.no_grad():
                lin.weight.copy_(w[m].T)
                lin.bias.copy_(b[m])
            layers.append(lin)
            layers.append(nn.ReLU() if i < last else nn.Softmax(dim=-1))
        return nn.Sequential(*layers).eval()


class _Standardize(nn.Module):
    def __init__(self, mean: torch.Tensor, std: torch.Tensor):
        super().__init__()
        self.register_buffer("mean", mean.detach().clone())
        self.register_buffer("std", std.detach().clone())

    def forward(self, x):
        return (x - self.mean) / self.std


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
    family: str = "mlp"

    @property
    def n_models(self) -> int:
        return self.module.n_models

    def torch_proba(self, x: torch.Tensor) -> torch.Tensor:
        """Differentiable probabilities (model, row, class) for x (row, feature) or (model, row, feature)."""
        return torch.softmax(self.module(x), dim=-1)

    def predict_proba(self, X: np.ndarray, *, chunk: int = 65536) -> np.ndarray:
        """Probabilities (model, row, class) for X (row, feature), all models in one pass per chunk."""
        with torch.no_grad():
            parts = [self.torch_proba(torch.as_tensor(X[i:i + chunk], dtype=torch.float32))
                     for i in range(0, max(len(X), 1), chunk)]
        return torch.cat(parts, dim=1).double().numpy()

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
    family: str
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
