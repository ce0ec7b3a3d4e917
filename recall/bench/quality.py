"""Quality benchmark of the trainers: node classification and recommendation, in one run.

``python -m recall.bench.quality [--quick] [--data DIR] [--out DIR] [--workers N]`` writes
``reports/quality/results.csv`` (one row per data set x method x mode/metric) and
``results.md`` (tables, settings, environment):

(a) Node classification (DeepWalk / node2vec protocol: one-vs-rest logistic regression, top-k
    labels per node, Micro/Macro-F1) of DeepWalk and Node2vec on BlogCatalog and PPI at 50%
    labelled nodes, next to the published figures of the node2vec paper (Grover & Leskovec 2016,
    Table 2, Macro-F1), quoted as a published reference, not re-measured.
(b) HR@10 / Recall@10 / NDCG@10 (I2I = user's last training item as query; U2I = mean of the
    user's item vectors) of Item2vec (sequence, set), DeepWalk and Node2vec against the
    popularity baseline on MovieLens ml-latest-small and on the synthetic default data
    (leave-last-out split: each user's last interaction by timestamp is held out; seen items
    are excluded from the candidates; exact search by cosine and by inner product).

Data come from ``--data``, ``$EMBRECALL_DATA`` or ``../shared/data`` beside the checkout; the
MovieLens and graph parts are skipped (and say so) when their folder is absent.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from embeddings.datasets import make_synthetic
from embeddings.evaluation import evaluate_recommenders, node_classification
from embeddings.sessions import leave_last_out
from embeddings.trainers import DeepWalk, Item2Vec, Node2Vec

logger = logging.getLogger(__name__)

REPO = Path(__file__).resolve().parents[2]

#: node2vec paper (Grover & Leskovec, KDD 2016), Table 2: Macro-F1 at 50% labelled nodes.
PUBLISHED_MACRO_F1 = {
    ("blogcatalog", "deepwalk"): 0.2110,
    ("blogcatalog", "node2vec"): 0.2581,
    ("ppi", "deepwalk"): 0.1768,
    ("ppi", "node2vec"): 0.1791,
}
#: (p, q) the node2vec paper reports as best for each data set (Section 4.3 / Table 2 settings).
NODE2VEC_PQ = {"blogcatalog": (0.25, 0.25), "ppi": (4.0, 1.0)}
#: searches of the recommendation part: cosine (the default) and inner product, whose vector
#: norms carry frequency information that cosine discards.
SEARCH_METRICS = ("cosine", "ip")

CONFIGS: dict[str, dict[str, Any]] = {
    "full": {
        "graph": {"dim": 128, "num_walks": 10, "walk_length": 80, "window": 10, "epochs": 1},
        "graph_repeats": 5,
        "train_ratio": 0.5,
        "item2vec_seq": {"dim": 64, "window": 5, "epochs": 10},
        "item2vec_set": {"dim": 64, "epochs": 5, "max_set_size": 300},
        "item_walks": {"dim": 64, "num_walks": 10, "walk_length": 40, "window": 5, "epochs": 2},
        "item_node2vec_pq": (0.5, 2.0),
        "synthetic": {"n_users": 2000, "n_items": 1000},
    },
    "quick": {
        "graph": {"dim": 32, "num_walks": 1, "walk_length": 20, "window": 5, "epochs": 1},
        "graph_repeats": 1,
        "train_ratio": 0.5,
        "item2vec_seq": {"dim": 32, "window": 5, "epochs": 3},
        "item2vec_set": {"dim": 32, "epochs": 1, "max_set_size": 40},
        "item_walks": {"dim": 32, "num_walks": 1, "walk_length": 20, "window": 5, "epochs": 1},
        "item_node2vec_pq": (0.5, 2.0),
        "synthetic": {"n_users": 500, "n_items": 300},
    },
}


def _data_root(arg: str | None) -> Path:
    if arg:
        return Path(arg)
    env = os.environ.get("EMBRECALL_DATA")
    if env:
        return Path(env)
    return REPO.parent / "shared" / "data"


# ------------------------------------------------------------------------------ (a) graphs
def node_classification_rows(
    cfg: dict[str, Any], data_root: Path, workers: int, seed: int, progress: bool
) -> list[dict[str, Any]]:
    """Macro/Micro-F1 of DeepWalk and Node2vec on BlogCatalog and PPI at cfg's train ratio."""
    from embeddings.datasets.graphs import load_labelled_graph

    rows: list[dict[str, Any]] = []
    for name in ("blogcatalog", "ppi"):
        try:
            lg = load_labelled_graph(name, data_root)
        except (FileNotFoundError, ValueError) as exc:
            logger.warning("skipping %s: %s", name, exc)
            continue
        p, q = NODE2VEC_PQ[name]
        for method, trainer in (
            ("deepwalk", DeepWalk(**cfg["graph"], workers=workers, random_state=seed,
                                  progress=progress)),
            ("node2vec", Node2Vec(p=p, q=q, **cfg["graph"], workers=workers, random_state=seed,
                                  progress=progress)),
        ):  # fmt: skip
            t0 = time.perf_counter()
            emb = trainer.fit(lg.graph)
            train_s = time.perf_counter() - t0
            res = node_classification(
                emb,
                lg.labels,
                lg.node_ids,
                train_ratios=(cfg["train_ratio"],),
                n_repeats=cfg["graph_repeats"],
                random_state=seed,
                workers=workers,
                missing="zero",
                progress=progress,
            )
            published = PUBLISHED_MACRO_F1[(name, method)]
            base = {
                "section": "node_classification",
                "dataset": name,
                "method": method,
                "params": json.dumps({"p": p, "q": q} if method == "node2vec" else {}),
                "mode": f"train_ratio={cfg['train_ratio']}",
                "train_seconds": train_s,
                "walk_seconds": emb.meta.get("walk_seconds"),
                "repeats": len(res),
                "nodes_without_vector": int(res["n_zero_vector"].iloc[0]),
            }
            for metric in ("macro_f1", "micro_f1"):
                rows.append(
                    {
                        **base,
                        "metric": metric,
                        "value": float(res[metric].mean()),
                        "std": float(res[metric].std(ddof=0)),
                        "published": published if metric == "macro_f1" else np.nan,
                    }
                )
            logger.info(
                "%s %s: macro %.4f micro %.4f (published macro %.4f), %.1f s",
                name,
                method,
                res["macro_f1"].mean(),
                res["micro_f1"].mean(),
                published,
                train_s,
            )
    return rows


