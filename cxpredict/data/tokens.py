"""Texts of a batch as numbers for the vectoriser (models/tfidf.py): every text tokenised at once, as
data/text.py's `tokenize_en` / `tokenize_zh` would one by one, and the characters of Chinese texts.

Why a batch: one pass of arrow's kernels (English) or one segmenter call (Chinese) over all texts, and each
distinct word looked at once, in place of a Python list per text and a string per token.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from cxpredict.data.text import BREAK, EN_STOP, keep_zh


@dataclass
class Tokens:
    """The tokens of a batch of texts as numbers: `codes` index `words`, `text` is each token's text number
    (non-decreasing). What the vectoriser reads, without a Python list per text."""

    codes: np.ndarray
    words: np.ndarray
    text: np.ndarray
    n_texts: int


def _zh_tokens(texts: list[str]) -> list[str]:
    """rjieba over the batch in one call (it keeps the line breaks between texts as tokens)."""
    import rjieba  # on first Chinese text only

    return rjieba.cut(BREAK.join(t.replace(BREAK, " ") for t in texts))


def _en_tokens(texts: list[str]) -> Tokens:
    """`tokens_of` for English by arrow's kernels (no Python string per token): _EN_WORD's words are the runs of
    letters and apostrophes trimmed of apostrophes; numbered by first appearance, as pd.factorize numbers."""
    arr = pc.replace_substring(pa.array(list(texts), pa.large_string()), "’", "'")
    runs = pc.split_pattern_regex(arr, "[^a-z']+")
    text = np.repeat(np.arange(len(texts), dtype=np.int64), pc.list_value_length(runs).to_numpy())
    words = pc.utf8_trim(runs.flatten(), "'")
    numbered = pc.dictionary_encode(words)
    distinct = np.asarray(numbered.dictionary.to_pylist(), dtype=object)
    keep = np.fromiter((bool(w) and w not in EN_STOP for w in distinct), dtype=bool, count=len(distinct))
    number = np.full(len(distinct), -1, dtype=np.int64)
    number[keep] = np.arange(int(keep.sum()))
    mapped = number[numbered.indices.to_numpy()] if len(text) else np.zeros(0, dtype=np.int64)
    kept = mapped >= 0
    return Tokens(mapped[kept], distinct[keep], text[kept], len(texts))


def tokens_of(texts: list[str], language: str) -> Tokens:
    """All texts tokenised at once, as `tokenize_en` / `tokenize_zh` would one by one (same tokens, same order);
    stop words dropped by looking at each distinct word once."""
    if language == "en":
        return _en_tokens(texts)
    raw = _zh_tokens(list(texts))
    codes, distinct = pd.factorize(np.fromiter(raw, dtype=object, count=len(raw)))
    distinct = np.asarray(distinct, dtype=object)
    is_break = distinct == BREAK
    text = np.cumsum(is_break[codes]) if len(codes) else np.zeros(0, dtype=np.int64)
    clean = np.array([w.strip() for w in distinct], dtype=object)
    keep = keep_zh(clean) & ~is_break
    words, remap = pd.factorize(clean[keep]) if keep.any() else (np.zeros(0, dtype=np.int64), np.zeros(0, object))
    number = np.full(len(distinct), -1, dtype=np.int64)
    number[np.flatnonzero(keep)] = words
    mapped = number[codes]
    kept = mapped >= 0
    return Tokens(mapped[kept], np.asarray(remap, dtype=object), text[kept].astype(np.int64), len(texts))


def char_tokens(texts: list[str]) -> Tokens:
    """Every non-space character of each text as a token (the vectoriser's adjacent pairs are then character
    bigrams): for Chinese, whose words the segmenter may split wrongly, the classifiers also read characters."""
    joined = BREAK.join(t.replace(BREAK, " ") for t in texts)
    points = np.frombuffer(joined.encode("utf-32-le"), dtype=np.uint32)
    text = np.cumsum(points == ord(BREAK))
    keep = ~np.isin(points, [ord(c) for c in " \t\r\n\u3000"])
    codes, distinct = pd.factorize(points[keep])
    words = np.array([chr(c) for c in distinct], dtype=object)
    return Tokens(codes.astype(np.int64), words, text[keep].astype(np.int64), len(texts))
