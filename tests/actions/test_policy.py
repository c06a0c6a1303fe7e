"""The multi-action policy: greedy by net value under capacities, equal to the plain pair-by-pair greedy."""

from __future__ import annotations

import numpy as np

from cxpredict.actions.policy import greedy_policy, top_k


def _reference(net: np.ndarray, capacity: list) -> np.ndarray:
    n, m = net.shape
    left = [np.inf if c is None else c for c in capacity]
    choice = np.full(n, -1)
    for cell in np.argsort(-net.ravel(), kind="stable"):
        i, j = divmod(int(cell), m)
        if net[i, j] > 0 and choice[i] < 0 and left[j] > 0:
            choice[i], left[j] = j, left[j] - 1
    return choice


def test_fast_greedy_equals_the_pair_by_pair_greedy():
    rng = np.random.default_rng(0)
    for seed in range(20):
        net = np.random.default_rng(seed).normal(0, 1, (300, 4))
        capacity = [int(rng.integers(0, 80)), None, int(rng.integers(0, 80)), None]
        np.testing.assert_array_equal(greedy_policy(net, capacity), _reference(net, capacity))


def test_capacity_and_eligibility_are_respected():
    net = np.array([[5.0, 1.0], [4.0, 3.0], [3.0, -1.0]])
    choice = greedy_policy(net, [1, None], eligible=np.array([[True, True], [True, True], [False, True]]))
    assert choice.tolist() == [0, 1, -1]  # one slot for action 0; customer 2 is eligible only for a losing action
    assert top_k(np.array([3.0, np.nan, 5.0, 1.0]), 2).tolist() == [True, False, True, False]
