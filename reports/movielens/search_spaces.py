"""Search spaces from evidence (issue 12): which hyperparameters mattered in a run's searches.

    python reports/movielens/search_spaces.py JOURNAL [--calibrate] [--permutations 19]

Reads every completed trial of the ``movielens-*`` studies in a search journal (a ``.log``
journal file; open a copy, never the file a run is writing) and writes ``search_spaces.md`` and
``search_spaces.csv`` beside this file. Only validation figures are read (each trial's value is
its best query mode's validation HR@10); the test split is never touched.

Per method, pooled over the seeds (each seed its own search on its own validation split):

- **fANOVA importance** (Optuna's ``FanovaImportanceEvaluator``, not normalised: the share of
  the variance of the validation figure explained by the parameter alone, a random forest over
  the trials), with a **permutation null**: the same computation on the trials with their
  values shuffled, ``--permutations`` times. A parameter *matters* when its importance is above
  every one of its shuffled importances (one-sided p < 1 / (permutations + 1) = 0.05 at 19).
  The per-seed fANOVA (20 trials each) and PedANOVA (top quartile against all trials) are shown
  beside it as a second opinion, not used in the rule.
- **Top quartile**: the trials whose value is at least the 75th percentile of the method's
  trials; for a number its range and median, for a choice the count of each value (against the
  count among all trials).
- **Proposal**: a parameter that matters keeps being searched, over the top quartile's range
  widened by a margin (a third of the searched width on a linear scale, a factor 1.5 on a log
  scale, within the old bounds); a choice that matters keeps the values the top quartile
  holds, or is fixed at the one value it holds. A parameter that does not matter is fixed at
  the value of the best trial (over all seeds). Exceptions, said in the table: node2vec keeps
  p and q (its definition; without them it is DeepWalk) with 1 inside their range, and
  node2vec's space contains DeepWalk's (same fixed values, ranges that contain DeepWalk's), so
  that ``[tuning] warm_start`` can still start node2vec from DeepWalk's chosen setting.

``--calibrate`` retrains each method's best trial once on seed 0's split (the trial's own
seed), timing the fit and the validation scoring in the journal's two plain modes and in the
config's ``[evaluation] query_modes``, so that the journal's (loaded) trial durations can be
scaled into a wall-time estimate of the next run; the load average is recorded beside.
"""

from __future__ import annotations

import argparse
import math
import os
import sys
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
sys.path.insert(0, str(HERE))
from three_seeds import parse_study_name  # noqa: E402  (the runner's study names)

#: config method name (``[[methods]] name``) -> ``[tuning]`` key (``embeddings.tuning.METHODS``)
TUNING_KEY = {"item2vec-seq": "item2vec-sequence"}
#: parameters a method keeps whatever the evidence (why: in the module docstring)
ALWAYS_KEEP = {"node2vec": ("p", "q")}
#: (outer, inner): outer's space must contain inner's (``[tuning] warm_start``)
CONTAINS = (("node2vec", "deepwalk"),)


# ------------------------------------------------------------------------ the trials
def load_trials(journal: str, config: str = "movielens") -> dict[str, list[tuple[int, Any]]]:
    """Completed trials per method: ``{method: [(seed, FrozenTrial), ...]}`` from every study
    of ``config`` in the journal (study names as the runner writes them)."""
    import optuna

    from embeddings.tuning.study import _storage

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    storage = _storage(journal)
    out: dict[str, list[tuple[int, Any]]] = {}
    for summary in optuna.study.get_all_study_summaries(storage):
        parsed = parse_study_name(summary.study_name)
        if parsed is None or parsed["config"] != config:
            continue
        study = optuna.load_study(study_name=summary.study_name, storage=storage)
        done = [t for t in study.trials if t.state == optuna.trial.TrialState.COMPLETE]
        out.setdefault(parsed["method"], []).extend((parsed["seed"], t) for t in done)
    if not out:
        raise ValueError(f"{journal}: no completed trial of a '{config}-*' study")
    return dict(sorted(out.items()))


def trial_table(trials: list[tuple[int, Any]]) -> pd.DataFrame:
    """One row per trial: seed, number, value, seconds (wall clock of the trial), params."""
    rows = []
    for seed, t in trials:
        secs = (t.datetime_complete - t.datetime_start).total_seconds()
        rows.append(
            {"seed": seed, "number": t.number, "value": t.value, "seconds": secs, **t.params}
        )
    return pd.DataFrame(rows)


