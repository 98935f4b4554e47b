"""Is there English in this French text? A check without a language model, for tests.

A text leaks English when it holds a word of :data:`ENGLISH_ONLY`: frequent English words (function
words, and the words of pydantic's, Starlette's and Python's error messages) that are not French words
("or", "an", "on", "but", "long", "extra", "page", "source" are French, so they are left out). Code,
identifiers and addresses are not prose: callers pass the visible text of a page without its ``<code>``
and ``<pre>`` blocks, and :func:`english_words` drops URLs, e-mail addresses and ``snake_case`` or
``dotted.names`` first.
"""

from __future__ import annotations

import re

__all__ = ["ENGLISH_ONLY", "english_words"]

ENGLISH_ONLY = frozenset("""
about after again all allowed and any are at back be because been before being body by byte can cannot
character characters column could decoded delimiter did do does double empty enclosed endpoint equal error
errors expected expecting extra_forbidden field fields for forbidden found from given got greater had has have
here home how if in input inputs internal into invalid is it its later least less malformed may might missing
more most must no not number of one only out parsing permitted please property quotes request required shall
should sign string such than that the their then there these they this those timed timeout to too try
unexpected unknown valid value values was we were what when where which while who whose why will with would
yes you your
""".split())  # noqa: SIM905 (a word list reads best as text)
# Left out although English: "true", "false", "null", "none" (JSON words in hints), "type", "list",
# "line", "name", "item" (machine names shown beside French labels).

_NOT_PROSE = re.compile(r"https?://\S+|\S+@\S+|\b\w+(?:[._:/-]\w+)+\b|\b\w*_\w*\b")
_WORD = re.compile(r"[A-Za-zÀ-ÖØ-öø-ÿœŒ]+")


def english_words(text: str) -> list[str]:
    """The English-only words of ``text``, in order (empty for a French text)."""
    prose = _NOT_PROSE.sub(" ", text)
    return [w for w in _WORD.findall(prose) if w.lower() in ENGLISH_ONLY]
