"""The provisioning variant for a service on its embedded store: the plugin's datasource over HTTP, pointed at
the service's ClickHouse interface, and the requests that datasource makes answered."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import httpx
import yaml

from agentslo.clickhouse_http import for_protocol
from agentslo.config import ClickHouseHttpSpec
from dashboards import DATASOURCE_UID, PLUGIN, datasource
from tests.clickhouse_http.conftest import Interface

AGENTSLO = str(Path(sys.executable).parent / "agentslo")


def test_the_embedded_datasource_reads_the_services_interface_over_http() -> None:
    [source] = datasource("embedded")["datasources"]
    assert (source["type"], source["uid"]) == (PLUGIN, DATASOURCE_UID)   # the dashboards' and alert rules' uid
    assert {key: source["jsonData"][key] for key in ("host", "port", "protocol", "path", "secure", "defaultDatabase")} == {
        "host": "$AGENTSLO_API_HOST", "port": "$AGENTSLO_API_PORT", "protocol": "http",
        "path": ClickHouseHttpSpec().path, "secure": False, "defaultDatabase": "agentslo"}
    assert source["secureJsonData"] == {"password": "$AGENTSLO_READ_KEY"}
    assert source["jsonData"]["traces"] == datasource("server")["datasources"][0]["jsonData"]["traces"]


def test_dashboards_build_writes_the_variant_it_is_asked_for(tmp_path: Path) -> None:
    built = subprocess.run([AGENTSLO, "dashboards", "build", "--datasource", "embedded", "--out", str(tmp_path)],
                           capture_output=True, text=True, timeout=120)
    assert built.returncode == 0, built.stderr
    written = yaml.safe_load((tmp_path / "datasources" / "clickhouse.yaml").read_text())
    assert written == datasource("embedded")
    assert sorted(path.name for path in (tmp_path / "dashboards").iterdir()) == [
        "llm-overview.json", "provider.yaml", "slos.json", "spend.json"]


def test_the_datasource_connects_as_clickhouse_go_does_over_http(interface: Interface) -> None:
    """The request clickhouse-go makes on connect (conn_http.go: queryHello), with the datasource's settings."""
    [source] = datasource("embedded")["datasources"]
    settings = {item["setting"]: item["value"] for item in source["jsonData"]["customSettings"]}
    params = {"database": interface.database, **settings, "default_format": "Native",
              "client_protocol_version": "54478"}
    hello = "SELECT displayName(), version(), revision(), timezone()"
    answer = httpx.post(interface.url, params=params, content=hello,
                        headers={"accept-encoding": "gzip", "user-agent": "clickhouse-go/2.47.0 (lv:go/1.24)"},
                        auth=("grafana", ""))
    assert (answer.status_code, answer.headers["content-encoding"]) == (200, "gzip")
    plain = interface.post(query=hello, default_format="Native").content
    assert answer.content == for_protocol(plain, 54478)   # httpx has gunzipped it
    assert answer.content.startswith(b"\x01\x00\x02\xff\xff\xff\xff\x00\x04\x01")   # block info; 4 columns, 1 row
