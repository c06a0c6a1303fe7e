"""From predictions to actions: segments, the playbook applied to every customer, and capacity.

Why this shape:
- Segments combine the NPS class (the respondent's own answer or the prediction, `strategy.class_source`),
  a churn-risk band and an optional value band into one readable label, e.g. `detractor/high-risk/high-value`.
  Quantile value bands are turned into fixed value cuts once, on the training customers (`Segmenter.fit`),
  and saved in the bundle (segments.json), so a customer's band never depends on the batch it was scored in.
- The playbook (see playbook.py) runs vectorised: one boolean mask per rule, then the first matching rule per
  row; labels are categorical codes, so 1M customers take well under a second.
- Capacity is a whole-population decision: within each action the highest priorities are served, the rest
  keep their action with `deferred=True`, so nobody is dropped silently. When scoring streams batches,
  `CapacityQueue` spools them (Arrow IPC files) until every priority is known, then returns them with `deferred` set.
- Business rules come from the scoring config (the playbook can change without retraining); learned band
  cuts come from the bundle. The files people read are written by people.py.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.feather as feather

from cxpredict import threads
from cxpredict.actions.playbook import (
    STAGE_COLUMN,
    VIRTUAL_COLUMNS,
    Cond,
    Node,
    Playbook,
    Rule,
    cond_mask,
    first_match,
    label_codes,
    load_playbook,
    missing_stage_columns,
    node_columns,
    rule_masks,
    validate_columns,
    with_virtual_columns,
)
from cxpredict.actions.segments import SEGMENTS_FILE, Segmenter
from cxpredict.columns import COLUMN_DOCS
from cxpredict.columns import describe as describe_column
from cxpredict.config import ChurnConfig, StrategyConfig
from cxpredict.errors import BundleError, ConfigError
from cxpredict.stages import Training

PLAYBOOK_FILE = "playbook.yaml"
PLAYBOOK_KEY = "playbook file (strategy.playbook in the config)"


# --------------------------------------------------------------------------------------------- applying the playbook
UPLIFT_PREFIX = "uplift_"  # per-customer predicted uplift of each strategy (the bundle's uplift models)


def expected_uplift(scored: pd.DataFrame, playbook: Playbook, rule_idx: np.ndarray) -> np.ndarray:
    """Churn reduction expected from each row's action: the customer's own prediction (`uplift_<strategy>`
    columns) where the bundle has an uplift model for the strategy, else the playbook's measured table."""
    spec = playbook.priority
    strategies = np.asarray([r.strategy for r in playbook.rules])[rule_idx]
    segments = scored["segment"].astype("str").to_numpy() if "segment" in scored.columns else None
    uplift = np.full(len(scored), spec.default_uplift)
    for key, u in sorted(spec.uplift.items(), key=lambda kv: "|" in kv[0]):  # specific keys override
        strat, _, seg = key.partition("|")
        hit = strategies == strat
        if seg:
            hit &= segments == seg if segments is not None else False
        uplift[hit] = u
    for strat in np.unique(strategies):
        if f"{UPLIFT_PREFIX}{strat}" in scored.columns:
            hit = strategies == strat
            uplift[hit] = scored[f"{UPLIFT_PREFIX}{strat}"].to_numpy(dtype=float)[hit]
    return uplift


def priority_scores(scored: pd.DataFrame, playbook: Playbook, rule_idx: np.ndarray) -> np.ndarray:
    """Priority per row: the playbook's method (value at risk by default; expected_uplift: uplift x value - cost),
    per-rule `priority_by` overrides."""
    spec = playbook.priority
    needed = "value" if spec.method == "expected_uplift" else spec.method
    if needed not in scored.columns:
        raise ConfigError(f"playbook '{playbook.name}': priority method '{spec.method}' needs the column "
                          f"'{needed}', which the scored data lacks (is the churn model enabled?)")
    if spec.method == "expected_uplift":
        cost = np.asarray([r.cost for r in playbook.rules], dtype=float)[rule_idx]
        priority = expected_uplift(scored, playbook, rule_idx) * scored["value"].to_numpy(dtype=float) - cost
    else:
        priority = scored[spec.method].to_numpy(dtype=float).copy()
    for i, rule in enumerate(playbook.rules):
        if rule.priority_by:
            rows = rule_idx == i
            priority[rows] = scored[rule.priority_by].to_numpy(dtype=float)[rows]
    return priority


