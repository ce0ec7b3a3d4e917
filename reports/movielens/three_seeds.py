"""The 3-seed picture of ``configs/movielens.toml``: one table over seeds from the per-seed
outputs of ``validation_protocol.py`` and, given the run's search journal, every trial's
validation figure and the search-history plot. Writes beside this file:

    python reports/movielens/three_seeds.py [--journal search.journal.log]
    python reports/movielens/three_seeds.py --rerun validation_protocol_r3   # round 3's merge

``--rerun PREFIX``: some methods searched again on the same split (``validation_protocol.py
--out PREFIX_s{seed}.csv``) replace their rows and per-user columns; refused when popularity or
item-kNN differ per user (not the same split).

``three_seeds_table.md`` (test HR@10 mean and 95% t-interval over the seeds, the ratio to
popularity and to item-kNN, the per-seed paired-bootstrap verdicts), ``search_history.csv`` and
``plots/search_history.png`` (only with ``--journal``), and, when every seed has its per-user
file (``validation_protocol_s{seed}_users.csv``), ``three_seeds_pooled.csv`` / ``.md``: each
method against popularity and against item-kNN with a paired bootstrap over (seed, user) units,
users resampled within each seed (stratified: every resample keeps each seed's users), the
difference of mean test HR@10 pooled over the seeds with its 95% percentile interval and a
two-sided bootstrap p-value, Holm-corrected over the whole family of comparisons; a "win" or
"loss" only when the Holm-corrected p-value is below 0.05.
"""

from __future__ import annotations

import argparse
import json
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from embeddings.stats import holm
from embeddings.stats import pooled_paired_bootstrap as pooled_bootstrap

HERE = Path(__file__).resolve().parent
SHORT = {"no significant difference": "n.s.", "win": "win", "loss": "loss"}
#: the columns of a per-user file that are baselines, not methods
BASELINES = ("popularity", "itemknn")
#: a study of the runner: ``<config>-<method>-s<seed>-<valid content>[-from-<method>][-modes<8 hex>]``
#: (``recall.experiment.runner``: the warm start and the query-mode grid's tag, when not plain)
_STUDY = re.compile(
    r"^(?P<config>[^-]+)-(?P<method>.+)-s(?P<seed>\d+)-(?P<content>[0-9a-f]{16,})"
    r"(?:-from-(?P<warm>.+?))?(?:-modes(?P<modes>[0-9a-f]{8}))?$"
)


def parse_study_name(name: str) -> dict[str, Any] | None:
    """``{"config", "method", "seed", "content", "warm", "modes"}`` of a runner's study name
    (``seed`` an int; ``warm`` / ``modes`` None when absent), or None for another name."""
    m = _STUDY.match(name)
    if m is None:
        return None
    out: dict[str, Any] = m.groupdict()
    out["seed"] = int(out["seed"])
    return out


def _interval(x: pd.Series) -> str:
    """Mean and 95% t-interval of the per-seed values."""
    v = np.asarray(x, dtype=float)
    m = float(v.mean())
    if len(v) < 2:
        return f"{m:.3f}"
    h = float(stats.t.ppf(0.975, len(v) - 1) * v.std(ddof=1) / np.sqrt(len(v)))
    return f"{m:.3f} [{m - h:.3f}, {m + h:.3f}]"


def read_seed(
    seed: int, prefix: str = "validation_protocol", folder: Path = HERE
) -> tuple[pd.DataFrame, dict[str, Any], pd.DataFrame | None]:
    """One seed's outputs of ``validation_protocol.py``: the method rows (``{prefix}_s{seed}.csv``),
    the baselines (``.json``) and the per-user hits (``_users.csv`` indexed by user_id; None when
    absent)."""
    rows = pd.read_csv(folder / f"{prefix}_s{seed}.csv")
    base = json.loads((folder / f"{prefix}_s{seed}.json").read_text())
    return rows, base, _read_users(folder / f"{prefix}_s{seed}_users.csv")


