"""Training stage: one ``[[methods]]`` entry -> ``Embeddings`` (cached by method, seed, code and
data content), and the tuning of a method on the validation split when the config has ``[tuning]``."""

from __future__ import annotations

import functools
import hashlib
import inspect
import json
import logging
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from embeddings import Embeddings
from embeddings._io import atomic_write
from embeddings.datasets import Interactions, ItemSideInfo
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
    params = dict(spec.get("params", {}))
    sig = inspect.signature(cls)
    if "random_state" in sig.parameters:
        params.setdefault("random_state", seed)
    if "progress" in sig.parameters:
        params.setdefault("progress", progress)
    try:
        trainer = cls(**params)
    except TypeError as exc:  # a spec that did not go through parse_config
        raise ValueError(f"method {spec['name']!r}: bad params for {cls.__name__} ({exc})") from exc
    fit_sig = inspect.signature(trainer.fit)
    t0 = time.perf_counter()
    if "side_info" in fit_sig.parameters:
        emb = trainer.fit(train, side_info=side_info)
    else:
        emb = trainer.fit(train)
    seconds = time.perf_counter() - t0
    meta = dict(emb.meta)
    meta.setdefault("train_seconds", seconds)
    meta["experiment_method"] = spec["name"]
    if hasattr(trainer, "field_weights"):  # EGES-style trainers: keep the learned field weights
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
