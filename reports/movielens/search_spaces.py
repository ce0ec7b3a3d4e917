"""Search spaces from evidence (issue 12): which hyperparameters mattered in a run's searches.

    python reports/movielens/search_spaces.py JOURNAL [--calibrate] [--permutations 199]

Reads every completed trial of the ``movielens-*`` studies in a search journal (a ``.log``
journal file; open a copy, never the file a run is writing) and writes ``search_spaces.md``,
``search_spaces.csv`` (the evidence) and ``search_spaces_estimate.csv`` (trial times) beside
this file. Only validation figures are read (a trial's value is its best query mode's
validation HR@10); the test split is never touched.

Values are compared within a search only: each trial's value becomes its rank in its own study
(method, seed), as a quantile (so the seeds' different validation splits and the methods'
different levels do not mix). Parameters are judged in **families** (``FAMILIES``): the two
item2vec methods each alone; the graph, walk and skip-gram parameters that the five walk
methods share, pooled over the five (the config keeps one space for them: equal effort, and
node2vec's space contains DeepWalk's for ``[tuning] warm_start``); ``sample`` over DeepWalk and
node2vec; p and q of node2vec; the side-information ``fields`` over GES and EGES. In a family
of several methods a parameter is kept when the pooled trials or any one method's trials say
so (``combine``: two methods' opposite preferences cancel in the pool).

- **Importance** (Optuna's ``PedAnovaImportanceEvaluator``, PED-ANOVA, Watanabe et al. 2023,
  not normalised): how far the distribution of a parameter among the top-quartile trials (top
  quarter of their own search) is from its distribution among all trials, i.e. whether good
  trials sit somewhere particular, with a **permutation null**: the same figure with the ranks
  shuffled within each search, ``--permutations`` times; p = the share of shuffles at or above
  the observed figure (+1 correction). A parameter *matters* when p < 0.05 and is *kept* when
  p < ``--alpha`` (0.10), with no correction over the parameters: the costs are not symmetric
  (a parameter kept without need costs some of the trial budget; one fixed although it matters
  caps the method), and 60 noisy trials give p-values near 0.05-0.10 to several parameters.
  fANOVA (``FanovaImportanceEvaluator`` on the same ranks: the share of their variance
  explained by the parameter alone) is shown beside as a second opinion, not used in the rule
  (``--no-fanova`` skips it).
- **Top quartile**: for a number its 10th-90th percentiles and median, for a choice the count
  of each value (against the count among all trials).
- **Proposal**: a kept parameter is searched over the top quartile's range widened by a
  margin (a sixth of the old width on each side on a linear scale, a factor 1.5 on a log
  scale, rounded outward, within the old bounds), a kept choice over the values the top
  quartile holds (fixed if it holds one); a parameter that is not kept is fixed at the best
  trial's value (with several methods: the median, or the most frequent value, of their best
  trials). node2vec keeps p and q whatever the evidence (its definition: without them it is
  DeepWalk), with 1 in their range. A fixed parameter stays in the space as a one-value
  choice (the journal records it, node2vec's warm start finds DeepWalk's value in its own
  space, and TOML has no None for ``[tuning.fixed]``).

``--calibrate`` retrains each method's best trial once on seed 0's split (its own seed), timing
the fit and the validation scoring in the journal's two plain modes and in the config's
``[evaluation] query_modes``, so that the journal's trial durations (taken on a loaded machine)
can be scaled into a wall-time estimate of the next run; the load average is recorded beside.
"""

from __future__ import annotations

