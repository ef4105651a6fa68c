"""Specification of the production-like stacks: docker-compose.yml (one ClickHouse server) and
docker-compose.cluster.yml (a ClickHouse cluster), the Dockerfile, deploy/ and deploy/cluster/.

No Docker engine runs here, so the stacks are checked as files: each service is where the others
and the checked-in Grafana provisioning expect it, every setting a container reads is set, and
AgentSLO's own config loader accepts what each AgentSLO container will be given. What both stacks
must do is checked on both (the `stack` fixture); each stack's own shape on it alone.
"""

from __future__ import annotations

import functools
import json
import re
import shlex
import tomllib
from collections.abc import Iterator, Mapping
from pathlib import Path, PurePosixPath
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml

from agentslo.config import ENV_PREFIX, OVERRIDABLE, Config, load_config
from dashboards import DASHBOARDS, EXAMPLE_CONFIG, PLUGIN, PROVISIONING_DIR

ROOT = Path(__file__).resolve().parents[2]
STACKS = {name: yaml.safe_load((ROOT / name).read_text(encoding="utf-8"))
          for name in ("docker-compose.yml", "docker-compose.cluster.yml")}
COMPOSE = STACKS["docker-compose.yml"]
SERVICES: dict[str, Any] = COMPOSE["services"]
CLUSTER = STACKS["docker-compose.cluster.yml"]
# An exact release: a rebuild or a pull must not move to another version.
EXACT_VERSION = r"\d+\.\d+\.\d+(\.\d+)?"

# Compose's interpolation, the forms this file uses: ${NAME:-default} and ${NAME:?error}.
_INTERPOLATION = re.compile(r"\$\{(?P<name>\w+)(?:(?P<op>:-|:\?)(?P<arg>[^}]*))?\}")


def resolved(value: str, env: Mapping[str, str] | None = None) -> str:
    """`value` as compose passes it to the container when the environment is `env` (default: empty)."""
    env = env or {}

    def substitute(match: re.Match[str]) -> str:
        name, op, arg = match["name"], match["op"], match["arg"]
        if env.get(name):
            return env[name]
        if op == ":?":
            raise AssertionError(f"${{{name}}} must be set: {arg}")
        return arg if op == ":-" else ""

    text = _INTERPOLATION.sub(substitute, value)
    assert "$" not in text, f"unsupported interpolation in {value!r}"
    return text


def environment(service: str, compose: Mapping[str, Any] = COMPOSE) -> dict[str, str]:
    """The service's environment with compose's defaults applied."""
    given = compose["services"][service].get("environment", {})
    return {name: resolved(str(value)) for name, value in given.items()}


def bind_mounts(service: str, compose: Mapping[str, Any] = COMPOSE) -> dict[str, Path]:
    """Container path -> host path of the service's bind mounts (volumes whose source is a path)."""
    mounts = {}
    for volume in compose["services"][service].get("volumes", []):
        source, target, *_ = volume.split(":")
        if source.startswith((".", "/")):
            mounts[target] = (ROOT / source).resolve()
        else:
            assert source in compose["volumes"], f"{service}: named volume {source} is not declared"
    return mounts


def host_path(service: str, container_path: str, compose: Mapping[str, Any] = COMPOSE) -> Path:
    """Where `container_path` of the service lives in the repository, through its bind mounts."""
    path = PurePosixPath(container_path)
    for target, source in bind_mounts(service, compose).items():
        if path == PurePosixPath(target) or PurePosixPath(target) in path.parents:
            return source / path.relative_to(target)
    raise AssertionError(f"{service}: {container_path} is on no bind mount")


def published(service: str, compose: Mapping[str, Any] = COMPOSE) -> dict[int, str]:
    """Container port -> the host address and port it is published on."""
    ports = {}
    for entry in compose["services"][service].get("ports", []):
        *host, container = str(entry).split(":")
        ports[int(container)] = ":".join(host)
    return ports


def of_image(compose: Mapping[str, Any], repository: str) -> list[str]:
    """The services that run an image of `repository` (e.g. clickhouse/clickhouse-server)."""
    return sorted(name for name, service in compose["services"].items()
                  if service.get("image", "").split(":")[0] == repository)


