"""Whom to invite next: inclusion probabilities, Poisson draws and the sample-size planner.

The estimator that uses the invitations, and its variance, are derived in estimation/estimators.py (SURVEY
DESIGN); this module chooses the design that makes that variance small, and predicts it.

Why this shape:
- Variance-optimal inclusion probabilities. A round with inclusion probabilities pi over the still-silent
  customers E, each answering an invitation with q(x), adds an estimate of variance
      V_next = sum over E of (1 / (pi q) - 1) * tau^2 / N^2,   tau^2 = E[(d - m)^2 | x] ~ Var(d | x),
  with Var(d | x) = P(promoter) + P(detractor) - (P(promoter) - P(detractor))^2 under the model. Minimising it
  for a budget sum pi = B gives pi proportional to tau / sqrt(q) (active statistical inference, Zrnic and
  Candes, ICML 2024): invite where the model is unsure, and more where answers are rare, because each answer
  there teaches more per invitation spent, capped at 1 with the excess spread over the others (water-filling).
- A probe share: a fixed part of the budget spread uniformly over E. One uniform number U per customer decides
  both: U < pi_probe is the probe (a uniform Poisson sample that never depends on the model: an unbiased audit
  set on its own), pi_probe <= U < pi is the model-based part, so the whole draw is Bernoulli(pi) as the
  estimator's variance assumes. The probe share also keeps every pi away from 0, which bounds the weights.
- Poisson draws (independent Bernoulli(pi)), not a fixed-size scheme: the variance formula then holds exactly;
  the number of invitations is the budget on average (its standard deviation is sqrt(sum pi (1 - pi))).
- Draws are seeded by (seed, round), so each round's draw is new and a rerun is identical.
- Segment targets (a half-width per segment column, e.g. +-3 points for every region) raise pi inside a segment
  (same shape, a larger multiplier) until its planned half-width meets the target, before the rest of the budget
  is spread; the part of pi that only the target asked for is reported as "segment_target".
- Model-based only where it pays. The shape above is optimal for the TRUE Var(d | x) and q; with estimates it
  can be wider than inviting at random (answers spent on customers the model only believes are uncertain or
  hard to reach). The gain it promises is 1 - sqrt(V_next(plan) / V_next(uniform)) at the same budget; it is
  large only where the model is sure of many customers' class (or answer chances differ a lot), and small on
  typical NPS data where Var(d | x) barely differs between customers. Below survey_design.min_design_gain
  (default MIN_DESIGN_GAIN, the narrowing an estimated shape must promise before its risk is worth taking) the
  whole budget is the uniform probe: a plain random sample, simpler to audit and as narrow.
- Answer chances shrunk by their calibration slope. The invited-response model is learned from a few hundred
  invitations; its cross-fitted chances spread wider than the truth, and a design built on them would spend
  invitations on customers who only look hard to reach (and promise a gain that is not there). The design uses
  rate + slope * (q - rate), slope the least-squares slope of the invited's answers on their cross-fitted
  chances, clipped to [0, 1] (0: the model knows nothing beyond the rate; 1: it is calibrated).
- Var(d | x) as the answers showed it. A confident model's Var(d | x) is near 0 for many customers; where it
  is over-confident those get little more than the probe, and a surprise answer there carries a large weight
  (heavy tails: a wide realised interval, or one that undercovers). The design uses the least-squares line of
  the respondents' squared cross-fitted residuals on the model's Var(d | x) (estimators.residual_variance_fit:
  intercept + slope * Var, clipped to [0, 1]) when training fitted one.
- The planner: the half-width after the round combines today's interval with the round's by inverse variance
  (as the estimator does), half = z * sqrt(1 / (1 / V_now + 1 / V_next)); the budget a target half-width needs is
  the smallest one whose planned half-width meets it, with the answers it should bring (sum pi q).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
from scipy.stats import norm

from cxpredict.config import SurveyDesignConfig
from cxpredict.errors import ConfigError, InputError
from cxpredict.metrics import calibration_slope

PROBE, MODEL, SEGMENT_TARGET = "probe", "model", "segment_target"
MIN_DESIGN_GAIN = SurveyDesignConfig.model_fields["min_design_gain"].default  # the module doc
MIN_RESPONSE = 1e-3  # expected response chances below this are taken as this (the weights stay bounded)
BISECTION_STEPS = 60


def answer_variance(proba: np.ndarray) -> np.ndarray:
    """Var(d | x) of d = +1 promoter, 0 passive, -1 detractor under class probabilities (n, 3)."""
    proba = np.asarray(proba, dtype=float)
    m = proba[:, 2] - proba[:, 0]
    return np.clip(proba[:, 2] + proba[:, 0] - m ** 2, 0.0, 1.0)


def answer_chance_slope(answered: np.ndarray, chance: np.ndarray) -> float:
    """The calibration slope of the invited's answers (0/1) on their cross-fitted answer chances, in [0, 1]."""
    return min(1.0, calibration_slope(answered, chance))


