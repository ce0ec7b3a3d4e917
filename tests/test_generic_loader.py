"""Generic CSV/TSV/Parquet interactions loader with a column mapping."""

from __future__ import annotations

import gzip

import numpy as np
import pandas as pd
import pytest

from embeddings.datasets.generic import load_interactions

MAP = {"user_id": "uid", "item_id": "iid", "rating": "stars", "timestamp": "ts"}


@pytest.fixture
def frame():
    rng = np.random.default_rng(0)
    n = 50
    return pd.DataFrame(
        {
            "uid": rng.integers(0, 10, n),
            "iid": rng.integers(100, 130, n),
            "stars": rng.integers(1, 6, n).astype(float) / 2,
            "ts": np.arange(n) * 7 + 1_000_000,
            "extra": ["x"] * n,
        }
    )


def _check(inter, frame):
    f = inter.frame
    assert list(f.columns) == ["user_id", "item_id", "rating", "timestamp"]
    assert f["user_id"].dtype == np.int64 and f["rating"].dtype == np.float32
    np.testing.assert_array_equal(f["user_id"], frame["uid"])
    np.testing.assert_array_equal(f["item_id"], frame["iid"])
    np.testing.assert_array_equal(f["rating"], frame["stars"].astype(np.float32))
    np.testing.assert_array_equal(f["timestamp"], frame["ts"])


@pytest.mark.parametrize(
    "suffix, sep", [(".csv", ","), (".tsv", "\t"), (".txt", ";"), (".dat", "|")]
)
def test_text_formats_round_trip(tmp_path, frame, suffix, sep):
    p = tmp_path / f"log{suffix}"
    frame.to_csv(p, sep=sep, index=False)
    _check(load_interactions(p, MAP), frame)  # separator from the suffix or sniffed
    _check(load_interactions(p, MAP, sep=sep), frame)


def test_gzip_and_multichar_separator(tmp_path, frame):
    p = tmp_path / "log.csv.gz"
    with gzip.open(p, "wt") as fh:
        frame.to_csv(fh, index=False)
    _check(load_interactions(p, MAP), frame)
    q = tmp_path / "ratings.dat"
    q.write_text(
        "".join(
            f"{u}::{i}::{r}::{t}\n"
            for u, i, r, t in frame[["uid", "iid", "stars", "ts"]].itertuples(index=False)
        )
    )
    inter = load_interactions(
        q, {"user_id": 0, "item_id": 1, "rating": 2, "timestamp": 3}, sep="::", header=False
    )
    _check(inter, frame)


def test_parquet(tmp_path, frame):
    pytest.importorskip("pyarrow")
    p = tmp_path / "log.parquet"
    frame.to_parquet(p)
    _check(load_interactions(p, MAP), frame)
    with pytest.raises(ValueError, match=r"log\.parquet: missing mapped columns \['score'\]"):
        load_interactions(p, {**MAP, "rating": "score"})
    bad = tmp_path / "bad.parquet"
    bad.write_bytes(b"PAR1 this is not parquet")
    with pytest.raises(ValueError, match=r"bad\.parquet: unreadable Parquet"):
        load_interactions(bad, MAP)


def test_optional_rating_and_timestamp(tmp_path, frame):
    p = tmp_path / "implicit.csv"
    frame[["uid", "iid"]].to_csv(p, index=False)
    inter = load_interactions(p, {"user_id": "uid", "item_id": "iid"})
    assert (inter.frame["rating"] == 1.0).all()
    np.testing.assert_array_equal(inter.frame["timestamp"], np.arange(len(frame)))
    inter = load_interactions(
        p, {"user_id": "uid", "item_id": "iid", "rating": None}, rating_default=3.5
    )
    assert (inter.frame["rating"] == 3.5).all()


def test_default_mapping_uses_optional_columns_when_present(tmp_path):
    p = tmp_path / "a.csv"
    p.write_text("user_id,item_id,timestamp\n1,10,500\n2,11,400\n")
    inter = load_interactions(p)
    assert inter.frame["timestamp"].tolist() == [500, 400]
    assert inter.frame["rating"].tolist() == [1.0, 1.0]


def test_date_timestamps(tmp_path):
    p = tmp_path / "a.csv"
    p.write_text("u,i,when\n1,10,1970-01-02T00:00:00Z\n2,11,2020-01-01 00:00:00\n")
    inter = load_interactions(p, {"user_id": "u", "item_id": "i", "timestamp": "when"})
    assert inter.frame["timestamp"].tolist() == [86400, 1577836800]


def test_missing_mapped_columns(tmp_path, frame):
    p = tmp_path / "log.csv"
    frame.to_csv(p, index=False)
    with pytest.raises(
        ValueError, match=r"log\.csv: missing mapped columns \[\"rating->'score'\"\]"
    ):
        load_interactions(p, {**MAP, "rating": "score"})
    with pytest.raises(ValueError, match=r"missing mapped columns.*user_id->'user_id'"):
        load_interactions(p)  # default names absent
    with pytest.raises(ValueError, match=r"'item_id' must be mapped"):
        load_interactions(p, {"user_id": "uid"})
    with pytest.raises(ValueError, match=r"unknown keys \['score'\]"):
        load_interactions(p, {**MAP, "score": "stars"})
    with pytest.raises(ValueError, match="same column"):
        load_interactions(p, {"user_id": "uid", "item_id": "uid"})
    with pytest.raises(ValueError, match="column positions"):
        load_interactions(p, MAP, header=False)


def test_non_numeric_ids_nan_ratings_and_bad_files(tmp_path):
    p = tmp_path / "a.csv"
    p.write_text("u,i\n1,10\nalice,11\n")  # string ids are coded, the labels kept
    inter = load_interactions(p, {"user_id": "u", "item_id": "i"})
    assert inter.user_vocab.labels == ("1", "alice") and inter.item_vocab is None
    p.write_text("u,i\n1,10\n2,11.5\n")
    with pytest.raises(ValueError, match=r"a\.csv: non-numeric or non-integer.*'item_id'.*11\.5"):
        load_interactions(p, {"user_id": "u", "item_id": "i"})
    p.write_text("u,i,r\n1,10,4\n2,11,\n")
    with pytest.raises(ValueError, match=r"a\.csv: non-numeric, NaN or inf ratings at rows \[1\]"):
        load_interactions(p, {"user_id": "u", "item_id": "i", "rating": "r"})
    p.write_text("u,i,t\n1,10,yesterday\n")
    with pytest.raises(ValueError, match="neither numbers nor dates"):
        load_interactions(p, {"user_id": "u", "item_id": "i", "timestamp": "t"})
    p.write_text("u,i\n")
    with pytest.raises(ValueError, match=r"a\.csv: no rows"):
        load_interactions(p, {"user_id": "u", "item_id": "i"})
    p.write_text("")
    with pytest.raises(ValueError, match=r"a\.csv: empty file"):
        load_interactions(p, {"user_id": "u", "item_id": "i"})
    p.write_text("u,i\n1,10\n2,11,5,6\n")
    with pytest.raises(ValueError, match=r"a\.csv: malformed file.*line 3"):
        load_interactions(p, {"user_id": "u", "item_id": "i"})
    with pytest.raises(FileNotFoundError):
        load_interactions(tmp_path / "none.csv")