def agentslo_services(compose: Mapping[str, Any]) -> list[str]:
    """The services that run AgentSLO: those built from this repository's Dockerfile."""
    return sorted(name for name, service in compose["services"].items() if "build" in service)


def every_service(*repositories: str, agentslo: bool = False) -> list[Any]:
    """pytest params (stack, service) over both stacks: the services of these images, and AgentSLO's."""
    return [pytest.param(compose, service, id=f"{name}: {service}") for name, compose in STACKS.items()
            for service in sorted({s for r in repositories for s in of_image(compose, r)}
                                  | set(agentslo_services(compose) if agentslo else ()))]


@pytest.fixture(params=list(STACKS))
def stack(request: pytest.FixtureRequest) -> dict[str, Any]:
    """Each compose file in turn, for what both stacks must do."""
    return STACKS[request.param]


def dockerfile() -> list[tuple[str, str]]:
    """The Dockerfile's instructions, (INSTRUCTION, arguments), continuation lines joined, comments dropped."""
    lines = [line for line in (ROOT / "Dockerfile").read_text(encoding="utf-8").splitlines()
             if not line.lstrip().startswith("#")]
    text = re.sub(r"\\\n", " ", "\n".join(lines))
    split = [line.split(None, 1) for line in text.splitlines() if line.strip()]
    return [(instruction.upper(), arguments.strip()) for instruction, arguments in split]


def instructions(name: str) -> list[str]:
    """The arguments of every `name` instruction, in order."""
    return [arguments for instruction, arguments in dockerfile() if instruction == name]


def exec_form(arguments: str) -> list[str]:
    """An instruction's JSON (exec) form as a list; a shell form is not accepted."""
    form = json.loads(arguments)
    assert isinstance(form, list), f"expected the exec form, got {arguments!r}"
    return form


def image_environment() -> dict[str, str]:
    """The ENV the Dockerfile's final stage sets (`ENV A=1 B=2` form)."""
    steps = dockerfile()
    final_stage = steps[max(i for i, (instruction, _) in enumerate(steps) if instruction == "FROM"):]
    env: dict[str, str] = {}
    for instruction, arguments in final_stage:
        if instruction == "ENV":
            env.update(pair.split("=", 1) for pair in shlex.split(arguments))
    return env


# A variable Grafana expands in a provisioning file: $NAME or ${NAME}.
_GRAFANA_VARIABLE = re.compile(r"\$(?:\{(\w+)\}|([A-Za-z_]\w*))")


@functools.cache
def provisioning_references() -> frozenset[tuple[str, str]]:
    """(file, variable) for each $NAME or ${NAME} Grafana expands from its environment in the provisioning.

    Grafana expands variables in the provisioning YAML, not in the dashboards' JSON; it passes
    alert rules' query models and annotations through untouched, so that macros such as
    $__timeFilter and templates such as {{ $value }} survive. `$$` is a literal dollar.
    """
    def strings(node: Any) -> Iterator[str]:
        if isinstance(node, dict):
            for key, value in node.items():
                if key not in ("model", "annotations"):
                    yield from strings(value)
        elif isinstance(node, list):
            for item in node:
                yield from strings(item)
        elif isinstance(node, str):
            yield node

    return frozenset(
        (path.relative_to(PROVISIONING_DIR).as_posix(), match[1] or match[2])
        for path in sorted(PROVISIONING_DIR.rglob("*.yaml"))
        for text in strings(yaml.safe_load(path.read_text(encoding="utf-8")))
        for match in _GRAFANA_VARIABLE.finditer(text.replace("$$", ""))
    )


def test_the_stack_is_clickhouse_agentslo_and_grafana() -> None:
    assert sorted(SERVICES) == ["agentslo", "clickhouse", "grafana"]
    assert SERVICES["clickhouse"]["image"].startswith("clickhouse/clickhouse-server:")
    assert SERVICES["grafana"]["image"].startswith("grafana/grafana:")
    assert SERVICES["agentslo"]["build"] == {"context": ".", "dockerfile": "Dockerfile"}