def _distributions(trials: list[tuple[int, Any]]) -> dict[str, Any]:
    dists: dict[str, Any] = {}
    for _, t in trials:
        for k, d in t.distributions.items():
            dists.setdefault(k, d)
    return dists


def _study_of(trials: list[Any], values: np.ndarray | None = None) -> Any:
    import optuna

    study = optuna.create_study(direction="maximize")
    for i, t in enumerate(trials):
        v = float(t.value) if values is None else float(values[i])
        study.add_trial(
            optuna.trial.create_trial(params=t.params, distributions=t.distributions, value=v)
        )
    return study


def importances(trials: list[Any], kind: str = "fanova", values: Any = None) -> dict[str, float]:
    """Unnormalised importance of each parameter over ``trials`` (FrozenTrials; ``values``
    replaces their values, e.g. shuffled): ``fanova`` (share of variance, seed 0) or
    ``pedanova`` (top quartile against all trials)."""
    import warnings

    import optuna

    if kind == "fanova":
        ev: Any = optuna.importance.FanovaImportanceEvaluator(seed=0)
    elif kind == "pedanova":
        ev = optuna.importance.PedAnovaImportanceEvaluator(target_quantile=0.25)
    else:
        raise ValueError(f"kind must be 'fanova' or 'pedanova', got {kind!r}")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "normalize is experimental"
        imp = optuna.importance.get_param_importances(
            _study_of(trials, values), evaluator=ev, normalize=False
        )
    return {k: float(v) for k, v in imp.items()}


def null_importances(trials: list[Any], n: int, random_state: int = 0) -> pd.DataFrame:
    """fANOVA importances with the trials' values shuffled: one row per shuffle."""
    rng = np.random.default_rng(random_state)
    values = np.array([t.value for t in trials], dtype=float)
    return pd.DataFrame([importances(trials, "fanova", rng.permutation(values)) for _ in range(n)])


# ------------------------------------------------------------------------ the evidence
def _is_choice(dist: Any) -> bool:
    return type(dist).__name__ == "CategoricalDistribution"


def _fmt(v: Any) -> str:
    if isinstance(v, bool) or isinstance(v, str):
        return str(v).lower() if isinstance(v, bool) else v
    if isinstance(v, float | np.floating):
        if float(v).is_integer() and abs(v) < 1e6:
            return str(int(v))
        return f"{float(v):.0f}" if abs(v) >= 100 else f"{float(v):.3g}"
    return str(v)


def evidence(
    method: str,
    trials: list[tuple[int, Any]],
    n_perm: int,
    kind: str = "fanova",
) -> pd.DataFrame:
    """One row per searched parameter of ``method``: importance (pooled, per seed, null, p),
    PedANOVA, the top quartile's range or counts, the best trial's value, ``matters``."""
    df = trial_table(trials)
    dists = _distributions(trials)
    frozen = [t for _, t in trials]
    pooled = importances(frozen, kind)
    ped = importances(frozen, "pedanova")
    per_seed = {
        s: importances([t for ss, t in trials if ss == s], kind) for s in sorted(set(df["seed"]))
    }
    null = null_importances(frozen, n_perm) if n_perm else pd.DataFrame(columns=list(dists))
    q75 = float(df["value"].quantile(0.75))
    top = df[df["value"] >= q75]
    best_seed, best = max(trials, key=lambda st: st[1].value)  # the trial's own param types
    rows = []
    for name, dist in dists.items():
        imp = pooled.get(name, 0.0)
        nul = null[name].to_numpy(float) if name in null else np.zeros(0)
        p = (1 + int((nul >= imp).sum())) / (1 + nul.size) if nul.size else float("nan")
        row: dict[str, Any] = {
            "method": method,
            "param": name,
            "importance": imp,
            "null_max": float(nul.max()) if nul.size else float("nan"),
            "p": p,
            "matters": bool(nul.size and (nul < imp).all()),
            "pedanova": ped.get(name, 0.0),
            **{f"importance_s{s}": v.get(name, 0.0) for s, v in per_seed.items()},
            "best": best.params.get(name),
            "best_value": float(best.value),
            "best_seed": int(best_seed),
            "q75": q75,
            "n_trials": len(df),
            "n_top": len(top),
        }
        if _is_choice(dist):
            row["choices"] = list(dist.choices)
            row["all_counts"] = df[name].astype(str).value_counts().to_dict()
            row["top_counts"] = top[name].astype(str).value_counts().to_dict()
        else:
            row["low"], row["high"], row["log"] = dist.low, dist.high, bool(dist.log)
            row["int"] = type(dist).__name__ == "IntDistribution"
            row["top_low"], row["top_high"] = float(top[name].min()), float(top[name].max())
            row["top_median"] = float(top[name].median())
        rows.append(row)
    return pd.DataFrame(rows).sort_values("importance", ascending=False, ignore_index=True)


