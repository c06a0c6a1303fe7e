"""Randomised control groups at scoring time, and the assignment log that campaign learning joins results to.

Why this shape:
- A control customer is chosen by a hash of (campaign ID, customer ID), not by a random generator: the same
  customer gets the same group on every rerun of the same campaign, on any machine, batch order or batch size,
  and anyone can re-derive the assignment from the log's two keys. Assignment ignores every covariate, so the
  propensity is a known design constant (per rule) and learning never has to estimate it.
- Control customers keep their would-be rule, action and priority (`group = control`) so treated and control
  customers are described by the same columns; they never reach work orders (io/people.py).
- Capacity is settled BEFORE groups, over all customers (controls included), so `deferred` does not depend on
  the group and "served" treated customers have exchangeable "would-be served" controls. The price is that
  `share` of each capacity stays unused: that is the cost of measuring.
- A small rule would get too few controls to measure anything, so each rule gets at least `min_per_rule`
  controls (never more than half the rule): the customers with the smallest hash values, a superset of the
  share-based ones. That needs every row of the rule, so groups are settled after the last batch, like capacity.
- Rules whose strategy is `no-action` have nothing to withhold: no group, not in the log.
"""

from __future__ import annotations

import hashlib
from datetime import date

import numpy as np
import pandas as pd

from cxpredict.actions.playbook import Playbook
from cxpredict.codes import code_labels, label_codes
from cxpredict.config import HoldoutConfig

TREATED, CONTROL = "treated", "control"
GROUPS = (TREATED, CONTROL)
NO_ACTION = "no-action"
# model outputs recorded at assignment time: pre-treatment covariates for effects, targeting and uplift models
SNAPSHOT_COLUMNS = ("segment", "risk_band", "predicted_score", "p_detractor", "p_promoter", "churn_prob", "value")
ASSIGNMENT_COLUMNS = ("customer_id", "campaign_id", "rule", "strategy", "action", "group", "priority", "deferred",
                      *SNAPSHOT_COLUMNS, "assigned_at")


def assignment_date(as_of: str | None) -> str:
    """The date assignments are made for: data.as_of (so reruns write identical logs), else today."""
    return as_of or date.today().isoformat()


def default_campaign_id(holdout: HoldoutConfig, name: str, as_of: str | None) -> str:
    """`strategy.holdout.campaign_id`, else `<config name>-<data.as_of or today>`."""
    return holdout.campaign_id or f"{name}-{assignment_date(as_of)}"


def hash_unit(customer_ids, campaign_id: str) -> np.ndarray:
    """A uniform number in [0, 1) per customer from blake2b(campaign_id, customer_id): stable everywhere."""
    salted = hashlib.blake2b(campaign_id.encode("utf-8") + b"\x00", digest_size=8)
    digests = []
    for cid in customer_ids:  # the salted state copied per customer: the salt is hashed once, the digest the same
        h = salted.copy()
        h.update(str(cid).encode("utf-8"))
        digests.append(h.digest())
    # as int.from_bytes(d, "big") / 2**64
    return np.frombuffer(b"".join(digests), dtype=">u8").astype(np.float64) / 2.0**64


