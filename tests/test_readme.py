"""The README's Python API example runs as written (on a small generated data set, with small models)."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

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
def test_the_readme_example_runs(demo_config_path, tmp_path, monkeypatch, capsys):
    shutil.copytree(demo_config_path.parents[1] / "data", tmp_path / "data")
    monkeypatch.chdir(tmp_path)
    code = readme_example()
    assert CALL in code
    code = code.replace(CALL, f'demo_config("data/demo", {FAST_OVERRIDES!r})')  # small models, same code
    namespace: dict = {}
    exec(compile(code, "README.md (Python API)", "exec"), namespace)  # noqa: S102 - the repository's own README
    assert (tmp_path / "outputs" / "demo" / "model" / "bundle.json").is_file(), "fit() wrote the bundle as train does"
    scored, pop = namespace["scored"], namespace["pop"]
    assert len(scored) == 1000 and scored["predicted_class"].notna().all()
    assert pop.low < pop.estimate < pop.high
    assert "population NPS" in capsys.readouterr().out


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
