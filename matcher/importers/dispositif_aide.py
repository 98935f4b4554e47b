"""Etalab's ``schema-dispositif-aide`` (v0.1.0, the interchange format for aid schemes), CSV or JSON.

Fields: ``id``, ``titre``, ``promesse``, ``description``, ``eligibilite``, ``types_aides``
(``financement|accompagnement``), ``porteurs`` (``[{nom, siren, roles}]``, a JSON string in CSV),
``programmes_parents``, ``url_source``, ``cibles`` (``professionnels|particuliers|associations|secteur
public``), ``eligibilite_geographique`` (COG codes: ``PAYS-99100``, ``REG-84|DEP-05|COM-83141``),
``eligibilite_geographique_exclusions``, ``date_ouverture``, ``date_cloture``, ``date_mise_a_jour``.
JSON: a list of such objects, or an object holding the list under ``dispositifs``, ``data`` or
``results``. The mapping is documented in ``docs/import-format.md``.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from matcher._territory_data import fold
from matcher.importers._catalogue import (
    ProviderDraft,
    SourceAid,
    SourceItem,
    SourceProblem,
    guess_provider_kind,
    html_to_text,
    parse_day,
    read_csv_records,
    web_url,
)
from matcher.importers._sources import clip
from matcher.importers.perimeters import etalab_codes, simplify
from matcher.schemas import MAX_DESCRIPTION_CHARS, MAX_TITLE_CHARS, LegalForm, Need, ResourceKind

__all__ = ["CIBLES", "CSV_COLUMNS", "read_dispositifs"]

CSV_COLUMNS = ("id", "titre", "description", "eligibilite", "types_aides", "porteurs", "cibles",
               "eligibilite_geographique", "date_ouverture", "date_cloture", "date_mise_a_jour", "…")
"""The main columns of schema-dispositif-aide (``id`` and ``titre`` are required in a CSV file)."""

CIBLES: dict[str, tuple[LegalForm, ...]] = {
    "professionnels": (LegalForm.entreprise, LegalForm.entreprise_ess),
    "particuliers": (LegalForm.collectif,),
    "associations": (LegalForm.association,),
    "secteur public": (LegalForm.collectivite, LegalForm.etablissement_public, LegalForm.administration),
}
_FINANCIAL_WORDS = ("financement", "subvention", "pret", "avance", "avantage fiscal", "participation", "garantie",
                    "dotation", "prime", "credit")
_SUPPORT_WORDS = ("accompagnement", "ingenierie", "etude", "conseil", "formation", "information", "diagnostic",
                  "expertise", "mise en relation")


def read_dispositifs(path: Path) -> Iterator[SourceItem]:
    """One item per dispositif of a ``.csv`` or ``.json`` file (CSV: lines of the file; JSON: 1-based
    position in the list)."""
    if not path.is_file():
        raise FileNotFoundError(f"fichier introuvable : {path}")
    if path.suffix.lower() == ".csv":
        with path.open(encoding="utf-8-sig", errors="replace") as fh:
            header = fh.readline()
        # From the header alone: the porteurs cells hold JSON, whose commas would fool a sniffer.
        delimiter = ";" if header.count(";") > header.count(",") else ","
        for line, record in read_csv_records(path, ("id", "titre"), CSV_COLUMNS, delimiter=delimiter):
            yield dispositif_item(line, record)
        return
    data = json.loads(path.read_text(encoding="utf-8"))
    if isinstance(data, dict):
        data = next((data[k] for k in ("dispositifs", "data", "results") if isinstance(data.get(k), list)), None)
    if not isinstance(data, list):
        raise ValueError(f"{path.name} : attendu une liste de dispositifs (ou un objet avec « dispositifs », "
                         "« data » ou « results »)")
    for n, record in enumerate(data, start=1):
        yield dispositif_item(n, record) if isinstance(record, dict) else SourceProblem(n, "dispositif qui n'est "
                                                                                           "pas un objet JSON")


def _list(value: Any) -> list[str]:
    if isinstance(value, list):
        return [str(v).strip() for v in value if str(v).strip()]
    return [v.strip() for v in str(value or "").split("|") if v.strip()]


def _porteurs(value: Any) -> list[ProviderDraft]:
    """Porteurs as drafts, financers first (``roles`` holding ``financeur``)."""
    if isinstance(value, str) and value.strip().startswith("["):
        with contextlib.suppress(json.JSONDecodeError):  # not JSON after all: read as names
            value = json.loads(value)
    entries: list[tuple[str, list[str]]] = []
    if isinstance(value, list):
        for p in value:
            if isinstance(p, dict) and str(p.get("nom") or "").strip():
                entries.append((str(p["nom"]).strip(), [str(r) for r in p.get("roles") or []]))
            elif isinstance(p, str) and p.strip():
                entries.append((p.strip(), []))
    else:
        entries = [(name, []) for name in _list(value)]
    entries.sort(key=lambda e: "financeur" not in e[1])
    return [ProviderDraft(clip(name, MAX_TITLE_CHARS), guess_provider_kind(name)) for name, _ in entries]


def _kind_and_needs(types: list[str]) -> tuple[str, list[str]]:
    folded = [fold(t) for t in types]
    needs: list[str] = []
    if any(w in t for t in folded for w in _FINANCIAL_WORDS):
        needs.append(Need.financement.value)
    if any(w in t for t in folded for w in _SUPPORT_WORDS):
        needs.extend([Need.accompagnement.value, Need.expertise.value])
    if any("appel" in t for t in folded):
        return ResourceKind.appel_a_projets.value, needs
    kind = ResourceKind.financement if Need.financement.value in needs else ResourceKind.accompagnement
    return kind.value, needs


def dispositif_item(n: int, record: dict[str, Any]) -> SourceItem:
    title = str(record.get("titre") or "").strip()
    key = str(record.get("id") or "").strip()
    if not key:
        return SourceProblem(n, "champ id vide : aucune clé stable pour ce dispositif")
    if not title:
        return SourceProblem(n, "champ titre vide : dispositif sans titre", key)
    providers = _porteurs(record.get("porteurs"))
    if not providers:
        return SourceProblem(n, "champ porteurs vide : dispositif sans porteur", key)
    warnings: list[str] = []
    try:
        dates = {f: parse_day(record.get(src)) for f, src in
                 (("opens_at", "date_ouverture"), ("closes_at", "date_cloture"), ("last_verified", "date_mise_a_jour"))}
    except ValueError as exc:
        return SourceProblem(n, str(exc), key)
    forms: list[str] = []
    for cible in _list(record.get("cibles")):
        found = CIBLES.get(fold(cible))
        if found is None:
            warnings.append(f"cible « {cible} » inconnue : ignorée pour le contrôle du type de structure")
        forms.extend(f.value for f in found or ())
    kind, needs = _kind_and_needs(_list(record.get("types_aides")))
    description = "\n\n".join(p for p in (str(record.get("promesse") or "").strip(),
                                          html_to_text(str(record.get("description") or ""))) if p)
    fields: dict[str, Any] = {
        "kind": kind, "title": clip(title, MAX_TITLE_CHARS), "description": clip(description, MAX_DESCRIPTION_CHARS),
        "themes": [t[:80] for t in _list(record.get("programmes_parents"))][:30],
        "eligible_legal_forms": list(dict.fromkeys(forms)), "needs_covered": needs, **dates,
        "url": web_url(record.get("url_source")),
        # The schema has no recurrence: a scheme without a closing date is open until further notice.
        "recurrence": "ponctuel" if dates["closes_at"] else "permanent",
    }
    eligibility = [html_to_text(str(record.get("eligibilite") or ""))]
    geo = str(record.get("eligibilite_geographique") or "")
    codes, unresolved = etalab_codes(geo)
    excluded = str(record.get("eligibilite_geographique_exclusions") or "").strip()
    if excluded:
        eligibility.append(f"Zones exclues par la source : {excluded}")
        warnings.append(f"zones exclues ({excluded}) : non contrôlées par Maillage, affichées dans les conditions")
    if unresolved:
        warnings.append(f"codes géographiques non reconnus : {', '.join(unresolved)}")
    fields["eligibility_text"] = clip("\n".join(e for e in eligibility if e), MAX_DESCRIPTION_CHARS) or None
    if codes:
        fields["coverage"] = simplify(codes)[:500]
    else:
        fields["perimeter_text"] = clip(geo.strip() or "non indiqué", 500)
        warnings.append(f"périmètre « {geo.strip() or 'non indiqué'} » non reconnu (territoire « à vérifier » pour "
                        "ce dispositif)")
    return SourceAid(n, key, fields, providers, warnings, perimeter_resolved=bool(codes))
