"""One generated column: how its values become generator outputs (`encode`), how generator
outputs become values again (`decode`), and its plain-data form for checkpoints.

Three kinds. Numbers (continuous or integer) pass through a scaler and come back clipped to the
observed range, rounded to the observed number of decimals, and, for a column with few distinct
values, snapped to the nearest of them. Categories become a one-hot block and come back as one of the
categories seen in training. Constants take no generator output at all.

Gaps (data.missing=model): a numeric or constant column gets a two-way softmax block,
present/missing, so the generator learns how often the value is absent; a categorical column
simply gets one more category, "missing" (stored as None)."""

import numpy as np
import pandas as pd

from ganxfer.data.scalers import scaler_from_dict

MISSING_INDICATOR = ("softmax", 2)  # [present, missing]
INDICATOR_OUTPUTS = [("present",), ("missing",)]


def one_hot(codes: np.ndarray, width: int) -> np.ndarray:
    """Rows of zeros with a 1 at each code; a code of -1 (unknown) leaves its row all zeros."""
    encoded = np.zeros((len(codes), width), dtype=np.float32)
    known = codes >= 0
    encoded[np.flatnonzero(known), codes[known]] = 1
    return encoded


def dtype_of(values: list, gaps: bool) -> str | None:
    """The pandas dtype that holds these Python values (and gaps, if any) as the input held
    them: bool stays bool, integers stay integers. None lets pandas infer (text)."""
    if all(isinstance(value, bool) for value in values):
        return "boolean" if gaps else "bool"
    if all(isinstance(value, int) and not isinstance(value, bool) for value in values):
        return "Int64" if gaps else "int64"
    if all(isinstance(value, (int, float)) and not isinstance(value, bool) for value in values):
        return "float64"
    return None


class Column:
    """What every kind shares: its plain-data form is its kind and its attributes."""

    kind: str

    def to_dict(self) -> dict:
        return {"kind": self.kind, **vars(self)}

    @classmethod
    def from_dict(cls, state: dict) -> "Column":
        return cls(**{key: value for key, value in state.items() if key != "kind"})


class NumericColumn(Column):
    def __init__(self, name: str, kind: str, dtype: str, low: float, high: float, scaler, fill: float,
                 missing_rate: float = 0.0, indicator: bool = False, decimals: int | None = None,
                 levels: list[float] | None = None, file_dtype: str | None = None):
        self.name, self.kind = name, kind  # kind: "continuous" or "integer" (decoded values are rounded)
        # "int64", "float32" or "float64": the input's (whole numbers written as 1.0 are int64)
        self.dtype = dtype
        self.low, self.high = low, high  # the observed range; decoded values are clipped to it
        self.scaler = scaler
        self.fill = fill  # stands in for a gap when encoding (the training median)
        self.missing_rate, self.indicator = missing_rate, indicator
        # Samples are written with the input's precision (None: as computed; older checkpoints).
        self.decimals = decimals
        # A column with few distinct values: they, sorted; samples take the nearest (None: any value).
        self.levels = levels
        # The data file's dtype, which samples are written in: a float64 column that the run reads
        # as float32 (`dtype`) to save memory is still written as float64. None: `dtype` (older checkpoints).
        self.file_dtype = file_dtype

    @property
    def models_gaps(self) -> bool:
        return self.indicator

    @property
    def blocks(self) -> list[tuple[str, int]]:
        return [*self.scaler.blocks, *([MISSING_INDICATOR] if self.indicator else [])]

    @property
    def outputs(self) -> list[tuple]:
        return [*self.scaler.outputs, *(INDICATOR_OUTPUTS if self.indicator else [])]

    def stand_in(self) -> str:
        return f"the training median {self.fill:g}"

    def encode(self, series: pd.Series) -> np.ndarray:
        values = series.to_numpy(dtype=np.float64, na_value=np.nan)
        gaps = np.isnan(values)
        encoded = self.scaler.transform(np.where(gaps, self.fill, values)).astype(np.float32)
        return np.hstack([encoded, one_hot(gaps.astype(int), 2)]) if self.indicator else encoded

    def decode(self, encoded: np.ndarray) -> pd.Series:
        values = np.clip(self.scaler.inverse(encoded[:, : _width(self.scaler.blocks)].astype(np.float64)),
                         self.low, self.high)
        if self.levels is not None:
            values = nearest(values, np.asarray(self.levels))
        elif self.kind == "integer":
            values = np.round(values)
        elif self.decimals is not None:  # the ends of the range may have fewer decimals than rounding keeps
            # The ends rounded too: read as float32, 12.35 is 12.350000381..., which float64 would write.
            values = np.clip(np.round(values, self.decimals), *np.round([self.low, self.high], self.decimals))
        written = self.file_dtype or self.dtype
        if not self.indicator:
            return pd.Series(values, name=self.name, dtype=written)
        with_gaps = "Int64" if written == "int64" else written  # pandas' integers that allow gaps
        return pd.Series(values, name=self.name, dtype=with_gaps).mask(_missing(encoded))

    def with_levels(self, values: list[float]) -> "NumericColumn":
        """This column, keeping also to `values` (a target's values the source never took)."""
        if self.levels is None or not values:
            return self
        return NumericColumn.from_dict({**self.to_dict(), "levels": sorted({*self.levels, *values})})

    def unknown(self, series: pd.Series) -> list[float]:
        """Values of `series` that are not among the levels this column keeps to."""
        if self.levels is None:
            return []
        present = np.unique(series.dropna().to_numpy(dtype=np.float64))
        return present[~np.isin(present, self.levels)].tolist()

    def to_dict(self) -> dict:
        return {**vars(self), "scaler": self.scaler.to_dict()}  # kind is an attribute here

    @classmethod
    def from_dict(cls, state: dict) -> "NumericColumn":
        return cls(**{**state, "scaler": scaler_from_dict(state["scaler"])})