# ------------------------------------------------------------------------------ (b) recommendation
def _recommendation_datasets(cfg: dict[str, Any], data_root: Path, seed: int) -> list[tuple]:
    out = []
    ml_dir = data_root / "movielens-latest-small"
    if ml_dir.is_dir():
        from embeddings.datasets.movielens import load_movielens

        out.append(("movielens-latest-small", load_movielens(ml_dir).interactions))
    else:
        logger.warning("skipping MovieLens: %s not found", ml_dir)
    syn = make_synthetic(**cfg["synthetic"], random_state=seed)
    out.append(("synthetic", syn.interactions))
    return out


def recommendation_rows(
    cfg: dict[str, Any], data_root: Path, workers: int, seed: int, progress: bool, k: int = 10
) -> list[dict[str, Any]]:
    """HR/Recall/NDCG@k of every item trainer and popularity on each recommendation data set."""
    rows: list[dict[str, Any]] = []
    p, q = cfg["item_node2vec_pq"]
    for name, inter in _recommendation_datasets(cfg, data_root, seed):
        train, test = leave_last_out(inter, n_last=1)
        trainers = {
            "item2vec-sequence": Item2Vec(mode="sequence", **cfg["item2vec_seq"]),
            "item2vec-set": Item2Vec(mode="set", **cfg["item2vec_set"]),
            "deepwalk": DeepWalk(**cfg["item_walks"]),
            "node2vec": Node2Vec(p=p, q=q, **cfg["item_walks"]),
        }
        models, seconds = {}, {}
        for mname, tr in trainers.items():
            tr.workers, tr.random_state, tr.progress = workers, seed, progress
            t0 = time.perf_counter()
            models[mname] = tr.fit(train)
            seconds[mname] = time.perf_counter() - t0
            logger.info("%s %s trained in %.1f s", name, mname, seconds[mname])
        tables = []
        for metric in SEARCH_METRICS:
            t = evaluate_recommenders(
                models, train, test, k=k, modes=("i2i", "u2i"), metric=metric,
                popularity=metric == SEARCH_METRICS[0],
            )  # fmt: skip
            t["search_metric"] = np.where(t["model"] == "popularity", "count", metric)
            tables.append(t)
        table = pd.concat(tables, ignore_index=True)
        for rec in table.to_dict("records"):
            model = rec["model"]
            params = (
                {"p": p, "q": q}
                if model == "node2vec"
                else {"set_window": models[model].meta.get("window_used")}
                if model == "item2vec-set"
                else {}
            )
            for metric in (f"hit_rate@{k}", f"recall@{k}", f"ndcg@{k}"):
                rows.append(
                    {
                        "section": "recommendation",
                        "dataset": name,
                        "method": model,
                        "params": json.dumps(params),
                        "mode": rec["mode"],
                        "search_metric": rec["search_metric"],
                        "metric": metric,
                        "value": float(rec[metric]),
                        "std": np.nan,
                        "published": np.nan,
                        "train_seconds": seconds.get(model, np.nan),
                        "users": int(rec["n_users"]),
                        "users_without_query": int(rec["n_no_query"]),
                        "items_with_vector": int(rec["n_items_with_vector"]),
                    }
                )
    return rows


