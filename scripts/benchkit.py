"""What the benchmark scripts share: the ONE adapter that calls cxpredict's training API, the plain baseline, the
figures of one run (`judge`), the telco respondent draws, and synthetic tables turned into a config.

When the product's API changes (NpsClassifier, PopulationNps with AIPW fields, a public Pipeline), only
`fit_product` and `population_fields` change; every benchmark reads `ProductResult`.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import lightgbm as lgb
import numpy as np
import pandas as pd

from cxpredict.config import Config, apply_overrides, config_from_dict, read_yaml
from cxpredict.estimation.population import estimate_population_nps
from cxpredict.metrics import (
    detractor_auc,
    expected_calibration_error,
    nps_from_classes,
    score_to_class,
)
from cxpredict.workflows.train import fit_nps_stage

# PopulationNps field -> older names to fall back on, until the doubly-robust estimator lands. model_only falls
# back on the current estimate (observed answers + predictions, no residual correction: the model-only kind).
POPULATION_FIELDS: dict[str, tuple[str, ...]] = {
    "estimate": ("estimate",), "low": ("low",), "high": ("high",),
    "model_only": ("model_only", "estimate"), "hajek": ("hajek", "ipw_respondent_nps"),
    "naive": ("naive", "naive_respondent_nps"),
}


def population_fields(population: Any) -> dict[str, float | None]:
    """The headline, its interval and the comparison estimates of a PopulationNps (object or its JSON dict)."""
    if isinstance(population, Mapping):  # population.json / metrics.json: comparison estimates under "estimators"
        nested = {k: v.get("estimate") for k, v in (population.get("estimators") or {}).items()}
        get = lambda name: population.get(name, nested.get(name))  # noqa: E731
    else:
        get = lambda name: getattr(population, name, None)  # noqa: E731
    out = {}
    for name, candidates in POPULATION_FIELDS.items():
        value = next((v for v in map(get, candidates) if v is not None), None)
        out[name] = None if value is None else float(value)
    return out


@dataclass
class ProductResult:
    predictions: pd.DataFrame  # every customer: p_detractor, p_passive, p_promoter, predicted_class, ...
    estimate: float  # headline population NPS (points)
    low: float | None
    high: float | None
    model_only: float
    hajek: float
    naive: float
    train_s: float  # response model + NPS model + population estimate
    score_s: float  # predicting every customer again, as `cxpredict score` would
    details: dict[str, Any] = field(default_factory=dict)


def fit_product(X: pd.DataFrame, score, cfg: Config, segments: pd.DataFrame | None = None) -> ProductResult:
    """Train cxpredict's NPS stage on the customers whose `score` is not NaN and estimate the population NPS."""
    s = np.asarray(score, dtype=float)
    start = time.perf_counter()
    stage = fit_nps_stage(X, s, cfg, segments)
    train_s = time.perf_counter() - start
    start = time.perf_counter()
    stage.nps.predict_frame(X)
    score_s = time.perf_counter() - start
    details = {"formulation": getattr(stage.nps, "formulation_", None),
               "candidate": (getattr(stage.nps, "candidate_", None) or {}).get("name"),
               "no_signal": getattr(stage.nps, "no_signal_", None),
               "reported_auc": (getattr(stage.nps, "cv_metrics_", None) or {}).get("detractor_auc"),
               "selected_oof_auc": (getattr(stage.nps, "selected_oof_metrics_", None) or {}).get("detractor_auc"),
               "response_auc": getattr(stage.response, "auc_", None), "stage_seconds": stage.timings}
    # the bootstrap interval beside the influence-function one (same fit, nuisances fixed: no refit)
    boot = estimate_population_nps(stage.nps, X, s, None if stage.response is None else stage.response.propensity_,
                                   level=cfg.population.interval, interval_method="bootstrap",
                                   n_bootstrap=cfg.population.bootstrap, seed=cfg.seed)
    details["bootstrap_low"], details["bootstrap_high"] = boot.low, boot.high
    return ProductResult(predictions=stage.predictions, **population_fields(stage.population), train_s=train_s,
                         score_s=score_s, details=details)


def fit_plain(X: pd.DataFrame, classes: np.ndarray, fit_rows: np.ndarray, seed: int, n_jobs: int):
    """The plain baseline: a default LGBMClassifier on `fit_rows` (respondents), unweighted.

    Returns (class probabilities of every row, columns detractor/passive/promoter with 0 for an unseen class, and
    argmax decisions; fit seconds). Only the seed, the thread count and silence are set.
    """
    start = time.perf_counter()
    clf = lgb.LGBMClassifier(random_state=seed, n_jobs=n_jobs, verbose=-1).fit(X[fit_rows], classes[fit_rows])
    seconds = time.perf_counter() - start
    proba = np.zeros((len(X), 3))
    proba[:, clf.classes_.astype(int)] = clf.predict_proba(X)
    return proba, seconds


def plain_imputation_nps(classes: np.ndarray, respondents: np.ndarray, proba: np.ndarray) -> float:
    """Respondents' observed answers + the silent customers' P(promoter) - P(detractor), in points (all customers)."""
    observed = (classes[respondents] == 2).sum() - (classes[respondents] == 0).sum()
    return float(100 * (observed + (proba[~respondents, 2] - proba[~respondents, 0]).sum()) / len(classes))


