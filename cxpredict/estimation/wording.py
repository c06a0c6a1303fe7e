"""The plain words a population NPS result carries (saved in population.json, shown by the report as they are):
its assumption, what cannot be corrected, what each headline method is, and warnings read from its numbers."""

from __future__ import annotations

ASSUMPTION = (
    "Response is assumed to depend only on observed behaviour (missing at random given the features): among "
    "customers who look alike in the data, respondents are assumed to feel like silent customers."
)
NOT_CORRECTABLE = (
    "If the answer itself drives who responds (e.g. unhappy customers answer more often than their behaviour "
    "predicts), this bias cannot be detected or corrected from behaviour alone; the sensitivity curve shows how "
    "far such a bias would move the estimate."
)
METHODS = {
    "aipw": "doubly robust (AIPW): observed answers + cross-fitted predictions for the silent + the "
            "propensity-weighted mean of respondents' residuals; influence-function interval",
    "hajek": "propensity-weighted respondent NPS (Hajek): observed answers + the silent customers' NPS estimated "
             "by respondents weighted with (1 - e) / e; used as the headline when the model finds no signal",
}
UNEVEN_WEIGHTS_SHARE = 0.2  # effective sample size below this share of the respondents: say the interval is wide


def result_notes(no_signal: bool, effective_sample_size: float, n_respondents: int) -> list[str]:
    """The assumption, what it cannot correct, and the warnings that change what the numbers mean."""
    notes = [ASSUMPTION, NOT_CORRECTABLE]
    if no_signal:
        notes.append("No signal: the NPS model ranks detractors no better than chance on held-out respondents, so "
                     "the headline is the propensity-weighted (Hajek) estimate and per-customer classes are "
                     "unreliable.")
    if effective_sample_size < UNEVEN_WEIGHTS_SHARE * n_respondents:
        notes.append(f"The weights are uneven: the {n_respondents} respondents count like "
                     f"{effective_sample_size:.0f} equally weighted ones (effective sample size), so the interval "
                     "is wide.")
    return notes
