"""Former home of the LSH tuners, kept because the README and notebooks import from it: see
:mod:`recall.lsh.tuning`."""

from recall.lsh.tuning import TuningResult, tune, tune_balanced_lsh, tune_lsh

__all__ = ["TuningResult", "tune", "tune_balanced_lsh", "tune_lsh"]
