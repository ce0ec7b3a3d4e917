"""One measurement of the scale benchmark, run in a fresh interpreter (``recall.bench.scale``).

    python recall/bench/scale_children.py TASK PARAMS_JSON   # prints one JSON line

:func:`recall.bench.scale._run_child` runs this file as a script with ``PYTHONPATH`` set to the
checkout under test (this one, or walkspeed's ``--baseline``), so its own imports are the
standard library, numpy and pandas, and every ``embeddings`` / ``recall`` import is inside a
task. The peak resident memory is the child's own ``ru_maxrss``; for Spark (a JVM), the peak
summed RSS of the process tree. The Spark measurements are ``scale_children_spark`` (imported
when one runs); the process readings (RSS, CPU, heap trimming) ``scale_probe``, loaded by its
path beside this file (``recall`` may be another checkout's).
"""

from __future__ import annotations

import importlib.util
import json
import os
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pandas as pd


def _load_probe() -> Any:
    """``scale_probe.py`` beside this file, loaded by its path (standard library only)."""
    name = "embrecall_scale_probe"
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(
            name, Path(__file__).resolve().with_name("scale_probe.py")
        )
        mod = importlib.util.module_from_spec(spec)
        sys.modules[name] = mod
        spec.loader.exec_module(mod)
    return sys.modules[name]


_probe = _load_probe()
_peak_rss_mb = _probe.peak_rss_mb
_rss_now_mb = _probe.rss_now_mb
_cpu_s = _probe.cpu_s
_trim_heap = _probe.trim_heap


def _child_deepwalk(p: dict) -> dict:
    """DeepWalk end to end, or Node2vec when ``p["method"] == "node2vec"`` (with ``p["p"]``,
    ``p["q"]``): read the edge list, walk (streamed), train; times, tokens and peak memory."""
    from embeddings.datasets.graphs import read_edgelist
    from embeddings.trainers import DeepWalk, Node2Vec
    from embeddings.walks import generate_walks

    method = p.get("method", "deepwalk")
    if method not in ("deepwalk", "node2vec"):
        raise ValueError(f"method must be 'deepwalk' or 'node2vec', got {method!r}")
    extra = {"p": float(p["p"]), "q": float(p["q"])} if method == "node2vec" else {}

    t0 = time.perf_counter()
    graph = read_edgelist(p["edges"], directed=False, weighted=True)
    read_s = time.perf_counter() - t0
    _trim_heap()
    generate_walks(graph, 1, 3, start_nodes=[0], progress=False, **extra)  # JIT, not timed
    rss_graph = _peak_rss_mb()
    stream = {"matrix": False}.get(p["stream"], p["stream"])
    model = (Node2Vec if method == "node2vec" else DeepWalk)(
        **extra,
        num_walks=p["num_walks"],
        walk_length=p["walk_length"],
        dim=p["dim"],
        window=p["window"],
        negative=p.get("negative", 5),
        corpus_file=bool(p.get("corpus_file", False)),
        epochs=int(p.get("epochs", 1)),
        **({"alpha": float(p["alpha"])} if p.get("alpha") is not None else {}),
        workers=p["threads"],
        stream=stream,
        trainer=p.get("trainer", "gensim"),
        random_state=0,
        progress=False,
    )
    t0 = time.perf_counter()
    emb = model.fit(graph)
    fit_s = time.perf_counter() - t0
    skipgram_s = emb.meta.get("seconds")
    vocab_s = emb.meta.get("vocab_seconds")  # gensim's vocabulary (compiled scan or its own)
    train_s = None if skipgram_s is None or vocab_s is None else skipgram_s - vocab_s
    huge = emb.meta.get("huge_page_bytes")
    return {
        "method": method,
        # the p, q the trainer recorded (None for DeepWalk): proof the second-order path ran
        "walk_p": (emb.meta.get("trainer_params") or {}).get("p"),
        "walk_q": (emb.meta.get("trainer_params") or {}).get("q"),
        "nodes": graph.n_nodes,
        "arcs": graph.n_edges,
        "epochs": int(p.get("epochs", 1)),
        "skipgram_trainer": emb.meta.get("skipgram_trainer"),
        "corpus_tokens": emb.meta.get("corpus_tokens"),
        "read_s": read_s,
        # streamed walks: walking (and writing the corpus file) happen between read and skip-gram
        "walks_file_s": None if skipgram_s is None else fit_s - skipgram_s,
        "walks_vectors_s": fit_s,
        "walk_s": emb.meta.get("walk_seconds"),
        "skipgram_s": emb.meta.get("seconds"),
        "vocab_s": vocab_s,
        "vocab_scan": emb.meta.get("vocab_scan"),
        "train_s": train_s,
        "train_tokens_per_s": None if not train_s else emb.meta.get("corpus_tokens", 0) / train_s,
        "huge_page_mb": None if huge is None else huge / 2**20,
        "total_s": read_s + fit_s,
        "peak_mb": _peak_rss_mb(),
        "peak_after_read_mb": rss_graph,
        "vectors": int(emb.vectors.shape[0]),
    }