# ------------------------------------------------------------------------ the proposal
def _round_out(x: float, up: bool) -> float:
    """``x`` rounded outward to 2 significant digits (down for a low bound, up for a high)."""
    if x == 0 or not math.isfinite(x):
        return x
    e = math.floor(math.log10(abs(x))) - 1
    f = 10.0**e
    return float(f"{(math.ceil(x / f) if up else math.floor(x / f)) * f:.12g}")


def _widen(r: Mapping[str, Any]) -> tuple[float, float]:
    """The top quartile's range widened by the margin, rounded outward, within the old bounds."""
    lo, hi = float(r["top_low"]), float(r["top_high"])
    if r["log"]:
        lo, hi = lo / 1.5, hi * 1.5
    else:
        pad = (float(r["high"]) - float(r["low"])) / 6.0  # a third of the width, both sides
        lo, hi = lo - pad, hi + pad
    if r["int"]:
        lo, hi = math.floor(lo), math.ceil(hi)
    else:
        lo, hi = _round_out(lo, up=False), _round_out(hi, up=True)
    return max(lo, float(r["low"])), min(hi, float(r["high"]))


def propose(ev: pd.DataFrame, keep_always: tuple[str, ...] = ()) -> dict[str, dict[str, Any]]:
    """``{param: {"space": spec} or {"fixed": value}, "why": text}`` from ``evidence``."""
    out: dict[str, dict[str, Any]] = {}
    for r in ev.to_dict("records"):
        name = r["param"]
        imp = f"fANOVA {r['importance']:.3f} vs shuffled max {r['null_max']:.3f}"
        keep = r["matters"] or name in keep_always
        why = imp if r["matters"] else f"{imp}; kept all the same: {name} defines the method"
        if not keep:
            out[name] = {"fixed": r["best"], "why": f"{imp}: does not matter; best trial's value"}
        elif "choices" in r and isinstance(r.get("choices"), list):
            held = [c for c in r["choices"] if str(c) in r["top_counts"]]
            if len(held) == 1:
                out[name] = {"fixed": held[0], "why": f"{why}; the top quartile holds only it"}
            else:
                out[name] = {"space": {"choices": held}, "why": f"{why}; top-quartile values"}
        else:
            lo, hi = _widen(r)
            if name in keep_always:
                lo, hi = min(lo, 1.0), max(hi, 1.0)  # p = q = 1 is DeepWalk
            kind = "int" if r["int"] else "float"
            lo_v: Any = int(lo) if r["int"] else lo
            hi_v: Any = int(hi) if r["int"] else hi
            spec: dict[str, Any] = {kind: [lo_v, hi_v]}
            if r["log"]:
                spec["log"] = True
            edge = " (top quartile at the old upper bound)" if r["top_high"] >= r["high"] else ""
            out[name] = {"space": spec, "why": f"{why}; top quartile {_range(r)}{edge}"}
    return out


def _range(r: Mapping[str, Any]) -> str:
    return f"[{_fmt(r['top_low'])}, {_fmt(r['top_high'])}] (median {_fmt(r['top_median'])})"


def contain(outer: dict[str, Any], inner: dict[str, Any], inner_name: str) -> dict[str, Any]:
    """``outer``'s proposal changed so that every setting of ``inner``'s proposal lies in it:
    a parameter fixed in both takes inner's value; one searched in inner is searched in outer
    over the hull of both ranges (or the union of choices); one fixed in inner and searched in
    outer has inner's value added to outer's range."""
    out = {k: dict(v) for k, v in outer.items()}
    for name, iv in inner.items():
        ov = out.get(name)
        if ov is None:
            continue
        note = f"; contains {inner_name}'s"
        if "fixed" in iv and "fixed" in ov:
            out[name] = {"fixed": iv["fixed"], "why": ov["why"] + f"; {inner_name}'s fixed value"}
        elif "space" in iv and "fixed" in ov:
            out[name] = {
                "space": dict(iv["space"]),
                "why": ov["why"] + f"; searched as in {inner_name}",
            }
        elif "space" in ov:
            sp = dict(ov["space"])
            vals = [iv["fixed"]] if "fixed" in iv else None
            if "choices" in sp:
                extra = vals if vals is not None else iv["space"]["choices"]
                sp["choices"] = list(dict.fromkeys([*sp["choices"], *extra]))
            else:
                kind = "int" if "int" in sp else "float"
                lo, hi = sp[kind]
                other = vals * 2 if vals is not None else iv["space"][kind]
                sp[kind] = [min(lo, other[0]), max(hi, other[1])]
            out[name] = {"space": sp, "why": ov["why"] + note}
    return out


