"""Specification of the SLI kind registry: each kind whole in one entry, and nothing unknown passes silently."""

from __future__ import annotations

import subprocess
import sys
import typing
from dataclasses import dataclass

import pytest

from ground.errors import ConfigError
from slo import KINDS, Availability, Events, compile_sli, kind_of, parse_slo_specs, slo_from_spec


@pytest.mark.parametrize("name", sorted(KINDS))
def test_each_kind_is_one_entry_from_spec_to_sql(name: str) -> None:
    kind = KINDS[name]
    assert typing.get_args(kind.spec.model_fields["kind"].annotation) == (name,)
    assert kind.spec.model_fields["over"].default == kind.events[0]
    spec = {"name": "s", "objective": 99, "window": "1d",
            "sli": {"kind": name, "threshold": "1s", "threshold_usd": 0.01}}
    spec["sli"] = {k: v for k, v in spec["sli"].items() if k in kind.spec.model_fields}
    slo = slo_from_spec(parse_slo_specs([spec], where="test")[0])
    assert type(slo.indicator) is kind.value and kind_of(slo.indicator) is kind
    assert compile_sli(slo.indicator).events is Events(kind.events[0])


def test_a_value_of_no_registered_kind_is_refused_not_computed_as_availability() -> None:
    @dataclass(frozen=True)
    class Saturation:
        events: Events = Events.SPANS
        filter: tuple = ()

    with pytest.raises(TypeError, match="not an SLI kind's value"):
        compile_sli(Saturation())
    assert kind_of(Availability(Events.SPANS)).name == "availability"


def test_an_unknown_kind_in_the_config_is_an_error_naming_the_known_ones() -> None:
    with pytest.raises(ConfigError) as raised:
        parse_slo_specs([{"name": "s", "objective": 99, "window": "1d", "sli": {"kind": "saturation"}}],
                        where="agentslo.yaml: slos")
    assert raised.value.problems == [
        "agentslo.yaml: slos[0] (s).sli.kind: must be one of: availability, error_rate, latency, cost, "
        "cache_hit_rate, tool_success; got 'saturation'"]


def test_importing_slo_loads_the_pure_core_only() -> None:
    # The engine (storage, the ClickHouse driver, chDB) is slo.engine, loaded when asked for.
    heavy = ("ground.storage", "clickhouse_connect", "chdb", "slo.engine")
    loaded = subprocess.run([sys.executable, "-c", f"import sys, slo; print([m for m in {heavy!r} if m in sys.modules])"],
                            capture_output=True, text=True, timeout=60, check=True).stdout.strip()
    assert loaded == "[]"
