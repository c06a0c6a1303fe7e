"""`cxpredict demo`: the whole flow on synthetic data, from one function.

Generate the synthetic customers into the config's data.dir, train (the bundle registered as the pyfunc model),
score, and with two rounds simulate the campaign's results (planted effects), learn from them and score again
with the reviewed playbook and the uplift models (workflows/closed_loop.py). The HTML report is the command's
last step: it reads the run's files (analyst/), which a workflow does not import.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

from cxpredict.config import Config
from cxpredict.io.bundle import load_bundle
from cxpredict.io.run_log import log_score_outputs
from cxpredict.io.tracking import log_artifact, run_origin
from cxpredict.synthetic.customers import generate
from cxpredict.synthetic.tables import write_tables
from cxpredict.workflows.closed_loop import SecondRound, second_round
from cxpredict.workflows.pyfunc import log_trained_bundle
from cxpredict.workflows.score import ScoreResult, score
from cxpredict.workflows.train import TrainResult, train

log = logging.getLogger(__name__)

RESPONSE_RATE = 0.10  # the demo's survey: one customer in ten answers


@dataclass
class DemoResult:
    trained: TrainResult
    scored: ScoreResult
    second: SecondRound | None  # None with one round


def demo(cfg: Config, out: Path, customers: int = 20_000, two_rounds: bool = True, fmt: str = "csv") -> DemoResult:
    """Run the demo into `out` (model/, scored.<fmt> and the people files, the second round's folders); the
    tables go into the config's data.dir. Logs to the MLflow run the caller opened, if any."""
    data_dir = cfg.resolve(cfg.data.dir)
    tables = generate(n_customers=customers, seed=cfg.seed, response_rate=RESPONSE_RATE,
                      text="mixed" if cfg.text.active else None)
    write_tables(tables, data_dir)
    log.info("demo data: %d customers in %s", customers, data_dir)
    trained = train(cfg, out / "model")
    log_trained_bundle(trained.bundle_path, trained.metrics, register=cfg.tracking.registered_model)
    scored = score(cfg, load_bundle(trained.bundle_path), out / f"scored.{fmt}", fmt=fmt,
                   origin={"mlflow": run_origin(cfg)})
    log_score_outputs(scored.manifest, scored.manifest_path, scored.sample)
    second = None
    if two_rounds:  # simulated campaign results -> learn -> score with the reviewed playbook
        second = second_round(cfg, tables, load_bundle(trained.bundle_path), scored, out)
        log_artifact(second.learned.paths["reviewed_playbook"], "playbook")
    return DemoResult(trained, scored, second)
