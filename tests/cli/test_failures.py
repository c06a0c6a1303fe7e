"""The catalogue of broken inputs and faults, as a scheduler meets them: one table-driven test.

Each case breaks one thing in a private copy of the small demo project (its data, config, playbook, model bundle,
output folder or the machine: a full or read-only disk, a file-size limit, a held lock), runs the CLI and checks
three promises: the documented exit code, a message that names what it should (file, column, key, cause, fix),
and an output folder left exactly as it was (yesterday's outputs byte-identical, nothing new, no temporary
leftovers). Commands run in-process (`cxpredict.cli.app.main`); only the file-size limit needs a subprocess.
Machine faults are real where this machine allows them (tmpfs mounts, chattr, RLIMIT_FSIZE) and skipped
otherwise; EACCES and EDQUOT cannot happen to root, so they are raised at the OS-call boundary (monkeypatch).
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
import pytest
import yaml

from cxpredict.cli.app import main

KEY_ENV = "CXPREDICT_BUNDLE_KEY"


# --------------------------------------------------------------------------------------------- the workspace
@dataclass
class Env:
    """A private copy of the demo project; a case's setup breaks one thing in it."""

    root: Path
    config: Path
    data: Path
    bundle: Path  # the session's bundle (read only) until a case copies it
    monkeypatch: pytest.MonkeyPatch
    stack: contextlib.ExitStack
    out: Path = None  # the output folder whose content must not change
    target: Path | None = None  # --out (default: out/scored.csv for score, out/model for train)
    args: list[str] = field(default_factory=list)
    argv: list[str] | None = None  # the whole command, for cases that are not train/score/validate
    rlimit_fsize: int | None = None  # run in a subprocess with this RLIMIT_FSIZE

    def edit(self, name: str, change: Callable[[pd.DataFrame], pd.DataFrame], **to_csv) -> Path:
        """Rewrite a data table after `change` (every cell read as text, so IDs keep their zeros)."""
        path = self.data / name
        frame = pd.read_csv(path, dtype=str, keep_default_na=False)
        change(frame).to_csv(path, index=False, **to_csv)
        return path

    def write(self, name: str, content: bytes | str) -> Path:
        path = self.data / name
        path.write_bytes(content if isinstance(content, bytes) else content.encode("utf-8"))
        return path

    def set(self, *overrides: str) -> None:
        self.args += [a for o in overrides for a in ("--set", o)]

    def config_yaml(self, change: Callable[[dict], None]) -> None:
        raw = yaml.safe_load(self.config.read_text(encoding="utf-8"))
        change(raw)
        self.config.write_text(yaml.safe_dump(raw, sort_keys=False), encoding="utf-8")

    def playbook(self, change: Callable[[dict], None]) -> None:
        path = self.config.with_name("playbook.yaml")
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
        change(raw)
        path.write_text(yaml.safe_dump(raw, sort_keys=False), encoding="utf-8")

    def own_bundle(self) -> Path:
        copy = self.root / "bundle"
        if not copy.exists():
            shutil.copytree(self.bundle, copy)
        self.bundle = copy
        return copy

    def mount(self, name: str, options: str) -> Path:
        """A tmpfs at root/name (skips the case where mounting is not permitted), unmounted after the case."""
        point = self.root / name
        point.mkdir()
        done = subprocess.run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(point)], capture_output=True)
        if done.returncode != 0:
            pytest.skip(f"cannot mount a tmpfs here ({done.stderr.decode().strip()})")
        self.stack.callback(subprocess.run, ["umount", "-l", str(point)], check=False)
        return point


def snapshot(folder: Path) -> dict[str, str]:
    """Every entry under `folder` (hidden ones too) with its content hash: 'unchanged' means equal snapshots."""
    if not folder.exists():
        return {}
    return {p.relative_to(folder).as_posix(): ("dir" if p.is_dir() else hashlib.sha256(p.read_bytes()).hexdigest())
            for p in sorted(folder.rglob("*"))}


def _yesterday(out: Path) -> None:
    """Outputs of an earlier run that a failed run must leave untouched."""
    (out / "model").mkdir(parents=True)
    (out / "model" / "bundle.json").write_text('{"yesterday": true}\n')
    (out / "scored.csv").write_text("customer_id,p_detractor\nC1,0.5\n")
    (out / "manifest.json").write_text('{"status": "ok", "yesterday": true}\n')


# --------------------------------------------------------------------------------------------- case set-ups
def _fill(folder: Path) -> None:
    """Fill a tmpfs to the last byte, so that even creating the lock fails."""
    with open(folder / "filler", "wb") as f, contextlib.suppress(OSError):
        while True:
            f.write(b"\0" * 65536)
            f.flush()


def _ro_out(e: Env) -> None:
    e.out = e.mount("ro", "ro,size=64k")


def _full_out(e: Env) -> None:
    e.out = e.mount("full", "size=256k")


def _full_at_the_lock(e: Env) -> None:
    e.out = e.mount("full", "size=64k")
    _fill(e.out)


