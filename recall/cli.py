"""``embrecall`` command line: data, train, evaluate, bench, report, run."""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from collections.abc import Callable, Sequence
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


def _load_dataset(spec: str, random_state: int) -> tuple[Any, Any]:
    """(Interactions, ItemSideInfo | None) for 'synthetic', a MovieLens directory or variant name."""
    from embeddings.datasets import make_synthetic

    if spec == "synthetic":
        d = make_synthetic(random_state=random_state)
        return d.interactions, d.side_info
    from embeddings.datasets.movielens import fetch_movielens, load_movielens

    p = Path(spec)
    if p.is_dir():
        ml = load_movielens(p)
    else:
        ml = load_movielens(fetch_movielens(spec))
    return ml.interactions, ml.side_info


def cmd_data(args: argparse.Namespace) -> int:
    """Describe a data set: users, items, interactions, sessions, graph size."""
    from embeddings import ItemGraph, build_sessions

    if args.fetch:
        from embeddings.datasets.movielens import fetch_movielens

        path = fetch_movielens(args.fetch, cache_dir=args.cache_dir)
        print(f"fetched {args.fetch} into {path}")
        if args.dataset == "synthetic":
            args.dataset = str(path)
    interactions, side = _load_dataset(args.dataset, args.random_state)
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


def _not_yet(which: str) -> Callable[[argparse.Namespace], int]:
    def run(args: argparse.Namespace) -> int:
        print(f"this subcommand arrives with the issue '{which}'", file=sys.stderr)
        return 2

    return run


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

    for name, help_, issue in (
        ("train", "train embeddings from a config or data set", "Trainers"),
        ("evaluate", "evaluate embeddings on held-out interactions", "Trainers"),
        ("bench", "benchmark indexes against exact search and peers", "recall: LSH indexes"),
        ("report", "write report.md and plots from results", "Comparison reports"),
        ("run", "run a whole experiment from a TOML config", "Comparison reports"),
    ):
        s = sub.add_parser(name, help=help_)
        s.add_argument("args", nargs="*")
        s.set_defaults(func=_not_yet(issue))
    return p


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    level = logging.WARNING - 10 * min(args.verbose, 2)
    logging.basicConfig(level=level, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    try:
        return int(args.func(args) or 0)
    except (ValueError, KeyError, FileNotFoundError) as exc:
        print(f"embrecall: error: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
