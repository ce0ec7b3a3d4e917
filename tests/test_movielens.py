"""MovieLens loader (every layout) and fetcher (against a local HTTP server)."""

from __future__ import annotations

import hashlib
import http.server
import io
import threading
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from embeddings.datasets.movielens import (
    ML100K_GENRES,
    VARIANTS,
    detect_layout,
    fetch_movielens,
    load_movielens,
)

# ----------------------------------------------------------------------------- real data


@pytest.fixture(scope="module")
def small(shared_data):
    path = shared_data / "movielens-latest-small"
    if not (path / "ratings.csv").is_file():
        pytest.skip("movielens-latest-small not in the shared data")
    return load_movielens(path)


def test_latest_small_counts(small, shared_data):
    inter = small.interactions
    assert small.variant == "ml-latest-small"
    assert len(inter) == 100836
    assert inter.n_users == 610
    assert inter.n_items == 9724
    assert len(small.side_info) == 9742
    f = inter.frame
    assert f["rating"].min() == 0.5 and f["rating"].max() == 5.0
    assert f["timestamp"].min() == 828124615 and f["timestamp"].max() == 1537799250
    # same rows as a plain pandas read
    raw = pd.read_csv(shared_data / "movielens-latest-small" / "ratings.csv")
    np.testing.assert_array_equal(f["user_id"].to_numpy(), raw["userId"].to_numpy())
    np.testing.assert_array_equal(f["item_id"].to_numpy(), raw["movieId"].to_numpy())
    np.testing.assert_array_equal(f["rating"].to_numpy(), raw["rating"].to_numpy(np.float32))
    # every rated movie has side info
    assert np.isin(inter.item_ids(), small.side_info.item_ids()).all()


def test_latest_small_side_info(small, shared_data):
    side = small.side_info
    assert set(side.fields) == {"genres", "year", "tags"}
    fr = side.frame
    assert fr.loc[1, "genres"] == ("Adventure", "Animation", "Children", "Comedy", "Fantasy")
    assert fr.loc[1, "year"] == ("1995",)
    assert side.titles[1] == "Toy Story (1995)"
    assert "(no genres listed)" not in side.vocabulary("genres")
    assert len(side.vocabulary("genres")) == 19
    movies = pd.read_csv(shared_data / "movielens-latest-small" / "movies.csv")
    no_genre = movies.loc[movies["genres"] == "(no genres listed)", "movieId"]
    assert len(no_genre) > 0
    assert all(fr.loc[i, "genres"] == () for i in no_genre)
    # years: every title ending in "(yyyy)" gives that year, all within a plausible range
    years = [int(y[0]) for y in fr["year"] if y]
    assert len(years) >= 9700 and min(years) >= 1900 and max(years) <= 2018
    # tags: lower-cased, distinct, from tags.csv
    assert fr.loc[60756, "tags"] == ("comedy", "funny", "highly quotable", "will ferrell")
    tags = pd.read_csv(shared_data / "movielens-latest-small" / "tags.csv")
    assert sum(1 for t in fr["tags"] if t) == tags["movieId"].nunique()
    assert all(t == t.lower() for tup in fr["tags"] for t in tup)


# ----------------------------------------------------------------------------- small layouts


def _write(path: Path, text: str, encoding: str = "utf-8") -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(text.encode(encoding))


ML100K_ITEMS = [
    (1, "Toy Story (1995)", "01-Jan-1995", [3, 4, 5]),
    (2, "Am\u00e9lie (2001)", "01-Jan-2001", [5, 14]),
    (3, "Unknown thing", "", [0]),
]


def _ml100k(d: Path, with_genre_file: bool = True) -> Path:
    _write(d / "u.data", "1\t1\t5\t874965758\n1\t2\t3\t876893171\n2\t3\t4\t878542960\n")
    lines = []
    for mid, title, date, flags in ML100K_ITEMS:
        f = ["1" if i in flags else "0" for i in range(19)]
        lines.append("|".join([str(mid), title, date, "", "http://x"] + f))
    _write(d / "u.item", "\n".join(lines) + "\n", "latin-1")
    if with_genre_file:
        _write(d / "u.genre", "".join(f"{g}|{i}\n" for i, g in enumerate(ML100K_GENRES)) + "\n")
    return d


