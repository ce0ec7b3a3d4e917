"""Node classification with the protocol of the DeepWalk and node2vec papers.

Labelled nodes are split at random into a training fraction and the rest; a one-vs-rest L2
logistic regression (scikit-learn, liblinear) is fit on the embeddings; for each test node the k
classes with the highest scores are predicted, k being the node's true number of labels; Micro-
and Macro-F1 over the test nodes; repeated with independent seeds for each training ratio
(:func:`node_classification`).

Macro-F1 averages over the classes that occur among the evaluated nodes' true labels or
predictions (``macro_classes="present"``, the default): the DeepWalk scorer that the DeepWalk and
node2vec papers used passed label lists to scikit-learn, which scores only those classes. A
class that is in neither scores F1 = 0 with ``macro_classes="all"``; on POS (40 classes, 19
with fewer than 10 nodes) that alone lowers Macro-F1 by ~12% of its value at 50% labelled. For tuning, :func:`split_labelled_nodes` gives fixed (fit, valid,
test) node sets and :func:`node_classification_holdout` scores one of them.
"""

from __future__ import annotations

import logging
import time
import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike, NDArray

from embeddings.neighbours import top_k
from embeddings.types import Embeddings
from embeddings.validate import as_ids, check_random_state, describe_values, spawn_seeds

__all__ = [
    "cross_validate_classifier",
    "node_classification",
    "node_classification_holdout",
    "select_classifier",
    "split_labelled_nodes",
    "summarize_node_classification",
]

logger = logging.getLogger(__name__)


def _top_k_predictions(scores: NDArray[np.float64], n_labels: NDArray[np.int64]) -> Any:
    """Binary indicator (n, c): the n_labels[i] highest-scoring classes of row i."""
    from scipy import sparse

    order, _ = top_k(scores, max(1, int(n_labels.max(initial=1))))  # ties: lower class first
    rows = np.repeat(np.arange(scores.shape[0]), n_labels)
    cols = np.concatenate([order[i, : n_labels[i]] for i in range(scores.shape[0])] + [rows[:0]])
    data = np.ones(rows.shape[0], dtype=np.int8)
    return sparse.csr_matrix((data, (rows, cols)), shape=scores.shape)


def node_classification(
    embeddings: Embeddings,
    labels: Any,
    node_ids: ArrayLike,
    train_ratios: Sequence[float] = (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9),
    n_repeats: int = 10,
    C: float = 1.0,
    max_iter: int = 1000,
    random_state: Any = None,
    workers: int = 1,
    missing: str = "error",
    progress: bool = True,
    macro_classes: str = "present",
    standardise: bool = False,
) -> pd.DataFrame:
    """Multi-label node classification with the DeepWalk / node2vec protocol.

    Args:
        embeddings: node vectors (must cover every labelled node; ``KeyError`` names the missing).
        labels: (n_nodes, n_classes) scipy sparse (or dense 0/1) matrix, row i = ``node_ids[i]``.
        node_ids: int64 (n_nodes,), e.g. ``graph.node_ids``.
        train_ratios: fractions of the labelled nodes used for training, each in (0, 1).
        n_repeats: random splits per ratio (independent seeds from ``random_state``).
        C, max_iter: of the liblinear L2 logistic regression (one per class, one-vs-rest).
        workers: parallel jobs of the one-vs-rest fit.
        missing: labelled nodes without a vector (e.g. isolated nodes, which no walk trains):
            ``"error"`` raises ``KeyError`` naming them, ``"zero"`` gives them a zero vector
            (they stay in the evaluation; their number is in the ``n_zero_vector`` column).
        macro_classes: ``"present"`` averages Macro-F1 over the classes in the test nodes'
            labels or predictions (the papers' scorer); ``"all"`` over every label column.
        standardise: scale each feature by the training nodes' mean and standard deviation
            before the classifier (a fixed C under-fits short vectors; see
            :func:`select_classifier`).

    Returns:
        DataFrame with one row per (train_ratio, repeat): micro_f1, macro_f1, n_train, n_test,
        seconds. Nodes without any label are left out (as in the papers).
    """
    _check_macro_classes(macro_classes)
    x, y, n_labels, n_zero = _labelled_matrix(embeddings, labels, node_ids, missing)
    ratios = [float(r) for r in train_ratios]
    if not ratios or any(not 0.0 < r < 1.0 for r in ratios):
        raise ValueError(f"train_ratios must be in (0, 1), got {list(train_ratios)}")
    if not isinstance(n_repeats, int | np.integer) or n_repeats < 1:
        raise ValueError(f"n_repeats must be an int >= 1, got {n_repeats}")
    n = x.shape[0]
    seeds = spawn_seeds(random_state, len(ratios) * n_repeats)

    bar = None
    if progress:
        from embeddings.progress import progress_bar as tqdm  # plain lines when not a TTY

        bar = tqdm(total=len(seeds), desc="node classification", unit="split")
    rows = []
    try:
        for i, ratio in enumerate(ratios):
            n_train = min(max(1, int(round(ratio * n))), n - 1)
            for rep in range(n_repeats):
                t0 = time.perf_counter()
                rng = check_random_state(seeds[i * n_repeats + rep])
                perm = rng.permutation(n)
                tr, te = perm[:n_train], perm[n_train:]
                micro, macro = _fit_predict_f1(
                    x, y, n_labels, tr, te, C, max_iter, workers, macro_classes, standardise
                )
                rows.append(
                    {
                        "train_ratio": ratio,
                        "repeat": rep,
                        "micro_f1": micro,
                        "macro_f1": macro,
                        "n_train": int(tr.shape[0]),
                        "n_test": int(te.shape[0]),
                        "n_zero_vector": n_zero,
                        "seconds": time.perf_counter() - t0,
                    }
                )
                if bar is not None:
                    bar.update(1)
    finally:
        if bar is not None:
            bar.close()
    return pd.DataFrame(rows)


