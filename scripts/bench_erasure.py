"""What erasing one initiative costs on the demo catalogue (issue 19): the API's DELETE (erase every
copy on disk, mask the served history) and the background rebuild that follows it, against a plain
rebuild of the same snapshot measured in the same run, with the hashing encoder (the cache makes encoding cheap with any encoder: the cost is
the history's models, refitted at each build).

    HF_HUB_OFFLINE=1 .venv/bin/python scripts/bench_erasure.py [--repeats 5] [--out bench/erasure.json]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from fastapi.testclient import TestClient  # noqa: E402

from matcher.demo_catalogue import load_demo  # noqa: E402
from matcher.store import Catalogue  # noqa: E402
from service.api import create_app  # noqa: E402
from service.keys import KeyStore  # noqa: E402
from service.settings import Settings  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--out", type=Path, default=Path("bench/erasure.json"))
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        settings = Settings(home=Path(tmp) / "home", model="hashing:64", sync_interval_s=0, demo_when_empty=False,
                            rate_per_key=100_000, rate_per_ip=100_000)
        store = Catalogue.open(settings.db_url)
        load_demo(store)
        token = KeyStore(store).create("bench", "admin")[1]
        with_history = sorted({o.initiative_id for o in store.iter_outcomes()})[: args.repeats]
        counts = store.counts()
        store.close()
        headers = {"Authorization": f"Bearer {token}"}
        with TestClient(create_app(settings)) as client:
            engine = client.app.state.engine  # type: ignore[attr-defined]
            rebuild, erase, settled = [], [], []
            for iid in with_history:
                start = time.perf_counter()
                engine.rebuild(wait=True)
                rebuild.append(time.perf_counter() - start)
                start = time.perf_counter()
                r = client.delete(f"/v1/initiatives/{iid}", headers=headers)
                erase.append(time.perf_counter() - start)
                assert r.status_code == 204, r.text
                engine.wait_erasures()
                settled.append(time.perf_counter() - start)
    figures = {
        "catalogue": counts, "repeats": len(erase),
        "rebuild_s_median": round(statistics.median(rebuild), 3),
        "delete_s_median": round(statistics.median(erase), 3),
        "delete_over_rebuild": round(statistics.median(erase) / statistics.median(rebuild), 2),
        "settled_s_median": round(statistics.median(settled), 3),
    }
    print(json.dumps(figures, indent=2))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(figures, indent=2) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
