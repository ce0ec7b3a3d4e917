"""``embrecall data``: synthetic default, a MovieLens directory, and --fetch from a local server."""

from __future__ import annotations

import hashlib
import json

import pytest

from embeddings.datasets import movielens
from recall.cli import main


def _run(capsys, argv):
    code = main(["data", *argv])
    out = capsys.readouterr()
    return code, out.out, out.err


def test_data_synthetic(capsys):
    code, out, _ = _run(capsys, ["--random-state", "3"])
    assert code == 0
    d = json.loads(out)
    assert d["interactions"]["interactions"] > 0 and d["interactions"]["users"] > 0
    assert d["graph"]["nodes"] > 0 and d["sessions"]["sessions"] > 0
    assert "genres" in d["side_info_fields"]


def test_data_movielens_dir(capsys, shared_data):
    path = shared_data / "movielens-latest-small"
    if not path.is_dir():
        pytest.skip("movielens-latest-small not in the shared data")
    code, out, _ = _run(capsys, [str(path), "--min-rating", "3.5"])
    assert code == 0
    d = json.loads(out)
    assert d["interactions"]["interactions"] == 100836
    assert d["interactions"]["users"] == 610
    assert d["interactions"]["items"] == 9724
    assert set(d["side_info_fields"]) == {"genres", "year", "tags"}
    assert d["graph"]["nodes"] <= 9724


def test_data_bad_inputs(capsys, tmp_path):
    (tmp_path / "junk.txt").write_text("x")
    code, _, err = _run(capsys, [str(tmp_path)])
    assert code == 1 and "no known layout" in err and "junk.txt" in err
    code, _, err = _run(capsys, [str(tmp_path / "missing")])
    assert code == 1 and "does not exist" in err
    code, _, err = _run(capsys, ["ml-7m", "--cache-dir", str(tmp_path)])
    assert code == 1 and "unknown MovieLens variant" in err


def test_data_fetch_from_local_server(capsys, tmp_path, monkeypatch):
    from test_movielens import _mlcsv, _Server, _zip_bytes  # tests/ is on sys.path (rootless)

    body = _zip_bytes(_mlcsv, "ml-latest-small")
    cache = tmp_path / "cache"
    with _Server({"/ml-latest-small.zip": body}) as srv:
        monkeypatch.setitem(
            movielens.VARIANTS,
            "ml-latest-small",
            movielens.MovieLensVariant(
                srv.url + "/ml-latest-small.zip", hashlib.sha256(body).hexdigest()
            ),
        )
        code, out, err = _run(capsys, ["--fetch", "ml-latest-small", "--cache-dir", str(cache)])
        assert code == 0, err
        assert "fetched ml-latest-small" in err
        d = json.loads(out)
        assert d["interactions"]["interactions"] == 3
        # by variant name: found in the cache, no second download
        code, out, err = _run(capsys, ["ml-latest-small", "--cache-dir", str(cache)])
        assert code == 0, err
        assert json.loads(out)["interactions"]["users"] == 2
        assert srv.requests == ["/ml-latest-small.zip"]
