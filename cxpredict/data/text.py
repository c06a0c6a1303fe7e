"""Free-text columns: read them safely, normalise, tell English from Chinese, tokenise, and aggregate per customer.

Why this shape:
- Text is messy by nature, so bad text is counted, not fatal: undecodable bytes become U+FFFD (counted), empty
  texts are skipped (counted), texts longer than `text.max_chars` are cut (counted). Only a column that cannot
  be text (mostly numbers: the config points at the wrong column) or a config naming an unknown table is an
  error, with the fix in the message.
- Language is per text. `auto` counts CJK characters against Latin letters (one Chinese character carries about
  as much as three Latin letters), so a mostly Chinese note with an English product name is Chinese.
- Chinese is segmented by rjieba (the jieba dictionary compiled into the package: nothing is read from or
  written to disk, nothing is downloaded). English is split on letters; English stop words are dropped except
  negations ("not working" matters).
- Windowed features mirror the event aggregations of customers.py: windows end at `data.as_of` and later texts
  are ignored (no leakage from the future), and a text only ever counts for its own customer.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from sklearn.feature_extraction.text import ENGLISH_STOP_WORDS

from cxpredict.config import Config, TextColumn
from cxpredict.data.database_source import database_tables
from cxpredict.data.tables import read_table, table_kind
from cxpredict.data.unicode import nfkc
from cxpredict.errors import ConfigError, CxError, InputError, did_you_mean

SURVEY = "survey"
LANGUAGES = ("en", "zh")
# the text driver groups (workflows/default_drivers.py text_drivers), per topic and one for the tone; named here so
# that config checks (data/config_checks.py) know a drivers.actionable entry naming one before any topic is learned
MENTIONS = "Mentions of"  # a topic's share of the texts
COMPLAINTS = "Complaints about"  # texts on a topic with P(detractor) >= text.complaint_min
TONE = "Tone of customer texts"
NUMERIC_SHARE = 0.8  # a declared text column where more values than this are plain numbers is the wrong column
# a column declared one language whose texts mostly read as the other: its tokenizer finds no words in them
FOREIGN_SHARE = 0.5
CJK_WEIGHT = 3  # auto: a text is Chinese when 3 x its CJK characters >= its Latin letters

_CJK_RANGES = ((0x3400, 0x4DBF), (0x4E00, 0x9FFF), (0xF900, 0xFAFF))  # code points of Chinese characters
_CJK = "".join(f"{chr(low)}-{chr(high)}" for low, high in _CJK_RANGES)
_CJK_CHAR = re.compile(f"[{_CJK}]")
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u200b-\u200f\ufeff]")
_CONTROL_BUT_NUL = re.compile(r"[\x01-\x08\x0b-\x1f\x7f-\x9f\u200b-\u200f\ufeff]")
_SPACE = re.compile(r"\s+")
_EN_WORD = re.compile(r"[a-z][a-z']*[a-z]|[a-z]")
_NUMBER = re.compile(r"^[+-]?(\d+([.,]\d*)?|[.,]\d+)([eE][+-]?\d+)?%?$")
NEGATIONS = {"no", "not", "never", "nothing", "nobody", "none", "nor", "cannot", "without"}
# words of scikit-learn's stop list that carry the topic of a customer's complaint ("bill", "call", "amount")
CONTENT_WORDS = {"amount", "bill", "call", "computer", "detail", "empty", "fill", "fire", "found", "full", "interest",
                 "move", "name", "part", "serious", "system"}
EN_STOP = frozenset(ENGLISH_STOP_WORDS - NEGATIONS - CONTENT_WORDS) | {
    "s", "t", "don", "didn", "doesn", "isn", "wasn", "ve", "ll", "re", "m", "d", "im", "ive", "its"}
# function words of written Chinese that carry no topic; negations (不, 没, 没有) are kept on purpose
ZH_STOP = frozenset("的 了 是 我 你 他 她 它 我们 你们 他们 在 也 都 就 和 与 及 还 又 吧 啊 呢 吗 嘛 哦 呀 这 那 这个 那个 "
                    "一个 有 很 被 把 给 让 会 能 要 对 从 到 于 而 且 或 并 等 着 过 得 地 之 其 所 以 为 因为 所以 "
                    "但是 但 可是 如果 然后 已经 一下 一些 什么 怎么 这样 那样 自己 现在 今天 我的 你们的".split())


# --------------------------------------------------------------------------------------------- normalise
def normalise(text: str, max_chars: int | None = None) -> str:
    """NFKC (full-width Latin and digits to plain ones), no control characters, one space between words,
    lower case; cut to `max_chars`."""
    text = unicodedata.normalize("NFKC", text)
    text = _SPACE.sub(" ", _CONTROL.sub(" ", text)).strip().lower()
    return text[:max_chars] if max_chars is not None else text


def normalise_many(texts: list[str]) -> list[str]:
    """`normalise` of each text, the Unicode and regex work done once per batch (NUL separates the texts: a
    normalised text holds none; a batch with NUL in a text is done text by text). str.split's whitespace is
    the regexes' \\s."""
    joined = "\x00".join(texts)
    if joined.count("\x00") != len(texts) - 1:
        return [normalise(t) for t in texts]
    joined = _CONTROL_BUT_NUL.sub(" ", nfkc(joined).lower())
    return [" ".join(t.split()) for t in joined.split("\x00")]


