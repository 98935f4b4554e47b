"""Hubness of served lists: how often one resource sits in the top ``k`` of a whole cohort.

``python -m eval.hubness`` builds the demo catalogue as ``maillage demo`` serves it (SQLite in a
temporary folder, the packaged encoder, the served ranker: the prior with its packaged calibration)
and matches every demo initiative on the catalogue's snapshot date; it prints the resources found in
the largest shares of top-5 lists (the target is no resource in more than 10 % of them) and writes
``bench/hubness.json``.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from collections import Counter
from collections.abc import Sequence
from datetime import date
from pathlib import Path

from tqdm import tqdm

from matcher.recommender import Recommender
from matcher.schemas import Initiative

__all__ = ["HUB_TARGET", "occupancy"]

HUB_TARGET = 0.10
"""No resource should sit in more of the top-5 lists than this share."""
SNAPSHOT = date(2026, 11, 28)


def occupancy(rec: Recommender, initiatives: Sequence[Initiative], *, k: int = 5, today: date,
              progress: bool = False) -> list[tuple[str, float]]:
    """``(resource id, share of the initiatives' top-k lists holding it)``, largest share first."""
    counts: Counter[str] = Counter()
    for ini in tqdm(initiatives, desc="Listes", unit="initiative", file=sys.stderr, disable=not progress):
        counts.update({m.resource_id for m in rec.recommend(ini, k, today=today, explain=False).matches})
    n = max(1, len(initiatives))
    return sorted(((rid, c / n) for rid, c in counts.items()), key=lambda t: (-t[1], t[0]))


def main(argv: list[str] | None = None) -> int:
    from indexes import load_encoder
    from matcher.demo_catalogue import load_demo
    from matcher.indexing import ResourceIndex
    from matcher.store import Catalogue, sqlite_url
    from service.engine import served_recommender
    from service.settings import Settings

    parser = argparse.ArgumentParser(description="Top-5 occupancy of the demo initiatives' served lists")
    parser.add_argument("--out", type=Path, default=Path("bench") / "hubness.json")
    parser.add_argument("-k", type=int, default=5)
    args = parser.parse_args(argv)
    settings = Settings()
    encoder = load_encoder(settings.model, models_dir=settings.models_dir, cache_path=settings.cache_path,
                           runtime=settings.encoder_runtime, batch_precision=settings.encoder_batch_precision)
    with tempfile.TemporaryDirectory(prefix="maillage-hubness-") as tmp:
        store = Catalogue.open(sqlite_url(Path(tmp) / "demo.db"))
        try:
            load_demo(store, today=SNAPSHOT)
            index = ResourceIndex.build(store, encoder, Path(tmp) / "indexes")
            rec = served_recommender(index, encoder, settings)
            initiatives = store.initiatives()
            shares = occupancy(rec, initiatives, k=args.k, today=SNAPSHOT, progress=True)
            titles = {r.id: r.title for r in store.resources()}
        finally:
            store.close()
    over = [(rid, s) for rid, s in shares if s > HUB_TARGET]
    print(f"{len(initiatives)} demo initiatives, top-{args.k} lists, ranker {rec.model_version}")
    for rid, share in shares[:10]:
        print(f"  {share:6.1%}  {rid}  {titles.get(rid, '')[:70]}")
    print(f"resources above {HUB_TARGET:.0%} of the lists: {len(over)} (largest {shares[0][1]:.1%})" if shares
          else "no list")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"k": args.k, "initiatives": len(initiatives), "ranker": rec.model_version,
                                    "target": HUB_TARGET, "top": shares[:20]}, indent=2), encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