def _labelled_matrix(
    embeddings: Embeddings, labels: Any, node_ids: ArrayLike, missing: str
) -> tuple[NDArray[np.float32], Any, NDArray[np.int64], int]:
    """Vectors (n, d), binary labels (n, c) and label counts of the nodes with a label."""
    x, y, n_labels, n_zero, _ = _labelled_with_ids(embeddings, labels, node_ids, missing)
    return x, y, n_labels, n_zero


def _labelled_with_ids(
    embeddings: Embeddings | None, labels: Any, node_ids: ArrayLike, missing: str
) -> tuple[Any, Any, NDArray[np.int64], int, NDArray[np.int64]]:
    from scipy import sparse

    ids = as_ids(node_ids, name="node_ids")
    y = sparse.csr_matrix(labels)
    if y.shape[0] != ids.shape[0]:
        raise ValueError(f"labels have {y.shape[0]} rows but there are {ids.shape[0]} node ids")
    if y.shape[1] < 2:
        raise ValueError(f"labels need at least 2 classes, got {y.shape[1]}")
    y.data = (y.data != 0).astype(np.int8)
    y.eliminate_zeros()
    n_labels = np.asarray(y.sum(axis=1)).ravel().astype(np.int64)
    labelled = np.flatnonzero(n_labels > 0)
    if labelled.shape[0] < 4:
        raise ValueError(f"only {labelled.shape[0]} labelled nodes: too few to split")
    if missing not in ("error", "zero"):
        raise ValueError(f"missing must be 'error' or 'zero', got {missing!r}")
    wanted = ids[labelled]
    x = None
    n_zero = 0
    if embeddings is not None:
        if missing == "error":
            x = embeddings.lookup(wanted)  # KeyError names nodes without a vector
        else:
            have = embeddings.has(wanted)
            x = np.zeros((wanted.shape[0], embeddings.dim), dtype=np.float32)
            x[have] = embeddings.lookup(wanted[have])
            n_zero = int((~have).sum())
            if n_zero:
                logger.info("%d labelled nodes have no vector: zero vectors used", n_zero)
    return x, y[labelled], n_labels[labelled], n_zero, wanted