def _read_users(f: Path) -> pd.DataFrame | None:
    """A per-user file indexed by user_id, sorted; None when it does not exist."""
    return pd.read_csv(f).set_index("user_id").sort_index() if f.exists() else None


def _baselines(base: Mapping[str, Any]) -> dict[str, float]:
    return {
        "popularity": float(base["popularity"]),
        "itemknn": float(base.get("itemknn_test", base.get("itemknn_i2i"))),
    }


def apply_rerun(
    old: tuple[pd.DataFrame, dict[str, Any], pd.DataFrame | None],
    new: tuple[pd.DataFrame, dict[str, Any], pd.DataFrame | None],
    seed: int,
) -> tuple[pd.DataFrame, dict[str, Any], pd.DataFrame | None]:
    """One seed's outputs where the methods of a later run (``new``: some methods searched
    again on the same split) replace their rows and per-user columns in ``old``. The two runs
    must share the split: the same popularity and item-kNN figures and, per user, the same
    baseline hits (``ValueError`` naming the difference otherwise). Rows keep ``old``'s order;
    a method only ``new`` has is appended."""
    (o_rows, o_base, o_users), (n_rows, n_base, n_users) = old, new
    ob, nb = _baselines(o_base), _baselines(n_base)
    for k in ob:
        if not np.isclose(ob[k], nb[k], rtol=0, atol=1e-12):
            raise ValueError(
                f"seed {seed}: the rerun's {k} test figure {nb[k]:.6f} differs from the first "
                f"run's {ob[k]:.6f}: not the same split or baseline"
            )
    if (o_users is None) != (n_users is None):
        raise ValueError(f"seed {seed}: only one of the two runs has per-user figures")
    users = None
    if o_users is not None and n_users is not None:
        if not o_users.index.equals(n_users.index):
            raise ValueError(f"seed {seed}: the rerun's test users differ from the first run's")
        for b in BASELINES:
            if b in o_users and b in n_users and not o_users[b].equals(n_users[b]):
                raise ValueError(f"seed {seed}: the rerun's per-user {b} hits differ")
        methods = [c for c in (*o_users.columns, *n_users.columns) if c not in BASELINES]
        cols = [*dict.fromkeys(methods), *(b for b in BASELINES if b in o_users)]
        users = pd.DataFrame(
            {c: (n_users[c] if c in n_users else o_users[c]) for c in cols}, index=o_users.index
        )
    replaced = set(n_rows["method"])
    order = dict.fromkeys([*o_rows["method"], *n_rows["method"]])
    picked = [(n_rows if m in replaced else o_rows) for m in order]
    rows = pd.concat([t[t["method"] == m] for t, m in zip(picked, order, strict=True)])
    return rows.reset_index(drop=True), o_base, users