# ------------------------------------------------------------------------------ report
def _fmt(x: Any, digits: int = 4) -> str:
    if x is None or (isinstance(x, float) and np.isnan(x)):
        return ""
    if isinstance(x, float):
        return f"{x:.{digits}f}"
    return str(x)


def write_report(df: pd.DataFrame, out: Path, cfg_name: str, cfg: dict, env: dict) -> None:
    """``results.csv`` and ``results.md`` in ``out``."""
    out.mkdir(parents=True, exist_ok=True)
    df.to_csv(out / "results.csv", index=False)
    lines = [
        "# Quality of the trainers: node classification and recommendation",
        "",
        f"Produced by `python -m recall.bench.quality{' --quick' if cfg_name == 'quick' else ''}`"
        f" ({cfg_name} settings) on {env.get('cpu_count')} cores; total "
        f"{env.get('total_seconds', 0):.0f} s.",
        "",
        "## (a) Node classification at 50% labelled nodes",
        "",
        "One-vs-rest L2 logistic regression (liblinear, C=1), top-k labels per node (k = the "
        "node's true number of labels), mean ± std over random splits. *Published* = node2vec "
        "paper (Grover & Leskovec 2016), Table 2, Macro-F1 at 50%, quoted as reference (their "
        "d=128, r=10, l=80, k=10; node2vec p,q from their grid search).",
        "",
        "| data set | method | p, q | Macro-F1 | Micro-F1 | published Macro-F1 | train s |",
        "|---|---|---|---:|---:|---:|---:|",
    ]
    nc = df[df["section"] == "node_classification"]
    for (ds, method), g in nc.groupby(["dataset", "method"], sort=False):
        mac = g[g["metric"] == "macro_f1"].iloc[0]
        mic = g[g["metric"] == "micro_f1"].iloc[0]
        pq = json.loads(mac["params"])
        lines.append(
            f"| {ds} | {method} | {pq.get('p', 1)}, {pq.get('q', 1)} | "
            f"{mac['value']:.4f} ± {mac['std']:.4f} | {mic['value']:.4f} ± {mic['std']:.4f} | "
            f"{mac['published']:.4f} | {mac['train_seconds']:.1f} |"
        )
    if nc.empty:
        lines.append("| (graph data not found: skipped) | | | | | | |")
    lines += [
        "",
        "## (b) Recommendation on held-out interactions (leave last out), K = 10",
        "",
        "Each user's last interaction by timestamp is the test item; all other interactions "
        "train. I2I: query = the user's last training item; U2I: query = mean of the user's "
        "item vectors (`embeddings.users.user_vectors`). The user's training items are "
        "excluded. Popularity = most interacted items (same exclusion). "
        "Search: exact, by cosine (the default) and by inner product (`ip`). "
        "Hyperparameters were not tuned.",
        "",
        "| data set | method | mode | search | HR@10 | Recall@10 | NDCG@10 | train s |",
        "|---|---|---|---|---:|---:|---:|---:|",
    ]
    rec = df[df["section"] == "recommendation"]
    keys = ["dataset", "method", "mode", "search_metric"]
    for (ds, method, mode, sm), g in rec.groupby(keys, sort=False):
        v = dict(zip(g["metric"], g["value"], strict=True))
        lines.append(
            f"| {ds} | {method} | {mode} | {sm} | {v['hit_rate@10']:.4f} | "
            f"{v['recall@10']:.4f} | {v['ndcg@10']:.4f} | {_fmt(g['train_seconds'].iloc[0], 1)} |"
        )
    lines += [
        "",
        "With one held-out item per user, HR@10 = Recall@10.",
        "",
        "Reading the table: cosine similarity ranks the items whose contexts resemble the "
        "query's, whatever their popularity. In the synthetic data the next item is, most of "
        "the time, a ring neighbour of the current item within its genre (which item vectors "
        "capture, so I2I beats popularity there), and otherwise drawn by popularity within the "
        "genre. U2I queries average all of a user's items and blur that local structure. The "
        "inner product, which keeps the vector norms, is listed for comparison; it is no general "
        "remedy. MovieLens' next item is weakly predictable (ratings are often entered in bulk "
        "with close timestamps).",
        "",
        "## Settings",
        "",
        "```json",
        json.dumps(cfg, indent=2, default=str),
        "```",
        "",
        "## Environment",
        "",
        "```json",
        json.dumps(env, indent=2, default=str),
        "```",
        "",
    ]
    (out / "results.md").write_text("\n".join(lines), encoding="utf-8")


