"""Run folders: the manifest (``run.json``) of the files a run wrote, the check that a folder's
files come from one run, and the switch-in of a complete staging folder."""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pandas as pd

logger = logging.getLogger(__name__)

#: the checkout holding this code: its commit is recorded beside each run (provenance only;
#: nothing is read from or written to it)
CODE_ROOT = Path(__file__).resolve().parents[2]

# ---------------------------------------------------------------------- run folders
#: the files a run writes that ``report`` reads: recorded with their sha256 in ``run.json``
RUN_FILES: tuple[str, ...] = (
    "config.resolved.json",
    "environment.json",
    "quality.csv",
    "results.csv",
    "tuning.csv",
)
RUN_MANIFEST = "run.json"


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def check_run_folder(folder: str | Path) -> dict[str, Any] | None:
    """Check that the report inputs in ``folder`` all come from one run.

    Returns the run's manifest (``run.json``), or None for a folder written before manifests
    existed. ``ValueError`` if a recorded file is missing or changed, or a report input is present
    that the run did not write (e.g. left by another, killed run).
    """
    folder = Path(folder)
    man_path = folder / RUN_MANIFEST
    if not man_path.is_file():
        check_legacy_folder(folder)
        return None
    try:
        manifest = json.loads(man_path.read_text(encoding="utf-8"))
        files = dict(manifest["files"])
        run_id = str(manifest["run_id"])
    except (ValueError, KeyError, TypeError) as exc:
        raise ValueError(f"{man_path}: corrupt run manifest ({exc})") from exc
    problems = []
    for name in RUN_FILES:
        p = folder / name
        if name in files:
            if not p.is_file():
                problems.append(f"{name} is missing")
            elif sha256_file(p) != files[name]:
                problems.append(f"{name} was changed or written by another run")
        elif p.exists():
            problems.append(f"{name} was not written by this run")
    if problems:
        raise ValueError(
            f"{folder}: files do not all come from run {run_id}: {'; '.join(problems)} "
            "(re-run the experiment into this folder, or into a fresh one)"
        )
    return manifest


def check_legacy_folder(folder: Path) -> None:
    """A folder without ``run.json``: its CSVs must at least name the config's experiment and
    methods (a config left by another run next to older results is refused)."""
    cfg_path = folder / "config.resolved.json"
    if not cfg_path.is_file():
        return
    try:
        cfg = json.loads(cfg_path.read_text(encoding="utf-8"))
        methods = {str(m["name"]) for m in cfg.get("methods", [])}
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        raise ValueError(f"{cfg_path}: unreadable resolved config ({exc})") from exc
    problems = []
    for name, col in (("quality.csv", "method"), ("results.csv", "method")):
        p = folder / name
        if not p.is_file():
            continue
        try:
            found = set(pd.read_csv(p, usecols=[col])[col].astype(str)) - {"popularity"}
        except (ValueError, KeyError) as exc:
            raise ValueError(f"{p}: unreadable ({exc})") from exc
        if found != methods:
            problems.append(f"{name} has methods {sorted(found)}, the config {sorted(methods)}")
    res = folder / "results.csv"
    if res.is_file() and "name" in cfg:
        exp = set(
            pd.read_csv(res, usecols=lambda c: c == "experiment").squeeze("columns").astype(str)
        )
        if exp and exp != {str(cfg["name"])}:
            problems.append(
                f"results.csv is of experiment {sorted(exp)}, the config {cfg['name']!r}"
            )
    if problems:
        raise ValueError(
            f"{folder}: files come from different runs: {'; '.join(problems)} (re-run the "
            "experiment into this folder, or into a fresh one)"
        )


def prepare_run_folder(out: Path) -> None:
    """``out`` may be replaced by the run: it must be absent, empty, or an earlier run's folder."""
    if not out.exists():
        return
    if not out.is_dir():
        raise ValueError(f"{out} exists and is not a folder: choose another --out")
    entries = {p.name for p in out.iterdir()}
    if entries and not ({RUN_MANIFEST, "config.resolved.json"} & entries):
        raise ValueError(
            f"{out} holds files that are not an embrecall run ({sorted(entries)[:5]}): "
            "refusing to replace it; choose another --out"
        )


def switch_in(stage: Path, out: Path, run_id: str) -> None:
    """Make the complete ``stage`` folder ``out``: rename the old one aside, rename the new one
    in, delete the old one. Readers see the old run or the new run, never a mixture."""
    old = None
    if out.exists():
        old = out.parent / f".{out.name}.replaced-{run_id}"
        os.replace(out, old)
    os.replace(stage, out)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


def git_commit() -> dict[str, Any]:
    """The checkout's commit and whether the working tree differs from it (None outside git)."""
    try:
        head = subprocess.run(
            ["git", "-C", str(CODE_ROOT), "rev-parse", "HEAD"],
            capture_output=True, text=True, timeout=10, check=True,
        ).stdout.strip()  # fmt: skip
        dirty = subprocess.run(
            ["git", "-C", str(CODE_ROOT), "status", "--porcelain", "--untracked-files=no"],
            capture_output=True, text=True, timeout=10, check=True,
        ).stdout.strip()  # fmt: skip
    except (OSError, subprocess.SubprocessError):
        return {"commit": None, "dirty": None}
    return {"commit": head or None, "dirty": bool(dirty)}
