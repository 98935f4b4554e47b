"""aides-territoires: its API's JSON pages and its CSV export, mapped onto Maillage's resources.

* API (``/api/aids/``): pages ``{count, previous, next, results}`` whose aids are written by
  ``AidSerializer`` (labels in French: ``targeted_audiences`` ``["Communes", "Associations"]``,
  ``aid_types``, ``recurrence`` ``"Permanente"``, ``perimeter`` ``"Drôme (Département)"``,
  ``categories`` ``"Thème|Catégorie"``). One page file, a folder of page files, or a list of them.
* CSV export (``Nom, Lien, Financeurs, Bénéficiaire, Types d'aides, AAP/AMI, Récurrence, Descriptif,
  Date Clôture``; beneficiaries, types and financers ``;``-separated). It has no perimeter column:
  the perimeter is inferred from the financers' names (:func:`perimeters.financer_codes`).

The mapping is documented in ``docs/import-format.md``.
"""

from __future__ import annotations

import json
import unicodedata
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

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
from matcher.importers._cumulation import read_cumulation
from matcher.importers._sources import clip
from matcher.importers.perimeters import at_perimeter_codes, financer_codes, simplify
from matcher.schemas import MAX_DESCRIPTION_CHARS, MAX_THEMES, MAX_TITLE_CHARS, LegalForm, Need, ResourceKind

__all__ = ["AUDIENCES", "CSV_COLUMNS", "TYPES", "read_api_pages", "read_csv_export"]

def _plain(label: str) -> str:
    """Lower-case, accents stripped, typographic apostrophes and ellipses made plain."""
    decomposed = unicodedata.normalize("NFKD", label.strip().lower().replace("’", "'"))
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch))


_C, _A, _E, _ESS = LegalForm.collectivite, LegalForm.association, LegalForm.entreprise, LegalForm.entreprise_ess
_EP, _ADM = LegalForm.etablissement_public, LegalForm.administration
# Beneficiary label (or API code) → the legal forms it opens the aid to.
AUDIENCES: dict[str, tuple[LegalForm, ...]] = {_plain(label): forms for label, forms in {
    "communes": (_C,), "commune": (_C,),
    "intercommunalites / pays": (_C,), "epci a fiscalite propre": (_C,), "epci": (_C,),
    "departements": (_C,), "department": (_C,), "regions": (_C,), "region": (_C,),
    "collectivites d'outre-mer a statuts particuliers": (_C,), "special": (_C,),
    "associations": (_A,), "association": (_A,),
    "particuliers": (LegalForm.collectif,), "private_person": (LegalForm.collectif,),
    "agriculteurs": (_E, _ESS), "farmer": (_E, _ESS),
    "entreprises privees": (_E, _ESS), "private_sector": (_E, _ESS),
    "entreprises publiques locales (sem, spl, semop)": (_EP,), "public_cies": (_EP,),
    "etablissements publics (ecoles, bibliotheques…) / services de l'etat": (_EP, _ADM), "public_org": (_EP, _ADM),
    "recherche": (_EP,), "researcher": (_EP,),
}.items()}
_FINANCIAL = frozenset(_plain(t) for t in (
    "subvention", "grant", "pret", "loan", "avance recuperable", "recoverable_advance", "autre aide financiere",
    "other", "certificat d'economie d'energie (cee)", "aide financiere"))
_ENGINEERING = frozenset(_plain(t) for t in (
    "ingenierie technique", "technical", "ingenierie financiere", "financial",
    "ingenierie juridique / administrative", "legal", "aide en ingenierie"))
TYPES = _FINANCIAL | _ENGINEERING
"""The aid-type labels (and API codes) the importer knows; any other is a warning."""
_RECURRENCE = {"permanente": "permanent", "ongoing": "permanent", "recurrente": "annuel", "recurring": "annuel",
               "ponctuelle": "ponctuel", "oneoff": "ponctuel"}
