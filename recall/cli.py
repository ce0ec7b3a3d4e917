"""``embrecall`` command line: data, train, evaluate, bench, report, run."""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

logger = logging.getLogger("embrecall")


def default_data_root() -> Path | None:
    """``$EMBRECALL_DATA`` if set, else ``../shared/data`` beside the checkout when it exists."""
    env = os.environ.get("EMBRECALL_DATA")
    if env:
        return Path(env)
    here = Path(__file__).resolve().parent.parent
    cand = here.parent / "shared" / "data"
    return cand if cand.is_dir() else None


def _load_dataset(spec: str, random_state: int, cache_dir: Path | None = None) -> tuple[Any, Any]:
    """(Interactions, ItemSideInfo | None) for 'synthetic', a MovieLens directory or variant name."""
    from embeddings.datasets import make_synthetic

    if spec == "synthetic":
        d = make_synthetic(random_state=random_state)
        return d.interactions, d.side_info
    from embeddings.datasets.movielens import fetch_movielens, load_movielens

    p = Path(spec)
    if p.exists():
        ml = load_movielens(p)
    elif os.sep in spec or spec.startswith("."):
        raise FileNotFoundError(f"data set directory {spec} does not exist")
    else:
        ml = load_movielens(fetch_movielens(spec, cache_dir=cache_dir))
    logger.info("loaded MovieLens %s from %s", ml.variant, ml.path)
    return ml.interactions, ml.side_info


def cmd_data(args: argparse.Namespace) -> int:
    """Describe a data set: users, items, interactions, sessions, graph size."""
    from embeddings import ItemGraph, build_sessions

    if args.fetch:
        from embeddings.datasets.movielens import fetch_movielens

        path = fetch_movielens(args.fetch, cache_dir=args.cache_dir)
        print(f"fetched {args.fetch} into {path}", file=sys.stderr)  # stdout stays JSON
        if args.dataset == "synthetic":
            args.dataset = str(path)
    interactions, side = _load_dataset(args.dataset, args.random_state, args.cache_dir)
    sessions = build_sessions(
        interactions, min_rating=args.min_rating, session_gap=args.session_gap
    )
    graph = ItemGraph.from_sessions(sessions)
    out = {
        "interactions": interactions.describe(),
        "sessions": sessions.describe(),
        "graph": graph.describe(),
        "side_info_fields": side.fields if side is not None else [],
    }
    print(json.dumps(out, indent=2))
    return 0


def cmd_run(args: argparse.Namespace) -> int:
    """Run a whole experiment from a TOML config."""
    from recall.experiment import load_config, run_experiment

    cfg = load_config(args.config)
    command = "embrecall " + " ".join(args.argv) if args.command_line is None else args.command_line
    out = run_experiment(
        cfg,
        out_root=args.out,
        data_root=args.data_root,
        progress=not args.no_progress,
        use_cache=not args.no_cache,
        command=command,
    )
    print(f"wrote {out / 'report.md'}")
    return 0


def cmd_report(args: argparse.Namespace) -> int:
    """Re-draw plots and report.md of an experiment folder from its CSV files."""
    from recall.report import write_report

    print(f"wrote {write_report(args.folder)}")
    return 0


def cmd_train(args: argparse.Namespace) -> int:
    """Train the methods of a config and save each as <out>/<method>-s<seed>.npz."""
    from recall.experiment import load_config, load_data, split_data, train_method

    cfg = load_config(args.config)
    out = Path(args.out)
    wanted = set(args.method or [])
    seed = cfg.seeds[0] if args.seed is None else args.seed
    data = load_data(cfg.raw["data"], seed, args.data_root)
    train, _ = split_data(data.interactions, cfg.raw.get("split", {}))
    for spec in cfg.methods:
        if wanted and spec["name"] not in wanted:
            continue
        emb, _ = train_method(spec, train, data.side_info, seed, None, {}, progress=True)
        path = emb.save(out / f"{spec['name']}-s{seed}.npz")
        print(f"{spec['name']}: {len(emb)} vectors of dim {emb.dim} -> {path}")
    unknown = wanted - {m["name"] for m in cfg.methods}
    if unknown:
        raise ValueError(f"methods not in the config: {sorted(unknown)}")
    return 0


def cmd_evaluate(args: argparse.Namespace) -> int:
    """HR/Recall/NDCG@K (I2I and U2I) of saved embeddings on the config's held-out split."""
    import pandas as pd

    from embeddings import Embeddings
    from embeddings.evaluation import evaluate_recommenders
    from recall.experiment import load_config, load_data, split_data

    cfg = load_config(args.config)
    seed = cfg.seeds[0] if args.seed is None else args.seed
    data = load_data(cfg.raw["data"], seed, args.data_root)
    train, test = split_data(data.interactions, cfg.raw.get("split", {}))
    models = {Path(f).stem: Embeddings.load(f) for f in args.embeddings}
    min_rating = cfg.raw.get("split", {}).get("min_rating")
    df = evaluate_recommenders(models, train, test, cfg.k, min_rating=min_rating)
    with pd.option_context("display.width", 200, "display.max_columns", 30):
        print(df.to_string(index=False))
    if args.out:
        df.to_csv(args.out, index=False)
    return 0


