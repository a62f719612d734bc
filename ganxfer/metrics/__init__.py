"""Distribution metrics: pure functions of real and synthetic rows (arrays or DataFrames) that
return numbers. They know nothing of GANs; `suite` names them and runs a chosen few."""

import logging

import numpy as np

from ganxfer.metrics.c2st import c2st
from ganxfer.metrics.features import FeatureNet, cached_feature_net
from ganxfer.metrics.frechet import frechet_distance
from ganxfer.metrics.kernels import kid, kid_kernel, mmd2_rbf, mmd2_unbiased
from ganxfer.metrics.memorisation import distance_to_closest_record
from ganxfer.metrics.neighbours import prdc
from ganxfer.metrics.space import Space
from ganxfer.metrics.suite import METRICS, Comparison, Skipped, evaluate, ideal, meaning
from ganxfer.metrics.tabular import (column_pairs, column_shapes, correlations, is_categorical, ks_complement, quality,
                                     quality_breakdown, tv_complement)
from ganxfer.metrics.utility import utility

QUICK = ("fd", "mmd2_rbf")  # what quick() returns: both lower is better


def quick(real, fake, seed: int = 0) -> dict:
    """The cheap pair to follow during training, on rows in the scaled space: data-space Fréchet
    distance and RBF MMD², each the same estimate as `evaluate` reports under its name. A metric
    that needs more rows than there are is NaN, not measured, and the log says why."""
    real, fake = np.asarray(real), np.asarray(fake)
    compute = {"fd": lambda: frechet_distance(real, fake),
               "mmd2_rbf": lambda: mmd2_rbf(real, fake, seed=seed)["mmd2_rbf"]}
    rows = min(len(real), len(fake))
    results = {}
    for name in QUICK:
        if rows < METRICS[name].min_rows:
            _say_not_measured(name, METRICS[name].min_rows, rows)
            results[name] = float("nan")
        else:
            results[name] = compute[name]()
    return results


def _say_not_measured(name: str, needed: int, rows: int) -> None:
    logging.getLogger("ganxfer").warning(
        "%s not measured (NaN): it needs at least %d held-out rows, the data hold out %d; a larger file "
        "or a larger data.holdout gives it enough", name, needed, rows)


__all__ = ["METRICS", "QUICK", "Comparison", "FeatureNet", "Skipped", "Space", "c2st", "cached_feature_net",
           "column_pairs", "column_shapes", "correlations", "distance_to_closest_record", "evaluate", "frechet_distance", "ideal",
           "is_categorical", "kid", "kid_kernel", "ks_complement", "meaning", "mmd2_rbf", "mmd2_unbiased", "prdc",
           "quality", "quality_breakdown", "quick", "tv_complement", "utility"]
