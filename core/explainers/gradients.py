"""Gradient saliency for a bank of torch MLPs: gradients and integrated gradients, all models at once.

Inputs carry a leading model axis, so one backward pass gives every model its own input
gradients (the models share no parameters and no inputs, so they never mix).
"""
from __future__ import annotations

import numpy as np
import torch

from ..training.models import BatchedMLP, MLPBank, model_groups
from ..runtime import spread

_IG_NUMBERS = 1 << 22  # numbers per chunk of rows at most (32 MB in float64)
_IG_ROWS = 16  # rows per chunk: the chunks are the pieces of work runtime.spread shares out

def gradients(bank: MLPBank, points: torch.Tensor, target: np.ndarray) -> torch.Tensor:
    """points (model, ..., row, feature) -> d p_target / d input, same shape; models never mix."""
    points = points.detach().requires_grad_(True)
    flat = points.reshape(bank.n_models, -1, points.shape[-1])
    proba = bank.torch_proba(flat).reshape(*points.shape[:-1], -1)
    index = torch.as_tensor(target).expand(points.shape[:-1])[..., None]
    torch.gather(proba, -1, index).sum().backward()
    return points.grad


def _hidden_pre_activations(module: BatchedMLP, x: torch.Tensor) -> list[torch.Tensor]:
    """Pre-activations of every hidden layer, each (model, point, hidden), for x (model, point, feature)."""
    h = (x - module.mean[:, None, :]) / module.std[:, None, :]
    out = []
    for w, b in zip(list(module.weights)[:-1], list(module.biases)[:-1]):
        out.append(torch.baddbmm(b[:, None, :], h, w))
        h = torch.relu(out[-1])
    return out


def _kinks(module: BatchedMLP, base: torch.Tensor, delta: torch.Tensor) -> torch.Tensor:
    """(model, row, K) sorted points in [0, 1] of the paths base + a * delta (delta: row, feature) where
    some hidden unit switches, with 0 and 1, padded with 1.0 (zero-length pieces).

    Layer by layer: with the breakpoints found so far, every earlier unit keeps its state between two
    of them, so this layer's pre-activations are linear there; a sign change between the ends of a
    piece is a crossing, found by interpolation (the first layer's are exact, its pre-activations
    being linear along the whole path).
    """
    n_models, n_rows = module.n_models, len(delta)
    alphas = torch.tensor([0.0, 1.0], dtype=delta.dtype).expand(n_models, n_rows, 2)
    for layer in range(len(module.weights) - 1):
        k = alphas.shape[-1]
        points = base + alphas[..., None] * delta[None, :, None, :]  # (model, row, K, feature)
        pre = _hidden_pre_activations(module, points.reshape(n_models, -1, delta.shape[1]))[layer]
        pre = pre.reshape(n_models, n_rows, k, -1)
        va, vb = pre[:, :, :-1], pre[:, :, 1:]
        a, b = alphas[..., :-1, None], alphas[..., 1:, None]
        crossing = torch.where(va * vb < 0, a + (b - a) * va / (va - vb), torch.ones_like(va))
        alphas = torch.cat([alphas, crossing.reshape(n_models, n_rows, -1)], dim=-1).sort(dim=-1).values
        alphas = alphas[..., :int((alphas < 1).sum(dim=-1).max()) + 1]  # drop padding every row has
    return alphas


