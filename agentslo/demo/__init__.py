"""`agentslo demo`: a fleet of simulated agents, a fake LLM provider, and AgentSLO watching them.

The agents (`Fleet`, `Agent`) are instrumented with the OpenTelemetry SDK alone; the
fake provider (`FakeLlm`) is a real HTTP server on loopback that bills at list
price and fails on demand; `run_embedded` plays the story against an AgentSLO
in this process in compressed time, `run_against` against a running one in
real time.
"""

from agentslo.demo._fake_llm import PRICE_LIST, FakeLlm, Faults, ListPrice
from agentslo.demo._fleet import Agent, AgentSpec, BreakerState, CircuitBreaker, Fleet, MinuteOutcome, Model, Source
from agentslo.demo._llm_client import ChatClient, Completion, EndpointError, Usage
from agentslo.demo._receiver import AlertReceiver, alert_line
from agentslo.demo._run import CONFIG_FILE, DemoRefused, DemoResult, demo_config, run_against, run_embedded, scenario_minutes
from agentslo.demo._scenario import FLEET, PHASES, Phase, scenario_start

__all__ = [
    "CONFIG_FILE", "DemoRefused",
    "FLEET",
    "PHASES",
    "PRICE_LIST",
    "Agent",
    "AgentSpec",
    "AlertReceiver",
    "BreakerState",
    "ChatClient",
    "CircuitBreaker",
    "Completion",
    "DemoResult",
    "EndpointError",
    "FakeLlm",
    "Faults",
    "Fleet",
    "ListPrice",
    "MinuteOutcome",
    "Model",
    "Phase",
    "Source",
    "Usage",
    "alert_line",
    "demo_config",
    "run_against",
    "run_embedded",
    "scenario_minutes",
    "scenario_start",
]
