"""The opening summary of an experiment's report, computed from its tables.

Which method is best (95% intervals), each method's quality in the query mode chosen on
validation, and per method the fastest index reaching a knn-recall target with what it costs in
hit rate; what validation chose (``tuning.csv``). ``recall.report`` puts these on top of
``report.md``; ``embrecall run`` prints them at the end.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from recall import plots

__all__ = [
    "best_methods",
    "fastest_reaching",
    "method_quality",
    "summary_lines",
    "summary_text",
    "validation_lines",
]


def md_table(df: pd.DataFrame, floatfmt: str = "{:.4g}") -> str:
    if df.empty:
        return "_(no rows)_\n"
    cols = list(df.columns)
    lines = ["| " + " | ".join(str(c) for c in cols) + " |", "|" + "---|" * len(cols)]
    for _, row in df.iterrows():
        cells = []
        for c in cols:
            v = row[c]
            if isinstance(v, float | np.floating):
                cells.append("" if np.isnan(v) else floatfmt.format(v))
            else:
                cells.append(str(v))
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def e2e_mode_of(config: dict[str, Any]) -> str | None:
    """The run's ``e2e_mode`` (``best`` by default with ``[tuning]``, as the runner does)."""
    if not config:
        return None
    default = "best" if "tuning" in config else "u2i"
    return str(config.get("evaluation", {}).get("e2e_mode", default))


def validation_lines(tuning: pd.DataFrame) -> list[str]:
    """The section on what validation chose: per method and seed, the setting (tuned within the
    ``[tuning]`` budget, or the config's), the query mode and the validation figures."""
    if tuning.empty:
        return []
    metric = str(tuning["metric"].iloc[0]) if "metric" in tuning else "validation figure"
    cols = ["method", "seed", "setting", "search", "n_trials", "validated_mode"]
    cols += [c for c in tuning.columns if c.startswith("valid_") and c != "validated_mode"]
    cols += ["seconds", "params"]
    table = tuning[[c for c in cols if c in tuning]].copy()
    if "params" in table:
        table["params"] = table["params"].map(short_params)
    return [
        "## Validation: each method's setting and query mode",
        "",
        f"Chosen on the validation split only (train -> valid, {metric}); the chosen setting "
        "was then refit on train + valid and read on test once. `tuned` = searched by "
        "`embeddings.tuning.tune` within the `[tuning]` budget, starting from the config's "
        "setting; `config` = the config's setting as written.",
        "",
        md_table(table),
        "",
    ]


def method_quality(quality: pd.DataFrame, metric: str) -> pd.DataFrame:
    """Per method: ``metric`` on test in the mode chosen on validation (``validated_mode``
    rows of ``quality.csv``), with a 95% interval (``plots.mean_interval``: Student-t over
    seeds, or Wilson over the test users with one seed); popularity last. Empty when the run
    chose no mode on validation."""
    if quality.empty or metric not in quality or "validated_mode" not in quality:
        return pd.DataFrame()
    chosen = quality["validated_mode"].astype(str).str.lower().isin(("true", "1", "1.0"))
    q = quality[chosen | (quality["mode"] == "popularity")].dropna(subset=[metric])
    rows = []
    for (method, mode), g in q.groupby(["method", "mode"], sort=False):
        n = float(g["n_users"].mean()) if "n_users" in g else None
        mean, lo, hi = plots.mean_interval(g[metric], n)
        setting = str(g["setting"].iloc[0]) if "setting" in g and g["setting"].notna().any() else ""
        rows.append(
            {
                "method": method,
                "setting": setting if mode != "popularity" else "",
                "mode": mode,
                "mean": mean,
                "low": lo,
                "high": hi,
                "seeds": int(g["seed"].nunique()) if "seed" in g else len(g),
            }
        )
    out = pd.DataFrame(rows)
    is_pop = out["mode"] == "popularity"
    return pd.concat(
        [out[~is_pop].sort_values("mean", ascending=False), out[is_pop]], ignore_index=True
    )


def read_json(path: Path) -> dict[str, Any]:
    if not path.exists():
        return {}
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise ValueError(f"{path}: malformed JSON ({exc})") from exc


