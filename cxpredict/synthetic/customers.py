"""Synthetic CX data with a planted truth: the embedded demo data and the yardstick for every model.

On real data nobody knows a silent customer's score, the population NPS or why a detractor is unhappy; here
all are planted, so tests can assert that models recover them. Vectorised numpy, one seeded stream.

- Problems are sparse (zero-inflated counts), so most detractors have ONE dominant problem (n=200k: 56% have
  a top contribution below -1 point with a runner-up under half of it; 19% are detractors by noise alone).
- Latent satisfaction = BASE + sum of group contributions f_g(x); f_g reads only its group's features as the
  data layer builds them (e.g. tickets of the 90 days up to `as_of`), times a segment weight (network 2x for
  mobile, delivery barely for mobile, price more on monthly contracts). Unrecorded ages and charges act through
  their hidden true value. `true_top_driver` = the group with the most negative f_g - mean(f_g).
- Answer = clip(floor(latent + logistic noise(scale 0.75) + 0.5), 0, 10) (ordered logit; 32% detractors, 38%
  passives, 30% promoters). Spearman(expected_score, true_score) = 0.73 (n=200k, seeds 0-2: 0.728-0.731) is
  the ceiling for any model against the true scores, so a test threshold near 0.5 leaves room for the error of
  a model fitted on a few thousand answers.
- Response depends on observed behaviour only (MAR): recent tickets/orders trigger surveys; older, long-tenure
  and web customers answer more. Respondents' NPS is 9-10 points below the true NPS; weighting on behaviour can
  fix that. `answer_dependent_response` (log-odds per 2.5 answer points; MNAR, not fixable that way): 0.3 puts
  respondents ~6 points above the truth, 1.0 ~38 above.
- `signal` scales every customer's deviation from the average contribution (1: as above; 0.3: a weak signal;
  0: the NEGATIVE CONTROL, the answer is pure noise around one constant and nothing in behaviour predicts it,
  while response still depends on behaviour; the contributions are then 0 and `true_top_driver` means nothing).
  The average latent level, hence roughly the class mix, stays.
- `scale` reports the 0-10 answer on another survey scale (`SCALES`): "csat" 1-5 in bands 0-2, 3-4, 5-6, 7-8,
  9-10 (with the CSAT cuts detractor <= 3 and promoter 5 the classes equal the NPS classes, the points are
  coarser); "binary" satisfied (1) when the answer is 7 or more, else 0 (the NPS detractors; no passives).
  Answer-dependent response reads the 0-10 answer whatever the scale.
- Stated reasons follow the most negative group (often also the second), plus noise; promoters mostly give none.
- Churn: satisfaction (noise included), contract, tenure, usage decline, payments; 20% per 90 days, 42% of
  detractors vs 4% of promoters; the top 5% by true churn_prob churn 4.2x as often as average.

No event falls on a window boundary (as_of, 30 or 90 days before), so inclusive and exclusive window ends agree.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from cxpredict.config import CLASSES, Scale
from cxpredict.errors import ConfigError
from cxpredict.metrics import nps_from_scores, score_to_class
from cxpredict.synthetic import behaviour, planted
from cxpredict.synthetic.behaviour import CHANNELS, CONTRACTS, PLANS, REGIONS, customer_ids, dates, take
from cxpredict.synthetic.planted import BASE, DRIVER_GROUPS, NOISE_SCALE, slug
from cxpredict.synthetic import text as synthetic_text
from cxpredict.synthetic.text import (
    comment_index,
    comment_texts,
    reason_keys,
    reason_labels,
)


AS_OF = "2026-10-31"  # fixed for every seed so configs can name it
TABLES = ("customers", "usage", "billing", "tickets", "orders", "survey", "outcomes")
NPS_SCALE = Scale()  # 0-10, detractor <= 6, promoter >= 9
# survey scales the 0-10 answer can be reported on: (the scale's config, its point for each answer 0..10)
SCALES: dict[str, tuple[Scale, np.ndarray]] = {
    "nps": (NPS_SCALE, np.arange(11)),
    "csat": (Scale(min=1, max=5, detractor_max=3, promoter_min=5), np.array([1, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5])),
    "binary": (Scale(min=0, max=1, detractor_max=0, promoter_min=1), np.array([0] * 7 + [1] * 4)),
}
ORPHAN_SHARE = 0.005  # survey answers whose customer is missing from the behaviour tables


@dataclass
class SyntheticCX:
    tables: dict[str, pd.DataFrame]
    truth: pd.DataFrame  # index customer_id, one row per customer
    true_population_nps: float
    driver_groups: list[dict[str, Any]]
    as_of: str
    params: dict[str, Any] = field(default_factory=dict)  # the generate() arguments
    text_truth: dict[str, np.ndarray] = field(default_factory=dict)  # planted topic per ticket note (text=...)
    scale: Scale = field(default_factory=Scale)  # the survey scale of `true_score` and the survey table

    def summary(self) -> dict[str, Any]:
        """Headline numbers of the planted truth (written to truth.json)."""
        t = self.truth
        resp = t["responded"].to_numpy()
        survey_ids = pa.array(self.tables["survey"]["customer_id"])
        known = pc.sum(pc.is_in(survey_ids, value_set=pa.array(t.index))).as_py() or 0
        detractors = t.loc[t["true_class"] == CLASSES[0], "true_top_driver"]
        return {
            **self.params, "as_of": self.as_of, "n_customers": len(t), "n_respondents": int(resp.sum()),
            "orphan_respondents": len(survey_ids) - int(known),
            "true_population_nps": self.true_population_nps,
            "respondent_nps": nps_from_scores(t["true_score"].to_numpy()[resp], self.scale),
            "class_mix": {c: round(float((t["true_class"] == c).mean()), 4) for c in CLASSES},
            "churn_rate": float(t["churned"].mean()),
            "spearman_expected_vs_true": float(t["expected_score"].corr(t["true_score"], method="spearman")),
            "detractor_top_drivers": detractors.value_counts(normalize=True).round(4).to_dict(),
        }


def generate(n_customers: int = 20_000, seed: int = 0, response_rate: float = 0.10,
             answer_dependent_response: float = 0.0, churn_horizon_days: int = 90, signal: float = 1.0,
             scale: str = "nps", text: str | None = None, text_signal: float = 1.0) -> SyntheticCX:
    """The seven CX tables and the planted truth for `n_customers` customers (deterministic per seed).

    `response_rate`: expected share who answer (an intercept is solved for it). `answer_dependent_response`:
    log-odds of answering per 2.5 points of the customer's own 0-10 answer (> 0: unhappy customers answer less).
    `churn_horizon_days`: the outcome window after `as_of` (constant hazard, 20% per 90 days).
    `signal` (>= 0): factor on how much behaviour moves satisfaction (0: answers independent of behaviour).
    `scale`: "nps", "csat" or "binary" (`SCALES`). Neither changes the random stream: with the same seed the
    behaviour (and, without answer-dependent response, who answers) is the same.
    `text` ("en", "zh" or "mixed"): comments and ticket notes in that language (text.py), with a hidden
    text-only driver scaled by `text_signal` (0: the negative control); None keeps the tables as they were.
    """
    _check_arguments(n_customers, response_rate, answer_dependent_response, churn_horizon_days, signal, scale, text,
                     text_signal)
    survey_scale, points = SCALES[scale]
    rng, n, as_of = np.random.default_rng(seed), n_customers, np.datetime64(AS_OF, "D")
    c = behaviour.customers(rng, n)
    p = behaviour.problems(rng, c)
    x = behaviour.usage_billing(rng, c, p)
    tickets, ticket_agg = behaviour.tickets(rng, p, as_of)
    orders, order_agg = behaviour.orders(rng, c, p, as_of)
    x |= ticket_agg | order_agg

    f = planted.contributions(c, x)
    deviation = f - f.mean(axis=0)
    centred = signal * deviation
    latent = BASE + f.sum(axis=1) + (signal - 1.0) * deviation.sum(axis=1)  # signal 1: exactly BASE + sum f
    if text:  # its own random stream: without text the tables are exactly as before
        text_rng = np.random.default_rng([seed, 16])
        ticket_owner = tickets["owner"].to_numpy()
        ticket_recent = (as_of - tickets["opened_at"].to_numpy(dtype="datetime64[D]")) < np.timedelta64(90, "D")
        hidden = synthetic_text.hidden_issue(text_rng, ticket_owner, ticket_recent, n)
        latent = latent + text_signal * synthetic_text.staff_effect(hidden)
    satisfaction = latent + rng.logistic(0.0, NOISE_SCALE, n)
    answer = np.clip(np.floor(satisfaction + 0.5), 0, 10).astype(np.int64)  # on the 0-10 scale
    true_score = points[answer]
    true_class = score_to_class(true_score, survey_scale)  # 0 detractor, 1 passive, 2 promoter
    p_respond = planted.response_probability(c, x, answer, response_rate, answer_dependent_response)
    responded = rng.random(n) < p_respond
    churn_prob = planted.churn_probability(c, x, satisfaction, churn_horizon_days)
    churned = rng.random(n) < churn_prob

    n_orphans = max(1, round(ORPHAN_SHARE * int(responded.sum())))
    # the last n_orphans ids are absent from the behaviour tables
    all_ids = customer_ids(np.arange(1, n + n_orphans + 1), max(7, len(str(n + n_orphans))))
    tables = _tables(rng, all_ids, n, c, x, tickets, orders, as_of, true_score, true_class, centred, responded,
                     churned, rng.integers(1, churn_horizon_days + 1, n))
    text_truth = synthetic_text.add_text(tables, text_rng, text, ticket_owner, ticket_recent, p["support"], hidden,
                                         n, survey_scale) if text else {}
    names = [g["name"] for g in DRIVER_GROUPS]
    top, two = np.argmin(centred, axis=1), np.partition(centred, 1, axis=1)
    truth = pd.DataFrame(
        {"plan": take(PLANS, c["plan"]), "contract": take(CONTRACTS, c["contract"]),
         "channel": take(CHANNELS, c["channel"]),
         **{f"contrib_{slug(g)}": centred[:, i] for i, g in enumerate(names)},
         "true_top_driver": take(names, top),
         "true_top_driver_actionable": np.array([g["actionable"] for g in DRIVER_GROUPS])[top],
         "true_top_driver_margin": two[:, 1] - two[:, 0],
         "latent": latent, "expected_score": planted.expected_score(latent, points), "true_score": true_score,
         "true_class": take(CLASSES, true_class), "p_respond": p_respond, "responded": responded,
         "churn_prob": churn_prob, "churned": churned.astype(np.int64),
         **{k: x[k] for k in (*ticket_agg, *order_agg)}, **({"text_issue": hidden} if text else {})},
        index=pd.Index(take(all_ids, np.arange(n)), name="customer_id"),
    )
    params = {"seed": seed, "n_customers": n, "response_rate": response_rate,
              "answer_dependent_response": answer_dependent_response, "churn_horizon_days": churn_horizon_days,
              "signal": signal, "scale": scale, **({"text": text, "text_signal": text_signal} if text else {})}
    return SyntheticCX(tables=tables, truth=truth, true_population_nps=nps_from_scores(true_score, survey_scale),
                       driver_groups=[dict(g, features=list(g["features"])) for g in DRIVER_GROUPS],
                       as_of=AS_OF, params=params, scale=survey_scale, text_truth=text_truth)



def _check_arguments(n_customers: int, response_rate: float, answer_dependent_response: float,
                     churn_horizon_days: int, signal: float, scale: str, text: str | None, text_signal: float) -> None:
    """generate()'s arguments, each refused with its allowed values (exit 2 from `cxpredict generate`)."""
    if n_customers < 10:
        raise ConfigError(f"n_customers must be at least 10, got {n_customers}")
    if not 0.0 < response_rate < 1.0:
        raise ConfigError(f"response_rate must be a share strictly between 0 and 1 (e.g. 0.1), got {response_rate}")
    if not np.isfinite(answer_dependent_response):
        raise ConfigError(f"answer_dependent_response must be a finite number, got {answer_dependent_response}")
    if churn_horizon_days < 1:
        raise ConfigError(f"churn_horizon_days must be at least 1, got {churn_horizon_days}")
    if not (np.isfinite(signal) and signal >= 0):
        raise ConfigError(f"signal must be a finite number >= 0 (1: default, 0: answers ignore behaviour), "
                          f"got {signal}")
    if scale not in SCALES:
        raise ConfigError(f"scale must be one of {sorted(SCALES)}, got {scale!r}")
    if text is not None and text not in synthetic_text.TEXT_MODES:
        raise ConfigError(f"text must be one of {list(synthetic_text.TEXT_MODES)} or None, got {text!r}")
    if not (np.isfinite(text_signal) and text_signal >= 0):
        raise ConfigError(f"text_signal must be a finite number >= 0, got {text_signal}")