import argparse
import math
import os
import sys
import time
from collections.abc import Mapping, Sequence
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
WALK = ("deepwalk", "node2vec", "bge", "ges", "eges")
#: the parameters the five walk methods share (one space for all five in the config)
SHARED_WALK = (
    "num_walks",
    "walk_length",
    "epochs",
    "window",
    "ns_exponent",
    "directed",
    "min_rating",
    "graph_window",
    "distance_weighting",
    "popularity_exponent",
)
#: (family name, methods, parameters or None = all of the method's): judged together
FAMILIES: tuple[tuple[str, tuple[str, ...], tuple[str, ...] | None], ...] = (
    ("item2vec-seq", ("item2vec-seq",), None),
    ("item2vec-set", ("item2vec-set",), None),
    ("walk methods, shared", WALK, SHARED_WALK),
    ("deepwalk + node2vec: sample", ("deepwalk", "node2vec"), ("sample",)),
    ("node2vec: p, q", ("node2vec",), ("p", "q")),
    ("ges + eges: fields", ("ges", "eges"), ("fields",)),
)
#: parameters kept whatever the evidence (why: in the module docstring); 1 stays in range
ALWAYS_KEEP = ("p", "q")


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


def ranks(trials: list[tuple[int, Any]]) -> np.ndarray:
    """Each trial's value as its rank quantile within its own seed (average ranks / n, in
    (0, 1]; 1 = the seed's best): ``trials`` are one method's."""
    from scipy.stats import rankdata

    seeds = np.array([s for s, _ in trials])
    values = np.array([t.value for _, t in trials], dtype=float)
    out = np.empty(len(trials))
    for s in np.unique(seeds):
        m = seeds == s
        out[m] = rankdata(values[m]) / m.sum()
    return out


def _study_of(trials: list[Any], values: Any, params: Sequence[str]) -> Any:
    import optuna

    study = optuna.create_study(direction="maximize")
    for t, v in zip(trials, values, strict=True):
        study.add_trial(
            optuna.trial.create_trial(
                params={k: t.params[k] for k in params},
                distributions={k: t.distributions[k] for k in params},
                value=float(v),
            )
        )
    return study


def importances(
    trials: list[Any], values: Any, params: Sequence[str], kind: str = "pedanova"
) -> dict[str, float]:
    """Unnormalised importance of each of ``params`` over ``trials`` (FrozenTrials) scored by
    ``values``: ``pedanova`` (top quartile against all) or ``fanova`` (share of variance)."""
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
            _study_of(trials, values, params), evaluator=ev, normalize=False
        )
    return {k: float(v) for k, v in imp.items()}


def null_importances(
    trials: list[Any],
    values: np.ndarray,
    groups: np.ndarray,
    params: Sequence[str],
    n: int,
    random_state: int = 0,
) -> pd.DataFrame:
    """PED-ANOVA importances with ``values`` shuffled within each group (a search): one row
    per shuffle, one column per parameter (seeded: same shuffles, same null)."""
    rng = np.random.default_rng(random_state)
    idx = [np.flatnonzero(groups == g) for g in np.unique(groups)]
    rows = []
    for _ in range(n):
        v = values.copy()
        for ix in idx:
            v[ix] = values[rng.permutation(ix)]
        rows.append(importances(trials, v, params))
    return pd.DataFrame(rows)


# ------------------------------------------------------------------------ the evidence
def _is_choice(dist: Any) -> bool:
    return type(dist).__name__ == "CategoricalDistribution"


def _fmt(v: Any) -> str:
    if isinstance(v, bool | np.bool_):
        return str(bool(v)).lower()
    if isinstance(v, str):
        return v
    if isinstance(v, float | np.floating):
        if float(v).is_integer() and abs(v) < 1e6:
            return str(int(v))
        return f"{float(v):.0f}" if abs(v) >= 100 else f"{float(v):.3g}"
    return str(v)


def best_trials(trials: Mapping[str, list[tuple[int, Any]]]) -> dict[str, tuple[int, Any]]:
    """Per method, (seed, trial) of the highest validation value over all its seeds."""
    return {m: max(tr, key=lambda st: st[1].value) for m, tr in trials.items()}


def _family_value(values: list[Any], choice: bool) -> Any:
    """One value for a family from its methods' best trials: the median of numbers (as the
    type they had), the most frequent choice (ties: the first seen)."""
    if choice:
        counts: dict[Any, int] = {}
        for v in values:
            counts[v] = counts.get(v, 0) + 1
        return max(counts, key=lambda v: counts[v])
    med = float(np.median(np.asarray(values, dtype=float)))
    if all(isinstance(v, int | np.integer) for v in values):
        return int(round(med))
    return float(f"{med:.3g}")


