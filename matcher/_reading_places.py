"""Reading where a project is from French free text (used by :mod:`matcher.understanding`).

Conservative by design: a wrong territory is a hard eligibility filter gone wrong, so a name is read
only when it is a known commune, département or région name, written with its capital, **and** it
stands after a cue of place:

* ``à``, ``au`` (Le …), ``aux`` (Les …), ``dans``, ``sur``, ``près de``, ``autour de`` read communes,
  départements and régions; ``en``, ``dans le/la/l'/les`` read départements and régions first
  (``en Seine-Saint-Denis``, ``dans le Finistère``, ``en Bretagne``);
* ``de``, ``d'``, ``du``, ``des`` read them too (``quartiers nord de Marseille``, ``association de
  Brest``), except after a street or station word (``rue de Brest``) and, for a bare saint's name
  (``Saint-Paul``), without a département next to it: ``l'école Saint-Paul`` is not a place;
* a postcode before a name (``29200 Brest``), and names of several parts joined by hyphens
  (``Le Puy-en-Velay``, ``Seine-Saint-Denis``) even without a cue;
* names listed after a place (``à Lille, Roubaix et Tourcoing``).

A capitalised word alone is never a place (``Nous``, ``Tours de magie``, ``Le Nord magnétique``),
and a place named as a model elsewhere (``comme à Grenoble``, ``ce qui se fait à …``) is skipped.

Homonyms (``Saint-Denis``: 93066 and 97411) are resolved by the département written next to the name
(``Saint-Denis (93)``, ``Saint-Denis, 97400``), then by a département, région, postcode or unique
commune named elsewhere in the text (``Saint-Denis de La Réunion``), then by ``departement_hint``;
failing all, the most populous is taken and the reading is marked ambiguous, with the alternatives.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from functools import cache, lru_cache

from matcher import territory
from matcher.territory import Level, TerritoryError

__all__ = ["PlaceRead", "read_places"]

_UPPER = "A-ZÀ-ÖØ-Þ"
_NAME_RUN = re.compile(r"[^\W\d_](?:[\w'’\- ]*[^\W\d_])?")
_MAX_WORDS = 7
_MAX_NAME_CHARS = 80
_MAY_START = re.compile(rf"(?:(?i:le|la|les)\s+|(?i:l)['’])?[{_UPPER}]")  # a name starts with a capital
_STREET = re.compile(
    r"(?:\brue|\bavenue|\bav\.|\bboulevard|\bbd|\bplace|\broute|\bchemin|\ballée|\bquai|\bgare|\bporte|\bpont"
    r"|\bimpasse|\bcours|\bfaubourg|\bsquare)\s+$", re.IGNORECASE)
_ELSEWHERE = re.compile(
    r"(?:\bcomme|ce\s+qui\s+se\s+(?:fait|passe)|inspir\w+|à\s+l['’]image|sur\s+le\s+modèle|l['’]exemple)\b[^.!?;]{0,20}$",
    re.IGNORECASE)
# Cues, case-insensitive; the group ``art`` is the article they stand for ("au Havre" → "Le Havre").
_CUES = re.compile(
    r"(?<![\w'’])(?:"
    r"(?P<tout>à\s+tout(?:e|es)?\s+(?:le|la|les|l['’]))"
    r"|(?P<strong>à|sur(?:\s+la\s+commune\s+de|\s+le\s+territoire\s+de)?|(?:près|autour|proche|non\s+loin"
    r"|aux\s+alentours|en\s+périphérie)\s+(?:de|d['’]))"
    r"|(?P<au>au)|(?P<aux>aux)|(?P<en>en)"
    r"|(?P<area>dans(?:\s+tout(?:e|es)?)?(?:\s+(?:le|la|les)|\s*l['’])?|du\s+département\s+(?:de|du|des)"
    r"|de\s+la|de\s+l['’])"
    r"|(?P<weak>de|d['’])|(?P<du>du)|(?P<des>des)"
    r")(?:\s+|(?<=['’]))",
    re.IGNORECASE,
)
_BARE = re.compile(rf"(?<![\w'’\-])(?:(?:Le|La|Les)\s+|L['’])?[{_UPPER}][\w'’]*(?:-[\w'’]+)+"
                   r"|(?<![\w'’\-])(?:Guadeloupe|Martinique|Guyane|Mayotte)\b")
_POSTCODE = re.compile(r"(?<![\d,.])(?<!\d\s)(?<!\d\u00a0)(\d{5})(?![\d,.]\d)(?=\s*(?:$|[)\]}.,;:!?]|\s[A-Z]))")
_AFTER_NAME = re.compile(
    r"\s*(?:\(\s*(?P<par>\d{5}|\d{2,3}|2[AB])\s*\)|,?\s+(?P<pc>\d{5})(?!\d)|\(\s*(?P<name>[^()\d]{3,40}?)\s*\))")
_LIST_NEXT = re.compile(r"\s*(?:,|\bet\b|\bou\b)\s*(?=[A-Z])")


@dataclass(frozen=True)
class PlaceRead:
    """One territory named in the text, with the span that names it (cue included).

    ``code`` is canonical (commune, département ``"29"`` or région ``"R53"``); ``alternatives`` are
    the other communes of that name when the choice was not decided by the text (``ambiguous``).
    """

    code: str
    level: Level
    start: int
    end: int
    ambiguous: bool = False
    alternatives: tuple[str, ...] = ()


@dataclass(frozen=True)
class _Hit:
    kind: str  # "commune", "departement", "region"
    codes: tuple[str, ...]  # candidate codes (several for a homonym commune)
    start: int
    end: int
    local_dep: str | None = None  # département written next to the name


def _fold(text: str) -> str:
    """Lower-case, strip accents, hyphens and apostrophes as spaces (as :mod:`matcher.territory` folds)."""
    decomposed = unicodedata.normalize("NFKD", text)
    plain = "".join(ch for ch in decomposed if not unicodedata.combining(ch)).lower()
    plain = plain.replace("œ", "oe").replace("æ", "ae")
    return " ".join(re.sub(r"[-'’_.]", " ", plain).split())


@cache
def _area_names() -> tuple[dict[str, str], dict[str, str]]:
    """Folded name → code for départements and régions (an overseas région is read as its
    département, Paris as its commune)."""
    deps = {_fold(t.name or ""): t.code for t in territory.all_departements() if t.code != "75"}
    regions = {_fold(t.name or ""): t.code for t in territory.all_regions()
               if _fold(t.name or "") not in deps}
    regions[_fold("PACA")] = "R93"
    return deps, regions


@lru_cache(maxsize=4096)
def _communes(folded: str) -> tuple[str, ...]:
    return tuple(t.code for t in territory.communes_named(folded))


def _capitalised(name: str) -> bool:
    """The first word that is not an article starts with a capital."""
    words = re.split(r"[\s'’]+", name)
    for word in words:
        if word.lower() in ("le", "la", "les", "l") and word != words[-1]:
            if word[0].isupper():
                return True
            continue
        return word[:1].isupper()
    return False


def _is_saint(name: str) -> bool:
    parts = name.split("-")
    return len(parts) == 2 and parts[0] in ("Saint", "Sainte", "St", "Ste")


def _lookup(text: str, pos: int, *, article: str, areas_first: bool, communes: bool) -> _Hit | None:
    """The longest known name starting at ``pos`` (after a cue), or None."""
    if not _MAY_START.match(text, pos):
        return None
    run = _NAME_RUN.match(text[pos:pos + _MAX_NAME_CHARS])  # a window: a cue is never followed by 20,000 letters
    if run is None:
        return None
    words = list(re.finditer(r"[^\s\-'’]+", run.group(0)))[:_MAX_WORDS]
    deps, regions = _area_names()
    for n in range(len(words), 0, -1):
        end = pos + words[n - 1].end()
        name = text[pos:end]
        if not _capitalised(name):
            continue
        for prefix in ([article, ""] if article else [""]):
            folded = _fold(f"{prefix} {name}")
            found: list[_Hit] = []
            if communes and (codes := _communes(folded)):
                found.append(_Hit("commune", codes, pos, end))
            if folded in deps:
                found.append(_Hit("departement", (deps[folded],), pos, end))
            elif folded in regions:
                found.append(_Hit("region", (regions[folded],), pos, end))
            if found:
                return found[-1] if areas_first else found[0]
    return None


def _local_departement(text: str, end: int) -> tuple[str | None, int]:
    """A département written right after a name: ``(93)``, ``(93200)``, ``, 97400``."""
    m = _AFTER_NAME.match(text, end)
    if m is None:
        return None, end
    if m.group("name"):  # "Saint-Denis (La Réunion)"
        deps, regions = _area_names()
        folded = _fold(m.group("name"))
        return deps.get(folded) or regions.get(folded), m.end()
    given = m.group("par") or m.group("pc")
    try:
        dep = territory.postcode_to_departement(given) if len(given) == 5 else territory.parse_territory(given).code
    except TerritoryError:
        return None, end
    return dep, m.end()


class _Scan:
    """One pass over a text: the places found so far and the spans they take (a name is read once)."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.hits: list[_Hit] = []
        self.taken = bytearray(len(text) + 1)  # 1 where a name already read stands

    def free(self, start: int, end: int) -> bool:
        return not any(self.taken[start:end])

    def add(self, hit: _Hit, cue_start: int, *, weak: bool, local: str | None = None) -> None:
        if local is None:
            local, _ = _local_departement(self.text, hit.end)
        if hit.kind == "commune" and _is_saint(self.text[hit.start:hit.end]) and weak and local is None:
            return
        self.hits.append(_Hit(hit.kind, hit.codes, cue_start, hit.end, local))
        self.taken[hit.start:hit.end] = b"\x01" * (hit.end - hit.start)

    def postcodes(self) -> None:
        """Postcodes, as evidence of a département, and the commune named right after one."""
        text = self.text
        for m in _POSTCODE.finditer(text):
            try:
                dep = territory.postcode_to_departement(m.group(1))
            except TerritoryError:
                continue
            self.hits.append(_Hit("postcode", (dep,), m.start(), m.end()))
            if text[m.end():m.end() + 1] == " ":
                hit = _lookup(text, m.end() + 1, article="", areas_first=False, communes=True)
                if hit is not None and hit.kind == "commune":
                    self.add(hit, m.start(), weak=False, local=dep)

    def cues(self) -> None:
        """Names after a cue of place, and the names listed after them."""
        text = self.text
        for m in _CUES.finditer(text):
            if not self.free(m.end(), m.end() + 1) or _ELSEWHERE.search(text[max(0, m.start() - 60):m.start()]):
                continue
            kind = m.lastgroup or ""
            weak = kind in ("weak", "du", "des")
            if weak and _STREET.search(text[max(0, m.start() - 12):m.start()]):
                continue
            article = {"au": "le", "du": "le", "aux": "les", "des": "les"}.get(kind, "")
            last = re.split(r"[\s'’]+", m.group(0).strip(" '’").lower())[-1]
            if kind in ("area", "tout") and last in ("le", "la", "les", "l"):
                article = last
            hit = _lookup(text, m.end(), article=article, areas_first=kind in ("area", "en", "tout"),
                          communes=kind not in ("en", "tout"))
            if hit is None or not self.free(hit.start, hit.end):
                continue
            self.add(hit, m.start(), weak=weak)
            end = hit.end
            while (nxt := _LIST_NEXT.match(text, end)) is not None:  # "à Lille, Roubaix et Tourcoing"
                more = _lookup(text, nxt.end(), article="", areas_first=False, communes=True)
                if more is None or more.kind != hit.kind or not self.free(more.start, more.end):
                    break
                self.add(more, more.start, weak=False)
                end = more.end

    def bare(self) -> None:
        """Hyphenated names without a cue ("Le Puy-en-Velay", "Seine-Saint-Denis")."""
        text = self.text
        for m in _BARE.finditer(text):
            if not self.free(m.start(), m.end()) or _STREET.search(text[max(0, m.start() - 12):m.start()]):
                continue
            hit = _lookup(text, m.start(), article="", areas_first=True, communes=True)
            if hit is not None and hit.end == m.end():
                self.add(hit, m.start(), weak=_is_saint(m.group(0)))