CSV_COLUMNS = ("Nom", "Lien", "Financeurs", "Bénéficiaire", "Types d'aides", "AAP/AMI", "Récurrence", "Descriptif",
               "Date Clôture")


def _split(value: Any) -> list[str]:
    if isinstance(value, list):
        return [str(v).strip() for v in value if str(v).strip()]
    return [v.strip() for v in str(value or "").split(";") if v.strip()]


def map_audiences(labels: Iterable[str], warnings: list[str]) -> list[str]:
    forms: list[str] = []
    for label in labels:
        found = AUDIENCES.get(_plain(label))
        if found is None:
            warnings.append(f"bénéficiaire « {label} » inconnu : ignoré pour le contrôle du type de structure")
        else:
            forms.extend(f.value for f in found)
    return list(dict.fromkeys(forms))


def map_types(types: Iterable[str], call_for_projects: bool, warnings: list[str]) -> tuple[str, list[str]]:
    """``(kind, needs_covered)`` of an aid from its types: a call for projects stays one; otherwise a
    financial type makes it ``financement``, engineering alone ``accompagnement``."""
    needs: list[str] = []
    for label in types:
        key = _plain(label)
        if key in _FINANCIAL:
            needs.append(Need.financement.value)
        elif key in _ENGINEERING:
            needs.extend([Need.accompagnement.value, Need.expertise.value])
        else:
            warnings.append(f"type d'aide « {label} » inconnu : ignoré")
    needs = list(dict.fromkeys(needs))
    if call_for_projects:
        kind = ResourceKind.appel_a_projets
    elif Need.financement.value in needs:
        kind = ResourceKind.financement
    else:
        kind = ResourceKind.accompagnement
    return kind.value, needs


def _recurrence(value: Any, warnings: list[str]) -> str:
    if not value:
        return "ponctuel"
    found = _RECURRENCE.get(_plain(str(value)))
    if found is None:
        warnings.append(f"récurrence « {value} » inconnue : lue « ponctuelle »")
        return "ponctuel"
    return found


def _providers(names: list[str]) -> list[ProviderDraft]:
    drafts = []
    for name in names:
        codes = financer_codes(name)
        drafts.append(ProviderDraft(clip(name, MAX_TITLE_CHARS), guess_provider_kind(name),
                                    codes[0] if codes and len(codes) == 1 else None))
    return drafts


def _url_key(url: str) -> str:
    path = urlparse(url).path.rstrip("/")
    return path.rsplit("/", 1)[-1] if path else url


# --- CSV export --------------------------------------------------------------------------------


def read_csv_export(path: Path) -> Iterator[SourceItem]:
    """One item per data row of the export (the header is line 1)."""
    for line, record in read_csv_records(path, ("Nom", "Lien"), CSV_COLUMNS):
        yield _csv_item(line, record)


