"""Config values checked against the data, in one place for `validate`, `train` and `score`.

- Names: every column name the config holds must be a column of the customer table, else an error naming the
  config key with a did-you-mean hint, never ignored: a misspelt features.exclude entry would silently train on
  the column it meant to leave out (often a leak), and a misspelt segment or value column would only fail late,
  after the models were fitted. The columns are those of the fused customer table (data/customers.py; a clash
  renamed '<table>_<name>'), plus the text features when the text stage runs (named after the text column,
  data/text.py).
- The reference date: data.as_of (or --as-of) after the last event by more than the shortest event window is an
  error unless data.force_as_of: every customer's window would be empty, and work orders would fall due counted
  from a day the data does not describe (e.g. 2099).
"""

from __future__ import annotations

from collections.abc import Iterable

import pandas as pd

from cxpredict.config import Config
from cxpredict.data.tables import table_columns
from cxpredict.data.text import COMPLAINTS, MENTIONS, TONE, feature_prefix
from cxpredict.errors import ConfigError, did_you_mean

AS_OF_GRACE_DAYS = 90  # the limit without windowed aggregations (all-time counts)


def configured_columns(cfg: Config) -> list[tuple[str, str]]:
    """(config key, column name) of every column the config names that must be a customer column."""
    names: list[tuple[str, str]] = []
    f = cfg.features
    names += [("features.include", c) for c in f.include or []]
    names += [("features.exclude", c) for c in f.exclude]
    names += [("features.categorical", c) for c in f.categorical or []]
    absent = cfg.absent_stages()  # the names of a stage that does not run (e.g. no survey table) are not read
    if cfg.drivers.enabled and "drivers" not in absent:
        names += [(f"drivers.groups[{g}] ('{group.name}').features", c)
                  for g, group in enumerate(cfg.drivers.groups) for c in group.features]
        names += [("drivers.segments", c) for c in cfg.drivers.segments]
    if "nps" not in absent:
        names += [("population.segments", c) for c in cfg.population.segments]
        names += [("survey_design.segment_targets", c) for c in cfg.survey_design.segment_targets]
    if cfg.churn.value.column is not None:
        names.append(("churn.value.column", cfg.churn.value.column))
    return names


def text_feature_prefixes(cfg: Config) -> list[str]:
    """Prefixes of the text features the text stage adds (before it has run, e.g. in `validate`)."""
    return [feature_prefix(f"{c.table}.{c.column}") + "_" for c in cfg.text.columns] if cfg.text.active else []


def input_headers(cfg: Config) -> set[str]:
    """Every column of the configured input tables' headers (survey, outcomes, behaviour), read or not."""
    from cxpredict.data.database_source import database_tables

    with database_tables(cfg) as staged:  # data.source: the database's tables (events: their columns only)
        cfg = staged.cfg
        tables = [t for t in (cfg.data.survey, cfg.data.outcomes, *cfg.data.behaviour) if t is not None]
        return {name for path in dict.fromkeys(cfg.data_path(t.path) for t in tables)
                for name in (staged.remote[path].columns() if path in staged.remote
                             else table_columns(path, cfg.data.read))}


def name_problems(cfg: Config, columns: Iterable[str], text_prefixes: Iterable[str] = ()) -> list[ConfigError]:
    """One ConfigError per configured name that matches no column, or a driver-group feature that
    features.include / features.exclude keep out of the model. A features.exclude entry may also name any column
    of an input table's header (a label or key kept out defensively, in case a table adds it): that is no typo.
    The input tables must be readable (the callers check them first)."""
    columns = [str(c) for c in columns]
    known, prefixes = set(columns), tuple(text_prefixes)
    excluded, included = set(cfg.features.exclude), cfg.features.include
    headers: set[str] | None = None  # the input files' headers, read only when an exclude entry needs them
    problems = []
    for key, name in configured_columns(cfg):
        if name not in known and not (prefixes and name.startswith(prefixes)):
            if key == "features.exclude":
                headers = input_headers(cfg) if headers is None else headers
                if name in headers:
                    continue
            why = (" nor of any input table (an entry that matches nothing excludes nothing: the column it meant "
                   "may be trained on)" if key == "features.exclude" else "")
            problems.append(ConfigError(f"{key}: '{name}' is not a column of the customer data{why}"
                                        f"{did_you_mean(name, columns)}; fix the name or remove it"))
        elif key.startswith("drivers.groups") and (name in excluded or included is not None and name not in included):
            problems.append(ConfigError(f"{key}: '{name}' is left out of the model by features."
                                        f"{'exclude' if name in excluded else 'include'}; remove it from the group "
                                        "or from that list"))
    return problems + actionable_problems(cfg, columns, prefixes)


def actionable_problems(cfg: Config, columns: list[str], text_prefixes: tuple[str, ...] = ()) -> list[ConfigError]:
    """A drivers.actionable entry must name a driver group or a feature: a column, a configured group, an events
    table (its default group, when no groups are configured), a text feature or text driver group ("Mentions of
    ...", "Complaints about ...": their topics are learned later, so any name of that form passes). A misspelt
    entry would leave the driver it meant not actionable without a word."""
    if not cfg.drivers.enabled or "drivers" in cfg.absent_stages():
        return []
    groups = [g.name for g in cfg.drivers.groups] or [t.name for t in cfg.data.behaviour if t.kind == "events"]
    options = [*columns, *groups, *([TONE] if cfg.text.active else [])]
    text_groups = (f"{MENTIONS} ", f"{COMPLAINTS} ") if cfg.text.active else ()
    return [ConfigError(f"drivers.actionable: '{name}' matches no driver group or feature"
                        f"{did_you_mean(name, options)}; fix the name or remove it")
            for name in cfg.drivers.actionable
            if name not in options and not name.startswith((*text_prefixes, *text_groups))]


def require_names(cfg: Config, columns: Iterable[str]) -> None:
    """Raise every name problem at once (ConfigError, exit code 2) before anything is trained."""
    problems = name_problems(cfg, columns)
    if problems:
        raise ConfigError("; ".join(str(p) for p in problems))


def as_of_problem(cfg: Config, latest: dict[str, pd.Timestamp | None], as_of: pd.Timestamp) -> ConfigError | None:
    """The error for a data.as_of later than the last event (`latest`: each event table's last timestamp, by name)
    by more than the shortest window of their aggregations; None when it is not, or when data.force_as_of says so."""
    stamps = {name: last for name, last in latest.items() if last is not None and not pd.isna(last)}
    if not cfg.data.as_of or cfg.data.force_as_of or not stamps:
        return None
    table, last = max(stamps.items(), key=lambda kv: kv[1])
    days = min((a.window_days for t in cfg.data.behaviour if t.name in latest for a in t.aggregations
                if a.window_days), default=AS_OF_GRACE_DAYS)
    gap = (as_of.normalize() - last.normalize()).days
    if gap < days:  # windows end with the as_of day: a 30-day one still holds events 29 days before
        return None
    return ConfigError(
        f"data.as_of (or --as-of) {cfg.data.as_of} is {gap} days after the last event of the data "
        f"({last:%Y-%m-%d}, events table {table!r}): every {days}-day event window would be empty for every "
        "customer, and due dates would count from a day the data does not describe. Use the data's date (or leave "
        "data.as_of unset: the last event), or set data.force_as_of: true (--set data.force_as_of=true) if this "
        "date is meant.")
