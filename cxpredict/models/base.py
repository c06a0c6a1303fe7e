"""What every estimator shares: parameter checks in `fit`, feature validation, weights and binary targets.

The estimators follow scikit-learn's contract: `__init__` only stores keyword arguments, `fit` validates them
(`check_choice`, `check_number`: errors name the allowed values), `n_features_in_` / `feature_names_in_` are
set and checked by scikit-learn's own `validate_data`. Features stay a pandas DataFrame (LightGBM reads its
category columns); arrays are checked as numbers and wrapped in a frame, so both kinds of input work.
"""

from __future__ import annotations

import inspect
import logging
from collections.abc import Callable
from numbers import Integral, Real
from typing import Any

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_array, column_or_1d, validate_data

from cxpredict.errors import ConfigError, InputError
from cxpredict.models.forest import Forest

log = logging.getLogger(__name__)


class LgbmClassifier(ClassifierMixin, BaseEstimator):
    """Base of the four estimators: scikit-learn classifiers over LightGBM, which routes missing values."""

    binary_only = False  # ResponsePropensity and ChurnClassifier: two classes

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = True
        tags.classifier_tags.multi_class = not self.binary_only
        return tags

    def _predicting_boosters(self) -> list:
        """The boosters `predict` evaluates, in order (None: a constant output): `boosters_`, else `booster_`
        (none before fit)."""
        if hasattr(self, "boosters_"):
            return list(self.boosters_)
        return [self.booster_] if hasattr(self, "booster_") else []

    def compile(self) -> LgbmClassifier:
        """Predict from now on with one compiled forest of the fitted boosters (models/forest.py: LightGBM's raw
        scores to the bit, in one pass). Called once when the model is fitted or a bundle's stages are built, not
        per batch. Boosters the forest does not take (other objectives, trees of over 64 leaves) stay with
        LightGBM."""
        boosters = self._predicting_boosters()
        if self._forest() is not None:  # already compiled for these boosters
            return self
        forest = compiled_forest(self, [b for b in boosters if b is not None])
        self._compiled = (forest, boosters) if forest is not None else None
        return self

    def booster_predictions(self, X, raw_score: bool = False) -> list[np.ndarray | None]:
        """Each booster's `predict(X, raw_score=raw_score)` (None for a constant): from the compiled forest when
        `compile` built one for these very boosters (a refit drops it), else from LightGBM."""
        boosters, forest = self._predicting_boosters(), self._forest()
        if forest is None:
            return [None if b is None else b.predict(X, raw_score=raw_score) for b in boosters]
        predictions = iter(forest.predict(X, raw_score=raw_score))
        return [None if b is None else next(predictions) for b in boosters]

    def _forest(self) -> Forest | None:
        """The compiled forest, if `compile` built it from the boosters the estimator has now."""
        compiled, boosters = getattr(self, "_compiled", None), self._predicting_boosters()
        if compiled is None or len(compiled[1]) != len(boosters) or any(
                a is not b for a, b in zip(compiled[1], boosters)):
            return None
        return compiled[0]


def compiled_forest(est: Any, boosters: list, iterations: list[int | None] | None = None) -> Forest | None:
    """`Forest.of(boosters, iterations)`, or None (logged) for no booster or boosters the forest does not take."""
    if not boosters:
        return None
    try:
        return Forest.of(boosters, iterations)
    except ValueError as e:
        log.info("%s predicts with LightGBM: %s", type(est).__name__, e)
        return None


def raw_predictions(forest: Forest | None, boosters: list, X, iterations: list[int | None] | None = None
                    ) -> list[np.ndarray]:
    """Each booster's raw scores of X: from `forest` (their `compiled_forest`) when there is one, else LightGBM."""
    if forest is not None:
        return forest.predict(X, raw_score=True)
    iterations = iterations or [None] * len(boosters)
    return [b.predict(X, raw_score=True, num_iteration=n) for b, n in zip(boosters, iterations)]


def keyword_init(**defaults: Any) -> Callable[..., None]:
    """An estimator's `__init__` (scikit-learn's contract: keyword-only parameters, each kept unchanged) built from
    its parameters' defaults, which every estimator reads from its config section: a default is written once.
    get_params, clone and repr read the signature it carries."""
    parameters = [inspect.Parameter("self", inspect.Parameter.POSITIONAL_OR_KEYWORD)]
    parameters += [inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, default=value)
                   for name, value in defaults.items()]

    def __init__(self, **params: Any) -> None:
        unknown = sorted(set(params) - set(defaults))
        if unknown:
            raise TypeError(f"{type(self).__name__}() got unknown parameter(s) {unknown}; its parameters are "
                            f"{list(defaults)}")
        for name, default in defaults.items():
            setattr(self, name, params.get(name, default))

    __init__.__signature__ = inspect.Signature(parameters)
    return __init__


