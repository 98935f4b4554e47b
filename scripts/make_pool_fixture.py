"""Write ``tests/fixtures/pool/``: ranked lists and feature values of the pipeline on the demo catalogue.

``tests/matcher/test_pool_fixture.py`` compares the pipeline against these files, so a change that
is meant to keep behaviour (a refactoring) is shown to keep it. Regenerate only when behaviour is
meant to change, and say so in the commit:

    .venv/bin/python scripts/make_pool_fixture.py

Everything is deterministic: the demo catalogue, the hashing encoder, a fixed day, and a learned
ranker trained once and saved beside the lists (so LightGBM's training is not re-run by the test).
"""

from __future__ import annotations

import shutil
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.pool_fixture import FIXTURE, build_demo, snapshot, write  # noqa: E402


def main() -> None:
    from matcher.ranker import LearnedRanker
    from training.pairs import build_pairs

    with tempfile.TemporaryDirectory() as tmp:
        rec, store, queries = build_demo(Path(tmp))
        examples = [(i, frozenset(r), None) for i, r in _examples(store)]
        pairs = build_pairs(rec, examples, today=rec_today())
        ranker = LearnedRanker(n_estimators=40, n_models=2).fit(pairs.X, pairs.y, pairs.groups)
        if FIXTURE.exists():
            shutil.rmtree(FIXTURE)
        (FIXTURE / "ranker").mkdir(parents=True)
        ranker.save(FIXTURE / "ranker")
        data = snapshot(rec, store, queries, FIXTURE / "ranker")
        store.close()
    write(data)
    print(f"wrote {FIXTURE} ({len(data['cases'])} cases)")


def rec_today():  # type: ignore[no-untyped-def]
    from tests.conftest import TODAY

    return TODAY


def _examples(store):  # type: ignore[no-untyped-def]
    from matcher.history import POSITIVE

    pos: dict[str, set[str]] = {}
    for o in store.iter_outcomes():
        if o.decision in POSITIVE:
            pos.setdefault(o.initiative_id, set()).add(o.resource_id)
    inis = store.get_initiatives(sorted(pos))
    return [(inis[i], pos[i]) for i in sorted(pos) if i in inis]


if __name__ == "__main__":
    main()
