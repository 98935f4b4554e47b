"""Top-5 occupancy of the demo initiatives' served lists (hubness), with :func:`eval.hubness.occupancy`.

    HF_HUB_OFFLINE=1 .venv/bin/python scripts/demo_hubness.py [--out bench/hubness.json]

Builds the demo catalogue as ``maillage demo`` serves it (SQLite in a temporary folder, the packaged
encoder, the served ranker: the prior with its packaged calibration), matches every demo initiative
on the catalogue's snapshot date, prints the resources in the largest shares of top-5 lists and
writes them to ``--out``.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from eval.hubness import HUB_TARGET, SNAPSHOT, occupancy  # noqa: E402
from indexes import load_encoder  # noqa: E402
from matcher.demo_catalogue import load_demo  # noqa: E402
from matcher.indexing import ResourceIndex  # noqa: E402
from matcher.store import Catalogue, sqlite_url  # noqa: E402
from service.engine import served_recommender  # noqa: E402
from service.settings import Settings  # noqa: E402


def main(argv: list[str] | None = None) -> int:
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