def defer_over_capacity(action_codes: np.ndarray, priority: np.ndarray, capacity: dict[int, int]) -> np.ndarray:
    """True for rows beyond their action's capacity: served in priority order (ties: earlier row first)."""
    deferred = np.zeros(len(action_codes), dtype=bool)
    order_key = np.nan_to_num(np.asarray(priority, dtype=float), nan=-np.inf)
    for code, cap in capacity.items():
        rows = np.flatnonzero(action_codes == code)
        if len(rows) > cap:
            ranked = rows[np.lexsort((rows, -order_key[rows]))]
            deferred[ranked[cap:]] = True
    return deferred


def _labels(values: list[Any], rule_idx: np.ndarray) -> pd.Categorical:
    cats = list(dict.fromkeys(values))
    lookup = np.asarray([cats.index(v) for v in values])
    return pd.Categorical.from_codes(lookup[rule_idx], categories=cats)


def apply_playbook(scored: pd.DataFrame, playbook: Playbook, capacity: bool = True) -> pd.DataFrame:
    """Playbook columns for every row: strategy, action, channel, owner_team, sla_hours, priority, deferred, rule.

    `scored` needs the columns the rules name plus the priority inputs. Capacity is applied over the rows
    given, so pass the whole population (or call `defer_over_capacity` once on all rows when streaming).
    """
    frame = with_virtual_columns(scored, playbook)
    validate_columns(playbook, frame.columns, source=f"playbook '{playbook.name}'")
    idx = first_match(rule_masks(playbook, frame))
    rules = playbook.rules
    out = pd.DataFrame({
        "strategy": _labels([r.strategy for r in rules], idx),
        "action": _labels([r.action for r in rules], idx),
        "channel": _labels([r.channel for r in rules], idx),
        "owner_team": _labels([r.owner_team for r in rules], idx),
        "sla_hours": np.asarray([np.nan if r.sla_hours is None else r.sla_hours for r in rules])[idx],
        "priority": priority_scores(frame, playbook, idx),
    }, index=scored.index)
    if playbook.priority.method == "expected_uplift":
        out.insert(len(out.columns) - 1, "expected_uplift", expected_uplift(frame, playbook, idx))
    caps = playbook.capacities()
    if capacity and caps:
        action_codes = out["action"].cat.codes.to_numpy()
        cats = list(out["action"].cat.categories)
        out["deferred"] = defer_over_capacity(
            action_codes, out["priority"].to_numpy(), {cats.index(a): c for a, c in caps.items() if a in cats}
        )
    else:
        out["deferred"] = np.zeros(len(out), dtype=bool)
    out["rule"] = _labels([r.name for r in rules], idx)
    return out


def segment_and_act(scored: pd.DataFrame, segmenter: Segmenter, playbook: Playbook) -> pd.DataFrame:
    """scored + segment columns + playbook columns (the last two steps of scoring)."""
    seg = segmenter.assign(scored)
    base = scored.drop(columns=[c for c in seg.columns if c in scored.columns])
    frame = pd.concat([base, seg], axis=1)
    return pd.concat([frame, apply_playbook(frame, playbook)], axis=1)


# --------------------------------------------------------------------------------------------- pipeline stages
def configured_playbook(settings: StrategyConfig, absent: dict[str, str], fallback_dir: Path | None = None
                        ) -> Playbook | None:
    """The playbook at `settings.playbook` (a path the workflow resolved: Config.resolved_strategy), else the
    bundle's copy in `fallback_dir`, else None; checked against the stages the run lacks (`absent`:
    Config.absent_stages or the bundle's skipped stages; playbook.check_stages)."""
    if settings.playbook:
        path = Path(settings.playbook)
        book = load_playbook(path, what=PLAYBOOK_KEY)
    elif fallback_dir is not None and (Path(fallback_dir) / PLAYBOOK_FILE).is_file():
        path = Path(fallback_dir) / PLAYBOOK_FILE
        book = load_playbook(path)
    else:
        return None
    check_stages(book, absent, source=str(path))
    return book


VIRTUAL_NEEDS = {"segment_class": "nps"}  # the model each virtual column comes from (columns.Column.needs)
STAGE_NAMES = {"nps": "NPS", "churn": "churn"}


