"""The French analyser of the sparse index: text into index terms.

NFKC, lower case, elisions removed ("l'association" → "association"), split on anything that is not a
letter or a digit, stop words dropped, Snowball French stemming, then accent folding. Stemming comes
before folding because the Snowball French rules read accents; folding afterwards makes "éducation"
and "education" meet on ``educ``.
"""

from __future__ import annotations

import re
import threading
import unicodedata
from dataclasses import dataclass
from functools import lru_cache

import Stemmer

__all__ = ["FRENCH_STOP_WORDS", "FrenchAnalyzer"]

# Function words and the forms of être/avoir, written as in text (accents included): the check runs
# before stemming and folding, so "maïs" or "sûr" are not taken for "mais" or "sur". Left out on
# purpose because they are also domain words: "été" (Quartiers d'été), numerals, "public", "aide".
_STOP_WORDS_TEXT = """
    a à â au aux avec ce ceci cela ça ces cet cette c ceux celle celles celui chez d dans de des du
    elle elles en et eux il ils je j la là le les leur leurs l lui m ma me mes moi mon même mêmes n
    ne ni nos notre nous on ou où par pas pour qu que qui quoi quel quelle quels quelles s sa se ses
    si son sur ta te tes toi ton tu t un une vos votre vous y dont lequel laquelle lesquels lesquelles
    duquel auquel auxquels auxquelles soi sans sous vers entre mais donc or car comme quand lorsque
    puisque afin ainsi alors aussi plus moins très tres trop bien déjà deja encore ici aujourd hui
    tout tous toute toutes chaque aucun aucune autre autres tel telle tels telles selon lors
    être suis es est sommes êtes sont étais était étions étiez étaient serai seras sera serons serez
    seront serais serait serions seriez seraient sois soit soyons soyez soient fus fut fûmes fûtes
    furent fusse fût étant
    avoir ai as avons avez ont avais avait avions aviez avaient aurai auras aura aurons aurez auront
    aurais aurait aurions auriez auraient aie aies ait ayons ayez aient eu eue eues eus eut eûmes
    eûtes eurent eusse eût ayant
"""
FRENCH_STOP_WORDS = frozenset(_STOP_WORDS_TEXT.split())

# Elided article or pronoun before a word, with the ASCII or a typographic apostrophe (NFKC keeps ’).
_ELISION = re.compile(r"(?<!\w)(?:jusqu|lorsqu|puisqu|quoiqu|presqu|qu|[cdjlmnst])['’‘ʼ`′](?=\w)")
_WORD = re.compile(r"[^\W_]+")  # letters and digits; underscores and punctuation split
_LIGATURES = str.maketrans({"œ": "oe", "æ": "ae"})

_local = threading.local()  # a PyStemmer object must not be shared between threads


def _stem_words(words: list[str]) -> list[str]:
    stemmer = getattr(_local, "stemmer", None)
    if stemmer is None:
        stemmer = _local.stemmer = Stemmer.Stemmer("french")
    stems: list[str] = stemmer.stemWords(words)
    return stems


@lru_cache(maxsize=1 << 16)
def _fold(token: str) -> str:
    decomposed = unicodedata.normalize("NFD", token.translate(_LIGATURES))
    return "".join(c for c in decomposed if not unicodedata.combining(c))


@dataclass(frozen=True)
class FrenchAnalyzer:
    """French text → index terms. Saved with the index so queries are analysed as the documents were.

    ``min_token_len`` counts characters of the surface token, before stemming ("93" is kept, "5" is not).
    """

    stem: bool = True
    fold_accents: bool = True
    min_token_len: int = 2

    def __post_init__(self) -> None:
        for name in ("stem", "fold_accents"):
            if not isinstance(getattr(self, name), bool):
                raise ValueError(f"FrenchAnalyzer.{name} must be a bool, got {getattr(self, name)!r}")
        if not isinstance(self.min_token_len, int) or isinstance(self.min_token_len, bool) or self.min_token_len < 1:
            raise ValueError(f"FrenchAnalyzer.min_token_len must be an int >= 1, got {self.min_token_len!r}")

    def analyze(self, text: str) -> list[str]:
        """Index terms of ``text`` in order, duplicates kept (BM25 counts them)."""
        return [term for term, _ in self.terms_with_words(text)]

    def terms_with_words(self, text: str) -> list[tuple[str, str]]:
        """``(index term, the word it comes from, lower-cased)`` for each term of ``text``, in order:
        what lets an explanation show the words behind a shared term."""
        text = _ELISION.sub("", unicodedata.normalize("NFKC", text).lower())
        words = [w for w in _WORD.findall(text) if len(w) >= self.min_token_len and w not in FRENCH_STOP_WORDS]
        # Fold before stemming: citizens often type without accents, and "activites" must meet
        # "activités" (stemming the accented form first would give "activ" vs "activit").
        terms = [_fold(w) for w in words] if self.fold_accents else list(words)
        if self.stem:
            terms = _stem_words(terms)
        return list(zip(terms, words, strict=True))
