"""Playbook schema and its small, safe condition language, evaluated vectorised over a whole frame.

A playbook is an ordered list of rules; each customer takes the first rule whose `when` holds. A condition is
either a list of `{column, op, value}` items (all must hold) or an expression string such as
`segment_class == "detractor" and driver_1 in ["Billing", "Price"] and churn_prob >= 0.3`.
Strings are parsed with `ast` into a tiny tree (comparisons, and/or/not, literals); nothing is ever evaluated
as Python, so a playbook file cannot run code. Missing values never satisfy `==`, `<`, `in` ...; they do
satisfy `!=` and `not_in` (as in Python, None != "x"); `column == null` matches missing values.

Why rules are checked: a typo in a column name would otherwise silently route nobody to a rule, so unknown
columns are errors (with the closest name), a rule that can never fire is a warning, and the last rule must be
an unconditional default so every customer gets exactly one action. `check_playbook` adds what only data can
show: customers per rule, rules that match nobody, and partial overlaps where rule order decides (counted).
"""

from __future__ import annotations

import ast
import logging
import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, Union

import numpy as np
import pandas as pd
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    ValidationError,
    field_validator,
    model_validator,
)

from cxpredict.codes import as_categorical, label_codes
from cxpredict.config import CLASSES, PathName, check_unique, format_validation_error, read_yaml
from cxpredict.errors import ConfigError, did_you_mean

STRATEGIES = ("retention", "win-back", "activation", "conversion", "upsell", "referral", "no-action")
WORK_ORDER_STRATEGIES = ("retention", "win-back")  # default: these rules raise a front-line work order
OPS = ("==", "!=", "<", "<=", ">", ">=", "in", "not_in")
VIRTUAL_COLUMNS = ("segment_class",)  # derivable from `segment` when a scored file lacks them
CLASS_COLUMNS = ("segment_class", "predicted_class", "observed_class")
STAGE_COLUMN = re.compile(r"(driver|reason)_\d+(_impact|_prob)?")  # present only when that stage runs

log = logging.getLogger(__name__)

_AST_OPS = {ast.Eq: "==", ast.NotEq: "!=", ast.Lt: "<", ast.LtE: "<=", ast.Gt: ">", ast.GtE: ">=",
            ast.In: "in", ast.NotIn: "not_in"}
_FLIPPED = {"==": "==", "!=": "!=", "<": ">", "<=": ">=", ">": "<", ">=": "<="}
_LITERAL_NAMES = {"true": True, "false": False, "null": None, "none": None}


# --------------------------------------------------------------------------------------------- condition tree
@dataclass(frozen=True)
class Cond:
    column: str
    op: str
    value: Any  # scalar, None, or a tuple for in / not_in

    def key(self) -> tuple:
        v = frozenset(self.value) if self.op in ("in", "not_in") else self.value
        return (self.column, self.op, v)


@dataclass(frozen=True)
class Bool:
    kind: Literal["and", "or", "not"]
    items: tuple[Node, ...]


Node = Union[Cond, Bool, None]  # None = always true


def make_cond(column: str, op: str, value: Any) -> Cond:
    if op not in OPS:
        raise ValueError(f"unknown op '{op}' for column '{column}'; use one of {', '.join(OPS)}")
    if op in ("in", "not_in"):
        if not isinstance(value, (list, tuple)) or not value:
            raise ValueError(f"'{column} {op}' needs a non-empty list of values, got {value!r}")
        return Cond(column, op, tuple(value))
    if isinstance(value, (list, tuple, dict)):
        raise ValueError(f"'{column} {op}' compares with a single value, got {value!r}; use 'in' for a list")
    if value is None and op not in ("==", "!="):
        raise ValueError(f"'{column} {op} null' is meaningless; only == null and != null are allowed")
    return Cond(column, op, value)


def _literal(node: ast.AST, text: str) -> Any:
    if isinstance(node, ast.Constant) and isinstance(node.value, (str, int, float, bool, type(None))):
        return node.value
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub) and isinstance(node.operand, ast.Constant) \
            and isinstance(node.operand.value, (int, float)) and not isinstance(node.operand.value, bool):
        return -node.operand.value
    if isinstance(node, ast.Name) and node.id.lower() in _LITERAL_NAMES:
        return _LITERAL_NAMES[node.id.lower()]
    if isinstance(node, (ast.List, ast.Tuple)):
        return tuple(_literal(e, text) for e in node.elts)
    raise ValueError(f"in '{text}': '{ast.unparse(node)}' is not a literal (text in quotes, a number, true/false/null)")


