"""Why each customer is predicted to be unhappy: attributions of the detractor score, summed into business drivers.

Attributions. `DriverExplainer` explains the NPS model's detractor raw score (`NpsClassifier.detractor_booster()`:
the detractor class of the multiclass booster, or the single booster of the other formulations) with exact
path-dependent TreeSHAP (`treeshap.py`: the values of LightGBM's `pred_contrib`, to 1e-9), streamed in chunks of
`drivers.chunk_size` rows on the run's threads (cxpredict/threads.py); memory is O(chunk x features), never customers x
features x classes. Each row's attributions plus `expected_value` equal its raw score.
`method: approx` uses path (Saabas) attributions instead: faster, and mostly the same driver_1 (speed and
agreement with exact: the approx_* keys of scripts/bench_drivers.py's JSON). Exact is the default.

Driver groups. Config groups name features as the user's columns are named (`Monthly Charge`); the feature
manifest maps them to the model's names (data/features.py), so the model's renaming never reaches the config or
the outputs. Features in no group fall into the implicit, non-actionable "Other" group; with no groups at all every
feature is its own driver, under the user's column name. A group's attribution is the sum of its features'
attributions (SHAP values are additive).

Impact, in probability of detraction (0.05 = 5 points). The detractor raw score moves the log-odds of
P(detractor) one for one (multiclass softmax with the other classes' scores held fixed, and the ordinal
formulation), or by a known slope (regression formulation: the cut-point link's beta / sd). Removing a group's
push (phi_g > 0) therefore gives P_without = sigmoid(logit(p) - scale * phi_g), and

    driver_impact_g = p - sigmoid(logit(p) - scale * phi_g)

with p the model's P(detractor) (exact before calibration; calibration is a smooth monotone map of the class
probabilities, so after it this is a close approximation). Impacts are not additive across groups; each is the
drop in this customer's detraction probability if that driver alone were neutral. driver_1..k are the
actionable groups with the largest impact; an impact below `drivers.min_impact` leaves the slot empty (NA).

Per batch versus whole population. `DriverStage.transform` (explain/stage.py) is a pure function of one batch (the batch command,
the MLflow pyfunc model and Spark all call it through workflows/score.score_frame). What sums over every batch
(the KDA tables and the reason/driver theme agreement) lives in a `DriverTotals` that only the batch command
(and training) creates and passes in, so a pyfunc host holds no state that grows with the rows it scores.

Key driver analysis (KDA). `KdaAccumulator` aggregates over scoring batches: mean |attribution| and mean signed
attribution (log-odds) per group, the same per configured segment, and a what-if table: the expected detractor
share if one driver's push were removed for every explained customer. That table is a MODEL-BASED what-if
(attribution removed from the model's score), not a causal effect of fixing the problem.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from scipy.special import expit, logit

from cxpredict import threads
from cxpredict.config import DriversConfig
from cxpredict.data.features import FeatureManifest
from cxpredict.errors import ConfigError, did_you_mean
from cxpredict.explain import trees, treeshap

OTHER = "Other"
SUBSETS = {"all": ("detractor", "passive", "promoter"), "detractor_passive": ("detractor", "passive"),
           "detractor": ("detractor",)}
WHAT_IF_NOTE = "model-based what-if (the driver's attribution removed from the model score), not a causal effect"
EPS = 1e-9


# --------------------------------------------------------------------------------------------- groups
@dataclass
class DriverGroups:
    """Config driver groups resolved against the model's features (plus "Other" for ungrouped features)."""

    names: list[str]
    actionable: np.ndarray  # bool per group
    themes: list[str | None]
    column_of: np.ndarray  # model feature index -> group index
    features: dict[str, list[str]] = field(default_factory=dict)

    @classmethod
    def from_config(cls, cfg: DriversConfig, feature_names: list[str]) -> DriverGroups:
        """Raise ConfigError for a feature the model does not have, a feature in two groups, or a repeated name.
        With no groups configured every feature is its own (actionable) driver."""
        if not cfg.groups:
            names = list(feature_names)
            return cls(names, np.ones(len(names), dtype=bool), [None] * len(names),
                       np.arange(len(names), dtype=np.int64), {name: [name] for name in names})
        index = {name: j for j, name in enumerate(feature_names)}
        column_of = np.full(len(feature_names), -1, dtype=np.int64)
        names, actionable, themes, features = [], [], [], {}
        for g, group in enumerate(cfg.groups):
            if group.name in names or group.name == OTHER:
                raise ConfigError(f"drivers.groups[{g}]: group name '{group.name}' is "
                                  f"{'reserved for ungrouped features' if group.name == OTHER else 'repeated'}; "
                                  "give every group its own name")
            for feature in group.features:
                if feature not in index:
                    raise ConfigError(
                        f"drivers.groups[{g}] ('{group.name}'): feature '{feature}' is not a model feature"
                        f"{did_you_mean(feature, list(feature_names))}; fix the name or remove it from the group")
                j = index[feature]
                if column_of[j] >= 0:
                    raise ConfigError(f"drivers.groups[{g}] ('{group.name}'): feature '{feature}' is already in "
                                      f"group '{names[column_of[j]]}'; a feature can belong to one group only")
                column_of[j] = g
            names.append(group.name)
            actionable.append(group.actionable)
            themes.append(group.theme)
            features[group.name] = list(group.features)
        ungrouped = [f for f, j in zip(feature_names, column_of) if j < 0]
        if ungrouped:
            column_of[column_of < 0] = len(names)
            names.append(OTHER)
            actionable.append(False)
            themes.append(None)
            features[OTHER] = ungrouped
        return cls(names, np.array(actionable, dtype=bool), themes, column_of, features)

    def theme_of(self) -> dict[str, str | None]:
        return dict(zip(self.names, self.themes))


