"""The text stage: declared text columns -> topics, dissatisfaction, comment reasons and per-customer features.

Order at training (`fit_text_stage`), before the feature manifest is fitted so the NPS and churn models see the
text features like any behaviour column:
1. read every text column (data/text.py: bad text is counted, not fatal) and fit the topics on all texts;
2. fit the dissatisfaction model on the respondents' own texts (comments and event notes) labelled with their
   own answer; their texts are scored CROSS-FITTED by customer (a model that never saw that customer), so the
   features of respondents, on which the NPS model trains, carry no echo of their label;
3. fit the comment-reason model on respondents who gave codes and a comment; respondents with a comment but no
   codes get the codes their comment implies (probability >= the model's threshold) for the reason model;
4. aggregate event texts per customer over `text.windows` (topic shares, complaints per topic, dissatisfaction
   mean and max, text counts); customers without texts get 0 counts and missing means.
At scoring (`scoring_text_stage`) the fitted models are applied to the scoring config's text columns.
Survey comments never become model features: silent customers have none.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import scipy.sparse as sp

from cxpredict import threads
from cxpredict.config import CLASSES, Config, DriversConfig, Scale, TextConfig
from cxpredict.data.customers import CustomerData
from cxpredict.data.events import window_end
from cxpredict.data.text import (
    CustomerFeatures,
    TextData,
    TextTable,
    feature_prefix,
    load_texts,
    window_feature_names,
    window_features,
    windows_of,
)
from cxpredict.errors import BundleError, ConfigError, InputError
from cxpredict.metrics import score_to_class
from cxpredict.models.text import (
    MATCH_MIN_SIMILARITY,
    CommentReasons,
    TextModels,
    TopicModel,
)
from cxpredict.models.text_classifiers import cross_fitted_dissatisfaction
from cxpredict.stages import Batch, Training

log = logging.getLogger(__name__)

EXAMPLE_CHARS = 240
TOPICS_FILE = "text_topics.json"


@dataclass
class _Scored:
    """One text table with its TF-IDF, topic-key weights and dissatisfaction per text."""

    table: TextTable
    X: sp.csr_matrix
    keys: np.ndarray
    dissatisfaction: np.ndarray


@dataclass(frozen=True)
class TextSettings:
    """The sections the text stage is fitted with: text, the survey's scale, the seed, how many reasons the
    scored file shows (drivers.reasons_top_k) and the end of the text windows (data.as_of, None: from the data)."""

    text: TextConfig
    scale: Scale
    seed: int
    drivers: DriversConfig
    as_of: pd.Timestamp | None

    @classmethod
    def of(cls, cfg: Config) -> TextSettings:
        return cls(cfg.text, cfg.scale, cfg.seed, cfg.drivers, window_end(cfg, {}))


@dataclass
class TextStage:
    """The text stage (stage protocol, cxpredict/stages.py). Its features join the customer columns before the
    feature manifest (`with_features`, at training and in the scoring source); as a scoring stage it adds the
    reasons respondents' comments imply (comment_reason_1.., by customer_id)."""

    models: TextModels
    features: CustomerFeatures | None  # per-customer features of the event texts
    comment_reasons: pd.DataFrame | None  # index customer_id: comment_reason_1.., comment_reason_1_prob..
    trend: dict[str, Any] = field(default_factory=dict)  # topic shares of the latest window (text_topics.json)
    warnings: list[str] = field(default_factory=list)

    @property
    def generated(self) -> list[str]:
        """The feature columns this stage makes (names the user never wrote)."""
        return list(self.models.meta["feature_names"])

    @property
    def own_columns(self) -> set[str]:
        """Columns that are this stage's business, never 'extra' in a scoring table: the generated features and
        the declared raw text columns."""
        return set(self.generated) | {s.split(".", 1)[1] for s in self.models.meta["sources"]}

    def with_features(self, data: CustomerData) -> CustomerData:
        """`data` with the text features (the raw text columns never entered it: data.customers leaves them out)."""
        if self.features is None:
            return data
        for source in self.models.meta["sources"]:  # a missing text feature at scoring names its table
            prefix = feature_prefix(source) + "_"
            data.report.origin.update({c: source.split(".")[0] for c in self.features.columns if c.startswith(prefix)})
        return replace(data, frame=pd.concat([data.frame, self.features.align(data.frame.index)], axis=1))

    @classmethod
    def fit(cls, training: Training, settings: TextSettings) -> TextStage | None:
        """Fit the text models on the training customers and the texts the workflow read (training.texts);
        joins the text features to training.customers and fills missing reason codes from comments. With
        training.previous_texts (an earlier bundle's text models and its path), matching topics keep their
        names. None when text is off."""
        if not settings.text.active:
            return None
        with threads.serial_blas():
            return cls._fit(training, settings)

    @classmethod
    def _fit(cls, training: Training, settings: TextSettings) -> TextStage:
        data, texts = training.customers, training.texts
        for table in texts.tables:
            texts_known = np.isin(table.customer.astype(str), data.frame.index.to_numpy(dtype=str))
            if not texts_known.all() and not table.is_survey:
                texts.warnings.append(f"text column {table.source}: {int((~texts_known).sum())} texts of customers "
                                      "absent from the customer tables ignored")
        all_texts = [t for table in texts.tables for t in table.text]
        all_langs = np.concatenate([t.language for t in texts.tables]) if texts.tables else np.array([], dtype=object)
        own = settings.text
        topics = TopicModel(own.n_topics, own.topics, own.min_df, max_features=own.max_features, seed=settings.seed,
                            embeddings=own.method == "embeddings")
        models = TextModels(topics, None, None, {})
        X = topics.fit_transform(all_texts, all_langs)
        if not topics.languages_:  # no vocabulary in any language: say why instead of a library's shape error
            raise InputError(f"text.columns {[t.source for t in texts.tables]}: none of the {len(all_texts)} texts "
                             "holds a word other than stop words that enough texts share (text.min_df), so no topic "
                             "can be learned. Check that the columns hold free text, and their language.")
        matching = _keep_topic_names(topics, training.previous_texts)
        scored = _score_texts(models, texts, X, dissatisfaction=False)
        models.dissatisfaction, diss, complaint_min = _cross_fitted(settings, scored, data.score)
        for s in scored:
            s.dissatisfaction = diss[s.table.source]
        survey = next((s for s in scored if s.table.is_survey), None)
        if survey is not None and data.reasons is not None:
            stated = data.reasons.reindex(pd.Index(survey.table.customer, dtype="str"))
            have = stated.notna().to_numpy()
            models.reasons = CommentReasons(own.reason_min_count, seed=settings.seed).fit(survey.X[have], stated[have])
            data = _fill_reasons(data, models.reasons, survey, ~have)
        events = [s for s in scored if not s.table.is_survey]
        as_of = _as_of_texts(settings, data, texts)
        models.meta = {
            "sources": [s.table.source for s in scored], "windows": list(settings.text.windows), "as_of": str(as_of),
            "complaint_min": complaint_min,
            "feature_names": [n for s in events for n in window_feature_names(
                s.table.source, topics.keys_, windows_of(s.table, own.windows))],
            "undated": [s.table.source for s in events if not s.table.dated],
            "counts": {t.source: t.counts for t in texts.tables},
            "languages": {t.source: dict(zip(*np.unique(t.language.astype(str), return_counts=True)))
                          for t in texts.tables},
            "topics": _topic_table(settings, models, scored, data.score),
            "reasons": None if models.reasons is None else models.reasons.metrics_,
            "topic_matching": matching,
        }
        models.meta["languages"] = {k: {lang: int(n) for lang, n in v.items()}
                                    for k, v in models.meta["languages"].items()}
        models.meta["trend"] = topic_trend(models, scored, as_of, min(settings.text.windows))
        stage = cls(models, _features(models, scored, as_of), None, models.meta["trend"], texts.warnings)
        training.customers = stage.with_features(data)
        return stage

    name = "text"

    def needs(self) -> tuple[str, ...]:
        return ("customer_id",)

    def adds(self) -> tuple[str, ...]:
        return tuple(self.comment_reasons.columns) if self.comment_reasons is not None else ()

    def transform(self, batch: Batch) -> pd.DataFrame:
        """Comment reasons of the scored rows (by customer_id), empty for customers without a comment."""
        scored = batch.scored
        if self.comment_reasons is None:
            return pd.DataFrame(index=scored.index)
        extra = self.comment_reasons.reindex(pd.Index(scored["customer_id"].astype("str")))
        extra.index = scored.index
        return extra

    def save(self, bundle_dir: Path) -> None:
        """The text models (text/: JSON plus the topic and dissatisfaction models' own files)."""
        self.models.save(Path(bundle_dir) / self.name)