def _is_column(node: ast.AST) -> bool:
    return isinstance(node, ast.Name) and node.id.lower() not in _LITERAL_NAMES


def _to_node(node: ast.AST, text: str) -> Node:
    if isinstance(node, ast.BoolOp):
        return Bool("and" if isinstance(node.op, ast.And) else "or", tuple(_to_node(v, text) for v in node.values))
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.Not):
        return Bool("not", (_to_node(node.operand, text),))
    if _is_column(node):  # a bare boolean column, e.g. `is_respondent`
        return Cond(node.id, "==", True)
    if isinstance(node, ast.Constant) and node.value is True:
        return None
    if isinstance(node, ast.Compare):
        terms, parts = [node.left, *node.comparators], []
        for left, op_node, right in zip(terms, node.ops, terms[1:]):
            op = _AST_OPS.get(type(op_node))
            if op is None:
                raise ValueError(f"in '{text}': operator '{type(op_node).__name__}' is not allowed; use {OPS}")
            if _is_column(left) and not _is_column(right):
                parts.append(make_cond(left.id, op, _literal(right, text)))
            elif _is_column(right) and not _is_column(left) and op in _FLIPPED:
                parts.append(make_cond(right.id, _FLIPPED[op], _literal(left, text)))
            else:
                raise ValueError(f"in '{text}': each comparison needs one column and one literal value")
        return parts[0] if len(parts) == 1 else Bool("and", tuple(parts))
    raise ValueError(f"in '{text}': '{ast.unparse(node)}' is not allowed; use comparisons joined by and/or/not")


def parse_when(text: str) -> Node:
    """Parse a condition string into a tree with `ast` (never eval). 'true' or '' means always."""
    text = text.strip()
    if text.lower() in ("", "true", "always"):
        return None
    try:
        tree = ast.parse(text, mode="eval")
    except SyntaxError as e:
        raise ValueError(f"cannot parse condition '{text}': {e.msg}") from None
    return _to_node(tree.body, text)


def node_columns(node: Node) -> list[str]:
    if node is None:
        return []
    if isinstance(node, Cond):
        return [node.column]
    return [c for item in node.items for c in node_columns(item)]


def node_conds(node: Node) -> list[Cond]:
    if node is None:
        return []
    return [node] if isinstance(node, Cond) else [c for item in node.items for c in node_conds(item)]


def conjunction(node: Node) -> frozenset | None:
    """The rule as a set of condition keys if it is a plain AND of comparisons (else None: not analysable)."""
    if node is None:
        return frozenset()
    if isinstance(node, Cond):
        return frozenset([node.key()])
    if node.kind == "and" and all(isinstance(i, Cond) for i in node.items):
        return frozenset(i.key() for i in node.items)
    return None


# --------------------------------------------------------------------------------------------- schema
class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Condition(_Strict):
    column: str
    op: Literal["==", "!=", "<", "<=", ">", ">=", "in", "not_in"] = "=="
    value: Any = None


class PriorityConfig(_Strict):
    """How `priority` is computed: value at risk by default; expected_uplift once campaign results exist.

    expected_uplift: priority = uplift x value - cost, the expected net value of the action. The uplift is the
    customer's own prediction when the bundle holds uplift models (`cxpredict learn`), else the table `uplift`:
    a strategy, or 'strategy|segment' (more specific, wins), mapped to the absolute churn reduction measured in
    past campaigns (e.g. retention|detractor/high-risk: 0.12); pairs without a measurement use `default_uplift`.
    """

    method: Literal["value_at_risk", "churn_prob", "value", "expected_uplift"] = "value_at_risk"
    uplift: dict[str, float] = Field(default_factory=dict)
    default_uplift: float = 0.0