# --------------------------------------------------------------------------------------------- one run's figures
def judge(true_score: np.ndarray, respondents: np.ndarray, scale, product: ProductResult,
          plain_proba: np.ndarray, plain_s: float) -> dict[str, Any]:
    """Every per-run figure, on the silent customers (rankings, calibration) or all customers (population NPS)."""
    classes = score_to_class(true_score, scale)
    silent = ~respondents
    is_det = classes[silent] == 0
    p_det = product.predictions["p_detractor"].to_numpy(dtype=float)[silent]
    truth = nps_from_classes(classes)
    estimates = {"headline": product.estimate, "model_only": product.model_only, "hajek": product.hajek,
                 "naive": nps_from_classes(classes[respondents]),
                 "plain_imputation": plain_imputation_nps(classes, respondents, plain_proba)}
    low, high = product.low, product.high
    row = {"n_customers": len(classes), "n_respondents": int(respondents.sum()),
           "auc": detractor_auc(is_det, p_det), "auc_plain": detractor_auc(is_det, plain_proba[silent, 0]),
           "ece": expected_calibration_error(is_det, p_det),
           "ece_plain": expected_calibration_error(is_det, plain_proba[silent, 0]), "nps_true": truth,
           **{f"nps_{k}": v for k, v in estimates.items()},
           **{f"err_{k}": abs(v - truth) for k, v in estimates.items()},
           "gap_to_hajek": abs(product.estimate - product.hajek),
           "interval_low": low, "interval_high": high,
           "interval_width": None if low is None else high - low,
           "half_width": None if low is None else (high - low) / 2,
           "covers": None if low is None else bool(low <= truth <= high),
           "train_s": product.train_s, "score_s": product.score_s, "plain_train_s": plain_s}
    row["auc_vs_plain"] = row["auc"] - row["auc_plain"]
    reported = product.details.get("reported_auc")  # what training reports (weighted held-out respondents)
    row["reported_minus_silent_auc"] = None if reported is None else reported - row["auc"]
    selected = product.details.get("selected_oof_auc")  # diagnostic: the kept candidate's OOF AUC, seen by the choice
    row["selected_oof_minus_silent_auc"] = None if selected is None else selected - row["auc"]
    b_low, b_high = product.details.get("bootstrap_low"), product.details.get("bootstrap_high")
    row["covers_bootstrap"] = None if b_low is None else bool(b_low <= truth <= b_high)
    row["width_bootstrap"] = None if b_low is None else b_high - b_low
    return row | {k: v for k, v in product.details.items() if k != "stage_seconds"}


# --------------------------------------------------------------------------------------------- telco draws
def _contract_age(frame: pd.DataFrame) -> np.ndarray:
    """telco-mnar15 weights: 3 if month-to-month, times 2 if aged 65 or more."""
    return (np.where(frame["Contract"].astype("str").to_numpy() == "Month-to-Month", 3.0, 1.0)
            * np.where(frame["Age"].to_numpy(dtype=float) >= 65, 2.0, 1.0))


def _payment_tenure(frame: pd.DataFrame) -> np.ndarray:
    """Another behaviour-only mechanism, fixed before looking at answers: card payers get e-mailed receipts with a
    survey link (3x) and customers in their first year get onboarding surveys (2x)."""
    return (np.where(frame["Payment Method"].astype("str").to_numpy() == "Credit Card", 3.0, 1.0)
            * np.where(frame["Tenure in Months"].to_numpy(dtype=float) <= 12, 2.0, 1.0))


TELCO_MECHANISMS: dict[str, Callable[[pd.DataFrame], np.ndarray]] = {
    "contract_age": _contract_age, "payment_tenure": _payment_tenure}


def telco_respondents(order_ids, frame: pd.DataFrame, seed: int, rate: float = 0.15,
                      mechanism: str = "contract_age") -> np.ndarray:
    """The telco-mnar15 draw, generalised: p = min(1, rate * w / mean(w)) and `default_rng(seed).random(n) < p` over
    the customers in the order of the status table (`order_ids`); returned aligned with `frame.index`."""
    ordered = frame.loc[order_ids]
    w = TELCO_MECHANISMS[mechanism](ordered)
    drawn = np.random.default_rng(seed).random(len(w)) < np.minimum(1.0, rate * w / w.mean())
    return np.isin(frame.index.to_numpy(), np.asarray(order_ids)[drawn])


# --------------------------------------------------------------------------------------------- synthetic tables
def synthetic_raw_config(base: Path, data_dir: Path, overrides: list[str], fmt: str = "parquet",
                         scale: dict | None = None) -> dict[str, Any]:
    """The raw config `base` (e.g. the packaged demo config) pointed at synthetic tables in `data_dir` (from `write_tables`).

    scale: the survey scale of the generated answers (default: the base config's).
    """
    raw = apply_overrides(read_yaml(base), overrides)
    raw["data"]["dir"] = str(data_dir)
    for table in [raw["data"]["survey"], raw["data"]["outcomes"], *raw["data"]["behaviour"]]:
        table["path"] = Path(table["path"]).with_suffix(f".{fmt}").name
    if scale is not None:
        raw["scale"] = scale
    return raw


def synthetic_config(base: Path, data_dir: Path, overrides: list[str], fmt: str = "parquet",
                     scale: dict | None = None) -> Config:
    """`synthetic_raw_config`, validated (relative paths resolve against `base`'s folder)."""
    return config_from_dict(synthetic_raw_config(base, data_dir, overrides, fmt, scale), base_dir=base.parent,
                            source=base)


def summarise(rows: list[dict]) -> dict[str, dict[str, float]]:
    """Mean and standard deviation over runs of every numeric (or boolean) key that all rows hold."""
    keys = [k for k, v in rows[0].items() if isinstance(v, (int, float, bool)) and k != "seed"
            and all(isinstance(r.get(k), (int, float, bool)) for r in rows)]
    return {stat: {k: float(fn([float(r[k]) for r in rows])) for k in keys}
            for stat, fn in (("mean", np.mean), ("std", np.std))}
