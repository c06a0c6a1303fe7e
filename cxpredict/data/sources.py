"""The customers to score, batch by batch: a wide population table streamed from disk, or the joined tables.

Why this shape:
- With `data.population` (a CSV, a Parquet file or a folder of Parquet parts holding the key and the feature
  columns, e.g. exported nightly by the warehouse) customers are streamed in record batches of
  `scoring.batch_size` through pyarrow, so memory is bounded by the batch, not the population. CSV columns are
  read with the training manifest's types (numbers as float64, categories and the key as text), so a later block
  of the file cannot change a column's type half-way.
- Without it, the configured tables are read and joined as for training (`load_customers`) and sliced: joins
  and event windows need every row at once, so memory grows with the population. Export a population table for
  the nightly run of a large customer base.
- Both check the schema before the first batch (a missing feature column is an InputError, exit code 2, before
  any output exists) and list the extra columns, which are ignored. Respondents' own answers come from the
  survey table (small, loaded once) and are aligned to each batch by customer ID.
- A population table's customer IDs must be unique: 8 bytes of hash per row are kept, and a repeat fails the
  run at the end of the stream (the outputs are staged, so nothing is published).
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pacompute
import pyarrow.parquet as pq

from cxpredict.config import Config
from cxpredict.data.customers import KEY, load_customers, load_survey
from cxpredict.data.features import FeatureManifest
from cxpredict.data.ids import clean_ids
from cxpredict.data.text import CustomerFeatures
from cxpredict.data.tables import (
    check_source,
    fingerprint_file,
    iter_table_batches,
    parquet_parts,
    require_columns,
    rows_text,
    table_columns,
    table_kind,
)
from cxpredict.errors import InputError

log = logging.getLogger(__name__)


@dataclass
class Batch:
    frame: pd.DataFrame  # index customer_id (str), at least the manifest's feature columns
    observed: pd.Series  # survey score aligned to frame.index, NaN for silent customers
    start: int  # 0-based position of the batch's first row in the source
    stated: pd.Series | None = None  # respondents' own ';'-separated reason codes, aligned; None: not configured


@dataclass
class ScoringSource:
    """What `scoring.score` streams, plus what its manifest says about the inputs."""

    description: str
    batches: Callable[[], Iterator[Batch]]
    total_rows: int | None  # None when unknown before reading (a CSV population)
    fingerprints: dict[str, str]
    extra_columns: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    survey_answers: int = 0
    # where a feature column of a batch comes from, for errors that follow `description` (the joined tables:
    # its table and file; a population table: the file says it all)
    origin: Callable[[str], str] = lambda _column: ""


class _SurveyLookup:
    """Survey scores (and stated reasons) aligned to a batch of IDs through pyarrow (pandas 3 reindex on text is
    ~6x slower): each batch's IDs looked up once, the reasons taken as Arrow text (no Python string per row)."""

    def __init__(self, survey: pd.DataFrame):
        self.ids = pa.array(survey.index.astype("str"))
        self.values = np.append(survey["score"].to_numpy(dtype="float64"), np.nan)  # position -1 -> trailing NaN
        self.reasons = None
        if "reasons" in survey:
            reasons = pa.array(pd.array(survey["reasons"], dtype="str"))
            self.reasons = pa.concat_arrays([reasons, pa.nulls(1, reasons.type)])  # the trailing null, as above

    def align(self, index: pd.Index) -> tuple[pd.Series, pd.Series | None]:
        """(the survey score of each ID, NaN for silent customers; their stated reasons, None if not configured)."""
        at = pacompute.index_in(pa.array(pd.array(index, dtype="str")), value_set=self.ids).fill_null(
            len(self.values) - 1).to_numpy(zero_copy_only=False)
        observed = pd.Series(self.values[at], index=index, dtype="float64")
        if self.reasons is None:
            return observed, None
        return observed, pd.Series(pd.array(self.reasons.take(at), dtype="str"), index=index)


class _UniqueKeys:
    """Collects a 64-bit hash per ID while streaming; `repeated()` gives the 0-based rows of repeated IDs."""

    def __init__(self) -> None:
        self.parts: list[np.ndarray] = []

    def add(self, ids: pd.Series) -> None:
        # categorize=False: the same hashes without factorising first, which only pays when values repeat
        self.parts.append(pd.util.hash_pandas_object(ids, index=False, categorize=False).to_numpy())

    def repeated(self) -> np.ndarray:
        if not self.parts:
            return np.array([], dtype=np.int64)
        hashes = np.concatenate(self.parts)
        ordered = np.sort(hashes)  # the usual case, no repeat: a plain sort, several times a stable argsort's speed
        if not (ordered[1:] == ordered[:-1]).any():
            return np.array([], dtype=np.int64)
        order = np.argsort(hashes, kind="stable")
        ordered = hashes[order]
        same = ordered[1:] == ordered[:-1]
        return np.sort(np.unique(np.concatenate([order[1:][same], order[:-1][same]])))


def _column_types(path: Path, manifest: FeatureManifest, key: str) -> dict[str, str]:
    """Arrow types that make a streamed CSV read like the training data (Parquet carries its own types)."""
    if table_kind(path) != "csv":
        return {key: "string"}
    types = {name: ("string" if name in manifest.categorical else "float64") for name in manifest.names}
    return {key: "string", **types}


def _parquet_rows(path: Path) -> int | None:
    """Row count from Parquet footers (no data read); None for CSV."""
    kind = table_kind(path)
    if kind == "csv":
        return None
    parts = parquet_parts(path) if kind == "folder" else [path]
    return sum(pq.ParquetFile(part).metadata.num_rows for part in parts)