# --------------------------------------------------------------------------------------------- attributions
def detractor_logit_scale(nps_model: Any) -> float:
    """Change in log-odds of P(detractor) per unit of the detractor booster's raw output (before calibration)."""
    if getattr(nps_model, "formulation_", None) == "regression":
        link = nps_model.link_
        return float(link["beta"]) / float(link["z_sd"])
    return 1.0


class DriverExplainer:
    """Group attributions of one LightGBM output, computed chunk by chunk."""

    def __init__(self, booster, class_index: int | None, groups: DriverGroups, method: str = "exact",
                 chunk_size: int = 50_000, n_jobs: int | None = None, logit_scale: float = 1.0):
        self.arrays = trees.tree_arrays(booster, class_index)
        self.groups = groups
        self.method = {"exact": "exact", "approx": "path"}.get(method, method)
        self.chunk_size = chunk_size
        self.n_jobs = n_jobs
        self.logit_scale = logit_scale

    @classmethod
    def from_nps(cls, nps_model: Any, cfg: DriversConfig, manifest: FeatureManifest | None = None) -> DriverExplainer:
        """Explainer of `NpsClassifier.detractor_booster()` with the config's groups, method, chunks and threads; the
        groups are resolved against the user's column names of the model's features (`manifest`)."""
        booster, class_index = nps_model.detractor_booster()
        names = booster.feature_name()
        if manifest is not None:  # groups without the features training dropped (empty or constant)
            cfg, names = manifest.kept_driver_groups(cfg)[0], manifest.user_names(names)
        groups = DriverGroups.from_config(cfg, names)
        return cls(booster, class_index, groups, cfg.method, cfg.chunk_size, cfg.n_jobs,
                   detractor_logit_scale(nps_model))

    @property
    def expected_value(self) -> float:
        return self.arrays.expected_value

    def _stream(self, X: pd.DataFrame | np.ndarray, column_of: np.ndarray, n_out: int):
        for lo in range(0, len(X), self.chunk_size):
            part = X.iloc[lo:lo + self.chunk_size] if isinstance(X, pd.DataFrame) else X[lo:lo + self.chunk_size]
            matrix = trees.to_matrix(part, self.arrays)
            yield lo, treeshap.attribute(matrix, self.arrays, column_of, n_out, self.method,
                                                threads.count(self.n_jobs))

    def group_attributions(self, X: pd.DataFrame | np.ndarray) -> np.ndarray:
        """(rows, groups) attributions of the raw score, in raw units (multiply by logit_scale for log-odds)."""
        out = np.empty((len(X), len(self.groups.names)))
        for lo, part in self._stream(X, self.groups.column_of, len(self.groups.names)):
            out[lo:lo + len(part)] = part
        return out

    def feature_attributions(self, X: pd.DataFrame | np.ndarray) -> np.ndarray:
        """(rows, features) attributions, for checks and small data (drivers use the group sums)."""
        n_features = len(self.arrays.feature_names)
        out = np.empty((len(X), n_features))
        for lo, part in self._stream(X, np.arange(n_features), n_features):
            out[lo:lo + len(part)] = part
        return out


# --------------------------------------------------------------------------------------------- top drivers
def driver_columns(top_k: int) -> list[str]:
    return [f"driver_{i}" for i in range(1, top_k + 1)] + [f"driver_{i}_impact" for i in range(1, top_k + 1)]


