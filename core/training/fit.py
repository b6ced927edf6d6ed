"""RunConfig -> Run: N models that differ only in the chosen sources of randomness.

Each source (init, order, dropout, split, bootstrap) draws from its own
generator (core.seeding). A source that varies gets one stream per model; a
fixed source gives every model the same stream. So varying only `order` leaves
initial weights, splits and dropout masks identical across models.

The N torch MLPs train together as one BatchedMLP: every step evaluates all N
on their own mini-batches with batched matrix products, and Adam, being
elementwise, keeps each model's trajectory independent of the others.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch
from sklearn.ensemble import (GradientBoostingClassifier, GradientBoostingRegressor, RandomForestClassifier,
                              RandomForestRegressor)
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.model_selection import train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from .data import Dataset
from ..errors import ConfigError, DatasetError
from .models import BatchedMLP, MLPBank, SklearnBank, init_mlp_layer
from ..runtime import Progress, deterministic, spread
from ..seeding import SOURCES, int_seed, numpy_generator, source_index, torch_generator
from .config import FAMILIES, RunConfig, check_family
from .estimators import build_estimator, check_estimator

@dataclass(frozen=True, eq=False)
class History:
    """Per-epoch learning curves. train_loss, val_accuracy: (model, epoch); best_epoch: (model,) epoch kept.
    For regression the loss is the mean squared error on the standardized target, and val_accuracy holds
    the validation rows' R² (higher is better there too, which early stopping reads)."""

    train_loss: np.ndarray
    val_accuracy: np.ndarray
    best_epoch: np.ndarray


@dataclass(frozen=True, eq=False)
class Run:
    """N trained models and the rows each saw. Row arrays hold dataset row ids, shaped (model, rows)."""

    config: RunConfig
    dataset: Dataset
    bank: MLPBank | SklearnBank | None  # None for a run loaded from a bundle, which holds no models
    train_rows: np.ndarray
    val_rows: np.ndarray
    test_rows: np.ndarray
    fingerprints: tuple[str, ...]
    history: History | None

    @property
    def n_models(self) -> int:
        """The models held: config.n_models, or fewer for a part of a run (core.run.cluster)."""
        return len(self.train_rows)

    def predict_proba(self, X: np.ndarray) -> np.ndarray:
        """(model, row, class) probabilities of every model for X (row, feature)."""
        return self.bank.predict_proba(X)


def check_model(config: RunConfig, task: str) -> None:
    """ConfigError before any training when the family cannot learn `task`, or its estimator cannot be built."""
    check_family(config.family, task)
    if config.family == "estimator":
        check_estimator(config.sklearn, task)


