"""The io layer's settings: the files people read (`outputs`, their CSV dialect) and MLflow (`tracking`).
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from cxpredict.config.base import Strict


class TrackingConfig(Strict):
    enabled: bool = True
    uri: str | None = None  # default: MLFLOW_TRACKING_URI, else sqlite under the project
    experiment: str = "cxpredict"
    registered_model: str = "cxpredict-nps"


class CsvOptions(Strict):
    """CSV dialect of the people files. Excel and LibreOffice in a European locale (German, French, ...) read
    '1.5' as text; there write `delimiter: ";"` and `decimal: ","`."""

    delimiter: str = ","
    decimal: Literal[".", ","] = "."

    @model_validator(mode="after")
    def _distinct(self) -> CsvOptions:
        if len(self.delimiter) != 1 or self.delimiter in ('"', "\n", "\r"):
            raise ValueError(f"outputs.csv.delimiter must be one character such as ',' ';' or a tab, got "
                             f"{self.delimiter!r}")
        if self.delimiter == self.decimal:
            raise ValueError("outputs.csv.delimiter and outputs.csv.decimal must differ; with decimal ',' use "
                             "delimiter ';'")
        return self


class OutputsConfig(Strict):
    """The files and the report people read: format, CSV dialect, currency, business labels."""

    format: Literal["csv", "xlsx", "parquet"] | None = None  # None: from the extension of `score --out`
    csv: CsvOptions = Field(default_factory=CsvOptions)
    currency: str | None = None  # shown with money, e.g. EUR, USD, "€" (None: plain numbers)
    # feature, driver group, reason code or column -> the words people know ("tickets_count_30d": "Support
    # tickets, last 30 days"); anything not listed is prettified (tickets_count_30d -> "Tickets count 30d")
    labels: dict[str, str] = Field(default_factory=dict)
    files_per_team: bool = False  # also work_orders/<owner_team>.<format>, one file per team
