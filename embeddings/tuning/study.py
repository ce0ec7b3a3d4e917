"""The Optuna study every search runs in: ``TuneResult``, storages (journal / sqlite), the seeded
TPE sampler with its start-up share (or a seeded grid over ``choices`` spaces), the history table
and its plot."""

from __future__ import annotations

import textwrap
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from embeddings.tuning.spaces import _check_space, _suggest, _to_space


@dataclass
class TuneResult:
    """Outcome of a search.

    Attributes:
        method: the method searched.
        best_params: the best trial's parameters merged with the fixed ones (ready for
            ``make_trainer``).
        best_value: its validation figure.
        best_attrs: what the best trial recorded (e.g. ``mode``: the better query mode).
        history: one row per trial: number, value, state, seconds, best_so_far, the parameters
            (``params_*``) and recorded attributes (``attr_*``).
        study_name, objective: name of the Optuna study and of the figure maximised.
    """

    method: str
    best_params: dict[str, Any]
    best_value: float
    best_attrs: dict[str, Any]
    history: pd.DataFrame
    study_name: str
    objective: str
    extra: dict[str, Any] = field(default_factory=dict)


def _storage(storage: Any) -> Any:
    if storage is None:
        return None
    s = str(storage)
    if s.endswith((".log", ".jsonl")) and "://" not in s:
        from optuna.storages import JournalStorage
        from optuna.storages.journal import JournalFileBackend

        Path(s).parent.mkdir(parents=True, exist_ok=True)
        return JournalStorage(JournalFileBackend(s))
    return storage


@contextmanager
def _quiet_optuna() -> Iterator[None]:
    """Optuna's own logger at WARNING inside our calls (its per-study and per-trial INFO lines
    go to stderr through its own handler); the level the user had is restored on exit, and no
    other logger is touched."""
    import optuna

    verbosity = optuna.logging.get_verbosity()
    optuna.logging.set_verbosity(max(verbosity, optuna.logging.WARNING))
    try:
        yield
    finally:
        optuna.logging.set_verbosity(verbosity)


