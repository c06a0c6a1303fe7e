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


def test_help_shows_defaults_that_rich_markup_would_swallow(capsys):
    assert main(["train", "--help"]) == 0
    assert "outputs/<name>/model" in capsys.readouterr().out
    assert main(["score", "--help"]) == 0
    out = capsys.readouterr().out
    assert "--as-of" in out and "--format" in out and "~/.cxpredict/mlflow.db" in out


def test_bad_as_of_date_is_exit_2(demo_config_path, trained_bundle, tmp_path):
    out = tmp_path / "scored.csv"
    assert main(["score", str(demo_config_path), "--model", str(trained_bundle), "--out", str(out),
                 "--as-of", "31/10/2026", "--no-tracking"]) == 2
    assert not out.parent.exists() or not list(out.parent.iterdir())


def test_scheduled_score_of_a_registered_model(demo_config_path, trained_bundle, tmp_path, monkeypatch, capsys):
    """What a scheduler sees: --as-of, models:/NAME@ALIAS, --format xlsx, --log-json fields, and a manifest that
    names the MLflow run and the registered version; MLflow keeps a sample of the scored file, not the file."""
    import json

    from mlflow import MlflowClient

    from cxpredict.config import load_config
    from cxpredict.io import tracking
    from cxpredict.workflows.pyfunc import log_trained_bundle

    store = f"sqlite:///{tmp_path / 'store' / 'mlflow.db'}"
    (tmp_path / "store").mkdir()
    monkeypatch.setenv("MLFLOW_TRACKING_URI", store)
    cfg = load_config(demo_config_path)
    with tracking.start_run(cfg, "train"):
        version = log_trained_bundle(trained_bundle, {}, register="people-test", alias="champion")
    out = tmp_path / "nightly" / "scored.xlsx"
    code = main(["--log-json", "score", str(demo_config_path), "--model", "models:/people-test@champion",
                 "--out", str(out), "--as-of", "2026-10-31", "--format", "xlsx"])
    assert code == 0
    lines = [json.loads(line) for line in capsys.readouterr().err.splitlines() if line.startswith("{")]
    done = next(e for e in lines if e.get("event") == "score.finished")
    assert done["rows"] == 5000 and done["rows_per_s"] > 0 and done["duration_s"] > 0 and done["exit_code"] == 0
    assert done["output"] == str(out) and done["as_of"] == "2026-10-31"
    assert any(e.get("event") == "scoring.progress" and e.get("rows") for e in lines)
    manifest = json.loads((out.parent / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["as_of"] == "2026-10-31" and manifest["format"] == "xlsx"
    model = manifest["bundle"]["model"]
    assert manifest["bundle"]["path"] is None, "the fetched folder was temporary"
    assert (model["name"], model["version"], model["alias"]) == ("people-test", version, "champion")
    client = MlflowClient(store)
    run = client.get_run(manifest["mlflow"]["run_id"])
    assert run.info.run_name == "demo score 2026-10-31"
    assert "churn.horizon_days" not in run.data.metrics and run.data.params["churn.horizon_days"] == "90"
    assert any(k.startswith("drift.psi_features.") for k in run.data.metrics)
    assert run.data.metrics["score.nps.model_only"] == pytest.approx(manifest["nps"]["model_only"])
    logged = {a.path for a in client.list_artifacts(run.info.run_id, "scoring")}
    assert "scoring/scored_sample.csv" in logged and "scoring/scored.xlsx" not in logged
    assert run.data.tags["cxpredict.scored.sha256"] == manifest["outputs"]["scored"]["sha256"]
    assert {"work_orders", "work_orders_deferred", "segment_summary", "columns"} <= set(manifest["outputs"])
    assert (out.parent / "work_orders.xlsx").is_file() and (out.parent / "columns.csv").is_file()


def _click_commands():
    import typer.main

    group = typer.main.get_command(app)
    stack = [group]
    while stack:
        command = stack.pop()
        yield command
        stack += list(getattr(command, "commands", {}).values())


def test_help_texts_survive_rich_markup_and_flags_show_no_value():
    """Rich reads '[campaign.assignments]' as a style tag and prints 'wrote .'; a flag's '<bool>' invites
    `--log-json true`, which the parser then takes for a command."""
    from rich.text import Text

    for command in _click_commands():
        texts = [command.help or ""] + [p.help or "" for p in command.params if hasattr(p, "help")]
        for text in texts:
            assert Text.from_markup(text).plain == text, f"{command.name}: rich would swallow part of {text!r}"
        for param in command.params:
            if getattr(param, "is_flag", False) and param.name != "help":
                assert param.metavar == "", f"{command.name} {param.opts}: a flag must show no <bool>"


def test_help_shows_no_stray_gaps(capsys):
    import re

    for command in [*COMMANDS, "playbook check"]:
        assert main([*command.split(), "--help"]) == 0
        out = capsys.readouterr().out
        assert not re.search(r"\w \.(\s|$)", out), f"{command}: a stray ' .' in the help:\n{out}"