@pytest.mark.parametrize(("compose", "service"), [
    pytest.param(compose, service, id=f"{name}: {service}") for name, compose in STACKS.items()
    for service in sorted(compose["services"]) if "image" in compose["services"][service]])
def test_pulled_images_are_pinned_to_an_exact_release(compose: dict[str, Any], service: str) -> None:
    image = compose["services"][service]["image"]
    assert re.fullmatch(rf"[\w./-]+:{EXACT_VERSION}", image), f"{image} is not pinned to an exact release"


def test_the_python_base_image_is_an_exact_311_slim_release() -> None:
    [default] = [arguments.removeprefix("PYTHON_IMAGE=") for arguments in instructions("ARG")
                 if arguments.startswith("PYTHON_IMAGE=")]
    assert re.fullmatch(r"python:3\.11\.\d+-slim-bookworm", default)
    assert instructions("FROM") == ["${PYTHON_IMAGE} AS build", "${PYTHON_IMAGE}"]


def test_grafana_installs_the_datasources_plugin_at_an_exact_version_before_provisioning(
        stack: dict[str, Any]) -> None:
    plugin, version = environment("grafana", stack)["GF_PLUGINS_PREINSTALL_SYNC"].split("@")
    assert plugin == PLUGIN == "grafana-clickhouse-datasource"
    assert re.fullmatch(EXACT_VERSION, version)


@pytest.mark.parametrize(("compose", "service"), [
    pytest.param(compose, service, id=f"{name}: {service}") for name, compose in STACKS.items()
    for service in sorted(compose["services"])])
def test_every_bind_mounted_host_path_is_in_the_repository(compose: dict[str, Any], service: str) -> None:
    for target, source in bind_mounts(service, compose).items():
        assert source.exists(), f"{service}: {source} (mounted at {target}) does not exist"
        assert source.is_relative_to(ROOT), f"{service}: {source} is outside the repository"


def test_grafana_mounts_the_checked_in_provisioning_tree_read_only(stack: dict[str, Any]) -> None:
    assert "./dashboards/provisioning:/etc/grafana/provisioning:ro" in stack["services"]["grafana"]["volumes"]
    assert bind_mounts("grafana", stack)["/etc/grafana/provisioning"] == PROVISIONING_DIR.resolve()


def test_the_dashboard_providers_path_in_the_container_holds_the_dashboards_json(stack: dict[str, Any]) -> None:
    provider = yaml.safe_load((PROVISIONING_DIR / "dashboards/provider.yaml").read_text(encoding="utf-8"))
    [options] = [entry["options"] for entry in provider["providers"]]
    directory = host_path("grafana", options["path"], stack)
    assert sorted(path.name for path in directory.glob("*.json")) == sorted(f"{name}.json" for name in DASHBOARDS)


def test_the_provisioning_references_the_datasource_and_contact_point_variables() -> None:
    assert provisioning_references() == {
        ("datasources/clickhouse.yaml", "CLICKHOUSE_HOST"),
        ("datasources/clickhouse.yaml", "CLICKHOUSE_USER"),
        ("datasources/clickhouse.yaml", "CLICKHOUSE_PASSWORD"),
        ("alerting/agentslo.yaml", "AGENTSLO_ALERT_WEBHOOK_URL"),
    }


def test_grafana_has_every_variable_the_provisioning_references_set_to_a_value(stack: dict[str, Any]) -> None:
    env = environment("grafana", stack)
    unset = sorted({f"{name} ({file})" for file, name in provisioning_references() if not env.get(name)})
    assert unset == []


def test_the_datasource_reaches_a_clickhouse_service_on_the_port_of_its_protocol(stack: dict[str, Any]) -> None:
    datasources = yaml.safe_load((PROVISIONING_DIR / "datasources/clickhouse.yaml").read_text(encoding="utf-8"))
    [source] = datasources["datasources"]
    settings = source["jsonData"]
    grafana = environment("grafana", stack)
    host = _GRAFANA_VARIABLE.sub(lambda match: grafana[match[1] or match[2]], settings["host"])
    assert host in of_image(stack, "clickhouse/clickhouse-server")
    # The clickhouse image's defaults, which the service exposes: HTTP 8123, native protocol 9000.
    assert {"native": 9000, "http": 8123}[settings["protocol"]] == settings["port"]
    assert str(settings["port"]) in stack["services"][host]["expose"]
    assert settings["defaultDatabase"] == environment(host, stack)["CLICKHOUSE_DB"] == "agentslo"


