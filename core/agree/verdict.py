"""Do the models disagree more than a model disagrees with itself? The like-with-like test behind the verdict.

A sampling explainer (KernelSHAP, LIME) explains every model on two independent halves of its budget,
A and B, each half shared by all models. Model i explained on A against model j explained on B carries
the same explainer noise as model i on A against itself on B; only the models' own difference tells
the two apart. So the statistic compares like with like:

    D = mean over pairs i != j of agr(i_A, j_B)  -  mean over models i of agr(i_A, i_B)

(agr: an agreement metric averaged over the explained rows). Models of one logic give D = 0 on average
(exactly 0 when they are identical), models that weigh features differently a negative D. A
deterministic method (gradients, integrated gradients) has no explainer noise: its "halves" are the
same values, agr(i, i) = 1 and D = between-model agreement - 1.

Agreement between models explained on the same samples (common random numbers) is the most precise
estimate of how much they agree, and stays the reported point estimate; but its explainer noise
mostly cancels between models and never within one, so it must not be read against the noise floor
(one model against itself): that comparison makes a noisy explainer look like agreement.

The interval of D adds two delete-one jackknife variances, a conservative sum for a crossed design
(Owen 2007, "The pigeonhole bootstrap"): over models (D is a mean over pairs, a U-statistic, for
which the jackknife is consistent: Arvesen 1969, "Jackknifing U-statistics") and over ROW_GROUPS
groups of explained rows (Kott 2001, "The delete-a-group jackknife"). KernelSHAP draws each group's
coalitions on seeds of their own, and LIME each row's samples, so the groups are independent draws
of the explainer as well as of rows: the second term carries the explainer's own noise, which the
models share. Student's t with min(models, groups) - 1 degrees of freedom (two models: the groups'
term alone, on one degree of freedom). The decision, at margin MARGIN:
- "differ": the 95% interval lies wholly below -MARGIN;
- "same" (no detectable difference): it lies at or above -MARGIN;
- "inconclusive": it contains -MARGIN.
Each conclusion is then a one-sided test at 2.5% (Schuirmann's two one-sided tests, 1987, with the
margin as the boundary): "differ" is wrong at most 2.5% of the time when the models differ by less
than the margin, "same" at most 2.5% of the time when they differ by more.
"""
from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
from scipy import stats

from .agreement import METRICS
from .intervals import Interval
from .pairs import group_matrices

MARGIN = 0.02  # agreement points: a difference smaller than this is no difference of logic
LEVEL = 0.95
ROW_GROUPS = 8  # groups of explained rows, each explained on draws of its own (see row_groups)
_CELLS = 1 << 22  # numbers a metric may hold at once while the noise floor is measured (32 MB of float64)
OUTCOMES = ("differ", "same", "inconclusive")


@dataclass(frozen=True)
class Verdict:
    """The like-with-like test of one method and metric.

    between: mean over pairs of distinct models of agr(i_A, j_B); within: mean over models of
    agr(i_A, i_B), 1.0 for a deterministic method; difference: between - within with its 95%
    interval; outcome: one of OUTCOMES; samples: coalitions or samples per row behind the values
    (None for a deterministic method); seed_spread: how far the same-samples agreement between
    models moves with the explainer's seed, |half A's - half B's| / 2; se_models and se_rows: the
    standard errors the interval adds (which more models, or more rows and samples, would shrink).
    """

    outcome: str
    between: float
    within: float
    difference: Interval
    margin: float = MARGIN
    samples: int | None = None
    seed_spread: float = 0.0
    se_models: float = 0.0  # the interval's two parts: resampling models,
    se_rows: float = 0.0  # and resampling groups of rows, each on draws of the explainer of its own

    @property
    def decided(self) -> bool:
        return self.outcome != "inconclusive"


def row_groups(n_rows: int) -> np.ndarray:
    """(row,) the group of each of n_rows explained rows: ROW_GROUPS contiguous groups of rows in the
    explanation's order (a row a group below that)."""
    return np.arange(n_rows) * min(ROW_GROUPS, n_rows) // n_rows


def _difference(cross: np.ndarray) -> float:
    """D of a (model, model) cross matrix: the mean off the diagonal minus the mean on it."""
    n, trace = len(cross), np.trace(cross)
    return (cross.sum() - trace) / (n * (n - 1)) - trace / n


