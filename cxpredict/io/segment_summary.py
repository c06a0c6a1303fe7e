"""The segment summary people read beside the scored file (counts, churn, value at risk and predicted NPS per
segment and strategy), summed batch by batch while the scored file is written, and the run's NPS totals for
manifest.json."""

from __future__ import annotations

import numpy as np
import pandas as pd

from cxpredict.codes import label_codes
from cxpredict.domain import CLASSES


EXPECTED_METHOD = ("expected_shares: over all customers, unweighted, each respondent's answer and each silent "
                   "customer's predicted probabilities; model_only: promoter minus detractor of those shares (the "
                   "report's 'Model only'); respondents_naive: respondents' own answers, unweighted")


def _segment_groups(scored: pd.DataFrame) -> tuple[np.ndarray, pd.MultiIndex]:
    """(group number per row, the (segment, strategy) of each group in order of first appearance); a missing
    segment or strategy is ""."""
    codes, labels = [], []
    for col in ("segment", "strategy"):
        if col in scored.columns:
            code, unique = pd.factorize(scored[col])
            labels.append(np.append(np.asarray(unique.astype("str"), dtype=object), ""))  # code -1: the last
            codes.append(np.where(code < 0, len(unique), code))
        else:
            labels.append(np.array([""], dtype=object))
            codes.append(np.zeros(len(scored), dtype=np.int64))
    groups, pairs = pd.factorize(codes[0] * len(labels[1]) + codes[1])
    keys = pd.MultiIndex.from_arrays([pd.array(labels[0][pairs // len(labels[1])], dtype="str"),
                                      pd.array(labels[1][pairs % len(labels[1])], dtype="str")],
                                     names=["segment", "strategy"])
    return groups, keys


class SegmentSummary:
    """Counts, mean churn, value at risk and predicted NPS per segment and strategy; `add` batch by batch."""

    SUMS = ("churn_prob", "value_at_risk", "p_promoter", "p_detractor")
    # summary column -> the scored column it needs: left out of the table when no batch had it (churn-only runs
    # have no NPS columns, survey-only runs no churn columns)
    SOURCES = {"respondents": "is_respondent", "mean_churn_prob": "churn_prob", "value_at_risk": "value_at_risk",
               "mean_value_at_risk": "value_at_risk", "predicted_nps": "p_promoter"}

    def __init__(self) -> None:
        self._parts: list[pd.DataFrame] = []
        self._seen: set[str] = set()

    def add(self, scored: pd.DataFrame) -> SegmentSummary:
        """This batch's sums per (segment, strategy), in order of first appearance: the groups found by
        factorising the two columns (a categorical's codes, no text per row), each sum one `np.bincount`."""
        groups, keys = _segment_groups(scored)
        n = len(keys)

        def total(values, whole: bool = False) -> np.ndarray:
            values = np.asarray(values, dtype=float)
            known = ~np.isnan(values)
            sums = np.bincount(groups, weights=np.where(known, values, 0.0), minlength=n)
            if whole:
                return sums.astype(np.int64)
            return np.where(np.bincount(groups, weights=known, minlength=n) > 0, sums, np.nan)  # sum(min_count=1)

        def column(name: str) -> np.ndarray:
            return scored[name].to_numpy(dtype=float) if name in scored.columns else np.full(len(scored), np.nan)

        part = {"customers": np.bincount(groups, minlength=n).astype(np.int64)}
        for name, source in (("respondents", "is_respondent"), ("deferred", "deferred")):
            part[name] = total(scored[source].to_numpy(dtype=float), whole=True) if source in scored.columns \
                else np.zeros(n, dtype=np.int64)
        for col in self.SUMS:
            part[col] = total(column(col))
        self._seen |= set(self.SOURCES.values()) & set(scored.columns)
        observed = label_codes(scored["observed_class"], CLASSES) if "observed_class" in scored.columns \
            else np.full(len(scored), -1)
        answered = observed >= 0
        said = {cls: (observed == CLASSES.index(cls)).astype(float) for cls in ("promoter", "detractor")}
        part["said_promoter"], part["said_detractor"] = (total(said[c], whole=True) for c in ("promoter", "detractor"))
        for cls in ("promoter", "detractor"):  # expected class counts: the answer where there is one, else P(class)
            part[f"expected_{cls}"] = total(np.where(answered, said[cls], column(f"p_{cls}")))
        self._parts.append(pd.DataFrame(part, index=keys))
        return self

    def totals(self) -> dict[str, float | int | dict[str, float] | None]:
        """The run's NPS figures for manifest.json (and so the report's trend across runs), each labelled, each
        named as in the report (glossary: "Expected shares", "Model only"):
        `expected_shares` the expected class shares of ALL customers: the respondent's answer where there is one,
        else the predicted probability (unweighted); `model_only` the NPS of those shares (promoter - detractor),
        the report's "Model only"; `respondents_naive` the NPS of the respondents' own answers (unweighted).
        Counts of the predicted (most likely) class are a different figure: manifest `counts.predicted_class`."""
        if not self._parts:
            return {}
        t = pd.concat(self._parts).sum(min_count=1)
        n, r = int(t["customers"]), int(t["respondents"])
        e_det, e_pro = float(t["expected_detractor"]) / max(n, 1), float(t["expected_promoter"]) / max(n, 1)
        known = bool(np.isfinite(e_det + e_pro))
        return {"customers": n, "respondents": r,
                "model_only": round(100 * (e_pro - e_det), 2) if known else None,
                "respondents_naive": round(100 * (t["said_promoter"] - t["said_detractor"]) / r, 2) if r else None,
                "expected_shares": {"detractor": round(e_det, 4), "passive": round(1 - e_det - e_pro, 4),
                                    "promoter": round(e_pro, 4)} if known else {},
                "method": EXPECTED_METHOD}

    def table(self) -> pd.DataFrame:
        cols = ["segment", "strategy", "customers", "share", "respondents", "mean_churn_prob", "value_at_risk",
                "mean_value_at_risk", "predicted_nps", "deferred"]
        if not self._parts:
            return pd.DataFrame(columns=cols)
        s = pd.concat(self._parts).groupby(level=[0, 1]).sum(min_count=1).reset_index()
        n = s["customers"].astype(float)
        s["share"] = n / n.sum()
        s["mean_churn_prob"] = s["churn_prob"] / n
        s["mean_value_at_risk"] = s["value_at_risk"] / n
        s["predicted_nps"] = 100 * (s["p_promoter"] - s["p_detractor"]) / n
        order = "value_at_risk" if "value_at_risk" in self._seen else "customers"
        s = s[cols].sort_values(order, ascending=False, na_position="last").reset_index(drop=True)
        s = s.drop(columns=[c for c, source in self.SOURCES.items() if source not in self._seen])
        return s.round({"share": 4, "mean_churn_prob": 4, "value_at_risk": 2, "mean_value_at_risk": 2,
                        "predicted_nps": 1})


def segment_summary(scored: pd.DataFrame) -> pd.DataFrame:
    return SegmentSummary().add(scored).table()