def seed_table(
    seeds: Sequence[int],
    tables: Mapping[int, tuple[pd.DataFrame, dict[str, Any], pd.DataFrame | None]] | None = None,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Per-seed method rows (``tables``, default ``read_seed`` of each seed) with popularity /
    item-kNN beside."""
    rows, base = [], []
    for s in seeds:
        d, j, _ = tables[s] if tables is not None else read_seed(s)
        d = d.copy()
        d["seed"] = s
        rows.append(d)
        base.append({"seed": s, **_baselines(j)})
    return pd.concat(rows, ignore_index=True), pd.DataFrame(base)


def summary_markdown(d: pd.DataFrame, base: pd.DataFrame) -> str:
    pop, knn = base["popularity"].mean(), base["itemknn"].mean()
    lines = [
        "| method | modes (per seed) | valid HR@10 | test HR@10 | x popularity | x item-kNN "
        "| vs popularity (per seed) | vs item-kNN (per seed) |",
        "|---|---|---|---|---|---|---|---|",
    ]
    order = d.groupby("method", sort=False)["test"].mean().sort_values(ascending=False).index
    for m in order:
        g = d[d["method"] == m].sort_values("seed")
        lines.append(
            f"| {m} | {' / '.join(g['mode'])} | {_interval(g['valid_k'])} | "
            f"**{_interval(g['test'])}** | {g['test'].mean() / pop:.2f} | "
            f"{g['test'].mean() / knn:.2f} | "
            f"{' / '.join(SHORT.get(v, v) for v in g['verdict_popularity'])} | "
            f"{' / '.join(SHORT.get(v, v) for v in g['verdict_itemknn'])} |"
        )
    lines.append(
        f"| popularity | | | {_interval(base['popularity'])} | 1.00 | {pop / knn:.2f} | | |"
    )
    lines.append(
        f"| item-kNN (similarity and query mode chosen on validation) | | | {_interval(base['itemknn'])} | {knn / pop:.2f} "
        "| 1.00 | | |"
    )
    return "\n".join(lines)


def search_history(journal: str, names: list[str]) -> pd.DataFrame:
    """Every trial of the movielens studies in the journal (method, seed, number, value)."""
    import optuna

    from embeddings.tuning.study import _history, _storage

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    storage = _storage(journal)
    out = []
    for summary in optuna.study.get_all_study_summaries(storage):
        name = summary.study_name
        parsed = parse_study_name(name)
        if parsed is None or parsed["config"] != "movielens" or parsed["method"] not in names:
            continue
        h = _history(optuna.load_study(study_name=name, storage=storage))
        h.insert(0, "seed", parsed["seed"])
        h.insert(0, "method", parsed["method"])
        out.append(h)
    return pd.concat(out, ignore_index=True).sort_values(["method", "seed", "number"])


def plot_search(history: pd.DataFrame) -> object:
    import matplotlib.figure

    methods = list(dict.fromkeys(history["method"]))
    fig = matplotlib.figure.Figure(figsize=(3.2 * len(methods), 3.0), layout="constrained")
    axes = fig.subplots(1, len(methods), sharey=True, squeeze=False)[0]
    for ax, m in zip(axes, methods, strict=True):
        for seed, g in history[history["method"] == m].groupby("seed"):
            (line,) = ax.plot(g["number"], g["best_so_far"], label=f"seed {seed}")
            ax.plot(g["number"], g["value"], ".", color=line.get_color(), alpha=0.5)
        ax.set_title(m)
        ax.set_xlabel("trial")
    axes[0].set_ylabel("validation HR@10 (5 events / user)")
    axes[0].legend(fontsize=7)
    return fig


# ------------------------------------------------------------ pooled over (seed, user)
def read_per_user(seeds: Sequence[int], folder: Path = HERE) -> dict[int, pd.DataFrame] | None:
    """Per seed, ``validation_protocol_s{seed}_users.csv`` indexed by user_id (one column per
    method, ``popularity`` and ``itemknn``); None when a seed has no such file."""
    out = {int(s): _read_users(folder / f"validation_protocol_s{s}_users.csv") for s in seeds}
    return None if any(u is None for u in out.values()) else out


def pooled_table(
    per_user: Mapping[int, pd.DataFrame],
    n_boot: int = 10_000,
    random_state: int = 0,
    alpha: float = 0.05,
) -> pd.DataFrame:
    """Every method against each baseline (``BASELINES`` present in every seed's table):
    ``pooled_bootstrap`` over (seed, user), then Holm over the whole family (every method x
    baseline). One row per comparison: method, baseline, the bootstrap's figures, ``p_holm``
    and ``verdict`` ("win" / "loss" when ``p_holm`` < ``alpha``, else "no significant
    difference"). Methods are the columns every seed has; users are paired within a seed."""
    if not per_user:
        raise ValueError("per_user: no seeds")
    tables = {int(s): t for s, t in per_user.items()}
    common = set.intersection(*(set(t.columns) for t in tables.values()))
    bases = [b for b in BASELINES if b in common]
    methods = [c for c in next(iter(tables.values())).columns if c in common and c not in bases]
    if not bases or not methods:
        raise ValueError(
            f"per-user tables need a baseline column ({BASELINES}) and a method column in every "
            f"seed; common columns: {sorted(common)}"
        )
    rows = []
    for m in methods:
        for b in bases:
            r = pooled_bootstrap(
                {s: t[m].to_numpy() for s, t in tables.items()},
                {s: t[b].to_numpy() for s, t in tables.items()},
                n_boot=n_boot,
                random_state=random_state,
            )
            rows.append({"method": m, "baseline": b, **r})
    out = pd.DataFrame(rows)
    out["p_holm"] = holm(out["p"].to_numpy())
    sig = out["p_holm"] < alpha
    out["verdict"] = np.where(
        sig & (out["diff"] > 0),
        "win",
        np.where(sig & (out["diff"] < 0), "loss", "no significant difference"),
    )
    return out


def pooled_markdown(t: pd.DataFrame) -> str:
    """The table of ``pooled_table`` in markdown."""
    names = {"popularity": "popularity", "itemknn": "item-kNN"}
    lines = [
        "| method | vs | HR@10 | baseline HR@10 | difference [95%] | ratio [95%] | p | p (Holm) "
        "| verdict |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in t.itertuples():
        lines.append(
            f"| {r.method} | {names.get(r.baseline, r.baseline)} | {r.mean_a:.4f} | "
            f"{r.mean_b:.4f} | {r.diff:+.4f} [{r.diff_low:+.4f}, {r.diff_high:+.4f}] | "
            f"{r.ratio:.2f} [{r.ratio_low:.2f}, {r.ratio_high:.2f}] | {r.p:.4f} | "
            f"{r.p_holm:.4f} | {SHORT.get(r.verdict, r.verdict)} |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--journal", default=None, help="the run's search journal (.log)")
    ap.add_argument("--n-boot", type=int, default=10_000, help="pooled bootstrap resamples")
    ap.add_argument(
        "--rerun",
        default=None,
        metavar="PREFIX",
        help="methods searched again: PREFIX_s{seed}.csv / .json / _users.csv (validation_protocol"
        ".py --out PREFIX_s{seed}.csv) replace those methods' rows and per-user columns",
    )
    ap.add_argument(
        "--history-name", default="search_history", help="name of the history CSV / plot"
    )
    args = ap.parse_args(argv)
    tables = {s: read_seed(s) for s in args.seeds}
    if args.rerun:
        tables = {s: apply_rerun(t, read_seed(s, args.rerun), s) for s, t in tables.items()}
    d, base = seed_table(args.seeds, tables)
    (HERE / "three_seeds_table.md").write_text(summary_markdown(d, base) + "\n")
    users = {s: t[2] for s, t in tables.items()}
    per_user = None if any(u is None for u in users.values()) else users
    if per_user is not None:
        pooled = pooled_table(per_user, n_boot=args.n_boot)
        pooled.to_csv(HERE / "three_seeds_pooled.csv", index=False)
        n = int(pooled["n_units"].iloc[0])
        head = (
            f"Paired bootstrap over (seed, user), seeds {', '.join(map(str, args.seeds))} "
            f"({n} units; users resampled within each seed, {args.n_boot:,} resamples): "
            "test HR@10 pooled over the seeds, 95% percentile intervals, two-sided bootstrap "
            f"p-values, Holm-corrected over the {len(pooled)} comparisons; a win / loss only "
            "when the Holm-corrected p-value is below 0.05.\n\n"
        )
        (HERE / "three_seeds_pooled.md").write_text(head + pooled_markdown(pooled) + "\n")
    if args.journal:
        hist = search_history(args.journal, sorted(set(d["method"])))
        keep = ["method", "seed", "number", "value", "best_so_far", "state"]
        keep += [c for c in hist.columns if c.startswith("params_")]
        hist[keep].to_csv(HERE / f"{args.history_name}.csv", index=False)
        (HERE / "plots").mkdir(exist_ok=True)
        plot_search(hist).savefig(HERE / "plots" / f"{args.history_name}.png", dpi=110)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
