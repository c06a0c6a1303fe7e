"""The report's figures: matplotlib (Agg backend, no display needed) rendered to base64 PNG strings.

Each function takes plain tables or dicts (what the run files hold) and returns one PNG, so the report can embed
it in a single HTML file. Colours are fixed per class so every figure reads the same way.
"""

from __future__ import annotations

import base64
import io
from collections.abc import Mapping, Sequence

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402  (the backend must be chosen first)
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from matplotlib.ticker import FuncFormatter, MaxNLocator  # noqa: E402

CLASS_COLOURS = {"detractor": "#c53030", "passive": "#d69e2e", "promoter": "#2f855a"}
SILENT, RESPONDENT, ACCENT = "#4a5568", "#2b6cb0", "#805ad5"
MAX_DRIVERS = 12
MAX_SEGMENTS = 15
DPI = 100


def _compact(value: float, _position=None) -> str:
    """Axis numbers a manager reads at a glance: 250k, 1.2M."""
    if abs(value) >= 1e6:
        return f"{value / 1e6:.1f}M"
    return f"{value / 1e3:.0f}k" if abs(value) >= 1e4 else f"{value:,.0f}"


def _png(fig) -> str:
    buffer = io.BytesIO()
    fig.tight_layout()
    fig.savefig(buffer, format="png", dpi=DPI)
    plt.close(fig)
    return base64.b64encode(buffer.getvalue()).decode("ascii")


def standardized_differences(frame: pd.DataFrame) -> str:
    """Horizontal bars: |standardised mean difference| per feature, before and after weighting."""
    frame = frame.head(MAX_DRIVERS).iloc[::-1]
    y = np.arange(len(frame))
    fig, ax = plt.subplots(figsize=(9, 0.4 * len(frame) + 1.5))
    ax.barh(y + 0.2, frame["smd"].abs(), height=0.4, color=SILENT, label="before weighting")
    if "smd_after_weighting" in frame.columns:
        ax.barh(y - 0.2, frame["smd_after_weighting"].astype(float).abs(), height=0.4, color=RESPONDENT,
                label="after weighting")
    ax.axvline(0.1, color="#999", linestyle="--", linewidth=1)
    ax.set_yticks(y, frame["feature"].astype(str))
    ax.set_xlabel("|standardised mean difference|  (below 0.1: groups look alike)")
    ax.legend(loc="lower right")
    return _png(fig)


def population_nps(pop: Mapping) -> str:
    """Three estimates on one NPS axis: naive respondents, weighted respondents (interval), model (interval)."""
    rows = [("naive respondent NPS", pop.get("naive_respondent_nps"), None, None, SILENT),
            ("weighted respondent NPS", pop.get("ipw_respondent_nps"), pop.get("ipw_low"), pop.get("ipw_high"),
             RESPONDENT),
            ("model estimate, all customers", pop.get("estimate"), pop.get("low"), pop.get("high"), ACCENT)]
    fig, ax = plt.subplots(figsize=(9, 2.8))
    values = []
    for i, (label, value, low, high, colour) in enumerate(rows):
        if value is None or not np.isfinite(value):
            continue
        if low is not None and high is not None:
            ax.errorbar(value, i, xerr=[[value - low], [high - value]], fmt="o", color=colour, capsize=6, ms=9)
            values += [low, high]
        else:
            ax.plot(value, i, "o", color=colour, ms=9)
        values.append(value)
        ax.annotate(f"{value:+.1f}", (value, i), textcoords="offset points", xytext=(0, 9), ha="center")
    ax.set_yticks(range(len(rows)), [r[0] for r in rows])
    span = (min(values) - 8, max(values) + 8) if values else (-100, 100)
    ax.set_xlim(max(-100, span[0]), min(100, span[1]))
    ax.set_ylim(-0.6, len(rows) - 0.4)
    ax.axvline(0, color="#bbb", linewidth=1)
    ax.set_xlabel("NPS (points, -100 to +100)")
    return _png(fig)


def score_distribution(predicted: np.ndarray, is_respondent: np.ndarray, observed: np.ndarray | None) -> str:
    """Density histograms of the predicted score for silent customers and respondents."""
    fig, ax = plt.subplots(figsize=(9, 3.6))
    finite = predicted[np.isfinite(predicted)]
    bins = np.linspace(np.floor(finite.min()), np.ceil(finite.max()), 41) if len(finite) else 20
    for mask, label, colour in ((~is_respondent, "silent customers (predicted)", SILENT),
                                (is_respondent, "respondents (predicted)", RESPONDENT)):
        values = predicted[mask & np.isfinite(predicted)]
        if len(values):
            ax.hist(values, bins=bins, density=True, alpha=0.55, color=colour,
                    label=f"{label}, mean {values.mean():.2f}")
    if observed is not None:
        answers = observed[is_respondent & np.isfinite(observed)]
        if len(answers):
            points, counts = np.unique(answers, return_counts=True)
            ax.plot(points, counts / counts.sum(), "D--", color=ACCENT, label=f"respondents' answers (share), "
                                                                          f"mean {answers.mean():.2f}")
    ax.set_xlabel("score")
    ax.set_ylabel("density / share")
    ax.legend()
    return _png(fig)


