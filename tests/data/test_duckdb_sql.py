"""SQL pieces for DuckDB reads."""

import sys

from cxpredict.data.duckdb_sql import whitespace


def test_whitespace_is_every_character_str_strip_removes():
    expected = "".join(c for c in map(chr, range(sys.maxunicode + 1)) if c.isspace())
    assert whitespace() == expected
    assert set(" \t\u3000\u2028") <= set(whitespace()) and "x" not in whitespace()
