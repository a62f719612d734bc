"""Deciding each column's kind from its values (and the user's overrides), then fitting a column
of that kind on the training rows.

continuous  numbers with fractions
integer     whole numbers, other than codes
categorical text, booleans, and codes: whole numbers with at most `max_categories` distinct
            values, all between 0 and `max_categories` (classes, ratings, flags)
constant    a single distinct value

Whole numbers beyond that (counts, sizes, years, pixel intensities) stay numbers, so a target
domain's value between or beyond the source's is a number like any other. Numbers with at
most `max_categories` distinct values (binned ages, the pixels of a few-valued image) keep to
those values: samples are snapped to the nearest observed one. data.continuous=[...] lets such
a column vary freely; data.categorical=[...] reads it as categories instead.
"""

import logging
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from pandas.api.types import infer_dtype, is_float_dtype, is_integer_dtype, is_numeric_dtype

from ganxfer.data.columns import CategoricalColumn, ConstantColumn, NumericColumn, plain_value
from ganxfer.data.scalers import fit_scaler
from ganxfer.errors import UserError
from ganxfer.settings import Data

log = logging.getLogger(__name__)

MISSING_POLICIES = ("drop", "impute", "model")


@dataclass
class FitOptions:
    """The data config's say in how columns are read and scaled (see conf/data/csv.yaml)."""

    categorical: list[str] = field(default_factory=list)  # treat these as categories, whatever they hold
    continuous: list[str] = field(default_factory=list)  # treat these as numbers, however few values
    max_categories: int = 10  # codes (categories) and few-valued numbers (snapped) have at most this many values
    scaling: str = "minmax"
    missing: str = "model"
    # The decimals the data files hold as float32, the others being float64 there though read as
    # float32 (frames.compact); None: as the table given holds them.
    float32_in_files: frozenset[str] | None = None

    @classmethod
    def from_settings(cls, data: Data) -> "FitOptions":
        options = cls(categorical=[str(name) for name in data.categorical or []],
                      continuous=[str(name) for name in data.continuous or []],
                      max_categories=data.max_categories,
                      scaling=data.scaling,
                      missing=data.missing)
        if options.missing not in MISSING_POLICIES:
            raise UserError(f"data.missing={options.missing!r}; choose one of: {', '.join(MISSING_POLICIES)}")
        return options

    def check_names(self, columns: list[str]) -> None:
        for key in ("categorical", "continuous"):
            unknown = [name for name in getattr(self, key) if name not in columns]
            if unknown:
                raise UserError(f"data.{key} names {', '.join(map(repr, unknown))}, not among the "
                                f"generated columns: {', '.join(columns)}")
        both = sorted(set(self.categorical) & set(self.continuous))
        if both:
            raise UserError(f"{', '.join(map(repr, both))} is in both data.categorical and data.continuous")


def infer_kind(series: pd.Series, options: FitOptions) -> str:
    name, values = str(series.name), series.dropna()
    if name in options.categorical:
        return "categorical"
    distinct = values.nunique()
    if distinct == 1:
        return "constant"
    numbers = None if infer_dtype(values) == "boolean" else as_numbers(values, name)
    if numbers is None:
        if name in options.continuous:
            raise UserError(f"data.continuous names {name!r}, but it holds text or booleans, not numbers")
        return "categorical"
    whole = is_integer_dtype(values) or written_whole(numbers)
    if whole and name not in options.continuous and looks_like_codes(numbers, options.max_categories):
        return "categorical"
    return "integer" if whole else "continuous"


# Beyond this every float64 is a whole number: there, wholeness says nothing of how it was written.
FLOAT64_EXACT = 2**53


def written_whole(numbers: np.ndarray) -> bool:
    """Whether decimals read from a file are whole numbers (counts, codes), not measurements."""
    return bool(np.all(numbers == np.round(numbers)) and np.all(np.abs(numbers) < FLOAT64_EXACT))


