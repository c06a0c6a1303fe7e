"""The model matrix, and the manifest that rebuilds exactly the same matrix at scoring time.

Training fixes the feature names, their order, the category levels and the numeric ranges. Columns empty in
every row or holding one value in every row are dropped with a warning that names them: they cannot inform a
model, and scoring should not require them. Scoring data is transformed with that manifest only: a missing
column is an error, an extra column is ignored, an unseen category becomes "unknown" (counted, never a crash),
values far outside the training range are counted, and infinite or extreme numbers become missing values as the
table reader does (tables.MAX_ABS; a frame handed over by an API or pyfunc caller never went through a reader).
The manifest is plain JSON so a model bundle never needs pickle.

Column names are the user's (`Monthly Charge`, `Größe`, `a,b`); LightGBM rewrites spaces and rejects JSON
punctuation in feature names. The manifest is the ONE mapping between the two: `names` are the user's columns,
`model_names` the ASCII identifiers the model matrix (and so every model) uses, equal to the user's name whenever
that already is one. Everything people read (config, outputs, reports, errors) uses `names`; only the matrix
`transform` returns has `model_names` as columns.
"""

from __future__ import annotations

import logging
import re
import unicodedata
from collections.abc import Collection
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from cxpredict.config import DriversConfig, FeaturesConfig
from cxpredict.codes import positions
from cxpredict.data.numbers import ExtremeCounts, extreme_mask
from cxpredict.errors import ConfigError, InputError, did_you_mean, first_rows

log = logging.getLogger(__name__)

UNKNOWN = "unknown"
OTHER = "other"
N_BINS = 10
_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_NOT_WORD = re.compile(r"[^A-Za-z0-9_]+")


def _is_text(s: pd.Series) -> bool:
    return (
        pd.api.types.is_string_dtype(s)
        or isinstance(s.dtype, pd.CategoricalDtype)
        or pd.api.types.is_bool_dtype(s)
        or s.dtype == object
    )


