"""Survey design against a planted truth: valid intervals from actively sampled answers, a uniform probe, a
planner whose half-width comes true, and the allocation's own guarantees (budget, caps, shape)."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.special import expit, softmax
from scipy.stats import ks_2samp

from cxpredict.errors import ConfigError
from cxpredict.estimation.design import (
    MODEL,
    PROBE,
    Allocator,
    answer_chance_slope,
    answer_variance,
    design_variance,
    plan_round,
    required_budget,
    shrink_answer_chance,
)
from cxpredict.estimation.estimators import class_contribution
from cxpredict.estimation.population import population_nps

REPLICATES = 300
N = 3000
BUDGET = 300


def world(seed: int):
    """Answers depend on x; the usual survey reaches few, an invitation is answered with q(x) (both MAR)."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(N, 2))
    proba = softmax(np.column_stack([1.5 * x[:, 0] - 0.3, np.zeros(N), -1.5 * x[:, 0] + 0.5 * x[:, 1]]), axis=1)
    cls = (rng.random(N)[:, None] > np.cumsum(proba, axis=1)).sum(axis=1)
    e = expit(-3.2 + 0.8 * x[:, 0])  # the usual survey: about 5%, detractor-prone customers more
    q = expit(-1.0 + 1.0 * x[:, 1])  # answering an invitation: about 30%, from 5% to 75%
    return rng, x, proba, cls, e, q


def active_rounds(seed: int, model_proba, rounds: int = 3, uniform: bool = False):
    """Run `rounds` invitation rounds planned with `model_proba`; returns (PopulationNps, truth, last plan)."""
    rng, x, proba, cls, e, q = world(seed)
    answered_round = np.where(rng.random(N) < e, 0, -1)
    design_probability = np.zeros(N)
    truth = 100 * class_contribution(cls).mean()
    m = model_proba(proba)
    plan = None
    for t in range(1, rounds + 1):
        eligible = np.flatnonzero(answered_round < 0)
        if uniform:
            pi = np.full(len(eligible), BUDGET / len(eligible))
            invited = rng.random(len(eligible)) < pi
        else:
            plan = plan_round(m[eligible], q[eligible], N, BUDGET, seed=seed, round_number=t)
            pi, invited = plan.probability, plan.invited
        answered = invited & (rng.random(len(eligible)) < q[eligible])
        who = eligible[answered]
        answered_round[who] = t
        design_probability[who] = pi[answered] * q[who]
    pop = population_nps(np.where(answered_round >= 0, cls, -1), m, e, answered_round=answered_round,
                         design_probability=design_probability, trim_quantile=1.0)
    return pop, truth, plan


def wrong_model(proba):
    return np.tile([0.5, 0.3, 0.2], (len(proba), 1))


@pytest.mark.parametrize("model", [lambda p: p, wrong_model], ids=["right_nps_model", "wrong_nps_model"])
def test_actively_sampled_answers_recover_the_planted_nps_with_a_valid_interval(model):
    """Design-based: unbiased and covering whatever the NPS model, because the inclusion probabilities are known."""
    errors, covered = [], []
    for seed in range(REPLICATES):
        pop, truth, _ = active_rounds(seed, model)
        errors.append(pop.estimate - truth)
        covered.append(pop.low <= truth <= pop.high)
    errors = np.array(errors)
    assert abs(errors.mean()) < 4 * errors.std(ddof=1) / np.sqrt(REPLICATES)
    assert 0.84 <= np.mean(covered) <= 0.96  # 90% nominal; +-4 binomial sd at 300 replicates is about +-0.07
    assert len(pop.channels) == 4 and abs(sum(c["weight"] for c in pop.channels) - 1) < 1e-9


def test_the_variance_optimal_design_is_narrower_than_uniform_at_equal_budget():
    widths = {arm: np.mean([(lambda p: p.high - p.low)(active_rounds(s, lambda p: p, uniform=arm)[0])
                            for s in range(40)]) for arm in (False, True)}
    assert widths[False] < widths[True]