# --------------------------------------------------------------------------------------------- pieces
def _as_of_texts(settings: TextSettings, data: CustomerData | None, texts: TextData) -> pd.Timestamp:
    """Window end: data.as_of, else the one the event aggregations used, else the latest event text."""
    configured = settings.as_of
    if configured is not None:
        return configured
    stamps = [t.get("as_of") for t in (data.report.tables.values() if data is not None else []) if t.get("as_of")]
    if stamps:
        return pd.Timestamp(stamps[0])
    latest = [t.timestamp[~np.isnat(t.timestamp)].max() for t in texts.events if (~np.isnat(t.timestamp)).any()]
    return pd.Timestamp(max(latest)) if latest else pd.Timestamp.max


def _score_texts(models: TextModels, texts: TextData, X: sp.csr_matrix | None = None, dissatisfaction: bool = True
                 ) -> list[_Scored]:
    """Every table's texts scored; X: their matrix when the topic fit already made it (tables stacked in order).
    All tables are vectorised and weighed in one batch (per language)."""
    texts_all = [t for table in texts.tables for t in table.text]
    languages = np.concatenate([t.language for t in texts.tables]) if texts.tables else np.zeros(0, dtype=object)
    X = models.topics.vectorize(texts_all, languages) if X is None else X
    keys = models.topics.key_weights(models.topics.topic_weights(X, languages))
    diss = models.dissatisfaction_of(X) if dissatisfaction else np.full(X.shape[0], np.nan)
    bounds = np.cumsum([0] + [len(t.text) for t in texts.tables])
    return [_Scored(table, X if len(texts.tables) == 1 else X[a:b], keys[a:b], diss[a:b])  # one table: no copy
            for table, a, b in zip(texts.tables, bounds[:-1], bounds[1:])]


