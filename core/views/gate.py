"""A release gate: do a comparison's explanations agree, and its predictions coincide, well enough to ship?

Each criterion is judged on the pessimistic end of its 95% interval, so a gate passes only when
the data support it: the lower end of between-model agreement (interval over models) must reach
the minimum, and the upper end of prediction ambiguity (interval over rows) must stay under the
maximum. "Same logic" reads the like-with-like test (core.agree.verdict), the one the headline reads:
it passes when the lower end of the difference between models and each model against itself stays
above the test's margin, that is when the test says "no detectable difference".
"""
from __future__ import annotations

from dataclasses import dataclass

from ..agree.agreement import METRICS
from ..agree.intervals import Interval, agreement_interval
from ..run.compare import HEADLINE_METRIC, Summary
from ..errors import ConfigError
from ..explainers.registry import METHODS
from ..seeding import numpy_generator


@dataclass(frozen=True)
class Criterion:
    name: str  # what is judged, e.g. "agreement (KernelSHAP, Feature agreement@k, k=5)"
    interval: Interval
    bound: float
    at_least: bool  # True: the interval's lower end must reach the bound; False: the upper end stay under it
    points: bool = False  # a difference of agreements, read in percentage points (else a share, in percent)

    @property
    def passed(self) -> bool:
        return self.interval.lo >= self.bound if self.at_least else self.interval.hi <= self.bound


def release_gate(summary: Summary, *, seed: int, min_agreement: float | None = None,
                 max_ambiguity: float | None = None, method: str | None = None,
                 metric: str = HEADLINE_METRIC, same_logic: bool = False) -> list[Criterion]:
    """The criteria asked for (none given: none judged), each with its interval and verdict.

    seed: the comparison's explainer seed, so the headline method and metric get the interval the
    Summary shows.
    """
    method = method or summary.headline_method
    if method not in summary.by_method:
        raise ConfigError(f"Method {method!r} was not run in this comparison; it ran {', '.join(summary.by_method)}.")
    if metric not in METRICS:
        raise ConfigError(f"Unknown agreement metric {metric!r}; pick one of {', '.join(METRICS)}.")
    for name, bound in (("--min-agreement", min_agreement), ("--max-ambiguity", max_ambiguity)):
        if bound is not None and not 0 <= bound <= 1:
            raise ConfigError(f"{name} is a share between 0 and 1; got {bound}.")
    criteria = []
    if min_agreement is not None:
        matrix = summary.by_method[method].matrices[metric]
        if len(matrix) < 2:
            raise ConfigError("Agreement between models needs at least two models.")
        interval = agreement_interval(matrix, rng=numpy_generator(seed, "seed_budget"))
        name = f"agreement ({METHODS[method].label}, {METRICS[metric].label}, k={summary.k})"
        criteria.append(Criterion(name, interval, min_agreement, at_least=True))
    if max_ambiguity is not None:
        criteria.append(Criterion("prediction ambiguity", summary.ambiguity, max_ambiguity, at_least=False))
    if same_logic:
        v = summary.by_method[method].verdict
        if v is None:
            raise ConfigError(f"This comparison holds no test of whether its models differ ({METHODS[method].label} "
                              "was explained once, without a noise floor, or there is one model); run it again with "
                              "the noise floor on and at least two models.")
        name = f"same logic ({METHODS[method].label}, like with like, {METRICS[HEADLINE_METRIC].label}, k={summary.k})"
        criteria.append(Criterion(name, v.difference, -v.margin, at_least=True, points=True))
    return criteria