def check_stages(playbook: Playbook, absent: dict[str, str], source: str = "playbook") -> None:
    """Rules may not name the columns of a model the run does not have (`absent`: stage -> why, from
    Config.absent_stages or the bundle): no NPS columns (segment_class, p_detractor, ...) without a survey, no
    churn columns (churn_prob, risk_band, value_at_risk) without outcomes. One ConfigError naming every rule and
    column, raised when the playbook is loaded, so a scheduled run fails before it trains or scores.

    Why an error, when a disabled driver stage only makes its conditions match nobody: driver columns refine a
    rule about a class and a risk, and the rule below still catches its customers; the class and the risk are
    what the rules are about, so matching nobody would quietly send every customer to the default rule."""
    problems = []
    for rule in playbook.rules:
        used = node_columns(rule.node) + ([rule.priority_by] if rule.priority_by else [])
        for col in dict.fromkeys(used):
            stage = VIRTUAL_NEEDS.get(col) or describe_column(col).needs
            if stage in absent and not STAGE_COLUMN.fullmatch(col):
                problems.append(f"  - rule '{rule.name}': column '{col}' comes from the {STAGE_NAMES[stage]} model, "
                                f"which this run does not have: {absent[stage]}")
    method = playbook.priority.method
    if method in ("value_at_risk", "churn_prob") and "churn" in absent:
        problems.append(f"  - priority.method '{method}' needs the churn model, which this run does not have: "
                        f"{absent['churn']}; use method: value")
    if problems:
        raise ConfigError(f"{source}: {len(problems)} problem(s): the playbook names columns this run cannot "
                          "produce\n"
                          + "\n".join(problems) + "\n  fix: remove those conditions (or rules) or point "
                          "strategy.playbook at a playbook for this data; or add the missing input table")


# --------------------------------------------------------------------------------------------- drivers.rows
ROW_RULES: dict[str, Callable[[Rule], bool]] = {  # drivers.rows -> the rules whose customers need drivers
    "actioned": lambda rule: rule.strategy != "no-action",
    "work_orders": lambda rule: rule.raises_work_order,
}


def holds_or_undecided(node: Node, frame: pd.DataFrame, unknown: set[str], rule_name: str = "?"
                       ) -> tuple[np.ndarray, np.ndarray]:
    """(holds, undecided) per row of a rule condition while the `unknown` columns have no values yet
    (three-valued logic): holds whatever their values; undecided: a condition on them may still decide it."""
    n = len(frame)
    if node is None:
        return np.ones(n, dtype=bool), np.zeros(n, dtype=bool)
    if isinstance(node, Cond):
        if node.column in unknown:
            return np.zeros(n, dtype=bool), np.ones(n, dtype=bool)
        return cond_mask(node, frame, rule_name), np.zeros(n, dtype=bool)
    parts = [holds_or_undecided(i, frame, unknown, rule_name) for i in node.items]
    if node.kind == "not":
        holds, undecided = parts[0]
        return ~holds & ~undecided, undecided
    fails = [~h & ~u for h, u in parts]
    if node.kind == "and":
        holds, fails_all = np.logical_and.reduce([h for h, _ in parts]), np.logical_or.reduce(fails)
    else:
        holds, fails_all = np.logical_or.reduce([h for h, _ in parts]), np.logical_and.reduce(fails)
    return holds, ~holds & ~fails_all


def rows_needing_drivers(playbook: Playbook, frame: pd.DataFrame, keep: Callable[[Rule], bool]) -> np.ndarray:
    """Rows that need the driver and reason columns before the playbook runs: those whose first rule may depend
    on them (a rule reading them comes before any rule that surely holds) and those whose first sure rule is one
    `keep` selects. Every other row takes the same rule whatever those columns hold, so leaving them empty there
    changes no action."""
    unknown = {c for c in playbook.columns_used() if STAGE_COLUMN.fullmatch(c)}
    frame = with_virtual_columns(frame, playbook, warn=False)
    decided, needed = np.zeros(len(frame), dtype=bool), np.zeros(len(frame), dtype=bool)
    for rule in playbook.rules:
        holds, undecided = holds_or_undecided(rule.node, frame, unknown, rule.name)
        needed |= ~decided & (undecided | (holds & keep(rule)))
        decided |= holds
    return needed


