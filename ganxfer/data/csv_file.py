"""Reading a CSV file: its encoding, separator and decimal mark found from its first lines, then
parsed in chunks, each made compact, with each way a file can be malformed named in a UserError."""

import codecs
import csv
import re
import warnings
from dataclasses import dataclass

import pandas as pd

from ganxfer.data.frames import compact
from ganxfer.errors import UserError


CHUNK_ROWS = 100_000


@dataclass(frozen=True)
class TextFormat:
    """How a CSV file is written: its character encoding and the mark between its fields."""
    encoding: str
    separator: str
    decimal: str = "."


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
