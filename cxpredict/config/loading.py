"""A config from a YAML file: reading, `key=value` overrides, validation, and messages that name the file, the
bad key and the closest valid one. A config is loaded once, at the edge (CLI or script); the rest of the
package receives the validated `Config`.
"""

from __future__ import annotations

import difflib
from pathlib import Path
from typing import Any, get_args

import yaml
from pydantic import BaseModel, ValidationError

from cxpredict.config.schema import Config
from cxpredict.errors import ConfigError, did_you_mean


# shipped with the package (pyproject package-data): the demo config and the default playbook
RESOURCES = Path(__file__).resolve().parents[1] / "resources"
DEMO_CONFIG = RESOURCES / "demo.yaml"
DEFAULT_PLAYBOOK = RESOURCES / "playbook.yaml"


def _parse_override(text: str) -> tuple[list[str], Any]:
    if "=" not in text:
        raise ConfigError(f"override '{text}' must look like section.key=value, e.g. nps.params.num_leaves=31")
    dotted, raw = text.split("=", 1)
    keys = [k for k in dotted.strip().split(".") if k]
    if not keys:
        raise ConfigError(f"override '{text}' has an empty key")
    try:
        return keys, yaml.safe_load(raw) if raw.strip() else None
    except ValueError:  # YAML took it for a date but it is none (2026-13-45): the schema explains it as text
        return keys, raw.strip()
    except yaml.YAMLError as e:
        raise ConfigError(f"override '{text}': the value is not valid YAML ({e}); quote text, e.g. "
                          f"{dotted}='\"{raw}\"'") from None


def apply_overrides(raw: dict[str, Any], overrides: list[str] | None) -> dict[str, Any]:
    """Apply dotted `key.sub=value` overrides (values parsed as YAML) to a raw config dict; a number picks an
    item of a list (`data.behaviour.0.path=...`)."""
    for text in overrides or []:
        keys, value = _parse_override(text)
        node: Any = raw
        for depth, k in enumerate(keys):
            last = depth == len(keys) - 1
            where = ".".join(keys[:depth]) or "the top level"
            if isinstance(node, list):
                if not (k.isdigit() and int(k) < len(node)):
                    raise ConfigError(f"override '{text}': {where} is a list of {len(node)} item(s); use an index "
                                      f"from 0 to {len(node) - 1} instead of '{k}'")
                k = int(k)
            elif not isinstance(node, dict):
                raise ConfigError(f"override '{text}': {where} is a value, not a section")
            if last:
                node[k] = value
            else:
                if isinstance(node, dict) and not isinstance(node.get(k, {}), (dict, list)):
                    raise ConfigError(f"override '{text}': '{k}' is not a section")
                node = node.setdefault(k, {}) if isinstance(node, dict) else node[k]
    return raw


def _section_model(annotation: Any) -> type[BaseModel] | None:
    """The config section class inside a field's annotation (X, X | None, list[X], dict[str, X], Annotated)."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in get_args(annotation):
        found = _section_model(arg)
        if found is not None:
            return found
    return None


def known_keys(model: type[BaseModel], loc: tuple) -> list[str]:
    """The valid keys of the section at `loc` (a pydantic error location; list indexes skipped), [] if unknown."""
    node: type[BaseModel] | None = model
    for part in loc:
        if isinstance(part, int):
            continue
        field = node.model_fields.get(part) if node is not None else None
        node = _section_model(field.annotation) if field is not None else None
    return [f.alias or name for name, f in node.model_fields.items() if not f.exclude] if node is not None else []


def _key_hint(model: type[BaseModel], loc: tuple) -> str:
    """' (did you mean 'x'?); valid keys here: ...' for an unknown key at `loc`; a key of a sub-section counts too
    (nps.num_leafs -> 'params.num_leaves')."""
    keys = known_keys(model, loc[:-1])
    if not keys:
        return " (check the spelling; the modules of cxpredict/config/ list every valid key)"
    hint = did_you_mean(loc[-1], keys)
    if not hint:
        deeper = {sub: f"{k}.{sub}" for k in keys for sub in known_keys(model, (*loc[:-1], k))}
        close = difflib.get_close_matches(str(loc[-1]), list(deeper), n=1)
        hint = f" (did you mean '{deeper[close[0]]}'?)" if close else ""
    return f"{hint}; valid keys here: {', '.join(keys)}"


def format_validation_error(path: Path, err: ValidationError, model: type[BaseModel] | None = None) -> str:
    """A pydantic error as the message of a ConfigError: the file, then one line per bad key (configs, playbooks);
    an unknown key gets the closest valid key of its section (`model`: the file's schema, default Config)."""
    lines = [f"{path}: invalid config ({err.error_count()} problem{'s' if err.error_count() > 1 else ''})"]
    for e in err.errors():
        where = ".".join(str(p) for p in e["loc"]) or "(top level)"
        msg = e["msg"].removeprefix("Value error, ")
        if e["type"] == "extra_forbidden":
            msg = "unknown key" + _key_hint(model or Config, e["loc"])
        lines.append(f"  - {where}: {msg}")
    return "\n".join(lines)


def read_yaml(path: str | Path, what: str = "config file") -> dict[str, Any]:
    """A YAML mapping from `path`; `what` names the file in errors (e.g. "playbook (strategy.playbook)")."""
    path = Path(path)
    if path.is_dir():
        found = sorted(p.name for p in path.glob("*.y*ml"))[:5]
        raise ConfigError(f"{what} {path} is a folder, not a YAML file; pass the file itself"
                          + (f", e.g. {path / found[0]} (YAML files there: {found})" if found else ""))
    if not path.is_file():
        raise ConfigError(f"{what} not found: {path.absolute()}; check the path (relative paths start from the "
                          "current folder on the command line, from the config's folder inside a config)")
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (yaml.YAMLError, UnicodeDecodeError, RecursionError, ValueError) as e:  # ValueError: date 2026-13-45
        raise ConfigError(f"{path}: not valid UTF-8 YAML: {e}") from None
    except OSError as e:
        raise ConfigError(f"{path}: cannot read the {what}: {e.strerror}") from None
    if not isinstance(raw, dict):
        raise ConfigError(f"{path}: a config must be a YAML mapping, got {type(raw).__name__}")
    return raw


def load_config(path: str | Path, overrides: list[str] | None = None) -> Config:
    """Read, override and validate a config file. Raises ConfigError naming the file and every bad key."""
    path = Path(path)
    raw = apply_overrides(read_yaml(path), overrides)
    return config_from_dict(raw, base_dir=path.resolve().parent, source=path)


def demo_config(data_dir: str | Path = "data/demo", overrides: list[str] | None = None) -> Config:
    """The packaged demo config, reading its tables from `data_dir` (relative to the working folder), where
    `cxpredict demo` writes them; the playbook is the packaged one."""
    cfg = load_config(DEMO_CONFIG, overrides)
    cfg.data.dir = str(Path(data_dir).expanduser().resolve())
    return cfg


def config_from_dict(raw: dict[str, Any], base_dir: str | Path = ".", source: str | Path = "<dict>") -> Config:
    try:
        cfg = Config.model_validate(raw)
    except ValidationError as e:
        raise ConfigError(format_validation_error(Path(source), e)) from None
    cfg.base_dir = Path(base_dir).resolve()
    return cfg
