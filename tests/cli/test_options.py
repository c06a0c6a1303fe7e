"""The shared options: added to a command's signature once by `@shared`, handed to it as one `Run`."""

from __future__ import annotations

import inspect

import pytest
import typer
from typer.testing import CliRunner

from cxpredict.cli.options import Run, shared


def test_shared_adds_the_options_after_the_config_argument_and_hands_over_one_run(tmp_path):
    app = typer.Typer()
    seen: list[Run] = []

    @app.command()
    @shared("config", "set", "as_of", "wait")
    def command(run: Run, out: str = "x") -> None:
        seen.append(run)
        typer.echo(out)

    assert list(inspect.signature(command).parameters) == ["config", "out", "set_", "as_of", "wait"]
    config = tmp_path / "c.yaml"
    result = CliRunner().invoke(app, [str(config), "--set", "seed=3", "--as-of", "2027-06-30", "--out", "y"])
    assert result.exit_code == 0, result.output
    assert result.output.strip() == "y"
    assert seen[0].config_path == config and seen[0].wait == 0.0
    assert seen[0].overrides == ["seed=3", 'data.as_of="2027-06-30"']


def test_an_unknown_shared_option_is_refused_when_the_command_is_defined():
    with pytest.raises(ValueError, match="unknown shared options"):
        shared("config", "threads")