class Rule(_Strict):
    name: PathName  # rule names may name files (per-rule outputs), so they are plain file-name components
    when: str | list[Condition] | None = None  # None: unconditional
    strategy: Literal["retention", "win-back", "activation", "conversion", "upsell", "referral", "no-action"]
    action: str
    channel: str = ""
    owner_team: str = ""
    sla_hours: float | None = Field(default=None, gt=0)
    capacity: int | None = Field(default=None, ge=0)  # per action (rules sharing an action share the pool)
    cost: float = Field(default=0.0, ge=0)  # per customer acted on, in the currency of `value` (learn, priority)
    work_order: bool | None = None  # default: strategy in WORK_ORDER_STRATEGIES
    priority_by: str | None = None  # numeric column overriding the playbook's priority method for this rule
    description: str = ""
    _node: Node = PrivateAttr(default=None)

    @model_validator(mode="after")
    def _compile(self) -> Rule:
        if isinstance(self.when, str):
            self._node = parse_when(self.when)
        elif self.when:
            conds = tuple(make_cond(c.column, c.op, c.value) for c in self.when)
            self._node = conds[0] if len(conds) == 1 else Bool("and", conds)
        return self

    @property
    def node(self) -> Node:
        return self._node

    @property
    def unconditional(self) -> bool:
        return self._node is None

    @property
    def raises_work_order(self) -> bool:
        return self.work_order if self.work_order is not None else self.strategy in WORK_ORDER_STRATEGIES


class Playbook(_Strict):
    version: Literal[1] = 1
    name: PathName = "playbook"
    priority: PriorityConfig = Field(default_factory=PriorityConfig)
    rules: list[Rule] = Field(min_length=1)
    _warned: set[str] = PrivateAttr(default_factory=set)

    @field_validator("rules")
    @classmethod
    def _rules_sound(cls, rules: list[Rule]) -> list[Rule]:
        check_unique("rule names", [r.name for r in rules])
        if not rules[-1].unconditional:
            raise ValueError(
                f"the last rule ('{rules[-1].name}') must be an unconditional default (no 'when'), so every "
                "customer gets an action; add e.g. {name: default, strategy: no-action, action: 'No action'}"
            )
        caps: dict[str, tuple[int, str]] = {}
        for r in rules:
            if r.capacity is None:
                continue
            if r.action in caps and caps[r.action][0] != r.capacity:
                raise ValueError(
                    f"rules '{caps[r.action][1]}' and '{r.name}' share action '{r.action}' but set different "
                    f"capacities ({caps[r.action][0]} vs {r.capacity}); a capacity belongs to the action"
                )
            caps[r.action] = (r.capacity, r.name)
        return rules

    def capacities(self) -> dict[str, int]:
        return {r.action: r.capacity for r in self.rules if r.capacity is not None}

    def columns_used(self) -> set[str]:
        cols = {c for r in self.rules for c in node_columns(r.node)}
        return cols | {r.priority_by for r in self.rules if r.priority_by}


def playbook_from_dict(raw: dict[str, Any], source: str | Path = "<playbook>") -> Playbook:
    try:
        return Playbook.model_validate(raw)
    except ValidationError as e:
        message = format_validation_error(Path(source), e, Playbook).replace("invalid config", "invalid playbook")
        raise ConfigError(message) from None


def load_playbook(path: str | Path, what: str = "playbook") -> Playbook:
    """Read and validate a playbook YAML (schema, default rule, capacities). Column checks need `validate_columns`;
    `what` says in errors where the path came from (e.g. "playbook (strategy.playbook)")."""
    return playbook_from_dict(read_yaml(path, what=what), source=path)


# --------------------------------------------------------------------------------------------- static checks
def validate_columns(playbook: Playbook, columns: Iterable[str], source: str = "playbook") -> None:
    """Every column a rule names must exist; raise one ConfigError listing them all with the closest names."""
    available = sorted(set(columns) | (set(VIRTUAL_COLUMNS) if "segment" in set(columns) else set()))
    problems = []
    for rule in playbook.rules:
        used = node_columns(rule.node) + ([rule.priority_by] if rule.priority_by else [])
        for col in dict.fromkeys(used):
            if col not in available:
                problems.append(f"  - rule '{rule.name}': unknown column '{col}'{did_you_mean(col, available)}")
        for cond in node_conds(rule.node):
            if cond.column in CLASS_COLUMNS:
                values = cond.value if isinstance(cond.value, tuple) else (cond.value,)
                for v in values:
                    if v is not None and v not in CLASSES:
                        problems.append(f"  - rule '{rule.name}': '{cond.column}' is never '{v}'"
                                        f"{did_you_mean(v, CLASSES)}; "
                                        f"classes are {', '.join(CLASSES)}")
    if problems:
        raise ConfigError(f"{source}: {len(problems)} problem(s) with rule columns\n" + "\n".join(problems)
                          + f"\n  available columns: {', '.join(available)}")