def detect_language(text: str) -> str:
    """'zh' when CJK characters dominate (see CJK_WEIGHT), else 'en'; for normalised (lower-case) text."""
    return str(detect_languages([text])[0])


def _letter_counts(texts) -> tuple[np.ndarray, np.ndarray]:
    """(CJK characters, Latin letters a-z) of each text, counted with numpy over the batch's code points."""
    joined = BREAK.join(t.replace(BREAK, " ") for t in texts) + BREAK  # closed: every start is inside
    points = np.frombuffer(joined.encode("utf-32-le"), dtype=np.uint32)
    starts = np.r_[0, np.flatnonzero(points == ord(BREAK))[:-1] + 1]
    cjk = np.zeros(len(points), dtype=bool)
    for low, high in _CJK_RANGES:
        cjk |= (points >= low) & (points <= high)
    latin = (points >= ord("a")) & (points <= ord("z"))
    return np.add.reduceat(cjk, starts, dtype=np.int64), np.add.reduceat(latin, starts, dtype=np.int64)


def detect_languages(texts: list[str]) -> np.ndarray:
    """`detect_language` of each text, counted for the whole batch at once."""
    if not texts:
        return np.zeros(0, dtype=object)
    if _CJK_CHAR.search(BREAK.join(texts)) is None:  # the common case: no Chinese character in any text
        return np.full(len(texts), "en", dtype=object)
    n_cjk, n_latin = _letter_counts(texts)
    zh = (n_cjk > 0) & (CJK_WEIGHT * n_cjk >= np.maximum(n_latin, 1))
    return np.where(zh, "zh", "en").astype(object)


def tokenize_en(text: str) -> list[str]:
    return [w for w in _EN_WORD.findall(text.replace("’", "'")) if w not in EN_STOP]


_ZH_EN_STOP = ZH_STOP | EN_STOP


def keep_zh(tokens) -> np.ndarray:
    """Which (stripped) segmenter tokens are words: a Chinese character or a Latin letter, not a stop word."""
    tokens = np.asarray(tokens, dtype=object)
    if not len(tokens):
        return np.zeros(0, dtype=bool)
    n_cjk, n_latin = _letter_counts(tokens)
    stop = np.fromiter(map(_ZH_EN_STOP.__contains__, tokens), dtype=bool, count=len(tokens))
    return ((n_cjk > 0) | (n_latin > 0)) & ~stop


def tokenize_zh(text: str) -> list[str]:
    """Words by rjieba (dictionary + HMM for unknown words); punctuation, numbers and function words dropped."""
    import rjieba  # the segmenter, imported on first Chinese text only

    tokens = [w.strip() for w in rjieba.cut(text)]
    return [t for t, keep in zip(tokens, keep_zh(tokens)) if keep]


TOKENIZERS = {"en": tokenize_en, "zh": tokenize_zh}
BREAK = "\n"  # between texts of a batch; normalised texts hold none (a raw one is replaced by a space)