def cmd_bench(args: argparse.Namespace) -> int:
    """Run a benchmark module of recall.bench (ann, exact, walks, eges, quality, redis_store)."""
    import importlib

    name = args.name.replace("-", "_")
    try:
        mod = importlib.import_module(f"recall.bench.{name}")
    except ImportError as exc:
        raise ValueError(f"unknown benchmark {args.name!r} ({exc})") from exc
    if not hasattr(mod, "main"):
        raise ValueError(f"recall.bench.{name} has no main()")
    from recall.bench.harness import LoadTooHighError

    try:
        result = mod.main(args.args)
    except LoadTooHighError as exc:  # a busy machine: a clean error, not a traceback
        raise ValueError(str(exc)) from exc
    # a bench's main returns an exit code (int) or None; some return their results table
    # (a DataFrame), which is not an exit status: a complete run exits 0
    return result if isinstance(result, int) and not isinstance(result, bool) else 0


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="embrecall",
        description="Train item/user embeddings and measure fast recall (LSH vs exact vs peers).",
    )
    p.add_argument("-v", "--verbose", action="count", default=0, help="more logging")
    sub = p.add_subparsers(dest="command", required=True)

    d = sub.add_parser("data", help="describe (or fetch) a data set")
    d.add_argument(
        "dataset",
        nargs="?",
        default="synthetic",
        help="'synthetic' (default), a MovieLens directory, or a variant name (ml-latest-small, ...)",
    )
    d.add_argument("--fetch", metavar="VARIANT", help="download a MovieLens variant first")
    d.add_argument("--cache-dir", type=Path, default=None, help="download cache directory")
    d.add_argument("--min-rating", type=float, default=None, help="keep ratings >= this")
    d.add_argument("--session-gap", type=int, default=None, help="split sessions at gaps > this")
    d.add_argument("--random-state", type=int, default=0)
    d.set_defaults(func=cmd_data)

    def common(sp: argparse.ArgumentParser) -> None:
        sp.add_argument("--data-root", type=Path, default=None, help="shared data folder")
        sp.add_argument("--seed", type=int, default=None, help="override the config's first seed")

    r = sub.add_parser("run", help="run a whole experiment from a TOML config")
    r.add_argument("config", type=Path)
    r.add_argument("--out", type=Path, default=None, help="reports root (default <repo>/reports)")
    r.add_argument("--data-root", type=Path, default=None, help="shared data folder")
    r.add_argument("--no-cache", action="store_true", help="retrain everything")
    r.add_argument("--no-progress", action="store_true", help="no progress bars")
    r.add_argument("--command-line", default=None, help=argparse.SUPPRESS)
    r.set_defaults(func=cmd_run)

    rep = sub.add_parser("report", help="write report.md and plots from an experiment folder")
    rep.add_argument("folder", type=Path)
    rep.set_defaults(func=cmd_report)

    t = sub.add_parser("train", help="train the methods of a config and save their vectors")
    t.add_argument("config", type=Path)
    t.add_argument("--method", action="append", help="only this method (repeatable)")
    t.add_argument("--out", type=Path, default=Path("embeddings-out"))
    common(t)
    t.set_defaults(func=cmd_train)

    e = sub.add_parser("evaluate", help="evaluate saved embeddings on a config's held-out split")
    e.add_argument("config", type=Path)
    e.add_argument("embeddings", nargs="+", help=".npz files written by train")
    e.add_argument("--out", type=Path, default=None, help="also write the table as CSV")
    common(e)
    e.set_defaults(func=cmd_evaluate)

    b = sub.add_parser(
        "bench", help="run a benchmark: ann, exact, walks, eges, quality, redis_store"
    )
    b.add_argument("name")
    b.add_argument("args", nargs=argparse.REMAINDER, help="passed to the benchmark")
    b.set_defaults(func=cmd_bench)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    argv = list(sys.argv[1:] if argv is None else argv)
    args = parser.parse_args(argv)
    args.argv = argv  # the command as given, for the "Produced by" line of reports
    level = logging.WARNING - 10 * min(args.verbose, 2)
    logging.basicConfig(level=level, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    try:
        return int(args.func(args) or 0)
    except (ValueError, KeyError, FileNotFoundError) as exc:
        print(f"embrecall: error: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