def _piecewise_ig(module: BatchedMLP, X: torch.Tensor, target: torch.Tensor, base: torch.Tensor,
                  nodes: int) -> torch.Tensor:
    """(model, row, feature) integrated gradients of p_target (regression: of the predicted value, which is
    linear on each piece), exact on each linear piece of the path.

    On a piece every ReLU keeps its state, so the logits z are affine in a, z(a) = z_a + ... , and
    d p / d x = J^T s(z(a)) with J = dz/dx constant and s = d p_target / d z = p_t (e_t - p). The
    path integral over the piece is J^T times the integral of s, a smooth function of one variable
    computed from the logits at the piece's ends with Gauss-Legendre nodes; J^T v is one backward
    pass at the piece's midpoint.
    """
    n_models, n_rows = module.n_models, len(X)
    delta = X - base
    with torch.no_grad():
        alphas = _kinks(module, base, delta)  # (model, row, K)
        k = alphas.shape[-1]
        ends = base + alphas[..., None] * delta[None, :, None, :]
        z = module(ends.reshape(n_models, -1, X.shape[1])).reshape(n_models, n_rows, k, -1)
        length = (alphas[..., 1:] - alphas[..., :-1])[..., None]
        if z.shape[-1] == 1:  # regression: the output itself is linear on a piece, s = 1
            v = length  # (model, row, piece, 1)
        else:
            t, w = np.polynomial.legendre.leggauss(nodes)
            t, w = torch.tensor((t + 1) / 2, dtype=X.dtype), torch.tensor(w / 2, dtype=X.dtype)
            za, zb = z[:, :, :-1, None, :], z[:, :, 1:, None, :]
            p = torch.softmax(za + t[:, None] * (zb - za), dim=-1)  # (model, row, piece, node, class)
            target_onehot = torch.nn.functional.one_hot(target, p.shape[-1]).to(X.dtype)[None, :, None, None, :]
            p_target = (p * target_onehot).sum(dim=-1, keepdim=True)
            v = (p_target * (target_onehot - p) * w[:, None]).sum(dim=-2) * length  # (model, row, piece, class)
    middle = base + ((alphas[..., 1:] + alphas[..., :-1]) / 2)[..., None] * delta[None, :, None, :]
    middle = middle.reshape(n_models, -1, X.shape[1]).requires_grad_(True)
    (module(middle) * v.reshape(n_models, -1, v.shape[-1])).sum().backward()
    return middle.grad.reshape(n_models, n_rows, k - 1, -1).sum(dim=-2) * delta[None]


def integrated_gradients(bank: MLPBank, X: np.ndarray, target: np.ndarray, base: np.ndarray, *,
                         nodes: int) -> np.ndarray:
    """Integrated gradients (Sundararajan et al. 2017) of X (row, feature) from `base`: (model, row, feature).

    A ReLU network is smooth between the points of the straight path where a hidden unit switches,
    and its gradient jumps there, so fixed-step quadrature converges only slowly. Here the path is
    cut at every such kink (_kinks) and each smooth piece is integrated with `nodes` Gauss-Legendre
    nodes (_piecewise_ig): with 32 the attributions add up to f(x) - f(baseline) to about 1e-15,
    in float64, the precision they are computed in, with no refinement loop.
    """
    X64, base64 = torch.as_tensor(X, dtype=torch.float64), torch.as_tensor(base, dtype=torch.float64)
    target_t = torch.as_tensor(target)
    groups = model_groups(bank.n_models)
    modules = [bank.module.subset(list(group)).double().requires_grad_(False) for group in groups]  # input gradients only
    # Rows a chunk at a time: a row holds about models x breakpoints x width numbers, with breakpoints
    # rarely more than 2 + one per hidden unit.
    hidden = [w.shape[-1] for w in bank.module.weights[:-1]]
    width = max(X.shape[1], *hidden, nodes * bank.module.weights[-1].shape[-1])
    per_chunk = max(1, min(_IG_ROWS, _IG_NUMBERS // (max(map(len, groups)) * (2 + sum(hidden)) * width)))
    tasks = [(g, i) for g in range(len(groups)) for i in range(0, len(X), per_chunk)]
    out = torch.empty((bank.n_models, *X.shape), dtype=torch.float64)

    def chunk(task: tuple[int, int]) -> None:
        g, i = task
        rows = slice(i, i + per_chunk)
        out[groups[g].start:groups[g].stop, rows] = _piecewise_ig(modules[g], X64[rows], target_t[rows], base64, nodes)
    spread(chunk, tasks)
    return out.numpy()