def main(argv: list[str] | None = None) -> pd.DataFrame:
    ap = argparse.ArgumentParser(prog="python -m recall.bench.quality", description=__doc__)
    ap.add_argument("--quick", action="store_true", help="small settings (about a minute)")
    ap.add_argument("--data", default=None, help="shared data root (default $EMBRECALL_DATA)")
    ap.add_argument("--out", default=str(REPO / "reports" / "quality"))
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--skip", choices=("graphs", "recommendation"), action="append", default=[])
    ap.add_argument("--progress", action="store_true", help="show progress bars")
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    logging.getLogger("gensim").setLevel(logging.WARNING)

    from recall.measure import environment_info

    cfg_name = "quick" if args.quick else "full"
    cfg = CONFIGS[cfg_name]
    root = _data_root(args.data)
    t0 = time.perf_counter()
    rows: list[dict[str, Any]] = []
    if "graphs" not in args.skip:
        rows += node_classification_rows(cfg, root, args.workers, args.seed, args.progress)
    if "recommendation" not in args.skip:
        rows += recommendation_rows(cfg, root, args.workers, args.seed, args.progress)
    env = environment_info()
    env.update(workers=args.workers, seed=args.seed, total_seconds=time.perf_counter() - t0)
    df = pd.DataFrame(rows)
    write_report(df, Path(args.out), cfg_name, cfg, env)
    logger.info("wrote %s", Path(args.out) / "results.md")
    return df


if __name__ == "__main__":
    main()
