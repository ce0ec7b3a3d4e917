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


def _parse_columns(spec: str | None) -> dict[str, str] | None:
    """``user_id=uid,item_id=iid`` -> mapping for ``load_interactions`` (None if not given)."""
    if not spec:
        return None
    out: dict[str, str] = {}
    for part in spec.split(","):
        key, sep, val = part.partition("=")
        if not sep or not key.strip() or not val.strip():
            raise ValueError(
                f"--columns: expected FIELD=COLUMN pairs separated by ',', got {part!r}"
            )
        out[key.strip()] = val.strip()
    return out


def _load_dataset(
    spec: str,
    random_state: int,
    cache_dir: Path | None = None,
    columns: dict[str, str] | None = None,
    data_root: Path | None = None,
) -> tuple[Any, Any]:
    """(Interactions, ItemSideInfo | None) for 'synthetic', an interactions file (CSV/TSV/
    Parquet), a MovieLens directory, or a MovieLens variant name (the shared copy when present,
    else the download cache / a download)."""
    from embeddings.datasets import make_synthetic
    from recall.experiment import shared_copy

    if spec == "synthetic":
        d = make_synthetic(random_state=random_state)
        return d.interactions, d.side_info
    from embeddings.datasets.movielens import (
        VARIANTS,
        default_cache_dir,
        fetch_movielens,
        load_movielens,
    )

    p = Path(spec)
    if p.is_file():
        from embeddings.datasets import load_interactions

        inter = load_interactions(p, columns=columns)
        logger.info("loaded %s: %d interactions", p, len(inter))
        return inter, None
    if p.is_dir():
        ml = load_movielens(p)
    elif (
        spec in VARIANTS
        and not (Path(cache_dir or default_cache_dir()) / spec).is_dir()  # a download first
        and (local := shared_copy(spec, data_root)) is not None
    ):
        logger.info("using the shared copy of %s at %s", spec, local)
        ml = load_movielens(local)
    elif os.sep in spec or spec.startswith(".") or "." in p.name:
        raise FileNotFoundError(
            f"data set {spec} does not exist (give 'synthetic', an interactions file such as "
            "my.csv, a MovieLens directory, or a variant name such as ml-latest-small)"
        )
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
    interactions, side = _load_dataset(
        args.dataset, args.random_state, args.cache_dir, _parse_columns(args.columns)
    )
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
    """Run a whole experiment (or a subset) from a TOML config into its own folder."""
    from recall.experiment import load_config, run_experiment, select

    cfg = select(load_config(args.config), args.method, args.index, args.seed)
    command = "embrecall " + " ".join(args.argv) if args.command_line is None else args.command_line
    try:
        out = run_experiment(
            cfg,
            data_root=args.data_root,
            progress=not args.no_progress,
            use_cache=not args.no_cache,
            command=command,
            out=args.out,
            cache_dir=args.cache_dir,
        )
    except (PermissionError, IsADirectoryError, NotADirectoryError) as exc:
        raise ValueError(f"cannot write the run: {exc}") from exc
    _print_summary(out)
    print(f"wrote {out / 'report.md'}")
    return 0


def _print_summary(folder: Path) -> None:
    """The report's opening summary on stdout at the end of a run."""
    from recall.summary import summary_text

    print(summary_text(folder))


def cmd_report(args: argparse.Namespace) -> int:
    """Re-draw plots and report.md of an experiment folder from its CSV files (refusing a
    folder whose files come from different runs)."""
    from recall.experiment import check_run_folder
    from recall.report import write_report

    if check_run_folder(args.folder) is None:
        logger.warning(
            "%s has no run.json (written before run manifests): not checked", args.folder
        )
    print(f"wrote {write_report(args.folder)}")
    return 0


