"""TF-IDF of words and word pairs, counted with numpy: the one vectoriser of the text models.

Why not scikit-learn's TfidfVectorizer: it builds every word pair of every text in Python and grows a dict of all
of them (on real reviews most pairs occur once), which made the text stage run at under a thousand texts per
second. Here words are numbered once per batch (data.tokens.tokens_of), pairs are integer
pairs of adjacent word numbers, and document frequencies, pruning and the sparse matrix are numpy operations.
The weighting is scikit-learn's with `sublinear_tf=True` (1 + log tf, smooth idf, rows of unit length), so a
model behaves as before; persistence is the list of terms and their idf ("w1 w2" for a pair).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import scipy.sparse as sp

from cxpredict.data.tokens import Tokens


def _pairs(codes: np.ndarray, doc: np.ndarray, width: int) -> tuple[np.ndarray, np.ndarray]:
    """(pair key first * width + second, its document) of adjacent known words of one text."""
    same = (doc[:-1] == doc[1:]) & (codes[:-1] >= 0) & (codes[1:] >= 0)
    return codes[:-1][same] * width + codes[1:][same], doc[:-1][same]


def _cells(term: np.ndarray, doc: np.ndarray, n_terms: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(text, term, occurrences) of each distinct (text, term), ordered by text then term."""
    keys = np.sort(doc * n_terms + term)  # sorting beats numpy's hashed unique on these wide integer keys
    first = np.flatnonzero(np.r_[True, keys[1:] != keys[:-1]]) if len(keys) else np.zeros(0, dtype=np.int64)
    once = keys[first]
    return once // n_terms, once % n_terms, np.diff(np.r_[first, len(keys)])


def _unit_rows(X: sp.csr_matrix) -> sp.csr_matrix:
    """X with each non-empty row divided by its Euclidean length (in place)."""
    norms = np.sqrt(np.asarray(X.multiply(X).sum(axis=1)).ravel())
    X.data /= np.repeat(np.where(norms > 0, norms, 1.0), np.diff(X.indptr))
    return X


def _most_frequent(terms: np.ndarray, total: np.ndarray, names, m: int) -> np.ndarray:
    """The m `terms` of the largest `total` count, as scikit-learn's max_features, ties by name (so the choice
    never depends on text order), ordered by count (descending) then name. `names(terms)` is asked only for the
    chosen terms and those tied at the cut: on real reviews most candidates lose, and naming them all (a Python
    string per pair) cost more than choosing."""
    cut = -np.partition(-total, m - 1)[m - 1]
    tied = np.flatnonzero(total == cut)
    tied = tied[np.argsort(names(terms[tied]).astype(str), kind="stable")[: m - int((total > cut).sum())]]
    chosen = np.sort(np.concatenate([np.flatnonzero(total > cut), tied]))
    return terms[chosen[np.lexsort((names(terms[chosen]).astype(str), -total[chosen]))]]


