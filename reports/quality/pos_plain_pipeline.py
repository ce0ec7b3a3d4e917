"""The independent POS pipeline behind the variant table of ``node_classification.md``.

It shares no code with embrecall on purpose: ``scipy.io.loadmat``, vectorised first-order walks
written here, gensim skip-gram, scikit-learn one-vs-rest liblinear logistic regression, 3 random
50% splits, top-k prediction (k = the node's number of labels). Each line printed: Micro-F1 /
Macro-F1 over all columns / Macro-F1 over the classes present in the test labels or predictions.

    python reports/quality/pos_plain_pipeline.py [path/to/POS.mat]   # ~1-2 min per variant
"""

from __future__ import annotations

import os
import sys
import time
import warnings

import numpy as np
import scipy.io
import scipy.sparse as sp
from gensim.models import Word2Vec
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import f1_score
from sklearn.multiclass import OneVsRestClassifier
from sklearn.preprocessing import StandardScaler


def walks(a: sp.csr_matrix, weighted: bool, seed: int, n_walks: int = 10, length: int = 80):
    """(n * n_walks, length) int64 first-order walks from every node, weighted or uniform."""
    rng = np.random.default_rng(seed)
    a = sp.csr_matrix(a)
    a.sort_indices()
    n, indptr, ind = a.shape[0], a.indptr, a.indices
    w = a.data if weighted else np.ones_like(a.data)
    deg = np.diff(indptr)
    cum = np.cumsum(w)
    start = np.concatenate([[0.0], cum])[indptr[:-1]]
    strength = np.concatenate([[0.0], cum])[indptr[1:]] - start
    out = np.empty((n * n_walks, length), np.int64)
    for r in range(n_walks):
        cur = rng.permutation(n)
        out[r * n : (r + 1) * n, 0] = cur
        for t in range(1, length):
            u = rng.random(n)
            if weighted:
                pos = np.searchsorted(cum, start[cur] + u * strength[cur], side="right")
            else:
                pos = indptr[cur] + (u * deg[cur]).astype(np.int64)
            pos = np.clip(pos, indptr[cur], np.maximum(indptr[cur + 1] - 1, indptr[cur]))
            cur = np.where(deg[cur] > 0, ind[np.minimum(pos, ind.size - 1)], cur)
            out[r * n : (r + 1) * n, t] = cur
    return out


def embed(w: np.ndarray, n: int, window: int, epochs: int, sample: float) -> np.ndarray:
    sentences = [[str(x) for x in row] for row in w.tolist()]
    m = Word2Vec(sentences, vector_size=128, window=window, min_count=0, sg=1, hs=0, negative=5,
                 sample=sample, epochs=epochs, workers=1, seed=0)  # fmt: skip
    x = np.zeros((n, 128), np.float32)
    for i in range(n):
        if str(i) in m.wv:
            x[i] = m.wv[str(i)]
    return x


def evaluate(x: np.ndarray, y: np.ndarray, c: float, standardise: bool) -> tuple[float, ...]:
    n_labels = y.sum(1).astype(int)
    labelled = np.flatnonzero(n_labels > 0)
    out = []
    for split in range(3):
        perm = np.random.default_rng(1000 + split).permutation(labelled)
        tr, te = perm[: len(perm) // 2], perm[len(perm) // 2 :]
        z = StandardScaler().fit(x[tr]).transform(x) if standardise else x
        clf = OneVsRestClassifier(LogisticRegression(C=c, solver="liblinear", max_iter=1000))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            clf.fit(z[tr], y[tr])
            scores = clf.decision_function(z[te])
        pred = np.zeros(scores.shape, int)
        order = np.argsort(-scores, axis=1)
        for i, k in enumerate(n_labels[te]):
            pred[i, order[i, :k]] = 1
        truth = y[te]
        present = np.flatnonzero(truth.sum(0) + pred.sum(0) > 0)
        out.append((
            f1_score(truth, pred, average="micro"),
            f1_score(truth, pred, average="macro", zero_division=0),
            f1_score(truth, pred, average="macro", labels=present, zero_division=0),
        ))  # fmt: skip
    return tuple(np.round(np.mean(out, axis=0), 4))


VARIANTS = {
    "base": {},
    "walks ignore the weights": {"weighted": False},
    "sample 0": {"sample": 0.0},
    "unweighted walks and sample 0": {"weighted": False, "sample": 0.0},
    "self-loops kept": {"self_loops": True},
    "2 epochs": {"epochs": 2},
    "window 5": {"window": 5},
}

if __name__ == "__main__":
    path = sys.argv[1] if len(sys.argv) > 1 else "../shared/data/graph-node2vec-mat/POS.mat"
    mat = scipy.io.loadmat(path)
    a = sp.csr_matrix(mat["network"], dtype=np.float64)
    y = (sp.csr_matrix(mat["group"]).toarray() != 0).astype(np.int8)
    for name, change in VARIANTS.items():
        p = {"weighted": True, "self_loops": False, "sample": 1e-3, "epochs": 1, "window": 10}
        p.update(change)
        t0 = time.perf_counter()
        g = a.copy()
        if not p["self_loops"]:
            g.setdiag(0)
            g.eliminate_zeros()
        x = embed(walks(g, p["weighted"], 0), a.shape[0], p["window"], p["epochs"], p["sample"])
        secs = time.perf_counter() - t0
        cells = {f"C={c}{' std' if s else ''}": evaluate(x, y, c, s)
                 for c, s in ((1.0, False), (10.0, False), (100.0, False), (1.0, True))}  # fmt: skip
        print(f"{name}: {cells} train {secs:.0f} s, load {os.getloadavg()[0]:.1f}", flush=True)