def cmd_train(args: argparse.Namespace) -> int:
    """Train the methods of a config (or DeepWalk / Node2Vec on an edge-list file given with
    ``--graph``) and save each as ``<out>/<method>-s<seed>.npz``."""
    if args.graph is not None:
        return _train_graph(args)
    if args.config is None:
        raise ValueError("train needs a CONFIG file, or --graph EDGES for an edge-list file")
    from recall.experiment import load_config, load_data, split_data, train_method

    cfg = load_config(args.config)
    out = Path(args.out)
    wanted = set(args.method or [])
    unknown = wanted - {m["name"] for m in cfg.methods}
    if unknown:  # before any training: say at once what the valid names are
        raise ValueError(
            f"methods not in {args.config}: {sorted(unknown)}; "
            f"its methods are {[m['name'] for m in cfg.methods]}"
        )
    seed = cfg.seeds[0] if args.seed is None else args.seed
    data = load_data(cfg.raw["data"], seed, args.data_root)
    train, _ = split_data(data.interactions, cfg.raw.get("split", {}))
    for spec in cfg.methods:
        if wanted and spec["name"] not in wanted:
            continue
        emb, _ = train_method(spec, train, data.side_info, seed, None, {}, progress=True)
        path = emb.save(out / f"{spec['name']}-s{seed}.npz")
        print(f"{spec['name']}: {len(emb)} vectors of dim {emb.dim} -> {path}")
    return 0


GRAPH_METHODS = ("deepwalk", "node2vec")


def read_graph_file(path: Path, directed: bool = False) -> Any:
    """A networkx graph from an edge-list file (``u v`` or ``u v weight`` per line, ``#``
    comments, any whitespace): node names may be any tokens; all-integer names become ints."""
    import networkx as nx

    p = Path(path)
    if not p.is_file():
        raise FileNotFoundError(f"edge-list file {p} does not exist")
    g: Any = nx.DiGraph() if directed else nx.Graph()
    with p.open(encoding="utf-8") as fh:
        for lineno, line in enumerate(fh, 1):
            toks = line.split("#", 1)[0].split()
            if not toks:
                continue
            if len(toks) not in (2, 3):
                raise ValueError(f"{p.name}: line {lineno}: expected 'u v [weight]', got {line!r}")
            try:
                w = float(toks[2]) if len(toks) == 3 else 1.0
            except ValueError as exc:
                raise ValueError(
                    f"{p.name}: line {lineno}: weight {toks[2]!r} is not a number"
                ) from exc
            if not w > 0 or w == float("inf"):
                raise ValueError(f"{p.name}: line {lineno}: weight must be positive, got {w}")
            u, v = toks[0], toks[1]
            g.add_edge(u, v, weight=g.get_edge_data(u, v, {"weight": 0.0})["weight"] + w)
    if g.number_of_edges() == 0:
        raise ValueError(f"{p.name}: no edges")
    try:
        mapping = {n: int(n) for n in g.nodes}
    except ValueError:
        return g
    return nx.relabel_nodes(g, mapping) if len(set(mapping.values())) == len(mapping) else g


def _save_node_vectors(emb: Any, path: Path) -> Path:
    """word2vec text format keyed by node name (what PecanPy / node2vec users read back)."""
    import numpy as np

    from embeddings.io import atomic_write

    names = emb.labels_of(emb.ids)
    with atomic_write(path, "w") as fh:
        fh.write(f"{len(emb)} {emb.dim}\n")
        for name, row in zip(names.tolist(), emb.vectors, strict=True):
            vals = " ".join(np.format_float_positional(v, unique=True, trim="-") for v in row)
            fh.write(f"{name} {vals}\n")
    return path