def toml_tables(method: str, key: str, proposal: Mapping[str, Any], dim: int = 32) -> str:
    """The ``[tuning.space.<key>]`` / ``[tuning.fixed.<key>]`` tables of a proposal."""

    def val(v: Any) -> str:
        if isinstance(v, bool):
            return "true" if v else "false"
        if isinstance(v, str):
            return f'"{v}"'
        if isinstance(v, float) and v.is_integer() and abs(v) < 1e6:
            return str(int(v))
        if isinstance(v, float):
            return f"{v:.3g}"
        return str(v)

    def spec(s: Mapping[str, Any]) -> str:
        kind = next(k for k in ("int", "float", "choices") if k in s)
        body = f"{kind} = [{', '.join(val(x) for x in s[kind])}]"
        return "{ " + body + (", log = true" if s.get("log") else "") + " }"

    # TOML has no None, and [tuning.fixed] values reach the trainer as written: a value fixed
    # at None ("none") is a one-choice dimension of the space (decoded like any choice)
    searched = {k: v["space"] for k, v in proposal.items() if "space" in v}
    searched |= {k: {"choices": ["none"]} for k, v in proposal.items() if v.get("fixed") == "none"}
    lines = [f"[tuning.space.{key}]"]
    lines += [f"{k} = {spec(v)}" for k, v in searched.items()]
    lines += ["", f"[tuning.fixed.{key}]", f"dim = {dim}"]
    lines += [
        f"{k} = {val(v['fixed'])}"
        for k, v in proposal.items()
        if "fixed" in v and v["fixed"] != "none"
    ]
    return "\n".join(lines)


# ------------------------------------------------------------------------ run time
def calibrate(best: Mapping[str, Mapping[str, Any]], config: Path, seed: int = 0) -> pd.DataFrame:
    """Retrain each method's best trial (``best``: method -> params) on ``seed``'s split and
    time fit, scoring in the plain modes and scoring in the config's query modes."""
    import optuna  # noqa: F401  (the same imports a trial has)

    from embeddings.tuning import make_trainer
    from embeddings.tuning.scoring import validation_scores
    from recall.experiment import load_config
    from recall.experiment.data import load_data, split_validation
    from recall.experiment.validation import modes_of
    from recall.measure import load_average

    cfg = load_config(config)
    raw = cfg.raw
    min_rating = raw["split"].get("min_rating")
    data = load_data(raw["data"], seed)
    train, valid, _ = split_validation(data.interactions, raw["split"], seed)
    modes = modes_of(raw)
    rows = []
    for method, params in best.items():
        key = TUNING_KEY.get(method, method)
        p = {k: (None if v == "none" else v) for k, v in params.items()}
        p["dim"] = 32  # the run's [tuning.fixed]
        uses_side = key in ("ges", "eges")
        load0 = load_average()[0]
        t0 = time.perf_counter()
        trainer = make_trainer(key, p, seed)
        emb = trainer.fit(train, data.side_info) if uses_side else trainer.fit(train)
        t1 = time.perf_counter()
        kw = {"i2i_metric": "cosine", "u2i_metric": "cosine"}
        validation_scores(emb, train, valid, "hit_rate@10", ("i2i", "u2i"), min_rating, **kw)
        t2 = time.perf_counter()
        validation_scores(emb, train, valid, "hit_rate@10", modes, min_rating, **kw)
        t3 = time.perf_counter()
        rows.append(
            {
                "method": method,
                "fit_s": t1 - t0,
                "score_plain_s": t2 - t1,
                "score_modes_s": t3 - t2,
                "n_modes": len(modes),
                "load_1min_before": load0,
                "load_1min_after": load_average()[0],
            }
        )
    return pd.DataFrame(rows)


