"""Where the shared real data sets live: one resolver for the library, the CLI, benches and tests.

Lookup order (the first that is an existing folder wins):

1. ``$EMBRECALL_DATA``;
2. ``../shared/data`` beside the working directory (``<cwd>/../shared/data``);
3. ``../shared/data`` beside the checkout of this package (``<checkout>/../shared/data``; in a
   site-packages install this folder does not exist and is simply not found).

``data_root()`` returns None when none exists; ``data_root(required=True)`` raises
``FileNotFoundError`` naming every place it looked. A set but missing ``$EMBRECALL_DATA`` is not
silently replaced by a guess: it is the only place looked at.
"""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["ENV_VAR", "data_root", "data_root_candidates"]

#: environment variable naming the shared data folder
ENV_VAR = "EMBRECALL_DATA"

_CHECKOUT = Path(__file__).resolve().parent.parent


def data_root_candidates() -> list[Path]:
    """The folders :func:`data_root` tries, in order (see the module docstring)."""
    env = os.environ.get(ENV_VAR)
    if env:
        return [Path(env).expanduser()]
    out: list[Path] = []
    for base in (Path.cwd().resolve(), _CHECKOUT):
        cand = base.parent / "shared" / "data"
        if cand not in out:
            out.append(cand)
    return out


def data_root(required: bool = False) -> Path | None:
    """The shared data folder: ``$EMBRECALL_DATA``, else ``../shared/data`` beside the working
    directory, else beside the checkout; None when none exists (``required=False``), a
    ``FileNotFoundError`` naming the places looked at when ``required``."""
    cands = data_root_candidates()
    for cand in cands:
        if cand.is_dir():
            return cand
    if required:
        where = ", ".join(str(c) for c in cands)
        raise FileNotFoundError(
            f"shared data folder not found (looked at {where}): set ${ENV_VAR} to the folder "
            "holding the shared data sets, or place it at ../shared/data"
        )
    return None