def test_probe_share_is_a_uniform_sample_that_ignores_the_model():
    """KS test of the probe's covariate (and model uncertainty) against all eligible customers; the model-based
    part is checked the same way to show the test can fail."""
    rng, x, proba, *_, q = world(0)
    n = 200_000
    x = rng.normal(size=(n, 2))
    proba = softmax(np.column_stack([1.5 * x[:, 0], np.zeros(n), -1.5 * x[:, 0]]), axis=1)
    q = expit(-1.0 + x[:, 1])
    plan = plan_round(proba, q, n, 20_000, probe_share=0.2, seed=3)
    probe, model = plan.reason == PROBE, plan.reason == MODEL
    assert abs(probe.sum() - 0.2 * 20_000) < 5 * np.sqrt(0.2 * 20_000)
    tau = answer_variance(proba)
    for values in (x[:, 0], x[:, 1], tau):
        assert ks_2samp(values[probe], values).pvalue > 0.001
    assert ks_2samp(tau[model], tau).pvalue < 1e-6


def test_allocation_spends_the_budget_caps_at_one_and_follows_tau_over_sqrt_q():
    rng = np.random.default_rng(1)
    a = rng.lognormal(0, 1.5, 5000)
    alloc = Allocator(a, probe_share=0.2)
    pi = alloc.probabilities(1500)
    assert abs(pi.sum() - 1500) < 1e-6 and pi.max() <= 1 + 1e-12
    pi0 = alloc.probe(1500)
    assert pi.min() >= pi0 - 1e-12 and (pi == 1).sum() > 0  # heavy tail: some capped, the excess spread
    free = pi < 1
    ratio = (pi[free] - pi0) / a[free]
    assert np.allclose(ratio, ratio[0])  # uncapped: the probe plus a share proportional to tau / sqrt(q)
    assert np.allclose(Allocator(a, 1.0).probabilities(500), 0.1)  # all probe: uniform
    with pytest.raises(ConfigError):
        Allocator(a, 1.5)


def test_a_plan_that_promises_too_little_is_a_uniform_random_draw():
    """Where Var(d | x) and q barely differ, the model-based shape can only add risk: the round is all probe."""
    rng = np.random.default_rng(4)
    n = 20_000
    proba = softmax(np.column_stack([0.1 * rng.normal(size=n), np.zeros(n), np.zeros(n)]), axis=1)
    q = np.full(n, 0.2)
    plan = plan_round(proba, q, n, 2_000, seed=1)
    assert not plan.model_based and 0 <= plan.design_gain < 0.05
    assert set(np.unique(plan.reason[plan.invited])) == {PROBE}
    assert np.allclose(plan.probability, 0.1)
    assert "uniform" in plan.summary()["design"] and "random" in plan.summary()["design_text"]
    forced = plan_round(proba, q, n, 2_000, seed=1, min_design_gain=0.0)
    assert forced.model_based and (forced.reason == MODEL).any()
    need = required_budget(proba, q, n, 3.0)
    assert need["design"] == "uniform"


def test_the_promised_gain_is_the_variance_ratio_of_the_two_designs():
    rng, x, proba, cls, e, q = world(3)
    plan = plan_round(proba, q, N, BUDGET, seed=0)
    tau2 = answer_variance(proba)
    uniform = np.full(N, BUDGET / N)
    ratio = np.sum((1 / (plan.probability * q) - 1) * tau2) / np.sum((1 / (uniform * q) - 1) * tau2)
    assert plan.model_based and abs(plan.design_gain - (1 - np.sqrt(ratio))) < 1e-9
    assert required_budget(proba, q, N, 4.0)["design"] == "model-based"
    assert not plan_round(proba, q, N, BUDGET, min_design_gain=plan.design_gain + 0.01).model_based


