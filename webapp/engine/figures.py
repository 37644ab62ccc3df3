"""Plotly figure data for the pages, built from engine values (no Django): the segment graph
with edges classed against the intent, and a generation's convergence curve."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

from webapp.engine.analysis.ports import PortSet

# Edge classes, in legend order, with their colour and line style.
EDGE_CLASSES: dict[str, dict[str, str]] = {
    "intended": {"label": "intended and allowed", "color": "#1a7f37", "dash": "solid"},
    "missing": {"label": "intended but missing", "color": "#b42318", "dash": "dash"},
    "excess": {"label": "allowed but not intended", "color": "#c4660a", "dash": "solid"},
}
NODE_COLOR = "#1f6feb"
# Decimals of the positions sent (the layout spans -1..1; a ten-thousandth is below a pixel).
PLACES = 4


def plotly_text(text: str) -> str:
    """Text that plotly shows as written: plotly reads tags (`<b>`, `<br>`, `<a href>`) and
    entities in text, hover text and tick labels, so `&`, `<` and `>` become entities."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def classify_segment_edges(effective: Sequence[Mapping[str, Any]],
                           intended: Mapping[tuple[str, str], PortSet],
                           port: tuple[str, int | None] | None = None) -> list[dict[str, Any]]:
    """Every segment pair allowed or intended something, with its class: `intended` (the
    intent allows it and the fleet allows some of that), `missing` (intended, nothing of it
    allowed) or `excess` (allowed, not intended); the ports of each side, and the pair counts
    of the effective edge. `port` keeps the pairs allowed or intended that port."""
    by_pair = {(e["src"], e["dst"]): e for e in effective}
    out = []
    for src, dst in sorted(set(by_pair) | set(intended)):
        edge = by_pair.get((src, dst))
        allowed = PortSet.parse(edge["allowed"]) if edge is not None else PortSet()
        wanted = intended.get((src, dst), PortSet())
        if port is not None and not (allowed.contains(*port) or wanted.contains(*port)):
            continue
        if allowed & wanted:
            kind = "intended"
        elif wanted:
            kind = "missing"
        else:
            kind = "excess"
        out.append({
            "src": src, "dst": dst, "class": kind, "allowed": allowed.texts(),
            "intended": wanted.texts(), "missing_ports": (wanted - allowed).texts(),
            "excess_ports": (allowed - wanted).texts(),
            "status": edge["status"] if edge is not None else "absent",
            "pairs": edge["pairs"] if edge is not None else None,
            "pairs_allowed": dict(edge["pairs_allowed"]) if edge is not None else {},
        })
    return out


def edge_summary(edge: Mapping[str, Any]) -> str:
    """One line for a hover or a table cell: class, ports, and counts when partial; a group
    edge counts its segment edges by class."""
    if edge.get("group"):
        classes = ", ".join(f"{n} {EDGE_CLASSES[k]['label']}" for k, n in edge["classes"].items())
        parts = [f"{edge['src']} → {edge['dst']}: {edge['edges']} segment edges ({classes})"]
    else:
        parts = [f"{edge['src']} → {edge['dst']}: {EDGE_CLASSES[edge['class']]['label']}"]
    if edge["allowed"]:
        counts = ", ".join(f"{p} {n}/{edge['pairs']}" for p, n in edge["pairs_allowed"].items())
        parts.append(f"allowed {', '.join(edge['allowed'])}"
                     + (f" (partial: {counts} pairs)" if edge["status"] == "partial" else ""))
    if edge["missing_ports"]:
        parts.append(f"missing {', '.join(edge['missing_ports'])}")
    return "; ".join(parts)


