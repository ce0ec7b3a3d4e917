"""Validation stage: each method's setting and query mode, chosen on (train, valid) only.

With a ``[tuning]`` table, the methods it covers are searched by ``embeddings.tuning.tune``
(Optuna TPE, seeded, within the table's budget) starting from the config's own setting; the
others keep their config setting. Either way the query mode is the best one on validation among
``[evaluation] query_modes`` (default the plain i2i and u2i; ``"recency"``: the recency grid of
``embeddings.evaluation.RECENCY_MODES``). The runner then refits the chosen setting on train +
valid and reads test once.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from embeddings.datasets import Interactions, ItemSideInfo
from embeddings.sessions import ValidationEvents
from embeddings.tuning.scoring import best_mode
from recall.experiment.schema import import_object
from recall.experiment.train import train_method, trainer_traits

logger = logging.getLogger(__name__)

MODES = ("i2i", "u2i")


def modes_of(raw: Mapping[str, Any]) -> tuple[str, ...]:
    """The query modes validation chooses from: ``[evaluation] query_modes`` of a resolved
    config (a list of mode names, ``"recency"`` or ``"plain"``), default the plain i2i and u2i."""
    from embeddings.evaluation import query_modes

    return query_modes((raw.get("evaluation") or {}).get("query_modes"))


def modes_tag(modes: tuple[str, ...]) -> str:
    """``""`` for the plain modes, else a short tag of the grid for study names: a search
    journal resumed with another grid would mix trials scored on different modes."""
    import hashlib

    if tuple(modes) == MODES:
        return ""
    return "-modes" + hashlib.sha256("|".join(modes).encode()).hexdigest()[:8]


@dataclass
class MethodChoice:
    """What validation chose for one ``[[methods]]`` entry.

    ``params``: the trainer parameters to refit with (the config's, tuned ones overriding);
    ``mode``: the best query mode on validation (a mode name such as ``u2i:h=5``);
    ``setting``: ``"tuned"`` or ``"config"``;
    ``valid``: the validation figure (``metric``) per mode tried (with several validation events
    per user also ``<mode>_last``: the event before test alone); ``search``: the
    ``embeddings.tuning.METHODS`` key searched (None when not tuned).
    """

    method: str
    params: dict[str, Any]
    mode: str
    setting: str
    metric: str
    valid: dict[str, float]
    search: str | None = None
    n_trials: int = 0
    seconds: float = 0.0
    history: Any = None
    extra: dict[str, Any] = field(default_factory=dict)

    def row(self, seed: int) -> dict[str, Any]:
        """One row of ``tuning.csv``: the validation figures of the plain modes and of the chosen
        one (every mode's figure stays in ``valid``)."""
        import json

        keep = [*MODES, self.mode]
        keep += [f"{m}_last" for m in keep]
        return {
            "seed": seed,
            "method": self.method,
            "setting": self.setting,
            "search": self.search or "",
            "n_trials": self.n_trials,
            "seconds": self.seconds,
            "validated_mode": self.mode,
            "metric": self.metric,
            **{f"valid_{m}": v for m, v in self.valid.items() if m in keep},
            "params": json.dumps(self.params, sort_keys=True, default=str),
        }


def search_key(spec: Mapping[str, Any], tuning: Mapping[str, Any] | None) -> str | None:
    """The ``embeddings.tuning.METHODS`` key under which ``spec`` is searched, or None when the
    config has no ``[tuning]``, the class has no search, or ``[tuning] methods`` leaves it out."""
    if not tuning:
        return None
    from embeddings.tuning import method_for_class

    try:
        key = method_for_class(str(spec["class"]), spec.get("params", {}))
    except ValueError:
        return None
    wanted = tuning.get("methods")
    return key if wanted is None or key in wanted else None


def _fits(value: Any, dim: Mapping[str, Any]) -> bool:
    """Whether ``value`` lies in one dimension of a search space (None is ``"none"``)."""
    v = "none" if value is None else value
    if "choices" in dim:
        return v in list(dim["choices"])
    if isinstance(v, bool) or not isinstance(v, int | float):
        return False
    lo, hi = dim["int"] if "int" in dim else dim["float"]
    return bool(lo <= v <= hi) and ("float" in dim or isinstance(v, int))


def tune_arguments(
    spec: Mapping[str, Any],
    tuning: Mapping[str, Any],
    key: str,
    seed: int,
    warm_params: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """Keyword arguments of ``embeddings.tuning.tune`` for one config method: the ``[tuning]``
    table's budget, metric and space (default ``default_space(key)``); the config's parameters
    that are not searched stay fixed; the config's own setting is the first trial (so the search
    never ends below it); ``random_state`` is the run's seed unless the table sets one.

    ``warm_params`` (``[tuning] warm_start``: the setting another method's search chose on the
    same validation split, e.g. DeepWalk's for node2vec, whose space contains DeepWalk's at
    p = q = 1) is the second trial: its values that lie in this space, the rest as in the
    first. So node2vec's search never ends below the DeepWalk setting it generalises.

    ``random_state`` (the TPE sampler's seed and every trial's training seed) is the run's
    ``seed`` plus ``[tuning] random_state`` (default 0): each seed of a run is a search of its
    own, so the spread over seeds includes the search's own randomness."""
    from embeddings.tuning import default_space, defaults_in_space, space_from_config

    kw = space_from_config(tuning, key)
    space = kw["space"] if kw["space"] is not None else default_space(key)
    params = dict(spec.get("params", {}))
    fixed = {k: v for k, v in params.items() if k not in space}
    fixed.update(kw["fixed"])
    start = defaults_in_space(key, space)
    start.update({k: v for k, v in params.items() if k in space and _fits(v, space[k])})
    initial = [start]
    if warm_params is not None:
        warm = dict(start)
        warm.update({k: v for k, v in warm_params.items() if k in space and _fits(v, space[k])})
        if warm != start:
            initial.append(warm)
    kw.update(space=space, fixed=fixed, initial=initial)
    # the run's seed reaches the search: the sampler and every trial's training
    kw["random_state"] = int(tuning.get("random_state", 0)) + int(seed)
    return kw


def validation_scores(
    emb: Any,
    train: Interactions,
    valid: Interactions | ValidationEvents,
    ks: list[int],
    metric: str,
    eval_metric: str,
    min_rating: float | None,
    modes: tuple[str, ...] = MODES,
) -> dict[str, float]:
    """``metric`` (e.g. ``hit_rate@10``) of each query mode on the validation split (one event
    per user, or ``ValidationEvents``: see ``embeddings.tuning.scoring.validation_scores``; then
    also ``<mode>_last``, the event before test alone)."""
    from embeddings.tuning.scoring import validation_scores as scores

    if "@" not in metric:
        metric = f"{metric}@{ks[0]}"
    return scores(
        emb, train, valid, metric, modes, min_rating, i2i_metric=eval_metric, u2i_metric=eval_metric
    )


def choose_setting(
    spec: Mapping[str, Any],
    train: Interactions,
    valid: Interactions,
    side_info: ItemSideInfo | None,
    seed: int,
    ks: list[int],
    eval_metric: str = "cosine",
    min_rating: float | None = None,
    tuning: Mapping[str, Any] | None = None,
    study_name: str | None = None,
    cache_dir: Path | None = None,
    cache_key: Mapping[str, Any] | None = None,
    progress: bool = False,
    reuse: bool = True,
    warm_params: Mapping[str, Any] | None = None,
    modes: tuple[str, ...] = MODES,
) -> MethodChoice:
    """Choose ``spec``'s setting and query mode on (train, valid); test is never read.

    ``modes``: the query modes to choose from (``modes_of(config)``); the best on validation
    is the method's mode (ties: the first in ``modes``).

    Searched (``search_key`` not None): ``tune`` within the ``[tuning]`` budget; the best trial's
    parameters and mode. Otherwise the config's setting is trained on ``train`` (cached like any
    run) and its better mode on ``valid`` is kept. ``metric`` is ``[tuning] metric`` or
    ``hit_rate@<first k>``.
    """
    metric = str((tuning or {}).get("metric", f"hit_rate@{ks[0]}"))
    key = search_key(spec, tuning)
    t0 = time.perf_counter()
    if key is None:
        emb, _ = train_method(
            spec, train, side_info, seed, cache_dir, dict(cache_key or {}), progress, reuse
        )
        scores = validation_scores(emb, train, valid, ks, metric, eval_metric, min_rating, modes)
        mode = best_mode(scores)  # *_last: reported, never chosen on
        return MethodChoice(
            method=str(spec["name"]),
            params=dict(spec.get("params", {})),
            mode=mode,
            setting="config",
            metric=metric,
            valid=scores,
            seconds=time.perf_counter() - t0,
        )
    from embeddings.tuning import tune

    assert tuning is not None
    kw = tune_arguments(spec, tuning, key, seed, warm_params)
    kw["metric"] = metric  # the runner's default K is its first k, not the tuner's 10
    kw["modes"] = modes
    uses_side = trainer_traits(import_object(str(spec["class"]))).uses_side_info
    res = tune(
        key,
        train,
        valid,
        study_name=study_name or f"{spec['name']}-s{seed}",
        side_info=side_info if uses_side else None,
        min_rating=min_rating,
        **kw,
    )
    prefix = f"{metric}_"
    valid_scores = {
        a.removeprefix(prefix): float(v) for a, v in res.best_attrs.items() if a.startswith(prefix)
    }
    mode = str(res.best_attrs["mode"])
    complete = res.history[res.history["state"] == "COMPLETE"] if len(res.history) else []
    params = {**dict(spec.get("params", {})), **res.best_params}
    logger.info(
        "%s: tuned %s on validation: %s %.4f (%s), %s",
        spec["name"],
        key,
        metric,
        res.best_value,
        mode,
        params,
    )
    return MethodChoice(
        method=str(spec["name"]),
        params=params,
        mode=mode,
        setting="tuned",
        metric=metric,
        valid=valid_scores,
        search=key,
        n_trials=int(len(complete)),
        seconds=time.perf_counter() - t0,
        history=res.history,
    )
