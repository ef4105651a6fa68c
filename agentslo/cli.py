"""The `agentslo` command."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import sys
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

import click

from agentslo import __version__
from ground.errors import AgentSloError, ConfigError

if TYPE_CHECKING:
    from agentslo.config import Config

__all__ = ["main"]

# Paths are checked where they are used, so that a bad one is one line naming the setting,
# as every start-up error is, rather than click's usage text.
_config_option = click.option(
    "--config", "config_file", type=click.Path(path_type=Path),
    help="YAML config file (default: $AGENTSLO_CONFIG, else built-in defaults).",
)


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(__version__, prog_name="agentslo")
def main() -> None:
    """AgentSLO: SLOs, error budgets and spend for LLM agents, from their OpenTelemetry spans."""


@main.command()
@_config_option
@click.option("--data", type=click.Path(path_type=Path),
              help="Embedded store directory [env AGENTSLO_DATA; default var/clickhouse].")
@click.option("--clickhouse-url", help="Use a ClickHouse server, e.g. http://user@host:8123/agentslo "
              "[env AGENTSLO_CLICKHOUSE_URL].")
@click.option("--host", help="Address to listen on [env AGENTSLO_HOST; default 127.0.0.1].")
@click.option("--http-port", type=int, help="OTLP/HTTP and API port [env AGENTSLO_HTTP_PORT; default 4318].")
@click.option("--grpc-port", type=int, help="OTLP/gRPC port [env AGENTSLO_GRPC_PORT; default 4317].")
# default None, not False: a flag left out must not override the environment or the file.
@click.option("--insecure-no-auth", is_flag=True, default=None,
              help="Listen beyond loopback with no API keys configured: anyone who reaches the port may write "
                   "spans and call the API [env AGENTSLO_INSECURE_NO_AUTH].")
@click.option("--role", type=click.Choice(["all", "ingest", "evaluator"]),
              help="What this replica does: all (receive spans, and evaluate while it holds the evaluator lease), "
                   "ingest (receive spans only) or evaluator (evaluate only) [env AGENTSLO_ROLE; default all].")
@click.option("--replica-name", help="This replica's name in the evaluator lease, /metrics and /readyz "
              "[env AGENTSLO_REPLICA_NAME; default host:http-port].")
def serve(config_file: Path | None, **flags: object) -> None:
    """Run the service: OTLP receivers, API, scheduler."""
    from agentslo.serve import serve as run

    config = _load_or_exit(config_file, flags)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    # APScheduler logs every job run at INFO, httpx every webhook POST: lines that say nothing.
    logging.getLogger("apscheduler").setLevel(logging.WARNING)
    logging.getLogger("httpx").setLevel(logging.WARNING)
    source = str(config_file or os.environ.get("AGENTSLO_CONFIG") or "no config file (the defaults)")
    try:
        asyncio.run(run(config, source=source))
    except ConfigError as exc:  # a port in use, a data directory that cannot be one, a missing secret
        _exit_with(exc.problems)
    except AgentSloError as exc:
        raise click.ClickException(str(exc)) from None


@main.command()
@click.argument("config_file", type=click.Path(path_type=Path, dir_okay=False))
def check(config_file: Path) -> None:
    """Validate a config file, and that every secret it names is in the environment; list every
    problem and exit 1 if there is any."""
    from agentslo.config import describe, resolve_secrets

    config = _load_or_exit(config_file, {}, env={})
    try:
        resolve_secrets(config, os.environ, where=config_file.name)
    except ConfigError as exc:
        _exit_with(exc.problems)
    click.echo(f"{config_file}: ok ({describe(config)})")


@main.command()
@_config_option
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
@click.option("--model", help="Show only the entries matching this model name (as a span would name it).")
def pricing(config_file: Path | None, as_json: bool, model: str | None) -> None:
    """List the price table: shipped defaults with the config's overrides, USD per million tokens."""
    from datetime import date

    from rich.console import Console
    from rich.table import Table

    from collector import PriceTable, normalise_model_name

    config = _load_or_exit(config_file, {})
    table = PriceTable.default().with_overrides(config.pricing.models)
    entries = table.entries
    if model:
        match = table.lookup(model, at=date.max)
        wanted = normalise_model_name(match.model) if match else None
        entries = tuple(e for e in entries if normalise_model_name(e.model) == wanted)
        if not entries:
            click.echo(f"no price for {model!r}: its spans are stored as unpriced", err=True)
            sys.exit(1)
    if as_json:
        click.echo(json.dumps([{**asdict(e), "effective_from": e.effective_from.isoformat()} for e in entries], indent=2))
        return
    view = Table(title="Model prices, USD per million tokens")
    for heading in ("provider", "model", "from", "input", "cache read", "cache write", "output"):
        view.add_column(heading, justify="right" if heading not in ("provider", "model") else "left", no_wrap=True)
    for e in entries:
        view.add_row(e.provider, e.model, e.effective_from.isoformat(), f"{e.input_usd_per_mtok:g}",
                     f"{e.cache_read_usd_per_mtok:g}", f"{e.cache_write_usd_per_mtok:g}", f"{e.output_usd_per_mtok:g}")
    # Piped output is not cut to a terminal's width.
    Console(width=None if sys.stdout.isatty() else 160).print(view)