def _ml1m(d: Path) -> Path:
    _write(
        d / "ratings.dat", "1::1193::5::978300760\n1::661::3::978302109\n2::1193::4::978298413\n"
    )
    _write(
        d / "movies.dat",
        "1193::One Flew Over the Cuckoo's Nest (1975)::Drama\n"
        "661::James and the Giant Peach (1996)::Animation|Children's|Musical\n"
        "3::Cit\u00e9 des enfants perdus, La (1995)::Adventure|Sci-Fi\r\n"
        "4::And now\x85 (1990)::Drama\n",
        "latin-1",
    )
    _write(d / "users.dat", "1::F::1::10::48067\n2::M::56::16::70072\n")
    return d


def _ml10m(d: Path) -> Path:
    _write(d / "ratings.dat", "1::122::5::838985046\n1::185::4.5::838983525\n7::122::3::1\n")
    _write(
        d / "movies.dat",
        "122::Boomerang (1992)::Comedy|Romance\n"
        "185::Star Wars: Episode IV - A New Hope (a.k.a. Star Wars) (1977)::Action|Sci-Fi\n"
        "200::Tous les matins du monde (1991)::(no genres listed)\n",
    )
    _write(
        d / "tags.dat",
        "15::122::Dark Comedy::1215184630\n20::185::space::1\n21::185::SPACE ::2\n"
        "22::185::a::b tag::3\n",
    )
    return d


def _mlcsv(d: Path) -> Path:
    _write(
        d / "ratings.csv",
        "userId,movieId,rating,timestamp\n1,1,4.0,964982703\n1,3,4.5,964981247\n5,3,1.0,1\n",
    )
    _write(
        d / "movies.csv",
        "movieId,title,genres\n"
        '1,"American President, The (1995)",Comedy|Drama|Romance\n'
        "3,Am\u00e9lie (2001) ,Comedy\n"
        "4,Babylon 5,(no genres listed)\n"
        "5,Cosmos (1980\u20131981),Documentary\n",
    )
    _write(
        d / "tags.csv",
        'userId,movieId,tag,timestamp\n2,1,Funny,1\n3,1,"funny",2\n3,3,"Paris, France",3\n',
    )
    return d


def test_ml100k(tmp_path):
    ml = load_movielens(_ml100k(tmp_path / "ml-100k"))
    assert ml.variant == "ml-100k"
    f = ml.interactions.frame
    assert f["user_id"].tolist() == [1, 1, 2]
    assert f["item_id"].tolist() == [1, 2, 3]
    assert f["rating"].tolist() == [5.0, 3.0, 4.0]
    assert f["timestamp"].tolist() == [874965758, 876893171, 878542960]
    fr = ml.side_info.frame
    assert fr.loc[1, "genres"] == ("Animation", "Children's", "Comedy")
    assert fr.loc[2, "genres"] == ("Comedy", "Romance")
    assert fr.loc[3, "genres"] == ("unknown",)
    assert fr.loc[1, "year"] == ("1995",) and fr.loc[2, "year"] == ("2001",)
    assert fr.loc[3, "year"] == ()
    assert ml.side_info.titles[2] == "Am\u00e9lie (2001)"  # Latin-1 decoded
    assert all(t == () for t in fr["tags"])


def test_ml100k_custom_genre_file_and_default_list(tmp_path):
    d = _ml100k(tmp_path / "a", with_genre_file=False)
    assert load_movielens(d).side_info.frame.loc[1, "genres"] == (
        "Animation",
        "Children's",
        "Comedy",
    )
    # u.genre decides the names (and their order by index)
    names = [f"G{i}" for i in range(19)]
    _write(d / "u.genre", "".join(f"{g}|{i}\n" for i, g in reversed(list(enumerate(names)))))
    assert load_movielens(d).side_info.frame.loc[1, "genres"] == ("G3", "G4", "G5")


def test_ml1m_latin1(tmp_path):
    ml = load_movielens(_ml1m(tmp_path / "ml-1m"))
    assert ml.variant == "ml-1m"
    f = ml.interactions.frame
    assert f["item_id"].tolist() == [1193, 661, 1193]
    assert f["timestamp"].tolist() == [978300760, 978302109, 978298413]
    side = ml.side_info
    assert side.titles[3] == "Cit\u00e9 des enfants perdus, La (1995)"
    assert side.frame.loc[661, "genres"] == ("Animation", "Children's", "Musical")
    assert side.frame.loc[1193, "year"] == ("1975",)
    assert side.frame.loc[3, "genres"] == ("Adventure", "Sci-Fi")  # CRLF line end
    assert side.titles[4] == "And now\x85 (1990)"  # byte 0x85 is not a line break
    assert side.frame.loc[4, "year"] == ("1990",)


