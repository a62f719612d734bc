"""Which rows of a table are held out for evaluation (`holdout`) and which trained on (`shots`)."""

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

from ganxfer.errors import UserError
from ganxfer.settings import Data


@dataclass
class DataSplit:
    train: pd.DataFrame
    holdout: pd.DataFrame  # real rows never trained on; evaluate compares against these


def split_table(table: pd.DataFrame, data: Data) -> DataSplit:
    """Hold out a share of rows for evaluation, then keep `shots` training rows; both seeded by
    data.split_seed and stratified by the label column when there is one. Row positions are
    split, not the table, so each row is copied once (a large table is not held three times)."""
    label = data.label
    if len(table) < 2:
        raise UserError(f"the data have {len(table)} row(s): at least 2 are needed")
    positions = np.arange(len(table))
    labels = table[label].to_numpy() if label is not None else None
    train, holdout = _split(positions, data.split_seed, _strata(labels), test_size=data.holdout)
    shots = data.shots
    if shots is not None and shots < len(train):
        train, _ = _split(train, data.split_seed, _strata(labels[train] if labels is not None else None, shots),
                          train_size=shots)
    elif shots is not None and shots > len(train):
        raise UserError(f"data.shots={shots} but only {len(train)} training rows are left "
                        f"after holding out {data.holdout:.0%} for evaluation")
    return DataSplit(train=table.iloc[np.sort(train)], holdout=table.iloc[np.sort(holdout)])


def _split(items: np.ndarray, seed: int, strata, test_size=None, train_size=None):
    """scikit-learn's train_test_split(items, ...) with random_state=seed, whose choice of rows
    each checkpoint records. Unstratified, with a share held out or a number of rows kept, it is
    one permutation of numpy's RandomState(seed), done here: importing scikit-learn takes a
    second, which a short run would spend on nothing else."""
    count = len(items)
    if strata is None and isinstance(test_size, float) and train_size is None and 0 < test_size < 1:
        tested = math.ceil(test_size * count)
        trained = count - tested
    elif strata is None and isinstance(train_size, int) and test_size is None and 0 < train_size < count:
        trained = train_size
        tested = count - trained
    else:
        tested = trained = 0
    if 0 < tested < count and 0 < trained:
        permutation = np.random.RandomState(seed).permutation(count)
        return items[permutation[tested:tested + trained]], items[permutation[:tested]]
    # Imported on use: stratified splits and edge cases are scikit-learn's, as they always were.
    from sklearn.model_selection import train_test_split

    return train_test_split(items, test_size=test_size, train_size=train_size, random_state=seed, stratify=strata)


def _strata(labels: np.ndarray | None, n_picked=None):
    """Stratify by label only where every class can be represented."""
    if labels is None:
        return None
    counts = pd.Series(labels).value_counts()
    enough = counts.min() >= 2 and (n_picked is None or n_picked >= len(counts))
    return labels if enough else None