def _csv_item(line: int, row: dict[str, Any]) -> SourceItem:
    if None in row:
        return SourceProblem(line, "plus de cellules que de colonnes dans l'en-tête")
    title, link = (row.get("Nom") or "").strip(), (row.get("Lien") or "").strip()
    if not link:
        return SourceProblem(line, "colonne Lien vide : aucune clé stable pour cette aide")
    key = _url_key(link)
    if not title:
        return SourceProblem(line, "colonne Nom vide : aide sans titre", key)
    warnings: list[str] = []
    financers = _split(row.get("Financeurs"))
    if not financers:
        return SourceProblem(line, "colonne Financeurs vide : aide sans porteur", key)
    audiences = _split(row.get("Bénéficiaire"))
    kind, needs = map_types(_split(row.get("Types d'aides")), (row.get("AAP/AMI") or "").strip().lower() == "oui",
                            warnings)
    try:
        closes_at = parse_day(row.get("Date Clôture"))
    except ValueError as exc:
        return SourceProblem(line, f"Date Clôture : {exc}", key)
    found = [financer_codes(f) for f in financers]
    codes = simplify(c for cs in found if cs for c in cs if c != "FR" or all(x == ["FR"] for x in found if x))
    fields: dict[str, Any] = {
        "kind": kind, "title": clip(title, MAX_TITLE_CHARS),
        "description": clip(html_to_text(row.get("Descriptif")), MAX_DESCRIPTION_CHARS),
        "eligible_legal_forms": map_audiences(audiences, warnings), "needs_covered": needs,
        "closes_at": closes_at, "recurrence": _recurrence(row.get("Récurrence"), warnings), "url": web_url(link),
        "eligibility_text": "Bénéficiaires selon la source : " + " ; ".join(audiences) if audiences else None,
    }
    _add_cumulation(fields, [fields["description"]])
    item = SourceAid(line, key, fields, _providers(financers), warnings, perimeter_resolved=bool(codes))
    if codes:
        fields["coverage"] = codes
    else:
        fields["perimeter_text"] = clip("export sans périmètre ; financeur : " + ", ".join(financers), 500)
        warnings.append(f"périmètre non reconnu : aucun territoire déduit du financeur {', '.join(financers)} "
                        "(territoire « à vérifier » pour cette aide)")
    return item


# --- API pages ---------------------------------------------------------------------------------


def _page_files(paths: Iterable[Path]) -> list[Path]:
    files: list[Path] = []
    for p in paths:
        if p.is_dir():
            pages = sorted(p.glob("*.json"))
            if not pages:  # a wrong folder must not read as a source that lists nothing (all inactivated)
                raise ValueError(f"aucune page *.json dans le dossier {p}")
            files.extend(pages)
        elif p.is_file():
            files.append(p)
        else:
            raise FileNotFoundError(f"fichier ou dossier introuvable : {p}")
    return files


def read_api_pages(paths: Path | Iterable[Path]) -> Iterator[tuple[str, SourceItem]]:
    """``(file name, item)`` for every aid of the pages (a file, a folder of ``*.json`` pages, or a
    list); the item's line is the aid's 1-based position in its page's ``results``."""
    links = {"next": 0, "previous": 0, "last": 0}
    file = None
    for file in _page_files([paths] if isinstance(paths, Path) else paths):
        try:
            page = json.loads(file.read_text(encoding="utf-8"))
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            yield file.name, SourceProblem(0, f"JSON illisible : {exc}")
            continue
        results = page.get("results") if isinstance(page, dict) else page
        if not isinstance(results, list):
            yield file.name, SourceProblem(0, "page sans liste « results » (attendu {count, previous, next, "
                                              "results})")
            continue
        if isinstance(page, dict):
            links["next" if page.get("next") else "last"] += 1
            links["previous"] += bool(page.get("previous"))
        for n, aid in enumerate(results, start=1):
            yield file.name, (api_item(n, aid) if isinstance(aid, dict)
                              else SourceProblem(n, "aide qui n'est pas un objet JSON"))
    if file is not None and (links["next"] != links["previous"] or (links["next"] and not links["last"])):
        # A chain of pages has as many "next" as "previous" links and a last page: one is missing, and
        # the aids it holds must not look withdrawn (a problem without a key: nothing is inactivated).
        yield file.name, SourceProblem(0, f"pages incomplètes : {links['next']} lien(s) « next » pour "
                                          f"{links['previous']} « previous » ; une page manque")


