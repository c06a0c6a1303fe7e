"""NPS model: a class distribution and an expected score for every customer (first, plain multiclass version)."""

from __future__ import annotations

import json
from pathlib import Path

import lightgbm as lgb
import numpy as np
import pandas as pd

from .config import CLASSES, LgbmParams, NpsModelConfig, Scale


def lgbm_params(p: LgbmParams, seed: int, **overrides) -> dict:
    """LightGBM native parameters from our config section (deterministic given the seed)."""
    params = {
        "learning_rate": p.learning_rate,
        "num_leaves": p.num_leaves,
        "min_child_samples": p.min_child_samples,
        "bagging_fraction": p.subsample,
        "bagging_freq": p.subsample_freq,
        "feature_fraction": p.colsample_bytree,
        "lambda_l2": p.reg_lambda,
        "lambda_l1": p.reg_alpha,
        "max_depth": p.max_depth,
        "num_threads": p.n_jobs,
        "seed": seed,
        "deterministic": True,
        "verbosity": -1,
        **p.extra,
    }
    params.update(overrides)
    return params


def score_to_class(score: np.ndarray, scale: Scale) -> np.ndarray:
    """0 = detractor, 1 = passive, 2 = promoter."""
    score = np.asarray(score)
    return np.where(score <= scale.detractor_max, 0, np.where(score >= scale.promoter_min, 2, 1))


class NpsModel:
    def __init__(self, scale: Scale, cfg: NpsModelConfig, seed: int = 0):
        self.scale = scale
        self.cfg = cfg
        self.seed = seed

    def fit(self, X: pd.DataFrame, score: np.ndarray, sample_weight: np.ndarray | None = None) -> NpsModel:
        y = score_to_class(score, self.scale)
        params = lgbm_params(self.cfg.params, self.seed, objective="multiclass", num_class=3)
        data = lgb.Dataset(X, label=y, weight=sample_weight)
        self.booster_ = lgb.train(params, data, num_boost_round=self.cfg.params.n_estimators)
        # mean score within each class on respondents gives the expected score from class probabilities
        s = np.asarray(score, dtype=float)
        self.class_mean_score_ = [float(s[y == k].mean()) if (y == k).any() else float("nan") for k in range(3)]
        self.cv_metrics_: dict[str, float] = {}
        return self

    def predict(self, X: pd.DataFrame) -> pd.DataFrame:
        proba = self.booster_.predict(X)
        out = pd.DataFrame(proba, index=X.index, columns=[f"p_{c}" for c in CLASSES])
        out.insert(0, "predicted_score", proba @ np.nan_to_num(self.class_mean_score_))
        out["predicted_class"] = pd.array(np.asarray(CLASSES)[proba.argmax(axis=1)], dtype="str")
        return out

    def detractor_booster(self) -> tuple[lgb.Booster, int | None]:
        return self.booster_, 0

    def save(self, directory: Path) -> None:
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        self.booster_.save_model(directory / "multiclass.txt")
        meta = {
            "formulation": "multiclass",
            "scale": self.scale.model_dump(),
            "config": self.cfg.model_dump(mode="json"),
            "seed": self.seed,
            "class_mean_score": self.class_mean_score_,
        }
        (directory / "nps.json").write_text(json.dumps(meta, indent=2), encoding="utf-8")

    @classmethod
    def load(cls, directory: Path) -> NpsModel:
        directory = Path(directory)
        meta = json.loads((directory / "nps.json").read_text(encoding="utf-8"))
        model = cls(Scale(**meta["scale"]), NpsModelConfig(**meta["config"]), meta["seed"])
        model.booster_ = lgb.Booster(model_file=str(directory / "multiclass.txt"))
        model.class_mean_score_ = meta["class_mean_score"]
        model.cv_metrics_ = {}
        return model
