"""HTML rendering for the console and the demo page: one Jinja2 environment (autoescaped), the French
labels of every enumeration the pages show, and the security headers every page carries."""

from __future__ import annotations

import json
from datetime import date, datetime
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

from fastapi.responses import HTMLResponse
from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

from matcher import labels, territory
from matcher.schemas import CheckStatus, Criterion, Decision, LegalForm, Need, Recurrence, ResourceKind, Stage

if TYPE_CHECKING:
    from service.web.dsfr import Theme

__all__ = ["ACCESSIBILITY_STATUS", "CHECK_STATUS", "CRITERION", "ERROR_HEADINGS", "HERE", "error_page", "label",
           "place", "render", "widget_labels"]

HERE = Path(__file__).parent

ACCESSIBILITY_STATUS = "non conforme"
"""The RGAA status the footer and the statement give (one of totalement / partiellement / non conforme):
no audit has been made yet, and without an audit in force the regulation's status is « non conforme »,
whatever the automated checks find (they cover only part of the criteria)."""

CRITERION = {
    Criterion.territory: "Territoire",
    Criterion.legal_form: "Type de structure",
    Criterion.stage: "Stade du projet",
    Criterion.amount: "Montant",
    Criterion.dates: "Dates",
    Criterion.capacity: "Places ou budget",
    Criterion.needs: "Besoins",
    Criterion.conditions: "Conditions de la source",
}
CHECK_STATUS = {
    CheckStatus.passed: "Respecté",
    CheckStatus.failed: "Non respecté",
    CheckStatus.unknown: "À vérifier",
}
RECURRENCE = {Recurrence.ponctuel: "ponctuel", Recurrence.annuel: "annuel", Recurrence.permanent: "permanent"}
_TABLES: dict[str, dict[Any, str]] = {
    "kind": labels.KIND, "legal_form": labels.LEGAL_FORM, "stage": labels.STAGE, "need": labels.NEED,
    "decision": labels.DECISION, "criterion": CRITERION, "status": CHECK_STATUS, "recurrence": RECURRENCE,
}

# Headers of every HTML page: nothing from elsewhere, never framed, never cached (staff data).
SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
                               "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
}


def label(table: str, value: Any) -> str:
    """French label of an enumeration value (``label("kind", "appel_a_projets")`` → ``"appel à projets"``);
    the value itself when it has none."""
    if value is None:
        return "non précisé"
    return _TABLES[table].get(value, str(value))


def _labels(table: str, values: list[Any]) -> str:
    return labels.join_fr([label(table, v) for v in values])


def place(code: str | None) -> str:
    """``"93066"`` → ``"Saint-Denis (93066)"``; the code itself when it has no name."""
    if not code:
        return ""
    try:
        t = territory.parse_territory(code)
    except territory.TerritoryError:
        return code
    if t.name and t.name != t.code:
        return f"{t.name} ({t.code})"
    return t.code


def _money(amount: float | None) -> str:
    return "—" if amount is None else f"{amount:,.0f} €".replace(",", "\u202f")


def _date(value: date | datetime | str | None) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        value = date.fromisoformat(value[:10])
    if isinstance(value, datetime):
        return f"{labels.french_date(value.date())} à {value:%H:%M}"
    return labels.french_date(value)


@cache
def _env() -> Environment:
    env = Environment(loader=FileSystemLoader(HERE / "templates"), autoescape=select_autoescape(default=True),
                      undefined=StrictUndefined, trim_blocks=True, lstrip_blocks=True)
    env.globals["label"] = label
    env.globals["ACCESSIBILITY_STATUS"] = ACCESSIBILITY_STATUS
    env.globals["LEGAL_FORMS"] = [(f.value, labels.LEGAL_FORM[f]) for f in LegalForm]
    env.globals["STAGES"] = [(s.value, labels.STAGE[s]) for s in Stage]
    env.globals["KINDS"] = [(k.value, labels.KIND[k]) for k in ResourceKind]
    env.globals["DECISIONS"] = [(d.value, labels.DECISION[d]) for d in (
        Decision.shortlisted, Decision.contacted, Decision.applied, Decision.obtained, Decision.refused,
        Decision.dismissed, Decision.pinned, Decision.excluded)]
    env.globals["labels"] = _labels
    env.globals["place"] = env.filters["place"] = place
    env.globals["money"] = _money
    env.filters["fdate"] = _date
    return env


def render(template: str, status: int = 200, headers: dict[str, str] | None = None, *, theme: Theme,
           **context: Any) -> HTMLResponse:
    """Render ``templates/<template>`` into an HTML response with the security headers; ``theme`` says
    whether the page carries the State's marks (:mod:`service.web.dsfr`)."""
    context.setdefault("staff", None)
    context.setdefault("nav", "")
    html = _env().get_template(template).render(theme=theme, **context)
    return HTMLResponse(html, status_code=status, headers=SECURITY_HEADERS | (headers or {}))


# The title of an error page by status; the message under it says what happened.
ERROR_HEADINGS = {400: "Demande mal formée", 401: "Authentification requise", 403: "Accès refusé",
                  404: "Page introuvable", 405: "Méthode non permise", 413: "Envoi trop volumineux",
                  422: "Demande invalide", 429: "Trop de demandes", 500: "Erreur inattendue",
                  503: "Service momentanément indisponible", 504: "Délai dépassé", 507: "Espace de stockage plein"}


def error_page(theme: Theme, status: int, message: str) -> tuple[bytes, dict[str, str]]:
    """A French HTML page for an error the API answers in JSON (``message`` is the same French text),
    with the security headers: what a browser shows for a timeout, an unknown page, an overload."""
    heading = ERROR_HEADINGS.get(status, "Demande refusée")
    text = message[:1].upper() + message[1:]
    if not text.endswith("."):
        text += "."
    html = _env().get_template("error.html").render(theme=theme, staff=None, nav="", heading=heading, message=text,
                                                    back="/console")
    return html.encode(), dict(SECURITY_HEADERS)


def widget_labels() -> str:
    """The labels the widget shows, as JSON, so that the widget and the console say the same words."""
    return json.dumps({
        "legal_form": [[f.value, labels.LEGAL_FORM[f]] for f in LegalForm],
        "stage": [[s.value, labels.STAGE[s]] for s in Stage],
        "need": [[n.value, labels.NEED[n]] for n in Need],
        "kind": {k.value: labels.KIND[k] for k in ResourceKind},
        "criterion": {c.value: CRITERION[c] for c in Criterion},
        "status": {s.value: CHECK_STATUS[s] for s in CheckStatus},
    }, ensure_ascii=False)
