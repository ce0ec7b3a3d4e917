"""The index benchmark of ``embrecall run`` queries the vectors of the chosen query mode
(issue 12): with a recency mode (``u2i:h=H``) or an I2I mode chosen, the index is measured on
the queries that mode searches with (recency-weighted user vectors, the last items' vectors),
not on the plain user vectors; the default ``u2i`` stays the plain user vectors.

Each mode's expected queries are computed here independently, by a loop over each user's
events, and compared with what ``recall.experiment.index.user_queries`` gives and with what the
runner hands to the benchmark.
"""

import textwrap

import numpy as np
import pandas as pd
import pytest

from embeddings import Embeddings
from embeddings.datasets import Interactions
from embeddings.users import user_vectors
from recall.experiment.index import mode_queries, user_queries


def _emb(n_items=40, dim=6, seed=0, first=100):
    rng = np.random.default_rng(seed)
    ids = np.arange(first, first + n_items, dtype=np.int64)
    return Embeddings(ids, rng.standard_normal((n_items, dim)).astype(np.float32), {})


def _log(n_users=30, n_items=40, per_user=9, seed=1, first=100):
    """A log with repeated items and same-second ties; a few events of items without a vector;
    the last row of each user is its test event."""
    rng = np.random.default_rng(seed)
    rows = []
    for u in range(n_users):
        items = rng.choice(n_items + 5, per_user, replace=True) + first  # repeats, unknown ids
        ts = np.sort(rng.integers(0, 30, per_user))  # ties happen
        for i, t in zip(items, ts, strict=True):
            rows.append((u, int(i), float(rng.choice([2.0, 4.0, 5.0])), int(t)))
    frame = pd.DataFrame(rows, columns=["user_id", "item_id", "rating", "timestamp"])
    last = frame.groupby("user_id").tail(1).index
    return (
        Interactions(frame.drop(index=last).reset_index(drop=True), "train"),
        Interactions(frame.loc[last].reset_index(drop=True), "test"),
    )


def _last_items(emb, train, user, n):
    """The user's last ``n`` distinct items with a vector, oldest first (ties: row order)."""
    df = train.frame
    known = emb.has(df["item_id"].to_numpy())
    rows = sorted(
        (int(t), pos, int(i))
        for pos, (u, i, t, k) in enumerate(
            zip(df["user_id"], df["item_id"], df["timestamp"], known, strict=True)
        )
        if u == user and k
    )
    if not rows:
        return []
    if n == 1:
        return [rows[-1][2]]
    latest: dict[int, int] = {}
    for k, (_, _, i) in enumerate(rows):
        latest[i] = k  # the item's latest event
    return sorted(latest, key=latest.get)[-n:]


def test_u2i_recency_queries_are_the_recency_weighted_user_vectors():
    train, test = _log()
    emb = _emb()
    users = np.unique(test.frame["user_id"])
    q, _ = user_queries(emb, train, test, 10_000, 3.5, seed=0, mode="u2i:h=2")
    want = user_vectors(emb, train, min_rating=3.5, half_life=2.0)
    kept = users[want.has(users)]
    np.testing.assert_array_equal(q, want.lookup(kept))
    plain, _ = user_queries(emb, train, test, 10_000, 3.5, seed=0, mode="u2i")
    assert plain.shape == q.shape and not np.allclose(plain, q)  # the mode changes the queries


def test_default_mode_is_the_plain_user_vectors_of_earlier_runs():
    train, test = _log()
    emb = _emb()
    q, tune = user_queries(emb, train, test, 12, 3.5, seed=4)
    plain = user_vectors(emb, train, min_rating=3.5)
    # the earlier sampling, written out: permutation of the test users, then other users
    test_users = np.unique(test.frame["user_id"])
    test_users = test_users[plain.has(test_users)]
    rng = np.random.default_rng(4)
    bench = np.sort(test_users[rng.permutation(test_users.shape[0])[:12]])
    np.testing.assert_array_equal(q, plain.lookup(bench))
    assert tune is None  # fewer than 50 other users


@pytest.mark.parametrize("n", [1, 3])
def test_i2i_queries_are_the_last_items_vectors(n):
    train, test = _log()
    emb = _emb()
    mode = "i2i" if n == 1 else f"i2i:n={n},h=1"
    q, _ = user_queries(emb, train, test, 10_000, 3.5, seed=0, mode=mode)
    want = [
        emb.lookup(_last_items(emb, train, int(u), n))
        for u in np.unique(test.frame["user_id"])
        if _last_items(emb, train, int(u), n)
    ]
    np.testing.assert_array_equal(q, np.concatenate(want))
    owners, _ = mode_queries(emb, train, mode, 3.5)
    assert (np.diff(owners) >= 0).all()
    if n > 1:
        assert np.bincount(owners).max() == n  # several queries per user


