"""Where rows come from: a CSV file (data/csv_file.py) or Parquet (data/parquet.py), a folder of
images or scikit-learn's bundled digits, each read by the reader its `data.kind` names in READERS;
then which rows and columns are kept (`classes`, `drop`, and rows with gaps under `missing=drop`).
A new kind of data is a reader here."""

from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd

from ganxfer.data.csv_file import read_csv
from ganxfer.data.frames import without
from ganxfer.data.image_folder import read_image_folder
from ganxfer.data.parquet import float32_columns, is_parquet_or_folder, read_table
from ganxfer.data.missing import check_no_empty_columns, drop_incomplete_rows
from ganxfer.errors import UserError
from ganxfer.settings import Data


DOMAIN = "domain"  # the column naming each row's source domain (data=multi)


def load_table(data: Data, domain: str | None = None) -> pd.DataFrame:
    """The rows named by a data config; the index is the row's position in the source file, so
    a split can be recorded and reproduced. `domain`: fine-tuning a model conditioned on the
    domain, these rows are one domain of that name."""
    table = READERS[kind_of(data)](data)
    if domain is not None:
        table[DOMAIN] = domain
    return keep_chosen(table, data)


def keep_chosen(table: pd.DataFrame, data: Data, part: bool = False) -> pd.DataFrame:
    """The rows and columns of `table` a run uses: without data.drop's columns, with data.classes'
    rows alone, and without rows that have gaps under data.missing=drop. A column with no value
    at all stops the run, unless `table` is only a part of the data (streamed data's held-out
    rows or a window of them), where a column may have values elsewhere; the whole table, or the
    sample streamed data fit their schema on, is checked."""
    table = drop_columns(table, data.drop or [])
    table = select_classes(table, data.label, data.classes, kind_of(data))
    if not part:
        check_no_empty_columns(table)
    if data.missing == "drop":
        table = drop_incomplete_rows(table, data.label)
    return table


def _read_csv(data: Data) -> pd.DataFrame:
    """data.path: a CSV file, or a Parquet file or folder of shards (chosen by the path)."""
    if is_parquet_or_folder(data.path):
        return read_table(data.path)
    return read_csv(data.path)


def _read_multi(data: Data) -> pd.DataFrame:
    return multi_domain_table(data.sources, data.groups, data)


def _read_digits(data: Data) -> pd.DataFrame:
    return _digits()


def _read_images(data: Data) -> pd.DataFrame:
    return read_image_folder(data)


def multi_domain_table(sources, groups, data: Data | None = None) -> pd.DataFrame:
    """Several sources' rows in one table, with a `domain` column naming each row's source: the
    CSV file's name without its extension (or a folder of images, read to data.shape: its name),
    or, with no files, the bundled digits, one domain per group of digits (e.g. digits01 for [0, 1])."""
    if not sources:
        digits = _digits()
        parts = {"digits" + "".join(map(str, group)): digits[digits["label"].isin(list(group))].drop(columns="label")
                 for group in groups}
    else:
        names = [Path(str(path)).stem for path in sources]
        if len(set(names)) < len(names):
            raise UserError(f"data.sources name the same domain twice ({', '.join(names)}): each file "
                            "names a domain by its file name, so give them different names")
        parts = {name: _read_source(path, data) for name, path in zip(names, sources)}
    first, columns = next(iter(parts)), list(next(iter(parts.values())).columns)
    for name, part in parts.items():
        if DOMAIN in part.columns:
            raise UserError(f"source {name} has a column {DOMAIN!r}, the name data=multi gives the source domain")
        if set(part.columns) != set(columns):
            raise UserError(f"the sources' columns differ: {name} has {_names(part)}; {first} has "
                            f"{', '.join(map(str, columns))}")
    table = pd.concat([part[columns].assign(**{DOMAIN: name}) for name, part in parts.items()], ignore_index=True)
    return table


def _read_source(path, data: Data | None) -> pd.DataFrame:
    """One source of data=multi: a CSV or Parquet file, or a folder of images (the folder is the
    domain, so its sub-folders are not read as labels)."""
    if Path(str(path)).is_dir() and data is not None:
        folder = replace(data, path=str(path), label=None)
        return read_image_folder(folder)
    return read_table(path) if is_parquet_or_folder(path) else read_csv(path)


def float32_in_files(data: Data) -> frozenset[str]:
    """The columns the data's files hold as float32. compact narrows float64 columns too, to save
    memory: this tells the two apart, so that samples are written in the files' own width."""
    kind = kind_of(data)
    paths = [data.path] if kind == "csv" else list(data.sources or []) if kind == "multi" else []
    return frozenset().union(*(float32_columns(path) for path in paths if is_parquet_or_folder(path)))


def drop_columns(table: pd.DataFrame, names) -> pd.DataFrame:
    names = [str(name) for name in names]
    unknown = [name for name in names if name not in table.columns]
    if unknown:
        raise UserError(f"data.drop names {', '.join(map(repr, unknown))}, not a column; "
                        f"columns are: {_names(table)}")
    return without(table, names)


# How a kind of data is given its label, for a message that asks for one: a table names the
# column; an image folder's label is each image's class sub-folder, in a column of any name.
LABEL_SETTINGS = {"images": "data.label=label too: an image's label is the name of the class sub-folder it lies "
                            "in (docs/images.md)"}


def select_classes(table: pd.DataFrame, label: str | None, classes, kind: str = "csv") -> pd.DataFrame:
    if label is not None and label not in table.columns:
        raise UserError(f"data.label={label!r} is not a column; columns are: {_names(table)}")
    if classes is None:
        return table
    if label is None:
        raise UserError("data.classes selects rows by label: set "
                        + LABEL_SETTINGS.get(kind, "data.label=COLUMN too, the column that holds each row's label"))
    wanted, present = list(classes), pd.unique(table[label].dropna()).tolist()
    absent = [value for value in wanted if value not in present]
    if absent:
        raise UserError(f"data.classes names {absent}, which column {label!r} never holds; "
                        f"it holds: {sorted(present, key=str)[:30]}")
    return table[table[label].isin(wanted)]


def _digits() -> pd.DataFrame:
    from sklearn.datasets import load_digits  # ships with scikit-learn: nothing is downloaded

    digits = load_digits()
    table = pd.DataFrame(digits.data.astype(np.int64), columns=[f"pixel{i}" for i in range(64)])
    table["label"] = digits.target
    return table


# data.kind -> the function that reads that kind of data into one table.
READERS = {"csv": _read_csv, "digits": _read_digits, "images": _read_images, "multi": _read_multi}


def kind_of(data: Data) -> str:
    """data.kind; a data config saved in a checkpoint before that key existed had only its name."""
    if data.kind:
        return data.kind
    return "multi" if data.name == "multi" else "digits" if data.name.startswith("digits") else "csv"


def _names(table) -> str:
    return ", ".join(map(str, table.columns))