@dataclass
class FeatureManifest:
    names: list[str]
    categorical: dict[str, list[str]]  # levels kept, plus "other" when rare levels were folded
    numeric: dict[str, dict[str, Any]]
    rare: dict[str, list[str]] = field(default_factory=dict)  # training levels folded into "other"
    model_names: list[str] = field(default_factory=list)  # aligned with `names`; default: model_safe_names(names)
    dropped: dict[str, str] = field(default_factory=dict)  # candidate column -> why it is not a feature
    origin: dict[str, str] = field(default_factory=dict)  # feature -> the behaviour table it was read from

    def __post_init__(self) -> None:
        if not self.model_names:
            self.model_names = model_safe_names(self.names)

    def user_names(self, model_names) -> list[str]:
        """The user's column name of each model feature name, also inside a categorical level's 'name=level'
        label (metrics.standardized_differences); names the manifest does not know pass through."""
        user = dict(zip(self.model_names, self.names))

        def one(label: str) -> str:
            name, sep, level = str(label).partition("=")  # model names never contain '='
            return user.get(label) or (f"{user[name]}={level}" if sep and name in user else label)

        return [one(name) for name in model_names]

    def user_named(self, rows: list[dict[str, Any]], key: str = "feature") -> list[dict[str, Any]]:
        """Copies of report rows (e.g. a model summary's top features) with `key` turned into the user's name."""
        return [{**row, key: self.user_names([row[key]])[0]} if key in row else dict(row) for row in rows]

    # ------------------------------------------------------------------ fit
    @classmethod
    def fit(cls, frame: pd.DataFrame, cfg: FeaturesConfig, origin: dict[str, str] | None = None,
            generated: Collection[str] = ()) -> FeatureManifest:
        """Choose feature columns (include minus exclude), learn category levels and numeric ranges. `origin`
        (column -> behaviour table, DataReport.origin) lets scoring name the table a missing feature comes from.
        `generated`: columns cxpredict made (text features); dropping one is no advice to the user."""
        available = [c for c in frame.columns]
        if cfg.include is not None:
            missing = [c for c in cfg.include if c not in available]
            if missing:
                hints = "; ".join(f"'{m}'{did_you_mean(m, available)}" for m in missing)
                raise ConfigError(f"features.include names columns not in the behaviour data: {hints}")
            chosen = list(cfg.include)
        else:
            chosen = available
        excluded = set(cfg.exclude)
        names = [c for c in chosen if c not in excluded]
        if not names:
            raise ConfigError("features: no feature columns left after include/exclude")
        forced_cat = set(cfg.categorical or [])
        unknown_cat = forced_cat - set(names)
        if unknown_cat:
            raise ConfigError(f"features.categorical names columns that are not features: {sorted(unknown_cat)}")
        dropped = uninformative(frame, names)
        generated = set(generated)
        theirs = {c: why for c, why in dropped.items() if c not in generated}
        if theirs:
            log.warning("features: %d column(s) dropped from the model, they cannot inform it: %s; list them in "
                        "features.exclude to silence this", len(theirs),
                        "; ".join(f"{c!r} ({why})" for c, why in theirs.items()))
        if len(theirs) < len(dropped):
            log.info("features: %d generated text feature(s) left out, constant or empty in the training data",
                     len(dropped) - len(theirs))
        names = [c for c in names if c not in dropped]
        if not names:
            raise ConfigError("features: every candidate column is empty or constant in the training data: "
                              f"{list(dropped)}. Check that the behaviour tables hold data (and data.read options).")

        categorical: dict[str, list[str]] = {}
        rare: dict[str, list[str]] = {}
        numeric: dict[str, dict[str, Any]] = {}
        for col in names:
            s = frame[col]
            if col in forced_cat or (cfg.categorical is None and _is_text(s)):
                categorical[col], folded = _levels(s, cfg.max_categories, cfg.min_category_count)
                if folded:
                    rare[col] = folded
            elif pd.api.types.is_numeric_dtype(s) or pd.api.types.is_bool_dtype(s):
                values = s.to_numpy(dtype="float64", na_value=np.nan)
                numeric[col] = _numeric_profile(pd.Series(np.where(extreme_mask(values), np.nan, values)))
            else:
                raise ConfigError(
                    f"feature '{col}' is text but not listed in features.categorical; list it there or exclude it"
                )
        origin = {c: origin[c] for c in names if c in (origin or {})}
        return cls(names=names, categorical=categorical, numeric=numeric, rare=rare, dropped=dropped, origin=origin)

    def kept_driver_groups(self, drivers: DriversConfig) -> tuple[DriversConfig, list[str]]:
        """`drivers` with the features training dropped (empty or constant) out of their groups, a group left
        with none left out, and one note per changed group in the config's names: a quarter without outages
        must not stop nightly training because a group names 'outages_90d'."""
        groups, notes = [], []
        for group in drivers.groups:
            gone = [f for f in group.features if f in self.dropped]
            kept = [f for f in group.features if f not in self.dropped]
            why = "; ".join(f"'{f}': {self.dropped[f]}" for f in gone)
            if gone:
                notes.append(f"drivers.groups '{group.name}': " + (
                    f"kept without {why} (dropped from the model); the group stands on {kept}" if kept else
                    f"left out, every feature of it was dropped from the model ({why})"))
            if kept:
                groups.append(group.model_copy(update={"features": kept}) if gone else group)
        return (drivers.model_copy(update={"groups": groups}) if notes else drivers), notes

    # ------------------------------------------------------------------ transform
    def check_columns(self, columns, source: str = "scoring data", origin=None) -> list[str]:
        """InputError naming every missing feature column (with close matches, and with `origin(column)`, e.g.
        the table it is read from, when given); returns the extra columns, which are ignored: columns training
        never saw, not the ones it dropped (it warned about those then). Lets a streaming reader check a file's
        header before reading any row."""
        cols = [str(c) for c in columns]
        missing = [c for c in self.names if c not in cols]
        if missing:
            where = origin or (lambda _: "")
            hints = "; ".join(f"'{m}'{where(m)}{did_you_mean(m, cols)}" for m in missing[:10])
            raise InputError(
                f"{source}: {len(missing)} feature column(s) the model was trained on are missing: {hints}. "
                "Provide them, or retrain the model without them."
            )
        return [c for c in cols if c not in self.names and c not in self.dropped]

    def transform(self, frame: pd.DataFrame, source: str = "scoring data", origin=None) -> pd.DataFrame:
        """The model matrix: the training features in training order (columns named `model_names`), levels and
        dtypes. `transform_with_stats` also returns what drift monitoring counts. `origin(column)` names where a
        column comes from in errors (sources.feature_origin: its table and file)."""
        return self._matrix(frame, source, origin)[0]

    def transform_with_stats(self, frame: pd.DataFrame, source: str = "scoring data",
                             origin=None) -> tuple[pd.DataFrame, dict]:
        """(model matrix, stats): rows, unseen_categories and out_of_range per feature, extra_columns_ignored, and
        bin_counts (drift.DriftMonitor.add sums them over scoring batches). Returned, never kept on the manifest,
        which every batch shares."""
        X, stats = self._matrix(frame, source, origin)
        return X, {**stats, "bin_counts": self.bin_counts(X)}

    def _matrix(self, frame: pd.DataFrame, source: str, origin=None) -> tuple[pd.DataFrame, dict[str, Any]]:
        extra = self.check_columns(frame.columns, source, origin)
        where = origin or (lambda _: "")
        out = {}
        unseen: dict[str, int] = {}
        out_of_range: dict[str, int] = {}
        extremes = ExtremeCounts()
        for col, model_col in zip(self.names, self.model_names):
            s = frame[col]
            if col in self.categorical:
                out[model_col], new = self._level_codes(col, s)
                if new:
                    unseen[col] = new
            else:
                numeric = pd.api.types.is_numeric_dtype(s)
                values = s if numeric else pd.to_numeric(s, errors="coerce")
                bad_text = 0 if numeric else int((values.isna() & s.notna()).sum())  # a number column has no text
                if bad_text:
                    raise InputError(
                        f"{source}: column '{col}'{where(col)} should be numeric, as at training, but {bad_text} "
                        f"value(s) are not numbers, e.g. {s[values.isna() & s.notna()].astype('str').head(3).tolist()}"
                        "; fix the values (or data.read.na_values), or retrain if the column is text on purpose"
                    )
                values = values.astype("float64").to_numpy()
                extreme = extreme_mask(values)
                if extreme.any():  # the reader's policy, for frames that never went through it
                    extremes.add(col, np.flatnonzero(extreme))
                    values = np.where(extreme, np.nan, values)
                prof = self.numeric[col]
                span = max(prof["max"] - prof["min"], 1e-12)
                far = (values < prof["min"] - span) | (values > prof["max"] + span)
                if far.any():
                    out_of_range[col] = int(far.sum())
                out[model_col] = values
        X = pd.DataFrame(out, index=frame.index)
        message = extremes.message(source, lambda rows, n: first_rows([r + 1 for r in rows]) + " (1-based)"
                                   + (" ..." if n > len(rows) else ""))
        if message:
            log.warning(message)
        return X, {"rows": len(X), "non_finite": dict(extremes.counts), "unseen_categories": unseen,
                   "out_of_range": out_of_range, "extra_columns_ignored": extra}

    def _level_codes(self, col: str, s: pd.Series) -> tuple[pd.Categorical, int]:
        """(the column as its training levels, rows with a level never seen): a level is looked up once per row
        (one hash pass), rare levels are folded into 'other' as at training, new ones become 'unknown'."""
        levels = self.categorical[col]
        codes = positions(s, levels)  # Arrow's hash lookup: pandas' on text is several times slower
        lost = (codes < 0) & s.notna().to_numpy()
        new = 0
        if lost.any():
            folded = lost & (positions(s, self.rare.get(col, [])) >= 0)
            if folded.any():
                codes[folded] = levels.index(OTHER)
            codes[lost & ~folded] = len(levels)
            new = int((lost & ~folded).sum())
        return pd.Categorical.from_codes(codes, categories=levels + [UNKNOWN]), new

    def bin_counts(self, X: pd.DataFrame) -> dict[str, list[int]]:
        """Rows per drift (PSI) bin of every feature of a model matrix, the same bins at training and scoring:
        numeric features by the training decile `edges` (then a last bin for missing values), categorical ones
        by level (the training levels, then "unknown", then missing). Keyed by the user's names."""
        counts: dict[str, list[int]] = {}
        for col, model_col in zip(self.names, self.model_names):
            if col in self.categorical:
                codes = X[model_col].cat.codes.to_numpy()
                n_levels = len(self.categorical[col]) + 1  # + "unknown"
                bins = np.where(codes < 0, n_levels, codes)
                counts[col] = np.bincount(bins, minlength=n_levels + 1).tolist()
            else:
                counts[col] = numeric_bin_counts(X[model_col].to_numpy(dtype="float64"),
                                                 self.numeric[col].get("edges", []))
        return counts

    # ------------------------------------------------------------------ (de)serialisation
    def to_dict(self) -> dict[str, Any]:
        return {"names": self.names, "model_names": self.model_names, "categorical": self.categorical,
                "numeric": self.numeric, "rare": self.rare, "dropped": self.dropped, "origin": self.origin}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> FeatureManifest:
        return cls(
            names=list(data["names"]),
            categorical=dict(data["categorical"]),
            numeric=dict(data["numeric"]),
            rare=dict(data.get("rare", {})),
            dropped=dict(data.get("dropped", {})),
            origin=dict(data.get("origin", {})),
            # bundles written before model-safe names trained their models on the names themselves
            model_names=list(data.get("model_names", data["names"])),
        )


