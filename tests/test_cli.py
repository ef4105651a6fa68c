"""`agentslo check`: the installed command validates a config file."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

AGENTSLO = str(Path(sys.executable).parent / "agentslo")


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([AGENTSLO, *args], capture_output=True, text=True, timeout=60)


def test_check_accepts_a_valid_file(tmp_path: Path) -> None:
    path = tmp_path / "agentslo.yaml"
    path.write_text("version: 1\nserver:\n  http_port: 4318\n")
    result = run("check", str(path))
    assert (result.returncode, result.stdout) == (0, f"{path}: ok (storage: embedded, 0 SLOs, 0 spend budgets, 0 receivers)\n")


def test_check_names_every_bad_field_and_exits_1(tmp_path: Path) -> None:
    path = tmp_path / "broken.yaml"
    path.write_text("server:\n  http_port: -1\nstorage:\n  databse: x\n")
    result = run("check", str(path))
    assert result.returncode == 1
    assert result.stderr.splitlines() == [
        "error: broken.yaml: server.http_port: must be greater than or equal to 0",
        "error: broken.yaml: storage.databse: unknown field "
        "(expected one of: data_dir, clickhouse_url, password_env, database, cluster)",
    ]


def test_check_ignores_the_environment_so_it_judges_the_file_alone(tmp_path: Path) -> None:
    path = tmp_path / "agentslo.yaml"
    path.write_text("server:\n  http_port: 70000\n")
    result = subprocess.run([AGENTSLO, "check", str(path)], capture_output=True, text=True, timeout=60,
                            env={"AGENTSLO_HTTP_PORT": "80", "PATH": "/usr/bin:/bin"})
    assert result.returncode == 1
    assert "server.http_port: must be less than or equal to 65535" in result.stderr


def test_pricing_shows_the_entry_a_dated_model_name_matches() -> None:
    result = run("pricing", "--model", "gpt-4o-mini-2024-07-18", "--json")
    assert result.returncode == 0
    assert json.loads(result.stdout) == [{
        "model": "gpt-4o-mini", "provider": "openai", "input_usd_per_mtok": 0.15, "output_usd_per_mtok": 0.6,
        "cache_read_usd_per_mtok": 0.075, "cache_write_usd_per_mtok": 0.15, "effective_from": "2024-07-18",
    }]


def test_pricing_includes_config_overrides(tmp_path: Path) -> None:
    path = tmp_path / "agentslo.yaml"
    path.write_text("pricing:\n  models:\n    - {model: acme-llm, provider: acme, effective_from: 2025-01-01,\n"
                    "       input_usd_per_mtok: 1, output_usd_per_mtok: 2}\n")
    result = run("pricing", "--config", str(path))
    assert result.returncode == 0
    assert "acme-llm" in result.stdout and "gpt-4o-mini" in result.stdout


def test_pricing_of_an_unknown_model_says_it_is_unpriced() -> None:
    result = run("pricing", "--model", "my-private-llm")
    assert (result.returncode, result.stderr) == (1, "no price for 'my-private-llm': its spans are stored as unpriced\n")


def test_check_names_the_slo_and_field_of_each_problem(tmp_path: Path) -> None:
    path = tmp_path / "agentslo.yaml"
    path.write_text(
        "slos:\n"
        "  - name: checkout-availability\n"
        "    objective: 99.5\n"
        "    window: 28d\n"
        "    sli: {kind: availability, over: tasks}\n"
        "  - name: checkout-latency\n"
        "    objective: 100\n"
        "    window: 28d\n"
        "    sli: {kind: latency, over: tasks, threshold: 30s}\n"
    )
    result = run("check", str(path))
    assert result.returncode == 1
    assert result.stderr == "error: agentslo.yaml: slos[1] (checkout-latency).objective: must be below 100\n"


def test_check_counts_valid_slos(tmp_path: Path) -> None:
    path = tmp_path / "agentslo.yaml"
    path.write_text("slos:\n  - {name: a, objective: 99, window: 7d, sli: {kind: availability, over: tasks}}\n")
    result = run("check", str(path))
    assert (result.returncode, result.stdout) == (0, f"{path}: ok (storage: embedded, 1 SLO, 0 spend budgets, 0 receivers)\n")


OPENSLO = """\
apiVersion: openslo/v1
kind: Service
metadata: {name: checkout}
spec: {}
---
apiVersion: openslo/v1
kind: SLO
metadata: {name: checkout-availability}
spec:
  service: checkout
  budgetingMethod: Occurrences
  timeWindow: [{duration: 28d, isRolling: true}]
  objectives: [{target: 0.995}]
  indicator:
    metadata: {name: checkout-ok}
    spec:
      ratioMetric:
        counter: true
        good: {metricSource: {type: agentslo, spec: {kind: availability}}}
        total: {metricSource: {type: agentslo, spec: {over: tasks}}}
