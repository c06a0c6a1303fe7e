"""Who should get which action under capacity: rankings for one action, and a multi-action policy.

The multi-action policy maximises the expected net value sum(uplift x value - cost) of the customers it acts on:
every (customer, action) pair with a positive net value is a candidate; pairs are taken greedily from the largest
net value down, skipping customers who already have an action and actions whose capacity is used up. Greedy is
optimal without capacities and a good approximation with them (each step takes the best remaining pair); it is
exact and fast on millions of customers, where an assignment solver is not. Candidates can be restricted to the
customers an action was tested on (`eligible`): an uplift model says nothing about people it never saw.
"""

from __future__ import annotations

import numba
import numpy as np


def top_k(score: np.ndarray, k: int | None, eligible: np.ndarray | None = None) -> np.ndarray:
    """Boolean mask of the `k` highest scores among the eligible rows (all eligible rows when k is None)."""
    score = np.asarray(score, dtype=float)
    ok = np.ones(len(score), dtype=bool) if eligible is None else np.asarray(eligible, dtype=bool)
    rows = np.flatnonzero(ok & ~np.isnan(score))
    chosen = np.zeros(len(score), dtype=bool)
    if k is None or k >= len(rows):
        chosen[rows] = True
        return chosen
    chosen[rows[np.argsort(-score[rows], kind="stable")[:k]]] = True
    return chosen


def greedy_policy(net_value: np.ndarray, capacity: list[int | None], eligible: np.ndarray | None = None) -> np.ndarray:
    """Action index per customer (-1: none) maximising the summed net value (n x actions) under capacities.

    Exactly the pair-by-pair greedy, computed fast: an unlimited action never runs out, so a customer's search
    ends at their best unlimited action; only the capacity-limited pairs ranked above it compete, in one loop."""
    net = np.asarray(net_value, dtype=float).copy()
    n, m = net.shape
    if eligible is not None:
        net[~np.asarray(eligible, dtype=bool)] = -np.inf
    net[np.isnan(net) | (net <= 0)] = -np.inf
    limited = np.array([c is not None for c in capacity], dtype=bool)
    unlimited_net = np.where(limited[None, :], -np.inf, net)
    fallback = np.where(np.isfinite(unlimited_net.max(axis=1)) if m else False, unlimited_net.argmax(axis=1), -1)
    best_free = unlimited_net.max(axis=1) if m else np.full(n, -np.inf)
    contest = np.where(limited[None, :] & (net > best_free[:, None]), net, -np.inf).ravel()
    flat = np.flatnonzero(np.isfinite(contest))
    order = flat[np.argsort(-contest[flat], kind="stable")]
    left = np.array([0 if c is None else c for c in capacity], dtype=np.int64)
    choice = np.full(n, -1, dtype=np.int64)
    _take_in_order(order.astype(np.int64), m, left, choice)
    return np.where(choice >= 0, choice, fallback)


@numba.njit(cache=True, nogil=True)
def _take_in_order(order, m, left, choice):
    """The greedy steps: each (customer, action) cell of `order` in turn, taken when the customer has no action yet
    and the action has capacity left (`left`, `choice` updated in place). Compiled: each step depends on the
    previous ones, and a Python loop over a million cells cost more than the ranking."""
    remaining = 0  # capacity still to give: none left ends the search
    for j in range(left.shape[0]):
        remaining += max(left[j], 0)
    for cell in order:
        if remaining == 0:
            break
        i, j = cell // m, cell % m
        if choice[i] < 0 and left[j] > 0:
            choice[i] = j
            left[j] -= 1
            remaining -= 1
