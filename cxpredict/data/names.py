"""Every column name the config holds, checked against the customer table in one place, for `validate` and `train`.

A name that matches no column is an error naming the config key, with a did-you-mean hint, never ignored: a
misspelt features.exclude entry would silently train on the column it meant to leave out (often a leak), and a
misspelt segment or value column would only fail late, after the models were fitted. The columns are those of
the fused customer table (data.customers; a clash renamed '<table>_<name>'), plus the text features when the
text stage runs (their names start with the text column's prefix, data/text.py).
"""

from __future__ import annotations

from collections.abc import Iterable

from cxpredict.config import Config
from cxpredict.data.text import feature_prefix
from cxpredict.errors import ConfigError, did_you_mean


def configured_columns(cfg: Config) -> list[tuple[str, str]]:
    """(config key, column name) of every column the config names that must be a customer column."""
    names: list[tuple[str, str]] = []
    f = cfg.features
    names += [("features.include", c) for c in f.include or []]
    names += [("features.exclude", c) for c in f.exclude]
    names += [("features.categorical", c) for c in f.categorical or []]
    if cfg.drivers.enabled:
        names += [(f"drivers.groups[{g}] ('{group.name}').features", c)
                  for g, group in enumerate(cfg.drivers.groups) for c in group.features]
        names += [("drivers.segments", c) for c in cfg.drivers.segments]
    names += [("population.segments", c) for c in cfg.population.segments]
    names += [("survey_design.segment_targets", c) for c in cfg.survey_design.segment_targets]
    if cfg.churn.value.column is not None:
        names.append(("churn.value.column", cfg.churn.value.column))
    return names


def text_feature_prefixes(cfg: Config) -> list[str]:
    """Prefixes of the text features the text stage adds (before it has run, e.g. in `validate`)."""
    return [feature_prefix(f"{c.table}.{c.column}") + "_" for c in cfg.text.columns] if cfg.text.active else []


def name_problems(cfg: Config, columns: Iterable[str], text_prefixes: Iterable[str] = ()) -> list[ConfigError]:
    """One ConfigError per configured name that matches no column, or a driver-group feature that
    features.include / features.exclude keep out of the model."""
    columns = [str(c) for c in columns]
    known, prefixes = set(columns), tuple(text_prefixes)
    excluded, included = set(cfg.features.exclude), cfg.features.include
    problems = []
    for key, name in configured_columns(cfg):
        if name not in known and not (prefixes and name.startswith(prefixes)):
            why = (" (an entry that matches nothing excludes nothing: the column it meant may be trained on)"
                   if key == "features.exclude" else "")
            problems.append(ConfigError(f"{key}: '{name}' is not a column of the customer data"
                                        f"{did_you_mean(name, columns)}{why}; fix the name or remove it"))
        elif key.startswith("drivers.groups") and (name in excluded or included is not None and name not in included):
            problems.append(ConfigError(f"{key}: '{name}' is left out of the model by features."
                                        f"{'exclude' if name in excluded else 'include'}; remove it from the group "
                                        "or from that list"))
    return problems


def require_names(cfg: Config, columns: Iterable[str]) -> None:
    """Raise every name problem at once (ConfigError, exit code 2) before anything is trained."""
    problems = name_problems(cfg, columns)
    if problems:
        raise ConfigError("; ".join(str(p) for p in problems))
