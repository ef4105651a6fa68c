"""Regenerating the provisioning tree: `agentslo dashboards build [--config FILE] [--out DIR]`."""

from __future__ import annotations

from pathlib import Path

from agentslo.config import load_config
from dashboards._provisioning import write_provisioning
from slo import slo_from_spec, spend_budget_from_spec

PACKAGE_DIR = Path(__file__).parent
PROVISIONING_DIR = PACKAGE_DIR / "provisioning"
EXAMPLE_CONFIG = PACKAGE_DIR / "example.yaml"


def build(config_file: Path = EXAMPLE_CONFIG, out: Path = PROVISIONING_DIR) -> list[Path]:
    """Write the provisioning tree for the SLOs and spend budgets of `config_file`; return the files written."""
    config = load_config(config_file, env={})
    return write_provisioning(out, [slo_from_spec(spec) for spec in config.slos],
                              [spend_budget_from_spec(spec) for spec in config.budgets])

