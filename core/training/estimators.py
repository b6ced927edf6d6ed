"""Any scikit-learn-compatible estimator, named by its import path, as a model family ("estimator").

A path and its parameters are plain data in a RunConfig (a bundle that names one imports nothing); the
class is imported only to train, after `check_estimator` has refused, with what to do, a path that does
not import, a class that is no scikit-learn estimator, a classifier without predict_proba, an estimator
of the other task, and parameters the class does not take or values of the wrong type. The app imports
only from an allow-list of packages (`check_allowed`): a visitor never makes the server import a module
of their choosing. The person who runs the server extends it with the environment variable
SEEDSCOPE_ESTIMATOR_PACKAGES (comma-separated top-level packages).
"""
from __future__ import annotations

import ast
import importlib
import os

from ..errors import ConfigError

ALLOWED_PACKAGES = ("sklearn", "xgboost", "lightgbm")
PACKAGES_VARIABLE = "SEEDSCOPE_ESTIMATOR_PACKAGES"
SCALARS = (bool, int, float, str, type(None))


def allowed_packages() -> tuple[str, ...]:
    """The packages the app may import estimators from: scikit-learn, XGBoost, LightGBM and the server's own."""
    extra = [p.strip() for p in os.environ.get(PACKAGES_VARIABLE, "").split(",") if p.strip()]
    return tuple(dict.fromkeys([*ALLOWED_PACKAGES, *extra]))


def check_allowed(path: str) -> None:
    """ConfigError unless `path` lies in an allowed package; imports nothing."""
    top = path.strip().split(".", 1)[0]
    if top not in allowed_packages():
        raise ConfigError(f"{path!r} is not in a package this app imports estimators from "
                          f"({', '.join(allowed_packages())}); whoever runs the server can allow more packages "
                          f"with the environment variable {PACKAGES_VARIABLE}.")


def parse_param(text: str) -> tuple[str, object]:
    """'n_estimators=300' -> ('n_estimators', 300): the value read as a Python literal (number, True, None,
    a quoted string), else kept as text ('max_features=sqrt' -> 'sqrt')."""
    name, sep, value = text.partition("=")
    name, value = name.strip(), value.strip()
    if not sep or not name.isidentifier():
        raise ConfigError(f"Cannot read the parameter {text!r}; write name=value, for example n_estimators=300.")
    try:
        parsed = ast.literal_eval(value)
    except (ValueError, SyntaxError):
        parsed = value
    if not isinstance(parsed, SCALARS):
        raise ConfigError(f"Parameter {name} must be a number, True/False, None or text; got {value!r}.")
    return name, parsed


def estimator_class(path: str) -> type:
    """The class at `path` ("package.module.Class"), imported; ConfigError with what to do when it fails."""
    module, _, name = path.strip().rpartition(".")
    if not module or not name:
        raise ConfigError(f"{path!r} is not an import path; write package.module.Class, for example "
                          "sklearn.ensemble.ExtraTreesClassifier.")
    try:
        cls = getattr(importlib.import_module(module), name)
    except ImportError as exc:
        raise ConfigError(f"Cannot import {module!r} for the estimator {path!r} ({exc}); check the path, or "
                          "install the package.") from None
    except AttributeError:
        raise ConfigError(f"{module!r} has no {name!r}; check the estimator's class name.") from None
    from sklearn.base import BaseEstimator
    if not isinstance(cls, type) or not issubclass(cls, BaseEstimator) or not hasattr(cls, "fit"):
        raise ConfigError(f"{path!r} is not a scikit-learn estimator (a class with fit, get_params and "
                          "set_params); name a classifier or regressor class.")
    return cls


def build_estimator(path: str, params: tuple[tuple[str, object], ...], random_state: int | None,
                    regression: bool):
    """The estimator, checked (see the module): its random_state, if it has one, is `random_state`."""
    from sklearn.base import is_classifier, is_regressor

    cls = estimator_class(path)
    try:
        estimator = cls()
    except TypeError as exc:
        raise ConfigError(f"{path!r} cannot be made without arguments ({exc}); name an estimator class.") from None
    accepted = estimator.get_params(deep=False)
    given = dict(params)
    unknown = sorted(set(given) - set(accepted))
    if unknown:
        raise ConfigError(f"{path.rsplit('.', 1)[-1]} takes no parameter {', '.join(unknown)}; it takes "
                          f"{', '.join(sorted(accepted))}.")
    if "random_state" in given:
        raise ConfigError("random_state is drawn from the init source, one seed per model; drop it from the "
                          "parameters (vary init, or not, instead).")
    if "random_state" in accepted:
        given["random_state"] = random_state
    estimator.set_params(**given)
    if hasattr(estimator, "_validate_params"):  # scikit-learn's own estimators check types and ranges
        try:
            estimator._validate_params()
        except (ValueError, TypeError) as exc:
            raise ConfigError(f"{path.rsplit('.', 1)[-1]}: {exc}") from None
    if regression and is_classifier(estimator):
        raise ConfigError(f"{path!r} is a classifier, and this target is a number; name a regressor.")
    if not regression and is_regressor(estimator):
        raise ConfigError(f"{path!r} is a regressor, and this target holds classes; name a classifier.")
    if not regression and not hasattr(estimator, "predict_proba"):
        raise ConfigError(f"{path!r} has no predict_proba, which the explanations explain; pick a classifier "
                          "that gives probabilities (for SVC, probability=True).")
    return estimator


def check_estimator(sklearn_config, task: str) -> None:
    """ConfigError before any training when the configured estimator cannot be built for `task`."""
    if sklearn_config.estimator is None:
        raise ConfigError("The estimator family needs an estimator's import path, for example "
                          "sklearn.ensemble.ExtraTreesClassifier.")
    build_estimator(sklearn_config.estimator, sklearn_config.params, 0, task == "regression")
