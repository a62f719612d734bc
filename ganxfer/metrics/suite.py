"""The metric suite: which metrics exist, what each needs, which value is ideal, and running a
chosen few on one comparison of real and synthetic rows."""

from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Callable

import numpy as np
import pandas as pd

from ganxfer.metrics.c2st import c2st
from ganxfer.metrics.features import cached_feature_net, random_image_features
from ganxfer.metrics.frechet import frechet_distance
from ganxfer.metrics.kernels import kid, mmd2_rbf
from ganxfer.metrics.memorisation import distance_to_closest_record
from ganxfer.metrics.neighbours import prdc
from ganxfer.metrics.tabular import quality
from ganxfer.metrics.utility import utility


class Skipped(Exception):
    """A metric that cannot be computed from what was given; the message says why."""


@dataclass
class Comparison:
    """Everything the suite compares. Tables hold original units; `scale` maps a table to the
    one scaled space in which every distance is measured, the same for real and synthetic rows
    (evaluate's: a `Space` fitted on the real rows; a training run's: its schema's encoding)."""
    real: pd.DataFrame                       # real evaluation rows (may include the label column)
    fake: pd.DataFrame                       # synthetic rows, as many: the generated columns
    scale: Callable[[pd.DataFrame], np.ndarray]
    label: str | None = None                 # a class column of the real data, if any
    reference: pd.DataFrame | None = None    # other real rows, labelled: the feature classifier learns on them
    train: pd.DataFrame | None = None        # the rows the generator was trained on
    holdout: pd.DataFrame | None = None      # rows of the generator's data that it never saw
    cache_dir: Path | None = None            # where the feature classifier is kept
    seed: int = 0
    categorical: frozenset | None = None     # the columns the data's schema reads as categories
    image_shape: tuple[int, int, int] | None = None  # (C, H, W) when every row is an image

    @cached_property
    def real_x(self) -> np.ndarray:
        return self.scale(self.real)

    @cached_property
    def fake_x(self) -> np.ndarray:
        return self.scale(self.fake)

    @property
    def columns(self) -> list[str]:
        """The generated columns (a label is compared only through `utility`)."""
        return [name for name in self.fake.columns if name != self.label]

    def labelled(self, table: pd.DataFrame) -> pd.DataFrame:
        """The rows of `table` whose label is known."""
        return table.dropna(subset=[self.label])

    @cached_property
    def features(self) -> tuple[np.ndarray, np.ndarray]:
        """Real and synthetic rows in a feature space: the penultimate layer of a small
        seeded classifier trained on the labelled reference rows; for images without labels,
        a seeded random convolutional network (features.random_image_features)."""
        reference = None if self.reference is None or self.label is None else self.labelled(self.reference)
        if reference is not None and reference[self.label].nunique() >= 2:
            net = cached_feature_net(self.scale(reference), reference[self.label].to_numpy(), self.cache_dir,
                                     self.seed)
            return net(self.real_x), net(self.fake_x)
        if self.image_shape is not None:
            return (random_image_features(self.real_x, self.image_shape, self.seed),
                    random_image_features(self.fake_x, self.image_shape, self.seed))
        if self.label is None:
            raise Skipped("the data have no label column (data.label) to train the feature classifier on")
        raise Skipped("the real rows outside the evaluation set hold fewer than 2 classes to learn features from")


def _fd_features(c: Comparison) -> dict:
    return {"fd_features": frechet_distance(*c.features)}


def _kid_features(c: Comparison) -> dict:
    result = kid(*c.features, seed=c.seed)
    return {"kid_features": result["kid"], "kid_features_std": result["kid_std"]}


def _utility(c: Comparison) -> dict:
    if c.label is None:
        raise Skipped("the data have no label column (data.label) to predict")
    if c.label not in c.fake.columns:
        raise Skipped(f"the generator does not produce the label column {c.label!r}: "
                      "there is nothing to train a classifier on synthetic rows with")
    if c.train is None:
        raise Skipped("the generator's training rows were not available")
    return utility(c.labelled(c.train), c.labelled(c.real), c.labelled(c.fake), c.label, c.seed)


def _memorisation(c: Comparison) -> dict:
    if c.train is None or c.holdout is None:
        raise Skipped("the generator's training and held-out rows were not available")
    return distance_to_closest_record(c.fake_x, c.scale(c.train), c.scale(c.holdout))


@dataclass(frozen=True)
class Metric:
    compute: Callable[[Comparison], dict]  # -> {result name: number}
    ideals: dict                            # result name -> its ideal value, for a person to read
    meaning: str                            # what its results measure, in a line of a table's legend
    min_rows: int = 2                       # fewer real or synthetic rows than this: skipped