def estimate(
    trials: Mapping[str, list[tuple[int, Any]]],
    cal: pd.DataFrame | None,
    n_trials: int,
    best_seconds: Mapping[str, float],
) -> pd.DataFrame:
    """Per method, the seconds of one trial of the next run's search, low and high: the mean
    journal duration of all trials (``low``: the whole old space) and of the top-quartile
    trials (``high``: where the narrowed space sits; on the walk methods the costly corner of
    many long walks); with a calibration, scaled by it (journal duration of the best trial ->
    its re-timing, fit + plain modes) plus the extra scoring of the config's query modes; and
    ``n_trials`` of them. One scale for every method, the median of the methods' ratios: a
    single trial's journal duration carries the load of its moment."""
    global_scale = 1.0
    if cal is not None:
        c = cal.set_index("method")
        global_scale = float(
            np.median(
                [(c.loc[m, "fit_s"] + c.loc[m, "score_plain_s"]) / best_seconds[m] for m in c.index]
            )
        )
    rows = []
    for m, tr in trials.items():
        df = trial_table(tr)
        top = df[df["value"] >= df["value"].quantile(0.75)]
        row: dict[str, Any] = {
            "method": m,
            "journal_all_s": float(df["seconds"].mean()),
            "journal_top_s": float(top["seconds"].mean()),
            "journal_best_s": float(best_seconds[m]),
        }
        scale, extra = 1.0, 0.0
        if cal is not None and m in set(cal["method"]):
            c = cal.set_index("method").loc[m]
            row["now_best_s"] = float(c["fit_s"] + c["score_plain_s"])
            row["ratio"] = row["now_best_s"] / best_seconds[m]
            scale = global_scale
            extra = float(c["score_modes_s"] - c["score_plain_s"])
            row["modes_extra_s"] = extra
        row["trial_low_s"] = row["journal_all_s"] * scale + extra
        row["trial_high_s"] = row["journal_top_s"] * scale + extra
        row["search_low_s"] = n_trials * row["trial_low_s"]
        row["search_high_s"] = n_trials * row["trial_high_s"]
        rows.append(row)
    return pd.DataFrame(rows)


