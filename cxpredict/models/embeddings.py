"""Static word embeddings for `text.method: embeddings` (the default): wordllama (MIT licence, PyPI), whose 256-dimension English
weights and tokenizer ship inside the package, so nothing is downloaded at run time (the loader is pointed at the
package folder with downloads disabled). English only: its Llama-2 tokenizer splits Chinese into bytes, so
Chinese texts keep TF-IDF alone (zero embedding columns).

Why appended to TF-IDF rather than replacing it: the dissatisfaction and reason models then see both the words
and their meaning (a synonym the respondents never used still lands near the words they did use), and a language
without embeddings loses nothing."""

from __future__ import annotations

import functools
import importlib.util
import itertools
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import scipy.sparse as sp

from cxpredict import threads
from cxpredict.errors import ConfigError

LANGUAGES = ("en",)
DIM = 256
WEIGHT = 1.0  # an embedding row has unit length, like a TF-IDF row
SPACE_MARK = "\u2581"  # the tokenizer writes a space (and the start of a text) as this mark


def available() -> bool:
    return importlib.util.find_spec("wordllama") is not None


@functools.cache
def _model():
    if not available():
        raise ConfigError("text.method: embeddings needs the package wordllama (pip install 'wordllama>=0.4'); "
                          "or set text.method: tfidf")
    import wordllama

    return wordllama.WordLlama.load(cache_dir=Path(wordllama.__file__).parent, dim=DIM, disable_download=True)


@functools.cache
def _word_starts() -> np.ndarray | None:
    """Per token id: does its piece start a word (begin with the tokenizer's space mark)? None when a piece holds
    the mark after its start (then a piece could span two words and ids cannot be split at the marks)."""
    vocab = _model().tokenizer.get_vocab()
    starts = np.zeros(max(vocab.values()) + 1, dtype=bool)
    for piece, i in vocab.items():
        if SPACE_MARK in piece.lstrip(SPACE_MARK):
            return None
        starts[i] = piece.startswith(SPACE_MARK)
    return starts


def _word_ids(words: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """(tokens per word, all their ids in order) of distinct non-empty space-free words. Encoded as a few long
    space-joined strings, one per thread, and split back where a piece starts a word: the tokenizer marks each
    space and no piece holds a mark after its start, so no piece spans two words and the ids are those of the
    words encoded one by one (which cost a Python object per word). Otherwise, word by word."""
    starts = _word_starts()
    if starts is not None and all(words):
        bounds = np.linspace(0, len(words), max(1, min(threads.count(), len(words))) + 1).astype(np.int64)
        encoded = _encode([" ".join(words[a:b]) for a, b in itertools.pairwise(bounds) if b > a])
        flat = np.concatenate([np.asarray(e.ids, dtype=np.int64) for e in encoded] or [np.zeros(0, np.int64)])
        first = np.flatnonzero(starts[flat])
        if len(first) == len(words):
            return np.diff(np.r_[first, len(flat)]).astype(np.int64), flat
    ids = [e.ids for e in _encode(words)]
    counts = np.fromiter(map(len, ids), dtype=np.int64, count=len(ids))
    return counts, np.fromiter(itertools.chain.from_iterable(ids), dtype=np.int64, count=int(counts.sum()))


def _encode(texts: list[str]) -> list:
    """The tokenizer's encodings without special tokens; encode_batch_fast (tokenizers >= 0.20, the version
    wordllama leaves open) skips the character offsets nobody reads."""
    tokenizer = _tokenizer()
    return getattr(tokenizer, "encode_batch_fast", tokenizer.encode_batch)(texts, add_special_tokens=False)


@functools.cache
def _tokenizer():
    """The model's tokenizer without its padding: words are encoded one by one, so padding every word to the
    longest in the batch only made work (and a mask to drop it again); the same ids."""
    model = _model()
    tokenizer = type(model.tokenizer).from_str(model.tokenizer.to_str())  # a copy: the model's own keeps its padding
    tokenizer.no_padding()
    return tokenizer


def embed(texts: list[str], languages) -> np.ndarray:
    """texts x DIM unit-length embeddings; rows of a language without embeddings are zeros."""
    languages = np.asarray(languages, dtype=object)
    out = np.zeros((len(texts), DIM), dtype=np.float64)
    rows = np.flatnonzero(np.isin(languages, LANGUAGES))
    if len(rows):
        out[rows] = pooled([texts[i] for i in rows]) * WEIGHT
    return out


def pooled(texts: list[str]) -> np.ndarray:
    """The unit-length mean of each text's token vectors, as `WordLlama.embed(texts, norm=True)` gives (zeros for a
    text without tokens), with each distinct space-separated word tokenised once: the tokenizer's pieces never
    span a space, and a batch of reviews repeats its words many times (tokenising every text took most of the
    time of text.method embeddings)."""
    model = _model()
    # split and numbered by arrow's kernels: str.split and pandas' factorize made a Python string per word
    words = pc.split_pattern(pa.array(texts, pa.large_string()), " ")
    lengths = pc.list_value_length(words).to_numpy().astype(np.int64)
    numbered = pc.dictionary_encode(words.flatten())  # codes in order of first appearance, as pd.factorize's
    codes = numbered.indices.to_numpy().astype(np.int64)
    counts, flat = _word_ids(numbered.dictionary.to_pylist())
    size = model.embedding.shape[0]
    tokens = sp.csr_matrix((np.ones(len(flat), dtype=np.float32), (np.repeat(np.arange(len(counts)), counts),
                                                                   np.clip(flat, 0, size - 1))),
                           shape=(len(counts), size))
    per_text = sp.csr_matrix((np.ones(len(codes), dtype=np.float32), (np.repeat(np.arange(len(texts)), lengths),
                                                                      codes)), shape=(len(texts), len(counts)))
    sums = np.asarray(per_text @ (tokens @ model.embedding), dtype=np.float64)
    norms = np.linalg.norm(sums, axis=1, keepdims=True)
    return np.divide(sums, norms, out=np.zeros_like(sums), where=norms > 0)


def dense_rows(D: np.ndarray) -> sp.csr_matrix:
    """`sp.csr_matrix(D)` for a block of dense rows and zero rows, built from the rows themselves: scipy's
    conversion scans every cell for non-zeros through a COO matrix, which cost more than the pooling."""
    full = D.any(axis=1)
    indptr = np.zeros(len(D) + 1, dtype=np.int32 if D.size < 2**31 else np.int64)
    np.cumsum(np.where(full, D.shape[1], 0), out=indptr[1:])
    indices = np.tile(np.arange(D.shape[1], dtype=indptr.dtype), int(full.sum()))
    out = sp.csr_matrix((D[full].ravel(), indices, indptr), shape=D.shape)
    out.eliminate_zeros()  # a stray exact zero inside a row, as scipy's conversion leaves it out
    return out