def class_shares(shares: pd.DataFrame) -> str:
    """Stacked horizontal bars of class shares (%) per group."""
    fig, ax = plt.subplots(figsize=(9, 1.0 + 0.7 * len(shares)))
    left = np.zeros(len(shares))
    for cls in shares.columns:
        values = shares[cls].to_numpy(float)
        ax.barh(shares.index.astype(str), values, left=left, color=CLASS_COLOURS.get(cls, SILENT), label=cls)
        for y, (x0, v) in enumerate(zip(left, values)):
            if v >= 6:
                ax.text(x0 + v / 2, y, f"{v:.0f}%", ha="center", va="center", color="white", fontweight="bold")
        left += values
    ax.set_xlim(0, 100)
    ax.set_xlabel("% of customers")
    ax.legend(ncol=3, loc="upper center", bbox_to_anchor=(0.5, -0.35))
    return _png(fig)


def confusion_matrix(cm: np.ndarray, classes: Sequence[str]) -> str:
    """Heatmap of row-normalised shares, annotated with shares and counts."""
    rows = cm.sum(axis=1, keepdims=True)
    share = np.divide(cm, rows, out=np.zeros_like(cm, dtype=float), where=rows > 0)
    fig, ax = plt.subplots(figsize=(5.5, 4.5))
    ax.imshow(share, cmap="Blues", vmin=0, vmax=1)
    for i in range(cm.shape[0]):
        for j in range(cm.shape[1]):
            ax.text(j, i, f"{100 * share[i, j]:.0f}%\n({cm[i, j]:,.0f})", ha="center", va="center",
                    color="white" if share[i, j] > 0.55 else "black")
    ax.set_xticks(range(len(classes)), [f"predicted\n{c}" for c in classes])
    ax.set_yticks(range(len(classes)), [f"true {c}" for c in classes])
    return _png(fig)


def calibration(curves: Mapping[str, pd.DataFrame]) -> str:
    """Reliability diagram: mean predicted probability vs observed rate per bin, one line per curve."""
    fig, ax = plt.subplots(figsize=(6.5, 5))
    ax.plot([0, 1], [0, 1], color="#999", linestyle="--", label="perfect calibration")
    colours = [CLASS_COLOURS["detractor"], RESPONDENT, ACCENT, SILENT]
    for (label, table), colour in zip(curves.items(), colours):
        t = table.dropna(subset=["mean_predicted", "observed_rate"])
        ax.plot(t["mean_predicted"], t["observed_rate"], "o-", color=colour, label=label)
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    ax.set_xlabel("predicted probability")
    ax.set_ylabel("observed rate")
    ax.legend(loc="upper left", fontsize=9)
    return _png(fig)


def driver_importance(overall: pd.DataFrame) -> str:
    """Total impact per driver (bars) with the number of customers it is a top driver for."""
    top = overall.head(MAX_DRIVERS).iloc[::-1]
    fig, ax = plt.subplots(figsize=(9, 0.45 * len(top) + 1.4))
    ax.barh(top.index.astype(str), top["total_impact"], color=CLASS_COLOURS["detractor"])
    for y, (v, n) in enumerate(zip(top["total_impact"], top["customers"])):
        ax.text(v, y, f"  {n:,} customers", va="center", fontsize=9)
    ax.set_xlabel("total impact on P(detractor), summed over customers")
    ax.margins(x=0.25)
    return _png(fig)


def driver_heatmap(share: pd.DataFrame) -> str:
    """Segments x drivers, each cell the driver's share of the segment's total impact."""
    share = share.head(MAX_SEGMENTS)
    fig, ax = plt.subplots(figsize=(max(6.0, 0.9 * share.shape[1] + 3), 0.45 * len(share) + 2.2))
    top = max(0.01, float(share.to_numpy().max()))
    ax.imshow(share.to_numpy(float), cmap="Reds", vmin=0, vmax=top, aspect="auto")
    for i in range(share.shape[0]):
        for j in range(share.shape[1]):
            ax.text(j, i, f"{100 * share.iat[i, j]:.0f}%", ha="center", va="center", fontsize=9,
                    color="white" if share.iat[i, j] > 0.6 * top else "black")
    ax.set_xticks(range(share.shape[1]), share.columns.astype(str), rotation=35, ha="right")
    ax.set_yticks(range(share.shape[0]), share.index.astype(str))
    return _png(fig)


def segments(summary: pd.DataFrame) -> str:
    """Two panels per segment: customers, and value at risk; bars coloured by strategy."""
    seg = summary.copy()
    seg["label"] = seg["segment"].astype(str).where(seg["segment"].notna(), "(none)")
    if "strategy" in seg.columns:
        seg["label"] = seg["label"] + "  →  " + seg["strategy"].fillna("").astype(str)
    seg = seg.sort_values("value_at_risk" if "value_at_risk" in seg.columns else "customers", ascending=False)
    seg = seg.head(MAX_SEGMENTS).iloc[::-1]
    strategies = seg["strategy"].fillna("").astype(str) if "strategy" in seg.columns else pd.Series("", seg.index)
    palette = dict(zip(sorted(strategies.unique()), plt.get_cmap("tab10").colors))
    colours = [palette[s] for s in strategies]
    has_var = "value_at_risk" in seg.columns and seg["value_at_risk"].notna().any()
    fig, axes = plt.subplots(1, 2 if has_var else 1, figsize=(11, 0.42 * len(seg) + 1.6), sharey=True,
                             squeeze=False)
    axes[0, 0].barh(seg["label"], seg["customers"], color=colours)
    axes[0, 0].set_xlabel("customers")
    if has_var:
        axes[0, 1].barh(seg["label"], seg["value_at_risk"].fillna(0), color=colours)
        axes[0, 1].set_xlabel("value at risk (churn probability x value)")
        axes[0, 1].xaxis.set_major_formatter(FuncFormatter(_compact))
        axes[0, 1].xaxis.set_major_locator(MaxNLocator(5))
    return _png(fig)
