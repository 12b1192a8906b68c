"""Database latency: every MongoDB command's duration, as pymongo reports it (a metric, and a
`db` span of the request's Server-Timing)."""

import time

from pymongo import monitoring

from aether.telemetry import observe, timing

__all__ = ["CommandTimer"]


class CommandTimer(monitoring.CommandListener):
    def started(self, event: monitoring.CommandStartedEvent) -> None:
        pass

    def succeeded(self, event: monitoring.CommandSucceededEvent) -> None:
        _ended(event.duration_micros)

    def failed(self, event: monitoring.CommandFailedEvent) -> None:
        _ended(event.duration_micros)


def _ended(duration_micros: int) -> None:
    observe("DbLatency", duration_micros / 1000)
    now = time.perf_counter()
    timing.add("db", now - duration_micros / 1e6, now)