def split_rows(ds: Dataset, cfg: RunConfig) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(model, rows) arrays of training, validation and test row ids.

    When the split varies, half of every model's test rows are one shared set drawn once, and
    the other half the model's own: scores use each model's own test rows, while predictions and
    explanations are compared on the shared rows, which no model trained on. (N independent
    splits would share almost no test row: 0.25^10 of them for 10 models at a 25% test fraction.)
    """
    n_models, rows = cfg.n_models, np.arange(len(ds.y))
    pool, shared, own_size = rows, rows[:0], cfg.test_fraction
    if "split" in cfg.vary:
        pool, shared = _stratified(rows, ds.y, cfg.test_fraction / 2, int_seed(cfg.seed, "shared_test"))
        own_size = int(np.ceil(cfg.test_fraction * len(rows))) - len(shared)  # a row count, as a fixed split has
    train, val, test = [], [], []
    for m in range(n_models):
        seed = int_seed(cfg.seed, "split", source_index("split", m, cfg.vary))
        fit, own = _stratified(pool, ds.y[pool], own_size, seed)
        te = np.concatenate([shared, own])
        tr, va = _stratified(fit, ds.y[fit], cfg.validation_fraction,
                             int_seed(cfg.seed, "validation", source_index("split", m, cfg.vary)))
        if "bootstrap" in cfg.vary:
            # Bootstrap only when it varies: a single shared resample would just shrink the data.
            tr = numpy_generator(cfg.seed, "bootstrap", m).choice(tr, size=len(tr), replace=True)
        if len(np.unique(ds.y[tr])) < 2:
            raise DatasetError(
                f"Model {m}'s training rows hold a single {'value' if ds.regression else 'class'}, so it cannot "
                "learn from them; use more rows, a smaller test fraction, or stop varying bootstrap."
            )
        train.append(np.sort(tr)), val.append(np.sort(va)), test.append(np.sort(te))
    return np.stack(train), np.stack(val), np.stack(test)


def _stratified(rows, y, fraction, seed):
    if y.dtype.kind == "f":  # a regression target: nothing to stratify on
        return train_test_split(rows, test_size=fraction, random_state=seed)
    try:
        a, b = train_test_split(rows, test_size=fraction, random_state=seed, stratify=y)
    except ValueError:  # a class too rare to stratify: fall back to a plain random split
        a, b = train_test_split(rows, test_size=fraction, random_state=seed)
    return a, b


def _init_mlp(cfg: RunConfig, ds: Dataset, train_rows: np.ndarray, models: range | None = None) -> BatchedMLP:
    """Initial weights of models `models` (default: all), train_rows (model, rows) holding their rows."""
    sizes = [ds.n_features, *cfg.mlp.hidden, ds.n_classes]  # a regression dataset has one "class"
    weights = [[] for _ in sizes[1:]]
    biases = [[] for _ in sizes[1:]]
    for m in models or range(cfg.n_models):
        g = torch_generator(cfg.seed, "init", source_index("init", m, cfg.vary))
        for layer, (fan_in, fan_out) in enumerate(zip(sizes[:-1], sizes[1:])):
            w, b = init_mlp_layer(fan_in, fan_out, g)
            weights[layer].append(w), biases[layer].append(b)
    # One model at a time: ds.X[train_rows] at once would copy the data N times.
    mean = np.stack([ds.X[rows].mean(axis=0) for rows in train_rows])  # (model, feature)
    std = np.stack([ds.X[rows].std(axis=0) for rows in train_rows])
    std[std == 0] = 1.0
    return BatchedMLP([torch.stack(w) for w in weights], [torch.stack(b) for b in biases],
                      torch.tensor(mean, dtype=torch.float32), torch.tensor(std, dtype=torch.float32),
                      dropout=cfg.mlp.dropout)


_MASK_BLOCK_ROWS = 8192  # dropout masks are drawn for this many training rows at a time


def _dropout_masks(cfg: RunConfig, gens: list[torch.Generator], n_rows: int, n_models: int) -> list[torch.Tensor]:
    """Keep-masks (model, n_rows, hidden) per hidden layer for a block of consecutive rows, scaled by 1/(1-p).

    Drawn per block of batches (a whole epoch on small data) rather than per step: far fewer
    calls, while the block size bounds memory on large data.
    """
    p = cfg.mlp.dropout
    masks = []
    for width in cfg.mlp.hidden:
        # One generator per model when dropout varies; a single shared one otherwise,
        # whose mask is broadcast to all models (so fixed dropout means identical masks).
        draws = torch.stack([torch.rand(n_rows, width, generator=g) for g in gens])
        keep = (draws >= p).float() / (1 - p)
        masks.append(keep.expand(n_models, -1, -1) if len(gens) == 1 else keep)
    return masks


def _train_mlp(cfg: RunConfig, ds: Dataset, train_rows, val_rows, progress: Progress | None,
               models: range | None = None) -> tuple[MLPBank, History]:
    part, models = models is not None, models or range(cfg.n_models)
    mc, n_models = cfg.mlp, len(models)
    module = _init_mlp(cfg, ds, train_rows, models)
    X = torch.tensor(ds.X, dtype=torch.float32)
    y = torch.tensor(ds.y)
    if ds.regression:  # each model learns its training rows' target standardized, folded back in at the end
        y_mean = torch.tensor(np.stack([ds.y[rows].mean() for rows in train_rows]), dtype=torch.float32)
        y_std = torch.tensor(np.stack([ds.y[rows].std() for rows in train_rows]), dtype=torch.float32)
        y_scaled = (y.to(torch.float32)[None, :] - y_mean[:, None]) / y_std[:, None]  # (model, row)
    opt = torch.optim.Adam(module.parameters(), lr=mc.learning_rate, weight_decay=mc.weight_decay, fused=True)
    order_gens = [numpy_generator(cfg.seed, "order", source_index("order", m, cfg.vary)) for m in models]
    drop_gens = [torch_generator(cfg.seed, "dropout", m) for m in (models if "dropout" in cfg.vary else range(1))]
    n_train = train_rows.shape[1]
    block_rows = mc.batch_size * max(1, _MASK_BLOCK_ROWS // mc.batch_size)  # whole batches per mask block
    train_t, val_t = torch.tensor(train_rows), torch.tensor(val_rows)
    model_ix = torch.arange(n_models)[:, None]
    loss_hist = np.zeros((n_models, mc.epochs))
    val_hist = np.zeros((n_models, mc.epochs))
    best_acc = np.full(n_models, -1.0)
    best_epoch = np.zeros(n_models, dtype=np.int64)
    best_state = [p.detach().clone() for p in module.parameters()]
    active = np.ones(n_models, dtype=bool)
    if progress:  # before the first epoch, so that a caller timing the run from its first report sees it all
        progress(0.0, f"Training {n_models} models")
    for epoch in range(mc.epochs):
        perm = torch.tensor(np.stack([g.permutation(n_train) for g in order_gens]))  # (model, n_train)
        epoch_rows = train_t[model_ix, perm]  # (model, n_train) dataset rows in visiting order
        epoch_loss = torch.zeros(n_models)
        block_masks, block_start = None, 0
        for start in range(0, n_train, mc.batch_size):
            stop = start + mc.batch_size
            rows = epoch_rows[:, start:stop]  # (model, batch)
            if mc.dropout > 0 and start % block_rows == 0:
                block_rows_now = min(block_rows, n_train - start)
                block_masks, block_start = _dropout_masks(cfg, drop_gens, block_rows_now, n_models), start
            masks = [mk[:, start - block_start:stop - block_start] for mk in block_masks] if block_masks else None
            logits = module(X[rows], masks)  # (model, batch, class)
            if ds.regression:
                per_model = ((logits[..., 0] - y_scaled[model_ix, rows]) ** 2).mean(dim=1)
            else:
                per_model = torch.nn.functional.cross_entropy(
                    logits.reshape(-1, logits.shape[-1]), y[rows].reshape(-1), reduction="none"
                ).view(n_models, -1).mean(dim=1)
            opt.zero_grad()
            per_model.sum().backward()  # models share no parameters, so each gets its own gradient
            opt.step()
            epoch_loss += per_model.detach() * rows.shape[1]
        if not active.all():  # models that stopped early keep their best weights
            frozen = torch.tensor(~active)
            with torch.no_grad():
                for p, best in zip(module.parameters(), best_state):
                    p[frozen] = best[frozen]
        loss_hist[:, epoch] = (epoch_loss / n_train).numpy()
        with torch.no_grad():
            out = module(X[val_t])  # (model, val, class)
        if ds.regression:  # R² on the standardized scale: the same as on the target's
            truth = y_scaled[model_ix, val_t]
            residual = ((out[..., 0] - truth) ** 2).sum(dim=1)
            spread = ((truth - truth.mean(dim=1, keepdim=True)) ** 2).sum(dim=1).clamp_min(1e-12)
            val_hist[:, epoch] = (1 - residual / spread).numpy()
        else:
            val_hist[:, epoch] = (out.argmax(-1) == y[val_t]).float().mean(dim=1).numpy()
        if mc.patience is not None:
            improved = active & (val_hist[:, epoch] > best_acc)
            best_acc[improved], best_epoch[improved] = val_hist[improved, epoch], epoch
            with torch.no_grad():
                for p, best in zip(module.parameters(), best_state):
                    best[torch.tensor(improved)] = p[torch.tensor(improved)]
            active &= (epoch - best_epoch) < mc.patience
            if not active.any() and not part:  # a part trains on: see train_models
                loss_hist, val_hist = loss_hist[:, :epoch + 1], val_hist[:, :epoch + 1]
                break
        if progress:
            progress((epoch + 1) / mc.epochs, f"Training {n_models} models: epoch {epoch + 1}/{mc.epochs}")
    if mc.patience is not None:  # early stopping returns each model's best epoch
        with torch.no_grad():
            for p, best in zip(module.parameters(), best_state):
                p.copy_(best)
    else:
        best_epoch[:] = loss_hist.shape[1] - 1
    if ds.regression:  # predictions in the target's units: the last layer times std, plus the mean
        with torch.no_grad():
            module.weights[-1].mul_(y_std[:, None, None])
            module.biases[-1].mul_(y_std[:, None]).add_(y_mean[:, None])
    return MLPBank(module), History(loss_hist, val_hist, best_epoch)


def _boosting_library(cfg: RunConfig, random_state: int, regression: bool):
    """XGBoost or LightGBM through their scikit-learn interfaces, one thread each (models train side by side,
    see _train_sklearn) and bit-stable: XGBoost's exact CPU histogram is deterministic at a fixed thread count;
    LightGBM needs deterministic=True, force_row_wise and a fixed thread count. Subsampling draws from the
    `init` seed; LightGBM bags rows only with a bagging frequency, so it bags every iteration."""
    t = cfg.sklearn
    if cfg.family == "xgboost":
        import xgboost

        kind = xgboost.XGBRegressor if regression else xgboost.XGBClassifier
        return kind(n_estimators=t.n_estimators, learning_rate=t.learning_rate, max_depth=t.max_depth or 6,
                    subsample=t.subsample, colsample_bytree=t.colsample, random_state=random_state, n_jobs=1,
                    tree_method="hist", verbosity=0)
    import lightgbm

    kind = lightgbm.LGBMRegressor if regression else lightgbm.LGBMClassifier
    return kind(n_estimators=t.n_estimators, learning_rate=t.learning_rate, max_depth=t.max_depth or -1,
                subsample=t.subsample, subsample_freq=1 if t.subsample < 1 else 0, colsample_bytree=t.colsample,
                random_state=random_state, n_jobs=1, deterministic=True, force_row_wise=True, verbose=-1)


def _sklearn_estimator(cfg: RunConfig, random_state: int, regression: bool = False):
    t = cfg.sklearn
    if cfg.family in ("xgboost", "lightgbm"):
        return _boosting_library(cfg, random_state, regression)
    if cfg.family == "estimator":
        return build_estimator(t.estimator, t.params, random_state, regression)
    if cfg.family == "logistic_regression":
        return LogisticRegression(C=t.C, max_iter=2000, random_state=random_state)
    if cfg.family == "ridge":
        return Ridge(alpha=t.alpha)
    if cfg.family == "random_forest":
        forest = RandomForestRegressor if regression else RandomForestClassifier
        return forest(n_estimators=t.n_estimators, max_depth=t.max_depth, random_state=random_state, n_jobs=1)
    boosting = GradientBoostingRegressor if regression else GradientBoostingClassifier
    return boosting(n_estimators=t.n_estimators, learning_rate=t.learning_rate, max_depth=t.max_depth or 3,
                    subsample=t.subsample, random_state=random_state)


def _train_sklearn(cfg: RunConfig, ds: Dataset, train_rows, progress: Progress | None,
                   models: range | None = None) -> SklearnBank:
    models, pipes = models or range(cfg.n_models), []
    # scikit-learn has no batched fit; each model is its own estimator.
    if progress:  # before the first fit, as _train_mlp does
        progress(0.0, f"Training model 1/{len(models)}")

    def fit(i: int):
        est = _sklearn_estimator(cfg, int_seed(cfg.seed, "init", source_index("init", models[i], cfg.vary)),
                                 ds.regression)
        try:
            return make_pipeline(StandardScaler(), est).fit(ds.X[train_rows[i]], ds.y[train_rows[i]])
        except ValueError as exc:  # XGBoost wants every class in every model's training rows
            if "classes" not in str(exc).lower():
                raise
            raise DatasetError(f"Model {models[i]}'s training rows lack a class, which {FAMILIES[cfg.family]} "
                               "cannot learn without; use more rows, a smaller test fraction, or stop varying "
                               "bootstrap.") from None
    if cfg.family in ("xgboost", "lightgbm"):  # one thread each, side by side: they release the GIL as they fit
        pipes = spread(fit, range(len(models)), done=progress and (
            lambda n: progress(n / len(models), f"Training model {n}/{len(models)}")))
    else:
        for i in range(len(models)):
            pipes.append(fit(i))
            if progress:
                progress((i + 1) / len(models), f"Training model {i + 1}/{len(models)}")
    return SklearnBank(tuple(pipes), ds.n_classes)


MODEL_BLOCK = 16  # models per aligned block; see train_models


def train_models(dataset: Dataset, config: RunConfig, train_rows: np.ndarray, val_rows: np.ndarray, *,
                 models: range | None = None,
                 progress: Progress | None = None) -> tuple[MLPBank | SklearnBank, History | None]:
    """Models `models` of config (default: all of them); train_rows, val_rows: (model, rows) for every model.

    Model m comes out bit for bit as in the whole run, whatever part of it m is trained with: its
    seeds depend only on (config.seed, source, m), and models trained together never mix. Two
    catches. torch's fused Adam updates the last (size mod 8 or 16) numbers of a tensor with scalar
    code that rounds differently from its vector code, so MLPs train within their aligned block of
    MODEL_BLOCK models (from a multiple of MODEL_BLOCK to the next, or to the end of the run), where
    every number sits where it sits in the whole run, and the block's other models are dropped. And
    a part trains every epoch even with early stopping, since only the whole run knows when all of
    its models have stopped; join_histories cuts the parts' curves where the whole run stops.
    """
    part, models = models is not None, models or range(config.n_models)
    block = models
    if config.family == "mlp" and part:
        block = range(models.start - models.start % MODEL_BLOCK,
                      min(config.n_models, -(-models.stop // MODEL_BLOCK) * MODEL_BLOCK))
    rows = slice(block.start, block.stop)
    with deterministic():
        if config.family != "mlp":
            return _train_sklearn(config, dataset, train_rows[rows], progress, block), None
        bank, history = _train_mlp(config, dataset, train_rows[rows], val_rows[rows], progress,
                                   block if part else None)
    if block == models:
        return bank, history
    keep = np.arange(models.start, models.stop) - block.start
    return bank.subset(keep.tolist()), History(history.train_loss[keep], history.val_accuracy[keep],
                                            history.best_epoch[keep])


def join_histories(parts: list[History], patience: int | None) -> History:
    """The whole run's History from its parts' (model ranges in order, each trained every epoch).

    With early stopping the whole run stops after the epoch at which its last model stops,
    `patience` epochs after that model's best one; its curves end there.
    """
    loss, val = np.concatenate([h.train_loss for h in parts]), np.concatenate([h.val_accuracy for h in parts])
    best = np.concatenate([h.best_epoch for h in parts])
    epochs = loss.shape[1] if patience is None else min(loss.shape[1], int(best.max()) + patience + 1)
    return History(loss[:, :epochs], val[:, :epochs], best)


def train(dataset: Dataset, config: RunConfig, *, progress: Progress | None = None,
          splits: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None) -> Run:
    """Train config.n_models models on dataset; bit-identical for equal (config, dataset).
    splits: split_rows(dataset, config), where the caller already has them."""
    check_model(config, dataset.task)
    train_rows, val_rows, test_rows = split_rows(dataset, config) if splits is None else splits
    bank, history = train_models(dataset, config, train_rows, val_rows, progress=progress)
    return Run(config=config, dataset=dataset, bank=bank, train_rows=train_rows, val_rows=val_rows,
               test_rows=test_rows, fingerprints=bank.fingerprints(), history=history)