def best_methods(quality: pd.DataFrame, metric: str) -> pd.DataFrame:
    """Per query mode: each method's mean ``metric`` with a 95% interval, best first.

    Columns mode, method, mean, low, high, seeds, separable (the interval lies wholly above the
    runner-up's: only meaningful on the first row of each mode). Intervals come from
    ``plots.mean_interval``: over seeds when there are several, else Wilson over the test users.
    """
    if quality.empty or metric not in quality:
        return pd.DataFrame()
    q = quality.dropna(subset=[metric])
    rows = []
    for (mode, method), g in q.groupby(["mode", "method"], sort=False):
        n = float(g["n_users"].mean()) if "n_users" in g else None
        mean, lo, hi = plots.mean_interval(g[metric], n)
        seeds = int(g["seed"].nunique()) if "seed" in g else len(g)
        rows.append(
            {"mode": mode, "method": method, "mean": mean, "low": lo, "high": hi, "seeds": seeds}
        )
    out = pd.DataFrame(rows)
    out = out.sort_values(["mode", "mean"], ascending=[True, False]).reset_index(drop=True)
    out["separable"] = False
    for _, g in out.groupby("mode", sort=False):
        if len(g) >= 2:
            first, second = g.index[0], g.index[1]
            out.loc[first, "separable"] = bool(out.loc[first, "low"] > out.loc[second, "high"])
    return out


def fastest_reaching(
    results: pd.DataFrame, metric: str, target: float = 0.9, qps_col: str = "qps_single"
) -> pd.DataFrame:
    """Per method: the fastest index setting (highest ``qps_col``, exact search excluded) whose
    knn-recall reaches ``target``, with its speed-up and ``metric`` through it vs exact search.

    A method where no setting reaches the target gets its highest-recall setting and
    ``reached=False``. Means over seeds per (method, index, params).
    """
    if results.empty:
        return pd.DataFrame()
    e2e_col = f"e2e_{metric}"
    keys = ["method", "index", "index_family", "params"]
    num = [c for c in ["knn_recall", qps_col, "speedup", e2e_col] if c in results]
    agg = results.groupby(keys, sort=False)[num].mean().reset_index()
    modes = (
        results.groupby("method", sort=False)["e2e_mode"]
        .agg(lambda m: "/".join(sorted(set(map(str, m)))))
        .to_dict()
        if "e2e_mode" in results
        else None
    )
    rows = []
    for method, g in agg.groupby("method", sort=False):
        exact = g[g["index_family"] == "exact"]
        cand = g[g["index_family"] != "exact"]
        if cand.empty:
            continue
        ok = cand[cand["knn_recall"] >= target]
        pick = ok.loc[ok[qps_col].idxmax()] if len(ok) else cand.loc[cand["knn_recall"].idxmax()]
        row = {
            "method": method,
            "index": pick["index"],
            "params": short_params(pick["params"]),
            "reached": bool(len(ok)),
            "knn_recall": pick["knn_recall"],
            qps_col: pick[qps_col],
            "exact_qps": float(exact[qps_col].mean()) if len(exact) else np.nan,
            "speedup": pick.get("speedup", np.nan),
        }
        if modes is not None:
            row["e2e_mode"] = modes.get(method, "")
        if e2e_col in g:
            row[f"exact_{metric}"] = float(exact[e2e_col].mean()) if len(exact) else np.nan
            row[f"index_{metric}"] = pick[e2e_col]
            row[f"{metric}_lost"] = row[f"exact_{metric}"] - row[f"index_{metric}"]
        rows.append(row)
    return pd.DataFrame(rows)


def short_params(params: Any) -> str:
    """The JSON params of a results row without metric and random_state, as k=v pairs."""
    try:
        d = json.loads(params) if isinstance(params, str) else dict(params)
    except (json.JSONDecodeError, TypeError, ValueError):
        return str(params)
    return ", ".join(f"{k}={v}" for k, v in d.items() if k not in ("metric", "random_state"))