@dataclass
class ActionStage:
    """The actions stage (stage protocol, cxpredict/stages.py): segments and playbook columns for one batch
    (capacity is settled over the run by CapacityQueue).

    `inputs` are the columns the earlier stages add (set by the workflow that orders them): a band whose model
    is absent is left out (no segment_class without the NPS model, no risk_band without the churn model)."""

    segmenter: Segmenter
    playbook: Playbook | None
    playbook_text: str | None = None  # the playbook file as written, copied into the bundle
    inputs: tuple[str, ...] = ("predicted_class", "churn_prob", "value")
    name = "actions"

    @classmethod
    def fit(cls, training: Training, settings: StrategyConfig) -> ActionStage:
        """Band cuts on the training customers' values, with the churn stage's risk bands; the playbook at
        `settings.playbook` (a path the workflow resolved) checked against the stages the data allows."""
        churn = training.fitted["churn"]
        return cls.from_values(churn.values(training.customers.frame), settings, churn.settings,
                               Path(settings.playbook) if settings.playbook else None, training.absent)

    @classmethod
    def from_values(cls, values: np.ndarray | None, settings: StrategyConfig, risk: ChurnConfig,
                    playbook_path: Path | None = None, absent: dict[str, str] | None = None) -> ActionStage:
        """Band cuts fitted on the training customers' `values` (quantile value bands) and `risk`'s risk bands;
        the playbook at `playbook_path` checked now, so a broken playbook fails training (exit 2), not scoring."""
        book = text = None
        if playbook_path is not None:
            book = load_playbook(playbook_path, what=PLAYBOOK_KEY)
            check_stages(book, absent or {}, source=str(playbook_path))
            documented = [*COLUMN_DOCS, "segment_class"]
            extra = [c for c in book.columns_used() if re.fullmatch(r"p_score_\d+", c)]  # per-point probabilities
            validate_columns(book, [*documented, *extra, *missing_stage_columns(book, documented)],
                             source=str(playbook_path))
            text = Path(playbook_path).read_text(encoding="utf-8")
        return cls(Segmenter.fit(risk, settings, values), book, text)

    @classmethod
    def load(cls, bundle_dir: str | Path, settings: StrategyConfig, upstream: dict[str, Any] | None = None,
             skipped: dict[str, str] | None = None) -> ActionStage:
        """The band cuts of a bundle with the scoring config's playbook (`settings`: its strategy section, the
        playbook path resolved), else the bundle's copy. `skipped`: the stages the bundle was trained without
        (Bundle.skipped), which its columns lack."""
        path = Path(bundle_dir) / SEGMENTS_FILE
        if not path.is_file():
            raise BundleError(f"{bundle_dir}: no {SEGMENTS_FILE} (band cuts); retrain the bundle with this version")
        copy = Path(bundle_dir) / PLAYBOOK_FILE
        return cls(Segmenter.from_json(path.read_text(encoding="utf-8")),
                   configured_playbook(settings, skipped or {}, Path(bundle_dir)),
                   copy.read_text(encoding="utf-8") if copy.is_file() else None)

    def files(self) -> dict[str, str]:
        """{bundle file: text}: segments.json and the playbook copy."""
        return {SEGMENTS_FILE: self.segmenter.to_json(),
                **({PLAYBOOK_FILE: self.playbook_text} if self.playbook_text is not None else {})}

    def save(self, bundle_dir: Path) -> None:
        for name, text in self.files().items():
            (Path(bundle_dir) / name).write_text(text, encoding="utf-8")

    def following(self, columns: Iterable[str]) -> ActionStage:
        """This stage after stages adding `columns`."""
        return replace(self, inputs=tuple(columns))

    def needs(self) -> tuple[str, ...]:
        own = set(self.adds()) | set(VIRTUAL_COLUMNS)
        used = sorted(self.playbook.columns_used()) if self.playbook is not None else []
        return tuple(dict.fromkeys([*self.segmenter.reads(self.inputs),
                                    *(c for c in used if c not in own and not STAGE_COLUMN.fullmatch(c))]))

    def adds(self) -> tuple[str, ...]:
        seg = self.segmenter.writes(self.inputs)
        if self.playbook is None:
            return seg
        uplift = ("expected_uplift",) if self.playbook.priority.method == "expected_uplift" else ()
        return (*seg, "strategy", "action", "channel", "owner_team", "sla_hours", *uplift, "priority", "deferred",
                "rule")

    def consumes(self, columns: Iterable[str]) -> tuple[str, ...]:
        """The uplift_<strategy> columns: read by the playbook's priority, not written to the scored file."""
        return tuple(c for c in columns if c.startswith(UPLIFT_PREFIX))

    def transform(self, batch: Any) -> pd.DataFrame:
        """Segment and playbook columns of `batch.scored` (a stages.Batch)."""
        return self.apply(batch.scored)[list(self.adds())]

    def segmented(self, scored: pd.DataFrame) -> pd.DataFrame:
        """scored + risk_band, value_band, segment (+ segment_class)."""
        seg = self.segmenter.assign(scored)
        return pd.concat([scored.drop(columns=[c for c in seg.columns if c in scored.columns]), seg], axis=1)

    def rows_to_explain(self, scored: pd.DataFrame, rows: str) -> np.ndarray | None:
        """The rows of a batch (scored without drivers yet) that get drivers and reasons under `drivers.rows`:
        None for all (rows "all", or no playbook), else a mask (`rows_needing_drivers`)."""
        if rows == "all" or self.playbook is None:
            return None
        return rows_needing_drivers(self.playbook, self.segmented(scored), ROW_RULES[rows])

    def apply(self, scored: pd.DataFrame) -> pd.DataFrame:
        """scored + risk_band, value_band, segment (+ segment_class) + playbook columns without capacity."""
        frame = self.segmented(scored)
        if self.playbook is not None:
            frame = pd.concat([frame, apply_playbook(frame, self.playbook, capacity=False)], axis=1)
        return frame.drop(columns=[c for c in frame.columns if c.startswith(UPLIFT_PREFIX)])


