"""The campaign section's tables read as a CX lead reads them: named headers, money in the currency, returns as
percentages, benefits in the outcome's unit (the learn files' raw column names and numbers are for machines)."""

from __future__ import annotations

import re

import pandas as pd
import pytest

from cxpredict.analyst.campaign import campaign_table, return_text
from cxpredict.analyst.sections import _sensitivity
from cxpredict.io.sheets import PeopleStyle

EUR = PeopleStyle(currency="EUR")


def _headers(html: str) -> list[str]:
    return re.findall(r"<th>(.*?)</th>", html)


def _cells(html: str) -> list[str]:
    return re.findall(r"<td[^>]*>(.*?)</td>", html)


def test_auuc_table_has_readable_headers():
    areas = pd.DataFrame({"strategy": ["retention"], "customers": [830], "auuc": [0.0176], "random": [0.0168],
                          "excess": [0.0008], "low": [-0.0144], "high": [0.0160], "se": [0.0092]})
    headers = _headers(campaign_table(areas, EUR, 5))
    assert headers == ["Strategy", "Customers", "Area under the uplift curve", "Area in random order",
                       "Excess over random", "Excess, low", "Excess, high", "Standard error"]


def test_money_columns_all_carry_the_currency_and_returns_are_percentages():
    returns = pd.DataFrame({"strategy": ["activation"], "treated": [616], "value_saved": [18692.8],
                            "value_saved_low": [-11601.2], "value_saved_high": [75177.0], "extra_revenue": [312.2],
                            "budget": [30.8], "return_on_budget": [451.91]})
    cells = _cells(campaign_table(returns, EUR, 2))
    assert cells == ["activation", "616", "18,693 EUR", "-11,601 EUR", "75,177 EUR", "312 EUR", "31 EUR", "+45,191%"]
    assert return_text(0.1234) == "+12.3%" and return_text(-0.665) == "-66.5%"


@pytest.mark.parametrize("outcome, total, header, value", [
    ("churned", False, "Benefit (churn rate, percentage points)", "+7.0 pts"),
    ("churned", True, "Benefit (churners prevented)", "+7.0"),
    ("revenue", False, "Benefit (revenue per treated customer)", "0.07 EUR"),
    ("revenue", True, "Benefit (extra revenue)", "0 EUR"),
    ("new_score", False, "Benefit (survey score points)", "+0.07"),
])
def test_benefits_name_their_unit(outcome, total, header, value):
    frame = pd.DataFrame({"strategy": ["retention"], "benefit": [7.0 if total and outcome == "churned" else 0.07]})
    html = campaign_table(frame, EUR, 2, outcome=outcome, total=total)
    assert _headers(html)[1] == header and _cells(html)[1] == value


def test_sensitivity_table_names_gamma_and_shows_nps_points():
    pop = {"sensitivity": {"curve": [{"gamma": 0.5, "estimate": -4.0, "low": -7.0, "high": -1.0},
                                     {"gamma": 2.0, "estimate": -9.5, "low": -12.5, "high": -6.5}]}}
    html = _sensitivity(pop)
    assert _headers(html) == ["Gamma (hidden bias)", "NPS", "Interval, low", "Interval, high"]
    assert "-9.5" in _cells(html) and "gamma" not in _headers(html)
