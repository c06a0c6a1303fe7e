"""What every config section shares: the strict base model (unknown keys are an error, so a typo never silently
does nothing) and the checks of values that reach a library or the file system, so a bad one is exit code 2
naming its key and the allowed values, never a traceback deep inside pyarrow or pathlib: names that become parts
of file names (`PathName`), path strings (`PathText`), dates (`--set data.as_of=2027-06-30` and an unquoted YAML
date are dates, not strings), numbers from the command line, band cut points.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    TypeAdapter,
    ValidationError,
    model_validator,
)

from cxpredict.errors import ConfigError


class Strict(BaseModel):
    """Base for all config sections: unknown keys are an error, and a sub-section given in part keeps its
    section's defaults for the keys it leaves out (`nps.params.n_jobs=1` keeps the NPS model's own LightGBM
    defaults, not the generic LgbmParams ones)."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True)

    @model_validator(mode="before")
    @classmethod
    def _partial_sub_sections_keep_defaults(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            return data
        merged = dict(data)
        for name, field in cls.model_fields.items():
            if isinstance(data.get(name), dict) and field.default_factory is not None:
                default = field.get_default(call_default_factory=True)
                if isinstance(default, BaseModel):
                    merged[name] = {**default.model_dump(exclude_unset=True), **data[name]}
        return merged


MAX_NAME_BYTES = 128


def check_path_name(value: str) -> str:
    """A name that becomes part of a file or folder name (config `name`, table, playbook and rule names): one
    plain path component, so `name: ../../elsewhere` can never move an output out of its folder."""
    if not value.strip():
        raise ValueError("must not be empty")
    if "/" in value or "\\" in value:
        raise ValueError(f"{value!r} becomes part of a file name, so it must not contain '/' or '\\' "
                         "(no paths, no absolute paths); use e.g. letters, digits, '-' and '_'")
    if value.startswith("."):
        raise ValueError(f"{value!r} becomes part of a file name, so it must not start with '.' (no '..', no "
                         "hidden names)")
    if any(ord(c) < 32 or ord(c) == 127 for c in value):
        raise ValueError(f"{value!r} holds control characters; use printable text")
    if len(value.encode("utf-8")) > MAX_NAME_BYTES:
        raise ValueError(f"is {len(value.encode('utf-8'))} bytes long; at most {MAX_NAME_BYTES} fit in a file name")
    return value


def check_path_text(value: str) -> str:
    """A path string from the config: not empty, no NUL byte (which the operating system cannot take)."""
    if not value.strip():
        raise ValueError("must not be empty; give a file or folder path")
    if "\0" in value:
        raise ValueError(f"{value!r} holds a NUL byte, which no file path can contain")
    return value


def _iso_date(value: Any) -> Any:
    """Dates as YAML and `--set` parse them (2027-06-30 unquoted is a date) or ISO text, kept as ISO text."""
    if isinstance(value, (dt.date, dt.datetime)):
        return value.isoformat()
    if isinstance(value, str):
        try:
            dt.datetime.fromisoformat(value.strip())
        except ValueError:
            raise ValueError(f"{value!r} is not an ISO date; use e.g. 2027-06-30 or 2027-06-30T23:00:00") from None
        return value.strip()
    raise ValueError(f"{value!r} is not a date; use e.g. 2027-06-30 or 2027-06-30T23:00:00")


def check_number(option: str, value: float | int | None, example: str, **limits: float) -> float | int | None:
    """A number handed over on the command line or in the Python API, through the same pydantic checks as the
    config's numbers (`limits`: gt, ge, lt, le), and finite: exit 2 naming the option, the value and an example
    (`--budget nan` must not slip past a `budget > 0` test, which NaN fails silently). None stays None."""
    if value is None:
        return None
    kind = int if isinstance(value, int) and not isinstance(value, bool) else float
    try:
        return TypeAdapter(Annotated[kind, Field(allow_inf_nan=False, **limits)]).validate_python(value)
    except ValidationError as e:
        msg = e.errors()[0]["msg"].replace("Input should be", "must be")
        raise ConfigError(f"{option} {value}: {msg}; e.g. {option} {example}") from None


PathName = Annotated[str, AfterValidator(check_path_name)]
PathText = Annotated[str, AfterValidator(check_path_text)]
IsoDate = Annotated[str, BeforeValidator(_iso_date)]
COMMON_ENCODINGS = "utf-8, utf-8-sig, utf-16, utf-16-le, utf-16-be, utf-32, latin-1, cp1252, iso-8859-15"


def check_unique(what: str, names: list) -> None:
    """Names that must be unique (tables, rules, topics): the repeated ones named, in order."""
    repeated = sorted({str(n) for n in names if names.count(n) > 1})
    if repeated:
        raise ValueError(f"{what} must be unique, repeated: {repeated}")

def check_bands(name: str, cuts: list[float], labels: list[str] | None, unit_interval: bool) -> None:
    """Cut points strictly increasing (inside (0, 1) for probabilities/quantiles); labels one more than cuts."""
    if any(b <= a for a, b in zip(cuts, cuts[1:])):
        raise ValueError(f"{name} must be strictly increasing, got {cuts}")
    if unit_interval and any(not 0 < c < 1 for c in cuts):
        raise ValueError(f"{name} must lie strictly between 0 and 1, got {cuts}")
    if labels is not None and len(labels) != len(cuts) + 1:
        raise ValueError(f"{name}: need {len(cuts) + 1} labels for {len(cuts)} cut points, got {labels}")
    if labels is None and len(cuts) > 4:
        raise ValueError(f"{name}: more than 4 cut points need explicit labels ({name.split('.')[0]}..._labels)")
