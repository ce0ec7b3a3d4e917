"""Node classification stages of the quality benchmark, and the check of the walk defaults.

*final* (:func:`node_final`): Macro/Micro-F1 on the test nodes of the labelled graphs over the
embedding seeds, at the defaults and at the setting tuned on ``--node-tuned-on`` (applied
unchanged to the other graphs). *defaults-check* (:func:`defaults_check`): the old and the new
walk defaults on each graph's validation fold and on the recommendation logs' validation split.
"""

from __future__ import annotations

import json
import logging
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from embeddings.evaluation import (
    cross_validate_classifier,
    evaluate_i2i,
    node_classification_holdout,
    select_classifier,
    split_labelled_nodes,
)
from embeddings.sessions import train_valid_test_split
from embeddings.stats import mean_ci
from embeddings.tuning import make_trainer
from recall.bench.quality_protocol import (
    METRIC,
    OLD_WALK_DEFAULTS,
    PQ_GRID_KEY,
    PUBLISHED_MACRO_F1,
    rec_data,
)
from recall.bench.quality_search import load_best
from recall.measure import load_average

logger = logging.getLogger(__name__)


def node_final(
    cfg: dict[str, Any], root: Path, out: Path, methods: list[str], seed: int
) -> list[dict[str, Any]]:
    """Macro/Micro-F1 on the test nodes (classifier fit on fit + valid nodes), over seeds.

    Two rows per setting: the papers' classifier (liblinear C=1 on the raw vectors) and the
    classifier whose C and feature scaling ``select_classifier`` chose on the validation fold
    (per seed; the choices are in the ``classifier`` column); with ``--node-cv-folds K`` a third
    row, whose classifier K-fold cross-validation over the training nodes chose (folds seeded by
    the split's seed; test nodes unread). Macro-F1 counts the classes
    present in the test nodes' labels or predictions, as the papers' scorer did.
    """
    from embeddings.datasets.graphs import load_labelled_graph

    rows: list[dict[str, Any]] = []
    for ds in cfg["node_datasets"]:
        try:
            lg = load_labelled_graph(ds, root)
        except (FileNotFoundError, ValueError) as exc:
            logger.warning("skipping %s: %s", ds, exc)
            continue
        fit, valid, test = split_labelled_nodes(lg.labels, lg.node_ids, random_state=seed)
        train_nodes = np.concatenate([fit, valid])
        for method in ("deepwalk", "node2vec"):
            if method not in methods:
                continue
            settings: list[tuple[str, dict[str, Any]]] = []
            if method not in cfg.get("skip_defaults", ()):  # node2vec's = DeepWalk's walks
                settings.append(("defaults", {}))
            settings += _tuned_settings(out, ds, method, cfg["node_tuned_on"])
            folds = cfg.get("node_cv_folds")
            suffixes = ["", CHOSEN] + ([cv_chosen(folds)] if folds else [])
            fitted: dict[str, pd.DataFrame] = {}
            for setting, params in settings:
                at_defaults = _same_as_defaults(method, params, seed)
                if at_defaults and method in cfg.get("skip_defaults", ()):
                    logger.info("%s %s %s: the defaults, skipped", ds, method, setting)
                    continue
                if at_defaults and "defaults" in fitted:
                    setting = f"{setting} (= defaults)"
                    logger.info("%s %s: the tuned setting is the defaults, not refit", ds, method)
                    frames = {x: fitted["defaults" + x] for x in suffixes}
                else:
                    vals: dict[str, list[dict[str, Any]]] = {x: [] for x in suffixes}
                    for s in cfg["seeds"]:
                        t0 = time.perf_counter()
                        emb = make_trainer(method, params, s).fit(lg.graph)
                        secs = time.perf_counter() - t0
                        args = (emb, lg.labels, lg.node_ids)
                        r = node_classification_holdout(*args, train_nodes, test)
                        vals[""].append({**r, "seconds": secs})
                        # the classifier's C and feature scaling, chosen on the validation fold
                        # (and with --node-cv-folds K by K-fold cross-validation over fit + valid)
                        choices = {CHOSEN: select_classifier(*args, fit, valid)[0]}
                        if folds:
                            choices[cv_chosen(folds)] = cross_validate_classifier(
                                *args, train_nodes, n_folds=folds, random_state=seed
                            )[0]
                        for x, chosen in choices.items():
                            r_sel = node_classification_holdout(
                                *args, train_nodes, test, C=chosen["C"],
                                standardise=chosen["standardise"],
                            )  # fmt: skip
                            vals[x].append({**r_sel, "seconds": secs, "classifier": chosen})
                            logger.info("%s %s %s%s seed %d: %s", ds, method, setting, x, s, r_sel)
                        logger.info("%s %s %s seed %d: %s", ds, method, setting, s, r)
                    frames = {x: pd.DataFrame(v) for x, v in vals.items()}
                for x, frame in frames.items():
                    fitted.setdefault("defaults" + x, frame)
                    rows += _final_rows(ds, method, setting + x, params, frame)
    return rows