def _full_store(existing: bool) -> Callable[[Env], None]:
    """The MLflow store on a full disk: a new sqlite file, or one that exists (SQLAlchemy's own error, MLflow's)."""
    def setup(e: Env) -> None:
        store = e.mount("store", "size=4m")
        uri = f"sqlite:///{store / 'mlflow.db'}"
        if existing:  # the store's tables and the experiment exist; the next run's rows no longer fit
            from mlflow import MlflowClient

            MlflowClient(uri).create_experiment("cxpredict")
        _fill(store)
        e.argv = ["score", str(e.config), "--model", str(e.bundle), "--out", str(e.out / "scored.csv"),
                  "--tracking-uri", uri]
    return setup


def _immutable_out(e: Env) -> None:
    done = subprocess.run(["chattr", "+i", str(e.out)], capture_output=True)
    if done.returncode != 0:
        pytest.skip(f"chattr +i is not supported here ({done.stderr.decode().strip()})")
    e.stack.callback(subprocess.run, ["chattr", "-i", str(e.out)], check=False)


def _raise_at_mkstemp(code: int) -> Callable[[Env], None]:
    def setup(e: Env) -> None:
        import tempfile

        def refuse(*args, **kwargs):
            raise OSError(code, os.strerror(code), kwargs.get("dir", "?"))

        e.monkeypatch.setattr(tempfile, "mkstemp", refuse)
    return setup


def _raise_at_replace(code: int) -> Callable[[Env], None]:
    def setup(e: Env) -> None:
        real = os.replace

        def refuse(src, dst, *args, **kwargs):
            if ".tmp" in str(src):
                raise OSError(code, os.strerror(code), str(dst))
            return real(src, dst, *args, **kwargs)

        e.monkeypatch.setattr(os, "replace", refuse)
    return setup


def _file_as_parent(deeper: bool) -> Callable[[Env], None]:
    def setup(e: Env) -> None:
        (e.out / "afile").write_text("not a folder\n")
        e.target = e.out / "afile" / ("x/scored.csv" if deeper else "scored.csv")
    return setup


def _folder_as_file(e: Env) -> None:
    (e.out / "scored.csv").unlink()
    (e.out / "scored.csv").mkdir()


def _long_name(e: Env) -> None:
    e.target = e.out / ("s" * 300 + ".csv")


def _fsize(e: Env) -> None:
    e.rlimit_fsize = 200_000  # bytes: the scored file (~1.3 MB) cannot grow past it


def _fsize_generate(e: Env) -> None:
    e.rlimit_fsize = 100_000
    e.argv = ["generate", "--out", str(e.out / "tables"), "--customers", "3000"]


def _signed(e: Env, key: str) -> None:
    """A signed copy of the bundle (signature under `key`)."""
    from cxpredict.io.bundle import SIGNATURE_FILE, signature

    copy = e.own_bundle()
    (copy / SIGNATURE_FILE).write_text(signature((copy / "bundle.json").read_bytes(), key.encode()))


def _signed_then_key(e: Env, sign_key: str, load_key: str) -> None:
    _signed(e, sign_key)
    e.monkeypatch.setenv(KEY_ENV, load_key)


def _resigned_json(e: Env) -> None:
    """Someone without the key edits a model file and recomputes the content hash: only the signature notices."""
    from cxpredict.io.bundle import content_hash

    _signed(e, "right key")
    copy = e.bundle
    features = copy / "features.json"
    features.write_text(features.read_text().replace('"names"', '"names" ', 1))
    info = json.loads((copy / "bundle.json").read_text())
    info["content_hash"] = content_hash(copy)
    (copy / "bundle.json").write_text(json.dumps(info, indent=2))
    e.monkeypatch.setenv(KEY_ENV, "right key")


def _tampered(e: Env) -> None:
    copy = e.own_bundle()
    features = copy / "features.json"
    features.write_text(features.read_text().replace('"names"', '"names" ', 1))


def _bundle_json(text: str) -> Callable[[Env], None]:
    def setup(e: Env) -> None:
        (e.own_bundle() / "bundle.json").write_text(text)
    return setup


def _newer_format(e: Env) -> None:
    path = e.own_bundle() / "bundle.json"
    info = json.loads(path.read_text())
    info["format_version"] = 99
    path.write_text(json.dumps(info))


def _locked(wait: float) -> Callable[[Env], None]:
    def setup(e: Env) -> None:
        from cxpredict.io.outputs import output_lock

        e.stack.enter_context(output_lock(e.out))
        if wait:
            e.args += ["--wait", str(wait)]
    return setup


def _rule_name(name: str) -> Callable[[Env], None]:
    def setup(e: Env) -> None:
        e.playbook(lambda raw: raw["rules"][0].update(name=name))
    return setup


def _one_class(e: Env) -> None:
    e.edit("survey.csv", lambda f: f.assign(score="10"))


def _few_answers(e: Env) -> None:
    e.edit("survey.csv", lambda f: f.head(20))


def _case_mismatch(e: Env) -> None:
    e.edit("survey.csv", lambda f: f.assign(customer_id=f["customer_id"].str.lower()))