def check_choice(est: Any, name: str, allowed) -> Any:
    """The value of parameter `name`, which must be one of `allowed`."""
    value = getattr(est, name)
    if value not in allowed:
        raise ConfigError(f"{type(est).__name__}: {name}={value!r} is not allowed; choose one of {list(allowed)}")
    return value


def check_number(est: Any, name: str, low: float | None = None, high: float | None = None, integer: bool = False,
                 optional: bool = False, low_open: bool = False) -> Any:
    """The value of parameter `name`: a number (an integer with `integer`) in [low, high] (low excluded with
    `low_open`), or None with `optional`."""
    value = getattr(est, name)
    if value is None and optional:
        return None
    ok = isinstance(value, Integral if integer else Real) and not isinstance(value, bool)
    if ok and low is not None:
        ok = value > low if low_open else value >= low
    if ok and high is not None:
        ok = value <= high
    if not ok:
        bounds = f"{'(' if low_open else '['}{'-inf' if low is None else low}, {'inf' if high is None else high}]"
        raise ConfigError(f"{type(est).__name__}: {name}={value!r} must be {'an integer' if integer else 'a number'}"
                          f" in {bounds}{' or None' if optional else ''}")
    return value


def features(est: Any, X, *, reset: bool, hint: str = "") -> pd.DataFrame:
    """X as a DataFrame for LightGBM, with scikit-learn's checks of the feature count and names.

    `reset=True` (in fit) records n_features_in_ and, for a frame with text column names, feature_names_in_;
    afterwards a frame must have those columns in that order. A frame keeps its dtypes (categories); anything
    else must be numeric and 2-d. `hint` is appended to a feature mismatch error (how to build the right frame).
    """
    if isinstance(X, pd.DataFrame):
        try:
            validate_data(est, X, reset=reset, skip_check_array=True)
        except ValueError as e:
            raise InputError(f"{type(est).__name__}: {e}{hint}") from None
        return X
    arr = validate_data(est, X, reset=reset, dtype="numeric", ensure_all_finite="allow-nan")
    names = getattr(est, "feature_names_in_", None)
    columns = list(names) if names is not None and len(names) == arr.shape[1] else [f"x{i}" for i in
                                                                                      range(arr.shape[1])]
    return pd.DataFrame(arr, columns=columns)


def sample_weights(sample_weight, n: int, what: str) -> np.ndarray | None:
    """Weights as floats (None stays None): n finite non-negative numbers with a positive sum."""
    if sample_weight is None:
        return None
    w = np.asarray(sample_weight, dtype=float)
    if w.shape != (n,) or not np.all(np.isfinite(w)) or (w < 0).any() or w.sum() <= 0:
        raise InputError(f"{what}: sample_weight must be {n} finite non-negative numbers, not all weights zero; "
                         f"got shape {w.shape}")
    return w


def labels_1d(y, n: int, what: str, allow_missing: bool = False) -> np.ndarray:
    """y as one label per row, checked as scikit-learn checks targets (no missing values unless allowed)."""
    if y is None:
        raise InputError(f"{what} requires y to be passed, but the target y is None")
    try:
        y = column_or_1d(check_array(y, ensure_2d=False, dtype=None, input_name="y",
                                     ensure_all_finite="allow-nan" if allow_missing else True), warn=True)
    except ValueError as e:
        raise InputError(f"{what}: {e}; fit only on rows with a known label") from None
    if len(y) != n:
        raise InputError(f"{what}: {len(y)} labels for {n} feature rows; pass one label per row")
    if not allow_missing and pd.isna(y).any():
        raise InputError(f"{what}: {int(pd.isna(y).sum())} label(s) are missing; fit only on rows with a known label")
    return y


def binary_target(y, n: int, what: str) -> tuple[np.ndarray, np.ndarray]:
    """(classes_, 0/1 floats) of a two-class target; the larger label (True, 1) is the positive class."""
    y = labels_1d(y, n, what)
    try:
        check_classification_targets(y)
    except ValueError as e:
        raise InputError(f"{what}: {e}") from None
    classes = np.unique(y)
    if len(classes) > 2:
        raise InputError(f"{what}: Only binary classification is supported; the target has {len(classes)} classes "
                         f"({classes[:5].tolist()})")
    if len(classes) < 2:
        raise InputError(f"{what}: the target has one class ({classes.tolist()}); one class cannot be learned")
    return classes, (y == classes[1]).astype(float)