def unreachable_rules(playbook: Playbook) -> list[str]:
    """Warnings for rules that can never fire: after an unconditional rule, or implied by an earlier rule."""
    warnings, seen = [], []
    for rule in playbook.rules:
        conj = conjunction(rule.node)
        for earlier_name, earlier in seen:
            if earlier == frozenset():
                warnings.append(f"rule '{rule.name}' is unreachable: earlier rule '{earlier_name}' has no condition")
                break
            if conj is not None and earlier is not None and earlier <= conj:
                how = "the same condition" if earlier == conj else "a subset of its conditions"
                warnings.append(f"rule '{rule.name}' is unreachable: earlier rule '{earlier_name}' has {how}")
                break
        seen.append((rule.name, conj))
    return warnings


# --------------------------------------------------------------------------------------------- evaluation
def missing_stage_columns(playbook: Playbook, columns: Iterable[str]) -> list[str]:
    """Driver/reason columns the rules use but the data lacks because that stage is off or has fewer ranks."""
    have = set(columns)
    return sorted(c for c in playbook.columns_used() if c not in have and STAGE_COLUMN.fullmatch(c))


def with_virtual_columns(frame: pd.DataFrame, playbook: Playbook | None = None, warn: bool = True) -> pd.DataFrame:
    """Add `segment_class` (first part of `segment`) when a frame, e.g. a scored file, lacks it, and the
    driver/reason columns of a disabled stage as all-missing (a logged warning, so one playbook serves
    configs with and without drivers; a misspelt column is still an error)."""
    missing = missing_stage_columns(playbook, frame.columns) if playbook is not None else []
    needs_class = "segment_class" not in frame.columns and "segment" in frame.columns
    if not missing and not needs_class:
        return frame
    out = frame.copy(deep=False)
    if needs_class:
        out["segment_class"] = frame["segment"].astype("str").str.split("/", n=1).str[0].astype("category")
    for col in missing:
        if warn and col not in playbook._warned:  # once per playbook, not once per scoring batch
            playbook._warned.add(col)
            log.warning("playbook '%s': column '%s' is absent (stage disabled?); its conditions match nobody",
                        playbook.name, col)
        out[col] = pd.Series(pd.NA, index=frame.index, dtype="str")
    return out


def _numeric_mask(values: np.ndarray, op: str, value: Any) -> np.ndarray:
    if op == "in":
        return np.isin(values, np.asarray(value, dtype=float))
    if op == "not_in":
        return ~np.isin(values, np.asarray(value, dtype=float))
    with np.errstate(invalid="ignore"):
        return {"==": np.equal, "!=": np.not_equal, "<": np.less, "<=": np.less_equal,
                ">": np.greater, ">=": np.greater_equal}[op](values, value)


def _text_mask(s: pd.Series, op: str, value: Any) -> np.ndarray:
    """Equality tests on text (categoricals through their categories: `label_codes`)."""
    wanted = [str(v) for v in value] if isinstance(value, tuple) else [str(value)]
    mask = label_codes(s, list(dict.fromkeys(wanted))) >= 0  # never for a missing value
    return ~mask if op in ("!=", "not_in") else mask


def cond_mask(cond: Cond, frame: pd.DataFrame, rule_name: str = "?") -> np.ndarray:
    """Boolean mask of one comparison over the frame."""
    if cond.column not in frame.columns:
        raise ConfigError(f"rule '{rule_name}': column '{cond.column}' is not in the scored data")
    s = frame[cond.column]
    if cond.value is None:
        return s.isna().to_numpy() if cond.op == "==" else s.notna().to_numpy()
    values = cond.value if isinstance(cond.value, tuple) else (cond.value,)
    if pd.api.types.is_bool_dtype(s) or pd.api.types.is_numeric_dtype(s):
        if not all(isinstance(v, (int, float)) for v in values):
            raise ConfigError(f"rule '{rule_name}': column '{cond.column}' is numeric but is compared with "
                              f"text {cond.value!r}; compare with a number (or true/false)")
        arr = s.to_numpy(dtype="float64", na_value=np.nan)
        return _numeric_mask(arr, cond.op, cond.value)
    if cond.op not in ("==", "!=", "in", "not_in"):
        raise ConfigError(f"rule '{rule_name}': '{cond.column} {cond.op} ...' orders text; text columns allow "
                          "==, !=, in, not_in (for bands, list them: risk_band in [\"medium\", \"high\"])")
    return _text_mask(s, cond.op, cond.value)