# ------------------------------------------------------------------------ the report
def method_markdown(method: str, ev: pd.DataFrame, proposal: Mapping[str, Any]) -> list[str]:
    seeds = sorted(
        int(c.removeprefix("importance_s")) for c in ev.columns if c.startswith("importance_s")
    )
    head = (
        "| parameter | fANOVA (pooled) | shuffled max | p | per seed | PedANOVA "
        "| top quartile | best trial | proposal |"
    )
    lines = [
        f"### {method}",
        "",
        f"{int(ev['n_trials'].iloc[0])} trials ({len(seeds)} seeds); top quartile: "
        f"{int(ev['n_top'].iloc[0])} trials with validation HR@10 >= {ev['q75'].iloc[0]:.4f}; "
        f"best {ev['best_value'].iloc[0]:.4f} (seed {int(ev['best_seed'].iloc[0])}).",
        "",
        head,
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in ev.to_dict("records"):
        if isinstance(r.get("choices"), list):
            topq = ", ".join(
                f"{c}: {r['top_counts'].get(str(c), 0)}/{r['all_counts'].get(str(c), 0)}"
                for c in r["choices"]
            )
        else:
            topq = _range(r) + f" of [{_fmt(r['low'])}, {_fmt(r['high'])}]"
        pr = proposal[r["param"]]
        if "fixed" in pr:
            what = f"fixed {_fmt(pr['fixed'])}"
        else:
            s = pr["space"]
            kind = next(k for k in ("int", "float", "choices") if k in s)
            what = f"search {kind} {[_fmt(x) for x in s[kind]]}" + (" log" if s.get("log") else "")
        star = "**" if r["matters"] else ""
        per_seed = " / ".join(f"{r['importance_s' + str(s)]:.2f}" for s in seeds)
        lines.append(
            f"| {r['param']} | {star}{r['importance']:.3f}{star} | {r['null_max']:.3f} | "
            f"{r['p']:.2f} | {per_seed} | "
            f"{r['pedanova']:.4f} | {topq} | {_fmt(r['best'])} | {what} |"
        )
    return lines


def _md_table(df: pd.DataFrame) -> list[str]:
    cols = list(df.columns)
    out = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    for r in df.itertuples(index=False):
        out.append("| " + " | ".join(_fmt(v) for v in r) + " |")
    return out


def walltime(
    trials: Mapping[str, list[tuple[int, Any]]], est: pd.DataFrame, scale: float
) -> dict[str, float]:
    """Seconds of the next 3-seed run on 2 processes, low and high: per seed the searches
    (``est``) plus the rest of a seed's run per method (refit, test, index benchmarks: the
    median gap between one seed's consecutive studies in the journal, scaled by ``scale``), the
    3 seeds' work split over 2 processes, then the assembly run (one seed's rest)."""
    seeds = sorted({s for tr in trials.values() for s, _ in tr})
    gaps = []
    for s in seeds:
        spans = sorted(
            (min(t.datetime_start for t in ts), max(t.datetime_complete for t in ts))
            for ts in ([t for ss, t in tr if ss == s] for tr in trials.values())
            if ts
        )
        gaps += [
            (spans[i + 1][0] - spans[i][1]).total_seconds()
            for i in range(len(spans) - 1)
            if spans[i + 1][0] > spans[i][1]
        ]
    rest = float(np.median(gaps)) * scale * len(trials) if gaps else 0.0
    out = {"rest_per_seed_s": rest}
    for side in ("low", "high"):
        per_seed = float(est[f"search_{side}_s"].sum()) + rest
        out[f"per_seed_{side}_s"] = per_seed
        out[f"total_{side}_s"] = 3 * per_seed / 2 + rest
    return out


COMMANDS = """\
From a fresh checkout of main with this config (a new working folder, so that the journal
`search.journal.log` and `runs/` start empty: a study resumed with another space would mix
trials), on a quiet machine (the trials are seeded and train with `workers=1`: the quality
figures do not depend on load, the wall time does):

```bash
export PYTHONPATH=$PWD   # or an installed checkout
# 1. the searches: seeds 0 and 1 side by side (2 processes on 2 cores) ...
embrecall run configs/movielens.toml --seed 0 --out runs/ml-s0 --cache-dir runs/cache --no-progress &
embrecall run configs/movielens.toml --seed 1 --out runs/ml-s1 --cache-dir runs/cache --no-progress &
wait
# ... then seed 2 in two halves (node2vec after DeepWalk in the same process: its warm start)
embrecall run configs/movielens.toml --seed 2 --out runs/ml-s2a --cache-dir runs/cache --no-progress \\
  --method deepwalk --method node2vec --method item2vec-seq --method item2vec-set &
embrecall run configs/movielens.toml --seed 2 --out runs/ml-s2b --cache-dir runs/cache --no-progress \\
  --method bge --method ges --method eges &
wait
# 2. the assembly run: every study is complete and every vector cached, so it searches and
#    trains nothing; it writes the 3-seed report
embrecall run configs/movielens.toml --out runs/ml-all --cache-dir runs/cache --no-progress
# 3. the protocol scripts: per seed, the per-user test hits, bootstrap and item-kNN baseline
for s in 0 1 2; do
  python reports/movielens/validation_protocol.py --seed $s --storage search.journal.log \\
    --out reports/movielens/validation_protocol_s$s.csv runs/ml-all
done
python reports/movielens/three_seeds.py --journal search.journal.log   # + three_seeds_pooled.md
cp search.journal.log /tmp/journal.log && python reports/movielens/search_spaces.py /tmp/journal.log
```
"""


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("journal", help="a copy of the run's search journal (.log)")
    ap.add_argument("--config", type=Path, default=ROOT / "configs" / "movielens.toml")
    ap.add_argument("--permutations", type=int, default=19, help="shuffles for the null")
    ap.add_argument("--n-trials", type=int, default=40, help="next run's trials per method")
    ap.add_argument("--calibrate", action="store_true", help="retime each best trial")
    ap.add_argument("--out", type=Path, default=HERE / "search_spaces.md")
    args = ap.parse_args(argv)
    if args.permutations < 1:
        raise ValueError(f"--permutations must be >= 1, got {args.permutations}")

    trials = load_trials(args.journal)
    evs, props = {}, {}
    for m, tr in trials.items():
        evs[m] = evidence(m, tr, args.permutations)
        props[m] = propose(evs[m], ALWAYS_KEEP.get(m, ()))
    for outer, inner in CONTAINS:
        if outer in props and inner in props:
            props[outer] = contain(props[outer], props[inner], inner)
    table = pd.concat(evs.values(), ignore_index=True)
    table["proposal"] = [
        str(props[r["method"]][r["param"]]) for r in table[["method", "param"]].to_dict("records")
    ]
    table.to_csv(args.out.with_suffix(".csv"), index=False)

    best_trial = {m: max(tr, key=lambda st: st[1].value) for m, tr in trials.items()}
    best = {m: dict(t.params) for m, (_, t) in best_trial.items()}
    best_s = {m: trial_table([bt])["seconds"].iloc[0] for m, bt in best_trial.items()}
    cal = None
    if args.calibrate:
        cal = calibrate(best, args.config)
        cal.to_csv(args.out.with_name("search_spaces_calibration.csv"), index=False)
    est = estimate(trials, cal, args.n_trials, best_s)
    scale = float(est["ratio"].median()) if "ratio" in est else 1.0
    wall = walltime(trials, est, scale)
    est.to_csv(args.out.with_name("search_spaces_estimate.csv"), index=False)

    lines = [
        "# MovieLens: search spaces from the evidence of the 3-seed run",
        "",
        "Generated by `python reports/movielens/search_spaces.py JOURNAL` (the rule is in its "
        "docstring); validation figures only. The hand-written reading is in "
        "`search_spaces_notes.md`, included here.",
        "",
    ]
    notes = args.out.with_name("search_spaces_notes.md")
    if notes.exists():
        lines += [notes.read_text().rstrip(), ""]
    summary = pd.DataFrame(
        {
            "method": list(trials),
            "trials": [len(tr) for tr in trials.values()],
            "best valid HR@10 per seed": [
                " / ".join(f"{v:.4f}" for v in trial_table(tr).groupby("seed")["value"].max())
                for tr in trials.values()
            ],
            "searched next": [
                ", ".join(k for k, v in props[m].items() if "space" in v) for m in trials
            ],
            "fixed next": [
                ", ".join(f"{k}={_fmt(v['fixed'])}" for k, v in props[m].items() if "fixed" in v)
                for m in trials
            ],
        }
    )
    lines += ["## Summary", ""] + _md_table(summary) + [""]
    lines += [
        "## Per method",
        "",
        "fANOVA: share of the validation figure's variance explained by the parameter alone "
        "(unnormalised); **bold** = above all of its shuffled values (it matters); p = the "
        f"share of {args.permutations} shuffles at or above it (+1 correction). Per seed: "
        "fANOVA on each seed's 20 trials. PedANOVA: top quartile against all trials. Top "
        "quartile: a choice as top-quartile count / all count.",
        "",
    ]
    for m in trials:
        lines += method_markdown(m, evs[m], props[m]) + [""]
        lines += ["Why, per parameter:", ""]
        lines += [f"- `{k}`: {v['why']}" for k, v in props[m].items()] + [""]
        lines += ["```toml", toml_tables(m, TUNING_KEY.get(m, m), props[m]), "```", ""]
    lines += ["## Trial time and the next run's wall time", ""]
    if cal is not None:
        lines += [
            "Calibration (each method's best trial retrained once on seed 0's split, fit + "
            "scoring in the plain modes and in the config's query modes; load average before "
            "and after each):",
            "",
        ]
        lines += _md_table(cal.round(2)) + [""]
    lines += _md_table(est.round(2)) + [""]
    lines += [
        f"Estimate for {args.n_trials} trials per method, {len(trials)} methods, 3 seeds on 2 "
        f"processes (seeds 0 and 1 side by side, then seed 2 in two halves), then the "
        f"assembly run: per seed {wall['per_seed_low_s'] / 60:.0f}-"
        f"{wall['per_seed_high_s'] / 60:.0f} min of one core (refits, test and index "
        f"benchmarks {wall['rest_per_seed_s'] / 60:.0f} min of it), in all **"
        f"{wall['total_low_s'] / 3600:.1f}-{wall['total_high_s'] / 3600:.1f} h** "
        + (
            f"(journal durations scaled by the calibration, median ratio {scale:.2f}; low = "
            "the old space's mean trial, high = the top quartile's)."
            if cal is not None
            else "(journal durations as they were, on the loaded machine of that run; low = "
            "the old space's mean trial, high = the top quartile's)."
        ),
        "",
        "## Commands for the next 3-seed run",
        "",
        COMMANDS,
    ]
    args.out.write_text("\n".join(lines) + "\n")
    sys.stdout.write(f"wrote {args.out} (load {os.getloadavg()[0]:.2f})\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
