"""What stands between the network and the engine: errors in one shape, body limits, timeouts,
rate limits, CORS from the partners' allow-list, request ids and metrics.

Every error body is ``{"error": {"code", "message", "details", "request_id"}}`` (documented in the
OpenAPI schema as ``Error``). The guard is plain ASGI so it also covers requests that never reach a
route (a body too large, a timeout, an unknown path).
"""

from __future__ import annotations

import asyncio
import json
import math
import threading
import time
import uuid
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from pydantic import BaseModel, Field

from service.alerts.metrics import AlertCounters

__all__ = ["CORS_PATHS", "ApiError", "ErrorBody", "Guard", "HtmlPage", "Metrics", "TokenBuckets", "error_body",
           "wants_html"]

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


class ErrorDetail(BaseModel):
    field: str | None = None
    message: str = Field(description="what is wrong, in French, for people")
    type: str | None = Field(default=None, description="validation errors: pydantic's error type, an English "
                                                       "machine code (string_too_short, missing, …)")
    loc: list[str | int] | None = Field(default=None, description="validation errors: where, as pydantic gives it")


class ErrorContent(BaseModel):
    code: str
    message: str
    details: list[ErrorDetail] = []
    request_id: str | None = None


class ErrorBody(BaseModel):
    """The one shape of every error answer."""

    error: ErrorContent


