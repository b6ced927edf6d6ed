"""Training: each source of randomness varies alone, reruns are bit-identical, configs reject bad settings."""
import numpy as np
import pytest
import torch

from core.errors import ConfigError, DatasetError
from core.agree.scores import evaluate
from core.seeding import numpy_generator, source_index
from core.training.config import MAX_MODELS, MLPConfig, RunConfig, SklearnConfig
from core.training.fit import _init_mlp, split_rows, train

TINY = MLPConfig(hidden=(8,), dropout=0.0, epochs=5, batch_size=16, learning_rate=1e-2)


def config(vary=(), *, n_models=3, mlp=TINY, **kw) -> RunConfig:
    return RunConfig(n_models=n_models, vary=frozenset(vary), mlp=mlp, **kw)


def weights_of(module) -> list[np.ndarray]:
    """Every parameter of a BatchedMLP as an array whose first axis is the model."""
    return [p.detach().numpy() for p in module.parameters()]


def same_across_models(*arrays) -> bool:
    """Whether every array, indexed by model on its first axis, holds the same values for all models."""
    return all(np.array_equal(a[m], a[0]) for a in arrays for m in range(len(a)))


# --- which streams each source controls ---------------------------------------------------------

def test_varying_only_order_keeps_initial_weights_identical(iris):
    cfg = config({"order"})
    train_rows, _, _ = split_rows(iris, cfg)
    assert same_across_models(*weights_of(_init_mlp(cfg, iris, train_rows)))


def test_varying_init_gives_each_model_different_initial_weights(iris):
    cfg = config({"init"})
    train_rows, _, _ = split_rows(iris, cfg)
    first_layer = weights_of(_init_mlp(cfg, iris, train_rows))[0]  # (model, in, out)
    assert not np.array_equal(first_layer[0], first_layer[1])
    assert not np.array_equal(first_layer[1], first_layer[2])


def test_varying_only_order_gives_different_trained_weights(iris):
    run = train(iris, config({"order"}))
    first_layer = weights_of(run.bank.module)[0]
    assert not np.array_equal(first_layer[0], first_layer[1])
    assert len(set(run.fingerprints)) == 3


def test_varying_only_order_keeps_splits_identical(iris):
    run = train(iris, config({"order"}))
    for rows in (run.train_rows, run.val_rows, run.test_rows):
        assert same_across_models(rows)


def test_varying_only_init_keeps_train_validation_and_test_rows_identical(iris):
    run = train(iris, config({"init"}))
    for rows in (run.train_rows, run.val_rows, run.test_rows):
        assert same_across_models(rows)


def test_fixed_order_source_gives_every_model_the_same_batch_order():
    vary = frozenset({"init"})
    perms = [numpy_generator(0, "order", source_index("order", m, vary)).permutation(100) for m in range(3)]
    assert same_across_models(np.stack(perms))
    varied = frozenset({"order"})
    perms = [numpy_generator(0, "order", source_index("order", m, varied)).permutation(100) for m in range(3)]
    assert not np.array_equal(perms[0], perms[1])


def test_first_model_of_a_varied_run_matches_a_lone_model_with_nothing_varied(iris):
    # Model 0 draws stream 0 of every source whether or not it varies, and the batched
    # models share no parameters, so training others alongside must not change it. Batched
    # kernels of another width round differently, so equality is up to float32 rounding.
    mlp = MLPConfig(hidden=(8,), dropout=0.2, epochs=5, batch_size=16, learning_rate=1e-2)
    varied = train(iris, config({"init", "order", "dropout"}, n_models=3, mlp=mlp))
    lone = train(iris, config((), n_models=1, mlp=mlp))
    for together, alone in zip(weights_of(varied.bank.module), weights_of(lone.bank.module)):
        np.testing.assert_allclose(together[0], alone[0], atol=1e-6)
    np.testing.assert_allclose(varied.predict_proba(iris.X)[0], lone.predict_proba(iris.X)[0], atol=1e-6)


def test_varying_nothing_gives_identical_models(iris):
    mlp = MLPConfig(hidden=(8,), dropout=0.3, epochs=5, batch_size=16, learning_rate=1e-2)
    run = train(iris, config((), mlp=mlp))
    assert len(set(run.fingerprints)) == 1
    proba = run.predict_proba(iris.X)
    assert same_across_models(proba)


def test_varying_only_dropout_gives_different_trained_models(iris):
    mlp = MLPConfig(hidden=(8,), dropout=0.3, epochs=5, batch_size=16, learning_rate=1e-2)
    run = train(iris, config({"dropout"}, mlp=mlp))
    assert same_across_models(run.test_rows)
    assert len(set(run.fingerprints)) == 3