def model_safe_names(names: list[str]) -> list[str]:
    """One ASCII identifier per column name, unique, and the name itself when it already is an identifier:
    'Monthly Charge' -> 'Monthly_Charge' (or 'Monthly_Charge_2' when a column already has that name), 'Größe' ->
    'Groe', '=cost' -> 'cost', '[id]' -> 'id', '2024 spend' -> 'f_2024_spend'."""
    names = [str(n) for n in names]
    taken = {n for n in names if _IDENTIFIER.fullmatch(n)}
    out = []
    for name in names:
        if _IDENTIFIER.fullmatch(name):
            out.append(name)
            continue
        ascii_name = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode("ascii")
        base = _NOT_WORD.sub("_", ascii_name).strip("_") or "feature"
        base = f"f_{base}" if base[0].isdigit() else base
        candidate, k = base, 2
        while candidate in taken:
            candidate, k = f"{base}_{k}", k + 1
        taken.add(candidate)
        out.append(candidate)
    return out


def numeric_bin_counts(values: np.ndarray, edges: list[float]) -> list[int]:
    """Counts per bin: below the first edge, between consecutive edges (a value equal to an edge goes up), above
    the last edge, then missing values; len(edges) + 2 bins, so an empty `edges` still separates missing values."""
    values = np.asarray(values, dtype="float64")
    missing = int(np.isnan(values).sum())
    # rows at or above each (sorted) edge, NaN never; a bin's count is the difference of two neighbours
    at_or_above = [len(values) - missing, *(int(np.count_nonzero(values >= edge)) for edge in edges), 0]
    return [a - b for a, b in zip(at_or_above[:-1], at_or_above[1:])] + [missing]


