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

The whole config is validated against a schema before any work starts (``parse_config``: unknown
keys with a did-you-mean suggestion, types, safe names, classes that are trainers / indexes).

Stages: load data -> split -> train every method (cached by method, seed, code and a content
fingerprint of the data and split) -> evaluate it (exact search) -> build every index on every
method's vectors -> knn-recall@K against exact ground truth (cached), single-query and batched
QPS, build time, memory, mean candidates -> the same recommendation metrics through the index (end
to end) -> results.csv, quality.csv, plots, report.md, config.resolved.json, environment.json and
run.json, written into a staging folder and switched in complete: by default a fresh
``runs/<name>-<timestamp>/``; the committed ``reports/<name>/`` only when asked for.

With a ``[tuning]`` table the methods it names are first searched on the validation split
(train -> valid, within its budget), refit with the chosen setting on train + valid and read on
test once, in the query mode (i2i / u2i) chosen on validation.

Modules, one per stage: ``config`` / ``schema`` (the TOML file), ``data`` (load, split,
fingerprint), ``train`` (trainers, cache, tuning), ``evaluate`` (recommendation metrics),
``index`` (index benchmark), ``figures``, ``folders`` (run folders and manifests), ``runner``.
"""

from recall.experiment.config import ExperimentConfig, load_config, parse_config, select
from recall.experiment.data import (
    LoadedData,
    data_fingerprint,
    default_data_root,
    load_data,
    resolve_data_path,
    shared_copy,
    split_data,
)
from recall.experiment.folders import RUN_FILES, RUN_MANIFEST, check_run_folder
from recall.experiment.index import IndexRun, benchmark_indexes, set_search_params
from recall.experiment.runner import default_run_folder, default_runs_root, run_experiment
from recall.experiment.schema import import_object, resolve_class
from recall.experiment.train import code_fingerprint, train_method

__all__ = [
    "ExperimentConfig",
    "IndexRun",
    "LoadedData",
    "RUN_FILES",
    "RUN_MANIFEST",
    "benchmark_indexes",
    "check_run_folder",
    "code_fingerprint",
    "data_fingerprint",
    "default_data_root",
    "default_run_folder",
    "default_runs_root",
    "import_object",
    "load_config",
    "load_data",
    "parse_config",
    "resolve_class",
    "resolve_data_path",
    "run_experiment",
    "select",
    "set_search_params",
    "shared_copy",
    "split_data",
    "train_method",
]
