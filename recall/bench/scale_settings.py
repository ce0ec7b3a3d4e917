"""The sizes and settings of the scale benchmark (:mod:`recall.bench.scale`): DeepWalk's
library defaults and the "at scale" settings (``--setting``), the settings compared on quality,
the sizes of ``--quick`` and of the full run, the skip-gram trainers (``--trainer``) and node2vec's
p, q (``--p``, ``--q``), and the full run's commands with their run times (``FULL_HELP``, in the
report). Every name is also importable from ``recall.bench.scale``.
"""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = [
    "AT_SCALE",
    "AT_SCALE_5X40",
    "FULL",
    "FULL_HELP",
    "LIBRARY_DEFAULTS",
    "QUALITY_SETTINGS",
    "QUICK",
    "SETTINGS",
    "TRAINERS",
    "parse_pq",
    "parse_trainers",
]


#: DeepWalk's library defaults (walks, skip-gram window and epochs; d = 128 throughout)
LIBRARY_DEFAULTS: dict[str, float] = {"num_walks": 10, "walk_length": 80, "window": 10, "epochs": 2}
#: the "at scale" setting the 1M-node / 10M-edge run uses (``--setting scale``): 2 walks of 40
#: per node (walks of 40 as in the DeepWalk paper), window 5, one epoch, and a 4x larger initial
#: learning rate (alpha 0.1): 80 tokens per node instead of 800 x 2 epochs, each training about
#: half the context pairs (gensim shrinks windows: 3 pairs a side on average at window 5, 5.5 at
#: 10), so ~1/36 of the defaults' skip-gram work. Chosen from the ``stages`` task: gensim trained
#: ~90k tokens per CPU second at window 5 (d 128, 5 negatives; 100k nodes), so 1M nodes leave
#: room for ~100M tokens in 10 min on 2 threads. With so few tokens per node the default alpha
#: (0.025, decayed over one short epoch) leaves the vectors untrained: on BlogCatalog's
#: validation fold 2 x 40 scored Macro-F1 0.03 at alpha 0.025 and 0.11 at 0.1 (defaults 0.25).
#: What the setting costs in quality is the ``quality`` task, written in
#: ``reports/scale/at_scale.md`` beside the projection.
AT_SCALE: dict[str, float] = {
    "num_walks": 2, "walk_length": 40, "window": 5, "epochs": 1, "alpha": 0.1,
}  # fmt: skip
#: the next step up (2.5x the skip-gram work; Macro-F1 0.19 there): for a machine where the
#: ``stages`` task measures >= 2.5x the rate above
AT_SCALE_5X40: dict[str, float] = {**AT_SCALE, "num_walks": 5}
#: settings compared on quality: the defaults, the scale settings, and the steps between them
QUALITY_SETTINGS: dict[str, dict[str, float]] = {
    "defaults (10x80, w10, 2 ep)": LIBRARY_DEFAULTS,
    "10x40, w5, 1 ep": {"num_walks": 10, "walk_length": 40, "window": 5, "epochs": 1},
    "5x40, w5, 1 ep, alpha 0.1": AT_SCALE_5X40,
    "2x40, w5, 1 ep (alpha 0.025)": {"num_walks": 2, "walk_length": 40, "window": 5, "epochs": 1},
    "at scale (2x40, w5, 1 ep, alpha 0.1)": AT_SCALE,
}
SETTINGS = {"defaults": LIBRARY_DEFAULTS, "scale": AT_SCALE, "scale-5x40": AT_SCALE_5X40}

QUICK: dict[str, Any] = {
    "deepwalk": [1_000, 2_000, 4_000],  # nodes; 10 edges per node
    "node2vec": [1_000, 2_000, 4_000],
    "memory": 4_000,
    "walkspeed": 4_000,
    "item2vec": [1_000, 2_000, 4_000],  # users; items = users / 2, 40 events per user
    "search": [20_000, 40_000, 80_000],
    "spark": [(2_000, 100), (4_000, 200), (8_000, 400)],
    "sparkwalks": [500, 1_000, 2_000],
    "sparkitem2vec_params": {"dim": 16, "window": 3, "epochs": 3, "partitions": 1},
    "sparkwalks_len": (1, 5),
    "walks": (4, 20),  # num_walks, walk_length
    "dim_window": (32, 5),
    "epochs_item2vec": 2,
    "stages": [2_000, 4_000],
    "hugepages_fraction": 0.5,
    "hugepages_repeats": 2,
    "quality_dataset": "blogcatalog",
    "quality_seeds": [0],
    "quality_settings": {
        "defaults (10x80, w10, 2 ep)": LIBRARY_DEFAULTS,
        "at scale (2x40, w5, 1 ep, alpha 0.1)": AT_SCALE,
    },
}
FULL: dict[str, Any] = {
    "deepwalk": [100_000, 300_000, 1_000_000],
    "node2vec": [100_000, 300_000, 1_000_000],
    "memory": 100_000,
    "walkspeed": 100_000,
    "item2vec": [25_000, 100_000, 160_000],  # 160k users x ~156 events = 25M interactions
    "search": [1_000_000, 3_000_000, 10_000_000],
    # compare_with_brp's exact reference is a cross join (items x users pairs): 1M x 100k would be
    # 1e11 pairs, so the full run stops at 100k x 5k (5e8)
    "spark": [(10_000, 500), (30_000, 1_500), (100_000, 5_000)],
    "sparkwalks": [10_000, 30_000, 100_000],
    # the local Item2vec run's settings (reports/scale/item2vec: defaults, 5 epochs); Spark's
    # Word2Vec trains with hierarchical softmax, one model per partition merged after each pass
    "sparkitem2vec_params": {"dim": 64, "window": 5, "epochs": 5, "partitions": 2},
    "sparkwalks_len": (1, 10),
    "walks": (10, 80),
    "dim_window": (128, 10),
    "epochs_item2vec": 5,
    "stages": [100_000, 300_000],
    "hugepages_fraction": 0.1,
    "hugepages_repeats": 4,
    "quality_dataset": "blogcatalog",
    "quality_seeds": [0, 1, 2],
    "quality_settings": QUALITY_SETTINGS,
}