@main.command()
@click.argument("files", nargs=-1, required=True, type=click.Path(path_type=Path, dir_okay=False, exists=True))
def openslo(files: tuple[Path, ...]) -> None:
    """Convert OpenSLO v1 SLO documents into the `slos:` section of an AgentSLO config (on stdout)."""
    import yaml

    from slo import slo_spec_from_openslo

    specs = []
    problems: list[str] = []
    for path in files:
        try:
            documents = [doc for doc in yaml.safe_load_all(path.read_text(encoding="utf-8")) if doc is not None]
        except yaml.YAMLError as exc:
            problems.append(f"{path.name}: invalid YAML: {exc}")
            continue
        for index, document in enumerate(documents):
            if isinstance(document, dict) and document.get("kind") != "SLO":
                continue  # Service, AlertPolicy, ... documents carry nothing to import
            try:
                specs.append(slo_spec_from_openslo(document, where=f"{path.name}[{index}]"))
            except ConfigError as exc:
                problems.extend(exc.problems)
    if problems:
        for problem in problems:
            click.echo(f"error: {problem}", err=True)
        sys.exit(1)
    slos = [spec.model_dump(mode="json", exclude_defaults=True) for spec in specs]
    click.echo(yaml.safe_dump({"slos": slos}, sort_keys=False), nl=False)


@main.command()
@click.option("--url", envvar="AGENTSLO_URL",
              help="The running service to ask (an embedded store belongs to the serving process) "
                   "[env AGENTSLO_URL; default http://127.0.0.1:$AGENTSLO_HTTP_PORT, port 4318 if unset].")
@click.option("--api-key", envvar="AGENTSLO_API_KEY",
              help="A read (or admin) key, when the service has API keys [env AGENTSLO_API_KEY].")
@click.option("--json", "as_json", is_flag=True, help="Print the API's JSON instead of a table.")
def status(url: str | None, api_key: str | None, as_json: bool) -> None:
    """Show every SLO (SLI, objective, error budget remaining, burn rates, state) and spend budget."""
    from rich.console import Console

    # The local service, on the port `serve` would take from the same environment.
    url = url or f"http://127.0.0.1:{os.environ.get('AGENTSLO_HTTP_PORT') or 4318}"
    slos = _get(url, "/api/v1/slos", api_key)
    budgets = _get(url, "/api/v1/budgets", api_key)
    pipeline = _get(url, "/api/v1/evaluation", api_key)
    if as_json:
        click.echo(json.dumps({"slos": slos, "budgets": budgets, "evaluation": pipeline}, indent=2))
        return
    console = Console(width=None if sys.stdout.isatty() else 160)
    if not slos and not budgets:
        click.echo("no SLOs or spend budgets configured")
    if slos:
        console.print(_slo_table(slos, url))
    if budgets:
        console.print(_budget_table(budgets, url))
        for line in _over_cap(budgets):
            click.echo(line)
    if pipeline["tasks_waiting"]:
        click.echo(f"{pipeline['tasks_waiting']:,} finished tasks wait {pipeline['grace_s']:g} s for late spans "
                   f"(evaluation.grace_s); task SLOs and per-member budgets count them from "
                   f"{_through(pipeline['tasks_waiting_count_from'])[11:]}")
    if pipeline["spans_beyond_horizon"]:
        hours = pipeline["lateness_horizon_s"] / 3600
        click.echo(f"{pipeline['spans_beyond_horizon']:,} spans arrived more than {hours:g} h after they ended: "
                   "stored, but counted in no SLI (evaluation.lateness_horizon_s)")


