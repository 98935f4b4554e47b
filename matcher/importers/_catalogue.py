"""What the importers of real catalogues share: the record they produce, provider names, texts, dates.

Each importer (:mod:`aides_territoires`, :mod:`dispositif_aide`, :mod:`tee`) reads its format into
:class:`SourceAid` items (one per aid, with its line or record number) or :class:`SourceProblem` items
(a row that cannot be imported, and why); :func:`matcher.importers.sync.sync_source` stores them.
"""

from __future__ import annotations

import csv
import difflib
import html
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from functools import lru_cache
from pathlib import Path
from typing import Any

from matcher._territory_data import fold
from matcher.schemas import ProviderKind

__all__ = [
    "ProviderDraft",
    "SourceAid",
    "SourceItem",
    "SourceProblem",
    "guess_provider_kind",
    "html_to_text",
    "norm_title",
    "parse_day",
    "provider_keys",
    "read_csv_records",
    "text_similarity",
    "web_url",
]


@dataclass
class ProviderDraft:
    """A financer or operator as a source names it; :mod:`sync` finds or creates its provider."""

    name: str
    kind: ProviderKind | None = None
    territory: str | None = None
    url: str | None = None


@dataclass
class SourceAid:
    """One aid of a source, mapped onto :class:`~matcher.schemas.Resource` fields.

    ``key`` is stable within the source (a link, an id, a file name); ``fields`` holds the resource
    fields except ``id``, ``provider_id``, ``source`` and ``source_refs``; ``providers`` are its
    financers, the first one becoming the resource's provider; ``warnings`` are French, for staff.
    ``perimeter_resolved`` is False when the source's perimeter could not be turned into INSEE codes.
    """

    line: int
    key: str
    fields: dict[str, Any]
    providers: list[ProviderDraft]
    warnings: list[str] = field(default_factory=list)
    perimeter_resolved: bool = True


@dataclass(frozen=True)
class SourceProblem:
    """A row of the source that is not imported, with its line or record number and the reason (French).

    ``key``: the aid's key in the source when it could be read; a re-import then keeps the resource it
    names as it was instead of inactivating it (:mod:`sync`). Without a key, nothing of the source is
    inactivated in that run (which resource the row described is unknown)."""

    line: int
    message: str
    key: str | None = None


SourceItem = SourceAid | SourceProblem

# --- texts -------------------------------------------------------------------------------------

_TAG = re.compile(r"<[^<>]+>")  # no "<" inside: a text full of "<" would be scanned to its end from each one
_BLOCK = re.compile(r"(?i)<\s*(br|/p|/li|/h[1-6]|/div|/tr)\s*/?>")


def html_to_text(text: str | None) -> str:
    """Plain text of an HTML fragment: tags dropped (block ends become new lines), entities decoded."""
    if not text:
        return ""
    plain = html.unescape(_TAG.sub(" ", _BLOCK.sub("\n", text)))
    lines = (" ".join(line.split()) for line in plain.splitlines())
    return "\n".join(line for line in lines if line)


_STOP = frozenset([
    "le", "la", "les", "l", "de", "du", "des", "d", "un", "une", "et", "en", "a", "au", "aux", "pour", "par", "sur",
    "dans", "votre", "vos",
])


def _words(text: str) -> list[str]:
    return [w for w in fold(text).replace("’", " ").split() if w not in _STOP]


@lru_cache(maxsize=65536)
def norm_title(title: str) -> str:
    """A title folded for comparison: case, accents, punctuation and small words ignored."""
    return " ".join(_words(re.sub(r"[«»\"“”:;!?]", " ", title)))


def text_similarity(a: str, b: str) -> float:
    """How alike two texts are, in [0, 1]: the larger of the word-set Jaccard index and difflib's
    ratio over the first 2,000 folded characters (one catches reordered text, the other small edits).
    Texts sharing under a third of their words are answered by the Jaccard index alone (difflib is
    the slow part, and cannot bring such texts near the thresholds that matter)."""
    wa, wb = set(_words(a)), set(_words(b))
    if not wa or not wb:
        return 0.0
    jaccard = len(wa & wb) / len(wa | wb)
    if jaccard < 1 / 3:
        return jaccard
    ratio = difflib.SequenceMatcher(None, fold(a)[:2000], fold(b)[:2000], autojunk=False).ratio()
    return max(jaccard, ratio)


_ACRONYM = re.compile(r"\(([^()]{2,30})\)")


