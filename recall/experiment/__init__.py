"""The experiment runner behind ``embrecall run CONFIG``.

An experiment is one TOML file (see ``configs/default.toml``)::

    name = "default"            # run folder runs/<name>-<time>/ under the working directory
    seeds = [0]
    k = [10]                    # K of HR@K / Recall@K / NDCG@K and of knn-recall@K
    n_queries = 500             # queries for knn-recall and QPS (test users, in the chosen query mode)

    [data]     source = "synthetic" | "movielens" | "csv";  path / variant / columns;  [data.params]
    [split]    kind = "leave_last_out" | "temporal";  min_rating;  n_last / test_fraction
    [evaluation] metric = "cosine" | "ip" | "l2";  e2e_mode = "u2i" | "i2i" | "best"
                 query_modes = "plain" (default: i2i, u2i) | "recency" | ["u2i:h=5", ...]
    [[methods]]  name, class = "module:Class", [methods.params]
    [[indexes]]  name, family, class = "module:Class", [indexes.params], [indexes.search_grid]
    [tuning]     n_trials / timeout, methods, [tuning.space.<m>], ... (embeddings.tuning)

The whole config is validated against a schema before any work starts (``parse_config``: unknown
keys with a did-you-mean suggestion, types, safe names, classes that are trainers / indexes).

Stages: load data -> split -> train every method (cached by method, seed, code and a content
fingerprint of the data and split) -> evaluate it (exact search) -> build every index on every
method's vectors -> knn-recall@K against exact ground truth (cached), single-query and batched
QPS, build time, memory, mean candidates -> the same recommendation metrics through the index (end
to end) -> results.csv, quality.csv, plots, report.md, config.resolved.json, environment.json and
run.json, written into a staging folder and switched in complete: by default a fresh
``runs/<name>-<timestamp>/``; the committed ``reports/<name>/`` only when asked for.

With a ``[tuning]`` table (or ``e2e_mode = "best"``) a validation cut is made first: the methods
the table names are searched on train -> valid within its budget (the others keep their
setting), each method's query mode is the best one on valid among ``query_modes`` (i2i / u2i,
or with recency: ``embeddings.evaluation.QueryMode``), the chosen setting is
refit on train + valid and test is read once; the end-to-end metrics through each index are
computed in that mode (``e2e_mode = "best"``, the default with ``[tuning]``).

Modules, one per stage: ``config`` / ``schema`` (the TOML file), ``data`` (load, split,
fingerprint), ``validation`` (setting and mode chosen on valid), ``train`` (trainers, cache),
``evaluate`` (recommendation metrics), ``index`` (index benchmark), ``figures``, ``folders``
(run folders and manifests), ``runner`` (the whole run).
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