class ApiError(Exception):
    """An error a route raises on purpose: status, stable code, French-free technical message."""

    def __init__(self, status: int, code: str, message: str, *, details: list[dict[str, Any]] | None = None,
                 headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message
        self.details = details or []
        self.headers = headers or {}


def error_body(code: str, message: str, request_id: str | None, details: list[dict[str, Any]] | None = None) -> bytes:
    return json.dumps(
        {"error": {"code": code, "message": message, "details": details or [], "request_id": request_id}},
        ensure_ascii=False,
    ).encode()


class TokenBuckets:
    """Token buckets keyed by a string (a key id, an IP): ``rate`` per minute, bursts of ``burst``."""

    def __init__(self, per_minute: int, burst: int | None = None, *, max_keys: int = 100_000) -> None:
        self.rate = per_minute / 60.0
        self.burst = float(burst or max(5, per_minute // 10))
        self.max_keys = max_keys
        self._buckets: dict[str, tuple[float, float]] = {}
        self._lock = threading.Lock()

    def take(self, key: str, now: float | None = None) -> float:
        """Take one token; returns 0 when allowed, else the seconds to wait before a retry."""
        now = time.monotonic() if now is None else now
        with self._lock:
            tokens, last = self._buckets.get(key, (self.burst, now))
            tokens = min(self.burst, tokens + (now - last) * self.rate)
            if tokens >= 1.0:
                self._buckets[key] = (tokens - 1.0, now)
                return 0.0
            self._buckets[key] = (tokens, now)
            if len(self._buckets) > self.max_keys:  # forget the idle ones rather than grow without bound
                self._buckets = {k: v for k, v in self._buckets.items() if now - v[1] < 60}
            return (1.0 - tokens) / self.rate


class Metrics:
    """Prometheus metrics of one worker (its own registry, so tests can build several apps)."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter("maillage_http_requests", "HTTP requests answered", ["route", "method", "status"],
                                registry=self.registry)
        self.latency = Histogram(
            "maillage_http_request_seconds", "Time to answer", ["route"], registry=self.registry,
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
        )
        self.rejected = Counter("maillage_http_rejected", "Requests refused before a route ran", ["reason"],
                                registry=self.registry)
        self.index_items = Gauge("maillage_index_resources", "Resources in the served index", registry=self.registry)
        self.live_changes = Gauge("maillage_index_live_changes", "Writes applied since the snapshot",
                                  registry=self.registry)
        self.matches = Counter("maillage_matches", "Match requests served", ["kind", "role"], registry=self.registry)
        # Admission control (service.admission): what runs, what waits, what was refused and why.
        self.admission_in_flight = Gauge("maillage_admission_in_flight", "Matches running (granted a thread)",
                                         registry=self.registry)
        self.admission_units = Gauge("maillage_admission_units_in_use", "Cost units of the matches running",
                                     registry=self.registry)
        self.admission_queued = Gauge("maillage_admission_queued", "Matches waiting for admission",
                                      registry=self.registry)
        self.admission_shed = Counter(
            "maillage_admission_shed", "Matches refused or stopped by admission control (key_share: 429; "
            "queue_full, queue_timeout, deadline: 503; client_gone, abandoned: stopped)", ["reason"],
            registry=self.registry)
        self.alerts = AlertCounters(self.registry)  # links followed from alert messages (service.alerts)


class _BodyTooLarge(Exception):
    pass


CORS_PATHS = frozenset({"/v1/match", "/v1/territories", "/v1/widget/initiatives", "/v1/widget/alerts"})
"""The only paths a partner's page may call from the browser: the widget's. Every other endpoint is
for staff and servers, so it answers no cross-origin request, whatever the origin."""


HtmlPage = Callable[[int, str], "tuple[bytes, dict[str, str]] | None"]
"""``(status, French message)`` → an HTML page and its headers, or ``None`` to answer JSON."""


def wants_html(path: str, accept: str) -> bool:
    """A browser navigating to a page: ``text/html`` accepted, and not an API or widget address."""
    return "text/html" in accept and not path.startswith(("/v1/", "/widget.js", "/widget.css", "/static/"))


class _Exchange:
    """One request through the guard: its id, its CORS verdict, what was answered, and how much body
    was read (the closures of one ``Guard.__call__``, named)."""

    def __init__(self, guard: Guard, scope: Scope, receive: Receive, send: Send) -> None:
        self.guard, self.metrics, self.max_body = guard, guard.metrics, guard.max_body
        self._receive, self._send = receive, send
        self.request_id = uuid.uuid4().hex[:16]
        state = scope.setdefault("state", {})
        state["request_id"] = self.request_id
        state["deadline_at"] = time.monotonic() + guard.timeout_s  # what admission control stops work at
        self.headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers", [])}
        self.origin = self.headers.get("origin")
        self.widget_path = scope.get("path", "") in CORS_PATHS
        self.cors_ok = self.origin is not None and self.widget_path and self.origin in guard.allowed_origins()
        self.status = 500
        # A browser asking a page (not the API, not the widget's script) gets errors as a French page.
        self.wants_html = wants_html(scope.get("path", ""), self.headers.get("accept", ""))
        self.sent = False
        self.over_limit = False  # set once the body read so far is over max_body
        self.received = 0

    async def send_wrapped(self, message: Message) -> None:
        if self.over_limit:
            # The app may have turned the limit's exception into an answer of its own (FastAPI makes
            # it a 400 "error parsing the body"): whatever it says, the client gets the 413.
            if message["type"] == "http.response.start" and not self.sent:
                await self.refuse_body()
            return
        await self.emit(message)

    async def emit(self, message: Message) -> None:
        if message["type"] == "http.response.start":
            self.status = message["status"]
            self.sent = True
            extra = [(b"x-request-id", self.request_id.encode())]
            if self.cors_ok:
                extra += [(b"access-control-allow-origin", self.origin.encode()),  # type: ignore[union-attr]
                          (b"vary", b"Origin"),
                          (b"access-control-expose-headers", b"ETag, Retry-After, X-Request-Id")]
            message["headers"] = list(message.get("headers", [])) + extra
        await self._send(message)

    async def reply(self, status: int, code: str, message: str, extra: list[tuple[bytes, bytes]] | None = None
                    ) -> None:
        body, media = error_body(code, message, self.request_id), b"application/json"
        page = self.guard.html_page(status, message) if self.wants_html and self.guard.html_page else None
        if page is not None:
            body, media = page[0], b"text/html; charset=utf-8"
            extra = [*(extra or []), *((k.lower().encode(), v.encode()) for k, v in page[1].items())]
        await self.emit({"type": "http.response.start", "status": status, "headers": [
            (b"content-type", media), (b"content-length", str(len(body)).encode()),
            *(extra or []),
        ]})
        await self.emit({"type": "http.response.body", "body": body})

    async def refuse_body(self) -> None:
        self.metrics.rejected.labels("body_size").inc()
        await self.reply(413, "body_too_large", f"le corps de la requête dépasse la limite de {self.max_body} octets")

    async def preflight(self) -> None:
        """A CORS preflight: 204 with the allowed methods and headers, or 403 for an origin on no list."""
        if not self.cors_ok:
            self.metrics.rejected.labels("origin").inc()
            why = (f"l'origine {self.origin} ne figure dans la liste d'aucune clé partenaire" if self.widget_path
                   else "les appels d'une autre origine ne sont acceptés que sur les points d'accès du widget")
            await self.reply(403, "origin_not_allowed", why)
            return
        await self.send_wrapped({"type": "http.response.start", "status": 204, "headers": [
            (b"access-control-allow-methods", b"GET, POST, OPTIONS"),
            (b"access-control-allow-headers", b"Authorization, Content-Type, X-Api-Key, X-Maillage-Widget"),
            (b"access-control-max-age", b"600"),
        ]})
        await self.send_wrapped({"type": "http.response.body", "body": b""})

    async def receive_limited(self) -> Message:
        message = await self._receive()
        if message["type"] == "http.request":
            self.received += len(message.get("body", b""))
            if self.received > self.max_body:
                self.over_limit = True
                raise _BodyTooLarge
        return message


class Guard:
    """ASGI middleware: request id, body size limit (413), timeout (504), CORS, metrics, a JSON 500
    that leaks nothing when a route fails unexpectedly, and ``refuse_early`` (admission control's 429
    for a key whose share is full, before the body is read)."""

    def __init__(self, app: ASGIApp, *, max_body: int, timeout_s: float, metrics: Metrics,
                 allowed_origins: Callable[[], set[str]],
                 refuse_early: Callable[[str, dict[str, str]], ApiError | None] | None = None,
                 html_page: HtmlPage | None = None) -> None:
        self.app, self.max_body, self.timeout_s, self.metrics = app, max_body, timeout_s, metrics
        self.html_page = html_page  # the web faces' error page, for browsers (None: JSON only)
        self.allowed_origins = allowed_origins
        self.refuse_early = refuse_early  # admission control's verdict from the headers alone

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        x = _Exchange(self, scope, receive, send)
        method = scope["method"]
        started = time.perf_counter()
        if method == "OPTIONS" and x.origin is not None and "access-control-request-method" in x.headers:
            await x.preflight()
            return
        declared = x.headers.get("content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_body:
            self.metrics.rejected.labels("body_size").inc()
            await x.reply(413, "body_too_large",
                          f"le corps de la requête ({declared} octets) dépasse la limite de {self.max_body} octets")
            return
        route = scope.get("path", "")
        refusal = self.refuse_early(route, x.headers) if self.refuse_early is not None else None
        if refusal is not None:  # before the body is read: a flood's refusals cost no parsing, no thread
            await x.reply(refusal.status, refusal.code, refusal.message,
                          [(k.lower().encode(), v.encode()) for k, v in refusal.headers.items()])
            return
        try:
            await asyncio.wait_for(self.app(scope, x.receive_limited, x.send_wrapped), timeout=self.timeout_s)
        except _BodyTooLarge:
            if not x.sent:
                await x.refuse_body()
        except TimeoutError:
            self.metrics.rejected.labels("timeout").inc()
            if not x.sent:
                await x.reply(504, "timeout", f"la requête a duré plus de {self.timeout_s:g} s et a été abandonnée")
        except Exception:
            if not x.sent:
                await x.reply(500, "internal_error",
                              "erreur inattendue ; communiquez l'identifiant de la requête aux exploitants")
            raise
        finally:
            endpoint = scope.get("route")
            route = getattr(endpoint, "path", None) or ("unmatched" if x.status == 404 else route)
            self.metrics.requests.labels(route, method, str(x.status)).inc()
            self.metrics.latency.labels(route).observe(time.perf_counter() - started)


def retry_after(seconds: float) -> dict[str, str]:
    return {"Retry-After": str(max(1, math.ceil(seconds)))}
