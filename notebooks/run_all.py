"""Execute every notebook in place with its default parameters, so the committed copies carry
their outputs and figures (what a reader sees on the repository page).

    python notebooks/run_all.py [NAME.ipynb ...]

Runs from the notebooks folder; notebooks 02-03 use MovieLens when the shared data folder is
present, the synthetic data otherwise. Takes a few minutes.
"""

from __future__ import annotations

import sys
from pathlib import Path

import nbclient
import nbformat

HERE = Path(__file__).resolve().parent


def main(names: list[str]) -> None:
    paths = [HERE / n for n in names] if names else sorted(HERE.glob("*.ipynb"))
    for path in paths:
        book = nbformat.read(path, as_version=4)
        for cell in book.cells:
            if cell.cell_type == "code":
                cell.outputs, cell.execution_count = [], None
        nbclient.NotebookClient(
            book, timeout=1800, kernel_name="python3", resources={"metadata": {"path": str(HERE)}}
        ).execute()
        nbformat.write(book, path)
        print(f"executed {path.name} ({path.stat().st_size} bytes)")


if __name__ == "__main__":
    main(sys.argv[1:])
