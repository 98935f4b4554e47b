"""Prometheus counters of alerts, declared as the service's other metrics are (``service.guard.Metrics``):
on a registry given by the caller, so the API's ``/metrics`` shows those of its worker (confirmations,
unsubscriptions, « pas pertinent », erasures) and ``maillage alerts run --metrics-file`` writes those
of a run for the node exporter's textfile collector."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter

__all__ = ["AlertCounters"]


class AlertCounters:
    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry()
        r = self.registry
        self.detected = Counter("maillage_alerts_detected", "New alerts recorded by detection", registry=r)
        self.rematched = Counter("maillage_alerts_rematched", "Subscriptions re-matched by detection", registry=r)
        self.queued = Counter("maillage_alerts_queued", "Messages written to the outbox", ["channel", "kind"],
                              registry=r)
        self.sent = Counter("maillage_alerts_sent", "Messages accepted by their server", ["channel"], registry=r)
        self.failed = Counter("maillage_alerts_failed", "Sending attempts that failed (retried next run)",
                              registry=r)
        self.actions = Counter("maillage_alerts_actions", "Links followed from alert messages", ["action"],
                               registry=r)