class CategoricalColumn(Column):
    kind = "categorical"

    def __init__(self, name: str, categories: list, missing_rate: float = 0.0):
        """`categories`: the training values (bool, int, float or str), most frequent first,
        and None (the missing category) when gaps are generated; a finetune run appends the
        target's new values after them, so every category keeps its generator output."""
        self.name, self.categories, self.missing_rate = name, categories, missing_rate

    @property
    def values(self) -> list:
        return [category for category in self.categories if category is not None]

    @property
    def models_gaps(self) -> bool:
        return None in self.categories

    @property
    def blocks(self) -> list[tuple[str, int]]:
        return [("softmax", len(self.categories))]

    @property
    def outputs(self) -> list[tuple]:
        return [("category", category) for category in self.categories]

    def stand_in(self) -> str:
        return f"the most frequent category {self.categories[0]!r}"

    def encode(self, series: pd.Series) -> np.ndarray:
        # Values never seen in training are left out before coding (pandas will refuse them): code -1, all zeros.
        known = series.where(series.isin(self.values))
        value_codes = pd.Categorical(known, categories=self.values).codes.astype(np.int64)
        # A value's output is its place among all categories, the missing one included.
        places = np.array([place for place, category in enumerate(self.categories) if category is not None])
        codes = np.where(value_codes >= 0, places[np.maximum(value_codes, 0)], -1)
        gaps = series.isna().to_numpy()
        # Without a missing category a gap stands in as the most frequent category (code 0).
        codes[gaps] = self.categories.index(None) if self.models_gaps else 0
        return one_hot(codes, len(self.categories))  # a category never seen in training: all zeros

    def decode(self, encoded: np.ndarray) -> pd.Series:
        options = np.array(self.categories, dtype=object)  # object: each value keeps its Python type
        return pd.Series(options[encoded.argmax(1)], name=self.name,
                         dtype=dtype_of(self.values, self.models_gaps))

    def unknown(self, series: pd.Series) -> list:
        """Values of `series` that are neither gaps nor categories seen in training, most frequent first."""
        present = series.dropna().value_counts().index.to_series()
        return [self._like_known(plain_value(value)) for value in present[~present.isin(self.values)]]

    def _like_known(self, value):
        """A whole number that pandas read as a float (because of gaps) as the int its column holds."""
        whole_numbers = dtype_of(self.values, False) == "int64"
        return int(value) if whole_numbers and isinstance(value, float) and value.is_integer() else value

    def with_categories(self, new: list) -> "CategoricalColumn":
        """This column with `new` categories appended (the known ones keep their positions)."""
        return CategoricalColumn(self.name, [*self.categories, *new], self.missing_rate)


class ConstantColumn(Column):
    kind = "constant"

    def __init__(self, name: str, value, missing_rate: float = 0.0, indicator: bool = False):
        self.name, self.value, self.missing_rate, self.indicator = name, value, missing_rate, indicator

    @property
    def models_gaps(self) -> bool:
        return self.indicator

    @property
    def blocks(self) -> list[tuple[str, int]]:
        return [MISSING_INDICATOR] if self.indicator else []

    @property
    def outputs(self) -> list[tuple]:
        return INDICATOR_OUTPUTS if self.indicator else []

    def stand_in(self) -> str:
        return repr(self.value)

    def encode(self, series: pd.Series) -> np.ndarray:
        if self.indicator:
            return one_hot(series.isna().to_numpy().astype(int), 2)
        return np.empty((len(series), 0), dtype=np.float32)

    def decode(self, encoded: np.ndarray) -> pd.Series:
        series = pd.Series([self.value] * len(encoded), name=self.name,
                           dtype=dtype_of([self.value], self.indicator))
        return series.mask(_missing(encoded)) if self.indicator else series


def column_from_dict(state: dict) -> Column:
    kinds = {"continuous": NumericColumn, "integer": NumericColumn, "categorical": CategoricalColumn,
             "constant": ConstantColumn}
    return kinds[state["kind"]].from_dict(state)


def plain_value(value):
    """A numpy scalar as the Python value it stands for (checkpoints hold plain data only)."""
    return value.item() if isinstance(value, np.generic) else value


def nearest(values: np.ndarray, levels: np.ndarray) -> np.ndarray:
    """Each value replaced by the nearest of the sorted `levels`."""
    if len(levels) == 1:
        return np.full_like(values, levels[0])
    right = np.clip(np.searchsorted(levels, values), 1, len(levels) - 1)
    left = right - 1
    return np.where(values - levels[left] <= levels[right] - values, levels[left], levels[right])


def _missing(encoded: np.ndarray) -> np.ndarray:
    """The missing indicator is the last block: [present, missing]."""
    return encoded[:, -1] > encoded[:, -2]


def _width(blocks) -> int:
    return sum(width for _, width in blocks)