def _features(models: TextModels, scored: list[_Scored], as_of: pd.Timestamp) -> CustomerFeatures | None:
    """The windows and complaint threshold are the trained ones (models.meta), whatever the scoring config says."""
    meta = models.meta
    undated = set(meta.get("undated", []))
    frames = [window_features(s.table, s.keys, models.topics.keys_, s.dissatisfaction,
                              [None] if s.table.source in undated else meta["windows"], as_of, meta["complaint_min"])
              for s in scored if not s.table.is_survey]
    if not frames:
        return None
    frame = pd.concat(frames, axis=1)
    return CustomerFeatures(frame[[c for c in models.meta["feature_names"] if c in frame.columns]])


def _cross_fitted(settings: TextSettings, scored: list[_Scored], score: pd.Series
                  ) -> tuple[Any, dict[str, np.ndarray], float]:
    """models/text_classifiers.py cross_fitted_dissatisfaction on every table's texts, split back per table."""
    detractor, rows = [], []
    for s in scored:
        answer = score.reindex(pd.Index(s.table.customer, dtype="str")).to_numpy(dtype=float)
        rows.append(~np.isnan(answer))
        detractor.append(score_to_class(np.nan_to_num(answer), settings.scale) == 0)
    X_all = scored[0].X if len(scored) == 1 else sp.vstack([s.X for s in scored]).tocsr() if scored else \
        sp.csr_matrix((0, 0))
    authors = np.concatenate([s.table.customer for s in scored]).astype(str)
    full, diss, level = cross_fitted_dissatisfaction(X_all, np.concatenate(detractor), np.concatenate(rows), authors,
                                                     settings.text.cv_folds, settings.seed, settings.text.complaint_min)
    bounds = np.cumsum([0] + [len(s.table.text) for s in scored])
    return full, {s.table.source: diss[a:b] for s, a, b in zip(scored, bounds[:-1], bounds[1:])}, level


def _comment_reasons(settings: TextSettings | Config, models: TextModels, survey: _Scored | None
                     ) -> pd.DataFrame | None:
    """Top comment reasons with probabilities per commenting respondent (index customer_id)."""
    if survey is None or models.reasons is None or not models.reasons.codes_ or not survey.table.text:
        return None
    proba = models.reasons.predict_proba(survey.X)
    k = min(settings.drivers.reasons_top_k, len(models.reasons.codes_))
    order = np.argsort(-proba.to_numpy(), axis=1, kind="stable")[:, :k]
    best = np.take_along_axis(proba.to_numpy(), order, axis=1)
    codes = np.asarray(models.reasons.codes_, dtype=object)
    keep = best >= models.reasons.threshold_
    out = {}
    for i in range(k):
        out[f"comment_reason_{i + 1}"] = pd.array(np.where(keep[:, i], codes[order[:, i]], None), dtype="str")
    for i in range(k):
        out[f"comment_reason_{i + 1}_prob"] = np.where(keep[:, i], best[:, i].round(4), np.nan)
    frame = pd.DataFrame(out, index=pd.Index(survey.table.customer.astype(str), name="customer_id"))
    return frame[~frame.index.duplicated(keep="last")]


