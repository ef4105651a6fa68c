"""AgentSLO: SLOs, error budgets and spend for LLM agents, from their OpenTelemetry spans."""

__version__ = "0.1.0"
__all__ = ["__version__"]
