"""Which agreement the headline speaks of, and the k of top-k: its default and its check.

Without pandas or scipy: the app's first page reads the default k while the libraries load.
"""
from __future__ import annotations

from ..errors import ConfigError

HEADLINE_METRIC = "feature_agreement"  # the metric headlines, verdicts and pair tables speak of


def default_k(n_features: int) -> int:
    """5, or half the features when there are fewer than 10 (k = all features would agree trivially)."""
    return max(1, min(5, n_features // 2))


def check_k(k: int, n_features: int) -> None:
    if not 1 <= k <= n_features:
        bound = "larger than" if k > n_features else "smaller than 1 for"
        raise ConfigError(
            f"k={k} is {bound} the number of features ({n_features}); "
            f"pick k between 1 and {n_features}."
        )


# Regression. A model "departs" from another on a row when their predictions differ by more than
# DELTA_FRACTION of the target's standard deviation on the training rows (Setup and --tolerance change it);
# two regressors are "equally accurate" when their RMSEs differ by at most RMSE_TOLERANCE of the mean RMSE.
# Here, with the other settings Setup reads before the heavy libraries load.
DELTA_FRACTION = 0.1
RMSE_TOLERANCE = 0.05
