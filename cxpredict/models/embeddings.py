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
from pathlib import Path

import numpy as np
import scipy.sparse as sp

from cxpredict.errors import ConfigError

LANGUAGES = ("en",)
DIM = 256
WEIGHT = 1.0  # an embedding row has unit length, like a TF-IDF row


def available() -> bool:
    return importlib.util.find_spec("wordllama") is not None


@functools.cache
def _model():
    if not available():
        raise ConfigError("text.method: embeddings needs the package wordllama (pip install 'wordllama>=0.4'); "
                          "or set text.method: tfidf")
    import wordllama

    return wordllama.WordLlama.load(cache_dir=Path(wordllama.__file__).parent, dim=DIM, disable_download=True)


def embed(texts: list[str], languages) -> np.ndarray:
    """texts x DIM unit-length embeddings; rows of a language without embeddings are zeros."""
    languages = np.asarray(languages, dtype=object)
    out = np.zeros((len(texts), DIM), dtype=np.float64)
    rows = np.flatnonzero(np.isin(languages, LANGUAGES))
    if len(rows):
        E = np.asarray(_model().embed([texts[i] for i in rows], norm=True), dtype=np.float64)
        out[rows] = np.nan_to_num(E) * WEIGHT
    return out


def with_embeddings(X: sp.csr_matrix, texts: list[str], languages) -> sp.csr_matrix:
    """The shared TF-IDF matrix with the texts' embeddings as DIM more columns at its end."""
    return sp.hstack([X, sp.csr_matrix(embed(texts, languages))], format="csr")
