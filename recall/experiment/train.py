"""Training stage: one ``[[methods]]`` entry -> ``Embeddings`` (cached by method, seed, code and
data content), and the tuning of a method on the validation split when the config has ``[tuning]``."""

from __future__ import annotations

import functools
import hashlib
import json
import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from embeddings import Embeddings
from embeddings.base import is_trainer
from embeddings.datasets import Interactions, ItemSideInfo
from embeddings.io import atomic_write
from recall.experiment.schema import import_object

logger = logging.getLogger(__name__)


@functools.lru_cache(maxsize=1)
def code_fingerprint() -> str:
    """sha256 over the source files of the ``embeddings`` package: a cached embedding is reused
    only while the code that made it (trainers, walks, data generators) is unchanged."""
    import embeddings

    h = hashlib.sha256()
    root = Path(embeddings.__file__).parent
    for f in sorted(root.rglob("*.py")):
        h.update(f.relative_to(root).as_posix().encode())
        h.update(f.read_bytes())
    return h.hexdigest()[:16]


def _hash(obj: Any) -> str:
    return hashlib.sha256(json.dumps(obj, sort_keys=True, default=str).encode()).hexdigest()[:16]


# ---------------------------------------------------------------------- training
@dataclass(frozen=True)
class TrainerTraits:
    """What the runner needs to know about a trainer class."""

    random_state: bool  # the constructor takes ``random_state``
    progress: bool  # the constructor takes ``progress``
    uses_side_info: bool  # ``fit(data, side_info=...)``
    field_weights: bool  # learned per-item field weights (``trainer.field_weights()``)


def trainer_traits(cls: type) -> TrainerTraits:
    """What a trainer declares through the Trainer protocol (:mod:`embeddings.base`): its
    parameter names and the class attributes ``uses_side_info`` / ``has_field_weights``."""
    if not is_trainer(cls):
        raise ValueError(f"{cls.__name__} is not a trainer (see embeddings.base.Trainer)")
    names = set(cls.param_names())  # type: ignore[attr-defined]
    return TrainerTraits(
        random_state="random_state" in names,
        progress="progress" in names,
        uses_side_info=bool(cls.uses_side_info),  # type: ignore[attr-defined]
        field_weights=bool(cls.has_field_weights),  # type: ignore[attr-defined]
    )


def make_trainer(
    cls: type,
    spec: Mapping[str, Any],
    seed: int,
    progress: bool = False,
    traits: TrainerTraits | None = None,
) -> Any:
    """An unfitted trainer of ``[[methods]]`` entry ``spec`` (its ``params``; ``random_state`` =
    ``seed`` and ``progress`` unless the params set them); ``ValueError`` for bad params."""
    traits = trainer_traits(cls) if traits is None else traits
    params = dict(spec.get("params", {}))
    if traits.random_state:
        params.setdefault("random_state", seed)
    if traits.progress:
        params.setdefault("progress", progress)
    try:
        return cls(**params)
    except TypeError as exc:  # a spec that did not go through parse_config
        raise ValueError(f"method {spec['name']!r}: bad params for {cls.__name__} ({exc})") from exc


def train_method(
    spec: Mapping[str, Any],
    train: Interactions,
    side_info: ItemSideInfo | None,
    seed: int,
    cache_dir: Path | None,
    cache_key: Mapping[str, Any],
    progress: bool = False,
    reuse: bool = True,
) -> tuple[Embeddings, bool]:
    """Train one ``[[methods]]`` entry, or load it from ``cache_dir`` when ``reuse`` and a file of
    the same config, seed and code exists. Returns (embeddings, cached). Trainers with learned
    field weights (EGES) also leave them as CSV in ``cache_dir`` (named in ``meta``)."""
    key = _hash({"method": dict(spec), "seed": seed, "code": code_fingerprint(), **cache_key})
    path = cache_dir / f"emb-{spec['name']}-s{seed}-{key}.npz" if cache_dir else None
    if reuse and path is not None and path.exists():
        try:
            return Embeddings.load(path), True
        except ValueError as exc:  # a damaged cache entry is retrained, not trusted
            logger.warning("ignoring damaged cache file %s: %s", path, exc)
    cls = import_object(str(spec["class"]))
    traits = trainer_traits(cls)
    trainer = make_trainer(cls, spec, seed, progress, traits)
    t0 = time.perf_counter()
    emb = trainer.fit(train, side_info=side_info) if traits.uses_side_info else trainer.fit(train)
    seconds = time.perf_counter() - t0
    meta = dict(emb.meta)
    meta.setdefault("train_seconds", seconds)
    meta["experiment_method"] = spec["name"]
    if traits.field_weights:  # EGES-style trainers: keep the learned field weights
        fw = trainer.field_weights()
        meta["mean_field_weights"] = {str(k): float(v) for k, v in fw.mean(axis=0).items()}
        if cache_dir is not None:
            fw_name = f"fieldweights-{spec['name']}-s{seed}-{key}.csv"
            with atomic_write(cache_dir / fw_name, "w") as fh:
                fw.to_csv(fh)
            meta["field_weights_file"] = fw_name
    emb = Embeddings(emb.ids, emb.vectors, meta)
    if path is not None:
        emb.save(path)
    return emb, False
