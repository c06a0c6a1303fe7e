"""`cxpredict validate`: every problem of a config and its input tables found at once, before any work."""

from __future__ import annotations

from cxpredict.actions.strategy import configured_playbook
from cxpredict.config import Config
from cxpredict.data.customers import DataReport, load_customers, validate_inputs
from cxpredict.data.invitations import load_invitations
from cxpredict.errors import CxError


def check_inputs(cfg: Config) -> tuple[list[CxError], list[str]]:
    """(problems, warnings): the playbook (strategy.playbook: a ConfigError naming the key is raised at once),
    every input table, and the invitation logs against the customers they name (read only when the tables are
    sound). Warnings are what training would repair and log."""
    configured_playbook(cfg.resolved_strategy(), cfg.absent_stages())
    report = DataReport()
    problems = validate_inputs(cfg, report)
    if not problems and cfg.data.invitations:
        try:
            load_invitations(cfg, load_customers(cfg).frame.index)
        except CxError as e:
            problems.append(e)
    return problems, list(report.warnings)
