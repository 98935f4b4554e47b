"""Adapters that load the real labelled sets of ``../shared/data`` into the catalogue.

- ``reserve-parlementaire``: each grant is an initiative, each state budget programme a funding
  resource (its mission is the provider), and the grant itself an ``obtained`` outcome.
- ``betagouv``: each startup d'État is an initiative; sponsoring organisations are public-service
  needs and incubators are support resources; sponsorships and incubations are outcomes.
- ``eig-defis``: each défi is an initiative; each host administration (normalised free text) is a
  public-service need; hosting is an outcome.

The files are read where they are, never copied. Ids are prefixed so the sets can share one store.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from matcher import territory
from matcher.importers._sources import Line, clip, iso_day, read_jsonl, slug
from matcher.importers.runner import Row

__all__ = ["DATASETS", "dataset_rows", "slug"]

_REQUIRED = {
    "reserve-parlementaire": ("reserve-parlementaire/reserve_parlementaire_2013_2016.jsonl",
                              "reserve-parlementaire/programmes.jsonl"),
    "betagouv": ("betagouv-startups/startups.jsonl", "betagouv-startups/organisations.jsonl",
                 "betagouv-startups/incubators.jsonl"),
    "eig-defis": ("eig-defis/eig_defis.jsonl",),
}


# --- réserve parlementaire ---------------------------------------------------------------------

def _departement_by_name() -> dict[str, str]:
    return {slug(t.name or ""): t.code for t in territory.all_departements()}


def _rp_territory(row: dict[str, Any], by_name: dict[str, str]) -> str:
    postcode = territory.find_postcode(row.get("beneficiary_location") or "")
    if postcode:
        try:
            return territory.postcode_to_departement(postcode)
        except territory.TerritoryError:
            pass
    if row.get("departement"):
        code = by_name.get(slug(row["departement"]))
        if code:
            return code
    return "FR"


def _reserve_parlementaire(data: Path) -> Iterator[Row]:
    root = data / "reserve-parlementaire"
    programmes = list(read_jsonl(root / "programmes.jsonl"))
    yield from _rp_programmes(programmes)
    by_name = _departement_by_name()
    known = {f"rp-prog-{p['id']}" for _, p in programmes if isinstance(p, dict)}
    for line, g in read_jsonl(root / "reserve_parlementaire_2013_2016.jsonl"):
        if isinstance(g, str):
            yield line, "initiative", g
            continue
        yield from _rp_unknown_programme(line, g, known)
        yield from _rp_grant(line, g, by_name)


def _rp_programmes(programmes: list[tuple[Line, dict[str, Any] | str]]) -> Iterator[Row]:
    """One provider per budget mission, then one funding resource per programme."""
    providers: dict[str, str] = {}
    for _, p in programmes:
        if isinstance(p, dict) and p.get("mission"):
            providers.setdefault("rp-mission-" + slug(p["mission"]), p["mission"])
    for n, (pid, name) in enumerate(sorted(providers.items()), start=1):
        yield Line(n, "programmes.jsonl"), "provider", {
            "id": pid, "name": f"Mission budgétaire « {name} »", "kind": "ministere",
            "territory": "FR", "source": "reserve-parlementaire",
        }
    for line, p in programmes:
        if isinstance(p, str):
            yield line, "resource", p
            continue
        mission = p.get("mission")
        yield line, "resource", {
            "id": f"rp-prog-{p['id']}",
            "kind": "financement",
            "provider_id": "rp-mission-" + slug(mission) if mission else "rp-mission-inconnue",
            "title": f"Programme {p['id']} — {p.get('title') or 'sans intitulé'}",
            "description": f"Programme budgétaire de l'État {p['id']} « {p.get('title')} », "
                           f"mission « {mission} ».",
            "coverage": ["FR"],
            "needs_covered": ["financement"],
            "recurrence": "annuel",
            "source": "reserve-parlementaire",
        }


def _rp_unknown_programme(line: Line, g: dict[str, Any], known: set[str]) -> Iterator[Row]:
    """The resource (and, the first time, the provider) for a grant's programme that the
    nomenclatures lack; ``known`` holds the ids already yielded and is updated."""
    code = g.get("label_programme_code")
    if code and f"rp-prog-{code}" not in known:
        # A few grants were paid from programmes absent from the nomenclatures (106, 128).
        known.add(f"rp-prog-{code}")
        if "rp-mission-inconnue" not in known:
            known.add("rp-mission-inconnue")
            yield line, "provider", {
                "id": "rp-mission-inconnue", "name": "Mission budgétaire non identifiée",
                "kind": "ministere", "source": "reserve-parlementaire",
            }
        yield line, "resource", {
            "id": f"rp-prog-{code}", "kind": "financement", "provider_id": "rp-mission-inconnue",
            "title": f"Programme {code} — intitulé inconnu",
            "description": f"Programme budgétaire de l'État {code}, absent des nomenclatures PLF 2015–2017.",
            "coverage": ["FR"], "needs_covered": ["financement"], "recurrence": "annuel",
            "source": "reserve-parlementaire",
        }


def _rp_grant(line: Line, g: dict[str, Any], by_name: dict[str, str]) -> Iterator[Row]:
    """A grant: its initiative, and the ``obtained`` outcome on its programme."""
    created = iso_day(f"{g['year']}-01-01")
    collectivite = g.get("label_programme_code") == "122"
    yield line, "initiative", {
        "id": g["id"],
        "title": clip(g.get("title") or g["id"], 300),
        "description": g.get("description") or "",
        "territory": _rp_territory(g, by_name),
        "legal_form": "collectivite" if collectivite else "association",
        "needs": ["financement"],
        "amount_sought": g.get("amount_eur"),
        "source": "reserve-parlementaire",
        "created_at": created,
        "updated_at": created,
    }
    if g.get("label_programme_code"):
        yield line, "outcome", {
            "id": f"rp:{g['id']}",
            "initiative_id": g["id"],
            "resource_id": f"rp-prog-{g['label_programme_code']}",
            "decision": "obtained",
            "amount": g.get("amount_eur"),
            "actor": "import",
            "source": "reserve-parlementaire",
            "occurred_at": created,
            "recorded_at": created,
        }


# --- beta.gouv ---------------------------------------------------------------------------------

_BG_PROVIDER_KIND = {
    "administration-centrale": "ministere",
    "service-deconcentre": "service_deconcentre",
    "operateur": "operateur",
    "securite-sociale": "securite_sociale",
    "collectivite-territoriale": "commune",
    "autre": "autre",
}
_BG_STAGE = {
    "investigation": "idee",
    "abandon-investigation": "idee",
    "construction": "prototype",
    "abandon": "prototype",
    "acceleration": "deploiement",
    "consolidation": "deploiement",
    "opere": "deploiement",
    "transfere": "changement_echelle",
}


def _bg_org_id(org: str) -> str:
    return "bg-org-" + slug(org)


def _betagouv(data: Path) -> Iterator[Row]:
    root = data / "betagouv-startups"
    yield from _bg_organisations(root)
    yield from _bg_incubators(root)
    yield from _bg_startups(root)


def _bg_organisations(root: Path) -> Iterator[Row]:
    """Each sponsoring organisation: a provider and its public-service needs (a resource)."""
    for line, o in read_jsonl(root / "organisations.jsonl"):
        if isinstance(o, str):
            yield line, "provider", o
            continue
        oid = _bg_org_id(o["id"])
        name = clip(o.get("title") or o["id"], 300)
        yield line, "provider", {
            "id": oid, "name": name, "kind": _BG_PROVIDER_KIND.get(o.get("type") or "", "autre"),
            "acronym": (o.get("acronym") or None) and clip(o["acronym"], 40),
            "source": "betagouv",
        }
        yield line, "resource", {
            "id": oid,
            "kind": "besoin_service_public",
            "provider_id": oid,
            "title": f"Besoins de service public — {name}",
            "description": " ".join(
                x for x in (o.get("description"), f"Domaine ministériel : {o.get('domaine_ministeriel')}."
                            if o.get("domaine_ministeriel") else None) if x
            ),
            "needs_covered": ["partenariat_public", "financement"],
            "recurrence": "permanent",
            "source": "betagouv",
        }


def _bg_incubators(root: Path) -> Iterator[Row]:
    """Each incubator: a provider and its support offer (a resource)."""
    for line, i in read_jsonl(root / "incubators.jsonl"):
        if isinstance(i, str):
            yield line, "provider", i
            continue
        iid = "bg-inc-" + slug(i["id"])
        yield line, "provider", {
            "id": iid, "name": clip(i.get("title") or i["id"], 300), "kind": "incubateur",
            "url": i.get("website") if str(i.get("website") or "").startswith("http") else None,
            "source": "betagouv",
        }
        yield line, "resource", {
            "id": iid,
            "kind": "accompagnement",
            "provider_id": iid,
            "title": f"Incubation — {clip(i.get('title') or i['id'], 280)}",
            "description": i.get("description") or "",
            "needs_covered": ["accompagnement", "expertise"],
            "recurrence": "permanent",
            "source": "betagouv",
        }


def _bg_startups(root: Path) -> Iterator[Row]:
    """Each startup d'État: an initiative, and ``obtained`` outcomes on its sponsors and incubator."""
    for line, s in read_jsonl(root / "startups.jsonl"):
        if isinstance(s, str):
            yield line, "initiative", s
            continue
        sid = "bg-" + slug(s["id"])
        started = iso_day(s.get("first_phase_start"))
        yield line, "initiative", {
            "id": sid,
            "title": clip(s.get("title") or s["id"], 300),
            "description": clip("\n\n".join(x for x in (s.get("mission"), s.get("description")) if x), 20_000),
            "themes": [clip(t, 80) for t in (s.get("thematiques") or [])][:30],
            "stage": _BG_STAGE.get(s.get("current_phase") or ""),
            "legal_form": "administration",
            "needs": ["partenariat_public", "accompagnement"],
            "source": "betagouv",
            "created_at": started,
            "updated_at": started,
        }
        for org in s.get("label_sponsors") or []:
            yield line, "outcome", {
                "id": f"bg:{slug(s['id'])}:sponsor:{slug(org)}"[:128],
                "initiative_id": sid, "resource_id": _bg_org_id(org), "decision": "obtained",
                "actor": "import", "source": "betagouv", "occurred_at": started, "recorded_at": started,
            }
        if s.get("label_incubator"):
            yield line, "outcome", {
                "id": f"bg:{slug(s['id'])}:incubator"[:128],
                "initiative_id": sid, "resource_id": "bg-inc-" + slug(s["label_incubator"]),
                "decision": "obtained", "actor": "import", "source": "betagouv",
                "occurred_at": started, "recorded_at": started,
            }


