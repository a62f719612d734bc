"""Where rows come from: a CSV file (or Parquet: data/parquet.py), a folder of images or
scikit-learn's bundled digits; then which rows and columns are kept (`classes`, `drop`, and rows
with gaps under `missing=drop`), held out for evaluation (`holdout`) and trained on (`shots`)."""

import codecs
import csv
import ctypes
import ctypes.util
import math
import re
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from omegaconf import OmegaConf

from ganxfer.data.image_folder import read_image_folder
from ganxfer.data.parquet import float32_columns, is_parquet_or_folder, read_table
from ganxfer.data.missing import check_no_empty_columns, drop_incomplete_rows
from ganxfer.errors import UserError


CHUNK_ROWS = 100_000
DOMAIN = "domain"  # the column naming each row's source domain (data=multi)
FLOAT32_EXACT = 2**24  # float32 holds every whole number up to this
FLOAT32_SMALLEST = float(np.finfo(np.float32).tiny)  # below this float32 loses precision, then becomes 0


@dataclass
class DataSplit:
    train: pd.DataFrame
    holdout: pd.DataFrame  # real rows never trained on; evaluate compares against these


@dataclass(frozen=True)
class TextFormat:
    """How a CSV file is written: its character encoding and the mark between its fields."""
    encoding: str
    separator: str
    decimal: str = "."


def load_table(data_cfg, domain: str | None = None) -> pd.DataFrame:
    """The rows named by a data config; the index is the row's position in the source file, so
    a split can be recorded and reproduced. `domain`: fine-tuning a model conditioned on the
    domain, these rows are one domain of that name."""
    table = READERS[kind_of(data_cfg)](data_cfg)
    if domain is not None:
        table[DOMAIN] = domain
    table = drop_columns(table, data_cfg.get("drop") or [])
    table = select_classes(table, data_cfg.label, data_cfg.classes, kind_of(data_cfg))
    check_no_empty_columns(table)
    if data_cfg.get("missing") == "drop":
        table = drop_incomplete_rows(table, data_cfg.label)
    return table


def _read_csv(data_cfg) -> pd.DataFrame:
    """data.path: a CSV file, or a Parquet file or folder of shards (chosen by the path)."""
    if is_parquet_or_folder(data_cfg.path):
        return read_table(data_cfg.path)
    return read_csv(data_cfg.path)


def _read_multi(data_cfg) -> pd.DataFrame:
    return multi_domain_table(data_cfg.sources, data_cfg.groups, data_cfg)


def _read_digits(data_cfg) -> pd.DataFrame:
    return _digits()


def _read_images(data_cfg) -> pd.DataFrame:
    return read_image_folder(data_cfg)


def multi_domain_table(sources, groups, data_cfg=None) -> pd.DataFrame:
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
        parts = {name: _read_source(path, data_cfg) for name, path in zip(names, sources)}
    first, columns = next(iter(parts)), list(next(iter(parts.values())).columns)
    for name, part in parts.items():
        if DOMAIN in part.columns:
            raise UserError(f"source {name} has a column {DOMAIN!r}, the name data=multi gives the source domain")
        if set(part.columns) != set(columns):
            raise UserError(f"the sources' columns differ: {name} has {_names(part)}; {first} has "
                            f"{', '.join(map(str, columns))}")
    table = pd.concat([part[columns].assign(**{DOMAIN: name}) for name, part in parts.items()], ignore_index=True)
    return table


def _read_source(path, data_cfg) -> pd.DataFrame:
    """One source of data=multi: a CSV or Parquet file, or a folder of images (the folder is the
    domain, so its sub-folders are not read as labels)."""
    if Path(str(path)).is_dir() and data_cfg is not None:
        folder = OmegaConf.create({**OmegaConf.to_container(data_cfg, resolve=True), "path": str(path), "label": None})
        return read_image_folder(folder)
    return read_table(path) if is_parquet_or_folder(path) else read_csv(path)