class Tfidf:
    """Words and adjacent word pairs of tokenised texts (data.tokens.tokens_of). `fit_transform` returns the
    matrix and sets `terms_` (column order) and `idf_`."""

    def __init__(self, min_df: int = 1, max_df: float = 1.0, max_features: int | None = None):
        self.min_df = min_df
        self.max_df = max_df
        self.max_features = max_features

    def fit_transform(self, tokens: Tokens) -> sp.csr_matrix:
        """Fit, and return `transform` of the same tokens, made from the counts the fit took (no second lookup
        of every word and pair)."""
        codes, doc, words = tokens.codes, tokens.text, tokens.words
        n, width = tokens.n_texts, len(words)
        pair_keys, pair_doc = _pairs(codes, doc, width)
        pair_codes, pairs = pd.factorize(pair_keys)
        word_cells = _cells(codes, doc, width)
        pair_cells = _cells(pair_codes.astype(np.int64), pair_doc, len(pairs))
        df = np.concatenate([np.bincount(word_cells[1], minlength=width),
                             np.bincount(pair_cells[1], minlength=len(pairs))])
        total = np.concatenate([np.bincount(codes, minlength=width), np.bincount(pair_codes, minlength=len(pairs))])
        keep = (df >= self.min_df) & (df <= self.max_df * n)
        if not keep.any():
            raise ValueError("no term occurs in min_df texts and in at most max_df of them")
        kept = np.flatnonzero(keep)
        pairs = np.asarray(pairs, dtype=np.int64)
        words = np.asarray(words, dtype=object)

        def names(terms: np.ndarray) -> np.ndarray:
            """Each term's name, in order (terms: word numbers, then width + pair codes)."""
            out, single = np.empty(len(terms), dtype=object), terms < width
            out[single] = words[terms[single]]
            pair = pairs[terms[~single] - width]
            out[~single] = words[pair // width] + " " + words[pair % width]
            return out
        if self.max_features is not None and len(kept) > self.max_features:
            kept = _most_frequent(kept, total[kept], names, self.max_features)
        self.terms_ = names(kept).tolist()
        single = kept < width
        self._lookup(words, np.flatnonzero(single), kept[single], pairs[kept[~single] - width],
                     np.flatnonzero(~single))
        self.idf_ = np.log((1 + n) / (1 + df[kept])) + 1.0
        column = np.full(len(df), -1, dtype=np.int64)  # term (word number, then width + pair code) -> column
        column[kept] = np.arange(len(kept))
        return self._matrix(n, word_cells, pair_cells, column[:width], column[width:])

    def _matrix(self, n: int, word_cells: tuple, pair_cells: tuple, word_column: np.ndarray,
                pair_column: np.ndarray) -> sp.csr_matrix:
        """`transform`'s matrix from the (text, term, occurrences) cells of words and of pairs: the cells are
        distinct, so their keys sorted give the cells `transform` counts, in the same order."""
        width = len(self.terms_)
        keys, counts = [], []
        for (text, term, count), column in ((word_cells, word_column), (pair_cells, pair_column)):
            col = column[term]
            hit = col >= 0
            keys.append(text[hit] * width + col[hit])
            counts.append(count[hit])
        keys, counts = np.concatenate(keys), np.concatenate(counts)
        bits = int(counts.max(initial=0)).bit_length()
        if (n * width) << bits < 2**63:  # each count below its key's bits: one plain sort, no argsort (2x slower)
            packed = np.sort((keys << bits) | counts)
            return self._csr(n, packed >> bits, packed & ((1 << bits) - 1))
        order = np.argsort(keys)
        return self._csr(n, keys[order], counts[order])

    def _csr(self, n: int, cells: np.ndarray, counts: np.ndarray) -> sp.csr_matrix:
        """The unit-length TF-IDF rows of sorted cell keys (text x width + column) and their occurrences."""
        width = len(self.terms_)
        rows, cols = np.divmod(cells, width)
        indptr = np.concatenate([[0], np.cumsum(np.bincount(rows, minlength=n))])
        X = sp.csr_matrix(((1.0 + np.log(counts)) * self.idf_[cols], cols.astype(np.int32), indptr), shape=(n, width))
        return _unit_rows(X)

    def _lookup(self, words: np.ndarray, word_columns: np.ndarray, word_numbers: np.ndarray, pair_keys: np.ndarray,
                pair_columns: np.ndarray) -> None:
        """What `transform` reads: the words (numbered by position), each word's column (-1: none) and the
        columns of the pair keys (first * len(words) + second), both found by pandas' hash tables."""
        self._words = pd.Index(words)
        self._width = max(len(words), 1)
        self._word_column = np.full(len(words), -1, dtype=np.int64)
        self._word_column[word_numbers] = word_columns
        self._pair_index, self._pair_columns = pd.Index(np.asarray(pair_keys, dtype=np.int64)), pair_columns

    def _index(self, terms: list[str]) -> None:
        """The lookup of saved terms ('w1 w2' for a pair), as `fit_transform` builds it from the texts."""
        self.terms_ = list(terms)
        is_pair = np.fromiter((" " in t for t in self.terms_), dtype=bool, count=len(self.terms_))
        split = [t.split(" ", 1) for t in np.asarray(self.terms_, dtype=object)[is_pair]]
        singles = [t for t, p in zip(self.terms_, is_pair) if not p]
        words = pd.unique(np.array(singles + [w for p in split for w in p], dtype=object))
        number = pd.Index(words)
        width = max(len(words), 1)
        pair_keys = (number.get_indexer([p[0] for p in split]).astype(np.int64) * width
                     + number.get_indexer([p[1] for p in split]))
        self._lookup(np.asarray(words, dtype=object), np.flatnonzero(~is_pair),
                     number.get_indexer(singles).astype(np.int64), pair_keys, np.flatnonzero(is_pair))

    def transform(self, tokens: Tokens) -> sp.csr_matrix:
        codes, doc, words = tokens.codes, tokens.text, tokens.words
        known = self._words.get_indexer(words).astype(np.int64)
        word = known[codes] if len(codes) else codes
        keys, pair_doc = _pairs(word, doc, self._width)
        pair = self._pair_index.get_indexer(keys)
        col = np.concatenate([np.where(word >= 0, self._word_column[np.maximum(word, 0)], -1),
                              np.where(pair >= 0, self._pair_columns[pair], -1)])
        row = np.concatenate([doc, pair_doc])
        hit = col >= 0
        n, width = tokens.n_texts, len(self.terms_)
        cells, counts = np.unique(row[hit] * width + col[hit], return_counts=True)  # sorted: CSR order
        return self._csr(n, cells, counts)

    def get_feature_names_out(self) -> np.ndarray:
        return np.asarray(self.terms_, dtype=object)

    @property
    def vocabulary_(self) -> dict[str, int]:
        return {t: j for j, t in enumerate(self.terms_)}

    @classmethod
    def from_terms(cls, terms: list[str], idf) -> Tfidf:
        model = cls()
        model._index(list(terms))
        model.idf_ = np.asarray(idf, dtype=np.float64)
        return model
