"""The config file: defaults, precedence of flags and environment, and error messages."""

import hashlib
from pathlib import Path

import pytest

from agentslo.config import AuthSpec, load_config
from ground.auth import ApiKey, Scope
from ground.errors import ConfigError


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "agentslo.yaml"
    path.write_text(text)
    return path


def test_no_file_gives_the_documented_defaults() -> None:
    config = load_config(None, env={})
    assert (config.server.host, config.server.http_port, config.server.grpc_port) == ("127.0.0.1", 4318, 4317)
    assert config.storage.data_dir == Path("var/clickhouse")
    assert config.storage.clickhouse_url is None
    assert config.retention.traces_days == 30


def test_flag_beats_environment_beats_file(tmp_path: Path) -> None:
    path = write(tmp_path, "server:\n  http_port: 5000\n  grpc_port: 5001\n  host: 0.0.0.0\n")
    config = load_config(
        path,
        env={"AGENTSLO_HTTP_PORT": "6000", "AGENTSLO_GRPC_PORT": "6001"},
        flags={"http_port": 7000, "grpc_port": None},
    )
    assert (config.server.http_port, config.server.grpc_port, config.server.host) == (7000, 6001, "0.0.0.0")


def test_config_file_can_come_from_the_environment(tmp_path: Path) -> None:
    path = write(tmp_path, "retention:\n  traces_days: 7\n")
    assert load_config(None, env={"AGENTSLO_CONFIG": str(path)}).retention.traces_days == 7


@pytest.mark.parametrize(
    ("text", "env", "problems"),
    [
        pytest.param(
            "server:\n  http_port: 99999\n", {},
            ["agentslo.yaml: server.http_port: must be less than or equal to 65535"],
            id="a port out of range names the field",
        ),
        pytest.param(
            "server:\n  htp_port: 80\n", {},
            ["agentslo.yaml: server.htp_port: unknown field (expected one of: host, http_port, grpc_port, "
             "max_header_bytes, max_headers, read_timeout_s, shutdown_timeout_s, insecure_no_auth, role, replica_name)"],
            id="a misspelt field is reported with the known ones",
        ),
        pytest.param(
            "", {"AGENTSLO_GRPC_PORT": "abc"},
            ["AGENTSLO_GRPC_PORT: server.grpc_port: must be a valid integer, unable to parse string as an integer"],
            id="a bad environment variable is named as the source",
        ),
        pytest.param(
            "version: 2\nretention:\n  traces_days: 0\nstorage:\n  clickhouse_url: ftp://x\n", {},
            [
                "agentslo.yaml: version: must be 1",
                "agentslo.yaml: storage.clickhouse_url: must be an http:// or https:// URL with a host, "
                "e.g. http://user@host:8123/agentslo",
                "agentslo.yaml: retention.traces_days: must be greater than or equal to 1",
            ],
            id="every problem is listed not only the first",
        ),
        pytest.param(
            "storage:\n  clickhouse_url: http://u:hunter2@db:8123/x\n", {},
            ["agentslo.yaml: storage.clickhouse_url: must not contain a password; "
             "name the variable that holds it in storage.password_env"],
            id="a password written in the file is refused",
        ),
        pytest.param(
            "storage:\n  cluster: agentslo\n", {},
            ["agentslo.yaml: storage: cluster needs a ClickHouse server: set clickhouse_url too"],
            id="a cluster without a server is refused",
        ),
        pytest.param(
            "storage:\n  clickhouse_url: http://db:8123\n  cluster: 'two shards'\n", {},
            ["agentslo.yaml: storage.cluster: must be a cluster's name (letters, digits, underscore)"],
            id="a cluster name that is not an identifier is refused",
        ),
        pytest.param(
            "storage:\n  database: 'a; DROP'\n", {},
            ["agentslo.yaml: storage.database: must be a plain identifier (letters, digits, underscore)"],
            id="a database name that is not an identifier is refused",
        ),
        pytest.param(
            "server: [1, 2\n", {},
            ["agentslo.yaml:2:1: invalid YAML: expected ',' or ']', but got '<stream end>'"],
            id="broken YAML names the line",
        ),
        pytest.param(
            "budgets:\n  - {name: daily, period: week, limit_usd: 5}\n"
            "alerts:\n  grafana_url: grafana.local\n", {},
            ["agentslo.yaml: budgets[0] (daily).period: must be 'day' or 'month'",
             "agentslo.yaml: alerts.grafana_url: must be an http:// or https:// URL with a host"],
            id="spend budgets and alert settings are checked with the rest",
        ),
        pytest.param(
            "server: " + "{a: " * 40 + "1" + "}" * 40 + "\n", {},
            ["agentslo.yaml: nested more than 32 levels deep"],
            id="a file nested deeper than any setting",
        ),
        pytest.param(
            "slos: &loop [*loop]\n", {},
            ["agentslo.yaml: nested more than 32 levels deep"],
            id="an alias inside itself nests without end",
        ),
        pytest.param(
            "alerts:\n  receivers:\n    - {name: oncall, url: 'https://hooks.example.com',\n"
            "       headers: {Authorization: Bearer s3cr3t}}\n", {},
            ["agentslo.yaml: alerts.receivers[0].headers: Authorization may carry a credential; "
             "name the environment variable that holds it in headers_env"],
            id="a token written in receiver headers is refused",
        ),
        pytest.param(
            "auth:\n  keys:\n    - {key_env: 'acme-ingest-key-0000000000000001', tenant: acme, scope: ingest}\n"
            "    - {key_env: OPS_KEY, tenant: 'ops team', scope: write}\n", {},
            ["agentslo.yaml: auth.keys[0].key_env: must be the name of an environment variable, not its value",
             "agentslo.yaml: auth.keys[1].tenant: must be 1-64 letters, digits, '.', '_', '@', ':' or '-', "
             "starting with a letter or digit",
             "agentslo.yaml: auth.keys[1].scope: must be 'ingest', 'read' or 'admin'"],
            id="a key written in the file, a tenant with a space and an unknown scope",
        ),
        pytest.param(
            "alerts:\n  receivers:\n    - {name: oncall, kind: teams}\n    - oncall\n", {},
            ["agentslo.yaml: alerts.receivers[0].kind: must be one of: webhook, slack, pagerduty; got 'teams'",
             "agentslo.yaml: alerts.receivers[1]: must be a mapping"],
            id="a receiver is a mapping of a kind there is",
        ),
        pytest.param(
            "alerts:\n  receivers:\n    - {name: oncall, url: 'https://hooks.example.com', url_env: HOOK_URL}\n", {},
            ["agentslo.yaml: alerts.receivers[0].url_env: unknown field (expected one of: name, kind, timeout_s, "
             "severities, match, url, secret_env, headers, headers_env)"],
            id="a receiver takes its own kind's fields, webhook when it names none",
        ),
        pytest.param(
            "alerts:\n  receivers:\n    - {name: team, kind: slack}\n"
            "    - {name: pd, kind: pagerduty, routing_key_env: PD_KEY, secret_env: PD_SECRET}\n", {},
            ["agentslo.yaml: alerts.receivers[0].url_env: missing",
             "agentslo.yaml: alerts.receivers[1].secret_env: unknown field (expected one of: name, kind, timeout_s, "
             "severities, match, routing_key_env, url)"],
            id="slack and pagerduty receivers are checked as their kinds",
        ),
        pytest.param(
            "- just a list\n", {},
            ["agentslo.yaml: must be a mapping of sections (server, storage, ...), got list"],
            id="a file that is not a mapping",
        ),
    ],
)
def test_invalid_config_lists_each_problem_with_source_and_path(
    tmp_path: Path, text: str, env: dict[str, str], problems: list[str]
) -> None:
    with pytest.raises(ConfigError) as caught:
        load_config(write(tmp_path, text), env=env)
    assert caught.value.problems == problems