def best_rows(key: np.ndarray, rows: np.ndarray, cap: int) -> tuple[np.ndarray, np.ndarray]:
    """The `cap` best of (key, row) pairs: highest key first, ties to the earlier row (defer_over_capacity's
    order), as (keys, rows). Keeping the best of (kept + new) batch by batch gives the best over all rows."""
    if len(rows) <= cap:
        return key, rows
    best = np.lexsort((rows, -key))[:cap]
    return key[best], rows[best]


def _spool_file(frame: pd.DataFrame, path: Path) -> None:
    feather.write_feather(pa.Table.from_pandas(frame, preserve_index=False), path, compression="uncompressed")


class CapacityQueue:
    """Per-action capacity over a population scored in batches (exactly as `apply_playbook` on all rows).

    `add` spools each batch to an uncompressed Arrow IPC (Feather) file in `directory` (Arrow IPC: no Parquet
    encoding paid twice per row, the same frame back; uncompressed: LZ4 shrinks these nearly incompressible
    probabilities little and costs more CPU than a scratch file read once and deleted is worth) and keeps, per action
    with a capacity, only the rows that are served so far: at most `capacity` (priority, row number) pairs, so
    memory does not grow with the rows. `batches` then yields the batches in order with `deferred` set (highest
    priority first per action). Without capacities the batches pass through the spool unchanged. A batch's file is
    written on a background thread while the caller scores the next one (one in flight; its error is raised at the
    next call).
    """

    def __init__(self, playbook: Playbook | None, directory: str | Path):
        self.capacity = playbook.capacities() if playbook is not None else {}
        self.directory = Path(directory)
        self._parts: list[Path] = []
        self._rows = 0
        empty = (np.zeros(0), np.zeros(0, dtype=np.int64))
        self._served: dict[str, tuple[np.ndarray, np.ndarray]] = {action: empty for action in self.capacity}
        self._spool = threads.background("capacity-spool")
        self._spooling: threads.Future | None = None

    def _spooled(self) -> None:
        """Wait for the batch being written to the spool (its write error is raised here)."""
        spooling, self._spooling = self._spooling, None
        if spooling is not None:
            spooling.result()

    def add(self, acted: pd.DataFrame) -> None:
        path = self.directory / f"part-{len(self._parts):06d}.arrow"
        self._spooled()
        self._spooling = self._spool.submit(_spool_file, acted, path)
        self._parts.append(path)
        if self.capacity:
            action = label_codes(acted["action"], list(self.capacity))
            key = np.nan_to_num(acted["priority"].to_numpy(dtype=float), nan=-np.inf)
            rows = np.arange(self._rows, self._rows + len(acted), dtype=np.int64)
            for code, (name, cap) in enumerate(self.capacity.items()):
                hit = action == code
                if hit.any():
                    kept_key, kept_rows = self._served[name]
                    self._served[name] = best_rows(np.concatenate([kept_key, key[hit]]),
                                                   np.concatenate([kept_rows, rows[hit]]), cap)
        self._rows += len(acted)

    def close(self) -> None:
        """Wait for the batch in flight (after an error: before its folder is removed); no more `add`."""
        self._spool.shutdown(wait=True)

    def batches(self) -> Iterator[pd.DataFrame]:
        self.close()  # every batch on disk
        self._spooled()
        served = np.sort(np.concatenate([rows for _, rows in self._served.values()])) if self.capacity else None
        start = 0
        for path in self._parts:
            batch = feather.read_table(path, memory_map=False).to_pandas(split_blocks=True)  # a block per column:
            # picking and reordering columns later (finish_scored, the writers) copies nothing
            if served is not None:
                rows = np.arange(start, start + len(batch), dtype=np.int64)
                limited = label_codes(batch["action"], list(self.capacity)) >= 0
                batch["deferred"] = limited & ~np.isin(rows, served)
            start += len(batch)
            path.unlink()
            yield batch