def _fit_predict_f1(
    x: NDArray[np.float32],
    y: Any,
    n_labels: NDArray[np.int64],
    tr: NDArray[np.int64],
    te: NDArray[np.int64],
    C: float,
    max_iter: int,
    workers: int,
    macro_classes: str = "present",
    standardise: bool = False,
) -> tuple[float, float]:
    """(Micro-F1, Macro-F1) of one-vs-rest logistic regression fit on rows tr, scored on te;
    ``standardise`` scales each feature by the training rows' mean and standard deviation."""
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import f1_score
    from sklearn.multiclass import OneVsRestClassifier

    clf = OneVsRestClassifier(
        LogisticRegression(C=C, solver="liblinear", max_iter=max_iter), n_jobs=workers
    )
    with warnings.catch_warnings():
        # a class without positives in the training part gets a constant predictor
        warnings.filterwarnings("ignore", message=".*not present in all training.*")
        warnings.filterwarnings("ignore", message="Label .* is present in all")
        warnings.filterwarnings("ignore", category=ConvergenceWarning)
        x_tr, x_te = x[tr], x[te]
        if standardise:
            mean = x_tr.mean(axis=0)
            std = x_tr.std(axis=0)
            std[std == 0] = 1.0
            x_tr, x_te = (x_tr - mean) / std, (x_te - mean) / std
        clf.fit(x_tr, y[tr])
        scores = clf.decision_function(x_te)
    scores = np.asarray(scores, dtype=np.float64).reshape(te.shape[0], -1)
    pred = _top_k_predictions(scores, n_labels[te])
    truth = y[te]
    return (
        float(f1_score(truth, pred, average="micro", zero_division=0)),
        _macro_f1(truth, pred, macro_classes),
    )


def _check_macro_classes(macro_classes: str) -> None:
    if macro_classes not in ("present", "all"):
        raise ValueError(f"macro_classes must be 'present' or 'all', got {macro_classes!r}")


def _macro_f1(truth: Any, pred: Any, macro_classes: str = "present") -> float:
    """Macro-F1 of binary indicators (n, c): over every column (``"all"``), or over the columns
    with a true or a predicted label (``"present"``)."""
    from sklearn.metrics import f1_score

    _check_macro_classes(macro_classes)
    if macro_classes == "all":
        return float(f1_score(truth, pred, average="macro", zero_division=0))
    used = np.asarray(truth.sum(axis=0)).ravel() + np.asarray(pred.sum(axis=0)).ravel()
    cols = np.flatnonzero(used > 0)
    if cols.size == 0:
        return 0.0
    return float(f1_score(truth, pred, average="macro", labels=cols, zero_division=0))


def split_labelled_nodes(
    labels: Any,
    node_ids: ArrayLike,
    test_fraction: float = 0.5,
    valid_fraction: float = 0.2,
    random_state: Any = 0,
) -> tuple[NDArray[np.int64], NDArray[np.int64], NDArray[np.int64]]:
    """Split the labelled nodes into (fit, valid, test) node ids (int64 arrays, disjoint).

    ``test_fraction`` of the labelled nodes are the test set, read once at the end;
    ``valid_fraction`` of the remaining training nodes form the validation fold on which every
    choice is made (the classifier is fit on the rest of the training nodes). The final
    figure fits on ``fit + valid`` and scores ``test``. Seeded: same seed, same split.
    """
    for name, f in (("test_fraction", test_fraction), ("valid_fraction", valid_fraction)):
        if not 0.0 < float(f) < 1.0:
            raise ValueError(f"{name} must be in (0, 1), got {f}")
    _, _, _, _, wanted = _labelled_with_ids(None, labels, node_ids, "zero")
    n = wanted.shape[0]
    perm = check_random_state(random_state).permutation(n)
    n_test = min(max(1, int(round(test_fraction * n))), n - 2)
    n_valid = min(max(1, int(round(valid_fraction * (n - n_test)))), n - n_test - 1)
    test = np.sort(wanted[perm[:n_test]])
    valid = np.sort(wanted[perm[n_test : n_test + n_valid]])
    fit = np.sort(wanted[perm[n_test + n_valid :]])
    return fit, valid, test