@main.command()
@click.option("--url", envvar="AGENTSLO_URL",
              help="The AgentSLO to play against [env AGENTSLO_URL; default the local service, "
                   "http://127.0.0.1:$AGENTSLO_HTTP_PORT, port 4318 if unset].")
@click.option("--embedded", is_flag=True, help="Run an AgentSLO in this process even if one answers at --url.")
@click.option("--ingest-key", envvar="AGENTSLO_INGEST_KEY",
              help="The key the agents send their spans with, when the service has API keys "
                   "[env AGENTSLO_INGEST_KEY].")
@click.option("--api-key", envvar="AGENTSLO_API_KEY",
              help="A read (or admin) key to show the service's SLOs and alerts [env AGENTSLO_API_KEY].")
def demo(url: str | None, embedded: bool, ingest_key: str | None, api_key: str | None) -> None:
    """Play a fleet of simulated agents through an LLM provider outage, and show what AgentSLO sees.

    Four agents in three services, instrumented with the OpenTelemetry SDK alone, call a fake
    OpenAI-compatible endpoint on loopback that bills at list price. The story: 10 minutes of normal
    traffic, 12 of an OpenAI outage (breakers open, agents fall back to other models, their cache, then a
    graceful error), 13 of recovery. Each minute prints a line; pages print as they fire and resolve; the
    end compares AgentSLO's cost by model with the endpoint's bill.

    With no AgentSLO answering at --url, or with --embedded, the demo runs one in this process on a
    temporary store with the demo's SLOs, budgets and a webhook receiver of its own, and moves its
    clock a minute at a time: the 35 minutes play in well under a minute.

    Against a running service, time is real: the 35 minutes take 35 minutes, the service evaluates
    and alerts on its own schedule with its own config (start it with the demo's:
    ./dev run --config agentslo/demo/agentslo-demo.yaml), and the demo lists the alerts the service
    reports; AgentSLO's cost by model is then on the LLM overview dashboard. A service with API keys
    needs --ingest-key and --api-key.
    """
    import tempfile

    import httpx
    from rich.console import Console

    from agentslo.demo import DemoRefused, run_against, run_embedded
    from ground.storage import StorageSpec, open_storage

    console = Console(width=None if sys.stdout.isatty() else 160)
    target = url or f"http://127.0.0.1:{os.environ.get('AGENTSLO_HTTP_PORT') or 4318}"
    if not embedded:
        try:
            httpx.get(target.rstrip("/") + "/readyz", timeout=5)
        except httpx.TransportError:
            if url:
                raise click.ClickException(f"no AgentSLO answers at {url}: start one (./dev run), "
                                           "or run the demo with --embedded") from None
            console.print(f"No AgentSLO answers at {target}: running one in this process.", highlight=False)
        else:
            try:
                run_against(target, console=console, ingest_key=ingest_key, api_key=api_key)
            except DemoRefused as exc:
                raise click.ClickException(str(exc)) from None
            return
    with tempfile.TemporaryDirectory(prefix="agentslo-demo-") as data_dir:
        run_embedded(open_storage(StorageSpec(data_dir=Path(data_dir), database="agentslo")), console=console)


def _get(url: str, path: str, api_key: str | None) -> Any:
    import httpx

    headers = {} if api_key is None else {"authorization": f"Bearer {api_key}"}
    try:
        response = httpx.get(url.rstrip("/") + path, headers=headers, timeout=60)
    except httpx.TransportError as exc:
        raise click.ClickException(f"cannot reach AgentSLO at {url}: {exc}") from None
    if response.status_code in (401, 403):
        raise click.ClickException(f"{url} answered {response.status_code}: {response.json()['detail']}; pass "
                                   "--api-key (or set AGENTSLO_API_KEY) with a read key")
    if response.status_code != 200:
        raise click.ClickException(f"{url} answered {response.status_code}: {response.text[:500]}")
    return response.json()


def _slo_table(slos: list[dict[str, Any]], url: str) -> Any:
    from rich.table import Table

    view = Table(title=f"SLOs at {url}")
    for heading in ("SLO", "SLI", "objective", "budget left", "burn 1h", "burn 6h", "state", "data through"):
        view.add_column(heading, justify="left" if heading in ("SLO", "state") else "right", no_wrap=True)
    for slo in slos:
        burns = {rate["window"]: rate["burn_rate"] for rate in slo["burn_rates"]}
        state = slo["state"] if not slo["alert_state"] else f"{slo['state']}, alert: {slo['alert_state']}"
        view.add_row(slo["name"], _percent(slo["sli"]), _percent(slo["objective"]),
                     _percent(slo["error_budget_remaining"]), _rate(burns.get("1h")), _rate(burns.get("6h")),
                     state, _through(slo["data_through"]))
    return view


