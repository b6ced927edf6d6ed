"""Ready-made comparisons for a one-click demo, shared by the app and the CLI."""
from __future__ import annotations

from dataclasses import dataclass

from ..explainers.registry import ExplainConfig
from ..training.config import MLPConfig, RunConfig, SklearnConfig


@dataclass(frozen=True)
class Preset:
    dataset: str
    run: RunConfig
    explain: ExplainConfig
    blurb: str


PRESETS: dict[str, Preset] = {
    "Breast cancer: 10 neural nets, vary init + order": Preset(
        "breast_cancer",
        RunConfig(family="mlp", n_models=10, vary=frozenset({"init", "order"}), mlp=MLPConfig(epochs=40)),
        ExplainConfig(methods=("kernel_shap", "lime", "integrated_gradients"), max_rows=40, kernel_samples=4096),
        "Ten networks with the same architecture and data; only the initial weights and batch order differ. "
        "KernelSHAP runs with 4096 coalitions, so its own noise stays well below the differences between models.",
    ),
    "Synthetic with known truth: 8 neural nets, vary init + order + dropout": Preset(
        "synthetic",
        RunConfig(family="mlp", n_models=8, vary=frozenset({"init", "order", "dropout"}), mlp=MLPConfig(epochs=40)),
        ExplainConfig(methods=("kernel_shap", "lime", "integrated_gradients", "gradient_x_input"), max_rows=40),
        "Only 3 of 10 features carry signal, so you can check which explanations find them.",
    ),
    "Wine: 10 random forests, vary init + bootstrap": Preset(
        "wine",
        RunConfig(family="random_forest", n_models=10, vary=frozenset({"init", "bootstrap"}),
                  sklearn=SklearnConfig(n_estimators=100)),
        ExplainConfig(methods=("tree_shap", "kernel_shap", "lime"), max_rows=30),
        "Forests grown from different seeds and bootstrap resamples of the same training rows.",
    ),
    "Digits: 6 neural nets, vary init (saliency pictures)": Preset(
        "digits",
        RunConfig(family="mlp", n_models=6, vary=frozenset({"init"}), mlp=MLPConfig(hidden=(64,), epochs=20)),
        ExplainConfig(methods=("integrated_gradients", "gradient_x_input", "gradient"), max_rows=40),
        "8x8 handwritten digits: attributions are drawn as pictures, one per model.",
    ),
    "Quick check: 3 small nets on iris": Preset(
        "iris",
        RunConfig(family="mlp", n_models=3, vary=frozenset({"init"}), mlp=MLPConfig(hidden=(16,), epochs=100)),
        ExplainConfig(methods=("kernel_shap", "integrated_gradients"), max_rows=10, background_size=10,
                      kernel_samples=200, noise_floor=True),
        "Three tiny networks on iris; trains and explains in a few seconds.",
    ),
}
