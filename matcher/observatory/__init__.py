"""The observatory: where the catalogue's offer does not meet the initiatives' demand, what blocks
them, and how that moves month by month, computed through ``Recommender.recommend`` only.

One concept per module: :mod:`~matcher.observatory.verdicts` (one ``recommend`` call per initiative,
read), :mod:`~matcher.observatory.places` (région, département, kind of territory),
:mod:`~matcher.observatory.gaps` (demand against supply), :mod:`~matcher.observatory.blocks` (what
blocks), :mod:`~matcher.observatory.supply` (open resources per département),
:mod:`~matcher.observatory.timeline` (as of each month end), :mod:`~matcher.observatory.table`
(tables and small-cell suppression), :mod:`~matcher.observatory.observe` (all of it, saved as
JSON), :mod:`~matcher.observatory.report` and :mod:`~matcher.observatory.plots` (the French report).
"""

from matcher.observatory.observe import OBSERVATORY_FILE, Observatory, load, observe, published_path, save
from matcher.observatory.table import DEFAULT_MIN_CELL, Column, Table, suppress
from matcher.observatory.verdicts import BEST, Verdict, verdicts

__all__ = ["BEST", "DEFAULT_MIN_CELL", "OBSERVATORY_FILE", "Column", "Observatory", "Table", "Verdict", "load",
           "observe", "published_path", "save", "suppress", "verdicts"]
