"""scripts/bench_data.py's PostgreSQL check: train and score from a throwaway PostgreSQL server equal the same
tables in Parquet (postgres_source_ok), at a small size."""

from __future__ import annotations

import pytest


@pytest.mark.slow
def test_postgres_source_ok_at_a_small_size(script_module, tmp_path, monkeypatch):
    from postgres_server import why_unavailable

    if reason := why_unavailable():
        pytest.skip(reason)
    monkeypatch.setenv("PGPASSWORD", "")  # the check sets the server's password; restored after the test
    got = script_module("bench_data").postgres_source_check(tmp_path, 1200)
    runs = got["postgres_runs"]
    assert got["postgres_source_ok"] is True, got
    assert got["postgres_bundle_files_differ"] == ["config.yaml"] and got["postgres_password_found_in"] == []
    assert runs["parquet"]["scored_sha256"] == runs["postgres"]["scored_sha256"]
