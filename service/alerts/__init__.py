"""Alerts: a project hears of the new resource that fits it (issue 20).

One concept per module: :mod:`~service.alerts.subscriptions` (what a subscription is),
:mod:`~service.alerts.store` (its tables), :mod:`~service.alerts.subscribe` (making and ending one),
:mod:`~service.alerts.detection` (re-matching through ``Recommender.recommend``),
:mod:`~service.alerts.digest` (the French messages), :mod:`~service.alerts.delivery` (SMTP, webhooks, the
outbox's guarantees), :mod:`~service.alerts.feeds` (Atom), :mod:`~service.alerts.webhooks` (signatures),
:mod:`~service.alerts.links` (signed links), :mod:`~service.alerts.runner` (one run),
:mod:`~service.alerts.metrics` (Prometheus counters).
"""

from service.alerts.detection import MIN_RELEVANCE, Detection, Threshold, detect
from service.alerts.links import Links, links_for
from service.alerts.metrics import AlertCounters
from service.alerts.runner import RunReport, compose, run
from service.alerts.store import AlertItem, AlertStore, OutboxRow
from service.alerts.subscriptions import FREQUENCIES, Subscription

__all__ = ["FREQUENCIES", "MIN_RELEVANCE", "AlertCounters", "AlertItem", "AlertStore", "Detection", "Links",
           "OutboxRow", "RunReport", "Subscription", "Threshold", "compose", "detect", "links_for", "run"]
