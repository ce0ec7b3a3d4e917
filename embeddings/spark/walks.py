"""DeepWalk / node2vec random walks on a graph held as a partitioned Spark DataFrame, advanced by joins."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from embeddings.spark.frames import require_pyspark
from embeddings.validate import spawn_seeds

if TYPE_CHECKING:  # pragma: no cover
    from pyspark.sql import DataFrame, SparkSession

__all__ = ["graph_to_spark", "spark_random_walks"]


def graph_to_spark(spark: SparkSession, graph: Any, num_slices: int | None = None) -> DataFrame:
    """Spark DataFrame (src bigint, dst bigint, weight double) of the arcs of an ``ItemGraph``
    (node ids, not positions; an undirected graph's edges appear in both directions)."""
    require_pyspark()
    from embeddings.graph import ItemGraph

    if not isinstance(graph, ItemGraph):
        raise ValueError(f"expected an ItemGraph, got {type(graph).__name__}")
    src = graph.node_ids[np.repeat(np.arange(graph.n_nodes), graph.out_degree())]
    dst = graph.node_ids[graph.indices]
    rows = list(zip(src.tolist(), dst.tolist(), graph.weights.astype(np.float64).tolist()))
    rdd = spark.sparkContext.parallelize(rows, num_slices) if num_slices else rows
    return spark.createDataFrame(rdd, schema="src bigint, dst bigint, weight double")


def _uniform_col(seed: int, *cols: Any) -> Any:
    """A double in [0, 1) from the top 53 bits of ``xxhash64(seed, *cols)``: a seeded draw that
    depends only on the values (walk, step), never on partitioning or execution order."""
    from pyspark.sql import functions as F

    h = F.xxhash64(F.lit(seed), *cols)
    return F.shiftrightunsigned(h, 11).cast("double") / float(2**53)


def _adjacency(edges: DataFrame, directed: bool, keep_self_loops: bool) -> DataFrame:
    """Arcs (src, dst, weight) with parallel arcs summed, validated weights."""
    from pyspark.sql import functions as F

    missing = {"src", "dst", "weight"} - set(edges.columns)
    if missing:
        raise ValueError(f"edges need columns src, dst, weight; missing {sorted(missing)}")
    e = edges.select(
        F.col("src").cast("bigint").alias("src"),
        F.col("dst").cast("bigint").alias("dst"),
        F.col("weight").cast("double").alias("weight"),
    )
    if not directed:
        e = e.unionByName(e.select(F.col("dst").alias("src"), F.col("src").alias("dst"), "weight"))
    if not keep_self_loops:
        e = e.where(F.col("src") != F.col("dst"))
    return e.groupBy("src", "dst").agg(F.sum("weight").alias("weight"))


def spark_random_walks(
    spark: SparkSession,
    edges: DataFrame | Any,
    num_walks: int = 10,
    walk_length: int = 80,
    p: float = 1.0,
    q: float = 1.0,
    directed: bool = True,
    keep_self_loops: bool = False,
    random_state: Any = None,
    partitions: int | None = None,
) -> DataFrame:
    """DeepWalk (p = q = 1) or node2vec walks on a graph held as a partitioned Spark DataFrame.

    The walks follow the rules of :func:`embeddings.walks.generate_walks` (same transition
    probabilities, walks stop at nodes without out-arcs, every node with an arc starts
    ``num_walks`` walks) and are advanced one step for all walks at once by joins:

    * first order: each node's arcs, sorted by target, cut ``[0, 1)`` into intervals of length
      ``w / sum(w)`` (window sums); the interval table is exploded over ``deg`` equal buckets, an
      arc appearing in every bucket its interval overlaps (at most ``2 deg`` rows per node). A
      walk at v with draw u joins on ``(v, floor(u deg))`` -- an equi-join with about 2 matches
      -- and keeps the arc whose interval holds u. O(1) expected work per step, exact.
    * second order (p, q not both 1): the walk (t -> v) joins all arcs v -> x, a left join with
      the arcs t -> x marks the neighbours of t, the weights ``w/p`` (x = t), ``w`` (t -> x) or
      ``w/q`` (otherwise) are summed by a window per walk and the draw picks the interval. Work
      per step is the out-degree of the current node (exact; no rejection loop).

    Draws are ``xxhash64(seed, round, start, step)`` mapped to [0, 1): the walks depend only on
    ``random_state`` and the graph, not on partitions or executors. They agree in distribution
    with the local engine, not walk for walk (its random streams differ). Each step's frontier is
    checkpointed (``localCheckpoint``) so the plan stays one step deep.

    Args:
        spark: the session.
        edges: a DataFrame (src, dst, weight) of node ids, or an ``ItemGraph``.
        num_walks, walk_length, p, q: as for ``generate_walks``.
        directed: False adds every arc in the other direction too (ignored for an ItemGraph,
            which already stores both).
        keep_self_loops: keep arcs v -> v (``ItemGraph.from_edges`` drops them by default).
        random_state: int seed (or SeedSequence / Generator / None).
        partitions: partitions of the adjacency and of the walk frontier (default: Spark's
            ``spark.sql.shuffle.partitions``).

    Returns:
        DataFrame (round int, start bigint, walk array<bigint>): one row per walk, the node ids
        in order starting with ``start``.
    """
    require_pyspark()
    from pyspark.sql import Window
    from pyspark.sql import functions as F

    from embeddings.graph import ItemGraph
    from embeddings.walks import _check_positive_float, _check_positive_int

    num_walks = _check_positive_int(num_walks, "num_walks")
    walk_length = _check_positive_int(walk_length, "walk_length")
    p = _check_positive_float(p, "p")
    q = _check_positive_float(q, "q")
    seed = int(spawn_seeds(random_state, 1)[0] % (2**62))
    if isinstance(edges, ItemGraph):
        edges = graph_to_spark(spark, edges)
        directed = True
    parts = int(partitions or int(spark.conf.get("spark.sql.shuffle.partitions")))

    arcs = _adjacency(edges, directed, keep_self_loops).repartition(parts, "src")
    by_src = Window.partitionBy("src").orderBy("dst")
    whole = Window.partitionBy("src")
    arcs = (
        arcs.withColumn("hi", F.sum("weight").over(by_src) / F.sum("weight").over(whole))
        .withColumn("rank", F.row_number().over(by_src))
        .withColumn("deg", F.count(F.lit(1)).over(whole))
        .withColumn("hi", F.when(F.col("rank") == F.col("deg"), F.lit(1.0)).otherwise(F.col("hi")))
        .withColumn("lo", F.coalesce(F.lag("hi", 1).over(by_src), F.lit(0.0)))
    )
    bad = arcs.where(~(F.col("weight") > 0) | F.isnan("weight") | (F.col("weight") == float("inf")))
    if bad.limit(1).count():
        raise ValueError("edge weights must be finite and > 0")
    degree = arcs.select("src", "deg").distinct()
    nodes = (
        arcs.select(F.col("src").alias("node"))
        .union(arcs.select(F.col("dst").alias("node")))
        .distinct()
        .join(degree.withColumnRenamed("src", "node"), "node", "left")
        .select("node", F.coalesce("deg", F.lit(0)).cast("bigint").alias("deg"))
    )
    # arcs with the target's out-degree (0 = dead end), and the bucketed interval table
    arcs = arcs.join(
        degree.select(F.col("src").alias("dst"), F.col("deg").alias("dst_deg")), "dst", "left"
    ).withColumn("dst_deg", F.coalesce("dst_deg", F.lit(0)).cast("bigint"))
    buckets = arcs.withColumn(
        "b",
        F.explode(
            F.sequence(
                F.floor(F.col("lo") * F.col("deg")).cast("bigint"),
                F.least(F.ceil(F.col("hi") * F.col("deg")).cast("bigint") - 1, F.col("deg") - 1),
            )
        ),
    ).select("src", "b", "lo", "hi", "dst", "dst_deg")
    buckets = buckets.repartition(parts, "src", "b").localCheckpoint()
    arcs = arcs.select("src", "dst", "weight", "dst_deg").localCheckpoint()

    rounds = spark.range(num_walks).select(F.col("id").cast("int").alias("round"))
    start = nodes.crossJoin(rounds).select(
        "round", F.col("node").alias("start"), F.col("node").alias("cur"), "deg",
        F.lit(None).cast("bigint").alias("prev"),
    )  # fmt: skip
    frontier = start.where(F.col("deg") > 0).repartition(parts, "round", "start").localCheckpoint()
    steps = [start.select("round", "start", F.lit(0).alias("step"), F.col("cur").alias("node"))]
    second = not (p == 1.0 and q == 1.0)
    key = ["round", "start"]
    for step in range(1, walk_length):
        u = _uniform_col(seed, F.col("round"), F.col("start"), F.lit(step))
        f = frontier.withColumn("u", u)
        if not second or step == 1:
            f = f.withColumn("b", F.floor(F.col("u") * F.col("deg")).cast("bigint"))
            moved = (
                f.join(
                    buckets,
                    (f["cur"] == buckets["src"]) & (f["b"] == buckets["b"]),
                )
                .where((F.col("lo") <= F.col("u")) & (F.col("u") < F.col("hi")))
                .select(
                    *key,
                    F.col("cur").alias("prev"),
                    F.col("dst").alias("cur"),
                    F.col("dst_deg").alias("deg"),
                )  # fmt: skip
            )
        else:
            cand = f.join(arcs, f["cur"] == arcs["src"]).select(
                *key, "prev", "cur", "u", "dst", "weight", "dst_deg"
            )
            near = arcs.select(
                F.col("src").alias("t"), F.col("dst").alias("x"), F.lit(1).alias("adj")
            )
            cand = cand.join(near, (cand["prev"] == near["t"]) & (cand["dst"] == near["x"]), "left")
            bias = (
                F.when(F.col("dst") == F.col("prev"), F.lit(1.0 / p))
                .when(F.col("adj").isNotNull(), F.lit(1.0))
                .otherwise(F.lit(1.0 / q))
            )
            per_walk = Window.partitionBy(*key).orderBy("dst")
            walk_all = Window.partitionBy(*key)
            cand = (
                cand.withColumn("bw", F.col("weight") * bias)
                .withColumn("hi", F.sum("bw").over(per_walk) / F.sum("bw").over(walk_all))
                .withColumn("rank", F.row_number().over(per_walk))
                .withColumn("n", F.count(F.lit(1)).over(walk_all))
                .withColumn("hi", F.when(F.col("rank") == F.col("n"), 1.0).otherwise(F.col("hi")))
                .withColumn("lo", F.coalesce(F.lag("hi", 1).over(per_walk), F.lit(0.0)))
            )
            moved = cand.where((F.col("lo") <= F.col("u")) & (F.col("u") < F.col("hi"))).select(
                *key, F.col("cur").alias("prev"), F.col("dst").alias("cur"),
                F.col("dst_deg").alias("deg"),
            )  # fmt: skip
        moved = moved.repartition(parts, *key).localCheckpoint()
        steps.append(moved.select(*key, F.lit(step).alias("step"), F.col("cur").alias("node")))
        frontier = moved.where(F.col("deg") > 0)
    path = steps[0]
    for s in steps[1:]:
        path = path.unionByName(s)
    return path.groupBy(*key).agg(
        F.transform(
            F.array_sort(F.collect_list(F.struct("step", "node"))), lambda x: x["node"]
        ).alias("walk")
    )
