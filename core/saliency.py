"""Gradient saliency for a bank of torch MLPs: gradients and integrated gradients, all models at once.

Inputs carry a leading model axis, so one backward pass gives every model its own input
gradients (the models share no parameters and no inputs, so they never mix).
"""
from __future__ import annotations

import numpy as np
import torch

from .models import MLPBank

IG_TOLERANCE = 0.01  # completeness: |sum of attributions - (f(x) - f(baseline))| <= 1% of the gap (+1e-6)
IG_MAX_STEPS = 4096


def gradients(bank: MLPBank, points: torch.Tensor, target: np.ndarray) -> torch.Tensor:
    """points (model, ..., row, feature) -> d p_target / d input, same shape; models never mix."""
    points = points.detach().requires_grad_(True)
    flat = points.reshape(bank.n_models, -1, points.shape[-1])
    proba = bank.torch_proba(flat).reshape(*points.shape[:-1], -1)
    index = torch.as_tensor(target).expand(points.shape[:-1])[..., None]
    torch.gather(proba, -1, index).sum().backward()
    return points.grad


def _quadrature(bank: MLPBank, X: np.ndarray, target: np.ndarray, base: np.ndarray, steps: int,
                points_per_pass: int) -> np.ndarray:
    """(model, row, feature) integrated gradients of X (row, feature) with `steps` Gauss-Legendre nodes."""
    nodes, quad_w = np.polynomial.legendre.leggauss(steps)
    alphas, quad_w = (nodes + 1) / 2, quad_w / 2  # map [-1, 1] to [0, 1]
    delta = X - base  # (row, feature)
    total = np.zeros((bank.n_models, *delta.shape))
    per_chunk = max(1, points_per_pass // len(delta))  # steps per pass, to bound memory
    for start in range(0, steps, per_chunk):
        a = alphas[start:start + per_chunk]
        path = base[None, None] + a[:, None, None] * delta[None]  # (step, row, feature)
        x = torch.tensor(path, dtype=torch.float32).expand(bank.n_models, -1, -1, -1)
        grads = gradients(bank, x, target).double().numpy()  # (model, step, row, feature)
        total += np.einsum("msrf,s->mrf", grads, quad_w[start:start + per_chunk])
    return total * delta[None]


def integrated_gradients(bank: MLPBank, X: np.ndarray, target: np.ndarray, base: np.ndarray, *,
                         steps: int, points_per_pass: int) -> np.ndarray:
    """Integrated gradients (Sundararajan et al. 2017) of X (row, feature) from `base`: (model, row, feature).

    Completeness: attributions must sum to f(x) - f(baseline). A ReLU network's gradient jumps
    where a unit switches along the path, so quadrature converges only linearly there. Rows whose
    sum misses by more than IG_TOLERANCE of f(x) - f(baseline) are recomputed with 4x the steps,
    up to IG_MAX_STEPS, so most rows stay cheap and every row ends complete.
    """
    with torch.no_grad():
        f_x = bank.torch_proba(torch.tensor(X, dtype=torch.float32))
        f_base = bank.torch_proba(torch.tensor(base[None], dtype=torch.float32))
    rows = np.arange(len(X))
    gap = (f_x[:, rows, target] - f_base[:, 0, target]).double().numpy()  # (model, row)
    values = _quadrature(bank, X, target, base, steps, points_per_pass)
    while steps < IG_MAX_STEPS:
        miss = np.abs(values.sum(axis=-1) - gap) > IG_TOLERANCE * np.abs(gap) + 1e-6
        redo = rows[miss.any(axis=0)]
        if not len(redo):
            break
        steps *= 4
        values[:, redo] = _quadrature(bank, X[redo], target[redo], base, steps, points_per_pass)
    return values
