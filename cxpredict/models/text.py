"""Text models: topics (TF-IDF + NMF per language), dissatisfaction (text -> P(detractor)) and stated reasons from
comments. scikit-learn estimators underneath; saved as JSON and .npy arrays and rebuilt, never pickled.

Why this shape:
- One TF-IDF vocabulary and one NMF per language: English and Chinese share no words, so one model over both
  would pair unrelated topics of the two languages in one component. Each text is vectorised once; the topic,
  dissatisfaction and reason models all read the same sparse matrix (a block of columns per language).
- Topics get business names from the config (`text.topics`: a name, words that identify it in any language, a
  reason theme): a learned topic takes the name whose words carry the most of its weight. Topics with one name
  (the English and the Chinese "billing") are one feature, one driver. Unnamed topics keep their top terms.
- Names stay across runs: an unnamed topic that matches a topic of the previous run (cosine similarity of their
  term weights >= MATCH_MIN_SIMILARITY, one-to-one by the Hungarian assignment) takes its key and name, so a
  feature, driver and trend line keep their name when a retrain re-learns the topics from new texts.
- Dissatisfaction is learned, not looked up: a logistic regression of the author's detractor status on the text,
  fitted on the respondents' own texts. No lexicon, no download, any language the tokenisers handle.
- Reasons from comments (models/text_classifiers.py): one logistic regression per reason code on the respondents who gave both a comment and
  codes; one probability threshold chosen for micro-F1 on a validation split (as models/reasons.py does).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import scipy.sparse as sp
from scipy.optimize import linear_sum_assignment
from sklearn.linear_model import LogisticRegression

from cxpredict import threads
from cxpredict.config import TopicLabel
from cxpredict.data.text import LANGUAGES, slug
from cxpredict.data.tokens import char_tokens, tokens_of
from cxpredict.models.components import read_component_meta
from cxpredict.models.embeddings import dense_rows, embed
from cxpredict.models.kl_nmf import KLNMF
from cxpredict.models.text_classifiers import (  # noqa: F401 (fit_dissatisfaction: re-exported for callers)
    CommentReasons,
    fit_dissatisfaction,
    logit_from_dict,
    logit_to_dict,
)
from cxpredict.models.tfidf import Tfidf
from cxpredict.models.topic_matching import MATCH_MIN_SIMILARITY, topic_similarity

FORMAT_VERSION = 1
TOP_TERMS = 10
LABEL_TERMS = 30  # a topic's name is judged on the weight of its 30 strongest terms
LABEL_MIN_SHARE = 0.15  # ... of which a configured name's words must carry at least this share
MIN_TEXTS_PER_TOPIC = 5  # fewer texts of a language: fewer topics (none below 2 topics' worth)
NMF_TOL = 1e-3  # relative loss change that ends the topic fit (scikit-learn's 1e-4 took 2.5x the time)
TOPIC_WORDS = 5_000  # the most common single words per language make the topics (_topic_words)
FIT_SAMPLE = 5_000  # texts per language the topics are learned from (all texts are then weighed by them)
CHAR_LANGUAGES = ("zh",)  # their texts also get character 1-2-grams, for the classifiers (TopicModel._characters)


# --------------------------------------------------------------------------------------------- helpers
def _matches(term: str, words: list[str]) -> bool:
    """A vocabulary term (a word or a 'w1 w2' bigram) matches a label word by prefix ('bill' ~ 'billing')."""
    return any(part.startswith(w) or (len(w) > 1 and w in part) for part in term.split(" ") for w in words)


def _unigrams(vectorizer: Tfidf) -> np.ndarray:
    """Columns of single words: topics are word clusters; bigrams ('not working') serve the classifiers."""
    return np.flatnonzero([" " not in t for t in vectorizer.get_feature_names_out()])


def _topic_words(vectorizer: Tfidf, X: sp.csr_matrix) -> np.ndarray:
    """The TOPIC_WORDS single words in most texts: a topic's naming words are frequent ones, and the rare tail
    only slows the factorisation down."""
    words = _unigrams(vectorizer)
    texts_with = np.bincount(X.indices, minlength=X.shape[1])[words]
    return np.sort(words[np.argsort(-texts_with, kind="stable")[:TOPIC_WORDS]])


def _with_enough_texts(languages: np.ndarray, among: tuple[str, ...]):
    """(language, its rows) of each language `among` with texts enough for topics (2 topics' worth)."""
    for lang in among:
        rows = np.flatnonzero(languages == lang)
        if len(rows) >= 2 * MIN_TEXTS_PER_TOPIC:
            yield lang, rows


def _fresh_key(lang: str, k: int, taken: set[str]) -> str:
    """'<lang>_topic_<k>', or the next free number when a topic kept from the previous run holds that key."""
    j = k
    while f"{lang}_topic_{j}" in taken:
        j += 1
    taken.add(f"{lang}_topic_{j}")
    return f"{lang}_topic_{j}"


# --------------------------------------------------------------------------------------------- topics
class TopicModel:
    """TF-IDF + NMF per language. `fit` returns self; learned attributes end in `_`.

    `vectorize` gives the shared sparse matrix, `topic_weights` each text's topic mix (rows sum to 1, or 0 for a
    text without a known word), `key_weights` the same summed per topic key (a name may cover several topics).
    """

    def __init__(self, n_topics: int = 8, labels: list[TopicLabel] | tuple = (), min_df: int = 3,
                 max_df: float = 0.5, max_features: int = 20_000, seed: int = 0, max_iter: int = 400,
                 embeddings: bool = False):
        self.n_topics = n_topics
        self.embeddings = embeddings  # append static word embeddings to the matrix (models/embeddings.py)
        self.labels = labels
        self.min_df = min_df
        self.max_df = max_df
        self.max_features = max_features
        self.seed = seed
        self.max_iter = max_iter

    def fit(self, texts: list[str], languages) -> TopicModel:
        self.fit_transform(texts, languages)
        return self

    def fit_transform(self, texts: list[str], languages) -> sp.csr_matrix:
        """Fit, and return the texts' shared matrix (`vectorize` of the same texts, without a second pass)."""
        languages = np.asarray(languages, dtype=object)
        self.previous_: list[dict[str, Any]] = []  # set by keep_names
        self.languages_: list[str] = []
        self.vectorizers_: dict[str, Tfidf] = {}
        self.nmf_: dict[str, KLNMF] = {}
        self.words_: dict[str, np.ndarray] = {}  # the vectoriser's columns the topics are made of
        share = threads.split(2 + self.embeddings)[1]  # each task's threads (the NMF's numba loops)
        vectorised, characters, *embedded = self._together(
            [lambda: self._vectorise(texts, languages, share), lambda: self._fit_characters(texts, languages)], texts,
            languages)
        matrices: dict[str, tuple[np.ndarray, sp.csr_matrix]] = {}
        for lang, (rows, vec, X, words, nmf) in vectorised.items():
            self.languages_.append(lang)
            self.vectorizers_[lang], self.nmf_[lang], self.words_[lang] = vec, nmf, words
            matrices[lang] = (rows, X)
        self.chars_: dict[str, Tfidf] = {lang: c[1] for lang, c in characters.items() if lang in self.languages_}
        self._describe()
        chars = self._characters(texts, languages, {lang: (rows, X) for lang, (rows, _, X) in characters.items()})
        return self._with_extras(self._assemble(matrices, len(texts)), chars, texts, languages, embedded)

    def _vectorise(self, texts: list[str], languages: np.ndarray, n_threads: int | None = None) -> dict[str, tuple]:
        """Per language with enough texts for topics: (rows, fitted TF-IDF, its matrix, topic words, fitted NMF),
        all made beside the characters and embeddings (the NMF on `n_threads`: its updates are GIL-free, so the
        topics are fitted while the embeddings are still tokenised)."""
        out = {}
        for lang, rows in _with_enough_texts(languages, LANGUAGES):
            vec = self._tfidf(len(rows))
            try:
                X = vec.fit_transform(tokens_of([texts[i] for i in rows], lang))
            except ValueError:  # no term survives min_df/max_df: this language has no topics
                continue
            k = int(min(self.n_topics, len(rows) // MIN_TEXTS_PER_TOPIC))
            words = _topic_words(vec, X)
            if k >= 2 and len(words) > k:
                sample = np.sort(np.random.default_rng(self.seed).permutation(len(rows))[:FIT_SAMPLE])
                fitted = (X if len(sample) == len(rows) else X[sample])[:, words]
                out[lang] = (rows, vec, X, words, self._nmf(k).fit(fitted, n_threads))
        return out

    def _with_extras(self, X: sp.csr_matrix, chars: sp.csr_matrix, texts: list[str], languages,
                     embedded: list[np.ndarray]) -> sp.csr_matrix:
        """The word, character and embedding blocks (`embedded`: [embed(texts)]); empty end blocks only widen."""
        blocks = [X, chars, *([dense_rows(embedded[0])] if self.embeddings else [])]
        width = sum(b.shape[1] for b in blocks)
        while len(blocks) > 1 and not blocks[-1].nnz:
            blocks.pop()
        X = sp.hstack(blocks, format="csr") if len(blocks) > 1 else X
        return X if X.shape[1] == width else sp.csr_matrix((X.data, X.indices, X.indptr), (X.shape[0], width))

    def _fit_characters(self, texts: list[str], languages: np.ndarray) -> dict[str, tuple]:
        """Per CHAR_LANGUAGES language with enough texts: (rows, fitted character TF-IDF, matrix)."""
        out = {}
        for lang, rows in _with_enough_texts(languages, CHAR_LANGUAGES):
            vec = self._tfidf(len(rows))
            try:
                out[lang] = (rows, vec, vec.fit_transform(char_tokens([texts[i] for i in rows])))
            except ValueError:  # no character in min_df texts: words only
                continue
        return out

    def _characters(self, texts: list[str], languages: np.ndarray, made: dict | None = None) -> sp.csr_matrix:
        """Character 1-2-grams of CHAR_LANGUAGES texts, a block per language: a Chinese compound the segmenter
        splits wrongly, or never saw, still shares characters with known ones (on real Chinese reviews the
        dissatisfaction model read words and characters better than either alone). Not for topics: names are
        words. `made`: the fit's (rows, matrix)."""
        matrices, blocks, start = {}, {}, 0
        for lang in [lang for lang in self.languages_ if lang in getattr(self, "chars_", {})]:
            if made is not None:
                matrices[lang] = made[lang]
            else:
                rows = np.flatnonzero(languages == lang)
                matrices[lang] = (rows, self.chars_[lang].transform(char_tokens([texts[i] for i in rows])))
            width = len(self.chars_[lang].terms_)
            blocks[lang], start = slice(start, start + width), start + width
        return self._assemble(matrices, len(texts), blocks)

    def _tfidf(self, texts: int) -> Tfidf:
        return Tfidf(min(self.min_df, max(1, texts // 50)), self.max_df, self.max_features)

    def _nmf(self, k: int) -> KLNMF:
        """Kullback-Leibler NMF (a PLSA-like fit): on short texts it finds word clusters that the Frobenius
        loss splits into single phrases."""
        return KLNMF(k, self.seed, self.max_iter, NMF_TOL)

    # ------------------------------------------------------------------ naming
    def _describe(self) -> None:
        """topics_: one dict per topic column (language, key, name, theme, top terms); keys_ in feature order."""
        labels = list(self.labels)
        inherited = {(m["language"], m["index"]): m for m in getattr(self, "previous_", []) if m["matched"]}
        taken = {m["key"] for m in inherited.values()}
        self.topics_: list[dict[str, Any]] = []
        for lang in self.languages_:
            terms = self.vectorizers_[lang].get_feature_names_out()[self.words_[lang]]
            for k, row in enumerate(self.nmf_[lang].components_):
                order = np.argsort(-row)
                top = [str(terms[i]) for i in order[:TOP_TERMS]]
                strong = order[:LABEL_TERMS]
                mass = float(row[strong].sum()) or 1.0
                shares = [float(sum(row[i] for i in strong if _matches(str(terms[i]), [w.lower() for w in lab.terms])))
                          / mass for lab in labels]
                best = int(np.argmax(shares)) if shares else -1
                named = best >= 0 and shares[best] >= LABEL_MIN_SHARE
                label = labels[best] if named else None
                kept = None if named else inherited.get((lang, k))
                key = (slug(label.name) or f"topic_{best}") if label else kept["key"] if kept else \
                    _fresh_key(lang, k, taken)
                self.topics_.append({"language": lang, "index": k, "key": key,
                                     "name": label.name if label else kept["name"] if kept else " / ".join(top[:3]),
                                     "named": named, "theme": label.theme if label else None, "top_terms": top,
                                     "kept_from_previous": kept is not None})
        named_keys = [slug(lab.name) or f"topic_{i}" for i, lab in enumerate(labels)]
        present = {t["key"] for t in self.topics_}
        self.keys_ = [k for k in named_keys if k in present] + [t["key"] for t in self.topics_ if not t["named"]]
        self.key_names_ = {t["key"]: t["name"] for t in self.topics_}
        self.key_themes_ = {t["key"]: t["theme"] for t in self.topics_}

    def keep_names(self, previous: TopicModel, min_similarity: float = MATCH_MIN_SIMILARITY) -> list[dict]:
        """Give each unnamed topic the key and name of the previous run's unnamed topic it matches (per language,
        one-to-one by the Hungarian assignment on cosine similarity, at least `min_similarity`); the rest keep
        fresh names. Returns (and keeps in previous_, saved with the model) one record per unnamed topic."""
        old = {(t["language"], t["index"]): t for t in previous.topics_ if not t["named"]}
        self.previous_ = []
        for lang in self.languages_:
            mine = [t["index"] for t in self.topics_ if t["language"] == lang and not t["named"]]
            theirs = [i for (lg, i) in old if lg == lang]
            if not mine:
                continue
            S = topic_similarity(self, previous, lang)[np.ix_(mine, theirs)] if theirs else np.zeros((len(mine), 0))
            pairs = dict(zip(*linear_sum_assignment(-S))) if theirs else {}
            for r, k in enumerate(mine):
                c = pairs.get(r)
                sim = float(S[r, c]) if c is not None else 0.0
                prev = old[(lang, theirs[c])] if c is not None else None
                self.previous_.append({"language": lang, "index": k, "matched": sim >= min_similarity,
                                       "similarity": round(sim, 4), "key": prev["key"] if prev else None,
                                       "name": prev["name"] if prev else None})
        self._describe()
        return self.previous_

    # ------------------------------------------------------------------ transform
    def _blocks(self) -> dict[str, slice]:
        out, start = {}, 0
        for lang in self.languages_:
            size = len(self.vectorizers_[lang].terms_)
            out[lang], start = slice(start, start + size), start + size
        return out

    def vectorize(self, texts: list[str], languages) -> sp.csr_matrix:
        """TF-IDF of every text in its language's block of columns (zeros elsewhere; a language without a
        model gives an empty row)."""
        languages = np.asarray(languages, dtype=object)

        def words() -> sp.csr_matrix:
            matrices = {}
            for lang in self.languages_:
                rows = np.flatnonzero(languages == lang)
                if len(rows):
                    matrices[lang] = (rows, self.vectorizers_[lang].transform(tokens_of([texts[i] for i in rows],
                                                                                          lang)))
            return self._assemble(matrices, len(texts))
        X, chars, *embedded = self._together([words, lambda: self._characters(texts, languages)], texts, languages)
        return self._with_extras(X, chars, texts, languages, embedded)

    def _together(self, tasks: list, texts: list[str], languages: np.ndarray) -> list:
        """The tasks' results (+ embed(texts) when on), one thread each in the budget (mostly GIL-free code)."""
        tasks = tasks + ([lambda: embed(texts, languages)] if self.embeddings else [])
        return threads.map_split(lambda t: t(), tasks, threads.split(len(tasks))[0])

    def _assemble(self, matrices: dict[str, tuple[np.ndarray, sp.csr_matrix]], n: int,
                  blocks: dict[str, slice] | None = None) -> sp.csr_matrix:
        """One matrix of n texts from each language's (rows, matrix), in the language's block of columns."""
        blocks = self._blocks() if blocks is None else blocks
        width = max([b.stop for b in blocks.values()], default=0)
        if len(matrices) == 1:  # one language in all (distinct) rows: no copy
            (lang, (rows, X)), = matrices.items()
            if blocks[lang].start == 0 and X.shape == (n, width) and len(rows) == n and X.has_canonical_format:
                return X
        parts = []
        for lang, (rows, X) in matrices.items():
            X = X.tocoo()
            parts.append(sp.coo_matrix((X.data, (rows[X.row], X.col + blocks[lang].start)), shape=(n, width)))
        if not parts:
            return sp.csr_matrix((n, width))
        return sp.csr_matrix(sum(parts[1:], parts[0]))

    def topic_weights(self, X: sp.csr_matrix, languages) -> np.ndarray:
        """Texts x topic columns (topics_ order): the NMF mix of each text, normalised to sum 1."""
        languages = np.asarray(languages, dtype=object)
        W = np.zeros((X.shape[0], len(self.topics_)))
        col = 0
        for lang, block in self._blocks().items():
            k = self.nmf_[lang].n_components_
            words = self.words_[lang] + block.start
            rows = np.flatnonzero(languages == lang)
            part = (X if len(rows) == X.shape[0] else X[rows])[:, words]  # all (distinct) rows: no copy
            known = part.getnnz(axis=1) > 0  # no known word: no topic
            rows, part = (rows, part) if known.all() else (rows[known], part[known])
            if len(rows):
                W[rows, col:col + k] = self.nmf_[lang].transform(part)
            col += k
        total = W.sum(axis=1, keepdims=True)
        return np.divide(W, total, out=np.zeros_like(W), where=total > 0)

    def key_weights(self, W: np.ndarray) -> np.ndarray:
        """Topic mix summed per key (keys_ order)."""
        keys = [t["key"] for t in self.topics_]
        return np.column_stack([W[:, [j for j, k in enumerate(keys) if k == key]].sum(axis=1) for key in self.keys_]) \
            if self.keys_ else np.zeros((len(W), 0))

    def transform(self, texts: list[str], languages) -> np.ndarray:
        return self.topic_weights(self.vectorize(texts, languages), languages)

    # ------------------------------------------------------------------ persistence
    def to_dict(self) -> dict[str, Any]:
        return {"params": {"n_topics": self.n_topics, "labels": [lab.model_dump() for lab in self.labels],
                           "min_df": self.min_df, "max_df": self.max_df, "max_features": self.max_features,
                           "seed": self.seed, "max_iter": self.max_iter, "embeddings": self.embeddings},
                "languages": {lang: {"vocabulary": self.vectorizers_[lang].get_feature_names_out().tolist(),
                                     "idf": self.vectorizers_[lang].idf_.tolist(),
                                     "topic_words": self.words_[lang].tolist()} for lang in self.languages_},
                "characters": {lang: {"vocabulary": vec.terms_, "idf": vec.idf_.tolist()}
                               for lang, vec in getattr(self, "chars_", {}).items()},
                "previous": getattr(self, "previous_", [])}

    def save_arrays(self, directory: Path) -> None:
        for lang in self.languages_:
            np.save(directory / f"topics_{lang}.npy", self.nmf_[lang].components_, allow_pickle=False)

    @classmethod
    def from_dict(cls, data: dict[str, Any], directory: Path) -> TopicModel:
        p = data["params"]
        model = cls(p["n_topics"], [TopicLabel(**lab) for lab in p["labels"]], p["min_df"], p["max_df"],
                    p["max_features"], p["seed"], p["max_iter"], p.get("embeddings", False))
        model.languages_, model.vectorizers_, model.nmf_, model.words_ = [], {}, {}, {}
        for lang, saved in data["languages"].items():
            vec = Tfidf.from_terms(saved["vocabulary"], saved["idf"])
            components = np.load(directory / f"topics_{lang}.npy", allow_pickle=False)
            nmf = KLNMF.of_components(components, model.seed, model.max_iter, NMF_TOL)
            model.languages_.append(lang)
            model.vectorizers_[lang], model.nmf_[lang] = vec, nmf
            model.words_[lang] = (np.asarray(saved["topic_words"], dtype=np.int64) if "topic_words" in saved
                                  else _unigrams(vec))  # bundles before topic_words: every single word
        model.chars_ = {lang: Tfidf.from_terms(saved["vocabulary"], saved["idf"])
                        for lang, saved in data.get("characters", {}).items()}  # none in bundles before them
        model.previous_ = data.get("previous", [])
        model._describe()
        return model


# --------------------------------------------------------------------------------------------- component
class TextModels:
    """The bundle's text component: topics, dissatisfaction, comment reasons and what the stage needs to rebuild
    the per-customer features (`meta`: sources, windows, feature names, topic table for the report)."""

    def __init__(self, topics: TopicModel, dissatisfaction: LogisticRegression | None,
                 reasons: CommentReasons | None, meta: dict[str, Any]):
        self.topics = topics
        self.dissatisfaction = dissatisfaction
        self.reasons = reasons
        self.meta = meta

    def dissatisfaction_of(self, X: sp.csr_matrix) -> np.ndarray:
        if self.dissatisfaction is None or X.shape[0] == 0:
            return np.full(X.shape[0], np.nan)
        return self.dissatisfaction.predict_proba(X)[:, 1]

    def save(self, directory: str | Path) -> None:
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        self.topics.save_arrays(directory)
        meta = {"format_version": FORMAT_VERSION, "topics": self.topics.to_dict(),
                "dissatisfaction": None if self.dissatisfaction is None else logit_to_dict(self.dissatisfaction),
                "reasons": None if self.reasons is None else self.reasons.to_dict(), "meta": self.meta}
        (directory / "text.json").write_text(json.dumps(meta, ensure_ascii=False), encoding="utf-8")

    @classmethod
    def load(cls, directory: str | Path) -> TextModels:
        directory = Path(directory)
        data = read_component_meta(directory / "text.json", "text model", FORMAT_VERSION)
        return cls(TopicModel.from_dict(data["topics"], directory),
                   None if data["dissatisfaction"] is None else logit_from_dict(data["dissatisfaction"]),
                   None if data["reasons"] is None else CommentReasons.from_dict(data["reasons"]), data["meta"])