# --- EIG défis ---------------------------------------------------------------------------------

def host_key(name: str) -> str:
    """Normalised key of a free-text host administration: its acronym in brackets when it has one,
    otherwise its folded words ("Commissariat Général au Développement Durable (CGDD)" → "cgdd")."""
    acronym = re.search(r"\(([A-Za-zÀ-ÿ0-9&'’ -]{2,20})\)\s*$", name)
    if acronym:
        return slug(acronym.group(1))
    folded = slug(name.replace("’", "'"))
    return re.sub(r"^(le|la|les|l)-", "", folded)[:100]


def _eig(data: Path) -> Iterator[Row]:
    seen: set[str] = set()
    for line, d in read_jsonl(data / "eig-defis" / "eig_defis.jsonl"):
        if isinstance(d, str):
            yield line, "initiative", d
            continue
        host = d.get("label_host_administration") or ""
        hid = "eig-host-" + host_key(host) if host else None
        if hid and hid not in seen:
            seen.add(hid)
            yield line, "provider", {
                "id": hid, "name": clip(host, 300), "kind": "ministere" if "inist" in host else "autre",
                "source": "eig-defis",
            }
            yield line, "resource", {
                "id": hid, "kind": "besoin_service_public", "provider_id": hid,
                "title": f"Défis d'intérêt général — {clip(host, 260)}",
                "description": f"Administration hôte de défis Entrepreneurs d'intérêt général : {host}.",
                "needs_covered": ["partenariat_public", "donnees", "expertise"],
                "recurrence": "annuel", "source": "eig-defis",
            }
        when = iso_day(d.get("date")) if d.get("date") else None
        did = "eig-" + slug(d["id"])
        record: dict[str, Any] = {
            "id": did,
            "title": clip(d.get("title") or d["id"], 300),
            "description": clip("\n\n".join(x for x in (d.get("mission"), d.get("description")) if x), 20_000),
            "themes": [clip(t, 80) for t in (d.get("themes") or []) if t][:30],
            "legal_form": "administration",
            "needs": ["expertise", "donnees"],
            "source": "eig-defis",
        }
        if when:
            record["created_at"] = record["updated_at"] = when
        yield line, "initiative", record
        if hid:
            yield line, "outcome", {
                "id": f"eig:{slug(d['id'])}"[:128], "initiative_id": did, "resource_id": hid,
                "decision": "obtained", "actor": "import", "source": "eig-defis",
                **({"occurred_at": when, "recorded_at": when} if when else {}),
            }


DATASETS: dict[str, Callable[[Path], Iterator[Row]]] = {
    "reserve-parlementaire": _reserve_parlementaire,
    "betagouv": _betagouv,
    "eig-defis": _eig,
}


def dataset_rows(name: str, data: Path) -> Iterator[Row]:
    """Rows of the real set ``name`` read from ``data`` (the ``../shared/data`` folder).

    Raises ``ValueError`` for an unknown name and ``FileNotFoundError`` naming every missing file.
    """
    if name not in DATASETS:
        raise ValueError(f"jeu de données inconnu {name!r} : attendu l'un de {', '.join(DATASETS)}")
    missing = [str(data / p) for p in _REQUIRED[name] if not (data / p).is_file()]
    if missing:
        raise FileNotFoundError(
            f"jeu de données {name!r} absent de {data} : il manque {', '.join(missing)} "
            "(indiquez --data DOSSIER, le dossier des données partagées)"
        )
    return DATASETS[name](data)