def _zeros_mismatch(e: Env) -> None:
    e.edit("survey.csv", lambda f: f.assign(customer_id=f["customer_id"].str.replace("C", "", regex=False)
                                            .str.lstrip("0")))
    for name in ("customers.csv", "usage.csv", "billing.csv", "tickets.csv", "orders.csv", "outcomes.csv"):
        e.edit(name, lambda f: f.assign(customer_id=f["customer_id"].str.replace("C", "", regex=False)))


def _unclosed_quote(e: Env) -> None:
    """A quote opened on line 2 that never closes: the rest of the file (over a block long) becomes one field."""
    filler = pd.DataFrame({"customer_id": [f"X{i:07d}" for i in range(40_000)], "usage_gb_30d": "1.0",
                           "usage_trend": "0.1", "dropped_calls_30d": "0", "network_incidents_90d": "0",
                           "outages_90d": "0"})
    path = e.edit("usage.csv", lambda f: pd.concat([f, filler]))  # written without quotes
    header, second, rest = path.read_bytes().split(b"\n", 2)
    first, others = second.split(b",", 1)
    path.write_bytes(b"\n".join([header, first + b',"' + others, rest]))


def _constant_only(e: Env) -> None:
    e.edit("customers.csv", lambda f: f.assign(plan="mobile"))
    e.set("features.include=[plan]", "drivers.enabled=false")


def _drop_column(name: str, column: str) -> Callable[[Env], None]:
    def setup(e: Env) -> None:
        e.edit(name, lambda f: f.drop(columns=[column]))
    return setup


def _population_without_key(e: Env) -> None:
    customers = pd.read_csv(e.data / "customers.csv", dtype=str)
    customers.rename(columns={"customer_id": "id"}).to_csv(e.data / "population.csv", index=False)
    e.set("data.population=population.csv")


def _plan(*args: str) -> Callable[[Env], None]:
    """survey-plan into the output folder with command-line numbers `args` (e.g. --budget -100)."""
    def setup(e: Env) -> None:
        e.argv = ["survey-plan", str(e.config), "--model", str(e.bundle), "--out", str(e.out / "invites.csv"), *args]
    return setup


def _campaign(e: Env, campaign: str = "spring", day_shift: bool = False) -> tuple[Path, Path]:
    """An assignment log as `score` writes it, and results for the campaign `campaign` (other customers: another
    day's log when `day_shift`), both in the project's data folder."""
    ids = pd.read_csv(e.data / "customers.csv", dtype=str)["customer_id"]
    log = pd.DataFrame({"customer_id": ids[:200], "campaign_id": "spring", "rule": "r", "strategy": "retention",
                        "action": "Call", "group": ["treated", "control"] * 100})
    results = log[["customer_id", "group", "strategy"]].assign(campaign_id=campaign, churned=0)
    if day_shift:
        results["customer_id"] = ids[200:400].to_numpy()
    log.to_csv(e.data / "assignments.csv", index=False)
    results.to_csv(e.data / "results.csv", index=False)
    return e.data / "results.csv", e.data / "assignments.csv"


def _learn(campaign: str = "spring", day_shift: bool = False) -> Callable[[Env], None]:
    def setup(e: Env) -> None:
        results, log = _campaign(e, campaign, day_shift)
        e.argv = ["learn", str(e.config), "--results", str(results), "--assignments", str(log), "--model",
                  str(e.bundle), "--out", str(e.out), "--no-tracking"]
    return setup


def _learn_locked(e: Env) -> None:
    _learn()(e)
    _locked(0)(e)