@pytest.mark.parametrize(("env", "flags", "source"), [
    pytest.param({}, {"clickhouse_url": "http://u:hunter2@db:8123/x"}, "--clickhouse-url",
                 id="from the flag, which every user sees in ps"),
    pytest.param({"AGENTSLO_CLICKHOUSE_URL": "http://u:hunter2@db:8123/x"}, {}, "AGENTSLO_CLICKHOUSE_URL",
                 id="from the environment"),
])
def test_a_password_in_the_url_is_refused_wherever_it_comes_from(env: dict[str, str], flags: dict[str, str],
                                                                  source: str) -> None:
    with pytest.raises(ConfigError) as caught:
        load_config(None, env=env, flags=flags)
    assert caught.value.problems == [f"{source}: storage.clickhouse_url: must not contain a password; "
                                     "name the variable that holds it in storage.password_env"]
    assert "hunter2" not in str(caught.value)


def test_the_password_comes_from_the_variable_the_file_names(tmp_path: Path) -> None:
    path = write(tmp_path, "storage:\n  password_env: CLICKHOUSE_PASSWORD\n")
    config = load_config(path, env={"AGENTSLO_CLICKHOUSE_URL": "http://u@db:8123/x"})
    assert (config.storage.clickhouse_url, config.storage.password_env) == ("http://u@db:8123/x", "CLICKHOUSE_PASSWORD")


def test_a_missing_file_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="nope.yaml: cannot read: No such file or directory"):
        load_config(tmp_path / "nope.yaml", env={})