def push_impact(group_phi: np.ndarray, p_detractor: np.ndarray, logit_scale: float = 1.0) -> np.ndarray:
    """Drop in P(detractor) if each group's push toward detraction were removed (0 for groups pulling away)."""
    p = np.clip(np.asarray(p_detractor, dtype=np.float64), EPS, 1 - EPS)[:, None]
    push = np.maximum(group_phi, 0.0) * logit_scale
    return p - expit(logit(p) - push)


def _rank(group_phi: np.ndarray, p_detractor: np.ndarray, groups: DriverGroups, top_k: int, min_impact: float,
          logit_scale: float) -> tuple[np.ndarray, np.ndarray]:
    """(labels (rows, k) object with None, impacts (rows, k) with NaN): the top-k actionable impacts per row."""
    n = len(group_phi)
    labels, impacts = np.full((n, top_k), None, dtype=object), np.full((n, top_k), np.nan)
    k = min(top_k, group_phi.shape[1])
    if k == 0:
        return labels, impacts
    impact = push_impact(group_phi, p_detractor, logit_scale)
    impact[:, ~groups.actionable] = -np.inf
    impact[impact < max(min_impact, np.finfo(float).tiny)] = -np.inf
    if k < impact.shape[1]:
        best = np.argpartition(-impact, k - 1, axis=1)[:, :k]
    else:
        best = np.tile(np.arange(k, dtype=np.int64), (n, 1))
    order = np.argsort(-np.take_along_axis(impact, best, axis=1), axis=1, kind="stable")
    best = np.take_along_axis(best, order, axis=1)
    best_impact = np.take_along_axis(impact, best, axis=1)
    valid = np.isfinite(best_impact)
    labels[:, :k] = np.where(valid, np.array(groups.names, dtype=object)[best], None)
    impacts[:, :k] = np.where(valid, best_impact, np.nan).round(4)
    return labels, impacts


def _driver_frame(labels: np.ndarray, impacts: np.ndarray, index: pd.Index | None) -> pd.DataFrame:
    k = labels.shape[1]
    columns: dict[str, Any] = {f"driver_{i + 1}": pd.array(labels[:, i], dtype="str") for i in range(k)}
    columns.update({f"driver_{i + 1}_impact": impacts[:, i] for i in range(k)})
    return pd.DataFrame(columns, index=index)


def top_drivers(group_phi: np.ndarray, p_detractor: np.ndarray, groups: DriverGroups, top_k: int = 3,
                min_impact: float = 0.01, logit_scale: float = 1.0, index: pd.Index | None = None) -> pd.DataFrame:
    """driver_1..k (actionable groups with the largest impact, NA below `min_impact`) and driver_i_impact."""
    return _driver_frame(*_rank(group_phi, p_detractor, groups, top_k, min_impact, logit_scale), index)


def subset_mask(predicted_class: pd.Series | np.ndarray, subset: str) -> np.ndarray:
    """Rows whose predicted class is in the configured driver subset."""
    return np.isin(np.asarray(predicted_class, dtype=object), SUBSETS[subset])


def explain(explainer: DriverExplainer, X: pd.DataFrame, predictions: pd.DataFrame, cfg: DriversConfig,
            kda: KdaAccumulator | None = None, customers: pd.DataFrame | None = None) -> pd.DataFrame:
    """Driver columns for one scoring batch (index = X.index); rows outside `cfg.subset` get empty drivers.
    `predictions` has p_detractor and predicted_class; `customers` (behaviour columns) feeds KDA segments."""
    p = predictions["p_detractor"].to_numpy(dtype=np.float64)
    rows = np.flatnonzero(subset_mask(predictions["predicted_class"], cfg.subset))
    labels, impacts = np.full((len(X), cfg.top_k), None, dtype=object), np.full((len(X), cfg.top_k), np.nan)
    for lo in range(0, len(rows), explainer.chunk_size):
        take = rows[lo:lo + explainer.chunk_size]
        phi = explainer.group_attributions(X.iloc[take])
        labels[take], impacts[take] = _rank(phi, p[take], explainer.groups, cfg.top_k, cfg.min_impact,
                                            explainer.logit_scale)
        if kda is not None:
            segment_frame = customers.iloc[take] if customers is not None else None
            kda.update(phi, p[take], explainer.logit_scale, segment_frame, labels[take, 0])
    if kda is not None:
        kda.add_population(p)
    return _driver_frame(labels, impacts, X.index)


