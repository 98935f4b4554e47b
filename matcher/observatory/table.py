"""A table of the observatory: named columns of a known kind, rows of plain values, and the
small-cell suppression every published figure goes through.

Column kinds: ``label`` (text), ``count`` (a number of initiatives: suppressed when small),
``share`` (a share of initiatives, ``of`` the count column it divides: hidden with it; a ``label``
may name such a count too), ``number``
(anything that is not a count of initiatives: resources, euros… never suppressed) and ``ids``
(a list of initiative ids: withheld when the row's ``basis`` count is small).

Suppression (:func:`suppress`): a count from 1 to ``min_cell - 1`` is shown as « < min_cell »,
its shares are hidden (« — »), and a row whose ``basis`` count (the initiatives it is about) is
small withholds its lists of initiatives. Zero stays zero: it names nobody.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

__all__ = ["DEFAULT_MIN_CELL", "Column", "Table", "hidden", "small", "suppress"]

DEFAULT_MIN_CELL = 5
"""Fewer initiatives than this in a cell and the cell is suppressed."""
WITHHELD = "(liste masquée : moins de {n} initiatives)"
HIDDEN = "—"


@dataclass(frozen=True)
class Column:
    key: str
    header: str
    """French, as printed."""
    kind: str = "label"
    of: str | None = None
    """For a ``share``: the ``count`` column it is the share of; for a ``label``: the count it is drawn
    from. Hidden when that count is suppressed."""

    def __post_init__(self) -> None:
        if self.kind not in ("label", "count", "share", "number", "ids"):
            raise ValueError(f"Column.kind must be label, count, share, number or ids, got {self.kind!r}")


@dataclass
class Table:
    """``rows`` hold raw values (ints, floats, strings, lists of ids) before :func:`suppress`,
    and printable ones after it."""

    name: str
    """File stem of its CSV (ASCII, e.g. ``ecarts_region``)."""
    title: str
    columns: list[Column]
    rows: list[dict[str, Any]]
    note: str = ""
    basis: str | None = None
    """The count column that says how many initiatives a row is about (its lists are withheld below
    the threshold); None: the table lists no initiative."""
    suppressed: bool = False
    meta: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "title": self.title, "note": self.note, "basis": self.basis,
                "suppressed": self.suppressed,
                "columns": [{"key": c.key, "header": c.header, "kind": c.kind, "of": c.of} for c in self.columns],
                "rows": self.rows, "meta": self.meta}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Table:
        cols = [Column(c["key"], c["header"], c["kind"], c.get("of")) for c in d["columns"]]
        return cls(d["name"], d["title"], cols, list(d["rows"]), d.get("note", ""), d.get("basis"),
                   bool(d.get("suppressed")), dict(d.get("meta", {})))


def small(value: Any, min_cell: int) -> bool:
    """Whether a count is a small cell: 1 to ``min_cell - 1``."""
    return isinstance(value, int) and not isinstance(value, bool) and 0 < value < min_cell


def hidden(min_cell: int) -> str:
    return f"< {min_cell}"


def _share(value: Any) -> Any:
    return f"{100 * value:.1f} %" if isinstance(value, float) else value


def suppress(table: Table, min_cell: int = DEFAULT_MIN_CELL) -> Table:
    """A copy of ``table`` fit to publish: small counts as « < min_cell », their shares hidden, the
    initiative lists of small rows withheld; shares written as percentages with one decimal."""
    if isinstance(min_cell, bool) or not isinstance(min_cell, int) or min_cell < 1:
        raise ValueError(f"min_cell must be an integer >= 1, got {min_cell!r}")
    counts = [c.key for c in table.columns if c.kind == "count"]
    rows = []
    for row in table.rows:
        out = dict(row)
        small_basis = table.basis is not None and small(row.get(table.basis), min_cell)
        for c in table.columns:
            value = row.get(c.key)
            if c.kind == "count" and small(value, min_cell):
                out[c.key] = hidden(min_cell)
            elif c.kind == "label" and c.of in counts and small(row.get(c.of), min_cell):
                out[c.key] = HIDDEN  # a label drawn from a small count (the criterion that blocks 2) says as much
            elif c.kind == "share":
                out[c.key] = HIDDEN if (c.of in counts and small(row.get(c.of), min_cell)) else _share(value)
            elif c.kind == "ids":
                ids = list(value or [])
                out[c.key] = WITHHELD.format(n=min_cell) if small_basis or small(len(ids), min_cell) else ids
        rows.append(out)
    return Table(table.name, table.title, table.columns, rows, table.note, table.basis, True,
                 dict(table.meta, min_cell=min_cell))