TRAINERS = ("gensim", "numba")


def parse_trainers(text: str) -> list[str]:
    """``--trainer``: ``gensim``, ``numba`` or both, comma-separated (run in that order)."""
    names = [t.strip() for t in text.split(",") if t.strip()]
    bad = [t for t in names if t not in TRAINERS]
    if not names or bad or len(set(names)) != len(names):
        raise ValueError(f"--trainer takes {' or '.join(TRAINERS)} (comma-separated), got {text!r}")
    return names


def parse_pq(value: str, name: str) -> float:
    """``--p`` / ``--q``: a finite number > 0, else ``ValueError`` naming the option."""
    try:
        v = float(value)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"--{name} must be a number > 0, got {value!r}") from exc
    if not (np.isfinite(v) and v > 0):
        raise ValueError(f"--{name} must be a finite number > 0, got {value!r}")
    return v


FULL_HELP = """\
Run times on a quiet 2-core machine (measured where a committed report says so, else estimated):

```
# ~25 min, peaks < 1 GB: memory of walks + skip-gram at 100k / 1M (4 variants), walk speed vs a baseline
python -m recall.bench.scale --tasks memory,walkspeed --baseline /tmp/embrecall-base --threads 1
# the issue-16 goal, DeepWalk end to end at the scale setting (AT_SCALE: 2 x 40 walks, window 5,
# 1 epoch, alpha 0.1, d 128; gensim corpus_file, 2 threads) at 100k / 300k / 1M nodes (10 edges
# each): ~13 min in all; the 1M run measured 660 s (gensim, 2.57 GB)
python -m recall.bench.scale --tasks deepwalk --threads 2 --corpus-file --setting scale --out reports/scale/deepwalk
# gensim's skip-gram with / without huge-page weights at the 1M vocabulary, interleaved 4 x 2,
# each training on 10% of the 1M corpus (8M tokens): ~16 min
python -m recall.bench.scale --tasks hugepages --threads 2 --out reports/scale/hugepages
# each stage apart at 100k / 300k, with the 1M projection of every setting: ~20 min
python -m recall.bench.scale --tasks stages --threads 2 --out reports/scale/stages
# what the scale setting costs in quality: BlogCatalog validation Macro-F1, 5 settings x 3 seeds:
# ~15 min (the defaults are most of it)
python -m recall.bench.scale --tasks quality --threads 2 --out reports/scale/quality
# the same DeepWalk end to end with the numba skip-gram (embeddings.sgns) instead of gensim's:
# ~6 min in all, the 1M run measured 234 s (2.39 GB)
python -m recall.bench.scale --tasks deepwalk --threads 2 --corpus-file --setting scale --trainer numba --out reports/scale/deepwalk-numba
# quality of the two trainers side by side (BlogCatalog validation Macro-F1, 5 settings x 3 seeds
# each): ~9 min
python -m recall.bench.scale --tasks quality --threads 2 --trainer gensim,numba --out reports/scale/quality-trainers
# the library defaults (10 x 80, window 10, 2 epochs) at 1M do not fit 10 min: projected ~4 h
python -m recall.bench.scale --tasks deepwalk --threads 2 --corpus-file --setting defaults --sizes 1000000 --out reports/scale/1m-defaults
# ~20-30 min, peaks ~3-4 GB: Item2vec up to 25M interactions, exact and LSH search up to 10M x 32
python -m recall.bench.scale --tasks item2vec,search --threads 2
# ~30-60 min: Spark batch recall up to 100k items x 5k users, Spark walks up to 100k nodes
python -m recall.bench.scale --tasks spark,sparkwalks --threads 2
# Node2vec end to end (p=0.5, q=2) at 100k / 300k / 1M nodes with the numba skip-gram: estimated
# ~4-5 min at 1M (DeepWalk's 234 s + the second-order walks), ~6-8 min in all, peak ~2.5 GB
python -m recall.bench.scale --tasks node2vec --threads 2 --corpus-file --setting scale --trainer numba --out reports/scale/node2vec
# Spark ML Word2Vec Item2vec on the item2vec sets (3.9M / 15.6M / 24.9M interactions; d 64,
# window 5, 5 epochs, 2 partitions), with the quality check against gensim at the smallest size
python -m recall.bench.scale --tasks sparkitem2vec --threads 2 --out reports/scale/spark-item2vec
```
(`--baseline DIR` is a checkout to compare the walk speed with, e.g.
`git archive bca1d64 embeddings recall | tar -x -C /tmp/embrecall-base`.)"""