# --------------------------------------------------------------------------------------------- KDA reports
def kda_sample(n_rows: int, max_rows: int | None, seed: int) -> np.ndarray | None:
    """Positions of the customers training explains for the key-driver tables: None (all) up to `max_rows`,
    else a simple random sample of `max_rows` without replacement (each customer drawn with probability
    max_rows / n_rows exactly, so weight n_rows / max_rows makes the tables' sums unbiased), in order.

    Why: the tables are population means and shares, which a sample estimates within noise at a fraction of
    the cost (scoring still explains every customer it scores)."""
    if max_rows is None or n_rows <= max_rows:
        return None
    return np.sort(np.random.default_rng(seed).choice(n_rows, max_rows, replace=False))

def _segment_labels(values: pd.Series, edges: np.ndarray | None) -> np.ndarray:
    """Segment labels: text as is, numbers by band ('[a, b)') when `edges` are given."""
    if edges is None:
        return values.astype("str").fillna("(missing)").to_numpy(dtype=object)
    x = pd.to_numeric(values).to_numpy(dtype=np.float64)
    band = np.searchsorted(edges[1:-1], x, side="right")
    labels = np.array([f"[{edges[i]:.4g}, {edges[i + 1]:.4g}{']' if i == len(edges) - 2 else ')'}"
                       for i in range(len(edges) - 1)] + ["(missing)"], dtype=object)
    return labels[np.where(np.isnan(x), len(edges) - 1, band)]


