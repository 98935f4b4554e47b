"""What blocks: the criteria and clauses that exclude the most initiatives from their best
suggestions, and, per provider, the clause of each resource that excludes the most projects.

A clause is read as its *rule* (what the resource asks: « Ouvert aux structures : association »,
« Stades acceptés : déploiement », « Montant de 5 000 € à 20 000 € ») and what it *turns away*
(the initiative's kind of structure or stage: « pas à collectif »): the part of a clause that
states the initiative's own amount is dropped, it would single a project out. Counts are of
distinct initiatives; an initiative is excluded by a clause when one of its best suggestions
(:data:`matcher.observatory.verdicts.BEST`) fails on it.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from matcher.observatory.gaps import CRITERION_FR
from matcher.observatory.table import Column, Table
from matcher.observatory.verdicts import BEST, Failure, Verdict
from matcher.schemas import Provider, Resource

__all__ = ["RARE_SHARE", "block_tables", "rule_of"]

RARE_SHARE = 0.2
"""A resource is "almost nobody is eligible for" below this share of the initiatives it was suggested to."""
_TURNS_AWAY = ("legal_form", "stage")


def rule_of(f: Failure) -> tuple[str, str]:
    """``(rule, turned away)`` of a failed clause: the resource's condition, and the initiative's kind
    of structure or stage it refuses (``""`` for other criteria, whose second part names an amount)."""
    rule, _, rest = f.clause.partition(" ; ")
    rule = rule.rstrip(" .")
    return rule, rest.rstrip(" .") if f.criterion in _TURNS_AWAY else ""


@dataclass
class _Clause:
    initiatives: set[str] = field(default_factory=set)
    blocked: set[str] = field(default_factory=set)
    resources: set[str] = field(default_factory=set)
    advice: Counter[str] = field(default_factory=Counter)


def _clauses(verdicts: Sequence[Verdict]) -> dict[tuple[str, str, str], _Clause]:
    out: dict[tuple[str, str, str], _Clause] = {}
    for v in verdicts:
        for s in v.best:
            for f in s.failures:
                c = out.setdefault((f.criterion, *rule_of(f)), _Clause())
                c.initiatives.add(v.initiative_id)
                c.resources.add(s.resource_id)
                if v.blocked_by == f.criterion:
                    c.blocked.add(v.initiative_id)
                if f.near_miss:
                    c.advice[f.near_miss] += 1
    return out


def _advice(c: Counter[str]) -> str:
    return min(c.items(), key=lambda kv: (-kv[1], kv[0]))[0] if c else ""


def _criteria_table(verdicts: Sequence[Verdict]) -> Table:
    hit: dict[str, set[str]] = {}
    for v in verdicts:
        for s in v.best:
            for f in s.failures:
                hit.setdefault(f.criterion, set()).add(v.initiative_id)
    blocked = Counter(v.blocked_by for v in verdicts if v.blocked_by is not None)
    n = max(len(verdicts), 1)
    rows: list[dict[str, Any]] = [{"critere": CRITERION_FR.get(c, c), "exclues": len(ids), "part_exclues": len(ids) / n,
             "bloquees": blocked.get(c, 0), "part_bloquees": blocked.get(c, 0) / n}
            for c, ids in hit.items()]
    rows.sort(key=lambda r: (-r["exclues"], -r["bloquees"], r["critere"]))
    return Table("blocages_criteres", "Critères qui écartent le plus d'initiatives", [
        Column("critere", "Critère"),
        Column("exclues", f"Initiatives écartées d'au moins une de leurs {BEST} meilleures pistes", "count"),
        Column("part_exclues", "Part des initiatives", "share", of="exclues"),
        Column("bloquees", f"Initiatives dont les {BEST} meilleures pistes échouent toutes sur ce critère", "count"),
        Column("part_bloquees", "Part des initiatives", "share", of="bloquees"),
    ], rows, note="Le territoire et les dates décidés avant le classement (ressource close, périmètre qui "
                  "exclut le territoire) n'apparaissent pas ici : voir l'offre par département.")


def _clauses_table(clauses: Mapping[tuple[str, str, str], _Clause]) -> Table:
    rows: list[dict[str, Any]] = [{"critere": CRITERION_FR.get(k[0], k[0]), "clause": k[1], "ecarte": k[2],
             "exclues": len(c.initiatives), "bloquees": len(c.blocked), "ressources": len(c.resources),
             "conseil": _advice(c.advice), "initiatives_concernees": sorted(c.initiatives)}
            for k, c in clauses.items()]
    rows.sort(key=lambda r: (-r["exclues"], -r["bloquees"], r["critere"], r["clause"], r["ecarte"]))
    return Table("blocages_clauses", "Clauses qui écartent le plus d'initiatives", [
        Column("critere", "Critère"), Column("clause", "Clause"), Column("ecarte", "Écarte"),
        Column("exclues", "Initiatives écartées", "count"),
        Column("bloquees", "dont bloquées (toutes leurs meilleures pistes échouent sur ce critère)", "count"),
        Column("ressources", "Ressources qui la posent", "number"),
        Column("conseil", "Ce qui ouvrirait (presque éligible)"),
        Column("initiatives_concernees", "Initiatives concernées", "ids"),
    ], rows, basis="exclues")


_Seen = tuple[set[str], set[str], dict[tuple[str, str, str], set[str]]]


def _resources(verdicts: Sequence[Verdict]) -> dict[str, _Seen]:
    """Resource id → (initiatives it was a best suggestion for, those eligible, clause → initiatives)."""
    out: dict[str, _Seen] = {}
    for v in verdicts:
        for s in v.best:
            seen, ok, by = out.setdefault(s.resource_id, (set(), set(), {}))
            seen.add(v.initiative_id)
            if s.eligible:
                ok.add(v.initiative_id)
            for f in s.failures:
                by.setdefault((f.criterion, *rule_of(f)), set()).add(v.initiative_id)
    return out


def _provider_rows(verdicts: Sequence[Verdict], resources: Mapping[str, Resource],
                   providers: Mapping[str, Provider]) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    for rid, (seen, ok, by) in _resources(verdicts).items():
        res = resources.get(rid)
        pid = res.provider_id if res is not None else ""
        top = min(by.items(), key=lambda kv: (-len(kv[1]), kv[0])) if by else None
        rows.append({
            "financeur": providers[pid].name if pid in providers else pid, "ressource": rid,
            "intitule": res.title if res is not None else rid,
            "suggeree": len(seen), "eligibles": len(ok), "part_eligibles": len(ok) / len(seen),
            "critere": CRITERION_FR.get(top[0][0], top[0][0]) if top else "",
            "clause": " ; ".join(p for p in top[0][1:] if p) if top else "",
            "exclues": len(top[1]) if top else 0,
        })
    rows.sort(key=lambda r: (r["financeur"], -r["exclues"], r["ressource"]))
    return rows


_RESOURCE_COLUMNS = [
    Column("financeur", "Financeur"), Column("ressource", "Ressource"), Column("intitule", "Intitulé"),
    Column("suggeree", f"Parmi les {BEST} meilleures pistes de", "count"),
    Column("eligibles", "dont éligibles", "count"),
    Column("part_eligibles", "Part éligible", "share", of="eligibles"),
    Column("critere", "Critère qui écarte le plus", of="exclues"), Column("clause", "Clause", of="exclues"),
    Column("exclues", "Initiatives qu'elle écarte", "count"),
]


def block_tables(verdicts: Sequence[Verdict], resources: Mapping[str, Resource],
                 providers: Mapping[str, Provider], *, min_cell: int) -> list[Table]:
    """Criteria, clauses, each provider's resources and their most excluding clause, and the resources
    almost nobody is eligible for (suggested to at least ``min_cell`` initiatives, fewer than
    :data:`RARE_SHARE` of them eligible)."""
    provider_rows = _provider_rows(verdicts, resources, providers)
    rare = [r for r in provider_rows if r["suggeree"] >= min_cell and r["part_eligibles"] < RARE_SHARE]
    rare.sort(key=lambda r: (r["part_eligibles"], -r["suggeree"], r["ressource"]))
    return [
        _criteria_table(verdicts),
        _clauses_table(_clauses(verdicts)),
        Table("blocages_financeurs", "Par financeur : la clause de chaque ressource qui écarte le plus de projets",
              list(_RESOURCE_COLUMNS), provider_rows, basis="suggeree"),
        Table("ressources_peu_accessibles",
              f"Ressources auxquelles presque personne n'est éligible (moins de {round(100 * RARE_SHARE)} % des "
              "initiatives à qui elles sont suggérées)", list(_RESOURCE_COLUMNS), rare, basis="suggeree"),
    ]
