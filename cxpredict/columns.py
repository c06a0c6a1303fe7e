"""The scored file's columns: names, order and meaning, one source for the README, the report and the playbook checks."""

from __future__ import annotations

# --------------------------------------------------------------------------------------------- column dictionary
COLUMN_DOCS: dict[str, str] = {
    "customer_id": "Customer key, as in the input data.",
    "is_respondent": "True when the customer answered the survey.",
    "observed_score": "The customer's own survey score (empty for silent customers).",
    "observed_class": "detractor / passive / promoter from the observed score (empty for silent customers).",
    "predicted_score": "Expected survey score predicted from behaviour (also for respondents).",
    "p_detractor": "Predicted probability that the customer is a detractor.",
    "p_passive": "Predicted probability that the customer is a passive.",
    "p_promoter": "Predicted probability that the customer is a promoter.",
    "predicted_class": "Predicted class (thresholds tuned, not simply the largest probability).",
    "driver_1": "Strongest driver of dissatisfaction for this customer (a driver group or feature).",
    "driver_2": "Second driver.",
    "driver_3": "Third driver.",
    "driver_1_impact": "How much driver_1 raises the probability of being a detractor (0.05 = 5 points).",
    "driver_2_impact": "Same for driver_2.",
    "driver_3_impact": "Same for driver_3.",
    "reason_1": "Most likely stated reason (reason code) for dissatisfaction.",
    "reason_2": "Second most likely stated reason.",
    "reason_1_prob": "Probability of reason_1.",
    "reason_2_prob": "Probability of reason_2.",
    "churn_prob": "Calibrated probability of churning within the churn horizon (churn.horizon_days).",
    "value": "Customer value: revenue column x churn.value.months (a simple, undiscounted CLV proxy).",
    "value_at_risk": "churn_prob x value: the value expected to be lost if nobody acts.",
    "risk_band": "Churn-risk band from churn.risk_bands (default low < 0.2 <= medium < 0.5 <= high).",
    "value_band": "Value band from strategy.value_bands (empty when value bands are not configured).",
    "segment": "class/risk/value, e.g. detractor/high-risk/high-value; class per strategy.class_source.",
    "strategy": "retention, win-back, activation, conversion, upsell, referral or no-action.",
    "action": "The suggested action, in words.",
    "channel": "Channel for the action (phone, email, app, ...).",
    "owner_team": "Team that owns the action.",
    "sla_hours": "Hours within which the action should happen (empty: no SLA).",
    "expected_uplift": "Predicted churn reduction from this customer's action (uplift models of `learn`).",
    "priority": "Who comes first within an action: value at risk by default; expected uplift x value - cost "
                "with priority.method expected_uplift (higher is more urgent).",
    "deferred": "True when the action's daily capacity is used up by higher-priority customers.",
    "rule": "Name of the playbook rule that chose the action (for audit).",
    "group": "treated, or control: kept out of the action at random to measure it (strategy.holdout); "
             "empty for no-action rules.",
}


def columns_markdown() -> str:
    """The column dictionary as a Markdown table, for the README and the HTML report."""
    lines = ["| column | meaning |", "|---|---|"]
    lines += [f"| `{name}` | {text} |" for name, text in COLUMN_DOCS.items()]
    return "\n".join(lines) + "\n"


def scored_column_order(columns: list[str]) -> list[str]:
    """Documented columns in documented order (drivers/reasons beyond the third grouped), then any others."""
    def rank(col: str) -> tuple[int, str]:
        if col in COLUMN_DOCS:
            return list(COLUMN_DOCS).index(col), ""
        for prefix in ("driver_", "reason_"):
            if col.startswith(prefix):
                return list(COLUMN_DOCS).index(f"{prefix}1_{'impact' if prefix == 'driver_' else 'prob'}"), col
        return len(COLUMN_DOCS), col
    return sorted(columns, key=rank)
