"""Batch scoring: every customer gets a predicted NPS class distribution, expected score and (later stages) drivers,
churn risk and an action. Batches keep memory bounded; outputs appear atomically with a manifest beside them.

Learned things (features, models, scale) come from the bundle; business rules (drivers, playbook, batch size,
drift thresholds) come from the scoring config, so a playbook can change without retraining.
"""

from __future__ import annotations

import logging
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from .bundle import Bundle
from .churn import churn_columns
from .config import CLASSES, Config
from .data import load_customers
from .errors import ConfigError
from .nps import score_to_class
from .outputs import TableWriter, write_json
from .people import PeopleOutputs, scored_columns
from .provenance import Timer, run_manifest
from .strategy import ActionStage, CapacityQueue

log = logging.getLogger(__name__)


@dataclass
class ScoreResult:
    path: Path
    manifest_path: Path
    rows: int
    manifest: dict[str, Any] = field(default_factory=dict)


def check_compatible(cfg: Config, bundle: Bundle) -> None:
    """The scoring config must describe the same survey scale the bundle was trained on."""
    if cfg.scale != bundle.config.scale:
        raise ConfigError(
            f"config scale {cfg.scale.model_dump()} differs from the bundle's {bundle.config.scale.model_dump()}; "
            "score with the config the model was trained with, or retrain"
        )


def observed_columns(index: pd.Index, observed: pd.Series | None, cfg: Config) -> pd.DataFrame:
    """Respondents keep their own answer beside the prediction; silent customers get empty cells."""
    obs = (observed.reindex(index) if observed is not None else pd.Series(np.nan, index=index)).astype("float64")
    is_resp = obs.notna().to_numpy()
    cls = np.full(len(index), None, dtype=object)
    cls[is_resp] = np.asarray(CLASSES)[score_to_class(obs.to_numpy()[is_resp], cfg.scale)]
    return pd.DataFrame(
        {
            "customer_id": pd.array(index.astype("str"), dtype="str"),
            "is_respondent": is_resp,
            "observed_score": pd.array(obs.round().astype("Int64")),
            "observed_class": pd.array(cls, dtype="str"),
        },
        index=index,
    )


def score_frame(bundle: Bundle, frame: pd.DataFrame, cfg: Config, observed: pd.Series | None = None,
                actions: ActionStage | None = None) -> pd.DataFrame:
    """Score one batch of customers (index = customer_id) with every stage of the bundle."""
    X = bundle.manifest.transform(frame)
    out = observed_columns(frame.index, observed, cfg)
    pred = bundle.nps.predict(X)
    out = pd.concat([out, pred], axis=1)
    out = pd.concat([out, churn_columns(bundle.get("churn"), X, pred, frame, cfg.churn.value)], axis=1)
    if actions is not None:  # last: segments and playbook read every column above (capacity: CapacityQueue)
        out = actions.apply(out)
    return out.reset_index(drop=True)


def score(cfg: Config, bundle: Bundle, out: str | Path) -> ScoreResult:
    """Score the configured population into `out` (.csv or .parquet) with a manifest beside it."""
    out = Path(out)
    check_compatible(cfg, bundle)
    timer = Timer()
    with timer("load"):
        data = load_customers(cfg)
    class_counts: Counter[str] = Counter()
    unseen: Counter[str] = Counter()
    out_of_range: Counter[str] = Counter()
    start = time.perf_counter()
    actions = ActionStage.from_bundle(bundle.path, cfg)
    people = PeopleOutputs(actions.playbook)
    with timer("score"), TableWriter(out) as writer, \
            tempfile.TemporaryDirectory(prefix=f".{out.name}.spool.", dir=out.parent) as spool:
        queue = CapacityQueue(actions.playbook, spool)  # capacity is settled over all rows before writing
        for lo in range(0, len(data.frame), cfg.scoring.batch_size):
            batch = data.frame.iloc[lo : lo + cfg.scoring.batch_size]
            scored = score_frame(bundle, batch, cfg, observed=data.score, actions=actions)
            stats = bundle.manifest.last_stats
            unseen.update(stats.get("unseen_categories", {}))
            out_of_range.update(stats.get("out_of_range", {}))
            class_counts.update(scored["predicted_class"].astype("str").tolist())
            queue.add(scored)
            done = lo + len(batch)
            log.info("scored %d/%d rows (%.0f rows/s)", done, len(data.frame),
                     done / max(time.perf_counter() - start, 1e-9))
        for final in queue.batches():
            people.add(final)
            writer.write(final[scored_columns(final)])
    people_paths = people.write(out.parent, fmt=out.suffix.lower().lstrip("."))
    fingerprints = {name: t["fingerprint"] for name, t in data.report.tables.items()}
    manifest = run_manifest(
        "score",
        cfg,
        fingerprints,
        output=str(out),
        bundle_path=str(bundle.path),
        bundle_hash=bundle.content_hash,
        rows=writer.rows,
        n_respondents=data.report.n_respondents,
        predicted_class_counts=dict(class_counts),
        unseen_categories=dict(unseen),
        out_of_range=dict(out_of_range),
        warnings=list(data.report.warnings),
        people_outputs={name: str(path) for name, path in people_paths.items()},
        timings=timer.seconds,
    )
    manifest_path = out.with_name("manifest.json")
    write_json(manifest, manifest_path)
    return ScoreResult(path=out, manifest_path=manifest_path, rows=writer.rows, manifest=manifest)