def segment_graph_figure(nodes: Mapping[str, Mapping[str, Any]],
                         edges: Sequence[Mapping[str, Any]],
                         positions: Mapping[str, tuple[float, float]],
                         focus: str | None = None) -> dict[str, Any]:
    """The segment network: a line trace per edge class (the legend), a marker at each edge's
    middle pointing to its destination (hover and click; customdata `src|dst`), and the nodes
    (customdata the segment or group name). `nodes` maps a name to its `workloads` and, for a
    group of segments (drawn as a square), its `group` and number of `segments`."""
    traces: list[dict[str, Any]] = []
    for kind, style in EDGE_CLASSES.items():
        xs: list[float | None] = []
        ys: list[float | None] = []
        mid_x, mid_y, angles, texts, keys = [], [], [], [], []
        for edge in edges:
            if edge["class"] != kind or not {edge["src"], edge["dst"]} <= positions.keys():
                continue
            (x0, y0), (x1, y1) = positions[edge["src"]], positions[edge["dst"]]
            if edge["src"] == edge["dst"]:
                mx, my, angle = x0, y0 + 0.06, 90.0
            else:
                xs += [round(x0, PLACES), round(x1, PLACES), None]
                ys += [round(y0, PLACES), round(y1, PLACES), None]
                mx, my = x0 + (x1 - x0) * 0.55, y0 + (y1 - y0) * 0.55
                # Marker angles are clockwise from up; the axes keep a 1:1 aspect.
                angle = math.degrees(math.atan2(x1 - x0, y1 - y0))
            mid_x.append(round(mx, PLACES))
            mid_y.append(round(my, PLACES))
            angles.append(round(angle, 1))
            texts.append(plotly_text(edge_summary(edge)))
            keys.append(f"{edge['src']}|{edge['dst']}")
        if not keys:
            continue
        traces.append({"type": "scatter", "mode": "lines", "x": xs, "y": ys,
                       "name": style["label"], "legendgroup": kind, "hoverinfo": "skip",
                       "line": {"color": style["color"], "dash": style["dash"], "width": 2}})
        traces.append({"type": "scatter", "mode": "markers", "x": mid_x, "y": mid_y,
                       "name": style["label"], "legendgroup": kind, "showlegend": False,
                       "text": texts, "customdata": keys, "hoverinfo": "text",
                       "meta": "edge",
                       "marker": {"symbol": "arrow", "size": 14, "angle": angles,
                                  "color": style["color"]}})
    names = [n for n in sorted(nodes) if n in positions]
    traces.append({
        "type": "scatter", "mode": "markers+text", "name": "segments", "showlegend": False,
        "meta": "node",
        "x": [round(positions[n][0], PLACES) for n in names],
        "y": [round(positions[n][1], PLACES) for n in names],
        "text": [plotly_text(n) for n in names], "textposition": "top center",
        "customdata": names,
        "hovertext": [plotly_text(_node_summary(n, nodes[n])) for n in names],
        "hoverinfo": "text",
        "marker": {"size": [12 + min(nodes[n]["workloads"], 40) for n in names],
                   "symbol": ["square" if nodes[n].get("group") else "circle" for n in names],
                   "color": ["#0b3d91" if n == focus else NODE_COLOR for n in names],
                   "line": {"color": "#ffffff", "width": 1}}})
    axis = {"visible": False, "zeroline": False, "showgrid": False}
    return {"data": traces, "layout": {
        "margin": {"l": 10, "r": 10, "t": 10, "b": 10}, "hovermode": "closest",
        "showlegend": True, "legend": {"orientation": "h", "y": -0.02},
        "xaxis": {**axis}, "yaxis": {**axis, "scaleanchor": "x", "scaleratio": 1},
        "uirevision": "segment-graph", "paper_bgcolor": "#ffffff", "plot_bgcolor": "#ffffff"}}


def _node_summary(name: str, node: Mapping[str, Any]) -> str:
    if node.get("group"):
        return (f"{name}: {node['segments']} segments, {node['workloads']} workloads "
                "(click to open)")
    return f"{name}: {node['workloads']} workloads"


def convergence_figure(generation: Mapping[str, Any]) -> dict[str, Any]:
    """Hosts converged over time for one generation (the convergence contract's dict): a step
    curve from the generation's opening, and the listed hosts as a dashed ceiling."""
    opened = generation["opened_at"]
    times = sorted(h["converged_at"] for h in generation["hosts"] if h["converged_at"])
    xs = [opened, *times]
    ys = list(range(len(xs)))
    listed = generation["listed"]
    end = times[-1] if times else opened
    return {"data": [
        {"type": "scatter", "mode": "lines+markers", "x": xs, "y": ys, "name": "converged",
         "line": {"shape": "hv", "color": "#1a7f37"},
         "hovertemplate": "%{y} hosts converged at %{x}<extra></extra>"},
        {"type": "scatter", "mode": "lines", "x": [opened, end], "y": [listed, listed],
         "name": "hosts listed", "line": {"dash": "dot", "color": "#5b6475"},
         "hoverinfo": "skip"},
    ], "layout": {
        "margin": {"l": 50, "r": 10, "t": 30, "b": 40}, "showlegend": True,
        "legend": {"orientation": "h", "x": 0, "y": 1.02, "yanchor": "bottom"},
        "uirevision": "convergence",
        "xaxis": {"title": {"text": "time (UTC)"}, "type": "date"},
        "yaxis": {"title": {"text": "hosts converged"}, "rangemode": "tozero",
                  "range": [0, max(listed, 1) * 1.05]}}}


def time_to_converge_figure(generation: Mapping[str, Any]) -> dict[str, Any]:
    """The distribution of seconds to converge over the generation's converged hosts."""
    seconds = [h["seconds"] for h in generation["hosts"] if h["seconds"] is not None]
    return {"data": [{"type": "histogram", "x": seconds, "name": "hosts",
                      "marker": {"color": "#1f6feb"},
                      "hovertemplate": "%{x} s: %{y} hosts<extra></extra>"}],
            "layout": {"margin": {"l": 50, "r": 10, "t": 10, "b": 40},
                       "uirevision": "time-to-converge", "bargap": 0.1,
                       "xaxis": {"title": {"text": "seconds to converge"}},
                       "yaxis": {"title": {"text": "hosts"}}}}