def shrink_answer_chance(chance: np.ndarray, rate: float, slope: float) -> np.ndarray:
    """rate + slope * (chance - rate): the answer chance the design uses (module doc)."""
    return np.clip(rate + slope * (np.asarray(chance, dtype=float) - rate), MIN_RESPONSE, 1.0)


def design_variance(proba: np.ndarray, residual_variance: dict[str, float] | None = None) -> np.ndarray:
    """tau^2 the design uses: the model's Var(d | x), through the residual variance line when there is one."""
    tau2 = answer_variance(proba)
    if not residual_variance:
        return tau2
    return np.clip(residual_variance["intercept"] + residual_variance["slope"] * tau2, 0.0, 1.0)


def z_value(level: float) -> float:
    return float(norm.ppf(0.5 + level / 2))


def next_round_variance(pi: np.ndarray, q: np.ndarray, tau2: np.ndarray, n_customers: int) -> float:
    """V_next in points^2 (module doc) of a round with inclusion probabilities pi over the eligible customers."""
    with np.errstate(divide="ignore"):
        terms = np.where(pi > 0, (1 / (pi * q) - 1) * tau2, np.where(tau2 > 0, np.inf, 0.0))
    return float(1e4 * terms.sum() / n_customers ** 2)


def combined_half_width(v_now: float | None, v_next: float, z: float) -> float:
    """Half-width (points) after combining today's estimate (variance v_now; None: none) with the next round's."""
    precision = (0.0 if v_now is None or not np.isfinite(v_now) or v_now <= 0 else 1 / v_now) + \
        (0.0 if not np.isfinite(v_next) or v_next <= 0 else 1 / v_next)
    if v_next == 0 and np.isfinite(v_next):
        return 0.0
    return float(z / np.sqrt(precision)) if precision > 0 else float("inf")


