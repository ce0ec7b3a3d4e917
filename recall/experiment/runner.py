"""The whole run: ``run_experiment`` chains the stages and writes one complete folder."""

from __future__ import annotations

import functools
import json
import logging
import os
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

import pandas as pd

from embeddings._io import atomic_write
from recall.experiment.config import ExperimentConfig
from recall.experiment.data import data_fingerprint, load_data, split_data
from recall.experiment.evaluate import (
    end_to_end,
    genre_classification,
    popularity_row,
    quality_rows,
)
from recall.experiment.figures import bucket_histogram, method_plots
from recall.experiment.folders import (
    RUN_FILES,
    RUN_MANIFEST,
    git_commit,
    prepare_run_folder,
    sha256_file,
    switch_in,
)
from recall.experiment.index import benchmark_indexes, user_queries
from recall.experiment.train import train_method

logger = logging.getLogger(__name__)


def default_runs_root() -> Path:
    """Where runs go by default: ``./runs`` under the working directory (git-ignored in the
    checkout), never beside the installed package files."""
    return Path.cwd() / "runs"


def default_run_folder(name: str, root: Path | None = None) -> Path:
    """A fresh folder ``<runs root>/<name>-<YYYYmmdd-HHMMSS>`` (a suffix if it exists)."""
    root = Path(root) if root is not None else default_runs_root()
    stamp = time.strftime("%Y%m%d-%H%M%S", time.localtime())
    cand = root / f"{name}-{stamp}"
    n = 2
    while cand.exists():
        cand = root / f"{name}-{stamp}-{n}"
        n += 1
    return cand


def run_experiment(
    config: ExperimentConfig,
    out_root: str | Path | None = None,
    data_root: Path | None = None,
    progress: bool = True,
    use_cache: bool = True,
    command: str | None = None,
    *,
    out: str | Path | None = None,
    cache_dir: str | Path | None = None,
) -> Path:
    """Run every stage of an experiment; returns the folder written.

    Where: ``out`` (exactly that folder), else ``out_root/<name>``, else a fresh timestamped
    ``./runs/<name>-<YYYYmmdd-HHMMSS>`` under the working directory — the committed references
    under ``reports/`` change only when asked for (``out="reports/default"``). Everything is written into a hidden staging
    folder beside the target and switched in when complete (a killed run leaves the previous
    folder untouched); ``run.json`` records the sha256 of the report inputs. Trained vectors are
    cached in ``cache_dir`` (default ``<parent of the folder>/cache``), keyed by the method, the
    seed, the code and a content fingerprint of the training / test data and side information.
    ``environment.json`` records the commit, date and command. Use :func:`select` to run a
    subset of methods, indexes or seeds.
    """
    from recall.measure import environment_info
    from recall.report import write_report

    if out is not None:
        final = Path(out)
    elif out_root is not None:
        final = Path(out_root) / config.name
    else:
        final = default_run_folder(config.name)
    final = final.expanduser().absolute()
    prepare_run_folder(final)
    cache = Path(cache_dir) if cache_dir is not None else final.parent / "cache"
    cache.mkdir(parents=True, exist_ok=True)
    run_id = f"{time.strftime('%Y%m%dT%H%M%S')}-{os.getpid()}-{os.urandom(3).hex()}"
    final.parent.mkdir(parents=True, exist_ok=True)
    stage = Path(tempfile.mkdtemp(prefix=f".{final.name}.partial-", dir=final.parent))
    try:
        _run_into(config, stage, cache, data_root, progress, use_cache)
        env = environment_info()
        env.update(
            {
                "run_id": run_id,
                "date": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
                "command": command,
                "config_file": str(config.path) if config.path else None,
                **git_commit(),
            }
        )
        with atomic_write(stage / "environment.json", "w") as fh:
            json.dump(env, fh, indent=2, default=str)
        write_report(stage, command=command)
        files = {n: sha256_file(stage / n) for n in RUN_FILES if (stage / n).is_file()}
        with atomic_write(stage / RUN_MANIFEST, "w") as fh:
            json.dump({"run_id": run_id, "files": files}, fh, indent=2, sort_keys=True)
        os.chmod(stage, 0o777 & ~_umask())
        switch_in(stage, final, run_id)
    except BaseException:
        shutil.rmtree(stage, ignore_errors=True)
        raise
    logger.info("run %s written to %s", run_id, final)
    return final


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _run_into(
    config: ExperimentConfig,
    out: Path,
    cache_dir: Path,
    data_root: Path | None,
    progress: bool,
    use_cache: bool,
) -> None:
    """The stages of :func:`run_experiment`, writing into the (staging) folder ``out``."""
    from embeddings.progress import progress_bar as tqdm  # plain lines when not a TTY

    raw = config.raw
    with atomic_write(out / "config.resolved.json", "w") as fh:
        json.dump(raw, fh, indent=2, sort_keys=True, default=str)

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
        cache_key = {
            "data": raw["data"],
            "split": split_spec,
            "data_seed": seed,
            # content, not paths: changed ratings (or split) at the same path are retrained
            "content": data_fingerprint(train, test, data.side_info),
        }
        pop = popularity_row(train, test, ks, min_rating)
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
            for r in quality_rows(spec["name"], emb, train, test, ks, eval_metric, min_rating):
                quality.append({"seed": seed, "train_seconds": emb.meta.get("train_seconds"), **r})
            method_plots(out, spec["name"], emb, data, cache_dir)
            genre = genre_classification(spec["name"], emb, data, seed)
            if genre is not None:
                quality.append({"seed": seed, **genre})
            if not config.indexes:
                continue
            queries, tune_queries = user_queries(
                emb, train, test, config.n_queries, min_rating, seed
            )
            e2e: dict[tuple[str, str], dict[str, Any]] = {}
            hook = functools.partial(
                end_to_end,
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
                    bucket_histogram,
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
