"""The experiment runner behind ``embrecall run CONFIG``.

An experiment is one TOML file (see ``configs/default.toml``)::

    name = "default"            # output folder reports/<name>/
    seeds = [0]
    k = [10]                    # K of HR@K / Recall@K / NDCG@K and of knn-recall@K
    n_queries = 500             # queries for knn-recall and QPS (user vectors of test users)

    [data]     source = "synthetic" | "movielens" | "csv";  path / variant / columns;  [data.params]
    [split]    kind = "leave_last_out" | "temporal";  min_rating;  n_last / test_fraction
    [[methods]]  name, class = "module:Class", [methods.params]
    [[indexes]]  name, family, class = "module:Class", [indexes.params], [indexes.search_grid]

Stages: load data -> split -> train every method (cached by config hash) -> evaluate it (exact
search) -> build every index on every method's vectors -> knn-recall@K against exact ground truth
(cached), single-query and batched QPS, build time, memory, mean candidates -> the same
recommendation metrics through the index (end to end) -> results.csv, quality.csv, plots,
report.md, config.resolved.json, environment.json in ``reports/<name>/``.
"""

from __future__ import annotations

import functools
import hashlib
import importlib
import inspect
import itertools
import json
import logging
import time
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from embeddings import Embeddings
from embeddings._io import atomic_write
from embeddings.datasets import Interactions, ItemSideInfo

logger = logging.getLogger(__name__)

__all__ = [
    "ExperimentConfig",
    "load_config",
    "resolve_data_path",
    "import_object",
    "run_experiment",
    "load_data",
    "split_data",
    "train_method",
    "benchmark_indexes",
]

REPO_ROOT = Path(__file__).resolve().parent.parent


# ---------------------------------------------------------------------- config
@dataclass
class ExperimentConfig:
    """A parsed and validated experiment config (``raw`` keeps the resolved TOML content)."""

    name: str
    raw: dict[str, Any]
    path: Path | None = None
    seeds: list[int] = field(default_factory=lambda: [0])
    k: list[int] = field(default_factory=lambda: [10])
    n_queries: int = 500
    single_query_max: int = 300

    @property
    def methods(self) -> list[dict[str, Any]]:
        return list(self.raw.get("methods", []))

    @property
    def indexes(self) -> list[dict[str, Any]]:
        return list(self.raw.get("indexes", []))


