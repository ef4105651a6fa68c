"""`agentslo demo`: a fleet of simulated agents, a fake LLM provider, and AgentSLO watching them.

The agents (`Fleet`, `Agent`) are instrumented with the OpenTelemetry SDK alone;
the fake provider (`FakeLlm`) is a real HTTP server on loopback that bills at
list price and fails on demand; `ChatClient` calls it, or any OpenAI-compatible
endpoint.
"""

from agentslo.demo._fake_llm import PRICE_LIST, FakeLlm, Faults, ListPrice
from agentslo.demo._fleet import Agent, AgentSpec, BreakerState, CircuitBreaker, Fleet, MinuteOutcome, Model, Source
from agentslo.demo._llm_client import ChatClient, Completion, EndpointError, Usage

__all__ = [
    "PRICE_LIST",
    "Agent",
    "AgentSpec",
    "BreakerState",
    "ChatClient",
    "CircuitBreaker",
    "Completion",
    "EndpointError",
    "FakeLlm",
    "Faults",
    "Fleet",
    "ListPrice",
    "MinuteOutcome",
    "Model",
    "Source",
    "Usage",
]
