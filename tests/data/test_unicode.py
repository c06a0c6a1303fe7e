"""NFKC of a batch: always exactly Python's, also where characters combine across the replaced ones."""

from __future__ import annotations

import unicodedata

import numpy as np
import pytest

from cxpredict.data.unicode import nfkc


@pytest.mark.parametrize("text", [
    "房间很干净，服务也好！……", "ＢＩＬＬ ① ½ ﬁne ™", "cafe\u0301 e\u0301", "ｅ\u0301 and ´\u0323", "\u1100\u1161\u11a8 ᄒ\u1161",
    "\u0b47\u0b3e 﨑 \uf900", "plain ascii", "", "a\u0323\u0302\u0301 ＡＢ\u0308"])
def test_nfkc_of_a_batch_is_unicodedatas(text):
    """Each distinct character normalised once gives the text's NFKC, also where characters combine across the
    replaced ones (combining marks, Hangul jamo, Indic vowel signs) and in texts that were not composed."""
    assert nfkc(text) == unicodedata.normalize("NFKC", text)


def test_nfkc_of_random_mixtures_is_unicodedatas():
    rng = np.random.default_rng(0)
    pool = np.array([chr(c) for c in [*range(0x20, 0x180), *range(0x300, 0x370), *range(0x1100, 0x1180),
                                      *range(0x11a8, 0x11c3), *range(0x3000, 0x3040), *range(0x4e00, 0x4e20),
                                      *range(0xff00, 0xff70), 0x2026, 0xfb01, 0x0b47, 0x0b3e, 0x09c7, 0x09be, 0x212b,
                                      0xf900, 0x2f800, 0xac00, 0x1e0a]], dtype=object)
    for _ in range(3000):
        text = "".join(rng.choice(pool, rng.integers(0, 25)))
        assert nfkc(text) == unicodedata.normalize("NFKC", text), repr(text)
