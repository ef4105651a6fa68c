"""Specification of docker-compose.cluster.yml's own shape: a ClickHouse cluster on Keeper, ingest
replicas behind a load balancer, evaluators. What it shares with docker-compose.yml (pinned images,
accounts, secrets, the AgentSLO containers' configs, Grafana's provisioning) is checked on both in
tests/dashboards/test_compose.py; here, that the files the servers mount agree with the services.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from typing import Any

from collector import BodyLimits
from ground.storage import CLUSTER_SETTINGS
from tests.dashboards.test_compose import CLUSTER, agentslo_services, container_config, environment, host_path, of_image
from tests.dashboards.test_compose import published as published_in

SERVICES: dict[str, Any] = CLUSTER["services"]
CLICKHOUSE = of_image(CLUSTER, "clickhouse/clickhouse-server")
KEEPERS = of_image(CLUSTER, "clickhouse/clickhouse-keeper")
AGENTSLO = agentslo_services(CLUSTER)


def xml_of(service: str, container_path: str) -> ET.Element:
    """The XML file the service mounts at `container_path`, parsed."""
    return ET.parse(host_path(service, container_path, CLUSTER)).getroot()


def server_config(service: str) -> ET.Element:
    return xml_of(service, "/etc/clickhouse-server/config.d/cluster.xml")


def role(service: str) -> str:
    return environment(service, CLUSTER)["AGENTSLO_ROLE"]


def test_the_stack_is_a_two_by_two_cluster_on_three_keepers_with_ingest_replicas_and_evaluators() -> None:
    assert CLICKHOUSE == ["clickhouse-s1r1", "clickhouse-s1r2", "clickhouse-s2r1", "clickhouse-s2r2"]
    assert KEEPERS == ["keeper-1", "keeper-2", "keeper-3"]
    assert {service: role(service) for service in AGENTSLO} == {
        "evaluator-1": "evaluator", "evaluator-2": "evaluator", "ingest-1": "ingest", "ingest-2": "ingest"}
    assert sorted(SERVICES) == sorted([*CLICKHOUSE, *KEEPERS, *AGENTSLO, "load-balancer", "grafana"])
    assert SERVICES["load-balancer"]["image"].startswith("nginx:")


def test_every_agentslo_replica_lays_the_schema_out_on_the_cluster_the_servers_define() -> None:
    [cluster] = server_config(CLICKHOUSE[0]).find("remote_servers")
    assert {container_config({}, service, CLUSTER).storage.cluster for service in AGENTSLO} == {cluster.tag}


def test_the_clusters_shards_are_the_clickhouse_services_each_named_by_its_macros() -> None:
    [cluster] = server_config(CLICKHOUSE[0]).find("remote_servers")
    shards = [[(replica.findtext("host"), replica.findtext("port")) for replica in shard.findall("replica")]
              for shard in cluster.findall("shard")]
    assert shards == [[("clickhouse-s1r1", "9000"), ("clickhouse-s1r2", "9000")],
                      [("clickhouse-s2r1", "9000"), ("clickhouse-s2r2", "9000")]]
    assert [shard.findtext("internal_replication") for shard in cluster.findall("shard")] == ["true", "true"]
    for number, shard in enumerate(shards, start=1):
        for host, _ in shard:
            env = environment(host, CLUSTER)
            assert (SERVICES[host]["hostname"], env["CLICKHOUSE_SHARD"], env["CLICKHOUSE_REPLICA"]) == (
                host, str(number), host)
    assert cluster.find("secret").get("from_env") == "CLICKHOUSE_CLUSTER_SECRET"


def test_every_clickhouse_server_mounts_the_same_cluster_files_and_sets_what_they_read() -> None:
    macros = server_config(CLICKHOUSE[0]).find("macros")
    read = {element.get("from_env") for element in server_config(CLICKHOUSE[0]).iter() if element.get("from_env")}
    assert {element.get("from_env") for element in macros} == {"CLICKHOUSE_SHARD", "CLICKHOUSE_REPLICA"}
    for service in CLICKHOUSE:
        assert ET.tostring(server_config(service)) == ET.tostring(server_config(CLICKHOUSE[0]))
        assert read <= {name for name, value in environment(service, CLUSTER).items() if value}


def test_the_servers_use_the_three_keepers_which_know_each_other_by_id() -> None:
    config = server_config(CLICKHOUSE[0])
    nodes = [(node.findtext("host"), node.findtext("port")) for node in config.find("zookeeper")]
    assert config.findtext("keeper_map_path_prefix") and config.findtext("distributed_ddl/path")
    for keeper in KEEPERS:
        server = xml_of(keeper, "/etc/clickhouse-keeper/keeper_config.xml").find("keeper_server")
        raft = {entry.findtext("id"): entry.findtext("hostname") for entry in server.find("raft_configuration")}
        assert nodes == [(name, server.findtext("tcp_port")) for name in KEEPERS]
        assert raft == {"1": "keeper-1", "2": "keeper-2", "3": "keeper-3"}
        assert server.find("server_id").get("from_env") == "KEEPER_SERVER_ID"
        assert raft[environment(keeper, CLUSTER)["KEEPER_SERVER_ID"]] == SERVICES[keeper]["hostname"] == keeper


def test_the_servers_default_profile_has_the_settings_agentslo_sends_on_a_cluster() -> None:
    for service in CLICKHOUSE:
        profile = xml_of(service, "/etc/clickhouse-server/users.d/cluster-profile.xml").find("profiles/default")
        assert {setting.tag: setting.text for setting in profile} == {
            name: str(value) for name, value in CLUSTER_SETTINGS.items()}


def test_the_load_balancer_spreads_both_protocols_over_the_ingest_replicas_alone() -> None:
    nginx = host_path("load-balancer", "/etc/nginx/nginx.conf", CLUSTER).read_text(encoding="utf-8")
    upstreams = {name: re.findall(r"server (\S+);", body)
                 for name, body in re.findall(r"upstream (\w+) \{([^}]*)\}", nginx)}
    ingest = [service for service in AGENTSLO if role(service) == "ingest"]
    assert upstreams == {"agentslo_http": [f"{s}:4318" for s in ingest], "agentslo_grpc": [f"{s}:4317" for s in ingest]}
    assert re.findall(r"(proxy_pass|grpc_pass) (\w+)://(\w+);", nginx) == [
        ("proxy_pass", "http", "agentslo_http"), ("grpc_pass", "grpc", "agentslo_grpc")]
    # nginx refuses a body past its limit before AgentSLO could answer it with its own 413.
    limits = {int(size) for size in re.findall(r"client_max_body_size (\d+)m;", nginx)}
    assert limits and min(limits) * 1024 * 1024 > BodyLimits().max_body_bytes


def test_only_the_load_balancer_and_grafana_are_published_on_loopback() -> None:
    assert {service: published_in(service, CLUSTER) for service in SERVICES if published_in(service, CLUSTER)} == {
        "load-balancer": {4317: "127.0.0.1:4317", 4318: "127.0.0.1:4318"}, "grafana": {3000: "127.0.0.1:3000"}}


def test_each_agentslo_replica_has_a_name_and_a_clickhouse_server_of_its_own() -> None:
    names = [environment(service, CLUSTER)["AGENTSLO_REPLICA_NAME"] for service in AGENTSLO]
    servers = [container_config({}, service, CLUSTER).storage.clickhouse_url.split("@")[1].split(":")[0]
               for service in AGENTSLO]
    assert names == AGENTSLO
    assert sorted(servers) == CLICKHOUSE


def test_the_first_ingest_replica_migrates_before_the_others_start() -> None:
    first = SERVICES["ingest-1"]["depends_on"]
    assert list(first) == ["clickhouse-s1r1"] and first["clickhouse-s1r1"] == {"condition": "service_healthy"}
    for service in [*(s for s in AGENTSLO if s != "ingest-1"), "grafana"]:
        assert SERVICES[service]["depends_on"] == {"ingest-1": {"condition": "service_healthy"}}, service
    for service in CLICKHOUSE:
        assert SERVICES[service]["depends_on"] == KEEPERS
