"""Unicode normalisation of a batch of texts, fast where Python's is slow.

Why: `unicodedata.normalize("NFKC", ...)` decomposes and recomposes every character of a text that is not
already normal, and Chinese reviews (full-width punctuation in every sentence) are never normal: it took most of
the time of reading them. Here each distinct character is normalised once, and the result is checked where
characters might combine; the output is always exactly Python's NFKC.
"""

from __future__ import annotations

import unicodedata

import numpy as np


def nfkc(text: str) -> str:
    """`unicodedata.normalize("NFKC", text)`, each distinct character normalised once (Python's normaliser
    recomposes every character of a text that is not normal: most of the reading time of Chinese reviews). Each
    character replaced by its own NFKC form gives a text of the same NFKD, hence NFKC: when that text is normal
    (no character combines with a neighbour, the common case) it IS the NFKC form, else the slow way."""
    if unicodedata.is_normalized("NFKC", text):
        return text
    points = np.frombuffer(text.encode("utf-32-le", "surrogatepass"), dtype=np.uint32)
    present = np.flatnonzero(np.bincount(points))
    forms = {int(c): unicodedata.normalize("NFKC", chr(c)) for c in present}
    changed = {c: np.frombuffer(f.encode("utf-32-le", "surrogatepass"), dtype=np.uint32) for c, f in forms.items()
               if f != chr(c)}
    if any(len(f) == 0 for f in changed.values()):  # NFKC removes no character; should one, the slow way
        return unicodedata.normalize("NFKC", text)
    lookup = np.arange(int(present[-1]) + 1, dtype=np.uint32)  # each character's form's first point
    for c, form in changed.items():
        lookup[c] = form[0]
    multi = [(c, f) for c, f in changed.items() if len(f) > 1]  # forms of several points
    longer = np.zeros(len(lookup), dtype=np.int64)  # j + 1 for the character of multi[j], else 0
    longer[[c for c, _ in multi]] = np.arange(1, len(multi) + 1)
    out = lookup[points]
    at = np.flatnonzero(longer[points])
    if len(at):  # splice in the other points of the longer forms, after the first
        which = longer[points[at]] - 1
        extra = np.array([len(f) - 1 for _, f in multi])[which]
        table = np.zeros((len(multi), max(len(f) for _, f in multi) - 1), dtype=np.uint32)
        for j, (_, f) in enumerate(multi):
            table[j, :len(f) - 1] = f[1:]
        out = np.insert(out, np.repeat(at + 1, extra), table[which][np.arange(table.shape[1]) < extra[:, None]])
    return out.tobytes().decode("utf-32-le", "surrogatepass") if _normal(out) else unicodedata.normalize("NFKC", text)


def _normal(points: np.ndarray) -> bool:
    """`unicodedata.is_normalized("NFKC", ...)` of a text's code points, checking only the stretches holding a
    character other than ASCII and CJK ideographs: those are normal and never combine with a neighbour (Python's
    check normalises the whole text once a character might combine)."""
    inert = (points < 0x80) | ((points >= 0x4E00) & (points <= 0x9FFF)) | ((points >= 0x3400) & (points <= 0x4DBF))
    other = ~inert
    if not other.any():
        return True
    stretches = other | np.r_[other[1:], False]  # each run of other characters with the inert one before it
    return unicodedata.is_normalized("NFKC", points[stretches].tobytes().decode("utf-32-le", "surrogatepass"))
