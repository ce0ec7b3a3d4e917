"""Every notebook runs top to bottom on small data (parameters injected after its parameters cell)."""

from __future__ import annotations

from pathlib import Path

import pytest

nbformat = pytest.importorskip("nbformat")
nbclient = pytest.importorskip("nbclient")
pytest.importorskip("ipykernel")

NB_DIR = Path(__file__).resolve().parent.parent / "notebooks"

SMALL: dict[str, dict[str, object]] = {
    "01_data_and_sessions.ipynb": {"DATA": "synthetic", "N_USERS": 200, "N_ITEMS": 120},
    "02_item2vec_deepwalk_node2vec.ipynb": {
        "DATA": "synthetic",
        "DIM": 8,
        "EPOCHS": 1,
        "NUM_WALKS": 2,
        "WALK_LENGTH": 10,
        "SYNTHETIC": {"n_users": 200, "n_items": 120},
    },
    "03_eges_cold_start.ipynb": {
        "DATA": "synthetic",
        "DIM": 8,
        "EPOCHS": 1,
        "NUM_WALKS": 2,
        "WALK_LENGTH": 10,
        "SYNTHETIC": {"n_users": 200, "n_items": 120},
    },
    "04_lsh.ipynb": {"N_ITEMS": 3000, "DIM": 16, "N_QUERIES": 100},
    "05_comparison_report.ipynb": {
        "OVERRIDES": {
            "name": "nb05",
            "n_queries": 50,
            "single_query_max": 20,
            "data": {"source": "synthetic", "params": {"n_users": 150, "n_items": 100}},
            "methods": [
                {
                    "name": "i2v",
                    "class": "embeddings.trainers:Item2Vec",
                    "params": {"dim": 8, "epochs": 2, "min_rating": 3.5},
                },
            ],
            "indexes": [
                {"name": "exact", "family": "exact", "class": "recall.exact:ExactIndex"},
                {
                    "name": "simhash",
                    "family": "lsh",
                    "class": "recall.lsh:SimHashIndex",
                    "params": {"n_tables": 2},
                },
            ],
        },
    },
}


def notebooks() -> list[Path]:
    return sorted(NB_DIR.glob("*.ipynb"))


def test_every_notebook_has_small_parameters():
    assert {p.name for p in notebooks()} == set(SMALL)


@pytest.mark.parametrize("path", notebooks(), ids=lambda p: p.stem)
def test_notebook_runs(path: Path, tmp_path: Path) -> None:
    book = nbformat.read(path, as_version=4)
    for cell in book.cells:
        assert cell.cell_type != "code" or not cell.get("outputs"), (
            f"{path.name}: outputs committed"
        )
    params = [i for i, c in enumerate(book.cells) if "parameters" in c.metadata.get("tags", [])]
    assert len(params) == 1, f"{path.name}: needs exactly one cell tagged 'parameters'"
    inject = "\n".join(f"{k} = {v!r}" for k, v in SMALL[path.name].items())
    if path.name.startswith("05"):
        inject += f"\nOUT_DIR = {str(tmp_path)!r}"
    book.cells.insert(params[0] + 1, nbformat.v4.new_code_cell(inject))
    client = nbclient.NotebookClient(
        book, timeout=600, kernel_name="python3", resources={"metadata": {"path": str(NB_DIR)}}
    )
    client.execute()