class Allocator:
    """Water-filled inclusion probabilities pi = min(1, pi_probe + c * a) summing to a budget, for any budget.

    a = tau / sqrt(q) (the module doc); sorted once, so each budget costs one pass (the planner tries many)."""

    def __init__(self, a: np.ndarray, probe_share: float):
        a = np.asarray(a, dtype=float)
        if not 0 <= probe_share <= 1:
            raise ConfigError(f"survey.probe_share must be between 0 and 1, got {probe_share}")
        self.n, self.probe_share = len(a), probe_share
        top = a.max() if len(a) else 0.0
        a = np.ones_like(a) if top <= 0 else np.maximum(a, 1e-9 * top)  # nobody is worth exactly nothing
        self.a = a
        self.order = np.argsort(-a, kind="stable")
        self.sorted = a[self.order]
        self.tail = self.sorted[::-1].cumsum()[::-1]  # tail[k] = sum of a over ranks k.. (the uncapped)

    def probe(self, budget: float) -> float:
        return self.probe_share * min(budget, self.n) / self.n if self.n else 0.0

    def solve(self, budget: float) -> tuple[np.ndarray, float]:
        """(pi of every customer in input order, the multiplier c) for an expected `budget` of invitations."""
        n = self.n
        if budget >= n:
            return np.ones(n), float("inf")
        pi0 = self.probe(budget)
        k = np.arange(n)
        c = (budget - k - (n - k) * pi0) / self.tail  # the multiplier if the k largest are capped at 1
        fits = pi0 + c * self.sorted <= 1 + 1e-12
        first = int(np.argmax(fits))  # fewest capped customers that make the rest fit under 1
        out_sorted = np.minimum(1.0, pi0 + c[first] * self.sorted)
        out_sorted[:first] = 1.0
        out = np.empty(n)
        out[self.order] = out_sorted
        return out, float(c[first])

    def probabilities(self, budget: float) -> np.ndarray:
        return self.solve(budget)[0]

    def with_multiplier(self, c: float, budget: float) -> np.ndarray:
        """pi = min(1, pi_probe + c * a): the shape with a given multiplier (segment targets)."""
        return np.minimum(1.0, self.probe(budget) + c * self.a)


@dataclass
class Design:
    """The allocation a round uses, whether it is model-based, and the gain the model-based shape promised."""

    alloc: Allocator
    model_based: bool
    gain: float  # 1 - sqrt(V_next(model-based) / V_next(uniform)) at the budget it was judged at

    def describe(self, min_gain: float) -> str:
        if self.model_based:
            return (f"model-based: this round's interval is expected {self.gain:.1%} narrower than with the same "
                    "number of invitations sent at random")
        return (f"uniform: a model-based plan would narrow this round's interval by only {self.gain:.1%} against "
                f"inviting at random (survey_design.min_design_gain {min_gain:.0%}), so invitations are drawn "
                "at random (reason probe)")


def choose_design(tau2: np.ndarray, q: np.ndarray, n_customers: int, budget: float, probe_share: float,
                  min_gain: float) -> Design:
    """The model-based allocation when its promised gain at `budget` reaches `min_gain`, else uniform."""
    model = Allocator(np.sqrt(tau2 / q), probe_share)
    n = len(q)
    v_uniform = next_round_variance(np.full(n, min(1.0, budget / n)) if n else np.zeros(0), q, tau2, n_customers)
    v_model = next_round_variance(model.probabilities(budget), q, tau2, n_customers)
    gain = float(1 - np.sqrt(v_model / v_uniform)) if v_uniform > 0 and np.isfinite(v_uniform) else 0.0
    if gain >= min_gain and probe_share < 1:
        return Design(model, True, gain)
    return Design(Allocator(np.ones(n), 1.0), False, gain)


@dataclass
class SegmentPlan:
    column: str
    level: str
    n_customers: int
    n_eligible: int
    target_half_width: float | None
    half_width_now: float | None
    half_width_after: float
    expected_invitations: float
    expected_answers: float
    reachable: bool = True

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


