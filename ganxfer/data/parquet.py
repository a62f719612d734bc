"""Tables kept as Parquet: one file, or a folder of shards (Parquet or CSV files with the same
columns), as data outgrowing one CSV file are usually kept. pyarrow is imported in the functions
that use it, as other heavy libraries are."""

from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from ganxfer.data.csv_file import read_csv
from ganxfer.data.frames import compact
from ganxfer.errors import UserError

SHARD_SUFFIXES = (".parquet", ".csv")


def is_parquet_or_folder(path) -> bool:
    """Whether data.path names what this module reads, rather than one CSV file."""
    return path is not None and (Path(str(path)).is_dir() or Path(str(path)).suffix.lower() == ".parquet")


def shards(path) -> list[Path]:
    """The files of a Parquet file or shard folder, in name order (the order their rows are numbered in)."""
    path = Path(str(path))
    if not path.exists():
        raise UserError(f"data file not found: {path}")
    if not path.is_dir():
        return [path]
    found = sorted(file for file in path.iterdir() if file.suffix.lower() in SHARD_SUFFIXES and file.is_file())
    if not found:
        raise UserError(f"data.path {path} is a directory holding no .parquet or .csv shards: put the "
                        "table's files there, or give data.path=FILE")
    return found


def read_table(path) -> pd.DataFrame:
    """Every row of a Parquet file or a shard folder, in memory, numbered 0.. in shard order; each
    shard's columns and types are checked against the first one's."""
    parts, first = [], None
    for shard in shards(path):
        part = read_csv(shard) if shard.suffix.lower() == ".csv" else compact(_read_parquet(shard))
        first = first if first is not None else (shard, part.dtypes)
        check_like(shard, part.dtypes, *first)
        parts.append(part)
    table = pd.concat(parts, ignore_index=True) if len(parts) > 1 else parts[0]
    if table.empty:
        raise UserError(f"data {path} has columns but no rows")
    return table


def _read_parquet(path: Path) -> pd.DataFrame:
    import pyarrow.parquet as pq

    with reading(path):
        return plain(pq.read_table(path).to_pandas())


def float32_columns(path) -> set[str]:
    """The columns that a Parquet file (or a folder's first shard, which every other shard is
    checked against) holds as float32; none for CSV, whose decimals pandas reads as float64."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    first = shards(path)[0]
    if first.suffix.lower() != ".parquet":
        return set()
    with reading(first):
        schema = pq.read_schema(first)
    return {field.name for field in schema if field.type == pa.float32()}


def plain(table: pd.DataFrame) -> pd.DataFrame:
    """Parquet's dictionary-encoded columns arrive as pandas categoricals: read them as the values
    they hold, as a CSV file's would be (the schema finds the categories itself)."""
    categorical = [name for name in table.columns if isinstance(table[name].dtype, pd.CategoricalDtype)]
    return table.astype({name: table[name].cat.categories.dtype for name in categorical}) if categorical else table


@contextmanager
def reading(path):
    """Reading a Parquet file: a corrupt or foreign one is named in a UserError."""
    import pyarrow as pa

    try:
        yield
    except (pa.ArrowException, OSError) as err:
        raise UserError(f"data file {path} is not a readable Parquet file ({_first_line(err)}): "
                        "write it again, or remove it from the folder") from None


def check_like(shard: Path, dtypes: pd.Series, first: Path, expected: pd.Series) -> None:
    """A shard with other columns, or other kinds of values, than the first one is named."""
    if list(dtypes.index) != list(expected.index):
        missing = [name for name in expected.index if name not in dtypes.index]
        extra = [name for name in dtypes.index if name not in expected.index]
        raise UserError(f"shard {shard} has other columns than {first.name}: missing {_listed(missing)}, "
                        f"extra {_listed(extra)}; every shard of a folder holds the same columns, in the same order")
    differ = [f"{name} ({_kind(dtypes[name])}, not {_kind(expected[name])})" for name in expected.index
              if _kind(dtypes[name]) != _kind(expected[name])]
    if differ:
        raise UserError(f"shard {shard} has other column types than {first.name}: {', '.join(differ)}; every "
                        "shard of a folder holds the same types")


def _kind(dtype) -> str:
    """Numbers agree whatever their width (compacting chooses float32 per shard; whole numbers with
    gaps arrive as floats): what must agree is numbers, truth values, times or text."""
    types = pd.api.types
    if types.is_bool_dtype(dtype):
        return "truth values"
    if types.is_numeric_dtype(dtype):
        return "numbers"
    return "times" if types.is_datetime64_any_dtype(dtype) else "text"


def _listed(names: list) -> str:
    return ", ".join(map(str, names)) or "none"


def _first_line(err: Exception) -> str:
    return (str(err).strip().splitlines() or [type(err).__name__])[0]


@dataclass(frozen=True)
class RowGroup:
    """One row group of one Parquet shard: the unit the streamed path reads, shares out and holds out."""
    shard: str
    index: int
    rows: int
    # The shard's footer (pyarrow's FileMetaData), read once: its statistics and every later read
    # of the shard use it rather than parse it again.
    footer: Any = field(compare=False, repr=False)


def write_parquet(table: pd.DataFrame, file, chunk_rows: int = 100_000) -> None:
    """`table` as Parquet, converted and written a row group of `chunk_rows` at a time, so that
    the Arrow copy of a large sample is never held whole beside it."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    schema = pa.Schema.from_pandas(table, preserve_index=False)
    with pq.ParquetWriter(file, schema) as writer:
        for start in range(0, len(table), chunk_rows):
            chunk = table.iloc[start:start + chunk_rows]
            writer.write_table(pa.Table.from_pandas(chunk, schema=schema, preserve_index=False))
