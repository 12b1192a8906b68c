"""The dashboard as one HTML page with inline SVG charts (no scripts, nothing fetched)."""

from html import escape
from typing import Any

__all__ = ["render"]

_STYLE = """
body{font-family:system-ui,sans-serif;margin:24px;background:#f6f7f9;color:#1d2330}
h1{font-size:20px} h2{font-size:15px;margin:0 0 8px}
.grid{display:grid;grid-template-columns:repeat(2,minmax(0,1fr));gap:16px}
.card{background:#fff;border-radius:8px;padding:14px;box-shadow:0 1px 2px #0002}
table{border-collapse:collapse;font-size:12px;width:100%} td,th{padding:3px 6px;text-align:right}
td:first-child,th:first-child{text-align:left}
.critical{color:#b00020} .warning{color:#9a6700} .info{color:#0b5cad}
"""


def _bars(items: list[tuple[str, float | None]], unit: str, width: int = 520) -> str:
    values = [v for _, v in items if v is not None]
    top = max(values, default=0) or 1
    rows = []
    for i, (label, value) in enumerate(items):
        y = i * 22
        length = 0 if value is None else max(1, int((width - 280) * value / top))
        shown = "n/a" if value is None else f"{value:,.4g} {unit}"
        rows.append(
            f'<text x="0" y="{y + 14}" font-size="11">{escape(label[:28])}</text>'
            f'<rect x="180" y="{y + 3}" width="{length}" height="14" fill="#3b6fd8" rx="2"/>'
            f'<text x="{186 + length}" y="{y + 14}" font-size="11">{shown}</text>'
        )
    return f'<svg width="{width}" height="{max(22, 22 * len(items))}">{"".join(rows)}</svg>'


def _card(title: str, body: str) -> str:
    return f'<div class="card"><h2>{escape(title)}</h2>{body}</div>'


def _lists(view: dict[str, Any]) -> tuple[str, str, str]:
    """The routes table's rows, the alerts and the recommendations as HTML list items."""
    route_rows = "".join(
        f"<tr><td>{escape(name)}</td><td>{r['count']}</td><td>{r['p50_ms']}</td><td>{r['p95_ms']}</td>"
        f"<td>{r['p99_ms']}</td><td>{r['error_rate']:.2%}</td></tr>"
        for name, r in sorted(view["routes"].items())
    )
    alerts = "".join(
        f'<li class="{a["severity"]}">{escape(a["severity"])}: {escape(a["message"])}</li>'
        for a in view["alerts"]
    )
    advice = "".join(f"<li>{escape(text)}</li>" for text in view["recommendations"])
    return route_rows, alerts or "<li>none</li>", advice or "<li>none</li>"


def render(view: dict[str, Any]) -> str:
    routes = view["routes"]
    route_rows, alerts, advice = _lists(view)
    business = view["business"]
    cards = [
        _card(
            "Latency p95 per route (ms)", _bars([(n, r["p95_ms"]) for n, r in sorted(routes.items())], "ms")
        ),
        _card(
            "Routes",
            "<table><tr><th>route</th><th>count</th><th>p50</th><th>p95</th><th>p99</th><th>errors</th></tr>"
            f"{route_rows}</table>",
        ),
        _card(
            "Model cost (USD)", _bars([(n, m["cost_usd"]) for n, m in sorted(view["models"].items())], "$")
        ),
        _card(
            "Model latency p95 (ms)",
            _bars([(n, m["p95_ms"]) for n, m in sorted(view["models"].items())], "ms"),
        ),
        _card(
            "Cache hit rate",
            _bars(
                [("all lookups", view["cache"]["hit_rate"])]
                + [(t, c["hit_rate"]) for t, c in view["cache"].get("tiers", {}).items()],
                "",
            ),
        ),
        _card("Requests per day", _bars(list(business["requests_per_day"].items()), "")),
        _card(
            "Functions: memory used of configured (MB)",
            _bars([(n, f["memory_used_mb"]) for n, f in view.get("functions", {}).items()], "MB"),
        ),
        _card(
            "Business",
            f"<p>active users this month: {business['active_users_month']}<br>"
            f"cost this month: ${business['cost_month_usd']:.6f}, per active user: "
            f"${business['cost_per_active_user_month_usd']:.6f}<br>"
            f"availability: {business['availability']}</p>",
        ),
        _card("Active alerts", f"<ul>{alerts}</ul>"),
        _card("Recommendations", f"<ul>{advice}</ul>"),
    ]
    return (
        "<!doctype html><html><head><meta charset='utf-8'><title>Aether dashboard</title>"
        f"<style>{_STYLE}</style></head><body>"
        f"<h1>Aether, last {view['window_minutes']} minutes ({escape(view['source'])})</h1>"
        f'<div class="grid">{"".join(cards)}</div></body></html>'
    )
