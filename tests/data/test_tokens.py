"""data/tokens.py: a batch tokenised at once gives the tokens of the one-by-one tokenisers, in order, numbered by
first appearance; characters of each text without spaces."""

from __future__ import annotations

from cxpredict.data.text import normalise, normalise_many, tokenize_en, tokenize_zh
from cxpredict.data.tokens import char_tokens, tokens_of


def test_batched_tokens_and_normalising_equal_the_one_by_one_ones():
    texts = ["It is NOT working, the bill’s wrong", "", "ｂｉｌｌ\u200b again\nand again",
             "账单又出错了，客服也不回电话！", "the a an", "mixed 价格太贵了 price",
             "  lead\x01in \x7f\x85 ", "\ufefftab\tand\r\nbreak\u3000 ", "\x1f",
             "it's 'quoted' don't '' a''b x'y' 'z won’t ’tis café9naïve"]  # apostrophes: trimmed, kept inside
    assert normalise_many(texts) == [normalise(t) for t in texts]
    clean = normalise_many(texts)
    for language, one in (("en", tokenize_en), ("zh", tokenize_zh)):
        tokens = tokens_of(clean, language)
        assert tokens.n_texts == len(clean)
        rebuilt = [[str(tokens.words[c]) for c in tokens.codes[tokens.text == i]] for i in range(len(clean))]
        assert rebuilt == [one(t) for t in clean]
        assert list(tokens.words) == list(dict.fromkeys(w for t in clean for w in one(t)))  # first appearance


def test_character_tokens_number_each_texts_characters_without_spaces():
    tokens = char_tokens(["太慢了 ok", "", "慢\n了"])
    chars = [tokens.words[c] for c in tokens.codes]
    assert chars == ["太", "慢", "了", "o", "k", "慢", "了"]
    assert tokens.text.tolist() == [0, 0, 0, 0, 0, 2, 2] and tokens.n_texts == 3
