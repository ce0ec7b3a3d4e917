"""Node-classification scoring rules that the POS gap (issue 12) turned on."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp

from embeddings.evaluation import node_classification, node_classification_holdout
from embeddings.evaluation.nodes import _macro_f1
from embeddings.types import Embeddings


def _three_clusters() -> tuple[Embeddings, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Classes 0 and 1 well separated; class 2 only among the training nodes."""
    rng = np.random.default_rng(0)
    centres = np.array([[6.0, 0.0], [-6.0, 0.0], [0.0, 6.0]])
    cls = np.array([0] * 20 + [1] * 20 + [2] * 6)
    vec = (centres[cls] + 0.3 * rng.standard_normal((cls.size, 2))).astype(np.float32)
    labels = np.zeros((cls.size, 3), np.int8)
    labels[np.arange(cls.size), cls] = 1
    ids = np.arange(100, 100 + cls.size, dtype=np.int64)
    evaluated = np.concatenate([ids[10:20], ids[30:40]])  # classes 0 and 1 only
    train = np.setdiff1d(ids, evaluated)
    return Embeddings(ids, vec), labels, ids, train, evaluated


def test_macro_f1_counts_only_classes_present_in_truth_or_predictions():
    emb, labels, ids, train, evaluated = _three_clusters()
    present = node_classification_holdout(emb, labels, ids, train, evaluated)
    every = node_classification_holdout(emb, labels, ids, train, evaluated, macro_classes="all")
    # every evaluated node is classified right; class 2 has no evaluated node and no prediction
    assert present["micro_f1"] == pytest.approx(1.0)
    assert present["macro_f1"] == pytest.approx(1.0)
    assert every["macro_f1"] == pytest.approx(2.0 / 3.0)


def test_macro_f1_keeps_a_predicted_class_without_true_nodes():
    truth = sp.csr_matrix(np.array([[1, 0, 0], [1, 0, 0], [0, 1, 0]], np.int8))
    pred = sp.csr_matrix(np.array([[1, 0, 0], [0, 0, 1], [0, 1, 0]], np.int8))
    # class 2 is predicted once but true nowhere: F1 0, and it counts (the papers' scorer)
    f0 = 2 * 1 / (2 * 1 + 1)  # class 0: tp 1, fn 1
    assert _macro_f1(truth, pred) == pytest.approx((f0 + 1.0 + 0.0) / 3)
    truth2 = sp.csr_matrix(np.array([[1, 0, 0], [0, 1, 0]], np.int8))
    assert _macro_f1(truth2, truth2) == pytest.approx(1.0)
    assert _macro_f1(truth2, truth2, "all") == pytest.approx(2.0 / 3.0)


def test_macro_classes_is_validated():
    emb, labels, ids, train, evaluated = _three_clusters()
    with pytest.raises(ValueError, match="macro_classes"):
        node_classification_holdout(emb, labels, ids, train, evaluated, macro_classes="some")
    with pytest.raises(ValueError, match="macro_classes"):
        node_classification(emb, labels, ids, macro_classes="", progress=False)


def test_select_classifier_fixes_short_vectors_on_validation_only():
    """Vectors that carry the label but are short: C=1 on raw features predicts only the big
    class; the choice made on the validation fold scales them and finds the rare classes."""
    from embeddings.evaluation import select_classifier, split_labelled_nodes

    rng = np.random.default_rng(1)
    cls = np.repeat(np.arange(4), [150, 40, 14, 12])
    labels = np.zeros((cls.size, 4), np.int8)
    labels[np.arange(cls.size), cls] = 1
    vec = np.eye(4, dtype=np.float32)[cls] * 0.02 + 0.002 * rng.standard_normal((cls.size, 4))
    ids = np.arange(cls.size, dtype=np.int64)
    emb = Embeddings(ids, vec.astype(np.float32))
    fit, valid, test = split_labelled_nodes(labels, ids, 0.3, 0.3, random_state=0)
    chosen, table = select_classifier(emb, labels, ids, fit, valid, Cs=(1.0, 100.0))
    assert len(table) == 4 and set(table["standardise"]) == {False, True}
    assert chosen["macro_f1"] == pytest.approx(table["macro_f1"].max())
    paper = table[(~table["standardise"]) & (table["C"] == 1.0)]["macro_f1"].iloc[0]
    assert paper < 0.5 < chosen["macro_f1"]
    train = np.concatenate([fit, valid])
    plain = node_classification_holdout(emb, labels, ids, train, test)
    tuned = node_classification_holdout(
        emb, labels, ids, train, test, C=chosen["C"], standardise=chosen["standardise"]
    )
    assert tuned["macro_f1"] > plain["macro_f1"] + 0.3
    with pytest.raises(ValueError, match="Cs"):
        select_classifier(emb, labels, ids, fit, valid, Cs=(0.0,))
    with pytest.raises(ValueError, match="metric"):
        select_classifier(emb, labels, ids, fit, valid, metric="auc")


