"""Yes/no options read the same everywhere: `--flag`, `--flag true`, `--flag=yes`; `--flag false` is off."""

import json
import re

import pytest
import typer.main

from cxpredict.cli.app import app, main
from cxpredict.cli.flags import _options, _walk, flag_words

ROOT = typer.main.get_command(app)


def _flags():
    """(command path, flag name) for every flag of every command, --help included."""
    for command in _walk(ROOT):
        path = [] if command is ROOT else _path(command)
        for name, option in _options(command).items():
            if option.is_flag:
                yield path, name, option


def _path(target):
    for name, command in ROOT.commands.items():
        if command is target:
            return [name]
        for sub_name, sub in getattr(command, "commands", {}).items():
            if sub is target:
                return [name, sub_name]
    raise AssertionError(target.name)


@pytest.mark.parametrize("word", ["true", "TRUE", "yes", "on", "1"])
def test_every_flag_reads_a_yes_word_as_itself(word):
    flags = list(_flags())
    assert len(flags) > 15  # every command's flags, not just the root's
    for path, name, _ in flags:
        assert flag_words(ROOT, [*path, name, word, "cfg.yaml"]) == [*path, name, "cfg.yaml"], (path, name)
        assert flag_words(ROOT, [*path, f"{name}={word}"]) == [*path, name], (path, name)


@pytest.mark.parametrize("word", ["false", "No", "off", "0"])
def test_every_flag_reads_a_no_word_as_off(word):
    for path, name, option in _flags():
        pair = [*option.opts, *option.secondary_opts]  # --two-rounds/--one-round: "false" says the other one
        other = [pair[1 - pair.index(name)]] if option.secondary_opts else []
        assert flag_words(ROOT, [*path, name, word, "cfg.yaml"]) == [*path, *other, "cfg.yaml"], (path, name)


def test_values_of_other_options_and_arguments_are_left_alone():
    args = ["train", "cfg.yaml", "--alias", "true", "--set", "tracking.enabled=false", "--no-tracking", "x.yaml"]
    assert flag_words(ROOT, args) == args
    assert flag_words(ROOT, ["score", "--", "--no-tracking", "true"]) == ["score", "--", "--no-tracking", "true"]
    assert flag_words(ROOT, ["--log-json", "maybe"]) == ["--log-json", "maybe"]  # click then says what is wrong


@pytest.mark.parametrize("word", ["true", "false"])
def test_log_json_with_a_word_runs_the_command(word, tmp_path, capsys):
    """The issue's trip: `--log-json true` was read as a command named 'true'."""
    assert main(["--log-json", word, "validate", str(tmp_path / "missing.yaml")]) == 2
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if line.strip()]
    assert lines and "missing.yaml" in lines[-1]
    assert (lines[-1].startswith("{") and json.loads(lines[-1])["exit_code"] == 2) == (word == "true")


def test_no_flag_shows_a_value_in_the_help(capsys):
    for path in [[], *([name] for name in ROOT.commands), ["playbook", "check"]]:
        assert main([*path, "--help"]) == 0
        out = capsys.readouterr().out
        assert "<bool>" not in out, f"{path}: a flag shows <bool>"


def test_help_texts_have_no_stray_gaps_or_breaks():
    """No ' .' before a space (a dropped word), no double space, and no line break inside the one-line summary
    (the command list would show the break)."""
    for command in _walk(ROOT):
        texts = [command.help or ""] + [getattr(p, "help", None) or "" for p in command.params]
        for text in texts:
            assert not re.search(r" \.(\s|$)|  | ,", text), f"{command.name}: {text!r}"
        summary = (command.help or "").split("\n\n")[0]
        assert "\n" not in summary, f"{command.name}: its summary breaks a line: {summary!r}"