@dataclass
class SurveyPlan:
    """The design of one round over the eligible customers (arrays in their order) and what it should bring."""

    probability: np.ndarray  # inclusion probability pi
    invited: np.ndarray  # the Poisson draw
    reason: np.ndarray  # probe / model / segment_target for the invited, "" for the others
    expected_response: np.ndarray  # q
    answer_variance: np.ndarray  # tau^2
    probe_probability: float
    budget: float
    n_customers: int
    level: float
    half_width_now: float | None
    half_width_after: float
    expected_answers: float
    model_based: bool = True
    design_gain: float = 0.0  # the module doc's promised gain of the model-based shape
    design_text: str = ""  # why the round is model-based or uniform (Design.describe)
    segments: list[SegmentPlan] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def summary(self) -> dict[str, Any]:
        counts = {r: int((self.reason == r).sum()) for r in (PROBE, MODEL, SEGMENT_TARGET)}
        return {
            "budget": self.budget, "n_customers": self.n_customers, "n_eligible": int(len(self.probability)),
            "n_invited": int(self.invited.sum()), "invited_by_reason": counts,
            "invited_sd": float(np.sqrt(np.sum(self.probability * (1 - self.probability)))),
            "probe_probability": self.probe_probability, "max_probability": float(self.probability.max(initial=0)),
            "expected_answers": self.expected_answers,
            "design": "model-based" if self.model_based else "uniform", "design_gain": self.design_gain,
            "design_text": self.design_text,
            "expected_response_rate": self.expected_answers / self.budget if self.budget else None,
            "interval": self.level, "half_width_now": self.half_width_now, "half_width_after": self.half_width_after,
            "segments": [s.to_dict() for s in self.segments], "notes": self.notes,
        }


def _multiplier_for(target_var: float, alloc: Allocator, members: np.ndarray, q: np.ndarray, tau2: np.ndarray,
                    n_group: int, budget: float, c_low: float) -> tuple[float, bool]:
    """Smallest multiplier c >= c_low whose pi meets a group's next-round variance target (False: unreachable
    even when every eligible member is invited)."""
    def var(c: float) -> float:
        return next_round_variance(alloc.with_multiplier(c, budget)[members], q[members], tau2[members], n_group)

    if var(c_low) <= target_var:
        return c_low, True
    a_min = alloc.a[members].min()
    c_high = (1 - alloc.probe(budget)) / a_min if a_min > 0 else np.inf
    if not np.isfinite(c_high) or var(c_high) > target_var:
        return c_high, False
    lo, hi = c_low, c_high
    for _ in range(BISECTION_STEPS):
        mid = (lo + hi) / 2
        lo, hi = (mid, hi) if var(mid) > target_var else (lo, mid)
    return hi, True


def _spend(alloc: Allocator, floors: np.ndarray, budget: float) -> tuple[np.ndarray, np.ndarray]:
    """(pi, its part before the segment floors): pi = max(floor, min(1, pi_probe + c a)) summing to `budget`
    (the floors shrink together when they alone exceed it)."""
    pi, c = alloc.solve(budget)
    if not (floors > pi).any():
        return pi, pi
    pi0 = alloc.probe(budget)

    def total(c: float) -> float:
        return float(np.maximum(floors, np.minimum(1.0, pi0 + c * alloc.a)).sum())

    if total(0.0) >= budget:  # the targets alone need more: the budget is kept, the floors shrink together
        lo, hi = 0.0, 1.0
        for _ in range(BISECTION_STEPS):
            mid = (lo + hi) / 2
            lo, hi = (mid, hi) if np.maximum(pi0, mid * floors).sum() < budget else (lo, mid)
        return np.maximum(pi0, lo * floors), np.full(alloc.n, pi0)
    lo, hi = 0.0, c
    for _ in range(BISECTION_STEPS):
        mid = (lo + hi) / 2
        lo, hi = (mid, hi) if total(mid) < budget else (lo, mid)
    base = np.minimum(1.0, pi0 + lo * alloc.a)
    return np.maximum(floors, base), base