@pytest.mark.parametrize(("cores", "workers"), [
    pytest.param(1, 2, id="one core still gets two mapping workers"),
    pytest.param(2, 2, id="two cores get two"),
    pytest.param(8, 7, id="more cores get one per core but one"),
])
def test_mapping_workers_default_to_one_per_core_but_one_and_at_least_two(
        monkeypatch: pytest.MonkeyPatch, cores: int, workers: int) -> None:
    monkeypatch.setattr("os.cpu_count", lambda: cores)
    assert load_config(None, env={}).ingest.resolved_workers() == workers
    assert load_config(None, env={}, flags={}).ingest.model_copy(update={"workers": 0}).resolved_workers() == 0


def resolve_keys(tmp_path: Path, text: str, env: dict[str, str], keys_file: str | None = None) -> tuple[ApiKey, ...]:
    if keys_file is not None:
        (tmp_path / "keys").write_text(keys_file)
    return load_config(write(tmp_path, text), env={}).auth.resolve(env)


def test_keys_come_from_the_variables_the_file_names_and_from_a_file_of_digests(tmp_path: Path) -> None:
    digest = hashlib.sha256(b"globex-ingest-key-000000000000002").hexdigest()
    keys = resolve_keys(tmp_path, f"auth:\n  keys_file: {tmp_path / 'keys'}\n  keys:\n"
                        "    - {key_env: ACME_KEY, tenant: acme, scope: ingest}\n",
                        {"ACME_KEY": "acme-ingest-key-0000000000000001"},
                        keys_file=f"# digest tenant scope\n\n{digest} globex admin  # the operators\n")
    assert keys == (ApiKey(hashlib.sha256(b"acme-ingest-key-0000000000000001").digest(), "acme", Scope.INGEST),
                    ApiKey(bytes.fromhex(digest), "globex", Scope.ADMIN))


def test_without_an_auth_section_there_are_no_keys_and_with_an_empty_file_no_key_opens(tmp_path: Path) -> None:
    assert load_config(None, env={}).auth.resolve({}) is None
    assert resolve_keys(tmp_path, f"auth:\n  keys_file: {tmp_path / 'keys'}\n", {}, keys_file="# none yet\n") == ()


def test_every_problem_with_the_keys_is_listed_at_start_up(tmp_path: Path) -> None:
    text = (f"auth:\n  keys_file: {tmp_path / 'keys'}\n  keys:\n"
            "    - {key_env: UNSET_KEY, tenant: acme, scope: ingest}\n"
            "    - {key_env: SHORT_KEY, tenant: acme, scope: read}\n"
            "    - {key_env: SAME_KEY, tenant: acme, scope: admin}\n")
    same = "the-same-key-given-twice-0000000"
    with pytest.raises(ConfigError) as caught:
        resolve_keys(tmp_path, text, {"SHORT_KEY": "hunter2", "SAME_KEY": same},
                     keys_file=f"{'ab' * 32} acme\nacme-ingest-key-0000000000000001 acme ingest\n"
                               f"{'cd' * 32} acme owner\n{hashlib.sha256(same.encode()).hexdigest()} ops read\n")
    keys = tmp_path / "keys"
    assert caught.value.problems == [
        "auth.keys[0].key_env: environment variable UNSET_KEY is not set",
        "auth.keys[1].key_env: the key in SHORT_KEY must be at least 16 printable ASCII characters without spaces, "
        "got 7 characters (make one with: openssl rand -hex 32)",
        f"{keys}:1: expected <sha256 hex of the key> <tenant> <scope>, got 2 fields",
        f"{keys}:2: the first field must be the key's SHA-256 digest (64 hex digits), never the key itself",
        f"{keys}:3: scope 'owner' must be one of: ingest, read, admin",
        f"{keys}:4: the same key as auth.keys[2]",
    ]
    assert "hunter2" not in str(caught.value)


@pytest.mark.parametrize(("host", "insecure", "open_beyond_loopback"), [
    pytest.param("127.0.0.1", False, False, id="loopback"),
    pytest.param("::1", False, False, id="IPv6 loopback"),
    pytest.param("localhost", False, False, id="localhost"),
    pytest.param("0.0.0.0", False, True, id="every interface"),
    pytest.param("", False, True, id="every interface, unnamed"),
    pytest.param("agentslo.internal", False, True, id="a name, which may resolve anywhere"),
    pytest.param("0.0.0.0", True, False, id="every interface, insecure_no_auth"),
])
def test_only_loopback_may_serve_without_keys_unless_asked_to(host: str, insecure: bool,
                                                               open_beyond_loopback: bool) -> None:
    env = {"AGENTSLO_INSECURE_NO_AUTH": "true"} if insecure else {}
    config = load_config(None, env=env, flags={"host": host})
    assert (config.exposure_problem() is not None) == open_beyond_loopback
    keyed = config.model_copy(update={"auth": AuthSpec(keys_file=Path("/dev/null"))})
    assert keyed.exposure_problem() is None
