"""Which topics of a retrain are the previous run's: the cosine similarity of two topic models' term weights
(models/text.py `TopicModel.keep_names` pairs them one-to-one by the Hungarian assignment)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from cxpredict.models.text import TopicModel

# a learned topic is the previous run's topic when their term weights have at least this cosine similarity: the
# same cluster re-learned on other texts shares its main words; unrelated topics share almost none (near 0)
MATCH_MIN_SIMILARITY = 0.5


def _term_weights(model: TopicModel, lang: str) -> tuple[np.ndarray, np.ndarray]:
    """(terms, topics x terms weights) of one language's topics."""
    return model.vectorizers_[lang].get_feature_names_out()[model.words_[lang]], model.nmf_[lang].components_


def topic_similarity(new: TopicModel, old: TopicModel, lang: str) -> np.ndarray:
    """Cosine similarity (new topics x old topics) of the term weights, over the union of both vocabularies."""
    (new_terms, A), (old_terms, B) = _term_weights(new, lang), _term_weights(old, lang)
    union = {t: i for i, t in enumerate(dict.fromkeys([*map(str, new_terms), *map(str, old_terms)]))}

    def spread(terms, W):
        out = np.zeros((len(W), len(union)))
        out[:, [union[str(t)] for t in terms]] = W
        norm = np.linalg.norm(out, axis=1, keepdims=True)
        return np.divide(out, norm, out=np.zeros_like(out), where=norm > 0)
    return spread(new_terms, A) @ spread(old_terms, B).T
