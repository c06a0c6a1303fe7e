"""Stated reasons and free-text comments of synthetic respondents (cxpredict.data.synthetic).

Reasons follow the customer's most negative driver groups (often the second too), plus noise; promoters mostly
give none; about a third of respondents leave a comment matching their lead reason.
"""

from __future__ import annotations

import numpy as np

# stated reason code -> driver theme ("coverage" is how customers often say network)
REASON_THEMES: dict[str, str] = {"network": "network", "coverage": "network", "billing": "billing",
                                 "support": "support", "delivery": "delivery", "price": "price", "usage": "usage",
                                 "other": "other"}
REASON_CODES = list(REASON_THEMES)
COMMENTS: dict[str, list[str]] = {  # by lead reason; "" = no reason given (mostly happy customers)
    "network": ["Calls keep dropping at home", "Signal is terrible, again", "No coverage in my street"],
    "coverage": ["No signal indoors", "Coverage map is a lie"],
    "billing": ["Bill went up 30%, no warning", "Charged twice this month", "Billing errors every quarter"],
    "support": ["Waited 3 days for an answer", 'Support "will call back" - never did', "Ticket still open"],
    "delivery": ["Router arrived a week late", "Engineer missed the appointment", "Delivery was late, twice"],
    "price": ["Too expensive for what I get", "Cheaper offers elsewhere (≈20 € less)"],
    "usage": ["I barely use it anymore", "Don't need this much data now"],
    "other": ["Just average", "Nothing special", "Meh."],
    "": ["Great service, thanks!", "Works fine", "Très bien, merci", "Friendly staff in the store"],
}


def reason_keys(rng: np.random.Generator, centred: np.ndarray, cls: np.ndarray,
                group_themes: list[str | None]) -> tuple[np.ndarray, np.ndarray]:
    """Per respondent: a key into `reason_labels()` (-1: no reason) and the lead code index for the comment.

    centred: the respondents' centred driver-group contributions (columns in the order of `group_themes`).
    """
    m, code = len(cls), {c: i for i, c in enumerate(REASON_CODES)}
    group_code = np.array([code[theme or "other"] for theme in group_themes])
    ranked = np.argsort(centred, axis=1)[:, :2]
    second_value = np.take_along_axis(centred, ranked[:, 1:], axis=1)[:, 0]
    first = np.where(rng.random(m) < np.array([0.9, 0.55, 0.04])[cls], group_code[ranked[:, 0]], -1)
    second = np.where((cls < 2) & (second_value < -0.8) & (rng.random(m) < 0.6), group_code[ranked[:, 1]], -1)
    noise = np.where(rng.random(m) < 0.08, rng.integers(0, len(REASON_CODES), m), -1)
    codes = np.stack([first, second, noise], axis=1)
    codes[(codes == code["network"]) & (rng.random(codes.shape) < 0.3)] = code["coverage"]
    codes[codes[:, 1] == codes[:, 0], 1] = -1
    codes[(codes[:, 2] == codes[:, 0]) | (codes[:, 2] == codes[:, 1]), 2] = -1
    lead = np.max(np.where(codes >= 0, codes + 100 * np.array([3, 2, 1]), -1), axis=1) % 100  # first given code
    lead = np.where(codes.max(axis=1) < 0, np.where(cls == 0, code["other"], -1), lead)
    k = len(REASON_CODES) + 1
    key = ((codes[:, 0] + 1) * k + codes[:, 1] + 1) * k + codes[:, 2] + 1
    return np.where(codes.max(axis=1) >= 0, key, -1), lead


def reason_labels() -> list[str]:
    """'a;b;c' for every (first, second, third) combination of code indices, -1 meaning absent."""
    k = len(REASON_CODES) + 1
    combos = np.array(np.meshgrid(*[np.arange(-1, k - 1)] * 3, indexing="ij")).reshape(3, -1).T
    return [";".join(REASON_CODES[i] for i in row if i >= 0) for row in combos.tolist()]


def comment_index(rng: np.random.Generator, lead: np.ndarray) -> np.ndarray:
    """Index into the flattened COMMENTS of a comment matching the lead reason; -1 for the 65% who leave none."""
    sizes = np.array([len(COMMENTS[k]) for k in [*REASON_CODES, ""]])  # lead -1 -> the "" list
    starts = np.concatenate([[0], np.cumsum(sizes)[:-1]])
    pick = starts[lead] + rng.integers(0, 1 << 30, len(lead)) % sizes[lead]
    return np.where(rng.random(len(lead)) < 0.35, pick, -1)


def comment_texts() -> list[str]:
    """The flattened COMMENTS, in the order `comment_index` indexes them."""
    return [t for k in [*REASON_CODES, ""] for t in COMMENTS[k]]