def _child_hugepages(p: dict) -> dict:
    """gensim's skip-gram with and without huge-page weights at a full-size vocabulary.

    Walks the graph at the scale setting and writes the corpus file; the vocabulary is the
    whole file's, training runs on its first ``fraction`` of lines (the random rows touched are
    those of the full run, the time a fraction of it). Variants ``plain`` / ``huge`` alternate
    ``repeats`` times in this one process; each row has wall and CPU seconds of training.
    """
    from gensim.models import Word2Vec

    from embeddings.datasets.graphs import read_edgelist
    from embeddings.walks import WalkCorpus
    from embeddings.word2vec import _move_weights_to_huge_pages
    from embeddings.word2vec_vocab import scan_corpus_file

    graph = read_edgelist(p["edges"], directed=False, weighted=True)
    rows = []
    with tempfile.TemporaryDirectory(dir=p.get("tmp")) as tmp:
        full = Path(tmp) / "walks.txt"
        WalkCorpus(graph, num_walks=p["num_walks"], walk_length=p["walk_length"],
                   workers=p["threads"], random_state=0).to_corpus_file(full)  # fmt: skip
        del graph
        _trim_heap()
        vocab = scan_corpus_file(full)
        part = Path(tmp) / "part.txt"
        with open(full, "rb") as src, open(part, "wb") as dst:
            n_lines = vocab.n_sentences
            for i, line in enumerate(src):
                if i >= max(1, int(n_lines * p["fraction"])):
                    break
                dst.write(line)
        full.unlink()
        part_vocab = scan_corpus_file(part)
        for rep in range(p["repeats"]):
            for variant in ("plain", "huge") if rep % 2 == 0 else ("huge", "plain"):
                model = Word2Vec(vector_size=p["dim"], window=p["window"], min_count=1, sg=1,
                                 hs=0, negative=5, alpha=p["alpha"], min_alpha=1e-4,
                                 workers=p["threads"], seed=1, compute_loss=True)  # fmt: skip
                model.build_vocab_from_freq(vocab.raw_vocab(), corpus_count=vocab.n_sentences)
                moved = _move_weights_to_huge_pages(model) if variant == "huge" else 0
                load = os.getloadavg()[0]
                t0, c0 = time.perf_counter(), _cpu_s()
                model.train(corpus_file=str(part), total_words=part_vocab.n_tokens,
                            total_examples=part_vocab.n_sentences, epochs=1)  # fmt: skip
                wall, cpu = time.perf_counter() - t0, _cpu_s() - c0
                rows.append({"variant": variant, "repeat": rep, "vocabulary": len(vocab.ids),
                             "train_tokens": part_vocab.n_tokens, "train_s": wall,
                             "train_cpu_s": cpu, "tokens_per_s": part_vocab.n_tokens / wall,
                             "tokens_per_cpu_s": part_vocab.n_tokens / cpu,
                             "huge_page_mb": moved / 2**20, "load_before": load})  # fmt: skip
                del model
                _trim_heap()
    return {"rows": rows}