def _hits(text: str) -> list[_Hit]:
    scan = _Scan(text)
    scan.postcodes()
    scan.cues()
    scan.bare()
    return sorted(scan.hits, key=lambda h: h.start)


def _resolve(hit: _Hit, evidence: set[str], hint: str | None) -> PlaceRead:
    """Pick one commune of a name: by the département next to it, then the text's evidence (codes of
    départements and régions), then the hint; else the first (most populous), marked ambiguous."""
    level = Level.commune if hit.kind == "commune" else Level(hit.kind)
    if len(hit.codes) == 1:
        return PlaceRead(hit.codes[0], level, hit.start, hit.end)
    for wanted in ([hit.local_dep] if hit.local_dep else []), sorted(evidence), ([hint] if hint else []):
        chosen = [c for c in hit.codes if set(territory.parse_territory(c).ancestors) & set(wanted)]
        if len(chosen) == 1:
            return PlaceRead(chosen[0], level, hit.start, hit.end)
    return PlaceRead(hit.codes[0], level, hit.start, hit.end, ambiguous=True, alternatives=hit.codes[1:])


def read_places(text: str, *, departement_hint: str | None = None) -> list[PlaceRead]:
    """Every territory the text names, in text order (see the module docstring for the rules)."""
    hits = _hits(text)
    evidence: set[str] = set()
    for h in hits:
        if h.kind in ("departement", "region", "postcode") or (h.kind == "commune" and len(h.codes) == 1):
            evidence.update(territory.parse_territory(h.codes[0]).ancestors[:-1])
    return [_resolve(h, evidence, departement_hint) for h in hits if h.kind != "postcode"]


def common_territory(places: list[PlaceRead]) -> str | None:
    """The one territory that the places say: the finest level named, and when several differ at that
    level, their lowest common ancestor if it is a département or a région; else None."""
    if not places:
        return None
    order = (Level.commune, Level.departement, Level.region)
    finest = min((p.level for p in places), key=order.index)
    codes = {p.code for p in places if p.level is finest}
    if len(codes) == 1:
        return codes.pop()
    chains = [territory.parse_territory(c).ancestors for c in sorted(codes)]
    shared = [c for c in chains[0] if all(c in chain for chain in chains[1:])]
    best = shared[0]
    return best if territory.parse_territory(best).level in (Level.departement, Level.region) else None
