"""CLI contract: --help everywhere, exit code 2 and no output on bad input, a working end-to-end path."""

import shutil
import subprocess
import sys

import pandas as pd
import pytest

from cxpredict.cli.app import app, main

COMMANDS = sorted(c.name or c.callback.__name__ for c in app.registered_commands)


@pytest.mark.parametrize("command", COMMANDS)
def test_every_command_has_help(command, capsys):
    assert main([command, "--help"]) == 0
    assert "Usage" in capsys.readouterr().out


def test_unknown_command_is_a_usage_error():
    assert main(["no-such-command"]) == 2


def test_missing_config_gives_exit_2(tmp_path):
    assert main(["validate", str(tmp_path / "missing.yaml")]) == 2


def _copy_demo(demo_config_path, tmp_path):
    """A private copy of the small demo data set that a test may break."""
    base = tmp_path / "demo"
    shutil.copytree(demo_config_path.parents[1], base)
    return base / "configs" / "demo.yaml", base / "data" / "demo"


def test_validate_passes_on_good_demo_data(demo_config_path, capsys):
    assert main(["validate", str(demo_config_path)]) == 0
    assert "ok" in capsys.readouterr().out


def test_score_out_of_range_gives_exit_2_and_writes_nothing(demo_config_path, trained_bundle, tmp_path):
    config, data_dir = _copy_demo(demo_config_path, tmp_path)
    survey = pd.read_csv(data_dir / "survey.csv", dtype={"customer_id": "str"})
    survey.loc[3, "score"] = 11
    survey.to_csv(data_dir / "survey.csv", index=False)
    out = tmp_path / "out" / "scored.csv"
    assert main(["validate", str(config)]) == 2
    assert main(["train", str(config), "--out", str(tmp_path / "model")]) == 2
    assert main(["score", str(config), "--model", str(trained_bundle), "--out", str(out)]) == 2
    assert not out.exists() and not (tmp_path / "model").exists()


def test_duplicate_id_gives_exit_2_naming_the_file(demo_config_path, tmp_path, caplog):
    config, data_dir = _copy_demo(demo_config_path, tmp_path)
    customers = pd.read_csv(data_dir / "customers.csv", dtype={"customer_id": "str"})
    pd.concat([customers, customers.head(2)]).to_csv(data_dir / "customers.csv", index=False)
    out = tmp_path / "model"
    assert main(["train", str(config), "--out", str(out)]) == 2
    assert "customers.csv" in caplog.text
    assert not out.exists()


def test_missing_column_gives_exit_2(demo_config_path, trained_bundle, tmp_path, caplog):
    config, data_dir = _copy_demo(demo_config_path, tmp_path)
    usage = pd.read_csv(data_dir / "usage.csv", dtype={"customer_id": "str"})
    usage.drop(columns=["dropped_calls_30d"]).to_csv(data_dir / "usage.csv", index=False)
    out = tmp_path / "scored.csv"
    assert main(["score", str(config), "--model", str(trained_bundle), "--out", str(out)]) == 2
    assert "dropped_calls_30d" in caplog.text
    assert not out.exists()


def test_empty_file_gives_exit_2(demo_config_path, tmp_path, capsys):
    config, data_dir = _copy_demo(demo_config_path, tmp_path)
    (data_dir / "billing.csv").write_bytes(b"")
    assert main(["validate", str(config)]) == 2
    assert "billing.csv" in capsys.readouterr().err


def test_console_script_runs_as_a_subprocess():
    res = subprocess.run([sys.executable, "-m", "cxpredict.cli.app", "--help"], capture_output=True, text=True)
    assert res.returncode == 0 and "score" in res.stdout