def looks_like_codes(numbers: np.ndarray, max_categories: int) -> bool:
    """Few whole numbers near zero (0/1 flags, classes 0-2, ratings 1-5) are codes; years, sizes
    and larger counts are not, however few values they take."""
    return len(np.unique(numbers)) <= max_categories and numbers.min() >= 0 and numbers.max() <= max_categories


def observed_decimals(numbers: np.ndarray, dtype: str, most: int = 6) -> int | None:
    """The fewest decimals that write every value as it was read (7305.84: 2); None when more
    than `most` are needed. The tolerance is the input's own rounding error (float32 or float64)."""
    tolerance = (1e-7 if dtype == "float32" else 1e-12) * np.maximum(np.abs(numbers), 1.0)
    for decimals in range(most + 1):
        if np.all(np.abs(np.round(numbers, decimals) - numbers) <= tolerance):
            return decimals
    return None


def observed_levels(numbers: np.ndarray, name: str, options: FitOptions) -> list[float] | None:
    """The distinct values of a number column with few of them, which its samples keep to
    (unless data.continuous names it)."""
    levels = np.unique(numbers)
    if name in options.continuous or len(levels) > options.max_categories:
        return None
    return levels.tolist()


def as_numbers(values: pd.Series, name: str) -> np.ndarray | None:
    """The gap-free values as floats; None for a text column. A few words among many numbers
    are taken for a typo rather than for categories."""
    if not is_numeric_dtype(values):
        numbers = pd.to_numeric(values, errors="coerce")
        text = values[numbers.isna()]
        if len(text) > len(values) / 2:
            return None
        if len(text):
            raise UserError(f"column {name!r} holds text ({text.iloc[0]!r} in row {text.index[0]}) among "
                            f"numbers: fix the value, or declare the column categorical with "
                            f"data.categorical=[{name}]")
        values = numbers
    numbers = values.to_numpy(dtype=np.float64)
    if not np.isfinite(numbers).all():
        raise UserError(f"column {name!r} holds infinite values")
    return numbers


def fit_column(series: pd.Series, kind: str, options: FitOptions):
    """A column of `kind` fitted on the training values; gaps get a missing indicator (or a
    missing category) when data.missing=model."""
    name, gaps = str(series.name), series.isna()
    missing_rate, models_gaps = float(gaps.mean()), options.missing == "model" and bool(gaps.any())
    values = series[~gaps]
    if gaps.any() and is_float_dtype(values) and written_whole(values.to_numpy(np.float64)):
        values = values.astype(np.int64)  # whole numbers that pandas read as floats because of gaps
    if kind == "constant":
        return ConstantColumn(name, plain_value(values.iloc[0]), missing_rate, models_gaps)
    if kind == "categorical":
        categories = values.value_counts().index.tolist()  # most frequent first: a gap's stand-in
        if len(categories) > len(series) / 2:
            log.warning("column %r has %d distinct values in %d rows: probably an identifier, which a "
                        "GAN cannot learn; leave it out with data.drop=[%s]", name, len(categories), len(series), name)
        return CategoricalColumn(name, categories + [None] * models_gaps, missing_rate)
    numbers = as_numbers(values, name)
    dtype = "int64" if is_integer_dtype(values) else "float32" if values.dtype == np.float32 else "float64"
    # Decimals read as float32 to save memory (frames.compact) are written back in the file's width.
    narrowed = dtype == "float32" and options.float32_in_files is not None and name not in options.float32_in_files
    file_dtype = "float64" if narrowed else dtype
    return NumericColumn(name, kind, dtype, float(numbers.min()), float(numbers.max()),
                         fit_scaler(options.scaling, numbers), float(np.median(numbers)), missing_rate, models_gaps,
                         decimals=0 if kind == "integer" else observed_decimals(numbers, dtype),
                         levels=observed_levels(numbers, name, options), file_dtype=file_dtype)