def api_item(n: int, aid: dict[str, Any]) -> SourceItem:
    """One aid as ``AidSerializer`` writes it."""
    # The page address first: it is what the CSV export's Lien ends with, so both give one id.
    key = str((_url_key(str(aid["url"])) if aid.get("url") else "") or aid.get("slug") or aid.get("id") or "").strip()
    if not key:
        return SourceProblem(n, "ni url, ni slug, ni id : aucune clé stable pour cette aide")
    title = str(aid.get("name") or aid.get("short_title") or "").strip()
    if not title:
        return SourceProblem(n, "champ name vide : aide sans titre", key)
    financers = _split(aid.get("financers"))
    if not financers:
        return SourceProblem(n, "champ financers vide : aide sans porteur", key)
    warnings: list[str] = []
    audiences = _split(aid.get("targeted_audiences"))
    kind, needs = map_types(_split(aid.get("aid_types")), bool(aid.get("is_call_for_project")), warnings)
    try:
        dates = {f: parse_day(aid.get(src)) for f, src in
                 (("opens_at", "start_date"), ("closes_at", "submission_deadline"), ("last_verified", "date_updated"))}
    except ValueError as exc:
        return SourceProblem(n, str(exc), key)
    fields: dict[str, Any] = {
        "kind": kind, "title": clip(title, MAX_TITLE_CHARS), "description": clip(_api_description(aid),
                                                                                  MAX_DESCRIPTION_CHARS),
        "themes": _themes(aid.get("categories")), "eligible_legal_forms": map_audiences(audiences, warnings),
        "needs_covered": needs, "recurrence": _recurrence(aid.get("recurrence"), warnings), **dates,
        "url": next((u for u in map(web_url, (aid.get("origin_url"), aid.get("application_url"),
                                              _absolute(aid.get("url")))) if u), None),
        "eligibility_text": _api_eligibility(aid, audiences),
    }
    _add_cumulation(fields, [html_to_text(aid.get("description")), html_to_text(aid.get("eligibility"))])
    amounts = [a for a in (aid.get("loan_amount"), aid.get("recoverable_advance_amount"))
               if isinstance(a, int | float) and not isinstance(a, bool)]
    if amounts:
        fields["amount_max"] = max(amounts)
    perimeter = str(aid.get("perimeter") or "").strip()
    codes = at_perimeter_codes(perimeter) if perimeter else None
    if codes:
        fields["coverage"] = simplify(codes)[:500]
    else:
        fields["perimeter_text"] = clip(perimeter or "non indiqué", 500)
        warnings.append(f"périmètre « {perimeter or 'non indiqué'} » non reconnu (territoire « à vérifier » "
                        "pour cette aide)")
    return SourceAid(n, key, fields, _providers(financers), warnings, perimeter_resolved=bool(codes))


def _add_cumulation(fields: dict[str, Any], texts: list[str]) -> None:
    """The non-cumulation rule and words the aid's texts state, when they state one."""
    scope, words = read_cumulation(texts)
    if scope is not None:
        fields["cumulation_scope"] = scope.value
    if words is not None:
        fields["cumulation_text"] = words


def _absolute(url: Any) -> str | None:
    if not url:
        return None
    text = str(url)
    return text if text.startswith("http") else "https://aides-territoires.beta.gouv.fr" + text


def _api_description(aid: dict[str, Any]) -> str:
    parts = [html_to_text(aid.get("description"))]
    if examples := html_to_text(aid.get("project_examples")):
        parts.append("Exemples de projets : " + examples)
    lo, hi = aid.get("subvention_rate_lower_bound"), aid.get("subvention_rate_upper_bound")
    if lo is not None or hi is not None:
        parts.append(f"Taux de subvention : {lo if lo is not None else '?'} % à {hi if hi is not None else '?'} %.")
    return "\n\n".join(p for p in parts if p)


def _api_eligibility(aid: dict[str, Any], audiences: list[str]) -> str | None:
    parts = []
    if text := html_to_text(aid.get("eligibility")):
        parts.append(text)
    if audiences:
        parts.append("Bénéficiaires selon la source : " + " ; ".join(audiences))
    return clip("\n".join(parts), MAX_DESCRIPTION_CHARS) or None


def _themes(categories: Any) -> list[str]:
    themes: list[str] = []
    for category in _split(categories):
        themes.extend(part.strip()[:80] for part in category.split("|") if part.strip())
    return list(dict.fromkeys(themes))[:MAX_THEMES]
