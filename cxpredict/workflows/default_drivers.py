"""Driver groups a person can read when none are configured, and who may act on them.

Why: without `drivers.groups` every model feature used to be its own driver, so people read generated names
(`tickets_count_90d`, `notes_note_topic_en_topic_1_share_90d`) and were told Age was "fixable". Now:
- text features are always grouped, "Mentions of <topic>" and "Complaints about <topic>" per topic and one
  tone group (`text_drivers`);
- with no groups configured, the aggregations of each events table form one driver named after its table, and
  every column of a customer or lookup table is a driver named by its own column: only names the user wrote;
- a driver whose name, or every feature of it, reads as demographic or tenure (DEMOGRAPHIC words: age, gender,
  tenure, ...) is not actionable, unless `drivers.actionable` lists it or a configured group sets `actionable`.
"""

from __future__ import annotations

import re

from cxpredict.config import Config, DriverGroup, DriversConfig
from cxpredict.data.features import FeatureManifest
from cxpredict.data.text import COMPLAINTS, MENTIONS, TONE
from cxpredict.models.text import TextModels, TopicModel

# words of a column or group name that mark who a customer is or how long they have been one: not something an
# action can change. Matched as whole words of the name ("Age", "customer_age", "Senior Citizen", "tenure_months").
DEMOGRAPHIC = frozenset({
    "age", "ages", "aged", "birth", "birthday", "born", "citizen", "citizenship", "dependents", "dob", "ethnicity",
    "gender", "marital", "married", "nationality", "partner", "race", "religion", "senior", "sex", "tenure",
    "seniority"})
_WORD = re.compile(r"[a-z]+")


def demographic(name: str) -> bool:
    """True when a word of `name` is in DEMOGRAPHIC ('Senior Citizen', 'tenure_months', 'AgeBand'; words split on
    case changes too), never for a word that merely contains one ('usage', 'storage')."""
    spaced = re.sub(r"(?<=[a-z])(?=[A-Z])", " ", str(name)).lower()
    return any(w in DEMOGRAPHIC for w in _WORD.findall(spaced))


def _actionable(group: DriverGroup, allowed: set[str], configured: bool) -> bool:
    """A configured group that says `actionable` keeps it; otherwise demographic names are not actionable."""
    if group.name in allowed or any(f in allowed for f in group.features):
        return True
    if configured and "actionable" in group.model_fields_set:
        return group.actionable
    return group.actionable and not (demographic(group.name) or all(demographic(f) for f in group.features))


def _by_table(cfg: Config, manifest: FeatureManifest, features: list[str]) -> list[DriverGroup]:
    """One group per events table (its aggregations), one per other column (its own name)."""
    events = {t.name for t in cfg.data.behaviour if t.kind == "events"}
    groups: dict[str, list[str]] = {}
    for feature in features:
        table = manifest.origin.get(feature)
        groups.setdefault(table if table in events else feature, []).append(feature)
    return [DriverGroup(name=name, features=members) for name, members in groups.items()]


def resolve_drivers(cfg: Config, text: TextModels | None, manifest: FeatureManifest) -> DriversConfig:
    """The driver groups training and scoring use: the configured ones (or defaults by table), the text groups,
    and actionability by the rules above."""
    drivers = cfg.drivers
    configured = bool(drivers.groups)
    generated = set(text.meta.get("feature_names", [])) if text is not None else set()
    groups = list(drivers.groups) if configured else \
        _by_table(cfg, manifest, [f for f in manifest.names if f not in generated])
    with_text = text_drivers(drivers.model_copy(update={"groups": groups}), text, manifest.names)
    allowed = set(drivers.actionable)
    own = {g.name for g in drivers.groups}
    resolved = [g.model_copy(update={"actionable": _actionable(g, allowed, g.name in own)}) for g in with_text.groups]
    return drivers.model_copy(update={"groups": resolved})


# --------------------------------------------------------------------------------------------- text features
LANGUAGE_NAMES = {"en": "English", "zh": "Chinese"}


def _driver_topic(topics: TopicModel, key: str) -> str:
    """The topic's name in a driver's name; an unnamed topic whose top words are not plain ASCII (Chinese) goes by
    its language and number ("Chinese topic 2"), since the report's charts draw with a font without CJK glyphs
    (the topic table shows its words, and text.topics can name it)."""
    name = topics.key_names_[key]
    if name.isascii():
        return name
    topic = next(t for t in topics.topics_ if t["key"] == key)
    return f"{LANGUAGE_NAMES.get(topic['language'], topic['language'])} topic {topic['index'] + 1}"


def aspect_suffix(negative_share: float | None) -> str:
    """' (negative in 38%)' after a topic's mentions driver; nothing when unknown."""
    return "" if negative_share is None else f" (negative in {100 * negative_share:.0f}%)"


def text_drivers(drivers: DriversConfig, models: TextModels | None, model_features: list[str]) -> DriversConfig:
    """The driver groups plus two per text topic, named by what they measure: "Mentions of billing (negative in
    38%)" (the topic's share; its negative share at training) and "Complaints about billing" (texts on it with
    P(detractor) >= text.complaint_min); one for the tone; of the text features the model kept and no group holds.
    Unchanged without text features."""
    if models is None or not models.meta.get("feature_names"):
        return drivers
    grouped = {f for g in drivers.groups for f in g.features}
    taken = {g.name for g in drivers.groups}
    kept = set(model_features)
    names = [n for n in models.meta["feature_names"] if n not in grouped and n in kept]
    extra = []
    negative = {t["key"]: t.get("negative_share") for t in models.meta.get("topics", [])}
    for key in models.topics.keys_:
        topic = _driver_topic(models.topics, key)
        for label, measure in ((MENTIONS, "topic_{}_share"), (COMPLAINTS, "complaints_{}")):
            pattern = f"_{measure.format(re.escape(key))}" + r"(_\d+d)?$"
            features = [n for n in names if re.search(pattern, n)]
            name = f"{label} {topic}" + (aspect_suffix(negative.get(key)) if label == MENTIONS else "")
            if features and name not in taken:
                extra.append(DriverGroup(name=name, features=features, theme=models.topics.key_themes_[key]))
    tone = [n for n in names if re.search(r"_(dissatisfaction_(mean|max)|texts)(_\d+d)?$", n)]
    if tone and TONE not in taken:
        extra.append(DriverGroup(name=TONE, features=tone, actionable=False))
    return drivers.model_copy(update={"groups": [*drivers.groups, *extra]})
