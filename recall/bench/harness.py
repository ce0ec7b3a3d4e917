"""The one measurement policy that every benchmark of :mod:`recall.bench` shares.

- **Clock.** Wall clock (``time.perf_counter``) is the figure every ratio and target uses; process CPU
  time (``time.process_time``) is recorded beside it, never instead of it.
- **Load.** The 1-minute load average is recorded before and after a run. A timed run refuses to
  start above ``max_load`` (default 0.75 x the cores: 1.5 on 2 cores) unless ``allow_load`` is
  given, in which case the report flags the run as taken on a loaded machine. Quick runs (smoke
  tests) only flag.
- **Warm-up apart.** Every timed callable runs once untimed first; that first call's wall time is
  kept as ``warmup_s`` (numba compilation, caches) and is never added to a build or a query time.
- **Repeats, interleaved.** :func:`interleave` runs the callables A B C, A B C, ... for ``rounds``
  (>= 3) rounds, so every method sees the same moments of the machine; a point reports the median
  with its min-max, and is flagged when its spread ``(max - min) / median`` exceeds 20%.
- **Environment.** :class:`BenchRun` records library versions, thread pools (threadpoolctl, with
  the OpenBLAS core type), numba threads, CPU, the command and the load; :meth:`BenchRun.markdown`
  renders the section every report ends with.
- **Scaffold.** :func:`bench_parser` gives every bench the same options (``--quick``, ``--out``,
  ``--seed``, ``--threads``, ``--max-load``, ``--allow-load``); :func:`start_run` records the run
  from them; :func:`default_out` resolves the output folder from the working directory
  (``./reports/NAME``; a quick run writes to a temporary folder), never from the installed
  package; :func:`write_report` writes the tables, ``results.md`` (ending with the environment
  section) and ``run.json``.
"""

from __future__ import annotations

import argparse
import datetime as _dt
import json
import os
import shlex
import sys
import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from recall.measure import (
    SPREAD_FLAG,
    Timing,
    default_max_load,
    environment_info,
    load_average,
    timed,
)

__all__ = [
    "SPREAD_FLAG",
    "BenchRun",
    "LoadTooHighError",
    "Timing",
    "add_load_arguments",
    "bench_parser",
    "default_max_load",
    "default_out",
    "fmt_range",
    "interleave",
    "load_average",
    "single_thread",
    "start_run",
    "timed",
    "write_report",
]


class LoadTooHighError(RuntimeError):
    """The machine is too busy for a timed run (see ``--allow-load``)."""


def interleave(
    fns: Mapping[str, Callable[[], Any]],
    rounds: int = 3,
    warmup: bool = True,
) -> dict[str, Timing]:
    """Time every callable ``rounds`` times, interleaved (A B C, A B C, ...); one warm-up call each.

    Returns ``{name: Timing}``; ``Timing.warmup_s`` holds the warm-up call's wall seconds.
    """
    if isinstance(rounds, bool) or not isinstance(rounds, int) or rounds < 1:
        raise ValueError(f"rounds must be a positive int, got {rounds!r}")
    if not fns:
        raise ValueError("nothing to time")
    warm: dict[str, float] = {}
    for name, fn in fns.items():
        warm[name] = timed(fn)[1] if warmup else float("nan")
    wall: dict[str, list[float]] = {name: [] for name in fns}
    cpu: dict[str, list[float]] = {name: [] for name in fns}
    for _ in range(rounds):
        for name, fn in fns.items():
            _, w, c = timed(fn)
            wall[name].append(w)
            cpu[name].append(c)
    return {n: Timing(tuple(wall[n]), tuple(cpu[n]), warm[n]) for n in fns}


def fmt_range(median: float, lo: float, hi: float, digits: int = 0, flag: bool = False) -> str:
    """``"1,234 (1,200-1,260)"``, with a warning mark when ``flag``."""
    f = f"{{:,.{digits}f}}"
    s = f"{f.format(median)} ({f.format(lo)}-{f.format(hi)})"
    return s + " ⚠" if flag else s


class single_thread:  # noqa: N801 - used as a context manager, reads like a function
    """Limit BLAS/OpenMP (threadpoolctl), numba and faiss to ``n`` threads inside the block."""

    def __init__(self, n: int = 1) -> None:
        self.n = int(n)

    def __enter__(self) -> single_thread:
        from threadpoolctl import threadpool_limits

        self._limits = threadpool_limits(self.n)
        try:
            import numba

            self._numba = numba.get_num_threads()
            numba.set_num_threads(min(self.n, numba.config.NUMBA_NUM_THREADS))
        except ImportError:  # pragma: no cover
            self._numba = None
        try:
            import faiss

            faiss.omp_set_num_threads(self.n)
        except ImportError:  # pragma: no cover
            pass
        return self

    def __exit__(self, *exc: object) -> None:
        self._limits.restore_original_limits()
        if self._numba is not None:
            import numba

            numba.set_num_threads(self._numba)