def _word_rate(
    corpus: Any, corpus_file: str | None, tokens: int, dim: int, window: int, workers: int
) -> dict[str, float]:
    """One skip-gram epoch of gensim (our defaults besides ``dim``/``window``), timed apart from
    its vocabulary pass: words per second of the training epoch."""
    from gensim.models import Word2Vec

    from embeddings.params import SkipGramParams

    sg = SkipGramParams()
    model = Word2Vec(
        vector_size=dim, window=window, min_count=sg.min_count, sg=1, hs=0,
        negative=sg.negative, ns_exponent=sg.ns_exponent, sample=sg.sample, alpha=sg.alpha,
        min_alpha=sg.min_alpha, workers=workers, seed=1,
    )  # fmt: skip
    t0 = time.perf_counter()
    if corpus_file is not None:
        model.build_vocab(corpus_file=corpus_file)
    else:
        model.build_vocab(corpus_iterable=corpus)
    vocab_s = time.perf_counter() - t0
    t0, c0 = time.perf_counter(), _cpu_s()
    if corpus_file is not None:
        model.train(corpus_file=corpus_file, total_words=model.corpus_total_words,
                    total_examples=model.corpus_count, epochs=1)  # fmt: skip
    else:
        model.train(corpus_iterable=corpus, total_examples=model.corpus_count, epochs=1)
    train_s, cpu = time.perf_counter() - t0, _cpu_s() - c0
    return {"vocab_s": vocab_s, "epoch_s": train_s, "epoch_cpu_s": cpu,
            "words_per_s": tokens / train_s, "words_per_cpu_s": tokens / cpu}  # fmt: skip


def _child_stages(p: dict) -> dict:
    """Each stage of DeepWalk at scale timed apart, with the resident memory after it.

    read (pandas' C parser, as ``read_edgelist``) -> build (``ItemGraph.from_edges``) -> walks
    (the whole matrix, ``num_walks x walk_length``) -> corpus file (written to ``tmp``) -> one
    skip-gram epoch on a *sample* of the walks (``sample_rounds`` walks per node, each cut to
    its first ``sample_length`` nodes if given, so the vocabulary is the full graph's) for each ``(mode, window)`` in ``variants``: words/s, from
    which the full run's skip-gram time is ``tokens x epochs / words_per_s``.
    """
    import numpy as np

    from embeddings.graph import ItemGraph
    from embeddings.walks import generate_walks, walks_to_corpus_file
    from embeddings.walks.stage import WalkSequences
    from embeddings.word2vec import MAX_SEQUENCE_TOKENS, TokenCorpus

    out: dict[str, Any] = {"rss_start_mb": _rss_now_mb()}
    t0, c0 = time.perf_counter(), _cpu_s()
    df = pd.read_csv(p["edges"], sep="\t", header=None, names=["u", "v", "w"],
                     dtype={"u": np.int64, "v": np.int64, "w": np.float64}, engine="c")  # fmt: skip
    out["read_s"] = time.perf_counter() - t0
    out["read_cpu_s"] = _cpu_s() - c0
    out["rss_after_read_mb"] = _rss_now_mb()
    t0, c0 = time.perf_counter(), _cpu_s()
    graph = ItemGraph.from_edges(df["u"].to_numpy(), df["v"].to_numpy(), df["w"].to_numpy(),
                                 directed=False)  # fmt: skip
    del df
    out["build_s"] = time.perf_counter() - t0
    out["build_cpu_s"] = _cpu_s() - c0
    _trim_heap()
    out["rss_after_build_mb"] = _rss_now_mb()
    out["graph_mb"] = (
        sum(a.nbytes for a in vars(graph).values() if isinstance(a, np.ndarray)) / 2**20
    )
    out.update(nodes=graph.n_nodes, arcs=graph.n_edges)
    generate_walks(graph, 1, 3, start_nodes=[0], progress=False)  # numba compile, not timed
    nw, wl, workers = p["num_walks"], p["walk_length"], p["threads"]
    t0, c0 = time.perf_counter(), _cpu_s()
    walks = generate_walks(graph, nw, wl, workers=workers, random_state=0, progress=False)
    out["walk_s"] = time.perf_counter() - t0
    out["walk_cpu_s"] = _cpu_s() - c0
    out["walk_matrix_mb"] = walks.nbytes / 2**20
    out["rss_after_walks_mb"] = _rss_now_mb()
    tokens = int((walks >= 0).sum())
    out["tokens_per_epoch"] = tokens
    with tempfile.TemporaryDirectory(dir=p.get("tmp")) as tmp:
        walks_to_corpus_file(walks[:1], graph, Path(tmp) / "warm.txt")  # compile, not timed
        path = Path(tmp) / "walks.txt"
        t0, c0 = time.perf_counter(), _cpu_s()
        walks_to_corpus_file(walks, graph, path)
        out["corpus_write_s"] = time.perf_counter() - t0
        out["corpus_write_cpu_s"] = _cpu_s() - c0
        out["corpus_file_mb"] = path.stat().st_size / 2**20
        # the sample: the first ``sample_rounds`` rounds (one walk from every node per round)
        n_sample = graph.n_nodes * int(p.get("sample_rounds", 1))
        sample = np.ascontiguousarray(walks[:n_sample, : p.get("sample_length")])
        del walks
        _trim_heap()
        out["sample_tokens"] = s_tok = int((sample >= 0).sum())
        s_path = Path(tmp) / "sample.txt"
        walks_to_corpus_file(sample, graph, s_path)
        seqs = TokenCorpus(WalkSequences(sample, graph.node_ids), MAX_SEQUENCE_TOKENS)
        for mode, window in p["variants"]:
            r = _word_rate(seqs if mode == "iterable" else None,
                           str(s_path) if mode == "corpus_file" else None,
                           s_tok, p["dim"], window, workers)  # fmt: skip
            for k, v in r.items():
                out[f"{k}_{mode}_w{window}"] = v
            _trim_heap()
    out["peak_mb"] = _peak_rss_mb()
    return out