def evidence(
    trials: Mapping[str, list[tuple[int, Any]]],
    methods: Sequence[str],
    params: Sequence[str] | None,
    n_perm: int,
    fanova: bool = True,
    alpha: float = 0.10,
) -> pd.DataFrame:
    """One row per parameter of a family (``methods``, ``params``; None = all of the first
    method's): PED-ANOVA on within-search ranks pooled over the methods and seeds, its
    permutation null (``null_q95``, ``p``, ``matters``, ``keep``), fANOVA on the same ranks,
    the top quartile's range or counts, each method's best trial's value and the family's."""
    if n_perm < 1:
        raise ValueError(f"n_perm must be >= 1, got {n_perm}")
    missing = [m for m in methods if m not in trials]
    if missing:
        raise ValueError(f"no trials of {missing} in the journal")
    pooled, values, groups = [], [], []
    for m in methods:
        tr = trials[m]
        pooled += tr
        values.append(ranks(tr))
        groups += [f"{m}/s{s}" for s, _ in tr]
    vals, grp = np.concatenate(values), np.asarray(groups)
    dists = _distributions(pooled)
    names = list(dists) if params is None else [p for p in params if p in dists]
    if params is not None and len(names) != len(params):
        raise ValueError(f"{methods}: parameters {sorted(set(params) - set(names))} not searched")
    frozen = [t for _, t in pooled]
    ped = importances(frozen, vals, names)
    null = null_importances(frozen, vals, grp, names, n_perm)
    fan = importances(frozen, vals, names, "fanova") if fanova else {}
    table = pd.DataFrame([{**t.params, "rank": r} for (_, t), r in zip(pooled, vals, strict=True)])
    top = table[table["rank"] > 0.75]
    best = best_trials({m: trials[m] for m in methods})
    rows = []
    for name in names:
        dist = dists[name]
        imp = ped.get(name, 0.0)
        nul = null[name].to_numpy(float)
        p = (1 + int((nul >= imp).sum())) / (1 + nul.size)
        row: dict[str, Any] = {
            "family": ", ".join(methods),
            "param": name,
            "importance": imp,
            "null_q95": float(np.quantile(nul, 0.95)),
            "p": p,
            "matters": bool(p < 0.05),
            "keep": bool(p < alpha),
            "fanova": fan.get(name, float("nan")),
            "best": {m: t.params[name] for m, (_, t) in best.items()},
            "family_best": _family_value(
                [t.params[name] for _, t in best.values()], _is_choice(dist)
            ),
            "n_trials": len(table),
            "n_top": len(top),
        }
        if _is_choice(dist):
            row["choices"] = list(dist.choices)
            row["all_counts"] = table[name].astype(str).value_counts().to_dict()
            row["top_counts"] = top[name].astype(str).value_counts().to_dict()
        else:
            row["low"], row["high"], row["log"] = dist.low, dist.high, bool(dist.log)
            row["int"] = type(dist).__name__ == "IntDistribution"
            # where the top quartile sits: its 10th-90th percentiles (one stray trial among
            # the 15-75 does not stretch the range)
            q10, q50, q90 = np.quantile(top[name].to_numpy(float), [0.1, 0.5, 0.9])
            row["top_low"], row["top_median"], row["top_high"] = float(q10), float(q50), float(q90)
        rows.append(row)
    return pd.DataFrame(rows).sort_values("importance", ascending=False, ignore_index=True)


