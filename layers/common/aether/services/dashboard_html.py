"""The dashboard as one HTML page: time series drawn as inline SVG on the server, no script.

Scales say what they measure: a rate is drawn on 0-100%, memory against the configured size,
everything else from 0 to a rounded maximum, with the scale's top written on the chart. Each unit
has one format (`ms`, `pct`, `usd`, `count`, `mb`). The page reloads itself every REFRESH_S.
"""

import math
from datetime import UTC, datetime
from html import escape
from typing import Any

__all__ = ["REFRESH_S", "WINDOWS", "count", "mb", "ms", "pct", "render", "usd"]

REFRESH_S = 30
WINDOWS = {"1 h": 60, "24 h": 1440, "7 d": 10080}
_COLORS = ("#2f6fde", "#d9822b", "#c23030", "#0f9960", "#7157d9", "#8a9ba8", "#29a634", "#db2c6f")
_W, _H, _LEFT, _TOP, _BOTTOM = 520, 180, 70, 12, 24

_STYLE = """
*{box-sizing:border-box}
body{font-family:system-ui,sans-serif;margin:0;padding:16px;background:#f5f6f8;color:#1d2330}
header{display:flex;flex-wrap:wrap;gap:8px 16px;align-items:baseline} h1{font-size:19px;margin:0}
nav a{margin-right:10px} nav a.on{font-weight:700;text-decoration:none;color:#1d2330}
.tiles{display:grid;grid-template-columns:repeat(auto-fill,minmax(140px,1fr));gap:10px;margin:14px 0}
.tile{background:#fff;border-radius:8px;padding:10px;box-shadow:0 1px 2px #0002}
.tile b{display:block;font-size:19px} .tile span{font-size:12px;color:#5c6570}
.grid{display:grid;grid-template-columns:repeat(auto-fit,minmax(min(100%,560px),1fr));gap:14px}
.card{background:#fff;border-radius:8px;padding:12px;box-shadow:0 1px 2px #0002;min-width:0}
h2{font-size:14px;margin:0 0 6px} svg{width:100%;height:auto;display:block}
.legend{font-size:12px;display:flex;flex-wrap:wrap;gap:4px 12px}
.legend i{display:inline-block;width:10px;height:10px;margin-right:4px;border-radius:2px}
.scroll{overflow-x:auto} table{border-collapse:collapse;font-size:12px;width:100%}
td,th{padding:4px 6px;text-align:right;white-space:nowrap} td:first-child,th:first-child{text-align:left}
tr+tr td{border-top:1px solid #eef0f2} .critical{color:#b00020} .warning{color:#9a6700} .info{color:#0b5cad}
.note{font-size:12px;color:#5c6570}
"""


# One format per unit.
def ms(value: float | None) -> str:
    if value is None:
        return "n/a"
    return f"{value:,.1f} ms" if value < 10 else f"{value:,.0f} ms"


def pct(fraction: float | None) -> str:
    if fraction is None:
        return "n/a"
    return f"{100 * fraction:.1f}%" if fraction < 0.9995 else "100%"


def usd(value: float | None) -> str:
    if value is None:
        return "n/a"
    if value == 0:
        return "$0"
    if value >= 1:
        return f"${value:,.2f}"
    decimals = max(2, 2 - math.floor(math.log10(value)))  # three significant digits below $1
    return f"${value:.{min(decimals, 8)}f}"


def count(value: float | None) -> str:
    return "n/a" if value is None else f"{value:,.0f}"


def mb(value: float | None) -> str:
    return "n/a" if value is None else f"{value:,.0f} MB"


_FORMATS = {"ms": ms, "pct": pct, "usd": usd, "count": count, "mb": mb}


def _top(values: list[float], unit: str) -> float:
    """The scale's top for a series with no fixed one: its maximum rounded up to 1, 2 or 5 x 10^n."""
    peak = max(values, default=0.0)
    if peak <= 0:
        return 1.0 if unit != "usd" else 0.01
    power = 10.0 ** math.floor(math.log10(peak))
    return next(m * power for m in (1.0, 2.0, 5.0, 10.0) if m * power >= peak)


def _clock(epoch: int, step_s: int) -> str:
    moment = datetime.fromtimestamp(epoch, UTC)
    return moment.strftime("%d %b %H:%M" if step_s >= 3600 else "%H:%M")