@dataclass
class BenchRun:
    """The record every benchmark report shares: command, load before/after, environment, notes.

    ``start`` checks the load: above ``max_load`` a timed run raises :class:`LoadTooHighError`
    unless ``allow_load`` (then it is flagged); a ``quick`` run only flags.
    """

    name: str
    command: str
    quick: bool = False
    max_load: float = field(default_factory=default_max_load)
    allow_load: bool = False
    load_before: tuple[float, float, float] = (float("nan"),) * 3
    load_after: tuple[float, float, float] | None = None
    started: str = ""
    finished: str = ""
    wall_s: float = float("nan")
    env: dict[str, Any] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    _t0: float = 0.0

    @classmethod
    def start(
        cls,
        name: str,
        argv: Sequence[str] | None = None,
        *,
        quick: bool = False,
        max_load: float | None = None,
        allow_load: bool = False,
        program: str | None = None,
    ) -> BenchRun:
        """Record the load and the command (``program`` + ``argv``); refuse a busy machine."""
        args = list(sys.argv[1:] if argv is None else argv)
        prog = program or f"python -m recall.bench.{name}"
        run = cls(
            name=name,
            command=" ".join([prog, *map(shlex.quote, args)]),
            quick=quick,
            max_load=default_max_load() if max_load is None else float(max_load),
            allow_load=allow_load,
        )
        run.load_before = load_average()
        run.started = _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds")
        run._t0 = time.perf_counter()
        if run.load_before[0] > run.max_load:
            msg = (
                f"1-minute load average {run.load_before[0]:.2f} > {run.max_load:.2f} "
                f"({os.cpu_count()} cores)"
            )
            if not (quick or allow_load):
                raise LoadTooHighError(
                    msg + ": timings would measure the other work; wait, or pass --allow-load "
                    "(the report then flags the run)"
                )
            run.notes.append(
                f"**Loaded machine**: {msg} at the start"
                + (" (quick smoke run)" if quick else " (run forced with --allow-load)")
            )
        return run

    @property
    def loaded(self) -> bool:
        """True if the load exceeded ``max_load`` before or after the run."""
        after = self.load_after[0] if self.load_after else float("nan")
        return bool(self.load_before[0] > self.max_load or after > self.max_load)

    def finish(self) -> BenchRun:
        """Record the load after, the wall time and the environment (thread pools as they are)."""
        self.load_after = load_average()
        self.finished = _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds")
        self.wall_s = time.perf_counter() - self._t0
        self.env = environment_info()
        if self.load_after[0] > self.max_load and not any("at the end" in n for n in self.notes):
            self.notes.append(
                f"**Loaded machine**: 1-minute load average {self.load_after[0]:.2f} > "
                f"{self.max_load:.2f} at the end"
            )
        return self

    def load_text(self) -> str:
        b = self.load_before
        a = self.load_after or (float("nan"),) * 3
        return (
            f"load average (1/5/15 min) {b[0]:.2f}/{b[1]:.2f}/{b[2]:.2f} before, "
            f"{a[0]:.2f}/{a[1]:.2f}/{a[2]:.2f} after, on {os.cpu_count()} cores "
            f"(limit {self.max_load:.2f}{', overridden' if self.allow_load else ''})"
        )

    def policy_text(self) -> str:
        """The clock policy, one paragraph, for the top of a report."""
        return (
            "Timing policy: wall clock (`time.perf_counter`) is the figure every ratio and target "
            "uses; CPU time of the process is shown beside it. Every timed call is warmed up "
            "once first (compilation reported apart), then repeated in interleaved rounds "
            "(A B C, A B C, ...); figures are medians with min-max, and a point whose spread "
            f"exceeds {SPREAD_FLAG:.0%} is marked ⚠."
        )

    def header(self, title: str) -> list[str]:
        """Report title, command, load and policy lines."""
        lines = [f"# {title}", "", f"Command: `{self.command}`  ", f"Machine: {self.load_text()}."]
        lines += ["", *[f"> {n}" for n in self.notes], ""] if self.notes else [""]
        lines += [self.policy_text(), ""]
        return lines

    def markdown(self) -> list[str]:
        """The environment section (versions, thread pools, OpenBLAS core type, load, command)."""
        env = self.env or environment_info()
        libs = ", ".join(f"{k} {v}" for k, v in env["libraries"].items() if v != "absent")
        lines = [
            "## Environment",
            "",
            f"- command: `{self.command}`",
            f"- started {self.started}, finished {self.finished}, {self.wall_s:,.0f} s wall",
            f"- {self.load_text()}",
            f"- CPU: {env['cpu']} ({env['cpu_count']} cores); Python {env['python']}; "
            f"{env['platform']}",
            f"- numba threads: {env['numba_threads']}; thread variables: "
            + ", ".join(f"{k}={v}" for k, v in env["env"].items() if v is not None),
            f"- libraries: {libs}",
            "- thread pools (threadpoolctl; `architecture` is the OpenBLAS core type in use):",
            "",
            "| library | API | threads | version | architecture |",
            "|---|---|---|---|---|",
        ]
        for p in env["threadpools"]:
            lines.append(
                f"| {p.get('internal_api')} | {p.get('user_api')} | {p.get('num_threads')} | "
                f"{p.get('version')} | {p.get('architecture')} |"
            )
        return [*lines, ""]

    def to_json(self) -> str:
        d = {k: v for k, v in self.__dict__.items() if not k.startswith("_") and k not in ("env",)}
        d["loaded"] = self.loaded
        d["environment"] = self.env
        return json.dumps(d, indent=1, default=str)


