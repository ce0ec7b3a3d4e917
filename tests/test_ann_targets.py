"""The ANN target table judges our fastest point and, apart, our fastest point within 2x memory."""

from __future__ import annotations

import pandas as pd

from recall.bench.ann_report import targets


def _point(
    family: str,
    params: str,
    qps: float,
    recall: float,
    memory_mb: float = float("nan"),
    build: float = 5.0,
) -> dict:
    return {
        "family": family,
        "params": params,
        "qps": qps,
        "knn_recall": recall,
        "build_s": build,
        "tune_s": 0.0,
        "build_total_s": build,
        "memory_mb": memory_mb,
        "qps_wrapped": float("nan"),
    }


def _final(capped: dict | None) -> dict:
    out = {
        "ours": _point("ours SimHash", "16 copies", 6800.0, 0.923, memory_mb=1316.0),
        "faiss IndexFlat": _point("faiss IndexFlat", "", 88.0, 1.0),
        "hnswlib": _point("hnswlib", "M=16", 7900.0, 0.912, build=158.0),
    }
    if capped is not None:
        out["ours <= 2x memory"] = capped
    return out


def _points() -> pd.DataFrame:
    pts = pd.DataFrame([{"family": "FALCONN cross-polytope", "knn_recall": 0.919, "qps": 2411.0,
                         "build_params": "L=10", "search_params": "probes=40", "build_total_s": 4.6}])  # fmt: skip
    pts.attrs["vectors_mb"] = 244.0
    return pts


def test_a_capped_point_gets_its_own_rows_and_verdicts() -> None:
    capped = _point("ours SimHash", "1 copy + sketches", 4519.0, 0.932, memory_mb=462.0, build=33.5)
    t = targets(_final(capped), _points())
    assert set(t["point"]) == {"fastest", "fastest within 2x memory"}
    mem = t[t["target"].str.startswith("index memory")].set_index("point")["met"]
    assert not mem["fastest"] and mem["fastest within 2x memory"]
    fal = t[t["target"].str.contains("FALCONN")].set_index("point")
    assert fal.loc["fastest", "met"] and not fal.loc["fastest within 2x memory", "met"]
    assert abs(fal.loc["fastest within 2x memory", "ratio"] - 4519.0 / 2411.0) < 1e-9


def test_no_second_block_when_the_fastest_point_is_within_the_cap() -> None:
    t = targets(_final(None), _points())
    assert set(t["point"]) == {"fastest"}
    same = _final(None)
    same["ours <= 2x memory"] = dict(same["ours"])
    assert set(targets(same, _points())["point"]) == {"fastest"}