def _train_graph(args: argparse.Namespace) -> int:
    from embeddings.trainers import DeepWalk, Node2Vec

    methods = args.method or ["node2vec"]
    bad = [m for m in methods if m not in GRAPH_METHODS]
    if bad:
        raise ValueError(f"--graph trains {list(GRAPH_METHODS)}, not {bad}")
    g = read_graph_file(args.graph, directed=args.directed)
    seed = 0 if args.seed is None else args.seed
    out = Path(args.out)
    common = dict(
        dim=args.dim,
        num_walks=args.num_walks,
        walk_length=args.walk_length,
        window=args.window,
        directed=args.directed,
        random_state=seed,
        workers=args.workers,
        progress=True,
    )
    for m in methods:
        trainer = DeepWalk(**common) if m == "deepwalk" else Node2Vec(p=args.p, q=args.q, **common)
        emb = trainer.fit(g)
        path = emb.save(out / f"{m}-s{seed}.npz")
        text = _save_node_vectors(emb, out / f"{m}-s{seed}.emb")
        print(f"{m}: {len(emb)} node vectors of dim {emb.dim} -> {path}, {text}")
    return 0


def cmd_evaluate(args: argparse.Namespace) -> int:
    """HR/Recall/NDCG@K (I2I and U2I) of saved embeddings on the config's held-out split."""
    import pandas as pd

    from embeddings.evaluation import evaluate_recommenders
    from recall.experiment import load_config, load_data, split_data

    cfg = load_config(args.config)
    seed = cfg.seeds[0] if args.seed is None else args.seed
    data = load_data(cfg.raw["data"], seed, args.data_root)
    train, test = split_data(data.interactions, cfg.raw.get("split", {}))
    models = {Path(f).stem: _load_embeddings(Path(f)) for f in args.embeddings}
    min_rating = cfg.raw.get("split", {}).get("min_rating")
    df = evaluate_recommenders(models, train, test, cfg.k, min_rating=min_rating)
    with pd.option_context("display.width", 200, "display.max_columns", 30):
        print(df.to_string(index=False))
    if args.out:
        df.to_csv(args.out, index=False)
    return 0


def _load_embeddings(path: Path) -> Any:
    """``Embeddings.load`` after checking that the file is an ``.npz`` archive at all, so that a
    CSV or text file gets a message naming it instead of numpy's pickle hint."""
    from embeddings import Embeddings

    if not path.is_file():
        raise FileNotFoundError(f"no embeddings file at {path}")
    with path.open("rb") as fh:
        magic = fh.read(4)
    if magic != b"PK\x03\x04":
        raise ValueError(
            f"{path}: not an embeddings file (expected a .npz archive written by "
            "`embrecall train` or Embeddings.save; this file is not a zip archive)"
        )
    return Embeddings.load(path)


def bench_names() -> list[str]:
    """Benchmarks ``embrecall bench`` can run: modules of ``recall.bench`` with a ``main()``."""
    here = Path(__file__).resolve().parent / "bench"
    return sorted(
        f.stem
        for f in here.glob("*.py")
        if not f.stem.startswith("_") and "\ndef main(" in f.read_text(encoding="utf-8")
    )


def _check_bench_name(name: str) -> None:
    names = bench_names()
    if name.replace("-", "_") not in names:
        raise ValueError(f"unknown benchmark {name!r}; choose one of {names}")