def _chart(
    chart_id: str,
    title: str,
    times: list[int],
    step_s: int,
    lines: dict[str, list[float | None]],
    unit: str,
    top: float | None = None,
    note: str = "",
    summed: bool = False,
) -> str:
    """A card with one line per series over the window's points; `top` fixes the scale's top. The
    legend gives each series' latest value, or with `summed` (counts, money) its window total."""
    fmt = _FORMATS[unit]
    known = [v for values in lines.values() for v in values if v is not None]
    top = top if top else _top(known, unit)
    plot_w, plot_h = _W - _LEFT - 8, _H - _TOP - _BOTTOM
    span = max(1, len(times) - 1)

    def x(i: int) -> float:
        return _LEFT + plot_w * i / span

    def y(value: float) -> float:
        return _TOP + plot_h * (1 - min(value, top) / top)

    parts = []
    for fraction in (0, 0.5, 1):
        level = _TOP + plot_h * (1 - fraction)
        parts.append(f'<line x1="{_LEFT}" x2="{_W - 8}" y1="{level:.1f}" y2="{level:.1f}" stroke="#e3e6ea"/>')
        parts.append(
            f'<text x="{_LEFT - 6}" y="{level + 4:.1f}" font-size="12" text-anchor="end" fill="#5c6570">'
            f"{escape(fmt(top * fraction))}</text>"
        )
    if times:
        for i, anchor in ((0, "start"), (len(times) - 1, "end")):
            parts.append(
                f'<text x="{x(i):.1f}" y="{_H - 6}" font-size="12" text-anchor="{anchor}" fill="#5c6570">'
                f"{_clock(times[i], step_s)}</text>"
            )
    legend = [f'<span class="note">{"window total" if summed else "latest"}:</span>']
    for (label, values), color in zip(lines.items(), _COLORS * 4, strict=False):
        runs: list[list[str]] = [[]]
        for i, value in enumerate(values):
            if value is None:
                runs.append([])
            else:
                runs[-1].append(f"{x(i):.1f},{y(value):.1f}")
        for run in runs:
            if len(run) == 1:  # a lone point between gaps: a dot
                cx, cy = run[0].split(",")
                parts.append(f'<circle cx="{cx}" cy="{cy}" r="2" fill="{color}"/>')
            elif run:
                points = " ".join(run)
                parts.append(f'<polyline points="{points}" fill="none" stroke="{color}" stroke-width="1.6"/>')
        seen = [v for v in values if v is not None]
        shown = sum(seen) if summed and seen else (seen[-1] if seen else None)
        legend.append(f'<span><i style="background:{color}"></i>{escape(label)}: {escape(fmt(shown))}</span>')
    if not known:
        parts.append(
            f'<text x="{_LEFT + plot_w / 2:.0f}" y="{_TOP + plot_h / 2:.0f}" font-size="12" '
            'text-anchor="middle" fill="#5c6570">no data in this window</text>'
        )
    svg = (
        f'<svg viewBox="0 0 {_W} {_H}" role="img" aria-label="{escape(title)}" '
        f'data-chart="{escape(chart_id)}">{"".join(parts)}</svg>'
    )
    footer = f'<div class="legend">{"".join(legend)}</div>' + (
        f'<p class="note">{escape(note)}</p>' if note else ""
    )
    return f'<div class="card"><h2>{escape(title)}</h2>{svg}{footer}</div>'


def _charts(view: dict[str, Any]) -> list[str]:
    series = view.get("series")
    if not series:
        return [
            '<div class="card"><h2>Time series</h2><p class="note">CloudWatch gives this view its '
            "totals only; the time series come from the live figures (source=redis).</p></div>"
        ]
    times, step = series["times"], series["step_s"]
    per = "minute" if step == 60 else "hour"
    charts = [
        _chart(
            "requests",
            f"Requests per {per}",
            times,
            step,
            {"requests": series["requests"], "4xx": series["errors_4xx"], "5xx": series["errors_5xx"]},
            "count",
            summed=True,
        )
    ]
    for route, quantiles in series["latency_ms"].items():
        charts.append(_chart(f"latency:{route}", f"Latency: {route}", times, step, dict(quantiles), "ms"))
    for route, quantiles in series["ttft_ms"].items():
        charts.append(
            _chart(f"ttft:{route}", f"Time to first token: {route}", times, step, dict(quantiles), "ms")
        )
    charts += [
        _chart("cache", "Cache hit rate per tier", times, step, series["cache_hit_rate"], "pct", top=1.0),
        _chart("tokens", f"Tokens per {per}, per model", times, step, series["tokens"], "count", summed=True),
        _chart("cost", f"Cost per {per}, per model", times, step, series["cost_usd"], "usd", summed=True),
    ]
    limits = {name: f["memory_limit_mb"] for name, f in view["functions"].items() if f["memory_limit_mb"]}
    charts.append(
        _chart(
            "memory",
            "Memory used, per function",
            times,
            step,
            series["memory_mb"],
            "mb",
            top=max(limits.values(), default=0.0) or None,
            note="Scale: the largest configured MemorySize. "
            + ", ".join(f"{name} {mb(limit)}" for name, limit in sorted(limits.items())),
        )
    )
    charts.append(
        _chart(
            "cold_starts",
            f"Cold starts per {per}",
            times,
            step,
            {"cold starts": series["cold_starts"]},
            "count",
            summed=True,
        )
    )
    return charts


