"""Control groups: deterministic from (campaign, customer), balanced at the configured share, per-rule minimum."""

from __future__ import annotations

import numpy as np
import pandas as pd
import hashlib

from scipy.stats import binomtest

from cxpredict.actions.holdout import ControlGroups, _smallest, assignment_rows, control_mask, hash_unit
from cxpredict.actions.playbook import playbook_from_dict
from cxpredict.config import HoldoutConfig

BOOK = playbook_from_dict({"rules": [
    {"name": "big", "when": "churn_prob >= 0.5", "strategy": "retention", "action": "Call"},
    {"name": "small", "when": "churn_prob >= 0.45", "strategy": "upsell", "action": "Offer"},
    {"name": "default", "strategy": "no-action", "action": "No action"}]})


def _acted(n: int, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    rule = rng.choice(["big", "small", "default"], size=n, p=[0.6, 0.01, 0.39])
    return pd.DataFrame({"customer_id": [f"C{i:06d}" for i in range(n)], "rule": rule})


def _groups(frame: pd.DataFrame, holdout: HoldoutConfig, campaign: str, batch: int) -> pd.Series:
    groups = ControlGroups(BOOK, holdout, campaign)
    parts = [frame.iloc[i:i + batch] for i in range(0, len(frame), batch)]
    for part in parts:
        groups.add(part)
    return pd.concat([groups.assign(part)["group"] for part in parts])


def test_assignment_is_deterministic_whatever_the_batches_and_differs_between_campaigns():
    frame = _acted(20_000)
    holdout = HoldoutConfig(share=0.1, min_per_rule=30)
    one, two = _groups(frame, holdout, "spring", 20_000), _groups(frame, holdout, "spring", 777)
    assert one.equals(two)
    assert not one.equals(_groups(frame, holdout, "autumn", 20_000))
    np.testing.assert_array_equal(hash_unit(["C1", "C2"], "x"), hash_unit(["C1", "C2"], "x"))


def test_control_share_is_balanced_and_independent_of_the_customer():
    frame = _acted(20_000)
    group = _groups(frame, HoldoutConfig(share=0.1, min_per_rule=0), "c1", 5_000)
    big = group[(frame["rule"] == "big").to_numpy()]
    n_control = int((big == "control").sum())
    assert binomtest(n_control, len(big), 0.1).pvalue > 1e-3  # a fair 10% draw, not a biased one
    assert group[(frame["rule"] == "default").to_numpy()].isna().all()  # no-action rules have no group
    # independent of the ID's order: controls spread evenly over the first and second half of the IDs
    halves = np.array_split((big == "control").to_numpy(), 2)
    assert abs(halves[0].mean() - halves[1].mean()) < 0.02


def test_small_rules_get_the_minimum_and_share_zero_turns_it_off():
    frame = _acted(20_000)
    group = _groups(frame, HoldoutConfig(share=0.1, min_per_rule=30), "c1", 20_000)
    small = group[(frame["rule"] == "small").to_numpy()]
    assert (small == "control").sum() == min(30, len(small) // 2)
    off = _groups(frame, HoldoutConfig(share=0.0), "c1", 20_000)
    assert (off.dropna() == "treated").all()
    unit = hash_unit(frame["customer_id"], "c1")
    codes = pd.Index(["big", "small", "default"]).get_indexer(frame["rule"])
    base = control_mask(unit, codes, np.array([True, True, False]), 0.1, 0)
    topped = control_mask(unit, codes, np.array([True, True, False]), 0.1, 30)
    assert (topped | ~base).all()  # the minimum only adds controls: share-based ones stay controls


def test_assignment_log_holds_acting_customers_with_their_group():
    frame = _acted(2_000).assign(strategy="retention", action="Call", priority=1.0, deferred=False, segment="s",
                                 churn_prob=0.5, value=10.0)
    groups = ControlGroups(BOOK, HoldoutConfig(share=0.2), "c9")
    groups.add(frame)
    rows = assignment_rows(groups.assign(frame), "c9", "2026-10-31")
    assert len(rows) == int((frame["rule"] != "default").sum())
    assert set(rows["group"]) == {"treated", "control"} and (rows["campaign_id"] == "c9").all()


def test_hash_unit_is_the_documented_blake2b_number_and_only_acting_customers_are_hashed():
    """The vectorised form equals blake2b(campaign NUL customer) read as a big-endian integer / 2**64, and
    hashing only the customers whose rule has an action gives the groups that hashing everyone gives."""
    ids = ["C1", "Ä-2", "", "C000123"]
    expected = [int.from_bytes(hashlib.blake2b(b"x\x00" + i.encode("utf-8"), digest_size=8).digest(), "big") / 2.0**64
                for i in ids]
    assert hash_unit(ids, "x").tolist() == expected
    frame = _acted(5_000, seed=3)
    holdout = HoldoutConfig(share=0.1, min_per_rule=30)
    codes = pd.Index(["big", "small", "default"]).get_indexer(frame["rule"])
    everyone = control_mask(hash_unit(frame["customer_id"], "c2"), codes, np.array([True, True, False]), 0.1, 30)
    group = _groups(frame, holdout, "c2", 1_234)
    acting = (frame["rule"] != "default").to_numpy()
    assert ((group == "control").to_numpy() == (everyone & acting)).all() and group[~acting].isna().all()


def test_groups_keep_a_bit_per_row_and_a_bounded_top_up_list_yet_equal_one_pass_over_everyone():
    """Streaming keeps one bit per row and at most min_per_rule candidates per rule, and still draws exactly the
    controls of control_mask over all rows (share-based ones plus each small rule's minimum)."""
    frame = _acted(30_000, seed=5)
    holdout = HoldoutConfig(share=0.05, min_per_rule=40)
    groups = ControlGroups(BOOK, holdout, "c7")
    parts = [frame.iloc[i:i + 999] for i in range(0, len(frame), 999)]
    for part in parts:
        groups.add(part)
    assert all(len(rows) <= 40 for _, rows in groups._smallest.values())
    assert sum(packed.nbytes for packed, _ in groups._below) <= len(frame) / 8 + len(parts)
    group = pd.concat([groups.assign(part)["group"] for part in parts])
    codes = pd.Index(["big", "small", "default"]).get_indexer(frame["rule"])
    everyone = control_mask(hash_unit(frame["customer_id"], "c7"), codes, np.array([True, True, False]), 0.05, 40)
    assert ((group == "control").to_numpy() == everyone).all()
    small = (frame["rule"] == "small").to_numpy()
    assert (group[small] == "control").sum() == min(40, small.sum() // 2)  # the small rule is topped up


def test_smallest_pairs_are_a_full_sort_cut_at_k_ties_included():
    """The per-rule candidates: the k smallest (hash value, row) pairs, ties to the earlier row, as a full sort."""
    rng = np.random.default_rng(5)
    for trial in range(500):
        n, k = int(rng.integers(0, 60)), int(rng.integers(0, 40))
        units = rng.integers(0, 5, n).astype(float) if trial % 2 else rng.random(n)  # many ties, or none
        rows = rng.permutation(n).astype(np.int64)
        assert _smallest(units, rows, k).tolist() == np.lexsort((rows, units))[:k].tolist()