def node_mask(node: Node, frame: pd.DataFrame, rule_name: str = "?") -> np.ndarray:
    if node is None:
        return np.ones(len(frame), dtype=bool)
    if isinstance(node, Cond):
        return cond_mask(node, frame, rule_name)
    masks = [node_mask(i, frame, rule_name) for i in node.items]
    if node.kind == "not":
        return ~masks[0]
    return np.logical_and.reduce(masks) if node.kind == "and" else np.logical_or.reduce(masks)


def rule_masks(playbook: Playbook, frame: pd.DataFrame) -> list[np.ndarray]:
    """One boolean mask per rule: where its condition holds (regardless of earlier rules)."""
    frame = with_virtual_columns(frame, playbook)
    text = [c for c in sorted(playbook.columns_used()) if c in frame.columns and pd.api.types.is_string_dtype(
        frame[c]) and not isinstance(frame[c].dtype, pd.CategoricalDtype)]
    if text:  # each text column the rules test encoded once, not hashed again by every condition on it
        frame = frame.assign(**{c: as_categorical(frame[c]) for c in text})
    return [node_mask(r.node, frame, r.name) for r in playbook.rules]


def first_match(masks: list[np.ndarray]) -> np.ndarray:
    """Index of the first rule whose mask is true, per row (the np.select of rule indices)."""
    idx = np.full(len(masks[0]), len(masks) - 1, dtype=np.int32)
    for i in range(len(masks) - 2, -1, -1):
        idx[masks[i]] = i
    return idx


# --------------------------------------------------------------------------------------------- checking
@dataclass
class PlaybookCheck:
    counts: pd.DataFrame  # rule, strategy, action, customers (first match), matches (condition true), capacity
    overlaps: pd.DataFrame  # earlier, later, customers, kind ('refinement' = earlier is a special case of later)
    warnings: list[str]


def check_playbook(playbook: Playbook, scored: pd.DataFrame, source: str = "scored file") -> PlaybookCheck:
    """Validate a playbook against a scored frame: unknown columns raise; unreachable/overlapping rules warn."""
    warnings = [f"rules use '{c}', which {source} lacks (stage disabled?): treated as missing"
                for c in missing_stage_columns(playbook, scored.columns)]
    frame = with_virtual_columns(scored, playbook, warn=False)
    validate_columns(playbook, frame.columns, source=f"playbook '{playbook.name}' vs {source}")
    warnings += unreachable_rules(playbook)
    masks = rule_masks(playbook, frame)
    idx = first_match(masks)
    claimed = np.bincount(idx, minlength=len(masks))
    rules = playbook.rules
    overlaps = []
    for i, rule in enumerate(rules[:-1]):
        if not masks[i].any():
            warnings.append(f"rule '{rule.name}' matches no customer in {source}")
        elif claimed[i] == 0:
            warnings.append(f"rule '{rule.name}' matches {int(masks[i].sum())} customers in {source}, "
                            "but earlier rules take all of them")
        for j in range(i + 1, len(rules) - 1):  # the final default overlaps everything by design
            both = int((masks[i] & masks[j]).sum())
            if not both:
                continue
            # a special case before its general rule (every customer of the earlier rule also matches the
            # later one) is the intended fall-through pattern; any other overlap may hide a mistake in the order
            refinement = not (masks[i] & ~masks[j]).any()
            overlaps.append({"earlier": rule.name, "later": rules[j].name, "customers": both,
                             "kind": "refinement" if refinement else "partial"})
            if not refinement:
                warnings.append(f"rules '{rule.name}' and '{rules[j].name}' overlap on {both} customers "
                                f"in {source}; they go to '{rule.name}' (the earlier rule)")
    counts = pd.DataFrame({
        "rule": [r.name for r in rules], "strategy": [r.strategy for r in rules],
        "action": [r.action for r in rules], "customers": claimed.astype(int),
        "matches": [int(m.sum()) for m in masks],
        "capacity": pd.array([r.capacity for r in rules], dtype="Int64"),
    })
    overlaps = pd.DataFrame(overlaps, columns=["earlier", "later", "customers", "kind"])
    return PlaybookCheck(counts=counts, overlaps=overlaps, warnings=list(dict.fromkeys(warnings)))


def describe(check: PlaybookCheck) -> dict[str, Any]:
    return {"rules": check.counts.to_dict(orient="records"), "overlaps": check.overlaps.to_dict(orient="records"),
            "warnings": check.warnings}