SPREAD = "(spread over subsets)"
METRICS = {
    "fd": Metric(lambda c: {"fd": frechet_distance(c.real_x, c.fake_x)}, {"fd": "0"},
                 "Fréchet distance between Gaussian fits of the real and synthetic rows"),
    "fd_features": Metric(_fd_features, {"fd_features": "0"},
                          "Fréchet distance in the features of a small classifier trained on the real rows"),
    "kid": Metric(lambda c: kid(c.real_x, c.fake_x, seed=c.seed), {"kid": "0", "kid_std": SPREAD},
                  "kernel inception distance: MMD² with a cubic polynomial kernel", min_rows=4),
    "kid_features": Metric(_kid_features, {"kid_features": "0", "kid_features_std": SPREAD},
                           "kernel inception distance in the classifier's features", min_rows=4),
    "mmd2_rbf": Metric(lambda c: mmd2_rbf(c.real_x, c.fake_x, seed=c.seed),
                       {"mmd2_rbf": "0", "mmd2_rbf_std": SPREAD},
                       "maximum mean discrepancy (MMD²) with an RBF kernel", min_rows=4),
    "prdc": Metric(lambda c: prdc(c.real_x, c.fake_x),  # k = 5 neighbours besides each row itself
                   {"precision": "1", "recall": "1", "density": "1", "coverage": "1"},
                   "share of synthetic rows among the real ones (precision, density) and of real rows "
                   "covered by synthetic ones (recall, coverage)", min_rows=6),
    "c2st": Metric(lambda c: c2st(c.real_x, c.fake_x, seed=c.seed),  # both classes in a 30% test split
                   {f"c2st{model}_{score}": "0.5" for model in ("", "_logistic") for score in ("accuracy", "auc")},
                   "accuracy or AUC of a classifier telling real from synthetic rows (0.5: it cannot)",
                   min_rows=20),
    "quality": Metric(lambda c: quality(c.real[c.columns], c.fake[c.columns], c.categorical),
                      {"quality_column_shapes": "1", "quality_column_pairs": "1", "quality_score": "1"},
                      "likeness of the columns' distributions and of the pairs' correlations"),
    "utility": Metric(_utility, {"tstr_accuracy": "= trtr_accuracy", "trtr_accuracy": "(trained on real rows)"},
                      "accuracy on real rows of a classifier trained on synthetic (tstr) or real (trtr) rows"),
    "memorisation": Metric(_memorisation, {"dcr_close_share": "0.05 (as unseen real rows)",
                                           "dcr_exact_copies": "0"},
                           "share of synthetic rows very close to a training row, and exact copies"),
}


def evaluate(comparison: Comparison, names=tuple(METRICS)) -> tuple[dict, dict]:
    """Run the named metrics: ({result name: value}, {metric name: why it was skipped})."""
    results, skipped = {}, {}
    rows = min(len(comparison.real), len(comparison.fake))
    for name in names:
        metric = METRICS[name]
        try:
            if rows < metric.min_rows:
                raise Skipped(_too_few_rows(metric.min_rows, len(comparison.real), len(comparison.fake)))
            results.update(metric.compute(comparison))
        except Skipped as reason:
            skipped[name] = str(reason)
    return results, skipped


def _too_few_rows(needed: int, real: int, fake: int) -> str:
    """Why a metric is skipped for want of rows, naming what gives it more: the real rows are
    those the data hold out (and as many synthetic rows are drawn)."""
    if real <= fake:
        return (f"needs at least {needed} real and synthetic rows, has {real} real ones (the held-out rows); "
                "a larger data.holdout (the share of rows held out) or a larger file gives it enough")
    return f"needs at least {needed} real and synthetic rows, has {fake} synthetic ones"


def ideal(result_name: str) -> str:
    return next(metric.ideals[result_name] for metric in METRICS.values() if result_name in metric.ideals)


def meaning(result_name: str) -> str | None:
    """What a result measures, with which way is better; None for a name no metric gives."""
    metric = next((metric for metric in METRICS.values() if result_name in metric.ideals), None)
    if metric is None:
        return None
    best = metric.ideals[result_name]
    if best == SPREAD:
        return f"spread of {result_name.removesuffix('_std')} over subsets of the rows"
    better = {"0": "lower is better", "1": "higher is better"}.get(best, f"ideal {best}")
    return f"{metric.meaning}; {better}"
