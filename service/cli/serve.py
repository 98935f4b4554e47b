"""``maillage serve``: the API, the widget and the staff console under uvicorn."""

from __future__ import annotations

from typing import Annotated

import typer

from service.cli._common import err, errors, load_settings, open_store

__all__ = ["serve"]


def serve(
    host: Annotated[str, typer.Option(help="address to listen on")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="port")] = 8000,
    workers: Annotated[int, typer.Option(help="worker processes (each loads the model once)")] = 1,
    log_level: Annotated[str, typer.Option(help="uvicorn log level")] = "info",
) -> None:
    """Run the API, the widget and the staff console (demo catalogue when the store is empty)."""
    import logging
    import os

    import uvicorn

    settings = load_settings()
    with errors():
        store = open_store(settings)  # fail here, clearly, if the catalogue cannot be opened or migrated
        counts = store.counts()
        store.close()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    for key, value in settings.masked().items():
        err.print(f"  {key} = {value}", highlight=False)
    base = f"http://{'localhost' if host in ('127.0.0.1', '0.0.0.0') else host}:{port}"
    err.print(
        f"Catalogue : {counts['resources']} ressources, {counts['initiatives']} initiatives"
        + (" (vide : le catalogue de démonstration sera chargé)" if counts["resources"] == 0
           and settings.demo_when_empty else "") + ".\n"
        f"  Console équipe : {base}/console\n  Widget (démo)  : {base}/widget/demo\n"
        f"  API (docs)     : {base}/docs\n"
        "  Clés : maillage keys create --name … --role staff|partner|admin|read-only",
        highlight=False,
    )
    if workers > 1 and settings.encoder_threads is None:  # a worker: its share of the CPUs, less one for its pipeline
        os.environ["MAILLAGE_ENCODER_THREADS"] = str(max(1, (settings.serving_encoder_threads + 1) // workers - 1))
    uvicorn.run("service.api:create_app", factory=True, host=host, port=port, workers=workers,
                log_level=log_level, timeout_graceful_shutdown=10,
                # Behind a reverse proxy: the client's address and scheme come from X-Forwarded-For /
                # X-Forwarded-Proto, believed only from the proxies that MAILLAGE_FORWARDED_ALLOW_IPS names.
                proxy_headers=True, forwarded_allow_ips=settings.forwarded_allow_ips,
                # Idle keep-alive connections outlive the proxy's (nginx keepalive_timeout 60 s upstream).
                timeout_keep_alive=75)
