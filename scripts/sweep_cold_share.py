"""Sweep ``RecommenderConfig.cold_share`` of the learned pipeline on a split (dev by default).

    MAILLAGE_HOME=… python scripts/sweep_cold_share.py betagouv --split dev --shares 0,0.25,0.5,1

Prints the harness table, each system's gate, and nDCG per slice (cold / mixed / seen); the figures
of ``docs/decisions.md`` ("the content order of candidates without history") come from it.
Choose on dev; a test split is for the final figure only.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from eval.datasets import EVAL_SETS, load_eval_set
from eval.harness import evaluate
from eval.judged import load_judged_set
from eval.maillage_system import MaillageSystem
from eval.report import format_table
from eval.systems import make_systems
from indexes.encoders import load_encoder
from matcher.recommender import RecommenderConfig
from service.settings import Settings


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("dataset", choices=[*EVAL_SETS, "judged"])
    parser.add_argument("--split", default="dev", choices=["dev", "test"])
    parser.add_argument("--shares", default="0,0.25,0.5,1", help="comma-separated cold_share values")
    parser.add_argument("--baselines", default="bm25,maillage-zero,maillage-prior", help="systems run beside")
    parser.add_argument("--data", type=Path, default=None, help="the labelled sets (default: the setting)")
    args = parser.parse_args()
    settings = Settings()
    if args.dataset == "judged":
        evalset = load_judged_set(args.split)
    else:
        evalset = load_eval_set(args.dataset, args.data or settings.data, split=args.split)
    encoder = load_encoder(settings.model, models_dir=settings.models_dir, cache_path=settings.cache_path,
                           runtime=settings.encoder_runtime, batch_precision=settings.encoder_batch_precision,
                           lazy=True)
    systems = make_systems([s for s in args.baselines.split(",") if s.strip()])
    learned = []
    for share in (float(x) for x in args.shares.split(",")):
        system = MaillageSystem(config=RecommenderConfig(cold_share=share))
        system.name = f"maillage-cold{share:g}"
        learned.append(system)
    result = evaluate(evalset, [*systems, *learned], k_values=(5, 10), encoder=encoder)
    print(format_table(result))
    for system in learned:
        print(system.name, "gate:", system.gate_ or "no ranker trained")
    metric = f"ndcg@{result.main_k}"
    for key, values in result.slices.items():
        for value, info in values.items():
            scores = {name: round(m[metric], 3) for name, m in info["systems"].items()}
            print(f"{key}={value} (n={info['n']}):", scores)


if __name__ == "__main__":
    main()