def _budget_table(budgets: list[dict[str, Any]], url: str) -> Any:
    from rich.table import Table

    from slo import format_usd

    view = Table(title=f"Spend budgets at {url}")
    for heading in ("budget", "member", "period", "spent", "cap", "used", "projected", "levels reached"):
        view.add_column(heading, justify="left" if heading in ("budget", "member", "period", "levels reached")
                        else "right", no_wrap=True)
    for budget in budgets:
        if budget["member"] is not None:
            member = f"{budget['per']} {budget['member']}"
        else:
            member = "-" if budget["per"] is None else f"no {budget['per']} has spent yet"
        view.add_row(budget["budget"], member, budget["period"], format_usd(budget["spent_usd"]),
                     format_usd(budget["limit_usd"]), f"{budget['used'] * 100:.1f}%",
                     format_usd(budget["projected_usd"]), ", ".join(budget["levels_reached"]) or "-")
    return view


def _over_cap(budgets: list[dict[str, Any]]) -> list[str]:
    """A line per group budget with members beyond its max_members: they have no alerts of their own."""
    lines = {}
    for budget in budgets:
        if budget["members_over_cap"]:
            alerted = sum(b["alerted"] for b in budgets if b["budget"] == budget["budget"])
            lines[budget["budget"]] = (
                f"{budget['budget']}: {budget['members_over_cap']:,} {budget['per']}s beyond max_members "
                f"({alerted:,}) spent this {budget['period']}: no alerts of their own, only the {alerted:,} top "
                "spenders'")
    return list(lines.values())


def _through(moment: str) -> str:
    """When an SLO's data runs to, in UTC to the minute: tasks lag spans by the grace period."""
    return moment[:16].replace("T", " ") + " UTC"


def _percent(ratio: float | None) -> str:
    return "no data" if ratio is None else f"{ratio * 100:.3f}%"


def _rate(burn: float | None) -> str:
    return "-" if burn is None else f"{burn:.2f}x"


@main.group()
def dashboards() -> None:
    """Grafana provisioning: datasource, dashboards and alert rules."""


@dashboards.command("build")
@click.option("--config", "config_file", type=click.Path(path_type=Path, dir_okay=False, exists=True),
              help="Config whose SLOs get alert rules (default: the example config shipped with the dashboards).")
@click.option("--out", type=click.Path(path_type=Path, file_okay=False), required=True,
              help="Provisioning directory to write, e.g. grafana/provisioning (docker-compose.yml mounts "
                   "dashboards/provisioning).")
@click.option("--datasource", "datasource_kind", type=click.Choice(["server", "embedded"]), default="server",
              show_default=True,
              help="What Grafana reads: a ClickHouse server (native protocol), or the service's read-only "
                   "ClickHouse interface over its embedded store (clickhouse_http.enabled).")
def dashboards_build(config_file: Path | None, out: Path, datasource_kind: str) -> None:
    """Write every provisioning file under --out; files there no longer produced are removed."""
    from dashboards import EXAMPLE_CONFIG, write_provisioning
    from slo import slo_from_spec, spend_budget_from_spec

    config = _load_or_exit(config_file or EXAMPLE_CONFIG, {}, env={})
    written = write_provisioning(out, [slo_from_spec(spec) for spec in config.slos],
                                 [spend_budget_from_spec(spec) for spec in config.budgets],
                                 policies=config.alerts.policies(), default_policy=config.alerts.default_policy(),
                                 datasource_kind=datasource_kind)
    for path in written:
        click.echo(str(path))


def _load_or_exit(config_file: Path | None, flags: dict[str, object], env: dict[str, str] | None = None) -> Config:
    # Imported here, as every module is but click: the mapping worker processes, which
    # multiprocessing starts by re-running the `agentslo` script, then load only the mapper.
    from agentslo.config import load_config

    try:
        return load_config(config_file, env=env, flags=flags)
    except ConfigError as exc:
        _exit_with(exc.problems)


def _exit_with(problems: list[str]) -> NoReturn:
    for problem in problems:
        click.echo(f"error: {problem}", err=True)
    sys.exit(1)