def _levels(s: pd.Series, max_categories: int, min_count: int) -> tuple[list[str], list[str]]:
    """Levels kept as themselves, and the rarer or surplus ones folded into 'other' (the same at scoring)."""
    counts = s.dropna().astype("str").value_counts()
    keep = counts[counts >= min_count].index[:max_categories].tolist()
    folded = sorted(set(counts.index) - set(keep))
    levels = sorted(keep) + ([OTHER] if folded and OTHER not in keep else [])
    return levels, folded


def _numeric_profile(s: pd.Series) -> dict[str, Any]:
    """Range and decile edges (for PSI drift checks at scoring time)."""
    v = s.to_numpy(dtype="float64")
    v = v[~np.isnan(v)]
    if len(v) == 0:
        return {"min": 0.0, "max": 0.0, "edges": [], "missing_share": 1.0}
    edges = np.unique(np.quantile(v, np.linspace(0, 1, N_BINS + 1)[1:-1])).tolist()
    return {
        "min": float(v.min()),
        "max": float(v.max()),
        "edges": edges,
        "missing_share": float(1 - len(v) / len(s)),
    }


def uninformative(frame: pd.DataFrame, names: list[str]) -> dict[str, str]:
    """Columns of `names` that are empty in every row, or hold one value in every row (missing counts as a value:
    a column that is either 1 or empty still separates customers), with the reason."""
    dropped = {}
    for col in names:
        s = frame[col]
        present = s.dropna()
        if present.empty:
            dropped[col] = "empty in every row"
        elif len(present) == len(s) and present.nunique() == 1:
            dropped[col] = f"the same value '{present.iloc[0]}' in every row"
    return dropped
