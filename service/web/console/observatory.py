"""The observatory page: the figures of the latest ``maillage observatory`` run on this catalogue,
as published (small cells already suppressed), read from ``$MAILLAGE_HOME/observatory/``. The page
computes nothing: matching 29,000 initiatives is a batch job, not a request."""

from __future__ import annotations

from fastapi import Response

from matcher.observatory import load, published_path
from matcher.observatory.report import SHOWN_ROWS, cell_text, intro_lines
from service.web.console._common import ConsoleDep, console_router

__all__ = ["router"]

router = console_router()


@router.get("/observatoire")
def observatory(console: ConsoleDep) -> Response:
    path = published_path(console.engine.settings.home)
    if not path.is_file():
        return console.page("observatory.html", nav="observatoire", obs=None, error=None, intro=[],
                            shown=SHOWN_ROWS, cell=cell_text)
    try:
        obs = load(path)
    except ValueError as exc:
        return console.page("observatory.html", 500, nav="observatoire", obs=None, error=str(exc), intro=[],
                            shown=SHOWN_ROWS, cell=cell_text)
    return console.page("observatory.html", nav="observatoire", obs=obs, error=None, intro=intro_lines(obs),
                        shown=SHOWN_ROWS, cell=cell_text)
