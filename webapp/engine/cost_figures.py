"""Plotly figure data for the cost page, built from the cost report (`segscope cost --json`):
rules and set members per host as distributions, the fleet's totals over its snapshot
history, and the rules a NEW packet is checked against per host."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from webapp.engine.figures import plotly_text

RULES = "#1f6feb"
MEMBERS = "#1a7f37"
FLAT = "#c4660a"


def newest_per_host(report: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    """Each host's entry at its newest snapshot, by host name."""
    newest: dict[str, Mapping[str, Any]] = {}
    for entry in report["hosts"]:
        newest[entry["host"]] = entry  # the report lists each host's entries in time order
    return [newest[name] for name in sorted(newest)]


def distribution_figure(hosts: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """How many hosts carry how many rules, and how many set members."""
    return {"data": [
        {"type": "histogram", "x": [h["rules"] for h in hosts], "name": "rules",
         "marker": {"color": RULES}, "opacity": 0.75,
         "hovertemplate": "%{x} rules: %{y} hosts<extra></extra>"},
        {"type": "histogram", "x": [h["set_members"] for h in hosts], "name": "set members",
         "marker": {"color": MEMBERS}, "opacity": 0.75,
         "hovertemplate": "%{x} set members: %{y} hosts<extra></extra>"},
    ], "layout": {
        "barmode": "overlay", "margin": {"l": 50, "r": 10, "t": 30, "b": 40},
        "uirevision": "cost-distribution",
        "legend": {"orientation": "h", "x": 0, "y": 1.02, "yanchor": "bottom"},
        "xaxis": {"title": {"text": "per host"}}, "yaxis": {"title": {"text": "hosts"}}}}


def history_figure(fleet: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """Fleet-wide rules, set members and the flat-ACL equivalent at every snapshot time."""
    times = [point["at"] for point in fleet]

    def line(key: str, name: str, color: str, dash: str = "solid") -> dict[str, Any]:
        return {"type": "scatter", "mode": "lines+markers", "x": times,
                "y": [point[key] for point in fleet], "name": name,
                "line": {"shape": "hv", "color": color, "dash": dash},
                "hovertemplate": f"%{{y}} {name} at %{{x}}<extra></extra>"}
    return {"data": [line("rules", "rules", RULES), line("set_members", "set members", MEMBERS),
                     line("flat_rules", "rules as a flat ACL", FLAT, "dot")],
            "layout": {"margin": {"l": 50, "r": 10, "t": 30, "b": 40},
                       "uirevision": "cost-history",
                       "legend": {"orientation": "h", "x": 0, "y": 1.02, "yanchor": "bottom"},
                       "xaxis": {"title": {"text": "time (UTC)"}, "type": "date"},
                       "yaxis": {"title": {"text": "in the fleet"}, "rangemode": "tozero"}}}


def traversed_figure(hosts: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """Per host, the average and the worst number of rules a NEW connection to one of its
    workloads is checked against before its verdict."""
    measured = [h for h in hosts if h["traversed_avg"] is not None]
    names = [plotly_text(h["host"]) for h in measured]
    return {"data": [
        {"type": "bar", "x": names, "y": [h["traversed_avg"] for h in measured],
         "name": "average", "marker": {"color": RULES},
         "hovertemplate": "%{x}: %{y} rules on average<extra></extra>"},
        {"type": "bar", "x": names, "y": [h["traversed_max"] for h in measured],
         "name": "worst", "marker": {"color": FLAT},
         "hovertemplate": "%{x}: %{y} rules at worst<extra></extra>"},
    ], "layout": {"barmode": "group", "margin": {"l": 50, "r": 10, "t": 30, "b": 60},
                  "uirevision": "cost-traversed",
                  "legend": {"orientation": "h", "x": 0, "y": 1.02, "yanchor": "bottom"},
                  "xaxis": {"title": {"text": "host"}, "type": "category"},
                  "yaxis": {"title": {"text": "rules traversed per verdict"},
                            "rangemode": "tozero"}}}


def summary(report: Mapping[str, Any], hosts: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """The fleet's newest totals, the flat-ACL factor, and traversal over all hosts."""
    fleet = report["fleet"][-1] if report["fleet"] else None
    averages = [h["traversed_avg"] for h in hosts if h["traversed_avg"] is not None]
    worst = [h["traversed_max"] for h in hosts if h["traversed_max"] is not None]
    return {
        "at": fleet["at"] if fleet else None,
        "rules": fleet["rules"] if fleet else 0,
        "set_members": fleet["set_members"] if fleet else 0,
        "flat_rules": fleet["flat_rules"] if fleet else 0,
        "flat_factor": round(fleet["flat_rules"] / fleet["rules"], 2)
        if fleet and fleet["rules"] else None,
        "rules_per_host": round(sum(h["rules"] for h in hosts) / len(hosts), 1) if hosts else 0,
        "traversed_avg": round(sum(averages) / len(averages), 2) if averages else None,
        "traversed_max": max(worst) if worst else None,
        "activation": dict(report["activation"]),
    }
