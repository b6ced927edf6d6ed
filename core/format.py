"""How numbers read, the same in the app, the report and the command line."""
from __future__ import annotations

import numpy as np

NA = "n/a"


def percent(x: float, digits: int = 0) -> str:
    """0.731 -> '73%' (digits=0) or '73.1%' (digits=1); 'n/a' for nan or inf."""
    return f"{100 * x:.{digits}f}%" if np.isfinite(x) else NA


def number(x: float, digits: int = 3) -> str:
    """A score as a plain decimal; 'n/a' for nan or inf."""
    return f"{x:.{digits}f}" if np.isfinite(x) else NA


def accuracy_spread(mean: float, std: float) -> str:
    """Mean ± standard deviation of accuracy in percent, '91.2% ± 1.3'; the mean alone when std is nan (one model)."""
    return f"{100 * mean:.1f}% ± {100 * std:.1f}" if np.isfinite(std) else percent(mean, 1)


def points_interval(lo: float, hi: float) -> str:
    """A confidence interval of a difference of proportions in percentage points, '[-1.2, +3.4] pts'."""
    return f"[{100 * lo:+.1f}, {100 * hi:+.1f}] pts"


def votes(counts: tuple[tuple[int, int], ...], class_names: tuple[str, ...]) -> str:
    """((class, models), ...) -> 'benign ×3, malignant ×2'."""
    return ", ".join(f"{class_names[c]} ×{n}" for c, n in counts)


def duration(seconds: float) -> str:
    """'about 8 s', 'about 3 min'."""
    if seconds < 90:
        return f"about {max(1, round(seconds))} s"
    return f"about {round(seconds / 60)} min"