def add_load_arguments(ap: Any) -> None:
    """``--max-load`` and ``--allow-load`` on an argparse parser (every timed bench has them)."""
    ap.add_argument(
        "--max-load",
        type=float,
        default=None,
        help="refuse a timed run above this 1-minute load average (default 0.75 x cores)",
    )
    ap.add_argument(
        "--allow-load",
        action="store_true",
        help="run even on a loaded machine; the report flags it",
    )


def bench_parser(
    name: str,
    description: str,
    *,
    quick_help: str = "small sizes (a smoke test; figures not comparable)",
    seed: int | None = 0,
    threads: int | None = 1,
) -> argparse.ArgumentParser:
    """The options every bench shares: ``--quick``, ``--out``, ``--seed`` (unless ``seed`` is
    None: the bench has fixed seeds), ``--threads`` (unless ``threads`` is None: the bench
    defines its own), ``--max-load``, ``--allow-load``."""
    ap = argparse.ArgumentParser(prog=f"python -m recall.bench.{name}", description=description)
    ap.add_argument("--quick", action="store_true", help=quick_help)
    ap.add_argument(
        "--out",
        type=Path,
        default=None,
        help=f"output folder (default ./reports/{name} in the working directory; "
        "--quick: a temporary folder)",
    )
    if seed is not None:
        ap.add_argument("--seed", type=int, default=seed, help=f"random seed (default {seed})")
    if threads is not None:
        ap.add_argument("--threads", type=int, default=threads, help=f"threads (default {threads})")
    add_load_arguments(ap)
    return ap


def default_out(name: str, quick: bool = False, out: str | os.PathLike | None = None) -> Path:
    """``out`` if given; else ``./reports/NAME`` under the working directory (a quick run:
    ``<tmp>/embrecall-bench-NAME-quick``, so a smoke test never overwrites a committed report)."""
    if out is not None:
        return Path(out)
    if quick:
        return Path(tempfile.gettempdir()) / f"embrecall-bench-{name}-quick"
    return Path.cwd() / "reports" / name


def start_run(name: str, args: argparse.Namespace, argv: Sequence[str] | None) -> BenchRun:
    """:meth:`BenchRun.start` from the shared options of :func:`bench_parser`."""
    return BenchRun.start(
        name,
        argv,
        quick=bool(getattr(args, "quick", False)),
        max_load=getattr(args, "max_load", None),
        allow_load=bool(getattr(args, "allow_load", False)),
    )


def write_report(
    out: str | os.PathLike,
    run: BenchRun,
    lines: Sequence[str],
    tables: Mapping[str, Any] | None = None,
    md_name: str = "results.md",
) -> Path:
    """Write ``tables`` (file name -> pandas DataFrame, as CSV), ``md_name`` (``lines`` followed
    by the environment section) and ``run.json`` into ``out``; returns the Markdown path.

    Call :meth:`BenchRun.finish` first (the load after the run is part of the record)."""
    folder = Path(out)
    folder.mkdir(parents=True, exist_ok=True)
    for fname, df in (tables or {}).items():
        df.to_csv(folder / fname, index=False)
    md = folder / md_name
    md.write_text("\n".join([*lines, "", *run.markdown()]) + "\n", encoding="utf-8")
    (folder / "run.json").write_text(run.to_json(), encoding="utf-8")
    return md
