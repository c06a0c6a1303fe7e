"""Hold-out evaluation: hide a share of the respondents' answers, train on the rest, score the hidden ones.

The hidden respondents play the silent customers, so every metric is computed on customers the model never saw.
They are still respondents: if response depends on behaviour, they resemble the training respondents more than
the truly silent population does. The population-level correction is judged by the benchmarks on data with a
known truth (scripts/bench_synthetic.py, scripts/bench_telco.py), not here.
"""

from __future__ import annotations

import dataclasses
import logging
from pathlib import Path
from typing import Any

import numpy as np

from cxpredict import threads
from cxpredict.config import CLASSES, Config
from cxpredict.data.customers import CustomerData, load_customers
from cxpredict.errors import ConfigError, InputError
from cxpredict.io.bundle import load_bundle
from cxpredict.io.outputs import write_json
from cxpredict.metrics import (
    nps_from_probabilities,
    nps_from_scores,
    nps_metrics,
    score_to_class,
)
from cxpredict.workflows.score import score_frame
from cxpredict.workflows.text import scoring_text_stage
from cxpredict.workflows.train import train

log = logging.getLogger(__name__)


def hide_answers(data: CustomerData, share: float, seed: int) -> tuple[CustomerData, np.ndarray]:
    """Copy of `data` with a random `share` of respondents turned silent; returns it and their positions."""
    respondents = np.flatnonzero(data.is_respondent)
    n_hidden = int(round(share * len(respondents)))
    if n_hidden < 20 or len(respondents) - n_hidden < 50:
        raise InputError(
            f"evaluation needs at least 50 training and 20 hold-out respondents; have {len(respondents)} "
            f"respondents and holdout share {share}"
        )
    hidden = np.sort(np.random.default_rng(seed).choice(respondents, size=n_hidden, replace=False))
    score = data.score.copy()
    score.iloc[hidden] = np.nan
    reasons = data.reasons.copy() if data.reasons is not None else None
    if reasons is not None:
        reasons.iloc[hidden] = None
    return dataclasses.replace(data, score=score, reasons=reasons), hidden


def evaluate(cfg: Config, out_dir: str | Path, holdout: float = 0.3, data: CustomerData | None = None) -> dict[str, Any]:
    """Train on (1 - holdout) of the respondents, score the rest, and write `evaluation.json` to `out_dir`."""
    threads.use(cfg.n_jobs)
    if cfg.data.survey is None:
        raise ConfigError("evaluate hides survey answers to measure the NPS model on customers it never saw, and this "
                          "config has no survey table (data.survey). The churn model is measured at training on "
                          "customers it never saw: see 'churn' in the bundle's metrics.json (AUC, calibration) "
                          "or the report's 'How good are the predictions?'.")
    out_dir = Path(out_dir)
    data = data if data is not None else load_customers(cfg)
    masked, hidden = hide_answers(data, holdout, cfg.seed)
    result = train(cfg, out_dir / "model", data=masked)
    bundle = load_bundle(result.bundle_path)
    text = bundle.get("text")  # text features of the hold-out, by the models trained without their answers
    frame = data.frame if text is None else scoring_text_stage(cfg, text).with_features(data).frame
    scored = score_frame(bundle, frame.iloc[hidden], cfg)
    true_score = data.score.to_numpy()[hidden]
    true_class = np.asarray(CLASSES)[score_to_class(true_score, cfg.scale)]
    proba = scored[[f"p_{c}" for c in CLASSES]].to_numpy()
    metrics = nps_metrics(
        true_class, proba, scored["predicted_class"].to_numpy(),
        true_score=true_score, predicted_score=scored["predicted_score"].to_numpy(),
    )
    metrics["holdout_nps_true"] = nps_from_scores(true_score, cfg.scale)
    metrics["holdout_nps_predicted"] = nps_from_probabilities(proba[:, 0], proba[:, 2])
    report = {
        "n_train_respondents": int(masked.is_respondent.sum()),
        "n_holdout": len(hidden),
        "holdout_share": holdout,
        "seed": cfg.seed,
        "metrics": metrics,
        "train_metrics": result.metrics,
        "bundle": str(result.bundle_path),
        "note": "hold-out respondents play the silent customers; see cxpredict.workflows.evaluate for what this measures",
    }
    write_json(report, out_dir / "evaluation.json")
    log.info("hold-out detractor AUC %.3f, QWK %.3f, macro-F1 %.3f on %d customers",
             metrics["detractor_auc"], metrics["qwk"], metrics["macro_f1"], len(hidden))
    return report