def combine(pooled: pd.DataFrame, per_method: Mapping[str, pd.DataFrame]) -> pd.DataFrame:
    """A family's evidence with its methods' own: a parameter is kept (or matters) when it is
    in the pooled trials or in any one method's (opposite preferences of two methods cancel in
    the pool: DeepWalk's top quartile sits at graph_window 20, BGE's at 1); a kept number's
    range is the hull of the pooled top quartile's and of the keeping methods' ranges.
    Columns added: ``p_methods`` (each method's p), ``kept_by``."""
    out = pooled.copy()
    by = {m: e.set_index("param") for m, e in per_method.items()}
    rows = []
    for r in out.to_dict("records"):
        name = r["param"]
        kept_by = [m for m, e in by.items() if bool(e.loc[name, "keep"])]
        r["p_methods"] = ", ".join(f"{m} {e.loc[name, 'p']:.3f}" for m, e in by.items())
        r["kept_by"] = (["pooled"] if r["keep"] else []) + kept_by
        r["matters"] = bool(r["matters"] or any(bool(by[m].loc[name, "matters"]) for m in by))
        r["keep"] = bool(r["kept_by"])
        if "top_low" in r and kept_by:
            lows = [by[m].loc[name, "top_low"] for m in kept_by]
            highs = [by[m].loc[name, "top_high"] for m in kept_by]
            if r["keep"] and "pooled" in r["kept_by"]:
                lows.append(r["top_low"])
                highs.append(r["top_high"])
            r["top_low"], r["top_high"] = float(min(lows)), float(max(highs))
        rows.append(r)
    return pd.DataFrame(rows)


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


def _range(r: Mapping[str, Any]) -> str:
    return f"[{_fmt(r['top_low'])}, {_fmt(r['top_high'])}] (median {_fmt(r['top_median'])})"


def propose(ev: pd.DataFrame) -> dict[str, dict[str, Any]]:
    """``{param: {"space": spec, "why": text}}`` for a family from ``evidence``: a kept
    parameter's narrowed range or choices; one not kept as a one-value choice."""
    out: dict[str, dict[str, Any]] = {}
    for r in ev.to_dict("records"):
        name = r["param"]
        imp = f"PED-ANOVA {r['importance']:.4f}, p = {r['p']:.3f}"
        always = name in ALWAYS_KEEP
        if not (r["keep"] or always):
            v = r["family_best"]
            out[name] = {
                "space": {"choices": [v]},
                "fixed": True,
                "why": f"{imp}: no evidence it matters; fixed at the best trials' value",
            }
            continue
        by = r.get("kept_by")
        if isinstance(by, list) and by and by != ["pooled"]:
            imp += f" (each method: {r['p_methods']}; kept for {', '.join(by)})"
        if r["matters"]:
            why = imp
        elif r["keep"]:
            why = f"{imp}: suggestive, kept"
        else:
            why = f"{imp}; kept all the same: {name} defines the method"
        if isinstance(r.get("choices"), list):
            held = [c for c in r["choices"] if str(c) in r["top_counts"]]
            if len(held) == 1:
                out[name] = {
                    "space": {"choices": held},
                    "fixed": True,
                    "why": f"{why}; the top quartile holds only {_fmt(held[0])}",
                }
            else:
                out[name] = {"space": {"choices": held}, "why": f"{why}; top-quartile values"}
            continue
        lo, hi = _widen(r)
        if always:
            lo, hi = min(lo, 1.0), max(hi, 1.0)  # p = q = 1 is DeepWalk
        spec: dict[str, Any] = {"int": [int(lo), int(hi)]} if r["int"] else {"float": [lo, hi]}
        if r["log"]:
            spec["log"] = True
        edge = "; at the old upper bound" if r["top_high"] >= r["high"] else ""
        out[name] = {"space": spec, "why": f"{why}; top quartile {_range(r)}{edge}"}
    return out


def _toml_value(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, str):
        return f'"{v}"'
    if isinstance(v, float) and v.is_integer() and abs(v) < 1e6:
        return f"{v:.1f}"  # a float stays a float (a float dimension's value)
    if isinstance(v, float):
        return f"{v:.3g}"
    return str(v)


def _fits(v: Any, spec: Mapping[str, Any]) -> bool:
    if "choices" in spec:
        return v in list(spec["choices"])
    lo, hi = spec["int"] if "int" in spec else spec["float"]
    return bool(lo <= v <= hi)