def _child_quality(p: dict) -> dict:
    """DeepWalk on a labelled graph at named settings and seeds: validation-fold Macro/Micro-F1.

    The node split is ``split_labelled_nodes`` with seed ``split_seed`` (the quality
    benchmark's protocol): the classifier is fit on the fit nodes and scored on the validation
    fold; the test nodes are never read. ``settings`` maps a name to DeepWalk parameters.
    """
    from embeddings.datasets.graphs import load_labelled_graph
    from embeddings.evaluation import node_classification_holdout, split_labelled_nodes
    from embeddings.trainers import DeepWalk

    lg = load_labelled_graph(p["dataset"])  # data_root(required=True): FileNotFoundError
    fit, valid, _test = split_labelled_nodes(
        lg.labels, lg.node_ids, random_state=p.get("split_seed", 0)
    )
    rows = []
    for seed in p["seeds"]:
        for name, params in p["settings"].items():
            t0 = time.perf_counter()
            emb = DeepWalk(**params, workers=p["threads"], random_state=seed,
                           progress=False).fit(lg.graph)  # fmt: skip
            secs = time.perf_counter() - t0
            r = node_classification_holdout(emb, lg.labels, lg.node_ids, fit, valid)
            rows.append({"setting": name, "seed": seed, "train_s": secs,
                         "corpus_tokens": emb.meta.get("corpus_tokens"),
                         "macro_f1": r["macro_f1"], "micro_f1": r["micro_f1"],
                         "n_eval": r["n_eval"]})  # fmt: skip
    return {"rows": rows, "nodes": int(lg.graph.n_nodes), "arcs": int(lg.graph.n_edges)}


