"""Over time: the observatory's headline figures at each month end, from the catalogue's history.

As of a month end ``M``: the initiatives created by ``M`` (``created_at``), matched by
``Recommender.recommend`` on ``today = M`` (what is open, and each deadline, as on that day) with
the history of partnerships decided by then (``history_before`` the day after ``M``); beside them,
how many of them had obtained a resource by then (outcomes ``obtained`` that occurred by ``M``).

The figures are recomputed at every month end where something dated falls in that month (an
initiative created, an outcome decided, a resource opening or closing): in a month where nothing
happened the catalogue as of its end is the one of the month before, and the row repeats it (« recalculé »
says which rows were computed). Past ``sample`` initiatives, a month end evaluates a
fixed sample of its cohort: the ``sample`` initiatives with the smallest SHA-256 of their id, so the
sample is the same from run to run and an initiative once in it stays in it as the cohort grows; its
shares then estimate the cohort's (« évaluées » says how many were matched). Resources carry no date
of entry into the catalogue that says when they were offered: a resource counts at every month end
where its own dates leave it open (a resource added later with no dates counts in the past as well;
the note says so).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Sequence
from datetime import UTC, date, datetime, timedelta

from matcher.observatory.table import Column, Table
from matcher.observatory.verdicts import Verdict, verdicts
from matcher.recommender import Recommender
from matcher.schemas import Decision, Initiative, Outcome, Resource

__all__ = ["TIMELINE_SAMPLE", "change_months", "month_ends", "timeline_table"]

Month = tuple[int, int]
TIMELINE_SAMPLE = 2000
"""Initiatives matched at most per month end (a fixed sample of the cohort past that)."""


def _month(d: date) -> Month:
    return d.year, d.month


def _month_end(m: Month) -> date:
    y, mo = m
    first_next = date(y + (mo == 12), 1 if mo == 12 else mo + 1, 1)
    return first_next - timedelta(days=1)


def month_ends(start: date, stop: date) -> list[date]:
    """The last day of every month from ``start``'s month to ``stop``'s month, in order."""
    out: list[date] = []
    y, m = _month(start)
    while (y, m) <= _month(stop):
        out.append(_month_end((y, m)))
        y, m = (y + 1, 1) if m == 12 else (y, m + 1)
    return out


def change_months(initiatives: Iterable[Initiative], outcomes: Iterable[Outcome],
                  resources: Iterable[Resource]) -> set[Month]:
    """Months in which something dated happens: an initiative created, an outcome decided, a
    resource opening or closing."""
    months = {_month(i.created_at.date()) for i in initiatives}
    months |= {_month(o.occurred_at.date()) for o in outcomes}
    for r in resources:
        months |= {_month(d) for d in (r.opens_at, r.closes_at) if d is not None}
    return months


_COLUMNS = [
    Column("mois", "Mois"), Column("initiatives", "Initiatives créées à la fin du mois", "count"),
    Column("obtenu", "dont ayant obtenu une ressource", "count"),
    Column("evaluees", "Initiatives appariées ce mois (échantillon fixe au-delà)", "count"),
    Column("sans_eligible", "Sans ressource éligible", "count"),
    Column("part_sans_eligible", "Part sans ressource éligible", "share", of="sans_eligible"),
    Column("rien_ne_convient", "Rien ne convient", "count"),
    Column("part_rien_ne_convient", "Part rien ne convient", "share", of="rien_ne_convient"),
    Column("bloquees", "Bloquées par un critère", "count"),
    Column("part_bloquees", "Part bloquées", "share", of="bloquees"),
    Column("recalcule", "Recalculé"),
]


def _row(month_end: date, cohort: int, vs: Sequence[Verdict], obtained: int) -> dict[str, object]:
    n = len(vs)
    none, fits = sum(v.no_eligible for v in vs), sum(v.nothing_fits for v in vs)
    blocked = sum(v.blocked_by is not None for v in vs)
    return {"mois": month_end.strftime("%Y-%m"), "initiatives": cohort, "obtenu": obtained, "evaluees": n,
            "sans_eligible": none, "part_sans_eligible": none / n if n else 0.0,
            "rien_ne_convient": fits, "part_rien_ne_convient": fits / n if n else 0.0,
            "bloquees": blocked, "part_bloquees": blocked / n if n else 0.0, "recalcule": "oui"}


def _draw(initiative_id: str) -> str:
    return hashlib.sha256(initiative_id.encode("utf-8")).hexdigest()


def timeline_table(recommender: Recommender, initiatives: Sequence[Initiative], outcomes: Sequence[Outcome],
                   *, until: date, k: int = 10, months: int | None = None, sample: int = TIMELINE_SAMPLE,
                   progress: Callable[[int], None] | None = None, workers: int = 1) -> Table:
    """One row per month end, from the first initiative's month to ``until``'s (the last ``months``
    of them when given), each month end matching at most ``sample`` initiatives. ``progress(n)`` is
    told of every initiative matched; ``workers`` forked processes make the calls."""
    if isinstance(sample, bool) or not isinstance(sample, int) or sample < 1:
        raise ValueError(f"sample must be an integer >= 1, got {sample!r}")
    if not initiatives:
        return Table("evolution_mensuelle", "Évolution mois par mois", list(_COLUMNS), [], basis="initiatives")
    ordered = sorted(initiatives, key=lambda i: (i.created_at.date(), i.id))
    ends = month_ends(ordered[0].created_at.date(), until)
    if months is not None:
        ends = ends[-months:]
    changes = change_months(initiatives, outcomes, recommender.index.resources.values())
    won = sorted((o.occurred_at.date(), o.initiative_id) for o in outcomes if o.decision is Decision.obtained)
    rows: list[dict[str, object]] = []
    for n, end in enumerate(ends):
        cohort = [i for i in ordered if i.created_at.date() <= end]
        ids = {i.id for i in cohort}
        obtained = len({iid for day, iid in won if day <= end and iid in ids})
        if n and _month(end) not in changes and rows:
            rows.append(dict(rows[-1], mois=end.strftime("%Y-%m"), obtenu=obtained, recalcule="non"))
            continue
        before = datetime.combine(end + timedelta(days=1), datetime.min.time(), tzinfo=UTC)
        chosen = cohort if len(cohort) <= sample else sorted(
            sorted(cohort, key=lambda i: (_draw(i.id), i.id))[:sample], key=lambda i: i.id)
        vs = verdicts(recommender, chosen, today=end, k=k, history_before=before, progress=progress,
                      workers=workers)
        rows.append(_row(end, len(cohort), vs, obtained))
    return Table("evolution_mensuelle", "Évolution mois par mois (à chaque fin de mois)", list(_COLUMNS), rows,
                 note=("Chaque ligne : les initiatives créées à la fin du mois, appariées avec les ressources "
                       f"ouvertes ce jour-là et l'historique connu alors ; au-delà de {sample} initiatives, les "
                       f"parts sont celles d'un échantillon fixe de {sample} d'entre elles. Les ressources sont "
                       "comptées d'après leurs dates d'ouverture et de clôture ; le catalogue ne garde pas la "
                       "date à laquelle une ressource a été proposée."), basis="initiatives")