CASE = tuple[str, str, Callable[[Env], None] | None, int, tuple[str, ...]]
CASES: list[CASE] = [
    # ---- 1. the outputs cannot be written: exit 5, naming the path, the cause and the fix
    ("out-read-only-mount", "score", _ro_out, 5, ("cannot write the outputs", "Read-only file system", "EROFS",
                                                   "writable folder")),
    ("out-disk-full-while-scoring", "score", _full_out, 5, ("No space left on device", "ENOSPC", "df -h")),
    ("out-disk-full-at-the-lock", "train", _full_at_the_lock, 5, ("ENOSPC", "free space")),
    ("out-disk-full-while-saving-the-bundle", "train", _full_out, 5, ("LightGBM could not write", "free space")),
    ("mlflow-store-disk-full-new", "score", _full_store(False), 5, ("MLflow store", "disk is full", "df -h",
                                                                     "--no-tracking")),
    ("mlflow-store-disk-full", "score", _full_store(True), 5, ("MLflow store", "disk is full", "df -h")),
    ("out-immutable-folder", "score", _immutable_out, 5, ("Operation not permitted", "EPERM", "lsattr")),
    ("out-permission-denied", "score", _raise_at_mkstemp(errno.EACCES), 5, ("Permission denied", "EACCES",
                                                                            "write permission")),
    ("out-quota-exceeded", "score", _raise_at_replace(errno.EDQUOT), 5, ("EDQUOT", "free space")),
    ("out-parent-is-a-file", "score", _file_as_parent(False), 5, ("EEXIST", "afile is a file where a folder")),
    ("out-grandparent-is-a-file", "score", _file_as_parent(True), 5, ("ENOTDIR", "afile is a file where a folder")),
    ("out-train-parent-is-a-file", "train", _file_as_parent(False), 5, ("afile is a file where a folder",)),
    ("out-target-is-a-folder", "score", _folder_as_file, 5, ("EISDIR", "is a folder where a file is needed")),
    ("out-name-too-long", "score", _long_name, 5, ("ENAMETOOLONG", "shorten the output path")),
    ("out-file-size-limit", "score", _fsize, 5, ("File too large", "EFBIG", "ulimit -f")),
    ("out-file-size-limit-generate", "generate", _fsize_generate, 5, ("EFBIG", "ulimit -f")),
    # ---- 2. names that reach the file system: exit 2 naming the key
    ("threads-env-not-a-number", "train", lambda e: e.monkeypatch.setenv("CXPREDICT_THREADS", "two"), 2,
     ("CXPREDICT_THREADS", "'two'", "positive whole number", "unset it")),
    ("name-parent-escape", "train", lambda e: e.set("name=../../../escaped"), 2, ("name:", "must not contain '/'")),
    ("name-absolute", "train", lambda e: e.set("name=/tmp/absolute"), 2, ("name:", "no absolute paths")),
    ("name-dot-dot", "train", lambda e: e.set("name=.."), 2, ("name:", "no '..'")),
    ("name-hidden", "train", lambda e: e.set("name=.hidden"), 2, ("name:", "must not start with '.'")),
    ("name-backslash", "validate", lambda e: e.set("name=a\\b"), 2, ("name:", "must not contain")),
    ("name-blank", "validate", lambda e: e.set("name=' '"), 2, ("name:", "must not be empty")),
    ("name-control-character", "validate", lambda e: e.set('name="a\\tb"'), 2, ("name:", "control characters")),
    ("table-name-escape", "validate", lambda e: e.set("data.behaviour.0.name=../x"), 2,
     ("data.behaviour.0.name", "must not contain '/'")),
    ("rule-name-escape", "train", _rule_name("../../rule"), 2, ("rules.0.name", "must not contain '/'",
                                                                "playbook.yaml")),
    ("playbook-name-absolute", "validate", lambda e: e.playbook(lambda r: r.update(name="/etc/p")), 2,
     ("name:", "no absolute paths", "playbook.yaml")),
    # ---- 3. config values handed to a library: exit 2 naming the key and the allowed values
    ("encoding-unknown", "validate", lambda e: e.set("data.read.encoding=utf-99"), 2,
     ("data.read.encoding", "unknown encoding 'utf-99'", "latin-1")),
    ("encoding-not-text", "validate", lambda e: e.set("data.read.encoding=base64"), 2,
     ("data.read.encoding", "not a text encoding")),
    ("delimiter-two-characters", "validate", lambda e: e.set("data.read.delimiter=';;'"), 2,
     ("data.read.delimiter", "one character")),
    ("delimiter-is-the-quote", "validate", lambda e: e.set("data.read.delimiter='\"'"), 2,
     ("data.read.delimiter", "one character")),
    ("quote-is-the-delimiter", "validate", lambda e: e.set("data.read.quote_char=','"), 2,
     ("data.read.quote_char", "not the delimiter")),
    ("quote-two-characters", "validate", lambda e: e.set("data.read.quote_char=\"''\""), 2,
     ("data.read.quote_char", "one character")),
    ("as-of-impossible-date", "validate", lambda e: e.set("data.as_of=2026-13-45"), 2,
     ("data.as_of", "not an ISO date", "2027-06-30")),
    ("as-of-a-word", "validate", lambda e: e.set("data.as_of=yesterday"), 2, ("data.as_of", "not an ISO date")),
    ("as-of-a-number", "validate", lambda e: e.set("data.as_of=20270630"), 2, ("data.as_of", "not a date")),
    ("as-of-after-the-data", "score", lambda e: e.set("data.as_of=2099-01-01"), 2,
     ("data.as_of", "days after the last event", "tickets", "data.force_as_of")),
    ("as-of-option-after-the-data", "score", lambda e: e.args.extend(["--as-of", "2099-01-01"]), 2,
     ("data.as_of", "days after the last event", "data.force_as_of")),
    ("exclude-matches-nothing", "train", lambda e: e.set("features.exclude=[monthly_charge]"), 2,
     ("features.exclude", "'monthly_charge'", "did you mean 'monthly_charges'")),
    ("path-with-nul", "validate", lambda e: e.set('data.dir="da\\0ta"'), 2, ("data.dir", "NUL byte")),
    ("path-blank", "validate", lambda e: e.set("data.survey.path=' '"), 2, ("data.survey.path", "must not be empty")),
    ("override-bad-yaml", "validate", lambda e: e.set("data.read.na_values=[oops"), 2,
     ("data.read.na_values=[oops", "not valid YAML")),
    ("override-list-index", "validate", lambda e: e.set("data.behaviour.9.path=x.csv"), 2,
     ("data.behaviour", "index from 0 to 4")),
    ("override-not-a-section", "validate", lambda e: e.set("seed.x=1"), 2, ("seed.x=1", "not a section")),
    ("override-typo", "validate", lambda e: e.set("nps.num_leafs=3"), 2, ("nps.num_leafs", "unknown key")),
    ("config-is-a-folder", "validate", lambda e: setattr(e, "config", e.data), 2,
     ("is a folder, not a YAML file",)),
    ("config-missing", "validate", lambda e: setattr(e, "config", e.root / "nope.yaml"), 2,
     ("config file not found", "nope.yaml")),
    ("config-is-a-list", "validate", lambda e: e.config.write_text("- a\n- b\n"), 2, ("must be a YAML mapping",)),
    ("config-not-utf8", "validate", lambda e: e.config.write_bytes(b"name: \xff\xfe\x00bad"), 2,
     ("not valid UTF-8 YAML",)),
    ("playbook-missing", "train", lambda e: e.set("strategy.playbook=nope.yaml"), 2,
     ("strategy.playbook", "nope.yaml", "not found")),
    ("playbook-missing-validate", "validate", lambda e: e.set("strategy.playbook=nope.yaml"), 2,
     ("strategy.playbook", "not found")),
    ("playbook-is-a-folder", "validate", lambda e: e.set("strategy.playbook=."), 2,
     ("strategy.playbook", "is a folder", "playbook.yaml")),
    # ---- 6. encodings and parsing, diagnosed correctly
    ("utf16-without-mark", "validate", lambda e: e.write("billing.csv", (e.data / "billing.csv").read_text()
                                                         .encode("utf-16-le")), 2,
     ("billing.csv", "UTF-16", "data.read.encoding")),
    ("latin1-bytes", "validate", lambda e: e.write("customers.csv", (e.data / "customers.csv").read_bytes()
                                                   .replace(b"north", b"n\xf6rth")), 2,
     ("customers.csv", "cannot decode", "data.read.encoding")),
    ("unclosed-quote", "validate", _unclosed_quote, 2, ("usage.csv", "never closes", "data.read.quote_char")),
    ("wrong-delimiter", "validate", lambda e: e.edit("usage.csv", lambda f: f, sep=";"), 2,
     ("usage.csv", "missing column", "data.read.delimiter")),
    # ---- input tables: exit 2 naming file, column, rows and fix
    ("survey-missing-file", "validate", lambda e: (e.data / "survey.csv").unlink(), 2,
     ("survey.csv", "file not found", "data.survey")),
    ("table-is-an-empty-folder", "validate", lambda e: ((e.data / "usage.csv").unlink(),
                                                         (e.data / "usage.csv").mkdir()), 2,
     ("usage.csv", "holds no .parquet files")),
    ("survey-zero-bytes", "validate", lambda e: e.write("survey.csv", b""), 2, ("survey.csv", "empty (0 bytes)")),
    ("survey-header-only", "validate", lambda e: e.write("survey.csv", "customer_id,score,answered_at,reasons\n"), 2,
     ("survey.csv", "no data rows")),
    ("score-out-of-scale", "validate", lambda e: e.edit("survey.csv", lambda f: f.assign(score="11")), 2,
     ("survey.csv", "'score'", "from 0 to 10", "rows 2, 3")),
    ("score-as-words", "validate", lambda e: e.edit("survey.csv", lambda f: f.assign(score="ten")), 2,
     ("survey.csv", "'score'", "whole numbers")),
    ("duplicate-ids", "validate", lambda e: e.edit("customers.csv", lambda f: pd.concat([f, f.head(2)])), 2,
     ("customers.csv", "'customer_id'", "repeat", "C0000001")),
    ("empty-id", "validate", lambda e: e.edit("billing.csv", lambda f: f.assign(
        customer_id=f["customer_id"].mask(f.index == 3, "  "))), 2, ("billing.csv", "is empty at row 5")),
    ("missing-score-column", "validate", lambda e: e.edit("survey.csv", lambda f: f.rename(columns={
        "score": "Score "})), 2, ("survey.csv", "missing column", "did you mean 'Score '")),
    ("number-column-with-text", "validate", lambda e: e.edit("usage.csv", lambda f: f.assign(
        usage_gb_30d=f["usage_gb_30d"].mask(f.index < 3, "n/a"))), 2,
     ("usage.csv", "'usage_gb_30d'", "mixes numbers and text", "na_values")),
    ("bad-event-timestamps", "validate", lambda e: e.edit("tickets.csv", lambda f: f.assign(
        opened_at=f["opened_at"].mask(f.index == 0, "31/31/2026"))), 2,
     ("tickets.csv", "'opened_at'", "unreadable timestamps", "ISO dates")),
    ("churn-label-not-binary", "validate", lambda e: e.edit("outcomes.csv", lambda f: f.assign(
        churned=f["churned"].mask(f.index == 1, "maybe"))), 2, ("outcomes.csv", "'churned'", "0/1")),
    ("corrupt-parquet", "validate", lambda e: (e.write("usage.parquet", b"PAR1 not really"),
                                               e.set("data.behaviour.1.path=usage.parquet")), 2,
     ("usage.parquet", "cannot read the file")),
    ("answers-in-one-class", "train", _one_class, 2, ("survey.csv", "'score'", "are promoters", "two classes")),
    ("too-few-answers", "train", _few_answers, 2, ("survey.csv", "at least 50")),
    ("survey-ids-match-no-customer", "validate", lambda e: e.edit("survey.csv", lambda f: f.assign(
        customer_id="S-" + f["customer_id"])), 2, ("survey.csv", "none of its", "customers.csv", "data.survey.key")),
    ("ids-differ-in-case", "train", _case_mismatch, 2, ("survey.csv", "letter case", "'c0", "'C0")),
    ("ids-lose-leading-zeros", "train", _zeros_mismatch, 2, ("survey.csv", "leading zeros")),
    ("features-all-constant", "train", _constant_only, 2, ("every candidate column is empty or constant", "plan")),
    ("features-include-unknown", "train", lambda e: e.set("features.include=[plann]"), 2,
     ("features.include", "plann", "did you mean 'plan'")),
    ("score-missing-feature-names-its-table", "score", _drop_column("usage.csv", "dropped_calls_30d"), 2,
     ("dropped_calls_30d", "from customer table 'usage'", "usage.csv")),
    ("score-number-column-now-text", "score", lambda e: e.edit("usage.csv", lambda f: f.assign(
        usage_gb_30d="high")), 2, ("'usage_gb_30d'", "from customer table 'usage'", "usage.csv", "should be numeric")),
    ("score-population-without-key", "score", _population_without_key, 2,
     ("population.csv", "customer_id", "data.key")),
    ("score-scale-differs", "score", lambda e: e.set("scale.max=11"), 2, ("scale", "differs from the bundle")),
    # ---- numbers from the command line: the checks of numbers in files (finite, in range), exit 2 naming them
    ("plan-budget-negative", "survey-plan", _plan("--budget", "-100"), 2, ("--budget -100", "greater than 0")),
    ("plan-budget-nan", "survey-plan", _plan("--budget", "nan"), 2, ("--budget nan", "finite number")),
    ("plan-budget-zero", "survey-plan", _plan("--budget", "0"), 2, ("--budget 0", "greater than 0")),
    ("plan-target-infinite", "survey-plan", _plan("--target-halfwidth", "inf"), 2,
     ("--target-halfwidth inf", "finite")),
    ("wait-nan", "score", lambda e: e.args.extend(["--wait", "nan"]), 2, ("--wait nan", "finite number")),
    ("evaluate-holdout-nan", "evaluate", lambda e: setattr(e, "argv", [
        "evaluate", str(e.config), "--out", str(e.out), "--holdout", "nan", "--no-tracking"]), 2,
     ("--holdout nan", "finite number")),
    # ---- campaign learning: messages that name both files
    ("learn-results-of-another-campaign", "learn", _learn(campaign="autumn"), 2,
     ("results.csv holds campaign(s) ['autumn']", "assignments.csv holds ['spring']", "--campaign-id")),
    ("learn-another-days-log", "learn", _learn(day_shift=True), 2,
     ("results.csv", "assignments.csv", "another day's")),
    ("learn-folder-locked", "learn", _learn_locked, 6, ("is in use by pid", "--wait")),
    # ---- 11. bundles: exit 4
    ("bundle-missing", "score", lambda e: setattr(e, "bundle", e.root / "nowhere"), 4, ("not a model bundle",)),
    ("bundle-tampered", "score", _tampered, 4, ("content hash mismatch", "features.json changed")),
    ("bundle-file-added", "score", lambda e: (e.own_bundle() / "nps" / "extra.txt").write_text("x"), 4,
     ("content hash mismatch", "nps/extra.txt added")),
    ("bundle-json-garbage", "score", _bundle_json("{not json"), 4, ("unreadable bundle metadata",)),
    ("bundle-json-not-an-object", "score", _bundle_json("[1, 2]"), 4, ("not a JSON object",)),
    ("bundle-newer-format", "score", _newer_format, 4, ("newer than this cxpredict",)),
    ("bundle-unsigned-with-key", "score", lambda e: e.monkeypatch.setenv(KEY_ENV, "k"), 4,
     ("not signed", KEY_ENV)),
    ("bundle-signed-empty-key", "score", lambda e: _signed_then_key(e, "k", ""), 4,
     ("signed", KEY_ENV, "empty", "unmounted secret")),
    ("bundle-signed-with-another-key", "score", lambda e: _signed_then_key(e, "one key", "another key"), 4,
     ("signature mismatch",)),
    ("bundle-rehashed-after-a-change", "score", _resigned_json, 4, ("signature mismatch",)),
    ("bundle-signature-garbage", "score", lambda e: (_signed_then_key(e, "k", "k"),
                                                     (e.bundle / "bundle.sig").write_text("hmac-sha256:00")), 4,
     ("signature mismatch",)),
    # ---- 12. one run per output folder: exit 6
    ("folder-locked", "score", _locked(0), 6, ("is in use by pid", "--wait")),
    ("folder-locked-wait-expires", "score", _locked(0.3), 6, ("is in use by pid",)),
    ("folder-locked-train", "train", _locked(0), 6, ("another cxpredict run",)),
]
assert len(CASES) >= 60 and len({c[0] for c in CASES}) == len(CASES)


