"""Distribution metrics: pure functions of two arrays of rows (real, synthetic) -> a number.
They know nothing of GANs."""

from ganxfer.metrics.distances import c2st_accuracy, frechet_distance, mmd2_rbf

# name -> (function, the value a perfect generator reaches, "lower"/"higher" is better)
METRICS = {
    "fd": (frechet_distance, "0", "lower"),
    "mmd2_rbf": (mmd2_rbf, "0", "lower"),
    "c2st_accuracy": (c2st_accuracy, "0.5", "closer to 0.5"),
}

__all__ = ["METRICS", "c2st_accuracy", "frechet_distance", "mmd2_rbf"]
