"""Reading needs, legal form and stage from French free text: small lexicons of cues (used by
:mod:`matcher.understanding`). Every pattern is matched case-insensitively unless said otherwise.

* **Needs**: a need's term (``un local``, ``des conseils``, ``un expert``, ``visibilité``…) counts
  only after a cue of seeking in the same sentence (``nous cherchons``, ``besoin de``, ``nous
  voudrions``, ``manquons de``…) or before ``nous aiderait`` / ``nous serait utile``, with no negation
  in between: "nous accompagnons des jeunes" and "nous proposons des conseils" describe what the
  project does, not what it needs. Several needs may be read.
* **Legal form**: self-descriptions only (``notre association``, ``nous sommes une SCOP``,
  ``association loi 1901``, ``collectif d'habitants``…), never a partner (``avec une SCOP``,
  ``l'association des commerçants``) or a plan (``passer en SCIC``, ``créer une association``). One
  form is read; when several cues are present the first in this order wins: entreprise de l'ESS,
  association, collectivité, entreprise, collectif (a ``notre association de parents d'élèves`` is an
  association).
* **Stage**: the most advanced stage that a cue names wins (a deployed project that wants to
  ``essaimer`` is at the ``changement_echelle`` stage); ``depuis 2019`` reads as deployment unless
  the sentence speaks of testing (``nous expérimentons depuis …``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from matcher.schemas import LegalForm, Need, Stage

__all__ = ["CueRead", "read_legal_form", "read_needs", "read_stage"]

_I = re.IGNORECASE
_A = r"['’]"  # an apostrophe, straight or curly


@dataclass(frozen=True)
class CueRead:
    """One value read from a cue, with the span that says it."""

    value: str
    start: int
    end: int


# --- needs --------------------------------------------------------------------------------------

_SEEK = re.compile(
    r"(?:re)?cherch\w*|à\s+la\s+recherche|besoin|manqu\w*|il\s+(?:nous\s+)?(?:faut|faudrait)|trouver"
    r"|souhait\w*|voudr\w*|voulons|veux|veut|veulent|aimeri\w*|aimerai\w*|espér\w*|sollicit\w*|demand\w*"
    r"|obtenir|accéder|accès|bénéficier|pour\s+financer|afin\s+de\s+financer",
    _I)
_SEEK_AFTER = re.compile(r"^[^.!?;]{0,20}?\b(?:nous\s+aiderai\w*|nous\s+serai\w*\s+(?:utile|précieu)\w*"
                         r"|nous\s+manqu\w*|nous\s+fai\w*\s+défaut)", _I)
_NEGATION = re.compile(r"\b(?:pas|plus|jamais|aucun\w*|sans)\b|\bn['’]", _I)
_PUBLIC = (r"(?:la\s+|une\s+|l['’]|les\s+|le\s+|des\s+|notre\s+)?"
           r"(?:mairie|ville|commune|collectivit\w+|administrations?|préfecture|État|services?\s+publics?|services\s+de\s+l['’]État|département|région|ministère"
           r"|municipalité|intercommunalité|métropole|agglomération|France\s+Travail|Pôle\s+emploi|CAF|ARS"
           r"|Éducation\s+nationale)\b")
_NEED_TERMS: list[tuple[Need, re.Pattern[str]]] = [
    (Need.lieu, re.compile(
        rf"\b(?:un|d{_A}un|de\s+nouveaux|un\s+nouveau|d{_A}un\s+nouveau|un\s+autre)"
        rf"\s+(?:(?:vrai|petit|grand|véritable|premier)\s+)?(?:lieu|local|espace|terrain|bâtiment)\b"
        rf"|\bdes\s+locaux\b|\bde\s+locaux\b|\b(?:une|d{_A}une|de|des)\s+salles?\b(?!\s+des\s+fêtes)", _I)),
    (Need.financement, re.compile(
        r"\bfinancements?\b|\bfinancer\b|\bsubventions?\b|\bfonds\b|\bmécénat\b|\bfinancement\s+participatif\b", _I)),
    (Need.accompagnement, re.compile(
        rf"\bêtre\s+accompagn\w*|\b(?:un|d{_A}un|l{_A})\s*accompagnement\b|\bmentor\w*|\bcoach\w*|\bparrain\w*"
        rf"|\bincubat\w*|\bdes\s+conseils\b(?!\s+(?:juridiques?|fiscaux|comptables?|techniques?))"
        rf"|\bde\s+conseils\b(?!\s+(?:juridiques?|fiscaux|comptables?|techniques?))", _I)),
    (Need.donnees, re.compile(r"\bdonnées\b|\bopen\s*data\b|\bjeux\s+de\s+données\b", _I)),
    (Need.expertise, re.compile(
        r"\bexperts?\b|\bexpert-comptable\b|\bexpertises?\b|\bconseils?\s+(?:juridiques?|fiscaux|comptables?|techniques?)"
        r"|\bjuristes?\b|\bavocats?\b|\bingénieur\w*\b", _I)),
    (Need.visibilite, re.compile(
        r"\bfaire\s+connaître\b|\bvisibilité\b|\bvisibles?\b|\bcommunication\b|\bmédiatis\w+|\bnotoriété\b"
        r"|\brayonnement\b", _I)),
    (Need.partenariat_public, re.compile(
        rf"\b(?:travailler|collaborer|coopérer|partenariat|nous\s+associer|convention(?:ner)?|co-?construire)"
        rf"\s+(?:\w+\s+){{0,2}}?(?:avec|de|d{_A})\s*{_PUBLIC}", _I)),
]
_SENTENCE = re.compile(r"[^.!?;\n]+(?:[.!?;\n]+|$)")


def _seeking_before(sentence: str, at: int) -> re.Match[str] | None:
    """The last cue of seeking before ``at`` in the sentence, when no negation lies around it."""
    cues = list(_SEEK.finditer(sentence, 0, at))
    if not cues:
        return None
    cue = cues[-1]
    if _NEGATION.search(sentence[max(0, cue.start() - 25):cue.start()]) or _NEGATION.search(sentence[cue.end():at]):
        return None
    return cue


def read_needs(text: str) -> list[CueRead]:
    """Needs the text asks for, each once, in text order, with the span from its cue to its term."""
    found: dict[Need, CueRead] = {}
    for s in _SENTENCE.finditer(text):
        sentence = s.group(0)
        for need, pattern in _NEED_TERMS:
            if need in found:
                continue
            for m in pattern.finditer(sentence):
                cue = _seeking_before(sentence, m.start())
                if cue is not None:
                    found[need] = CueRead(need.value, s.start() + cue.start(), s.start() + m.end())
                    break
                after = _SEEK_AFTER.match(sentence[m.end():])
                if after is not None and not _NEGATION.search(sentence[:m.start()]):
                    found[need] = CueRead(need.value, s.start() + m.start(), s.start() + m.end() + after.end())
                    break
    return sorted(found.values(), key=lambda c: c.start)


# --- legal form ---------------------------------------------------------------------------------

_START = r"(?:^|(?<=[.!?;:\n])\s*)"  # at the start of the text or of a sentence
_PLAN = re.compile(r"(?:passer|devenir|transformer|créer|monter|fonder|constituer)\s+(?:\w+\s+){0,2}$", _I)
_LEGAL: list[tuple[LegalForm, re.Pattern[str]]] = [
    (LegalForm.entreprise_ess, re.compile(
        rf"\b(?:notre|nous\s+sommes\s+une|en\s+tant\s+que|sous\s+(?:forme|statut)\s+de)\s+(?:SCOP|SCIC|coopérative)\b"
        rf"|{_START}(?:SCOP|SCIC|Coopérative)\b|\bentreprise\s+de\s+l{_A}(?:ESS|économie\s+sociale)|\bESUS\b"
        rf"|\bentreprise\s+solidaire\s+d{_A}utilité\s+sociale|\bentreprise\s+d{_A}insertion\b", _I)),
    (LegalForm.association, re.compile(
        rf"\b(?:notre|mon)\s+(?:petite\s+|jeune\s+|nouvelle\s+)?asso(?:ciation)?\b|\bnous\s+sommes\s+une\s+asso(?:ciation)?\b|\basso(?:ciation)?\s+loi\s+(?:de\s+)?1901\b"
        rf"|\ben\s+tant\s+qu{_A}association\b|{_START}Association\s+(?:de|d{_A}|du|des)\b", _I)),
    (LegalForm.collectivite, re.compile(
        rf"{_START}notre\s+(?:commune|municipalité|intercommunalité|communauté\s+de\s+communes)\b"
        rf"|\bnous\s+sommes\s+une\s+(?:commune|communauté\s+de\s+communes|intercommunalité|collectivité|municipalité)\b"
        rf"|\b(?:la|notre)\s+(?:mairie|commune|municipalité)\s+(?:qui\s+)?porte\b"
        rf"|\bporté\s+par\s+la\s+(?:mairie|commune|municipalité)\b|\ble\s+conseil\s+municipal\s+(?:a|porte)\b", _I)),
    (LegalForm.entreprise, re.compile(
        rf"\b(?:notre|nous\s+sommes\s+une)\s+(?:entreprise|société|start-?up|TPE|PME|micro-?entreprise)\b"
        rf"(?!\s+(?:de\s+l{_A}ESS|d{_A}insertion|solidaire|coopérative))"
        rf"|\bauto-?entrepreneu\w+|\bmicro-?entrepreneu\w+|(?-i:\b(?:SARL|SASU|EURL|SAS)\b)", _I)),
    (LegalForm.collectif, re.compile(
        rf"\bnotre\s+collectif\b|\bnous\s+sommes\s+un\s+collectif\b|\bcollectif\s+(?:d{_A}habitants|citoyen|informel)"
        rf"|\bgroupe\s+(?:de\s+voisins|d{_A}habitants)|\bparents\s+d{_A}élèves\b|\bassociation\s+de\s+fait\b"
        rf"|{_START}Collectif\s+(?:de|d{_A}|du|des)\b", _I)),
]


def read_legal_form(text: str) -> CueRead | None:
    """The holder's legal form, from how the text describes itself; None when it does not."""
    for form, pattern in _LEGAL:
        for m in pattern.finditer(text):
            if _PLAN.search(text[max(0, m.start() - 40):m.start()]):
                continue
            return CueRead(form.value, m.start(), m.end())
    return None