def test_varying_split_gives_each_model_different_test_rows(iris):
    run = train(iris, config({"split"}))
    assert not np.array_equal(run.test_rows[0], run.test_rows[1])
    assert not np.array_equal(run.train_rows[0], run.train_rows[1])


def test_each_model_splits_all_rows_into_disjoint_train_validation_and_test_rows(iris):
    cfg = config({"split"}, test_fraction=0.2, validation_fraction=0.25)
    train_rows, val_rows, test_rows = split_rows(iris, cfg)
    assert test_rows.shape == (3, 30)  # 20% of 150
    assert val_rows.shape == (3, 30)  # 25% of the remaining 120
    assert train_rows.shape == (3, 90)
    for m in range(3):
        together = np.concatenate([train_rows[m], val_rows[m], test_rows[m]])
        np.testing.assert_array_equal(np.sort(together), np.arange(150))


def test_split_is_stratified_by_class(iris):
    _, _, test_rows = split_rows(iris, config({"split"}, test_fraction=0.2))
    for m in range(3):
        np.testing.assert_array_equal(np.bincount(iris.y[test_rows[m]]), [10, 10, 10])


def test_bootstrap_resamples_training_rows_with_repeats_and_keeps_test_rows_out(iris):
    run = train(iris, config({"bootstrap"}))
    n_train = run.train_rows.shape[1]
    for m in range(3):
        assert len(np.unique(run.train_rows[m])) < n_train  # some rows drawn more than once
        assert not np.isin(run.train_rows[m], run.test_rows[m]).any()
        assert not np.isin(run.train_rows[m], run.val_rows[m]).any()
    assert not np.array_equal(run.train_rows[0], run.train_rows[1])
    assert same_across_models(run.test_rows)  # the split itself stays fixed


def test_without_bootstrap_training_rows_are_unique(iris):
    run = train(iris, config({"init", "split"}))
    for m in range(3):
        assert len(np.unique(run.train_rows[m])) == run.train_rows.shape[1]


# --- reproducibility and fingerprints -----------------------------------------------------------

def test_rerunning_the_same_config_is_bit_identical(iris):
    mlp = MLPConfig(hidden=(8, 4), dropout=0.2, epochs=4, batch_size=16, learning_rate=1e-2)
    cfg = config({"init", "order", "dropout", "split", "bootstrap"}, mlp=mlp)
    first, second = train(iris, cfg), train(iris, cfg)
    assert first.fingerprints == second.fingerprints
    np.testing.assert_array_equal(first.predict_proba(iris.X), second.predict_proba(iris.X))
    np.testing.assert_array_equal(first.history.train_loss, second.history.train_loss)
    for a, b in zip((first.train_rows, first.val_rows, first.test_rows),
                    (second.train_rows, second.val_rows, second.test_rows)):
        np.testing.assert_array_equal(a, b)


def test_rerunning_a_random_forest_is_bit_identical(iris):
    cfg = RunConfig(family="random_forest", n_models=2, vary=frozenset({"init", "bootstrap"}),
                    sklearn=SklearnConfig(n_estimators=10))
    first, second = train(iris, cfg), train(iris, cfg)
    assert first.fingerprints == second.fingerprints
    np.testing.assert_array_equal(first.predict_proba(iris.X), second.predict_proba(iris.X))


def test_a_different_base_seed_gives_different_models(iris):
    assert train(iris, config({"init"}, seed=0)).fingerprints != train(iris, config({"init"}, seed=1)).fingerprints


def test_fingerprints_differ_between_models_when_init_varies(iris):
    run = train(iris, config({"init"}))
    assert len(run.fingerprints) == 3
    assert len(set(run.fingerprints)) == 3


def test_training_leaves_torch_global_settings_as_they_were(iris):
    threads, deterministic = torch.get_num_threads(), torch.are_deterministic_algorithms_enabled()
    train(iris, config({"init"}))
    assert torch.get_num_threads() == threads
    assert torch.are_deterministic_algorithms_enabled() == deterministic


# --- learning curves and early stopping ---------------------------------------------------------

def test_history_has_one_value_per_model_and_epoch(iris):
    run = train(iris, config({"init"}))
    assert run.history.train_loss.shape == (3, 5)
    assert run.history.val_accuracy.shape == (3, 5)
    assert np.all(run.history.train_loss > 0)
    assert np.all((run.history.val_accuracy >= 0) & (run.history.val_accuracy <= 1))
    np.testing.assert_array_equal(run.history.best_epoch, [4, 4, 4])  # no early stopping: the last epoch


def test_training_loss_falls_over_epochs(iris):
    mlp = MLPConfig(hidden=(16,), dropout=0.0, epochs=20, batch_size=16, learning_rate=1e-2)
    loss = train(iris, config({"init"}, mlp=mlp)).history.train_loss
    assert np.all(loss[:, -1] < loss[:, 0])