def population_source(cfg: Config, manifest: FeatureManifest, added: CustomerFeatures | None = None) -> ScoringSource:
    """Stream `data.population` (key + feature columns) in batches; the survey gives respondents' answers;
    `added` columns (text features) are joined to each batch by customer ID."""
    path = cfg.data_path(cfg.data.population)
    key, read = cfg.data.key, cfg.data.read
    what = "the population table, data.population"
    check_source(path, what)
    header = table_columns(path, read)
    require_columns(path, header, [key], "the customer key, data.key")
    added_columns = added.columns if added is not None else []
    extra = [c for c in manifest.check_columns([*header, *added_columns], source=f"{path} (data.population)",
                                               origin=lambda column: feature_origin(cfg, manifest, column))
             if c != key and c not in added_columns]
    survey, survey_report = load_survey(cfg)
    lookup = _SurveyLookup(survey)
    warnings = list(survey_report.warnings)

    def late(message: str) -> None:  # found while streaming: logged now, and listed in the manifest's warnings
        log.warning(message)
        warnings.append(message)

    read_columns = [key, *(n for n in manifest.names if n not in added_columns)]
    types = {k: v for k, v in _column_types(path, manifest, key).items() if k not in added_columns}
    stream = iter_table_batches(path, read, cfg.scoring.batch_size, columns=read_columns, column_types=types, warn=late)

    def batches() -> Iterator[Batch]:
        start = 0
        keys = _UniqueKeys()
        for frame in stream:
            ids = clean_ids(frame.pop(key), path, key, what, late, start=start)
            keys.add(ids)
            frame.index = pd.Index(ids, name=KEY)
            if added is not None:
                frame = pd.concat([frame, added.align(frame.index)], axis=1)
            observed, stated = lookup.align(frame.index)
            yield Batch(frame=frame, observed=observed, start=start, stated=stated)
            start += len(frame)
        repeated = keys.repeated()
        if len(repeated):
            raise InputError(f"{path}: column {key!r} (the customer ID, data.key) must identify one row per "
                             f"customer, but IDs repeat at {rows_text(path, repeated)}. Keep one row per customer.")

    return ScoringSource(
        description=f"population table {path}",
        batches=batches,
        total_rows=_parquet_rows(path),
        fingerprints={"population": fingerprint_file(path), **{
            name: t["fingerprint"] for name, t in survey_report.tables.items()}},
        extra_columns=extra,
        warnings=warnings,
        survey_answers=survey_report.n_respondents,
    )


def feature_origin(cfg: Config, manifest: FeatureManifest, column: str) -> str:
    """' (from customer table 'usage', /data/usage.csv)': the table a feature was read from at training,
    with its path in this config ('' for bundles that did not record it)."""
    table = manifest.origin.get(column)
    if table is None:
        return ""
    tables = {t.name: t for t in cfg.data.behaviour}
    if table not in tables:
        return f" (at training a column of behaviour table {table!r}, which this config lacks)"
    return f" (from {tables[table].kind} table {table!r}, {cfg.data_path(tables[table].path)})"


def joined_source(cfg: Config, manifest: FeatureManifest, added: CustomerFeatures | None = None) -> ScoringSource:
    """Read and join the configured tables as for training (plus the `added` columns), then slice them into
    batches."""
    data = load_customers(cfg)
    if added is not None:
        data.frame = pd.concat([data.frame, added.align(data.frame.index)], axis=1)
    def origin(column: str) -> str:
        return feature_origin(cfg, manifest, column)

    extra = manifest.check_columns(data.frame.columns, source="the behaviour tables (data.behaviour)", origin=origin)
    size = cfg.scoring.batch_size

    def batches() -> Iterator[Batch]:
        for start in range(0, len(data.frame), size):
            frame = data.frame.iloc[start:start + size]
            yield Batch(frame=frame, observed=data.score.iloc[start:start + size], start=start,
                        stated=None if data.reasons is None else data.reasons.iloc[start:start + size])

    return ScoringSource(
        description="the joined behaviour tables (data.behaviour)",
        batches=batches,
        total_rows=len(data.frame),
        fingerprints={name: t["fingerprint"] for name, t in data.report.tables.items()},
        extra_columns=extra,
        warnings=list(data.report.warnings),
        survey_answers=data.report.n_respondents + data.report.orphan_respondents,
        origin=origin,
    )


class _Failed:
    def __init__(self, error: BaseException):
        self.error = error


_END = object()


def read_ahead(batches: Iterator[Batch], depth: int = 1) -> Iterator[Batch]:
    """Yield `batches` while a background thread already reads the next `depth` of them.

    Arrow decoding and LightGBM prediction release the GIL, so reading batch k+1 overlaps with scoring batch k
    on the second core; memory holds at most depth + 2 batches. An error while reading is raised here, in the
    consumer's thread; when the consumer stops early (an error, SIGTERM) the reader stops too.
    """
    slots: queue.Queue = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def put(item) -> bool:
        while not stop.is_set():
            try:
                slots.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def read() -> None:
        try:
            for batch in batches:
                if not put(batch):
                    return
            put(_END)
        except BaseException as e:  # noqa: BLE001 - handed over to the consumer, which re-raises it
            put(_Failed(e))

    reader = threading.Thread(target=read, name="cxpredict-read-ahead", daemon=True)
    reader.start()
    try:
        while True:
            item = slots.get()
            if item is _END:
                return
            if isinstance(item, _Failed):
                raise item.error
            yield item
    finally:
        stop.set()
        reader.join(timeout=10)


def open_source(cfg: Config, manifest: FeatureManifest, added: CustomerFeatures | None = None) -> ScoringSource:
    """The population table when `data.population` is set, else the joined tables; `added`: per-customer columns
    computed elsewhere (text features). Schema problems raise here."""
    source = population_source if cfg.data.population else joined_source
    return source(cfg, manifest, added)
