"""Segments: the NPS class, a churn-risk band and a value band per customer, with band cuts fixed at training."""

from __future__ import annotations

import json
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from cxpredict.codes import label_codes
from cxpredict.config import CLASSES, ChurnConfig, StrategyConfig
from cxpredict.errors import ConfigError

SEGMENTS_FILE = "segments.json"

PLAYBOOK_FILE = "playbook.yaml"


# --------------------------------------------------------------------------------------------- segments
_DEFAULT_LABELS = {1: ["low", "high"], 2: ["low", "medium", "high"], 3: ["low", "medium", "high", "very-high"],
                   4: ["very-low", "low", "medium", "high", "very-high"]}


def band_labels(cuts: list[float], labels: list[str] | None) -> list[str]:
    return list(labels) if labels is not None else list(_DEFAULT_LABELS.get(len(cuts), []))


def _bands(values: np.ndarray, cuts: list[float], labels: list[str]) -> pd.Categorical:
    codes = np.searchsorted(np.asarray(cuts, dtype=float), values, side="right").astype(np.int8)
    codes[np.isnan(values)] = -1
    return pd.Categorical.from_codes(codes, categories=labels)


@dataclass
class Segmenter:
    """Band cut points and labels, fixed at training time and saved beside the model (segments.json)."""

    class_source: str = "observed"
    risk_cuts: list[float] = field(default_factory=lambda: [0.2, 0.5])
    risk_labels: list[str] = field(default_factory=lambda: ["low", "medium", "high"])
    value_cuts: list[float] = field(default_factory=list)  # currency units (quantiles already resolved)
    value_labels: list[str] = field(default_factory=list)

    @classmethod
    def fit(cls, churn: ChurnConfig, strategy: StrategyConfig, values: np.ndarray | None = None) -> Segmenter:
        """Resolve configured bands; quantile value bands become value cuts on `values` (training customers)."""
        value_cuts = list(strategy.value_bands)
        if value_cuts and strategy.value_band_mode == "quantile":
            if values is None or not np.isfinite(values).any():
                raise ConfigError("strategy.value_bands in quantile mode need customer values (churn.value) to fit")
            value_cuts = np.unique(np.nanquantile(values, value_cuts)).tolist()
            if len(value_cuts) < len(strategy.value_bands):
                raise ConfigError(
                    f"strategy.value_bands quantiles {strategy.value_bands} give tied value cuts {value_cuts}: "
                    "customer values are too uniform; use fewer bands or value_band_mode: fixed"
                )
        return cls(
            class_source=strategy.class_source,
            risk_cuts=list(churn.risk_bands),
            risk_labels=band_labels(churn.risk_bands, churn.risk_band_labels),
            value_cuts=value_cuts,
            value_labels=band_labels(strategy.value_bands, strategy.value_band_labels) if value_cuts else [],
        )

    def reads(self, inputs: tuple[str, ...]) -> tuple[str, ...]:
        """The columns `assign` reads, of the `inputs` earlier stages add."""
        return (*(c for c in ("predicted_class", "churn_prob") if c in inputs), *(("value",) if self.value_cuts else ()))

    def writes(self, inputs: tuple[str, ...]) -> tuple[str, ...]:
        """The columns `assign` returns after stages adding `inputs`."""
        return (*(("segment_class",) if "predicted_class" in inputs else ()),
                *(("risk_band",) if "churn_prob" in inputs else ()), *(("value_band",) if self.value_cuts else ()),
                "segment")

    def to_json(self) -> str:
        return json.dumps(self.__dict__, indent=2)

    @classmethod
    def from_json(cls, text: str) -> Segmenter:
        return cls(**json.loads(text))

    def assign(self, scored: pd.DataFrame) -> pd.DataFrame:
        """segment_class, risk_band, value_band and segment for every row (categoricals, vectorised). A part whose
        model is absent is left out: no class without the NPS model (churn-only), no risk band without the churn
        model (survey-only), so a segment reads `high-risk/high-value` or `detractor/high-value`."""
        parts, out = [], {}
        if "predicted_class" in scored.columns:
            cls_text = scored["predicted_class"]
            if self.class_source == "observed" and "observed_class" in scored.columns:
                cls_text = scored["observed_class"].where(scored["observed_class"].notna(), cls_text)
            klass = pd.Categorical.from_codes(label_codes(cls_text, CLASSES), categories=list(CLASSES))
            parts.append((klass.codes, [*CLASSES, "unknown"]))
            out["segment_class"] = klass
        if "churn_prob" in scored.columns:
            risk = _bands(scored["churn_prob"].to_numpy(dtype=float), self.risk_cuts, self.risk_labels)
            parts.append((risk.codes, [f"{x}-risk" for x in [*self.risk_labels, "unknown"]]))
            out["risk_band"] = risk
        if self.value_cuts:
            value = _bands(scored["value"].to_numpy(dtype=float), self.value_cuts, self.value_labels)
            parts.append((value.codes, [f"{x}-value" for x in [*self.value_labels, "unknown"]]))
            out["value_band"] = value
        if not parts:
            raise ConfigError("segments need the NPS model's 'predicted_class', the churn model's 'churn_prob' or "
                              "value bands (strategy.value_bands)")
        out["segment"] = _combine(parts)
        return pd.DataFrame(out, index=scored.index)


def _combine(parts: list[tuple[np.ndarray, list[str]]]) -> pd.Categorical:
    """Join categorical parts with '/' through integer codes (no per-row string work); code -1 -> last label."""
    code = np.zeros(len(parts[0][0]), dtype=np.int64)
    names = [""]
    for codes, labels in parts:
        c = np.where(codes < 0, len(labels) - 1, codes)
        code = code * len(labels) + c
        names = [f"{n}/{lab}" if n else lab for n in names for lab in labels]
    present = np.bincount(code, minlength=len(names)) > 0  # the segments that occur, without sorting the rows
    used = np.flatnonzero(present)
    return pd.Categorical.from_codes(np.cumsum(present)[code] - 1, categories=[names[i] for i in used])
