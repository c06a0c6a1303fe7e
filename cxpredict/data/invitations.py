"""The invitation log (`data.invitations`): who was invited in which round, with which inclusion probability.

`cxpredict survey-plan` writes one log per round (estimation/design.py chooses, workflows/survey_plan.py
writes); training reads them back to learn who answers an invitation and to weight each answer by the design
(estimation/estimators.py, SURVEY DESIGN). The log is read in the default CSV dialect it is written in (comma,
UTF-8), whatever data.read says. Every problem names the file, the column, the rows and the fix.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from cxpredict.config import Config, ReadOptions
from cxpredict.codes import positions
from cxpredict.data.ids import clean_ids
from cxpredict.data.tables import read_table, rows_text
from cxpredict.errors import InputError

ROUND, PROBABILITY, REASON, EXPECTED = "round", "inclusion_probability", "reason", "expected_response"
LOG_READ = ReadOptions()  # the dialect io.outputs.write_csv writes


@dataclass
class Invitations:
    """Invitations aligned with the customers (the frame's index); `last_round` -1 for customers never invited."""

    last_round: np.ndarray  # the latest round each customer was invited in
    probability: np.ndarray  # their inclusion probability in that round (0 when never invited)
    rounds: dict[int, int]  # round -> invitations in it (customers of the data)
    sources: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    @property
    def invited(self) -> np.ndarray:
        return self.last_round > 0

    @property
    def next_round(self) -> int:
        return max(self.rounds, default=0) + 1

    def answered_round(self, responded: np.ndarray) -> np.ndarray:
        """0: answered the usual survey; t: answered the invitation of round t (the latest one: being re-invited
        means still silent then); -1: silent."""
        return np.where(responded, np.maximum(self.last_round, 0), -1)

    def summary(self, responded: np.ndarray) -> dict:
        answered = self.answered_round(responded)
        return {"files": self.sources, "rounds": {str(t): {"invited": n, "answered": int((answered == t).sum())}
                                                  for t, n in sorted(self.rounds.items())}}


def no_invitations(n: int) -> Invitations:
    return Invitations(last_round=np.full(n, -1), probability=np.zeros(n), rounds={})


def _log_frame(path: Path, key: str) -> pd.DataFrame:
    frame = read_table(path, LOG_READ, [key, ROUND, PROBABILITY], {key: "string"},
                       what="invitation log, data.invitations")
    frame[key] = clean_ids(frame[key], path, key, "invitation log", lambda _: None)
    rnd = pd.to_numeric(frame[ROUND], errors="coerce").astype("float64")
    bad = rnd.isna() | (rnd < 1) | (rnd != np.round(rnd))
    if bad.any():
        raise InputError(f"{path}: column {ROUND!r} must hold whole round numbers from 1 up; {int(bad.sum())} rows "
                         f"do not ({rows_text(path, np.flatnonzero(bad.to_numpy()))}, e.g. "
                         f"{frame[ROUND][bad].astype('str').iloc[0]!r}). Use the log `cxpredict survey-plan` wrote.")
    pi = pd.to_numeric(frame[PROBABILITY], errors="coerce").astype("float64")
    bad = ~((pi > 0) & (pi <= 1))
    if bad.any():
        raise InputError(f"{path}: column {PROBABILITY!r} must hold probabilities in (0, 1]; {int(bad.sum())} rows "
                         f"do not ({rows_text(path, np.flatnonzero(bad.to_numpy()))}, e.g. "
                         f"{frame[PROBABILITY][bad].astype('str').iloc[0]!r}). The design weights are 1 / this "
                         "probability: without it the answers of invited customers cannot be weighted.")
    return pd.DataFrame({"id": frame[key].to_numpy(), ROUND: rnd.astype("int64").to_numpy(),
                         PROBABILITY: pi.to_numpy(), "row": np.arange(len(frame))})


def load_invitations(cfg: Config, customers: pd.Index) -> Invitations:
    """The configured invitation logs aligned with `customers` (no logs configured: nobody was invited)."""
    paths = cfg.data.invitations
    paths = [] if paths is None else [paths] if isinstance(paths, str) else list(paths)
    if not paths:
        return no_invitations(len(customers))
    key = cfg.data.key
    parts = []
    for text in paths:
        path = cfg.data_path(text)
        part = _log_frame(path, key)
        part["path"] = str(path)
        parts.append(part)
    log = pd.concat(parts, ignore_index=True)
    repeated = log.duplicated(["id", ROUND], keep=False).to_numpy()
    if repeated.any():
        first = log[repeated].iloc[0]
        raise InputError(f"{first['path']}: customer {first['id']!r} is invited twice in round {first[ROUND]} "
                         f"({int(repeated.sum())} rows repeat a customer and round across {paths}). A round invites "
                         "a customer once: remove the copies, or give each round's log its own round number.")
    where = positions(log["id"].to_numpy(), customers)
    warnings = []
    for path, part in log.assign(known=where >= 0).groupby("path", sort=False):
        absent = part["id"][~part["known"]]
        if len(absent) == len(part):
            raise InputError(f"{path}: none of its {len(part)} invited customers is in the behaviour data (e.g. "
                             f"{list(absent.iloc[:3])}, key column '{key}'): is it the invitation log of this "
                             "project? Remove it from data.invitations or fix its IDs.")
        if len(absent):
            warnings.append(f"{path}: {len(absent)} invited customers are not in the behaviour data (e.g. "
                            f"{list(absent.iloc[:3])}); they are left out")
    log = log[where >= 0].assign(pos=where[where >= 0]).sort_values([ROUND, "row"])
    latest = log.drop_duplicates("pos", keep="last")
    last_round = np.full(len(customers), -1)
    probability = np.zeros(len(customers))
    last_round[latest["pos"].to_numpy()] = latest[ROUND].to_numpy()
    probability[latest["pos"].to_numpy()] = latest[PROBABILITY].to_numpy()
    rounds = {int(t): int(n) for t, n in log[ROUND].value_counts().sort_index().items()}
    return Invitations(last_round=last_round, probability=probability, rounds=rounds,
                       sources=[str(cfg.data_path(p)) for p in paths], warnings=warnings)
