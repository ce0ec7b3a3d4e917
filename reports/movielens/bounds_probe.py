"""Validation-only probe after round 3: does DeepWalk gain past its search space's upper bounds
of ``window`` (10) and ``epochs`` (5), where round 3's choices sat on 2 of 3 seeds?

    python reports/movielens/bounds_probe.py SEED 'JSON list of changes' >> bounds_probe.jsonl

Starts from round 3's seed-0 DeepWalk choice (``BASE``), trains on the train split (one training
seed: the run's), and prints one JSON line per variant: the best query mode on validation (the
config's ``[evaluation] query_modes``) and its HR@10, with the training seconds. Test is not
read. One training seed moves a figure by about +-0.005 (the base setting read 0.1264 in the
search and 0.1299 here: another training seed stream), so only larger moves mean anything.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
#: round 3's DeepWalk choice on seed 0 (runs' tuning.csv; node2vec chose the same at p = q = 1)
BASE = {
    "dim": 32, "directed": True, "distance_weighting": "uniform", "epochs": 5, "graph_window": 1,
    "min_rating": None, "ns_exponent": 0.965, "num_walks": 9, "popularity_exponent": 0.066,
    "sample": 0.0113, "walk_length": 38, "window": 10,
}  # fmt: skip


def main(argv: list[str]) -> int:
    from embeddings.tuning.scoring import validation_scores
    from recall.experiment import load_config
    from recall.experiment.data import data_fingerprint, load_data, split_validation
    from recall.experiment.train import train_method
    from recall.experiment.validation import modes_of

    if len(argv) != 2:
        raise SystemExit("usage: bounds_probe.py SEED 'JSON list of parameter changes'")
    try:
        seed, variants = int(argv[0]), json.loads(argv[1])
    except ValueError as e:
        raise SystemExit(
            f"bounds_probe.py: SEED must be an integer and the changes a JSON list: {e}"
        ) from e
    if not isinstance(variants, list) or not all(isinstance(v, dict) for v in variants):
        raise SystemExit(
            f"bounds_probe.py: the changes must be a JSON list of objects, got {argv[1]!r}"
        )
    raw = (cfg := load_config(ROOT / "configs" / "movielens.toml")).raw
    data = load_data(raw["data"], seed)
    train, valid, _ = split_validation(data.interactions, raw["split"], seed)
    spec = next(m for m in cfg.methods if m["name"] == "deepwalk")
    key = {"probe": 1, "content": data_fingerprint(train, valid, data.side_info)}
    min_rating = raw["split"]["min_rating"]
    for v in variants:
        t = time.time()
        params = {**BASE, **v}
        emb, _ = train_method({**spec, "params": params}, train, data.side_info, seed, None, key)
        sc = validation_scores(
            emb, train, valid, "hit_rate@10", modes_of(raw), min_rating,
            i2i_metric="cosine", u2i_metric="cosine",
        )  # fmt: skip
        best = max((m for m in sc if not m.endswith("_last")), key=lambda m: sc[m])
        line = {"seed": seed, **v, "best_mode": best, "valid": round(sc[best], 4)}
        sys.stdout.write(json.dumps({**line, "s": round(time.time() - t)}) + "\n")
        sys.stdout.flush()
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