def _command(e: Env, command: str) -> list[str]:
    if e.argv is not None:
        return e.argv
    if command == "validate":
        return ["validate", str(e.config), *e.args]
    if command == "train":
        return ["train", str(e.config), "--out", str(e.target or e.out / "model"), "--no-tracking", *e.args]
    return ["score", str(e.config), "--model", str(e.bundle), "--out", str(e.target or e.out / "scored.csv"),
            "--no-tracking", *e.args]


def _in_subprocess(argv: list[str], fsize: int) -> tuple[int, str]:
    code = ("import resource, sys; resource.setrlimit(resource.RLIMIT_FSIZE, ({0}, {0})); "
            "from cxpredict.cli.app import main; sys.exit(main(sys.argv[1:]))").format(fsize)
    done = subprocess.run([sys.executable, "-c", code, *argv], capture_output=True, text=True, timeout=300,
                          env={**os.environ, "OMP_WAIT_POLICY": "PASSIVE"})
    return done.returncode, done.stdout + done.stderr


@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_failure_catalogue(case, fast_demo_config_path, trained_bundle, tmp_path, monkeypatch, capsys, caplog):
    name, command, setup, code, expected = case
    shutil.copytree(fast_demo_config_path.parents[1], tmp_path / "project")
    with contextlib.ExitStack() as stack:
        e = Env(root=tmp_path, config=tmp_path / "project" / "configs" / "demo_fast.yaml",
                data=tmp_path / "project" / "data" / "demo", bundle=trained_bundle, monkeypatch=monkeypatch,
                stack=stack, out=tmp_path / "out")
        _yesterday(e.out)
        if setup is not None:
            setup(e)
        before, inputs = snapshot(e.out), snapshot(tmp_path / "project")
        argv = _command(e, command)
        if e.rlimit_fsize is not None:
            rc, text = _in_subprocess(argv, e.rlimit_fsize)
        else:
            rc = main(argv)
            captured = capsys.readouterr()
            text = captured.err + captured.out + caplog.text
        after = snapshot(e.out)
        monkeypatch.undo()  # a patched os.replace / tempfile must not outlive the case's run
    assert rc == code, f"{name}: exit {rc}, expected {code}\n{text[-3000:]}"
    for words in expected:
        assert words in text, f"{name}: the message does not name {words!r}:\n{text[-3000:]}"
    assert "Traceback" not in text, f"{name}: a traceback reached the user:\n{text[-3000:]}"
    assert after == before, f"{name}: the output folder changed: {set(after) ^ set(before)}"
    assert snapshot(tmp_path / "project") == inputs, f"{name}: the inputs changed"
    assert not (tmp_path / "escaped").exists() and not Path("/tmp/absolute").exists()