def test_ml10m_tags_and_titles_with_colons(tmp_path):
    ml = load_movielens(_ml10m(tmp_path / "ml-10M100K"))
    assert ml.variant == "ml-10m"
    f = ml.interactions.frame
    assert f["rating"].tolist() == [5.0, 4.5, 3.0]
    fr = ml.side_info.frame
    assert ml.side_info.titles[185].startswith("Star Wars: Episode IV")
    assert fr.loc[185, "year"] == ("1977",)
    assert fr.loc[200, "genres"] == ()
    assert fr.loc[122, "tags"] == ("dark comedy",)
    assert fr.loc[185, "tags"] == ("a::b tag", "space")


def test_csv_layout(tmp_path):
    ml = load_movielens(_mlcsv(tmp_path / "ml-25m"))
    assert ml.variant == "ml-25m"
    assert len(ml.interactions) == 3
    fr = ml.side_info.frame
    assert ml.side_info.titles[1] == "American President, The (1995)"
    assert fr.loc[1, "genres"] == ("Comedy", "Drama", "Romance")
    assert fr.loc[3, "year"] == ("2001",)  # trailing space after the year
    assert fr.loc[4, "year"] == () and fr.loc[4, "genres"] == ()
    assert fr.loc[5, "year"] == ("1980",)
    assert fr.loc[1, "tags"] == ("funny",)
    assert fr.loc[3, "tags"] == ("paris, france",)
    assert fr.loc[4, "tags"] == ()


@pytest.mark.parametrize(
    "dirname, variant",
    [("ml-latest-small", "ml-latest-small"), ("ml-latest", "ml-latest"), ("ml-20m", "ml-20m"),
     ("ml-32m", "ml-32m"), ("mydata", "ml-csv")],
)  # fmt: skip
def test_csv_variant_names(tmp_path, dirname, variant):
    assert load_movielens(_mlcsv(tmp_path / dirname)).variant == variant


def test_csv_without_tags_file(tmp_path):
    d = _mlcsv(tmp_path / "ml-latest-small")
    (d / "tags.csv").unlink()
    assert all(t == () for t in load_movielens(d).side_info.frame["tags"])


@pytest.mark.parametrize("make", [_ml100k, _ml1m, _ml10m, _mlcsv])
def test_directory_one_level_above(tmp_path, make):
    inner = make(tmp_path / "unpacked" / "ml-x")
    found, _ = detect_layout(tmp_path / "unpacked")
    assert found == inner
    assert len(load_movielens(tmp_path / "unpacked").interactions) == 3


# ----------------------------------------------------------------------------- bad input


def test_unrecognised_directory_lists_files(tmp_path):
    _write(tmp_path / "notes.txt", "hello")
    _write(tmp_path / "ratings.json", "{}")
    with pytest.raises(ValueError, match=r"no known layout.*notes\.txt.*ratings\.json"):
        load_movielens(tmp_path)


def test_missing_directory_and_file_instead_of_directory(tmp_path):
    with pytest.raises(FileNotFoundError):
        load_movielens(tmp_path / "nope")
    _write(tmp_path / "f.csv", "a")
    with pytest.raises(ValueError, match="not a directory"):
        load_movielens(tmp_path / "f.csv")


def test_two_datasets_one_level_above(tmp_path):
    _ml1m(tmp_path / "ml-1m")
    _mlcsv(tmp_path / "ml-latest-small")
    with pytest.raises(ValueError, match="several data sets"):
        load_movielens(tmp_path)


def test_missing_movies_file(tmp_path):
    d = _mlcsv(tmp_path / "ml-latest-small")
    (d / "movies.csv").unlink()
    with pytest.raises(ValueError, match=r"movies\.csv missing"):
        load_movielens(d)


def test_missing_columns(tmp_path):
    d = _mlcsv(tmp_path / "ml-latest-small")
    _write(d / "ratings.csv", "userId,movieId,score\n1,1,4\n")
    with pytest.raises(
        ValueError, match=r"ratings\.csv: missing columns \['rating', 'timestamp'\]"
    ):
        load_movielens(d)
    d = _mlcsv(tmp_path / "b" / "ml-latest-small")
    _write(d / "movies.csv", "movieId,name\n1,x\n")
    with pytest.raises(ValueError, match=r"movies\.csv: missing columns \['title', 'genres'\]"):
        load_movielens(d)


def test_truncated_csv_names_file_and_line(tmp_path):
    d = _mlcsv(tmp_path / "ml-latest-small")
    text = (d / "ratings.csv").read_text()
    _write(d / "ratings.csv", text[: text.rindex(",")])  # last line cut before its timestamp
    with pytest.raises(ValueError, match=r"ratings\.csv: line 4: column 'timestamp'.*missing"):
        load_movielens(d)