def negative_shares(keys: np.ndarray, detractor: np.ndarray) -> np.ndarray:
    """Per topic key, of the respondents' texts (`detractor` 1/0, NaN: silent) the share by a detractor, each
    text weighed by the topic's weight in it; NaN when no respondent's text mentions it. From the answers: the
    text model's P(detractor) crowds around the base rate when few answered."""
    known = ~np.isnan(detractor)
    w, p = keys[known], detractor[known]
    total = w.sum(axis=0)
    return np.divide(w.T @ p, total, out=np.full(keys.shape[1], np.nan), where=total > 0)


def _topic_table(settings: TextSettings, models: TextModels, scored: list[_Scored], score: pd.Series
                 ) -> list[dict[str, Any]]:
    """Per topic key: name, theme, top terms per language, share of all texts, share by the author's NPS class,
    the share of its mentions that are negative, and a few example texts (highest weight first)."""
    topics = models.topics
    keys = np.vstack([s.keys for s in scored]) if scored else np.zeros((0, len(topics.keys_)))
    texts = [t for s in scored for t in s.table.text]
    authors = pd.Index(np.concatenate([s.table.customer for s in scored]).astype(str) if scored else [], dtype="str")
    answer = score.reindex(authors).to_numpy(dtype=float)
    cls = np.where(np.isnan(answer), -1, score_to_class(np.nan_to_num(answer), settings.scale))
    negative = negative_shares(keys, np.where(cls < 0, np.nan, (cls == 0).astype(float)))
    rows = []
    for j, key in enumerate(topics.keys_):
        w = keys[:, j] if len(keys) else np.zeros(0)
        best = np.argsort(-w, kind="stable")[: settings.text.examples]
        rows.append({
            "key": key, "name": topics.key_names_[key], "theme": topics.key_themes_[key],
            "terms": {t["language"]: t["top_terms"] for t in topics.topics_ if t["key"] == key},
            "share": float(w.mean()) if len(w) else 0.0,
            "share_by_class": {c: (float(w[cls == i].mean()) if (cls == i).any() else None)
                               for i, c in enumerate(CLASSES)},
            "negative_share": None if np.isnan(negative[j]) else round(float(negative[j]), 4),
            "examples": [texts[i][:EXAMPLE_CHARS] for i in best if w[i] > 0],
        })
    return rows


def topic_trend(models: TextModels, scored: list[_Scored], as_of: pd.Timestamp, days: int) -> dict[str, Any]:
    """Share of each topic key among the texts of the last `days` days before `as_of` (and their number)."""
    recent = []
    for s in scored:
        ts = s.table.timestamp
        inside = np.isnat(ts)  # undated texts (comments without answered_at, tables without timestamps) are current
        end = np.datetime64(as_of)
        inside |= (~np.isnat(ts)) & (ts <= end) & (ts > end - np.timedelta64(days, "D"))
        recent.append(s.keys[inside])
    keys = np.vstack(recent) if recent else np.zeros((0, len(models.topics.keys_)))
    return {"as_of": str(as_of), "days": days, "texts": int(len(keys)),
            "shares": {k: float(keys[:, j].mean()) if len(keys) else 0.0 for j, k in enumerate(models.topics.keys_)}}


# --------------------------------------------------------------------------------------------- train / score
def fit_text_stage(cfg: Config, data: CustomerData, previous: tuple[Path, TextModels] | None = None
                   ) -> tuple[TextStage, CustomerData] | None:
    """Fit the text models on `data`'s customers; returns the stage and `data` with features and filled reasons.
    `previous`: an earlier bundle's text models (and its path), whose topic names the matching topics keep."""
    if not cfg.text.active:
        return None
    training = Training(data, None, None, cfg.seed, texts=load_texts(cfg), previous_texts=previous)
    stage = TextStage.fit(training, TextSettings.of(cfg))
    return stage, training.customers


