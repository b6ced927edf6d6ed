"""Sessions cannot disturb each other: comparisons run at once in threads of one process (as Streamlit
runs its sessions) give the values each gives alone, bit for bit."""
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace

import numpy as np
import pytest

from core import ExplainConfig, MLPConfig, RunConfig, compare, load_builtin

DATA = load_builtin("breast_cancer")  # 30 features: too many for shap to enumerate, so it draws coalitions

# Many coalitions, so shap spends long enough drawing them for concurrent draws to interleave.
EXPLAIN = ExplainConfig(methods=("kernel_shap", "lime"), max_rows=3, background_size=4, kernel_samples=2000,
                        lime_samples=200)
SETTINGS = [  # four different comparisons: another base seed and explainer seed each
    (RunConfig(n_models=2, seed=s, mlp=MLPConfig(hidden=(8,), epochs=2)), replace(EXPLAIN, seed=10 + s))
    for s in range(4)
]


def attributions(comparison) -> dict[str, np.ndarray]:
    ex = comparison.explanation
    return {**{name: a.values for name, a in ex.by_method.items()},
            **{f"{name} halves": a.halves for name, a in ex.by_method.items()}}


@pytest.fixture(scope="module")
def alone():
    return [attributions(compare(DATA, run, explain)) for run, explain in SETTINGS]


@pytest.mark.parametrize("threads", [2, 4])
def test_comparisons_in_concurrent_threads_equal_each_comparison_alone(threads, alone):
    with ThreadPoolExecutor(threads) as pool:
        for _ in range(3):  # rounds
            futures = [pool.submit(compare, DATA, *SETTINGS[i]) for i in range(threads)]
            for i, future in enumerate(futures):
                got = attributions(future.result())
                for name, values in alone[i].items():
                    assert np.array_equal(got[name], values), (i, name)


def test_kernel_shap_leaves_numpy_global_generator_as_it_found_it(iris):
    np.random.seed(123)
    expected = np.random.get_state()[1].copy()
    np.random.seed(123)
    compare(iris, RunConfig(n_models=2, mlp=MLPConfig(hidden=(4,), epochs=1)),
            ExplainConfig(methods=("kernel_shap", "lime"), max_rows=2, background_size=3, kernel_samples=50))
    assert np.array_equal(np.random.get_state()[1], expected)
