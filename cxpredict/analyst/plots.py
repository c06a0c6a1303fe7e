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


def nps_estimates(rows: Sequence[tuple[str, float | None, float | None, float | None]]) -> str:
    """NPS estimates on one axis (-100..100 zoomed to the values): a dot each, a bar for its interval when given."""
    rows = [r for r in rows if r[1] is not None and np.isfinite(r[1])]
    colours = [ACCENT, RESPONDENT, SILENT, "#718096", "#a0aec0", "#cbd5e0"]
    fig, ax = plt.subplots(figsize=(9, 0.55 * len(rows) + 1.3))
    values = []
    for i, ((label, value, low, high), colour) in enumerate(zip(rows, colours * 3)):
        if low is not None and high is not None and np.isfinite(low) and np.isfinite(high):
            ax.errorbar(value, i, xerr=[[value - low], [high - value]], fmt="o", color=colour, capsize=6, ms=9)
            values += [low, high]
        else:
            ax.plot(value, i, "o", color=colour, ms=9)
        values.append(value)
        ax.annotate(f"{value:+.1f}", (value, i), textcoords="offset points", xytext=(0, 8), ha="center")
    ax.set_yticks(range(len(rows)), [r[0] for r in rows])
    ax.invert_yaxis()
    span = (min(values) - 8, max(values) + 8) if values else (-100, 100)
    ax.set_xlim(max(-100, span[0]), min(100, span[1]))
    ax.set_ylim(len(rows) - 0.4, -0.7)
    ax.axvline(0, color="#bbb", linewidth=1)
    ax.set_xlabel("NPS (points, -100 to +100)")
    return _png(fig)


def segment_nps(frame: pd.DataFrame) -> str:
    """Segment NPS with intervals: one row per segment level (`label`, `estimate`, `low`, `high`)."""
    frame = frame.head(2 * MAX_SEGMENTS)
    y = np.arange(len(frame))
    fig, ax = plt.subplots(figsize=(9, 0.42 * len(frame) + 1.4))
    est = frame["estimate"].to_numpy(float)
    low = frame["low"].to_numpy(float) if "low" in frame else est
    high = frame["high"].to_numpy(float) if "high" in frame else est
    colours = [CLASS_COLOURS["detractor"] if v < 0 else CLASS_COLOURS["promoter"] for v in est]
    ax.errorbar(est, y, xerr=[np.nan_to_num(est - low), np.nan_to_num(high - est)], fmt="none", ecolor="#718096",
                capsize=4)
    ax.scatter(est, y, c=colours, s=60, zorder=3)
    for yi, v in zip(y, est):
        ax.annotate(f"{v:+.1f}", (v, yi), textcoords="offset points", xytext=(0, 7), ha="center", fontsize=8)
    ax.set_yticks(y, frame["label"].astype(str))
    ax.invert_yaxis()
    ax.axvline(0, color="#bbb", linewidth=1)
    ax.set_xlabel("NPS of all customers in the segment (points), with its interval")
    return _png(fig)


def trend(history: pd.DataFrame) -> str:
    """Across runs: the 'Model only' NPS and the expected class shares (all customers), by as-of date."""
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 3.4))
    x = history["as_of"].astype(str)
    left.plot(x, history["nps"], "o-", color=ACCENT)
    for xi, v in zip(x, history["nps"]):
        left.annotate(f"{v:+.1f}", (xi, v), textcoords="offset points", xytext=(0, 7), ha="center", fontsize=8)
    left.set_ylabel("NPS (points)")
    left.set_title("Population NPS (model only)", fontsize=10)
    for cls in ("detractor", "passive", "promoter"):
        if cls in history.columns:
            right.plot(x, 100 * history[cls], "o-", color=CLASS_COLOURS[cls], label=cls)
    right.set_ylabel("% of customers")
    right.set_title("Expected class shares", fontsize=10)
    right.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    for ax in (left, right):
        ax.tick_params(axis="x", labelrotation=30, labelsize=8)
        ax.margins(y=0.25)
    return _png(fig)