def load_config(path: str | Path, overrides: Mapping[str, Any] | None = None) -> ExperimentConfig:
    """Read and validate a TOML experiment config; ``ValueError`` naming what is wrong."""
    p = Path(path)
    if not p.is_file():
        raise FileNotFoundError(f"no config file at {p}")
    try:
        raw = tomllib.loads(p.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise ValueError(f"{p}: malformed TOML ({exc})") from exc
    raw.update(overrides or {})
    return parse_config(raw, p)


def parse_config(raw: dict[str, Any], path: Path | None = None) -> ExperimentConfig:
    """Validate a config mapping (as read from TOML)."""
    where = str(path) if path else "config"
    for key in ("name", "data", "methods"):
        if key not in raw:
            raise ValueError(f"{where}: missing required key {key!r}")
    names = [m.get("name") for m in raw["methods"]]
    for kind in ("methods", "indexes"):
        for i, spec in enumerate(raw.get(kind, [])):
            for req in ("name", "class"):
                if req not in spec:
                    raise ValueError(f"{where}: {kind}[{i}] lacks {req!r}")
    if len(set(names)) != len(names):
        raise ValueError(f"{where}: duplicate method names {names}")
    inames = [s["name"] for s in raw.get("indexes", [])]
    if len(set(inames)) != len(inames):
        raise ValueError(f"{where}: duplicate index names {inames}")
    ks = [int(k) for k in raw.get("k", [10])]
    if not ks or min(ks) < 1:
        raise ValueError(f"{where}: k must be a list of integers >= 1, got {raw.get('k')}")
    return ExperimentConfig(
        name=str(raw["name"]),
        raw=raw,
        path=path,
        seeds=[int(s) for s in raw.get("seeds", [0])],
        k=ks,
        n_queries=int(raw.get("n_queries", 500)),
        single_query_max=int(raw.get("single_query_max", 300)),
    )


def import_object(spec: str) -> Any:
    """``"package.module:Name"`` -> the object; ``ValueError`` if it cannot be imported."""
    if ":" not in spec:
        raise ValueError(f"class spec {spec!r} must look like 'package.module:Name'")
    mod, _, name = spec.partition(":")
    if not (mod.startswith("embeddings") or mod.startswith("recall")):
        raise ValueError(f"class spec {spec!r}: only embeddings.* and recall.* classes are allowed")
    try:
        return getattr(importlib.import_module(mod), name)
    except ImportError as exc:
        raise ValueError(f"cannot import {spec}: {exc}") from exc
    except AttributeError as exc:
        raise ValueError(f"{mod} has no {name!r}") from exc


def resolve_data_path(value: str, data_root: Path | None = None) -> Path:
    """``shared:NAME`` -> <data root>/NAME (``$EMBRECALL_DATA`` or ../shared/data); else a path."""
    from recall.cli import default_data_root

    if value.startswith("shared:"):
        root = data_root or default_data_root()
        if root is None:
            raise FileNotFoundError(
                f"{value}: no shared data folder (set EMBRECALL_DATA or place ../shared/data)"
            )
        return Path(root) / value.split(":", 1)[1]
    p = Path(value).expanduser()
    return p if p.is_absolute() else (REPO_ROOT / p)


@functools.lru_cache(maxsize=1)
def code_fingerprint() -> str:
    """sha256 over the source files of the ``embeddings`` package: a cached embedding is reused
    only while the code that made it (trainers, walks, data generators) is unchanged."""
    import embeddings

    h = hashlib.sha256()
    root = Path(embeddings.__file__).parent
    for f in sorted(root.rglob("*.py")):
        h.update(f.relative_to(root).as_posix().encode())
        h.update(f.read_bytes())
    return h.hexdigest()[:16]


def _hash(obj: Any) -> str:
    return hashlib.sha256(json.dumps(obj, sort_keys=True, default=str).encode()).hexdigest()[:16]


# ---------------------------------------------------------------------- data
@dataclass
class LoadedData:
    interactions: Interactions
    side_info: ItemSideInfo | None
    item_labels: pd.Series | None  # item_id -> label used to colour maps (primary genre)
    description: dict[str, Any]


def load_data(spec: Mapping[str, Any], seed: int, data_root: Path | None = None) -> LoadedData:
    """Load the data set named in the ``[data]`` table."""
    source = spec.get("source", "synthetic")
    if source == "synthetic":
        from embeddings.datasets import make_synthetic

        params = dict(spec.get("params", {}))
        params.setdefault("random_state", seed)
        d = make_synthetic(**params)
        names = pd.Series(
            [f"genre{g:02d}" for g in d.item_genre.to_numpy()], index=d.item_genre.index
        )
        return LoadedData(d.interactions, d.side_info, names, {"source": "synthetic", **params})
    if source == "movielens":
        from embeddings.datasets.movielens import fetch_movielens, load_movielens

        if spec.get("path"):
            try:
                path = resolve_data_path(str(spec["path"]), data_root)
            except FileNotFoundError:
                if not spec.get("variant"):
                    raise
                path = None
            if (path is None or not path.exists()) and spec.get("variant"):
                logger.info("%s not found: fetching %s", spec["path"], spec["variant"])
                path = fetch_movielens(str(spec["variant"]))
        elif spec.get("variant"):
            path = fetch_movielens(str(spec["variant"]))
        else:
            raise ValueError("[data] source='movielens' needs 'path' or 'variant'")
        ml = load_movielens(path)
        side = ml.side_info
        labels = None
        if side is not None and "genres" in side.fields:
            labels = pd.Series(
                [g[0] if g else "(none)" for g in side.frame["genres"]], index=side.frame.index
            )
        return LoadedData(ml.interactions, side, labels, {"source": "movielens", "path": str(path)})
    if source in ("csv", "file"):
        return _load_file_source(spec, data_root)
    raise ValueError(f"unknown data source {source!r} (synthetic, movielens or csv)")


def _load_file_source(spec: Mapping[str, Any], data_root: Path | None) -> LoadedData:
    """``[data] source = "csv"``: an interactions file (CSV/TSV/Parquet, ``path`` may be
    ``shared:NAME``) read by ``load_interactions`` with optional ``columns`` (field -> column),
    ``sep`` and ``rating_default``; string ids are coded (``Interactions.item_vocab``)."""
    from embeddings.datasets import load_interactions

    if not spec.get("path"):
        raise ValueError("[data] source='csv' needs 'path' (an interactions file)")
    path = resolve_data_path(str(spec["path"]), data_root)
    kwargs = {k: spec[k] for k in ("columns", "sep", "rating_default") if k in spec}
    inter = load_interactions(path, **kwargs)
    return LoadedData(inter, None, None, {"source": "csv", "path": str(path)})


def split_data(inter: Interactions, spec: Mapping[str, Any]) -> tuple[Interactions, Interactions]:
    """Apply the ``[split]`` table: leave-last-out (default) or global temporal split."""
    from embeddings import leave_last_out, temporal_split

    kind = spec.get("kind", "leave_last_out")
    if kind == "leave_last_out":
        return leave_last_out(
            inter, n_last=int(spec.get("n_last", 1)), min_rating=spec.get("min_rating")
        )
    if kind == "temporal":
        return temporal_split(inter, test_fraction=float(spec.get("test_fraction", 0.2)))
    raise ValueError(f"unknown split kind {kind!r} (leave_last_out or temporal)")


# ---------------------------------------------------------------------- training
def train_method(
    spec: Mapping[str, Any],
    train: Interactions,
    side_info: ItemSideInfo | None,
    seed: int,
    cache_dir: Path | None,
    cache_key: Mapping[str, Any],
    progress: bool = False,
    reuse: bool = True,
) -> tuple[Embeddings, bool]:
    """Train one ``[[methods]]`` entry, or load it from ``cache_dir`` when ``reuse`` and a file of
    the same config, seed and code exists. Returns (embeddings, cached). Trainers with learned
    field weights (EGES) also leave them as CSV in ``cache_dir`` (named in ``meta``)."""
    key = _hash({"method": dict(spec), "seed": seed, "code": code_fingerprint(), **cache_key})
    path = cache_dir / f"emb-{spec['name']}-s{seed}-{key}.npz" if cache_dir else None
    if reuse and path is not None and path.exists():
        try:
            return Embeddings.load(path), True
        except ValueError as exc:  # a damaged cache entry is retrained, not trusted
            logger.warning("ignoring damaged cache file %s: %s", path, exc)
    cls = import_object(str(spec["class"]))
    params = dict(spec.get("params", {}))
    sig = inspect.signature(cls)
    if "random_state" in sig.parameters:
        params.setdefault("random_state", seed)
    if "progress" in sig.parameters:
        params.setdefault("progress", progress)
    trainer = cls(**params)
    fit_sig = inspect.signature(trainer.fit)
    t0 = time.perf_counter()
    if "side_info" in fit_sig.parameters:
        emb = trainer.fit(train, side_info=side_info)
    else:
        emb = trainer.fit(train)
    seconds = time.perf_counter() - t0
    meta = dict(emb.meta)
    meta.setdefault("train_seconds", seconds)
    meta["experiment_method"] = spec["name"]
    if hasattr(trainer, "field_weights"):  # EGES-style trainers: keep the learned field weights
        fw = trainer.field_weights()
        meta["mean_field_weights"] = {str(k): float(v) for k, v in fw.mean(axis=0).items()}
        if cache_dir is not None:
            fw_name = f"fieldweights-{spec['name']}-s{seed}-{key}.csv"
            with atomic_write(cache_dir / fw_name, "w") as fh:
                fw.to_csv(fh)
            meta["field_weights_file"] = fw_name
    emb = Embeddings(emb.ids, emb.vectors, meta)
    if path is not None:
        emb.save(path)
    return emb, False


# ---------------------------------------------------------------------- indexes
def _grid(spec: Mapping[str, Any]) -> list[dict[str, Any]]:
    """All combinations of a ``{param: [values]}`` table (scalars count as one value)."""
    if not spec:
        return [{}]
    keys = sorted(spec)
    vals = [v if isinstance(v, list) else [v] for v in (spec[k] for k in keys)]
    return [dict(zip(keys, combo, strict=True)) for combo in itertools.product(*vals)]


def set_search_params(index: Any, params: Mapping[str, Any]) -> None:
    """Apply search-time parameters: ``index.set_search_params(**p)`` or plain attributes."""
    if not params:
        return
    if hasattr(index, "set_search_params"):
        index.set_search_params(**params)
        return
    for k, v in params.items():
        if not hasattr(index, k):
            raise ValueError(f"{type(index).__name__} has no search parameter {k!r}")
        setattr(index, k, v)


def _tuned(
    emb: Embeddings,
    k: int,
    metric: str,
    tune: dict[str, Any],
    seed: int,
    queries: NDArray[np.float32] | None = None,
) -> tuple[type, dict[str, Any]]:
    """Choose LSH parameters with ``recall.lsh_tuning.tune_lsh``.

    ``queries`` is a tuning sample disjoint from the benchmark queries (user vectors of other
    users); without one the tuner holds out its own sample of item vectors.
    """
    from recall.lsh_tuning import tune_lsh

    res = tune_lsh(emb.vectors, queries, k=k, metric=metric, random_state=seed, **tune)
    logger.info(
        "tuned %s: %s (recall %.3f, reached=%s)",
        tune.get("kind"),
        res.params,
        res.recall,
        res.reached,
    )
    return res.index_class, dict(res.params)


@dataclass
class IndexRun:
    """One built index with one search setting, measured."""

    row: dict[str, Any]
    search: Callable[[NDArray[np.float32], int], NDArray[np.int64]]


def benchmark_indexes(
    emb: Embeddings,
    queries: NDArray[np.float32],
    index_specs: list[dict[str, Any]],
    k: int,
    seed: int,
    single_query_max: int = 300,
    truth_cache: dict[str, NDArray[np.int64]] | None = None,
    on_setting: Callable[[IndexRun], None] | None = None,
    tune_queries: NDArray[np.float32] | None = None,
    on_build: Callable[[Any, dict[str, Any]], None] | None = None,
    progress: bool = False,
) -> list[dict[str, Any]]:
    """Build every index on ``emb`` and measure every search setting against exact search.

    Rows: index, index_family, params (JSON), metric, build_s, memory_bytes, knn_recall,
    qps_single, qps_batch, mean_candidates, plus ``speedup`` over the exact search row of the
    same metric (single-query QPS ratio). ``on_setting`` is called with each measured setting
    (the runner uses it for the end-to-end evaluation through the index).
    """
    from embeddings.progress import progress_bar as tqdm  # plain lines when not a TTY
    from recall.exact import exact_knn, knn_recall
    from recall.measure import batch_qps, single_query_qps

    truth_cache = {} if truth_cache is None else truth_cache
    rows: list[dict[str, Any]] = []
    for spec in tqdm(index_specs, desc="indexes", disable=not progress, leave=False):
        cls = import_object(str(spec["class"]))
        params = dict(spec.get("params", {}))
        if "random_state" in inspect.signature(cls).parameters:
            params.setdefault("random_state", seed)
        metric = params.get("metric", "cosine")
        if metric not in truth_cache:
            truth_cache[metric] = exact_knn(emb.vectors, queries, k, metric).ids
        truth_pos = truth_cache[metric]
        truth_ids = np.where(truth_pos >= 0, emb.ids[np.maximum(truth_pos, 0)], -1)
        tune = spec.get("tune")
        if tune is not None:
            cls, params = _tuned(emb, k, metric, dict(tune), seed, tune_queries)
        for build_params in _grid(spec.get("build_grid", {})):
            try:
                index = cls(**{**params, **build_params})
            except ImportError as exc:  # an optional peer that is not installed
                logger.warning("skipping index %s: %s", spec["name"], exc)
                break
            compile_s = _warm_up(cls, {**params, **build_params}, emb, queries, k)
            t0 = time.perf_counter()
            index.build(emb.vectors, emb.ids)
            build_s = time.perf_counter() - t0
            if on_build is not None:
                on_build(index, spec)
            for search_params in _grid(spec.get("search_grid", {})):
                set_search_params(index, search_params)
                res = index.search(queries, k)
                stats = index.stats()
                row = {
                    "index": spec["name"],
                    "index_family": spec.get("family", spec["name"]),
                    "params": json.dumps(
                        {**params, **build_params, **search_params}, sort_keys=True
                    ),
                    "metric": metric,
                    "k": k,
                    "n_items": len(emb),
                    "dim": emb.dim,
                    "n_queries": int(queries.shape[0]),
                    "build_s": build_s,
                    "compile_s": compile_s,
                    "memory_bytes": float(stats.get("memory_bytes", np.nan)),
                    "knn_recall": knn_recall(res.ids, truth_ids, k),
                    "mean_candidates": float(stats.get("mean_candidates", np.nan)),
                    "qps_batch": batch_qps(index.search, queries, k, repeat=2),
                    "qps_single": single_query_qps(
                        index.search, queries, k, max_queries=single_query_max, repeat=2
                    ),
                    **{f"param_{p}": v for p, v in {**build_params, **search_params}.items()},
                }
                rows.append(row)
                logger.info(
                    "%s %s recall=%.3f qps=%.0f",
                    spec["name"],
                    row["params"],
                    row["knn_recall"],
                    row["qps_single"],
                )
                if on_setting is not None:
                    on_setting(IndexRun(row, lambda q, kk, _i=index: _i.search(q, kk).ids))
    exact_qps = {r["metric"]: r["qps_single"] for r in rows if r["index_family"] == "exact"}
    for r in rows:
        base = exact_qps.get(r["metric"])
        r["speedup"] = r["qps_single"] / base if base else np.nan
    return rows


_WARMED: set[tuple[str, str]] = set()


def _warm_up(
    cls: Any, params: Mapping[str, Any], emb: Embeddings, queries: NDArray[np.float32], k: int
) -> float:
    """Build and search a small sample once per index class and metric in this process, so that
    numba compilation is not counted as build time; returns the seconds it took (0.0 when this
    class was already warm). Reported as ``compile_s`` beside ``build_s``."""
    key = (f"{cls.__module__}.{cls.__qualname__}", str(params.get("metric", "cosine")))
    if key in _WARMED:
        return 0.0
    _WARMED.add(key)
    n = min(len(emb), 512)
    t0 = time.perf_counter()
    try:
        small = cls(**params).build(emb.vectors[:n], emb.ids[:n])
        small.search(queries[:4], min(k, n))
    except (ValueError, RuntimeError) as exc:  # e.g. more clusters than sample vectors
        logger.info("warm-up of %s skipped: %s", key[0], exc)
        return 0.0
    return time.perf_counter() - t0


# ---------------------------------------------------------------------- the whole run
def _quality_rows(
    method: str,
    emb: Embeddings,
    train: Interactions,
    test: Interactions,
    ks: list[int],
    metric: str,
    min_rating: float | None,
    search: Callable[[NDArray[np.float32], int], NDArray[np.int64]] | None = None,
) -> list[dict[str, Any]]:
    from embeddings.evaluation import evaluate_i2i, evaluate_u2i

    out = []
    for fn, kwargs in (
        (evaluate_i2i, {}),
        (evaluate_u2i, {"min_rating": min_rating}),
    ):
        r = fn(emb, train, test, ks, search=search, metric=metric, **kwargs)
        out.append({"method": method, **r})
    return out


def _user_queries(
    emb: Embeddings,
    train: Interactions,
    test: Interactions,
    n: int,
    min_rating: float | None,
    seed: int,
) -> tuple[NDArray[np.float32], NDArray[np.float32] | None]:
    """Benchmark queries: up to ``n`` user vectors of test users (the U2I queries), sampled with
    ``seed``; and a disjoint tuning sample of up to ``n`` other users' vectors (None if fewer than
    50 remain), so that tuned indexes never see the queries they are measured on."""
    from embeddings.users import user_vectors

    users = user_vectors(emb, train, min_rating=min_rating)
    test_users = np.unique(test.frame["user_id"].to_numpy())
    test_users = test_users[users.has(test_users)]
    if test_users.shape[0] == 0:
        raise ValueError("no test user has a vector: cannot form queries")
    rng = np.random.default_rng(seed)
    order = rng.permutation(test_users.shape[0])
    bench = np.sort(test_users[order[:n]])
    rest = np.setdiff1d(users.ids, bench)
    if rest.shape[0] > n:
        rest = np.sort(rng.choice(rest, n, replace=False))
    tune = users.lookup(rest) if rest.shape[0] >= 50 else None
    return users.lookup(bench), tune


def run_experiment(
    config: ExperimentConfig,
    out_root: str | Path | None = None,
    data_root: Path | None = None,
    progress: bool = True,
    use_cache: bool = True,
    command: str | None = None,
) -> Path:
    """Run every stage of an experiment and write ``reports/<name>/``; returns that folder."""
    from embeddings.progress import progress_bar as tqdm  # plain lines when not a TTY
    from recall.measure import environment_info
    from recall.report import write_report

    out = Path(out_root) if out_root else REPO_ROOT / "reports"
    out = out / config.name
    out.mkdir(parents=True, exist_ok=True)
    cache_dir = out / "cache"
    cache_dir.mkdir(exist_ok=True)
    raw = config.raw
    with atomic_write(out / "config.resolved.json", "w") as fh:
        json.dump(raw, fh, indent=2, sort_keys=True, default=str)
    with atomic_write(out / "environment.json", "w") as fh:
        json.dump(environment_info(), fh, indent=2, default=str)

    split_spec = raw.get("split", {})
    min_rating = split_spec.get("min_rating")
    eval_metric = raw.get("evaluation", {}).get("metric", "cosine")
    ks = config.k
    k_bench = max(ks)
    quality: list[dict[str, Any]] = []
    results: list[dict[str, Any]] = []
    bucket_plots: set[str] = set()
    for seed in config.seeds:
        data = load_data(raw["data"], seed, data_root)
        train, test = split_data(data.interactions, split_spec)
        cache_key = {"data": raw["data"], "split": split_spec, "data_seed": seed}
        pop = _popularity_row(train, test, ks, min_rating)
        quality.append({"seed": seed, "method": "popularity", **pop})
        bar = tqdm(config.methods, desc=f"methods (seed {seed})", disable=not progress)
        for spec in bar:
            bar.set_postfix_str(spec["name"])
            emb, cached = train_method(
                spec,
                train,
                data.side_info,
                seed,
                cache_dir,
                cache_key,
                progress=progress,  # epochs / walks inside the method, not a frozen bar
                reuse=use_cache,
            )
            logger.info(
                "%s: %d vectors (%s)", spec["name"], len(emb), "cached" if cached else "trained"
            )
            for r in _quality_rows(spec["name"], emb, train, test, ks, eval_metric, min_rating):
                quality.append({"seed": seed, "train_seconds": emb.meta.get("train_seconds"), **r})
            _method_plots(out, spec["name"], emb, data, cache_dir)
            genre = _genre_classification(spec["name"], emb, data, seed)
            if genre is not None:
                quality.append({"seed": seed, **genre})
            if not config.indexes:
                continue
            queries, tune_queries = _user_queries(
                emb, train, test, config.n_queries, min_rating, seed
            )
            e2e: dict[tuple[str, str], dict[str, Any]] = {}
            hook = functools.partial(
                _end_to_end,
                emb=emb,
                train=train,
                test=test,
                ks=ks,
                min_rating=min_rating,
                mode=raw.get("evaluation", {}).get("e2e_mode", "u2i"),
                store=e2e,
            )
            rows = benchmark_indexes(
                emb,
                queries,
                config.indexes,
                k_bench,
                seed,
                single_query_max=config.single_query_max,
                on_setting=hook,
                tune_queries=tune_queries,
                progress=progress,
                on_build=functools.partial(
                    _bucket_histogram,
                    vectors=emb.vectors,
                    out=out,
                    done=bucket_plots,
                    method=spec["name"],
                ),
            )
            for r in rows:
                results.append(
                    {
                        "experiment": config.name,
                        "seed": seed,
                        "method": spec["name"],
                        **r,
                        **e2e.get((r["index"], r["params"]), {}),
                    }
                )
    qdf = pd.DataFrame(quality)
    rdf = pd.DataFrame(results)
    with atomic_write(out / "quality.csv", "w") as fh:
        qdf.to_csv(fh, index=False)
    if not rdf.empty:
        with atomic_write(out / "results.csv", "w") as fh:
            rdf.to_csv(fh, index=False)
    write_report(out, command=command)
    return out


def _end_to_end(
    run: IndexRun,
    emb: Embeddings,
    train: Interactions,
    test: Interactions,
    ks: list[int],
    min_rating: float | None,
    mode: str,
    store: dict[tuple[str, str], dict[str, Any]],
) -> None:
    """Recommendation metrics of ``mode`` (i2i/u2i) computed through the index's search."""
    from embeddings.evaluation import evaluate_i2i, evaluate_u2i

    m = run.row["metric"]
    if mode == "i2i":
        r = evaluate_i2i(emb, train, test, ks, search=run.search, metric=m)
    elif mode == "u2i":
        r = evaluate_u2i(emb, train, test, ks, search=run.search, metric=m, min_rating=min_rating)
    else:
        raise ValueError(f"unknown e2e_mode {mode!r} (i2i or u2i)")
    store[(run.row["index"], run.row["params"])] = {
        f"e2e_{key}": val for key, val in r.items() if "@" in key
    }


def _popularity_row(
    train: Interactions, test: Interactions, ks: list[int], min_rating: float | None
) -> dict[str, Any]:
    from embeddings.evaluation import evaluate_popularity

    return {**evaluate_popularity(train, test, ks, min_rating=min_rating), "mode": "popularity"}


def _method_plots(
    out: Path, name: str, emb: Embeddings, data: LoadedData, cache_dir: Path | None
) -> None:
    """2-D map of the item vectors coloured by label (genre); EGES field weights if saved."""
    from recall import plots

    fw_file = emb.meta.get("field_weights_file")
    if cache_dir is not None and fw_file and (cache_dir / fw_file).exists():
        fw = pd.read_csv(cache_dir / fw_file, index_col=0)
        # BGE (one field) and GES (equal weights) have constant weights: nothing to plot
        if not fw.empty and float(np.ptp(fw.to_numpy(dtype=np.float64))) > 1e-6:
            fig = plots.plot_field_weights(fw, title=f"{name}: learned field weights per item")
            plots.save_figure(fig, out / "plots" / f"field_weights_{name}.png")
    if data.item_labels is None:
        return
    have = emb.has(data.item_labels.index.to_numpy())
    if have.sum() < 10:
        return
    ids = data.item_labels.index.to_numpy()[have]
    fig = plots.plot_embedding_map(
        emb.lookup(ids), data.item_labels.loc[ids].to_numpy(), title=f"{name}: PCA map by genre"
    )
    plots.save_figure(fig, out / "plots" / f"map_{name}.png")


def _bucket_histogram(
    index: Any,
    spec: dict[str, Any],
    vectors: NDArray[np.float32],
    out: Path,
    done: set[str],
    method: str = "",
) -> None:
    """Bucket sizes of table 0 of the first build of each LSH spec (indexes with a ``hasher``),
    titled with the index, the method whose vectors it hashed and the build parameters."""
    from recall import plots

    hasher = getattr(index, "hasher", None)
    if hasher is None or spec["name"] in done:
        return
    done.add(spec["name"])
    x = index._prepare(vectors)  # the vectors as the index hashed them (unit rows for cosine)
    sizes = np.unique(hasher.keys(x)[:, 0], return_counts=True)[1]
    params = {k: v for k, v in spec.get("params", {}).items() if k != "metric"}
    fig = plots.plot_bucket_sizes(
        sizes,
        title=f"{spec['name']} on {method or 'the first method'}'s vectors: table 0 buckets",
        subtitle=f"build {json.dumps(params, sort_keys=True, default=str)}; "
        f"n={vectors.shape[0]} items",
    )
    plots.save_figure(fig, out / "plots" / f"buckets_{spec['name']}.png")


def _genre_classification(
    name: str, emb: Embeddings, data: LoadedData, seed: int
) -> dict[str, Any] | None:
    """Node-classification protocol on the item vectors with the items' genres as labels
    (multi-label; one-vs-rest logistic regression, 50% of the labelled items for training)."""
    from scipy import sparse

    from embeddings.evaluation import node_classification

    side = data.side_info
    if side is None or "genres" not in side.fields:
        return None
    ids = side.item_ids()
    ids = ids[emb.has(ids)]
    if ids.shape[0] < 20:
        return None
    indptr, indices, vocab = side.encode("genres", ids)
    labels = sparse.csr_matrix(
        (np.ones(indices.shape[0], dtype=bool), indices, indptr), shape=(ids.shape[0], len(vocab))
    )
    res = node_classification(
        emb, labels, ids, train_ratios=(0.5,), n_repeats=3, random_state=seed, progress=False
    )
    return {
        "method": name,
        "mode": "genre-classification",
        "micro_f1": float(res["micro_f1"].mean()),
        "macro_f1": float(res["macro_f1"].mean()),
    }
