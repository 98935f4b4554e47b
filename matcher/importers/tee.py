"""Transition écologique des entreprises: programme YAML files (with publicodes rules) as resources.

What maps onto Maillage's criteria becomes data the checks read:

* geography: the ``région = …`` conditions of the rule ``entreprise . est dans une zone géographique
  éligible`` (or, without that rule, the ``secteur géographique`` text) → ``coverage``;
* legal form: programmes are for firms (``entreprise``, ``entreprise_ess``; associations with an
  economic activity are in scope), ``ouvert aux administrations publiques: oui`` adds the public
  sector → ``eligible_legal_forms``;
* dates: ``début de validité`` / ``fin de validité`` (the rules' ``dispositif . début de validité <=
  date du jour``) → ``opens_at`` / ``closes_at``; none → ``permanent``.

Everything else (headcount, ``microentrepreneur = non``, NAF sectors, years of activity, other
criteria) stays *unknown*: the French conditions of ``conditions d'éligibilité`` go into
``eligibility_text``, which the checks show as the source's clause. The objectives of the rules'
questionnaire become themes.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import yaml

from matcher._territory_data import fold
from matcher.importers._catalogue import (
    ProviderDraft,
    SourceAid,
    SourceItem,
    SourceProblem,
    guess_provider_kind,
    html_to_text,
    parse_day,
    web_url,
)
from matcher.importers._cumulation import read_cumulation
from matcher.importers._sources import clip
from matcher.importers.perimeters import OUTSIDE_HIERARCHY, place_codes, simplify
from matcher.schemas import MAX_DESCRIPTION_CHARS, MAX_TITLE_CHARS, LegalForm, Need, ResourceKind

__all__ = ["read_programs"]

_GEO_RULE = "entreprise . est dans une zone géographique éligible"
_OBJECTIVE = "questionnaire . objectif prioritaire . est "
_ARTICLE = re.compile(r"^(?:ma |mon |mes |la |le |les |l'|l’)")
_FINANCIAL = {"financement", "pret", "avantage fiscal"}
# Conditions that exclude no one: not worth a clause.
_OPEN_TO_ALL = {"toutes tailles", "tous secteurs d activite", "eligible a toutes les entreprises",
                "eligible aux micro entreprises"}
_CONDITION_LABELS = (("taille de l'entreprise", "Taille de l'entreprise"), ("secteur d'activité", "Secteur d'activité"),
                     ("nombre d'années d'activité", "Années d'activité"),
                     ("autres critères d'éligibilité", "Autres critères"))


def read_programs(folder: Path) -> Iterator[tuple[str, SourceItem]]:
    """``(file name, item)`` for every ``*.yaml`` programme of ``folder`` (or one file), by name."""
    if not folder.exists():
        raise FileNotFoundError(f"dossier introuvable : {folder}")
    files = sorted(folder.glob("*.yaml")) if folder.is_dir() else [folder]
    if not files:  # a wrong folder must not read as a source that lists nothing (all inactivated)
        raise ValueError(f"aucun programme *.yaml dans {folder} ; indiquez le dossier programs/ des programmes TEE")
    for file in files:
        try:
            program = yaml.safe_load(file.read_text(encoding="utf-8"))
        except (yaml.YAMLError, UnicodeDecodeError) as exc:
            yield file.name, SourceProblem(1, f"YAML illisible : {str(exc).splitlines()[0]}", file.stem)
            continue
        if not isinstance(program, dict):
            yield file.name, SourceProblem(1, "le fichier ne décrit pas un programme (attendu un objet YAML)",
                                         file.stem)
            continue
        yield file.name, program_item(file.stem, program)


def _strings(node: Any) -> Iterator[str]:
    """Every string of a publicodes rule, depth first. Each list or mapping is walked once: YAML
    aliases may share one node many times over (exponential) or make it contain itself (endless)."""
    stack, walked = [node], set()
    while stack:
        top = stack.pop()
        if isinstance(top, str):
            yield top
        elif isinstance(top, dict | list) and id(top) not in walked:
            walked.add(id(top))
            stack.extend(reversed(list(top.values()) if isinstance(top, dict) else top))


def _section(program: dict[str, Any], name: str) -> dict[str, Any]:
    """A mapping of the programme (``publicodes``, its conditions); empty when absent or not a mapping."""
    value = program.get(name)
    return value if isinstance(value, dict) else {}


def _lines(value: Any) -> list[str]:
    if isinstance(value, list):
        return [" ".join(str(v).split()) for v in value if str(v).strip()]
    return [" ".join(str(value).split())] if value else []


def coverage_of(program: dict[str, Any], warnings: list[str]) -> list[str] | None:
    """Coverage codes from the geographic rule (or text); None when no named place resolves."""
    rules = _section(program, "publicodes")
    if _GEO_RULE in rules:
        names = [s.split("=", 1)[1].strip() for s in _strings(rules[_GEO_RULE]) if s.strip().startswith("région =")]
    else:
        geo = _section(program, "conditions d'éligibilité").get("secteur géographique")
        names = [n.strip() for line in _lines(geo) for n in line.split(",") if n.strip()]
    if not names:
        return ["FR"]
    codes: list[str] = []
    for name in names:
        found = place_codes(name)
        if found is not None:
            codes.extend(found)
        elif fold(name) not in OUTSIDE_HIERARCHY:
            warnings.append(f"zone géographique « {name} » non reconnue")
    return simplify(codes) if codes else None


def _conditions(program: dict[str, Any]) -> str | None:
    """The French conditions Maillage cannot check, one line per kind of condition."""
    conditions = _section(program, "conditions d'éligibilité")
    lines = []
    for key, label in _CONDITION_LABELS:
        kept = [c for c in _lines(conditions.get(key)) if fold(c).rstrip(" .") not in _OPEN_TO_ALL]
        if kept:
            lines.append(f"{label} : " + " ; ".join(kept))
    lines.append("Associations : seulement celles qui ont une activité économique.")
    return clip("\n".join(lines), MAX_DESCRIPTION_CHARS)


def _condition_lines(program: dict[str, Any]) -> list[str]:
    """Every line of the programme's ``conditions d'éligibilité``, whatever its kind of condition."""
    return [line for value in _section(program, "conditions d'éligibilité").values() for line in _lines(value)]


def _description(program: dict[str, Any]) -> str:
    parts = [str(program.get("promesse") or "").strip(), html_to_text(str(program.get("description") or "")),
             html_to_text(str(program.get("description longue") or ""))]
    for key, label in (("montant du financement", "Montant"), ("coût de l'accompagnement", "Coût"),
                       ("durée de l'accompagnement", "Durée"), ("montant du prêt", "Montant du prêt"),
                       ("montant de l'avantage fiscal", "Avantage fiscal")):
        if program.get(key):
            parts.append(f"{label} : {' '.join(str(program[key]).split())}")
    return "\n\n".join(p for p in parts if p)


def _providers(program: dict[str, Any]) -> list[ProviderDraft]:
    names = _lines(program.get("opérateur de contact")) + _lines(program.get("autres opérateurs"))
    return [ProviderDraft(clip(n, MAX_TITLE_CHARS), guess_provider_kind(n)) for n in dict.fromkeys(names)]


def program_item(key: str, program: dict[str, Any]) -> SourceItem:
    title = " ".join(str(program.get("titre") or "").split())
    if not title:
        return SourceProblem(1, "champ titre vide : programme sans titre", key)
    providers = _providers(program)
    if not providers:
        return SourceProblem(1, "champ « opérateur de contact » vide : programme sans opérateur", key)
    warnings: list[str] = []
    try:
        opens_at, closes_at = parse_day(program.get("début de validité")), parse_day(program.get("fin de validité"))
    except ValueError as exc:
        return SourceProblem(1, str(exc), key)
    nature = fold(str(program.get("nature de l'aide") or ""))
    financial = nature in _FINANCIAL
    forms = [LegalForm.entreprise, LegalForm.entreprise_ess, LegalForm.association]
    if str(program.get("ouvert aux administrations publiques") or "").strip().lower() == "oui":
        forms += [LegalForm.collectivite, LegalForm.etablissement_public, LegalForm.administration]
    objectives = [_ARTICLE.sub("", s.removeprefix(_OBJECTIVE)) for s in _strings(program.get("publicodes") or {})
                  if s.startswith(_OBJECTIVE)]
    fields: dict[str, Any] = {
        "kind": (ResourceKind.financement if financial else ResourceKind.accompagnement).value,
        "title": clip(title, MAX_TITLE_CHARS), "description": clip(_description(program), MAX_DESCRIPTION_CHARS),
        "themes": [o[:80] for o in dict.fromkeys(objectives)][:30],
        "eligible_legal_forms": [f.value for f in forms],
        "needs_covered": [Need.financement.value] if financial else [Need.accompagnement.value, Need.expertise.value],
        "opens_at": opens_at, "closes_at": closes_at, "recurrence": "ponctuel" if closes_at else "permanent",
        "url": web_url(program.get("url")), "eligibility_text": _conditions(program),
    }
    scope, words = read_cumulation([fields["description"], *_condition_lines(program)])
    if scope is not None:
        fields["cumulation_scope"] = scope.value
    if words is not None:
        fields["cumulation_text"] = words
    if str(program.get("aide temporairement indisponible") or "").strip().lower() == "oui":
        fields["active"] = False
        warnings.append("aide temporairement indisponible selon la source : importée inactive")
    codes = coverage_of(program, warnings)
    if codes:
        fields["coverage"] = codes[:500]
    else:
        fields["perimeter_text"] = "zones de la source non reconnues"
        warnings.append("périmètre non reconnu (territoire « à vérifier » pour ce programme)")
    return SourceAid(1, key, fields, providers, warnings, perimeter_resolved=bool(codes))