def read_csv(path) -> pd.DataFrame:
    if path is None:
        raise UserError("data=csv needs a file: data.path=FILE.csv")
    try:
        text = text_format(path)
        with warnings.catch_warnings():
            # index_col=False: a first row longer than the header must not silently become an index.
            warnings.simplefilter("error", pd.errors.ParserWarning)
            table = _parse(path, text)
    except FileNotFoundError:
        raise UserError(f"data file not found: {path}") from None
    except UnicodeDecodeError as err:
        raise UserError(f"data file {path} is not UTF-8 text (byte {err.object[err.start:err.start + 1]!r} at "
                        f"position {err.start}): save it as UTF-8, e.g. as \"CSV UTF-8\" from a spreadsheet") from None
    except (IsADirectoryError, PermissionError) as err:
        raise UserError(f"cannot read data file {path}: {err}") from None
    except pd.errors.EmptyDataError:
        raise UserError(f"data file {path} is empty: expected a header row and data rows") from None
    except (pd.errors.ParserError, pd.errors.ParserWarning) as err:
        raise UserError(f"data file {path} is not a well-formed CSV: {str(err).strip()}") from None
    if table.empty:
        raise UserError(f"data file {path} has a header but no data rows")
    if table.isna().any(axis=None):
        _check_no_short_rows(path, table.shape[1], text)
    return table


def text_format(path) -> TextFormat:
    """How a CSV file is written, read from its first line, which must name the columns. UTF-16
    when the file starts with a UTF-16 byte-order mark (a spreadsheet's "Unicode text"), else
    UTF-8 with or without one. Commas separate the fields unless the header holds none but
    semicolons or tabs (spreadsheets where the decimal mark is a comma write those, and then
    write numbers such as 3,5: the first data line tells)."""
    with open(path, "rb") as file:
        start = file.read(2)
    encoding = "utf-16" if start in (codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE) else "utf-8-sig"
    with open(path, encoding=encoding, newline="") as file:
        header, first_row = file.readline(), file.readline()
    separator = next((mark for mark in SEPARATORS if mark in header), ",")
    _check_header(path, next(csv.reader([header], delimiter=separator), []))
    fields = next(csv.reader([first_row], delimiter=separator), [])
    decimal = "," if separator != "," and any(DECIMAL_COMMA.match(field) for field in fields) else "."
    return TextFormat(encoding, separator, decimal)


SEPARATORS = (",", ";", "\t")
DECIMAL_COMMA = re.compile(r"^\s*[-+]?\d*,\d+\s*$")


def _check_header(path, names: list[str]) -> None:
    """pandas would rename a repeated name (x, x.1) and take a first row of data for names."""
    repeated = sorted({name for name in names if names.count(name) > 1})
    if repeated:
        raise UserError(f"data file {path} names column(s) {', '.join(map(repr, repeated))} more than once: "
                        "give every column its own name in the first line")
    if names and all(_is_number(name) for name in names):
        raise UserError(f"data file {path} starts with a line of numbers ({', '.join(names[:5])}), not the "
                        "column names: add a first line that names the columns")


def _is_number(text: str) -> bool:
    try:
        float(text)
        return True
    except ValueError:
        return False


def _parse(path, text: TextFormat = TextFormat("utf-8-sig", ",")) -> pd.DataFrame:
    """pandas' C parser, in chunks, each made compact before the next is read. (Its pyarrow
    parser reads the whole file at once and held several times the table at its peak.)"""
    with pd.read_csv(path, index_col=False, chunksize=CHUNK_ROWS, sep=text.separator,
                     encoding=text.encoding, decimal=text.decimal) as chunks:
        return pd.concat([compact(chunk) for chunk in chunks], ignore_index=True)


def return_freed_memory() -> None:
    """Hand freed memory back to the system. A table's columns are blocks of a few MiB, which
    glibc's malloc keeps for reuse when freed (it returns only blocks of over 32 MiB at once):
    a large table let go would otherwise stay resident beside its encoding for the whole run."""
    libc = ctypes.util.find_library("c")
    malloc_trim = getattr(ctypes.CDLL(libc), "malloc_trim", None) if libc else None
    if malloc_trim is not None:  # glibc only (not musl, not macOS)
        malloc_trim(0)


def compact(table: pd.DataFrame) -> pd.DataFrame:
    """Decimal columns as float32, half the memory of pandas' float64: the generator's outputs
    are float32 too, so nothing it could learn is lost. A column holding numbers beyond 2**24,
    where float32 no longer holds every whole number, stays float64 (large identifiers, times),
    as does one holding numbers so close to 0 that float32 would make them 0."""
    narrow = {name: np.float32 for name in table.columns
              if table[name].dtype == np.float64 and fits_float32(table[name].abs())}
    return table.astype(narrow) if narrow else table