def test_early_stopping_stops_before_max_epochs_on_an_easy_dataset(iris):
    mlp = MLPConfig(hidden=(16,), dropout=0.0, epochs=300, batch_size=16, learning_rate=1e-2, patience=3)
    history = train(iris, config({"init"}, mlp=mlp)).history
    n_epochs = history.train_loss.shape[1]
    assert n_epochs < 300
    assert history.val_accuracy.shape == (3, n_epochs)
    assert np.all(history.best_epoch < n_epochs)


def test_early_stopping_returns_each_models_best_validation_weights(iris):
    mlp = MLPConfig(hidden=(16,), dropout=0.0, epochs=300, batch_size=16, learning_rate=1e-2, patience=3)
    run = train(iris, config({"init"}, mlp=mlp))
    proba = run.predict_proba(iris.X)
    for m in range(3):
        val = run.val_rows[m]
        final_accuracy = np.mean(proba[m, val].argmax(-1) == iris.y[val])
        best = run.history.val_accuracy[m, run.history.best_epoch[m]]
        assert final_accuracy == pytest.approx(best)
        assert best == run.history.val_accuracy[m].max()


def test_progress_callback_reports_rising_fractions_ending_at_one(iris):
    seen = []
    train(iris, config({"init"}), progress=lambda fraction, message: seen.append((fraction, message)))
    fractions = [f for f, _ in seen]
    assert len(fractions) == 6  # the start, then every epoch
    assert fractions[0] == 0.0 and fractions == sorted(fractions) and fractions[-1] == 1.0
    assert all(isinstance(message, str) and message for _, message in seen)


# --- model families -----------------------------------------------------------------------------

def test_mlp_predicts_model_row_class_probabilities_summing_to_one(iris):
    proba = train(iris, config({"init"})).predict_proba(iris.X)
    assert proba.shape == (3, 150, 3)
    assert np.all(proba >= 0)
    np.testing.assert_allclose(proba.sum(axis=-1), 1.0, atol=1e-6)


@pytest.mark.parametrize("family", ["logistic_regression", "random_forest", "gradient_boosting"])
def test_sklearn_family_trains_and_predicts_probabilities_summing_to_one(iris, family):
    run = train(iris, RunConfig(family=family, n_models=3, vary=frozenset({"init"}),
                                sklearn=SklearnConfig(n_estimators=10)))
    assert run.history is None
    assert run.bank.n_models == 3 and len(run.fingerprints) == 3
    proba = run.predict_proba(iris.X)
    assert proba.shape == (3, 150, 3)
    np.testing.assert_allclose(proba.sum(axis=-1), 1.0)
    test = run.test_rows[0]
    assert np.mean(proba[0, test].argmax(-1) == iris.y[test]) > 0.8


@pytest.mark.parametrize("family", ["random_forest", "gradient_boosting"])
def test_stochastic_sklearn_family_gives_different_models_when_init_varies(iris, family):
    run = train(iris, RunConfig(family=family, n_models=3, vary=frozenset({"init"}),
                                sklearn=SklearnConfig(n_estimators=10)))
    assert len(set(run.fingerprints)) == 3


def test_sklearn_models_with_nothing_varied_are_identical(iris):
    run = train(iris, RunConfig(family="random_forest", n_models=3, vary=frozenset(),
                                sklearn=SklearnConfig(n_estimators=10)))
    assert len(set(run.fingerprints)) == 1


def test_mlp_reaches_high_test_accuracy_on_iris(iris):
    mlp = MLPConfig(hidden=(16,), dropout=0.0, epochs=40, batch_size=16, learning_rate=1e-2)
    run = train(iris, config({"init"}, mlp=mlp))
    proba = run.predict_proba(iris.X)
    for m in range(3):
        test = run.test_rows[m]
        assert np.mean(proba[m, test].argmax(-1) == iris.y[test]) > 0.9


# --- configuration errors -----------------------------------------------------------------------

@pytest.mark.parametrize(
    "settings, message",
    [
        ({"n_models": 0}, "between 1 and 1000"),
        ({"n_models": MAX_MODELS + 1}, "between 1 and 1000"),
        ({"vary": frozenset({"init", "weather"})}, "Unknown randomness source.*weather"),
        ({"test_fraction": 0.0}, "Test fraction"),
        ({"test_fraction": 0.9}, "Test fraction"),
        ({"validation_fraction": 0.01}, "Validation fraction"),
        ({"family": "svm"}, "Unknown model family 'svm'"),
    ],
)
def test_run_config_rejects_bad_settings_with_config_error(settings, message):
    with pytest.raises(ConfigError, match=message):
        RunConfig(**settings)