def test_grafana_and_agentslo_log_in_with_the_account_the_clickhouse_services_create(stack: dict[str, Any]) -> None:
    services = [*of_image(stack, "clickhouse/clickhouse-server"), *agentslo_services(stack), "grafana"]
    accounts = {(environment(service, stack)["CLICKHOUSE_USER"], environment(service, stack)["CLICKHOUSE_PASSWORD"])
                for service in services}
    assert accounts == {("agentslo", "agentslo-local")}


def test_secrets_come_from_the_environment_not_the_file(stack: dict[str, Any]) -> None:
    for service in stack["services"].values():
        for name, value in service.get("environment", {}).items():
            if re.search("PASSWORD|SECRET|TOKEN|API_KEY|WEBHOOK_URL", name):
                assert re.fullmatch(r"\$\{\w+(:[-?][^}]*)?\}", value), f"{name} must come from ${{...}}, got {value!r}"


@pytest.mark.parametrize(("compose", "service"), every_service(agentslo=True))
def test_agentslo_is_given_only_settings_its_config_accepts(compose: dict[str, Any], service: str) -> None:
    accepted = {ENV_PREFIX + "CONFIG"} | {ENV_PREFIX + name.upper() for name in OVERRIDABLE}
    given = set(environment(service, compose)) | set(image_environment())
    assert sorted(name for name in given if name.startswith(ENV_PREFIX) and name not in accepted) == []


def container_config(env: Mapping[str, str], service: str = "agentslo", compose: Mapping[str, Any] = COMPOSE,
                     ) -> Config:
    """The config an AgentSLO container loads: its mounted file, the image's and compose's environment."""
    env = {**image_environment(), **environment(service, compose), **env}
    return load_config(host_path(service, env["AGENTSLO_CONFIG"], compose), env=env)


@pytest.mark.parametrize(("compose", "service"), every_service(agentslo=True))
def test_each_agentslo_container_loads_its_config_and_stores_in_a_clickhouse_service(
        compose: dict[str, Any], service: str) -> None:
    config = container_config({}, service, compose)
    url = urlsplit(config.storage.clickhouse_url)
    assert (url.scheme, url.username, url.password, url.port) == ("http", "agentslo", None, 8123)
    assert url.hostname in of_image(compose, "clickhouse/clickhouse-server")
    assert config.storage.server_database == environment(url.hostname, compose)["CLICKHOUSE_DB"]
    assert config.storage.password_env == "CLICKHOUSE_PASSWORD"
    assert "CLICKHOUSE_PASSWORD" in environment(service, compose)
    assert (config.server.host, config.server.http_port, config.server.grpc_port) == ("0.0.0.0", 4318, 4317)


@pytest.mark.parametrize(("compose", "service"), every_service(agentslo=True))
def test_each_agentslo_container_listens_on_every_interface_with_api_keys_from_the_environment(
        compose: dict[str, Any], service: str) -> None:
    config = container_config({}, service, compose)
    assert (config.server.host, config.server.insecure_no_auth, config.exposure_problem()) == ("0.0.0.0", False, None)
    keys = config.auth.resolve(environment(service, compose))
    assert keys is not None
    assert [(key.tenant, key.scope.value) for key in keys] == [("default", "ingest"), ("default", "admin")]
    given = {name for name in compose["services"][service]["environment"] if name.endswith("_API_KEY")}
    assert sorted(given) == sorted(spec.key_env for spec in config.auth.keys)


