"""Non-cumulation rules as the sources state them, read from their French text.

aides-territoires and TEE say in words when an aid cannot be combined with others: « n'est pas
cumulable avec une autre aide régionale sur les mêmes dépenses », « distinctes et non cumulables avec
des subventions issues d'autres dispositifs régionaux ». They never name the other aids by an id, so
what is read is a general rule (:class:`~matcher.schemas.CumulationScope`) and the source's own
sentences. A ceiling on cumulated aid (the « de minimis » regime) is kept as words only: it caps
amounts, it forbids no combination.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from matcher._territory_data import fold
from matcher.importers._sources import clip
from matcher.schemas import MAX_DESCRIPTION_CHARS, CumulationScope

__all__ = ["read_cumulation"]

# On folded text (lower case, no accents, apostrophes as spaces).
_SENTENCE_END = re.compile(r"(?<=[.;!?])\s+|\n+")
_ABOUT_CUMULATION = re.compile(r"\bcumul")
_ABOUT_AID = re.compile(r"\b(aide|aides|dispositif|dispositifs|subvention|subventions|financement|financements|"
                        r"minimis|soutien)\b")
# The negation must govern "cumul" itself (« n'est pas cumulable », « non cumulables », « ne peut être
# cumulée »): « non remboursable, cumulable avec… » is a permission.
_NEGATED = re.compile(r"\b(?:pas|non|ni)\s+(?:etre\s+)?cumul|\bne\s+(?:peut|peuvent)\s+(?:etre\s+)?cumul")
_REGIONAL = re.compile(r"\bregion(al|aux|ale|ales)?\b")
_PUBLIC = re.compile(r"\b(toute autre aide|autres? aides? publiques?|aide publique|aides de l etat|aide de l etat)\b")


def read_cumulation(texts: Iterable[str]) -> tuple[CumulationScope | None, str | None]:
    """``(scope, words)`` from a record's texts: the sentences about cumulating aids, joined (``None``
    when there is none), and the general rule they state when it is a refusal to cumulate with
    regional aids, or with any other public aid (``None`` otherwise: a ceiling, a permission)."""
    sentences: list[str] = []
    for text in texts:
        for sentence in _SENTENCE_END.split(text or ""):
            plain = fold(sentence)
            if _ABOUT_CUMULATION.search(plain) and _ABOUT_AID.search(plain):
                sentences.append(" ".join(sentence.split()))
    sentences = list(dict.fromkeys(sentences))
    if not sentences:
        return None, None
    scope = None
    for sentence in sentences:
        plain = fold(sentence)
        refusal = _NEGATED.search(plain)
        if refusal is None:
            continue
        what = plain[refusal.end():]  # what it cannot be combined with (« Cette aide régionale… » is the subject)
        if _PUBLIC.search(what):
            scope = CumulationScope.aide_publique
            break  # the wider rule wins
        if _REGIONAL.search(what):
            scope = CumulationScope.aide_regionale
    return scope, clip(" ".join(sentences), MAX_DESCRIPTION_CHARS)