"""


def test_openslo_documents_become_a_config_that_checks(tmp_path: Path) -> None:
    source = tmp_path / "checkout.openslo.yaml"
    source.write_text(OPENSLO)
    converted = run("openslo", str(source))
    assert converted.returncode == 0, converted.stderr
    assert converted.stdout == ("slos:\n- name: checkout-availability\n  objective: 99.5\n  window: 28d\n"
                                "  sli:\n    kind: availability\n")
    config = tmp_path / "agentslo.yaml"
    config.write_text(converted.stdout)
    assert run("check", str(config)).stdout == f"{config}: ok (storage: embedded, 1 SLO, 0 spend budgets, 0 receivers)\n"


def test_openslo_problems_name_the_document_and_field(tmp_path: Path) -> None:
    source = tmp_path / "bad.yaml"
    source.write_text(OPENSLO.replace("target: 0.995", "target: 1.5"))
    result = run("openslo", str(source))
    assert result.returncode == 1
    assert result.stderr.startswith("error: bad.yaml[1] (checkout-availability): spec.objectives[0].target:")


def test_dashboards_build_writes_the_provisioning_tree(tmp_path: Path) -> None:
    result = run("dashboards", "build", "--out", str(tmp_path / "provisioning"))
    assert result.returncode == 0, result.stderr
    written = sorted(str(Path(line).relative_to(tmp_path / "provisioning")) for line in result.stdout.splitlines())
    assert written == ["alerting/agentslo.yaml", "dashboards/llm-overview.json", "dashboards/provider.yaml",
                       "dashboards/slos.json", "dashboards/spend.json", "datasources/clickhouse.yaml"]


def test_importing_the_command_loads_no_service_modules() -> None:
    # multiprocessing starts each mapping worker by re-running the `agentslo` script: whatever
    # agentslo.cli imports at the top is memory in every worker.
    heavy = ("pydantic", "clickhouse_connect", "chdb", "fastapi", "grpc", "httpx", "rich", "slo", "alerts")
    loaded = subprocess.run(
        [sys.executable, "-c", f"import sys, agentslo.cli; print([m for m in {heavy!r} if m in sys.modules])"],
        capture_output=True, text=True, timeout=60, check=True,
    ).stdout.strip()
    assert loaded == "[]"


def test_dashboards_build_asks_where_to_write_rather_than_overwrite_the_shipped_tree() -> None:
    result = run("dashboards", "build")
    assert result.returncode == 2
    assert "Missing option '--out'" in result.stderr


def test_check_names_every_secret_variable_the_environment_lacks(tmp_path: Path) -> None:
    config = tmp_path / "agentslo.yaml"
    config.write_text("storage: {clickhouse_url: 'http://agentslo@clickhouse:8123', password_env: CH_PASSWORD_UNSET}\n"
                      "alerts:\n  receivers:\n    - {name: oncall, url: 'https://hooks.example.com', "
                      "secret_env: ONCALL_SECRET_UNSET}\n")
    result = run("check", str(config))
    assert result.returncode == 1
    assert result.stderr.splitlines() == [
        "error: agentslo.yaml: storage.password_env: environment variable CH_PASSWORD_UNSET is not set",
        "error: agentslo.yaml: alerts.receivers[0].secret_env: environment variable ONCALL_SECRET_UNSET is not set",
    ]
