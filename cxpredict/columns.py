"""The column dictionary: name, readable header, kind and meaning of every column of the files people read
(scored file, work orders, segment summary, the key-driver tables). One source for the README table, `columns.csv`
beside every scored file, the report's dictionary, the xlsx headers and number formats, the CSV rounding and the playbook checks.

`kind` decides how a column is written: `prob`/`share` at 3 decimals (a percentage in xlsx), `money` at 2
(the configured currency in xlsx), `int`/`score`/`hours` as integers, `date`/`datetime` as ISO dates.
`needs` names the model a column comes from: `nps` (a config with data.survey) or `churn` (with data.outcomes);
a churn-only or survey-only run leaves those columns out, and a playbook rule may not name them (playbook.py).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

KINDS = ("id", "text", "bool", "int", "score", "hours", "number", "prob", "share", "money", "points", "date",
         "datetime")


@dataclass(frozen=True)
class Column:
    name: str
    header: str  # what a spreadsheet user sees
    kind: str
    meaning: str
    files: tuple[str, ...] = ("scored",)
    needs: str | None = None  # "nps" or "churn": the stage that makes it (None: every run has it)


NEEDS = ("nps", "churn")
NEEDS_TABLE = {"nps": "survey", "churn": "outcomes"}  # the input table (data.<table>) each stage learns from


def _c(name: str, header: str, kind: str, meaning: str, files: str = "scored", needs: str | None = None) -> Column:
    if kind not in KINDS:
        raise ValueError(f"column {name}: unknown kind {kind!r}; one of {KINDS}")
    if needs not in (None, *NEEDS):
        raise ValueError(f"column {name}: unknown needs {needs!r}; one of {NEEDS}")
    return Column(name, header, kind, meaning, tuple(files.split()), needs)


_ALL = [
    _c("customer_id", "Customer ID", "id", "Customer key, as in the input data.", "scored work_orders"),
    _c("as_of", "Data as of", "date", "The day the behaviour data describes (data.as_of or --as-of): event windows "
       "end on it and due dates count from it.", "scored"),
    _c("scored_on", "Scored on", "date", "The day this file was scored.", "scored"),
    _c("to_contact", "Contact now", "bool", "True when the customer has a work order within this run's capacity: "
       "the ready filter for 'whom to call or mail this week' (the same rows as work_orders).", "scored"),
    _c("due_at", "Due by", "datetime", "When the work order is due: the as-of date plus the action's SLA hours "
       "(empty: no SLA).", "work_orders"),
    _c("is_respondent", "Answered survey", "bool", "True when the customer answered the survey.", needs="nps"),
    _c("observed_score", "Survey score", "score", "The customer's own survey score (empty for silent customers).",
       needs="nps"),
    _c("observed_class", "Survey class", "text",
       "detractor / passive / promoter from the observed score (empty for silent customers).", needs="nps"),
    _c("stated_reasons", "Stated reasons", "text", "The reasons the respondent gave in the survey, in their own "
       "codes (empty for silent customers and respondents who gave none).", "scored work_orders", needs="nps"),
    _c("predicted_score", "Predicted score", "number",
       "Expected survey score predicted from behaviour (also for respondents).", needs="nps"),
    _c("p_detractor", "Detractor probability", "prob", "Predicted probability that the customer is a detractor.",
       needs="nps"),
    _c("p_passive", "Passive probability", "prob", "Predicted probability that the customer is a passive.",
       needs="nps"),
    _c("p_promoter", "Promoter probability", "prob", "Predicted probability that the customer is a promoter.",
       needs="nps"),
    _c("predicted_class", "Predicted class", "text",
       "Predicted class (thresholds tuned, not simply the largest probability). Counting it gives the predicted "
       "class count, not the detractor share: that is manifest.json nps.expected_shares (the report's expected "
       "shares).", needs="nps"),
    _c("class_reliable", "Class reliable", "bool",
       "False when the NPS model ranked held-out respondents no better than chance (its detractor AUC interval "
       "includes 0.5): predicted classes are then guesses, and the population NPS is the weighted respondents' NPS.",
       needs="nps"),
    _c("driver_1", "Driver 1", "text",
       "Strongest driver of dissatisfaction for this customer (a driver group or feature). Empty when the "
       "predicted class is outside drivers.subset or no driver pushes by drivers.min_impact, and with "
       "drivers.rows: actioned (work_orders) when the playbook gives the customer no action (no work order) "
       "whatever the drivers.", needs="nps"),
    _c("driver_2", "Driver 2", "text", "Second driver.", needs="nps"),
    _c("driver_3", "Driver 3", "text", "Third driver.", needs="nps"),
    _c("driver_1_impact", "Driver 1 impact", "prob",
       "How much driver_1 raises the probability of being a detractor (0.05 = 5 points).", needs="nps"),
    _c("driver_2_impact", "Driver 2 impact", "prob", "Same for driver_2.", needs="nps"),
    _c("driver_3_impact", "Driver 3 impact", "prob", "Same for driver_3.", needs="nps"),
    _c("reason_1", "Likely reason 1", "text",
       "Predicted most likely stated reason (reason code) for dissatisfaction; see stated_reasons for what "
       "respondents actually said. Empty below drivers.reason_min_prob, and where driver_1 is empty because of "
       "drivers.rows.", needs="nps"),
    _c("reason_2", "Likely reason 2", "text", "Predicted second most likely stated reason.", needs="nps"),
    _c("reason_1_prob", "Likely reason 1 probability", "prob", "Probability of reason_1.", needs="nps"),
    _c("reason_2_prob", "Likely reason 2 probability", "prob", "Probability of reason_2.", needs="nps"),
    _c("churn_prob", "Churn probability", "prob",
       "Calibrated probability of churning within the churn horizon (churn.horizon_days).", "scored work_orders",
       needs="churn"),
    _c("value", "Customer value", "money",
       "Customer value: revenue column x churn.value.months (a simple, undiscounted CLV proxy); "
       "churn.value.default where value_imputed is 1.", "scored work_orders"),
    _c("value_imputed", "Value is a placeholder", "int",
       "1 when the customer's value is churn.value.default standing in for an empty or unusable entry of "
       "churn.value.column (every customer when that is not set), 0 when it comes from the column; the run's "
       "warnings count them.", "scored"),
    _c("value_at_risk", "Value at risk", "money", "churn_prob x value: the value expected to be lost if nobody acts "
       "(segment_summary: summed over the segment).", "scored work_orders segment_summary", needs="churn"),
    _c("risk_band", "Churn risk", "text",
       "Churn-risk band from churn.risk_bands (default low < 0.2 <= medium < 0.5 <= high).", needs="churn"),
    _c("value_band", "Value band", "text",
       "Value band from strategy.value_bands (the column is left out when value bands are not configured)."),
    _c("segment", "Segment", "text", "class/risk/value, e.g. detractor/high-risk/high-value; class per "
       "strategy.class_source.", "scored work_orders segment_summary"),
    _c("strategy", "Strategy", "text", "retention, win-back, activation, conversion, upsell, referral or no-action.",
       "scored work_orders segment_summary"),
    _c("action", "Action", "text", "The suggested action, in words.", "scored work_orders"),
    _c("channel", "Channel", "text", "Channel for the action (phone, email, app, ...).", "scored work_orders"),
    _c("owner_team", "Owner team", "text", "Team that owns the action.", "scored work_orders"),
    _c("sla_hours", "SLA (hours)", "hours", "Hours within which the action should happen (empty: no SLA).",
       "scored work_orders"),
    _c("expected_uplift", "Expected uplift", "prob", "Predicted churn reduction from this customer's action (uplift "
       "models of `cxpredict learn`; only with priority.method expected_uplift).", "scored work_orders"),
    _c("priority", "Priority", "money", "Who comes first within an action: value at risk by default; expected uplift "
       "x value - cost with priority.method expected_uplift (higher is more urgent).", "scored work_orders"),
    _c("deferred", "Deferred", "bool", "True when the action's capacity for this run is used up by higher-priority "
       "customers: the customer keeps the action and waits for a later run (work_orders_deferred; "
       "segment_summary: how many).",
       "scored segment_summary"),
    _c("rule", "Playbook rule", "text", "Name of the playbook rule that chose the action (for audit).",
       "scored work_orders"),
    _c("group", "Campaign group", "text", "treated, or control: kept out of the action at random to measure it "
       "(strategy.holdout; control customers never get work orders); empty for no-action rules.", "scored"),
    _c("reason", "Why this customer", "text", "One sentence for the front line: what the customer said or is "
       "predicted to feel, churn risk, value at risk, stated reasons and main drivers.", "work_orders"),
    _c("top_drivers", "Main drivers", "text", "driver_1..3 joined with commas.", "work_orders"),
    _c("customers", "Customers", "int", "Customers in the segment.", "segment_summary"),
    _c("share", "Share of customers", "share", "Customers in the segment / all customers.", "segment_summary"),
    _c("respondents", "Respondents", "int", "Survey respondents in the segment.", "segment_summary", needs="nps"),
    _c("mean_churn_prob", "Mean churn probability", "prob", "Average churn probability in the segment.",
       "segment_summary", needs="churn"),
    _c("mean_value_at_risk", "Mean value at risk", "money", "Value at risk per customer in the segment.",
       "segment_summary", needs="churn"),
    _c("predicted_nps", "Predicted NPS", "points", "100 x (mean P(promoter) - mean P(detractor)) over the segment's "
       "customers (unweighted, population, model-based).", "segment_summary", needs="nps"),
    # the key-driver tables (explain/drivers.py, KdaAccumulator.tables; kda_global ranked by io/people.rank_drivers)
    _c("rank", "Rank", "int", "1 = the driver whose removed push would lower the detractor share most "
       "(detractor_points_if_fixed); drivers without a what-if follow by mean absolute attribution.", "kda_global",
       needs="nps"),
    _c("driver", "Driver", "text", "Driver group (drivers.groups), or 'All actionable drivers' removed together "
       "(kda_what_if only).", "kda_what_if kda_global kda_segments", needs="nps"),
    _c("actionable", "Actionable", "bool", "Whether the team can act on the driver (drivers.groups[].actionable).",
       "kda_what_if kda_global kda_segments", needs="nps"),
    _c("theme", "Reason theme", "text", "The stated-reason theme the driver maps to (drivers.groups[].theme); "
       "empty without one.", "kda_global", needs="nps"),
    _c("customers_explained", "Customers explained", "int", "Customers whose drivers were computed (drivers.subset "
       "and drivers.rows decide which): the denominator of the attribution means.", "kda_global kda_segments",
       needs="nps"),
    _c("mean_abs_attribution", "Mean absolute attribution", "number", "Mean of |the driver's attribution| to the "
       "detractor score over the explained customers, in log-odds of detraction: how much the driver moves "
       "customers either way.", "kda_global kda_segments", needs="nps"),
    _c("mean_signed_attribution", "Mean signed attribution", "number", "The same mean with signs, in log-odds: "
       "positive when the driver pushes customers towards detraction on balance.", "kda_global kda_segments",
       needs="nps"),
    _c("share_driver_1", "Share as main driver", "share", "Share of the explained customers whose driver_1 is this "
       "driver.", "kda_global", needs="nps"),
    _c("detractor_points_if_fixed", "Detractor points if fixed", "number", "kda_what_if's change_points for the "
       "driver: percentage points of detractor share with its push removed (model-based what-if, not a causal "
       "effect); empty when the driver has no what-if row.", "kda_global", needs="nps"),
    _c("segment_column", "Segment column", "text", "The customer column of drivers.segments this row breaks down by.",
       "kda_segments", needs="nps"),
    _c("segment_value", "Segment value", "text", "Its value; numbers with many values are cut into quintile "
       "ranges.", "kda_segments", needs="nps"),
    _c("customers_pushed", "Customers pushed", "int", "Customers whose detractor probability the driver raises.",
       "kda_what_if", needs="nps"),
    _c("customers_scored", "Customers scored", "int", "Customers of the run: the denominator of the shares.",
       "kda_what_if", needs="nps"),
    _c("detractor_share_now", "Detractor share now", "share", "Mean predicted P(detractor) over the scored "
       "customers: the what-if's model baseline (manifest nps.expected_shares also counts respondents' answers).",
       "kda_what_if", needs="nps"),
    _c("detractor_share_if_fixed", "Detractor share if fixed", "share", "The same mean with the driver's attribution "
       "removed from every customer's model score (model-based what-if, not a causal effect).", "kda_what_if",
       needs="nps"),
    _c("change_points", "Change (points)", "number", "100 x (detractor_share_if_fixed - detractor_share_now): "
       "percentage points, negative when fixing the driver leaves fewer detractors.", "kda_what_if", needs="nps"),
    _c("kind", "Kind", "text", "What the numbers are: a model-based what-if, not a causal effect.", "kda_what_if",
       needs="nps"),
]
COLUMNS: dict[str, Column] = {c.name: c for c in _ALL}

# set after the playbook has run (dates, the contact filter, the survey's stated reasons, control groups): no rule
# can use them
AFTER_PLAYBOOK = frozenset({"as_of", "scored_on", "to_contact", "stated_reasons", "group"})
# the scored file's documented columns a playbook rule may name
COLUMN_DOCS: dict[str, str] = {c.name: c.meaning for c in _ALL if "scored" in c.files and c.name not in AFTER_PLAYBOOK}

_PATTERNS = [  # columns that repeat with a number: one entry each, resolved by `describe`
    (re.compile(r"p_score_(\d+)$"), "Probability of score {0}", "prob", "Predicted probability of answering {0}."),
    (re.compile(r"driver_(\d+)$"), "Driver {0}", "text", "Driver number {0}."),
    (re.compile(r"driver_(\d+)_impact$"), "Driver {0} impact", "prob", "Same for driver_{0}."),
    (re.compile(r"reason_(\d+)$"), "Likely reason {0}", "text", "Predicted stated reason number {0}."),
    (re.compile(r"reason_(\d+)_prob$"), "Likely reason {0} probability", "prob", "Probability of reason_{0}."),
    (re.compile(r"comment_reason_(\d+)$"), "Reason from comment {0}", "text",
     "Reason code number {0} that the respondent's survey comment implies (text.columns; empty without one)."),
    (re.compile(r"comment_reason_(\d+)_prob$"), "Reason from comment {0} probability", "prob",
     "Probability of comment_reason_{0}."),
]


def describe(name: str) -> Column:
    """The dictionary entry of a column, numbered columns (p_score_7, driver_4) included; unknown: plain text."""
    if name in COLUMNS:
        return COLUMNS[name]
    for pattern, header, kind, meaning in _PATTERNS:
        m = pattern.match(name)
        if m:
            # every numbered column (score probabilities, drivers, reasons) comes from the NPS model's stages
            return Column(name, header.format(m.group(1)), kind, meaning.format(m.group(1)), needs="nps")
    return Column(name, prettify(name), "text", "")


def prettify(name: str) -> str:
    """A readable default label for a feature or code: tickets_count_30d -> 'Tickets count 30d',
    channel=web -> 'Channel: web'."""
    text = str(name)
    if "=" in text:
        feature, level = text.split("=", 1)
        return f"{prettify(feature)}: {level}"
    words = re.sub(r"[_\s]+", " ", text).strip()
    return words[:1].upper() + words[1:] if words else text


def columns_markdown(files: tuple[str, ...] = ("scored", "work_orders", "segment_summary", "kda_global", "kda_what_if",
                                              "kda_segments")) -> str:
    """The column dictionary as a Markdown table (the README's section is this text; a test keeps it so)."""
    lines = ["| column | header | in | needs | meaning |", "|---|---|---|---|---|"]
    lines += [f"| `{c.name}` | {c.header} | {', '.join(f for f in c.files if f in files)} | "
              f"{NEEDS_TABLE.get(c.needs, '')} | {c.meaning} |" for c in COLUMNS.values() if set(c.files) & set(files)]
    lines.append("| `p_score_0` ... | Probability of score 0 ... | scored | survey | Predicted probability of each "
                 "score of the scale, in numeric order. |")
    return "\n".join(lines) + "\n"


def _number(col: str) -> int:
    m = re.search(r"(\d+)(?:_impact|_prob)?$", col)
    return int(m.group(1)) if m else 0


def scored_column_order(columns: list[str]) -> list[str]:
    """Documented columns in documented order, numbered ones in numeric order (p_score_9 before p_score_10,
    driver_4 after driver_3's impact), then any others."""
    order = list(COLUMNS)

    def rank(col: str) -> tuple[int, int, str]:
        if col in COLUMNS:
            return order.index(col), 0, ""
        for prefix, anchor in (("driver_", "driver_3_impact"), ("reason_", "reason_2_prob"), ("p_score_", None)):
            if col.startswith(prefix) and re.search(r"\d", col):
                return (order.index(anchor) if anchor else len(order)), _number(col), col
        return len(order) + 1, 0, col
    return sorted(columns, key=rank)


if __name__ == "__main__":  # python -m cxpredict.columns: the README's column dictionary block
    print(columns_markdown(), end="")
