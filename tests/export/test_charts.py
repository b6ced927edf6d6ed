"""Charts of many models bin their marks: every pair and every model counted, in a bounded number of rows."""
import numpy as np
import pandas as pd

from core.export import charts


def test_a_pair_distribution_counts_every_pair_even_outside_its_domain():
    rng = np.random.default_rng(0)
    upper = np.triu(rng.uniform(-1, 1, (80, 80)), 1)
    matrix = upper + upper.T + np.eye(80)  # a rank correlation's matrix: negative pairs included
    frame = charts.heatmap(matrix, title="Rank correlation").data  # 80 models: binned, not 6,400 cells
    assert frame["pairs"].sum() == 80 * 79 // 2 and len(frame) == 40
    assert frame["from"].min() == upper[np.triu_indices(80, 1)].min() and frame["to"].max() == 1.0


def test_the_accuracy_of_many_models_is_binned_and_every_model_counted():
    accuracy = np.round(np.random.default_rng(1).uniform(0.9, 1.0, 500), 4)  # hundreds of distinct values
    per_model = pd.DataFrame({"accuracy": accuracy}, index=pd.Index(range(500), name="model"))
    frame = charts.accuracy_strip(per_model).data
    assert len(frame) == 30 and frame["models"].sum() == 500
    story = charts.story_accuracy(pd.DataFrame({"model": range(500), "accuracy": accuracy, "stack": 0}), "Accuracy")
    assert story.data["models"].sum() == 500 and len(story.data) == 40  # the story's strip: bars, not stacked dots
