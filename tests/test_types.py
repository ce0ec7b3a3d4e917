import numpy as np
import pytest

from embeddings import Embeddings


def make(n=20, d=8, seed=0):
    rng = np.random.default_rng(seed)
    ids = rng.permutation(1000)[:n].astype(np.int64) * 3 + 11
    return Embeddings(
        ids, rng.normal(size=(n, d)).astype(np.float32), {"method": "test", "seed": seed}
    )


def test_dtypes_and_lookup():
    e = make()
    assert e.ids.dtype == np.int64 and e.vectors.dtype == np.float32
    assert e.vectors.flags["C_CONTIGUOUS"]
    pos = e.index_of(e.ids[::-1])
    np.testing.assert_array_equal(pos, np.arange(len(e))[::-1])
    np.testing.assert_array_equal(e.lookup([e.ids[3]]), e.vectors[3:4])


def test_unknown_ids_named():
    e = make()
    with pytest.raises(KeyError, match="-5"):
        e.index_of([e.ids[0], -5])


@pytest.mark.parametrize(
    "ids,vectors,msg",
    [
        ([1, 1], np.zeros((2, 3)), "duplicate ids"),
        ([1, 2, 3], np.zeros((2, 3)), "length 3"),
        ([1, 2], np.array([[0, np.nan, 0], [1, 1, 1]]), "NaN or inf in rows \\[0\\]"),
        ([1, 2], np.array([["a", "b"], ["c", "d"]]), "cannot be cast"),
        ([1.5, 2], np.zeros((2, 3)), "non-integer ids"),
        (["x", "y"], np.zeros((2, 3)), "non-numeric ids"),
    ],
)
def test_bad_input(ids, vectors, msg):
    with pytest.raises(ValueError, match=msg):
        Embeddings(ids, vectors)


def test_npz_round_trip_bit_exact(tmp_path):
    e = make()
    p = e.save(tmp_path / "e.npz")
    f = Embeddings.load(p)
    assert f == e
    assert np.array_equal(f.vectors.view(np.uint32), e.vectors.view(np.uint32))
    assert f.meta == {"method": "test", "seed": 0}


def test_truncated_and_foreign_files(tmp_path):
    e = make()
    p = e.save(tmp_path / "e.npz")
    data = p.read_bytes()
    (tmp_path / "trunc.npz").write_bytes(data[: len(data) // 2])
    with pytest.raises(ValueError, match="truncated|unreadable"):
        Embeddings.load(tmp_path / "trunc.npz")
    np.savez(tmp_path / "foreign.npz", a=np.zeros(3))
    with pytest.raises(ValueError, match="not an embrecall embeddings file"):
        Embeddings.load(tmp_path / "foreign.npz")
    (tmp_path / "text.npz").write_text("hello")
    with pytest.raises(ValueError):
        Embeddings.load(tmp_path / "text.npz")


def test_failed_save_keeps_old_file(tmp_path):
    e = make()
    p = e.save(tmp_path / "e.npz")
    before = p.read_bytes()
    bad = Embeddings(e.ids, e.vectors, {"obj": object()})
    with pytest.raises(ValueError, match="JSON"):
        bad.save(p)
    assert p.read_bytes() == before
    assert [x.name for x in tmp_path.iterdir()] == ["e.npz"]


@pytest.mark.parametrize("binary", [False, True])
def test_word2vec_format_round_trip(tmp_path, binary):
    e = make()
    p = e.save_word2vec_format(tmp_path / "e.w2v", binary=binary)
    f = Embeddings.load_word2vec_format(p, binary=binary)
    np.testing.assert_array_equal(f.ids, e.ids)
    assert np.array_equal(f.vectors, e.vectors)


def test_keyed_vectors_round_trip():
    e = make()
    kv = e.to_keyed_vectors()
    assert kv.index_to_key[0] == str(e.ids[0])
    f = Embeddings.from_keyed_vectors(kv)
    np.testing.assert_array_equal(f.ids, e.ids)
    np.testing.assert_array_equal(f.vectors, e.vectors)


def test_malformed_word2vec_file(tmp_path):
    p = tmp_path / "bad.txt"
    p.write_text("3 4\n1 0.1 0.2\n")
    with pytest.raises(ValueError, match="malformed"):
        Embeddings.load_word2vec_format(p)


def test_saved_files_have_normal_permissions(tmp_path):
    import os

    p = make().save(tmp_path / "e.npz")
    umask = os.umask(0)
    os.umask(umask)
    assert (p.stat().st_mode & 0o777) == (0o666 & ~umask)