class KdaAccumulator:
    """Key driver analysis summed over scoring batches: global, per segment, and the what-if table.

    Numeric segment columns with more than `max_levels` values are cut into quintile bands fixed on the first
    batch that has them (the scoring batch is large, 100k rows by default). Every added row stands for `weight`
    customers (training's uniform sample, `kda_sample`: customers / sampled), so counts and sums estimate the
    whole population's (Horvitz-Thompson) and the means are the sample's."""

    def __init__(self, groups: DriverGroups, segments: list[str] | None = None, max_levels: int = 20,
                 weight: float = 1.0):
        self.groups = groups
        self.weight = float(weight)
        self.segments = list(segments or [])
        self.max_levels = max_levels
        g = len(groups.names)
        self.n = 0
        self.sums = {"abs": np.zeros(g), "signed": np.zeros(g), "top1": np.zeros(g)}
        self.p_now = 0.0
        self.p_fixed = np.zeros(g + 1)  # per group, then every actionable group at once
        self.pushed = np.zeros(g + 1)  # customers each group pushes toward detraction; then any actionable
        self.population_n = 0
        self.population_p = 0.0
        self.by_segment: dict[tuple[str, str], np.ndarray] = {}  # (column, value) -> [n, abs..., signed...]
        self.edges: dict[str, np.ndarray | None] = {}

    def update(self, group_phi: np.ndarray, p_detractor: np.ndarray, logit_scale: float = 1.0,
               customers: pd.DataFrame | None = None, driver_1: np.ndarray | None = None) -> None:
        """Add explained rows: raw group attributions, their P(detractor), their customer columns, driver_1."""
        phi = group_phi * logit_scale
        g, w = len(self.groups.names), self.weight
        self.n += w * len(phi)
        self.sums["abs"] += w * np.abs(phi).sum(axis=0)
        self.sums["signed"] += w * phi.sum(axis=0)
        if driver_1 is not None:
            named = pd.Series(np.asarray(driver_1, dtype=object)).dropna().value_counts()
            self.sums["top1"] += w * np.array([named.get(name, 0) for name in self.groups.names], dtype=float)
        p = np.clip(np.asarray(p_detractor, dtype=np.float64), EPS, 1 - EPS)
        self.p_now += w * p.sum()
        push = np.maximum(phi, 0.0)
        self.pushed[:g] += w * (push > 0).sum(axis=0)
        self.pushed[g] += w * (push[:, self.groups.actionable] > 0).any(axis=1).sum()
        self.p_fixed[:g] += w * expit(logit(p)[:, None] - push).sum(axis=0)
        self.p_fixed[g] += w * expit(logit(p) - push[:, self.groups.actionable].sum(axis=1)).sum()
        if self.segments:
            self._update_segments(phi, customers)

    def _update_segments(self, phi: np.ndarray, customers: pd.DataFrame | None) -> None:
        missing = [c for c in self.segments if customers is None or c not in customers.columns]
        if missing:
            options = [] if customers is None else list(customers.columns)
            raise ConfigError("drivers.segments: " + "; ".join(f"'{c}' is not a customer column{did_you_mean(c, options)}"
                                                               for c in missing))
        for col in self.segments:
            values = customers[col]
            if col not in self.edges:
                numeric = pd.api.types.is_numeric_dtype(values) and not pd.api.types.is_bool_dtype(values)
                edges = None
                if numeric and values.nunique() > self.max_levels:
                    edges = np.unique(np.nanquantile(values.to_numpy(dtype=float, na_value=np.nan),
                                                     np.linspace(0, 1, 6)))
                self.edges[col] = edges if edges is not None and len(edges) > 1 else None
            labels = _segment_labels(values, self.edges[col])
            codes, uniques = pd.factorize(labels)
            counts = np.bincount(codes, minlength=len(uniques))
            abs_sum = np.stack([np.bincount(codes, np.abs(col), len(uniques)) for col in phi.T], axis=1)
            signed_sum = np.stack([np.bincount(codes, col, len(uniques)) for col in phi.T], axis=1)
            for u, value in enumerate(uniques):
                key = (col, str(value))
                row = self.weight * np.concatenate([[counts[u]], abs_sum[u], signed_sum[u]])
                self.by_segment[key] = self.by_segment.get(key, 0) + row

    def add_population(self, p_detractor: np.ndarray) -> None:
        """Add every scored row (explained or not) to the detractor-share baseline of the what-if table."""
        self.population_n += self.weight * len(p_detractor)
        self.population_p += self.weight * float(np.sum(p_detractor))

    def tables(self) -> dict[str, pd.DataFrame]:
        """{"kda_global", "kda_segments", "kda_what_if"} as DataFrames (log-odds and probability units)."""
        g = self.groups
        n = max(self.n, 1)
        global_table = pd.DataFrame({
            "driver": g.names, "actionable": g.actionable, "theme": g.themes, "customers_explained": round(self.n),
            "mean_abs_attribution": self.sums["abs"] / n, "mean_signed_attribution": self.sums["signed"] / n,
            "share_driver_1": self.sums["top1"] / n,
        }).sort_values("mean_abs_attribution", ascending=False, kind="stable").reset_index(drop=True)
        rows = []
        for (col, value), acc in sorted(self.by_segment.items()):
            count = max(acc[0], 1)
            for j, name in enumerate(g.names):
                rows.append({"segment_column": col, "segment_value": value, "driver": name,
                             "actionable": bool(g.actionable[j]), "customers_explained": round(acc[0]),
                             "mean_abs_attribution": acc[1 + j] / count,
                             "mean_signed_attribution": acc[1 + len(g.names) + j] / count})
        segment_cols = ["segment_column", "segment_value", "driver", "actionable", "customers_explained",
                        "mean_abs_attribution", "mean_signed_attribution"]
        return {"kda_global": global_table, "kda_segments": pd.DataFrame(rows, columns=segment_cols),
                "kda_what_if": self._what_if()}

    def _what_if(self) -> pd.DataFrame:
        g = self.groups
        total = max(self.population_n, self.n, 1)
        baseline = (self.population_p if self.population_n else self.p_now) / total
        names = [*g.names, "All actionable drivers"]
        change = (self.p_fixed - self.p_now) / total
        table = pd.DataFrame({
            "driver": names, "actionable": [*g.actionable.tolist(), True],
            "customers_pushed": self.pushed.round().astype(int),
            "customers_scored": round(total), "detractor_share_now": baseline,
            "detractor_share_if_fixed": baseline + change, "change_points": 100 * change, "kind": WHAT_IF_NOTE,
        })
        return table.sort_values("change_points", kind="stable").reset_index(drop=True)


# --------------------------------------------------------------------------------------------- run stage
class DriverTotals:
    """What a training or batch scoring run sums over all its batches: the KDA tables and the reason/driver theme
    agreement. Created by the run (`DriverStage.new_totals()`, explain/stage.py) and passed to every batch explicitly."""

    def __init__(self, groups: DriverGroups, cfg: DriversConfig, sample: tuple[int, int] | None = None):
        self.groups, self.cfg, self.sample = groups, cfg, sample  # sample: (rows explained, of customers)
        self.kda = KdaAccumulator(groups, cfg.segments, weight=sample[1] / sample[0] if sample else 1.0)
        self.agreeing = self.compared = 0

    def tables(self) -> dict[str, pd.DataFrame]:
        return self.kda.tables()

    def summary(self) -> dict[str, Any]:
        """JSON-safe numbers for metrics.json / the run manifest."""
        return {"method": self.cfg.method, "subset": self.cfg.subset, "customers_explained": round(self.kda.n),
                "kda_sample": {"rows": self.sample[0], "of": self.sample[1]} if self.sample else None,
                "groups": self.groups.names, "theme_agreement_compared": self.compared,
                "theme_agreement": self.agreeing / self.compared if self.compared else None}
