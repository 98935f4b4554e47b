"""The partner widget: the script at ``/widget.js`` and the demo page at ``/widget/demo``.

The demo page shows the snippet to copy and the widget live. The live widget needs a partner key bound
to the page's own origin; the page makes one, once, when that origin is the service's own loopback
address (a developer's ``maillage serve``; taken from the connection, never from the ``Host`` header) or
the configured ``MAILLAGE_PUBLIC_URL``, and keeps the token under the home folder
(partner keys are publishable: they only reach the widget's endpoints, from their origins). A demo key
that staff revoked is not made again. Staff keys are never shown.
"""

from __future__ import annotations

import ipaddress
import json
import logging
import os
import threading
from pathlib import Path
from urllib.parse import urlsplit

from fastapi import APIRouter, FastAPI, Request, Response

from matcher.schemas import ResourceKind
from service.keys import KeySpecError, KeyStore, Role, normalise_origin
from service.settings import Settings
from service.web.render import HERE, render, widget_labels

__all__ = ["DEMO_KEYS_FILE", "bound_loopback_origins", "demo_token", "router"]

log = logging.getLogger("maillage.web")

DEMO_KEYS_FILE = "widget-demo-keys.json"
_demo_lock = threading.Lock()


def _script() -> bytes:
    source = (HERE / "static" / "widget.js").read_text(encoding="utf-8")
    return source.replace("__MAILLAGE_LABELS__", widget_labels()).encode()


def _is_loopback(host: str | None) -> bool:
    if not host:
        return False
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def _read_demo_keys(path: Path) -> dict[str, str]:
    try:
        data = json.loads(path.read_text())
    except (FileNotFoundError, ValueError):
        return {}
    return {str(k): str(v) for k, v in data.items()} if isinstance(data, dict) else {}


def bound_loopback_origins(scheme: str, server: tuple[str, int] | None) -> set[str]:
    """The origins of this service on the loopback address its connection arrived at (``server`` is the
    ASGI scope's: the socket's own address, which no request header can change), as ``127.0.0.1`` or
    ``localhost``; none when that address is not loopback."""
    if server is None or not _is_loopback(server[0]):
        return set()
    host, port = server
    shown = f"[{host}]" if ":" in host else host
    suffix = "" if (scheme, port) in (("http", 80), ("https", 443)) else f":{port}"
    return {f"{scheme}://{name}{suffix}" for name in (shown, "localhost")}


def demo_token(settings: Settings, keys: KeyStore, origin: str,
               server: tuple[str, int] | None = None) -> tuple[str | None, str]:
    """The partner token the demo page at ``origin`` embeds, and why there is none when ``None``.

    Made on first use when ``origin`` is the configured public URL, or this service's own loopback
    address (:func:`bound_loopback_origins` of ``server``): never from what a request's ``Host`` header
    claims, so a forged header mints no key. Reused after; never made again once revoked."""
    try:
        origin = normalise_origin(origin)
    except KeySpecError:
        return None, "invalid_origin"
    public = normalise_origin(settings.public_url) if settings.public_url else None
    if not settings.widget_demo:
        return None, "disabled"
    if origin != public and origin not in bound_loopback_origins(urlsplit(origin).scheme, server):
        return None, "not_public_url"
    path = Path(settings.home) / DEMO_KEYS_FILE
    with _demo_lock:
        known = _read_demo_keys(path)
        token = known.get(origin)
        if token is not None:
            key = keys.authenticate(token)
            return (token, "ok") if key is not None and key.role is Role.partner else (None, "revoked")
        _, token = keys.create(f"Démo du widget ({origin})", Role.partner, [origin])
        known[origin] = token
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{DEMO_KEYS_FILE}.{os.getpid()}")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            json.dump(known, f)
        os.replace(tmp, path)
        log.info("widget demo: partner key made for %s", origin)
        return token, "ok"


router = APIRouter(include_in_schema=False)


@router.get("/widget.js")
def widget_script(request: Request) -> Response:
    body: bytes = request.app.state.widget_script
    return Response(body, media_type="text/javascript; charset=utf-8", headers={
        "Cache-Control": "public, max-age=300", "X-Content-Type-Options": "nosniff",
        # Partner pages load it from their own origin; it reads nothing of theirs.
        "Cross-Origin-Resource-Policy": "cross-origin",
    })


@router.get("/widget/demo")
def widget_demo(request: Request) -> Response:
    settings: Settings = request.app.state.settings
    base = str(request.base_url).rstrip("/")
    origin = f"{request.url.scheme}://{request.url.netloc}"
    token, why = (None, "starting")
    if request.app.state.engine is not None:
        token, why = demo_token(settings, request.app.state.keys, origin, request.scope.get("server"))
    snippet_key = token or "VOTRE_CLE_PARTENAIRE"
    snippet = (f'<script src="{base}/widget.js" async\n'
               f'        data-key="{snippet_key}"\n'
               '        data-territory="93"\n'
               '        data-kinds="financement,appel_a_projets,accompagnement"\n'
               '        data-results="5"\n'
               '        data-color="#000091"\n'
               '        data-title="Trouvez un soutien public pour votre projet"></script>')
    return render("widget_demo.html", theme=request.app.state.dsfr, nav="widget", base=base, origin=origin,
                  token=token, why=why, snippet=snippet,
                  kinds=[k.value for k in ResourceKind])


def install(app: FastAPI) -> None:
    app.state.widget_script = _script()
    app.include_router(router)