# --------------------------------------------------------------------------------------------- reading
@dataclass
class TextTable:
    """The texts of one declared column, one row per non-empty text, normalised and labelled with a language."""

    source: str  # "<table>.<column>" as declared in text.columns
    table: str
    column: str
    customer: np.ndarray  # customer ID (str) per text
    timestamp: np.ndarray  # datetime64[ns] per text (NaT: unknown, e.g. a survey without answered_at)
    text: list[str]
    language: np.ndarray  # "en" / "zh" per text
    counts: dict[str, int] = field(default_factory=dict)  # rows, texts, empty, undecodable, cut
    dated: bool = True  # False: a table without timestamps; every text counts, features have no window

    @property
    def is_survey(self) -> bool:
        return self.table == SURVEY

    def subset(self, keep: np.ndarray) -> TextTable:
        keep = np.asarray(keep, dtype=bool)
        return TextTable(self.source, self.table, self.column, self.customer[keep], self.timestamp[keep],
                         [t for t, k in zip(self.text, keep) if k], self.language[keep], dict(self.counts), self.dated)


@dataclass
class TextData:
    tables: list[TextTable]
    warnings: list[str] = field(default_factory=list)

    @property
    def survey(self) -> TextTable | None:
        return next((t for t in self.tables if t.is_survey), None)

    @property
    def events(self) -> list[TextTable]:
        return [t for t in self.tables if not t.is_survey]


def _where(cfg: Config, col: TextColumn) -> tuple[str, str, str | None]:
    """(path, key column, timestamp column or None) of a declared text column; ConfigError when its table is
    neither the survey, a table of data.behaviour, nor a table of its own (`path`)."""
    if col.table == SURVEY:
        sv = cfg.data.survey
        if sv is None:
            raise ConfigError(f"text.columns: {col.table}.{col.column} reads the survey, but the config has no "
                              "data.survey")
        return str(cfg.data_path(sv.path)), sv.key or cfg.data.key, sv.answered_at
    tables = {t.name: t for t in cfg.data.behaviour}
    table = tables.get(col.table)
    if col.path is not None:
        if table is not None:
            raise ConfigError(f"text.columns: table {col.table!r} is also a table of data.behaviour; leave out "
                              "'path' to read its column there, or give the text table another name")
        return str(cfg.data_path(col.path)), col.key or cfg.data.key, col.timestamp
    if table is None or table.kind == "lookup":
        why = "is not a table of data.behaviour" if table is None else "is a lookup table"
        raise ConfigError(f"text.columns: table {col.table!r} {why}; a text column belongs to 'survey', to a "
                          f"customer or events table of data.behaviour ({sorted(tables)}), or to a table of its "
                          f"own: add 'path: <file>' to the entry{did_you_mean(col.table, list(tables))}")
    return str(cfg.data_path(table.path)), table.key or cfg.data.key, table.timestamp


def text_columns_of(cfg: Config, table: str) -> list[str]:
    """The declared text columns of a behaviour table: read as text (even with text.enabled false), never as
    categories of their own."""
    return [c.column for c in cfg.text.columns if c.table == table and c.path is None]


def _decode(values: pd.Series) -> tuple[list[str | None], int]:
    """bytes/str values -> str (None for missing); undecodable bytes become U+FFFD and are counted."""
    out: list[str | None] = []
    bad = 0
    for v in values.tolist():
        if v is None or (isinstance(v, float) and np.isnan(v)):
            out.append(None)
        elif isinstance(v, bytes):
            try:
                out.append(v.decode("utf-8"))
            except UnicodeDecodeError:
                bad += 1
                out.append(v.decode("utf-8", errors="replace"))
        else:
            out.append(str(v))
    return out, bad