def provider_keys(name: str) -> tuple[str, frozenset[str]]:
    """``(name key, acronyms)`` of a provider's name: the folded name without its bracketed acronyms,
    and those acronyms (``"Agence Nationale de l'Habitat (ANAH)"`` → ``("agence nationale habitat",
    {"anah"})``). Two spellings are one body when their name keys are equal, or when one name is
    nothing but the other's acronym (``"ANAH"``); two names that only share an acronym are not
    (``"EPF"`` ends the names of several regional land agencies)."""
    bare = _ACRONYM.sub(" ", name)
    key = " ".join(_words(bare)) or fold(name)
    acronyms = frozenset(a for a in (fold(x) for x in _ACRONYM.findall(name)) if a and " " not in a)
    return key, acronyms


_KIND_WORDS: tuple[tuple[str, ProviderKind], ...] = (
    ("ministere", ProviderKind.ministere),
    ("direction departementale", ProviderKind.service_deconcentre),
    ("ddt", ProviderKind.service_deconcentre),
    ("dreal", ProviderKind.service_deconcentre),
    ("prefecture", ProviderKind.service_deconcentre),
    ("conseil regional", ProviderKind.region),
    ("region ", ProviderKind.region),
    ("conseil departemental", ProviderKind.departement),
    ("departement ", ProviderKind.departement),
    ("communaute de communes", ProviderKind.intercommunalite),
    ("communaute d agglomeration", ProviderKind.intercommunalite),
    ("agglomeration", ProviderKind.intercommunalite),
    ("metropole", ProviderKind.intercommunalite),
    ("caisse nationale", ProviderKind.securite_sociale),
    ("fondation", ProviderKind.fondation),
    ("agence", ProviderKind.agence),
    ("ademe", ProviderKind.agence),
    ("etablissement public", ProviderKind.operateur),
    ("banque", ProviderKind.operateur),
    ("bpifrance", ProviderKind.operateur),
    ("cerema", ProviderKind.operateur),
)


def guess_provider_kind(name: str) -> ProviderKind:
    """The kind of body a name suggests (``"Conseil départemental du Tarn"`` → ``departement``);
    ``autre`` when no word of the name says."""
    folded = fold(name) + " "
    for words, kind in _KIND_WORDS:
        if folded.startswith(words) or f" {words}" in f" {folded}":
            return kind
    return ProviderKind.autre


def web_url(value: Any) -> str | None:
    """An http(s) address as given (stripped, at most 500 characters), None for anything else."""
    text = str(value or "").strip()
    return text if text.lower().startswith(("http://", "https://")) and len(text) <= 500 and " " not in text else None


# --- dates -------------------------------------------------------------------------------------

_FRENCH_DAY = re.compile(r"^(\d{1,2})/(\d{1,2})/(\d{4})$")


def parse_day(value: Any) -> date | None:
    """A day from ``dd/mm/yyyy``, an ISO date or an ISO timestamp (its calendar day); None when empty.

    Raises ValueError, naming the value, for anything else.
    """
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    text = str(value).strip()
    try:
        if m := _FRENCH_DAY.match(text):
            return date(int(m.group(3)), int(m.group(2)), int(m.group(1)))
        return date.fromisoformat(text[:10])
    except ValueError:
        raise ValueError(f"date illisible {text!r} : attendu jj/mm/aaaa ou aaaa-mm-jj") from None


# --- CSV files ---------------------------------------------------------------------------------

CSV_FIELD_LIMIT = 16 * 1024 * 1024
"""Largest cell read (the csv module's default of 128 KiB is below some real HTML descriptions)."""


def read_csv_records(path: Path, required: Sequence[str], expected: Sequence[str], *,
                     delimiter: str = ",") -> Iterator[tuple[int, dict[str, Any]]]:
    """``(line, record)`` for every data row of a UTF-8 CSV file whose header names ``required``
    (the header is line 1). A file without them, not in UTF-8 or that the csv module cannot read
    raises ValueError in French, naming the file (and the line): nothing of it is imported, rather
    than the rows after the fault looking gone."""
    csv.field_size_limit(max(csv.field_size_limit(), CSV_FIELD_LIMIT))
    line = 1
    try:
        with path.open(encoding="utf-8-sig", newline="") as fh:
            reader = csv.DictReader(fh, delimiter=delimiter)
            missing = [c for c in required if c not in (reader.fieldnames or [])]
            if missing:
                raise ValueError(f"{path.name} : colonnes absentes {', '.join(missing)} ; attendu "
                                 f"{', '.join(expected)}")
            for record in reader:
                line = reader.line_num
                yield line, record
    except UnicodeDecodeError as exc:
        raise ValueError(f"{path.name} : fichier illisible après la ligne {line}, il n'est pas en UTF-8 "
                         f"({exc.reason}) ; réenregistrez-le en UTF-8") from None
    except csv.Error as exc:
        raise ValueError(f"{path.name}, après la ligne {line} : CSV illisible ({exc})") from None
