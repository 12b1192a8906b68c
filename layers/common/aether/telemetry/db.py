"""Database latency: every MongoDB command's duration, as pymongo reports it."""

from pymongo import monitoring

from aether.telemetry import observe

__all__ = ["CommandTimer"]


class CommandTimer(monitoring.CommandListener):
    def started(self, event: monitoring.CommandStartedEvent) -> None:
        pass

    def succeeded(self, event: monitoring.CommandSucceededEvent) -> None:
        observe("DbLatency", event.duration_micros / 1000)

    def failed(self, event: monitoring.CommandFailedEvent) -> None:
        observe("DbLatency", event.duration_micros / 1000)
