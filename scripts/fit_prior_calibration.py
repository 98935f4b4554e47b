"""Write ``matcher/data/calibration/prior/calibration.json``: the calibration of the prior as served on the
demo catalogue, fitted on the judged set's dev projects (``eval/judged/dev.jsonl``), never on its test
projects. The service uses it while no trained model is served (``maillage train`` fits and stores
one with each model); it holds for the encoder it names only.

    HF_HUB_OFFLINE=1 .venv/bin/python scripts/fit_prior_calibration.py [--model SPEC]

It builds the demo catalogue exactly as ``maillage demo`` does (SQLite in a temporary folder, every
demo record, the packaged encoder), matches every dev project on the judged set's reference date,
and fits the logistic map and the "nothing fits" threshold (the largest that keeps every dev list
showing a fitting resource above it). Deterministic for one encoder.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from eval.judged import REFERENCE_DATE, load_judged_set  # noqa: E402
from indexes import load_encoder  # noqa: E402
from matcher.calibration import PACKAGED  # noqa: E402
from matcher.demo_catalogue import load_demo  # noqa: E402
from matcher.indexing import ResourceIndex  # noqa: E402
from matcher.recommender import Recommender  # noqa: E402
from matcher.store import Catalogue, sqlite_url  # noqa: E402
from service.settings import Settings  # noqa: E402
from training.calibrate import calibrate  # noqa: E402

OUT = ROOT / "matcher" / "data" / "calibration" / PACKAGED


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", help="encoder spec (default: MAILLAGE_MODEL, the packaged model)")
    args = parser.parse_args(argv)
    settings = Settings()
    encoder = load_encoder(args.model or settings.model, models_dir=settings.models_dir,
                           cache_path=settings.cache_path, runtime=settings.encoder_runtime,
                           batch_precision=settings.encoder_batch_precision, lazy=True)
    dev = load_judged_set("dev")
    with tempfile.TemporaryDirectory(prefix="maillage-calibration-") as tmp:
        store = Catalogue.open(sqlite_url(Path(tmp) / "demo.db"))
        try:
            load_demo(store, today=REFERENCE_DATE)
            index = ResourceIndex.build(store, encoder, Path(tmp) / "indexes")
            examples = [(q.initiative, q.relevant, None) for q in dev.test]
            calibration = calibrate(Recommender(index, encoder), examples, today=REFERENCE_DATE,
                                    fitted_on=f"judged dev split ({len(examples)} projects), demo catalogue, prior")
        finally:
            store.close()
    if calibration is None:
        print("error: the dev lists hold one class only; nothing to fit", file=sys.stderr)
        return 1
    OUT.mkdir(parents=True, exist_ok=True)
    path = calibration.save(OUT)
    print(f"{path.relative_to(ROOT)}: {calibration.pairs} pairs ({calibration.positives} relevant), "
          f"threshold {calibration.threshold:.3f}, encoder {calibration.encoder}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