@pytest.mark.parametrize(
    "settings, message",
    [
        ({"dropout": 1.0}, "Dropout must be in"),
        ({"dropout": -0.1}, "Dropout must be in"),
        ({"hidden": ()}, "Hidden sizes"),
        ({"hidden": (8, 0)}, "Hidden sizes"),
        ({"epochs": 0}, "at least 1"),
        ({"learning_rate": 0.0}, "Learning rate"),
        ({"patience": 0}, "Patience"),
    ],
)
def test_mlp_config_rejects_bad_settings_with_config_error(settings, message):
    with pytest.raises(ConfigError, match=message):
        MLPConfig(**settings)


@pytest.mark.parametrize("settings", [{"n_estimators": 0}, {"subsample": 0.0}, {"subsample": 1.5}, {"C": 0.0}])
def test_tree_config_rejects_bad_settings_with_config_error(settings):
    with pytest.raises(ConfigError):
        SklearnConfig(**settings)


def test_run_config_accepts_boundary_values_and_any_iterable_of_sources():
    cfg = RunConfig(n_models=MAX_MODELS, vary=["init", "order"], test_fraction=0.5)
    assert cfg.vary == frozenset({"init", "order"})
    assert RunConfig(n_models=1).n_models == 1


# --- evaluation of a run ------------------------------------------------------------------------

def test_evaluate_scores_every_model_with_its_fingerprint(iris):
    run = train(iris, config({"init"}))
    scores = evaluate(run).scores.per_model
    assert len(scores) == 3
    assert list(scores["fingerprint"]) == list(run.fingerprints)
    assert np.all((scores["accuracy"] >= 0) & (scores["accuracy"] <= 1))


def test_evaluate_with_fixed_split_measures_multiplicity_on_all_test_rows(iris):
    run = train(iris, config({"init"}))
    result = evaluate(run).multiplicity
    assert not result.common_rows_only
    assert result.n_rows == run.test_rows.shape[1]
    assert "all" in result.note


def test_evaluate_with_varying_split_measures_multiplicity_on_shared_rows_and_says_so(iris):
    run = train(iris, config({"split"}, test_fraction=0.5))
    evaluation = evaluate(run)
    shared = set(run.test_rows[0]) & set(run.test_rows[1]) & set(run.test_rows[2])
    assert evaluation.multiplicity.common_rows_only
    assert evaluation.multiplicity.n_rows == len(shared) < run.test_rows.shape[1]
    np.testing.assert_array_equal(evaluation.rows, sorted(shared))
    assert "shared by all models" in evaluation.multiplicity.note


def test_evaluate_accuracy_matches_predictions_on_each_models_test_rows(iris):
    run = train(iris, RunConfig(family="logistic_regression", n_models=2, vary=frozenset({"split"})))
    proba = run.predict_proba(iris.X)
    evaluation = evaluate(run)
    for m in range(2):
        test = run.test_rows[m]
        assert evaluation.accuracy[m] == pytest.approx(np.mean(proba[m, test].argmax(-1) == iris.y[test]))


def test_inert_sources_name_what_cannot_change_a_family():
    from core.training.config import inert_sources

    assert inert_sources(RunConfig(family="logistic_regression", vary={"init", "order", "split"})) == {"init", "order"}
    assert inert_sources(RunConfig(family="random_forest", vary={"init", "dropout"})) == {"dropout"}
    assert inert_sources(RunConfig(family="mlp", vary={"dropout"}, mlp=MLPConfig(dropout=0.0))) == {"dropout"}
    assert inert_sources(RunConfig(family="mlp", vary={"init", "order", "dropout"})) == frozenset()


def test_a_training_set_with_one_class_is_a_dataset_error():
    import pandas as pd

    from core.training.data import from_frame

    # 3 rows of class b: the stratified split leaves 2 in training, and among 50 bootstrap resamples
    # of those 28 rows some draw no b at all.
    frame = pd.DataFrame({"x": range(40), "label": ["a"] * 37 + ["b"] * 3})
    with pytest.raises(DatasetError, match="single class"):
        train(from_frame(frame, "label"), RunConfig(family="logistic_regression", n_models=50,
                                                    vary={"bootstrap"}, test_fraction=0.2))


def test_varying_split_keeps_half_of_the_test_rows_shared_by_every_model(iris):
    run = train(iris, RunConfig(n_models=10, vary={"split"}, mlp=MLPConfig(hidden=(8,), epochs=2)))
    shared = evaluate(run).rows
    assert len(shared) == run.test_rows.shape[1] // 2
    for m in range(10):
        assert np.isin(shared, run.test_rows[m]).all()
        assert not np.isin(shared, run.train_rows[m]).any() and not np.isin(shared, run.val_rows[m]).any()
    assert len({tuple(rows) for rows in run.test_rows}) == 10  # the rest of each test set is the model's own
