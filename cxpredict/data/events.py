"""Event tables (one row per ticket, order, login ...) turned into per-customer features over windows that end
at `data.as_of`; events after it are ignored, so training never sees the future of its reference date."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd

from cxpredict.config import Aggregation, BehaviourTable, Config
from cxpredict.codes import positions
from cxpredict.data.ids import KEY, why_unmatched
from cxpredict.errors import ConfigError


def aggregation_name(table: BehaviourTable, agg: Aggregation) -> str:
    if agg.name:
        return agg.name
    column = f"_{agg.column}" if agg.column else ""
    window = f"_{agg.window_days}d" if agg.window_days else ""
    return f"{table.name}_{agg.agg}{column}{window}"


def aggregate_events(table: BehaviourTable, events: pd.DataFrame, as_of: pd.Timestamp,
                     population: pd.Index, warn: Callable[[str], None]) -> pd.DataFrame:
    """Per-customer features over windows ending at `as_of`; events after it are ignored (no leakage)."""
    future = (events[table.timestamp] > as_of).to_numpy()
    if future.any():
        warn(f"events table {table.name!r}: {int(future.sum())} events after as_of {as_of} ignored")
    codes = positions(events[KEY], population)  # integer group keys: grouping text IDs is several times slower
    outside = codes < 0
    if outside.any():
        absent = events.loc[outside, KEY]
        warn(f"events table {table.name!r}: {int(outside.sum())} events of {absent.nunique()} customers "
                    f"absent from the customer tables ignored{why_unmatched(absent.unique(), population)}")
    keep = ~future & ~outside
    events, codes, ts = events[keep], codes[keep], events[table.timestamp][keep]
    out = pd.DataFrame(index=population)
    for agg in table.aggregations:
        window = np.ones(len(events), bool) if agg.window_days is None else \
            (ts > as_of - pd.Timedelta(days=agg.window_days)).to_numpy()
        if agg.agg == "count" and agg.column is None:
            values = pd.Series(np.bincount(codes[window], minlength=len(population)))
        else:
            values = events[agg.column][window].groupby(codes[window]).agg(agg.agg)
            values = values.reindex(pd.RangeIndex(len(population)))
        if agg.agg in ("count", "sum", "nunique"):
            values = values.fillna(0)
        out[aggregation_name(table, agg)] = values.to_numpy(dtype="float64")
    return out


def window_end(cfg: Config, latest: dict[str, pd.Timestamp | None]) -> pd.Timestamp | None:
    """Inclusive end of event windows: data.as_of (a date-only value covers that whole day) or the last event
    (`latest`: each events table's last timestamp, None for an empty one)."""
    if cfg.data.as_of:
        try:
            as_of = pd.Timestamp(cfg.data.as_of)
        except ValueError as e:
            raise ConfigError(f"data.as_of {cfg.data.as_of!r} is not a date: {e}. Use e.g. 2024-06-30") from None
        if as_of.tz is not None:
            as_of = as_of.tz_convert("UTC").tz_localize(None)
        return as_of + pd.Timedelta(days=1) - pd.Timedelta(microseconds=1) if as_of == as_of.normalize() else as_of
    stamps = [stamp for stamp in latest.values() if stamp is not None and not pd.isna(stamp)]
    return max(stamps) if stamps else None
