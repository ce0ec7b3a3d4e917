"""Every notebook runs top to bottom on small data (parameters injected after its parameters
cell), and every cell that draws a plot shows it inline (an image output).

The committed notebooks carry their outputs, figures included, so that a reader sees them on the
repository page without running anything (there is no rendered-docs site): a second test checks
that they were executed top to bottom, that every plotting cell holds its image, and that they
stay small. Refresh them with ``python notebooks/run_all.py`` after changing a notebook.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

nbformat = pytest.importorskip("nbformat")
nbclient = pytest.importorskip("nbclient")
pytest.importorskip("ipykernel")

NB_DIR = Path(__file__).resolve().parent.parent / "notebooks"
#: a cell that draws: a recall.plots function or a pandas .plot call
PLOTTING = re.compile(r"\bplot_\w+\(|\.plot(\.\w+)?\(|plots\.plot_")
MAX_BYTES = 1_500_000  # per committed notebook, outputs included

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
        "RUN": True,
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
                {
                    "name": "dw",
                    "class": "embeddings.trainers:DeepWalk",
                    "params": {"dim": 8, "num_walks": 2, "walk_length": 10, "min_rating": 3.5},
                },
            ],
            "indexes": [
                {"name": "exact", "family": "exact", "class": "recall.exact:ExactIndex"},
                {
                    "name": "simhash",
                    "family": "lsh",
                    "class": "recall.lsh:SimHashIndex",
                    "params": {"n_tables": 2},
                    "search_grid": {"n_probes": [1, 8]},
                },
            ],
        },
    },
}


def notebooks() -> list[Path]:
    return sorted(NB_DIR.glob("*.ipynb"))


def _plotting_cells(book) -> list[int]:
    return [
        i
        for i, c in enumerate(book.cells)
        if c.cell_type == "code"
        and PLOTTING.search(c.source)
        and "parameters" not in c.metadata.get("tags", [])
    ]


def _has_image(cell) -> bool:
    return any("image/png" in out.get("data", {}) for out in cell.get("outputs", []))


def test_every_notebook_has_small_parameters():
    assert {p.name for p in notebooks()} == set(SMALL)


@pytest.mark.parametrize("path", notebooks(), ids=lambda p: p.stem)
def test_committed_notebook_shows_its_figures(path: Path) -> None:
    book = nbformat.read(path, as_version=4)
    code = [c for c in book.cells if c.cell_type == "code"]
    counts = [c.get("execution_count") for c in code]
    assert counts == list(range(1, len(code) + 1)), f"{path.name}: not executed top to bottom"
    assert not [o for c in code for o in c.outputs if o.get("output_type") == "error"]
    missing = [i for i in _plotting_cells(book) if not _has_image(book.cells[i])]
    assert _plotting_cells(book) and not missing, (
        f"{path.name}: plotting cells without image {missing}"
    )
    assert path.stat().st_size < MAX_BYTES, f"{path.name}: {path.stat().st_size} bytes"


@pytest.mark.parametrize("path", notebooks(), ids=lambda p: p.stem)
def test_notebook_runs_and_draws_inline(path: Path, tmp_path: Path) -> None:
    book = nbformat.read(path, as_version=4)
    for cell in book.cells:  # run from clean outputs
        if cell.cell_type == "code":
            cell.outputs, cell.execution_count = [], None
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
    plotting = _plotting_cells(book)
    assert plotting, f"{path.name}: no plotting cell found"
    missing = [
        book.cells[i].source.splitlines()[0] for i in plotting if not _has_image(book.cells[i])
    ]
    assert not missing, f"{path.name}: plotting cells drew nothing inline: {missing}"
    if path.name.startswith("05"):
        assert (tmp_path / "nb05" / "report.md").exists()  # the run went to OUT_DIR