def cmd_bench(args: argparse.Namespace) -> int:
    """Run a benchmark module of recall.bench (ann, exact, walks, eges, quality, redis_store, spark_recall, scale)."""
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


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("embrecall")
    except PackageNotFoundError:  # run from a checkout without installing
        from embeddings import __version__

        return __version__


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="embrecall",
        description="Train item/user embeddings and measure fast recall (LSH vs exact vs peers).",
    )
    p.add_argument("-v", "--verbose", action="count", default=0, help="more logging")
    p.add_argument("--version", action="version", version=f"embrecall {_version()}")
    sub = p.add_subparsers(dest="command", required=True)

    d = sub.add_parser("data", help="describe (or fetch) a data set")
    d.add_argument(
        "dataset",
        nargs="?",
        default="synthetic",
        help="'synthetic' (default), an interactions file (CSV/TSV/Parquet with user_id, "
        "item_id[, rating, timestamp] columns; string ids are fine), a MovieLens directory, or a "
        "variant name (ml-latest-small, ...: the shared copy when present, else downloaded)",
    )
    d.add_argument(
        "--columns",
        metavar="FIELD=COL,...",
        default=None,
        help="map the file's columns, e.g. user_id=uid,item_id=movie,timestamp=ts",
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

    r = sub.add_parser(
        "run",
        help="run a whole experiment from a TOML config (into runs/<name>-<time>/ by default)",
    )
    r.add_argument("config", type=Path, help="experiment config (TOML), e.g. configs/default.toml")
    r.add_argument(
        "--out",
        type=Path,
        default=None,
        help="the run folder (replaced when the run completes); default runs/<name>-<timestamp>. "
        "The committed references change only when asked: --out reports/default",
    )
    r.add_argument("--method", action="append", help="only this method (repeatable)")
    r.add_argument("--index", action="append", help="only this index (repeatable)")
    r.add_argument(
        "--seed", action="append", type=int, help="only this seed (repeatable; any seed >= 0)"
    )
    r.add_argument("--data-root", type=Path, default=None, help="shared data folder")
    r.add_argument(
        "--cache-dir", type=Path, default=None, help="trained-vector cache (default <out>/../cache)"
    )
    r.add_argument("--no-cache", action="store_true", help="retrain everything")
    r.add_argument("--no-progress", action="store_true", help="no progress bars")
    r.add_argument("--command-line", default=None, help=argparse.SUPPRESS)
    r.set_defaults(func=cmd_run)

    rep = sub.add_parser("report", help="write report.md and plots from an experiment folder")
    rep.add_argument(
        "folder", type=Path, help="experiment folder holding results.csv / quality.csv"
    )
    rep.set_defaults(func=cmd_report)

    t = sub.add_parser(
        "train",
        help="train the methods of a config (or DeepWalk/Node2Vec on an edge list) and save "
        "their vectors",
    )
    t.add_argument("config", type=Path, nargs="?", help="experiment TOML (not needed with --graph)")
    t.add_argument(
        "--method",
        action="append",
        help="only this method of the config (repeatable); with --graph: deepwalk or node2vec",
    )
    t.add_argument("--out", type=Path, default=Path("embeddings-out"), help="output folder")
    common(t)
    g = t.add_argument_group("--graph: walk an edge-list file (u v [weight] per line)")
    g.add_argument("--graph", type=Path, default=None, metavar="EDGES", help="edge-list file")
    g.add_argument("--directed", action="store_true", help="edges are directed")
    g.add_argument("--dim", type=int, default=128, help="vector dimension (128)")
    g.add_argument("--num-walks", type=int, default=10, help="walks per node (10)")
    g.add_argument("--walk-length", type=int, default=80, help="nodes per walk (80)")
    g.add_argument("--window", type=int, default=10, help="skip-gram window (10)")
    g.add_argument("--p", type=float, default=1.0, help="node2vec return parameter (1)")
    g.add_argument("--q", type=float, default=1.0, help="node2vec in-out parameter (1)")
    g.add_argument("--workers", type=int, default=1, help="threads (1 = reproducible)")
    t.set_defaults(func=cmd_train)

    e = sub.add_parser("evaluate", help="evaluate saved embeddings on a config's held-out split")
    e.add_argument("config", type=Path, help="experiment TOML whose data split is evaluated on")
    e.add_argument("embeddings", nargs="+", help=".npz files written by train")
    e.add_argument("--out", type=Path, default=None, help="also write the table as CSV")
    common(e)
    e.set_defaults(func=cmd_evaluate)

    b = sub.add_parser(
        "bench",
        help="run a benchmark: ann, exact, walks, eges, quality, redis_store, spark_recall, scale",
    )
    b.add_argument("name", help=f"benchmark: one of {', '.join(bench_names())}")
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
        if args.command == "bench":
            _check_bench_name(args.name)
        return int(args.func(args) or 0)
    except (ValueError, KeyError, FileNotFoundError) as exc:
        print(f"embrecall: error: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