def _jackknife_se(leave_out: np.ndarray) -> float:
    n = len(leave_out)
    return float(np.sqrt((n - 1) / n * np.sum((leave_out - leave_out.mean()) ** 2)))


def verdict(cross: np.ndarray, sizes: np.ndarray, *, samples: int | None = None, margin: float = MARGIN) -> Verdict:
    """The test from cross (group, model, model): cross[g, i, j] = agreement of model i on half A with
    model j on half B, averaged over the rows of group g (for a deterministic method the plain
    agreement matrices, 1 on their diagonal); sizes (group,): rows per group. Two models at least."""
    cross, sizes = np.asarray(cross, dtype=np.float64), np.asarray(sizes, dtype=np.float64)
    n_groups, n = cross.shape[:2]
    assert n >= 2 and cross.shape == (n_groups, n, n), "the test compares at least two models"
    share = sizes / sizes.sum()
    whole = np.tensordot(share, cross, axes=1)  # (model, model) means over all rows
    d = _difference(whole)
    within = np.trace(whole) / n
    se_models = se_groups = 0.0
    if n >= 3:
        keep = ~np.eye(n, dtype=bool)
        se_models = _jackknife_se(np.array([_difference(whole[np.ix_(keep[m], keep[m])]) for m in range(n)]))
    if n_groups >= 2:
        without = (whole[None] - share[:, None, None] * cross) / (1 - share)[:, None, None]
        se_groups = _jackknife_se(np.array([_difference(c) for c in without]))
    if n < 3 and n_groups < 2:  # two models on one row: no interval at all, and only identical models are decided
        lo = hi = d if d == 0 else np.nan
    else:  # with two models there is no spread over models to measure: one degree of freedom, conservatively
        df = min(n, n_groups) - 1 if n_groups >= 2 else n - 1
        half = stats.t.ppf(0.5 + LEVEL / 2, df=df) * np.hypot(se_models, se_groups)
        lo, hi = d - half, d + half
    if hi < -margin:
        outcome = "differ"
    elif lo >= -margin:
        outcome = "same"
    else:
        outcome = "inconclusive"
    return Verdict(outcome, float(d + within), float(within), Interval(float(d), float(lo), float(hi), LEVEL),
                   margin, samples, se_models=se_models, se_rows=se_groups)


def like_with_like(values: np.ndarray, halves: np.ndarray | None, *, metric: str, k: int,
                   samples: int | None = None) -> Verdict | None:
    """The test of one method's attributions: values (model, row, feature), halves (half, model, row,
    feature) or None for a deterministic method. None for a single model (nothing to compare)."""
    n, n_rows = values.shape[:2]
    if n < 2:
        return None
    groups = row_groups(n_rows)
    sizes = np.bincount(groups)
    if halves is None:
        return verdict(group_matrices(values, groups, metric=metric, k=k), sizes)
    # Both halves as the 2n "models" of one pass: the A-B block is the cross matrix, and the A-A and
    # B-B blocks are the same-samples agreement under each half's seeds.
    matrices = group_matrices(np.concatenate(halves), groups, metric=metric, k=k)
    whole = np.tensordot(sizes / sizes.sum(), matrices, axes=1)
    off = ~np.eye(n, dtype=bool)
    spread = abs(whole[:n, :n][off].mean() - whole[n:, n:][off].mean()) / 2
    return replace(verdict(matrices[:, :n, n:], sizes, samples=samples), seed_spread=float(spread))


def noise_floor(halves: np.ndarray | None, *, metric: str, k: int) -> float:
    """How far one explanation of one model can be trusted: each model on half A against itself on half
    B, averaged over rows and models (nan without halves: a deterministic method has no such noise)."""
    if halves is None:
        return float("nan")
    a, b = (h.reshape(-1, h.shape[-1]) for h in halves)  # (model * row, feature)
    # A chunk of rows at a time: a pairwise metric holds about feature**2 numbers per row (200 models x 143
    # rows of 30 features at once took hundreds of MB).
    step = max(1, _CELLS // a.shape[1] ** 2)
    total = sum(float(METRICS[metric].fn(a[i:i + step], b[i:i + step], k=k).sum()) for i in range(0, len(a), step))
    return total / len(a)
