"""The README's every code block runs in a test and gives what it says, or says why not.

Each fenced block follows a marker line `<!-- readme-test: MODE -->` (invisible on GitHub): `run` (a shell line
whose `cxpredict` command runs here on the demo data, production paths replaced), `log-line` (a `--log-json`
line: the `run` block's log has its fields), `synopsis` (every command and option named exists), `config` (a
valid config), `covered: TEST` (a test of this file runs it with its own checks) or `skip: REASON` (cannot run in
CI; the reason says why and what runs instead). A block without a marker fails the test, so none is skipped
silently. The Python API example runs as a script in a fresh Python, on a small generated data set, with small
models."""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import pytest

from conftest import FAST_OVERRIDES

ROOT = Path(__file__).resolve().parents[1]
CALL = 'demo_config("data/demo")'


def readme_example() -> str:
    """The fenced Python block of the README's "Python API" section."""
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    section = text.split("\n## Python API\n", 1)[1].split("\n## ", 1)[0]
    blocks = re.findall(r"```python\n(.*?)```", section, flags=re.S)
    assert len(blocks) == 1, "the Python API section has one example"
    return blocks[0]


def test_the_example_names_the_public_api():
    import cxpredict

    code = readme_example()
    imported = re.search(r"from cxpredict import (.+)", code).group(1).split(", ")
    assert set(imported) <= set(cxpredict.__all__)
    for name in cxpredict.__all__:
        assert getattr(cxpredict, name) is not None