def control_mask(unit: np.ndarray, rule_codes: np.ndarray, eligible: np.ndarray, share: float,
                 min_per_rule: int) -> np.ndarray:
    """True for control customers: hash value below `share`, topped up per rule to `min_per_rule` (at most half
    the rule) with the next-smallest hash values. `eligible[code]` says whether a rule can have controls."""
    control = np.zeros(len(unit), dtype=bool)
    if share <= 0 or not len(unit):
        return control
    for code in np.unique(rule_codes):
        if code < 0 or not eligible[code]:
            continue
        rows = np.flatnonzero(rule_codes == code)
        k = max(int((unit[rows] < share).sum()), min(min_per_rule, len(rows) // 2))
        control[rows[np.argsort(unit[rows], kind="stable")[:k]]] = True
    return control


def _smallest(units: np.ndarray, rows: np.ndarray, k: int) -> np.ndarray:
    """Positions of the `k` smallest (unit, row) pairs in that order (ties: earlier row first); only the values up
    to the k-th smallest are sorted."""
    if len(units) > k > 0:
        candidates = np.flatnonzero(units <= np.partition(units, k - 1)[k - 1])  # with every tie at the k-th
        return candidates[np.lexsort((rows[candidates], units[candidates]))][:k]
    return np.lexsort((rows, units))[:k]


class ControlGroups:
    """Groups over a population scored in batches: `add` each batch (in order), then `assign` them back in the
    same order; the first `assign` settles the per-rule minimum over all rows.

    Memory stays flat in the rows: per row one bit (hash value below `share`), per rule its count and the
    `min_per_rule` smallest (hash value, row) pairs, the only candidates for the minimum's top-up."""

    def __init__(self, playbook: Playbook | None, holdout: HoldoutConfig, campaign_id: str):
        self.playbook, self.holdout, self.campaign_id = playbook, holdout, campaign_id
        self.names = [r.name for r in playbook.rules] if playbook is not None else []
        self.eligible = np.array([r.strategy != NO_ACTION for r in playbook.rules]) if playbook is not None else None
        self._below: list[tuple[np.ndarray, int]] = []  # per batch: packed bits "hash value < share", length
        self._rule_rows = np.zeros(len(self.names), dtype=np.int64)
        self._rule_below = np.zeros(len(self.names), dtype=np.int64)
        self._smallest = {code: (np.zeros(0), np.zeros(0, dtype=np.int64)) for code in range(len(self.names))}
        self._topped: np.ndarray | None = None  # rows (over the run) the per-rule minimum adds
        self._added = self._offset = 0

    @property
    def active(self) -> bool:
        return self.playbook is not None

    def _acting(self, acted: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
        """(rule code per row, whether the row's rule has an action)."""
        codes = label_codes(acted["rule"], self.names)
        return codes, np.where(codes >= 0, self.eligible[np.maximum(codes, 0)], False)

    def add(self, acted: pd.DataFrame) -> None:
        if not self.active:
            return
        codes, acting = self._acting(acted)
        units = np.full(len(acted), np.nan)  # only customers with an action can be controls: only theirs are read
        units[acting] = hash_unit(acted["customer_id"].astype("str").to_numpy()[acting].tolist(), self.campaign_id)
        below = units < self.holdout.share
        self._below.append((np.packbits(below), len(acted)))
        rows = np.arange(self._added, self._added + len(acted), dtype=np.int64)
        for code in np.unique(codes[acting]):
            hit = acting & (codes == code)
            self._rule_rows[code] += hit.sum()
            self._rule_below[code] += (below & hit).sum()
            kept_units, kept_rows = self._smallest[code]
            units_, rows_ = np.concatenate([kept_units, units[hit]]), np.concatenate([kept_rows, rows[hit]])
            first = _smallest(units_, rows_, self.holdout.min_per_rule)
            self._smallest[code] = units_[first], rows_[first]
        self._added += len(acted)

    def _settle(self) -> np.ndarray:
        """Rows the per-rule minimum makes controls beyond the share (control_mask's top-up, over all rows)."""
        topped = [np.zeros(0, dtype=np.int64)]
        if self.holdout.share > 0:
            for code, (_, rows) in self._smallest.items():
                k = max(int(self._rule_below[code]),
                        min(self.holdout.min_per_rule, int(self._rule_rows[code]) // 2))
                topped.append(rows[:k])  # the k smallest values: the share-based ones and the top-up
        return np.sort(np.concatenate(topped))

    def assign(self, batch: pd.DataFrame) -> pd.DataFrame:
        """The batch with `group` (treated / control; empty for no-action rules)."""
        if not self.active:
            return batch
        if self._topped is None:
            self._topped = self._settle()
        packed, n = self._below[0]
        if n != len(batch):
            raise ValueError(f"ControlGroups.assign: a batch of {len(batch)} rows where {n} were added; assign "
                             "the batches in the order they were added")
        self._below.pop(0)
        below = np.unpackbits(packed, count=n).astype(bool) & (self.holdout.share > 0)
        rows = np.arange(self._offset, self._offset + n, dtype=np.int64)
        self._offset += n
        _, acting = self._acting(batch)
        group = np.where(acting, np.where(below | np.isin(rows, self._topped), 0, 1), -1)
        out = batch.copy(deep=False)
        out["group"] = code_labels(group, [CONTROL, TREATED])
        return out


def assignment_rows(batch: pd.DataFrame, campaign_id: str, assigned_at: str) -> pd.DataFrame:
    """The assignment-log rows of a batch with groups: customers whose rule has an action (either group)."""
    rows = batch[batch["group"].notna()] if "group" in batch.columns else batch.iloc[:0]
    out = pd.DataFrame({"customer_id": rows["customer_id"].astype("str"),
                        "campaign_id": pd.Series(campaign_id, index=rows.index, dtype="str")}, index=rows.index)
    for col in ASSIGNMENT_COLUMNS[2:-1]:
        out[col] = rows[col] if col in rows.columns else np.nan
    out["assigned_at"] = pd.Series(assigned_at, index=rows.index, dtype="str")
    return out.reset_index(drop=True)