def _run_study(
    objective: Callable[[dict[str, Any]], tuple[float, dict[str, Any]]],
    method: str,
    space: Mapping[str, Mapping[str, Any]],
    fixed: Mapping[str, Any],
    n_trials: int | None,
    timeout: float | None,
    random_state: int,
    storage: Any,
    study_name: str,
    objective_name: str,
    initial: Any = None,
    sampler: str = "tpe",
) -> TuneResult:
    import optuna

    if n_trials is None and timeout is None and sampler != "grid":  # a grid is its own budget
        raise ValueError("give a budget: n_trials and/or timeout (seconds)")
    if n_trials is not None and (not isinstance(n_trials, int | np.integer) or n_trials < 1):
        raise ValueError(f"n_trials must be an int >= 1, got {n_trials}")
    if timeout is not None and not timeout > 0:
        raise ValueError(f"timeout must be > 0 seconds, got {timeout}")
    if not isinstance(random_state, int | np.integer):
        raise ValueError(
            f"random_state must be an int (it seeds the sampler), got {random_state!r}"
        )
    space = _check_space(space)
    clash = set(space) & set(fixed)
    if clash:
        raise ValueError(f"parameters both searched and fixed: {sorted(clash)}")
    if sampler == "grid":
        grid = _grid(space)
        if initial:
            raise ValueError("initial settings are for TPE; a grid visits every point anyway")
        n_points = int(np.prod([len(v) for v in grid.values()]))
        n_trials = n_points if n_trials is None else min(int(n_trials), n_points)
        study_sampler: Any = optuna.samplers.GridSampler(grid, seed=int(random_state))
    elif sampler == "tpe":
        # TPE starts with random draws (Optuna's default: 10) before it models anything: with a
        # budget of 10-15 trials that is all random search. A third of the budget (3..10) is
        # random.
        startup = 10 if n_trials is None else max(3, min(10, int(n_trials) // 3))
        study_sampler = optuna.samplers.TPESampler(seed=int(random_state), n_startup_trials=startup)
    else:
        raise ValueError(f"sampler must be 'tpe' or 'grid', got {sampler!r}")
    with _quiet_optuna():  # its "A new study created" INFO line, not the user's logging
        study = optuna.create_study(
            study_name=study_name,
            storage=_storage(storage),
            sampler=study_sampler,
            direction="maximize",
            load_if_exists=True,
        )
    if initial and not study.trials:  # a new study evaluates these settings first
        for params in initial:
            study.enqueue_trial(_to_space(params, space))
    done = sum(t.state == optuna.trial.TrialState.COMPLETE for t in study.trials)
    remaining = None if n_trials is None else max(0, int(n_trials) - done)

    def _objective(trial: Any) -> float:
        params = {**_suggest(trial, space), **fixed}
        t0 = time.perf_counter()
        value, attrs = objective(params)
        for k, v in attrs.items():
            trial.set_user_attr(k, v)
        trial.set_user_attr("seconds", time.perf_counter() - t0)
        return value

    if remaining is None or remaining > 0:
        with _quiet_optuna():
            study.optimize(_objective, n_trials=remaining, timeout=timeout, n_jobs=1)
    history = _history(study)
    complete = [t for t in study.trials if t.state == optuna.trial.TrialState.COMPLETE]
    if not complete:
        raise ValueError(f"{method}: no trial finished within the budget")
    best = study.best_trial
    best_params = {k: (None if v == "none" else v) for k, v in best.params.items()} | dict(fixed)
    return TuneResult(
        method=method,
        best_params=best_params,
        best_value=float(best.value),
        best_attrs=dict(best.user_attrs),
        history=history,
        study_name=study.study_name,
        objective=objective_name,
    )


def _grid(space: Mapping[str, Mapping[str, Any]]) -> dict[str, list[Any]]:
    """The grid of a space whose every parameter is a ``choices`` list (ValueError otherwise)."""
    ranged = [name for name, spec in space.items() if "choices" not in spec]
    if ranged:
        raise ValueError(f"a grid search needs choices for every parameter; ranges: {ranged}")
    return {name: list(spec["choices"]) for name, spec in space.items()}


def _history(study: Any) -> pd.DataFrame:
    rows = []
    for t in study.trials:
        row: dict[str, Any] = {
            "number": t.number,
            "value": t.value if t.value is not None else np.nan,
            "state": t.state.name,
        }
        row.update({f"params_{k}": v for k, v in t.params.items()})
        row.update({f"attr_{k}": v for k, v in t.user_attrs.items()})
        rows.append(row)
    df = pd.DataFrame(rows)
    if len(df):
        df["best_so_far"] = df["value"].where(df["state"] == "COMPLETE").cummax()
    return df


def plot_history(
    history: pd.DataFrame,
    title: str | None = None,
    ax: Any = None,
    ylabel: str = "validation value",
) -> Any:
    """Validation value per trial (dots) and best so far (line); returns the ``Figure``."""
    import matplotlib.figure

    if not {"number", "value"} <= set(history.columns):
        raise ValueError("history needs columns number and value (TuneResult.history)")
    if ax is None:
        fig = matplotlib.figure.Figure(figsize=(5.5, 3.5))
        ax = fig.add_subplot(1, 1, 1)
    else:
        fig = ax.figure
    ok = history[history.get("state", "COMPLETE") == "COMPLETE"] if "state" in history else history
    ax.scatter(ok["number"], ok["value"], s=14, alpha=0.7, label="trial")
    ax.plot(ok["number"], ok["value"].cummax(), color="C3", label="best so far")
    ax.set_xlabel("trial")
    # long objective names (e.g. "5-fold cross-validated macro_f1") wrap instead of being cut off
    ax.set_ylabel(textwrap.fill(ylabel, 32), **({"fontsize": 9} if len(ylabel) > 32 else {}))
    if title:
        ax.set_title(title, fontsize=9)
    ax.legend(loc="lower right")
    fig.tight_layout()
    return fig