def _positions(wanted: NDArray[np.int64], nodes: ArrayLike, name: str) -> NDArray[np.int64]:
    """Row positions (int64) of ``nodes`` among the labelled node ids ``wanted``."""
    pos = {int(v): i for i, v in enumerate(wanted.tolist())}
    ids = as_ids(nodes, name=name)
    bad = [int(v) for v in ids.tolist() if int(v) not in pos]
    if bad:
        raise ValueError(f"{name}: nodes without a label or unknown {describe_values(bad)}")
    return np.array([pos[int(v)] for v in ids.tolist()], dtype=np.int64)


def node_classification_holdout(
    embeddings: Embeddings,
    labels: Any,
    node_ids: ArrayLike,
    train_nodes: ArrayLike,
    eval_nodes: ArrayLike,
    C: float = 1.0,
    max_iter: int = 1000,
    workers: int = 1,
    missing: str = "zero",
    macro_classes: str = "present",
    standardise: bool = False,
) -> dict[str, float]:
    """Micro/Macro-F1 of a classifier fit on ``train_nodes`` and scored on ``eval_nodes``.

    The node sets come from ``split_labelled_nodes``: (fit, valid) while tuning, (fit + valid,
    test) for the final figure. Same classifier, top-k rule and ``macro_classes`` as
    ``node_classification``; ``standardise`` scales each feature by the training nodes' mean
    and standard deviation first (:func:`select_classifier` chooses it and ``C`` on validation).
    """
    _check_macro_classes(macro_classes)
    x, y, n_labels, n_zero, wanted = _labelled_with_ids(embeddings, labels, node_ids, missing)
    tr = _positions(wanted, train_nodes, "train_nodes")
    te = _positions(wanted, eval_nodes, "eval_nodes")
    if np.intersect1d(tr, te).size:
        raise ValueError("train_nodes and eval_nodes overlap: the evaluation would leak")
    micro, macro = _fit_predict_f1(
        x, y, n_labels, tr, te, C, max_iter, workers, macro_classes, standardise
    )
    return {
        "micro_f1": micro,
        "macro_f1": macro,
        "n_train": int(tr.shape[0]),
        "n_eval": int(te.shape[0]),
        "n_zero_vector": n_zero,
    }


def _classifier_grid(
    Cs: Sequence[float], standardise: Sequence[bool], metric: str
) -> tuple[list[float], list[bool]]:
    """The checked (C values, feature-scaling flags) of a classifier search."""
    if metric not in ("macro_f1", "micro_f1"):
        raise ValueError(f"metric must be 'macro_f1' or 'micro_f1', got {metric!r}")
    cs = [float(c) for c in Cs]
    if not cs or any(not np.isfinite(c) or c <= 0 for c in cs):
        raise ValueError(f"Cs must be finite numbers > 0, got {list(Cs)}")
    flags = [bool(f) for f in standardise]
    if not flags:
        raise ValueError("standardise needs at least one of False / True")
    return cs, flags


def select_classifier(
    embeddings: Embeddings,
    labels: Any,
    node_ids: ArrayLike,
    fit_nodes: ArrayLike,
    valid_nodes: ArrayLike,
    Cs: Sequence[float] = (0.1, 0.3, 1.0, 3.0, 10.0, 100.0),
    standardise: Sequence[bool] = (False, True),
    metric: str = "macro_f1",
    max_iter: int = 1000,
    workers: int = 1,
    macro_classes: str = "present",
) -> tuple[dict[str, Any], pd.DataFrame]:
    """Choose the classifier's ``C`` and feature scaling on the validation fold.

    Every (standardise, C) pair is fit on ``fit_nodes`` and scored on ``valid_nodes`` (the test
    nodes are never read). Returns ``({"C", "standardise", metric}, table)`` with one table row
    per pair; ties go to the earlier pair (raw features before standardised, then ``Cs`` in
    order). A fixed C=1 on raw vectors under-fits when the vectors are short: on POS (norms ~1.5)
    it never predicts most of the rare classes; on PPI (50 classes, 389 validation nodes) it
    over-fits and C = 0.3 does better (``node_classification.md``). The default grid runs from
    0.1 to 100 around the papers' C = 1 (before 2026-11-30 it started at 1).
    """
    cs, flags = _classifier_grid(Cs, standardise, metric)
    rows = []
    for flag in flags:
        for c in cs:
            r = node_classification_holdout(
                embeddings, labels, node_ids, fit_nodes, valid_nodes, C=c, max_iter=max_iter,
                workers=workers, macro_classes=macro_classes, standardise=flag,
            )  # fmt: skip
            rows.append({"standardise": flag, "C": c, **r})
    table = pd.DataFrame(rows)
    best = table.iloc[int(np.argmax(table[metric].to_numpy()))]
    chosen = {
        "C": float(best["C"]),
        "standardise": bool(best["standardise"]),
        metric: float(best[metric]),
    }
    return chosen, table