@pytest.mark.parametrize(("compose", "service"), every_service(agentslo=True))
def test_agentslo_logs_in_as_the_clickhouse_user_set_for_the_stack(compose: dict[str, Any], service: str) -> None:
    env = {name: resolved(str(value), {"CLICKHOUSE_USER": "ops"})
           for name, value in compose["services"][service]["environment"].items()}
    assert urlsplit(container_config(env, service, compose).storage.clickhouse_url).username == "ops"


@pytest.mark.parametrize(("compose", "service"), every_service(agentslo=True))
def test_the_stack_evaluates_the_slos_the_checked_in_grafana_alert_rules_are_built_for(
        compose: dict[str, Any], service: str) -> None:
    config, example = container_config({}, service, compose), load_config(EXAMPLE_CONFIG, env={})
    assert (config.slos, config.budgets) == (example.slos, example.budgets)
    assert (config.alerts.defaults, config.alerts.slos) == (example.alerts.defaults, example.alerts.slos)


def test_agentslo_and_grafana_are_published_on_loopback_and_clickhouse_not_at_all() -> None:
    assert published("agentslo") == {4317: "127.0.0.1:4317", 4318: "127.0.0.1:4318"}
    assert published("grafana") == {3000: "127.0.0.1:3000"}
    assert published("clickhouse") == {}


def test_agentslo_starts_once_clickhouse_is_healthy_and_grafana_once_agentslo_is_ready() -> None:
    assert SERVICES["agentslo"]["depends_on"] == {"clickhouse": {"condition": "service_healthy"}}
    assert SERVICES["grafana"]["depends_on"] == {"agentslo": {"condition": "service_healthy"}}
    assert SERVICES["clickhouse"]["healthcheck"]["test"] == [
        "CMD", "wget", "--spider", "--quiet", "http://127.0.0.1:8123/ping"]


@pytest.mark.parametrize(("compose", "service"), every_service("clickhouse/clickhouse-server"))
def test_clickhouse_keeps_its_data_in_a_volume_and_may_open_enough_files(compose: dict[str, Any], service: str,
                                                                         ) -> None:
    [data] = [volume for volume in compose["services"][service]["volumes"] if volume.endswith(":/var/lib/clickhouse")]
    assert data.split(":")[0] in compose["volumes"]
    assert compose["services"][service]["ulimits"]["nofile"] == {"soft": 262144, "hard": 262144}
    assert compose["services"][service]["healthcheck"]["test"] == [
        "CMD", "wget", "--spider", "--quiet", "http://127.0.0.1:8123/ping"]


def test_the_image_runs_agentslo_serve_as_a_non_root_user() -> None:
    [user] = instructions("USER")
    assert user.split(":")[0] not in ("root", "0")
    assert exec_form(instructions("ENTRYPOINT")[-1]) + exec_form(instructions("CMD")[-1]) == ["agentslo", "serve"]
    assert image_environment()["AGENTSLO_HOST"] == "0.0.0.0"


def test_the_image_exposes_the_otlp_ports_and_checks_readiness_on_4318() -> None:
    assert instructions("EXPOSE") == ["4317 4318"]
    [healthcheck] = instructions("HEALTHCHECK")
    options, command = healthcheck.split(" CMD ", 1)
    assert exec_form(command)[:2] == ["python", "-c"]
    assert "/readyz" in command and "'4318'" in command
    assert options.split() == ["--interval=10s", "--timeout=5s", "--start-period=30s", "--retries=3"]


def test_the_build_context_leaves_local_state_out_and_keeps_what_the_image_is_built_from() -> None:
    ignored = {line.strip() for line in (ROOT / ".dockerignore").read_text(encoding="utf-8").splitlines()
               if line.strip() and not line.startswith("#")}
    assert {".git", ".venv", "var", "build", "*.egg-info", "**/__pycache__", "tests", ".env", "**/*.so"} <= ignored
    copied = {source for arguments in instructions("COPY") if not arguments.startswith("--from")
              for source in arguments.split()[:-1]}
    # Every package the distribution installs (pyproject.toml) is in the image: a new one cannot be forgotten.
    packages = {pattern.rstrip("*") for pattern in
                tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"]["find"]["include"]}
    assert copied == {"pyproject.toml", "setup.py", "README.md"} | packages
    assert copied.isdisjoint(ignored)