def test_query_count_is_capped_and_the_tuning_sample_is_of_other_users():
    train, test = _log(n_users=150)
    emb = _emb()
    q, tune = user_queries(emb, train, test, 60, 3.5, seed=1, mode="i2i:n=3")
    assert q.shape == (60, emb.dim) and tune is not None and tune.shape == (60, emb.dim)
    again = user_queries(emb, train, test, 60, 3.5, seed=1, mode="i2i:n=3")
    np.testing.assert_array_equal(again[0], q)  # same seed, same queries
    np.testing.assert_array_equal(again[1], tune)
    # one row per user (u2i): the tuning users are not the benchmark's
    q, tune = user_queries(emb, train, test, 60, 3.5, seed=1, mode="u2i:h=2")
    owners, vectors = mode_queries(emb, train, "u2i:h=2", 3.5)
    row_of = {v.tobytes(): int(u) for u, v in zip(owners, vectors, strict=True)}
    assert len(row_of) == owners.shape[0]  # every user's vector differs here
    bench_users = {row_of[v.tobytes()] for v in q}
    tune_users = {row_of[v.tobytes()] for v in tune}
    assert len(bench_users) == 60 and len(tune_users) == 60 and not bench_users & tune_users
    assert bench_users <= set(test.frame["user_id"].tolist())


def test_bad_mode_and_no_query_name_the_problem():
    train, test = _log()
    emb = _emb()
    with pytest.raises(ValueError, match="query mode"):
        user_queries(emb, train, test, 10, 3.5, seed=0, mode="x2y")
    other = Embeddings(np.array([1, 2], np.int64), np.eye(2, 6, dtype=np.float32), {})
    with pytest.raises(ValueError, match="no test user has a query in mode 'i2i'"):
        user_queries(other, train, test, 10, 3.5, seed=0, mode="i2i")


RUN = textwrap.dedent(
    """
    name = "modeq"
    seeds = [0]
    k = [5]
    n_queries = 30
    single_query_max = 5
    [data]
    source = "csv"
    path = "{path}"
    [split]
    kind = "leave_last_out"
    min_rating = 3.5
    n_valid = 2
    tie_seed = "run"
    [evaluation]
    e2e_mode = "best"
    query_modes = {modes}
    [[methods]]
    name = "i2v"
    class = "embeddings.trainers:Item2Vec"
    params = {{ mode = "sequence", dim = 8, epochs = 2, min_rating = 3.5, workers = 1 }}
    [[indexes]]
    name = "exact"
    family = "exact"
    class = "recall.exact:ExactIndex"
    params = {{ metric = "cosine" }}
    """
)


@pytest.mark.parametrize("mode", ["u2i:h=1", "i2i"])
def test_the_run_benchmarks_the_index_on_the_chosen_modes_queries(tmp_path, monkeypatch, mode):
    """``embrecall run`` with one query mode offered (so validation must choose it): the
    queries the runner hands to the index benchmark are that mode's vectors for test users,
    none of them a plain user vector."""
    from embeddings.datasets import make_synthetic
    from embeddings.sessions import concat_interactions
    from recall.cli import main
    from recall.experiment import load_config, runner
    from recall.experiment.data import load_data, split_validation
    from recall.experiment.train import train_method

    syn = make_synthetic(n_users=80, n_items=70, n_genres=4, mean_events=15, random_state=2)
    csv = tmp_path / "log.csv"
    syn.interactions.frame.to_csv(csv, index=False)
    cfg = tmp_path / "m.toml"
    cfg.write_text(RUN.format(path=csv, modes=f'["{mode}"]'))
    seen = []
    real = runner.benchmark_indexes

    def spy(emb, queries, *args, **kwargs):
        seen.append(np.array(queries))
        return real(emb, queries, *args, **kwargs)

    monkeypatch.setattr(runner, "benchmark_indexes", spy)
    out = tmp_path / "run"
    assert main(["run", str(cfg), "--out", str(out), "--no-progress", "--no-cache"]) == 0
    (queries,) = seen
    res = pd.read_csv(out / "results.csv")
    assert list(res["e2e_mode"]) == [mode]

    config = load_config(cfg)
    data = load_data(config.raw["data"], 0)
    train, valid, test = split_validation(data.interactions, config.raw["split"], 0)
    fit_on = concat_interactions(train, valid)
    emb, _ = train_method(config.methods[0], fit_on, None, 0, None, {})
    users = np.unique(test.frame["user_id"])
    if mode == "i2i":
        last = [_last_items(emb, fit_on, int(u), 1) for u in users]
        want = np.concatenate([emb.lookup(x) for x in last if x])
    else:
        uv = user_vectors(emb, fit_on, min_rating=3.5, half_life=1.0)
        want = uv.lookup(users[uv.has(users)])
    plain = user_vectors(emb, fit_on, min_rating=3.5).vectors

    def matches(rows, table):
        d = np.abs(rows[:, None, :] - table[None, :, :]).max(axis=2)
        return (d < 1e-6).any(axis=1)

    assert queries.shape == (min(30, want.shape[0]), emb.dim)
    assert matches(queries, want).all()  # every query is a vector of the chosen mode
    # and most are no plain user vector (a user with one positive item has the same vector in
    # both u2i modes, and it may be its last item too)
    assert matches(queries, plain).sum() < queries.shape[0] / 2