@pytest.mark.slow
def test_the_readme_example_runs(demo_config_path, tmp_path):
    """The block as a user runs it: saved as a script and run by a fresh Python in a folder holding data/demo (only
    the models made small), so nothing this test process imported or set can make it pass."""
    shutil.copytree(demo_config_path.parents[1] / "data", tmp_path / "data")
    code = readme_example()
    assert CALL in code
    code = code.replace(CALL, f'demo_config("data/demo", {FAST_OVERRIDES!r})')  # small models, same code
    code += "\nscored.to_csv('example_scored.csv', index=False)\nprint('interval', pop.low, pop.estimate, pop.high)\n"
    (tmp_path / "example.py").write_text(code, encoding="utf-8")
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run([sys.executable, "example.py"], cwd=tmp_path, env=env, capture_output=True, text=True,
                          timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    assert (tmp_path / "outputs" / "demo" / "model" / "bundle.json").is_file(), "fit() wrote the bundle as train does"
    scored = pd.read_csv(tmp_path / "example_scored.csv")
    assert len(scored) == 1000 and scored["predicted_class"].notna().all()
    low, estimate, high = map(float, done.stdout.rsplit("interval ", 1)[1].split())
    assert low < estimate < high
    assert "population NPS" in done.stdout


def test_the_churn_only_and_survey_only_examples_are_valid_configs():
    import yaml

    from cxpredict.config import config_from_dict

    text = (ROOT / "README.md").read_text(encoding="utf-8")
    section = text.split("\n### Churn-only and survey-only configs\n", 1)[1].split("\n## ", 1)[0]
    blocks = [yaml.safe_load(b) for b in re.findall(r"```yaml\n(.*?)```", section, flags=re.S)]
    assert len(blocks) == 2
    churn_only, survey_only = (config_from_dict(b) for b in blocks)
    assert churn_only.data.survey is None and "nps" in churn_only.absent_stages()
    assert survey_only.data.outcomes is None and set(survey_only.absent_stages()) == {"churn"}


def test_the_mlflow_example_loads_the_registered_model_as_written(trained_bundle, demo_config, tmp_path,
                                                                   monkeypatch):
    """`mlflow.set_tracking_uri(cxpredict.tracking_uri())` then the registry alias, in a fresh folder with no MLflow
    variables: it finds the commands' store, and leaves no empty ./mlflow.db behind."""
    from cxpredict.io import tracking
    from cxpredict.workflows.pyfunc import log_trained_bundle

    for var in ("MLFLOW_TRACKING_URI", "MLFLOW_RUN_ID", "MLFLOW_EXPERIMENT_ID", "MLFLOW_EXPERIMENT_NAME"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv(tracking.HOME_VARIABLE, str(tmp_path / "home"))
    monkeypatch.chdir(tmp_path)
    with tracking.start_run(demo_config, "train"):  # as `cxpredict train --register` does, into the default store
        log_trained_bundle(trained_bundle, {}, register=demo_config.tracking.registered_model)
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)  # mlflow.set_tracking_uri exported it
    (tmp_path / "work").mkdir()
    monkeypatch.chdir(tmp_path / "work")
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    section = text.split("\n## MLflow\n", 1)[1].split("\n## ", 1)[0]
    blocks = re.findall(r"```python\n(.*?)```", section, flags=re.S)
    assert len(blocks) == 1 and 'load_model("models:/cxpredict-nps@champion")' in blocks[0]
    namespace: dict = {}
    exec(compile("\n".join(line.strip() for line in blocks[0].splitlines()), "README.md (MLflow)", "exec"),
         namespace)  # noqa: S102 - the repository's own README
    schema = namespace["model"].metadata.get_input_schema()
    assert schema is not None and schema.input_names()[0] == "customer_id"
    assert not list((tmp_path / "work").iterdir()), "nothing (no empty mlflow.db) in the current folder"


# --------------------------------------------------------------------------------------------- every block, marked
MODES = ("run", "log-line", "synopsis", "config", "covered", "skip")


@dataclass
class Block:
    line: int  # 1-based line of the opening fence
    lang: str
    body: str
    mode: str  # one of MODES, "" when unmarked
    note: str  # the covering test's name or the reason to skip


def readme_blocks() -> list[Block]:
    """Every fenced block of README.md with the marker on the line before it (after it for the opening block)."""
    lines = (ROOT / "README.md").read_text(encoding="utf-8").splitlines()
    blocks, i = [], 0
    while i < len(lines):
        fence = re.match(r"(\s*)```(\S*)\s*$", lines[i])
        if not fence:
            i += 1
            continue
        end = next(j for j in range(i + 1, len(lines)) if lines[j].strip() == "```")
        # the line before; for the set-up block the README opens with, the line after (the README begins with it)
        marked = lines[i - 1] if i else (lines[end + 1] if end + 1 < len(lines) else "")
        marker = re.match(r"\s*<!-- readme-test: ([a-z-]+):?\s*(.*?)\s*-->$", marked)
        body = "\n".join(line[len(fence.group(1)):] for line in lines[i + 1:end])
        blocks.append(Block(i + 1, fence.group(2), body, marker.group(1) if marker else "",
                            marker.group(2) if marker else ""))
        i = end + 1
    return blocks


def of_mode(mode: str) -> list[Block]:
    return [b for b in readme_blocks() if b.mode == mode]


def test_every_block_is_marked_and_every_reason_names_what_exists():
    blocks = readme_blocks()
    assert len(blocks) >= 10
    here = (ROOT / "tests" / "test_readme.py").read_text(encoding="utf-8")
    for b in blocks:
        assert b.mode in MODES, f"README.md line {b.line}: a ```{b.lang} block without <!-- readme-test: MODE -->"
        if b.mode == "covered":
            assert f"def {b.note}(" in here, f"README.md line {b.line}: no test {b.note} in tests/test_readme.py"
        if b.mode == "skip":
            assert len(b.note) > 30, f"README.md line {b.line}: a skip needs its reason"
        for path, name in re.findall(r"(tests/[\w/]+\.py)::(\w+)", b.note):
            assert f"def {name}(" in (ROOT / path).read_text(encoding="utf-8"), f"{path}::{name} is gone"
    assert of_mode("run") and of_mode("log-line") and of_mode("synopsis")


def test_the_command_synopsis_names_real_commands_and_options():
    import typer.main

    from cxpredict.cli.app import app
    from cxpredict.cli.flags import _options

    root = typer.main.get_command(app)
    (synopsis,) = of_mode("synopsis")
    seen, command = set(), root
    for line in synopsis.body.splitlines():
        found = re.match(r"cxpredict ([a-z][a-z-]*(?: check)?)", line)
        if found:
            words = found.group(1).split()
            command = root.commands[words[0]]
            command = command.commands[words[1]] if len(words) > 1 else command
            seen.add(found.group(1))
        elif not line.startswith(" "):  # `cxpredict --version`
            command = root
        for option in re.findall(r"\[?(--[a-z-]+)", line):
            assert option in _options(command) or option in _options(root), f"{command.name}: no {option}"
    assert seen == set(root.commands) - {"playbook"} | {"playbook check"}, "every command is in the synopsis"


def test_config_blocks_are_valid_configs():
    import yaml

    from cxpredict.config import config_from_dict

    blocks = of_mode("config")
    assert blocks
    for b in blocks:
        config_from_dict(yaml.safe_load(b.body))


def test_the_scheduled_line_runs_and_logs_the_fields_the_readme_shows(fast_demo_config_path, trained_bundle,
                                                                     tmp_path, monkeypatch, capsys):
    """The cron line's command on the demo data: the production config, store and folders replaced, the model
    registered under the name the line loads; it exits 0, writes where it says, and its closing JSON line has
    every field of the README's example line."""
    from cxpredict.cli.app import main
    from cxpredict.config import load_config
    from cxpredict.io import tracking
    from cxpredict.workflows.pyfunc import log_trained_bundle

    (run,), (example,) = of_mode("run"), of_mode("log-line")
    command = re.search(r"(cxpredict --log-json .*?)\s*>>", run.body).group(1)
    day = load_config(fast_demo_config_path).data.as_of
    for production, here in ((r"$(date -d yesterday +\%F)", day), ("configs/prod.yaml", str(fast_demo_config_path)),
                             ("/data/cx/", f"{tmp_path}/cx/")):
        assert production in command, production
        command = command.replace(production, here)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path / 'mlflow.db'}")
    name = re.search(r"models:/([\w-]+)@(\w+)", command)
    with tracking.start_run(load_config(fast_demo_config_path), "train"):  # as `train --register` does
        log_trained_bundle(trained_bundle, {}, register=name.group(1), alias=name.group(2))
    capsys.readouterr()
    assert main(shlex.split(command)[1:]) == 0  # in-process: the words after `cxpredict`
    lines = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
    events = [json.loads(line) for line in lines]  # every line is JSON, as a collector needs
    done = next(e for e in events if e.get("event") == "score.finished")
    shown = json.loads(example.body)
    assert set(shown) <= set(done), f"the README shows fields the log lacks: {set(shown) - set(done)}"
    assert done["event"] == shown["event"] and done["as_of"] == day and done["drift"] == "ok"
    assert done["output"] == f"{tmp_path}/cx/{day}/scored.csv" and Path(done["manifest"]).is_file()
