"""Correlated features: models that lean on different near-duplicates are not different in logic.

Features whose absolute Spearman correlation on the training rows reaches a threshold are grouped
(hierarchical clustering, average linkage, on 1 - |rho|); attributions summed within a group give
group-level attributions, on which every agreement metric is measured again.
"""
from __future__ import annotations

import numpy as np

from ..errors import ConfigError

GROUP_THRESHOLD = 0.8


def feature_groups(X: np.ndarray, *, threshold: float = GROUP_THRESHOLD) -> tuple[tuple[int, ...], ...]:
    """Groups of feature indices, X (row, feature) the training rows; each group ordered, groups by first index.

    Two features end in one group when their average |Spearman rho| linkage reaches `threshold`;
    a constant feature correlates with nothing and stays alone.
    """
    from scipy.cluster.hierarchy import fcluster, linkage  # here: GROUP_THRESHOLD is read by the first page
    from scipy.spatial.distance import squareform
    from scipy.stats import spearmanr

    if not 0 < threshold <= 1:
        raise ConfigError(f"The group threshold is an absolute correlation in (0, 1]; got {threshold}.")
    n = X.shape[1]
    if n == 1:
        return ((0,),)
    with np.errstate(invalid="ignore", divide="ignore"):
        rho = spearmanr(X).statistic
    if np.ndim(rho) == 0:  # two features: scipy returns their one coefficient
        rho = np.array([[1.0, rho], [rho, 1.0]])
    distance = 1 - np.nan_to_num(np.abs(rho), nan=0.0)
    np.fill_diagonal(distance, 0.0)
    tree = linkage(squareform(np.clip((distance + distance.T) / 2, 0, None), checks=False), method="average")
    labels = fcluster(tree, t=1 - threshold + 1e-12, criterion="distance")
    groups = {}
    for feature, label in enumerate(labels):
        groups.setdefault(label, []).append(feature)
    return tuple(sorted(tuple(g) for g in groups.values()))


def group_values(values: np.ndarray, groups: tuple[tuple[int, ...], ...]) -> np.ndarray:
    """(..., feature) attributions -> (..., group), summed within each group.

    Sums, not a matrix product: a BLAS kernel may round rows differently by position, and
    identical models must keep identical group attributions.
    """
    return np.stack([values[..., list(members)].sum(axis=-1) for members in groups], axis=-1)


def group_name(group: tuple[int, ...], feature_names: tuple[str, ...], shown: int = 3) -> str:
    """'worst radius / worst perimeter / worst area (+2 more)'."""
    names = [feature_names[f] for f in group]
    more = f" (+{len(names) - shown} more)" if len(names) > shown else ""
    return " / ".join(names[:shown]) + more