def summary_lines(
    results: pd.DataFrame, quality: pd.DataFrame, k: int, e2e_mode: str | None, target: float = 0.9
) -> list[str]:
    """The opening section of ``report.md``: which method is best (with a 95% interval), and per
    method the fastest index reaching knn-recall >= ``target`` and what it costs in hit rate."""
    hr = f"hit_rate@{k}"
    lines = ["## Summary", ""]
    best = best_methods(quality, hr)
    if not best.empty:
        n_seeds = int(best["seeds"].max())
        how = (
            f"mean over {n_seeds} seeds, 95% t-interval"
            if n_seeds >= 2
            else "one seed, 95% Wilson interval over the test users"
        )
        lines += [f"**Best method** by {hr} with exact search ({how}):", ""]
        for mode, g in best.groupby("mode", sort=False):
            if mode == "popularity":
                continue
            g = g.reset_index(drop=True)
            top = g.iloc[0]
            text = f"- `{mode}`: **{top['method']}** {_ci(top)}"
            if len(g) >= 2:
                sec = g.iloc[1]
                verdict = (
                    "ahead of" if top["separable"] else "not separable (overlapping intervals) from"
                )
                text += f", {verdict} {sec['method']} {_ci(sec)}"
            pop = best[best["mode"] == "popularity"]
            if len(pop):
                p = pop.iloc[0]
                text += f"; popularity {_ci(p)}"
                if p["mean"] > top["mean"]:
                    text += " — **popularity is higher than every method in this mode**"
                elif not (np.isfinite(top["low"]) and top["low"] > p["high"]):
                    text += " (the best is not separable from popularity)"
            lines.append(text)
        lines.append("")
    per_method = method_quality(quality, hr)
    if not per_method.empty:
        lines += [
            "**Quality per method** on test with exact search, in the query mode chosen on "
            "validation (95% interval), before what any index loses:",
            "",
            md_table(
                pd.DataFrame(
                    {
                        "method": per_method["method"],
                        "setting": per_method["setting"],
                        "mode": per_method["mode"],
                        hr: [_ci(r) for _, r in per_method.iterrows()],
                        "seeds": per_method["seeds"],
                    }
                )
            ),
            "",
        ]
    fast = fastest_reaching(results, hr, target)
    if not fast.empty:
        if e2e_mode == "best":
            via = " (each method's query mode chosen on validation, column `mode`)"
        else:
            via = f" ({e2e_mode} queries)" if e2e_mode else ""
        lines += [
            f"**Fastest index reaching knn-recall@{k} >= {target}**, per method: its "
            f"single-query speed-up over exact search, and {hr}{via} through it vs exact search "
            "(cost = exact minus index; positive = quality given up):",
            "",
        ]
        table = pd.DataFrame(
            {
                "method": fast["method"],
                "fastest index": [
                    f"{i} ({p})" + ("" if r else f" — none reaches {target}")
                    for i, p, r in zip(fast["index"], fast["params"], fast["reached"], strict=True)
                ],
                "mode": fast["e2e_mode"] if "e2e_mode" in fast else e2e_mode or "",
                "knn-recall": fast["knn_recall"].map(lambda v: f"{v:.3f}"),
                "QPS": fast["qps_single"].map(lambda v: f"{v:,.0f}"),
                "speed-up": fast["speedup"].map(lambda v: f"{v:.2f}x"),
            }
        )
        if f"{hr}_lost" in fast:
            table[f"{hr} exact"] = fast[f"exact_{hr}"].map(lambda v: f"{v:.4f}")
            table[f"{hr} index"] = fast[f"index_{hr}"].map(lambda v: f"{v:.4f}")
            table["cost"] = fast[f"{hr}_lost"].map(lambda v: f"{v:+.4f}")
        lines += [md_table(table), ""]
        best_speed = float(fast["speedup"].max())
        worst_cost = float(fast[f"{hr}_lost"].max()) if f"{hr}_lost" in fast else np.nan
        notes = []
        if best_speed < 2:
            notes.append(
                f"no index is even 2x faster than exact search here (best {best_speed:.2f}x): "
                "on this many items exact search is the sensible choice"
            )
        if np.isfinite(worst_cost):
            notes.append(
                f"the largest {hr} given up by these picks is {worst_cost:+.4f}"
                + (
                    " — within the sampling noise of the test users"
                    if not best.empty and worst_cost < _half_width(best)
                    else ""
                )
            )
        if notes:
            lines += ["Reading: " + "; ".join(notes) + ".", ""]
        lines += [
            "Speeds are wall clock on this machine (the load average is recorded at the end of "
            "this report): compare rows of one run, not absolute numbers across runs.",
            "",
        ]
    return lines


def _ci(row: pd.Series) -> str:
    if np.isfinite(row["low"]):
        return f"{row['mean']:.3f} [{row['low']:.3f}, {row['high']:.3f}]"
    return f"{row['mean']:.3f}"


def _half_width(best: pd.DataFrame) -> float:
    hw = ((best["high"] - best["low"]) / 2).dropna()
    return float(hw.median()) if len(hw) else 0.0


def summary_text(outdir: str | Path) -> str:
    """The summary section of an experiment folder's results, as plain text (for the end of
    ``embrecall run``)."""
    out = Path(outdir)
    results = pd.read_csv(out / "results.csv") if (out / "results.csv").exists() else pd.DataFrame()
    quality = pd.read_csv(out / "quality.csv") if (out / "quality.csv").exists() else pd.DataFrame()
    config = read_json(out / "config.resolved.json")
    k = int(config.get("k", [10])[0]) if config else 10
    return "\n".join(summary_lines(results, quality, k, e2e_mode_of(config)))