# --- stage --------------------------------------------------------------------------------------

_NUMBER_WORD = r"(?:\d+|deux|trois|quatre|cinq|six|sept|huit|neuf|dix|quinze|vingt|plusieurs|quelques|de\s+nombreuses)"
_TESTING = re.compile(r"\btest\w*|expériment\w*|\bpilote\b", _I)
_STAGES: list[tuple[Stage, re.Pattern[str]]] = [
    (Stage.changement_echelle, re.compile(
        r"\bessaim\w*|\bétendre\s+(?:[\w'’]+\s+){0,3}?à\s+(?:d['’]autres\b|tout(?:e|es)?\b|l['’]ensemble\b)|\bchang\w+\s+d['’]échelle\b|\bchangement\s+d['’]échelle\b"
        r"|\bpasser\s+à\s+l['’]échelle\b|\bpassage\s+à\s+l['’]échelle\b|\bdupliqu\w+|\brépliqu\w+"
        r"|\bdéployer\s+(?:[\w'’]+\s+){0,3}?(?:dans|à|sur)\s+d['’]autres\b", _I)),
    (Stage.deploiement, re.compile(
        rf"\bdepuis\s+(?:(?:19|20)\d\d\b|{_NUMBER_WORD}\s+ans\b|plusieurs\s+années|longtemps)|\bfonctionne\s+(?:déjà|depuis)\b"
        rf"|\bexiste\s+(?:déjà|depuis)\b|\bdéjà\s+\d+\s+éditions\b"
        rf"|\b(?:nous|et)\s+(?!\w*(?:erons|irons|rrons)\b)\w+ons\b[^.!?;]{{0,60}}?\b(?:chaque|tous\s+les|toutes\s+les)\s+"
        rf"(?:semaines?|mois|années?|ans|jours?|lundis?|mardis?|mercredis?|jeudis?|vendredis?|samedis?|dimanches?)\b"
        rf"|\b(?:accueill|organis|anim|propos|réuni|distribu)(?:e|ent|ons)\b[^.!?;]{{0,60}}?\b(?:chaque|tous\s+les"
        rf"|toutes\s+les)\s+(?:semaines?|mois|années?|ans|jours?|lundis?|mardis?|mercredis?|jeudis?|vendredis?|samedis?"
        rf"|dimanches?)\b"
        rf"|\b(?:chaque|tous\s+les|toutes\s+les)\s+(?:semaines?|mois|années?|ans|samedis?|dimanches?)[^.!?;]{{0,40}}?"
        rf"\bnous\s+(?!\w*(?:erons|irons|rrons)\b)\w+ons\b", _I)),
    (Stage.experimentation, re.compile(
        r"\btestons\b|\btestent\b|\b(?:est|sont)\s+testée?s?\b|\ben\s+test\b|\bphase\s+(?:de\s+)?test\w*|\bphase\s+pilote\b|\bprojet\s+pilote\b"
        r"|\bà\s+titre\s+expérimental\b|\bexpériment(?:ons|ation|ent|é|ée|és)\b|\bexpérimental\w*", _I)),
    (Stage.prototype, re.compile(
        r"\bprototypes?\b|\bmaquettes?\b|\bdémonstrateur\b|\bpreuve\s+de\s+concept\b|(?-i:\bPOC\b)"
        r"|\bpremière\s+version\b", _I)),
    (Stage.idee, re.compile(
        rf"\b(?:nous\s+avons|j{_A}ai|on\s+a|a)\s+une\s+idée\b|\bstade\s+de\s+l{_A}idée\b"
        rf"|\b(?:voudri\w*|voudrai\w*|aimeri\w*|aimerai\w*|souhait\w*|voulons|veux|veut|veulent|envisag\w*|projetons"
        rf"|réfléchissons\s+à)\s+(?:\w+\s+)?(?:lancer|créer|ouvrir|monter|démarrer|fonder|mettre\s+en\s+place)\b"
        rf"|\benvisag\w+\s+d{_A}(?:ouvrir|organiser|installer|lancer)\b", _I)),
]


def read_stage(text: str) -> CueRead | None:
    """The most advanced stage a cue names; None when the text names none."""
    for stage, pattern in _STAGES:
        for m in pattern.finditer(text):
            if stage is Stage.deploiement and m.group(0).lower().startswith("depuis"):
                sentence = next((s for s in _SENTENCE.finditer(text) if s.start() <= m.start() < s.end()), None)
                if sentence is not None and _TESTING.search(sentence.group(0)):
                    continue
            return CueRead(stage.value, m.start(), m.end())
    return None
