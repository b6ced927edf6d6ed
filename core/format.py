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


def units(value: float) -> str:
    """A value in a regression target's units, to 3 significant digits: '54.1', '0.0123', '1230', '1.23e+07';
    'n/a' for nan."""
    if not np.isfinite(value):
        return NA
    rounded = float(f"{value:.3g}")
    return f"{rounded:.0f}" if 1e3 <= abs(rounded) < 1e6 else f"{rounded:g}"


def error_spread(mean: float, std: float) -> str:
    """Mean ± standard deviation of an error in the target's units, '54.1 ± 0.9'; the mean alone for one model."""
    if not np.isfinite(std):
        return units(mean)
    if abs(mean) >= 1e6 or 0 < std < 1e-4:
        return f"{mean:.3g} ± {std:.2g}"
    digits = 1 if std == 0 or 1 <= std < 10 else 0 if std >= 10 else -int(np.floor(np.log10(std)))
    return f"{mean:.{digits}f} ± {std:.{digits}f}"


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


def confidence(interval) -> str:
    """A budget.Interval of a proportion as '95% CI 72-78%'."""
    return f"{interval.level:.0%} CI {100 * interval.lo:.0f}-{100 * interval.hi:.0f}%"


def planner(budget, half_width: float = 0.02) -> str:
    """What the seed budget says about more seeds, in one sentence."""
    needed = budget.models_for(half_width)
    if needed is None:
        return "The models agree identically: more seeds would not change the estimate."
    return (f"About {needed} models give agreement within ±{100 * half_width:.0f} points; the estimate "
            f"stayed inside its final interval from {budget.settled_at} models on.")


def plus_minus(half_width: float) -> str:
    """The half-width of an interval of a proportion in percentage points, '±4 points'."""
    if not np.isfinite(half_width):
        return NA
    points = round(100 * half_width)
    return f"±{points} point" if points == 1 else f"±{points} points"



def points(difference: float, *, signed: bool = True) -> str:
    """An agreement difference in percentage points: '-7 points' (signed) or '7 points'; 'n/a' for nan."""
    if not np.isfinite(difference):
        return NA
    value = round(100 * difference)
    return f"{value:+d} point{'' if abs(value) == 1 else 's'}" if signed else f"{abs(value)} point{'' if abs(value) == 1 else 's'}"


def difference_interval(interval) -> str:
    """The interval of an agreement difference in points, '95% CI -9 to -5'; 'no interval' when it has none."""
    if not (np.isfinite(interval.lo) and np.isfinite(interval.hi)):
        return "no interval"
    return f"{interval.level:.0%} CI {round(100 * interval.lo):+d} to {round(100 * interval.hi):+d}"
