"""The value at stake per customer (`compute_value`): a deliberately simple customer-lifetime-value proxy,
value = the configured revenue column (e.g. monthly charge) x `churn.value.months` (the revenue horizon a
retention action protects), undiscounted, negative revenue clipped to 0, missing revenue -> `churn.value.default`,
flagged (value_imputed) and counted in a warning. It is not itself churn-adjusted, because
`value_at_risk = churn_prob * value` is the expected revenue lost if nobody acts.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from cxpredict.config import ValueConfig
from cxpredict.data.numbers import extreme_mask
from cxpredict.errors import ConfigError, InputError, did_you_mean


def compute_value(frame: pd.DataFrame, cfg: ValueConfig) -> np.ndarray:
    """value = revenue column x months (CLV proxy, see module doc); `cfg.default` when no column / missing."""
    return valued(frame, cfg)[0]


def valued(frame: pd.DataFrame, cfg: ValueConfig) -> tuple[np.ndarray, np.ndarray]:
    """(value, imputed): `compute_value` and where `cfg.default` stands in (no column, or an empty or non-finite
    entry), so a placeholder is never silent: the value_imputed column and the ImputedValues warning."""
    if cfg.column is None:
        return np.full(len(frame), float(cfg.default)), np.ones(len(frame), dtype=bool)
    if cfg.column not in frame.columns:
        raise ConfigError(
            f"churn.value.column '{cfg.column}' is not a behaviour column"
            + did_you_mean(cfg.column, frame.columns)
            + "; set it to a revenue column, or remove it to value every customer at churn.value.default"
        )
    s = frame[cfg.column]
    revenue = pd.to_numeric(s, errors="coerce") if not pd.api.types.is_numeric_dtype(s) else s
    bad = revenue.isna() & s.notna()
    if bad.any():
        raise InputError(
            f"value column '{cfg.column}' must be numeric; {int(bad.sum())} value(s) are not, e.g. "
            f"{s[bad].astype('str').head(3).tolist()}"
        )
    revenue = revenue.astype("float64").to_numpy()
    revenue = np.where(extreme_mask(revenue), np.nan, revenue)  # inf / beyond MAX_ABS: missing, as the reader does
    missing = np.isnan(revenue)
    return np.where(missing, float(cfg.default), np.clip(revenue, 0.0, None) * cfg.months), missing


@dataclass
class ImputedValues:
    """Customers valued at churn.value.default, summed over a run's batches, for one warning at its end."""

    count: int = 0
    rows: int = 0
    examples: list[str] = field(default_factory=list)

    def add(self, ids, imputed) -> None:
        imputed = np.asarray(imputed, dtype=bool)
        self.count, self.rows = self.count + int(imputed.sum()), self.rows + len(imputed)
        first = np.flatnonzero(imputed)[: 5 - len(self.examples)]  # only these IDs read (not a whole column)
        self.examples += [str(i) for i in (ids.iloc[first] if isinstance(ids, pd.Series) else np.asarray(ids)[first])]

    def warning(self, cfg: ValueConfig) -> str | None:
        """The warning naming the column, how many customers and the first IDs; None when nobody was imputed."""
        if not self.count:
            return None
        where = (f"churn.value.column is not set, so all {self.rows:,} customers are valued at churn.value.default "
                 f"({cfg.default:g})" if cfg.column is None else
                 f"{self.count:,} of {self.rows:,} customers have no usable '{cfg.column}' (churn.value.column: empty "
                 f"or not finite), e.g. {', '.join(self.examples)}; they are valued at churn.value.default "
                 f"({cfg.default:g})")
        return (f"{where}, a placeholder, not their value: value_imputed = 1 marks them in the scored file. Fill "
                "the column, point churn.value.column at a revenue column, or set churn.value.default to a typical "
                "value.")


def value_at_risk(churn_prob: np.ndarray, value: np.ndarray) -> np.ndarray:
    """Expected value lost if nobody acts: churn probability x value."""
    return np.asarray(churn_prob, dtype=float) * np.asarray(value, dtype=float)