def test_answer_chances_are_shrunk_by_how_well_they_predict_who_answered():
    """Calibrated chances keep their spread (slope near 1); chances that are noise around the truth shrink, and
    chances unrelated to who answers collapse to the rate (slope near 0)."""
    rng = np.random.default_rng(8)
    n = 40_000
    q = expit(rng.normal(-1.2, 0.8, n))
    answered = rng.random(n) < q
    noisy = expit(np.log(q / (1 - q)) + rng.normal(0, 1.0, n))
    unrelated = rng.permutation(q)
    slopes = {k: answer_chance_slope(answered, c) for k, c in (("calibrated", q), ("noisy", noisy),
                                                                 ("unrelated", unrelated))}
    se = 4 / np.sqrt(n) / q.std()  # about 4 standard errors of a least-squares slope
    assert abs(slopes["calibrated"] - 1) < se and slopes["unrelated"] < se and se < slopes["noisy"] < 0.8
    rate = answered.mean()
    assert np.allclose(shrink_answer_chance(noisy, rate, 0.0), rate)
    assert np.allclose(shrink_answer_chance(q, rate, 1.0), q)
    assert answer_chance_slope(answered, np.full(n, 0.3)) == 0.0


def test_an_over_confident_models_small_variances_are_lifted_by_the_residual_line():
    rng, x, proba, *_, q = world(0)
    line = {"intercept": 0.2, "slope": 0.5}
    tau2 = answer_variance(proba)
    assert np.allclose(design_variance(proba, line), np.clip(0.2 + 0.5 * tau2, 0, 1))
    assert np.array_equal(design_variance(proba, None), tau2)
    plain = plan_round(proba, q, N, BUDGET, min_design_gain=0.0)
    lifted = plan_round(proba, q, N, BUDGET, min_design_gain=0.0, residual_variance=line)
    sure = tau2 < np.quantile(tau2, 0.1)  # the customers the model is surest about get more of the budget
    assert lifted.probability[sure].mean() > plain.probability[sure].mean()
    assert lifted.design_gain < plain.design_gain


def test_draw_is_deterministic_for_a_seed_and_new_for_each_round():
    rng, x, proba, *_, q = world(0)
    first = plan_round(proba, q, N, BUDGET, seed=7, round_number=1)
    again = plan_round(proba, q, N, BUDGET, seed=7, round_number=1)
    later = plan_round(proba, q, N, BUDGET, seed=7, round_number=2)
    assert np.array_equal(first.invited, again.invited) and np.array_equal(first.reason, again.reason)
    assert not np.array_equal(first.invited, later.invited)


def test_planner_budget_meets_the_target_and_the_realised_half_width_matches():
    """The planned half-width of the planned budget comes true on average over simulated rounds."""
    rng, x, proba, cls, e, q = world(5)
    target = 4.0
    need = required_budget(proba, q, N, target)
    assert need["reachable"] and need["half_width_after"] <= target
    assert required_budget(proba, q, N, target)["invitations"] == need["invitations"]
    smaller = plan_round(proba, q, N, need["invitations"] - 1)
    assert smaller.half_width_after > target - 0.05
    realised = []
    for seed in range(60):
        plan = plan_round(proba, q, N, need["invitations"], seed=seed)
        r = np.random.default_rng(seed + 1000)
        cls_s = (r.random(N)[:, None] > np.cumsum(proba, axis=1)).sum(axis=1)
        answered = plan.invited & (r.random(N) < q)
        pop = population_nps(np.where(answered, cls_s, -1), proba, None, answered_round=np.where(answered, 1, -1),
                             design_probability=np.where(answered, plan.probability * q, 0.0))
        realised.append((pop.high - pop.low) / 2)
    assert abs(np.mean(realised) - need["half_width_after"]) / np.mean(realised) < 0.1


def test_segment_targets_raise_the_probabilities_inside_the_segment_until_its_target_is_met():
    rng, x, proba, cls, e, q = world(2)
    region = np.where(x[:, 1] > 1.0, "small", "large")
    plain = plan_round(proba, q, N, BUDGET, segments={"region": region})
    small = next(s for s in plain.segments if s.level == "small")
    target = 0.8 * small.half_width_after
    planned = plan_round(proba, q, N, BUDGET, segments={"region": region}, segment_targets={"region": target})
    small_after = next(s for s in planned.segments if s.level == "small")
    assert small_after.half_width_after <= target + 1e-6
    assert abs(planned.probability.sum() - BUDGET) < 1e-6  # still the budget: taken from the rest
    assert (planned.reason == "segment_target").any()