def _keep_topic_names(topics: TopicModel, previous: tuple[Path, TextModels] | None) -> dict[str, Any] | None:
    """Match the new topics to the previous run's (models/text.py keep_names); the record for the bundle's text
    metadata: which bundle, the threshold, each unnamed topic's best similarity, and the share matched."""
    if previous is None:
        return None
    path, models = previous
    matches = topics.keep_names(models.topics)
    share = sum(m["matched"] for m in matches) / len(matches) if matches else None
    log.info("text: %s of %d unnamed topics keep their names from %s", sum(m["matched"] for m in matches),
             len(matches), path)
    try:  # which bundle exactly, for the run's provenance (its bundle.json, when it is a whole bundle)
        content = json.loads((path / "bundle.json").read_text(encoding="utf-8")).get("content_hash")
    except (OSError, ValueError):
        content = None
    return {"previous_bundle": str(path), "previous_content_hash": content, "min_similarity": MATCH_MIN_SIMILARITY,
            "matched_share": share, "matches": matches}


def previous_text_models(cfg: Config, out: Path) -> tuple[Path, TextModels] | None:
    """The text models whose topic names a retrain keeps: text.previous_bundle's (an error when it has none), else
    those of the bundle at `out` that this training replaces, if any (unreadable: a warning, fresh names)."""
    configured = cfg.text.previous_bundle
    path = cfg.resolve(configured) if configured else Path(out)
    if not (path / "text" / "text.json").is_file():
        if configured:
            raise ConfigError(f"text.previous_bundle: {path} holds no text models (text/text.json); give the "
                              "folder of a bundle trained with text columns, or remove the key")
        return None
    try:
        return path, TextModels.load(path / "text")
    except BundleError as e:
        if configured:
            raise ConfigError(f"text.previous_bundle: {e}") from e
        log.warning("the text models of the bundle at %s are unreadable (%s); topics get fresh names", path, e)
        return None


def _fill_reasons(data: CustomerData, reasons: CommentReasons, survey: _Scored, missing: np.ndarray) -> CustomerData:
    """Respondents with a comment but no stated codes get the codes their comment implies."""
    if data.reasons is None or not reasons.codes_ or not missing.any():
        return data
    sets = reasons.predict_sets(survey.X[missing])
    codes = np.asarray(reasons.codes_, dtype=object)
    implied = [";".join(codes[row.astype(bool)]) or None for row in sets.to_numpy()]
    filled = pd.Series(implied, index=pd.Index(survey.table.customer[missing], dtype="str"), dtype="str")
    filled = filled[filled.notna() & ~filled.index.duplicated(keep="last")]
    filled = filled[filled.index.isin(data.reasons.index[data.reasons.isna()])]
    reasons_all = data.reasons.copy()
    reasons_all.loc[filled.index] = filled
    data.report.warn(f"{len(filled)} respondents without reason codes got codes from their comment "
                     f"(text.columns survey comment; P >= {reasons.threshold_})")
    return replace(data, reasons=reasons_all)


def scoring_text_stage(cfg: Config, models: TextModels, previous: Path | None = None) -> TextStage:
    """Apply a bundle's text models to the scoring config's text columns. `previous`: an earlier run's
    text_topics.json, whose shares the trend is compared with (default: the training texts')."""
    needed = [s for s in models.meta["sources"] if not s.startswith("survey.")]
    declared = {f"{c.table}.{c.column}" for c in cfg.text.columns} if cfg.text.active else set()
    missing = [s for s in needed if s not in declared]
    if missing:
        raise ConfigError(f"the model bundle uses text features of {missing}; declare them in text.columns of the "
                          "scoring config (text.enabled: true), as in the config the model was trained with")
    texts = load_texts(cfg)
    texts.tables = [t for t in texts.tables if t.source in models.meta["sources"]]
    with threads.serial_blas():
        scored = _score_texts(models, texts)
    as_of = _as_of_texts(TextSettings.of(cfg), None, texts)
    trend = topic_trend(models, scored, as_of, min(models.meta["windows"]))
    trend["previous"] = _previous_shares(previous, trend["as_of"]) or {**models.meta["trend"], "run": "training"}
    survey = next((s for s in scored if s.table.is_survey), None)
    return TextStage(models, _features(models, scored, as_of), _comment_reasons(cfg, models, survey), trend,
                     texts.warnings)


def _previous_shares(path: Path | None, as_of: str) -> dict[str, Any] | None:
    """The shares of the last run on other data: an earlier run's text_topics.json, or, when that run had the
    same as_of (a rerun), the run it compared with, so a rerun writes the same file."""
    if path is None or not path.is_file():
        return None
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        log.warning("%s is unreadable; topic trends compare with the training texts", path)
        return None
    if data.get("as_of") == as_of:
        return data.get("previous")
    current = {k: data.get(k) for k in ("as_of", "days", "texts", "shares")}
    return {**current, "run": "previous scoring run"} if isinstance(current.get("shares"), dict) else None