def float32_in_files(data_cfg) -> frozenset[str]:
    """The columns the data's files hold as float32. compact narrows float64 columns too, to save
    memory: this tells the two apart, so that samples are written in the files' own width."""
    kind = kind_of(data_cfg)
    paths = [data_cfg.path] if kind == "csv" else list(data_cfg.get("sources") or []) if kind == "multi" else []
    return frozenset().union(*(float32_columns(path) for path in paths if is_parquet_or_folder(path)))


def fits_float32(magnitudes: pd.Series) -> bool:
    too_small = (magnitudes > 0) & (magnitudes < FLOAT32_SMALLEST)
    return not ((magnitudes > FLOAT32_EXACT) | too_small).any()


def _check_no_short_rows(path, width: int, text: TextFormat) -> None:
    """pandas reads a row with too few fields as a row with gaps; with gaps allowed that would
    pass unnoticed, so a file with gaps is read once more to count each row's fields."""
    with open(path, newline="", encoding=text.encoding) as file:
        rows = csv.reader(file, delimiter=text.separator)
        short = [number for number, row in enumerate(rows, start=1) if row and len(row) < width]
    if short:
        raise UserError(f"data file {path} is not a well-formed CSV: {len(short)} row(s) have fewer than "
                        f"the header's {width} fields (first: line {short[0]}); an empty field is "
                        "written as nothing between two commas")


def drop_columns(table: pd.DataFrame, names) -> pd.DataFrame:
    names = [str(name) for name in names]
    unknown = [name for name in names if name not in table.columns]
    if unknown:
        raise UserError(f"data.drop names {', '.join(map(repr, unknown))}, not a column; "
                        f"columns are: {_names(table)}")
    return without(table, names)


def without(table: pd.DataFrame, names) -> pd.DataFrame:
    """`table` less the columns `names`, sharing the memory of the columns it keeps: pandas'
    own drop copies every kept column (before pandas 3), which for a large file is the table twice."""
    if not any(name in table.columns for name in names):
        return table
    return pd.DataFrame({name: table[name] for name in table.columns if name not in names}, index=table.index,
                        copy=False)


def at_most(table: pd.DataFrame, rows: int, seed: int) -> pd.DataFrame:
    """`rows` of `table` drawn at random (the same ones for the same seed), in the table's order;
    a table of at most `rows` rows is returned whole."""
    if len(table) <= rows:
        return table
    picked = np.random.default_rng(seed).choice(len(table), size=rows, replace=False)
    return table.iloc[np.sort(picked)]


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


def kind_of(data_cfg) -> str:
    """data.kind; a data config saved in a checkpoint before that key existed had only its name."""
    if data_cfg.get("kind"):
        return data_cfg.kind
    return "multi" if data_cfg.name == "multi" else "digits" if data_cfg.name.startswith("digits") else "csv"


def split_table(table: pd.DataFrame, data_cfg) -> DataSplit:
    """Hold out a share of rows for evaluation, then keep `shots` training rows; both seeded by
    data.split_seed and stratified by the label column when there is one. Row positions are
    split, not the table, so each row is copied once (a large table is not held three times)."""
    label = data_cfg.label
    if len(table) < 2:
        raise UserError(f"the data have {len(table)} row(s): at least 2 are needed")
    positions = np.arange(len(table))
    labels = table[label].to_numpy() if label is not None else None
    train, holdout = _split(positions, data_cfg.split_seed, _strata(labels), test_size=data_cfg.holdout)
    shots = data_cfg.shots
    if shots is not None and shots < len(train):
        train, _ = _split(train, data_cfg.split_seed, _strata(labels[train] if labels is not None else None, shots),
                          train_size=shots)
    elif shots is not None and shots > len(train):
        raise UserError(f"data.shots={shots} but only {len(train)} training rows are left "
                        f"after holding out {data_cfg.holdout:.0%} for evaluation")
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


def _names(table) -> str:
    return ", ".join(map(str, table.columns))