def test_non_numeric_and_malformed_csv(tmp_path):
    d = _mlcsv(tmp_path / "ml-latest-small")
    _write(d / "ratings.csv", "userId,movieId,rating,timestamp\n1,1,4,5\nbob,1,4,6\n")
    with pytest.raises(
        ValueError, match=r"ratings\.csv: line 3: column 'user_id' is not a number: 'bob'"
    ):
        load_movielens(d)
    _write(d / "ratings.csv", "userId,movieId,rating,timestamp\n1,1,4,5\n1,2,3,4,5,6\n")
    with pytest.raises(ValueError, match=r"ratings\.csv: malformed.*line 3"):
        load_movielens(d)
    _write(d / "ratings.csv", "userId,movieId,rating,timestamp\n1,1.5,4,5\n")
    with pytest.raises(ValueError, match=r"line 2: non-integer item_id"):
        load_movielens(d)
    _write(d / "ratings.csv", "userId,movieId,rating,timestamp\n")
    with pytest.raises(ValueError, match=r"ratings\.csv: no ratings"):
        load_movielens(d)
    _write(d / "ratings.csv", "")
    with pytest.raises(ValueError, match=r"ratings\.csv: empty file"):
        load_movielens(d)


def test_duplicate_movie_ids(tmp_path):
    d = _mlcsv(tmp_path / "ml-latest-small")
    _write(d / "movies.csv", "movieId,title,genres\n1,A (1990),Drama\n1,B (1991),Drama\n")
    with pytest.raises(ValueError, match=r"movies\.csv: duplicate movie ids \[1\]"):
        load_movielens(d)


def test_malformed_dat_files(tmp_path):
    d = _ml1m(tmp_path / "ml-1m")
    _write(d / "ratings.dat", "1::1193::5::978300760\n1::661::3\n")
    with pytest.raises(ValueError, match=r"ratings\.dat: line 2: column 'timestamp'"):
        load_movielens(d)
    _write(d / "ratings.dat", "1::1193::5::978300760\n1,661,3,5\n")
    with pytest.raises(ValueError, match=r"ratings\.dat: line 2"):
        load_movielens(d)
    _ml1m(d)
    _write(d / "movies.dat", "1193::Title only\n", "latin-1")
    with pytest.raises(ValueError, match=r"movies\.dat: line 1: expected 3 '::'-separated"):
        load_movielens(d)
    _write(d / "movies.dat", "x1::T (1990)::Drama\n", "latin-1")
    with pytest.raises(ValueError, match=r"movies\.dat: line 1: movie id 'x1' is not an integer"):
        load_movielens(d)


def test_malformed_100k_files(tmp_path):
    d = _ml100k(tmp_path / "ml-100k")
    lines = (d / "u.item").read_bytes().decode("latin-1").splitlines()
    _write(d / "u.item", lines[0] + "\n" + lines[1][:20] + "\n", "latin-1")  # truncated
    with pytest.raises(ValueError, match=r"u\.item: line 2: expected 24 '\|'-separated fields"):
        load_movielens(d)
    _ml100k(d)
    _write(d / "u.data", "1\t1\t5\t874965758\n1\t2\n")
    with pytest.raises(ValueError, match=r"u\.data: line 2: column 'rating'"):
        load_movielens(d)
    _ml100k(d)
    _write(d / "u.genre", "Action|0\nComedy|2\n")
    with pytest.raises(ValueError, match=r"u\.genre: genre indices"):
        load_movielens(d)


# ----------------------------------------------------------------------------- fetching


def _zip_bytes(make, top: str = "ml-test") -> bytes:
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        root = make(Path(tmp) / top)
        buf = io.BytesIO()
        with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
            for p in sorted(root.rglob("*")):
                zf.write(p, f"{top}/{p.relative_to(root)}")
        return buf.getvalue()


class _Server:
    """Serve ``files`` (path -> bytes) on 127.0.0.1 at a free port; counts requests."""

    def __init__(self, files: dict[str, bytes], lie_length: dict[str, int] | None = None):
        self.files = files
        self.lie_length = lie_length or {}
        self.requests: list[str] = []
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):  # noqa: N802
                outer.requests.append(self.path)
                body = outer.files.get(self.path)
                if body is None:
                    self.send_error(404)
                    return
                self.send_response(200)
                self.send_header("Content-Type", "application/zip")
                self.send_header("Content-Length", str(outer.lie_length.get(self.path, len(body))))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.httpd.shutdown()
        self.httpd.server_close()