# --------------------------------------------------------------------------------------------- repaired, not refused
def test_messy_but_usable_inputs_train_score_and_report_with_warnings(fast_demo_config_path, tmp_path, caplog):
    """Infinite and huge numbers (a feature that is also the value column, a usage column, an event column), a
    UTF-16 table with its byte-order mark, padded survey IDs, a constant column, a date from `--set` and the
    leftover of a killed training run: all repaired with a warning naming file, column and rows; every
    downstream use (features, value at risk, reason text, summaries, report) stays finite."""
    import numpy as np

    shutil.copytree(fast_demo_config_path.parents[1], tmp_path / "project")
    config = tmp_path / "project" / "configs" / "demo_fast.yaml"
    e = Env(root=tmp_path, config=config, data=tmp_path / "project" / "data" / "demo", bundle=tmp_path,
            monkeypatch=None, stack=None)
    e.edit("customers.csv", lambda f: f.assign(
        monthly_charges=f["monthly_charges"].mask(f.index < 3, ["inf", "-inf", "1e308"] + [""] * (len(f) - 3)),
        constant_col="same", tenure_months="12", age=""))  # the whole 'Tenure & age' driver group uninformative
    e.edit("usage.csv", lambda f: f.assign(usage_gb_30d=f["usage_gb_30d"].mask(f.index < 4, "1e400"),
                                           outages_90d="0"))  # a quarter without outages
    e.edit("tickets.csv", lambda f: f.assign(resolution_hours=f["resolution_hours"].mask(f.index < 2, "inf")))
    e.edit("survey.csv", lambda f: f.assign(customer_id=f["customer_id"].mask(f.index < 5, " " + f["customer_id"])))
    billing = e.data / "billing.csv"
    billing.write_bytes(billing.read_text(encoding="utf-8").encode("utf-16"))
    out = tmp_path / "out"
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    stale = out / f".model.cxpid{int(dead.stdout)}.abcd.tmp"  # what a SIGKILLed `train` leaves behind
    (stale / "nps").mkdir(parents=True)
    (stale / "nps" / "model.txt").write_text("half a model")

    common = ["--set", "data.as_of=2026-10-31", "--no-tracking"]
    assert main(["train", str(config), "--out", str(out / "model"), *common]) == 0, caplog.text[-3000:]
    log = caplog.text
    assert not stale.exists(), "the next training run removes a killed run's temporary bundle"
    for words in ("customers.csv", "'monthly_charges': 3 row(s)", "usage.csv", "'usage_gb_30d': 4 row(s)",
                  "tickets.csv", "'resolution_hours': 2 row(s)", "billing.csv", "UTF-16 LE byte-order mark",
                  "survey.csv", "leading/trailing spaces removed from 5 of", "'constant_col' (the same value 'same'",
                  "dropped from the model", "drivers.groups 'Network quality': kept without 'outages_90d'",
                  "drivers.groups 'Tenure & age': left out", "of 5,000 customers have no usable 'monthly_charges'"):
        assert words in log, f"the warnings do not name {words!r}"

    assert main(["score", str(config), "--model", str(out / "model"), "--out", str(out / "scored.csv"),
                 *common]) == 0, caplog.text[-3000:]
    scored = pd.read_csv(out / "scored.csv", encoding="utf-8-sig", low_memory=False)
    numbers = scored.select_dtypes("number")
    assert np.isfinite(numbers.to_numpy(dtype=float)[~numbers.isna().to_numpy()]).all()
    first = scored.set_index("customer_id").loc[["C0000001", "C0000002", "C0000003"]]
    assert (first["value"] == 1.0).all(), "a non-finite value column counts as missing: churn.value.default"
    raw = pd.read_csv(e.data / "customers.csv", dtype=str, keep_default_na=False).set_index("customer_id")
    placeholder = raw["monthly_charges"].isin(["", "inf", "-inf", "1e308"])  # the demo has empty ones of its own
    flagged = scored.set_index("customer_id")["value_imputed"].reindex(raw.index)
    assert (flagged == placeholder.astype(int)).all() and first["value_imputed"].tolist() == [1, 1, 1], "not silent"
    assert f"{int(placeholder.sum())} of 5,000 customers have no usable 'monthly_charges'" in caplog.text
    assert "Tenure & age" not in set(scored["driver_1"].dropna()) and "Network quality" in set(scored["driver_1"])
    orders = pd.read_csv(out / "work_orders.csv", encoding="utf-8-sig")
    assert orders["reason"].str.contains("value at risk").any() and not orders["reason"].str.contains("inf").any()
    manifest = json.loads((out / "manifest.json").read_text())
    assert any("'monthly_charges': 3 row(s)" in w for w in manifest["warnings"])
    assert any("value_imputed = 1" in w and "C0000001" in w for w in manifest["warnings"])
    summary = pd.read_csv(out / "segment_summary.csv", encoding="utf-8-sig").select_dtypes("number")
    assert np.isfinite(summary.to_numpy(dtype=float)[~summary.isna().to_numpy()]).all()

    assert main(["report", str(out), "--out", str(out / "report.html")]) == 0, caplog.text[-3000:]
    assert (out / "report.html").stat().st_size > 10_000
    assert not [p.name for p in out.iterdir() if p.name.startswith(".")], "no temporary leftovers, no lock file"