def method_space(method: str, proposals: Mapping[str, Mapping[str, Any]]) -> dict[str, Any]:
    """The proposal of every family covering ``method``, as one space (param -> proposal)."""
    out: dict[str, Any] = {}
    for fam, methods, _ in FAMILIES:
        if method in methods:
            out.update(proposals[fam])
    return out


def start_params(best: Any, space: Mapping[str, Any], method: str) -> dict[str, Any]:
    """The ``[[methods]] params`` that make the best trial's setting every seed's first trial:
    its value where the space holds it, else the space's (one) value; node2vec's p and q at 1
    (its second trial is DeepWalk's choice with them: ``[tuning] warm_start``). A None
    ("none") is left out (TOML has none; the trainers' default is None)."""
    out = {}
    for k, prop in space.items():
        spec = prop["space"]
        v = best.params.get(k)
        if method == "node2vec" and k in ALWAYS_KEEP:
            v = 1.0
        elif not _fits(v, spec):  # the family's range: the nearest value in it
            if "choices" in spec:
                v = spec["choices"][0]
            else:
                lo, hi = spec["int"] if "int" in spec else spec["float"]
                v = min(max(v, lo), hi)
        if v != "none":
            out[k] = v
    return out


def toml_tables(key: str, space: Mapping[str, Any], dim: int = 32, comments: bool = False) -> str:
    """The ``[tuning.space.<key>]`` / ``[tuning.fixed.<key>]`` tables of a method's space
    (with ``comments``, each parameter's reason on the line above it)."""

    def spec(s: Mapping[str, Any]) -> str:
        kind = next(k for k in ("int", "float", "choices") if k in s)
        body = f"{kind} = [{', '.join(_toml_value(x) for x in s[kind])}]"
        return "{ " + body + (", log = true" if s.get("log") else "") + " }"

    def line(k: str, v: Mapping[str, Any]) -> list[str]:
        why = [f"# {k}: {v['why']}"] if comments and "why" in v else []
        return [*why, f"{k} = {spec(v['space'])}"]

    searched = [x for k, v in space.items() if not v.get("fixed") for x in line(k, v)]
    fixed = [x for k, v in space.items() if v.get("fixed") for x in line(k, v)]
    lines = [f"[tuning.space.{key}]", *searched, "# -- fixed (one value) --", *fixed]
    return "\n".join([*lines, "", f"[tuning.fixed.{key}]", f"dim = {dim}"])


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
def family_markdown(fam: str, ev: pd.DataFrame, proposal: Mapping[str, Any]) -> list[str]:
    head = (
        "| parameter | PED-ANOVA | shuffled 95% | p | fANOVA | top quartile | best trials "
        "| next run |"
    )
    lines = [
        f"### {fam}",
        "",
        f"{int(ev['n_trials'].iloc[0])} trials; top quartile: {int(ev['n_top'].iloc[0])} "
        "(the top quarter of each search).",
        "",
        head,
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in ev.to_dict("records"):
        if isinstance(r.get("choices"), list):
            topq = ", ".join(
                f"{_fmt(c)}: {r['top_counts'].get(str(c), 0)}/{r['all_counts'].get(str(c), 0)}"
                for c in r["choices"]
            )
        else:
            topq = _range(r) + f" of [{_fmt(r['low'])}, {_fmt(r['high'])}]"
        sp = proposal[r["param"]]["space"]
        kind = next(k for k in ("int", "float", "choices") if k in sp)
        vals = ", ".join(_fmt(x) for x in sp[kind])
        if proposal[r["param"]].get("fixed"):
            what = f"fixed {vals}"
        else:
            what = f"{kind} [{vals}]" + (" log" if sp.get("log") else "")
        star = "**" if r["matters"] else "*" if r["keep"] else ""
        bests = ", ".join(f"{m} {_fmt(v)}" for m, v in r["best"].items())
        if isinstance(r.get("p_methods"), str):
            bests += f" (p per method: {r['p_methods']})"
        lines.append(
            f"| {r['param']} | {star}{r['importance']:.4f}{star} | {r['null_q95']:.4f} | "
            f"{r['p']:.3f} | {r['fanova']:.3f} | {topq} | {bests} | {what} |"
        )
    lines += ["", *(f"- `{k}`: {v['why']}" for k, v in proposal.items())]
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
In a checkout of main with this config, in a working folder of its own (as last time,
`/work/wt-mlrun`: a git worktree), with a new journal: `search.journal.log` and `runs/` start
empty there (a study resumed with another space would mix trials), and on a quiet machine (the
trials are seeded and train with `workers=1`, so the quality figures do not depend on load; the
wall time does). The run is resumable: the same command again resumes every study from the
journal and reuses every cached vector, losing only a trial that was running; so if the
estimate above does not fit one session, run step 1 in one and steps 1b-3 in the next, keeping
`search.journal.log` and `runs/`.

```bash
export PYTHONPATH=$PWD
# 1. the searches: seeds 0 and 1 side by side (2 processes on 2 cores) ...
embrecall run configs/movielens.toml --seed 0 --out runs/ml-s0 --cache-dir runs/cache --no-progress &
embrecall run configs/movielens.toml --seed 1 --out runs/ml-s1 --cache-dir runs/cache --no-progress &
wait
# 1b. ... then seed 2 in two halves (node2vec with DeepWalk: its warm start is DeepWalk's choice)
embrecall run configs/movielens.toml --seed 2 --out runs/ml-s2a --cache-dir runs/cache --no-progress \\
  --method deepwalk --method node2vec --method item2vec-seq --method item2vec-set &
embrecall run configs/movielens.toml --seed 2 --out runs/ml-s2b --cache-dir runs/cache --no-progress \\
  --method bge --method ges --method eges &
wait
# 2. the assembly run: every study complete and every vector cached, so it searches and trains
#    nothing; it writes the 3-seed report (copy runs/ml-all's report.md etc. to reports/movielens)
embrecall run configs/movielens.toml --out runs/ml-all --cache-dir runs/cache --no-progress
# 3. the protocol scripts: per seed the test hits per user, the bootstraps, item-kNN (its
#    similarity, threshold and query mode chosen on the same validation), then the tables
for s in 0 1 2; do
  python reports/movielens/validation_protocol.py --seed $s --storage search.journal.log \\
    --out reports/movielens/validation_protocol_s$s.csv runs/ml-all
done
python reports/movielens/three_seeds.py --journal search.journal.log  # + three_seeds_pooled.md
cp search.journal.log /tmp/journal.log
python reports/movielens/search_spaces.py /tmp/journal.log --out /tmp/search_spaces_next.md
```
"""


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("journal", help="a copy of the run's search journal (.log)")
    ap.add_argument("--config", type=Path, default=ROOT / "configs" / "movielens.toml")
    ap.add_argument("--permutations", type=int, default=199, help="shuffles for the null")
    ap.add_argument("--alpha", type=float, default=0.10, help="keep a parameter when p < this")
    ap.add_argument("--no-fanova", action="store_true", help="skip fANOVA")
    ap.add_argument("--n-trials", type=int, default=40, help="next run's trials per method")
    ap.add_argument("--calibrate", action="store_true", help="retime each best trial")
    ap.add_argument("--calibration", type=Path, default=None, help="reuse a calibration CSV")
    ap.add_argument("--out", type=Path, default=HERE / "search_spaces.md")
    args = ap.parse_args(argv)

    trials = load_trials(args.journal)
    evs, props = {}, {}
    for fam, methods, params in FAMILIES:
        evs[fam] = evidence(
            trials, methods, params, args.permutations, not args.no_fanova, args.alpha
        )
        if len(methods) > 1:
            own = {
                m: evidence(trials, (m,), params, args.permutations, False, args.alpha)
                for m in methods
            }
            evs[fam] = combine(evs[fam], own)
        props[fam] = propose(evs[fam])
    table = pd.concat(evs.values(), ignore_index=True)
    table["next_run"] = [
        str(props[f][p]["space"])
        for f, p in zip([f for f in evs for _ in range(len(evs[f]))], table["param"], strict=True)
    ]
    table.to_csv(args.out.with_suffix(".csv"), index=False)
    best = best_trials(trials)
    spaces = {m: method_space(m, props) for m in trials}
    for m, sp in spaces.items():
        unknown = set(_distributions(trials[m])) - set(sp)
        if unknown:
            raise ValueError(f"{m}: parameters {sorted(unknown)} in no family")

    best_s = {m: trial_table([bt])["seconds"].iloc[0] for m, bt in best.items()}
    cal = None
    if args.calibrate:
        cal = calibrate({m: dict(t.params) for m, (_, t) in best.items()}, args.config)
        cal.to_csv(args.out.with_name("search_spaces_calibration.csv"), index=False)
    elif args.calibration is not None:
        cal = pd.read_csv(args.calibration)
    est = estimate(trials, cal, args.n_trials, best_s)
    scale = float(est["ratio"].median()) if "ratio" in est else 1.0
    wall = walltime(trials, est, scale)
    est.to_csv(args.out.with_name("search_spaces_estimate.csv"), index=False)

    lines = [
        "# MovieLens: search spaces from the evidence of the 3-seed run",
        "",
        "Generated by `python reports/movielens/search_spaces.py JOURNAL` (the method is in its "
        "docstring); validation figures only, the test split never read. The hand-written "
        "reading, `search_spaces_notes.md`, is included here.",
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
                ", ".join(k for k, v in spaces[m].items() if not v.get("fixed")) for m in trials
            ],
            "fixed next": [
                ", ".join(
                    f"{k}={_fmt(v['space']['choices'][0])}"
                    for k, v in spaces[m].items()
                    if v.get("fixed")
                )
                for m in trials
            ],
        }
    )
    lines += ["## Summary", ""] + _md_table(summary) + [""]
    lines += [
        "## Evidence per family",
        "",
        "PED-ANOVA on within-search ranks: how far the top quartile's distribution of the "
        "parameter is from all trials' (unnormalised); **bold** = it matters (p < 0.05), "
        f"*italic* = suggestive (p < {args.alpha:g}), both kept; p = the share of "
        f"{args.permutations} shuffles of the ranks within each search at or above it (+1 "
        "correction); shuffled 95% = their 95th percentile. fANOVA (second opinion): share of "
        "the ranks' variance explained by the parameter alone. Top quartile: a number's "
        "10th-90th percentiles and median, a choice as top-quartile count / all count. Best trials: each method's "
        "best trial over its seeds.",
        "",
    ]
    for fam in evs:
        lines += family_markdown(fam, evs[fam], props[fam]) + [""]
    lines += [
        "## The spaces of the next run (`configs/movielens.toml`)",
        "",
        "Each method's `[tuning.space]` and the `[[methods]] params` that make its best trial "
        "of this run the first trial of every seed's search:",
        "",
    ]
    for m in trials:
        start = start_params(best[m][1], spaces[m], m)
        inline = ", ".join(f"{k} = {_toml_value(v)}" for k, v in start.items())
        lines += [
            "```toml",
            toml_tables(TUNING_KEY.get(m, m), spaces[m], comments=True),
            "",
            f"# [[methods]] {m}",
            f"params = {{ {inline} }}",
            "```",
            "",
        ]
    lines += ["## Trial time and the next run's wall time", ""]
    if cal is not None:
        lines += [
            "Calibration (each method's best trial retrained once on seed 0's split: fit, "
            "scoring in the plain modes, scoring in the config's query modes; 1-minute load "
            "average before and after each):",
            "",
        ]
        lines += _md_table(cal.round(2)) + [""]
    lines += _md_table(est.round(1)) + [""]
    lines += [
        f"Estimate for {args.n_trials} trials per method, {len(trials)} methods, 3 seeds on 2 "
        "processes (seeds 0 and 1 side by side, then seed 2 in two halves), then the "
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
