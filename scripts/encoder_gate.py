"""The parity gate of the query encoder's precision variants (``indexes/precision.py``).

    HF_HUB_OFFLINE=1 MAILLAGE_HOME=/work/evalhome .venv/bin/python scripts/encoder_gate.py \\
        --variants int8,bfloat16 --sets betagouv,reserve-parlementaire

For each variant: the cosine of its vector to float32's for every fixed French text
(``indexes/data/parity_fr.txt``), then, for each evaluation set, nDCG@10 of the pipeline systems
(``--systems``, default ``dense,maillage-zero``) with every query encoded by the variant, beside
float32's in the same run (documents are float32 in both, as served). Queries of each variant are
cached apart (``query@int8``), so a variant's first run encodes every query again: on two cores the
réserve parlementaire's ~30,000 texts take a while; run the sets in the order given (beta.gouv first).

The verdicts go to ``gate.json`` beside the model's ONNX export under ``$MAILLAGE_HOME`` (and to every
``--record-in`` folder, e.g. a serving home's ``models/onnx/multilingual-e5-small``), which the model's
materialisation reads to choose the fastest variant that passed; and to ``--out``
(``bench/encoder_gate.json``), which the README cites. Exit status 1 when a variant is refused.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from indexes.precision import GATE_SETS, PRECISIONS, cosine_parity, judge, parity_texts, record_gate  # noqa: E402


def _encoder(home: Path, precision: str, model: str) -> Any:
    """An encoder whose every query goes through ``precision`` (float32 and int8 in ONNX Runtime,
    bfloat16 in PyTorch); documents in float32, in ONNX Runtime."""
    from indexes.e5 import E5_MODEL_ID, materialize_e5
    from indexes.encoders import SentenceTransformerEncoder

    if model != E5_MODEL_ID:
        raise SystemExit(f"the gate knows {E5_MODEL_ID} only, got {model!r}")
    folder = materialize_e5(home / "models" / "encoders" / E5_MODEL_ID)
    return SentenceTransformerEncoder(folder, model_id=E5_MODEL_ID, query_prefix="query: ", document_prefix="passage: ",
                                      onnx_dir=home / "models" / "onnx", batch_precision="float32",
                                      precision=precision, onnx_max_texts=10**9)


def _cosines(reference: Any, variant: Any) -> tuple[float, float]:
    texts = [t.split(": ", 1)[1] if t.startswith(("query: ", "passage: ")) else t for t in parity_texts()]
    return cosine_parity(reference.encode_queries(texts), variant.encode_queries(texts))


def _ndcg(home: Path, encoder: Any, dataset: str, systems: list[str], data: Path, limit: int | None,
          log: Any) -> dict[str, float]:
    """nDCG@10 of each system on ``dataset``'s test split with ``encoder`` (through the home's cache)."""
    from eval.datasets import load_eval_set
    from eval.harness import evaluate
    from eval.systems import make_systems
    from indexes.cache import CachedEncoder, EmbeddingCache

    started = time.perf_counter()
    cached = CachedEncoder(encoder, EmbeddingCache(home / "cache" / "embeddings.sqlite"))
    result = evaluate(load_eval_set(dataset, data), make_systems(systems), k_values=(10,), encoder=cached,
                      limit=limit, resamples=200, progress=False)
    out = {name: round(r.summary["ndcg@10"].value, 5) for name, r in result.systems.items()}
    log(f"  {dataset}, {encoder.precision}: {out} ({time.perf_counter() - started:.0f} s, "
        f"{cached.misses} texts encoded, load {os.getloadavg()[0]:.1f})")
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--variants", default="int8,bfloat16", help="variants to gate, comma-separated")
    p.add_argument("--sets", default=",".join(reversed(GATE_SETS)), help="evaluation sets, in this order")
    p.add_argument("--systems", default="dense,maillage-zero", help="systems whose nDCG@10 is compared")
    p.add_argument("--gate-system", default="maillage-zero", help="the system whose nDCG@10 decides")
    p.add_argument("--model", default="multilingual-e5-small")
    p.add_argument("--limit", type=int, default=None, help="a seeded sample of N test queries per set")
    p.add_argument("--record-in", action="append", default=[], help="other export folders to record in")
    p.add_argument("--out", default="bench/encoder_gate.json")
    args = p.parse_args(argv)
    home = Path(os.environ.get("MAILLAGE_HOME", "var"))
    data = Path(os.environ.get("MAILLAGE_DATA", "../shared/data"))
    variants = [v for v in args.variants.split(",") if v]
    unknown = [v for v in variants if v not in PRECISIONS or v == "float32"]
    if unknown:
        raise SystemExit(f"--variants: expected int8 or bfloat16, got {unknown}")
    systems, sets = args.systems.split(","), [s for s in args.sets.split(",") if s]
    load_start = [round(x, 2) for x in os.getloadavg()]
    print(f"encoder gate: {variants} on {sets}, home {home}, load average {load_start}", flush=True)

    def log(msg: str) -> None:
        print(msg, flush=True)

    from indexes.encoders import cpu_has_bfloat16

    report: dict[str, Any] = {"variants": {}, "loadavg_at_start": load_start, "command": " ".join(sys.argv)}
    reference = _encoder(home, "float32", args.model)
    folder = home / "models" / "onnx" / args.model
    refused = 0
    for variant in variants:
        if variant == "bfloat16" and not cpu_has_bfloat16():
            log("bfloat16: this CPU has no bfloat16 units (AMX, AVX512-BF16): not gated")
            continue
        candidate = _encoder(home, variant, args.model)
        cosine = _cosines(reference, candidate)
        log(f"{variant}: cosine to float32 on {len(parity_texts())} fixed texts min {cosine[0]:.5f}, "
            f"mean {cosine[1]:.5f}")
        figures: dict[str, dict[str, dict[str, float]]] = {}
        for dataset in sets:
            figures[dataset] = {"float32": _ndcg(home, reference, dataset, systems, data, args.limit, log),
                                variant: _ndcg(home, candidate, dataset, systems, data, args.limit, log)}
        result = judge(variant, cosine, {s: f[variant][args.gate_system] for s, f in figures.items()},
                       {s: f["float32"][args.gate_system] for s, f in figures.items()}, sets=GATE_SETS)
        meta = {"systems": figures, "gate_system": args.gate_system, "limit": args.limit,
                "measured_at": time.strftime("%Y-%m-%dT%H:%M:%S%z")}
        for where in [folder, *map(Path, args.record_in)]:
            record_gate(where, result, meta)
        report["variants"][variant] = {**result.__dict__, "ndcg_delta": result.ndcg_delta, **meta}
        log(f"{variant}: {'PASSED' if result.passed else 'REFUSED: ' + '; '.join(result.reasons)}")
        refused += not result.passed
        del candidate
    report["loadavg_at_end"] = [round(x, 2) for x in os.getloadavg()]
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    log(f"figures in {out}; verdicts in {folder / 'gate.json'}")
    return 1 if refused else 0


if __name__ == "__main__":
    sys.exit(main())
