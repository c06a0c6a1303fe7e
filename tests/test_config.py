from pathlib import Path

import pytest

from cxpredict.config import DEMO_CONFIG, Scale, config_from_dict, load_config
from cxpredict.errors import ConfigError

ROOT = Path(__file__).resolve().parents[1]
MINIMAL = {"data": {"survey": {"path": "s.csv"}, "behaviour": [{"name": "c", "path": "c.csv"}]}}


@pytest.mark.parametrize("path", [*sorted((ROOT / "configs").glob("*.yaml")), DEMO_CONFIG], ids=lambda p: p.name)
def test_every_shipped_config_validates(path):
    if path.name == "playbook.yaml":
        from cxpredict.actions.strategy import load_playbook

        load_playbook(path)
    else:
        cfg = load_config(path)
        assert cfg.name


def test_unknown_key_is_rejected_with_its_path(tmp_path):
    p = tmp_path / "c.yaml"
    p.write_text("data:\n  survey: {path: s.csv}\n  behaviour: [{name: c, path: c.csv}]\nnps:\n  num_leafs: 3\n")
    with pytest.raises(ConfigError, match=r"nps\.num_leafs: unknown key") as e:
        load_config(p)
    assert str(p) in str(e.value)


def test_dotted_overrides_parse_yaml_values(tmp_path):
    p = tmp_path / "c.yaml"
    p.write_text("data:\n  survey: {path: s.csv}\n  behaviour: [{name: c, path: c.csv}]\n")
    cfg = load_config(p, ["nps.params.num_leaves=63", "population.segments=[plan, region]", "seed=7"])
    assert cfg.nps.params.num_leaves == 63
    assert cfg.population.segments == ["plan", "region"]
    assert cfg.seed == 7


def test_override_of_unknown_key_fails(tmp_path):
    p = tmp_path / "c.yaml"
    p.write_text("data:\n  survey: {path: s.csv}\n  behaviour: [{name: c, path: c.csv}]\n")
    with pytest.raises(ConfigError, match="nps.params.num_leavez"):
        load_config(p, ["nps.params.num_leavez=3"])
    with pytest.raises(ConfigError, match="section.key=value"):
        load_config(p, ["seed"])


def test_nps_default_and_csat_scale():
    assert Scale() == Scale(min=0, max=10, detractor_max=6, promoter_min=9)
    csat = Scale(min=1, max=5, detractor_max=3, promoter_min=5)
    assert csat.points == [1, 2, 3, 4, 5]


def test_bad_cut_points_are_rejected():
    with pytest.raises(ConfigError, match="detractor_max"):
        config_from_dict({**MINIMAL, "scale": {"min": 0, "max": 10, "detractor_max": 9, "promoter_min": 9}})


def test_paths_resolve_against_the_config_folder(tmp_path):
    cfg = config_from_dict({**MINIMAL, "data": {**MINIMAL["data"], "dir": "../d"}}, base_dir=tmp_path / "configs")
    assert cfg.data_path("s.csv") == (tmp_path / "d" / "s.csv").resolve()


def test_missing_config_file_is_a_config_error(tmp_path):
    with pytest.raises(ConfigError, match="not found"):
        load_config(tmp_path / "nope.yaml")


def test_telco_config_excludes_every_leak_column():
    cfg = load_config(ROOT / "configs" / "telco.yaml")
    leaks = {"Satisfaction Score", "Customer Status", "Churn Label", "Churn Value", "Churn Score", "CLTV",
             "Churn Category", "Churn Reason"}
    assert leaks <= set(cfg.features.exclude)
    behaviour_columns = {c for t in cfg.data.behaviour for c in (t.columns or [])}
    assert not leaks & behaviour_columns
    assert (cfg.scale.min, cfg.scale.max, cfg.scale.detractor_max, cfg.scale.promoter_min) == (1, 5, 3, 5)
