"""The relational plan of an event table's features: the windows ending at `as_of` and the aggregations of
`data/events.py`, written once as SQLGlot expressions that any SQL engine runs (DuckDB here; the same plan
transpiles to Spark SQL or PostgreSQL with `dialect=`).

Why SQLGlot and not Ibis: Ibis is the portable layer the warehouse issue suggests, and it installs beside pandas 3,
but its newest release (12.0) fails at run time on DuckDB 2.0 (it calls `fetch_arrow_table`, which DuckDB 2.0
removed), so using it would pin the engine to DuckDB 1.x and tie every DuckDB upgrade to Ibis's release cycle.
SQLGlot is the layer Ibis itself compiles through: pure Python, no coupling to a client library's API, and it
writes the same expression tree in each engine's dialect. The plan is two statements: one scan of the events
grouped by customer, then a join on the population that puts the features in its order.

Semantics are the pandas path's (aggregate_events), the reference of the parity tests: events after `as_of` are
ignored, a window is (as_of - window_days, as_of], count/sum/nunique are 0 for customers without events and
mean/max/min missing; float sums and means are compensated (Kahan) like pandas' groupby, so the engines agree to
within rounding.
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Context, Decimal

import pandas as pd
import sqlglot.expressions as exp

from cxpredict.config import Aggregation

# cleaned event source columns: the customer ID as trimmed text, the timestamp as naive UTC, value columns v0.. .
ID, TS, POS = "k", "ts", "pos"
ROWS, FUTURE = "_rows", "_future"  # per customer: all events, events after as_of (for the warnings)
FILLED = ("count", "sum", "nunique")  # no events: 0; the other aggregations: missing
KAHAN_SUM = {"duckdb": "fsum"}  # a dialect's compensated float sum; elsewhere plain SUM


EXACT = Context(prec=100)  # decimal arithmetic wide enough for 2^-90's 90 digits


def _exact_numeric(x: exp.Expression) -> exp.Expression:
    """A double as the exact NUMERIC it holds, so PostgreSQL's SUM over it is exact and its cast back to DOUBLE
    correctly rounded, like DuckDB's compensated fsum (CAST(x AS NUMERIC) keeps only 15 digits): the integer part
    and three 30-bit slices of the fraction, each an exact BIGINT scaled by an exact decimal power of two. Exact
    for |x| < 1e15 (larger numbers are missing already, numbers.py) down to 2^-90."""
    parts, rest = [], x
    for k in range(4):
        whole = exp.func("TRUNC", rest, dialect="postgres")
        scale = exp.Literal.number(format(Decimal(5 ** (30 * k)).scaleb(-30 * k, EXACT), "f"))  # 2^-30k
        parts.append(exp.Mul(this=exp.cast(exp.cast(whole, "BIGINT"), "NUMERIC"), expression=scale))
        rest = exp.Mul(this=exp.Paren(this=exp.Sub(this=rest, expression=whole)), expression=exp.Literal.number(2 ** 30))
    total = parts[0]
    for part in parts[1:]:
        total = exp.Add(this=total, expression=part)
    return exp.Paren(this=total)


EXACT_SUM = {"postgres": _exact_numeric}  # a dialect whose SUM of floats is plain: sum their exact values instead


def value_name(i: int) -> str:
    return f"v{i}"


def feature_name(i: int) -> str:
    return f"f{i}"


def _timestamp(value: pd.Timestamp) -> exp.Expression:
    return exp.cast(exp.Literal.string(value.isoformat(sep=" ", timespec="microseconds")), "TIMESTAMP")


def _col(name: str) -> exp.Column:
    return exp.column(name, quoted=True)


def _table(name: str, alias: str) -> exp.Table:
    return exp.Table(this=exp.to_identifier(name, quoted=True), alias=exp.TableAlias(this=exp.to_identifier(alias)))


def _filtered(agg: exp.Expression, condition: exp.Expression) -> exp.Expression:
    return exp.Filter(this=agg, expression=exp.Where(this=condition))


def _aggregate(agg: Aggregation, value: str | None, is_float: bool, condition: exp.Expression,
               dialect: str) -> exp.Expression:
    """One aggregation over the rows matching `condition`, as DOUBLE."""
    if agg.agg == "count":
        inner = exp.Count(this=exp.Star() if value is None else _col(value))
    elif agg.agg == "nunique":
        inner = exp.Count(this=exp.Distinct(expressions=[_col(value)]))
    elif agg.agg in ("max", "min"):
        inner = (exp.Max if agg.agg == "max" else exp.Min)(this=_col(value))
    else:  # sum, mean
        name = KAHAN_SUM.get(dialect, "SUM") if is_float else "SUM"
        summed = EXACT_SUM[dialect](_col(value)) if is_float and dialect in EXACT_SUM else _col(value)
        total = exp.cast(_filtered(exp.func(name, summed, dialect=dialect), condition), "DOUBLE")
        if agg.agg == "sum":
            return total
        return exp.Div(this=total, expression=_filtered(exp.Count(this=_col(value)), condition))
    return exp.cast(_filtered(inner, condition), "DOUBLE")


def per_customer_sql(aggregations: Sequence[Aggregation], values: Sequence[str | None], floats: Sequence[bool],
                     as_of: pd.Timestamp, source: str, dialect: str = "duckdb", extra: Sequence[str] = ()) -> str:
    """One scan of the cleaned events (`source`: k, ts, v0..) grouped by customer: the event count, the count after
    `as_of`, and feature f<i> for aggregations[i] over its window (values[i]: its value column or None); `extra`:
    more aggregate columns in the dialect's SQL (e.g. the checks' counts computed in the same scan). Rows without a
    timestamp count nowhere (a source that keeps them for its checks)."""
    end = _timestamp(as_of)
    kept = exp.LTE(this=_col(TS), expression=end)
    columns: list[exp.Expression] = [
        _col(ID),
        exp.alias_(exp.Count(this=_col(TS)), ROWS, quoted=True),
        exp.alias_(_filtered(exp.Count(this=exp.Star()), exp.GT(this=_col(TS), expression=end)), FUTURE, quoted=True),
    ]
    for i, (agg, value, is_float) in enumerate(zip(aggregations, values, floats)):
        condition = kept
        if agg.window_days is not None:
            start = _timestamp(as_of - pd.Timedelta(days=agg.window_days))
            condition = exp.and_(kept, exp.GT(this=_col(TS), expression=start))
        columns.append(exp.alias_(_aggregate(agg, value, is_float, condition, dialect), feature_name(i), quoted=True))
    query = exp.select(*columns, *extra, dialect=dialect).from_(exp.to_identifier(source, quoted=True)).group_by(_col(ID))
    return query.sql(dialect=dialect)


def features_sql(aggregations: Sequence[Aggregation], per_customer: str, population: str,
                 dialect: str = "duckdb") -> str:
    """The feature table in the population's order (`population`: k, pos): one row per customer, 0 where a
    count/sum/nunique customer has no events."""
    columns = []
    for i, agg in enumerate(aggregations):
        value = exp.column(feature_name(i), table="e", quoted=True)
        if agg.agg in FILLED:
            value = exp.func("COALESCE", value, exp.Literal.number(0), dialect=dialect)
        columns.append(exp.alias_(exp.cast(value, "DOUBLE"), feature_name(i), quoted=True))
    query = (exp.select(*columns)
             .from_(_table(population, "p"))
             .join(_table(per_customer, "e"),
                   on=exp.EQ(this=exp.column(ID, table="p", quoted=True), expression=exp.column(ID, table="e",
                                                                                              quoted=True)),
                   join_type="left")
             .order_by(exp.column(POS, table="p", quoted=True)))
    return query.sql(dialect=dialect)


def absent_sql(per_customer: str, population: str, dialect: str = "duckdb") -> str:
    """Customers with events but absent from the population, with their event counts (for the warning)."""
    query = (exp.select(exp.column(ID, table="e", quoted=True), exp.column(ROWS, table="e", quoted=True))
             .from_(_table(per_customer, "e"))
             .where(exp.Not(this=exp.Exists(this=exp.select("1")
                    .from_(_table(population, "p"))
                    .where(exp.EQ(this=exp.column(ID, table="p", quoted=True),
                                  expression=exp.column(ID, table="e", quoted=True)))))))
    return query.sql(dialect=dialect)