def plan_round(proba: np.ndarray, q: np.ndarray, n_customers: int, budget: float, *, probe_share: float = 0.2,
               level: float = 0.90, var_now: float | None = None, segments: dict[str, np.ndarray] | None = None,
               segment_targets: dict[str, float] | None = None, segment_var_now: dict[tuple[str, str], float] |
               None = None, segment_sizes: dict[tuple[str, str], int] | None = None,
               seed: int = 0, round_number: int = 1, min_design_gain: float = MIN_DESIGN_GAIN,
               residual_variance: dict[str, float] | None = None) -> SurveyPlan:
    """One round's design over the eligible (still silent) customers: proba (n, 3) and q (n,) are theirs.

    var_now: today's variance of the population NPS (points^2; None: unknown). segments: column -> labels of the
    eligible customers; segment_targets: column -> half-width target; segment_var_now / segment_sizes: today's
    variance and the customer count of each (column, level). residual_variance: the training's residual variance
    line (module doc; None: the model's Var(d | x) as it is)."""
    n = len(q)
    if n == 0:
        raise InputError("survey plan: every customer has answered already; there is nobody left to invite")
    if not budget > 0:
        raise ConfigError(f"survey plan: the budget must be a positive number of invitations, got {budget}")
    budget = float(min(budget, n))
    q = np.clip(np.asarray(q, dtype=float), MIN_RESPONSE, 1.0)
    tau2 = design_variance(proba, residual_variance)
    design = choose_design(tau2, q, n_customers, budget, probe_share, min_design_gain)
    alloc = design.alloc
    z = z_value(level)
    notes: list[str] = []
    floors = np.zeros(n)
    segments, segment_targets = segments or {}, segment_targets or {}
    segment_var_now, segment_sizes = segment_var_now or {}, segment_sizes or {}
    unreachable: set[tuple[str, str]] = set()
    for column, target in segment_targets.items():
        if column not in segments:
            raise ConfigError(f"survey.segment_targets names {column!r}, which is not a segment column of the plan")
        for level_name in np.unique(segments[column]):
            members = segments[column] == level_name
            key = (column, str(level_name))
            v_now = segment_var_now.get(key)
            need = (z / target) ** 2 - (0.0 if v_now is None or not v_now > 0 else 1 / v_now)
            if need <= 0:
                continue
            c, ok = _multiplier_for(1 / need, alloc, members, q, tau2, segment_sizes.get(key, int(members.sum())),
                                    budget, 0.0)
            floors[members] = np.maximum(floors[members], alloc.with_multiplier(c, budget)[members])
            if not ok:
                unreachable.add(key)
    if floors.sum() > budget:
        notes.append(f"The segment targets need about {floors.sum():.0f} invitations, more than the budget of "
                     f"{budget:.0f}: every target is met only in part.")
    for column, level_name in sorted(unreachable):
        notes.append(f"Segment {column}={level_name}: its target is out of reach in one round even when every "
                     "silent customer in it is invited.")
    pi, base = _spend(alloc, floors, budget)
    pi0 = alloc.probe(budget)
    u = np.random.default_rng([seed, round_number]).random(n)
    invited = u < pi
    reason = np.where(~invited, "", np.where(u < pi0, PROBE, np.where(u < base, MODEL, SEGMENT_TARGET)))
    v_next = next_round_variance(pi, q, tau2, n_customers)
    seg_rows = [_segment_row(column, str(level_name), segments[column] == level_name, pi, q, tau2, z,
                             segment_targets.get(column), segment_var_now, segment_sizes,
                             (column, str(level_name)) not in unreachable)
                for column in segments for level_name in np.unique(segments[column])]
    return SurveyPlan(probability=pi, invited=invited, reason=reason, expected_response=q, answer_variance=tau2,
                      probe_probability=pi0, budget=budget, n_customers=n_customers, level=level,
                      half_width_now=None if var_now is None else float(z * np.sqrt(var_now)),
                      half_width_after=combined_half_width(var_now, v_next, z),
                      expected_answers=float(np.sum(pi * q)), model_based=design.model_based,
                      design_gain=design.gain, design_text=design.describe(min_design_gain), segments=seg_rows,
                      notes=notes)


def _segment_row(column, level_name, members, pi, q, tau2, z, target, var_now, sizes, reachable) -> SegmentPlan:
    key = (column, level_name)
    n_group = sizes.get(key, int(members.sum()))
    v_now = var_now.get(key)
    v_next = next_round_variance(pi[members], q[members], tau2[members], n_group)
    return SegmentPlan(column=column, level=level_name, n_customers=n_group, n_eligible=int(members.sum()),
                       target_half_width=target, half_width_now=None if v_now is None else float(z * np.sqrt(v_now)),
                       half_width_after=combined_half_width(v_now, v_next, z),
                       expected_invitations=float(pi[members].sum()),
                       expected_answers=float(np.sum(pi[members] * q[members])), reachable=reachable)