def read_text_column(cfg: Config, col: TextColumn) -> tuple[TextTable, list[str]]:
    """One declared text column as a TextTable, plus counted warnings about its bad texts."""
    path, key, ts = _where(cfg, col)
    what = f"text column {col.column!r} of {col.table!r} (text.columns)"
    csv = table_kind(cfg.data_path(path)) == "csv"
    wanted = [key, col.column] + ([ts] if ts else [])
    types = {key: "string", **({col.column: "large_binary"} if csv else {})}  # CSV: decode ourselves, value by value
    frame = read_table(cfg.data_path(path), cfg.data.read, wanted, types, what=what)
    raw = frame[col.column]
    if pd.api.types.is_numeric_dtype(raw) or pd.api.types.is_bool_dtype(raw):
        raise InputError(f"{path}: {what} holds {raw.dtype} values, not text. Point text.columns at the column "
                         "with the free text, or remove the entry.")
    texts, undecodable = _decode(raw)
    present = [t for t in texts if t is not None and t.strip()]
    numeric = sum(bool(_NUMBER.match(t.strip())) for t in present)
    if present and numeric > NUMERIC_SHARE * len(present):
        raise InputError(f"{path}: {what} holds numbers ({numeric} of {len(present)} values, e.g. "
                         f"{present[:3]}), not text. Point text.columns at the column with the free text.")
    limit = cfg.text.max_chars
    normalised = normalise_many([t if t is not None else "" for t in texts])
    cut = sum(len(t) > limit for t in normalised)
    normalised = [t[:limit] for t in normalised]
    missing = np.array([t is None for t in texts], dtype=bool)
    empty = ~missing & np.array([not t for t in normalised], dtype=bool)
    stamps = (pd.to_datetime(frame[ts], errors="coerce", utc=True).dt.tz_localize(None) if ts
              else pd.Series(pd.NaT, index=frame.index, dtype="datetime64[ns]"))
    unstamped = ~missing & ~empty & stamps.isna().to_numpy() & (col.table != SURVEY) & (ts is not None)
    keep = ~missing & ~empty & ~unstamped
    kept = [t for t, k in zip(normalised, keep) if k]
    detected = detect_languages(kept).tolist()
    foreign = [t for t, lang in zip(kept, detected) if col.language not in ("auto", lang)]
    if kept and len(foreign) > FOREIGN_SHARE * len(kept):
        raise InputError(
            f"{path}: {what} is declared language: {col.language}, but {len(foreign)} of its {len(kept)} texts read "
            f"as {'Chinese' if col.language == 'en' else 'English'}, e.g. {[t[:40] for t in foreign[:2]]}; the "
            f"{col.language} tokenizer finds no words in them. Set its language to auto (each text by its "
            "characters) or to the texts' language.")
    languages = detected if col.language == "auto" else [col.language] * len(kept)
    counts = {"rows": len(frame), "texts": len(kept), "missing": int(missing.sum()), "empty": int(empty.sum()),
              "undecodable": undecodable, "cut": int(cut), "no_timestamp": int(unstamped.sum())}
    problems = [(undecodable, "are not valid UTF-8; their bad bytes were replaced by U+FFFD (set data.read.encoding "
                              "if the whole file uses another encoding)"),
                (cut, f"are longer than text.max_chars={limit} characters and were cut"),
                (int(empty.sum()), "are empty or blank and were skipped"),
                (int(unstamped.sum()), f"have no readable {ts!r} timestamp and were skipped")]
    problems.append((len(foreign), f"read as another language than the declared {col.language!r}; the "
                                   f"{col.language} tokenizer reads them (language: auto would not)"))
    warnings = [f"{path}: {n} texts of {what} {why}" for n, why in problems if n]
    if not kept:
        warnings.append(f"{path}: {what} holds no usable text; it contributes nothing")
    table = TextTable(f"{col.table}.{col.column}", col.table, col.column,
                      frame[key].astype("str").to_numpy(dtype=object)[keep],
                      stamps.to_numpy(dtype="datetime64[ns]")[keep], kept, np.asarray(languages, dtype=object), counts,
                      dated=ts is not None)
    return table, warnings


def load_texts(cfg: Config) -> TextData:
    """Every declared text column (text.columns), read and normalised; empty when text is off."""
    data = TextData(tables=[])
    if not cfg.text.active:
        return data
    with _text_tables(cfg) as tables:
        for col in cfg.text.columns:
            table, warnings = read_text_column(tables.cfg, col)
            data.tables.append(table)
            data.warnings.extend(tables.relabel(w) for w in warnings)
    return data


def _text_tables(cfg: Config):
    """With data.source: the tables holding declared text columns, fetched from the database for this read."""
    return database_tables(cfg, only={c.table for c in cfg.text.columns if c.path is None}, fetch_events=True)


def validate_texts(cfg: Config) -> list[CxError]:
    """Every declared text column's problem at once (each read on its own), for `cxpredict validate`."""
    problems: list[CxError] = []
    if not cfg.text.active:
        return problems
    try:
        with _text_tables(cfg) as tables:
            for col in cfg.text.columns:
                try:
                    read_text_column(tables.cfg, col)
                except CxError as e:
                    problems.append(e)
            tables.relabel_report(None, problems)
    except CxError as e:  # the database holding them cannot be read
        problems.append(e)
    return problems