def test_repeated_splits_standardise_short_vectors():
    rng = np.random.default_rng(2)
    cls = np.repeat(np.arange(3), [120, 30, 20])
    labels = np.zeros((cls.size, 3), np.int8)
    labels[np.arange(cls.size), cls] = 1
    vec = np.eye(3, dtype=np.float32)[cls] * 0.02 + 0.002 * rng.standard_normal((cls.size, 3))
    ids = np.arange(cls.size, dtype=np.int64)
    emb = Embeddings(ids, vec.astype(np.float32))
    kw = dict(train_ratios=(0.5,), n_repeats=2, random_state=0, progress=False)
    raw = node_classification(emb, labels, ids, **kw)
    std = node_classification(emb, labels, ids, standardise=True, **kw)
    assert (std["macro_f1"] > raw["macro_f1"] + 0.3).all()
    assert std["macro_f1"].min() > 0.95


def _labelled_blobs(n_per: int = 40, noise: float = 1.0, seed: int = 3):
    """Three classes around three centres in 4-d; returns (emb, labels, ids)."""
    rng = np.random.default_rng(seed)
    cls = np.repeat(np.arange(3), n_per)
    centres = 2.0 * np.eye(3, 4)
    vec = (centres[cls] + noise * rng.standard_normal((cls.size, 4))).astype(np.float32)
    labels = np.zeros((cls.size, 3), np.int8)
    labels[np.arange(cls.size), cls] = 1
    ids = np.arange(500, 500 + cls.size, dtype=np.int64)
    return Embeddings(ids, vec), labels, ids


def test_cross_validate_classifier_reads_only_the_training_nodes_and_is_seeded():
    from embeddings.evaluation import cross_validate_classifier, split_labelled_nodes

    emb, labels, ids = _labelled_blobs()
    fit, valid, test = split_labelled_nodes(labels, ids, 0.5, 0.2, random_state=0)
    train = np.concatenate([fit, valid])
    chosen, table = cross_validate_classifier(emb, labels, ids, train, n_folds=4, Cs=(0.1, 1.0))
    # one row per (scaling, C, fold); every training node is scored exactly once per pair
    assert len(table) == 2 * 2 * 4
    assert table.groupby(["standardise", "C"])["n_eval"].sum().eq(train.size).all()
    means = table.groupby(["standardise", "C"])["macro_f1"].mean()
    assert chosen["macro_f1"] == pytest.approx(means.max())
    assert chosen["n_folds"] == 4 and chosen["macro_f1_sd"] >= 0.0
    assert chosen["macro_f1"] > 0.6  # the classes are separable up to the noise
    again, table2 = cross_validate_classifier(emb, labels, ids, train, n_folds=4, Cs=(0.1, 1.0))
    assert again == chosen and table2.equals(table)
    # the test nodes' vectors are never read: scrambling them changes nothing
    vec = emb.vectors.copy()
    rows = np.searchsorted(ids, test)
    vec[rows] = np.random.default_rng(9).standard_normal((rows.size, vec.shape[1]))
    other, _ = cross_validate_classifier(
        Embeddings(ids, vec.astype(np.float32)), labels, ids, train, n_folds=4, Cs=(0.1, 1.0)
    )
    assert other == chosen
    # another seed, other folds: the score moves but stays a mean over the same nodes
    moved, table3 = cross_validate_classifier(
        emb, labels, ids, train, n_folds=4, Cs=(0.1, 1.0), random_state=1
    )
    assert not table3["macro_f1"].equals(table["macro_f1"])


def test_cross_validate_classifier_ranks_an_informative_embedding_above_noise():
    from embeddings.evaluation import cross_validate_classifier

    emb, labels, ids = _labelled_blobs(noise=0.5)
    noise = Embeddings(ids, np.random.default_rng(4).standard_normal((ids.size, 4)).astype("f4"))
    good, _ = cross_validate_classifier(emb, labels, ids, ids, n_folds=5)
    bad, _ = cross_validate_classifier(noise, labels, ids, ids, n_folds=5)
    assert good["macro_f1"] > 0.9 > 0.6 > bad["macro_f1"]


def test_cross_validate_classifier_bad_input():
    from embeddings.evaluation import cross_validate_classifier

    emb, labels, ids = _labelled_blobs(n_per=5)
    with pytest.raises(ValueError, match="n_folds must be an integer >= 2"):
        cross_validate_classifier(emb, labels, ids, ids, n_folds=1)
    with pytest.raises(ValueError, match="duplicate"):
        cross_validate_classifier(emb, labels, ids, np.concatenate([ids, ids[:1]]), n_folds=2)
    with pytest.raises(ValueError, match="too few for 5 folds"):
        cross_validate_classifier(emb, labels, ids, ids[:9], n_folds=5)
    with pytest.raises(ValueError, match="train_nodes: nodes without a label or unknown"):
        cross_validate_classifier(emb, labels, ids, np.array([1, 2, 3, 4]), n_folds=2)
    with pytest.raises(ValueError, match="Cs"):
        cross_validate_classifier(emb, labels, ids, ids, Cs=())