def _tiles(view: dict[str, Any]) -> str:
    totals, business = view["totals"], view["business"]
    tiles = [
        ("requests", count(totals["requests"])),
        ("4xx (client errors)", count(totals["errors_4xx"])),
        ("5xx (server errors)", count(totals["errors_5xx"])),
        ("availability (no 5xx)", pct(business["availability"])),
        ("model calls", count(totals["model_calls"])),
        ("tokens", count(totals["tokens"])),
        ("model cost in the window", usd(totals["cost_usd"])),
        ("cache hit rate", pct(view["cache"]["hit_rate"])),
        ("cold starts", count(totals["cold_starts"])),
        ("active users this month", count(business["active_users_month"])),
        ("cost this month (usage records)", usd(business["cost_month_usd"])),
    ]
    return "".join(f'<div class="tile"><b>{escape(v)}</b><span>{escape(k)}</span></div>' for k, v in tiles)


def _routes_table(view: dict[str, Any]) -> str:
    rows = "".join(
        f"<tr><td>{escape(name)}</td><td>{count(r['count'])}</td><td>{count(r['errors_4xx'])}</td>"
        f"<td>{count(r['errors_5xx'])}</td><td>{ms(r['p50_ms'])}</td><td>{ms(r['p95_ms'])}</td>"
        f"<td>{ms(r['p99_ms'])}</td><td>{ms(r.get('ttft_p95_ms'))}</td></tr>"
        for name, r in sorted(view["routes"].items())
    )
    names = ("route", "requests", "4xx", "5xx", "p50", "p95", "p99", "first token p95")
    head = "<tr>" + "".join(f"<th>{name}</th>" for name in names) + "</tr>"
    return f'<div class="card"><h2>Routes</h2><div class="scroll"><table>{head}{rows}</table></div></div>'


def _lists(view: dict[str, Any]) -> str:
    alerts = "".join(
        f'<li class="{a["severity"]}">{escape(a["severity"])}: {escape(a["message"])}</li>'
        for a in view["alerts"]
    )
    advice = "".join(f"<li>{escape(text)}</li>" for text in view["recommendations"])
    return (
        f'<div class="card"><h2>Active alerts</h2><ul>{alerts or "<li>none</li>"}</ul></div>'
        f'<div class="card"><h2>Recommendations</h2><ul>{advice or "<li>none</li>"}</ul></div>'
    )


def render(view: dict[str, Any]) -> str:
    window, source = view["window_minutes"], view["source"]
    links = "".join(
        f'<a href="?format=html&amp;window={minutes}&amp;source={escape(source)}"'
        f"{' class=on' if minutes == window else ''}>{label}</a>"
        for label, minutes in WINDOWS.items()
    )
    span = next((label for label, minutes in WINDOWS.items() if minutes == window), f"{window} min")
    return (
        "<!doctype html><html lang='en'><head><meta charset='utf-8'>"
        "<meta name='viewport' content='width=device-width,initial-scale=1'>"
        f"<meta http-equiv='refresh' content='{REFRESH_S}'><title>Aether dashboard</title>"
        f"<style>{_STYLE}</style></head><body>"
        f"<header><h1>Aether, last {escape(span)}</h1><nav>{links}</nav>"
        f'<span class="note">source {escape(source)}; generated {escape(view["generated_at"][:19])} UTC; '
        f'refreshes every {REFRESH_S} s; <a href="?sign_out=true">sign out</a></span></header>'
        f'<div class="tiles">{_tiles(view)}</div>'
        f'<div class="grid">{"".join(_charts(view))}{_routes_table(view)}{_lists(view)}</div>'
        "</body></html>"
    )
