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


def test_generated_data_is_deterministic_reused_and_rewritten_when_damaged(script_module, tmp_path, monkeypatch):
    """The data folder is generated once and reused while its stamp matches; the same size gives the same bytes;
    a damaged file or another generator version makes the next run write it again."""
    bench = script_module("bench_data")
    monkeypatch.setattr(bench, "PART_EVENTS", 4000)  # three parts
    first = bench.ensure_data(tmp_path / "a", 300, 10_000, 1)
    assert first["data_reused"] is False and len(list((tmp_path / "a" / "events").glob("*.parquet"))) == 3
    assert bench.ensure_data(tmp_path / "a", 300, 10_000, 1)["data_reused"] is True
    bench.ensure_data(tmp_path / "b", 300, 10_000, 1)
    part = "events/part-00002.parquet"
    assert (tmp_path / "a" / part).read_bytes() == (tmp_path / "b" / part).read_bytes()
    (tmp_path / "a" / part).write_bytes(b"broken")
    assert bench.ensure_data(tmp_path / "a", 300, 10_000, 1)["data_reused"] is False
    assert (tmp_path / "a" / part).read_bytes() == (tmp_path / "b" / part).read_bytes()
    monkeypatch.setattr(bench, "GENERATOR", bench.GENERATOR + 1)
    assert bench.ensure_data(tmp_path / "a", 300, 10_000, 1)["data_reused"] is False
