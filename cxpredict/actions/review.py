"""The reviewed playbook: the user's playbook with campaign verdicts applied, written beside it, never over it.

- A retired strategy: each of its rules keeps its condition but gets the `no-action` strategy ("Retired: ..."),
  so its customers do not fall through to another, untested rule; the evidence goes into the description.
- A strategy retired for one segment only (it harms or does nothing there): just before each of its rules, a
  copy with `and segment == "<segment>"` routes that segment to no action. Customers who reach the copy would
  have taken the rule, so nobody else changes rule.
- `keep` and `keep testing` strategies keep their rules (control groups continue at scoring).
- Priority becomes `expected_uplift` with the measured benefits per strategy and strategy|segment (used where the
  bundle has no per-customer uplift model for a strategy).
A readable diff (difflib, unified) of the YAML texts goes with it for the reviewer.
"""

from __future__ import annotations

import difflib
from typing import Any

import pandas as pd
import yaml

from cxpredict.actions.playbook import Playbook, playbook_from_dict

RETIRE = "retire"
SEGMENT_COLUMN = "segment"


def _with_segment(when: Any, column: str, segment: str) -> Any:
    """A rule condition narrowed to one segment, in the same form as the original (expression or list)."""
    if when is None or (isinstance(when, str) and when.strip().lower() in ("", "true", "always")):
        return f"{column} == {segment!r}"
    if isinstance(when, str):
        return f"({when}) and {column} == {segment!r}"
    return [*when, {"column": column, "op": "==", "value": segment}]


def reviewed_playbook(playbook: Playbook, strategy_verdicts: pd.DataFrame, segment_verdicts: pd.DataFrame,
                      segment_column: str = SEGMENT_COLUMN, name_suffix: str = "reviewed") -> Playbook:
    """Apply verdicts (columns strategy, [segment], verdict, evidence, benefit) to a copy of `playbook`."""
    raw = playbook.model_dump(mode="json", exclude_none=True)
    retired = {r.strategy: r.evidence for r in strategy_verdicts.itertuples() if r.verdict == RETIRE}
    seg_retired: dict[str, list[tuple[str, str]]] = {}
    for r in segment_verdicts.itertuples():
        if r.verdict == RETIRE and r.strategy not in retired:
            seg_retired.setdefault(r.strategy, []).append((str(getattr(r, segment_column)), r.evidence))
    rules = []
    for rule in raw["rules"]:
        strategy = rule["strategy"]
        if strategy in retired:
            rule = {**rule, "strategy": "no-action", "action": f"Retired: {rule['action']}", "work_order": False,
                    "description": f"RETIRED {strategy} (campaign evidence: {retired[strategy]}). "
                                   + rule.get("description", "")}
            rule.pop("capacity", None)
        for segment, evidence in seg_retired.get(strategy, []):
            rules.append({"name": f"{rule['name']}-retired-{segment}".replace("/", "-"),
                          "when": _with_segment(rule.get("when"), segment_column, segment),
                          "strategy": "no-action", "action": "No action (retired for this segment)",
                          "work_order": False,
                          "description": f"{strategy} retired for {segment_column} {segment}: {evidence}"})
        rules.append(rule)
    uplift: dict[str, float] = {}
    for r in strategy_verdicts.itertuples():
        if r.strategy not in retired and pd.notna(r.benefit):
            uplift[r.strategy] = round(max(float(r.benefit), 0.0), 6)
    for r in segment_verdicts.itertuples():
        if r.strategy not in retired and pd.notna(r.benefit) and r.verdict != RETIRE:
            uplift[f"{r.strategy}|{getattr(r, segment_column)}"] = round(max(float(r.benefit), 0.0), 6)
    raw["rules"] = rules
    raw["name"] = f"{playbook.name}-{name_suffix}"
    raw["priority"] = {"method": "expected_uplift", "uplift": uplift, "default_uplift": 0.0}
    return playbook_from_dict(raw, source="reviewed playbook")


def playbook_yaml(playbook: Playbook, header: str = "") -> str:
    body = yaml.safe_dump(playbook.model_dump(mode="json", exclude_none=True), sort_keys=False, allow_unicode=True,
                          width=120)
    return "".join(f"# {line}\n" for line in header.splitlines()) + body


def playbook_diff(before: Playbook, after: Playbook, before_name: str, after_name: str) -> str:
    """Unified diff of the two playbooks as YAML (both normalised the same way, so only real changes show)."""
    return "".join(difflib.unified_diff(playbook_yaml(before).splitlines(keepends=True),
                                        playbook_yaml(after).splitlines(keepends=True),
                                        fromfile=before_name, tofile=after_name))