def _child_walkspeed(p: dict) -> dict:
    """Walk throughput of the checkout on ``sys.path[0]`` (this one or a baseline)."""
    import numba

    from embeddings.graph import ItemGraph
    from embeddings.walks import generate_walks

    df = pd.read_csv(p["edges"], sep="\t", header=None, names=["u", "v", "w"])
    graph = ItemGraph.from_edges(df["u"], df["v"], df["w"], directed=False)
    del df
    generate_walks(graph, 1, 3, start_nodes=[0], progress=False)
    generate_walks(graph, 1, 3, p=0.5, q=2.0, start_nodes=[0], progress=False)
    out = {}
    for pq in ((1.0, 1.0), (0.5, 2.0)):
        t0 = time.perf_counter()
        w = generate_walks(
            graph, p["num_walks"], p["walk_length"], p=pq[0], q=pq[1],
            workers=p["threads"], random_state=0, progress=False,
        )  # fmt: skip
        out[f"walk_s_p{pq[0]}_q{pq[1]}"] = time.perf_counter() - t0
        out[f"steps_p{pq[0]}_q{pq[1]}"] = int((w >= 0).sum())
        del w
    out["threads"] = numba.get_num_threads()
    return out


def _child_item2vec(p: dict) -> dict:
    from embeddings.datasets.tables import Interactions
    from embeddings.trainers import Item2Vec
    from recall.bench.scale_data import synthetic_interactions

    t0 = time.perf_counter()
    data = Interactions(synthetic_interactions(p["users"], p["items"], p["events"]))
    gen_s = time.perf_counter() - t0
    n_inter = len(data)
    _trim_heap()
    t0 = time.perf_counter()
    emb = Item2Vec(
        mode="sequence", epochs=p["epochs"], workers=p["threads"], random_state=0, progress=False
    ).fit(data)
    return {
        "interactions": n_inter,
        "corpus_tokens": emb.meta.get("corpus_tokens"),
        "generate_s": gen_s,
        "train_s": time.perf_counter() - t0,
        "peak_mb": _peak_rss_mb(),
    }


def _child_search(p: dict) -> dict:
    from recall.bench.datasets import gaussian_mixture
    from recall.exact import ExactIndex, exact_knn, knn_recall
    from recall.lsh import SimHashIndex

    base, queries = gaussian_mixture(p["n"], 32, 200, 1000, random_state=0)
    _trim_heap()
    rss_data = _peak_rss_mb()
    if p["method"] == "exact":
        index = ExactIndex("cosine", threads=p["threads"])
    else:
        index = SimHashIndex("cosine", n_tables=16, n_bits=12, n_probes=16, random_state=0)
    index.build(base[:2000])  # compile (numba) on a small copy, not timed
    index.search(queries[:8], 10)
    t0 = time.perf_counter()
    index.build(base)
    build_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    res = index.search(queries, 10)
    search_s = time.perf_counter() - t0
    peak = _peak_rss_mb()
    out = {"build_s": build_s, "search_s": search_s, "peak_mb": peak, "data_mb": rss_data}
    if p["method"] != "exact":
        truth = exact_knn(base, queries, 10, threads=p["threads"]).ids
        out["knn_recall@10"] = float(knn_recall(res.ids, truth, 10))
    return out


def _spark(name: str) -> Callable[[dict], dict]:
    """The child ``name`` of ``recall.bench.scale_children_spark``, imported when it runs."""

    def child(p: dict) -> dict:
        from recall.bench import scale_children_spark

        return getattr(scale_children_spark, name)(p)

    return child


CHILDREN = {
    "sparkitem2vec": _spark("_child_sparkitem2vec"),
    "sparkwalks": _spark("_child_sparkwalks"),
    "deepwalk": _child_deepwalk,
    "hugepages": _child_hugepages,
    "stages": _child_stages,
    "quality": _child_quality,
    "walkspeed": _child_walkspeed,
    "item2vec": _child_item2vec,
    "search": _child_search,
    "spark": _spark("_child_spark"),
}


if __name__ == "__main__":
    task, params = sys.argv[1], json.loads(sys.argv[2])
    print(json.dumps(CHILDREN[task](params)))
