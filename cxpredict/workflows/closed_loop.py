"""The demo's second round: simulated campaign results -> learn -> score again with the reviewed playbook.

Round 1 is the ordinary score (with control groups). Its assignment log meets the planted campaign truth
(synthetic/campaign.py) to give results; `learn` turns them into verdicts, a reviewed playbook and a bundle
with uplift models; round 2 scores the same customers with both (a new campaign ID, so new control groups).
`changes` says what moved: customers per strategy, work orders, retired segments, and how many churns the
actions of each round would prevent on the planted truth (known here, never on real data).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from cxpredict.config import Config
from cxpredict.io.bundle import Bundle, load_bundle
from cxpredict.io.outputs import write_csv
from cxpredict.io.people import load_scored
from cxpredict.synthetic.campaign import planted_itt_uplift, simulate_results
from cxpredict.synthetic.customers import SyntheticCX
from cxpredict.workflows.learn import LearnResult, learn
from cxpredict.workflows.score import ScoreResult, score


@dataclass
class SecondRound:
    results_path: Path
    learned: LearnResult
    scored: ScoreResult
    changes: pd.DataFrame  # strategy x round: customers, acted on, churns prevented (planted truth)

    def describe(self) -> str:
        """What the second round changed, for the demo's printout."""
        table = self.changes.pivot_table(index="strategy", columns="round", aggfunc="sum", fill_value=0,
                                         values=["acted_on", "churns_prevented_true"])
        verdicts = self.learned.verdicts[self.learned.verdicts["level"] == "strategy"]
        lines = ["campaign learning (round 1 -> round 2; churns prevented on the planted truth):", table.to_string(),
                 *[f"  {r.strategy:<12} {r.verdict:<13} {r.evidence}" for r in verdicts.itertuples()],
                 f"  retired for a segment: {', '.join(self.learned.summary.get('retired_segments', [])) or 'none'}",
                 f"reviewed playbook: {self.learned.paths['reviewed_playbook']}  "
                 f"(diff: {self.learned.paths['playbook_diff']})",
                 f"round 2 scored:    {self.scored.path}"]
        return "\n".join(lines)


def _round_table(scored: pd.DataFrame, data: SyntheticCX, label: str) -> pd.DataFrame:
    truth = data.truth.reindex(scored["customer_id"].astype("str"))
    served = (scored["group"].astype("str") == "treated") & ~scored["deferred"].astype(bool)
    rows = []
    for strategy, part in scored.groupby(scored["strategy"].astype("str")):
        sel = served[part.index].to_numpy()
        uplift = planted_itt_uplift(truth.iloc[part.index[sel]], strategy) if sel.any() else np.zeros(0)
        rows.append({"round": label, "strategy": strategy, "customers": len(part), "acted_on": int(sel.sum()),
                     "churns_prevented_true": round(float(uplift.sum()), 1)})
    return pd.DataFrame(rows)


def changes(first: Path, second: Path, data: SyntheticCX) -> pd.DataFrame:
    """Per strategy and round: customers, customers acted on, churns prevented on the planted truth."""
    return pd.concat([_round_table(load_scored(path), data, label)
                      for label, path in (("round 1", first), ("round 2", second))], ignore_index=True)


def second_round(cfg: Config, data: SyntheticCX, bundle: Bundle, first: ScoreResult, out: Path,
                 seed: int = 1) -> SecondRound:
    """Simulate round 1's results, learn from them, and score again with the reviewed playbook and new bundle."""
    assignments = Path(first.manifest["outputs"]["assignments"]["path"])
    log = load_scored(assignments)
    results_path = out / "campaign_results.csv"
    write_csv(simulate_results(data, log, seed=seed).results, results_path)
    learned = learn(cfg, bundle, results_path, assignments, out / "learn", data=None)
    reviewed = cfg.model_copy(deep=True)
    reviewed.strategy.playbook = str(learned.paths["reviewed_playbook"].resolve())
    reviewed.strategy.holdout.campaign_id = f"{cfg.name}-round-2"
    model = load_bundle(learned.bundle_path) if learned.bundle_path else bundle
    scored = score(reviewed, model, out / "round2" / first.path.name)
    return SecondRound(results_path=results_path, learned=learned, scored=scored,
                       changes=changes(first.path, scored.path, data))