def driver_ranking(frame: pd.DataFrame) -> str:
    """The one driver ranking: points of detractor share that would go if the driver's push were removed."""
    top = frame.head(MAX_DRIVERS).iloc[::-1]
    points = -top["points"].to_numpy(float)
    colours = [CLASS_COLOURS["detractor"] if a else "#a0aec0" for a in top["actionable"]]
    fig, ax = plt.subplots(figsize=(9, 0.45 * len(top) + 1.4))
    ax.barh(top["label"].astype(str), points, color=colours)
    for y, v in enumerate(points):
        ax.text(v, y, f"  {v:.1f} pts", va="center", fontsize=9)
    # ends at the axes' right edge: centred under axes made narrow by long driver names it ran out of the picture
    ax.set_xlabel("detractor share would fall by (points, model-based what-if); grey: not actionable", loc="right")
    ax.margins(x=0.2)
    return _png(fig)


def reasons(frame: pd.DataFrame) -> str:
    """Stated reasons (respondents' own words, share of detractor respondents) beside the predicted likely
    reason of silent detractors."""
    top = frame.head(MAX_DRIVERS).iloc[::-1]
    y = np.arange(len(top))
    fig, ax = plt.subplots(figsize=(9, 0.45 * len(top) + 1.5))
    ax.barh(y + 0.2, 100 * top["said"], height=0.4, color=RESPONDENT, label="detractor respondents who said it")
    if "predicted" in top.columns:
        ax.barh(y - 0.2, 100 * top["predicted"], height=0.4, color=SILENT,
                label="silent predicted detractors: most likely reason (predicted)")
    ax.set_yticks(y, top["label"].astype(str))
    ax.set_xlabel("% of customers")
    ax.legend(loc="lower right", fontsize=8)
    return _png(fig)


def queue(frame: pd.DataFrame) -> str:
    """Work orders per team: to contact now (within capacity), control-group customers within capacity (kept out
    to measure the campaign; they use capacity) and deferred, with the team's capacity marked."""
    frame = frame.iloc[::-1]
    fig, ax = plt.subplots(figsize=(9, 0.5 * len(frame) + 1.4))
    teams = frame["team"].astype(str)
    control = frame["control"].fillna(0).to_numpy(float) if "control" in frame else np.zeros(len(frame))
    ax.barh(teams, frame["to_contact"], color=RESPONDENT, label="to contact now")
    ax.barh(teams, control, left=frame["to_contact"], color="white", edgecolor=RESPONDENT, hatch="//",
            label="control group (measurement)")
    ax.barh(teams, frame["deferred"], left=frame["to_contact"] + control, color="#cbd5e0",
            label="deferred (over capacity)")
    for y, cap in enumerate(frame["capacity"]):
        if cap is not None and np.isfinite(float(cap)):
            ax.plot([cap, cap], [y - 0.4, y + 0.4], color="#1a202c", linewidth=2)
    ax.plot([], [], color="#1a202c", linewidth=2, label="capacity per run")
    ax.set_xlabel("customers")
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.3), ncol=4, fontsize=8)
    return _png(fig)


def sensitivity(curve: pd.DataFrame) -> str:
    """NPS under a growing hidden response bias (Gamma), with its interval band and the no-bias line."""
    fig, ax = plt.subplots(figsize=(9, 3.2))
    x = curve["gamma"].to_numpy(float)
    if {"low", "high"} <= set(curve.columns):
        ax.fill_between(x, curve["low"].to_numpy(float), curve["high"].to_numpy(float), color=ACCENT, alpha=0.2)
    for col, style in (("estimate", "o-"), ("lower", "v--"), ("upper", "^--")):
        if col in curve.columns:
            ax.plot(x, curve[col].to_numpy(float), style, color=ACCENT, label=col)
    ax.axhline(0, color="#bbb", linewidth=1)
    ax.set_xlabel("Gamma: how much more (or less) likely unhappy customers are to answer than their behaviour "
                  "predicts (1 = no hidden bias)", fontsize=9)
    ax.set_ylabel("NPS (points)")
    ax.legend(fontsize=8)
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


def segments(summary: pd.DataFrame, currency: str | None = None) -> str:
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
        axes[0, 1].set_xlabel(f"value at risk{f' ({currency})' if currency else ''}: churn probability x value")
        axes[0, 1].xaxis.set_major_formatter(FuncFormatter(_compact))
        axes[0, 1].xaxis.set_major_locator(MaxNLocator(5))
    return _png(fig)