def cross_validate_classifier(
    embeddings: Embeddings,
    labels: Any,
    node_ids: ArrayLike,
    train_nodes: ArrayLike,
    n_folds: int = 5,
    Cs: Sequence[float] = (0.1, 0.3, 1.0, 3.0, 10.0, 100.0),
    standardise: Sequence[bool] = (False, True),
    metric: str = "macro_f1",
    random_state: Any = 0,
    max_iter: int = 1000,
    workers: int = 1,
    macro_classes: str = "present",
) -> tuple[dict[str, Any], pd.DataFrame]:
    """Score an embedding by ``n_folds``-fold cross-validation over the training nodes.

    ``train_nodes`` (``fit + valid`` of :func:`split_labelled_nodes`; the test nodes are never
    read) are shuffled with ``random_state`` and cut into ``n_folds`` folds; every (standardise,
    C) pair is fit on the other folds and scored on each fold in turn. The pair with the highest
    mean ``metric`` over the folds is chosen (ties: the earlier pair, as in
    :func:`select_classifier`). A single validation fold of a few hundred nodes ranks settings
    by its own sampling noise (PPI, POS: ``reports/quality/node_classification.md``); the mean
    over folds that cover every training node averages it out. Same seed, same folds, so the
    scores of two embeddings are paired. Returns ``({"C", "standardise", metric,
    metric + "_sd", "n_folds"}, table)``: one table row per (pair, fold) with both F1 figures.
    """
    cs, flags = _classifier_grid(Cs, standardise, metric)
    _check_macro_classes(macro_classes)
    if int(n_folds) != n_folds or n_folds < 2:
        raise ValueError(f"n_folds must be an integer >= 2, got {n_folds}")
    x, y, n_labels, _, wanted = _labelled_with_ids(embeddings, labels, node_ids, "zero")
    rows_all = _positions(wanted, train_nodes, "train_nodes")  # duplicates refused by as_ids
    if rows_all.size < 2 * n_folds:
        raise ValueError(f"{rows_all.size} training nodes are too few for {n_folds} folds")
    folds = np.array_split(check_random_state(random_state).permutation(rows_all), int(n_folds))
    rows = []
    for flag in flags:
        for c in cs:
            for k, te in enumerate(folds):
                tr = np.concatenate([f for j, f in enumerate(folds) if j != k])
                micro, macro = _fit_predict_f1(
                    x, y, n_labels, tr, te, c, max_iter, workers, macro_classes, flag
                )
                rows.append({"standardise": flag, "C": c, "fold": k, "micro_f1": micro,
                             "macro_f1": macro, "n_eval": int(te.size)})  # fmt: skip
    table = pd.DataFrame(rows)
    means = table.groupby(["standardise", "C"], sort=False)[metric].agg(["mean", "std"])
    i = int(np.argmax(means["mean"].to_numpy()))
    (flag, c), best = means.index[i], means.iloc[i]
    chosen = {
        "C": float(c),
        "standardise": bool(flag),
        metric: float(best["mean"]),
        f"{metric}_sd": float(best["std"]),
        "n_folds": int(n_folds),
    }
    return chosen, table


def summarize_node_classification(results: pd.DataFrame) -> pd.DataFrame:
    """Mean and standard deviation of Micro/Macro-F1 per training ratio."""
    g = results.groupby("train_ratio")[["micro_f1", "macro_f1"]]
    out = g.mean().add_suffix("_mean").join(g.std(ddof=0).add_suffix("_std"))
    out["repeats"] = results.groupby("train_ratio").size()
    return out.reset_index()