def _tuned_settings(out: Path, ds: str, method: str, src: str) -> list[tuple[str, dict[str, Any]]]:
    """The searched settings a graph's final runs: its own p, q grids (``--node-pq-grid``, scored
    by cross-validation with ``--node-cv-folds`` or on the validation fold), its own TPE search,
    and the TPE search of ``src`` (``--node-tuned-on``) applied unchanged."""
    found = []

    def cv_keys(stem: str, label: str) -> list[tuple[str, str]]:
        files = sorted((out / "search").glob(f"{stem}-cv*.json"))
        return [(f.stem, label.format(f.stem.rsplit("-cv", 1)[1])) for f in files]

    for key, where in (
        *cv_keys(f"{ds}__{method}{PQ_GRID_KEY}", "tuned (p, q grid, {}-fold cv)"),
        (f"{ds}__{method}{PQ_GRID_KEY}", "tuned (p, q grid)"),
        (f"{src}__{method}", "tuned" if ds == src else f"tuned on {src}"),
        (f"{ds}__{method}", "tuned"),
        *cv_keys(f"{ds}__{method}", "tuned ({}-fold cv)"),  # a TPE search with --node-cv-folds
    ):
        best = load_best(out, key)
        if best is not None and where not in [w for w, _ in found]:
            found.append((where, best["best_params"]))
    return found


#: suffix of the rows whose classifier (C, feature scaling) was chosen on the validation fold
CHOSEN = " + classifier chosen on valid"


def cv_chosen(folds: int) -> str:
    """Suffix of the rows whose classifier was chosen by ``folds``-fold cross-validation over
    the training nodes (``--node-cv-folds`` in the final stage)."""
    return f" + classifier chosen by {folds}-fold cv"


def _final_rows(
    ds: str, method: str, setting: str, params: dict[str, Any], v: pd.DataFrame
) -> list[dict[str, Any]]:
    """One row per metric: mean and 95% interval over the seeds' test-node figures."""
    rows = []
    for metric in ("macro_f1", "micro_f1"):
        m, lo, hi = mean_ci(v[metric].to_numpy())
        rows.append(
            {
                "section": "node_classification",
                "dataset": ds,
                "method": method,
                "setting": setting,
                "params": json.dumps(params, default=str),
                "metric": metric,
                "value": m,
                "ci_low": lo,
                "ci_high": hi,
                "n_seeds": len(v),
                "train_seconds": float(v["seconds"].mean()),
                "published": PUBLISHED_MACRO_F1.get((ds, method))
                if metric == "macro_f1"
                else np.nan,
                "n_test_nodes": int(v["n_eval"].iloc[0]),
                "classifier": json.dumps(v["classifier"].tolist())
                if "classifier" in v
                else json.dumps({"C": 1.0, "standardise": False}),
                "loadavg_1min": load_average()[0],
            }
        )
    return rows


