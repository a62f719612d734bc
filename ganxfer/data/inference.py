"""Deciding each column's kind from its values (and the user's overrides), then fitting a column
of that kind on the training rows.

continuous  numbers with fractions
integer     whole numbers with more than `max_categories` distinct values
categorical text, booleans, and whole numbers with at most `max_categories` distinct values
constant    a single distinct value
"""

import logging
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from pandas.api.types import infer_dtype, is_float_dtype, is_integer_dtype, is_numeric_dtype

from ganxfer.data.columns import CategoricalColumn, ConstantColumn, NumericColumn
from ganxfer.data.scalers import fit_scaler
from ganxfer.errors import UserError

log = logging.getLogger(__name__)

MISSING_POLICIES = ("drop", "impute", "model")


@dataclass
class FitOptions:
    """The data config's say in how columns are read and scaled (see conf/data/csv.yaml)."""

    categorical: list[str] = field(default_factory=list)  # treat these as categories, whatever they hold
    continuous: list[str] = field(default_factory=list)  # treat these as numbers, however few values
    max_categories: int = 10  # whole-number columns with at most this many values are categories
    scaling: str = "minmax"
    missing: str = "model"

    @classmethod
    def from_config(cls, data_cfg) -> "FitOptions":
        defaults = cls()
        options = cls(categorical=[str(name) for name in data_cfg.get("categorical") or []],
                      continuous=[str(name) for name in data_cfg.get("continuous") or []],
                      max_categories=data_cfg.get("max_categories", defaults.max_categories),
                      scaling=data_cfg.get("scaling", defaults.scaling),
                      missing=data_cfg.get("missing", defaults.missing))
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
    if whole and distinct <= options.max_categories and name not in options.continuous:
        return "categorical"
    return "integer" if whole else "continuous"


# Beyond this every float64 is a whole number: there, wholeness says nothing of how it was written.
FLOAT64_EXACT = 2**53


def written_whole(numbers: np.ndarray) -> bool:
    """Whether decimals read from a file are whole numbers (counts, codes), not measurements."""
    return bool(np.all(numbers == np.round(numbers)) and np.all(np.abs(numbers) < FLOAT64_EXACT))


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
        return ConstantColumn(name, _plain(values.iloc[0]), missing_rate, models_gaps)
    if kind == "categorical":
        categories = values.value_counts().index.tolist()  # most frequent first: a gap's stand-in
        if len(categories) > len(series) / 2:
            log.warning("column %r has %d distinct values in %d rows: probably an identifier, which a "
                        "GAN cannot learn; leave it out with data.drop=[%s]", name, len(categories), len(series), name)
        return CategoricalColumn(name, categories + [None] * models_gaps, missing_rate)
    numbers = as_numbers(values, name)
    dtype = "int64" if is_integer_dtype(values) else "float32" if values.dtype == np.float32 else "float64"
    return NumericColumn(name, kind, dtype, float(numbers.min()), float(numbers.max()),
                         fit_scaler(options.scaling, numbers), float(np.median(numbers)), missing_rate, models_gaps)


def _plain(value):
    """A numpy scalar as the Python value it stands for (checkpoints hold plain data only)."""
    return value.item() if isinstance(value, np.generic) else value