def test_non_finite_numbers_handed_over_in_memory_are_missing_too(trained_bundle, demo_config, caplog):
    """The API / pyfunc path: a frame that never went through a reader gets the same policy."""
    import numpy as np

    from cxpredict.data.customers import load_customers
    from cxpredict.io.bundle import load_bundle
    from cxpredict.workflows.score import score_frame

    frame = load_customers(demo_config).frame.head(50).copy()
    frame.iloc[:3, frame.columns.get_loc("monthly_charges")] = [np.inf, -np.inf, 1e308]
    out = score_frame(load_bundle(trained_bundle), frame, demo_config)
    assert (out["value"].iloc[:3] == demo_config.churn.value.default).all()
    assert np.isfinite(out[["p_detractor", "value", "value_at_risk"]].to_numpy(dtype=float)).all()
    assert "'monthly_charges': 3 row(s)" in caplog.text


def test_sigterm_during_training_releases_the_lock_and_leaves_the_folder_as_it_was(fast_demo_config_path,
                                                                                    tmp_path):
    import signal
    import time

    out = tmp_path / "out"
    _yesterday(out)
    before = snapshot(out)
    proc = subprocess.Popen([sys.executable, "-m", "cxpredict.cli.app", "train", str(fast_demo_config_path),
                             "--out", str(out / "model"), "--no-tracking"], stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "OMP_WAIT_POLICY": "PASSIVE"})
    deadline = time.monotonic() + 120
    while not (out / ".cxpredict.lock").exists() and time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.05)
    time.sleep(1.0)  # inside training
    proc.send_signal(signal.SIGTERM)
    rc = proc.wait(timeout=120)
    err = proc.stderr.read()
    assert rc == 143, err[-2000:]
    assert "stopped by SIGTERM" in err and "Traceback" not in err
    assert snapshot(out) == before, "lock released and removed, no temporary bundle, yesterday's files untouched"
