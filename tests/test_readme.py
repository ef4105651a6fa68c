"""The README's examples work as written: every YAML block is a valid config, every command it names exists."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from agentslo.config import load_config
from tests.test_serve import Served, start

README = (Path(__file__).resolve().parents[1] / "README.md").read_text(encoding="utf-8")
BLOCKS = re.findall(r"```yaml\n(.*?)```", README, flags=re.S)
# The variables the examples name for their secrets, set as a user would.
SECRETS = {name: "https://hooks.example.com/agentslo" if name.endswith("_URL") else "example-key-0123456789abcdef"
           for name in re.findall(r"_env: ([A-Z_][A-Z0-9_]*)", README)}


def merged(blocks: list[str]) -> dict[str, Any]:
    """The README's blocks as one config: mappings merged section by section, lists of SLOs and budgets
    joined (a later item of the same name replacing an earlier one)."""
    config: dict[str, Any] = {}
    for block in blocks:
        for section, value in yaml.safe_load(block).items():
            if isinstance(value, list):
                named = {item["name"]: item for item in config.get(section, []) + value}
                config[section] = list(named.values())
            elif isinstance(value, dict):
                config[section] = {**config.get(section, {}), **value}
            else:
                config[section] = value
    return config


@pytest.mark.parametrize("block", BLOCKS, ids=[f"block {i} ({b.split(':', 1)[0]})" for i, b in enumerate(BLOCKS)])
def test_every_yaml_block_is_a_config_on_its_own(block: str, tmp_path: Path) -> None:
    if "alerts:" in block and "slos:" in block.split("alerts:", 1)[1]:
        block = "\n".join(b for b in BLOCKS if b.lstrip().startswith("slos:") or b is block)
    path = tmp_path / "agentslo.yaml"
    path.write_text(block)
    load_config(path, env=SECRETS)


def test_the_blocks_together_are_one_valid_config(tmp_path: Path) -> None:
    config = merged([b for b in BLOCKS if "clickhouse_url" not in b])   # the embedded store, as documented
    path = tmp_path / "agentslo.yaml"
    path.write_text(yaml.safe_dump(config))
    loaded = load_config(path, env=SECRETS)
    assert {slo.name for slo in loaded.slos} >= {"checkout-availability", "checkout-latency"}


COMMANDS = sorted(set(re.findall(r"\.venv/bin/agentslo ([a-z]+(?: build)?)", README)))


@pytest.mark.parametrize("command", COMMANDS)
def test_every_agentslo_command_the_readme_names_exists(command: str) -> None:
    agentslo = str(Path(sys.executable).parent / "agentslo")
    result = subprocess.run([agentslo, *command.split(), "--help"], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr


def runnable(line: str) -> bool:
    """A README command this machine can run against a service: an agentslo command or a curl, not a
    synopsis ([...]), not serve or demo (they run until stopped)."""
    command = line.split("#", 1)[0].strip()
    return (command.startswith((".venv/bin/agentslo ", "curl ")) and "[" not in command
            and not command.startswith((".venv/bin/agentslo serve", ".venv/bin/agentslo demo")))


GUIDE = (Path(__file__).resolve().parents[1] / "docs" / "instrumenting.md").read_text(encoding="utf-8")
GUIDE_CURL = next(block for block in re.findall(r"```sh\n(.*?)```", GUIDE, flags=re.S) if "/v1/traces" in block)
SHELL = [line.split("#", 1)[0].strip() for block in re.findall(r"```sh\n(.*?)```", README, flags=re.S)
         for line in block.splitlines() if runnable(line)]


@pytest.fixture(scope="module")
def readme_service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Served, Path]]:
    """`agentslo serve` on the README's own config, in a directory that holds it as agentslo.yaml: open, on
    loopback, as the README's commands (which send no key) expect; its auth section is for the next step."""
    home = tmp_path_factory.mktemp("readme")
    config = merged([b for b in BLOCKS if "clickhouse_url" not in b])
    del config["auth"]
    (home / "agentslo.yaml").write_text(yaml.safe_dump(config))
    served = start("--config", str(home / "agentslo.yaml"), "--data", str(home / "data"), env=SECRETS)
    served.wait_until("/readyz", 200)
    # The trace the README's commands look up is the one docs/instrumenting.md sends with curl: send it as written.
    sent = subprocess.run(["bash", "-c", GUIDE_CURL.replace("localhost:4318", served.url.split("//", 1)[1])],
                          capture_output=True, text=True, timeout=60)
    assert (sent.returncode, sent.stdout.strip()) == (0, "{}"), sent.stderr
    yield served, home
    served.stop()


@pytest.mark.parametrize("command", SHELL)
def test_every_shell_command_of_the_readme_that_can_run_here_runs(readme_service: tuple[Served, Path],
                                                                  command: str) -> None:
    served, home = readme_service
    port = served.url.rsplit(":", 1)[1]
    line = (command.replace(".venv/bin/agentslo", str(Path(sys.executable).parent / "agentslo"))
            .replace("localhost:4318", f"127.0.0.1:{port}").replace("127.0.0.1:4318", f"127.0.0.1:{port}"))
    result = subprocess.run(["bash", "-c", line + (" --fail" if line.startswith("curl") else "")], cwd=home,
                            capture_output=True, text=True, timeout=120,
                            env={**os.environ, **SECRETS, "AGENTSLO_HTTP_PORT": port, "AGENTSLO_URL": ""})
    assert result.returncode == 0, result.stdout + result.stderr
