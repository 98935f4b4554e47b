"""Reading the sum a project seeks from French free text (used by :mod:`matcher.understanding`).

An amount is a number with a money unit: ``18 000 €``, ``18 000 euros``, ``20.000 €``, ``2 500€``,
``18k€``, ``18 k€``, ``3 M€``, ``1,5 million d'euros``, ``quinze mille euros``; a bare ``18K`` counts
only right after a strong cue of need. Numbers without a money unit (years, populations, areas,
counts, phone numbers, postcodes) are never amounts.

Whether an amount is *sought* is decided by the nearest cue before it in its sentence:

* strong cues of need (``il nous manque``, ``nous cherchons``, ``besoin de``, ``sollicitons``,
  ``lever``, ``subvention``, ``financer``…) and weak ones (``budget``, ``coût``, ``montant``…) make
  it sought;
* cues of money already there or not sought (``déjà``, ``reçu``, ``obtenu``, ``grâce à``, ``dons``,
  ``chiffre d'affaires``, ``loyer``, ``prix``, ``cotisation``, ``budget annuel``, ``budget de
  fonctionnement``) rule it out, and so does what follows it: a rate or a price (``par mois``,
  ``par an``, ``par repas``…), money already there (``10 000 € déjà trouvés``) and, short of a strong
  cue, a funder (``avec 15 000 € de la région``). The annual budget of a structure says its size, not
  what the project asks: it is not read, although "le budget du projet est de …" is;
* short of a strong cue, a sum under 100 € is a price, not a project's need;
* an amount with no cue at all is taken only when it is the only money amount of the text
  (``35 000 € d'investissement`` counts as a weak cue after the amount).

Among sought amounts, a strong cue beats a weak one, which beats none; then the largest wins. A
range (``entre 10 000 et 15 000 €``, ``de 9 000 € à 12 000 €``, ``10-15 k€``) reads as its upper
bound: the amount check refuses a resource whose minimum is above the sum sought, and the upper
bound is what keeps a resource whose minimum lies inside the range.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

__all__ = ["AmountRead", "read_amount"]

_SP = r"[ \u00a0\u202f]"
# A number: thousands grouped by a space or a dot ("18 000", "20.000"), or plain digits, with an
# optional decimal part ("1,5", "1.5"). The look-behind keeps it from starting inside another number.
_NUM = rf"(?<![\w.,])(?:\d{{1,3}}(?:(?:{_SP}|\.)\d{{3}})+|\d+)(?:[.,]\d{{1,2}}(?!\d))?"
_UNIT = (
    rf"(?P<k>{_SP}?[kK]{_SP}?(?:€|euros?\b|eur\b))"
    rf"|(?P<bk>{_SP}?[kK](?![\w€]))"
    rf"|(?P<m>{_SP}?M{_SP}?€)"
    rf"|{_SP}*(?P<mw>millions?|milliards?){_SP}*(?:d['’]{_SP}?euros\b|€|euros\b)"
    rf"|{_SP}*(?P<th>mille){_SP}+euros\b"
    rf"|(?P<e>{_SP}?(?:€|euros?\b|EUR\b))"
)
_DIGIT_AMOUNT = re.compile(rf"(?P<num>{_NUM})(?:{_UNIT})")

_WORDS = {
    "zéro": 0, "un": 1, "une": 1, "deux": 2, "trois": 3, "quatre": 4, "cinq": 5, "six": 6, "sept": 7,
    "huit": 8, "neuf": 9, "dix": 10, "onze": 11, "douze": 12, "treize": 13, "quatorze": 14,
    "quinze": 15, "seize": 16, "vingt": 20, "vingts": 20, "trente": 30, "quarante": 40,
    "cinquante": 50, "soixante": 60,
}
_SCALES = {"cent": 100, "cents": 100, "mille": 1000, "million": 10**6, "millions": 10**6,
           "milliard": 10**9, "milliards": 10**9}
_WORD = "|".join(sorted([*_WORDS, *_SCALES], key=len, reverse=True))
_WORD_AMOUNT = re.compile(
    rf"(?<![\w-])(?P<words>(?:{_WORD})(?:(?:{_SP}+|-)(?:et(?:{_SP}+|-))?(?:{_WORD}))*)"
    rf"(?:{_SP}+d['’]{_SP}?euros\b|{_SP}+euros?\b|{_SP}?€)",
    re.IGNORECASE,
)
_RANGE_BEFORE = re.compile(
    rf"(?:\b(?P<kw>entre|de){_SP}+)?(?P<lo>{_NUM}){_SP}?(?:€|euros?|[kK]€|[kK])?{_SP}*"
    rf"(?P<sep>à|et|-|–|—){_SP}*$"
)

_STRONG = (
    r"(?:il\s+(?:nous\s+|leur\s+|me\s+)?)?manqu\w*|(?:il\s+(?:nous\s+|leur\s+)?)?(?:faut|faudrait|faudra)"
    r"|(?:nous\s+|je\s+|on\s+)?(?:re)?cherch\w*|(?:nous\s+avons\s+|j['’]ai\s+|on\s+a\s+)?besoin"
    r"|sollicit\w*|demand\w*|lever|levée|collecte\b|objectif|visons|financer|financement|subvention"
    r"|aide\s+(?:de|d['’]un)|trouver|réunir|recherché"
)
_WEAK = r"budget|co[uû]t\w*|montant|s['’]él[eè]ve\w*|estimé|enveloppe|investissement|total"
_NEGATIVE = (
    r"budget\s+(?:annuel|de\s+fonctionnement|global\s+de\s+(?:l['’]|notre)\s*association)|déjà|reçu|obtenu"
    r"|collecté|récolté|levé\b|avons\s+eu|disposons|apport|fonds\s+propres|autofinanc\w*|grâce\s+à|dons?\b"
    r"|chiffre\s+d['’]affaires|loyer|salaires?|prix|tarifs?|cotisations?|adhésions?|entrée|billet"
)
_CUE = re.compile(rf"(?P<neg>{_NEGATIVE})|(?P<strong>{_STRONG})|(?P<weak>{_WEAK})", re.IGNORECASE)
# A rate or a price ("800 € par mois", "3,50 € par repas"), or money already there ("10 000 € déjà
# trouvés"), right after the amount: never a sum sought.
_RATE_AFTER = re.compile(
    rf"^{_SP}*(?:HT|TTC)?{_SP}*(?:par{_SP}+(?!la\b|le\b|les\b|l['’]|notre\b)\w+"
    rf"|/{_SP}?(?:mois|an|pers)|mensuel|annuel|de{_SP}+l['’]heure|l['’]unité|pièce|chacun|de{_SP}+dons|de{_SP}+loyer"
    rf"|(?:sont{_SP}+|ont{_SP}+été{_SP}+)?déjà\b|(?:acquis|obtenus|trouvés|réunis|collectés)\b)",
    re.IGNORECASE,
)
# A funder right after the amount ("avec 15 000 € de la région"): money received, unless a strong cue
# of need says otherwise.
_FUNDER_AFTER = re.compile(
    rf"^{_SP}*(?:de|du|des){_SP}+(?:la{_SP}+|l['’]|le{_SP}+|notre{_SP}+)?"
    r"(?:région|ville|mairie|commune|fondation|département|État|CAF|préfecture|métropole|mécènes?)\b",
    re.IGNORECASE,
)
_WEAK_AFTER = re.compile(
    rf"^{_SP}*(?:HT|TTC)?{_SP}*(?:d['’]investissement|de{_SP}+budget|de{_SP}+travaux|au{_SP}+total)", re.IGNORECASE)
_MIN_WEAK = 100.0  # under 100 €, a sum with no strong cue is a price ("les paniers coûtent 15 €")
_STRONG_AFTER = re.compile(
    rf"^{_SP}*(?:HT|TTC)?{_SP}*(?:nous{_SP}+manqu|manqu|(?:sont|serai(?:en)?t|seront){_SP}+nécessaires?"
    rf"|à{_SP}+(?:trouver|réunir|financer|collecter)|recherchés?)",
    re.IGNORECASE,
)
_SENTENCE_END = re.compile(r"[.!?…]+(?=\s|$)|\n")
_CUE_REACH = 80  # characters before an amount in which its cue is looked for


@dataclass(frozen=True)
class AmountRead:
    """An amount sought, in euros, with the span of text that says it (cue included)."""

    value: float
    start: int
    end: int
    strength: int  # 2 strong cue, 1 weak cue, 0 no cue (the text's only amount)


@dataclass(frozen=True)
class _Found:
    value: float
    start: int  # the amount, or the lower bound of its range
    end: int
    bare_k: bool


def _number(text: str) -> float:
    """``"18 000"``, ``"20.000"``, ``"1,5"``, ``"1.5"`` → float."""
    plain = re.sub(_SP, "", text)
    if re.fullmatch(r"\d{1,3}(?:\.\d{3})+", plain):
        plain = plain.replace(".", "")
    return float(plain.replace(",", "."))


def _words_value(words: str) -> float | None:
    """French number words to a number (``"deux cent mille"`` → 200000); None if not a number."""
    total, group, previous = 0, 0, ""
    for token in re.split(rf"(?:{_SP}|-)+", words.lower()):
        if token == "et":
            continue
        if token in ("vingt", "vingts") and previous == "quatre":
            group += 80 - 4  # quatre-vingt(s)
        elif token in _WORDS:
            group += _WORDS[token]
        elif token in ("cent", "cents"):
            group = (group or 1) * 100
        elif token in _SCALES:
            total += (group or 1) * _SCALES[token]
            group = 0
        else:
            return None
        previous = token
    value = total + group
    return float(value) if value > 0 else None


def _multiplier(m: re.Match[str]) -> float:
    if m.group("k") or m.group("bk"):
        return 1e3
    if m.group("m"):
        return 1e6
    if m.group("mw"):
        return 1e9 if m.group("mw").startswith("milliard") else 1e6
    if m.group("th"):
        return 1e3
    return 1.0


def _amounts(text: str) -> list[_Found]:
    found: list[_Found] = []
    for m in _DIGIT_AMOUNT.finditer(text):
        mult = _multiplier(m)
        value = _number(m.group("num")) * mult
        start = m.start()
        prefix = _RANGE_BEFORE.search(text[max(0, start - 40):start])
        if prefix and (prefix.group("sep") != "et" or prefix.group("kw") == "entre"):
            start -= len(prefix.group(0))
        found.append(_Found(value, start, m.end(), bool(m.group("bk"))))
    for m in _WORD_AMOUNT.finditer(text):
        worded = _words_value(m.group("words"))
        if worded is not None:
            found.append(_Found(worded, m.start(), m.end(), False))
    # The lower bound of a range is found on its own too: keep only the range.
    found.sort(key=lambda f: (f.start, -f.end))
    kept: list[_Found] = []
    for f in found:
        if kept and f.start < kept[-1].end:
            if f.end > kept[-1].end:
                kept[-1] = f
            continue
        kept.append(f)
    return kept


def _cue_window_start(text: str, pos: int) -> int:
    """Where the cue of an amount at ``pos`` may start: its sentence, at most _CUE_REACH characters back."""
    start = max(0, pos - _CUE_REACH)
    for m in _SENTENCE_END.finditer(text, start, pos):
        start = m.end()
    return start


def read_amount(text: str) -> AmountRead | None:
    """The amount the text seeks, in euros, or None (see the module docstring for the rules)."""
    found = _amounts(text)
    money = [f for f in found if not f.bare_k]
    candidates: list[AmountRead] = []
    for f in found:
        if _RATE_AFTER.match(text[f.end:f.end + 40]):
            continue
        begin = _cue_window_start(text, f.start)
        cues = list(_CUE.finditer(text, begin, f.start))
        if cues:
            cue = cues[-1]
            if cue.group("neg"):
                continue
            strength, start = (2 if cue.group("strong") else 1), cue.start()
        elif _STRONG_AFTER.match(text[f.end:f.end + 40]):
            strength, start = 2, f.start
        elif _WEAK_AFTER.match(text[f.end:f.end + 40]):
            strength, start = 1, f.start
        else:
            strength, start = 0, f.start
        if strength < 2 and (f.bare_k or f.value < _MIN_WEAK or _FUNDER_AFTER.match(text[f.end:f.end + 40])):
            continue
        if strength == 0 and len(money) != 1:
            continue
        candidates.append(AmountRead(f.value, start, f.end, strength))
    if not candidates:
        return None
    return max(candidates, key=lambda a: (a.strength, a.value))
