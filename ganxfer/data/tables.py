"""Where rows come from: a CSV file or scikit-learn's bundled digits; then which rows are kept
(`classes`), held out for evaluation (`holdout`) and trained on (`shots`)."""

from dataclasses import dataclass

import numpy as np
import pandas as pd
from sklearn.model_selection import train_test_split

from ganxfer.errors import UserError


@dataclass
class DataSplit:
    train: pd.DataFrame
    holdout: pd.DataFrame  # real rows never trained on; evaluate compares against these


def load_table(data_cfg) -> pd.DataFrame:
    """The rows named by a data config, restricted to `classes`; the index is the row's
    position in the source file, so a split can be recorded and reproduced."""
    table = _digits() if data_cfg.name.startswith("digits") else read_csv(data_cfg.path)
    label = data_cfg.label
    if label is not None and label not in table.columns:
        raise UserError(f"data.label={label!r} is not a column; columns are: {_names(table)}")
    if data_cfg.classes is not None:
        if label is None:
            raise UserError("data.classes selects rows by label: set data.label=COLUMN too")
        wanted = list(data_cfg.classes)
        table = table[table[label].isin(wanted)]
        if table.empty:
            raise UserError(f"no rows have {label} in {wanted}")
    return table


def read_csv(path) -> pd.DataFrame:
    if path is None:
        raise UserError("data=csv needs a file: data.path=FILE.csv")
    try:
        table = pd.read_csv(path)
    except FileNotFoundError:
        raise UserError(f"data file not found: {path}") from None
    except (IsADirectoryError, PermissionError, UnicodeDecodeError) as err:
        raise UserError(f"cannot read data file {path}: {err}") from None
    except pd.errors.EmptyDataError:
        raise UserError(f"data file {path} is empty: expected a header row and data rows") from None
    except pd.errors.ParserError as err:
        raise UserError(f"data file {path} is not a well-formed CSV: {err}") from None
    if table.empty:
        raise UserError(f"data file {path} has a header but no data rows")
    return table


def _digits() -> pd.DataFrame:
    from sklearn.datasets import load_digits  # ships with scikit-learn: nothing is downloaded

    digits = load_digits()
    table = pd.DataFrame(digits.data.astype(np.int64), columns=[f"pixel{i}" for i in range(64)])
    table["label"] = digits.target
    return table


def split_table(table: pd.DataFrame, data_cfg) -> DataSplit:
    """Hold out a share of rows for evaluation, then keep `shots` training rows; both seeded by
    data.split_seed and stratified by the label column when there is one."""
    label = data_cfg.label
    if len(table) < 2:
        raise UserError(f"the data have {len(table)} row(s): at least 2 are needed")
    train, holdout = train_test_split(
        table, test_size=data_cfg.holdout, random_state=data_cfg.split_seed,
        stratify=_strata(table, label))
    shots = data_cfg.shots
    if shots is not None and shots < len(train):
        train, _ = train_test_split(
            train, train_size=shots, random_state=data_cfg.split_seed,
            stratify=_strata(train, label, shots))
    elif shots is not None and shots > len(train):
        raise UserError(f"data.shots={shots} but only {len(train)} training rows are left "
                        f"after holding out {data_cfg.holdout:.0%} for evaluation")
    return DataSplit(train=train.sort_index(), holdout=holdout.sort_index())


def _strata(table, label, n_picked=None):
    """Stratify by label only where every class can be represented."""
    if label is None:
        return None
    counts = table[label].value_counts()
    enough = counts.min() >= 2 and (n_picked is None or n_picked >= len(counts))
    return table[label] if enough else None


def _names(table) -> str:
    return ", ".join(map(str, table.columns))
