from pathlib import Path

import pytest

from cxpredict.config import DEMO_CONFIG, LgbmParams, Scale, config_from_dict, load_config
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


@pytest.mark.parametrize("override, hint", [
    ("sedd=1", "sedd: unknown key (did you mean 'seed'?)"),
    ("nps.params.num_leavs=3", "(did you mean 'num_leaves'?)"),
    ("nps.num_leafs=3", "(did you mean 'params.num_leaves'?)"),  # the key belongs one section deeper
    ("data.behaviour.0.nmae=x", "data.behaviour.0.nmae: unknown key (did you mean 'name'?)"),
])
def test_unknown_keys_get_the_closest_valid_key_and_the_section_keys(tmp_path, override, hint):
    p = tmp_path / "c.yaml"
    p.write_text("data:\n  survey: {path: s.csv}\n  behaviour: [{name: c, path: c.csv}]\n")
    with pytest.raises(ConfigError) as e:
        load_config(p, [override])
    assert hint in str(e.value) and "valid keys here:" in str(e.value) and "base_dir" not in str(e.value)


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


@pytest.mark.parametrize("where", ["nps.params", "response.params", "drivers.reason_params", "campaign.uplift_params"])
def test_a_sub_section_given_in_part_keeps_its_sections_defaults(where):
    """`drivers.reason_params.n_jobs=1` changes n_jobs only: the reason model's own LightGBM defaults stay."""
    section, key = where.split(".")
    default = getattr(getattr(config_from_dict(MINIMAL), section), key)
    assert default != LgbmParams()  # the section's defaults differ from the generic ones, or the test proves nothing
    given = getattr(getattr(config_from_dict({**MINIMAL, section: {key: {"n_jobs": 1}}}), section), key)
    assert given == default.model_copy(update={"n_jobs": 1})


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


# --------------------------------------------------------------------------------------------- values at the edge
def test_dates_from_yaml_and_set_are_accepted_as_iso_text(tmp_path):
    p = tmp_path / "c.yaml"
    p.write_text("data:\n  as_of: 2026-10-31\n  survey: {path: s.csv}\n  behaviour: [{name: c, path: c.csv}]\n")
    assert load_config(p).data.as_of == "2026-10-31"  # an unquoted YAML date
    assert load_config(p, ["data.as_of=2027-06-30"]).data.as_of == "2027-06-30"  # what Airflow's {{ ds }} gives
    assert load_config(p, ["data.as_of=2027-06-30T23:00:00"]).data.as_of == "2027-06-30T23:00:00"
    with pytest.raises(ConfigError, match=r"data\.as_of: '2027-02-30' is not an ISO date"):
        load_config(p, ["data.as_of=2027-02-30"])


@pytest.mark.parametrize("name", ["demo", "Telco 2026", "nps_v2-final", "kundenzufriedenheit-ü"])
def test_plain_names_are_accepted(name):
    assert config_from_dict({**MINIMAL, "name": name}).name == name


@pytest.mark.parametrize("name, why", [("../x", "'/'"), ("/abs", "'/'"), ("a\\b", "'\\\\'"), ("..", "'.'"),
                                       (".hidden", "'.'"), ("", "empty"), ("a\nb", "control"), ("x" * 200, "bytes")])
def test_names_used_in_paths_are_refused_naming_the_key(name, why):
    with pytest.raises(ConfigError, match=r"- name: .*" + why):
        config_from_dict({**MINIMAL, "name": name})


def test_read_options_name_the_allowed_values():
    with pytest.raises(ConfigError, match=r"data\.read\.encoding: unknown encoding 'utf-99'; use .*latin-1"):
        config_from_dict({"data": {**MINIMAL["data"], "read": {"encoding": "utf-99"}}})
    cfg = config_from_dict({"data": {**MINIMAL["data"], "read": {"na_values": ["", "NA", -999]}}})
    assert cfg.data.read.na_values == ["", "NA", "-999"]  # YAML made -999 a number; it is a marker, compared as text