# --------------------------------------------------------------------------------------------- sample size
def required_budget(proba: np.ndarray, q: np.ndarray, n_customers: int, target_half_width: float, *,
                    probe_share: float = 0.2, level: float = 0.90, var_now: float | None = None,
                    members: np.ndarray | None = None, min_design_gain: float = MIN_DESIGN_GAIN,
                    residual_variance: dict[str, float] | None = None) -> dict[str, Any]:
    """Invitations (and the answers they should bring) for a +-`target_half_width` interval after the next round.

    The allocation is the plan's own shape; `members` (a mask of the eligible) restricts the count to one segment
    (then n_customers and var_now are the segment's); model-based or uniform as plan_round would judge at the
    budget the model-based shape needs. 'reachable' is False when inviting every eligible customer
    still falls short (then the figures are those of inviting everyone)."""
    if not target_half_width > 0:
        raise ConfigError(f"--target-halfwidth must be a positive number of points, got {target_half_width}")
    q = np.clip(np.asarray(q, dtype=float), MIN_RESPONSE, 1.0)
    tau2 = design_variance(proba, residual_variance)
    if members is not None:
        q, tau2 = q[members], tau2[members]
    z = z_value(level)
    need = (z / target_half_width) ** 2 - (0.0 if var_now is None or not var_now > 0 else 1 / var_now)
    out: dict[str, Any] = {"target_half_width": target_half_width, "interval": level,
                           "half_width_now": None if var_now is None else float(z * np.sqrt(var_now))}
    if need <= 0:
        return out | {"invitations": 0, "answers": 0.0, "reachable": True, "half_width_after": out["half_width_now"]}
    target_var = 1 / need
    n = len(q)
    if n == 0:
        return out | {"invitations": 0, "answers": 0.0, "reachable": False, "half_width_after": out["half_width_now"]}
    model_budget = _smallest_budget(Allocator(np.sqrt(tau2 / q), probe_share), q, tau2, n_customers, target_var)
    design = choose_design(tau2, q, n_customers, model_budget, probe_share, min_design_gain)
    alloc = design.alloc
    out["design"] = "model-based" if design.model_based else "uniform"
    if next_round_variance(np.ones(n), q, tau2, n_customers) > target_var:
        pi = np.ones(n)
        return out | {"invitations": n, "answers": float(q.sum()), "reachable": False,
                      "half_width_after": combined_half_width(var_now, next_round_variance(pi, q, tau2, n_customers),
                                                              z)}
    hi = _smallest_budget(alloc, q, tau2, n_customers, target_var)
    pi = alloc.probabilities(hi)
    return out | {"invitations": int(hi), "answers": float(np.sum(pi * q)), "reachable": True,
                  "expected_response_rate": float(np.sum(pi * q) / hi),
                  "half_width_after": combined_half_width(var_now, next_round_variance(pi, q, tau2, n_customers), z)}


def _smallest_budget(alloc: Allocator, q: np.ndarray, tau2: np.ndarray, n_customers: int, target_var: float) -> int:
    """The smallest whole budget whose round meets `target_var` with this allocation (all eligible if none)."""
    def var(budget: float) -> float:
        return next_round_variance(alloc.probabilities(budget), q, tau2, n_customers)

    n = len(q)
    lo, hi = 0, n  # var(hi) meets the target (or nothing does); find the smallest whole budget that does
    if var(n) > target_var:
        return n
    while hi - lo > 1:
        mid = (lo + hi) // 2
        lo, hi = (mid, hi) if var(mid) > target_var else (lo, mid)
    return hi
