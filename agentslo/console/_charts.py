"""The console's charts as Plotly figures: values in, figure JSON out; plotly.js (served from the
plotly package, agentslo.console._assets) draws them in the page as SVG, axis labels as text.

Times go out as UTC ISO strings; the page's script shows them in the browser's time zone
before Plotly draws (static/console.js).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

import plotly.graph_objects as go

from agentslo.console._reads import DaySpend, SloPoint

_LAYOUT = {
    "margin": {"l": 60, "r": 20, "t": 30, "b": 40},
    "height": 280,
    "hovermode": "x unified",
    "legend": {"orientation": "h", "y": -0.2},
    "font": {"family": "system-ui, sans-serif", "size": 12},
}


def budget_burn_down(history: Sequence[SloPoint], title: str) -> str:
    """Error budget remaining over the history, in percent, with the line where it is spent."""
    figure = go.Figure(
        go.Scatter(x=[_iso(p.at) for p in history],
                   y=[None if p.error_budget_remaining is None else 100 * p.error_budget_remaining for p in history],
                   mode="lines", name="error budget remaining (%)", line={"color": "#1f6feb"}),
        layout={**_LAYOUT, "title": {"text": title},
                "xaxis": {"type": "date"}, "yaxis": {"title": {"text": "%"}, "zeroline": True}},
    )
    figure.add_hline(y=0, line={"color": "#cf222e", "dash": "dot"})
    return figure.to_json()


def sli_history(history: Sequence[SloPoint], objective: float, title: str) -> str:
    """The SLI over the history against the objective, in percent."""
    x = [_iso(p.at) for p in history]
    figure = go.Figure(
        [go.Scatter(x=x, y=[None if p.sli is None else 100 * p.sli for p in history], mode="lines", name="SLI (%)",
                    line={"color": "#1a7f37"}),
         go.Scatter(x=[x[0], x[-1]] if x else [], y=[100 * objective] * (2 if x else 0), mode="lines",
                    name=f"objective ({100 * objective:g}%)", line={"color": "#cf222e", "dash": "dash"})],
        layout={**_LAYOUT, "title": {"text": title}, "xaxis": {"type": "date"}, "yaxis": {"title": {"text": "%"}}},
    )
    return figure.to_json()


def daily_spend(days: Sequence[DaySpend], caps: Sequence[tuple[str, float]], title: str) -> str:
    """Spend per UTC day as bars, each daily cap (name, USD) as a line across."""
    figure = go.Figure(
        go.Bar(x=[d.day for d in days], y=[d.cost_usd for d in days], name="spend (USD)",
               marker={"color": "#1f6feb"}),
        layout={**_LAYOUT, "title": {"text": title}, "xaxis": {"type": "category"},
                "yaxis": {"title": {"text": "USD"}, "tickprefix": "$"}},
    )
    for name, limit_usd in caps:
        figure.add_hline(y=limit_usd, line={"color": "#cf222e", "dash": "dash"},
                         annotation={"text": f"{name} cap", "xanchor": "left"}, annotation_position="top left")
    return figure.to_json()


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")