def _cache_is_clean(cache: Path, variant: str) -> bool:
    return not (cache / variant).exists() and not any(cache.glob(f".{variant}*"))


def test_fetch_verifies_unpacks_and_caches(tmp_path):
    body = _zip_bytes(_mlcsv)
    sha = hashlib.sha256(body).hexdigest()
    cache = tmp_path / "cache"
    with _Server({"/ml.zip": body}) as srv:
        path = fetch_movielens(
            "ml-test", cache_dir=cache, url=srv.url + "/ml.zip", sha256=sha, progress=False
        )
        assert path == cache / "ml-test"
        assert (path / "ratings.csv").is_file() and not list(cache.glob(".*part"))
        ml = load_movielens(path)
        assert len(ml.interactions) == 3
        again = fetch_movielens("ml-test", cache_dir=cache, url=srv.url + "/ml.zip", sha256=sha)
        assert again == path
        assert srv.requests == ["/ml.zip"]  # the second call used the cache


def test_fetch_unknown_variant_and_env_cache(tmp_path, monkeypatch):
    with pytest.raises(ValueError, match="unknown MovieLens variant 'ml-7m'.*ml-100k"):
        fetch_movielens("ml-7m", cache_dir=tmp_path)
    with pytest.raises(ValueError, match="invalid variant name"):
        fetch_movielens("../evil", cache_dir=tmp_path, url="http://127.0.0.1:1/x.zip")
    body = _zip_bytes(_ml100k, "ml-100k")
    monkeypatch.setenv("EMBRECALL_CACHE", str(tmp_path / "envcache"))
    with _Server({"/a.zip": body}) as srv:
        path = fetch_movielens("ml-100k", url=srv.url + "/a.zip", progress=False)
    assert path == tmp_path / "envcache" / "ml-100k"
    assert load_movielens(path).variant == "ml-100k"


def test_fetch_wrong_checksum_leaves_nothing(tmp_path):
    body = _zip_bytes(_ml1m, "ml-1m")
    cache = tmp_path / "cache"
    with _Server({"/ml-1m.zip": body}) as srv:
        with pytest.raises(ValueError, match="checksum mismatch.*sha256"):
            fetch_movielens(
                "ml-1m", cache_dir=cache, url=srv.url + "/ml-1m.zip", sha256="0" * 64,
                progress=False,
            )  # fmt: skip
    assert _cache_is_clean(cache, "ml-1m")


def test_fetch_truncated_zip_leaves_nothing(tmp_path):
    body = _zip_bytes(_ml10m, "ml-10M100K")
    cache = tmp_path / "cache"
    with _Server({"/cut.zip": body[: len(body) // 2], "/short.zip": body[:-10]},
                 lie_length={"/short.zip": len(body)}) as srv:  # fmt: skip
        with pytest.raises(ValueError, match="corrupt or truncated zip"):
            fetch_movielens("ml-10m", cache_dir=cache, url=srv.url + "/cut.zip", progress=False)
        assert _cache_is_clean(cache, "ml-10m")
        with pytest.raises(ValueError, match="download of .* (truncated|failed)"):
            fetch_movielens("ml-10m", cache_dir=cache, url=srv.url + "/short.zip", progress=False)
        assert _cache_is_clean(cache, "ml-10m")
        with pytest.raises(ValueError, match="download of .* failed.*404"):
            fetch_movielens("ml-10m", cache_dir=cache, url=srv.url + "/none.zip", progress=False)
        assert _cache_is_clean(cache, "ml-10m")


def test_fetch_archive_without_movielens_layout(tmp_path):
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("stuff/readme.txt", "hi")
    cache = tmp_path / "cache"
    with _Server({"/x.zip": buf.getvalue()}) as srv:
        with pytest.raises(ValueError, match="holds no MovieLens layout.*readme.txt"):
            fetch_movielens("ml-x", cache_dir=cache, url=srv.url + "/x.zip", progress=False)
    assert _cache_is_clean(cache, "ml-x")


def test_known_variants_table():
    assert set(VARIANTS) >= {
        "ml-100k", "ml-1m", "ml-10m", "ml-20m", "ml-25m", "ml-32m", "ml-latest-small", "ml-latest"
    }  # fmt: skip
    for name, v in VARIANTS.items():
        assert v.url == f"https://files.grouplens.org/datasets/movielens/{name}.zip"
        assert v.sha256 is None or (len(v.sha256) == 64 and int(v.sha256, 16) >= 0)
        assert v.md5 is None or len(v.md5) == 32