def _tables(rng, all_ids, n, c, x, tickets, orders, as_of, true_score, true_class, centred, responded,
            churned, churn_days) -> dict[str, pd.DataFrame]:
    age = pd.array(c["age"], dtype="Int64")
    age[c["age_missing"]] = pd.NA
    customers = pd.DataFrame({
        "customer_id": take(all_ids, np.arange(n)), "plan": take(PLANS, c["plan"]),
        "contract": take(CONTRACTS, c["contract"]), "channel": take(CHANNELS, c["channel"]),
        "region": take(REGIONS, c["region"]), "age": age, "tenure_months": c["tenure"],
        "monthly_charges": np.where(c["charges_missing"], np.nan, c["charges"])})
    # the other per-customer tables come in their own row order: joins must go by key
    rows = rng.permutation(n)
    usage = pd.DataFrame({"customer_id": take(all_ids, rows), **{k: x[k][rows] for k in (
        "usage_gb_30d", "usage_trend", "dropped_calls_30d", "network_incidents_90d", "outages_90d")}})
    rows = rng.permutation(n)
    billing = pd.DataFrame({"customer_id": take(all_ids, rows), **{k: x[k][rows] for k in (
        "billing_errors_90d", "bill_shock_pct", "late_payments_12m")},
        "autopay": take(["no", "yes"], x["autopay"][rows].astype(np.int64))})
    for events in (tickets, orders):
        events.insert(0, "customer_id", take(all_ids, events.pop("owner").to_numpy()))

    who = np.flatnonzero(responded)
    reason_key, lead = reason_keys(rng, centred[who], true_class[who], [g["theme"] for g in DRIVER_GROUPS])
    n_orphans = len(all_ids) - n
    no_text = np.full(n_orphans, -1)
    survey = pd.DataFrame({
        "customer_id": take(all_ids, np.concatenate([who, np.arange(n, n + n_orphans)])),
        "score": np.concatenate([true_score[who], rng.choice(true_score[who], n_orphans) if len(who)
                                 else rng.integers(0, 11, n_orphans)]),
        "answered_at": dates(as_of, rng.integers(1, 61, len(who) + n_orphans)),
        "reasons": take(reason_labels(), np.concatenate([reason_key, no_text])),
        "comment": take(comment_texts(), np.concatenate([comment_index(rng, lead), no_text]))})
    survey = survey.take(rng.permutation(len(survey))).reset_index(drop=True)
    outcomes = pd.DataFrame({"customer_id": take(all_ids, np.arange(n)), "churned": churned.astype(np.int64),
                             "churned_at": dates(as_of, -churn_days, missing=~churned)})
    return {"customers": customers, "usage": usage, "billing": billing, "tickets": tickets, "orders": orders,
            "survey": survey, "outcomes": outcomes}
