"""Plans against lists on the labelled sets: the share of test initiatives whose obtained resources
all appear in their plan, beside the top-n list of the same size (:mod:`eval.plans`).

    nice -n 10 python scripts/eval_plans.py eig-defis betagouv --out bench/plans.json
    nice -n 10 python scripts/eval_plans.py reserve-parlementaire --sample 300

Each set is loaded from ``--data`` (``../shared/data``) as ``maillage eval`` loads it and served by
the product pipeline on a temporary catalogue (:class:`eval.maillage_system.MaillageSystem`: the
ranker learned from the train split, or the prior alone with ``--prior``). ``--sample N`` keeps every
n-th test query (id order) so two runs read the same ones. Prints one line per set and writes JSON."""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from eval.datasets import EVAL_SETS, load_eval_set  # noqa: E402
from eval.maillage_system import MaillageSystem  # noqa: E402
from eval.plans import evaluate_plans  # noqa: E402
from indexes import load_encoder  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("sets", nargs="+", choices=sorted(EVAL_SETS), metavar="SET",
                    help=f"one or more of {', '.join(EVAL_SETS)}")
    ap.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data")
    ap.add_argument("--model", default="multilingual-e5-small", help="encoder spec (e.g. hashing:384 to test)")
    ap.add_argument("--models-dir", type=Path, default=ROOT / "var" / "models" / "encoders")
    ap.add_argument("--cache", type=Path, default=ROOT / "var" / "cache" / "embeddings.sqlite",
                    help="embedding cache (a second run on a set encodes nothing)")
    ap.add_argument("--sample", type=int, default=0, help="at most this many test queries per set (0: all)")
    ap.add_argument("--prior", action="store_true", help="serve the prior alone (no ranker learned)")
    ap.add_argument("--out", type=Path, default=None, help="write the figures here as JSON")
    args = ap.parse_args(argv)
    encoder = load_encoder(args.model, models_dir=args.models_dir, cache_path=args.cache)
    rows = []
    for name in args.sets:
        t0 = time.perf_counter()
        evalset = load_eval_set(name, args.data)
        queries = sorted((q for q in evalset.test if q.relevant), key=lambda q: q.id)
        if args.sample and len(queries) > args.sample:
            step = len(queries) / args.sample
            queries = [queries[int(i * step)] for i in range(args.sample)]
        system = MaillageSystem(learn=not args.prior).fit(evalset, encoder)
        try:
            assert system.recommender_ is not None
            figures = evaluate_plans(system.recommender_, evalset, queries)
        finally:
            system.close()
        row = figures.as_dict() | {"system": system.name, "model": args.model, "seconds": round(time.perf_counter()
                                                                                                 - t0, 1)}
        rows.append(row)
        print(f"{name}: {figures.queries} test initiatives; all obtained resources in the plan "
              f"{figures.plan_all_found:.1%}, in the top-n list of the same size {figures.topn_all_found:.1%} "
              f"(mean plan size {figures.mean_plan_size:.2f}; plan only {figures.plan_only}, list only "
              f"{figures.topn_only}) [{system.name}, {args.model}, {row['seconds']} s]", flush=True)
    if args.out is not None:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        tmp = args.out.with_suffix(".tmp")
        tmp.write_text(json.dumps(rows, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
        tmp.replace(args.out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