# --------------------------------------------------------------------------------------------- features
def slug(name: str) -> str:
    """'Complaints: Billing!' -> 'complaints_billing'; '' when nothing ASCII is left (the caller falls back)."""
    return re.sub(r"[^a-z0-9]+", "_", unicodedata.normalize("NFKD", str(name)).lower()).strip("_")


def feature_prefix(source: str) -> str:
    table, column = source.split(".", 1)
    return f"{slug(table) or 'table'}_{slug(column) or 'text'}"


def windows_of(table: TextTable, windows: list[int]) -> list[int | None]:
    """The windows of a table's features: text.windows for dated texts, [None] (all texts) for undated ones."""
    return list(windows) if table.dated else [None]


def window_feature_names(source: str, topics: list[str], windows: list[int | None]) -> list[str]:
    """Feature names of one text column, in the order `window_features` returns them; window None: all texts,
    no suffix."""
    p = feature_prefix(source)
    names = []
    for w in windows:
        end = "" if w is None else f"_{w}d"
        names += [f"{p}_texts{end}", f"{p}_dissatisfaction_mean{end}", f"{p}_dissatisfaction_max{end}"]
        names += [f"{p}_topic_{t}_share{end}" for t in topics]
        names += [f"{p}_complaints_{t}{end}" for t in topics]
    return names


def count_feature(name: str) -> bool:
    """Counts are 0 for a customer without texts; means, maxima and shares are missing (NaN)."""
    return not re.search(r"(_dissatisfaction_(mean|max)|_share)(_\d+d)?$", name)


def window_features(table: TextTable, topic_weights: np.ndarray, topics: list[str], dissatisfaction: np.ndarray,
                    windows: list[int | None], as_of: pd.Timestamp, complaint_min: float) -> pd.DataFrame:
    """Per-customer features of one text column over windows ending at `as_of` (later texts ignored); window
    None: all texts (a table without timestamps).

    topic_weights: texts x topics, each row summing to 1 (0 for a text without a known word); topics: the
    feature slugs of its columns. Rows are the customers with at least one text (index customer_id).
    """
    ts = pd.to_datetime(pd.Series(table.timestamp)).to_numpy(dtype="datetime64[ns]")
    valid = np.ones(len(ts), bool) if not table.dated else ~np.isnat(ts) & (ts <= np.datetime64(as_of))
    codes, customers = pd.factorize(pd.Series(table.customer[valid], dtype="str"), sort=True)
    n = len(customers)
    weights, diss, ts = topic_weights[valid], np.asarray(dissatisfaction, dtype=float)[valid], ts[valid]
    has_topic = weights.sum(axis=1) > 0
    dominant = np.where(has_topic, weights.argmax(axis=1) if weights.shape[1] else -1, -1)
    complaint = diss >= complaint_min
    columns: dict[str, np.ndarray] = {}
    names = iter(window_feature_names(table.source, topics, windows))
    for w in windows:
        inside = np.ones(len(ts), bool) if w is None else ts > np.datetime64(as_of) - np.timedelta64(w, "D")
        c = codes[inside]
        count = np.bincount(c, minlength=n).astype(float)
        with np.errstate(invalid="ignore", divide="ignore"):
            columns[next(names)] = count
            columns[next(names)] = np.bincount(c, weights=diss[inside], minlength=n) / count
            maximum = np.full(n, -np.inf)
            np.maximum.at(maximum, c, diss[inside])
            columns[next(names)] = np.where(count > 0, maximum, np.nan)
            for j in range(len(topics)):
                columns[next(names)] = np.bincount(c, weights=weights[inside, j], minlength=n) / count
            for j in range(len(topics)):
                hit = inside & complaint & (dominant == j)
                columns[next(names)] = np.bincount(codes[hit], minlength=n).astype(float)
    return pd.DataFrame(columns, index=pd.Index(customers.astype("str"), name="customer_id"))


@dataclass
class CustomerFeatures:
    """Per-customer feature columns computed outside the behaviour tables (text), aligned to any batch of IDs:
    customers absent from `frame` get 0 for counts and NaN otherwise."""

    frame: pd.DataFrame  # index customer_id

    @property
    def columns(self) -> list[str]:
        return [str(c) for c in self.frame.columns]

    def align(self, index: pd.Index) -> pd.DataFrame:
        out = self.frame.reindex(pd.Index(index, dtype="str"))
        counts = [c for c in out.columns if count_feature(c)]
        out[counts] = out[counts].fillna(0.0)
        out.index = index
        return out