def test_overrides_index_lists_and_explain_bad_paths(tmp_path):
    from cxpredict.config import apply_overrides

    raw = {"data": {"behaviour": [{"name": "c", "path": "c.csv"}]}}
    assert apply_overrides(raw, ["data.behaviour.0.path=d.csv"])["data"]["behaviour"][0]["path"] == "d.csv"
    with pytest.raises(ConfigError, match="index from 0 to 0"):
        apply_overrides(raw, ["data.behaviour.1.path=x"])
    with pytest.raises(ConfigError, match="not valid YAML"):
        apply_overrides(raw, ["data.read.na_values=[x"])


def test_a_folder_given_as_config_says_so(tmp_path):
    (tmp_path / "demo.yaml").write_text("name: x\n")
    with pytest.raises(ConfigError, match=r"is a folder, not a YAML file.*demo\.yaml"):
        load_config(tmp_path)


# --------------------------------------------------------------------------------------------- fuzzing
from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

SCALARS = st.one_of(st.none(), st.booleans(), st.integers(-10**20, 10**20), st.floats(allow_nan=True),
                    st.text(max_size=12), st.dates(), st.sampled_from(["../x", "utf-99", "2026-13-45", ";;", "\0"]))
KEYS = st.sampled_from(["name", "seed", "data", "survey", "behaviour", "path", "read", "encoding", "delimiter",
                        "quote_char", "as_of", "scale", "min", "max", "nps", "params", "kind", "events", "x"])
TREES = st.recursive(SCALARS, lambda inner: st.one_of(st.lists(inner, max_size=3),
                                                      st.dictionaries(KEYS, inner, max_size=4)), max_leaves=12)
FUZZ = settings(max_examples=200, deadline=2000, suppress_health_check=[HealthCheck.function_scoped_fixture])


@FUZZ
@given(tree=TREES)
def test_fuzz_config_from_dict_raises_only_config_errors(tree):
    raw = {**MINIMAL, **tree} if isinstance(tree, dict) else tree
    try:
        config_from_dict(raw if isinstance(raw, dict) else {"data": raw})
    except ConfigError:
        pass


def _as_yaml(tree) -> str:
    import yaml

    return yaml.safe_dump({**MINIMAL, **tree} if isinstance(tree, dict) else tree, allow_unicode=True)


OVERRIDES = st.one_of(st.text(max_size=30), st.builds(
    lambda keys, value: ".".join(keys) + "=" + value, st.lists(st.one_of(KEYS, st.sampled_from(["0", "7"])),
                                                                 min_size=1, max_size=3),
    st.one_of(st.text(max_size=12), st.sampled_from(["[", "{a: 1", "2026-13-45", "2027-06-30", "'x'", "..", ""]))))


@FUZZ
@given(text=st.one_of(st.text(max_size=200), st.binary(max_size=200).map(lambda b: b.decode("latin-1")),
                      TREES.map(_as_yaml)),
       overrides=st.lists(OVERRIDES, max_size=3))
def test_fuzz_load_config_raises_only_config_errors(tmp_path, text, overrides):
    p = tmp_path / "fuzz.yaml"
    p.write_text(text, encoding="utf-8", errors="surrogateescape")
    try:
        load_config(p, overrides)
    except ConfigError:
        pass


def test_survey_or_outcomes_may_be_left_out_but_not_both(tmp_path):
    p = tmp_path / "c.yaml"
    p.write_text("data:\n  outcomes: {path: o.csv}\n  behaviour: [{name: c, path: c.csv}]\n")
    cfg = load_config(p)
    assert cfg.data.survey is None
    assert set(cfg.absent_stages()) == {"text", "response", "nps", "population", "drivers", "reasons"}
    p.write_text("data:\n  survey: {path: s.csv}\n  behaviour: [{name: c, path: c.csv}]\n")
    assert load_config(p).absent_stages() == {"churn": "no outcomes table (data.outcomes)"}
    p.write_text("data:\n  behaviour: [{name: c, path: c.csv}]\n")
    with pytest.raises(ConfigError, match="needs a survey table .* an outcomes table"):
        load_config(p)
    p.write_text("data:\n  outcomes: {path: o.csv}\n  invitations: inv.csv\n  behaviour: [{name: c, path: c.csv}]\n")
    with pytest.raises(ConfigError, match="data.invitations .* needs data.survey"):
        load_config(p)