def _same_as_defaults(method: str, params: dict[str, Any], seed: int) -> bool:
    """True when ``params`` leave every hyperparameter of ``method`` at its library default (a
    search whose best trial is its first, the defaults): the fit would repeat the defaults'."""
    return (
        make_trainer(method, params, seed).get_params()
        == make_trainer(method, {}, seed).get_params()
    )


def _check_settings(
    cfg: dict[str, Any], old_defaults: dict[str, Any]
) -> list[tuple[str, dict[str, Any]]]:
    """Settings of the defaults check: old and new defaults, or ``--check-epochs`` values."""
    if cfg.get("check_epochs"):
        return [(f"epochs={e}", {"epochs": int(e)}) for e in cfg["check_epochs"]]
    return [("old default", old_defaults), ("library default", {})]


def _label(setting: str, emb: Any) -> str:
    """The row label of a checked setting, with the epochs it trained."""
    epochs = emb.meta.get("trainer_params", {}).get("epochs")
    return setting if setting.startswith("epochs=") else f"epochs={epochs} ({setting})"


def defaults_check(
    cfg: dict[str, Any],
    root: Path,
    seed: int,
    old_defaults: dict[str, Any] = OLD_WALK_DEFAULTS,
) -> pd.DataFrame:
    """Validation-fold Macro/Micro-F1 of DeepWalk at the old and the new library defaults.

    The evidence for the walk defaults: one embedding seed per setting (``--seeds``' first),
    the classifier fit on the fit nodes and scored on the validation fold (test nodes unread);
    ``old_defaults`` are the parameters DeepWalk used before.
    """
    from embeddings.datasets.graphs import load_labelled_graph

    rows = []
    for ds in cfg["node_datasets"]:
        try:
            lg = load_labelled_graph(ds, root)
        except (FileNotFoundError, ValueError) as exc:
            logger.warning("skipping %s: %s", ds, exc)
            continue
        fit, valid, _ = split_labelled_nodes(lg.labels, lg.node_ids, random_state=seed)
        for setting, params in _check_settings(cfg, old_defaults):
            t0 = time.perf_counter()
            emb = make_trainer("deepwalk", params, cfg["seeds"][0]).fit(lg.graph)
            r = node_classification_holdout(emb, lg.labels, lg.node_ids, fit, valid)
            rows.append(
                {
                    "dataset": ds,
                    "method": "deepwalk",
                    "setting": _label(setting, emb),
                    "params": json.dumps(emb.meta.get("trainer_params", {}), default=str),
                    "macro_f1_valid": r["macro_f1"],
                    "micro_f1_valid": r["micro_f1"],
                    "seconds": time.perf_counter() - t0,
                    "loadavg_1min": load_average()[0],
                }
            )
            logger.info("defaults check %s %s: %s", ds, setting, r)
    for ds in cfg["rec_datasets"]:
        inter = rec_data(ds, cfg, root, seed)
        if inter is None:
            continue
        train, valid, _ = train_valid_test_split(inter, random_state=seed)
        for setting, params in _check_settings(cfg, old_defaults):
            t0 = time.perf_counter()
            emb = make_trainer("deepwalk", params, cfg["seeds"][0]).fit(train)
            r = evaluate_i2i(emb, train, valid)
            rows.append(
                {
                    "dataset": ds,
                    "method": "deepwalk",
                    "setting": _label(setting, emb),
                    "params": json.dumps(emb.meta.get("trainer_params", {}), default=str),
                    "hit_rate@10_i2i_valid": r[METRIC],
                    "seconds": time.perf_counter() - t0,
                    "loadavg_1min": load_average()[0],
                }
            )
            logger.info("defaults check %s %s: HR@10 %.4f", ds, setting, r[METRIC])
    return pd.DataFrame(rows)
