"""Where a request's time went, as the W3C `Server-Timing` header and the request's log line.

The request's middleware opens a list of spans (`begin`); the steps that wait for something
outside the function add theirs (`span`, `add`): `cache` (Redis lookups of the answer cache),
`quota` (the rate and budget round trips), `model` (the model call, to its last token), `db`
(MongoDB commands, from pymongo's command events), `telemetry` (the live-minute write). Tasks a
request starts copy its context, so they add to the same list. A mark is an instant (`mark`: a
streamed model call's first token) that `first` finds and `figures` leaves out. `figures` turns
the spans into milliseconds per name, each the union of its spans (concurrent commands are not counted twice),
plus `total` and `aether`: the total minus the union of every span, the function's own work.
"""

import time
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

__all__ = ["FIRST_TOKEN", "add", "begin", "figures", "first", "header", "mark", "span"]

Span = tuple[str, float, float]  # name, start, end (time.perf_counter)
FIRST_TOKEN = "first_token"

_spans: ContextVar[list[Span] | None] = ContextVar("aether_spans", default=None)


def begin() -> list[Span]:
    """Start collecting this request's spans (in the current context and the tasks it starts)."""
    spans: list[Span] = []
    _spans.set(spans)
    return spans


def add(name: str, start: float, end: float) -> None:
    """Add a span that has ended; nothing when no request is collecting."""
    spans = _spans.get()
    if spans is not None:
        spans.append((name, start, end))


def mark(name: str, at: float) -> None:
    """An instant of the request (a span of no length)."""
    add(name, at, at)


def first(spans: list[Span], name: str) -> float | None:
    """The earliest instant of `name` among the spans, if any."""
    return min((start for found, start, _ in spans if found == name), default=None)


@contextmanager
def span(name: str) -> Iterator[None]:
    started = time.perf_counter()
    try:
        yield
    finally:
        add(name, started, time.perf_counter())


def _covered(intervals: list[tuple[float, float]]) -> float:
    """The length of the union of `intervals`."""
    total, reach = 0.0, float("-inf")
    for start, end in sorted(intervals):
        if end <= reach:
            continue
        total += end - max(start, reach)
        reach = end
    return total


def figures(spans: list[Span], started: float, now: float) -> dict[str, float]:
    """Milliseconds per span name, then `aether` (own work) and `total`, from `started` to `now`;
    spans are clipped to that interval (a span still running has not been added)."""
    clipped = [(name, max(start, started), min(end, now)) for name, start, end in spans]
    clipped = [s for s in clipped if s[2] > s[1]]
    by_name: dict[str, list[tuple[float, float]]] = {}
    for name, start, end in clipped:
        by_name.setdefault(name, []).append((start, end))
    result = {name: round(_covered(intervals) * 1000, 2) for name, intervals in by_name.items()}
    waited = _covered([(start, end) for _, start, end in clipped])
    result["aether"] = round((now - started - waited) * 1000, 2)
    result["total"] = round((now - started) * 1000, 2)
    return result


def header(found: dict[str, float]) -> str:
    """The `Server-Timing` value: `name;dur=ms` for each figure."""
    return ", ".join(f"{name};dur={ms}" for name, ms in found.items())
