"""The whole run: ``run_experiment`` chains the stages and writes one complete folder."""

from __future__ import annotations

import functools
import json
import logging
import os
import shutil
import tempfile
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pandas as pd

from embeddings.io import atomic_write
from recall.experiment.config import ExperimentConfig
from recall.experiment.data import data_fingerprint, load_data, split_data, split_validation
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
from recall.experiment.validation import choose_setting, modes_of, modes_tag

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
    from recall.measure import default_max_load, environment_info, load_average
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
        load_before, t0 = load_average(), time.perf_counter()
        _run_into(config, stage, cache, data_root, progress, use_cache)
        env = environment_info()
        env.update(
            {
                "load_before": load_before,
                "load_after": load_average(),
                "max_load": default_max_load(),
                "wall_s": time.perf_counter() - t0,
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


def e2e_mode_of(raw: Mapping[str, Any]) -> str:
    """The ``[evaluation] e2e_mode`` of a resolved config: ``i2i``, ``u2i`` or ``best`` (each
    method's mode chosen on validation); ``best`` by default when the config has ``[tuning]``."""
    default = "best" if "tuning" in raw else "u2i"
    return str(raw.get("evaluation", {}).get("e2e_mode", default))


def _run_into(
    config: ExperimentConfig,
    out: Path,
    cache_dir: Path,
    data_root: Path | None,
    progress: bool,
    use_cache: bool,
) -> None:
    """The stages of :func:`run_experiment`, writing into the (staging) folder ``out``.

    Without validation (no ``[tuning]``, ``e2e_mode`` i2i / u2i): every method is trained on the
    train split with its config setting. With validation: each method's setting (tuned when
    ``[tuning]`` covers it) and query mode are chosen on (train, valid), the setting is refit on
    train + valid and test is read once; the index benchmark and the end-to-end metrics use that
    fit, the latter in the validated mode when ``e2e_mode = "best"``.
    """
    from embeddings.progress import progress_bar as tqdm  # plain lines when not a TTY
    from embeddings.sessions import concat_interactions

    raw = config.raw
    with atomic_write(out / "config.resolved.json", "w") as fh:
        json.dump(raw, fh, indent=2, sort_keys=True, default=str)

    split_spec = raw.get("split", {})
    min_rating = split_spec.get("min_rating")
    eval_metric = raw.get("evaluation", {}).get("metric", "cosine")
    e2e_mode = e2e_mode_of(raw)
    modes = modes_of(raw)  # the query modes validation chooses from
    validate = "tuning" in raw or e2e_mode == "best"
    ks = config.k
    k_bench = max(ks)
    quality: list[dict[str, Any]] = []
    results: list[dict[str, Any]] = []
    tuning_rows: list[dict[str, Any]] = []
    bucket_plots: set[str] = set()
    for seed in config.seeds:
        data = load_data(raw["data"], seed, data_root)
        base_key = {"data": raw["data"], "split": split_spec, "data_seed": seed}
        valid = None
        if validate:
            train, valid, test = split_validation(data.interactions, split_spec, seed)
            fit_on = concat_interactions(train, valid, name=f"{data.interactions.name}/train+valid")
            # content, not paths: changed ratings (or split) at the same path are retrained
            valid_key = {**base_key, "content": data_fingerprint(train, valid, data.side_info)}
        else:
            fit_on, test = split_data(data.interactions, split_spec, seed)
        cache_key = {**base_key, "content": data_fingerprint(fit_on, test, data.side_info)}
        pop = popularity_row(fit_on, test, ks, min_rating)
        quality.append({"seed": seed, "method": "popularity", **pop})
        bar = tqdm(config.methods, desc=f"methods (seed {seed})", disable=not progress)
        chosen: dict[str, dict[str, Any]] = {}  # this seed's validated settings, by method name
        warm_start = dict((raw.get("tuning") or {}).get("warm_start", {}))
        for spec in bar:
            bar.set_postfix_str(spec["name"])
            final_spec, setting, mode = spec, "config", e2e_mode
            chosen_mode = None
            if valid is not None:
                warm = warm_start.get(spec["name"])  # parse_config: its source comes first
                choice = choose_setting(
                    spec,
                    train,
                    valid,
                    data.side_info,
                    seed,
                    ks,
                    eval_metric=eval_metric,
                    min_rating=min_rating,
                    tuning=raw.get("tuning"),
                    study_name=f"{config.name}-{spec['name']}-s{seed}-{valid_key['content']}"
                    + (f"-from-{warm}" if warm is not None else "")
                    + modes_tag(modes),
                    warm_params=None if warm is None else chosen[warm],
                    cache_dir=cache_dir,
                    cache_key=valid_key,
                    progress=progress,
                    reuse=use_cache,
                    modes=modes,
                )
                tuning_rows.append(choice.row(seed))
                chosen[str(spec["name"])] = dict(choice.params)
                final_spec = {**spec, "params": choice.params}
                setting, chosen_mode = choice.setting, choice.mode
                if e2e_mode == "best":
                    mode = choice.mode
            emb, cached = train_method(
                final_spec,
                fit_on,
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
            for r in quality_rows(
                spec["name"],
                emb,
                fit_on,
                test,
                ks,
                eval_metric,
                min_rating,
                chosen_mode=chosen_mode,
            ):
                extra = {"setting": setting}
                if chosen_mode is not None:
                    extra["validated_mode"] = r.get("mode") == chosen_mode
                quality.append(
                    {"seed": seed, "train_seconds": emb.meta.get("train_seconds"), **extra, **r}
                )
            method_plots(out, spec["name"], emb, data, cache_dir)
            genre = genre_classification(spec["name"], emb, data, seed)
            if genre is not None:
                quality.append({"seed": seed, **genre})
            if not config.indexes:
                continue
            queries, tune_queries = user_queries(
                emb, fit_on, test, config.n_queries, min_rating, seed, mode=mode
            )
            e2e: dict[tuple[str, str], dict[str, Any]] = {}
            hook = functools.partial(
                end_to_end,
                emb=emb,
                train=fit_on,
                test=test,
                ks=ks,
                min_rating=min_rating,
                mode=mode,
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
                        "e2e_mode": mode,
                        **e2e.get((r["index"], r["params"]), {}),
                    }
                )
    qdf = pd.DataFrame(quality)
    rdf = pd.DataFrame(results)
    with atomic_write(out / "quality.csv", "w") as fh:
        qdf.to_csv(fh, index=False)
    if tuning_rows:
        with atomic_write(out / "tuning.csv", "w") as fh:
            pd.DataFrame(tuning_rows).to_csv(fh, index=False)
    if not rdf.empty:
        with atomic_write(out / "results.csv", "w") as fh:
            rdf.to_csv(fh, index=False)
